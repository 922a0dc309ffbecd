/*
 * hilnas Gaussian-process surrogate: exact GP regression for one metric.
 *
 * Used by the gpbo optimizer (acquisition functions on top of the posterior) and the learned
 * latency oracle (fit, predict, leave-one-out accuracy).
 *
 * Spaces. Inputs are points of the unit cube [0,1]^d (row-major n x d; the caller normalizes).
 * Outputs are optionally log-transformed (positive metrics such as latency); the result is the
 * *model space* (log y with log_transform, y otherwise) in which every prediction, fantasy and
 * incumbent is expressed. Internally the model-space outputs are standardized (mean 0, sample
 * standard deviation 1); hyperparameters (struct hn_gp_hyper) are in standardized units.
 *
 * Model, following BoTorch's SingleTaskGP (botorch main as of v0.15.1, checked in
 * botorch/models/gp_regression.py and botorch/models/utils/gpytorch_modules.py):
 *   f ~ GP(c, s * k(x, x')),  y_i = f(x_i) + e_i,  e_i ~ N(0, noise_i)
 *   - c: learned constant mean (ConstantMean; no prior; bounded to [-3, 3] standardized).
 *   - k: Matern-5/2 ARD (HN_GP_MATERN52, default) or squared-exponential ARD (HN_GP_RBF).
 *     BoTorch's default is RBF; Matern-5/2 is hilnas' default (rougher, safer on latency).
 *   - lengthscales l_i ~ LogNormal(sqrt(2) + log(d)/2, sqrt(3)): the dimension-scaled prior of
 *     Hvarfner et al. 2024 (get_covar_module_with_dim_scaled_prior), l_i >= 0.025 as in BoTorch
 *     (and <= 1000 so L-BFGS has a box).
 *   - output scale s: BoTorch has none (s = 1 on standardized data; a PR adding a ScaleKernel
 *     was not merged). hilnas learns s in [0.05, 20] without a prior by default
 *     (learn_outputscale = 1) and fixes s = 1 with learn_outputscale = 0, which reproduces
 *     BoTorch's model. Learning s measured as good or better in bench_optimizers (30 seeds,
 *     median at the final budget, learned vs fixed): Branin regret 0.0055 vs 0.0073,
 *     Hartmann-6 regret 0.0028 vs 0.013, BraninCurrin log10 hypervolume gap 0.51 vs 0.53.
 *   - noise: learned homoskedastic variance ~ LogNormal(-4, 1), >= 1e-4 (BoTorch's
 *     MIN_INFERRED_NOISE_LEVEL, get_gaussian_likelihood_with_lognormal_prior), <= 10; or, where a
 *     standard error is known, fixed to sem^2 (standardized, floored at 1e-6 like GPyTorch's
 *     FixedGaussianNoise for doubles). Points with unknown sem (NAN) share the learned noise.
 * Other priors (options.use_priors, enum hn_gp_priors): BoTorch <= 0.11's Gamma priors, or
 * "mixed" (the lengthscale prior above, Gamma priors on the output scale and noise: gpbo's
 * default, the best of the three in bench_optimizers; see docs/benchmarks.md), or none.
 * Hyperparameters maximize log marginal likelihood + log priors (the priors are densities of l
 * and noise themselves, as GPyTorch evaluates them) with NLopt's L-BFGS on log-hyperparameters
 * within the bounds above, analytic gradients, from the priors' modes (BoTorch's initial values)
 * and (restarts - 1) seeded draws from the priors; the best optimum wins.
 *
 * Linear algebra: column-major kernel matrices, LAPACKE_dpotrf with escalating jitter
 * (1e-8 .. 1e-2 of the mean diagonal) and a clear error when the matrix stays indefinite.
 * From 256 points a GP also keeps K^-1 (built once, extended by blocks in hn_gp_condition and
 * hn_gp_append): hn_gp_predict_grad then costs one symmetric matrix-vector product instead of
 * two triangular solves (1.9-3x faster at n = 500-1000 here). K^-1 loses digits to cond(K)
 * where the two solves do not: variances near observed points are then accurate to about
 * 1e-16 cond(K) of the output scale (hn_gp_predict always solves with L).
 * Restarts run on up to 2 threads (options.threads), each with its own workspace; OpenBLAS is
 * switched to one thread for the duration of hn_gp_fit (a second BLAS thread slows Cholesky at
 * n = 64-256 on 2 cores) and restored afterwards. The threads are plain pthreads, not OpenMP:
 * idle libgomp workers spin after a parallel region and slow the caller's multi-threaded
 * OpenBLAS calls (see bench/bench_gp.c). There is no global mutable state in this module.
 *
 * Ownership: a struct hn_gp owns copies of its data; inputs are never kept. Thread safety: a GP
 * is immutable after construction, so every const function may run concurrently on the same GP.
 * hn_gp_fit changes OpenBLAS's process-wide thread count while it runs: other threads' BLAS calls
 * meanwhile run single-threaded (correct, maybe slower); concurrent fits are correct, but the
 * first to finish restores the count while the others still run. Callers that predict many
 * single points between fits (acquisition optimization) may prefer openblas_set_num_threads(1)
 * themselves: at n <= a few hundred a second BLAS thread does not pay.
 */
