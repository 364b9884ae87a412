/* tests/solver/test_sim.c — schedule_finalize and simulate on a hand-built tiny
 * graph with the exact byte timeline worked out by hand, and every rule the
 * simulator checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "solver/solver.h"

/* x [1,4] f32 (INPUT, 16 B), tgt [1] i32 (INPUT, 4 B)
 * op0 fc:   h = x @ W^T      W [4,4] (64 B)  saved x        ws_fwd 0
 * op1 act:  a = relu(h)                      saved a        ws_bwd 8
 * op2 head: logits = a @ W2^T W2 [2,4] (32 B) saved a
 * op3 loss: out [1] f32, extra lse [1] f32   saved logits, tgt, lse */
enum { T_X, T_TGT, T_W, T_H, T_A, T_W2, T_LOGITS, T_OUT, T_LSE };

static void build_tiny(profile *p)
{
    graph g;
    remat_err e;
    graph_init(&g, "tiny");
    int64_t s14[2] = {1, 4}, s1[1] = {1}, s44[2] = {4, 4}, s24[2] = {2, 4}, s12[2] = {1, 2};
    assert_int_equal(graph_add_tensor(&g, "x", ROLE_INPUT, DT_F32, 2, s14, &e), T_X);
    assert_int_equal(graph_add_tensor(&g, "tgt", ROLE_INPUT, DT_I32, 1, s1, &e), T_TGT);
    assert_int_equal(graph_add_tensor(&g, "W", ROLE_PARAM, DT_F32, 2, s44, &e), T_W);
    assert_int_equal(graph_add_tensor(&g, "h", ROLE_ACT, DT_F32, 2, s14, &e), T_H);
    assert_int_equal(graph_add_tensor(&g, "a", ROLE_ACT, DT_F32, 2, s14, &e), T_A);
    assert_int_equal(graph_add_tensor(&g, "W2", ROLE_PARAM, DT_F32, 2, s24, &e), T_W2);
    assert_int_equal(graph_add_tensor(&g, "logits", ROLE_ACT, DT_F32, 2, s12, &e), T_LOGITS);
    assert_int_equal(graph_add_tensor(&g, "out", ROLE_ACT, DT_F32, 1, s1, &e), T_OUT);
    assert_int_equal(graph_add_tensor(&g, "lse", ROLE_EXTRA, DT_F32, 1, s1, &e), T_LSE);
    graph_op o0 = {.name = "fc", .kind = OP_MATMUL, .n_in = 1, .in = {T_X}, .out = T_H,
                   .n_saved = 1, .saved = {T_X}, .n_param = 1, .param = {T_W}};
    graph_op o1 = {.name = "act", .kind = OP_RELU, .n_in = 1, .in = {T_H}, .out = T_A,
                   .n_saved = 1, .saved = {T_A}, .ws_bwd = 8};
    graph_op o2 = {.name = "head", .kind = OP_MATMUL, .n_in = 1, .in = {T_A}, .out = T_LOGITS,
                   .n_saved = 1, .saved = {T_A}, .n_param = 1, .param = {T_W2}};
    graph_op o3 = {.name = "loss", .kind = OP_LOSS, .n_in = 2, .in = {T_LOGITS, T_TGT},
                   .out = T_OUT, .n_extra = 1, .extra = {T_LSE}, .n_saved = 3,
                   .saved = {T_LOGITS, T_TGT, T_LSE}};
    assert_int_equal(graph_add_op(&g, &o0, &e), 0);
    assert_int_equal(graph_add_op(&g, &o1, &e), 1);
    assert_int_equal(graph_add_op(&g, &o2, &e), 2);
    assert_int_equal(graph_add_op(&g, &o3, &e), 3);
    assert_int_equal(graph_validate(&g, &e), 0);
    assert_int_equal(profile_analytic(p, &g, device_find("h100"), &e), 0);
    /* simple times: forward 1 s, backward 2 s per op */
    for (int i = 0; i < p->g.n_ops; i++) {
        p->ops[i].time_fwd_s = 1.0;
        p->ops[i].time_bwd_s = 2.0;
    }
    profile_compute_totals(p);
}

