/* executor/cuda/kernels.h — the CUDA twins of executor/cpu/kernels.h, callable from C.
 *
 * Every launcher keeps its CPU twin's argument order (outputs, inputs, dimensions,
 * then the op's scalars) and appends the storage dtype `dt` and the stream (or, for
 * the ops built on cuBLAS, a cuda_blas context that carries the stream). Tensors
 * marked "act" below are stored in dt: DT_F32 or DT_BF16; statistics (mean, rstd,
 * lse), the loss and optimizer moments are fp32, masks u8, ids i32. Arithmetic is
 * fp32 (bf16 is loaded, widened, computed in fp32 and rounded once on store).
 *
 * As on the CPU, every backward ACCUMULATES (+=) into its gradients and a NULL
 * gradient pointer is skipped. No launcher allocates device memory: scratch is the
 * caller's (attention backward: 2*T*T*4 bytes, conv2d: the CPU's im2col sizes), so
 * the executor's tracked allocator sees every byte. Reductions run in a fixed order
 * (no atomics), so results are bitwise reproducible run to run; the dropout masks
 * are the CPU's, bit for bit (same counter-based hash).
 *
 * Launchers only enqueue work; they return 0 or a nonzero code (a cudaError_t, or
 * CUDA_KERNELS_BLAS_ERR + cublasStatus_t) that cuda_kernels_errstr() explains. */
#ifndef REMAT_EXECUTOR_CUDA_KERNELS_H
#define REMAT_EXECUTOR_CUDA_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "models/graph.h"

#define CUDA_KERNELS_BLAS_ERR 100000

/* A one-line description of a launcher's return code. */
const char *cuda_kernels_errstr(int code);

/* Whether the launchers store dt (DT_F32 and DT_BF16). */
bool cuda_kernels_dtype_ok(remat_dtype dt);

/* ---------------------------------------------------------------- cuBLAS context */

/* cuBLAS and cuBLASLt handles bound to one stream and one caller-owned workspace
 * (cublasSetWorkspace; NULL/0 means "no workspace", which cuBLAS supports). Matmuls
 * run in fp32 compute (CUBLAS_COMPUTE_32F, no TF32), so fp32 results track the CPU. */
typedef struct cuda_blas cuda_blas;

/* Returns 0 or a launcher code; *out is NULL on error. */
int cuda_blas_create(cuda_blas **out, cudaStream_t stream, void *workspace, size_t ws_bytes);
/* Replaces the workspace (same meaning as in cuda_blas_create). Returns 0 or a code. */
int cuda_blas_set_workspace(cuda_blas *b, void *workspace, size_t ws_bytes);
void cuda_blas_destroy(cuda_blas *b);
cudaStream_t cuda_blas_stream(const cuda_blas *b);

/* ---------------------------------------------------------------- embedding */

/* out [B,T,C] act = wte[tokens] (+ wpe[t]); tokens [B,T] i32, wte [V,C], wpe [maxT,C]. */
int embedding_forward_cuda(void *out, const int32_t *tokens, const void *wte, const void *wpe,
                           int64_t B, int64_t T, int64_t C, remat_dtype dt, cudaStream_t s);
/* dwte [V,C] += scatter of dout by tokens (token order, as the CPU); dwpe [maxT,C] +=
 * sum over b. */
int embedding_backward_cuda(void *dwte, void *dwpe, const void *dout, const int32_t *tokens,
                            int64_t B, int64_t T, int64_t C, remat_dtype dt, cudaStream_t s);

/* ---------------------------------------------------------------- normalisation */

/* out [N,C] act, mean/rstd [N] fp32, inp [N,C], weight/bias [C]. */
int layernorm_forward_cuda(void *out, float *mean, float *rstd, const void *inp,
                           const void *weight, const void *bias, int64_t N, int64_t C,
                           float eps, remat_dtype dt, cudaStream_t s);
int layernorm_backward_cuda(void *dinp, void *dweight, void *dbias, const void *dout,
                            const void *inp, const void *weight, const float *mean,
                            const float *rstd, int64_t N, int64_t C, remat_dtype dt,
                            cudaStream_t s);
int rmsnorm_forward_cuda(void *out, float *rstd, const void *inp, const void *weight, int64_t N,
                         int64_t C, float eps, remat_dtype dt, cudaStream_t s);
int rmsnorm_backward_cuda(void *dinp, void *dweight, const void *dout, const void *inp,
                          const void *weight, const float *rstd, int64_t N, int64_t C,
                          remat_dtype dt, cudaStream_t s);

/* ---------------------------------------------------------------- matmul (cuBLASLt) */

/* out [M,N] = inp [M,K] @ weight [N,K]^T (+ bias [N]). */
int matmul_forward_cuda(void *out, const void *inp, const void *weight, const void *bias,
                        int64_t M, int64_t K, int64_t N, remat_dtype dt, cuda_blas *b);
