/*
 * Deployment precisions (hilnas/llm/qmat.h): conversions against independent computations
 * (brute-force
 * nearest BF16, the compiler's _Float16, Q8_0 in double), every kernel against the double
 * reference on the dequantized weights (tight) and against the F32 weights (the precision's
 * documented bound), and whole-model decode logits per precision.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/llm/decode.h"
#include "hilnas/llm/model.h"
#include "hilnas/llm/qmat.h"
#include "hilnas/llm/safetensors.h"
#include "hilnas/rng.h"
#include "tests/llm/fixtures.h"

static struct hn_rng rng;

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

/* random floats over every exponent (and some special patterns) */
static float random_float(void)
{
    uint32_t u = (uint32_t)hn_rng_below(&rng, (uint64_t)1 << 32);
    return from_bits(u);
}

/* nearest BF16 by brute force: the two BF16 values around f, the nearer in double, ties to the
 * even pattern; above the largest finite BF16 by half an ulp or more: inf */
static uint16_t bf16_reference(float f)
{
    if (isnan(f)) {
        return 0; /* checked separately */
    }
    uint32_t u = bits(f);
    uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
    if ((u & 0xffffu) == 0) {
        return lo;
    }
    double dl = fabs((double)f - hn_bf16_to_f32(lo));
    /* hi may be inf (0x7f80 / 0xff80): then the midpoint to the next power of two decides */
    double vh = isinf(hn_bf16_to_f32(hi)) ? copysign(ldexp(1.0, 128), f) : hn_bf16_to_f32(hi);
    double dh = fabs((double)f - vh);
    if (dl < dh) {
        return lo;
    }
    if (dh < dl) {
        return hi;
    }
    return (lo & 1u) ? hi : lo;
}

Test(qmat, bf16_rounds_to_nearest_even)
{
    hn_rng_seed(&rng, 1);
    size_t checked = 0;
    for (int i = 0; i < 400000; i++) {
        float f = random_float();
        if (i % 4 == 0) {
            /* exact ties and near ties: low 16 bits 0x8000 (+-1) */
            f = from_bits((bits(f) & 0xffff0000u) | (0x8000u + (uint32_t)(i % 3) - 1u));
        }
        uint16_t got = hn_f32_to_bf16(f);
        if (isnan(f)) {
            cr_assert(isnan(hn_bf16_to_f32(got)) && (got >> 15) == (bits(f) >> 31),
                      "NaN %08x -> %04x", bits(f), got);
            continue;
        }
        uint16_t want = bf16_reference(f);
        cr_assert(got == want, "bf16(%a = %08x) = %04x, nearest-even is %04x", (double)f, bits(f),
                  got, want);
        checked++;
    }
    cr_expect(hn_f32_to_bf16(INFINITY) == 0x7f80 && hn_f32_to_bf16(-INFINITY) == 0xff80);
    cr_expect(hn_f32_to_bf16(-0.0f) == 0x8000);
    cr_expect(hn_f32_to_bf16(3.4e38f) == 0x7f80, "rounds past the largest BF16 to inf");
    cr_expect(hn_f32_to_bf16(1.00390625f) == 0x3f80, "tie 1 + 2^-8 to even (1)");
    cr_expect(hn_f32_to_bf16(1.01171875f) == 0x3f82, "tie 1 + 3 2^-8 to even (1 + 2^-6)");
    printf("bf16: %zu finite values equal the brute-force nearest-even\n", checked);
}

