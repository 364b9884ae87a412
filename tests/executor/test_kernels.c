/* tests/executor/test_kernels.c — finite-difference gradient checks for every CPU
 * kernel, dropout mask reproducibility, and AdamW against a hand computation.
 *
 * Gradient checks: the scalar L = sum(out * r) (r fixed, N(0,1)) is evaluated in
 * double from the fp32 outputs; the central difference (L(x+h) - L(x-h)) / 2h with
 * h = 1e-3 is compared with the analytic gradient (backward with dout = r) for every
 * element (or a spread sample of 64 for larger tensors):
 * |fd - analytic| <= 2e-3 + 2e-2 * |analytic|. Gradient buffers are pre-filled
 * with 0.25 before the backward and the 0.25 subtracted after, which also checks
 * that every backward accumulates. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "executor/cpu/kernels.h"

#define FD_H 1e-3f
#define FD_ATOL 2e-3
#define FD_RTOL 2e-2
#define PREFILL 0.25f

static float *fnew(int64_t n) { return calloc((size_t)(n > 0 ? n : 1), sizeof(float)); }

static float *frand(int64_t n, uint64_t seed, float scale)
{
    float *p = fnew(n);
    for (int64_t i = 0; i < n; i++)
        p[i] = scale * (float)kernel_normal(seed, (uint64_t)i);
    return p;
}

static float *gnew(int64_t n)
{
    float *p = fnew(n);
    for (int64_t i = 0; i < n; i++)
        p[i] = PREFILL;
    return p;
}

static void gfix(float *p, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        p[i] -= PREFILL;
}

static double wsum(const float *out, const float *r, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)out[i] * (double)r[i];
    return s;
}

/* Compares analytic gradient g of L w.r.t. x (n elements) with central differences
 * of f(). Fails the test with the first element out of tolerance. */
static void fd_check(const char *what, float *x, int64_t n, const float *g, double (*f)(void))
{
    int64_t step = n > 64 ? n / 64 : 1;
    for (int64_t j = 0; j < n; j += step) {
        float old = x[j];
        float xp = old + FD_H, xm = old - FD_H;
        x[j] = xp;
        double lp = f();
        x[j] = xm;
        double lm = f();
        x[j] = old;
        double fd = (lp - lm) / ((double)xp - (double)xm);
        double tol = FD_ATOL + FD_RTOL * fabs((double)g[j]);
        if (!(fabs(fd - (double)g[j]) <= tol)) {
            print_error("%s: element %lld: finite difference %.7g, analytic %.7g\n", what,
                        (long long)j, fd, (double)g[j]);
            fail();
        }
    }
    f(); /* leave outputs consistent with x */
}

/* ---------------------------------------------------------------- embedding */

static struct {
    int32_t tok[6];
    float *wte, *wpe, *out, *r;
} E;
enum { EB = 2, ET = 3, EV = 5, EC = 4 };

static double f_emb(void)
{
    embedding_forward(E.out, E.tok, E.wte, E.wpe, EB, ET, EC);
    return wsum(E.out, E.r, EB * ET * EC);
}

static void test_embedding(void **state)
{
    (void)state;
    int32_t tok[6] = {1, 4, 1, 0, 3, 4}; /* repeated ids: the scatter must accumulate */
    memcpy(E.tok, tok, sizeof tok);
    E.wte = frand(EV * EC, 1, 1);
    E.wpe = frand(ET * EC, 2, 1);
    E.out = fnew(EB * ET * EC);
    E.r = frand(EB * ET * EC, 3, 1);
    float *dwte = gnew(EV * EC), *dwpe = gnew(ET * EC);
    f_emb();
    assert_float_equal(E.out[EC + 2], E.wte[4 * EC + 2] + E.wpe[EC + 2], 0);
    embedding_backward(dwte, dwpe, E.r, E.tok, EB, ET, EC);
    gfix(dwte, EV * EC);
    gfix(dwpe, ET * EC);
    fd_check("embedding dwte", E.wte, EV * EC, dwte, f_emb);
    fd_check("embedding dwpe", E.wpe, ET * EC, dwpe, f_emb);
    /* row 2 of wte is never looked up */
    for (int i = 0; i < EC; i++)
        assert_float_equal(dwte[2 * EC + i], 0.0f, 0);
    free(E.wte); free(E.wpe); free(E.out); free(E.r); free(dwte); free(dwpe);
}

