/*
 * gpbo: the surrogate state of one ask (see gpbo.h and gpbo.c's file comment, steps 2, 3 and
 * 5): the GPs of the modelled metrics (and ParEGO's scalarization), the incumbent or front,
 * nehvi's joint posterior samples, the acquisition value with its gradient, and fantasies.
 */
#include "config.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/gp.h"
#include "hilnas/pareto.h"
#include "hilnas/rng.h"
#include "plugins/optimizer-gpbo/acquisition.h"
#include "plugins/optimizer-gpbo/gpbo.h"
#include "plugins/optimizer-gpbo/models.h"

#define LOG_TINY (-690.7755) /* log(1e-300) */

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

/*
 * The data one state is built from: the complete trials of the history in model space.
 * X, y and sem hold one metric's usable rows while its GP is fitted, then X holds the rows
 * with every objective (n_all of them, oriented objectives in yobj, stride GPBO_MAX_OBJ) and
 * Xf the feasible ones among them (nf).
 */
struct fit_data {
    const struct hn_trial **rows;
    size_t N;
    double *X, *y, *sem, *Xf, *mean, *yobj;
    size_t n_all, nf;
};

static void fit_data_free(struct fit_data *d)
{
    free(d->rows);
    free(d->X);
    free(d->y);
    free(d->sem);
    free(d->Xf);
    free(d->mean);
    free(d->yobj);
}

static int fit_data_init(struct fit_data *d, const struct gpbo *g, const struct hn_history *h,
                         struct hn_error *err)
{
    size_t D = g->dim, n = h->n + 1;
    memset(d, 0, sizeof(*d));
    d->rows = calloc(n, sizeof(*d->rows));
    d->X = malloc(n * D * sizeof(double));
    d->y = malloc(n * sizeof(double));
    d->sem = malloc(n * sizeof(double));
    d->Xf = malloc(n * D * sizeof(double));
    d->mean = malloc(n * sizeof(double));
    d->yobj = malloc(n * GPBO_MAX_OBJ * sizeof(double));
    if (d->rows == NULL || d->X == NULL || d->y == NULL || d->sem == NULL || d->Xf == NULL ||
        d->mean == NULL || d->yobj == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < h->n; i++) {
        const struct hn_trial *t = h->trials[i];
        if (t->status == HN_TRIAL_COMPLETE && t->n_params == g->params->n) {
            d->rows[d->N++] = t;
        }
    }
    return 0;
}

static void gp_options(const struct gpbo *g, struct hn_gp_options *opt)
{
    hn_gp_options_default(opt);
    opt->kernel = g->kernel == 1 ? HN_GP_RBF : HN_GP_MATERN52;
    opt->restarts = (int)g->gp_restarts;
    opt->use_priors = g->priors; /* the order of prior_names is enum hn_gp_priors' */
}

/*
 * One GP per modelled metric, on the rows where it is usable. Returns 1, 0 when a metric has
 * fewer than 2 usable rows (not enough data; err stays clear), or -1 with err.
 */
static int fit_metric_models(struct gpbo_state *st, struct fit_data *d, unsigned long long seed,
                             struct hn_error *err)
{
    const struct gpbo *g = st->g;
    size_t D = g->dim;
    struct hn_gp_options opt;
    gp_options(g, &opt);
    for (size_t k = 0; k < g->n_metrics; k++) {
        size_t n = 0;
        for (size_t i = 0; i < d->N; i++) {
            const struct hn_metric *mt = hn_metrics_get(&d->rows[i]->metrics, g->metric[k]);
            if (mt == NULL || !usable(g, k, mt->value)) {
                continue;
            }
            gpbo_encode(g, d->rows[i]->x, d->X + n * D);
            d->y[n] = mt->value;
            d->sem[n] = mt->sem;
            n++;
        }
        if (n < 2) {
            return 0;
        }
        opt.log_transform = g->metric_log[k];
        opt.seed = hn_rng_derive(seed, k);
        st->gp[k] =
            gpbo_models_fit(g->models, k, d->X, d->y, d->sem, n, D, &opt, (size_t)g->full_fit_max,
                            g->anchor_growth, hn_rng_derive(g->stream_seed, 0x616e6300 + k), err);
        if (st->gp[k] == NULL) {
            hn_error_prefix(err, "fitting the GP of %s", g->metric[k]);
            return -1;
        }
        st->n_models = k + 1;
    }
    return 1;
}

