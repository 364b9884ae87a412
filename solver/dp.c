/* solver/dp.c — the dynamic-programming solvers on the chain view.
 *
 * Per-stage cost model. Each stage is simulated in isolation, with the memory
 * rules of solver.h, to get (all bytes after allocator rounding; X_r is the stage's
 * input, held by whoever called the stage, and not counted here):
 *   fn   peak while running the stage forward keeping nothing but its output;
 *   fa   peak while running it forward keeping everything its backward reads;
 *   sv   what that keeps, its output excluded;
 *   bw   peak of its backward, starting from what fa kept plus the gradient of its
 *        output, ending with the gradient of X_r;
 *   x, g bytes of X_r and of its gradient.
 * These compose into conservative bounds on a whole plan's peak; every plan is then
 * simulated in exact bytes by solver_plan, and the searches below re-run with a
 * corrected internal budget when the simulation disagrees.
 *
 * `segment`: the optimal two-level plan — a partition of the chain into segments,
 * each either storing everything or keeping only its input and being recomputed once
 * right before its backward (what torch.utils.checkpoint, HF and Megatron express);
 * segments begin only where a trainer unit (a module: chain_unit_starts) begins.
 * Dynamic programming over segment boundaries in exact bytes of the model: at each
 * boundary, the Pareto front of (bytes held by earlier segments, recompute time),
 * bucketed by held bytes into at most 2048 buckets (fewer for very long chains, to
 * keep O(n^2 * buckets) work near 1e8). The cheapest plan of the two-level baselines
 * (none, full, sqrt, greedy) is kept when it is better, so segment is never worse
 * than any of them.
 *
 * `dp`: Rotor's multi-level DP for heterogeneous chains (Beaumont et al. 2019).
 * OPT(m, i, l) = least time to back-propagate stages i..l with X_i held by the caller
 * and m bytes available (the gradient of the range's output, live on entry, and of
 * X_i, live on exit, included):
 *   leaf      i = l: forward keeping everything, backward;
 *   (b)       forward stage i keeping everything, OPT(m - sv_i - x_{i+1}, i+1, l),
 *             backward of stage i;
 *   (a)       advance stages i..j-1 keeping nothing, hold X_j: sum uf +
 *             OPT(m - x_j, j, l) + OPT(m, i, j-1).
 * Memory is discretized into o->slots slots (sizes rounded to the nearest slot, the
 * slot chosen so the most common stage-input size is whole); the table holds
 * (slots+1)·n(n+1)/2 floats, so slots are reduced for long chains to keep it under
 * DP_TABLE_CAP entries. solver_plan keeps the `segment` plan when it is cheaper, so
 * dp ≤ segment.
 *
 * Revolve mode (o->max_checkpoints = s > 0): memory counts stage inputs held, the
 * chain's input being one of the s; case (b) is not allowed (a stage's activations
 * are held only while its own backward runs); advancing and taping the state just
 * reached cost no snapshot. On a homogeneous chain this is Griewank & Walther's
 * setting and the recursion P(n, m) = min_j j + P(n-j, m - [n-j > 1]) + P(j, m)
 * attains their optimum t·n − C(s+t, t−1) of forward advances, computed in
 * O(n²·s) on a table shared by every subrange. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "solver/solver_internal.h"

#define DP_TABLE_CAP (INT64_C(24) * 1000 * 1000)

/* ---------------------------------------------------------------- stage costs */

typedef struct stage_cost {
    int64_t x, g;           /* X_r and its gradient */
    int64_t fn, fa, sv, bw; /* see the charter */
    double uf, ub;
} stage_cost;

typedef struct chain_model {
    int n;
    stage_cost *st;         /* n + 1 entries: st[n].x = st[n].g = 0 (the loss output) */
} chain_model;

static void model_free(chain_model *m)
{
    free(m->st);
    memset(m, 0, sizeof *m);
}

static int64_t grad_bytes(const graph *g, allocator_kind a, int t)
{
    if (t < 0)
        return 0;
    const graph_tensor *tt = &g->tensors[t];
    return tt->role == ROLE_ACT && tt->needs_grad ? alloc_round(a, tt->bytes) : 0;
}