/* ---------------------------------------------------------------- norms */

enum { NN = 3, NC = 8 };
static struct {
    float *x, *w, *b, *out, *mean, *rstd, *r;
} L;

static double f_ln(void)
{
    layernorm_forward(L.out, L.mean, L.rstd, L.x, L.w, L.b, NN, NC, 1e-5f);
    return wsum(L.out, L.r, NN * NC);
}

static double f_rms(void)
{
    rmsnorm_forward(L.out, L.rstd, L.x, L.w, NN, NC, 1e-6f);
    return wsum(L.out, L.r, NN * NC);
}

static void norm_setup(void)
{
    L.x = frand(NN * NC, 10, 1);
    L.w = frand(NC, 11, 0.3f);
    for (int i = 0; i < NC; i++)
        L.w[i] += 1.0f;
    L.b = frand(NC, 12, 0.3f);
    L.out = fnew(NN * NC);
    L.mean = fnew(NN);
    L.rstd = fnew(NN);
    L.r = frand(NN * NC, 13, 1);
}

static void norm_teardown(void)
{
    free(L.x); free(L.w); free(L.b); free(L.out); free(L.mean); free(L.rstd); free(L.r);
}

static void test_layernorm(void **state)
{
    (void)state;
    norm_setup();
    f_ln();
    float *dx = gnew(NN * NC), *dw = gnew(NC), *db = gnew(NC);
    layernorm_backward(dx, dw, db, L.r, L.x, L.w, L.mean, L.rstd, NN, NC);
    gfix(dx, NN * NC); gfix(dw, NC); gfix(db, NC);
    fd_check("layernorm dx", L.x, NN * NC, dx, f_ln);
    fd_check("layernorm dw", L.w, NC, dw, f_ln);
    fd_check("layernorm db", L.b, NC, db, f_ln);
    /* normalised rows: mean 0, variance 1 before the affine part */
    double s = 0;
    for (int i = 0; i < NC; i++)
        s += (L.out[i] - L.b[i]) / L.w[i];
    assert_true(fabs(s) < 1e-4);
    free(dx); free(dw); free(db);
    norm_teardown();
}

static void test_rmsnorm(void **state)
{
    (void)state;
    norm_setup();
    f_rms();
    float *dx = gnew(NN * NC), *dw = gnew(NC);
    rmsnorm_backward(dx, dw, L.r, L.x, L.w, L.rstd, NN, NC);
    gfix(dx, NN * NC); gfix(dw, NC);
    fd_check("rmsnorm dx", L.x, NN * NC, dx, f_rms);
    fd_check("rmsnorm dw", L.w, NC, dw, f_rms);
    free(dx); free(dw);
    norm_teardown();
}

/* ---------------------------------------------------------------- matmul */

enum { MM = 4, MK = 5, MN = 3 };
static struct {
    float *x, *w, *b, *out, *r;
} Mt;

static double f_mm(void)
{
    matmul_forward(Mt.out, Mt.x, Mt.w, Mt.b, MM, MK, MN);
    return wsum(Mt.out, Mt.r, MM * MN);
}

