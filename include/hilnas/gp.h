/*
 * hilnas Gaussian-process surrogate: exact GP regression for one metric.
 *
 * Inputs are points of the unit cube [0,1]^d (row-major n x d). Outputs are optionally
 * log-transformed (positive metrics such as latency), then standardized internally; every
 * prediction is returned in the *model space*: log(y) when log_transform is set, y otherwise.
 *
 * Model: constant mean c (learned), Matern-5/2 ARD kernel (or RBF) times a learned output scale
 * (within [0.05, 20], no prior; fixed to 1 when learn_outputscale is 0) on the standardized outputs, homoskedastic Gaussian noise (learned) or fixed per-point noise
 * (from standard errors). Hyperparameters maximize the log marginal likelihood plus log priors,
 * as BoTorch's SingleTaskGP does by default (botorch >= 0.12):
 *   lengthscale l_i ~ LogNormal(sqrt(2) + log(d)/2, sqrt(3))   (dimension-scaled prior)
 *   noise variance  ~ LogNormal(-4, 1), bounded below by 1e-6 (standardized units)
 * optimized with NLopt's L-BFGS on log-hyperparameters within bounds, from the prior's mode
 * and (restarts - 1) seeded draws from the priors; the best optimum wins.
 *
 * Linear algebra: column-major kernel matrices, LAPACKE_dpotrf with escalating jitter
 * (1e-8 .. 1e-2 of the mean diagonal) and a clear error when the matrix stays indefinite.
 * OpenBLAS runs single-threaded inside hn_gp_fit (faster for n <= a few hundred on 2 cores).
 *
 * Ownership: a struct hn_gp owns copies of its data. Thread safety: a fitted GP is read-only;
 * predictions may run concurrently. hn_gp_fit itself must not run concurrently with other
 * OpenBLAS users (it changes the OpenBLAS thread count for its duration).
 */
#ifndef HILNAS_GP_H
#define HILNAS_GP_H

#include <stddef.h>
#include <stdint.h>

#include "hilnas/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HN_GP_MAX_DIM 256

enum hn_gp_kernel { HN_GP_MATERN52, HN_GP_RBF };

struct hn_gp_options {
    enum hn_gp_kernel kernel; /* default HN_GP_MATERN52 */
    int log_transform;        /* model log(y); every y must be > 0 */
    int restarts;             /* hyperparameter optimization starts (default 4) */
    int use_priors;           /* default 1 */
    int learn_outputscale;    /* default 1: learn the kernel's output scale (else fixed to 1) */
    uint64_t seed;            /* for the random restarts */
};

/* Hyperparameters, in standardized units (noise is a variance). */
struct hn_gp_hyper {
    size_t d;
    double lengthscale[HN_GP_MAX_DIM];
    double noise; /* learned homoskedastic noise variance (0 when every point has a fixed one) */
    double mean;  /* constant mean */
    double outputscale; /* kernel variance (0 in hn_gp_new_fixed means 1) */
};

struct hn_gp;

void hn_gp_options_default(struct hn_gp_options *opt);

/*
 * Fit a GP. sem may be NULL; when every sem[i] is finite the noise is fixed to sem^2 (mapped
 * into the model space: sem/y for a log transform), otherwise it is learned. Returns NULL with
 * err on bad input (n == 0, d out of range, non-finite data, y <= 0 with a log transform) or a
 * hopeless kernel matrix.
 */
struct hn_gp *hn_gp_fit(const double *X, const double *y, const double *sem, size_t n, size_t d,
                        const struct hn_gp_options *opt, struct hn_error *err);

/* A GP with given hyperparameters (no fitting); y in model space; noise per point optional. */
struct hn_gp *hn_gp_new_fixed(const double *X, const double *y, const double *noise_var,
                              size_t n, size_t d, enum hn_gp_kernel kernel,
                              const struct hn_gp_hyper *hyper, struct hn_error *err);

void hn_gp_free(struct hn_gp *gp);
size_t hn_gp_dim(const struct hn_gp *gp);
size_t hn_gp_n(const struct hn_gp *gp);
void hn_gp_get_hyper(const struct hn_gp *gp, struct hn_gp_hyper *h);

/* Marginal posterior mean and variance of the latent f at m points (model space). */
int hn_gp_predict(const struct hn_gp *gp, const double *Xs, size_t m, double *mean, double *var,
                  struct hn_error *err);

/* At one point, with gradients w.r.t. x (d values each; either may be NULL). */
int hn_gp_predict_grad(const struct hn_gp *gp, const double *x, double *mean, double *var,
                       double *dmean, double *dvar, struct hn_error *err);

/* Joint posterior: mean (m) and covariance (m x m, column-major, symmetric). */
int hn_gp_predict_joint(const struct hn_gp *gp, const double *Xs, size_t m, double *mean,
                        double *cov, struct hn_error *err);

/*
 * A new GP conditioned on k more observations (model space, e.g. fantasies at the posterior
 * mean) with the same hyperparameters and standardization; their noise is the learned noise
 * (or the smallest fixed noise). For batch and pending-point selection.
 */
struct hn_gp *hn_gp_condition(const struct hn_gp *gp, const double *Xnew, const double *ynew,
                              size_t k, struct hn_error *err);

/* Smallest (maximize = 0) or largest posterior mean over the training inputs (model space). */
double hn_gp_best_mean(const struct hn_gp *gp, int maximize);

/* Leave-one-out predictive mean and variance (of y, noise included) for every training point,
 * in model space, by the closed form from K^-1 (no refits). */
int hn_gp_loo(const struct hn_gp *gp, double *loo_mean, double *loo_var, struct hn_error *err);

/*
 * The fitting objective: log marginal likelihood (+ log priors if with_prior) of standardized
 * outputs ystd at log-hyperparameters theta = [log l_1 .. log l_d, log noise, mean, log outputscale] (log noise
 * ignored, and its gradient 0, when noise_fixed != NULL), with its gradient in grad (may be
 * NULL). Exposed for tests against finite differences. Returns -INFINITY if K is not positive
 * definite.
 */
double hn_gp_log_objective(const double *X, const double *ystd, const double *noise_fixed,
                           size_t n, size_t d, enum hn_gp_kernel kernel, const double *theta,
                           double *grad, int with_prior);

/* Standard normal helpers shared by acquisition functions (accurate in the tails). */
double hn_norm_cdf(double z);
double hn_norm_pdf(double z);
double hn_norm_logcdf(double z);
/* log(phi(z) + z Phi(z)): the log of the expected-improvement function h(z), stable for any z. */
double hn_log_h(double z);

#ifdef __cplusplus
}
#endif
#endif
