/* planner/cmd_simulate.c — `remat simulate --plan FILE`: the memory timeline of a
 * plan's schedule and what is live at its peak, by tensor and by module. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planner/commands.h"
#include "reports/reports.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: remat simulate --plan FILE [--full]\n\n"
               "Re-simulates a plan's schedule and prints the live bytes after every\n"
               "instruction (long schedules are abbreviated around the peak unless --full)\n"
               "and the breakdown at the peak by tensor and by module.\n");
}

static void print_ins(const profile *p, const plan *pl, int i)
{
    const sched_ins *in = &pl->sched.ins[i];
    const graph *g = &p->g;
    const sim_result *r = &pl->pred;
    const char *arg = "";
    if (in->kind == INS_FWD || in->kind == INS_BWD)
        arg = g->ops[in->arg].name;
    else if (in->kind == INS_FREE || in->kind == INS_FREE_GRAD)
        arg = g->tensors[in->arg].name;
    char a[32], b[32];
    printf("%7d  %-9s %-3s %-48s %12s %12s%s\n", i, ins_kind_name((ins_kind)in->kind),
           (in->flags & INS_RECOMPUTE) ? "r" : "", arg,
           remat_format_bytes(r->static_bytes + r->live_after[i], a, sizeof a),
           remat_format_bytes(r->static_bytes + r->peak_during[i], b, sizeof b),
           i == r->peak_ins ? "  <- peak" : "");
}

typedef struct mod_sum {
    const char *module;
    int64_t bytes;
} mod_sum;

static int by_bytes(const void *x, const void *y)
{
    const mod_sum *a = x, *b = y;
    if (a->bytes != b->bytes)
        return a->bytes < b->bytes ? 1 : -1;
    return strcmp(a->module, b->module);
}

static int by_module(const void *x, const void *y)
{
    return strcmp(((const mod_sum *)x)->module, ((const mod_sum *)y)->module);
}

int cmd_simulate(int argc, char **argv)
{
    const char *path = NULL;
    bool full = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--plan") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "remat simulate: --plan needs a value\n");
                return 2;
            }
            path = argv[++i];
        } else if (strcmp(argv[i], "--full") == 0) {
            full = true;
        } else {
            fprintf(stderr, "remat simulate: unknown option '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "remat simulate: --plan FILE is required\n");
        return 2;
    }
    profile p;
    plan pl;
    remat_err err;
    if (yaml_read_plan(path, &p, &pl, &err) != 0) {
        fprintf(stderr, "remat simulate: %s\n", err.msg);
        return 1;
    }
    const sim_result *r = &pl.pred;
    char a[32], b[32], c[32];
    printf("plan %s: solver %s (%s), %d instructions\n", path, solver_name(pl.solver), pl.status,
           pl.sched.n);
    printf("%7s  %-9s %-3s %-48s %12s %12s\n", "#", "kind", "", "op or tensor", "live after", "high point");
    int n = pl.sched.n;
    for (int i = 0; i < n; i++) {
        bool near_peak = i >= r->peak_ins - 10 && i <= r->peak_ins + 10;
        if (full || n <= 60 || i < 20 || i >= n - 10 || near_peak) {
            print_ins(&p, &pl, i);
        } else if (i == 20 || i == r->peak_ins + 11) {
            printf("%7s  ... (--full prints every instruction)\n", "");
        }
    }
    printf("\npeak %s at instruction %d (static %s, dynamic %s)", remat_format_bytes(r->peak_bytes, a, sizeof a),
           r->peak_ins, remat_format_bytes(r->static_bytes, b, sizeof b),
           remat_format_bytes(r->activation_peak_bytes, c, sizeof c));
    if (pl.max_checkpoints == 0)
        printf(", budget %s%s", remat_format_bytes(pl.budget_bytes, a, sizeof a),
               r->peak_bytes <= pl.budget_bytes ? "" : "  ** OVER BUDGET **");
    printf("\ncompute overhead %.2f%% (%d recomputed forwards)\n", 100.0 * r->compute_overhead,
           r->recompute_forwards);
    printf("\nlive at the peak, by tensor:\n");
    for (int i = 0; i < r->n_live_at_peak; i++) {
        const live_entry *le = &r->live_at_peak[i];
        printf("  %12s  %s%s\n", remat_format_bytes(le->bytes, a, sizeof a),
               le->grad ? "grad of " : "", p.g.tensors[le->tensor].name);
    }
    mod_sum *ms = calloc(r->n_live_at_peak > 0 ? (size_t)r->n_live_at_peak : 1, sizeof *ms);
    int nm = 0;
    /* group by module: sort by name, then merge runs (linear in the entries,
     * which can be ~10^5 for a large graph) */
    for (int i = 0; ms && i < r->n_live_at_peak; i++) {
        int op = p.g.tensors[r->live_at_peak[i].tensor].producer;
        ms[i].module = op >= 0 ? p.g.ops[op].module : "(inputs)";
        ms[i].bytes = r->live_at_peak[i].bytes;
    }
    if (ms && r->n_live_at_peak > 0) {
        qsort(ms, (size_t)r->n_live_at_peak, sizeof *ms, by_module);
        for (int i = 0; i < r->n_live_at_peak; i++) {
            if (nm > 0 && strcmp(ms[nm - 1].module, ms[i].module) == 0)
                ms[nm - 1].bytes += ms[i].bytes;
            else
                ms[nm++] = ms[i];
        }
    }
    if (ms) {
        qsort(ms, (size_t)nm, sizeof *ms, by_bytes);
        printf("\nlive at the peak, by module:\n");
        for (int k = 0; k < nm; k++)
            printf("  %12s  %s\n", remat_format_bytes(ms[k].bytes, a, sizeof a), ms[k].module);
        free(ms);
    }
    plan_free(&pl);
    profile_free(&p);
    return 0;
}
