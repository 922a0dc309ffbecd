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

/* Matern-5/2 or RBF of the scaled distance r, by hand. */
static double k_hand(int kernel, double r)
{
    return kernel == HN_GP_RBF ? exp(-0.5 * r * r)
                               : (1 + sqrt(5) * r + 5 * r * r / 3) * exp(-sqrt(5) * r);
}

Test(gp, posterior_matches_a_hand_computed_three_point_case)
{
    double X[3] = {0, 0.5, 1}, y[3] = {1, -1, 0.5}, xs = 0.25;
    double pernoise[3] = {0.02, NAN, 0.3}; /* NAN: the shared noise 0.01 */
    struct hn_error err;
    for (int kernel = 0; kernel < 2; kernel++) {
        for (int variant = 0; variant < 2; variant++) {
            /* variant 0: unit output scale, noise 0.01 everywhere; 1: scale 1.7, mixed noise */
            double os = variant ? 1.7 : 1;
            struct hn_gp_hyper h = {
                .d = 1, .lengthscale = {0.4}, .noise = 0.01, .mean = 0.2, .outputscale = os};
            const double *nv = variant ? pernoise : NULL;
            struct hn_gp *gp = hn_gp_new_fixed(X, y, nv, 3, 1, kernel, &h, &err);
            cr_assert_not_null(gp, "%s", err.msg);
            double K[3][3], ks[3];
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) {
                    K[i][j] = os * k_hand(kernel, fabs(X[i] - X[j]) / 0.4);
                }
                K[i][i] += variant && !isnan(pernoise[i]) ? pernoise[i] : 0.01;
                ks[i] = os * k_hand(kernel, fabs(xs - X[i]) / 0.4);
            }
            double resid[3] = {y[0] - 0.2, y[1] - 0.2, y[2] - 0.2}, a[3], v[3];
            solve3(K, resid, a);
            solve3(K, ks, v);
            double mean = 0.2 + ks[0] * a[0] + ks[1] * a[1] + ks[2] * a[2];
            double var = os - (ks[0] * v[0] + ks[1] * v[1] + ks[2] * v[2]);
            double m, s2;
            cr_assert_eq(hn_gp_predict(gp, &xs, 1, &m, &s2, &err), 0);
            cr_expect(fabs(m - mean) < 1e-10, "kernel %d/%d: mean %.12f, by hand %.12f", kernel,
                      variant, m, mean);
            cr_expect(fabs(s2 - var) < 1e-10, "kernel %d/%d: var %.12f, by hand %.12f", kernel,
                      variant, s2, var);
            /* the log marginal likelihood at the same hyperparameters, by hand */
            double theta[4] = {log(0.4), log(0.01), 0.2, log(os)};
            double quad = resid[0] * a[0] + resid[1] * a[1] + resid[2] * a[2];
            double ll = -0.5 * quad - 0.5 * log(det3(K)) - 1.5 * log(2 * M_PI);
            double obj = hn_gp_log_objective(X, y, nv, 3, 1, kernel, theta, NULL, 0);
            cr_expect(fabs(obj - ll) < 1e-10, "kernel %d/%d: log likelihood %.12f, by hand %.12f",
                      kernel, variant, obj, ll);
            /* the incumbent: best posterior mean over the training inputs */
            double mt[3], lo = INFINITY, hi = -INFINITY;
            hn_gp_predict(gp, X, 3, mt, NULL, &err);
            for (int i = 0; i < 3; i++) {
                lo = fmin(lo, mt[i]);
                hi = fmax(hi, mt[i]);
            }
            cr_expect_eq(hn_gp_best_mean(gp, 0), lo);
            cr_expect_eq(hn_gp_best_mean(gp, 1), hi);
            cr_expect(hi < 1 && lo > -1, "noisy points are smoothed: %g..%g", lo, hi);
            hn_gp_free(gp);
        }
    }
}

