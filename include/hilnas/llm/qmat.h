/*
 * hilnas/llm/qmat.h: weight matrices at a deployment precision, and their products with F32
 * vectors.
 *
 * A deployed model stores its matrices in fewer bytes than F32 and computes in F32:
 *   F32   4 bytes per weight;
 *   BF16  2 bytes: the top half of the F32 bit pattern, rounded to nearest even;
 *   F16   2 bytes: IEEE binary16, rounded to nearest even (subnormals kept, overflow to +-inf);
 *   Q8_0  34 bytes per block of 32 weights of a row: one F16 scale d = max|w| / 127 and 32
 *         signed bytes q = round(w / d) (ties away from zero), w ~ d * q (llama.cpp's Q8_0).
 * Products accumulate in F32 on the dequantized values (each weight widened exactly to F32 and
 * multiplied by the F32 activation), so a product differs from the F32 product on the
 * dequantized weights only by summation order.
 *
 * Decoding one token multiplies every matrix by one vector: memory-bound, so time follows the
 * bytes. hn_qmat_matvec runs an AVX2/FMA kernel where the CPU has it (checked once at run time
 * with __builtin_cpu_supports) and portable C elsewhere; hn_qmat_matvec_naive is the plain
 * double-accumulation reference the tests compare both against.
 *
 * Thread safety: conversions and products are pure functions of their arguments; several
 * threads may multiply the same matrix (different output rows) at once.
 */
#ifndef HILNAS_LLM_QMAT_H
#define HILNAS_LLM_QMAT_H

#include <stddef.h>
#include <stdint.h>

#include "hilnas/error.h"

enum hn_dtype { HN_DTYPE_F32, HN_DTYPE_BF16, HN_DTYPE_F16, HN_DTYPE_Q8_0 };

#define HN_Q8_BLOCK 32

/* "f32", "bf16", "f16", "q8_0" (case-insensitive) -> dtype. Returns 0, or -1 when unknown. */
int hn_dtype_parse(const char *name, enum hn_dtype *out);
/* The lower-case name of dtype ("f32", ...). */
const char *hn_dtype_name(enum hn_dtype dtype);
/* Storage bytes of one row of cols weights. */
size_t hn_dtype_row_bytes(enum hn_dtype dtype, size_t cols);

/* F32 -> BF16 / F16, round to nearest even; NaN stays NaN (quiet, sign kept), +-inf stays,
 * F16 overflow to +-inf and subnormals kept (implemented in llm/gguf.c, declared in gguf.h too). */
uint16_t hn_f32_to_bf16(float f);
uint16_t hn_f32_to_f16(float f);

/*
 * Q8_0 of one block of n <= 32 weights (missing ones count as zero): *scale the F16 bits of
 * d = max|w| / 127, q[i] = round(w[i] / d) in [-127, 127] (all zero when d is zero). The F32 d
 * (before F16 rounding) divides, as in llama.cpp.
 */
void hn_q8_0_block(const float *w, size_t n, uint16_t *scale, int8_t *q);

/* A (rows, cols) row-major matrix at a precision. */
struct hn_qmat {
    enum hn_dtype dtype;
    size_t rows, cols;
    size_t ld;        /* elements from one row to the next (F32 borrowed views: any >= cols) */
    void *data;       /* F32: float; BF16/F16: uint16_t; Q8_0: int8_t rows of ld (ld a multiple
                       * of 32, padding zero) */
    uint16_t *scales; /* Q8_0: rows * ld / 32 F16 scales, row-major; else NULL */
    int owned;        /* 1: data (and scales) were allocated by hn_qmat_from_f32 */
};

/*
 * Convert w (rows, cols) to dtype into m (allocated; free with hn_qmat_free). dtype F32 makes m
 * a borrowed view of w (no copy, ld = cols). Returns 0, or -1 with err set (out of memory).
 */
int hn_qmat_from_f32(struct hn_qmat *m, const float *w, size_t rows, size_t cols,
                     enum hn_dtype dtype, struct hn_error *err);
/* A borrowed F32 view of w (rows, cols) with row stride ld. */
struct hn_qmat hn_qmat_view_f32(const float *w, size_t rows, size_t cols, size_t ld);
void hn_qmat_free(struct hn_qmat *m);

/* Rows [r0, r1) widened to F32 into out ((r1 - r0), cols), row stride cols. */
void hn_qmat_rows_to_f32(const struct hn_qmat *m, size_t r0, size_t r1, float *out);

/* Bytes of weights one full product reads. */
size_t hn_qmat_bytes(const struct hn_qmat *m);

/* out[r] = sum_i m[r][i] * x[i] for r in [r0, r1) (out indexed from row 0); x has cols floats. */
void hn_qmat_matvec(const struct hn_qmat *m, const float *x, float *out, size_t r0, size_t r1);
/* The same, accumulated in double on the dequantized weights, plain loops. */
void hn_qmat_matvec_naive(const struct hn_qmat *m, const float *x, float *out, size_t r0,
                          size_t r1);
/* The same with portable C only (the fallback where AVX2/FMA is missing). */
void hn_qmat_matvec_portable(const struct hn_qmat *m, const float *x, float *out, size_t r0,
                             size_t r1);

/*
 * out (d) = sum_{j < n} p[j] * v[j * ld + i] for i < d: a probability-weighted sum of n rows of
 * an F32 matrix with row stride ld (the decode attention's P . V). SIMD where available.
 */
void hn_vecmat_f32(float *out, const float *p, const float *v, size_t n, size_t d, size_t ld);

/*
 * Which kernels are in use, chosen once from the CPU: AVX-512F (16 columns per step), else
 * AVX2/FMA/F16C, else portable C. HILNAS_NO_SIMD=1 forces portable C, HILNAS_SIMD=avx2 caps at
 * AVX2 (to compare them on one machine). All compute the same sums up to rounding order.
 */
enum hn_simd { HN_SIMD_NONE = 0, HN_SIMD_AVX2 = 1, HN_SIMD_AVX512 = 2 };
int hn_qmat_simd(void);
const char *hn_qmat_simd_name(void); /* "AVX-512F", "AVX2/FMA" or "portable C" */

#endif
