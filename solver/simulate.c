/* solver/simulate.c — runs a schedule on the memory model of solver.h: the live
 * bytes after every instruction, each instruction's high point (temporaries and
 * newly allocated gradients included), the peak and what is live at it, and the
 * compute time split into first runs and recomputations. It also checks the
 * schedule against every rule of solver.h and names the first offending
 * instruction. One pass, O(instructions + tensors + ops). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "solver/solver.h"

typedef struct sim_state {
    const graph *g;
    allocator_kind alloc;
    int64_t *ab;            /* per tensor: allocated bytes (rounded) */
    unsigned char *live;    /* per tensor: activation/extra live */
    unsigned char *glive;   /* per tensor: gradient live */
    int *fwd_runs;          /* per op */
    unsigned char *bwd_done;/* per op */
    int *pending;           /* per tensor: consumers whose backward must still run */
    unsigned char *counted; /* per op: its backward must run (loss or output needs grad) */
    int64_t act, grad;      /* bytes live */
    int64_t tmp;            /* temporaries of the current instruction */
} sim_state;

static bool dynamic_role(const graph_tensor *t)
{
    return t->role == ROLE_ACT || t->role == ROLE_EXTRA;
}

static int ins_err(remat_err *err, const graph *g, int i, const sched_ins *in, const char *what,
                   int tensor)
{
    const char *subject = "";
    if ((in->kind == INS_FWD || in->kind == INS_BWD) && in->arg >= 0 && in->arg < g->n_ops)
        subject = g->ops[in->arg].name;
    else if ((in->kind == INS_FREE || in->kind == INS_FREE_GRAD) && in->arg >= 0 &&
             in->arg < g->n_tensors)
        subject = g->tensors[in->arg].name;
    return remat_fail(err, -EINVAL, "instruction %d (%s %s): %s%s%s", i,
                      ins_kind_name((ins_kind)in->kind), subject, what, tensor >= 0 ? " " : "",
                      tensor >= 0 ? g->tensors[tensor].name : "");
}

static void st_free(sim_state *s)
{
    free(s->ab);
    free(s->live);
    free(s->glive);
    free(s->fwd_runs);
    free(s->bwd_done);
    free(s->pending);
    free(s->counted);
}

static int st_init(sim_state *s, const graph *g, allocator_kind a)
{
    memset(s, 0, sizeof *s);
    s->g = g;
    s->alloc = a;
    size_t nt = (size_t)(g->n_tensors ? g->n_tensors : 1), no = (size_t)(g->n_ops ? g->n_ops : 1);
    s->ab = malloc(nt * sizeof *s->ab);
    s->live = calloc(nt, 1);
    s->glive = calloc(nt, 1);
    s->fwd_runs = calloc(no, sizeof *s->fwd_runs);
    s->bwd_done = calloc(no, 1);
    s->pending = calloc(nt, sizeof *s->pending);
    s->counted = calloc(no, 1);
    if (!s->ab || !s->live || !s->glive || !s->fwd_runs || !s->bwd_done || !s->pending ||
        !s->counted) {
        st_free(s);
        return -ENOMEM;
    }
    for (int t = 0; t < g->n_tensors; t++)
        s->ab[t] = alloc_round(a, g->tensors[t].bytes);
    for (int i = 0; i < g->n_ops; i++) {
        const graph_op *o = &g->ops[i];
        s->counted[i] = i == g->n_ops - 1 || g->tensors[o->out].needs_grad;
        if (!s->counted[i])
            continue;
        for (int k = 0; k < o->n_in; k++) {
            int t = o->in[k];
            bool dup = false;
            for (int j = 0; j < k; j++)
                dup = dup || o->in[j] == t;
            if (!dup && g->tensors[t].role == ROLE_ACT && g->tensors[t].needs_grad)
                s->pending[t]++;
        }
    }
    return 0;
}

/* *acc += v unless that overflows 64 bits (absurdly large models). */
static bool add_bytes(int64_t *acc, int64_t v) { return checked_add64(*acc, v, acc); }

static int overflow(remat_err *err, int i)
{
    return remat_fail(err, -ERANGE, "instruction %d: live bytes overflow 64 bits", i);
}

/* Executes instruction i; on a rule violation returns -EINVAL with the message
 * (-ERANGE when the live bytes overflow). */
