/* models/zoo_gpt2.c — GPT-2 (Radford et al. 2019) with Hugging Face GPT2Config keys
 * and module paths, and the presets gpt2-124m/-350m/-774m/-1.5b. The lm_head is
 * tied to transformer.wte (one parameter tensor used by two ops). Saved tensors and
 * FLOPs come from the op conventions (zoo_apply_conventions). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "models/zoo_internal.h"

typedef struct gpt2_preset {
    const char *name;
    int64_t n_layer, n_head, n_embd;
} gpt2_preset;

static const gpt2_preset presets[] = {
    {"gpt2-124m", 12, 12, 768},
    {"gpt2-350m", 24, 16, 1024},
    {"gpt2-774m", 36, 20, 1280},
    {"gpt2-1.5b", 48, 25, 1600},
};

/* Appends a dropout op when p > 0 and returns the tensor that follows it. */
static int dropout(zoo_ctx *z, const char *name, int x, double p, int64_t *seed)
{
    if (p <= 0.0)
        return x;
    const graph_tensor *t = &z->g->tensors[x];
    int y = zt(z, zname("%s.out", name), ROLE_ACT, t->dtype, t->ndim, t->shape[0], t->shape[1],
               t->shape[2], t->shape[3]);
    int m = zt(z, zname("%s.mask", name), ROLE_EXTRA, DT_U8, t->ndim, t->shape[0], t->shape[1],
               t->shape[2], t->shape[3]);
    zop(z, &(zoo_op){.kind = OP_DROPOUT, .name = name, .in = ZL(x), .out = y, .extra = ZL(m),
                     .attr = {(*seed)++}, .fattr = {p}});
    return y;
}

/* LayerNorm with weight and bias; returns its output. */
static int layernorm(zoo_ctx *z, const char *name, int x, int64_t B, int64_t T, int64_t C)
{
    graph *g = z->g;
    int w = zt(z, zname("%s.weight", name), ROLE_PARAM, g->param_dtype, 1, C);
    int b = zt(z, zname("%s.bias", name), ROLE_PARAM, g->param_dtype, 1, C);
    int y = zt(z, zname("%s.out", name), ROLE_ACT, g->dtype, 3, B, T, C);
    int mean = zt(z, zname("%s.mean", name), ROLE_EXTRA, DT_F32, 2, B, T);
    int rstd = zt(z, zname("%s.rstd", name), ROLE_EXTRA, DT_F32, 2, B, T);
    zop(z, &(zoo_op){.kind = OP_LAYERNORM, .name = name, .in = ZL(x), .out = y,
                     .extra = ZL(mean, rstd), .param = ZL(w, b)});
    return y;
}

/* Linear layer with bias (HF Conv1D), out = x @ W^T + b, W [N,K]. */
static int linear(zoo_ctx *z, const char *name, int x, int64_t B, int64_t T, int64_t K,
                  int64_t N)
{
    graph *g = z->g;
    int w = zt(z, zname("%s.weight", name), ROLE_PARAM, g->param_dtype, 2, N, K);
    int b = zt(z, zname("%s.bias", name), ROLE_PARAM, g->param_dtype, 1, N);
    int y = zt(z, zname("%s.out", name), ROLE_ACT, g->dtype, 3, B, T, N);
    zop(z, &(zoo_op){.kind = OP_MATMUL, .name = name, .in = ZL(x), .out = y, .param = ZL(w, b),
                     .attr = {1}});
    return y;
}

static int add(zoo_ctx *z, const char *name, const char *module, int a, int b)
{
    const graph_tensor *t = &z->g->tensors[a];
    int y = zt(z, zname("%s.out", name), ROLE_ACT, t->dtype, 3, t->shape[0], t->shape[1],
               t->shape[2]);
    zop(z, &(zoo_op){.kind = OP_ADD, .name = name, .module = module, .in = ZL(a, b), .out = y});
    return y;
}

