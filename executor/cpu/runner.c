/* executor/cpu/runner.c — the CPU step runner: executes a schedule instruction by
 * instruction with solver.h's semantics, every buffer from the tracked allocator,
 * recording live and peak bytes and the wall time of each instruction. */
#include <cblas.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/cpu/ops.h"
#include "executor/executor.h"
#include "executor/step.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void exec_opts_default(exec_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1234;
    o->lr = 1e-3;
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    o->eps = 1e-8;
    o->weight_decay = 0.01;
    o->momentum = 0.9;
}

/* ---------------------------------------------------------------- checks */

static int check_mem_config(const mem_config *mc, remat_err *err)
{
    if (mc->mixed)
        return remat_fail(err, -ENOTSUP, "the CPU executor runs fp32 only (no mixed precision)");
    if (mc->zero_stage != 0 || mc->dp > 1)
        return remat_fail(err, -ENOTSUP,
                          "the CPU executor runs one process: no ZeRO/FSDP sharding or data "
                          "parallelism (zero_stage %d, dp %d)",
                          mc->zero_stage, mc->dp);
    if (mc->lora_rank != 0)
        return remat_fail(err, -ENOTSUP,
                          "the CPU executor takes LoRA from the graph's frozen parameters, not "
                          "from mem_config.lora_rank");
    if (mc->allocator != ALLOC_EXACT)
        return remat_fail(err, -ENOTSUP,
                          "the CPU executor counts exact bytes: plan with the exact allocator "
                          "model, not %s",
                          allocator_name(mc->allocator));
    if ((unsigned)mc->optimizer > OPTIM_ADAMW)
        return remat_fail(err, -EINVAL, "unknown optimizer");
    if (mc->workspace_bytes < 0)
        return remat_fail(err, -EINVAL, "negative workspace");
    return 0;
}

static int check_graph(const graph *g, op_dims *dims, remat_err *err)
{
    if (g->n_ops == 0)
        return remat_fail(err, -EINVAL, "graph has no ops");
    if (g->dtype != DT_F32 || g->param_dtype != DT_F32)
        return remat_fail(err, -ENOTSUP,
                          "the CPU executor computes in fp32 only; this graph's activations are "
                          "%s and parameters %s",
                          dtype_name(g->dtype), dtype_name(g->param_dtype));
    if (g->ops[g->n_ops - 1].kind != OP_LOSS)
        return remat_fail(err, -EINVAL, "the last op '%s' must be the loss",
                          g->ops[g->n_ops - 1].name);
    for (int i = 0; i < g->n_ops; i++) {
        op_dims tmp;
        int rc = cpu_op_dims(g, i, dims ? &dims[i] : &tmp, err);
        if (rc)
            return rc;
    }
    return 0;
}

int cpu_exec_check(const graph *g, const mem_config *mc, remat_err *err)
{
    int rc = check_mem_config(mc, err);
    return rc ? rc : check_graph(g, NULL, err);
}

/* ---------------------------------------------------------------- setup */

static int n_states(optimizer_kind k)
{
    return k == OPTIM_ADAM || k == OPTIM_ADAMW ? 2 : k == OPTIM_MOMENTUM ? 1 : 0;
}

static bool trainable(const graph_tensor *t) { return t->role == ROLE_PARAM && !t->frozen; }

int cpu_exec_init(cpu_exec *x, const graph *g, const mem_config *mc, const exec_opts *o,
                  remat_err *err)
{
    memset(x, 0, sizeof *x);
    int rc = check_mem_config(mc, err);
    if (rc)
        return rc;
    x->dims = calloc((size_t)g->n_ops, sizeof *x->dims);
    if (!x->dims)
        return remat_fail(err, -ENOMEM, "out of memory");
    rc = check_graph(g, x->dims, err);
    if (rc) {
        free(x->dims);
        x->dims = NULL;
        return rc;
    }
    x->g = g;
    x->mc = *mc;
    if (o)
        x->opts = *o;
    else
        exec_opts_default(&x->opts);
    if (x->opts.threads > 0)
        openblas_set_num_threads(x->opts.threads);
    size_t nt = (size_t)g->n_tensors;
    x->data = calloc(nt, sizeof *x->data);
    x->grad = calloc(nt, sizeof *x->grad);
    x->state1 = calloc(nt, sizeof *x->state1);
    x->state2 = calloc(nt, sizeof *x->state2);
    x->bwd_done = calloc((size_t)g->n_ops, 1);
    if (!x->data || !x->grad || !x->state1 || !x->state2 || !x->bwd_done)
        goto oom;
    int ns = n_states(mc->optimizer);
    for (int i = 0; i < g->n_tensors; i++) {
        const graph_tensor *t = &g->tensors[i];
        if (t->role == ROLE_PARAM) {
            x->data[i] = talloc(&x->alloc, t->bytes, false);
            if (!x->data[i])
                goto oom;
            cpu_param_init(g, i, x->opts.seed, x->data[i]);
            if (!t->frozen) {
                x->grad[i] = talloc(&x->alloc, t->bytes, true);
                if (!x->grad[i])
                    goto oom;
                if (ns >= 1 && !(x->state1[i] = talloc(&x->alloc, t->bytes, true)))
                    goto oom;
                if (ns >= 2 && !(x->state2[i] = talloc(&x->alloc, t->bytes, true)))
                    goto oom;
            }
        } else if (t->role == ROLE_INPUT) {
            x->data[i] = talloc(&x->alloc, t->bytes, false);
            if (!x->data[i])
                goto oom;
            cpu_input_init(g, i, x->opts.seed, x->data[i]);
        }
    }
    if (mc->workspace_bytes > 0 &&
        !(x->workspace = talloc(&x->alloc, mc->workspace_bytes, true)))
        goto oom;
    x->trace.static_bytes = x->alloc.current;
    x->trace.peak_ins = -1;
    return 0;
oom:
    cpu_exec_free(x);
    return remat_fail(err, -ENOMEM, "out of memory setting up the CPU executor");
}

