/* solver/solve.c — solver_plan: builds the chain view, runs one solver, simulates
 * the finalized schedule (a solver's own arithmetic is never trusted), checks the
 * peak against the budget and fills the trainer-facing summary (checkpointed
 * modules, multilevel marker). solver_min_budget finds the least budget a solver
 * reaches; plan_free releases a plan. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "solver/solver_internal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void plan_free(plan *pl)
{
    if (!pl)
        return;
    schedule_free(&pl->sched);
    sim_result_free(&pl->pred);
    for (int i = 0; i < pl->n_checkpoints; i++)
        free(pl->checkpoints[i]);
    free(pl->checkpoints);
    for (int i = 0; i < pl->n_selective; i++)
        free(pl->selective[i].op);
    free(pl->selective);
    memset(pl, 0, sizeof *pl);
}

static bool chain_solver(solver_kind k)
{
    return k != SOLVER_ILP && k != SOLVER_LP_ROUND;
}

/* Names the segment of stages a..b: the stages' common module when they all share
 * one, else "<first stage's module>..<last stage's module>". */
static char *segment_name(const chain *c, int a, int b)
{
    bool same = true;
    for (int s = a + 1; s <= b && same; s++)
        same = strcmp(c->st[s].module, c->st[a].module) == 0;
    if (same)
        return strdup(c->st[a].module);
    size_t n0 = strlen(c->st[a].module), n1 = strlen(c->st[b].module);
    char *r = malloc(n0 + n1 + 3);
    if (r)
        snprintf(r, n0 + n1 + 3, "%s..%s", c->st[a].module, c->st[b].module);
    return r;
}

/* From a finalized chain schedule: multilevel (only our executor runs it) when some
 * op runs forward three or more times or a recomputed segment cuts through a trainer
 * unit; otherwise every run of recomputations (until the next backward) is one
 * checkpointed segment, named by its stages' module, listed in forward order. */
static int derive_summary(const graph *g, const chain *c, plan *pl)
{
    int rc = 0;
    unsigned char *unit = NULL;
    int *op_stage = malloc((size_t)g->n_ops * sizeof *op_stage);
    int *runs = calloc((size_t)g->n_ops, sizeof *runs);
    int *seg_a = malloc((size_t)(c->n + 1) * sizeof *seg_a);
    int *seg_b = malloc((size_t)(c->n + 1) * sizeof *seg_b);
    if (!op_stage || !runs || !seg_a || !seg_b) {
        rc = -ENOMEM;
        goto done;
    }
    for (int s = 0; s < c->n; s++)
        for (int i = c->st[s].first_op; i <= c->st[s].last_op; i++)
            op_stage[i] = s;
    int nseg = 0, open = 0;
    for (int i = 0; i < pl->sched.n; i++) {
        const sched_ins *in = &pl->sched.ins[i];
        if (in->kind == INS_FWD) {
            if (++runs[in->arg] >= 3)
                pl->multilevel = true;
            if (!(in->flags & INS_RECOMPUTE))
                continue;
            int s = op_stage[in->arg];
            if (!open) {
                if (nseg > c->n) {
                    pl->multilevel = true;
                    continue;
                }
                seg_a[nseg] = seg_b[nseg] = s;
                nseg++;
                open = 1;
            } else {
                if (s < seg_a[nseg - 1])
                    seg_a[nseg - 1] = s;
                if (s > seg_b[nseg - 1])
                    seg_b[nseg - 1] = s;
            }
        } else if (in->kind == INS_BWD) {
            open = 0;
        }
    }
    if (pl->multilevel || nseg == 0)
        goto done;
    /* a segment that does not begin and end at trainer-unit boundaries (half a
     * block) cannot be expressed by wrapping modules: only our executor runs it */
    unit = malloc((size_t)c->n);
    if (!unit) {
        rc = -ENOMEM;
        goto done;
    }
    chain_unit_starts(c, unit);
    for (int k = 0; k < nseg; k++)
        if (!unit[seg_a[k]] || (seg_b[k] + 1 < c->n && !unit[seg_b[k] + 1]))
            pl->multilevel = true;
    if (pl->multilevel)
        goto done;
    pl->checkpoints = calloc((size_t)nseg, sizeof *pl->checkpoints);
    if (!pl->checkpoints) {
        rc = -ENOMEM;
        goto done;
    }
    for (int k = nseg - 1; k >= 0; k--) { /* schedule order is last segment first */
        char *name = segment_name(c, seg_a[k], seg_b[k]);
        if (!name) {
            rc = -ENOMEM;
            goto done;
        }
        if (pl->n_checkpoints > 0 && strcmp(pl->checkpoints[pl->n_checkpoints - 1], name) == 0)
            free(name);
        else
            pl->checkpoints[pl->n_checkpoints++] = name;
    }
done:
    free(unit);
    free(op_stage);
    free(runs);
    free(seg_a);
    free(seg_b);
    return rc;
}

