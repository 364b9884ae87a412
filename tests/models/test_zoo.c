/* tests/models/test_zoo.c — the model zoo: published parameter counts, Megatron's
 * activation formula for a GPT-2 block, the FLOP rules and the 6·params·tokens
 * estimate, HF module paths, and refusals of bad specs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "models/graph.h"
#include "models/zoo_internal.h"

/* Builds name with "k=v,..." overrides; asserts success. */
static void build(graph *g, const char *name, const char *set, int64_t batch, int64_t seq,
                  int dtype, double dropout)
{
    model_spec s = {.name = name, .batch = batch, .seq = seq, .dtype = dtype, .dropout = dropout};
    char *store = NULL;
    remat_err e = {{0}};
    if (set)
        assert_int_equal(model_spec_parse_set(&s, set, &store, &e), 0);
    int rc = zoo_build(&s, g, &e);
    if (rc)
        fprintf(stderr, "%s: %s\n", name, e.msg);
    assert_int_equal(rc, 0);
    free(store);
}

/* Expects zoo_build to fail with -EINVAL and word in the message. */
static void refuse(const char *name, const char *set, int64_t batch, int64_t seq,
                   const char *word)
{
    model_spec s = {.name = name, .batch = batch, .seq = seq, .dtype = -1, .dropout = -1};
    char *store = NULL;
    remat_err e = {{0}};
    if (set)
        assert_int_equal(model_spec_parse_set(&s, set, &store, &e), 0);
    graph g;
    int rc = zoo_build(&s, &g, &e);
    if (rc != -EINVAL || !strstr(e.msg, word))
        fprintf(stderr, "%s %s: rc %d '%s' (want '%s')\n", name, set ? set : "", rc, e.msg, word);
    assert_int_equal(rc, -EINVAL);
    assert_non_null(strstr(e.msg, word));
    free(store);
}

/* GPT-2 parameters from the formula: wte + wpe + L*(12C^2 + 13C) + 2C (ln_f). */
static int64_t gpt2_params(int64_t L, int64_t C, int64_t V, int64_t P)
{
    return V * C + P * C + L * (12 * C * C + 13 * C) + 2 * C;
}

/* Llama: embed + L*(q,o: C*C; k,v: C*KV*D; mlp 3CF; 2 norms C) + norm C + lm_head. */
static int64_t llama_params(int64_t L, int64_t C, int64_t F, int64_t H, int64_t KV, int64_t V)
{
    int64_t D = C / H;
    return V * C + L * (2 * C * C + 2 * C * KV * D + 3 * C * F + 2 * C) + C + V * C;
}

static void test_transformer_param_counts(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int64_t published, formula;
    } rows[] = {
        {"gpt2-124m", 124439808, 0}, {"gpt2-350m", 354823168, 0},
        {"gpt2-774m", 774030080, 0}, {"gpt2-1.5b", 1557611200, 0},
        {"llama2-7b", 6738415616, 0}, {"llama2-13b", 13015864320, 0},
        {"llama3-8b", 8030261248, 0},
    };
    const int64_t formula[] = {
        gpt2_params(12, 768, 50257, 1024),  gpt2_params(24, 1024, 50257, 1024),
        gpt2_params(36, 1280, 50257, 1024), gpt2_params(48, 1600, 50257, 1024),
        llama_params(32, 4096, 11008, 32, 32, 32000),
        llama_params(40, 5120, 13824, 40, 40, 32000),
        llama_params(32, 4096, 14336, 32, 8, 128256),
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        graph g;
        /* seq 64 keeps the test fast; parameters do not depend on it */
        build(&g, rows[i].name, NULL, 1, 64, -1, -1);
        assert_int_equal(formula[i], rows[i].published);
        assert_int_equal(graph_param_count(&g, false), rows[i].published);
        graph_free(&g);
    }
    graph g;
    build(&g, "gpt2", NULL, 1, 0, -1, -1); /* the base model is gpt2-124m, seq 1024 */
    assert_int_equal(graph_param_count(&g, false), 124439808);
    assert_int_equal(g.seq, 1024);
    graph_free(&g);
}

