/*
 * gpbo acquisition math against independent computations: closed-form EI, its asymptotic
 * series, finite differences, hypervolume by inclusion of one more point (hn_hypervolume), and
 * Monte Carlo estimates of the expected hypervolume improvement.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "hilnas/gp.h"
#include "hilnas/pareto.h"
#include "hilnas/rng.h"
#include "plugins/optimizer-gpbo/acquisition.h"

/* Plain EI for minimization from the textbook formula (double precision, moderate z only). */
static double ei_closed_form(double mu, double sigma, double best)
{
    double z = (best - mu) / sigma;
    return (best - mu) * 0.5 * erfc(-z / sqrt(2)) + sigma * exp(-0.5 * z * z) / sqrt(2 * M_PI);
}

Test(gpbo_acq, log_ei_matches_closed_form_where_ei_is_not_tiny)
{
    double worst = 0;
    for (double mu = -3; mu <= 3; mu += 0.25) {
        for (double sigma = 0.05; sigma < 5; sigma *= 1.7) {
            double best = 0.3;
            double ei = ei_closed_form(mu, sigma, best);
            if (ei < 1e-200) {
                continue;
            }
            double l = gpbo_log_ei(mu, sigma, best, NULL, NULL);
            double diff = fabs(l - log(ei));
            /* closed form loses relative accuracy in the far tail: compare where ei > 1e-8 */
            if (ei > 1e-8) {
                worst = fmax(worst, diff);
                cr_expect(diff < 1e-9, "mu %g sigma %g: log ei %.15g, closed form %.15g", mu, sigma,
                          l, log(ei));
            }
        }
    }
    cr_log_info("log EI vs closed form: worst difference %g", worst);
}

Test(gpbo_acq, log_ei_follows_the_asymptotic_series_in_the_far_tail)
{
    /* z -> -inf: EI = sigma phi(z) / z^2 (1 - 3/z^2 + 15/z^4 - 105/z^6 + ...) */
    double sigma = 0.7, best = 0;
    for (double z = -20; z >= -1e4; z *= 2) {
        double mu = best - z * sigma;
        double l = gpbo_log_ei(mu, sigma, best, NULL, NULL);
        double z2 = z * z;
        double series = log(sigma) - 0.5 * z2 - 0.5 * log(2 * M_PI) - log(z2) +
                        log1p(-3 / z2 + 15 / (z2 * z2) - 105 / (z2 * z2 * z2));
        cr_expect(isfinite(l), "z %g: log EI not finite", z);
        cr_expect(fabs(l - series) < 1e-9 * fmax(1, fabs(series)), "z %g: %.15g vs series %.15g", z,
                  l, series);
    }
    /* z -> +inf: EI -> best - mu */
    double l = gpbo_log_ei(-50, 1, 0, NULL, NULL);
    cr_expect(fabs(l - log(50)) < 1e-12, "log EI %g vs log 50", l);
}

Test(gpbo_acq, log_ei_derivatives_match_finite_differences)
{
    double h = 1e-6;
    const double cases[][3] = {{0.2, 0.5, 0}, {1.5, 0.3, 0}, {-2, 1, 0}, {30, 1, 0}, {0, 2, 0.1}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        double mu = cases[c][0], s = cases[c][1], b = cases[c][2], dm, ds;
        gpbo_log_ei(mu, s, b, &dm, &ds);
        double fm =
            (gpbo_log_ei(mu + h, s, b, NULL, NULL) - gpbo_log_ei(mu - h, s, b, NULL, NULL)) /
            (2 * h);
        double fs =
            (gpbo_log_ei(mu, s + h, b, NULL, NULL) - gpbo_log_ei(mu, s - h, b, NULL, NULL)) /
            (2 * h);
        cr_expect(fabs(dm - fm) < 1e-5 * fmax(1, fabs(fm)), "case %zu d/dmu %g fd %g", c, dm, fm);
        cr_expect(fabs(ds - fs) < 1e-5 * fmax(1, fabs(fs)), "case %zu d/dsigma %g fd %g", c, ds,
                  fs);
    }
}