Test(qmat, f16_matches_the_compilers_conversion)
{
    hn_rng_seed(&rng, 2);
    static const float special[] = {0.0f,
                                    -0.0f,
                                    65504.0f,
                                    65519.99f,
                                    65520.0f,
                                    1e9f,
                                    -1e9f,
                                    5.960464477539063e-08f /* 2^-24 */,
                                    2.9802322387695312e-08f /* 2^-25: tie to 0 */,
                                    8.940696716308594e-08f /* 1.5 2^-24 */,
                                    6.097555160522461e-05f /* largest subnormal */,
                                    6.103515625e-05f /* smallest normal */,
                                    6.1005353927612305e-05f /* between */,
                                    1.0009765625f,
                                    1.00048828125f /* tie */,
                                    INFINITY,
                                    -INFINITY,
                                    1e-40f /* F32 subnormal */};
    size_t n_special = sizeof(special) / sizeof(special[0]);
    for (size_t i = 0; i < n_special + 600000; i++) {
        float f;
        if (i < n_special) {
            f = special[i];
        } else if (i % 2) {
            /* the F16 range, where the bits matter: exponents 2^-26 .. 2^17 */
            f = (float)ldexp(hn_rng_uniform(&rng) * 2.0 - 1.0, (int)hn_rng_below(&rng, 44) - 25);
        } else {
            f = random_float();
        }
        uint16_t got = hn_f32_to_f16(f);
        _Float16 h = (_Float16)f;
        uint16_t want;
        memcpy(&want, &h, sizeof(want));
        if (isnan(f)) {
            cr_assert((got & 0x7c00u) == 0x7c00u && (got & 0x3ffu) != 0 &&
                          (got >> 15) == (bits(f) >> 31),
                      "NaN %08x -> %04x", bits(f), got);
            continue;
        }
        cr_assert(got == want, "f16(%a = %08x) = %04x, the compiler says %04x", (double)f, bits(f),
                  got, want);
        /* and back: exact */
        cr_assert(hn_f16_to_f32(got) == (float)h);
    }
}

Test(qmat, q8_0_block_against_double)
{
    hn_rng_seed(&rng, 3);
    for (int trial = 0; trial < 2000; trial++) {
        size_t n = trial % 5 == 0 ? 1 + hn_rng_below(&rng, 32) : 32;
        float w[32];
        double scale = ldexp(1.0, (int)hn_rng_below(&rng, 20) - 14);
        for (size_t i = 0; i < n; i++) {
            w[i] = (float)(scale * hn_rng_normal(&rng));
        }
        if (trial == 0) {
            memset(w, 0, sizeof(w));
        }
        uint16_t s;
        int8_t q[32];
        hn_q8_0_block(w, n, &s, q);
        double amax = 0.0;
        for (size_t i = 0; i < n; i++) {
            amax = fmax(amax, fabs((double)w[i]));
        }
        double d = amax / 127.0, d16 = hn_f16_to_f32(s);
        cr_assert(fabs(d16 - d) <= d * 0x1p-11 + 0x1p-25, "scale %g stored as %g", d, d16);
        for (size_t i = 0; i < 32; i++) {
            if (i >= n || d == 0.0) {
                cr_assert(q[i] == 0);
                continue;
            }
            double r = w[i] / d;
            /* q = round(w / d) away from ties (the F32 1/d product may move a value within
             * 1e-5 of a tie either way) */
            if (fabs(fabs(r - trunc(r)) - 0.5) > 1e-5) {
                cr_assert(q[i] == (int)lround(r), "w %g d %g: q %d, want %ld", (double)w[i], d,
                          q[i], lround(r));
            }
            cr_assert(abs(q[i]) <= 127);
            if (fabs((double)w[i]) == amax) {
                cr_assert(abs(q[i]) == 127);
            }
            /* dequantized within half a step (of the stored scale) plus the scale's rounding */
            cr_assert(fabs(w[i] - q[i] * d16) <= 0.5 * d16 + 127 * fabs(d16 - d) + 1e-6 * d);
        }
    }
}

static float *random_matrix(size_t n, double scale)
{
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(scale * hn_rng_normal(&rng));
    }
    return x;
}

/* per-weight relative error bound of a precision (Q8_0: absolute, per block; see below) */
static double unit_roundoff(enum hn_dtype dt)
{
    return dt == HN_DTYPE_BF16 ? 0x1p-8 : dt == HN_DTYPE_F16 ? 0x1p-11 : 0.0;
}

