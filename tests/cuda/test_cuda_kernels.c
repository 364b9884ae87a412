/* tests/cuda/test_cuda_kernels.c — every CUDA launcher against its CPU twin
 * (executor/cpu/kernels.h) on the same inputs, in fp32 and in bf16 storage.
 *
 * Tolerance (max-norm relative, cuda_test.h): fp32 1e-5, bf16 2e-2; in bf16 the CPU
 * twin runs in fp32 on the same bf16-rounded inputs. Dropout masks and maxpool argmax
 * must be identical byte for byte. Gradient buffers are pre-filled with 0.25 on
 * both sides, so every backward is also checked to accumulate. Shapes are small and
 * deliberately not multiples of 32. Exits 77 (skip) without a CUDA device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/cuda/cuda_test.h"

static remat_dtype dt_f32 = DT_F32, dt_bf16 = DT_BF16;
#define DT (*(remat_dtype *)*state)
#define PREFILL 0.25f

static void check_buf(const char *what, const void *d, const float *cpu, int64_t n, remat_dtype dt)
{
    float *g = from_dev(d, n, dt);
    double e = maxnorm_rel(g, cpu, n);
    if (!(e <= tol_of(dt))) {
        print_error("%s (%s): max-norm relative error %.3g exceeds %.0e\n", what, dtype_name(dt),
                    e, tol_of(dt));
        free(g);
        fail();
    }
    free(g);
}

static void check_launch(const char *what, int code)
{
    if (code)
        print_error("%s: %s\n", what, cuda_kernels_errstr(code));
    assert_int_equal(code, 0);
    assert_int_equal(cudaDeviceSynchronize(), cudaSuccess);
}

#define LAUNCH(call) check_launch(#call, (call))

static cuda_blas *blas_new(void)
{
    cuda_blas *b = NULL;
    assert_int_equal(cuda_blas_create(&b, 0, NULL, 0), 0);
    return b;
}

/* ---------------------------------------------------------------- embedding */

static void test_embedding(void **state)
{
    remat_dtype dt = DT;
    const int64_t B = 2, T = 5, C = 40, V = 17, maxT = 8, N = B * T * C;
    int32_t tok[10];
    for (int i = 0; i < B * T; i++)
        tok[i] = (int32_t)((i * 7 + 3) % V);
    tok[4] = tok[1]; /* a repeated token accumulates twice */
    float *wte = hrand(V * C, 1, 1.0f, dt), *wpe = hrand(maxT * C, 2, 1.0f, dt);
    float *out = hfill(N, 0);
    embedding_forward(out, tok, wte, wpe, B, T, C);
    void *dtok = dup_raw(tok, sizeof tok), *dwte = dup_dev(wte, V * C, dt),
         *dwpe = dup_dev(wpe, maxT * C, dt), *dout = dup_dev(out, N, dt);
    LAUNCH(embedding_forward_cuda(dout, dtok, dwte, dwpe, B, T, C, dt, 0));
    check_buf("embedding out", dout, out, N, dt);
    float *g = hrand(N, 3, 1.0f, dt), *gte = hfill(V * C, PREFILL), *gpe = hfill(maxT * C, PREFILL);
    void *dg = dup_dev(g, N, dt), *dgte = dup_dev(gte, V * C, dt), *dgpe = dup_dev(gpe, maxT * C, dt);
    embedding_backward(gte, gpe, g, tok, B, T, C);
    LAUNCH(embedding_backward_cuda(dgte, dgpe, dg, dtok, B, T, C, dt, 0));
    check_buf("embedding dwte", dgte, gte, V * C, dt);
    check_buf("embedding dwpe", dgpe, gpe, maxT * C, dt);
    free(wte), free(wpe), free(out), free(g), free(gte), free(gpe);
    cudaFree(dtok), cudaFree(dwte), cudaFree(dwpe), cudaFree(dout), cudaFree(dg), cudaFree(dgte),
        cudaFree(dgpe);
}

/* ---------------------------------------------------------------- norms */

