/* hilnas: replaying a study's journal into its list of trials (see core/replay.h). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/journal.h"
#include "core/replay.h"
#include "core/util.h"
#include "hilnas/log.h"

long hn_replay_find(const struct hn_replay *r, long id)
{
    struct hn_trial *const *trials = r->trials;
    size_t n = r->n;
    /* ids are dense and increasing: try the direct slot first */
    if (id >= 0 && (size_t)id < n && trials[id]->id == id) {
        return id;
    }
    for (size_t i = 0; i < n; i++) {
        if (trials[i]->id == id) {
            return (long)i;
        }
    }
    return -1;
}

/* see core/replay.h */
int hn_metrics_from_json(struct hn_metrics *out, const json_t *obj, int drop_bad_sem, char *dropped,
                         size_t dropped_size, struct hn_error *err)
{
    const char *name;
    json_t *v;
    char why[256];
    if (!json_is_object(obj)) {
        return hn_error_set(err, NULL, "the metrics are not a JSON object");
    }
    json_object_foreach((json_t *)obj, name, v)
    {
        double value = NAN, sem = NAN;
        if (json_is_number(v)) {
            value = json_number_value(v);
        } else if (json_is_object(v)) {
            json_t *jv = json_object_get(v, "value"), *js = json_object_get(v, "sem");
            if (!json_is_number(jv)) {
                return hn_error_set(err, NULL, "metric '%s' has no numeric value", name);
            }
            if (js != NULL && !json_is_number(js) && !json_is_null(js)) {
                return hn_error_set(err, NULL, "metric '%s': its sem is not a number", name);
            }
            value = json_number_value(jv);
            sem = json_is_number(js) ? json_number_value(js) : NAN;
        } else {
            return hn_error_set(err, NULL, "metric '%s' is neither a number nor an object", name);
        }
        if (!hn_metric_value_ok(value, why, sizeof(why))) {
            return hn_error_set(err, NULL, "metric '%s': %s", name, why);
        }
        if (!hn_metric_sem_ok(value, sem, why, sizeof(why))) {
            if (!drop_bad_sem) {
                return hn_error_set(err, NULL, "metric '%s': %s", name, why);
            }
            if (dropped != NULL) {
                size_t off = strlen(dropped);
                snprintf(dropped + off, dropped_size - off, "%smetric '%s': %s", off ? "; " : "",
                         name, why);
            }
            sem = NAN;
        }
        if (hn_metrics_put(out, name, value, sem, err) != 0) {
            return -1;
        }
    }
    return 0;
}

int hn_replay_add(struct hn_replay *r, struct hn_trial *t, json_t *params, long of,
                  struct hn_error *err)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        struct hn_trial **tt = realloc(r->trials, cap * sizeof(*tt));
        if (tt) {
            r->trials = tt;
        }
        json_t **p = tt ? realloc(r->params_json, cap * sizeof(*p)) : NULL;
        if (p) {
            r->params_json = p;
        }
        long *o = p ? realloc(r->of, cap * sizeof(*o)) : NULL;
        if (o) {
            r->of = o;
        }
        if (tt == NULL || p == NULL || o == NULL) {
            return hn_error_set(err, NULL, "out of memory");
        }
        r->cap = cap;
    }
    r->trials[r->n] = t;
    r->params_json[r->n] = json_incref(params);
    r->of[r->n] = of;
    r->n++;
    return 0;
}

