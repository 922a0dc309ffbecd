/*
 * hilnas progress: what a long evaluation is doing right now, for the live status line.
 *
 * An oracle or evaluator receives a handle in hn_eval_request.progress and says what it is
 * doing, i of n, as it goes:
 *
 *     for (long s = 0; s < steps; s++) {
 *         hn_progress_update(req->progress, "training", "step", s + 1, steps);
 *         ...
 *     }
 *
 * `hilnas run` shows the latest update of every running trial on the stage's status line
 * ("training trial 17, step 20/30"); with --verbose each update is also one log line. Nothing
 * is printed by the plugin itself, and nothing needs a terminal: the command line decides how
 * (and whether) to show it.
 *
 * The handle may be NULL (nobody listens: `hilnas export`, a worker rank of the mpi executor,
 * whose progress stays on that rank; its finished trials still count on rank 0's line). Every
 * function here accepts NULL and then does nothing, so plugins never check.
 *
 * Thread safety: a handle belongs to one running evaluation; call it from the thread that runs
 * that evaluation (or any thread it starts, one at a time). Cheap enough to call every step:
 * it copies two short strings and two numbers under a mutex, and never blocks on output.
 */
#ifndef HILNAS_PROGRESS_H
#define HILNAS_PROGRESS_H

#ifdef __cplusplus
extern "C" {
#endif

struct hn_progress; /* owned by the core */

/*
 * Report the current activity of this evaluation: `activity` is a short verb phrase
 * ("training", "measuring", "computing importance"), `unit` what is counted ("step", "run",
 * "batch"; NULL or "" when nothing is), done of total (total <= 0: unknown, only the activity
 * is shown). Strings are copied (truncated to about 60 bytes; control characters are not
 * printed). p may be NULL.
 */
void hn_progress_update(struct hn_progress *p, const char *activity, const char *unit, long done,
                        long total);

#ifdef __cplusplus
}
#endif
#endif
