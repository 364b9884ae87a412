/* reports/table.c — readable text tables for a terminal: the profile (module rows
 * and totals in human units). Plain ASCII, columns aligned, deterministic. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reports/reports.h"

/* "1.23 GFLOP", "512 FLOP". */
static char *fmt_flops(int64_t v, char *buf, size_t n)
{
    static const char *const unit[] = {"", "K", "M", "G", "T", "P", "E"};
    double x = (double)v;
    int u = 0;
    while (x >= 1000.0 && u < 6) {
        x /= 1000.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%lld FLOP", (long long)v);
    else
        snprintf(buf, n, "%.2f %sFLOP", x, unit[u]);
    return buf;
}

/* "1.23 s", "45.6 ms", "789 us", "12 ns", "0 s". */
static char *fmt_time(double s, char *buf, size_t n)
{
    if (s == 0.0)
        snprintf(buf, n, "0 s");
    else if (s >= 1.0)
        snprintf(buf, n, "%.3g s", s);
    else if (s >= 1e-3)
        snprintf(buf, n, "%.3g ms", s * 1e3);
    else if (s >= 1e-6)
        snprintf(buf, n, "%.3g us", s * 1e6);
    else
        snprintf(buf, n, "%.3g ns", s * 1e9);
    return buf;
}

/* "124.44 M", "7.00 B". */
static char *fmt_count(int64_t v, char *buf, size_t n)
{
    if (v >= 1000000000)
        snprintf(buf, n, "%.2f B", (double)v / 1e9);
    else if (v >= 1000000)
        snprintf(buf, n, "%.2f M", (double)v / 1e6);
    else if (v >= 1000)
        snprintf(buf, n, "%.2f K", (double)v / 1e3);
    else
        snprintf(buf, n, "%lld", (long long)v);
    return buf;
}

/* Nesting depth of row k: how many earlier rows are dot-prefixes of its name and
 * contain its op range. */
static int row_depth(const module_profile *m, int k)
{
    int d = 0;
    size_t lk = strlen(m[k].name);
    for (int j = k - 1; j >= 0 && d < 4; j--) {
        size_t lj = strlen(m[j].name);
        if (lj < lk && strncmp(m[j].name, m[k].name, lj) == 0 && m[k].name[lj] == '.' &&
            m[j].first_op <= m[k].first_op && m[j].last_op >= m[k].last_op)
            d++;
    }
    return d;
}

int report_profile_table(FILE *f, const profile *p, remat_err *err)
{
    const graph *g = &p->g;
    module_profile *m = NULL;
    int n = 0;
    int rc = profile_modules(p, &m, &n, err);
    if (rc)
        return rc;
    char a[48], b[48], c[48], d[48], e[48];
    fprintf(f, "model   %s: batch %lld", g->model, (long long)g->batch);
    if (g->image > 0)
        fprintf(f, ", image %lld", (long long)g->image);
    else
        fprintf(f, ", seq %lld", (long long)g->seq);
    fprintf(f, ", %s, dropout %g\n", dtype_name(g->dtype), g->dropout);
    if (g->n_config > 0) {
        fprintf(f, "config ");
        for (int i = 0; i < g->n_config; i++)
            fprintf(f, " %s=%s", g->config[i].key, g->config[i].value);
        fprintf(f, "\n");
    }
    fprintf(f, "target  %s (%s), source %s\n\n", p->target ? p->target : "?",
            p->device_desc ? p->device_desc : "", profile_source_name(p->source));

    int width = 6;
    for (int k = 0; k < n; k++) {
        int w = (int)strlen(m[k].name) + 2 * row_depth(m, k);
        if (w > width)
            width = w;
    }
    if (width > 60)
        width = 60;
    fprintf(f, "%-*s %12s %14s %14s %10s %10s\n", width, "module", "saved", "fwd FLOPs",
            "bwd FLOPs", "fwd time", "bwd time");
    for (int k = 0; k < n; k++) {
        int depth = row_depth(m, k);
        fprintf(f, "%*s%-*s %12s %14s %14s %10s %10s\n", 2 * depth, "", width - 2 * depth,
                m[k].name, remat_format_bytes(m[k].saved_bytes, a, sizeof a),
                fmt_flops(m[k].flops_fwd, b, sizeof b), fmt_flops(m[k].flops_bwd, c, sizeof c),
                fmt_time(m[k].time_fwd_s, d, sizeof d), fmt_time(m[k].time_bwd_s, e, sizeof e));
    }
    const profile_totals *t = &p->totals;
    fprintf(f, "%-*s %12s %14s %14s %10s %10s\n", width, "total",
            remat_format_bytes(t->saved_activation_bytes, a, sizeof a),
            fmt_flops(t->flops_fwd, b, sizeof b), fmt_flops(t->flops_bwd, c, sizeof c),
            fmt_time(t->time_fwd_s, d, sizeof d), fmt_time(t->time_bwd_s, e, sizeof e));
    fprintf(f, "\nparameters            %s (%lld), %s\n", fmt_count(t->params, a, sizeof a),
            (long long)t->params, remat_format_bytes(t->param_bytes, b, sizeof b));
    fprintf(f, "saved activations     %s without checkpointing (%d ops, %d modules)\n",
            remat_format_bytes(t->saved_activation_bytes, a, sizeof a), g->n_ops, n);
    fprintf(f, "step compute          %s forward + %s backward, %s + %s\n",
            fmt_flops(t->flops_fwd, b, sizeof b), fmt_flops(t->flops_bwd, c, sizeof c),
            fmt_time(t->time_fwd_s, d, sizeof d), fmt_time(t->time_bwd_s, e, sizeof e));
    profile_free_modules(m, n);
    if (ferror(f))
        return remat_fail(err, -EIO, "write error");
    return 0;
}
