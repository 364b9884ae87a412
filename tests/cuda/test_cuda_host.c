/* tests/cuda/test_cuda_host.c — the parts of the CUDA build that need no GPU, run
 * wherever remat is built with CUDA (CI included):
 *   - cuda_exec_check accepts fp32 and bf16 graphs and refuses, with a one-line
 *     reason, fp16 storage, mixed activation/parameter dtypes, wrong statistics
 *     dtypes, mixed precision on fp32, ZeRO / data parallelism, LoRA in mem_config
 *     and the PyTorch allocator model;
 *   - cuda_op_dims derives exactly the CPU executor's dimensions on a bf16 graph;
 *   - host bf16 rounding is round-to-nearest-even (NaN and infinities kept);
 *   - without a device: cuda_device_probe, cuda_exec_create, cuda_validate and
 *     profile_measure_cuda all fail with -ENODEV and the one-line "no CUDA device
 *     found (...)" message (skipped when a device is present). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "executor/cuda/ops.h"
#include "tests/cuda/cuda_test.h"
#include "tests/executor/tgraphs.h"

static const tg_cfg gpt2_cfg = {.B = 2, .T = 5, .C = 8, .H = 2, .L = 1, .V = 11, .dropout = 0.1};
static const tg_cfg llama_cfg = {.B = 1, .T = 4, .C = 8, .H = 4, .KV = 2, .L = 1, .V = 9, .F = 12};

static void relabel(graph *g, remat_dtype from, remat_dtype to, bool keep_stats)
{
    for (int t = 0; t < g->n_tensors; t++) {
        graph_tensor *x = &g->tensors[t];
        bool stat = x->producer >= 0 && x->role == ROLE_EXTRA &&
                    (g->ops[x->producer].kind == OP_LAYERNORM ||
                     g->ops[x->producer].kind == OP_RMSNORM || g->ops[x->producer].kind == OP_LOSS);
        bool loss_out = x->producer == g->n_ops - 1 && x->role == ROLE_ACT;
        if (x->dtype == from && !(keep_stats && (stat || loss_out))) {
            x->dtype = to;
            x->bytes = x->numel * dtype_size(to);
        }
    }
    g->dtype = g->param_dtype = to;
}

static void expect_refusal(const graph *g, const mem_config *mc, int code, const char *needle)
{
    remat_err e = {{0}};
    int rc = cuda_exec_check(g, mc, &e);
    if (rc != code || !strstr(e.msg, needle))
        print_error("got %d '%s', want %d with '%s'\n", rc, e.msg, code, needle);
    assert_int_equal(rc, code);
    assert_non_null(strstr(e.msg, needle));
    assert_null(strchr(e.msg, '\n'));
}

static void test_check_accepts(void **state)
{
    (void)state;
    mem_config mc;
    mem_config_default(&mc);
    remat_err e;
    graph g;
    tg_gpt2(&g, &gpt2_cfg);
    assert_int_equal(cuda_exec_check(&g, &mc, &e), 0);
    relabel(&g, DT_F32, DT_BF16, true);
    assert_int_equal(cuda_exec_check(&g, &mc, &e), 0);
    mc.mixed = true;
    assert_int_equal(cuda_exec_check(&g, &mc, &e), 0);
    graph_free(&g);
    tg_cnn(&g);
    mc.mixed = false;
    assert_int_equal(cuda_exec_check(&g, &mc, &e), 0);
    graph_free(&g);
}

static void test_check_refuses(void **state)
{
    (void)state;
    mem_config mc;
    mem_config_default(&mc);
    graph g;
    tg_llama(&g, &llama_cfg);
    /* fp16 storage */
    relabel(&g, DT_F32, DT_F16, true);
    expect_refusal(&g, &mc, -ENOTSUP, "fp32 or bf16");
    graph_free(&g);
    /* parameters in another dtype than the activations */
    tg_llama(&g, &llama_cfg);
    relabel(&g, DT_F32, DT_BF16, true);
    g.param_dtype = DT_F32;
    expect_refusal(&g, &mc, -ENOTSUP, "parameters in the activation dtype");
    graph_free(&g);
    /* statistics stored in bf16 */
    tg_llama(&g, &llama_cfg);
    relabel(&g, DT_F32, DT_BF16, false);
    expect_refusal(&g, &mc, -ENOTSUP, "the CUDA kernels need fp32 there");
    graph_free(&g);
    /* memory-model options the single-GPU executor does not run */
    tg_llama(&g, &llama_cfg);
    mc.mixed = true;
    expect_refusal(&g, &mc, -ENOTSUP, "mixed precision");
    mem_config_default(&mc);
    mc.zero_stage = 2;
    expect_refusal(&g, &mc, -ENOTSUP, "ZeRO");
    mem_config_default(&mc);
    mc.dp = 4;
    expect_refusal(&g, &mc, -ENOTSUP, "data parallelism");
    mem_config_default(&mc);
    mc.lora_rank = 8;
    expect_refusal(&g, &mc, -ENOTSUP, "LoRA");
    mem_config_default(&mc);
    mc.allocator = ALLOC_PYTORCH;
    expect_refusal(&g, &mc, -ENOTSUP, "exact allocator model");
    graph_free(&g);
}

