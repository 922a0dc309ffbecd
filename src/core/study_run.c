/* hilnas: running (or resuming) a study: journal replay, stages, trials (see core/study.h). */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
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

/* set by hn_study_stop() (the command line's signal handlers), read by every thread */
static volatile sig_atomic_t interrupted;

void hn_study_stop(int stop)
{
    interrupted = stop != 0;
}

int hn_study_interrupted(void)
{
    return interrupted != 0;
}

/* ---- trials of a running study ---- */

static int append_event(struct hn_study *s, json_t *ev, int sync, struct hn_error *err)
{
    if (ev == NULL) {
        return hn_error_set(err, NULL, "out of memory building a journal event");
    }
    if (json_object_get(ev, "time") == NULL) {
        json_object_set_new(ev, "time", json_real(hn_now()));
    }
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
            off += snprintf(line + off, sizeof(line) - (size_t)off, "%s %s=%.6g", i ? "," : ":",
                            t->metrics.m[i].name, t->metrics.m[i].value);
        }
    } else if (t->reason != NULL) {
        off += snprintf(line + off, sizeof(line) - (size_t)off, ": %s", t->reason);
    }
    if (t->finished > 0 && off < (int)sizeof(line) - 32) {
        snprintf(line + off, sizeof(line) - (size_t)off, " (%.3f s)", t->finished - t->started);
    }
    hn_log(HN_LOG_INFO, "%s", line);
}

/* Tell an optimizer about one finished trial; errors name the optimizer and the trial. */
static int tell(const struct hn_plugin *opt, void *ctx, const struct hn_trial *t,
                struct hn_error *err)
{
    if (opt->optimizer->tell == NULL || t->status == HN_TRIAL_RUNNING) {
        return 0;
    }
    struct hn_instance_call c;
    hn_instance_enter(&c, opt, NULL);
    int rc = opt->optimizer->tell(ctx, t, err);
    hn_instance_leave(&c);
    if (rc != 0) {
        hn_instance_error(&c, NULL, err);
        hn_error_prefix(err, "telling trial %ld", t->id);
        return -1;
    }
    return 0;
}

/* An executor's slots(), under its identity. */
static size_t executor_slots(const struct hn_study *s, void *ex)
{
    struct hn_instance_call c;
    hn_instance_enter(&c, s->executor, NULL);
    size_t n = s->executor->executor->slots(ex);
    hn_instance_leave(&c);
    return n < 1 ? 1 : n;
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
    json_t *ev = json_pack("{s:s, s:I, s:s, s:O, s:O}", "event", "started", "trial", (json_int_t)id,
                           "stage", st->name, "params", pj, "arch", t->arch);
    if (of >= 0) {
        json_object_set_new(ev, "of", json_integer(of));
    }
    if (point >= 0) {
        json_object_set_new(ev, "point", json_integer(point));
    }
    if (hn_replay_add(&s->r, t, pj, of, err) != 0) {
        hn_trial_free(t);
        json_decref(pj);
        json_decref(run);
        json_decref(ev);
        return -1;
    }
    json_decref(pj);
    /* the journal's time is the trial's own: a replayed trial has the same times (and so the
     * same trials.csv) as the one that ran */
    if (ev != NULL) {
        json_object_set_new(ev, "time", json_real(t->started));
    }
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
    struct hn_instance_call c;
    hn_instance_enter(&c, s->executor, NULL);
    int rc = s->executor->executor->submit(ex, task, err);
    hn_instance_leave(&c);
    if (rc != 0) {
        hn_instance_error(&c, NULL, err);
        hn_error_prefix(err, "trial %ld", id);
        json_decref(task->request);
        free(task);
        return -1;
    }
    return 0;
}

static int write_outputs(struct hn_study *s, int durable, struct hn_error *err);

/*
 * trials.csv, pareto.csv and summary.json follow the trials as they finish (each written
 * atomically), so a kill mid-stage leaves them current. They are derived from the journal,
 * which is fsync'ed per trial, so here they are only renamed into place, never fsync'ed: a
 * crash of the machine may leave them stale or empty, and the next run (even one with
 * nothing left to do) rewrites them from the journal. Every stage end and the end of the run
 * write them durably. Only when a write has become slow (more than half a second: studies
 * with thousands of trials) is the next one skipped while less than ten times that has
 * passed, which bounds their cost to about a tenth of the run. The journal stays the truth: a
 * failed write is a warning.
 */
static void outputs_as_trials_finish(struct hn_study *s)
{
    double now = hn_monotonic();
    if (s->outputs_at > 0 && s->outputs_took > 0.5 && now - s->outputs_at < 10 * s->outputs_took) {
        return;
    }
    struct hn_error e;
    hn_error_clear(&e);
    if (write_outputs(s, 0, &e) != 0) {
        hn_log(HN_LOG_WARNING, "%s", e.msg);
    }
    s->outputs_at = hn_monotonic();
    s->outputs_took = s->outputs_at - now;
}

/*
 * Record a finished task in its trial and the journal (fsync'ed before anyone is told).
 * Returns 0; 1 when the environment failed (the trial is journaled as abandoned, not failed,
 * and err says why: the study must stop and a later run replaces the trial); -1 with err.
 */
