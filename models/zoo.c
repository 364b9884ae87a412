/* models/zoo.c — the model zoo's registry, the shared builder helpers of
 * zoo_internal.h, and the two simplest models: `chain` (a homogeneous chain of
 * unit-cost stages, for comparisons with revolve) and `mlp` (a pure Linear/ReLU
 * chain). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/zoo_internal.h"

/* ---------------------------------------------------------------- registry */

typedef struct zoo_row {
    zoo_entry e;
    zoo_builder build;
    const char *preset; /* passed to the builder; NULL for the base model */
} zoo_row;

static const zoo_row zoo_rows[] = {
    {{"chain", "homogeneous chain of `length` unit-cost stages y = tanh(w*x) (revolve)"},
     zoo_build_chain, NULL},
    {{"mlp", "multilayer perceptron: `depth` Linear+ReLU layers of `width`, then a classifier"},
     zoo_build_mlp, NULL},
    {{"gpt2", "GPT-2 (HF GPT2Config keys n_layer, n_head, n_embd, vocab_size, n_positions)"},
     zoo_build_gpt2, NULL},
    {{"gpt2-124m", "GPT-2 small: 12 layers, 12 heads, 768 wide (124,439,808 params)"},
     zoo_build_gpt2, "gpt2-124m"},
    {{"gpt2-350m", "GPT-2 medium: 24 layers, 16 heads, 1024 wide"}, zoo_build_gpt2, "gpt2-350m"},
    {{"gpt2-774m", "GPT-2 large: 36 layers, 20 heads, 1280 wide"}, zoo_build_gpt2, "gpt2-774m"},
    {{"gpt2-1.5b", "GPT-2 XL: 48 layers, 25 heads, 1600 wide"}, zoo_build_gpt2, "gpt2-1.5b"},
    {{"llama", "Llama (HF LlamaConfig keys; RMSNorm, RoPE, SwiGLU, GQA)"}, zoo_build_llama, NULL},
    {{"llama2-7b", "Llama 2 7B: 32 layers, 4096 wide, 11008 MLP (6,738,415,616 params)"},
     zoo_build_llama, "llama2-7b"},
    {{"llama2-13b", "Llama 2 13B: 40 layers, 5120 wide, 13824 MLP"}, zoo_build_llama,
     "llama2-13b"},
    {{"llama3-8b", "Llama 3 8B: 32 layers, 4096 wide, 14336 MLP, 8 KV heads, 128256 vocab"},
     zoo_build_llama, "llama3-8b"},
    {{"vgg16", "VGG-16 (torchvision layout, 138,357,544 params at 1000 classes); key classes"},
     zoo_build_vgg16, NULL},
    {{"resnet50", "ResNet-50 (torchvision: bottlenecks, batchnorm, downsample); key classes"},
     zoo_build_resnet50, NULL},
    {{"unet", "U-Net: double conv+BN+ReLU, maxpool down, upsample+conv up, concat skips; keys "
              "depth base in_channels classes"},
     zoo_build_unet, NULL},
};

static zoo_entry zoo_entries[sizeof zoo_rows / sizeof zoo_rows[0]];

const zoo_entry *zoo_list(int *n)
{
    *n = (int)(sizeof zoo_rows / sizeof zoo_rows[0]);
    for (int i = 0; i < *n; i++)
        zoo_entries[i] = zoo_rows[i].e;
    return zoo_entries;
}

int zoo_build(const model_spec *spec, graph *g, remat_err *err)
{
    if (!spec || !spec->name || !*spec->name)
        return remat_fail(err, -EINVAL, "no model given (see `remat models`)");
    const zoo_row *row = NULL;
    for (size_t i = 0; i < sizeof zoo_rows / sizeof zoo_rows[0]; i++)
        if (strcmp(zoo_rows[i].e.name, spec->name) == 0)
            row = &zoo_rows[i];
    if (!row)
        return remat_fail(err, -EINVAL, "unknown model '%s' (see `remat models`)", spec->name);
    if (spec->batch < 0 || spec->seq < 0 || spec->image < 0)
        return remat_fail(err, -EINVAL, "batch, sequence and image sizes must be positive");
    graph_init(g, spec->name);
    if (!g->model)
        return remat_fail(err, -ENOMEM, "out of memory");
    zoo_ctx z = {g, err, 0};
    int rc = row->build(&z, spec, row->preset);
    if (rc == 0 && z.rc == 0)
        rc = graph_validate(g, err);
    if (rc == 0 && z.rc == 0)
        graph_set_workspace(g);
    else if (rc == 0)
        rc = z.rc;
    if (rc)
        graph_free(g);
    return rc;
}

