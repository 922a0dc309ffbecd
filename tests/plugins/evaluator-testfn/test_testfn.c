/* Test problems at their published optima and fronts, and against plain re-derivations. */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "hilnas/pareto.h"
#include "hilnas/rng.h"
#include "plugins/evaluator-testfn/testfn.h"

Test(testfn, branin_minimizers)
{
    const double xs[3][2] = {{-M_PI, 12.275}, {M_PI, 2.275}, {9.42478, 2.475}};
    for (int i = 0; i < 3; i++) {
        double f = testfn_branin(xs[i]);
        cr_expect(fabs(f - 0.397887) < 1e-5, "branin(%g, %g) = %.8f", xs[i][0], xs[i][1], f);
    }
    /* a plain re-derivation at random points: (x2 - 5.1 x1^2/(4 pi^2) + 5 x1/pi - 6)^2 +
     * 10 (1 - 1/(8 pi)) cos x1 + 10 */
    struct hn_rng rng;
    hn_rng_seed(&rng, 1);
    for (int i = 0; i < 100; i++) {
        double x[2] = {-5 + 15 * hn_rng_uniform(&rng), 15 * hn_rng_uniform(&rng)};
        double q = x[1] - 5.1 * x[0] * x[0] / (4 * M_PI * M_PI) + 5 * x[0] / M_PI - 6;
        double expect = q * q + 10 * (1 - 1 / (8 * M_PI)) * cos(x[0]) + 10;
        cr_assert(fabs(testfn_branin(x) - expect) < 1e-9 * fmax(1, expect));
        cr_assert(testfn_branin(x) >= 0.397887 - 1e-6, "below the minimum at (%g, %g)", x[0], x[1]);
    }
}

Test(testfn, hartmann6_minimum)
{
    const double x[6] = {0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573};
    double f = testfn_hartmann6(x);
    cr_expect(fabs(f - (-3.32237)) < 1e-4, "hartmann6(x*) = %.6f", f);
    struct hn_rng rng;
    hn_rng_seed(&rng, 2);
    for (int i = 0; i < 2000; i++) {
        double y[6];
        for (int j = 0; j < 6; j++) {
            y[j] = hn_rng_uniform(&rng);
        }
        cr_assert(testfn_hartmann6(y) > -3.32237 - 1e-5, "below the published minimum");
    }
}

Test(testfn, ackley_is_zero_at_the_origin_and_positive_elsewhere)
{
    double x[10] = {0};
    for (size_t d = 1; d <= 10; d++) {
        cr_expect(fabs(testfn_ackley(x, d)) < 1e-12, "ackley_%zu(0) = %g", d, testfn_ackley(x, d));
    }
    double y[2] = {1, 0};
    /* -20 exp(-0.2 sqrt(1/2)) - exp((cos 2pi + 1)/2) + 20 + e */
    double expect = -20 * exp(-0.2 * sqrt(0.5)) - exp(1.0) + 20 + M_E;
    cr_expect(fabs(testfn_ackley(y, 2) - expect) < 1e-12);
}

Test(testfn, zdt_fronts)
{
    double x[6] = {0}, f[2];
    for (int k = 0; k <= 20; k++) {
        x[0] = k / 20.0;
        testfn_zdt(1, x, 6, f);
        cr_expect(fabs(f[0] - x[0]) < 1e-15 && fabs(f[1] - (1 - sqrt(x[0]))) < 1e-12);
        testfn_zdt(2, x, 6, f);
        cr_expect(fabs(f[1] - (1 - x[0] * x[0])) < 1e-12);
        testfn_zdt(3, x, 6, f);
        cr_expect(fabs(f[1] - (1 - sqrt(x[0]) - x[0] * sin(10 * M_PI * x[0]))) < 1e-12);
    }
    /* off the front g > 1: g = 1 + 9 * mean(x1..x5) */
    double z[6] = {0.25, 1, 1, 1, 1, 1};
    testfn_zdt(1, z, 6, f);
    cr_expect(fabs(f[1] - 10 * (1 - sqrt(0.025))) < 1e-12, "%g", f[1]);
    /* random points against BoTorch's formulas written out again (its ZDT3 does not multiply
     * by g, unlike Zitzler et al. 2000) */
    struct hn_rng rng;
    hn_rng_seed(&rng, 5);
    for (int i = 0; i < 200; i++) {
        size_t d = 2 + (size_t)(i % 29);
        double y[30], sum = 0;
        for (size_t j = 0; j < d; j++) {
            y[j] = hn_rng_uniform(&rng);
            sum += j > 0 ? y[j] : 0;
        }
        double g = 1 + 9 * sum / (double)(d - 1), r = y[0] / g;
        double expect[3] = {g * (1 - sqrt(r)), g * (1 - r * r),
                            1 - sqrt(r) - r * sin(10 * M_PI * y[0])};
        for (int which = 1; which <= 3; which++) {
            testfn_zdt(which, y, d, f);
            cr_assert(f[0] == y[0]);
            cr_assert(fabs(f[1] - expect[which - 1]) < 1e-12 * fmax(1, fabs(expect[which - 1])),
                      "zdt%d in %zu dimensions: %.15g, expected %.15g", which, d, f[1],
                      expect[which - 1]);
        }
    }
}

