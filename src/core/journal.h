/*
 * hilnas core internals: the study journal, STUDY_DIR/journal.jsonl. Not installed.
 *
 * Append-only JSON Lines: every event is one line, written with a single write() and, for
 * events that matter (every event but "started"), fsync'ed before anyone is told. A crash can
 * leave a torn last line (no newline): replay tolerates it, reports it, and (when opened for
 * writing) truncates it away. A power loss can also leave NUL bytes where unsynced data never
 * reached the disk (at the tail, or inside the last block with intact events after them).
 * Complete events among NUL bytes are recovered. Damaged lines (NUL bytes, garbage) that no
 * synced event follows are what a power loss leaves: they are reported with their line numbers,
 * moved to STUDY_DIR/journal.damaged and the journal is rewritten atomically without them.
 * Damage followed by a synced event may have destroyed a recorded trial: opening is refused,
 * naming the lines, unless the caller asks to repair (--repair-journal).
 *
 * One writer per study: hn_journal_open() takes an fcntl lock on STUDY_DIR/lock (released by
 * the kernel when the process dies, even by SIGKILL); a second process is refused.
 */
#ifndef HILNAS_CORE_JOURNAL_H
#define HILNAS_CORE_JOURNAL_H

#include <jansson.h>

#include "hilnas/error.h"

#define HN_JOURNAL_FILE "journal.jsonl"
#define HN_JOURNAL_FORMAT "hilnas-journal"
#define HN_JOURNAL_VERSION 1

struct hn_journal;

/* Called for each event in order; line is 1-based. Return 0 to go on, -1 (err set) to stop. */
typedef int (*hn_journal_event_fn)(json_t *event, long line, void *data, struct hn_error *err);

/*
 * Create STUDY_DIR if needed, lock it, replay existing events through fn (may be NULL), drop
 * a torn last line (reported with hn_log as a warning), and open for appending. NULL with err:
 * locked by another process (its pid), damaged journal (line), I/O errors.
 */
struct hn_journal *hn_journal_open(const char *dir, hn_journal_event_fn fn, void *data,
                                   struct hn_error *err);

/* Same, and with repair set, damaged lines followed by synced events are quarantined too
 * (warned) instead of refused. */
struct hn_journal *hn_journal_open_repair(const char *dir, hn_journal_event_fn fn, void *data,
                                          int repair, struct hn_error *err);

/* Append one event (borrowed) as one line; fsync it when sync is set. */
int hn_journal_append(struct hn_journal *journal, const json_t *event, int sync,
                      struct hn_error *err);

/* Number of events in the journal (replayed + appended). */
long hn_journal_events(const struct hn_journal *journal);

void hn_journal_close(struct hn_journal *journal);

/*
 * Read STUDY_DIR/journal.jsonl without locking or modifying it (for `hilnas show`); *torn is
 * set to 1 when a torn last line was skipped.
 */
int hn_journal_read(const char *dir, hn_journal_event_fn fn, void *data, int *torn,
                    struct hn_error *err);

/* What hn_journal_read_status() found besides the events. */
struct hn_journal_status {
    int torn;                 /* a torn last line was skipped */
    long damaged;             /* damaged lines skipped (warned with their numbers) */
    long first_damaged;       /* line of the first, or 0 */
    long synced_after_damage; /* line of a synced event after the damage (an acknowledged
                               * event may be missing), or 0 */
};

/* Read-only replay that skips damaged lines (warning with their numbers) instead of failing. */
int hn_journal_read_status(const char *dir, hn_journal_event_fn fn, void *data,
                           struct hn_journal_status *st, struct hn_error *err);

#endif
