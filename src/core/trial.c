/* hilnas: trials and metrics (see include/hilnas/trial.h). */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/trial.h"

int hn_metric_value_ok(double value, char *why, size_t size)
{
    if (isnan(value) || isinf(value)) {
        snprintf(why, size, "value is %s", isnan(value) ? "NaN" : "infinite");
        return 0;
    }
    if (fabs(value) > HN_METRIC_MAX_ABS) {
        snprintf(why, size, "value %g is absurd (|value| > %g)", value, HN_METRIC_MAX_ABS);
        return 0;
    }
    return 1;
}

int hn_metric_sem_ok(double value, double sem, char *why, size_t size)
{
    if (isnan(sem)) {
        return 1; /* unknown */
    }
    if (isinf(sem)) {
        snprintf(why, size, "standard error is infinite");
        return 0;
    }
    if (sem < 0) {
        snprintf(why, size, "standard error %g is negative", sem);
        return 0;
    }
    if (sem > HN_METRIC_MAX_SEM_RATIO * (fabs(value) + 1)) {
        snprintf(why, size,
                 "standard error %g is absurd for the value %g (more than %g times |value| + 1)",
                 sem, value, HN_METRIC_MAX_SEM_RATIO);
        return 0;
    }
    return 1;
}

/*
 * Metrics by name in O(1): the allocation behind metrics->m holds `cap` metrics followed by an
 * open-addressing table of 2 * cap slots (cap is a power of two), each 0 (empty) or the index
 * of a metric plus one. Only hn_metrics_put allocates or grows it, so the public struct keeps
 * its layout (plugins read m[0..n) as before) and a journal with very many metrics per trial
 * costs linear time, not quadratic (docs/reliability.md).
 */
static uint32_t *metric_slots(const struct hn_metrics *metrics)
{
    return (uint32_t *)(void *)(metrics->m + metrics->cap);
}

static uint64_t metric_hash(const char *name)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h = (h ^ *p) * 1099511628211ULL;
    }
    return h;
}

/* Slot of `name`: the one holding it, or the empty one where it would go. */
static size_t metric_slot(const struct hn_metrics *metrics, const char *name)
{
    const uint32_t *slots = metric_slots(metrics);
    size_t mask = 2 * metrics->cap - 1;
    size_t i = (size_t)metric_hash(name) & mask;
    while (slots[i] != 0 && strcmp(metrics->m[slots[i] - 1].name, name) != 0) {
        i = (i + 1) & mask;
    }
    return i;
}

static int metrics_grow(struct hn_metrics *metrics)
{
    size_t cap = metrics->cap ? 2 * metrics->cap : 4;
    if (cap > UINT32_MAX / 2 ||
        cap > SIZE_MAX / (sizeof(struct hn_metric) + 2 * sizeof(uint32_t))) {
        return -1;
    }
    struct hn_metric *g = realloc(metrics->m, cap * sizeof(*g) + 2 * cap * sizeof(uint32_t));
    if (g == NULL) {
        return -1;
    }
    metrics->m = g;
    metrics->cap = cap;
    memset(metric_slots(metrics), 0, 2 * cap * sizeof(uint32_t));
    for (size_t k = 0; k < metrics->n; k++) {
        metric_slots(metrics)[metric_slot(metrics, g[k].name)] = (uint32_t)(k + 1);
    }
    return 0;
}

int hn_metrics_put(struct hn_metrics *metrics, const char *name, double value, double sem,
                   struct hn_error *err)
{
    if (name == NULL || name[0] == '\0') {
        return hn_error_set(err, NULL, "a metric needs a non-empty name");
    }
    if (metrics->cap > 0) {
        uint32_t at = metric_slots(metrics)[metric_slot(metrics, name)];
        if (at != 0) {
            metrics->m[at - 1].value = value;
            metrics->m[at - 1].sem = sem;
            return 0;
        }
    }
    if (metrics->n == metrics->cap && metrics_grow(metrics) < 0) {
        return hn_error_set(err, NULL, "out of memory storing metric '%s'", name);
    }
    char *copy = strdup(name);
    if (copy == NULL) {
        return hn_error_set(err, NULL, "out of memory storing metric '%s'", name);
    }
    metrics->m[metrics->n].name = copy;
    metrics->m[metrics->n].value = value;
    metrics->m[metrics->n].sem = sem;
    metrics->n++;
    metric_slots(metrics)[metric_slot(metrics, copy)] = (uint32_t)metrics->n;
    return 0;
}

const struct hn_metric *hn_metrics_get(const struct hn_metrics *metrics, const char *name)
{
    if (metrics->cap == 0 || name == NULL) {
        return NULL;
    }
    uint32_t at = metric_slots(metrics)[metric_slot(metrics, name)];
    return at ? &metrics->m[at - 1] : NULL;
}

void hn_metrics_clear(struct hn_metrics *metrics)
{
    for (size_t i = 0; i < metrics->n; i++) {
        free(metrics->m[i].name);
    }
    free(metrics->m);
    memset(metrics, 0, sizeof(*metrics));
}

struct hn_trial *hn_trial_new(long id, const char *stage, const double *x, size_t n_params)
{
    struct hn_trial *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->id = id;
    t->stage = strdup(stage ? stage : "");
    t->x = calloc(n_params ? n_params : 1, sizeof(double));
    if (t->stage == NULL || t->x == NULL) {
        hn_trial_free(t);
        return NULL;
    }
    if (x != NULL && n_params > 0) {
        memcpy(t->x, x, n_params * sizeof(double));
    }
    t->n_params = n_params;
    t->status = HN_TRIAL_RUNNING;
    return t;
}

void hn_trial_free(struct hn_trial *trial)
{
    if (trial == NULL) {
        return;
    }
    free(trial->stage);
    free(trial->x);
    json_decref(trial->arch);
    hn_metrics_clear(&trial->metrics);
    free(trial->reason);
    free(trial);
}

double hn_trial_value(const struct hn_trial *trial, const char *metric)
{
    if (trial->status != HN_TRIAL_COMPLETE) {
        return NAN;
    }
    const struct hn_metric *m = hn_metrics_get(&trial->metrics, metric);
    return m ? m->value : NAN;
}

const char *hn_trial_status_name(enum hn_trial_status status)
{
    switch (status) {
    case HN_TRIAL_RUNNING:
        return "running";
    case HN_TRIAL_COMPLETE:
        return "complete";
    case HN_TRIAL_FAILED:
        return "failed";
    }
    return "unknown";
}