/* Keep the non-dominated rows of n points (pairs), sorted by f0; returns their number. */
static int cmp_pair(const void *a, const void *b);

static size_t front_2d(double *pts, size_t n)
{
    qsort(pts, n, 2 * sizeof(double), cmp_pair);
    size_t nf = 0;
    double best = INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (pts[2 * i + 1] < best) {
            best = pts[2 * i + 1];
            pts[2 * nf] = pts[2 * i];
            pts[2 * nf + 1] = pts[2 * i + 1];
            nf++;
        }
    }
    return nf;
}

Test(testfn, zdt_fronts_have_botorchs_maximum_hypervolume)
{
    /* a dense sample of each front (x0 in [0,1], the rest 0) against BoTorch's max_hv with
     * reference point (11, 11); a sample's hypervolume is a lower bound, close to it */
    enum { N = 100001 };
    const double max_hv[3] = {TESTFN_ZDT1_MAX_HV, TESTFN_ZDT2_MAX_HV, TESTFN_ZDT3_MAX_HV};
    const double ref[2] = {TESTFN_ZDT_REF, TESTFN_ZDT_REF};
    double *pts = malloc(2 * N * sizeof(double));
    cr_assert_not_null(pts);
    for (int which = 1; which <= 3; which++) {
        double x[4] = {0};
        for (size_t i = 0; i < N; i++) {
            x[0] = (double)i / (N - 1);
            testfn_zdt(which, x, 4, pts + 2 * i);
        }
        size_t nf = front_2d(pts, N);
        struct hn_error err;
        double hv = hn_hypervolume(pts, nf, 2, ref, &err);
        cr_assert(hv >= 0, "%s", err.msg);
        cr_expect(hv <= max_hv[which - 1] + 1e-9 && hv > max_hv[which - 1] - 1e-3,
                  "zdt%d: hypervolume %.9f, BoTorch's maximum %.9f", which, hv, max_hv[which - 1]);
    }
    free(pts);
}

Test(testfn, dtlz2_front_has_the_quarter_circle_hypervolume)
{
    /* m = 2, reference 1.1: 1.1^2 minus the quarter of the unit disc (BoTorch's _max_hv) */
    enum { N = 100001 };
    double *pts = malloc(2 * N * sizeof(double));
    cr_assert_not_null(pts);
    double x[5] = {0, 0.5, 0.5, 0.5, 0.5};
    for (size_t i = 0; i < N; i++) {
        x[0] = (double)i / (N - 1);
        testfn_dtlz2(x, 5, 2, pts + 2 * i);
    }
    size_t nf = front_2d(pts, N);
    const double ref[2] = {TESTFN_DTLZ2_REF, TESTFN_DTLZ2_REF};
    struct hn_error err;
    double hv = hn_hypervolume(pts, nf, 2, ref, &err), max_hv = 1.21 - M_PI / 4;
    cr_expect(hv <= max_hv + 1e-9 && hv > max_hv - 2e-5, "hypervolume %.9f, maximum %.9f", hv,
              max_hv);
    free(pts);
}

