/* tests/executor/test_plans.c — every solver's plans, run for real on the CPU: for
 * small mlp, chain, GPT-2 and Llama configurations and several budgets per solver
 * (its minimum, the no-checkpoint peak, and between), the measured peak equals the
 * simulator's prediction byte for byte, the per-instruction live and high-point
 * bytes equal the predicted timeline, the static part equals static_memory(), and
 * the gradients and loss are bitwise identical to the run without checkpointing.
 * Solvers not built in this tree (-ENOTSUP) are skipped. GPT-2 and Llama come both
 * from the zoo and from the hand-built test graphs (tgraphs.c); the zoo's U-Net
 * covers conv2d, batchnorm, maxpool, upsample and concat. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "executor/executor.h"
#include "tests/executor/tgraphs.h"

static int ilp_plans; /* ilp / lp-round plans checked, over all tests */

typedef struct ref_run {
    float *grads;
    int64_t n;
    float loss;
} ref_run;

static cpu_exec runner(const graph *g, const mem_config *mc)
{
    cpu_exec x;
    exec_opts o;
    exec_opts_default(&o);
    o.threads = 1;
    remat_err e;
    int rc = cpu_exec_init(&x, g, mc, &o, &e);
    if (rc)
        print_error("init: %s\n", e.msg);
    assert_int_equal(rc, 0);
    return x;
}

static void step(cpu_exec *x, const schedule *s)
{
    remat_err e;
    int rc = cpu_exec_step(x, s, &e);
    if (rc)
        print_error("step: %s\n", e.msg);
    assert_int_equal(rc, 0);
}

/* Runs pl's schedule and checks it against the prediction and the reference. */
static void check_plan(const profile *p, const mem_config *mc, const plan *pl, const ref_run *ref,
                       const char *what)
{
    cpu_exec x = runner(&p->g, mc);
    step(&x, &pl->sched);
    const sim_result *r = &pl->pred;
    if (x.trace.peak_bytes != r->peak_bytes)
        print_error("%s: measured peak %lld, predicted %lld\n", what,
                    (long long)x.trace.peak_bytes, (long long)r->peak_bytes);
    assert_int_equal(x.trace.peak_bytes, r->peak_bytes);
    assert_int_equal(x.trace.static_bytes, r->static_bytes);
    assert_int_equal(x.trace.n, r->n);
    for (int i = 0; i < r->n; i++) {
        if (x.trace.live_after[i] != r->live_after[i] || x.trace.peak_during[i] != r->peak_during[i])
            print_error("%s: instruction %d: measured %lld/%lld, predicted %lld/%lld\n", what, i,
                        (long long)x.trace.live_after[i], (long long)x.trace.peak_during[i],
                        (long long)r->live_after[i], (long long)r->peak_during[i]);
        assert_int_equal(x.trace.live_after[i], r->live_after[i]);
        assert_int_equal(x.trace.peak_during[i], r->peak_during[i]);
    }
    float *gr = malloc((size_t)ref->n * sizeof *gr);
    assert_int_equal(cpu_exec_copy_grads(&x, gr, ref->n), 0);
    if (memcmp(gr, ref->grads, (size_t)ref->n * sizeof *gr) != 0)
        print_error("%s: gradients differ from the no-checkpoint run\n", what);
    assert_memory_equal(gr, ref->grads, (size_t)ref->n * sizeof *gr);
    assert_memory_equal(&x.trace.loss, &ref->loss, sizeof ref->loss);
    free(gr);
    cpu_exec_free(&x);
}

/* All solvers at several budgets (the ILP solvers, whose solves take seconds,
 * only when with_ilp); returns the number of plans run that recompute something. */