Test(gp, priors_are_the_documented_botorch_ones)
{
    /* objective(with prior) - objective(without) = sum of log densities of the lengthscales
     * under LogNormal(sqrt2 + log(d)/2, sqrt3) and of the noise under LogNormal(-4, 1) */
    double X[8] = {0.1, 0.2, 0.9, 0.4, 0.5, 0.7, 0.3, 0.95}, y[4] = {0.3, -1, 0.8, 0.1};
    double theta[5] = {log(0.3), log(2.5), log(0.02), -0.1, log(0.8)};
    double lp = 0;
    for (int q = 0; q < 2; q++) {
        double l = exp(theta[q]), mu = sqrt(2) + 0.5 * log(2.0), sg = sqrt(3);
        lp += -log(l * sg * sqrt(2 * M_PI)) - pow(log(l) - mu, 2) / (2 * sg * sg);
    }
    double nz = exp(theta[2]);
    double lpn = -log(nz * sqrt(2 * M_PI)) - pow(log(nz) + 4, 2) / 2;
    for (int kernel = 0; kernel < 2; kernel++) {
        double with = hn_gp_log_objective(X, y, NULL, 4, 2, kernel, theta, NULL, 1);
        double without = hn_gp_log_objective(X, y, NULL, 4, 2, kernel, theta, NULL, 0);
        cr_expect(fabs(with - without - lp - lpn) < 1e-12, "%.15g vs %.15g", with - without,
                  lp + lpn);
        /* every noise fixed: no noise prior */
        double nf[4] = {0.01, 0.02, 0.03, 0.04};
        with = hn_gp_log_objective(X, y, nf, 4, 2, kernel, theta, NULL, 1);
        without = hn_gp_log_objective(X, y, nf, 4, 2, kernel, theta, NULL, 0);
        cr_expect(fabs(with - without - lp) < 1e-12);
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
    double X[36], y[12], fixed[12], mixed[12];
    random_data(&rng, X, y, n, d);
    for (size_t i = 0; i < n; i++) {
        fixed[i] = 0.01 + 0.02 * hn_rng_uniform(&rng);
        mixed[i] = i % 3 == 0 ? NAN : fixed[i]; /* NAN: learned noise */
    }
    double worst = 0;
    for (int kernel = 0; kernel < 2; kernel++) {
        for (int prior = 0; prior < 2; prior++) {
            for (int fix = 0; fix < 3; fix++) {
                double theta[6] = {log(0.3), log(0.7), log(1.5), log(0.05), 0.1, log(1.7)}, g[6];
                const double *nf = fix == 0 ? NULL : fix == 1 ? fixed : mixed;
                double f0 = hn_gp_log_objective(X, y, nf, n, d, kernel, theta, g, prior);
                cr_assert(isfinite(f0));
                if (fix == 1) {
                    cr_expect_eq(g[3], 0, "every noise fixed: no gradient for the learned one");
                }
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
                    cr_expect(diff < 1e-6,
                              "kernel %d prior %d fixed %d theta[%d]: %.10g vs FD %.10g", kernel,
                              prior, fix, q, g[q], fd);
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

static struct hn_gp *without_point(const double *X, const double *y, const double *nv, size_t n,
                                   size_t d, size_t skip, const struct hn_gp_hyper *h)
{
    double Xr[64], yr[16], nr[16];
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        if (j != skip) {
            memcpy(Xr + k * d, X + j * d, d * sizeof(double));
            nr[k] = nv ? nv[j] : 0;
            yr[k++] = y[j];
        }
    }
    struct hn_error err;
    return hn_gp_new_fixed(Xr, yr, nv ? nr : NULL, n - 1, d, HN_GP_MATERN52, h, &err);
}

Test(gp, joint_conditioning_and_loo_agree_with_direct_computations)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 3);
    size_t n = 10, d = 2;
    double X[20], y[10], nv[10];
    random_data(&rng, X, y, n, d);
    for (size_t i = 0; i < n; i++) {
        nv[i] = i % 4 == 1 ? NAN : 0.005 + 0.05 * hn_rng_uniform(&rng);
    }
    struct hn_gp_hyper h = {
        .d = 2, .lengthscale = {0.3, 0.5}, .noise = 0.02, .mean = 0.1, .outputscale = 1.3};
    struct hn_error err;
    /* noise: 0 shared learned noise, 1 per-point with some shared, 2 per-point only */
    for (int noise = 0; noise < 3; noise++) {
        double nvv[10];
        for (size_t i = 0; i < n; i++) {
            nvv[i] = noise == 2 && isnan(nv[i]) ? 0.01 : nv[i];
        }
        const double *pn = noise == 0 ? NULL : nvv;
        struct hn_gp *gp = hn_gp_new_fixed(X, y, pn, n, d, HN_GP_MATERN52, &h, &err);
        cr_assert_not_null(gp, "%s", err.msg);
        double Xs[8] = {0.1, 0.2, 0.5, 0.5, 0.9, 0.3, 0.35, 0.8}, mean[4], var[4], jm[4], cov[16];
        hn_gp_predict(gp, Xs, 4, mean, var, &err);
        cr_assert_eq(hn_gp_predict_joint(gp, Xs, 4, jm, cov, &err), 0);
        for (int i = 0; i < 4; i++) {
            cr_expect(fabs(jm[i] - mean[i]) < 1e-12);
            cr_expect(fabs(cov[i * 4 + i] - var[i]) < 1e-12, "joint diagonal %d: %g vs %g", i,
                      cov[i * 4 + i], var[i]);
            for (int j = 0; j < 4; j++) {
                cr_expect_eq(cov[i * 4 + j], cov[j * 4 + i]);
            }
        }
        /* a sub-joint equals the corresponding block of the bigger joint */
        double two[4] = {Xs[0], Xs[1], Xs[6], Xs[7]}, m2[2], c2[4];
        hn_gp_predict_joint(gp, two, 2, m2, c2, &err);
        cr_expect(fabs(c2[1] - cov[3]) < 1e-12);

        /* conditioning on 3 points (block update) = a fresh GP on the union; the new points
         * get the shared noise, or the mean per-point noise when nothing is shared */
        double ynew[3] = {0.7, -0.4, 0.2};
        struct hn_gp *c = hn_gp_condition(gp, Xs, ynew, 3, &err);
        cr_assert_not_null(c, "%s", err.msg);
        cr_expect_eq(hn_gp_n(c), 13);
        double Xu[26], yu[13], nu[13], mean_fixed = 0;
        memcpy(Xu, X, sizeof(X));
        memcpy(Xu + 20, Xs, 6 * sizeof(double));
        memcpy(yu, y, sizeof(y));
        memcpy(yu + 10, ynew, sizeof(ynew));
        for (size_t i = 0; i < n; i++) {
            nu[i] = nvv[i];
            mean_fixed += nvv[i] / (double)n;
        }
        for (int j = 0; j < 3; j++) {
            nu[10 + j] = noise == 2 ? mean_fixed : NAN;
        }
        struct hn_gp *u =
            hn_gp_new_fixed(Xu, yu, noise == 0 ? NULL : nu, 13, d, HN_GP_MATERN52, &h, &err);
        cr_assert_not_null(u, "%s", err.msg);
        double mc[4], vc[4], mu[4], vu[4];
        hn_gp_predict(c, Xs, 4, mc, vc, &err);
        hn_gp_predict(u, Xs, 4, mu, vu, &err);
        for (int i = 0; i < 4; i++) {
            cr_expect(fabs(mc[i] - mu[i]) < 1e-10 && fabs(vc[i] - vu[i]) < 1e-10,
                      "noise %d point %d: condition %g %g, fresh %g %g", noise, i, mc[i], vc[i],
                      mu[i], vu[i]);
        }
        /* one at a time gives the same as all at once */
        struct hn_gp *c1 = hn_gp_condition(gp, Xs, ynew, 1, &err);
        struct hn_gp *c2b = hn_gp_condition(c1, Xs + 2, ynew + 1, 2, &err);
        cr_assert_not_null(c2b, "%s", err.msg);
        double ms[4], vs[4];
        hn_gp_predict(c2b, Xs, 4, ms, vs, &err);
        for (int i = 0; i < 4; i++) {
            cr_expect(fabs(ms[i] - mc[i]) < 1e-10 && fabs(vs[i] - vc[i]) < 1e-10);
        }
        hn_gp_free(c1);
        hn_gp_free(c2b);
        /* conditioning on nothing changes nothing */
        struct hn_gp *c0 = hn_gp_condition(gp, NULL, NULL, 0, &err);
        cr_assert_not_null(c0, "%s", err.msg);
        hn_gp_predict(c0, Xs, 4, ms, vs, &err);
        cr_expect(fabs(ms[3] - mean[3]) < 1e-12 && fabs(vs[3] - var[3]) < 1e-12);
        hn_gp_free(c0);

        /* LOO by rebuilding without each point (same hyperparameters) */
        double lm[10], lv[10];
        cr_assert_eq(hn_gp_loo(gp, lm, lv, &err), 0);
        for (size_t i = 0; i < n; i++) {
            struct hn_gp *r = without_point(X, y, pn, n, d, i, &h);
            cr_assert_not_null(r);
            double m, v;
            hn_gp_predict(r, X + i * d, 1, &m, &v, &err);
            double ni = pn == NULL || isnan(pn[i]) ? h.noise : pn[i];
            cr_expect(fabs(lm[i] - m) < 1e-9, "LOO mean %zu: %g vs refit %g", i, lm[i], m);
            cr_expect(fabs(lv[i] - (v + ni)) < 1e-9, "LOO var %zu: %g vs %g", i, lv[i], v + ni);
            hn_gp_free(r);
        }
        hn_gp_free(u);
        hn_gp_free(c);
        hn_gp_free(gp);
    }
}

Test(gp, loo_of_a_fitted_log_model_is_in_model_space)
{
    /* a fitted GP standardizes: the closed-form LOO must undo it; compare with a fixed-hyper
     * GP built on the standardized data by hand */
    struct hn_rng rng;
    hn_rng_seed(&rng, 9);
    size_t n = 12, d = 2;
    double X[24], y[12], z[12];
    random_data(&rng, X, y, n, d);
    for (size_t i = 0; i < n; i++) {
        y[i] = exp(y[i]);
    }
    struct hn_gp_options opt;
    hn_gp_options_default(&opt);
    opt.log_transform = 1;
    struct hn_error err;
    struct hn_gp *gp = hn_gp_fit(X, y, NULL, n, d, &opt, &err);
    cr_assert_not_null(gp, "%s", err.msg);
    struct hn_gp_hyper h;
    hn_gp_get_hyper(gp, &h);
    double mu = 0, sd = 0;
    for (size_t i = 0; i < n; i++) {
        mu += log(y[i]) / (double)n;
    }
    for (size_t i = 0; i < n; i++) {
        sd += pow(log(y[i]) - mu, 2) / (double)(n - 1);
    }
    sd = sqrt(sd);
    for (size_t i = 0; i < n; i++) {
        z[i] = (log(y[i]) - mu) / sd;
    }
    cr_expect(fabs(h.y_mean - mu) < 1e-12 && fabs(h.y_scale - sd) < 1e-12,
              "standardization (%g, %g), by hand (%g, %g)", h.y_mean, h.y_scale, mu, sd);
    h.y_mean = h.y_scale = 0; /* z is standardized already */
    double lm[12], lv[12];
    cr_assert_eq(hn_gp_loo(gp, lm, lv, &err), 0);
    for (size_t i = 0; i < n; i++) {
        struct hn_gp *r = without_point(X, z, NULL, n, d, i, &h);
        double m, v;
        hn_gp_predict(r, X + i * d, 1, &m, &v, &err);
        cr_expect(fabs(lm[i] - (m * sd + mu)) < 1e-8, "LOO mean %zu: %g vs %g", i, lm[i],
                  m * sd + mu);
        cr_expect(fabs(lv[i] - (v + h.noise) * sd * sd) < 1e-8, "LOO var %zu", i);
        hn_gp_free(r);
    }
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

Test(gp, fit_is_deterministic_whatever_the_thread_count_and_respects_bounds)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 5);
    size_t n = 30, d = 3;
    double X[90], y[30];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < d; j++) {
            X[i * d + j] = hn_rng_uniform(&rng);
        }
        y[i] = X[i * d] * X[i * d] + X[i * d + 1]; /* noiseless */
    }
    struct hn_gp_options opt;
    hn_gp_options_default(&opt);
    opt.restarts = 6;
    opt.seed = 42;
    struct hn_error err;
    struct hn_gp_hyper h[2];
    for (int t = 0; t < 2; t++) {
        opt.threads = t + 1;
        struct hn_gp *gp = hn_gp_fit(X, y, NULL, n, d, &opt, &err);
        cr_assert_not_null(gp, "%s", err.msg);
        hn_gp_get_hyper(gp, &h[t]);
        hn_gp_free(gp);
    }
    cr_expect(memcmp(h[0].lengthscale, h[1].lengthscale, d * sizeof(double)) == 0 &&
                  h[0].noise == h[1].noise && h[0].mean == h[1].mean &&
                  h[0].outputscale == h[1].outputscale,
              "1 vs 2 threads: the same restarts, the same best");
    /* noiseless data: the noise sits at BoTorch's floor 1e-4, lengthscales >= 0.025 */
    cr_expect(h[0].noise >= 1e-4 && h[0].noise < 1e-3, "noise %g", h[0].noise);
    for (size_t j = 0; j < d; j++) {
        cr_expect(h[0].lengthscale[j] >= 0.025 && h[0].lengthscale[j] <= 1000);
    }
    cr_expect(h[0].lengthscale[2] > 3 * h[0].lengthscale[1], "x3 is irrelevant: %g vs %g",
              h[0].lengthscale[2], h[0].lengthscale[1]);
    /* without a learned output scale it stays 1 (BoTorch's model) */
    opt.learn_outputscale = 0;
    struct hn_gp *gp = hn_gp_fit(X, y, NULL, n, d, &opt, &err);
    cr_assert_not_null(gp, "%s", err.msg);
    struct hn_gp_hyper h1;
    hn_gp_get_hyper(gp, &h1);
    cr_expect_eq(h1.outputscale, 1);
    hn_gp_free(gp);
}

