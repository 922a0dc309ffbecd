/*
 * hilnas optimizer "active": measure next where the latency model is least sure.
 *
 *   stages:
 *     - {name: measure, run: host, sampler: active, trials: 32}
 *     - {name: fit, oracle: latency}
 *
 * `sampler: active` takes its model from the stage's learned oracle: the oracle of the first
 * later fit stage (here `latency`), with all of its options (from, metrics, contexts, prompt,
 * kernel, features, ...). The explicit form names them itself:
 *   optimizer: {plugin: active, from: host, metrics: [prefill_ms, decode_ms],
 *               contexts: [0, 512], pool: 512, initial: 8}
 *
 * Each ask: with fewer than `initial` measured trials (trials with a metric of `from`), the
 * first valid scrambled Sobol points that are new (as the random optimizer's sobol mode). Then
 * the learned latency model (plugins/oracle-learned/latency_model.h: roofline x GP correction,
 * with the same options as the oracle, hyperparameters refitted on every measured trial) is
 * fitted on the history, and of a pool of `pool` valid new Sobol candidates (a stream that
 * depends on the number of measured trials) the one whose predictive variance is largest is
 * taken: the sum over metrics and contexts of the GP correction's posterior variance of
 * log latency (a relative uncertainty, so prefill and decode weigh alike). Points being
 * measured (pending trials) and the points already chosen in the same ask are conditioned on
 * first (the variance of a GP does not depend on the values observed), so a batch spreads out.
 * Uncertainty sampling for regression ("active learning MacKay", ALM): it measures where the
 * model would otherwise have to extrapolate. When the fit fails the ask falls back to Sobol
 * (with a warning). Deterministic: the same history gives the same points.
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/log.h"
#include "hilnas/optimizer.h"
#include "hilnas/rng.h"
#include "hilnas/sobol.h"
#include "plugins/oracle-learned/latency_model.h"

static const char *const kernels[] = {"matern52", "rbf", NULL};
static const char *const feature_sets[] = {"auto", "params", "params+arch", "arch", NULL};
static const char *const means[] = {"auto", "roofline", "constant", NULL};
static const char *const lm_dtypes[] = {"f32", "bf16", "f16", "q8_0", NULL};

struct active {
    struct lm lm; /* the model's options and fitted state */
    int64_t pool, initial, seed, max_draws;
    const struct hn_space *space;
    const struct hn_params *params;
    char *stage;
    uint64_t stream;
};

