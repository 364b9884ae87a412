/* tests/ilp/exhaustive.h — an exhaustive search over the Checkmate model, written
 * independently of solver/ilp_model.c, to check the ILP's optimum on small DAGs.
 *
 * Dynamic programming over (stage t, step k, the set of forward values present),
 * a bitmask; backward values cannot be recomputed, so their presence follows from
 * t (held from their own stage to their last reader). At step k of stage t the
 * search either skips node k or computes it (node t must be computed; a forward
 * node only while it can still be of use; its inputs must be present; none of its
 * values may be present already, as recomputing regenerates them), checking
 * Checkmate's memory: everything present plus node k's values plus its temporary
 * within the budget. After a computation each value node k read or made may be
 * dropped or kept; at the end of a stage any present value may be dropped (one
 * that cannot be read later must be). Dropping only right after a read (or at the
 * stage's end) is exactly Checkmate's rule that a value is freed after its last
 * reader in the stage unless held into the next; keeping longer is allowed and
 * never better. The keep-or-drop choices over a set of bits are one superset-min
 * transform of the cost table, so the search is exact at a cost of about
 * (steps) x 2^values x (bits touched): fine to ~20 forward values. */
#ifndef REMAT_TESTS_ILP_EXHAUSTIVE_H
#define REMAT_TESTS_ILP_EXHAUSTIVE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "solver/ilp_internal.h"

/* cur[A] = min over P >= A with P \ A within `bits` of cur[P] */
static void ex_drop(double *cur, size_t NS, uint32_t bits)
{
    for (int b = 0; b < 32; b++) {
        uint32_t m = (uint32_t)1 << b;
        if (!(bits & m))
            continue;
        for (size_t s = 0; s < NS; s++)
            if (!(s & m) && cur[s | m] < cur[s])
                cur[s] = cur[s | m];
    }
}

/* The least total compute within budget B (< 0: none), or INFINITY; NAN when the
 * DAG is too large for this search. */
static double exhaustive_optimum(const ilp_dag *d, double B)
{
    const int n = d->n, nf = d->n_fwd;
    int *bit = malloc((size_t)d->nv * sizeof *bit);
    int nb = 0;
    for (int v = 0; v < d->nv; v++)
        bit[v] = d->v_node[v] < nf ? nb++ : -1;
    if (nb > 22) {
        free(bit);
        return NAN;
    }
    const size_t NS = (size_t)1 << nb;
    double *cur = malloc(NS * sizeof *cur), *nxt = malloc(NS * sizeof *nxt);
    double *ran = malloc(NS * sizeof *ran);
    double *mass = malloc(NS * sizeof *mass); /* memory of a present set */
    uint32_t *vals = calloc((size_t)n, sizeof *vals);   /* forward values of node k */
    uint32_t *rd = calloc((size_t)n, sizeof *rd);       /* forward values node k reads */
    mass[0] = 0;
    for (size_t s = 1; s < NS; s++) {
        int low = __builtin_ctzll((unsigned long long)s);
        int v = 0;
        while (bit[v] != low)
            v++;
        mass[s] = mass[s & (s - 1)] + d->v_mem[v];
    }
    for (int v = 0; v < d->nv; v++)
        if (bit[v] >= 0)
            vals[d->v_node[v]] |= (uint32_t)1 << bit[v];
    for (int k = 0; k < n; k++)
        for (int q = d->read_off[k]; q < d->read_off[k + 1]; q++)
            if (bit[d->read[q]] >= 0)
                rd[k] |= (uint32_t)1 << bit[d->read[q]];
    for (size_t s = 0; s < NS; s++)
        cur[s] = INFINITY;
    cur[0] = 0;
    const double tol = 1e-9 * (1 + fabs(B));
    for (int t = 0; t < n; t++) {
        double heldb = 0; /* backward values held through stage t */
        for (int v = 0; v < d->nv; v++)
            if (bit[v] < 0 && d->v_node[v] < t && d->v_last[v] >= t)
                heldb += d->v_mem[v];
        for (int k = 0; k <= t; k++) {
            bool may = k == t || (k < nf && d->last[k] >= t);
            if (!may)
                continue;
            /* skip node k (never node t): nothing changes */
            for (size_t s = 0; s < NS; s++)
                nxt[s] = k == t ? INFINITY : cur[s];
            /* compute node k, then keep or drop each value it read or made */
            for (size_t s = 0; s < NS; s++)
                ran[s] = INFINITY;
            for (size_t s = 0; s < NS; s++) {
                if (cur[s] == INFINITY || (s & rd[k]) != rd[k] || (s & vals[k]))
                    continue;
                double U = mass[s] + heldb + d->out_mem[k];
                if (B >= 0 && U + d->ws[k] > B + tol)
                    continue;
                size_t s2 = s | vals[k];
                double c = cur[s] + d->cost[k];
                if (c < ran[s2])
                    ran[s2] = c;
            }
            ex_drop(ran, NS, rd[k] | vals[k]);
            for (size_t s = 0; s < NS; s++)
                if (ran[s] < nxt[s])
                    nxt[s] = ran[s];
            double *tmp = cur;
            cur = nxt;
            nxt = tmp;
        }
        /* end of stage: drop anything; what cannot be read later must go */
        uint32_t keepable = 0;
        for (int v = 0; v < d->nv; v++)
            if (bit[v] >= 0 && t + 1 < n && d->v_node[v] <= t && d->v_last[v] >= t + 1)
                keepable |= (uint32_t)1 << bit[v];
        ex_drop(cur, NS, (uint32_t)(NS - 1));
        for (size_t s = 0; s < NS; s++)
            if (s & ~(size_t)keepable)
                cur[s] = INFINITY;
    }
    double r = cur[0];
    free(cur);
    free(nxt);
    free(ran);
    free(mass);
    free(vals);
    free(rd);
    free(bit);
    return r;
}

#endif
