/*
 * llm/ops.c: transformer kernels (see ops.h for shapes and conventions).
 *
 * Matmuls and attention products go through OpenBLAS (its threads); elementwise work runs on the
 * calling thread (see ops.h for why). Reductions use `omp simd reduction` so they vectorize at
 * -O2 without -ffast-math.
 */
#include "config.h"

#include "llm/ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * matmul */

void hn_matmul_forward(float *out, const float *inp, const float *weight, size_t N, size_t C,
                       size_t OC)
{
    if (N == 1) {
        /* out (OC) = weight (OC,C) . inp (C) */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)OC, (int)C, 1.0f, weight, (int)C, inp, 1,
                    0.0f, out, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)OC, (int)C, 1.0f, inp,
                (int)C, weight, (int)C, 0.0f, out, (int)OC);
}

void hn_matmul_forward_naive(float *out, const float *inp, const float *weight, size_t N,
                             size_t C, size_t OC)
{
    for (size_t n = 0; n < N; n++) {
        for (size_t o = 0; o < OC; o++) {
            double sum = 0.0;
            for (size_t i = 0; i < C; i++) {
                sum += (double)inp[n * C + i] * weight[o * C + i];
            }
            out[n * OC + o] = (float)sum;
        }
    }
}

void hn_matmul_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                        const float *weight, size_t N, size_t C, size_t OC)
{
    if (dinp != NULL) {
        /* dinp (N,C) += dout (N,OC) . weight (OC,C) */
        if (N == 1) {
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)OC, (int)C, 1.0f, weight, (int)C, dout, 1,
                        1.0f, dinp, 1);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)C, (int)OC, 1.0f,
                        dout, (int)OC, weight, (int)C, 1.0f, dinp, (int)C);
        }
    }
    if (dweight != NULL) {
        /* dweight (OC,C) += dout^T (OC,N) . inp (N,C) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)OC, (int)C, (int)N, 1.0f, dout,
                    (int)OC, inp, (int)C, 1.0f, dweight, (int)C);
    }
}

void hn_matmul_backward_naive(float *dinp, float *dweight, const float *dout, const float *inp,
                              const float *weight, size_t N, size_t C, size_t OC)
{
    for (size_t n = 0; n < N && dinp != NULL; n++) {
        for (size_t i = 0; i < C; i++) {
            double sum = 0.0;
            for (size_t o = 0; o < OC; o++) {
                sum += (double)dout[n * OC + o] * weight[o * C + i];
            }
            dinp[n * C + i] += (float)sum;
        }
    }
    for (size_t o = 0; o < OC && dweight != NULL; o++) {
        for (size_t i = 0; i < C; i++) {
            double sum = 0.0;
            for (size_t n = 0; n < N; n++) {
                sum += (double)dout[n * OC + o] * inp[n * C + i];
            }
            dweight[o * C + i] += (float)sum;
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * RMSNorm: y = x * rstd * w, rstd = (mean(x^2) + eps)^(-1/2).
 * dx_i = rstd * w_i dy_i - rstd^3 / C * x_i * sum_j w_j dy_j x_j;  dw_i = sum_n dy_i x_i rstd. */

void hn_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, size_t N,
                        size_t C, float eps)
{
    for (size_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        float *y = out + n * C;
        float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
        for (size_t i = 0; i < C; i++) {
            ss += x[i] * x[i];
        }
        float r = 1.0f / sqrtf(ss / (float)C + eps);
        for (size_t i = 0; i < C; i++) {
            y[i] = x[i] * r * weight[i];
        }
        if (rstd != NULL) {
            rstd[n] = r;
        }
    }
}

