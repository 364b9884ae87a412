/* executor/executor.h — runs the real training step under a schedule and measures.
 * Every byte the step holds comes from one tracked allocator, so the measured peak
 * is what the kernels really allocated.
 *
 * The CPU runner (executor/cpu/runner.c) follows solver.h's schedule semantics
 * exactly: FWD allocates the op's output and extras and holds op.ws_fwd bytes of
 * scratch around the kernel; BWD allocates (zeroed) the gradients of its ROLE_ACT
 * inputs that need one and are not live, holds op.ws_bwd bytes around the kernel and
 * accumulates parameter gradients; FREE / FREE_GRAD free; OPT steps the optimizer.
 * Parameters, their gradients, optimizer state, inputs and mem_config's workspace
 * are allocated once (static memory, the same bytes as static_memory()). */
#ifndef REMAT_EXECUTOR_EXECUTOR_H
#define REMAT_EXECUTOR_EXECUTOR_H

#include "solver/solver.h"

struct op_dims;

/* ---------------------------------------------------------------- tracked allocator */

/* The tracked allocator: current and peak bytes, plus a high-water mark the runner
 * resets at each instruction (mark_peak) to get the instruction's own peak. */
typedef struct tracked_alloc {
    int64_t current;
    int64_t peak;
    int64_t mark_peak;
    int64_t n_allocs;
    int64_t n_frees;
} tracked_alloc;

/* Allocates bytes (64-byte aligned, zeroed when zero is true) and counts them.
 * Returns NULL on failure (nothing counted). */
void *talloc(tracked_alloc *a, int64_t bytes, bool zero);
/* Frees p, which must have come from talloc with the same byte count. */
void tfree(tracked_alloc *a, void *p, int64_t bytes);
/* Starts a new high-water window: mark_peak = current. */
void talloc_mark(tracked_alloc *a);

/* ---------------------------------------------------------------- CPU step runner */

typedef struct exec_opts {
    uint64_t seed;        /* weights and synthetic inputs (default 1234) */
    int threads;          /* OpenBLAS threads; 0 keeps OpenBLAS's default */
    /* optimizer hyper-parameters (torch.optim defaults) */
    double lr;            /* 1e-3 */
    double beta1, beta2;  /* 0.9, 0.999 (adam, adamw) */
    double eps;           /* 1e-8 */
    double weight_decay;  /* 0.01 (adamw only: decoupled) */
    double momentum;      /* 0.9 (momentum) */
} exec_opts;

void exec_opts_default(exec_opts *o);

/* What the last step did, instruction by instruction. Byte counts are dynamic bytes
 * (static memory excluded), as the simulator's sim_result counts them. */
typedef struct exec_trace {
    int n;                  /* instructions run */
    int64_t *live_after;    /* n: dynamic bytes live after instruction i */
    int64_t *peak_during;   /* n: dynamic bytes at instruction i's high point */
    double *seconds;        /* n: wall time of instruction i */
    int64_t static_bytes;   /* static memory held by the runner */
    int64_t peak_bytes;     /* the allocator's peak over the step, static included */
    int peak_ins;           /* first instruction reaching it (-1: none ran) */
    double step_s;          /* wall time of the step */
    double fwd_s;           /* FWD instructions that are not recomputations */
    double recompute_s;     /* FWD instructions flagged INS_RECOMPUTE */
    double bwd_s, opt_s;
    float loss;             /* the loss op's output (mean cross-entropy) */
} exec_trace;

typedef struct cpu_exec {
    const graph *g;         /* borrowed: must outlive the runner */
    mem_config mc;
    exec_opts opts;
    tracked_alloc alloc;
    void **data;            /* per tensor: its buffer while live, else NULL */
    float **grad;           /* per tensor: ACT gradient while live; PARAM gradient */
    float **state1;         /* per trainable PARAM: first moment / momentum buffer */
    float **state2;         /* per trainable PARAM: second moment */
    void *workspace;        /* mc.workspace_bytes */
    int64_t opt_steps;      /* optimizer steps taken (AdamW's t) */
    unsigned char *bwd_done;/* per op, during a step */
    struct op_dims *dims;   /* per op: the kernels' dimensions (private) */
    exec_trace trace;
} cpu_exec;

/* Checks that the CPU executor can run g under mc: fp32 activations and parameters,
 * op kinds it implements, each op's tensors shaped as docs/op-conventions.md says,
 * its saved list covering what the backward kernel reads, its ws_fwd/ws_bwd covering
 * the kernel's scratch, the last op a loss, no mixed precision, ZeRO or data
 * parallelism. Returns 0 or -EINVAL / -ENOTSUP with a one-line reason. */
int cpu_exec_check(const graph *g, const mem_config *mc, remat_err *err);

/* Sets up the runner for g: allocates and initialises static memory (parameters:
 * matrices ~ N(0, 0.02), norm/stage gains 1 + N(0, 0.02), biases N(0, 0.02), each a
 * pure function of (seed, tensor name, element); token ids and targets uniform in
 * their range; float inputs N(0, 1); gradients, moments and workspace zero).
 * Returns 0 or -errno; on error nothing is held. */
