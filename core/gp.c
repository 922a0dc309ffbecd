/*
 * hilnas: exact Gaussian-process regression (see include/hilnas/gp.h).
 *
 * Notation: K = Kf + noise (standardized units), Kf the kernel matrix with unit output scale,
 * L its lower Cholesky factor (column-major), r = ystd - c, alpha = K^-1 r.
 *   log p(y) = -1/2 r'alpha - sum log L_ii - n/2 log(2 pi)
 *   d/dtheta = 1/2 tr((alpha alpha' - K^-1) dK/dtheta),  d/dc = 1' alpha
 * Matern-5/2 with rho = sqrt(sum_i (dx_i / l_i)^2):
 *   k = (1 + sqrt5 rho + 5/3 rho^2) exp(-sqrt5 rho)
 *   dk/dlog l_i = 5/3 (1 + sqrt5 rho) exp(-sqrt5 rho) s_i,  s_i = (dx_i / l_i)^2
 *   dk/dx_i     = -5/3 (1 + sqrt5 rho) exp(-sqrt5 rho) dx_i / l_i^2
 * RBF: k = exp(-rho^2 / 2), dk/dlog l_i = k s_i, dk/dx_i = -k dx_i / l_i^2.
 */
#include "config.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <nlopt.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/gp.h"
#include "hilnas/rng.h"

#define SQRT5 2.23606797749979
#define LOG_2PI 1.8378770664093453
#define LS_MIN 0.005
#define LS_MAX 200.0
#define NOISE_MIN 1e-6
#define NOISE_MAX 4.0
#define MEAN_BOUND 3.0
#define OS_MIN 0.05
#define OS_MAX 20.0

struct hn_gp {
    size_t n, d;
    enum hn_gp_kernel kernel;
    int log_transform;
    double *X;        /* n x d */
    double *y_model;  /* n, model space */
    double *ystd;     /* n, standardized */
    double *noise_fixed; /* n standardized variances, or NULL (learned noise) */
    double y_mean, y_scale;
    struct hn_gp_hyper h;
    double *L;        /* n x n column-major lower Cholesky factor of K */
    double *alpha;    /* K^-1 (ystd - c) */
};

/* ---- normal distribution helpers ---- */

double hn_norm_pdf(double z)
{
    return exp(-0.5 * z * z) / sqrt(2 * M_PI);
}

double hn_norm_cdf(double z)
{
    return 0.5 * erfc(-z / M_SQRT2);
}

/* erfcx(x) = exp(x^2) erfc(x) for x >= 0 without overflow. */
static double erfcx_pos(double x)
{
    if (x < 26) {
        return exp(x * x) * erfc(x);
    }
    double x2 = x * x;
    return (1 - 1 / (2 * x2) + 3 / (4 * x2 * x2) - 15 / (8 * x2 * x2 * x2)) / (x * sqrt(M_PI));
}

double hn_norm_logcdf(double z)
{
    if (z > -5) {
        return log(hn_norm_cdf(z));
    }
    /* Phi(z) = 1/2 erfcx(-z/sqrt2) exp(-z^2/2) */
    return log(0.5 * erfcx_pos(-z / M_SQRT2)) - 0.5 * z * z;
}

static double log1mexp(double a)
{
    return a > -M_LN2 ? log(-expm1(a)) : log1p(-exp(a));
}

double hn_log_h(double z)
{
    if (z > -1) {
        return log(hn_norm_pdf(z) + z * hn_norm_cdf(z));
    }
    double az = -z;
    return -0.5 * z * z - 0.5 * LOG_2PI +
           log1mexp(log(erfcx_pos(az / M_SQRT2) * az) + 0.5 * log(M_PI / 2));
}

/* ---- kernel ---- */

/* k(a, b) and, if dk_ds != NULL, the common factor f such that dk/dlog l_i = f s_i and
 * dk/dx_i = -f dx_i / l_i^2 (see the file comment). */
static double kern(const double *a, const double *b, const double *inv_l2, size_t d,
                   enum hn_gp_kernel kernel, double *factor)
{
    double rho2 = 0;
    for (size_t i = 0; i < d; i++) {
        double dx = a[i] - b[i];
        rho2 += dx * dx * inv_l2[i];
    }
    if (kernel == HN_GP_RBF) {
        double k = exp(-0.5 * rho2);
        if (factor) {
            *factor = k;
        }
        return k;
    }
    double rho = sqrt(rho2), e = exp(-SQRT5 * rho);
    if (factor) {
        *factor = (5.0 / 3.0) * (1 + SQRT5 * rho) * e;
    }
    return (1 + SQRT5 * rho + (5.0 / 3.0) * rho2) * e;
}

