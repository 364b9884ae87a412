/* tests/cli/test_cli_plan.c — `remat plan` and `remat simulate` end to end
 * through the built binary: deterministic plan YAML, planning from a saved
 * profile, the infeasible-budget message with the minimum budgets, --compare,
 * the simulate timeline and peak breakdown, and bad input to both commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli_util.h"

/* Non-zero exit (not a crash), nothing on stdout, one line on stderr starting
 * with prefix and containing needle, no file left in the scratch directory. */
static void expect_failure(cli_run *r, const char *prefix, const char *needle)
{
    if (r->status == 0 || !strstr(r->err, needle))
        fprintf(stderr, "status %d, stderr: %s", r->status, r->err);
    assert_int_not_equal(r->status, 0);
    assert_true(r->status < 128);
    assert_int_equal(r->out_len, 0);
    assert_true(cli_one_line(r->err));
    assert_true(strncmp(r->err, prefix, strlen(prefix)) == 0);
    assert_non_null(strstr(r->err, needle));
    assert_int_equal(cli_scratch_count(), 0);
    cli_run_free(r);
}

static char *slurp_ok(const char *path, size_t *len)
{
    char *t = cli_slurp(path, len);
    assert_non_null(t);
    return t;
}

/* Writes text to a file in the scratch directory. */
static void put(const char *name, const char *text, size_t len)
{
    FILE *f = fopen(cli_path(name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* A copy of text with the first `from` after `after` replaced by `to`. */
static char *replace_after(const char *text, const char *after, const char *from, const char *to)
{
    const char *base = strstr(text, after);
    assert_non_null(base);
    const char *at = strstr(base, from);
    assert_non_null(at);
    size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return out;
}

static void test_help(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "plan", "--help");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: remat plan"));
    assert_non_null(strstr(r.out, "--budget SIZE"));
    assert_non_null(strstr(r.out, "--compare"));
    cli_run_free(&r);
    CLI(&r, "simulate", "--help");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: remat simulate --plan FILE"));
    cli_run_free(&r);
}

static void test_plan_deterministic(void **state)
{
    (void)state;
    const char *a = cli_path("a.yaml"), *b = cli_path("b.yaml");
    cli_run r;
    for (int k = 0; k < 2; k++) {
        CLI(&r, "plan", "--model", "chain", "--set", "length=12,width=256", "--solver", "sqrt",
            "--budget", "100KiB", "-o", k ? b : a);
        if (r.status != 0)
            fprintf(stderr, "%s", r.err);
        assert_int_equal(r.status, 0);
        assert_int_equal(r.out_len, 0);
        assert_non_null(strstr(r.err, "sqrt"));
        cli_run_free(&r);
    }
    size_t la, lb;
    char *ta = slurp_ok(a, &la), *tb = slurp_ok(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ta, tb, la);
    static const char *const keys[] = {
        "format_version: 1\n", "\nbudget_bytes: 102400\n", "\nsolver:\n  name: sqrt\n",
        "\npredicted:\n  peak_bytes: ", "\nlive_at_peak:\n", "\ncheckpoints:\n", "\nselective:",
        "\nmultilevel: false\n", "\ntrainers:\n", "  huggingface:\n", "  megatron:\n",
        "  deepspeed:\n", "\nschedule:\n- [fwd, stages.0]\n", "\nprofile:\n  format_version: 1\n",
        NULL};
    for (int i = 0; keys[i]; i++) {
        if (!strstr(ta, keys[i]))
            fprintf(stderr, "missing: %s\n", keys[i]);
        assert_non_null(strstr(ta, keys[i]));
    }
    free(ta);
    free(tb);
    unlink(a);
    unlink(b);
}

/* The default solver (dp) on a small GPT-2: the same bytes twice, a plan within
 * the budget, and trainer knobs naming GPT-2's blocks. */
static void test_plan_gpt2_dp(void **state)
{
    (void)state;
    cli_run r;
    const char *out[2] = {cli_path("a.yaml"), cli_path("b.yaml")};
    for (int k = 0; k < 2; k++) {
        CLI(&r, "plan", "--model", "gpt2", "--set",
            "n_layer=4,n_head=4,n_embd=128,vocab_size=1000,n_positions=256", "--seq", "256",
            "--batch", "2", "--budget", "40MB", "-o", out[k]);
        if (r.status != 0)
            fprintf(stderr, "%s", r.err);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.err, "remat plan: dp "));
        cli_run_free(&r);
    }
    size_t la, lb;
    char *ta = slurp_ok(out[0], &la), *tb = slurp_ok(out[1], &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ta, tb, la);
    const char *pk = strstr(ta, "\n  peak_bytes: ");
    assert_non_null(pk);
    assert_true(strtoll(pk + strlen("\n  peak_bytes: "), NULL, 10) <= 40000000);
    assert_non_null(strstr(ta, "\nsolver:\n  name: dp\n"));
    /* dp's best plan may cut blocks in half: then it is multilevel (remat's executor
     * runs it) and lists no modules; a two-level plan names GPT-2's blocks */
    if (strstr(ta, "\nmultilevel: true\n")) {
        assert_non_null(strstr(ta, "\ncheckpoints: []\n"));
    } else {
        assert_non_null(strstr(ta, "\ncheckpoints:\n- transformer.h."));
        assert_non_null(strstr(ta, "--recompute-granularity full --recompute-method "));
    }
    free(ta);
    free(tb);
    unlink(out[0]);
    unlink(out[1]);
}

