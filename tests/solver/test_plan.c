/* tests/solver/test_plan.c — the chain view and solver_plan: the no-checkpoint peak
 * against a hand computation, every solver's plan simulated within its budget, the
 * baselines' structure, infeasible budgets with their minimum, determinism. */
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
#include "solver/solver.h"
#include "tests/zoo_fixture.h"

static void build(profile *p, const char *model, const char *set)
{
    zoo_profile(p, model, set, 0, 0, "h100");
}

static void opts(solver_opts *o, int64_t budget)
{
    solver_opts_default(o);
    o->budget_bytes = budget;
}

static void test_chain_view(void **state)
{
    (void)state;
    profile p;
    build(&p, "mlp", "depth=3,width=8,classes=4");
    chain c;
    remat_err e;
    assert_int_equal(chain_build(&p, &c, &e), 0);
    /* a single activation crosses after every op; the loss joins the head */
    assert_int_equal(c.n, 7);
    assert_int_equal(c.st[0].first_op, 0);
    assert_int_equal(c.st[0].in_tensor, -1);
    assert_int_equal(c.st[0].x, 0);
    assert_int_equal(c.st[1].in_tensor, p.g.ops[0].out);
    assert_int_equal(c.st[1].x, 32);
    assert_int_equal(c.st[6].first_op, 6);
    assert_int_equal(c.st[6].last_op, 7);
    assert_int_equal(c.st[6].out_tensor, p.g.ops[7].out);
    assert_string_equal(c.st[0].module, "layers.0.fc");
    assert_string_equal(c.st[6].module, "head..loss");
    /* fc saves its input x (INPUT, not counted); act saves its output (32 B); the
     * last stage saves a2 (32), logits (16) and lse (4) */
    assert_int_equal(c.st[0].xbar, 0);
    assert_int_equal(c.st[1].xbar, 32);
    assert_int_equal(c.st[6].xbar, 32 + 16 + 4);
    chain_free(&c);
    profile_free(&p);

    build(&p, "chain", "length=5,width=4");
    assert_int_equal(chain_build(&p, &c, &e), 0);
    assert_int_equal(c.n, 5);
    assert_true(c.st[2].uf == 1.0 && c.st[2].ub == 1.0);
    assert_string_equal(c.st[2].module, "stages.2");
    chain_free(&c);
    profile_free(&p);
}

/* mlp depth 2, width 8, 4 classes: store everything; the peak is at the backward of
 * the last ReLU: a0 + a1 + d a1 + d h1 = 4 x 32 B (worked out step by step in
 * tests/solver/test_sim.c's style); static 180 params x 16 B + 36 B of inputs. */
static void test_none_hand_peak(void **state)
{
    (void)state;
    profile p;
    build(&p, "mlp", "depth=2,width=8,classes=4");
    mem_config mc;
    mem_config_default(&mc);
    solver_opts o;
    opts(&o, 0);
    plan pl;
    remat_err e;
    assert_int_equal(solver_plan(&p, &mc, SOLVER_NONE, &o, &pl, NULL, &e), 0);
    assert_string_equal(pl.status, "optimal");
    assert_int_equal(pl.pred.static_bytes, 180 * 16 + 36);
    assert_int_equal(pl.pred.activation_peak_bytes, 128);
    assert_int_equal(pl.pred.peak_bytes, 180 * 16 + 36 + 128);
    assert_int_equal(pl.pred.recompute_forwards, 0);
    assert_int_equal(pl.n_checkpoints, 0);
    assert_false(pl.multilevel);
    /* the store-all compute sequence, finalized by hand, gives the same peak */
    schedule raw = {0, 0, NULL}, s;
    for (int i = 0; i < p.g.n_ops; i++)
        assert_int_equal(schedule_push(&raw, INS_FWD, i, 0), 0);
    for (int i = p.g.n_ops - 1; i >= 0; i--)
        assert_int_equal(schedule_push(&raw, INS_BWD, i, 0), 0);
    assert_int_equal(schedule_push(&raw, INS_OPT, 0, 0), 0);
    assert_int_equal(schedule_finalize(&p.g, &raw, &s, &e), 0);
    assert_int_equal(s.n, pl.sched.n);
    assert_memory_equal(s.ins, pl.sched.ins, (size_t)s.n * sizeof *s.ins);
    schedule_free(&s);
    schedule_free(&raw);
    plan_free(&pl);
    profile_free(&p);
}