Test(gp, fitted_hyperparameters_are_a_stationary_point_no_neighbour_beats)
{
    /* the optimum of likelihood + priors: zero gradient in every coordinate not at a bound
     * (L-BFGS converged), and no better value on a grid around it */
    struct hn_rng rng;
    hn_rng_seed(&rng, 12);
    size_t n = 25, d = 2;
    double X[50], y[25], z[25];
    random_data(&rng, X, y, n, d);
    for (int kernel = 0; kernel < 2; kernel++) {
        struct hn_gp_options opt;
        hn_gp_options_default(&opt);
        opt.kernel = kernel;
        struct hn_error err;
        struct hn_gp *gp = hn_gp_fit(X, y, NULL, n, d, &opt, &err);
        cr_assert_not_null(gp, "%s", err.msg);
        struct hn_gp_hyper h;
        hn_gp_get_hyper(gp, &h);
        hn_gp_free(gp);
        for (size_t i = 0; i < n; i++) {
            z[i] = (y[i] - h.y_mean) / h.y_scale;
        }
        double theta[5] = {log(h.lengthscale[0]), log(h.lengthscale[1]), log(h.noise), h.mean,
                           log(h.outputscale)},
               g[5];
        double best = hn_gp_log_objective(X, z, NULL, n, d, kernel, theta, g, 1);
        cr_assert(isfinite(best));
        for (int q = 0; q < 5; q++) {
            int at_bound = (q == 2 && h.noise < 1.0001e-4) || (q < 2 && h.lengthscale[q] < 0.0251);
            cr_expect(at_bound || fabs(g[q]) < 1e-2, "kernel %d: gradient[%d] = %g at the optimum",
                      kernel, q, g[q]);
        }
        for (int a = -2; a <= 2; a++) {
            for (int b = -2; b <= 2; b++) {
                double t[5];
                memcpy(t, theta, sizeof(t));
                t[0] += 0.1 * a;
                t[2] += 0.3 * b;
                double v = hn_gp_log_objective(X, z, NULL, n, d, kernel, t, NULL, 1);
                cr_expect(!(v > best + 1e-6), "kernel %d: (%d, %d) gives %g > %g", kernel, a, b, v,
                          best);
            }
        }
    }
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
    /* LOO variance = latent variance + the fixed noise (sem/y)^2 in log space, by the
     * closed form; at the ends the noise is 1e-4 (log units): LOO var > 1e-4 */
    double lm[5], lv[5];
    hn_gp_loo(gp, lm, lv, &err);
    for (int i = 0; i < 5; i++) {
        cr_expect(lv[i] > 1e-4 * 0.999, "LOO var %d = %g includes the fixed noise", i, lv[i]);
    }
    hn_gp_free(gp);
    y[2] = -1;
    cr_expect_null(hn_gp_fit(X, y, NULL, 5, 1, &opt, &err));
    cr_expect(strstr(err.msg, "not positive") != NULL, "%s", err.msg);
}

