/*
 * llm/qmat.c: weight matrices at deployment precisions and their matrix-vector products (see
 * qmat.h). The SIMD kernels (AVX2/FMA and AVX-512F, one macro-generated family) are compiled
 * with a target attribute (the rest of the program keeps the baseline ISA) and chosen once at
 * run time.
 */
#include "config.h"

#include "hilnas/llm/qmat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hilnas/llm/ops.h"
#include "hilnas/llm/safetensors.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define HN_QMAT_X86 1
#define HN_AVX2_DECL __attribute__((target("avx2,fma,f16c")))
#include <immintrin.h>
#endif

/* ---------------------------------------------------------------------------------------------
 * names and conversions */

static const char *const dtype_names[] = {"f32", "bf16", "f16", "q8_0"};

int hn_dtype_parse(const char *name, enum hn_dtype *out)
{
    for (int i = 0; i < 4; i++) {
        if (name != NULL && strcasecmp(name, dtype_names[i]) == 0) {
            *out = (enum hn_dtype)i;
            return 0;
        }
    }
    return -1;
}

const char *hn_dtype_name(enum hn_dtype dtype)
{
    return (unsigned)dtype < 4 ? dtype_names[dtype] : "?";
}

size_t hn_dtype_row_bytes(enum hn_dtype dtype, size_t cols)
{
    switch (dtype) {
    case HN_DTYPE_F32:
        return cols * 4;
    case HN_DTYPE_BF16:
    case HN_DTYPE_F16:
        return cols * 2;
    case HN_DTYPE_Q8_0:
        return (cols + HN_Q8_BLOCK - 1) / HN_Q8_BLOCK * (HN_Q8_BLOCK + 2);
    }
    return 0;
}

/* hn_f32_to_bf16 and hn_f32_to_f16 live in llm/gguf.c (declared in qmat.h and gguf.h) */

void hn_q8_0_block(const float *w, size_t n, uint16_t *scale, int8_t *q)
{
    float amax = 0.0f;
    for (size_t i = 0; i < n; i++) {
        amax = fmaxf(amax, fabsf(w[i]));
    }
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    *scale = hn_f32_to_f16(d);
    for (size_t i = 0; i < HN_Q8_BLOCK; i++) {
        float v = i < n ? roundf(w[i] * id) : 0.0f;
        q[i] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
    }
}

/* ---------------------------------------------------------------------------------------------
 * matrices */

struct hn_qmat hn_qmat_view_f32(const float *w, size_t rows, size_t cols, size_t ld)
{
    struct hn_qmat m = {HN_DTYPE_F32, rows, cols, ld, (void *)(uintptr_t)w, NULL, 0};
    return m;
}

int hn_qmat_from_f32(struct hn_qmat *m, const float *w, size_t rows, size_t cols,
                     enum hn_dtype dtype, struct hn_error *err)
{
    memset(m, 0, sizeof(*m));
    if (dtype == HN_DTYPE_F32) {
        *m = hn_qmat_view_f32(w, rows, cols, cols);
        return 0;
    }
    m->dtype = dtype;
    m->rows = rows;
    m->cols = cols;
    m->owned = 1;
    if (dtype == HN_DTYPE_Q8_0) {
        size_t blocks = (cols + HN_Q8_BLOCK - 1) / HN_Q8_BLOCK;
        m->ld = blocks * HN_Q8_BLOCK;
        m->data = hn_llm_big_calloc(rows * m->ld + 1, 1);
        m->scales = hn_llm_big_calloc(rows * blocks + 1, sizeof(uint16_t));
        if (m->data == NULL || m->scales == NULL) {
            goto oom;
        }
        int8_t *q = m->data;
        for (size_t r = 0; r < rows; r++) {
            for (size_t b = 0; b < blocks; b++) {
                size_t i0 = b * HN_Q8_BLOCK, n = cols - i0 < HN_Q8_BLOCK ? cols - i0 : HN_Q8_BLOCK;
                hn_q8_0_block(w + r * cols + i0, n, &m->scales[r * blocks + b], q + r * m->ld + i0);
            }
        }
        return 0;
    }
    m->ld = cols;
    m->data = hn_llm_big_calloc(rows * cols + 1, sizeof(uint16_t));
    if (m->data == NULL) {
        goto oom;
    }
    uint16_t *h = m->data;
    uint16_t (*conv)(float) = dtype == HN_DTYPE_BF16 ? hn_f32_to_bf16 : hn_f32_to_f16;
    for (size_t i = 0; i < rows * cols; i++) {
        h[i] = conv(w[i]);
    }
    return 0;
oom:
    hn_qmat_free(m);
    return hn_error_set(err, NULL, "out of memory converting a (%zu, %zu) matrix to %s", rows, cols,
                        hn_dtype_name(dtype));
}

