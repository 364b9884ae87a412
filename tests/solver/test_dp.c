/* tests/solver/test_dp.c — the dynamic-programming solvers: revolve's optimum on
 * a sample of homogeneous chains (test_revolve.c: all n <= 200, s <= 10), and at
 * several budgets dp <= segment <= sqrt in compute with every simulated peak within
 * the budget. */
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

/* Griewank & Walther: t*n - C(s+t, t-1), t the least with C(s+t, s) >= n. */
static void test_revolve_sample(void **state)
{
    (void)state;
    static const int cases[][2] = {{10, 2}, {16, 4}, {100, 10}, {100, 1}, {1, 3}, {7, 7}, {57, 3}};
    mem_config mc;
    mem_config_default(&mc);
    remat_err e;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int n = cases[k][0], s = cases[k][1];
        profile p;
        char set[64];
        snprintf(set, sizeof set, "length=%d,width=2", n);
        build(&p, "chain", set);
        solver_opts o;
        solver_opts_default(&o);
        o.max_checkpoints = s;
        plan pl;
        assert_int_equal(solver_plan(&p, &mc, SOLVER_DP, &o, &pl, NULL, &e), 0);
        assert_int_equal(pl.pred.recompute_forwards, revolve_opt(n, s));
        plan_free(&pl);
        profile_free(&p);
    }
}

static void check_budgets_b(const char *model, const char *set, int64_t batch, int64_t image,
                            int nb);

static void check_budgets(const char *model, const char *set, int nb)
{
    check_budgets_b(model, set, 0, 0, nb);
}

static void check_budgets_b(const char *model, const char *set, int64_t batch, int64_t image,
                            int nb)
{
    profile p;
    zoo_profile(&p, model, set, batch, image, "h100");
    mem_config mc;
    mem_config_default(&mc);
    remat_err e;
    solver_opts o;
    solver_opts_default(&o);
    plan pl;
    assert_int_equal(solver_plan(&p, &mc, SOLVER_NONE, &o, &pl, NULL, &e), 0);
    int64_t hi = pl.pred.peak_bytes;
    plan_free(&pl);
    int64_t lo = 0;
    assert_int_equal(solver_min_budget(&p, &mc, SOLVER_DP, &o, &lo, &e), 0);
    assert_true(lo <= hi);
    int64_t segmin = 0;
    assert_int_equal(solver_min_budget(&p, &mc, SOLVER_SEGMENT, &o, &segmin, &e), 0);
    assert_true(lo <= segmin);
    for (int k = 0; k <= nb; k++) {
        int64_t b = lo + (hi - lo) * k / nb;
        o.budget_bytes = b;
        double rec[3];
        bool ok[3];
        solver_kind ks[3] = {SOLVER_DP, SOLVER_SEGMENT, SOLVER_SQRT};
        for (int i = 0; i < 3; i++) {
            int rc = solver_plan(&p, &mc, ks[i], &o, &pl, NULL, &e);
            assert_true(rc == 0 || rc == -ENOSPC);
            ok[i] = rc == 0;
            rec[i] = ok[i] ? pl.pred.recompute_s : 0;
            if (ok[i])
                assert_true(pl.pred.peak_bytes <= b);
            plan_free(&pl);
        }
        if (!ok[0])
            fail_msg("%s: dp infeasible at budget %lld (its minimum %lld)", model, (long long)b,
                     (long long)lo);
        if (ok[2])
            assert_true(ok[1]);
        if (ok[1])
            assert_true(rec[0] <= rec[1] + 1e-9);
        if (ok[2])
            assert_true(rec[1] <= rec[2] + 1e-9);
        /* greedy and full fit too where feasible, within the budget */
        solver_kind more[3] = {SOLVER_GREEDY, SOLVER_FULL, SOLVER_NONE};
        for (int i = 0; i < 3; i++) {
            int rc = solver_plan(&p, &mc, more[i], &o, &pl, NULL, &e);
            assert_true(rc == 0 || rc == -ENOSPC);
            if (rc == 0) {
                assert_true(pl.pred.peak_bytes <= b);
                assert_true(rec[1] <= pl.pred.recompute_s + 1e-9);
            }
            plan_free(&pl);
        }
    }
    profile_free(&p);
}

static void test_budgets_mlp(void **state)
{
    (void)state;
    check_budgets("mlp", "depth=24,width=256,classes=10", 10);
}

static void test_budgets_gpt2(void **state)
{
    (void)state;
    check_budgets("gpt2", "n_layer=4,n_head=4,n_embd=64,vocab_size=128,n_positions=64", 8);
}

static void test_budgets_llama(void **state)
{
    (void)state;
    check_budgets("llama",
                  "num_hidden_layers=4,hidden_size=64,intermediate_size=160,"
                  "num_attention_heads=4,num_key_value_heads=2,vocab_size=96,"
                  "max_position_embeddings=64",
                  8);
}

static void test_budgets_cnn(void **state)
{
    (void)state;
    check_budgets_b("resnet50", "classes=10", 2, 64, 6);
    check_budgets_b("vgg16", "classes=10", 4, 32, 6);
}

static void test_budgets_chain(void **state)
{
    (void)state;
    check_budgets("chain", "length=40,width=256", 10);
}

static void test_dp_multilevel_below_two_level(void **state)
{
    (void)state;
    /* below the least budget of any two-level plan, the multi-level DP still finds
     * plans (more recomputation as the budget shrinks), flagged multilevel and with
     * no trainer checkpoint list; at the two-level minimum it is no worse */
    profile p;
    build(&p, "chain", "length=60,width=4096");
    mem_config mc;
    mem_config_default(&mc);
    remat_err e;
    solver_opts o;
    solver_opts_default(&o);
    int64_t segmin = 0, dpmin = 0;
    assert_int_equal(solver_min_budget(&p, &mc, SOLVER_SEGMENT, &o, &segmin, &e), 0);
    assert_int_equal(solver_min_budget(&p, &mc, SOLVER_DP, &o, &dpmin, &e), 0);
    assert_true(dpmin < segmin);
    plan a, b;
    o.budget_bytes = segmin;
    assert_int_equal(solver_plan(&p, &mc, SOLVER_DP, &o, &a, NULL, &e), 0);
    assert_int_equal(solver_plan(&p, &mc, SOLVER_SEGMENT, &o, &b, NULL, &e), 0);
    assert_true(a.pred.recompute_s <= b.pred.recompute_s);
    assert_false(b.multilevel);
    assert_true(b.n_checkpoints > 0);
    plan_free(&a);
    plan_free(&b);
    double prev = 0;
    for (int k = 1; k <= 3; k++) {
        o.budget_bytes = segmin - (segmin - dpmin) * k / 3;
        assert_int_equal(solver_plan(&p, &mc, SOLVER_SEGMENT, &o, &b, NULL, &e), -ENOSPC);
        plan_free(&b);
        assert_int_equal(solver_plan(&p, &mc, SOLVER_DP, &o, &a, NULL, &e), 0);
        assert_true(a.pred.peak_bytes <= o.budget_bytes);
        assert_true(a.multilevel);
        assert_int_equal(a.n_checkpoints, 0);
        assert_true(a.pred.recompute_s >= prev);
        prev = a.pred.recompute_s;
        plan_free(&a);
    }
    profile_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_revolve_sample),
        cmocka_unit_test(test_budgets_mlp),
        cmocka_unit_test(test_budgets_chain),
        cmocka_unit_test(test_budgets_gpt2),
        cmocka_unit_test(test_budgets_llama),
        cmocka_unit_test(test_budgets_cnn),
        cmocka_unit_test(test_dp_multilevel_below_two_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