static const struct hn_option active_options[] = {
    {.name = "from",
     .type = HN_OPT_STRING,
     .offset = offsetof(struct active, lm.from),
     .help = "The oracle whose measurements the model learns (instance name; required)."},
    {.name = "metrics",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct active, lm.metrics_node),
     .help = "Metric names of that source, e.g. [prefill_ms, decode_ms] (required)."},
    {.name = "contexts",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct active, lm.contexts_node),
     .help = "Context lengths of the decode* metrics, as in the learned oracle."},
    {.name = "prompt",
     .type = HN_OPT_INT,
     .def = "128",
     .min = 1,
     .max = 1 << 24,
     .bounded = 1,
     .offset = offsetof(struct active, lm.prompt),
     .help = "Prompt tokens of the source's prefill* metrics."},
    {.name = "context",
     .type = HN_OPT_INT,
     .def = "256",
     .min = 0,
     .max = 1 << 24,
     .bounded = 1,
     .offset = offsetof(struct active, lm.context),
     .help = "Cached tokens of the source's decode* metrics without `contexts`."},
    {.name = "dtype",
     .type = HN_OPT_ENUM,
     .def = "f32",
     .choices = lm_dtypes,
     .offset = offsetof(struct active, lm.dtype),
     .help = "Weight precision the source measured (as the learned oracle's)."},
    {.name = "mean",
     .type = HN_OPT_ENUM,
     .def = "auto",
     .choices = means,
     .offset = offsetof(struct active, lm.mean),
     .help = "GP mean, as the learned oracle's: auto, roofline, constant."},
    {.name = "log",
     .type = HN_OPT_BOOL,
     .def = "true",
     .offset = offsetof(struct active, lm.log_transform),
     .help = "Model log(metric)."},
    {.name = "kernel",
     .type = HN_OPT_ENUM,
     .def = "matern52",
     .choices = kernels,
     .offset = offsetof(struct active, lm.kernel),
     .help = "GP kernel (ARD): matern52 or rbf."},
    {.name = "features",
     .type = HN_OPT_ENUM,
     .def = "auto",
     .choices = feature_sets,
     .offset = offsetof(struct active, lm.features),
     .help = "GP inputs, as the learned oracle's: auto, params, params+arch, arch."},
    {.name = "restarts",
     .type = HN_OPT_INT,
     .def = "4",
     .min = 1,
     .max = 100,
     .bounded = 1,
     .offset = offsetof(struct active, lm.restarts),
     .help = "Starts of each hyperparameter fit."},
    {.name = "folds",
     .type = HN_OPT_INT,
     .def = "5",
     .min = 2,
     .max = 1000,
     .bounded = 1,
     .offset = offsetof(struct active, lm.folds),
     .help = "(the learned oracle's; unused here)"},
    {.name = "pool",
     .type = HN_OPT_INT,
     .def = "512",
     .min = 1,
     .max = 1 << 20,
     .bounded = 1,
     .offset = offsetof(struct active, pool),
     .help = "Sobol candidates scored per ask."},
    {.name = "initial",
     .type = HN_OPT_INT,
     .def = "8",
     .min = 2,
     .max = 1 << 20,
     .bounded = 1,
     .offset = offsetof(struct active, initial),
     .help = "Measured trials before the model chooses (Sobol points until then)."},
    {.name = "seed",
     .type = HN_OPT_INT,
     .def = "-1",
     .min = -1,
     .max = 9.2e18,
     .bounded = 1,
     .offset = offsetof(struct active, seed),
     .help = "Seed of the Sobol streams (mixed with the stage name); -1 uses the study seed."},
    {.name = "max_draws",
     .type = HN_OPT_INT,
     .def = "100000",
     .min = 1,
     .max = 100000000,
     .bounded = 1,
     .offset = offsetof(struct active, max_draws),
     .help = "Sobol points looked at per ask before giving up on finding new valid ones."},
    {.name = NULL},
};

static void active_destroy(void *ctx)
{
    struct active *a = ctx;
    if (a != NULL) {
        lm_free(&a->lm);
        free(a->stage);
        free(a);
    }
}

static void *active_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct active *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_fill(active_options, args->node, a, err) != 0) {
        goto fail;
    }
    if (args->space == NULL) {
        hn_error_set(err, NULL, "created without a space (a bug in the caller)");
        goto fail;
    }
    if (a->lm.from == NULL) {
        hn_error_config(err, NULL,
                        "'from' is required: the oracle whose measurements the latency model "
                        "learns (or use `sampler: active` before a fit stage of a learned oracle)");
        goto fail;
    }
    struct hn_plugin_args la = *args;
    la.study_dir = NULL; /* the sampler's fits are its own: no report or model file */
    if (lm_init(&a->lm, &la, 1, err) != 0) {
        goto fail;
    }
    a->lm.quiet = 1;
    a->space = args->space;
    a->params = hn_space_params(args->space);
    a->stage = strdup(args->stage != NULL ? args->stage : "");
    if (a->stage == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto fail;
    }
    uint64_t base = a->seed >= 0 ? (uint64_t)a->seed : args->seed;
    a->stream = hn_rng_derive(base, hn_rng_hash(a->stage));
    struct hn_sobol *probe = hn_sobol_new(a->params->n, 1, a->stream, err);
    if (probe == NULL) {
        goto fail;
    }
    hn_sobol_free(probe);
    return a;
fail:
    active_destroy(a);
    return NULL;
}

