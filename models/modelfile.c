/* models/modelfile.c — the YAML model-file format (docs/model-format.md): a graph
 * written by hand, exported by a tool, or dumped from the zoo, read back into the
 * same graph. Reading uses libyaml's document API so every error can name
 * path:line:column of the node at fault; writing uses the event emitter with one
 * small helper per construct and one sticky error flag. The reader trusts nothing:
 * every key, type, range, name and order is checked before the graph is built,
 * and the built graph must pass graph_validate and the op conventions. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "models/zoo_internal.h"

#define MF_VERSION 1
#define MF_MAX_FILE (INT64_C(1) << 30)   /* bytes of a model file */
#define MF_MAX_DIM (INT64_C(1) << 40)    /* one tensor dimension */
#define MF_MAX_SIZE (INT64_C(1) << 31)   /* batch, seq */
#define MF_MAX_IMAGE (INT64_C(1) << 20)
#define MF_MAX_ATTR (INT64_C(1) << 53)   /* integer attributes (seeds included) */
#define MF_MAX_WS (INT64_C(1) << 60)     /* workspace bytes */
#define MF_MAX_FATTR 1e12
#define MF_MAX_NAME 4096

static const char *const role_names[ROLE_COUNT] = {"input", "param", "act", "extra"};

/* ================================================================ reading */

typedef struct mf_reader {
    yaml_document_t *doc;
    const char *path;
    remat_err *err;
    graph *g;
    yaml_node_t **tnode; /* per tensor: the node that declared it */
    int tcap;
} mf_reader;

/* Formats "path:line:col: message" at node n and returns code. */
static int mf_fail(mf_reader *r, const yaml_node_t *n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int mf_fail(mf_reader *r, const yaml_node_t *n, int code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return remat_fail(r->err, code, "%s:%zu:%zu: %s", r->path, n->start_mark.line + 1,
                      n->start_mark.column + 1, msg);
}

static yaml_node_t *mf_node(mf_reader *r, int id) { return yaml_document_get_node(r->doc, id); }

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "scalar";
    case YAML_SEQUENCE_NODE: return "sequence";
    case YAML_MAPPING_NODE: return "mapping";
    default: return "empty node";
    }
}

/* The text of a scalar node (any style). */
static int mf_text(mf_reader *r, yaml_node_t *n, const char *what, const char **out)
{
    if (n->type != YAML_SCALAR_NODE)
        return mf_fail(r, n, -EINVAL, "%s must be a scalar, not a %s", what, node_kind(n));
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length)
        return mf_fail(r, n, -EINVAL, "%s contains a NUL character", what);
    *out = s;
    return 0;
}

/* A non-empty name of bounded length. */
static int mf_name(mf_reader *r, yaml_node_t *n, const char *what, const char **out)
{
    int rc = mf_text(r, n, what, out);
    if (rc)
        return rc;
    if (!**out)
        return mf_fail(r, n, -EINVAL, "%s is empty", what);
    if (strlen(*out) > MF_MAX_NAME)
        return mf_fail(r, n, -EINVAL, "%s is longer than %d characters", what, MF_MAX_NAME);
    /* names end up in tables, messages and trainer code: printable only */
    for (const char *c = *out; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return mf_fail(r, n, -EINVAL, "%s contains a control character (byte %d)", what,
                           (unsigned char)*c);
    return 0;
}

/* A plain (unquoted) scalar that must be a number. */
static int mf_number_text(mf_reader *r, yaml_node_t *n, const char *what, const char **out)
{
    int rc = mf_text(r, n, what, out);
    if (rc)
        return rc;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !**out)
        return mf_fail(r, n, -EINVAL, "%s must be a number, not the string '%s'", what, *out);
    return 0;
}

static int mf_int(mf_reader *r, yaml_node_t *n, const char *what, int64_t min, int64_t max,
                  int64_t *out)
{
    const char *s;
    int rc = mf_number_text(r, n, what, &s);
    if (rc)
        return rc;
    const char *p = s + (*s == '-' || *s == '+');
    if (!*p || strspn(p, "0123456789") != strlen(p))
        return mf_fail(r, n, -EINVAL, "%s must be an integer, not '%s'", what, s);
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return mf_fail(r, n, -EINVAL, "%s %s is out of range", what, s);
    if (v < min)
        return mf_fail(r, n, -EINVAL, "%s is %lld; it must be at least %lld", what, v,
                       (long long)min);
    if (v > max)
        return mf_fail(r, n, -EINVAL, "%s is %lld; it must be at most %lld", what, v,
                       (long long)max);
    *out = v;
    return 0;
}

