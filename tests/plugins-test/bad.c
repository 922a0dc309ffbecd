/*
 * Test-only broken plugins, one per module, selected by -DHN_BAD_<CASE>: the registry must
 * refuse each with a clear message and never crash.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>

#include "hilnas/evaluator.h"
#include "hilnas/optimizer.h"

static const char *const no_metrics[] = {"value", NULL};

static void *fail_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    (void)args;
    hn_error_config(err, NULL, "cannot open device '/dev/hilnas-missing': no such device; "
                               "check the option 'device'");
    return NULL;
}

static void noop_destroy(void *ctx)
{
    free(ctx);
}

static const char *const *metrics(void *ctx)
{
    (void)ctx;
    return no_metrics;
}

static int evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                    struct hn_error *err)
{
    (void)ctx;
    (void)req;
    return hn_metrics_put(out, "value", 0.0, 0.0, err);
}

static int ask(void *ctx, const struct hn_history *h, size_t n, double *x, struct hn_error *err)
{
    (void)ctx;
    (void)h;
    (void)n;
    (void)x;
    (void)err;
    return 0;
}

static const struct hn_evaluator_ops failing_ops __attribute__((unused)) = {
    .size = sizeof(struct hn_evaluator_ops),
    .create = fail_create,
    .destroy = noop_destroy,
    .metrics = metrics,
    .evaluate = evaluate,
};

static const struct hn_optimizer_ops opt_ops __attribute__((unused)) = {
    .size = sizeof(struct hn_optimizer_ops),
    .create = fail_create,
    .destroy = noop_destroy,
    .ask = ask,
};

static const struct hn_optimizer_ops small_ops __attribute__((unused)) = {
    .size = 2 * sizeof(void *),
    .create = fail_create,
    .destroy = noop_destroy,
    .ask = ask,
};

#if defined(HN_BAD_FAILCTOR)
const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_EVALUATOR),
    .name = "failctor",
    .summary = "test: constructor always fails",
    .evaluator = &failing_ops,
};
#elif defined(HN_BAD_WRONGABI)
const struct hn_plugin hn_plugin_descriptor = {
    .abi = HN_PLUGIN_ABI + 998,
    .signature = HN_PLUGIN_SIGNATURE,
    .kind = HN_KIND_OPTIMIZER,
    .name = "wrongabi",
    .summary = "test: built for another ABI",
    .optimizer = &opt_ops,
};
#elif defined(HN_BAD_WRONGKIND)
/* installed as space-wrongkind but declares an optimizer */
const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_OPTIMIZER),
    .name = "wrongkind",
    .summary = "test: declares the wrong kind",
    .optimizer = &opt_ops,
};
#elif defined(HN_BAD_SMALLTABLE)
const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_OPTIMIZER),
    .name = "smalltable",
    .summary = "test: function table too small",
    .optimizer = &small_ops,
};
#elif defined(HN_BAD_NOSYMBOL)
/* exports no descriptor at all */
const int hn_plugin_something_else = 1;
#endif