/* Does t carry a measurement of the source (a metric `<from>.*`)? */
static int measured(const struct active *a, const struct hn_trial *t)
{
    size_t fl = strlen(a->lm.from);
    if (t->status != HN_TRIAL_COMPLETE || t->n_params != a->params->n) {
        return 0;
    }
    for (size_t j = 0; j < t->metrics.n; j++) {
        if (strncmp(t->metrics.m[j].name, a->lm.from, fl) == 0 && t->metrics.m[j].name[fl] == '.') {
            return 1;
        }
    }
    return 0;
}

/*
 * Up to `want` valid points, new to h and to the `have` rows already in x, from a scrambled
 * Sobol stream of `seed`, into x + have * d. Returns how many were added, or -1 with err.
 */
static long sobol_fill(struct active *a, const struct hn_history *h, uint64_t seed, double *x,
                       size_t have, size_t want, struct hn_error *err)
{
    size_t d = a->params->n, got = 0;
    struct hn_sobol *s = hn_sobol_new(d, 1, seed, err);
    if (s == NULL) {
        return -1;
    }
    double *u = malloc((d ? d : 1) * sizeof(double));
    if (u == NULL) {
        hn_sobol_free(s);
        return hn_error_set(err, NULL, "out of memory");
    }
    char why[256];
    for (int64_t draws = 0; got < want && draws < a->max_draws; draws++) {
        double *xi = x + (have + got) * d;
        hn_sobol_next(s, u);
        hn_params_from_unit(a->params, u, xi);
        if (hn_space_check(a->space, xi, why, sizeof(why)) &&
            !hn_history_has_point(h, a->params, xi, x, have + got)) {
            got++;
        }
    }
    hn_sobol_free(s);
    free(u);
    return (long)got;
}

/* Inputs of metric k's GP for a point at every output of that metric (rows of mt->d) into Z;
 * returns the number of rows. */
static size_t point_rows(const struct active *a, size_t k, const double *x, const json_t *arch,
                         double *Z)
{
    const struct lm *l = &a->lm;
    size_t rows = 0;
    for (size_t o = 0; o < l->n_outputs; o++) {
        if (l->output[o].metric == k) {
            lm_point_inputs(l, k, a->params, x, arch, l->output[o].context,
                            Z + rows * l->metric[k].d);
            rows++;
        }
    }
    return rows;
}

/* gp conditioned on the rows Z (k of them) at their posterior means; *gp replaced (the old one
 * freed unless it is `keep`) */
