/* models/zoo_llama.c — Llama (Touvron et al. 2023) as Hugging Face's LlamaForCausalLM
 * lays it out: token embedding, num_hidden_layers pre-RMSNorm blocks (q/k/v
 * projections without bias, rotary embedding on q and k, causal grouped-query
 * attention, o_proj, residual; RMSNorm, SwiGLU MLP gate/up/down, residual), a final
 * RMSNorm and an lm_head (untied unless tie_word_embeddings=1). Module paths are
 * HF's (model.layers.N.self_attn.q_proj, ...). The spec's dropout is HF's
 * attention_dropout, applied inside the attention op; Llama has no other dropout. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "models/zoo_internal.h"

typedef struct llama_preset {
    const char *name;
    int64_t hidden, inter, layers, heads, kv_heads, vocab, max_pos;
    double theta;
} llama_preset;

/* meta-llama/Llama-2-7b-hf, Llama-2-13b-hf and Meta-Llama-3-8B config.json values. */
static const llama_preset llama_presets[] = {
    {"llama2-7b", 4096, 11008, 32, 32, 32, 32000, 4096, 10000.0},
    {"llama2-13b", 5120, 13824, 40, 40, 40, 32000, 4096, 10000.0},
    {"llama3-8b", 4096, 14336, 32, 32, 8, 128256, 8192, 500000.0},
};