/* Planning a saved profile gives the same plan as planning the model directly. */
static void test_plan_from_profile(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "profile", "--model", "mlp", "--set", "depth=6,width=128", "--batch", "8", "-o",
        cli_path("prof.yaml"));
    assert_int_equal(r.status, 0);
    cli_run_free(&r);
    CLI(&r, "plan", "--profile", cli_path("prof.yaml"), "--solver", "greedy", "--budget", "2MiB",
        "-o", cli_path("a.yaml"));
    if (r.status != 0)
        fprintf(stderr, "%s", r.err);
    assert_int_equal(r.status, 0);
    cli_run_free(&r);
    CLI(&r, "plan", "--model", "mlp", "--set", "depth=6,width=128", "--batch", "8", "--solver",
        "greedy", "--budget", "2MiB", "-o", cli_path("b.yaml"));
    assert_int_equal(r.status, 0);
    cli_run_free(&r);
    size_t la, lb, lp;
    char *ta = slurp_ok(cli_path("a.yaml"), &la), *tb = slurp_ok(cli_path("b.yaml"), &lb);
    char *tp = slurp_ok(cli_path("prof.yaml"), &lp);
    assert_int_equal(la, lb);
    assert_memory_equal(ta, tb, la);
    /* the embedded profile is the profile file, indented under `profile:` */
    assert_non_null(strstr(ta, "\nprofile:\n  format_version: 1\n  model:\n    name: mlp\n"));
    assert_non_null(strstr(tp, "format_version: 1\nmodel:\n  name: mlp\n"));
    free(ta);
    free(tb);
    free(tp);
    unlink(cli_path("a.yaml"));
    unlink(cli_path("b.yaml"));
    unlink(cli_path("prof.yaml"));
}

static void test_infeasible_budget(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "plan", "--model", "chain", "--set", "length=12,width=256", "--solver", "sqrt",
        "--budget", "1KB", "-o", cli_path("p.yaml"));
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "budget 1000 B is below what sqrt can reach"));
    assert_non_null(strstr(r.err, "it needs at least "));
    assert_non_null(strstr(r.err, "the best chain solver ("));
    expect_failure(&r, "remat plan: ", "bytes)");
    /* the minimum it names is enough */
    CLI(&r, "plan", "--model", "chain", "--set", "length=12,width=256", "--solver", "sqrt",
        "--budget", "1KB");
    const char *at = strstr(r.err, "it needs at least ");
    assert_non_null(at);
    at = strchr(at, '(');
    assert_non_null(at);
    long long min = strtoll(at + 1, NULL, 10);
    assert_true(min > 1000);
    cli_run_free(&r);
    char budget[32];
    snprintf(budget, sizeof budget, "%lld", min);
    CLI(&r, "plan", "--model", "chain", "--set", "length=12,width=256", "--solver", "sqrt",
        "--budget", budget, "-o", cli_path("p.yaml"));
    assert_int_equal(r.status, 0);
    cli_run_free(&r);
    snprintf(budget, sizeof budget, "%lld", min - 1);
    unlink(cli_path("p.yaml"));
    CLI(&r, "plan", "--model", "chain", "--set", "length=12,width=256", "--solver", "sqrt",
        "--budget", budget, "-o", cli_path("p.yaml"));
    expect_failure(&r, "remat plan: ", "is below what sqrt can reach");
    /* the chosen solver is the best one: its minimum is named once */
    CLI(&r, "plan", "--model", "chain", "--set", "length=12,width=256", "--solver", "dp",
        "--budget", "1KB");
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "below what dp can reach: it needs at least "));
    assert_null(strstr(r.err, "best chain solver"));
    cli_run_free(&r);
}

