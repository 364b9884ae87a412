/* models/zoo_llama.c — Llama (Touvron et al. 2023) with Hugging Face LlamaConfig
 * keys and module paths: RMSNorm, RoPE, SwiGLU, grouped-query attention; presets
 * llama2-7b, llama2-13b, llama3-8b. Saved tensors and FLOPs come from the op
 * conventions (zoo_apply_conventions). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "models/zoo_internal.h"

typedef struct llama_preset {
    const char *name;
    int64_t hidden, inter, layers, heads, kv_heads, vocab, max_pos;
    double theta;
} llama_preset;

static const llama_preset presets[] = {
    {"llama2-7b", 4096, 11008, 32, 32, 32, 32000, 4096, 10000.0},
    {"llama2-13b", 5120, 13824, 40, 40, 40, 32000, 4096, 10000.0},
    {"llama3-8b", 4096, 14336, 32, 32, 8, 128256, 8192, 500000.0},
};

static int rmsnorm(zoo_ctx *z, const char *name, int x, int64_t B, int64_t T, int64_t C)
{
    graph *g = z->g;
    int w = zt(z, zname("%s.weight", name), ROLE_PARAM, g->param_dtype, 1, C);
    int y = zt(z, zname("%s.out", name), ROLE_ACT, g->dtype, 3, B, T, C);
    int rstd = zt(z, zname("%s.rstd", name), ROLE_EXTRA, DT_F32, 2, B, T);
    zop(z, &(zoo_op){.kind = OP_RMSNORM, .name = name, .in = ZL(x), .out = y, .extra = ZL(rstd),
                     .param = ZL(w)});
    return y;
}

/* Linear without bias, W [N,K]. */
static int proj(zoo_ctx *z, const char *name, int x, int64_t B, int64_t T, int64_t K, int64_t N)
{
    graph *g = z->g;
    int w = zt(z, zname("%s.weight", name), ROLE_PARAM, g->param_dtype, 2, N, K);
    int y = zt(z, zname("%s.out", name), ROLE_ACT, g->dtype, 3, B, T, N);
    zop(z, &(zoo_op){.kind = OP_MATMUL, .name = name, .in = ZL(x), .out = y, .param = ZL(w)});
    return y;
}

