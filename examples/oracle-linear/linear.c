/*
 * examples/oracle-linear: an out-of-tree oracle plugin for hilnas (docs/plugins.md).
 *
 * A latency oracle whose "measurement" is a linear model of the trial's parameters:
 *
 *     latency_ms = base_ms + sum over weights of weight[name] * x[name]
 *
 * where x[name] is the trial's value of parameter `name` (native units; a bool counts 0/1, a
 * choice its value, a categorical its index). It stands in for a device you would time: the
 * life cycle, the options, the errors and the metrics are those of a real oracle. Study file:
 *
 *     oracles:
 *       lat: {plugin: linear, base_ms: 2, weights: {x0: 0.5, x1: 1.5}}
 *
 * gives the metric `lat.latency_ms`. Build with the Makefile next to this file (only
 * `pkg-config --cflags --libs hilnas-plugin`), then point HILNAS_PLUGIN_PATH at the directory
 * holding oracle-linear.so, or `make install` it into hilnas's plugin directory.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <hilnas/evaluator.h>

struct linear {
    double base_ms;
    const struct hn_config_node *weights; /* mapping: parameter name -> number */
    size_t n;
    char **names;    /* n parameter names */
    double *w;       /* n weights */
    long *index;     /* n indices into the trial's parameters; -1 until resolved */
    char where[256]; /* file:line:col of `weights`, for messages */
};

static const char *const linear_metrics[] = {"latency_ms", NULL};

static const struct hn_option linear_options[] = {
    {.name = "base_ms",
     .type = HN_OPT_DOUBLE,
     .def = "0",
     .min = 0,
     .max = 1e12,
     .bounded = 1,
     .offset = offsetof(struct linear, base_ms),
     .help = "Latency of the empty model, in milliseconds."},
    {.name = "weights",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct linear, weights),
     .help = "Mapping of parameter name to milliseconds per unit of that parameter."},
    {.name = NULL},
};

static void linear_destroy(void *ctx)
{
    struct linear *l = ctx;
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < l->n; i++) {
        free(l->names[i]);
    }
    free(l->names);
    free(l->w);
    free(l->index);
    free(l);
}

/* Find every weighted parameter among params; a name the space does not declare is the user's
 * mistake (a configuration error pointing at `weights`). */
static int resolve(struct linear *l, const struct hn_params *params, struct hn_error *err)
{
    for (size_t i = 0; i < l->n; i++) {
        l->index[i] = hn_params_find(params, l->names[i]);
        if (l->index[i] < 0) {
            return hn_error_config(err, l->where,
                                   "weights names '%s', which is not a parameter of the space",
                                   l->names[i]);
        }
    }
    return 0;
}

static void *linear_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct linear *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_fill(linear_options, args->node, l, err) != 0) {
        goto fail;
    }
    if (l->weights == NULL) {
        hn_error_config(err, hn_config_where(args->node, l->where, sizeof(l->where)),
                        "'weights' is required (a mapping of parameter name to ms per unit)");
        goto fail;
    }
    hn_config_where(l->weights, l->where, sizeof(l->where));
    if (hn_config_expect(l->weights, HN_NODE_MAPPING, err) != 0) {
        goto fail;
    }
    l->n = l->weights->n;
    l->names = calloc(l->n + 1, sizeof(*l->names));
    l->w = calloc(l->n + 1, sizeof(*l->w));
    l->index = calloc(l->n + 1, sizeof(*l->index));
    if (l->names == NULL || l->w == NULL || l->index == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < l->n; i++) {
        l->index[i] = -1;
        if (hn_config_to_double(l->weights->items[i], &l->w[i], err) != 0) {
            goto fail;
        }
        l->names[i] = strdup(l->weights->keys[i]);
        if (l->names[i] == NULL) {
            hn_error_set(err, NULL, "out of memory");
            goto fail;
        }
    }
    /* the space is known when the study creates its oracles: check the names at once */
    if (args->space != NULL && resolve(l, hn_space_params(args->space), err) != 0) {
        goto fail;
    }
    return l;
fail:
    linear_destroy(l);
    return NULL;
}

static const char *const *linear_list_metrics(void *ctx)
{
    (void)ctx;
    return linear_metrics;
}

static int linear_evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                           struct hn_error *err)
{
    struct linear *l = ctx;
    if (l->n > 0 && l->index[0] < 0 && resolve(l, req->params, err) != 0) {
        return -1;
    }
    double ms = l->base_ms;
    for (size_t i = 0; i < l->n; i++) {
        ms += l->w[i] * req->trial->x[l->index[i]];
    }
    if (!isfinite(ms)) {
        return hn_error_set(err, NULL, "trial %ld: the linear latency is not finite",
                            req->trial->id);
    }
    /* a model, not a measurement: no standard error (NAN = unknown) */
    return hn_metrics_put(out, "latency_ms", ms, NAN, err);
}

static const struct hn_oracle_ops linear_ops = {
    .size = sizeof(struct hn_oracle_ops),
    .create = linear_create,
    .destroy = linear_destroy,
    .metrics = linear_list_metrics,
    .evaluate = linear_evaluate,
    .fit = NULL, /* a measuring oracle: nothing to fit */
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_ORACLE),
    .name = "linear",
    .summary = "Example oracle: latency as base_ms + a weighted sum of the parameters",
    .options = linear_options,
    .oracle = &linear_ops,
};
