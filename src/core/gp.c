/*
 * hilnas: exact Gaussian-process regression (see include/hilnas/gp.h for the model).
 *
 * Notation (standardized units): Kf the unit-variance kernel matrix, s the output scale,
 * N = diag(noise_i), K = s Kf + N, L its lower Cholesky factor (column-major), c the constant
 * mean, r = ystd - c, alpha = K^-1 r, W = alpha alpha' - K^-1.
 *   log p(y)        = -1/2 r'alpha - sum_i log L_ii - n/2 log(2 pi)
 *   d/dtheta        = 1/2 tr(W dK/dtheta)
 *   d/dc            = 1' alpha
 *   d/dlog noise    = 1/2 noise sum_{i learned} W_ii
 *   d/dlog s        = 1/2 tr(W (K - N)) = 1/2 (r'alpha - n - sum_i W_ii noise_i)
 *                     (tr(W K) = alpha'K alpha - tr(I) = r'alpha - n)
 * Matern-5/2 with rho = sqrt(sum_i (dx_i / l_i)^2):
 *   k = (1 + sqrt5 rho + 5/3 rho^2) exp(-sqrt5 rho)
 *   dk/dlog l_i = f s_i,  dk/dx_i = -f dx_i / l_i^2,  s_i = (dx_i / l_i)^2,
 *   f = 5/3 (1 + sqrt5 rho) exp(-sqrt5 rho)
 * RBF: k = exp(-rho^2 / 2), f = k.
 * So d/dlog l_q = sum_{i>j} W_ij s f_ij dx_ijq^2 / l_q^2 (each off-diagonal pair twice, times
 * 1/2; the diagonal does not depend on l).
 */
#include "config.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <nlopt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/gp.h"
#include "hilnas/rng.h"

#define SQRT5 2.23606797749979
#define LOG_2PI 1.8378770664093453
#define LS_MIN 0.025 /* BoTorch's lengthscale lower bound */
#define LS_MAX 1000.0
#define NOISE_MIN 1e-4 /* BoTorch's MIN_INFERRED_NOISE_LEVEL */
#define NOISE_MAX 10.0
#define FIXED_NOISE_MIN 1e-6 /* GPyTorch's smallest fixed noise for doubles */
#define MEAN_BOUND 3.0
#define OS_MIN 0.05
#define OS_MAX 20.0
#define NTHETA_MAX (HN_GP_MAX_DIM + 3)
#define PRED_BLOCK 64
/* From this many points a GP keeps K^-1 for predict_grad (one symv, measured 1.9-3x faster
 * than two triangular solves at n = 500-1000); below, two solves with L, which are exact to
 * rounding where K^-1 loses digits to cond(K) (near observed points, tiny variances). */
#define KINV_MIN 256