static void test_layernorm(void **state)
{
    remat_dtype dt = DT;
    const int64_t N = 37, C = 80;
    float *x = hrand(N * C, 4, 2.0f, dt), *w = hrand(C, 5, 1.0f, dt), *b = hrand(C, 6, 1.0f, dt);
    float *out = hfill(N * C, 0), *mean = hfill(N, 0), *rstd = hfill(N, 0);
    layernorm_forward(out, mean, rstd, x, w, b, N, C, 1e-5f);
    void *dx = dup_dev(x, N * C, dt), *dw = dup_dev(w, C, dt), *db = dup_dev(b, C, dt);
    void *dout = dup_dev(out, N * C, dt), *dmean = dev_zero((size_t)N * 4), *drstd = dev_zero((size_t)N * 4);
    LAUNCH(layernorm_forward_cuda(dout, dmean, drstd, dx, dw, db, N, C, 1e-5f, dt, 0));
    check_buf("layernorm out", dout, out, N * C, dt);
    check_buf("layernorm mean", dmean, mean, N, DT_F32);
    check_buf("layernorm rstd", drstd, rstd, N, DT_F32);
    float *g = hrand(N * C, 7, 1.0f, dt), *gx = hfill(N * C, PREFILL), *gw = hfill(C, PREFILL),
          *gb = hfill(C, PREFILL);
    void *dg = dup_dev(g, N * C, dt), *dgx = dup_dev(gx, N * C, dt), *dgw = dup_dev(gw, C, dt),
         *dgb = dup_dev(gb, C, dt);
    layernorm_backward(gx, gw, gb, g, x, w, mean, rstd, N, C);
    LAUNCH(layernorm_backward_cuda(dgx, dgw, dgb, dg, dx, dw, dmean, drstd, N, C, dt, 0));
    check_buf("layernorm dinp", dgx, gx, N * C, dt);
    check_buf("layernorm dweight", dgw, gw, C, dt);
    check_buf("layernorm dbias", dgb, gb, C, dt);
    free(x), free(w), free(b), free(out), free(mean), free(rstd), free(g), free(gx), free(gw),
        free(gb);
    cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dout), cudaFree(dmean), cudaFree(drstd),
        cudaFree(dg), cudaFree(dgx), cudaFree(dgw), cudaFree(dgb);
}

static void test_rmsnorm(void **state)
{
    remat_dtype dt = DT;
    const int64_t N = 37, C = 80;
    float *x = hrand(N * C, 8, 2.0f, dt), *w = hrand(C, 9, 1.0f, dt);
    float *out = hfill(N * C, 0), *rstd = hfill(N, 0);
    rmsnorm_forward(out, rstd, x, w, N, C, 1e-6f);
    void *dx = dup_dev(x, N * C, dt), *dw = dup_dev(w, C, dt), *dout = dup_dev(out, N * C, dt),
         *drstd = dev_zero((size_t)N * 4);
    LAUNCH(rmsnorm_forward_cuda(dout, drstd, dx, dw, N, C, 1e-6f, dt, 0));
    check_buf("rmsnorm out", dout, out, N * C, dt);
    check_buf("rmsnorm rstd", drstd, rstd, N, DT_F32);
    float *g = hrand(N * C, 10, 1.0f, dt), *gx = hfill(N * C, PREFILL), *gw = hfill(C, PREFILL);
    void *dg = dup_dev(g, N * C, dt), *dgx = dup_dev(gx, N * C, dt), *dgw = dup_dev(gw, C, dt);
    rmsnorm_backward(gx, gw, g, x, w, rstd, N, C);
    LAUNCH(rmsnorm_backward_cuda(dgx, dgw, dg, dx, dw, drstd, N, C, dt, 0));
    check_buf("rmsnorm dinp", dgx, gx, N * C, dt);
    check_buf("rmsnorm dweight", dgw, gw, C, dt);
    free(x), free(w), free(out), free(rstd), free(g), free(gx), free(gw);
    cudaFree(dx), cudaFree(dw), cudaFree(dout), cudaFree(drstd), cudaFree(dg), cudaFree(dgx),
        cudaFree(dgw);
}

/* ---------------------------------------------------------------- matmul */