Test(gpbo_acq, probability_of_feasibility_values_and_derivatives)
{
    const double cases[][4] = {
        /* mu, sigma, lo, hi */
        {0, 1, -INFINITY, 1}, {3, 0.5, -INFINITY, 1}, {0, 1, 0.5, INFINITY},
        {0, 1, -1, 2},        {10, 1, 11, 12},        {-1, 2, -INFINITY, INFINITY},
    };
    double h = 1e-6;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        double mu = cases[c][0], s = cases[c][1], lo = cases[c][2], hi = cases[c][3], dm, ds;
        double l = gpbo_log_pof2(mu, s, lo, hi, &dm, &ds);
        double p = 0.5 * erfc(-(hi - mu) / s / sqrt(2)) - 0.5 * erfc(-(lo - mu) / s / sqrt(2));
        cr_expect(fabs(l - log(p)) < 1e-10, "case %zu: log pof %.15g, direct %.15g", c, l, log(p));
        double fm = (gpbo_log_pof2(mu + h, s, lo, hi, NULL, NULL) -
                     gpbo_log_pof2(mu - h, s, lo, hi, NULL, NULL)) /
                    (2 * h);
        double fs = (gpbo_log_pof2(mu, s + h, lo, hi, NULL, NULL) -
                     gpbo_log_pof2(mu, s - h, lo, hi, NULL, NULL)) /
                    (2 * h);
        cr_expect(fabs(dm - fm) < 1e-5 * fmax(1, fabs(fm)), "case %zu d/dmu %g fd %g", c, dm, fm);
        cr_expect(fabs(ds - fs) < 1e-5 * fmax(1, fabs(fs)), "case %zu d/ds %g fd %g", c, ds, fs);
    }
    /* far in the infeasible tail the log stays finite and accurate */
    double l = gpbo_log_pof(40, 1, 0, 1, NULL, NULL);
    cr_expect(isfinite(l) && l < -700, "log P(Y <= 0), Y ~ N(40, 1) = %g", l);
}

static const double front2[] = {0.1, 0.9, 0.4, 0.5, 0.7, 0.3, 0.95, 0.05, 0.6, 0.6 /* dominated */};
static const double ref2[] = {1.2, 1.1};

/* E[HVI] by Monte Carlo with independent normals: mean and standard error. */
static void ehvi_monte_carlo(const double *front, size_t k, size_t m, const double *ref,
                             const double *mu, const double *s, size_t n, double *mean, double *se)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 12345);
    double hv = hn_hypervolume(front, k, m, ref, NULL), sum = 0, sum2 = 0, y[8];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < m; j++) {
            y[j] = mu[j] + s[j] * hn_rng_normal(&rng);
        }
        double v = gpbo_hvi(y, front, k, m, ref, hv);
        sum += v;
        sum2 += v * v;
    }
    *mean = sum / (double)n;
    *se = sqrt((sum2 / (double)n - *mean * *mean) / (double)n);
}

Test(gpbo_acq, ehvi2_matches_monte_carlo)
{
    const double cases[][4] = {{0.5, 0.5, 0.2, 0.2},
                               {0.2, 0.2, 0.1, 0.3},
                               {1.0, 1.0, 0.3, 0.3},
                               {0.8, 0.2, 0.05, 0.4},
                               {-0.5, 2, 0.5, 0.5}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        double mu[2] = {cases[c][0], cases[c][1]}, s[2] = {cases[c][2], cases[c][3]}, mc, se;
        double exact = gpbo_ehvi2(mu, s, front2, 5, ref2, NULL, NULL);
        ehvi_monte_carlo(front2, 5, 2, ref2, mu, s, 200000, &mc, &se);
        cr_expect(fabs(exact - mc) < 4 * se + 1e-12, "case %zu: EHVI %g, Monte Carlo %g +- %g", c,
                  exact, mc, se);
        cr_log_info("case %zu: EHVI %.6f, Monte Carlo %.6f +- %.6f", c, exact, mc, se);
    }
}

Test(gpbo_acq, cell_ehvi_equals_the_two_objective_staircase)
{
    struct gpbo_ehvi *e = gpbo_ehvi_new(front2, 5, 2, ref2);
    cr_assert_not_null(e);
    struct hn_rng rng;
    hn_rng_seed(&rng, 7);
    for (int t = 0; t < 200; t++) {
        double mu[2] = {2 * hn_rng_uniform(&rng) - 0.5, 2 * hn_rng_uniform(&rng) - 0.5};
        double s[2] = {0.01 + hn_rng_uniform(&rng), 0.01 + hn_rng_uniform(&rng)};
        double a = gpbo_ehvi2(mu, s, front2, 5, ref2, NULL, NULL);
        double b = gpbo_ehvi_value(e, mu, s, NULL, NULL);
        cr_expect(fabs(a - b) < 1e-12 * fmax(1, a), "staircase %.17g, cells %.17g", a, b);
    }
    gpbo_ehvi_free(e);
}

/* A random mutually non-dominated set in 3-4 dimensions (points on a sphere patch). */
static size_t random_front(struct hn_rng *rng, size_t k, size_t m, double *front)
{
    for (size_t i = 0; i < k; i++) {
        double norm = 0;
        for (size_t j = 0; j < m; j++) {
            front[i * m + j] = 0.05 + hn_rng_uniform(rng);
            norm += front[i * m + j] * front[i * m + j];
        }
        for (size_t j = 0; j < m; j++) {
            front[i * m + j] /= sqrt(norm);
        }
    }
    return k;
}

