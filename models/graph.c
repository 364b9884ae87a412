/* models/graph.c — graph IR storage, lookup, validation and the shared helpers
 * (errors, dtypes, checked arithmetic, sizes) declared in graph.h. */
#include "models/graph.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int remat_fail(remat_err *err, int code, const char *fmt, ...)
{
    if (err) {
        /* format into a local buffer: the arguments may point into err->msg */
        char buf[sizeof err->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        /* one line: control characters quoted from user input (a newline in a
         * --budget value or a YAML name) become '?' */
        for (char *c = buf; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
        memcpy(err->msg, buf, sizeof buf);
    }
    return code;
}

static const struct {
    const char *name;
    int64_t size;
} dtype_table[DT_COUNT] = {
    [DT_F32] = {"fp32", 4}, [DT_BF16] = {"bf16", 2}, [DT_F16] = {"fp16", 2},
    [DT_I32] = {"i32", 4},  [DT_U8] = {"u8", 1},
};

int64_t dtype_size(remat_dtype dt) { return (unsigned)dt < DT_COUNT ? dtype_table[dt].size : 0; }
const char *dtype_name(remat_dtype dt) { return (unsigned)dt < DT_COUNT ? dtype_table[dt].name : "?"; }

int dtype_from_name(const char *name)
{
    static const struct {
        const char *alias;
        remat_dtype dt;
    } aliases[] = {
        {"fp32", DT_F32}, {"f32", DT_F32}, {"float32", DT_F32}, {"float", DT_F32},
        {"bf16", DT_BF16}, {"bfloat16", DT_BF16},
        {"fp16", DT_F16}, {"f16", DT_F16}, {"float16", DT_F16}, {"half", DT_F16},
        {"i32", DT_I32}, {"int32", DT_I32}, {"u8", DT_U8}, {"uint8", DT_U8},
    };
    if (!name)
        return -EINVAL;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(aliases[i].alias, name) == 0)
            return (int)aliases[i].dt;
    return -EINVAL;
}

bool checked_mul64(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0)
        return false;
    if (a != 0 && b > INT64_MAX / a)
        return false;
    *out = a * b;
    return true;
}

bool checked_add64(int64_t a, int64_t b, int64_t *out)
{
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b))
        return false;
    *out = a + b;
    return true;
}

int remat_parse_size(const char *s, int64_t *bytes, remat_err *err)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {
        {"", 1},          {"b", 1},          {"kb", 1e3},       {"mb", 1e6},
        {"gb", 1e9},      {"tb", 1e12},      {"kib", 1024.0},   {"mib", 1048576.0},
        {"gib", 1073741824.0}, {"tib", 1099511627776.0}, {"k", 1e3}, {"m", 1e6},
        {"g", 1e9},       {"t", 1e12},
    };
    if (!s || !*s)
        return remat_fail(err, -EINVAL, "empty size");
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    if (!isdigit((unsigned char)*p) && *p != '.')
        return remat_fail(err, -EINVAL, "size '%s' must start with a number", s);
    char *end = NULL;
    errno = 0;
    double v = strtod(p, &end);
    if (errno == ERANGE || !isfinite(v) || v < 0)
        return remat_fail(err, -ERANGE, "size '%s' is out of range", s);
    while (isspace((unsigned char)*end))
        end++;
    char unit[8] = {0};
    size_t ul = strlen(end);
    if (ul >= sizeof unit)
        return remat_fail(err, -EINVAL, "size '%s' has an unknown unit", s);
    for (size_t i = 0; i < ul; i++)
        unit[i] = (char)tolower((unsigned char)end[i]);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(unit, units[i].unit) == 0) {
            double b = v * units[i].mult;
            if (b >= 9.2e18)
                return remat_fail(err, -ERANGE, "size '%s' overflows 64 bits", s);
            *bytes = (int64_t)llround(b);
            return 0;
        }
    }
    return remat_fail(err, -EINVAL,
                      "size '%s' has an unknown unit (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", s);
}

char *remat_format_bytes(int64_t bytes, char *buf, size_t n)
{
    static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)bytes;
    int i = 0;
    while ((v >= 1024.0 || v <= -1024.0) && i < 5) {
        v /= 1024.0;
        i++;
    }
    if (i == 0)
        snprintf(buf, n, "%lld B", (long long)bytes);
    else
        snprintf(buf, n, "%.2f %s", v, u[i]);
    return buf;
}

