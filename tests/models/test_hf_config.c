/* tests/models/test_hf_config.c — building gpt2 and llama from Hugging Face
 * config.json files (pretty-printed and compact JSON), spec overrides, and refusals
 * that name file:line:column. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "models/graph.h"

#define HF(name) FIXTURES_DIR "/hf/" name

static void test_good_configs(void **state)
{
    (void)state;
    static const struct {
        const char *file, *model;
        int64_t params;
        double dropout;
    } rows[] = {
        {HF("gpt2-config.json"), "gpt2", 124439808, 0.1},       /* resid_pdrop */
        {HF("llama-config.json"), "llama", 6738415616, 0.0},
        {HF("llama3-config-compact.json"), "llama", 8030261248, 0.0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        model_spec s = {.batch = 2, .seq = 64, .dtype = DT_BF16, .dropout = -1};
        graph g;
        remat_err e = {{0}};
        int rc = zoo_build_hf_config(rows[i].file, &s, &g, &e);
        if (rc)
            fprintf(stderr, "%s\n", e.msg);
        assert_int_equal(rc, 0);
        assert_string_equal(g.model, rows[i].model);
        assert_int_equal(graph_param_count(&g, false), rows[i].params);
        assert_true(g.dropout == rows[i].dropout);
        assert_int_equal(g.batch, 2);
        assert_int_equal(g.seq, 64);
        assert_int_equal(g.dtype, DT_BF16);
        graph_free(&g);
    }
    /* the config's values are recorded; the llama3 file's GQA and theta arrive */
    model_spec s = {.seq = 32, .dtype = -1, .dropout = -1};
    graph g;
    remat_err e = {{0}};
    assert_int_equal(zoo_build_hf_config(HF("llama3-config-compact.json"), &s, &g, &e), 0);
    assert_string_equal(graph_get_config(&g, "num_key_value_heads"), "8");
    int rope = graph_find_op(&g, "model.layers.0.self_attn.rope_q");
    assert_true(g.ops[rope].fattr[0] == 500000.0);
    graph_free(&g);
}

static void test_spec_overrides(void **state)
{
    (void)state;
    model_spec s = {.seq = 16, .dtype = -1, .dropout = 0};
    char *store = NULL;
    remat_err e = {{0}};
    assert_int_equal(model_spec_parse_set(&s, "n_layer=2,n_embd=64,n_head=4", &store, &e), 0);
    graph g;
    assert_int_equal(zoo_build_hf_config(HF("gpt2-config.json"), &s, &g, &e), 0);
    int64_t C = 64, V = 50257, P = 1024;
    assert_int_equal(graph_param_count(&g, false), V * C + P * C + 2 * (12 * C * C + 13 * C) + 2 * C);
    assert_true(g.dropout == 0.0);
    graph_free(&g);
    free(store);
    /* a --set that breaks the model is reported without a file position */
    model_spec t = {.seq = 16, .dtype = -1, .dropout = -1};
    assert_int_equal(model_spec_parse_set(&t, "n_head=5", &store, &e), 0);
    assert_int_equal(zoo_build_hf_config(HF("gpt2-config.json"), &t, &g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "n_head=5"));
    free(store);
    model_spec u = {.seq = 4096, .dtype = -1, .dropout = -1};
    assert_int_equal(zoo_build_hf_config(HF("gpt2-config.json"), &u, &g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "n_positions"));
}

static void test_bad_configs(void **state)
{
    (void)state;
    static const struct {
        const char *file, *where, *what;
    } rows[] = {
        {"bad-heads.json", "bad-heads.json:15:13:", "n_head=7"},
        {"bad-kv-heads.json", "bad-kv-heads.json:16:26:", "num_key_value_heads=5"},
        {"bad-model-type.json", "bad-model-type.json:12:17:", "bert"},
        {"bad-no-model-type.json", "bad-no-model-type.json:1:1:", "model_type"},
        {"bad-value.json", "bad-value.json:17:14:", "twelve"},
        {"bad-negative.json", "bad-negative.json:17:14:", "positive"},
        {"bad-duplicate.json", "bad-duplicate.json:31:24:", "duplicate key 'n_layer'"},
        {"bad-syntax.json", "bad-syntax.json:15:", "YAML error"},
        {"bad-truncated.json", "bad-truncated.json:13:", "YAML error"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/hf/%s", FIXTURES_DIR, rows[i].file);
        model_spec s = {.seq = 16, .dtype = -1, .dropout = -1};
        graph g;
        remat_err e = {{0}};
        int rc = zoo_build_hf_config(path, &s, &g, &e);
        if (rc != -EINVAL || !strstr(e.msg, rows[i].where) || !strstr(e.msg, rows[i].what))
            fprintf(stderr, "%s: rc %d '%s'\n", rows[i].file, rc, e.msg);
        assert_int_equal(rc, -EINVAL);
        assert_non_null(strstr(e.msg, rows[i].where));
        assert_non_null(strstr(e.msg, rows[i].what));
        assert_int_equal(g.n_ops, 0);
    }
    model_spec s = {.dtype = -1, .dropout = -1};
    graph g;
    remat_err e = {{0}};
    assert_int_equal(zoo_build_hf_config(HF("missing.json"), &s, &g, &e), -ENOENT);
    assert_non_null(strstr(e.msg, "missing.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_configs),
        cmocka_unit_test(test_spec_overrides),
        cmocka_unit_test(test_bad_configs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