static void test_gpt2_layout(void **state)
{
    (void)state;
    graph g;
    build(&g, "gpt2", "n_layer=2,n_head=4,n_embd=32,vocab_size=50,n_positions=16", 2, 16, -1,
          0.1);
    /* tied embedding: lm_head multiplies by the wte tensor itself */
    int wte = graph_find_tensor(&g, "transformer.wte.weight");
    int lm = graph_find_op(&g, "lm_head");
    assert_true(wte >= 0 && lm >= 0);
    assert_int_equal(g.ops[lm].param[0], wte);
    assert_int_equal(g.ops[lm].n_param, 1);
    static const char *const paths[] = {
        "transformer.wte", "transformer.drop", "transformer.h.0.ln_1",
        "transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj",
        "transformer.h.0.attn.resid_dropout", "transformer.h.0.ln_2", "transformer.h.0.mlp.c_fc",
        "transformer.h.0.mlp.act", "transformer.h.0.mlp.c_proj", "transformer.h.0.mlp.dropout",
        "transformer.h.1.ln_1", "transformer.ln_f", "lm_head", "loss"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int o = graph_find_op(&g, paths[i]);
        if (o < 0)
            fprintf(stderr, "missing op %s\n", paths[i]);
        assert_true(o >= 0);
        assert_string_equal(g.ops[o].module, paths[i]);
    }
    int at = graph_find_op(&g, "transformer.h.0.attn.core");
    assert_string_equal(g.ops[at].module, "transformer.h.0.attn");
    assert_int_equal(g.ops[at].kind, OP_ATTENTION);
    assert_int_equal(g.ops[at].attr[0], 4);
    assert_int_equal(g.ops[at].attr[4], 1); /* fused qkv */
    assert_true(g.ops[at].fattr[0] == 0.1);
    assert_int_equal(g.ops[at].n_extra, 3);
    int add = graph_find_op(&g, "transformer.h.1.add_2");
    assert_string_equal(g.ops[add].module, "transformer.h.1");
    /* seeds are distinct */
    for (int i = 0; i < g.n_ops; i++)
        for (int j = i + 1; j < g.n_ops; j++)
            if ((g.ops[i].kind == OP_DROPOUT || g.ops[i].kind == OP_ATTENTION) &&
                g.ops[i].kind == g.ops[j].kind)
                assert_int_not_equal(g.ops[i].attr[g.ops[i].kind == OP_DROPOUT ? 0 : 5],
                                     g.ops[j].attr[g.ops[j].kind == OP_DROPOUT ? 0 : 5]);
    /* attention backward workspace 2*T*T*4 */
    assert_int_equal(g.ops[at].ws_bwd, 2 * 16 * 16 * 4);
    assert_int_equal(g.ops[at].ws_fwd, 0);
    graph_free(&g);

    /* without dropout there are no dropout ops and attention has only probs */
    build(&g, "gpt2", "n_layer=1,n_head=2,n_embd=16,vocab_size=20,n_positions=8", 1, 8, -1, 0);
    for (int i = 0; i < g.n_ops; i++)
        assert_int_not_equal(g.ops[i].kind, OP_DROPOUT);
    assert_int_equal(g.ops[graph_find_op(&g, "transformer.h.0.attn.core")].n_extra, 1);
    graph_free(&g);
}

/* Activation bytes the backward of block 0 saves, each tensor once. */
static int64_t block_saved(const graph *g, const char *prefix)
{
    unsigned char *seen = calloc((size_t)g->n_tensors, 1);
    assert_non_null(seen);
    size_t pl = strlen(prefix);
    int64_t n = 0;
    for (int i = 0; i < g->n_ops; i++) {
        const graph_op *o = &g->ops[i];
        if (strncmp(o->module, prefix, pl) || (o->module[pl] && o->module[pl] != '.'))
            continue;
        for (int k = 0; k < o->n_saved; k++) {
            const graph_tensor *t = &g->tensors[o->saved[k]];
            if ((t->role == ROLE_ACT || t->role == ROLE_EXTRA) && !seen[o->saved[k]]) {
                seen[o->saved[k]] = 1;
                n += t->bytes;
            }
        }
    }
    free(seen);
    return n;
}