#ifndef HILNAS_GP_H
#define HILNAS_GP_H

#include <stddef.h>
#include <stdint.h>

#include "hilnas/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest input dimension. */
#define HN_GP_MAX_DIM 256

enum hn_gp_kernel { HN_GP_MATERN52, HN_GP_RBF };

/*
 * Hyperparameter priors: none (maximum likelihood); the dimension-scaled lognormal priors of
 * BoTorch >= 0.12 described above (default); or BoTorch <= 0.11's Gamma priors (lengthscales
 * Gamma(3, 6), output scale Gamma(2, 0.15), noise Gamma(1.1, 0.05), densities of the values;
 * starts at GPyTorch's initial values l = s = log 2 and the noise prior's mode 2).
 */
enum hn_gp_priors {
    HN_GP_PRIORS_NONE = 0,
    HN_GP_PRIORS_LOGNORMAL = 1,
    HN_GP_PRIORS_GAMMA = 2,
    HN_GP_PRIORS_MIXED = 3 /* lengthscales lognormal, output scale and noise Gamma */
};

struct hn_gp_options {
    enum hn_gp_kernel kernel; /* default HN_GP_MATERN52 */
    int log_transform;        /* model log(y); every y must be > 0 (default 0) */
    int fixed_noise;          /* default 1: where sem[i] is finite, noise_i = sem[i]^2 (mapped to
                                 the model space: (sem/y)^2 with log_transform); 0: ignore sem
                                 and learn one noise for every point */
    int restarts;             /* hyperparameter optimization starts, >= 1 (default 4) */
    int threads;              /* threads sharing the restarts: 1 or 2 (default 2) */
    int use_priors;           /* enum hn_gp_priors (default HN_GP_PRIORS_LOGNORMAL) */
    int learn_outputscale;    /* default 1: learn s (else s = 1, BoTorch's model) */
    uint64_t seed;            /* for the random restarts; same seed, same fit */
    /* Warm start (default NULL): the first start is these hyperparameters (e.g. the previous
     * fit on fewer points; standardized units, clamped into the bounds) instead of the
     * priors' modes; the other restarts - 1 starts are random draws as usual. Borrowed. */
    const struct hn_gp_hyper *start;
    int maxeval; /* objective evaluations per start (0: 300) */
};

/*
 * Hyperparameters, in standardized units, and the standardization itself (model space =
 * y_mean + y_scale * standardized). hn_gp_get_hyper then hn_gp_new_fixed with the same X, the
 * model-space y and noise rebuilds the fitted GP exactly (saving and loading a model).
 */
struct hn_gp_hyper {
    size_t d;
    double lengthscale[HN_GP_MAX_DIM]; /* l_1 .. l_d, in input units (the unit cube) */
    double noise;       /* learned homoskedastic noise variance; 0 when every point has a
                           fixed one */
    double mean;        /* constant mean c */
    double outputscale; /* kernel variance s (0 in hn_gp_new_fixed means 1) */
    double y_mean;      /* model-space offset (0 with y_scale 0: no standardization) */
    double y_scale;     /* model-space scale, > 0; 0 in hn_gp_new_fixed means 1 */
    double jitter;      /* output only: what was added to K's diagonal to factor it (0 mostly;
                           > 0 with near-duplicate inputs); ignored by hn_gp_new_fixed */
};

struct hn_gp;

/* Fill opt with the defaults above. Never fails. */
void hn_gp_options_default(struct hn_gp_options *opt);

/*
 * Fit a GP to n observations: X (n x d row-major, in [0,1]^d), y (n), sem (n standard errors in
 * y's units, or NULL; NAN entries = unknown, their noise is learned). opt may be NULL for the
 * defaults. Returns a new GP (free with hn_gp_free), or NULL with err on bad input (n == 0, d
 * outside 1..HN_GP_MAX_DIM, non-finite X or y, y <= 0 with log_transform, negative sem), on a
 * kernel matrix that stays indefinite, or out of memory. Copies X, y and sem. Thread safety:
 * see the file comment (OpenBLAS thread count).
 */
struct hn_gp *hn_gp_fit(const double *X, const double *y, const double *sem, size_t n, size_t d,
                        const struct hn_gp_options *opt, struct hn_error *err);

/*
 * A GP with given hyperparameters and no fitting (tests, fantasies, loading a saved model): y in
 * model space, standardized with hyper->y_mean and hyper->y_scale (0: y used as is); noise_var
 * (n model-space variances, NAN = the shared hyper->noise) or NULL (every point has
 * hyper->noise). Returns a new GP or NULL with err (bad input or hyperparameters, indefinite
 * matrix, out of memory). Copies its inputs.
 */
struct hn_gp *hn_gp_new_fixed(const double *X, const double *y, const double *noise_var, size_t n,
                              size_t d, enum hn_gp_kernel kernel, const struct hn_gp_hyper *hyper,
                              struct hn_error *err);

/* Free a GP; NULL is fine. */
void hn_gp_free(struct hn_gp *gp);

