/*
 * bench_qmat: the time of one hn_qmat_matvec (llm/qmat.c) per precision, for comparing kernel
 * builds side by side: best of REPS batches of 20 products (a loaded machine inflates some
 * batches; the best is the kernel's own time). The default matrix (128 x 960, under 0.5 MB in
 * F32) stays in the L2 cache, so the kernels' arithmetic is timed, not the memory.
 *
 * usage: bench_qmat [COLS [ROWS [REPS]]]       (default 960 128 300)
 * HILNAS_SIMD=avx2 caps the kernels at AVX2, HILNAS_NO_SIMD=1 selects the portable C.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hilnas/llm/qmat.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    size_t C = argc > 1 ? (size_t)atol(argv[1]) : 960, R = argc > 2 ? (size_t)atol(argv[2]) : 128;
    int reps = argc > 3 ? atoi(argv[3]) : 300, iters = 20;
    if (C == 0 || R == 0 || reps < 1) {
        fprintf(stderr, "usage: bench_qmat [COLS [ROWS [REPS]]]\n");
        return 2;
    }
    float *w = malloc(R * C * sizeof(float)), *x = malloc(C * sizeof(float));
    float *out = malloc(R * sizeof(float));
    if (w == NULL || x == NULL || out == NULL) {
        fprintf(stderr, "bench_qmat: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < R * C; i++) {
        w[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    }
    for (size_t i = 0; i < C; i++) {
        x[i] = (float)(i % 17) / 17.0f;
    }
    printf("%s, %zu x %zu:", hn_qmat_simd_name(), R, C);
    for (int d = 0; d < 4; d++) {
        struct hn_qmat m;
        struct hn_error err;
        if (hn_qmat_from_f32(&m, w, R, C, (enum hn_dtype)d, &err) != 0) {
            fprintf(stderr, "bench_qmat: %s\n", err.msg);
            return 1;
        }
        double best = 1e9;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            for (int i = 0; i < iters; i++) {
                hn_qmat_matvec(&m, x, out, 0, R);
            }
            double t = (now() - t0) / iters;
            best = t < best ? t : best;
        }
        printf(" %s %.2f us", hn_dtype_name((enum hn_dtype)d), best * 1e6);
        hn_qmat_free(&m);
    }
    printf("\n");
    free(w);
    free(x);
    free(out);
    return 0;
}
