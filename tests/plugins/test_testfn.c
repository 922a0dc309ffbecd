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
        cr_assert(testfn_branin(x) >= 0.397887 - 1e-6, "below the minimum at (%g, %g)", x[0],
                  x[1]);
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
        cr_expect(fabs(testfn_ackley(x, d)) < 1e-12, "ackley_%zu(0) = %g", d,
                  testfn_ackley(x, d));
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
    return (p[0] > q[0]) - (p[0] < q[0]);
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
    qsort(pts, k, 2 * sizeof(double), cmp_pair);
    size_t nf = 0;
    double best = INFINITY;
    for (size_t i = 0; i < k; i++) {
        if (pts[2 * i + 1] < best) {
            best = pts[2 * i + 1];
            pts[2 * nf] = pts[2 * i];
            pts[2 * nf + 1] = pts[2 * i + 1];
            nf++;
        }
    }
    struct hn_error err;
    double ref[2] = {18, 6};
    double hv = hn_hypervolume(pts, nf, 2, ref, &err);
    cr_expect(hv <= TESTFN_BRANINCURRIN_MAX_HV + 1e-9, "hv %.6f above the maximum", hv);
    cr_expect(hv > TESTFN_BRANINCURRIN_MAX_HV - 0.2, "hv %.6f, published maximum 59.36", hv);
    free(pts);
}
