/* tests/ilp/exhaustive.h — an exhaustive search over the Checkmate model, written
 * independently of solver/ilp_model.c, to check the ILP's optimum on small DAGs.
 *
 * Stage by stage dynamic programming over which forward results are held entering
 * each stage (a bitmask; backward results cannot be recomputed and are held from
 * their stage to their last user). From a held set S and the set A held into the
 * next stage, the stage computes the least set that makes A and node t available
 * (every other choice only adds compute and memory), and its memory follows
 * Checkmate's accounting: start with everything held, add each computed result,
 * check U + W <= budget at each computation, free a dependency (or the node) right
 * after its last user in the stage unless it is held into the next stage. Every
 * (S, A) pair is tried, so the minimum over all R/S of the formulation is found.
 * Cost: sum over stages of 2^|held| x 2^|candidates| evaluations: fine to ~12
 * forward nodes. */
#ifndef REMAT_TESTS_ILP_EXHAUSTIVE_H
#define REMAT_TESTS_ILP_EXHAUSTIVE_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "solver/ilp_internal.h"

/* Cost of stage t from held set S to held set A, or -1 when it breaks the budget. */
static double ex_stage(const ilp_dag *d, int t, uint32_t S, uint32_t A, double B)
{
    const int n = d->n, nf = d->n_fwd;
    uint64_t need = (uint64_t)1 << t, R = 0;
    need |= (uint64_t)(A & ~S);
    for (int k = t; k >= 0; k--) {
        if (!(need >> k & 1))
            continue;
        R |= (uint64_t)1 << k;
        for (int q = d->dep_off[k]; q < d->dep_off[k + 1]; q++) {
            int i = d->dep[q];
            if (i < nf && !(S >> i & 1))
                need |= (uint64_t)1 << i;
        }
    }
    double U = 0, cost = 0;
    for (int i = 0; i < nf && i < t; i++)
        if (S >> i & 1)
            U += d->mem[i];
    for (int b = nf; b < t; b++)
        if (d->last[b] >= t)
            U += d->mem[b];
    for (int k = 0; k <= t; k++) {
        if (!(R >> k & 1))
            continue;
        cost += d->cost[k];
        U += d->mem[k];
        if (B >= 0 && U + d->ws[k] > B + 1e-9 * (1 + B))
            return -1;
        for (int q = d->dep_off[k]; q <= d->dep_off[k + 1]; q++) {
            int i = q < d->dep_off[k + 1] ? d->dep[q] : k;
            bool kept = i < nf ? (A >> i & 1) : (t + 1 < n && d->last[i] >= t + 1);
            if (kept)
                continue;
            bool later = false;
            for (int u = d->use_off[i]; u < d->use_off[i + 1] && !later; u++) {
                int j = d->use[u];
                later = j > k && j <= t && (R >> j & 1);
            }
            if (!later)
                U -= d->mem[i];
        }
    }
    return cost;
}

/* The least total compute within budget B (< 0: none), or INFINITY. */
static double exhaustive_optimum(const ilp_dag *d, double B)
{
    const int n = d->n, nf = d->n_fwd;
    if (nf > 20 || n > 63)
        return NAN;
    const size_t NS = (size_t)1 << nf;
    double *cur = malloc(NS * sizeof *cur), *nxt = malloc(NS * sizeof *nxt);
    double *mass = malloc(NS * sizeof *mass); /* memory of a held set */
    if (!cur || !nxt || !mass) {
        free(cur);
        free(nxt);
        free(mass);
        return NAN;
    }
    mass[0] = 0;
    for (size_t s = 1; s < NS; s++) {
        int low = __builtin_ctzll((unsigned long long)s);
        mass[s] = mass[s & (s - 1)] + d->mem[low];
    }
    for (size_t s = 0; s < NS; s++)
        cur[s] = INFINITY;
    cur[0] = 0;
    for (int t = 0; t < n; t++) {
        uint32_t cand = 0;
        for (int i = 0; i < nf && i <= t; i++)
            if (t + 1 < n && d->last[i] >= t + 1)
                cand |= (uint32_t)1 << i;
        for (size_t s = 0; s < NS; s++)
            nxt[s] = INFINITY;
        for (size_t s = 0; s < NS; s++) {
            if (cur[s] == INFINITY)
                continue;
            uint32_t A = cand;
            for (;;) {
                /* what is held into the next stage is live at the stage's end */
                double c = B >= 0 && mass[A] > B + 1e-9 * (1 + B) ? -1
                                                                   : ex_stage(d, t, (uint32_t)s, A, B);
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
    return r;
}

#endif
