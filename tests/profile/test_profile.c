/* tests/profile/test_profile.c — module rows (block and sub-block level, saved
 * bytes counted once per tensor) and the profile YAML round trip through the
 * library: write, read, write again gives the same bytes and the same numbers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "reports/reports.h"
#include "tests/zoo_fixture.h"

static void build(profile *p, const char *model, const char *set, const char *target)
{
    zoo_profile(p, model, set, 0, 0, target);
}

static const module_profile *find_row(const module_profile *m, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(m[i].name, name) == 0)
            return &m[i];
    return NULL;
}

static void test_modules_mlp(void **state)
{
    (void)state;
    profile p;
    build(&p, "mlp", "depth=3,width=32,classes=4", "h100");
    module_profile *m;
    int n;
    remat_err e;
    assert_int_equal(profile_modules(&p, &m, &n, &e), 0);
    /* layers.{0,1,2} with .fc and .act each, head, loss */
    assert_int_equal(n, 3 * 3 + 2);
    assert_string_equal(m[0].name, "layers.0");
    assert_string_equal(m[1].name, "layers.0.fc");
    assert_string_equal(m[2].name, "layers.0.act");
    assert_string_equal(m[n - 1].name, "loss");
    const module_profile *l1 = find_row(m, n, "layers.1");
    assert_non_null(l1);
    int64_t act = 1 * 32 * 4; /* batch 1, width 32, fp32 */
    /* layers.1 saves its input (layers.0's relu output, read by fc) and its relu output */
    assert_int_equal(l1->saved_bytes, 2 * act);
    assert_int_equal(find_row(m, n, "layers.1.fc")->saved_bytes, act);
    assert_int_equal(find_row(m, n, "layers.1.act")->saved_bytes, act);
    assert_int_equal(l1->flops_fwd, p.ops[2].flops_fwd + p.ops[3].flops_fwd);
    assert_int_equal(l1->first_op, 2);
    assert_int_equal(l1->last_op, 3);
    profile_free_modules(m, n);
    profile_free(&p);
}

/* Two ops of one sub-block read the same tensor: the module counts it once. */
static void test_modules_distinct_saved(void **state)
{
    (void)state;
    graph g;
    remat_err e;
    graph_init(&g, "hand");
    int64_t s[2] = {2, 8}, one[1] = {1}, rows[1] = {2};
    int x = graph_add_tensor(&g, "x", ROLE_INPUT, DT_F32, 2, s, &e);
    int tg = graph_add_tensor(&g, "t", ROLE_INPUT, DT_I32, 1, rows, &e);
    int a = graph_add_tensor(&g, "blk.0.a.out", ROLE_ACT, DT_F32, 2, s, &e);
    int b = graph_add_tensor(&g, "blk.0.b.out", ROLE_ACT, DT_F32, 2, s, &e);
    int c = graph_add_tensor(&g, "blk.0.c.out", ROLE_ACT, DT_F32, 2, s, &e);
    int l = graph_add_tensor(&g, "loss.out", ROLE_ACT, DT_F32, 1, one, &e);
    int lse = graph_add_tensor(&g, "loss.lse", ROLE_EXTRA, DT_F32, 1, rows, &e);
    graph_op o1 = {.name = "blk.0.a.relu", .module = "blk.0.a", .kind = OP_RELU, .n_in = 1,
                   .in = {x}, .out = a, .n_saved = 1, .saved = {a}};
    graph_op o2 = {.name = "blk.0.a.relu2", .module = "blk.0.a", .kind = OP_RELU, .n_in = 1,
                   .in = {a}, .out = b, .n_saved = 1, .saved = {b}};
    graph_op o3 = {.name = "blk.0.c.add", .module = "blk.0.c", .kind = OP_ADD, .n_in = 2,
                   .in = {a, b}, .out = c, .n_saved = 0};
    graph_op o4 = {.name = "loss", .module = "loss", .kind = OP_LOSS, .n_in = 2,
                   .in = {c, tg}, .out = l, .n_extra = 1, .extra = {lse}, .n_saved = 3,
                   .saved = {c, tg, lse}};
    /* a relu saving its input as well as its output, and the input twice */
    o2.n_saved = 3;
    o2.saved[1] = a;
    o2.saved[2] = a;
    assert_true(graph_add_op(&g, &o1, &e) >= 0);
    assert_true(graph_add_op(&g, &o2, &e) >= 0);
    assert_true(graph_add_op(&g, &o3, &e) >= 0);
    assert_true(graph_add_op(&g, &o4, &e) >= 0);
    profile p;
    assert_int_equal(profile_analytic(&p, &g, device_find("cpu"), &e), 0);
    module_profile *m;
    int n;
    assert_int_equal(profile_modules(&p, &m, &n, &e), 0);
    assert_int_equal(n, 4); /* blk.0, blk.0.a, blk.0.c, loss */
    assert_string_equal(m[0].name, "blk.0");
    assert_string_equal(m[1].name, "blk.0.a");
    assert_string_equal(m[2].name, "blk.0.c");
    assert_string_equal(m[3].name, "loss");
    assert_int_equal(m[1].saved_bytes, 2 * 64); /* a and b, a once */
    assert_int_equal(m[0].saved_bytes, 2 * 64);
    assert_int_equal(m[2].saved_bytes, 0);
    assert_int_equal(m[3].saved_bytes, 64 + 8); /* c and lse; the INPUT targets excluded */
    assert_int_equal(p.ops[1].saved_bytes, 2 * 64);
    assert_int_equal(p.totals.saved_activation_bytes, 3 * 64 + 8);
    profile_free_modules(m, n);
    profile_free(&p);
}