static void inv_sq(const double *ls, size_t d, double *inv_l2)
{
    for (size_t i = 0; i < d; i++) {
        inv_l2[i] = 1.0 / (ls[i] * ls[i]);
    }
}

/* K (column-major) = Kf + diag(noise). noise_fixed may be NULL (then noise is used). */
static void build_K(const double *X, size_t n, size_t d, enum hn_gp_kernel kernel,
                    const double *inv_l2, double os, double noise, const double *noise_fixed,
                    double *K)
{
    for (size_t j = 0; j < n; j++) {
        K[j + j * n] = os + (noise_fixed ? noise_fixed[j] : noise);
        for (size_t i = j + 1; i < n; i++) {
            double k = os * kern(X + i * d, X + j * d, inv_l2, d, kernel, NULL);
            K[i + j * n] = k;
            K[j + i * n] = k;
        }
    }
}

/* Cholesky in place (lower); on failure retry with jitter up to 1e-2 of the mean diagonal if
 * escalate, else fail. Returns the jitter used, or -1. */
static double cholesky(double *K, size_t n, int escalate)
{
    double *copy = NULL;
    if (escalate) {
        copy = malloc(n * n * sizeof(double));
        if (copy == NULL) {
            return -1;
        }
        memcpy(copy, K, n * n * sizeof(double));
    }
    double diag = 0;
    for (size_t i = 0; i < n; i++) {
        diag += K[i + i * n];
    }
    diag /= (double)n;
    double jitter = 0;
    for (int attempt = 0;; attempt++) {
        if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, K, (lapack_int)n) == 0) {
            free(copy);
            return jitter;
        }
        if (!escalate || attempt >= 7) {
            free(copy);
            return -1;
        }
        jitter = diag * pow(10.0, -8 + attempt);
        memcpy(K, copy, n * n * sizeof(double));
        for (size_t i = 0; i < n; i++) {
            K[i + i * n] += jitter;
        }
    }
}

/* ---- fitting objective ---- */

struct lognormal {
    double mu, sigma;
};

static double lognormal_logpdf_theta(struct lognormal p, double theta, double *dtheta)
{
    /* log density of l = exp(theta) under LogNormal(mu, sigma), as a function of theta */
    double z = (theta - p.mu) / p.sigma;
    if (dtheta) {
        *dtheta = -1 - z / p.sigma;
    }
    return -theta - log(p.sigma * sqrt(2 * M_PI)) - 0.5 * z * z;
}

static struct lognormal ls_prior(size_t d)
{
    struct lognormal p = {M_SQRT2 + 0.5 * log((double)d), sqrt(3.0)};
    return p;
}

static const struct lognormal noise_prior = {-4.0, 1.0};

