/* executor/cuda/kernels.cu — the CUDA kernels that need no cuBLAS: embedding,
 * normalisations, elementwise ops, dropout, softmax, cross-entropy, rope, the CNN
 * helpers and the optimizers (contract in kernels.h). Each mirrors its CPU twin's
 * arithmetic; reductions use fixed-order trees so results are reproducible, and
 * parameter-gradient reductions (column sums) never use atomics. */
#include <math.h>

#include "executor/cuda/common.cuh"

#define GELU_SCALING_FACTOR 0.7978845608028654f

const char *cuda_kernels_errstr(int code)
{
    if (code >= CUDA_KERNELS_BLAS_ERR) {
        switch (code - CUDA_KERNELS_BLAS_ERR) {
        case 1: return "cuBLAS: library not initialized";
        case 3: return "cuBLAS: resource allocation failed";
        case 7: return "cuBLAS: invalid value";
        case 8: return "cuBLAS: architecture mismatch";
        case 13: return "cuBLAS: execution failed";
        case 14: return "cuBLAS: internal error";
        case 15: return "cuBLAS: not supported";
        case 999: return "cuBLASLt: no algorithm for this matmul";
        default: return "cuBLAS: error";
        }
    }
    return cudaGetErrorString((cudaError_t)code);
}

bool cuda_kernels_dtype_ok(remat_dtype dt) { return dt == DT_F32 || dt == DT_BF16; }

/* ---------------------------------------------------------------- column sums */

/* dst_a[c] += sum_r fa(r, c) and dst_b[c] += sum_r fb(r, c) over r < rows, for c < C.
 * Block (32, CS_ROWS): x picks the column, y strides the rows; partials are summed in
 * y order. Deterministic, no atomics. F::operator()(r, c, &a, &b). */
#define CS_ROWS 16
template <typename T, typename F>
__global__ void colsum_kernel(T *dst_a, T *dst_b, int64_t rows, int64_t C, F f)
{
    __shared__ float sa[CS_ROWS][33], sb[CS_ROWS][33];
    int64_t c = (int64_t)blockIdx.x * 32 + threadIdx.x;
    float a = 0.0f, b = 0.0f;
    if (c < C)
        for (int64_t r = threadIdx.y; r < rows; r += CS_ROWS) {
            float x = 0.0f, y = 0.0f;
            f(r, c, &x, &y);
            a += x;
            b += y;
        }
    sa[threadIdx.y][threadIdx.x] = a;
    sb[threadIdx.y][threadIdx.x] = b;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float ta = 0.0f, tb = 0.0f;
        for (int k = 0; k < CS_ROWS; k++) {
            ta += sa[k][threadIdx.x];
            tb += sb[k][threadIdx.x];
        }
        if (dst_a)
            acc(dst_a, c, ta);
        if (dst_b)
            acc(dst_b, c, tb);
    }
}

template <typename T, typename F> static int colsum(T *a, T *b, int64_t rows, int64_t C, F f,
                                                    cudaStream_t s)
{
    if (!a && !b)
        return 0;
    dim3 block(32, CS_ROWS);
    colsum_kernel<T, F><<<(unsigned)((C + 31) / 32), block, 0, s>>>(a, b, rows, C, f);
    return launch_status();
}

/* ---------------------------------------------------------------- embedding */

template <typename T>
__global__ void embedding_fwd_k(T *out, const int32_t *tok, const T *wte, const T *wpe,
                                int64_t BT, int64_t T_, int64_t C)
{
    GRID_STRIDE(i, BT * C)
    {
        int64_t n = i / C, c = i % C;
        float v = ld(wte, (int64_t)tok[n] * C + c);
        if (wpe)
            v = v + ld(wpe, (n % T_) * C + c);
        st(out, i, v);
    }
}

/* Thread (c, seg) adds, in token order, the rows of the tokens with id % EMB_SEGS ==
 * seg: disjoint rows per thread, and per row the CPU's order of additions. */
#define EMB_SEGS 32
template <typename T>
__global__ void embedding_bwd_wte_k(T *dwte, const T *dout, const int32_t *tok, int64_t BT,
                                    int64_t C)
{
    int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int seg = blockIdx.y;
    if (c >= C)
        return;
    for (int64_t n = 0; n < BT; n++) {
        int32_t v = tok[n];
        if (v % EMB_SEGS != seg)
            continue;
        acc(dwte, (int64_t)v * C + c, ld(dout, n * C + c));
    }
}

template <typename T>
__global__ void embedding_bwd_wpe_k(T *dwpe, const T *dout, int64_t B, int64_t T_, int64_t C)
{
    GRID_STRIDE(i, T_ * C)
    {
        float v = ld(dwpe, i);
        for (int64_t b = 0; b < B; b++)
            v += ld(dout, b * T_ * C + i);
        st(dwpe, i, v);
    }
}

template <typename T>
static int embedding_fwd(void *out, const int32_t *tok, const void *wte, const void *wpe,
                         int64_t B, int64_t T_, int64_t C, cudaStream_t s)
{
    embedding_fwd_k<T><<<grid_for(B * T_ * C, 256), 256, 0, s>>>(
        (T *)out, tok, (const T *)wte, (const T *)wpe, B * T_, T_, C);
    return launch_status();
}

template <typename T>
static int embedding_bwd(void *dwte, void *dwpe, const void *dout, const int32_t *tok,
                         int64_t B, int64_t T_, int64_t C, cudaStream_t s)
{
    if (dwte) {
        dim3 grid((unsigned)((C + 127) / 128), EMB_SEGS);
        embedding_bwd_wte_k<T><<<grid, 128, 0, s>>>((T *)dwte, (const T *)dout, tok, B * T_, C);
    }
    if (dwpe)
        embedding_bwd_wpe_k<T><<<grid_for(T_ * C, 256), 256, 0, s>>>((T *)dwpe, (const T *)dout,
                                                                     B, T_, C);
    return launch_status();
}

extern "C" int embedding_forward_cuda(void *out, const int32_t *tokens, const void *wte,
                                      const void *wpe, int64_t B, int64_t T, int64_t C,
                                      remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, embedding_fwd, out, tokens, wte, wpe, B, T, C, s);
}

extern "C" int embedding_backward_cuda(void *dwte, void *dwpe, const void *dout,
                                       const int32_t *tokens, int64_t B, int64_t T, int64_t C,
                                       remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, embedding_bwd, dwte, dwpe, dout, tokens, B, T, C, s);
}

/* ---------------------------------------------------------------- layernorm */

/* One warp per row. */
template <typename T>
__global__ void layernorm_fwd_k(T *out, float *mean, float *rstd, const T *inp, const T *w,
                                const T *bias, int64_t N, int64_t C, float eps)
{
    int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (r >= N)
        return;
    const T *x = inp + r * C;
    float s = 0.0f;
    for (int64_t i = lane; i < C; i += 32)
        s += ld(x, i);
    float m = warp_sum(s) / (float)C;
    float v = 0.0f;
    for (int64_t i = lane; i < C; i += 32) {
        float d = ld(x, i) - m;
        v += d * d;
    }
    float rs = 1.0f / sqrtf(warp_sum(v) / (float)C + eps);
    T *o = out + r * C;
    for (int64_t i = lane; i < C; i += 32)
        st(o, i, (ld(x, i) - m) * rs * ld(w, i) + ld(bias, i));
    if (lane == 0) {
        mean[r] = m;
        rstd[r] = rs;
    }
}