static int finish_task(struct hn_study *s, struct hn_task *task, struct hn_trial **out,
                       struct hn_error *err)
{
    long k = hn_replay_find(&s->r, task->trial_id);
    int rc = -1;
    if (k < 0) {
        hn_error_set(err, NULL, "executor returned unknown trial %ld", task->trial_id);
        goto done;
    }
    struct hn_trial *t = s->r.trials[k];
    if (t->status != HN_TRIAL_RUNNING) {
        hn_error_set(err, NULL, "executor returned trial %ld twice (a bug in the executor)",
                     task->trial_id);
        goto done;
    }
    t->finished = hn_now();
    json_t *metrics = json_object_get(task->result, "metrics");
    const char *error = json_string_value(json_object_get(task->result, "error"));
    int environment = json_is_true(json_object_get(task->result, "environment"));
    struct hn_error bad;
    hn_error_clear(&bad);
    json_t *ev;
    if (error == NULL && json_is_object(metrics) &&
        hn_metrics_from_json(&t->metrics, metrics, 0, NULL, 0, &bad) == 0) {
        t->status = HN_TRIAL_COMPLETE;
        ev = json_pack("{s:s, s:I, s:O}", "event", "completed", "trial", (json_int_t)t->id,
                       "metrics", metrics);
    } else {
        hn_metrics_clear(&t->metrics);
        t->status = HN_TRIAL_FAILED;
        if (error != NULL) {
            t->reason = strdup(error);
        } else if (bad.msg[0] != '\0') {
            t->reason = hn_strdup_printf("unusable result: %s", bad.msg);
        } else {
            t->reason = strdup("the executor returned no result");
        }
        if (t->reason == NULL) {
            hn_error_set(err, NULL, "out of memory");
            goto done;
        }
        t->abandoned = environment;
        ev = json_pack("{s:s, s:I, s:s}", "event", "failed", "trial", (json_int_t)t->id, "reason",
                       t->reason);
        if (environment && ev != NULL) {
            /* not the candidate's fault: not counted, replaced by a later run */
            json_object_set_new(ev, "abandoned", json_true());
            json_object_set_new(ev, "environment", json_true());
        }
    }
    json_t *worker = json_object_get(task->result, "worker");
    if (json_is_integer(worker) && ev != NULL) {
        json_object_set(ev, "worker", worker); /* which thread or rank ran it */
    }
    if (ev != NULL) {
        json_object_set_new(ev, "time", json_real(t->finished));
    }
    if (append_event(s, ev, 1, err) != 0) {
        goto done;
    }
    *out = t;
    if (environment) {
        hn_log(HN_LOG_ERROR, "[%s] trial %ld: the environment failed: %s", t->stage, t->id,
               t->reason);
        hn_error_env(err, NULL,
                     "trial %ld: %s; the study stops (the trial is not counted as failed): fix "
                     "the environment, then run the same command again to resume",
                     t->id, t->reason);
        rc = 1;
        goto done;
    }
    log_trial(s, t);
    outputs_as_trials_finish(s);
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

/* The status line's count, and its best value (one objective) or Pareto-set size. */
static void status_trial(struct hn_study *s, const struct hn_trial *t)
{
    const struct hn_problem *p = &s->problem;
    double t0 = hn_monotonic();
    /* the Pareto set costs more as trials accumulate: once it takes over 50 ms, refresh it at
     * most every 20 times that (a few % of the run) */
    int *in_set = NULL;
    struct hn_error e;
    int due = !(s->status_took > 0.05 && t0 - s->status_at < 20 * s->status_took);
    if (p->n_objectives > 0 && due && (in_set = calloc(s->r.n ? s->r.n : 1, sizeof(int))) != NULL &&
        hn_report_pareto_set(p, s->r.trials, s->r.n, in_set, &e) == 0) {
        long frontier = 0, best_trial = -1;
        double best = NAN;
        for (size_t i = 0; i < s->r.n; i++) {
            if (in_set[i]) {
                frontier++;
                if (best_trial < 0) {
                    best_trial = s->r.trials[i]->id;
                    best = hn_trial_value(s->r.trials[i], p->objectives[0].metric);
                }
            }
        }
        hn_status_best(&s->status, (int)p->n_objectives, p->objectives[0].metric, best, best_trial,
                       frontier);
        s->status_at = hn_monotonic();
        s->status_took = s->status_at - t0;
    }
    free(in_set);
    hn_status_trial_done(&s->status, t->status != HN_TRIAL_COMPLETE);
}

static int wait_one(struct hn_study *s, void *ex, const struct hn_plugin *opt, void *opt_ctx,
                    struct hn_error *err)
{
    struct hn_instance_call c;
    hn_instance_enter(&c, s->executor, NULL);
    struct hn_task *task = s->executor->executor->wait(ex, err);
    hn_instance_leave(&c);
    if (task == NULL) {
        hn_instance_error(&c, NULL, err);
        return -1;
    }
    struct hn_trial *t = NULL;
    int rc = finish_task(s, task, &t, err);
    if (rc != 0) {
        return rc; /* 1: the environment failed (err set), the trial is abandoned */
    }
    status_trial(s, t);
    return opt ? tell(opt, opt_ctx, t, err) : 0;
}

/*
 * After wait_one() returned 1 (the environment failed): keep the first such error in *first
 * and report later ones; the caller stops submitting and drains the trials still running, so
 * that every measurement already made is journaled before the study stops.
 */
static void environment_failed(struct hn_error *first, int *stopping, const struct hn_error *e)
{
    if (!*stopping) {
        *first = *e;
        *stopping = 1;
    }
}

static int run_search(struct hn_study *s, const struct hn_stage *st, void *ex, struct hn_error *err)
{
    const struct hn_params *params = s->space.params;
    struct hn_plugin_args args;
    int rc = -1;
    double *x = NULL;
    void *opt =
        hn_study_create_plugin(s, st->optimizer, st->optimizer_node, NULL, st->name, &args, err);
    if (opt == NULL) {
        hn_error_prefix(err, "stage '%s'", st->name);
        return -1;
    }
    for (size_t i = 0; i < s->r.n; i++) {
        if (tell(st->optimizer, opt, s->r.trials[i], err) != 0) {
            goto done;
        }
    }
    size_t slots = executor_slots(s, ex);
    x = calloc(slots * params->n, sizeof(double));
    if (x == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    size_t done_count = stage_count(s, st->name, NULL, 0);
    size_t target = (size_t)st->trials, pending = 0, next_point = 0;
    int exhausted = 0, env_stop = 0;
    struct hn_error env_err;
    hn_error_clear(&env_err);
    hn_status_stage(&s->status, st->name, HN_STATUS_SEARCH, (long)target, (long)done_count);
    if (done_count >= target) {
        hn_log(HN_LOG_INFO, "[%s] already complete (%zu trials)", st->name, done_count);
    } else if (done_count > 0) {
        hn_log(HN_LOG_INFO, "[%s] resuming: %zu of %zu trials done", st->name, done_count, target);
    }
    for (;;) {
        size_t want = target > done_count + pending ? target - done_count - pending : 0;
        size_t free_slots = slots - pending;
        size_t n = want < free_slots ? want : free_slots;
        /* the stage's points first: each one not yet measured in this stage (abandoned
         * trials do not count, so a resumed stage measures it again) */
        while (n > 0 && !interrupted && !env_stop && next_point < st->n_points) {
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
        if (n > 0 && !exhausted && !interrupted && !env_stop) {
            struct hn_history h = history_of(s);
            hn_error_clear(err);
            struct hn_instance_call c;
            hn_instance_enter(&c, st->optimizer, NULL);
            int k = st->optimizer->optimizer->ask(opt, &h, n, x, err);
            hn_instance_leave(&c);
            if (k < 0) {
                hn_instance_error(&c, NULL, err);
                hn_error_prefix(err, "stage '%s'", st->name);
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
        int w = wait_one(s, ex, st->optimizer, opt, err);
        if (w < 0) {
            goto done;
        }
        pending--;
        if (w > 0) {
            environment_failed(&env_err, &env_stop, err);
            continue;
        }
        done_count++;
    }
    if (env_stop) {
        *err = env_err;
        goto done;
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
    hn_status_end_stage(&s->status);
    free(x);
    hn_instance_destroy(st->optimizer, NULL, opt);
    return rc;
}

static int run_fit(struct hn_study *s, const struct hn_stage *st, struct hn_error *err)
{
    struct hn_source *src = &s->sources[st->fit];
    /* the trials of the stages before this one: a resumed study fits on the same data, not
     * also on what later stages (a verify stage, say) measured */
    struct hn_trial **before = calloc(s->r.n + 1, sizeof(*before));
    struct hn_history h = {.n = 0, .trials = before};
    if (before == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < s->r.n; i++) {
        for (const struct hn_stage *k = s->stages; k < st; k++) {
            if (strcmp(s->r.trials[i]->stage, k->name) == 0) {
                before[h.n++] = s->r.trials[i];
                break;
            }
        }
    }
    double t0 = hn_monotonic();
    char note[160];
    snprintf(note, sizeof(note), "fitting oracle '%s' on %zu trials", src->name, h.n);
    hn_status_stage(&s->status, st->name, HN_STATUS_FIT, 0, 0);
    hn_status_note(&s->status, note);
    if (src->shared) {
        pthread_mutex_lock(&src->lock);
    }
    struct hn_instance_call c;
    hn_instance_enter(&c, src->plugin, src->name);
    int fit_rc = src->plugin->oracle->fit(src->ctx, &h, s->space.params, err);
    hn_instance_leave(&c);
    if (src->shared) {
        pthread_mutex_unlock(&src->lock);
    }
    free(before);
    hn_status_end_stage(&s->status);
    if (fit_rc != 0) {
        hn_instance_error(&c, NULL, err);
        hn_error_prefix(err, "stage '%s': fitting", st->name);
        return -1;
    }
    hn_log(HN_LOG_INFO, "[%s] fitted oracle '%s' on %zu trials in %.2f s", st->name, src->name, h.n,
           hn_monotonic() - t0);
    return append_event(
        s, json_pack("{s:s, s:s, s:s}", "event", "fit", "stage", st->name, "oracle", src->name), 1,
        err);
}

/* CSV field: s quoted when it holds a comma, quote or newline. */
static void csv_field(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\n\r") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') {
            fputc('"', f);
        }
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Predicted vs re-measured, per verify trial and metric: the verify trial's metric <src>.<m>
 * against the re-measured trial's <model>.<m> where <model> is a fitted (learned) oracle.
 * Written to <output>/<stage>-verify.csv; the log sums it up and warns about every
 * re-measurement outside the model's 95 % interval. */
static int verify_report(struct hn_study *s, const struct hn_stage *st, struct hn_error *err)
{
    char *buf = NULL, name[512];
    size_t len = 0, rows = 0, outside = 0;
    double abs_err = 0.0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    fputs("trial,of,measured_metric,predicted_metric,measured,predicted,predicted_sem,error,"
          "inside95\n",
          f);
    for (size_t i = 0; i < s->r.n; i++) {
        const struct hn_trial *t = s->r.trials[i];
        long of = s->r.of[i];
        if (strcmp(t->stage, st->name) != 0 || t->status != HN_TRIAL_COMPLETE || of < 0 ||
            (size_t)of >= s->r.n) {
            continue;
        }
        const struct hn_trial *o = s->r.trials[of];
        for (size_t a = 0; a < t->metrics.n; a++) {
            const struct hn_metric *mv = &t->metrics.m[a];
            const char *ms = strchr(mv->name, '.');
            /* the same measurement as predicted by each fitted oracle: "<oracle><.name>" */
            for (size_t k = 0; ms != NULL && k < s->n_sources; k++) {
                if (s->sources[k].plugin->kind != HN_KIND_ORACLE ||
                    s->sources[k].plugin->oracle->fit == NULL) {
                    continue;
                }
                char *pname = hn_strdup_printf("%s%s", s->sources[k].name, ms);
                if (pname == NULL) {
                    fclose(f);
                    free(buf);
                    return hn_error_set(err, NULL, "out of memory");
                }
                const struct hn_metric *pv = hn_metrics_get(&o->metrics, pname);
                free(pname);
                if (pv == NULL || !(pv->value != 0)) {
                    continue;
                }
                double e = (mv->value - pv->value) / pv->value;
                int inside = isfinite(pv->sem) && fabs(mv->value - pv->value) <= 1.96 * pv->sem;
                fprintf(f, "%ld,%ld,", t->id, of);
                csv_field(f, mv->name);
                fputc(',', f);
                csv_field(f, pv->name);
                fprintf(f, ",%.17g,%.17g,%.17g,%.6f,%d\n", mv->value, pv->value, pv->sem, e,
                        inside);
                rows++;
                abs_err += fabs(e);
                if (!inside) {
                    outside++;
                    hn_log(HN_LOG_WARNING,
                           "[%s] trial %ld (re-measuring %ld): %s = %.4g, but %s predicted "
                           "%.4g +- %.2g (%+.1f %%): outside the model's 95 %% interval",
                           st->name, t->id, of, mv->name, mv->value, pv->name, pv->value,
                           1.96 * pv->sem, 100 * e);
                }
            }
        }
    }
    fclose(f);
    int rc = 0;
    if (rows > 0) {
        snprintf(name, sizeof(name), "%s-verify.csv", st->name);
        char *path = hn_path_join(s->output, name);
        rc = path == NULL ? hn_error_set(err, NULL, "out of memory")
                          : hn_write_file_atomic(path, buf, len, err);
        free(path);
        hn_log(rows > 0 && outside > 0 ? HN_LOG_WARNING : HN_LOG_INFO,
               "[%s] predicted vs re-measured: %zu comparisons, mean absolute error %.1f %%, "
               "%zu outside the model's 95 %% interval (%s)",
               st->name, rows, 100 * abs_err / (double)rows, outside, name);
    }
    free(buf);
    return rc;
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
    size_t already = 0;
    for (size_t c = 0; c < nc; c++) {
        already += in_set[c] && cand[c]->id < (long)n && done_of[cand[c]->id];
    }
    hn_status_stage(&s->status, st->name, HN_STATUS_VERIFY, (long)total, (long)already);
    hn_log(HN_LOG_INFO, "[%s] re-measuring %zu Pareto-optimal trials", st->name, total);
    int env_stop = 0;
    struct hn_error env_err;
    hn_error_clear(&env_err);
    for (size_t c = 0; c < nc && !interrupted && !env_stop; c++) {
        if (!in_set[c] || (cand[c]->id < (long)n && done_of[cand[c]->id])) {
            continue;
        }
        if (start_trial(s, st, cand[c]->x, cand[c]->id, -1, ex, err) != 0) {
            free(cand);
            goto done;
        }
        pending++;
        if (pending >= executor_slots(s, ex)) {
            int w = wait_one(s, ex, NULL, NULL, err);
            if (w < 0) {
                free(cand);
                goto done;
            }
            pending--;
            if (w > 0) {
                environment_failed(&env_err, &env_stop, err);
            }
        }
    }
    free(cand);
    while (pending > 0) {
        int w = wait_one(s, ex, NULL, NULL, err);
        if (w < 0) {
            goto done;
        }
        pending--;
        if (w > 0) {
            environment_failed(&env_err, &env_stop, err);
        }
    }
    if (env_stop) {
        *err = env_err;
        goto done;
    }
    if (!interrupted && verify_report(s, st, err) != 0) {
        goto done;
    }
    rc = 0;
done:
    hn_status_end_stage(&s->status);
    free(in_set);
    free(done_of);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * instances per worker (executors whose workers() says n > 1) */

/* Drop the instances of workers 1..n-1 (worker 0's is the source's own ctx). */
static void release_workers(struct hn_study *s)
{
    for (size_t i = 0; i < s->n_sources; i++) {
        struct hn_source *src = &s->sources[i];
        for (size_t w = 1; w < src->n_workers && src->worker_ctx != NULL; w++) {
            if (src->worker_ctx[w] != NULL) {
                hn_instance_destroy(src->plugin, src->name, src->worker_ctx[w]);
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
    for (size_t i = 0; i < s->n_stages; i++) {
        for (size_t j = 0; j < s->stages[i].n_over; j++) {
            struct hn_stage_override *o = &s->stages[i].over[j];
            for (size_t w = 1; w < o->n_workers && o->worker_ctx != NULL; w++) {
                if (o->worker_ctx[w] != NULL) {
                    hn_instance_destroy(s->sources[o->source].plugin, s->sources[o->source].name,
                                        o->worker_ctx[w]);
                }
            }
            free(o->worker_ctx);
            o->worker_ctx = NULL;
            o->n_workers = 0;
        }
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
                hn_error_prefix(err, "the instance for worker %zu", w);
                return -1;
            }
        }
    }
    for (size_t i = 0; i < s->n_stages; i++) {
        for (size_t j = 0; j < s->stages[i].n_over; j++) {
            struct hn_stage_override *o = &s->stages[i].over[j];
            const struct hn_source *src = &s->sources[o->source];
            o->worker_ctx = calloc(n, sizeof(void *));
            if (o->worker_ctx == NULL) {
                return hn_error_set(err, NULL, "out of memory");
            }
            o->n_workers = n;
            o->worker_ctx[0] = o->ctx;
            for (size_t w = 1; w < n; w++) {
                struct hn_plugin_args a;
                o->worker_ctx[w] = hn_study_create_plugin(s, src->plugin, o->view, src->name,
                                                          s->stages[i].name, &a, err);
                if (o->worker_ctx[w] == NULL) {
                    hn_error_prefix(err, "stage '%s': the instance for worker %zu",
                                    s->stages[i].name, w);
                    return -1;
                }
            }
        }
    }
    return 0;
}

int hn_study_evaluate(struct hn_study *s, size_t source, void *ctx,
                      const struct hn_eval_request *req, struct hn_metrics *out,
                      struct hn_error *err)
{
    struct hn_source *src = &s->sources[source];
    if (src->shared) {
        pthread_mutex_lock(&src->lock);
    }
    struct hn_instance_call c;
    hn_instance_enter(&c, src->plugin, src->name);
    int rc = src->plugin->kind == HN_KIND_ORACLE
                 ? src->plugin->oracle->evaluate(ctx, req, out, err)
                 : src->plugin->evaluator->evaluate(ctx, req, out, err);
    hn_instance_leave(&c);
    if (src->shared) {
        pthread_mutex_unlock(&src->lock);
    }
    if (rc != 0) {
        hn_instance_error(&c, NULL, err);
    }
    return rc;
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
    struct hn_progress *progress = NULL;
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
        /* disk or inodes full, permissions: no candidate can run here */
        char why[HN_ERROR_MAX];
        snprintf(why, sizeof(why), "%s", e.msg);
        hn_error_env(&e, NULL, "cannot create the trial directory: %s", why);
        goto fail;
    }
    progress = hn_status_slot_begin(&s->status, worker, id);
    struct hn_eval_request req = {
        .progress = progress,
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
        /* the stage's own instance when it overrides the source's options */
        void *ctx = hn_study_source_ctx(s, stage, (size_t)k, worker);
        if (ctx == NULL) {
            hn_error_set(&e, NULL, "executor used worker %d of %zu (a bug in the executor)", worker,
                         src->n_workers);
            goto fail;
        }
        hn_metrics_clear(&out);
        if (hn_study_evaluate(s, (size_t)k, ctx, &req, &out, &e) != 0) {
            goto fail;
        }
        for (size_t m = 0; m < out.n; m++) {
            char full[512], why[256];
            snprintf(full, sizeof(full), "%s.%s", src->name, out.m[m].name);
            if (!hn_metric_value_ok(out.m[m].value, why, sizeof(why)) ||
                !hn_metric_sem_ok(out.m[m].value, out.m[m].sem, why, sizeof(why))) {
                struct hn_instance_call c;
                hn_instance_enter(&c, src->plugin, src->name);
                hn_instance_leave(&c);
                hn_error_set(&e, NULL, "metric '%s': %s", full, why);
                hn_instance_error(&c, NULL, &e);
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
    hn_status_slot_end(progress);
    hn_metrics_clear(&out);
    hn_trial_free(t);
    return 0;
fail:
    hn_status_slot_end(progress);
    json_decref(metrics);
    hn_metrics_clear(&out);
    hn_trial_free(t);
    task->result = json_pack("{s:s, s:i}", "error", e.msg, "worker", worker);
    if (e.kind == HN_ERR_ENVIRONMENT && task->result != NULL) {
        /* the runner stops the study instead of counting a failed trial */
        json_object_set_new(task->result, "environment", json_true());
    }
    return 0; /* an evaluation failure is a failed trial, not an executor error */
}

/* The study's executor, given the core's evaluation callback. */
static void *create_executor(struct hn_study *s, struct hn_plugin_args *args, struct hn_error *err)
{
    hn_study_plugin_args(s, s->executor, s->executor_node, NULL, NULL, args);
    args->execute = execute_task;
    args->runner = s;
    return hn_instance_create(s->executor, args, err);
}

/* ---- what the journal's "study" event records, and the check on resume ---- */

/* A configuration subtree as JSON (scalars as strings), for canonical comparison. */
static json_t *node_json(const struct hn_config_node *n)
{
    if (n == NULL) {
        return json_null();
    }
    switch (n->type) {
    case HN_NODE_SCALAR:
        return n->is_null ? json_null() : json_string(n->value);
    case HN_NODE_SEQUENCE: {
        json_t *a = json_array();
        for (size_t i = 0; i < n->n; i++) {
            json_array_append_new(a, node_json(n->items[i]));
        }
        return a;
    }
    case HN_NODE_MAPPING: {
        json_t *o = json_object();
        for (size_t i = 0; i < n->n; i++) {
            json_object_set_new(o, n->keys[i], node_json(n->items[i]));
        }
        return o;
    }
    }
    return json_null();
}

static char *node_text(const struct hn_config_node *n)
{
    json_t *j = node_json(n);
    char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(j);
    return t;
}

/* "x1: float [0, 15] log", "d: choice {64, 96}", "c: categorical {a, b}", "f: bool". */
static json_t *param_spec(const struct hn_param *p)
{
    static const char *const names[] = {"float", "int", "choice", "categorical", "bool"};
    size_t cap = 128 + 32 * p->n_values, off = 0;
    for (size_t k = 0; p->labels != NULL && k < p->n_values; k++) {
        cap += strlen(p->labels[k]);
    }
    char *t = malloc(cap + strlen(p->name));
    if (t == NULL) {
        return NULL;
    }
    cap += strlen(p->name);
    off += (size_t)snprintf(t, cap, "%s: %s", p->name, names[p->type]);
    if (p->type == HN_PARAM_FLOAT || p->type == HN_PARAM_INT) {
        off += (size_t)snprintf(t + off, cap - off, " [%.17g, %.17g]%s", p->lo, p->hi,
                                p->log_scale ? " log" : "");
    } else if (p->type != HN_PARAM_BOOL) {
        for (size_t k = 0; k < p->n_values; k++) {
            if (p->type == HN_PARAM_CHOICE) {
                off +=
                    (size_t)snprintf(t + off, cap - off, "%s%.17g", k ? ", " : " {", p->values[k]);
            } else {
                off += (size_t)snprintf(t + off, cap - off, "%s%s", k ? ", " : " {", p->labels[k]);
            }
        }
        snprintf(t + off, cap - off, "}");
    }
    json_t *j = json_string(t);
    free(t);
    return j;
}

static json_t *space_spec(const struct hn_params *params)
{
    json_t *a = json_array();
    for (size_t i = 0; i < params->n; i++) {
        json_array_append_new(a, param_spec(&params->p[i]));
    }
    for (size_t c = 0; c < params->n_linear; c++) {
        char *t = hn_strdup_printf("constraint: %s", params->linear[c].text);
        json_array_append_new(a, json_string(t ? t : "?"));
        free(t);
    }
    return a;
}

static json_t *stage_spec(const struct hn_study *s, const struct hn_stage *st)
{
    static const char *const kinds[] = {"search", "fit", "verify"};
    char *opts = NULL;
    if (st->type == HN_STAGE_SEARCH) {
        opts = node_text(st->optimizer_node);
    }
    size_t cap = 256 + (opts ? strlen(opts) : 0) + strlen(st->name);
    for (size_t i = 0; i < st->n_run; i++) {
        cap += strlen(s->sources[st->run[i]].name) + 2;
    }
    char *t = malloc(cap);
    if (t == NULL) {
        free(opts);
        return NULL;
    }
    size_t off = (size_t)snprintf(t, cap, "%s: %s", st->name, kinds[st->type]);
    if (st->type == HN_STAGE_SEARCH) {
        off += (size_t)snprintf(t + off, cap - off, " with %s %s", st->optimizer->name,
                                opts ? opts : "null");
    } else if (st->type == HN_STAGE_FIT) {
        off += (size_t)snprintf(t + off, cap - off, " of %s", s->sources[st->fit].name);
    }
    if (st->n_run > 0) {
        off += (size_t)snprintf(t + off, cap - off, ", runs");
        for (size_t i = 0; i < st->n_run; i++) {
            off += (size_t)snprintf(t + off, cap - off, "%s%s", i ? ", " : " ",
                                    s->sources[st->run[i]].name);
        }
    }
    json_t *j = json_pack("{s:s, s:I}", "spec", t, "trials",
                          (json_int_t)(st->type == HN_STAGE_SEARCH ? st->trials : 0));
    free(t);
    free(opts);
    if (j != NULL && st->n_over > 0) {
        /* the stage's option overrides, as the sources' options: a change warns on resume */
        json_t *o = json_object();
        for (size_t i = 0; i < st->n_over; i++) {
            char *text = node_text(st->over[i].node);
            json_object_set_new(o, s->sources[st->over[i].source].name,
                                json_string(text ? text : "null"));
            free(text);
        }
        json_object_set_new(j, "overrides", o);
    }
    return j;
}

static json_t *sources_spec(const struct hn_study *s)
{
    json_t *o = json_object();
    for (size_t i = 0; i < s->n_sources; i++) {
        char *opts = node_text(s->sources[i].node);
        json_object_set_new(o, s->sources[i].name,
                            json_pack("{s:s, s:s}", "plugin", s->sources[i].plugin->name, "options",
                                      opts ? opts : "null"));
        free(opts);
    }
    return o;
}

static json_t *study_event(const struct hn_study *s)
{
    json_t *names = json_array(), *stages = json_array();
    for (size_t i = 0; i < s->space.params->n; i++) {
        json_array_append_new(names, json_string(s->space.params->p[i].name));
    }
    for (size_t i = 0; i < s->n_stages; i++) {
        json_array_append_new(stages, stage_spec(s, &s->stages[i]));
    }
    return json_pack("{s:s, s:s, s:i, s:s, s:I, s:s, s:o, s:o, s:o, s:o, s:o}", "event", "study",
                     "format", HN_JOURNAL_FORMAT, "version", HN_JOURNAL_VERSION, "name", s->name,
                     "seed", (json_int_t)s->seed, "file", s->file, "params", names, "problem",
                     hn_problem_to_json(&s->problem), "space", space_spec(s->space.params),
                     "stages", stages, "sources", sources_spec(s));
}

struct diff {
    char text[HN_ERROR_MAX];
    size_t n;
};

static void differ(struct diff *d, const char *fmt, ...) HN_PRINTF(2, 3);
static void differ(struct diff *d, const char *fmt, ...)
{
    size_t off = strlen(d->text);
    if (off + 8 >= sizeof(d->text)) {
        return;
    }
    if (d->n++ > 0) {
        off += (size_t)snprintf(d->text + off, sizeof(d->text) - off, "; ");
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->text + off, sizeof(d->text) - off, fmt, ap);
    va_end(ap);
}

/* "quality.val_loss minimize" (+ " ref 3") of an objective in a problem's JSON. */
static void objective_text(const json_t *o, char *buf, size_t size)
{
    json_t *ref = json_object_get(o, "ref");
    int len = snprintf(buf, size, "%s %s", json_string_value(json_object_get(o, "metric")),
                       json_string_value(json_object_get(o, "goal")));
    if (json_is_number(ref) && len > 0 && (size_t)len < size) {
        snprintf(buf + len, size - (size_t)len, " ref %.17g", json_number_value(ref));
    }
}

static void constraint_text(const json_t *c, char *buf, size_t size)
{
    json_t *lo = json_object_get(c, "min"), *hi = json_object_get(c, "max");
    int len = snprintf(buf, size, "%s", json_string_value(json_object_get(c, "metric")));
    if (json_is_number(lo) && len > 0 && (size_t)len < size) {
        len += snprintf(buf + len, size - (size_t)len, " min %.17g", json_number_value(lo));
    }
    if (json_is_number(hi) && len > 0 && (size_t)len < size) {
        snprintf(buf + len, size - (size_t)len, " max %.17g", json_number_value(hi));
    }
}

/* Compare two arrays element-wise with a text function; what is one element called. */
static void diff_list(struct diff *d, const char *what, const json_t *was, const json_t *now,
                      void (*text)(const json_t *, char *, size_t))
{
    size_t nw = json_array_size(was), nn = json_array_size(now);
    for (size_t i = 0; i < nw || i < nn; i++) {
        char a[512] = "", b[512] = "";
        if (i < nw) {
            text(json_array_get(was, i), a, sizeof(a));
        }
        if (i < nn) {
            text(json_array_get(now, i), b, sizeof(b));
        }
        if (i >= nn) {
            differ(d, "%s %zu (%s) was removed", what, i + 1, a);
        } else if (i >= nw) {
            differ(d, "%s %zu (%s) is new", what, i + 1, b);
        } else if (strcmp(a, b) != 0) {
            differ(d, "%s %zu changed from %s to %s", what, i + 1, a, b);
        }
    }
}

static void string_text(const json_t *v, char *buf, size_t size)
{
    snprintf(buf, size, "'%s'", json_is_string(v) ? json_string_value(v) : "?");
}

/*
 * Refuse to resume when the study file no longer describes the journal's study (finding 7 of
 * issue #8): name, seed, objectives, constraints, the space, and the stages must be the same.
 * Safe by design (docs/reliability.md): more trials in the last recorded stage, new stages
 * after it, another executor or output. Changed options of an oracle or evaluator are warned.
 * Journals written before a field was recorded are compared on what they hold.
 */
static int check_resume(const struct hn_study *s, const json_t *was, const json_t *now,
                        struct hn_error *err)
{
    struct diff d;
    memset(&d, 0, sizeof(d));
    const char *wname = json_string_value(json_object_get(was, "name"));
    if (wname != NULL && strcmp(wname, s->name) != 0) {
        differ(&d, "the study name changed from '%s' to '%s'", wname, s->name);
    }
    json_t *wseed = json_object_get(was, "seed");
    if (json_is_integer(wseed) && (uint64_t)json_integer_value(wseed) != s->seed) {
        differ(&d, "the seed changed from %lld to %llu", (long long)json_integer_value(wseed),
               (unsigned long long)s->seed);
    }
    json_t *wp = json_object_get(was, "problem"), *np = json_object_get(now, "problem");
    diff_list(&d, "objective", json_object_get(wp, "objectives"), json_object_get(np, "objectives"),
              objective_text);
    diff_list(&d, "constraint", json_object_get(wp, "constraints"),
              json_object_get(np, "constraints"), constraint_text);
    if (json_object_get(was, "space") != NULL) {
        diff_list(&d, "parameter", json_object_get(was, "space"), json_object_get(now, "space"),
                  string_text);
    } else {
        diff_list(&d, "parameter", json_object_get(was, "params"), json_object_get(now, "params"),
                  string_text);
    }
    json_t *ws = json_object_get(was, "stages"), *ns = json_object_get(now, "stages");
    size_t nw = json_array_size(ws);
    for (size_t i = 0; i < nw; i++) {
        json_t *a = json_array_get(ws, i), *b = json_array_get(ns, i);
        const char *sa = json_string_value(json_object_get(a, "spec"));
        json_int_t ta = json_integer_value(json_object_get(a, "trials"));
        if (b == NULL) {
            differ(&d, "stage %zu (%s) was removed", i + 1, sa ? sa : "?");
            continue;
        }
        const char *sb = json_string_value(json_object_get(b, "spec"));
        json_int_t tb = json_integer_value(json_object_get(b, "trials"));
        if (sa == NULL || sb == NULL || strcmp(sa, sb) != 0) {
            differ(&d, "stage %zu changed from '%s' to '%s'", i + 1, sa ? sa : "?", sb ? sb : "?");
        } else if (!json_equal(json_object_get(a, "overrides"), json_object_get(b, "overrides")) &&
                   (json_object_get(a, "overrides") != NULL ||
                    json_object_get(b, "overrides") != NULL)) {
            char *oa = json_dumps(json_object_get(a, "overrides"), JSON_COMPACT | JSON_ENCODE_ANY);
            char *ob = json_dumps(json_object_get(b, "overrides"), JSON_COMPACT | JSON_ENCODE_ANY);
            hn_log(HN_LOG_WARNING,
                   "stage %zu (%s) changed its option overrides since the journal's last run "
                   "(%s -> %s); the study resumes, and new measurements may not be comparable "
                   "with old ones",
                   i + 1, sa, oa ? oa : "none", ob ? ob : "none");
            free(oa);
            free(ob);
        }
        if (sa != NULL && sb != NULL && strcmp(sa, sb) == 0 && ta != tb &&
            !(i == nw - 1 && tb > ta)) {
            differ(&d,
                   "stage %zu (%s) trials changed from %lld to %lld (only the last stage "
                   "may grow)",
                   i + 1, sa, (long long)ta, (long long)tb);
        }
    }
    if (d.n > 0) {
        return hn_error_config(err, s->output,
                               "the study file %s no longer describes the study in this "
                               "directory: %s. Resuming would mix incompatible trials: revert "
                               "the study file, or use a new --output",
                               s->file, d.text);
    }
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(was, "sources"), name, v)
    {
        json_t *b = json_object_get(json_object_get(now, "sources"), name);
        const char *pa = json_string_value(json_object_get(v, "plugin"));
        const char *pb = json_string_value(json_object_get(b, "plugin"));
        const char *oa = json_string_value(json_object_get(v, "options"));
        const char *ob = json_string_value(json_object_get(b, "options"));
        if (b == NULL || pa == NULL || pb == NULL || strcmp(pa, pb) != 0) {
            return hn_error_config(err, s->output,
                                   "the study file %s no longer describes the study in this "
                                   "directory: source '%s' (plugin %s) %s. Revert the study "
                                   "file, or use a new --output",
                                   s->file, name, pa ? pa : "?",
                                   b == NULL ? "was removed" : "changed its plugin");
        }
        if (oa != NULL && ob != NULL && strcmp(oa, ob) != 0) {
            hn_log(HN_LOG_WARNING,
                   "the options of '%s' changed since the journal's last run (%s -> %s); the "
                   "study resumes, and new measurements may not be comparable with old ones",
                   name, oa, ob);
        }
    }
    return 0;
}

static int write_outputs(struct hn_study *s, int durable, struct hn_error *err)
{
    return hn_report_write(s->output, s->space.params, &s->problem, s->r.trials, s->r.params_json,
                           s->r.n, durable, err);
}

int hn_study_run(struct hn_study *s, struct hn_error *err)
{
    void *ex = NULL;
    json_t *sev = NULL;
    int rc = -1;
    s->r.params = s->space.params;
    /* the executor first: in a worker process of a multi-process executor (MPI ranks) it
     * serves tasks and the study is the runner's business (journal, lock, outputs) */
    struct hn_plugin_args args;
    ex = create_executor(s, &args, err);
    if (ex == NULL) {
        return -1;
    }
    const struct hn_executor_ops *xo = s->executor->executor;
    struct hn_instance_call c;
    if (HN_OPS_HAS(xo, serve)) {
        hn_instance_enter(&c, s->executor, NULL);
        int role = xo->serve(ex, err);
        hn_instance_leave(&c);
        if (role != 0) {
            if (role < 0) {
                hn_instance_error(&c, NULL, err);
            }
            s->worker = role > 0;
            hn_instance_destroy(s->executor, NULL, ex);
            return role > 0 ? 0 : -1;
        }
    }
    size_t workers = 1, local = 1;
    hn_instance_enter(&c, s->executor, NULL);
    if (HN_OPS_HAS(xo, workers)) {
        workers = xo->workers(ex);
    }
    if (HN_OPS_HAS(xo, local_processes)) {
        local = xo->local_processes(ex);
    }
    hn_instance_leave(&c);
    workers = workers < 1 ? 1 : workers;
    local = local < 1 ? 1 : local;
    /* this process runs the study: its evaluations report to the status line (a worker
     * rank's evaluations never get here, so theirs stay unreported: see progress.h) */
    hn_status_enable(&s->status, 1, workers);
    /* CPUs per evaluation: this node's CPUs over the trials that run on it at once (in-process
     * workers, and the ranks an MPI launcher put on this node) */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long share = cpus / (long)(workers * local);
    s->eval_threads = share > 1 ? (int)share : 1;
    if (workers > 1) {
        if (prepare_workers(s, workers, err) != 0) {
            hn_error_prefix(err, "preparing %zu workers of executor '%s'", workers,
                            s->executor->name);
            goto done;
        }
        hn_log(HN_LOG_INFO, "executor '%s': %zu trials at once, %d threads each", s->executor->name,
               workers, s->eval_threads);
    }
    s->r.lenient = s->repair_journal;
    s->journal = hn_journal_open_repair(s->output, hn_replay_event, &s->r, s->repair_journal, err);
    if (s->journal == NULL) {
        goto done;
    }
    /* before anything is appended: a study file that no longer fits the journal is refused */
    sev = study_event(s);
    if (sev == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    if (s->r.study_event != NULL && check_resume(s, s->r.study_event, sev, err) != 0) {
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
                         json_pack("{s:s, s:I, s:s, s:b, s:f}", "event", "failed", "trial",
                                   (json_int_t)t->id, "reason", t->reason, "abandoned", 1, "time",
                                   t->finished),
                         1, err) != 0) {
            goto done;
        }
        hn_log(HN_LOG_WARNING,
               "trial %ld (stage %s) was running when the last run ended; "
               "it is marked abandoned and will be replaced",
               t->id, t->stage);
    }
    size_t completed = 0;
    for (size_t i = 0; i < s->r.n; i++) {
        completed += s->r.trials[i]->status == HN_TRIAL_COMPLETE;
    }
    if (s->r.n > 0) {
        hn_log(HN_LOG_INFO, "resuming study '%s' in %s: %zu trials in the journal, %zu complete",
               s->name, s->output, s->r.n, completed);
    }
    if (append_event(s, sev, 1, err) != 0) {
        sev = NULL;
        goto done;
    }
    sev = NULL;
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
        if (write_outputs(s, 1, err) != 0) {
            goto done;
        }
    }
    rc = 0;
done:
    if (rc != 0 && s->journal != NULL) {
        struct hn_error e2;
        if (write_outputs(s, 1, &e2) != 0) {
            hn_log(HN_LOG_WARNING, "%s", e2.msg);
        }
    }
    if (ex != NULL) {
        /* joins the workers before their instances go */
        hn_instance_destroy(s->executor, NULL, ex);
    }
    json_decref(sev);
    hn_status_enable(&s->status, 0, 0);
    release_workers(s);
    hn_journal_close(s->journal);
    s->journal = NULL;
    return rc;
}
