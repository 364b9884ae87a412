/* tests/models/test_graph.c — graph IR storage, validation and shared helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "models/graph.h"

static void test_dtype_and_sizes(void **state)
{
    (void)state;
    assert_int_equal(dtype_size(DT_BF16), 2);
    assert_int_equal(dtype_from_name("bfloat16"), DT_BF16);
    assert_int_equal(dtype_from_name("fp8"), -EINVAL);
    int64_t b = 0;
    remat_err e;
    assert_int_equal(remat_parse_size("24GB", &b, &e), 0);
    assert_int_equal(b, 24000000000LL);
    assert_int_equal(remat_parse_size("24 GiB", &b, &e), 0);
    assert_int_equal(b, 24LL << 30);
    assert_int_equal(remat_parse_size("1.5KiB", &b, &e), 0);
    assert_int_equal(b, 1536);
    assert_int_equal(remat_parse_size("4096", &b, &e), 0);
    assert_int_equal(b, 4096);
    assert_int_equal(remat_parse_size("12 parsecs", &b, &e), -EINVAL);
    assert_int_equal(remat_parse_size("-3GB", &b, &e), -EINVAL);
    assert_int_equal(remat_parse_size("1e30TB", &b, &e), -ERANGE);
    int64_t x;
    assert_false(checked_mul64(INT64_MAX / 2 + 1, 2, &x));
    assert_true(checked_mul64(1 << 20, 1 << 20, &x));
    assert_false(checked_add64(INT64_MAX, 1, &x));
}

static void test_build_and_lookup(void **state)
{
    (void)state;
    graph g;
    remat_err e;
    graph_init(&g, "t");
    int64_t shp[2] = {2, 3};
    int in = graph_add_tensor(&g, "in", ROLE_INPUT, DT_F32, 2, shp, &e);
    int out = graph_add_tensor(&g, "out", ROLE_ACT, DT_F32, 2, shp, &e);
    assert_true(in >= 0 && out >= 0);
    assert_int_equal(graph_add_tensor(&g, "out", ROLE_ACT, DT_F32, 2, shp, &e), -EINVAL);
    int64_t bad[2] = {2, -1};
    assert_int_equal(graph_add_tensor(&g, "bad", ROLE_ACT, DT_F32, 2, bad, &e), -EINVAL);
    int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    assert_int_equal(graph_add_tensor(&g, "huge", ROLE_ACT, DT_F32, 2, huge, &e), -ERANGE);
    graph_op o = {.name = "relu", .kind = OP_RELU, .n_in = 1, .in = {in}, .out = out,
                  .n_saved = 1, .saved = {out}};
    assert_int_equal(graph_add_op(&g, &o, &e), 0);
    assert_int_equal(graph_find_op(&g, "relu"), 0);
    assert_int_equal(graph_find_tensor(&g, "out"), out);
    assert_int_equal(graph_find_tensor(&g, "nope"), -1);
    assert_int_equal(graph_validate(&g, &e), 0);
    assert_int_equal(graph_saved_bytes(&g), 24);
    graph_free(&g);
}

static void test_validate_rejects_wrong_order(void **state)
{
    (void)state;
    graph g;
    remat_err e;
    graph_init(&g, "t");
    int64_t shp[1] = {4};
    int a = graph_add_tensor(&g, "a", ROLE_ACT, DT_F32, 1, shp, &e);
    int b = graph_add_tensor(&g, "b", ROLE_ACT, DT_F32, 1, shp, &e);
    /* op0 reads b, which op1 produces later: a cycle or a wrong order */
    graph_op o0 = {.name = "op0", .kind = OP_RELU, .n_in = 1, .in = {b}, .out = a};
    graph_op o1 = {.name = "op1", .kind = OP_RELU, .n_in = 1, .in = {a}, .out = b};
    assert_int_equal(graph_add_op(&g, &o0, &e), 0);
    assert_int_equal(graph_add_op(&g, &o1, &e), 1);
    assert_int_equal(graph_validate(&g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "op0"));
    graph_free(&g);
}

