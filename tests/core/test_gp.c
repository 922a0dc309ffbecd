/* GP surrogate: hand-computed posterior, gradients vs finite differences, conditioning, LOO,
 * hyperparameter recovery, jitter and error handling, normal-distribution helpers. */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/gp.h"
#include "hilnas/rng.h"

/* 3x3 solve by Cramer's rule, written independently of LAPACK. */
static double det3(const double a[3][3])
{
    return a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
           a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
           a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
}

static void solve3(const double a[3][3], const double b[3], double x[3])
{
    double d = det3(a);
    for (int c = 0; c < 3; c++) {
        double m[3][3];
        memcpy(m, a, sizeof(m));
        for (int r = 0; r < 3; r++) {
            m[r][c] = b[r];
        }
        x[c] = det3(m) / d;
    }
}

Test(gp, posterior_matches_a_hand_computed_three_point_case)
{
    double X[3] = {0, 0.5, 1}, y[3] = {1, -1, 0.5}, xs = 0.25;
    struct hn_gp_hyper h = {.d = 1, .lengthscale = {0.4}, .noise = 0.01, .mean = 0.2};
    struct hn_error err;
    for (int kernel = 0; kernel < 2; kernel++) {
        struct hn_gp *gp = hn_gp_new_fixed(X, y, NULL, 3, 1, kernel, &h, &err);
        cr_assert_not_null(gp, "%s", err.msg);
        /* k(r) by hand */
        double K[3][3], ks[3];
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 3; j++) {
                double r = fabs(X[i] - X[j]) / 0.4;
                K[i][j] = kernel == HN_GP_RBF ? exp(-0.5 * r * r)
                                              : (1 + sqrt(5) * r + 5 * r * r / 3) * exp(-sqrt(5) * r);
                K[i][j] += i == j ? 0.01 : 0;
            }
            double r = fabs(xs - X[i]) / 0.4;
            ks[i] = kernel == HN_GP_RBF ? exp(-0.5 * r * r)
                                        : (1 + sqrt(5) * r + 5 * r * r / 3) * exp(-sqrt(5) * r);
        }
        double resid[3] = {y[0] - 0.2, y[1] - 0.2, y[2] - 0.2}, a[3], v[3];
        solve3(K, resid, a);
        solve3(K, ks, v);
        double mean = 0.2 + ks[0] * a[0] + ks[1] * a[1] + ks[2] * a[2];
        double var = 1 - (ks[0] * v[0] + ks[1] * v[1] + ks[2] * v[2]);
        double m, s2;
        cr_assert_eq(hn_gp_predict(gp, &xs, 1, &m, &s2, &err), 0);
        cr_expect(fabs(m - mean) < 1e-10, "kernel %d: mean %.12f, by hand %.12f", kernel, m, mean);
        cr_expect(fabs(s2 - var) < 1e-10, "kernel %d: var %.12f, by hand %.12f", kernel, s2, var);
        hn_gp_free(gp);
    }
}

static void random_data(struct hn_rng *rng, double *X, double *y, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) {
            X[i * d + j] = hn_rng_uniform(rng);
            s += sin(3 * X[i * d + j] * (double)(j + 1));
        }
        y[i] = s + 0.1 * hn_rng_normal(rng);
    }
}

Test(gp, marginal_likelihood_gradient_matches_finite_differences)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 1);
    size_t n = 12, d = 3;
    double X[36], y[12], fixed[12];
    random_data(&rng, X, y, n, d);
    for (size_t i = 0; i < n; i++) {
        fixed[i] = 0.01 + 0.02 * hn_rng_uniform(&rng);
    }
    double worst = 0;
    for (int kernel = 0; kernel < 2; kernel++) {
        for (int prior = 0; prior < 2; prior++) {
            for (int fix = 0; fix < 2; fix++) {
                double theta[6] = {log(0.3), log(0.7), log(1.5), log(0.05), 0.1, log(1.7)}, g[6];
                const double *nf = fix ? fixed : NULL;
                double f0 = hn_gp_log_objective(X, y, nf, n, d, kernel, theta, g, prior);
                cr_assert(isfinite(f0));
                for (int q = 0; q < 6; q++) {
                    double h = 1e-5, tp[6], tm[6];
                    memcpy(tp, theta, sizeof(tp));
                    memcpy(tm, theta, sizeof(tm));
                    tp[q] += h;
                    tm[q] -= h;
                    double fd = (hn_gp_log_objective(X, y, nf, n, d, kernel, tp, NULL, prior) -
                                 hn_gp_log_objective(X, y, nf, n, d, kernel, tm, NULL, prior)) /
                                (2 * h);
                    double diff = fabs(g[q] - fd) / fmax(1, fabs(fd));
                    worst = fmax(worst, diff);
                    cr_expect(diff < 1e-6, "kernel %d prior %d fixed %d theta[%d]: %.10g vs FD %.10g",
                              kernel, prior, fix, q, g[q], fd);
                }
            }
        }
    }
    cr_log_info("worst relative gradient error %.3g", worst);
}