static int mf_double(mf_reader *r, yaml_node_t *n, const char *what, double min, double max,
                     double *out)
{
    const char *s;
    int rc = mf_number_text(r, n, what, &s);
    if (rc)
        return rc;
    if (strpbrk(s, "nNiI"))
        return mf_fail(r, n, -EINVAL, "%s must be a finite number, not '%s'", what, s);
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end)
        return mf_fail(r, n, -EINVAL, "%s must be a number, not '%s'", what, s);
    if (errno == ERANGE || !isfinite(v))
        return mf_fail(r, n, -EINVAL, "%s %s is out of range", what, s);
    if (!(v >= min && v <= max))
        return mf_fail(r, n, -EINVAL, "%s is %g; it must be in [%g, %g]", what, v, min, max);
    *out = v;
    return 0;
}

static int mf_bool(mf_reader *r, yaml_node_t *n, const char *what, bool *out)
{
    const char *s;
    int rc = mf_number_text(r, n, what, &s);
    if (rc == 0 && strcmp(s, "true") && strcmp(s, "false"))
        rc = mf_fail(r, n, -EINVAL, "%s must be true or false, not '%s'", what, s);
    if (rc)
        return rc;
    *out = strcmp(s, "true") == 0;
    return 0;
}

static int mf_seq(mf_reader *r, yaml_node_t *n, const char *what, int max,
                  yaml_node_item_t **items, int *count)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return mf_fail(r, n, -EINVAL, "%s must be a sequence, not a %s", what, node_kind(n));
    ptrdiff_t c = n->data.sequence.items.top - n->data.sequence.items.start;
    if (c > max)
        return mf_fail(r, n, -EINVAL, "%s has %td entries (at most %d)", what, c, max);
    *items = n->data.sequence.items.start;
    *count = (int)c;
    return 0;
}

/* Splits a mapping into the values of known keys (vals[i] for keys[i], NULL when
 * absent). Unknown and duplicate keys are errors. */
static int mf_fields(mf_reader *r, yaml_node_t *map, const char *what, const char *const *keys,
                     yaml_node_t **vals)
{
    if (map->type != YAML_MAPPING_NODE)
        return mf_fail(r, map, -EINVAL, "%s must be a mapping, not a %s", what, node_kind(map));
    for (int i = 0; keys[i]; i++)
        vals[i] = NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = mf_node(r, p->key), *v = mf_node(r, p->value);
        const char *name;
        int rc = mf_text(r, k, "a key", &name);
        if (rc)
            return rc;
        int i = 0;
        while (keys[i] && strcmp(keys[i], name))
            i++;
        if (!keys[i])
            return mf_fail(r, k, -EINVAL, "unknown key '%s' in %s", name, what);
        if (vals[i])
            return mf_fail(r, k, -EINVAL, "duplicate key '%s' in %s", name, what);
        vals[i] = v;
    }
    return 0;
}

static int mf_missing(mf_reader *r, yaml_node_t *map, const char *key, const char *what)
{
    return mf_fail(r, map, -EINVAL, "%s has no '%s'", what, key);
}

/* A sequence of tensor names, each resolved to an index. */
static int mf_tensor_list(mf_reader *r, yaml_node_t *n, const char *what, int max, int *idx,
                          int *count, yaml_node_t **item_nodes)
{
    yaml_node_item_t *items;
    int c, rc = mf_seq(r, n, what, max, &items, &c);
    for (int i = 0; rc == 0 && i < c; i++) {
        yaml_node_t *it = mf_node(r, items[i]);
        const char *name;
        rc = mf_name(r, it, what, &name);
        if (rc)
            break;
        idx[i] = graph_find_tensor(r->g, name);
        if (idx[i] < 0)
            rc = mf_fail(r, it, -EINVAL, "%s names tensor '%s', which is not declared under "
                         "tensors", what, name);
        if (item_nodes)
            item_nodes[i] = it;
    }
    *count = c;
    return rc;
}

static int mf_dtype(mf_reader *r, yaml_node_t *n, const char *what, bool float_only,
                    remat_dtype *out)
{
    const char *s;
    int rc = mf_name(r, n, what, &s);
    if (rc)
        return rc;
    int dt = dtype_from_name(s);
    if (dt < 0 || (float_only && dt != DT_F32 && dt != DT_BF16 && dt != DT_F16))
        return mf_fail(r, n, -EINVAL, "%s '%s' is not one of %s", what, s,
                       float_only ? "fp32, bf16, fp16" : "fp32, bf16, fp16, i32, u8");
    *out = (remat_dtype)dt;
    return 0;
}