template <typename T>
__global__ void layernorm_bwd_k(T *dinp, const T *dout, const T *inp, const T *w,
                                const float *mean, const float *rstd, int64_t N, int64_t C)
{
    int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (r >= N)
        return;
    const T *x = inp + r * C, *d = dout + r * C;
    float m = mean[r], rs = rstd[r];
    float a = 0.0f, b = 0.0f;
    for (int64_t i = lane; i < C; i += 32) {
        float norm = (ld(x, i) - m) * rs;
        float dn = ld(w, i) * ld(d, i);
        a += dn;
        b += dn * norm;
    }
    a = warp_sum(a) / (float)C;
    b = warp_sum(b) / (float)C;
    for (int64_t i = lane; i < C; i += 32) {
        float norm = (ld(x, i) - m) * rs;
        acc(dinp, r * C + i, (ld(w, i) * ld(d, i) - a - norm * b) * rs);
    }
}

template <typename T> struct ln_wb {
    const T *d, *x;
    const float *mean, *rstd;
    int64_t C;
    __device__ void operator()(int64_t r, int64_t c, float *a, float *b) const
    {
        float dv = ld(d, r * C + c);
        *a = (ld(x, r * C + c) - mean[r]) * rstd[r] * dv;
        *b = dv;
    }
};

template <typename T>
static int layernorm_fwd(void *out, float *mean, float *rstd, const void *inp, const void *w,
                         const void *b, int64_t N, int64_t C, float eps, cudaStream_t s)
{
    layernorm_fwd_k<T><<<(unsigned)((N + 7) / 8), 256, 0, s>>>(
        (T *)out, mean, rstd, (const T *)inp, (const T *)w, (const T *)b, N, C, eps);
    return launch_status();
}

template <typename T>
static int layernorm_bwd(void *dinp, void *dw, void *db, const void *dout, const void *inp,
                         const void *w, const float *mean, const float *rstd, int64_t N,
                         int64_t C, cudaStream_t s)
{
    if (dinp)
        layernorm_bwd_k<T><<<(unsigned)((N + 7) / 8), 256, 0, s>>>(
            (T *)dinp, (const T *)dout, (const T *)inp, (const T *)w, mean, rstd, N, C);
    int rc = launch_status();
    if (rc)
        return rc;
    ln_wb<T> f = {(const T *)dout, (const T *)inp, mean, rstd, C};
    return colsum((T *)dw, (T *)db, N, C, f, s);
}

extern "C" int layernorm_forward_cuda(void *out, float *mean, float *rstd, const void *inp,
                                      const void *weight, const void *bias, int64_t N, int64_t C,
                                      float eps, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, layernorm_fwd, out, mean, rstd, inp, weight, bias, N, C, eps, s);
}

extern "C" int layernorm_backward_cuda(void *dinp, void *dweight, void *dbias, const void *dout,
                                       const void *inp, const void *weight, const float *mean,
                                       const float *rstd, int64_t N, int64_t C, remat_dtype dt,
                                       cudaStream_t s)
{
    return DISPATCH(dt, layernorm_bwd, dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C,
                    s);
}

/* ---------------------------------------------------------------- rmsnorm */

template <typename T>
__global__ void rmsnorm_fwd_k(T *out, float *rstd, const T *inp, const T *w, int64_t N,
                              int64_t C, float eps)
{
    int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (r >= N)
        return;
    const T *x = inp + r * C;
    float s = 0.0f;
    for (int64_t i = lane; i < C; i += 32) {
        float v = ld(x, i);
        s += v * v;
    }
    float rs = 1.0f / sqrtf(warp_sum(s) / (float)C + eps);
    for (int64_t i = lane; i < C; i += 32)
        st(out, r * C + i, ld(x, i) * rs * ld(w, i));
    if (lane == 0)
        rstd[r] = rs;
}

template <typename T>
__global__ void rmsnorm_bwd_k(T *dinp, const T *dout, const T *inp, const T *w,
                              const float *rstd, int64_t N, int64_t C)
{
    int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (r >= N)
        return;
    const T *x = inp + r * C, *d = dout + r * C;
    float rs = rstd[r];
    float s = 0.0f;
    for (int64_t i = lane; i < C; i += 32)
        s += ld(d, i) * ld(w, i) * ld(x, i);
    float c = warp_sum(s) / (float)C * rs * rs * rs;
    for (int64_t i = lane; i < C; i += 32)
        acc(dinp, r * C + i, rs * ld(w, i) * ld(d, i) - ld(x, i) * c);
}

template <typename T> struct rms_w {
    const T *d, *x;
    const float *rstd;
    int64_t C;
    __device__ void operator()(int64_t r, int64_t c, float *a, float *b) const
    {
        *a = ld(d, r * C + c) * ld(x, r * C + c) * rstd[r];
        *b = 0.0f;
    }
};

template <typename T>
static int rmsnorm_fwd(void *out, float *rstd, const void *inp, const void *w, int64_t N,
                       int64_t C, float eps, cudaStream_t s)
{
    rmsnorm_fwd_k<T><<<(unsigned)((N + 7) / 8), 256, 0, s>>>((T *)out, rstd, (const T *)inp,
                                                             (const T *)w, N, C, eps);
    return launch_status();
}

template <typename T>
static int rmsnorm_bwd(void *dinp, void *dw, const void *dout, const void *inp, const void *w,
                       const float *rstd, int64_t N, int64_t C, cudaStream_t s)
{
    if (dinp)
        rmsnorm_bwd_k<T><<<(unsigned)((N + 7) / 8), 256, 0, s>>>(
            (T *)dinp, (const T *)dout, (const T *)inp, (const T *)w, rstd, N, C);
    int rc = launch_status();
    if (rc)
        return rc;
    rms_w<T> f = {(const T *)dout, (const T *)inp, rstd, C};
    return colsum((T *)dw, (T *)NULL, N, C, f, s);
}

extern "C" int rmsnorm_forward_cuda(void *out, float *rstd, const void *inp, const void *weight,
                                    int64_t N, int64_t C, float eps, remat_dtype dt,
                                    cudaStream_t s)
{
    return DISPATCH(dt, rmsnorm_fwd, out, rstd, inp, weight, N, C, eps, s);
}

extern "C" int rmsnorm_backward_cuda(void *dinp, void *dweight, const void *dout, const void *inp,
                                     const void *weight, const float *rstd, int64_t N, int64_t C,
                                     remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, rmsnorm_bwd, dinp, dweight, dout, inp, weight, rstd, N, C, s);
}

/* ---------------------------------------------------------------- bias gradient */

template <typename T> struct col_of {
    const T *d;
    int64_t C;
    __device__ void operator()(int64_t r, int64_t c, float *a, float *b) const
    {
        *a = ld(d, r * C + c);
        *b = 0.0f;
    }
};

/* dbias [N] += column sums of dout [M,N] (used by matmul_backward_cuda). */
extern "C" int cuda_bias_grad(void *dbias, const void *dout, int64_t M, int64_t N,
                              remat_dtype dt, cudaStream_t s)
{
    if (dt == DT_BF16)
        return colsum((bf16 *)dbias, (bf16 *)NULL, M, N, col_of<bf16>{(const bf16 *)dout, N}, s);
    return colsum((float *)dbias, (float *)NULL, M, N, col_of<float>{(const float *)dout, N}, s);
}

/* ---------------------------------------------------------------- elementwise */

template <typename T> __global__ void gelu_fwd_k(T *out, const T *inp, int64_t N)
{
    GRID_STRIDE(i, N)
    {
        float x = ld(inp, i);
        float cube = 0.044715f * x * x * x;
        st(out, i, 0.5f * x * (1.0f + tanhf(GELU_SCALING_FACTOR * (x + cube))));
    }
}