Test(gp, predictive_gradients_match_finite_differences)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 2);
    size_t n = 15, d = 4;
    double X[60], y[15];
    random_data(&rng, X, y, n, d);
    struct hn_error err;
    struct hn_gp_options opt;
    hn_gp_options_default(&opt);
    for (int kernel = 0; kernel < 2; kernel++) {
        opt.kernel = kernel;
        struct hn_gp *gp = hn_gp_fit(X, y, NULL, n, d, &opt, &err);
        cr_assert_not_null(gp, "%s", err.msg);
        for (int t = 0; t < 5; t++) {
            double x[4], dm[4], dv[4], m, v;
            for (size_t j = 0; j < d; j++) {
                x[j] = hn_rng_uniform(&rng);
            }
            cr_assert_eq(hn_gp_predict_grad(gp, x, &m, &v, dm, dv, &err), 0);
            double m2, v2;
            hn_gp_predict(gp, x, 1, &m2, &v2, &err);
            cr_expect(fabs(m - m2) < 1e-10 && fabs(v - v2) < 1e-10);
            for (size_t j = 0; j < d; j++) {
                double h = 1e-6, xp[4], xm[4], mp, vp, mm, vm;
                memcpy(xp, x, sizeof(xp));
                memcpy(xm, x, sizeof(xm));
                xp[j] += h;
                xm[j] -= h;
                hn_gp_predict(gp, xp, 1, &mp, &vp, &err);
                hn_gp_predict(gp, xm, 1, &mm, &vm, &err);
                double fdm = (mp - mm) / (2 * h), fdv = (vp - vm) / (2 * h);
                cr_expect(fabs(dm[j] - fdm) < 1e-5 * fmax(1, fabs(fdm)), "dmean[%zu] %g vs %g", j,
                          dm[j], fdm);
                cr_expect(fabs(dv[j] - fdv) < 1e-5 * fmax(1, fabs(fdv)), "dvar[%zu] %g vs %g", j,
                          dv[j], fdv);
            }
        }
        hn_gp_free(gp);
    }
}

Test(gp, joint_conditioning_and_loo_agree_with_direct_computations)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 3);
    size_t n = 10, d = 2;
    double X[20], y[10];
    random_data(&rng, X, y, n, d);
    struct hn_gp_hyper h = {.d = 2, .lengthscale = {0.3, 0.5}, .noise = 0.02, .mean = 0.1};
    struct hn_error err;
    struct hn_gp *gp = hn_gp_new_fixed(X, y, NULL, n, d, HN_GP_MATERN52, &h, &err);
    cr_assert_not_null(gp);
    double Xs[6] = {0.1, 0.2, 0.5, 0.5, 0.9, 0.3}, mean[3], var[3], jm[3], cov[9];
    hn_gp_predict(gp, Xs, 3, mean, var, &err);
    cr_assert_eq(hn_gp_predict_joint(gp, Xs, 3, jm, cov, &err), 0);
    for (int i = 0; i < 3; i++) {
        cr_expect(fabs(jm[i] - mean[i]) < 1e-12);
        cr_expect(fabs(cov[i * 3 + i] - var[i]) < 1e-12);
        for (int j = 0; j < 3; j++) {
            cr_expect(fabs(cov[i * 3 + j] - cov[j * 3 + i]) < 1e-15);
        }
    }
    /* conditioning = a fresh GP on the union */
    double ynew[2] = {0.7, -0.4};
    struct hn_gp *c = hn_gp_condition(gp, Xs, ynew, 2, &err);
    cr_assert_not_null(c, "%s", err.msg);
    double Xu[24], yu[12];
    memcpy(Xu, X, sizeof(X));
    memcpy(Xu + 20, Xs, 4 * sizeof(double));
    memcpy(yu, y, sizeof(y));
    yu[10] = ynew[0];
    yu[11] = ynew[1];
    struct hn_gp *u = hn_gp_new_fixed(Xu, yu, NULL, 12, d, HN_GP_MATERN52, &h, &err);
    double m1, v1, m2, v2;
    hn_gp_predict(c, Xs + 4, 1, &m1, &v1, &err);
    hn_gp_predict(u, Xs + 4, 1, &m2, &v2, &err);
    cr_expect(fabs(m1 - m2) < 1e-10 && fabs(v1 - v2) < 1e-10, "%g %g / %g %g", m1, m2, v1, v2);
    /* LOO by refitting without each point (same hyperparameters) */
    double lm[10], lv[10];
    cr_assert_eq(hn_gp_loo(gp, lm, lv, &err), 0);
    for (size_t i = 0; i < n; i++) {
        double Xr[18], yr[9];
        size_t k = 0;
        for (size_t j = 0; j < n; j++) {
            if (j != i) {
                memcpy(Xr + k * d, X + j * d, d * sizeof(double));
                yr[k++] = y[j];
            }
        }
        struct hn_gp *r = hn_gp_new_fixed(Xr, yr, NULL, 9, d, HN_GP_MATERN52, &h, &err);
        double m, v;
        hn_gp_predict(r, X + i * d, 1, &m, &v, &err);
        cr_expect(fabs(lm[i] - m) < 1e-9, "LOO mean %zu: %g vs refit %g", i, lm[i], m);
        cr_expect(fabs(lv[i] - (v + h.noise)) < 1e-9, "LOO var %zu: %g vs %g", i, lv[i],
                  v + h.noise);
        hn_gp_free(r);
    }
    hn_gp_free(u);
    hn_gp_free(c);
    hn_gp_free(gp);
}