static void test_matmul(void **state)
{
    (void)state;
    Mt.x = frand(MM * MK, 20, 1);
    Mt.w = frand(MN * MK, 21, 1);
    Mt.b = frand(MN, 22, 1);
    Mt.out = fnew(MM * MN);
    Mt.r = frand(MM * MN, 23, 1);
    f_mm();
    double ref = Mt.b[1];
    for (int k = 0; k < MK; k++)
        ref += (double)Mt.x[2 * MK + k] * Mt.w[1 * MK + k];
    assert_true(fabs(ref - Mt.out[2 * MN + 1]) < 1e-5);
    float *dx = gnew(MM * MK), *dw = gnew(MN * MK), *db = gnew(MN);
    matmul_backward(dx, dw, db, Mt.r, Mt.x, Mt.w, MM, MK, MN);
    gfix(dx, MM * MK); gfix(dw, MN * MK); gfix(db, MN);
    fd_check("matmul dx", Mt.x, MM * MK, dx, f_mm);
    fd_check("matmul dw", Mt.w, MN * MK, dw, f_mm);
    fd_check("matmul db", Mt.b, MN, db, f_mm);
    free(dx); free(dw); free(db);
    free(Mt.x); free(Mt.w); free(Mt.b); free(Mt.out); free(Mt.r);
}

/* ---------------------------------------------------------------- attention */

static struct {
    int64_t B, T, H, KV, D, qs, ks;
    bool causal, fused;
    float p;
    float *qkv, *q, *k, *v; /* q/k/v point into qkv when fused */
    float *out, *probs, *dropped, *r;
    uint8_t *mask;
} A;

static double f_att(void)
{
    attention_forward(A.out, A.probs, A.mask, A.dropped, A.q, A.k, A.v, A.B, A.T, A.H, A.KV, A.D,
                      A.qs, A.ks, A.causal, A.p, 77);
    return wsum(A.out, A.r, A.B * A.T * A.H * A.D);
}

static void attention_case(int64_t B, int64_t T, int64_t H, int64_t KV, int64_t D, bool causal,
                           bool fused, float p)
{
    A.B = B; A.T = T; A.H = H; A.KV = KV; A.D = D; A.causal = causal; A.fused = fused; A.p = p;
    int64_t nq = B * T * H * D, nkv = B * T * KV * D, npr = B * H * T * T;
    float *dq, *dk, *dv, *dqkv = NULL;
    if (fused) {
        A.qs = A.ks = (H + 2 * KV) * D;
        A.qkv = frand(B * T * A.qs, 30, 1);
        A.q = A.qkv;
        A.k = A.qkv + H * D;
        A.v = A.qkv + (H + KV) * D;
        dqkv = gnew(B * T * A.qs);
        dq = dqkv;
        dk = dqkv + H * D;
        dv = dqkv + (H + KV) * D;
    } else {
        A.qs = H * D;
        A.ks = KV * D;
        A.qkv = NULL;
        A.q = frand(nq, 31, 1);
        A.k = frand(nkv, 32, 1);
        A.v = frand(nkv, 33, 1);
        dq = gnew(nq);
        dk = gnew(nkv);
        dv = gnew(nkv);
    }
    A.out = fnew(nq);
    A.probs = fnew(npr);
    A.dropped = p > 0 ? fnew(npr) : NULL;
    A.mask = p > 0 ? calloc((size_t)npr, 1) : NULL;
    A.r = frand(nq, 34, 1);
    f_att();
    /* probabilities: rows sum to one, zero above the diagonal when causal */
    for (int64_t row = 0; row < B * H * T; row++) {
        double s = 0;
        for (int64_t j = 0; j < T; j++) {
            s += A.probs[row * T + j];
            if (causal && j > row % T)
                assert_float_equal(A.probs[row * T + j], 0.0f, 0);
        }
        assert_true(fabs(s - 1.0) < 1e-5);
    }
    float *ws = fnew(attention_backward_ws_floats(T));
    attention_backward(dq, dk, dv, ws, A.r, A.q, A.k, A.v, A.probs, A.mask, A.dropped, B, T, H,
                       KV, D, A.qs, A.ks, causal, p);
    if (fused) {
        gfix(dqkv, B * T * A.qs);
        fd_check("attention dqkv", A.qkv, B * T * A.qs, dqkv, f_att);
        free(dqkv);
        free(A.qkv);
    } else {
        gfix(dq, nq); gfix(dk, nkv); gfix(dv, nkv);
        fd_check("attention dq", A.q, nq, dq, f_att);
        fd_check("attention dk", A.k, nkv, dk, f_att);
        fd_check("attention dv", A.v, nkv, dv, f_att);
        free(dq); free(dk); free(dv);
        free(A.q); free(A.k); free(A.v);
    }
    free(ws); free(A.out); free(A.probs); free(A.dropped); free(A.mask); free(A.r);
}

