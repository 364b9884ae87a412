/* executor/executor.h — runs the real training step under a schedule and measures.
 * Every byte the step holds comes from one tracked allocator, so the measured peak
 * is what the kernels really allocated. */
#ifndef REMAT_EXECUTOR_EXECUTOR_H
#define REMAT_EXECUTOR_EXECUTOR_H

#include "solver/solver.h"

/* The tracked allocator: current and peak bytes, optional per-instruction marks. */
typedef struct tracked_alloc {
    int64_t current;
    int64_t peak;
    int64_t n_allocs;
    int64_t n_frees;
} tracked_alloc;

/* Allocates bytes (64-byte aligned, zeroed when zero is true) and counts them.
 * Returns NULL on failure. */
void *talloc(tracked_alloc *a, int64_t bytes, bool zero);
/* Frees p, which must have come from talloc with the same byte count. */
void tfree(tracked_alloc *a, void *p, int64_t bytes);

#endif
