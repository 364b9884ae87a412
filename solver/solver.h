/* solver/solver.h — chain view, schedule IR, memory model, simulator and solvers.
 *
 * The schedule is the one program every solver lowers to and both executors run.
 * Its semantics (docs/memory-model.md) are the contract between the simulator's
 * prediction and the executors' measurement:
 *   FWD op     needs its inputs live; allocates its output and extras (error if
 *              already live); holds op.ws_fwd temporary bytes during the op.
 *              flags & INS_RECOMPUTE marks a recomputation.
 *   BWD op     needs its saved tensors live and the gradient of its output live
 *              (except the loss, which seeds the gradient); allocates, zeroed, the
 *              gradient of every input with needs_grad that is not live yet, and
 *              accumulates into it; holds op.ws_bwd temporary bytes during the op.
 *              Parameter gradients are static memory.
 *   FREE t     frees activation/extra t (must be live).
 *   FREE_GRAD t frees the gradient of activation t (must be live).
 *   OPT        the optimizer step over all trainable parameters.
 * Static memory (parameters, their gradients, optimizer state, inputs, workspace)
 * is live for the whole step. A valid schedule ends with nothing but static
 * memory live. */
#ifndef REMAT_SOLVER_SOLVER_H
#define REMAT_SOLVER_SOLVER_H

#include "profiler/profile.h"

/* ---------------------------------------------------------------- memory model */

typedef enum optimizer_kind { OPTIM_SGD = 0, OPTIM_MOMENTUM, OPTIM_ADAM, OPTIM_ADAMW } optimizer_kind;
typedef enum allocator_kind { ALLOC_EXACT = 0, ALLOC_PYTORCH } allocator_kind;

typedef struct mem_config {
    optimizer_kind optimizer; /* default adamw */
    bool mixed;               /* 16-bit weights/grads + fp32 master weights */
    int zero_stage;           /* 0..3 (3 == FSDP full shard) */
    int dp;                   /* data-parallel degree, >= 1 */
    int lora_rank;            /* 0: full fine-tuning */
    int64_t workspace_bytes;  /* fixed extra (cuBLAS workspace, ...) */
    allocator_kind allocator;
} mem_config;

void mem_config_default(mem_config *mc);
const char *optimizer_name(optimizer_kind k);
int optimizer_from_name(const char *name); /* or -EINVAL */
const char *allocator_name(allocator_kind k);
int allocator_from_name(const char *name); /* or -EINVAL */

typedef struct static_mem {
    int64_t params;      /* weights as held on this GPU */
    int64_t grads;       /* parameter gradients */
    int64_t optimizer;   /* optimizer state (moments) */
    int64_t master;      /* fp32 master weights under mixed precision */
    int64_t inputs;      /* ROLE_INPUT tensors (tokens, targets, images) */
    int64_t workspace;
    int64_t total;
} static_mem;

/* Static memory per GPU under mc (docs/memory-model.md states each convention).
 * Returns 0 or -EINVAL/-ERANGE. */
int static_memory(const graph *g, const mem_config *mc, static_mem *out, remat_err *err);

/* Bytes one allocation of `bytes` really occupies under the allocator model:
 * exact -> bytes; pytorch -> rounded up to 512 B (>1 MiB: to 2 MiB multiples
 * for >= 10 MiB requests, as the caching allocator does). */
int64_t alloc_round(allocator_kind a, int64_t bytes);

/* ---------------------------------------------------------------- chain view */

typedef struct chain_stage {
    int first_op, last_op;   /* inclusive op range */
    int in_tensor;           /* the single tensor entering (x), -1 for the first stage */
    int out_tensor;          /* the single tensor leaving */
    int64_t x;               /* bytes of the stage input */
    int64_t xbar;            /* bytes its backward reads (all saved activations) */
    int64_t tmp_fwd, tmp_bwd;/* peak extra bytes while running forward/backward */
    double uf, ub;           /* forward/backward time */
    char *module;            /* module path of the stage (e.g. transformer.h.3) */
} chain_stage;

typedef struct chain {
    int n;
    chain_stage *st;
} chain;

/* Cuts the graph where a single activation crosses. Returns 0 or -errno. */
int chain_build(const profile *p, chain *c, remat_err *err);
void chain_free(chain *c);

/* Whether the stage lies in a numbered block: its module path has an all-digit
 * component (transformer.h.3, model.layers.3, layers.3). */
bool chain_stage_in_block(const chain_stage *s);

/* ---------------------------------------------------------------- schedule */

typedef enum ins_kind { INS_FWD = 0, INS_BWD, INS_FREE, INS_FREE_GRAD, INS_OPT } ins_kind;
#define INS_RECOMPUTE 1u

typedef struct sched_ins {
    uint8_t kind;   /* ins_kind */
    uint8_t flags;  /* INS_RECOMPUTE */
    int32_t arg;    /* op index for FWD/BWD, tensor index for FREE/FREE_GRAD, 0 for OPT */
} sched_ins;

typedef struct schedule {
    int n, cap;
    sched_ins *ins;
} schedule;

int schedule_push(schedule *s, ins_kind kind, int arg, unsigned flags); /* 0 or -ENOMEM */
void schedule_free(schedule *s);
const char *ins_kind_name(ins_kind k);

/* Lowering helper every solver uses: `in` holds only FWD, BWD and OPT instructions
 * (the compute sequence a solver chose, recomputations included). The result adds
 * FREE right after the last use of every tensor instance (a FWD input or a BWD
 * saved read, before the op that produces it again), FREE_GRAD right after the
 * backward of a gradient's producer (or its last use), and sets INS_RECOMPUTE on
 * every FWD of an op that already ran. Returns 0 or -EINVAL/-ENOMEM. */
