/* executor/cuda/validate.c — `remat validate --device cuda`: runs the no-checkpoint
 * step, then the plan's step, each alone on the device from the same initial
 * weights, and compares the plan's three measured peaks with the prediction, the
 * measured recompute overhead with the predicted one, and the gradients of the
 * first step with the reference's within a stated tolerance. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/cuda/device.h"

void cuda_validate_opts_default(cuda_validate_opts *o)
{
    memset(o, 0, sizeof *o);
    o->steps = 3;
    o->warmup = 1;
    o->tolerance_pct = 1.0;
    o->overhead_pts = 5.0;
    o->grad_rtol = 0.0;
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

static double pct(int64_t meas, int64_t pred)
{
    return pred > 0 ? 100.0 * (double)(meas - pred) / (double)pred : 0.0;
}

static int64_t grad_count(const graph *g)
{
    int64_t n = 0;
    for (int i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].role == ROLE_PARAM && !g->tensors[i].frozen)
            n += g->tensors[i].numel;
    return n;
}

/* Runs total steps of s on a fresh runner; times[k] step seconds, rc_time[k] the
 * recomputation seconds; grads/loss of step 0; the memory measurement of the highest
 * step and the trace of the first measured step checked against pred (when pred). */
typedef struct run_out {
    double *times, *rtimes;
    float *grads;
    float loss;
    cuda_mem_measure mem;
    const sim_result *pred;
    cuda_validate_result *r;
} run_out;

static int run(const graph *g, const mem_config *mc, const schedule *s, const cuda_validate_opts *o,
               bool cupti, run_out *out, remat_err *err)
{
    cuda_exec *x = NULL;
    int rc = cuda_exec_create(&x, g, mc, &o->exec, cupti, err);
    if (rc)
        return rc;
    int64_t n = cuda_exec_grad_count(x);
    int64_t mi_max = 0, cu_max = 0;
    int total = o->warmup + o->steps;
    for (int k = 0; k < total && !rc; k++) {
        rc = cuda_exec_step(x, s, err);
        if (rc)
            break;
        const exec_trace *t = cuda_exec_trace(x);
        const cuda_mem_measure *m = cuda_exec_memory(x);
        out->times[k] = t->step_s;
        out->rtimes[k] = t->recompute_s;
        if (k == 0) {
            out->loss = t->loss;
            rc = cuda_exec_copy_grads(x, out->grads, n, err);
        }
        if (k == 0 || m->tracked_peak > out->mem.tracked_peak)
            out->mem = *m;
        mi_max = m->meminfo_peak > mi_max ? m->meminfo_peak : mi_max;
        cu_max = m->cupti_peak > cu_max ? m->cupti_peak : cu_max;
        if (k == o->warmup && out->pred) {
            cuda_validate_result *r = out->r;
            const sim_result *p = out->pred;
            for (int i = 0; i < t->n && i < p->n && r->timeline_ins < 0; i++)
                if (t->live_after[i] != p->live_after[i] || t->peak_during[i] != p->peak_during[i]) {
                    r->timeline_ins = i;
                    r->timeline_pred = p->live_after[i];
                    r->timeline_meas = t->live_after[i];
                }
        }
    }
    out->mem.meminfo_peak = mi_max;
    out->mem.cupti_peak = cu_max;
    cuda_exec_destroy(x);
    return rc;
}