int model_spec_parse_set(model_spec *spec, const char *text, char **storage, remat_err *err)
{
    char *copy = strdup(text ? text : "");
    if (!copy)
        return remat_fail(err, -ENOMEM, "out of memory");
    *storage = copy;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item || !eq[1])
            return remat_fail(err, -EINVAL, "--set item '%s' is not key=value", item);
        if (spec->n_set >= (int)(sizeof spec->set_key / sizeof spec->set_key[0]))
            return remat_fail(err, -EINVAL, "too many --set items");
        *eq = 0;
        for (int i = 0; i < spec->n_set; i++)
            if (strcmp(spec->set_key[i], item) == 0)
                return remat_fail(err, -EINVAL, "--set key '%s' given twice", item);
        spec->set_key[spec->n_set] = item;
        spec->set_value[spec->n_set] = eq + 1;
        spec->n_set++;
    }
    return 0;
}

/* ---------------------------------------------------------------- helpers */

const char *zname(const char *fmt, ...)
{
    static char bufs[8][256];
    static int next;
    char *b = bufs[next++ & 7];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

int zt(zoo_ctx *z, const char *name, tensor_role role, remat_dtype dt, int ndim, ...)
{
    if (z->rc)
        return -1;
    int64_t shape[GRAPH_MAX_DIMS] = {0};
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim && i < GRAPH_MAX_DIMS; i++)
        shape[i] = va_arg(ap, int64_t);
    va_end(ap);
    int idx = graph_add_tensor(z->g, name, role, dt, ndim, shape, z->err);
    if (idx < 0) {
        z->rc = idx;
        return -1;
    }
    return idx;
}

static int copy_list(const int *src, int max, int *dst, int *n)
{
    int k = 0;
    while (src && k < max && src[k] >= 0) {
        dst[k] = src[k];
        k++;
    }
    *n = k;
    return src && k == max && src[k] >= 0 ? -1 : 0;
}

int zop(zoo_ctx *z, const zoo_op *d)
{
    if (z->rc)
        return -1;
    graph_op o;
    memset(&o, 0, sizeof o);
    o.kind = d->kind;
    o.name = (char *)d->name;
    o.module = (char *)(d->module ? d->module : d->name);
    if (copy_list(d->in, GRAPH_MAX_INPUTS, o.in, &o.n_in) ||
        copy_list(d->extra, GRAPH_MAX_EXTRAS, o.extra, &o.n_extra) ||
        copy_list(d->saved, GRAPH_MAX_SAVED, o.saved, &o.n_saved) ||
        copy_list(d->param, GRAPH_MAX_PARAMS, o.param, &o.n_param)) {
        z->rc = remat_fail(z->err, -EINVAL, "op '%s': too many tensors in a list", d->name);
        return -1;
    }
    o.out = d->out;
    memcpy(o.attr, d->attr, sizeof o.attr);
    memcpy(o.fattr, d->fattr, sizeof o.fattr);
    o.flops_fwd = d->flops_fwd;
    o.flops_bwd = d->flops_bwd;
    o.ws_fwd = d->ws_fwd;
    o.ws_bwd = d->ws_bwd;
    int idx = graph_add_op(z->g, &o, z->err);
    if (idx < 0) {
        z->rc = idx;
        return -1;
    }
    return idx;
}

int zoo_check_keys(zoo_ctx *z, const model_spec *spec, const char *model,
                   const char *const *allowed)
{
    if (z->rc)
        return z->rc;
    for (int i = 0; i < spec->n_set; i++) {
        bool ok = false;
        for (int k = 0; allowed[k] && !ok; k++)
            ok = strcmp(allowed[k], spec->set_key[i]) == 0;
        if (!ok) {
            char keys[256] = "";
            for (int k = 0; allowed[k]; k++) {
                strncat(keys, allowed[k], sizeof keys - strlen(keys) - 1);
                if (allowed[k + 1])
                    strncat(keys, ", ", sizeof keys - strlen(keys) - 1);
            }
            z->rc = remat_fail(z->err, -EINVAL, "unknown key '%s' for model %s (known: %s)",
                               spec->set_key[i], model, keys);
            return z->rc;
        }
    }
    return 0;
}

