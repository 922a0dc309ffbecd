/*
 * hilnas optimizer "gpbo": Gaussian-process Bayesian optimization.
 *
 * Each ask: one GP per objective and per constrained metric (include/hilnas/gp.h) on the
 * complete trials, pending trials fantasized at their posterior mean (kriging believer), then
 * for each requested point: maximize the acquisition over the encoded unit cube (scrambled
 * Sobol raw samples, best starts refined by bound-constrained L-BFGS from NLopt), round to a
 * valid, unexplored point with a local search over discrete neighbours, and fantasize it before
 * choosing the next one.
 *
 * Acquisitions (minimization form; maximized objectives are negated):
 *   one objective    LogEI against the best posterior mean of the feasible observed points
 *   two objectives   exact expected hypervolume improvement (log of it)
 *   3-4 objectives   Monte Carlo hypervolume improvement with fixed base samples
 *   parego           LogEI of a random augmented Chebyshev scalarization per ask
 * Outcome constraints multiply in the probability of feasibility (added in log space); while
 * no observed point is feasible, the probability of feasibility alone is maximized.
 *
 * Encoding: float/int/choice/bool parameters map to one unit column each
 * (hn_params_to_unit), categorical parameters to one-hot columns; decoding rounds.
 */
#include "config.h"

#include <math.h>
#include <nlopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/gp.h"
#include "hilnas/optimizer.h"
#include "hilnas/pareto.h"
#include "hilnas/rng.h"
#include "hilnas/sobol.h"
#include "plugins/optimizer-gpbo/acquisition.h"

#define MAX_OBJ 8
#define MAX_CON 16
#define MAX_MODELS (MAX_OBJ + MAX_CON + 1)

static const char *const kernels[] = {"matern52", "rbf", NULL};
static const char *const acquisitions[] = {"auto", "logei", "ehvi", "mcehvi", "parego", NULL};
enum { ACQ_AUTO, ACQ_LOGEI, ACQ_EHVI, ACQ_MCEHVI, ACQ_PAREGO };

struct gpbo {
    /* options */
    int64_t init_trials;
    int kernel;
    int acquisition;
    int64_t raw_samples;
    int64_t restarts;
    int64_t mc_samples;
    int64_t gp_restarts;
    int64_t seed_opt;
    const struct hn_config_node *log_metrics;
    /* study */
    const struct hn_space *space;
    const struct hn_params *params;
    const struct hn_problem *problem;
    char *stage;
    uint64_t seed;
    size_t D;        /* encoded dimension */
    size_t *col;     /* first encoded column of each parameter */
    int log_obj[MAX_OBJ], log_con[MAX_CON];
};

static const struct hn_option gpbo_options[] = {
    {.name = "init_trials", .type = HN_OPT_INT, .def = "-1", .min = -1, .max = 1e6, .bounded = 1,
     .offset = offsetof(struct gpbo, init_trials),
     .help = "Scrambled Sobol trials before BO starts; -1: max(5, 2*d)."},
    {.name = "kernel", .type = HN_OPT_ENUM, .def = "matern52", .choices = kernels,
     .offset = offsetof(struct gpbo, kernel), .help = "GP kernel (ARD)."},
    {.name = "acquisition", .type = HN_OPT_ENUM, .def = "auto", .choices = acquisitions,
     .offset = offsetof(struct gpbo, acquisition),
     .help = "auto: logei (1 objective), ehvi (2), mcehvi (3+)."},
    {.name = "raw_samples", .type = HN_OPT_INT, .def = "512", .min = 16, .max = 1e6, .bounded = 1,
     .offset = offsetof(struct gpbo, raw_samples),
     .help = "Sobol points scored to choose the starts."},
    {.name = "restarts", .type = HN_OPT_INT, .def = "8", .min = 1, .max = 1000, .bounded = 1,
     .offset = offsetof(struct gpbo, restarts), .help = "L-BFGS starts per suggested point."},
    {.name = "mc_samples", .type = HN_OPT_INT, .def = "64", .min = 8, .max = 100000, .bounded = 1,
     .offset = offsetof(struct gpbo, mc_samples), .help = "Samples of the Monte Carlo EHVI."},
    {.name = "gp_restarts", .type = HN_OPT_INT, .def = "4", .min = 1, .max = 100, .bounded = 1,
     .offset = offsetof(struct gpbo, gp_restarts),
     .help = "Starts of the GP hyperparameter optimization."},
    {.name = "seed", .type = HN_OPT_INT, .def = "-1", .min = -1, .max = 9.2e18, .bounded = 1,
     .offset = offsetof(struct gpbo, seed_opt),
     .help = "Seed; -1 derives it from the study seed and the stage name."},
    {.name = "log_metrics", .type = HN_OPT_NODE, .offset = offsetof(struct gpbo, log_metrics),
     .help = "Metrics modelled in log space (positive ones such as latency)."},
    {.name = NULL},
};