static void test_attention_fused_causal(void **state)
{
    (void)state;
    attention_case(2, 5, 2, 2, 4, true, true, 0.0f);
}

static void test_attention_gqa_dropout(void **state)
{
    (void)state;
    attention_case(1, 5, 4, 2, 4, true, false, 0.3f);
}

static void test_attention_noncausal_mqa(void **state)
{
    (void)state;
    attention_case(2, 4, 2, 1, 3, false, false, 0.0f);
}

static void test_attention_fused_gqa_dropout(void **state)
{
    (void)state;
    attention_case(1, 4, 4, 1, 2, true, true, 0.2f);
}

/* ---------------------------------------------------------------- rope */

enum { RB = 2, RT = 4, RH = 2, RD = 6 };
static struct {
    float *x, *out, *r;
} R;

static double f_rope(void)
{
    rope_forward(R.out, R.x, RB, RT, RH, RD, 10000.0);
    return wsum(R.out, R.r, RB * RT * RH * RD);
}

static void test_rope(void **state)
{
    (void)state;
    int64_t n = RB * RT * RH * RD;
    R.x = frand(n, 40, 1);
    R.out = fnew(n);
    R.r = frand(n, 41, 1);
    f_rope();
    /* position 0 is the identity; position 1, pair 0 rotates by 1 radian */
    for (int i = 0; i < RH * RD; i++)
        assert_float_equal(R.out[i], R.x[i], 1e-7);
    int64_t o = RH * RD; /* b=0, t=1, h=0 */
    float x1 = R.x[o], x2 = R.x[o + RD / 2];
    assert_float_equal(R.out[o], x1 * cosf(1) - x2 * sinf(1), 1e-6);
    assert_float_equal(R.out[o + RD / 2], x2 * cosf(1) + x1 * sinf(1), 1e-6);
    float *dx = gnew(n);
    rope_backward(dx, R.r, RB, RT, RH, RD, 10000.0);
    gfix(dx, n);
    fd_check("rope dx", R.x, n, dx, f_rope);
    free(dx); free(R.x); free(R.out); free(R.r);
}

/* ---------------------------------------------------------------- elementwise */

enum { EN = 24 };
static struct {
    float *a, *b, *out, *r, p;
    uint8_t *mask;
    int which;
} W;

static double f_ew(void)
{
    switch (W.which) {
    case 0: gelu_forward(W.out, W.a, EN); break;
    case 1: swiglu_forward(W.out, W.a, W.b, EN); break;
    case 2: add_forward(W.out, W.a, W.b, EN); break;
    case 3: relu_forward(W.out, W.a, EN); break;
    case 4: dropout_forward(W.out, W.mask, W.a, EN, W.p, 5); break;
    case 5: softmax_forward(W.out, W.a, 4, EN / 4); break;
    case 6: stage_forward(W.out, W.a, W.b, 4, EN / 4); break;
    }
    return wsum(W.out, W.r, EN);
}

static void ew_setup(int which)
{
    W.which = which;
    W.a = frand(EN, 50, 1.5f);
    /* keep ReLU's inputs away from the kink at 0 */
    for (int i = 0; i < EN; i++)
        if (fabsf(W.a[i]) < 0.05f)
            W.a[i] = 0.1f;
    W.b = frand(EN, 51, 1);
    W.out = fnew(EN);
    W.r = frand(EN, 52, 1);
    W.mask = calloc(EN, 1);
    W.p = 0.4f;
}