void hn_qmat_free(struct hn_qmat *m)
{
    if (m == NULL) {
        return;
    }
    if (m->owned) {
        /* the sizes they were allocated with (hn_llm_big_calloc: 2 MiB-aligned, huge pages
         * where the kernel gives them; decode streams these matrices like the F32 weights) */
        if (m->dtype == HN_DTYPE_Q8_0) {
            hn_llm_big_free(m->data, m->rows * m->ld + 1, 1);
            hn_llm_big_free(m->scales, m->rows * (m->ld / HN_Q8_BLOCK) + 1, sizeof(uint16_t));
        } else {
            hn_llm_big_free(m->data, m->rows * m->ld + 1, sizeof(uint16_t));
        }
    }
    memset(m, 0, sizeof(*m));
}

size_t hn_qmat_bytes(const struct hn_qmat *m)
{
    return m->rows * hn_dtype_row_bytes(m->dtype, m->cols);
}

/* weight (r, i) widened to F32 */
static float qmat_at(const struct hn_qmat *m, size_t r, size_t i)
{
    switch (m->dtype) {
    case HN_DTYPE_F32:
        return ((const float *)m->data)[r * m->ld + i];
    case HN_DTYPE_BF16:
        return hn_bf16_to_f32(((const uint16_t *)m->data)[r * m->ld + i]);
    case HN_DTYPE_F16:
        return hn_f16_to_f32(((const uint16_t *)m->data)[r * m->ld + i]);
    case HN_DTYPE_Q8_0:
        return hn_f16_to_f32(m->scales[(r * m->ld + i) / HN_Q8_BLOCK]) *
               (float)((const int8_t *)m->data)[r * m->ld + i];
    }
    return 0.0f;
}

#ifdef HN_QMAT_X86
HN_AVX2_DECL static void widen_row_avx2(const struct hn_qmat *m, size_t r, float *o);
#endif
int hn_qmat_simd(void);