static void test_matmul(void **state)
{
    remat_dtype dt = DT;
    const int64_t M = 33, K = 48, N = 40;
    cuda_blas *bl = blas_new();
    float *x = hrand(M * K, 11, 1.0f, dt), *w = hrand(N * K, 12, 0.2f, dt), *b = hrand(N, 13, 1.0f, dt);
    float *out = hfill(M * N, 0);
    matmul_forward(out, x, w, b, M, K, N);
    void *dx = dup_dev(x, M * K, dt), *dw = dup_dev(w, N * K, dt), *db = dup_dev(b, N, dt),
         *dout = dup_dev(out, M * N, dt);
    LAUNCH(matmul_forward_cuda(dout, dx, dw, db, M, K, N, dt, bl));
    check_buf("matmul out (bias)", dout, out, M * N, dt);
    matmul_forward(out, x, w, NULL, M, K, N);
    LAUNCH(matmul_forward_cuda(dout, dx, dw, NULL, M, K, N, dt, bl));
    check_buf("matmul out", dout, out, M * N, dt);
    float *g = hrand(M * N, 14, 1.0f, dt), *gx = hfill(M * K, PREFILL), *gw = hfill(N * K, PREFILL),
          *gb = hfill(N, PREFILL);
    void *dg = dup_dev(g, M * N, dt), *dgx = dup_dev(gx, M * K, dt), *dgw = dup_dev(gw, N * K, dt),
         *dgb = dup_dev(gb, N, dt);
    matmul_backward(gx, gw, gb, g, x, w, M, K, N);
    LAUNCH(matmul_backward_cuda(dgx, dgw, dgb, dg, dx, dw, M, K, N, dt, bl));
    check_buf("matmul dinp", dgx, gx, M * K, dt);
    check_buf("matmul dweight", dgw, gw, N * K, dt);
    check_buf("matmul dbias", dgb, gb, N, dt);
    cuda_blas_destroy(bl);
    free(x), free(w), free(b), free(out), free(g), free(gx), free(gw), free(gb);
    cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dout), cudaFree(dg), cudaFree(dgx),
        cudaFree(dgw), cudaFree(dgb);
}

/* ---------------------------------------------------------------- attention */

/* fused: one qkv buffer [B,T,(H+2KV)*D]; else q [B,T,H*D], k/v [B,T,KV*D]. */
static void attention_case(remat_dtype dt, bool fused, int64_t H, int64_t KV, bool causal, float p)
{
    const int64_t B = 2, T = 9, D = 8;
    cuda_blas *bl = blas_new();
    int64_t qs = fused ? (H + 2 * KV) * D : H * D, kvs = fused ? qs : KV * D;
    int64_t nq = B * T * qs, nk = fused ? 0 : B * T * kvs, no = B * T * H * D, np = B * H * T * T;
    float *q = hrand(nq, 20, 1.0f, dt), *k = fused ? NULL : hrand(nk, 21, 1.0f, dt),
          *v = fused ? NULL : hrand(nk, 22, 1.0f, dt);
    const float *qp = q, *kp = fused ? q + H * D : k, *vp = fused ? q + (H + KV) * D : v;
    float *out = hfill(no, 0), *probs = hfill(np, 0), *dropped = hfill(np, 0);
    uint8_t *mask = calloc((size_t)np, 1);
    attention_forward(out, probs, p > 0 ? mask : NULL, p > 0 ? dropped : NULL, qp, kp, vp, B, T, H,
                      KV, D, qs, kvs, causal, p, 77);
    size_t es = dt == DT_BF16 ? 2 : 4;
    char *dq = dup_dev(q, nq, dt), *dk = fused ? NULL : dup_dev(k, nk, dt),
         *dv = fused ? NULL : dup_dev(v, nk, dt);
    const char *dqp = dq, *dkp = fused ? dq + H * D * es : dk, *dvp = fused ? dq + (H + KV) * D * es : dv;
    void *dout = dev_zero((size_t)no * es), *dprobs = dev_zero((size_t)np * es),
         *ddrop = dev_zero((size_t)np * es), *dmask = dev_zero((size_t)np);
    LAUNCH(attention_forward_cuda(dout, dprobs, p > 0 ? dmask : NULL, p > 0 ? ddrop : NULL, dqp, dkp,
                                  dvp, B, T, H, KV, D, qs, kvs, causal, p, 77, dt, bl));
    check_buf("attention out", dout, out, no, dt);
    check_buf("attention probs", dprobs, probs, np, dt);
    if (p > 0) {
        uint8_t *hm = malloc((size_t)np);
        cudaMemcpy(hm, dmask, (size_t)np, cudaMemcpyDeviceToHost);
        assert_memory_equal(hm, mask, (size_t)np);
        free(hm);
        check_buf("attention dropped", ddrop, dropped, np, dt);
    }
    float *g = hrand(no, 23, 1.0f, dt);
    float *gq = hfill(nq, PREFILL), *gk = fused ? NULL : hfill(nk, PREFILL),
          *gv = fused ? NULL : hfill(nk, PREFILL);
    float *ws = hfill(attention_backward_ws_floats(T), 0);
    attention_backward(gq, fused ? gq + H * D : gk, fused ? gq + (H + KV) * D : gv, ws, g, qp, kp,
                       vp, probs, p > 0 ? mask : NULL, p > 0 ? dropped : NULL, B, T, H, KV, D, qs,
                       kvs, causal, p);
    void *dg = dup_dev(g, no, dt), *dws = dev_zero((size_t)attention_backward_ws_bytes_cuda(T));
    float *pq = hfill(nq, PREFILL), *pk = hfill(nk, PREFILL);
    char *dgq = dup_dev(pq, nq, dt);
    char *dgk = fused ? NULL : dup_dev(pk, nk, dt);
    char *dgv = fused ? NULL : dup_dev(pk, nk, dt);
    free(pq), free(pk);
    LAUNCH(attention_backward_cuda(dgq, fused ? dgq + H * D * es : dgk,
                                   fused ? dgq + (H + KV) * D * es : dgv, dws, dg, dqp, dkp, dvp,
                                   dprobs, p > 0 ? dmask : NULL, p > 0 ? ddrop : NULL, B, T, H, KV,
                                   D, qs, kvs, causal, p, dt, bl));
    check_buf("attention dq (dqkv)", dgq, gq, nq, dt);
    if (!fused) {
        check_buf("attention dk", dgk, gk, nk, dt);
        check_buf("attention dv", dgv, gv, nk, dt);
    }
    cuda_blas_destroy(bl);
    free(q), free(k), free(v), free(out), free(probs), free(dropped), free(mask), free(g), free(gq),
        free(gk), free(gv), free(ws);
    cudaFree(dq), cudaFree(dk), cudaFree(dv), cudaFree(dout), cudaFree(dprobs), cudaFree(ddrop),
        cudaFree(dmask), cudaFree(dg), cudaFree(dws), cudaFree(dgq), cudaFree(dgk), cudaFree(dgv);
}

