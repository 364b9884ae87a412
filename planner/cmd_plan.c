/* planner/cmd_plan.c — `remat plan`: checkpoints under a budget, with the
 * simulated prediction, written as plan YAML. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "planner/commands.h"
#include "planner/model_opts.h"
#include "planner/sweep.h"
#include "reports/reports.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: remat plan (MODEL OPTIONS | --profile FILE) [--budget SIZE | "
            "--max-checkpoints S] [--solver NAME] [options] [-o FILE]\n\n"
            "Chooses which activations to keep and which to recompute so that the training\n"
            "step fits the budget, and predicts its peak memory and compute overhead with the\n"
            "simulator. Writes plan YAML (docs/plan-format.md) to FILE or stdout.\n\n%s"
            "  --profile FILE        plan a profile written by `remat profile -o`\n\n"
            "planning options:\n"
            "  --budget SIZE         device memory the step may use, e.g. 24GB, 22.5GiB\n"
            "                        (B, KB/MB/GB/TB = 1000^k, KiB/MiB/GiB/TiB = 1024^k;\n"
            "                        default: the --target device's memory)\n"
            "  --max-checkpoints S   revolve mode on chains: at most S stage inputs held\n"
            "  --solver NAME         none, full, sqrt, greedy, segment, dp, ilp, lp-round\n"
            "                        (default dp)\n"
            "  --compare             run every solver and print one table\n"
            "  --slots N             dp memory slots (default 500)\n"
            "  --time-limit SECONDS  ilp time limit (default 60)\n"
            "  --gap G               ilp relative MIP gap (default 0)\n"
            "  --granularity op|module|block  ilp graph granularity (default op)\n"
            "  --dump-lp FILE        ilp: write the model in CPLEX LP format\n"
            "  --verbose             solver progress and details on stderr\n\n"
            "%s\n"
            "  -o FILE               write the plan YAML to FILE\n",
            model_opts_help, mem_opts_help);
}

typedef struct plan_args {
    int64_t budget;
    int max_ckpt;
    int solver;
    bool compare;
    const char *out;
    solver_opts so;
    mem_config mc;
} plan_args;

/* Parses the planning options (the memory options are mem_opts_parse's). Returns 1
 * consumed, 0 not ours, -1 usage error. */
static int parse_plan_opt(plan_args *a, int argc, char **argv, int *i)
{
    const char *f = argv[*i];
    bool flag_only = strcmp(f, "--compare") == 0 || strcmp(f, "--verbose") == 0;
    if (flag_only) {
        if (strcmp(f, "--compare") == 0)
            a->compare = true;
        else
            a->so.verbose = true;
        return 1;
    }
    static const char *const valued[] = {"--budget", "--max-checkpoints", "--solver", "--slots",
                                         "--time-limit", "--gap", "--granularity", "--dump-lp",
                                         "-o", NULL};
    bool known = false;
    for (int k = 0; valued[k] && !known; k++)
        known = strcmp(f, valued[k]) == 0;
    if (!known)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "remat plan: %s needs a value\n", f);
        return -1;
    }
    const char *v = argv[++*i];
    int64_t n;
    if (strcmp(f, "--budget") == 0)
        return opt_size("plan", f, v, &a->budget) ? -1 : 1;
    if (strcmp(f, "--max-checkpoints") == 0) {
        if (opt_int("plan", f, v, 1, 1 << 20, &n))
            return -1;
        a->max_ckpt = (int)n;
    } else if (strcmp(f, "--solver") == 0) {
        a->solver = solver_from_name(v);
        if (a->solver < 0) {
            fprintf(stderr, "remat plan: unknown solver '%s' (none, full, sqrt, greedy, segment, "
                            "dp, ilp, lp-round)\n", v);
            return -1;
        }
    } else if (strcmp(f, "--slots") == 0) {
        if (opt_int("plan", f, v, 2, 100000, &n))
            return -1;
        a->so.slots = (int)n;
    } else if (strcmp(f, "--time-limit") == 0) {
        if (opt_double("plan", f, v, 0.01, 1e7, &a->so.time_limit_s))
            return -1;
    } else if (strcmp(f, "--gap") == 0) {
        if (opt_double("plan", f, v, 0.0, 1.0, &a->so.mip_gap))
            return -1;
    } else if (strcmp(f, "--granularity") == 0) {
        if (strcmp(v, "op") == 0)
            a->so.gran = GRAN_OP;
        else if (strcmp(v, "module") == 0)
            a->so.gran = GRAN_MODULE;
        else if (strcmp(v, "block") == 0)
            a->so.gran = GRAN_BLOCK;
        else {
            fprintf(stderr, "remat plan: --granularity must be op, module or block\n");
            return -1;
        }
    } else if (strcmp(f, "--dump-lp") == 0) {
        a->so.dump_lp = v;
    } else if (strcmp(f, "-o") == 0) {
        a->out = v;
    }
    return 1;
}

