/* tests/solver/test_memory.c — static memory against the per-parameter formulas
 * (fp32 optimizers, mixed-precision Adam, ZeRO stages 1-3 as in Rajbhandari et al.,
 * LoRA) and the allocator model. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "solver/solver.h"
#include "tests/zoo_fixture.h"

#define MIB (INT64_C(1) << 20)

/* mlp depth 2, width 8, 4 classes, batch 1: 2*(64+8) + (32+4) = 180 parameters;
 * inputs: x [1,8] f32 (32 B) + targets [1] i32 (4 B) */
static void build_mlp(graph *g)
{
    model_spec spec = {.name = "mlp", .dtype = -1, .dropout = -1};
    char *storage = NULL;
    remat_err e;
    assert_int_equal(model_spec_parse_set(&spec, "depth=2,width=8,classes=4", &storage, &e), 0);
    assert_int_equal(zoo_build(&spec, g, &e), 0);
    free(storage);
    assert_int_equal(graph_param_count(g, false), 180);
}

static int64_t per_param(const graph *g, const mem_config *mc)
{
    static_mem sm;
    remat_err e;
    assert_int_equal(static_memory(g, mc, &sm, &e), 0);
    assert_int_equal(sm.inputs, 36);
    assert_int_equal(sm.total, sm.params + sm.grads + sm.optimizer + sm.master + sm.inputs +
                                   sm.workspace);
    int64_t model = sm.params + sm.grads + sm.optimizer + sm.master;
    assert_int_equal(model % 180, 0);
    return model / 180;
}

static void test_optimizers_fp32(void **state)
{
    (void)state;
    graph g;
    build_mlp(&g);
    mem_config mc;
    mem_config_default(&mc);
    assert_int_equal(mc.optimizer, OPTIM_ADAMW);
    assert_int_equal(per_param(&g, &mc), 16); /* 4 weights + 4 grads + 4 m + 4 v */
    mc.optimizer = OPTIM_ADAM;
    assert_int_equal(per_param(&g, &mc), 16);
    mc.optimizer = OPTIM_MOMENTUM;
    assert_int_equal(per_param(&g, &mc), 12);
    mc.optimizer = OPTIM_SGD;
    assert_int_equal(per_param(&g, &mc), 8);
    static_mem sm;
    remat_err e;
    mc.optimizer = OPTIM_ADAMW;
    assert_int_equal(static_memory(&g, &mc, &sm, &e), 0);
    assert_int_equal(sm.params, 720);
    assert_int_equal(sm.grads, 720);
    assert_int_equal(sm.optimizer, 1440);
    assert_int_equal(sm.master, 0);
    mc.workspace_bytes = 1000;
    assert_int_equal(static_memory(&g, &mc, &sm, &e), 0);
    assert_int_equal(sm.workspace, 1000);
    assert_int_equal(sm.total, 2880 + 36 + 1000);
    graph_free(&g);
}