static int mf_config(mf_reader *r, yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE)
        return mf_fail(r, n, -EINVAL, "config must be a mapping, not a %s", node_kind(n));
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = mf_node(r, p->key), *v = mf_node(r, p->value);
        const char *key, *val;
        int rc = mf_name(r, k, "a config key", &key);
        if (rc == 0)
            rc = mf_text(r, v, "a config value", &val);
        if (rc)
            return rc;
        if (graph_get_config(r->g, key))
            return mf_fail(r, k, -EINVAL, "duplicate key '%s' in config", key);
        if (graph_set_config(r->g, key, val))
            return remat_fail(r->err, -ENOMEM, "out of memory");
    }
    return 0;
}

enum { TK_NAME, TK_SHAPE, TK_DTYPE, TK_ROLE, TK_FROZEN, TK_COUNT };
static const char *const tensor_keys[] = {"name", "shape", "dtype", "role", "frozen", NULL};

static int mf_tensor(mf_reader *r, yaml_node_t *n)
{
    yaml_node_t *v[TK_COUNT];
    int rc = mf_fields(r, n, "a tensor", tensor_keys, v);
    if (rc)
        return rc;
    for (int k = TK_NAME; k <= TK_ROLE; k++)
        if (!v[k] && k != TK_DTYPE)
            return mf_missing(r, n, tensor_keys[k], "a tensor");
    const char *name, *role_s;
    if ((rc = mf_name(r, v[TK_NAME], "a tensor name", &name)) ||
        (rc = mf_name(r, v[TK_ROLE], "a tensor role", &role_s)))
        return rc;
    int role = 0;
    while (role < ROLE_COUNT && strcmp(role_names[role], role_s))
        role++;
    if (role == ROLE_COUNT)
        return mf_fail(r, v[TK_ROLE], -EINVAL, "role '%s' of tensor '%s' is not one of input, "
                       "param, act, extra", role_s, name);
    if (graph_find_tensor(r->g, name) >= 0)
        return mf_fail(r, v[TK_NAME], -EINVAL, "duplicate tensor name '%s'", name);
    remat_dtype dt = role == ROLE_EXTRA ? DT_F32 : role == ROLE_PARAM ? r->g->param_dtype
                                                                      : r->g->dtype;
    if (v[TK_DTYPE] && (rc = mf_dtype(r, v[TK_DTYPE], "dtype", false, &dt)))
        return rc;
    yaml_node_item_t *items;
    int ndim;
    if ((rc = mf_seq(r, v[TK_SHAPE], "shape", GRAPH_MAX_DIMS, &items, &ndim)))
        return rc;
    int64_t shape[GRAPH_MAX_DIMS] = {0};
    for (int d = 0; d < ndim; d++)
        if ((rc = mf_int(r, mf_node(r, items[d]), "a dimension", 1, MF_MAX_DIM, &shape[d])))
            return rc;
    bool frozen = false;
    if (v[TK_FROZEN]) {
        if ((rc = mf_bool(r, v[TK_FROZEN], "frozen", &frozen)))
            return rc;
        if (role != ROLE_PARAM)
            return mf_fail(r, v[TK_FROZEN], -EINVAL, "frozen applies to parameters only");
    }
    remat_err e;
    int idx = graph_add_tensor(r->g, name, (tensor_role)role, dt, ndim, shape, &e);
    if (idx < 0)
        return mf_fail(r, n, idx == -ENOMEM ? -ENOMEM : -EINVAL, "%s", e.msg);
    r->g->tensors[idx].frozen = frozen;
    if (idx >= r->tcap) {
        int nc = r->tcap ? 2 * r->tcap : 256;
        yaml_node_t **t = realloc(r->tnode, (size_t)nc * sizeof *t);
        if (!t)
            return remat_fail(r->err, -ENOMEM, "out of memory");
        r->tnode = t;
        r->tcap = nc;
    }
    r->tnode[idx] = n;
    return 0;
}

enum {
    OK_NAME, OK_MODULE, OK_KIND, OK_INPUTS, OK_OUTPUT, OK_EXTRAS, OK_SAVED, OK_PARAMS, OK_ATTRS,
    OK_FATTRS, OK_FLOPS_FWD, OK_FLOPS_BWD, OK_WS_FWD, OK_WS_BWD, OK_COUNT
};
static const char *const op_keys[] = {"name",   "module",    "kind",      "inputs", "output",
                                      "extras", "saved",     "params",    "attrs",  "fattrs",
                                      "flops_fwd", "flops_bwd", "ws_fwd", "ws_bwd", NULL};