Test(gp, unknown_standard_errors_share_a_learned_noise)
{
    /* two replicated designs with the same 16 inputs: point i's sem is small, or unknown
     * (NAN) for odd i, or everything ignored with fixed_noise = 0 */
    struct hn_rng rng;
    hn_rng_seed(&rng, 6);
    size_t n = 16;
    double X[16], y[16], sem[16], semnan[16];
    for (size_t i = 0; i < n; i++) {
        X[i] = (double)i / 15;
        y[i] = sin(4 * X[i]) + 0.3 * hn_rng_normal(&rng);
        sem[i] = 0.3;
        semnan[i] = i % 2 ? NAN : 0.3;
    }
    struct hn_gp_options opt;
    hn_gp_options_default(&opt);
    struct hn_error err;
    struct hn_gp_hyper hf, hm, hl;
    struct hn_gp *gp = hn_gp_fit(X, y, sem, n, 1, &opt, &err);
    cr_assert_not_null(gp, "%s", err.msg);
    hn_gp_get_hyper(gp, &hf);
    hn_gp_free(gp);
    gp = hn_gp_fit(X, y, semnan, n, 1, &opt, &err);
    cr_assert_not_null(gp, "%s", err.msg);
    hn_gp_get_hyper(gp, &hm);
    hn_gp_free(gp);
    opt.fixed_noise = 0;
    gp = hn_gp_fit(X, y, sem, n, 1, &opt, &err);
    cr_assert_not_null(gp, "%s", err.msg);
    hn_gp_get_hyper(gp, &hl);
    hn_gp_free(gp);
    cr_expect_eq(hf.noise, 0, "every sem known: nothing learned");
    cr_expect(hm.noise > 1e-3, "half unknown: a learned noise (%g)", hm.noise);
    cr_expect(hl.noise > 1e-3, "fixed_noise = 0: learned (%g)", hl.noise);
    cr_expect(hl.noise != hm.noise);
    /* negative standard errors are refused */
    sem[3] = -1;
    opt.fixed_noise = 1;
    cr_expect_null(hn_gp_fit(X, y, sem, n, 1, &opt, &err));
    cr_expect(strstr(err.msg, "negative") != NULL, "%s", err.msg);
}