double hn_gp_log_objective(const double *X, const double *ystd, const double *noise_fixed,
                           size_t n, size_t d, enum hn_gp_kernel kernel, const double *theta,
                           double *grad, int with_prior)
{
    double ls[HN_GP_MAX_DIM], inv_l2[HN_GP_MAX_DIM];
    for (size_t i = 0; i < d; i++) {
        ls[i] = exp(theta[i]);
    }
    inv_sq(ls, d, inv_l2);
    double noise = noise_fixed ? 0 : exp(theta[d]);
    double c = theta[d + 1];
    double os = exp(theta[d + 2]);
    double *K = malloc(n * n * sizeof(double));
    double *alpha = malloc(n * sizeof(double));
    if (K == NULL || alpha == NULL) {
        free(K);
        free(alpha);
        return -INFINITY;
    }
    build_K(X, n, d, kernel, inv_l2, os, noise, noise_fixed, K);
    if (cholesky(K, n, 0) < 0) {
        free(K);
        free(alpha);
        return -INFINITY;
    }
    for (size_t i = 0; i < n; i++) {
        alpha[i] = ystd[i] - c;
    }
    double quad = 0;
    LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', (lapack_int)n, 1, K, (lapack_int)n, alpha,
                   (lapack_int)n);
    for (size_t i = 0; i < n; i++) {
        quad += (ystd[i] - c) * alpha[i];
    }
    double logdet = 0;
    for (size_t i = 0; i < n; i++) {
        logdet += log(K[i + i * n]);
    }
    double value = -0.5 * quad - logdet - 0.5 * (double)n * LOG_2PI;
    if (grad != NULL) {
        memset(grad, 0, (d + 3) * sizeof(double));
        /* K now holds L; K^-1 from it (lower triangle), W = alpha alpha' - K^-1 */
        LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', (lapack_int)n, K, (lapack_int)n);
        double trace_w = 0, wk = 0;
        for (size_t j = 0; j < n; j++) {
            trace_w += alpha[j] * alpha[j] - K[j + j * n];
            for (size_t i = j + 1; i < n; i++) {
                double w = alpha[i] * alpha[j] - K[i + j * n];
                double f;
                double k = kern(X + i * d, X + j * d, inv_l2, d, kernel, &f);
                wk += w * k;
                /* off-diagonal pairs count twice in the trace; times 1/2 */
                for (size_t q = 0; q < d; q++) {
                    double dx = X[i * d + q] - X[j * d + q];
                    grad[q] += w * os * f * dx * dx * inv_l2[q];
                }
            }
        }
        grad[d] = noise_fixed ? 0 : 0.5 * trace_w * noise;
        /* dK/dlog os = os Kf: 1/2 tr(W os Kf) = os (1/2 sum_j W_jj + sum_{i>j} W_ij k_ij) */
        grad[d + 2] = os * (0.5 * trace_w + wk);
        double sa = 0;
        for (size_t i = 0; i < n; i++) {
            sa += alpha[i];
        }
        grad[d + 1] = sa;
    }
    if (with_prior) {
        struct lognormal lp = ls_prior(d);
        for (size_t q = 0; q < d; q++) {
            double g;
            value += lognormal_logpdf_theta(lp, theta[q], &g);
            if (grad) {
                grad[q] += g;
            }
        }
        if (!noise_fixed) {
            double g;
            value += lognormal_logpdf_theta(noise_prior, theta[d], &g);
            if (grad) {
                grad[d] += g;
            }
        }
    }
    free(K);
    free(alpha);
    return value;
}

/* ---- model construction ---- */

void hn_gp_options_default(struct hn_gp_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->kernel = HN_GP_MATERN52;
    opt->restarts = 4;
    opt->use_priors = 1;
    opt->learn_outputscale = 1;
}

void hn_gp_free(struct hn_gp *gp)
{
    if (gp == NULL) {
        return;
    }
    free(gp->X);
    free(gp->y_model);
    free(gp->ystd);
    free(gp->noise_fixed);
    free(gp->L);
    free(gp->alpha);
    free(gp);
}

size_t hn_gp_dim(const struct hn_gp *gp)
{
    return gp->d;
}

size_t hn_gp_n(const struct hn_gp *gp)
{
    return gp->n;
}

void hn_gp_get_hyper(const struct hn_gp *gp, struct hn_gp_hyper *h)
{
    *h = gp->h;
}

static struct hn_gp *gp_alloc(size_t n, size_t d, int fixed)
{
    struct hn_gp *gp = calloc(1, sizeof(*gp));
    if (gp == NULL) {
        return NULL;
    }
    gp->n = n;
    gp->d = d;
    gp->X = malloc(n * d * sizeof(double));
    gp->y_model = malloc(n * sizeof(double));
    gp->ystd = malloc(n * sizeof(double));
    gp->noise_fixed = fixed ? malloc(n * sizeof(double)) : NULL;
    gp->L = malloc(n * n * sizeof(double));
    gp->alpha = malloc(n * sizeof(double));
    if (gp->X == NULL || gp->y_model == NULL || gp->ystd == NULL || gp->L == NULL ||
        gp->alpha == NULL || (fixed && gp->noise_fixed == NULL)) {
        hn_gp_free(gp);
        return NULL;
    }
    return gp;
}

/* Factor K and solve for alpha with the GP's hyperparameters. */
static int gp_factor(struct hn_gp *gp, struct hn_error *err)
{
    double inv_l2[HN_GP_MAX_DIM];
    inv_sq(gp->h.lengthscale, gp->d, inv_l2);
    build_K(gp->X, gp->n, gp->d, gp->kernel, inv_l2, gp->h.outputscale, gp->h.noise,
            gp->noise_fixed, gp->L);
    if (cholesky(gp->L, gp->n, 1) < 0) {
        return hn_error_set(err, NULL,
                            "GP: the kernel matrix of %zu points is not positive definite even "
                            "with jitter (duplicate inputs with conflicting outputs, or "
                            "non-finite data?)",
                            gp->n);
    }
    for (size_t i = 0; i < gp->n; i++) {
        gp->alpha[i] = gp->ystd[i] - gp->h.mean;
    }
    LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', (lapack_int)gp->n, 1, gp->L, (lapack_int)gp->n,
                   gp->alpha, (lapack_int)gp->n);
    return 0;
}