/* The rows with every objective (d->X, d->yobj: d->n_all) and the feasible ones (d->Xf). */
static void objective_rows(const struct gpbo *g, struct fit_data *d)
{
    size_t D = g->dim;
    d->n_all = d->nf = 0;
    for (size_t i = 0; i < d->N; i++) {
        double *yo = d->yobj + d->n_all * GPBO_MAX_OBJ;
        int all = 1;
        for (size_t j = 0; j < g->m; j++) {
            double v = hn_trial_value(d->rows[i], g->metric[g->obj_metric[j]]);
            all &= usable(g, g->obj_metric[j], v);
            yo[j] = all ? g->obj_sign[j] * gpbo_to_model(g, g->obj_metric[j], v) : NAN;
        }
        if (!all) {
            continue;
        }
        gpbo_encode(g, d->rows[i]->x, d->X + d->n_all * D);
        if (observed_feasible(g, d->rows[i])) {
            memcpy(d->Xf + d->nf * D, d->X + d->n_all * D, D * sizeof(double));
            d->nf++;
        }
        d->n_all++;
    }
}

/*
 * ParEGO: one GP of a random augmented Chebyshev scalarization of the normalized objectives
 * (Knowles), which the acquisition then sees as its one objective, with LogEI.
 */
static int fit_parego(struct gpbo_state *st, struct fit_data *d, unsigned long long seed,
                      struct hn_error *err)
{
    const struct gpbo *g = st->g;
    struct hn_rng rng;
    hn_rng_seed(&rng, hn_rng_derive(seed, 0x70617265 /* "pare" */));
    double w[GPBO_MAX_OBJ], wsum = 0, lo[GPBO_MAX_OBJ], hi[GPBO_MAX_OBJ];
    for (size_t j = 0; j < g->m; j++) {
        w[j] = -log(1 - hn_rng_uniform(&rng));
        wsum += w[j];
        lo[j] = INFINITY;
        hi[j] = -INFINITY;
        for (size_t i = 0; i < d->n_all; i++) {
            lo[j] = fmin(lo[j], d->yobj[i * GPBO_MAX_OBJ + j]);
            hi[j] = fmax(hi[j], d->yobj[i * GPBO_MAX_OBJ + j]);
        }
    }
    for (size_t i = 0; i < d->n_all; i++) {
        double mx = -INFINITY, sum = 0;
        for (size_t j = 0; j < g->m; j++) {
            double range = hi[j] > lo[j] ? hi[j] - lo[j] : 1;
            double f = w[j] / wsum * (d->yobj[i * GPBO_MAX_OBJ + j] - lo[j]) / range;
            mx = fmax(mx, f);
            sum += f;
        }
        d->y[i] = mx + 0.05 * sum;
    }
    struct hn_gp_options opt;
    gp_options(g, &opt);
    opt.log_transform = 0;
    opt.seed = hn_rng_derive(seed, MAX_METRICS);
    st->gp[st->n_models] = hn_gp_fit(d->X, d->y, NULL, d->n_all, g->dim, &opt, err);
    if (st->gp[st->n_models] == NULL) {
        hn_error_prefix(err, "fitting the GP of the ParEGO scalarization");
        return -1;
    }
    st->obj_model[0] = st->n_models++;
    st->sign[0] = 1;
    st->m = 1;
    st->kind = ACQ_LOGEI;
    return 0;
}

