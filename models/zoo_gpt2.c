/* models/zoo_gpt2.c — GPT-2 (Radford et al. 2019) as Hugging Face's GPT2LMHeadModel
 * lays it out: token + position embedding, n_layer pre-LayerNorm blocks (fused qkv
 * Linear, causal softmax attention, output Linear, residual; LayerNorm, Linear 4x,
 * tanh-GELU, Linear, residual), a final LayerNorm and the lm_head tied to wte.
 * Module paths are HF's (transformer.h.N.attn.c_attn, ...), so a plan names modules
 * a trainer can find. Dropout (resid, embd and attention pdrop alike) is the spec's;
 * dropout ops exist only when it is > 0. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "models/zoo_internal.h"

typedef struct gpt2_preset {
    const char *name;
    int64_t n_layer, n_head, n_embd;
} gpt2_preset;

/* The four released checkpoints (HF gpt2, gpt2-medium, gpt2-large, gpt2-xl). */
static const gpt2_preset gpt2_presets[] = {
    {"gpt2-124m", 12, 12, 768},
    {"gpt2-350m", 24, 16, 1024},
    {"gpt2-774m", 36, 20, 1280},
    {"gpt2-1.5b", 48, 25, 1600},
};

int zoo_build_gpt2(zoo_ctx *z, const model_spec *spec, const char *preset)
{
    static const char *const keys[] = {"n_layer", "n_head", "n_embd", "vocab_size", "n_positions",
                                       NULL};
    const gpt2_preset *pr = &gpt2_presets[0];
    for (size_t i = 0; preset && i < sizeof gpt2_presets / sizeof gpt2_presets[0]; i++)
        if (strcmp(preset, gpt2_presets[i].name) == 0)
            pr = &gpt2_presets[i];
    zoo_check_keys(z, spec, spec->name, keys);
    int64_t L = zoo_int(z, spec, "n_layer", pr->n_layer, 1, 10000);
    int64_t H = zoo_int(z, spec, "n_head", pr->n_head, 1, 1 << 16);
    int64_t C = zoo_int(z, spec, "n_embd", pr->n_embd, 1, INT64_C(1) << 20);
    int64_t V = zoo_int(z, spec, "vocab_size", 50257, 1, INT64_C(1) << 26);
    int64_t P = zoo_int(z, spec, "n_positions", 1024, 1, INT64_C(1) << 24);
    zoo_common(z, spec, P, 0);
    if (z->rc)
        return z->rc;
    graph *g = z->g;
    if (C % H)
        return z->rc = remat_fail(z->err, -EINVAL, "%s: n_head=%lld does not divide n_embd=%lld",
                                  spec->name, (long long)H, (long long)C);
    if (g->seq > P)
        return z->rc = remat_fail(z->err, -EINVAL, "%s: sequence length %lld exceeds "
                                  "n_positions=%lld", spec->name, (long long)g->seq, (long long)P);
    g->image = 0;
    int64_t B = g->batch, T = g->seq, D = C / H;
    double p = g->dropout;

    int tokens = zt(z, "tokens", ROLE_INPUT, DT_I32, 2, B, T);
    int targets = zt(z, "targets", ROLE_INPUT, DT_I32, 2, B, T);
    int wte = zt(z, "transformer.wte.weight", ROLE_PARAM, g->param_dtype, 2, V, C);
    int wpe = zt(z, "transformer.wpe.weight", ROLE_PARAM, g->param_dtype, 2, P, C);
    int x = zt(z, "transformer.wte.out", ROLE_ACT, g->dtype, 3, B, T, C);
    zop(z, &(zoo_op){.kind = OP_EMBEDDING, .name = "transformer.wte", .in = ZL(tokens), .out = x,
                     .param = ZL(wte, wpe), .attr = {1}});
    x = zl_dropout(z, "transformer.drop", x, p);
    for (int64_t l = 0; l < L && !z->rc; l++) {
        char h[64], n[96];
        snprintf(h, sizeof h, "transformer.h.%lld", (long long)l);
#define NM(suffix) (snprintf(n, sizeof n, "%s%s", h, suffix), n)
        int a = zl_norm(z, OP_LAYERNORM, NM(".ln_1"), x, 1e-5);
        a = zl_linear(z, NM(".attn.c_attn"), NULL, a, 3 * C, true, -1);
        char mod[80];
        snprintf(mod, sizeof mod, "%s.attn", h);
        a = zl_attention(z, NM(".attn.core"), mod, ZL(a), H, H, D, p);
        a = zl_linear(z, NM(".attn.c_proj"), NULL, a, C, true, -1);
        a = zl_dropout(z, NM(".attn.resid_dropout"), a, p);
        x = zl_binary(z, OP_ADD, NM(".add_1"), h, x, a);
        int m = zl_norm(z, OP_LAYERNORM, NM(".ln_2"), x, 1e-5);
        m = zl_linear(z, NM(".mlp.c_fc"), NULL, m, 4 * C, true, -1);
        m = zl_unary(z, OP_GELU, NM(".mlp.act"), NULL, m);
        m = zl_linear(z, NM(".mlp.c_proj"), NULL, m, C, true, -1);
        m = zl_dropout(z, NM(".mlp.dropout"), m, p);
        x = zl_binary(z, OP_ADD, NM(".add_2"), h, x, m);
#undef NM
    }
    x = zl_norm(z, OP_LAYERNORM, "transformer.ln_f", x, 1e-5);
    int logits = zl_linear(z, "lm_head", NULL, x, V, false, wte);
    zl_loss(z, logits, targets);
    return zl_finish(z);
}
