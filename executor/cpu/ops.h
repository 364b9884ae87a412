/* executor/cpu/ops.h — graph op -> CPU kernel dispatch (private to executor/).
 * cpu_op_dims checks one op against docs/op-conventions.md (tensor counts, dtypes,
 * shapes, saved list, workspace) and derives the kernel's dimensions; the forward
 * and backward dispatchers then call the kernels with buffers looked up by tensor
 * index, so the step runner and the CPU profiler share one path. */
#ifndef REMAT_EXECUTOR_CPU_OPS_H
#define REMAT_EXECUTOR_CPU_OPS_H

#include "executor/cpu/kernels.h"
#include "models/graph.h"

typedef struct op_dims {
    int64_t rows, C;          /* row-wise ops: rows x C (C: last dim / features) */
    int64_t numel;            /* elementwise ops */
    int64_t B, T;             /* embedding, attention, rope */
    int64_t M, K, N;          /* matmul: [M,K] x [N,K]^T */
    int64_t H, KV, D;         /* attention, rope */
    int64_t q_stride, kv_stride;
    int64_t q_off, k_off, v_off; /* fused qkv: offsets of q, k, v in a row */
    int64_t Ci, Co, Hh, Ww, k, s, pad; /* conv2d, maxpool, batchnorm, upsample */
    int64_t Ca, Cb, HW;       /* concat, batchnorm, avgpool */
    bool causal, fused, has_bias;
    float eps, p;
    double theta;
    uint64_t seed;
    int64_t ws_fwd, ws_bwd;   /* scratch bytes the kernels need */
} op_dims;

/* Checks op `op` of g and fills *d. Returns 0, -EINVAL (malformed op) or -ENOTSUP
 * (a dtype the CPU kernels do not implement), naming the op. */
int cpu_op_dims(const graph *g, int op, op_dims *d, remat_err *err);

/* The non-parameter tensors the op's backward kernel reads (all of them must be in
 * op.saved). Returns the count written to t (at most GRAPH_MAX_SAVED). */
int cpu_op_bwd_reads(const graph *g, int op, int *t);

/* Runs the forward kernel. data[i]: buffer of tensor i (inputs, params, output and
 * extras must be set). ws: at least d->ws_fwd bytes. */
void cpu_op_forward(const graph *g, int op, const op_dims *d, void *const *data, void *ws);

/* Runs the backward kernel, accumulating. grad[i]: gradient of tensor i or NULL when
 * not wanted (frozen parameter, input without needs_grad); grad[out] is the output's
 * gradient (ignored for the loss, whose seed is dloss). ws: d->ws_bwd bytes. */
void cpu_op_backward(const graph *g, int op, const op_dims *d, void *const *data,
                     float *const *grad, float dloss, void *ws);

/* Deterministic initial value of element i of parameter tensor t (see cpu_exec_init). */
void cpu_param_init(const graph *g, int t, uint64_t seed, float *buf);
/* Deterministic synthetic data for an INPUT tensor: i32 ids uniform in [0, bound),
 * floats N(0, 1). bound: cpu_input_bound(). */
void cpu_input_init(const graph *g, int t, uint64_t seed, void *buf);
/* Exclusive upper bound for the ids of an i32 INPUT (the smallest vocabulary among
 * its consumers), or -1 when it feeds no embedding or loss. */
int64_t cpu_input_bound(const graph *g, int t);

#endif
