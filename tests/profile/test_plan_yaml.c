/* tests/profile/test_plan_yaml.c — the plan YAML round trip through the library:
 * solver_plan -> yaml_write_plan -> yaml_read_plan (which re-simulates) ->
 * yaml_write_plan gives the same bytes, the same schedule and the same
 * prediction; trainer fragments follow the checkpoints. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "reports/reports.h"
#include "tests/zoo_fixture.h"

static void build(profile *p, const char *model, const char *set)
{
    zoo_profile(p, model, set, 0, 0, "h100");
}

static char *write_mem(const profile *p, const plan *pl, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    assert_non_null(f);
    remat_err e;
    int rc = yaml_write_plan(f, p, pl, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    fclose(f);
    return buf;
}

static void round_trip(const char *model, const char *set, solver_kind k, int64_t budget)
{
    profile p, q;
    plan pl, ql;
    remat_err e;
    build(&p, model, set);
    mem_config mc;
    mem_config_default(&mc);
    solver_opts so;
    solver_opts_default(&so);
    so.budget_bytes = budget;
    memset(&pl, 0, sizeof pl);
    int rc = solver_plan(&p, &mc, k, &so, &pl, NULL, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    pl.solve_s = 0.3; /* written as its bound, 1 s, which reads back as 1 s */
    size_t la, lb;
    char *a = write_mem(&p, &pl, &la);
    assert_non_null(strstr(a, "\n  seconds: 1.0\n"));
    static const struct { double s; const char *text; } bounds[] = {
        {0.0, "seconds: 0.1\n"}, {0.05, "seconds: 0.1\n"}, {0.1, "seconds: 0.1\n"},
        {0.1000001, "seconds: 1.0\n"}, {12.0, "seconds: 100.0\n"}};
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        double keep = pl.solve_s;
        pl.solve_s = bounds[i].s;
        size_t lt;
        char *t = write_mem(&p, &pl, &lt);
        assert_non_null(strstr(t, bounds[i].text));
        free(t);
        pl.solve_s = keep;
    }
    char path[] = "plan-rt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, a, la), (ssize_t)la);
    close(fd);
    rc = yaml_read_plan(path, &q, &ql, &e);
    unlink(path);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    char *b = write_mem(&q, &ql, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_int_equal(ql.solver, pl.solver);
    assert_int_equal(ql.budget_bytes, pl.budget_bytes);
    assert_int_equal(ql.sched.n, pl.sched.n);
    for (int i = 0; i < pl.sched.n; i++) {
        assert_int_equal(ql.sched.ins[i].kind, pl.sched.ins[i].kind);
        assert_int_equal(ql.sched.ins[i].flags, pl.sched.ins[i].flags);
        assert_int_equal(ql.sched.ins[i].arg, pl.sched.ins[i].arg);
    }
    assert_int_equal(ql.pred.peak_bytes, pl.pred.peak_bytes);
    assert_int_equal(ql.pred.peak_ins, pl.pred.peak_ins);
    assert_int_equal(ql.pred.recompute_forwards, pl.pred.recompute_forwards);
    assert_true(ql.pred.compute_overhead == pl.pred.compute_overhead);
    assert_int_equal(ql.n_checkpoints, pl.n_checkpoints);
    for (int i = 0; i < pl.n_checkpoints; i++)
        assert_string_equal(ql.checkpoints[i], pl.checkpoints[i]);
    assert_true(pl.pred.peak_bytes <= budget);
    free(a);
    free(b);
    plan_free(&pl);
    plan_free(&ql);
    profile_free(&p);
    profile_free(&q);
}

static void test_round_trip(void **state)
{
    (void)state;
    round_trip("chain", "length=9,width=128", SOLVER_SQRT, INT64_C(1) << 30);
    round_trip("chain", "length=9,width=128", SOLVER_NONE, INT64_C(1) << 30);
    round_trip("mlp", "depth=5,width=64", SOLVER_GREEDY, INT64_C(1) << 30);
}