/* ---- encoding ---- */

static void encode(const struct gpbo *g, const double *x, double *z)
{
    const struct hn_params *p = g->params;
    for (size_t i = 0; i < p->n; i++) {
        const struct hn_param *q = &p->p[i];
        if (q->type == HN_PARAM_CATEGORICAL) {
            for (size_t k = 0; k < q->n_values; k++) {
                z[g->col[i] + k] = (size_t)x[i] == k ? 1 : 0;
            }
        } else {
            double u;
            hn_params_to_unit(&(struct hn_params){.n = 1, .p = (struct hn_param *)q}, &x[i], &u);
            z[g->col[i]] = u;
        }
    }
}

static void decode(const struct gpbo *g, const double *z, double *x)
{
    const struct hn_params *p = g->params;
    for (size_t i = 0; i < p->n; i++) {
        const struct hn_param *q = &p->p[i];
        if (q->type == HN_PARAM_CATEGORICAL) {
            size_t best = 0;
            for (size_t k = 1; k < q->n_values; k++) {
                if (z[g->col[i] + k] > z[g->col[i] + best]) {
                    best = k;
                }
            }
            x[i] = (double)best;
        } else {
            hn_params_from_unit(&(struct hn_params){.n = 1, .p = (struct hn_param *)q},
                                &z[g->col[i]], &x[i]);
        }
    }
}

/* ---- lifecycle ---- */

static void gpbo_destroy(void *ctx)
{
    struct gpbo *g = ctx;
    if (g != NULL) {
        free(g->col);
        free(g->stage);
        free(g);
    }
}

static int is_log_metric(const struct hn_config_node *list, const char *metric)
{
    const char *dot = strchr(metric, '.');
    for (size_t i = 0; list != NULL && list->type == HN_NODE_SEQUENCE && i < list->n; i++) {
        const char *v = list->items[i]->value;
        if (v != NULL && (strcmp(v, metric) == 0 || (dot && strcmp(v, dot + 1) == 0))) {
            return 1;
        }
    }
    return 0;
}

static void *gpbo_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct gpbo *g = calloc(1, sizeof(*g));
    char where[1024];
    if (g == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_apply(gpbo_options, args->node, g, "optimizer 'gpbo'", "gpbo", err) != 0) {
        goto fail;
    }
    g->space = args->space;
    g->params = hn_space_params(args->space);
    g->problem = args->problem;
    g->stage = strdup(args->stage ? args->stage : "");
    g->seed = g->seed_opt >= 0 ? (uint64_t)g->seed_opt
                               : hn_rng_derive(args->seed, hn_rng_hash(g->stage));
    if (g->problem->n_objectives > MAX_OBJ || g->problem->n_constraints > MAX_CON) {
        hn_error_config(err, NULL, "gpbo handles at most %d objectives and %d constraints",
                        MAX_OBJ, MAX_CON);
        goto fail;
    }
    if (g->log_metrics != NULL && g->log_metrics->type != HN_NODE_SEQUENCE) {
        hn_error_config(err, hn_config_where(g->log_metrics, where, sizeof(where)),
                        "option 'log_metrics' must be a list of metric names");
        goto fail;
    }
    for (size_t j = 0; j < g->problem->n_objectives; j++) {
        g->log_obj[j] = is_log_metric(g->log_metrics, g->problem->objectives[j].metric);
    }
    for (size_t c = 0; c < g->problem->n_constraints; c++) {
        g->log_con[c] = is_log_metric(g->log_metrics, g->problem->constraints[c].metric);
    }
    g->col = calloc(g->params->n, sizeof(size_t));
    if (g->col == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < g->params->n; i++) {
        g->col[i] = g->D;
        g->D += g->params->p[i].type == HN_PARAM_CATEGORICAL ? g->params->p[i].n_values : 1;
    }
    if (g->D > HN_GP_MAX_DIM || g->D > HN_SOBOL_MAX_DIM) {
        hn_error_config(err, NULL, "gpbo: the encoded space has %zu dimensions (at most %d)",
                        g->D, HN_GP_MAX_DIM);
        goto fail;
    }
    if (g->init_trials < 0) {
        g->init_trials = (int64_t)(2 * g->params->n > 5 ? 2 * g->params->n : 5);
    }
    return g;
fail:
    gpbo_destroy(g);
    return NULL;
}

/* ---- the state of one ask ---- */

struct model {
    struct hn_gp *gp;
    double sign; /* +1: minimize the model value, -1: maximize it */
};

struct state {
    struct gpbo *g;
    size_t n_obj, n_con;
    struct model obj[MAX_OBJ];
    struct model con[MAX_CON];
    double con_bound[MAX_CON][2]; /* model-space lower/upper bounds */
    int acq;
    int feasible_seen;  /* some observed point satisfies the constraints */
    double best;        /* LogEI incumbent (minimization form) */
    double *front;      /* MO: observed (+ fantasized) front, minimization form */
    size_t n_front, cap_front;
    double ref[MAX_OBJ];
    double front_hv;
    double *eps;        /* MC base samples: mc_samples x n_obj */
    size_t n_eps;
    double lambda[MAX_OBJ]; /* parego weights */
    double *zbuf;       /* D scratch */
};

