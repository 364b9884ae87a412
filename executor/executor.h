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

/* ---------------------------------------------------------------- CUDA (HAVE_CUDA) */

#include "config.h"
#if HAVE_CUDA
/* The CUDA step runner (executor/cuda/) runs the same schedules with the same
 * semantics as the CPU runner above, on CUDA device 0, storing activations and
 * parameters in the graph's dtype (fp32 or bf16, fp32 arithmetic) and starting from
 * the CPU runner's initial weights and inputs. Static memory is what
 * static_memory() counts: parameters, gradients of the trainable ones and optimizer
 * moments in the parameter dtype (under mc->mixed: fp32 moments and fp32 master
 * weights), inputs, and mc->workspace_bytes (handed to cuBLAS/cuBLASLt as their only
 * workspace). Every buffer is allocated at its size under mc->allocator (exact, or
 * the PyTorch model's rounding). Device memory is measured three ways: the tracked
 * allocator (one cudaMalloc per buffer), cudaMemGetInfo sampled at every
 * instruction's high point and after it, and CUPTI's MEMORY2 activity records
 * replayed in time order. */

typedef struct cuda_mem_measure {
    int64_t tracked_static;   /* static bytes held by the tracked allocator (as allocated) */
    int64_t tracked_peak;     /* its peak over the step, static included */
    int64_t meminfo_base;     /* device bytes in use before the static allocations */
    int64_t meminfo_static;   /* in use after them, minus meminfo_base */
    int64_t meminfo_peak;     /* highest sample over the step, minus meminfo_base */
    bool cupti_ok;            /* MEMORY2 records were collected */
    int64_t cupti_static;     /* replayed bytes after the static allocations */
    int64_t cupti_peak;       /* replayed peak over the step, static included */
    int64_t cupti_allocs, cupti_frees; /* records in the step */
    int64_t cupti_dropped;    /* records CUPTI dropped (then the replay is partial) */
    char cupti_note[192];     /* why there are no CUPTI records, else "" */
} cuda_mem_measure;

typedef struct cuda_exec cuda_exec;

/* Checks that the CUDA executor can run g under mc: the op layouts the CPU executor
 * accepts, activations and parameters both fp32 or both bf16 (mixed precision only
 * with bf16), the last op a loss, no ZeRO/FSDP, data parallelism or mem_config LoRA.
 * Needs no device. Returns 0 or -EINVAL / -ENOTSUP with a one-line reason. */
int cuda_exec_check(const graph *g, const mem_config *mc, remat_err *err);

/* Sets up a runner on device 0 (-ENODEV "no CUDA device found ..." without one):
 * stream, cuBLAS handles, static memory initialised as cpu_exec_init does. With
 * cupti_memory, MEMORY2 tracing starts before the static allocations (only one
 * runner may trace at a time). Returns 0 or -errno; on error nothing is held. */
int cuda_exec_create(cuda_exec **out, const graph *g, const mem_config *mc, const exec_opts *o,
                     bool cupti_memory, remat_err *err);
/* One training step under s with cpu_exec_step's checks and semantics; fills the
 * trace (per-instruction seconds are GPU time between CUDA events) and the memory
 * measurement. On error every dynamic buffer is freed. */
int cuda_exec_step(cuda_exec *x, const schedule *s, remat_err *err);
const exec_trace *cuda_exec_trace(const cuda_exec *x);
const cuda_mem_measure *cuda_exec_memory(const cuda_exec *x);
/* cudaMemGetInfo samples of the last step, minus meminfo_base: after each
 * instruction and at its high point (trace.n entries each). */
const int64_t *cuda_exec_meminfo_after(const cuda_exec *x);
const int64_t *cuda_exec_meminfo_during(const cuda_exec *x);
const char *cuda_exec_device(const cuda_exec *x);
int64_t cuda_exec_grad_count(const cuda_exec *x);
/* Trainable parameters' gradients, widened to fp32, concatenated in tensor order
 * (n == cuda_exec_grad_count). Returns 0 or -EINVAL / -EIO. */
int cuda_exec_copy_grads(const cuda_exec *x, float *out, int64_t n, remat_err *err);
void cuda_exec_destroy(cuda_exec *x);

typedef struct cuda_validate_opts {
    int steps;            /* measured steps of each run (default 3) */
    int warmup;           /* untimed steps first (default 1) */
    double tolerance_pct; /* allowed |measured - predicted| peak in % (default 1) */
    double overhead_pts;  /* allowed |measured - predicted| overhead in points (default 5) */
    double grad_rtol;     /* gradients: max |plan - ref| <= grad_rtol * max |ref|
                             (default 1e-5 fp32, 2e-2 bf16 when 0) */
    exec_opts exec;
} cuda_validate_opts;

void cuda_validate_opts_default(cuda_validate_opts *o);

/* remat validate --device cuda: the plan's run against the prediction and against a
 * run of the no-checkpoint schedule (exec_schedule_store_all) from the same weights. */
typedef struct cuda_validate_result {
    char device[256];
    int steps;
    int64_t predicted_peak, predicted_static; /* bytes, static included */
    cuda_mem_measure mem;                     /* the plan's run, highest step */
    double tracked_diff_pct, meminfo_diff_pct, cupti_diff_pct; /* vs predicted_peak */
    int timeline_ins;                         /* first instruction whose tracked live or
                                                 high-point bytes differ from the
                                                 prediction, -1 none */
    int64_t timeline_pred, timeline_meas;     /* live bytes there */
    bool ref_ran;                             /* the no-checkpoint run fitted and ran */
    char ref_note[256];                       /* why it did not */
    double predicted_overhead, measured_overhead; /* fractions (0.25 = 25 %) */
    double step_plan_s, step_ref_s, recompute_s;  /* medians over the measured steps */
    bool grads_bitwise;                       /* first measured step, every float */
    double grad_max_abs_diff, grad_ref_max_abs, grad_tol;
    float loss_plan, loss_ref;                /* first measured step */
    bool peak_ok, overhead_ok, grads_ok, pass;/* pass = peak_ok && grads_ok */
} cuda_validate_result;

/* Runs the no-checkpoint reference first (skipped with a note when it does not fit
 * the device), then the plan with CUPTI memory tracing; the runs never overlap, so
 * each one's memory is measured alone. Returns 0 when it could run (verdict in
 * r->pass) or -errno (-ENODEV without a device, schedule errors, unsupported graph). */
int cuda_validate(const graph *g, const mem_config *mc, const schedule *s, const sim_result *pred,
                  const cuda_validate_opts *o, cuda_validate_result *r, remat_err *err);
/* The human-readable report of r. */
void cuda_validate_print(FILE *f, const cuda_validate_result *r);
/* One call for `remat validate --device cuda`: cuda_validate with defaults and the
 * given steps and tolerance (<= 0: default) and warmup (< 0: default), the report
 * printed to out. Returns 0
 * (pass), 1 (ran, failed), or a negative errno with a one-line message in *err. */
int validate_cuda(const graph *g, const mem_config *mc, const schedule *s, const sim_result *pred,
                  int steps, int warmup, double tolerance_pct, FILE *out, remat_err *err);
#endif

#endif