static int step(sim_state *s, int i, const sched_ins *in, remat_err *err)
{
    const graph *g = s->g;
    s->tmp = 0;
    switch ((ins_kind)in->kind) {
    case INS_FWD: {
        if (in->arg < 0 || in->arg >= g->n_ops)
            return remat_fail(err, -EINVAL, "instruction %d: op index %d out of range", i,
                              (int)in->arg);
        const graph_op *o = &g->ops[in->arg];
        for (int k = 0; k < o->n_in; k++)
            if (dynamic_role(&g->tensors[o->in[k]]) && !s->live[o->in[k]])
                return ins_err(err, g, i, in, "input is not live:", o->in[k]);
        if (s->live[o->out])
            return ins_err(err, g, i, in, "output is already live (double allocation):", o->out);
        for (int k = 0; k < o->n_extra; k++)
            if (s->live[o->extra[k]])
                return ins_err(err, g, i, in, "extra is already live (double allocation):",
                               o->extra[k]);
        s->live[o->out] = 1;
        if (!add_bytes(&s->act, s->ab[o->out]))
            return overflow(err, i);
        for (int k = 0; k < o->n_extra; k++) {
            s->live[o->extra[k]] = 1;
            if (!add_bytes(&s->act, s->ab[o->extra[k]]))
                return overflow(err, i);
        }
        s->tmp = alloc_round(s->alloc, o->ws_fwd);
        s->fwd_runs[in->arg]++;
        return 0;
    }
    case INS_BWD: {
        if (in->arg < 0 || in->arg >= g->n_ops)
            return remat_fail(err, -EINVAL, "instruction %d: op index %d out of range", i,
                              (int)in->arg);
        int op = in->arg;
        const graph_op *o = &g->ops[op];
        if (!s->fwd_runs[op])
            return ins_err(err, g, i, in, "backward before the op's forward", -1);
        if (s->bwd_done[op])
            return ins_err(err, g, i, in, "second backward of the op", -1);
        bool is_loss = op == g->n_ops - 1;
        if (!is_loss && g->tensors[o->out].needs_grad) {
            if (s->pending[o->out] > 0)
                return ins_err(err, g, i, in,
                               "gradient of the output is incomplete (a consumer's backward has "
                               "not run):",
                               o->out);
            if (!s->glive[o->out])
                return ins_err(err, g, i, in, "gradient of the output is not live:", o->out);
        }
        for (int k = 0; k < o->n_saved; k++)
            if (dynamic_role(&g->tensors[o->saved[k]]) && !s->live[o->saved[k]])
                return ins_err(err, g, i, in, "saved tensor is not live:", o->saved[k]);
        for (int k = 0; k < o->n_in; k++) {
            int t = o->in[k];
            const graph_tensor *tt = &g->tensors[t];
            if (tt->role != ROLE_ACT || !tt->needs_grad)
                continue;
            bool dup = false;
            for (int j = 0; j < k; j++)
                dup = dup || o->in[j] == t;
            if (dup)
                continue;
            if (!s->glive[t]) {
                s->glive[t] = 1;
                if (!add_bytes(&s->grad, s->ab[t]))
                    return overflow(err, i);
            }
            if (s->counted[op])
                s->pending[t]--;
        }
        s->tmp = alloc_round(s->alloc, o->ws_bwd);
        s->bwd_done[op] = 1;
        return 0;
    }
    case INS_FREE:
    case INS_FREE_GRAD: {
        if (in->arg < 0 || in->arg >= g->n_tensors)
            return remat_fail(err, -EINVAL, "instruction %d: tensor index %d out of range", i,
                              (int)in->arg);
        const graph_tensor *t = &g->tensors[in->arg];
        bool grad = in->kind == INS_FREE_GRAD;
        if (grad ? t->role != ROLE_ACT : !dynamic_role(t))
            return ins_err(err, g, i, in, "not an activation (static memory is never freed)",
                           -1);
        unsigned char *slot = grad ? &s->glive[in->arg] : &s->live[in->arg];
        if (!*slot)
            return ins_err(err, g, i, in, "frees what is not live", -1);
        *slot = 0;
        *(grad ? &s->grad : &s->act) -= s->ab[in->arg];
        return 0;
    }
    case INS_OPT:
        for (int k = 0; k < g->n_ops; k++)
            if (s->counted[k] && !s->bwd_done[k])
                return remat_fail(err, -EINVAL,
                                  "instruction %d (opt): optimizer step before the backward of "
                                  "op %s",
                                  i, g->ops[k].name);
        return 0;
    }
    return remat_fail(err, -EINVAL, "instruction %d: unknown kind %d", i, in->kind);
}

static int live_cmp(const void *a, const void *b)
{
    const live_entry *x = a, *y = b;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    if (x->tensor != y->tensor)
        return x->tensor < y->tensor ? -1 : 1;
    return (int)x->grad - (int)y->grad;
}

void sim_result_free(sim_result *r)
{
    if (!r)
        return;
    free(r->live_after);
    free(r->peak_during);
    free(r->live_at_peak);
    free(r->act_after);
    free(r->grad_after);
    free(r->tmp_during);
    memset(r, 0, sizeof *r);
}

