/* executor/alloc.c — the tracked host allocator behind every executor buffer. It
 * counts requested bytes exactly (the CPU has no allocator rounding to model), so
 * its current/peak figures are what the schedule's memory model predicts. */
#include <stdlib.h>
#include <string.h>

#include "executor/executor.h"

void *talloc(tracked_alloc *a, int64_t bytes, bool zero)
{
    if (bytes < 0)
        return NULL;
    size_t n = (size_t)((bytes + 63) / 64 * 64);
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64) != 0)
        return NULL;
    if (zero)
        memset(p, 0, n);
    a->current += bytes;
    if (a->current > a->peak)
        a->peak = a->current;
    if (a->current > a->mark_peak)
        a->mark_peak = a->current;
    a->n_allocs++;
    return p;
}

void tfree(tracked_alloc *a, void *p, int64_t bytes)
{
    if (!p)
        return;
    free(p);
    a->current -= bytes;
    a->n_frees++;
}

void talloc_mark(tracked_alloc *a) { a->mark_peak = a->current; }