void hn_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                         const float *weight, const float *rstd, size_t N, size_t C)
{
    for (size_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        const float *dy = dout + n * C;
        float *dx = dinp + n * C;
        float r = rstd[n];
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (size_t i = 0; i < C; i++) {
            dot += weight[i] * dy[i] * x[i];
        }
        float k = r * r * r * dot / (float)C;
        for (size_t i = 0; i < C; i++) {
            dx[i] += r * weight[i] * dy[i] - k * x[i];
        }
    }
    /* the weight gradient reduces over rows: one pass, no races */
    for (size_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        const float *dy = dout + n * C;
        float r = rstd[n];
        for (size_t i = 0; i < C; i++) {
            dweight[i] += dy[i] * x[i] * r;
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * RoPE */

void hn_rope_tables(float *cos_table, float *sin_table, size_t max_pos, size_t HD, double theta)
{
    size_t half = HD / 2;
    for (size_t i = 0; i < half; i++) {
        double inv_freq = pow(theta, -(double)(2 * i) / (double)HD);
        for (size_t p = 0; p < max_pos; p++) {
            double angle = (double)p * inv_freq;
            cos_table[p * half + i] = (float)cos(angle);
            sin_table[p * half + i] = (float)sin(angle);
        }
    }
}

static void rope_apply(float *x, const float *cos_table, const float *sin_table, size_t N,
                       size_t T, size_t start, size_t NH, size_t HD, float sign)
{
    size_t half = HD / 2;
    for (size_t n = 0; n < N; n++) {
        size_t pos = start + n % T;
        const float *c = cos_table + pos * half;
        const float *s = sin_table + pos * half;
        for (size_t h = 0; h < NH; h++) {
            float *x1 = x + (n * NH + h) * HD;
            float *x2 = x1 + half;
            for (size_t i = 0; i < half; i++) {
                float a = x1[i], b = x2[i];
                float si = sign * s[i];
                x1[i] = a * c[i] - b * si;
                x2[i] = b * c[i] + a * si;
            }
        }
    }
}

void hn_rope_forward(float *x, const float *cos_table, const float *sin_table, size_t N,
                     size_t T, size_t start, size_t NH, size_t HD)
{
    rope_apply(x, cos_table, sin_table, N, T, start, NH, HD, 1.0f);
}

void hn_rope_backward(float *dx, const float *cos_table, const float *sin_table, size_t N,
                      size_t T, size_t start, size_t NH, size_t HD)
{
    /* the rotation is orthogonal: its transpose is the rotation by -angle */
    rope_apply(dx, cos_table, sin_table, N, T, start, NH, HD, -1.0f);
}

/* ---------------------------------------------------------------------------------------------
 * attention
 *
 * Per batch b and query head h (kv head g = h / (NH/KVH)), with rows strided by NH*HD or KVH*HD:
 *   S (T,T) = scale * Q_h (T,HD) . K_g^T (HD,T);  P = causal softmax(S);  O_h (T,HD) = P . V_g
 * backward: dP = dO_h . V_g^T;  dV_g += P^T . dO_h;  dS = P * (dP - rowsum(dP * P));
 *           dQ_h += scale * dS . K_g;  dK_g += scale * dS^T . Q_h */

static void causal_softmax_rows(float *att, size_t rows, size_t T)
{
    for (size_t r = 0; r < rows; r++) {
        size_t t = r % T;
        float *row = att + r * T;
        float maxv = -INFINITY;
        for (size_t j = 0; j <= t; j++) {
            maxv = fmaxf(maxv, row[j]);
        }
        float sum = 0.0f;
        for (size_t j = 0; j <= t; j++) {
            row[j] = expf(row[j] - maxv);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (size_t j = 0; j <= t; j++) {
            row[j] *= inv;
        }
        for (size_t j = t + 1; j < T; j++) {
            row[j] = 0.0f;
        }
    }
}

void hn_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                          size_t B, size_t T, size_t NH, size_t KVH, size_t HD)
{
    size_t group = NH / KVH;
    float scale = 1.0f / sqrtf((float)HD);
    int ldq = (int)(NH * HD), ldk = (int)(KVH * HD);
    for (size_t b = 0; b < B; b++) {
        for (size_t h = 0; h < NH; h++) {
            size_t g = h / group;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)T, (int)HD, scale,
                        q + b * T * NH * HD + h * HD, ldq, k + b * T * KVH * HD + g * HD, ldk,
                        0.0f, att + (b * NH + h) * T * T, (int)T);
        }
    }
    causal_softmax_rows(att, B * NH * T, T);
    for (size_t b = 0; b < B; b++) {
        for (size_t h = 0; h < NH; h++) {
            size_t g = h / group;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)HD, (int)T, 1.0f,
                        att + (b * NH + h) * T * T, (int)T, v + b * T * KVH * HD + g * HD, ldk,
                        0.0f, out + b * T * NH * HD + h * HD, ldq);
        }
    }
}