static void test_attention(void **state)
{
    attention_case(DT, true, 4, 2, true, 0.1f);   /* fused, GQA, causal, dropout */
    attention_case(DT, false, 2, 2, false, 0.0f); /* separate q/k/v, MHA, full */
    attention_case(DT, false, 4, 1, true, 0.0f);  /* MQA */
}

/* ---------------------------------------------------------------- rope */

static void test_rope(void **state)
{
    remat_dtype dt = DT;
    const int64_t B = 2, T = 7, H = 3, D = 8, N = B * T * H * D;
    float *x = hrand(N, 30, 1.0f, dt), *out = hfill(N, 0);
    rope_forward(out, x, B, T, H, D, 10000.0);
    void *dx = dup_dev(x, N, dt), *dout = dup_dev(out, N, dt);
    LAUNCH(rope_forward_cuda(dout, dx, B, T, H, D, 10000.0, dt, 0));
    check_buf("rope out", dout, out, N, dt);
    float *g = hrand(N, 31, 1.0f, dt), *gx = hfill(N, PREFILL);
    void *dg = dup_dev(g, N, dt), *dgx = dup_dev(gx, N, dt);
    rope_backward(gx, g, B, T, H, D, 10000.0);
    LAUNCH(rope_backward_cuda(dgx, dg, B, T, H, D, 10000.0, dt, 0));
    check_buf("rope dinp", dgx, gx, N, dt);
    free(x), free(out), free(g), free(gx);
    cudaFree(dx), cudaFree(dout), cudaFree(dg), cudaFree(dgx);
}

/* ---------------------------------------------------------------- elementwise */

