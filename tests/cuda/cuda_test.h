/* tests/cuda/cuda_test.h — helpers shared by the CUDA test suites: the GPU-present
 * check (suites exit 77, meson's skip, without a device), host<->device copies in
 * fp32 or bf16, bf16 rounding of host data, and the max-norm comparison with its
 * stated tolerance. Header-only (static functions) to keep the suites independent. */
#ifndef REMAT_TESTS_CUDA_CUDA_TEST_H
#define REMAT_TESTS_CUDA_CUDA_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "executor/cpu/kernels.h"
#include "executor/cuda/device.h"
#include "executor/cuda/kernels.h"

/* Kernel tolerances (max-norm relative: max|gpu - cpu| <= tol * max(max|cpu|, 1e-3)):
 * fp32 1e-5; bf16 2e-2 (inputs rounded to bf16 on both sides; the GPU rounds stored
 * intermediates and outputs to bf16). */
#define TOL_F32 1e-5
#define TOL_BF16 2e-2

/* True when a CUDA device is usable; the suites return 77 otherwise. */
static inline bool cuda_test_have_device(void)
{
    int n = 0;
    bool ok = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
    (void)cudaGetLastError();
    return ok;
}

static inline double tol_of(remat_dtype dt) { return dt == DT_BF16 ? TOL_BF16 : TOL_F32; }

/* Rounds host values to what dt can hold (bf16: round to nearest even). */
static inline void round_to(float *h, int64_t n, remat_dtype dt)
{
    if (dt == DT_BF16)
        for (int64_t i = 0; i < n; i++)
            h[i] = cuda_bf16_to_f32(cuda_f32_to_bf16(h[i]));
}

/* n N(0, scale) floats from (seed, i), rounded to dt. */
static inline float *hrand(int64_t n, uint64_t seed, float scale, remat_dtype dt)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = scale * (float)kernel_normal(seed, (uint64_t)i);
    round_to(p, n, dt);
    return p;
}

static inline float *hfill(int64_t n, float v)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++)
        p[i] = v;
    return p;
}

/* A device copy of n host floats stored as dt (NULL when h is NULL). */
static inline void *dup_dev(const float *h, int64_t n, remat_dtype dt)
{
    if (!h)
        return NULL;
    size_t es = dt == DT_BF16 ? 2 : 4;
    void *d = NULL;
    if (cudaMalloc(&d, (size_t)(n > 0 ? n : 1) * es) != cudaSuccess)
        return NULL;
    if (dt == DT_BF16) {
        uint16_t *t = malloc((size_t)(n > 0 ? n : 1) * 2);
        for (int64_t i = 0; i < n; i++)
            t[i] = cuda_f32_to_bf16(h[i]);
        cudaMemcpy(d, t, (size_t)n * 2, cudaMemcpyHostToDevice);
        free(t);
    } else {
        cudaMemcpy(d, h, (size_t)n * 4, cudaMemcpyHostToDevice);
    }
    return d;
}

/* Raw bytes to the device. */
static inline void *dup_raw(const void *h, size_t bytes)
{
    void *d = NULL;
    if (cudaMalloc(&d, bytes ? bytes : 1) != cudaSuccess)
        return NULL;
    cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice);
    return d;
}

static inline void *dev_zero(size_t bytes)
{
    void *d = NULL;
    if (cudaMalloc(&d, bytes ? bytes : 1) != cudaSuccess)
        return NULL;
    cudaMemset(d, 0, bytes);
    return d;
}

/* The device buffer (n elements of dt) back as host floats; caller frees. */
static inline float *from_dev(const void *d, int64_t n, remat_dtype dt)
{
    cudaDeviceSynchronize();
    float *h = malloc((size_t)(n > 0 ? n : 1) * sizeof *h);
    if (dt == DT_BF16) {
        uint16_t *t = malloc((size_t)(n > 0 ? n : 1) * 2);
        cudaMemcpy(t, d, (size_t)n * 2, cudaMemcpyDeviceToHost);
        for (int64_t i = 0; i < n; i++)
            h[i] = cuda_bf16_to_f32(t[i]);
        free(t);
    } else {
        cudaMemcpy(h, d, (size_t)n * 4, cudaMemcpyDeviceToHost);
    }
    return h;
}

/* max|a - b| / max(max|b|, 1e-3); NaN/inf anywhere gives +inf. */
static inline double maxnorm_rel(const float *a, const float *b, int64_t n)
{
    double d = 0.0, m = 1e-3;
    for (int64_t i = 0; i < n; i++) {
        double x = fabs((double)a[i] - (double)b[i]);
        if (!isfinite(x))
            return INFINITY;
        d = x > d ? x : d;
        m = fabs((double)b[i]) > m ? fabs((double)b[i]) : m;
    }
    return d / m;
}

#endif