/* Frees every dynamic buffer (activations, extras, activation gradients). */
static void free_dynamic(cpu_exec *x)
{
    const graph *g = x->g;
    for (int i = 0; i < g->n_tensors; i++) {
        const graph_tensor *t = &g->tensors[i];
        if (t->role != ROLE_ACT && t->role != ROLE_EXTRA)
            continue;
        tfree(&x->alloc, x->data[i], t->bytes);
        x->data[i] = NULL;
        tfree(&x->alloc, x->grad[i], t->bytes);
        x->grad[i] = NULL;
    }
}

void cpu_exec_free(cpu_exec *x)
{
    const graph *g = x->g;
    if (g && x->data) {
        free_dynamic(x);
        for (int i = 0; i < g->n_tensors; i++) {
            int64_t b = g->tensors[i].bytes;
            tfree(&x->alloc, x->data[i], b);
            if (x->grad)
                tfree(&x->alloc, x->grad[i], b);
            if (x->state1)
                tfree(&x->alloc, x->state1[i], b);
            if (x->state2)
                tfree(&x->alloc, x->state2[i], b);
        }
    }
    tfree(&x->alloc, x->workspace, x->mc.workspace_bytes);
    free(x->data);
    free(x->grad);
    free(x->state1);
    free(x->state2);
    free(x->bwd_done);
    free(x->dims);
    free(x->trace.live_after);
    free(x->trace.peak_during);
    free(x->trace.seconds);
    memset(x, 0, sizeof *x);
}

/* ---------------------------------------------------------------- instructions */

static int run_fwd(cpu_exec *x, int i, const sched_ins *in, remat_err *err)
{
    const graph *g = x->g;
    const graph_op *o = &g->ops[in->arg];
    int rc = step_check_fwd(g, x->data, i, in, err);
    if (rc)
        return rc;
    const graph_tensor *out = &g->tensors[o->out];
    if (!(x->data[o->out] = talloc(&x->alloc, out->bytes, false)))
        return remat_fail(err, -ENOMEM, "instruction %d: out of memory", i);
    for (int k = 0; k < o->n_extra; k++) {
        const graph_tensor *t = &g->tensors[o->extra[k]];
        if (!(x->data[o->extra[k]] = talloc(&x->alloc, t->bytes, false)))
            return remat_fail(err, -ENOMEM, "instruction %d: out of memory", i);
    }
    void *ws = NULL;
    if (o->ws_fwd > 0 && !(ws = talloc(&x->alloc, o->ws_fwd, false)))
        return remat_fail(err, -ENOMEM, "instruction %d: out of memory", i);
    cpu_op_forward(g, in->arg, &x->dims[in->arg], x->data, ws);
    tfree(&x->alloc, ws, o->ws_fwd);
    if (in->arg == g->n_ops - 1)
        x->trace.loss = ((float *)x->data[o->out])[0];
    return 0;
}

