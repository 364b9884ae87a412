/* tests/ilp/test_ilp_plan.c — the ilp and lp-round solvers through solver_plan, the
 * path `remat plan` takes: on chain-shaped models (chain, mlp, a 2-layer GPT-2) and
 * a small U-Net, at dp's least budget and halfway to the no-checkpoint peak, both
 * return a plan whose simulated peak fits the budget, whose status and gap are
 * consistent, and whose compute is never above dp's (both are seeded with the best
 * chain plan). lp-round keeps that promise when its LP runs out of time. Skipped
 * when GLPK support is not built. */
#include <errno.h>
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

static void build(profile *p, const char *model, const char *set, int64_t image)
{
    zoo_profile(p, model, set, 2, image, "h100");
}

static bool ilp_built(void)
{
    profile p;
    build(&p, "chain", "length=3,width=4", 0);
    mem_config mc;
    mem_config_default(&mc);
    solver_opts o;
    solver_opts_default(&o);
    plan pl;
    remat_err e;
    int rc = solver_plan(&p, &mc, SOLVER_ILP, &o, &pl, NULL, &e);
    plan_free(&pl);
    profile_free(&p);
    return rc != -ENOTSUP;
}

/* A plan of solver k at budget b; checks what every ilp/lp-round plan promises. */
static void check_not_worse(const profile *p, const mem_config *mc, solver_kind k,
                            const solver_opts *o, const plan *dp, const char *what)
{
    plan pl;
    remat_err e;
    int rc = solver_plan(p, mc, k, o, &pl, NULL, &e);
    if (rc)
        fail_msg("%s %s at %lld: %s", what, solver_name(k), (long long)o->budget_bytes, e.msg);
    if (pl.pred.peak_bytes > o->budget_bytes)
        fail_msg("%s %s: simulated peak %lld above budget %lld", what, solver_name(k),
                 (long long)pl.pred.peak_bytes, (long long)o->budget_bytes);
    if (pl.pred.compute_s > dp->pred.compute_s * (1 + 1e-9))
        fail_msg("%s %s at %lld: compute %.9g s above dp's %.9g s", what, solver_name(k),
                 (long long)o->budget_bytes, pl.pred.compute_s, dp->pred.compute_s);
    assert_true(strcmp(pl.status, "optimal") == 0 || strcmp(pl.status, "feasible") == 0);
    assert_true(pl.gap >= 0 && pl.gap < 1);
    if (strcmp(pl.status, "optimal") == 0)
        assert_true(pl.gap == 0);
    plan_free(&pl);
}

static void budgets_of(const profile *p, const mem_config *mc, int64_t b[2])
{
    solver_opts o;
    solver_opts_default(&o);
    remat_err e;
    plan none;
    o.budget_bytes = INT64_MAX / 4;
    assert_int_equal(solver_plan(p, mc, SOLVER_NONE, &o, &none, NULL, &e), 0);
    int64_t top = none.pred.peak_bytes;
    plan_free(&none);
    int64_t minb;
    assert_int_equal(solver_min_budget(p, mc, SOLVER_DP, &o, &minb, &e), 0);
    assert_true(minb < top); /* the models below all need some recomputation to go lower */
    b[0] = minb;
    b[1] = minb + (top - minb) / 2;
}

static void test_not_worse_than_dp(void **state)
{
    (void)state;
    if (!ilp_built())
        skip();
    static const struct {
        const char *model, *set;
        int64_t image;
    } m[] = {
        {"chain", "length=8,width=64", 0},
        {"mlp", "depth=6,width=64", 0},
        {"gpt2", "n_layer=2,n_head=2,n_embd=32,vocab_size=64,n_positions=16", 0},
        {"unet", "depth=2,base=4,in_channels=1,classes=2", 16},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        profile p;
        build(&p, m[i].model, m[i].set, m[i].image);
        mem_config mc;
        mem_config_default(&mc);
        int64_t b[2];
        budgets_of(&p, &mc, b);
        for (int j = 0; j < 2; j++) {
            solver_opts o;
            solver_opts_default(&o);
            o.budget_bytes = b[j];
            o.time_limit_s = 2;
            plan dp;
            remat_err e;
            assert_int_equal(solver_plan(&p, &mc, SOLVER_DP, &o, &dp, NULL, &e), 0);
            check_not_worse(&p, &mc, SOLVER_ILP, &o, &dp, m[i].model);
            check_not_worse(&p, &mc, SOLVER_LP_ROUND, &o, &dp, m[i].model);
            plan_free(&dp);
        }
        profile_free(&p);
    }
}

/* lp-round whose LP cannot finish (1 ms): it used to fall back to "recompute all"
 * (18x the compute on a U-Net); it returns the seed, dp's plan or better. */
static void test_lp_round_out_of_time(void **state)
{
    (void)state;
    if (!ilp_built())
        skip();
    profile p;
    build(&p, "unet", "depth=3,base=8,in_channels=1,classes=2", 32);
    mem_config mc;
    mem_config_default(&mc);
    int64_t b[2];
    budgets_of(&p, &mc, b);
    solver_opts o;
    solver_opts_default(&o);
    o.budget_bytes = b[1];
    o.time_limit_s = 1e-3;
    plan dp;
    remat_err e;
    assert_int_equal(solver_plan(&p, &mc, SOLVER_DP, &o, &dp, NULL, &e), 0);
    check_not_worse(&p, &mc, SOLVER_LP_ROUND, &o, &dp, "unet, 1 ms");
    plan_free(&dp);
    profile_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_worse_than_dp),
        cmocka_unit_test(test_lp_round_out_of_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