void hn_attention_forward_naive(float *out, float *att, const float *q, const float *k,
                                const float *v, size_t B, size_t T, size_t NH, size_t KVH,
                                size_t HD)
{
    size_t group = NH / KVH;
    double scale = 1.0 / sqrt((double)HD);
    for (size_t b = 0; b < B; b++) {
        for (size_t h = 0; h < NH; h++) {
            size_t g = h / group;
            for (size_t t = 0; t < T; t++) {
                const float *qt = q + ((b * T + t) * NH + h) * HD;
                float *row = att + ((b * NH + h) * T + t) * T;
                double maxv = -INFINITY;
                for (size_t j = 0; j <= t; j++) {
                    const float *kj = k + ((b * T + j) * KVH + g) * HD;
                    double s = 0.0;
                    for (size_t i = 0; i < HD; i++) {
                        s += (double)qt[i] * kj[i];
                    }
                    row[j] = (float)(s * scale);
                    maxv = fmax(maxv, row[j]);
                }
                double sum = 0.0;
                for (size_t j = 0; j <= t; j++) {
                    sum += exp(row[j] - maxv);
                }
                for (size_t j = 0; j < T; j++) {
                    row[j] = j <= t ? (float)(exp(row[j] - maxv) / sum) : 0.0f;
                }
                float *ot = out + ((b * T + t) * NH + h) * HD;
                for (size_t i = 0; i < HD; i++) {
                    double o = 0.0;
                    for (size_t j = 0; j <= t; j++) {
                        o += (double)row[j] * v[((b * T + j) * KVH + g) * HD + i];
                    }
                    ot[i] = (float)o;
                }
            }
        }
    }
}

