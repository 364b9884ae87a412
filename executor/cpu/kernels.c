/* executor/cpu/kernels.c — the CPU training kernels (see kernels.h for the
 * contract: llm.c argument order, accumulating backwards, NULL = gradient not
 * needed, caller-provided scratch). Row reductions (means, variances, log-sum-exp)
 * accumulate in double; everything stored is fp32. */
#include "executor/cpu/kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define GELU_SCALING_FACTOR 0.7978845608028654f /* sqrt(2/pi) */

/* exp for fp32 without a libm call, so loops over it vectorise: range reduction
 * x = n ln2 + r (n rounded with the 1.5*2^23 trick), Cephes' expf polynomial for
 * e^r, 2^n from the exponent bits. Relative error about 1e-7 on [-87.3, 88.3];
 * inputs are clamped to that range (below it the result is ~1e-38, not 0; callers
 * pass max-shifted values, so this never matters); NaN stays NaN. */
static inline float vexpf(float in)
{
    float x = in != in ? 0.0f : in; /* NaN: computed on 0, returned as NaN below */
    x = x > 88.3f ? 88.3f : x;
    x = x < -87.3f ? -87.3f : x;
    const float magic = 12582912.0f;
    float n = (x * 1.44269504088896341f + magic) - magic;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return in != in ? in : y * scale;
}

/* tanh from vexpf: 1 - 2/(e^(2u) + 1); absolute error about 1e-7. */
static inline float vtanhf(float u) { return 1.0f - 2.0f / (vexpf(2.0f * u) + 1.0f); }

/* sum of exp(x[i] - shift), fp32 exponentials accumulated in double over eight
 * lanes in a fixed order (deterministic, vectorisable). */
static double sum_exp(const float *x, int64_t n, float shift)
{
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float e[8];
        for (int k = 0; k < 8; k++)
            e[k] = vexpf(x[i + k] - shift);
        for (int k = 0; k < 8; k++)
            acc[k] += e[k];
    }
    double s = 0.0;
    for (; i < n; i++)
        s += vexpf(x[i] - shift);
    for (int k = 0; k < 8; k++)
        s += acc[k];
    return s;
}

double kernel_normal(uint64_t seed, uint64_t counter)
{
    double u1 = kernel_uniform(seed, 2 * counter);
    double u2 = kernel_uniform(seed, 2 * counter + 1);
    if (u1 < 0x1p-60)
        u1 = 0x1p-60;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---------------------------------------------------------------- embedding */

void embedding_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                       int64_t B, int64_t T, int64_t C)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            float *o = out + (b * T + t) * C;
            const float *e = wte + (int64_t)tokens[b * T + t] * C;
            if (wpe) {
                const float *pe = wpe + t * C;
                for (int64_t i = 0; i < C; i++)
                    o[i] = e[i] + pe[i];
            } else {
                memcpy(o, e, (size_t)C * sizeof *o);
            }
        }
}

void embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                        int64_t B, int64_t T, int64_t C)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            const float *d = dout + (b * T + t) * C;
            if (dwte) {
                float *e = dwte + (int64_t)tokens[b * T + t] * C;
                for (int64_t i = 0; i < C; i++)
                    e[i] += d[i];
            }
            if (dwpe) {
                float *pe = dwpe + t * C;
                for (int64_t i = 0; i < C; i++)
                    pe[i] += d[i];
            }
        }
}

