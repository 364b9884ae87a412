/* planner/cmd_sweep.c — `remat sweep`: every chosen solver at every budget of a
 * range, as a CSV, a Pareto SVG (budget against compute overhead) and a table.
 * Also holds the memory-option parser `remat report` shares. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "planner/commands.h"
#include "planner/model_opts.h"
#include "planner/sweep.h"
#include "reports/reports.h"

#define SWEEP_MAX_POINTS 10000

int mem_opts_parse(mem_config *mc, int argc, char **argv, int *i, const char *cmd)
{
    const char *f = argv[*i];
    if (strcmp(f, "--mixed") == 0) {
        mc->mixed = true;
        return 1;
    }
    static const char *const valued[] = {"--optimizer", "--zero", "--dp", "--lora-rank",
                                         "--workspace", "--allocator", NULL};
    bool known = false;
    for (int k = 0; valued[k] && !known; k++)
        known = strcmp(f, valued[k]) == 0;
    if (!known)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "remat %s: %s needs a value\n", cmd, f);
        return -1;
    }
    const char *v = argv[++*i];
    int64_t n;
    if (strcmp(f, "--optimizer") == 0) {
        int k = optimizer_from_name(v);
        if (k < 0) {
            fprintf(stderr, "remat %s: --optimizer must be sgd, momentum, adam or adamw\n", cmd);
            return -1;
        }
        mc->optimizer = (optimizer_kind)k;
    } else if (strcmp(f, "--zero") == 0) {
        if (opt_int(cmd, f, v, 0, 3, &n))
            return -1;
        mc->zero_stage = (int)n;
    } else if (strcmp(f, "--dp") == 0) {
        if (opt_int(cmd, f, v, 1, 1 << 20, &n))
            return -1;
        mc->dp = (int)n;
    } else if (strcmp(f, "--lora-rank") == 0) {
        if (opt_int(cmd, f, v, 1, 1 << 16, &n))
            return -1;
        mc->lora_rank = (int)n;
    } else if (strcmp(f, "--workspace") == 0) {
        if (opt_size(cmd, f, v, &mc->workspace_bytes))
            return -1;
    } else {
        int k = allocator_from_name(v);
        if (k < 0) {
            fprintf(stderr, "remat %s: --allocator must be exact or pytorch\n", cmd);
            return -1;
        }
        mc->allocator = (allocator_kind)k;
    }
    return 1;
}

const char mem_opts_help[] =
    "memory options:\n"
    "  --optimizer sgd|momentum|adam|adamw  (default adamw)\n"
    "  --mixed               16-bit weights and grads with fp32 master weights\n"
    "  --zero 0-3            ZeRO stage (3 = FSDP full shard) over --dp GPUs\n"
    "  --dp N                data-parallel degree (default 1)\n"
    "  --lora-rank R         LoRA adapters of rank R; base weights frozen\n"
    "  --workspace SIZE      fixed extra memory (cuBLAS workspace, ...)\n"
    "  --allocator exact|pytorch  allocation rounding model (default exact)\n";

int solver_list_parse(const char *text, bool *use, const char *cmd)
{
    for (int k = 0; k < SOLVER_COUNT; k++)
        use[k] = false;
    if (strcmp(text, "all") == 0) {
        for (int k = 0; k < SOLVER_COUNT; k++)
            use[k] = true;
        return 0;
    }
    char *copy = strdup(text);
    if (!copy) {
        fprintf(stderr, "remat %s: out of memory\n", cmd);
        return -1;
    }
    int n = 0;
    char *save = NULL;
    for (char *s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        int k = solver_from_name(s);
        if (k < 0) {
            fprintf(stderr, "remat %s: unknown solver '%s' (none, full, sqrt, greedy, segment, dp, "
                            "ilp, lp-round, or all)\n",
                    cmd, s);
            free(copy);
            return -1;
        }
        use[k] = true;
        n++;
    }
    free(copy);
    if (n == 0) {
        fprintf(stderr, "remat %s: --solvers needs at least one solver\n", cmd);
        return -1;
    }
    return 0;
}

/* FROM:TO:STEP, each a size. Returns the number of budgets or -1. */
static int parse_budgets(const char *text, int64_t *from, int64_t *step)
{
    char *copy = strdup(text);
    if (!copy)
        return -1;
    char *parts[3] = {0};
    int np = 0;
    char *p = copy;
    while (np < 3) {
        parts[np++] = p;
        char *c = strchr(p, ':');
        if (!c)
            break;
        *c = 0;
        p = c + 1;
    }
    int rc = -1;
    int64_t v[3];
    if (np != 3 || strchr(p, ':')) {
        fprintf(stderr, "remat sweep: --budgets must be FROM:TO:STEP, e.g. 8GB:24GB:2GB\n");
        goto out;
    }
    for (int k = 0; k < 3; k++) {
        remat_err e;
        if (remat_parse_size(parts[k], &v[k], &e) != 0) {
            fprintf(stderr, "remat sweep: --budgets: %s\n", e.msg);
            goto out;
        }
    }
    if (v[0] <= 0 || v[1] < v[0] || v[2] <= 0) {
        fprintf(stderr, "remat sweep: --budgets needs 0 < FROM <= TO and STEP > 0\n");
        goto out;
    }
    int64_t n = (v[1] - v[0]) / v[2] + 1;
    if (n > SWEEP_MAX_POINTS) {
        fprintf(stderr, "remat sweep: --budgets gives %lld budgets (at most %d)\n", (long long)n,
                SWEEP_MAX_POINTS);
        goto out;
    }
    *from = v[0];
    *step = v[2];
    rc = (int)n;
out:
    free(copy);
    return rc;
}

