/* solver/ilp.c — solve_ilp: the ilp and lp-round solvers. Builds the training DAG
 * of the profile's graph at the requested granularity, lowers the best other
 * solver's schedule (the seed) into R/S as the MIP start, solves the Checkmate
 * model (ilp_model.c), lowers R/S back to a compute sequence, finalizes and
 * simulates it. The simulator, not the model, decides: when the simulated peak
 * exceeds the budget (the model lumps an op's outputs and frees at node
 * granularity), the model's budget is tightened by the excess and the model solved
 * again, a bounded number of times. A plan is never worse than the seed. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "solver/ilp_internal.h"
#include "solver/solver_internal.h"

#define ILP_ATTEMPTS 4

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *gran_name(granularity g)
{
    return g == GRAN_MODULE ? "module" : g == GRAN_BLOCK ? "block" : "op";
}

/* Node of op o's forward / backward in a DAG built by ilp_dag_from_profile. */
static int *op_group_map(const ilp_dag *d, int n_ops)
{
    int *grp = malloc((size_t)n_ops * sizeof *grp);
    if (!grp)
        return NULL;
    for (int g = 0; g < d->n_groups; g++)
        for (int j = d->op_first[g]; j <= d->op_last[g]; j++)
            grp[j] = g;
    return grp;
}

/* The seed's compute sequence as R/S: stage t closes with the first computation of
 * node t; the computations before it (since the previous stage closed) are that
 * stage's recomputations, which must come in increasing node order. Consecutive
 * ops of one group count as one computation of its node. Returns 0, or -EINVAL
 * (with why) when the schedule has no frontier-advancing form at this
 * granularity. */
static int seed_to_sol(const ilp_dag *d, const graph *g, const schedule *s, ilp_sol *out,
                       char *why, size_t nwhy)
{
    const int n = d->n, G = d->n_groups;
    int *grp = op_group_map(d, g->n_ops);
    if (!grp || ilp_sol_alloc(out, d)) {
        free(grp);
        snprintf(why, nwhy, "out of memory");
        return -ENOMEM;
    }
    int t = 0, last_in_stage = -1, prev = -1, rc = 0;
    for (int q = 0; q < s->n && !rc; q++) {
        const sched_ins *in = &s->ins[q];
        if (in->kind != INS_FWD && in->kind != INS_BWD)
            continue;
        if (in->arg < 0 || in->arg >= g->n_ops) {
            snprintf(why, nwhy, "instruction %d names no op", q);
            rc = -EINVAL;
            break;
        }
        int gi = grp[in->arg];
        int v = in->kind == INS_FWD ? gi : 2 * G - 1 - gi;
        if (v == prev)
            continue; /* the next op of the same group */
        prev = v;
        if (t >= n) {
            snprintf(why, nwhy, "computation after the last stage");
            rc = -EINVAL;
        } else if (v == t) {
            out->R[(size_t)t * n + t] = 1;
            t++;
            last_in_stage = -1;
        } else if (v < t && v < d->n_fwd && t > d->last[v]) {
            continue; /* a recomputation nothing uses: the model has no place for waste */
        } else if (v < t && v < d->n_fwd && v > last_in_stage) {
            out->R[(size_t)t * n + v] = 1;
            last_in_stage = v;
        } else {
            snprintf(why, nwhy, "%s of node %d in stage %d is out of frontier order",
                     in->kind == INS_FWD ? "forward" : "backward", v, t);
            rc = -EINVAL;
        }
    }
    if (!rc && t != n) {
        snprintf(why, nwhy, "the schedule computes %d of %d nodes", t, n);
        rc = -EINVAL;
    }
    free(grp);
    if (rc) {
        ilp_sol_free(out);
        return rc;
    }
    ilp_prune(d, out);
    return 0;
}

/* R as a compute sequence: stage by stage, the nodes computed in topological order,
 * a forward node's ops ascending, a backward node's ops descending; then OPT.
 * (Which tensors to free is schedule_finalize's: after the last use.) */
