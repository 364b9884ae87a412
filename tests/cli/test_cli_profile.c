/* tests/cli/test_cli_profile.c — `remat profile` end to end through the built
 * binary: bad input gives one line on stderr, a non-zero exit and no output file;
 * good input gives deterministic YAML that reads back and rewrites identically. */
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
#include "config.h"

/* The run failed the way bad input must: non-zero exit, nothing on stdout, one
 * line on stderr that starts with "remat profile: " and contains `needle`, and
 * no file (not even a temporary) left in the scratch directory. */
static void expect_failure(cli_run *r, const char *needle)
{
    if (r->status == 0 || !strstr(r->err, needle))
        fprintf(stderr, "status %d, stderr: %s", r->status, r->err);
    assert_int_not_equal(r->status, 0);
    assert_true(r->status < 128); /* not a crash */
    assert_int_equal(r->out_len, 0);
    assert_true(cli_one_line(r->err));
    assert_non_null(strstr(r->err, "remat profile: "));
    assert_non_null(strstr(r->err, needle));
    assert_int_equal(cli_scratch_count(), 0);
    cli_run_free(r);
}

static void test_help(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "profile", "--help");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: remat profile"));
    assert_non_null(strstr(r.out, "--model NAME"));
    assert_non_null(strstr(r.out, "--measure"));
    cli_run_free(&r);
    CLI(&r, "--help");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "profile"));
    cli_run_free(&r);
}

static void test_unknown_model(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "profile", "--model", "no-such-model", "-o", cli_path("p.yaml"));
    expect_failure(&r, "unknown model 'no-such-model'");
}

static void test_unknown_key(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "profile", "--model", "mlp", "--set", "depth=2,colour=blue", "-o", cli_path("p.yaml"));
    expect_failure(&r, "unknown key 'colour'");
    CLI(&r, "profile", "--model", "mlp", "--set", "depth", "-o", cli_path("p.yaml"));
    expect_failure(&r, "not key=value");
    CLI(&r, "profile", "--model", "mlp", "--set", "depth=zero", "-o", cli_path("p.yaml"));
    expect_failure(&r, "depth");
}

static void test_non_positive_sizes(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "profile", "--model", "mlp", "--batch", "0", "-o", cli_path("p.yaml"));
    expect_failure(&r, "--batch must be a positive integer");
    CLI(&r, "profile", "--model", "mlp", "--seq", "-4", "-o", cli_path("p.yaml"));
    expect_failure(&r, "--seq must be a positive integer, got '-4'");
    CLI(&r, "profile", "--model", "mlp", "--image", "12x", "-o", cli_path("p.yaml"));
    expect_failure(&r, "--image needs an integer, got '12x'");
    CLI(&r, "profile", "--model", "mlp", "--batch", "99999999999999999999", "-o",
        cli_path("p.yaml"));
    expect_failure(&r, "--batch needs an integer");
    CLI(&r, "profile", "--model", "mlp", "--set", "width=0", "-o", cli_path("p.yaml"));
    expect_failure(&r, "width");
    CLI(&r, "profile", "--model", "mlp", "--batch");
    expect_failure(&r, "--batch needs a value");
}

static void test_bad_values(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "profile", "--model", "mlp", "--dtype", "int8", "-o", cli_path("p.yaml"));
    expect_failure(&r, "--dtype must be fp32, bf16 or fp16, got 'int8'");
    CLI(&r, "profile", "--model", "mlp", "--dtype", "i32", "-o", cli_path("p.yaml"));
    expect_failure(&r, "--dtype must be fp32, bf16 or fp16, got 'i32'");
    CLI(&r, "profile", "--model", "mlp", "--dropout", "1.5", "-o", cli_path("p.yaml"));
    expect_failure(&r, "--dropout 1.5 is out of range");
    CLI(&r, "profile", "--model", "mlp", "--target", "tpu", "-o", cli_path("p.yaml"));
    expect_failure(&r, "unknown target device 'tpu'");
    CLI(&r, "profile", "--model", "mlp", "--measure", "abacus", "-o", cli_path("p.yaml"));
    expect_failure(&r, "--measure must be analytic, cpu or cuda, got 'abacus'");
    CLI(&r, "profile", "--model", "mlp", "--frobnicate", "-o", cli_path("p.yaml"));
    expect_failure(&r, "unknown option '--frobnicate'");
    CLI(&r, "profile", "-o", cli_path("p.yaml"));
    expect_failure(&r, "no model: give --model");
    CLI(&r, "profile", "--model", "mlp", "--model-file", FIXTURES_DIR "/cli/malformed.yaml");
    expect_failure(&r, "only one of");
}