static void test_elementwise(void **state)
{
    remat_dtype dt = DT;
    const int64_t N = 1001, Bs = 7, W = 143; /* stage: [7,143] == 1001 */
    float *a = hrand(N, 40, 1.5f, dt), *b = hrand(N, 41, 1.5f, dt), *w = hrand(W, 42, 1.0f, dt);
    float *g = hrand(N, 43, 1.0f, dt), *out = hfill(N, 0), *ga = hfill(N, PREFILL),
          *gb = hfill(N, PREFILL), *gw = hfill(W, PREFILL);
    void *da = dup_dev(a, N, dt), *db = dup_dev(b, N, dt), *dw = dup_dev(w, W, dt),
         *dg = dup_dev(g, N, dt), *dout = dup_dev(out, N, dt);
    void *dga = dup_dev(ga, N, dt), *dgb = dup_dev(gb, N, dt), *dgw = dup_dev(gw, W, dt);
#define RESET_GRADS()                                                                          \
    do {                                                                                        \
        for (int64_t i = 0; i < N; i++)                                                         \
            ga[i] = gb[i] = PREFILL;                                                            \
        for (int64_t i = 0; i < W; i++)                                                         \
            gw[i] = PREFILL;                                                                    \
        cudaFree(dga), cudaFree(dgb), cudaFree(dgw);                                            \
        dga = dup_dev(ga, N, dt), dgb = dup_dev(gb, N, dt), dgw = dup_dev(gw, W, dt);           \
    } while (0)

    gelu_forward(out, a, N);
    LAUNCH(gelu_forward_cuda(dout, da, N, dt, 0));
    check_buf("gelu out", dout, out, N, dt);
    gelu_backward(ga, g, a, N);
    LAUNCH(gelu_backward_cuda(dga, dg, da, N, dt, 0));
    check_buf("gelu dinp", dga, ga, N, dt);
    RESET_GRADS();

    swiglu_forward(out, a, b, N);
    LAUNCH(swiglu_forward_cuda(dout, da, db, N, dt, 0));
    check_buf("swiglu out", dout, out, N, dt);
    swiglu_backward(ga, gb, g, a, b, N);
    LAUNCH(swiglu_backward_cuda(dga, dgb, dg, da, db, N, dt, 0));
    check_buf("swiglu dgate", dga, ga, N, dt);
    check_buf("swiglu dup", dgb, gb, N, dt);
    RESET_GRADS();

    add_forward(out, a, b, N);
    LAUNCH(add_forward_cuda(dout, da, db, N, dt, 0));
    check_buf("add out", dout, out, N, dt);
    add_backward(ga, gb, g, N);
    LAUNCH(add_backward_cuda(dga, dgb, dg, N, dt, 0));
    check_buf("add da", dga, ga, N, dt);
    check_buf("add db", dgb, gb, N, dt);
    RESET_GRADS();

    relu_forward(out, a, N);
    LAUNCH(relu_forward_cuda(dout, da, N, dt, 0));
    check_buf("relu out", dout, out, N, dt);
    relu_backward(ga, g, out, N);
    LAUNCH(relu_backward_cuda(dga, dg, dout, N, dt, 0));
    check_buf("relu dinp", dga, ga, N, dt);
    RESET_GRADS();

    stage_forward(out, a, w, Bs, W);
    LAUNCH(stage_forward_cuda(dout, da, dw, Bs, W, dt, 0));
    check_buf("stage out", dout, out, N, dt);
    round_to(out, N, dt); /* the backward reads the stored output */
    stage_backward(ga, gw, g, a, out, w, Bs, W);
    LAUNCH(stage_backward_cuda(dga, dgw, dg, da, dout, dw, Bs, W, dt, 0));
    check_buf("stage dinp", dga, ga, N, dt);
    check_buf("stage dw", dgw, gw, W, dt);
    RESET_GRADS();

    softmax_forward(out, a, Bs, W);
    LAUNCH(softmax_forward_cuda(dout, da, Bs, W, dt, 0));
    check_buf("softmax out", dout, out, N, dt);
    round_to(out, N, dt);
    softmax_backward(ga, g, out, Bs, W);
    LAUNCH(softmax_backward_cuda(dga, dg, dout, Bs, W, dt, 0));
    check_buf("softmax dinp", dga, ga, N, dt);
    RESET_GRADS();

    uint8_t *mask = calloc((size_t)N, 1), *hm = calloc((size_t)N, 1);
    void *dmask = dev_zero((size_t)N);
    dropout_forward(out, mask, a, N, 0.3f, 99);
    LAUNCH(dropout_forward_cuda(dout, dmask, da, N, 0.3f, 99, dt, 0));
    cudaMemcpy(hm, dmask, (size_t)N, cudaMemcpyDeviceToHost);
    assert_memory_equal(hm, mask, (size_t)N);
    check_buf("dropout out", dout, out, N, dt);
    dropout_backward(ga, g, mask, N, 0.3f);
    LAUNCH(dropout_backward_cuda(dga, dg, dmask, N, 0.3f, dt, 0));
    check_buf("dropout dinp", dga, ga, N, dt);
#undef RESET_GRADS
    free(a), free(b), free(w), free(g), free(out), free(ga), free(gb), free(gw), free(mask),
        free(hm);
    cudaFree(da), cudaFree(db), cudaFree(dw), cudaFree(dg), cudaFree(dout), cudaFree(dga),
        cudaFree(dgb), cudaFree(dgw), cudaFree(dmask);
}

/* ---------------------------------------------------------------- loss */