static int sol_to_compute(const ilp_dag *d, const ilp_sol *s, schedule *raw)
{
    const int n = d->n;
    int rc = 0;
    for (int t = 0; t < n && !rc; t++)
        for (int k = 0; k <= t && !rc; k++) {
            if (!s->R[(size_t)t * n + k])
                continue;
            if (k < d->n_fwd) {
                for (int j = d->op_first[k]; j <= d->op_last[k] && !rc; j++)
                    rc = schedule_push(raw, INS_FWD, j, 0);
            } else {
                int gi = n - 1 - k;
                for (int j = d->op_last[gi]; j >= d->op_first[gi] && !rc; j--)
                    rc = schedule_push(raw, INS_BWD, j, 0);
            }
        }
    if (!rc)
        rc = schedule_push(raw, INS_OPT, 0, 0);
    return rc;
}

/* Trainer-facing summary: every op saved or recomputed (selective checkpointing),
 * the regions that hold recomputed ops (block keys at op granularity, the group
 * keys otherwise) to wrap in checkpoint, multilevel when an op runs forward three
 * or more times. */
static int summarize(const graph *g, granularity gran, plan *pl)
{
    int *runs = calloc((size_t)g->n_ops, sizeof *runs);
    if (!runs)
        return -ENOMEM;
    for (int q = 0; q < pl->sched.n; q++)
        if (pl->sched.ins[q].kind == INS_FWD)
            runs[pl->sched.ins[q].arg]++;
    int rc = 0;
    pl->selective = calloc((size_t)g->n_ops, sizeof *pl->selective);
    pl->checkpoints = calloc((size_t)g->n_ops, sizeof *pl->checkpoints);
    if (!pl->selective || !pl->checkpoints) {
        rc = -ENOMEM;
        goto done;
    }
    granularity kg = gran == GRAN_OP ? GRAN_BLOCK : gran;
    char key[256];
    for (int j = 0; j < g->n_ops; j++) {
        const graph_op *o = &g->ops[j];
        pl->selective[j].op = strdup(o->name);
        if (!pl->selective[j].op) {
            rc = -ENOMEM;
            goto done;
        }
        pl->selective[j].save = runs[j] <= 1;
        pl->n_selective = j + 1;
        if (runs[j] >= 3)
            pl->multilevel = true;
        if (runs[j] < 2)
            continue;
        ilp_group_key(o->module ? o->module : o->name, kg, key, sizeof key);
        bool seen = false;
        for (int c = 0; c < pl->n_checkpoints && !seen; c++)
            seen = strcmp(pl->checkpoints[c], key) == 0;
        if (seen)
            continue;
        pl->checkpoints[pl->n_checkpoints] = strdup(key);
        if (!pl->checkpoints[pl->n_checkpoints]) {
            rc = -ENOMEM;
            goto done;
        }
        pl->n_checkpoints++;
    }
done:
    free(runs);
    return rc;
}

/* Memory unit of the model: bytes, KiB or MiB by the size of the dynamic budget,
 * so coefficients stay in a range the simplex handles well. */
static double pick_mem_unit(double dyn)
{
    if (dyn >= 1e9)
        return 1024.0 * 1024.0;
    if (dyn >= 1e6)
        return 1024.0;
    return 1.0;
}

/* Copies seed's schedule and prediction into out. */
static int copy_seed(const plan *seed, plan *out)
{
    schedule_free(&out->sched);
    for (int q = 0; q < seed->sched.n; q++) {
        const sched_ins *in = &seed->sched.ins[q];
        int rc = schedule_push(&out->sched, (ins_kind)in->kind, in->arg, in->flags);
        if (rc)
            return rc;
    }
    return 0;
}