static int check_model_ilp(graph *g, bool with_ilp)
{
    profile p;
    remat_err e;
    assert_int_equal(profile_analytic(&p, g, device_find("cpu"), &e), 0);
    mem_config mc;
    mem_config_default(&mc);
    /* static memory: the runner holds exactly what the model says */
    static_mem sm;
    assert_int_equal(static_memory(&p.g, &mc, &sm, &e), 0);
    cpu_exec x = runner(&p.g, &mc);
    assert_int_equal(x.trace.static_bytes, sm.total);
    schedule rs;
    assert_int_equal(exec_schedule_store_all(&p.g, &rs, &e), 0);
    step(&x, &rs);
    ref_run ref = {.n = cpu_exec_grad_count(&x), .loss = x.trace.loss};
    ref.grads = malloc((size_t)ref.n * sizeof *ref.grads);
    assert_int_equal(cpu_exec_copy_grads(&x, ref.grads, ref.n), 0);
    cpu_exec_free(&x);
    schedule_free(&rs);

    solver_opts o;
    solver_opts_default(&o);
    o.time_limit_s = 2; /* ilp/lp-round: a plan to run, not a proof of optimality */
    /* the no-checkpoint peak bounds the useful budgets */
    plan none;
    o.budget_bytes = INT64_MAX / 4;
    assert_int_equal(solver_plan(&p, &mc, SOLVER_NONE, &o, &none, NULL, &e), 0);
    int64_t top = none.pred.peak_bytes;
    plan_free(&none);
    int ran = 0;
    int64_t seeded = top; /* a budget dp meets with recomputation: the ILP's seed */
    for (int k = 0; k < SOLVER_COUNT; k++) {
        bool ilp = k == SOLVER_ILP || k == SOLVER_LP_ROUND;
        if (ilp && !with_ilp)
            continue;
        int64_t minb = 0;
        int rc = 0;
        if (ilp) {
            /* the ILP's minimum budget is a bisection of MIP solves: too slow for a
             * unit test; use the budget dp met (the ILP starts from its plan) */
            o.time_limit_s = 2;
            minb = seeded;
        } else {
            rc = solver_min_budget(&p, &mc, (solver_kind)k, &o, &minb, &e);
        }
        if (rc == -ENOTSUP)
            continue;
        if (rc)
            print_error("%s min budget: %s\n", solver_name((solver_kind)k), e.msg);
        assert_int_equal(rc, 0);
        int64_t budgets[4] = {minb, minb + (top - minb) / 3, minb + 2 * (top - minb) / 3, top};
        for (int b = 0; b < 4; b++) {
            if (budgets[b] < minb || (b > 0 && budgets[b] == budgets[b - 1]))
                continue;
            if (ilp && b == 1)
                b = 3; /* ILP: the seeded budget and the no-checkpoint peak only */
            o.budget_bytes = budgets[b];
            plan pl;
            rc = solver_plan(&p, &mc, (solver_kind)k, &o, &pl, NULL, &e);
            if (rc == -ENOTSUP) {
                plan_free(&pl);
                break;
            }
            if ((rc == -ENOSPC && (b > 0 || k == SOLVER_LP_ROUND)) ||
                (ilp && rc == -ETIMEDOUT)) {
                plan_free(&pl);
                continue;
            }
            if (rc)
                print_error("%s at %lld: %s\n", solver_name((solver_kind)k),
                            (long long)budgets[b], e.msg);
            assert_int_equal(rc, 0);
            char what[96];
            snprintf(what, sizeof what, "%s %s budget %lld", p.g.model,
                     solver_name((solver_kind)k), (long long)budgets[b]);
            check_plan(&p, &mc, &pl, &ref, what);
            ran += pl.pred.recompute_forwards > 0;
            ilp_plans += ilp;
            if (k == SOLVER_DP && b == 1 && pl.pred.recompute_forwards > 0)
                seeded = pl.pred.peak_bytes;
            plan_free(&pl);
        }
    }
    free(ref.grads);
    profile_free(&p);
    return ran;
}

static int check_model(graph *g) { return check_model_ilp(g, false); }

static void zoo(graph *g, const char *name, const char *set, int64_t batch, int64_t seq)
{
    model_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.name = name;
    sp.batch = batch;
    sp.seq = seq;
    sp.dtype = -1;
    sp.dropout = -1;
    char *storage = NULL;
    remat_err e;
    assert_int_equal(model_spec_parse_set(&sp, set, &storage, &e), 0);
    int rc = zoo_build(&sp, g, &e);
    if (rc)
        print_error("zoo %s: %s\n", name, e.msg);
    assert_int_equal(rc, 0);
    free(storage);
}

