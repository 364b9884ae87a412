/* tests/fuzz/fuzz_plan.c — libFuzzer target: yaml_read_plan (which rebuilds the
 * schedule and re-simulates it) on arbitrary bytes. */
#include "reports/reports.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    profile p;
    plan pl;
    remat_err e = {{0}};
    int rc = yaml_read_plan(fuzz_file(data, size, ".yaml"), &p, &pl, &e);
    fuzz_check_error(rc, &e);
    if (rc == 0) {
        FILE *f = fopen("/dev/null", "w");
        if (f) {
            yaml_write_plan(f, &p, &pl, &e);
            fclose(f);
        }
        plan_free(&pl);
        profile_free(&p);
    }
    return 0;
}
