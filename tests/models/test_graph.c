/* tests/models/test_graph.c — graph IR storage, validation and shared helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "models/graph.h"

static void test_dtype_and_sizes(void **state)
{
    (void)state;
    assert_int_equal(dtype_size(DT_BF16), 2);
    assert_int_equal(dtype_from_name("bfloat16"), DT_BF16);
    assert_int_equal(dtype_from_name("fp8"), -EINVAL);
    int64_t b = 0;
    remat_err e;
    assert_int_equal(remat_parse_size("24GB", &b, &e), 0);
    assert_int_equal(b, 24000000000LL);
    assert_int_equal(remat_parse_size("24 GiB", &b, &e), 0);
    assert_int_equal(b, 24LL << 30);
    assert_int_equal(remat_parse_size("1.5KiB", &b, &e), 0);
    assert_int_equal(b, 1536);
    assert_int_equal(remat_parse_size("4096", &b, &e), 0);
    assert_int_equal(b, 4096);
    assert_int_equal(remat_parse_size("12 parsecs", &b, &e), -EINVAL);
    assert_int_equal(remat_parse_size("-3GB", &b, &e), -EINVAL);
    assert_int_equal(remat_parse_size("1e30TB", &b, &e), -ERANGE);
    int64_t x;
    assert_false(checked_mul64(INT64_MAX / 2 + 1, 2, &x));
    assert_true(checked_mul64(1 << 20, 1 << 20, &x));
    assert_false(checked_add64(INT64_MAX, 1, &x));
}

static void test_build_and_lookup(void **state)
{
    (void)state;
    graph g;
    remat_err e;
    graph_init(&g, "t");
    int64_t shp[2] = {2, 3};
    int in = graph_add_tensor(&g, "in", ROLE_INPUT, DT_F32, 2, shp, &e);
    int out = graph_add_tensor(&g, "out", ROLE_ACT, DT_F32, 2, shp, &e);
    assert_true(in >= 0 && out >= 0);
    assert_int_equal(graph_add_tensor(&g, "out", ROLE_ACT, DT_F32, 2, shp, &e), -EINVAL);
    int64_t bad[2] = {2, -1};
    assert_int_equal(graph_add_tensor(&g, "bad", ROLE_ACT, DT_F32, 2, bad, &e), -EINVAL);
    int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    assert_int_equal(graph_add_tensor(&g, "huge", ROLE_ACT, DT_F32, 2, huge, &e), -ERANGE);
    graph_op o = {.name = "relu", .kind = OP_RELU, .n_in = 1, .in = {in}, .out = out,
                  .n_saved = 1, .saved = {out}};
    assert_int_equal(graph_add_op(&g, &o, &e), 0);
    assert_int_equal(graph_find_op(&g, "relu"), 0);
    assert_int_equal(graph_find_tensor(&g, "out"), out);
    assert_int_equal(graph_find_tensor(&g, "nope"), -1);
    assert_int_equal(graph_validate(&g, &e), 0);
    assert_int_equal(graph_saved_bytes(&g), 24);
    graph_free(&g);
}

static void test_validate_rejects_wrong_order(void **state)
{
    (void)state;
    graph g;
    remat_err e;
    graph_init(&g, "t");
    int64_t shp[1] = {4};
    int a = graph_add_tensor(&g, "a", ROLE_ACT, DT_F32, 1, shp, &e);
    int b = graph_add_tensor(&g, "b", ROLE_ACT, DT_F32, 1, shp, &e);
    /* op0 reads b, which op1 produces later: a cycle or a wrong order */
    graph_op o0 = {.name = "op0", .kind = OP_RELU, .n_in = 1, .in = {b}, .out = a};
    graph_op o1 = {.name = "op1", .kind = OP_RELU, .n_in = 1, .in = {a}, .out = b};
    assert_int_equal(graph_add_op(&g, &o0, &e), 0);
    assert_int_equal(graph_add_op(&g, &o1, &e), 1);
    assert_int_equal(graph_validate(&g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "op0"));
    graph_free(&g);
}

static void test_validate_rejects_dangling(void **state)
{
    (void)state;
    graph g;
    remat_err e;
    graph_init(&g, "t");
    int64_t shp[1] = {4};
    int in = graph_add_tensor(&g, "in", ROLE_INPUT, DT_F32, 1, shp, &e);
    int a = graph_add_tensor(&g, "a", ROLE_ACT, DT_F32, 1, shp, &e);
    graph_add_tensor(&g, "orphan", ROLE_ACT, DT_F32, 1, shp, &e);
    graph_op o0 = {.name = "op0", .kind = OP_RELU, .n_in = 1, .in = {in}, .out = a};
    assert_int_equal(graph_add_op(&g, &o0, &e), 0);
    assert_int_equal(graph_validate(&g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "orphan"));
    graph_free(&g);
}

static void test_zoo_chain_and_mlp(void **state)
{
    (void)state;
    graph g;
    remat_err e;
    model_spec s = {.name = "chain", .dtype = -1, .dropout = -1, .batch = 2};
    char *store = NULL;
    assert_int_equal(model_spec_parse_set(&s, "length=7,width=16", &store, &e), 0);
    assert_int_equal(zoo_build(&s, &g, &e), 0);
    assert_int_equal(g.n_ops, 8); /* 7 stages + loss */
    assert_string_equal(graph_get_config(&g, "length"), "7");
    assert_int_equal(graph_param_count(&g, true), 7 * 16);
    graph_free(&g);
    free(store);

    model_spec m = {.name = "mlp", .dtype = -1, .dropout = -1, .batch = 4};
    assert_int_equal(model_spec_parse_set(&m, "depth=3,width=8,classes=5", &store, &e), 0);
    assert_int_equal(zoo_build(&m, &g, &e), 0);
    assert_int_equal(graph_param_count(&g, false), 3 * (8 * 8 + 8) + 5 * 8 + 5);
    graph_free(&g);
    free(store);

    model_spec u = {.name = "mlp", .dtype = -1, .dropout = -1};
    assert_int_equal(model_spec_parse_set(&u, "depht=3", &store, &e), 0);
    assert_int_equal(zoo_build(&u, &g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "depht"));
    free(store);
    model_spec z = {.name = "mlp", .dtype = -1, .dropout = -1};
    assert_int_equal(model_spec_parse_set(&z, "width=0", &store, &e), 0);
    assert_int_equal(zoo_build(&z, &g, &e), -EINVAL);
    free(store);
    model_spec q = {.name = "nosuch", .dtype = -1, .dropout = -1};
    assert_int_equal(zoo_build(&q, &g, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "nosuch"));
    assert_int_equal(model_spec_parse_set(&q, "novalue", &store, &e), -EINVAL);
    free(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_and_sizes),
        cmocka_unit_test(test_build_and_lookup),
        cmocka_unit_test(test_validate_rejects_wrong_order),
        cmocka_unit_test(test_validate_rejects_dangling),
        cmocka_unit_test(test_zoo_chain_and_mlp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