/* ---------------------------------------------------------------- op kinds */

static const char *const kind_names[OP_KIND_COUNT] = {
#define X(k, n, d) n,
    OP_KINDS(X)
#undef X
};
static const char *const kind_descs[OP_KIND_COUNT] = {
#define X(k, n, d) d,
    OP_KINDS(X)
#undef X
};

const char *op_kind_name(op_kind k) { return (unsigned)k < OP_KIND_COUNT ? kind_names[k] : "?"; }
const char *op_kind_desc(op_kind k) { return (unsigned)k < OP_KIND_COUNT ? kind_descs[k] : "?"; }

int op_kind_from_name(const char *name)
{
    for (int i = 0; name && i < OP_KIND_COUNT; i++)
        if (strcmp(kind_names[i], name) == 0)
            return i;
    return -EINVAL;
}

/* ---------------------------------------------------------------- storage */

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

/* Inserts index idx (whose name is names(idx)) into an open-addressing table,
 * growing it to keep the load under one half. Returns 0 or -ENOMEM. */
static int index_insert(int **tab, int *cap, int count, int idx, const graph *g, bool is_op)
{
    if (2 * (count + 1) > *cap) {
        int nc = *cap ? *cap * 2 : 256;
        while (2 * (count + 1) > nc)
            nc *= 2;
        int *nt = malloc((size_t)nc * sizeof *nt);
        if (!nt)
            return -ENOMEM;
        for (int i = 0; i < nc; i++)
            nt[i] = -1;
        free(*tab);
        *tab = nt;
        *cap = nc;
        for (int i = 0; i < count; i++) {
            const char *n = is_op ? g->ops[i].name : g->tensors[i].name;
            uint32_t h = name_hash(n) & (uint32_t)(nc - 1);
            while (nt[h] >= 0)
                h = (h + 1) & (uint32_t)(nc - 1);
            nt[h] = i;
        }
    }
    const char *n = is_op ? g->ops[idx].name : g->tensors[idx].name;
    uint32_t h = name_hash(n) & (uint32_t)(*cap - 1);
    while ((*tab)[h] >= 0)
        h = (h + 1) & (uint32_t)(*cap - 1);
    (*tab)[h] = idx;
    return 0;
}

static int index_find(const int *tab, int cap, const char *name, const graph *g, bool is_op)
{
    if (!tab || !name)
        return -1;
    uint32_t h = name_hash(name) & (uint32_t)(cap - 1);
    while (tab[h] >= 0) {
        const char *n = is_op ? g->ops[tab[h]].name : g->tensors[tab[h]].name;
        if (strcmp(n, name) == 0)
            return tab[h];
        h = (h + 1) & (uint32_t)(cap - 1);
    }
    return -1;
}

void graph_init(graph *g, const char *model)
{
    memset(g, 0, sizeof *g);
    g->model = strdup(model ? model : "unnamed");
    g->dtype = DT_F32;
    g->param_dtype = DT_F32;
    g->batch = 1;
    g->seq = 1;
}

void graph_free(graph *g)
{
    if (!g)
        return;
    free(g->model);
    for (int i = 0; i < g->n_config; i++) {
        free(g->config[i].key);
        free(g->config[i].value);
    }
    free(g->config);
    for (int i = 0; i < g->n_tensors; i++)
        free(g->tensors[i].name);
    free(g->tensors);
    for (int i = 0; i < g->n_ops; i++) {
        free(g->ops[i].name);
        free(g->ops[i].module);
    }
    free(g->ops);
    free(g->tensor_index);
    free(g->op_index);
    memset(g, 0, sizeof *g);
}

static int grow(void **p, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int nc = *cap ? *cap * 2 : 64;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = nc;
    return 0;
}

int graph_set_config(graph *g, const char *key, const char *value)
{
    for (int i = 0; i < g->n_config; i++) {
        if (strcmp(g->config[i].key, key) == 0) {
            char *v = strdup(value);
            if (!v)
                return -ENOMEM;
            free(g->config[i].value);
            g->config[i].value = v;
            return 0;
        }
    }
    graph_kv *c = realloc(g->config, (size_t)(g->n_config + 1) * sizeof *c);
    if (!c)
        return -ENOMEM;
    g->config = c;
    c[g->n_config].key = strdup(key);
    c[g->n_config].value = strdup(value);
    if (!c[g->n_config].key || !c[g->n_config].value) {
        free(c[g->n_config].key);
        free(c[g->n_config].value);
        return -ENOMEM;
    }
    g->n_config++;
    return 0;
}

