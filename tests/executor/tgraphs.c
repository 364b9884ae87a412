/* tests/executor/tgraphs.c — hand-built test graphs (following docs/op-conventions.md),
 * a checkpointing schedule builder and an independent replay of the memory rules. */
#include "tests/executor/tgraphs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define LST(...) ((const int[]){__VA_ARGS__, -1})
#define NONE ((const int *)NULL)

static int tt(graph *g, tensor_role role, remat_dtype dt, const char *name, int nd, int64_t s0,
              int64_t s1, int64_t s2, int64_t s3)
{
    int64_t shape[4] = {s0, s1, s2, s3};
    remat_err e;
    int idx = graph_add_tensor(g, name, role, dt, nd, shape, &e);
    if (idx < 0)
        print_error("tensor %s: %s\n", name, e.msg);
    assert_true(idx >= 0);
    return idx;
}

static const char *nm(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *nm(const char *fmt, ...)
{
    static char bufs[8][128];
    static int next;
    char *b = bufs[next++ & 7];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

static void copy_list(const int *src, int *dst, int *n)
{
    *n = 0;
    while (src && src[*n] >= 0) {
        dst[*n] = src[*n];
        (*n)++;
    }
}

typedef struct opd {
    op_kind kind;
    const char *name;
    const int *in, *extra, *saved, *param;
    int out;
    int64_t attr[GRAPH_MAX_ATTRS];
    double p;
    int64_t ws_fwd, ws_bwd;
} opd;

static void add(graph *g, const opd *d)
{
    graph_op o;
    memset(&o, 0, sizeof o);
    o.kind = d->kind;
    o.name = (char *)d->name;
    o.module = (char *)d->name;
    copy_list(d->in, o.in, &o.n_in);
    copy_list(d->extra, o.extra, &o.n_extra);
    copy_list(d->saved, o.saved, &o.n_saved);
    copy_list(d->param, o.param, &o.n_param);
    o.out = d->out;
    memcpy(o.attr, d->attr, sizeof o.attr);
    o.fattr[0] = d->p;
    o.ws_fwd = d->ws_fwd;
    o.ws_bwd = d->ws_bwd;
    remat_err e;
    int rc = graph_add_op(g, &o, &e);
    if (rc < 0)
        print_error("op %s: %s\n", d->name, e.msg);
    assert_true(rc >= 0);
}

static void finish(graph *g)
{
    remat_err e;
    int rc = graph_validate(g, &e);
    if (rc)
        print_error("validate: %s\n", e.msg);
    assert_int_equal(rc, 0);
}

#define ACT(name, nd, a, b, c, d) tt(g, ROLE_ACT, DT_F32, name, nd, a, b, c, d)
#define EXF(name, nd, a, b, c, d) tt(g, ROLE_EXTRA, DT_F32, name, nd, a, b, c, d)
#define PAR(name, nd, a, b) tt(g, ROLE_PARAM, DT_F32, name, nd, a, b, 0, 0)

/* linear layer: out [B,T,N] = x @ W^T (+ b) */
static int linear(graph *g, const char *mod, int x, int64_t B, int64_t T, int64_t K, int64_t N,
                  bool bias, int W)
{
    if (W < 0)
        W = PAR(nm("%s.weight", mod), 2, N, K);
    int y = ACT(nm("%s.out", mod), 3, B, T, N, 0);
    if (bias) {
        int b = PAR(nm("%s.bias", mod), 1, N, 0);
        add(g, &(opd){.kind = OP_MATMUL,
                      .name = mod,
                      .in = LST(x),
                      .extra = NONE,
                      .saved = LST(x),
                      .param = LST(W, b),
                      .out = y,
                      .attr = {1}});
    } else {
        add(g, &(opd){.kind = OP_MATMUL,
                      .name = mod,
                      .in = LST(x),
                      .extra = NONE,
                      .saved = LST(x),
                      .param = LST(W),
                      .out = y,
                      .attr = {0}});
    }
    return y;
}

static int norm(graph *g, bool rms, const char *mod, int x, int64_t B, int64_t T, int64_t C)
{
    int y = ACT(nm("%s.out", mod), 3, B, T, C, 0);
    int w = PAR(nm("%s.weight", mod), 1, C, 0);
    if (rms) {
        int rs = EXF(nm("%s.rstd", mod), 2, B, T, 0, 0);
        add(g, &(opd){.kind = OP_RMSNORM,
                      .name = mod,
                      .in = LST(x),
                      .extra = LST(rs),
                      .saved = LST(x, rs),
                      .param = LST(w),
                      .out = y});
    } else {
        int b = PAR(nm("%s.bias", mod), 1, C, 0);
        int mu = EXF(nm("%s.mean", mod), 2, B, T, 0, 0);
        int rs = EXF(nm("%s.rstd", mod), 2, B, T, 0, 0);
        add(g, &(opd){.kind = OP_LAYERNORM,
                      .name = mod,
                      .in = LST(x),
                      .extra = LST(mu, rs),
                      .saved = LST(x, mu, rs),
                      .param = LST(w, b),
                      .out = y});
    }
    return y;
}

static int dropout(graph *g, const char *mod, int x, int64_t B, int64_t T, int64_t C, double p,
                   int64_t seed)
{
    int y = ACT(nm("%s.out", mod), 3, B, T, C, 0);
    int m = tt(g, ROLE_EXTRA, DT_U8, nm("%s.mask", mod), 3, B, T, C, 0);
    add(g, &(opd){.kind = OP_DROPOUT,
                  .name = mod,
                  .in = LST(x),
                  .extra = LST(m),
                  .saved = LST(m),
                  .param = NONE,
                  .out = y,
                  .attr = {seed},
                  .p = p});
    return y;
}

static int addt(graph *g, const char *mod, int a, int b, int64_t B, int64_t T, int64_t C)
{
    int y = ACT(nm("%s.out", mod), 3, B, T, C, 0);
    add(g, &(opd){.kind = OP_ADD,
                  .name = mod,
                  .in = LST(a, b),
                  .extra = NONE,
                  .saved = NONE,
                  .param = NONE,
                  .out = y});
    return y;
}

static void head_and_loss(graph *g, int x, int64_t B, int64_t T, int64_t C, int64_t V, int W)
{
    int logits = linear(g, "lm_head", x, B, T, C, V, false, W);
    int tg = tt(g, ROLE_INPUT, DT_I32, "targets", 2, B, T, 0, 0);
    int loss = tt(g, ROLE_ACT, DT_F32, "loss.out", 1, 1, 0, 0, 0);
    int lse = EXF("loss.lse", 2, B, T, 0, 0);
    add(g, &(opd){.kind = OP_LOSS,
                  .name = "loss",
                  .in = LST(logits, tg),
                  .extra = LST(lse),
                  .saved = LST(logits, tg, lse),
                  .param = NONE,
                  .out = loss});
}

void tg_gpt2(graph *g, const tg_cfg *c)
{
    graph_init(g, "tg-gpt2");
    g->batch = c->B;
    g->seq = c->T;
    int64_t B = c->B, T = c->T, C = c->C, H = c->H, D = C / H, F = c->F ? c->F : 4 * C;
    double p = c->dropout;
    int tok = tt(g, ROLE_INPUT, DT_I32, "tokens", 2, B, T, 0, 0);
    int wte = PAR("transformer.wte.weight", 2, c->V, C);
    int wpe = PAR("transformer.wpe.weight", 2, T + 3, C);
    int x = ACT("transformer.wte.out", 3, B, T, C, 0);
    add(g, &(opd){.kind = OP_EMBEDDING,
                  .name = "transformer.wte",
                  .in = LST(tok),
                  .extra = NONE,
                  .saved = LST(tok),
                  .param = LST(wte, wpe),
                  .out = x,
                  .attr = {1}});
    for (int64_t l = 0; l < c->L; l++) {
        const char *h = nm("transformer.h.%lld", (long long)l);
        char hb[64];
        snprintf(hb, sizeof hb, "%s", h);
        int a = norm(g, false, nm("%s.ln_1", hb), x, B, T, C);
        int qkv = linear(g, nm("%s.attn.c_attn", hb), a, B, T, C, 3 * C, true, -1);
        int y = ACT(nm("%s.attn.attn.out", hb), 3, B, T, C, 0);
        int pr = tt(g, ROLE_EXTRA, DT_F32, nm("%s.attn.attn.probs", hb), 4, B, H, T, T);
        const char *an = nm("%s.attn.attn", hb);
        if (p > 0) {
            int mk = tt(g, ROLE_EXTRA, DT_U8, nm("%s.attn.attn.mask", hb), 4, B, H, T, T);
            int dr = tt(g, ROLE_EXTRA, DT_F32, nm("%s.attn.attn.dropped", hb), 4, B, H, T, T);
            add(g, &(opd){.kind = OP_ATTENTION,
                          .name = an,
                          .in = LST(qkv),
                          .extra = LST(pr, mk, dr),
                          .saved = LST(qkv, pr, mk, dr),
                          .param = NONE,
                          .out = y,
                          .attr = {H, H, D, 1, 1, 100 + l},
                          .p = p,
                          .ws_fwd = 0,
                          .ws_bwd = 2 * T * T * 4});
        } else {
            add(g, &(opd){.kind = OP_ATTENTION,
                          .name = an,
                          .in = LST(qkv),
                          .extra = LST(pr),
                          .saved = LST(qkv, pr),
                          .param = NONE,
                          .out = y,
                          .attr = {H, H, D, 1, 1, 100 + l},
                          .p = 0,
                          .ws_fwd = 0,
                          .ws_bwd = 2 * T * T * 4});
        }
        int o = linear(g, nm("%s.attn.c_proj", hb), y, B, T, C, C, true, -1);
        if (p > 0)
            o = dropout(g, nm("%s.attn.resid_dropout", hb), o, B, T, C, p, 200 + l);
        x = addt(g, nm("%s.add_1", hb), x, o, B, T, C);
        int b2 = norm(g, false, nm("%s.ln_2", hb), x, B, T, C);
        int f = linear(g, nm("%s.mlp.c_fc", hb), b2, B, T, C, F, true, -1);
        int ge = ACT(nm("%s.mlp.act.out", hb), 3, B, T, F, 0);
        add(g, &(opd){.kind = OP_GELU,
                      .name = nm("%s.mlp.act", hb),
                      .in = LST(f),
                      .extra = NONE,
                      .saved = LST(f),
                      .param = NONE,
                      .out = ge});
        int m = linear(g, nm("%s.mlp.c_proj", hb), ge, B, T, F, C, true, -1);
        if (p > 0)
            m = dropout(g, nm("%s.mlp.dropout", hb), m, B, T, C, p, 300 + l);
        x = addt(g, nm("%s.add_2", hb), x, m, B, T, C);
    }
    x = norm(g, false, "transformer.ln_f", x, B, T, C);
    head_and_loss(g, x, B, T, C, c->V, wte);
    finish(g);
}

void tg_llama(graph *g, const tg_cfg *c)
{
    graph_init(g, "tg-llama");
    g->batch = c->B;
    g->seq = c->T;
    int64_t B = c->B, T = c->T, C = c->C, H = c->H, KV = c->KV ? c->KV : c->H, D = C / H;
    int64_t F = c->F ? c->F : 3 * C;
    int tok = tt(g, ROLE_INPUT, DT_I32, "tokens", 2, B, T, 0, 0);
    int wte = PAR("model.embed_tokens.weight", 2, c->V, C);
    int x = ACT("model.embed_tokens.out", 3, B, T, C, 0);
    add(g, &(opd){.kind = OP_EMBEDDING,
                  .name = "model.embed_tokens",
                  .in = LST(tok),
                  .extra = NONE,
                  .saved = LST(tok),
                  .param = LST(wte),
                  .out = x});
    for (int64_t l = 0; l < c->L; l++) {
        char hb[64];
        snprintf(hb, sizeof hb, "model.layers.%lld", (long long)l);
        int a = norm(g, true, nm("%s.input_layernorm", hb), x, B, T, C);
        int q = linear(g, nm("%s.self_attn.q_proj", hb), a, B, T, C, H * D, false, -1);
        int k = linear(g, nm("%s.self_attn.k_proj", hb), a, B, T, C, KV * D, false, -1);
        int v = linear(g, nm("%s.self_attn.v_proj", hb), a, B, T, C, KV * D, false, -1);
        int qr = ACT(nm("%s.self_attn.rope_q.out", hb), 3, B, T, H * D, 0);
        add(g, &(opd){.kind = OP_ROPE,
                      .name = nm("%s.self_attn.rope_q", hb),
                      .in = LST(q),
                      .extra = NONE,
                      .saved = NONE,
                      .param = NONE,
                      .out = qr,
                      .attr = {H, D}});
        int kr = ACT(nm("%s.self_attn.rope_k.out", hb), 3, B, T, KV * D, 0);
        add(g, &(opd){.kind = OP_ROPE,
                      .name = nm("%s.self_attn.rope_k", hb),
                      .in = LST(k),
                      .extra = NONE,
                      .saved = NONE,
                      .param = NONE,
                      .out = kr,
                      .attr = {KV, D}});
        int y = ACT(nm("%s.self_attn.attn.out", hb), 3, B, T, H * D, 0);
        int pr = tt(g, ROLE_EXTRA, DT_F32, nm("%s.self_attn.attn.probs", hb), 4, B, H, T, T);
        add(g, &(opd){.kind = OP_ATTENTION,
                      .name = nm("%s.self_attn.attn", hb),
                      .in = LST(qr, kr, v),
                      .extra = LST(pr),
                      .saved = LST(qr, kr, v, pr),
                      .param = NONE,
                      .out = y,
                      .attr = {H, KV, D, 1, 0, 0},
                      .p = 0,
                      .ws_fwd = 0,
                      .ws_bwd = 2 * T * T * 4});
        int o = linear(g, nm("%s.self_attn.o_proj", hb), y, B, T, H * D, C, false, -1);
        x = addt(g, nm("%s.add_1", hb), x, o, B, T, C);
        int b2 = norm(g, true, nm("%s.post_attention_layernorm", hb), x, B, T, C);
        int ga = linear(g, nm("%s.mlp.gate_proj", hb), b2, B, T, C, F, false, -1);
        int up = linear(g, nm("%s.mlp.up_proj", hb), b2, B, T, C, F, false, -1);
        int sw = ACT(nm("%s.mlp.act.out", hb), 3, B, T, F, 0);
        add(g, &(opd){.kind = OP_SWIGLU,
                      .name = nm("%s.mlp.act", hb),
                      .in = LST(ga, up),
                      .extra = NONE,
                      .saved = LST(ga, up),
                      .param = NONE,
                      .out = sw});
        int dn = linear(g, nm("%s.mlp.down_proj", hb), sw, B, T, F, C, false, -1);
        x = addt(g, nm("%s.add_2", hb), x, dn, B, T, C);
    }
    x = norm(g, true, "model.norm", x, B, T, C);
    head_and_loss(g, x, B, T, C, c->V, -1);
    finish(g);
}

static int64_t conv_ws(int64_t Ci, int64_t k, int64_t Ho, int64_t Wo)
{
    return Ci * k * k * Ho * Wo * 4;
}

void tg_cnn(graph *g)
{
    graph_init(g, "tg-cnn");
    enum { B = 2 };
    g->batch = B;
    int img = tt(g, ROLE_INPUT, DT_F32, "image", 4, B, 3, 8, 8);
    int w1 = tt(g, ROLE_PARAM, DT_F32, "conv1.weight", 4, 4, 3, 3, 3);
    int b1 = PAR("conv1.bias", 1, 4, 0);
    int c1 = ACT("conv1.out", 4, B, 4, 8, 8);
    add(g, &(opd){.kind = OP_CONV2D,
                  .name = "conv1",
                  .in = LST(img),
                  .extra = NONE,
                  .saved = LST(img),
                  .param = LST(w1, b1),
                  .out = c1,
                  .attr = {3, 1, 1, 1},
                  .p = 0,
                  .ws_fwd = conv_ws(3, 3, 8, 8),
                  .ws_bwd = 2 * conv_ws(3, 3, 8, 8)});
    int gm = PAR("bn1.weight", 1, 4, 0), bt = PAR("bn1.bias", 1, 4, 0);
    int mu = EXF("bn1.mean", 1, 4, 0, 0, 0), rs = EXF("bn1.rstd", 1, 4, 0, 0, 0);
    int n1 = ACT("bn1.out", 4, B, 4, 8, 8);
    add(g, &(opd){.kind = OP_BATCHNORM,
                  .name = "bn1",
                  .in = LST(c1),
                  .extra = LST(mu, rs),
                  .saved = LST(c1, mu, rs),
                  .param = LST(gm, bt),
                  .out = n1});
    int r1 = ACT("relu1.out", 4, B, 4, 8, 8);
    add(g, &(opd){.kind = OP_RELU,
                  .name = "relu1",
                  .in = LST(n1),
                  .extra = NONE,
                  .saved = LST(r1),
                  .param = NONE,
                  .out = r1});
    int p1 = ACT("pool1.out", 4, B, 4, 4, 4);
    int am = tt(g, ROLE_EXTRA, DT_I32, "pool1.argmax", 4, B, 4, 4, 4);
    add(g, &(opd){.kind = OP_MAXPOOL,
                  .name = "pool1",
                  .in = LST(r1),
                  .extra = LST(am),
                  .saved = LST(am),
                  .param = NONE,
                  .out = p1,
                  .attr = {2, 2}});
    int w2 = tt(g, ROLE_PARAM, DT_F32, "conv2.weight", 4, 4, 4, 3, 3);
    int c2 = ACT("conv2.out", 4, B, 4, 4, 4);
    add(g, &(opd){.kind = OP_CONV2D,
                  .name = "conv2",
                  .in = LST(p1),
                  .extra = NONE,
                  .saved = LST(p1),
                  .param = LST(w2),
                  .out = c2,
                  .attr = {3, 1, 1, 0},
                  .p = 0,
                  .ws_fwd = conv_ws(4, 3, 4, 4),
                  .ws_bwd = 2 * conv_ws(4, 3, 4, 4)});
    int u = ACT("up.out", 4, B, 4, 8, 8);
    add(g, &(opd){.kind = OP_UPSAMPLE,
                  .name = "up",
                  .in = LST(c2),
                  .extra = NONE,
                  .saved = NONE,
                  .param = NONE,
                  .out = u});
    int cat = ACT("cat.out", 4, B, 8, 8, 8);
    add(g, &(opd){.kind = OP_CONCAT,
                  .name = "cat",
                  .in = LST(r1, u),
                  .extra = NONE,
                  .saved = NONE,
                  .param = NONE,
                  .out = cat});
    int w3 = tt(g, ROLE_PARAM, DT_F32, "conv3.weight", 4, 2, 8, 3, 3);
    int b3 = PAR("conv3.bias", 1, 2, 0);
    int c3 = ACT("conv3.out", 4, B, 2, 4, 4);
    add(g, &(opd){.kind = OP_CONV2D,
                  .name = "conv3",
                  .in = LST(cat),
                  .extra = NONE,
                  .saved = LST(cat),
                  .param = LST(w3, b3),
                  .out = c3,
                  .attr = {3, 2, 1, 1},
                  .p = 0,
                  .ws_fwd = conv_ws(8, 3, 4, 4),
                  .ws_bwd = 2 * conv_ws(8, 3, 4, 4)});
    int wf = PAR("fc.weight", 2, 5, 32), bf = PAR("fc.bias", 1, 5, 0);
    int f1 = ACT("fc.out", 2, B, 5, 0, 0);
    add(g, &(opd){.kind = OP_MATMUL,
                  .name = "fc",
                  .in = LST(c3),
                  .extra = NONE,
                  .saved = LST(c3),
                  .param = LST(wf, bf),
                  .out = f1,
                  .attr = {1, 1}});
    int ap = ACT("gap.out", 2, B, 8, 0, 0);
    add(g, &(opd){.kind = OP_AVGPOOL,
                  .name = "gap",
                  .in = LST(cat),
                  .extra = NONE,
                  .saved = NONE,
                  .param = NONE,
                  .out = ap});
    int wg = PAR("fc2.weight", 2, 5, 8);
    int f2 = ACT("fc2.out", 2, B, 5, 0, 0);
    add(g, &(opd){.kind = OP_MATMUL,
                  .name = "fc2",
                  .in = LST(ap),
                  .extra = NONE,
                  .saved = LST(ap),
                  .param = LST(wg),
                  .out = f2,
                  .attr = {0}});
    int lg = ACT("logits.out", 2, B, 5, 0, 0);
    add(g, &(opd){.kind = OP_ADD,
                  .name = "logits",
                  .in = LST(f1, f2),
                  .extra = NONE,
                  .saved = NONE,
                  .param = NONE,
                  .out = lg});
    int tg = tt(g, ROLE_INPUT, DT_I32, "targets", 1, B, 0, 0, 0);
    int loss = tt(g, ROLE_ACT, DT_F32, "loss.out", 1, 1, 0, 0, 0);
    int lse = EXF("loss.lse", 1, B, 0, 0, 0);
    add(g, &(opd){.kind = OP_LOSS,
                  .name = "loss",
                  .in = LST(lg, tg),
                  .extra = LST(lse),
                  .saved = LST(lg, tg, lse),
                  .param = NONE,
                  .out = loss});
    finish(g);
}

/* ---------------------------------------------------------------- schedules */

typedef struct sb {
    const graph *g;
    bool *live;
    schedule *s;
} sb;

static bool dyn(const graph_tensor *t)
{
    return t->role == ROLE_ACT || t->role == ROLE_EXTRA;
}

static void push(sb *b, ins_kind k, int arg, unsigned flags)
{
    assert_int_equal(schedule_push(b->s, k, arg, flags), 0);
}

/* Makes tensor t live, recomputing its producer (after its inputs) if needed. */
static void ensure(sb *b, int t, bool recompute)
{
    const graph *g = b->g;
    if (!dyn(&g->tensors[t]) || b->live[t])
        return;
    const graph_op *o = &g->ops[g->tensors[t].producer];
    for (int k = 0; k < o->n_in; k++)
        ensure(b, o->in[k], recompute);
    if (b->live[o->out]) {
        push(b, INS_FREE, o->out, 0);
        b->live[o->out] = false;
    }
    for (int k = 0; k < o->n_extra; k++)
        if (b->live[o->extra[k]]) {
            push(b, INS_FREE, o->extra[k], 0);
            b->live[o->extra[k]] = false;
        }
    push(b, INS_FWD, g->tensors[t].producer, recompute ? INS_RECOMPUTE : 0);
    b->live[o->out] = true;
    for (int k = 0; k < o->n_extra; k++)
        b->live[o->extra[k]] = true;
}

void tg_checkpoint_schedule(const graph *g, const bool *keep, bool with_opt, schedule *out)
{
    memset(out, 0, sizeof *out);
    sb b = {g, calloc((size_t)g->n_tensors, 1), out};
    int *last_fwd = malloc((size_t)g->n_tensors * sizeof *last_fwd);
    for (int t = 0; t < g->n_tensors; t++)
        last_fwd[t] = g->tensors[t].producer;
    for (int i = 0; i < g->n_ops; i++)
        for (int k = 0; k < g->ops[i].n_in; k++)
            last_fwd[g->ops[i].in[k]] = i;
    for (int i = 0; i < g->n_ops; i++) {
        ensure(&b, g->ops[i].out, false);
        for (int t = 0; t < g->n_tensors; t++)
            if (b.live[t] && last_fwd[t] <= i && !(keep && keep[t])) {
                push(&b, INS_FREE, t, 0);
                b.live[t] = false;
            }
    }
    for (int i = g->n_ops - 1; i >= 0; i--) {
        const graph_op *o = &g->ops[i];
        for (int k = 0; k < o->n_saved; k++)
            ensure(&b, o->saved[k], true);
        push(&b, INS_BWD, i, 0);
        if (i != g->n_ops - 1 && g->tensors[o->out].needs_grad)
            push(&b, INS_FREE_GRAD, o->out, 0);
        for (int t = 0; t < g->n_tensors; t++) {
            if (!b.live[t])
                continue;
            bool needed = false;
            for (int j = 0; j < i && !needed; j++) {
                const graph_op *q = &g->ops[j];
                for (int k = 0; k < q->n_saved; k++)
                    needed = needed || q->saved[k] == t;
                for (int k = 0; k < q->n_in; k++)
                    needed = needed || q->in[k] == t;
            }
            if (!needed) {
                push(&b, INS_FREE, t, 0);
                b.live[t] = false;
            }
        }
    }
    if (with_opt)
        push(&b, INS_OPT, 0, 0);
    free(b.live);
    free(last_fwd);
}

void tg_replay(const graph *g, const schedule *s, int64_t **live_after, int64_t **peak_during)
{
    int64_t *la = calloc((size_t)s->n + 1, sizeof *la), *pd = calloc((size_t)s->n + 1, sizeof *pd);
    bool *glive = calloc((size_t)g->n_tensors, 1);
    int64_t live = 0;
    for (int i = 0; i < s->n; i++) {
        const sched_ins *in = &s->ins[i];
        int64_t peak = live;
        if (in->kind == INS_FWD) {
            const graph_op *o = &g->ops[in->arg];
            live += g->tensors[o->out].bytes;
            for (int k = 0; k < o->n_extra; k++)
                live += g->tensors[o->extra[k]].bytes;
            peak = live + o->ws_fwd;
        } else if (in->kind == INS_BWD) {
            const graph_op *o = &g->ops[in->arg];
            for (int k = 0; k < o->n_in; k++) {
                const graph_tensor *t = &g->tensors[o->in[k]];
                if (t->role == ROLE_ACT && t->needs_grad && !glive[o->in[k]]) {
                    glive[o->in[k]] = true;
                    live += t->bytes;
                }
            }
            peak = live + o->ws_bwd;
        } else if (in->kind == INS_FREE) {
            live -= g->tensors[in->arg].bytes;
        } else if (in->kind == INS_FREE_GRAD) {
            glive[in->arg] = false;
            live -= g->tensors[in->arg].bytes;
        }
        la[i] = live;
        pd[i] = peak > live ? peak : live;
    }
    free(glive);
    *live_after = la;
    *peak_during = pd;
}

int64_t tg_static_bytes(const graph *g, int n_states)
{
    int64_t n = 0;
    for (int i = 0; i < g->n_tensors; i++) {
        const graph_tensor *t = &g->tensors[i];
        if (t->role == ROLE_PARAM)
            n += t->bytes * (t->frozen ? 1 : 2 + n_states);
        else if (t->role == ROLE_INPUT)
            n += t->bytes;
    }
    return n;
}
