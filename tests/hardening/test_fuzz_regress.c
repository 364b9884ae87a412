/* tests/hardening/test_fuzz_regress.c — runs one libFuzzer target's entry point
 * (compiled in from tests/fuzz/fuzz_<FUZZ_TARGET>.c, built with the normal
 * compiler) on every input that once crashed it (tests/fixtures/bad/fuzz/<target>/)
 * and on its seed corpus (tests/fuzz/corpus/<target>/). The target aborts on a
 * bad error report, so a regression fails this test; ASan/UBSan and valgrind see
 * the same code paths the fuzzer did. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        uint8_t *buf = malloc(1 << 20);
        assert_non_null(buf);
        size_t len = fread(buf, 1, 1 << 20, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

static void test_regressions(void **state)
{
    (void)state;
    int n = run_dir(FIXTURES_DIR "/bad/fuzz/" FUZZ_TARGET);
    n += run_dir(CORPUS_DIR "/" FUZZ_TARGET);
    assert_true(n > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_regressions)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
