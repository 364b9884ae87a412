/* executor/cpu/ops.c — checks graph ops against the op conventions, derives the
 * kernels' dimensions, and dispatches forward/backward to the CPU kernels; also the
 * deterministic parameter and input initialisation the runner and profiler share. */
#include "executor/cpu/ops.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#define REQ(cond, ...)                                                                    \
    do {                                                                                  \
        if (!(cond))                                                                      \
            return remat_fail(err, -EINVAL, __VA_ARGS__);                                \
    } while (0)

static const graph_tensor *T_(const graph *g, int i) { return &g->tensors[i]; }

static int64_t last_dim(const graph_tensor *t) { return t->ndim ? t->shape[t->ndim - 1] : 1; }

static bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

/* Expected counts of inputs, params and extras for the op. */
static void op_counts(const graph_op *o, int *ni, int *np, int *ne)
{
    *ni = 1;
    *np = 0;
    *ne = 0;
    switch (o->kind) {
    case OP_EMBEDDING: *np = o->attr[0] ? 2 : 1; break;
    case OP_MATMUL: *np = o->attr[0] ? 2 : 1; break;
    case OP_LAYERNORM: *np = 2; *ne = 2; break;
    case OP_RMSNORM: *np = 1; *ne = 1; break;
    case OP_SWIGLU: *ni = 2; break;
    case OP_ATTENTION:
        *ni = o->attr[4] ? 1 : 3;
        *ne = o->fattr[0] > 0.0 ? 3 : 1;
        break;
    case OP_ADD: *ni = 2; break;
    case OP_DROPOUT: *ne = 1; break;
    case OP_LOSS: *ni = 2; *ne = 1; break;
    case OP_CONV2D: *np = o->attr[3] ? 2 : 1; break;
    case OP_MAXPOOL: *ne = 1; break;
    case OP_BATCHNORM: *np = 2; *ne = 2; break;
    case OP_CONCAT: *ni = 2; break;
    case OP_STAGE: *np = 1; break;
    default: break;
    }
}

/* dtype every tensor slot must have: i32 ids, u8 masks, i32 argmax, else fp32. */
static int check_dtypes(const graph *g, const graph_op *o, remat_err *err)
{
    for (int k = 0; k < o->n_in; k++) {
        const graph_tensor *t = T_(g, o->in[k]);
        bool ids = (o->kind == OP_EMBEDDING && k == 0) || (o->kind == OP_LOSS && k == 1);
        remat_dtype want = ids ? DT_I32 : DT_F32;
        if (t->dtype != want)
            return remat_fail(err, t->dtype == DT_BF16 || t->dtype == DT_F16 ? -ENOTSUP : -EINVAL,
                              "op '%s': input '%s' is %s; the CPU executor computes in fp32 "
                              "only (ids are i32)",
                              o->name, t->name, dtype_name(t->dtype));
        if (ids && t->role != ROLE_INPUT)
            return remat_fail(err, -EINVAL, "op '%s': ids '%s' must be a step input", o->name,
                              t->name);
    }
    for (int k = 0; k < o->n_param; k++) {
        const graph_tensor *t = T_(g, o->param[k]);
        if (t->dtype != DT_F32)
            return remat_fail(err, -ENOTSUP,
                              "op '%s': parameter '%s' is %s; the CPU executor computes in fp32 "
                              "only",
                              o->name, t->name, dtype_name(t->dtype));
    }
    for (int k = 0; k < o->n_extra; k++) {
        const graph_tensor *t = T_(g, o->extra[k]);
        remat_dtype want = DT_F32;
        if ((o->kind == OP_DROPOUT && k == 0) || (o->kind == OP_ATTENTION && k == 1))
            want = DT_U8;
        if (o->kind == OP_MAXPOOL)
            want = DT_I32;
        if (t->dtype != want)
            return remat_fail(err, want == DT_F32 ? -ENOTSUP : -EINVAL,
                              "op '%s': extra '%s' is %s, the CPU kernels need %s", o->name,
                              t->name, dtype_name(t->dtype), dtype_name(want));
    }
    const graph_tensor *out = T_(g, o->out);
    if (out->dtype != DT_F32)
        return remat_fail(err, -ENOTSUP,
                          "op '%s': output '%s' is %s; the CPU executor computes in fp32 only",
                          o->name, out->name, dtype_name(out->dtype));
    return 0;
}

