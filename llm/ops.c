/*
 * llm/ops.c: transformer kernels (see ops.h for shapes and conventions).
 *
 * Matmuls and attention products go through OpenBLAS; with hn_ops_set_threads(n > 1) every
 * kernel shares its work over one OpenMP pool (see ops.h for why). Reductions use `omp simd
 * reduction` so they vectorize at -O2 without -ffast-math.
 */
#include "config.h"

#include "hilnas/llm/ops.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---------------------------------------------------------------------------------------------
 * threading: one pool (OpenMP). With ops_threads > 1, OpenBLAS runs on one thread and the kernels
 * split their work (matmul rows, attention heads, elementwise rows) over ops_threads OpenMP
 * threads, each calling single-threaded BLAS; two pools never spin against each other. */

/* One setting per calling thread, as OpenMP's own thread count (omp_set_num_threads) is: a
 * thread that runs kernels (the CLI's, or each worker of a threads executor evaluating a trial)
 * sets its count with hn_llm_set_threads and no other thread's setting changes it. Inside the
 * kernels' own parallel regions it reads 1, so nothing nests. libhilnas-llm is one shared
 * library: the CLI and every plugin read this same variable. */
static _Thread_local int ops_threads = 1;

void hn_ops_set_threads(int n)
{
    ops_threads = n > 1 ? n : 1;
}

int hn_ops_threads(void)
{
    return ops_threads;
}

static int threads_for(double work)
{
    return ops_threads > 1 && work >= HN_OPS_PAR_MIN_WORK ? ops_threads : 1;
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int thread_count(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

void hn_ops_share(size_t n, size_t align, int t, int nt, size_t *lo, size_t *hi)
{
    size_t blocks = (n + align - 1) / align;
    size_t b0 = blocks * (size_t)t / (size_t)nt, b1 = blocks * (size_t)(t + 1) / (size_t)nt;
    *lo = b0 * align < n ? b0 * align : n;
    *hi = b1 * align < n ? b1 * align : n;
}

/* ---------------------------------------------------------------------------------------------
 * matmul */

void hn_matmul_forward(float *out, const float *inp, const float *weight, size_t N, size_t C,
                       size_t OC)
{
    /* a matrix-vector product (decode) is memory-bound: it pays to share once the weight is
     * large enough that streaming it costs more than waking the other threads (a few us) */
    int nt = N == 1 ? (C * OC >= HN_OPS_GEMV_PAR_MIN ? threads_for(HN_OPS_GEMV_PAR_MIN) : 1)
                    : threads_for((double)N * C * OC);
    if (N == 1) {
        /* out (OC) = weight (OC,C) . inp (C) */
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            size_t lo, hi;
            hn_ops_share(OC, 16, thread_id(), thread_count(), &lo, &hi);
            if (hi > lo) {
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)(hi - lo), (int)C, 1.0f,
                            weight + lo * C, (int)C, inp, 1, 0.0f, out + lo, 1);
            }
        }
        return;
    }
    /* rows split over the threads */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        hn_ops_share(N, 16, thread_id(), thread_count(), &lo, &hi);
        if (hi > lo) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(hi - lo), (int)OC, (int)C,
                        1.0f, inp + lo * C, (int)C, weight, (int)C, 0.0f, out + lo * OC, (int)OC);
        }
    }
}