/* A plan with no recomputation: the trainer fragments say so. */
static void test_trainers_none(void **state)
{
    (void)state;
    profile p;
    plan pl;
    remat_err e;
    build(&p, "mlp", "depth=3,width=32");
    mem_config mc;
    mem_config_default(&mc);
    solver_opts so;
    solver_opts_default(&so);
    so.budget_bytes = INT64_C(1) << 30;
    memset(&pl, 0, sizeof pl);
    assert_int_equal(solver_plan(&p, &mc, SOLVER_NONE, &so, &pl, NULL, &e), 0);
    assert_int_equal(pl.pred.recompute_forwards, 0);
    size_t len;
    char *a = write_mem(&p, &pl, &len);
    assert_non_null(strstr(a, "\ncheckpoints: []\n"));
    assert_non_null(strstr(a, "    gradient_checkpointing: false\n"));
    assert_non_null(strstr(a, "  compute_overhead: 0.0\n"));
    free(a);
    plan_free(&pl);
    profile_free(&p);
}

/* The trainer fragments derived from a checkpoint list (the schedule plays no
 * part in them): Hugging Face can only checkpoint every layer, Megatron every
 * group of N layers (uniform) or the first N layers (block). */
static char *trainers_for(const profile *p, const char *const *ckpt, int n)
{
    plan pl;
    memset(&pl, 0, sizeof pl);
    pl.solver = SOLVER_SEGMENT;
    snprintf(pl.status, sizeof pl.status, "optimal");
    mem_config_default(&pl.mem);
    pl.n_checkpoints = n;
    pl.checkpoints = (char **)ckpt;
    size_t len;
    char *y = write_mem(p, &pl, &len);
    char *t = strstr(y, "\ntrainers:\n");
    assert_non_null(t);
    char *end = strstr(t, "\nschedule:");
    assert_non_null(end);
    *end = 0;
    memmove(y, t, strlen(t) + 1);
    return y;
}

static void test_trainer_fragments(void **state)
{
    (void)state;
    profile p;
    build(&p, "chain", "length=12,width=16");
    static const char *const every[] = {"stages.0", "stages.1", "stages.2", "stages.3",
                                        "stages.4", "stages.5", "stages.6", "stages.7",
                                        "stages.8", "stages.9", "stages.10", "stages.11"};
    char *t = trainers_for(&p, every, 12);
    assert_non_null(strstr(t, "    layers: all\n    exact: true\n"));
    assert_non_null(strstr(t, "--recompute-method uniform --recompute-num-layers 1\n"
                              "    exact: true\n"));
    assert_non_null(strstr(t, "number_checkpoints: 12\n"));
    free(t);

    t = trainers_for(&p, every, 3); /* the first three layers */
    assert_non_null(strstr(t, "    layers: listed\n    exact: false\n"));
    assert_non_null(strstr(t, "--recompute-method block --recompute-num-layers 3\n"
                              "    exact: true\n"));
    free(t);

    static const char *const groups[] = {"stages.0..stages.3", "stages.4..stages.7",
                                         "stages.8..stages.11"};
    t = trainers_for(&p, groups, 3);
    assert_non_null(strstr(t, "--recompute-method uniform --recompute-num-layers 4\n"
                              "    exact: true\n"));
    assert_non_null(strstr(t, "    - stages.4..stages.7\n"));
    free(t);

    t = trainers_for(&p, groups, 2); /* the last group kept: uniform 4 is only close */
    assert_non_null(strstr(t, "--recompute-method uniform --recompute-num-layers 4\n"
                              "    exact: false\n"));
    free(t);

    static const char *const odd[] = {"stages.1", "stages.5..stages.6"};
    t = trainers_for(&p, odd, 2);
    assert_non_null(strstr(t, "    exact: false\n  deepspeed:"));
    free(t);

    static const char *const foreign[] = {"encoder", "decoder"};
    t = trainers_for(&p, foreign, 2);
    assert_non_null(strstr(t, "  megatron:\n    flags: ''\n    exact: false\n"));
    free(t);
    profile_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_trainers_none),
        cmocka_unit_test(test_trainer_fragments),
    };
    return cmocka_run_group_tests_name("plan_yaml", tests, NULL, NULL);
}