void hn_qmat_rows_to_f32(const struct hn_qmat *m, size_t r0, size_t r1, float *out)
{
    size_t C = m->cols;
    for (size_t r = r0; r < r1; r++) {
        float *o = out + (r - r0) * C;
#ifdef HN_QMAT_X86
        if (m->dtype != HN_DTYPE_F32 && hn_qmat_simd()) {
            widen_row_avx2(m, r, o);
            continue;
        }
#endif
        if (m->dtype == HN_DTYPE_F32) {
            memcpy(o, (const float *)m->data + r * m->ld, C * sizeof(float));
        } else if (m->dtype == HN_DTYPE_Q8_0) {
            const int8_t *q = (const int8_t *)m->data + r * m->ld;
            const uint16_t *s = m->scales + r * m->ld / HN_Q8_BLOCK;
            for (size_t i = 0; i < C; i++) {
                o[i] = hn_f16_to_f32(s[i / HN_Q8_BLOCK]) * (float)q[i];
            }
        } else {
            const uint16_t *h = (const uint16_t *)m->data + r * m->ld;
            float (*conv)(uint16_t) = m->dtype == HN_DTYPE_BF16 ? hn_bf16_to_f32 : hn_f16_to_f32;
            for (size_t i = 0; i < C; i++) {
                o[i] = conv(h[i]);
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * products: reference and portable C */

void hn_qmat_matvec_naive(const struct hn_qmat *m, const float *x, float *out, size_t r0, size_t r1)
{
    for (size_t r = r0; r < r1; r++) {
        double s = 0.0;
        for (size_t i = 0; i < m->cols; i++) {
            s += (double)qmat_at(m, r, i) * x[i];
        }
        out[r] = (float)s;
    }
}

void hn_qmat_matvec_portable(const struct hn_qmat *m, const float *x, float *out, size_t r0,
                             size_t r1)
{
    size_t C = m->cols;
    for (size_t r = r0; r < r1; r++) {
        float s = 0.0f;
        switch (m->dtype) {
        case HN_DTYPE_F32: {
            const float *w = (const float *)m->data + r * m->ld;
#pragma omp simd reduction(+ : s)
            for (size_t i = 0; i < C; i++) {
                s += w[i] * x[i];
            }
            break;
        }
        case HN_DTYPE_BF16: {
            const uint16_t *w = (const uint16_t *)m->data + r * m->ld;
#pragma omp simd reduction(+ : s)
            for (size_t i = 0; i < C; i++) {
                uint32_t u = (uint32_t)w[i] << 16;
                float f;
                memcpy(&f, &u, sizeof(f));
                s += f * x[i];
            }
            break;
        }
        case HN_DTYPE_F16: {
            const uint16_t *w = (const uint16_t *)m->data + r * m->ld;
            for (size_t i = 0; i < C; i++) {
                s += hn_f16_to_f32(w[i]) * x[i];
            }
            break;
        }
        case HN_DTYPE_Q8_0: {
            const int8_t *q = (const int8_t *)m->data + r * m->ld;
            const uint16_t *sc = m->scales + r * m->ld / HN_Q8_BLOCK;
            for (size_t i0 = 0; i0 < C; i0 += HN_Q8_BLOCK) {
                size_t n = C - i0 < HN_Q8_BLOCK ? C - i0 : HN_Q8_BLOCK;
                float d = hn_f16_to_f32(sc[i0 / HN_Q8_BLOCK]), b = 0.0f;
#pragma omp simd reduction(+ : b)
                for (size_t i = 0; i < n; i++) {
                    b += d * (float)q[i0 + i] * x[i0 + i];
                }
                s += b;
            }
            break;
        }
        }
        out[r] = s;
    }
}

static void vecmat_portable(float *out, const float *p, const float *v, size_t n, size_t d,
                            size_t ld)
{
    memset(out, 0, d * sizeof(float));
    for (size_t j = 0; j < n; j++) {
        const float *row = v + j * ld;
        float pj = p[j];
#pragma omp simd
        for (size_t i = 0; i < d; i++) {
            out[i] += pj * row[i];
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * SIMD kernels, one body for both vector widths (the kernel family below): AVX2/FMA, eight
 * columns per step, and AVX-512F, sixteen (on CPUs that have it, e.g. Zen 4/5 and Intel since
 * Skylake-SP, one core then keeps up with the memory: the AVX2 kernels reached 33-47 % of one
 * core's read bandwidth for BF16/F16 decode on Zen 5). Each width is a set of names
 * <ISA>_ATTR (the target attribute), _N (lanes), _V (vector type), _ZERO, _LOADX (floats),
 * _FMA, _SET1, _HSUM (horizontal sum) and _Q8DOT (one Q8_0 block, unscaled), plus loads of N
 * weights of each precision. */

#ifdef HN_QMAT_X86
#define HN_AVX2 __attribute__((target("avx2,fma,f16c")))
#define HN_AVX512 __attribute__((target("avx512f,avx2,fma,f16c")))

HN_AVX2 static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

HN_AVX2 static inline __m256 load8_f32(const float *w)
{
    return _mm256_loadu_ps(w);
}

HN_AVX2 static inline __m256 load8_bf16(const uint16_t *w)
{
    __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)w));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}

HN_AVX2 static inline __m256 load8_f16(const uint16_t *w)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w));
}

/* sum over one block of 32: q (int8) widened to F32 times x */
HN_AVX2 static inline __m256 q8_block_dot(const int8_t *q, const float *x)
{
    __m128i lo = _mm_loadu_si128((const __m128i *)q);
    __m128i hi = _mm_loadu_si128((const __m128i *)(q + 16));
    __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), _mm256_loadu_ps(x));
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))),
                        _mm256_loadu_ps(x + 8), s);
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), _mm256_loadu_ps(x + 16), s);
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))),
                        _mm256_loadu_ps(x + 24), s);
    return s;
}

