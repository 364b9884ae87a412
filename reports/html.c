/* reports/html.c — the one-page HTML report: profile summary, plan table, the
 * chosen plan's checkpoints and peak, the memory timeline and the Pareto plot.
 * Self-contained (inline CSS, inline SVG, no script, no external asset) so the
 * file can be mailed or attached to an issue and still shows everything. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "reports/reports.h"

static const char *const html_css =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:24px auto;max-width:1000px;"
    "color:#222;background:#fff;line-height:1.4}\n"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ccc;"
    "padding-bottom:3px}\n"
    "p.sub{color:#666;margin:0 0 16px}\n"
    "table{border-collapse:collapse;font-size:13px;margin:4px 0}\n"
    "th,td{border:1px solid #d0d0d0;padding:3px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    "tr.chosen td{background:#eef4fb;font-weight:bold}\n"
    "code{font-size:12px;background:#f6f6f6;padding:0 3px}\n"
    "figure{margin:8px 0}svg{max-width:100%;height:auto;border:1px solid #e5e5e5}\n"
    "ul.cols{columns:2;font-size:13px;margin:4px 0}\n";

static void esc(FILE *f, const char *s) { xml_write_escaped(f, s); }

static const char *fmt_bytes(int64_t b, char *buf, size_t n) { return remat_format_bytes(b, buf, n); }

static const char *fmt_flops(int64_t v, char *buf, size_t n)
{
    static const char *const u[] = {"FLOP", "kFLOP", "MFLOP", "GFLOP", "TFLOP", "PFLOP", "EFLOP"};
    double x = (double)v;
    int k = 0;
    while (x >= 1000.0 && k < 6) {
        x /= 1000.0;
        k++;
    }
    if (k == 0)
        snprintf(buf, n, "%lld FLOP", (long long)v);
    else
        snprintf(buf, n, "%.2f %s", x, u[k]);
    return buf;
}

static const char *fmt_time(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, n, "-");
    else if (s >= 1.0)
        snprintf(buf, n, "%.3f s", s);
    else if (s >= 1e-3)
        snprintf(buf, n, "%.3f ms", s * 1e3);
    else
        snprintf(buf, n, "%.3f us", s * 1e6);
    return buf;
}

static void kv_row(FILE *f, const char *k, const char *v)
{
    fputs("<tr><th>", f);
    esc(f, k);
    fputs("</th><td>", f);
    esc(f, v);
    fputs("</td></tr>\n", f);
}

static void profile_section(FILE *f, const profile *p)
{
    const graph *g = &p->g;
    char b[64], c[64], line[256];
    fputs("<h2>Model and profile</h2>\n<table>\n", f);
    kv_row(f, "model", g->model);
    if (g->n_config > 0) {
        fputs("<tr><th>configuration</th><td>", f);
        for (int i = 0; i < g->n_config; i++) {
            fputs(i ? ", <code>" : "<code>", f);
            esc(f, g->config[i].key);
            fputc('=', f);
            esc(f, g->config[i].value);
            fputs("</code>", f);
        }
        fputs("</td></tr>\n", f);
    }
    snprintf(line, sizeof line, "batch %lld, sequence %lld", (long long)g->batch, (long long)g->seq);
    if (g->image > 0)
        snprintf(line + strlen(line), sizeof line - strlen(line), ", image %lld", (long long)g->image);
    kv_row(f, "sizes", line);
    snprintf(line, sizeof line, "activations %s, parameters %s, dropout %g", dtype_name(g->dtype),
             dtype_name(g->param_dtype), g->dropout);
    kv_row(f, "dtypes", line);
    snprintf(line, sizeof line, "%d ops, %d tensors", g->n_ops, g->n_tensors);
    kv_row(f, "graph", line);
    snprintf(line, sizeof line, "%s on %s", profile_source_name(p->source), p->target ? p->target : "?");
    kv_row(f, "profile", line);
    if (p->device_desc && *p->device_desc)
        kv_row(f, "device", p->device_desc);
    snprintf(line, sizeof line, "%lld (%s)", (long long)p->totals.params,
             fmt_bytes(p->totals.param_bytes, b, sizeof b));
    kv_row(f, "parameters", line);
    kv_row(f, "activations saved without checkpointing",
           fmt_bytes(p->totals.saved_activation_bytes, b, sizeof b));
    snprintf(line, sizeof line, "forward %s, backward %s", fmt_flops(p->totals.flops_fwd, b, sizeof b),
             fmt_flops(p->totals.flops_bwd, c, sizeof c));
    kv_row(f, "FLOPs", line);
    snprintf(line, sizeof line, "forward %s, backward %s", fmt_time(p->totals.time_fwd_s, b, sizeof b),
             fmt_time(p->totals.time_bwd_s, c, sizeof c));
    kv_row(f, "time", line);
    fputs("</table>\n", f);
}

static void static_section(FILE *f, const profile *p, const plan *pl)
{
    static_mem sm;
    remat_err e;
    char b[64];
    if (static_memory(&p->g, &pl->mem, &sm, &e) != 0)
        return;
    fputs("<table>\n<tr><th>static memory</th><th>bytes</th></tr>\n", f);
    static const char *const names[] = {"parameters", "parameter gradients", "optimizer state",
                                        "fp32 master weights", "inputs", "workspace", "total"};
    const int64_t v[] = {sm.params, sm.grads, sm.optimizer, sm.master, sm.inputs, sm.workspace, sm.total};
    for (int i = 0; i < 7; i++) {
        if (v[i] == 0 && i != 6)
            continue;
        fprintf(f, "<tr><td>%s</td><td class=\"n\">%s</td></tr>\n", names[i], fmt_bytes(v[i], b, sizeof b));
    }
    fprintf(f, "</table>\n<p>Optimizer %s%s, ZeRO stage %d over %d data-parallel rank%s, allocator "
               "model %s.</p>\n",
            optimizer_name(pl->mem.optimizer), pl->mem.mixed ? " with mixed precision" : "",
            pl->mem.zero_stage, pl->mem.dp, pl->mem.dp == 1 ? "" : "s", allocator_name(pl->mem.allocator));
}

static bool plan_ok(const plan *pl)
{
    return strcmp(pl->status, "optimal") == 0 || strcmp(pl->status, "feasible") == 0;
}

static void plan_table(FILE *f, const html_report_input *in)
{
    char b[64];
    fputs("<table>\n<tr><th>solver</th><th>status</th><th>budget</th><th>predicted peak</th>"
          "<th>activation peak</th><th>compute overhead</th><th>recomputed forwards</th>"
          "<th>checkpointed modules</th><th>multi-level</th><th>solve time</th></tr>\n",
          f);
    for (int i = 0; i < in->n_plans; i++) {
        const plan *pl = &in->plans[i];
        bool ok = plan_ok(pl);
        fprintf(f, "<tr%s><td>%s</td><td>", i == in->chosen ? " class=\"chosen\"" : "",
                solver_name(pl->solver));
        esc(f, pl->status);
        fprintf(f, "</td><td class=\"n\">%s</td>",
                pl->budget_bytes > 0 ? fmt_bytes(pl->budget_bytes, b, sizeof b) : "none");
        if (ok) {
            fprintf(f, "<td class=\"n\">%s</td>", fmt_bytes(pl->pred.peak_bytes, b, sizeof b));
            fprintf(f, "<td class=\"n\">%s</td>", fmt_bytes(pl->pred.activation_peak_bytes, b, sizeof b));
            fprintf(f, "<td class=\"n\">%.1f%%</td><td class=\"n\">%d</td><td class=\"n\">%d</td>"
                       "<td>%s</td>",
                    pl->pred.compute_overhead * 100, pl->pred.recompute_forwards, pl->n_checkpoints,
                    pl->multilevel ? "yes" : "no");
        } else {
            fputs("<td>-</td><td>-</td><td>-</td><td>-</td><td>-</td><td>-</td>", f);
        }
        fprintf(f, "<td class=\"n\">%s</td></tr>\n", fmt_time(pl->solve_s, b, sizeof b));
    }
    fputs("</table>\n", f);
}

static void chosen_section(FILE *f, const html_report_input *in)
{
    const plan *pl = &in->plans[in->chosen];
    const graph *g = &in->prof->g;
    char b[64];
    fprintf(f, "<h2>The %s plan</h2>\n", solver_name(pl->solver));
    if (pl->multilevel)
        fputs("<p><b>Multi-level schedule:</b> some activations are recomputed more than once "
              "(revolve/Rotor style). Trainers that only wrap modules in checkpoint cannot "
              "express it; run it with remat's executor.</p>\n",
              f);
    if (pl->n_checkpoints > 0) {
        fprintf(f, "<p>%d module%s wrapped in <code>torch.utils.checkpoint</code>:</p>\n<ul class=\"cols\">\n",
                pl->n_checkpoints, pl->n_checkpoints == 1 ? "" : "s");
        for (int i = 0; i < pl->n_checkpoints; i++) {
            fputs("<li><code>", f);
            esc(f, pl->checkpoints[i]);
            fputs("</code></li>\n", f);
        }
        fputs("</ul>\n", f);
    } else {
        fputs("<p>No module is checkpointed: every activation is stored.</p>\n", f);
    }
    if (pl->n_selective > 0) {
        fputs("<p>Selective policy inside the checkpointed modules:</p>\n<table>\n"
              "<tr><th>op</th><th>policy</th></tr>\n",
              f);
        for (int i = 0; i < pl->n_selective; i++) {
            fputs("<tr><td><code>", f);
            esc(f, pl->selective[i].op);
            fprintf(f, "</code></td><td>%s</td></tr>\n", pl->selective[i].save ? "save" : "recompute");
        }
        fputs("</table>\n", f);
    }
    if (pl->pred.n_live_at_peak > 0) {
        fprintf(f, "<p>Live at the peak (%s at instruction %d), largest first:</p>\n<table>\n"
                   "<tr><th>tensor</th><th>kind</th><th>bytes</th></tr>\n",
                fmt_bytes(pl->pred.peak_bytes, b, sizeof b), pl->pred.peak_ins);
        int shown = pl->pred.n_live_at_peak < 20 ? pl->pred.n_live_at_peak : 20;
        int64_t rest = 0;
        for (int i = 0; i < pl->pred.n_live_at_peak; i++) {
            const live_entry *e = &pl->pred.live_at_peak[i];
            if (i >= shown) {
                rest += e->bytes;
                continue;
            }
            fputs("<tr><td><code>", f);
            esc(f, e->tensor >= 0 && e->tensor < g->n_tensors ? g->tensors[e->tensor].name : "?");
            fprintf(f, "</code></td><td>%s</td><td class=\"n\">%s</td></tr>\n",
                    e->grad ? "gradient" : "activation", fmt_bytes(e->bytes, b, sizeof b));
        }
        if (shown < pl->pred.n_live_at_peak)
            fprintf(f, "<tr><td>%d more</td><td></td><td class=\"n\">%s</td></tr>\n",
                    pl->pred.n_live_at_peak - shown, fmt_bytes(rest, b, sizeof b));
        fputs("</table>\n", f);
    }
}

static int module_section(FILE *f, const profile *p, remat_err *err)
{
    module_profile *m = NULL;
    int n = 0;
    int rc = profile_modules(p, &m, &n, err);
    if (rc)
        return rc;
    if (n == 0) {
        profile_free_modules(m, n);
        return 0;
    }
    char b[64], c[64], d[64];
    fputs("<h2>Modules</h2>\n<table>\n<tr><th>module</th><th>ops</th><th>saved activations</th>"
          "<th>forward FLOPs</th><th>forward time</th><th>backward time</th></tr>\n",
          f);
    int shown = n < 400 ? n : 400;
    for (int i = 0; i < shown; i++) {
        fputs("<tr><td><code>", f);
        esc(f, m[i].name);
        fprintf(f, "</code></td><td class=\"n\">%d</td><td class=\"n\">%s</td><td class=\"n\">%s</td>"
                   "<td class=\"n\">%s</td><td class=\"n\">",
                m[i].last_op - m[i].first_op + 1, fmt_bytes(m[i].saved_bytes, b, sizeof b),
                fmt_flops(m[i].flops_fwd, c, sizeof c), fmt_time(m[i].time_fwd_s, d, sizeof d));
        fprintf(f, "%s</td></tr>\n", fmt_time(m[i].time_bwd_s, b, sizeof b));
    }
    if (shown < n)
        fprintf(f, "<tr><td colspan=\"6\">%d more modules not shown</td></tr>\n", n - shown);
    fputs("</table>\n", f);
    profile_free_modules(m, n);
    return 0;
}

int html_report(FILE *f, const html_report_input *in, remat_err *err)
{
    if (!in || !in->prof)
        return remat_fail(err, -EINVAL, "nothing to report");
    if (in->n_plans < 0 || (in->n_plans > 0 && (!in->plans || in->chosen < 0 || in->chosen >= in->n_plans)))
        return remat_fail(err, -EINVAL, "bad plan selection");
    const profile *p = in->prof;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          f);
    if (in->title)
        esc(f, in->title);
    else {
        fputs("remat report: ", f);
        esc(f, p->g.model);
    }
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", html_css);
    if (in->title)
        esc(f, in->title);
    else {
        fputs("remat report: ", f);
        esc(f, p->g.model);
    }
    fputs("</h1>\n<p class=\"sub\">Activation checkpointing plan, predicted memory and compute "
          "overhead, written by remat.</p>\n",
          f);
    profile_section(f, p);
    int rc = 0;
    if (in->n_plans > 0) {
        const plan *pl = &in->plans[in->chosen];
        static_section(f, p, pl);
        fputs("<h2>Plans</h2>\n", f);
        plan_table(f, in);
        chosen_section(f, in);
        if (plan_ok(pl) && pl->sched.n > 0) {
            fputs("<h2>Memory timeline</h2>\n<figure>\n", f);
            rc = svg_memory_timeline(f, p, pl, err);
            if (rc)
                return rc;
            fputs("<figcaption>Live memory at each schedule instruction of the chosen plan, "
                  "stacked by kind.</figcaption>\n"
                  "</figure>\n",
                  f);
        }
    }
    if (in->series && in->n_series > 0) {
        fputs("<h2>Budget against compute overhead</h2>\n<figure>\n", f);
        rc = svg_pareto(f, in->series, in->n_series, "Budget against compute overhead", err);
        if (rc)
            return rc;
        fputs("<figcaption>Each solver's compute overhead at each budget; a cross marks a "
              "budget the solver cannot meet.</figcaption>\n</figure>\n",
              f);
    }
    rc = module_section(f, p, err);
    if (rc)
        return rc;
    fputs("</body>\n</html>\n", f);
    return ferror(f) ? remat_fail(err, -EIO, "write error") : 0;
}