static void test_crossentropy(void **state)
{
    remat_dtype dt = DT;
    const int64_t N = 13, V = 300;
    float *x = hrand(N * V, 50, 2.0f, dt), loss = 0, *lse = hfill(N, 0);
    int32_t tg[13];
    for (int i = 0; i < N; i++)
        tg[i] = (int32_t)((i * 37) % V);
    crossentropy_forward(&loss, lse, x, tg, N, V);
    void *dx = dup_dev(x, N * V, dt), *dtg = dup_raw(tg, sizeof tg), *dloss = dev_zero(4),
         *dlse = dev_zero((size_t)N * 4);
    LAUNCH(crossentropy_forward_cuda(dloss, dlse, dx, dtg, N, V, dt, 0));
    check_buf("crossentropy loss", dloss, &loss, 1, DT_F32);
    check_buf("crossentropy lse", dlse, lse, N, DT_F32);
    float *gx = hfill(N * V, PREFILL);
    void *dgx = dup_dev(gx, N * V, dt);
    crossentropy_backward(gx, x, tg, lse, 1.0f, N, V);
    LAUNCH(crossentropy_backward_cuda(dgx, dx, dtg, dlse, 1.0f, N, V, dt, 0));
    check_buf("crossentropy dlogits", dgx, gx, N * V, dt);
    free(x), free(lse), free(gx);
    cudaFree(dx), cudaFree(dtg), cudaFree(dloss), cudaFree(dlse), cudaFree(dgx);
}

/* ---------------------------------------------------------------- CNN */

static void test_conv2d(void **state)
{
    remat_dtype dt = DT;
    const int64_t B = 2, Ci = 3, H = 7, W = 7, Co = 4, k = 3, s = 2, pad = 1;
    const int64_t Ho = (H + 2 * pad - k) / s + 1, Wo = (W + 2 * pad - k) / s + 1;
    const int64_t nx = B * Ci * H * W, nw = Co * Ci * k * k, no = B * Co * Ho * Wo;
    cuda_blas *bl = blas_new();
    float *x = hrand(nx, 60, 1.0f, dt), *w = hrand(nw, 61, 0.3f, dt), *b = hrand(Co, 62, 1.0f, dt);
    float *out = hfill(no, 0);
    float *ws = hfill(conv2d_ws_floats(Ci, H, W, k, s, pad, true), 0);
    conv2d_forward(out, ws, x, w, b, B, Ci, H, W, Co, k, s, pad);
    void *dx = dup_dev(x, nx, dt), *dw = dup_dev(w, nw, dt), *db = dup_dev(b, Co, dt),
         *dout = dup_dev(out, no, dt);
    void *dws = dev_zero((size_t)conv2d_ws_floats(Ci, H, W, k, s, pad, true) * 4);
    LAUNCH(conv2d_forward_cuda(dout, dws, dx, dw, db, B, Ci, H, W, Co, k, s, pad, dt, bl));
    check_buf("conv2d out", dout, out, no, dt);
    float *g = hrand(no, 63, 1.0f, dt), *gx = hfill(nx, PREFILL), *gw = hfill(nw, PREFILL),
          *gb = hfill(Co, PREFILL);
    void *dg = dup_dev(g, no, dt), *dgx = dup_dev(gx, nx, dt), *dgw = dup_dev(gw, nw, dt),
         *dgb = dup_dev(gb, Co, dt);
    conv2d_backward(gx, gw, gb, ws, g, x, w, B, Ci, H, W, Co, k, s, pad);
    LAUNCH(conv2d_backward_cuda(dgx, dgw, dgb, dws, dg, dx, dw, B, Ci, H, W, Co, k, s, pad, dt, bl));
    check_buf("conv2d dinp", dgx, gx, nx, dt);
    check_buf("conv2d dweight", dgw, gw, nw, dt);
    check_buf("conv2d dbias", dgb, gb, Co, dt);
    cuda_blas_destroy(bl);
    free(x), free(w), free(b), free(out), free(ws), free(g), free(gx), free(gw), free(gb);
    cudaFree(dx), cudaFree(dw), cudaFree(db), cudaFree(dout), cudaFree(dws), cudaFree(dg),
        cudaFree(dgx), cudaFree(dgw), cudaFree(dgb);
}

