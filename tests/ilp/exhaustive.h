/* tests/ilp/exhaustive.h — an exhaustive search over the Checkmate model, written
 * independently of solver/ilp_model.c, to check the ILP's optimum on small DAGs.
 *
 * Stage by stage dynamic programming over which forward values are held entering
 * each stage (a bitmask; backward values cannot be recomputed and are held from
 * their stage to their last reader). From a held set S and the set A held into the
 * next stage, the stage computes the least set of nodes that makes A and node t
 * available (every other choice only adds compute and memory), and its memory
 * follows Checkmate's accounting: start with everything held, add each computed
 * node's values, check U + W <= budget at each computation, free a value right
 * after its last reader in the stage (or after its node, when nothing reads it)
 * unless it is held into the next stage. Every (S, A) pair is tried, so the
 * minimum over all R/S of the formulation is found. Cost: sum over stages of
 * 2^|held| x 2^|candidates| evaluations: fine to ~12 forward values. */
#ifndef REMAT_TESTS_ILP_EXHAUSTIVE_H
#define REMAT_TESTS_ILP_EXHAUSTIVE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "solver/ilp_internal.h"

typedef struct ex_ctx {
    const ilp_dag *d;
    int *bit;  /* per value: its bit among forward values, -1 for backward values */
    double B;
} ex_ctx;

static bool ex_reads(const ilp_dag *d, int j, int v)
{
    for (int q = d->read_off[j]; q < d->read_off[j + 1]; q++)
        if (d->read[q] == v)
            return true;
    return false;
}

/* Cost of stage t from held set S to held set A, or -1 when it breaks the budget. */
static double ex_stage(const ex_ctx *x, int t, uint32_t S, uint32_t A)
{
    const ilp_dag *d = x->d;
    const int n = d->n;
    uint64_t need = (uint64_t)1 << t, R = 0;
    for (int v = 0; v < d->nv; v++)
        if (x->bit[v] >= 0 && (A >> x->bit[v] & 1) && !(S >> x->bit[v] & 1))
            need |= (uint64_t)1 << d->v_node[v];
    for (int k = t; k >= 0; k--) {
        if (!(need >> k & 1))
            continue;
        R |= (uint64_t)1 << k;
        for (int q = d->read_off[k]; q < d->read_off[k + 1]; q++) {
            int v = d->read[q];
            if (x->bit[v] >= 0 && !(S >> x->bit[v] & 1))
                need |= (uint64_t)1 << d->v_node[v];
        }
    }
    double U = 0, cost = 0;
    for (int v = 0; v < d->nv; v++) {
        int i = d->v_node[v];
        if (x->bit[v] >= 0 ? (S >> x->bit[v] & 1) : (i < t && d->v_last[v] >= t))
            U += d->v_mem[v];
    }
    for (int k = 0; k <= t; k++) {
        if (!(R >> k & 1))
            continue;
        cost += d->cost[k];
        U += d->out_mem[k];
        if (x->B >= 0 && U + d->ws[k] > x->B + 1e-9 * (1 + x->B))
            return -1;
        for (int v = 0; v < d->nv; v++) {
            if (d->v_node[v] != k && !ex_reads(d, k, v))
                continue;
            bool kept = x->bit[v] >= 0 ? (A >> x->bit[v] & 1) : (t + 1 < n && d->v_last[v] >= t + 1);
            if (kept)
                continue;
            bool later = false;
            for (int u = d->user_off[v]; u < d->user_off[v + 1] && !later; u++) {
                int j = d->user[u];
                later = j > k && j <= t && (R >> j & 1);
            }
            if (!later)
                U -= d->v_mem[v];
        }
    }
    return cost;
}

/* The least total compute within budget B (< 0: none), or INFINITY; NAN when the
 * DAG is too large for this search. */
static double exhaustive_optimum(const ilp_dag *d, double B)
{
    const int n = d->n;
    int *bit = malloc((size_t)d->nv * sizeof *bit);
    int nb = 0;
    for (int v = 0; v < d->nv; v++)
        bit[v] = d->v_node[v] < d->n_fwd ? nb++ : -1;
    if (nb > 20 || n > 63) {
        free(bit);
        return NAN;
    }
    ex_ctx x = {d, bit, B};
    const size_t NS = (size_t)1 << nb;
    double *cur = malloc(NS * sizeof *cur), *nxt = malloc(NS * sizeof *nxt);
    double *mass = malloc(NS * sizeof *mass); /* memory of a held set */
    int *vof = malloc((size_t)(nb ? nb : 1) * sizeof *vof);
    for (int v = 0; v < d->nv; v++)
        if (bit[v] >= 0)
            vof[bit[v]] = v;
    mass[0] = 0;
    for (size_t s = 1; s < NS; s++) {
        int low = __builtin_ctzll((unsigned long long)s);
        mass[s] = mass[s & (s - 1)] + d->v_mem[vof[low]];
    }
    for (size_t s = 0; s < NS; s++)
        cur[s] = INFINITY;
    cur[0] = 0;
    for (int t = 0; t < n; t++) {
        uint32_t cand = 0;
        for (int v = 0; v < d->nv; v++)
            if (bit[v] >= 0 && d->v_node[v] <= t && t + 1 < n && d->v_last[v] >= t + 1)
                cand |= (uint32_t)1 << bit[v];
        for (size_t s = 0; s < NS; s++)
            nxt[s] = INFINITY;
        for (size_t s = 0; s < NS; s++) {
            if (cur[s] == INFINITY)
                continue;
            uint32_t A = cand;
            for (;;) {
                /* what is held into the next stage is live at the stage's end */
                double c = B >= 0 && mass[A] > B + 1e-9 * (1 + B) ? -1
                                                                   : ex_stage(&x, t, (uint32_t)s, A);
                if (c >= 0 && cur[s] + c < nxt[A])
                    nxt[A] = cur[s] + c;
                if (A == 0)
                    break;
                A = (A - 1) & cand;
            }
        }
        double *tmp = cur;
        cur = nxt;
        nxt = tmp;
    }
    double r = cur[0];
    free(cur);
    free(nxt);
    free(mass);
    free(vof);
    free(bit);
    return r;
}

#endif
