/* models/conventions.c — the per-kind rules of docs/op-conventions.md in code:
 * which tensors an op's backward saves by default, its FLOPs, and the arity and
 * shape checks a graph must pass (used by the model-file reader and the zoo's
 * builders, so a hand-written graph and a zoo graph obey the same rules). */
#include <errno.h>
#include <string.h>

#include "models/zoo_internal.h"

/* What each kind's backward reads by default: all inputs, the output, all extras. */
enum { SV_IN = 1, SV_OUT = 2, SV_EX = 4 };

static int saved_rule(op_kind k)
{
    switch (k) {
    case OP_EMBEDDING: case OP_MATMUL: case OP_GELU: case OP_SWIGLU: case OP_CONV2D:
        return SV_IN;
    case OP_LAYERNORM: case OP_RMSNORM: case OP_ATTENTION: case OP_LOSS: case OP_BATCHNORM:
        return SV_IN | SV_EX;
    case OP_SOFTMAX: case OP_RELU:
        return SV_OUT;
    case OP_DROPOUT: case OP_MAXPOOL:
        return SV_EX;
    case OP_STAGE:
        return SV_IN | SV_OUT;
    default: /* rope, add, avgpool, concat, upsample */
        return 0;
    }
}

int graph_op_default_saved(const graph_op *o, int *saved)
{
    int rule = saved_rule(o->kind), n = 0;
    if (rule & SV_IN)
        for (int i = 0; i < o->n_in && n < GRAPH_MAX_SAVED; i++)
            saved[n++] = o->in[i];
    if ((rule & SV_OUT) && n < GRAPH_MAX_SAVED)
        saved[n++] = o->out;
    if (rule & SV_EX)
        for (int i = 0; i < o->n_extra && n < GRAPH_MAX_SAVED; i++)
            saved[n++] = o->extra[i];
    return n;
}

/* a*b*c*... with saturation at INT64_MAX (FLOPs of absurd shapes stay finite). */
static int64_t sat_mul(int64_t a, int64_t b)
{
    int64_t r;
    return checked_mul64(a, b, &r) ? r : INT64_MAX;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r;
    return checked_add64(a, b, &r) ? r : INT64_MAX;
}

void graph_op_default_flops(const graph *g, const graph_op *o, int64_t *fwd, int64_t *bwd)
{
    const graph_tensor *x = o->n_in > 0 ? &g->tensors[o->in[0]] : NULL;
    const graph_tensor *y = &g->tensors[o->out];
    int64_t n = y->numel, f = 0, b = 0;
    switch (o->kind) {
    case OP_EMBEDDING: /* lookup is free; the position add is 1/element */
        f = o->attr[0] ? n : 0;
        b = sat_mul(n, o->attr[0] ? 2 : 1);
        break;
    case OP_MATMUL: {
        int64_t N = y->ndim ? y->shape[y->ndim - 1] : 1;
        int64_t K = 1;
        if (x && o->attr[1])
            for (int d = 1; d < x->ndim; d++)
                K = sat_mul(K, x->shape[d]);
        else if (x && x->ndim)
            K = x->shape[x->ndim - 1];
        int64_t m = x && K ? x->numel / K : 0;
        int64_t mkn = sat_mul(sat_mul(m, K), N);
        f = sat_mul(2, mkn);
        b = sat_mul(4, mkn);
        if (o->attr[0]) {
            f = sat_add(f, sat_mul(m, N));
            b = sat_add(b, sat_mul(m, N));
        }
        break;
    }
    case OP_LAYERNORM: case OP_BATCHNORM:
        f = sat_mul(8, n);
        b = sat_mul(14, n);
        break;
    case OP_RMSNORM:
        f = sat_mul(4, n);
        b = sat_mul(9, n);
        break;
    case OP_GELU:
        f = sat_mul(10, n);
        b = sat_mul(16, n);
        break;
    case OP_SWIGLU:
        f = sat_mul(5, n);
        b = sat_mul(10, n);
        break;
    case OP_ROPE:
        f = sat_mul(3, n);
        b = sat_mul(3, n);
        break;
    case OP_ATTENTION: { /* 4*B*H*T^2*D forward, 8*B*H*T^2*D backward */
        int64_t B = x && x->ndim >= 2 ? x->shape[0] : 1, T = x && x->ndim >= 2 ? x->shape[1] : 1;
        int64_t bhttd = sat_mul(sat_mul(sat_mul(B, o->attr[0]), sat_mul(T, T)), o->attr[2]);
        f = sat_mul(4, bhttd);
        b = sat_mul(8, bhttd);
        break;
    }
    case OP_SOFTMAX:
        f = sat_mul(5, n);
        b = sat_mul(3, n);
        break;
    case OP_ADD: case OP_RELU:
        f = n;
        b = n;
        break;
    case OP_DROPOUT:
        f = sat_mul(2, n);
        b = sat_mul(2, n);
        break;
    case OP_LOSS: /* per logit: max, subtract, exp, sum, log forward; softmax - onehot back */
        f = x ? sat_mul(5, x->numel) : 0;
        b = x ? sat_mul(3, x->numel) : 0;
        break;
    case OP_CONV2D: { /* 2*B*Cout*Ho*Wo*Cin*k^2 forward, twice that backward */
        int64_t cin = x && x->ndim == 4 ? x->shape[1] : 1;
        int64_t c = sat_mul(sat_mul(2, n), sat_mul(cin, sat_mul(o->attr[0], o->attr[0])));
        f = c;
        b = sat_mul(2, c);
        if (o->attr[3]) {
            f = sat_add(f, n);
            b = sat_add(b, n);
        }
        break;
    }
    case OP_MAXPOOL:
        f = sat_mul(n, sat_mul(o->attr[0], o->attr[0]));
        b = n;
        break;
    case OP_AVGPOOL:
        f = x ? x->numel : 0;
        b = x ? x->numel : 0;
        break;
    case OP_CONCAT:
        break;
    case OP_UPSAMPLE:
        b = n;
        break;
    case OP_STAGE:
        f = sat_mul(2, n);
        b = sat_mul(4, n);
        break;
    default:
        break;
    }
    *fwd = f;
    *bwd = b;
}