/* The executor's reference no-checkpoint schedule simulates to the none plan's peak,
 * on every kind of zoo model. */
static void test_none_equals_reference(void **state)
{
    (void)state;
    static const char *const models[][2] = {
        {"mlp", "depth=5,width=96,classes=7"},
        {"chain", "length=33,width=40"},
        {"gpt2", "n_layer=2,n_head=2,n_embd=32,vocab_size=64,n_positions=32"},
        {"llama", "num_hidden_layers=2,hidden_size=32,intermediate_size=64,"
                  "num_attention_heads=4,num_key_value_heads=2,vocab_size=64,"
                  "max_position_embeddings=32"},
        {"resnet50", "classes=10"},
        {"vgg16", "classes=10"},
    };
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        profile p;
        build(&p, models[m][0], models[m][1]);
        mem_config mc;
        mem_config_default(&mc);
        for (int a = 0; a < 2; a++) {
            mc.allocator = (allocator_kind)a;
            solver_opts o;
            opts(&o, 0);
            plan pl;
            remat_err e;
            assert_int_equal(solver_plan(&p, &mc, SOLVER_NONE, &o, &pl, NULL, &e), 0);
            schedule ref;
            assert_int_equal(exec_schedule_store_all(&p.g, &ref, &e), 0);
            sim_result r;
            assert_int_equal(simulate(&p, &mc, &ref, &r, &e), 0);
            assert_int_equal(r.peak_bytes, pl.pred.peak_bytes);
            assert_int_equal(r.activation_peak_bytes, pl.pred.activation_peak_bytes);
            assert_int_equal(r.recompute_forwards, 0);
            sim_result_free(&r);
            schedule_free(&ref);
            plan_free(&pl);
        }
        profile_free(&p);
    }
}

static void test_baselines_structure(void **state)
{
    (void)state;
    profile p;
    build(&p, "chain", "length=16,width=64");
    mem_config mc;
    mem_config_default(&mc);
    solver_opts o;
    opts(&o, 0);
    plan pl;
    remat_err e;
    /* full: every stage but the last recomputed once */
    assert_int_equal(solver_plan(&p, &mc, SOLVER_FULL, &o, &pl, NULL, &e), 0);
    assert_int_equal(pl.pred.recompute_forwards, 15);
    assert_int_equal(pl.n_checkpoints, 15);
    assert_string_equal(pl.checkpoints[0], "stages.0");
    assert_string_equal(pl.checkpoints[14], "stages.14");
    assert_false(pl.multilevel);
    assert_true(pl.pred.compute_overhead > 0.46 && pl.pred.compute_overhead < 0.47);
    plan_free(&pl);
    /* sqrt: segments of 4 stages, the last stored */
    assert_int_equal(solver_plan(&p, &mc, SOLVER_SQRT, &o, &pl, NULL, &e), 0);
    assert_int_equal(pl.pred.recompute_forwards, 12);
    assert_int_equal(pl.n_checkpoints, 3);
    assert_string_equal(pl.checkpoints[0], "stages.0..stages.3");
    assert_string_equal(pl.checkpoints[2], "stages.8..stages.11");
    plan_free(&pl);
    /* none holds the most; on this chain (a stage saves its input and output) full
     * keeps every stage input, as much as none holds */
    int64_t pk[3];
    solver_kind ks[3] = {SOLVER_NONE, SOLVER_SQRT, SOLVER_FULL};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(solver_plan(&p, &mc, ks[i], &o, &pl, NULL, &e), 0);
        pk[i] = pl.pred.peak_bytes;
        plan_free(&pl);
    }
    assert_true(pk[0] > pk[1]);
    assert_true(pk[2] <= pk[0]);
    profile_free(&p);
}

