/* planner/cmd_report.c — `remat report`: one self-contained HTML page with the
 * profile summary, the solvers compared at one budget, the chosen plan's
 * checkpoints and memory timeline, and a Pareto plot over a range of budgets. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planner/commands.h"
#include "planner/model_opts.h"
#include "planner/sweep.h"
#include "reports/reports.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: remat report (MODEL OPTIONS | --profile FILE | --plan FILE) [--budget SIZE]\n"
            "                    [--solver NAME] [--solvers LIST] [--points N] [memory options]\n"
            "                    [-o PAGE.html]\n\n"
            "Writes one self-contained HTML page (inline CSS and SVG, nothing fetched): the\n"
            "profile summary, every solver's plan at the budget, the chosen plan's checkpoints,\n"
            "what is live at its peak, its memory timeline, and a Pareto plot of budget against\n"
            "compute overhead. Without -o the page goes to stdout.\n\n"
            "%s  --profile FILE        report on a profile written by `remat profile -o`\n"
            "  --plan FILE           report on a plan written by `remat plan -o` (its\n"
            "                        budget, memory options and solver)\n\n"
            "report options:\n"
            "  --budget SIZE         device memory the step may use (default: the --target\n"
            "                        device's memory)\n"
            "  --solver NAME         the plan drawn on the timeline (default dp; when it does\n"
            "                        not fit, the feasible plan with the least overhead)\n"
            "  --solvers LIST        solvers compared in the table and the Pareto plot,\n"
            "                        comma-separated or all (default: all but ilp)\n"
            "  --points N            budgets in the Pareto plot (default 8, 0: no plot)\n"
            "  -o FILE               write the page to FILE\n\n%s",
            model_opts_help, mem_opts_help);
}

typedef struct pareto_acc {
    pareto_point *pts;   /* SOLVER_COUNT * nb, solver-major */
    int count[SOLVER_COUNT];
    int nb;
} pareto_acc;

static int pareto_point_cb(void *ctx, solver_kind k, int64_t budget, const plan *pl, double solve_s,
                           remat_err *err)
{
    (void)solve_s;
    (void)err;
    pareto_acc *a = ctx;
    pareto_point *q = &a->pts[(size_t)k * (size_t)a->nb + (size_t)a->count[k]++];
    q->budget_bytes = budget;
    q->feasible = pl != NULL;
    q->overhead = pl ? pl->pred.compute_overhead : 0;
    q->peak_bytes = pl ? pl->pred.peak_bytes : 0;
    return 0;
}

typedef struct page {
    html_report_input in;
} page;

static int write_page(FILE *f, void *ctx, remat_err *err)
{
    return html_report(f, &((page *)ctx)->in, err);
}

static bool feasible(const plan *pl)
{
    return strcmp(pl->status, "optimal") == 0 || strcmp(pl->status, "feasible") == 0;
}