struct hn_gp {
    size_t n, d;
    enum hn_gp_kernel kernel;
    double *X;         /* n x d row-major */
    double *y_model;   /* n, model space */
    double *ystd;      /* n, standardized */
    double *noise_obs; /* n standardized noise variances, NAN = learned (h.noise); or NULL */
    int any_learned;   /* some point uses h.noise */
    double y_mean, y_scale;
    struct hn_gp_hyper h;
    double *L;     /* n x n column-major, lower triangle: Cholesky factor of K (+ jitter) */
    double *Kinv;  /* n x n column-major, lower triangle: K^-1 (one symv per predict_grad) */
    double *alpha; /* K^-1 (ystd - c) */
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

/* Unit-variance k(a, b); if factor != NULL also f (see the file comment). */
static double kern(const double *a, const double *b, const double *inv_l2, size_t d,
                   enum hn_gp_kernel kernel, double *factor)
{
    double rho2 = 0;
    for (size_t i = 0; i < d; i++) {
        double dx = a[i] - b[i];
        rho2 += dx * dx * inv_l2[i];
    }
    if (isinf(rho2)) {
        /* far apart (inputs far outside the unit cube): k -> 0; Matern would give inf * 0 */
        if (factor) {
            *factor = 0;
        }
        return 0;
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

static double point_noise(const double *noise_obs, size_t i, double learned)
{
    return noise_obs == NULL || isnan(noise_obs[i]) ? learned : noise_obs[i];
}

/* K (n x n column-major, lower triangle and diagonal) = s Kf + N; F (same layout, may be NULL)
 * gets the factors f of the unit kernel for the gradient. */
static void build_K(const double *X, size_t n, size_t d, enum hn_gp_kernel kernel,
                    const double *inv_l2, double os, double noise, const double *noise_obs,
                    double *K, double *F)
{
    for (size_t j = 0; j < n; j++) {
        K[j + j * n] = os + point_noise(noise_obs, j, noise);
        for (size_t i = j + 1; i < n; i++) {
            double f;
            K[i + j * n] = os * kern(X + i * d, X + j * d, inv_l2, d, kernel, F ? &f : NULL);
            if (F) {
                F[i + j * n] = f;
            }
        }
    }
}

/* Cholesky of the lower triangle of K (n x n, column-major) in place: 0, or -1 if K is not
 * (numerically) positive definite. */
static int cholesky(double *K, size_t n)
{
    if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, K, (lapack_int)n) != 0) {
        return -1;
    }
    /* OpenBLAS's dpotrf tests pivots with <= 0 only: a NaN pivot passes */
    for (size_t i = 0; i < n; i++) {
        if (!(K[i + i * n] > 0) || !isfinite(K[i + i * n])) {
            return -1;
        }
    }
    return 0;
}

/* Cholesky in place, retrying from a copy of K with jitter 1e-8, 1e-7, .. 1e-2 times the mean
 * diagonal added to the diagonal. Returns the jitter used (0 if none), or -1 (still indefinite,
 * or out of memory). */
static double cholesky_escalate(double *K, size_t n)
{
    double *copy = malloc(n * n * sizeof(double));
    if (copy == NULL) {
        return -1;
    }
    memcpy(copy, K, n * n * sizeof(double));
    double diag = 0;
    for (size_t i = 0; i < n; i++) {
        diag += K[i + i * n];
    }
    diag /= (double)n;
    double jitter = 0;
    for (int e = -8;; e++) {
        if (cholesky(K, n) == 0) {
            break;
        }
        if (e > -2 || !isfinite(diag)) {
            jitter = -1;
            break;
        }
        jitter = diag * pow(10.0, e);
        memcpy(K, copy, n * n * sizeof(double));
        for (size_t i = 0; i < n; i++) {
            K[i + i * n] += jitter;
        }
    }
    free(copy);
    return jitter;
}

/* ---- fitting objective ---- */

struct lognormal {
    double mu, sigma;
};

/* log density of v = exp(theta) under LogNormal(mu, sigma), evaluated at v (the density of v,
 * as GPyTorch's priors are), and its derivative w.r.t. theta. */
static double lognormal_logpdf(struct lognormal p, double theta, double *dtheta)
{
    double z = (theta - p.mu) / p.sigma;
    if (dtheta) {
        *dtheta = -1 - z / p.sigma;
    }
    return -theta - log(p.sigma * sqrt(2 * M_PI)) - 0.5 * z * z;
}

/* Hvarfner et al. 2024 dimension-scaled lengthscale prior (BoTorch's default). */
static struct lognormal ls_prior(size_t d)
{
    struct lognormal p = {M_SQRT2 + 0.5 * log((double)d), sqrt(3.0)};
    return p;
}

/* BoTorch's get_gaussian_likelihood_with_lognormal_prior. */
static const struct lognormal noise_prior = {-4.0, 1.0};

/* The mode exp(mu - sigma^2) in log space: BoTorch's initial value. */
static double lognormal_log_mode(struct lognormal p)
{
    return p.mu - p.sigma * p.sigma;
}

struct gamma_prior {
    double shape, rate;
};

/* log density of v = exp(theta) under Gamma(shape, rate) at v, and its derivative w.r.t.
 * theta: (shape - 1) - rate v. */
static double gamma_logpdf(struct gamma_prior p, double theta, double *dtheta)
{
    double v = exp(theta);
    if (dtheta) {
        *dtheta = (p.shape - 1) - p.rate * v;
    }
    return p.shape * log(p.rate) - lgamma(p.shape) + (p.shape - 1) * theta - p.rate * v;
}

/* BoTorch <= 0.11's SingleTaskGP (get_matern_kernel_with_gamma_prior,
 * get_gaussian_likelihood_with_gamma_prior) */
static const struct gamma_prior ls_gamma = {3.0, 6.0};
static const struct gamma_prior os_gamma = {2.0, 0.15};
static const struct gamma_prior noise_gamma = {1.1, 0.05};

/* Per-evaluation workspace: one per thread. */
struct gp_ws {
    size_t n;
    double *K;     /* n x n */
    double *F;     /* n x n, lower: kernel factors f */
    double *alpha; /* n */
};

static void ws_free(struct gp_ws *ws)
{
    free(ws->K);
    free(ws->F);
    free(ws->alpha);
    memset(ws, 0, sizeof(*ws));
}

static int ws_alloc(struct gp_ws *ws, size_t n)
{
    ws->n = n;
    ws->K = malloc(n * n * sizeof(double));
    ws->F = malloc(n * n * sizeof(double));
    ws->alpha = malloc(n * sizeof(double));
    if (ws->K == NULL || ws->F == NULL || ws->alpha == NULL) {
        ws_free(ws);
        return -1;
    }
    return 0;
}

static int has_learned(const double *noise_obs, size_t n)
{
    if (noise_obs == NULL) {
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (isnan(noise_obs[i])) {
            return 1;
        }
    }
    return 0;
}

/*
 * The gradient of the log marginal likelihood w.r.t. theta into grad (d + 3 values), from
 * the factor in K (overwritten by K^-1), alpha = K^-1 (ystd - c), the kernel factors F and
 * quad = (ystd - c)' alpha. Returns 0, or -1 when K cannot be inverted.
 */
static int likelihood_grad(double *K, const double *F, const double *alpha, const double *X,
                           const double *noise_obs, size_t n, size_t d, const double *inv_l2,
                           double noise, double os, double quad, double *grad)
{
    memset(grad, 0, (d + 3) * sizeof(double));
    /* K holds L; now K^-1 (lower triangle) */
    if (LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', (lapack_int)n, K, (lapack_int)n) != 0) {
        return -1;
    }
    double wn_learned = 0, wn_all = 0, sa = 0;
    for (size_t j = 0; j < n; j++) {
        double wjj = alpha[j] * alpha[j] - K[j + j * n];
        double nj = point_noise(noise_obs, j, noise);
        wn_all += wjj * nj;
        if (noise_obs == NULL || isnan(noise_obs[j])) {
            wn_learned += wjj * nj;
        }
        sa += alpha[j];
        const double *xj = X + j * d;
        for (size_t i = j + 1; i < n; i++) {
            double w = (alpha[i] * alpha[j] - K[i + j * n]) * os * F[i + j * n];
            const double *xi = X + i * d;
            for (size_t q = 0; q < d; q++) {
                double dx = xi[q] - xj[q];
                grad[q] += w * dx * dx;
            }
        }
    }
    for (size_t q = 0; q < d; q++) {
        grad[q] *= inv_l2[q];
    }
    grad[d] = 0.5 * wn_learned;
    grad[d + 1] = sa;
    grad[d + 2] = 0.5 * (quad - (double)n - wn_all);
    return 0;
}

/*
 * value plus the hyperparameter priors' log density at theta (lengthscales, output scale,
 * and the noise when learned), their gradient added into grad when not NULL.
 */
static double add_log_prior(double value, const double *theta, size_t d, int with_prior,
                            int learned, double *grad)
{
    double g;
    struct lognormal lp = ls_prior(d);
    if (with_prior == HN_GP_PRIORS_GAMMA || with_prior == HN_GP_PRIORS_MIXED) {
        /* BoTorch <= 0.11: l ~ Gamma(3, 6), s ~ Gamma(2, 0.15), noise ~ Gamma(1.1, 0.05);
         * mixed: the lengthscales' dimension-scaled lognormal instead */
        for (size_t q = 0; q < d; q++) {
            value += with_prior == HN_GP_PRIORS_GAMMA ? gamma_logpdf(ls_gamma, theta[q], &g)
                                                      : lognormal_logpdf(lp, theta[q], &g);
            if (grad) {
                grad[q] += g;
            }
        }
        value += gamma_logpdf(os_gamma, theta[d + 2], &g);
        if (grad) {
            grad[d + 2] += g;
        }
        if (learned) {
            value += gamma_logpdf(noise_gamma, theta[d], &g);
            if (grad) {
                grad[d] += g;
            }
        }
    } else if (with_prior) {
        for (size_t q = 0; q < d; q++) {
            value += lognormal_logpdf(lp, theta[q], &g);
            if (grad) {
                grad[q] += g;
            }
        }
        if (learned) {
            value += lognormal_logpdf(noise_prior, theta[d], &g);
            if (grad) {
                grad[d] += g;
            }
        }
    }
    return value;
}

static double objective_ws(struct gp_ws *ws, const double *X, const double *ystd,
                           const double *noise_obs, size_t n, size_t d, enum hn_gp_kernel kernel,
                           const double *theta, double *grad, int with_prior)
{
    double ls[HN_GP_MAX_DIM], inv_l2[HN_GP_MAX_DIM];
    for (size_t q = 0; q < d; q++) {
        ls[q] = exp(theta[q]);
    }
    inv_sq(ls, d, inv_l2);
    int learned = has_learned(noise_obs, n);
    double noise = exp(theta[d]), c = theta[d + 1], os = exp(theta[d + 2]);
    double *K = ws->K, *F = ws->F, *alpha = ws->alpha;
    build_K(X, n, d, kernel, inv_l2, os, noise, noise_obs, K, grad ? F : NULL);
    if (cholesky(K, n) != 0) {
        return -INFINITY;
    }
    for (size_t i = 0; i < n; i++) {
        alpha[i] = ystd[i] - c;
    }
    LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', (lapack_int)n, 1, K, (lapack_int)n, alpha, (lapack_int)n);
    double quad = 0, logdet = 0;
    for (size_t i = 0; i < n; i++) {
        quad += (ystd[i] - c) * alpha[i];
        logdet += log(K[i + i * n]);
    }
    double value = -0.5 * quad - logdet - 0.5 * (double)n * LOG_2PI;
    if (!isfinite(value)) {
        return -INFINITY;
    }
    if (grad != NULL &&
        likelihood_grad(K, F, alpha, X, noise_obs, n, d, inv_l2, noise, os, quad, grad) != 0) {
        return -INFINITY;
    }
    return add_log_prior(value, theta, d, with_prior, learned, grad);
}

double hn_gp_log_objective(const double *X, const double *ystd, const double *noise_fixed, size_t n,
                           size_t d, enum hn_gp_kernel kernel, const double *theta, double *grad,
                           int with_prior)
{
    struct gp_ws ws;
    if (n == 0 || d == 0 || d > HN_GP_MAX_DIM || ws_alloc(&ws, n) != 0) {
        return -INFINITY;
    }
    double v = objective_ws(&ws, X, ystd, noise_fixed, n, d, kernel, theta, grad, with_prior);
    ws_free(&ws);
    return v;
}

/* ---- model construction ---- */

void hn_gp_options_default(struct hn_gp_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->kernel = HN_GP_MATERN52;
    opt->fixed_noise = 1;
    opt->restarts = 4;
    opt->threads = 2;
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
    free(gp->noise_obs);
    free(gp->L);
    free(gp->Kinv);
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

static struct hn_gp *gp_alloc(size_t n, size_t d, int per_point_noise)
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
    gp->noise_obs = per_point_noise ? malloc(n * sizeof(double)) : NULL;
    gp->L = calloc(n * n, sizeof(double));
    gp->Kinv = n >= KINV_MIN ? malloc(n * n * sizeof(double)) : NULL;
    gp->alpha = malloc(n * sizeof(double));
    if (gp->X == NULL || gp->y_model == NULL || gp->ystd == NULL || gp->L == NULL ||
        (n >= KINV_MIN && gp->Kinv == NULL) || gp->alpha == NULL ||
        (per_point_noise && gp->noise_obs == NULL)) {
        hn_gp_free(gp);
        return NULL;
    }
    return gp;
}

/* alpha = K^-1 (ystd - c) from the factor in gp->L. */
static void gp_solve_alpha(struct hn_gp *gp)
{
    for (size_t i = 0; i < gp->n; i++) {
        gp->alpha[i] = gp->ystd[i] - gp->h.mean;
    }
    LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', (lapack_int)gp->n, 1, gp->L, (lapack_int)gp->n, gp->alpha,
                   (lapack_int)gp->n);
}