/* ---------------------------------------------------------------- normalisation */

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *weight, const float *bias, int64_t N, int64_t C, float eps)
{
    for (int64_t r = 0; r < N; r++) {
        const float *x = inp + r * C;
        double s = 0.0;
        for (int64_t i = 0; i < C; i++)
            s += x[i];
        float m = (float)(s / (double)C);
        double v = 0.0;
        for (int64_t i = 0; i < C; i++) {
            double d = (double)x[i] - (double)m;
            v += d * d;
        }
        float rs = (float)(1.0 / sqrt(v / (double)C + (double)eps));
        float *o = out + r * C;
        for (int64_t i = 0; i < C; i++)
            o[i] = (x[i] - m) * rs * weight[i] + bias[i];
        mean[r] = m;
        rstd[r] = rs;
    }
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int64_t N, int64_t C)
{
    for (int64_t r = 0; r < N; r++) {
        const float *x = inp + r * C, *d = dout + r * C;
        float m = mean[r], rs = rstd[r];
        double dnorm_mean = 0.0, dnorm_norm_mean = 0.0;
        for (int64_t i = 0; i < C; i++) {
            float norm = (x[i] - m) * rs;
            float dnorm = weight[i] * d[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += (double)dnorm * norm;
        }
        float a = (float)(dnorm_mean / (double)C), bb = (float)(dnorm_norm_mean / (double)C);
        for (int64_t i = 0; i < C; i++) {
            float norm = (x[i] - m) * rs;
            if (dbias)
                dbias[i] += d[i];
            if (dweight)
                dweight[i] += norm * d[i];
            if (dinp)
                dinp[r * C + i] += (weight[i] * d[i] - a - norm * bb) * rs;
        }
    }
}

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, int64_t N,
                     int64_t C, float eps)
{
    for (int64_t r = 0; r < N; r++) {
        const float *x = inp + r * C;
        double s = 0.0;
        for (int64_t i = 0; i < C; i++)
            s += (double)x[i] * x[i];
        float rs = (float)(1.0 / sqrt(s / (double)C + (double)eps));
        float *o = out + r * C;
        for (int64_t i = 0; i < C; i++)
            o[i] = x[i] * rs * weight[i];
        rstd[r] = rs;
    }
}

void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                      const float *weight, const float *rstd, int64_t N, int64_t C)
{
    for (int64_t r = 0; r < N; r++) {
        const float *x = inp + r * C, *d = dout + r * C;
        float rs = rstd[r];
        double s = 0.0;
        for (int64_t i = 0; i < C; i++)
            s += (double)d[i] * weight[i] * x[i];
        /* d/dx_i of x_j*rs*w_j: rs*w_i*d_i - x_i * rs^3 * mean(d*w*x) */
        float c = (float)(s / (double)C * (double)rs * rs * rs);
        for (int64_t i = 0; i < C; i++) {
            if (dweight)
                dweight[i] += d[i] * x[i] * rs;
            if (dinp)
                dinp[r * C + i] += rs * weight[i] * d[i] - x[i] * c;
        }
    }
}

/* ---------------------------------------------------------------- matmul */

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int64_t M, int64_t K, int64_t N)
{
    float beta = 0.0f;
    if (bias) {
        for (int64_t r = 0; r < M; r++)
            memcpy(out + r * N, bias, (size_t)N * sizeof *out);
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, inp,
                (int)K, weight, (int)K, beta, out, (int)N);
}

void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int64_t M, int64_t K, int64_t N)
{
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)K, (int)N, 1.0f,
                    dout, (int)N, weight, (int)K, 1.0f, dinp, (int)K);
    if (dweight)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)N, (int)K, (int)M, 1.0f, dout,
                    (int)N, inp, (int)K, 1.0f, dweight, (int)K);
    if (dbias)
        for (int64_t r = 0; r < M; r++) {
            const float *d = dout + r * N;
            for (int64_t n = 0; n < N; n++)
                dbias[n] += d[n];
        }
}

/* ---------------------------------------------------------------- attention */

int64_t attention_backward_ws_floats(int64_t T) { return 2 * T * T; }

