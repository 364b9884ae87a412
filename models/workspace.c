/* models/workspace.c — the temporaries (scratch bytes) each op's CPU kernel
 * allocates around its call, per docs/op-conventions.md. The executor allocates
 * exactly these amounts from its tracked allocator, so the simulator's prediction
 * and the measured peak describe the same bytes. */
#include "models/zoo_internal.h"

void graph_op_default_workspace(const graph *g, const graph_op *o, int64_t *fwd, int64_t *bwd)
{
    int64_t f = 0, b = 0;
    const graph_tensor *x = o->n_in > 0 ? &g->tensors[o->in[0]] : NULL;
    if (o->kind == OP_ATTENTION && x && x->ndim >= 2) {
        /* backward: one (b,h) slice of d(probs) and d(scores), fp32 */
        int64_t T = x->shape[1];
        if (!checked_mul64(T, T, &b) || !checked_mul64(b, 8, &b))
            b = INT64_MAX;
    } else if (o->kind == OP_CONV2D && x && x->ndim == 4) {
        /* im2col of one image: Cin*k*k x Ho*Wo fp32; backward holds two */
        const graph_tensor *y = &g->tensors[o->out];
        int64_t k = o->attr[0], v = 1;
        bool ok = y->ndim == 4 && checked_mul64(v, x->shape[1], &v) && checked_mul64(v, k, &v) &&
                  checked_mul64(v, k, &v) && checked_mul64(v, y->shape[2], &v) &&
                  checked_mul64(v, y->shape[3], &v) && checked_mul64(v, 4, &f) &&
                  checked_mul64(f, 2, &b);
        if (!ok) {
            f = INT64_MAX;
            b = INT64_MAX;
        }
    }
    *fwd = f;
    *bwd = b;
}

void graph_set_workspace(graph *g)
{
    for (int i = 0; i < g->n_ops; i++)
        graph_op_default_workspace(g, &g->ops[i], &g->ops[i].ws_fwd, &g->ops[i].ws_bwd);
}