static void test_validate_rejects_dangling(void **state)
{
    (void)state;
    graph g;
    remat_err e;
    graph_init(&g, "t");
    int64_t shp[1] = {4};
    int in = graph_add_tensor(&g, "in", ROLE_INPUT, DT_F32, 1, shp, &e);
    int a = graph_add_tensor(&g, "a", ROLE_ACT, DT_F32, 1, shp, &e);
    graph_add_tensor(&g, "orphan", ROLE_ACT, DT_F32, 1, shp, &e);
    graph_op o0 = {.name = "op0", .kind = OP_RELU, .n_in = 1, .in = {in}, .out = a};
    assert_int_equal(graph_add_op(&g, &o0, &e), 0);
    assert_int_equal(graph_validate(&g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "orphan"));
    graph_free(&g);
}

static void test_zoo_chain_and_mlp(void **state)
{
    (void)state;
    graph g;
    remat_err e;
    model_spec s = {.name = "chain", .dtype = -1, .dropout = -1, .batch = 2};
    char *store = NULL;
    assert_int_equal(model_spec_parse_set(&s, "length=7,width=16", &store, &e), 0);
    assert_int_equal(zoo_build(&s, &g, &e), 0);
    assert_int_equal(g.n_ops, 8); /* 7 stages + loss */
    assert_string_equal(graph_get_config(&g, "length"), "7");
    assert_int_equal(graph_param_count(&g, true), 7 * 16);
    graph_free(&g);
    free(store);

    model_spec m = {.name = "mlp", .dtype = -1, .dropout = -1, .batch = 4};
    assert_int_equal(model_spec_parse_set(&m, "depth=3,width=8,classes=5", &store, &e), 0);
    assert_int_equal(zoo_build(&m, &g, &e), 0);
    assert_int_equal(graph_param_count(&g, false), 3 * (8 * 8 + 8) + 5 * 8 + 5);
    graph_free(&g);
    free(store);

    model_spec u = {.name = "mlp", .dtype = -1, .dropout = -1};
    assert_int_equal(model_spec_parse_set(&u, "depht=3", &store, &e), 0);
    assert_int_equal(zoo_build(&u, &g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "depht"));
    free(store);
    model_spec z = {.name = "mlp", .dtype = -1, .dropout = -1};
    assert_int_equal(model_spec_parse_set(&z, "width=0", &store, &e), 0);
    assert_int_equal(zoo_build(&z, &g, &e), -EINVAL);
    free(store);
    model_spec q = {.name = "nosuch", .dtype = -1, .dropout = -1};
    assert_int_equal(zoo_build(&q, &g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "nosuch"));
    assert_int_equal(model_spec_parse_set(&q, "novalue", &store, &e), -EINVAL);
    free(store);
}

static int64_t params_of(const char *name, int64_t seq)
{
    graph g;
    remat_err e;
    model_spec s = {.name = name, .dtype = -1, .dropout = -1, .seq = seq};
    assert_int_equal(zoo_build(&s, &g, &e), 0);
    int64_t n = graph_param_count(&g, false);
    graph_free(&g);
    return n;
}

/* Published parameter counts (GPT-2 with vocab 50257 and tied embeddings; Llama). */
static void test_preset_param_counts(void **state)
{
    (void)state;
    assert_int_equal(params_of("gpt2-124m", 8), 124439808LL);
    assert_int_equal(params_of("gpt2-350m", 8), 354823168LL);
    assert_int_equal(params_of("gpt2-774m", 8), 774030080LL);
    assert_int_equal(params_of("gpt2-1.5b", 8), 1557611200LL);
    assert_int_equal(params_of("llama2-7b", 8), 6738415616LL);
    assert_int_equal(params_of("llama2-13b", 8), 13015864320LL);
    assert_int_equal(params_of("llama3-8b", 8), 8030261248LL);
}

/* Korthikanti et al. 2022: a GPT-2 block with 16-bit activations and dropout saves
 * sbh(34 + 5as/h) bytes, plus the two layernorms' fp32 mean and rstd. */