int cpu_op_dims(const graph *g, int op, op_dims *d, remat_err *err)
{
    const graph_op *o = &g->ops[op];
    memset(d, 0, sizeof *d);
    int ni, np, ne;
    op_counts(o, &ni, &np, &ne);
    REQ(o->n_in == ni && o->n_param == np && o->n_extra == ne,
        "op '%s' (%s): %d inputs, %d params, %d extras; the op conventions say %d, %d, %d",
        o->name, op_kind_name(o->kind), o->n_in, o->n_param, o->n_extra, ni, np, ne);
    int rc = check_dtypes(g, o, err);
    if (rc)
        return rc;
    const graph_tensor *in0 = T_(g, o->in[0]), *out = T_(g, o->out);
    const graph_tensor *in1 = o->n_in > 1 ? T_(g, o->in[1]) : NULL;
    const char *nm = o->name;
    switch (o->kind) {
    case OP_EMBEDDING: {
        const graph_tensor *wte = T_(g, o->param[0]);
        REQ(wte->ndim == 2, "op '%s': wte must be [V,C]", nm);
        d->T = last_dim(in0);
        d->B = in0->numel / d->T;
        d->C = wte->shape[1];
        REQ(out->numel == d->B * d->T * d->C && last_dim(out) == d->C,
            "op '%s': output must be [B,T,C] with C = %lld", nm, (long long)d->C);
        if (o->n_param == 2) {
            const graph_tensor *wpe = T_(g, o->param[1]);
            REQ(wpe->ndim == 2 && wpe->shape[1] == d->C && wpe->shape[0] >= d->T,
                "op '%s': wpe must be [maxT >= %lld, %lld]", nm, (long long)d->T,
                (long long)d->C);
        }
        break;
    }
    case OP_MATMUL: {
        const graph_tensor *w = T_(g, o->param[0]);
        REQ(w->ndim == 2, "op '%s': weight must be [N,K]", nm);
        d->N = w->shape[0];
        d->K = w->shape[1];
        d->has_bias = o->attr[0] != 0;
        if (o->attr[1]) {
            d->M = in0->shape[0];
            REQ(in0->numel == d->M * d->K, "op '%s': flattened input has %lld features, weight %lld",
                nm, (long long)(in0->numel / d->M), (long long)d->K);
        } else {
            REQ(last_dim(in0) == d->K, "op '%s': input's last dim %lld != weight's K %lld", nm,
                (long long)last_dim(in0), (long long)d->K);
            d->M = in0->numel / d->K;
        }
        REQ(out->numel == d->M * d->N && last_dim(out) == d->N,
            "op '%s': output must be [...,%lld]", nm, (long long)d->N);
        if (d->has_bias)
            REQ(T_(g, o->param[1])->numel == d->N, "op '%s': bias must be [%lld]", nm,
                (long long)d->N);
        REQ(fits_int(d->M) && fits_int(d->N) && fits_int(d->K), "op '%s': too large for BLAS", nm);
        break;
    }
    case OP_LAYERNORM:
    case OP_RMSNORM: {
        d->C = last_dim(in0);
        d->rows = in0->numel / d->C;
        d->eps = o->fattr[0] > 0.0 ? (float)o->fattr[0] : (o->kind == OP_LAYERNORM ? 1e-5f : 1e-6f);
        REQ(out->numel == in0->numel, "op '%s': output must be shaped like the input", nm);
        for (int k = 0; k < o->n_param; k++)
            REQ(T_(g, o->param[k])->numel == d->C, "op '%s': parameters must be [%lld]", nm,
                (long long)d->C);
        for (int k = 0; k < o->n_extra; k++)
            REQ(T_(g, o->extra[k])->numel == d->rows, "op '%s': statistics must be [%lld]", nm,
                (long long)d->rows);
        break;
    }
    case OP_GELU:
    case OP_RELU:
    case OP_DROPOUT:
        d->numel = in0->numel;
        REQ(out->numel == d->numel, "op '%s': output must be shaped like the input", nm);
        if (o->kind == OP_DROPOUT) {
            d->p = (float)o->fattr[0];
            d->seed = (uint64_t)o->attr[0];
            REQ(o->fattr[0] >= 0.0 && o->fattr[0] < 1.0, "op '%s': dropout p must be in [0, 1)", nm);
            REQ(T_(g, o->extra[0])->numel == d->numel, "op '%s': mask must be shaped like x", nm);
        }
        break;
    case OP_SOFTMAX:
        d->C = last_dim(in0);
        d->rows = in0->numel / d->C;
        REQ(out->numel == in0->numel, "op '%s': output must be shaped like the input", nm);
        break;
    case OP_SWIGLU:
    case OP_ADD:
        d->numel = in0->numel;
        REQ(in1->numel == d->numel && out->numel == d->numel,
            "op '%s': both inputs and the output must have the same shape", nm);
        break;
    case OP_ROPE:
        d->H = o->attr[0];
        d->D = o->attr[1];
        d->theta = o->fattr[0] > 0.0 ? o->fattr[0] : 10000.0;
        REQ(d->H > 0 && d->D > 0 && d->D % 2 == 0, "op '%s': needs n_head > 0 and an even head_dim",
            nm);
        REQ(in0->ndim == 3 && in0->shape[2] == d->H * d->D,
            "op '%s': input must be [B,T,%lld]", nm, (long long)(d->H * d->D));
        d->B = in0->shape[0];
        d->T = in0->shape[1];
        REQ(out->numel == in0->numel, "op '%s': output must be shaped like the input", nm);
        break;
    case OP_ATTENTION: {
        d->H = o->attr[0];
        d->KV = o->attr[1];
        d->D = o->attr[2];
        d->causal = o->attr[3] != 0;
        d->fused = o->attr[4] != 0;
        d->seed = (uint64_t)o->attr[5];
        d->p = (float)o->fattr[0];
        REQ(d->H > 0 && d->KV > 0 && d->D > 0 && d->H % d->KV == 0,
            "op '%s': n_head %lld must be a positive multiple of n_kv_head %lld (head_dim %lld)",
            nm, (long long)d->H, (long long)d->KV, (long long)d->D);
        REQ(o->fattr[0] >= 0.0 && o->fattr[0] < 1.0, "op '%s': dropout p must be in [0, 1)", nm);
        REQ(in0->ndim == 3, "op '%s': inputs must be [B,T,*]", nm);
        d->B = in0->shape[0];
        d->T = in0->shape[1];
        if (d->fused) {
            d->q_stride = d->kv_stride = (d->H + 2 * d->KV) * d->D;
            d->q_off = 0;
            d->k_off = d->H * d->D;
            d->v_off = (d->H + d->KV) * d->D;
            REQ(in0->shape[2] == d->q_stride, "op '%s': fused qkv must be [B,T,%lld]", nm,
                (long long)d->q_stride);
        } else {
            d->q_stride = d->H * d->D;
            d->kv_stride = d->KV * d->D;
            REQ(in0->shape[2] == d->q_stride, "op '%s': q must be [B,T,%lld]", nm,
                (long long)d->q_stride);
            for (int k = 1; k < 3; k++) {
                const graph_tensor *t = T_(g, o->in[k]);
                REQ(t->ndim == 3 && t->shape[0] == d->B && t->shape[1] == d->T &&
                        t->shape[2] == d->kv_stride,
                    "op '%s': k and v must be [%lld,%lld,%lld]", nm, (long long)d->B,
                    (long long)d->T, (long long)d->kv_stride);
            }
        }
        REQ(out->numel == d->B * d->T * d->H * d->D && last_dim(out) == d->H * d->D,
            "op '%s': output must be [B,T,%lld]", nm, (long long)(d->H * d->D));
        for (int k = 0; k < o->n_extra; k++)
            REQ(T_(g, o->extra[k])->numel == d->B * d->H * d->T * d->T,
                "op '%s': probabilities, mask and dropped must be [B,H,T,T]", nm);
        REQ(fits_int(d->T) && fits_int(d->D) && fits_int(d->q_stride) && fits_int(d->H * d->D),
            "op '%s': too large for BLAS", nm);
        d->ws_bwd = attention_backward_ws_floats(d->T) * (int64_t)sizeof(float);
        break;
    }
    case OP_LOSS: {
        d->C = last_dim(in0);
        d->rows = in0->numel / d->C;
        REQ(in1->numel == d->rows, "op '%s': targets must have one id per row of logits (%lld)", nm,
            (long long)d->rows);
        REQ(out->numel == 1, "op '%s': the loss output must be [1]", nm);
        REQ(T_(g, o->extra[0])->numel == d->rows, "op '%s': lse must be [%lld]", nm,
            (long long)d->rows);
        break;
    }
    case OP_CONV2D: {
        const graph_tensor *w = T_(g, o->param[0]);
        d->k = o->attr[0];
        d->s = o->attr[1];
        d->pad = o->attr[2];
        d->has_bias = o->attr[3] != 0;
        REQ(in0->ndim == 4 && w->ndim == 4, "op '%s': input [B,Cin,H,W], weight [Cout,Cin,k,k]",
            nm);
        REQ(d->k > 0 && d->s > 0 && d->pad >= 0, "op '%s': bad kernel/stride/padding", nm);
        d->B = in0->shape[0];
        d->Ci = in0->shape[1];
        d->Hh = in0->shape[2];
        d->Ww = in0->shape[3];
        d->Co = w->shape[0];
        REQ(w->shape[1] == d->Ci && w->shape[2] == d->k && w->shape[3] == d->k,
            "op '%s': weight must be [Cout,%lld,%lld,%lld]", nm, (long long)d->Ci,
            (long long)d->k, (long long)d->k);
        int64_t Ho = (d->Hh + 2 * d->pad - d->k) / d->s + 1;
        int64_t Wo = (d->Ww + 2 * d->pad - d->k) / d->s + 1;
        REQ(d->Hh + 2 * d->pad >= d->k && d->Ww + 2 * d->pad >= d->k,
            "op '%s': kernel larger than the padded input", nm);
        REQ(out->ndim == 4 && out->shape[0] == d->B && out->shape[1] == d->Co &&
                out->shape[2] == Ho && out->shape[3] == Wo,
            "op '%s': output must be [%lld,%lld,%lld,%lld]", nm, (long long)d->B,
            (long long)d->Co, (long long)Ho, (long long)Wo);
        if (d->has_bias)
            REQ(T_(g, o->param[1])->numel == d->Co, "op '%s': bias must be [%lld]", nm,
                (long long)d->Co);
        REQ(fits_int(d->Ci * d->k * d->k) && fits_int(Ho * Wo) && fits_int(d->Co),
            "op '%s': too large for BLAS", nm);
        d->ws_fwd = conv2d_ws_floats(d->Ci, d->Hh, d->Ww, d->k, d->s, d->pad, false) * 4;
        d->ws_bwd = conv2d_ws_floats(d->Ci, d->Hh, d->Ww, d->k, d->s, d->pad, true) * 4;
        break;
    }
    case OP_MAXPOOL: {
        d->k = o->attr[0];
        d->s = o->attr[1];
        REQ(in0->ndim == 4 && d->k > 0 && d->s > 0 && in0->shape[2] >= d->k &&
                in0->shape[3] >= d->k,
            "op '%s': input [B,C,H,W] with H, W >= kernel > 0 and stride > 0", nm);
        d->B = in0->shape[0];
        d->C = in0->shape[1];
        d->Hh = in0->shape[2];
        d->Ww = in0->shape[3];
        int64_t Ho = (d->Hh - d->k) / d->s + 1, Wo = (d->Ww - d->k) / d->s + 1;
        REQ(out->ndim == 4 && out->shape[0] == d->B && out->shape[1] == d->C &&
                out->shape[2] == Ho && out->shape[3] == Wo &&
                T_(g, o->extra[0])->numel == out->numel,
            "op '%s': output and argmax must be [%lld,%lld,%lld,%lld]", nm, (long long)d->B,
            (long long)d->C, (long long)Ho, (long long)Wo);
        REQ(d->Hh * d->Ww <= INT32_MAX, "op '%s': plane too large for i32 argmax", nm);
        break;
    }
    case OP_AVGPOOL:
        REQ(in0->ndim >= 2, "op '%s': input must be [B,C,...]", nm);
        d->B = in0->shape[0];
        d->C = in0->shape[1];
        d->HW = in0->numel / (d->B * d->C);
        REQ(out->numel == d->B * d->C, "op '%s': output must be [B,C]", nm);
        break;
    case OP_BATCHNORM:
        REQ(in0->ndim >= 2, "op '%s': input must be [B,C,...]", nm);
        d->B = in0->shape[0];
        d->C = in0->shape[1];
        d->HW = in0->numel / (d->B * d->C);
        d->eps = o->fattr[0] > 0.0 ? (float)o->fattr[0] : 1e-5f;
        REQ(out->numel == in0->numel, "op '%s': output must be shaped like the input", nm);
        for (int k = 0; k < 2; k++)
            REQ(T_(g, o->param[k])->numel == d->C && T_(g, o->extra[k])->numel == d->C,
                "op '%s': parameters and statistics must be [%lld]", nm, (long long)d->C);
        break;
    case OP_CONCAT:
        REQ(in0->ndim >= 2 && in1->ndim == in0->ndim && in0->shape[0] == in1->shape[0],
            "op '%s': inputs must be [B,C,...] with the same batch", nm);
        d->B = in0->shape[0];
        d->Ca = in0->shape[1];
        d->Cb = in1->shape[1];
        d->HW = in0->numel / (d->B * d->Ca);
        REQ(in1->numel == d->B * d->Cb * d->HW && out->numel == d->B * (d->Ca + d->Cb) * d->HW,
            "op '%s': inputs must agree on the spatial size and the output be [B,Ca+Cb,...]", nm);
        break;
    case OP_UPSAMPLE:
        REQ(in0->ndim == 4, "op '%s': input must be [B,C,H,W]", nm);
        d->B = in0->shape[0];
        d->C = in0->shape[1];
        d->Hh = in0->shape[2];
        d->Ww = in0->shape[3];
        REQ(out->numel == 4 * in0->numel, "op '%s': output must be [B,C,2H,2W]", nm);
        break;
    case OP_STAGE:
        d->C = last_dim(in0);
        d->rows = in0->numel / d->C;
        REQ(T_(g, o->param[0])->numel == d->C && out->numel == in0->numel,
            "op '%s': weight must be [%lld] and the output shaped like the input", nm,
            (long long)d->C);
        break;
    default:
        return remat_fail(err, -ENOTSUP, "op '%s': kind %s is not implemented by the CPU executor",
                          nm, op_kind_name(o->kind));
    }
    /* the backward must only read what the op saves */
    int reads[GRAPH_MAX_SAVED];
    int nr = cpu_op_bwd_reads(g, op, reads);
    for (int r = 0; r < nr; r++) {
        bool ok = false;
        for (int k = 0; k < o->n_saved && !ok; k++)
            ok = o->saved[k] == reads[r];
        REQ(ok, "op '%s': its backward reads '%s', which it does not save (see "
                "docs/op-conventions.md)",
            nm, T_(g, reads[r])->name);
    }
    REQ(o->ws_fwd >= d->ws_fwd && o->ws_bwd >= d->ws_bwd,
        "op '%s': workspace %lld/%lld bytes (forward/backward); the CPU kernels need %lld/%lld "
        "(graph_set_workspace)",
        nm, (long long)o->ws_fwd, (long long)o->ws_bwd, (long long)d->ws_fwd,
        (long long)d->ws_bwd);
    return 0;
}