static void check_matvec_every_precision(void)
{
    static const size_t shapes[][2] = {{13, 70}, {64, 96}, {7, 8}, {33, 257}, {5, 31}};
    hn_rng_seed(&rng, 4);
    for (int d = 0; d < 4; d++) {
        enum hn_dtype dt = (enum hn_dtype)d;
        for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
            size_t R = shapes[s][0], C = shapes[s][1];
            float *w = random_matrix(R * C, 0.5), *x = random_matrix(C, 1.0);
            float *fast = malloc(R * sizeof(float)), *port = malloc(R * sizeof(float));
            float *ref = malloc(R * sizeof(float)), *deq = malloc(R * C * sizeof(float));
            struct hn_qmat m;
            struct hn_error err;
            cr_assert(hn_qmat_from_f32(&m, w, R, C, dt, &err) == 0, "%s", err.msg);
            cr_assert(hn_qmat_bytes(&m) == R * hn_dtype_row_bytes(dt, C));
            hn_qmat_rows_to_f32(&m, 0, R, deq);
            /* the widened rows (SIMD) against the reference product with unit vectors */
            float *unit = calloc(C, sizeof(float)), *col = malloc(R * sizeof(float));
            for (size_t i = 0; i < C; i++) {
                unit[i] = 1.0f;
                hn_qmat_matvec_naive(&m, unit, col, 0, R);
                for (size_t r = 0; r < R; r++) {
                    cr_assert(col[r] == deq[r * C + i], "%s (%zu, %zu): widened %g, reference %g",
                              hn_dtype_name(dt), r, i, deq[r * C + i], col[r]);
                }
                unit[i] = 0.0f;
            }
            free(unit), free(col);
            /* a sub-range of rows, as the threads call it: rows outside stay untouched */
            for (size_t r = 0; r < R; r++) {
                fast[r] = port[r] = ref[r] = -12345.0f;
            }
            size_t r0 = R > 4 ? 1 : 0;
            hn_qmat_matvec(&m, x, fast, r0, R);
            hn_qmat_matvec_portable(&m, x, port, r0, R);
            hn_qmat_matvec_naive(&m, x, ref, r0, R);
            if (r0 == 1) {
                cr_assert(fast[0] == -12345.0f && port[0] == -12345.0f);
            }
            for (size_t r = r0; r < R; r++) {
                double mag = 0.0, exact_deq = 0.0, exact = 0.0, xabs = 0.0;
                for (size_t i = 0; i < C; i++) {
                    mag += fabs((double)deq[r * C + i] * x[i]);
                    exact_deq += (double)deq[r * C + i] * x[i];
                    exact += (double)w[r * C + i] * x[i];
                    xabs += fabs((double)x[i]);
                }
                /* on the dequantized weights: F32 summation only */
                double tight = 1e-6 * mag + 1e-30;
                cr_assert(fabs(ref[r] - exact_deq) <= tight);
                cr_assert(fabs(fast[r] - exact_deq) <= 4 * C * 0x1p-24 * mag + 1e-30,
                          "%s %zux%zu row %zu: SIMD %g, dequantized exact %g", hn_dtype_name(dt), R,
                          C, r, fast[r], exact_deq);
                cr_assert(fabs(port[r] - exact_deq) <= 4 * C * 0x1p-24 * mag + 1e-30,
                          "%s: portable %g, exact %g", hn_dtype_name(dt), port[r], exact_deq);
                /* against the F32 weights: the precision's rounding of each weight */
                double bound;
                if (dt == HN_DTYPE_Q8_0) {
                    double amax = 0.0;
                    for (size_t i = 0; i < C; i++) {
                        amax = fmax(amax, fabs((double)w[r * C + i]));
                    }
                    bound = (0.5 + 0.01) * amax / 127.0 * xabs; /* half a step per weight */
                } else {
                    double wx = 0.0;
                    for (size_t i = 0; i < C; i++) {
                        wx += fabs((double)w[r * C + i] * x[i]);
                    }
                    bound = unit_roundoff(dt) * wx;
                }
                cr_assert(fabs(exact_deq - exact) <= bound + 1e-6 * mag, "%s: |%g - %g| > %g",
                          hn_dtype_name(dt), exact_deq, exact, bound);
            }
            hn_qmat_free(&m);
            free(w), free(x), free(fast), free(port), free(ref), free(deq);
        }
    }
    printf("SIMD kernels: %s\n", hn_qmat_simd_name());
}

/* The best kernels this CPU has (each Criterion test runs in its own process, so the choice is
 * made afresh from the environment each test sets). */
Test(qmat, matvec_every_precision_and_kernel)
{
    check_matvec_every_precision();
}

/* The AVX2 kernels also where AVX-512 would be chosen (HILNAS_SIMD=avx2), so both are checked
 * on a machine that has both; and the portable C with HILNAS_NO_SIMD. */
Test(qmat, matvec_capped_at_avx2)
{
    setenv("HILNAS_SIMD", "avx2", 1);
    if (hn_qmat_simd() != HN_SIMD_AVX2) {
        cr_skip_test("this CPU has no AVX2/FMA/F16C: only the portable kernels exist here");
    }
    check_matvec_every_precision();
}