static void test_gpt2_block_megatron(void **state)
{
    (void)state;
    graph g;
    remat_err e;
    model_spec s = {.name = "gpt2-124m", .dtype = DT_BF16, .dropout = 0.1, .seq = 256, .batch = 2};
    assert_int_equal(zoo_build(&s, &g, &e), 0);
    int64_t sq = 256, b = 2, h = 768, a = 12;
    int64_t expect = sq * b * h * 34 + 5 * a * sq * sq * b + 2 * 2 * 4 * sq * b;
    /* distinct saved activations of the ops of transformer.h.1 */
    unsigned char *seen = calloc((size_t)g.n_tensors, 1);
    int64_t got = 0;
    for (int i = 0; i < g.n_ops; i++) {
        if (strncmp(g.ops[i].module, "transformer.h.1", 15) != 0 ||
            (g.ops[i].module[15] != '.' && g.ops[i].module[15] != 0))
            continue;
        for (int k = 0; k < g.ops[i].n_saved; k++) {
            int t = g.ops[i].saved[k];
            if (!seen[t] && g.tensors[t].role != ROLE_INPUT) {
                seen[t] = 1;
                got += g.tensors[t].bytes;
            }
        }
    }
    free(seen);
    assert_int_equal(got, expect);
    /* FLOPs: within 1% of 6 * params * tokens plus the attention terms */
    int64_t fl = 0;
    for (int i = 0; i < g.n_ops; i++)
        fl += g.ops[i].flops_fwd + g.ops[i].flops_bwd;
    double tokens = (double)(b * sq);
    double ref = 6.0 * (double)graph_param_count(&g, false) * tokens +
                 12.0 * 12 * (double)b * (double)(sq * sq) * (double)h;
    assert_true(fl > 0.99 * ref && fl < 1.01 * ref);
    graph_free(&g);
}

static void test_model_errors(void **state)
{
    (void)state;
    graph g;
    remat_err e;
    char *store = NULL;
    model_spec s = {.name = "gpt2", .dtype = -1, .dropout = -1, .seq = 16};
    assert_int_equal(model_spec_parse_set(&s, "n_embd=100,n_head=3", &store, &e), 0);
    assert_int_equal(zoo_build(&s, &g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "divide"));
    free(store);
    model_spec l = {.name = "llama", .dtype = -1, .dropout = -1, .seq = 16};
    assert_int_equal(model_spec_parse_set(&l, "num_attention_heads=32,num_key_value_heads=5",
                                          &store, &e), 0);
    assert_int_equal(zoo_build(&l, &g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "num_key_value_heads"));
    free(store);
    model_spec t = {.name = "gpt2-124m", .dtype = -1, .dropout = -1, .seq = 4096};
    assert_int_equal(zoo_build(&t, &g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "n_positions"));
}

static void test_hf_config(void **state)
{
    (void)state;
    graph g;
    remat_err e;
    model_spec s = {.dtype = -1, .dropout = -1, .seq = 64};
    assert_int_equal(zoo_build_hf_config(FIXTURES_DIR "/hf/gpt2-small-config.json", &s, &g, &e), 0);
    assert_int_equal(graph_param_count(&g, false), 124439808LL);
    graph_free(&g);
    assert_int_equal(zoo_build_hf_config(FIXTURES_DIR "/hf/llama-tiny-config.json", &s, &g, &e), 0);
    /* 256*64 embed + 2*(4 proj: 64*64 + 2*64*32 + 64*64 + 3*64*176 + 2*64) + 64 + 256*64 head */
    int64_t C = 64, F = 176, V = 256, KVD = 32;
    int64_t layer = C * C + 2 * C * KVD + C * C + 3 * C * F + 2 * C;
    assert_int_equal(graph_param_count(&g, false), V * C + 2 * layer + C + V * C);
    assert_string_equal(graph_get_config(&g, "num_key_value_heads"), "2");
    graph_free(&g);
    assert_int_equal(zoo_build_hf_config(FIXTURES_DIR "/hf/bert-config.json", &s, &g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "bert"));
    assert_int_equal(zoo_build_hf_config(FIXTURES_DIR "/hf/truncated-config.json", &s, &g, &e),
                     -EINVAL);
    assert_non_null(strstr(e.msg, "truncated-config.json:2:"));
    assert_true(zoo_build_hf_config(FIXTURES_DIR "/hf/missing.json", &s, &g, &e) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_and_sizes),
        cmocka_unit_test(test_build_and_lookup),
        cmocka_unit_test(test_validate_rejects_wrong_order),
        cmocka_unit_test(test_validate_rejects_dangling),
        cmocka_unit_test(test_zoo_chain_and_mlp),
        cmocka_unit_test(test_preset_param_counts),
        cmocka_unit_test(test_gpt2_block_megatron),
        cmocka_unit_test(test_model_errors),
        cmocka_unit_test(test_hf_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