void attention_forward(float *out, float *probs, uint8_t *mask, float *dropped, const float *q,
                       const float *k, const float *v, int64_t B, int64_t T, int64_t H,
                       int64_t KV, int64_t D, int64_t q_stride, int64_t kv_stride, bool causal,
                       float p, uint64_t seed)
{
    float scale = 1.0f / sqrtf((float)D);
    int64_t group = H / KV;
    float keep_scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            int64_t g = h / group;
            const float *qh = q + b * T * q_stride + h * D;
            const float *kh = k + b * T * kv_stride + g * D;
            const float *vh = v + b * T * kv_stride + g * D;
            int64_t slice = (b * H + h) * T * T;
            float *P = probs + slice;
            /* scores into probs, then the softmax in place */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)T, (int)D, scale,
                        qh, (int)q_stride, kh, (int)kv_stride, 0.0f, P, (int)T);
            for (int64_t t = 0; t < T; t++) {
                float *row = P + t * T;
                int64_t n = causal ? t + 1 : T;
                float mx = -INFINITY;
                for (int64_t j = 0; j < n; j++)
                    mx = row[j] > mx ? row[j] : mx;
                for (int64_t j = 0; j < n; j++)
                    row[j] = vexpf(row[j] - mx);
                double s = 0.0;
                for (int64_t j = 0; j < n; j++)
                    s += row[j];
                float inv = (float)(1.0 / s);
                for (int64_t j = 0; j < n; j++)
                    row[j] *= inv;
                for (int64_t j = n; j < T; j++)
                    row[j] = 0.0f;
            }
            const float *A = P;
            if (p > 0.0f) {
                uint8_t *M = mask + slice;
                float *Dp = dropped + slice;
                for (int64_t i = 0; i < T * T; i++) {
                    M[i] = dropout_keep(seed, slice + i, p);
                    Dp[i] = M[i] ? P[i] * keep_scale : 0.0f;
                }
                A = Dp;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)D, (int)T, 1.0f,
                        A, (int)T, vh, (int)kv_stride, 0.0f, out + b * T * H * D + h * D,
                        (int)(H * D));
        }
}

void attention_backward(float *dq, float *dk, float *dv, float *ws, const float *dout,
                        const float *q, const float *k, const float *v, const float *probs,
                        const uint8_t *mask, const float *dropped, int64_t B, int64_t T,
                        int64_t H, int64_t KV, int64_t D, int64_t q_stride, int64_t kv_stride,
                        bool causal, float p)
{
    (void)causal; /* probs are 0 above the diagonal, so d(scores) is too */
    float scale = 1.0f / sqrtf((float)D);
    int64_t group = H / KV;
    float keep_scale = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
    float *dA = ws, *dS = ws + T * T;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            int64_t g = h / group;
            int64_t qo = b * T * q_stride + h * D, ko = b * T * kv_stride + g * D;
            const float *doh = dout + b * T * H * D + h * D;
            int64_t slice = (b * H + h) * T * T;
            const float *P = probs + slice;
            const float *A = p > 0.0f ? dropped + slice : P;
            /* d(A) = dout_h @ v^T ; dv += A^T @ dout_h */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)T, (int)D, 1.0f,
                        doh, (int)(H * D), v + ko, (int)kv_stride, 0.0f, dA, (int)T);
            if (dv)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)T, (int)D, (int)T, 1.0f,
                            A, (int)T, doh, (int)(H * D), 1.0f, dv + ko, (int)kv_stride);
            if (p > 0.0f) {
                const uint8_t *M = mask + slice;
                for (int64_t i = 0; i < T * T; i++)
                    dA[i] = M[i] ? dA[i] * keep_scale : 0.0f;
            }
            /* softmax backward: dS = P * (dP - sum_j dP*P) */
            for (int64_t t = 0; t < T; t++) {
                const float *pr = P + t * T, *dpr = dA + t * T;
                double s = 0.0;
                for (int64_t j = 0; j < T; j++)
                    s += (double)dpr[j] * pr[j];
                float fs = (float)s;
                float *dsr = dS + t * T;
                for (int64_t j = 0; j < T; j++)
                    dsr[j] = pr[j] * (dpr[j] - fs);
            }
            if (dq)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)D, (int)T,
                            scale, dS, (int)T, k + ko, (int)kv_stride, 1.0f, dq + qo,
                            (int)q_stride);
            if (dk)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)T, (int)D, (int)T, scale,
                            dS, (int)T, q + qo, (int)q_stride, 1.0f, dk + ko, (int)kv_stride);
        }
}