int zoo_build_gpt2(zoo_ctx *z, const model_spec *spec, const char *preset)
{
    static const char *const keys[] = {"n_layer", "n_head", "n_embd", "vocab_size", "n_positions",
                                       NULL};
    const gpt2_preset *pre = &presets[0];
    for (size_t i = 0; preset && i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, preset) == 0)
            pre = &presets[i];
    zoo_check_keys(z, spec, "gpt2", keys);
    int64_t L = zoo_int(z, spec, "n_layer", pre->n_layer, 1, 100000);
    int64_t H = zoo_int(z, spec, "n_head", pre->n_head, 1, 1 << 20);
    int64_t C = zoo_int(z, spec, "n_embd", pre->n_embd, 1, INT64_C(1) << 24);
    int64_t V = zoo_int(z, spec, "vocab_size", 50257, 2, INT64_C(1) << 28);
    int64_t maxT = zoo_int(z, spec, "n_positions", 1024, 1, INT64_C(1) << 24);
    zoo_common(z, spec, maxT, 0);
    if (z->rc)
        return z->rc;
    graph *g = z->g;
    if (C % H != 0)
        return z->rc = remat_fail(z->err, -EINVAL, "gpt2: n_head=%lld does not divide n_embd=%lld",
                                  (long long)H, (long long)C);
    if (g->seq > maxT)
        return z->rc = remat_fail(z->err, -EINVAL,
                                  "gpt2: sequence %lld is longer than n_positions=%lld",
                                  (long long)g->seq, (long long)maxT);
    int64_t B = g->batch, T = g->seq, D = C / H;
    double p = g->dropout;
    int64_t seed = 1;
    remat_dtype dt = g->dtype, pt = g->param_dtype;

    int tokens = zt(z, "tokens", ROLE_INPUT, DT_I32, 2, B, T);
    int targets = zt(z, "targets", ROLE_INPUT, DT_I32, 2, B, T);
    int wte = zt(z, "transformer.wte.weight", ROLE_PARAM, pt, 2, V, C);
    int wpe = zt(z, "transformer.wpe.weight", ROLE_PARAM, pt, 2, maxT, C);
    int x = zt(z, "transformer.wte.out", ROLE_ACT, dt, 3, B, T, C);
    zop(z, &(zoo_op){.kind = OP_EMBEDDING, .name = "transformer.wte", .in = ZL(tokens), .out = x,
                     .param = ZL(wte, wpe), .attr = {1}});
    x = dropout(z, "transformer.drop", x, p, &seed);

    for (int64_t l = 0; l < L && !z->rc; l++) {
        char blk[64];
        snprintf(blk, sizeof blk, "transformer.h.%lld", (long long)l);
        int h = layernorm(z, zname("%s.ln_1", blk), x, B, T, C);
        int qkv = linear(z, zname("%s.attn.c_attn", blk), h, B, T, C, 3 * C);
        const char *an = zname("%s.attn.core", blk);
        const char *am = zname("%s.attn", blk);
        int a = zt(z, zname("%s.out", an), ROLE_ACT, dt, 3, B, T, C);
        int probs = zt(z, zname("%s.probs", an), ROLE_EXTRA, dt, 4, B, H, T, T);
        if (p > 0.0) {
            int mask = zt(z, zname("%s.mask", an), ROLE_EXTRA, DT_U8, 4, B, H, T, T);
            int dropped = zt(z, zname("%s.dropped", an), ROLE_EXTRA, dt, 4, B, H, T, T);
            zop(z, &(zoo_op){.kind = OP_ATTENTION, .name = an, .module = am, .in = ZL(qkv),
                             .out = a, .extra = ZL(probs, mask, dropped),
                             .attr = {H, H, D, 1, 1, seed++}, .fattr = {p}});
        } else {
            zop(z, &(zoo_op){.kind = OP_ATTENTION, .name = an, .module = am, .in = ZL(qkv),
                             .out = a, .extra = ZL(probs), .attr = {H, H, D, 1, 1, 0}});
        }
        int o = linear(z, zname("%s.attn.c_proj", blk), a, B, T, C, C);
        o = dropout(z, zname("%s.attn.resid_dropout", blk), o, p, &seed);
        x = add(z, zname("%s.add_1", blk), blk, x, o);
        h = layernorm(z, zname("%s.ln_2", blk), x, B, T, C);
        int f = linear(z, zname("%s.mlp.c_fc", blk), h, B, T, C, 4 * C);
        const char *gn = zname("%s.mlp.act", blk);
        int ga = zt(z, zname("%s.out", gn), ROLE_ACT, dt, 3, B, T, 4 * C);
        zop(z, &(zoo_op){.kind = OP_GELU, .name = gn, .in = ZL(f), .out = ga});
        int m = linear(z, zname("%s.mlp.c_proj", blk), ga, B, T, 4 * C, C);
        m = dropout(z, zname("%s.mlp.dropout", blk), m, p, &seed);
        x = add(z, zname("%s.add_2", blk), blk, x, m);
    }
    int hf = layernorm(z, "transformer.ln_f", x, B, T, C);
    int logits = zt(z, "lm_head.out", ROLE_ACT, dt, 3, B, T, V);
    zop(z, &(zoo_op){.kind = OP_MATMUL, .name = "lm_head", .in = ZL(hf), .out = logits,
                     .param = ZL(wte)});
    int loss = zt(z, "loss.out", ROLE_ACT, DT_F32, 1, (int64_t)1);
    int lse = zt(z, "loss.lse", ROLE_EXTRA, DT_F32, 2, B, T);
    zop(z, &(zoo_op){.kind = OP_LOSS, .name = "loss", .in = ZL(logits, targets), .out = loss,
                     .extra = ZL(lse)});
    if (!z->rc)
        zoo_apply_conventions(g);
    return z->rc;
}
