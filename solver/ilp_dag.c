/* solver/ilp_dag.c — the abstract training DAG the Checkmate ILP works on: forward
 * nodes (op groups) in topological order, then backward nodes in reverse order,
 * with compute costs, result memories, temporaries and dependency edges; built by
 * hand (tests) or from a graph and its profile at op, module or block granularity.
 * docs/ilp.md states how ops, tensors and gradients map onto nodes. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "solver/ilp_internal.h"

int ilp_dag_init(ilp_dag *d, int n, int n_fwd, remat_err *err)
{
    memset(d, 0, sizeof *d);
    if (n < 1 || n_fwd < 1 || n_fwd > n)
        return remat_fail(err, -EINVAL, "ilp: a DAG needs n >= 1 nodes and 1 <= n_fwd <= n (got %d, %d)",
                          n, n_fwd);
    d->n = n;
    d->n_fwd = n_fwd;
    d->cost = calloc((size_t)n, sizeof *d->cost);
    d->mem = calloc((size_t)n, sizeof *d->mem);
    d->ws = calloc((size_t)n, sizeof *d->ws);
    d->last = calloc((size_t)n, sizeof *d->last);
    if (!d->cost || !d->mem || !d->ws || !d->last) {
        ilp_dag_free(d);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    return 0;
}

void ilp_dag_free(ilp_dag *d)
{
    if (!d)
        return;
    free(d->cost);
    free(d->mem);
    free(d->ws);
    free(d->dep_off);
    free(d->dep);
    free(d->use_off);
    free(d->use);
    free(d->last);
    free(d->op_first);
    free(d->op_last);
    if (d->group_name)
        for (int g = 0; g < d->n_groups; g++)
            free(d->group_name[g]);
    free(d->group_name);
    free(d->edge);
    memset(d, 0, sizeof *d);
}

int ilp_dag_add_edge(ilp_dag *d, int from, int to, remat_err *err)
{
    if (from < 0 || to >= d->n || from >= to)
        return remat_fail(err, -EINVAL, "ilp: edge %d -> %d is not forward in a %d-node DAG", from,
                          to, d->n);
    if (d->n_edges == d->cap_edges) {
        int nc = d->cap_edges ? d->cap_edges * 2 : 64;
        int *e = realloc(d->edge, (size_t)nc * 2 * sizeof *e);
        if (!e)
            return remat_fail(err, -ENOMEM, "out of memory");
        d->edge = e;
        d->cap_edges = nc;
    }
    d->edge[2 * d->n_edges] = from;
    d->edge[2 * d->n_edges + 1] = to;
    d->n_edges++;
    return 0;
}

static int edge_cmp(const void *a, const void *b)
{
    const int *x = a, *y = b;
    if (x[1] != y[1])
        return x[1] < y[1] ? -1 : 1;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

int ilp_dag_finish(ilp_dag *d, remat_err *err)
{
    const int n = d->n;
    for (int i = 0; i < n; i++)
        if (!isfinite(d->cost[i]) || d->cost[i] < 0 || !isfinite(d->mem[i]) || d->mem[i] < 0 ||
            !isfinite(d->ws[i]) || d->ws[i] < 0)
            return remat_fail(err, -EINVAL,
                              "ilp: node %d has a negative or non-finite cost, memory or temporary",
                              i);
    if (d->n_edges > 0)
        qsort(d->edge, (size_t)d->n_edges, 2 * sizeof *d->edge, edge_cmp);
    int m = 0; /* dedup */
    for (int e = 0; e < d->n_edges; e++) {
        if (m > 0 && d->edge[2 * (m - 1)] == d->edge[2 * e] &&
            d->edge[2 * (m - 1) + 1] == d->edge[2 * e + 1])
            continue;
        d->edge[2 * m] = d->edge[2 * e];
        d->edge[2 * m + 1] = d->edge[2 * e + 1];
        m++;
    }
    d->n_edges = m;
    free(d->dep_off);
    free(d->dep);
    free(d->use_off);
    free(d->use);
    d->dep_off = calloc((size_t)n + 1, sizeof *d->dep_off);
    d->use_off = calloc((size_t)n + 1, sizeof *d->use_off);
    d->dep = malloc((size_t)(m ? m : 1) * sizeof *d->dep);
    d->use = malloc((size_t)(m ? m : 1) * sizeof *d->use);
    int *fill = calloc((size_t)n, sizeof *fill);
    if (!d->dep_off || !d->use_off || !d->dep || !d->use || !fill) {
        free(fill);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    for (int e = 0; e < m; e++) {
        int from = d->edge[2 * e], to = d->edge[2 * e + 1];
        if (to < d->n_fwd && from >= d->n_fwd) {
            free(fill);
            return remat_fail(err, -EINVAL, "ilp: forward node %d depends on backward node %d", to,
                              from);
        }
        d->dep_off[to + 1]++;
        d->use_off[from + 1]++;
    }
    for (int i = 0; i < n; i++) {
        d->dep_off[i + 1] += d->dep_off[i];
        d->use_off[i + 1] += d->use_off[i];
    }
    /* edges are sorted by (to, from): deps come out ascending */
    for (int e = 0; e < m; e++) {
        int from = d->edge[2 * e], to = d->edge[2 * e + 1];
        d->dep[d->dep_off[to] + fill[to]++] = from;
    }
    memset(fill, 0, (size_t)n * sizeof *fill);
    for (int to = 0; to < n; to++) /* users ascending: walk targets in order */
        for (int k = d->dep_off[to]; k < d->dep_off[to + 1]; k++) {
            int from = d->dep[k];
            d->use[d->use_off[from] + fill[from]++] = to;
        }
    free(fill);
    free(d->edge);
    d->edge = NULL;
    d->n_edges = d->cap_edges = 0;
    /* last[i]: a backward user j needs i in stage j; a forward user j may be
     * recomputed until last[j], needing i then. Users are later nodes. */
    for (int i = n - 1; i >= 0; i--) {
        int l = i;
        for (int k = d->use_off[i]; k < d->use_off[i + 1]; k++) {
            int j = d->use[k];
            int lj = j >= d->n_fwd ? j : d->last[j];
            if (lj > l)
                l = lj;
        }
        d->last[i] = l;
    }
    return 0;
}

