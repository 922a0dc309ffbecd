/*
 * hilnas optimizer "gpbo": Bayesian optimization with Gaussian-process surrogates (core/gp.c).
 *
 * Each ask:
 *   1. The first init_trials points of the stage are scrambled Sobol points (index = trials of
 *      the stage so far), as long as a metric has fewer than 2 usable observations too.
 *   2. One GP per modelled metric (objectives, outcome constraints) on the complete trials, in
 *      the model space of gpbo.h; metrics with a standard error get fixed noise; log_metrics
 *      are modelled in log space. Pending trials are fantasized at their posterior mean.
 *      Beyond full_fit_max observations the fits are reused between asks (models.c: anchor
 *      fits warm-started, block Cholesky updates in between; deterministic in the history).
 *   3. Acquisition (log scale): LogEI against the best posterior mean among feasible observed
 *      points (one objective, or ParEGO's random augmented Chebyshev scalarization with fresh
 *      weights each ask), or the exact EHVI of acquisition.h (any number of objectives,
 *      independent posteriors, against the front of the posterior means at the feasible
 *      observed points), or the Monte Carlo "nehvi" (noisy EHVI, Daulton et al. 2021):
 *      mc_samples joint posterior samples of the objectives at the feasible observed points
 *      each give a front, the candidate is sampled jointly with them (conditional on each
 *      sample, fixed base normals), and its hypervolume improvement is averaged; gradients by
 *      central differences. Plus the log probability of feasibility of every outcome
 *      constraint; until a feasible point exists, that alone.
 *      The EHVI cells number (k+1)^(m-1) for a front of k points: with 4 objectives, fronts
 *      beyond ~60 points make each evaluation slow.
 *   4. Optimization (search.c): raw_samples scrambled Sobol points (rounded to valid, unseen
 *      points, scored in one batch), the best `restarts` of them (or a Boltzmann sample) start
 *      L-BFGS (SLSQP under linear parameter constraints) on the continuous relaxation with
 *      analytic gradients, then rounding and (discrete: local) hill climbs over the discrete
 *      neighbours (+-1 step of an int or ordered choice, any other category, the other
 *      boolean) from the rounded optimum (from the raw start where rounding fails);
 *      all-discrete spaces of at most enumerate_max points are enumerated instead. Invalid
 *      points (hn_space_check) and points already in the history or the batch are never
 *      suggested.
 *   5. Batches: sequential greedy selection; each chosen point is fantasized at its posterior
 *      mean before the next one is chosen.
 *
 * Determinism: every random stream derives from the seed and the number of trials in the
 * history, so a resumed study suggests what the uninterrupted one would have.
 */
#include "config.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <nlopt.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/gp.h"
#include "hilnas/optimizer.h"
#include "hilnas/pareto.h"
#include "hilnas/rng.h"
#include "hilnas/sobol.h"
#include "plugins/optimizer-gpbo/acquisition.h"
#include "plugins/optimizer-gpbo/gpbo.h"
#include "plugins/optimizer-gpbo/models.h"

#define LOG_TINY (-690.7755) /* log(1e-300) */

static const char *const acquisitions[] = {"auto", "logei", "ehvi", "nehvi", "parego", NULL};
static const char *const kernels[] = {"matern52", "rbf", NULL};
static const char *const discrete_modes[] = {"local", "round", NULL};
static const char *const prior_names[] = {"none", "lognormal", "gamma", "mixed", NULL};
static const char *const start_modes[] = {"best", "boltzmann", NULL};

static const struct hn_option gpbo_options[] = {
    {.name = "init_trials",
     .type = HN_OPT_INT,
     .def = "-1",
     .min = -1,
     .max = 1e9,
     .bounded = 1,
     .offset = offsetof(struct gpbo, init_trials),
     .help = "Scrambled Sobol points at the start of the stage; -1: max(5, 2 d) minus the "
             "complete trials of earlier stages."},
    {.name = "kernel",
     .type = HN_OPT_ENUM,
     .def = "matern52",
     .choices = kernels,
     .offset = offsetof(struct gpbo, kernel),
     .help = "GP kernel: matern52 or rbf (ARD)."},
    {.name = "acquisition",
     .type = HN_OPT_ENUM,
     .def = "auto",
     .choices = acquisitions,
     .offset = offsetof(struct gpbo, acquisition),
     .help = "auto (logei for one objective, ehvi for more), logei, ehvi, nehvi or parego."},
    {.name = "raw_samples",
     .type = HN_OPT_INT,
     .def = "512",
     .min = 1,
     .max = 1e6,
     .bounded = 1,
     .offset = offsetof(struct gpbo, raw_samples),
     .help = "Sobol points scored before the gradient search."},
    {.name = "restarts",
     .type = HN_OPT_INT,
     .def = "6",
     .min = 1,
     .max = 1000,
     .bounded = 1,
     .offset = offsetof(struct gpbo, restarts),
     .help = "Best raw samples used as starts of the gradient search."},
    {.name = "maxeval",
     .type = HN_OPT_INT,
     .def = "100",
     .min = 1,
     .max = 1e6,
     .bounded = 1,
     .offset = offsetof(struct gpbo, maxeval),
     .help = "Acquisition evaluations per gradient search."},
    {.name = "mc_samples",
     .type = HN_OPT_INT,
     .def = "64",
     .min = 1,
     .max = 1e5,
     .bounded = 1,
     .offset = offsetof(struct gpbo, mc_samples),
     .help = "Posterior samples of the nehvi acquisition."},
    {.name = "gp_restarts",
     .type = HN_OPT_INT,
     .def = "2",
     .min = 1,
     .max = 100,
     .bounded = 1,
     .offset = offsetof(struct gpbo, gp_restarts),
     .help = "Starts of each GP hyperparameter fit."},
    {.name = "log_metrics",
     .type = HN_OPT_NODE,
     .def = NULL,
     .offset = offsetof(struct gpbo, log_metrics),
     .help = "Metrics (full or short names) modelled in log space, e.g. [latency]."},
    {.name = "full_fit_max",
     .type = HN_OPT_INT,
     .def = "200",
     .min = 2,
     .max = 1e9,
     .bounded = 1,
     .offset = offsetof(struct gpbo, full_fit_max),
     .help = "Up to this many observations of a metric, each ask fits its GP from scratch; "
             "beyond, hyperparameters are refitted (warm-started, one start) only at anchor "
             "sizes growing by anchor_growth, and the points since the last anchor join by "
             "block Cholesky updates."},
    {.name = "anchor_growth",
     .type = HN_OPT_DOUBLE,
     .def = "1.1",
     .min = 1.0001,
     .max = 10,
     .bounded = 1,
     .offset = offsetof(struct gpbo, anchor_growth),
     .help = "Ratio between successive refit sizes beyond full_fit_max."},
    {.name = "discrete",
     .type = HN_OPT_ENUM,
     .def = "local",
     .choices = discrete_modes,
     .offset = offsetof(struct gpbo, discrete),
     .help = "Discrete parameters: local (exhaustive enumeration of small all-discrete spaces, "
             "else hill climbs over one-step neighbours from the rounded continuous optima) or "
             "round (round the continuous optimum; for comparison)."},
    {.name = "enumerate_max",
     .type = HN_OPT_INT,
     .def = "4096",
     .min = 0,
     .max = 1e7,
     .bounded = 1,
     .offset = offsetof(struct gpbo, enumerate_max),
     .help = "All-discrete spaces with at most this many points are searched exhaustively."},
    {.name = "starts",
     .type = HN_OPT_ENUM,
     .def = "best",
     .choices = start_modes,
     .offset = offsetof(struct gpbo, starts),
     .help = "Starts of the gradient search among the raw samples: the best ones, or "
             "boltzmann (BoTorch's initialize_q_batch: sampled with weights exp(z), z the "
             "standardized acquisition values, the best always included)."},
    {.name = "priors",
     .type = HN_OPT_ENUM,
     .def = "mixed",
     .choices = prior_names,
     .offset = offsetof(struct gpbo, priors),
     .help = "GP hyperparameter priors: mixed (lengthscales: BoTorch >= 0.12's dimension-scaled "
             "lognormal; output scale and noise: BoTorch 0.11's Gamma(2, 0.15) and "
             "Gamma(1.1, 0.05)), lognormal (all BoTorch >= 0.12), gamma (all BoTorch 0.11) "
             "or none."},
    {.name = "seed",
     .type = HN_OPT_INT,
     .def = "-1",
     .min = -1,
     .max = 9.2e18,
     .bounded = 1,
     .offset = offsetof(struct gpbo, seed),
     .help = "Seed; -1 derives it from the study seed and the stage name."},
    {.name = NULL},
};

