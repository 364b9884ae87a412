/* solver/baseline.c — the baselines users know, all two-level plans on the chain:
 *   none   one segment, nothing recomputed (store every activation);
 *   full   every stage keeps only its input and is recomputed once before its
 *          backward (HF gradient_checkpointing, Megatron full recompute);
 *   sqrt   Chen et al. 2016: segments of round(sqrt(n)) stages;
 *   greedy Chen et al. 2016, Alg. 3 (budgeted): walk the stages accumulating their
 *          activation bytes; at a stage boundary where the running total exceeds B,
 *          end the segment there. B is searched as in the paper: run with B = 0 to get
 *          x (bytes of the stored boundaries) and y (the largest segment), then try
 *          B = sqrt(x*y) and a grid on [B/sqrt2, B*sqrt2] (plus B = infinity, no
 *          checkpoint); the plan kept is the one with the least recompute time whose
 *          simulated peak fits the budget.
 * Segments are cut only where a trainer unit begins (chain_unit_starts: the stages
 * of one module, e.g. both halves of a transformer block, stay together), so each
 * plan is what wrapping those modules in checkpoint does. "Stage" above means unit.
 * In every plan the last segment (the one holding the loss) is stored, never
 * recomputed: it runs its backward right after its forward, so recomputing it would
 * cost time and save nothing. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "solver/solver_internal.h"

/* Marks the segment holding the last stage as stored. */
static void store_last_segment(const chain *c, const unsigned char *start, unsigned char *rec)
{
    for (int s = c->n - 1; s >= 0; s--) {
        rec[s] = 0;
        if (start[s])
            break;
    }
}

/* Chen's greedy pass for threshold B: fills start/rec; *x_out = bytes of stored
 * boundaries, *y_out = largest segment total. */
static void greedy_pass(const chain *c, const unsigned char *unit, double B,
                        unsigned char *start, unsigned char *rec, double *x_out, double *y_out)
{
    double temp = 0, x = 0, y = 0;
    memset(start, 0, (size_t)c->n);
    start[0] = 1;
    for (int s = 0; s < c->n; s++) {
        temp += (double)c->st[s].xbar;
        if (s + 1 < c->n && unit[s + 1] && temp > B) {
            start[s + 1] = 1;
            x += (double)c->st[s + 1].x;
            if (temp > y)
                y = temp;
            temp = 0;
        }
    }
    if (temp > y)
        y = temp;
    for (int s = 0; s < c->n; s++)
        rec[s] = 1;
    store_last_segment(c, start, rec);
    *x_out = x;
    *y_out = y;
}

static int greedy(const profile *p, const mem_config *mc, const solver_opts *o, const chain *c,
                  const unsigned char *unit, unsigned char *start, unsigned char *rec,
                  schedule *best, remat_err *err)
{
    const graph *g = &p->g;
    unsigned char *bs = malloc((size_t)c->n), *br = malloc((size_t)c->n);
    if (!bs || !br) {
        free(bs);
        free(br);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    double x, y;
    greedy_pass(c, unit, 0.0, start, rec, &x, &y);
    double B0 = sqrt(x * y);
    /* candidates: B = 0, 11 points geometrically spaced on [B0/sqrt2, B0*sqrt2], and
     * B = infinity (no checkpoint: the plan when the budget allows everything) */
    enum { GRID = 11 };
    double cand[GRID + 2];
    cand[0] = 0.0;
    for (int k = 0; k < GRID; k++)
        cand[k + 1] = B0 * pow(2.0, -0.5 + (double)k / (GRID - 1));
    cand[GRID + 1] = INFINITY;
    bool have = false;
    double best_rec = 0;
    int64_t best_peak = 0;
    int rc = 0;
    for (int k = 0; k <= GRID + 1 && !rc; k++) {
        greedy_pass(c, unit, cand[k], start, rec, &x, &y);
        schedule s;
        rc = lower_two_level(g, c, start, rec, &s, err);
        if (rc)
            break;
        int64_t peak;
        double rt;
        rc = sched_peak(p, mc, &s, &peak, &rt, err);
        if (rc) {
            schedule_free(&s);
            break;
        }
        bool fits = o->budget_bytes <= 0 || peak <= o->budget_bytes;
        if (fits && (!have || rt < best_rec || (rt == best_rec && peak < best_peak))) {
            schedule_free(best);
            *best = s;
            best_rec = rt;
            best_peak = peak;
            have = true;
            memcpy(bs, start, (size_t)c->n);
            memcpy(br, rec, (size_t)c->n);
        } else {
            schedule_free(&s);
        }
    }
    if (!rc && have) {
        memcpy(start, bs, (size_t)c->n);
        memcpy(rec, br, (size_t)c->n);
    }
    free(bs);
    free(br);
    if (rc)
        return rc;
    return have ? 0 : remat_fail(err, -ENOSPC, "no greedy plan fits the budget");
}

int solve_baseline(const profile *p, const mem_config *mc, solver_kind k, const solver_opts *o,
                   const chain *c, plan *out, remat_err *err)
{
    const graph *g = &p->g;
    unsigned char *start = calloc((size_t)c->n, 1), *rec = calloc((size_t)c->n, 1);
    unsigned char *unit = calloc((size_t)c->n, 1);
    if (!start || !rec || !unit) {
        free(start);
        free(rec);
        free(unit);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    chain_unit_starts(c, unit);
    int rc = 0;
    start[0] = 1;
    switch (k) {
    case SOLVER_NONE:
        break;
    case SOLVER_FULL: {
        /* HF gradient_checkpointing / Megatron full recompute: every numbered block
         * (every unit when the model has none) keeps only its input */
        bool any_block = false;
        for (int s = 0; s < c->n; s++)
            any_block = any_block || chain_stage_in_block(&c->st[s]);
        for (int s = 0; s < c->n; s++) {
            start[s] = unit[s];
            rec[s] = !any_block || chain_stage_in_block(&c->st[s]);
        }
        store_last_segment(c, start, rec);
        break;
    }
    case SOLVER_SQRT: {
        int units = 0;
        for (int s = 0; s < c->n; s++)
            units += unit[s];
        int len = (int)lround(sqrt((double)units));
        if (len < 1)
            len = 1;
        for (int s = 0, u = -1; s < c->n; s++) {
            u += unit[s];
            start[s] = unit[s] && u % len == 0;
            rec[s] = 1;
        }
        store_last_segment(c, start, rec);
        break;
    }
    case SOLVER_GREEDY:
        rc = greedy(p, mc, o, c, unit, start, rec, &out->sched, err);
        if (rc == -ENOSPC)
            snprintf(out->status, sizeof out->status, "infeasible");
        if (!rc)
            snprintf(out->status, sizeof out->status, "feasible");
        free(start);
        free(rec);
        free(unit);
        return rc;
    default:
        rc = remat_fail(err, -EINVAL, "solver %s is not a baseline", solver_name(k));
        break;
    }
    if (!rc)
        rc = lower_two_level(g, c, start, rec, &out->sched, err);
    free(start);
    free(rec);
    free(unit);
    if (!rc)
        snprintf(out->status, sizeof out->status, "%s", k == SOLVER_NONE ? "optimal" : "feasible");
    return rc;
}
