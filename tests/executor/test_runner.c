/* tests/executor/test_runner.c — the CPU step runner on hand-built GPT-2, Llama and
 * CNN graphs and on the zoo's mlp and chain: static memory, per-instruction live
 * bytes against an independent replay of the schedule rules, gradients bitwise
 * identical under recomputation, end-to-end finite differences through the
 * runner, schedule errors, refusals, and CPU op timing. */
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

#include "executor/executor.h"
#include "tests/executor/tgraphs.h"

static const tg_cfg gpt2_cfg = {.B = 2, .T = 5, .C = 8, .H = 2, .L = 2, .V = 11};
static const tg_cfg gpt2_drop_cfg = {.B = 1, .T = 4, .C = 8, .H = 2, .L = 2, .V = 7,
                                     .dropout = 0.2};
static const tg_cfg llama_cfg = {.B = 2, .T = 4, .C = 8, .H = 4, .KV = 2, .L = 2, .V = 9,
                                 .F = 12};

static void init_or_fail(cpu_exec *x, const graph *g, const mem_config *mc)
{
    remat_err e;
    exec_opts o;
    exec_opts_default(&o);
    o.threads = 1;
    int rc = cpu_exec_init(x, g, mc, &o, &e);
    if (rc)
        print_error("init: %s\n", e.msg);
    assert_int_equal(rc, 0);
}

static void step_or_fail(cpu_exec *x, const schedule *s)
{
    remat_err e;
    int rc = cpu_exec_step(x, s, &e);
    if (rc)
        print_error("step: %s\n", e.msg);
    assert_int_equal(rc, 0);
}

static float *grads_of(const cpu_exec *x)
{
    int64_t n = cpu_exec_grad_count(x);
    float *g = malloc((size_t)n * sizeof *g);
    assert_int_equal(cpu_exec_copy_grads(x, g, n), 0);
    return g;
}

/* Runs g under the store-all schedule and two checkpointing schedules (keep
 * nothing; keep every other activation) and checks: static bytes, trace ==
 * independent replay, gradients and loss bitwise identical, peak lower. */
static void check_model(graph *g)
{
    mem_config mc;
    mem_config_default(&mc);
    remat_err e;
    schedule ref;
    assert_int_equal(exec_schedule_store_all(g, &ref, &e), 0);
    cpu_exec x;
    init_or_fail(&x, g, &mc);
    assert_int_equal(x.alloc.current, tg_static_bytes(g, 2));
    assert_int_equal(x.trace.static_bytes, tg_static_bytes(g, 2));
    bool *half = calloc((size_t)g->n_tensors, 1);
    for (int t = 0, k = 0; t < g->n_tensors; t++)
        if (g->tensors[t].role == ROLE_ACT)
            half[t] = (k++ % 2) == 0;
    schedule sch[3];
    sch[0] = ref;
    tg_checkpoint_schedule(g, NULL, true, &sch[1]);
    tg_checkpoint_schedule(g, half, true, &sch[2]);
    float *g0 = NULL;
    float loss0 = 0;
    int64_t n = cpu_exec_grad_count(&x);
    for (int k = 0; k < 3; k++) {
        cpu_exec_free(&x);
        init_or_fail(&x, g, &mc);
        step_or_fail(&x, &sch[k]);
        int64_t *la, *pd;
        tg_replay(g, &sch[k], &la, &pd);
        int64_t maxpd = 0;
        for (int i = 0; i < sch[k].n; i++) {
            if (x.trace.live_after[i] != la[i] || x.trace.peak_during[i] != pd[i])
                print_error("schedule %d instruction %d: measured %lld/%lld, replay %lld/%lld\n", k,
                            i, (long long)x.trace.live_after[i], (long long)x.trace.peak_during[i],
                            (long long)la[i], (long long)pd[i]);
            assert_int_equal(x.trace.live_after[i], la[i]);
            assert_int_equal(x.trace.peak_during[i], pd[i]);
            maxpd = pd[i] > maxpd ? pd[i] : maxpd;
        }
        free(la);
        free(pd);
        assert_int_equal(x.trace.n, sch[k].n);
        assert_int_equal(x.trace.live_after[sch[k].n - 1], 0);
        assert_int_equal(x.trace.peak_bytes, x.trace.static_bytes + maxpd);
        assert_int_equal(x.alloc.current, x.trace.static_bytes);
        assert_true(isfinite(x.trace.loss) && x.trace.loss > 0);
        float *gk = grads_of(&x);
        if (k == 0) {
            g0 = gk;
            loss0 = x.trace.loss;
            double norm = 0;
            for (int64_t i = 0; i < n; i++)
                norm += (double)gk[i] * gk[i];
            assert_true(norm > 0);
        } else {
            assert_memory_equal(gk, g0, (size_t)n * sizeof *gk);
            assert_memory_equal(&x.trace.loss, &loss0, sizeof loss0);
            free(gk);
        }
        if (k >= 1)
            assert_true(x.trace.recompute_s > 0);
    }
    free(g0);
    free(half);
    for (int k = 0; k < 3; k++)
        schedule_free(&sch[k]);
    cpu_exec_free(&x);
}