static int build_model(const profile *p, const mem_config *mc, const chain *c, chain_model *m,
                       remat_err *err)
{
    const graph *g = &p->g;
    const allocator_kind al = mc->allocator;
    const int nt = g->n_tensors;
    memset(m, 0, sizeof *m);
    m->st = calloc((size_t)c->n + 1, sizeof *m->st);
    int *stamp = malloc((size_t)nt * sizeof *stamp);      /* stage that produced t */
    int *lf = malloc((size_t)nt * sizeof *lf);            /* last forward use in stage */
    int *fs = malloc((size_t)nt * sizeof *fs);            /* first (smallest) saver in stage */
    unsigned char *alive = calloc((size_t)nt, 1), *glive = calloc((size_t)nt, 1);
    if (!m->st || !stamp || !lf || !fs || !alive || !glive) {
        free(stamp);
        free(lf);
        free(fs);
        free(alive);
        free(glive);
        model_free(m);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    m->n = c->n;
    for (int t = 0; t < nt; t++)
        stamp[t] = -1;
    for (int r = 0; r < c->n; r++) {
        const chain_stage *cs = &c->st[r];
        stage_cost *sc = &m->st[r];
        const int a = cs->first_op, b = cs->last_op, xout = cs->out_tensor;
        sc->x = cs->in_tensor >= 0 ? alloc_round(al, g->tensors[cs->in_tensor].bytes) : 0;
        sc->g = grad_bytes(g, al, cs->in_tensor);
        sc->uf = cs->uf;
        sc->ub = cs->ub;
        for (int i = a; i <= b; i++) {
            const graph_op *o = &g->ops[i];
            stamp[o->out] = r;
            lf[o->out] = i;
            fs[o->out] = -1;
            for (int k = 0; k < o->n_extra; k++) {
                stamp[o->extra[k]] = r;
                lf[o->extra[k]] = i;
                fs[o->extra[k]] = -1;
            }
        }
        for (int i = a; i <= b; i++) {
            const graph_op *o = &g->ops[i];
            for (int k = 0; k < o->n_in; k++)
                if (stamp[o->in[k]] == r)
                    lf[o->in[k]] = i;
        }
        for (int i = b; i >= a; i--) {
            const graph_op *o = &g->ops[i];
            for (int k = 0; k < o->n_saved; k++)
                if (stamp[o->saved[k]] == r)
                    fs[o->saved[k]] = i;
        }
        /* forward twice: keep = 0 (fn), keep = 1 (fa) */
        for (int keep = 0; keep < 2; keep++) {
            int64_t cur = 0, peak = 0;
            for (int i = a; i <= b; i++) {
                const graph_op *o = &g->ops[i];
                cur += alloc_round(al, g->tensors[o->out].bytes);
                for (int k = 0; k < o->n_extra; k++)
                    cur += alloc_round(al, g->tensors[o->extra[k]].bytes);
                int64_t hi = cur + alloc_round(al, o->ws_fwd);
                if (hi > peak)
                    peak = hi;
                /* frees after op i: tensors of this stage whose last forward use is i */
                int cand[GRAPH_MAX_INPUTS + 1 + GRAPH_MAX_EXTRAS], nc = 0;
                for (int k = 0; k < o->n_in; k++)
                    cand[nc++] = o->in[k];
                cand[nc++] = o->out;
                for (int k = 0; k < o->n_extra; k++)
                    cand[nc++] = o->extra[k];
                for (int k = 0; k < nc; k++) {
                    int t = cand[k];
                    bool dup = false;
                    for (int j = 0; j < k; j++)
                        dup = dup || cand[j] == t;
                    if (dup || stamp[t] != r || lf[t] != i || t == xout)
                        continue;
                    if (keep && fs[t] >= 0)
                        continue;
                    cur -= alloc_round(al, g->tensors[t].bytes);
                }
            }
            int64_t xo = alloc_round(al, g->tensors[xout].bytes);
            if (keep) {
                sc->fa = peak;
                sc->sv = cur - xo;
            } else {
                sc->fn = peak;
            }
        }
        /* backward from what fa kept */
        int64_t xo = alloc_round(al, g->tensors[xout].bytes);
        bool kept_out = fs[xout] >= 0;
        int64_t gout = r + 1 < c->n ? grad_bytes(g, al, xout) : 0;
        int64_t cur = sc->sv + (kept_out ? xo : 0) + gout, peak = cur;
        for (int i = a; i <= b; i++) {
            const graph_op *o = &g->ops[i];
            alive[o->out] = fs[o->out] >= 0;
            for (int k = 0; k < o->n_extra; k++)
                alive[o->extra[k]] = fs[o->extra[k]] >= 0;
        }
        if (gout)
            glive[xout] = 1;
        for (int i = b; i >= a; i--) {
            const graph_op *o = &g->ops[i];
            for (int k = 0; k < o->n_in; k++) {
                int t = o->in[k];
                const graph_tensor *tt = &g->tensors[t];
                if (tt->role == ROLE_ACT && tt->needs_grad && !glive[t]) {
                    glive[t] = 1;
                    cur += alloc_round(al, tt->bytes);
                }
            }
            int64_t hi = cur + alloc_round(al, o->ws_bwd);
            if (hi > peak)
                peak = hi;
            if (glive[o->out]) {
                glive[o->out] = 0;
                cur -= alloc_round(al, g->tensors[o->out].bytes);
            }
            for (int k = 0; k < o->n_saved; k++) {
                int t = o->saved[k];
                if (stamp[t] == r && alive[t] && fs[t] == i) {
                    alive[t] = 0;
                    cur -= alloc_round(al, g->tensors[t].bytes);
                }
            }
        }
        sc->bw = peak;
        /* leave the scratch arrays clean for the next stage */
        for (int i = a; i <= b; i++) {
            const graph_op *o = &g->ops[i];
            alive[o->out] = 0;
            for (int k = 0; k < o->n_extra; k++)
                alive[o->extra[k]] = 0;
            for (int k = 0; k < o->n_in; k++)
                glive[o->in[k]] = 0;
            glive[o->out] = 0;
        }
    }
    free(stamp);
    free(lf);
    free(fs);
    free(alive);
    free(glive);
    return 0;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

int dp_model_min_bytes(const profile *p, const mem_config *mc, int64_t *out, remat_err *err)
{
    chain c;
    int rc = chain_build(p, &c, err);
    if (rc)
        return rc;
    chain_model m;
    rc = build_model(p, mc, &c, &m, err);
    chain_free(&c);
    if (rc)
        return rc;
    static_mem sm;
    rc = static_memory(&p->g, mc, &sm, err);
    if (rc) {
        model_free(&m);
        return rc;
    }
    /* hold only the chain's input; reach each stage by advancing from the start */
    int64_t need = 0, adv = 0;
    for (int r = 0; r < m.n; r++) {
        const stage_cost *s = &m.st[r];
        int64_t gnext = m.st[r + 1].g;
        need = max64(need, s->x + gnext + s->fa);
        need = max64(need, s->x + s->bw);
        if (r > 0)
            need = max64(need, gnext + adv);
        adv = max64(adv, (r > 0 ? s->x : 0) + s->fn);
    }
    model_free(&m);
    *out = sm.total + need;
    return 0;
}

/* ---------------------------------------------------------------- lowering */

static int push_range_fwd(schedule *s, const chain *c, int i, int j)
{
    int rc = 0;
    for (int op = c->st[i].first_op; op <= c->st[j].last_op && !rc; op++)
        rc = schedule_push(s, INS_FWD, op, 0);
    return rc;
}

static int push_stage_bwd(schedule *s, const chain *c, int r)
{
    int rc = 0;
    for (int op = c->st[r].last_op; op >= c->st[r].first_op && !rc; op--)
        rc = schedule_push(s, INS_BWD, op, 0);
    return rc;
}

/* ---------------------------------------------------------------- segment */

/* States of the segment DP at a stage boundary, bucketed by the bytes earlier
 * segments hold: each bucket keeps its cheapest state (ties: less held), so a front
 * has at most nb states and the DP costs O(n^2 * nb). */
typedef struct seg_state {
    int64_t held;   /* bytes earlier segments hold while waiting for their backward */
    double cost;    /* recompute time so far */
    int prev_pos;   /* first stage of the last segment, -1: none (empty state) */
    int prev_b;     /* its bucket at prev_pos */
    unsigned char rec, used;
} seg_state;

/* Two-level DP under dynamic memory M (model bytes). Fills start/rec; returns 0,
 * -ENOSPC or -ENOMEM. */
static int segment_dp(const chain_model *m, const unsigned char *unit, int64_t M,
                      unsigned char *start, unsigned char *rec, double *cost_out)
{
    const int L = m->n;
    int nb = (int)(1e8 / ((double)L * L));
    nb = nb < 64 ? 64 : nb > 2048 ? 2048 : nb;
    seg_state *bs = calloc((size_t)(L + 1) * (size_t)nb, sizeof *bs);
    int64_t *pk_s = malloc((size_t)L * sizeof *pk_s), *pk_c = malloc((size_t)L * sizeof *pk_c);
    int64_t *hold_s = malloc((size_t)L * sizeof *hold_s);
    double *uf = malloc((size_t)L * sizeof *uf);
    int *live = malloc((size_t)nb * sizeof *live);
    int rc = 0;
    if (!bs || !pk_s || !pk_c || !hold_s || !uf || !live) {
        rc = -ENOMEM;
        goto done;
    }
    const double scale = (double)nb / ((double)M + 1.0);
#define BUCKET(h) ((int)((double)(h) * scale) < nb ? (int)((double)(h) * scale) : nb - 1)
#define OFFER(pos, h, c, pp, pb, r)                                                   \
    do {                                                                             \
        seg_state *q_ = &bs[(size_t)(pos) * nb + BUCKET(h)];                         \
        if (!q_->used || (c) < q_->cost || ((c) == q_->cost && (h) < q_->held))      \
            *q_ = (seg_state){(h), (c), (pp), (pb), (r), 1};                         \
    } while (0)
    bs[0] = (seg_state){0, 0.0, -1, -1, 0, 1};
    for (int i = 0; i < L; i++) {
        /* the Pareto states of position i, by bucket (held order) */
        int nl = 0;
        double best_cost = INFINITY;
        for (int b = 0; b < nb; b++) {
            const seg_state *st = &bs[(size_t)i * nb + b];
            if (st->used && st->cost < best_cost) {
                best_cost = st->cost;
                live[nl++] = b;
            }
        }
        if (nl == 0)
            continue;
        /* peaks of segment [i..j] for every j, built incrementally */
        const int64_t xi = m->st[i].x;
        int64_t acc = 0;          /* sum over q in [i, r) of sv_q + x_{q+1} */
        int64_t fs = 0, bsk = 0;  /* stored: forward / backward peak so far */
        int64_t fc = 0, rcmp = 0; /* recomputed: advance peak; recompute-forward peak */
        double u = 0;
        for (int j = i; j < L; j++) {
            const stage_cost *sc = &m->st[j];
            fs = max64(fs, xi + acc + sc->fa);
            bsk = max64(bsk, xi + acc + sc->bw);
            fc = max64(fc, xi + (j > i ? sc->x : 0) + sc->fn);
            rcmp = max64(rcmp, xi + acc + sc->fa);
            u += sc->uf;
            /* saturate: absurd sizes must not wrap (they are then infeasible) */
            int64_t step;
            if (!checked_add64(sc->sv, m->st[j + 1].x, &step) || !checked_add64(acc, step, &acc))
                acc = INT64_MAX / 4;
            pk_s[j] = max64(fs, bsk);
            /* the recomputation runs with the gradient of the segment's output live */
            pk_c[j] = max64(fc, max64(rcmp + m->st[j + 1].g, bsk));
            hold_s[j] = xi + acc - m->st[j + 1].x;
            uf[j] = u;
        }
        for (int k = 0; k < nl; k++) {
            const int b = live[k];
            const seg_state st = bs[(size_t)i * nb + b];
            for (int j = i; j < L; j++) {
                if (j + 1 < L && !unit[j + 1])
                    continue; /* segments end where a trainer unit ends */
                if (st.held + pk_s[j] <= M) {
                    int64_t h = st.held + hold_s[j];
                    OFFER(j + 1, h, st.cost, i, b, 0);
                }
                if (j < L - 1 && st.held + pk_c[j] <= M) {
                    int64_t h = st.held + xi;
                    double c = st.cost + uf[j];
                    OFFER(j + 1, h, c, i, b, 1);
                }
            }
        }
    }
#undef OFFER
#undef BUCKET
    int best = -1;
    for (int b = 0; b < nb; b++) {
        const seg_state *st = &bs[(size_t)L * nb + b];
        if (st->used && (best < 0 || st->cost < bs[(size_t)L * nb + best].cost))
            best = b;
    }
    if (best < 0) {
        rc = -ENOSPC;
        goto done;
    }
    *cost_out = bs[(size_t)L * nb + best].cost;
    memset(start, 0, (size_t)L);
    int pos = L, b = best;
    while (pos > 0) {
        const seg_state *st = &bs[(size_t)pos * nb + b];
        int a = st->prev_pos;
        start[a] = 1;
        for (int r = a; r < pos; r++)
            rec[r] = st->rec;
        b = st->prev_b;
        pos = a;
    }
done:
    free(bs);
    free(pk_s);
    free(pk_c);
    free(hold_s);
    free(uf);
    free(live);
    return rc;
}

/* A finalized candidate and its simulated figures. */
typedef struct cand {
    schedule s;
    int64_t peak;
    double rec_s;
    bool have;
    bool from_dp; /* found by this solver's own DP */
} cand;

static void cand_offer(cand *best, schedule *s, int64_t peak, double rec_s, bool from_dp)
{
    if (!best->have || rec_s < best->rec_s || (rec_s == best->rec_s && peak < best->peak)) {
        schedule_free(&best->s);
        best->s = *s;
        best->peak = peak;
        best->rec_s = rec_s;
        best->have = true;
        best->from_dp = from_dp;
    } else {
        schedule_free(s);
    }
    memset(s, 0, sizeof *s);
}

/* Simulates s and offers it when it fits the budget (budget <= 0: no limit). */
static int offer_checked(const profile *p, const mem_config *mc, int64_t budget, cand *best,
                         schedule *s, bool from_dp, int64_t *peak_out, remat_err *err)
{
    int64_t peak;
    double rs;
    int rc = sched_peak(p, mc, s, &peak, &rs, err);
    if (rc) {
        schedule_free(s);
        return rc;
    }
    if (peak_out)
        *peak_out = peak;
    if (budget <= 0 || peak <= budget)
        cand_offer(best, s, peak, rs, from_dp);
    else
        schedule_free(s);
    return 0;
}

/* Dynamic bytes the budget leaves (a very large number without a budget). */
static int64_t dynamic_budget(const profile *p, const mem_config *mc, int64_t budget,
                              remat_err *err, int *rc)
{
    static_mem sm;
    *rc = static_memory(&p->g, mc, &sm, err);
    if (*rc)
        return 0;
    return budget > 0 ? budget - sm.total : INT64_MAX / 4;
}

/* The segment DP with its internal budget corrected by simulation. */
static int segment_search(const profile *p, const mem_config *mc, const solver_opts *o,
                          const chain *c, const chain_model *m, cand *best, remat_err *err)
{
    int rc = 0;
    int64_t M = dynamic_budget(p, mc, o->budget_bytes, err, &rc);
    if (rc)
        return rc;
    unsigned char *start = calloc((size_t)c->n, 1), *rec = calloc((size_t)c->n, 1);
    unsigned char *unit = calloc((size_t)c->n, 1);
    if (!start || !rec || !unit) {
        free(start);
        free(rec);
        free(unit);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    chain_unit_starts(c, unit);
    int64_t Mi = M;
    for (int attempt = 0; attempt < 6 && Mi >= 0 && !rc; attempt++) {
        double cost;
        int r = segment_dp(m, unit, Mi, start, rec, &cost);
        if (r == -ENOSPC)
            break;
        if (r) {
            rc = remat_fail(err, r, "out of memory");
            break;
        }
        schedule s;
        rc = lower_two_level(&p->g, c, start, rec, &s, err);
        if (rc)
            break;
        int64_t peak = 0;
        rc = offer_checked(p, mc, o->budget_bytes, best, &s, true, &peak, err);
        if (rc || o->budget_bytes <= 0 || peak <= o->budget_bytes)
            break;
        Mi -= peak - o->budget_bytes;
    }
    free(start);
    free(rec);
    free(unit);
    return rc;
}

/* The two-level baselines as candidates (segment is never worse than them). */
static int baseline_candidates(const profile *p, const mem_config *mc, const solver_opts *o,
                               const chain *c, cand *best, remat_err *err)
{
    static const solver_kind ks[] = {SOLVER_NONE, SOLVER_SQRT, SOLVER_FULL, SOLVER_GREEDY};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        plan t;
        memset(&t, 0, sizeof t);
        remat_err e;
        int rc = solve_baseline(p, mc, ks[i], o, c, &t, &e);
        if (rc == 0)
            rc = offer_checked(p, mc, o->budget_bytes, best, &t.sched, false, NULL, &e);
        schedule_free(&t.sched);
        if (rc && rc != -ENOSPC)
            return remat_fail(err, rc, "%s", e.msg);
    }
    return 0;
}

/* ---------------------------------------------------------------- Rotor DP */

typedef struct rotor {
    const chain_model *m;
    int L, S;             /* stages, memory slots (0..S) */
    bool revolve;
    /* sizes in slots */
    int *x, *g, *fn, *fa, *sv, *bw;
    float *tab;           /* (S+1) x L(L+1)/2 */
} rotor;

static size_t tri(int L, int i, int l) /* index of (i, l), i <= l, row-major by i */
{
    return (size_t)i * (size_t)(2 * L - i + 1) / 2 + (size_t)(l - i);
}

/* The table is laid out [range (i, l)][m] so that one range's row over every
 * memory size is contiguous: the fill works on whole rows. */
static float *row(const rotor *R, int i, int l)
{
    return &R->tab[tri(R->L, i, l) * (size_t)(R->S + 1)];
}

static float *cell(const rotor *R, int m, int i, int l) { return &row(R, i, l)[m]; }

/* Evaluates OPT(m, i, l) from smaller entries; *choice: -1 leaf, 0 case (b),
 * j > i case (a) at j, -2 infeasible. The table fill and the lowering both use it,
 * so they agree exactly. */
static float rotor_eval(const rotor *R, int m, int i, int l, int *choice)
{
    const int gl = R->g[l + 1];
    const float c0 = (float)(R->m->st[i].uf + R->m->st[i].ub);
    const int need = max64(gl + R->fa[i], R->bw[i]);
    float best = INFINITY;
    *choice = -2;
    if (i == l) {
        if (m >= need) {
            best = c0;
            *choice = -1;
        }
        return best;
    }
    if (!R->revolve) {
        const int off = R->sv[i] + R->x[i + 1];
        if (m >= need && m >= off) {
            float v = *cell(R, m - off, i + 1, l);
            if (isfinite(v)) {
                best = c0 + v;
                *choice = 0;
            }
        }
    }
    double u = 0;
    int adv = 0;
    for (int j = i + 1; j <= l; j++) {
        const int r = j - 1;
        if (!R->revolve) {
            int a = (r > i ? R->x[r] : 0) + gl + R->fn[r];
            if (a > adv)
                adv = a;
            if (adv > m)
                break;
        }
        u += R->m->st[r].uf;
        const int xj = R->revolve && j == l ? 0 : R->x[j];
        if (xj > m)
            continue;
        float v = (float)u + *cell(R, m - xj, j, l) + *cell(R, m, i, j - 1);
        if (v < best) {
            best = v;
            *choice = j;
        }
    }
    return best;
}

/* Fills the table range by range (shorter first), each range's row for every m at
 * once. Computes exactly what rotor_eval computes, in the same order, so the
 * lowering's choices reproduce the table's values. */
static void rotor_fill(rotor *R)
{
    const int S = R->S;
    for (int d = 0; d < R->L; d++)
        for (int i = 0; i + d < R->L; i++) {
            const int l = i + d, gl = R->g[l + 1];
            float *out = row(R, i, l);
            for (int m = 0; m <= S; m++)
                out[m] = INFINITY;
            const float c0 = (float)(R->m->st[i].uf + R->m->st[i].ub);
            const int need = max64(gl + R->fa[i], R->bw[i]);
            if (i == l) {
                for (int m = need; m <= S; m++)
                    out[m] = c0;
                continue;
            }
            if (!R->revolve) {
                const int off = R->sv[i] + R->x[i + 1];
                const float *child = row(R, i + 1, l);
                for (int m = need > off ? need : off; m <= S; m++) {
                    float v = child[m - off];
                    if (isfinite(v))
                        out[m] = c0 + v;
                }
            }
            double u = 0;
            int adv = 0;
            for (int j = i + 1; j <= l; j++) {
                const int r = j - 1;
                if (!R->revolve) {
                    int a = (r > i ? R->x[r] : 0) + gl + R->fn[r];
                    if (a > adv)
                        adv = a;
                    if (adv > S)
                        break;
                }
                u += R->m->st[r].uf;
                const int xj = R->revolve && j == l ? 0 : R->x[j];
                const float fu = (float)u;
                const float *right = row(R, j, l), *left = row(R, i, j - 1);
                const float *rs = right - xj;
                for (int m = adv > xj ? adv : xj; m <= S; m++) {
                    float v = fu + rs[m] + left[m];
                    out[m] = v < out[m] ? v : out[m];
                }
            }
        }
}

/* Emits the compute sequence of OPT(m, i, l). */
static int rotor_emit(const rotor *R, const chain *c, int m, int i, int l, schedule *s)
{
    int ch;
    rotor_eval(R, m, i, l, &ch);
    int rc = 0;
    if (ch == -1) {
        rc = push_range_fwd(s, c, i, i);
        return rc ? rc : push_stage_bwd(s, c, i);
    }
    if (ch == 0) {
        rc = push_range_fwd(s, c, i, i);
        if (!rc)
            rc = rotor_emit(R, c, m - R->sv[i] - R->x[i + 1], i + 1, l, s);
        return rc ? rc : push_stage_bwd(s, c, i);
    }
    if (ch > i) {
        int xj = R->revolve && ch == l ? 0 : R->x[ch];
        rc = push_range_fwd(s, c, i, ch - 1);
        if (!rc)
            rc = rotor_emit(R, c, m - xj, ch, l, s);
        return rc ? rc : rotor_emit(R, c, m, i, ch - 1, s);
    }
    return -EINVAL;
}

static void rotor_free(rotor *R)
{
    free(R->x);
    free(R->g);
    free(R->fn);
    free(R->fa);
    free(R->sv);
    free(R->bw);
    free(R->tab);
    memset(R, 0, sizeof *R);
}

/* Sizes round to the nearest slot: rounding every size up would overstate a plan
 * that holds k tensors by up to k slots; errors either way are caught by the
 * simulation, which corrects the internal budget and solves again. */
static int to_slots(int64_t b, double unit)
{
    double v = floor((double)b / unit + 0.5);
    return v > INT32_MAX / 4 ? INT32_MAX / 4 : (int)v;
}

/* The slot size for S slots over M bytes, chosen so that the most common stage
 * input size (the residual stream of a transformer, the activation of a
 * homogeneous chain) is a whole number of slots. */
static double slot_unit(const chain_model *m, int64_t M, int S)
{
    int64_t mode = 0;
    int best = 0;
    for (int r = 1; r < m->n; r++) {
        int cnt = 0;
        for (int q = 1; q < m->n; q++)
            cnt += m->st[q].x == m->st[r].x;
        if (m->st[r].x > 0 && (cnt > best || (cnt == best && m->st[r].x > mode))) {
            best = cnt;
            mode = m->st[r].x;
        }
        if (r > 64) /* enough of a sample for long chains */
            break;
    }
    double unit = (double)M / S;
    if (mode > 0 && unit > 0) {
        double k = floor((double)mode / unit + 0.5);
        if (k >= 1)
            unit = (double)mode / k;
    }
    return unit > 0 ? unit : 1.0;
}

/* Sets up sizes (in slots of `unit` bytes, or snapshot units in revolve mode) and
 * fills the table for S slots. */
static int rotor_init(rotor *R, const chain_model *m, int S, double unit, bool revolve)
{
    memset(R, 0, sizeof *R);
    R->m = m;
    R->L = m->n;
    R->S = S;
    R->revolve = revolve;
    size_t n1 = (size_t)m->n + 1;
    R->x = calloc(n1, sizeof *R->x);
    R->g = calloc(n1, sizeof *R->g);
    R->fn = calloc(n1, sizeof *R->fn);
    R->fa = calloc(n1, sizeof *R->fa);
    R->sv = calloc(n1, sizeof *R->sv);
    R->bw = calloc(n1, sizeof *R->bw);
    size_t cells = (size_t)(S + 1) * ((size_t)m->n * (size_t)(m->n + 1) / 2);
    R->tab = malloc(cells * sizeof *R->tab);
    if (!R->x || !R->g || !R->fn || !R->fa || !R->sv || !R->bw || !R->tab) {
        rotor_free(R);
        return -ENOMEM;
    }
    for (int r = 0; r <= m->n; r++) {
        const stage_cost *s = &m->st[r];
        if (revolve) {
            R->x[r] = r > 0 && r < m->n ? 1 : 0;
            continue;
        }
        R->x[r] = to_slots(s->x, unit);
        R->g[r] = to_slots(s->g, unit);
        if (r < m->n) {
            R->fn[r] = to_slots(s->fn, unit);
            R->fa[r] = to_slots(s->fa, unit);
            R->sv[r] = to_slots(s->sv, unit);
            R->bw[r] = to_slots(s->bw, unit);
        }
    }
    rotor_fill(R);
    return 0;
}

/* Multi-level DP in bytes: tries the internal budget M, corrected by simulation. */
static int rotor_search(const profile *p, const mem_config *mc, const solver_opts *o,
                        const chain *c, const chain_model *m, cand *best, remat_err *err)
{
    int rc = 0;
    int64_t M = dynamic_budget(p, mc, o->budget_bytes, err, &rc);
    if (rc)
        return rc;
    if (o->budget_bytes <= 0) {
        /* no budget: the model's need of storing everything bounds what helps */
        int64_t need = 0, acc = 0;
        for (int r = 0; r < m->n; r++) {
            need = max64(need, acc + m->st[r].fa + m->st[r + 1].g);
            need = max64(need, acc + m->st[r].bw);
            acc += m->st[r].sv + m->st[r + 1].x;
        }
        M = need;
    }
    if (M < 0)
        return 0;
    /* the least model memory any plan of this DP needs: hold only the chain's input */
    int64_t need_min = 0, adv = 0;
    for (int r = 0; r < m->n; r++) {
        const stage_cost *s = &m->st[r];
        need_min = max64(need_min, max64(s->x + m->st[r + 1].g + s->fa, s->x + s->bw));
        if (r > 0)
            need_min = max64(need_min, m->st[r + 1].g + adv);
        adv = max64(adv, (r > 0 ? s->x : 0) + s->fn);
    }
    /* internal budgets tried: M, then up to 3 x 5% more when rounding to slots makes
     * the table infeasible (the simulation decides) */
    if (M + 3 * (M / 20) < need_min)
        return 0;
    int L = m->n;
    int64_t per_slot = (int64_t)L * (L + 1) / 2;
    const int64_t S_max = DP_TABLE_CAP / per_slot - 1;
    int S = o->slots;
    if (S > S_max)
        S = (int)S_max;
    if (S < 4)
        return remat_fail(err, -E2BIG,
                          "chain of %d stages is too long for the dp table (at most %lld cells)",
                          L, (long long)DP_TABLE_CAP);
    /* one table, filled up to 15% above the budget in slots: the row of the whole
     * chain then answers every internal budget; start at the budget (or the least
     * feasible slot count above it when rounding made it infeasible) and walk down
     * by the simulated excess */
    double unit = slot_unit(m, M, S);
    double top = floor((double)(M + 3 * (M / 20)) / unit);
    if (top > (double)S_max) {
        unit = (double)(M + 3 * (M / 20)) / S_max;
        top = S_max;
    }
    rotor R;
    if (rotor_init(&R, m, (int)top, unit, false))
        return remat_fail(err, -ENOMEM, "out of memory for the dp table");
    const float *whole = row(&R, 0, L - 1);
    int mi = (int)floor((double)M / unit);
    if (mi > R.S)
        mi = R.S;
    while (mi <= R.S && !isfinite(whole[mi]))
        mi++;
    for (int attempt = 0; attempt < 8 && mi >= 0 && mi <= R.S && !rc; attempt++) {
        if (!isfinite(whole[mi]))
            break;
        schedule raw = {0, 0, NULL}, sch;
        rc = rotor_emit(&R, c, mi, 0, L - 1, &raw);
        if (!rc)
            rc = schedule_push(&raw, INS_OPT, 0, 0);
        if (rc) {
            schedule_free(&raw);
            rc = remat_fail(err, -ENOMEM, "out of memory");
            break;
        }
        rc = schedule_finalize(&p->g, &raw, &sch, err);
        schedule_free(&raw);
        if (rc)
            break;
        int64_t peak = 0;
        rc = offer_checked(p, mc, o->budget_bytes, best, &sch, true, &peak, err);
        if (rc || o->budget_bytes <= 0 || peak <= o->budget_bytes)
            break;
        mi -= (int)ceil((double)(peak - o->budget_bytes) / unit) + 1;
    }
    rotor_free(&R);
    return rc;
}

/* ---------------------------------------------------------------- revolve */

static bool homogeneous(const chain_model *m)
{
    for (int r = 1; r + 1 < m->n; r++)
        if (fabs(m->st[r].uf - m->st[0].uf) > 1e-12 * (fabs(m->st[0].uf) + 1e-300))
            return false;
    return true;
}

/* Homogeneous revolve table: P[n][k] = least advances to reverse n stages holding
 * the first stage's input and k more snapshots; C[n][k] = the advance count j of
 * the first step. */
typedef struct revolve_tab {
    int N, K;
    int *P, *C;
} revolve_tab;

static int *rv(const revolve_tab *t, int *a, int n, int k) { return &a[(size_t)n * (t->K + 1) + k]; }

static int revolve_build(revolve_tab *t, int N, int K)
{
    t->N = N;
    t->K = K;
    size_t cells = (size_t)(N + 1) * (size_t)(K + 1);
    t->P = malloc(cells * sizeof *t->P);
    t->C = malloc(cells * sizeof *t->C);
    if (!t->P || !t->C) {
        free(t->P);
        free(t->C);
        return -ENOMEM;
    }
    for (int k = 0; k <= K; k++) {
        *rv(t, t->P, 1, k) = 0;
        *rv(t, t->C, 1, k) = 0;
    }
    for (int n = 2; n <= N; n++)
        for (int k = 0; k <= K; k++) {
            int best = INT32_MAX, bj = 0;
            for (int j = 1; j < n; j++) {
                int rest = n - j, need = rest > 1 ? 1 : 0;
                if (need > k)
                    continue;
                int v = j + *rv(t, t->P, rest, k - need) + *rv(t, t->P, j, k);
                if (v < best) {
                    best = v;
                    bj = j;
                }
            }
            *rv(t, t->P, n, k) = best;
            *rv(t, t->C, n, k) = bj;
        }
    return 0;
}

static int revolve_emit(const revolve_tab *t, const chain *c, int k, int i, int l, schedule *s)
{
    int rc = 0;
    while (!rc) {
        int n = l - i + 1;
        if (n == 1) {
            rc = push_range_fwd(s, c, i, i);
            return rc ? rc : push_stage_bwd(s, c, i);
        }
        int j = *rv(t, t->C, n, k);
        int rest = n - j;
        rc = push_range_fwd(s, c, i, i + j - 1);
        if (!rc)
            rc = revolve_emit(t, c, k - (rest > 1), i + j, l, s);
        l = i + j - 1; /* then the left part with the same snapshots */
    }
    return rc;
}

static int revolve_plan(const profile *p, const mem_config *mc, const solver_opts *o,
                        const chain *c, const chain_model *m, cand *best, remat_err *err)
{
    int L = m->n, s = o->max_checkpoints;
    schedule raw = {0, 0, NULL}, fin;
    int rc = 0;
    if (homogeneous(m)) {
        revolve_tab t;
        if (revolve_build(&t, L, s - 1))
            return remat_fail(err, -ENOMEM, "out of memory");
        rc = revolve_emit(&t, c, s - 1, 0, L - 1, &raw);
        free(t.P);
        free(t.C);
    } else {
        rotor R;
        if ((int64_t)s * L * (L + 1) / 2 > DP_TABLE_CAP)
            return remat_fail(err, -E2BIG, "chain of %d stages with %d checkpoints is too large "
                                           "for the dp table", L, s);
        if (rotor_init(&R, m, s - 1, 1.0, true))
            return remat_fail(err, -ENOMEM, "out of memory for the dp table");
        rc = rotor_emit(&R, c, s - 1, 0, L - 1, &raw);
        rotor_free(&R);
    }
    if (!rc)
        rc = schedule_push(&raw, INS_OPT, 0, 0);
    if (rc) {
        schedule_free(&raw);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    rc = schedule_finalize(&p->g, &raw, &fin, err);
    schedule_free(&raw);
    if (rc)
        return rc;
    return offer_checked(p, mc, o->budget_bytes, best, &fin, true, NULL, err);
}

/* ---------------------------------------------------------------- entry */

int solve_dp(const profile *p, const mem_config *mc, solver_kind k, const solver_opts *o,
             const chain *c, plan *out, remat_err *err)
{
    if (k != SOLVER_SEGMENT && k != SOLVER_DP)
        return remat_fail(err, -EINVAL, "solver %s is not a dp solver", solver_name(k));
    chain_model m;
    int rc = build_model(p, mc, c, &m, err);
    if (rc)
        return rc;
    cand best;
    memset(&best, 0, sizeof best);
    if (k == SOLVER_DP && o->max_checkpoints > 0) {
        rc = revolve_plan(p, mc, o, c, &m, &best, err);
    } else if (k == SOLVER_SEGMENT) {
        rc = segment_search(p, mc, o, c, &m, &best, err);
        if (!rc)
            rc = baseline_candidates(p, mc, o, c, &best, err);
    } else {
        /* solver_plan also plans `segment` and keeps it when it is cheaper, so dp is
         * never worse than the two-level plans */
        rc = rotor_search(p, mc, o, c, &m, &best, err);
    }
    model_free(&m);
    if (rc) {
        schedule_free(&best.s);
        return rc;
    }
    if (!best.have) {
        snprintf(out->status, sizeof out->status, "infeasible");
        return remat_fail(err, -ENOSPC, "no %s plan fits the budget", solver_name(k));
    }
    out->sched = best.s;
    snprintf(out->status, sizeof out->status, "%s", best.from_dp ? "optimal" : "feasible");
    return 0;
}
