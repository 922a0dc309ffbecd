/*
 * Standard test problems as BoTorch defines them (github.com/pytorch/botorch,
 * botorch/test_functions/synthetic.py and multi_objective.py, MIT licence, Copyright (c) Meta
 * Platforms, Inc. and affiliates): formulas and constants (Hartmann6's alpha, A and P) follow
 * those files; all are minimization problems (BoTorch's negate=False).
 */
#include "config.h"

#include <math.h>

#include "plugins/evaluator-testfn/testfn.h"

double testfn_branin(const double *x)
{
    const double a = 1, b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, r = 6, s = 10,
                 t = 1 / (8 * M_PI);
    double q = x[1] - b * x[0] * x[0] + c * x[0] - r;
    return a * q * q + s * (1 - t) * cos(x[0]) + s;
}

double testfn_hartmann6(const double *x)
{
    static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
    static const double A[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                   {0.05, 10, 17, 0.1, 8, 14},
                                   {3, 3.5, 1.7, 10, 17, 8},
                                   {17, 8, 0.05, 10, 0.1, 14}};
    static const double P[4][6] = {{1312, 1696, 5569, 124, 8283, 5886},
                                   {2329, 4135, 8307, 3736, 1004, 9991},
                                   {2348, 1451, 3522, 2883, 3047, 6650},
                                   {4047, 8828, 8732, 5743, 1091, 381}};
    double sum = 0;
    for (int i = 0; i < 4; i++) {
        double inner = 0;
        for (int j = 0; j < 6; j++) {
            double dlt = x[j] - 1e-4 * P[i][j];
            inner += A[i][j] * dlt * dlt;
        }
        sum += alpha[i] * exp(-inner);
    }
    return -sum;
}

double testfn_ackley(const double *x, size_t d)
{
    const double a = 20, b = 0.2, c = 2 * M_PI;
    double s1 = 0, s2 = 0;
    for (size_t i = 0; i < d; i++) {
        s1 += x[i] * x[i];
        s2 += cos(c * x[i]);
    }
    return -a * exp(-b * sqrt(s1 / (double)d)) - exp(s2 / (double)d) + a + M_E;
}

void testfn_branincurrin(const double *x, double *f)
{
    /* Branin on the rescaled unit square */
    double xb[2] = {15 * x[0] - 5, 15 * x[1]};
    f[0] = testfn_branin(xb);
    double x0 = x[0], x1 = x[1];
    double factor1 = 1 - exp(-1 / (2 * x1)); /* x1 = 0: exp(-inf) = 0 */
    double numer = 2300 * x0 * x0 * x0 + 1900 * x0 * x0 + 2092 * x0 + 60;
    double denom = 100 * x0 * x0 * x0 + 500 * x0 * x0 + 4 * x0 + 20;
    f[1] = factor1 * numer / denom;
}

void testfn_zdt(int which, const double *x, size_t d, double *f)
{
    double g = 0;
    for (size_t i = 1; i < d; i++) {
        g += x[i];
    }
    g = 1 + 9 * g / (double)(d - 1);
    double f0 = x[0], ratio = f0 / g;
    f[0] = f0;
    switch (which) {
    case 1:
        f[1] = g * (1 - sqrt(ratio));
        break;
    case 2:
        f[1] = g * (1 - ratio * ratio);
        break;
    default:
        /* BoTorch's ZDT3 is not multiplied by g (Zitzler et al. 2000 multiply the bracket by
         * g); both agree on the Pareto front g = 1 */
        f[1] = 1 - sqrt(ratio) - ratio * sin(10 * M_PI * f0);
        break;
    }
}

void testfn_dtlz2(const double *x, size_t d, size_t m, double *f)
{
    double g = 0;
    for (size_t i = m - 1; i < d; i++) {
        g += (x[i] - 0.5) * (x[i] - 0.5);
    }
    for (size_t j = 0; j < m; j++) {
        double v = 1 + g;
        for (size_t i = 0; i + 1 + j < m; i++) {
            v *= cos(x[i] * M_PI / 2);
        }
        if (j > 0) {
            v *= sin(x[m - 1 - j] * M_PI / 2);
        }
        f[j] = v;
    }
}