static int run_bwd(cpu_exec *x, int i, const sched_ins *in, remat_err *err)
{
    const graph *g = x->g;
    int op = in->arg;
    const graph_op *o = &g->ops[op];
    bool run;
    int rc = step_check_bwd(g, x->data, (void *const *)x->grad, x->bwd_done, i, in, &run, err);
    if (rc)
        return rc;
    for (int k = 0; k < o->n_in; k++) {
        int t = o->in[k];
        const graph_tensor *tt = &g->tensors[t];
        if (tt->role == ROLE_ACT && tt->needs_grad && !x->grad[t] &&
            !(x->grad[t] = talloc(&x->alloc, tt->bytes, true)))
            return remat_fail(err, -ENOMEM, "instruction %d: out of memory", i);
    }
    void *ws = NULL;
    if (o->ws_bwd > 0 && !(ws = talloc(&x->alloc, o->ws_bwd, false)))
        return remat_fail(err, -ENOMEM, "instruction %d: out of memory", i);
    if (run)
        cpu_op_backward(g, op, &x->dims[op], x->data, x->grad, 1.0f, ws);
    tfree(&x->alloc, ws, o->ws_bwd);
    x->bwd_done[op] = 1;
    return 0;
}

static void run_opt(cpu_exec *x)
{
    const graph *g = x->g;
    const exec_opts *p = &x->opts;
    x->opt_steps++;
    adamw_hparams h = {p->lr, p->beta1, p->beta2, p->eps,
                       x->mc.optimizer == OPTIM_ADAMW ? p->weight_decay : 0.0};
    for (int i = 0; i < g->n_tensors; i++) {
        const graph_tensor *t = &g->tensors[i];
        if (!trainable(t))
            continue;
        float *w = x->data[i], *gr = x->grad[i];
        float lr = (float)p->lr, mu = (float)p->momentum;
        switch (x->mc.optimizer) {
        case OPTIM_SGD:
            for (int64_t e = 0; e < t->numel; e++)
                w[e] -= lr * gr[e];
            break;
        case OPTIM_MOMENTUM: {
            float *buf = x->state1[i];
            for (int64_t e = 0; e < t->numel; e++) {
                buf[e] = mu * buf[e] + gr[e];
                w[e] -= lr * buf[e];
            }
            break;
        }
        case OPTIM_ADAM:
        case OPTIM_ADAMW:
            adamw_step(w, x->state1[i], x->state2[i], gr, t->numel, &h, x->opt_steps);
            break;
        }
    }
}

static int run_ins(cpu_exec *x, int i, const sched_ins *in, remat_err *err)
{
    int rc = step_check_arg(x->g, i, in, err);
    if (rc)
        return rc;
    switch ((ins_kind)in->kind) {
    case INS_FWD:
        return run_fwd(x, i, in, err);
    case INS_BWD:
        return run_bwd(x, i, in, err);
    case INS_FREE:
    case INS_FREE_GRAD: {
        void **slot;
        rc = step_free_slot(x->g, x->data, (void **)x->grad, i, in, &slot, err);
        if (rc)
            return rc;
        tfree(&x->alloc, *slot, x->g->tensors[in->arg].bytes);
        *slot = NULL;
        return 0;
    }
    case INS_OPT:
        run_opt(x);
        return 0;
    }
    return 0; /* step_check_arg refused unknown kinds */
}

int cpu_exec_step(cpu_exec *x, const schedule *s, remat_err *err)
{
    const graph *g = x->g;
    exec_trace *tr = &x->trace;
    if (step_trace_reserve(tr, s->n))
        return remat_fail(err, -ENOMEM, "out of memory");
    step_trace_begin(tr);
    memset(x->bwd_done, 0, (size_t)g->n_ops);
    for (int i = 0; i < g->n_tensors; i++)
        if (trainable(&g->tensors[i]))
            memset(x->grad[i], 0, (size_t)g->tensors[i].bytes);
    int64_t base = x->alloc.current;
    x->alloc.peak = base;
    int64_t best = base;
    double t0 = now_s();
    int rc = 0;
    for (int i = 0; i < s->n; i++) {
        const sched_ins *in = &s->ins[i];
        talloc_mark(&x->alloc);
        double ti = now_s();
        rc = run_ins(x, i, in, err);
        if (rc)
            break;
        double dt = now_s() - ti;
        tr->seconds[i] = dt;
        tr->live_after[i] = x->alloc.current - base;
        tr->peak_during[i] = x->alloc.mark_peak - base;
        if (x->alloc.mark_peak > best) {
            best = x->alloc.mark_peak;
            tr->peak_ins = i;
        }
        step_trace_time(tr, in, dt);
        tr->n = i + 1;
    }
    tr->step_s = now_s() - t0;
    if (!rc)
        rc = step_check_end(g, x->data, (void *const *)x->grad, x->bwd_done, err);
    tr->peak_bytes = x->alloc.peak;
    if (rc)
        free_dynamic(x);
    return rc;
}

/* ---------------------------------------------------------------- results */

int64_t cpu_exec_grad_count(const cpu_exec *x)
{
    int64_t n = 0;
    for (int i = 0; i < x->g->n_tensors; i++)
        if (trainable(&x->g->tensors[i]))
            n += x->g->tensors[i].numel;
    return n;
}