/* dinp += dout @ weight; dweight += dout^T @ inp; dbias += column sums of dout. */
int matmul_backward_cuda(void *dinp, void *dweight, void *dbias, const void *dout,
                         const void *inp, const void *weight, int64_t M, int64_t K, int64_t N,
                         remat_dtype dt, cuda_blas *b);

/* ---------------------------------------------------------------- attention */

/* As attention_forward (executor/cpu/kernels.h): q/k/v strided rows, GQA, probs
 * [B,H,T,T] act (scores are computed into it), mask u8 and dropped act when p > 0.
 * QK^T and AV are cuBLAS strided-batched GEMMs (one call per head, batched over B). */
int attention_forward_cuda(void *out, void *probs, uint8_t *mask, void *dropped, const void *q,
                           const void *k, const void *v, int64_t B, int64_t T, int64_t H,
                           int64_t KV, int64_t D, int64_t q_stride, int64_t kv_stride,
                           bool causal, float p, uint64_t seed, remat_dtype dt, cuda_blas *b);
/* ws: attention_backward_ws_bytes_cuda(T) bytes, the CPU's 2*T*T floats: one (b,h)
 * slice of d(probs) in fp32 and of d(scores) in dt, processed slice by slice. */
int attention_backward_cuda(void *dq, void *dk, void *dv, void *ws, const void *dout,
                            const void *q, const void *k, const void *v, const void *probs,
                            const uint8_t *mask, const void *dropped, int64_t B, int64_t T,
                            int64_t H, int64_t KV, int64_t D, int64_t q_stride,
                            int64_t kv_stride, bool causal, float p, remat_dtype dt,
                            cuda_blas *b);
int64_t attention_backward_ws_bytes_cuda(int64_t T);

/* ---------------------------------------------------------------- rope */

int rope_forward_cuda(void *out, const void *inp, int64_t B, int64_t T, int64_t H, int64_t D,
                      double theta, remat_dtype dt, cudaStream_t s);
int rope_backward_cuda(void *dinp, const void *dout, int64_t B, int64_t T, int64_t H, int64_t D,
                       double theta, remat_dtype dt, cudaStream_t s);

/* ---------------------------------------------------------------- elementwise */

int gelu_forward_cuda(void *out, const void *inp, int64_t N, remat_dtype dt, cudaStream_t s);
int gelu_backward_cuda(void *dinp, const void *dout, const void *inp, int64_t N, remat_dtype dt,
                       cudaStream_t s);
int swiglu_forward_cuda(void *out, const void *gate, const void *up, int64_t N, remat_dtype dt,
                        cudaStream_t s);
int swiglu_backward_cuda(void *dgate, void *dup, const void *dout, const void *gate,
                         const void *up, int64_t N, remat_dtype dt, cudaStream_t s);
int add_forward_cuda(void *out, const void *a, const void *b, int64_t N, remat_dtype dt,
                     cudaStream_t s);
int add_backward_cuda(void *da, void *db, const void *dout, int64_t N, remat_dtype dt,
                      cudaStream_t s);
int relu_forward_cuda(void *out, const void *inp, int64_t N, remat_dtype dt, cudaStream_t s);
int relu_backward_cuda(void *dinp, const void *dout, const void *out, int64_t N, remat_dtype dt,
                       cudaStream_t s);
int stage_forward_cuda(void *out, const void *inp, const void *w, int64_t B, int64_t W,
                       remat_dtype dt, cudaStream_t s);
int stage_backward_cuda(void *dinp, void *dw, const void *dout, const void *inp, const void *out,
                        const void *w, int64_t B, int64_t W, remat_dtype dt, cudaStream_t s);
int dropout_forward_cuda(void *out, uint8_t *mask, const void *inp, int64_t N, float p,
                         uint64_t seed, remat_dtype dt, cudaStream_t s);
int dropout_backward_cuda(void *dinp, const void *dout, const uint8_t *mask, int64_t N, float p,
                          remat_dtype dt, cudaStream_t s);
int softmax_forward_cuda(void *out, const void *inp, int64_t N, int64_t C, remat_dtype dt,
                         cudaStream_t s);
int softmax_backward_cuda(void *dinp, const void *dout, const void *out, int64_t N, int64_t C,
                          remat_dtype dt, cudaStream_t s);

/* ---------------------------------------------------------------- loss */

/* loss [1] fp32 (mean over rows, reduced in a fixed order), lse [N] fp32,
 * logits [N,V] act, targets [N] i32. */
int crossentropy_forward_cuda(float *loss, float *lse, const void *logits,
                              const int32_t *targets, int64_t N, int64_t V, remat_dtype dt,
                              cudaStream_t s);
int crossentropy_backward_cuda(void *dlogits, const void *logits, const int32_t *targets,
                               const float *lse, float dloss, int64_t N, int64_t V,
                               remat_dtype dt, cudaStream_t s);