static int check_inputs(const double *X, size_t n, size_t d, struct hn_error *err)
{
    if (n == 0) {
        return hn_error_set(err, NULL, "GP: no observations to fit");
    }
    if (d == 0 || d > HN_GP_MAX_DIM) {
        return hn_error_set(err, NULL, "GP: input dimension %zu is outside 1..%d", d,
                            HN_GP_MAX_DIM);
    }
    for (size_t i = 0; i < n * d; i++) {
        if (!isfinite(X[i])) {
            return hn_error_set(err, NULL, "GP: input %zu, coordinate %zu is not finite", i / d,
                                i % d);
        }
    }
    return 0;
}

struct hn_gp *hn_gp_new_fixed(const double *X, const double *y, const double *noise_var,
                              size_t n, size_t d, enum hn_gp_kernel kernel,
                              const struct hn_gp_hyper *hyper, struct hn_error *err)
{
    if (check_inputs(X, n, d, err) != 0) {
        return NULL;
    }
    struct hn_gp *gp = gp_alloc(n, d, noise_var != NULL);
    if (gp == NULL) {
        hn_error_set(err, NULL, "GP: out of memory");
        return NULL;
    }
    gp->kernel = kernel;
    gp->h = *hyper;
    gp->h.d = d;
    if (!(gp->h.outputscale > 0)) {
        gp->h.outputscale = 1; /* unset: unit output scale */
    }
    gp->y_mean = 0;
    gp->y_scale = 1;
    memcpy(gp->X, X, n * d * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        gp->y_model[i] = y[i];
        gp->ystd[i] = y[i];
        if (noise_var) {
            gp->noise_fixed[i] = noise_var[i];
        }
    }
    if (gp_factor(gp, err) != 0) {
        hn_gp_free(gp);
        return NULL;
    }
    return gp;
}

struct fit_data {
    const double *X, *ystd, *noise_fixed;
    size_t n, d;
    enum hn_gp_kernel kernel;
    int prior;
    double best;
    double best_theta[HN_GP_MAX_DIM + 3];
};

static double fit_objective(unsigned dim, const double *theta, double *grad, void *data)
{
    struct fit_data *f = data;
    double v = hn_gp_log_objective(f->X, f->ystd, f->noise_fixed, f->n, f->d, f->kernel, theta,
                                   grad, f->prior);
    if (!isfinite(v)) {
        if (grad) {
            memset(grad, 0, dim * sizeof(double));
        }
        return -1e300;
    }
    if (v > f->best) {
        f->best = v;
        memcpy(f->best_theta, theta, dim * sizeof(double));
    }
    return v;
}