/* ---------------------------------------------------------------- graph -> DAG */

void ilp_group_key(const char *module, granularity gran, char *buf, size_t n)
{
    if (!n)
        return;
    const char *m = module ? module : "";
    size_t len = strlen(m);
    if (gran == GRAN_MODULE) {
        const char *dot = strrchr(m, '.');
        if (dot)
            len = (size_t)(dot - m);
    } else if (gran == GRAN_BLOCK) {
        size_t first_end = len, cut = 0;
        const char *p = m;
        while (*p) {
            const char *dot = strchr(p, '.');
            size_t clen = dot ? (size_t)(dot - p) : strlen(p);
            size_t end = (size_t)(p - m) + clen;
            if (first_end == len && dot)
                first_end = end;
            if (clen > 0 && isdigit((unsigned char)p[clen - 1])) {
                cut = end;
                break;
            }
            if (!dot)
                break;
            p = dot + 1;
        }
        len = cut ? cut : first_end;
    }
    if (len >= n)
        len = n - 1;
    memcpy(buf, m, len);
    buf[len] = 0;
}

typedef struct tinfo {
    int cmax;          /* last op (highest index) with the tensor as an input, -1: none */
    bool saved;        /* some op's backward reads it */
    bool used_out;     /* some op outside its producer's group reads it as an input */
} tinfo;

static bool dyn(const graph_tensor *t)
{
    return t->role == ROLE_ACT || t->role == ROLE_EXTRA;
}

/* Adds an edge unless it is internal to one node. */
static int edge(ilp_dag *d, int from, int to, remat_err *err)
{
    return from == to ? 0 : ilp_dag_add_edge(d, from, to, err);
}

