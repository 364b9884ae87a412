/* tests/hardening/test_atomic.c — report_write_atomic: a failing writer leaves an
 * existing file byte for byte and no temporary beside it; stdout gets nothing
 * unless the whole output was produced; a new file gets the umask's mode and a
 * replaced file keeps its mode. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "reports/reports.h"
#include "tests/cli/cli_util.h"

/* Writes half of its text, then fails when ctx says so. */
static int writer(FILE *f, void *ctx, remat_err *err)
{
    bool fail = *(bool *)ctx;
    fputs("first half of the output\n", f);
    if (fail)
        return remat_fail(err, -EIO, "simulated failure in the middle");
    fputs("second half\n", f);
    return 0;
}

static void test_failure_keeps_file(void **state)
{
    (void)state;
    const char *path = cli_path("out.yaml");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("old content\n", f);
    fclose(f);
    bool fail = true;
    remat_err e;
    assert_int_equal(report_write_atomic(path, writer, &fail, &e), -EIO);
    size_t len;
    char *t = cli_slurp(path, &len);
    assert_string_equal(t, "old content\n");
    free(t);
    assert_int_equal(cli_scratch_count(), 1); /* no temporary left */
    /* a directory that does not exist: an error, nothing created */
    assert_true(report_write_atomic(cli_path("no/such/dir.yaml"), writer, &fail, &e) < 0);
    assert_int_equal(cli_scratch_count(), 1);
}

static void test_modes(void **state)
{
    (void)state;
    bool fail = false;
    remat_err e;
    mode_t mask = umask(022);
    const char *fresh = cli_path("new.yaml");
    assert_int_equal(report_write_atomic(fresh, writer, &fail, &e), 0);
    struct stat st;
    assert_int_equal(stat(fresh, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    /* replacing a 0640 file keeps 0640 */
    const char *old = cli_path("old.yaml");
    int fd = open(old, O_WRONLY | O_CREAT, 0640);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(chmod(old, 0640), 0);
    assert_int_equal(report_write_atomic(old, writer, &fail, &e), 0);
    assert_int_equal(stat(old, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    size_t len;
    char *t = cli_slurp(old, &len);
    assert_string_equal(t, "first half of the output\nsecond half\n");
    free(t);
    umask(mask);
}

/* stdout ("-"): redirected to a file for the test */
static void test_stdout_all_or_nothing(void **state)
{
    (void)state;
    const char *cap = cli_path("stdout.txt");
    fflush(stdout);
    int saved = dup(1);
    int fd = open(cap, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 1);
    close(fd);
    bool fail = true;
    remat_err e;
    int rc1 = report_write_atomic("-", writer, &fail, &e);
    fail = false;
    int rc2 = report_write_atomic("-", writer, &fail, &e);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    assert_int_equal(rc1, -EIO);
    assert_int_equal(rc2, 0);
    size_t len;
    char *t = cli_slurp(cap, &len);
    /* only the successful call's output, whole */
    assert_string_equal(t, "first half of the output\nsecond half\n");
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failure_keeps_file, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_modes, cli_setup, cli_teardown),
        cmocka_unit_test_setup_teardown(test_stdout_all_or_nothing, cli_setup, cli_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