/* The best plan of the chain solvers at this budget, the ILP's MIP start. */
#if defined(HAVE_ILP) && HAVE_ILP
static int ilp_seed(const profile *p, const mem_config *mc, const solver_opts *o, plan *seed,
                    bool *have)
{
    static const solver_kind kinds[] = {SOLVER_DP, SOLVER_GREEDY};
    *have = false;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        plan t;
        remat_err e;
        int rc = solver_plan(p, mc, kinds[i], o, &t, NULL, &e);
        if (rc == -ENOMEM) {
            plan_free(&t);
            if (*have)
                plan_free(seed);
            return rc;
        }
        if (rc == 0 && (!*have || t.pred.compute_s < seed->pred.compute_s)) {
            if (*have)
                plan_free(seed);
            *seed = t;
            *have = true;
        } else {
            plan_free(&t);
        }
    }
    return 0;
}
#endif

static int run_solver(const profile *p, const mem_config *mc, solver_kind k, const solver_opts *o,
                      plan *out, remat_err *err)
{
    if (!chain_solver(k)) {
#if defined(HAVE_ILP) && HAVE_ILP
        plan seed;
        bool have = false;
        int rc = ilp_seed(p, mc, o, &seed, &have);
        if (rc)
            return remat_fail(err, rc, "out of memory");
        rc = solve_ilp(p, mc, o, k == SOLVER_LP_ROUND, have ? &seed : NULL, out, err);
        if (have)
            plan_free(&seed);
        return rc;
#else
        return remat_fail(err, -ENOTSUP, "ilp solver not built");
#endif
    }
    chain c;
    int rc = chain_build(p, &c, err);
    if (rc)
        return rc;
    /* the chain DPs add stage sizes: refuse sizes whose sums leave 64-bit range */
    int64_t total = 0;
    for (int i = 0; i < c.n; i++) {
        const chain_stage *s = &c.st[i];
        if (!checked_add64(total, s->x, &total) || !checked_add64(total, s->xbar, &total) ||
            !checked_add64(total, s->tmp_fwd, &total) || !checked_add64(total, s->tmp_bwd, &total) ||
            total > INT64_MAX / 16) {
            chain_free(&c);
            return remat_fail(err, -ERANGE,
                              "the model's activation bytes overflow the solvers' 64-bit "
                              "arithmetic");
        }
    }
    if (k == SOLVER_SEGMENT || k == SOLVER_DP)
        rc = solve_dp(p, mc, k, o, &c, out, err);
    else
        rc = solve_baseline(p, mc, k, o, &c, out, err);
    if (rc == 0 && !out->multilevel && out->n_checkpoints == 0) {
        int r2 = derive_summary(&p->g, &c, out);
        if (r2)
            rc = remat_fail(err, r2, "out of memory");
    }
    chain_free(&c);
    return rc;
}

static int check_args(const profile *p, const mem_config *mc, solver_kind k, const solver_opts *o,
                      remat_err *err)
{
    if ((unsigned)k >= SOLVER_COUNT)
        return remat_fail(err, -EINVAL, "unknown solver %d", (int)k);
    if (o->budget_bytes < 0)
        return remat_fail(err, -EINVAL, "the budget must not be negative");
    if (o->max_checkpoints < 0)
        return remat_fail(err, -EINVAL, "--max-checkpoints must not be negative");
    if (o->max_checkpoints > 0 && k != SOLVER_DP)
        return remat_fail(err, -EINVAL,
                          "--max-checkpoints (revolve's snapshot count) applies to the dp solver "
                          "only, not %s",
                          solver_name(k));
    if (k == SOLVER_DP && o->slots < 1)
        return remat_fail(err, -EINVAL, "--slots must be at least 1");
    if (p->g.n_ops <= 0)
        return remat_fail(err, -EINVAL, "graph has no ops");
    static_mem sm;
    return static_memory(&p->g, mc, &sm, err);
}

