/*
 * Test-only evaluator "faulty": value = sum of the parameters with a standard error of 0.01,
 * except that every bad_every-th trial (by id + 1) returns the reply named by `bad`:
 *   nan, inf, huge           a value that is NaN, infinite, or 1e300;
 *   negative_sem, inf_sem,   a standard error that is negative, infinite, or a million times
 *   absurd_sem               the value;
 *   env                      a failure of the environment (hn_error_env);
 *   fail                     an ordinary failure of the candidate.
 * While the file named by env_while exists, every trial fails with hn_error_env (the tests
 * remove it and resume). For the core's identity tests: create() writes the file
 * create_marker (so a test sees whether it ran), refuses with the position of `refuse: true`,
 * and evaluate() logs a warning per trial when chatty. The plugin never names itself: the
 * core does. Used by the core's reliability and instance tests.
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "hilnas/evaluator.h"
#include "hilnas/log.h"

enum { BAD_NAN, BAD_INF, BAD_HUGE, BAD_NEG_SEM, BAD_INF_SEM, BAD_ABSURD_SEM, BAD_ENV, BAD_FAIL };
static const char *const bad_kinds[] = {
    "nan", "inf", "huge", "negative_sem", "inf_sem", "absurd_sem", "env", "fail", NULL};

struct faulty {
    int64_t bad_every;
    int bad;
    const char *env_while;
    const char *create_marker;
    int refuse;
    int chatty;
};

static const struct hn_option faulty_options[] = {
    {.name = "bad_every",
     .type = HN_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 1000000,
     .bounded = 1,
     .offset = offsetof(struct faulty, bad_every),
     .help = "Trials whose id+1 is a multiple get the bad reply (0: none)."},
    {.name = "bad",
     .type = HN_OPT_ENUM,
     .def = "nan",
     .choices = bad_kinds,
     .offset = offsetof(struct faulty, bad),
     .help = "Which bad reply."},
    {.name = "env_while",
     .type = HN_OPT_STRING,
     .def = "",
     .offset = offsetof(struct faulty, env_while),
     .help = "While this file exists, every trial fails with an environment error."},
    {.name = "create_marker",
     .type = HN_OPT_STRING,
     .def = "",
     .offset = offsetof(struct faulty, create_marker),
     .help = "create() writes this file (empty: none)."},
    {.name = "refuse",
     .type = HN_OPT_BOOL,
     .def = "false",
     .offset = offsetof(struct faulty, refuse),
     .help = "create() fails, pointing at this option."},
    {.name = "chatty",
     .type = HN_OPT_BOOL,
     .def = "false",
     .offset = offsetof(struct faulty, chatty),
     .help = "Log a warning for every trial evaluated."},
    {.name = NULL},
};

static const char *const faulty_metrics[] = {"value", NULL};

static void *faulty_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct faulty *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_fill(faulty_options, args->node, f, err) != 0) {
        free(f);
        return NULL;
    }
    if (f->create_marker[0] != '\0') {
        FILE *m = fopen(f->create_marker, "w");
        if (m != NULL) {
            fclose(m);
        }
    }
    if (f->refuse) {
        char where[512];
        hn_config_where(hn_config_get(args->node, "refuse"), where, sizeof(where));
        hn_error_config(err, where, "refused on purpose (remove 'refuse: true')");
        free(f);
        return NULL;
    }
    return f;
}

static void faulty_destroy(void *ctx)
{
    free(ctx);
}

static const char *const *faulty_metric_names(void *ctx)
{
    (void)ctx;
    return faulty_metrics;
}

static int faulty_evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                           struct hn_error *err)
{
    struct faulty *f = ctx;
    if (f->env_while[0] != '\0' && access(f->env_while, F_OK) == 0) {
        return hn_error_env(err, NULL, "the data is unreachable (%s exists)", f->env_while);
    }
    if (f->chatty) {
        hn_log(HN_LOG_WARNING, "measuring trial %ld", req->trial->id);
    }
    double sum = 0, sem = 0.01;
    for (size_t i = 0; i < req->trial->n_params; i++) {
        sum += req->trial->x[i];
    }
    if (f->bad_every > 0 && (req->trial->id + 1) % f->bad_every == 0) {
        switch (f->bad) {
        case BAD_NAN:
            sum = NAN;
            break;
        case BAD_INF:
            sum = INFINITY;
            break;
        case BAD_HUGE:
            sum = 1e300;
            break;
        case BAD_NEG_SEM:
            sem = -0.5;
            break;
        case BAD_INF_SEM:
            sem = INFINITY;
            break;
        case BAD_ABSURD_SEM:
            sem = 1e6 * (fabs(sum) + 1);
            break;
        case BAD_ENV:
            return hn_error_env(err, NULL, "the device went away (planned, trial %ld)",
                                req->trial->id);
        default:
            return hn_error_set(err, NULL, "planned failure of trial %ld", req->trial->id);
        }
    }
    return hn_metrics_put(out, "value", sum, sem, err);
}

static const struct hn_evaluator_ops faulty_ops = {
    .size = sizeof(struct hn_evaluator_ops),
    .create = faulty_create,
    .destroy = faulty_destroy,
    .metrics = faulty_metric_names,
    .evaluate = faulty_evaluate,
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_EVALUATOR),
    .name = "faulty",
    .summary = "test: sum of parameters, with planned bad replies",
    .options = faulty_options,
    .evaluator = &faulty_ops,
};