Test(gpbo_acq, cells_give_the_exact_improvement_of_a_point)
{
    /* with zero variance, E[HVI] is the HVI of the point: check against hn_hypervolume */
    struct hn_rng rng;
    hn_rng_seed(&rng, 99);
    double front[40 * 4], ref[4] = {1.1, 1.1, 1.1, 1.1}, zero[4] = {0};
    for (size_t m = 2; m <= 4; m++) {
        size_t k = random_front(&rng, m == 4 ? 12 : 25, m, front);
        struct gpbo_ehvi *e = gpbo_ehvi_new(front, k, m, ref);
        cr_assert_not_null(e);
        double hv = hn_hypervolume(front, k, m, ref, NULL), worst = 0;
        for (int t = 0; t < 300; t++) {
            double y[4];
            for (size_t j = 0; j < m; j++) {
                y[j] = 1.2 * hn_rng_uniform(&rng);
            }
            double a = gpbo_ehvi_value(e, y, zero, NULL, NULL);
            double b = gpbo_hvi(y, front, k, m, ref, hv);
            worst = fmax(worst, fabs(a - b));
            cr_expect(fabs(a - b) < 1e-12, "m %zu: cells %.17g, hypervolume difference %.17g", m, a,
                      b);
        }
        cr_log_info("m %zu: %zu cells, worst difference %g", m, gpbo_ehvi_cells(e), worst);
        gpbo_ehvi_free(e);
    }
}

Test(gpbo_acq, three_objective_ehvi_matches_monte_carlo)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 5);
    double front[10 * 3], ref[3] = {1.1, 1.1, 1.1};
    size_t k = random_front(&rng, 10, 3, front);
    struct gpbo_ehvi *e = gpbo_ehvi_new(front, k, 3, ref);
    cr_assert_not_null(e);
    const double cases[][6] = {{0.5, 0.5, 0.5, 0.2, 0.2, 0.2},
                               {0.3, 0.6, 0.9, 0.1, 0.3, 0.05},
                               {0.9, 0.9, 0.9, 0.4, 0.4, 0.4}};
    for (size_t c = 0; c < 3; c++) {
        double mc, se;
        double exact = gpbo_ehvi_value(e, cases[c], cases[c] + 3, NULL, NULL);
        ehvi_monte_carlo(front, k, 3, ref, cases[c], cases[c] + 3, 100000, &mc, &se);
        cr_expect(fabs(exact - mc) < 4 * se + 1e-12, "case %zu: EHVI %g, Monte Carlo %g +- %g", c,
                  exact, mc, se);
    }
    gpbo_ehvi_free(e);
}

Test(gpbo_acq, ehvi_derivatives_match_finite_differences)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 3);
    double front[8 * 3], ref[3] = {1.1, 1.1, 1.1}, h = 1e-6;
    size_t k = random_front(&rng, 8, 3, front);
    struct gpbo_ehvi *e = gpbo_ehvi_new(front, k, 3, ref);
    double mu[3] = {0.4, 0.7, 0.5}, s[3] = {0.2, 0.1, 0.3}, dm[3], ds[3];
    gpbo_ehvi_value(e, mu, s, dm, ds);
    for (size_t j = 0; j < 3; j++) {
        double a[3], b[3];
        for (size_t q = 0; q < 3; q++) {
            a[q] = b[q] = mu[q];
        }
        a[j] += h;
        b[j] -= h;
        double fm =
            (gpbo_ehvi_value(e, a, s, NULL, NULL) - gpbo_ehvi_value(e, b, s, NULL, NULL)) / (2 * h);
        for (size_t q = 0; q < 3; q++) {
            a[q] = b[q] = s[q];
        }
        a[j] += h;
        b[j] -= h;
        double fs =
            (gpbo_ehvi_value(e, mu, a, NULL, NULL) - gpbo_ehvi_value(e, mu, b, NULL, NULL)) /
            (2 * h);
        cr_expect(fabs(dm[j] - fm) < 1e-6 * fmax(1, fabs(fm)), "d/dmu%zu %g fd %g", j, dm[j], fm);
        cr_expect(fabs(ds[j] - fs) < 1e-6 * fmax(1, fabs(fs)), "d/ds%zu %g fd %g", j, ds[j], fs);
    }
    gpbo_ehvi_free(e);
}

Test(gpbo_acq, empty_front_is_the_whole_reference_box)
{
    /* no front: E[HVI] = prod_j E[max(ref_j - Y_j, 0)] */
    double ref[2] = {1, 2}, mu[2] = {0.5, 1.0}, s[2] = {0.3, 0.6};
    struct gpbo_ehvi *e = gpbo_ehvi_new(NULL, 0, 2, ref);
    cr_assert_not_null(e);
    double expect = 1;
    for (int j = 0; j < 2; j++) {
        double t = (ref[j] - mu[j]) / s[j];
        expect *= (ref[j] - mu[j]) * hn_norm_cdf(t) + s[j] * hn_norm_pdf(t);
    }
    double got = gpbo_ehvi_value(e, mu, s, NULL, NULL);
    cr_expect(fabs(got - expect) < 1e-14, "EHVI %g, expected %g", got, expect);
    gpbo_ehvi_free(e);
}