static void test_mixed_and_zero(void **state)
{
    (void)state;
    graph g;
    build_mlp(&g);
    mem_config mc;
    mem_config_default(&mc);
    mc.mixed = true;
    mc.optimizer = OPTIM_ADAM;
    static_mem sm;
    remat_err e;
    /* 2 (16-bit weights) + 2 (16-bit grads) + 12 (fp32 master, m, v) */
    assert_int_equal(static_memory(&g, &mc, &sm, &e), 0);
    assert_int_equal(sm.params, 2 * 180);
    assert_int_equal(sm.grads, 2 * 180);
    assert_int_equal(sm.master, 4 * 180);
    assert_int_equal(sm.optimizer, 8 * 180);
    assert_int_equal(per_param(&g, &mc), 16);
    mc.optimizer = OPTIM_SGD;
    assert_int_equal(per_param(&g, &mc), 8);
    mc.optimizer = OPTIM_MOMENTUM;
    assert_int_equal(per_param(&g, &mc), 12);

    /* ZeRO over N = 4 (Rajbhandari et al.): stage 1 4P + 12P/N, stage 2 2P + 14P/N,
     * stage 3 16P/N, with P = 180 */
    mc.optimizer = OPTIM_ADAMW;
    mc.dp = 4;
    const int64_t P = 180, N = 4;
    int64_t want[4] = {16 * P, 4 * P + 12 * P / N, 2 * P + 14 * P / N, 16 * P / N};
    for (int z = 0; z <= 3; z++) {
        mc.zero_stage = z;
        assert_int_equal(static_memory(&g, &mc, &sm, &e), 0);
        assert_int_equal(sm.params + sm.grads + sm.master + sm.optimizer, want[z]);
    }
    /* fp32 Adam, generalized: stage 1 shards states, 2 also grads, 3 also weights */
    mc.mixed = false;
    int64_t want32[4] = {16 * P, 8 * P + 8 * P / N, 4 * P + 12 * P / N, 16 * P / N};
    for (int z = 0; z <= 3; z++) {
        mc.zero_stage = z;
        assert_int_equal(static_memory(&g, &mc, &sm, &e), 0);
        assert_int_equal(sm.params + sm.grads + sm.master + sm.optimizer, want32[z]);
    }
    /* dp without ZeRO replicates everything */
    mc.zero_stage = 0;
    assert_int_equal(per_param(&g, &mc), 16);
    /* a shard is ceil(bytes / N): 180 params * 4 B states over N = 7 */
    mc.zero_stage = 3;
    mc.dp = 7;
    assert_int_equal(static_memory(&g, &mc, &sm, &e), 0);
    assert_int_equal(sm.params, (720 + 6) / 7);
    assert_int_equal(sm.optimizer, (1440 + 6) / 7);
    graph_free(&g);
}

static void test_lora(void **state)
{
    (void)state;
    graph g;
    build_mlp(&g);
    mem_config mc;
    mem_config_default(&mc);
    mc.lora_rank = 2;
    static_mem sm;
    remat_err e;
    /* targets: the two block matmuls (layers.N.fc, W [8,8]); each adapter
     * A [2,8] + B [8,2] = 32 trainable params; the 180 base params are frozen */
    assert_int_equal(static_memory(&g, &mc, &sm, &e), 0);
    assert_int_equal(sm.params, (180 + 64) * 4);
    assert_int_equal(sm.grads, 64 * 4);
    assert_int_equal(sm.optimizer, 64 * 8);
    /* rank 0 with a frozen tensor: weights only for it */
    mc.lora_rank = 0;
    int w = graph_find_tensor(&g, "head.weight");
    assert_true(w >= 0);
    g.tensors[w].frozen = true;
    assert_int_equal(static_memory(&g, &mc, &sm, &e), 0);
    assert_int_equal(sm.params, 720);
    assert_int_equal(sm.grads, 720 - 128);
    assert_int_equal(sm.optimizer, 2 * (720 - 128));
    graph_free(&g);
}

static void test_allocator(void **state)
{
    (void)state;
    assert_int_equal(alloc_round(ALLOC_EXACT, 13), 13);
    assert_int_equal(alloc_round(ALLOC_EXACT, 0), 0);
    assert_int_equal(alloc_round(ALLOC_PYTORCH, 0), 0);
    assert_int_equal(alloc_round(ALLOC_PYTORCH, 1), 512);
    assert_int_equal(alloc_round(ALLOC_PYTORCH, 512), 512);
    assert_int_equal(alloc_round(ALLOC_PYTORCH, 513), 1024);
    assert_int_equal(alloc_round(ALLOC_PYTORCH, 3 * MIB + 1), 3 * MIB + 512);
    assert_int_equal(alloc_round(ALLOC_PYTORCH, 10 * MIB), 10 * MIB);
    assert_int_equal(alloc_round(ALLOC_PYTORCH, 10 * MIB + 1), 12 * MIB);
    assert_int_equal(alloc_round(ALLOC_PYTORCH, 11 * MIB), 12 * MIB);

    graph g;
    build_mlp(&g);
    mem_config mc;
    mem_config_default(&mc);
    mc.allocator = ALLOC_PYTORCH;
    static_mem sm;
    remat_err e;
    /* 6 parameter tensors, each of weights/grad/m/v its own 512 B block */
    assert_int_equal(static_memory(&g, &mc, &sm, &e), 0);
    assert_int_equal(sm.params, 6 * 512);
    assert_int_equal(sm.optimizer, 12 * 512);
    assert_int_equal(sm.inputs, 2 * 512);
    graph_free(&g);
}

