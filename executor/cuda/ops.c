/* executor/cuda/ops.c — checks graph ops for the CUDA executor and dispatches their
 * forward/backward to the launchers of kernels.h. Shapes, the saved list and the
 * workspace are checked by the CPU executor's own cpu_op_dims on an fp32 view of the
 * graph (so both executors accept exactly the same op layouts); dtypes are checked
 * here against the CUDA kernels' storage rules (ops.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "executor/cuda/ops.h"

int cuda_graph_dtype(const graph *g, remat_dtype *dt, remat_err *err)
{
    if (!cuda_kernels_dtype_ok(g->dtype))
        return remat_fail(err, -ENOTSUP,
                          "the CUDA executor stores activations in fp32 or bf16; this graph's "
                          "are %s",
                          dtype_name(g->dtype));
    if (g->param_dtype != g->dtype)
        return remat_fail(err, -ENOTSUP,
                          "the CUDA executor needs parameters in the activation dtype (%s); this "
                          "graph's are %s",
                          dtype_name(g->dtype), dtype_name(g->param_dtype));
    *dt = g->dtype;
    return 0;
}

/* The dtype slot k of each role must have (docs/op-conventions.md). */
static remat_dtype want_in(const graph_op *o, int k, remat_dtype dt)
{
    if ((o->kind == OP_EMBEDDING && k == 0) || (o->kind == OP_LOSS && k == 1))
        return DT_I32;
    return dt;
}

static remat_dtype want_extra(const graph_op *o, int k, remat_dtype dt)
{
    switch (o->kind) {
    case OP_LAYERNORM:
    case OP_RMSNORM:
    case OP_BATCHNORM:
    case OP_LOSS: return DT_F32;
    case OP_DROPOUT: return DT_U8;
    case OP_MAXPOOL: return DT_I32;
    case OP_ATTENTION: return k == 1 ? DT_U8 : dt;
    default: return dt;
    }
}

static int check_dtypes(const graph *g, const graph_op *o, remat_dtype dt, remat_err *err)
{
    const char *why = NULL;
    int t = -1;
    remat_dtype want = dt;
    for (int k = 0; k < o->n_in && !why; k++)
        if (g->tensors[o->in[k]].dtype != (want = want_in(o, k, dt)))
            why = "input", t = o->in[k];
    for (int k = 0; k < o->n_param && !why; k++)
        if (g->tensors[o->param[k]].dtype != (want = dt))
            why = "parameter", t = o->param[k];
    for (int k = 0; k < o->n_extra && !why; k++)
        if (g->tensors[o->extra[k]].dtype != (want = want_extra(o, k, dt)))
            why = "extra", t = o->extra[k];
    if (!why && g->tensors[o->out].dtype != (want = o->kind == OP_LOSS ? DT_F32 : dt))
        why = "output", t = o->out;
    if (!why)
        return 0;
    const graph_tensor *x = &g->tensors[t];
    return remat_fail(err, x->dtype == DT_F16 || x->dtype == DT_BF16 || x->dtype == DT_F32 ? -ENOTSUP
                                                                                          : -EINVAL,
                      "op '%s': %s '%s' is %s; the CUDA kernels need %s there", o->name, why,
                      x->name, dtype_name(x->dtype), dtype_name(want));
}

int cuda_op_dims(const graph *g, int op, op_dims *d, remat_err *err)
{
    remat_dtype dt;
    int rc = cuda_graph_dtype(g, &dt, err);
    if (rc)
        return rc;
    if (op < 0 || op >= g->n_ops)
        return remat_fail(err, -EINVAL, "op index %d out of range", op);
    rc = check_dtypes(g, &g->ops[op], dt, err);
    if (rc)
        return rc;
    if (dt == DT_F32)
        return cpu_op_dims(g, op, d, err);
    /* an fp32 view: same shapes, act-dtype tensors relabelled fp32 */
    graph view = *g;
    view.tensors = malloc((size_t)g->n_tensors * sizeof *view.tensors);
    if (!view.tensors)
        return remat_fail(err, -ENOMEM, "out of memory");
    memcpy(view.tensors, g->tensors, (size_t)g->n_tensors * sizeof *view.tensors);
    for (int i = 0; i < g->n_tensors; i++)
        if (view.tensors[i].dtype == dt)
            view.tensors[i].dtype = DT_F32;
    view.dtype = view.param_dtype = DT_F32;
    rc = cpu_op_dims(&view, op, d, err);
    free(view.tensors);
    return rc;
}

/* ---------------------------------------------------------------- dispatch */