/* Kinv (lower triangle) = K^-1 from the factor in gp->L: O(n^3), once per model. */
static int gp_invert(struct hn_gp *gp, struct hn_error *err)
{
    size_t n = gp->n;
    if (gp->Kinv == NULL) {
        return 0; /* small: predict_grad solves with L */
    }
    memcpy(gp->Kinv, gp->L, n * n * sizeof(double));
    if (LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', (lapack_int)n, gp->Kinv, (lapack_int)n) != 0) {
        return hn_error_set(err, NULL, "GP: cannot invert the %zu x %zu kernel matrix", n, n);
    }
    return 0;
}

/* Factor K with the GP's hyperparameters (escalating jitter) and solve for alpha. */
static int gp_factor(struct hn_gp *gp, struct hn_error *err)
{
    double inv_l2[HN_GP_MAX_DIM];
    inv_sq(gp->h.lengthscale, gp->d, inv_l2);
    build_K(gp->X, gp->n, gp->d, gp->kernel, inv_l2, gp->h.outputscale, gp->h.noise, gp->noise_obs,
            gp->L, NULL);
    gp->h.jitter = cholesky_escalate(gp->L, gp->n);
    if (gp->h.jitter < 0) {
        return hn_error_set(err, NULL,
                            "GP: the %zu x %zu kernel matrix is not positive definite even with "
                            "jitter of 1e-2 of its diagonal (non-finite hyperparameters or "
                            "data?); check the inputs and the noise",
                            gp->n, gp->n);
    }
    gp_solve_alpha(gp);
    return gp_invert(gp, err);
}

static int check_kernel(enum hn_gp_kernel kernel, struct hn_error *err)
{
    if (kernel != HN_GP_MATERN52 && kernel != HN_GP_RBF) {
        return hn_error_set(err, NULL, "GP: unknown kernel %d (HN_GP_MATERN52 or HN_GP_RBF)",
                            (int)kernel);
    }
    return 0;
}

static int check_inputs(const double *X, size_t n, size_t d, struct hn_error *err)
{
    if (n == 0) {
        return hn_error_set(err, NULL, "GP: no observations to fit; evaluate some points first");
    }
    if (d == 0 || d > HN_GP_MAX_DIM) {
        return hn_error_set(err, NULL, "GP: input dimension %zu is outside 1..%d", d,
                            HN_GP_MAX_DIM);
    }
    for (size_t i = 0; i < n * d; i++) {
        if (!isfinite(X[i])) {
            return hn_error_set(err, NULL,
                                "GP: input %zu, coordinate %zu is not finite (%g); inputs must "
                                "be points of [0,1]^d",
                                i / d, i % d, X[i]);
        }
    }
    return 0;
}

static int check_hyper(const struct hn_gp_hyper *h, size_t d, int need_noise, struct hn_error *err)
{
    for (size_t q = 0; q < d; q++) {
        if (!(h->lengthscale[q] > 0) || !isfinite(h->lengthscale[q])) {
            return hn_error_set(err, NULL, "GP: lengthscale %zu (%g) must be finite and > 0", q,
                                h->lengthscale[q]);
        }
    }
    if (!isfinite(h->y_mean) || !isfinite(h->y_scale) || h->y_scale < 0) {
        return hn_error_set(err, NULL,
                            "GP: standardization (%g, %g) must be finite, the scale >= 0",
                            h->y_mean, h->y_scale);
    }
    if (!isfinite(h->mean) || !isfinite(h->outputscale) || h->outputscale < 0) {
        return hn_error_set(err, NULL,
                            "GP: mean (%g) and output scale (%g) must be finite, the scale >= 0",
                            h->mean, h->outputscale);
    }
    if (need_noise && (!isfinite(h->noise) || h->noise < 0)) {
        return hn_error_set(err, NULL, "GP: noise variance %g must be finite and >= 0", h->noise);
    }
    return 0;
}