HN_AVX512 static inline __m512 load16_f32(const float *w)
{
    return _mm512_loadu_ps(w);
}

HN_AVX512 static inline __m512 load16_bf16(const uint16_t *w)
{
    /* 16 x 16 bits widened to 32-bit lanes, shifted into the upper half */
    __m256i h = _mm256_loadu_si256((const __m256i *)w);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

HN_AVX512 static inline __m512 load16_f16(const uint16_t *w)
{
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)w));
}

/* one block of 32 int8 weights times x, unscaled */
HN_AVX512 static inline __m512 q8_block_dot512(const int8_t *q, const float *x)
{
    __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q)));
    __m512 hi =
        _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + 16))));
    return _mm512_fmadd_ps(hi, _mm512_loadu_ps(x + 16), _mm512_mul_ps(lo, _mm512_loadu_ps(x)));
}

#define AVX2_ATTR HN_AVX2
#define AVX2_N 8
#define AVX2_V __m256
#define AVX2_ZERO _mm256_setzero_ps
#define AVX2_LOADX _mm256_loadu_ps
#define AVX2_FMA _mm256_fmadd_ps
#define AVX2_SET1 _mm256_set1_ps
#define AVX2_HSUM hsum8
#define AVX2_Q8DOT q8_block_dot

#define AVX512_ATTR HN_AVX512
#define AVX512_N 16
#define AVX512_V __m512
#define AVX512_ZERO _mm512_setzero_ps
#define AVX512_LOADX _mm512_loadu_ps
#define AVX512_FMA _mm512_fmadd_ps
#define AVX512_SET1 _mm512_set1_ps
#define AVX512_HSUM _mm512_reduce_add_ps
#define AVX512_Q8DOT q8_block_dot512

/* acc += the last tn (< N) weights of row wr from column cv, zero-padded to a full vector,
 * times xt (x's last tn values, zero-padded) */
