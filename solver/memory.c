/* solver/memory.c — the static part of the memory model: parameters, their
 * gradients, optimizer state and fp32 master weights (by optimizer, precision,
 * ZeRO stage and data-parallel degree, LoRA), inputs and workspace; and the
 * allocator model every allocation passes through. docs/memory-model.md states each
 * convention with its source. */
#include <errno.h>
#include <string.h>

#include "solver/solver.h"

#define MIB (INT64_C(1) << 20)

int64_t alloc_round(allocator_kind a, int64_t bytes)
{
    if (bytes <= 0)
        return 0;
    if (a != ALLOC_PYTORCH)
        return bytes;
    /* PyTorch CUDA caching allocator: block sizes are multiples of 512 B (at least
     * 512); a request of 10 MiB or more gets its own segment rounded to 2 MiB. */
    const int64_t q = bytes >= 10 * MIB ? 2 * MIB : 512;
    if (bytes > INT64_MAX - q)
        return bytes;
    return (bytes + q - 1) / q * q;
}

/* Optimizer state tensors per trainable parameter element (each the size of an
 * fp32 element under mixed precision, else of the parameter's dtype). */
static int optimizer_states(optimizer_kind k)
{
    switch (k) {
    case OPTIM_SGD: return 0;
    case OPTIM_MOMENTUM: return 1;
    case OPTIM_ADAM:
    case OPTIM_ADAMW: return 2;
    }
    return -1;
}

static bool is_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* True when a module path has a component named one of the attention/MLP module
 * names of Hugging Face models (attn, self_attn, attention, mlp, feed_forward). */
static bool in_attn_or_mlp(const char *path)
{
    static const char *const names[] = {"attn", "self_attn", "attention", "mlp",
                                        "feed_forward", NULL};
    const char *p = path;
    while (p && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        for (int k = 0; names[k]; k++)
            if (strlen(names[k]) == len && strncmp(names[k], p, len) == 0)
                return true;
        p = dot ? dot + 1 : NULL;
    }
    return false;
}

static bool in_numbered_block(const char *path)
{
    const char *p = path;
    while (p && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (is_digits(p, len))
            return true;
        p = dot ? dot + 1 : NULL;
    }
    return false;
}

/* The matmuls that get LoRA adapters: those inside attention or MLP modules; in a
 * graph without such modules, every matmul inside a numbered block (layers.3.fc). */
static bool lora_target(const graph *g, const graph_op *o, bool have_named)
{
    if (o->kind != OP_MATMUL || o->n_param < 1)
        return false;
    const graph_tensor *w = &g->tensors[o->param[0]];
    if (w->role != ROLE_PARAM || w->ndim != 2)
        return false;
    return have_named ? in_attn_or_mlp(o->module) : in_numbered_block(o->module);
}

/* Per-category byte sums plus per-tensor rounded sums. */
typedef struct cat_sum {
    int64_t raw;     /* bytes, unrounded */
    int64_t rounded; /* sum of alloc_round over the individual tensors */
} cat_sum;

static bool cat_add(cat_sum *c, allocator_kind a, int64_t bytes)
{
    return checked_add64(c->raw, bytes, &c->raw) &&
           checked_add64(c->rounded, alloc_round(a, bytes), &c->rounded);
}

/* One trainable or frozen parameter of numel elements whose own dtype has elem
 * bytes: adds its weights, gradient, master copy and optimizer state. */
static bool add_param(const mem_config *mc, int64_t numel, int64_t elem, bool trainable,
                      cat_sum *w, cat_sum *gr, cat_sum *ms, cat_sum *st)
{
    int64_t wb, gb, mb = 0, sb;
    int ns = optimizer_states(mc->optimizer);
    if (mc->mixed) {
        /* 16-bit weights and gradients, fp32 master weights and fp32 states */
        if (!checked_mul64(numel, 2, &wb) || !checked_mul64(numel, 2, &gb) ||
            !checked_mul64(numel, 4, &mb) || !checked_mul64(numel, 4 * ns, &sb))
            return false;
    } else {
        if (!checked_mul64(numel, elem, &wb))
            return false;
        gb = wb;
        if (!checked_mul64(wb, ns, &sb))
            return false;
    }
    if (!cat_add(w, mc->allocator, wb))
        return false;
    if (!trainable)
        return true;
    if (!cat_add(gr, mc->allocator, gb))
        return false;
    if (mb && !cat_add(ms, mc->allocator, mb))
        return false;
    for (int k = 0; k < ns; k++)
        if (!cat_add(st, mc->allocator, sb / ns))
            return false;
    return true;
}