Test(testfn, random_points_against_plain_formulas)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 6);
    for (int i = 0; i < 200; i++) {
        /* ackley in 3 dimensions on its domain */
        double a[3];
        for (int j = 0; j < 3; j++) {
            a[j] = -32.768 + 65.536 * hn_rng_uniform(&rng);
        }
        double norm = sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
        double expect =
            -20 * exp(-0.2 / sqrt(3.0) * norm) -
            exp((cos(2 * M_PI * a[0]) + cos(2 * M_PI * a[1]) + cos(2 * M_PI * a[2])) / 3) + 20 +
            exp(1.0);
        cr_assert(fabs(testfn_ackley(a, 3) - expect) < 1e-12, "ackley %.15g vs %.15g",
                  testfn_ackley(a, 3), expect);
        /* branincurrin: Branin at (15 x0 - 5, 15 x1) and Currin */
        double x[2] = {hn_rng_uniform(&rng), hn_rng_uniform(&rng)}, f[2];
        testfn_branincurrin(x, f);
        double b[2] = {15 * x[0] - 5, 15 * x[1]};
        cr_assert(fabs(f[0] - testfn_branin(b)) < 1e-12);
        double currin = (1 - exp(-1 / (2 * x[1]))) *
                        (2300 * pow(x[0], 3) + 1900 * pow(x[0], 2) + 2092 * x[0] + 60) /
                        (100 * pow(x[0], 3) + 500 * pow(x[0], 2) + 4 * x[0] + 20);
        cr_assert(fabs(f[1] - currin) < 1e-12 * fmax(1, currin), "currin %.15g vs %.15g", f[1],
                  currin);
        /* dtlz2 with 3 objectives in 6 dimensions */
        double y[6], g = 0, h[3];
        for (int j = 0; j < 6; j++) {
            y[j] = hn_rng_uniform(&rng);
            g += j >= 2 ? (y[j] - 0.5) * (y[j] - 0.5) : 0;
        }
        testfn_dtlz2(y, 6, 3, h);
        double c0 = cos(y[0] * M_PI / 2), s0 = sin(y[0] * M_PI / 2);
        double c1 = cos(y[1] * M_PI / 2), s1 = sin(y[1] * M_PI / 2);
        cr_assert(fabs(h[0] - (1 + g) * c0 * c1) < 1e-12);
        cr_assert(fabs(h[1] - (1 + g) * c0 * s1) < 1e-12);
        cr_assert(fabs(h[2] - (1 + g) * s0) < 1e-12);
    }
    /* Currin at x1 = 0: exp(-1/0) = 0, the factor is 1 (BoTorch's value) */
    double x[2] = {0.5, 0}, f[2];
    testfn_branincurrin(x, f);
    double expect =
        (2300 * 0.125 + 1900 * 0.25 + 2092 * 0.5 + 60) / (100 * 0.125 + 500 * 0.25 + 4 * 0.5 + 20);
    cr_expect(fabs(f[1] - expect) < 1e-12, "currin(0.5, 0) = %g, expected %g", f[1], expect);
}

Test(testfn, dtlz2_front_is_the_unit_sphere)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 4);
    for (int i = 0; i < 100; i++) {
        size_t m = 2 + (size_t)(i % 3), d = 6;
        double x[6], f[4], s = 0;
        for (size_t j = 0; j < d; j++) {
            x[j] = j < m - 1 ? hn_rng_uniform(&rng) : 0.5;
        }
        testfn_dtlz2(x, d, m, f);
        for (size_t j = 0; j < m; j++) {
            s += f[j] * f[j];
        }
        cr_assert(fabs(s - 1) < 1e-12, "sum of squares %g", s);
    }
    double x[6] = {0.5, 0.1, 0.2, 0.3, 0.4, 0.9}, f[2];
    testfn_dtlz2(x, 6, 2, f);
    double g = 0.16 + 0.09 + 0.04 + 0.01 + 0.16;
    cr_expect(fabs(f[0] - (1 + g) * cos(M_PI / 4)) < 1e-12);
    cr_expect(fabs(f[1] - (1 + g) * sin(M_PI / 4)) < 1e-12);
}

static int cmp_pair(const void *a, const void *b)
{
    const double *p = a, *q = b;
    if (p[0] != q[0]) {
        return (p[0] > q[0]) - (p[0] < q[0]);
    }
    return (p[1] > q[1]) - (p[1] < q[1]);
}