#define HN_TAIL_FMA(ISA, T, LOAD, wr, acc)                                                         \
    do {                                                                                           \
        T pad_[ISA##_N] = {0};                                                                     \
        memcpy(pad_, (wr) + cv, tn * sizeof(T));                                                   \
        acc = ISA##_FMA(LOAD(pad_), xt, acc);                                                      \
    } while (0)

/*
 * out[r0..r1) = W x for a dense matrix of element type T (row stride ld): four rows at a time
 * (four independent accumulator chains, each weight row one sequential stream), N columns per
 * step; the columns past the last multiple of N in one zero-padded step.
 */
/* software prefetch distance of the four row streams, bytes: measured on Zen 5 (32000 x 960,
 * out of cache, 3 alternations) 10-15 % faster for F32 and BF16 than the hardware prefetcher
 * alone; 512 and 768 were alike */
#ifndef HN_PF
#define HN_PF 512
#endif
#define HN_DEFINE_MATVEC(ISA, NAME, T, LOAD)                                                       \
    ISA##_ATTR static void NAME(const T *w, size_t ld, size_t cols, const float *x, float *out,    \
                                size_t r0, size_t r1)                                              \
    {                                                                                              \
        size_t cv = cols - cols % ISA##_N, tn = cols - cv, r = r0;                                 \
        float xpad[ISA##_N] = {0};                                                                 \
        memcpy(xpad, x + cv, tn * sizeof(float));                                                  \
        ISA##_V xt = ISA##_LOADX(xpad);                                                            \
        for (; r + 4 <= r1; r += 4) {                                                              \
            const T *w0 = w + r * ld, *w1 = w0 + ld, *w2 = w1 + ld, *w3 = w2 + ld;                 \
            ISA##_V a0 = ISA##_ZERO(), a1 = a0, a2 = a0, a3 = a0;                                  \
            for (size_t i = 0; i < cv; i += ISA##_N) {                                             \
                ISA##_V xv = ISA##_LOADX(x + i);                                                   \
                _mm_prefetch((const char *)(w0 + i) + HN_PF, _MM_HINT_T0);                         \
                _mm_prefetch((const char *)(w1 + i) + HN_PF, _MM_HINT_T0);                         \
                _mm_prefetch((const char *)(w2 + i) + HN_PF, _MM_HINT_T0);                         \
                _mm_prefetch((const char *)(w3 + i) + HN_PF, _MM_HINT_T0);                         \
                a0 = ISA##_FMA(LOAD(w0 + i), xv, a0);                                              \
                a1 = ISA##_FMA(LOAD(w1 + i), xv, a1);                                              \
                a2 = ISA##_FMA(LOAD(w2 + i), xv, a2);                                              \
                a3 = ISA##_FMA(LOAD(w3 + i), xv, a3);                                              \
            }                                                                                      \
            if (tn) {                                                                              \
                HN_TAIL_FMA(ISA, T, LOAD, w0, a0);                                                 \
                HN_TAIL_FMA(ISA, T, LOAD, w1, a1);                                                 \
                HN_TAIL_FMA(ISA, T, LOAD, w2, a2);                                                 \
                HN_TAIL_FMA(ISA, T, LOAD, w3, a3);                                                 \
            }                                                                                      \
            out[r] = ISA##_HSUM(a0), out[r + 1] = ISA##_HSUM(a1);                                  \
            out[r + 2] = ISA##_HSUM(a2), out[r + 3] = ISA##_HSUM(a3);                              \
        }                                                                                          \
        for (; r < r1; r++) {                                                                      \
            const T *w0 = w + r * ld;                                                              \
            ISA##_V a0 = ISA##_ZERO();                                                             \
            for (size_t i = 0; i < cv; i += ISA##_N) {                                             \
                a0 = ISA##_FMA(LOAD(w0 + i), ISA##_LOADX(x + i), a0);                              \
            }                                                                                      \
            if (tn) {                                                                              \
                HN_TAIL_FMA(ISA, T, LOAD, w0, a0);                                                 \
            }                                                                                      \
            out[r] = ISA##_HSUM(a0);                                                               \
        }                                                                                          \
    }

/*
 * out[r0..r1) = W x for Q8_0: two rows at a time, one block of 32 per step scaled by its F16
 * scale; the columns of a last partial block in scalar code.
 */
#define HN_DEFINE_MATVEC_Q8(ISA, NAME)                                                             \
    ISA##_ATTR static void NAME(const struct hn_qmat *m, const float *x, float *out, size_t r0,    \
                                size_t r1)                                                         \
    {                                                                                              \
        size_t cols = m->cols, full = cols / HN_Q8_BLOCK, blocks = m->ld / HN_Q8_BLOCK;            \
        for (size_t r = r0; r < r1; r += 2) {                                                      \
            int two = r + 1 < r1;                                                                  \
            const int8_t *q0 = (const int8_t *)m->data + r * m->ld;                                \
            const int8_t *q1 = q0 + (two ? m->ld : 0);                                             \
            const uint16_t *s0 = m->scales + r * blocks, *s1 = s0 + (two ? blocks : 0);            \
            ISA##_V a0 = ISA##_ZERO(), a1 = a0;                                                    \
            for (size_t b = 0; b < full; b++) {                                                    \
                const float *xb = x + b * HN_Q8_BLOCK;                                             \
                a0 = ISA##_FMA(ISA##_Q8DOT(q0 + b * HN_Q8_BLOCK, xb),                              \
                               ISA##_SET1(_cvtsh_ss(s0[b])), a0);                                  \
                a1 = ISA##_FMA(ISA##_Q8DOT(q1 + b * HN_Q8_BLOCK, xb),                              \
                               ISA##_SET1(_cvtsh_ss(s1[b])), a1);                                  \
            }                                                                                      \
            float t0 = ISA##_HSUM(a0), t1 = ISA##_HSUM(a1);                                        \
            if (full < blocks) {                                                                   \
                float d0 = _cvtsh_ss(s0[full]), d1 = _cvtsh_ss(s1[full]);                          \
                for (size_t i = full * HN_Q8_BLOCK; i < cols; i++) {                               \
                    t0 += d0 * (float)q0[i] * x[i];                                                \
                    t1 += d1 * (float)q1[i] * x[i];                                                \
                }                                                                                  \
            }                                                                                      \
            out[r] = t0;                                                                           \
            if (two) {                                                                             \
                out[r + 1] = t1;                                                                   \
            }                                                                                      \
        }                                                                                          \
    }

