/* solver/lower.c — lowering shared by the chain solvers: a two-level plan (which
 * segments keep only their input and are recomputed once) to a finalized
 * schedule, and a peak-only simulation used by the solvers' searches. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "solver/solver_internal.h"

int lower_two_level(const graph *g, const chain *c, const unsigned char *start,
                    const unsigned char *rec, schedule *out, remat_err *err)
{
    schedule raw = {0, 0, NULL};
    int rc = 0;
    for (int i = 0; i < g->n_ops && !rc; i++)
        rc = schedule_push(&raw, INS_FWD, i, 0);
    int end = c->n; /* one past the last stage of the current segment */
    for (int s = c->n - 1; s >= 0 && !rc; s--) {
        if (!start[s] && s > 0)
            continue;
        /* segment = stages s .. end-1 */
        int a = c->st[s].first_op, b = c->st[end - 1].last_op;
        if (rec[s])
            for (int i = a; i <= b && !rc; i++)
                rc = schedule_push(&raw, INS_FWD, i, 0);
        for (int i = b; i >= a && !rc; i--)
            rc = schedule_push(&raw, INS_BWD, i, 0);
        end = s;
    }
    if (!rc)
        rc = schedule_push(&raw, INS_OPT, 0, 0);
    if (rc) {
        schedule_free(&raw);
        return remat_fail(err, rc, "out of memory");
    }
    rc = schedule_finalize(g, &raw, out, err);
    schedule_free(&raw);
    return rc;
}

int sched_peak(const profile *p, const mem_config *mc, const schedule *s, int64_t *peak,
               double *recompute_s, remat_err *err)
{
    sim_result r;
    int rc = simulate(p, mc, s, &r, err);
    if (rc)
        return rc;
    *peak = r.peak_bytes;
    if (recompute_s)
        *recompute_s = r.recompute_s;
    sim_result_free(&r);
    return 0;
}
