/* executor/step.c — the schedule checks and trace bookkeeping both step runners
 * (cpu/runner.c, cuda/runner.c) use; see step.h. */
#include <errno.h>
#include <stdlib.h>

#include "executor/step.h"

int step_ins_fail(remat_err *err, int i, const sched_ins *in, const graph *g, const char *what,
                  const char *name)
{
    const char *subject = "?";
    if ((in->kind == INS_FWD || in->kind == INS_BWD) && in->arg >= 0 && in->arg < g->n_ops)
        subject = g->ops[in->arg].name;
    else if (in->arg >= 0 && in->arg < g->n_tensors)
        subject = g->tensors[in->arg].name;
    return remat_fail(err, -EINVAL, "instruction %d (%s %s): %s%s%s", i,
                      ins_kind_name((ins_kind)in->kind), subject, what, name ? " " : "",
                      name ? name : "");
}

int step_check_arg(const graph *g, int i, const sched_ins *in, remat_err *err)
{
    switch ((ins_kind)in->kind) {
    case INS_FWD:
    case INS_BWD:
        if (in->arg < 0 || in->arg >= g->n_ops)
            return remat_fail(err, -EINVAL, "instruction %d: op index %d out of range", i,
                              (int)in->arg);
        return 0;
    case INS_FREE:
    case INS_FREE_GRAD:
        if (in->arg < 0 || in->arg >= g->n_tensors)
            return remat_fail(err, -EINVAL, "instruction %d: tensor index %d out of range", i,
                              (int)in->arg);
        return 0;
    case INS_OPT:
        return 0;
    }
    return remat_fail(err, -EINVAL, "instruction %d: unknown kind %d", i, in->kind);
}

int step_check_fwd(const graph *g, void *const *data, int i, const sched_ins *in,
                   remat_err *err)
{
    const graph_op *o = &g->ops[in->arg];
    for (int k = 0; k < o->n_in; k++)
        if (!data[o->in[k]])
            return step_ins_fail(err, i, in, g, "input is not live:", g->tensors[o->in[k]].name);
    if (data[o->out])
        return step_ins_fail(err, i, in, g, "output is already live:", g->tensors[o->out].name);
    for (int k = 0; k < o->n_extra; k++)
        if (data[o->extra[k]])
            return step_ins_fail(err, i, in, g, "extra is already live:",
                                 g->tensors[o->extra[k]].name);
    return 0;
}

int step_check_bwd(const graph *g, void *const *data, void *const *grad,
                   const unsigned char *bwd_done, int i, const sched_ins *in, bool *run,
                   remat_err *err)
{
    const int op = in->arg;
    const graph_op *o = &g->ops[op];
    const bool is_loss = op == g->n_ops - 1;
    if (bwd_done[op])
        return step_ins_fail(err, i, in, g, "second backward of the op", NULL);
    *run = is_loss || g->tensors[o->out].needs_grad;
    if (*run && !is_loss && !grad[o->out])
        return step_ins_fail(err, i, in, g, "gradient of the output is not live:",
                             g->tensors[o->out].name);
    for (int k = 0; k < o->n_saved; k++)
        if (!data[o->saved[k]])
            return step_ins_fail(err, i, in, g, "saved tensor is not live:",
                                 g->tensors[o->saved[k]].name);
    return 0;
}

int step_free_slot(const graph *g, void **data, void **grad, int i, const sched_ins *in,
                   void ***slot, remat_err *err)
{
    const graph_tensor *t = &g->tensors[in->arg];
    if (t->role != ROLE_ACT && (in->kind == INS_FREE_GRAD || t->role != ROLE_EXTRA))
        return step_ins_fail(err, i, in, g, "not an activation (static memory is never freed)",
                             NULL);
    *slot = in->kind == INS_FREE ? &data[in->arg] : &grad[in->arg];
    if (!**slot)
        return step_ins_fail(err, i, in, g, "frees what is not live", NULL);
    return 0;
}

int step_check_end(const graph *g, void *const *data, void *const *grad,
                   const unsigned char *bwd_done, remat_err *err)
{
    for (int t = 0; t < g->n_tensors; t++) {
        if (data[t] && (g->tensors[t].role == ROLE_ACT || g->tensors[t].role == ROLE_EXTRA))
            return remat_fail(err, -EINVAL, "after the last instruction, '%s' is still live",
                              g->tensors[t].name);
        if (grad[t] && g->tensors[t].role == ROLE_ACT)
            return remat_fail(err, -EINVAL,
                              "after the last instruction, the gradient of '%s' is still live",
                              g->tensors[t].name);
    }
    for (int op = 0; op < g->n_ops; op++)
        if (!bwd_done[op])
            return remat_fail(err, -EINVAL, "op '%s' has no backward in the schedule",
                              g->ops[op].name);
    return 0;
}

int step_trace_reserve(exec_trace *t, int n)
{
    size_t c = (size_t)(n > 0 ? n : 1);
    int64_t *a = realloc(t->live_after, c * sizeof *a);
    if (a)
        t->live_after = a;
    int64_t *b = realloc(t->peak_during, c * sizeof *b);
    if (b)
        t->peak_during = b;
    double *s = realloc(t->seconds, c * sizeof *s);
    if (s)
        t->seconds = s;
    return a && b && s ? 0 : -ENOMEM;
}

void step_trace_begin(exec_trace *t)
{
    t->n = 0;
    t->peak_ins = -1;
    t->fwd_s = t->recompute_s = t->bwd_s = t->opt_s = 0.0;
    t->loss = 0.0f;
}

void step_trace_time(exec_trace *t, const sched_ins *in, double dt)
{
    if (in->kind == INS_FWD)
        *(in->flags & INS_RECOMPUTE ? &t->recompute_s : &t->fwd_s) += dt;
    else if (in->kind == INS_BWD)
        t->bwd_s += dt;
    else if (in->kind == INS_OPT)
        t->opt_s += dt;
}
