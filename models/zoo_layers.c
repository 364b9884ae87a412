/* models/zoo_layers.c — layer helpers for the zoo's builders (the CNNs use them):
 * each adds one op of docs/op-conventions.md together with its parameters, output
 * and extras, named "<op>.weight", "<op>.out", "<op>.mean" and so on. Saved lists
 * and FLOPs are filled afterwards by zoo_apply_conventions. All helpers follow the
 * zoo_ctx sticky-error rule: after a failure they return -1 and do nothing. */
#include <string.h>

#include "models/zoo_internal.h"

/* An activation with x's shape, the last dimension replaced by last (when > 0). */
static int like(zoo_ctx *z, const char *name, int x, int64_t last, remat_dtype dt)
{
    if (z->rc)
        return -1;
    const graph_tensor *t = &z->g->tensors[x];
    int64_t shape[GRAPH_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    if (last > 0)
        shape[t->ndim - 1] = last;
    int idx = graph_add_tensor(z->g, name, ROLE_ACT, dt, t->ndim, shape, z->err);
    if (idx < 0) {
        z->rc = idx;
        return -1;
    }
    return idx;
}

static int64_t last_dim(zoo_ctx *z, int x)
{
    const graph_tensor *t = &z->g->tensors[x];
    return t->shape[t->ndim - 1];
}

static int64_t seed_next(zoo_ctx *z) { return (int64_t)z->g->n_ops + 1; }

int zl_linear(zoo_ctx *z, const char *name, const char *module, int x, int64_t n_out, bool bias,
              int tied_weight)
{
    if (z->rc)
        return -1;
    int64_t K = last_dim(z, x);
    remat_dtype pt = z->g->param_dtype;
    int w = tied_weight >= 0 ? tied_weight
                             : zt(z, zname("%s.weight", name), ROLE_PARAM, pt, 2, n_out, K);
    int b = bias ? zt(z, zname("%s.bias", name), ROLE_PARAM, pt, 1, n_out) : -1;
    int y = like(z, zname("%s.out", name), x, n_out, z->g->dtype);
    zop(z, &(zoo_op){.kind = OP_MATMUL, .name = name, .module = module, .in = ZL(x), .out = y,
                     .param = bias ? ZL(w, b) : ZL(w), .attr = {bias ? 1 : 0}});
    return z->rc ? -1 : y;
}

int zl_flatten_linear(zoo_ctx *z, const char *name, int x, int64_t n_out)
{
    if (z->rc)
        return -1;
    const graph_tensor *t = &z->g->tensors[x];
    int64_t B = t->shape[0], K = t->numel / B;
    remat_dtype pt = z->g->param_dtype;
    int w = zt(z, zname("%s.weight", name), ROLE_PARAM, pt, 2, n_out, K);
    int b = zt(z, zname("%s.bias", name), ROLE_PARAM, pt, 1, n_out);
    int y = zt(z, zname("%s.out", name), ROLE_ACT, z->g->dtype, 2, B, n_out);
    zop(z, &(zoo_op){.kind = OP_MATMUL, .name = name, .in = ZL(x), .out = y, .param = ZL(w, b),
                     .attr = {1, 1}});
    return z->rc ? -1 : y;
}

int zl_unary(zoo_ctx *z, op_kind kind, const char *name, const char *module, int x)
{
    int y = like(z, zname("%s.out", name), x, 0, z->g->dtype);
    zop(z, &(zoo_op){.kind = kind, .name = name, .module = module, .in = ZL(x), .out = y});
    return z->rc ? -1 : y;
}

int zl_binary(zoo_ctx *z, op_kind kind, const char *name, const char *module, int a, int b)
{
    int y = like(z, zname("%s.out", name), a, 0, z->g->dtype);
    zop(z, &(zoo_op){.kind = kind, .name = name, .module = module, .in = ZL(a, b), .out = y});
    return z->rc ? -1 : y;
}

int zl_dropout(zoo_ctx *z, const char *name, int x, double p)
{
    if (z->rc || p <= 0)
        return z->rc ? -1 : x;
    int y = like(z, zname("%s.out", name), x, 0, z->g->dtype);
    int m = like(z, zname("%s.mask", name), x, 0, DT_U8);
    if (m >= 0)
        z->g->tensors[m].role = ROLE_EXTRA;
    zop(z, &(zoo_op){.kind = OP_DROPOUT, .name = name, .in = ZL(x), .out = y, .extra = ZL(m),
                     .attr = {seed_next(z)}, .fattr = {p}});
    return z->rc ? -1 : y;
}

int zl_loss(zoo_ctx *z, int logits, int targets)
{
    if (z->rc)
        return -1;
    const graph_tensor *t = &z->g->tensors[logits];
    int64_t rows = t->numel / t->shape[t->ndim - 1];
    int y = zt(z, "loss.out", ROLE_ACT, DT_F32, 1, (int64_t)1);
    int lse = zt(z, "loss.lse", ROLE_EXTRA, DT_F32, 1, rows);
    zop(z, &(zoo_op){.kind = OP_LOSS, .name = "loss", .in = ZL(logits, targets), .out = y,
                     .extra = ZL(lse)});
    return z->rc ? -1 : y;
}

int zl_conv(zoo_ctx *z, const char *name, int x, int64_t cout, int64_t k, int64_t stride,
            int64_t pad, bool bias)
{
    if (z->rc)
        return -1;
    const graph_tensor *t = &z->g->tensors[x];
    int64_t B = t->shape[0], cin = t->shape[1];
    int64_t ho = (t->shape[2] + 2 * pad - k) / stride + 1, wo = (t->shape[3] + 2 * pad - k) / stride + 1;
    remat_dtype pt = z->g->param_dtype;
    int w = zt(z, zname("%s.weight", name), ROLE_PARAM, pt, 4, cout, cin, k, k);
    int b = bias ? zt(z, zname("%s.bias", name), ROLE_PARAM, pt, 1, cout) : -1;
    int y = zt(z, zname("%s.out", name), ROLE_ACT, z->g->dtype, 4, B, cout, ho, wo);
    zop(z, &(zoo_op){.kind = OP_CONV2D, .name = name, .in = ZL(x), .out = y,
                     .param = bias ? ZL(w, b) : ZL(w), .attr = {k, stride, pad, bias ? 1 : 0}});
    return z->rc ? -1 : y;
}

int zl_batchnorm(zoo_ctx *z, const char *name, int x)
{
    if (z->rc)
        return -1;
    int64_t C = z->g->tensors[x].shape[1];
    remat_dtype pt = z->g->param_dtype;
    int w = zt(z, zname("%s.weight", name), ROLE_PARAM, pt, 1, C);
    int b = zt(z, zname("%s.bias", name), ROLE_PARAM, pt, 1, C);
    int mean = zt(z, zname("%s.mean", name), ROLE_EXTRA, DT_F32, 1, C);
    int rstd = zt(z, zname("%s.rstd", name), ROLE_EXTRA, DT_F32, 1, C);
    int y = like(z, zname("%s.out", name), x, 0, z->g->dtype);
    zop(z, &(zoo_op){.kind = OP_BATCHNORM, .name = name, .in = ZL(x), .out = y,
                     .extra = ZL(mean, rstd), .param = ZL(w, b)});
    return z->rc ? -1 : y;
}

int zl_maxpool(zoo_ctx *z, const char *name, int x, int64_t k, int64_t stride)
{
    if (z->rc)
        return -1;
    const graph_tensor *t = &z->g->tensors[x];
    int64_t B = t->shape[0], C = t->shape[1];
    int64_t ho = (t->shape[2] - k) / stride + 1, wo = (t->shape[3] - k) / stride + 1;
    int y = zt(z, zname("%s.out", name), ROLE_ACT, z->g->dtype, 4, B, C, ho, wo);
    int am = zt(z, zname("%s.argmax", name), ROLE_EXTRA, DT_I32, 4, B, C, ho, wo);
    zop(z, &(zoo_op){.kind = OP_MAXPOOL, .name = name, .in = ZL(x), .out = y, .extra = ZL(am),
                     .attr = {k, stride}});
    return z->rc ? -1 : y;
}

int zl_finish(zoo_ctx *z)
{
    if (z->rc)
        return z->rc;
    zoo_apply_conventions(z->g);
    for (int i = 0; i < z->g->n_ops && !z->rc; i++)
        z->rc = graph_check_op(z->g, i, z->err);
    return z->rc;
}
