/*
 * hilnas oracle "learned": a latency model fitted on measured trials, used in their place.
 *
 *   oracles:     host:    {plugin: host, contexts: [0, 512, 2048]}
 *     latency: {plugin: learned, from: host, metrics: [prefill_ms, decode_ms],
 *               contexts: [0, 512, 2048]}
 *   stages:     - {name: measure, run: host, sampler: sobol, trials: 48}
 *     - {name: fit, oracle: latency}
 *     - {name: search, optimizer: gpbo, trials: 40}          # objectives on latency.*
 *
 * The model (latency_model.h) is the roofline of the architecture's costs (hilnas/llm/cost.h)
 * times a
 * Gaussian-process correction in log space: it extrapolates like the physics and learns what
 * the physics misses. Metrics that are neither prefill* nor decode* get a GP with a constant
 * mean. fit() takes every complete trial with `<from>.<metric>` (or `<from>.<metric>_<context>`
 * for each context with `contexts`); evaluate() predicts the median exp(mean) of the
 * log-normal and its delta-method standard error value * sd (sd: the latent's posterior sd
 * plus the model's own noise).
 *
 * Accuracy: <study>/<instance>-fit.json holds, per metric, the leave-one-out predictions (same
 * hyperparameters, closed form) and a k-fold cross-validation by trial (the roofline refitted
 * per fold, the GP with the full fit's hyperparameters): MAPE, share within 5 % and 10 %,
 * Kendall tau, worst error, coverage of the 95 % interval, and the roofline alone for
 * comparison. The fitted model is saved to <study>/<instance>-model.json, loaded by a resumed
 * fit on the same data and by processes that evaluate without fitting (MPI worker ranks).
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>

#include "hilnas/evaluator.h"
#include "latency_model.h"

static const char *const kernels[] = {"matern52", "rbf", NULL};
static const char *const feature_sets[] = {"auto", "params", "params+arch", "arch", NULL};
static const char *const means[] = {"auto", "roofline", "constant", NULL};
static const char *const noises[] = {"learned", "measured", NULL};

/* the `dtype` option's names, in enum hn_dtype's order (llm/qmat.h) */
static const char *const lm_dtypes[] = {"f32", "bf16", "f16", "q8_0", NULL};

static const struct hn_option learned_options[] = {
    {.name = "from",
     .type = HN_OPT_STRING,
     .offset = offsetof(struct lm, from),
     .help = "The oracle or evaluator whose measurements are learned (instance name)."},
    {.name = "metrics",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct lm, metrics_node),
     .help = "Metric names of that source to learn, e.g. [prefill_ms, decode_ms] (required)."},
    {.name = "contexts",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct lm, contexts_node),
     .help = "Context lengths of the decode* metrics, as the source measured them "
             "(<metric>_<context>, e.g. decode_ms_2048); one model with the context as an input "
             "predicts every listed context. Absent: one decode metric at `context`."},
    {.name = "prompt",
     .type = HN_OPT_INT,
     .def = "128",
     .min = 1,
     .max = 1 << 24,
     .bounded = 1,
     .offset = offsetof(struct lm, prompt),
     .help = "Prompt tokens of the source's prefill* metrics (the host oracle's `prompt`)."},
    {.name = "context",
     .type = HN_OPT_INT,
     .def = "256",
     .min = 0,
     .max = 1 << 24,
     .bounded = 1,
     .offset = offsetof(struct lm, context),
     .help = "Cached tokens of the source's decode* metrics without `contexts`."},
    {.name = "dtype",
     .type = HN_OPT_ENUM,
     .def = "f32",
     .choices = lm_dtypes,
     .offset = offsetof(struct lm, dtype),
     .help = "Weight precision the source measured (host's `dtype`: f32, bf16, f16, q8_0): "
             "the roofline counts the weight bytes read at that precision."},
    {.name = "mean",
     .type = HN_OPT_ENUM,
     .def = "auto",
     .choices = means,
     .offset = offsetof(struct lm, mean),
     .help = "GP mean: roofline (the fitted linear model on the architecture's costs; the GP "
             "corrects it), constant, or auto (roofline for prefill*/decode* metrics of "
             "transformer architectures)."},
    {.name = "log",
     .type = HN_OPT_BOOL,
     .def = "true",
     .offset = offsetof(struct lm, log_transform),
     .help = "Model log(metric) (positive metrics such as latency)."},
    {.name = "kernel",
     .type = HN_OPT_ENUM,
     .def = "matern52",
     .choices = kernels,
     .offset = offsetof(struct lm, kernel),
     .help = "GP kernel (ARD): matern52 or rbf."},
    {.name = "features",
     .type = HN_OPT_ENUM,
     .def = "auto",
     .choices = feature_sets,
     .offset = offsetof(struct lm, features),
     .help = "GP inputs: params (the point's unit-cube coordinates), params+arch (also log "
             "parameters and log FLOPs per token of the decoded architecture), arch (the "
             "architecture's shape only: parameters, FLOPs per token, layers, attention layers, "
             "widths), or auto (arch when every trial has a transformer architecture)."},
    {.name = "noise",
     .type = HN_OPT_ENUM,
     .def = "learned",
     .choices = noises,
     .offset = offsetof(struct lm, noise),
     .help = "Measurement noise of the GP: learned (one variance for every trial, fitted: it "
             "includes how much a measurement varies from run to run, which a trial's own "
             "standard error leaves out, so predictive intervals cover re-measurements) or "
             "measured (each trial's standard error)."},
    {.name = "restarts",
     .type = HN_OPT_INT,
     .def = "4",
     .min = 1,
     .max = 100,
     .bounded = 1,
     .offset = offsetof(struct lm, restarts),
     .help = "Starts of each hyperparameter fit."},
    {.name = "folds",
     .type = HN_OPT_INT,
     .def = "5",
     .min = 2,
     .max = 1000,
     .bounded = 1,
     .offset = offsetof(struct lm, folds),
     .help = "Folds of the cross-validation in the fit report (by trial)."},
    {.name = NULL},
};

static void learned_destroy(void *ctx)
{
    if (ctx != NULL) {
        lm_free(ctx);
        free(ctx);
    }
}

static void *learned_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct lm *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_fill(learned_options, args->node, l, err) != 0 ||
        lm_init(l, args, 1, err) != 0) {
        learned_destroy(l);
        return NULL;
    }
    return l;
}

static const char *const *learned_metric_names(void *ctx)
{
    return ((struct lm *)ctx)->output_names;
}

static int learned_fit(void *ctx, const struct hn_history *h, const struct hn_params *params,
                       struct hn_error *err)
{
    return lm_fit(ctx, h, params, err);
}

static int learned_evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                            struct hn_error *err)
{
    return lm_evaluate(ctx, req, out, err);
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
    .summary = "Latency model: roofline on the architecture's costs times a GP correction; "
               "predicts with uncertainty",
    .options = learned_options,
    .oracle = &learned_ops,
};