Test(qmat, matvec_portable_when_simd_is_off)
{
    setenv("HILNAS_NO_SIMD", "1", 1);
    cr_assert_eq(hn_qmat_simd(), HN_SIMD_NONE);
    check_matvec_every_precision();
}

Test(qmat, vecmat_against_double)
{
    hn_rng_seed(&rng, 5);
    size_t n = 37, d = 72, ld = 80;
    float *v = random_matrix(n * ld, 1.0), *p = random_matrix(n, 1.0), out[72];
    hn_vecmat_f32(out, p, v, n, d, ld);
    for (size_t i = 0; i < d; i++) {
        double s = 0.0, mag = 0.0;
        for (size_t j = 0; j < n; j++) {
            s += (double)p[j] * v[j * ld + i];
            mag += fabs((double)p[j] * v[j * ld + i]);
        }
        cr_assert(fabs(out[i] - s) <= 1e-5 * mag, "column %zu: %g, want %g", i, out[i], s);
    }
    free(v), free(p);
}

Test(qmat, dtype_names)
{
    enum hn_dtype dt;
    cr_assert(hn_dtype_parse("BF16", &dt) == 0 && dt == HN_DTYPE_BF16);
    cr_assert(hn_dtype_parse("q8_0", &dt) == 0 && dt == HN_DTYPE_Q8_0);
    cr_assert(hn_dtype_parse("int4", &dt) == -1);
    cr_assert(strcmp(hn_dtype_name(HN_DTYPE_F16), "f16") == 0);
    cr_assert(hn_dtype_row_bytes(HN_DTYPE_Q8_0, 64) == 68 &&
              hn_dtype_row_bytes(HN_DTYPE_Q8_0, 65) == 102);
}

/* ---------------------------------------------------------------------------------------------
 * whole model */

static struct hn_llm_model *model_of(void)
{
    struct hn_llm_config c = tu_config(3, 128, 4, 2, 32, 320, 300);
    c.tie_word_embeddings = 0;
    for (int l = 0; l < HN_LLM_MAX_LAYERS; l++) {
        c.attention_layers[l] = l != 1;
    }
    struct hn_error err;
    struct hn_llm_model *m = hn_llm_model_new(&c, &err);
    cr_assert(m != NULL, "%s", err.msg);
    hn_rng_seed(&rng, 6);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const struct hn_llm_tensor *t = &m->tensors[i];
        for (size_t j = 0; j < t->numel; j++) {
            m->params[t->offset + j] =
                (float)(t->ndim == 1 ? 1.0 + 0.2 * hn_rng_normal(&rng) : 0.1 * hn_rng_normal(&rng));
        }
    }
    return m;
}

/* decode logits (prefill 5, then one token at a time) of tokens[0..T) */
static float *decode_all(struct hn_llm_model *m, const int *tokens, int T)
{
    struct hn_error err;
    size_t V = (size_t)m->config.vocab_size;
    float *out = malloc((size_t)T * V * sizeof(float));
    struct hn_llm_infer *inf = hn_llm_infer_new(m, T, 0, &err);
    cr_assert(inf != NULL, "%s", err.msg);
    cr_assert(hn_llm_infer_forward(inf, tokens, 5, out, 1, &err) == 0, "%s", err.msg);
    for (int t = 5; t < T; t++) {
        cr_assert(hn_llm_infer_forward(inf, tokens + t, 1, out + (size_t)t * V, 0, &err) == 0);
    }
    hn_llm_infer_free(inf);
    return out;
}

static double rel_diff(const float *a, const float *b, size_t n)
{
    double worst = 0.0, big = 0.0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)a[i] - b[i]));
        big = fmax(big, fabs((double)b[i]));
    }
    return worst / big;
}