static void ew_teardown(void)
{
    free(W.a); free(W.b); free(W.out); free(W.r); free(W.mask);
}

static void test_elementwise(void **state)
{
    (void)state;
    static const char *names[] = {"gelu", "swiglu", "add", "relu", "dropout", "softmax",
                                  "stage"};
    for (int which = 0; which < 7; which++) {
        ew_setup(which);
        f_ew();
        float *da = gnew(EN), *db = gnew(EN);
        bool two = false;
        switch (which) {
        case 0: gelu_backward(da, W.r, W.a, EN); break;
        case 1: swiglu_backward(da, db, W.r, W.a, W.b, EN); two = true; break;
        case 2: add_backward(da, db, W.r, EN); two = true; break;
        case 3: relu_backward(da, W.r, W.out, EN); break;
        case 4: dropout_backward(da, W.r, W.mask, EN, W.p); break;
        case 5: softmax_backward(da, W.r, W.out, 4, EN / 4); break;
        case 6: stage_backward(da, db, W.r, W.a, W.out, W.b, 4, EN / 4); two = true; break;
        }
        gfix(da, EN);
        gfix(db, EN);
        char what[64];
        snprintf(what, sizeof what, "%s d(first input)", names[which]);
        fd_check(what, W.a, EN, da, f_ew);
        if (two) {
            snprintf(what, sizeof what, "%s d(second input or weight)", names[which]);
            fd_check(what, W.b, which == 6 ? EN / 4 : EN, db, f_ew);
        }
        free(da);
        free(db);
        ew_teardown();
    }
}

/* ---------------------------------------------------------------- loss */

enum { CN = 3, CV = 6 };
static struct {
    float *logits, loss, *lse;
    int32_t tg[CN];
} X;

static double f_ce(void)
{
    crossentropy_forward(&X.loss, X.lse, X.logits, X.tg, CN, CV);
    return X.loss;
}

static void test_crossentropy(void **state)
{
    (void)state;
    X.logits = frand(CN * CV, 60, 2);
    X.lse = fnew(CN);
    X.tg[0] = 0; X.tg[1] = 5; X.tg[2] = 2;
    f_ce();
    double ref = 0;
    for (int r = 0; r < CN; r++) {
        double s = 0;
        for (int i = 0; i < CV; i++)
            s += exp((double)X.logits[r * CV + i]);
        ref += log(s) - X.logits[r * CV + X.tg[r]];
    }
    assert_true(fabs(ref / CN - X.loss) < 1e-5);
    float *d = gnew(CN * CV);
    crossentropy_backward(d, X.logits, X.tg, X.lse, 1.0f, CN, CV);
    gfix(d, CN * CV);
    fd_check("crossentropy dlogits", X.logits, CN * CV, d, f_ce);
    free(d); free(X.logits); free(X.lse);
}

/* ---------------------------------------------------------------- CNN */

static struct {
    int64_t B, Ci, H, W, Co, k, s, pad, C, HW, Ca, Cb;
    float *x, *x2, *w, *b, *out, *r, *ws, *mean, *rstd;
    int32_t *am;
    int which;
} K;

static int64_t k_out_n(void)
{
    switch (K.which) {
    case 0: {
        int64_t Ho = (K.H + 2 * K.pad - K.k) / K.s + 1, Wo = (K.W + 2 * K.pad - K.k) / K.s + 1;
        return K.B * K.Co * Ho * Wo;
    }
    case 1: return K.B * K.C * K.HW;
    case 2: return K.B * K.C * ((K.H - K.k) / K.s + 1) * ((K.W - K.k) / K.s + 1);
    case 3: return K.B * K.C;
    case 4: return K.B * (K.Ca + K.Cb) * K.HW;
    default: return K.B * K.C * 4 * K.H * K.W;
    }
}

