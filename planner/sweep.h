/* planner/sweep.h — what `remat sweep` and `remat report` share (cmd_sweep.c):
 * the memory options, solver lists and running solvers over budgets. */
#ifndef REMAT_PLANNER_SWEEP_H
#define REMAT_PLANNER_SWEEP_H

#include <stdbool.h>

#include "solver/solver.h"

/* Tries argv[*i] as a memory option (--optimizer, --mixed, --zero, --dp,
 * --lora-rank, --workspace, --allocator). Returns 1 when consumed (*i advanced
 * past its value), 0 when not a memory option, -1 on a usage error (printed to
 * stderr as "remat CMD: ..."). */
int mem_opts_parse(mem_config *mc, int argc, char **argv, int *i, const char *cmd);
extern const char mem_opts_help[];

/* Parses "dp,sqrt,none" or "all" into use[SOLVER_COUNT]. Returns 0 or -1 (printed). */
int solver_list_parse(const char *text, bool *use, const char *cmd);

/* Called once per (solver, budget): pl is the plan, or NULL when infeasible.
 * Returns 0 or -errno to stop the sweep. */
typedef int (*sweep_point_fn)(void *ctx, solver_kind k, int64_t budget, const plan *pl,
                              double solve_s, remat_err *err);

/* Plans p with every solver in use[] at every budget (solver-major order), with
 * "[i/n] solver @ budget" progress lines on stderr when progress is set. A solver
 * this build does not have (-ENOTSUP) is left out with a note on stderr and cleared
 * in use[]; any other solver error but infeasibility stops the sweep. Returns 0 or
 * -errno. */
int sweep_run(const profile *p, const mem_config *mc, const solver_opts *base, bool *use,
              const int64_t *budgets, int nb, bool progress, sweep_point_fn on_point, void *ctx,
              remat_err *err);

#endif