struct hn_gp *hn_gp_new_fixed(const double *X, const double *y, const double *noise_var, size_t n,
                              size_t d, enum hn_gp_kernel kernel, const struct hn_gp_hyper *hyper,
                              struct hn_error *err)
{
    if (check_inputs(X, n, d, err) != 0 || check_kernel(kernel, err) != 0) {
        return NULL;
    }
    int learned = has_learned(noise_var, n);
    if (check_hyper(hyper, d, learned, err) != 0) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            hn_error_set(err, NULL, "GP: observation %zu is not finite (%g)", i, y[i]);
            return NULL;
        }
        if (noise_var && !isnan(noise_var[i]) && !(noise_var[i] >= 0 && isfinite(noise_var[i]))) {
            hn_error_set(err, NULL, "GP: noise variance %zu (%g) must be finite and >= 0", i,
                         noise_var[i]);
            return NULL;
        }
    }
    struct hn_gp *gp = gp_alloc(n, d, noise_var != NULL);
    if (gp == NULL) {
        hn_error_set(err, NULL, "GP: out of memory for %zu points", n);
        return NULL;
    }
    gp->kernel = kernel;
    gp->h = *hyper;
    gp->h.d = d;
    gp->any_learned = learned;
    if (!learned) {
        gp->h.noise = 0;
    }
    if (!(gp->h.outputscale > 0)) {
        gp->h.outputscale = 1; /* unset: unit output scale */
    }
    gp->y_scale = hyper->y_scale > 0 ? hyper->y_scale : 1;
    gp->y_mean = hyper->y_scale > 0 ? hyper->y_mean : 0;
    gp->h.y_mean = gp->y_mean;
    gp->h.y_scale = gp->y_scale;
    memcpy(gp->X, X, n * d * sizeof(double));
    memcpy(gp->y_model, y, n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        gp->ystd[i] = (y[i] - gp->y_mean) / gp->y_scale;
        if (noise_var) {
            gp->noise_obs[i] = noise_var[i] / (gp->y_scale * gp->y_scale); /* NAN stays NAN */
        }
    }
    if (gp_factor(gp, err) != 0) {
        hn_gp_free(gp);
        return NULL;
    }
    return gp;
}

/* What every restart shares (read-only) and what each one owns. */
struct fit_problem {
    const double *X, *ystd, *noise_obs;
    size_t n, d;
    enum hn_gp_kernel kernel;
    int prior;
    unsigned dim;
    int maxeval;
    const double *lb, *ub;
};

struct fit_run {
    const struct fit_problem *p;
    struct gp_ws ws;
    double start[NTHETA_MAX];
    double best;
    double best_theta[NTHETA_MAX];
};

static double fit_objective(unsigned dim, const double *theta, double *grad, void *data)
{
    struct fit_run *run = data;
    const struct fit_problem *p = run->p;
    double v = objective_ws(&run->ws, p->X, p->ystd, p->noise_obs, p->n, p->d, p->kernel, theta,
                            grad, p->prior);
    if (!isfinite(v)) {
        if (grad) {
            memset(grad, 0, dim * sizeof(double));
        }
        return -1e300;
    }
    if (v > run->best) {
        run->best = v;
        memcpy(run->best_theta, theta, dim * sizeof(double));
    }
    return v;
}

/* One L-BFGS run from run->start; run->best stays -INFINITY if nothing finite was seen. */
static void fit_one(struct fit_run *run)
{
    const struct fit_problem *p = run->p;
    run->best = -INFINITY;
    if (ws_alloc(&run->ws, p->n) != 0) {
        return;
    }
    nlopt_opt nl = nlopt_create(NLOPT_LD_LBFGS, p->dim);
    if (nl != NULL) {
        nlopt_set_lower_bounds(nl, p->lb);
        nlopt_set_upper_bounds(nl, p->ub);
        nlopt_set_max_objective(nl, fit_objective, run);
        nlopt_set_ftol_rel(nl, 1e-9);
        nlopt_set_xtol_rel(nl, 1e-7);
        nlopt_set_maxeval(nl, p->maxeval);
        double theta[NTHETA_MAX], value;
        memcpy(theta, run->start, p->dim * sizeof(double));
        nlopt_optimize(nl, theta, &value); /* run->best tracks the best point, whatever it says */
        nlopt_destroy(nl);
    }
    ws_free(&run->ws);
}

/* Restarts taken in turn by up to two threads; which thread runs which start does not change
 * any result. Plain pthreads rather than OpenMP: libgomp's idle workers spin after a parallel
 * region and then slow the caller's multi-threaded OpenBLAS calls (bench_gp: predicting 1000
 * points at n = 50 took 7 ms instead of 1 ms right after an OpenMP fit). */
struct fit_pool {
    struct fit_run *runs;
    int restarts;
    int next; /* next start to take (atomic) */
};

static void *fit_worker(void *arg)
{
    struct fit_pool *pool = arg;
    for (;;) {
        int r = __atomic_fetch_add(&pool->next, 1, __ATOMIC_RELAXED);
        if (r >= pool->restarts) {
            return NULL;
        }
        fit_one(&pool->runs[r]);
    }
}

static double clampd(double v, double lo, double hi)
{
    return fmin(hi, fmax(lo, v));
}

/* Every y finite (positive under log_transform), every finite sem >= 0; *any_known: a finite
 * sem exists. Returns 0, or -1 with err naming the observation. */
static int check_observations(const double *y, const double *sem, size_t n, int log_transform,
                              int *any_known, struct hn_error *err)
{
    *any_known = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(y[i]) || (log_transform && !(y[i] > 0))) {
            return hn_error_set(err, NULL, "GP: observation %zu (%g) is %s", i, y[i],
                                isfinite(y[i])
                                    ? "not positive, but the metric is modelled in log space "
                                      "(turn log_transform off)"
                                    : "not finite");
        }
        if (sem && isfinite(sem[i])) {
            if (sem[i] < 0) {
                return hn_error_set(err, NULL, "GP: standard error %zu (%g) is negative", i,
                                    sem[i]);
            }
            *any_known = 1;
        }
    }
    return 0;
}

/*
 * The outputs in model space (log under log_transform), standardized (sample standard
 * deviation, as BoTorch's Standardize), and the known noise variances in standardized units
 * (sem NULL when none is known).
 */