static void test_gpt2_block_saved_bytes(void **state)
{
    (void)state;
    /* Korthikanti et al. 2022: s*b*h*(34 + 5*a*s/h) bytes with 16-bit activations and
     * dropout, plus the LayerNorm mean/rstd (2 norms x 2 fp32 x b*s) it leaves out. */
    static const struct {
        const char *set;
        int64_t b, s, h, a;
    } cases[] = {
        {"n_layer=2,n_head=4,n_embd=64,vocab_size=100,n_positions=32", 2, 32, 64, 4},
        {"n_layer=1", 1, 1024, 768, 12},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t b = cases[i].b, s = cases[i].s, h = cases[i].h, a = cases[i].a;
        graph g;
        build(&g, "gpt2", cases[i].set, b, s, DT_BF16, 0.1);
        int64_t stats = 2 * 2 * 4 * b * s;
        assert_int_equal(block_saved(&g, "transformer.h.0"), s * b * h * 34 + 5 * a * s * s * b + stats);
        graph_free(&g);
        /* without dropout: no masks (2 sbh bytes) and only the probabilities (2 a s^2 b) */
        build(&g, "gpt2", cases[i].set, b, s, DT_BF16, 0);
        assert_int_equal(block_saved(&g, "transformer.h.0"), s * b * h * 32 + 2 * a * s * s * b + stats);
        graph_free(&g);
    }
}

static int64_t total_flops(const graph *g)
{
    int64_t f = 0;
    for (int i = 0; i < g->n_ops; i++)
        f += g->ops[i].flops_fwd + g->ops[i].flops_bwd;
    return f;
}

static void test_flops(void **state)
{
    (void)state;
    graph g;
    build(&g, "gpt2-124m", NULL, 1, 1024, DT_BF16, -1);
    int64_t B = 1, T = 1024, C = 768, V = 50257, L = 12, H = 12, D = 64;
    /* matmul (m,k)x(k,n): 2mkn forward, 4mkn backward */
    const graph_op *lm = &g.ops[graph_find_op(&g, "lm_head")];
    assert_int_equal(lm->flops_fwd, 2 * B * T * C * V);
    assert_int_equal(lm->flops_bwd, 4 * B * T * C * V);
    const graph_op *qkv = &g.ops[graph_find_op(&g, "transformer.h.0.attn.c_attn")];
    assert_int_equal(qkv->flops_fwd, 2 * B * T * C * 3 * C + B * T * 3 * C);
    const graph_op *at = &g.ops[graph_find_op(&g, "transformer.h.0.attn.core")];
    assert_int_equal(at->flops_fwd, 4 * B * H * T * T * D);
    assert_int_equal(at->flops_bwd, 8 * B * H * T * T * D);
    /* a step is within 1% of 6*params*tokens + attention (4+8)*B*H*T^2*D per layer */
    double want = 6.0 * 124439808.0 * (double)(B * T) + 12.0 * (double)(L * B * H * T * T * D);
    double got = (double)total_flops(&g);
    assert_true(got > 0.99 * want && got < 1.01 * want);
    graph_free(&g);

    build(&g, "llama2-7b", NULL, 1, 512, DT_BF16, -1);
    want = 6.0 * 6738415616.0 * 512 + 12.0 * 32 * 32 * 512.0 * 512 * 128;
    got = (double)total_flops(&g);
    /* the input embedding is a lookup (no 6PT share): 2 * 131M of 6.7B params */
    assert_true(got > 0.97 * want && got < 1.01 * want);
    graph_free(&g);
}

