/* executor/cuda/device.h — the tracked device allocator and device helpers shared by
 * the CUDA runner, the CUDA validator and the CUPTI profiler (private to remat_cuda).
 *
 * The tracked allocator is executor.h's tracked_alloc counting device bytes: one
 * cudaMalloc per buffer, current/peak/mark_peak over the bytes requested (cudaMalloc
 * itself aligns to 256 B and the driver maps 2 MiB pages; those show in the
 * cudaMemGetInfo and CUPTI measurements, not here). */
#ifndef REMAT_EXECUTOR_CUDA_DEVICE_H
#define REMAT_EXECUTOR_CUDA_DEVICE_H

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "executor/executor.h"

/* cudaMalloc(bytes) (zeroed on stream s when zero), counted. NULL on failure, with
 * nothing counted; a zero-byte request gets a 1-byte buffer counted as 0. */
void *cuda_talloc(tracked_alloc *a, int64_t bytes, bool zero, cudaStream_t s);
/* cudaFree(p), which came from cuda_talloc with the same byte count. NULL is a no-op. */
void cuda_tfree(tracked_alloc *a, void *p, int64_t bytes);

/* Device bytes in use on the current device (cudaMemGetInfo: total - free; every
 * process on the device counts). -1 when the call fails. */
int64_t cuda_mem_used(void);

/* 0 when a CUDA device is usable (selects device 0 and creates its context), writing
 * "NAME (sm_XY, N SMs, X GiB), driver A.B, runtime C.D" into desc; otherwise
 * -ENODEV with "no CUDA device found (...)" in *err. */
int cuda_device_probe(char *desc, size_t n, remat_err *err);

/* Parameter t's initial values exactly as the CPU executor's cpu_param_init (same
 * seed, same fp32 values), rounded to dt and copied to dst; master (fp32, may be
 * NULL) receives the unrounded values. Returns 0 or -ENOMEM / -EIO. */
int cuda_upload_param(const graph *g, int t, uint64_t seed, void *dst, float *master,
                      remat_dtype dt);
/* Input t's synthetic data exactly as cpu_input_init (ids, or N(0,1) rounded to dt). */
int cuda_upload_input(const graph *g, int t, uint64_t seed, void *dst, remat_dtype dt);

/* fp32 -> bf16, round to nearest even (as __float2bfloat16_rn). */
uint16_t cuda_f32_to_bf16(float f);
float cuda_bf16_to_f32(uint16_t h);

#ifdef __cplusplus
}
#endif

#endif