static void build_zoo(graph *g, const char *name, const char *set, int64_t seq)
{
    zoo_graph(g, name, set, 0, seq, 0);
}

/* GPT-2 124M (tied embeddings): 124,439,808 parameters; fp32 AdamW 16 B each, mixed
 * Adam 16 B each; LoRA rank 8 on c_attn [2304,768], attn.c_proj [768,768], c_fc
 * [3072,768], mlp.c_proj [768,3072]: 8 * (3072 + 1536 + 3840 + 3840) = 98,304
 * adapter parameters per layer, 1,179,648 over 12 layers. */
static void test_gpt2_124m(void **state)
{
    (void)state;
    graph g;
    build_zoo(&g, "gpt2-124m", "", 64);
    const int64_t P = 124439808, A = 12 * 98304;
    assert_int_equal(graph_param_count(&g, false), P);
    mem_config mc;
    mem_config_default(&mc);
    static_mem sm;
    remat_err e;
    assert_int_equal(static_memory(&g, &mc, &sm, &e), 0);
    assert_int_equal(sm.params + sm.grads + sm.optimizer + sm.master, 16 * P);
    mc.mixed = true;
    assert_int_equal(static_memory(&g, &mc, &sm, &e), 0);
    assert_int_equal(sm.params + sm.grads + sm.optimizer + sm.master, 16 * P);
    mc.mixed = false;
    mc.lora_rank = 8;
    assert_int_equal(static_memory(&g, &mc, &sm, &e), 0);
    assert_int_equal(sm.params, 4 * (P + A));
    assert_int_equal(sm.grads, 4 * A);
    assert_int_equal(sm.optimizer, 8 * A);
    assert_int_equal(sm.master, 0);
    graph_free(&g);
}

/* Llama 2 7B: 6,738,415,616 parameters; mixed-precision Adam over 8 GPUs per
 * Rajbhandari et al.: stage 1 4P + 12P/8, stage 2 2P + 14P/8, stage 3 16P/8. */
static void test_llama2_7b_zero(void **state)
{
    (void)state;
    graph g;
    build_zoo(&g, "llama2-7b", "", 64);
    const int64_t P = INT64_C(6738415616);
    assert_int_equal(graph_param_count(&g, false), P);
    mem_config mc;
    mem_config_default(&mc);
    mc.mixed = true;
    mc.optimizer = OPTIM_ADAM;
    mc.dp = 8;
    static const int64_t per[4][2] = {{16 * 8, 0}, {4 * 8, 12}, {2 * 8, 14}, {0, 16}};
    for (int z = 0; z <= 3; z++) {
        mc.zero_stage = z;
        static_mem sm;
        remat_err e;
        assert_int_equal(static_memory(&g, &mc, &sm, &e), 0);
        /* (a P + b P / 8) = (8a + b) P / 8 */
        assert_int_equal(sm.params + sm.grads + sm.optimizer + sm.master,
                         (per[z][0] + per[z][1]) * P / 8);
    }
    graph_free(&g);
}

static void test_errors(void **state)
{
    (void)state;
    graph g;
    build_mlp(&g);
    mem_config mc;
    static_mem sm;
    remat_err e;
    mem_config_default(&mc);
    mc.zero_stage = 4;
    assert_int_equal(static_memory(&g, &mc, &sm, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "ZeRO stage"));
    mem_config_default(&mc);
    mc.dp = 0;
    assert_int_equal(static_memory(&g, &mc, &sm, &e), -EINVAL);
    mem_config_default(&mc);
    mc.lora_rank = -1;
    assert_int_equal(static_memory(&g, &mc, &sm, &e), -EINVAL);
    mem_config_default(&mc);
    mc.optimizer = (optimizer_kind)9;
    assert_int_equal(static_memory(&g, &mc, &sm, &e), -EINVAL);
    assert_int_equal(optimizer_from_name("adamw"), OPTIM_ADAMW);
    assert_int_equal(allocator_from_name("pytorch"), ALLOC_PYTORCH);
    graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optimizers_fp32), cmocka_unit_test(test_mixed_and_zero),
        cmocka_unit_test(test_lora),           cmocka_unit_test(test_allocator),
        cmocka_unit_test(test_gpt2_124m),      cmocka_unit_test(test_llama2_7b_zero),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
