/* executor/cuda/ops.h — graph op -> CUDA launcher dispatch (private to executor/cuda
 * and profiler/cupti.cu). cuda_op_dims checks one op exactly as the CPU executor
 * does (cpu_op_dims: docs/op-conventions.md shapes, saved list, workspace), with the
 * CUDA executor's dtype rules instead of fp32-only: activations and parameters in
 * the graph's dtype (fp32 or bf16), statistics and the loss fp32, masks u8, ids and
 * argmax i32. The dispatchers then call the launchers of kernels.h with device
 * buffers looked up by tensor index, so the runner and the profiler share one path. */
#ifndef REMAT_EXECUTOR_CUDA_OPS_H
#define REMAT_EXECUTOR_CUDA_OPS_H

#include "executor/cuda/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "executor/cpu/ops.h"

/* Checks the graph-wide rules (activation dtype fp32 or bf16, parameters in the same
 * dtype). Returns 0 or -ENOTSUP with a one-line reason. */
int cuda_graph_dtype(const graph *g, remat_dtype *dt, remat_err *err);

/* Checks op `op` of g and fills *d (the CPU executor's op_dims). Returns 0, -EINVAL
 * (malformed op) or -ENOTSUP (a dtype the CUDA kernels do not store), naming the op. */
int cuda_op_dims(const graph *g, int op, op_dims *d, remat_err *err);

/* Runs the forward launchers of op. data[i]: device buffer of tensor i; ws: at
 * least op.ws_fwd bytes. Returns 0 or a launcher code (cuda_kernels_errstr). */
int cuda_op_forward(const graph *g, int op, const op_dims *d, void *const *data, void *ws,
                    remat_dtype dt, cuda_blas *b);

/* Runs the backward launchers, accumulating. grad[i]: device gradient of tensor i or
 * NULL; grad[out] is the output's gradient (ignored for the loss, seeded by dloss). */
int cuda_op_backward(const graph *g, int op, const op_dims *d, void *const *data,
                     void *const *grad, float dloss, void *ws, remat_dtype dt, cuda_blas *b);

#ifdef __cplusplus
}
#endif

#endif
