/* models/zoo_internal.h — helpers shared by the zoo's model builders (private to
 * models/). A zoo_ctx carries a sticky error: after the first failure every
 * helper returns -1 and the builder checks ctx.rc once at the end. */
#ifndef REMAT_MODELS_ZOO_INTERNAL_H
#define REMAT_MODELS_ZOO_INTERNAL_H

#include <stdarg.h>

#include "models/graph.h"

typedef struct zoo_ctx {
    graph *g;
    remat_err *err;
    int rc; /* 0 or the first negative errno */
} zoo_ctx;

/* Adds a tensor of ndim dims given as int64_t varargs; returns its index or -1. */
int zt(zoo_ctx *z, const char *name, tensor_role role, remat_dtype dt, int ndim, ...);

/* Op description used by zop: fill what applies, leave the rest zero. Lists are
 * -1-terminated arrays written with ZL(...); NULL means empty. */
typedef struct zoo_op {
    op_kind kind;
    const char *name;
    const char *module;
    const int *in;
    int out;
    const int *extra;
    const int *saved;
    const int *param;
    int64_t attr[GRAPH_MAX_ATTRS];
    double fattr[2];
    int64_t flops_fwd, flops_bwd, ws_fwd, ws_bwd;
} zoo_op;
#define ZL(...) ((const int[]){__VA_ARGS__, -1})

/* Adds the op; returns its index or -1. */
int zop(zoo_ctx *z, const zoo_op *d);

/* Configuration keys. zoo_check_keys fails on a --set key not in allowed (NULL-
 * terminated). zoo_int reads key from spec (or def) and requires min <= v <= max;
 * it records the resolved value in the graph's config. */
int zoo_check_keys(zoo_ctx *z, const model_spec *spec, const char *model, const char *const *allowed);
int64_t zoo_int(zoo_ctx *z, const model_spec *spec, const char *key, int64_t def, int64_t min,
                int64_t max);
double zoo_double(zoo_ctx *z, const model_spec *spec, const char *key, double def, double min,
                  double max);
/* Applies the common sizes (batch, seq, image, dtype, dropout) to the graph. */
void zoo_common(zoo_ctx *z, const model_spec *spec, int64_t default_seq, int64_t default_image);

/* A printf into a static rotating buffer, for tensor/op names. */
const char *zname(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Builders: each fills z->g (already graph_init'ed with the model name). */
typedef int (*zoo_builder)(zoo_ctx *z, const model_spec *spec, const char *preset);

int zoo_build_chain(zoo_ctx *z, const model_spec *spec, const char *preset);
int zoo_build_mlp(zoo_ctx *z, const model_spec *spec, const char *preset);
int zoo_build_gpt2(zoo_ctx *z, const model_spec *spec, const char *preset);
int zoo_build_llama(zoo_ctx *z, const model_spec *spec, const char *preset);
int zoo_build_vgg16(zoo_ctx *z, const model_spec *spec, const char *preset);
int zoo_build_resnet50(zoo_ctx *z, const model_spec *spec, const char *preset);
int zoo_build_unet(zoo_ctx *z, const model_spec *spec, const char *preset);

/* Layer helpers (models/zoo_layers.c): each adds one op with its params, output
 * ("<name>.out") and extras, and returns the output tensor (or -1 after an error).
 * module NULL means the op name. Call zl_finish last: it fills saved lists and
 * FLOPs from the conventions and checks every op against them. */
int zl_linear(zoo_ctx *z, const char *name, const char *module, int x, int64_t n_out, bool bias,
              int tied_weight);
int zl_flatten_linear(zoo_ctx *z, const char *name, int x, int64_t n_out);
int zl_unary(zoo_ctx *z, op_kind kind, const char *name, const char *module, int x);
int zl_binary(zoo_ctx *z, op_kind kind, const char *name, const char *module, int a, int b);
int zl_dropout(zoo_ctx *z, const char *name, int x, double p); /* x itself when p == 0 */
int zl_loss(zoo_ctx *z, int logits, int targets);
int zl_conv(zoo_ctx *z, const char *name, int x, int64_t cout, int64_t k, int64_t stride,
            int64_t pad, bool bias);
int zl_batchnorm(zoo_ctx *z, const char *name, int x);
int zl_maxpool(zoo_ctx *z, const char *name, int x, int64_t k, int64_t stride);
int zl_finish(zoo_ctx *z);

/* The op conventions of docs/op-conventions.md (models/conventions.c). */
/* Fills saved[] (GRAPH_MAX_SAVED) with what the op's kind saves by default:
 * its inputs, output and/or extras. Returns the count. */
int graph_op_default_saved(const graph_op *o, int *saved);
/* The FLOPs the conventions assign to the op (matmul 2mkn/4mkn, attention
 * 4BHT^2D/8BHT^2D, conv2d, a few per element for the rest; docs/model-format.md). */
void graph_op_default_flops(const graph *g, const graph_op *o, int64_t *fwd, int64_t *bwd);
/* Sets every op's saved list and FLOPs from the conventions (zoo builders). */
void zoo_apply_conventions(graph *g);
/* Checks an op's arity, shapes, dtypes and attributes against its kind's row of
 * the conventions. Returns 0 or -EINVAL naming the op. */
int graph_check_op(const graph *g, int op, remat_err *err);
/* Loads the one YAML document of a file (models/modelfile.c): syntax errors,
 * an empty file ("empty <what>") and a second document fail with -EINVAL and
 * "path:line:col: message". On success the caller deletes *doc, whose root node
 * exists. */
int remat_yaml_load(const char *path, const char *what, struct yaml_document_s *doc,
                    remat_err *err);
/* The scratch bytes the CPU kernels use for the op (models/workspace.c). */
void graph_op_default_workspace(const graph *g, const graph_op *o, int64_t *fwd, int64_t *bwd);

#endif