HN_DEFINE_MATVEC(AVX2, matvec_f32_avx2, float, load8_f32)
HN_DEFINE_MATVEC(AVX2, matvec_bf16_avx2, uint16_t, load8_bf16)
HN_DEFINE_MATVEC(AVX2, matvec_f16_avx2, uint16_t, load8_f16)
HN_DEFINE_MATVEC_Q8(AVX2, matvec_q8_0_avx2)
HN_DEFINE_MATVEC(AVX512, matvec_f32_avx512, float, load16_f32)
HN_DEFINE_MATVEC(AVX512, matvec_bf16_avx512, uint16_t, load16_bf16)
HN_DEFINE_MATVEC(AVX512, matvec_f16_avx512, uint16_t, load16_f16)
HN_DEFINE_MATVEC_Q8(AVX512, matvec_q8_0_avx512)

/* ---- AVX2 only: vector times matrix (attention) and widening rows (prefill) ---- */

HN_AVX2 static void vecmat_avx2(float *out, const float *p, const float *v, size_t n, size_t d,
                                size_t ld)
{
    size_t i0 = 0;
    for (; i0 + 32 <= d; i0 += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t j = 0; j < n; j++) {
            const float *row = v + j * ld + i0;
            __m256 pj = _mm256_set1_ps(p[j]);
            a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(row), a0);
            a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(row + 8), a1);
            a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(row + 16), a2);
            a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(row + 24), a3);
        }
        _mm256_storeu_ps(out + i0, a0);
        _mm256_storeu_ps(out + i0 + 8, a1);
        _mm256_storeu_ps(out + i0 + 16, a2);
        _mm256_storeu_ps(out + i0 + 24, a3);
    }
    if (i0 < d) {
        vecmat_portable(out + i0, p, v + i0, n, d - i0, ld);
    }
}

/* one row of a BF16/F16/Q8_0 matrix widened to F32 (prefill widens blocks of rows for sgemm) */
HN_AVX2 static void widen_row_avx2(const struct hn_qmat *m, size_t r, float *o)
{
    size_t C = m->cols, c8 = C & ~(size_t)7, i = 0;
    if (m->dtype == HN_DTYPE_Q8_0) {
        const int8_t *q = (const int8_t *)m->data + r * m->ld;
        const uint16_t *sc = m->scales + r * m->ld / HN_Q8_BLOCK;
        for (; i < c8; i += 8) {
            __m256 d = _mm256_set1_ps(_cvtsh_ss(sc[i / HN_Q8_BLOCK]));
            __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + i)));
            _mm256_storeu_ps(o + i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(v)));
        }
        for (; i < C; i++) {
            o[i] = _cvtsh_ss(sc[i / HN_Q8_BLOCK]) * (float)q[i];
        }
        return;
    }
    const uint16_t *h = (const uint16_t *)m->data + r * m->ld;
    if (m->dtype == HN_DTYPE_BF16) {
        for (; i < c8; i += 8) {
            _mm256_storeu_ps(o + i, load8_bf16(h + i));
        }
        for (; i < C; i++) {
            o[i] = hn_bf16_to_f32(h[i]);
        }
    } else {
        for (; i < c8; i += 8) {
            _mm256_storeu_ps(o + i, load8_f16(h + i));
        }
        for (; i < C; i++) {
            o[i] = hn_f16_to_f32(h[i]);
        }
    }
}
#endif

