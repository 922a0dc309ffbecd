/*
 * Test-only evaluator "sleepy": value = sum of the parameters, after sleeping delay_ms; fails
 * every fail_every-th trial (by id) when set. Used to kill a study mid-run in the tests.
 * Metric "instance" numbers the instance that measured (1, 2, ... in creation order); a trial
 * fails if its instance is already busy with another thread, which the executor contract
 * forbids (one instance per worker). With progress_steps, the delay is cut into that many
 * steps, each reported to the status line ("sleeping", "step", i, n). With gate (a FIFO), the
 * first evaluation of each instance opens it for reading before anything else and waits for
 * the writer to close it: a test holds the study there, inside a trial, as long as it wants.
 */
#include "config.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "hilnas/evaluator.h"

struct sleepy {
    int64_t delay_ms;
    int64_t fail_every;
    int64_t progress_steps;
    const char *gate;
    int gated;
    int number;
    int busy;
};

static int instances;

static const struct hn_option sleepy_options[] = {
    {.name = "delay_ms",
     .type = HN_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 60000,
     .bounded = 1,
     .offset = offsetof(struct sleepy, delay_ms),
     .help = "Milliseconds to sleep per trial."},
    {.name = "fail_every",
     .type = HN_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 1000000,
     .bounded = 1,
     .offset = offsetof(struct sleepy, fail_every),
     .help = "Fail trials whose id+1 is a multiple."},
    {.name = "progress_steps",
     .type = HN_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 1000,
     .bounded = 1,
     .offset = offsetof(struct sleepy, progress_steps),
     .help = "Report the delay as this many steps to the status line."},
    {.name = "gate",
     .type = HN_OPT_STRING,
     .def = "",
     .offset = offsetof(struct sleepy, gate),
     .help = "A FIFO the first evaluation reads until its writer closes it."},
    {.name = NULL},
};

static const char *const sleepy_metrics[] = {"value", "instance", NULL};

static void *sleepy_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct sleepy *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_fill(sleepy_options, args->node, s, err) != 0) {
        free(s);
        return NULL;
    }
    s->number = __atomic_add_fetch(&instances, 1, __ATOMIC_SEQ_CST);
    return s;
}

static void sleepy_destroy(void *ctx)
{
    free(ctx);
}

static const char *const *sleepy_metric_names(void *ctx)
{
    (void)ctx;
    return sleepy_metrics;
}

static int sleepy_evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                           struct hn_error *err)
{
    struct sleepy *s = ctx;
    if (__atomic_exchange_n(&s->busy, 1, __ATOMIC_SEQ_CST) != 0) {
        return hn_error_set(err, NULL, "instance %d entered by two threads at once", s->number);
    }
    if (s->gate[0] != '\0' && !s->gated) {
        s->gated = 1;
        int fd = open(s->gate, O_RDONLY | O_CLOEXEC); /* blocks until the test opens it */
        char c;
        while (fd >= 0 && read(fd, &c, 1) > 0) {
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    int64_t steps = s->progress_steps > 0 ? s->progress_steps : 1;
    for (int64_t i = 0; i < steps; i++) {
        if (s->progress_steps > 0) {
            hn_progress_update(req->progress, "sleeping", "step", (long)i + 1, (long)steps);
        }
        int64_t ms = s->delay_ms / steps;
        if (ms > 0) {
            struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    __atomic_store_n(&s->busy, 0, __ATOMIC_SEQ_CST);
    if (s->fail_every > 0 && (req->trial->id + 1) % s->fail_every == 0) {
        return hn_error_set(err, NULL, "planned failure of trial %ld", req->trial->id);
    }
    double sum = 0;
    for (size_t i = 0; i < req->trial->n_params; i++) {
        sum += req->trial->x[i];
    }
    if (hn_metrics_put(out, "value", sum, 0.0 / 0.0, err) != 0) {
        return -1;
    }
    return hn_metrics_put(out, "instance", s->number, 0.0 / 0.0, err);
}

static const struct hn_evaluator_ops sleepy_ops = {
    .size = sizeof(struct hn_evaluator_ops),
    .create = sleepy_create,
    .destroy = sleepy_destroy,
    .metrics = sleepy_metric_names,
    .evaluate = sleepy_evaluate,
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_EVALUATOR),
    .name = "sleepy",
    .summary = "test: sum of parameters after a delay",
    .options = sleepy_options,
    .evaluator = &sleepy_ops,
};
