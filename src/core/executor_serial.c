/* hilnas: the built-in serial executor: runs each task inline, one at a time. */
#include "config.h"

#include <stdlib.h>

#include "core/registry.h"
#include "hilnas/executor.h"

struct serial {
    hn_execute_fn execute;
    void *runner;
    struct hn_task *queued; /* at most one: slots() is 1 */
};

static void *serial_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct serial *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    s->execute = args->execute;
    s->runner = args->runner;
    return s;
}

static void serial_destroy(void *ctx)
{
    free(ctx);
}

static size_t serial_slots(void *ctx)
{
    (void)ctx;
    return 1;
}

static int serial_submit(void *ctx, struct hn_task *task, struct hn_error *err)
{
    struct serial *s = ctx;
    if (s->queued != NULL) {
        return hn_error_set(err, NULL, "serial executor: a task is already queued");
    }
    s->queued = task;
    return 0;
}

static struct hn_task *serial_wait(void *ctx, struct hn_error *err)
{
    struct serial *s = ctx;
    struct hn_task *task = s->queued;
    if (task == NULL) {
        hn_error_set(err, NULL, "serial executor: wait() with no task submitted");
        return NULL;
    }
    s->queued = NULL;
    if (s->execute(s->runner, task, 0, err) != 0) {
        return NULL;
    }
    return task;
}

static const struct hn_executor_ops serial_ops = {
    .size = sizeof(struct hn_executor_ops),
    .create = serial_create,
    .destroy = serial_destroy,
    .slots = serial_slots,
    .submit = serial_submit,
    .wait = serial_wait,
};

static const struct hn_option serial_options[] = {{.name = NULL}};

const struct hn_plugin hn_builtin_executor_serial = {
    HN_PLUGIN_HEAD(HN_KIND_EXECUTOR),
    .name = "serial",
    .summary = "Run trials one at a time in this process (built in)",
    .options = serial_options,
    .executor = &serial_ops,
};
