/* reports/reports.h — everything a person or a trainer reads: YAML model files,
 * profiles and plans (read and write), text tables, SVG/HTML reports, and the
 * atomic file writing every output goes through. */
#ifndef REMAT_REPORTS_REPORTS_H
#define REMAT_REPORTS_REPORTS_H

#include <stdio.h>

#include "solver/solver.h"

/* Writes a file atomically: calls write(f, ctx) on a temporary file next to path,
 * then fsyncs and renames it over path. On any error the temporary is removed and
 * path is left untouched. path "-" writes to stdout. Returns 0 or -errno. */
typedef int (*report_writer)(FILE *f, void *ctx, remat_err *err);
int report_write_atomic(const char *path, report_writer write, void *ctx, remat_err *err);

/* Profile YAML (docs/profile-format.md). write: a whole document on f. read:
 * errors name path:line:col; on error *p is left empty. Both return 0 or -errno. */
int yaml_write_profile(FILE *f, const profile *p, remat_err *err);
int yaml_read_profile(const char *path, profile *p, remat_err *err);

/* Plan YAML (docs/plan-format.md), with the profile embedded. The reader rebuilds
 * the schedule by name and re-simulates it (pl->pred), never trusting the file's
 * numbers. On error both outputs are left empty. Return 0 or -errno. */
int yaml_write_plan(FILE *f, const profile *p, const plan *pl, remat_err *err);
int yaml_read_plan(const char *path, profile *p, plan *pl, remat_err *err);

/* A human-readable table of the profile: module rows and totals. */
void table_profile(FILE *f, const profile *p);

/* ---------------------------------------------------------------- pictures */

/* The dynamic memory of a plan split by kind, per instruction, at the
 * instruction's high point (a FWD with its output, extras and forward temporaries
 * allocated; a BWD with its new input gradients and backward temporaries; any other
 * instruction: the state before it). Taken from the simulator's prediction
 * (pl->pred.act_after / grad_after / tmp_during), so static_bytes + act + grad + tmp
 * equals static_bytes + pred.peak_during[i] at every instruction. */
typedef struct mem_breakdown {
    int n;                   /* instructions */
    int64_t static_bytes;    /* parameters, gradients, optimizer state, inputs, workspace */
    int64_t *act;            /* n: activations and extras live */
    int64_t *grad;           /* n: activation gradients live */
    int64_t *tmp;            /* n: operator temporaries held */
} mem_breakdown;

/* Fills *out for pl (static_bytes is pl->pred.static_bytes). Returns 0, -EINVAL
 * for a plan without a simulated prediction of its schedule (or one whose parts do
 * not add up, naming the instruction), or -ENOMEM; on error *out is left empty. */
int mem_breakdown_compute(const profile *p, const plan *pl, mem_breakdown *out, remat_err *err);
void mem_breakdown_free(mem_breakdown *b);

/* Writes an SVG memory timeline of pl to f: live bytes per instruction stacked by
 * static / activations / gradients / temporaries, the budget line, the start of
 * the backward pass, and the peak marked
 * with the largest tensors live there (pl->pred). Long schedules are reduced to at
 * most 1200 columns, each showing its highest instruction, so the peak is kept.
 * Valid XML (names escaped), no XML prolog (it can be inlined in HTML),
 * deterministic. Returns 0 or -errno (-EINVAL for a plan without a schedule). */
int svg_memory_timeline(FILE *f, const profile *p, const plan *pl, remat_err *err);

/* One point of a budget sweep. */
typedef struct pareto_point {
    int64_t budget_bytes;
    bool feasible;
    double overhead;         /* compute overhead (recompute / base time), feasible only */
    int64_t peak_bytes;      /* predicted peak, feasible only */
} pareto_point;

typedef struct pareto_series {
    const char *name;        /* solver name, shown in the legend */
    int n;
    const pareto_point *pts; /* any order; drawn sorted by budget */
} pareto_series;

/* Writes an SVG Pareto plot: budget (x, human byte units) against compute
 * overhead (y, percent), one line and colour per series, infeasible budgets as
 * crosses under the axis, a legend. Same XML guarantees as above. Returns 0 or
 * -EINVAL (no series, or no point at all). */
int svg_pareto(FILE *f, const pareto_series *s, int n_series, const char *title, remat_err *err);

/* Writes s with XML/HTML escaping (& < > " '), dropping control characters XML
 * forbids and replacing bytes that are not valid UTF-8 with '?'. */
void xml_write_escaped(FILE *f, const char *s);

/* What one HTML report shows. plans[chosen] is the plan drawn on the timeline;
 * every plan is a row of the plan table (solvers compared at one budget).
 * series may be NULL (no Pareto plot). */
typedef struct html_report_input {
    const profile *prof;
    const plan *plans;
    int n_plans;
    int chosen;
    const pareto_series *series;
    int n_series;
    const char *title;       /* NULL: "remat report: <model>" */
} html_report_input;

/* Writes one self-contained HTML page (inline CSS and SVG, no script, no external
 * asset): the profile summary, the module table, the plan table, the chosen
 * plan's checkpoints and selective policy, what is live at its peak, and both
 * pictures. Deterministic. Returns 0 or -errno. */
int html_report(FILE *f, const html_report_input *in, remat_err *err);

#endif
