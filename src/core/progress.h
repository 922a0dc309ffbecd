/*
 * hilnas core internals: the live status of a running study, for the command line's status
 * line (tools/progress.c renders it). Not installed; plugins see only include/hilnas/progress.h.
 *
 * The runner thread records stages and finished trials; evaluations (any worker thread) record
 * their activity through their struct hn_progress slot. Everything is under one mutex. After
 * each change the observer (set by the command line) is called, outside the mutex, with
 * now = 1 for changes worth drawing at once (a stage or trial began or ended, an activity
 * changed its words) and 0 for a counter that moved (the observer may wait for its next tick).
 * A renderer reads a consistent copy with hn_status_snapshot().
 */
#ifndef HILNAS_CORE_PROGRESS_H
#define HILNAS_CORE_PROGRESS_H

#include <pthread.h>
#include <stddef.h>

#include "hilnas/progress.h"

#define HN_STATUS_TEXT 64
#define HN_STATUS_SLOTS 8 /* running trials shown at most */

enum hn_status_kind { HN_STATUS_IDLE, HN_STATUS_SEARCH, HN_STATUS_FIT, HN_STATUS_VERIFY };

/* One running evaluation (a worker of the executor). */
struct hn_progress {
    struct hn_status *owner;
    long trial; /* -1: idle */
    char activity[HN_STATUS_TEXT];
    char unit[24];
    long done, total;
    int changed; /* 1 once the activity words changed since the last update */
};

typedef void (*hn_status_observer)(void *data, int now);

/* What the status line shows; also the copy a renderer gets (no pointers into the status). */
struct hn_status_view {
    int enabled; /* 0: updates are dropped (worker ranks, before the run) */
    enum hn_status_kind kind;
    char stage[HN_STATUS_TEXT];
    char note[2 * HN_STATUS_TEXT]; /* what a stage without trials does ("fitting oracle ...") */
    long total;       /* trials the stage runs in all (search: its target; verify: the set) */
    long done;        /* of them finished (complete or failed), resumed ones included */
    long failed;      /* of them failed */
    long done_before; /* finished before this process began the stage (resume) */
    double stage_elapsed, run_elapsed; /* seconds (filled by hn_status_snapshot) */
    /* best feasible value (one objective) or Pareto-set size (several), over the study's
     * complete trials; has_best 0 while there is none */
    int n_objectives, has_best;
    char best_metric[HN_STATUS_TEXT];
    double best;
    long best_trial, frontier;
    size_t n_slots;
    struct hn_progress slots[HN_STATUS_SLOTS];
};

struct hn_status {
    pthread_mutex_t lock;
    struct hn_status_view v;
    double stage_start, run_start; /* monotonic seconds */
    hn_status_observer observer;
    void *observer_data;
};

void hn_status_init(struct hn_status *st);
void hn_status_destroy(struct hn_status *st);

/* The command line's observer; set before the run starts (not thread-safe against updates). */
void hn_status_observe(struct hn_status *st, hn_status_observer fn, void *data);

/* Runner thread. */
void hn_status_enable(struct hn_status *st, int enabled, size_t n_slots);
void hn_status_stage(struct hn_status *st, const char *stage, enum hn_status_kind kind, long total,
                     long done);
void hn_status_note(struct hn_status *st, const char *note);
void hn_status_trial_done(struct hn_status *st, int failed);
void hn_status_best(struct hn_status *st, int n_objectives, const char *metric, double best,
                    long best_trial, long frontier);
void hn_status_end_stage(struct hn_status *st);

/* The slot of worker w for trial `trial` (NULL when disabled or w is out of range); release it
 * with hn_status_slot_end when the evaluation returns. */
struct hn_progress *hn_status_slot_begin(struct hn_status *st, int worker, long trial);
void hn_status_slot_end(struct hn_progress *p);

/* A consistent copy of the status; also callable from the observer. */
void hn_status_snapshot(struct hn_status *st, struct hn_status_view *out);

/* "training trial 17, step 20/30" (or "trial 17" while nothing was reported) into buf. */
void hn_progress_text(const struct hn_progress *p, char *buf, size_t size);

/* Copy src into dst (size bytes) with control characters (and DEL) replaced by '?'. */
void hn_status_copy_text(char *dst, size_t size, const char *src);

#endif
