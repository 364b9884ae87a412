/* solver/finalize.c — schedule_finalize: turns a solver's compute sequence (FWD,
 * BWD, OPT) into a complete schedule by inserting FREE after the last use of every
 * tensor instance and FREE_GRAD after the backward that consumes a gradient, and by
 * flagging recomputations. One pass over the instructions plus one over the
 * tensors: O(instructions + tensors). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "solver/solver.h"

typedef struct free_ev {
    int after;   /* input instruction index the free follows */
    int tensor;
    int grad;    /* 1: FREE_GRAD, 0: FREE */
} free_ev;

typedef struct ev_list {
    free_ev *ev;
    int n, cap;
} ev_list;

static int ev_push(ev_list *l, int after, int tensor, int grad)
{
    if (l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 256;
        free_ev *q = realloc(l->ev, (size_t)nc * sizeof *q);
        if (!q)
            return -ENOMEM;
        l->ev = q;
        l->cap = nc;
    }
    l->ev[l->n++] = (free_ev){after, tensor, grad};
    return 0;
}

static bool is_dynamic(const graph_tensor *t)
{
    return t->role == ROLE_ACT || t->role == ROLE_EXTRA;
}

/* Order of frees after one instruction: FREE_GRAD first, then FREE, each by tensor
 * index, so the output does not depend on the order instances were closed. */
static int ev_cmp(const void *a, const void *b)
{
    const free_ev *x = a, *y = b;
    if (x->after != y->after)
        return x->after < y->after ? -1 : 1;
    if (x->grad != y->grad)
        return x->grad > y->grad ? -1 : 1;
    return (x->tensor > y->tensor) - (x->tensor < y->tensor);
}

int schedule_finalize(const graph *g, const schedule *in, schedule *out, remat_err *err)
{
    memset(out, 0, sizeof *out);
    const int nt = g->n_tensors, no = g->n_ops;
    for (int i = 0; i < in->n; i++) {
        const sched_ins *s = &in->ins[i];
        if (s->kind != INS_FWD && s->kind != INS_BWD && s->kind != INS_OPT)
            return remat_fail(err, -EINVAL,
                              "instruction %d: a solver emits only fwd, bwd and opt (got %s)", i,
                              ins_kind_name((ins_kind)s->kind));
        if (s->kind != INS_OPT && (s->arg < 0 || s->arg >= no))
            return remat_fail(err, -EINVAL, "instruction %d: op index %d out of range", i,
                              (int)s->arg);
    }
    int *cur = malloc((size_t)(nt ? nt : 1) * sizeof *cur);      /* producing instr or -1 */
    int *last = malloc((size_t)(nt ? nt : 1) * sizeof *last);    /* last use of instance */
    unsigned char *glive = calloc((size_t)(nt ? nt : 1), 1);
    unsigned char *ran = calloc((size_t)(no ? no : 1), 1);
    ev_list ev = {NULL, 0, 0};
    int rc = 0;
    if (!cur || !last || !glive || !ran) {
        rc = -ENOMEM;
        goto done;
    }
    for (int t = 0; t < nt; t++)
        cur[t] = last[t] = -1;

    for (int i = 0; i < in->n && !rc; i++) {
        const sched_ins *s = &in->ins[i];
        if (s->kind == INS_OPT)
            continue;
        const graph_op *o = &g->ops[s->arg];
        if (s->kind == INS_FWD) {
            for (int k = 0; k < o->n_in; k++)
                if (cur[o->in[k]] >= 0)
                    last[o->in[k]] = i;
            int prod[1 + GRAPH_MAX_EXTRAS];
            int np = 0;
            prod[np++] = o->out;
            for (int k = 0; k < o->n_extra; k++)
                prod[np++] = o->extra[k];
            for (int k = 0; k < np && !rc; k++) {
                int t = prod[k];
                if (cur[t] >= 0)
                    rc = ev_push(&ev, last[t], t, 0);
                cur[t] = last[t] = i;
            }
        } else {
            for (int k = 0; k < o->n_saved; k++) {
                int t = o->saved[k];
                if (is_dynamic(&g->tensors[t]) && cur[t] >= 0)
                    last[t] = i;
            }
            for (int k = 0; k < o->n_in; k++) {
                const graph_tensor *t = &g->tensors[o->in[k]];
                if (t->role == ROLE_ACT && t->needs_grad)
                    glive[o->in[k]] = 1;
            }
            if (glive[o->out]) {
                glive[o->out] = 0;
                rc = ev_push(&ev, i, o->out, 1);
            }
        }
    }
    for (int t = 0; t < nt && !rc; t++)
        if (cur[t] >= 0 && is_dynamic(&g->tensors[t]))
            rc = ev_push(&ev, last[t], t, 0);
    if (rc)
        goto done;
    /* bucket the frees by the instruction they follow (counting sort), then order
     * each (small) bucket */
    int *start = calloc((size_t)in->n + 2, sizeof *start);
    free_ev *sorted = malloc((size_t)(ev.n ? ev.n : 1) * sizeof *sorted);
    if (!start || !sorted) {
        free(start);
        free(sorted);
        rc = -ENOMEM;
        goto done;
    }
    for (int k = 0; k < ev.n; k++)
        start[ev.ev[k].after + 1]++;
    for (int i = 0; i < in->n; i++)
        start[i + 1] += start[i];
    for (int k = 0; k < ev.n; k++)
        sorted[start[ev.ev[k].after]++] = ev.ev[k];
    free(start);
    free(ev.ev);
    ev.ev = sorted;
    for (int a = 0, b; a < ev.n; a = b) {
        for (b = a + 1; b < ev.n && ev.ev[b].after == ev.ev[a].after; b++)
            ;
        if (b - a > 1)
            qsort(ev.ev + a, (size_t)(b - a), sizeof *ev.ev, ev_cmp);
    }

    int e = 0;
    for (int i = 0; i < in->n && !rc; i++) {
        sched_ins s = in->ins[i];
        unsigned flags = 0;
        if (s.kind == INS_FWD) {
            if (ran[s.arg])
                flags = INS_RECOMPUTE;
            ran[s.arg] = 1;
        }
        rc = schedule_push(out, (ins_kind)s.kind, s.arg, flags);
        for (; e < ev.n && ev.ev[e].after == i && !rc; e++)
            rc = schedule_push(out, ev.ev[e].grad ? INS_FREE_GRAD : INS_FREE, ev.ev[e].tensor, 0);
    }
done:
    free(cur);
    free(last);
    free(glive);
    free(ran);
    free(ev.ev);
    if (rc) {
        schedule_free(out);
        return remat_fail(err, rc, "out of memory finalizing the schedule");
    }
    return 0;
}
