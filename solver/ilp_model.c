/* solver/ilp_model.c — the Checkmate formulation (Jain et al., "Checkmate: Breaking
 * the Memory Wall with Optimal Tensor Rematerialization", MLSys 2020, section 4)
 * on an ilp_dag with frontier-advancing stages, built and solved with GLPK; the
 * same memory accounting in plain C (ilp_eval) to check MIP starts and roundings;
 * the LP relaxation with the paper's two-phase rounding (section 5).
 *
 * Variables (0-based stage t, nodes i, j, k, value v of node i = owner(v), its
 * c-th value; "support" = where the frontier-advancing structure and last[] allow
 * a non-zero value; everything else is absent, i.e. 0):
 *   R_t_i       binary, node i computed in stage t. R_t_t = 1 (fixed): stage t
 *               computes node t for the first time. Backward nodes only there.
 *   S_t_i_c     binary, value v held entering stage t (i < t <= v_last[v]); fixed 1
 *               for backward values until their last reader (never recomputed).
 *   U_t_k       continuous, memory after computing k in stage t (eq. 6-7).
 *   FREE_t_i_c_k binary, v (read by k, or a value of k) freed right after k.
 * Objective (eq. 1): minimise sum_t sum_i C_i R_t_i.
 * Constraints (Checkmate's, with S and FREE per value; one value per node gives
 * the paper's exactly):
 *   dep_t_i_c_j   R_t_j <= R_t_i + S_t_i_c for each value v of i that j reads (eq. 2)
 *   keep_t_i_c    S_t+1_i_c <= S_t_i_c + R_t_i                        (eq. 3)
 *   mem_t_k       U_t_k1 = sum_v M_v S_t_v + Mout_k1 R_t_k1 for the first computable
 *                 k1 of stage t; U_t_k = U_t_kp + Mout_k R_t_k
 *                 - sum_{v read by kp or of kp} M_v FREE_t_v_kp      (eq. 6-7)
 *   budget_t_k    U_t_k + W_k R_t_k <= budget (U's upper bound when W_k = 0) (eq. 8)
 *   freelo_t_i_c_k  1 - FREE <= hazards, hazards = (1 - R_t_k) + S_t+1_v
 *                 + sum_{readers j > k of v} R_t_j                    (eq. 9)
 * and, tighter than the paper (same integer points, a stronger LP relaxation):
 *   freer/frees/freeu  FREE <= R_t_k, FREE <= 1 - S_t+1_v, FREE <= 1 - R_t_j: eq. 10
 *                 (hazards <= kappa (1 - FREE)) disaggregated
 *   freeonce_t_i_c  sum_k FREE_t_v_k <= S_t_v + R_t_i: freed once, only if present
 *   live_t_t      the memory at stage t's last step without FREE: node t, what it
 *                 reads and every value held into stage t+1
 * and dominance rows that cut off only wasteful solutions (the optimum is kept):
 *   single_t_i_c  R_t_i + S_t_i_c <= 1: recomputing i regenerates v
 *   user_t_i      R_t_i <= sum_{readers j <= t} R_t_j + sum_c S_t+1_i_c: i is
 *                 recomputed only when read in the stage or held
 *   hold_t_i_c    S_t_v <= S_t+1_v + sum_{readers j <= t} R_t_j: held only when read
 *                 in the stage or held further
 * FREE columns forced to 0 (R_t_t reads v after k, or v is a backward value held
 * into t+1) are left out, and stages whose memory cannot reach the budget even with
 * everything present get no U, FREE or memory rows. Static memory is subtracted
 * from the budget by the caller (eq. 6's M_input). */
#include <errno.h>
#include <float.h>
#include <glpk.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "solver/ilp_internal.h"

/* ---------------------------------------------------------------- support */

static inline bool r_ex(const ilp_dag *d, int t, int i)
{
    return i == t || (i < t && i < d->n_fwd && t <= d->last[i]);
}

static inline bool s_ex(const ilp_dag *d, int t, int v)
{
    return t < d->n && d->v_node[v] < t && t <= d->v_last[v];
}

static inline bool s_fix(const ilp_dag *d, int t, int v)
{
    return s_ex(d, t, v) && d->v_node[v] >= d->n_fwd;
}