/* ---- model space ---- */

size_t gpbo_dim(const struct gpbo *g)
{
    return g->dim;
}

void gpbo_encode(const struct gpbo *g, const double *x, double *z)
{
    const struct hn_params *p = g->params;
    for (size_t i = 0; i < p->n; i++) {
        const struct hn_param *q = &p->p[i];
        double *c = z + g->col[i];
        if (q->type == HN_PARAM_CATEGORICAL) {
            for (size_t k = 0; k < g->width[i]; k++) {
                c[k] = (double)k == x[i] ? 1 : 0;
            }
        } else if ((q->type == HN_PARAM_FLOAT || q->type == HN_PARAM_INT) && !(q->hi > q->lo)) {
            c[0] = 0.5;
        } else {
            /* one parameter at a time through the core's map */
            struct hn_params one = {.n = 1, .p = (struct hn_param *)q};
            hn_params_to_unit(&one, x + i, c);
        }
    }
}

void gpbo_decode(const struct gpbo *g, const double *z, double *x)
{
    const struct hn_params *p = g->params;
    for (size_t i = 0; i < p->n; i++) {
        const struct hn_param *q = &p->p[i];
        const double *c = z + g->col[i];
        if (q->type == HN_PARAM_CATEGORICAL) {
            size_t best = 0;
            for (size_t k = 1; k < g->width[i]; k++) {
                if (c[k] > c[best]) {
                    best = k;
                }
            }
            x[i] = (double)best;
        } else {
            struct hn_params one = {.n = 1, .p = (struct hn_param *)q};
            hn_params_from_unit(&one, c, x + i);
        }
    }
}

/* ---- surrogate state ---- */

struct gpbo_state {
    const struct gpbo *g;
    int kind;
    size_t n_models; /* metric GPs, plus the ParEGO GP */
    struct hn_gp *gp[MAX_METRICS + 1];
    size_t m; /* objectives seen by the acquisition (1 for ParEGO) */
    size_t obj_model[GPBO_MAX_OBJ];
    double sign[GPBO_MAX_OBJ];
    int feasible; /* a feasible (observed or believed) point exists */
    double best;  /* LogEI incumbent, oriented */
    double ref[GPBO_MAX_OBJ];
    size_t n_front, cap_front;
    double *front; /* oriented posterior means of feasible points */
    struct gpbo_ehvi *ehvi;
    /*
     * nehvi: the feasible observed (and believed) points Xs, S joint posterior samples of the
     * objectives there (base normals eps_obs), their fronts, and the candidate's base normals.
     */
    size_t S;
    size_t n_rows, cap_rows;
    double *Xs;              /* cap_rows x D */
    double *L[GPBO_MAX_OBJ]; /* n_rows x n_rows: Cholesky factor of the posterior cov */
    double *eps_obs;         /* S x m x cap_rows */
    double *eps;             /* S x m */
    double *samples;         /* S x cap_rows x m, oriented */
    struct gpbo_ehvi **sample_ehvi;
};

void gpbo_state_free(struct gpbo_state *st)
{
    if (st == NULL) {
        return;
    }
    for (size_t k = 0; k < st->n_models; k++) {
        hn_gp_free(st->gp[k]);
    }
    free(st->front);
    gpbo_ehvi_free(st->ehvi);
    if (st->sample_ehvi) {
        for (size_t s = 0; s < st->S; s++) {
            gpbo_ehvi_free(st->sample_ehvi[s]);
        }
    }
    free(st->sample_ehvi);
    free(st->samples);
    free(st->eps);
    free(st->eps_obs);
    free(st->Xs);
    for (size_t j = 0; j < GPBO_MAX_OBJ; j++) {
        free(st->L[j]);
    }
    free(st);
}

static double to_model(const struct gpbo *g, size_t metric, double v)
{
    return g->metric_log[metric] ? log(v) : v;
}

static int usable(const struct gpbo *g, size_t metric, double v)
{
    return isfinite(v) && (!g->metric_log[metric] || v > 0);
}