/* ---------------------------------------------------------------- rope */

static void rope_apply(float *out, const float *inp, int64_t B, int64_t T, int64_t H, int64_t D,
                       double theta, bool inverse, bool accumulate)
{
    int64_t half = D / 2;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t i = 0; i < half; i++) {
                double ang = (double)t * pow(theta, -2.0 * (double)i / (double)D);
                float c = (float)cos(ang), s = (float)sin(ang);
                if (inverse)
                    s = -s;
                for (int64_t h = 0; h < H; h++) {
                    int64_t o = ((b * T + t) * H + h) * D + i;
                    float x1 = inp[o], x2 = inp[o + half];
                    float y1 = x1 * c - x2 * s, y2 = x2 * c + x1 * s;
                    if (accumulate) {
                        out[o] += y1;
                        out[o + half] += y2;
                    } else {
                        out[o] = y1;
                        out[o + half] = y2;
                    }
                }
            }
}

void rope_forward(float *out, const float *inp, int64_t B, int64_t T, int64_t H, int64_t D,
                  double theta)
{
    rope_apply(out, inp, B, T, H, D, theta, false, false);
}

void rope_backward(float *dinp, const float *dout, int64_t B, int64_t T, int64_t H, int64_t D,
                   double theta)
{
    if (dinp)
        rope_apply(dinp, dout, B, T, H, D, theta, true, true);
}

/* ---------------------------------------------------------------- elementwise */

void gelu_forward(float *out, const float *inp, int64_t N)
{
    for (int64_t i = 0; i < N; i++) {
        float x = inp[i];
        float cube = 0.044715f * x * x * x;
        out[i] = 0.5f * x * (1.0f + vtanhf(GELU_SCALING_FACTOR * (x + cube)));
    }
}

void gelu_backward(float *dinp, const float *dout, const float *inp, int64_t N)
{
    if (!dinp)
        return;
    for (int64_t i = 0; i < N; i++) {
        float x = inp[i];
        float cube = 0.044715f * x * x * x;
        float tanh_arg = GELU_SCALING_FACTOR * (x + cube);
        float tanh_out = vtanhf(tanh_arg);
        float sech2 = 1.0f - tanh_out * tanh_out;
        float local = 0.5f * (1.0f + tanh_out) +
                      x * 0.5f * sech2 * GELU_SCALING_FACTOR * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += local * dout[i];
    }
}

static inline float sigmoidf(float x) { return 1.0f / (1.0f + vexpf(-x)); }

void swiglu_forward(float *out, const float *gate, const float *up, int64_t N)
{
    for (int64_t i = 0; i < N; i++) {
        float g = gate[i];
        out[i] = g * sigmoidf(g) * up[i];
    }
}

void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                     const float *up, int64_t N)
{
    for (int64_t i = 0; i < N; i++) {
        float g = gate[i], s = sigmoidf(g);
        if (dgate)
            dgate[i] += dout[i] * up[i] * s * (1.0f + g * (1.0f - s));
        if (dup)
            dup[i] += dout[i] * g * s;
    }
}

void add_forward(float *out, const float *a, const float *b, int64_t N)
{
    for (int64_t i = 0; i < N; i++)
        out[i] = a[i] + b[i];
}

void add_backward(float *da, float *db, const float *dout, int64_t N)
{
    for (int64_t i = 0; i < N; i++) {
        if (da)
            da[i] += dout[i];
        if (db)
            db[i] += dout[i];
    }
}

