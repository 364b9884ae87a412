/* tests/models/test_modelfile.c — the YAML model-file format: a hand-written file
 * reads with the documented defaults, every zoo model survives a write/read round
 * trip field for field, and each kind of malformed file is refused with -EINVAL and
 * a message naming file:line:column. */
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

#include "models/graph.h"

#define FIX(name) FIXTURES_DIR "/models/" name

/* Asserts that a and b are the same graph, field for field. */
static void assert_graphs_equal(const graph *a, const graph *b)
{
    assert_string_equal(a->model, b->model);
    assert_int_equal(a->n_config, b->n_config);
    for (int i = 0; i < a->n_config; i++) {
        assert_string_equal(a->config[i].key, b->config[i].key);
        assert_string_equal(a->config[i].value, b->config[i].value);
    }
    assert_int_equal(a->batch, b->batch);
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->image, b->image);
    assert_int_equal(a->dtype, b->dtype);
    assert_int_equal(a->param_dtype, b->param_dtype);
    assert_true(a->dropout == b->dropout);
    assert_int_equal(a->n_tensors, b->n_tensors);
    for (int i = 0; i < a->n_tensors; i++) {
        const graph_tensor *s = &a->tensors[i], *t = &b->tensors[i];
        assert_string_equal(s->name, t->name);
        assert_int_equal(s->ndim, t->ndim);
        for (int d = 0; d < GRAPH_MAX_DIMS; d++)
            assert_int_equal(s->shape[d], t->shape[d]);
        assert_int_equal(s->dtype, t->dtype);
        assert_int_equal(s->role, t->role);
        assert_int_equal(s->numel, t->numel);
        assert_int_equal(s->bytes, t->bytes);
        assert_int_equal(s->producer, t->producer);
        assert_int_equal(s->frozen, t->frozen);
        assert_int_equal(s->needs_grad, t->needs_grad);
    }
    assert_int_equal(a->n_ops, b->n_ops);
    for (int i = 0; i < a->n_ops; i++) {
        const graph_op *o = &a->ops[i], *p = &b->ops[i];
        assert_string_equal(o->name, p->name);
        assert_string_equal(o->module, p->module);
        assert_int_equal(o->kind, p->kind);
        assert_int_equal(o->n_in, p->n_in);
        assert_memory_equal(o->in, p->in, sizeof(int) * (size_t)o->n_in);
        assert_int_equal(o->out, p->out);
        assert_int_equal(o->n_extra, p->n_extra);
        assert_memory_equal(o->extra, p->extra, sizeof(int) * (size_t)o->n_extra);
        assert_int_equal(o->n_saved, p->n_saved);
        assert_memory_equal(o->saved, p->saved, sizeof(int) * (size_t)o->n_saved);
        assert_int_equal(o->n_param, p->n_param);
        assert_memory_equal(o->param, p->param, sizeof(int) * (size_t)o->n_param);
        for (int k = 0; k < GRAPH_MAX_ATTRS; k++)
            assert_int_equal(o->attr[k], p->attr[k]);
        assert_true(o->fattr[0] == p->fattr[0] && o->fattr[1] == p->fattr[1]);
        assert_int_equal(o->flops_fwd, p->flops_fwd);
        assert_int_equal(o->flops_bwd, p->flops_bwd);
        assert_int_equal(o->ws_fwd, p->ws_fwd);
        assert_int_equal(o->ws_bwd, p->ws_bwd);
    }
}