static void push(schedule *s, ins_kind k, int arg)
{
    assert_int_equal(schedule_push(s, k, arg, 0), 0);
}

static void store_all(schedule *raw)
{
    memset(raw, 0, sizeof *raw);
    for (int i = 0; i < 4; i++)
        push(raw, INS_FWD, i);
    for (int i = 3; i >= 0; i--)
        push(raw, INS_BWD, i);
    push(raw, INS_OPT, 0);
}

static void test_finalize_store_all(void **state)
{
    (void)state;
    profile p;
    build_tiny(&p);
    schedule raw, s;
    remat_err e;
    store_all(&raw);
    assert_int_equal(schedule_finalize(&p.g, &raw, &s, &e), 0);
    static const struct {
        ins_kind k;
        int arg;
        int64_t live, peak, act, grad, tmp;
    } want[] = {
        {INS_FWD, 0, 16, 16, 16, 0, 0},           {INS_FWD, 1, 32, 32, 32, 0, 0},
        {INS_FREE, T_H, 16, 32, 16, 0, 0},        {INS_FWD, 2, 24, 24, 24, 0, 0},
        {INS_FWD, 3, 32, 32, 32, 0, 0},           {INS_FREE, T_OUT, 28, 32, 28, 0, 0},
        {INS_BWD, 3, 36, 36, 28, 8, 0},           {INS_FREE, T_LOGITS, 28, 36, 20, 8, 0},
        {INS_FREE, T_LSE, 24, 28, 16, 8, 0},      {INS_BWD, 2, 40, 40, 16, 24, 0},
        {INS_FREE_GRAD, T_LOGITS, 32, 40, 16, 16, 0}, {INS_BWD, 1, 48, 56, 16, 32, 8},
        {INS_FREE_GRAD, T_A, 32, 48, 16, 16, 0},  {INS_FREE, T_A, 16, 32, 0, 16, 0},
        {INS_BWD, 0, 16, 16, 0, 16, 0},           {INS_FREE_GRAD, T_H, 0, 16, 0, 0, 0},
        {INS_OPT, 0, 0, 0, 0, 0, 0},
    };
    int n = (int)(sizeof want / sizeof want[0]);
    assert_int_equal(s.n, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(s.ins[i].kind, want[i].k);
        assert_int_equal(s.ins[i].arg, want[i].arg);
        assert_int_equal(s.ins[i].flags, 0);
    }
    mem_config mc;
    mem_config_default(&mc);
    sim_result r;
    assert_int_equal(simulate(&p, &mc, &s, &r, &e), 0);
    assert_int_equal(r.n, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(r.live_after[i], want[i].live);
        assert_int_equal(r.peak_during[i], want[i].peak);
        assert_int_equal(r.act_after[i], want[i].act);
        assert_int_equal(r.grad_after[i], want[i].grad);
        assert_int_equal(r.tmp_during[i], want[i].tmp);
    }
    /* static: (64 + 32) B of fp32 params x 16 B/param / 4 B + inputs 16 + 4 */
    assert_int_equal(r.static_bytes, 96 * 4 + 20);
    assert_int_equal(r.activation_peak_bytes, 56);
    assert_int_equal(r.peak_bytes, 96 * 4 + 20 + 56);
    assert_int_equal(r.peak_ins, 11);
    /* live at the peak (BWD act): a 16, grad a 16, grad h 16, largest first, ties by
     * tensor then value before gradient */
    assert_int_equal(r.n_live_at_peak, 3);
    assert_int_equal(r.live_at_peak[0].tensor, T_H);
    assert_true(r.live_at_peak[0].grad);
    assert_int_equal(r.live_at_peak[1].tensor, T_A);
    assert_false(r.live_at_peak[1].grad);
    assert_int_equal(r.live_at_peak[2].tensor, T_A);
    assert_true(r.live_at_peak[2].grad);
    assert_true(r.compute_s == 12.0);
    assert_true(r.base_s == 12.0);
    assert_true(r.recompute_s == 0.0);
    assert_int_equal(r.recompute_forwards, 0);
    sim_result_free(&r);

    /* pytorch allocator: every 4..16 B allocation becomes 512 B */
    mc.allocator = ALLOC_PYTORCH;
    assert_int_equal(simulate(&p, &mc, &s, &r, &e), 0);
    assert_int_equal(r.live_after[1], 1024);
    assert_int_equal(r.activation_peak_bytes, 3 * 512 + 512);
    sim_result_free(&r);
    schedule_free(&s);
    schedule_free(&raw);
    profile_free(&p);
}