static void test_gpt2(void **state)
{
    (void)state;
    graph g;
    tg_gpt2(&g, &gpt2_cfg);
    check_model(&g);
    graph_free(&g);
}

static void test_gpt2_dropout(void **state)
{
    (void)state;
    graph g;
    tg_gpt2(&g, &gpt2_drop_cfg);
    check_model(&g);
    graph_free(&g);
}

static void test_llama(void **state)
{
    (void)state;
    graph g;
    tg_llama(&g, &llama_cfg);
    check_model(&g);
    graph_free(&g);
}

static void test_cnn(void **state)
{
    (void)state;
    graph g;
    tg_cnn(&g);
    check_model(&g);
    graph_free(&g);
}

static void zoo(graph *g, const char *name, const char *set, int64_t batch)
{
    model_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.name = name;
    sp.batch = batch;
    sp.dtype = -1;
    sp.dropout = -1;
    char *storage = NULL;
    remat_err e;
    assert_int_equal(model_spec_parse_set(&sp, set, &storage, &e), 0);
    int rc = zoo_build(&sp, g, &e);
    if (rc)
        print_error("zoo: %s\n", e.msg);
    assert_int_equal(rc, 0);
    free(storage);
}

static void test_zoo_mlp_chain(void **state)
{
    (void)state;
    graph g;
    zoo(&g, "mlp", "depth=3,width=16,classes=5", 3);
    check_model(&g);
    graph_free(&g);
    zoo(&g, "chain", "length=6,width=8", 2);
    check_model(&g);
    graph_free(&g);
}

/* The loss through the whole runner against central differences on a few
 * parameter elements (h = 1e-3, loss in fp32: |fd - g| <= 2e-3 + 5e-2 |g|). */
static void fd_through_runner(graph *g)
{
    mem_config mc;
    mem_config_default(&mc);
    remat_err e;
    schedule s;
    assert_int_equal(exec_schedule_store_all(g, &s, &e), 0);
    s.n--; /* drop OPT: parameters stay put */
    assert_int_equal(s.ins[s.n].kind, INS_OPT);
    cpu_exec x;
    init_or_fail(&x, g, &mc);
    step_or_fail(&x, &s);
    float *gr = grads_of(&x);
    int64_t off = 0;
    int checked = 0;
    for (int t = 0; t < g->n_tensors; t++) {
        const graph_tensor *pt = &g->tensors[t];
        if (pt->role != ROLE_PARAM)
            continue;
        float *w = x.data[t];
        for (int64_t j = 0; j < pt->numel; j += pt->numel / 3 + 1) {
            float old = w[j];
            const float h = 1e-3f;
            w[j] = old + h;
            step_or_fail(&x, &s);
            double lp = x.trace.loss;
            w[j] = old - h;
            step_or_fail(&x, &s);
            double lm = x.trace.loss;
            w[j] = old;
            double fd = (lp - lm) / (2.0 * h), an = gr[off + j];
            if (!(fabs(fd - an) <= 2e-3 + 5e-2 * fabs(an)))
                print_error("%s[%lld]: fd %.6g analytic %.6g\n", pt->name, (long long)j, fd, an);
            assert_true(fabs(fd - an) <= 2e-3 + 5e-2 * fabs(an));
            checked++;
        }
        off += pt->numel;
    }
    assert_true(checked > 10);
    free(gr);
    schedule_free(&s);
    cpu_exec_free(&x);
}

