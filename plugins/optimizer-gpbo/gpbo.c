/*
 * hilnas optimizer "gpbo": Bayesian optimization with Gaussian-process surrogates (core/gp.c).
 *
 * Each ask:
 *   1. The first init_trials points of the stage are scrambled Sobol points (index = trials of
 *      the stage so far), as long as a metric has fewer than 2 usable observations too.
 *   2. (state.c) One GP per modelled metric (objectives, outcome constraints) on the complete
 *      trials, in the model space of gpbo.h; metrics with a standard error get fixed noise;
 *      log_metrics are modelled in log space. Pending trials are fantasized at their posterior
 *      mean. Beyond full_fit_max observations the fits are reused between asks (models.c:
 *      anchor fits warm-started, block Cholesky updates in between; deterministic in the
 *      history).
 *   3. (state.c) Acquisition (log scale): LogEI against the best posterior mean among feasible
 * observed points (one objective, or ParEGO's random augmented Chebyshev scalarization with fresh
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

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/gp.h"
#include "hilnas/optimizer.h"
#include "hilnas/rng.h"
#include "plugins/optimizer-gpbo/acquisition.h"
#include "plugins/optimizer-gpbo/gpbo.h"
#include "plugins/optimizer-gpbo/models.h"

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

double gpbo_to_model(const struct gpbo *g, size_t metric, double v)
{
    return g->metric_log[metric] ? log(v) : v;
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

/* The model space's columns: one per parameter, one per label of a categorical. */
static int setup_model_space(struct gpbo *g, struct hn_error *err)
{
    for (size_t i = 0; i < g->params->n; i++) {
        const struct hn_param *q = &g->params->p[i];
        g->col[i] = g->dim;
        g->width[i] = q->type == HN_PARAM_CATEGORICAL && q->n_values > 1 ? q->n_values : 1;
        g->dim += g->width[i];
        g->has_discrete |= q->type != HN_PARAM_FLOAT;
    }
    if (g->dim == 0 || g->dim > HN_GP_MAX_DIM) {
        return hn_error_config(err, NULL,
                               "the space has %zu model dimensions (categoricals count one per "
                               "label); gpbo handles 1 to %d",
                               g->dim, HN_GP_MAX_DIM);
    }
    return 0;
}

/* The modelled metrics: the objectives', then the outcome constraints'. */
static int setup_metrics(struct gpbo *g, const struct hn_problem *pb, struct hn_error *err)
{
    if (pb == NULL || pb->n_objectives == 0 || pb->n_objectives > GPBO_MAX_OBJ) {
        return hn_error_config(err, NULL, "gpbo needs 1 to %d objectives (the study has %zu)",
                               GPBO_MAX_OBJ, pb ? pb->n_objectives : (size_t)0);
    }
    g->m = pb->n_objectives;
    for (size_t j = 0; j < g->m; j++) {
        long k = add_metric(g, pb->objectives[j].metric);
        g->obj_metric[j] = (size_t)k;
        g->obj_sign[j] = pb->objectives[j].maximize ? -1 : 1;
    }
    if (pb->n_constraints > MAX_METRICS - g->m) {
        return hn_error_config(err, NULL, "gpbo handles at most %d outcome constraints",
                               MAX_METRICS - (int)g->m);
    }
    g->nc = pb->n_constraints;
    g->constraints = pb->constraints;
    for (size_t c = 0; c < g->nc; c++) {
        long k = add_metric(g, pb->constraints[c].metric);
        if (k < 0) {
            return hn_error_config(err, NULL, "gpbo models at most %d distinct metrics",
                                   MAX_METRICS);
        }
        g->con_metric[c] = (size_t)k;
    }
    return 0;
}

/* Reference points and constraint bounds in (oriented) model space, after log_metrics. */
static int setup_bounds(struct gpbo *g, const struct hn_problem *pb, struct hn_error *err)
{
    for (size_t j = 0; j < g->m; j++) {
        double ref = pb->objectives[j].ref;
        size_t k = g->obj_metric[j];
        if (!isnan(ref) && g->metric_log[k] && !(ref > 0)) {
            return hn_error_config(err, NULL,
                                   "objective %s is modelled in log space (log_metrics) but its "
                                   "reference point %g is not positive; give a positive ref or "
                                   "drop it from log_metrics",
                                   g->metric[k], ref);
        }
        g->obj_ref[j] = isnan(ref) ? NAN : g->obj_sign[j] * gpbo_to_model(g, k, ref);
    }
    for (size_t c = 0; c < g->nc; c++) {
        size_t k = g->con_metric[c];
        double lo = pb->constraints[c].lo, hi = pb->constraints[c].hi;
        if (g->metric_log[k]) {
            if (!(hi > 0)) {
                return hn_error_config(err, NULL,
                                       "constraint on %s: the upper bound %g is not positive but "
                                       "the metric is modelled in log space (log_metrics)",
                                       g->metric[k], hi);
            }
            lo = lo > 0 ? log(lo) : -INFINITY;
            hi = isinf(hi) ? hi : log(hi);
        }
        g->con_lo[c] = lo;
        g->con_hi[c] = hi;
    }
    return 0;
}

/* The acquisition option against the number of objectives. */
static int resolve_acquisition(struct gpbo *g, struct hn_error *err)
{
    switch (g->acquisition) {
    case ACQ_AUTO:
        g->kind = g->m == 1 ? ACQ_LOGEI : ACQ_EHVI;
        return 0;
    case ACQ_LOGEI:
        if (g->m > 1) {
            return hn_error_config(err, NULL,
                                   "acquisition logei needs one objective, the study has %zu; "
                                   "use ehvi, nehvi or parego",
                                   g->m);
        }
        g->kind = ACQ_LOGEI;
        return 0;
    case ACQ_EHVI:
    case ACQ_NEHVI:
        if (g->m == 1) {
            return hn_error_config(err, NULL,
                                   "acquisition %s needs 2 or more objectives; use logei (or "
                                   "auto)",
                                   acquisitions[g->acquisition]);
        }
        g->kind = g->acquisition;
        return 0;
    default:
        g->kind = g->m == 1 ? ACQ_LOGEI : ACQ_PAREGO;
        return 0;
    }
}

static void *gpbo_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct gpbo *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_fill(gpbo_options, args->node, g, err) != 0) {
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
    if (setup_model_space(g, err) != 0 || setup_metrics(g, args->problem, err) != 0 ||
        apply_log_metrics(g, err) != 0) {
        goto fail;
    }
    g->models = gpbo_models_new(g->n_metrics);
    if (g->models == NULL ||
        (args->study_dir != NULL &&
         gpbo_models_persist(g->models, args->study_dir, args->instance, args->stage) != 0)) {
        hn_error_set(err, NULL, "out of memory");
        goto fail;
    }
    if (setup_bounds(g, args->problem, err) != 0 || resolve_acquisition(g, err) != 0) {
        goto fail;
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