int cpu_exec_init(cpu_exec *x, const graph *g, const mem_config *mc, const exec_opts *o,
                  remat_err *err);

/* Runs one training step: zeroes the parameter gradients, then executes s exactly as
 * written, filling x->trace. Checks the schedule as it goes (a tensor used while not
 * live, allocated twice, freed when not live, a second backward of an op, anything
 * dynamic live at the end, an op left without backward) and fails with -EINVAL
 * naming the instruction; on error every dynamic buffer is freed. */
int cpu_exec_step(cpu_exec *x, const schedule *s, remat_err *err);

/* Number of parameter-gradient floats (trainable parameters, tensor order). */
int64_t cpu_exec_grad_count(const cpu_exec *x);
/* Copies every trainable parameter's gradient, concatenated in tensor order, into
 * out (n floats, n == cpu_exec_grad_count). Returns 0 or -EINVAL. */
int cpu_exec_copy_grads(const cpu_exec *x, float *out, int64_t n);
/* Writes tensors to a binary dump: "REMATDMP", u32 version = 2, u32 count, then per
 * tensor: u32 name length, name bytes, u32 dtype (remat_dtype), u32 ndim,
 * i64 shape[ndim], raw data (numel * dtype size), little-endian as in memory.
 * what: EXEC_DUMP_PARAMS (all parameters, current values), EXEC_DUMP_GRADS
 * (trainable parameters' gradients), EXEC_DUMP_INPUTS (step inputs).
 * Returns 0 or -EIO. */
enum { EXEC_DUMP_PARAMS = 0, EXEC_DUMP_GRADS = 1, EXEC_DUMP_INPUTS = 2 };
int cpu_exec_dump(const cpu_exec *x, int what, FILE *f, remat_err *err);

/* Frees everything the runner holds. */
void cpu_exec_free(cpu_exec *x);

/* A no-checkpoint schedule for g: forward every op, backward in reverse order with
 * FREE / FREE_GRAD right after the last use, then OPT. The reference the validator
 * compares plans against. Returns 0 or -ENOMEM. */
int exec_schedule_store_all(const graph *g, schedule *out, remat_err *err);

/* ---------------------------------------------------------------- validation */

typedef struct validate_opts {
    int steps;            /* measured steps (default 3) */
    int warmup;           /* warm-up steps, not timed (default 1) */
    double tolerance_pct; /* allowed |measured - predicted| peak, % of predicted (default 0) */
    exec_opts exec;
} validate_opts;

void validate_opts_default(validate_opts *o);

/* What `remat validate` reports: the plan's run against its prediction and against
 * a run of the same step without checkpointing (exec_schedule_store_all). */
typedef struct validate_result {
    int steps;                      /* measured steps run */
    int64_t predicted_peak, measured_peak;     /* bytes, static included */
    int64_t predicted_static, measured_static;
    double peak_diff_pct;           /* (measured - predicted) / predicted * 100 */
    int predicted_peak_ins, measured_peak_ins;
    double predicted_overhead;      /* the plan's sim_result.compute_overhead */
    double measured_overhead;       /* median step time with plan / without - 1 */
    double step_plan_s, step_ref_s; /* median step times */
    double recompute_s;             /* median time of the plan's recomputations */
    bool grads_match;               /* bitwise, every step */
    int grad_step;                  /* first step whose gradients differ (-1: none) */
    int64_t grad_mismatches;        /* floats that differ in that step */
    double grad_max_abs_diff;
    bool loss_match;
    float loss_plan, loss_ref;      /* last step */
    int timeline_ins;               /* first instruction whose live or peak bytes differ
                                       from the prediction (-1: none) */
    int64_t timeline_pred_live, timeline_meas_live;
    int64_t timeline_pred_peak, timeline_meas_peak;
    bool peak_ok;                   /* within tolerance */
    bool pass;                      /* peak_ok && grads_match && loss_match */
} validate_result;

/* Runs opts->warmup + opts->steps training steps of g on the CPU under schedule s
 * and, interleaved, under the no-checkpoint schedule, both from the same initial
 * weights; compares gradients and losses after every step, the measured peak and
 * per-instruction live bytes with pred (simulate()'s result for s under mc), and the
 * step times. Returns 0 when it could run (the verdict is in r->pass), or -errno
 * (schedule error, unsupported graph) with a message. */
int cpu_validate(const graph *g, const mem_config *mc, const schedule *s, const sim_result *pred,
                 const validate_opts *opts, validate_result *r, remat_err *err);

/* ---------------------------------------------------------------- CPU profiling */

/* Times every op's forward and backward with the real CPU kernels: one warm-up run,
 * then the median of `repeats` runs each. Fills p->ops[i].time_fwd_s / time_bwd_s,
 * sets p->source = SRC_CPU, p->target = "cpu", p->device_desc = the CPU model from
 * /proc/cpuinfo, and recomputes the totals. p->g must pass cpu_exec_check.
 * Returns 0 or -errno. */
int profile_measure_cpu(profile *p, int repeats, remat_err *err);

#endif