typedef struct sweep_row {
    int solver;
    pareto_point pt;
    int recompute_forwards;
    int n_checkpoints;
    bool multilevel;
    int64_t static_bytes;
    double solve_s;
} sweep_row;

typedef struct sweep_out {
    const sweep_row *rows;
    int n;
} sweep_out;

static int write_csv(FILE *f, void *ctx, remat_err *err)
{
    const sweep_out *s = ctx;
    fputs("solver,budget_bytes,status,peak_bytes,activation_peak_bytes,static_bytes,"
          "compute_overhead,recompute_forwards,checkpoints,multilevel,solve_s\n",
          f);
    for (int i = 0; i < s->n; i++) {
        const sweep_row *r = &s->rows[i];
        if (r->pt.feasible)
            fprintf(f, "%s,%lld,feasible,%lld,%lld,%lld,%.6f,%d,%d,%s,%.6f\n", solver_name(r->solver),
                    (long long)r->pt.budget_bytes, (long long)r->pt.peak_bytes,
                    (long long)(r->pt.peak_bytes - r->static_bytes), (long long)r->static_bytes,
                    r->pt.overhead, r->recompute_forwards, r->n_checkpoints,
                    r->multilevel ? "true" : "false", r->solve_s);
        else
            fprintf(f, "%s,%lld,infeasible,,,,,,,,%.6f\n", solver_name(r->solver),
                    (long long)r->pt.budget_bytes, r->solve_s);
    }
    return ferror(f) ? remat_fail(err, -EIO, "write error") : 0;
}

typedef struct svg_ctx {
    const pareto_series *s;
    int n;
    const char *title;
} svg_ctx;