int cuda_validate(const graph *g, const mem_config *mc, const schedule *s, const sim_result *pred,
                  const cuda_validate_opts *o, cuda_validate_result *r, remat_err *err)
{
    memset(r, 0, sizeof *r);
    r->timeline_ins = -1;
    if (o->steps < 1 || o->warmup < 0)
        return remat_fail(err, -EINVAL, "need at least one measured step");
    if (pred->n != s->n)
        return remat_fail(err, -EINVAL,
                          "the prediction covers %d instructions, the schedule has %d", pred->n,
                          s->n);
    int rc = cuda_exec_check(g, mc, err);
    if (rc)
        return rc;
    rc = cuda_device_probe(r->device, sizeof r->device, err);
    if (rc)
        return rc;
    schedule ref;
    rc = exec_schedule_store_all(g, &ref, err);
    if (rc)
        return rc;
    int total = o->warmup + o->steps;
    int64_t n = grad_count(g);
    size_t nb = (size_t)(n > 0 ? n : 1) * sizeof(float);
    run_out ro = {0}, po = {0};
    ro.times = calloc((size_t)total, sizeof(double));
    ro.rtimes = calloc((size_t)total, sizeof(double));
    po.times = calloc((size_t)total, sizeof(double));
    po.rtimes = calloc((size_t)total, sizeof(double));
    ro.grads = malloc(nb);
    po.grads = malloc(nb);
    if (!ro.times || !ro.rtimes || !po.times || !po.rtimes || !ro.grads || !po.grads) {
        rc = remat_fail(err, -ENOMEM, "out of memory");
        goto out;
    }
    /* the reference: skipped (with a note) when it does not fit the device */
    remat_err rerr;
    int rrc = run(g, mc, &ref, o, false, &ro, &rerr);
    r->ref_ran = rrc == 0;
    if (rrc == -ENOMEM)
        snprintf(r->ref_note, sizeof r->ref_note,
                 "the no-checkpoint step does not fit in device memory: gradients and "
                 "overhead not compared");
    else if (rrc) {
        rc = remat_fail(err, rrc, "no-checkpoint run: %s", rerr.msg);
        goto out;
    }
    /* the plan, with CUPTI memory tracing */
    po.pred = pred;
    po.r = r;
    rc = run(g, mc, s, o, true, &po, err);
    if (rc)
        goto out;

    r->steps = o->steps;
    r->predicted_peak = pred->peak_bytes;
    r->predicted_static = pred->static_bytes;
    r->mem = po.mem;
    r->tracked_diff_pct = pct(po.mem.tracked_peak, pred->peak_bytes);
    r->meminfo_diff_pct = pct(po.mem.meminfo_peak, pred->peak_bytes);
    r->cupti_diff_pct = po.mem.cupti_ok ? pct(po.mem.cupti_peak, pred->peak_bytes) : 0.0;
    r->peak_ok = fabs(r->tracked_diff_pct) <= o->tolerance_pct;
    r->predicted_overhead = pred->compute_overhead;
    r->step_plan_s = median(po.times + o->warmup, o->steps);
    r->recompute_s = median(po.rtimes + o->warmup, o->steps);
    r->loss_plan = po.loss;
    double rtol = o->grad_rtol > 0 ? o->grad_rtol : (g->dtype == DT_BF16 ? 2e-2 : 1e-5);
    r->grad_tol = rtol;
    if (r->ref_ran) {
        r->step_ref_s = median(ro.times + o->warmup, o->steps);
        r->measured_overhead = r->step_ref_s > 0 ? r->step_plan_s / r->step_ref_s - 1.0 : 0.0;
        r->overhead_ok =
            fabs(r->measured_overhead - r->predicted_overhead) * 100.0 <= o->overhead_pts;
        r->loss_ref = ro.loss;
        r->grads_bitwise = memcmp(po.grads, ro.grads, (size_t)n * sizeof(float)) == 0;
        double dmax = 0.0, gmax = 0.0;
        bool finite = true;
        for (int64_t i = 0; i < n; i++) {
            double d = fabs((double)po.grads[i] - (double)ro.grads[i]);
            if (!isfinite(d) || !isfinite((double)ro.grads[i]))
                finite = false;
            else {
                dmax = d > dmax ? d : dmax;
                double a = fabs((double)ro.grads[i]);
                gmax = a > gmax ? a : gmax;
            }
        }
        r->grad_max_abs_diff = dmax;
        r->grad_ref_max_abs = gmax;
        r->grads_ok = finite && dmax <= rtol * gmax && isfinite(r->loss_plan);
    } else {
        r->grads_ok = isfinite(r->loss_plan);
    }
    r->pass = r->peak_ok && r->grads_ok;
out:
    free(ro.times);
    free(ro.rtimes);
    free(po.times);
    free(po.rtimes);
    free(ro.grads);
    free(po.grads);
    schedule_free(&ref);
    return rc;
}

static void row(FILE *f, const char *what, int64_t bytes, double diff, const char *tail)
{
    char b[32];
    fprintf(f, "    %-34s %14lld  %-11s", what, (long long)bytes, remat_format_bytes(bytes, b, sizeof b));
    if (!isnan(diff))
        fprintf(f, " %+8.3f %%", diff);
    fprintf(f, "%s%s\n", tail ? "  " : "", tail ? tail : "");
}

