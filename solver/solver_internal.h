/* solver/solver_internal.h — interfaces between the solver files (private to
 * solver/). solver_plan() in solve.c builds the chain view, calls one of these,
 * then simulates the finalized schedule and checks it against the budget: a
 * solver's own memory arithmetic is never trusted. */
#ifndef REMAT_SOLVER_INTERNAL_H
#define REMAT_SOLVER_INTERNAL_H

#include "solver/solver.h"

/* Every solve_* fills out->sched (already passed through schedule_finalize),
 * out->checkpoints / out->selective / out->multilevel, and out->status
 * ("optimal", "feasible", "infeasible", "no-solution"); returns 0, -ENOSPC when
 * infeasible under the budget, or another -errno. */

/* none, full, sqrt, greedy (solver/baseline.c) */
int solve_baseline(const profile *p, const mem_config *mc, solver_kind k, const solver_opts *o,
                   const chain *c, plan *out, remat_err *err);

/* segment (two-level) and dp (Rotor multi-level; revolve mode when
 * o->max_checkpoints > 0) (solver/dp.c) */
int solve_dp(const profile *p, const mem_config *mc, solver_kind k, const solver_opts *o,
             const chain *c, plan *out, remat_err *err);

/* ilp and lp-round (solver/ilp.c). seed: the best plan of the other solvers at this
 * budget (NULL when none is feasible), lowered into R/S as the MIP start, so ilp is
 * never worse than it. */
int solve_ilp(const profile *p, const mem_config *mc, const solver_opts *o, bool lp_round,
              const plan *seed, plan *out, remat_err *err);

#endif