static void test_fd_models(void **state)
{
    (void)state;
    graph g;
    tg_gpt2(&g, &gpt2_drop_cfg);
    fd_through_runner(&g);
    graph_free(&g);
    tg_llama(&g, &llama_cfg);
    fd_through_runner(&g);
    graph_free(&g);
    tg_cnn(&g);
    fd_through_runner(&g);
    graph_free(&g);
}

/* Several steps with the optimizer: the parameters after three steps agree bitwise
 * between the store-all and the recompute-everything schedules, and training
 * reduces the loss on the fixed batch. */
static void test_multi_step(void **state)
{
    (void)state;
    graph g;
    tg_gpt2(&g, &gpt2_cfg);
    mem_config mc;
    mem_config_default(&mc);
    remat_err e;
    schedule a, b;
    assert_int_equal(exec_schedule_store_all(&g, &a, &e), 0);
    tg_checkpoint_schedule(&g, NULL, true, &b);
    cpu_exec x, y;
    init_or_fail(&x, &g, &mc);
    init_or_fail(&y, &g, &mc);
    float first = 0;
    for (int k = 0; k < 3; k++) {
        step_or_fail(&x, &a);
        step_or_fail(&y, &b);
        if (k == 0)
            first = x.trace.loss;
        assert_memory_equal(&x.trace.loss, &y.trace.loss, sizeof(float));
    }
    assert_true(x.trace.loss < first);
    assert_int_equal(x.opt_steps, 3);
    for (int t = 0; t < g.n_tensors; t++)
        if (g.tensors[t].role == ROLE_PARAM)
            assert_memory_equal(x.data[t], y.data[t], (size_t)g.tensors[t].bytes);
    cpu_exec_free(&x);
    cpu_exec_free(&y);
    schedule_free(&a);
    schedule_free(&b);
    graph_free(&g);
}

static void expect_step_error(cpu_exec *x, const schedule *s, const char *needle)
{
    remat_err e = {{0}};
    assert_int_equal(cpu_exec_step(x, s, &e), -EINVAL);
    if (!strstr(e.msg, needle))
        print_error("message '%s' lacks '%s'\n", e.msg, needle);
    assert_non_null(strstr(e.msg, needle));
    assert_int_equal(x->alloc.current, x->trace.static_bytes); /* nothing left behind */
}