template <typename T> __global__ void gelu_bwd_k(T *dinp, const T *dout, const T *inp, int64_t N)
{
    GRID_STRIDE(i, N)
    {
        float x = ld(inp, i);
        float cube = 0.044715f * x * x * x;
        float t = tanhf(GELU_SCALING_FACTOR * (x + cube));
        float sech2 = 1.0f - t * t;
        float local = 0.5f * (1.0f + t) +
                      x * 0.5f * sech2 * GELU_SCALING_FACTOR * (1.0f + 3.0f * 0.044715f * x * x);
        acc(dinp, i, local * ld(dout, i));
    }
}

__device__ __forceinline__ float sigmoid_f(float x) { return 1.0f / (1.0f + expf(-x)); }

template <typename T>
__global__ void swiglu_fwd_k(T *out, const T *gate, const T *up, int64_t N)
{
    GRID_STRIDE(i, N)
    {
        float g = ld(gate, i);
        st(out, i, g * sigmoid_f(g) * ld(up, i));
    }
}

template <typename T>
__global__ void swiglu_bwd_k(T *dgate, T *dup, const T *dout, const T *gate, const T *up,
                             int64_t N)
{
    GRID_STRIDE(i, N)
    {
        float g = ld(gate, i), sg = sigmoid_f(g), d = ld(dout, i);
        if (dgate)
            acc(dgate, i, d * ld(up, i) * sg * (1.0f + g * (1.0f - sg)));
        if (dup)
            acc(dup, i, d * g * sg);
    }
}

template <typename T> __global__ void add_fwd_k(T *out, const T *a, const T *b, int64_t N)
{
    GRID_STRIDE(i, N) st(out, i, ld(a, i) + ld(b, i));
}

template <typename T> __global__ void add_bwd_k(T *da, T *db, const T *dout, int64_t N)
{
    GRID_STRIDE(i, N)
    {
        float d = ld(dout, i);
        if (da)
            acc(da, i, d);
        if (db)
            acc(db, i, d);
    }
}

template <typename T> __global__ void relu_fwd_k(T *out, const T *inp, int64_t N)
{
    GRID_STRIDE(i, N)
    {
        float x = ld(inp, i);
        st(out, i, x > 0.0f ? x : 0.0f);
    }
}

template <typename T> __global__ void relu_bwd_k(T *dinp, const T *dout, const T *out, int64_t N)
{
    GRID_STRIDE(i, N)
    {
        if (ld(out, i) > 0.0f)
            acc(dinp, i, ld(dout, i));
    }
}

template <typename T>
__global__ void stage_fwd_k(T *out, const T *inp, const T *w, int64_t N, int64_t W)
{
    GRID_STRIDE(i, N) st(out, i, tanhf(ld(w, i % W) * ld(inp, i)));
}

template <typename T>
__global__ void stage_bwd_k(T *dinp, const T *dout, const T *out, const T *w, int64_t N,
                            int64_t W)
{
    GRID_STRIDE(i, N)
    {
        float y = ld(out, i);
        acc(dinp, i, ld(dout, i) * (1.0f - y * y) * ld(w, i % W));
    }
}

template <typename T> struct stage_w {
    const T *d, *x, *y;
    int64_t W;
    __device__ void operator()(int64_t r, int64_t c, float *a, float *b) const
    {
        float yy = ld(y, r * W + c);
        *a = ld(d, r * W + c) * (1.0f - yy * yy) * ld(x, r * W + c);
        *b = 0.0f;
    }
};

template <typename T>
__global__ void dropout_fwd_k(T *out, uint8_t *mask, const T *inp, int64_t N, float p,
                              float keep_scale, uint64_t seed)
{
    GRID_STRIDE(i, N)
    {
        uint8_t m = kkeep(seed, (uint64_t)i, (double)p);
        mask[i] = m;
        st(out, i, m ? ld(inp, i) * keep_scale : 0.0f);
    }
}

template <typename T>
__global__ void dropout_bwd_k(T *dinp, const T *dout, const uint8_t *mask, int64_t N,
                              float keep_scale)
{
    GRID_STRIDE(i, N)
    {
        if (mask[i])
            acc(dinp, i, ld(dout, i) * keep_scale);
    }
}

#define ELTWISE_LAUNCH(kernel, n, ...)                                                      \
    do {                                                                                    \
        kernel<<<grid_for((n), 256), 256, 0, s>>>(__VA_ARGS__);                             \
        return launch_status();                                                             \
    } while (0)

template <typename T> static int gelu_fwd(void *out, const void *inp, int64_t N, cudaStream_t s)
{
    ELTWISE_LAUNCH(gelu_fwd_k<T>, N, (T *)out, (const T *)inp, N);
}
template <typename T>
static int gelu_bwd(void *dinp, const void *dout, const void *inp, int64_t N, cudaStream_t s)
{
    if (!dinp)
        return 0;
    ELTWISE_LAUNCH(gelu_bwd_k<T>, N, (T *)dinp, (const T *)dout, (const T *)inp, N);
}
template <typename T>
static int swiglu_fwd(void *out, const void *g, const void *u, int64_t N, cudaStream_t s)
{
    ELTWISE_LAUNCH(swiglu_fwd_k<T>, N, (T *)out, (const T *)g, (const T *)u, N);
}
template <typename T>
static int swiglu_bwd(void *dg, void *du, const void *dout, const void *g, const void *u,
                      int64_t N, cudaStream_t s)
{
    if (!dg && !du)
        return 0;
    ELTWISE_LAUNCH(swiglu_bwd_k<T>, N, (T *)dg, (T *)du, (const T *)dout, (const T *)g,
                   (const T *)u, N);
}
template <typename T>
static int add_fwd(void *out, const void *a, const void *b, int64_t N, cudaStream_t s)
{
    ELTWISE_LAUNCH(add_fwd_k<T>, N, (T *)out, (const T *)a, (const T *)b, N);
}
template <typename T>
static int add_bwd(void *da, void *db, const void *dout, int64_t N, cudaStream_t s)
{
    if (!da && !db)
        return 0;
    ELTWISE_LAUNCH(add_bwd_k<T>, N, (T *)da, (T *)db, (const T *)dout, N);
}
template <typename T> static int relu_fwd(void *out, const void *inp, int64_t N, cudaStream_t s)
{
    ELTWISE_LAUNCH(relu_fwd_k<T>, N, (T *)out, (const T *)inp, N);
}
template <typename T>
static int relu_bwd(void *dinp, const void *dout, const void *out, int64_t N, cudaStream_t s)
{
    if (!dinp)
        return 0;
    ELTWISE_LAUNCH(relu_bwd_k<T>, N, (T *)dinp, (const T *)dout, (const T *)out, N);
}
template <typename T>
static int stage_fwd(void *out, const void *inp, const void *w, int64_t B, int64_t W,
                     cudaStream_t s)
{
    ELTWISE_LAUNCH(stage_fwd_k<T>, B * W, (T *)out, (const T *)inp, (const T *)w, B * W, W);
}
template <typename T>
static int stage_bwd(void *dinp, void *dw, const void *dout, const void *inp, const void *out,
                     const void *w, int64_t B, int64_t W, cudaStream_t s)
{
    if (dinp)
        stage_bwd_k<T><<<grid_for(B * W, 256), 256, 0, s>>>((T *)dinp, (const T *)dout,
                                                            (const T *)out, (const T *)w, B * W, W);
    int rc = launch_status();
    if (rc)
        return rc;
    stage_w<T> f = {(const T *)dout, (const T *)inp, (const T *)out, W};
    return colsum((T *)dw, (T *)NULL, B, W, f, s);
}
template <typename T>
static int dropout_fwd(void *out, uint8_t *mask, const void *inp, int64_t N, float p,
                       uint64_t seed, cudaStream_t s)
{
    float ks = 1.0f / (1.0f - p);
    ELTWISE_LAUNCH(dropout_fwd_k<T>, N, (T *)out, mask, (const T *)inp, N, p, ks, seed);
}
template <typename T>
static int dropout_bwd(void *dinp, const void *dout, const uint8_t *mask, int64_t N, float p,
                       cudaStream_t s)
{
    if (!dinp)
        return 0;
    float ks = 1.0f / (1.0f - p);
    ELTWISE_LAUNCH(dropout_bwd_k<T>, N, (T *)dinp, (const T *)dout, mask, N, ks);
}

