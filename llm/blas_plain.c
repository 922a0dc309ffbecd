/*
 * llm/blas_plain.c: see blas_plain.h. Compiled only into builds without OpenBLAS (and the test
 * that compares it with OpenBLAS); with HN_PLAIN_CBLAS defined it also provides cblas_sgemm,
 * cblas_sgemv and openblas_{set,get}_num_threads themselves.
 */
#include "llm/blas_plain.h"

#include <stddef.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* element (i, j) of op(X) for X stored with leading dimension ld in `order` */
static inline float at(const float *x, int ld, int order, int trans, int i, int j)
{
    int t = trans == HN_PLAIN_TRANS;
    int r = t ? j : i, c = t ? i : j; /* (r, c) of the stored matrix */
    return order == HN_PLAIN_ROW_MAJOR ? x[(size_t)r * ld + c] : x[(size_t)c * ld + r];
}

void hn_plain_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha,
                    const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    int row = order == HN_PLAIN_ROW_MAJOR;
    /* the common engine case, row-major A . B^T: contiguous dot products */
    int fast = row && transa == HN_PLAIN_NO_TRANS && transb == HN_PLAIN_TRANS;
#pragma omp parallel for schedule(static) if ((size_t)m * n * k > 65536)
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            float s = 0.0f;
            if (fast) {
                const float *ai = a + (size_t)i * lda, *bj = b + (size_t)j * ldb;
                for (int p = 0; p < k; p++) {
                    s += ai[p] * bj[p];
                }
            } else {
                for (int p = 0; p < k; p++) {
                    s += at(a, lda, order, transa, i, p) * at(b, ldb, order, transb, p, j);
                }
            }
            float *cij = row ? &c[(size_t)i * ldc + j] : &c[(size_t)j * ldc + i];
            *cij = alpha * s + (beta == 0.0f ? 0.0f : beta * *cij);
        }
    }
}

void hn_plain_sgemv(int order, int trans, int m, int n, float alpha, const float *a, int lda,
                    const float *x, int incx, float beta, float *y, int incy)
{
    int t = trans == HN_PLAIN_TRANS;
    int rows = t ? n : m, cols = t ? m : n;
#pragma omp parallel for schedule(static) if ((size_t)m * n > 65536)
    for (int i = 0; i < rows; i++) {
        float s = 0.0f;
        for (int j = 0; j < cols; j++) {
            s += at(a, lda, order, trans, i, j) * x[(size_t)j * incx];
        }
        float *yi = &y[(size_t)i * incy];
        *yi = alpha * s + (beta == 0.0f ? 0.0f : beta * *yi);
    }
}

#ifdef HN_PLAIN_CBLAS
#include <cblas.h> /* tools/cross/cblas.h */

void cblas_sgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE transa, CBLAS_TRANSPOSE transb, int m, int n,
                 int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                 float *c, int ldc)
{
    hn_plain_sgemm((int)order, (int)transa, (int)transb, m, n, k, alpha, a, lda, b, ldb, beta, c,
                   ldc);
}

void cblas_sgemv(CBLAS_ORDER order, CBLAS_TRANSPOSE trans, int m, int n, float alpha,
                 const float *a, int lda, const float *x, int incx, float beta, float *y, int incy)
{
    hn_plain_sgemv((int)order, (int)trans, m, n, alpha, a, lda, x, incx, beta, y, incy);
}

static int plain_threads = 1;

void openblas_set_num_threads(int n)
{
    plain_threads = n;
}

int openblas_get_num_threads(void)
{
    return plain_threads;
}
#endif