int hn_replay_event(json_t *ev, long line, void *data, struct hn_error *err)
{
    struct hn_replay *r = data;
    const char *type = json_string_value(json_object_get(ev, "event"));
    json_t *jid = json_object_get(ev, "trial");
    if (strcmp(type, "study") == 0) {
        const char *format = json_string_value(json_object_get(ev, "format"));
        json_int_t version = json_integer_value(json_object_get(ev, "version"));
        if (format == NULL || strcmp(format, HN_JOURNAL_FORMAT) != 0 ||
            version != HN_JOURNAL_VERSION) {
            return hn_error_set(err, NULL,
                                "journal format '%s' version %lld is not %s version %d; it was "
                                "written by another program or hilnas version: use a new output "
                                "directory (--output)",
                                format ? format : "?", (long long)version, HN_JOURNAL_FORMAT,
                                HN_JOURNAL_VERSION);
        }
        json_decref(r->study_event);
        r->study_event = json_incref(ev);
        return 0;
    }
    if (!json_is_integer(jid)) {
        return 0; /* informational event (fit, stage, ...) */
    }
    long id = (long)json_integer_value(jid);
    if (strcmp(type, "started") == 0) {
        if (hn_replay_find(r, id) >= 0) {
            if (r->lenient) {
                hn_log(HN_LOG_WARNING,
                       "journal line %ld: trial %ld is started twice; the "
                       "second start is ignored",
                       line, id);
                return 0;
            }
            return hn_error_set(err, NULL, "trial %ld is started twice", id);
        }
        const char *stage = json_string_value(json_object_get(ev, "stage"));
        json_t *params = json_object_get(ev, "params");
        size_t np = r->params ? r->params->n : 0;
        struct hn_trial *t = hn_trial_new(id, stage ? stage : "", NULL, np);
        if (t == NULL) {
            return hn_error_set(err, NULL, "out of memory");
        }
        if (r->params != NULL && hn_params_from_json(r->params, params, t->x, err) != 0) {
            hn_trial_free(t);
            hn_error_prefix(err,
                            "trial %ld: its parameters do not fit the study file's space (did "
                            "the space change? resume with the original file, or use a new "
                            "--output)",
                            id);
            return -1;
        }
        t->arch = json_incref(json_object_get(ev, "arch"));
        t->started = json_number_value(json_object_get(ev, "time"));
        json_t *of = json_object_get(ev, "of");
        if (hn_replay_add(r, t, params, json_is_integer(of) ? (long)json_integer_value(of) : -1,
                          err) != 0) {
            hn_trial_free(t);
            return -1;
        }
        if (id >= r->next_id) {
            r->next_id = id + 1;
        }
        return 0;
    }
    long k = hn_replay_find(r, id);
    if (k < 0) {
        if (r->lenient) {
            hn_log(HN_LOG_WARNING,
                   "journal line %ld: '%s' event for trial %ld, whose start (with its "
                   "parameters) is not in the journal; the event is ignored%s",
                   line, type, id,
                   strcmp(type, "completed") == 0 ? " and the trial's result is lost" : "");
            return 0;
        }
        return hn_error_set(err, NULL, "event '%s' for trial %ld, which never started", type, id);
    }
    struct hn_trial *t = r->trials[k];
    if (strcmp(type, "completed") == 0 || strcmp(type, "failed") == 0) {
        if (t->status != HN_TRIAL_RUNNING) {
            if (r->lenient) {
                hn_log(HN_LOG_WARNING,
                       "journal line %ld: trial %ld finishes twice; the "
                       "second '%s' event is ignored",
                       line, id, type);
                return 0;
            }
            return hn_error_set(err, NULL, "trial %ld finishes twice", id);
        }
        t->finished = json_number_value(json_object_get(ev, "time"));
        if (strcmp(type, "completed") == 0) {
            /* A journal written before values were checked may hold a bad sem (dropped: the
             * value is still a measurement) or a bad value (the trial counts as failed). Either
             * way the study stays resumable, and the user is told where. */
            char dropped[1024] = "";
            struct hn_error bad;
            hn_error_clear(&bad);
            t->status = HN_TRIAL_COMPLETE;
            if (hn_metrics_from_json(&t->metrics, json_object_get(ev, "metrics"), 1, dropped,
                                     sizeof(dropped), &bad) != 0) {
                hn_metrics_clear(&t->metrics);
                t->status = HN_TRIAL_FAILED;
                t->reason = hn_strdup_printf("replay: unusable metrics (%s)", bad.msg);
                if (t->reason == NULL) {
                    return hn_error_set(err, NULL, "out of memory");
                }
                hn_log(HN_LOG_WARNING,
                       "journal line %ld: trial %ld was recorded complete but %s; it is "
                       "counted as a failed trial and no optimizer sees its values",
                       line, id, bad.msg);
            } else if (dropped[0] != '\0') {
                hn_log(HN_LOG_WARNING,
                       "journal line %ld: trial %ld: %s; the standard error is dropped "
                       "(treated as unknown), the value is kept",
                       line, id, dropped);
            }
        } else {
            t->status = HN_TRIAL_FAILED;
            const char *reason = json_string_value(json_object_get(ev, "reason"));
            t->reason = strdup(reason ? reason : "unknown");
            t->abandoned = json_is_true(json_object_get(ev, "abandoned"));
        }
    }
    return 0;
}

void hn_replay_free(struct hn_replay *r)
{
    for (size_t i = 0; i < r->n; i++) {
        hn_trial_free(r->trials[i]);
        json_decref(r->params_json[i]);
    }
    free(r->trials);
    free(r->params_json);
    free(r->of);
    json_decref(r->study_event);
    memset(r, 0, sizeof(*r));
}