static void test_compare(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "plan", "--model", "chain", "--set", "length=12,width=256", "--budget", "100KiB",
        "--compare");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "solver"));
    assert_non_null(strstr(r.out, "overhead"));
    static const char *const names[] = {"\nnone ", "\nfull ", "\nsqrt ", "\ngreedy ",
                                        "\nsegment ", "\ndp ", NULL};
    for (int i = 0; names[i]; i++)
        assert_non_null(strstr(r.out, names[i]));
    cli_run_free(&r);
}

static void test_simulate(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "plan", "--model", "chain", "--set", "length=40,width=64", "--solver", "sqrt",
        "--budget", "1GB", "-o", cli_path("p.yaml"));
    assert_int_equal(r.status, 0);
    cli_run_free(&r);
    size_t len;
    char *plan = slurp_ok(cli_path("p.yaml"), &len);
    const char *pk = strstr(plan, "peak_instruction: ");
    assert_non_null(pk);
    long long peak_ins = strtoll(pk + strlen("peak_instruction: "), NULL, 10);
    free(plan);

    CLI(&r, "simulate", "--plan", cli_path("p.yaml"));
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    assert_non_null(strstr(r.out, "<- peak"));
    assert_non_null(strstr(r.out, "\npeak "));
    assert_non_null(strstr(r.out, "live at the peak, by tensor"));
    assert_non_null(strstr(r.out, "live at the peak, by module"));
    assert_non_null(strstr(r.out, "(--full prints every instruction)"));
    /* the marked row is the plan's peak instruction */
    char want[64];
    const char *mark = strstr(r.out, "<- peak");
    const char *row = mark;
    while (row > r.out && row[-1] != '\n')
        row--;
    assert_int_equal(strtoll(row, NULL, 10), peak_ins);
    snprintf(want, sizeof want, "at instruction %lld", peak_ins);
    assert_non_null(strstr(r.out, want));
    size_t short_len = r.out_len;
    cli_run_free(&r);
    CLI(&r, "simulate", "--plan", cli_path("p.yaml"), "--full");
    assert_int_equal(r.status, 0);
    assert_null(strstr(r.out, "(--full prints every instruction)"));
    assert_true(r.out_len > short_len);
    assert_non_null(strstr(r.out, "stages.39"));
    cli_run_free(&r);
    unlink(cli_path("p.yaml"));
}

static void test_plan_bad_input(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "plan", "--model", "chain", "--budget", "12 parsecs", "-o", cli_path("p.yaml"));
    expect_failure(&r, "remat plan: ", "--budget");
    CLI(&r, "plan", "--model", "chain", "--solver", "magic", "-o", cli_path("p.yaml"));
    expect_failure(&r, "remat plan: ", "unknown solver 'magic'");
    CLI(&r, "plan", "--model", "chain", "--budget", "1GB", "--max-checkpoints", "3", "-o",
        cli_path("p.yaml"));
    expect_failure(&r, "remat plan: ", "not both");
    CLI(&r, "plan", "--model", "no-such-model", "-o", cli_path("p.yaml"));
    expect_failure(&r, "remat plan: ", "unknown model 'no-such-model'");
    CLI(&r, "plan", "--profile", "/nonexistent/prof.yaml", "-o", cli_path("p.yaml"));
    expect_failure(&r, "remat plan: ", "/nonexistent/prof.yaml");
    CLI(&r, "plan", "--profile", FIXTURES_DIR "/cli/malformed.yaml", "-o", cli_path("p.yaml"));
    expect_failure(&r, "remat plan: ", "malformed.yaml:5:5:");
    CLI(&r, "plan", "--model", "chain", "--zero", "5", "-o", cli_path("p.yaml"));
    expect_failure(&r, "remat plan: ", "--zero");
    CLI(&r, "plan", "--model", "chain", "--optimizer", "lion", "-o", cli_path("p.yaml"));
    expect_failure(&r, "remat plan: ", "--optimizer");
    CLI(&r, "plan", "--model", "chain", "--batch", "0", "-o", cli_path("p.yaml"));
    expect_failure(&r, "remat plan: ", "--batch must be a positive integer");
}

