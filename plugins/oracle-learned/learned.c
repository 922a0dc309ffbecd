/*
 * hilnas oracle "learned": a latency model fitted on measured trials, used in their place.
 *
 *   oracles:
 *     host:    {plugin: host}
 *     latency: {plugin: learned, from: host, metrics: [prefill_ms, decode_ms]}
 *   stages:
 *     - {name: measure, run: host, sampler: sobol, trials: 48}
 *     - {name: fit, oracle: latency}
 *     - {name: search, optimizer: gpbo, trials: 40}          # objectives on latency.*
 *
 * fit() takes every complete trial of the history that has the metric `<from>.<m>` and fits one
 * Gaussian process per metric (include/hilnas/gp.h: Matern-5/2 ARD on the point's unit-cube
 * coordinates, log-transformed outputs by default, the measurement's standard error as its
 * noise where known). evaluate() predicts: the metric is exp(posterior mean) (the median of
 * the log-normal prediction; without `log`, the mean) and its standard error the delta-method
 * exp(mean) * sd (without `log`, sd), where sd is the posterior standard deviation of the
 * latent function plus the model's own noise.
 *
 * Accuracy: after each fit the leave-one-out predictions (same hyperparameters, closed form) of
 * every training trial are compared with its measurement; <study>/<instance>-fit.json holds, per
 * metric, n, the mean absolute percentage error, the Spearman rank correlation and the share
 * of measurements inside the 95 % predictive interval, and one log line sums them up.
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "hilnas/evaluator.h"
#include "hilnas/gp.h"
#include "hilnas/log.h"
#include "llm/cost.h"
#include "llm/llm_config.h"

#define MAX_METRICS 16
#define N_ARCH 2 /* log parameters, log forward FLOPs per token */

struct learned {
    const char *from;
    const struct hn_config_node *metrics_node;
    int log_transform;
    int kernel; /* index into kernels */
    int64_t restarts;
    int features; /* index into feature_sets */
    int use_arch; /* resolved at fit: architecture features in the inputs */
    const char *instance;
    const char *study_dir;
    uint64_t seed;

    size_t n_metrics;
    const char *metric[MAX_METRICS + 1]; /* NULL-terminated, borrowed from the config tree */
    struct hn_gp *gp[MAX_METRICS];
    const struct hn_params *params;
    double feat_lo[N_ARCH], feat_hi[N_ARCH]; /* range of the architecture features in training */
};

static const char *const kernels[] = {"matern52", "rbf", NULL};
static const char *const feature_sets[] = {"auto", "params", "params+arch", NULL};

static const struct hn_option learned_options[] = {
    {.name = "from",
     .type = HN_OPT_STRING,
     .offset = offsetof(struct learned, from),
     .help = "The oracle or evaluator whose measurements are learned (instance name)."},
    {.name = "metrics",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct learned, metrics_node),
     .help = "Metric names of that source to learn, e.g. [prefill_ms, decode_ms] (required)."},
    {.name = "log",
     .type = HN_OPT_BOOL,
     .def = "true",
     .offset = offsetof(struct learned, log_transform),
     .help = "Model log(metric) (positive metrics such as latency)."},
    {.name = "kernel",
     .type = HN_OPT_ENUM,
     .def = "matern52",
     .choices = kernels,
     .offset = offsetof(struct learned, kernel),
     .help = "GP kernel (ARD): matern52 or rbf."},
    {.name = "features",
     .type = HN_OPT_ENUM,
     .def = "auto",
     .choices = feature_sets,
     .offset = offsetof(struct learned, features),
     .help = "Model inputs: params (the point's unit-cube coordinates), params+arch (also log "
             "parameters and log FLOPs per token of the decoded architecture), or auto "
             "(params+arch when every trial has a transformer architecture)."},
    {.name = "restarts",
     .type = HN_OPT_INT,
     .def = "4",
     .min = 1,
     .max = 100,
     .bounded = 1,
     .offset = offsetof(struct learned, restarts),
     .help = "Starts of each hyperparameter fit."},
    {.name = NULL},
};

static void learned_destroy(void *ctx)
{
    struct learned *l = ctx;
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < l->n_metrics; i++) {
        hn_gp_free(l->gp[i]);
    }
    free(l);
}