int ilp_dag_from_profile(const profile *p, const int64_t *tensor_bytes, granularity gran,
                         double mem_unit, double cost_unit, ilp_dag *d, remat_err *err)
{
    const graph *g = &p->g;
    const int no = g->n_ops, nt = g->n_tensors;
    memset(d, 0, sizeof *d);
    if (no < 1)
        return remat_fail(err, -EINVAL, "ilp: graph has no ops");
    if (!(mem_unit > 0) || !(cost_unit > 0))
        return remat_fail(err, -EINVAL, "ilp: units must be positive");
    int *grp = malloc((size_t)no * sizeof *grp);
    tinfo *ti = malloc((size_t)(nt ? nt : 1) * sizeof *ti);
    int *mark = malloc((size_t)(nt ? nt : 1) * sizeof *mark);
    int *lastuse = malloc((size_t)(nt ? nt : 1) * sizeof *lastuse);
    char(*key)[256] = malloc(2 * sizeof *key);
    int rc = 0;
    if (!grp || !ti || !mark || !lastuse || !key) {
        rc = remat_fail(err, -ENOMEM, "out of memory");
        goto done;
    }
    /* groups: maximal runs of consecutive ops with one key */
    int G = 0;
    for (int j = 0; j < no; j++) {
        const graph_op *o = &g->ops[j];
        ilp_group_key(o->module ? o->module : o->name, gran, key[j & 1], sizeof key[0]);
        if (j == 0 || strcmp(key[j & 1], key[(j - 1) & 1]) != 0)
            G++;
        grp[j] = G - 1;
    }
    rc = ilp_dag_init(d, 2 * G, G, err);
    if (rc)
        goto done;
    d->n_groups = G;
    d->op_first = malloc((size_t)G * sizeof *d->op_first);
    d->op_last = malloc((size_t)G * sizeof *d->op_last);
    d->group_name = calloc((size_t)G, sizeof *d->group_name);
    if (!d->op_first || !d->op_last || !d->group_name) {
        rc = remat_fail(err, -ENOMEM, "out of memory");
        goto done;
    }
    for (int j = 0; j < no; j++) {
        int gi = grp[j];
        if (j == 0 || grp[j - 1] != gi) {
            d->op_first[gi] = j;
            const graph_op *o = &g->ops[j];
            ilp_group_key(o->module ? o->module : o->name, gran, key[0], sizeof key[0]);
            d->group_name[gi] = strdup(key[0]);
            if (!d->group_name[gi]) {
                rc = remat_fail(err, -ENOMEM, "out of memory");
                goto done;
            }
        }
        d->op_last[gi] = j;
    }
    for (int t = 0; t < nt; t++) {
        ti[t] = (tinfo){-1, false, false};
        mark[t] = -1;
        lastuse[t] = -1;
    }
    for (int j = 0; j < no; j++) {
        const graph_op *o = &g->ops[j];
        for (int k = 0; k < o->n_in; k++) {
            int x = o->in[k];
            ti[x].cmax = j;
            int pr = g->tensors[x].producer;
            if (dyn(&g->tensors[x]) && pr >= 0 && grp[pr] != grp[j])
                ti[x].used_out = true;
        }
        for (int k = 0; k < o->n_saved; k++)
            ti[o->saved[k]].saved = true;
    }
#define BYTES(t) ((double)tensor_bytes[t] / mem_unit)
#define SURVIVES(t) (ti[t].saved || ti[t].used_out)
#define GRAD(t) (g->tensors[t].role == ROLE_ACT && g->tensors[t].needs_grad)
    for (int gi = 0; gi < G; gi++) {
        const int a = d->op_first[gi], b = d->op_last[gi];
        const int fn = gi, bn = 2 * G - 1 - gi;
        double cf = 0, cb = 0;
        for (int j = a; j <= b; j++) {
            cf += p->ops[j].time_fwd_s;
            cb += p->ops[j].time_bwd_s;
        }
        d->cost[fn] = cf / cost_unit;
        d->cost[bn] = cb / cost_unit;
        /* forward: last use of each tensor inside the group */
        for (int j = a; j <= b; j++)
            for (int k = 0; k < g->ops[j].n_in; k++)
                lastuse[g->ops[j].in[k]] = j;
        double live = 0, peak = 0, keep = 0;
        for (int j = a; j <= b; j++) {
            const graph_op *o = &g->ops[j];
            double alloc = BYTES(o->out);
            for (int k = 0; k < o->n_extra; k++)
                alloc += BYTES(o->extra[k]);
            double hi = live + alloc + (double)o->ws_fwd / mem_unit;
            if (hi > peak)
                peak = hi;
            live += alloc;
            if (SURVIVES(o->out))
                keep += BYTES(o->out);
            for (int k = 0; k < o->n_extra; k++)
                if (SURVIVES(o->extra[k]))
                    keep += BYTES(o->extra[k]);
            /* transients die after their last use inside the group (or at once) */
            int outs[1 + GRAPH_MAX_EXTRAS], nouts = 0;
            outs[nouts++] = o->out;
            for (int k = 0; k < o->n_extra; k++)
                outs[nouts++] = o->extra[k];
            for (int k = 0; k < nouts; k++)
                if (!SURVIVES(outs[k]) && (lastuse[outs[k]] < j || lastuse[outs[k]] > b))
                    live -= BYTES(outs[k]);
            for (int k = 0; k < o->n_in; k++) {
                int x = o->in[k];
                int pr = g->tensors[x].producer;
                if (!dyn(&g->tensors[x]) || pr < a || pr >= j || SURVIVES(x) || mark[x] == j)
                    continue;
                mark[x] = j;
                if (lastuse[x] == j)
                    live -= BYTES(x);
            }
        }
        for (int j = a; j <= b; j++)
            for (int k = 0; k < g->ops[j].n_in; k++)
                lastuse[g->ops[j].in[k]] = -1;
        d->mem[fn] = keep;
        d->ws[fn] = peak - keep > 0 ? peak - keep : 0;
        /* backward: the gradients this group allocates (first consumer in backward
         * order = highest consumer index); those of tensors made inside die inside */
        live = peak = keep = 0;
        for (int j = b; j >= a; j--) {
            const graph_op *o = &g->ops[j];
            double alloc = 0;
            for (int k = 0; k < o->n_in; k++) {
                int x = o->in[k];
                if (!GRAD(x) || ti[x].cmax != j || mark[x] == -2 - j)
                    continue;
                mark[x] = -2 - j;
                alloc += BYTES(x);
                if (g->tensors[x].producer < a)
                    keep += BYTES(x);
            }
            double hi = live + alloc + (double)o->ws_bwd / mem_unit;
            if (hi > peak)
                peak = hi;
            live += alloc;
            if (GRAD(o->out) && ti[o->out].cmax >= a && ti[o->out].cmax <= b)
                live -= BYTES(o->out);
        }
        d->mem[bn] = keep;
        d->ws[bn] = peak - keep > 0 ? peak - keep : 0;
        /* edges */
        for (int j = a; j <= b && !rc; j++) {
            const graph_op *o = &g->ops[j];
            for (int k = 0; k < o->n_in && !rc; k++) {
                int x = o->in[k];
                if (dyn(&g->tensors[x]) && g->tensors[x].producer >= 0)
                    rc = edge(d, grp[g->tensors[x].producer], fn, err);
                /* accumulating into a gradient another group allocated */
                if (!rc && GRAD(x) && ti[x].cmax >= 0)
                    rc = edge(d, 2 * G - 1 - grp[ti[x].cmax], bn, err);
            }
            for (int k = 0; k < o->n_saved && !rc; k++) {
                int x = o->saved[k];
                if (dyn(&g->tensors[x]) && g->tensors[x].producer >= 0)
                    rc = edge(d, grp[g->tensors[x].producer], bn, err);
            }
            /* the gradient of the output (the loss seeds its own) */
            if (!rc && o->kind != OP_LOSS && GRAD(o->out) && ti[o->out].cmax >= 0)
                rc = edge(d, 2 * G - 1 - grp[ti[o->out].cmax], bn, err);
        }
        if (rc)
            goto done;
    }
#undef BYTES
#undef SURVIVES
#undef GRAD
    rc = ilp_dag_finish(d, err);
done:
    free(grp);
    free(ti);
    free(mark);
    free(lastuse);
    free(key);
    if (rc)
        ilp_dag_free(d);
    return rc;
}