Test(gp, get_hyper_then_new_fixed_rebuilds_the_fitted_model)
{
    /* what a saved latency model needs: the fit's hyperparameters and standardization,
     * applied to the model-space data, give the same posterior and LOO */
    struct hn_rng rng;
    hn_rng_seed(&rng, 8);
    size_t n = 14, d = 2;
    double X[28], y[14], sem[14], ylog[14], nv[14];
    random_data(&rng, X, y, n, d);
    for (size_t i = 0; i < n; i++) {
        y[i] = exp(y[i]);
        sem[i] = i % 3 == 0 ? NAN : 0.05 * y[i];
        ylog[i] = log(y[i]);
        nv[i] = isnan(sem[i]) ? NAN : 0.05 * 0.05; /* (sem / y)^2 */
    }
    struct hn_gp_options opt;
    hn_gp_options_default(&opt);
    opt.log_transform = 1;
    struct hn_error err;
    struct hn_gp *gp = hn_gp_fit(X, y, sem, n, d, &opt, &err);
    cr_assert_not_null(gp, "%s", err.msg);
    struct hn_gp_hyper h;
    hn_gp_get_hyper(gp, &h);
    cr_expect(h.y_scale > 0 && h.noise > 0, "scale %g noise %g", h.y_scale, h.noise);
    struct hn_gp *r = hn_gp_new_fixed(X, ylog, nv, n, d, HN_GP_MATERN52, &h, &err);
    cr_assert_not_null(r, "%s", err.msg);
    double Xs[6] = {0.1, 0.9, 0.5, 0.5, 0.77, 0.03}, m1[3], v1[3], m2[3], v2[3];
    hn_gp_predict(gp, Xs, 3, m1, v1, &err);
    hn_gp_predict(r, Xs, 3, m2, v2, &err);
    for (int i = 0; i < 3; i++) {
        cr_expect(fabs(m1[i] - m2[i]) < 1e-10 && fabs(v1[i] - v2[i]) < 1e-10,
                  "point %d: %g %g vs %g %g", i, m1[i], v1[i], m2[i], v2[i]);
    }
    double l1[14], s1[14], l2[14], s2[14];
    hn_gp_loo(gp, l1, s1, &err);
    hn_gp_loo(r, l2, s2, &err);
    for (size_t i = 0; i < n; i++) {
        cr_expect(fabs(l1[i] - l2[i]) < 1e-9 && fabs(s1[i] - s2[i]) < 1e-9);
    }
    cr_expect(fabs(hn_gp_best_mean(gp, 0) - hn_gp_best_mean(r, 0)) < 1e-10);
    hn_gp_free(r);
    hn_gp_free(gp);
}