Test(testfn, branincurrin_front_has_the_published_hypervolume, .timeout = 60)
{
    /* dense grid, keep the points inside the reference box (18, 6); the hypervolume of a
     * sample is a lower bound of the true maximum 59.36011874867746 and close to it */
    const int n = 2500;
    double *pts = malloc(2 * sizeof(double) * (size_t)(n + 1) * (size_t)(n + 1));
    size_t k = 0;
    for (int i = 0; i <= n; i++) {
        for (int j = 0; j <= n; j++) {
            double x[2] = {(double)i / n, (double)j / n}, f[2];
            testfn_branincurrin(x, f);
            if (f[0] < 18 && f[1] < 6) {
                pts[2 * k] = f[0];
                pts[2 * k + 1] = f[1];
                k++;
            }
        }
    }
    /* thin to the front before the exact computation */
    size_t nf = front_2d(pts, k);
    struct hn_error err;
    double ref[2] = {TESTFN_BRANINCURRIN_REF_0, TESTFN_BRANINCURRIN_REF_1};
    double hv = hn_hypervolume(pts, nf, 2, ref, &err);
    cr_expect(hv <= TESTFN_BRANINCURRIN_MAX_HV + 1e-9, "hv %.6f above the maximum", hv);
    cr_expect(hv > TESTFN_BRANINCURRIN_MAX_HV - 0.2, "hv %.6f, published maximum 59.36", hv);
    free(pts);
}

Test(testfn, layers_minimum_is_the_brute_force_one)
{
    /* brute force, independent of the dynamic programming: every one of the 2^16 boolean
     * vectors through testfn_layers at one ordinal setting gives the part that depends on the
     * booleans (g = f - f at all zeros, which has no boolean terms); the minimum of g per
     * (count, b_0, b_15) group is all that any ordinal setting can use, so the exact minimum
     * over all 2^16 * 5^4 points is the minimum over ordinals and groups */
    enum { B = TESTFN_LAYERS_BITS, L = TESTFN_LAYERS_LEVELS };
    double x[TESTFN_LAYERS_DIM] = {0}, chain[B + 1][2][2];
    for (int c = 0; c <= B; c++) {
        chain[c][0][0] = chain[c][0][1] = chain[c][1][0] = chain[c][1][1] = INFINITY;
    }
    /* the booleans' own terms: f at ordinals 0 (t = 0) minus the count term 2 (c/16)^2 and the
     * constant (0.6^2) */
    for (unsigned bits = 0; bits < (1u << B); bits++) {
        int count = 0;
        for (int i = 0; i < B; i++) {
            x[i] = (bits >> i) & 1;
            count += (int)x[i];
        }
        double u = count / 16.0, own = testfn_layers(x) - 2 * u * u - 0.36;
        int b0 = (int)x[0], b15 = (int)x[B - 1];
        chain[count][b0][b15] = fmin(chain[count][b0][b15], own);
    }
    double best = INFINITY;
    for (int code = 0; code < L * L * L * L; code++) {
        double t[4];
        for (int k = 0, c = code; k < 4; k++, c /= L) {
            t[k] = (double)(c % L) / (L - 1);
        }
        for (int count = 0; count <= B; count++) {
            for (int b0 = 0; b0 < 2; b0++) {
                for (int b15 = 0; b15 < 2; b15++) {
                    double u = count / 16.0 - t[0];
                    double v = chain[count][b0][b15] + 0.4 * t[3] * (1 - 2 * b0) -
                               0.3 * t[2] * b15 + 2 * u * u + (t[1] - 0.6) * (t[1] - 0.6) +
                               0.5 * (t[2] - t[1]) * (t[2] - t[1]);
                    best = fmin(best, v);
                }
            }
        }
    }
    double arg[TESTFN_LAYERS_DIM];
    double dp = testfn_layers_argmin(arg);
    cr_expect(fabs(best - TESTFN_LAYERS_MIN) < 1e-12, "brute force %.17g, published %.17g", best,
              TESTFN_LAYERS_MIN);
    cr_expect(fabs(dp - TESTFN_LAYERS_MIN) < 1e-12, "dynamic programming %.17g", dp);
    cr_expect(fabs(testfn_layers(arg) - dp) < 1e-12, "f at the minimizer %.17g, minimum %.17g",
              testfn_layers(arg), dp);
    /* spot check of the formula at one point, by hand: all booleans and ordinals zero except
     * b_1 = 1 and o_1 = 3: h_1 + 2 (1/16)^2 + (0.75 - 0.6)^2 + 0.5 (0 - 0.75)^2 */
    double y[TESTFN_LAYERS_DIM] = {0};
    y[1] = 1;
    y[17] = 3;
    double hand = 0.6 * sin(1.8) + 2.0 / 256 + 0.15 * 0.15 + 0.5 * 0.5625;
    cr_expect(fabs(testfn_layers(y) - hand) < 1e-12, "%.17g vs %.17g", testfn_layers(y), hand);
}
