/* executor/step.h — what the CPU and CUDA step runners share (private to executor/):
 * the checks that make a runner refuse a schedule the simulator would not accept
 * (an input that is not live, a second backward, a free of static memory, something
 * still live after the last instruction, ...) and the per-instruction trace
 * bookkeeping. The runners keep only what differs: where buffers live and which
 * kernels run. `data` and `grad` are the runner's per-tensor buffer tables (NULL:
 * not live). */
#ifndef REMAT_EXECUTOR_STEP_H
#define REMAT_EXECUTOR_STEP_H

#include "executor/executor.h"

/* -EINVAL naming instruction i, its kind and its op or tensor: "what name". */
int step_ins_fail(remat_err *err, int i, const sched_ins *in, const graph *g, const char *what,
                  const char *name);

/* The instruction's argument is an op (FWD, BWD) or a tensor (FREE, FREE_GRAD) index
 * in range, and its kind is known. */
int step_check_arg(const graph *g, int i, const sched_ins *in, remat_err *err);

/* FWD: every input live; output and extras not yet live. */
int step_check_fwd(const graph *g, void *const *data, int i, const sched_ins *in,
                   remat_err *err);

/* BWD: the op's first backward; its output's gradient live when it has one (*run:
 * the backward kernel runs: the loss, or an output that needs a gradient); every
 * saved tensor live. */
int step_check_bwd(const graph *g, void *const *data, void *const *grad,
                   const unsigned char *bwd_done, int i, const sched_ins *in, bool *run,
                   remat_err *err);

/* FREE / FREE_GRAD: the tensor is an activation (or an extra, for FREE) and live;
 * *slot receives its entry in data or grad, for the runner to release and clear. */
int step_free_slot(const graph *g, void **data, void **grad, int i, const sched_ins *in,
                   void ***slot, remat_err *err);

/* After the last instruction: no activation, extra or activation gradient live, and
 * every op had its backward. */
int step_check_end(const graph *g, void *const *data, void *const *grad,
                   const unsigned char *bwd_done, remat_err *err);

/* The trace's per-instruction arrays for n instructions; 0 or -ENOMEM. */
int step_trace_reserve(exec_trace *t, int n);

/* Clears the trace's counters for a new step. */
void step_trace_begin(exec_trace *t);

/* Adds instruction in's wall time dt to the forward, recompute, backward or
 * optimizer total. */
void step_trace_time(exec_trace *t, const sched_ins *in, double dt);

#endif