/* A category sharded over n ranks is one flat partition of ceil(raw / n) bytes,
 * rounded once; an unsharded category is its tensors, each rounded. */
static int64_t cat_bytes(const cat_sum *c, allocator_kind a, int shards)
{
    if (shards <= 1)
        return c->rounded;
    return alloc_round(a, (c->raw + shards - 1) / shards);
}

int static_memory(const graph *g, const mem_config *mc, static_mem *out, remat_err *err)
{
    memset(out, 0, sizeof *out);
    if (optimizer_states(mc->optimizer) < 0)
        return remat_fail(err, -EINVAL, "unknown optimizer %d", (int)mc->optimizer);
    if (mc->allocator != ALLOC_EXACT && mc->allocator != ALLOC_PYTORCH)
        return remat_fail(err, -EINVAL, "unknown allocator model %d", (int)mc->allocator);
    if (mc->zero_stage < 0 || mc->zero_stage > 3)
        return remat_fail(err, -EINVAL, "ZeRO stage %d is not 0, 1, 2 or 3", mc->zero_stage);
    if (mc->dp < 1)
        return remat_fail(err, -EINVAL, "data-parallel degree %d must be at least 1", mc->dp);
    if (mc->lora_rank < 0)
        return remat_fail(err, -EINVAL, "LoRA rank %d must not be negative", mc->lora_rank);
    if (mc->workspace_bytes < 0)
        return remat_fail(err, -EINVAL, "workspace bytes must not be negative");

    cat_sum w = {0, 0}, gr = {0, 0}, ms = {0, 0}, st = {0, 0}, in = {0, 0};
    bool ok = true;
    const bool lora = mc->lora_rank > 0;
    for (int i = 0; i < g->n_tensors && ok; i++) {
        const graph_tensor *t = &g->tensors[i];
        if (t->role == ROLE_PARAM)
            ok = add_param(mc, t->numel, dtype_size(t->dtype), !t->frozen && !lora, &w, &gr, &ms,
                           &st);
        else if (t->role == ROLE_INPUT)
            ok = cat_add(&in, mc->allocator, t->bytes);
    }
    if (lora && ok) {
        bool have_named = false;
        for (int i = 0; i < g->n_ops && !have_named; i++)
            have_named = g->ops[i].kind == OP_MATMUL && in_attn_or_mlp(g->ops[i].module);
        for (int i = 0; i < g->n_ops && ok; i++) {
            const graph_op *o = &g->ops[i];
            if (!lora_target(g, o, have_named))
                continue;
            const graph_tensor *W = &g->tensors[o->param[0]]; /* [N, K] */
            int64_t r = mc->lora_rank, a_n, b_n;
            int64_t elem = dtype_size(W->dtype);
            /* A [r, K] and B [N, r], trainable, in the base weight's dtype */
            ok = checked_mul64(r, W->shape[1], &a_n) && checked_mul64(W->shape[0], r, &b_n) &&
                 add_param(mc, a_n, elem, true, &w, &gr, &ms, &st) &&
                 add_param(mc, b_n, elem, true, &w, &gr, &ms, &st);
        }
    }
    if (!ok)
        return remat_fail(err, -ERANGE, "static memory size overflows 64 bits");

    const int n = mc->dp, z = mc->zero_stage;
    const allocator_kind a = mc->allocator;
    out->params = cat_bytes(&w, a, z >= 3 ? n : 1);
    out->grads = cat_bytes(&gr, a, z >= 2 ? n : 1);
    out->master = cat_bytes(&ms, a, z >= 1 ? n : 1);
    out->optimizer = cat_bytes(&st, a, z >= 1 ? n : 1);
    out->inputs = in.rounded;
    out->workspace = alloc_round(a, mc->workspace_bytes);
    int64_t total = 0;
    if (!checked_add64(total, out->params, &total) || !checked_add64(total, out->grads, &total) ||
        !checked_add64(total, out->master, &total) ||
        !checked_add64(total, out->optimizer, &total) ||
        !checked_add64(total, out->inputs, &total) ||
        !checked_add64(total, out->workspace, &total))
        return remat_fail(err, -ERANGE, "static memory size overflows 64 bits");
    out->total = total;
    return 0;
}
