/*
 * Test-only broken plugins, one per module, selected by -DHN_BAD_<CASE>: the registry must
 * refuse each with a clear message and never crash.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>

#include "hilnas/evaluator.h"
#include "hilnas/executor.h"
#include "hilnas/optimizer.h"

static const char *const no_metrics[] = {"value", NULL};

static void *fail_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    (void)args;
    hn_error_config(err, NULL,
                    "cannot open device '/dev/hilnas-missing': no such device; "
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

/* An optimizer table as a newer hilnas might define it: members past the core's end. */
struct newer_optimizer_ops {
    struct hn_optimizer_ops base;
    void (*future_member[4])(void);
};

static void *plain_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    (void)args;
    void *ctx = calloc(1, 1);
    if (ctx == NULL) {
        hn_error_set(err, NULL, "out of memory");
    }
    return ctx;
}

static const struct newer_optimizer_ops newer_ops __attribute__((unused)) = {
    .base =
        {
            .size = sizeof(struct newer_optimizer_ops),
            .create = plain_create,
            .destroy = noop_destroy,
            .ask = ask,
        },
};

/* An executor built before workers() and serve() existed: its table ends at wait. The members
 * past its size hold traps, standing for whatever bytes follow an old plugin's table: the core
 * must never call them. */
struct old_executor {
    hn_execute_fn execute;
    void *runner;
    struct hn_task *queued;
};

static void *old_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct old_executor *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    e->execute = args->execute;
    e->runner = args->runner;
    return e;
}

static size_t old_slots(void *ctx)
{
    (void)ctx;
    return 1;
}

static int old_submit(void *ctx, struct hn_task *task, struct hn_error *err)
{
    (void)err;
    ((struct old_executor *)ctx)->queued = task;
    return 0;
}

static struct hn_task *old_wait(void *ctx, struct hn_error *err)
{
    struct old_executor *e = ctx;
    struct hn_task *task = e->queued;
    e->queued = NULL;
    return e->execute(e->runner, task, 0, err) == 0 ? task : NULL;
}

static size_t trap_workers(void *ctx)
{
    (void)ctx;
    abort();
}

static int trap_serve(void *ctx, struct hn_error *err)
{
    (void)ctx;
    (void)err;
    abort();
}

static const struct hn_executor_ops old_executor_ops __attribute__((unused)) = {
    .size = offsetof(struct hn_executor_ops, workers),
    .create = old_create,
    .destroy = noop_destroy,
    .slots = old_slots,
    .submit = old_submit,
    .wait = old_wait,
    .workers = trap_workers,
    .serve = trap_serve,
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
#elif defined(HN_BAD_WRONGSIG)
const struct hn_plugin hn_plugin_descriptor = {
    .abi = HN_PLUGIN_ABI,
    .signature = HN_PLUGIN_SIGNATURE ^ 1u,
    .size = sizeof(struct hn_plugin),
    .kind = HN_KIND_OPTIMIZER,
    .name = "wrongsig",
    .summary = "test: built for another data model",
    .optimizer = &opt_ops,
};
#elif defined(HN_BAD_SMALLDESC)
const struct hn_plugin hn_plugin_descriptor = {
    .abi = HN_PLUGIN_ABI,
    .signature = HN_PLUGIN_SIGNATURE,
    .size = offsetof(struct hn_plugin, options),
    .kind = HN_KIND_OPTIMIZER,
    .name = "smalldesc",
    .summary = "test: descriptor from before its last required member",
    .optimizer = &opt_ops,
};
#elif defined(HN_BAD_NEWER)
/* newer descriptor and table than this core: accepted, the extra members ignored */
struct newer_descriptor {
    struct hn_plugin base;
    const void *future_member[4];
};
const struct newer_descriptor hn_plugin_descriptor = {
    .base =
        {
            .abi = HN_PLUGIN_ABI,
            .signature = HN_PLUGIN_SIGNATURE,
            .size = sizeof(struct newer_descriptor),
            .kind = HN_KIND_OPTIMIZER,
            .name = "newer",
            .summary = "test: descriptor and table newer than the core",
            .optimizer = &newer_ops.base,
        },
};
#elif defined(HN_BAD_OLDTABLE)
const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_EXECUTOR),
    .name = "oldtable",
    .summary = "test: executor table from before workers() and serve()",
    .executor = &old_executor_ops,
};
#elif defined(HN_BAD_NOSYMBOL)
/* exports no descriptor at all */
const int hn_plugin_something_else = 1;
#endif
