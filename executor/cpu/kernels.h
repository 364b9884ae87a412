/* executor/cpu/kernels.h — the CPU training kernels, fp32, in forward/backward pairs.
 *
 * Argument order follows llm.c's train_gpt2.c: outputs, inputs, dimensions. Every
 * backward ACCUMULATES (+=) into its input and parameter gradients, so an activation
 * read by several ops (the residual stream) and a parameter used twice (tied
 * embeddings) get the sum; a NULL gradient pointer means "not needed" and is skipped.
 * The ops, their inputs, extras and saved tensors are those of docs/op-conventions.md;
 * a backward reads only what that table saves. No kernel allocates: scratch comes from
 * the caller (attention backward's 2*T*T floats, conv2d's im2col buffer), so every
 * byte is counted by the executor's tracked allocator. Matrix products go through
 * OpenBLAS cblas_sgemm. Results are deterministic for a fixed OpenBLAS thread count.
 */
#ifndef REMAT_EXECUTOR_CPU_KERNELS_H
#define REMAT_EXECUTOR_CPU_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

/* ---------------------------------------------------------------- counter-based RNG */

/* splitmix64's finaliser: a bijective 64-bit mix. */
static inline uint64_t kernel_mix64(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* Uniform in [0, 1) from (seed, counter): a pure function, 53 bits. */
static inline double kernel_uniform(uint64_t seed, uint64_t counter)
{
    return (double)(kernel_mix64(seed ^ kernel_mix64(counter)) >> 11) * 0x1p-53;
}

/* Dropout decision for element e of an op seeded with seed: kept with probability
 * 1 - p. A pure function of (seed, e), so a recomputation reproduces the mask. */
static inline uint8_t dropout_keep(uint64_t seed, int64_t e, double p)
{
    return kernel_uniform(seed, (uint64_t)e) >= p;
}

/* Standard normal from (seed, counter) by Box-Muller on two counter draws. */
double kernel_normal(uint64_t seed, uint64_t counter);

/* ---------------------------------------------------------------- embedding */

/* out [B,T,C] = wte[tokens[b,t]] (+ wpe[t] when wpe != NULL).
 * tokens [B,T] in [0, V), wte [V,C], wpe [maxT >= T, C]. */
void embedding_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                       int64_t B, int64_t T, int64_t C);
/* dwte [V,C] += scatter of dout [B,T,C] by tokens; dwpe [maxT,C] += sum over b. */
void embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                        int64_t B, int64_t T, int64_t C);

/* ---------------------------------------------------------------- normalisation */

/* N rows of C: out [N,C], mean [N], rstd [N], inp [N,C], weight [C], bias [C]. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *weight, const float *bias, int64_t N, int64_t C, float eps);
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int64_t N, int64_t C);

/* out = inp * rstd * weight, rstd = 1/sqrt(mean(inp^2) + eps). out/inp [N,C], rstd [N],
 * weight [C]. */
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int64_t N,
                     int64_t C, float eps);
void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                      const float *weight, const float *rstd, int64_t N, int64_t C);

/* ---------------------------------------------------------------- matmul */

/* out [M,N] = inp [M,K] @ weight[N,K]^T (+ bias [N] when non-NULL). */
void matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int64_t M, int64_t K, int64_t N);
/* dinp [M,K] += dout @ weight; dweight [N,K] += dout^T @ inp; dbias [N] += colsum. */
void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int64_t M, int64_t K, int64_t N);

/* ---------------------------------------------------------------- attention */

/* Scaled dot-product attention with grouped K/V heads (GQA: query head h reads K/V
 * head h / (H/KV)) and optional dropout on the probabilities.
 * q: row (b,t) at q + (b*T+t)*q_stride, head h at + h*D;  [B,T,H*D] (strided)
 * k, v: row (b,t) at + (b*T+t)*kv_stride, head g at + g*D; [B,T,KV*D] (strided)
 * (fused qkv [B,T,(H+2KV)*D]: q = qkv, k = qkv + H*D, v = qkv + (H+KV)*D, both strides
 * (H+2KV)*D; separate tensors: q_stride H*D, kv_stride KV*D.)
 * out [B,T,H*D]; probs [B,H,T,T] (softmax of scale*q.k, 0 above the diagonal when
 * causal); when p > 0: mask [B,H,T,T] (dropout_keep(seed, index)) and dropped
 * [B,H,T,T] = probs*mask/(1-p), which then multiplies v. scale = 1/sqrt(D). */