/* LogEI: the incumbent is the best posterior mean at the feasible observed points. */
static int init_incumbent(struct gpbo_state *st, struct fit_data *d, struct hn_error *err)
{
    st->best = INFINITY;
    if (d->nf == 0) {
        return 0;
    }
    if (hn_gp_predict(st->gp[st->obj_model[0]], d->Xf, d->nf, d->mean, NULL, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < d->nf; i++) {
        st->best = fmin(st->best, st->sign[0] * d->mean[i]);
    }
    return 0;
}

/*
 * EHVI and nehvi: the reference point (given, in oriented model space, or inferred from the
 * observations), the front of the posterior means at the feasible observed points, nehvi's
 * samples, and the hypervolume cells.
 */
static int init_front(struct gpbo_state *st, struct fit_data *d, unsigned long long seed,
                      struct hn_error *err)
{
    const struct gpbo *g = st->g;
    size_t m = st->m, nf = d->nf;
    double inferred[GPBO_MAX_OBJ];
    double *obs = malloc((d->n_all + 1) * m * sizeof(double));
    if (obs == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < d->n_all; i++) {
        for (size_t j = 0; j < m; j++) {
            obs[i * m + j] = d->yobj[i * GPBO_MAX_OBJ + j];
        }
    }
    int rc = hn_pareto_infer_ref(obs, d->n_all, m, 0.1, inferred, err);
    free(obs);
    if (rc != 0) {
        return -1;
    }
    for (size_t j = 0; j < m; j++) {
        st->ref[j] = isnan(g->obj_ref[j]) ? inferred[j] : g->obj_ref[j];
        if (nf > 0 && hn_gp_predict(st->gp[st->obj_model[j]], d->Xf, nf, d->mean, NULL, err) != 0) {
            return -1;
        }
        for (size_t i = 0; i < nf; i++) {
            d->yobj[i * GPBO_MAX_OBJ + j] = st->sign[j] * d->mean[i];
        }
    }
    for (size_t i = 0; i < nf; i++) {
        if (front_push(st, d->yobj + i * GPBO_MAX_OBJ) != 0) {
            return hn_error_set(err, NULL, "out of memory");
        }
    }
    if (st->kind == ACQ_NEHVI) {
        st->S = (size_t)g->mc_samples;
        if (nehvi_init(st, d->Xf, nf, 64, seed, err) != 0 || nehvi_sample(st, err) != 0) {
            return -1;
        }
    }
    if (rebuild_ehvi(st) != 0) {
        return hn_error_set(err, NULL, "out of memory building the hypervolume cells");
    }
    return 0;
}

struct gpbo_state *gpbo_state_new(const struct gpbo *g, const struct hn_history *h,
                                  unsigned long long seed, struct hn_error *err)
{
    struct fit_data d;
    struct gpbo_state *st = calloc(1, sizeof(*st));
    hn_error_clear(err);
    if (fit_data_init(&d, g, h, err) != 0) {
        goto fail;
    }
    if (st == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto fail;
    }
    st->g = g;
    st->kind = g->kind;
    if (fit_metric_models(st, &d, seed, err) <= 0) {
        goto fail; /* 0: not enough data, err stays clear */
    }
    objective_rows(g, &d);
    if (d.n_all < 2) {
        goto fail;
    }
    st->m = g->m;
    for (size_t j = 0; j < g->m; j++) {
        st->obj_model[j] = g->obj_metric[j];
        st->sign[j] = g->obj_sign[j];
    }
    if (g->kind == ACQ_PAREGO && fit_parego(st, &d, seed, err) != 0) {
        goto fail;
    }
    st->feasible = d.nf > 0;
    if (st->kind == ACQ_LOGEI ? init_incumbent(st, &d, err) : init_front(st, &d, seed, err)) {
        goto fail;
    }
    fit_data_free(&d);
    return st;
fail:
    fit_data_free(&d);
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
static double acq_from_posteriors(const struct gpbo_state *st, const double *cmu, const double *csd,
                                  const double *mu, const double *sd, double *d_cmu, double *d_csd,
                                  double *d_mu, double *d_sd)
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
        value = acq_from_posteriors(st, cmu, csd, mu, sd, grad ? a_cm : NULL, grad ? a_cs : NULL,
                                    grad ? a_mu : NULL, grad ? a_sd : NULL);
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