void hn_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
                           const float *q, const float *k, const float *v, const float *att,
                           size_t B, size_t T, size_t NH, size_t KVH, size_t HD)
{
    size_t group = NH / KVH;
    float scale = 1.0f / sqrtf((float)HD);
    int ldq = (int)(NH * HD), ldk = (int)(KVH * HD);
    for (size_t b = 0; b < B; b++) {
        for (size_t h = 0; h < NH; h++) {
            size_t g = h / group;
            const float *P = att + (b * NH + h) * T * T;
            const float *dO = dout + b * T * NH * HD + h * HD;
            /* dP (T,T) = dO_h (T,HD) . V_g^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)T, (int)HD, 1.0f,
                        dO, ldq, v + b * T * KVH * HD + g * HD, ldk, 0.0f,
                        datt + (b * NH + h) * T * T, (int)T);
            /* dV_g (T,HD) += P^T (T,T) . dO_h */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)T, (int)HD, (int)T, 1.0f, P,
                        (int)T, dO, ldq, 1.0f, dv + b * T * KVH * HD + g * HD, ldk);
        }
    }
    /* softmax backward in place: dS = P * (dP - sum_j dP_j P_j), upper triangle stays zero */
    size_t rows = B * NH * T;
    for (size_t r = 0; r < rows; r++) {
        size_t t = r % T;
        const float *P = att + r * T;
        float *d = datt + r * T;
        float dot = 0.0f;
        for (size_t j = 0; j <= t; j++) {
            dot += P[j] * d[j];
        }
        for (size_t j = 0; j <= t; j++) {
            d[j] = P[j] * (d[j] - dot);
        }
        for (size_t j = t + 1; j < T; j++) {
            d[j] = 0.0f;
        }
    }
    for (size_t b = 0; b < B; b++) {
        for (size_t h = 0; h < NH; h++) {
            size_t g = h / group;
            const float *dS = datt + (b * NH + h) * T * T;
            /* dQ_h (T,HD) += scale * dS (T,T) . K_g (T,HD) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)HD, (int)T, scale,
                        dS, (int)T, k + b * T * KVH * HD + g * HD, ldk, 1.0f,
                        dq + b * T * NH * HD + h * HD, ldq);
            /* dK_g (T,HD) += scale * dS^T (T,T) . Q_h (T,HD) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)T, (int)HD, (int)T, scale,
                        dS, (int)T, q + b * T * NH * HD + h * HD, ldq, 1.0f,
                        dk + b * T * KVH * HD + g * HD, ldk);
        }
    }
}

void hn_attention_backward_naive(float *dq, float *dk, float *dv, float *datt, const float *dout,
                                 const float *q, const float *k, const float *v,
                                 const float *att, size_t B, size_t T, size_t NH, size_t KVH,
                                 size_t HD)
{
    size_t group = NH / KVH;
    double scale = 1.0 / sqrt((double)HD);
    for (size_t b = 0; b < B; b++) {
        for (size_t h = 0; h < NH; h++) {
            size_t g = h / group;
            for (size_t t = 0; t < T; t++) {
                const float *P = att + ((b * NH + h) * T + t) * T;
                float *dS = datt + ((b * NH + h) * T + t) * T;
                const float *dO = dout + ((b * T + t) * NH + h) * HD;
                double dot = 0.0;
                for (size_t j = 0; j <= t; j++) {
                    const float *vj = v + ((b * T + j) * KVH + g) * HD;
                    float *dvj = dv + ((b * T + j) * KVH + g) * HD;
                    double dp = 0.0;
                    for (size_t i = 0; i < HD; i++) {
                        dp += (double)dO[i] * vj[i];
                        dvj[i] += P[j] * dO[i];
                    }
                    dS[j] = (float)dp;
                    dot += dp * P[j];
                }
                for (size_t j = 0; j < T; j++) {
                    dS[j] = j <= t ? (float)(P[j] * (dS[j] - dot)) : 0.0f;
                }
                const float *qt = q + ((b * T + t) * NH + h) * HD;
                float *dqt = dq + ((b * T + t) * NH + h) * HD;
                for (size_t j = 0; j <= t; j++) {
                    const float *kj = k + ((b * T + j) * KVH + g) * HD;
                    float *dkj = dk + ((b * T + j) * KVH + g) * HD;
                    for (size_t i = 0; i < HD; i++) {
                        dqt[i] += (float)(scale * dS[j] * kj[i]);
                        dkj[i] += (float)(scale * dS[j] * qt[i]);
                    }
                }
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * SwiGLU: h = silu(g) * u, silu(x) = x s(x), silu'(x) = s(x) (1 + x (1 - s(x))) */

void hn_swiglu_forward(float *out, const float *gate, const float *up, size_t N, size_t F)
{
    size_t n = N * F;
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void hn_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                        const float *up, size_t N, size_t F)
{
    size_t n = N * F;
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        float s = 1.0f / (1.0f + expf(-g));
        dgate[i] += dout[i] * up[i] * s * (1.0f + g * (1.0f - s));
        dup[i] += dout[i] * g * s;
    }
}

/* ---------------------------------------------------------------------------------------------
 * residual, embedding, cross-entropy */

void hn_residual_forward(float *out, const float *a, const float *b, size_t N, size_t C)
{
    size_t n = N * C;
    for (size_t i = 0; i < n; i++) {
        out[i] = a[i] + b[i];
    }
}

void hn_embedding_forward(float *out, const int *tokens, const float *wte, size_t N, size_t C)
{
    for (size_t n = 0; n < N; n++) {
        memcpy(out + n * C, wte + (size_t)tokens[n] * C, C * sizeof(float));
    }
}

void hn_embedding_backward(float *dwte, const float *dout, const int *tokens, size_t N, size_t C)
{
    for (size_t n = 0; n < N; n++) {
        float *d = dwte + (size_t)tokens[n] * C;
        const float *g = dout + n * C;
        for (size_t i = 0; i < C; i++) {
            d[i] += g[i];
        }
    }
}

double hn_crossentropy_forward(float *losses, float *probs, const float *logits,
                               const int *targets, size_t N, size_t V)
{
    double total = 0.0;
    for (size_t n = 0; n < N; n++) {
        const float *z = logits + n * V;
        float *p = probs + n * V;
        float maxv = -INFINITY;
        for (size_t i = 0; i < V; i++) {
            maxv = fmaxf(maxv, z[i]);
        }
        float zt = z[targets[n]]; /* read before p (which may alias z) is written */
        double sum = 0.0;
        for (size_t i = 0; i < V; i++) {
            p[i] = expf(z[i] - maxv);
            sum += p[i];
        }
        /* loss from the log-sum-exp, not from log(p), to keep precision for small p */
        double loss = log(sum) - ((double)zt - maxv);
        float inv = (float)(1.0 / sum);
        for (size_t i = 0; i < V; i++) {
            p[i] *= inv;
        }
        if (losses != NULL) {
            losses[n] = (float)loss;
        }
        total += loss;
    }
    return total / (double)N;
}

void hn_crossentropy_backward(float *dlogits, const float *probs, const int *targets, size_t N,
                              size_t V, float dloss)
{
    for (size_t n = 0; n < N; n++) {
        for (size_t i = 0; i < V; i++) {
            float ind = (int)i == targets[n] ? 1.0f : 0.0f;
            dlogits[n * V + i] = (probs[n * V + i] - ind) * dloss;
        }
    }
}
