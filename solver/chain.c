/* solver/chain.c — the chain view: the graph cut into stages at every point where a
 * single activation crosses (no other activation or extra produced before the cut
 * is read by a forward after it), with Rotor's per-stage quantities. The final op
 * (the loss) always joins the last stage. O(ops + tensors). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "solver/solver_internal.h"

/* Length of the longest common prefix of a and b that ends at a component
 * boundary ('.' or end of both). */
static size_t common_components(const char *a, const char *b)
{
    size_t i = 0, keep = 0;
    for (;; i++) {
        char x = a[i], y = b[i];
        bool xend = x == 0 || x == '.', yend = y == 0 || y == '.';
        if (xend && yend)
            keep = i;
        if (x != y || x == 0)
            break;
    }
    return keep;
}

char *chain_common_module(const graph *g, int first_op, int last_op)
{
    const char *m0 = g->ops[first_op].module;
    size_t len = strlen(m0);
    for (int i = first_op + 1; i <= last_op && len > 0; i++) {
        size_t c = common_components(m0, g->ops[i].module);
        if (c < len)
            len = c;
    }
    if (len > 0) {
        char *s = malloc(len + 1);
        if (s) {
            memcpy(s, m0, len);
            s[len] = 0;
        }
        return s;
    }
    const char *m1 = g->ops[last_op].module;
    size_t n0 = strlen(m0), n1 = strlen(m1);
    char *s = malloc(n0 + n1 + 3);
    if (s) {
        memcpy(s, m0, n0);
        memcpy(s + n0, "..", 2);
        memcpy(s + n0 + 2, m1, n1 + 1);
    }
    return s;
}

void chain_unit_starts(const chain *c, unsigned char *u)
{
    for (int s = 0; s < c->n; s++)
        u[s] = s == 0 || strcmp(c->st[s].module, c->st[s - 1].module) != 0;
}

void chain_free(chain *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        free(c->st[i].module);
    free(c->st);
    memset(c, 0, sizeof *c);
}

int chain_build(const profile *p, chain *c, remat_err *err)
{
    memset(c, 0, sizeof *c);
    const graph *g = &p->g;
    const int n = g->n_ops, nt = g->n_tensors;
    if (n <= 0)
        return remat_fail(err, -EINVAL, "graph has no ops");
    int *lastc = malloc((size_t)nt * sizeof *lastc);
    int *cnt = calloc((size_t)n + 2, sizeof *cnt);
    int64_t *sum = calloc((size_t)n + 2, sizeof *sum);
    int *stamp = malloc((size_t)nt * sizeof *stamp);
    c->st = calloc((size_t)n, sizeof *c->st);
    if (!lastc || !cnt || !sum || !stamp || !c->st) {
        free(lastc);
        free(cnt);
        free(sum);
        free(stamp);
        free(c->st);
        c->st = NULL;
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    for (int t = 0; t < nt; t++) {
        lastc[t] = -1;
        stamp[t] = -1;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->ops[i].n_in; k++)
            lastc[g->ops[i].in[k]] = i;
    for (int t = 0; t < nt; t++) {
        const graph_tensor *tt = &g->tensors[t];
        if ((tt->role != ROLE_ACT && tt->role != ROLE_EXTRA) || lastc[t] <= tt->producer)
            continue;
        /* crosses every cut k with producer < k <= last consumer */
        cnt[tt->producer + 1]++;
        cnt[lastc[t] + 1]--;
        sum[tt->producer + 1] += t;
        sum[lastc[t] + 1] -= t;
    }
    int rc = 0, first = 0, in_tensor = -1;
    int run = 0;
    int64_t rsum = 0;
    for (int k = 1; k <= n && !rc; k++) {
        run += cnt[k];
        rsum += sum[k];
        bool cut = false;
        int t = -1;
        if (k == n) {
            cut = true;
            t = g->ops[n - 1].out;
        } else if (k < n - 1 && run == 1 && g->tensors[rsum].role == ROLE_ACT) {
            cut = true;
            t = (int)rsum;
        }
        if (!cut)
            continue;
        chain_stage *s = &c->st[c->n];
        s->first_op = first;
        s->last_op = k - 1;
        s->in_tensor = in_tensor;
        s->out_tensor = t;
        s->x = in_tensor >= 0 ? g->tensors[in_tensor].bytes : 0;
        for (int i = first; i < k; i++) {
            const graph_op *o = &g->ops[i];
            for (int j = 0; j < o->n_saved; j++) {
                int u = o->saved[j];
                const graph_tensor *tu = &g->tensors[u];
                if ((tu->role == ROLE_ACT || tu->role == ROLE_EXTRA) && stamp[u] != c->n) {
                    stamp[u] = c->n;
                    s->xbar += tu->bytes;
                }
            }
            if (o->ws_fwd > s->tmp_fwd)
                s->tmp_fwd = o->ws_fwd;
            if (o->ws_bwd > s->tmp_bwd)
                s->tmp_bwd = o->ws_bwd;
            s->uf += p->ops[i].time_fwd_s;
            s->ub += p->ops[i].time_bwd_s;
        }
        s->module = chain_common_module(g, first, k - 1);
        if (!s->module)
            rc = -ENOMEM;
        c->n++;
        first = k;
        in_tensor = t;
    }
    free(lastc);
    free(cnt);
    free(sum);
    free(stamp);
    if (rc) {
        chain_free(c);
        return remat_fail(err, rc, "out of memory");
    }
    return 0;
}

/* Length of the block prefix of a module path: up to and including its first
 * all-digit component; 0 when it has none. */
static size_t block_prefix(const char *m)
{
    const char *p = m;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        bool digits = len > 0;
        for (size_t i = 0; i < len && digits; i++)
            digits = p[i] >= '0' && p[i] <= '9';
        if (digits)
            return (size_t)(p - m) + len;
        if (!dot)
            break;
        p = dot + 1;
    }
    return 0;
}

bool chain_stage_in_block(const chain_stage *s) { return block_prefix(s->module) > 0; }