static void test_mlp(void **state)
{
    (void)state;
    graph g;
    zoo(&g, "mlp", "depth=6,width=16,classes=5", 3, 0);
    assert_true(check_model(&g) >= 4);
}

static void test_chain(void **state)
{
    (void)state;
    graph g;
    zoo(&g, "chain", "length=10,width=8", 2, 0);
    assert_true(check_model_ilp(&g, true) >= 4);
}

static void test_gpt2(void **state)
{
    (void)state;
    graph g;
    tg_cfg c = {.B = 2, .T = 5, .C = 8, .H = 2, .L = 3, .V = 11, .dropout = 0.1};
    tg_gpt2(&g, &c);
    assert_true(check_model_ilp(&g, true) >= 4);
}

static void test_llama(void **state)
{
    (void)state;
    graph g;
    tg_cfg c = {.B = 1, .T = 6, .C = 8, .H = 4, .KV = 2, .L = 3, .V = 9, .F = 12};
    tg_llama(&g, &c);
    assert_true(check_model(&g) >= 4);
}

static void test_zoo_gpt2(void **state)
{
    (void)state;
    graph g;
    zoo(&g, "gpt2", "n_layer=3,n_head=2,n_embd=16,vocab_size=32,n_positions=8", 2, 8);
    assert_true(check_model(&g) >= 4);
}

static void test_zoo_gpt2_dropout(void **state)
{
    (void)state;
    model_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.name = "gpt2";
    sp.batch = 1;
    sp.seq = 6;
    sp.dtype = -1;
    sp.dropout = 0.1;
    sp.set_key[0] = "n_layer";
    sp.set_value[0] = "2";
    sp.set_key[1] = "n_embd";
    sp.set_value[1] = "8";
    sp.set_key[2] = "n_head";
    sp.set_value[2] = "2";
    sp.set_key[3] = "vocab_size";
    sp.set_value[3] = "16";
    sp.n_set = 4;
    graph g;
    remat_err e;
    assert_int_equal(zoo_build(&sp, &g, &e), 0);
    assert_true(check_model(&g) >= 4);
}

static void test_zoo_llama(void **state)
{
    (void)state;
    graph g;
    zoo(&g, "llama",
        "num_hidden_layers=3,num_attention_heads=4,num_key_value_heads=2,hidden_size=16,"
        "intermediate_size=24,vocab_size=32,tie_word_embeddings=1",
        2, 6);
    assert_true(check_model_ilp(&g, true) >= 4);
}

static void test_zoo_unet(void **state)
{
    (void)state;
    model_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.name = "unet";
    sp.batch = 2;
    sp.image = 8;
    sp.dtype = -1;
    sp.dropout = -1;
    char *storage = NULL;
    remat_err e;
    assert_int_equal(model_spec_parse_set(&sp, "depth=2,base=2,classes=3", &storage, &e), 0);
    graph g;
    int rc = zoo_build(&sp, &g, &e);
    if (rc)
        print_error("zoo unet: %s\n", e.msg);
    assert_int_equal(rc, 0);
    free(storage);
    assert_true(check_model(&g) >= 4);
}

/* When the ILP solvers are built, some of their plans ran above (last test). */
static void test_ilp_ran(void **state)
{
    (void)state;
    graph g;
    zoo(&g, "chain", "length=4,width=4", 1, 0);
    profile p;
    remat_err e;
    assert_int_equal(profile_analytic(&p, &g, device_find("cpu"), &e), 0);
    mem_config mc;
    mem_config_default(&mc);
    solver_opts o;
    solver_opts_default(&o);
    o.budget_bytes = INT64_MAX / 4;
    plan pl;
    int rc = solver_plan(&p, &mc, SOLVER_ILP, &o, &pl, NULL, &e);
    plan_free(&pl);
    profile_free(&p);
    if (rc == -ENOTSUP)
        skip();
    assert_true(ilp_plans > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp),
        cmocka_unit_test(test_chain),
        cmocka_unit_test(test_gpt2),
        cmocka_unit_test(test_llama),
        cmocka_unit_test(test_zoo_gpt2),
        cmocka_unit_test(test_zoo_gpt2_dropout),
        cmocka_unit_test(test_zoo_llama),
        cmocka_unit_test(test_zoo_unet),
        cmocka_unit_test(test_ilp_ran),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