static double model_value(double y, int log_transform)
{
    return log_transform ? log(y) : y;
}

/* The acquisition at encoded point z (maximize); gradient into grad (D) when not NULL. */
static double acquisition(struct state *st, const double *z, double *grad)
{
    size_t D = st->g->D;
    double total = 0;
    double dm[HN_GP_MAX_DIM], dv[HN_GP_MAX_DIM];
    if (grad) {
        memset(grad, 0, D * sizeof(double));
    }
    /* constraints: log probability of feasibility */
    for (size_t c = 0; c < st->n_con; c++) {
        double mu, var, dmu, dsig;
        hn_gp_predict_grad(st->con[c].gp, z, &mu, &var, grad ? dm : NULL, grad ? dv : NULL, NULL);
        double sigma = sqrt(var);
        for (int side = 0; side < 2; side++) {
            double bound = st->con_bound[c][side];
            if (!isfinite(bound)) {
                continue;
            }
            total += gpbo_log_pof(mu, sigma, bound, side == 1, &dmu, &dsig);
            if (grad) {
                for (size_t q = 0; q < D; q++) {
                    grad[q] += dmu * dm[q] + dsig * dv[q] / (2 * sigma);
                }
            }
        }
    }
    if (st->n_con > 0 && !st->feasible_seen) {
        return total;
    }
    if (st->acq == ACQ_LOGEI || st->acq == ACQ_PAREGO) {
        struct model *m = &st->obj[0];
        double mu, var, dmu, dsig;
        hn_gp_predict_grad(m->gp, z, &mu, &var, grad ? dm : NULL, grad ? dv : NULL, NULL);
        double sigma = sqrt(var);
        total += gpbo_log_ei(m->sign * mu, sigma, st->best, &dmu, &dsig);
        if (grad) {
            for (size_t q = 0; q < D; q++) {
                grad[q] += dmu * m->sign * dm[q] + dsig * dv[q] / (2 * sigma);
            }
        }
        return total;
    }
    double mu[MAX_OBJ], sd[MAX_OBJ], gm[MAX_OBJ][HN_GP_MAX_DIM], gs[MAX_OBJ][HN_GP_MAX_DIM];
    for (size_t j = 0; j < st->n_obj; j++) {
        double m, v;
        hn_gp_predict_grad(st->obj[j].gp, z, &m, &v, grad ? gm[j] : NULL, grad ? gs[j] : NULL,
                           NULL);
        mu[j] = st->obj[j].sign * m;
        sd[j] = sqrt(v);
        if (grad) {
            for (size_t q = 0; q < D; q++) {
                gm[j][q] *= st->obj[j].sign;
                gs[j][q] /= 2 * sd[j]; /* d sigma / dz */
            }
        }
    }
    if (st->acq == ACQ_EHVI) {
        double dmu[2], ds[2];
        double e = gpbo_ehvi2(mu, sd, st->front, st->n_front, st->ref, dmu, ds);
        double floor = 1e-300;
        total += log(e + floor);
        if (grad) {
            for (size_t q = 0; q < D; q++) {
                grad[q] += (dmu[0] * gm[0][q] + dmu[1] * gm[1][q] + ds[0] * gs[0][q] +
                            ds[1] * gs[1][q]) /
                           (e + floor);
            }
        }
        return total;
    }
    /* Monte Carlo EHVI with fixed base samples (no gradient) */
    double sum = 0, y[MAX_OBJ];
    for (size_t s = 0; s < st->n_eps; s++) {
        for (size_t j = 0; j < st->n_obj; j++) {
            y[j] = mu[j] + sd[j] * st->eps[s * st->n_obj + j];
        }
        sum += gpbo_hvi(y, st->front, st->n_front, st->n_obj, st->ref, st->front_hv);
    }
    return total + log(sum / (double)st->n_eps + 1e-300);
}

struct nl_data {
    struct state *st;
};

static double nl_objective(unsigned n, const double *z, double *grad, void *data)
{
    struct state *st = data;
    (void)n;
    double v = acquisition(st, z, grad);
    if (!isfinite(v)) {
        if (grad) {
            memset(grad, 0, st->g->D * sizeof(double));
        }
        return -1e300;
    }
    return v;
}

/* ---- history helpers ---- */

static int seen_point(const struct gpbo *g, const struct hn_history *h, const double *x,
                      const double *batch, size_t nb)
{
    for (size_t i = 0; i < h->n; i++) {
        if (h->trials[i]->n_params == g->params->n &&
            hn_params_same(g->params, h->trials[i]->x, x)) {
            return 1;
        }
    }
    for (size_t k = 0; k < nb; k++) {
        if (hn_params_same(g->params, batch + k * g->params->n, x)) {
            return 1;
        }
    }
    return 0;
}