static void test_simulate_bad_input(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "simulate");
    expect_failure(&r, "remat simulate: ", "--plan FILE is required");
    CLI(&r, "simulate", "--plan");
    expect_failure(&r, "remat simulate: ", "--plan needs a value");
    CLI(&r, "simulate", "--plan", "/nonexistent/plan.yaml");
    expect_failure(&r, "remat simulate: ", "/nonexistent/plan.yaml");
    CLI(&r, "simulate", "--plan", FIXTURES_DIR "/cli/malformed.yaml");
    expect_failure(&r, "remat simulate: ", "malformed.yaml:5:5: YAML syntax error");

    /* a good plan, then edited copies of it */
    CLI(&r, "plan", "--model", "chain", "--set", "length=6,width=64", "--solver", "sqrt",
        "--budget", "1GB", "-o", cli_path("p.yaml"));
    assert_int_equal(r.status, 0);
    cli_run_free(&r);
    size_t len;
    char *good = slurp_ok(cli_path("p.yaml"), &len);
    unlink(cli_path("p.yaml"));

    char *bad = replace_after(good, "\nschedule:", "[fwd, stages.1]", "[fwd, stages.99]");
    put("bad.yaml", bad, strlen(bad));
    free(bad);
    CLI(&r, "simulate", "--plan", cli_path("bad.yaml"));
    unlink(cli_path("bad.yaml"));
    expect_failure(&r, "remat simulate: ", "'stages.99' names no op of the graph");

    bad = replace_after(good, "\nschedule:", "[fwd, stages.1]", "[jump, stages.1]");
    put("bad.yaml", bad, strlen(bad));
    free(bad);
    CLI(&r, "simulate", "--plan", cli_path("bad.yaml"));
    unlink(cli_path("bad.yaml"));
    expect_failure(&r, "remat simulate: ", "unknown instruction 'jump'");

    /* an instruction dropped: the reader re-simulates and refuses the schedule */
    bad = replace_after(good, "\nschedule:", "- [fwd, stages.1]\n", "");
    put("bad.yaml", bad, strlen(bad));
    free(bad);
    CLI(&r, "simulate", "--plan", cli_path("bad.yaml"));
    unlink(cli_path("bad.yaml"));
    expect_failure(&r, "remat simulate: ", "the schedule does not simulate");

    bad = replace_after(good, "\ncheckpoints:", "- stages.", "- stagez.");
    put("bad.yaml", bad, strlen(bad));
    free(bad);
    CLI(&r, "simulate", "--plan", cli_path("bad.yaml"));
    unlink(cli_path("bad.yaml"));
    expect_failure(&r, "remat simulate: ", "names no module of the graph");

    /* the file's predicted numbers are not trusted */
    bad = replace_after(good, "\npredicted:", "peak_bytes: ", "peak_bytes: 1");
    put("bad.yaml", bad, strlen(bad));
    free(bad);
    CLI(&r, "simulate", "--plan", cli_path("bad.yaml"));
    assert_int_equal(r.status, 0);
    cli_run_free(&r);
    unlink(cli_path("bad.yaml"));

    /* truncated in the middle of the schedule */
    const char *cut = strstr(good, "\nschedule:");
    assert_non_null(cut);
    put("bad.yaml", good, (size_t)(cut - good) + 40);
    CLI(&r, "simulate", "--plan", cli_path("bad.yaml"));
    unlink(cli_path("bad.yaml"));
    expect_failure(&r, "remat simulate: ", "bad.yaml:");
    free(good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_help, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_plan_deterministic, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_plan_gpt2_dp, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_plan_from_profile, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_infeasible_budget, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_compare, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_simulate, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_plan_bad_input, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_simulate_bad_input, cli_setup, cli_teardown),
    };
    return cmocka_run_group_tests_name("cli_plan", tests, NULL, NULL);
}
