/* tests/ilp/test_ilp_core.c — the Checkmate ILP on abstract training DAGs and on
 * small hand-built graphs: optimality against an exhaustive search, Checkmate's
 * 8-layer linear graph, MIP starts, LP relaxation with rounding, the LP dump read
 * back by glpsol, the size guard and argument checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/ilp/exhaustive.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this process: the machine is shared, wall time says little. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static ilp_params params(double budget)
{
    ilp_params pa;
    memset(&pa, 0, sizeof pa);
    pa.budget = budget;
    pa.time_limit_s = 30;
    pa.mip_gap = 0;
    return pa;
}

/* Checkmate's linear graph (gen_linear_graph): forward 0..L-1, loss L, backward
 * L+1..2L; node i needs i-1; backward node i also needs forward node 2L-i. Unit
 * costs and memories. The loss is a forward (recomputable) node. */
static void linear_dag(ilp_dag *d, int L)
{
    remat_err e;
    int n = 2 * L + 1;
    assert_int_equal(ilp_dag_init(d, n, L + 1, &e), 0);
    for (int i = 0; i < n; i++) {
        d->cost[i] = 1;
        d->mem[i] = 1;
    }
    for (int i = 1; i < n; i++) {
        assert_int_equal(ilp_dag_add_edge(d, i - 1, i, &e), 0);
        if (i > L)
            assert_int_equal(ilp_dag_add_edge(d, 2 * L - i, i, &e), 0);
    }
    assert_int_equal(ilp_dag_finish(d, &e), 0);
}

static void check_result(const ilp_dag *d, const ilp_result *r, double budget)
{
    double cost, peak;
    remat_err e;
    assert_int_equal(ilp_eval(d, &r->sol, &cost, &peak, &e), 0);
    assert_true(fabs(cost - r->cost) <= 1e-6 * (1 + cost));
    if (budget >= 0)
        assert_true(peak <= budget * (1 + 1e-9) + 1e-9);
}