static int write_svg(FILE *f, void *ctx, remat_err *err)
{
    const svg_ctx *c = ctx;
    return svg_pareto(f, c->s, c->n, c->title, err);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int sweep_run(const profile *p, const mem_config *mc, const solver_opts *base, bool *use,
              const int64_t *budgets, int nb, bool progress, sweep_point_fn on_point, void *ctx,
              remat_err *err)
{
    int ns = 0;
    for (int k = 0; k < SOLVER_COUNT; k++)
        ns += use[k] ? 1 : 0;
    int done = 0;
    char b1[32];
    for (int k = 0; k < SOLVER_COUNT; k++) {
        if (!use[k])
            continue;
        for (int j = 0; j < nb; j++) {
            done++;
            if (progress)
                fprintf(stderr, "[%d/%d] %s @ %s\n", done, ns * nb, solver_name((solver_kind)k),
                        remat_format_bytes(budgets[j], b1, sizeof b1));
            solver_opts o = *base;
            o.budget_bytes = budgets[j];
            plan pl;
            memset(&pl, 0, sizeof pl);
            double t0 = now_s();
            int rc = solver_plan(p, mc, (solver_kind)k, &o, &pl, NULL, err);
            double dt = now_s() - t0;
            if (rc == -ENOTSUP) { /* a solver this build lacks: left out, said once */
                fprintf(stderr, "remat: leaving out %s: %s\n", solver_name((solver_kind)k), err->msg);
                plan_free(&pl);
                use[k] = false;
                done += nb - j - 1;
                break;
            }
            if (rc != 0 && rc != -ENOSPC) {
                plan_free(&pl);
                return rc;
            }
            rc = on_point(ctx, (solver_kind)k, budgets[j], rc == 0 ? &pl : NULL, dt, err);
            plan_free(&pl);
            if (rc)
                return rc;
        }
    }
    return 0;
}

typedef struct collect {
    sweep_row *rows;
    int n;
} collect;

static int collect_point(void *ctx, solver_kind k, int64_t budget, const plan *pl, double solve_s,
                         remat_err *err)
{
    (void)err;
    collect *c = ctx;
    sweep_row *r = &c->rows[c->n++];
    memset(r, 0, sizeof *r);
    r->solver = (int)k;
    r->pt.budget_bytes = budget;
    r->solve_s = solve_s;
    if (pl) {
        r->pt.feasible = true;
        r->pt.overhead = pl->pred.compute_overhead;
        r->pt.peak_bytes = pl->pred.peak_bytes;
        r->static_bytes = pl->pred.static_bytes;
        r->recompute_forwards = pl->pred.recompute_forwards;
        r->n_checkpoints = pl->n_checkpoints;
        r->multilevel = pl->multilevel;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: remat sweep (MODEL OPTIONS | --profile FILE) --budgets FROM:TO:STEP\n"
            "                   [--solvers LIST] [memory options] [-o BASE]\n\n"
            "Plans the model with each solver at each budget from FROM to TO (inclusive) in\n"
            "steps of STEP, and prints a table of compute overheads. With -o, writes\n"
            "BASE.csv (one row per solver and budget, infeasible ones marked) and BASE.svg\n"
            "(budget against compute overhead, one line per solver). Progress goes to stderr.\n\n"
            "%s  --profile FILE        sweep a profile written by `remat profile -o`\n\n"
            "sweep options:\n"
            "  --budgets FROM:TO:STEP  sizes, e.g. 8GB:24GB:2GB (B, KB/MB/GB/TB = 1000^k,\n"
            "                        KiB/MiB/GiB/TiB = 1024^k)\n"
            "  --solvers LIST        comma-separated (none, full, sqrt, greedy, segment, dp,\n"
            "                        ilp, lp-round) or all; default: all but ilp\n"
            "  --slots N             dp memory slots (default 500)\n"
            "  --time-limit SECONDS  ilp time limit per budget (default 60)\n"
            "  --quiet               no progress lines\n"
            "  -o BASE               write BASE.csv and BASE.svg\n\n%s",
            model_opts_help, mem_opts_help);
}

int cmd_sweep(int argc, char **argv)
{
    model_opts mo;
    model_opts_init(&mo, true);
    mem_config mc;
    mem_config_default(&mc);
    solver_opts so;
    solver_opts_default(&so);
    bool use[SOLVER_COUNT];
    for (int k = 0; k < SOLVER_COUNT; k++)
        use[k] = k != SOLVER_ILP;
    const char *budgets_arg = NULL, *out = NULL;
    bool quiet = false;
    int status = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            model_opts_free(&mo);
            return 0;
        }
        int r = model_opts_parse(&mo, argc, argv, &i, "sweep");
        if (r == 0)
            r = mem_opts_parse(&mc, argc, argv, &i, "sweep");
        if (r < 0)
            goto done;
        if (r > 0)
            continue;
        if (strcmp(a, "--quiet") == 0) {
            quiet = true;
            continue;
        }
        bool valued = strcmp(a, "--budgets") == 0 || strcmp(a, "--solvers") == 0 ||
                      strcmp(a, "--slots") == 0 || strcmp(a, "--time-limit") == 0 ||
                      strcmp(a, "-o") == 0;
        if (!valued) {
            fprintf(stderr, "remat sweep: unknown option '%s' (see remat sweep --help)\n", a);
            goto done;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "remat sweep: %s needs a value\n", a);
            goto done;
        }
        const char *v = argv[++i];
        int64_t n;
        if (strcmp(a, "--budgets") == 0) {
            budgets_arg = v;
        } else if (strcmp(a, "--solvers") == 0) {
            if (solver_list_parse(v, use, "sweep"))
                goto done;
        } else if (strcmp(a, "--slots") == 0) {
            if (opt_int("sweep", a, v, 2, 100000, &n))
                goto done;
            so.slots = (int)n;
        } else if (strcmp(a, "--time-limit") == 0) {
            if (opt_double("sweep", a, v, 0.01, 1e7, &so.time_limit_s))
                goto done;
        } else {
            out = v;
        }
    }
    if (!budgets_arg) {
        fprintf(stderr, "remat sweep: --budgets FROM:TO:STEP is required\n");
        goto done;
    }
    int64_t from, step;
    int nb = parse_budgets(budgets_arg, &from, &step);
    if (nb < 0)
        goto done;

    status = 1;
    remat_err err = {{0}};
    profile p;
    int rc = model_opts_profile(&mo, &p, &err);
    if (rc) {
        fprintf(stderr, "remat sweep: %s\n", err.msg);
        goto done;
    }
    int64_t *budgets = malloc((size_t)nb * sizeof *budgets);
    int ns = 0;
    for (int k = 0; k < SOLVER_COUNT; k++)
        ns += use[k] ? 1 : 0;
    collect c = {calloc((size_t)nb * (size_t)ns, sizeof(sweep_row)), 0};
    pareto_point *pts = calloc((size_t)nb * (size_t)ns, sizeof *pts);
    pareto_series series[SOLVER_COUNT];
    if (!budgets || !c.rows || !pts) {
        fprintf(stderr, "remat sweep: out of memory\n");
        goto cleanup;
    }
    for (int j = 0; j < nb; j++)
        budgets[j] = from + step * j;
    rc = sweep_run(&p, &mc, &so, use, budgets, nb, !quiet, collect_point, &c, &err);
    if (rc) {
        fprintf(stderr, "remat sweep: %s\n", err.msg);
        goto cleanup;
    }

    /* table: one row per budget, one column per solver */
    char b1[32];
    printf("%-14s", "budget");
    for (int k = 0; k < SOLVER_COUNT; k++)
        if (use[k])
            printf(" %12s", solver_name((solver_kind)k));
    printf("\n");
    for (int j = 0; j < nb; j++) {
        printf("%-14s", remat_format_bytes(budgets[j], b1, sizeof b1));
        for (int r = 0; r < c.n; r++) {
            if (c.rows[r].pt.budget_bytes != budgets[j])
                continue;
            char cell[32];
            if (c.rows[r].pt.feasible)
                snprintf(cell, sizeof cell, "+%.2f%%", 100.0 * c.rows[r].pt.overhead);
            else
                snprintf(cell, sizeof cell, "infeasible");
            printf(" %12s", cell);
        }
        printf("\n");
    }
    printf("(compute overhead: recomputed forward time / forward+backward time)\n");

    if (out) {
        int n_series = 0, used = 0;
        for (int k = 0; k < SOLVER_COUNT; k++) {
            if (!use[k])
                continue;
            int first = used;
            for (int r = 0; r < c.n; r++)
                if (c.rows[r].solver == k)
                    pts[used++] = c.rows[r].pt;
            series[n_series++] = (pareto_series){solver_name((solver_kind)k), used - first, pts + first};
        }
        size_t len = strlen(out) + 8;
        char *csv = malloc(len), *svg = malloc(len);
        char title[256];
        snprintf(title, sizeof title, "Budget against compute overhead: %s", p.g.model);
        sweep_out so_ = {c.rows, c.n};
        svg_ctx sc = {series, n_series, title};
        if (!csv || !svg) {
            fprintf(stderr, "remat sweep: out of memory\n");
            rc = -ENOMEM;
        } else {
            snprintf(csv, len, "%s.csv", out);
            snprintf(svg, len, "%s.svg", out);
            rc = report_write_atomic(csv, write_csv, &so_, &err);
            if (rc == 0)
                rc = report_write_atomic(svg, write_svg, &sc, &err);
            if (rc)
                fprintf(stderr, "remat sweep: %s\n", err.msg);
            else
                fprintf(stderr, "wrote %s and %s\n", csv, svg);
        }
        free(csv);
        free(svg);
        if (rc)
            goto cleanup;
    }
    status = 0;
cleanup:
    free(budgets);
    free(c.rows);
    free(pts);
    profile_free(&p);
done:
    model_opts_free(&mo);
    return status;
}