void attention_forward(float *out, float *probs, uint8_t *mask, float *dropped, const float *q,
                       const float *k, const float *v, int64_t B, int64_t T, int64_t H,
                       int64_t KV, int64_t D, int64_t q_stride, int64_t kv_stride, bool causal,
                       float p, uint64_t seed);
/* dq, dk, dv: same layouts and strides as q, k, v (may alias one fused buffer).
 * ws: 2*T*T floats of scratch (one (b,h) slice of d(probs) and d(scores)). */
void attention_backward(float *dq, float *dk, float *dv, float *ws, const float *dout,
                        const float *q, const float *k, const float *v, const float *probs,
                        const uint8_t *mask, const float *dropped, int64_t B, int64_t T,
                        int64_t H, int64_t KV, int64_t D, int64_t q_stride, int64_t kv_stride,
                        bool causal, float p);
/* Scratch attention_backward needs, in floats. */
int64_t attention_backward_ws_floats(int64_t T);

/* ---------------------------------------------------------------- rope */

/* Rotary embedding, rotate-half (Hugging Face Llama) convention, position = t:
 * for i < D/2, angle = t * theta^(-2i/D):
 * out[i] = x[i] cos - x[i+D/2] sin, out[i+D/2] = x[i+D/2] cos + x[i] sin.
 * out/inp [B,T,H*D]; D even. */
void rope_forward(float *out, const float *inp, int64_t B, int64_t T, int64_t H, int64_t D,
                  double theta);
/* dinp [B,T,H*D] += the transposed rotation of dout. */
void rope_backward(float *dinp, const float *dout, int64_t B, int64_t T, int64_t H, int64_t D,
                   double theta);

/* ---------------------------------------------------------------- elementwise */

/* tanh-approximate GELU. out/inp [N]. */
void gelu_forward(float *out, const float *inp, int64_t N);
void gelu_backward(float *dinp, const float *dout, const float *inp, int64_t N);

/* out [N] = silu(gate) * up. */
void swiglu_forward(float *out, const float *gate, const float *up, int64_t N);
void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                     const float *up, int64_t N);

/* out [N] = a + b. */
void add_forward(float *out, const float *a, const float *b, int64_t N);
void add_backward(float *da, float *db, const float *dout, int64_t N);

/* out [N] = max(inp, 0); backward reads out. */
void relu_forward(float *out, const float *inp, int64_t N);
void relu_backward(float *dinp, const float *dout, const float *out, int64_t N);

/* out [B,W] = tanh(w[j] * inp[b,j]), w [W]; backward reads inp and out. */
void stage_forward(float *out, const float *inp, const float *w, int64_t B, int64_t W);
void stage_backward(float *dinp, float *dw, const float *dout, const float *inp,
                    const float *out, const float *w, int64_t B, int64_t W);

/* mask [N] = dropout_keep(seed, i); out [N] = inp * mask / (1-p). */
void dropout_forward(float *out, uint8_t *mask, const float *inp, int64_t N, float p,
                     uint64_t seed);
void dropout_backward(float *dinp, const float *dout, const uint8_t *mask, int64_t N, float p);

/* Softmax over the last dim: out/inp [N,C]; backward reads out. */
void softmax_forward(float *out, const float *inp, int64_t N, int64_t C);
void softmax_backward(float *dinp, const float *dout, const float *out, int64_t N, int64_t C);

/* ---------------------------------------------------------------- loss */

/* Mean softmax cross-entropy over N rows: loss [1], lse [N] (log-sum-exp of each row),
 * logits [N,V], targets [N] in [0, V). */
void crossentropy_forward(float *loss, float *lse, const float *logits, const int32_t *targets,
                          int64_t N, int64_t V);
/* dlogits [N,V] += dloss * (softmax(logits) - onehot(targets)) / N, the softmax
 * recomputed from logits and lse. */
void crossentropy_backward(float *dlogits, const float *logits, const int32_t *targets,
                           const float *lse, float dloss, int64_t N, int64_t V);