static void test_checkmate_linear8(void **state)
{
    (void)state;
    ilp_dag d;
    linear_dag(&d, 8);
    assert_int_equal(d.n, 17);
    ilp_params pa = params(4);
    ilp_result r;
    remat_err e;
    double t0 = now(), c0 = cpu_now();
    assert_int_equal(ilp_solve_mip(&d, &pa, &r, &e), 0);
    double el = now() - t0, cpu = cpu_now() - c0;
    assert_string_equal(r.status, "optimal");
    check_result(&d, &r, 4);
    double ex = exhaustive_optimum(&d, 4);
    assert_true(fabs(ex - r.cost) < 1e-6);
    assert_true(r.cost > 17); /* budget 4 forces recomputation */
    print_message("checkmate 8-layer linear, budget 4: optimum %.0f, %lld vars, %lld rows, "
                  "%.3f s CPU (%.3f s wall)\n",
                  r.cost, r.cols, r.rows, cpu, el);
    /* "well under a second" (about 0.05 s CPU in an optimised build); room for
     * sanitizers and valgrind */
    assert_true(cpu < (getenv("ILP_STRICT_TIME") ? 1.0 : 20.0));
    ilp_result_free(&r);
    /* the optimum again, started from itself: GLPK takes the seed */
    assert_int_equal(ilp_solve_mip(&d, &pa, &r, &e), 0);
    ilp_params ps = pa;
    ps.seed = &r.sol;
    ilp_result r2;
    assert_int_equal(ilp_solve_mip(&d, &ps, &r2, &e), 0);
    assert_string_equal(r2.status, "optimal");
    assert_true(fabs(r2.cost - r.cost) < 1e-9);
    assert_non_null(r2.start);
    assert_string_equal(r2.start, "seed");
    ilp_result_free(&r2);
    ilp_result_free(&r);
    /* with room for everything nothing is recomputed */
    pa = params(100);
    assert_int_equal(ilp_solve_mip(&d, &pa, &r, &e), 0);
    assert_string_equal(r.status, "optimal");
    assert_true(fabs(r.cost - 17) < 1e-9);
    ilp_result_free(&r);
    /* below the least feasible memory (node + input + output gradient ...) */
    pa = params(2);
    assert_int_equal(ilp_solve_mip(&d, &pa, &r, &e), 0);
    assert_string_equal(r.status, "infeasible");
    assert_true(isinf(exhaustive_optimum(&d, 2)));
    ilp_result_free(&r);
    ilp_dag_free(&d);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* A random abstract training DAG in the shape ilp_dag_from_profile makes: forward
 * nodes with 1-2 earlier inputs (residual joins), a loss, backward nodes needing
 * their forward node, some forward inputs and the gradient of the consumers. */
static void random_dag(ilp_dag *d, int nf)
{
    remat_err e;
    int n = 2 * nf;
    unsigned char uses[32][32] = {{0}}; /* uses[f][j]: forward j reads f */
    assert_int_equal(ilp_dag_init(d, n, nf, &e), 0);
    for (int i = 0; i < n; i++) {
        d->cost[i] = 1 + rnd(4);
        d->mem[i] = 1 + rnd(3);
        d->ws[i] = rnd(3) == 0 ? rnd(2) : 0;
    }
    for (int j = 1; j < nf; j++) {
        uses[j - 1][j] = 1;
        if (j > 1 && rnd(3) == 0)
            uses[rnd((uint32_t)(j - 1))][j] = 1;
    }
    for (int f = 0; f < nf; f++) {
        int b = n - 1 - f;
        assert_int_equal(ilp_dag_add_edge(d, f, b, &e), 0);
        if (f > 0 && rnd(2))
            assert_int_equal(ilp_dag_add_edge(d, f - 1, b, &e), 0);
        for (int j = f + 1; j < nf; j++)
            if (uses[f][j]) {
                assert_int_equal(ilp_dag_add_edge(d, f, j, &e), 0);
                /* the gradient from the consumer's backward node */
                assert_int_equal(ilp_dag_add_edge(d, n - 1 - j, b, &e), 0);
            }
    }
    assert_int_equal(ilp_dag_finish(d, &e), 0);
}

static double no_recompute_peak(const ilp_dag *d)
{
    ilp_sol s;
    assert_int_equal(ilp_sol_alloc(&s, d), 0);
    for (int t = 0; t < d->n; t++)
        s.R[(size_t)t * d->n + t] = 1;
    ilp_min_s(d, &s);
    double cost, peak;
    remat_err e;
    assert_int_equal(ilp_eval(d, &s, &cost, &peak, &e), 0);
    ilp_sol_free(&s);
    return peak;
}

/* Solves d at budget B and checks it against the exhaustive search: infeasible
 * exactly when it finds nothing, else optimal with its cost. Returns the ILP's cost,
 * or -1 when infeasible. */
static double match_exhaustive(const ilp_dag *d, double B, int trial, int nf)
{
    double t0 = cpu_now();
    double ex = exhaustive_optimum(d, B);
    double t1 = cpu_now();
    ilp_params pa = params(B);
    ilp_result r;
    remat_err e;
    assert_int_equal(ilp_solve_mip(d, &pa, &r, &e), 0);
    if (getenv("ILP_TEST_TIMES"))
        print_message("nf %d B %g: exhaustive %.3f s, ilp %.3f s (%s)\n", nf, B, t1 - t0,
                      cpu_now() - t1, r.status);
    double cost = -1;
    if (isinf(ex)) {
        assert_string_equal(r.status, "infeasible");
    } else {
        assert_string_equal(r.status, "optimal");
        check_result(d, &r, B);
        if (fabs(ex - r.cost) > 1e-6)
            fail_msg("trial %d (nf %d, B %g): ILP %g, exhaustive %g", trial, nf, B, r.cost, ex);
        cost = r.cost;
    }
    ilp_result_free(&r);
    return cost;
}

static void test_random_dags_match_exhaustive(void **state)
{
    (void)state;
    int checked = 0, binding = 0;
    for (int trial = 0; trial < 24; trial++) {
        int nf = 4 + (int)rnd(9); /* 4..12 forward nodes, 8..24 nodes */
        ilp_dag d;
        random_dag(&d, nf);
        double top = no_recompute_peak(&d);
        double B = floor(top * (0.55 + 0.08 * rnd(6)));
        double cost = match_exhaustive(&d, B, trial, nf);
        if (cost >= 0) {
            double base = 0;
            for (int i = 0; i < d.n; i++)
                base += d.cost[i];
            binding += cost > base + 1e-9;
            checked++;
        }
        ilp_dag_free(&d);
    }
    print_message("random DAGs: %d optimal solutions matched, %d with recomputation\n", checked,
                  binding);
    assert_true(checked >= 12);
    assert_true(binding >= 6);
}

/* Budgets from far below to just above the least feasible one: the ilp says
 * infeasible exactly when the exhaustive search finds nothing (the LP relaxation's
 * infeasibility, reported by GLPK's presolver, included), else matches it. */
static void test_random_dags_near_infeasible(void **state)
{
    (void)state;
    int infeasible = 0, feasible = 0;
    for (int trial = 0; trial < 12; trial++) {
        int nf = 4 + (int)rnd(4); /* 4..7 forward nodes */
        ilp_dag d;
        random_dag(&d, nf);
        double top = no_recompute_peak(&d);
        for (int k = 1; k <= 6; k++) {
            if (match_exhaustive(&d, floor(top * (0.45 + 0.09 * k)), trial, nf) < 0)
                infeasible++;
            else
                feasible++;
        }
        ilp_dag_free(&d);
    }
    print_message("near-infeasible budgets: %d infeasible, %d optimal, all as exhaustive\n",
                  infeasible, feasible);
    assert_true(infeasible >= 6 && feasible >= 6);
}


/* ---------------------------------------------------------------- graphs */

static int tensor(graph *g, const char *name, tensor_role role, remat_dtype dt, int64_t b,
                  int64_t w)
{
    remat_err e;
    int64_t shp[2] = {b, w};
    int idx = graph_add_tensor(g, name, role, dt, w > 0 ? 2 : 1, shp, &e);
    assert_true(idx >= 0);
    return idx;
}

static void op(graph *g, op_kind k, const char *name, const char *module, const int *in, int nin,
               int out, int extra, const int *saved, int nsaved, int param)
{
    graph_op o;
    memset(&o, 0, sizeof o);
    o.kind = k;
    o.name = (char *)name;
    o.module = (char *)module;
    o.n_in = nin;
    if (nin > 0) /* memcpy from NULL is undefined even for 0 bytes */
        memcpy(o.in, in, (size_t)nin * sizeof *in);
    o.out = out;
    if (extra >= 0) {
        o.n_extra = 1;
        o.extra[0] = extra;
    }
    o.n_saved = nsaved;
    if (nsaved > 0)
        memcpy(o.saved, saved, (size_t)nsaved * sizeof *saved);
    if (param >= 0) {
        o.n_param = 1;
        o.param[0] = param;
    }
    o.flops_fwd = o.flops_bwd = 100;
    remat_err e;
    assert_true(graph_add_op(g, &o, &e) >= 0);
}

/* A random graph of nops ops (the last a loss): chains of stage/relu/dropout ops
 * with residual adds joining an earlier activation, module paths blocks.N.opM.
 * Integer op times make the optimum exact. */
static void random_graph(profile *p, int nops)
{
    graph g;
    graph_init(&g, "random");
    const int64_t B = 2, W = 4;
    int x = tensor(&g, "x", ROLE_INPUT, DT_F32, B, W);
    int tg = tensor(&g, "targets", ROLE_INPUT, DT_I32, B, 0);
    int acts[16], na = 0, prev = x;
    char name[64], mod[64], tn[96];
    for (int j = 0; j < nops - 1; j++) {
        snprintf(name, sizeof name, "blocks.%d.op%d", j / 3, j);
        snprintf(mod, sizeof mod, "blocks.%d.op%d", j / 3, j);
        snprintf(tn, sizeof tn, "%s.out", name);
        int y = tensor(&g, tn, ROLE_ACT, DT_F32, B, W);
        int kind = na >= 2 ? (int)rnd(4) : (int)rnd(3);
        if (kind == 0) { /* stage: saves its input and output */
            snprintf(tn, sizeof tn, "%s.w", name);
            int w = tensor(&g, tn, ROLE_PARAM, DT_F32, W, 0);
            op(&g, OP_STAGE, name, mod, (int[]){prev}, 1, y, -1, (int[]){prev, y}, 2, w);
        } else if (kind == 1) { /* relu: saves its output */
            op(&g, OP_RELU, name, mod, (int[]){prev}, 1, y, -1, (int[]){y}, 1, -1);
        } else if (kind == 2) { /* dropout: a one-byte mask only its backward reads */
            snprintf(tn, sizeof tn, "%s.mask", name);
            int64_t shp[2] = {B, W};
            remat_err e;
            int mk = graph_add_tensor(&g, tn, ROLE_EXTRA, DT_U8, 2, shp, &e);
            assert_true(mk >= 0);
            op(&g, OP_DROPOUT, name, mod, (int[]){prev}, 1, y, mk, (int[]){mk}, 1, -1);
        } else { /* residual add of the previous output and an earlier one */
            int other = acts[rnd((uint32_t)(na - 1))];
            op(&g, OP_ADD, name, mod, (int[]){prev, other}, 2, y, -1, NULL, 0, -1);
        }
        acts[na++] = y;
        prev = y;
    }
    int lo = tensor(&g, "loss.out", ROLE_ACT, DT_F32, 1, 0);
    int lse = tensor(&g, "loss.lse", ROLE_EXTRA, DT_F32, B, 0);
    op(&g, OP_LOSS, "loss", "loss", (int[]){prev, tg}, 2, lo, lse, (int[]){prev, tg, lse}, 3, -1);
    remat_err e;
    assert_int_equal(graph_validate(&g, &e), 0);
    assert_int_equal(profile_analytic(p, &g, device_find("cpu"), &e), 0);
    for (int j = 0; j < p->g.n_ops; j++) {
        p->ops[j].time_fwd_s = 1 + rnd(3);
        p->ops[j].time_bwd_s = 1 + rnd(4);
    }
}

static void dag_of(const profile *p, granularity gran, ilp_dag *d)
{
    int64_t *tb = malloc((size_t)p->g.n_tensors * sizeof *tb);
    for (int t = 0; t < p->g.n_tensors; t++)
        tb[t] = p->g.tensors[t].bytes;
    remat_err e;
    int rc = ilp_dag_from_profile(p, tb, gran, 1.0, 1.0, d, &e);
    if (rc)
        print_error("dag: %s\n", e.msg);
    assert_int_equal(rc, 0);
    free(tb);
}

static void test_random_graphs_match_exhaustive(void **state)
{
    (void)state;
    int checked = 0, binding = 0;
    for (int trial = 0; trial < 20; trial++) {
        int nops = 5 + (int)rnd(8); /* 5..12 ops */
        profile p;
        random_graph(&p, nops);
        ilp_dag d;
        dag_of(&p, GRAN_OP, &d);
        assert_int_equal(d.n, 2 * nops);
        double top = no_recompute_peak(&d);
        double B = floor(top * (0.6 + 0.07 * rnd(6)));
        double t0 = cpu_now();
        double ex = exhaustive_optimum(&d, B);
        if (isnan(ex)) { /* too many forward values for the search */
            ilp_dag_free(&d);
            profile_free(&p);
            continue;
        }
        double t1 = cpu_now();
        ilp_params pa = params(B);
        ilp_result r;
        remat_err e;
        assert_int_equal(ilp_solve_mip(&d, &pa, &r, &e), 0);
        if (getenv("ILP_TEST_TIMES"))
            print_message("%d ops, %d values, B %g: exhaustive %.3f s, ilp %.3f s (%s)\n", nops,
                          d.nv, B, t1 - t0, cpu_now() - t1, r.status);
        if (isinf(ex)) {
            assert_string_equal(r.status, "infeasible");
        } else {
            assert_string_equal(r.status, "optimal");
            check_result(&d, &r, B);
            if (fabs(ex - r.cost) > 1e-6)
                fail_msg("graph trial %d (%d ops, B %g): ILP %g, exhaustive %g", trial, nops, B,
                         r.cost, ex);
            double base = 0;
            for (int i = 0; i < d.n; i++)
                base += d.cost[i];
            binding += r.cost > base + 1e-9;
            checked++;
        }
        ilp_result_free(&r);
        ilp_dag_free(&d);
        profile_free(&p);
    }
    print_message("random graphs: %d optimal solutions matched, %d with recomputation\n",
                  checked, binding);
    assert_true(checked >= 10);
    assert_true(binding >= 5);
}

static void test_group_keys(void **state)
{
    (void)state;
    char b[256];
    ilp_group_key("transformer.h.3.attn.c_attn", GRAN_OP, b, sizeof b);
    assert_string_equal(b, "transformer.h.3.attn.c_attn");
    ilp_group_key("transformer.h.3.attn.c_attn", GRAN_MODULE, b, sizeof b);
    assert_string_equal(b, "transformer.h.3.attn");
    ilp_group_key("transformer.h.3.attn.c_attn", GRAN_BLOCK, b, sizeof b);
    assert_string_equal(b, "transformer.h.3");
    ilp_group_key("model.layers.12.mlp.up_proj", GRAN_BLOCK, b, sizeof b);
    assert_string_equal(b, "model.layers.12");
    ilp_group_key("layer2.1.conv1", GRAN_BLOCK, b, sizeof b);
    assert_string_equal(b, "layer2");
    ilp_group_key("transformer.wte", GRAN_BLOCK, b, sizeof b);
    assert_string_equal(b, "transformer");
    ilp_group_key("lm_head", GRAN_MODULE, b, sizeof b);
    assert_string_equal(b, "lm_head");
    ilp_group_key("loss", GRAN_BLOCK, b, sizeof b);
    assert_string_equal(b, "loss");
    ilp_group_key("a.b.c", GRAN_MODULE, b, 3); /* truncated, terminated */
    assert_string_equal(b, "a.");
}

/* The mlp's training DAG, tensor by tensor. */
static void test_dag_from_mlp(void **state)
{
    (void)state;
    model_spec sp;
    memset(&sp, 0, sizeof sp);
    sp.name = "mlp";
    sp.batch = 2;
    sp.dtype = -1;
    sp.dropout = -1;
    char *storage = NULL;
    remat_err e;
    assert_int_equal(model_spec_parse_set(&sp, "depth=2,width=8,classes=3", &storage, &e), 0);
    graph g;
    assert_int_equal(zoo_build(&sp, &g, &e), 0);
    free(storage);
    profile p;
    assert_int_equal(profile_analytic(&p, &g, device_find("cpu"), &e), 0);
    /* ops: layers.0.fc, layers.0.act, layers.1.fc, layers.1.act, head, loss */
    assert_int_equal(p.g.n_ops, 6);
    ilp_dag d;
    dag_of(&p, GRAN_OP, &d);
    assert_int_equal(d.n, 12);
    assert_int_equal(d.n_fwd, 6);
    /* fc0's output is read by act0's forward only (relu saves its output): one value */
    assert_int_equal(d.out_off[1] - d.out_off[0], 1);
    int v = d.out[d.out_off[0]];
    assert_int_equal(d.user_off[v + 1] - d.user_off[v], 1);
    assert_int_equal(d.user[d.user_off[v]], 1);
    /* act0's output: read by fc1's forward, act0's backward (node 10) and fc1's (9) */
    v = d.out[d.out_off[1]];
    assert_int_equal(d.user_off[v + 1] - d.user_off[v], 3);
    assert_int_equal(d.user[d.user_off[v]], 2);
    assert_int_equal(d.user[d.user_off[v] + 1], 9);
    assert_int_equal(d.user[d.user_off[v] + 2], 10);
    assert_true(fabs(d.v_mem[v] - 2 * 8 * 4) < 1e-9);
    /* the loss keeps lse (its backward reads it); loss.out is read by no one */
    assert_int_equal(d.out_off[6] - d.out_off[5], 1);
    /* backward of act1 (node 7) allocates the gradient of fc1's output, read by fc1's
     * backward (node 8) */
    assert_int_equal(d.out_off[8] - d.out_off[7], 1);
    v = d.out[d.out_off[7]];
    assert_int_equal(d.user[d.user_off[v]], 8);
    /* every op's cost carried over */
    assert_true(fabs(d.cost[0] - p.ops[0].time_fwd_s) < 1e-15);
    assert_true(fabs(d.cost[11] - p.ops[0].time_bwd_s) < 1e-15);
    assert_int_equal(d.last[0], 10); /* fc0: recomputable while act0 may be, up to its backward */
    ilp_dag_free(&d);
    /* block granularity: layers.0, layers.1, head, loss */
    dag_of(&p, GRAN_BLOCK, &d);
    assert_int_equal(d.n_groups, 4);
    assert_string_equal(d.group_name[0], "layers.0");
    assert_int_equal(d.op_first[1], 2);
    assert_int_equal(d.op_last[1], 3);
    /* fc0.out dies inside layers.0's forward: only act0's output is a value */
    assert_int_equal(d.out_off[1] - d.out_off[0], 1);
    ilp_dag_free(&d);
    profile_free(&p);
}

static void test_lp_round(void **state)
{
    (void)state;
    int feasible = 0;
    for (int trial = 0; trial < 10; trial++) {
        ilp_dag d;
        random_dag(&d, 5 + (int)rnd(5));
        double B = floor(no_recompute_peak(&d) * 0.7);
        ilp_params pa = params(B);
        ilp_result lp, ex;
        remat_err e;
        assert_int_equal(ilp_solve_lp_round(&d, &pa, &lp, &e), 0);
        assert_int_equal(ilp_solve_mip(&d, &pa, &ex, &e), 0);
        if (strcmp(lp.status, "feasible") == 0 || strcmp(lp.status, "optimal") == 0) {
            check_result(&d, &lp, B);
            assert_true(lp.cost >= ex.cost - 1e-9); /* never below the optimum */
            assert_true(lp.bound <= ex.cost + 1e-6); /* the LP bounds it from below */
            assert_true(lp.gap >= 0 && lp.gap < 1);
            feasible++;
        } else {
            assert_string_equal(lp.status, "infeasible");
        }
        ilp_result_free(&lp);
        ilp_result_free(&ex);
        ilp_dag_free(&d);
    }
    assert_true(feasible >= 5);
}

static void test_dump_lp_glpsol(void **state)
{
    (void)state;
    ilp_dag d;
    linear_dag(&d, 6);
    char path[] = "/tmp/remat_ilp_test_XXXXXX.lp";
    int fd = mkstemps(path, 3);
    assert_true(fd >= 0);
    close(fd);
    ilp_params pa = params(4);
    pa.dump_lp = path;
    ilp_result r;
    remat_err e;
    assert_int_equal(ilp_solve_mip(&d, &pa, &r, &e), 0);
    assert_string_equal(r.status, "optimal");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "glpsol --lp %s 2>&1", path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char line[512];
    double obj = -1;
    bool optimal = false;
    while (fgets(line, sizeof line, f)) {
        const char *q = strstr(line, "mip =");
        if (q)
            obj = strtod(q + 5, NULL);
        optimal |= strstr(line, "INTEGER OPTIMAL SOLUTION FOUND") != NULL;
    }
    assert_int_equal(pclose(f), 0);
    assert_true(optimal);
    assert_true(fabs(obj - r.cost) < 1e-6);
    /* the file names the formulation's symbols */
    f = fopen(path, "r");
    assert_non_null(f);
    bool has_r = false, has_free = false, has_mem = false;
    while (fgets(line, sizeof line, f)) {
        has_r |= strstr(line, "R_3_1") != NULL;
        has_free |= strstr(line, "FREE_") != NULL;
        has_mem |= strstr(line, "mem_") != NULL;
    }
    fclose(f);
    assert_true(has_r && has_free && has_mem);
    unlink(path);
    ilp_result_free(&r);
    /* an unwritable path: a clean error, no crash */
    pa.dump_lp = "/nonexistent-dir/x.lp";
    assert_int_not_equal(ilp_solve_mip(&d, &pa, &r, &e), 0);
    assert_non_null(strstr(e.msg, "/nonexistent-dir/x.lp"));
    ilp_result_free(&r);
    ilp_dag_free(&d);
}

static void test_size_guard_and_arguments(void **state)
{
    (void)state;
    ilp_dag d;
    linear_dag(&d, 400); /* 801 nodes */
    remat_err e;
    assert_int_equal(ilp_check_size(&d, false, 60, "op", &e), -E2BIG);
    assert_non_null(strstr(e.msg, "--granularity"));
    ilp_dag_free(&d);
    assert_int_equal(ilp_dag_init(&d, 5000, 2500, &e), 0);
    for (int i = 1; i < 5000; i++)
        assert_int_equal(ilp_dag_add_edge(&d, i - 1, i, &e), 0);
    assert_int_equal(ilp_dag_finish(&d, &e), 0);
    assert_int_equal(ilp_check_size(&d, true, 60, "op", &e), -E2BIG);
    assert_non_null(strstr(e.msg, "nodes"));
    ilp_dag_free(&d);
    linear_dag(&d, 4);
    assert_int_equal(ilp_check_size(&d, false, 60, "op", &e), 0);
    ilp_result r;
    ilp_params pa = params(4);
    pa.time_limit_s = 0;
    assert_int_equal(ilp_solve_mip(&d, &pa, &r, &e), -EINVAL);
    pa = params(NAN);
    assert_int_equal(ilp_solve_mip(&d, &pa, &r, &e), -EINVAL);
    pa = params(4);
    pa.mip_gap = -1;
    assert_int_equal(ilp_solve_lp_round(&d, &pa, &r, &e), -EINVAL);
    pa = params(4);
    pa.dump_lp = "";
    assert_int_equal(ilp_solve_mip(&d, &pa, &r, &e), -EINVAL);
    ilp_sol other;
    ilp_dag d2;
    linear_dag(&d2, 3);
    assert_int_equal(ilp_sol_alloc(&other, &d2), 0);
    pa = params(4);
    pa.seed = &other;
    assert_int_equal(ilp_solve_mip(&d, &pa, &r, &e), -EINVAL);
    ilp_sol_free(&other);
    ilp_dag_free(&d2);
    /* bad DAGs */
    assert_int_equal(ilp_dag_init(&d2, 3, 0, &e), -EINVAL);
    assert_int_equal(ilp_dag_init(&d2, 4, 2, &e), 0);
    assert_int_equal(ilp_dag_add_edge(&d2, 2, 1, &e), -EINVAL);
    d2.cost[1] = NAN;
    assert_int_equal(ilp_dag_finish(&d2, &e), -EINVAL);
    ilp_dag_free(&d2);
    assert_int_equal(ilp_dag_init(&d2, 4, 2, &e), 0);
    assert_int_equal(ilp_dag_add_edge(&d2, 2, 3, &e), 0);
    assert_int_equal(ilp_dag_add_edge(&d2, 0, 1, &e), 0);
    /* a forward node reading a backward value */
    int v = ilp_dag_add_value(&d2, 2, 1.0, &e);
    assert_true(v >= 0);
    assert_int_equal(ilp_dag_add_read(&d2, v, 1, &e), -EINVAL);
    ilp_dag_free(&d2);
    ilp_dag_free(&d);
}

/* GLPK errors (here its memory limit) come back as an error, not an abort, and
 * the next solve works. */
static void test_glpk_error_hook(void **state)
{
    (void)state;
    ilp_dag d;
    linear_dag(&d, 60);
    ilp_params pa = params(6);
    pa.mem_limit_mb = 1;
    ilp_result r;
    remat_err e;
    int rc = ilp_solve_mip(&d, &pa, &r, &e);
    assert_int_equal(rc, -EIO);
    assert_non_null(strstr(e.msg, "GLPK"));
    ilp_dag_free(&d);
    linear_dag(&d, 8);
    pa = params(4);
    assert_int_equal(ilp_solve_mip(&d, &pa, &r, &e), 0);
    assert_string_equal(r.status, "optimal");
    assert_true(fabs(r.cost - 26) < 1e-9);
    ilp_result_free(&r);
    ilp_dag_free(&d);
}

static void test_eval_rejects_broken_solutions(void **state)
{
    (void)state;
    ilp_dag d;
    linear_dag(&d, 3); /* nodes 0..2 forward, 3 loss, 4..6 backward */
    ilp_sol s;
    assert_int_equal(ilp_sol_alloc(&s, &d), 0);
    remat_err e;
    double cost, peak;
    assert_int_equal(ilp_eval(&d, &s, &cost, &peak, &e), -EINVAL); /* R[0,0] missing */
    for (int t = 0; t < d.n; t++)
        s.R[(size_t)t * d.n + t] = 1;
    assert_int_equal(ilp_eval(&d, &s, &cost, &peak, &e), -EINVAL); /* nothing held */
    ilp_min_s(&d, &s);
    assert_int_equal(ilp_eval(&d, &s, &cost, &peak, &e), 0);
    assert_true(fabs(cost - 7) < 1e-9);
    /* a backward node cannot be recomputed */
    s.R[(size_t)6 * d.n + 5] = 1;
    assert_int_equal(ilp_eval(&d, &s, &cost, &peak, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "R[6,5]"));
    ilp_sol_free(&s);
    ilp_dag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkmate_linear8),
        cmocka_unit_test(test_random_dags_match_exhaustive),
        cmocka_unit_test(test_random_graphs_match_exhaustive),
        cmocka_unit_test(test_group_keys),
        cmocka_unit_test(test_dag_from_mlp),
        cmocka_unit_test(test_random_dags_near_infeasible),
        cmocka_unit_test(test_lp_round),
        cmocka_unit_test(test_dump_lp_glpsol),
        cmocka_unit_test(test_size_guard_and_arguments),
        cmocka_unit_test(test_glpk_error_hook),
        cmocka_unit_test(test_eval_rejects_broken_solutions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