#define IN(k) data[o->in[k]]
#define PAR(k) data[o->param[k]]
#define EX(k) data[o->extra[k]]
#define OUT data[o->out]
#define GIN(k) grad[o->in[k]]
#define GPAR(k) grad[o->param[k]]

static size_t esize(remat_dtype dt) { return dt == DT_BF16 ? 2 : 4; }

int cuda_op_forward(const graph *g, int op, const op_dims *d, void *const *data, void *ws,
                    remat_dtype dt, cuda_blas *b)
{
    const graph_op *o = &g->ops[op];
    cudaStream_t s = cuda_blas_stream(b);
    switch (o->kind) {
    case OP_EMBEDDING:
        return embedding_forward_cuda(OUT, IN(0), PAR(0), o->n_param > 1 ? PAR(1) : NULL, d->B,
                                      d->T, d->C, dt, s);
    case OP_MATMUL:
        return matmul_forward_cuda(OUT, IN(0), PAR(0), d->has_bias ? PAR(1) : NULL, d->M, d->K,
                                   d->N, dt, b);
    case OP_LAYERNORM:
        return layernorm_forward_cuda(OUT, EX(0), EX(1), IN(0), PAR(0), PAR(1), d->rows, d->C,
                                      d->eps, dt, s);
    case OP_RMSNORM:
        return rmsnorm_forward_cuda(OUT, EX(0), IN(0), PAR(0), d->rows, d->C, d->eps, dt, s);
    case OP_GELU: return gelu_forward_cuda(OUT, IN(0), d->numel, dt, s);
    case OP_RELU: return relu_forward_cuda(OUT, IN(0), d->numel, dt, s);
    case OP_SWIGLU: return swiglu_forward_cuda(OUT, IN(0), IN(1), d->numel, dt, s);
    case OP_ADD: return add_forward_cuda(OUT, IN(0), IN(1), d->numel, dt, s);
    case OP_ROPE: return rope_forward_cuda(OUT, IN(0), d->B, d->T, d->H, d->D, d->theta, dt, s);
    case OP_SOFTMAX: return softmax_forward_cuda(OUT, IN(0), d->rows, d->C, dt, s);
    case OP_DROPOUT:
        return dropout_forward_cuda(OUT, EX(0), IN(0), d->numel, d->p, d->seed, dt, s);
    case OP_ATTENTION: {
        size_t es = esize(dt);
        const char *q, *k, *v;
        if (d->fused) {
            q = (const char *)IN(0) + d->q_off * es;
            k = (const char *)IN(0) + d->k_off * es;
            v = (const char *)IN(0) + d->v_off * es;
        } else {
            q = IN(0);
            k = IN(1);
            v = IN(2);
        }
        bool drop = o->n_extra > 1;
        return attention_forward_cuda(OUT, EX(0), drop ? EX(1) : NULL, drop ? EX(2) : NULL, q, k,
                                      v, d->B, d->T, d->H, d->KV, d->D, d->q_stride,
                                      d->kv_stride, d->causal, d->p, d->seed, dt, b);
    }
    case OP_LOSS:
        return crossentropy_forward_cuda(OUT, EX(0), IN(0), IN(1), d->rows, d->C, dt, s);
    case OP_CONV2D:
        return conv2d_forward_cuda(OUT, ws, IN(0), PAR(0), d->has_bias ? PAR(1) : NULL, d->B,
                                   d->Ci, d->Hh, d->Ww, d->Co, d->k, d->s, d->pad, dt, b);
    case OP_MAXPOOL:
        return maxpool_forward_cuda(OUT, EX(0), IN(0), d->B, d->C, d->Hh, d->Ww, d->k, d->s, dt,
                                    s);
    case OP_AVGPOOL: return avgpool_forward_cuda(OUT, IN(0), d->B, d->C, d->HW, dt, s);
    case OP_BATCHNORM:
        return batchnorm_forward_cuda(OUT, EX(0), EX(1), IN(0), PAR(0), PAR(1), d->B, d->C, d->HW,
                                      d->eps, dt, s);
    case OP_CONCAT:
        return concat_forward_cuda(OUT, IN(0), IN(1), d->B, d->Ca, d->Cb, d->HW, dt, s);
    case OP_UPSAMPLE: return upsample_forward_cuda(OUT, IN(0), d->B, d->C, d->Hh, d->Ww, dt, s);
    case OP_STAGE: return stage_forward_cuda(OUT, IN(0), PAR(0), d->rows, d->C, dt, s);
    default: return (int)cudaErrorNotSupported;
    }
}