static void test_cnn_ops(void **state)
{
    remat_dtype dt = DT;
    /* batchnorm [3,4,10] */
    const int64_t B = 3, C = 4, HW = 10, n = B * C * HW;
    float *x = hrand(n, 70, 2.0f, dt), *ga = hrand(C, 71, 1.0f, dt), *be = hrand(C, 72, 1.0f, dt);
    float *out = hfill(n, 0), *mean = hfill(C, 0), *rstd = hfill(C, 0);
    batchnorm_forward(out, mean, rstd, x, ga, be, B, C, HW, 1e-5f);
    void *dx = dup_dev(x, n, dt), *dga = dup_dev(ga, C, dt), *dbe = dup_dev(be, C, dt),
         *dout = dup_dev(out, n, dt), *dmean = dev_zero((size_t)C * 4), *drstd = dev_zero((size_t)C * 4);
    LAUNCH(batchnorm_forward_cuda(dout, dmean, drstd, dx, dga, dbe, B, C, HW, 1e-5f, dt, 0));
    check_buf("batchnorm out", dout, out, n, dt);
    check_buf("batchnorm mean", dmean, mean, C, DT_F32);
    check_buf("batchnorm rstd", drstd, rstd, C, DT_F32);
    float *g = hrand(n, 73, 1.0f, dt), *gx = hfill(n, PREFILL), *gg = hfill(C, PREFILL),
          *gbb = hfill(C, PREFILL);
    void *dg = dup_dev(g, n, dt), *dgx = dup_dev(gx, n, dt), *dgg = dup_dev(gg, C, dt),
         *dgbb = dup_dev(gbb, C, dt);
    batchnorm_backward(gx, gg, gbb, g, x, ga, mean, rstd, B, C, HW);
    LAUNCH(batchnorm_backward_cuda(dgx, dgg, dgbb, dg, dx, dga, dmean, drstd, B, C, HW, dt, 0));
    check_buf("batchnorm dinp", dgx, gx, n, dt);
    check_buf("batchnorm dgamma", dgg, gg, C, dt);
    check_buf("batchnorm dbeta", dgbb, gbb, C, dt);

    /* maxpool [2,3,6,6], k 3, s 2 (overlapping windows) */
    const int64_t Bp = 2, Cp = 3, H = 6, W = 6, k = 3, s = 2, Ho = 2, Wo = 2;
    const int64_t np = Bp * Cp * H * W, nq = Bp * Cp * Ho * Wo;
    float *px = hrand(np, 74, 1.0f, dt), *pout = hfill(nq, 0), *pg = hrand(nq, 75, 1.0f, dt),
          *pgx = hfill(np, PREFILL);
    int32_t *am = calloc((size_t)nq, 4), *ham = calloc((size_t)nq, 4);
    maxpool_forward(pout, am, px, Bp, Cp, H, W, k, s);
    void *dpx = dup_dev(px, np, dt), *dpout = dev_zero((size_t)nq * 4), *dam = dev_zero((size_t)nq * 4);
    LAUNCH(maxpool_forward_cuda(dpout, dam, dpx, Bp, Cp, H, W, k, s, dt, 0));
    check_buf("maxpool out", dpout, pout, nq, dt);
    cudaMemcpy(ham, dam, (size_t)nq * 4, cudaMemcpyDeviceToHost);
    assert_memory_equal(ham, am, (size_t)nq * 4);
    void *dpg = dup_dev(pg, nq, dt), *dpgx = dup_dev(pgx, np, dt);
    maxpool_backward(pgx, pg, am, Bp, Cp, H, W, k, s);
    LAUNCH(maxpool_backward_cuda(dpgx, dpg, dam, Bp, Cp, H, W, k, s, dt, 0));
    check_buf("maxpool dinp", dpgx, pgx, np, dt);

    /* avgpool over the maxpool input: [2,3,36] -> [2,3] */
    float *aout = hfill(Bp * Cp, 0), *ag = hrand(Bp * Cp, 76, 1.0f, dt), *agx = hfill(np, PREFILL);
    avgpool_forward(aout, px, Bp, Cp, H * W);
    void *daout = dev_zero((size_t)Bp * Cp * 4), *dag = dup_dev(ag, Bp * Cp, dt),
         *dagx = dup_dev(agx, np, dt);
    LAUNCH(avgpool_forward_cuda(daout, dpx, Bp, Cp, H * W, dt, 0));
    check_buf("avgpool out", daout, aout, Bp * Cp, dt);
    avgpool_backward(agx, ag, Bp, Cp, H * W);
    LAUNCH(avgpool_backward_cuda(dagx, dag, Bp, Cp, H * W, dt, 0));
    check_buf("avgpool dinp", dagx, agx, np, dt);

    /* concat [3,4,10] + [3,2,10] -> [3,6,10]; upsample [2,3,6,6] -> [2,3,12,12] */
    const int64_t Cb = 2, nb = B * Cb * HW, nc = B * (C + Cb) * HW;
    float *cb = hrand(nb, 77, 1.0f, dt), *cout = hfill(nc, 0), *cg = hrand(nc, 78, 1.0f, dt),
          *cga = hfill(n, PREFILL), *cgb = hfill(nb, PREFILL);
    concat_forward(cout, x, cb, B, C, Cb, HW);
    void *dcb = dup_dev(cb, nb, dt), *dcout = dev_zero((size_t)nc * 4), *dcg = dup_dev(cg, nc, dt),
         *dcga = dup_dev(cga, n, dt), *dcgb = dup_dev(cgb, nb, dt);
    LAUNCH(concat_forward_cuda(dcout, dx, dcb, B, C, Cb, HW, dt, 0));
    check_buf("concat out", dcout, cout, nc, dt);
    concat_backward(cga, cgb, cg, B, C, Cb, HW);
    LAUNCH(concat_backward_cuda(dcga, dcgb, dcg, B, C, Cb, HW, dt, 0));
    check_buf("concat da", dcga, cga, n, dt);
    check_buf("concat db", dcgb, cgb, nb, dt);
    float *uout = hfill(4 * np, 0), *ug = hrand(4 * np, 79, 1.0f, dt), *ugx = hfill(np, PREFILL);
    upsample_forward(uout, px, Bp, Cp, H, W);
    void *duout = dev_zero((size_t)4 * np * 4), *dug = dup_dev(ug, 4 * np, dt),
         *dugx = dup_dev(ugx, np, dt);
    LAUNCH(upsample_forward_cuda(duout, dpx, Bp, Cp, H, W, dt, 0));
    check_buf("upsample out", duout, uout, 4 * np, dt);
    upsample_backward(ugx, ug, Bp, Cp, H, W);
    LAUNCH(upsample_backward_cuda(dugx, dug, Bp, Cp, H, W, dt, 0));
    check_buf("upsample dinp", dugx, ugx, np, dt);

    free(x), free(ga), free(be), free(out), free(mean), free(rstd), free(g), free(gx), free(gg),
        free(gbb), free(px), free(pout), free(pg), free(pgx), free(am), free(ham), free(aout),
        free(ag), free(agx), free(cb), free(cout), free(cg), free(cga), free(cgb), free(uout),
        free(ug), free(ugx);
    cudaFree(dx), cudaFree(dga), cudaFree(dbe), cudaFree(dout), cudaFree(dmean), cudaFree(drstd),
        cudaFree(dg), cudaFree(dgx), cudaFree(dgg), cudaFree(dgbb), cudaFree(dpx), cudaFree(dpout),
        cudaFree(dam), cudaFree(dpg), cudaFree(dpgx), cudaFree(daout), cudaFree(dag),
        cudaFree(dagx), cudaFree(dcb), cudaFree(dcout), cudaFree(dcg), cudaFree(dcga),
        cudaFree(dcgb), cudaFree(duout), cudaFree(dug), cudaFree(dugx);
}