int cpu_exec_copy_grads(const cpu_exec *x, float *out, int64_t n)
{
    if (n != cpu_exec_grad_count(x))
        return -EINVAL;
    int64_t off = 0;
    for (int i = 0; i < x->g->n_tensors; i++) {
        const graph_tensor *t = &x->g->tensors[i];
        if (!trainable(t))
            continue;
        memcpy(out + off, x->grad[i], (size_t)t->bytes);
        off += t->numel;
    }
    return 0;
}

static int put(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -EIO; }

static bool dumped(const graph_tensor *t, int what)
{
    switch (what) {
    case EXEC_DUMP_PARAMS: return t->role == ROLE_PARAM;
    case EXEC_DUMP_GRADS: return trainable(t);
    case EXEC_DUMP_INPUTS: return t->role == ROLE_INPUT;
    default: return false;
    }
}

int cpu_exec_dump(const cpu_exec *x, int what, FILE *f, remat_err *err)
{
    const graph *g = x->g;
    uint32_t count = 0;
    for (int i = 0; i < g->n_tensors; i++)
        count += dumped(&g->tensors[i], what);
    uint32_t version = 2;
    int rc = put(f, "REMATDMP", 8);
    rc = rc ? rc : put(f, &version, 4);
    rc = rc ? rc : put(f, &count, 4);
    for (int i = 0; i < g->n_tensors && !rc; i++) {
        const graph_tensor *t = &g->tensors[i];
        if (!dumped(t, what))
            continue;
        uint32_t len = (uint32_t)strlen(t->name), nd = (uint32_t)t->ndim, dt = (uint32_t)t->dtype;
        rc = put(f, &len, 4);
        rc = rc ? rc : put(f, t->name, len);
        rc = rc ? rc : put(f, &dt, 4);
        rc = rc ? rc : put(f, &nd, 4);
        rc = rc ? rc : put(f, t->shape, (size_t)t->ndim * sizeof(int64_t));
        rc = rc ? rc : put(f, what == EXEC_DUMP_GRADS ? (void *)x->grad[i] : x->data[i],
                           (size_t)t->bytes);
    }
    return rc ? remat_fail(err, rc, "write error in the tensor dump") : 0;
}

/* ---------------------------------------------------------------- reference schedule */

int exec_schedule_store_all(const graph *g, schedule *out, remat_err *err)
{
    int n = g->n_ops, nt = g->n_tensors;
    int *last_fwd = malloc((size_t)nt * sizeof *last_fwd);   /* last forward consumer */
    int *first_saved = malloc((size_t)nt * sizeof *first_saved); /* smallest op saving it */
    if (!last_fwd || !first_saved) {
        free(last_fwd);
        free(first_saved);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    for (int t = 0; t < nt; t++)
        last_fwd[t] = first_saved[t] = -1;
    for (int i = 0; i < n; i++) {
        const graph_op *o = &g->ops[i];
        for (int k = 0; k < o->n_in; k++)
            last_fwd[o->in[k]] = i;
        for (int k = 0; k < o->n_saved; k++)
            if (first_saved[o->saved[k]] < 0)
                first_saved[o->saved[k]] = i;
    }
    memset(out, 0, sizeof *out);
    int rc = 0;
#define PUSH(k, a) (rc = rc ? rc : schedule_push(out, (k), (a), 0))
    for (int i = 0; i < n; i++) {
        PUSH(INS_FWD, i);
        /* tensors whose last forward use is op i (or produced by i, never read) and
         * that no backward reads */
        for (int t = 0; t < nt; t++) {
            const graph_tensor *tt = &g->tensors[t];
            if ((tt->role != ROLE_ACT && tt->role != ROLE_EXTRA) || first_saved[t] >= 0)
                continue;
            int last = last_fwd[t] >= 0 ? last_fwd[t] : tt->producer;
            if (last == i)
                PUSH(INS_FREE, t);
        }
    }
    for (int i = n - 1; i >= 0; i--) {
        const graph_op *o = &g->ops[i];
        PUSH(INS_BWD, i);
        if (i != n - 1 && g->tensors[o->out].needs_grad)
            PUSH(INS_FREE_GRAD, o->out);
        for (int t = 0; t < nt; t++) {
            const graph_tensor *tt = &g->tensors[t];
            if ((tt->role == ROLE_ACT || tt->role == ROLE_EXTRA) && first_saved[t] == i)
                PUSH(INS_FREE, t);
        }
    }
    PUSH(INS_OPT, 0);
#undef PUSH
    free(last_fwd);
    free(first_saved);
    if (rc) {
        schedule_free(out);
        return remat_fail(err, rc, "out of memory");
    }
    return 0;
}
