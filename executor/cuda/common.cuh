/* executor/cuda/common.cuh — device helpers shared by the CUDA kernels (private to
 * executor/cuda): typed loads/stores that widen bf16 to fp32 and round once on
 * store, the dropout hash of executor/cpu/kernels.h, fixed-order warp/block
 * reductions, and grid sizing. */
#ifndef REMAT_EXECUTOR_CUDA_COMMON_CUH
#define REMAT_EXECUTOR_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "executor/cuda/kernels.h"

typedef __nv_bfloat16 bf16;

__device__ __forceinline__ float ld(const float *p, int64_t i) { return p[i]; }
__device__ __forceinline__ float ld(const bf16 *p, int64_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void st(float *p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void st(bf16 *p, int64_t i, float v) { p[i] = __float2bfloat16_rn(v); }
/* p[i] += v (one rounding per call; callers own element i exclusively). */
template <typename T> __device__ __forceinline__ void acc(T *p, int64_t i, float v)
{
    st(p, i, ld(p, i) + v);
}

/* splitmix64's finaliser and the dropout decision, as executor/cpu/kernels.h. */
__host__ __device__ __forceinline__ uint64_t kmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
__host__ __device__ __forceinline__ uint8_t kkeep(uint64_t seed, uint64_t e, double p)
{
    return (double)(kmix64(seed ^ kmix64(e)) >> 11) * 0x1p-53 >= p;
}

/* Butterfly sums/maxima: every lane ends with the same value, in a fixed order. */
__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum_d(double v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Block-wide reductions for blockDim.x a multiple of 32 (<= 1024); every thread
 * gets the result. sh: at least 32 entries of shared memory. */
__device__ __forceinline__ float block_sum(float v, float *sh)
{
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0)
        sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0f;
    return warp_sum(v);
}
__device__ __forceinline__ double block_sum_d(double v, double *sh)
{
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum_d(v);
    __syncthreads();
    if (lane == 0)
        sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0;
    return warp_sum_d(v);
}
__device__ __forceinline__ float block_max(float v, float *sh)
{
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0)
        sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : -INFINITY;
    return warp_max(v);
}

/* Grid for a grid-stride loop over n items. */
static inline unsigned grid_for(int64_t n, int threads)
{
    int64_t b = (n + threads - 1) / threads;
    if (b < 1)
        b = 1;
    if (b > 65535 * 8)
        b = 65535 * 8;
    return (unsigned)b;
}

#define GRID_STRIDE(i, n)                                                                   \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);               \
         i += (int64_t)gridDim.x * blockDim.x)

/* Status of the last launch (sticky errors included). */
static inline int launch_status(void) { return (int)cudaGetLastError(); }

/* Calls impl<bf16> or impl<float> with the same arguments. */
#define DISPATCH(dt, impl, ...)                                                              \
    ((dt) == DT_BF16 ? impl<bf16>(__VA_ARGS__) : impl<float>(__VA_ARGS__))

#endif
