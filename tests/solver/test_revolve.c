/* tests/solver/test_revolve.c — dp in revolve mode (--max-checkpoints s) on
 * homogeneous chains: predicted recompute_forwards equals Griewank & Walther's
 * optimum t*n - C(s+t, t-1) for every n <= 200 and s <= 10 (suite `slow`: the
 * valgrind pass leaves it out; test_dp.c checks a sample under valgrind). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "solver/solver.h"
#include "tests/zoo_fixture.h"

static void build(profile *p, const char *model, const char *set)
{
    zoo_profile(p, model, set, 0, 0, "h100");
}

static void test_revolve_formula_examples(void **state)
{
    (void)state;
    assert_int_equal(revolve_opt(10, 2), 20);
    assert_int_equal(revolve_opt(16, 4), 27);
    assert_int_equal(revolve_opt(100, 10), 222);
    assert_int_equal(revolve_opt(100, 1), 4950);
}

static void test_revolve_all(void **state)
{
    (void)state;
    mem_config mc;
    mem_config_default(&mc);
    remat_err e;
    for (int n = 1; n <= 200; n++) {
        profile p;
        char set[64];
        snprintf(set, sizeof set, "length=%d,width=2", n);
        build(&p, "chain", set);
        for (int s = 1; s <= 10; s++) {
            solver_opts o;
            solver_opts_default(&o);
            o.max_checkpoints = s;
            plan pl;
            int rc = solver_plan(&p, &mc, SOLVER_DP, &o, &pl, NULL, &e);
            if (rc)
                fail_msg("n=%d s=%d: %s", n, s, e.msg);
            if (pl.pred.recompute_forwards != revolve_opt(n, s))
                fail_msg("n=%d s=%d: %d recompute forwards, revolve's optimum is %lld", n, s,
                         pl.pred.recompute_forwards, (long long)revolve_opt(n, s));
            assert_string_equal(pl.status, "optimal");
            plan_free(&pl);
        }
        profile_free(&p);
    }
}

/* The snapshot rule, checked on the schedule: at every instruction count the stage
 * inputs that are live and will be read again by a later instruction other than the
 * next stage's taping (1 for the chain's input). Revolve's model allows s. */
static void test_revolve_snapshots(void **state)
{
    (void)state;
    mem_config mc;
    mem_config_default(&mc);
    remat_err e;
    profile p;
    build(&p, "chain", "length=30,width=2");
    for (int s = 1; s <= 6; s++) {
        solver_opts o;
        solver_opts_default(&o);
        o.max_checkpoints = s;
        plan pl;
        assert_int_equal(solver_plan(&p, &mc, SOLVER_DP, &o, &pl, NULL, &e), 0);
        /* a stage output X is a held snapshot between its production and a later
         * re-use that is not immediate: count live stage outputs (the tensor just
         * produced is the current state, free) */
        int n_ops = p.g.n_ops, live = 0, worst = 0;
        unsigned char *alive = calloc((size_t)p.g.n_tensors, 1);
        assert_non_null(alive);
        for (int i = 0; i < pl.sched.n; i++) {
            const sched_ins *in = &pl.sched.ins[i];
            if (in->kind == INS_FWD && in->arg < n_ops - 1) {
                alive[p.g.ops[in->arg].out] = 1;
                live++;
            } else if (in->kind == INS_FREE && alive[in->arg]) {
                alive[in->arg] = 0;
                live--;
            }
            /* the current state, the state being taped and its output are free */
            int held = live - 2;
            if (held > worst)
                worst = held;
        }
        free(alive);
        assert_true(worst + 1 <= s);
        plan_free(&pl);
    }
    profile_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_revolve_formula_examples),
        cmocka_unit_test(test_revolve_all),
        cmocka_unit_test(test_revolve_snapshots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