int zoo_build_llama(zoo_ctx *z, const model_spec *spec, const char *preset)
{
    static const char *const keys[] = {"hidden_size", "intermediate_size", "num_hidden_layers",
                                       "num_attention_heads", "num_key_value_heads",
                                       "vocab_size", "max_position_embeddings", "rope_theta",
                                       "tie_word_embeddings", "rms_norm_eps", NULL};
    const llama_preset *pr = &llama_presets[0];
    for (size_t i = 0; preset && i < sizeof llama_presets / sizeof llama_presets[0]; i++)
        if (strcmp(preset, llama_presets[i].name) == 0)
            pr = &llama_presets[i];
    zoo_check_keys(z, spec, spec->name, keys);
    int64_t C = zoo_int(z, spec, "hidden_size", pr->hidden, 1, INT64_C(1) << 20);
    int64_t F = zoo_int(z, spec, "intermediate_size", pr->inter, 1, INT64_C(1) << 22);
    int64_t L = zoo_int(z, spec, "num_hidden_layers", pr->layers, 1, 10000);
    int64_t H = zoo_int(z, spec, "num_attention_heads", pr->heads, 1, 1 << 16);
    /* HF: num_key_value_heads defaults to num_attention_heads (MHA) */
    int64_t KV = zoo_int(z, spec, "num_key_value_heads",
                         pr->kv_heads == pr->heads ? H : pr->kv_heads, 1, 1 << 16);
    int64_t V = zoo_int(z, spec, "vocab_size", pr->vocab, 1, INT64_C(1) << 26);
    int64_t P = zoo_int(z, spec, "max_position_embeddings", pr->max_pos, 1, INT64_C(1) << 24);
    double theta = zoo_double(z, spec, "rope_theta", pr->theta, 1.0, 1e12);
    int64_t tie = zoo_int(z, spec, "tie_word_embeddings", 0, 0, 1);
    double eps = zoo_double(z, spec, "rms_norm_eps", 1e-5, 1e-12, 1.0);
    zoo_common(z, spec, P < 4096 ? P : 4096, 0);
    if (z->rc)
        return z->rc;
    graph *g = z->g;
    if (C % H)
        return z->rc = remat_fail(z->err, -EINVAL, "%s: num_attention_heads=%lld does not "
                                  "divide hidden_size=%lld", spec->name, (long long)H,
                                  (long long)C);
    if (H % KV)
        return z->rc = remat_fail(z->err, -EINVAL, "%s: num_key_value_heads=%lld does not "
                                  "divide num_attention_heads=%lld", spec->name, (long long)KV,
                                  (long long)H);
    if ((C / H) % 2)
        return z->rc = remat_fail(z->err, -EINVAL, "%s: head dimension %lld "
                                  "(hidden_size/num_attention_heads) must be even for RoPE",
                                  spec->name, (long long)(C / H));
    if (g->seq > P)
        return z->rc = remat_fail(z->err, -EINVAL, "%s: sequence length %lld exceeds "
                                  "max_position_embeddings=%lld", spec->name, (long long)g->seq,
                                  (long long)P);
    g->image = 0;
    int64_t B = g->batch, T = g->seq, D = C / H;
    double p = g->dropout;

    int tokens = zt(z, "tokens", ROLE_INPUT, DT_I32, 2, B, T);
    int targets = zt(z, "targets", ROLE_INPUT, DT_I32, 2, B, T);
    int wte = zt(z, "model.embed_tokens.weight", ROLE_PARAM, g->param_dtype, 2, V, C);
    int x = zt(z, "model.embed_tokens.out", ROLE_ACT, g->dtype, 3, B, T, C);
    zop(z, &(zoo_op){.kind = OP_EMBEDDING, .name = "model.embed_tokens", .in = ZL(tokens),
                     .out = x, .param = ZL(wte)});
    for (int64_t l = 0; l < L && !z->rc; l++) {
        char h[64], sa[80], n[112];
        snprintf(h, sizeof h, "model.layers.%lld", (long long)l);
        snprintf(sa, sizeof sa, "%s.self_attn", h);
#define NM(base, suffix) (snprintf(n, sizeof n, "%s%s", base, suffix), n)
        int a = zl_norm(z, OP_RMSNORM, NM(h, ".input_layernorm"), x, eps);
        int q = zl_linear(z, NM(sa, ".q_proj"), NULL, a, H * D, false, -1);
        int k = zl_linear(z, NM(sa, ".k_proj"), NULL, a, KV * D, false, -1);
        int v = zl_linear(z, NM(sa, ".v_proj"), NULL, a, KV * D, false, -1);
        int qr = zl_unary(z, OP_ROPE, NM(sa, ".rope_q"), sa, q);
        if (!z->rc) {
            graph_op *o = &g->ops[g->n_ops - 1];
            o->attr[0] = H;
            o->attr[1] = D;
            o->fattr[0] = theta;
        }
        int kr = zl_unary(z, OP_ROPE, NM(sa, ".rope_k"), sa, k);
        if (!z->rc) {
            graph_op *o = &g->ops[g->n_ops - 1];
            o->attr[0] = KV;
            o->attr[1] = D;
            o->fattr[0] = theta;
        }
        a = zl_attention(z, NM(sa, ".core"), sa, ZL(qr, kr, v), H, KV, D, p);
        a = zl_linear(z, NM(sa, ".o_proj"), NULL, a, C, false, -1);
        x = zl_binary(z, OP_ADD, NM(h, ".add_1"), h, x, a);
        int m = zl_norm(z, OP_RMSNORM, NM(h, ".post_attention_layernorm"), x, eps);
        int gate = zl_linear(z, NM(h, ".mlp.gate_proj"), NULL, m, F, false, -1);
        int up = zl_linear(z, NM(h, ".mlp.up_proj"), NULL, m, F, false, -1);
        m = zl_binary(z, OP_SWIGLU, NM(h, ".mlp.act_fn"), NULL, gate, up);
        m = zl_linear(z, NM(h, ".mlp.down_proj"), NULL, m, C, false, -1);
        x = zl_binary(z, OP_ADD, NM(h, ".add_2"), h, x, m);
#undef NM
    }
    x = zl_norm(z, OP_RMSNORM, "model.norm", x, eps);
    int logits = zl_linear(z, "lm_head", NULL, x, V, false, tie ? wte : -1);
    zl_loss(z, logits, targets);
    return zl_finish(z);
}
