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
    double t0 = now();
    assert_int_equal(ilp_solve_mip(&d, &pa, &r, &e), 0);
    double el = now() - t0;
    assert_string_equal(r.status, "optimal");
    check_result(&d, &r, 4);
    double ex = exhaustive_optimum(&d, 4);
    assert_true(fabs(ex - r.cost) < 1e-6);
    assert_true(r.cost > 17); /* budget 4 forces recomputation */
    print_message("checkmate 8-layer linear, budget 4: optimum %.0f, %lld vars, %lld rows, "
                  "%.3f s\n",
                  r.cost, r.cols, r.rows, el);
    /* "well under a second" on a machine without sanitizers; leave room for them */
    assert_true(el < 5.0);
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

static void test_random_dags_match_exhaustive(void **state)
{
    (void)state;
    int checked = 0, binding = 0;
    for (int trial = 0; trial < 24; trial++) {
        int nf = 4 + (int)rnd(7); /* 4..10 forward nodes, 8..20 nodes */
        ilp_dag d;
        random_dag(&d, nf);
        double top = no_recompute_peak(&d);
        double B = floor(top * (0.55 + 0.08 * rnd(6)));
        double t0 = cpu_now();
        double ex = exhaustive_optimum(&d, B);
        double t1 = cpu_now();
        ilp_params pa = params(B);
        ilp_result r;
        remat_err e;
        assert_int_equal(ilp_solve_mip(&d, &pa, &r, &e), 0);
        if (getenv("ILP_TEST_TIMES"))
            print_message("nf %d B %g: exhaustive %.3f s, ilp %.3f s (%s)\n", nf, B, t1 - t0,
                          cpu_now() - t1, r.status);
        if (isinf(ex)) {
            assert_string_equal(r.status, "infeasible");
        } else {
            assert_string_equal(r.status, "optimal");
            check_result(&d, &r, B);
            if (fabs(ex - r.cost) > 1e-6)
                fail_msg("trial %d (nf %d, B %g): ILP %g, exhaustive %g", trial, nf, B, r.cost,
                         ex);
            double base = 0;
            for (int i = 0; i < d.n; i++)
                base += d.cost[i];
            binding += r.cost > base + 1e-9;
            checked++;
        }
        ilp_result_free(&r);
        ilp_dag_free(&d);
    }
    print_message("random DAGs: %d optimal solutions matched, %d with recomputation\n", checked,
                  binding);
    assert_true(checked >= 12);
    assert_true(binding >= 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkmate_linear8),
        cmocka_unit_test(test_random_dags_match_exhaustive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
