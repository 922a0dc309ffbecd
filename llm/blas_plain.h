/*
 * llm/blas_plain.h: the few single-precision BLAS routines the engine calls, in portable C
 * with OpenMP, for builds without OpenBLAS (hilnas-bench cross-built for a phone or board:
 * tools/cross/). Same semantics as CBLAS's cblas_sgemm / cblas_sgemv, row- or column-major,
 * either transposition; float accumulation in the same loop order for every caller.
 * tests/llm/test_blas_plain.c compares them with OpenBLAS.
 */
#ifndef HILNAS_LLM_BLAS_PLAIN_H
#define HILNAS_LLM_BLAS_PLAIN_H

/* CBLAS's enum values (so that the cross-build shim tools/cross/cblas.h can forward) */
enum hn_plain_order { HN_PLAIN_ROW_MAJOR = 101, HN_PLAIN_COL_MAJOR = 102 };
enum hn_plain_trans { HN_PLAIN_NO_TRANS = 111, HN_PLAIN_TRANS = 112 };

/* C (m, n) = alpha op(A) (m, k) op(B) (k, n) + beta C */
void hn_plain_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha,
                    const float *a, int lda, const float *b, int ldb, float beta, float *c,
                    int ldc);
/* y = alpha op(A) x + beta y, A (m, n) */
void hn_plain_sgemv(int order, int trans, int m, int n, float alpha, const float *a, int lda,
                    const float *x, int incx, float beta, float *y, int incy);

#endif
