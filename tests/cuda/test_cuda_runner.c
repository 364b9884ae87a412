/* tests/cuda/test_cuda_runner.c — the CUDA step runner on the executor tests' hand-
 * built GPT-2, Llama and CNN graphs (tests/executor/tgraphs.c):
 *   - fp32 against the CPU runner: loss within 1e-5 and every parameter gradient
 *     within 1e-4 (max-norm relative: end to end, summation orders differ);
 *   - bf16 storage against the CPU's fp32 run: 5e-2 (max-norm relative);
 *   - on the GPU, recomputing schedules give gradients and loss bitwise identical to
 *     the store-all schedule (deterministic kernels, identical recomputation);
 *   - tracked bytes after and at the high point of every instruction equal an
 *     independent replay of the schedule rules; static bytes as documented;
 *   - cudaMemGetInfo sees a 64 MiB tracked allocation; CUPTI's replayed peak covers
 *     the tracked peak;
 *   - cuda_validate passes a checkpointing schedule against its replayed prediction;
 *   - schedule errors fail with the CPU runner's messages and free everything.
 * Exits 77 (skip) without a CUDA device. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/cuda/cuda_test.h"
#include "tests/executor/tgraphs.h"

#define TOL_E2E_F32 1e-4
#define TOL_E2E_BF16 5e-2

static const tg_cfg gpt2_cfg = {.B = 2, .T = 5, .C = 8, .H = 2, .L = 2, .V = 11};
static const tg_cfg gpt2_drop_cfg = {.B = 1, .T = 4, .C = 8, .H = 2, .L = 2, .V = 7,
                                     .dropout = 0.2};
static const tg_cfg llama_cfg = {.B = 2, .T = 4, .C = 8, .H = 4, .KV = 2, .L = 2, .V = 9,
                                 .F = 12};

/* Relabels every fp32 tensor except statistics and the loss's as bf16. */
static void to_bf16(graph *g)
{
    bool *keep = calloc((size_t)g->n_tensors, 1);
    for (int i = 0; i < g->n_ops; i++) {
        const graph_op *o = &g->ops[i];
        if (o->kind == OP_LAYERNORM || o->kind == OP_RMSNORM || o->kind == OP_BATCHNORM ||
            o->kind == OP_LOSS)
            for (int k = 0; k < o->n_extra; k++)
                keep[o->extra[k]] = true;
        if (o->kind == OP_LOSS)
            keep[o->out] = true;
    }
    for (int t = 0; t < g->n_tensors; t++) {
        graph_tensor *x = &g->tensors[t];
        if (x->dtype == DT_F32 && !keep[t]) {
            x->dtype = DT_BF16;
            x->bytes = x->numel * 2;
        }
    }
    g->dtype = g->param_dtype = DT_BF16;
    free(keep);
}

static cuda_exec *gpu_new(const graph *g, const mem_config *mc, bool cupti)
{
    cuda_exec *x = NULL;
    remat_err e;
    exec_opts o;
    exec_opts_default(&o);
    int rc = cuda_exec_create(&x, g, mc, &o, cupti, &e);
    if (rc)
        print_error("cuda_exec_create: %s\n", e.msg);
    assert_int_equal(rc, 0);
    return x;
}

static void gpu_step(cuda_exec *x, const schedule *s)
{
    remat_err e;
    int rc = cuda_exec_step(x, s, &e);
    if (rc)
        print_error("cuda_exec_step: %s\n", e.msg);
    assert_int_equal(rc, 0);
}

static float *gpu_grads(const cuda_exec *x)
{
    int64_t n = cuda_exec_grad_count(x);
    float *g = malloc((size_t)n * sizeof *g);
    remat_err e;
    assert_int_equal(cuda_exec_copy_grads(x, g, n, &e), 0);
    return g;
}

/* The CPU runner's store-all gradients and loss for the fp32 graph g. */
static float *cpu_grads(const graph *g, float *loss)
{
    mem_config mc;
    mem_config_default(&mc);
    remat_err e;
    schedule ref;
    assert_int_equal(exec_schedule_store_all(g, &ref, &e), 0);
    cpu_exec x;
    exec_opts o;
    exec_opts_default(&o);
    o.threads = 1;
    assert_int_equal(cpu_exec_init(&x, g, &mc, &o, &e), 0);
    assert_int_equal(cpu_exec_step(&x, &ref, &e), 0);
    int64_t n = cpu_exec_grad_count(&x);
    float *gr = malloc((size_t)n * sizeof *gr);
    assert_int_equal(cpu_exec_copy_grads(&x, gr, n), 0);
    *loss = x.trace.loss;
    cpu_exec_free(&x);
    schedule_free(&ref);
    return gr;
}

/* Runs g (fp32 built; converted to bf16 when bf16) on the GPU under store-all and
 * two checkpointing schedules and checks everything in the header comment. */