const char *graph_get_config(const graph *g, const char *key)
{
    for (int i = 0; i < g->n_config; i++)
        if (strcmp(g->config[i].key, key) == 0)
            return g->config[i].value;
    return NULL;
}

int graph_add_tensor(graph *g, const char *name, tensor_role role, remat_dtype dt,
                     int ndim, const int64_t *shape, remat_err *err)
{
    if (!name || !*name)
        return remat_fail(err, -EINVAL, "tensor without a name");
    if ((unsigned)role >= ROLE_COUNT || (unsigned)dt >= DT_COUNT)
        return remat_fail(err, -EINVAL, "tensor '%s': bad role or dtype", name);
    if (ndim < 0 || ndim > GRAPH_MAX_DIMS)
        return remat_fail(err, -EINVAL, "tensor '%s': %d dimensions (at most %d)", name, ndim,
                          GRAPH_MAX_DIMS);
    if (graph_find_tensor(g, name) >= 0)
        return remat_fail(err, -EINVAL, "duplicate tensor name '%s'", name);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0)
            return remat_fail(err, -EINVAL, "tensor '%s': dimension %d is %lld (must be positive)",
                              name, i, (long long)shape[i]);
        if (!checked_mul64(numel, shape[i], &numel))
            return remat_fail(err, -ERANGE, "tensor '%s': element count overflows 64 bits", name);
    }
    int64_t bytes;
    if (!checked_mul64(numel, dtype_size(dt), &bytes))
        return remat_fail(err, -ERANGE, "tensor '%s': byte count overflows 64 bits", name);
    if (grow((void **)&g->tensors, &g->cap_tensors, g->n_tensors + 1, sizeof *g->tensors))
        return remat_fail(err, -ENOMEM, "out of memory");
    graph_tensor *t = &g->tensors[g->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name)
        return remat_fail(err, -ENOMEM, "out of memory");
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->dtype = dt;
    t->role = role;
    t->numel = numel;
    t->bytes = bytes;
    t->producer = -1;
    if (index_insert(&g->tensor_index, &g->tensor_index_cap, g->n_tensors, g->n_tensors, g, false)) {
        free(t->name);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    return g->n_tensors++;
}

static bool valid_index(const graph *g, int t) { return t >= 0 && t < g->n_tensors; }