static int acceptable(const struct gpbo *g, const struct hn_history *h, const double *x,
                      const double *batch, size_t nb)
{
    char why[256];
    return hn_space_check(g->space, x, why, sizeof(why)) && !seen_point(g, h, x, batch, nb);
}

/* Sobol points (scrambled) for the initial design or as a fallback. Returns how many. */
static size_t sobol_points(struct gpbo *g, const struct hn_history *h, uint64_t index, size_t n,
                           double *x, size_t already, struct hn_error *err)
{
    struct hn_sobol *s = hn_sobol_new(g->params->n, 1, g->seed, err);
    if (s == NULL) {
        return 0;
    }
    hn_sobol_skip(s, index);
    double u[HN_SOBOL_MAX_DIM];
    size_t got = 0;
    for (int tries = 0; got < n && tries < 10000; tries++) {
        hn_sobol_next(s, u);
        double *xi = x + (already + got) * g->params->n;
        hn_params_from_unit(g->params, u, xi);
        if (acceptable(g, h, xi, x, already + got)) {
            got++;
        }
    }
    hn_sobol_free(s);
    return got;
}

static void state_free(struct state *st)
{
    for (size_t j = 0; j < MAX_OBJ; j++) {
        hn_gp_free(st->obj[j].gp);
    }
    for (size_t c = 0; c < MAX_CON; c++) {
        hn_gp_free(st->con[c].gp);
    }
    free(st->front);
    free(st->eps);
    free(st->zbuf);
}

static int push_front(struct state *st, const double *y)
{
    if (st->n_front == st->cap_front) {
        size_t cap = st->cap_front ? 2 * st->cap_front : 64;
        double *f = realloc(st->front, cap * st->n_obj * sizeof(double));
        if (f == NULL) {
            return -1;
        }
        st->front = f;
        st->cap_front = cap;
    }
    memcpy(st->front + st->n_front * st->n_obj, y, st->n_obj * sizeof(double));
    st->n_front++;
    return 0;
}

/* Objective values of a trial in minimization form (parego: one scalarized value). */
static int trial_objectives(const struct state *st, const struct hn_trial *t, double *y)
{
    const struct hn_problem *p = st->g->problem;
    for (size_t j = 0; j < p->n_objectives; j++) {
        double v = hn_trial_value(t, p->objectives[j].metric);
        if (!isfinite(v) || (st->g->log_obj[j] && !(v > 0))) {
            return 0;
        }
        y[j] = v;
    }
    return 1;
}

static int trial_feasible(const struct gpbo *g, const struct hn_trial *t)
{
    for (size_t c = 0; c < g->problem->n_constraints; c++) {
        if (!hn_constraint_ok(&g->problem->constraints[c],
                              hn_trial_value(t, g->problem->constraints[c].metric))) {
            return 0;
        }
    }
    return 1;
}

/*
 * Fit every model on the complete trials and fantasize the pending ones. Returns 0, 1 when
 * there is too little data (use Sobol), -1 on error.
 */