static double f_cnn(void)
{
    switch (K.which) {
    case 0:
        conv2d_forward(K.out, K.ws, K.x, K.w, K.b, K.B, K.Ci, K.H, K.W, K.Co, K.k, K.s, K.pad);
        break;
    case 1: batchnorm_forward(K.out, K.mean, K.rstd, K.x, K.w, K.b, K.B, K.C, K.HW, 1e-5f); break;
    case 2: maxpool_forward(K.out, K.am, K.x, K.B, K.C, K.H, K.W, K.k, K.s); break;
    case 3: avgpool_forward(K.out, K.x, K.B, K.C, K.HW); break;
    case 4: concat_forward(K.out, K.x, K.x2, K.B, K.Ca, K.Cb, K.HW); break;
    case 5: upsample_forward(K.out, K.x, K.B, K.C, K.H, K.W); break;
    }
    return wsum(K.out, K.r, k_out_n());
}

static void test_conv2d(void **state)
{
    (void)state;
    memset(&K, 0, sizeof K);
    K.which = 0;
    K.B = 2; K.Ci = 2; K.H = 5; K.W = 4; K.Co = 3; K.k = 3; K.s = 2; K.pad = 1;
    int64_t nx = K.B * K.Ci * K.H * K.W, nw = K.Co * K.Ci * K.k * K.k;
    K.x = frand(nx, 70, 1);
    K.w = frand(nw, 71, 1);
    K.b = frand(K.Co, 72, 1);
    int64_t no = k_out_n();
    K.out = fnew(no);
    K.r = frand(no, 73, 1);
    K.ws = fnew(conv2d_ws_floats(K.Ci, K.H, K.W, K.k, K.s, K.pad, true));
    f_cnn();
    /* out[b=1, co=2, 0, 0] by hand (padding 1: taps at rows/cols -1..1) */
    double ref = K.b[2];
    for (int c = 0; c < K.Ci; c++)
        for (int ki = 0; ki < 3; ki++)
            for (int kj = 0; kj < 3; kj++) {
                int iy = ki - 1, ix = kj - 1;
                if (iy >= 0 && ix >= 0)
                    ref += (double)K.w[((2 * K.Ci + c) * 3 + ki) * 3 + kj] *
                           K.x[((1 * K.Ci + c) * K.H + iy) * K.W + ix];
            }
    assert_true(fabs(ref - K.out[(1 * K.Co + 2) * (no / (K.B * K.Co))]) < 1e-5);
    float *dx = gnew(nx), *dw = gnew(nw), *db = gnew(K.Co);
    conv2d_backward(dx, dw, db, K.ws, K.r, K.x, K.w, K.B, K.Ci, K.H, K.W, K.Co, K.k, K.s, K.pad);
    gfix(dx, nx); gfix(dw, nw); gfix(db, K.Co);
    fd_check("conv2d dx", K.x, nx, dx, f_cnn);
    fd_check("conv2d dw", K.w, nw, dw, f_cnn);
    fd_check("conv2d db", K.b, K.Co, db, f_cnn);
    free(dx); free(dw); free(db);
    free(K.x); free(K.w); free(K.b); free(K.out); free(K.r); free(K.ws);
}