static void *learned_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct learned *l = calloc(1, sizeof(*l));
    char where[1024];
    if (l == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_apply(learned_options, args->node, l, "oracle 'learned'", "learned", err) != 0) {
        goto fail;
    }
    const struct hn_config_node *m = l->metrics_node;
    if (m == NULL || m->type != HN_NODE_SEQUENCE || m->n == 0 || m->n > MAX_METRICS) {
        hn_error_config(err,
                        m ? hn_config_where(m, where, sizeof(where))
                          : (args->node ? hn_config_where(args->node, where, sizeof(where)) : NULL),
                        "oracle 'learned': 'metrics' must list 1 to %d metric names of '%s', "
                        "e.g. metrics: [prefill_ms, decode_ms]",
                        MAX_METRICS, l->from);
        goto fail;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (hn_config_to_string(m->items[i], &l->metric[i], err) != 0) {
            goto fail;
        }
        if (strchr(l->metric[i], '.') != NULL || l->metric[i][0] == '\0') {
            hn_error_config(err, hn_config_where(m->items[i], where, sizeof(where)),
                            "%s: a short metric name of '%s' is expected, without '.'",
                            m->items[i]->path, l->from);
            goto fail;
        }
    }
    l->n_metrics = m->n;
    l->instance = args->instance;
    l->study_dir = args->study_dir;
    l->seed = args->seed;
    return l;
fail:
    learned_destroy(l);
    return NULL;
}

static const char *const *learned_metric_names(void *ctx)
{
    return ((struct learned *)ctx)->metric;
}

/* Spearman rank correlation of a and b (n values; ties get average ranks). */
static double spearman(const double *a, const double *b, size_t n)
{
    double *ra = malloc(n * sizeof(double)), *rb = malloc(n * sizeof(double));
    if (ra == NULL || rb == NULL || n < 2) {
        free(ra);
        free(rb);
        return NAN;
    }
    const double *v[2] = {a, b};
    double *r[2] = {ra, rb};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < n; i++) {
            double below = 0, equal = 0;
            for (size_t j = 0; j < n; j++) {
                below += v[k][j] < v[k][i];
                equal += v[k][j] == v[k][i];
            }
            r[k][i] = below + (equal + 1) / 2.0;
        }
    }
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        ma += ra[i] / (double)n;
        mb += rb[i] / (double)n;
    }
    for (size_t i = 0; i < n; i++) {
        sab += (ra[i] - ma) * (rb[i] - mb);
        saa += (ra[i] - ma) * (ra[i] - ma);
        sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    free(ra);
    free(rb);
    return saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
}

/* log parameters and log forward FLOPs per token (at a 256-token context) of a decoded
 * architecture; 0 if it is not a transformer architecture. */
static int arch_features(const json_t *arch, double *f)
{
    struct hn_llm_config c;
    struct hn_error e;
    if (!json_is_object(arch) || hn_llm_config_from_json(arch, "architecture", &c, &e) != 0) {
        return 0;
    }
    struct hn_llm_cost k;
    hn_llm_cost_compute(&c, 128.0, 0.0, 4.0, &k);
    f[0] = log(k.params);
    f[1] = log(k.prefill_flops_per_token);
    return 1;
}

/* Architecture features f scaled by their training range into z[0..N_ARCH). */
static void scale_arch(const struct learned *l, const double *f, double *z)
{
    for (size_t k = 0; k < N_ARCH; k++) {
        double span = l->feat_hi[k] - l->feat_lo[k];
        z[k] = span > 0 ? (f[k] - l->feat_lo[k]) / span : 0.5;
    }
}

/* The model inputs of a trial to predict, into z: unit-cube coordinates, then (with
 * architecture features) the scaled features. Returns 0, or -1 with err. */
static int inputs_of(const struct learned *l, const struct hn_trial *t, double *z,
                     struct hn_error *err)
{
    double f[N_ARCH];
    hn_params_to_unit(l->params, t->x, z);
    if (!l->use_arch) {
        return 0;
    }
    if (!arch_features(t->arch, f)) {
        return hn_error_config(err, NULL,
                               "trial %ld has no transformer architecture, but the "
                               "model was fitted with architecture features",
                               t->id);
    }
    scale_arch(l, f, z + l->params->n);
    return 0;
}

