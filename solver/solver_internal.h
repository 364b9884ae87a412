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

/* ---- shared helpers of the chain solvers (solver/chain.c, solver/lower.c) ---- */

/* The longest common module path (at a component boundary) of ops first..last, or
 * "<first op's module>..<last op's module>" when they share none. Malloc'ed; NULL
 * when out of memory. */
char *chain_common_module(const graph *g, int first_op, int last_op);

/* Trainer units: maximal runs of consecutive stages with the same module path (the
 * two halves of a transformer block are one unit, `transformer.h.3`). u[s] = 1 when
 * stage s begins a unit. Two-level plans cut segments only at unit starts, so every
 * checkpointed segment is one module or a run of whole modules a trainer can wrap. */
void chain_unit_starts(const chain *c, unsigned char *u);

/* A two-level plan on the chain: start[s] = 1 when stage s begins a segment
 * (start[0] = 1), rec[s] = 1 when stage s belongs to a segment that keeps only its
 * input and is recomputed once right before its backward. Lowers it: forward every
 * op; then, segment by segment from the last, the recomputation (if rec) and the
 * backward of its ops in reverse; then OPT; finalized. Returns 0 or -errno. */
int lower_two_level(const graph *g, const chain *c, const unsigned char *start,
                    const unsigned char *rec, schedule *out, remat_err *err);

/* Simulates s and returns its peak (static included) in *peak and its recompute time
 * in *recompute_s. Returns 0 or -errno. */
int sched_peak(const profile *p, const mem_config *mc, const schedule *s, int64_t *peak,
               double *recompute_s, remat_err *err);

/* The least dynamic+static bytes the dp solver's cost model needs (the strategy
 * that holds only the chain's input and recomputes from it), static included.
 * solver_min_budget starts its search there. Returns 0 or -errno. */
int dp_model_min_bytes(const profile *p, const mem_config *mc, int64_t *out, remat_err *err);

#endif
