/* tests/cuda/test_cuda_cli.c — the GPU commands of the built `remat` (REMAT_EXE) fail
 * cleanly where they cannot run: `remat profile --measure cuda` (and `remat validate
 * --device cuda` once a plan exists) exit 1 with exactly one line on stderr, "remat
 * was built without CUDA" in a build without CUDA and "no CUDA device found" in a
 * CUDA build on a machine without a GPU, and leave no output file. Registered in
 * both configurations; skipped (77) where a CUDA device is present. */
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

#include "config.h"
#if HAVE_CUDA
#include "tests/cuda/cuda_test.h"
#endif

#if HAVE_CUDA
#define EXPECTED "no CUDA device found"
#else
#define EXPECTED "remat was built without CUDA"
#endif

static char dir[] = "/tmp/remat-cuda-cli-XXXXXX";

/* Runs `REMAT_EXE args` with stderr captured; returns the exit status and the stderr
 * text in err (caller frees). */
static int run(const char *args, char **err)
{
    char cmd[2048], errpath[256];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", dir);
    snprintf(cmd, sizeof cmd, "cd %s && %s %s >/dev/null 2>%s", dir, REMAT_EXE, args, errpath);
    int st = system(cmd);
    FILE *f = fopen(errpath, "r");
    assert_non_null(f);
    size_t cap = 4096, n = 0;
    *err = calloc(cap, 1);
    n = fread(*err, 1, cap - 1, f);
    (*err)[n] = 0;
    fclose(f);
    unlink(errpath);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_clear_error(const char *args, const char *outfile)
{
    char *err = NULL;
    int rc = run(args, &err);
    if (rc != 1 || !strstr(err, EXPECTED))
        print_error("remat %s: exit %d, stderr: %s\n", args, rc, err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, EXPECTED));
    /* exactly one line */
    char *nl = strchr(err, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    free(err);
    if (outfile) {
        char path[512];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, outfile);
        assert_int_not_equal(stat(path, &sb), 0);
    }
}

static void test_profile_measure_cuda(void **state)
{
    (void)state;
    expect_clear_error("profile --model mlp --measure cuda -o prof.yaml", "prof.yaml");
    expect_clear_error("profile --model gpt2-124m --batch 8 --seq 1024 --dtype bf16 --measure cuda "
                       "-o gpt2.yaml",
                       "gpt2.yaml");
}

/* `remat validate --device cuda` on a plan written here; skipped (with a note) in a
 * build whose remat has no validate command yet. */
static void test_validate_device_cuda(void **state)
{
    (void)state;
    char *err = NULL;
    int rc = run("validate --help", &err);
    free(err);
    if (rc == 2) {
        fprintf(stderr, "this remat has no validate command: nothing to check\n");
        skip();
    }
    rc = run("plan --model gpt2 --set n_layer=2,n_head=2,n_embd=32,vocab_size=64,n_positions=16 "
             "--batch 2 --seq 16 --dtype bf16 --budget 1GB -o plan.yaml",
             &err);
    if (rc != 0)
        print_error("remat plan: %s\n", err);
    assert_int_equal(rc, 0);
    free(err);
    expect_clear_error("validate --plan plan.yaml --device cuda --steps 1", NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/plan.yaml", dir);
    unlink(path);
}

int main(void)
{
#if HAVE_CUDA
    if (cuda_test_have_device()) {
        fprintf(stderr, "a CUDA device is present: the no-GPU errors do not apply\n");
        return 77;
    }
#endif
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_measure_cuda),
        cmocka_unit_test(test_validate_device_cuda),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(dir);
    return rc;
}
