/* tests/executor/test_cli_validate.c — `remat validate` and `remat profile
 * --measure cpu` through the built binary: plans of small GPT-2 and Llama
 * configurations validate (identical peak, timeline and gradients, YAML report),
 * a plan made for PyTorch's allocator is re-simulated with exact bytes, and bad
 * input (no plan, unknown option, bad numbers, unreadable file, bf16 or mixed
 * precision plans, --device cuda without CUDA) fails with one line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "tests/cli/cli_util.h"

#define GPT2 "--model", "gpt2", "--set", "n_layer=2,n_head=2,n_embd=32,vocab_size=64,n_positions=16", \
             "--batch", "2", "--seq", "16", "--target", "cpu"
#define LLAMA "--model", "llama", "--set",                                                       \
              "num_hidden_layers=2,num_attention_heads=4,num_key_value_heads=2,hidden_size=32,"  \
              "intermediate_size=48,vocab_size=64",                                              \
              "--batch", "2", "--seq", "8", "--target", "cpu"

static void ok(cli_run *r)
{
    if (r->status != 0)
        fprintf(stderr, "status %d, stderr: %s\nstdout: %s", r->status, r->err, r->out);
    assert_int_equal(r->status, 0);
}

/* Exit status `status`, one line on stderr starting "remat validate: " and
 * containing needle, nothing on stdout. */
static void fails(cli_run *r, int status, const char *needle)
{
    if (r->status != status || !strstr(r->err, needle))
        fprintf(stderr, "status %d, stderr: %s", r->status, r->err);
    assert_int_equal(r->status, status);
    assert_true(cli_one_line(r->err));
    assert_true(strncmp(r->err, "remat validate: ", 16) == 0);
    assert_non_null(strstr(r->err, needle));
    assert_int_equal(r->out_len, 0);
    cli_run_free(r);
}

static void test_validate_gpt2(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "plan", GPT2, "--solver", "full", "-o", cli_path("plan.yaml"));
    ok(&r);
    cli_run_free(&r);
    CLI(&r, "validate", "--plan", cli_path("plan.yaml"), "--steps", "2", "--threads", "1", "-o",
        cli_path("report.yaml"));
    ok(&r);
    assert_non_null(strstr(r.out, "difference +0 B"));
    assert_non_null(strstr(r.out, "bitwise identical"));
    assert_non_null(strstr(r.out, "identical to the prediction at every instruction"));
    assert_non_null(strstr(r.out, "PASS"));
    cli_run_free(&r);
    size_t len;
    char *rep = cli_slurp(cli_path("report.yaml"), &len);
    assert_non_null(rep);
    assert_non_null(strstr(rep, "difference_bytes: 0\n"));
    assert_non_null(strstr(rep, "bitwise_identical: true"));
    assert_non_null(strstr(rep, "identical: true"));
    assert_non_null(strstr(rep, "result: \"pass\""));
    assert_non_null(strstr(rep, "solver: \"full\""));
    /* the predicted and measured peaks are the same number */
    const char *p = strstr(rep, "predicted_bytes: "), *m = strstr(rep, "measured_bytes: ");
    assert_non_null(p);
    assert_non_null(m);
    assert_int_equal(atoll(p + 17), atoll(m + 16));
    free(rep);
    /* the report on stdout */
    CLI(&r, "validate", "--plan", cli_path("plan.yaml"), "--steps", "1", "--warmup", "0", "-o",
        "-");
    ok(&r);
    assert_true(strncmp(r.out, "version: 1\n", 11) == 0);
    cli_run_free(&r);
}

static void test_validate_llama_pytorch_allocator(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "plan", LLAMA, "--solver", "sqrt", "--allocator", "pytorch", "-o",
        cli_path("plan.yaml"));
    ok(&r);
    cli_run_free(&r);
    CLI(&r, "validate", "--plan", cli_path("plan.yaml"), "--steps", "1", "--device", "cpu");
    ok(&r);
    assert_non_null(strstr(r.out, "re-simulated with the exact allocator"));
    assert_non_null(strstr(r.out, "PASS"));
    cli_run_free(&r);
}

static void test_validate_bad_input(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "validate");
    fails(&r, 2, "--plan FILE is required");
    CLI(&r, "validate", "--plan", "x.yaml", "--frobnicate", "1");
    fails(&r, 2, "unknown option '--frobnicate'");
    CLI(&r, "validate", "--plan", "x.yaml", "--steps", "0");
    fails(&r, 2, "--steps");
    CLI(&r, "validate", "--plan", "x.yaml", "--tolerance", "abc");
    fails(&r, 2, "--tolerance");
    CLI(&r, "validate", "--plan", "x.yaml", "--device", "tpu");
    fails(&r, 2, "--device must be cpu or cuda");
    CLI(&r, "validate", "--plan", cli_path("missing.yaml"));
    fails(&r, 1, "missing.yaml");
#if !HAVE_CUDA
    CLI(&r, "validate", "--plan", "x.yaml", "--device", "cuda");
    fails(&r, 1, "built without CUDA");
#endif
    /* plans the CPU executor cannot run */
    CLI(&r, "plan", GPT2, "--dtype", "bf16", "--solver", "none", "-o", cli_path("bf16.yaml"));
    ok(&r);
    cli_run_free(&r);
    CLI(&r, "validate", "--plan", cli_path("bf16.yaml"));
    fails(&r, 1, "fp32");
    CLI(&r, "plan", GPT2, "--mixed", "--solver", "none", "-o", cli_path("mixed.yaml"));
    ok(&r);
    cli_run_free(&r);
    CLI(&r, "validate", "--plan", cli_path("mixed.yaml"), "-o", cli_path("never.yaml"));
    fails(&r, 1, "cannot run this plan on the CPU");
    cli_run_free(&r);
    FILE *f = fopen(cli_path("never.yaml"), "r");
    assert_null(f);
}

static void test_profile_measure_cpu(void **state)
{
    (void)state;
    cli_run r;
    CLI(&r, "profile", GPT2, "--measure", "cpu", "--repeats", "2", "-o", cli_path("prof.yaml"));
    ok(&r);
    cli_run_free(&r);
    size_t len;
    char *t = cli_slurp(cli_path("prof.yaml"), &len);
    assert_non_null(t);
    assert_non_null(strstr(t, "\nsource: cpu\n"));
    assert_non_null(strstr(t, "\ntarget: cpu\n"));
    free(t);
    /* a plan from the measured profile validates like any other */
    CLI(&r, "plan", "--profile", cli_path("prof.yaml"), "--solver", "sqrt", "-o",
        cli_path("plan.yaml"));
    ok(&r);
    cli_run_free(&r);
    CLI(&r, "validate", "--plan", cli_path("plan.yaml"), "--steps", "1");
    ok(&r);
    assert_non_null(strstr(r.out, "PASS"));
    cli_run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_validate_gpt2, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_validate_llama_pytorch_allocator, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_validate_bad_input, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_profile_measure_cpu, cli_setup, cli_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