static void standardize(struct hn_gp *gp, const double *y, const double *sem, size_t n,
                        int log_transform)
{
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++) {
        gp->y_model[i] = log_transform ? log(y[i]) : y[i];
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
    gp->h.y_mean = mean;
    gp->h.y_scale = scale;
    for (size_t i = 0; i < n; i++) {
        gp->ystd[i] = (gp->y_model[i] - mean) / scale;
        if (sem) {
            double s = sem[i];
            if (isfinite(s)) {
                s = log_transform ? s / y[i] : s; /* delta method */
                gp->noise_obs[i] = fmax(s * s / (scale * scale), FIXED_NOISE_MIN);
            } else {
                gp->noise_obs[i] = NAN;
            }
        }
    }
}

/* theta = [log l (d), log noise, c, log s]: its bounds. */
static void theta_bounds(size_t d, int learned_noise, int learn_outputscale, double *lb, double *ub)
{
    for (size_t q = 0; q < d; q++) {
        lb[q] = log(LS_MIN);
        ub[q] = log(LS_MAX);
    }
    lb[d] = log(NOISE_MIN);
    ub[d] = learned_noise ? log(NOISE_MAX) : log(NOISE_MIN);
    lb[d + 1] = -MEAN_BOUND;
    ub[d + 1] = MEAN_BOUND;
    lb[d + 2] = learn_outputscale ? log(OS_MIN) : 0;
    ub[d + 2] = learn_outputscale ? log(OS_MAX) : 0;
}

/*
 * Start r of the hyperparameter search into t: start 0 at the priors' modes (or opt->start,
 * a warm start), the others drawn from rng around them. The draws are the same whatever
 * the options, so the streams do not depend on a warm start.
 */
static void draw_start(double *t, int r, size_t d, const double *lb, const double *ub,
                       const struct hn_gp_options *opt, struct hn_rng *rng)
{
    struct lognormal lp = ls_prior(d);
    for (size_t q = 0; q < d; q++) {
        double z = r == 0 ? lognormal_log_mode(lp) : lp.mu + lp.sigma * hn_rng_normal(rng);
        t[q] = clampd(z, lb[q], ub[q]);
    }
    double zn = r == 0 ? lognormal_log_mode(noise_prior)
                       : noise_prior.mu + noise_prior.sigma * hn_rng_normal(rng);
    t[d] = clampd(zn, lb[d], ub[d]);
    t[d + 1] = 0;
    t[d + 2] = r == 0 ? 0 : clampd(0.5 * hn_rng_normal(rng), lb[d + 2], ub[d + 2]);
    if (opt->use_priors == HN_GP_PRIORS_GAMMA || opt->use_priors == HN_GP_PRIORS_MIXED) {
        /* GPyTorch's initial values (softplus(0) = log 2 for l and s, the noise prior's
         * mode), the other starts scattered around them in log space */
        for (size_t q = 0; q < d && opt->use_priors == HN_GP_PRIORS_GAMMA; q++) {
            double z = log(M_LN2) + (r == 0 ? 0 : hn_rng_normal(rng));
            t[q] = clampd(z, lb[q], ub[q]);
        }
        double mode = (noise_gamma.shape - 1) / noise_gamma.rate;
        t[d] = clampd(log(mode) + (r == 0 ? 0 : hn_rng_normal(rng)), lb[d], ub[d]);
        t[d + 2] = opt->learn_outputscale ? clampd(log(M_LN2) + (r == 0 ? 0 : hn_rng_normal(rng)),
                                                   lb[d + 2], ub[d + 2])
                                          : 0;
    }
    if (r == 0 && opt->start != NULL) {
        /* warm start (the random draws above still happen: same streams either way) */
        const struct hn_gp_hyper *w = opt->start;
        for (size_t q = 0; q < d; q++) {
            if (w->lengthscale[q] > 0 && isfinite(w->lengthscale[q])) {
                t[q] = clampd(log(w->lengthscale[q]), lb[q], ub[q]);
            }
        }
        if (w->noise > 0 && isfinite(w->noise)) {
            t[d] = clampd(log(w->noise), lb[d], ub[d]);
        }
        t[d + 1] = isfinite(w->mean) ? clampd(w->mean, lb[d + 1], ub[d + 1]) : 0;
        if (w->outputscale > 0 && isfinite(w->outputscale)) {
            t[d + 2] = clampd(log(w->outputscale), lb[d + 2], ub[d + 2]);
        }
    }
}

/*
 * Every restart: several starts one per thread (up to two), each with single-threaded BLAS;
 * one start (a warm refit): the BLAS calls of its objective get the threads instead. Returns
 * the BLAS thread count to restore once the caller is done with BLAS, or -1.
 */
static int run_restarts(struct fit_run *runs, int restarts, int opt_threads)
{
    int parallel_starts = opt_threads > 1 && restarts > 1;
    int threads = openblas_get_num_threads();
    int blas = parallel_starts || opt_threads <= 1 ? 1 : threads;
    if (blas != threads) {
        openblas_set_num_threads(blas);
    } else {
        threads = -1; /* nothing to restore */
    }
    struct fit_pool pool = {.runs = runs, .restarts = restarts, .next = 0};
    pthread_t helper;
    int helped = parallel_starts && pthread_create(&helper, NULL, fit_worker, &pool) == 0;
    fit_worker(&pool); /* (a failed pthread_create leaves every start to this thread) */
    if (helped) {
        pthread_join(helper, NULL);
    }
    return threads;
}

/* The best restart's theta; every start failed: start 0 (the priors' modes, rescued by jitter
 * in gp_factor). */
static const double *best_theta(const struct fit_run *runs, int restarts)
{
    int best = 0;
    for (int r = 1; r < restarts; r++) {
        if (runs[r].best > runs[best].best) {
            best = r;
        }
    }
    return isfinite(runs[best].best) ? runs[best].best_theta : runs[0].start;
}

/* The hyperparameters of theta = [log l (d), log noise, c, log s] into gp->h. */
static void hyper_from_theta(struct hn_gp *gp, const double *theta, size_t d)
{
    gp->h.d = d;
    for (size_t q = 0; q < d; q++) {
        gp->h.lengthscale[q] = exp(theta[q]);
    }
    gp->h.noise = gp->any_learned ? exp(theta[d]) : 0;
    gp->h.mean = theta[d + 1];
    gp->h.outputscale = exp(theta[d + 2]);
}