static char *write_mem(const profile *p, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    assert_non_null(f);
    remat_err e;
    int rc = yaml_write_profile(f, p, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    fclose(f);
    return buf;
}

static void round_trip(const char *model, const char *set, const char *target)
{
    profile p, q;
    build(&p, model, set, target);
    size_t la, lb;
    char *a = write_mem(&p, &la);
    char path[] = "profile-rt-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, a, la), (ssize_t)la);
    close(fd);
    remat_err e;
    int rc = yaml_read_profile(path, &q, &e);
    unlink(path);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    char *b = write_mem(&q, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_int_equal(q.g.n_ops, p.g.n_ops);
    assert_int_equal(q.source, p.source);
    assert_string_equal(q.target, p.target);
    assert_int_equal(q.totals.params, p.totals.params);
    assert_int_equal(q.totals.saved_activation_bytes, p.totals.saved_activation_bytes);
    assert_true(q.totals.time_fwd_s == p.totals.time_fwd_s);
    for (int i = 0; i < p.g.n_ops; i++) {
        assert_true(q.ops[i].time_bwd_s == p.ops[i].time_bwd_s);
        assert_int_equal(q.ops[i].flops_fwd, p.ops[i].flops_fwd);
        assert_int_equal(q.ops[i].saved_bytes, p.ops[i].saved_bytes);
    }
    free(a);
    free(b);
    profile_free(&p);
    profile_free(&q);
}

static void test_round_trip(void **state)
{
    (void)state;
    round_trip("mlp", "depth=2,width=48", "h100");
    round_trip("chain", "length=5", "l4");
}

/* Reading a profile held in memory (a string) through a temporary file. */
static int read_text(const char *text, profile *p, remat_err *e)
{
    char path[] = "profile-bad-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    int rc = yaml_read_profile(path, p, e);
    unlink(path);
    return rc;
}

/* A copy of text with the first `from` at or after `after` replaced by `to`. */
static char *replace_after(const char *text, const char *after, const char *from, const char *to)
{
    const char *at = strstr(after, from);
    assert_non_null(at);
    size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return out;
}

static void test_reader_errors(void **state)
{
    (void)state;
    profile p;
    build(&p, "chain", "length=2", "h100");
    size_t len;
    char *good = write_mem(&p, &len);
    profile_free(&p);
    remat_err e;
    /* sanity: the unmodified text reads */
    assert_int_equal(read_text(good, &p, &e), 0);
    profile_free(&p);

    /* bad numbers in ops (the modules' numbers are derived, not read) */
    const char *ops = strstr(good, "\nops:");
    assert_non_null(ops);
    char *bad = replace_after(good, ops, "time_bwd_s: 1.0}", "time_bwd_s: x}");
    assert_true(read_text(bad, &p, &e) < 0);
    assert_non_null(strstr(e.msg, "time_bwd_s 'x' is not a finite number"));
    assert_null(p.ops);
    free(bad);
    bad = replace_after(good, ops, "time_fwd_s: 1.0,", "time_fwd_s: -1.0,");
    assert_true(read_text(bad, &p, &e) < 0);
    assert_non_null(strstr(e.msg, "time_fwd_s -1 is out of range"));
    free(bad);
    bad = replace_after(good, ops, "time_fwd_s: 1.0,", "time_fwd_s: .nan,");
    assert_true(read_text(bad, &p, &e) < 0);
    assert_non_null(strstr(e.msg, "time_fwd_s '.nan' is not a finite number"));
    free(bad);

    /* descriptive fields that disagree with the graph */
    bad = replace_after(good, ops, "module: stages.1,", "module: stages.9,");
    assert_int_equal(read_text(bad, &p, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "op 'stages.1': module 'stages.9' differs"));
    free(bad);
    bad = replace_after(good, ops, "out_bytes: 4096,", "out_bytes: 4095,");
    assert_int_equal(read_text(bad, &p, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "op 'stages.0': out_bytes 4095 differs from the graph's 4096"));
    free(bad);
    bad = replace_after(good, ops, "kind: stage,", "kind: relu,");
    assert_int_equal(read_text(bad, &p, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "kind 'relu' differs"));
    free(bad);

    /* an unknown top-level key, reported at its line and column */
    size_t n = len + 32;
    bad = malloc(n);
    snprintf(bad, n, "colour: blue\n%s", good);
    assert_int_equal(read_text(bad, &p, &e), -EINVAL);
    assert_non_null(strstr(e.msg, ":1:1: unknown key 'colour' in the profile"));
    free(bad);

    /* an op renamed */
    bad = replace_after(good, ops, "- {name: stages.1,", "- {name: stages.7,");
    assert_int_equal(read_text(bad, &p, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "ops entry 1 is 'stages.7'"));
    free(bad);

    /* an op missing from ops */
    bad = replace_after(good, ops, "- {name: stages.1,", "- {nome: stages.1,");
    assert_int_equal(read_text(bad, &p, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "unknown key 'nome'"));
    free(bad);

    /* truncated: the graph section cut off */
    bad = strdup(good);
    char *at = strstr(bad, "\ngraph:");
    assert_non_null(at);
    at[1] = 0;
    assert_int_equal(read_text(bad, &p, &e), -EINVAL);
    assert_non_null(strstr(e.msg, "missing key 'graph'"));
    free(bad);

    /* empty file */
    assert_int_equal(read_text("", &p, &e), -EINVAL);
    assert_non_null(strstr(e.msg, ":1:1: empty file"));
    /* binary garbage */
    assert_int_equal(read_text("format_version: 1\n\x01\x02\xff\xfe", &p, &e), -EINVAL);
    free(good);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modules_mlp),
        cmocka_unit_test(test_modules_distinct_saved),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_reader_errors),
    };
    return cmocka_run_group_tests_name("profile", tests, NULL, NULL);
}
