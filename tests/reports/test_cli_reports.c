/* tests/reports/test_cli_reports.c — `remat sweep` and `remat report` as a user runs
 * them: usage errors (exit 2, one line), the CSV (one row per solver and budget,
 * infeasible budgets recorded), the SVG and the page written, nothing written on
 * failure. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define MLP "--model mlp --set depth=8,width=256 --batch 1024 --target cpu"

/* Runs `remat ARGS` with stdout/stderr to files; returns the exit status. */
static int run(const char *args, char *err_out, size_t n)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s >reports_cli_out.txt 2>reports_cli_err.txt", REMAT_EXE, args);
    int st = system(cmd);
    assert_true(st != -1 && WIFEXITED(st));
    if (err_out) {
        FILE *f = fopen("reports_cli_err.txt", "r");
        assert_non_null(f);
        size_t k = fread(err_out, 1, n - 1, f);
        err_out[k] = 0;
        fclose(f);
    }
    return WEXITSTATUS(st);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    return b;
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_sweep_usage_errors(void **state)
{
    (void)state;
    char e[1024];
    assert_int_equal(run("sweep " MLP, e, sizeof e), 2);
    assert_non_null(strstr(e, "--budgets FROM:TO:STEP is required"));
    assert_int_equal(run("sweep " MLP " --budgets 1GB:2GB", e, sizeof e), 2);
    assert_int_equal(lines(e), 1);
    assert_int_equal(run("sweep " MLP " --budgets 2GB:1GB:1MB", e, sizeof e), 2);
    assert_non_null(strstr(e, "FROM <= TO"));
    assert_int_equal(run("sweep " MLP " --budgets 1GB:2GB:1parsec", e, sizeof e), 2);
    assert_non_null(strstr(e, "unknown unit"));
    assert_int_equal(run("sweep " MLP " --budgets 1B:1TB:1B", e, sizeof e), 2);
    assert_non_null(strstr(e, "at most"));
    assert_int_equal(run("sweep " MLP " --budgets 1GB:2GB:1GB --solvers dp,magic", e, sizeof e), 2);
    assert_non_null(strstr(e, "unknown solver 'magic'"));
    assert_int_equal(run("sweep " MLP " --budgets 1GB:2GB:1GB --frobnicate", e, sizeof e), 2);
    assert_int_equal(run("sweep --help", NULL, 0), 0);
}

static void test_sweep_outputs(void **state)
{
    (void)state;
    unlink("reports_sw.csv");
    unlink("reports_sw.svg");
    char e[4096];
    assert_int_equal(run("sweep " MLP " --budgets 11MB:19MB:2MB --solvers none,sqrt,greedy -o reports_sw", e,
                         sizeof e), 0);
    assert_non_null(strstr(e, "[1/15] none @ 10.49 MiB")); /* progress on stderr */
    assert_non_null(strstr(e, "[15/15] greedy @ 18.12 MiB"));
    char *csv = slurp("reports_sw.csv");
    assert_non_null(csv);
    assert_int_equal(lines(csv), 1 + 15);
    assert_true(strncmp(csv, "solver,budget_bytes,status,peak_bytes,", 38) == 0);
    assert_non_null(strstr(csv, "\nnone,11000000,infeasible,"));
    assert_non_null(strstr(csv, "\ngreedy,19000000,feasible,"));
    char *svg = slurp("reports_sw.svg");
    assert_non_null(svg);
    assert_true(strncmp(svg, "<svg xmlns=", 11) == 0);
    assert_non_null(strstr(svg, ">greedy</text>"));
    char *out = slurp("reports_cli_out.txt");
    assert_non_null(strstr(out, "budget"));
    assert_non_null(strstr(out, "infeasible"));
    assert_non_null(strstr(out, "+"));
    free(csv);
    free(svg);
    free(out);
}

static void test_report(void **state)
{
    (void)state;
    char e[4096];
    unlink("reports_page.html");
    assert_int_equal(run("report " MLP " --budget 16MB --points 4 -o reports_page.html", e, sizeof e), 0);
    char *page = slurp("reports_page.html");
    assert_non_null(page);
    assert_true(strncmp(page, "<!DOCTYPE html>", 15) == 0);
    assert_non_null(strstr(page, "Memory timeline"));
    assert_non_null(strstr(page, "Budget against compute overhead"));
    assert_null(strstr(page, "<script"));
    free(page);

    /* a missing plan file: exit 1, one line, nothing written */
    unlink("reports_never.html");
    assert_int_equal(run("report --plan no-such-plan.yaml -o reports_never.html", e, sizeof e), 1);
    assert_int_equal(lines(e), 1);
    struct stat st;
    assert_int_equal(stat("reports_never.html", &st), -1);

    /* a plan file round trip: its own solver is the chosen plan */
    assert_int_equal(run("plan " MLP " --budget 16MB --solver greedy -o reports_plan.yaml", e, sizeof e), 0);
    assert_int_equal(run("report --plan reports_plan.yaml --points 0 -o reports_page2.html", e, sizeof e), 0);
    page = slurp("reports_page2.html");
    assert_non_null(page);
    assert_non_null(strstr(page, "<h2>The greedy plan</h2>"));
    assert_null(strstr(page, "Budget against compute overhead"));
    free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep_usage_errors),
        cmocka_unit_test(test_sweep_outputs),
        cmocka_unit_test(test_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