struct hn_gp *hn_gp_fit(const double *X, const double *y, const double *sem, size_t n, size_t d,
                        const struct hn_gp_options *opt, struct hn_error *err)
{
    struct hn_gp_options defaults;
    if (opt == NULL) {
        hn_gp_options_default(&defaults);
        opt = &defaults;
    }
    const double *use_sem = opt->fixed_noise ? sem : NULL;
    int any_known;
    if (check_inputs(X, n, d, err) != 0 || check_kernel(opt->kernel, err) != 0 ||
        check_observations(y, use_sem, n, opt->log_transform, &any_known, err) != 0) {
        return NULL;
    }
    struct hn_gp *gp = gp_alloc(n, d, any_known);
    struct fit_run *runs = NULL;
    int threads = -1;
    if (gp == NULL) {
        hn_error_set(err, NULL, "GP: out of memory for %zu points", n);
        goto fail;
    }
    gp->kernel = opt->kernel;
    memcpy(gp->X, X, n * d * sizeof(double));
    standardize(gp, y, any_known ? use_sem : NULL, n, opt->log_transform);
    gp->any_learned = has_learned(gp->noise_obs, n);

    double lb[NTHETA_MAX], ub[NTHETA_MAX];
    theta_bounds(d, gp->any_learned, opt->learn_outputscale, lb, ub);
    struct fit_problem prob = {.X = gp->X,
                               .ystd = gp->ystd,
                               .noise_obs = gp->noise_obs,
                               .n = n,
                               .d = d,
                               .kernel = opt->kernel,
                               .prior = opt->use_priors,
                               .dim = (unsigned)d + 3,
                               .maxeval = opt->maxeval > 0 ? opt->maxeval : 300,
                               .lb = lb,
                               .ub = ub};
    int restarts = opt->restarts > 0 ? opt->restarts : 1;
    runs = calloc((size_t)restarts, sizeof(*runs));
    if (runs == NULL) {
        hn_error_set(err, NULL, "GP: out of memory");
        goto fail;
    }
    /* starts drawn up front, in order: the fit does not depend on thread scheduling */
    struct hn_rng rng;
    hn_rng_seed(&rng, hn_rng_derive(opt->seed, 0x6770 /* "gp" */));
    for (int r = 0; r < restarts; r++) {
        runs[r].p = &prob;
        draw_start(runs[r].start, r, d, lb, ub, opt, &rng);
    }
    threads = run_restarts(runs, restarts, opt->threads); /* restored after the fit */
    hyper_from_theta(gp, best_theta(runs, restarts), d);
    if (gp_factor(gp, err) != 0) {
        goto fail;
    }
    if (threads > 0) {
        openblas_set_num_threads(threads);
    }
    free(runs);
    return gp;
fail:
    if (threads > 0) {
        openblas_set_num_threads(threads);
    }
    free(runs);
    hn_gp_free(gp);
    return NULL;
}

/* ---- prediction ---- */

int hn_gp_predict(const struct hn_gp *gp, const double *Xs, size_t m, double *mean, double *var,
                  struct hn_error *err)
{
    size_t n = gp->n, d = gp->d;
    double inv_l2[HN_GP_MAX_DIM], os = gp->h.outputscale, s2 = gp->y_scale * gp->y_scale;
    inv_sq(gp->h.lengthscale, d, inv_l2);
    size_t block = m < PRED_BLOCK ? m : PRED_BLOCK;
    double *V = malloc((n * block + 1) * sizeof(double)); /* n x block: K(X, Xs block) */
    if (V == NULL) {
        return hn_error_set(err, NULL, "GP: out of memory predicting %zu points", m);
    }
    for (size_t s0 = 0; s0 < m; s0 += block) {
        size_t c = m - s0 < block ? m - s0 : block;
        for (size_t s = 0; s < c; s++) {
            const double *x = Xs + (s0 + s) * d;
            double *v = V + s * n;
            for (size_t i = 0; i < n; i++) {
                v[i] = os * kern(x, gp->X + i * d, inv_l2, d, gp->kernel, NULL);
            }
            if (mean) {
                double mu = gp->h.mean + cblas_ddot((int)n, v, 1, gp->alpha, 1);
                mean[s0 + s] = mu * gp->y_scale + gp->y_mean;
            }
        }
        if (var) {
            cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, (int)n,
                        (int)c, 1.0, gp->L, (int)n, V, (int)n);
            for (size_t s = 0; s < c; s++) {
                double v = os - cblas_ddot((int)n, V + s * n, 1, V + s * n, 1);
                var[s0 + s] = fmax(v, 1e-12) * s2;
            }
        }
    }
    free(V);
    return 0;
}

int hn_gp_predict_grad(const struct hn_gp *gp, const double *x, double *mean, double *var,
                       double *dmean, double *dvar, struct hn_error *err)
{
    size_t n = gp->n, d = gp->d;
    double inv_l2[HN_GP_MAX_DIM], os = gp->h.outputscale, s2 = gp->y_scale * gp->y_scale;
    inv_sq(gp->h.lengthscale, d, inv_l2);
    double *k = malloc(3 * n * sizeof(double));
    if (k == NULL) {
        return hn_error_set(err, NULL, "GP: out of memory");
    }
    double *f = k + n, *w = k + 2 * n;
    double mu = gp->h.mean;
    for (size_t i = 0; i < n; i++) {
        k[i] = os * kern(x, gp->X + i * d, inv_l2, d, gp->kernel, &f[i]);
        f[i] *= os;
        mu += k[i] * gp->alpha[i];
    }
    double vv = os;
    if ((var || dvar) && gp->Kinv != NULL) {
        /* w = K^-1 k: var = s - k'w and d var = -2 w' dk; one pass over K^-1 (a symv reads
         * the lower triangle once) instead of two triangular solves with L */
        cblas_dsymv(CblasColMajor, CblasLower, (int)n, 1.0, gp->Kinv, (int)n, k, 1, 0.0, w, 1);
        vv = os - cblas_ddot((int)n, k, 1, w, 1);
    } else if (var || dvar) {
        /* v = L^-1 k gives the variance; w = L^-T v = K^-1 k its gradient */
        memcpy(w, k, n * sizeof(double));
        cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)n, gp->L, (int)n, w,
                    1);
        vv = os - cblas_ddot((int)n, w, 1, w, 1);
        cblas_dtrsv(CblasColMajor, CblasLower, CblasTrans, CblasNonUnit, (int)n, gp->L, (int)n, w,
                    1);
    }
    if (mean) {
        *mean = mu * gp->y_scale + gp->y_mean;
    }
    if (var) {
        *var = fmax(vv, 1e-12) * s2;
    }
    if (dmean || dvar) {
        /* dk_i/dx_q = -f_i (x_q - X_iq) / l_q^2 */
        double gm[HN_GP_MAX_DIM] = {0}, gv[HN_GP_MAX_DIM] = {0};
        for (size_t i = 0; i < n; i++) {
            const double *xi = gp->X + i * d;
            double am = gp->alpha[i] * f[i], av = dvar ? w[i] * f[i] : 0;
            for (size_t q = 0; q < d; q++) {
                double dx = x[q] - xi[q];
                gm[q] -= am * dx;
                gv[q] -= av * dx;
            }
        }
        for (size_t q = 0; q < d; q++) {
            if (dmean) {
                dmean[q] = gm[q] * inv_l2[q] * gp->y_scale;
            }
            if (dvar) {
                /* var = s - k'K^-1 k: d var = -2 (K^-1 k)' dk; 0 where the floor is active */
                dvar[q] = vv > 1e-12 ? -2 * gv[q] * inv_l2[q] * s2 : 0;
            }
        }
    }
    free(k);
    return 0;
}