static int mf_op(mf_reader *r, yaml_node_t *n)
{
    yaml_node_t *v[OK_COUNT];
    int rc = mf_fields(r, n, "an op", op_keys, v);
    if (rc)
        return rc;
    static const int required[] = {OK_NAME, OK_KIND, OK_INPUTS, OK_OUTPUT};
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++)
        if (!v[required[k]])
            return mf_missing(r, n, op_keys[required[k]], "an op");
    graph *g = r->g;
    graph_op o;
    memset(&o, 0, sizeof o);
    const char *name, *module = NULL, *kind;
    if ((rc = mf_name(r, v[OK_NAME], "an op name", &name)) ||
        (v[OK_MODULE] && (rc = mf_name(r, v[OK_MODULE], "a module path", &module))) ||
        (rc = mf_name(r, v[OK_KIND], "an op kind", &kind)))
        return rc;
    if (graph_find_op(g, name) >= 0)
        return mf_fail(r, v[OK_NAME], -EINVAL, "duplicate op name '%s'", name);
    int k = op_kind_from_name(kind);
    if (k < 0)
        return mf_fail(r, v[OK_KIND], -EINVAL, "op '%s': unknown kind '%s'", name, kind);
    o.kind = (op_kind)k;
    o.name = (char *)name;
    o.module = (char *)module;

    yaml_node_t *item[GRAPH_MAX_SAVED];
    if ((rc = mf_tensor_list(r, v[OK_INPUTS], "inputs", GRAPH_MAX_INPUTS, o.in, &o.n_in, item)))
        return rc;
    if (o.n_in == 0)
        return mf_fail(r, v[OK_INPUTS], -EINVAL, "op '%s' has no inputs", name);
    for (int i = 0; i < o.n_in; i++) {
        const graph_tensor *t = &g->tensors[o.in[i]];
        if (t->role == ROLE_PARAM)
            return mf_fail(r, item[i], -EINVAL, "op '%s': input '%s' is a parameter (list it "
                           "under params)", name, t->name);
        if (t->role != ROLE_INPUT && t->producer < 0)
            return mf_fail(r, item[i], -EINVAL, "op '%s': input '%s' is not produced by an "
                           "earlier op (cycle or wrong order)", name, t->name);
    }

    const char *out_name;
    if ((rc = mf_name(r, v[OK_OUTPUT], "output", &out_name)))
        return rc;
    o.out = graph_find_tensor(g, out_name);
    if (o.out < 0)
        return mf_fail(r, v[OK_OUTPUT], -EINVAL, "op '%s': output '%s' is not declared under "
                       "tensors", name, out_name);
    if (g->tensors[o.out].role != ROLE_ACT)
        return mf_fail(r, v[OK_OUTPUT], -EINVAL, "op '%s': output '%s' must have role act", name,
                       out_name);
    if (g->tensors[o.out].producer >= 0)
        return mf_fail(r, v[OK_OUTPUT], -EINVAL, "op '%s': output '%s' is already produced by "
                       "op '%s'", name, out_name, g->ops[g->tensors[o.out].producer].name);

    if (v[OK_EXTRAS]) {
        if ((rc = mf_tensor_list(r, v[OK_EXTRAS], "extras", GRAPH_MAX_EXTRAS, o.extra,
                                 &o.n_extra, item)))
            return rc;
        for (int i = 0; i < o.n_extra; i++) {
            const graph_tensor *t = &g->tensors[o.extra[i]];
            if (t->role != ROLE_EXTRA)
                return mf_fail(r, item[i], -EINVAL, "op '%s': extra '%s' must have role extra",
                               name, t->name);
            if (t->producer >= 0)
                return mf_fail(r, item[i], -EINVAL, "op '%s': extra '%s' is already produced "
                               "by op '%s'", name, t->name, g->ops[t->producer].name);
            for (int j = 0; j < i; j++)
                if (o.extra[j] == o.extra[i])
                    return mf_fail(r, item[i], -EINVAL, "op '%s': extra '%s' is listed twice",
                                   name, t->name);
        }
    }
    if (v[OK_PARAMS]) {
        if ((rc = mf_tensor_list(r, v[OK_PARAMS], "params", GRAPH_MAX_PARAMS, o.param,
                                 &o.n_param, item)))
            return rc;
        for (int i = 0; i < o.n_param; i++)
            if (g->tensors[o.param[i]].role != ROLE_PARAM)
                return mf_fail(r, item[i], -EINVAL, "op '%s': '%s' under params must have role "
                               "param", name, g->tensors[o.param[i]].name);
    }
    if (v[OK_SAVED]) {
        if ((rc = mf_tensor_list(r, v[OK_SAVED], "saved", GRAPH_MAX_SAVED, o.saved, &o.n_saved,
                                 item)))
            return rc;
        for (int i = 0; i < o.n_saved; i++) {
            bool ok = o.saved[i] == o.out;
            for (int j = 0; j < o.n_in && !ok; j++)
                ok = o.in[j] == o.saved[i];
            for (int j = 0; j < o.n_extra && !ok; j++)
                ok = o.extra[j] == o.saved[i];
            if (!ok)
                return mf_fail(r, item[i], -EINVAL, "op '%s': saved tensor '%s' is neither an "
                               "input, the output nor an extra of it", name,
                               g->tensors[o.saved[i]].name);
        }
    } else {
        o.n_saved = graph_op_default_saved(&o, o.saved);
    }

    yaml_node_item_t *items;
    int c;
    if (v[OK_ATTRS]) {
        if ((rc = mf_seq(r, v[OK_ATTRS], "attrs", GRAPH_MAX_ATTRS, &items, &c)))
            return rc;
        for (int i = 0; i < c; i++)
            if ((rc = mf_int(r, mf_node(r, items[i]), "an attr", 0, MF_MAX_ATTR, &o.attr[i])))
                return rc;
    }
    if (v[OK_FATTRS]) {
        if ((rc = mf_seq(r, v[OK_FATTRS], "fattrs", 2, &items, &c)))
            return rc;
        for (int i = 0; i < c; i++)
            if ((rc = mf_double(r, mf_node(r, items[i]), "an fattr", 0, MF_MAX_FATTR,
                                &o.fattr[i])))
                return rc;
    }
    graph_op_default_flops(g, &o, &o.flops_fwd, &o.flops_bwd);
    graph_op_default_workspace(g, &o, &o.ws_fwd, &o.ws_bwd);
    struct {
        int key;
        int64_t *dst, max;
    } nums[] = {{OK_FLOPS_FWD, &o.flops_fwd, INT64_MAX}, {OK_FLOPS_BWD, &o.flops_bwd, INT64_MAX},
                {OK_WS_FWD, &o.ws_fwd, MF_MAX_WS}, {OK_WS_BWD, &o.ws_bwd, MF_MAX_WS}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (v[nums[i].key] &&
            (rc = mf_int(r, v[nums[i].key], op_keys[nums[i].key], 0, nums[i].max, nums[i].dst)))
            return rc;

    remat_err e;
    int idx = graph_add_op(g, &o, &e);
    if (idx < 0)
        return mf_fail(r, n, idx == -ENOMEM ? -ENOMEM : -EINVAL, "%s", e.msg);
    return 0;
}

