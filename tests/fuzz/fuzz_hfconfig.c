/* tests/fuzz/fuzz_hfconfig.c — libFuzzer target: zoo_build_hf_config on arbitrary
 * bytes (a Hugging Face config.json), with the CLI's default sizes. */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    model_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.dtype = -1;
    spec.dropout = -1;
    graph g;
    remat_err e = {{0}};
    int rc = zoo_build_hf_config(fuzz_file(data, size, ".json"), &spec, &g, &e);
    fuzz_check_error(rc, &e);
    if (rc == 0)
        graph_free(&g);
    return 0;
}