static void test_bad_schedules(void **state)
{
    (void)state;
    graph g;
    zoo(&g, "mlp", "depth=2,width=4,classes=3", 2);
    mem_config mc;
    mem_config_default(&mc);
    remat_err e;
    schedule ok, bad;
    assert_int_equal(exec_schedule_store_all(&g, &ok, &e), 0);
    cpu_exec x;
    init_or_fail(&x, &g, &mc);
    /* use after free: free op 0's output right after computing it */
    memset(&bad, 0, sizeof bad);
    schedule_push(&bad, INS_FWD, 0, 0);
    schedule_push(&bad, INS_FREE, g.ops[0].out, 0);
    schedule_push(&bad, INS_FWD, 1, 0);
    expect_step_error(&x, &bad, "instruction 2 (fwd layers.0.act): input is not live");
    /* double allocation */
    bad.n = 0;
    schedule_push(&bad, INS_FWD, 0, 0);
    schedule_push(&bad, INS_FWD, 0, 0);
    expect_step_error(&x, &bad, "already live");
    /* freeing what is not live; freeing static memory */
    bad.n = 0;
    schedule_push(&bad, INS_FREE, g.ops[0].out, 0);
    expect_step_error(&x, &bad, "frees what is not live");
    bad.n = 0;
    schedule_push(&bad, INS_FREE, 0, 0);
    expect_step_error(&x, &bad, "static memory");
    /* something left live at the end; a missing backward */
    bad.n = 0;
    schedule_push(&bad, INS_FWD, 0, 0);
    expect_step_error(&x, &bad, "still live");
    bad.n = 0;
    expect_step_error(&x, &bad, "has no backward");
    /* backward without its output's gradient */
    bad.n = 0;
    schedule_push(&bad, INS_FWD, 0, 0);
    schedule_push(&bad, INS_BWD, 0, 0);
    expect_step_error(&x, &bad, "gradient of the output is not live");
    /* out of range */
    bad.n = 0;
    schedule_push(&bad, INS_FWD, 99, 0);
    expect_step_error(&x, &bad, "out of range");
    /* the runner is still usable */
    step_or_fail(&x, &ok);
    schedule_free(&bad);
    schedule_free(&ok);
    cpu_exec_free(&x);
    graph_free(&g);
}

static void test_refusals(void **state)
{
    (void)state;
    mem_config mc;
    mem_config_default(&mc);
    remat_err e;
    graph g;
    /* bf16 activations */
    model_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.name = "mlp";
    sp.dtype = DT_BF16;
    sp.dropout = -1;
    assert_int_equal(zoo_build(&sp, &g, &e), 0);
    assert_int_equal(cpu_exec_check(&g, &mc, &e), -ENOTSUP);
    assert_non_null(strstr(e.msg, "fp32"));
    graph_free(&g);
    /* a workspace smaller than the attention backward needs */
    tg_gpt2(&g, &gpt2_cfg);
    assert_int_equal(cpu_exec_check(&g, &mc, &e), 0);
    int att = -1;
    for (int i = 0; i < g.n_ops; i++)
        if (g.ops[i].kind == OP_ATTENTION)
            att = i;
    g.ops[att].ws_bwd = 16;
    assert_int_equal(cpu_exec_check(&g, &mc, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "workspace"));
    g.ops[att].ws_bwd = 2 * 5 * 5 * 4;
    /* a saved list that misses what the backward reads */
    g.ops[att].n_saved = 1;
    assert_int_equal(cpu_exec_check(&g, &mc, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "does not save"));
    graph_free(&g);
    /* memory configurations the CPU does not run */
    zoo(&g, "mlp", "depth=1,width=4", 1);
    mc.mixed = true;
    assert_int_equal(cpu_exec_check(&g, &mc, &e), -ENOTSUP);
    mem_config_default(&mc);
    mc.allocator = ALLOC_PYTORCH;
    assert_int_equal(cpu_exec_check(&g, &mc, &e), -ENOTSUP);
    mem_config_default(&mc);
    mc.zero_stage = 2;
    mc.dp = 4;
    cpu_exec x;
    assert_int_equal(cpu_exec_init(&x, &g, &mc, NULL, &e), -ENOTSUP);
    /* other optimizers: static bytes follow their state count */
    mem_config_default(&mc);
    mc.optimizer = OPTIM_SGD;
    init_or_fail(&x, &g, &mc);
    assert_int_equal(x.alloc.current, tg_static_bytes(&g, 0));
    cpu_exec_free(&x);
    mc.optimizer = OPTIM_MOMENTUM;
    mc.workspace_bytes = 1000;
    init_or_fail(&x, &g, &mc);
    assert_int_equal(x.alloc.current, tg_static_bytes(&g, 1) + 1000);
    schedule s;
    assert_int_equal(exec_schedule_store_all(&g, &s, &e), 0);
    step_or_fail(&x, &s);
    schedule_free(&s);
    cpu_exec_free(&x);
    graph_free(&g);
}

