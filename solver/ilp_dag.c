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
    d->ws = calloc((size_t)n, sizeof *d->ws);
    d->mem = calloc((size_t)n, sizeof *d->mem);
    d->last = calloc((size_t)n, sizeof *d->last);
    d->out_mem = calloc((size_t)n, sizeof *d->out_mem);
    if (!d->cost || !d->ws || !d->mem || !d->last || !d->out_mem) {
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
    free(d->ws);
    free(d->mem);
    free(d->v_node);
    free(d->v_idx);
    free(d->v_mem);
    free(d->v_last);
    free(d->out_off);
    free(d->out);
    free(d->read_off);
    free(d->read);
    free(d->user_off);
    free(d->user);
    free(d->last);
    free(d->out_mem);
    free(d->op_first);
    free(d->op_last);
    if (d->group_name)
        for (int g = 0; g < d->n_groups; g++)
            free(d->group_name[g]);
    free(d->group_name);
    free(d->pend);
    memset(d, 0, sizeof *d);
}

int ilp_dag_add_value(ilp_dag *d, int node, double mem, remat_err *err)
{
    if (node < 0 || node >= d->n)
        return remat_fail(err, -EINVAL, "ilp: value of node %d in a %d-node DAG", node, d->n);
    if (d->nv == d->cap_v) {
        int nc = d->cap_v ? d->cap_v * 2 : 64;
        int *a = realloc(d->v_node, (size_t)nc * sizeof *a);
        if (a)
            d->v_node = a;
        double *b = realloc(d->v_mem, (size_t)nc * sizeof *b);
        if (b)
            d->v_mem = b;
        if (!a || !b)
            return remat_fail(err, -ENOMEM, "out of memory");
        d->cap_v = nc;
    }
    d->v_node[d->nv] = node;
    d->v_mem[d->nv] = mem;
    return d->nv++;
}

static int pend(ilp_dag *d, int kind, int a, int b, remat_err *err)
{
    if (d->n_pend == d->cap_pend) {
        int nc = d->cap_pend ? d->cap_pend * 2 : 64;
        int *e = realloc(d->pend, (size_t)nc * 3 * sizeof *e);
        if (!e)
            return remat_fail(err, -ENOMEM, "out of memory");
        d->pend = e;
        d->cap_pend = nc;
    }
    d->pend[3 * d->n_pend] = kind;
    d->pend[3 * d->n_pend + 1] = a;
    d->pend[3 * d->n_pend + 2] = b;
    d->n_pend++;
    return 0;
}

int ilp_dag_add_read(ilp_dag *d, int v, int j, remat_err *err)
{
    if (v < 0 || v >= d->nv || j < 0 || j >= d->n || d->v_node[v] >= j)
        return remat_fail(err, -EINVAL, "ilp: node %d cannot read value %d", j, v);
    return pend(d, 1, v, j, err);
}

int ilp_dag_add_edge(ilp_dag *d, int from, int to, remat_err *err)
{
    if (from < 0 || to >= d->n || from >= to)
        return remat_fail(err, -EINVAL, "ilp: edge %d -> %d is not forward in a %d-node DAG", from,
                          to, d->n);
    return pend(d, 2, from, to, err);
}