Test(gp, duplicates_get_jitter_and_bad_data_a_clear_error)
{
    double X[8] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.1, 0.9}, y[4] = {1, 1.0001, 0.9999, 0};
    struct hn_error err;
    struct hn_gp_hyper h = {.d = 2, .lengthscale = {0.5, 0.5}, .noise = 0, .mean = 0};
    /* noise 0 and three equal rows: singular without jitter */
    double theta[5] = {log(0.5), log(0.5), -1000, 0, 0};
    double fixed0[4] = {0, 0, 0, 0};
    cr_expect(isinf(hn_gp_log_objective(X, y, fixed0, 4, 2, HN_GP_RBF, theta, NULL, 0)),
              "the objective itself does not add jitter");
    struct hn_gp *gp = hn_gp_new_fixed(X, y, NULL, 4, 2, HN_GP_RBF, &h, &err);
    cr_assert_not_null(gp, "jitter must rescue exact duplicates: %s", err.msg);
    struct hn_gp_hyper hj;
    hn_gp_get_hyper(gp, &hj);
    cr_expect(hj.jitter >= 1e-8 && hj.jitter <= 1e-2, "jitter %g", hj.jitter);
    double m, v;
    hn_gp_predict(gp, X, 1, &m, &v, &err);
    cr_expect(fabs(m - 1) < 1e-3 && v < 1e-2, "at the duplicates: mean %g var %g", m, v);
    hn_gp_free(gp);
    /* far-apart inputs make a finite (identity-like) matrix, not NaN */
    double Xfar[2] = {1e300, -1e300}, yfar[2] = {1, 2};
    struct hn_gp_hyper h1 = {.d = 1, .lengthscale = {0.5}, .noise = 0.1};
    gp = hn_gp_new_fixed(Xfar, yfar, NULL, 2, 1, HN_GP_MATERN52, &h1, &err);
    cr_assert_not_null(gp, "%s", err.msg);
    hn_gp_get_hyper(gp, &hj);
    cr_expect_eq(hj.jitter, 0);
    cr_expect_null(hn_gp_new_fixed(Xfar, yfar, NULL, 2, 1, (enum hn_gp_kernel)7, &h1, &err));
    cr_expect(strstr(err.msg, "unknown kernel") != NULL, "%s", err.msg);
    hn_gp_free(gp);
    /* hopeless inputs: clean errors, no crash */
    X[3] = NAN;
    cr_expect_null(hn_gp_fit(X, y, NULL, 4, 2, NULL, &err));
    cr_expect(strstr(err.msg, "not finite") != NULL, "%s", err.msg);
    cr_expect_null(hn_gp_new_fixed(X, y, NULL, 4, 2, HN_GP_RBF, &h, &err));
    X[3] = 0.5;
    y[1] = INFINITY;
    cr_expect_null(hn_gp_fit(X, y, NULL, 4, 2, NULL, &err));
    cr_expect(strstr(err.msg, "not finite") != NULL, "%s", err.msg);
    y[1] = 1;
    h.lengthscale[1] = NAN;
    cr_expect_null(hn_gp_new_fixed(X, y, NULL, 4, 2, HN_GP_RBF, &h, &err));
    cr_expect(strstr(err.msg, "lengthscale") != NULL, "%s", err.msg);
    h.lengthscale[1] = 0.5;
    double badnoise[4] = {0.1, -0.1, 0.1, 0.1};
    cr_expect_null(hn_gp_new_fixed(X, y, badnoise, 4, 2, HN_GP_RBF, &h, &err));
    double th_nan[5] = {NAN, 0, 0, 0, 0}, g[5];
    cr_expect(isinf(hn_gp_log_objective(X, y, NULL, 4, 2, HN_GP_MATERN52, th_nan, g, 1)));
    cr_expect_null(hn_gp_fit(X, y, NULL, 0, 2, NULL, &err));
    cr_expect(strstr(err.msg, "no observations") != NULL, "%s", err.msg);
    cr_expect_null(hn_gp_fit(X, y, NULL, 4, 0, NULL, &err));
    gp = hn_gp_new_fixed(X, y, NULL, 4, 2, HN_GP_RBF, &h, &err);
    cr_assert_not_null(gp);
    double xnan[2] = {0.2, NAN}, ynew = 1;
    cr_expect_null(hn_gp_condition(gp, xnan, &ynew, 1, &err));
    cr_expect(strstr(err.msg, "not finite") != NULL, "%s", err.msg);
    hn_gp_free(gp);
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