int hn_gp_predict_joint(const struct hn_gp *gp, const double *Xs, size_t m, double *mean,
                        double *cov, struct hn_error *err)
{
    size_t n = gp->n, d = gp->d;
    double inv_l2[HN_GP_MAX_DIM], os = gp->h.outputscale, s2 = gp->y_scale * gp->y_scale;
    inv_sq(gp->h.lengthscale, d, inv_l2);
    double *V = malloc((n * m + 1) * sizeof(double)); /* n x m column-major: K(X, Xs) */
    if (V == NULL) {
        return hn_error_set(err, NULL, "GP: out of memory for a %zu-point joint posterior", m);
    }
    for (size_t s = 0; s < m; s++) {
        double *v = V + s * n;
        for (size_t i = 0; i < n; i++) {
            v[i] = os * kern(Xs + s * d, gp->X + i * d, inv_l2, d, gp->kernel, NULL);
        }
        mean[s] = (gp->h.mean + cblas_ddot((int)n, v, 1, gp->alpha, 1)) * gp->y_scale + gp->y_mean;
    }
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, (int)n, (int)m,
                1.0, gp->L, (int)n, V, (int)n);
    /* cov = K(Xs, Xs) - V'V */
    for (size_t b = 0; b < m; b++) {
        for (size_t a = b; a < m; a++) {
            cov[a + b * m] =
                a == b ? os : os * kern(Xs + a * d, Xs + b * d, inv_l2, d, gp->kernel, NULL);
        }
    }
    cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, (int)m, (int)n, -1.0, V, (int)n, 1.0, cov,
                (int)m);
    for (size_t b = 0; b < m; b++) {
        cov[b + b * m] = fmax(cov[b + b * m], 1e-12) * s2;
        for (size_t a = b + 1; a < m; a++) {
            cov[a + b * m] *= s2;
            cov[b + a * m] = cov[a + b * m];
        }
    }
    free(V);
    return 0;
}

/* The new points' values finite, their noise variances (noise_new, NAN = none) finite and
 * >= 0; *new_fixed: one has its own. Returns 0, or -1 with err. */
static int check_new_points(const double *ynew, const double *noise_new, size_t k, int *new_fixed,
                            struct hn_error *err)
{
    *new_fixed = 0;
    for (size_t j = 0; j < k; j++) {
        if (!isfinite(ynew[j])) {
            return hn_error_set(err, NULL, "GP: conditioning value %zu is not finite (%g)", j,
                                ynew[j]);
        }
        if (noise_new && !isnan(noise_new[j])) {
            if (!(noise_new[j] >= 0) || !isfinite(noise_new[j])) {
                return hn_error_set(err, NULL,
                                    "GP: noise variance %zu of the new points (%g) must be "
                                    "finite and >= 0",
                                    j, noise_new[j]);
            }
            *new_fixed = 1;
        }
    }
    return 0;
}

/* Noise of new points without their own: the learned one, else the mean fixed noise. */
static double shared_noise(const struct hn_gp *gp)
{
    if (gp->any_learned) {
        return gp->h.noise;
    }
    double shared = 0;
    for (size_t i = 0; i < gp->n; i++) {
        shared += gp->noise_obs[i];
    }
    return shared / (double)gp->n;
}

/* c (n + k points) gets gp's hyperparameters, scaling and data, then the k new points. */
static void extend_data(struct hn_gp *c, const struct hn_gp *gp, const double *Xnew,
                        const double *ynew, const double *noise_new, size_t k, double shared)
{
    size_t n = gp->n, d = gp->d;
    int per_point = c->noise_obs != NULL;
    c->kernel = gp->kernel;
    c->any_learned = gp->any_learned;
    c->h = gp->h;
    c->y_mean = gp->y_mean;
    c->y_scale = gp->y_scale;
    memcpy(c->X, gp->X, n * d * sizeof(double));
    if (k > 0) {
        memcpy(c->X + n * d, Xnew, k * d * sizeof(double));
    }
    memcpy(c->y_model, gp->y_model, n * sizeof(double));
    memcpy(c->ystd, gp->ystd, n * sizeof(double));
    if (per_point) {
        for (size_t i = 0; i < n; i++) {
            c->noise_obs[i] = gp->noise_obs ? gp->noise_obs[i] : NAN;
        }
    }
    double s2 = gp->y_scale * gp->y_scale;
    for (size_t j = 0; j < k; j++) {
        c->y_model[n + j] = ynew[j];
        c->ystd[n + j] = (ynew[j] - gp->y_mean) / gp->y_scale;
        if (per_point) {
            double nv = noise_new && !isnan(noise_new[j]) ? noise_new[j] / s2 : NAN;
            if (isnan(nv) && !gp->any_learned) {
                nv = shared;
            }
            c->noise_obs[n + j] = isnan(nv) ? NAN : fmax(nv, noise_new ? FIXED_NOISE_MIN : 0);
        }
    }
}

/*
 * The blocks of the extended factor: B = L^-1 K12 (n x k) and the Cholesky factor of
 * S = K22 - B'B (k x k, lower), both into c->L after gp's L. k > 0. Returns 0, or -1 with err.
 */
static int extend_factor(struct hn_gp *c, const struct hn_gp *gp, const double *Xnew, size_t k,
                         double shared, double *B, double *S, struct hn_error *err)
{
    size_t n = gp->n, N = n + k, d = gp->d;
    double inv_l2[HN_GP_MAX_DIM], os = gp->h.outputscale;
    inv_sq(gp->h.lengthscale, d, inv_l2);
    for (size_t j = 0; j < k; j++) {
        for (size_t i = 0; i < n; i++) {
            B[i + j * n] = os * kern(gp->X + i * d, Xnew + j * d, inv_l2, d, gp->kernel, NULL);
        }
    }
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, (int)n, (int)k,
                1.0, gp->L, (int)n, B, (int)n);
    for (size_t b = 0; b < k; b++) {
        S[b + b * k] = os + point_noise(c->noise_obs, n + b, shared);
        for (size_t a = b + 1; a < k; a++) {
            S[a + b * k] = os * kern(Xnew + a * d, Xnew + b * d, inv_l2, d, gp->kernel, NULL);
        }
    }
    cblas_dsyrk(CblasColMajor, CblasLower, CblasTrans, (int)k, (int)n, -1.0, B, (int)n, 1.0, S,
                (int)k);
    double js = cholesky_escalate(S, k);
    c->h.jitter = fmax(c->h.jitter, js);
    if (js < 0) {
        return hn_error_set(err, NULL,
                            "GP: conditioning on %zu points: the update is not positive "
                            "definite even with jitter",
                            k);
    }
    for (size_t j = 0; j < n; j++) {
        for (size_t a = 0; a < k; a++) {
            c->L[(n + a) + j * N] = B[j + a * n];
        }
    }
    for (size_t b = 0; b < k; b++) {
        memcpy(c->L + (n + b) * N + n + b, S + b * k + b, (k - b) * sizeof(double));
    }
    return 0;
}