/* ---- layers: 16 booleans and 4 ordinals (see testfn.h) ---- */

static double layers_h(size_t i)
{
    return 0.6 * sin(1.3 * (double)i + 0.5);
}

static double layers_j(size_t i)
{
    return 0.8 * cos(0.9 * (double)i + 1.0);
}

/* The terms that do not involve the booleans, and the count term. */
static double layers_ordinal_part(const double *t, double count)
{
    double u = count / TESTFN_LAYERS_BITS - t[0];
    return 2 * u * u + (t[1] - 0.6) * (t[1] - 0.6) + 0.5 * (t[2] - t[1]) * (t[2] - t[1]);
}

double testfn_layers(const double *x)
{
    double t[4], f = 0, count = 0;
    const double *b = x;
    for (size_t k = 0; k < 4; k++) {
        t[k] = x[TESTFN_LAYERS_BITS + k] / (TESTFN_LAYERS_LEVELS - 1);
    }
    for (size_t i = 0; i < TESTFN_LAYERS_BITS; i++) {
        f += layers_h(i) * b[i];
        if (i + 1 < TESTFN_LAYERS_BITS) {
            f += layers_j(i) * b[i] * b[i + 1];
        }
        count += b[i];
    }
    f += 0.4 * t[3] * (1 - 2 * b[0]) - 0.3 * t[2] * b[TESTFN_LAYERS_BITS - 1];
    return f + layers_ordinal_part(t, count);
}

double testfn_layers_argmin(double *x)
{
    /* for each ordinal setting, dynamic programming along the chain of booleans with state
     * (last bit, count so far); the boundary terms of b_0 and b_15 are local */
    enum { B = TESTFN_LAYERS_BITS, C = TESTFN_LAYERS_BITS + 1 };
    double best = INFINITY;
    for (int code = 0; code < TESTFN_LAYERS_LEVELS * TESTFN_LAYERS_LEVELS * TESTFN_LAYERS_LEVELS *
                                  TESTFN_LAYERS_LEVELS;
         code++) {
        double o[4], t[4];
        for (int k = 0, c = code; k < 4; k++, c /= TESTFN_LAYERS_LEVELS) {
            o[k] = c % TESTFN_LAYERS_LEVELS;
            t[k] = o[k] / (TESTFN_LAYERS_LEVELS - 1);
        }
        /* cost[i][bit][count]: least cost of b_0..b_i with b_i = bit and count ones */
        double cost[B][2][C];
        signed char from[B][2][C]; /* previous bit on the best path */
        for (size_t i = 0; i < B; i++) {
            for (int v = 0; v < 2; v++) {
                for (int c = 0; c < C; c++) {
                    cost[i][v][c] = INFINITY;
                }
            }
        }
        cost[0][0][0] = 0.4 * t[3];
        cost[0][1][1] = layers_h(0) - 0.4 * t[3];
        for (size_t i = 1; i < B; i++) {
            for (int v = 0; v < 2; v++) {
                double local = v * (layers_h(i) - (i == B - 1 ? 0.3 * t[2] : 0));
                for (int c = v; c < C; c++) {
                    for (int u = 0; u < 2; u++) {
                        double prev = cost[i - 1][u][c - v];
                        double value = prev + local + layers_j(i - 1) * u * v;
                        if (value < cost[i][v][c]) {
                            cost[i][v][c] = value;
                            from[i][v][c] = (signed char)u;
                        }
                    }
                }
            }
        }
        for (int v = 0; v < 2; v++) {
            for (int c = 0; c < C; c++) {
                double value = cost[B - 1][v][c] + layers_ordinal_part(t, c);
                if (value < best) {
                    best = value;
                    int bit = v, cnt = c;
                    for (size_t i = B; i-- > 0;) {
                        x[i] = bit;
                        int prev = i > 0 ? from[i][bit][cnt] : 0;
                        cnt -= bit;
                        bit = prev;
                    }
                    for (int k = 0; k < 4; k++) {
                        x[B + k] = o[k];
                    }
                }
            }
        }
    }
    return best;
}