/* A residual network of nb blocks, each two chain stages of one module h.b:
 * y = relu(x) [h.b.attn.f], z = x + y [h.b]; w = relu(z) [h.b.mlp.f], x' = z + w [h.b];
 * then head = relu and a loss. Two-level plans cut only between modules. */
static void build_residual(profile *p, int nb)
{
    graph g;
    remat_err e;
    graph_init(&g, "residual");
    int64_t s8[2] = {2, 8}, s1[1] = {2}, one[1] = {1};
    int x = graph_add_tensor(&g, "x", ROLE_INPUT, DT_F32, 2, s8, &e);
    int tg = graph_add_tensor(&g, "tg", ROLE_INPUT, DT_I32, 1, s1, &e);
    int wt = graph_add_tensor(&g, "emb.weight", ROLE_PARAM, DT_F32, 2, s8, &e);
    int h = graph_add_tensor(&g, "emb.out", ROLE_ACT, DT_F32, 2, s8, &e);
    graph_op emb = {.name = "emb", .kind = OP_STAGE, .n_in = 1, .in = {x}, .out = h,
                    .n_saved = 2, .saved = {x, h}, .n_param = 1, .param = {wt}};
    assert_true(graph_add_op(&g, &emb, &e) >= 0);
    char n1[64], n2[64], m1[80], m2[80];
    for (int b = 0; b < nb; b++) {
        for (int half = 0; half < 2; half++) {
            snprintf(n1, sizeof n1, "h.%d.%s.f", b, half ? "mlp" : "attn");
            snprintf(m1, sizeof m1, "%s.out", n1);
            snprintf(n2, sizeof n2, "h.%d.add%d", b, half);
            snprintf(m2, sizeof m2, "%s.out", n2);
            int y = graph_add_tensor(&g, m1, ROLE_ACT, DT_F32, 2, s8, &e);
            int z = graph_add_tensor(&g, m2, ROLE_ACT, DT_F32, 2, s8, &e);
            graph_op f = {.name = n1, .kind = OP_RELU, .n_in = 1, .in = {h}, .out = y,
                          .n_saved = 1, .saved = {y}};
            char mod[32];
            snprintf(mod, sizeof mod, "h.%d", b);
            graph_op a = {.name = n2, .module = mod, .kind = OP_ADD, .n_in = 2, .in = {h, y},
                          .out = z};
            assert_true(graph_add_op(&g, &f, &e) >= 0);
            assert_true(graph_add_op(&g, &a, &e) >= 0);
            h = z;
        }
    }
    int hd = graph_add_tensor(&g, "head.out", ROLE_ACT, DT_F32, 2, s8, &e);
    graph_op head = {.name = "head", .kind = OP_RELU, .n_in = 1, .in = {h}, .out = hd,
                     .n_saved = 1, .saved = {hd}};
    assert_true(graph_add_op(&g, &head, &e) >= 0);
    h = hd;
    int lo = graph_add_tensor(&g, "loss.out", ROLE_ACT, DT_F32, 1, one, &e);
    int lse = graph_add_tensor(&g, "loss.lse", ROLE_EXTRA, DT_F32, 1, s1, &e);
    graph_op l = {.name = "loss", .kind = OP_LOSS, .n_in = 2, .in = {h, tg}, .out = lo,
                  .n_extra = 1, .extra = {lse}, .n_saved = 3, .saved = {h, tg, lse}};
    assert_true(graph_add_op(&g, &l, &e) >= 0);
    assert_int_equal(graph_validate(&g, &e), 0);
    assert_int_equal(profile_analytic(p, &g, device_find("h100"), &e), 0);
}

