/* executor/validate.c — runs a plan's schedule and the no-checkpoint step side by
 * side on the CPU and compares them with each other and with the prediction. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "executor/executor.h"

void validate_opts_default(validate_opts *o)
{
    memset(o, 0, sizeof *o);
    o->steps = 3;
    o->warmup = 1;
    o->tolerance_pct = 0.0;
    exec_opts_default(&o->exec);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n <= 0)
        return 0.0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* First instruction whose live/peak bytes differ from the prediction, or -1. */
static void compare_timeline(const exec_trace *t, const sim_result *p, validate_result *r)
{
    r->timeline_ins = -1;
    int n = t->n < p->n ? t->n : p->n;
    for (int i = 0; i < n; i++)
        if (t->live_after[i] != p->live_after[i] || t->peak_during[i] != p->peak_during[i]) {
            r->timeline_ins = i;
            r->timeline_pred_live = p->live_after[i];
            r->timeline_meas_live = t->live_after[i];
            r->timeline_pred_peak = p->peak_during[i];
            r->timeline_meas_peak = t->peak_during[i];
            return;
        }
    if (t->n != p->n)
        r->timeline_ins = n;
}

int cpu_validate(const graph *g, const mem_config *mc, const schedule *s, const sim_result *pred,
                 const validate_opts *opts, validate_result *r, remat_err *err)
{
    memset(r, 0, sizeof *r);
    r->grad_step = -1;
    r->timeline_ins = -1;
    if (opts->steps < 1 || opts->warmup < 0)
        return remat_fail(err, -EINVAL, "need at least one measured step");
    if (pred->n != s->n)
        return remat_fail(err, -EINVAL,
                          "the prediction covers %d instructions, the schedule has %d", pred->n,
                          s->n);
    schedule ref;
    int rc = exec_schedule_store_all(g, &ref, err);
    if (rc)
        return rc;
    cpu_exec xp, xr;
    memset(&xr, 0, sizeof xr);
    rc = cpu_exec_init(&xp, g, mc, &opts->exec, err);
    if (rc) {
        schedule_free(&ref);
        return rc;
    }
    rc = cpu_exec_init(&xr, g, mc, &opts->exec, err);
    int64_t n = cpu_exec_grad_count(&xp);
    float *gp = malloc((size_t)(n > 0 ? n : 1) * sizeof *gp);
    float *gr = malloc((size_t)(n > 0 ? n : 1) * sizeof *gr);
    int total = opts->warmup + opts->steps;
    double *tp = calloc((size_t)total, sizeof *tp), *tr = calloc((size_t)total, sizeof *tr);
    double *trc = calloc((size_t)total, sizeof *trc);
    if (!rc && (!gp || !gr || !tp || !tr || !trc))
        rc = remat_fail(err, -ENOMEM, "out of memory");
    r->grads_match = r->loss_match = true;
    for (int k = 0; k < total && !rc; k++) {
        /* alternate the order so neither run always goes first (cache warmth) */
        if (k % 2 == 0) {
            rc = cpu_exec_step(&xr, &ref, err);
            rc = rc ? rc : cpu_exec_step(&xp, s, err);
        } else {
            rc = cpu_exec_step(&xp, s, err);
            rc = rc ? rc : cpu_exec_step(&xr, &ref, err);
        }
        if (rc)
            break;
        tp[k] = xp.trace.step_s;
        tr[k] = xr.trace.step_s;
        trc[k] = xp.trace.recompute_s;
        cpu_exec_copy_grads(&xp, gp, n);
        cpu_exec_copy_grads(&xr, gr, n);
        if (memcmp(gp, gr, (size_t)n * sizeof *gp) != 0 && r->grad_step < 0) {
            r->grads_match = false;
            r->grad_step = k;
            for (int64_t i = 0; i < n; i++)
                if (memcmp(&gp[i], &gr[i], sizeof *gp) != 0) {
                    r->grad_mismatches++;
                    double d = fabs((double)gp[i] - (double)gr[i]);
                    if (d > r->grad_max_abs_diff || isnan(d))
                        r->grad_max_abs_diff = d;
                }
        }
        if (memcmp(&xp.trace.loss, &xr.trace.loss, sizeof(float)) != 0)
            r->loss_match = false;
        r->loss_plan = xp.trace.loss;
        r->loss_ref = xr.trace.loss;
        if (xp.trace.peak_bytes > r->measured_peak) {
            r->measured_peak = xp.trace.peak_bytes;
            r->measured_peak_ins = xp.trace.peak_ins;
        }
    }
    if (!rc) {
        r->steps = opts->steps;
        r->measured_static = xp.trace.static_bytes;
        r->predicted_static = pred->static_bytes;
        r->predicted_peak = pred->peak_bytes;
        r->predicted_peak_ins = pred->peak_ins;
        r->peak_diff_pct = pred->peak_bytes > 0
                               ? 100.0 * (double)(r->measured_peak - pred->peak_bytes) /
                                     (double)pred->peak_bytes
                               : 0.0;
        r->peak_ok = fabs(r->peak_diff_pct) <= opts->tolerance_pct &&
                     (opts->tolerance_pct > 0 || r->measured_peak == pred->peak_bytes);
        compare_timeline(&xp.trace, pred, r);
        r->predicted_overhead = pred->compute_overhead;
        r->step_plan_s = median(tp + opts->warmup, opts->steps);
        r->step_ref_s = median(tr + opts->warmup, opts->steps);
        r->recompute_s = median(trc + opts->warmup, opts->steps);
        r->measured_overhead = r->step_ref_s > 0 ? r->step_plan_s / r->step_ref_s - 1.0 : 0.0;
        r->pass = r->peak_ok && r->grads_match && r->loss_match;
    }
    free(gp);
    free(gr);
    free(tp);
    free(tr);
    free(trc);
    cpu_exec_free(&xp);
    cpu_exec_free(&xr);
    schedule_free(&ref);
    return rc;
}