static const char *spec_value(const model_spec *spec, const char *key)
{
    for (int i = 0; i < spec->n_set; i++)
        if (strcmp(spec->set_key[i], key) == 0)
            return spec->set_value[i];
    return NULL;
}

int64_t zoo_int(zoo_ctx *z, const model_spec *spec, const char *key, int64_t def, int64_t min,
                int64_t max)
{
    if (z->rc)
        return def;
    int64_t v = def;
    const char *s = spec_value(spec, key);
    if (s) {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (errno || end == s || *end) {
            z->rc = remat_fail(z->err, -EINVAL, "%s=%s is not an integer", key, s);
            return def;
        }
        v = x;
    }
    if (v < min || v > max) {
        z->rc = remat_fail(z->err, -EINVAL, "%s=%lld is out of range [%lld, %lld]", key,
                           (long long)v, (long long)min, (long long)max);
        return def;
    }
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    if (graph_set_config(z->g, key, buf))
        z->rc = remat_fail(z->err, -ENOMEM, "out of memory");
    return v;
}

double zoo_double(zoo_ctx *z, const model_spec *spec, const char *key, double def, double min,
                  double max)
{
    if (z->rc)
        return def;
    double v = def;
    const char *s = spec_value(spec, key);
    if (s) {
        char *end = NULL;
        errno = 0;
        v = strtod(s, &end);
        if (errno || end == s || *end || !isfinite(v)) {
            z->rc = remat_fail(z->err, -EINVAL, "%s=%s is not a number", key, s);
            return def;
        }
    }
    if (!(v >= min && v <= max)) {
        z->rc = remat_fail(z->err, -EINVAL, "%s=%g is out of range [%g, %g]", key, v, min, max);
        return def;
    }
    char buf[32];
    snprintf(buf, sizeof buf, "%.17g", v);
    if (graph_set_config(z->g, key, buf))
        z->rc = remat_fail(z->err, -ENOMEM, "out of memory");
    return v;
}

void zoo_common(zoo_ctx *z, const model_spec *spec, int64_t default_seq, int64_t default_image)
{
    graph *g = z->g;
    g->batch = spec->batch > 0 ? spec->batch : 1;
    g->seq = spec->seq > 0 ? spec->seq : default_seq;
    g->image = spec->image > 0 ? spec->image : default_image;
    g->dtype = spec->dtype >= 0 ? (remat_dtype)spec->dtype : DT_F32;
    g->param_dtype = g->dtype;
    g->dropout = spec->dropout >= 0 ? spec->dropout : 0.0;
    if (!(g->dropout >= 0.0 && g->dropout < 1.0) && !z->rc)
        z->rc = remat_fail(z->err, -EINVAL, "dropout %g must be in [0, 1)", g->dropout);
    if (g->dtype != DT_F32 && g->dtype != DT_BF16 && g->dtype != DT_F16 && !z->rc)
        z->rc = remat_fail(z->err, -EINVAL, "activation dtype must be fp32, bf16 or fp16");
}

/* k*a*b*c FLOPs, saturating at INT64_MAX like graph_op_default_flops (absurd
 * sizes must not wrap to small or negative counts). */
static int64_t fl(int64_t k, int64_t a, int64_t b, int64_t c)
{
    int64_t r;
    if (!checked_mul64(k, a, &r) || !checked_mul64(r, b, &r) || !checked_mul64(r, c, &r))
        return INT64_MAX;
    return r;
}

/* ---------------------------------------------------------------- chain */