/* Does node j read value v? (reads are ascending) */
static bool reads(const ilp_dag *d, int j, int v)
{
    int lo = d->read_off[j], hi = d->read_off[j + 1];
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (d->read[mid] == v)
            return true;
        if (d->read[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* The q-th value freed after k: the values k reads, then k's own. */
static inline int free_val(const ilp_dag *d, int k, int q)
{
    int nr = d->read_off[k + 1] - d->read_off[k];
    return q < nr ? d->read[d->read_off[k] + q] : d->out[d->out_off[k] + (q - nr)];
}

static inline int free_count(const ilp_dag *d, int k)
{
    return d->read_off[k + 1] - d->read_off[k] + d->out_off[k + 1] - d->out_off[k];
}

/* v is certainly not freed after k in stage t: R_t_t = 1 reads it later, or it is
 * a backward value held into t+1. */
static bool free_forced0(const ilp_dag *d, int t, int v, int k)
{
    return s_fix(d, t + 1, v) || (k < t && reads(d, t, v));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- solutions */

int ilp_sol_alloc(ilp_sol *s, const ilp_dag *d)
{
    s->n = d->n;
    s->nv = d->nv;
    s->R = calloc((size_t)d->n * (size_t)d->n, 1);
    s->S = calloc((size_t)d->n * (size_t)(d->nv ? d->nv : 1), 1);
    if (!s->R || !s->S) {
        ilp_sol_free(s);
        return -ENOMEM;
    }
    return 0;
}

void ilp_sol_free(ilp_sol *s)
{
    if (!s)
        return;
    free(s->R);
    free(s->S);
    memset(s, 0, sizeof *s);
}

void ilp_result_free(ilp_result *r)
{
    if (r)
        ilp_sol_free(&r->sol);
}

#define RR(s, t, i) ((s)->R[(size_t)(t) * (size_t)(s)->n + (size_t)(i)])
#define SS(s, t, v) ((s)->S[(size_t)(t) * (size_t)(s)->nv + (size_t)(v)])

/* Is v freed right after k in stage t (Checkmate's FREE given R and S)? */
static bool freed_after(const ilp_dag *d, const ilp_sol *s, int t, int v, int k)
{
    if (!RR(s, t, k))
        return false;
    if (t + 1 < d->n && SS(s, t + 1, v))
        return false;
    for (int u = d->user_off[v]; u < d->user_off[v + 1]; u++) {
        int j = d->user[u];
        if (j > k && j <= t && RR(s, t, j))
            return false;
    }
    return true;
}

/* U_t_k for every k <= t of stage t into u[0..t] (the chain of eq. 6-7). */
static void stage_u(const ilp_dag *d, const ilp_sol *s, int t, double *u, double *peak)
{
    double U = 0;
    for (int v = 0; v < d->nv; v++)
        if (SS(s, t, v))
            U += d->v_mem[v];
    for (int k = 0; k <= t; k++) {
        if (RR(s, t, k)) {
            U += d->out_mem[k];
            if (peak && U + d->ws[k] > *peak)
                *peak = U + d->ws[k];
        }
        u[k] = U;
        if (!RR(s, t, k))
            continue;
        for (int q = 0; q < free_count(d, k); q++) {
            int v = free_val(d, k, q);
            if (freed_after(d, s, t, v, k))
                U -= d->v_mem[v];
        }
    }
}

int ilp_eval(const ilp_dag *d, const ilp_sol *s, double *cost, double *peak, remat_err *err)
{
    const int n = d->n;
    if (s->n != n || s->nv != d->nv)
        return remat_fail(err, -EINVAL, "ilp: solution of another DAG");
    for (int t = 0; t < n; t++) {
        for (int i = 0; i < n; i++) {
            bool r = RR(s, t, i);
            if (r != (i == t) && (i == t || !r_ex(d, t, i)))
                return remat_fail(err, -EINVAL, "ilp: R[%d,%d] = %d breaks the stage structure",
                                  t, i, r);
        }
        for (int v = 0; v < d->nv; v++) {
            bool sv = SS(s, t, v);
            if (sv ? !s_ex(d, t, v) : s_fix(d, t, v))
                return remat_fail(err, -EINVAL,
                                  "ilp: S[%d, value %d of node %d] = %d breaks the stage structure",
                                  t, d->v_idx[v], d->v_node[v], sv);
        }
    }
    for (int t = 0; t < n; t++)
        for (int j = 0; j <= t; j++) {
            if (!RR(s, t, j))
                continue;
            for (int q = d->read_off[j]; q < d->read_off[j + 1]; q++) {
                int v = d->read[q];
                if (!RR(s, t, d->v_node[v]) && !SS(s, t, v))
                    return remat_fail(err, -EINVAL,
                                      "ilp: stage %d computes %d without its input from node %d",
                                      t, j, d->v_node[v]);
            }
        }
    for (int t = 0; t + 1 < n; t++)
        for (int v = 0; v < d->nv; v++)
            if (SS(s, t + 1, v) && !SS(s, t, v) && !RR(s, t, d->v_node[v]))
                return remat_fail(err, -EINVAL,
                                  "ilp: a value of node %d held into stage %d but not present in %d",
                                  d->v_node[v], t + 1, t);
    double c = 0, pk = 0;
    double *u = malloc((size_t)n * sizeof *u);
    if (!u)
        return remat_fail(err, -ENOMEM, "out of memory");
    for (int t = 0; t < n; t++) {
        for (int i = 0; i <= t; i++)
            if (RR(s, t, i))
                c += d->cost[i];
        stage_u(d, s, t, u, &pk);
    }
    free(u);
    if (cost)
        *cost = c;
    if (peak)
        *peak = pk;
    return 0;
}

void ilp_min_s(const ilp_dag *d, ilp_sol *s)
{
    const int n = d->n;
    memset(s->S, 0, (size_t)n * (size_t)(d->nv ? d->nv : 1));
    for (int v = 0; v < d->nv; v++) {
        const int i = d->v_node[v];
        bool next = false; /* S[t+1,v] */
        for (int t = n - 1; t > i; t--) {
            bool need = false;
            for (int u = d->user_off[v]; u < d->user_off[v + 1] && !need; u++) {
                int j = d->user[u];
                need = j <= t && RR(s, t, j);
            }
            bool held = !RR(s, t, i) && (need || next);
            SS(s, t, v) = held;
            next = held;
        }
    }
}

void ilp_prune(const ilp_dag *d, ilp_sol *s)
{
    const int n = d->n;
    ilp_min_s(d, s);
    /* a recomputation whose values nothing in its stage reads and nothing holds is
     * waste: drop it (latest first, so chains of waste go), re-derive S, repeat */
    for (bool changed = true; changed;) {
        changed = false;
        for (int t = 0; t < n; t++)
            for (int k = t - 1; k >= 0; k--) {
                if (!RR(s, t, k))
                    continue;
                bool used = false;
                for (int q = d->out_off[k]; q < d->out_off[k + 1] && !used; q++) {
                    int v = d->out[q];
                    used = t + 1 < n && SS(s, t + 1, v);
                    for (int u = d->user_off[v]; u < d->user_off[v + 1] && !used; u++)
                        used = d->user[u] <= t && RR(s, t, d->user[u]);
                }
                if (!used) {
                    RR(s, t, k) = 0;
                    changed = true;
                }
            }
        ilp_min_s(d, s);
    }
}

void ilp_r_from_s(const ilp_dag *d, ilp_sol *s)
{
    const int n = d->n;
    for (int t = 0; t < n; t++) /* sanitise S to the support */
        for (int v = 0; v < d->nv; v++) {
            unsigned char *x = &SS(s, t, v);
            *x = s_fix(d, t, v) ? 1 : (s_ex(d, t, v) ? *x : 0);
        }
    memset(s->R, 0, (size_t)n * (size_t)n);
    for (int t = 0; t < n; t++) {
        RR(s, t, t) = 1;
        if (t + 1 < n)
            for (int v = 0; v < d->nv; v++) {
                int i = d->v_node[v];
                if (i < t && SS(s, t + 1, v) && !SS(s, t, v) && r_ex(d, t, i))
                    RR(s, t, i) = 1;
            }
        for (int k = t; k >= 0; k--) {
            if (!RR(s, t, k))
                continue;
            for (int q = d->read_off[k]; q < d->read_off[k + 1]; q++) {
                int v = d->read[q], i = d->v_node[v];
                if (!SS(s, t, v) && r_ex(d, t, i))
                    RR(s, t, i) = 1;
            }
        }
    }
    ilp_prune(d, s);
}

/* ---------------------------------------------------------------- the model */

enum { COL_R = 0, COL_S, COL_U, COL_FREE };

typedef struct model {
    const ilp_dag *d;
    bool count_only;       /* pass 1: count; pass 2: build */
    bool has_budget;
    double budget;
    unsigned char *memt;   /* per stage: 1 when its memory can reach the budget */
    glp_prob *P;
    int *cR, *cU;          /* n*n column numbers, 0 = absent */
    int *cS;               /* n*nv */
    long long ncol, nrow, nnz;
    unsigned char *ckind;  /* per column (1-based) */
    unsigned char *rtype;  /* per row (1-based): type and bounds as built */
    double *rlb, *rub;
    int *ct, *ci, *ck;     /* per column: stage, node or value, k */
    int *ind;              /* row scratch, 1-based */
    double *val;
    int len;
    char name[80];
} model;

static void model_free(model *m)
{
    free(m->cR);
    free(m->cS);
    free(m->cU);
    free(m->memt);
    free(m->ckind);
    free(m->rtype);
    free(m->rlb);
    free(m->rub);
    free(m->ct);
    free(m->ci);
    free(m->ck);
    free(m->ind);
    free(m->val);
    if (m->P)
        glp_delete_prob(m->P);
    m->cR = m->cS = m->cU = m->ct = m->ci = m->ck = m->ind = NULL;
    m->memt = m->ckind = m->rtype = NULL;
    m->rlb = m->rub = m->val = NULL;
    m->P = NULL;
}

/* column number (build) or 1 when present (count), 0 when absent */
static int col_r(const model *m, int t, int i)
{
    if (!r_ex(m->d, t, i))
        return 0;
    return m->count_only ? 1 : m->cR[(size_t)t * m->d->n + i];
}

static int col_s(const model *m, int t, int v)
{
    if (t >= m->d->n || !s_ex(m->d, t, v))
        return 0;
    return m->count_only ? 1 : m->cS[(size_t)t * m->d->nv + v];
}

static int col_u(const model *m, int t, int k)
{
    if (!m->memt[t] || !r_ex(m->d, t, k))
        return 0;
    return m->count_only ? 1 : m->cU[(size_t)t * m->d->n + k];
}

static void vname(const model *m, char *buf, size_t n, const char *what, int t, int v)
{
    snprintf(buf, n, "%s_%d_%d_%d", what, t, m->d->v_node[v], m->d->v_idx[v]);
}

static int add_col(model *m, int kind, int t, int i, int k)
{
    m->ncol++;
    if (m->count_only)
        return 1;
    const ilp_dag *d = m->d;
    int j = (int)m->ncol;
    glp_add_cols(m->P, 1);
    m->ckind[j] = (unsigned char)kind;
    m->ct[j] = t;
    m->ci[j] = i;
    m->ck[j] = k;
    switch (kind) {
    case COL_R:
        snprintf(m->name, sizeof m->name, "R_%d_%d", t, i);
        glp_set_col_kind(m->P, j, GLP_BV);
        if (i == t)
            glp_set_col_bnds(m->P, j, GLP_FX, 1.0, 1.0);
        glp_set_obj_coef(m->P, j, d->cost[i]);
        break;
    case COL_S:
        vname(m, m->name, sizeof m->name, "S", t, i);
        glp_set_col_kind(m->P, j, GLP_BV);
        if (s_fix(d, t, i))
            glp_set_col_bnds(m->P, j, GLP_FX, 1.0, 1.0);
        break;
    case COL_U:
        snprintf(m->name, sizeof m->name, "U_%d_%d", t, k);
        if (m->has_budget)
            glp_set_col_bnds(m->P, j, GLP_DB, 0.0, m->budget);
        else
            glp_set_col_bnds(m->P, j, GLP_LO, 0.0, 0.0);
        break;
    default:
        snprintf(m->name, sizeof m->name, "FREE_%d_%d_%d_%d", t, d->v_node[i], d->v_idx[i], k);
        glp_set_col_kind(m->P, j, GLP_BV);
        break;
    }
    glp_set_col_name(m->P, j, m->name);
    return j;
}

static void term(model *m, int col, double v)
{
    if (!col || v == 0.0)
        return;
    m->len++;
    if (!m->count_only) {
        m->ind[m->len] = col;
        m->val[m->len] = v;
    }
}

static void end_row(model *m, int type, double lb, double ub)
{
    if (m->len == 0)
        return;
    m->nrow++;
    m->nnz += m->len;
    if (!m->count_only) {
        int r = glp_add_rows(m->P, 1);
        m->rtype[r] = (unsigned char)type;
        m->rlb[r] = lb;
        m->rub[r] = ub;
        glp_set_row_name(m->P, r, m->name);
        glp_set_row_bnds(m->P, r, type, lb, ub);
        glp_set_mat_row(m->P, r, m->len, m->ind, m->val);
    }
    m->len = 0;
}

/* Names a row (build pass only). */
#define ROWNAME(...)                                                                       \
    do {                                                                                   \
        if (!m->count_only)                                                                \
            snprintf(m->name, sizeof m->name, __VA_ARGS__);                               \
    } while (0)

/* Stages whose memory cannot reach the budget even with everything in the support
 * present at once need no U, FREE or memory rows. Returns 0 or -ENOMEM. */
static int mark_memory_stages(model *m)
{
    const ilp_dag *d = m->d;
    const int n = d->n;
    m->memt = calloc((size_t)n, 1);
    if (!m->memt)
        return -ENOMEM;
    for (int t = 0; t < n; t++) {
        double worst = 0, ws = 0;
        for (int v = 0; v < d->nv; v++)
            if (s_ex(d, t, v))
                worst += d->v_mem[v];
        for (int i = 0; i <= t; i++)
            if (r_ex(d, t, i)) {
                worst += d->out_mem[i];
                ws = d->ws[i] > ws ? d->ws[i] : ws;
            }
        m->memt[t] = m->has_budget && worst + ws > m->budget;
    }
    return 0;
}

/* The FREE column of (t, k, q-th freed value) during a stage: fcol[foff[k] + q]. */
typedef struct free_map {
    int *fcol, *foff;
} free_map;

static int free_col(const model *m, const free_map *fm, int t, int k, int q)
{
    if (m->count_only)
        return !free_forced0(m->d, t, free_val(m->d, k, q), k);
    return fm->fcol[fm->foff[k] + q];
}

/* One pass over the formulation: counts (count_only) or builds it. */
static void model_pass(model *m)
{
    const ilp_dag *d = m->d;
    const int n = d->n, nv = d->nv;
    m->ncol = m->nrow = m->nnz = 0;
    m->len = 0;
    /* columns R, S, U, stage by stage */
    for (int t = 0; t < n; t++) {
        for (int i = 0; i <= t; i++)
            if (r_ex(d, t, i)) {
                int c = add_col(m, COL_R, t, i, -1);
                if (!m->count_only)
                    m->cR[(size_t)t * n + i] = c;
            }
        for (int v = 0; v < nv; v++)
            if (s_ex(d, t, v)) {
                int c = add_col(m, COL_S, t, v, -1);
                if (!m->count_only)
                    m->cS[(size_t)t * nv + v] = c;
            }
        for (int k = 0; k <= t && m->memt[t]; k++)
            if (r_ex(d, t, k)) {
                int c = add_col(m, COL_U, t, -1, k);
                if (!m->count_only)
                    m->cU[(size_t)t * n + k] = c;
            }
    }
    /* nr[nr_off[i] ..]: the nodes reading any value of node i, ascending, once */
    int *nr_off = malloc(((size_t)n + 1) * sizeof *nr_off);
    int *nr = malloc(((size_t)d->user_off[nv] + 1) * sizeof *nr);
    int *seen = malloc((size_t)n * sizeof *seen);
    if (!nr_off || !nr || !seen) {
        free(nr_off);
        free(nr);
        free(seen);
        if (m->P)
            glp_delete_prob(m->P);
        m->P = NULL;
        m->ncol = LLONG_MAX; /* counting: report as too large */
        return;
    }
    for (int i = 0; i < n; i++)
        seen[i] = -1;
    nr_off[0] = 0;
    for (int i = 0; i < n; i++) {
        int c = nr_off[i];
        for (int q = d->out_off[i]; q < d->out_off[i + 1]; q++)
            for (int u = d->user_off[d->out[q]]; u < d->user_off[d->out[q] + 1]; u++)
                if (seen[d->user[u]] != i) {
                    seen[d->user[u]] = i;
                    nr[c++] = d->user[u];
                }
        /* insertion sort: a node's readers are few */
        for (int a = nr_off[i] + 1; a < c; a++)
            for (int b = a; b > nr_off[i] && nr[b - 1] > nr[b]; b--) {
                int x = nr[b];
                nr[b] = nr[b - 1];
                nr[b - 1] = x;
            }
        nr_off[i + 1] = c;
    }
    free(seen);
    free_map fm = {NULL, NULL};
    if (!m->count_only) {
        fm.foff = malloc(((size_t)n + 1) * sizeof *fm.foff);
        if (fm.foff) {
            fm.foff[0] = 0;
            for (int k = 0; k < n; k++)
                fm.foff[k + 1] = fm.foff[k] + free_count(d, k);
            fm.fcol = malloc(((size_t)fm.foff[n] + 1) * sizeof *fm.fcol);
        }
        if (!fm.foff || !fm.fcol) { /* model_build sees m->P == NULL */
            free(fm.foff);
            free(fm.fcol);
            free(nr_off);
            free(nr);
            glp_delete_prob(m->P);
            m->P = NULL;
            return;
        }
    }
    for (int t = 0; t < n; t++) {
        /* dep (eq. 2) */
        for (int j = 0; j <= t; j++) {
            if (!r_ex(d, t, j))
                continue;
            for (int q = d->read_off[j]; q < d->read_off[j + 1]; q++) {
                int v = d->read[q], i = d->v_node[v];
                if (s_fix(d, t, v))
                    continue; /* always satisfied */
                ROWNAME("dep_%d_%d_%d_%d", t, i, d->v_idx[v], j);
                term(m, col_r(m, t, j), 1.0);
                term(m, col_r(m, t, i), -1.0);
                term(m, col_s(m, t, v), -1.0);
                end_row(m, GLP_UP, 0.0, 0.0);
            }
        }
        /* keep (eq. 3) */
        for (int v = 0; v < nv && t + 1 < n; v++) {
            int i = d->v_node[v];
            if (i >= t || !s_ex(d, t + 1, v) || s_fix(d, t + 1, v))
                continue;
            ROWNAME("keep_%d_%d_%d", t, i, d->v_idx[v]);
            term(m, col_s(m, t + 1, v), 1.0);
            term(m, col_s(m, t, v), -1.0);
            term(m, col_r(m, t, i), -1.0);
            end_row(m, GLP_UP, 0.0, 0.0);
        }
        /* dominance: single, user */
        for (int i = 0; i < t && i < d->n_fwd; i++) {
            if (!r_ex(d, t, i))
                continue;
            for (int q = d->out_off[i]; q < d->out_off[i + 1]; q++) {
                int v = d->out[q];
                if (!col_s(m, t, v))
                    continue;
                ROWNAME("single_%d_%d_%d", t, i, d->v_idx[v]);
                term(m, col_r(m, t, i), 1.0);
                term(m, col_s(m, t, v), 1.0);
                end_row(m, GLP_UP, 0.0, 1.0);
            }
            /* the nodes reading any value of i, each once */
            ROWNAME("user_%d_%d", t, i);
            term(m, col_r(m, t, i), 1.0);
            bool always = false;
            for (int q = nr_off[i]; q < nr_off[i + 1] && !always; q++) {
                int j = nr[q];
                if (j > t)
                    break;
                always = j == t;
                term(m, col_r(m, t, j), -1.0);
            }
            for (int q = d->out_off[i]; q < d->out_off[i + 1] && !always; q++) {
                int v = d->out[q];
                always = s_fix(d, t + 1, v);
                term(m, col_s(m, t + 1, v), -1.0);
            }
            if (always)
                m->len = 0;
            else
                end_row(m, GLP_UP, 0.0, 0.0);
        }
        /* dominance: hold (S_t+1_v needs a read in stage t+1 or a hold into t+2) */
        for (int v = 0; v < nv && t + 1 < n; v++) {
            if (d->v_node[v] >= d->n_fwd || !col_s(m, t + 1, v))
                continue;
            ROWNAME("hold_%d_%d_%d", t + 1, d->v_node[v], d->v_idx[v]);
            term(m, col_s(m, t + 1, v), 1.0);
            term(m, col_s(m, t + 2, v), -1.0);
            bool always = false;
            for (int u = d->user_off[v]; u < d->user_off[v + 1]; u++) {
                int j = d->user[u];
                if (j <= t + 1)
                    term(m, col_r(m, t + 1, j), -1.0);
                always |= j == t + 1;
            }
            if (always)
                m->len = 0;
            else
                end_row(m, GLP_UP, 0.0, 0.0);
        }
        if (!m->memt[t])
            continue; /* this stage's memory cannot reach the budget */
        /* FREE and its rows (eq. 9-10) */
        for (int k = 0; k <= t; k++) {
            if (!r_ex(d, t, k))
                continue;
            for (int q = 0; q < free_count(d, k); q++) {
                int v = free_val(d, k, q);
                if (!m->count_only)
                    fm.fcol[fm.foff[k] + q] = 0;
                if (free_forced0(d, t, v, k))
                    continue;
                int fc = add_col(m, COL_FREE, t, v, k);
                if (!m->count_only)
                    fm.fcol[fm.foff[k] + q] = fc;
                int sc = col_s(m, t + 1, v), i = d->v_node[v], c = d->v_idx[v];
                ROWNAME("freelo_%d_%d_%d_%d", t, i, c, k);
                term(m, fc, 1.0);
                term(m, col_r(m, t, k), -1.0);
                term(m, sc, 1.0);
                for (int u = d->user_off[v]; u < d->user_off[v + 1]; u++) {
                    int j = d->user[u];
                    if (j > k && j <= t)
                        term(m, col_r(m, t, j), 1.0);
                }
                end_row(m, GLP_LO, 0.0, 0.0);
                if (k != t) { /* R_t_t = 1: FREE <= 1 holds anyway */
                    ROWNAME("freer_%d_%d_%d_%d", t, i, c, k);
                    term(m, fc, 1.0);
                    term(m, col_r(m, t, k), -1.0);
                    end_row(m, GLP_UP, 0.0, 0.0);
                }
                if (sc) {
                    ROWNAME("frees_%d_%d_%d_%d", t, i, c, k);
                    term(m, fc, 1.0);
                    term(m, sc, 1.0);
                    end_row(m, GLP_UP, 0.0, 1.0);
                }
                for (int u = d->user_off[v]; u < d->user_off[v + 1]; u++) {
                    int j = d->user[u];
                    if (j <= k || j > t || !col_r(m, t, j))
                        continue;
                    ROWNAME("freeu_%d_%d_%d_%d_%d", t, i, c, k, j);
                    term(m, fc, 1.0);
                    term(m, col_r(m, t, j), 1.0);
                    end_row(m, GLP_UP, 0.0, 1.0);
                }
            }
        }
        /* freeonce: freed at most once in the stage, and only when present */
        for (int v = 0; v < nv; v++) {
            int i = d->v_node[v];
            if (i > t)
                continue;
            ROWNAME("freeonce_%d_%d_%d", t, i, d->v_idx[v]);
            int nf = 0;
            for (int pass = 0; pass < 2; pass++) { /* k = i (its own), then its readers */
                int lo = pass ? d->user_off[v] : 0, hi = pass ? d->user_off[v + 1] : 1;
                for (int u = lo; u < hi; u++) {
                    int k = pass ? d->user[u] : i;
                    if (k > t || !r_ex(d, t, k))
                        continue;
                    int qq = -1;
                    for (int q = 0; q < free_count(d, k) && qq < 0; q++)
                        if (free_val(d, k, q) == v)
                            qq = q;
                    int fc = qq < 0 ? 0 : free_col(m, &fm, t, k, qq);
                    if (fc) {
                        term(m, fc, 1.0);
                        nf++;
                    }
                }
            }
            if (nf == 0) {
                m->len = 0;
                continue;
            }
            term(m, col_s(m, t, v), -1.0);
            term(m, col_r(m, t, i), -1.0);
            end_row(m, GLP_UP, 0.0, 0.0);
        }
        /* mem (eq. 6-7), live (at k = t) and budget (eq. 8) */
        int kp = -1;
        for (int k = 0; k <= t; k++) {
            if (!r_ex(d, t, k))
                continue;
            ROWNAME("mem_%d_%d", t, k);
            term(m, col_u(m, t, k), 1.0);
            term(m, col_r(m, t, k), -d->out_mem[k]);
            if (kp < 0) {
                for (int v = 0; v < nv; v++)
                    term(m, col_s(m, t, v), -d->v_mem[v]);
            } else {
                term(m, col_u(m, t, kp), -1.0);
                for (int q = 0; q < free_count(d, kp); q++)
                    term(m, free_col(m, &fm, t, kp, q), d->v_mem[free_val(d, kp, q)]);
            }
            end_row(m, GLP_FX, 0.0, 0.0);
            if (m->has_budget && k == t) {
                ROWNAME("live_%d_%d", t, k);
                double base = d->out_mem[k] + d->ws[k];
                for (int q = d->read_off[k]; q < d->read_off[k + 1]; q++)
                    base += d->v_mem[d->read[q]];
                term(m, col_r(m, t, k), base);
                for (int v = 0; v < nv; v++) {
                    int i = d->v_node[v];
                    if (i >= t || reads(d, k, v))
                        continue;
                    term(m, col_s(m, t + 1, v), d->v_mem[v]);
                }
                end_row(m, GLP_UP, 0.0, m->budget);
            }
            if (m->has_budget && d->ws[k] > 0) {
                ROWNAME("budget_%d_%d", t, k);
                term(m, col_u(m, t, k), 1.0);
                term(m, col_r(m, t, k), d->ws[k]);
                end_row(m, GLP_UP, 0.0, m->budget);
            }
            kp = k;
        }
    }
    free(fm.fcol);
    free(fm.foff);
    free(nr_off);
    free(nr);
}

void ilp_size(const ilp_dag *d, bool budget, long long *cols, long long *rows, long long *nnz)
{
    /* every stage's memory rows counted: the worst case */
    model m = {.d = d, .count_only = true, .has_budget = budget, .budget = 1.0};
    m.memt = malloc((size_t)d->n);
    if (!m.memt) {
        *cols = *rows = *nnz = LLONG_MAX; /* cannot even count: too large */
        return;
    }
    memset(m.memt, budget ? 1 : 0, (size_t)d->n);
    model_pass(&m);
    free(m.memt);
    *cols = m.ncol;
    *rows = m.nrow;
    *nnz = m.nnz;
}

/* Node count above which even the dense solution arrays are unreasonable. */
#define ILP_MAX_NODES 4000
/* What GLPK's branch and bound and its simplex handle on this class of model in a
 * minute (docs/ilp.md, "Size guard"); the LP relaxation goes further. */
#define ILP_MAX_COLS_MIP 150000LL
#define ILP_MAX_COLS_LP 1500000LL
#define ILP_MAX_NNZ_MIP 3000000LL
#define ILP_MAX_NNZ_LP 25000000LL

static long long mem_limit_mb(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    long long mb = pages > 0 && psz > 0 ? (long long)pages / 1024 * psz / 1024 : 4096;
    mb /= 2; /* half of the machine */
    return mb > INT_MAX ? INT_MAX : (mb < 256 ? 256 : mb);
}

int ilp_check_size(const ilp_dag *d, bool lp_only, double time_limit_s, const char *gran_name,
                   remat_err *err)
{
    const char *g = gran_name ? gran_name : "this";
    const char *hint = lp_only ? "use --granularity module or block"
                               : "use --granularity module or block, or --solver lp-round";
    if (d->n > ILP_MAX_NODES)
        return remat_fail(err, -E2BIG,
                          "ilp: the training graph at %s granularity has %d nodes (limit %d): %s",
                          g, d->n, ILP_MAX_NODES, hint);
    long long cols, rows, nnz;
    ilp_size(d, true, &cols, &rows, &nnz);
    long long max_cols = lp_only ? ILP_MAX_COLS_LP : ILP_MAX_COLS_MIP;
    long long max_nnz = lp_only ? ILP_MAX_NNZ_LP : ILP_MAX_NNZ_MIP;
    /* a longer time limit buys a larger model, up to 4x the one-minute size */
    double f = time_limit_s > 60 ? (time_limit_s / 60 > 4 ? 4 : time_limit_s / 60) : 1;
    max_cols = (long long)((double)max_cols * f);
    max_nnz = (long long)((double)max_nnz * f);
    /* GLPK's storage: ~ 80 bytes per nonzero (matrix, factorisation) + 300 per row/column */
    long long need_mb = cols == LLONG_MAX ? LLONG_MAX : (nnz * 80 + (rows + cols) * 300) / (1024 * 1024);
    if (cols > max_cols || nnz > max_nnz || need_mb > mem_limit_mb())
        return remat_fail(err, -E2BIG,
                          "ilp: the model at %s granularity has %lld variables, %lld constraints "
                          "and %lld nonzeros (limit %lld variables, %lld nonzeros, %lld MiB for "
                          "%s in %.0f s): %s",
                          g, cols, rows, nnz, max_cols, max_nnz, mem_limit_mb(),
                          lp_only ? "the LP relaxation" : "the exact solve", time_limit_s, hint);
    return 0;
}

static int model_build(model *m, const ilp_dag *d, double budget, const char *note,
                       remat_err *err)
{
    memset(m, 0, sizeof *m);
    m->d = d;
    m->has_budget = budget >= 0;
    m->budget = budget;
    m->count_only = true;
    if (mark_memory_stages(m))
        return remat_fail(err, -ENOMEM, "out of memory");
    model_pass(m);
    if (m->ncol == LLONG_MAX) {
        model_free(m);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    const size_t nn = (size_t)d->n * (size_t)d->n;
    const size_t nc = (size_t)m->ncol + 1, nr = (size_t)m->nrow + 1;
    size_t maxlen = (size_t)d->n + (size_t)d->nv + (size_t)d->user_off[d->nv] + 16;
    m->cR = calloc(nn, sizeof *m->cR);
    m->cS = calloc((size_t)d->n * (size_t)(d->nv ? d->nv : 1), sizeof *m->cS);
    m->cU = calloc(nn, sizeof *m->cU);
    m->ckind = calloc(nc, 1);
    m->rtype = calloc(nr, 1);
    m->rlb = calloc(nr, sizeof *m->rlb);
    m->rub = calloc(nr, sizeof *m->rub);
    m->ct = calloc(nc, sizeof *m->ct);
    m->ci = calloc(nc, sizeof *m->ci);
    m->ck = calloc(nc, sizeof *m->ck);
    m->ind = malloc(maxlen * sizeof *m->ind);
    m->val = malloc(maxlen * sizeof *m->val);
    if (!m->cR || !m->cS || !m->cU || !m->ckind || !m->rtype || !m->rlb || !m->rub || !m->ct ||
        !m->ci || !m->ck || !m->ind || !m->val) {
        model_free(m);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    m->P = glp_create_prob();
    char pname[128];
    snprintf(pname, sizeof pname, "remat_checkmate%s%s", note ? "_" : "", note ? note : "");
    glp_set_prob_name(m->P, pname);
    glp_set_obj_name(m->P, "compute");
    glp_set_obj_dir(m->P, GLP_MIN);
    m->count_only = false;
    model_pass(m);
    if (!m->P) {
        model_free(m);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    return 0;
}

/* ---------------------------------------------------------------- GLPK guard */

typedef struct glpk_guard {
    jmp_buf jb;
    char last[256];  /* GLPK's last message line */
    bool verbose;
} glpk_guard;

static int guard_term(void *info, const char *s)
{
    glpk_guard *g = info;
    if (g->verbose)
        fputs(s, stderr);
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (n > 0) {
        if (n >= sizeof g->last)
            n = sizeof g->last - 1;
        memcpy(g->last, s, n);
        g->last[n] = 0;
    }
    return 1; /* GLPK itself prints nothing (stdout may carry YAML) */
}

static void guard_error(void *info)
{
    glpk_guard *g = info;
    longjmp(g->jb, 1);
}

/* ---------------------------------------------------------------- solving */

typedef struct solve_ctx {
    const ilp_dag *d;
    const ilp_params *pa;
    ilp_result *res;
    bool lp_round;
    model m;
    double *seed_x;      /* 1-based column values of the start, or NULL */
    bool seed_tried;
    ilp_sol start;       /* the MIP start (pick_start) */
    double start_cost;
    const char *start_name;
    ilp_sol trial;       /* rounding heuristic scratch */
    int heur_calls, heur_found;
    double t0, last_print, bound;
    glpk_guard *guard;
} solve_ctx;

static int validate(const ilp_dag *d, const ilp_params *pa, remat_err *err)
{
    if (!d || d->n < 1 || !d->read_off || !d->user_off)
        return remat_fail(err, -EINVAL, "ilp: empty or unfinished training graph");
    if (isnan(pa->budget) || (pa->budget >= 0 && !isfinite(pa->budget)))
        return remat_fail(err, -EINVAL, "ilp: the budget must be finite");
    if (!(pa->time_limit_s > 0) || !isfinite(pa->time_limit_s))
        return remat_fail(err, -EINVAL, "ilp: --time-limit must be a positive number of seconds");
    if (!(pa->mip_gap >= 0) || !isfinite(pa->mip_gap))
        return remat_fail(err, -EINVAL, "ilp: --gap must be a non-negative number");
    if (pa->dump_lp && (!*pa->dump_lp || strcmp(pa->dump_lp, "-") == 0))
        return remat_fail(err, -EINVAL, "ilp: --dump-lp needs a file name");
    if (pa->seed && (pa->seed->n != d->n || pa->seed->nv != d->nv))
        return remat_fail(err, -EINVAL, "ilp: the seed is a solution of another graph");
    return 0;
}

static int tm_lim_ms(double s)
{
    double ms = s * 1000.0;
    if (ms > (double)INT_MAX)
        return INT_MAX;
    return ms < 1 ? 1 : (int)ms;
}

/* Writes the model to path through a temporary file and a rename. */
static int dump_lp(glp_prob *P, const char *path, remat_err *err)
{
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp)
        return remat_fail(err, -ENOMEM, "out of memory");
    snprintf(tmp, n, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return remat_fail(err, -e, "%s: cannot create: %s", path, strerror(e));
    }
    close(fd);
    int rc = 0;
    if (glp_write_lp(P, NULL, tmp) != 0)
        rc = remat_fail(err, -EIO, "%s: cannot write the LP file", path);
    else if (rename(tmp, path) != 0)
        rc = remat_fail(err, -errno, "%s: cannot rename into place: %s", path, strerror(errno));
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* The full column vector of s (FREE and U derived from R and S as the model
 * defines them), checked against every row and bound: glp_ios_heur_sol checks
 * integrality only. Returns 1-based values, or NULL when s breaks the model (or
 * memory runs out: *oom). */
static double *sol_vector(solve_ctx *c, const ilp_sol *s, const char *what, bool *oom)
{
    const ilp_dag *d = c->d;
    const int n = d->n;
    model *m = &c->m;
    double *x = calloc((size_t)m->ncol + 1, sizeof *x);
    double *u = malloc((size_t)n * sizeof *u);
    int *ind = malloc(((size_t)m->ncol + 1) * sizeof *ind);
    double *val = malloc(((size_t)m->ncol + 1) * sizeof *val);
    *oom = !x || !u || !ind || !val;
    if (*oom) {
        free(x);
        free(u);
        free(ind);
        free(val);
        return NULL;
    }
    int t_u = -1;
    for (long long j = 1; j <= m->ncol; j++) {
        int t = m->ct[j], i = m->ci[j], k = m->ck[j];
        switch (m->ckind[j]) {
        case COL_R: x[j] = RR(s, t, i); break;
        case COL_S: x[j] = SS(s, t, i); break;
        case COL_U:
            if (t != t_u) {
                stage_u(d, s, t, u, NULL);
                t_u = t;
            }
            x[j] = u[k];
            break;
        default: x[j] = freed_after(d, s, t, i, k); break;
        }
    }
    /* the tree changes bounds locally: check against the model's own */
    glp_prob *P = m->P;
    bool ok = true;
    for (long long j = 1; j <= m->ncol && ok; j++)
        if (m->ckind[j] == COL_U && (x[j] < -1e-9 || (m->has_budget && x[j] > m->budget * (1 + 1e-9) + 1e-9))) {
            ok = false;
            if (c->pa->verbose)
                fprintf(stderr, "ilp: %s not used: %s = %g outside [0, %g]\n", what,
                        glp_get_col_name(P, (int)j), x[j], m->budget);
        }
    for (int r = 1; r <= m->nrow && ok; r++) {
        int len = glp_get_mat_row(P, r, ind, val);
        double a = 0, mag = 0;
        for (int q = 1; q <= len; q++) {
            a += val[q] * x[ind[q]];
            mag += fabs(val[q] * x[ind[q]]);
        }
        double lb = m->rlb[r], ub = m->rub[r];
        int ty = m->rtype[r];
        double tol = 1e-7 * (1 + mag);
        if ((ty == GLP_LO || ty == GLP_DB || ty == GLP_FX) && a < lb - tol)
            ok = false;
        if ((ty == GLP_UP || ty == GLP_DB || ty == GLP_FX) && a > ub + tol)
            ok = false;
        if (!ok && c->pa->verbose)
            fprintf(stderr, "ilp: %s not used: row %s = %g outside [%g, %g]\n", what,
                    glp_get_row_name(P, r), a, lb, ub);
    }
    free(u);
    free(ind);
    free(val);
    if (!ok) {
        free(x);
        return NULL;
    }
    return x;
}

/* Does s fit the model's budget (ilp_eval's peak)? */
static bool sol_fits(const solve_ctx *c, double peak)
{
    return !c->m.has_budget || peak <= c->m.budget * (1 + 1e-9) + 1e-9;
}

/* A lower bound on the budget every solution needs: at its own stage each node
 * is computed with its inputs present, next to the backward results held past it
 * (what the live rows say with every variable at zero). */
static double structural_min(const ilp_dag *d)
{
    double worst = 0;
    for (int t = 0; t < d->n; t++) {
        double m = d->out_mem[t] + d->ws[t];
        for (int q = d->read_off[t]; q < d->read_off[t + 1]; q++)
            m += d->v_mem[d->read[q]];
        for (int v = 0; v < d->nv; v++)
            if (d->v_node[v] < t && s_fix(d, t + 1, v) && !reads(d, t, v))
                m += d->v_mem[v];
        worst = m > worst ? m : worst;
    }
    return worst;
}

/* The MIP start: the cheapest within the model's budget of the caller's seed,
 * "store everything" and "recompute everything" (Checkmate's rounding of S = 1 and
 * S = 0). Sets c->start (owned) and c->start_name, or leaves them empty. */
static int pick_start(solve_ctx *c, remat_err *err)
{
    const ilp_dag *d = c->d;
    const size_t nr = (size_t)d->n * d->n, ns = (size_t)d->n * (d->nv ? d->nv : 1);
    ilp_sol cand = {0};
    double best = DBL_MAX;
    for (int which = 0; which < 3; which++) {
        if (which == 0 && !c->pa->seed)
            continue;
        if (ilp_sol_alloc(&cand, d))
            return remat_fail(err, -ENOMEM, "out of memory");
        if (which == 0) {
            memcpy(cand.R, c->pa->seed->R, nr);
            memcpy(cand.S, c->pa->seed->S, ns);
        } else {
            memset(cand.S, which == 1 ? 1 : 0, ns);
            ilp_r_from_s(d, &cand);
        }
        double cost, peak;
        remat_err e;
        int rc = ilp_eval(d, &cand, &cost, &peak, &e);
        if (which == 0 && c->pa->verbose && rc)
            fprintf(stderr, "ilp: seed not used: %s\n", e.msg);
        else if (which == 0 && c->pa->verbose && !sol_fits(c, peak))
            fprintf(stderr, "ilp: seed not used: its peak %.6g exceeds the model's budget %.6g "
                            "(the model's accounting is coarser than the simulator's)\n",
                    peak, c->m.budget);
        if (rc == 0 && sol_fits(c, peak) && cost < best) {
            best = cost;
            ilp_sol_free(&c->start);
            c->start = cand;
            c->start_cost = cost;
            c->start_name = which == 0 ? "seed" : which == 1 ? "store-all" : "recompute-all";
            memset(&cand, 0, sizeof cand);
        }
        ilp_sol_free(&cand);
    }
    if (!c->start.R)
        return 0;
    bool oom;
    c->seed_x = sol_vector(c, &c->start, c->start_name, &oom);
    if (oom)
        return remat_fail(err, -ENOMEM, "out of memory");
    if (!c->seed_x)
        ilp_sol_free(&c->start);
    return 0;
}

/* res takes a copy of the start solution. */
static int result_from_start(solve_ctx *c, remat_err *err)
{
    ilp_result *res = c->res;
    const ilp_dag *d = c->d;
    if (ilp_sol_alloc(&res->sol, d))
        return remat_fail(err, -ENOMEM, "out of memory");
    memcpy(res->sol.R, c->start.R, (size_t)d->n * d->n);
    memcpy(res->sol.S, c->start.S, (size_t)d->n * (d->nv ? d->nv : 1));
    ilp_eval(c->d, &res->sol, &res->cost, &res->peak, NULL);
    res->start = c->start_name;
    res->from_start = true;
    return 0;
}

static void progress(solve_ctx *c, glp_tree *T)
{
    double now = now_s(), el = now - c->t0;
    if (!c->pa->progress || el < 1.0 || (c->last_print > 0 && now - c->last_print < 5.0))
        return;
    c->last_print = now;
    glp_prob *P = glp_ios_get_prob(T);
    int a_cnt = 0, n_cnt = 0, t_cnt = 0;
    glp_ios_tree_size(T, &a_cnt, &n_cnt, &t_cnt);
    if (glp_mip_status(P) == GLP_FEAS) {
        double inc = glp_mip_obj_val(P);
        double gap = inc > 0 ? (inc - c->bound) / inc : 0;
        fprintf(stderr, "ilp: %6.1f s  incumbent %.6g  bound %.6g  gap %.2f%%  (%d open nodes)\n",
                el, inc, c->bound, gap < 0 ? 0 : 100 * gap, a_cnt);
    } else {
        fprintf(stderr, "ilp: %6.1f s  no incumbent yet  bound %.6g  (%d open nodes)\n", el,
                c->bound, a_cnt);
    }
}

/* Checkmate's rounding as a primal heuristic at every node: S from the node's LP
 * solution at a few thresholds, the least R for it, kept when within budget and
 * better than the incumbent. */
static void round_heuristic(solve_ctx *c, glp_tree *T)
{
    const ilp_dag *d = c->d;
    const int n = d->n;
    model *m = &c->m;
    glp_prob *P = glp_ios_get_prob(T);
    double inc = glp_mip_status(P) == GLP_FEAS ? glp_mip_obj_val(P) : DBL_MAX;
    /* at the root every threshold lp-round tries (so ilp is never worse than it),
     * then a few */
    static const double thr[] = {0.5, 0.25, 0.75, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8,
                                 0.1, 0.9, 0.05, 0.95, 0.01, 0.99};
    size_t nthr = c->heur_calls == 0 ? sizeof thr / sizeof thr[0] : 3;
    c->heur_calls++;
    for (size_t q = 0; q < nthr; q++) {
        memset(c->trial.S, 0, (size_t)n * (d->nv ? d->nv : 1));
        for (long long j = 1; j <= m->ncol; j++)
            if (m->ckind[j] == COL_S)
                SS(&c->trial, m->ct[j], m->ci[j]) = glp_get_col_prim(P, (int)j) >= thr[q];
        ilp_r_from_s(d, &c->trial);
        double cost, peak;
        if (ilp_eval(d, &c->trial, &cost, &peak, NULL) != 0 || !sol_fits(c, peak) ||
            cost >= inc - 1e-9 * (1 + fabs(inc)))
            continue;
        bool oom;
        double *x = sol_vector(c, &c->trial, "rounding", &oom);
        if (x && glp_ios_heur_sol(T, x) == 0) {
            inc = cost;
            c->heur_found++;
        }
        free(x);
    }
}

static void mip_callback(glp_tree *T, void *info)
{
    solve_ctx *c = info;
    int reason = glp_ios_reason(T);
    if (reason == GLP_IHEUR && c->seed_x && !c->seed_tried) {
        c->seed_tried = true; /* sol_vector checked it against the rows */
        if (glp_ios_heur_sol(T, c->seed_x) == 0)
            c->res->start = c->start_name;
        else if (c->pa->verbose)
            fprintf(stderr, "ilp: %s start not used: GLPK holds an incumbent as good\n",
                    c->start_name);
    }
    if (reason == GLP_IHEUR)
        round_heuristic(c, T);
    int p = glp_ios_best_node(T);
    if (p) {
        double b = glp_ios_node_bound(T, p);
        if (isfinite(b) && b > c->bound)
            c->bound = b;
    }
    progress(c, T);
}

static int read_solution(solve_ctx *c, bool mip, remat_err *err)
{
    const ilp_dag *d = c->d;
    model *m = &c->m;
    ilp_result *res = c->res;
    ilp_sol_free(&res->sol); /* an earlier read (the root LP, a start) may hold one */
    if (ilp_sol_alloc(&res->sol, d))
        return remat_fail(err, -ENOMEM, "out of memory");
    for (long long j = 1; j <= m->ncol; j++) {
        int k = m->ckind[j];
        double v = mip ? glp_mip_col_val(m->P, (int)j) : glp_get_col_prim(m->P, (int)j);
        if (k == COL_R)
            RR(&res->sol, m->ct[j], m->ci[j]) = v > 0.5;
        else if (k == COL_S)
            SS(&res->sol, m->ct[j], m->ci[j]) = v > 0.5;
    }
    remat_err e;
    int rc = ilp_eval(d, &res->sol, &res->cost, &res->peak, &e);
    if (rc)
        return remat_fail(err, -EIO, "GLPK returned a solution that breaks the formulation: %s",
                          e.msg);
    return 0;
}

static void set_status(ilp_result *r, const char *s)
{
    snprintf(r->status, sizeof r->status, "%s", s);
}

/* The start (the seed or a trivial plan) as the answer: its cost against the best
 * bound known; optimal when it meets that bound. */
static int answer_from_start(solve_ctx *c, ilp_result *res, remat_err *err)
{
    int rc = result_from_start(c, err);
    if (rc)
        return rc;
    res->bound = c->bound < res->cost ? c->bound : res->cost;
    res->gap = res->cost > 0 ? (res->cost - res->bound) / res->cost : 0;
    bool opt = res->cost <= res->bound * (1 + 1e-9);
    if (opt)
        res->gap = 0;
    set_status(res, opt ? "optimal" : "feasible");
    return 0;
}

static double trivial_bound(const ilp_dag *d)
{
    double b = 0; /* every node runs at least once, in its own stage */
    for (int i = 0; i < d->n; i++)
        b += d->cost[i];
    return b;
}

static int mip_body(solve_ctx *c, remat_err *err)
{
    const ilp_params *pa = c->pa;
    ilp_result *res = c->res;
    glp_mem_limit(pa->mem_limit_mb > 0 ? pa->mem_limit_mb : (int)mem_limit_mb());
    int rc = model_build(&c->m, c->d, pa->budget, pa->unit_note, err);
    if (rc)
        return rc;
    res->cols = c->m.ncol;
    res->rows = c->m.nrow;
    res->nnz = c->m.nnz;
    if (pa->verbose)
        fprintf(stderr, "ilp: %d nodes, %lld variables, %lld constraints, %lld nonzeros\n",
                c->d->n, c->m.ncol, c->m.nrow, c->m.nnz);
    if (pa->dump_lp && (rc = dump_lp(c->m.P, pa->dump_lp, err)) != 0)
        return rc;
    if (c->m.has_budget && structural_min(c->d) > c->m.budget * (1 + 1e-9) + 1e-9) {
        set_status(res, "infeasible"); /* some node cannot run next to its inputs */
        return 0;
    }
    if ((rc = pick_start(c, err)) != 0)
        return rc;
    if (pa->verbose && c->seed_x)
        fprintf(stderr, "ilp: MIP start: %s (compute %.6g)\n", c->start_name, c->start_cost);
    if (c->seed_x && pa->mip_gap >= 1.0) {
        /* any plan within the budget is within the requested gap */
        return answer_from_start(c, res, err);
    }
    if (c->seed_x && c->start_cost <= c->bound * (1 + 1e-9)) {
        /* the start meets the lower bound (every node once): nothing to search */
        return answer_from_start(c, res, err);
    }
    glp_prob *P = c->m.P;
    glp_iocp iocp;
    glp_init_iocp(&iocp);
    iocp.msg_lev = pa->verbose ? GLP_MSG_ON : GLP_MSG_ERR;
    iocp.cb_func = mip_callback;
    iocp.cb_info = c;
    iocp.mip_gap = pa->mip_gap;
    if (ilp_sol_alloc(&c->trial, c->d))
        return remat_fail(err, -ENOMEM, "out of memory");
    /* glp_ios_heur_sol (the seed, the rounding heuristic) takes values of the columns
     * of the problem the search runs on, and GLPK's MIP presolver would replace ours
     * by a transformed one: we solve the root LP ourselves and search without it. */
    iocp.presolve = GLP_OFF;
    glp_smcp smcp;
    glp_init_smcp(&smcp);
    smcp.msg_lev = iocp.msg_lev;
    smcp.meth = GLP_DUALP; /* the primal simplex stalls on this degenerate LP */
    smcp.presolve = GLP_ON; /* about 1.6x faster on U-Net's root LP; the basis is recovered */
    smcp.tm_lim = tm_lim_ms(pa->time_limit_s - (now_s() - c->t0));
    glp_scale_prob(P, GLP_SF_AUTO);
    int sr = glp_simplex(P, &smcp);
    int lst = glp_get_status(P);
    /* with the LP presolver on, an infeasible relaxation is reported as GLP_ENOPFS */
    const bool lp_nofeas = (sr == 0 && lst == GLP_NOFEAS) || sr == GLP_ENOPFS;
    if (lp_nofeas && !c->seed_x) {
        set_status(res, "infeasible"); /* the LP relaxation already is */
        return 0;
    }
    if (sr != 0 || lst != GLP_OPT) {
        if (sr != 0 && sr != GLP_ETMLIM && sr != GLP_ENOPFS)
            return remat_fail(err, -EIO, "GLPK's simplex failed on the root LP (glp_simplex %d): %s",
                              sr, c->guard->last[0] ? c->guard->last : "no message");
        if (!c->seed_x) {
            set_status(res, "no-solution");
            return 0;
        }
        /* no root LP in time: the start is the answer */
        if ((rc = answer_from_start(c, res, err)) != 0)
            return rc;
        if (pa->verbose)
            fprintf(stderr, "ilp: the root LP %s; keeping the %s start\n",
                    lp_nofeas ? "found no feasible point (numerics: the start satisfies every row)"
                              : "did not finish in time",
                    c->start_name);
        return 0;
    }
    double left = pa->time_limit_s - (now_s() - c->t0);
    iocp.tm_lim = tm_lim_ms(left);
    int ret = glp_intopt(P, &iocp);
    int st = glp_mip_status(P);
    if (st == GLP_OPT || st == GLP_FEAS) {
        if ((rc = read_solution(c, true, err)) != 0)
            return rc;
        if (st == GLP_OPT) {
            set_status(res, "optimal");
            res->bound = res->cost;
            res->gap = 0;
        } else {
            set_status(res, "feasible");
            res->bound = c->bound < res->cost ? c->bound : res->cost;
            res->gap = res->cost > 0 ? (res->cost - res->bound) / res->cost : 0;
        }
        if (c->seed_x && res->start) {
            res->from_start = memcmp(res->sol.R, c->start.R, (size_t)c->d->n * c->d->n) == 0;
        }
        if (st != GLP_OPT && res->cost <= trivial_bound(c->d) * (1 + 1e-9)) {
            set_status(res, "optimal"); /* meets the lower bound */
            res->bound = res->cost;
            res->gap = 0;
        }
        return 0;
    }
    if (st == GLP_NOFEAS || ret == GLP_ENOPFS) {
        set_status(res, "infeasible");
        return 0;
    }
    if (ret == GLP_ETMLIM || ret == GLP_EMIPGAP || ret == 0) {
        set_status(res, "no-solution");
        res->bound = c->bound;
        return 0;
    }
    return remat_fail(err, -EIO, "GLPK's branch and bound failed (glp_intopt %d): %s", ret,
                      c->guard->last[0] ? c->guard->last : "no message");
}

/* LP relaxation and rounding at the model's budget. Fills res->sol with the best
 * rounding within budget (status feasible), or sets status infeasible/no-solution;
 * *min_peak receives the least peak over the roundings tried. */
static int lp_body(solve_ctx *c, double *min_peak, remat_err *err)
{
    const ilp_params *pa = c->pa;
    const ilp_dag *d = c->d;
    ilp_result *res = c->res;
    glp_mem_limit(pa->mem_limit_mb > 0 ? pa->mem_limit_mb : (int)mem_limit_mb());
    int rc = model_build(&c->m, d, pa->budget, pa->unit_note, err);
    if (rc)
        return rc;
    res->cols = c->m.ncol;
    res->rows = c->m.nrow;
    res->nnz = c->m.nnz;
    if (pa->verbose)
        fprintf(stderr, "lp-round: %d nodes, %lld variables, %lld constraints, %lld nonzeros\n",
                d->n, c->m.ncol, c->m.nrow, c->m.nnz);
    if (pa->dump_lp && (rc = dump_lp(c->m.P, pa->dump_lp, err)) != 0)
        return rc;
    if (c->m.has_budget && structural_min(d) > c->m.budget * (1 + 1e-9) + 1e-9) {
        set_status(res, "infeasible"); /* some node cannot run next to its inputs */
        return 0;
    }
    if (pa->mip_gap >= 1.0) {
        /* any plan within the budget will do (solver_min_budget's probes): the
         * roundings at S = 1 and S = 0 are among lp-round's; try them first */
        if ((rc = pick_start(c, err)) != 0)
            return rc;
        if (c->seed_x) {
            return answer_from_start(c, res, err);
        }
    }
    glp_smcp smcp;
    glp_init_smcp(&smcp);
    smcp.msg_lev = pa->verbose ? GLP_MSG_ON : GLP_MSG_ERR;
    smcp.meth = GLP_DUALP; /* the primal simplex stalls on this degenerate LP */
    smcp.presolve = GLP_ON;
    smcp.tm_lim = tm_lim_ms(pa->time_limit_s - (now_s() - c->t0));
    int sr = glp_simplex(c->m.P, &smcp);
    int st = glp_get_status(c->m.P);
    if (sr == GLP_ETMLIM) {
        /* no LP in time: the better of "store all" and "recompute all", if either fits */
        if ((rc = pick_start(c, err)) != 0)
            return rc;
        if (!c->seed_x) {
            set_status(res, "no-solution");
            return 0;
        }
        if ((rc = answer_from_start(c, res, err)) != 0)
            return rc;
        if (pa->verbose)
            fprintf(stderr, "lp-round: the LP did not finish in time; %s plan\n", c->start_name);
        return 0;
    }
    if (sr == GLP_ENOPFS || st == GLP_NOFEAS) {
        set_status(res, "infeasible");
        return 0;
    }
    if (sr != 0 || st != GLP_OPT)
        return remat_fail(err, -EIO, "GLPK's simplex failed (glp_simplex %d, status %d): %s", sr,
                          st, c->guard->last[0] ? c->guard->last : "no message");
    double lpobj = glp_get_obj_val(c->m.P);
    /* read S* once, then round at several thresholds (phase 1) and derive the
     * least R for each (phase 2, ilp_r_from_s) */
    const size_t ns = (size_t)d->n * (d->nv ? d->nv : 1);
    float *sstar = calloc(ns, sizeof *sstar);
    ilp_sol trial = {0};
    if (!sstar || ilp_sol_alloc(&trial, d)) {
        free(sstar);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    for (long long j = 1; j <= c->m.ncol; j++)
        if (c->m.ckind[j] == COL_S)
            sstar[(size_t)c->m.ct[j] * d->nv + c->m.ci[j]] = (float)glp_get_col_prim(c->m.P, (int)j);
    /* 0 and 2: S = 1 and S = 0 everywhere, "store all" and "recompute all" */
    static const double thr[] = {0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.1,
                                 0.9, 0.05, 0.95, 0.01, 0.99, 0.0, 2.0};
    double best = DBL_MAX;
    *min_peak = DBL_MAX;
    for (size_t q = 0; q < sizeof thr / sizeof thr[0]; q++) {
        for (size_t x = 0; x < ns; x++)
            trial.S[x] = sstar[x] >= thr[q];
        ilp_r_from_s(d, &trial);
        double cost, peak;
        if (ilp_eval(d, &trial, &cost, &peak, NULL) != 0)
            continue;
        if (peak < *min_peak)
            *min_peak = peak;
        bool fits = !c->m.has_budget || peak <= pa->budget * (1 + 1e-9) + 1e-9;
        if (fits && cost < best) {
            best = cost;
            ilp_sol_free(&res->sol);
            res->sol = trial;
            res->cost = cost;
            res->peak = peak;
            if (ilp_sol_alloc(&trial, d)) {
                free(sstar);
                return remat_fail(err, -ENOMEM, "out of memory");
            }
        }
    }
    free(sstar);
    ilp_sol_free(&trial);
    res->bound = lpobj;
    if (best == DBL_MAX) {
        set_status(res, "infeasible");
        return 0;
    }
    set_status(res, "feasible");
    res->gap = res->cost > 0 ? (res->cost - lpobj) / res->cost : 0;
    if (res->gap < 0)
        res->gap = 0;
    return 0;
}

static int guarded(solve_ctx *c, int (*body)(solve_ctx *, double *, remat_err *), double *aux,
                   remat_err *err)
{
    /* on the heap: GLPK's hooks write to it between setjmp and longjmp */
    glpk_guard *const gd = calloc(1, sizeof *gd);
    if (!gd)
        return remat_fail(err, -ENOMEM, "out of memory");
    gd->verbose = c->pa->verbose;
    c->guard = gd;
    volatile int rc = 0;
    glp_term_hook(guard_term, gd);
    glp_error_hook(guard_error, gd);
    if (setjmp(gd->jb) == 0) {
        rc = body(c, aux, err);
        model_free(&c->m);
    } else {
        /* GLPK hit an error (bad data, its memory limit): its state is undefined, and
         * glp_free_env releases everything it holds, our problem object included. */
        c->m.P = NULL;
        glp_free_env();
        model_free(&c->m);
        rc = remat_fail(err, -EIO, "GLPK failed: %s", gd->last[0] ? gd->last : "unknown error");
    }
    glp_error_hook(NULL, NULL);
    glp_term_hook(NULL, NULL);
    glp_free_env();
    free(gd);
    c->guard = NULL;
    free(c->seed_x);
    c->seed_x = NULL;
    ilp_sol_free(&c->trial);
    ilp_sol_free(&c->start);
    if (c->pa->verbose && c->heur_calls)
        fprintf(stderr, "ilp: rounding heuristic: %d calls, %d improved incumbents\n",
                c->heur_calls, c->heur_found);
    return rc;
}

static int mip_body_aux(solve_ctx *c, double *aux, remat_err *err)
{
    (void)aux;
    return mip_body(c, err);
}

int ilp_solve_mip(const ilp_dag *d, const ilp_params *pa, ilp_result *res, remat_err *err)
{
    memset(res, 0, sizeof *res);
    set_status(res, "no-solution");
    int rc = validate(d, pa, err);
    if (rc)
        return rc;
    solve_ctx c;
    memset(&c, 0, sizeof c);
    c.d = d;
    c.pa = pa;
    c.res = res;
    c.t0 = now_s();
    c.bound = trivial_bound(d);
    rc = guarded(&c, mip_body_aux, NULL, err);
    res->solve_s = now_s() - c.t0;
    if (rc)
        ilp_result_free(res);
    return rc;
}

int ilp_solve_lp_round(const ilp_dag *d, const ilp_params *pa, ilp_result *res, remat_err *err)
{
    memset(res, 0, sizeof *res);
    set_status(res, "no-solution");
    int rc = validate(d, pa, err);
    if (rc)
        return rc;
    /* When no rounding fits, tighten the LP's budget by the least excess and solve
     * again (bounded); the result is judged at the caller's budget. */
    ilp_params p2 = *pa;
    double t0 = now_s(), bound0 = -1;
    for (int attempt = 0; attempt < 4; attempt++) {
        solve_ctx c;
        memset(&c, 0, sizeof c);
        c.d = d;
        c.pa = &p2;
        c.res = res;
        c.t0 = t0;
        c.bound = trivial_bound(d);
        double min_peak = DBL_MAX;
        ilp_result_free(res);
        rc = guarded(&c, lp_body, &min_peak, err);
        if (attempt == 0)
            bound0 = res->bound; /* only the LP at the requested budget bounds the optimum */
        if (rc || strcmp(res->status, "infeasible") != 0 || pa->budget < 0 ||
            min_peak == DBL_MAX || attempt == 3)
            break;
        double excess = min_peak - pa->budget;
        if (!(excess > 0) || p2.budget - excess <= 0)
            break;
        p2.budget -= excess;
        p2.dump_lp = NULL; /* the dump is the model at the requested budget */
        if (pa->verbose)
            fprintf(stderr, "lp-round: no rounding fits (least peak %.6g > %.6g); LP budget "
                            "tightened to %.6g\n",
                    min_peak, pa->budget, p2.budget);
        if (now_s() - t0 > pa->time_limit_s)
            break;
    }
    res->solve_s = now_s() - t0;
    if (rc == 0 && strcmp(res->status, "feasible") == 0 && bound0 >= 0) {
        res->bound = bound0 < res->cost ? bound0 : res->cost;
        res->gap = res->cost > 0 ? (res->cost - res->bound) / res->cost : 0;
    }
    if (rc)
        ilp_result_free(res);
    return rc;
}
