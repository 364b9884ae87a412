/* tests/hardening/test_limits.c — limits: a generated model file of 100,000 ops
 * loads, profiles, plans and simulates in seconds and a bounded amount of memory,
 * through the library and the command line (suite slow: minutes under valgrind). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cmocka.h>

#include "reports/reports.h"
#include "tests/cli/cli_util.h"

#define LAYERS 50000 /* two ops each, plus head and loss: 100,002 ops */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long max_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* The model-file generator: LAYERS x (Linear, ReLU) of width 64, batch 8. */
static void write_big(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "version: 1\nmodel: big\nbatch: 8\ntensors:\n");
    fprintf(f, "  - {name: x, shape: [8, 64], role: input}\n");
    fprintf(f, "  - {name: targets, shape: [8], dtype: i32, role: input}\n");
    for (int i = 0; i < LAYERS; i++) {
        fprintf(f, "  - {name: l%d.w, shape: [64, 64], role: param}\n", i);
        fprintf(f, "  - {name: l%d.h, shape: [8, 64], role: act}\n", i);
        fprintf(f, "  - {name: l%d.a, shape: [8, 64], role: act}\n", i);
    }
    fprintf(f, "  - {name: head.w, shape: [10, 64], role: param}\n");
    fprintf(f, "  - {name: logits, shape: [8, 10], role: act}\n");
    fprintf(f, "  - {name: loss, shape: [1], role: act}\n");
    fprintf(f, "  - {name: lse, shape: [8], role: extra}\n");
    fprintf(f, "ops:\n");
    const char *prev = "x";
    char buf[32];
    for (int i = 0; i < LAYERS; i++) {
        fprintf(f, "  - {name: l%d.fc, kind: matmul, inputs: [%s], output: l%d.h, params: [l%d.w]}\n",
                i, prev, i, i);
        fprintf(f, "  - {name: l%d.act, kind: relu, inputs: [l%d.h], output: l%d.a}\n", i, i, i);
        snprintf(buf, sizeof buf, "l%d.a", i);
        prev = buf;
    }
    fprintf(f, "  - {name: head, kind: matmul, inputs: [%s], output: logits, params: [head.w]}\n",
            prev);
    fprintf(f, "  - {name: loss, kind: loss, inputs: [logits, targets], output: loss, "
               "extras: [lse]}\n");
    assert_int_equal(fclose(f), 0);
}

static void test_100k_ops_library(void **state)
{
    (void)state;
    const char *path = cli_path("big.yaml");
    write_big(path);
    double t0 = now();
    graph g;
    remat_err e;
    int rc = modelfile_read(path, &g, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(g.n_ops, 2 * LAYERS + 2);
    double t_load = now() - t0;
    profile p;
    assert_int_equal(profile_analytic(&p, &g, device_find("h100"), &e), 0);
    double t_prof = now() - t0 - t_load;
    mem_config mc;
    mem_config_default(&mc);
    solver_opts o;
    solver_opts_default(&o);
    double t1 = now();
    plan pl[2];
    static const solver_kind kinds[2] = {SOLVER_NONE, SOLVER_FULL};
    for (int k = 0; k < 2; k++) {
        rc = solver_plan(&p, &mc, kinds[k], &o, &pl[k], NULL, &e);
        if (rc)
            fprintf(stderr, "%s: %s\n", solver_name(kinds[k]), e.msg);
        assert_int_equal(rc, 0);
        assert_true(pl[k].pred.peak_bytes > pl[k].pred.static_bytes);
    }
    /* every activation of the forward is live at the store-all peak: 50,000
     * ReLU outputs of 2 KiB at least */
    assert_true(pl[0].pred.activation_peak_bytes >= (int64_t)LAYERS * 8 * 64 * 4);
    assert_true(pl[1].pred.recompute_forwards > 0);
    double t_plan = now() - t1;
    /* re-simulating the larger schedule alone */
    double t2 = now();
    sim_result r;
    assert_int_equal(simulate(&p, &mc, &pl[1].sched, &r, &e), 0);
    double t_sim = now() - t2;
    assert_int_equal(r.peak_bytes, pl[1].pred.peak_bytes);
    fprintf(stderr,
            "100,002 ops: load %.2f s, profile %.2f s, plan none+full %.2f s, simulate %d "
            "instructions %.3f s; max RSS %ld MiB\n",
            t_load, t_prof, t_plan, pl[1].sched.n, t_sim, max_rss_mib());
    /* generous bounds for a shared 2-core machine (and sanitizers) */
    assert_true(t_load + t_prof < 120.0);
    assert_true(t_plan + t_sim < 120.0);
    assert_true(max_rss_mib() < 4096);
    sim_result_free(&r);
    plan_free(&pl[0]);
    plan_free(&pl[1]);
    profile_free(&p);
}

static void test_100k_ops_cli(void **state)
{
    (void)state;
    write_big(cli_path("big.yaml"));
    cli_run r;
    double t0 = now();
    CLI(&r, "plan", "--model-file", cli_path("big.yaml"), "--solver", "full", "-o",
        cli_path("plan.yaml"));
    if (r.status)
        fprintf(stderr, "%s", r.err);
    assert_int_equal(r.status, 0);
    cli_run_free(&r);
    CLI(&r, "simulate", "--plan", cli_path("plan.yaml"));
    if (r.status)
        fprintf(stderr, "%s", r.err);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "peak"));
    cli_run_free(&r);
    double t = now() - t0;
    fprintf(stderr, "remat plan + simulate of 100,002 ops: %.1f s\n", t);
    assert_true(t < 300.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_100k_ops_library, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_100k_ops_cli, cli_setup, cli_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