int cpu_op_bwd_reads(const graph *g, int op, int *t)
{
    const graph_op *o = &g->ops[op];
    int n = 0;
    switch (o->kind) {
    case OP_EMBEDDING:
    case OP_MATMUL:
    case OP_GELU:
    case OP_CONV2D:
        t[n++] = o->in[0];
        break;
    case OP_LAYERNORM:
    case OP_BATCHNORM:
        t[n++] = o->in[0];
        t[n++] = o->extra[0];
        t[n++] = o->extra[1];
        break;
    case OP_RMSNORM:
        t[n++] = o->in[0];
        t[n++] = o->extra[0];
        break;
    case OP_SWIGLU:
        t[n++] = o->in[0];
        t[n++] = o->in[1];
        break;
    case OP_ATTENTION:
        for (int k = 0; k < o->n_in; k++)
            t[n++] = o->in[k];
        for (int k = 0; k < o->n_extra; k++)
            t[n++] = o->extra[k];
        break;
    case OP_SOFTMAX:
    case OP_RELU:
        t[n++] = o->out;
        break;
    case OP_DROPOUT:
    case OP_MAXPOOL:
        t[n++] = o->extra[0];
        break;
    case OP_LOSS:
        t[n++] = o->in[0];
        t[n++] = o->in[1];
        t[n++] = o->extra[0];
        break;
    case OP_STAGE:
        t[n++] = o->in[0];
        t[n++] = o->out;
        break;
    default:
        break;
    }
    (void)g;
    return n;
}