int zoo_build_chain(zoo_ctx *z, const model_spec *spec, const char *preset)
{
    static const char *const keys[] = {"length", "width", NULL};
    (void)preset;
    zoo_check_keys(z, spec, "chain", keys);
    zoo_common(z, spec, 1, 0);
    int64_t n = zoo_int(z, spec, "length", 10, 1, 100000);
    int64_t w = zoo_int(z, spec, "width", 1024, 1, INT64_C(1) << 32);
    if (z->rc)
        return z->rc;
    graph *g = z->g;
    int64_t B = g->batch;
    remat_dtype dt = g->dtype;
    int x = zt(z, "input", ROLE_INPUT, dt, 2, B, w);
    int tgt = zt(z, "targets", ROLE_INPUT, DT_I32, 1, B);
    for (int64_t i = 0; i < n && !z->rc; i++) {
        const char *mod = zname("stages.%lld", (long long)i);
        int wt = zt(z, zname("%s.weight", mod), ROLE_PARAM, g->param_dtype, 1, w);
        int y = zt(z, zname("%s.out", mod), ROLE_ACT, dt, 2, B, w);
        zop(z, &(zoo_op){.kind = OP_STAGE, .name = mod, .module = mod, .in = ZL(x), .out = y,
                         .saved = ZL(x, y), .param = ZL(wt), .attr = {1},
                         .flops_fwd = fl(2, B, w, 1), .flops_bwd = fl(4, B, w, 1)});
        x = y;
    }
    int loss = zt(z, "loss.out", ROLE_ACT, DT_F32, 1, (int64_t)1);
    int lse = zt(z, "loss.lse", ROLE_EXTRA, DT_F32, 1, B);
    zop(z, &(zoo_op){.kind = OP_LOSS, .name = "loss", .module = "loss", .in = ZL(x, tgt),
                     .out = loss, .extra = ZL(lse), .saved = ZL(x, tgt, lse),
                     .flops_fwd = fl(5, B, w, 1), .flops_bwd = fl(3, B, w, 1)});
    return z->rc;
}

/* ---------------------------------------------------------------- mlp */

int zoo_build_mlp(zoo_ctx *z, const model_spec *spec, const char *preset)
{
    static const char *const keys[] = {"depth", "width", "classes", NULL};
    (void)preset;
    zoo_check_keys(z, spec, "mlp", keys);
    zoo_common(z, spec, 1, 0);
    int64_t depth = zoo_int(z, spec, "depth", 4, 1, 100000);
    int64_t w = zoo_int(z, spec, "width", 1024, 1, INT64_C(1) << 24);
    int64_t classes = zoo_int(z, spec, "classes", 10, 2, INT64_C(1) << 24);
    if (z->rc)
        return z->rc;
    graph *g = z->g;
    int64_t B = g->batch;
    remat_dtype dt = g->dtype, pt = g->param_dtype;
    int x = zt(z, "input", ROLE_INPUT, dt, 2, B, w);
    int tgt = zt(z, "targets", ROLE_INPUT, DT_I32, 1, B);
    for (int64_t i = 0; i < depth && !z->rc; i++) {
        const char *fc = zname("layers.%lld.fc", (long long)i);
        int W = zt(z, zname("%s.weight", fc), ROLE_PARAM, pt, 2, w, w);
        int b = zt(z, zname("%s.bias", fc), ROLE_PARAM, pt, 1, w);
        int h = zt(z, zname("%s.out", fc), ROLE_ACT, dt, 2, B, w);
        zop(z, &(zoo_op){.kind = OP_MATMUL, .name = fc, .module = fc, .in = ZL(x), .out = h,
                         .saved = ZL(x), .param = ZL(W, b), .attr = {1},
                         .flops_fwd = fl(2, B, w, w), .flops_bwd = fl(4, B, w, w)});
        const char *act = zname("layers.%lld.act", (long long)i);
        int a = zt(z, zname("%s.out", act), ROLE_ACT, dt, 2, B, w);
        zop(z, &(zoo_op){.kind = OP_RELU, .name = act, .module = act, .in = ZL(h), .out = a,
                         .saved = ZL(a), .flops_fwd = fl(1, B, w, 1), .flops_bwd = fl(1, B, w, 1)});
        x = a;
    }
    int W = zt(z, "head.weight", ROLE_PARAM, pt, 2, classes, w);
    int b = zt(z, "head.bias", ROLE_PARAM, pt, 1, classes);
    int logits = zt(z, "head.out", ROLE_ACT, dt, 2, B, classes);
    zop(z, &(zoo_op){.kind = OP_MATMUL, .name = "head", .module = "head", .in = ZL(x),
                     .out = logits, .saved = ZL(x), .param = ZL(W, b), .attr = {1},
                     .flops_fwd = fl(2, B, w, classes), .flops_bwd = fl(4, B, w, classes)});
    int loss = zt(z, "loss.out", ROLE_ACT, DT_F32, 1, (int64_t)1);
    int lse = zt(z, "loss.lse", ROLE_EXTRA, DT_F32, 1, B);
    zop(z, &(zoo_op){.kind = OP_LOSS, .name = "loss", .module = "loss", .in = ZL(logits, tgt),
                     .out = loss, .extra = ZL(lse), .saved = ZL(logits, tgt, lse),
                     .flops_fwd = fl(5, B, classes, 1), .flops_bwd = fl(3, B, classes, 1)});
    return z->rc;
}