/*
 * The inverse by blocks from gp's (B and S from extend_factor, both overwritten): with
 * G = L^-T B L22^-T, Kinv11 = A^-1 + G G', Kinv21 = -L22^-T G', Kinv22 = S^-1.
 */
static int extend_inverse(struct hn_gp *c, const struct hn_gp *gp, size_t k, double *B, double *S,
                          struct hn_error *err)
{
    size_t n = gp->n, N = n + k;
    /* G = L^-T B L22^-T in B; Kinv11 += G G'; Kinv21 = -(G L22^-1)' */
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, (int)n, (int)k, 1.0,
                gp->L, (int)n, B, (int)n);
    cblas_dtrsm(CblasColMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, (int)n, (int)k,
                1.0, S, (int)k, B, (int)n);
    cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, (int)n, (int)k, 1.0, B, (int)n, 1.0,
                c->Kinv, (int)N);
    cblas_dtrsm(CblasColMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, (int)n, (int)k,
                -1.0, S, (int)k, B, (int)n);
    for (size_t j = 0; j < n; j++) {
        for (size_t a = 0; a < k; a++) {
            c->Kinv[(n + a) + j * N] = B[j + a * n];
        }
    }
    /* Kinv22 = S^-1 from its factor */
    if (LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', (lapack_int)k, S, (lapack_int)k) != 0) {
        return hn_error_set(err, NULL, "GP: conditioning on %zu points: cannot invert the update",
                            k);
    }
    for (size_t b = 0; b < k; b++) {
        memcpy(c->Kinv + (n + b) * N + n + b, S + b * k + b, (k - b) * sizeof(double));
    }
    return 0;
}

/*
 * gp with k more points (Xnew, ynew in model space). noise_new: NULL (fantasies: the learned
 * noise, or the mean fixed noise when every point is fixed), or k model-space variances (NAN =
 * the learned noise, or the mean fixed noise when none is learned).
 *
 * [K11 K12; K21 K22] = [L 0; B' L22][L' B; 0 L22']: B = L^-1 K12, L22 L22' = S = K22 - B'B.
 * The inverse by blocks: with G = L^-T B L22^-T (n x k),
 *   Kinv22 = S^-1,  Kinv21 = -L22^-T G',  Kinv11 = A^-1 + G G'.
 * Cost O(n^2 k + k^3).
 */
static struct hn_gp *gp_extend(const struct hn_gp *gp, const double *Xnew, const double *ynew,
                               const double *noise_new, size_t k, struct hn_error *err)
{
    size_t n = gp->n, N = gp->n + k, d = gp->d;
    double *B = NULL, *S = NULL;
    struct hn_gp *c = NULL;
    int new_fixed;
    if ((k > 0 && check_inputs(Xnew, k, d, err) != 0) ||
        check_new_points(ynew, noise_new, k, &new_fixed, err) != 0) {
        return NULL;
    }
    double shared = shared_noise(gp);
    c = gp_alloc(N, d, gp->noise_obs != NULL || new_fixed);
    B = malloc((n * k + 1) * sizeof(double));
    S = malloc((k * k + 1) * sizeof(double));
    if (c == NULL || B == NULL || S == NULL) {
        hn_error_set(err, NULL, "GP: out of memory conditioning on %zu points", k);
        goto fail;
    }
    extend_data(c, gp, Xnew, ynew, noise_new, k, shared);
    for (size_t j = 0; j < n; j++) {
        memcpy(c->L + j * N + j, gp->L + j * n + j, (n - j) * sizeof(double));
        if (c->Kinv && gp->Kinv) {
            memcpy(c->Kinv + j * N + j, gp->Kinv + j * n + j, (n - j) * sizeof(double));
        }
    }
    if (k > 0 && extend_factor(c, gp, Xnew, k, shared, B, S, err) != 0) {
        goto fail;
    }
    if (c->Kinv != NULL && gp->Kinv == NULL && gp_invert(c, err) != 0) {
        goto fail; /* crossing KINV_MIN: a fresh inverse */
    }
    if (k > 0 && c->Kinv != NULL && gp->Kinv != NULL && extend_inverse(c, gp, k, B, S, err) != 0) {
        goto fail;
    }
    gp_solve_alpha(c);
    free(B);
    free(S);
    return c;
fail:
    free(B);
    free(S);
    hn_gp_free(c);
    return NULL;
}

struct hn_gp *hn_gp_condition(const struct hn_gp *gp, const double *Xnew, const double *ynew,
                              size_t k, struct hn_error *err)
{
    return gp_extend(gp, Xnew, ynew, NULL, k, err);
}

struct hn_gp *hn_gp_append(const struct hn_gp *gp, const double *Xnew, const double *ynew,
                           const double *noise_var, size_t k, struct hn_error *err)
{
    if (noise_var == NULL && k > 0) {
        /* every new point takes the learned noise */
        double *nan = malloc(k * sizeof(double));
        if (nan == NULL) {
            hn_error_set(err, NULL, "GP: out of memory");
            return NULL;
        }
        for (size_t j = 0; j < k; j++) {
            nan[j] = NAN;
        }
        struct hn_gp *c = gp_extend(gp, Xnew, ynew, nan, k, err);
        free(nan);
        return c;
    }
    return gp_extend(gp, Xnew, ynew, noise_var, k, err);
}

const double *hn_gp_cholesky(const struct hn_gp *gp)
{
    return gp->L;
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
        return hn_error_set(err, NULL, "GP: cannot invert the kernel matrix for leave-one-out");
    }
    /* with r = ystd - c: LOO mean of r_i = r_i - alpha_i / Kinv_ii, so of ystd_i likewise */
    for (size_t i = 0; i < n; i++) {
        double kii = Kinv[i + i * n];
        loo_mean[i] = (gp->ystd[i] - gp->alpha[i] / kii) * gp->y_scale + gp->y_mean;
        loo_var[i] = gp->y_scale * gp->y_scale / kii;
    }
    free(Kinv);
    return 0;
}