extern "C" int gelu_forward_cuda(void *out, const void *inp, int64_t N, remat_dtype dt,
                                 cudaStream_t s)
{
    return DISPATCH(dt, gelu_fwd, out, inp, N, s);
}
extern "C" int gelu_backward_cuda(void *dinp, const void *dout, const void *inp, int64_t N,
                                  remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, gelu_bwd, dinp, dout, inp, N, s);
}
extern "C" int swiglu_forward_cuda(void *out, const void *gate, const void *up, int64_t N,
                                   remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, swiglu_fwd, out, gate, up, N, s);
}
extern "C" int swiglu_backward_cuda(void *dgate, void *dup, const void *dout, const void *gate,
                                    const void *up, int64_t N, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, swiglu_bwd, dgate, dup, dout, gate, up, N, s);
}
extern "C" int add_forward_cuda(void *out, const void *a, const void *b, int64_t N,
                                remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, add_fwd, out, a, b, N, s);
}
extern "C" int add_backward_cuda(void *da, void *db, const void *dout, int64_t N, remat_dtype dt,
                                 cudaStream_t s)
{
    return DISPATCH(dt, add_bwd, da, db, dout, N, s);
}
extern "C" int relu_forward_cuda(void *out, const void *inp, int64_t N, remat_dtype dt,
                                 cudaStream_t s)
{
    return DISPATCH(dt, relu_fwd, out, inp, N, s);
}
extern "C" int relu_backward_cuda(void *dinp, const void *dout, const void *out, int64_t N,
                                  remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, relu_bwd, dinp, dout, out, N, s);
}
extern "C" int stage_forward_cuda(void *out, const void *inp, const void *w, int64_t B, int64_t W,
                                  remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, stage_fwd, out, inp, w, B, W, s);
}
extern "C" int stage_backward_cuda(void *dinp, void *dw, const void *dout, const void *inp,
                                   const void *out, const void *w, int64_t B, int64_t W,
                                   remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, stage_bwd, dinp, dw, dout, inp, out, w, B, W, s);
}
extern "C" int dropout_forward_cuda(void *out, uint8_t *mask, const void *inp, int64_t N, float p,
                                    uint64_t seed, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, dropout_fwd, out, mask, inp, N, p, seed, s);
}
extern "C" int dropout_backward_cuda(void *dinp, const void *dout, const uint8_t *mask, int64_t N,
                                     float p, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, dropout_bwd, dinp, dout, mask, N, p, s);
}

/* ---------------------------------------------------------------- softmax */

/* One warp per row of C; row r keeps its first n(r) entries (causal: (r % T) + 1,
 * else C) and zeroes the rest. In place is allowed (out == inp). */
template <typename T>
__global__ void softmax_rows_k(T *out, const T *inp, int64_t N, int64_t C, int64_t causal_T)
{
    int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (r >= N)
        return;
    const T *x = inp + r * C;
    T *y = out + r * C;
    int64_t n = causal_T > 0 ? (r % causal_T) + 1 : C;
    float mx = -INFINITY;
    for (int64_t j = lane; j < n; j += 32)
        mx = fmaxf(mx, ld(x, j));
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int64_t j = lane; j < n; j += 32)
        sum += expf(ld(x, j) - mx);
    float inv = 1.0f / warp_sum(sum);
    for (int64_t j = lane; j < n; j += 32)
        st(y, j, expf(ld(x, j) - mx) * inv);
    for (int64_t j = n + lane; j < C; j += 32)
        st(y, j, 0.0f);
}

template <typename T>
__global__ void softmax_bwd_k(T *dinp, const T *dout, const T *out, int64_t N, int64_t C)
{
    int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (r >= N)
        return;
    const T *y = out + r * C, *d = dout + r * C;
    float s = 0.0f;
    for (int64_t j = lane; j < C; j += 32)
        s += ld(d, j) * ld(y, j);
    s = warp_sum(s);
    for (int64_t j = lane; j < C; j += 32)
        acc(dinp, r * C + j, ld(y, j) * (ld(d, j) - s));
}

template <typename T>
static int softmax_fwd(void *out, const void *inp, int64_t N, int64_t C, cudaStream_t s)
{
    softmax_rows_k<T><<<(unsigned)((N + 7) / 8), 256, 0, s>>>((T *)out, (const T *)inp, N, C, 0);
    return launch_status();
}
template <typename T>
static int softmax_bwd(void *dinp, const void *dout, const void *out, int64_t N, int64_t C,
                       cudaStream_t s)
{
    if (!dinp)
        return 0;
    softmax_bwd_k<T><<<(unsigned)((N + 7) / 8), 256, 0, s>>>((T *)dinp, (const T *)dout,
                                                             (const T *)out, N, C);
    return launch_status();
}

extern "C" int softmax_forward_cuda(void *out, const void *inp, int64_t N, int64_t C,
                                    remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, softmax_fwd, out, inp, N, C, s);
}
extern "C" int softmax_backward_cuda(void *dinp, const void *dout, const void *out, int64_t N,
                                     int64_t C, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, softmax_bwd, dinp, dout, out, N, C, s);
}

/* Attention helpers (called by blas.cu): softmax of the score rows in place, the
 * dropout of the probabilities, and the softmax backward of one (b,h) slice. */
extern "C" int cuda_attn_softmax(void *probs, int64_t rows, int64_t T, bool causal,
                                 remat_dtype dt, cudaStream_t s)
{
    unsigned g = (unsigned)((rows + 7) / 8);
    if (dt == DT_BF16)
        softmax_rows_k<bf16><<<g, 256, 0, s>>>((bf16 *)probs, (const bf16 *)probs, rows, T,
                                               causal ? T : 0);
    else
        softmax_rows_k<float><<<g, 256, 0, s>>>((float *)probs, (const float *)probs, rows, T,
                                                causal ? T : 0);
    return launch_status();
}

extern "C" int cuda_attn_dropout(void *dropped, uint8_t *mask, const void *probs, int64_t n,
                                 float p, uint64_t seed, remat_dtype dt, cudaStream_t s)
{
    return dropout_forward_cuda(dropped, mask, probs, n, p, seed, dt, s);
}

/* dS [T,T] (dt) = P * (dA' - rowsum(dA' * P)), dA' = dA masked and scaled when p > 0
 * (dA fp32 [T,T]); one warp per row. */
template <typename T>
__global__ void attn_softmax_bwd_k(T *dS, const float *dA, const T *P, const uint8_t *mask,
                                   int64_t Tn, float keep_scale)
{
    int64_t r = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (r >= Tn)
        return;
    const float *da = dA + r * Tn;
    const T *pr = P + r * Tn;
    const uint8_t *m = mask ? mask + r * Tn : NULL;
    float s = 0.0f;
    for (int64_t j = lane; j < Tn; j += 32) {
        float d = m ? (m[j] ? da[j] * keep_scale : 0.0f) : da[j];
        s += d * ld(pr, j);
    }
    s = warp_sum(s);
    for (int64_t j = lane; j < Tn; j += 32) {
        float d = m ? (m[j] ? da[j] * keep_scale : 0.0f) : da[j];
        st(dS, r * Tn + j, ld(pr, j) * (d - s));
    }
}