struct hn_gp *hn_gp_fit(const double *X, const double *y, const double *sem, size_t n, size_t d,
                        const struct hn_gp_options *opt, struct hn_error *err)
{
    struct hn_gp_options defaults;
    if (opt == NULL) {
        hn_gp_options_default(&defaults);
        opt = &defaults;
    }
    if (check_inputs(X, n, d, err) != 0) {
        return NULL;
    }
    int fixed = sem != NULL;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i]) || (opt->log_transform && !(y[i] > 0))) {
            hn_error_set(err, NULL, "GP: observation %zu (%g) is %s", i, y[i],
                         isfinite(y[i]) ? "not positive, but the metric is modelled in log space"
                                        : "not finite");
            return NULL;
        }
        fixed &= sem != NULL && isfinite(sem[i]) && sem[i] >= 0;
    }
    struct hn_gp *gp = gp_alloc(n, d, fixed);
    if (gp == NULL) {
        hn_error_set(err, NULL, "GP: out of memory");
        return NULL;
    }
    gp->kernel = opt->kernel;
    gp->log_transform = opt->log_transform;
    memcpy(gp->X, X, n * d * sizeof(double));
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++) {
        gp->y_model[i] = opt->log_transform ? log(y[i]) : y[i];
        mean += gp->y_model[i];
    }
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        var += (gp->y_model[i] - mean) * (gp->y_model[i] - mean);
    }
    double scale = n > 1 ? sqrt(var / (double)(n - 1)) : 1;
    if (!(scale > 1e-12 * fmax(1, fabs(mean)))) {
        scale = 1; /* constant outputs */
    }
    gp->y_mean = mean;
    gp->y_scale = scale;
    for (size_t i = 0; i < n; i++) {
        gp->ystd[i] = (gp->y_model[i] - mean) / scale;
        if (fixed) {
            double s = opt->log_transform ? sem[i] / y[i] : sem[i];
            gp->noise_fixed[i] = fmax(s * s / (scale * scale), 1e-10);
        }
    }

    /* hyperparameters: theta = [log l (d), log noise, c] */
    unsigned dim = (unsigned)d + 3;
    double lb[HN_GP_MAX_DIM + 3], ub[HN_GP_MAX_DIM + 3], theta[HN_GP_MAX_DIM + 3];
    struct lognormal lp = ls_prior(d);
    for (size_t i = 0; i < d; i++) {
        lb[i] = log(LS_MIN);
        ub[i] = log(LS_MAX);
    }
    lb[d] = log(NOISE_MIN);
    ub[d] = log(NOISE_MAX);
    lb[d + 1] = -MEAN_BOUND;
    ub[d + 1] = MEAN_BOUND;
    lb[d + 2] = log(OS_MIN);
    ub[d + 2] = opt->learn_outputscale ? log(OS_MAX) : log(OS_MIN);
    if (!opt->learn_outputscale) {
        lb[d + 2] = ub[d + 2] = 0; /* unit output scale */
    }
    if (fixed) {
        lb[d] = ub[d] = log(NOISE_MIN);
    }
    struct fit_data fd = {.X = gp->X,
                          .ystd = gp->ystd,
                          .noise_fixed = fixed ? gp->noise_fixed : NULL,
                          .n = n,
                          .d = d,
                          .kernel = opt->kernel,
                          .prior = opt->use_priors,
                          .best = -INFINITY};
    int threads = openblas_get_num_threads();
    if (threads > 1) {
        openblas_set_num_threads(1);
    }
    struct hn_rng rng;
    hn_rng_seed(&rng, hn_rng_derive(opt->seed, 0x6770 /* "gp" */));
    int restarts = opt->restarts > 0 ? opt->restarts : 1;
    nlopt_opt nl = nlopt_create(NLOPT_LD_LBFGS, dim);
    if (nl == NULL) {
        hn_gp_free(gp);
        if (threads > 1) {
            openblas_set_num_threads(threads);
        }
        hn_error_set(err, NULL, "GP: cannot create the NLopt optimizer");
        return NULL;
    }
    nlopt_set_lower_bounds(nl, lb);
    nlopt_set_upper_bounds(nl, ub);
    nlopt_set_max_objective(nl, fit_objective, &fd);
    nlopt_set_ftol_rel(nl, 1e-9);
    nlopt_set_xtol_rel(nl, 1e-7);
    nlopt_set_maxeval(nl, 300);
    for (int r = 0; r < restarts; r++) {
        for (size_t i = 0; i < d; i++) {
            double t = r == 0 ? lp.mu : lp.mu + lp.sigma * hn_rng_normal(&rng);
            theta[i] = fmin(ub[i], fmax(lb[i], t));
        }
        double tn = r == 0 ? noise_prior.mu : noise_prior.mu + hn_rng_normal(&rng);
        theta[d] = fixed ? lb[d] : fmin(ub[d], fmax(lb[d], tn));
        theta[d + 1] = 0;
        theta[d + 2] = 0;
        double value;
        nlopt_optimize(nl, theta, &value); /* fd.best tracks the best point whatever it says */
    }
    nlopt_destroy(nl);
    if (!isfinite(fd.best)) {
        /* every start failed: fall back to the prior's mode with jitter in gp_factor */
        for (size_t i = 0; i < d; i++) {
            fd.best_theta[i] = fmin(ub[i], fmax(lb[i], lp.mu));
        }
        fd.best_theta[d] = fixed ? lb[d] : noise_prior.mu;
        fd.best_theta[d + 1] = 0;
        fd.best_theta[d + 2] = 0;
    }
    gp->h.d = d;
    for (size_t i = 0; i < d; i++) {
        gp->h.lengthscale[i] = exp(fd.best_theta[i]);
    }
    gp->h.noise = fixed ? 0 : exp(fd.best_theta[d]);
    gp->h.mean = fd.best_theta[d + 1];
    gp->h.outputscale = exp(fd.best_theta[d + 2]);
    int rc = gp_factor(gp, err);
    if (threads > 1) {
        openblas_set_num_threads(threads);
    }
    if (rc != 0) {
        hn_gp_free(gp);
        return NULL;
    }
    return gp;
}