/* Largest |a - b| over the lower triangles of two n x n column-major matrices, relative to
 * the largest |b|. */
static double lower_rel_diff(const double *a, const double *b, size_t n)
{
    double diff = 0, scale = 0;
    for (size_t j = 0; j < n; j++) {
        for (size_t i = j; i < n; i++) {
            diff = fmax(diff, fabs(a[i + j * n] - b[i + j * n]));
            scale = fmax(scale, fabs(b[i + j * n]));
        }
    }
    return diff / scale;
}

Test(gp, appended_observations_equal_a_fresh_factorization)
{
    /* base sizes below and above the size from which a GP keeps K^-1 (256), so the block
     * update of the factor, of K^-1 and a fresh K^-1 after crossing are all checked */
    static const size_t bases[] = {40, 250, 280};
    size_t total = 300, d = 3;
    double *X = malloc(total * d * sizeof(double)), *y = malloc(total * sizeof(double));
    double *nv = malloc(total * sizeof(double));
    struct hn_rng rng;
    hn_rng_seed(&rng, 21);
    random_data(&rng, X, y, total, d);
    for (size_t i = 0; i < total; i++) {
        nv[i] = i % 3 == 0 ? NAN : 0.002 + 0.01 * hn_rng_uniform(&rng); /* NAN: learned */
    }
    struct hn_gp_hyper h = {.d = 3,
                            .lengthscale = {0.3, 0.5, 0.8},
                            .noise = 0.01,
                            .mean = 0.1,
                            .outputscale = 1.3,
                            .y_mean = 0.4,
                            .y_scale = 1.7};
    struct hn_error err;
    struct hn_gp *fresh = hn_gp_new_fixed(X, y, nv, total, d, HN_GP_MATERN52, &h, &err);
    cr_assert_not_null(fresh, "%s", err.msg);
    for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
        size_t n = bases[b];
        struct hn_gp *base = hn_gp_new_fixed(X, y, nv, n, d, HN_GP_MATERN52, &h, &err);
        cr_assert_not_null(base, "%s", err.msg);
        /* in two steps, so an appended GP is appended to again */
        size_t k1 = (total - n) / 2;
        struct hn_gp *a1 = hn_gp_append(base, X + n * d, y + n, nv + n, k1, &err);
        cr_assert_not_null(a1, "%s", err.msg);
        struct hn_gp *app =
            hn_gp_append(a1, X + (n + k1) * d, y + n + k1, nv + n + k1, total - n - k1, &err);
        cr_assert_not_null(app, "%s", err.msg);
        cr_assert_eq(hn_gp_n(app), total);
        double worst = lower_rel_diff(hn_gp_cholesky(app), hn_gp_cholesky(fresh), total);
        cr_expect(worst <= 1e-10, "base %zu: factor differs by %g (relative)", n, worst);
        /* predictions through L (predict) and through K^-1 (predict_grad) */
        double pm = 0, pv = 0;
        for (int t = 0; t < 10; t++) {
            double x[3] = {hn_rng_uniform(&rng), hn_rng_uniform(&rng), hn_rng_uniform(&rng)};
            double m1, v1, m2, v2, m3, v3, dm[3], dv[3], dmf[3], dvf[3];
            hn_gp_predict(app, x, 1, &m1, &v1, &err);
            hn_gp_predict(fresh, x, 1, &m2, &v2, &err);
            cr_assert_eq(hn_gp_predict_grad(app, x, &m3, &v3, dm, dv, &err), 0);
            hn_gp_predict_grad(fresh, x, NULL, NULL, dmf, dvf, &err);
            pm = fmax(pm, fmax(fabs(m1 - m2), fabs(m3 - m2)) / fmax(1, fabs(m2)));
            pv = fmax(pv, fmax(fabs(v1 - v2), fabs(v3 - v2)) / v2);
            for (int q = 0; q < 3; q++) {
                cr_expect(fabs(dm[q] - dmf[q]) <= 1e-8 * fmax(1, fabs(dmf[q])) &&
                              fabs(dv[q] - dvf[q]) <= 1e-8 * fmax(1, fabs(dvf[q])),
                          "base %zu: gradient %d: %g %g vs fresh %g %g", n, q, dm[q], dv[q], dmf[q],
                          dvf[q]);
            }
        }
        cr_expect(pm <= 1e-10 && pv <= 1e-8, "base %zu: mean differs by %g, variance by %g", n, pm,
                  pv);
        cr_log_info("base %zu + %zu: factor %g, mean %g, variance %g (relative)", n, total - n,
                    worst, pm, pv);
        hn_gp_free(app);
        hn_gp_free(a1);
        hn_gp_free(base);
    }
    hn_gp_free(fresh);
    free(X);
    free(y);
    free(nv);
}