static void test_cnn_misc(void **state)
{
    (void)state;
    static const char *names[] = {"", "batchnorm", "maxpool", "avgpool", "concat", "upsample"};
    for (int which = 1; which <= 5; which++) {
        memset(&K, 0, sizeof K);
        K.which = which;
        K.B = 2; K.C = 3; K.H = 4; K.W = 4; K.HW = 16; K.k = 2; K.s = 2; K.Ca = 2; K.Cb = 3;
        if (which == 5) {
            K.H = 2;
            K.W = 3;
        }
        int64_t nx = which == 4 ? K.B * K.Ca * K.HW : K.B * K.C * K.H * K.W;
        int64_t nx2 = K.B * K.Cb * K.HW;
        K.x = frand(nx, 80 + which, 1);
        K.x2 = frand(nx2, 90, 1);
        K.w = frand(K.C, 91, 0.3f);
        for (int i = 0; i < K.C; i++)
            K.w[i] += 1;
        K.b = frand(K.C, 92, 0.3f);
        K.mean = fnew(K.C);
        K.rstd = fnew(K.C);
        int64_t no = k_out_n();
        K.out = fnew(no);
        K.am = calloc((size_t)no, sizeof *K.am);
        K.r = frand(no, 93, 1);
        f_cnn();
        float *dx = gnew(nx), *dx2 = gnew(nx2), *dw = gnew(K.C), *db = gnew(K.C);
        switch (which) {
        case 1:
            batchnorm_backward(dx, dw, db, K.r, K.x, K.w, K.mean, K.rstd, K.B, K.C, K.HW);
            break;
        case 2: maxpool_backward(dx, K.r, K.am, K.B, K.C, K.H, K.W, K.k, K.s); break;
        case 3: avgpool_backward(dx, K.r, K.B, K.C, K.HW); break;
        case 4: concat_backward(dx, dx2, K.r, K.B, K.Ca, K.Cb, K.HW); break;
        case 5: upsample_backward(dx, K.r, K.B, K.C, K.H, K.W); break;
        }
        gfix(dx, nx); gfix(dx2, nx2); gfix(dw, K.C); gfix(db, K.C);
        char what[64];
        snprintf(what, sizeof what, "%s dx", names[which]);
        fd_check(what, K.x, nx, dx, f_cnn);
        if (which == 1) {
            fd_check("batchnorm dgamma", K.w, K.C, dw, f_cnn);
            fd_check("batchnorm dbeta", K.b, K.C, db, f_cnn);
        }
        if (which == 4)
            fd_check("concat db", K.x2, nx2, dx2, f_cnn);
        free(dx); free(dx2); free(dw); free(db);
        free(K.x); free(K.x2); free(K.w); free(K.b); free(K.mean); free(K.rstd); free(K.out);
        free(K.am); free(K.r);
    }
}

/* ---------------------------------------------------------------- dropout masks */

static void test_dropout_masks(void **state)
{
    (void)state;
    enum { N = 20000 };
    float *x = frand(N, 100, 1), *o1 = fnew(N), *o2 = fnew(N);
    uint8_t *m1 = malloc(N), *m2 = malloc(N), *m3 = malloc(N);
    dropout_forward(o1, m1, x, N, 0.25f, 42);
    dropout_forward(o2, m2, x, N, 0.25f, 42);
    /* a recomputation reproduces the mask and the output bit for bit */
    assert_memory_equal(m1, m2, N);
    assert_memory_equal(o1, o2, N * sizeof(float));
    /* the mask of element e depends only on (seed, e) */
    for (int i = 0; i < N; i += 997)
        assert_int_equal(m1[i], dropout_keep(42, i, 0.25));
    /* another seed gives another mask; keep rate near 1 - p (5 sigma) */
    dropout_forward(o2, m3, x, N, 0.25f, 43);
    assert_memory_not_equal(m1, m3, N);
    int kept = 0;
    for (int i = 0; i < N; i++) {
        kept += m1[i];
        assert_float_equal(o1[i], m1[i] ? x[i] / 0.75f : 0.0f, 1e-6);
    }
    double sigma = sqrt(N * 0.25 * 0.75);
    assert_true(fabs(kept - 0.75 * N) < 5 * sigma);
    /* attention's mask is the same function of (seed, flat index in [B,H,T,T]) */
    enum { T = 6, D = 2 };
    float q[T * D], kk[T * D], v[T * D], out[T * D], probs[T * T], dropped[T * T];
    uint8_t am[T * T];
    for (int i = 0; i < T * D; i++)
        q[i] = kk[i] = v[i] = (float)i / 10.0f;
    attention_forward(out, probs, am, dropped, q, kk, v, 1, T, 1, 1, D, D, D, true, 0.5f, 9);
    for (int i = 0; i < T * T; i++)
        assert_int_equal(am[i], dropout_keep(9, i, 0.5));
    free(x); free(o1); free(o2); free(m1); free(m2); free(m3);
}