#define FT(i) ((float *)data[i])
#define IN(k) FT(o->in[k])
#define PAR(k) FT(o->param[k])
#define EX(k) FT(o->extra[k])
#define OUT FT(o->out)

void cpu_op_forward(const graph *g, int op, const op_dims *d, void *const *data, void *ws)
{
    const graph_op *o = &g->ops[op];
    switch (o->kind) {
    case OP_EMBEDDING:
        embedding_forward(OUT, (const int32_t *)data[o->in[0]], PAR(0),
                          o->n_param > 1 ? PAR(1) : NULL, d->B, d->T, d->C);
        break;
    case OP_MATMUL:
        matmul_forward(OUT, IN(0), PAR(0), d->has_bias ? PAR(1) : NULL, d->M, d->K, d->N);
        break;
    case OP_LAYERNORM:
        layernorm_forward(OUT, EX(0), EX(1), IN(0), PAR(0), PAR(1), d->rows, d->C, d->eps);
        break;
    case OP_RMSNORM:
        rmsnorm_forward(OUT, EX(0), IN(0), PAR(0), d->rows, d->C, d->eps);
        break;
    case OP_GELU: gelu_forward(OUT, IN(0), d->numel); break;
    case OP_RELU: relu_forward(OUT, IN(0), d->numel); break;
    case OP_SWIGLU: swiglu_forward(OUT, IN(0), IN(1), d->numel); break;
    case OP_ADD: add_forward(OUT, IN(0), IN(1), d->numel); break;
    case OP_ROPE: rope_forward(OUT, IN(0), d->B, d->T, d->H, d->D, d->theta); break;
    case OP_SOFTMAX: softmax_forward(OUT, IN(0), d->rows, d->C); break;
    case OP_DROPOUT:
        dropout_forward(OUT, (uint8_t *)data[o->extra[0]], IN(0), d->numel, d->p, d->seed);
        break;
    case OP_ATTENTION: {
        const float *q, *k, *v;
        if (d->fused) {
            q = IN(0) + d->q_off;
            k = IN(0) + d->k_off;
            v = IN(0) + d->v_off;
        } else {
            q = IN(0);
            k = IN(1);
            v = IN(2);
        }
        bool drop = o->n_extra > 1;
        attention_forward(OUT, EX(0), drop ? (uint8_t *)data[o->extra[1]] : NULL,
                          drop ? EX(2) : NULL, q, k, v, d->B, d->T, d->H, d->KV, d->D,
                          d->q_stride, d->kv_stride, d->causal, d->p, d->seed);
        break;
    }
    case OP_LOSS:
        crossentropy_forward(OUT, EX(0), IN(0), (const int32_t *)data[o->in[1]], d->rows, d->C);
        break;
    case OP_CONV2D:
        conv2d_forward(OUT, ws, IN(0), PAR(0), d->has_bias ? PAR(1) : NULL, d->B, d->Ci, d->Hh,
                       d->Ww, d->Co, d->k, d->s, d->pad);
        break;
    case OP_MAXPOOL:
        maxpool_forward(OUT, (int32_t *)data[o->extra[0]], IN(0), d->B, d->C, d->Hh, d->Ww, d->k,
                        d->s);
        break;
    case OP_AVGPOOL: avgpool_forward(OUT, IN(0), d->B, d->C, d->HW); break;
    case OP_BATCHNORM:
        batchnorm_forward(OUT, EX(0), EX(1), IN(0), PAR(0), PAR(1), d->B, d->C, d->HW, d->eps);
        break;
    case OP_CONCAT: concat_forward(OUT, IN(0), IN(1), d->B, d->Ca, d->Cb, d->HW); break;
    case OP_UPSAMPLE: upsample_forward(OUT, IN(0), d->B, d->C, d->Hh, d->Ww); break;
    case OP_STAGE: stage_forward(OUT, IN(0), PAR(0), d->rows, d->C); break;
    default: break;
    }
}