int simulate(const profile *p, const mem_config *mc, const schedule *s, sim_result *r,
             remat_err *err)
{
    memset(r, 0, sizeof *r);
    const graph *g = &p->g;
    static_mem sm;
    int rc = static_memory(g, mc, &sm, err);
    if (rc)
        return rc;
    sim_state st;
    if (st_init(&st, g, mc->allocator))
        return remat_fail(err, -ENOMEM, "out of memory");
    size_t n = (size_t)(s->n ? s->n : 1);
    r->live_after = malloc(n * sizeof *r->live_after);
    r->peak_during = malloc(n * sizeof *r->peak_during);
    r->act_after = malloc(n * sizeof *r->act_after);
    r->grad_after = malloc(n * sizeof *r->grad_after);
    r->tmp_during = malloc(n * sizeof *r->tmp_during);
    if (!r->live_after || !r->peak_during || !r->act_after || !r->grad_after || !r->tmp_during) {
        rc = remat_fail(err, -ENOMEM, "out of memory");
        goto fail;
    }
    r->n = s->n;
    r->static_bytes = sm.total;
    r->peak_ins = s->n > 0 ? 0 : -1;
    int64_t best = -1;
    for (int i = 0; i < s->n; i++) {
        const sched_ins *in = &s->ins[i];
        int64_t before = st.act + st.grad;
        rc = step(&st, i, in, err);
        if (rc)
            goto fail;
        int64_t after = st.act, high;
        if (!add_bytes(&after, st.grad) || !checked_add64(after, st.tmp, &high)) {
            rc = overflow(err, i);
            goto fail;
        }
        if (high < before)
            high = before;
        r->live_after[i] = after;
        r->act_after[i] = st.act;
        r->grad_after[i] = st.grad;
        r->tmp_during[i] = st.tmp;
        r->peak_during[i] = high;
        if (high > best) {
            best = high;
            r->peak_ins = i;
        }
        if (in->kind == INS_FWD || in->kind == INS_BWD) {
            const op_profile *op = &p->ops[in->arg];
            double t = in->kind == INS_FWD ? op->time_fwd_s : op->time_bwd_s;
            r->compute_s += t;
            if (in->kind == INS_FWD && (in->flags & INS_RECOMPUTE)) {
                r->recompute_s += t;
                r->recompute_forwards++;
            }
        }
    }
    for (int t = 0; t < g->n_tensors; t++) {
        if (st.live[t] || st.glive[t]) {
            rc = remat_fail(err, -EINVAL, "end of schedule: %s%s is still live (only static "
                                          "memory may be live at the end)",
                            st.glive[t] && !st.live[t] ? "the gradient of " : "",
                            g->tensors[t].name);
            goto fail;
        }
    }
    for (int k = 0; k < g->n_ops; k++) {
        if (st.counted[k] && !st.bwd_done[k]) {
            rc = remat_fail(err, -EINVAL, "end of schedule: op %s has no backward",
                            g->ops[k].name);
            goto fail;
        }
    }
    r->activation_peak_bytes = best > 0 ? best : 0;
    if (!checked_add64(sm.total, r->activation_peak_bytes, &r->peak_bytes)) {
        rc = remat_fail(err, -ERANGE, "the peak (static + activations) overflows 64 bits");
        goto fail;
    }
    for (int k = 0; k < g->n_ops; k++)
        r->base_s += p->ops[k].time_fwd_s + p->ops[k].time_bwd_s;
    r->compute_overhead = r->base_s > 0 ? r->recompute_s / r->base_s : 0.0;

    /* what is live at the peak: replay up to the peak instruction (a FWD or BWD,
     * which only allocates, so its state after is its high point less temporaries) */
    if (r->peak_ins >= 0) {
        st_free(&st);
        if (st_init(&st, g, mc->allocator)) {
            rc = remat_fail(err, -ENOMEM, "out of memory");
            goto fail_nostate;
        }
        for (int i = 0; i <= r->peak_ins; i++)
            step(&st, i, &s->ins[i], NULL);
        int cnt = 0;
        for (int t = 0; t < g->n_tensors; t++)
            cnt += st.live[t] + st.glive[t];
        r->live_at_peak = calloc((size_t)(cnt ? cnt : 1), sizeof *r->live_at_peak);
        if (!r->live_at_peak) {
            rc = remat_fail(err, -ENOMEM, "out of memory");
            goto fail;
        }
        int k = 0;
        for (int t = 0; t < g->n_tensors; t++) {
            if (st.live[t])
                r->live_at_peak[k++] = (live_entry){t, false, st.ab[t]};
            if (st.glive[t])
                r->live_at_peak[k++] = (live_entry){t, true, st.ab[t]};
        }
        r->n_live_at_peak = k;
        qsort(r->live_at_peak, (size_t)k, sizeof *r->live_at_peak, live_cmp);
    }
    st_free(&st);
    return 0;
fail:
    st_free(&st);
fail_nostate:
    sim_result_free(r);
    return rc;
}