enum {
    GK_VERSION, GK_MODEL, GK_CONFIG, GK_BATCH, GK_SEQ, GK_IMAGE, GK_DTYPE, GK_PARAM_DTYPE,
    GK_DROPOUT, GK_TENSORS, GK_OPS, GK_COUNT
};
static const char *const graph_keys[] = {"version", "model", "config", "batch", "seq", "image",
                                         "dtype", "param_dtype", "dropout", "tensors", "ops",
                                         NULL};

static int mf_graph(mf_reader *r, yaml_node_t *root)
{
    yaml_node_t *v[GK_COUNT];
    graph *g = r->g;
    int rc = mf_fields(r, root, "the model file", graph_keys, v);
    if (rc)
        return rc;
    if (!v[GK_VERSION])
        return mf_missing(r, root, "version", "the model file");
    int64_t ver;
    if ((rc = mf_int(r, v[GK_VERSION], "version", INT64_MIN, INT64_MAX, &ver)))
        return rc;
    if (ver != MF_VERSION)
        return mf_fail(r, v[GK_VERSION], -EINVAL, "unsupported model-file version %lld (this "
                       "remat reads version %d)", (long long)ver, MF_VERSION);
    if (!v[GK_TENSORS])
        return mf_missing(r, root, "tensors", "the model file");
    if (!v[GK_OPS])
        return mf_missing(r, root, "ops", "the model file");
    if (v[GK_MODEL]) {
        const char *m;
        if ((rc = mf_name(r, v[GK_MODEL], "model", &m)))
            return rc;
        char *copy = strdup(m);
        if (!copy)
            return remat_fail(r->err, -ENOMEM, "out of memory");
        free(g->model);
        g->model = copy;
    }
    if (v[GK_CONFIG] && (rc = mf_config(r, v[GK_CONFIG])))
        return rc;
    g->image = 0;
    if ((v[GK_BATCH] && (rc = mf_int(r, v[GK_BATCH], "batch", 1, MF_MAX_SIZE, &g->batch))) ||
        (v[GK_SEQ] && (rc = mf_int(r, v[GK_SEQ], "seq", 1, MF_MAX_SIZE, &g->seq))) ||
        (v[GK_IMAGE] && (rc = mf_int(r, v[GK_IMAGE], "image", 0, MF_MAX_IMAGE, &g->image))) ||
        (v[GK_DTYPE] && (rc = mf_dtype(r, v[GK_DTYPE], "dtype", true, &g->dtype))))
        return rc;
    g->param_dtype = g->dtype;
    if (v[GK_PARAM_DTYPE] && (rc = mf_dtype(r, v[GK_PARAM_DTYPE], "param_dtype", true,
                                            &g->param_dtype)))
        return rc;
    if (v[GK_DROPOUT]) {
        if ((rc = mf_double(r, v[GK_DROPOUT], "dropout", 0.0, 1.0, &g->dropout)))
            return rc;
        if (g->dropout >= 1.0)
            return mf_fail(r, v[GK_DROPOUT], -EINVAL, "dropout must be below 1");
    }

    yaml_node_item_t *items;
    int n;
    if ((rc = mf_seq(r, v[GK_TENSORS], "tensors", 1 << 24, &items, &n)))
        return rc;
    for (int i = 0; i < n; i++)
        if ((rc = mf_tensor(r, mf_node(r, items[i]))))
            return rc;
    if ((rc = mf_seq(r, v[GK_OPS], "ops", 1 << 24, &items, &n)))
        return rc;
    if (n == 0)
        return mf_fail(r, v[GK_OPS], -EINVAL, "the model has no ops");
    for (int i = 0; i < n; i++)
        if ((rc = mf_op(r, mf_node(r, items[i]))))
            return rc;
    for (int i = 0; i < g->n_tensors; i++) {
        const graph_tensor *t = &g->tensors[i];
        if ((t->role == ROLE_ACT || t->role == ROLE_EXTRA) && t->producer < 0)
            return mf_fail(r, r->tnode[i], -EINVAL, "tensor '%s' is never produced by an op "
                           "(dangling)", t->name);
    }
    remat_err e;
    if ((rc = graph_validate(g, &e)))
        return mf_fail(r, v[GK_OPS], rc, "%s", e.msg);
    for (int i = 0; i < n; i++)
        if ((rc = graph_check_op(g, i, &e)))
            return mf_fail(r, mf_node(r, items[i]), rc, "%s", e.msg);
    return 0;
}