void zoo_apply_conventions(graph *g)
{
    for (int i = 0; i < g->n_ops; i++) {
        graph_op *o = &g->ops[i];
        o->n_saved = graph_op_default_saved(o, o->saved);
        graph_op_default_flops(g, o, &o->flops_fwd, &o->flops_bwd);
    }
}

/* ---------------------------------------------------------------- checks */

static bool same_shape(const graph_tensor *a, const graph_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return false;
    return true;
}

static bool is_shape(const graph_tensor *t, int ndim, int64_t d0, int64_t d1, int64_t d2,
                     int64_t d3)
{
    const int64_t want[4] = {d0, d1, d2, d3};
    if (t->ndim != ndim)
        return false;
    for (int d = 0; d < ndim; d++)
        if (t->shape[d] != want[d])
            return false;
    return true;
}

static const char *shape_str(const graph_tensor *t, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < t->ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
    return buf;
}

#define CHK(cond, ...)                                                                 \
    do {                                                                               \
        if (!(cond))                                                                   \
            return remat_fail(err, -EINVAL, __VA_ARGS__);                              \
    } while (0)

/* Counts: inputs, params, extras. */
static int check_arity(const graph_op *o, int nin, int nparam, int nextra, remat_err *err)
{
    const char *k = op_kind_name(o->kind);
    CHK(o->n_in == nin, "op '%s': %s takes %d input(s), not %d", o->name, k, nin, o->n_in);
    CHK(o->n_param == nparam, "op '%s': %s takes %d parameter(s) here, not %d", o->name, k,
        nparam, o->n_param);
    CHK(o->n_extra == nextra, "op '%s': %s produces %d extra(s) here, not %d", o->name, k, nextra,
        o->n_extra);
    return 0;
}