/* ---- prediction ---- */

int hn_gp_predict(const struct hn_gp *gp, const double *Xs, size_t m, double *mean, double *var,
                  struct hn_error *err)
{
    double inv_l2[HN_GP_MAX_DIM];
    inv_sq(gp->h.lengthscale, gp->d, inv_l2);
    double *k = malloc(gp->n * sizeof(double));
    if (k == NULL) {
        return hn_error_set(err, NULL, "GP: out of memory");
    }
    for (size_t s = 0; s < m; s++) {
        const double *x = Xs + s * gp->d;
        double mu = gp->h.mean;
        for (size_t i = 0; i < gp->n; i++) {
            k[i] = gp->h.outputscale * kern(x, gp->X + i * gp->d, inv_l2, gp->d, gp->kernel, NULL);
            mu += k[i] * gp->alpha[i];
        }
        if (mean) {
            mean[s] = mu * gp->y_scale + gp->y_mean;
        }
        if (var) {
            cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)gp->n, gp->L,
                        (int)gp->n, k, 1);
            double v = gp->h.outputscale - cblas_ddot((int)gp->n, k, 1, k, 1);
            var[s] = fmax(v, 1e-12) * gp->y_scale * gp->y_scale;
        }
    }
    free(k);
    return 0;
}

int hn_gp_predict_grad(const struct hn_gp *gp, const double *x, double *mean, double *var,
                       double *dmean, double *dvar, struct hn_error *err)
{
    size_t n = gp->n, d = gp->d;
    double inv_l2[HN_GP_MAX_DIM];
    inv_sq(gp->h.lengthscale, d, inv_l2);
    double *k = malloc(n * sizeof(double)), *f = malloc(n * sizeof(double)),
           *w = malloc(n * sizeof(double));
    if (k == NULL || f == NULL || w == NULL) {
        free(k);
        free(f);
        free(w);
        return hn_error_set(err, NULL, "GP: out of memory");
    }
    double mu = gp->h.mean;
    double os = gp->h.outputscale;
    for (size_t i = 0; i < n; i++) {
        k[i] = os * kern(x, gp->X + i * d, inv_l2, d, gp->kernel, &f[i]);
        f[i] *= os;
        mu += k[i] * gp->alpha[i];
    }
    /* w = K^-1 k via the factor; v = L^-1 k gives the variance */
    memcpy(w, k, n * sizeof(double));
    cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)n, gp->L, (int)n, w,
                1);
    double vv = os - cblas_ddot((int)n, w, 1, w, 1);
    cblas_dtrsv(CblasColMajor, CblasLower, CblasTrans, CblasNonUnit, (int)n, gp->L, (int)n, w, 1);
    double s2 = gp->y_scale * gp->y_scale;
    if (mean) {
        *mean = mu * gp->y_scale + gp->y_mean;
    }
    if (var) {
        *var = fmax(vv, 1e-12) * s2;
    }
    for (size_t q = 0; q < d; q++) {
        double gm = 0, gv = 0;
        for (size_t i = 0; i < n; i++) {
            double dk = -f[i] * (x[q] - gp->X[i * d + q]) * inv_l2[q];
            gm += gp->alpha[i] * dk;
            gv += w[i] * dk;
        }
        if (dmean) {
            dmean[q] = gm * gp->y_scale;
        }
        if (dvar) {
            dvar[q] = vv > 1e-12 ? -2 * gv * s2 : 0;
        }
    }
    free(k);
    free(f);
    free(w);
    return 0;
}