Test(gp, fit_finds_the_relevant_dimension)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 4);
    size_t n = 40, d = 2;
    double X[80], y[40];
    for (size_t i = 0; i < n; i++) {
        X[2 * i] = hn_rng_uniform(&rng);
        X[2 * i + 1] = hn_rng_uniform(&rng);
        y[i] = sin(6 * X[2 * i]) + 0.01 * hn_rng_normal(&rng);
    }
    struct hn_error err;
    struct hn_gp *gp = hn_gp_fit(X, y, NULL, n, d, NULL, &err);
    cr_assert_not_null(gp, "%s", err.msg);
    struct hn_gp_hyper h;
    hn_gp_get_hyper(gp, &h);
    cr_expect(h.lengthscale[0] * 5 < h.lengthscale[1], "relevant %g, irrelevant %g",
              h.lengthscale[0], h.lengthscale[1]);
    cr_expect(h.noise < 0.01, "noise %g (standardized)", h.noise);
    double x[2] = {0.3, 0.8}, m, v;
    hn_gp_predict(gp, x, 1, &m, &v, &err);
    cr_expect(fabs(m - sin(1.8)) < 0.05, "prediction %g vs %g", m, sin(1.8));
    hn_gp_free(gp);
}

Test(gp, log_transform_and_fixed_noise)
{
    double X[5] = {0, 0.25, 0.5, 0.75, 1}, y[5], sem[5];
    for (int i = 0; i < 5; i++) {
        y[i] = exp(2 * X[i]);
        sem[i] = 0.01 * y[i];
    }
    struct hn_gp_options opt;
    hn_gp_options_default(&opt);
    opt.log_transform = 1;
    struct hn_error err;
    struct hn_gp *gp = hn_gp_fit(X, y, sem, 5, 1, &opt, &err);
    cr_assert_not_null(gp, "%s", err.msg);
    double x = 0.6, m, v;
    hn_gp_predict(gp, &x, 1, &m, &v, &err);
    cr_expect(fabs(m - 1.2) < 0.05, "log-space prediction %g, truth 1.2", m);
    struct hn_gp_hyper h;
    hn_gp_get_hyper(gp, &h);
    cr_expect_eq(h.noise, 0, "fixed noise: no learned noise");
    hn_gp_free(gp);
    y[2] = -1;
    cr_expect_null(hn_gp_fit(X, y, NULL, 5, 1, &opt, &err));
    cr_expect(strstr(err.msg, "not positive") != NULL, "%s", err.msg);
}

Test(gp, duplicates_get_jitter_and_bad_data_a_clear_error)
{
    double X[8] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.1, 0.9}, y[4] = {1, 1.0001, 0.9999, 0};
    struct hn_error err;
    struct hn_gp_hyper h = {.d = 2, .lengthscale = {0.5, 0.5}, .noise = 0, .mean = 0};
    struct hn_gp *gp = hn_gp_new_fixed(X, y, NULL, 4, 2, HN_GP_RBF, &h, &err);
    cr_expect_not_null(gp, "jitter must rescue exact duplicates: %s", err.msg);
    hn_gp_free(gp);
    X[3] = NAN;
    cr_expect_null(hn_gp_fit(X, y, NULL, 4, 2, NULL, &err));
    cr_expect(strstr(err.msg, "not finite") != NULL, "%s", err.msg);
    cr_expect_null(hn_gp_fit(X, y, NULL, 0, 2, NULL, &err));
}

Test(gp, normal_helpers_are_accurate_in_the_tails)
{
    for (double z = -5; z <= 5; z += 0.25) {
        double direct = log(hn_norm_pdf(z) + z * hn_norm_cdf(z));
        cr_expect(fabs(hn_log_h(z) - direct) < 1e-9 * fmax(1, fabs(direct)), "z=%g: %.12g vs %.12g",
                  z, hn_log_h(z), direct);
        cr_expect(fabs(hn_norm_logcdf(z) - log(hn_norm_cdf(z))) < 1e-10, "logcdf(%g)", z);
    }
    /* asymptotics: h(z) ~ phi(z) / z^2 for z -> -inf, log Phi(z) ~ log(phi(z)/|z|) */
    for (double z = -40; z >= -1000; z *= 2) {
        double approx = -0.5 * z * z - 0.5 * log(2 * M_PI) - 2 * log(-z);
        cr_expect(isfinite(hn_log_h(z)), "finite at %g", z);
        cr_expect(fabs(hn_log_h(z) - approx) < 3.0 / (z * z) + 1e-9, "log h(%g) = %.12g vs %.12g",
                  z, hn_log_h(z), approx);
        double lc = -0.5 * z * z - 0.5 * log(2 * M_PI) - log(-z);
        cr_expect(fabs(hn_norm_logcdf(z) - lc) < 2.0 / (z * z), "log Phi(%g)", z);
    }
}