/* ---------------------------------------------------------------------------------------------
 * dispatch */

static int simd_state = -1; /* -1 unknown, else enum hn_simd */

/* Off with HILNAS_NO_SIMD (any value but "" and "0"); HILNAS_SIMD=avx2 caps at AVX2. */
int hn_qmat_simd(void)
{
    int s = __atomic_load_n(&simd_state, __ATOMIC_RELAXED);
    if (s < 0) {
        s = HN_SIMD_NONE;
#ifdef HN_QMAT_X86
        __builtin_cpu_init();
        const char *off = getenv("HILNAS_NO_SIMD"), *cap = getenv("HILNAS_SIMD");
        if ((off == NULL || off[0] == '\0' || strcmp(off, "0") == 0) &&
            __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
            __builtin_cpu_supports("f16c")) {
            s = HN_SIMD_AVX2;
            if (__builtin_cpu_supports("avx512f") && (cap == NULL || strcmp(cap, "avx2") != 0)) {
                s = HN_SIMD_AVX512;
            }
        }
#endif
        __atomic_store_n(&simd_state, s, __ATOMIC_RELAXED);
    }
    return s;
}

const char *hn_qmat_simd_name(void)
{
    switch (hn_qmat_simd()) {
    case HN_SIMD_AVX512:
        return "AVX-512F";
    case HN_SIMD_AVX2:
        return "AVX2/FMA";
    default:
        return "portable C";
    }
}

/* the kernel of m's precision at one width (SUFFIX: avx2 or avx512) */
#define HN_MATVEC_DISPATCH(SUFFIX)                                                                 \
    switch (m->dtype) {                                                                            \
    case HN_DTYPE_F32:                                                                             \
        matvec_f32_##SUFFIX(m->data, m->ld, m->cols, x, out, r0, r1);                              \
        return;                                                                                    \
    case HN_DTYPE_BF16:                                                                            \
        matvec_bf16_##SUFFIX(m->data, m->ld, m->cols, x, out, r0, r1);                             \
        return;                                                                                    \
    case HN_DTYPE_F16:                                                                             \
        matvec_f16_##SUFFIX(m->data, m->ld, m->cols, x, out, r0, r1);                              \
        return;                                                                                    \
    case HN_DTYPE_Q8_0:                                                                            \
        matvec_q8_0_##SUFFIX(m, x, out, r0, r1);                                                   \
        return;                                                                                    \
    }

void hn_qmat_matvec(const struct hn_qmat *m, const float *x, float *out, size_t r0, size_t r1)
{
#ifdef HN_QMAT_X86
    int level = hn_qmat_simd();
    if (level == HN_SIMD_AVX512) {
        HN_MATVEC_DISPATCH(avx512)
    }
    if (level >= HN_SIMD_AVX2) {
        HN_MATVEC_DISPATCH(avx2)
    }
#endif
    hn_qmat_matvec_portable(m, x, out, r0, r1);
}

void hn_vecmat_f32(float *out, const float *p, const float *v, size_t n, size_t d, size_t ld)
{
#ifdef HN_QMAT_X86
    if (hn_qmat_simd()) {
        vecmat_avx2(out, p, v, n, d, ld);
        return;
    }
#endif
    vecmat_portable(out, p, v, n, d, ld);
}