int graph_add_op(graph *g, const graph_op *op, remat_err *err)
{
    const char *name = op->name ? op->name : "?";
    if (!op->name || !*op->name)
        return remat_fail(err, -EINVAL, "op without a name");
    if ((unsigned)op->kind >= OP_KIND_COUNT)
        return remat_fail(err, -EINVAL, "op '%s': unknown kind", name);
    if (op->n_in < 0 || op->n_in > GRAPH_MAX_INPUTS || op->n_extra < 0 ||
        op->n_extra > GRAPH_MAX_EXTRAS || op->n_saved < 0 || op->n_saved > GRAPH_MAX_SAVED ||
        op->n_param < 0 || op->n_param > GRAPH_MAX_PARAMS)
        return remat_fail(err, -EINVAL, "op '%s': too many inputs, extras, saved or params", name);
    if (graph_find_op(g, op->name) >= 0)
        return remat_fail(err, -EINVAL, "duplicate op name '%s'", name);
    if (!valid_index(g, op->out))
        return remat_fail(err, -EINVAL, "op '%s': output is not a tensor", name);
    for (int i = 0; i < op->n_in; i++)
        if (!valid_index(g, op->in[i]))
            return remat_fail(err, -EINVAL, "op '%s': input %d is not a tensor", name, i);
    for (int i = 0; i < op->n_extra; i++)
        if (!valid_index(g, op->extra[i]))
            return remat_fail(err, -EINVAL, "op '%s': extra %d is not a tensor", name, i);
    for (int i = 0; i < op->n_saved; i++)
        if (!valid_index(g, op->saved[i]))
            return remat_fail(err, -EINVAL, "op '%s': saved %d is not a tensor", name, i);
    for (int i = 0; i < op->n_param; i++)
        if (!valid_index(g, op->param[i]))
            return remat_fail(err, -EINVAL, "op '%s': param %d is not a tensor", name, i);
    if (g->tensors[op->out].producer >= 0)
        return remat_fail(err, -EINVAL, "op '%s': tensor '%s' already has a producer", name,
                          g->tensors[op->out].name);
    for (int i = 0; i < op->n_extra; i++)
        if (g->tensors[op->extra[i]].producer >= 0)
            return remat_fail(err, -EINVAL, "op '%s': tensor '%s' already has a producer", name,
                              g->tensors[op->extra[i]].name);
    if (grow((void **)&g->ops, &g->cap_ops, g->n_ops + 1, sizeof *g->ops))
        return remat_fail(err, -ENOMEM, "out of memory");
    graph_op *o = &g->ops[g->n_ops];
    *o = *op;
    o->name = strdup(op->name);
    o->module = strdup(op->module && *op->module ? op->module : op->name);
    if (!o->name || !o->module) {
        free(o->name);
        free(o->module);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    if (index_insert(&g->op_index, &g->op_index_cap, g->n_ops, g->n_ops, g, true)) {
        free(o->name);
        free(o->module);
        return remat_fail(err, -ENOMEM, "out of memory");
    }
    g->tensors[op->out].producer = g->n_ops;
    for (int i = 0; i < op->n_extra; i++)
        g->tensors[op->extra[i]].producer = g->n_ops;
    return g->n_ops++;
}

int graph_find_tensor(const graph *g, const char *name)
{
    return index_find(g->tensor_index, g->tensor_index_cap, name, g, false);
}

int graph_find_op(const graph *g, const char *name)
{
    return index_find(g->op_index, g->op_index_cap, name, g, true);
}

/* ---------------------------------------------------------------- validation */

static int check_op(const graph *g, int i, remat_err *err)
{
    const graph_op *o = &g->ops[i];
    const graph_tensor *out = &g->tensors[o->out];
    if (out->role != ROLE_ACT)
        return remat_fail(err, -EINVAL, "op '%s': output '%s' must be an activation", o->name,
                          out->name);
    if (out->producer != i)
        return remat_fail(err, -EINVAL, "op '%s': output '%s' has another producer", o->name,
                          out->name);
    for (int k = 0; k < o->n_extra; k++) {
        const graph_tensor *t = &g->tensors[o->extra[k]];
        if (t->role != ROLE_EXTRA || t->producer != i)
            return remat_fail(err, -EINVAL, "op '%s': extra '%s' must be an extra it produces",
                              o->name, t->name);
    }
    for (int k = 0; k < o->n_in; k++) {
        const graph_tensor *t = &g->tensors[o->in[k]];
        if (t->role == ROLE_PARAM)
            return remat_fail(err, -EINVAL, "op '%s': parameter '%s' listed as an input", o->name,
                              t->name);
        if (t->role != ROLE_INPUT && (t->producer < 0 || t->producer >= i))
            return remat_fail(err, -EINVAL,
                              "op '%s': input '%s' is not produced by an earlier op (cycle or "
                              "wrong order)",
                              o->name, t->name);
    }
    for (int k = 0; k < o->n_param; k++)
        if (g->tensors[o->param[k]].role != ROLE_PARAM)
            return remat_fail(err, -EINVAL, "op '%s': '%s' is not a parameter", o->name,
                              g->tensors[o->param[k]].name);
    for (int k = 0; k < o->n_saved; k++) {
        int t = o->saved[k];
        bool ok = t == o->out;
        for (int j = 0; j < o->n_in && !ok; j++)
            ok = o->in[j] == t;
        for (int j = 0; j < o->n_extra && !ok; j++)
            ok = o->extra[j] == t;
        if (!ok)
            return remat_fail(err, -EINVAL,
                              "op '%s': saved tensor '%s' is neither an input, the output nor "
                              "an extra of it",
                              o->name, g->tensors[t].name);
    }
    return 0;
}

int graph_validate(graph *g, remat_err *err)
{
    if (g->n_ops == 0)
        return remat_fail(err, -EINVAL, "graph has no ops");
    for (int i = 0; i < g->n_tensors; i++) {
        const graph_tensor *t = &g->tensors[i];
        if ((t->role == ROLE_ACT || t->role == ROLE_EXTRA) && t->producer < 0)
            return remat_fail(err, -EINVAL, "tensor '%s' is never produced (dangling)", t->name);
        if ((t->role == ROLE_INPUT || t->role == ROLE_PARAM) && t->producer >= 0)
            return remat_fail(err, -EINVAL, "tensor '%s' is an input or parameter but produced",
                              t->name);
    }
    for (int i = 0; i < g->n_ops; i++) {
        int rc = check_op(g, i, err);
        if (rc)
            return rc;
    }
    /* needs_grad: an activation needs a gradient when its consumer has trainable
     * params or produces an activation that needs one; walk ops backwards. The loss
     * (last op) seeds it. */
    for (int i = 0; i < g->n_tensors; i++)
        g->tensors[i].needs_grad = false;
    g->tensors[g->ops[g->n_ops - 1].out].needs_grad = true;
    for (int i = g->n_ops - 1; i >= 0; i--) {
        const graph_op *o = &g->ops[i];
        if (!g->tensors[o->out].needs_grad)
            continue;
        for (int k = 0; k < o->n_in; k++) {
            graph_tensor *t = &g->tensors[o->in[k]];
            if (t->role == ROLE_ACT)
                t->needs_grad = true;
        }
    }
    return 0;
}

/* a + b saturating at INT64_MAX (sums over absurd models never wrap) */
static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    return checked_add64(a, b, &r) ? r : INT64_MAX;
}