static void test_units_residual(void **state)
{
    (void)state;
    profile p;
    build_residual(&p, 9);
    remat_err e;
    chain c;
    assert_int_equal(chain_build(&p, &c, &e), 0);
    /* emb, two stages per block, then head + loss */
    assert_int_equal(c.n, 1 + 2 * 9 + 1);
    assert_string_equal(c.st[1].module, "h.0");
    assert_string_equal(c.st[2].module, "h.0");
    assert_string_equal(c.st[19].module, "head..loss");
    chain_free(&c);
    mem_config mc;
    mem_config_default(&mc);
    solver_opts o;
    opts(&o, 0);
    plan pl;
    /* full (HF gradient_checkpointing): every numbered block, whole, keeps only its
     * input; emb and head are not wrapped */
    assert_int_equal(solver_plan(&p, &mc, SOLVER_FULL, &o, &pl, NULL, &e), 0);
    assert_int_equal(pl.n_checkpoints, 9);
    assert_string_equal(pl.checkpoints[0], "h.0");
    assert_string_equal(pl.checkpoints[8], "h.8");
    assert_int_equal(pl.pred.recompute_forwards, 9 * 4);
    /* after the forward pass each checkpointed block holds only its input (64 B
     * each; emb saves its output, h.0's input, anyway); the stored head + loss hold
     * head.out (64) and loss.lse (8); loss.out is freed at once */
    int n_fwd = p.g.n_ops, seen = 0, i = 0;
    for (; i < pl.sched.n && seen < n_fwd; i++)
        if (pl.sched.ins[i].kind == INS_FWD)
            seen++;
    while (i < pl.sched.n && pl.sched.ins[i].kind == INS_FREE)
        i++;
    assert_int_equal(pl.pred.live_after[i - 1], 9 * 64 + 64 + 8);
    plan_free(&pl);
    /* segment at a budget between full and none: checkpoints are whole units */
    opts(&o, 0);
    assert_int_equal(solver_plan(&p, &mc, SOLVER_NONE, &o, &pl, NULL, &e), 0);
    int64_t hi = pl.pred.peak_bytes;
    plan_free(&pl);
    int64_t lo = 0;
    assert_int_equal(solver_min_budget(&p, &mc, SOLVER_SEGMENT, &o, &lo, &e), 0);
    for (int k = 0; k < 4; k++) {
        opts(&o, lo + (hi - lo) * k / 4);
        solver_kind ks[] = {SOLVER_SEGMENT, SOLVER_SQRT, SOLVER_GREEDY, SOLVER_DP};
        for (int j = 0; j < 4; j++) {
            int rc = solver_plan(&p, &mc, ks[j], &o, &pl, NULL, &e);
            if (rc == 0 && ks[j] == SOLVER_DP && pl.multilevel) {
                /* dp cuts stages freely: a plan trainers cannot express lists none */
                assert_int_equal(pl.n_checkpoints, 0);
            } else if (rc == 0) {
                for (int q = 0; q < pl.n_checkpoints; q++) {
                    const char *cp = pl.checkpoints[q];
                    /* a unit ("emb", "h.3") or a run of units ("h.1..h.4") */
                    assert_true(strcmp(cp, "emb") == 0 || strncmp(cp, "h.", 2) == 0 ||
                                strncmp(cp, "emb..h.", 7) == 0);
                    assert_null(strstr(cp, ".f"));
                    assert_null(strstr(cp, ".add"));
                }
                assert_false(pl.multilevel);
            }
            plan_free(&pl);
        }
    }
    profile_free(&p);
}

static void test_infeasible_reports_minimum(void **state)
{
    (void)state;
    profile p;
    build(&p, "chain", "length=12,width=256");
    mem_config mc;
    mem_config_default(&mc);
    solver_opts o;
    plan pl;
    remat_err e;
    static const solver_kind ks[] = {SOLVER_NONE, SOLVER_FULL, SOLVER_SQRT, SOLVER_GREEDY};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        int64_t mn = -1, mn2 = -1;
        opts(&o, 1000);
        assert_int_equal(solver_plan(&p, &mc, ks[i], &o, &pl, &mn, &e), -ENOSPC);
        assert_string_equal(pl.status, "infeasible");
        assert_non_null(strstr(e.msg, "minimum feasible budget"));
        plan_free(&pl);
        assert_int_equal(solver_min_budget(&p, &mc, ks[i], &o, &mn2, &e), 0);
        assert_int_equal(mn, mn2);
        /* feasible at the minimum, infeasible just below (fixed plans: exactly) */
        opts(&o, mn);
        assert_int_equal(solver_plan(&p, &mc, ks[i], &o, &pl, NULL, &e), 0);
        assert_true(pl.pred.peak_bytes <= mn);
        plan_free(&pl);
        if (ks[i] != SOLVER_GREEDY) {
            opts(&o, mn - 1);
            assert_int_equal(solver_plan(&p, &mc, ks[i], &o, &pl, NULL, &e), -ENOSPC);
            plan_free(&pl);
        }
    }
    profile_free(&p);
}