/* ---------------------------------------------------------------- AdamW */

static void test_adamw(void **state)
{
    (void)state;
    adamw_hparams h = {1e-3, 0.9, 0.999, 1e-8, 0.01};
    float p[3] = {1.0f, -2.0f, 0.5f}, m[3] = {0}, v[3] = {0};
    float g1[3] = {0.5f, -0.25f, 0.0f}, g2[3] = {0.1f, 0.3f, -0.2f};
    /* step 1 by hand: m^ = g, v^ = g^2, so the update is lr * g / (|g| + eps):
     * p = 1 * (1 - 1e-5) - 1e-3 * 0.5 / (0.5 + 1e-8) = 0.99899000002 */
    adamw_step(p, m, v, g1, 3, &h, 1);
    assert_true(fabs(p[0] - 0.99899000002) < 1e-7);
    assert_true(fabs(p[1] - (-2.0 * (1 - 1e-5) + 1e-3 * 0.25 / (0.25 + 1e-8))) < 1e-7);
    assert_true(fabs(p[2] - 0.5 * (1 - 1e-5)) < 1e-7); /* zero gradient: decay only */
    /* step 2 against the formulas in double */
    double P[3] = {p[0], p[1], p[2]};
    double Mm[3], Vv[3];
    for (int i = 0; i < 3; i++) {
        Mm[i] = 0.1 * g1[i];
        Vv[i] = 0.001 * (double)g1[i] * g1[i];
    }
    adamw_step(p, m, v, g2, 3, &h, 2);
    for (int i = 0; i < 3; i++) {
        double mi = 0.9 * Mm[i] + 0.1 * g2[i];
        double vi = 0.999 * Vv[i] + 0.001 * (double)g2[i] * g2[i];
        double bc1 = 1 - 0.9 * 0.9, bc2 = 1 - 0.999 * 0.999;
        double ref = P[i] * (1 - 1e-5) - 1e-3 / bc1 * mi / (sqrt(vi) / sqrt(bc2) + 1e-8);
        assert_true(fabs(m[i] - mi) < 1e-7);
        assert_true(fabs(v[i] - vi) < 1e-9);
        assert_true(fabs(p[i] - ref) < 1e-6);
    }
}

/* The kernels' vectorised exp, seen through softmax: softmax([x, 0]) against the
 * double-precision value over [-85, 85] (relative error <= 1e-6), and NaN in, NaN out. */
static void test_exp_accuracy(void **state)
{
    (void)state;
    for (double x = -85.0; x <= 85.0; x += 0.173) {
        float in[2] = {(float)x, 0.0f}, out[2];
        softmax_forward(out, in, 1, 2);
        double ref = 1.0 / (1.0 + exp(-(double)in[0])); /* softmax's first entry */
        double ref2 = 1.0 / (1.0 + exp((double)in[0]));
        assert_true(fabs(out[0] - ref) <= 1e-6 * ref + 1e-37);
        assert_true(fabs(out[1] - ref2) <= 1e-6 * ref2 + 1e-37);
    }
    float in[3] = {1.0f, NAN, 2.0f}, out[3];
    softmax_forward(out, in, 1, 3);
    assert_true(isnan(out[0]) || isnan(out[1]) || isnan(out[2]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_attention_fused_causal),
        cmocka_unit_test(test_attention_gqa_dropout),
        cmocka_unit_test(test_attention_noncausal_mqa),
        cmocka_unit_test(test_attention_fused_gqa_dropout),
        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_crossentropy),
        cmocka_unit_test(test_conv2d),
        cmocka_unit_test(test_cnn_misc),
        cmocka_unit_test(test_dropout_masks),
        cmocka_unit_test(test_adamw),
        cmocka_unit_test(test_exp_accuracy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