int graph_check_op(const graph *g, int op, remat_err *err)
{
    const graph_op *o = &g->ops[op];
    const graph_tensor *T = g->tensors;
    const graph_tensor *x = o->n_in > 0 ? &T[o->in[0]] : NULL;
    const graph_tensor *y = &T[o->out];
    const char *nm = o->name;
    char s1[96], s2[96];
    int rc = 0;
    for (int a = 0; a < GRAPH_MAX_ATTRS; a++)
        CHK(o->attr[a] >= 0, "op '%s': attribute %d is negative", nm, a);
    for (int a = 0; a < 2; a++)
        CHK(o->fattr[a] >= 0 && o->fattr[a] < 1e300, "op '%s': float attribute %d is negative "
            "or not finite", nm, a);
    switch (o->kind) {
    case OP_EMBEDDING: {
        if ((rc = check_arity(o, 1, o->attr[0] ? 2 : 1, 0, err)))
            return rc;
        const graph_tensor *w = &T[o->param[0]];
        CHK(x->dtype == DT_I32 && x->ndim == 2, "op '%s': tokens must be i32 [B,T]", nm);
        CHK(w->ndim == 2, "op '%s': wte must be [V,C]", nm);
        CHK(is_shape(y, 3, x->shape[0], x->shape[1], w->shape[1], 0),
            "op '%s': output %s must be [B,T,C]", nm, shape_str(y, s1, sizeof s1));
        if (o->attr[0]) {
            const graph_tensor *p = &T[o->param[1]];
            CHK(p->ndim == 2 && p->shape[1] == w->shape[1] && p->shape[0] >= x->shape[1],
                "op '%s': position table %s must be [maxT>=%lld,%lld]", nm,
                shape_str(p, s1, sizeof s1), (long long)x->shape[1], (long long)w->shape[1]);
        }
        break;
    }
    case OP_MATMUL: {
        if ((rc = check_arity(o, 1, o->attr[0] ? 2 : 1, 0, err)))
            return rc;
        const graph_tensor *w = &T[o->param[0]];
        CHK(w->ndim == 2, "op '%s': weight must be [N,K]", nm);
        int64_t N = w->shape[0], K = w->shape[1];
        if (o->attr[1]) {
            int64_t k = 1;
            for (int d = 1; d < x->ndim; d++)
                k *= x->shape[d];
            CHK(x->ndim >= 2 && k == K && is_shape(y, 2, x->shape[0], N, 0, 0),
                "op '%s': flatten matmul of %s by weight [%lld,%lld] cannot give %s", nm,
                shape_str(x, s1, sizeof s1), (long long)N, (long long)K,
                shape_str(y, s2, sizeof s2));
        } else {
            CHK(x->ndim >= 1 && x->shape[x->ndim - 1] == K && y->ndim == x->ndim &&
                    y->shape[y->ndim - 1] == N,
                "op '%s': matmul of %s by weight [%lld,%lld] cannot give %s", nm,
                shape_str(x, s1, sizeof s1), (long long)N, (long long)K,
                shape_str(y, s2, sizeof s2));
            for (int d = 0; d + 1 < x->ndim; d++)
                CHK(x->shape[d] == y->shape[d], "op '%s': output %s does not match input %s",
                    nm, shape_str(y, s1, sizeof s1), shape_str(x, s2, sizeof s2));
        }
        if (o->attr[0])
            CHK(is_shape(&T[o->param[1]], 1, N, 0, 0, 0), "op '%s': bias must be [%lld]", nm,
                (long long)N);
        break;
    }
    case OP_LAYERNORM: case OP_RMSNORM: {
        bool ln = o->kind == OP_LAYERNORM;
        if ((rc = check_arity(o, 1, ln ? 2 : 1, ln ? 2 : 1, err)))
            return rc;
        CHK(x->ndim >= 1 && same_shape(x, y), "op '%s': output must have the input's shape", nm);
        int64_t C = x->shape[x->ndim - 1], rows = x->numel / C;
        for (int p = 0; p < o->n_param; p++)
            CHK(is_shape(&T[o->param[p]], 1, C, 0, 0, 0), "op '%s': parameters must be [%lld]",
                nm, (long long)C);
        for (int e = 0; e < o->n_extra; e++)
            CHK(T[o->extra[e]].dtype == DT_F32 && T[o->extra[e]].numel == rows,
                "op '%s': statistics must be f32 with %lld elements (rows)", nm, (long long)rows);
        break;
    }
    case OP_GELU: case OP_RELU: case OP_SOFTMAX:
        if ((rc = check_arity(o, 1, 0, 0, err)))
            return rc;
        CHK(same_shape(x, y), "op '%s': output must have the input's shape", nm);
        break;
    case OP_SWIGLU: case OP_ADD:
        if ((rc = check_arity(o, 2, 0, 0, err)))
            return rc;
        CHK(same_shape(x, &T[o->in[1]]) && same_shape(x, y),
            "op '%s': both inputs and the output must have one shape", nm);
        break;
    case OP_ROPE:
        if ((rc = check_arity(o, 1, 0, 0, err)))
            return rc;
        CHK(o->attr[0] >= 1 && o->attr[1] >= 2 && o->attr[1] % 2 == 0 &&
                o->attr[0] <= (INT64_C(1) << 20) && o->attr[1] <= (INT64_C(1) << 20),
            "op '%s': rope needs n_head >= 1 and an even head_dim", nm);
        CHK(x->ndim == 3 && x->shape[2] == o->attr[0] * o->attr[1] && same_shape(x, y),
            "op '%s': rope input %s must be [B,T,%lld] like its output", nm,
            shape_str(x, s1, sizeof s1), (long long)(o->attr[0] * o->attr[1]));
        break;
    case OP_ATTENTION: {
        int64_t H = o->attr[0], KV = o->attr[1], D = o->attr[2];
        double p = o->fattr[0];
        CHK(H >= 1 && KV >= 1 && D >= 1 && H % KV == 0 && H <= (INT64_C(1) << 20) &&
                D <= (INT64_C(1) << 20),
            "op '%s': attention needs n_head, n_kv_head, head_dim >= 1 with n_kv_head "
            "dividing n_head", nm);
        CHK(p < 1.0, "op '%s': attention dropout %g must be in [0, 1)", nm, p);
        if ((rc = check_arity(o, o->attr[4] ? 1 : 3, 0, p > 0 ? 3 : 1, err)))
            return rc;
        CHK(x->ndim == 3, "op '%s': attention inputs must be [B,T,*]", nm);
        int64_t B = x->shape[0], Tn = x->shape[1];
        if (o->attr[4])
            CHK(x->shape[2] == (H + 2 * KV) * D, "op '%s': fused qkv %s must be [B,T,%lld]", nm,
                shape_str(x, s1, sizeof s1), (long long)((H + 2 * KV) * D));
        else
            CHK(x->shape[2] == H * D && is_shape(&T[o->in[1]], 3, B, Tn, KV * D, 0) &&
                    is_shape(&T[o->in[2]], 3, B, Tn, KV * D, 0),
                "op '%s': q, k, v must be [B,T,%lld], [B,T,%lld], [B,T,%lld]", nm,
                (long long)(H * D), (long long)(KV * D), (long long)(KV * D));
        CHK(is_shape(y, 3, B, Tn, H * D, 0), "op '%s': output %s must be [B,T,%lld]", nm,
            shape_str(y, s1, sizeof s1), (long long)(H * D));
        for (int e = 0; e < o->n_extra; e++)
            CHK(is_shape(&T[o->extra[e]], 4, B, H, Tn, Tn) &&
                    (T[o->extra[e]].dtype == DT_U8) == (e == 1),
                "op '%s': extra %d must be [B,H,T,T] (probs, u8 mask, dropped probs)", nm, e);
        break;
    }
    case OP_DROPOUT:
        if ((rc = check_arity(o, 1, 0, 1, err)))
            return rc;
        CHK(o->fattr[0] < 1.0, "op '%s': dropout %g must be in [0, 1)", nm, o->fattr[0]);
        CHK(same_shape(x, y) && T[o->extra[0]].dtype == DT_U8 && T[o->extra[0]].numel == x->numel,
            "op '%s': output like the input and a u8 mask of as many elements", nm);
        break;
    case OP_LOSS: {
        if ((rc = check_arity(o, 2, 0, 1, err)))
            return rc;
        const graph_tensor *t = &T[o->in[1]];
        CHK(x->ndim >= 1, "op '%s': logits must be [...,V]", nm);
        int64_t rows = x->numel / x->shape[x->ndim - 1];
        CHK(t->dtype == DT_I32 && t->numel == rows, "op '%s': targets must be i32 with %lld "
            "elements (one per row of logits)", nm, (long long)rows);
        CHK(y->dtype == DT_F32 && y->numel == 1, "op '%s': the loss output must be f32 [1]", nm);
        CHK(T[o->extra[0]].dtype == DT_F32 && T[o->extra[0]].numel == rows,
            "op '%s': lse must be f32 with %lld elements", nm, (long long)rows);
        break;
    }
    case OP_CONV2D: {
        if ((rc = check_arity(o, 1, o->attr[3] ? 2 : 1, 0, err)))
            return rc;
        int64_t k = o->attr[0], s = o->attr[1], pad = o->attr[2];
        CHK(k >= 1 && s >= 1 && k <= 1024 && s <= 1024 && pad <= 1024,
            "op '%s': conv2d needs kernel and stride >= 1", nm);
        const graph_tensor *w = &T[o->param[0]];
        CHK(x->ndim == 4 && is_shape(w, 4, w->shape[0], x->shape[1], k, k),
            "op '%s': weight %s must be [Cout,%lld,%lld,%lld]", nm, shape_str(w, s1, sizeof s1),
            (long long)(x->ndim == 4 ? x->shape[1] : 0), (long long)k, (long long)k);
        int64_t hp = x->shape[2] + 2 * pad - k, wp = x->shape[3] + 2 * pad - k;
        CHK(hp >= 0 && wp >= 0 && is_shape(y, 4, x->shape[0], w->shape[0], hp / s + 1, wp / s + 1),
            "op '%s': output %s does not follow from input %s", nm, shape_str(y, s1, sizeof s1),
            shape_str(x, s2, sizeof s2));
        if (o->attr[3])
            CHK(is_shape(&T[o->param[1]], 1, w->shape[0], 0, 0, 0), "op '%s': bias must be [Cout]",
                nm);
        break;
    }
    case OP_MAXPOOL: {
        if ((rc = check_arity(o, 1, 0, 1, err)))
            return rc;
        int64_t k = o->attr[0], s = o->attr[1];
        CHK(k >= 1 && s >= 1 && k <= 1024 && s <= 1024, "op '%s': maxpool needs kernel and "
            "stride >= 1", nm);
        CHK(x->ndim == 4 && x->shape[2] >= k && x->shape[3] >= k &&
                is_shape(y, 4, x->shape[0], x->shape[1], (x->shape[2] - k) / s + 1,
                         (x->shape[3] - k) / s + 1),
            "op '%s': output %s does not follow from input %s", nm, shape_str(y, s1, sizeof s1),
            shape_str(x, s2, sizeof s2));
        CHK(T[o->extra[0]].dtype == DT_I32 && T[o->extra[0]].numel == y->numel,
            "op '%s': argmax must be i32 like the output", nm);
        break;
    }
    case OP_AVGPOOL:
        if ((rc = check_arity(o, 1, 0, 0, err)))
            return rc;
        CHK(x->ndim == 4 && is_shape(y, 2, x->shape[0], x->shape[1], 0, 0),
            "op '%s': global avgpool maps [B,C,H,W] to [B,C]", nm);
        break;
    case OP_BATCHNORM: {
        if ((rc = check_arity(o, 1, 2, 2, err)))
            return rc;
        CHK(x->ndim == 4 && same_shape(x, y), "op '%s': batchnorm maps [B,C,H,W] to itself", nm);
        int64_t C = x->shape[1];
        for (int p = 0; p < 2; p++)
            CHK(is_shape(&T[o->param[p]], 1, C, 0, 0, 0), "op '%s': gamma/beta must be [%lld]", nm,
                (long long)C);
        for (int e = 0; e < 2; e++)
            CHK(T[o->extra[e]].dtype == DT_F32 && is_shape(&T[o->extra[e]], 1, C, 0, 0, 0),
                "op '%s': mean/rstd must be f32 [%lld]", nm, (long long)C);
        break;
    }
    case OP_CONCAT: {
        if ((rc = check_arity(o, 2, 0, 0, err)))
            return rc;
        const graph_tensor *b = &T[o->in[1]];
        CHK(x->ndim == 4 && b->ndim == 4 && x->shape[0] == b->shape[0] &&
                x->shape[2] == b->shape[2] && x->shape[3] == b->shape[3] &&
                is_shape(y, 4, x->shape[0], x->shape[1] + b->shape[1], x->shape[2], x->shape[3]),
            "op '%s': concat needs [B,Ca,H,W] and [B,Cb,H,W] giving [B,Ca+Cb,H,W]", nm);
        break;
    }
    case OP_UPSAMPLE:
        if ((rc = check_arity(o, 1, 0, 0, err)))
            return rc;
        CHK(x->ndim == 4 && is_shape(y, 4, x->shape[0], x->shape[1], 2 * x->shape[2],
                                     2 * x->shape[3]),
            "op '%s': upsample maps [B,C,H,W] to [B,C,2H,2W]", nm);
        break;
    case OP_STAGE:
        if ((rc = check_arity(o, 1, 1, 0, err)))
            return rc;
        CHK(x->ndim == 2 && same_shape(x, y) && is_shape(&T[o->param[0]], 1, x->shape[1], 0, 0, 0),
            "op '%s': stage maps [B,W] to [B,W] with w [W]", nm);
        break;
    default:
        return remat_fail(err, -EINVAL, "op '%s': unknown kind", nm);
    }
    return 0;
}
