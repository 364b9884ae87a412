/* tests/fuzz/fuzz_modelfile.c — libFuzzer target: modelfile_read on arbitrary
 * bytes; a graph that loads must also validate, copy and write back. */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    graph g;
    remat_err e = {{0}};
    int rc = modelfile_read(fuzz_file(data, size, ".yaml"), &g, &e);
    fuzz_check_error(rc, &e);
    if (rc == 0) {
        graph c;
        if (graph_copy(&c, &g) == 0)
            graph_free(&c);
        FILE *f = fopen("/dev/null", "w");
        if (f) {
            modelfile_write(f, &g, &e);
            fclose(f);
        }
        graph_free(&g);
    }
    return 0;
}
