/* hilnas: running (or resuming) a study: journal replay, stages, trials (see core/study.h). */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "core/journal.h"
#include "core/registry.h"
#include "core/report.h"
#include "core/study.h"
#include "core/util.h"
#include "hilnas/evaluator.h"
#include "hilnas/executor.h"
#include "hilnas/log.h"
#include "hilnas/optimizer.h"
#include "hilnas/rng.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

int hn_study_interrupted(void)
{
    return interrupted != 0;
}

/* ---- replay (shared with `hilnas show`) ---- */

static long find_trial(struct hn_trial *const *trials, size_t n, long id)
{
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

static int metrics_from_json(struct hn_metrics *out, const json_t *obj, struct hn_error *err)
{
    const char *name;
    json_t *v;
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
            value = json_number_value(jv);
            sem = json_is_number(js) ? json_number_value(js) : NAN;
        } else {
            return hn_error_set(err, NULL, "metric '%s' is neither a number nor an object",
                                name);
        }
        if (hn_metrics_put(out, name, value, sem, err) != 0) {
            return -1;
        }
    }
    return 0;
}

int hn_replay_event(json_t *ev, long line, void *data, struct hn_error *err)
{
    struct hn_replay *r = data;
    const char *type = json_string_value(json_object_get(ev, "event"));
    json_t *jid = json_object_get(ev, "trial");
    (void)line;
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
        if (find_trial(r->trials, r->n, id) >= 0) {
            return hn_error_set(err, NULL, "trial %ld is started twice", id);
        }
        if (r->n == r->cap) {
            size_t cap = r->cap ? 2 * r->cap : 64;
            struct hn_trial **t = realloc(r->trials, cap * sizeof(*t));
            json_t **p = t ? realloc(r->params_json, cap * sizeof(*p)) : NULL;
            long *of = p ? realloc(r->of, cap * sizeof(*of)) : NULL;
            if (t) {
                r->trials = t;
            }
            if (p) {
                r->params_json = p;
            }
            if (of) {
                r->of = of;
            }
            if (t == NULL || p == NULL || of == NULL) {
                return hn_error_set(err, NULL, "out of memory");
            }
            r->cap = cap;
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
        r->of[r->n] = json_is_integer(of) ? (long)json_integer_value(of) : -1;
        r->params_json[r->n] = json_incref(params);
        r->trials[r->n++] = t;
        if (id >= r->next_id) {
            r->next_id = id + 1;
        }
        return 0;
    }
    long k = find_trial(r->trials, r->n, id);
    if (k < 0) {
        return hn_error_set(err, NULL, "event '%s' for trial %ld, which never started", type,
                            id);
    }
    struct hn_trial *t = r->trials[k];
    if (strcmp(type, "completed") == 0 || strcmp(type, "failed") == 0) {
        if (t->status != HN_TRIAL_RUNNING) {
            return hn_error_set(err, NULL, "trial %ld finishes twice", id);
        }
        t->finished = json_number_value(json_object_get(ev, "time"));
        if (strcmp(type, "completed") == 0) {
            t->status = HN_TRIAL_COMPLETE;
            if (metrics_from_json(&t->metrics, json_object_get(ev, "metrics"), err) != 0) {
                hn_error_prefix(err, "trial %ld", id);
                return -1;
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

/* ---- trials of a running study ---- */

static int append_event(struct hn_study *s, json_t *ev, int sync, struct hn_error *err)
{
    if (ev == NULL) {
        return hn_error_set(err, NULL, "out of memory building a journal event");
    }
    json_object_set_new(ev, "time", json_real(hn_now()));
    int rc = hn_journal_append(s->journal, ev, sync, err);
    json_decref(ev);
    return rc;
}

static struct hn_history history_of(const struct hn_study *s)
{
    struct hn_history h = {.n = s->r.n, .trials = s->r.trials};
    return h;
}

static void log_trial(const struct hn_study *s, const struct hn_trial *t)
{
    if (s->quiet) {
        return;
    }
    char line[1024];
    int off = snprintf(line, sizeof(line), "[%s] trial %ld %s", t->stage, t->id,
                       hn_trial_status_name(t->status));
    if (t->status == HN_TRIAL_COMPLETE) {
        for (size_t i = 0; i < t->metrics.n && off < (int)sizeof(line) - 64; i++) {
            off += snprintf(line + off, sizeof(line) - (size_t)off, "%s %s=%.6g",
                            i ? "," : ":", t->metrics.m[i].name, t->metrics.m[i].value);
        }
    } else if (t->reason != NULL) {
        off += snprintf(line + off, sizeof(line) - (size_t)off, ": %s", t->reason);
    }
    if (t->finished > 0 && off < (int)sizeof(line) - 32) {
        snprintf(line + off, sizeof(line) - (size_t)off, " (%.3f s)", t->finished - t->started);
    }
    hn_log(HN_LOG_INFO, "%s", line);
}

/* Tell an optimizer about one finished trial; errors prefixed with the optimizer. */
static int tell(const struct hn_plugin *opt, void *ctx, const struct hn_trial *t,
                struct hn_error *err)
{
    if (opt->optimizer->tell == NULL || t->status == HN_TRIAL_RUNNING) {
        return 0;
    }
    if (opt->optimizer->tell(ctx, t, err) != 0) {
        hn_error_prefix(err, "optimizer '%s' (tell, trial %ld)", opt->name, t->id);
        return -1;
    }
    return 0;
}

static int add_trial(struct hn_study *s, struct hn_trial *t, json_t *params, long of,
                     struct hn_error *err)
{
    struct hn_replay *r = &s->r;
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

/* Start a trial at x: journal it and hand it to the executor. */
/* of: the trial a verify trial re-measures, else -1; point: the index in the stage's
 * `points:` the trial measures, else -1 (journaled, so that reports mark the reference). */
static int start_trial(struct hn_study *s, const struct hn_stage *st, const double *x, long of,
                       long point, void *ex, struct hn_error *err)
{
    const struct hn_params *params = s->space.params;
    long id = s->r.next_id++;
    struct hn_trial *t = hn_trial_new(id, st->name, x, params->n);
    json_t *pj = hn_params_to_json(params, x);
    if (t == NULL || pj == NULL) {
        hn_trial_free(t);
        json_decref(pj);
        return hn_error_set(err, NULL, "out of memory");
    }
    t->arch = hn_space_decode(&s->space, x, err);
    if (t->arch == NULL) {
        hn_error_prefix(err, "trial %ld", id);
        hn_trial_free(t);
        json_decref(pj);
        return -1;
    }
    t->started = hn_now();
    json_t *run = json_array();
    for (size_t i = 0; i < st->n_run; i++) {
        json_array_append_new(run, json_string(s->sources[st->run[i]].name));
    }
    json_t *ev = json_pack("{s:s, s:I, s:s, s:O, s:O}", "event", "started", "trial",
                           (json_int_t)id, "stage", st->name, "params", pj, "arch", t->arch);
    if (of >= 0) {
        json_object_set_new(ev, "of", json_integer(of));
    }
    if (point >= 0) {
        json_object_set_new(ev, "point", json_integer(point));
    }
    if (add_trial(s, t, pj, of, err) != 0) {
        hn_trial_free(t);
        json_decref(pj);
        json_decref(run);
        json_decref(ev);
        return -1;
    }
    json_decref(pj);
    if (append_event(s, ev, 0, err) != 0) {
        json_decref(run);
        return -1;
    }
    struct hn_task *task = calloc(1, sizeof(*task));
    if (task == NULL) {
        json_decref(run);
        return hn_error_set(err, NULL, "out of memory");
    }
    task->trial_id = id;
    task->request =
        json_pack("{s:I, s:s, s:O, s:O, s:o, s:I}", "trial", (json_int_t)id, "stage", st->name,
                  "params", s->r.params_json[s->r.n - 1], "arch", t->arch, "run", run, "seed",
                  (json_int_t)(hn_rng_derive(s->seed, (uint64_t)id) >> 1));
    if (st->keep_model && task->request != NULL) {
        json_object_set_new(task->request, "keep_model", json_true());
    }
    if (s->executor->executor->submit(ex, task, err) != 0) {
        hn_error_prefix(err, "executor '%s' (trial %ld)", s->executor->name, id);
        json_decref(task->request);
        free(task);
        return -1;
    }
    return 0;
}

/* Record a finished task in its trial and the journal (fsync'ed before anyone is told). */
static int finish_task(struct hn_study *s, struct hn_task *task, struct hn_trial **out,
                       struct hn_error *err)
{
    long k = find_trial(s->r.trials, s->r.n, task->trial_id);
    int rc = -1;
    if (k < 0) {
        hn_error_set(err, NULL, "executor returned unknown trial %ld", task->trial_id);
        goto done;
    }
    struct hn_trial *t = s->r.trials[k];
    t->finished = hn_now();
    json_t *metrics = json_object_get(task->result, "metrics");
    const char *error = json_string_value(json_object_get(task->result, "error"));
    json_t *ev;
    if (json_is_object(metrics) && error == NULL) {
        t->status = HN_TRIAL_COMPLETE;
        if (metrics_from_json(&t->metrics, metrics, err) != 0) {
            goto done;
        }
        ev = json_pack("{s:s, s:I, s:O}", "event", "completed", "trial",
                       (json_int_t)t->id, "metrics", metrics);
    } else {
        t->status = HN_TRIAL_FAILED;
        t->reason = strdup(error ? error : "the executor returned no result");
        ev = json_pack("{s:s, s:I, s:s}", "event", "failed", "trial", (json_int_t)t->id,
                       "reason", t->reason);
    }
    json_t *worker = json_object_get(task->result, "worker");
    if (json_is_integer(worker)) {
        json_object_set(ev, "worker", worker); /* which thread or rank ran it */
    }
    if (append_event(s, ev, 1, err) != 0) {
        goto done;
    }
    log_trial(s, t);
    *out = t;
    rc = 0;
done:
    json_decref(task->request);
    json_decref(task->result);
    free(task);
    return rc;
}

static size_t stage_count(const struct hn_study *s, const char *stage, long *of_done, size_t n_of)
{
    size_t done = 0;
    for (size_t i = 0; i < s->r.n; i++) {
        const struct hn_trial *t = s->r.trials[i];
        if (strcmp(t->stage, stage) != 0 || t->status == HN_TRIAL_RUNNING || t->abandoned) {
            continue;
        }
        done++;
        if (of_done != NULL && s->r.of[i] >= 0 && (size_t)s->r.of[i] < n_of) {
            of_done[s->r.of[i]] = 1;
        }
    }
    return done;
}

static int wait_one(struct hn_study *s, void *ex, const struct hn_plugin *opt, void *opt_ctx,
                    struct hn_error *err)
{
    struct hn_task *task = s->executor->executor->wait(ex, err);
    if (task == NULL) {
        hn_error_prefix(err, "executor '%s'", s->executor->name);
        return -1;
    }
    struct hn_trial *t = NULL;
    if (finish_task(s, task, &t, err) != 0) {
        return -1;
    }
    return opt ? tell(opt, opt_ctx, t, err) : 0;
}

static int run_search(struct hn_study *s, const struct hn_stage *st, void *ex,
                      struct hn_error *err)
{
    const struct hn_params *params = s->space.params;
    struct hn_plugin_args args;
    int rc = -1;
    double *x = NULL;
    void *opt = hn_study_create_plugin(s, st->optimizer, st->optimizer_node, NULL, st->name,
                                       &args, err);
    if (opt == NULL) {
        hn_error_prefix(err, "stage '%s'", st->name);
        return -1;
    }
    for (size_t i = 0; i < s->r.n; i++) {
        if (tell(st->optimizer, opt, s->r.trials[i], err) != 0) {
            goto done;
        }
    }
    size_t slots = s->executor->executor->slots(ex);
    if (slots < 1) {
        slots = 1;
    }
    x = calloc(slots * params->n, sizeof(double));
    if (x == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    size_t done_count = stage_count(s, st->name, NULL, 0);
    size_t target = (size_t)st->trials, pending = 0, next_point = 0;
    int exhausted = 0;
    if (done_count >= target) {
        hn_log(HN_LOG_INFO, "[%s] already complete (%zu trials)", st->name, done_count);
    } else if (done_count > 0) {
        hn_log(HN_LOG_INFO, "[%s] resuming: %zu of %zu trials done", st->name, done_count,
               target);
    }
    for (;;) {
        size_t want = target > done_count + pending ? target - done_count - pending : 0;
        size_t free_slots = slots - pending;
        size_t n = want < free_slots ? want : free_slots;
        /* the stage's points first: each one not yet measured in this stage (abandoned
         * trials do not count, so a resumed stage measures it again) */
        while (n > 0 && !interrupted && next_point < st->n_points) {
            const double *xp = st->points + next_point * params->n;
            next_point++;
            int seen = 0;
            for (size_t i = 0; i < s->r.n && !seen; i++) {
                const struct hn_trial *t = s->r.trials[i];
                seen = strcmp(t->stage, st->name) == 0 && !t->abandoned &&
                       t->n_params == params->n && hn_params_same(params, t->x, xp);
            }
            if (seen) {
                continue;
            }
            if (start_trial(s, st, xp, -1, (long)next_point - 1, ex, err) != 0) {
                goto done;
            }
            pending++;
            n--;
        }
        if (n > 0 && !exhausted && !interrupted) {
            struct hn_history h = history_of(s);
            hn_error_clear(err);
            int k = st->optimizer->optimizer->ask(opt, &h, n, x, err);
            if (k < 0) {
                hn_error_prefix(err, "stage '%s': optimizer '%s'", st->name,
                                st->optimizer->name);
                goto done;
            }
            if ((size_t)k > n) {
                hn_error_set(err, NULL,
                             "stage '%s': optimizer '%s' returned %d points for %zu asked (a "
                             "bug in the plugin)",
                             st->name, st->optimizer->name, k, n);
                goto done;
            }
            if (k == 0) {
                exhausted = 1;
                hn_log(HN_LOG_WARNING,
                       "[%s] optimizer '%s' has no new point to suggest (the space is "
                       "exhausted?); stage ends with %zu of %zu trials",
                       st->name, st->optimizer->name, done_count + pending, target);
            }
            for (int j = 0; j < k; j++) {
                double *xj = x + (size_t)j * params->n;
                char why[512] = "";
                if (!hn_space_check(&s->space, xj, why, sizeof(why))) {
                    hn_error_set(err, NULL,
                                 "stage '%s': optimizer '%s' suggested an invalid point (%s); "
                                 "this is a bug in the optimizer",
                                 st->name, st->optimizer->name, why);
                    goto done;
                }
                if (start_trial(s, st, xj, -1, -1, ex, err) != 0) {
                    goto done;
                }
                pending++;
            }
        }
        if (pending == 0) {
            break;
        }
        if (wait_one(s, ex, st->optimizer, opt, err) != 0) {
            goto done;
        }
        pending--;
        done_count++;
    }
    if (interrupted) {
        hn_error_set(err, NULL,
                     "interrupted in stage '%s' after %zu of %zu trials; run the same command "
                     "again to resume (completed trials are kept)",
                     st->name, done_count, target);
        goto done;
    }
    rc = 0;
done:
    free(x);
    st->optimizer->optimizer->destroy(opt);
    return rc;
}

static int run_fit(struct hn_study *s, const struct hn_stage *st, struct hn_error *err)
{
    struct hn_source *src = &s->sources[st->fit];
    struct hn_history h = history_of(s);
    double t0 = hn_monotonic();
    if (src->shared) {
        pthread_mutex_lock(&src->lock);
    }
    int fit_rc = src->plugin->oracle->fit(src->ctx, &h, s->space.params, err);
    if (src->shared) {
        pthread_mutex_unlock(&src->lock);
    }
    if (fit_rc != 0) {
        hn_error_prefix(err, "stage '%s': oracle '%s' (fit)", st->name, src->name);
        return -1;
    }
    src->fitted = 1;
    hn_log(HN_LOG_INFO, "[%s] fitted oracle '%s' on %zu trials in %.2f s", st->name, src->name,
           h.n, hn_monotonic() - t0);
    return append_event(s,
                        json_pack("{s:s, s:s, s:s}", "event", "fit", "stage", st->name, "oracle",
                                  src->name),
                        1, err);
}

/* Re-measure the Pareto set of the earlier search stages with this stage's sources. */
static int run_verify(struct hn_study *s, size_t stage_index, void *ex, struct hn_error *err)
{
    const struct hn_stage *st = &s->stages[stage_index];
    size_t n = s->r.n;
    int *in_set = calloc(n ? n : 1, sizeof(int));
    long *done_of = calloc(n ? n : 1, sizeof(long));
    int rc = -1;
    if (in_set == NULL || done_of == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    /* candidates: trials of earlier search stages */
    struct hn_trial **cand = calloc(n ? n : 1, sizeof(*cand));
    size_t nc = 0;
    if (cand == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < stage_index; k++) {
            if (s->stages[k].type == HN_STAGE_SEARCH &&
                strcmp(s->r.trials[i]->stage, s->stages[k].name) == 0) {
                cand[nc++] = s->r.trials[i];
            }
        }
    }
    if (hn_report_pareto_set(&s->problem, cand, nc, in_set, err) != 0) {
        free(cand);
        goto done;
    }
    stage_count(s, st->name, done_of, n);
    size_t pending = 0, total = 0;
    for (size_t c = 0; c < nc; c++) {
        total += in_set[c] != 0;
    }
    hn_log(HN_LOG_INFO, "[%s] re-measuring %zu Pareto-optimal trials", st->name, total);
    for (size_t c = 0; c < nc && !interrupted; c++) {
        if (!in_set[c] || (cand[c]->id < (long)n && done_of[cand[c]->id])) {
            continue;
        }
        if (start_trial(s, st, cand[c]->x, cand[c]->id, -1, ex, err) != 0) {
            free(cand);
            goto done;
        }
        pending++;
        if (pending >= s->executor->executor->slots(ex)) {
            if (wait_one(s, ex, NULL, NULL, err) != 0) {
                free(cand);
                goto done;
            }
            pending--;
        }
    }
    free(cand);
    while (pending > 0) {
        if (wait_one(s, ex, NULL, NULL, err) != 0) {
            goto done;
        }
        pending--;
    }
    rc = 0;
done:
    free(in_set);
    free(done_of);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * instances per worker (executors whose workers() says n > 1) */

static void source_destroy_ctx(const struct hn_source *src, void *ctx)
{
    if (src->plugin->kind == HN_KIND_ORACLE) {
        src->plugin->oracle->destroy(ctx);
    } else {
        src->plugin->evaluator->destroy(ctx);
    }
}

/* Drop the instances of workers 1..n-1 (worker 0's is the source's own ctx). */
static void release_workers(struct hn_study *s)
{
    for (size_t i = 0; i < s->n_sources; i++) {
        struct hn_source *src = &s->sources[i];
        for (size_t w = 1; w < src->n_workers && src->worker_ctx != NULL; w++) {
            if (src->worker_ctx[w] != NULL) {
                source_destroy_ctx(src, src->worker_ctx[w]);
            }
        }
        if (src->shared) {
            pthread_mutex_destroy(&src->lock);
        }
        free(src->worker_ctx);
        src->worker_ctx = NULL;
        src->n_workers = 0;
        src->shared = 0;
    }
}

/* Give each of n in-process workers its own instance of every source (see executor.h). */
static int prepare_workers(struct hn_study *s, size_t n, struct hn_error *err)
{
    for (size_t i = 0; i < s->n_sources; i++) {
        struct hn_source *src = &s->sources[i];
        src->n_workers = n;
        if (src->plugin->kind == HN_KIND_ORACLE && src->plugin->oracle->fit != NULL) {
            /* one model, fitted once: calls are serialized */
            src->shared = 1;
            pthread_mutex_init(&src->lock, NULL);
            continue;
        }
        src->worker_ctx = calloc(n, sizeof(void *));
        if (src->worker_ctx == NULL) {
            return hn_error_set(err, NULL, "out of memory");
        }
        src->worker_ctx[0] = src->ctx;
        for (size_t w = 1; w < n; w++) {
            struct hn_plugin_args a;
            src->worker_ctx[w] =
                hn_study_create_plugin(s, src->plugin, src->node, src->name, NULL, &a, err);
            if (src->worker_ctx[w] == NULL) {
                hn_error_prefix(err, "%s '%s' (instance for worker %zu)",
                                hn_kind_name(src->plugin->kind), src->name, w);
                return -1;
            }
        }
    }
    return 0;
}

/* The core's evaluation callback (hn_execute_fn): run a task's sources on one worker. */
static int execute_task(void *runner, struct hn_task *task, int worker, struct hn_error *err)
{
    struct hn_study *s = runner;
    const struct hn_params *params = s->space.params;
    struct hn_error e;
    struct hn_metrics out = {0};
    json_t *metrics = json_object();
    struct hn_trial *t = NULL;
    char work[4200] = "";
    (void)err;
    hn_error_clear(&e);
    long id = (long)json_integer_value(json_object_get(task->request, "trial"));
    const char *stage = json_string_value(json_object_get(task->request, "stage"));
    t = hn_trial_new(id, stage, NULL, params->n);
    if (t == NULL || metrics == NULL) {
        hn_error_set(&e, NULL, "out of memory");
        goto fail;
    }
    if (hn_params_from_json(params, json_object_get(task->request, "params"), t->x, &e) != 0) {
        goto fail;
    }
    t->arch = json_incref(json_object_get(task->request, "arch"));
    snprintf(work, sizeof(work), "%s/trials/%ld", s->output, id);
    if (hn_mkdir_p(work, &e) != 0) {
        goto fail;
    }
    struct hn_eval_request req = {
        .trial = t,
        .params = params,
        .work_dir = work,
        .seed = (uint64_t)json_integer_value(json_object_get(task->request, "seed")),
        .threads = s->eval_threads > 0 ? s->eval_threads : 1,
        .keep_model = json_is_true(json_object_get(task->request, "keep_model")),
    };
    json_t *run = json_object_get(task->request, "run");
    size_t i;
    json_t *jname;
    json_array_foreach(run, i, jname)
    {
        long k = -1;
        for (size_t j = 0; j < s->n_sources; j++) {
            if (strcmp(s->sources[j].name, json_string_value(jname)) == 0) {
                k = (long)j;
            }
        }
        if (k < 0) {
            hn_error_set(&e, NULL, "unknown source '%s'", json_string_value(jname));
            goto fail;
        }
        struct hn_source *src = &s->sources[k];
        void *ctx = src->ctx;
        if (src->worker_ctx != NULL) {
            if (worker < 0 || (size_t)worker >= src->n_workers) {
                hn_error_set(&e, NULL, "executor used worker %d of %zu (a bug in the executor)",
                             worker, src->n_workers);
                goto fail;
            }
            ctx = src->worker_ctx[worker];
        }
        hn_metrics_clear(&out);
        if (src->shared) {
            pthread_mutex_lock(&src->lock);
        }
        int rc = src->plugin->kind == HN_KIND_ORACLE
                     ? src->plugin->oracle->evaluate(ctx, &req, &out, &e)
                     : src->plugin->evaluator->evaluate(ctx, &req, &out, &e);
        if (src->shared) {
            pthread_mutex_unlock(&src->lock);
        }
        if (rc != 0) {
            if (e.msg[0] == '\0') {
                hn_error_set(&e, NULL, "failed without a reason");
            }
            hn_error_prefix(&e, "%s '%s'", hn_kind_name(src->plugin->kind), src->name);
            goto fail;
        }
        for (size_t m = 0; m < out.n; m++) {
            char full[512];
            snprintf(full, sizeof(full), "%s.%s", src->name, out.m[m].name);
            if (!isfinite(out.m[m].value)) {
                hn_error_set(&e, NULL, "%s '%s': metric '%s' is not finite (%g)",
                             hn_kind_name(src->plugin->kind), src->name, full, out.m[m].value);
                goto fail;
            }
            json_t *mv = json_pack("{s:f}", "value", out.m[m].value);
            if (isfinite(out.m[m].sem)) {
                json_object_set_new(mv, "sem", json_real(out.m[m].sem));
            }
            json_object_set_new(metrics, full, mv);
        }
    }
    task->result = json_pack("{s:o, s:i}", "metrics", metrics, "worker", worker);
    hn_metrics_clear(&out);
    hn_trial_free(t);
    return 0;
fail:
    json_decref(metrics);
    hn_metrics_clear(&out);
    hn_trial_free(t);
    task->result = json_pack("{s:s, s:i}", "error", e.msg, "worker", worker);
    return 0; /* an evaluation failure is a failed trial, not an executor error */
}

static int write_outputs(struct hn_study *s, struct hn_error *err)
{
    return hn_report_write(s->output, s->space.params, &s->problem, s->r.trials,
                           s->r.params_json, s->r.n, err);
}

int hn_study_run(struct hn_study *s, struct hn_error *err)
{
    void *ex = NULL;
    int rc = -1;
    s->r.params = s->space.params;
    /* the executor first: in a worker process of a multi-process executor (MPI ranks) it
     * serves tasks and the study is the runner's business (journal, lock, outputs) */
    struct hn_plugin_args args;
    ex = hn_study_create_plugin(s, s->executor, s->executor_node, NULL, NULL, &args, err);
    if (ex == NULL) {
        return -1;
    }
    const struct hn_executor_ops *xo = s->executor->executor;
    if (HN_OPS_HAS(xo, serve)) {
        int role = xo->serve(ex, err);
        if (role != 0) {
            if (role < 0) {
                hn_error_prefix(err, "executor '%s'", s->executor->name);
            }
            s->worker = role > 0;
            xo->destroy(ex);
            return role > 0 ? 0 : -1;
        }
    }
    size_t workers = 1;
    if (HN_OPS_HAS(xo, workers)) {
        workers = xo->workers(ex);
    }
    /* CPUs per evaluation: this node's CPUs over the trials that run on it at once (in-process
     * workers, and the ranks an MPI launcher put on this node) */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN), local = 1;
    const char *ranks = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (ranks == NULL) {
        ranks = getenv("MPI_LOCALNRANKS");
    }
    if (ranks != NULL && atol(ranks) > 1) {
        local = atol(ranks);
    }
    long share = cpus / ((long)workers * local);
    s->eval_threads = share > 1 ? (int)share : 1;
    if (workers > 1) {
        if (prepare_workers(s, workers, err) != 0) {
            hn_error_prefix(err, "executor '%s'", s->executor->name);
            goto done;
        }
        hn_log(HN_LOG_INFO, "executor '%s': %zu trials at once, %d threads each",
               s->executor->name, workers, s->eval_threads);
    }
    s->journal = hn_journal_open(s->output, hn_replay_event, &s->r, err);
    if (s->journal == NULL) {
        goto done;
    }
    /* Trials that were running when the previous process ended are abandoned. */
    for (size_t i = 0; i < s->r.n; i++) {
        struct hn_trial *t = s->r.trials[i];
        if (t->status != HN_TRIAL_RUNNING) {
            continue;
        }
        t->status = HN_TRIAL_FAILED;
        t->abandoned = 1;
        t->finished = hn_now();
        t->reason = strdup("abandoned: the process ended while the trial ran; a new trial "
                           "takes its place");
        if (append_event(s,
                         json_pack("{s:s, s:I, s:s, s:b}", "event", "failed", "trial",
                                   (json_int_t)t->id, "reason", t->reason, "abandoned", 1),
                         1, err) != 0) {
            goto done;
        }
        hn_log(HN_LOG_WARNING, "trial %ld (stage %s) was running when the last run ended; "
               "it is marked abandoned and will be replaced", t->id, t->stage);
    }
    size_t completed = 0;
    for (size_t i = 0; i < s->r.n; i++) {
        completed += s->r.trials[i]->status == HN_TRIAL_COMPLETE;
    }
    if (s->r.n > 0) {
        hn_log(HN_LOG_INFO, "resuming study '%s' in %s: %zu trials in the journal, %zu complete",
               s->name, s->output, s->r.n, completed);
    }
    json_t *names = json_array();
    for (size_t i = 0; i < s->space.params->n; i++) {
        json_array_append_new(names, json_string(s->space.params->p[i].name));
    }
    if (append_event(s,
                     json_pack("{s:s, s:s, s:i, s:s, s:I, s:s, s:o, s:o}", "event", "study",
                               "format", HN_JOURNAL_FORMAT, "version", HN_JOURNAL_VERSION, "name",
                               s->name, "seed", (json_int_t)s->seed, "file", s->file, "params",
                               names, "problem", hn_problem_to_json(&s->problem)),
                     1, err) != 0) {
        goto done;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    interrupted = 0;
    for (size_t i = 0; i < s->n_stages; i++) {
        const struct hn_stage *st = &s->stages[i];
        int r = 0;
        switch (st->type) {
        case HN_STAGE_SEARCH:
            r = run_search(s, st, ex, err);
            break;
        case HN_STAGE_FIT:
            r = run_fit(s, st, err);
            break;
        case HN_STAGE_VERIFY:
            r = run_verify(s, i, ex, err);
            break;
        }
        if (r != 0) {
            goto done;
        }
        if (write_outputs(s, err) != 0) {
            goto done;
        }
    }
    rc = 0;
done:
    if (rc != 0 && s->journal != NULL) {
        struct hn_error e2;
        if (write_outputs(s, &e2) != 0) {
            hn_log(HN_LOG_WARNING, "%s", e2.msg);
        }
    }
    if (ex != NULL) {
        s->executor->executor->destroy(ex); /* joins the workers before their instances go */
    }
    release_workers(s);
    hn_journal_close(s->journal);
    s->journal = NULL;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return rc;
}

hn_execute_fn hn_study_execute_fn(void)
{
    return execute_task;
}
