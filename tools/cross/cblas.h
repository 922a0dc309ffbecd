/*
 * tools/cross/cblas.h: the CBLAS declarations the engine uses, for builds without OpenBLAS
 * (tools/cross/build-bench.sh puts this directory first on the include path and compiles
 * llm/blas_plain.c with HN_PLAIN_CBLAS, which defines them in portable C).
 */
#ifndef HILNAS_CROSS_CBLAS_H
#define HILNAS_CROSS_CBLAS_H

typedef enum { CblasRowMajor = 101, CblasColMajor = 102 } CBLAS_ORDER;
typedef enum { CblasNoTrans = 111, CblasTrans = 112, CblasConjTrans = 113 } CBLAS_TRANSPOSE;
typedef CBLAS_ORDER CBLAS_LAYOUT;

void cblas_sgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE transa, CBLAS_TRANSPOSE transb, int m, int n,
                 int k, float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                 float *c, int ldc);
void cblas_sgemv(CBLAS_ORDER order, CBLAS_TRANSPOSE trans, int m, int n, float alpha,
                 const float *a, int lda, const float *x, int incx, float beta, float *y, int incy);
void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);

#endif