#define GIN(k) grad[o->in[k]]
#define GPAR(k) grad[o->param[k]]

void cpu_op_backward(const graph *g, int op, const op_dims *d, void *const *data,
                     float *const *grad, float dloss, void *ws)
{
    const graph_op *o = &g->ops[op];
    const float *dout = grad[o->out];
    switch (o->kind) {
    case OP_EMBEDDING:
        embedding_backward(GPAR(0), o->n_param > 1 ? GPAR(1) : NULL, dout,
                           (const int32_t *)data[o->in[0]], d->B, d->T, d->C);
        break;
    case OP_MATMUL:
        matmul_backward(GIN(0), GPAR(0), d->has_bias ? GPAR(1) : NULL, dout, IN(0), PAR(0), d->M,
                        d->K, d->N);
        break;
    case OP_LAYERNORM:
        layernorm_backward(GIN(0), GPAR(0), GPAR(1), dout, IN(0), PAR(0), EX(0), EX(1), d->rows,
                           d->C);
        break;
    case OP_RMSNORM:
        rmsnorm_backward(GIN(0), GPAR(0), dout, IN(0), PAR(0), EX(0), d->rows, d->C);
        break;
    case OP_GELU: gelu_backward(GIN(0), dout, IN(0), d->numel); break;
    case OP_RELU: relu_backward(GIN(0), dout, OUT, d->numel); break;
    case OP_SWIGLU: swiglu_backward(GIN(0), GIN(1), dout, IN(0), IN(1), d->numel); break;
    case OP_ADD: add_backward(GIN(0), GIN(1), dout, d->numel); break;
    case OP_ROPE: rope_backward(GIN(0), dout, d->B, d->T, d->H, d->D, d->theta); break;
    case OP_SOFTMAX: softmax_backward(GIN(0), dout, OUT, d->rows, d->C); break;
    case OP_DROPOUT:
        dropout_backward(GIN(0), dout, (const uint8_t *)data[o->extra[0]], d->numel, d->p);
        break;
    case OP_ATTENTION: {
        const float *q, *k, *v;
        float *dq = NULL, *dk = NULL, *dv = NULL;
        if (d->fused) {
            q = IN(0) + d->q_off;
            k = IN(0) + d->k_off;
            v = IN(0) + d->v_off;
            if (GIN(0)) {
                dq = GIN(0) + d->q_off;
                dk = GIN(0) + d->k_off;
                dv = GIN(0) + d->v_off;
            }
        } else {
            q = IN(0);
            k = IN(1);
            v = IN(2);
            dq = GIN(0);
            dk = GIN(1);
            dv = GIN(2);
        }
        bool drop = o->n_extra > 1;
        attention_backward(dq, dk, dv, ws, dout, q, k, v, EX(0),
                           drop ? (const uint8_t *)data[o->extra[1]] : NULL, drop ? EX(2) : NULL,
                           d->B, d->T, d->H, d->KV, d->D, d->q_stride, d->kv_stride, d->causal,
                           d->p);
        break;
    }
    case OP_LOSS:
        crossentropy_backward(GIN(0), IN(0), (const int32_t *)data[o->in[1]], EX(0), dloss,
                              d->rows, d->C);
        break;
    case OP_CONV2D:
        conv2d_backward(GIN(0), GPAR(0), d->has_bias ? GPAR(1) : NULL, ws, dout, IN(0), PAR(0),
                        d->B, d->Ci, d->Hh, d->Ww, d->Co, d->k, d->s, d->pad);
        break;
    case OP_MAXPOOL:
        maxpool_backward(GIN(0), dout, (const int32_t *)data[o->extra[0]], d->B, d->C, d->Hh,
                         d->Ww, d->k, d->s);
        break;
    case OP_AVGPOOL: avgpool_backward(GIN(0), dout, d->B, d->C, d->HW); break;
    case OP_BATCHNORM:
        batchnorm_backward(GIN(0), GPAR(0), GPAR(1), dout, IN(0), PAR(0), EX(0), EX(1), d->B,
                           d->C, d->HW);
        break;
    case OP_CONCAT: concat_backward(GIN(0), GIN(1), dout, d->B, d->Ca, d->Cb, d->HW); break;
    case OP_UPSAMPLE: upsample_backward(GIN(0), dout, d->B, d->C, d->Hh, d->Ww); break;
    case OP_STAGE:
        stage_backward(GIN(0), GPAR(0), dout, IN(0), OUT, PAR(0), d->rows, d->C);
        break;
    default: break;
    }
}