void cuda_validate_print(FILE *f, const cuda_validate_result *r)
{
    const cuda_mem_measure *m = &r->mem;
    char tail[256];
    fprintf(f, "remat validate --device cuda: %s\n", r->device);
    fprintf(f, "  %d measured steps per run; the reference (no checkpointing) and the plan run "
               "one after the other\n",
            r->steps);
    fprintf(f, "  peak device memory, static included   bytes                      vs predicted\n");
    row(f, "predicted (simulator)", r->predicted_peak, NAN, NULL);
    snprintf(tail, sizeof tail, "%s", r->peak_ok ? "within tolerance" : "OUT OF TOLERANCE");
    row(f, "tracked allocator (cudaMalloc)", m->tracked_peak, r->tracked_diff_pct, tail);
    row(f, "cudaMemGetInfo (driver pages)", m->meminfo_peak, r->meminfo_diff_pct,
        "all processes on the device count");
    if (m->cupti_ok) {
        snprintf(tail, sizeof tail, "%lld allocations, %lld releases%s",
                 (long long)m->cupti_allocs, (long long)m->cupti_frees,
                 m->cupti_dropped ? ", RECORDS DROPPED" : "");
        row(f, "CUPTI MEMORY2 records", m->cupti_peak, r->cupti_diff_pct, tail);
    } else {
        fprintf(f, "    %-34s unavailable: %s\n", "CUPTI MEMORY2 records", m->cupti_note);
    }
    fprintf(f, "  static memory: predicted %lld, tracked %lld, cudaMemGetInfo %lld, CUPTI %lld\n",
            (long long)r->predicted_static, (long long)m->tracked_static,
            (long long)m->meminfo_static, (long long)(m->cupti_ok ? m->cupti_static : -1));
    if (r->timeline_ins < 0)
        fprintf(f, "  memory timeline: the tracked bytes match the prediction at every "
                   "instruction\n");
    else
        fprintf(f, "  memory timeline: first differs at instruction %d (predicted live %lld, "
                   "measured %lld)\n",
                r->timeline_ins, (long long)r->timeline_pred, (long long)r->timeline_meas);
    if (r->ref_ran) {
        fprintf(f, "  compute overhead: predicted %.1f %%, measured %.1f %% (step %.4f s with the "
                   "plan, %.4f s without; recomputation %.4f s): %s\n",
                100.0 * r->predicted_overhead, 100.0 * r->measured_overhead, r->step_plan_s,
                r->step_ref_s, r->recompute_s,
                r->overhead_ok ? "within tolerance" : "out of tolerance");
        if (r->grads_bitwise)
            fprintf(f, "  gradients (first step): bitwise identical to the reference\n");
        else
            fprintf(f, "  gradients (first step): max |diff| %.3g = %.3g of max |grad| %.3g "
                       "(tolerance %.0e): %s\n",
                    r->grad_max_abs_diff,
                    r->grad_ref_max_abs > 0 ? r->grad_max_abs_diff / r->grad_ref_max_abs : 0.0,
                    r->grad_ref_max_abs, r->grad_tol, r->grads_ok ? "ok" : "MISMATCH");
        fprintf(f, "  loss (first step): plan %.7g, reference %.7g\n", (double)r->loss_plan,
                (double)r->loss_ref);
    } else {
        fprintf(f, "  reference: %s\n", r->ref_note);
        fprintf(f, "  compute: predicted overhead %.1f %%, step %.4f s with the plan "
                   "(recomputation %.4f s)\n",
                100.0 * r->predicted_overhead, r->step_plan_s, r->recompute_s);
    }
    fprintf(f, "  verdict: %s\n",
            r->pass ? "PASS"
                    : (!r->peak_ok && !r->grads_ok ? "FAIL (peak and gradients)"
                       : !r->peak_ok              ? "FAIL (peak)"
                                                  : "FAIL (gradients)"));
}

int validate_cuda(const graph *g, const mem_config *mc, const schedule *s, const sim_result *pred,
                  int steps, int warmup, double tolerance_pct, FILE *out, remat_err *err)
{
    cuda_validate_opts o;
    cuda_validate_opts_default(&o);
    if (steps > 0)
        o.steps = steps;
    if (warmup >= 0)
        o.warmup = warmup;
    if (tolerance_pct > 0)
        o.tolerance_pct = tolerance_pct;
    cuda_validate_result r;
    int rc = cuda_validate(g, mc, s, pred, &o, &r, err);
    if (rc)
        return rc;
    if (out)
        cuda_validate_print(out, &r);
    return r.pass ? 0 : 1;
}