/* Writes g to a temporary file, reads it back into *back. */
static void write_and_read(const graph *g, graph *back)
{
    char path[] = "modelfile_rt_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    remat_err e = {{0}};
    assert_int_equal(modelfile_write(f, g, &e), 0);
    assert_int_equal(fclose(f), 0);
    int rc = modelfile_read(path, back, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    unlink(path);
}

static void test_hand_written_defaults(void **state)
{
    (void)state;
    graph g;
    remat_err e = {{0}};
    int rc = modelfile_read(FIX("tiny.yaml"), &g, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_string_equal(g.model, "tiny-mlp");
    assert_string_equal(graph_get_config(&g, "width"), "64");
    assert_int_equal(g.batch, 8);
    assert_true(g.dropout == 0.1);
    assert_int_equal(g.n_ops, 6);
    /* module defaults to the op name; saved to the kind's convention */
    int ln = graph_find_op(&g, "ln");
    assert_string_equal(g.ops[ln].module, "ln");
    assert_int_equal(g.ops[ln].n_saved, 3);
    assert_int_equal(g.ops[ln].saved[1], graph_find_tensor(&g, "ln.mean"));
    int drop = graph_find_op(&g, "drop");
    assert_int_equal(g.ops[drop].n_saved, 1);
    assert_int_equal(g.ops[drop].saved[0], graph_find_tensor(&g, "drop.mask"));
    assert_int_equal(g.ops[drop].attr[0], 7);
    assert_true(g.ops[drop].fattr[0] == 0.1);
    /* FLOPs: default 2mkn(+mn bias) when absent, the given value when present */
    int fc1 = graph_find_op(&g, "fc1");
    assert_int_equal(g.ops[fc1].flops_fwd, 2 * 8 * 64 * 256 + 8 * 256);
    assert_int_equal(g.ops[fc1].flops_bwd, 4 * 8 * 64 * 256 + 8 * 256);
    int head = graph_find_op(&g, "head");
    assert_int_equal(g.ops[head].flops_fwd, 40960);
    assert_int_equal(g.ops[head].flops_bwd, 4 * 8 * 256 * 10);
    /* dtype defaults: activations/params the graph's, extras f32; frozen read */
    assert_int_equal(g.tensors[graph_find_tensor(&g, "ln.mean")].dtype, DT_F32);
    assert_true(g.tensors[graph_find_tensor(&g, "ln.bias")].frozen);
    assert_int_equal(graph_param_count(&g, false), 64 + 64 + 256 * 64 + 256 + 2560);
    assert_int_equal(graph_param_count(&g, true), 64 + 256 * 64 + 256 + 2560);
    assert_true(g.tensors[graph_find_tensor(&g, "fc1.out")].needs_grad);

    graph back;
    write_and_read(&g, &back);
    assert_graphs_equal(&g, &back);
    graph_free(&back);
    graph_free(&g);
}

typedef struct zoo_case {
    const char *name;
    const char *set;
    int64_t batch, seq, image;
    int dtype;
    double dropout;
} zoo_case;

static const zoo_case zoo_cases[] = {
    {"chain", "length=5,width=8", 2, 0, 0, -1, -1},
    {"mlp", "depth=3,width=16,classes=4", 3, 0, 0, DT_BF16, -1},
    {"gpt2", "n_layer=2,n_head=2,n_embd=16,vocab_size=30,n_positions=12", 2, 12, 0, DT_BF16, 0.1},
    {"gpt2-124m", "n_layer=1,vocab_size=64", 1, 8, 0, -1, -1},
    {"llama", "hidden_size=32,intermediate_size=48,num_hidden_layers=2,num_attention_heads=4,"
              "num_key_value_heads=2,vocab_size=40,max_position_embeddings=16",
     2, 16, 0, DT_F16, -1},
    {"llama3-8b", "hidden_size=64,intermediate_size=96,num_hidden_layers=1,vocab_size=50,"
                  "tie_word_embeddings=1",
     1, 8, 0, -1, -1},
    {"vgg16", "classes=10", 2, 0, 32, -1, 0.5},
    {"resnet50", "classes=7", 1, 0, 64, DT_BF16, -1},
    {"unet", "depth=2,base=4,in_channels=1,classes=3", 2, 0, 16, -1, -1},
};

static void test_zoo_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof zoo_cases / sizeof zoo_cases[0]; i++) {
        const zoo_case *c = &zoo_cases[i];
        model_spec s = {.name = c->name, .batch = c->batch, .seq = c->seq, .image = c->image,
                        .dtype = c->dtype, .dropout = c->dropout};
        char *store = NULL;
        remat_err e = {{0}};
        assert_int_equal(model_spec_parse_set(&s, c->set, &store, &e), 0);
        graph g, back;
        int rc = zoo_build(&s, &g, &e);
        if (rc)
            fprintf(stderr, "%s: %s\n", c->name, e.msg);
        assert_int_equal(rc, 0);
        write_and_read(&g, &back);
        assert_graphs_equal(&g, &back);
        graph_free(&back);
        graph_free(&g);
        free(store);
    }
}

