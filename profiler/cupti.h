/* profiler/cupti.h — CUPTI for remat (private to the remat_cuda library): Activity
 * API tracing of kernels (CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, attributed to ops
 * through external correlation ids, which CUPTI attaches to the RUNTIME and DRIVER
 * API records it is therefore also asked for) and of device memory (MEMORY2,
 * one record per allocation and per release). The FLOP counters (range profiler) are
 * used inside profiler/cupti.cu only. No legacy Event/Metric API is used.
 *
 * The collector is process-global (CUPTI's buffer callbacks carry no user pointer);
 * one trace at a time. */
#ifndef REMAT_PROFILER_CUPTI_H
#define REMAT_PROFILER_CUPTI_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "models/graph.h"

enum { CUPTI_TRACE_KERNELS = 1u, CUPTI_TRACE_MEMORY = 2u };

/* Enables the activity kinds in `what` (registering the buffer callbacks on first
 * use) and clears earlier records and memory state. Returns 0, or -ENOTSUP with the
 * CUPTI error in *err (the caller may go on without CUPTI). */
int cupti_trace_begin(unsigned what, remat_err *err);
/* Flushes every record and disables the kinds begun. */
void cupti_trace_end(void);

/* Kernels launched between push and pop are attributed to external id `id` (> 0). */
void cupti_corr_push(uint64_t id);
void cupti_corr_pop(void);

/* Flushes the records of finished work, then adds the duration of every kernel
 * attributed to id in [1, n] to seconds[id] and counts it in counts[id]; with
 * alloc_bytes and allocs (may be NULL; MEMORY2 traced too), the device allocations
 * made inside an id's region (by a library: remat's own buffers are allocated
 * outside) likewise. Arrays are n + 1 long. Consumes the records. */
void cupti_kernel_times(int64_t n, double *seconds, int64_t *counts, int64_t *alloc_bytes,
                        int64_t *allocs);

/* Device memory as MEMORY2 records tell it, replayed in timestamp order since
 * cupti_trace_begin: bytes allocated minus bytes released (device memory only). */
typedef struct cupti_mem_state {
    int64_t current;        /* at the last record processed */
    int64_t peak;           /* highest current since the window began */
    int64_t n_alloc, n_free;
    int64_t dropped;        /* records CUPTI dropped (buffers full): the replay is partial */
} cupti_mem_state;

/* Flushes and processes the memory records so far; fills *st. */
void cupti_memory_update(cupti_mem_state *st);
/* Processes the records so far, then starts a new window: peak = current. */
void cupti_memory_window(void);

/* The profile target for a GPU name: the device table entry whose '-' separated
 * tokens are all words of the lower-cased name (the longest wins: "NVIDIA
 * A100-SXM4-80GB" -> "a100-80gb"), else the name itself. */
void cupti_device_table_name(const char *gpu, char *out, size_t n);

#ifdef __cplusplus
}
#endif

#endif