int solve_ilp(const profile *p, const mem_config *mc, const solver_opts *o, bool lp_round,
              const plan *seed, plan *out, remat_err *err)
{
    const graph *g = &p->g;
    const char *who = lp_round ? "lp-round" : "ilp";
    snprintf(out->status, sizeof out->status, "no-solution");
    if (g->n_ops < 1)
        return remat_fail(err, -EINVAL, "%s: graph has no ops", who);
    if ((unsigned)o->gran > GRAN_BLOCK)
        return remat_fail(err, -EINVAL, "%s: unknown granularity %d", who, (int)o->gran);
    double tl = o->time_limit_s > 0 ? o->time_limit_s : 60.0;
    if (!isfinite(tl))
        return remat_fail(err, -EINVAL, "%s: --time-limit must be a finite number of seconds", who);
    if (!(o->mip_gap >= 0) || !isfinite(o->mip_gap))
        return remat_fail(err, -EINVAL, "%s: --gap must be a non-negative number", who);
    /* --gap 1 asks for any plan within the budget (solver_min_budget's probes): the
     * first one found, searching a tenth of the time limit at most */
    if (o->mip_gap >= 1.0)
        tl = tl / 10 > 1 ? tl / 10 : (tl < 1 ? tl : 1);
    static_mem sm;
    int rc = static_memory(g, mc, &sm, err);
    if (rc)
        return rc;
    const int64_t budget = o->budget_bytes;
    if (budget > 0 && budget <= sm.total) {
        snprintf(out->status, sizeof out->status, "infeasible");
        char b1[32], b2[32];
        return remat_fail(err, -ENOSPC, "%s: budget %s does not cover the static memory (%s)",
                          who, remat_format_bytes(budget, b1, sizeof b1),
                          remat_format_bytes(sm.total, b2, sizeof b2));
    }
    const double dyn = budget > 0 ? (double)(budget - sm.total)
                                  : (double)graph_saved_bytes(g) * 2.0 + 1.0;
    const double mem_unit = pick_mem_unit(dyn), cost_unit = 1e-6; /* model: us */
    char note[64];
    snprintf(note, sizeof note, "memory_in_%s_compute_in_us",
             mem_unit == 1.0 ? "bytes" : mem_unit == 1024.0 ? "KiB" : "MiB");
    int64_t *tb = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *tb);
    if (!tb)
        return remat_fail(err, -ENOMEM, "out of memory");
    for (int t = 0; t < g->n_tensors; t++)
        tb[t] = alloc_round(mc->allocator, g->tensors[t].bytes);
    ilp_dag d;
    rc = ilp_dag_from_profile(p, tb, o->gran, mem_unit, cost_unit, &d, err);
    free(tb);
    if (rc)
        return rc;
    rc = ilp_check_size(&d, lp_round, tl, gran_name(o->gran), err);
    if (rc) {
        ilp_dag_free(&d);
        return rc;
    }
    if (o->verbose)
        fprintf(stderr, "%s: %d ops -> %d nodes at %s granularity; static memory %lld B; "
                        "model units: %s\n",
                who, g->n_ops, d.n, gran_name(o->gran), (long long)sm.total, note);
    ilp_sol seed_sol = {0};
    bool have_seed = false;
    if (seed && seed->sched.n > 0) {
        char why[160];
        if (seed_to_sol(&d, g, &seed->sched, &seed_sol, why, sizeof why) == 0)
            have_seed = true;
        else if (o->verbose)
            fprintf(stderr, "%s: the %s plan cannot start the search: %s\n", who,
                    solver_name(seed->solver), why);
    }
    double t0 = now_s(), tighten = 0, bound0 = -1;
    char status0[16] = "";
    bool accepted = false;
    ilp_result res;
    memset(&res, 0, sizeof res);
    for (int attempt = 0; attempt < ILP_ATTEMPTS; attempt++) {
        ilp_params pa;
        memset(&pa, 0, sizeof pa);
        pa.budget = budget > 0 ? (dyn - tighten) / mem_unit : -1;
        double left = tl - (now_s() - t0);
        pa.time_limit_s = left > 0.1 * tl ? left : 0.1 * tl;
        pa.mip_gap = o->mip_gap;
        pa.verbose = o->verbose;
        pa.progress = true;
        pa.dump_lp = attempt == 0 ? o->dump_lp : NULL;
        pa.seed = have_seed ? &seed_sol : NULL;
        pa.unit_note = note;
        if (budget > 0 && pa.budget <= 0)
            break;
        ilp_result_free(&res);
        rc = lp_round ? ilp_solve_lp_round(&d, &pa, &res, err) : ilp_solve_mip(&d, &pa, &res, err);
        if (rc)
            break;
        if (attempt == 0) {
            snprintf(status0, sizeof status0, "%s", res.status);
            bound0 = res.bound;
        }
        if (o->verbose)
            fprintf(stderr, "%s: attempt %d: %s, compute %.6g us (bound %.6g), model peak %.6g, "
                            "%.2f s%s%s\n",
                    who, attempt + 1, res.status, res.cost, res.bound, res.peak, res.solve_s,
                    res.start ? ", started from " : "", res.start ? res.start : "");
        if (strcmp(res.status, "optimal") != 0 && strcmp(res.status, "feasible") != 0)
            break;
        schedule raw = {0};
        rc = sol_to_compute(&d, &res.sol, &raw);
        schedule_free(&out->sched);
        if (!rc)
            rc = schedule_finalize(g, &raw, &out->sched, err);
        else
            rc = remat_fail(err, rc, "out of memory");
        schedule_free(&raw);
        sim_result_free(&out->pred);
        if (!rc)
            rc = simulate(p, mc, &out->sched, &out->pred, err);
        if (rc)
            break;
        if (budget <= 0 || out->pred.peak_bytes <= budget) {
            accepted = true;
            break;
        }
        double excess = (double)(out->pred.peak_bytes - budget);
        tighten += excess;
        if (o->verbose)
            fprintf(stderr, "%s: simulated peak %lld B exceeds the budget by %.0f B (the model "
                            "is coarser than the simulator); tightening its budget to %.0f B\n",
                    who, (long long)out->pred.peak_bytes, excess, dyn - tighten);
    }
    double gap = 0;
    if (!rc && accepted) {
        /* optimal only when the model's first answer was, at the requested budget */
        bool first = tighten == 0;
        const char *st = first ? res.status : "feasible";
        double bnd = first ? res.bound : bound0;
        if (!first && bnd < 0)
            bnd = 0;
        gap = res.cost > 0 && strcmp(st, "optimal") != 0 ? (res.cost - bnd) / res.cost : 0;
        snprintf(out->status, sizeof out->status, "%s", st);
        out->gap = gap < 0 ? 0 : gap;
    }
    /* ilp and lp-round are never worse than their seed (the best chain plan),
     * whatever the model's coarseness or the time limit did */
    if (!rc && seed && seed->sched.n > 0 &&
        (!accepted || seed->pred.compute_s < out->pred.compute_s * (1 - 1e-9)) &&
        (budget <= 0 || seed->pred.peak_bytes <= budget)) {
        if (o->verbose)
            fprintf(stderr, "%s: the %s plan (compute %.6g s) is better than the model's (%s); "
                            "returning it\n",
                    who, solver_name(seed->solver), seed->pred.compute_s,
                    accepted ? "worse" : "none within budget");
        rc = copy_seed(seed, out);
        if (rc)
            rc = remat_fail(err, rc, "out of memory");
        sim_result_free(&out->pred);
        if (!rc)
            rc = simulate(p, mc, &out->sched, &out->pred, err);
        if (!rc) {
            accepted = true;
            snprintf(out->status, sizeof out->status, "feasible");
            double lb = bound0 >= 0 ? bound0 * cost_unit : 0;
            out->gap = out->pred.compute_s > 0 && lb < out->pred.compute_s
                           ? (out->pred.compute_s - lb) / out->pred.compute_s
                           : 0;
        }
    }
    if (!rc && accepted) {
        rc = summarize(g, o->gran, out);
        if (rc)
            rc = remat_fail(err, rc, "out of memory");
    } else if (!rc) {
        const char *st = status0[0] ? status0 : res.status;
        if (strcmp(st, "no-solution") == 0) {
            snprintf(out->status, sizeof out->status, "no-solution");
            rc = remat_fail(err, -ETIMEDOUT,
                            "%s: no solution within the time limit (%.0f s) at %s granularity: "
                            "raise --time-limit, or use --granularity module/block%s",
                            who, tl, gran_name(o->gran),
                            lp_round ? "" : " or --solver lp-round");
        } else {
            char b1[32];
            snprintf(out->status, sizeof out->status, "infeasible");
            rc = remat_fail(err, -ENOSPC, "%s: no plan within budget %s at %s granularity%s", who,
                            remat_format_bytes(budget, b1, sizeof b1), gran_name(o->gran),
                            strcmp(st, "infeasible") == 0 ? " (proven for the model)" : "");
        }
        schedule_free(&out->sched);
        sim_result_free(&out->pred);
    }
    if (o->verbose && rc == 0)
        fprintf(stderr, "%s: %s, gap %.2f%%, simulated peak %lld B, compute %.6g s, %.2f s\n", who,
                out->status, 100 * out->gap, (long long)out->pred.peak_bytes, out->pred.compute_s,
                now_s() - t0);
    ilp_result_free(&res);
    ilp_sol_free(&seed_sol);
    ilp_dag_free(&d);
    return rc;
}