void relu_forward(float *out, const float *inp, int64_t N)
{
    for (int64_t i = 0; i < N; i++)
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void relu_backward(float *dinp, const float *dout, const float *out, int64_t N)
{
    if (!dinp)
        return;
    for (int64_t i = 0; i < N; i++)
        if (out[i] > 0.0f)
            dinp[i] += dout[i];
}

void stage_forward(float *out, const float *inp, const float *w, int64_t B, int64_t W)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < W; j++)
            out[b * W + j] = tanhf(w[j] * inp[b * W + j]);
}

void stage_backward(float *dinp, float *dw, const float *dout, const float *inp,
                    const float *out, const float *w, int64_t B, int64_t W)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < W; j++) {
            int64_t i = b * W + j;
            float y = out[i];
            float d = dout[i] * (1.0f - y * y);
            if (dinp)
                dinp[i] += d * w[j];
            if (dw)
                dw[j] += d * inp[i];
        }
}

void dropout_forward(float *out, uint8_t *mask, const float *inp, int64_t N, float p,
                     uint64_t seed)
{
    float keep_scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < N; i++) {
        mask[i] = dropout_keep(seed, i, p);
        out[i] = mask[i] ? inp[i] * keep_scale : 0.0f;
    }
}

void dropout_backward(float *dinp, const float *dout, const uint8_t *mask, int64_t N, float p)
{
    if (!dinp)
        return;
    float keep_scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < N; i++)
        if (mask[i])
            dinp[i] += dout[i] * keep_scale;
}

void softmax_forward(float *out, const float *inp, int64_t N, int64_t C)
{
    for (int64_t r = 0; r < N; r++) {
        const float *x = inp + r * C;
        float *y = out + r * C;
        float mx = -INFINITY;
        for (int64_t i = 0; i < C; i++)
            mx = x[i] > mx ? x[i] : mx;
        for (int64_t i = 0; i < C; i++)
            y[i] = vexpf(x[i] - mx);
        double s = 0.0;
        for (int64_t i = 0; i < C; i++)
            s += y[i];
        float inv = (float)(1.0 / s);
        for (int64_t i = 0; i < C; i++)
            y[i] *= inv;
    }
}

void softmax_backward(float *dinp, const float *dout, const float *out, int64_t N, int64_t C)
{
    if (!dinp)
        return;
    for (int64_t r = 0; r < N; r++) {
        const float *y = out + r * C, *d = dout + r * C;
        double s = 0.0;
        for (int64_t i = 0; i < C; i++)
            s += (double)d[i] * y[i];
        float fs = (float)s;
        for (int64_t i = 0; i < C; i++)
            dinp[r * C + i] += y[i] * (d[i] - fs);
    }
}

/* ---------------------------------------------------------------- loss */

void crossentropy_forward(float *loss, float *lse, const float *logits, const int32_t *targets,
                          int64_t N, int64_t V)
{
    double total = 0.0;
    for (int64_t r = 0; r < N; r++) {
        const float *x = logits + r * V;
        float mx = -INFINITY;
        for (int64_t i = 0; i < V; i++)
            mx = x[i] > mx ? x[i] : mx;
        double s = sum_exp(x, V, mx);
        double l = (double)mx + log(s);
        lse[r] = (float)l;
        total += l - (double)x[targets[r]];
    }
    loss[0] = (float)(total / (double)N);
}

void crossentropy_backward(float *dlogits, const float *logits, const int32_t *targets,
                           const float *lse, float dloss, int64_t N, int64_t V)
{
    if (!dlogits)
        return;
    float scale = dloss / (float)N;
    for (int64_t r = 0; r < N; r++) {
        const float *x = logits + r * V;
        float *d = dlogits + r * V;
        float l = lse[r];
        for (int64_t i = 0; i < V; i++)
            d[i] += vexpf(x[i] - l) * scale;
        d[targets[r]] -= scale;
    }
}