int cmd_report(int argc, char **argv)
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
    const char *plan_file = NULL, *out = "-";
    int64_t budget = 0;
    int chosen_solver = SOLVER_DP;
    bool solvers_given = false;
    int64_t points = 8;
    int status = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            model_opts_free(&mo);
            return 0;
        }
        int r = model_opts_parse(&mo, argc, argv, &i, "report");
        if (r == 0)
            r = mem_opts_parse(&mc, argc, argv, &i, "report");
        if (r < 0)
            goto done;
        if (r > 0)
            continue;
        bool valued = strcmp(a, "--plan") == 0 || strcmp(a, "--budget") == 0 ||
                      strcmp(a, "--solver") == 0 || strcmp(a, "--solvers") == 0 ||
                      strcmp(a, "--points") == 0 || strcmp(a, "-o") == 0;
        if (!valued) {
            fprintf(stderr, "remat report: unknown option '%s' (see remat report --help)\n", a);
            goto done;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "remat report: %s needs a value\n", a);
            goto done;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--plan") == 0) {
            plan_file = v;
        } else if (strcmp(a, "--budget") == 0) {
            if (opt_size("report", a, v, &budget))
                goto done;
        } else if (strcmp(a, "--solver") == 0) {
            chosen_solver = solver_from_name(v);
            if (chosen_solver < 0) {
                fprintf(stderr, "remat report: unknown solver '%s' (none, full, sqrt, greedy, "
                                "segment, dp, ilp, lp-round)\n", v);
                goto done;
            }
        } else if (strcmp(a, "--solvers") == 0) {
            if (solver_list_parse(v, use, "report"))
                goto done;
            solvers_given = true;
        } else if (strcmp(a, "--points") == 0) {
            if (opt_int("report", a, v, 0, 200, &points))
                goto done;
        } else {
            out = v;
        }
    }

    status = 1;
    remat_err err = {{0}};
    profile p;
    memset(&p, 0, sizeof p);
    plan plans[SOLVER_COUNT + 1];
    memset(plans, 0, sizeof plans);
    int n_plans = 0, chosen = -1;
    pareto_acc acc = {NULL, {0}, 0};
    pareto_series series[SOLVER_COUNT];
    int n_series = 0;
    int rc;

    if (plan_file) {
        rc = yaml_read_plan(plan_file, &p, &plans[0], &err);
        if (rc) {
            fprintf(stderr, "remat report: %s\n", err.msg);
            goto done;
        }
        n_plans = 1;
        chosen = 0;
        mc = plans[0].mem;
        budget = plans[0].budget_bytes;
        if (!solvers_given)
            for (int k = 0; k < SOLVER_COUNT; k++)
                use[k] = k == (int)plans[0].solver;
    } else {
        rc = model_opts_profile(&mo, &p, &err);
        if (rc) {
            fprintf(stderr, "remat report: %s\n", err.msg);
            goto done;
        }
        if (budget <= 0) {
            const device_spec *d = device_find(p.target);
            if (!d) {
                fprintf(stderr, "remat report: no --budget and no device memory for target '%s'\n",
                        p.target ? p.target : "?");
                goto cleanup;
            }
            budget = d->mem_bytes;
        }
    }

    /* the solvers compared at the budget (a --plan's own solver is already there) */
    for (int k = 0; k < SOLVER_COUNT; k++) {
        if (!use[k] || (plan_file && k == (int)plans[0].solver))
            continue;
        so.budget_bytes = budget;
        plan *pl = &plans[n_plans];
        memset(pl, 0, sizeof *pl);
        rc = solver_plan(&p, &mc, (solver_kind)k, &so, pl, NULL, &err);
        if (rc == -ENOTSUP) { /* a solver this build lacks */
            fprintf(stderr, "remat report: leaving out %s: %s\n", solver_name((solver_kind)k), err.msg);
            plan_free(pl);
            use[k] = false;
            continue;
        }
        if (rc != 0 && rc != -ENOSPC) {
            fprintf(stderr, "remat report: %s: %s\n", solver_name((solver_kind)k), err.msg);
            goto cleanup;
        }
        if (rc == -ENOSPC) {
            pl->solver = (solver_kind)k;
            pl->budget_bytes = budget;
            if (!feasible(pl) && pl->status[0] == 0)
                snprintf(pl->status, sizeof pl->status, "infeasible");
        }
        n_plans++;
    }
    if (chosen < 0) {
        for (int i = 0; i < n_plans; i++)
            if ((int)plans[i].solver == chosen_solver && feasible(&plans[i]))
                chosen = i;
        for (int i = 0; i < n_plans && chosen < 0; i++)
            if (feasible(&plans[i]))
                chosen = i;
        for (int i = 0; i < n_plans; i++)
            if (chosen >= 0 && feasible(&plans[i]) &&
                (int)plans[chosen].solver != chosen_solver &&
                plans[i].pred.compute_overhead < plans[chosen].pred.compute_overhead)
                chosen = i;
        if (chosen < 0) {
            char b[32];
            fprintf(stderr, "remat report: no solver fits %s; the page shows the profile and the "
                            "Pareto plot only\n",
                    remat_format_bytes(budget, b, sizeof b));
            chosen = 0;
        }
    }

    /* Pareto: from an eighth of the dynamic memory to the peak without checkpointing */
    if (points > 0) {
        plan none;
        memset(&none, 0, sizeof none);
        solver_opts o = so;
        o.budget_bytes = INT64_MAX / 4;
        rc = solver_plan(&p, &mc, SOLVER_NONE, &o, &none, NULL, &err);
        if (rc) {
            fprintf(stderr, "remat report: %s\n", err.msg);
            plan_free(&none);
            goto cleanup;
        }
        int64_t hi = none.pred.peak_bytes, stat = none.pred.static_bytes;
        plan_free(&none);
        int64_t lo = stat + (hi - stat) / 8;
        int nb = (int)points;
        int64_t *budgets = malloc((size_t)nb * sizeof *budgets);
        acc.nb = nb;
        acc.pts = calloc((size_t)SOLVER_COUNT * (size_t)nb, sizeof *acc.pts);
        if (!budgets || !acc.pts) {
            free(budgets);
            fprintf(stderr, "remat report: out of memory\n");
            goto cleanup;
        }
        for (int j = 0; j < nb; j++)
            budgets[j] = nb == 1 ? hi : lo + (int64_t)((double)(hi - lo) * j / (nb - 1));
        rc = sweep_run(&p, &mc, &so, use, budgets, nb, false, pareto_point_cb, &acc, &err);
        free(budgets);
        if (rc) {
            fprintf(stderr, "remat report: %s\n", err.msg);
            goto cleanup;
        }
        for (int k = 0; k < SOLVER_COUNT; k++)
            if (use[k])
                series[n_series++] = (pareto_series){solver_name((solver_kind)k), acc.count[k],
                                                     acc.pts + (size_t)k * (size_t)nb};
    }

    page pg = {{.prof = &p, .plans = plans, .n_plans = n_plans, .chosen = chosen,
                .series = n_series ? series : NULL, .n_series = n_series}};
    rc = report_write_atomic(out, write_page, &pg, &err);
    if (rc) {
        fprintf(stderr, "remat report: %s\n", err.msg);
        goto cleanup;
    }
    if (strcmp(out, "-") != 0)
        fprintf(stderr, "wrote %s\n", out);
    status = 0;
cleanup:
    for (int i = 0; i < n_plans; i++)
        plan_free(&plans[i]);
    free(acc.pts);
    profile_free(&p);
done:
    model_opts_free(&mo);
    return status;
}
