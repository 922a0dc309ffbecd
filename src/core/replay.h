/*
 * hilnas core internals: replaying a study's journal (core/journal.h) into its trials, for
 * the runner (resume) and for readers (`hilnas show`, reports, benchmarks). Not installed.
 * Depends on include/hilnas only.
 */
#ifndef HILNAS_CORE_REPLAY_H
#define HILNAS_CORE_REPLAY_H

#include <jansson.h>
#include <stddef.h>

#include "hilnas/error.h"
#include "hilnas/space.h"
#include "hilnas/trial.h"

/* The trials of a journal, in id order, as its events are applied one by one. */
struct hn_replay {
    const struct hn_params *params; /* NULL: keep parameters only as JSON */
    size_t n, cap;
    struct hn_trial **trials;
    json_t **params_json;
    long *of;            /* verify trials: the trial re-measured, else -1 */
    json_t *study_event; /* last "study" event */
    long next_id;
    int lenient; /* skip (and warn about) events that contradict the journal (show, repair) */
};

/* Apply one journal event (an hn_journal_read callback; data is the struct hn_replay). */
int hn_replay_event(json_t *event, long line, void *data, struct hn_error *err);

/* Append trial t (owned from now on) with its parameters as JSON (a reference is taken) and
 * the trial it re-measures (or -1). 0, or -1 with err (t stays the caller's). */
int hn_replay_add(struct hn_replay *replay, struct hn_trial *t, json_t *params, long of,
                  struct hn_error *err);

/* Index of trial id in replay->trials, or -1. */
long hn_replay_find(const struct hn_replay *replay, long id);

void hn_replay_free(struct hn_replay *replay);

/*
 * Parse {"name": number | {"value": v, "sem": s}, ...} (a journal's or a task result's
 * metrics) into out, checking every value and standard error at this boundary
 * (hn_metric_value_ok, hn_metric_sem_ok): nothing unchecked reaches an optimizer. Returns 0;
 * -1 with err when the shape is wrong or a value or sem is unacceptable. With drop_bad_sem
 * (replay of journals written before the check), a bad sem is dropped (unknown) instead and
 * described in dropped (the caller warns; may stay "").
 */
int hn_metrics_from_json(struct hn_metrics *out, const json_t *obj, int drop_bad_sem, char *dropped,
                         size_t dropped_size, struct hn_error *err);

#endif