static void test_unreadable_file(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "profile", "--model-file", "/nonexistent/model.yaml", "-o", cli_path("p.yaml"));
    expect_failure(&r, "/nonexistent/model.yaml");
    CLI(&r, "profile", "--profile", "/nonexistent/profile.yaml", "-o", cli_path("p.yaml"));
    expect_failure(&r, "/nonexistent/profile.yaml");
    /* a directory is not a readable file either */
    CLI(&r, "profile", "--model-file", FIXTURES_DIR, "-o", cli_path("p.yaml"));
    expect_failure(&r, FIXTURES_DIR);
}

static void test_malformed_files(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "profile", "--model-file", FIXTURES_DIR "/cli/malformed.yaml", "-o",
        cli_path("p.yaml"));
    expect_failure(&r, "malformed.yaml:");
    /* file:line:column */
    CLI(&r, "profile", "--model-file", FIXTURES_DIR "/cli/malformed.yaml");
    assert_non_null(strstr(r.err, "malformed.yaml:5:"));
    expect_failure(&r, "malformed.yaml:5:");
    CLI(&r, "profile", "--profile", FIXTURES_DIR "/cli/bad_version_profile.yaml", "-o",
        cli_path("p.yaml"));
    expect_failure(&r, "bad_version_profile.yaml:1:17: profile format_version 99 is not supported");
    /* a written profile reads back with --profile, but it is not a model file */
    CLI(&r, "profile", "--model", "chain", "--set", "length=2", "-o", cli_path("p.yaml"));
    assert_int_equal(r.status, 0);
    assert_int_equal(cli_scratch_count(), 1);
    cli_run_free(&r);
    CLI(&r, "profile", "--profile", cli_path("p.yaml"), "--format", "table");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "stages.1"));
    cli_run_free(&r);
    CLI(&r, "profile", "--model-file", cli_path("p.yaml"));
    unlink(cli_path("p.yaml"));
    expect_failure(&r, "p.yaml:1:1: unknown key 'format_version'");
    CLI(&r, "profile", "--profile", FIXTURES_DIR "/cli/malformed.yaml");
    expect_failure(&r, "malformed.yaml:5:5: YAML syntax error");
}

/* Flips one number in a written profile: the reader must refuse it by position. */
static void test_tampered_profile(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "profile", "--model", "mlp", "--set", "depth=2", "-o", cli_path("p.yaml"));
    assert_int_equal(r.status, 0);
    cli_run_free(&r);
    size_t len;
    char *text = cli_slurp(cli_path("p.yaml"), &len);
    assert_non_null(text);
    char *at = strstr(text, "kind: relu, out_bytes: ");
    assert_non_null(at);
    at += strlen("kind: relu, out_bytes: ");
    *at = *at == '9' ? '1' : '9';
    FILE *f = fopen(cli_path("t.yaml"), "wb");
    assert_non_null(f);
    fwrite(text, 1, len, f);
    fclose(f);
    free(text);
    CLI(&r, "profile", "--profile", cli_path("t.yaml"), "-o", cli_path("u.yaml"));
    unlink(cli_path("p.yaml"));
    unlink(cli_path("t.yaml"));
    expect_failure(&r, "out_bytes");
}