extern "C" int cuda_attn_softmax_bwd(void *dS, const float *dA, const void *P,
                                     const uint8_t *mask, int64_t T, float p, remat_dtype dt,
                                     cudaStream_t s)
{
    float ks = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    unsigned g = (unsigned)((T + 7) / 8);
    if (dt == DT_BF16)
        attn_softmax_bwd_k<bf16><<<g, 256, 0, s>>>((bf16 *)dS, dA, (const bf16 *)P, mask, T, ks);
    else
        attn_softmax_bwd_k<float><<<g, 256, 0, s>>>((float *)dS, dA, (const float *)P, mask, T,
                                                    ks);
    return launch_status();
}

/* ---------------------------------------------------------------- cross-entropy */

/* One block per row: lse = max + log(sum exp(x - max)). */
template <typename T>
__global__ void ce_lse_k(float *lse, const T *logits, int64_t N, int64_t V)
{
    __shared__ float sh[32];
    int64_t r = blockIdx.x;
    const T *x = logits + r * V;
    float mx = -INFINITY;
    for (int64_t i = threadIdx.x; i < V; i += blockDim.x)
        mx = fmaxf(mx, ld(x, i));
    mx = block_max(mx, sh);
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < V; i += blockDim.x)
        s += expf(ld(x, i) - mx);
    s = block_sum(s, sh);
    if (threadIdx.x == 0)
        lse[r] = (float)((double)mx + log((double)s));
}

/* One block: loss = mean over rows of (lse - x[target]), summed in double. */
template <typename T>
__global__ void ce_mean_k(float *loss, const float *lse, const T *logits, const int32_t *tgt,
                          int64_t N, int64_t V)
{
    __shared__ double sh[32];
    double s = 0.0;
    for (int64_t r = threadIdx.x; r < N; r += blockDim.x)
        s += (double)lse[r] - (double)ld(logits, r * V + tgt[r]);
    s = block_sum_d(s, sh);
    if (threadIdx.x == 0)
        loss[0] = (float)(s / (double)N);
}

template <typename T>
__global__ void ce_bwd_k(T *dlogits, const T *logits, const int32_t *tgt, const float *lse,
                         float scale, int64_t N, int64_t V)
{
    GRID_STRIDE(i, N * V)
    {
        int64_t r = i / V, j = i % V;
        float v = ld(dlogits, i) + expf(ld(logits, i) - lse[r]) * scale;
        if (j == tgt[r])
            v -= scale;
        st(dlogits, i, v);
    }
}

template <typename T>
static int ce_fwd(float *loss, float *lse, const void *logits, const int32_t *tgt, int64_t N,
                  int64_t V, cudaStream_t s)
{
    ce_lse_k<T><<<(unsigned)N, 256, 0, s>>>(lse, (const T *)logits, N, V);
    ce_mean_k<T><<<1, 1024, 0, s>>>(loss, lse, (const T *)logits, tgt, N, V);
    return launch_status();
}

template <typename T>
static int ce_bwd(void *dlogits, const void *logits, const int32_t *tgt, const float *lse,
                  float dloss, int64_t N, int64_t V, cudaStream_t s)
{
    if (!dlogits)
        return 0;
    float scale = dloss / (float)N;
    ELTWISE_LAUNCH(ce_bwd_k<T>, N * V, (T *)dlogits, (const T *)logits, tgt, lse, scale, N, V);
}

extern "C" int crossentropy_forward_cuda(float *loss, float *lse, const void *logits,
                                         const int32_t *targets, int64_t N, int64_t V,
                                         remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, ce_fwd, loss, lse, logits, targets, N, V, s);
}

extern "C" int crossentropy_backward_cuda(void *dlogits, const void *logits,
                                          const int32_t *targets, const float *lse, float dloss,
                                          int64_t N, int64_t V, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, ce_bwd, dlogits, logits, targets, lse, dloss, N, V, s);
}

/* ---------------------------------------------------------------- rope */

/* Thread per (b, t, i < D/2); the angle in double as on the CPU; loops over heads. */
template <typename T>
__global__ void rope_k(T *out, const T *inp, int64_t B, int64_t Tn, int64_t H, int64_t D,
                       double theta, bool inverse, bool accumulate)
{
    int64_t half = D / 2;
    GRID_STRIDE(idx, B * Tn * half)
    {
        int64_t i = idx % half, bt = idx / half, t = bt % Tn;
        double ang = (double)t * pow(theta, -2.0 * (double)i / (double)D);
        float c = (float)cos(ang), sn = (float)sin(ang);
        if (inverse)
            sn = -sn;
        for (int64_t h = 0; h < H; h++) {
            int64_t o = (bt * H + h) * D + i;
            float x1 = ld(inp, o), x2 = ld(inp, o + half);
            float y1 = x1 * c - x2 * sn, y2 = x2 * c + x1 * sn;
            if (accumulate) {
                acc(out, o, y1);
                acc(out, o + half, y2);
            } else {
                st(out, o, y1);
                st(out, o + half, y2);
            }
        }
    }
}

template <typename T>
static int rope_run(void *out, const void *inp, int64_t B, int64_t Tn, int64_t H, int64_t D,
                    double theta, bool inverse, cudaStream_t s)
{
    if (!out)
        return 0;
    ELTWISE_LAUNCH(rope_k<T>, B * Tn * (D / 2), (T *)out, (const T *)inp, B, Tn, H, D, theta,
                   inverse, inverse);
}

extern "C" int rope_forward_cuda(void *out, const void *inp, int64_t B, int64_t T, int64_t H,
                                 int64_t D, double theta, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, rope_run, out, inp, B, T, H, D, theta, false, s);
}

extern "C" int rope_backward_cuda(void *dinp, const void *dout, int64_t B, int64_t T, int64_t H,
                                  int64_t D, double theta, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, rope_run, dinp, dout, B, T, H, D, theta, true, s);
}

/* ---------------------------------------------------------------- CNN */

/* col [Ci*k*k, Ho*Wo] from one image x [Ci,H,W] (zero padding). */
template <typename T>
__global__ void im2col_k(T *col, const T *x, int64_t Ci, int64_t H, int64_t W, int64_t k,
                         int64_t s, int64_t pad, int64_t Ho, int64_t Wo)
{
    int64_t HWo = Ho * Wo;
    GRID_STRIDE(i, Ci * k * k * HWo)
    {
        int64_t row = i / HWo, pix = i % HWo;
        int64_t kj = row % k, ki = (row / k) % k, c = row / (k * k);
        int64_t iy = (pix / Wo) * s - pad + ki, ix = (pix % Wo) * s - pad + kj;
        float v = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? ld(x, (c * H + iy) * W + ix) : 0.0f;
        st(col, i, v);
    }
}

/* dx [Ci,H,W] += gather of dcol: each input pixel sums its (ki, kj) taps in the
 * CPU's order (c, ki, kj ascending). */
template <typename T>
__global__ void col2im_k(T *dx, const T *dcol, int64_t Ci, int64_t H, int64_t W, int64_t k,
                         int64_t s, int64_t pad, int64_t Ho, int64_t Wo)
{
    GRID_STRIDE(i, Ci * H * W)
    {
        int64_t ix = i % W, iy = (i / W) % H, c = i / (H * W);
        float v = ld(dx, i);
        for (int64_t ki = 0; ki < k; ki++) {
            int64_t ty = iy + pad - ki;
            if (ty < 0 || ty % s)
                continue;
            int64_t oy = ty / s;
            if (oy >= Ho)
                continue;
            for (int64_t kj = 0; kj < k; kj++) {
                int64_t tx = ix + pad - kj;
                if (tx < 0 || tx % s)
                    continue;
                int64_t ox = tx / s;
                if (ox >= Wo)
                    continue;
                v += ld(dcol, ((c * k + ki) * k + kj) * Ho * Wo + oy * Wo + ox);
            }
        }
        st(dx, i, v);
    }
}

