/*
 * bench_hypervolume: seconds per exact hypervolume (hn_hypervolume: WFG for m >= 3) for
 * n = 50, 100, 200 mutually non-dominated points in m = 3, 4, 5 objectives. Not a test.
 *
 * Two fronts, both entirely non-dominated (the hard case: nothing is filtered away):
 *   - spherical: |N(0,1)| coordinates normalized to sum y_j^2 = 1 (concave, like DTLZ2);
 *   - linear: uniform coordinates normalized to sum y_j = 1 (like DTLZ1).
 * The reference point is 1.1 in every objective. Each cell is the median over --reps fronts
 * (seeds 1..reps).
 *
 * usage: bench_hypervolume [--reps N]
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hilnas/error.h"
#include "hilnas/pareto.h"
#include "hilnas/rng.h"

#define MAX_REPS 101

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void make_front(struct hn_rng *rng, int spherical, double *y, size_t n, size_t m)
{
    for (size_t i = 0; i < n; i++) {
        double norm = 0;
        for (size_t j = 0; j < m; j++) {
            double v = spherical ? fabs(hn_rng_normal(rng)) : hn_rng_uniform(rng);
            y[i * m + j] = v + 1e-12;
            norm += spherical ? y[i * m + j] * y[i * m + j] : y[i * m + j];
        }
        norm = spherical ? sqrt(norm) : norm;
        for (size_t j = 0; j < m; j++) {
            y[i * m + j] /= norm;
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int reps = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--reps N]   (N in 1..%d, default 5)\n", argv[0], MAX_REPS);
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "%s: --reps must be in 1..%d\n", argv[0], MAX_REPS);
        return 2;
    }
    static const size_t ns[] = {50, 100, 200};
    static const size_t ms[] = {3, 4, 5};
    const double ref[5] = {1.1, 1.1, 1.1, 1.1, 1.1};
    double *y = malloc(200 * 5 * sizeof(double));
    if (y == NULL) {
        fprintf(stderr, "%s: out of memory\n", argv[0]);
        return 1;
    }
    printf("exact hypervolume (WFG), median seconds over %d fronts, reference 1.1^m\n\n", reps);
    for (int spherical = 1; spherical >= 0; spherical--) {
        printf("%s front\n\n| m | n = 50 | n = 100 | n = 200 |\n| --- | --- | --- | --- |\n",
               spherical ? "spherical (concave)" : "linear");
        for (size_t a = 0; a < sizeof(ms) / sizeof(ms[0]); a++) {
            printf("| %zu |", ms[a]);
            for (size_t b = 0; b < sizeof(ns) / sizeof(ns[0]); b++) {
                double times[MAX_REPS];
                for (int r = 0; r < reps; r++) {
                    struct hn_rng rng;
                    hn_rng_seed(&rng, hn_rng_derive((uint64_t)r + 1, ms[a] * 1000 + ns[b]));
                    make_front(&rng, spherical, y, ns[b], ms[a]);
                    struct hn_error err;
                    double t0 = seconds_now();
                    double hv = hn_hypervolume(y, ns[b], ms[a], ref, &err);
                    times[r] = seconds_now() - t0;
                    if (hv < 0) {
                        fprintf(stderr, "%s: %s\n", argv[0], err.msg);
                        free(y);
                        return 1;
                    }
                }
                qsort(times, (size_t)reps, sizeof(double), cmp_double);
                printf(" %.2g |", times[reps / 2]);
                fflush(stdout);
            }
            printf("\n");
        }
        printf("\n");
    }
    free(y);
    return 0;
}