/* Observed point satisfies every outcome constraint (native units). */
static int observed_feasible(const struct gpbo *g, const struct hn_trial *t)
{
    for (size_t c = 0; c < g->nc; c++) {
        if (!hn_constraint_ok(&g->constraints[c], hn_trial_value(t, g->constraints[c].metric))) {
            return 0;
        }
    }
    return 1;
}

static int rebuild_ehvi(struct gpbo_state *st)
{
    if (st->kind == ACQ_EHVI) {
        gpbo_ehvi_free(st->ehvi);
        st->ehvi = gpbo_ehvi_new(st->front, st->n_front, st->m, st->ref);
        return st->ehvi ? 0 : -1;
    }
    if (st->kind == ACQ_NEHVI) {
        size_t rows = st->n_rows;
        for (size_t s = 0; s < st->S; s++) {
            gpbo_ehvi_free(st->sample_ehvi[s]);
            st->sample_ehvi[s] =
                gpbo_ehvi_new(st->samples + s * st->cap_rows * st->m, rows, st->m, st->ref);
            if (st->sample_ehvi[s] == NULL) {
                return -1;
            }
        }
    }
    return 0;
}

static int front_push(struct gpbo_state *st, const double *y)
{
    if (st->n_front == st->cap_front) {
        size_t cap = st->cap_front ? 2 * st->cap_front : 16;
        double *f = realloc(st->front, cap * st->m * sizeof(double));
        if (f == NULL) {
            return -1;
        }
        st->front = f;
        st->cap_front = cap;
    }
    memcpy(st->front + st->n_front * st->m, y, st->m * sizeof(double));
    st->n_front++;
    return 0;
}

/*
 * nehvi: set up the sampled points (the feasible observed ones, room for believed ones) and
 * the fixed base normals.
 */