static void test_finalize_recompute(void **state)
{
    (void)state;
    profile p;
    build_tiny(&p);
    remat_err e;
    /* checkpoint fc+act: forward all, then before their backward run them again */
    schedule raw = {0, 0, NULL}, s;
    for (int i = 0; i < 4; i++)
        push(&raw, INS_FWD, i);
    push(&raw, INS_BWD, 3);
    push(&raw, INS_BWD, 2);
    push(&raw, INS_FWD, 0);
    push(&raw, INS_FWD, 1);
    push(&raw, INS_BWD, 1);
    push(&raw, INS_BWD, 0);
    push(&raw, INS_OPT, 0);
    assert_int_equal(schedule_finalize(&p.g, &raw, &s, &e), 0);
    /* the first a is last used by BWD head (before its re-production): freed there;
     * the first h after FWD act; the second h after the second FWD act too */
    static const struct {
        ins_kind k;
        int arg;
        unsigned flags;
    } want[] = {
        {INS_FWD, 0, 0},           {INS_FWD, 1, 0},          {INS_FREE, T_H, 0},
        {INS_FWD, 2, 0},           {INS_FWD, 3, 0},          {INS_FREE, T_OUT, 0},
        {INS_BWD, 3, 0},           {INS_FREE, T_LOGITS, 0},  {INS_FREE, T_LSE, 0},
        {INS_BWD, 2, 0},           {INS_FREE_GRAD, T_LOGITS, 0}, {INS_FREE, T_A, 0},
        {INS_FWD, 0, INS_RECOMPUTE}, {INS_FWD, 1, INS_RECOMPUTE}, {INS_FREE, T_H, 0},
        {INS_BWD, 1, 0},           {INS_FREE_GRAD, T_A, 0},  {INS_FREE, T_A, 0},
        {INS_BWD, 0, 0},           {INS_FREE_GRAD, T_H, 0},  {INS_OPT, 0, 0},
    };
    int n = (int)(sizeof want / sizeof want[0]);
    assert_int_equal(s.n, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(s.ins[i].kind, want[i].k);
        assert_int_equal(s.ins[i].arg, want[i].arg);
        assert_int_equal(s.ins[i].flags, want[i].flags);
    }
    mem_config mc;
    mem_config_default(&mc);
    sim_result r;
    assert_int_equal(simulate(&p, &mc, &s, &r, &e), 0);
    assert_int_equal(r.recompute_forwards, 2);
    assert_true(r.recompute_s == 2.0);
    assert_true(r.compute_s == 14.0);
    assert_true(r.compute_overhead == 2.0 / 12.0);
    /* after BWD head: a 16 + grad logits 8 + grad a 16 = 40 */
    assert_int_equal(r.live_after[9], 40);
    /* after the recomputed act: grad a 16 + h 16 + a 16 */
    assert_int_equal(r.live_after[13], 48);
    sim_result_free(&r);
    schedule_free(&s);
    schedule_free(&raw);
    profile_free(&p);
}

