/*
 * llm/blas_plain.c (the engine's BLAS without OpenBLAS, for cross-built hilnas-bench) against
 * OpenBLAS: sgemm in both storage orders and all four transposition pairs with padded leading
 * dimensions, alpha/beta; sgemv both ways with strides.
 */
#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "hilnas/rng.h"
#include "llm/blas_plain.h"

static void fill(float *x, size_t n, struct hn_rng *rng)
{
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(hn_rng_uniform(rng) - 0.5);
    }
}

static void expect_same(const float *got, const float *want, size_t n, const char *what)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)got[i] - want[i]) / (1.0 + fabs(want[i])));
    }
    cr_expect(worst < 1e-5, "%s: worst difference %g", what, worst);
}

Test(blas_plain, sgemm_matches_openblas_in_every_layout)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 4);
    const int m = 37, n = 29, k = 53, pad = 3;
    float *a = malloc(sizeof(float) * 64 * 64), *b = malloc(sizeof(float) * 64 * 64);
    float *c1 = malloc(sizeof(float) * 64 * 64), *c2 = malloc(sizeof(float) * 64 * 64);
    fill(a, 64 * 64, &rng);
    fill(b, 64 * 64, &rng);
    for (int order = 101; order <= 102; order++) {
        for (int ta = 111; ta <= 112; ta++) {
            for (int tb = 111; tb <= 112; tb++) {
                int row = order == 101;
                int a_rows = ta == 111 ? m : k, a_cols = ta == 111 ? k : m;
                int b_rows = tb == 111 ? k : n, b_cols = tb == 111 ? n : k;
                int lda = (row ? a_cols : a_rows) + pad, ldb = (row ? b_cols : b_rows) + pad;
                int ldc = (row ? n : m) + pad;
                fill(c1, 64 * 64, &rng);
                for (int i = 0; i < 64 * 64; i++) {
                    c2[i] = c1[i];
                }
                cblas_sgemm((CBLAS_ORDER)order, (CBLAS_TRANSPOSE)ta, (CBLAS_TRANSPOSE)tb, m, n, k,
                            0.7f, a, lda, b, ldb, 0.3f, c1, ldc);
                hn_plain_sgemm(order, ta, tb, m, n, k, 0.7f, a, lda, b, ldb, 0.3f, c2, ldc);
                expect_same(c2, c1, 64 * 64, "sgemm");
                /* beta 0 ignores what C held (NaN included) */
                for (int i = 0; i < 64 * 64; i++) {
                    c2[i] = NAN;
                }
                cblas_sgemm((CBLAS_ORDER)order, (CBLAS_TRANSPOSE)ta, (CBLAS_TRANSPOSE)tb, m, n, k,
                            1.0f, a, lda, b, ldb, 0.0f, c1, ldc);
                hn_plain_sgemm(order, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c2, ldc);
                for (int i = 0; i < (row ? m : n); i++) {
                    expect_same(c2 + i * ldc, c1 + i * ldc, (size_t)(row ? n : m), "beta 0");
                }
                (void)a_rows;
                (void)b_rows;
            }
        }
    }
    free(a);
    free(b);
    free(c1);
    free(c2);
}

Test(blas_plain, sgemv_matches_openblas)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 5);
    float a[40 * 40], x[200], y1[200], y2[200];
    fill(a, 1600, &rng);
    fill(x, 200, &rng);
    for (int order = 101; order <= 102; order++) {
        for (int t = 111; t <= 112; t++) {
            for (int inc = 1; inc <= 2; inc++) {
                fill(y1, 200, &rng);
                for (int i = 0; i < 200; i++) {
                    y2[i] = y1[i];
                }
                cblas_sgemv((CBLAS_ORDER)order, (CBLAS_TRANSPOSE)t, 23, 31, 0.9f, a, 40, x, inc,
                            0.5f, y1, inc);
                hn_plain_sgemv(order, t, 23, 31, 0.9f, a, 40, x, inc, 0.5f, y2, inc);
                expect_same(y2, y1, 200, "sgemv");
            }
        }
    }
}
