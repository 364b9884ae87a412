/* solver/dp.c — segment and dp solvers (first version: not yet available). */
#include <errno.h>

#include "solver/solver_internal.h"

int solve_dp(const profile *p, const mem_config *mc, solver_kind k, const solver_opts *o,
             const chain *c, plan *out, remat_err *err)
{
    return remat_fail(err, -ENOTSUP, "solver %s is not available yet", solver_name(k));
}

int dp_model_min_bytes(const profile *p, const mem_config *mc, int64_t *out, remat_err *err)
{
    *out = 0;
    return 0;
}
