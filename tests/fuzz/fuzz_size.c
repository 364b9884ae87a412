/* tests/fuzz/fuzz_size.c — libFuzzer target: the size parser (--budget, --budgets)
 * and the --set parser, then a zoo build with the parsed keys (the path a command
 * line takes). The first byte picks the zoo model, the rest is the text. */
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const char *const models[] = {"mlp", "chain", "gpt2", "llama"};
    const char *model = models[data[0] % 4];
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = 0;
    remat_err e = {{0}};
    int64_t bytes = -1;
    int rc = remat_parse_size(s, &bytes, &e);
    fuzz_check_error(rc, &e);
    if (rc == 0 && bytes < 0) {
        fprintf(stderr, "negative size %lld from '%s'\n", (long long)bytes, s);
        abort();
    }
    model_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.name = model;
    spec.dtype = -1;
    spec.dropout = -1;
    char *storage = NULL;
    rc = model_spec_parse_set(&spec, s, &storage, &e);
    fuzz_check_error(rc, &e);
    if (rc == 0) {
        graph g;
        rc = zoo_build(&spec, &g, &e);
        fuzz_check_error(rc, &e);
        if (rc == 0)
            graph_free(&g);
    }
    free(storage);
    free(s);
    return 0;
}