int64_t graph_param_count(const graph *g, bool trainable_only)
{
    int64_t n = 0;
    for (int i = 0; i < g->n_tensors; i++) {
        const graph_tensor *t = &g->tensors[i];
        if (t->role == ROLE_PARAM && !(trainable_only && t->frozen))
            n = sat_add(n, t->numel);
    }
    return n;
}

int64_t graph_role_bytes(const graph *g, tensor_role role)
{
    int64_t n = 0;
    for (int i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].role == role)
            n = sat_add(n, g->tensors[i].bytes);
    return n;
}

int64_t graph_saved_bytes(const graph *g)
{
    unsigned char *seen = calloc((size_t)g->n_tensors + 1, 1);
    if (!seen)
        return -ENOMEM;
    int64_t n = 0;
    for (int i = 0; i < g->n_ops; i++) {
        const graph_op *o = &g->ops[i];
        for (int k = 0; k < o->n_saved; k++) {
            const graph_tensor *t = &g->tensors[o->saved[k]];
            if ((t->role == ROLE_ACT || t->role == ROLE_EXTRA) && !seen[o->saved[k]]) {
                seen[o->saved[k]] = 1;
                n = sat_add(n, t->bytes);
            }
        }
    }
    free(seen);
    return n;
}

int64_t graph_op_saved_bytes(const graph *g, int op)
{
    const graph_op *o = &g->ops[op];
    int64_t n = 0;
    for (int k = 0; k < o->n_saved; k++) {
        bool dup = false;
        for (int j = 0; j < k; j++)
            dup = dup || o->saved[j] == o->saved[k];
        const graph_tensor *t = &g->tensors[o->saved[k]];
        if (!dup && (t->role == ROLE_ACT || t->role == ROLE_EXTRA))
            n = sat_add(n, t->bytes);
    }
    return n;
}

int graph_copy(graph *dst, const graph *src)
{
    graph_init(dst, src->model);
    if (!dst->model)
        return -ENOMEM;
    dst->batch = src->batch;
    dst->seq = src->seq;
    dst->image = src->image;
    dst->dtype = src->dtype;
    dst->param_dtype = src->param_dtype;
    dst->dropout = src->dropout;
    for (int i = 0; i < src->n_config; i++)
        if (graph_set_config(dst, src->config[i].key, src->config[i].value))
            goto oom;
    for (int i = 0; i < src->n_tensors; i++) {
        const graph_tensor *t = &src->tensors[i];
        if (graph_add_tensor(dst, t->name, t->role, t->dtype, t->ndim, t->shape, NULL) < 0)
            goto oom;
        dst->tensors[i].frozen = t->frozen;
        dst->tensors[i].needs_grad = t->needs_grad;
    }
    for (int i = 0; i < src->n_ops; i++)
        if (graph_add_op(dst, &src->ops[i], NULL) < 0)
            goto oom;
    return 0;
oom:
    graph_free(dst);
    return -ENOMEM;
}