static void test_deterministic_and_round_trip(void **state)
{
    (void)state;
    cli_run r;
    const char *a = cli_path("a.yaml"), *b = cli_path("b.yaml"), *c = cli_path("c.yaml");
    CLI(&r, "profile", "--model", "mlp", "--set", "depth=3,width=64", "--batch", "4", "--dtype",
        "bf16", "--dropout", "0.1", "--target", "a100-80gb", "-o", a);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.out_len, 0);
    assert_string_equal(r.err, "");
    cli_run_free(&r);
    CLI(&r, "profile", "--model", "mlp", "--set", "depth=3,width=64", "--batch", "4", "--dtype",
        "bf16", "--dropout", "0.1", "--target", "a100-80gb", "-o", b);
    assert_int_equal(r.status, 0);
    cli_run_free(&r);
    size_t la, lb, lc;
    char *ta = cli_slurp(a, &la), *tb = cli_slurp(b, &lb);
    assert_non_null(ta);
    assert_non_null(tb);
    assert_int_equal(la, lb);
    assert_memory_equal(ta, tb, la);
    assert_non_null(strstr(ta, "format_version: 1\n"));
    assert_non_null(strstr(ta, "target: a100-80gb\n"));
    assert_non_null(strstr(ta, "source: analytic\n"));
    assert_non_null(strstr(ta, "  dtype: bf16\n"));
    assert_non_null(strstr(ta, "  batch: 4\n"));
    assert_non_null(strstr(ta, "- {name: layers.0, saved_bytes: "));
    assert_non_null(strstr(ta, "\ngraph:\n"));
    /* read back and rewrite: byte-identical */
    CLI(&r, "profile", "--profile", a, "-o", c);
    assert_int_equal(r.status, 0);
    cli_run_free(&r);
    char *tc = cli_slurp(c, &lc);
    assert_non_null(tc);
    assert_int_equal(la, lc);
    assert_memory_equal(ta, tc, la);
    /* stdout is not a terminal here: YAML goes to stdout, identical to the file */
    CLI(&r, "profile", "--profile", a);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.out_len, la);
    assert_memory_equal(r.out, ta, la);
    cli_run_free(&r);
    free(ta);
    free(tb);
    free(tc);
    unlink(a);
    unlink(b);
    unlink(c);
}

static void test_table(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "profile", "--model", "mlp", "--set", "depth=2", "--format", "table");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "module"));
    assert_non_null(strstr(r.out, "\nlayers.1 "));
    assert_non_null(strstr(r.out, "\n  layers.1.fc "));
    assert_non_null(strstr(r.out, "parameters"));
    assert_null(strstr(r.out, "format_version"));
    cli_run_free(&r);
    CLI(&r, "profile", "--model", "mlp", "--format", "table", "-o", cli_path("p.yaml"));
    expect_failure(&r, "--format table");
}

static void test_measure(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "profile", "--model", "chain", "--set", "length=3,width=64", "--measure", "cpu");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "\nsource: cpu\n"));
    assert_non_null(strstr(r.out, "\ntarget: cpu\n"));
    cli_run_free(&r);
    /* the CPU executor computes in fp32 only */
    CLI(&r, "profile", "--model", "chain", "--set", "length=3,width=64", "--dtype", "bf16",
        "--measure", "cpu", "-o", cli_path("p.yaml"));
    expect_failure(&r, "");
#if !HAVE_CUDA
    CLI(&r, "profile", "--model", "chain", "--measure", "cuda", "-o", cli_path("p.yaml"));
    expect_failure(&r, "remat was built without CUDA");
#else
    CLI(&r, "profile", "--model", "chain", "--measure", "cuda", "-o", cli_path("p.yaml"));
    if (r.status != 0)
        expect_failure(&r, "cuda");
    else
        cli_run_free(&r);
    unlink(cli_path("p.yaml"));
#endif
    /* a saved profile fixes its sizes, target and source */
    CLI(&r, "profile", "--model", "chain", "-o", cli_path("p.yaml"));
    assert_int_equal(r.status, 0);
    cli_run_free(&r);
    CLI(&r, "profile", "--profile", cli_path("p.yaml"), "--measure", "cpu", "-o",
        cli_path("q.yaml"));
    unlink(cli_path("p.yaml"));
    expect_failure(&r, "do not apply to --profile");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_help, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_model, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_non_positive_sizes, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_bad_values, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_file, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_malformed_files, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_tampered_profile, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_deterministic_and_round_trip, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_table, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_measure, cli_setup, cli_teardown),
    };
    return cmocka_run_group_tests_name("cli_profile", tests, NULL, NULL);
}