/* ---------------------------------------------------------------- initialisation */

static uint64_t name_hash(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return h;
}

void cpu_param_init(const graph *g, int t, uint64_t seed, float *buf)
{
    /* role of the parameter in its first user: gain (1 + 0.02 z), or 0.02 z */
    bool gain = false;
    for (int i = 0; i < g->n_ops; i++) {
        const graph_op *o = &g->ops[i];
        int slot = -1;
        for (int k = 0; k < o->n_param; k++)
            if (o->param[k] == t)
                slot = k;
        if (slot < 0)
            continue;
        gain = slot == 0 && (o->kind == OP_LAYERNORM || o->kind == OP_RMSNORM ||
                             o->kind == OP_BATCHNORM || o->kind == OP_STAGE);
        break;
    }
    const graph_tensor *x = &g->tensors[t];
    uint64_t s = seed ^ name_hash(x->name);
    for (int64_t i = 0; i < x->numel; i++)
        buf[i] = (float)((gain ? 1.0 : 0.0) + 0.02 * kernel_normal(s, (uint64_t)i));
}

int64_t cpu_input_bound(const graph *g, int t)
{
    int64_t bound = -1;
    for (int i = 0; i < g->n_ops; i++) {
        const graph_op *o = &g->ops[i];
        int64_t v = -1;
        if (o->kind == OP_EMBEDDING && o->n_in > 0 && o->in[0] == t && o->n_param > 0)
            v = g->tensors[o->param[0]].shape[0];
        if (o->kind == OP_LOSS && o->n_in > 1 && o->in[1] == t)
            v = last_dim(&g->tensors[o->in[0]]);
        if (v > 0 && (bound < 0 || v < bound))
            bound = v;
    }
    return bound;
}

void cpu_input_init(const graph *g, int t, uint64_t seed, void *buf)
{
    const graph_tensor *x = &g->tensors[t];
    uint64_t s = seed ^ name_hash(x->name) ^ UINT64_C(0x5bd1e9955bd1e995);
    if (x->dtype == DT_I32) {
        int64_t bound = cpu_input_bound(g, t);
        if (bound <= 0)
            bound = 1;
        if (bound > INT32_MAX)
            bound = INT32_MAX;
        int32_t *p = buf;
        for (int64_t i = 0; i < x->numel; i++)
            p[i] = (int32_t)(kernel_uniform(s, (uint64_t)i) * (double)bound);
    } else if (x->dtype == DT_F32) {
        float *p = buf;
        for (int64_t i = 0; i < x->numel; i++)
            p[i] = (float)kernel_normal(s, (uint64_t)i);
    } else {
        memset(buf, 0, (size_t)x->bytes);
    }
}
