/*
 * hilnas run: the live status line (tools/ only; the core keeps the status, core/progress.h).
 *
 * On a terminal (stderr is a tty and TERM is not "dumb"): one line per running stage, redrawn
 * in place ("\r", then the text, then "\033[K" to erase what is left of the old one) at each
 * change worth seeing at once and every quarter second: the stage, done/total trials (failed),
 * elapsed, the ETA from the trials this process finished in the stage, the best value (one
 * objective) or the Pareto-set size, and what each running trial is doing. Log lines erase it,
 * print, and draw it again below them, so it is always the last line.
 * Elsewhere (a file, a pipe, CI): no control characters at all; a plain progress line at most
 * every HILNAS_PROGRESS_INTERVAL seconds (default 30; 0: at every change) while a stage runs,
 * besides the log.
 * HILNAS_PROGRESS=tty|plain|off forces a mode.
 */
#ifndef HILNAS_TOOLS_PROGRESS_H
#define HILNAS_TOOLS_PROGRESS_H

#include <stddef.h>

#include "core/progress.h"

enum hn_verbosity {
    HN_VERBOSITY_QUIET,   /* problems only: errors and warnings (the command prints its final
                           * summary on stdout) */
    HN_VERBOSITY_NORMAL,  /* info: stages, one line per trial, the status line */
    HN_VERBOSITY_VERBOSE, /* and every progress update of every trial, as a log line */
};

/* Set the log level for v (before anything logs). */
void hn_cli_set_verbosity(enum hn_verbosity v);

struct hn_cli_progress;

/*
 * Start showing st on stderr (nothing for HN_VERBOSITY_QUIET or HILNAS_PROGRESS=off: returns
 * NULL, which hn_cli_progress_stop accepts). Routes the log through the status line and
 * observes st; starts one thread. Call before the study runs.
 */
struct hn_cli_progress *hn_cli_progress_start(struct hn_status *st, enum hn_verbosity v);

/* Erase the status line, stop the thread, give the log back to stderr; p may be NULL. */
void hn_cli_progress_stop(struct hn_cli_progress *p);

/* The status as one line of text, without control characters (for tests and plain mode):
 * "[search] 7/10 trials (1 failed), 1m02s, ETA 40s, frontier 4 | training trial 17, step
 * 20/30". "" when no stage runs. */
void hn_cli_status_text(const struct hn_status_view *v, char *buf, size_t size);

#endif