static int condition(struct hn_gp **gp, const struct hn_gp *keep, const double *Z, size_t k,
                     struct hn_error *err)
{
    double *mean = malloc((k ? k : 1) * sizeof(double));
    if (mean == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    if (hn_gp_predict(*gp, Z, k, mean, NULL, err) != 0) {
        free(mean);
        return -1;
    }
    struct hn_gp *g = hn_gp_condition(*gp, Z, mean, k, err);
    free(mean);
    if (g == NULL) {
        return -1;
    }
    if (*gp != keep) {
        hn_gp_free(*gp);
    }
    *gp = g;
    return 0;
}

static int active_ask(void *ctx, const struct hn_history *h, size_t n, double *x,
                      struct hn_error *err)
{
    struct active *a = ctx;
    struct lm *l = &a->lm;
    size_t d = a->params->n, n_measured = 0;
    for (size_t i = 0; i < h->n; i++) {
        n_measured += measured(a, h->trials[i]);
    }
    if (n_measured < (size_t)a->initial) {
        return (int)sobol_fill(a, h, a->stream, x, 0, n, err);
    }
    struct hn_error fe;
    hn_error_clear(&fe);
    if (lm_fit(l, h, a->params, &fe) != 0) {
        hn_log(HN_LOG_WARNING,
               "stage '%s': the latency model could not be fitted on %zu measured trials (%s); "
               "taking Sobol points",
               a->stage, n_measured, fe.msg);
        return (int)sobol_fill(a, h, a->stream, x, 0, n, err);
    }
    size_t P = (size_t)a->pool, K = l->n_metrics, R = l->n_contexts ? l->n_contexts : 1;
    double *cand = malloc((P + n) * (d ? d : 1) * sizeof(double));
    double *score = calloc(P + 1, sizeof(double));
    double *Z = malloc((P + 1) * R * HN_GP_MAX_DIM * sizeof(double));
    double *var = malloc((P + 1) * R * sizeof(double));
    json_t **arch = calloc(P + 1, sizeof(json_t *));
    struct hn_gp *gp[LM_MAX_METRICS] = {0};
    unsigned char *taken = calloc(P + 1, 1);
    int rc = -1;
    size_t out = 0;
    if (cand == NULL || score == NULL || Z == NULL || var == NULL || arch == NULL ||
        taken == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    long got =
        sobol_fill(a, h, hn_rng_derive(a->stream, 1 + (uint64_t)n_measured), cand, 0, P, err);
    if (got < 0) {
        goto done;
    }
    if (got == 0) {
        rc = 0; /* no new valid point left */
        goto done;
    }
    P = (size_t)got;
    for (size_t c = 0; c < P; c++) {
        struct hn_error de;
        arch[c] = hn_space_decode(a->space, cand + c * d, &de);
        if (arch[c] == NULL) {
            taken[c] = 1; /* cannot be decoded: never chosen */
        }
    }
    /* the model conditioned on the points being measured */
    for (size_t k = 0; k < K; k++) {
        gp[k] = l->metric[k].gp;
        for (size_t i = 0; gp[k] != NULL && i < h->n; i++) {
            const struct hn_trial *t = h->trials[i];
            if (t->status != HN_TRIAL_RUNNING || t->n_params != d) {
                continue;
            }
            size_t rows = point_rows(a, k, t->x, t->arch, Z);
            if (condition(&gp[k], l->metric[k].gp, Z, rows, err) != 0) {
                goto done;
            }
        }
    }
    for (out = 0; out < n; out++) {
        memset(score, 0, P * sizeof(double));
        for (size_t k = 0; k < K; k++) {
            if (gp[k] == NULL) {
                continue;
            }
            size_t rows = 0;
            for (size_t c = 0; c < P; c++) {
                rows = point_rows(a, k, cand + c * d, arch[c], Z + c * R * l->metric[k].d);
            }
            if (hn_gp_predict(gp[k], Z, P * rows, NULL, var, err) != 0) {
                goto done;
            }
            for (size_t c = 0; c < P; c++) {
                for (size_t r = 0; r < rows; r++) {
                    score[c] += fmax(var[c * rows + r], 0.0);
                }
            }
        }
        size_t best = P;
        for (size_t c = 0; c < P; c++) {
            if (!taken[c] && (best == P || score[c] > score[best])) {
                best = c;
            }
        }
        if (best == P) {
            break;
        }
        taken[best] = 1;
        memcpy(x + out * d, cand + best * d, d * sizeof(double));
        for (size_t k = 0; k < K && out + 1 < n; k++) {
            if (gp[k] != NULL) {
                size_t rows = point_rows(a, k, cand + best * d, arch[best], Z);
                if (condition(&gp[k], l->metric[k].gp, Z, rows, err) != 0) {
                    goto done;
                }
            }
        }
    }
    rc = 0;
done:
    for (size_t k = 0; k < K; k++) {
        if (gp[k] != l->metric[k].gp) {
            hn_gp_free(gp[k]);
        }
    }
    for (size_t c = 0; arch != NULL && c < P; c++) {
        json_decref(arch[c]);
    }
    free(arch);
    free(cand);
    free(score);
    free(Z);
    free(var);
    free(taken);
    return rc == 0 ? (int)out : -1;
}

static const struct hn_optimizer_ops active_ops = {
    .size = sizeof(struct hn_optimizer_ops),
    .create = active_create,
    .destroy = active_destroy,
    .ask = active_ask,
    .tell = NULL,
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_OPTIMIZER),
    .name = "active",
    .summary = "Measure next where the latency model is least sure (max predictive variance)",
    .options = active_options,
    .optimizer = &active_ops,
};