/* On a bf16 graph, cuda_op_dims gives what cpu_op_dims gives on the fp32 original. */
static void test_dims_match_cpu(void **state)
{
    (void)state;
    graph f, b;
    tg_gpt2(&f, &gpt2_cfg);
    tg_gpt2(&b, &gpt2_cfg);
    relabel(&b, DT_F32, DT_BF16, true);
    remat_err e;
    for (int i = 0; i < f.n_ops; i++) {
        op_dims df, db;
        memset(&df, 0, sizeof df);
        memset(&db, 0, sizeof db);
        assert_int_equal(cpu_op_dims(&f, i, &df, &e), 0);
        assert_int_equal(cuda_op_dims(&b, i, &db, &e), 0);
        assert_memory_equal(&df, &db, sizeof df);
    }
    /* and the CPU executor itself refuses the bf16 graph */
    op_dims d;
    assert_int_equal(cpu_op_dims(&b, 1, &d, &e), -ENOTSUP);
    graph_free(&f);
    graph_free(&b);
}

static void test_bf16_rounding(void **state)
{
    (void)state;
    assert_int_equal(cuda_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(cuda_f32_to_bf16(-2.0f), 0xc000);
    assert_int_equal(cuda_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);       /* tie: to even */
    assert_int_equal(cuda_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);   /* tie: to even (up) */
    assert_int_equal(cuda_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81); /* above: up */
    assert_int_equal(cuda_f32_to_bf16(INFINITY), 0x7f80);
    assert_true(isnan(cuda_bf16_to_f32(cuda_f32_to_bf16(NAN))));
    assert_true(cuda_bf16_to_f32(cuda_f32_to_bf16(3.0e38f)) > 3.0e38f); /* rounds, no overflow */
    for (int i = -300; i < 300; i++) {
        float x = (float)i * 0.37f;
        float r = cuda_bf16_to_f32(cuda_f32_to_bf16(x));
        assert_true(fabsf(r - x) <= fabsf(x) * 0x1p-8f);
        assert_int_equal(cuda_f32_to_bf16(r), cuda_f32_to_bf16(x)); /* idempotent */
    }
}

static void expect_nodev(int rc, const remat_err *e)
{
    if (rc != -ENODEV)
        print_error("got %d '%s'\n", rc, e->msg);
    assert_int_equal(rc, -ENODEV);
    assert_non_null(strstr(e->msg, "no CUDA device found"));
    assert_null(strchr(e->msg, '\n'));
}

static void test_no_device(void **state)
{
    (void)state;
    if (cuda_test_have_device())
        skip();
    remat_err e;
    char desc[256];
    expect_nodev(cuda_device_probe(desc, sizeof desc, &e), &e);

    graph g;
    tg_gpt2(&g, &gpt2_cfg);
    mem_config mc;
    mem_config_default(&mc);
    cuda_exec *x = (cuda_exec *)&e; /* must be reset to NULL */
    expect_nodev(cuda_exec_create(&x, &g, &mc, NULL, true, &e), &e);
    assert_null(x);

    schedule s;
    assert_int_equal(exec_schedule_store_all(&g, &s, &e), 0);
    sim_result pred;
    memset(&pred, 0, sizeof pred);
    pred.n = s.n;
    cuda_validate_opts o;
    cuda_validate_opts_default(&o);
    cuda_validate_result r;
    expect_nodev(cuda_validate(&g, &mc, &s, &pred, &o, &r, &e), &e);
    expect_nodev(validate_cuda(&g, &mc, &s, &pred, 1, 0, 1.0, NULL, &e), &e);
    schedule_free(&s);

    profile p;
    memset(&p, 0, sizeof p);
    assert_int_equal(graph_copy(&p.g, &g), 0);
    p.ops = calloc((size_t)g.n_ops, sizeof *p.ops);
    expect_nodev(profile_measure_cuda(&p, 3, &e), &e);
    assert_int_equal(p.source, SRC_ANALYTIC); /* untouched */
    free(p.ops);
    graph_free(&p.g);
    graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_accepts), cmocka_unit_test(test_check_refuses),
        cmocka_unit_test(test_dims_match_cpu), cmocka_unit_test(test_bf16_rounding),
        cmocka_unit_test(test_no_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
