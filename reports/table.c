/* reports/table.c — human-readable text tables for a terminal: the profile
 * (header, one row per module with sub-blocks indented under their block, the
 * totals), in human units. Plain ASCII, aligned, deterministic. */
#include <stdio.h>
#include <string.h>

#include "reports/reports.h"

/* "1.23 GFLOP", "512 FLOP". */
static const char *human_flops(int64_t v, char *buf, size_t n)
{
    static const char *const u[] = {"", "K", "M", "G", "T", "P", "E"};
    double f = (double)v;
    int i = 0;
    while (f >= 1000.0 && i < 6) {
        f /= 1000.0;
        i++;
    }
    if (i == 0)
        snprintf(buf, n, "%lld FLOP", (long long)v);
    else
        snprintf(buf, n, "%.2f %sFLOP", f, u[i]);
    return buf;
}

/* "1.23 s", "45.6 ms", "789 us", "12.3 ns", "0 s". */
static const char *human_time(double s, char *buf, size_t n)
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

/* "124.44 M", "6.74 B". */
static const char *human_count(int64_t v, char *buf, size_t n)
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

/* Nesting depth of row k: earlier rows whose name is a dot-prefix of its name and
 * whose op range contains its range. */
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

#define NAME_MAX_WIDTH 56

static void print_row(FILE *f, int width, int indent, const char *name, int64_t saved,
                      int64_t ff, int64_t fb, double tf, double tb)
{
    char a[48], b[48], c[48], d[48], e[48];
    size_t len = strlen(name);
    int room = width - indent;
    /* keep the end of an over-long name: it is the distinguishing part */
    const char *shown = (int)len > room ? name + len - (size_t)room : name;
    fprintf(f, "%*s%-*s %11s %14s %14s %10s %10s\n", indent, "", room, shown,
            remat_format_bytes(saved, a, sizeof a), human_flops(ff, b, sizeof b),
            human_flops(fb, c, sizeof c), human_time(tf, d, sizeof d),
            human_time(tb, e, sizeof e));
}

void table_profile(FILE *f, const profile *p)
{
    const graph *g = &p->g;
    const profile_totals *t = &p->totals;
    char a[48], b[48], c[48], d[48];
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
    fprintf(f, "target  %s (%s), source %s\n", p->target ? p->target : "?",
            p->device_desc ? p->device_desc : "", profile_source_name(p->source));

    module_profile *m = NULL;
    int nm = 0;
    if (profile_modules(p, &m, &nm, NULL) == 0) {
        int width = 6;
        for (int k = 0; k < nm; k++) {
            int w = (int)strlen(m[k].name) + 2 * row_depth(m, k);
            width = w > width ? w : width;
        }
        width = width > NAME_MAX_WIDTH ? NAME_MAX_WIDTH : width;
        fprintf(f, "\n%-*s %11s %14s %14s %10s %10s\n", width, "module", "saved", "fwd FLOPs",
                "bwd FLOPs", "fwd time", "bwd time");
        for (int k = 0; k < nm; k++)
            print_row(f, width, 2 * row_depth(m, k), m[k].name, m[k].saved_bytes,
                      m[k].flops_fwd, m[k].flops_bwd, m[k].time_fwd_s, m[k].time_bwd_s);
        print_row(f, width, 0, "total", t->saved_activation_bytes, t->flops_fwd, t->flops_bwd,
                  t->time_fwd_s, t->time_bwd_s);
        profile_free_modules(m, nm);
    }
    fprintf(f, "\nparameters          %s (%lld), %s\n", human_count(t->params, a, sizeof a),
            (long long)t->params, remat_format_bytes(t->param_bytes, b, sizeof b));
    fprintf(f, "saved activations   %s (a step without checkpointing; each tensor once)\n",
            remat_format_bytes(t->saved_activation_bytes, a, sizeof a));
    fprintf(f, "FLOPs               %s forward, %s backward\n",
            human_flops(t->flops_fwd, a, sizeof a), human_flops(t->flops_bwd, b, sizeof b));
    fprintf(f, "time                %s forward, %s backward (%d ops)\n",
            human_time(t->time_fwd_s, c, sizeof c), human_time(t->time_bwd_s, d, sizeof d),
            g->n_ops);
}