static void test_finalize_rejects(void **state)
{
    (void)state;
    profile p;
    build_tiny(&p);
    remat_err e;
    schedule raw = {0, 0, NULL}, s;
    push(&raw, INS_FWD, 0);
    push(&raw, INS_FREE, T_H);
    assert_int_equal(schedule_finalize(&p.g, &raw, &s, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "only fwd, bwd and opt"));
    schedule_free(&raw);
    push(&raw, INS_FWD, 9);
    assert_int_equal(schedule_finalize(&p.g, &raw, &s, &e), -EINVAL);
    schedule_free(&raw);
    profile_free(&p);
}

/* Runs a raw (already complete) schedule and expects -EINVAL mentioning what. */
static void expect_sim_error(const profile *p, const schedule *s, const char *what)
{
    mem_config mc;
    mem_config_default(&mc);
    sim_result r;
    remat_err e = {{0}};
    assert_int_equal(simulate(p, &mc, s, &r, &e), -EINVAL);
    if (!strstr(e.msg, what))
        fail_msg("message '%s' lacks '%s'", e.msg, what);
    assert_null(r.live_after);
}

static void test_simulate_rules(void **state)
{
    (void)state;
    profile p;
    build_tiny(&p);
    remat_err e;
    schedule s = {0, 0, NULL};

    push(&s, INS_FWD, 1); /* h not live */
    expect_sim_error(&p, &s, "input is not live: h");
    schedule_free(&s);

    push(&s, INS_FWD, 0);
    push(&s, INS_FWD, 0);
    expect_sim_error(&p, &s, "double allocation");
    schedule_free(&s);

    push(&s, INS_FWD, 0);
    push(&s, INS_FREE, T_H);
    push(&s, INS_FREE, T_H);
    expect_sim_error(&p, &s, "instruction 2 (free h): frees what is not live");
    schedule_free(&s);

    push(&s, INS_FREE_GRAD, T_H);
    expect_sim_error(&p, &s, "frees what is not live");
    schedule_free(&s);

    push(&s, INS_FREE, T_X);
    expect_sim_error(&p, &s, "static memory is never freed");
    schedule_free(&s);

    push(&s, INS_BWD, 0);
    expect_sim_error(&p, &s, "backward before the op's forward");
    schedule_free(&s);

    for (int i = 0; i < 4; i++)
        push(&s, INS_FWD, i);
    push(&s, INS_BWD, 2); /* the loss's backward has not produced d logits */
    expect_sim_error(&p, &s, "gradient of the output is incomplete");
    schedule_free(&s);

    for (int i = 0; i < 4; i++)
        push(&s, INS_FWD, i);
    push(&s, INS_BWD, 3);
    push(&s, INS_BWD, 3);
    expect_sim_error(&p, &s, "second backward");
    schedule_free(&s);

    for (int i = 0; i < 4; i++)
        push(&s, INS_FWD, i);
    push(&s, INS_BWD, 3);
    push(&s, INS_FREE_GRAD, T_LOGITS);
    push(&s, INS_BWD, 2);
    expect_sim_error(&p, &s, "gradient of the output is not live: logits");
    schedule_free(&s);

    for (int i = 0; i < 4; i++)
        push(&s, INS_FWD, i);
    push(&s, INS_FREE, T_LSE);
    push(&s, INS_BWD, 3);
    expect_sim_error(&p, &s, "saved tensor is not live: lse");
    schedule_free(&s);

    push(&s, INS_FWD, 0);
    push(&s, INS_OPT, 0);
    expect_sim_error(&p, &s, "optimizer step before the backward");
    schedule_free(&s);

    /* a complete store-all compute sequence without frees: things live at the end */
    store_all(&s);
    expect_sim_error(&p, &s, "still live");
    schedule_free(&s);

    /* frees right, but the first op's backward is missing */
    schedule raw = {0, 0, NULL}, fin;
    for (int i = 0; i < 4; i++)
        push(&raw, INS_FWD, i);
    for (int i = 3; i >= 1; i--)
        push(&raw, INS_BWD, i);
    assert_int_equal(schedule_finalize(&p.g, &raw, &fin, &e), 0);
    /* the gradient of h is never consumed: free it by hand so only the rule fires */
    assert_int_equal(schedule_push(&fin, INS_FREE_GRAD, T_H, 0), 0);
    expect_sim_error(&p, &fin, "op fc has no backward");
    schedule_free(&fin);
    schedule_free(&raw);

    s.n = 0;
    push(&s, INS_FWD, 7);
    expect_sim_error(&p, &s, "out of range");
    schedule_free(&s);
    profile_free(&p);
}

