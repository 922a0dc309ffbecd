/*
 * hilnas oracle "roofline": latency as a fitted linear model of the architecture's costs.
 *
 *   oracles:
 *     host:     {plugin: host, contexts: [0, 2048]}
 *     roofline: {plugin: roofline, from: host, metrics: [prefill_ms, decode_ms],
 *                contexts: [0, 2048]}
 *   stages:
 *     - {name: measure, run: host, sampler: sobol, trials: 24}
 *     - {name: fit, oracle: roofline}
 *
 * time = b . [1, layers, attention layers, matmul GFLOP, attention GFLOP, weight MB read,
 * KV-cache MB] with b >= 0 fitted by non-negative least squares on relative errors
 * (hilnas/llm/cost.h counts the costs; plugins/oracle-learned/latency_model.h has the details).
 * The baseline that `learned` (which uses this model as its GP's mean) must beat; the fit
 * report (<instance>-fit.json) has its k-fold cross-validated accuracy, and the model is saved
 * to <instance>-model.json like learned's. The standard error of a prediction is the value
 * times the relative RMS error of the fit.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>

#include "hilnas/evaluator.h"
#include "plugins/oracle-learned/latency_model.h"

/* the `dtype` option's names, in enum hn_dtype's order (llm/qmat.h) */
static const char *const lm_dtypes[] = {"f32", "bf16", "f16", "q8_0", NULL};

static const struct hn_option roofline_options[] = {
    {.name = "from",
     .type = HN_OPT_STRING,
     .offset = offsetof(struct lm, from),
     .help = "The oracle whose measurements are fitted (instance name)."},
    {.name = "metrics",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct lm, metrics_node),
     .help = "prefill*/decode* metric names of that source, e.g. [prefill_ms, decode_ms]."},
    {.name = "contexts",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct lm, contexts_node),
     .help = "Context lengths of the decode* metrics as measured (<metric>_<context>)."},
    {.name = "prompt",
     .type = HN_OPT_INT,
     .def = "128",
     .min = 1,
     .max = 1 << 24,
     .bounded = 1,
     .offset = offsetof(struct lm, prompt),
     .help = "Prompt tokens of the source's prefill* metrics."},
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

static void roofline_destroy(void *ctx)
{
    if (ctx != NULL) {
        lm_free(ctx);
        free(ctx);
    }
}

static void *roofline_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct lm *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_fill(roofline_options, args->node, l, err) != 0 ||
        lm_init(l, args, 0, err) != 0) {
        roofline_destroy(l);
        return NULL;
    }
    return l;
}

static const char *const *roofline_metric_names(void *ctx)
{
    return ((struct lm *)ctx)->output_names;
}

static int roofline_fit(void *ctx, const struct hn_history *h, const struct hn_params *params,
                        struct hn_error *err)
{
    return lm_fit(ctx, h, params, err);
}

static int roofline_evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                             struct hn_error *err)
{
    return lm_evaluate(ctx, req, out, err);
}

static const struct hn_oracle_ops roofline_ops = {
    .size = sizeof(struct hn_oracle_ops),
    .create = roofline_create,
    .destroy = roofline_destroy,
    .metrics = roofline_metric_names,
    .evaluate = roofline_evaluate,
    .fit = roofline_fit,
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_ORACLE),
    .name = "roofline",
    .summary = "Latency as a fitted linear model of FLOPs, bytes and layer counts (llm costs)",
    .options = roofline_options,
    .oracle = &roofline_ops,
};
