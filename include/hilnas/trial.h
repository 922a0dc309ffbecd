/*
 * hilnas trials and metrics.
 *
 * A trial is one evaluated point: id (0, 1, 2, ... over the whole study), the stage that
 * suggested it, its parameters (native units, see space.h), the decoded architecture (JSON),
 * its metrics, status, timings and, for a failed trial, the reason.
 *
 * Metric names are "source.name": the oracle or evaluator instance name from the study file,
 * a dot, and the plugin's metric name (e.g. "quality.val_loss", "phone.prefill_ms"). A metric
 * may carry a standard error (sem); NAN means unknown (noise to be learned).
 *
 * Ownership: a trial owns all its members. Thread safety: none; a trial is touched by one
 * thread at a time.
 */
#ifndef HILNAS_TRIAL_H
#define HILNAS_TRIAL_H

#include <jansson.h>
#include <stddef.h>

#include "hilnas/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum hn_trial_status {
    HN_TRIAL_RUNNING,  /* started, not finished (pending) */
    HN_TRIAL_COMPLETE, /* finished with metrics */
    HN_TRIAL_FAILED,   /* finished without metrics; see reason */
};

struct hn_metric {
    char *name;
    double value;
    double sem; /* standard error, NAN if unknown */
};

/*
 * A growable list of metrics, used by trials and as the output of measurements. Start from all
 * zeros; add and find with hn_metrics_put/hn_metrics_get (constant time: the allocation behind
 * m also holds a name index), read m[0..n) directly if you like, never write or reallocate m.
 */
struct hn_metrics {
    size_t n, cap;
    struct hn_metric *m;
};

struct hn_trial {
    long id;
    char *stage;
    size_t n_params;
    double *x;    /* n_params values, native units */
    json_t *arch; /* decoded architecture (owned reference), may be NULL */
    struct hn_metrics metrics;
    enum hn_trial_status status;
    int abandoned;   /* failed because the process ended while it ran */
    double started;  /* unix time, seconds */
    double finished; /* unix time, seconds; 0 while running */
    char *reason;    /* failure reason, NULL otherwise */
};

/*
 * Limits of a measurement the core accepts (see docs/reliability.md). A value must be finite
 * and |value| <= HN_METRIC_MAX_ABS (larger magnitudes overflow the squares a surrogate model
 * takes). A standard error must be unknown (NAN) or finite, >= 0 and
 * <= HN_METRIC_MAX_SEM_RATIO * (|value| + 1): a standard error a thousand times the value's
 * magnitude (plus one, for values near zero) is no measurement but a broken reply.
 */
#define HN_METRIC_MAX_ABS 1e100
#define HN_METRIC_MAX_SEM_RATIO 1e3

/* 1 if value is an acceptable metric value (see above), else 0 with a short reason in why. */
int hn_metric_value_ok(double value, char *why, size_t size);
/* 1 if sem is an acceptable standard error for value (NAN = unknown is), else 0 and why. */
int hn_metric_sem_ok(double value, double sem, char *why, size_t size);

/* Set (or replace) metric name. Returns 0, or -1 with err (out of memory, bad name). */
int hn_metrics_put(struct hn_metrics *metrics, const char *name, double value, double sem,
                   struct hn_error *err);
/* Metric by name, or NULL. */
const struct hn_metric *hn_metrics_get(const struct hn_metrics *metrics, const char *name);
void hn_metrics_clear(struct hn_metrics *metrics);

/* New running trial with a copy of x. Returns NULL on out of memory. */
struct hn_trial *hn_trial_new(long id, const char *stage, const double *x, size_t n_params);
void hn_trial_free(struct hn_trial *trial);
/* Metric value of a complete trial by full name ("source.name"), or NAN if absent. */
double hn_trial_value(const struct hn_trial *trial, const char *metric);
const char *hn_trial_status_name(enum hn_trial_status status); /* "complete", ... */

#ifdef __cplusplus
}
#endif
#endif
