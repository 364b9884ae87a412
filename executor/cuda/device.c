/* executor/cuda/device.c — the tracked device allocator, the device probe, and the
 * upload of the CPU executor's deterministic parameters and inputs (so a CUDA run
 * starts from exactly the CPU run's weights). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/cuda/device.h"
#include "executor/cuda/ops.h"

void *cuda_talloc(tracked_alloc *a, int64_t bytes, bool zero, cudaStream_t s)
{
    if (bytes < 0)
        return NULL;
    void *p = NULL;
    if (cudaMalloc(&p, (size_t)(bytes > 0 ? bytes : 1)) != cudaSuccess) {
        (void)cudaGetLastError(); /* an allocation failure is not sticky: clear it */
        return NULL;
    }
    if (zero && bytes > 0 && cudaMemsetAsync(p, 0, (size_t)bytes, s) != cudaSuccess) {
        (void)cudaGetLastError();
        cudaFree(p);
        return NULL;
    }
    a->current += bytes;
    if (a->current > a->peak)
        a->peak = a->current;
    if (a->current > a->mark_peak)
        a->mark_peak = a->current;
    a->n_allocs++;
    return p;
}

void cuda_tfree(tracked_alloc *a, void *p, int64_t bytes)
{
    if (!p)
        return;
    cudaFree(p);
    a->current -= bytes;
    a->n_frees++;
}

int64_t cuda_mem_used(void)
{
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        (void)cudaGetLastError();
        return -1;
    }
    return (int64_t)(total_b - free_b);
}

int cuda_device_probe(char *desc, size_t n, remat_err *err)
{
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        const char *why = e != cudaSuccess ? cudaGetErrorString(e) : "no devices";
        (void)cudaGetLastError();
        return remat_fail(err, -ENODEV, "no CUDA device found (cudaGetDeviceCount: %s)", why);
    }
    struct cudaDeviceProp prop;
    if ((e = cudaSetDevice(0)) != cudaSuccess || (e = cudaFree(NULL)) != cudaSuccess ||
        (e = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess) {
        (void)cudaGetLastError();
        return remat_fail(err, -ENODEV, "no usable CUDA device (device 0: %s)",
                          cudaGetErrorString(e));
    }
    int drv = 0, rt = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    if (desc && n)
        snprintf(desc, n, "%s (sm_%d%d, %d SMs, %.1f GiB), CUDA driver %d.%d, runtime %d.%d",
                 prop.name, prop.major, prop.minor, prop.multiProcessorCount,
                 (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), drv / 1000,
                 (drv % 1000) / 10, rt / 1000, (rt % 1000) / 10);
    return 0;
}

uint16_t cuda_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) /* NaN: keep it quiet */
        return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float cuda_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Copies n floats to dst as dt. */
static int upload_floats(void *dst, const float *src, int64_t n, remat_dtype dt)
{
    if (dt == DT_F32)
        return cudaMemcpy(dst, src, (size_t)n * 4, cudaMemcpyHostToDevice) == cudaSuccess ? 0 : -EIO;
    uint16_t *h = malloc((size_t)(n > 0 ? n : 1) * sizeof *h);
    if (!h)
        return -ENOMEM;
    for (int64_t i = 0; i < n; i++)
        h[i] = cuda_f32_to_bf16(src[i]);
    int rc = cudaMemcpy(dst, h, (size_t)n * 2, cudaMemcpyHostToDevice) == cudaSuccess ? 0 : -EIO;
    free(h);
    return rc;
}

int cuda_upload_param(const graph *g, int t, uint64_t seed, void *dst, float *master,
                      remat_dtype dt)
{
    int64_t n = g->tensors[t].numel;
    float *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof *buf);
    if (!buf)
        return -ENOMEM;
    cpu_param_init(g, t, seed, buf);
    int rc = upload_floats(dst, buf, n, dt);
    if (!rc && master &&
        cudaMemcpy(master, buf, (size_t)n * 4, cudaMemcpyHostToDevice) != cudaSuccess)
        rc = -EIO;
    free(buf);
    return rc;
}

int cuda_upload_input(const graph *g, int t, uint64_t seed, void *dst, remat_dtype dt)
{
    const graph_tensor *x = &g->tensors[t];
    if (x->dtype == DT_I32 || x->dtype == DT_F32) {
        void *buf = malloc((size_t)(x->bytes > 0 ? x->bytes : 1));
        if (!buf)
            return -ENOMEM;
        cpu_input_init(g, t, seed, buf);
        int rc = cudaMemcpy(dst, buf, (size_t)x->bytes, cudaMemcpyHostToDevice) == cudaSuccess
                     ? 0
                     : -EIO;
        free(buf);
        return rc;
    }
    /* a 16-bit float input: the CPU's N(0,1) values from an fp32 view, rounded */
    graph view = *g;
    view.tensors = malloc((size_t)g->n_tensors * sizeof *view.tensors);
    float *buf = malloc((size_t)(x->numel > 0 ? x->numel : 1) * sizeof *buf);
    int rc = -ENOMEM;
    if (view.tensors && buf) {
        memcpy(view.tensors, g->tensors, (size_t)g->n_tensors * sizeof *view.tensors);
        view.tensors[t].dtype = DT_F32;
        cpu_input_init(&view, t, seed, buf);
        rc = upload_floats(dst, buf, x->numel, dt);
    }
    free(view.tensors);
    free(buf);
    return rc;
}