static int nehvi_init(struct gpbo_state *st, const double *Xf, size_t nf, size_t extra,
                      uint64_t seed, struct hn_error *err)
{
    size_t m = st->m, S = st->S, D = st->g->dim;
    st->cap_rows = nf + extra;
    st->n_rows = nf;
    st->Xs = malloc(st->cap_rows * D * sizeof(double));
    st->eps_obs = malloc(S * m * st->cap_rows * sizeof(double));
    st->eps = malloc(S * m * sizeof(double));
    st->samples = calloc(S * st->cap_rows * m + 1, sizeof(double));
    st->sample_ehvi = calloc(S, sizeof(*st->sample_ehvi));
    if (st->Xs == NULL || st->eps_obs == NULL || st->eps == NULL || st->samples == NULL ||
        st->sample_ehvi == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    memcpy(st->Xs, Xf, nf * D * sizeof(double));
    struct hn_rng rng;
    hn_rng_seed(&rng, hn_rng_derive(seed, 0x6e656876 /* "nehv" */));
    for (size_t i = 0; i < S * m * st->cap_rows; i++) {
        st->eps_obs[i] = hn_rng_normal(&rng);
    }
    for (size_t i = 0; i < S * m; i++) {
        st->eps[i] = hn_rng_normal(&rng);
    }
    return 0;
}

/*
 * nehvi: joint posterior samples of the m objectives at the sampled points with the current
 * GPs (f = mean + L eps_obs), their fronts and cells. Called again after each fantasy.
 */
static int nehvi_sample(struct gpbo_state *st, struct hn_error *err)
{
    size_t m = st->m, S = st->S, n = st->n_rows;
    double *mean = malloc((n + 1) * sizeof(double)), *cov = malloc((n * n + 1) * sizeof(double));
    int rc = -1;
    if (mean == NULL || cov == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    for (size_t j = 0; j < m && n > 0; j++) {
        const struct hn_gp *gp = st->gp[st->obj_model[j]];
        if (hn_gp_predict_joint(gp, st->Xs, n, mean, cov, err) != 0) {
            goto done;
        }
        free(st->L[j]);
        st->L[j] = malloc(n * n * sizeof(double));
        if (st->L[j] == NULL) {
            hn_error_set(err, NULL, "out of memory");
            goto done;
        }
        double jitter = 1e-12;
        for (size_t i = 0; i < n; i++) {
            jitter = fmax(jitter, 1e-9 * cov[i + i * n]);
        }
        int ok = 0;
        for (int tries = 0; tries < 8 && !ok; tries++, jitter *= 10) {
            memcpy(st->L[j], cov, n * n * sizeof(double));
            for (size_t i = 0; i < n; i++) {
                st->L[j][i + i * n] += jitter;
            }
            ok = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, st->L[j], (lapack_int)n) == 0;
        }
        if (!ok) {
            hn_error_set(err, NULL,
                         "nehvi: the posterior covariance of %s at the observed points is not "
                         "positive definite; use acquisition: ehvi",
                         st->g->metric[st->g->obj_metric[j]]);
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            for (size_t k = i + 1; k < n; k++) {
                st->L[j][i + k * n] = 0; /* dpotrf leaves the upper triangle alone */
            }
        }
        for (size_t s = 0; s < S; s++) {
            const double *e = st->eps_obs + (s * m + j) * st->cap_rows;
            for (size_t i = 0; i < n; i++) {
                double v = mean[i];
                for (size_t k = 0; k <= i; k++) {
                    v += st->L[j][i + k * n] * e[k];
                }
                st->samples[(s * st->cap_rows + i) * m + j] = st->sign[j] * v;
            }
        }
    }
    rc = 0;
done:
    free(mean);
    free(cov);
    return rc;
}

/*
 * nehvi: mean over the samples of the improvement of the candidate's sample, drawn jointly
 * with the sampled points: f(z) | f(Xs) = mu + w' eps_obs + r eps with w = L^-1 cov(Xs, z),
 * r^2 = var(z) - w'w. Returns NAN on failure.
 */
static double nehvi_value(const struct gpbo_state *st, const double *z)
{
    size_t m = st->m, S = st->S, n = st->n_rows, D = st->g->dim;
    double *X = malloc((n + 1) * D * sizeof(double)), *mean = malloc((n + 1) * sizeof(double));
    double *cov = malloc((n + 1) * (n + 1) * sizeof(double)), *w = malloc((n + 1) * sizeof(double));
    double *y = malloc(S * m * sizeof(double)), total = NAN;
    if (X == NULL || mean == NULL || cov == NULL || w == NULL || y == NULL) {
        goto done;
    }
    memcpy(X, st->Xs, n * D * sizeof(double));
    memcpy(X + n * D, z, D * sizeof(double));
    for (size_t j = 0; j < m; j++) {
        if (hn_gp_predict_joint(st->gp[st->obj_model[j]], X, n + 1, mean, cov, NULL) != 0) {
            goto done;
        }
        double var = cov[n + n * (n + 1)], ww = 0;
        memcpy(w, cov + n * (n + 1), n * sizeof(double)); /* cov(Xs, z) */
        if (n > 0) {
            cblas_dtrsv(CblasColMajor, CblasLower, CblasNoTrans, CblasNonUnit, (int)n, st->L[j],
                        (int)n, w, 1);
            ww = cblas_ddot((int)n, w, 1, w, 1);
        }
        double r = sqrt(fmax(var - ww, 0));
        for (size_t s = 0; s < S; s++) {
            const double *e = st->eps_obs + (s * m + j) * st->cap_rows;
            double v = mean[n] + r * st->eps[s * m + j];
            for (size_t i = 0; i < n; i++) {
                v += w[i] * e[i];
            }
            y[s * m + j] = st->sign[j] * v;
        }
    }
    double zero[GPBO_MAX_OBJ] = {0};
    total = 0;
    for (size_t s = 0; s < S; s++) {
        total += gpbo_ehvi_value(st->sample_ehvi[s], y + s * m, zero, NULL, NULL);
    }
    total /= (double)S;
done:
    free(X);
    free(mean);
    free(cov);
    free(w);
    free(y);
    return total;
}

struct gpbo_state *gpbo_state_new(const struct gpbo *g, const struct hn_history *h,
                                  unsigned long long seed, struct hn_error *err)
{
    size_t D = g->dim, N = 0;
    struct gpbo_state *st = calloc(1, sizeof(*st));
    const struct hn_trial **rows = calloc(h->n + 1, sizeof(*rows));
    double *X = malloc((h->n + 1) * D * sizeof(double));
    double *y = malloc((h->n + 1) * sizeof(double)), *sem = malloc((h->n + 1) * sizeof(double));
    double *Xf = malloc((h->n + 1) * D * sizeof(double));
    double *mean = malloc((h->n + 1) * sizeof(double));
    double *yobj = malloc((h->n + 1) * GPBO_MAX_OBJ * sizeof(double));
    size_t nf = 0, n_all = 0;
    hn_error_clear(err);
    if (st == NULL || rows == NULL || X == NULL || y == NULL || sem == NULL || Xf == NULL ||
        mean == NULL || yobj == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto fail;
    }
    st->g = g;
    st->kind = g->kind;
    for (size_t i = 0; i < h->n; i++) {
        const struct hn_trial *t = h->trials[i];
        if (t->status == HN_TRIAL_COMPLETE && t->n_params == g->params->n) {
            rows[N++] = t;
        }
    }
    /* one GP per metric, on the rows where it is usable */
    struct hn_gp_options opt;
    hn_gp_options_default(&opt);
    opt.kernel = g->kernel == 1 ? HN_GP_RBF : HN_GP_MATERN52;
    opt.restarts = (int)g->gp_restarts;
    opt.use_priors = g->priors; /* the order of prior_names is enum hn_gp_priors' */
    for (size_t k = 0; k < g->n_metrics; k++) {
        size_t n = 0;
        for (size_t i = 0; i < N; i++) {
            const struct hn_metric *mt = hn_metrics_get(&rows[i]->metrics, g->metric[k]);
            if (mt == NULL || !usable(g, k, mt->value)) {
                continue;
            }
            gpbo_encode(g, rows[i]->x, X + n * D);
            y[n] = mt->value;
            sem[n] = mt->sem;
            n++;
        }
        if (n < 2) {
            goto fail; /* not enough data: err stays clear */
        }
        opt.log_transform = g->metric_log[k];
        opt.seed = hn_rng_derive(seed, k);
        st->gp[k] = gpbo_models_fit(g->models, k, X, y, sem, n, D, &opt, (size_t)g->full_fit_max,
                                    g->anchor_growth, hn_rng_derive(g->stream_seed, 0x616e6300 + k),
                                    err);
        if (st->gp[k] == NULL) {
            hn_error_prefix(err, "fitting the GP of %s", g->metric[k]);
            goto fail;
        }
        st->n_models = k + 1;
    }
    /* rows with every objective, and the feasible ones among them */
    for (size_t i = 0; i < N; i++) {
        int all = 1;
        for (size_t j = 0; j < g->m; j++) {
            double v = hn_trial_value(rows[i], g->metric[g->obj_metric[j]]);
            all &= usable(g, g->obj_metric[j], v);
            yobj[n_all * GPBO_MAX_OBJ + j] =
                all ? g->obj_sign[j] * to_model(g, g->obj_metric[j], v) : NAN;
        }
        if (!all) {
            continue;
        }
        gpbo_encode(g, rows[i]->x, X + n_all * D);
        if (observed_feasible(g, rows[i])) {
            memcpy(Xf + nf * D, X + n_all * D, D * sizeof(double));
            nf++;
        }
        n_all++;
    }
    if (n_all < 2) {
        goto fail;
    }
    st->m = g->m;
    for (size_t j = 0; j < g->m; j++) {
        st->obj_model[j] = g->obj_metric[j];
        st->sign[j] = g->obj_sign[j];
    }
    if (g->kind == ACQ_PAREGO) {
        /* random augmented Chebyshev scalarization of the normalized objectives (Knowles) */
        struct hn_rng rng;
        hn_rng_seed(&rng, hn_rng_derive(seed, 0x70617265 /* "pare" */));
        double w[GPBO_MAX_OBJ], wsum = 0, lo[GPBO_MAX_OBJ], hi[GPBO_MAX_OBJ];
        for (size_t j = 0; j < g->m; j++) {
            w[j] = -log(1 - hn_rng_uniform(&rng));
            wsum += w[j];
            lo[j] = INFINITY;
            hi[j] = -INFINITY;
            for (size_t i = 0; i < n_all; i++) {
                lo[j] = fmin(lo[j], yobj[i * GPBO_MAX_OBJ + j]);
                hi[j] = fmax(hi[j], yobj[i * GPBO_MAX_OBJ + j]);
            }
        }
        for (size_t i = 0; i < n_all; i++) {
            double mx = -INFINITY, sum = 0;
            for (size_t j = 0; j < g->m; j++) {
                double range = hi[j] > lo[j] ? hi[j] - lo[j] : 1;
                double f = w[j] / wsum * (yobj[i * GPBO_MAX_OBJ + j] - lo[j]) / range;
                mx = fmax(mx, f);
                sum += f;
            }
            y[i] = mx + 0.05 * sum;
        }
        opt.log_transform = 0;
        opt.seed = hn_rng_derive(seed, MAX_METRICS);
        st->gp[st->n_models] = hn_gp_fit(X, y, NULL, n_all, D, &opt, err);
        if (st->gp[st->n_models] == NULL) {
            hn_error_prefix(err, "fitting the GP of the ParEGO scalarization");
            goto fail;
        }
        st->obj_model[0] = st->n_models++;
        st->sign[0] = 1;
        st->m = 1;
        st->kind = ACQ_LOGEI;
    }
    st->feasible = nf > 0;
    if (st->kind == ACQ_LOGEI) {
        st->best = INFINITY;
        if (nf > 0) {
            if (hn_gp_predict(st->gp[st->obj_model[0]], Xf, nf, mean, NULL, err) != 0) {
                goto fail;
            }
            for (size_t i = 0; i < nf; i++) {
                st->best = fmin(st->best, st->sign[0] * mean[i]);
            }
        }
    } else {
        /* reference point: given (oriented model space) or inferred from the observations */
        double inferred[GPBO_MAX_OBJ];
        double *obs = malloc((n_all + 1) * st->m * sizeof(double));
        if (obs == NULL) {
            hn_error_set(err, NULL, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < n_all; i++) {
            for (size_t j = 0; j < st->m; j++) {
                obs[i * st->m + j] = yobj[i * GPBO_MAX_OBJ + j];
            }
        }
        int rc = hn_pareto_infer_ref(obs, n_all, st->m, 0.1, inferred, err);
        free(obs);
        if (rc != 0) {
            goto fail;
        }
        for (size_t j = 0; j < st->m; j++) {
            st->ref[j] = isnan(g->obj_ref[j]) ? inferred[j] : g->obj_ref[j];
        }
        for (size_t j = 0; j < st->m; j++) {
            if (nf > 0 && hn_gp_predict(st->gp[st->obj_model[j]], Xf, nf, mean, NULL, err) != 0) {
                goto fail;
            }
            for (size_t i = 0; i < nf; i++) {
                yobj[i * GPBO_MAX_OBJ + j] = st->sign[j] * mean[i];
            }
        }
        for (size_t i = 0; i < nf; i++) {
            if (front_push(st, yobj + i * GPBO_MAX_OBJ) != 0) {
                hn_error_set(err, NULL, "out of memory");
                goto fail;
            }
        }
        if (st->kind == ACQ_NEHVI) {
            st->S = (size_t)g->mc_samples;
            if (nehvi_init(st, Xf, nf, 64, seed, err) != 0 || nehvi_sample(st, err) != 0) {
                goto fail;
            }
        }
        if (rebuild_ehvi(st) != 0) {
            hn_error_set(err, NULL, "out of memory building the hypervolume cells");
            goto fail;
        }
    }
    free(rows);
    free(X);
    free(y);
    free(sem);
    free(Xf);
    free(mean);
    free(yobj);
    return st;
fail:
    free(rows);
    free(X);
    free(y);
    free(sem);
    free(Xf);
    free(mean);
    free(yobj);
    gpbo_state_free(st);
    return NULL;
}

/* Posterior of model k at z: mean, standard deviation, and their gradients (D each). */
static int posterior(const struct gpbo_state *st, size_t k, const double *z, double *mu, double *sd,
                     double *dmu, double *dsd)
{
    double var;
    if (hn_gp_predict_grad(st->gp[k], z, mu, &var, dmu, dsd, NULL) != 0) {
        return -1;
    }
    *sd = sqrt(var);
    if (dsd) {
        for (size_t i = 0; i < st->g->dim; i++) {
            dsd[i] /= 2 * *sd;
        }
    }
    return 0;
}

/*
 * The acquisition from the posteriors at one point: constraint models (cmu, csd: g->nc each)
 * and objectives (mu, sd: st->m, oriented). With d_* != NULL, the partial derivatives w.r.t.
 * each mean and standard deviation. Not for nehvi (Monte Carlo on joint samples).
 */
static double acq_from_posteriors(const struct gpbo_state *st, const double *cmu,
                                  const double *csd, const double *mu, const double *sd,
                                  double *d_cmu, double *d_csd, double *d_mu, double *d_sd)
{
    const struct gpbo *g = st->g;
    size_t m = st->m;
    double value = 0, a, b;
    for (size_t c = 0; c < g->nc; c++) {
        value += gpbo_log_pof2(cmu[c], csd[c], g->con_lo[c], g->con_hi[c], &a, &b);
        if (d_cmu) {
            d_cmu[c] = a;
            d_csd[c] = b;
        }
    }
    if (d_mu) {
        for (size_t j = 0; j < m; j++) {
            d_mu[j] = d_sd[j] = 0;
        }
    }
    if (!st->feasible && g->nc > 0) {
        return value; /* find the feasible region first */
    }
    if (st->kind == ACQ_LOGEI) {
        if (!isfinite(st->best)) {
            /* no feasible incumbent yet (only possible without constraints: never) */
            a = -1;
            b = 0;
            value += -mu[0];
        } else {
            value += gpbo_log_ei(mu[0], sd[0], st->best, &a, &b);
        }
        if (d_mu) {
            d_mu[0] = a;
            d_sd[0] = b;
        }
        return value;
    }
    double gm[GPBO_MAX_OBJ], gs[GPBO_MAX_OBJ];
    double e = gpbo_ehvi_value(st->ehvi, mu, sd, d_mu ? gm : NULL, d_mu ? gs : NULL);
    if (e > 1e-300) {
        value += log(e);
        for (size_t j = 0; d_mu && j < m; j++) {
            d_mu[j] = gm[j] / e;
            d_sd[j] = gs[j] / e;
        }
    } else {
        value += LOG_TINY;
    }
    return value;
}

/* nehvi's log value at z, its gradient (central differences) added into grad when not NULL. */
static double nehvi_log(const struct gpbo_state *st, const double *z, double *grad)
{
    size_t D = st->g->dim;
    double e = nehvi_value(st, z);
    if (!isfinite(e)) {
        return -HUGE_VAL;
    }
    if (grad && e > 1e-300) {
        double zz[HN_GP_MAX_DIM], step = 1e-6;
        memcpy(zz, z, D * sizeof(double));
        for (size_t i = 0; i < D; i++) {
            zz[i] = z[i] + step;
            double up = nehvi_value(st, zz);
            zz[i] = z[i] - step;
            double down = nehvi_value(st, zz);
            zz[i] = z[i];
            grad[i] += (log(fmax(up, 1e-300)) - log(fmax(down, 1e-300))) / (2 * step);
        }
    }
    return log(fmax(e, 1e-300));
}

double gpbo_state_acq(const struct gpbo_state *st, const double *z, double *grad)
{
    const struct gpbo *g = st->g;
    size_t D = g->dim, m = st->m, nc = g->nc;
    double dmu[GPBO_MAX_OBJ][HN_GP_MAX_DIM], dsd[GPBO_MAX_OBJ][HN_GP_MAX_DIM];
    double dcm[MAX_METRICS][HN_GP_MAX_DIM], dcs[MAX_METRICS][HN_GP_MAX_DIM];
    double cmu[MAX_METRICS], csd[MAX_METRICS], mu[GPBO_MAX_OBJ], sd[GPBO_MAX_OBJ];
    double a_cm[MAX_METRICS], a_cs[MAX_METRICS], a_mu[GPBO_MAX_OBJ], a_sd[GPBO_MAX_OBJ];
    int objectives = st->feasible || nc == 0;
    for (size_t c = 0; c < nc; c++) {
        if (posterior(st, g->con_metric[c], z, &cmu[c], &csd[c], grad ? dcm[c] : NULL,
                      grad ? dcs[c] : NULL) != 0) {
            return -HUGE_VAL;
        }
    }
    for (size_t j = 0; objectives && st->kind != ACQ_NEHVI && j < m; j++) {
        if (posterior(st, st->obj_model[j], z, &mu[j], &sd[j], grad ? dmu[j] : NULL,
                      grad ? dsd[j] : NULL) != 0) {
            return -HUGE_VAL;
        }
        mu[j] *= st->sign[j];
        for (size_t i = 0; grad && i < D; i++) {
            dmu[j][i] *= st->sign[j];
        }
    }
    double value;
    if (st->kind == ACQ_NEHVI) {
        /* the constraints through acq_from_posteriors, the objectives by Monte Carlo */
        value = 0;
        for (size_t c = 0; c < nc; c++) {
            value += gpbo_log_pof2(cmu[c], csd[c], g->con_lo[c], g->con_hi[c], &a_cm[c], &a_cs[c]);
        }
        m = 0;
        if (grad) {
            memset(grad, 0, D * sizeof(double));
        }
        if (objectives) {
            double v = nehvi_log(st, z, grad);
            if (!isfinite(v)) {
                return -HUGE_VAL;
            }
            value += v;
        }
    } else {
        value = acq_from_posteriors(st, cmu, csd, mu, sd, grad ? a_cm : NULL,
                                    grad ? a_cs : NULL, grad ? a_mu : NULL, grad ? a_sd : NULL);
        if (grad) {
            memset(grad, 0, D * sizeof(double));
        }
        if (!objectives) {
            m = 0;
        }
    }
    if (grad) {
        for (size_t c = 0; c < nc; c++) {
            for (size_t i = 0; i < D; i++) {
                grad[i] += a_cm[c] * dcm[c][i] + a_cs[c] * dcs[c][i];
            }
        }
        for (size_t j = 0; j < m; j++) {
            for (size_t i = 0; i < D; i++) {
                grad[i] += a_mu[j] * dmu[j][i] + a_sd[j] * dsd[j][i];
            }
        }
    }
    return value;
}

/*
 * The acquisition at k points Z (k x D) into value[k], without gradients: the posteriors of
 * each model at all points at once (hn_gp_predict: kernel blocks and one triangular solve
 * with many right-hand sides, BLAS-3), then the acquisition per point. Returns 0 or -1 (out
 * of memory).
 */
int gpbo_state_acq_batch(const struct gpbo_state *st, const double *Z, size_t k, double *value)
{
    const struct gpbo *g = st->g;
    size_t D = g->dim, m = st->m, nc = g->nc, models = nc + m;
    if (st->kind == ACQ_NEHVI) {
        for (size_t p = 0; p < k; p++) {
            value[p] = gpbo_state_acq(st, Z + p * D, NULL);
        }
        return 0;
    }
    double *mean = malloc((models * k + 1) * sizeof(double));
    double *var = malloc((models * k + 1) * sizeof(double));
    int rc = -1;
    if (mean == NULL || var == NULL) {
        goto done;
    }
    for (size_t r = 0; r < models; r++) {
        size_t model = r < nc ? g->con_metric[r] : st->obj_model[r - nc];
        if (hn_gp_predict(st->gp[model], Z, k, mean + r * k, var + r * k, NULL) != 0) {
            goto done;
        }
    }
    for (size_t p = 0; p < k; p++) {
        double cmu[MAX_METRICS], csd[MAX_METRICS], mu[GPBO_MAX_OBJ], sd[GPBO_MAX_OBJ];
        for (size_t c = 0; c < nc; c++) {
            cmu[c] = mean[c * k + p];
            csd[c] = sqrt(var[c * k + p]);
        }
        for (size_t j = 0; j < m; j++) {
            mu[j] = st->sign[j] * mean[(nc + j) * k + p];
            sd[j] = sqrt(var[(nc + j) * k + p]);
        }
        value[p] = acq_from_posteriors(st, cmu, csd, mu, sd, NULL, NULL, NULL, NULL);
    }
    rc = 0;
done:
    free(mean);
    free(var);
    return rc;
}

int gpbo_state_fantasize(struct gpbo_state *st, const double *z, struct hn_error *err)
{
    const struct gpbo *g = st->g;
    double believed[MAX_METRICS + 1];
    for (size_t k = 0; k < st->n_models; k++) {
        if (hn_gp_predict(st->gp[k], z, 1, &believed[k], NULL, err) != 0) {
            return -1;
        }
    }
    for (size_t k = 0; k < st->n_models; k++) {
        struct hn_gp *c = hn_gp_condition(st->gp[k], z, &believed[k], 1, err);
        if (c == NULL) {
            return -1;
        }
        hn_gp_free(st->gp[k]);
        st->gp[k] = c;
    }
    /* a believed feasible point improves the incumbent / the front */
    int feasible = 1;
    for (size_t c = 0; c < g->nc; c++) {
        double v = believed[g->con_metric[c]];
        feasible &= v >= g->con_lo[c] && v <= g->con_hi[c];
    }
    if (!feasible) {
        /* nehvi: the samples at the observed points must come from the conditioned GPs */
        if (st->kind == ACQ_NEHVI && (nehvi_sample(st, err) != 0 || rebuild_ehvi(st) != 0)) {
            return -1;
        }
        return 0;
    }
    st->feasible = 1;
    double y[GPBO_MAX_OBJ];
    for (size_t j = 0; j < st->m; j++) {
        y[j] = st->sign[j] * believed[st->obj_model[j]];
    }
    if (st->kind == ACQ_LOGEI) {
        st->best = fmin(st->best, y[0]);
        return 0;
    }
    if (front_push(st, y) != 0) {
        return hn_error_set(err, NULL, "out of memory");
    }
    if (st->kind == ACQ_NEHVI && st->n_rows < st->cap_rows) {
        /* the believed point joins the sampled ones */
        memcpy(st->Xs + st->n_rows * g->dim, z, g->dim * sizeof(double));
        st->n_rows++;
    }
    if (st->kind == ACQ_NEHVI && nehvi_sample(st, err) != 0) {
        return -1;
    }
    if (rebuild_ehvi(st) != 0) {
        return hn_error_set(err, NULL, "out of memory building the hypervolume cells");
    }
    return 0;
}

/* ---- plugin ---- */

static void gpbo_destroy(void *ctx)
{
    struct gpbo *g = ctx;
    if (g == NULL) {
        return;
    }
    gpbo_models_free(g->models);
    free(g->col);
    free(g->width);
    free(g->stage);
    free(g);
}

/* Index of metric name in g->metric (added if new), or -1 when there are too many. */
static long add_metric(struct gpbo *g, const char *name)
{
    for (size_t k = 0; k < g->n_metrics; k++) {
        if (strcmp(g->metric[k], name) == 0) {
            return (long)k;
        }
    }
    if (g->n_metrics == MAX_METRICS) {
        return -1;
    }
    g->metric[g->n_metrics] = name;
    return (long)g->n_metrics++;
}

/* name matches metric full name "source.name" or its short name. */
static int metric_matches(const char *full, const char *name)
{
    const char *dot = strchr(full, '.');
    return strcmp(full, name) == 0 || (dot != NULL && strcmp(dot + 1, name) == 0);
}

static int apply_log_metrics(struct gpbo *g, struct hn_error *err)
{
    const struct hn_config_node *node = g->log_metrics;
    char where[512];
    if (node == NULL || node->is_null) {
        return 0;
    }
    size_t n = node->type == HN_NODE_SEQUENCE ? node->n : 1;
    for (size_t i = 0; i < n; i++) {
        const struct hn_config_node *item = node->type == HN_NODE_SEQUENCE ? node->items[i] : node;
        if (item->type != HN_NODE_SCALAR) {
            return hn_error_config(err, hn_config_where(item, where, sizeof(where)),
                                   "log_metrics takes metric names, e.g. [latency.prefill_ms]");
        }
        int found = 0;
        for (size_t k = 0; k < g->n_metrics; k++) {
            if (metric_matches(g->metric[k], item->value)) {
                g->metric_log[k] = 1;
                found = 1;
            }
        }
        if (!found) {
            char known[1024] = "";
            for (size_t k = 0; k < g->n_metrics; k++) {
                size_t len = strlen(known);
                snprintf(known + len, sizeof(known) - len, "%s%s", k ? ", " : "", g->metric[k]);
            }
            return hn_error_config(err, hn_config_where(item, where, sizeof(where)),
                                   "log_metrics: '%s' is not an objective or constraint metric "
                                   "(modelled metrics: %s)",
                                   item->value, known);
        }
    }
    return 0;
}

static void *gpbo_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct gpbo *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_apply(gpbo_options, args->node, g, "optimizer 'gpbo'", "gpbo", err) != 0) {
        goto fail;
    }
    g->space = args->space;
    g->params = hn_space_params(args->space);
    g->stage = strdup(args->stage ? args->stage : "");
    g->col = calloc(g->params->n + 1, sizeof(size_t));
    g->width = calloc(g->params->n + 1, sizeof(size_t));
    if (g->stage == NULL || g->col == NULL || g->width == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto fail;
    }
    g->stream_seed =
        g->seed >= 0 ? (uint64_t)g->seed : hn_rng_derive(args->seed, hn_rng_hash(g->stage));
    for (size_t i = 0; i < g->params->n; i++) {
        const struct hn_param *q = &g->params->p[i];
        g->col[i] = g->dim;
        g->width[i] = q->type == HN_PARAM_CATEGORICAL && q->n_values > 1 ? q->n_values : 1;
        g->dim += g->width[i];
        g->has_discrete |= q->type != HN_PARAM_FLOAT;
    }
    if (g->dim == 0 || g->dim > HN_GP_MAX_DIM) {
        hn_error_config(err, NULL,
                        "the space has %zu model dimensions (categoricals count one per label); "
                        "gpbo handles 1 to %d",
                        g->dim, HN_GP_MAX_DIM);
        goto fail;
    }
    const struct hn_problem *pb = args->problem;
    if (pb == NULL || pb->n_objectives == 0 || pb->n_objectives > GPBO_MAX_OBJ) {
        hn_error_config(err, NULL, "gpbo needs 1 to %d objectives (the study has %zu)",
                        GPBO_MAX_OBJ, pb ? pb->n_objectives : (size_t)0);
        goto fail;
    }
    g->m = pb->n_objectives;
    for (size_t j = 0; j < g->m; j++) {
        long k = add_metric(g, pb->objectives[j].metric);
        g->obj_metric[j] = (size_t)k;
        g->obj_sign[j] = pb->objectives[j].maximize ? -1 : 1;
    }
    if (pb->n_constraints > MAX_METRICS - g->m) {
        hn_error_config(err, NULL, "gpbo handles at most %d outcome constraints",
                        MAX_METRICS - (int)g->m);
        goto fail;
    }
    g->nc = pb->n_constraints;
    g->constraints = pb->constraints;
    for (size_t c = 0; c < g->nc; c++) {
        long k = add_metric(g, pb->constraints[c].metric);
        if (k < 0) {
            hn_error_config(err, NULL, "gpbo models at most %d distinct metrics", MAX_METRICS);
            goto fail;
        }
        g->con_metric[c] = (size_t)k;
    }
    if (apply_log_metrics(g, err) != 0) {
        goto fail;
    }
    g->models = gpbo_models_new(g->n_metrics);
    if (g->models == NULL ||
        (args->study_dir != NULL &&
         gpbo_models_persist(g->models, args->study_dir, args->instance, args->stage) != 0)) {
        hn_error_set(err, NULL, "out of memory");
        goto fail;
    }
    for (size_t j = 0; j < g->m; j++) {
        double ref = pb->objectives[j].ref;
        size_t k = g->obj_metric[j];
        if (!isnan(ref) && g->metric_log[k] && !(ref > 0)) {
            hn_error_config(err, NULL,
                            "objective %s is modelled in log space (log_metrics) but its "
                            "reference point %g is not positive; give a positive ref or drop it "
                            "from log_metrics",
                            g->metric[k], ref);
            goto fail;
        }
        g->obj_ref[j] = isnan(ref) ? NAN : g->obj_sign[j] * to_model(g, k, ref);
    }
    for (size_t c = 0; c < g->nc; c++) {
        size_t k = g->con_metric[c];
        double lo = pb->constraints[c].lo, hi = pb->constraints[c].hi;
        if (g->metric_log[k]) {
            if (!(hi > 0)) {
                hn_error_config(err, NULL,
                                "constraint on %s: the upper bound %g is not positive but the "
                                "metric is modelled in log space (log_metrics)",
                                g->metric[k], hi);
                goto fail;
            }
            lo = lo > 0 ? log(lo) : -INFINITY;
            hi = isinf(hi) ? hi : log(hi);
        }
        g->con_lo[c] = lo;
        g->con_hi[c] = hi;
    }
    switch (g->acquisition) {
    case ACQ_AUTO:
        g->kind = g->m == 1 ? ACQ_LOGEI : ACQ_EHVI;
        break;
    case ACQ_LOGEI:
        if (g->m > 1) {
            hn_error_config(err, NULL,
                            "acquisition logei needs one objective, the study has %zu; use "
                            "ehvi, nehvi or parego",
                            g->m);
            goto fail;
        }
        g->kind = ACQ_LOGEI;
        break;
    case ACQ_EHVI:
    case ACQ_NEHVI:
        if (g->m == 1) {
            hn_error_config(err, NULL,
                            "acquisition %s needs 2 or more objectives; use logei (or auto)",
                            acquisitions[g->acquisition]);
            goto fail;
        }
        g->kind = g->acquisition;
        break;
    default:
        g->kind = g->m == 1 ? ACQ_LOGEI : ACQ_PAREGO;
    }
    return g;
fail:
    gpbo_destroy(g);
    return NULL;
}