/* ---------------------------------------------------------------- optimizer */

/* Three AdamW steps; fp32 directly, bf16 through fp32 master weights (mixed). */
static void test_adamw(void **state)
{
    remat_dtype dt = DT;
    const int64_t n = 257;
    adamw_hparams h = {1e-3, 0.9, 0.999, 1e-8, 0.01};
    float *p = hrand(n, 80, 1.0f, DT_F32), *m = hfill(n, 0), *v = hfill(n, 0);
    void *dp = dup_dev(p, n, dt), *dm = dev_zero((size_t)n * 4), *dv = dev_zero((size_t)n * 4);
    float *dmaster = dt == DT_BF16 ? dup_dev(p, n, DT_F32) : NULL;
    for (int t = 1; t <= 3; t++) {
        float *g = hrand(n, 81 + (uint64_t)t, 1.0f, dt);
        void *dg = dup_dev(g, n, dt);
        adamw_step(p, m, v, g, n, &h, t);
        LAUNCH(adamw_step_cuda(dp, dmaster, dm, dv, dg, n, h.lr, h.beta1, h.beta2, h.eps,
                               h.weight_decay, t, dt, 0));
        free(g);
        cudaFree(dg);
    }
    check_buf("adamw m", dm, m, n, DT_F32);
    check_buf("adamw v", dv, v, n, DT_F32);
    if (dmaster)
        check_buf("adamw master", dmaster, p, n, DT_F32);
    check_buf("adamw param", dp, p, n, dt);
    free(p), free(m), free(v);
    cudaFree(dp), cudaFree(dm), cudaFree(dv), cudaFree(dmaster);
}

#define BOTH(fn) cmocka_unit_test_prestate(fn, &dt_f32), cmocka_unit_test_prestate(fn, &dt_bf16)

int main(void)
{
    if (!cuda_test_have_device()) {
        fprintf(stderr, "no CUDA device: skipping the CUDA kernel tests\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        BOTH(test_embedding),   BOTH(test_layernorm), BOTH(test_rmsnorm),
        BOTH(test_matmul),      BOTH(test_attention), BOTH(test_rope),
        BOTH(test_elementwise), BOTH(test_crossentropy), BOTH(test_conv2d),
        BOTH(test_cnn_ops),     BOTH(test_adamw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