static void test_greedy_budgets(void **state)
{
    (void)state;
    profile p;
    build(&p, "chain", "length=30,width=1024");
    mem_config mc;
    mem_config_default(&mc);
    solver_opts o;
    plan pl;
    remat_err e;
    opts(&o, 0);
    assert_int_equal(solver_plan(&p, &mc, SOLVER_NONE, &o, &pl, NULL, &e), 0);
    int64_t none_peak = pl.pred.peak_bytes, st = pl.pred.static_bytes;
    plan_free(&pl);
    int64_t gmin = 0;
    assert_int_equal(solver_min_budget(&p, &mc, SOLVER_GREEDY, &o, &gmin, &e), 0);
    assert_true(gmin < none_peak);
    for (int k = 0; k <= 8; k++) {
        int64_t b = gmin + (none_peak - gmin) * k / 8;
        opts(&o, b);
        assert_int_equal(solver_plan(&p, &mc, SOLVER_GREEDY, &o, &pl, NULL, &e), 0);
        assert_true(pl.pred.peak_bytes <= b);
        assert_true(pl.pred.static_bytes == st);
        plan_free(&pl);
    }
    profile_free(&p);
}

static void test_args(void **state)
{
    (void)state;
    profile p;
    build(&p, "chain", "length=4,width=8");
    mem_config mc;
    mem_config_default(&mc);
    solver_opts o;
    plan pl;
    remat_err e;
    opts(&o, 0);
    o.max_checkpoints = 2;
    assert_int_equal(solver_plan(&p, &mc, SOLVER_SQRT, &o, &pl, NULL, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "dp solver only"));
    plan_free(&pl);
    opts(&o, -5);
    assert_int_equal(solver_plan(&p, &mc, SOLVER_NONE, &o, &pl, NULL, &e), -EINVAL);
    plan_free(&pl);
    opts(&o, 0);
    mc.zero_stage = 9;
    assert_int_equal(solver_plan(&p, &mc, SOLVER_NONE, &o, &pl, NULL, &e), -EINVAL);
    plan_free(&pl);
    profile_free(&p);
}

static void test_determinism(void **state)
{
    (void)state;
    profile p;
    build(&p, "mlp", "depth=12,width=64,classes=10");
    mem_config mc;
    mem_config_default(&mc);
    solver_opts o;
    remat_err e;
    for (int k = 0; k < SOLVER_COUNT; k++) {
        if (k == SOLVER_ILP || k == SOLVER_LP_ROUND)
            continue;
        plan a, b;
        opts(&o, 0);
        int ra = solver_plan(&p, &mc, (solver_kind)k, &o, &a, NULL, &e);
        int rb = solver_plan(&p, &mc, (solver_kind)k, &o, &b, NULL, &e);
        assert_int_equal(ra, rb);
        if (ra == 0) {
            assert_int_equal(a.sched.n, b.sched.n);
            assert_memory_equal(a.sched.ins, b.sched.ins, (size_t)a.sched.n * sizeof *a.sched.ins);
            assert_int_equal(a.pred.peak_bytes, b.pred.peak_bytes);
            assert_int_equal(a.n_checkpoints, b.n_checkpoints);
        }
        plan_free(&a);
        plan_free(&b);
    }
    profile_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_view),
        cmocka_unit_test(test_none_hand_peak),
        cmocka_unit_test(test_none_equals_reference),
        cmocka_unit_test(test_baselines_structure),
        cmocka_unit_test(test_units_residual),
        cmocka_unit_test(test_infeasible_reports_minimum),
        cmocka_unit_test(test_greedy_budgets),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_determinism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