void hn_matmul_forward_naive(float *out, const float *inp, const float *weight, size_t N, size_t C,
                             size_t OC)
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
    int nt = N == 1 ? 1 : threads_for((double)N * C * OC);
    /* each thread takes a block of dinp rows and a block of dweight rows: no shared output */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = thread_id(), tn = thread_count();
        size_t lo, hi;
        if (dinp != NULL) {
            /* dinp (N,C) += dout (N,OC) . weight (OC,C) */
            if (N == 1) {
                hn_ops_share(C, 16, t, tn, &lo, &hi);
                if (hi > lo) {
                    cblas_sgemv(CblasRowMajor, CblasTrans, (int)OC, (int)(hi - lo), 1.0f,
                                weight + lo, (int)C, dout, 1, 1.0f, dinp + lo, 1);
                }
            } else {
                hn_ops_share(N, 16, t, tn, &lo, &hi);
                if (hi > lo) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(hi - lo), (int)C,
                                (int)OC, 1.0f, dout + lo * OC, (int)OC, weight, (int)C, 1.0f,
                                dinp + lo * C, (int)C);
                }
            }
        }
        if (dweight != NULL) {
            /* dweight (OC,C) += dout^T (OC,N) . inp (N,C), rows of dweight split */
            hn_ops_share(OC, 16, t, tn, &lo, &hi);
            if (hi > lo) {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(hi - lo), (int)C, (int)N,
                            1.0f, dout + lo, (int)OC, inp, (int)C, 1.0f, dweight + lo * C, (int)C);
            }
        }
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
    int nt = threads_for((double)N * C);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
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
    int nt = threads_for((double)N * C);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
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
    /* the weight gradient reduces over rows: each thread owns a block of columns, no races */
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        hn_ops_share(C, 16, thread_id(), thread_count(), &lo, &hi);
        for (size_t n = 0; n < N; n++) {
            const float *x = inp + n * C;
            const float *dy = dout + n * C;
            float r = rstd[n];
            for (size_t i = lo; i < hi; i++) {
                dweight[i] += dy[i] * x[i] * r;
            }
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

static void rope_apply(float *x, const float *cos_table, const float *sin_table, size_t N, size_t T,
                       size_t start, size_t NH, size_t HD, float sign)
{
    size_t half = HD / 2;
    int nt = threads_for((double)N * NH * HD);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
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

void hn_rope_forward(float *x, const float *cos_table, const float *sin_table, size_t N, size_t T,
                     size_t start, size_t NH, size_t HD)
{
    rope_apply(x, cos_table, sin_table, N, T, start, NH, HD, 1.0f);
}

void hn_rope_backward(float *dx, const float *cos_table, const float *sin_table, size_t N, size_t T,
                      size_t start, size_t NH, size_t HD)
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

/* rows of a causal score tile: blocks of ATT_TILE query rows see keys up to their last row only,
 * so the products skip (most of) the masked upper triangle */
#define ATT_TILE 64

void hn_causal_softmax_row(float *row, size_t last, size_t len)
{
    float maxv = -INFINITY;
    for (size_t j = 0; j <= last; j++) {
        maxv = row[j] > maxv ? row[j] : maxv;
    }
    float sum = 0.0f;
    for (size_t j = 0; j <= last; j++) {
        row[j] = expf(row[j] - maxv);
        sum += row[j];
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (size_t j = 0; j <= last; j++) {
        row[j] *= inv;
    }
    if (last + 1 < len) {
        memset(row + last + 1, 0, (len - last - 1) * sizeof(float));
    }
}

/*
 * One query head over its key/value head: S = scale Q K^T (causal), P = softmax(S), O = P V.
 * q, out rows strided by ldq, k, v by ldk; P (T,T) dense with the upper triangle zero. Query rows
 * [r0, r1) see keys [0, r1) in the products; the softmax masks the rest of the tile.
 */
static void attention_head_forward(float *out, float *P, const float *q, const float *k,
                                   const float *v, size_t T, size_t HD, int ldq, int ldk,
                                   float scale)
{
    for (size_t r0 = 0; r0 < T; r0 += ATT_TILE) {
        size_t r1 = r0 + ATT_TILE < T ? r0 + ATT_TILE : T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(r1 - r0), (int)r1, (int)HD,
                    scale, q + r0 * (size_t)ldq, ldq, k, ldk, 0.0f, P + r0 * T, (int)T);
        for (size_t t = r0; t < r1; t++) {
            hn_causal_softmax_row(P + t * T, t, T);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(r1 - r0), (int)HD, (int)r1,
                    1.0f, P + r0 * T, (int)T, v, ldk, 0.0f, out + r0 * (size_t)ldq, ldq);
    }
}

void hn_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                          size_t B, size_t T, size_t NH, size_t KVH, size_t HD)
{
    size_t group = NH / KVH;
    float scale = 1.0f / sqrtf((float)HD);
    int ldq = (int)(NH * HD), ldk = (int)(KVH * HD);
    long pairs = (long)(B * NH);
    int nt = threads_for((double)B * NH * T * T * HD);
    /* (batch, head) pairs split over the threads; each writes only its own out columns and P */
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (long bh = 0; bh < pairs; bh++) {
        size_t b = (size_t)bh / NH, h = (size_t)bh % NH, g = h / group;
        attention_head_forward(out + b * T * NH * HD + h * HD, att + (size_t)bh * T * T,
                               q + b * T * NH * HD + h * HD, k + b * T * KVH * HD + g * HD,
                               v + b * T * KVH * HD + g * HD, T, HD, ldq, ldk, scale);
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

/* Backward of attention_head_forward for one query head; dS (T,T) scratch; dk, dv +=. */
static void attention_head_backward(float *dq, float *dk, float *dv, float *dS, const float *dO,
                                    const float *q, const float *k, const float *v, const float *P,
                                    size_t T, size_t HD, int ldq, int ldk, float scale)
{
    for (size_t r0 = 0; r0 < T; r0 += ATT_TILE) {
        size_t r1 = r0 + ATT_TILE < T ? r0 + ATT_TILE : T;
        int m = (int)(r1 - r0), keys = (int)r1;
        const float *dOt = dO + r0 * (size_t)ldq, *Pt = P + r0 * T;
        float *dSt = dS + r0 * T;
        /* dP (m, keys) = dO_rows (m,HD) . V^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, keys, (int)HD, 1.0f, dOt, ldq, v,
                    ldk, 0.0f, dSt, (int)T);
        /* dV (keys,HD) += P_rows^T (keys,m) . dO_rows */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, keys, (int)HD, m, 1.0f, Pt, (int)T,
                    dOt, ldq, 1.0f, dv, ldk);
        /* softmax backward in place: dS = P * (dP - sum_j dP_j P_j); masked entries zero */
        for (size_t t = r0; t < r1; t++) {
            const float *p = P + t * T;
            float *d = dS + t * T;
            float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (size_t j = 0; j <= t; j++) {
                dot += p[j] * d[j];
            }
#pragma omp simd
            for (size_t j = 0; j <= t; j++) {
                d[j] = p[j] * (d[j] - dot);
            }
            for (size_t j = t + 1; j < r1; j++) {
                d[j] = 0.0f;
            }
        }
        /* dQ_rows (m,HD) += scale dS_rows (m,keys) . K (keys,HD) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, (int)HD, keys, scale, dSt, (int)T,
                    k, ldk, 1.0f, dq + r0 * (size_t)ldq, ldq);
        /* dK (keys,HD) += scale dS_rows^T (keys,m) . Q_rows (m,HD) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, keys, (int)HD, m, scale, dSt, (int)T,
                    q + r0 * (size_t)ldq, ldq, 1.0f, dk, ldk);
    }
}

void hn_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
                           const float *q, const float *k, const float *v, const float *att,
                           size_t B, size_t T, size_t NH, size_t KVH, size_t HD)
{
    size_t group = NH / KVH;
    float scale = 1.0f / sqrtf((float)HD);
    int ldq = (int)(NH * HD), ldk = (int)(KVH * HD);
    long pairs = (long)(B * KVH);
    int nt = threads_for((double)B * NH * T * T * HD);
    /* (batch, kv head) pairs split over the threads: the query heads sharing a kv head
     * accumulate into the same dk, dv, so they stay on one thread */
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (long bg = 0; bg < pairs; bg++) {
        size_t b = (size_t)bg / KVH, g = (size_t)bg % KVH;
        for (size_t h = g * group; h < (g + 1) * group; h++) {
            size_t bh = b * NH + h;
            attention_head_backward(dq + b * T * NH * HD + h * HD, dk + b * T * KVH * HD + g * HD,
                                    dv + b * T * KVH * HD + g * HD, datt + bh * T * T,
                                    dout + b * T * NH * HD + h * HD, q + b * T * NH * HD + h * HD,
                                    k + b * T * KVH * HD + g * HD, v + b * T * KVH * HD + g * HD,
                                    att + bh * T * T, T, HD, ldq, ldk, scale);
        }
    }
}

void hn_attention_backward_naive(float *dq, float *dk, float *dv, float *datt, const float *dout,
                                 const float *q, const float *k, const float *v, const float *att,
                                 size_t B, size_t T, size_t NH, size_t KVH, size_t HD)
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
    int nt = threads_for((double)n);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void hn_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                        const float *up, size_t N, size_t F)
{
    size_t n = N * F;
    int nt = threads_for((double)n);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
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
    int nt = threads_for((double)n);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
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
    /* rows scatter onto shared token rows: each thread owns a block of columns */
    int nt = threads_for((double)N * C);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        size_t lo, hi;
        hn_ops_share(C, 16, thread_id(), thread_count(), &lo, &hi);
        for (size_t n = 0; n < N; n++) {
            float *d = dwte + (size_t)tokens[n] * C;
            const float *g = dout + n * C;
            for (size_t i = lo; i < hi; i++) {
                d[i] += g[i];
            }
        }
    }
}

double hn_crossentropy_forward(float *losses, float *probs, const float *logits, const int *targets,
                               size_t N, size_t V)
{
    double total = 0.0;
    int nt = threads_for((double)N * V);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static) reduction(+ : total)
    for (size_t n = 0; n < N; n++) {
        const float *z = logits + n * V;
        float *p = probs + n * V;
        float maxv = -INFINITY;
        for (size_t i = 0; i < V; i++) {
            maxv = z[i] > maxv ? z[i] : maxv;
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
    int nt = threads_for((double)N * V);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (size_t n = 0; n < N; n++) {
        for (size_t i = 0; i < V; i++) {
            float ind = (int)i == targets[n] ? 1.0f : 0.0f;
            dlogits[n * V + i] = (probs[n * V + i] - ind) * dloss;
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * large arrays */

#define HN_HUGE ((size_t)2 << 20)
#define HN_MAP_MIN ((size_t)64 << 10)
#define HN_PAGE ((size_t)4096)

/* The bytes of the mapping of an array of bytes >= HN_MAP_MIN: whole huge pages from HN_HUGE,
 * else whole pages. */
static size_t map_len(size_t bytes)
{
    size_t unit = bytes >= HN_HUGE ? HN_HUGE : HN_PAGE;
    return (bytes + unit - 1) / unit * unit;
}

/*
 * Where an array lies must not depend on what the process allocated and freed before: glibc
 * serves a calloc below its mmap threshold from the heap, and raises that threshold (up to 32
 * MiB) each time a larger mapped chunk is freed, so the same model built after a training run
 * (which frees large buffers) lands in recycled heap memory at another alignment and decodes
 * 10-25 % slower than when built first in a process (docs/latency.md, "flash.yaml's verify
 * stage"). Hence: below HN_MAP_MIN aligned to a cache line (HN_LLM_ALIGN) from the heap; from
 * it a private anonymous mapping of its own, page-aligned, and from HN_HUGE aligned to 2 MiB.
 */
void *hn_llm_big_calloc(size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size) {
        return NULL;
    }
    size_t bytes = n * size;
    if (bytes < HN_MAP_MIN) {
        void *p = NULL;
        size_t b = bytes ? bytes : 1;
        if (posix_memalign(&p, HN_LLM_ALIGN, b) != 0) {
            return NULL;
        }
        return memset(p, 0, b);
    }
    if (bytes > SIZE_MAX - 2 * HN_HUGE) {
        return NULL;
    }
    size_t len = map_len(bytes);
    if (bytes < HN_HUGE) {
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    char *raw =
        mmap(NULL, len + HN_HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        return NULL;
    }
    /* keep the 2 MiB-aligned len bytes inside the mapping, give back the rest */
    char *p = (char *)(((uintptr_t)raw + HN_HUGE - 1) & ~(uintptr_t)(HN_HUGE - 1));
    if (p > raw) {
        munmap(raw, (size_t)(p - raw));
    }
    if (raw + len + HN_HUGE > p + len) {
        munmap(p + len, (size_t)(raw + len + HN_HUGE - (p + len)));
    }
#ifdef MADV_HUGEPAGE
    madvise(p, len, MADV_HUGEPAGE); /* advice only: without THP the pages stay 4 KiB */
#endif
    return p;
}

void hn_llm_big_free(void *p, size_t n, size_t size)
{
    if (p == NULL) {
        return;
    }
    size_t bytes = n * size;
    if (bytes < HN_MAP_MIN) {
        free(p);
        return;
    }
    munmap(p, map_len(bytes));
}