int schedule_finalize(const graph *g, const schedule *in, schedule *out, remat_err *err);
int ins_kind_from_name(const char *name); /* or -EINVAL */

/* ---------------------------------------------------------------- simulator */

typedef struct live_entry {
    int tensor;
    bool grad;               /* the gradient of the tensor, not the tensor */
    int64_t bytes;           /* as allocated (after allocator rounding) */
} live_entry;

typedef struct sim_result {
    int n;                   /* instructions simulated */
    int64_t *live_after;     /* n: dynamic bytes live after instruction i */
    int64_t *peak_during;    /* n: dynamic bytes at the instruction's high point (temporaries) */
    int64_t static_bytes;
    int64_t peak_bytes;      /* static + max peak_during */
    int peak_ins;            /* instruction index of the peak */
    int64_t activation_peak_bytes; /* max peak_during (dynamic part only) */
    double compute_s;        /* sum of op times over FWD and BWD instructions */
    double base_s;           /* forward + backward time of the graph, no recompute */
    double recompute_s;      /* time of FWD instructions flagged INS_RECOMPUTE */
    double compute_overhead; /* recompute_s / base_s */
    int recompute_forwards;  /* FWD instructions flagged INS_RECOMPUTE */
    int n_live_at_peak;
    live_entry *live_at_peak;/* everything dynamic live at the peak, largest first */
    /* per-instruction breakdown (n each): live_after = act_after + grad_after;
     * peak_during = max(live before, live_after + tmp_during) */
    int64_t *act_after;      /* activations and extras live after instruction i */
    int64_t *grad_after;     /* activation gradients live after instruction i */
    int64_t *tmp_during;     /* temporaries (ws_fwd / ws_bwd) held during instruction i */
} sim_result;

/* Runs the schedule on the memory model. Checks it too: use of a tensor that is
 * not live, double allocation, freeing what is not live, a backward before its
 * forward, something other than static memory live at the end, a missing
 * backward. Returns 0 or -EINVAL naming the instruction index. */
int simulate(const profile *p, const mem_config *mc, const schedule *s, sim_result *r,
             remat_err *err);
void sim_result_free(sim_result *r);

/* ---------------------------------------------------------------- solvers */

#define SOLVERS(X)                                                              \
    X(SOLVER_NONE, "none", "store every activation (no checkpointing)")       \
    X(SOLVER_FULL, "full", "checkpoint every stage (HF gradient_checkpointing)") \
    X(SOLVER_SQRT, "sqrt", "Chen et al. 2016: a checkpoint every sqrt(n) stages") \
    X(SOLVER_GREEDY, "greedy", "Chen et al. 2016 budgeted greedy with its search over B") \
    X(SOLVER_SEGMENT, "segment", "optimal two-level segmentation (dynamic programming)") \
    X(SOLVER_DP, "dp", "Rotor multi-level heterogeneous-chain DP (Beaumont et al. 2019)") \
    X(SOLVER_ILP, "ilp", "Checkmate ILP on the op DAG, solved by GLPK")        \
    X(SOLVER_LP_ROUND, "lp-round", "Checkmate LP relaxation with two-phase rounding")

typedef enum solver_kind {
#define X(k, n, d) k,
    SOLVERS(X)
#undef X
    SOLVER_COUNT
} solver_kind;

const char *solver_name(solver_kind k);
const char *solver_desc(solver_kind k);
int solver_from_name(const char *name); /* or -EINVAL */

typedef enum granularity { GRAN_OP = 0, GRAN_MODULE, GRAN_BLOCK } granularity;

typedef struct solver_opts {
    int64_t budget_bytes;    /* total device memory the step may use (static included) */
    int max_checkpoints;     /* > 0: revolve mode on chains, snapshot count instead of bytes */
    int slots;               /* dp memory discretisation, default 500 */
    double time_limit_s;     /* ilp, default 60 */
    double mip_gap;          /* ilp relative gap, default 0 */
    granularity gran;        /* ilp */
    const char *dump_lp;     /* ilp: write the model in CPLEX LP format */
    bool verbose;
} solver_opts;

void solver_opts_default(solver_opts *o);

typedef struct selective_entry {
    char *op;                /* op name */
    bool save;               /* true: save, false: recompute */
} selective_entry;

typedef struct plan {
    solver_kind solver;
    char status[32];         /* "optimal", "feasible", "infeasible", "no-solution" */
    double solve_s;
    double gap;              /* ilp relative gap; 0 otherwise */
    int64_t budget_bytes;
    int max_checkpoints;
    mem_config mem;
    schedule sched;
    sim_result pred;         /* always from simulate(), never the solver's own arithmetic */
    int n_checkpoints;
    char **checkpoints;      /* module paths to wrap in checkpoint */
    int n_selective;
    selective_entry *selective;
    bool multilevel;         /* only our executor can run it */
} plan;

/* Plans with one solver. Returns 0 with status optimal/feasible, -ENOSPC when the
 * budget is below what this solver reaches (plan->status "infeasible"; the
 * minimum is in *min_feasible when non-NULL and computable), or another -errno. */
int solver_plan(const profile *p, const mem_config *mc, solver_kind k, const solver_opts *o,
                plan *out, int64_t *min_feasible, remat_err *err);

/* Smallest budget at which solver k finds a plan (bisection on bytes for the
 * budget-driven solvers). Returns 0 or -errno. */
int solver_min_budget(const profile *p, const mem_config *mc, solver_kind k,
                      const solver_opts *o, int64_t *out, remat_err *err);

void plan_free(plan *pl);

#endif