int cuda_op_backward(const graph *g, int op, const op_dims *d, void *const *data,
                     void *const *grad, float dloss, void *ws, remat_dtype dt, cuda_blas *b)
{
    const graph_op *o = &g->ops[op];
    const void *dout = grad[o->out];
    cudaStream_t s = cuda_blas_stream(b);
    switch (o->kind) {
    case OP_EMBEDDING:
        return embedding_backward_cuda(GPAR(0), o->n_param > 1 ? GPAR(1) : NULL, dout, IN(0), d->B,
                                       d->T, d->C, dt, s);
    case OP_MATMUL:
        return matmul_backward_cuda(GIN(0), GPAR(0), d->has_bias ? GPAR(1) : NULL, dout, IN(0),
                                    PAR(0), d->M, d->K, d->N, dt, b);
    case OP_LAYERNORM:
        return layernorm_backward_cuda(GIN(0), GPAR(0), GPAR(1), dout, IN(0), PAR(0), EX(0), EX(1),
                                       d->rows, d->C, dt, s);
    case OP_RMSNORM:
        return rmsnorm_backward_cuda(GIN(0), GPAR(0), dout, IN(0), PAR(0), EX(0), d->rows, d->C,
                                     dt, s);
    case OP_GELU: return gelu_backward_cuda(GIN(0), dout, IN(0), d->numel, dt, s);
    case OP_RELU: return relu_backward_cuda(GIN(0), dout, OUT, d->numel, dt, s);
    case OP_SWIGLU:
        return swiglu_backward_cuda(GIN(0), GIN(1), dout, IN(0), IN(1), d->numel, dt, s);
    case OP_ADD: return add_backward_cuda(GIN(0), GIN(1), dout, d->numel, dt, s);
    case OP_ROPE:
        return rope_backward_cuda(GIN(0), dout, d->B, d->T, d->H, d->D, d->theta, dt, s);
    case OP_SOFTMAX: return softmax_backward_cuda(GIN(0), dout, OUT, d->rows, d->C, dt, s);
    case OP_DROPOUT: return dropout_backward_cuda(GIN(0), dout, EX(0), d->numel, d->p, dt, s);
    case OP_ATTENTION: {
        size_t es = esize(dt);
        const char *q, *k, *v;
        char *dq = NULL, *dk = NULL, *dv = NULL;
        if (d->fused) {
            q = (const char *)IN(0) + d->q_off * es;
            k = (const char *)IN(0) + d->k_off * es;
            v = (const char *)IN(0) + d->v_off * es;
            if (GIN(0)) {
                dq = (char *)GIN(0) + d->q_off * es;
                dk = (char *)GIN(0) + d->k_off * es;
                dv = (char *)GIN(0) + d->v_off * es;
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
        return attention_backward_cuda(dq, dk, dv, ws, dout, q, k, v, EX(0),
                                       drop ? EX(1) : NULL, drop ? EX(2) : NULL, d->B, d->T, d->H,
                                       d->KV, d->D, d->q_stride, d->kv_stride, d->causal, d->p,
                                       dt, b);
    }
    case OP_LOSS:
        return crossentropy_backward_cuda(GIN(0), IN(0), IN(1), EX(0), dloss, d->rows, d->C, dt,
                                          s);
    case OP_CONV2D:
        return conv2d_backward_cuda(GIN(0), GPAR(0), d->has_bias ? GPAR(1) : NULL, ws, dout,
                                    IN(0), PAR(0), d->B, d->Ci, d->Hh, d->Ww, d->Co, d->k, d->s,
                                    d->pad, dt, b);
    case OP_MAXPOOL:
        return maxpool_backward_cuda(GIN(0), dout, EX(0), d->B, d->C, d->Hh, d->Ww, d->k, d->s, dt,
                                     s);
    case OP_AVGPOOL: return avgpool_backward_cuda(GIN(0), dout, d->B, d->C, d->HW, dt, s);
    case OP_BATCHNORM:
        return batchnorm_backward_cuda(GIN(0), GPAR(0), GPAR(1), dout, IN(0), PAR(0), EX(0),
                                       EX(1), d->B, d->C, d->HW, dt, s);
    case OP_CONCAT:
        return concat_backward_cuda(GIN(0), GIN(1), dout, d->B, d->Ca, d->Cb, d->HW, dt, s);
    case OP_UPSAMPLE:
        return upsample_backward_cuda(GIN(0), dout, d->B, d->C, d->Hh, d->Ww, dt, s);
    case OP_STAGE:
        return stage_backward_cuda(GIN(0), GPAR(0), dout, IN(0), OUT, PAR(0), d->rows, d->C, dt, s);
    default: return (int)cudaErrorNotSupported;
    }
}
