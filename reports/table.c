/* reports/table.c — human-readable text tables. */
#include <stdio.h>
#include <string.h>

#include "reports/reports.h"

static const char *human_flops(double f, char *buf, size_t n)
{
    static const char *u[] = {"", "K", "M", "G", "T", "P", "E"};
    int i = 0;
    while (f >= 1000.0 && i < 6) {
        f /= 1000.0;
        i++;
    }
    snprintf(buf, n, "%.2f %sFLOP", f, u[i]);
    return buf;
}

static const char *human_time(double s, char *buf, size_t n)
{
    if (s >= 1.0)
        snprintf(buf, n, "%.3f s", s);
    else if (s >= 1e-3)
        snprintf(buf, n, "%.3f ms", s * 1e3);
    else
        snprintf(buf, n, "%.1f us", s * 1e6);
    return buf;
}

void table_profile(FILE *f, const profile *p)
{
    const graph *g = &p->g;
    const profile_totals *t = &p->totals;
    char a[32], b[32], c[32], d[32];
    fprintf(f, "model %s  batch %lld  seq %lld  dtype %s  target %s  source %s\n", g->model,
            (long long)g->batch, (long long)g->seq, dtype_name(g->dtype), p->target,
            profile_source_name(p->source));
    module_profile *m = NULL;
    int nm = 0;
    if (profile_modules(p, &m, &nm, NULL) == 0) {
        fprintf(f, "\n%-40s %12s %14s %14s %11s %11s\n", "module", "saved", "fwd FLOPs",
                "bwd FLOPs", "fwd time", "bwd time");
        for (int i = 0; i < nm; i++) {
            const char *name = m[i].name;
            size_t len = strlen(name);
            fprintf(f, "%-40s %12s %14s %14s %11s %11s\n",
                    len > 40 ? name + len - 40 : name,
                    remat_format_bytes(m[i].saved_bytes, a, sizeof a),
                    human_flops((double)m[i].flops_fwd, b, sizeof b),
                    human_flops((double)m[i].flops_bwd, c, sizeof c),
                    human_time(m[i].time_fwd_s, d, sizeof d),
                    human_time(m[i].time_bwd_s, a, sizeof a));
        }
        profile_free_modules(m, nm);
    }
    fprintf(f, "\nparameters          %lld (%s)\n", (long long)t->params,
            remat_format_bytes(t->param_bytes, a, sizeof a));
    fprintf(f, "saved activations   %s (a step without checkpointing)\n",
            remat_format_bytes(t->saved_activation_bytes, a, sizeof a));
    fprintf(f, "FLOPs               %s forward, %s backward\n",
            human_flops((double)t->flops_fwd, a, sizeof a),
            human_flops((double)t->flops_bwd, b, sizeof b));
    fprintf(f, "time                %s forward, %s backward\n",
            human_time(t->time_fwd_s, a, sizeof a), human_time(t->time_bwd_s, b, sizeof b));
}