/* ---------------------------------------------------------------- CNN */

static int64_t conv_out(int64_t n, int64_t k, int64_t s, int64_t pad)
{
    return (n + 2 * pad - k) / s + 1;
}

int64_t conv2d_ws_floats(int64_t Ci, int64_t H, int64_t W, int64_t k, int64_t s, int64_t pad,
                         bool backward)
{
    int64_t n = Ci * k * k * conv_out(H, k, s, pad) * conv_out(W, k, s, pad);
    return backward ? 2 * n : n;
}

/* col [Ci*k*k, Ho*Wo] from one image x [Ci,H,W]. */
static void im2col(float *col, const float *x, int64_t Ci, int64_t H, int64_t W, int64_t k,
                   int64_t s, int64_t pad, int64_t Ho, int64_t Wo)
{
    for (int64_t c = 0; c < Ci; c++)
        for (int64_t ki = 0; ki < k; ki++)
            for (int64_t kj = 0; kj < k; kj++) {
                float *row = col + ((c * k + ki) * k + kj) * Ho * Wo;
                for (int64_t oy = 0; oy < Ho; oy++) {
                    int64_t iy = oy * s - pad + ki;
                    for (int64_t ox = 0; ox < Wo; ox++) {
                        int64_t ix = ox * s - pad + kj;
                        row[oy * Wo + ox] = (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                                ? x[(c * H + iy) * W + ix]
                                                : 0.0f;
                    }
                }
            }
}

/* dx [Ci,H,W] += scatter of dcol [Ci*k*k, Ho*Wo]. */
static void col2im_add(float *dx, const float *dcol, int64_t Ci, int64_t H, int64_t W, int64_t k,
                       int64_t s, int64_t pad, int64_t Ho, int64_t Wo)
{
    for (int64_t c = 0; c < Ci; c++)
        for (int64_t ki = 0; ki < k; ki++)
            for (int64_t kj = 0; kj < k; kj++) {
                const float *row = dcol + ((c * k + ki) * k + kj) * Ho * Wo;
                for (int64_t oy = 0; oy < Ho; oy++) {
                    int64_t iy = oy * s - pad + ki;
                    if (iy < 0 || iy >= H)
                        continue;
                    for (int64_t ox = 0; ox < Wo; ox++) {
                        int64_t ix = ox * s - pad + kj;
                        if (ix >= 0 && ix < W)
                            dx[(c * H + iy) * W + ix] += row[oy * Wo + ox];
                    }
                }
            }
}

void conv2d_forward(float *out, float *ws, const float *inp, const float *weight,
                    const float *bias, int64_t B, int64_t Ci, int64_t H, int64_t W, int64_t Co,
                    int64_t k, int64_t s, int64_t pad)
{
    int64_t Ho = conv_out(H, k, s, pad), Wo = conv_out(W, k, s, pad), HWo = Ho * Wo;
    int64_t K = Ci * k * k;
    for (int64_t b = 0; b < B; b++) {
        float *o = out + b * Co * HWo;
        im2col(ws, inp + b * Ci * H * W, Ci, H, W, k, s, pad, Ho, Wo);
        float beta = 0.0f;
        if (bias) {
            for (int64_t c = 0; c < Co; c++)
                for (int64_t i = 0; i < HWo; i++)
                    o[c * HWo + i] = bias[c];
            beta = 1.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Co, (int)HWo, (int)K, 1.0f,
                    weight, (int)K, ws, (int)HWo, beta, o, (int)HWo);
    }
}

void conv2d_backward(float *dinp, float *dweight, float *dbias, float *ws, const float *dout,
                     const float *inp, const float *weight, int64_t B, int64_t Ci, int64_t H,
                     int64_t W, int64_t Co, int64_t k, int64_t s, int64_t pad)
{
    int64_t Ho = conv_out(H, k, s, pad), Wo = conv_out(W, k, s, pad), HWo = Ho * Wo;
    int64_t K = Ci * k * k;
    float *col = ws, *dcol = ws + K * HWo;
    for (int64_t b = 0; b < B; b++) {
        const float *d = dout + b * Co * HWo;
        if (dweight) {
            im2col(col, inp + b * Ci * H * W, Ci, H, W, k, s, pad, Ho, Wo);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Co, (int)K, (int)HWo, 1.0f,
                        d, (int)HWo, col, (int)HWo, 1.0f, dweight, (int)K);
        }
        if (dbias)
            for (int64_t c = 0; c < Co; c++) {
                double acc = 0.0;
                for (int64_t i = 0; i < HWo; i++)
                    acc += d[c * HWo + i];
                dbias[c] += (float)acc;
            }
        if (dinp) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)HWo, (int)Co, 1.0f,
                        weight, (int)K, d, (int)HWo, 0.0f, dcol, (int)HWo);
            col2im_add(dinp + b * Ci * H * W, dcol, Ci, H, W, k, s, pad, Ho, Wo);
        }
    }
}

void batchnorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *gamma, const float *beta, int64_t B, int64_t C, int64_t HW,
                       float eps)
{
    double n = (double)(B * HW);
    for (int64_t c = 0; c < C; c++) {
        double s = 0.0;
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < HW; i++)
                s += inp[(b * C + c) * HW + i];
        float m = (float)(s / n);
        double v = 0.0;
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < HW; i++) {
                double d = (double)inp[(b * C + c) * HW + i] - m;
                v += d * d;
            }
        float rs = (float)(1.0 / sqrt(v / n + (double)eps));
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < HW; i++) {
                int64_t o = (b * C + c) * HW + i;
                out[o] = (inp[o] - m) * rs * gamma[c] + beta[c];
            }
        mean[c] = m;
        rstd[c] = rs;
    }
}

void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *gamma, const float *mean,
                        const float *rstd, int64_t B, int64_t C, int64_t HW)
{
    double n = (double)(B * HW);
    for (int64_t c = 0; c < C; c++) {
        float m = mean[c], rs = rstd[c];
        double sd = 0.0, sdx = 0.0;
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < HW; i++) {
                int64_t o = (b * C + c) * HW + i;
                float xh = (inp[o] - m) * rs;
                sd += dout[o];
                sdx += (double)dout[o] * xh;
            }
        if (dgamma)
            dgamma[c] += (float)sdx;
        if (dbeta)
            dbeta[c] += (float)sd;
        if (!dinp)
            continue;
        float a = (float)(sd / n), bb = (float)(sdx / n), gr = gamma[c] * rs;
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < HW; i++) {
                int64_t o = (b * C + c) * HW + i;
                float xh = (inp[o] - m) * rs;
                dinp[o] += gr * (dout[o] - a - xh * bb);
            }
    }
}

void maxpool_forward(float *out, int32_t *argmax, const float *inp, int64_t B, int64_t C,
                     int64_t H, int64_t W, int64_t k, int64_t s)
{
    int64_t Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
    for (int64_t bc = 0; bc < B * C; bc++) {
        const float *x = inp + bc * H * W;
        for (int64_t oy = 0; oy < Ho; oy++)
            for (int64_t ox = 0; ox < Wo; ox++) {
                int64_t best = (oy * s) * W + ox * s;
                for (int64_t ki = 0; ki < k; ki++)
                    for (int64_t kj = 0; kj < k; kj++) {
                        int64_t idx = (oy * s + ki) * W + ox * s + kj;
                        if (x[idx] > x[best])
                            best = idx;
                    }
                int64_t o = bc * Ho * Wo + oy * Wo + ox;
                out[o] = x[best];
                argmax[o] = (int32_t)best;
            }
    }
}