Test(gp, a_warm_started_fit_reaches_the_cold_optimum)
{
    /* cold: 4 restarts from the priors; warm: one start from the fit on the first 50 of the 70
     * points (what gpbo does between anchors); both must end at the same optimum */
    struct hn_rng rng;
    hn_rng_seed(&rng, 8);
    size_t n = 70, d = 3;
    double X[210], y[70];
    random_data(&rng, X, y, n, d);
    struct hn_gp_options opt;
    hn_gp_options_default(&opt);
    struct hn_error err;
    struct hn_gp *cold = hn_gp_fit(X, y, NULL, n, d, &opt, &err);
    struct hn_gp *prev = hn_gp_fit(X, y, NULL, 50, d, &opt, &err);
    cr_assert(cold && prev, "%s", err.msg);
    struct hn_gp_hyper hc, hp, hw;
    hn_gp_get_hyper(cold, &hc);
    hn_gp_get_hyper(prev, &hp);
    opt.start = &hp;
    opt.restarts = 1;
    struct hn_gp *warm = hn_gp_fit(X, y, NULL, n, d, &opt, &err);
    cr_assert_not_null(warm, "%s", err.msg);
    hn_gp_get_hyper(warm, &hw);
    /* the objective at both optima, on the same standardized data */
    double ystd[70], mean = hc.y_mean, scale = hc.y_scale, tc[6], tw[6];
    for (size_t i = 0; i < n; i++) {
        ystd[i] = (y[i] - mean) / scale;
    }
    for (size_t q = 0; q < d; q++) {
        tc[q] = log(hc.lengthscale[q]);
        tw[q] = log(hw.lengthscale[q]);
    }
    tc[3] = log(hc.noise), tc[4] = hc.mean, tc[5] = log(hc.outputscale);
    tw[3] = log(hw.noise), tw[4] = hw.mean, tw[5] = log(hw.outputscale);
    double vc = hn_gp_log_objective(X, ystd, NULL, n, d, HN_GP_MATERN52, tc, NULL, 1);
    double vw = hn_gp_log_objective(X, ystd, NULL, n, d, HN_GP_MATERN52, tw, NULL, 1);
    cr_expect(fabs(vc - vw) <= 1e-5 * fabs(vc), "objective cold %.10g, warm %.10g", vc, vw);
    for (size_t q = 0; q < d; q++) {
        cr_expect(fabs(tc[q] - tw[q]) < 1e-2, "log lengthscale %zu: cold %g, warm %g", q, tc[q],
                  tw[q]);
    }
    /* the start moved (it was the 50-point optimum, not already this one) */
    cr_expect(fabs(log(hp.lengthscale[0]) - tw[0]) > 1e-4 || fabs(hp.noise - hw.noise) > 1e-6);
    hn_gp_free(cold);
    hn_gp_free(prev);
    hn_gp_free(warm);
}
