/* hilnas: the live status of a running study (see core/progress.h, include/hilnas/progress.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "core/log_context.h"
#include "core/progress.h"
#include "core/util.h"
#include "hilnas/log.h"

void hn_status_copy_text(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    if (size == 0) {
        return;
    }
    for (; src != NULL && src[i] != '\0' && i + 1 < size; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    dst[i] = '\0';
}

void hn_status_init(struct hn_status *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_init(&st->lock, NULL);
    st->run_start = hn_monotonic();
    st->v.best_trial = -1;
    st->v.frontier = -1;
    for (size_t i = 0; i < HN_STATUS_SLOTS; i++) {
        st->v.slots[i].owner = st;
        st->v.slots[i].trial = -1;
    }
}

void hn_status_destroy(struct hn_status *st)
{
    pthread_mutex_destroy(&st->lock);
}

void hn_status_observe(struct hn_status *st, hn_status_observer fn, void *data)
{
    st->observer = fn;
    st->observer_data = data;
}

static void notify(struct hn_status *st, int now)
{
    if (st->observer != NULL) {
        st->observer(st->observer_data, now);
    }
}

void hn_status_enable(struct hn_status *st, int enabled, size_t n_slots)
{
    pthread_mutex_lock(&st->lock);
    st->v.enabled = enabled;
    st->v.n_slots = n_slots < HN_STATUS_SLOTS ? n_slots : HN_STATUS_SLOTS;
    pthread_mutex_unlock(&st->lock);
}

void hn_status_stage(struct hn_status *st, const char *stage, enum hn_status_kind kind, long total,
                     long done)
{
    pthread_mutex_lock(&st->lock);
    hn_status_copy_text(st->v.stage, sizeof(st->v.stage), stage);
    st->v.kind = kind;
    st->v.note[0] = '\0';
    st->v.total = total;
    st->v.done = st->v.done_before = done;
    st->v.failed = 0;
    st->stage_start = hn_monotonic();
    int on = st->v.enabled;
    pthread_mutex_unlock(&st->lock);
    if (on) {
        notify(st, 1);
    }
}

void hn_status_note(struct hn_status *st, const char *note)
{
    pthread_mutex_lock(&st->lock);
    hn_status_copy_text(st->v.note, sizeof(st->v.note), note);
    int on = st->v.enabled;
    pthread_mutex_unlock(&st->lock);
    if (on) {
        notify(st, 1);
    }
}

void hn_status_trial_done(struct hn_status *st, int failed)
{
    pthread_mutex_lock(&st->lock);
    st->v.done++;
    st->v.failed += failed != 0;
    int on = st->v.enabled;
    pthread_mutex_unlock(&st->lock);
    if (on) {
        notify(st, 1);
    }
}

void hn_status_best(struct hn_status *st, int n_objectives, const char *metric, double best,
                    long best_trial, long frontier)
{
    pthread_mutex_lock(&st->lock);
    st->v.n_objectives = n_objectives;
    st->v.has_best = n_objectives == 1 ? best_trial >= 0 : frontier > 0;
    hn_status_copy_text(st->v.best_metric, sizeof(st->v.best_metric), metric);
    st->v.best = best;
    st->v.best_trial = best_trial;
    st->v.frontier = frontier;
    pthread_mutex_unlock(&st->lock);
}

void hn_status_end_stage(struct hn_status *st)
{
    pthread_mutex_lock(&st->lock);
    st->v.kind = HN_STATUS_IDLE;
    st->v.note[0] = '\0';
    int on = st->v.enabled;
    pthread_mutex_unlock(&st->lock);
    if (on) {
        notify(st, 1);
    }
}

struct hn_progress *hn_status_slot_begin(struct hn_status *st, int worker, long trial)
{
    struct hn_progress *p = NULL;
    pthread_mutex_lock(&st->lock);
    if (st->v.enabled && worker >= 0 && (size_t)worker < st->v.n_slots) {
        p = &st->v.slots[worker];
        p->trial = trial;
        p->activity[0] = p->unit[0] = '\0';
        p->done = p->total = 0;
    }
    pthread_mutex_unlock(&st->lock);
    if (p != NULL) {
        notify(st, 1);
    }
    return p;
}

void hn_status_slot_end(struct hn_progress *p)
{
    if (p == NULL) {
        return;
    }
    struct hn_status *st = p->owner;
    pthread_mutex_lock(&st->lock);
    p->trial = -1;
    p->activity[0] = p->unit[0] = '\0';
    pthread_mutex_unlock(&st->lock);
}

void hn_progress_update(struct hn_progress *p, const char *activity, const char *unit, long done,
                        long total)
{
    if (p == NULL) {
        return;
    }
    struct hn_status *st = p->owner;
    char act[HN_STATUS_TEXT], un[sizeof(p->unit)], stage[HN_STATUS_TEXT], text[256] = "";
    int debug = hn_log_get_level() >= HN_LOG_DEBUG;
    hn_status_copy_text(act, sizeof(act), activity ? activity : "");
    hn_status_copy_text(un, sizeof(un), unit ? unit : "");
    pthread_mutex_lock(&st->lock);
    int words = strcmp(act, p->activity) != 0 || strcmp(un, p->unit) != 0;
    memcpy(p->activity, act, sizeof(act));
    memcpy(p->unit, un, sizeof(un));
    p->done = done;
    p->total = total;
    memcpy(stage, st->v.stage, sizeof(stage));
    if (debug) {
        hn_progress_text(p, text, sizeof(text));
    }
    pthread_mutex_unlock(&st->lock);
    if (debug) {
        /* the core's line about the trial (it names it), not the instance's own */
        const char *instance = hn_log_context(NULL);
        hn_log(HN_LOG_DEBUG, "[%s] %s", stage, text);
        hn_log_context(instance);
    }
    notify(st, words);
}

void hn_progress_text(const struct hn_progress *p, char *buf, size_t size)
{
    int off;
    if (p->activity[0] != '\0') {
        off = snprintf(buf, size, "%s trial %ld", p->activity, p->trial);
    } else {
        off = snprintf(buf, size, "trial %ld", p->trial);
    }
    if (off < 0 || (size_t)off >= size || p->total <= 0) {
        return;
    }
    if (p->unit[0] != '\0') {
        snprintf(buf + off, size - (size_t)off, ", %s %ld/%ld", p->unit, p->done, p->total);
    } else {
        snprintf(buf + off, size - (size_t)off, ", %ld/%ld", p->done, p->total);
    }
}

void hn_status_snapshot(struct hn_status *st, struct hn_status_view *out)
{
    double now = hn_monotonic();
    pthread_mutex_lock(&st->lock);
    *out = st->v;
    out->stage_elapsed = st->v.kind != HN_STATUS_IDLE ? now - st->stage_start : 0;
    out->run_elapsed = now - st->run_start;
    pthread_mutex_unlock(&st->lock);
}