/* A residual: t = relu(x0); u = relu(t); v = t + u; the gradient of t is complete
 * only after both add and relu u ran their backward. */
static void test_simulate_fanout(void **state)
{
    (void)state;
    graph g;
    remat_err e;
    graph_init(&g, "fan");
    int64_t s4[1] = {4}, s1[1] = {1};
    int x0 = graph_add_tensor(&g, "x0", ROLE_INPUT, DT_F32, 1, s4, &e);
    int tg = graph_add_tensor(&g, "tg", ROLE_INPUT, DT_I32, 1, s1, &e);
    int w = graph_add_tensor(&g, "w", ROLE_PARAM, DT_F32, 1, s4, &e);
    int t = graph_add_tensor(&g, "t", ROLE_ACT, DT_F32, 1, s4, &e);
    int u = graph_add_tensor(&g, "u", ROLE_ACT, DT_F32, 1, s4, &e);
    int v = graph_add_tensor(&g, "v", ROLE_ACT, DT_F32, 1, s4, &e);
    int lo = graph_add_tensor(&g, "lo", ROLE_ACT, DT_F32, 1, s1, &e);
    graph_op o0 = {.name = "t", .kind = OP_STAGE, .n_in = 1, .in = {x0}, .out = t, .n_saved = 2,
                   .saved = {x0, t}, .n_param = 1, .param = {w}};
    graph_op o1 = {.name = "u", .kind = OP_RELU, .n_in = 1, .in = {t}, .out = u, .n_saved = 1,
                   .saved = {u}};
    graph_op o2 = {.name = "v", .kind = OP_ADD, .n_in = 2, .in = {t, u}, .out = v};
    graph_op o3 = {.name = "loss", .kind = OP_LOSS, .n_in = 2, .in = {v, tg}, .out = lo,
                   .n_saved = 1, .saved = {v}};
    assert_true(graph_add_op(&g, &o0, &e) == 0 && graph_add_op(&g, &o1, &e) == 1 &&
                graph_add_op(&g, &o2, &e) == 2 && graph_add_op(&g, &o3, &e) == 3);
    assert_int_equal(graph_validate(&g, &e), 0);
    profile p;
    assert_int_equal(profile_analytic(&p, &g, device_find("h100"), &e), 0);
    schedule raw = {0, 0, NULL}, s;
    for (int i = 0; i < 4; i++)
        push(&raw, INS_FWD, i);
    push(&raw, INS_BWD, 3);
    push(&raw, INS_BWD, 2);
    push(&raw, INS_BWD, 0); /* too early: relu u has not added into d t */
    push(&raw, INS_BWD, 1);
    push(&raw, INS_OPT, 0);
    assert_int_equal(schedule_finalize(&p.g, &raw, &s, &e), 0);
    expect_sim_error(&p, &s, "gradient of the output is incomplete (a consumer's backward has "
                             "not run): t");
    schedule_free(&s);
    raw.ins[6].arg = 1;
    raw.ins[7].arg = 0;
    assert_int_equal(schedule_finalize(&p.g, &raw, &s, &e), 0);
    mem_config mc;
    mem_config_default(&mc);
    sim_result r;
    assert_int_equal(simulate(&p, &mc, &s, &r, &e), 0);
    sim_result_free(&r);
    schedule_free(&s);
    schedule_free(&raw);
    profile_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finalize_store_all),
        cmocka_unit_test(test_finalize_recompute),
        cmocka_unit_test(test_finalize_rejects),
        cmocka_unit_test(test_simulate_rules),
        cmocka_unit_test(test_simulate_fanout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