static int pair_cmp(const void *a, const void *b)
{
    const int *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

int ilp_dag_finish(ilp_dag *d, remat_err *err)
{
    const int n = d->n;
    for (int i = 0; i < n; i++)
        if (!isfinite(d->cost[i]) || d->cost[i] < 0 || !isfinite(d->ws[i]) || d->ws[i] < 0 ||
            !isfinite(d->mem[i]) || d->mem[i] < 0)
            return remat_fail(err, -EINVAL,
                              "ilp: node %d has a negative or non-finite cost, memory or temporary",
                              i);
    /* nodes without values get one of mem[i] */
    int *cnt = calloc((size_t)n + 1, sizeof *cnt);
    if (!cnt)
        return remat_fail(err, -ENOMEM, "out of memory");
    for (int v = 0; v < d->nv; v++)
        cnt[d->v_node[v]]++;
    for (int i = 0; i < n; i++)
        if (!cnt[i] && ilp_dag_add_value(d, i, d->mem[i], err) < 0) {
            free(cnt);
            return -ENOMEM;
        }
    free(cnt);
    const int nv = d->nv;
    for (int v = 0; v < nv; v++)
        if (!isfinite(d->v_mem[v]) || d->v_mem[v] < 0)
            return remat_fail(err, -EINVAL, "ilp: value %d has a negative or non-finite size", v);
    free(d->out_off);
    free(d->out);
    free(d->v_idx);
    d->out_off = calloc((size_t)n + 1, sizeof *d->out_off);
    d->out = malloc((size_t)nv * sizeof *d->out);
    d->v_idx = malloc((size_t)nv * sizeof *d->v_idx);
    d->v_last = realloc(d->v_last, (size_t)nv * sizeof *d->v_last);
    if (!d->out_off || !d->out || !d->v_idx || !d->v_last)
        return remat_fail(err, -ENOMEM, "out of memory");
    for (int v = 0; v < nv; v++)
        d->out_off[d->v_node[v] + 1]++;
    for (int i = 0; i < n; i++)
        d->out_off[i + 1] += d->out_off[i];
    for (int i = 0; i < n; i++)
        d->out_mem[i] = 0;
    {
        int *fill = calloc((size_t)n, sizeof *fill);
        if (!fill)
            return remat_fail(err, -ENOMEM, "out of memory");
        for (int v = 0; v < nv; v++) { /* ascending v: values of a node ascending */
            int i = d->v_node[v];
            d->v_idx[v] = fill[i];
            d->out[d->out_off[i] + fill[i]++] = v;
            d->out_mem[i] += d->v_mem[v];
        }
        free(fill);
    }
    /* reads: (reader, value) pairs, sorted and deduplicated */
    long long np = 0;
    for (int e = 0; e < d->n_pend; e++)
        np += d->pend[3 * e] == 1 ? 1 : d->out_off[d->pend[3 * e + 1] + 1] - d->out_off[d->pend[3 * e + 1]];
    int *pr = malloc((size_t)(np ? np : 1) * 2 * sizeof *pr);
    if (!pr)
        return remat_fail(err, -ENOMEM, "out of memory");
    long long m = 0;
    for (int e = 0; e < d->n_pend; e++) {
        int kind = d->pend[3 * e], a = d->pend[3 * e + 1], b = d->pend[3 * e + 2];
        if (kind == 1) {
            pr[2 * m] = b;
            pr[2 * m + 1] = a;
            m++;
        } else {
            for (int q = d->out_off[a]; q < d->out_off[a + 1]; q++) {
                pr[2 * m] = b;
                pr[2 * m + 1] = d->out[q];
                m++;
            }
        }
    }
    if (m > 0)
        qsort(pr, (size_t)m, 2 * sizeof *pr, pair_cmp);
    long long u = 0;
    for (long long e = 0; e < m; e++) {
        if (u > 0 && pr[2 * (u - 1)] == pr[2 * e] && pr[2 * (u - 1) + 1] == pr[2 * e + 1])
            continue;
        pr[2 * u] = pr[2 * e];
        pr[2 * u + 1] = pr[2 * e + 1];
        u++;
    }
    free(d->read_off);
    free(d->read);
    free(d->user_off);
    free(d->user);
    d->read_off = calloc((size_t)n + 1, sizeof *d->read_off);
    d->read = malloc((size_t)(u ? u : 1) * sizeof *d->read);
    d->user_off = calloc((size_t)nv + 1, sizeof *d->user_off);
    d->user = malloc((size_t)(u ? u : 1) * sizeof *d->user);
    int *fill = calloc((size_t)nv + 1, sizeof *fill);
    if (!d->read_off || !d->read || !d->user_off || !d->user || !fill) {
        free(pr);
        free(fill);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    for (long long e = 0; e < u; e++) {
        int j = pr[2 * e], v = pr[2 * e + 1];
        if (j < d->n_fwd && d->v_node[v] >= d->n_fwd) {
            free(pr);
            free(fill);
            return remat_fail(err, -EINVAL, "ilp: forward node %d reads backward node %d's value",
                              j, d->v_node[v]);
        }
        d->read_off[j + 1]++;
        d->user_off[v + 1]++;
        d->read[e] = v; /* pairs sorted by (reader, value): reads ascending per reader */
    }
    for (int j = 0; j < n; j++)
        d->read_off[j + 1] += d->read_off[j];
    for (int v = 0; v < nv; v++)
        d->user_off[v + 1] += d->user_off[v];
    for (long long e = 0; e < u; e++) { /* readers ascending per value */
        int j = pr[2 * e], v = pr[2 * e + 1];
        d->user[d->user_off[v] + fill[v]++] = j;
    }
    free(pr);
    free(fill);
    free(d->pend);
    d->pend = NULL;
    d->n_pend = d->cap_pend = 0;
    /* last: a backward reader j needs v in stage j; a forward reader j may be
     * recomputed until last[j]. Readers are later nodes: walk nodes downwards. */
    for (int i = n - 1; i >= 0; i--) {
        int li = i;
        for (int q = d->out_off[i]; q < d->out_off[i + 1]; q++) {
            int v = d->out[q], lv = i;
            for (int k = d->user_off[v]; k < d->user_off[v + 1]; k++) {
                int j = d->user[k];
                int lj = j >= d->n_fwd ? j : d->last[j];
                lv = lj > lv ? lj : lv;
            }
            d->v_last[v] = lv;
            li = lv > li ? lv : li;
        }
        d->last[i] = i >= d->n_fwd ? i : li;
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
    const size_t ntz = (size_t)(nt ? nt : 1);
    int *grp = malloc((size_t)no * sizeof *grp);
    tinfo *ti = malloc(ntz * sizeof *ti);
    int *mark = malloc(ntz * sizeof *mark);
    int *lastuse = malloc(ntz * sizeof *lastuse);
    int *vfwd = malloc(ntz * sizeof *vfwd);   /* value of a surviving tensor */
    int *vgrad = malloc(ntz * sizeof *vgrad); /* value of a surviving gradient */
    char(*key)[256] = malloc(2 * sizeof *key);
    int rc = 0;
    if (!grp || !ti || !mark || !lastuse || !vfwd || !vgrad || !key) {
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
        mark[t] = lastuse[t] = vfwd[t] = vgrad[t] = -1;
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
    for (int gi = 0; gi < G && !rc; gi++) {
        const int a = d->op_first[gi], b = d->op_last[gi];
        const int fn = gi, bn = 2 * G - 1 - gi;
        double cf = 0, cb = 0;
        for (int j = a; j <= b; j++) {
            cf += p->ops[j].time_fwd_s;
            cb += p->ops[j].time_bwd_s;
        }
        d->cost[fn] = cf / cost_unit;
        d->cost[bn] = cb / cost_unit;
        /* forward: surviving outputs and extras are values; the rest die inside */
        for (int j = a; j <= b; j++)
            for (int k = 0; k < g->ops[j].n_in; k++)
                lastuse[g->ops[j].in[k]] = j;
        double live = 0, peak = 0, keep = 0;
        for (int j = a; j <= b && !rc; j++) {
            const graph_op *o = &g->ops[j];
            int outs[1 + GRAPH_MAX_EXTRAS], nouts = 0;
            outs[nouts++] = o->out;
            for (int k = 0; k < o->n_extra; k++)
                outs[nouts++] = o->extra[k];
            double alloc = 0;
            for (int k = 0; k < nouts; k++)
                alloc += BYTES(outs[k]);
            double hi = live + alloc + (double)o->ws_fwd / mem_unit;
            peak = hi > peak ? hi : peak;
            live += alloc;
            for (int k = 0; k < nouts && !rc; k++) {
                int t = outs[k];
                if (SURVIVES(t)) {
                    keep += BYTES(t);
                    vfwd[t] = ilp_dag_add_value(d, fn, BYTES(t), err);
                    rc = vfwd[t] < 0 ? vfwd[t] : 0;
                } else if (lastuse[t] < 0) {
                    live -= BYTES(t); /* nothing reads it */
                }
            }
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
        d->ws[fn] = peak - keep > 0 ? peak - keep : 0;
        /* backward: the gradients it allocates (the first consumer in backward order,
         * i.e. the highest consumer index, allocates); those of tensors made in the
         * group die inside it, the others are values */
        live = peak = keep = 0;
        for (int j = b; j >= a && !rc; j--) {
            const graph_op *o = &g->ops[j];
            double alloc = 0;
            for (int k = 0; k < o->n_in && !rc; k++) {
                int x = o->in[k];
                if (!GRAD(x) || ti[x].cmax != j || mark[x] == -2 - j)
                    continue;
                mark[x] = -2 - j;
                alloc += BYTES(x);
                if (g->tensors[x].producer < a) {
                    keep += BYTES(x);
                    vgrad[x] = ilp_dag_add_value(d, bn, BYTES(x), err);
                    rc = vgrad[x] < 0 ? vgrad[x] : 0;
                }
            }
            double hi = live + alloc + (double)o->ws_bwd / mem_unit;
            peak = hi > peak ? hi : peak;
            live += alloc;
            if (GRAD(o->out) && ti[o->out].cmax >= a && ti[o->out].cmax <= b)
                live -= BYTES(o->out);
        }
        d->ws[bn] = peak - keep > 0 ? peak - keep : 0;
    }
    /* reads (all values exist now) */
    for (int j = 0; j < no && !rc; j++) {
        const graph_op *o = &g->ops[j];
        const int gi = grp[j], fn = gi, bn = 2 * G - 1 - gi;
        for (int k = 0; k < o->n_in && !rc; k++) {
            int x = o->in[k];
            int pr = g->tensors[x].producer;
            if (dyn(&g->tensors[x]) && pr >= 0 && grp[pr] != gi)
                rc = ilp_dag_add_read(d, vfwd[x], fn, err);
            /* accumulating into a gradient another group allocated */
            if (!rc && GRAD(x) && ti[x].cmax >= 0 && grp[ti[x].cmax] != gi && vgrad[x] >= 0)
                rc = ilp_dag_add_read(d, vgrad[x], bn, err);
        }
        for (int k = 0; k < o->n_saved && !rc; k++) {
            int x = o->saved[k];
            if (dyn(&g->tensors[x]) && g->tensors[x].producer >= 0)
                rc = ilp_dag_add_read(d, vfwd[x], bn, err);
        }
        /* the gradient of the output (the loss seeds its own) */
        int y = o->out;
        if (!rc && o->kind != OP_LOSS && GRAD(y) && ti[y].cmax >= 0 && grp[ti[y].cmax] != gi &&
            vgrad[y] >= 0)
            rc = ilp_dag_add_read(d, vgrad[y], bn, err);
    }
#undef BYTES
#undef SURVIVES
#undef GRAD
    if (!rc)
        rc = ilp_dag_finish(d, err);
done:
    free(grp);
    free(ti);
    free(mark);
    free(lastuse);
    free(vfwd);
    free(vgrad);
    free(key);
    if (rc)
        ilp_dag_free(d);
    return rc;
}
