/* tests/fuzz/fuzz_profile.c — libFuzzer target: yaml_read_profile on arbitrary
 * bytes; a profile that loads is written back and reloaded. */
#include "reports/reports.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    profile p;
    remat_err e = {{0}};
    int rc = yaml_read_profile(fuzz_file(data, size, ".yaml"), &p, &e);
    fuzz_check_error(rc, &e);
    if (rc == 0) {
        FILE *f = fopen("/dev/null", "w");
        if (f) {
            yaml_write_profile(f, &p, &e);
            fclose(f);
        }
        profile_free(&p);
    }
    return 0;
}