static int build_models(struct state *st, const struct hn_history *h, uint64_t ask_index,
                        struct hn_error *err)
{
    struct gpbo *g = st->g;
    const struct hn_problem *p = g->problem;
    size_t D = g->D, n = 0;
    double *Z = malloc((h->n + 1) * D * sizeof(double));
    double *Y = malloc((h->n + 1) * MAX_OBJ * sizeof(double));
    double *col = malloc((h->n + 1) * sizeof(double));
    double *sem = malloc((h->n + 1) * sizeof(double));
    int *feas = malloc((h->n + 1) * sizeof(int));
    double *Zp = malloc((h->n + 1) * D * sizeof(double));
    int rc = -1;
    size_t np = 0;
    if (Z == NULL || Y == NULL || col == NULL || sem == NULL || feas == NULL || Zp == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < h->n; i++) {
        const struct hn_trial *t = h->trials[i];
        if (t->n_params != g->params->n) {
            continue;
        }
        if (t->status == HN_TRIAL_RUNNING) {
            encode(g, t->x, Zp + np * D);
            np++;
        }
        if (t->status != HN_TRIAL_COMPLETE || !trial_objectives(st, t, Y + n * MAX_OBJ)) {
            continue;
        }
        encode(g, t->x, Z + n * D);
        feas[n] = trial_feasible(g, t);
        n++;
    }
    if (n < 2) {
        rc = 1;
        goto done;
    }
    struct hn_gp_options gopt;
    hn_gp_options_default(&gopt);
    gopt.kernel = g->kernel == 1 ? HN_GP_RBF : HN_GP_MATERN52;
    gopt.restarts = (int)g->gp_restarts;
    gopt.seed = hn_rng_derive(g->seed, ask_index);
    /* ParEGO: one scalarized objective from random Chebyshev weights */
    if (st->acq == ACQ_PAREGO) {
        struct hn_rng rng;
        hn_rng_seed(&rng, hn_rng_derive(g->seed, 0x5041524547ULL + ask_index));
        double lsum = 0, lo[MAX_OBJ], hi[MAX_OBJ];
        for (size_t j = 0; j < p->n_objectives; j++) {
            st->lambda[j] = -log(1 - hn_rng_uniform(&rng)); /* Dirichlet(1) via exponentials */
            lsum += st->lambda[j];
            lo[j] = INFINITY;
            hi[j] = -INFINITY;
            for (size_t i = 0; i < n; i++) {
                double v = p->objectives[j].maximize ? -Y[i * MAX_OBJ + j] : Y[i * MAX_OBJ + j];
                lo[j] = fmin(lo[j], v);
                hi[j] = fmax(hi[j], v);
            }
        }
        for (size_t i = 0; i < n; i++) {
            double mx = -INFINITY, sum = 0;
            for (size_t j = 0; j < p->n_objectives; j++) {
                double v = p->objectives[j].maximize ? -Y[i * MAX_OBJ + j] : Y[i * MAX_OBJ + j];
                double t = (v - lo[j]) / (hi[j] > lo[j] ? hi[j] - lo[j] : 1);
                mx = fmax(mx, st->lambda[j] / lsum * t);
                sum += st->lambda[j] / lsum * t;
            }
            col[i] = mx + 0.05 * sum;
        }
        st->obj[0].gp = hn_gp_fit(Z, col, NULL, n, D, &gopt, err);
        st->obj[0].sign = 1;
        if (st->obj[0].gp == NULL) {
            goto done;
        }
        st->n_obj = 1;
    } else {
        for (size_t j = 0; j < p->n_objectives; j++) {
            for (size_t i = 0; i < n; i++) {
                col[i] = Y[i * MAX_OBJ + j];
                sem[i] = NAN;
            }
            /* a metric's standard errors, when every observation reports one */
            int all_sem = 1;
            for (size_t i = 0, k = 0; i < h->n && all_sem; i++) {
                const struct hn_trial *t = h->trials[i];
                if (t->status != HN_TRIAL_COMPLETE || t->n_params != g->params->n) {
                    continue;
                }
                double tmp[MAX_OBJ];
                if (!trial_objectives(st, t, tmp)) {
                    continue;
                }
                const struct hn_metric *mt = hn_metrics_get(&t->metrics, p->objectives[j].metric);
                sem[k] = mt ? mt->sem : NAN;
                all_sem &= isfinite(sem[k]);
                k++;
            }
            gopt.log_transform = g->log_obj[j];
            st->obj[j].gp = hn_gp_fit(Z, col, all_sem ? sem : NULL, n, D, &gopt, err);
            if (st->obj[j].gp == NULL) {
                hn_error_prefix(err, "objective %s", p->objectives[j].metric);
                goto done;
            }
            st->obj[j].sign = p->objectives[j].maximize ? -1 : 1;
        }
        st->n_obj = p->n_objectives;
    }
    /* constraint models on every complete trial that has the metric */
    for (size_t c = 0; c < p->n_constraints; c++) {
        size_t k = 0;
        double *Zc = malloc((h->n + 1) * D * sizeof(double));
        if (Zc == NULL) {
            hn_error_set(err, NULL, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < h->n; i++) {
            const struct hn_trial *t = h->trials[i];
            double v = hn_trial_value(t, p->constraints[c].metric);
            if (t->n_params != g->params->n || !isfinite(v) || (g->log_con[c] && !(v > 0))) {
                continue;
            }
            encode(g, t->x, Zc + k * D);
            col[k++] = v;
        }
        gopt.log_transform = g->log_con[c];
        st->con[c].gp = k >= 2 ? hn_gp_fit(Zc, col, NULL, k, D, &gopt, err) : NULL;
        free(Zc);
        if (st->con[c].gp == NULL) {
            if (k >= 2) {
                hn_error_prefix(err, "constraint %s", p->constraints[c].metric);
                goto done;
            }
            rc = 1; /* not enough data for this constraint yet */
            goto done;
        }
        st->con[c].sign = 1;
        double lo = p->constraints[c].lo, hi = p->constraints[c].hi;
        st->con_bound[c][0] = isfinite(lo) ? model_value(lo, g->log_con[c]) : -INFINITY;
        st->con_bound[c][1] = isfinite(hi) ? model_value(hi, g->log_con[c]) : INFINITY;
        if (g->log_con[c] && isfinite(lo) && lo <= 0) {
            st->con_bound[c][0] = -INFINITY;
        }
    }
    st->n_con = p->n_constraints;
    /* incumbent / front from posterior means at the feasible observed points */
    st->feasible_seen = 0;
    double *means = malloc(n * MAX_OBJ * sizeof(double));
    if (means == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    for (size_t j = 0; j < st->n_obj; j++) {
        double *mj = malloc(n * sizeof(double));
        if (mj == NULL || hn_gp_predict(st->obj[j].gp, Z, n, mj, NULL, err) != 0) {
            free(mj);
            free(means);
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            means[i * MAX_OBJ + j] = st->obj[j].sign * mj[i];
        }
        free(mj);
    }
    st->best = INFINITY;
    int noiseless = 1;
    for (size_t j = 0; j < st->n_obj; j++) {
        struct hn_gp_hyper hy;
        hn_gp_get_hyper(st->obj[j].gp, &hy);
        noiseless &= hy.noise <= 1e-4;
    }
    for (size_t i = 0; i < n; i++) {
        if (!feas[i]) {
            continue;
        }
        st->feasible_seen = 1;
        st->best = fmin(st->best, means[i * MAX_OBJ]);
        /* the front: observed values when every model sees (almost) noiseless data, else the
         * posterior means (noise-aware) */
        double obs[MAX_OBJ];
        const double *yi = means + i * MAX_OBJ;
        if (st->n_obj > 1 && noiseless) {
            for (size_t j = 0; j < st->n_obj; j++) {
                obs[j] = st->obj[j].sign * model_value(Y[i * MAX_OBJ + j], g->log_obj[j]);
            }
            yi = obs;
        }
        if (st->n_obj > 1 && push_front(st, yi) != 0) {
            free(means);
            hn_error_set(err, NULL, "out of memory");
            goto done;
        }
    }
    free(means);
    if (st->n_obj > 1) {
        int given = 1;
        for (size_t j = 0; j < st->n_obj; j++) {
            double r = p->objectives[j].ref;
            given &= isfinite(r) && (!g->log_obj[j] || r > 0);
            if (given) {
                st->ref[j] = st->obj[j].sign * model_value(r, g->log_obj[j]);
            }
        }
        if (!given) {
            if (st->n_front == 0 ||
                hn_pareto_infer_ref(st->front, st->n_front, st->n_obj, 0.1, st->ref, err) != 0) {
                /* no feasible point: no front; PoF drives the search */
                for (size_t j = 0; j < st->n_obj; j++) {
                    st->ref[j] = INFINITY;
                }
            }
        }
    }
    /* fantasize pending trials at their posterior mean */
    if (np > 0) {
        for (size_t j = 0; j < st->n_obj; j++) {
            double *ym = malloc(np * sizeof(double));
            struct hn_gp *c = NULL;
            if (ym != NULL && hn_gp_predict(st->obj[j].gp, Zp, np, ym, NULL, err) == 0) {
                c = hn_gp_condition(st->obj[j].gp, Zp, ym, np, err);
            }
            if (c != NULL && st->n_obj > 1) {
                for (size_t k = 0; k < np && j == st->n_obj - 1; k++) {
                    double y[MAX_OBJ];
                    for (size_t jj = 0; jj < st->n_obj; jj++) {
                        double m;
                        hn_gp_predict(jj == j ? c : st->obj[jj].gp, Zp + k * D, 1, &m, NULL, err);
                        y[jj] = st->obj[jj].sign * m;
                    }
                    push_front(st, y);
                }
            }
            free(ym);
            if (c == NULL) {
                goto done;
            }
            hn_gp_free(st->obj[j].gp);
            st->obj[j].gp = c;
        }
    }
    rc = 0;
done:
    free(Z);
    free(Y);
    free(col);
    free(sem);
    free(feas);
    free(Zp);
    return rc;
}

/* After choosing z: condition the models on their posterior mean there (kriging believer). */
static int fantasize(struct state *st, const double *z, struct hn_error *err)
{
    double y[MAX_OBJ];
    for (size_t j = 0; j < st->n_obj; j++) {
        double m;
        if (hn_gp_predict(st->obj[j].gp, z, 1, &m, NULL, err) != 0) {
            return -1;
        }
        struct hn_gp *c = hn_gp_condition(st->obj[j].gp, z, &m, 1, err);
        if (c == NULL) {
            return -1;
        }
        hn_gp_free(st->obj[j].gp);
        st->obj[j].gp = c;
        y[j] = st->obj[j].sign * m;
    }
    if (st->n_obj > 1) {
        push_front(st, y);
        if (st->acq == ACQ_MCEHVI) {
            st->front_hv = hn_hypervolume(st->front, st->n_front, st->n_obj, st->ref, NULL);
        }
    } else {
        st->best = fmin(st->best, y[0]);
    }
    return 0;
}

/* Greedy local search over discrete neighbours of x (in place); returns its acquisition. */
static double local_search(struct state *st, const struct hn_history *h, double *x,
                           const double *batch, size_t nb, double value)
{
    const struct hn_params *p = st->g->params;
    double cand[HN_SOBOL_MAX_DIM], best_x[HN_SOBOL_MAX_DIM];
    for (int step = 0; step < 20; step++) {
        double best = value;
        memcpy(best_x, x, p->n * sizeof(double));
        for (size_t i = 0; i < p->n; i++) {
            const struct hn_param *q = &p->p[i];
            if (q->type == HN_PARAM_FLOAT) {
                continue;
            }
            size_t nv = q->type == HN_PARAM_INT ? 2 : (q->type == HN_PARAM_CATEGORICAL ? q->n_values : 2);
            for (size_t k = 0; k < nv; k++) {
                memcpy(cand, x, p->n * sizeof(double));
                if (q->type == HN_PARAM_INT) {
                    cand[i] = x[i] + (k == 0 ? -1 : 1);
                } else if (q->type == HN_PARAM_CHOICE) {
                    size_t idx = 0;
                    while (idx + 1 < q->n_values && q->values[idx] != x[i]) {
                        idx++;
                    }
                    if ((k == 0 && idx == 0) || (k == 1 && idx + 1 >= q->n_values)) {
                        continue;
                    }
                    cand[i] = q->values[k == 0 ? idx - 1 : idx + 1];
                } else if (q->type == HN_PARAM_CATEGORICAL) {
                    if ((double)k == x[i]) {
                        continue;
                    }
                    cand[i] = (double)k;
                } else {
                    if (k == 1) {
                        continue;
                    }
                    cand[i] = 1 - x[i];
                }
                if (!acceptable(st->g, h, cand, batch, nb)) {
                    continue;
                }
                encode(st->g, cand, st->zbuf);
                double v = acquisition(st, st->zbuf, NULL);
                if (v > best) {
                    best = v;
                    memcpy(best_x, cand, p->n * sizeof(double));
                }
            }
        }
        if (best <= value) {
            break;
        }
        value = best;
        memcpy(x, best_x, p->n * sizeof(double));
    }
    return value;
}

struct scored {
    double value;
    size_t index;
};

static int cmp_scored(const void *a, const void *b)
{
    double x = ((const struct scored *)a)->value, y = ((const struct scored *)b)->value;
    return (x < y) - (x > y); /* descending */
}

/* Choose one point into x_out; 0 found, 1 none, -1 error. */
static int optimize_one(struct state *st, const struct hn_history *h, uint64_t ask_index,
                        double *batch, size_t nb, double *x_out, struct hn_error *err)
{
    struct gpbo *g = st->g;
    size_t D = g->D, P = g->params->n, R = (size_t)g->raw_samples;
    int rc = -1;
    double *raw = malloc(R * D * sizeof(double));
    double *rawx = malloc(R * P * sizeof(double));
    struct scored *sc = malloc(R * sizeof(*sc));
    double *z = malloc(D * sizeof(double)), *x = malloc(P * sizeof(double));
    double *lb = malloc(D * sizeof(double)), *ub = malloc(D * sizeof(double));
    double best_value = -INFINITY;
    int found = 0;
    struct hn_sobol *sob = hn_sobol_new(P, 1, hn_rng_derive(g->seed, 0x7261770000ULL + ask_index), err);
    if (raw == NULL || rawx == NULL || sc == NULL || z == NULL || x == NULL || lb == NULL ||
        ub == NULL || sob == NULL) {
        if (sob != NULL) {
            hn_error_set(err, NULL, "out of memory");
        }
        goto done;
    }
    size_t nr = 0;
    double u[HN_SOBOL_MAX_DIM];
    for (size_t k = 0; k < 4 * R && nr < R; k++) {
        hn_sobol_next(sob, u);
        hn_params_from_unit(g->params, u, rawx + nr * P);
        if (!acceptable(g, h, rawx + nr * P, batch, nb)) {
            continue;
        }
        encode(g, rawx + nr * P, raw + nr * D);
        sc[nr].value = acquisition(st, raw + nr * D, NULL);
        sc[nr].index = nr;
        nr++;
    }
    if (nr == 0) {
        rc = 1;
        goto done;
    }
    qsort(sc, nr, sizeof(*sc), cmp_scored);
    /* the best raw point is a valid answer already */
    memcpy(x_out, rawx + sc[0].index * P, P * sizeof(double));
    best_value = sc[0].value;
    found = 1;
    for (size_t q = 0; q < D; q++) {
        lb[q] = 0;
        ub[q] = 1;
    }
    int gradient = st->acq != ACQ_MCEHVI || (st->n_con > 0 && !st->feasible_seen);
    nlopt_opt nl = nlopt_create(gradient ? NLOPT_LD_LBFGS : NLOPT_LN_BOBYQA, (unsigned)D);
    if (nl == NULL) {
        hn_error_set(err, NULL, "cannot create the NLopt optimizer");
        goto done;
    }
    nlopt_set_lower_bounds(nl, lb);
    nlopt_set_upper_bounds(nl, ub);
    nlopt_set_max_objective(nl, nl_objective, st);
    nlopt_set_maxeval(nl, gradient ? 100 : 40);
    nlopt_set_ftol_rel(nl, 1e-9);
    size_t starts = (size_t)g->restarts < nr ? (size_t)g->restarts : nr;
    if (!gradient && starts > 3) {
        starts = 3;
    }
    for (size_t s = 0; s < starts; s++) {
        memcpy(z, raw + sc[s].index * D, D * sizeof(double));
        double v;
        nlopt_optimize(nl, z, &v);
        decode(g, z, x);
        hn_params_round(g->params, x);
        if (!acceptable(g, h, x, batch, nb)) {
            /* the continuous optimum rounds to something invalid or known: keep the start */
            memcpy(x, rawx + sc[s].index * P, P * sizeof(double));
        }
        encode(g, x, st->zbuf);
        v = acquisition(st, st->zbuf, NULL);
        v = local_search(st, h, x, batch, nb, v);
        if (v > best_value) {
            best_value = v;
            memcpy(x_out, x, P * sizeof(double));
        }
    }
    nlopt_destroy(nl);
    rc = found ? 0 : 1;
done:
    hn_sobol_free(sob);
    free(raw);
    free(rawx);
    free(sc);
    free(z);
    free(x);
    free(lb);
    free(ub);
    return rc;
}

static int gpbo_ask(void *ctx, const struct hn_history *h, size_t n, double *x,
                    struct hn_error *err)
{
    struct gpbo *g = ctx;
    size_t P = g->params->n;
    uint64_t stage_count = 0;
    for (size_t i = 0; i < h->n; i++) {
        stage_count += strcmp(h->trials[i]->stage, g->stage) == 0;
    }
    if (stage_count < (uint64_t)g->init_trials) {
        size_t want = n;
        return (int)sobol_points(g, h, stage_count, want, x, 0, err);
    }
    struct state st;
    memset(&st, 0, sizeof(st));
    st.g = g;
    st.acq = g->acquisition;
    if (st.acq == ACQ_AUTO) {
        st.acq = g->problem->n_objectives == 1   ? ACQ_LOGEI
                 : g->problem->n_objectives == 2 ? ACQ_EHVI
                                                 : ACQ_MCEHVI;
    }
    if (st.acq == ACQ_LOGEI && g->problem->n_objectives > 1) {
        st.acq = ACQ_PAREGO;
    }
    if (st.acq == ACQ_EHVI && g->problem->n_objectives != 2) {
        st.acq = ACQ_MCEHVI;
    }
    if ((st.acq == ACQ_EHVI || st.acq == ACQ_MCEHVI) && g->problem->n_objectives == 1) {
        st.acq = ACQ_LOGEI;
    }
    uint64_t ask_index = h->n;
    st.zbuf = malloc(g->D * sizeof(double));
    if (st.zbuf == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    int b = build_models(&st, h, ask_index, err);
    if (b < 0) {
        state_free(&st);
        return -1;
    }
    if (b > 0) {
        state_free(&st);
        return (int)sobol_points(g, h, stage_count, n, x, 0, err);
    }
    if (st.acq == ACQ_MCEHVI) {
        struct hn_rng rng;
        hn_rng_seed(&rng, hn_rng_derive(g->seed, 0x6d63ULL + ask_index));
        st.n_eps = (size_t)g->mc_samples;
        st.eps = malloc(st.n_eps * st.n_obj * sizeof(double));
        if (st.eps == NULL) {
            state_free(&st);
            return hn_error_set(err, NULL, "out of memory");
        }
        for (size_t i = 0; i < st.n_eps * st.n_obj; i++) {
            st.eps[i] = hn_rng_normal(&rng);
        }
        st.front_hv = st.n_front ? hn_hypervolume(st.front, st.n_front, st.n_obj, st.ref, NULL) : 0;
    }
    size_t got = 0;
    for (; got < n; got++) {
        double *xi = x + got * P;
        int r = optimize_one(&st, h, ask_index + got, x, got, xi, err);
        if (r < 0) {
            state_free(&st);
            return -1;
        }
        if (r > 0) {
            /* nothing scored: fall back to a Sobol point */
            got += sobol_points(g, h, stage_count + got, n - got, x, got, err);
            break;
        }
        if (got + 1 < n) {
            encode(g, xi, st.zbuf);
            double *zc = malloc(g->D * sizeof(double));
            if (zc == NULL) {
                state_free(&st);
                return hn_error_set(err, NULL, "out of memory");
            }
            memcpy(zc, st.zbuf, g->D * sizeof(double));
            int fr = fantasize(&st, zc, err);
            free(zc);
            if (fr != 0) {
                state_free(&st);
                return -1;
            }
        }
    }
    state_free(&st);
    return (int)got;
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
    .summary = "Gaussian-process Bayesian optimization (LogEI, EHVI, constraints, batches)",
    .options = gpbo_options,
    .optimizer = &gpbo_ops,
};