static int gpbo_ask(void *ctx, const struct hn_history *h, size_t n, double *x,
                    struct hn_error *err)
{
    struct gpbo *g = ctx;
    size_t d = g->params->n, D = g->dim;
    uint64_t in_stage = 0, earlier = 0;
    struct gpbo_state *st = NULL;
    double *z = malloc(D * sizeof(double));
    int got = 0;
    if (z == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < h->n; i++) {
        if (strcmp(h->trials[i]->stage, g->stage) == 0) {
            in_stage++;
        } else if (h->trials[i]->status == HN_TRIAL_COMPLETE) {
            earlier++;
        }
    }
    uint64_t n_init = g->init_trials >= 0 ? (uint64_t)g->init_trials
                      : (uint64_t)(d * 2 > 5 ? d * 2 : 5) > earlier
                          ? (uint64_t)(d * 2 > 5 ? d * 2 : 5) - earlier
                          : 0;
    uint64_t seed = hn_rng_derive(g->stream_seed, h->n);
    for (size_t i = 0; i < n; i++) {
        double *xi = x + i * d;
        int rc;
        if (in_stage + i < n_init) {
            rc = gpbo_sobol_point(g, h, in_stage + i, x, i, xi, err);
        } else {
            if (st == NULL) {
                st = gpbo_state_new(g, h, seed, err);
                if (st == NULL && err->kind != HN_ERR_NONE) {
                    got = -1;
                    goto done;
                }
                /* believe the pending trials */
                for (size_t k = 0; st != NULL && k < h->n; k++) {
                    const struct hn_trial *t = h->trials[k];
                    if (t->status == HN_TRIAL_RUNNING && t->n_params == d) {
                        gpbo_encode(g, t->x, z);
                        if (gpbo_state_fantasize(st, z, err) != 0) {
                            got = -1;
                            goto done;
                        }
                    }
                }
            }
            if (st == NULL) {
                /* not enough data to model yet: keep sampling */
                rc = gpbo_sobol_point(g, h, in_stage + i, x, i, xi, err);
            } else {
                rc = gpbo_select_point(g, st, h, x, i, hn_rng_derive(seed, 100 + i), xi, err);
                if (rc == 1 && i + 1 < n) {
                    gpbo_encode(g, xi, z);
                    if (gpbo_state_fantasize(st, z, err) != 0) {
                        got = -1;
                        goto done;
                    }
                }
            }
        }
        if (rc < 0) {
            got = -1;
            goto done;
        }
        if (rc == 0) {
            break; /* the space is exhausted */
        }
        got++;
    }
done:
    gpbo_state_free(st);
    free(z);
    return got;
}

static const struct hn_optimizer_ops gpbo_ops = {
    .size = sizeof(struct hn_optimizer_ops),
    .create = gpbo_create,
    .destroy = gpbo_destroy,
    .ask = gpbo_ask,
    .tell = NULL,
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_OPTIMIZER),
    .name = "gpbo",
    .summary = "Bayesian optimization: GP surrogates, LogEI / EHVI / NEHVI / ParEGO, constraints",
    .options = gpbo_options,
    .optimizer = &gpbo_ops,
};