void maxpool_backward(float *dinp, const float *dout, const int32_t *argmax, int64_t B,
                      int64_t C, int64_t H, int64_t W, int64_t k, int64_t s)
{
    if (!dinp)
        return;
    int64_t Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
    for (int64_t bc = 0; bc < B * C; bc++)
        for (int64_t i = 0; i < Ho * Wo; i++)
            dinp[bc * H * W + argmax[bc * Ho * Wo + i]] += dout[bc * Ho * Wo + i];
}

void avgpool_forward(float *out, const float *inp, int64_t B, int64_t C, int64_t HW)
{
    for (int64_t bc = 0; bc < B * C; bc++) {
        double s = 0.0;
        for (int64_t i = 0; i < HW; i++)
            s += inp[bc * HW + i];
        out[bc] = (float)(s / (double)HW);
    }
}

void avgpool_backward(float *dinp, const float *dout, int64_t B, int64_t C, int64_t HW)
{
    if (!dinp)
        return;
    for (int64_t bc = 0; bc < B * C; bc++) {
        float d = dout[bc] / (float)HW;
        for (int64_t i = 0; i < HW; i++)
            dinp[bc * HW + i] += d;
    }
}

void concat_forward(float *out, const float *a, const float *b, int64_t B, int64_t Ca,
                    int64_t Cb, int64_t HW)
{
    for (int64_t n = 0; n < B; n++) {
        memcpy(out + n * (Ca + Cb) * HW, a + n * Ca * HW, (size_t)(Ca * HW) * sizeof *out);
        memcpy(out + (n * (Ca + Cb) + Ca) * HW, b + n * Cb * HW, (size_t)(Cb * HW) * sizeof *out);
    }
}

void concat_backward(float *da, float *db, const float *dout, int64_t B, int64_t Ca, int64_t Cb,
                     int64_t HW)
{
    for (int64_t n = 0; n < B; n++) {
        const float *d = dout + n * (Ca + Cb) * HW;
        if (da)
            for (int64_t i = 0; i < Ca * HW; i++)
                da[n * Ca * HW + i] += d[i];
        if (db)
            for (int64_t i = 0; i < Cb * HW; i++)
                db[n * Cb * HW + i] += d[Ca * HW + i];
    }
}

void upsample_forward(float *out, const float *inp, int64_t B, int64_t C, int64_t H, int64_t W)
{
    for (int64_t bc = 0; bc < B * C; bc++)
        for (int64_t y = 0; y < 2 * H; y++)
            for (int64_t x = 0; x < 2 * W; x++)
                out[(bc * 2 * H + y) * 2 * W + x] = inp[(bc * H + y / 2) * W + x / 2];
}

void upsample_backward(float *dinp, const float *dout, int64_t B, int64_t C, int64_t H,
                       int64_t W)
{
    if (!dinp)
        return;
    for (int64_t bc = 0; bc < B * C; bc++)
        for (int64_t y = 0; y < 2 * H; y++)
            for (int64_t x = 0; x < 2 * W; x++)
                dinp[(bc * H + y / 2) * W + x / 2] += dout[(bc * 2 * H + y) * 2 * W + x];
}

/* ---------------------------------------------------------------- optimizer */

void adamw_step(float *param, float *m, float *v, const float *grad, int64_t n,
                const adamw_hparams *h, int64_t t)
{
    double bc1 = 1.0 - pow(h->beta1, (double)t);
    double bc2 = 1.0 - pow(h->beta2, (double)t);
    float decay = (float)(1.0 - h->lr * h->weight_decay);
    float step_size = (float)(h->lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float w1 = (float)(1.0 - h->beta1), w2 = (float)(1.0 - h->beta2);
    float beta2 = (float)h->beta2, eps = (float)h->eps;
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i];
        float p = param[i] * decay;
        float mi = m[i] + w1 * (g - m[i]);
        float vi = v[i] * beta2 + w2 * g * g;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        param[i] = p - step_size * (mi / denom);
        m[i] = mi;
        v[i] = vi;
    }
}