static int learned_fit(void *ctx, const struct hn_history *h, const struct hn_params *params,
                       struct hn_error *err)
{
    struct learned *l = ctx;
    size_t n_max = h->n;
    double *feat = malloc((n_max * N_ARCH + 1) * sizeof(double));
    unsigned char *has = calloc(n_max + 1, 1);
    double *X = malloc((n_max * (params->n + N_ARCH) + 1) * sizeof(double));
    double *y = malloc((n_max + 1) * sizeof(double)), *sem = malloc((n_max + 1) * sizeof(double));
    double *loo_m = malloc((n_max + 1) * sizeof(double));
    double *loo_v = malloc((n_max + 1) * sizeof(double));
    double *pred = malloc((n_max + 1) * sizeof(double));
    json_t *report = json_object();
    char summary[2048] = "";
    int rc = -1;
    if (feat == NULL || has == NULL || X == NULL || y == NULL || sem == NULL || loo_m == NULL ||
        loo_v == NULL || pred == NULL || report == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    l->params = params;
    /* architecture features of every complete trial, once */
    int all_have = 1;
    for (size_t k = 0; k < N_ARCH; k++) {
        l->feat_lo[k] = INFINITY;
        l->feat_hi[k] = -INFINITY;
    }
    for (size_t i = 0; i < h->n; i++) {
        if (h->trials[i]->status != HN_TRIAL_COMPLETE) {
            continue;
        }
        has[i] = (unsigned char)arch_features(h->trials[i]->arch, feat + i * N_ARCH);
        all_have &= has[i];
        for (size_t k = 0; has[i] && k < N_ARCH; k++) {
            l->feat_lo[k] = fmin(l->feat_lo[k], feat[i * N_ARCH + k]);
            l->feat_hi[k] = fmax(l->feat_hi[k], feat[i * N_ARCH + k]);
        }
    }
    /* auto: architecture features when every complete trial has an architecture */
    l->use_arch = l->features == 2 || (l->features == 0 && all_have);
    size_t d = params->n + (l->use_arch ? N_ARCH : 0);
    if (d > HN_GP_MAX_DIM) {
        hn_error_config(err, NULL, "%zu model inputs, at most %d", d, HN_GP_MAX_DIM);
        goto done;
    }
    for (size_t k = 0; k < l->n_metrics; k++) {
        char full[512];
        snprintf(full, sizeof(full), "%s.%s", l->from, l->metric[k]);
        size_t n = 0;
        for (size_t i = 0; i < h->n; i++) {
            const struct hn_trial *t = h->trials[i];
            if (t->status != HN_TRIAL_COMPLETE || t->n_params != params->n) {
                continue;
            }
            const struct hn_metric *mv = hn_metrics_get(&t->metrics, full);
            if (mv == NULL) {
                continue;
            }
            if (l->log_transform && !(mv->value > 0)) {
                hn_error_config(err, NULL,
                                "trial %ld: %s = %g cannot be modelled in log space; set "
                                "log: false",
                                t->id, full, mv->value);
                goto done;
            }
            if (l->use_arch && !has[i]) {
                hn_error_config(err, NULL,
                                "trial %ld has no transformer architecture for features: "
                                "params+arch (use the space 'transformer', or features: params)",
                                t->id);
                goto done;
            }
            hn_params_to_unit(params, t->x, X + n * d);
            if (l->use_arch) {
                scale_arch(l, feat + i * N_ARCH, X + n * d + params->n);
            }
            y[n] = mv->value;
            sem[n] = mv->sem;
            n++;
        }
        if (n < 2) {
            hn_error_config(err, NULL,
                            "only %zu complete trial%s with metric '%s' to learn from; measure "
                            "more before the fit stage",
                            n, n == 1 ? "" : "s", full);
            goto done;
        }
        struct hn_gp_options opt;
        hn_gp_options_default(&opt);
        opt.kernel = l->kernel == 1 ? HN_GP_RBF : HN_GP_MATERN52;
        opt.log_transform = l->log_transform;
        opt.restarts = (int)l->restarts;
        opt.threads = 1;
        opt.seed = l->seed;
        hn_gp_free(l->gp[k]);
        l->gp[k] = hn_gp_fit(X, y, sem, n, d, &opt, err);
        if (l->gp[k] == NULL) {
            hn_error_prefix(err, "fitting %s", full);
            goto done;
        }
        /* leave-one-out accuracy, in the metric's own units */
        if (hn_gp_loo(l->gp[k], loo_m, loo_v, err) != 0) {
            goto done;
        }
        double mape = 0.0;
        size_t inside = 0;
        for (size_t i = 0; i < n; i++) {
            double sd = sqrt(loo_v[i]);
            double model_y = l->log_transform ? log(y[i]) : y[i];
            pred[i] = l->log_transform ? exp(loo_m[i]) : loo_m[i];
            mape += fabs(pred[i] - y[i]) / fmax(fabs(y[i]), 1e-300) / (double)n;
            inside += fabs(model_y - loo_m[i]) <= 1.96 * sd;
        }
        double rho = spearman(pred, y, n);
        json_object_set_new(report, l->metric[k],
                            json_pack("{s:I, s:f, s:f, s:f}", "n", (json_int_t)n, "loo_mape", mape,
                                      "loo_spearman", isfinite(rho) ? rho : 0.0, "loo_coverage95",
                                      (double)inside / (double)n));
        size_t len = strlen(summary);
        snprintf(summary + len, sizeof(summary) - len,
                 "%s%s: n=%zu, LOO error %.1f %%, rank "
                 "corr %.3f",
                 len ? "; " : "", l->metric[k], n, 100.0 * mape, rho);
    }
    json_object_set_new(report, "features", json_string(l->use_arch ? "params+arch" : "params"));
    if (l->study_dir != NULL) {
        char name[512];
        snprintf(name, sizeof(name), "%s-fit.json", l->instance);
        char *path = hn_path_join(l->study_dir, name);
        char *text = json_dumps(report, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
        if (path == NULL || text == NULL ||
            hn_write_file_atomic(path, text, strlen(text), err) != 0) {
            free(path);
            free(text);
            goto done;
        }
        free(path);
        free(text);
    }
    hn_log(HN_LOG_INFO, "oracle '%s' learned from '%s' (%s): %s", l->instance, l->from,
           l->use_arch ? "params+arch" : "params", summary);
    rc = 0;
done:
    json_decref(report);
    free(feat);
    free(has);
    free(X);
    free(y);
    free(sem);
    free(loo_m);
    free(loo_v);
    free(pred);
    return rc;
}

static int learned_evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                            struct hn_error *err)
{
    const struct learned *l = ctx;
    if (l->params == NULL || l->gp[0] == NULL) {
        return hn_error_config(err, NULL,
                               "oracle '%s' has not been fitted: add a stage {name: fit, oracle: "
                               "%s} after the trials it learns from",
                               l->instance, l->instance);
    }
    double u[HN_GP_MAX_DIM];
    if (req->trial->n_params != l->params->n) {
        return hn_error_set(err, NULL, "the trial has %zu parameters, the model %zu",
                            req->trial->n_params, l->params->n);
    }
    if (inputs_of(l, req->trial, u, err) != 0) {
        return -1;
    }
    for (size_t k = 0; k < l->n_metrics; k++) {
        double mean, var;
        struct hn_gp_hyper hy;
        if (hn_gp_predict(l->gp[k], u, 1, &mean, &var, err) != 0) {
            return -1;
        }
        hn_gp_get_hyper(l->gp[k], &hy);
        /* the latent's uncertainty plus the learned measurement noise, in model space */
        double noise = hy.noise * hy.y_scale * hy.y_scale;
        double sd = sqrt(fmax(var, 0.0) + noise);
        double value = l->log_transform ? exp(mean) : mean;
        double sem = l->log_transform ? value * sd : sd;
        if (hn_metrics_put(out, l->metric[k], value, sem, err) != 0) {
            return -1;
        }
    }
    return 0;
}

static const struct hn_oracle_ops learned_ops = {
    .size = sizeof(struct hn_oracle_ops),
    .create = learned_create,
    .destroy = learned_destroy,
    .metrics = learned_metric_names,
    .evaluate = learned_evaluate,
    .fit = learned_fit,
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_ORACLE),
    .name = "learned",
    .summary = "Latency model (GP) fitted on measured trials; predicts with uncertainty",
    .options = learned_options,
    .oracle = &learned_ops,
};