static int rope(zoo_ctx *z, const char *name, const char *module, int x, int64_t heads,
                int64_t D, double theta)
{
    const graph_tensor *t = &z->g->tensors[x];
    int y = zt(z, zname("%s.out", name), ROLE_ACT, t->dtype, 3, t->shape[0], t->shape[1],
               t->shape[2]);
    zop(z, &(zoo_op){.kind = OP_ROPE, .name = name, .module = module, .in = ZL(x), .out = y,
                     .attr = {heads, D}, .fattr = {theta}});
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

int zoo_build_llama(zoo_ctx *z, const model_spec *spec, const char *preset)
{
    static const char *const keys[] = {"hidden_size", "intermediate_size", "num_hidden_layers",
                                       "num_attention_heads", "num_key_value_heads",
                                       "vocab_size", "max_position_embeddings", "rope_theta",
                                       "tie_word_embeddings", NULL};
    const llama_preset *pre = &presets[0];
    for (size_t i = 0; preset && i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, preset) == 0)
            pre = &presets[i];
    zoo_check_keys(z, spec, "llama", keys);
    int64_t C = zoo_int(z, spec, "hidden_size", pre->hidden, 1, INT64_C(1) << 24);
    int64_t F = zoo_int(z, spec, "intermediate_size", pre->inter, 1, INT64_C(1) << 26);
    int64_t L = zoo_int(z, spec, "num_hidden_layers", pre->layers, 1, 100000);
    int64_t H = zoo_int(z, spec, "num_attention_heads", pre->heads, 1, 1 << 20);
    /* as in HF LlamaConfig: without num_key_value_heads, KV heads = attention heads
     * (a preset's own value applies only while its head count is unchanged) */
    int64_t KV = zoo_int(z, spec, "num_key_value_heads", H == pre->heads ? pre->kv_heads : H, 1,
                         1 << 20);
    int64_t V = zoo_int(z, spec, "vocab_size", pre->vocab, 2, INT64_C(1) << 28);
    int64_t maxT = zoo_int(z, spec, "max_position_embeddings", pre->max_pos, 1, INT64_C(1) << 26);
    double theta = zoo_double(z, spec, "rope_theta", pre->theta, 1.0, 1e12);
    int64_t tied = zoo_int(z, spec, "tie_word_embeddings", 0, 0, 1);
    zoo_common(z, spec, maxT, 0);
    if (z->rc)
        return z->rc;
    graph *g = z->g;
    if (C % H != 0)
        return z->rc = remat_fail(z->err, -EINVAL,
                                  "llama: num_attention_heads=%lld does not divide hidden_size=%lld",
                                  (long long)H, (long long)C);
    if (H % KV != 0)
        return z->rc = remat_fail(z->err, -EINVAL,
                                  "llama: num_key_value_heads=%lld does not divide "
                                  "num_attention_heads=%lld",
                                  (long long)KV, (long long)H);
    if ((C / H) % 2 != 0)
        return z->rc = remat_fail(z->err, -EINVAL, "llama: head_dim %lld must be even for RoPE",
                                  (long long)(C / H));
    if (g->seq > maxT)
        return z->rc = remat_fail(z->err, -EINVAL,
                                  "llama: sequence %lld is longer than max_position_embeddings=%lld",
                                  (long long)g->seq, (long long)maxT);
    if (g->dropout > 0.0)
        return z->rc = remat_fail(z->err, -EINVAL, "llama: the model has no dropout layers");
    int64_t B = g->batch, T = g->seq, D = C / H;
    remat_dtype dt = g->dtype, pt = g->param_dtype;

    int tokens = zt(z, "tokens", ROLE_INPUT, DT_I32, 2, B, T);
    int targets = zt(z, "targets", ROLE_INPUT, DT_I32, 2, B, T);
    int emb = zt(z, "model.embed_tokens.weight", ROLE_PARAM, pt, 2, V, C);
    int x = zt(z, "model.embed_tokens.out", ROLE_ACT, dt, 3, B, T, C);
    zop(z, &(zoo_op){.kind = OP_EMBEDDING, .name = "model.embed_tokens", .in = ZL(tokens),
                     .out = x, .param = ZL(emb)});
    for (int64_t l = 0; l < L && !z->rc; l++) {
        char blk[64], att[80];
        snprintf(blk, sizeof blk, "model.layers.%lld", (long long)l);
        snprintf(att, sizeof att, "%s.self_attn", blk);
        int h = rmsnorm(z, zname("%s.input_layernorm", blk), x, B, T, C);
        int q = proj(z, zname("%s.q_proj", att), h, B, T, C, H * D);
        int k = proj(z, zname("%s.k_proj", att), h, B, T, C, KV * D);
        int v = proj(z, zname("%s.v_proj", att), h, B, T, C, KV * D);
        q = rope(z, zname("%s.rope_q", att), att, q, H, D, theta);
        k = rope(z, zname("%s.rope_k", att), att, k, KV, D, theta);
        const char *an = zname("%s.core", att);
        int a = zt(z, zname("%s.out", an), ROLE_ACT, dt, 3, B, T, H * D);
        int probs = zt(z, zname("%s.probs", an), ROLE_EXTRA, dt, 4, B, H, T, T);
        zop(z, &(zoo_op){.kind = OP_ATTENTION, .name = an, .module = att, .in = ZL(q, k, v),
                         .out = a, .extra = ZL(probs), .attr = {H, KV, D, 1, 0, 0}});
        int o = proj(z, zname("%s.o_proj", att), a, B, T, H * D, C);
        x = add(z, zname("%s.add_1", blk), blk, x, o);
        h = rmsnorm(z, zname("%s.post_attention_layernorm", blk), x, B, T, C);
        int gate = proj(z, zname("%s.mlp.gate_proj", blk), h, B, T, C, F);
        int up = proj(z, zname("%s.mlp.up_proj", blk), h, B, T, C, F);
        const char *sn = zname("%s.mlp.act_fn", blk);
        int s = zt(z, zname("%s.out", sn), ROLE_ACT, dt, 3, B, T, F);
        zop(z, &(zoo_op){.kind = OP_SWIGLU, .name = sn, .in = ZL(gate, up), .out = s});
        int d = proj(z, zname("%s.mlp.down_proj", blk), s, B, T, F, C);
        x = add(z, zname("%s.add_2", blk), blk, x, d);
    }
    int hn = rmsnorm(z, "model.norm", x, B, T, C);
    int head = tied ? emb : zt(z, "lm_head.weight", ROLE_PARAM, pt, 2, V, C);
    int logits = zt(z, "lm_head.out", ROLE_ACT, dt, 3, B, T, V);
    zop(z, &(zoo_op){.kind = OP_MATMUL, .name = "lm_head", .in = ZL(hn), .out = logits,
                     .param = ZL(head)});
    int loss = zt(z, "loss.out", ROLE_ACT, DT_F32, 1, (int64_t)1);
    int lse = zt(z, "loss.lse", ROLE_EXTRA, DT_F32, 2, B, T);
    zop(z, &(zoo_op){.kind = OP_LOSS, .name = "loss", .in = ZL(logits, targets), .out = loss,
                     .extra = ZL(lse)});
    if (!z->rc)
        zoo_apply_conventions(g);
    return z->rc;
}