/* Every row of the zoo at its default configuration (short sequences, small images). */
static void test_every_zoo_entry_round_trip(void **state)
{
    (void)state;
    int n;
    const zoo_entry *zl = zoo_list(&n);
    assert_true(n >= 14);
    for (int i = 0; i < n; i++) {
        model_spec s = {.name = zl[i].name, .seq = 32, .image = 32, .dtype = -1, .dropout = -1};
        graph g, back;
        remat_err e = {{0}};
        int rc = zoo_build(&s, &g, &e);
        if (rc)
            fprintf(stderr, "%s: %s\n", zl[i].name, e.msg);
        assert_int_equal(rc, 0);
        write_and_read(&g, &back);
        assert_graphs_equal(&g, &back);
        graph_free(&back);
        graph_free(&g);
    }
}

typedef struct bad_case {
    const char *file;
    const char *where;  /* "file:line:col" */
    const char *what;   /* a word of the message */
} bad_case;

static const bad_case bad_cases[] = {
    {"bad-dup-key.yaml", "bad-dup-key.yaml:2:1:", "duplicate key 'version'"},
    {"bad-unknown-key.yaml", "bad-unknown-key.yaml:3:15:", "unknown key 'shap'"},
    {"bad-type.yaml", "bad-type.yaml:3:22:", "must be a sequence"},
    {"bad-negative.yaml", "bad-negative.yaml:3:26:", "at least 1"},
    {"bad-huge.yaml", "bad-huge.yaml:2:8:", "out of range"},
    {"bad-nan.yaml", "bad-nan.yaml:2:10:", "finite"},
    {"bad-inf.yaml", "bad-inf.yaml:6:60:", "finite"},
    {"bad-version.yaml", "bad-version.yaml:1:10:", "version 2"},
    {"bad-quoted-number.yaml", "bad-quoted-number.yaml:2:8:", "must be a number"},
    {"bad-not-mapping.yaml", "bad-not-mapping.yaml:1:1:", "must be a mapping"},
    {"bad-cycle.yaml", "bad-cycle.yaml:7:37:", "cycle"},
    {"bad-self-loop.yaml", "bad-self-loop.yaml:6:36:", "cycle"},
    {"bad-dangling-name.yaml", "bad-dangling-name.yaml:6:36:", "'w'"},
    {"bad-dangling-tensor.yaml", "bad-dangling-tensor.yaml:5:5:", "dangling"},
    {"bad-shape.yaml", "bad-shape.yaml:6:5:", "shape"},
    {"bad-kind.yaml", "bad-kind.yaml:6:21:", "frobnicate"},
    {"bad-no-ops.yaml", "bad-no-ops.yaml:5:6:", "no ops"},
    {"bad-empty.yaml", "bad-empty.yaml:1:1:", "empty"},
    {"bad-comment-only.yaml", "bad-comment-only.yaml:1:1:", "empty"},
    {"bad-binary.bin", "bad-binary.bin:1:1:", "YAML error"},
    {"bad-truncated.yaml", "bad-truncated.yaml:22:1:", "YAML error"},
    {"bad-two-docs.yaml", "bad-two-docs.yaml:8:1:", "second YAML document"},
    {"bad-deep.yaml", "bad-deep.yaml:3:1:", "YAML error"},
};

static void test_bad_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        char path[512];
        snprintf(path, sizeof path, "%s/models/%s", FIXTURES_DIR, c->file);
        graph g;
        remat_err e = {{0}};
        int rc = modelfile_read(path, &g, &e);
        if (rc != -EINVAL || !strstr(e.msg, c->where) || !strstr(e.msg, c->what))
            fprintf(stderr, "case %s: rc %d, message '%s'\n", c->file, rc, e.msg);
        assert_int_equal(rc, -EINVAL);
        assert_non_null(strstr(e.msg, c->where));
        assert_non_null(strstr(e.msg, c->what));
        assert_null(strchr(e.msg, '\n'));
        assert_int_equal(g.n_ops, 0); /* left empty */
    }
}

static void test_unreadable_and_unwritable(void **state)
{
    (void)state;
    graph g;
    remat_err e = {{0}};
    assert_int_equal(modelfile_read(FIX("no-such-file.yaml"), &g, &e), -ENOENT);
    assert_non_null(strstr(e.msg, "no-such-file.yaml"));
    assert_int_equal(modelfile_read(FIXTURES_DIR "/models", &g, &e) < 0, 1);

    assert_int_equal(modelfile_read(FIX("ok-mini.yaml"), &g, &e), 0);
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        assert_int_equal(modelfile_write(full, &g, &e), -EIO);
        fclose(full);
    }
    graph_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_written_defaults),
        cmocka_unit_test(test_zoo_round_trip),
        cmocka_unit_test(test_every_zoo_entry_round_trip),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_unreadable_and_unwritable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