/* ---------------------------------------------------------------- CNN */

/* ws: the CPU's conv2d_ws_floats()*4 bytes (im2col of one image; backward also its
 * gradient). The im2col buffers hold dt elements, so bf16 uses half of ws. One
 * cuBLAS GEMM per image, as on the CPU. */
int conv2d_forward_cuda(void *out, void *ws, const void *inp, const void *weight,
                        const void *bias, int64_t B, int64_t Ci, int64_t H, int64_t W,
                        int64_t Co, int64_t k, int64_t s, int64_t pad, remat_dtype dt,
                        cuda_blas *b);
int conv2d_backward_cuda(void *dinp, void *dweight, void *dbias, void *ws, const void *dout,
                         const void *inp, const void *weight, int64_t B, int64_t Ci, int64_t H,
                         int64_t W, int64_t Co, int64_t k, int64_t s, int64_t pad,
                         remat_dtype dt, cuda_blas *b);
int batchnorm_forward_cuda(void *out, float *mean, float *rstd, const void *inp,
                           const void *gamma, const void *beta, int64_t B, int64_t C, int64_t HW,
                           float eps, remat_dtype dt, cudaStream_t s);
int batchnorm_backward_cuda(void *dinp, void *dgamma, void *dbeta, const void *dout,
                            const void *inp, const void *gamma, const float *mean,
                            const float *rstd, int64_t B, int64_t C, int64_t HW, remat_dtype dt,
                            cudaStream_t s);
int maxpool_forward_cuda(void *out, int32_t *argmax, const void *inp, int64_t B, int64_t C,
                         int64_t H, int64_t W, int64_t k, int64_t s, remat_dtype dt,
                         cudaStream_t st);
int maxpool_backward_cuda(void *dinp, const void *dout, const int32_t *argmax, int64_t B,
                          int64_t C, int64_t H, int64_t W, int64_t k, int64_t s, remat_dtype dt,
                          cudaStream_t st);
int avgpool_forward_cuda(void *out, const void *inp, int64_t B, int64_t C, int64_t HW,
                         remat_dtype dt, cudaStream_t s);
int avgpool_backward_cuda(void *dinp, const void *dout, int64_t B, int64_t C, int64_t HW,
                          remat_dtype dt, cudaStream_t s);
int concat_forward_cuda(void *out, const void *a, const void *b, int64_t B, int64_t Ca,
                        int64_t Cb, int64_t HW, remat_dtype dt, cudaStream_t s);
int concat_backward_cuda(void *da, void *db, const void *dout, int64_t B, int64_t Ca, int64_t Cb,
                         int64_t HW, remat_dtype dt, cudaStream_t s);
int upsample_forward_cuda(void *out, const void *inp, int64_t B, int64_t C, int64_t H, int64_t W,
                          remat_dtype dt, cudaStream_t s);
int upsample_backward_cuda(void *dinp, const void *dout, int64_t B, int64_t C, int64_t H,
                           int64_t W, remat_dtype dt, cudaStream_t s);

/* ---------------------------------------------------------------- optimizer */

/* One AdamW step t >= 1 with adamw_step's arithmetic (executor/cpu/kernels.h): the
 * scalars are formed in double on the host and rounded once to fp32. param [n] in dt;
 * m, v [n] fp32; grad [n] in dt. master [n] fp32 or NULL: under mixed precision the
 * update is applied to master and param = round(master). */
int adamw_step_cuda(void *param, float *master, float *m, float *v, const void *grad, int64_t n,
                    double lr, double beta1, double beta2, double eps, double weight_decay,
                    int64_t t, remat_dtype dt, cudaStream_t s);
/* SGD (momentum == NULL) or SGD with momentum: buf = mu*buf + g; param -= lr*buf. */
int sgd_step_cuda(void *param, float *master, float *momentum, const void *grad, int64_t n,
                  double lr, double mu, remat_dtype dt, cudaStream_t s);

/* ---------------------------------------------------------------- utilities */

/* dst [n] fp32 = widen(src [n] in dt). */
int cuda_to_f32(float *dst, const void *src, int64_t n, remat_dtype dt, cudaStream_t s);
/* dst [n] in dt = round(src [n] fp32). */
int cuda_from_f32(void *dst, const float *src, int64_t n, remat_dtype dt, cudaStream_t s);
/* dst [n] in dt = scale * kernel_normal(seed, i) (the CPU's Box-Muller, on the device). */
int cuda_fill_normal(void *dst, int64_t n, uint64_t seed, float scale, remat_dtype dt,
                     cudaStream_t s);
/* dst [n] i32 uniform in [0, bound) from (seed, i). */
int cuda_fill_ids(int32_t *dst, int64_t n, uint64_t seed, int64_t bound, cudaStream_t s);

#ifdef __cplusplus
}
#endif

#endif