int solver_plan(const profile *p, const mem_config *mc, solver_kind k, const solver_opts *o,
                plan *out, int64_t *min_feasible, remat_err *err)
{
    memset(out, 0, sizeof *out);
    out->solver = k;
    out->budget_bytes = o->budget_bytes;
    out->max_checkpoints = o->max_checkpoints;
    out->mem = *mc;
    snprintf(out->status, sizeof out->status, "no-solution");
    int rc = check_args(p, mc, k, o, err);
    if (rc)
        return rc;
    double t0 = now_s();
    rc = run_solver(p, mc, k, o, out, err);
    if (rc == 0) {
        sim_result_free(&out->pred);
        rc = simulate(p, mc, &out->sched, &out->pred, err);
        if (rc == 0 && o->budget_bytes > 0 && out->pred.peak_bytes > o->budget_bytes)
            rc = -ENOSPC;
    }
    /* dp's slot discretisation can lose to the exact two-level DP on the block
     * chain; two-level plans are multi-level plans too, so dp returns the better
     * of the two (both checked by the simulator). */
    if (k == SOLVER_DP && o->max_checkpoints == 0 && (rc == 0 || rc == -ENOSPC)) {
        plan seg;
        remat_err e2;
        int r2 = solver_plan(p, mc, SOLVER_SEGMENT, o, &seg, NULL, &e2);
        if (r2 == 0 && (rc != 0 || seg.pred.recompute_s < out->pred.recompute_s - 1e-12)) {
            plan_free(out);
            *out = seg;
            out->solver = SOLVER_DP;
            rc = 0;
        } else {
            plan_free(&seg);
        }
    }
    out->solve_s = now_s() - t0;
    if (rc == -ENOSPC) {
        double s = out->solve_s;
        plan_free(out);
        out->solver = k;
        out->budget_bytes = o->budget_bytes;
        out->max_checkpoints = o->max_checkpoints;
        out->mem = *mc;
        out->solve_s = s;
        snprintf(out->status, sizeof out->status, "infeasible");
        char b1[32], b2[32];
        remat_format_bytes(o->budget_bytes, b1, sizeof b1);
        int64_t mn = -1;
        remat_err e2;
        if (min_feasible && o->max_checkpoints == 0 &&
            solver_min_budget(p, mc, k, o, &mn, &e2) == 0) {
            *min_feasible = mn;
            remat_format_bytes(mn, b2, sizeof b2);
            return remat_fail(err, -ENOSPC,
                              "budget %s (%lld B) is below what solver %s reaches; its minimum "
                              "feasible budget is %s (%lld B)",
                              b1, (long long)o->budget_bytes, solver_name(k), b2, (long long)mn);
        }
        if (o->max_checkpoints > 0)
            return remat_fail(err, -ENOSPC, "no %s plan with %d checkpoints fits budget %s",
                              solver_name(k), o->max_checkpoints, b1);
        return remat_fail(err, -ENOSPC, "budget %s (%lld B) is below what solver %s reaches", b1,
                          (long long)o->budget_bytes, solver_name(k));
    }
    if (rc) {
        double s = out->solve_s;
        plan_free(out);
        out->solver = k;
        out->solve_s = s;
        snprintf(out->status, sizeof out->status, "no-solution");
        return rc;
    }
    return 0;
}

/* Whether solver k finds a plan within budget b. */
static int feasible_at(const profile *p, const mem_config *mc, solver_kind k, const solver_opts *o,
                       int64_t b, bool *ok, remat_err *err)
{
    solver_opts ob = *o;
    ob.budget_bytes = b;
    ob.mip_gap = 1.0; /* ilp: any plan within the budget answers the question */
    plan t;
    int rc = solver_plan(p, mc, k, &ob, &t, NULL, err);
    plan_free(&t);
    *ok = rc == 0;
    /* -ETIMEDOUT: the ilp found no plan in its time limit at this budget */
    return rc == -ENOSPC || rc == -ETIMEDOUT ? 0 : rc;
}

int solver_min_budget(const profile *p, const mem_config *mc, solver_kind k,
                      const solver_opts *o, int64_t *out, remat_err *err)
{
    int rc = check_args(p, mc, k, o, err);
    if (rc)
        return rc;
    if (o->max_checkpoints > 0)
        return remat_fail(err, -EINVAL,
                          "a minimum budget in bytes does not apply with --max-checkpoints");
    solver_opts ob = *o;
    ob.budget_bytes = 0;
    plan t;
    /* fixed plans: the budget they need is their peak */
    if (k == SOLVER_NONE || k == SOLVER_FULL || k == SOLVER_SQRT) {
        rc = solver_plan(p, mc, k, &ob, &t, NULL, err);
        if (rc == 0)
            *out = t.pred.peak_bytes;
        plan_free(&t);
        return rc;
    }
    /* budget-driven: bisection between static memory and the no-checkpoint peak,
     * both solvers' families include storing everything */
    rc = solver_plan(p, mc, SOLVER_NONE, &ob, &t, NULL, err);
    if (rc)
        return rc;
    int64_t hi = t.pred.peak_bytes, lo = t.pred.static_bytes;
    plan_free(&t);
    bool ok = false;
    if (k == SOLVER_DP) {
        int64_t m0 = 0;
        rc = dp_model_min_bytes(p, mc, &m0, err);
        if (rc)
            return rc;
        if (m0 > lo && m0 < hi) {
            rc = feasible_at(p, mc, k, o, m0, &ok, err);
            if (rc)
                return rc;
            if (ok)
                hi = m0;
            else
                lo = m0;
        }
    }
    rc = feasible_at(p, mc, k, o, hi, &ok, err);
    if (rc)
        return rc;
    if (!ok)
        return remat_fail(err, -ENOSPC, "solver %s finds no plan even at the no-checkpoint peak",
                          solver_name(k));
    if (lo >= hi) {
        *out = hi;
        return 0;
    }
    int64_t tol = (hi - lo) / 4096;
    if (tol < 1)
        tol = 1;
    while (hi - lo > tol) {
        int64_t mid = lo + (hi - lo) / 2;
        rc = feasible_at(p, mc, k, o, mid, &ok, err);
        if (rc)
            return rc;
        if (ok)
            hi = mid;
        else
            lo = mid;
    }
    *out = hi;
    return 0;
}