template <typename T>
__global__ void fill_bias_k(T *out, const T *bias, int64_t B, int64_t Co, int64_t HWo)
{
    GRID_STRIDE(i, B * Co * HWo) st(out, i, ld(bias, (i / HWo) % Co));
}

/* dbias [Co] += per-channel sums of one image's dout [Co, HWo] (double, as the CPU). */
template <typename T>
__global__ void conv_dbias_k(T *dbias, const T *dout, int64_t Co, int64_t HWo)
{
    __shared__ double sh[32];
    int64_t c = blockIdx.x;
    double a = 0.0;
    for (int64_t i = threadIdx.x; i < HWo; i += blockDim.x)
        a += ld(dout, c * HWo + i);
    a = block_sum_d(a, sh);
    if (threadIdx.x == 0)
        acc(dbias, c, (float)a);
}

extern "C" int cuda_im2col(void *col, const void *x, int64_t Ci, int64_t H, int64_t W, int64_t k,
                           int64_t s, int64_t pad, int64_t Ho, int64_t Wo, remat_dtype dt,
                           cudaStream_t st)
{
    unsigned g = grid_for(Ci * k * k * Ho * Wo, 256);
    if (dt == DT_BF16)
        im2col_k<bf16><<<g, 256, 0, st>>>((bf16 *)col, (const bf16 *)x, Ci, H, W, k, s, pad, Ho,
                                          Wo);
    else
        im2col_k<float><<<g, 256, 0, st>>>((float *)col, (const float *)x, Ci, H, W, k, s, pad,
                                           Ho, Wo);
    return launch_status();
}

extern "C" int cuda_col2im_add(void *dx, const void *dcol, int64_t Ci, int64_t H, int64_t W,
                               int64_t k, int64_t s, int64_t pad, int64_t Ho, int64_t Wo,
                               remat_dtype dt, cudaStream_t st)
{
    unsigned g = grid_for(Ci * H * W, 256);
    if (dt == DT_BF16)
        col2im_k<bf16><<<g, 256, 0, st>>>((bf16 *)dx, (const bf16 *)dcol, Ci, H, W, k, s, pad, Ho,
                                          Wo);
    else
        col2im_k<float><<<g, 256, 0, st>>>((float *)dx, (const float *)dcol, Ci, H, W, k, s, pad,
                                           Ho, Wo);
    return launch_status();
}

extern "C" int cuda_fill_bias(void *out, const void *bias, int64_t B, int64_t Co, int64_t HWo,
                              remat_dtype dt, cudaStream_t s)
{
    unsigned g = grid_for(B * Co * HWo, 256);
    if (dt == DT_BF16)
        fill_bias_k<bf16><<<g, 256, 0, s>>>((bf16 *)out, (const bf16 *)bias, B, Co, HWo);
    else
        fill_bias_k<float><<<g, 256, 0, s>>>((float *)out, (const float *)bias, B, Co, HWo);
    return launch_status();
}

extern "C" int cuda_conv_dbias(void *dbias, const void *dout, int64_t Co, int64_t HWo,
                               remat_dtype dt, cudaStream_t s)
{
    if (dt == DT_BF16)
        conv_dbias_k<bf16><<<(unsigned)Co, 256, 0, s>>>((bf16 *)dbias, (const bf16 *)dout, Co, HWo);
    else
        conv_dbias_k<float><<<(unsigned)Co, 256, 0, s>>>((float *)dbias, (const float *)dout, Co,
                                                         HWo);
    return launch_status();
}

/* Batch statistics per channel: one block per channel over (B, HW). */
template <typename T>
__global__ void bn_fwd_k(T *out, float *mean, float *rstd, const T *inp, const T *gamma,
                         const T *beta, int64_t B, int64_t C, int64_t HW, float eps)
{
    __shared__ double sh[32];
    int64_t c = blockIdx.x, n = B * HW;
    double s = 0.0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
        s += ld(inp, ((j / HW) * C + c) * HW + j % HW);
    float m = (float)(block_sum_d(s, sh) / (double)n);
    double v = 0.0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        double d = (double)ld(inp, ((j / HW) * C + c) * HW + j % HW) - m;
        v += d * d;
    }
    float rs = (float)(1.0 / sqrt(block_sum_d(v, sh) / (double)n + (double)eps));
    float g = ld(gamma, c), bb = ld(beta, c);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        int64_t o = ((j / HW) * C + c) * HW + j % HW;
        st(out, o, (ld(inp, o) - m) * rs * g + bb);
    }
    if (threadIdx.x == 0) {
        mean[c] = m;
        rstd[c] = rs;
    }
}

template <typename T>
__global__ void bn_bwd_k(T *dinp, T *dgamma, T *dbeta, const T *dout, const T *inp,
                         const T *gamma, const float *mean, const float *rstd, int64_t B,
                         int64_t C, int64_t HW)
{
    __shared__ double sh[32];
    int64_t c = blockIdx.x, n = B * HW;
    float m = mean[c], rs = rstd[c];
    double sd = 0.0, sdx = 0.0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        int64_t o = ((j / HW) * C + c) * HW + j % HW;
        float xh = (ld(inp, o) - m) * rs;
        float d = ld(dout, o);
        sd += d;
        sdx += (double)d * xh;
    }
    sd = block_sum_d(sd, sh);
    sdx = block_sum_d(sdx, sh);
    if (threadIdx.x == 0) {
        if (dgamma)
            acc(dgamma, c, (float)sdx);
        if (dbeta)
            acc(dbeta, c, (float)sd);
    }
    if (!dinp)
        return;
    float a = (float)(sd / (double)n), bb = (float)(sdx / (double)n), gr = ld(gamma, c) * rs;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        int64_t o = ((j / HW) * C + c) * HW + j % HW;
        float xh = (ld(inp, o) - m) * rs;
        acc(dinp, o, gr * (ld(dout, o) - a - xh * bb));
    }
}

template <typename T>
static int bn_fwd(void *out, float *mean, float *rstd, const void *inp, const void *g,
                  const void *b, int64_t B, int64_t C, int64_t HW, float eps, cudaStream_t s)
{
    bn_fwd_k<T><<<(unsigned)C, 256, 0, s>>>((T *)out, mean, rstd, (const T *)inp, (const T *)g,
                                            (const T *)b, B, C, HW, eps);
    return launch_status();
}

template <typename T>
static int bn_bwd(void *dinp, void *dg, void *db, const void *dout, const void *inp,
                  const void *g, const float *mean, const float *rstd, int64_t B, int64_t C,
                  int64_t HW, cudaStream_t s)
{
    bn_bwd_k<T><<<(unsigned)C, 256, 0, s>>>((T *)dinp, (T *)dg, (T *)db, (const T *)dout,
                                            (const T *)inp, (const T *)g, mean, rstd, B, C, HW);
    return launch_status();
}

extern "C" int batchnorm_forward_cuda(void *out, float *mean, float *rstd, const void *inp,
                                      const void *gamma, const void *beta, int64_t B, int64_t C,
                                      int64_t HW, float eps, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, bn_fwd, out, mean, rstd, inp, gamma, beta, B, C, HW, eps, s);
}

