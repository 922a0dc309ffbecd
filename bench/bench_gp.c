/*
 * bench_gp: seconds of the GP surrogate's operations at n = 50, 200, 500 observations in d = 6
 * (hn_gp_fit with the default 4 restarts, on 1 thread (wall and process CPU time: the CPU time
 * is what a busy machine distorts least) and on 2; predicting 1000 points;
 * one hn_gp_predict_grad call; conditioning on one fantasy; leave-one-out). Not a test.
 *
 * Data: Hartmann-6 (published constants, Surjanovic & Bingham's Virtual Library of Simulation
 * Experiments) at uniform random points of [0,1]^6, plus N(0, 0.05^2) noise. Each cell is the
 * median over --reps data sets (seeds 1..reps); the fitted hyperparameters differ per seed.
 *
 * usage: bench_gp [--reps N] [--max-n N]
 */
#include "config.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hilnas/error.h"
#include "hilnas/gp.h"
#include "hilnas/rng.h"

#define D 6
#define MAX_REPS 31
#define N_PRED 1000

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Hartmann-6 (negated minimum -3.32237 at a known point). */
static double hartmann6(const double *x)
{
    static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
    static const double A[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                   {0.05, 10, 17, 0.1, 8, 14},
                                   {3, 3.5, 1.7, 10, 17, 8},
                                   {17, 8, 0.05, 10, 0.1, 14}};
    static const double P[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                   {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                   {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                   {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
    double s = 0;
    for (int i = 0; i < 4; i++) {
        double e = 0;
        for (int j = 0; j < 6; j++) {
            e += A[i][j] * (x[j] - P[i][j]) * (x[j] - P[i][j]);
        }
        s -= alpha[i] * exp(-e);
    }
    return s;
}

static double cpu_seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int k)
{
    qsort(v, (size_t)k, sizeof(double), cmp_double);
    return k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
}

enum { FIT1, CPU1, FIT2, PRED, GRAD, COND, LOO, NCOL };

int main(int argc, char **argv)
{
    int reps = 3;
    size_t max_n = 500;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--max-n") == 0 && i + 1 < argc) {
            max_n = (size_t)atol(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_gp [--reps N] [--max-n N]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "bench_gp: --reps must be within 1..%d\n", MAX_REPS);
        return 2;
    }
    struct hn_gp_options opt;
    hn_gp_options_default(&opt);
    printf("OpenBLAS: %s (%d threads outside fits; 1 inside)\n", openblas_get_config(),
           openblas_get_num_threads());
    printf("restarts %d; kernel Matern-5/2 ARD; d = %d; median of %d data sets\n\n", opt.restarts,
           D, reps);
    printf("| n   | fit, 1 thread (s) | its CPU (s) | fit, 2 threads (s) | predict 1000 (ms) | "
           "predict_grad (us) | condition +1 (ms) | LOO (ms) |\n");
    printf("|-----|-------------------|-------------|--------------------|-------------------|"
           "-------------------|-------------------|----------|\n");
    static const size_t sizes[] = {50, 200, 500};
    struct hn_error err;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]) && sizes[s] <= max_n; s++) {
        size_t n = sizes[s];
        double *X = malloc(n * D * sizeof(double)), *y = malloc(n * sizeof(double));
        double *Xp = malloc(N_PRED * D * sizeof(double)), *mp = malloc(N_PRED * sizeof(double));
        double *vp = malloc(N_PRED * sizeof(double)), *lm = malloc(n * sizeof(double));
        double *lv = malloc(n * sizeof(double));
        if (!X || !y || !Xp || !mp || !vp || !lm || !lv) {
            fprintf(stderr, "bench_gp: out of memory\n");
            return 1;
        }
        double t[NCOL][MAX_REPS];
        for (int r = 0; r < reps; r++) {
            struct hn_rng rng;
            hn_rng_seed(&rng, (uint64_t)r + 1);
            for (size_t i = 0; i < n; i++) {
                for (int j = 0; j < D; j++) {
                    X[i * D + j] = hn_rng_uniform(&rng);
                }
                y[i] = hartmann6(X + i * D) + 0.05 * hn_rng_normal(&rng);
            }
            for (size_t i = 0; i < N_PRED * D; i++) {
                Xp[i] = hn_rng_uniform(&rng);
            }
            opt.seed = (uint64_t)r;
            struct hn_gp *gp = NULL;
            for (int threads = 1; threads <= 2; threads++) {
                opt.threads = threads;
                hn_gp_free(gp);
                double t0 = seconds_now(), c0 = cpu_seconds_now();
                gp = hn_gp_fit(X, y, NULL, n, D, &opt, &err);
                t[threads == 1 ? FIT1 : FIT2][r] = seconds_now() - t0;
                if (threads == 1) {
                    t[CPU1][r] = cpu_seconds_now() - c0;
                }
                if (gp == NULL) {
                    fprintf(stderr, "bench_gp: %s\n", err.msg);
                    return 1;
                }
            }
            double t0 = seconds_now();
            hn_gp_predict(gp, Xp, N_PRED, mp, vp, &err);
            t[PRED][r] = 1e3 * (seconds_now() - t0);
            double m, v, dm[D], dv[D];
            t0 = seconds_now();
            for (int k = 0; k < 100; k++) {
                hn_gp_predict_grad(gp, Xp + (size_t)k * D, &m, &v, dm, dv, &err);
            }
            t[GRAD][r] = 1e6 * (seconds_now() - t0) / 100;
            t0 = seconds_now();
            struct hn_gp *c = hn_gp_condition(gp, Xp, mp, 1, &err);
            t[COND][r] = 1e3 * (seconds_now() - t0);
            hn_gp_free(c);
            t0 = seconds_now();
            hn_gp_loo(gp, lm, lv, &err);
            t[LOO][r] = 1e3 * (seconds_now() - t0);
            hn_gp_free(gp);
        }
        printf("| %-3zu | %17.4f | %11.4f | %18.4f | %17.2f | %17.1f | %17.3f | %8.2f |\n", n,
               median(t[FIT1], reps), median(t[CPU1], reps), median(t[FIT2], reps),
               median(t[PRED], reps), median(t[GRAD], reps), median(t[COND], reps),
               median(t[LOO], reps));
        fflush(stdout);
        free(X);
        free(y);
        free(Xp);
        free(mp);
        free(vp);
        free(lm);
        free(lv);
    }
    return 0;
}
