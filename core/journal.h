/*
 * hilnas core internals: the study journal, STUDY_DIR/journal.jsonl. Not installed.
 *
 * Append-only JSON Lines: every event is one line, written with a single write() and, for
 * events that matter (a finished trial), fsync'ed before anyone is told. A crash can only
 * leave a torn last line (no newline): replay tolerates it, reports it, and (when opened for
 * writing) truncates it away. A damaged line elsewhere is an error naming the line.
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

#endif