static void test_dump(void **state)
{
    (void)state;
    graph g;
    zoo(&g, "mlp", "depth=1,width=4,classes=3", 2);
    mem_config mc;
    mem_config_default(&mc);
    cpu_exec x;
    init_or_fail(&x, &g, &mc);
    remat_err e;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(cpu_exec_dump(&x, 0, f, &e), 0);
    fclose(f);
    /* header, then 4 tensors: fc weight [4,4], fc bias, head weight [3,4], head bias */
    assert_memory_equal(buf, "REMATDMP", 8);
    uint32_t count;
    memcpy(&count, buf + 12, 4);
    assert_int_equal(count, 4);
    size_t expect = 16;
    for (int t = 0; t < g.n_tensors; t++)
        if (g.tensors[t].role == ROLE_PARAM)
            expect += 4 + strlen(g.tensors[t].name) + 8 + 8 * (size_t)g.tensors[t].ndim +
                      (size_t)g.tensors[t].bytes;
    assert_int_equal(len, expect);
    free(buf);
    cpu_exec_free(&x);
    graph_free(&g);
}

static void test_measure(void **state)
{
    (void)state;
    graph g;
    tg_llama(&g, &llama_cfg);
    profile p;
    remat_err e;
    int rc = profile_analytic(&p, &g, device_find("cpu"), &e);
    assert_int_equal(rc, 0);
    rc = profile_measure_cpu(&p, 3, &e);
    if (rc)
        print_error("measure: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(p.source, SRC_CPU);
    assert_string_equal(p.target, "cpu");
    assert_true(strlen(p.device_desc) > 0);
    for (int i = 0; i < p.g.n_ops; i++) {
        assert_true(p.ops[i].time_fwd_s > 0);
        assert_true(p.ops[i].time_bwd_s > 0);
    }
    assert_true(p.totals.time_fwd_s > 0);
    assert_int_equal(profile_measure_cpu(&p, 0, &e), -EINVAL);
    profile_free(&p);
}

/* cpu_validate against a prediction built by the independent replay: passes when
 * the prediction is right, names the first diverging instruction when it is not,
 * and honours the tolerance. */
static void test_validate(void **state)
{
    (void)state;
    graph g;
    tg_llama(&g, &llama_cfg);
    mem_config mc;
    mem_config_default(&mc);
    schedule s;
    tg_checkpoint_schedule(&g, NULL, true, &s);
    sim_result pred;
    memset(&pred, 0, sizeof pred);
    pred.n = s.n;
    tg_replay(&g, &s, &pred.live_after, &pred.peak_during);
    pred.static_bytes = tg_static_bytes(&g, 2);
    for (int i = 0; i < s.n; i++)
        if (pred.peak_during[i] > pred.activation_peak_bytes) {
            pred.activation_peak_bytes = pred.peak_during[i];
            pred.peak_ins = i;
        }
    pred.peak_bytes = pred.static_bytes + pred.activation_peak_bytes;
    pred.compute_overhead = 0.5;
    validate_opts vo;
    validate_opts_default(&vo);
    vo.steps = 2;
    vo.exec.threads = 1;
    validate_result r;
    remat_err e;
    int rc = cpu_validate(&g, &mc, &s, &pred, &vo, &r, &e);
    if (rc)
        print_error("validate: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_true(r.pass);
    assert_true(r.grads_match && r.loss_match && r.peak_ok);
    assert_int_equal(r.measured_peak, pred.peak_bytes);
    assert_int_equal(r.measured_peak_ins, pred.peak_ins);
    assert_int_equal(r.measured_static, pred.static_bytes);
    assert_int_equal(r.timeline_ins, -1);
    assert_int_equal(r.grad_step, -1);
    assert_true(r.step_plan_s > 0 && r.step_ref_s > 0 && r.recompute_s > 0);
    /* a wrong prediction: first divergence named, peak off by 1 byte fails at 0% */
    pred.live_after[7] += 4;
    pred.peak_bytes += 1;
    assert_int_equal(cpu_validate(&g, &mc, &s, &pred, &vo, &r, &e), 0);
    assert_false(r.pass);
    assert_false(r.peak_ok);
    assert_int_equal(r.timeline_ins, 7);
    assert_int_equal(r.timeline_meas_live + 4, r.timeline_pred_live);
    vo.tolerance_pct = 1.0;
    assert_int_equal(cpu_validate(&g, &mc, &s, &pred, &vo, &r, &e), 0);
    assert_true(r.pass);
    /* a prediction for another schedule is refused */
    pred.n--;
    assert_int_equal(cpu_validate(&g, &mc, &s, &pred, &vo, &r, &e), -EINVAL);
    free(pred.live_after);
    free(pred.peak_during);
    schedule_free(&s);
    graph_free(&g);
}

/* A valid schedule that runs the backward of q_proj and v_proj (which both read the
 * same normalised input) in the other order accumulates that input's gradient in
 * another order: fp32 rounding differs, and cpu_validate must say so. */
static void test_validate_grad_mismatch(void **state)
{
    (void)state;
    graph g;
    tg_llama(&g, &llama_cfg);
    mem_config mc;
    mem_config_default(&mc);
    remat_err e;
    schedule s;
    assert_int_equal(exec_schedule_store_all(&g, &s, &e), 0);
    int q = graph_find_op(&g, "model.layers.0.self_attn.q_proj");
    int v = graph_find_op(&g, "model.layers.0.self_attn.v_proj");
    int pq = -1, pv = -1;
    for (int i = 0; i < s.n; i++)
        if (s.ins[i].kind == INS_BWD && s.ins[i].arg == q)
            pq = i;
        else if (s.ins[i].kind == INS_BWD && s.ins[i].arg == v)
            pv = i;
    assert_true(pv >= 0 && pq > pv);
    assert_int_equal(s.ins[pv + 1].kind, INS_FREE_GRAD);
    assert_int_equal(s.ins[pq + 1].kind, INS_FREE_GRAD);
    for (int d = 0; d < 2; d++) {
        sched_ins t = s.ins[pv + d];
        s.ins[pv + d] = s.ins[pq + d];
        s.ins[pq + d] = t;
    }
    sim_result pred;
    memset(&pred, 0, sizeof pred);
    pred.n = s.n;
    tg_replay(&g, &s, &pred.live_after, &pred.peak_during);
    pred.static_bytes = tg_static_bytes(&g, 2);
    for (int i = 0; i < s.n; i++)
        if (pred.peak_during[i] > pred.activation_peak_bytes)
            pred.activation_peak_bytes = pred.peak_during[i];
    pred.peak_bytes = pred.static_bytes + pred.activation_peak_bytes;
    validate_opts vo;
    validate_opts_default(&vo);
    vo.steps = 1;
    vo.warmup = 0;
    vo.exec.threads = 1;
    validate_result r;
    assert_int_equal(cpu_validate(&g, &mc, &s, &pred, &vo, &r, &e), 0);
    assert_true(r.peak_ok);
    assert_int_equal(r.timeline_ins, -1);
    assert_false(r.grads_match);
    assert_false(r.pass);
    assert_int_equal(r.grad_step, 0);
    assert_true(r.grad_mismatches > 0);
    assert_true(r.grad_max_abs_diff > 0 && r.grad_max_abs_diff < 1e-4);
    free(pred.live_after);
    free(pred.peak_during);
    schedule_free(&s);
    graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2),
        cmocka_unit_test(test_gpt2_dropout),
        cmocka_unit_test(test_llama),
        cmocka_unit_test(test_cnn),
        cmocka_unit_test(test_zoo_mlp_chain),
        cmocka_unit_test(test_fd_models),
        cmocka_unit_test(test_multi_step),
        cmocka_unit_test(test_bad_schedules),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_dump),
        cmocka_unit_test(test_measure),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_validate_grad_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