static void check_model(graph *g, bool bf16)
{
    float cpu_loss = 0;
    float *cg = cpu_grads(g, &cpu_loss);
    if (bf16)
        to_bf16(g);
    mem_config mc;
    mem_config_default(&mc);
    remat_err e;
    schedule sch[3];
    assert_int_equal(exec_schedule_store_all(g, &sch[0], &e), 0);
    bool *half = calloc((size_t)g->n_tensors, 1);
    for (int t = 0, k = 0; t < g->n_tensors; t++)
        if (g->tensors[t].role == ROLE_ACT)
            half[t] = (k++ % 2) == 0;
    tg_checkpoint_schedule(g, NULL, true, &sch[1]);
    tg_checkpoint_schedule(g, half, true, &sch[2]);
    float *g0 = NULL, loss0 = 0;
    int64_t n = 0;
    for (int k = 0; k < 3; k++) {
        cuda_exec *x = gpu_new(g, &mc, true);
        const exec_trace *tr = cuda_exec_trace(x);
        int64_t static_want = tg_static_bytes(g, 2);
        if (bf16) /* moments are fp32: 2 x 4 bytes where tg counts 2 x 2 */
            for (int t = 0; t < g->n_tensors; t++)
                if (g->tensors[t].role == ROLE_PARAM && !g->tensors[t].frozen)
                    static_want += 2 * g->tensors[t].numel * 2;
        assert_int_equal(tr->static_bytes, static_want);
        gpu_step(x, &sch[k]);
        int64_t *la, *pd;
        tg_replay(g, &sch[k], &la, &pd);
        int64_t maxpd = 0;
        for (int i = 0; i < sch[k].n; i++) {
            if (tr->live_after[i] != la[i] || tr->peak_during[i] != pd[i])
                print_error("schedule %d instruction %d: tracked %lld/%lld, replay %lld/%lld\n", k,
                            i, (long long)tr->live_after[i], (long long)tr->peak_during[i],
                            (long long)la[i], (long long)pd[i]);
            assert_int_equal(tr->live_after[i], la[i]);
            assert_int_equal(tr->peak_during[i], pd[i]);
            maxpd = pd[i] > maxpd ? pd[i] : maxpd;
        }
        free(la);
        free(pd);
        assert_int_equal(tr->n, sch[k].n);
        assert_int_equal(tr->peak_bytes, tr->static_bytes + maxpd);
        const cuda_mem_measure *m = cuda_exec_memory(x);
        assert_int_equal(m->tracked_peak, tr->peak_bytes);
        if (m->cupti_ok && m->cupti_dropped == 0) {
            assert_true(m->cupti_peak >= m->tracked_peak);
            assert_true(m->cupti_allocs > 0);
        }
        assert_true(isfinite(tr->loss) && tr->loss > 0);
        float *gk = gpu_grads(x);
        n = cuda_exec_grad_count(x);
        if (k == 0) {
            g0 = gk;
            loss0 = tr->loss;
            double tol = bf16 ? TOL_E2E_BF16 : TOL_E2E_F32;
            double eg = maxnorm_rel(gk, cg, n);
            if (!(eg <= tol))
                print_error("gradients vs CPU: max-norm relative error %.3g > %.0e\n", eg, tol);
            assert_true(eg <= tol);
            assert_true(fabs((double)tr->loss - cpu_loss) <= (bf16 ? 2e-2 : 1e-5) * fabs(cpu_loss));
        } else {
            assert_memory_equal(gk, g0, (size_t)n * sizeof *gk);
            assert_memory_equal(&tr->loss, &loss0, sizeof loss0);
            assert_true(tr->recompute_s > 0);
            free(gk);
        }
        cuda_exec_destroy(x);
    }
    free(g0);
    free(cg);
    free(half);
    for (int k = 0; k < 3; k++)
        schedule_free(&sch[k]);
}

static void test_gpt2(void **state)
{
    (void)state;
    graph g;
    tg_gpt2(&g, &gpt2_cfg);
    check_model(&g, false);
    graph_free(&g);
}

static void test_gpt2_dropout(void **state)
{
    (void)state;
    graph g;
    tg_gpt2(&g, &gpt2_drop_cfg);
    check_model(&g, false);
    graph_free(&g);
}

static void test_llama(void **state)
{
    (void)state;
    graph g;
    tg_llama(&g, &llama_cfg);
    check_model(&g, false);
    graph_free(&g);
}

static void test_cnn(void **state)
{
    (void)state;
    graph g;
    tg_cnn(&g);
    check_model(&g, false);
    graph_free(&g);
}

static void test_gpt2_bf16(void **state)
{
    (void)state;
    graph g;
    tg_gpt2(&g, &gpt2_drop_cfg);
    check_model(&g, true);
    graph_free(&g);
}

static void test_llama_bf16(void **state)
{
    (void)state;
    graph g;
    tg_llama(&g, &llama_cfg);
    check_model(&g, true);
    graph_free(&g);
}

