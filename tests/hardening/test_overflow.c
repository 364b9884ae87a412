/* tests/hardening/test_overflow.c — sizes, budgets and models whose byte counts
 * overflow 64 bits are errors, never wrapped numbers: the size parser, the
 * command line, FLOPs and profile totals (saturated), static memory and the
 * simulated peak (-ERANGE). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reports/reports.h"
#include "tests/cli/cli_util.h"

static void test_overflowing_sizes(void **state)
{
    (void)state;
    static const char *const bad[] = {"99999999999999999999TB", "9300000000000000000",
                                      "1e30", "18446744073709551616B", "8EiB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t b = 0;
        remat_err e = {{0}};
        int rc = remat_parse_size(bad[i], &b, &e);
        if (rc == 0)
            fprintf(stderr, "'%s' parsed as %lld\n", bad[i], (long long)b);
        assert_true(rc < 0);
        assert_true(e.msg[0] != 0);
    }
    /* the command line refuses them with one line */
    cli_run r;
    CLI(&r, "plan", "--model", "mlp", "--budget", "99999999999999999999TB");
    assert_int_not_equal(r.status, 0);
    assert_true(r.status < 128);
    assert_true(cli_one_line(r.err));
    assert_non_null(strstr(r.err, "overflows"));
    cli_run_free(&r);
    CLI(&r, "sweep", "--model", "mlp", "--budgets", "1GB:99999999999TB:1GB");
    assert_int_not_equal(r.status, 0);
    assert_true(cli_one_line(r.err));
    cli_run_free(&r);
}

/* Builds the zoo's mlp with huge sizes. */
static void huge_mlp(profile *p, const char *set, int64_t batch)
{
    model_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.name = "mlp";
    spec.dtype = -1;
    spec.dropout = -1;
    spec.batch = batch;
    char *storage = NULL;
    remat_err e;
    assert_int_equal(model_spec_parse_set(&spec, set, &storage, &e), 0);
    graph g;
    assert_int_equal(zoo_build(&spec, &g, &e), 0);
    free(storage);
    assert_int_equal(profile_analytic(p, &g, device_find("h100"), &e), 0);
}

static void test_overflowing_models(void **state)
{
    (void)state;
    /* activations of 2^58 bytes each, 200 of them: the step overflows 64 bits */
    profile p;
    huge_mlp(&p, "width=16777216,depth=100", INT64_C(1) << 32);
    for (int i = 0; i < p.g.n_ops; i++) {
        /* FLOPs saturate, they never wrap to small or negative numbers */
        assert_true(p.g.ops[i].flops_fwd > 0);
        assert_true(p.ops[i].flops_bwd > 0);
    }
    assert_true(p.totals.flops_fwd > 0 && p.totals.saved_activation_bytes > 0 &&
                p.totals.params > 0 && p.totals.param_bytes > 0);
    mem_config mc;
    mem_config_default(&mc);
    solver_opts o;
    solver_opts_default(&o);
    o.budget_bytes = INT64_MAX;
    for (int k = SOLVER_NONE; k <= SOLVER_DP; k++) {
        plan pl;
        remat_err e = {{0}};
        int rc = solver_plan(&p, &mc, (solver_kind)k, &o, &pl, NULL, &e);
        /* storing everything overflows: an error naming it */
        if (k == SOLVER_NONE) {
            assert_int_equal(rc, -ERANGE);
            assert_non_null(strstr(e.msg, "overflow"));
        }
        /* any plan a solver does return is a real one: its peak adds up */
        if (rc == 0) {
            assert_true(pl.pred.peak_bytes > 0);
            assert_true(pl.pred.peak_bytes ==
                        pl.pred.static_bytes + pl.pred.activation_peak_bytes);
            assert_true(pl.pred.activation_peak_bytes > 0);
        }
        plan_free(&pl);
    }
    profile_free(&p);
    /* parameters overflow: static memory is an error */
    huge_mlp(&p, "width=16777216,depth=100000", 1);
    assert_true(p.totals.params > 0 && p.totals.param_bytes > 0);
    static_mem sm;
    remat_err e;
    assert_int_equal(static_memory(&p.g, &mc, &sm, &e), -ERANGE);
    profile_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_overflowing_sizes, cli_setup, cli_teardown),
        cmocka_unit_test(test_overflowing_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