extern "C" int batchnorm_backward_cuda(void *dinp, void *dgamma, void *dbeta, const void *dout,
                                       const void *inp, const void *gamma, const float *mean,
                                       const float *rstd, int64_t B, int64_t C, int64_t HW,
                                       remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, bn_bwd, dinp, dgamma, dbeta, dout, inp, gamma, mean, rstd, B, C, HW, s);
}

template <typename T>
__global__ void maxpool_fwd_k(T *out, int32_t *argmax, const T *inp, int64_t BC, int64_t H,
                              int64_t W, int64_t k, int64_t s, int64_t Ho, int64_t Wo)
{
    GRID_STRIDE(o, BC * Ho * Wo)
    {
        int64_t bc = o / (Ho * Wo), oy = (o / Wo) % Ho, ox = o % Wo;
        const T *x = inp + bc * H * W;
        int64_t best = (oy * s) * W + ox * s;
        float bv = ld(x, best);
        for (int64_t ki = 0; ki < k; ki++)
            for (int64_t kj = 0; kj < k; kj++) {
                int64_t idx = (oy * s + ki) * W + ox * s + kj;
                float v = ld(x, idx);
                if (v > bv) {
                    bv = v;
                    best = idx;
                }
            }
        st(out, o, bv);
        argmax[o] = (int32_t)best;
    }
}

/* Each input pixel gathers the outputs whose argmax it is, in output order. */
template <typename T>
__global__ void maxpool_bwd_k(T *dinp, const T *dout, const int32_t *argmax, int64_t BC,
                              int64_t H, int64_t W, int64_t k, int64_t s, int64_t Ho, int64_t Wo)
{
    GRID_STRIDE(i, BC * H * W)
    {
        int64_t bc = i / (H * W), p = i % (H * W), y = p / W, x = p % W;
        int64_t oy0 = y >= k ? (y - k) / s + 1 : 0, ox0 = x >= k ? (x - k) / s + 1 : 0;
        int64_t oy1 = y / s < Ho - 1 ? y / s : Ho - 1, ox1 = x / s < Wo - 1 ? x / s : Wo - 1;
        float v = ld(dinp, i);
        bool hit = false;
        for (int64_t oy = oy0; oy <= oy1; oy++)
            for (int64_t ox = ox0; ox <= ox1; ox++) {
                int64_t o = bc * Ho * Wo + oy * Wo + ox;
                if (argmax[o] == p) {
                    v += ld(dout, o);
                    hit = true;
                }
            }
        if (hit)
            st(dinp, i, v);
    }
}

template <typename T>
static int maxpool_fwd(void *out, int32_t *argmax, const void *inp, int64_t B, int64_t C,
                       int64_t H, int64_t W, int64_t k, int64_t s, cudaStream_t st)
{
    int64_t Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
    maxpool_fwd_k<T><<<grid_for(B * C * Ho * Wo, 256), 256, 0, st>>>(
        (T *)out, argmax, (const T *)inp, B * C, H, W, k, s, Ho, Wo);
    return launch_status();
}

template <typename T>
static int maxpool_bwd(void *dinp, const void *dout, const int32_t *argmax, int64_t B, int64_t C,
                       int64_t H, int64_t W, int64_t k, int64_t s, cudaStream_t st)
{
    if (!dinp)
        return 0;
    int64_t Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
    maxpool_bwd_k<T><<<grid_for(B * C * H * W, 256), 256, 0, st>>>(
        (T *)dinp, (const T *)dout, argmax, B * C, H, W, k, s, Ho, Wo);
    return launch_status();
}

extern "C" int maxpool_forward_cuda(void *out, int32_t *argmax, const void *inp, int64_t B,
                                    int64_t C, int64_t H, int64_t W, int64_t k, int64_t s,
                                    remat_dtype dt, cudaStream_t st)
{
    return DISPATCH(dt, maxpool_fwd, out, argmax, inp, B, C, H, W, k, s, st);
}

extern "C" int maxpool_backward_cuda(void *dinp, const void *dout, const int32_t *argmax,
                                     int64_t B, int64_t C, int64_t H, int64_t W, int64_t k,
                                     int64_t s, remat_dtype dt, cudaStream_t st)
{
    return DISPATCH(dt, maxpool_bwd, dinp, dout, argmax, B, C, H, W, k, s, st);
}

template <typename T>
__global__ void avgpool_fwd_k(T *out, const T *inp, int64_t BC, int64_t HW)
{
    GRID_STRIDE(bc, BC)
    {
        double s = 0.0;
        for (int64_t i = 0; i < HW; i++)
            s += ld(inp, bc * HW + i);
        st(out, bc, (float)(s / (double)HW));
    }
}

template <typename T>
__global__ void avgpool_bwd_k(T *dinp, const T *dout, int64_t BC, int64_t HW)
{
    GRID_STRIDE(i, BC * HW) acc(dinp, i, ld(dout, i / HW) / (float)HW);
}

template <typename T>
static int avgpool_fwd(void *out, const void *inp, int64_t B, int64_t C, int64_t HW,
                       cudaStream_t s)
{
    ELTWISE_LAUNCH(avgpool_fwd_k<T>, B * C, (T *)out, (const T *)inp, B * C, HW);
}

template <typename T>
static int avgpool_bwd(void *dinp, const void *dout, int64_t B, int64_t C, int64_t HW,
                       cudaStream_t s)
{
    if (!dinp)
        return 0;
    ELTWISE_LAUNCH(avgpool_bwd_k<T>, B * C * HW, (T *)dinp, (const T *)dout, B * C, HW);
}

extern "C" int avgpool_forward_cuda(void *out, const void *inp, int64_t B, int64_t C, int64_t HW,
                                    remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, avgpool_fwd, out, inp, B, C, HW, s);
}

extern "C" int avgpool_backward_cuda(void *dinp, const void *dout, int64_t B, int64_t C,
                                     int64_t HW, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, avgpool_bwd, dinp, dout, B, C, HW, s);
}

template <typename T>
__global__ void concat_k(T *out, const T *a, const T *b, T *da, T *db, int64_t B, int64_t Ca,
                         int64_t Cb, int64_t HW, bool backward)
{
    int64_t per = (Ca + Cb) * HW;
    GRID_STRIDE(i, B * per)
    {
        int64_t n = i / per, j = i % per;
        bool first = j < Ca * HW;
        int64_t src = first ? n * Ca * HW + j : n * Cb * HW + (j - Ca * HW);
        if (!backward) {
            st(out, i, first ? ld(a, src) : ld(b, src));
        } else {
            T *d = first ? da : db;
            if (d)
                acc(d, src, ld(out, i));
        }
    }
}

template <typename T>
static int concat_run(void *out, const void *a, const void *b, void *da, void *db, int64_t B,
                      int64_t Ca, int64_t Cb, int64_t HW, bool backward, cudaStream_t s)
{
    if (backward && !da && !db)
        return 0;
    ELTWISE_LAUNCH(concat_k<T>, B * (Ca + Cb) * HW, (T *)out, (const T *)a, (const T *)b, (T *)da,
                   (T *)db, B, Ca, Cb, HW, backward);
}

extern "C" int concat_forward_cuda(void *out, const void *a, const void *b, int64_t B, int64_t Ca,
                                   int64_t Cb, int64_t HW, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, concat_run, out, a, b, NULL, NULL, B, Ca, Cb, HW, false, s);
}

extern "C" int concat_backward_cuda(void *da, void *db, const void *dout, int64_t B, int64_t Ca,
                                    int64_t Cb, int64_t HW, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, concat_run, (void *)dout, NULL, NULL, da, db, B, Ca, Cb, HW, true, s);
}