/* Mixed precision: bf16 weights and gradients, fp32 master weights and moments. */
static void test_mixed_static(void **state)
{
    (void)state;
    graph g;
    tg_llama(&g, &llama_cfg);
    to_bf16(&g);
    mem_config mc;
    mem_config_default(&mc);
    mc.mixed = true;
    int64_t want = 0;
    for (int t = 0; t < g.n_tensors; t++) {
        const graph_tensor *x = &g.tensors[t];
        if (x->role == ROLE_PARAM)
            want += x->numel * (2 + 2 + 4 + 4 + 4);
        else if (x->role == ROLE_INPUT)
            want += x->bytes;
    }
    cuda_exec *x = gpu_new(&g, &mc, false);
    assert_int_equal(cuda_exec_trace(x)->static_bytes, want);
    schedule s;
    remat_err e;
    assert_int_equal(exec_schedule_store_all(&g, &s, &e), 0);
    gpu_step(x, &s);
    gpu_step(x, &s); /* the second step starts from updated master weights */
    assert_true(isfinite(cuda_exec_trace(x)->loss));
    cuda_exec_destroy(x);
    schedule_free(&s);
    graph_free(&g);
}

/* cudaMemGetInfo sees what the tracked allocator hands out. */
static void test_meminfo(void **state)
{
    (void)state;
    assert_int_equal(cudaFree(NULL), cudaSuccess);
    tracked_alloc a = {0};
    int64_t before = cuda_mem_used();
    assert_true(before > 0);
    int64_t big = 64 << 20;
    void *p = cuda_talloc(&a, big, true, 0);
    assert_non_null(p);
    assert_int_equal(a.current, big);
    assert_int_equal(a.peak, big);
    int64_t after = cuda_mem_used();
    assert_true(after - before >= big);
    cuda_tfree(&a, p, big);
    assert_int_equal(a.current, 0);
    assert_int_equal(a.n_allocs, 1);
    assert_int_equal(a.n_frees, 1);
}

/* cuda_validate on a checkpointing schedule, predicted by the independent replay. */
static void test_validate(void **state)
{
    (void)state;
    graph g;
    tg_gpt2(&g, &gpt2_cfg);
    mem_config mc;
    mem_config_default(&mc);
    schedule s;
    tg_checkpoint_schedule(&g, NULL, true, &s);
    sim_result pred;
    memset(&pred, 0, sizeof pred);
    tg_replay(&g, &s, &pred.live_after, &pred.peak_during);
    pred.n = s.n;
    pred.static_bytes = tg_static_bytes(&g, 2);
    int64_t mx = 0;
    for (int i = 0; i < s.n; i++)
        mx = pred.peak_during[i] > mx ? pred.peak_during[i] : mx;
    pred.peak_bytes = pred.static_bytes + mx;
    pred.activation_peak_bytes = mx;
    cuda_validate_opts o;
    cuda_validate_opts_default(&o);
    o.steps = 2;
    cuda_validate_result r;
    remat_err e;
    int rc = cuda_validate(&g, &mc, &s, &pred, &o, &r, &e);
    if (rc)
        print_error("cuda_validate: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_true(r.ref_ran);
    assert_int_equal(r.mem.tracked_peak, pred.peak_bytes);
    assert_int_equal(r.timeline_ins, -1);
    assert_true(r.grads_bitwise);
    assert_true(r.pass);
    cuda_validate_print(stdout, &r);
    free(pred.live_after);
    free(pred.peak_during);
    schedule_free(&s);
    graph_free(&g);
}

/* A schedule freeing what is not live fails like the CPU runner, holding nothing. */
static void test_schedule_error(void **state)
{
    (void)state;
    graph g;
    tg_gpt2(&g, &gpt2_cfg);
    mem_config mc;
    mem_config_default(&mc);
    schedule s = {0};
    assert_int_equal(schedule_push(&s, INS_FWD, 0, 0), 0);
    assert_int_equal(schedule_push(&s, INS_FREE, g.ops[1].out, 0), 0);
    cuda_exec *x = gpu_new(&g, &mc, false);
    remat_err e;
    assert_int_equal(cuda_exec_step(x, &s, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "frees what is not live"));
    assert_int_equal(cuda_exec_trace(x)->static_bytes, tg_static_bytes(&g, 2));
    cuda_exec_destroy(x);
    schedule_free(&s);
    graph_free(&g);
}

int main(void)
{
    if (!cuda_test_have_device()) {
        fprintf(stderr, "no CUDA device: skipping the CUDA runner tests\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meminfo),     cmocka_unit_test(test_gpt2),
        cmocka_unit_test(test_gpt2_dropout), cmocka_unit_test(test_llama),
        cmocka_unit_test(test_cnn),         cmocka_unit_test(test_gpt2_bf16),
        cmocka_unit_test(test_llama_bf16),  cmocka_unit_test(test_mixed_static),
        cmocka_unit_test(test_validate),    cmocka_unit_test(test_schedule_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