/* Input dimension d and number of training points n. */
size_t hn_gp_dim(const struct hn_gp *gp);
size_t hn_gp_n(const struct hn_gp *gp);

/* Copy the hyperparameters (standardized units) into *h. */
void hn_gp_get_hyper(const struct hn_gp *gp, struct hn_gp_hyper *h);

/*
 * Marginal posterior of the latent f (no observation noise) at m points Xs (m x d row-major):
 * mean[m] and var[m] in model space (either may be NULL). Returns 0, or -1 with err (out of
 * memory). Read-only on gp.
 */
int hn_gp_predict(const struct hn_gp *gp, const double *Xs, size_t m, double *mean, double *var,
                  struct hn_error *err);

/*
 * Posterior mean and variance of f at one point x (d values) with their gradients w.r.t. x
 * (dmean[d], dvar[d]); any output may be NULL. For acquisition optimization. Returns 0, or -1
 * with err (out of memory). Read-only on gp.
 */
int hn_gp_predict_grad(const struct hn_gp *gp, const double *x, double *mean, double *var,
                       double *dmean, double *dvar, struct hn_error *err);

/*
 * Joint posterior of f at m points: mean[m] and cov (m x m, column-major, symmetric; diagonal
 * equal to hn_gp_predict's var), in model space. Returns 0, or -1 with err. Read-only on gp.
 */
int hn_gp_predict_joint(const struct hn_gp *gp, const double *Xs, size_t m, double *mean,
                        double *cov, struct hn_error *err);

/*
 * A new GP: gp conditioned on k more observations Xnew (k x d) with values ynew (k, model
 * space; e.g. fantasies at the posterior mean) with the same hyperparameters and
 * standardization. Their noise is the learned noise, or (every point fixed) the mean fixed
 * noise, as BoTorch's fantasize does. Cost O(n^2 k + k^3): a block Cholesky update, no refit.
 * Returns NULL with err on bad input or an indefinite update. gp is unchanged.
 */
struct hn_gp *hn_gp_condition(const struct hn_gp *gp, const double *Xnew, const double *ynew,
                              size_t k, struct hn_error *err);

/*
 * A new GP: gp with k more *observations* (Xnew, ynew in model space) and their noise
 * variances noise_var (k model-space variances; NAN = the learned noise, or the mean fixed
 * noise when gp has none learned; NULL = all NAN), with gp's hyperparameters and
 * standardization: the factor, K^-1 and alpha are extended by blocks in O(n^2 k + k^3), and
 * equal (to rounding) those of hn_gp_new_fixed on the union with the same hyperparameters.
 * For reusing a fit between asks. Returns NULL with err on bad input or an indefinite update.
 */
struct hn_gp *hn_gp_append(const struct hn_gp *gp, const double *Xnew, const double *ynew,
                           const double *noise_var, size_t k, struct hn_error *err);

/* The lower Cholesky factor of the GP's kernel matrix (n x n column-major, standardized
 * units; only the lower triangle is meaningful). Borrowed; lives as long as gp. For tests. */
const double *hn_gp_cholesky(const struct hn_gp *gp);

/*
 * Smallest (maximize = 0) or largest posterior mean over the training inputs, in model space:
 * the noise-aware incumbent. NAN only when out of memory.
 */
double hn_gp_best_mean(const struct hn_gp *gp, int maximize);

/*
 * Leave-one-out predictive mean and variance of each training *observation* y_i (noise
 * included) given the other n - 1, same hyperparameters, in model space, by the closed form
 * from K^-1 (Rasmussen & Williams eq. 5.12): mean_i = y_i - [K^-1 r]_i / [K^-1]_ii,
 * var_i = 1 / [K^-1]_ii. loo_mean and loo_var have n entries. Returns 0, or -1 with err.
 */
int hn_gp_loo(const struct hn_gp *gp, double *loo_mean, double *loo_var, struct hn_error *err);

/*
 * The fitting objective, exposed so tests compare its gradient with finite differences.
 * theta (d + 3 values) = [log l_1 .. log l_d, log noise, c, log s]. noise_fixed: NULL (every
 * point has noise exp(theta[d])) or n standardized variances with NAN entries for points that
 * take the learned noise. Returns log N(ystd | c, s K + diag(noise)) + (with_prior) the log
 * priors above (with_prior: enum hn_gp_priors; the noise prior only if some point has
 * learned noise), and its gradient in
 * grad[d + 3] if grad != NULL (0 for log noise when no point uses it). Returns -INFINITY if the
 * matrix is not positive definite or memory runs out. Thread-safe (no shared state).
 */
double hn_gp_log_objective(const double *X, const double *ystd, const double *noise_fixed, size_t n,
                           size_t d, enum hn_gp_kernel kernel, const double *theta, double *grad,
                           int with_prior);

/* Standard normal helpers shared by acquisition functions (accurate in the tails). Pure. */
double hn_norm_cdf(double z);
double hn_norm_pdf(double z);
double hn_norm_logcdf(double z);
/* log(phi(z) + z Phi(z)): the log of the expected-improvement function h(z), stable for any z. */
double hn_log_h(double z);

#ifdef __cplusplus
}
#endif
#endif