typedef struct write_ctx {
    const profile *p;
    const plan *pl;
} write_ctx;

static int write_plan(FILE *f, void *ctx, remat_err *err)
{
    const write_ctx *w = ctx;
    return yaml_write_plan(f, w->p, w->pl, err);
}

static void print_row(FILE *f, const char *name, const plan *pl, int rc, double secs)
{
    char a[32], b[32];
    if (rc == 0)
        fprintf(f, "%-9s %-11s %12s %12s %9.2f%% %10d %9.3f s\n", name, pl->status,
                remat_format_bytes(pl->pred.peak_bytes, a, sizeof a),
                remat_format_bytes(pl->pred.activation_peak_bytes, b, sizeof b),
                100.0 * pl->pred.compute_overhead, pl->pred.recompute_forwards, secs);
    else
        fprintf(f, "%-9s %-11s %12s %12s %10s %10s %9.3f s\n", name,
                rc == -ENOSPC ? "infeasible" : "error", "-", "-", "-", "-", secs);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Runs every solver; keeps the feasible plan with the least compute in *best. */
static int compare(const profile *p, plan_args *a, plan *best, FILE *f)
{
    char bb[32];
    fprintf(f, "budget %s\n", remat_format_bytes(a->budget, bb, sizeof bb));
    fprintf(f, "%-9s %-11s %12s %12s %10s %10s %11s\n", "solver", "status", "peak",
            "act. peak", "overhead", "recompute", "solve time");
    int found = -1;
    for (int k = 0; k < SOLVER_COUNT; k++) {
        plan pl;
        memset(&pl, 0, sizeof pl);
        remat_err err;
        double t0 = now_s();
        int rc = solver_plan(p, &a->mc, (solver_kind)k, &a->so, &pl, NULL, &err);
        print_row(f, solver_name((solver_kind)k), &pl, rc, now_s() - t0);
        if (rc != 0 && rc != -ENOSPC)
            fprintf(f, "          (%s)\n", err.msg);
        if (rc == 0 && (found < 0 || pl.pred.compute_s < best->pred.compute_s - 1e-12)) {
            if (found >= 0)
                plan_free(best);
            *best = pl;
            found = k;
        } else {
            plan_free(&pl);
        }
    }
    return found;
}

/* The message for a budget below what the chosen solver reaches. */
static void report_infeasible(const profile *p, plan_args *a, int64_t min_this)
{
    char b1[32], b2[32], b3[32];
    fprintf(stderr, "remat plan: budget %s is below what %s can reach",
            remat_format_bytes(a->budget, b1, sizeof b1), solver_name((solver_kind)a->solver));
    if (min_this <= 0 && !a->compare && a->solver != SOLVER_ILP && a->solver != SOLVER_LP_ROUND &&
        solver_min_budget(p, &a->mc, (solver_kind)a->solver, &a->so, &min_this, NULL) != 0)
        min_this = -1;
    if (min_this > 0)
        fprintf(stderr, ": it needs at least %s (%lld bytes)",
                remat_format_bytes(min_this, b2, sizeof b2), (long long)min_this);
    int64_t best = -1;
    int best_k = -1;
    for (int k = 0; k < SOLVER_COUNT; k++) {
        if (k == SOLVER_ILP || k == SOLVER_LP_ROUND)
            continue; /* too slow to bisect */
        int64_t m;
        if (solver_min_budget(p, &a->mc, (solver_kind)k, &a->so, &m, NULL) == 0 &&
            (best < 0 || m < best)) {
            best = m;
            best_k = k;
        }
    }
    if (best_k >= 0 && !(best_k == a->solver && best == min_this))
        fprintf(stderr, "; the best chain solver (%s) needs at least %s (%lld bytes)",
                solver_name((solver_kind)best_k), remat_format_bytes(best, b3, sizeof b3),
                (long long)best);
    fprintf(stderr, "\n");
}

int cmd_plan(int argc, char **argv)
{
    model_opts mo;
    model_opts_init(&mo, true);
    plan_args a;
    memset(&a, 0, sizeof a);
    a.solver = SOLVER_DP;
    a.budget = -1;
    solver_opts_default(&a.so);
    mem_config_default(&a.mc);
    int status = 2;
    for (int i = 1; i < argc; i++) {
        int r = model_opts_parse(&mo, argc, argv, &i, "plan");
        if (r == 0)
            r = mem_opts_parse(&a.mc, argc, argv, &i, "plan");
        if (r == 0)
            r = parse_plan_opt(&a, argc, argv, &i);
        if (r < 0)
            goto done;
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            status = 0;
        } else {
            fprintf(stderr, "remat plan: unknown option '%s' (see --help)\n", argv[i]);
        }
        goto done;
    }
    if (a.budget >= 0 && a.max_ckpt > 0) {
        fprintf(stderr, "remat plan: give --budget or --max-checkpoints, not both\n");
        goto done;
    }
    if (a.mc.zero_stage > 0 && a.mc.dp < 2)
        fprintf(stderr, "remat plan: note: --zero %d with --dp 1 shards nothing\n",
                a.mc.zero_stage);
    profile p;
    remat_err err;
    status = 1;
    if (model_opts_profile(&mo, &p, &err) != 0) {
        fprintf(stderr, "remat plan: %s\n", err.msg);
        goto done;
    }
    if (a.budget < 0 && a.max_ckpt == 0) {
        const device_spec *d = device_find(p.target);
        if (!d) {
            fprintf(stderr, "remat plan: the profile's target '%s' is not in the device table: "
                            "give --budget\n", p.target);
            goto free_profile;
        }
        a.budget = d->mem_bytes;
    }
    a.so.budget_bytes = a.max_ckpt > 0 ? INT64_MAX : a.budget;
    a.so.max_checkpoints = a.max_ckpt;
    plan pl;
    if (a.compare) {
        int k = compare(&p, &a, &pl, stdout);
        if (k < 0) {
            fprintf(stderr, "remat plan: no solver fits the budget\n");
            report_infeasible(&p, &a, -1);
            goto free_profile;
        }
        if (a.out) {
            write_ctx w = {&p, &pl};
            if (report_write_atomic(a.out, write_plan, &w, &err) != 0) {
                fprintf(stderr, "remat plan: %s\n", err.msg);
                plan_free(&pl);
                goto free_profile;
            }
            fprintf(stderr, "remat plan: wrote the best plan (%s) to %s\n",
                    solver_name((solver_kind)k), a.out);
        }
        plan_free(&pl);
        status = 0;
        goto free_profile;
    }
    int64_t min_feasible = -1;
    memset(&pl, 0, sizeof pl);
    double t0 = now_s();
    int rc = solver_plan(&p, &a.mc, (solver_kind)a.solver, &a.so, &pl, &min_feasible, &err);
    double secs = now_s() - t0;
    if (rc == -ENOSPC) {
        if (a.max_ckpt > 0)
            fprintf(stderr, "remat plan: %s\n", err.msg);
        else
            report_infeasible(&p, &a, min_feasible);
        plan_free(&pl);
        goto free_profile;
    }
    if (rc != 0) {
        fprintf(stderr, "remat plan: %s\n", err.msg);
        goto free_profile;
    }
    char b1[32], b2[32];
    fprintf(stderr, "remat plan: %s %s in %.3f s: peak %s of %s budget, compute overhead %.2f%%, "
                    "%d recomputed forwards\n",
            solver_name(pl.solver), pl.status, secs,
            remat_format_bytes(pl.pred.peak_bytes, b1, sizeof b1),
            a.max_ckpt > 0 ? "(snapshot)" : remat_format_bytes(a.budget, b2, sizeof b2),
            100.0 * pl.pred.compute_overhead, pl.pred.recompute_forwards);
    write_ctx w = {&p, &pl};
    if (report_write_atomic(a.out ? a.out : "-", write_plan, &w, &err) != 0)
        fprintf(stderr, "remat plan: %s\n", err.msg);
    else
        status = 0;
    plan_free(&pl);
free_profile:
    profile_free(&p);
done:
    model_opts_free(&mo);
    return status;
}