Test(qmat, model_logits_per_precision)
{
    /* documented tolerances against the F32 model, relative to the largest logit (weights
     * N(0, 0.1)): per-weight rounding of BF16 ~2^-9 relative, F16 ~2^-12, Q8_0 ~max|w|/254 per
     * block of 32 (measured here 1.3e-2, 1.3e-3, 3.6e-2) */
    static const double tol[4] = {0.0, 3e-2, 4e-3, 6e-2};
    int T = 20, tokens[20];
    for (int threads = 1; threads <= 2; threads++) {
        hn_llm_set_threads(threads);
        struct hn_llm_model *m = model_of();
        size_t V = (size_t)m->config.vocab_size;
        hn_rng_seed(&rng, 7);
        for (int t = 0; t < T; t++) {
            tokens[t] = (int)hn_rng_below(&rng, V);
        }
        float *f32 = decode_all(m, tokens, T);
        float *keep = malloc(m->n_params * sizeof(float));
        memcpy(keep, m->params, m->n_params * sizeof(float));
        for (int d = 1; d < 4; d++) {
            struct hn_error err;
            memcpy(m->params, keep, m->n_params * sizeof(float));
            cr_assert(hn_llm_set_dtype(m, (enum hn_dtype)d, &err) == 0, "%s", err.msg);
            cr_assert(m->dtype == (enum hn_dtype)d && m->qlayers != NULL);
            float *dec = decode_all(m, tokens, T);
            /* the training forward on the rounded F32 parameters: the same model */
            cr_assert(hn_llm_forward(m, tokens, NULL, 1, T, NULL, &err) == 0, "%s", err.msg);
            double same = rel_diff(dec, hn_llm_logits(m), (size_t)T * V);
            double vs32 = rel_diff(dec, f32, (size_t)T * V);
            printf("%d thread(s), %s: decode vs forward on the dequantized weights %.2e, vs "
                   "F32 %.2e\n",
                   threads, hn_dtype_name((enum hn_dtype)d), same, vs32);
            cr_expect(same <= 1e-4, "%s: decode differs from the dequantized forward by %g",
                      hn_dtype_name((enum hn_dtype)d), same);
            cr_expect(vs32 <= tol[d] && vs32 > 0.0, "%s: %g against F32 (tolerance %g)",
                      hn_dtype_name((enum hn_dtype)d), vs32, tol[d]);
            free(dec);
        }
        /* back to F32: the copies go, decode multiplies the parameters again */
        struct hn_error err;
        cr_assert(hn_llm_set_dtype(m, HN_DTYPE_F32, &err) == 0 && m->qlayers == NULL);
        free(keep);
        free(f32);
        hn_llm_model_free(m);
    }
    hn_llm_set_threads(1);
}

/* Decode streams the converted matrices like the F32 weights: large ones must sit in 2 MiB-
 * aligned mappings (huge pages where the kernel gives them), as hn_llm_big_calloc makes them.
 * On malloc's 4 KiB pages BF16 decode of a 350M-shaped model ran at 5 tokens/s against 23 on
 * huge pages (docs/benchmarks.md). Small ones stay on the heap; both free cleanly. */
Test(qmat, large_converted_matrices_are_huge_page_aligned)
{
    size_t rows = 1100, cols = 1024; /* 2.1 MiB as BF16/F16, 1.1 MiB as Q8_0 */
    float *w = calloc(rows * cols, sizeof(float));
    cr_assert_not_null(w);
    for (size_t i = 0; i < rows * cols; i++) {
        w[i] = (float)((int)(i % 97) - 48) / 64.0f;
    }
    enum hn_dtype dts[] = {HN_DTYPE_BF16, HN_DTYPE_F16, HN_DTYPE_Q8_0};
    for (size_t d = 0; d < 3; d++) {
        struct hn_qmat m;
        struct hn_error err;
        cr_assert_eq(hn_qmat_from_f32(&m, w, rows, cols, dts[d], &err), 0, "%s", err.msg);
        size_t bytes = dts[d] == HN_DTYPE_Q8_0 ? rows * m.ld : rows * cols * 2;
        if (bytes >= ((size_t)2 << 20)) {
            cr_expect_eq((uintptr_t)m.data % ((uintptr_t)2 << 20), 0,
                         "%s: a %zu-byte matrix not 2 MiB-aligned", hn_dtype_name(dts[d]), bytes);
        }
        /* the values survive the allocation path: the last row widened back */
        float last[1024];
        hn_qmat_rows_to_f32(&m, rows - 1, rows, last);
        for (size_t i = 0; i < cols; i++) {
            cr_assert_float_eq(last[i], w[(rows - 1) * cols + i], 1e-2, "%s col %zu",
                               hn_dtype_name(dts[d]), i);
        }
        hn_qmat_free(&m);
        cr_expect_null(m.data);
    }
    free(w);
}