static void test_llama_layout(void **state)
{
    (void)state;
    graph g;
    build(&g, "llama",
          "hidden_size=64,intermediate_size=96,num_hidden_layers=2,num_attention_heads=8,"
          "num_key_value_heads=2,vocab_size=100,max_position_embeddings=32,rope_theta=500000",
          2, 0, -1, -1);
    assert_int_equal(g.seq, 32);
    assert_int_equal(graph_param_count(&g, false), llama_params(2, 64, 96, 8, 2, 100));
    const graph_op *q = &g.ops[graph_find_op(&g, "model.layers.0.self_attn.q_proj")];
    assert_int_equal(q->n_param, 1); /* no bias */
    assert_int_equal(g.tensors[q->out].shape[2], 64);
    const graph_op *k = &g.ops[graph_find_op(&g, "model.layers.0.self_attn.k_proj")];
    assert_int_equal(g.tensors[k->out].shape[2], 2 * 8);
    const graph_op *rk = &g.ops[graph_find_op(&g, "model.layers.0.self_attn.rope_k")];
    assert_string_equal(rk->module, "model.layers.0.self_attn");
    assert_int_equal(rk->attr[0], 2);
    assert_true(rk->fattr[0] == 500000.0);
    const graph_op *at = &g.ops[graph_find_op(&g, "model.layers.1.self_attn.core")];
    assert_int_equal(at->n_in, 3);
    assert_int_equal(at->attr[0], 8);
    assert_int_equal(at->attr[1], 2);
    assert_int_equal(at->attr[2], 8);
    const graph_op *act = &g.ops[graph_find_op(&g, "model.layers.1.mlp.act_fn")];
    assert_int_equal(act->kind, OP_SWIGLU);
    static const char *const paths[] = {"model.embed_tokens", "model.layers.0.input_layernorm",
                                        "model.layers.0.self_attn.v_proj",
                                        "model.layers.0.self_attn.o_proj",
                                        "model.layers.0.post_attention_layernorm",
                                        "model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj",
                                        "model.layers.0.mlp.down_proj", "model.norm", "lm_head"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        assert_true(graph_find_op(&g, paths[i]) >= 0);
    assert_int_not_equal(g.ops[graph_find_op(&g, "lm_head")].param[0],
                         graph_find_tensor(&g, "model.embed_tokens.weight"));
    graph_free(&g);

    build(&g, "llama",
          "hidden_size=32,intermediate_size=64,num_hidden_layers=1,num_attention_heads=4,"
          "num_key_value_heads=4,vocab_size=10,max_position_embeddings=8,tie_word_embeddings=1",
          1, 0, -1, -1);
    assert_int_equal(g.ops[graph_find_op(&g, "lm_head")].param[0],
                     graph_find_tensor(&g, "model.embed_tokens.weight"));
    assert_int_equal(g.ops[graph_find_op(&g, "model.layers.0.self_attn.core")].attr[1], 4);
    graph_free(&g);
}

/* Builds a CNN with image size and overrides. */
static void build_image(graph *g, const char *name, const char *set, int64_t batch, int64_t image)
{
    model_spec s = {.name = name, .batch = batch, .image = image, .dtype = -1, .dropout = -1};
    char *store = NULL;
    remat_err e = {{0}};
    if (set)
        assert_int_equal(model_spec_parse_set(&s, set, &store, &e), 0);
    int rc = zoo_build(&s, g, &e);
    if (rc)
        fprintf(stderr, "%s: %s\n", name, e.msg);
    assert_int_equal(rc, 0);
    free(store);
}

static void test_cnn_param_counts(void **state)
{
    (void)state;
    /* VGG-16: 13 3x3 convs with bias, then 25088-4096-4096-1000 with bias */
    static const int cfg[] = {64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512};
    int64_t vgg = 0, cin = 3;
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        vgg += cin * cfg[i] * 9 + cfg[i];
        cin = cfg[i];
    }
    vgg += 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000;
    assert_int_equal(vgg, 138357544);
    graph g;
    build_image(&g, "vgg16", NULL, 1, 0);
    assert_int_equal(g.image, 224);
    assert_int_equal(graph_param_count(&g, false), 138357544);
    int fc0 = graph_find_op(&g, "classifier.0");
    assert_int_equal(g.ops[fc0].attr[1], 1); /* flatten */
    assert_int_equal(g.tensors[g.ops[fc0].in[0]].shape[2], 7);
    assert_int_equal(g.ops[graph_find_op(&g, "features.30")].kind, OP_MAXPOOL);
    assert_int_equal(graph_find_op(&g, "classifier.2"), -1); /* no dropout at p = 0 */
    graph_free(&g);

    /* ResNet-50: stem, bottlenecks [3,4,6,3] (conv1x1, 3x3, 1x1 + BN each, downsample
     * conv1x1 + BN in the first block of a stage), fc 2048 -> 1000 */
    int64_t rn = 3 * 64 * 49 + 2 * 64, in = 64;
    static const int blocks[4] = {3, 4, 6, 3};
    for (int l = 0; l < 4; l++) {
        int64_t w = 64 << l;
        for (int b = 0; b < blocks[l]; b++) {
            rn += in * w + 2 * w + 9 * w * w + 2 * w + w * 4 * w + 8 * w;
            if (b == 0)
                rn += in * 4 * w + 8 * w;
            in = 4 * w;
        }
    }
    rn += 2048 * 1000 + 1000;
    assert_int_equal(rn, 25557032);
    build_image(&g, "resnet50", NULL, 2, 0);
    assert_int_equal(graph_param_count(&g, false), 25557032);
    static const char *const paths[] = {"conv1", "bn1", "relu", "maxpool", "layer1.0.conv1",
                                        "layer1.0.bn1", "layer1.0.downsample.0",
                                        "layer1.0.downsample.1", "layer4.2.conv3", "avgpool", "fc"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        assert_true(graph_find_op(&g, paths[i]) >= 0);
    assert_int_equal(graph_find_op(&g, "layer1.1.downsample.0"), -1);
    int c1 = graph_find_op(&g, "layer2.0.conv2");
    assert_int_equal(g.ops[c1].attr[1], 2); /* stride in the 3x3 conv (v1.5) */
    assert_int_equal(g.ops[c1].n_param, 1); /* no bias */
    assert_string_equal(g.ops[graph_find_op(&g, "layer3.1.relu2")].module, "layer3.1.relu");
    assert_string_equal(g.ops[graph_find_op(&g, "layer3.1.add")].module, "layer3.1");
    /* spatial sizes are torchvision's: 56 after the stem, 7 in layer4 */
    assert_int_equal(g.tensors[g.ops[graph_find_op(&g, "maxpool")].out].shape[2], 56);
    assert_int_equal(g.tensors[g.ops[graph_find_op(&g, "layer4.2.conv3")].out].shape[2], 7);
    /* conv2d FLOPs 2*B*Cout*Ho*Wo*Cin*k^2, backward twice; im2col workspace */
    const graph_op *cv = &g.ops[graph_find_op(&g, "conv1")];
    assert_int_equal(cv->flops_fwd, 2LL * 2 * 64 * 112 * 112 * 3 * 49);
    assert_int_equal(cv->flops_bwd, 2 * cv->flops_fwd);
    assert_int_equal(cv->ws_fwd, 3LL * 49 * 112 * 112 * 4);
    assert_int_equal(cv->ws_bwd, 2 * cv->ws_fwd);
    graph_free(&g);
}

static void test_unet(void **state)
{
    (void)state;
    graph g;
    build_image(&g, "unet", "depth=2,base=4,in_channels=1,classes=3", 2, 16);
    static const char *const paths[] = {"inc.conv.0", "inc.conv.5", "down1.pool", "down1.conv.0",
                                        "down2.conv.5", "up1.up", "up1.up_conv", "up1.concat",
                                        "up1.conv.0", "up2.conv.5", "outc", "loss"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        if (graph_find_op(&g, paths[i]) < 0)
            fprintf(stderr, "missing %s\n", paths[i]);
        assert_true(graph_find_op(&g, paths[i]) >= 0);
    }
    /* the first up block concatenates down1's output (8 channels at 8x8) with the
     * up-convolved bottom (8 channels) */
    const graph_op *cat = &g.ops[graph_find_op(&g, "up1.concat")];
    assert_int_equal(cat->kind, OP_CONCAT);
    assert_int_equal(cat->in[0], g.ops[graph_find_op(&g, "down1.conv.5")].out);
    const graph_tensor *ct = &g.tensors[cat->out];
    assert_int_equal(ct->shape[1], 16);
    assert_int_equal(ct->shape[2], 8);
    const graph_tensor *out = &g.tensors[g.ops[graph_find_op(&g, "outc")].out];
    assert_int_equal(out->shape[1], 3);
    assert_int_equal(out->shape[2], 16);
    /* params: inc 1->4, down 4->8->16, up (conv 16->8 + dc 16->8), (8->4 + 8->4), outc */
    int64_t dc[][2] = {{1, 4}, {4, 8}, {8, 16}, {16, 8}, {8, 4}};
    int64_t want = 0;
    for (int i = 0; i < 5; i++)
        want += dc[i][0] * dc[i][1] * 9 + 2 * dc[i][1] + dc[i][1] * dc[i][1] * 9 + 2 * dc[i][1];
    want += 16 * 8 * 9 + 8 + 8 * 4 * 9 + 4 + 4 * 3 + 3;
    assert_int_equal(graph_param_count(&g, false), want);
    graph_free(&g);
    build_image(&g, "unet", NULL, 1, 0);
    assert_int_equal(g.image, 224);
    assert_int_equal(g.tensors[g.ops[graph_find_op(&g, "down4.conv.5")].out].shape[1], 1024);
    graph_free(&g);
}

/* Every zoo model obeys the op conventions (arity, shapes, dtypes, attributes). */
static void test_every_zoo_entry_follows_conventions(void **state)
{
    (void)state;
    int n;
    const zoo_entry *zl = zoo_list(&n);
    for (int i = 0; i < n; i++) {
        graph g;
        model_spec s = {.name = zl[i].name, .seq = 32, .image = 64, .dtype = -1, .dropout = -1};
        remat_err e = {{0}};
        assert_int_equal(zoo_build(&s, &g, &e), 0);
        for (int k = 0; k < g.n_ops; k++) {
            int rc = graph_check_op(&g, k, &e);
            if (rc)
                fprintf(stderr, "%s: %s\n", zl[i].name, e.msg);
            assert_int_equal(rc, 0);
        }
        graph_free(&g);
    }
}

static void test_bad_specs(void **state)
{
    (void)state;
    refuse("gpt3", NULL, 0, 0, "gpt3");
    refuse("gpt2", "n_layers=3", 0, 0, "n_layers");
    refuse("llama2-7b", "n_head=4", 0, 0, "n_head");
    refuse("gpt2", "n_layer=0", 0, 0, "n_layer");
    refuse("gpt2", "n_embd=-8", 0, 0, "n_embd");
    refuse("gpt2", "n_head=7", 0, 64, "n_head");
    refuse("gpt2", "n_positions=128", 0, 256, "n_positions");
    refuse("gpt2", "n_layer=two", 0, 0, "n_layer");
    refuse("gpt2", NULL, -2, 0, "positive");
    refuse("llama", "num_attention_heads=5", 0, 64, "num_attention_heads");
    refuse("llama", "num_key_value_heads=3", 0, 64, "num_key_value_heads");
    refuse("llama", "hidden_size=96,num_attention_heads=32", 0, 64, "even");
    refuse("llama2-7b", NULL, 0, 8192, "max_position_embeddings");
    refuse("llama", "rope_theta=nan", 0, 64, "rope_theta");
    refuse("vgg16", "classes=1", 0, 0, "classes");
    refuse("resnet50", "depth=3", 0, 0, "depth");
    refuse("unet", "depth=0", 0, 0, "depth");
    refuse("unet", "base=-1", 0, 0, "base");
    model_spec s = {.name = "resnet50", .image = 100, .dtype = -1, .dropout = -1};
    graph g;
    remat_err e = {{0}};
    assert_int_equal(zoo_build(&s, &g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "image size 100"));
    model_spec u = {.name = "unet", .image = 40, .dtype = -1, .dropout = -1};
    assert_int_equal(zoo_build(&u, &g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "multiple of 16"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transformer_param_counts),
        cmocka_unit_test(test_gpt2_layout),
        cmocka_unit_test(test_gpt2_block_saved_bytes),
        cmocka_unit_test(test_flops),
        cmocka_unit_test(test_llama_layout),
        cmocka_unit_test(test_cnn_param_counts),
        cmocka_unit_test(test_unet),
        cmocka_unit_test(test_every_zoo_entry_follows_conventions),
        cmocka_unit_test(test_bad_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