int modelfile_from_node(yaml_document_t *doc, yaml_node_t *node, const char *path, graph *g,
                        remat_err *err)
{
    mf_reader r = {doc, path ? path : "<model>", err, g, NULL, 0};
    graph_init(g, "file");
    if (!g->model)
        return remat_fail(err, -ENOMEM, "out of memory");
    int rc = mf_graph(&r, node);
    free(r.tnode);
    if (rc)
        graph_free(g);
    return rc;
}

/* Turns a libyaml parser error into "path:line:col: message". Reader errors
 * (bad encoding, control characters) carry a byte offset instead of a mark. */
static int mf_parse_error(const yaml_parser_t *p, const char *path, const char *buf, size_t len,
                          remat_err *err)
{
    if (p->error == YAML_MEMORY_ERROR)
        return remat_fail(err, -ENOMEM, "%s: out of memory while parsing", path);
    size_t line = p->problem_mark.line + 1, col = p->problem_mark.column + 1;
    if (p->error == YAML_READER_ERROR) {
        size_t off = p->problem_offset < len ? p->problem_offset : len;
        line = 1;
        col = 1;
        for (size_t i = 0; i < off; i++) {
            if (buf[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
    }
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->context)
        return remat_fail(err, -EINVAL, "%s:%zu:%zu: YAML error: %s (%s that starts on line "
                          "%zu)", path, line, col, problem, p->context, p->context_mark.line + 1);
    return remat_fail(err, -EINVAL, "%s:%zu:%zu: YAML error: %s", path, line, col, problem);
}

/* Reads the whole file into a NUL-terminated buffer. */
static int mf_slurp(const char *path, char **out, size_t *len, remat_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return remat_fail(err, -errno, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : -ENOMEM;
    while (rc == 0) {
        if (n + 1 >= cap) {
            if ((int64_t)cap >= MF_MAX_FILE) {
                rc = remat_fail(err, -EFBIG, "%s: larger than %lld bytes", path,
                                (long long)MF_MAX_FILE);
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f))
                rc = remat_fail(err, -EIO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (rc == -ENOMEM)
        remat_fail(err, rc, "%s: out of memory", path);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

int remat_yaml_load(const char *path, const char *what, yaml_document_t *doc, remat_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = mf_slurp(path, &buf, &len, err);
    if (rc)
        return rc;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        free(buf);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, doc)) {
        rc = mf_parse_error(&parser, path, buf, len, err);
    } else {
        yaml_document_t next;
        if (!yaml_document_get_root_node(doc)) {
            rc = remat_fail(err, -EINVAL, "%s:1:1: empty %s", path, what);
        } else if (!yaml_parser_load(&parser, &next)) {
            rc = mf_parse_error(&parser, path, buf, len, err);
        } else {
            yaml_node_t *extra = yaml_document_get_root_node(&next);
            if (extra)
                rc = remat_fail(err, -EINVAL, "%s:%zu:%zu: a second YAML document; a %s "
                                "holds one", path, extra->start_mark.line + 1,
                                extra->start_mark.column + 1, what);
            yaml_document_delete(&next);
        }
        if (rc)
            yaml_document_delete(doc);
    }
    yaml_parser_delete(&parser);
    free(buf);
    return rc;
}

int modelfile_read(const char *path, graph *g, remat_err *err)
{
    memset(g, 0, sizeof *g);
    yaml_document_t doc;
    int rc = remat_yaml_load(path, "model file", &doc, err);
    if (rc)
        return rc;
    rc = modelfile_from_node(&doc, yaml_document_get_root_node(&doc), path, g, err);
    yaml_document_delete(&doc);
    return rc;
}

/* ================================================================ writing */

/* The emitter with a sticky failure flag: after the first failed event every
 * helper does nothing, and the caller checks the flag once. */
typedef struct mf_emitter {
    yaml_emitter_t *em;
    bool failed;
} mf_emitter;

static void em_emit(mf_emitter *e, yaml_event_t *ev, int initialized)
{
    if (!initialized || !yaml_emitter_emit(e->em, ev))
        e->failed = true;
}

static void em_scalar(mf_emitter *e, const char *s, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    if (e->failed)
        return;
    em_emit(e, &ev, yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s,
                                                 (int)strlen(s), 1, 1, style));
}

static void em_str(mf_emitter *e, const char *s) { em_scalar(e, s, YAML_ANY_SCALAR_STYLE); }

static void em_int(mf_emitter *e, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    em_scalar(e, buf, YAML_PLAIN_SCALAR_STYLE);
}

/* The shortest decimal that reads back as exactly v. */
static void em_double(mf_emitter *e, double v)
{
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    em_scalar(e, buf, YAML_PLAIN_SCALAR_STYLE);
}

static void em_map_start(mf_emitter *e, bool flow)
{
    yaml_event_t ev;
    if (e->failed)
        return;
    em_emit(e, &ev, yaml_mapping_start_event_initialize(
                        &ev, NULL, NULL, 1, flow ? YAML_FLOW_MAPPING_STYLE
                                                 : YAML_BLOCK_MAPPING_STYLE));
}

static void em_map_end(mf_emitter *e)
{
    yaml_event_t ev;
    if (e->failed)
        return;
    em_emit(e, &ev, yaml_mapping_end_event_initialize(&ev));
}

static void em_seq_start(mf_emitter *e, bool flow)
{
    yaml_event_t ev;
    if (e->failed)
        return;
    em_emit(e, &ev, yaml_sequence_start_event_initialize(
                        &ev, NULL, NULL, 1, flow ? YAML_FLOW_SEQUENCE_STYLE
                                                 : YAML_BLOCK_SEQUENCE_STYLE));
}

static void em_seq_end(mf_emitter *e)
{
    yaml_event_t ev;
    if (e->failed)
        return;
    em_emit(e, &ev, yaml_sequence_end_event_initialize(&ev));
}

static void em_kv_str(mf_emitter *e, const char *k, const char *v)
{
    em_str(e, k);
    em_str(e, v);
}

static void em_kv_int(mf_emitter *e, const char *k, int64_t v)
{
    em_str(e, k);
    em_int(e, v);
}

static void em_kv_names(mf_emitter *e, const graph *g, const char *k, const int *idx, int n)
{
    em_str(e, k);
    em_seq_start(e, true);
    for (int i = 0; i < n; i++)
        em_str(e, g->tensors[idx[i]].name);
    em_seq_end(e);
}

static void em_tensor(mf_emitter *e, const graph_tensor *t)
{
    em_map_start(e, true);
    em_kv_str(e, "name", t->name);
    em_str(e, "shape");
    em_seq_start(e, true);
    for (int d = 0; d < t->ndim; d++)
        em_int(e, t->shape[d]);
    em_seq_end(e);
    em_kv_str(e, "dtype", dtype_name(t->dtype));
    em_kv_str(e, "role", role_names[t->role]);
    if (t->frozen) {
        em_str(e, "frozen");
        em_scalar(e, "true", YAML_PLAIN_SCALAR_STYLE);
    }
    em_map_end(e);
}

static void em_op(mf_emitter *e, const graph *g, const graph_op *o)
{
    em_map_start(e, false);
    em_kv_str(e, "name", o->name);
    em_kv_str(e, "module", o->module);
    em_kv_str(e, "kind", op_kind_name(o->kind));
    em_kv_names(e, g, "inputs", o->in, o->n_in);
    em_kv_str(e, "output", g->tensors[o->out].name);
    em_kv_names(e, g, "extras", o->extra, o->n_extra);
    em_kv_names(e, g, "saved", o->saved, o->n_saved);
    em_kv_names(e, g, "params", o->param, o->n_param);
    int na = GRAPH_MAX_ATTRS, nf = 2;
    while (na > 0 && o->attr[na - 1] == 0)
        na--;
    while (nf > 0 && o->fattr[nf - 1] == 0)
        nf--;
    if (na) {
        em_str(e, "attrs");
        em_seq_start(e, true);
        for (int i = 0; i < na; i++)
            em_int(e, o->attr[i]);
        em_seq_end(e);
    }
    if (nf) {
        em_str(e, "fattrs");
        em_seq_start(e, true);
        for (int i = 0; i < nf; i++)
            em_double(e, o->fattr[i]);
        em_seq_end(e);
    }
    em_kv_int(e, "flops_fwd", o->flops_fwd);
    em_kv_int(e, "flops_bwd", o->flops_bwd);
    em_kv_int(e, "ws_fwd", o->ws_fwd);
    em_kv_int(e, "ws_bwd", o->ws_bwd);
    em_map_end(e);
}

int modelfile_emit(yaml_emitter_t *em, const graph *g, remat_err *err)
{
    mf_emitter e = {em, false};
    em_map_start(&e, false);
    em_kv_int(&e, "version", MF_VERSION);
    em_kv_str(&e, "model", g->model);
    em_str(&e, "config");
    em_map_start(&e, false);
    for (int i = 0; i < g->n_config; i++)
        em_kv_str(&e, g->config[i].key, g->config[i].value);
    em_map_end(&e);
    em_kv_int(&e, "batch", g->batch);
    em_kv_int(&e, "seq", g->seq);
    em_kv_int(&e, "image", g->image);
    em_kv_str(&e, "dtype", dtype_name(g->dtype));
    em_kv_str(&e, "param_dtype", dtype_name(g->param_dtype));
    em_str(&e, "dropout");
    em_double(&e, g->dropout);
    em_str(&e, "tensors");
    em_seq_start(&e, false);
    for (int i = 0; i < g->n_tensors; i++)
        em_tensor(&e, &g->tensors[i]);
    em_seq_end(&e);
    em_str(&e, "ops");
    em_seq_start(&e, false);
    for (int i = 0; i < g->n_ops; i++)
        em_op(&e, g, &g->ops[i]);
    em_seq_end(&e);
    em_map_end(&e);
    if (e.failed)
        return remat_fail(err, -EIO, "cannot emit the model: %s",
                          em->problem ? em->problem : "write error");
    return 0;
}

int modelfile_write(FILE *f, const graph *g, remat_err *err)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&em))
        return remat_fail(err, -ENOMEM, "out of memory");
    yaml_emitter_set_output_file(&em, f);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1);
    mf_emitter e = {&em, false};
    em_emit(&e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    if (!e.failed)
        em_emit(&e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    int rc = e.failed ? 0 : modelfile_emit(&em, g, err);
    if (!e.failed && rc == 0)
        em_emit(&e, &ev, yaml_document_end_event_initialize(&ev, 1));
    if (!e.failed && rc == 0)
        em_emit(&e, &ev, yaml_stream_end_event_initialize(&ev));
    if (!e.failed && rc == 0 && !yaml_emitter_flush(&em))
        e.failed = true;
    if (rc == 0 && (e.failed || fflush(f) || ferror(f)))
        rc = remat_fail(err, -EIO, "cannot write the model file: %s",
                        em.problem ? em.problem : strerror(errno ? errno : EIO));
    yaml_emitter_delete(&em);
    return rc;
}