/* ---------------------------------------------------------------- CNN */

/* conv2d, NCHW, square kernel k, stride s, zero padding pad.
 * out [B,Co,Ho,Wo], inp [B,Ci,H,W], weight [Co,Ci,k,k], bias [Co] or NULL,
 * Ho = (H + 2pad - k)/s + 1. ws: conv2d_ws_floats(fwd) floats (im2col of one image). */
void conv2d_forward(float *out, float *ws, const float *inp, const float *weight,
                    const float *bias, int64_t B, int64_t Ci, int64_t H, int64_t W, int64_t Co,
                    int64_t k, int64_t s, int64_t pad);
/* dinp [B,Ci,H,W] (may be NULL), dweight, dbias (may be NULL) += ...; ws: twice the
 * forward's (the im2col of one image and its gradient). */
void conv2d_backward(float *dinp, float *dweight, float *dbias, float *ws, const float *dout,
                     const float *inp, const float *weight, int64_t B, int64_t Ci, int64_t H,
                     int64_t W, int64_t Co, int64_t k, int64_t s, int64_t pad);
/* Scratch floats for one direction: Ci*k*k*Ho*Wo forward, twice that backward. */
int64_t conv2d_ws_floats(int64_t Ci, int64_t H, int64_t W, int64_t k, int64_t s, int64_t pad,
                         bool backward);

/* Batch normalisation with batch statistics over (B,H,W) per channel.
 * out/inp [B,C,HW], mean/rstd [C], gamma/beta [C]. Biased variance. */
void batchnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *gamma, const float *beta, int64_t B, int64_t C, int64_t HW,
                       float eps);
void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *gamma, const float *mean,
                        const float *rstd, int64_t B, int64_t C, int64_t HW);

/* Max pooling k x k, stride s, no padding: out/argmax [B,C,Ho,Wo], inp [B,C,H,W];
 * argmax holds the flat index in the H*W plane. Backward reads argmax only. */
void maxpool_forward(float *out, int32_t *argmax, const float *inp, int64_t B, int64_t C,
                     int64_t H, int64_t W, int64_t k, int64_t s);
void maxpool_backward(float *dinp, const float *dout, const int32_t *argmax, int64_t B,
                      int64_t C, int64_t H, int64_t W, int64_t k, int64_t s);

/* Global average pooling: out [B,C] = mean of inp [B,C,HW]. */
void avgpool_forward(float *out, const float *inp, int64_t B, int64_t C, int64_t HW);
void avgpool_backward(float *dinp, const float *dout, int64_t B, int64_t C, int64_t HW);

/* Channel concatenation: out [B,Ca+Cb,HW] from a [B,Ca,HW], b [B,Cb,HW]. */
void concat_forward(float *out, const float *a, const float *b, int64_t B, int64_t Ca,
                    int64_t Cb, int64_t HW);
void concat_backward(float *da, float *db, const float *dout, int64_t B, int64_t Ca, int64_t Cb,
                     int64_t HW);

/* Nearest 2x upsampling: out [B,C,2H,2W] from inp [B,C,H,W]. */
void upsample_forward(float *out, const float *inp, int64_t B, int64_t C, int64_t H, int64_t W);
void upsample_backward(float *dinp, const float *dout, int64_t B, int64_t C, int64_t H,
                       int64_t W);

/* ---------------------------------------------------------------- optimizer */

/* Doubles, like the Python floats torch.optim keeps: derived scalars (1 - beta,
 * lr * wd, bias corrections) are formed in double and rounded once to fp32. */
typedef struct adamw_hparams {
    double lr;            /* 1e-3 */
    double beta1, beta2;  /* 0.9, 0.999 */
    double eps;           /* 1e-8 */
    double weight_decay;  /* 0.01 (decoupled, AdamW) */
} adamw_hparams;

/* One AdamW step t >= 1 (torch.optim.AdamW semantics): param *= 1 - lr*wd;
 * m += (1-beta1)(g - m); v = beta2 v + (1-beta2) g^2;
 * param -= lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps).
 * param, m, v, grad [n]. */
void adamw_step(float *param, float *m, float *v, const float *grad, int64_t n,
                const adamw_hparams *h, int64_t t);

#endif