int hn_gp_predict_joint(const struct hn_gp *gp, const double *Xs, size_t m, double *mean,
                        double *cov, struct hn_error *err)
{
    size_t n = gp->n, d = gp->d;
    double inv_l2[HN_GP_MAX_DIM];
    inv_sq(gp->h.lengthscale, d, inv_l2);
    double *V = malloc(n * m * sizeof(double)); /* n x m column-major: K(X, Xs) */
    if (V == NULL) {
        return hn_error_set(err, NULL, "GP: out of memory");
    }
    for (size_t s = 0; s < m; s++) {
        double mu = gp->h.mean;
        for (size_t i = 0; i < n; i++) {
            V[i + s * n] =
                gp->h.outputscale * kern(Xs + s * d, gp->X + i * d, inv_l2, d, gp->kernel, NULL);
            mu += V[i + s * n] * gp->alpha[i];
        }
        mean[s] = mu * gp->y_scale + gp->y_mean;
    }
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, (int)n, (int)m,
                1.0, gp->L, (int)n, V, (int)n);
    for (size_t b = 0; b < m; b++) {
        for (size_t a = b; a < m; a++) {
            double kab = gp->h.outputscale * kern(Xs + a * d, Xs + b * d, inv_l2, d, gp->kernel, NULL);
            double c = kab - cblas_ddot((int)n, V + a * n, 1, V + b * n, 1);
            if (a == b) {
                c = fmax(c, 1e-12);
            }
            cov[a + b * m] = cov[b + a * m] = c * gp->y_scale * gp->y_scale;
        }
    }
    free(V);
    return 0;
}

struct hn_gp *hn_gp_condition(const struct hn_gp *gp, const double *Xnew, const double *ynew,
                              size_t k, struct hn_error *err)
{
    size_t n = gp->n + k, d = gp->d;
    if (check_inputs(Xnew, k ? k : 1, d, err) != 0 && k > 0) {
        return NULL;
    }
    struct hn_gp *c = gp_alloc(n, d, gp->noise_fixed != NULL);
    if (c == NULL) {
        hn_error_set(err, NULL, "GP: out of memory");
        return NULL;
    }
    c->kernel = gp->kernel;
    c->log_transform = gp->log_transform;
    c->h = gp->h;
    c->y_mean = gp->y_mean;
    c->y_scale = gp->y_scale;
    memcpy(c->X, gp->X, gp->n * d * sizeof(double));
    memcpy(c->X + gp->n * d, Xnew, k * d * sizeof(double));
    double min_fixed = INFINITY;
    for (size_t i = 0; i < gp->n; i++) {
        c->y_model[i] = gp->y_model[i];
        c->ystd[i] = gp->ystd[i];
        if (gp->noise_fixed) {
            c->noise_fixed[i] = gp->noise_fixed[i];
            min_fixed = fmin(min_fixed, gp->noise_fixed[i]);
        }
    }
    for (size_t j = 0; j < k; j++) {
        c->y_model[gp->n + j] = ynew[j];
        c->ystd[gp->n + j] = (ynew[j] - gp->y_mean) / gp->y_scale;
        if (gp->noise_fixed) {
            c->noise_fixed[gp->n + j] = min_fixed;
        }
    }
    if (gp_factor(c, err) != 0) {
        hn_gp_free(c);
        return NULL;
    }
    return c;
}

double hn_gp_best_mean(const struct hn_gp *gp, int maximize)
{
    double best = maximize ? -INFINITY : INFINITY;
    double *mean = malloc(gp->n * sizeof(double));
    if (mean == NULL || hn_gp_predict(gp, gp->X, gp->n, mean, NULL, NULL) != 0) {
        free(mean);
        return NAN;
    }
    for (size_t i = 0; i < gp->n; i++) {
        best = maximize ? fmax(best, mean[i]) : fmin(best, mean[i]);
    }
    free(mean);
    return best;
}

int hn_gp_loo(const struct hn_gp *gp, double *loo_mean, double *loo_var, struct hn_error *err)
{
    size_t n = gp->n;
    double *Kinv = malloc(n * n * sizeof(double));
    if (Kinv == NULL) {
        return hn_error_set(err, NULL, "GP: out of memory");
    }
    memcpy(Kinv, gp->L, n * n * sizeof(double));
    if (LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', (lapack_int)n, Kinv, (lapack_int)n) != 0) {
        free(Kinv);
        return hn_error_set(err, NULL, "GP: cannot invert the kernel matrix");
    }
    for (size_t i = 0; i < n; i++) {
        double kii = Kinv[i + i * n];
        double m = gp->ystd[i] - gp->alpha[i] / kii;
        loo_mean[i] = m * gp->y_scale + gp->y_mean;
        loo_var[i] = gp->y_scale * gp->y_scale / kii;
    }
    free(Kinv);
    return 0;
}