template <typename T>
__global__ void upsample_fwd_k(T *out, const T *inp, int64_t BC, int64_t H, int64_t W)
{
    GRID_STRIDE(i, BC * 4 * H * W)
    {
        int64_t x = i % (2 * W), y = (i / (2 * W)) % (2 * H), bc = i / (4 * H * W);
        st(out, i, ld(inp, (bc * H + y / 2) * W + x / 2));
    }
}

template <typename T>
__global__ void upsample_bwd_k(T *dinp, const T *dout, int64_t BC, int64_t H, int64_t W)
{
    GRID_STRIDE(i, BC * H * W)
    {
        int64_t x = i % W, y = (i / W) % H, bc = i / (H * W);
        const T *d = dout + bc * 4 * H * W;
        float v = ld(dinp, i);
        v += ld(d, (2 * y) * 2 * W + 2 * x);
        v += ld(d, (2 * y) * 2 * W + 2 * x + 1);
        v += ld(d, (2 * y + 1) * 2 * W + 2 * x);
        v += ld(d, (2 * y + 1) * 2 * W + 2 * x + 1);
        st(dinp, i, v);
    }
}

template <typename T>
static int upsample_fwd(void *out, const void *inp, int64_t B, int64_t C, int64_t H, int64_t W,
                        cudaStream_t s)
{
    ELTWISE_LAUNCH(upsample_fwd_k<T>, B * C * 4 * H * W, (T *)out, (const T *)inp, B * C, H, W);
}

template <typename T>
static int upsample_bwd(void *dinp, const void *dout, int64_t B, int64_t C, int64_t H, int64_t W,
                        cudaStream_t s)
{
    if (!dinp)
        return 0;
    ELTWISE_LAUNCH(upsample_bwd_k<T>, B * C * H * W, (T *)dinp, (const T *)dout, B * C, H, W);
}

extern "C" int upsample_forward_cuda(void *out, const void *inp, int64_t B, int64_t C, int64_t H,
                                     int64_t W, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, upsample_fwd, out, inp, B, C, H, W, s);
}

extern "C" int upsample_backward_cuda(void *dinp, const void *dout, int64_t B, int64_t C,
                                      int64_t H, int64_t W, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, upsample_bwd, dinp, dout, B, C, H, W, s);
}

/* ---------------------------------------------------------------- optimizers */

template <typename T>
__global__ void adamw_k(T *param, float *master, float *m, float *v, const T *grad, int64_t n,
                        float decay, float step_size, float bc2_sqrt, float w1, float w2,
                        float beta2, float eps)
{
    GRID_STRIDE(i, n)
    {
        float g = ld(grad, i);
        float p = (master ? master[i] : ld(param, i)) * decay;
        float mi = m[i] + w1 * (g - m[i]);
        float vi = v[i] * beta2 + w2 * g * g;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        p = p - step_size * (mi / denom);
        if (master)
            master[i] = p;
        st(param, i, p);
        m[i] = mi;
        v[i] = vi;
    }
}

template <typename T>
__global__ void sgd_k(T *param, float *master, float *buf, const T *grad, int64_t n, float lr,
                      float mu)
{
    GRID_STRIDE(i, n)
    {
        float g = ld(grad, i);
        float p = master ? master[i] : ld(param, i);
        if (buf) {
            buf[i] = mu * buf[i] + g;
            g = buf[i];
        }
        p -= lr * g;
        if (master)
            master[i] = p;
        st(param, i, p);
    }
}

template <typename T>
static int adamw_run(void *param, float *master, float *m, float *v, const void *grad, int64_t n,
                     double lr, double beta1, double beta2, double eps, double wd, int64_t t,
                     cudaStream_t s)
{
    double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(beta2, (double)t);
    ELTWISE_LAUNCH(adamw_k<T>, n, (T *)param, master, m, v, (const T *)grad, n,
                   (float)(1.0 - lr * wd), (float)(lr / bc1), (float)sqrt(bc2),
                   (float)(1.0 - beta1), (float)(1.0 - beta2), (float)beta2, (float)eps);
}

template <typename T>
static int sgd_run(void *param, float *master, float *buf, const void *grad, int64_t n,
                   double lr, double mu, cudaStream_t s)
{
    ELTWISE_LAUNCH(sgd_k<T>, n, (T *)param, master, buf, (const T *)grad, n, (float)lr, (float)mu);
}

extern "C" int adamw_step_cuda(void *param, float *master, float *m, float *v, const void *grad,
                               int64_t n, double lr, double beta1, double beta2, double eps,
                               double weight_decay, int64_t t, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, adamw_run, param, master, m, v, grad, n, lr, beta1, beta2, eps,
                    weight_decay, t, s);
}

extern "C" int sgd_step_cuda(void *param, float *master, float *momentum, const void *grad,
                             int64_t n, double lr, double mu, remat_dtype dt, cudaStream_t s)
{
    return DISPATCH(dt, sgd_run, param, master, momentum, grad, n, lr, mu, s);
}

/* ---------------------------------------------------------------- conversions */

template <typename T> __global__ void to_f32_k(float *dst, const T *src, int64_t n)
{
    GRID_STRIDE(i, n) dst[i] = ld(src, i);
}

template <typename T> __global__ void from_f32_k(T *dst, const float *src, int64_t n)
{
    GRID_STRIDE(i, n) st(dst, i, src[i]);
}

extern "C" int cuda_to_f32(float *dst, const void *src, int64_t n, remat_dtype dt, cudaStream_t s)
{
    if (dt == DT_BF16)
        ELTWISE_LAUNCH(to_f32_k<bf16>, n, dst, (const bf16 *)src, n);
    ELTWISE_LAUNCH(to_f32_k<float>, n, dst, (const float *)src, n);
}

extern "C" int cuda_from_f32(void *dst, const float *src, int64_t n, remat_dtype dt,
                             cudaStream_t s)
{
    if (dt == DT_BF16)
        ELTWISE_LAUNCH(from_f32_k<bf16>, n, (bf16 *)dst, src, n);
    ELTWISE_LAUNCH(from_f32_k<float>, n, (float *)dst, src, n);
}

/* ---------------------------------------------------------------- synthetic data */

/* kernel_normal (executor/cpu/kernels.h) on the device: Box-Muller in double. */
template <typename T>
__global__ void fill_normal_k(T *dst, int64_t n, uint64_t seed, float scale)
{
    GRID_STRIDE(i, n)
    {
        uint64_t c = (uint64_t)i;
        double u1 = (double)(kmix64(seed ^ kmix64(2 * c)) >> 11) * 0x1p-53;
        double u2 = (double)(kmix64(seed ^ kmix64(2 * c + 1)) >> 11) * 0x1p-53;
        if (u1 < 0x1p-60)
            u1 = 0x1p-60;
        st(dst, i, scale * (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2)));
    }
}

__global__ void fill_ids_k(int32_t *dst, int64_t n, uint64_t seed, int64_t bound)
{
    GRID_STRIDE(i, n)
    {
        double u = (double)(kmix64(seed ^ kmix64((uint64_t)i)) >> 11) * 0x1p-53;
        dst[i] = (int32_t)(u * (double)bound);
    }
}

extern "C" int cuda_fill_normal(void *dst, int64_t n, uint64_t seed, float scale, remat_dtype dt,
                                cudaStream_t s)
{
    if (dt == DT_BF16)
        ELTWISE_LAUNCH(fill_normal_k<bf16>, n, (bf16 *)dst, n, seed, scale);
    ELTWISE_LAUNCH(fill_normal_k<float>, n, (float *)dst, n, seed, scale);
}

extern "C" int cuda_fill_ids(int32_t *dst, int64_t n, uint64_t seed, int64_t bound,
                             cudaStream_t s)
{
    ELTWISE_LAUNCH(fill_ids_k, n, dst, n, seed, bound > 0 ? bound : 1);
}
