/*
 * hilnas error reporting.
 *
 * Every public function of hilnas returns 0 / -1 (or a pointer / NULL) and, on failure, fills a
 * caller-owned struct hn_error with one sentence a user can act on: what failed, where
 * (file:line:col, key path, trial id) and what to do. Callers add context on the way up with
 * hn_error_prefix() ("optimizer gpbo: ..."), so the innermost code never needs to know who
 * called it.
 *
 * Thread safety: an hn_error is a plain value; use one per thread.
 */
#ifndef HILNAS_ERROR_H
#define HILNAS_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HN_ERROR_MAX 2048

/* Exit codes of the hilnas command line. */
#define HN_EXIT_OK 0
#define HN_EXIT_FAILURE 1 /* runtime failure */
#define HN_EXIT_USAGE 2   /* usage or configuration error */

enum hn_error_kind {
    HN_ERR_NONE = 0,
    HN_ERR_RUNTIME, /* something failed while running (I/O, numerics, a plugin) */
    HN_ERR_CONFIG,  /* the user's input is wrong (study file, option, command line) */
    /*
     * The environment failed, not the candidate: a trial directory cannot be created (disk or
     * inodes full), the backbone or the data of an evaluator are missing or broken, a device
     * is unreachable. An evaluate() that returns -1 with this kind does not count as a failed
     * trial: the core stops the study with the message (exit 1), the trial is not recorded as
     * failed, and a later run resumes it. Only failures of the candidate itself (it does not
     * fit, it diverged, it timed out) are HN_ERR_RUNTIME.
     */
    HN_ERR_ENVIRONMENT,
};

struct hn_error {
    enum hn_error_kind kind;
    char msg[HN_ERROR_MAX];
    /*
     * Length of the "WHERE: " that hn_error_set() and its siblings wrote at the start of msg
     * (0: none, or context was prefixed since). The core puts the identity of the plugin
     * instance that failed right after it ("study.yaml:4:9: oracle 'host': ..."), so plugins
     * never name themselves. Set by the functions below; code that writes msg directly
     * leaves it 0 with hn_error_clear() first.
     */
    size_t where_len;
};

#if defined(__GNUC__)
#define HN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define HN_PRINTF(a, b)
#endif

/*
 * Set err (if not NULL) to a runtime error. where may be NULL; otherwise it is printed first,
 * followed by ": " (e.g. "study.yaml:14:5" or "trial 12"). Always returns -1 so that
 * `return hn_error_set(err, ...)` reads naturally.
 */
int hn_error_set(struct hn_error *err, const char *where, const char *fmt, ...) HN_PRINTF(3, 4);

/* Same as hn_error_set() but marks the error as a configuration error (exit code 2). */
int hn_error_config(struct hn_error *err, const char *where, const char *fmt, ...) HN_PRINTF(3, 4);

/* Same as hn_error_set() but marks the error as a failure of the environment (see
 * HN_ERR_ENVIRONMENT): the study stops instead of recording a failed trial. */
int hn_error_env(struct hn_error *err, const char *where, const char *fmt, ...) HN_PRINTF(3, 4);

/* Prepend context to an already-set message: "<prefix>: <old message>". Keeps the kind;
 * where_len becomes 0 (the position is no longer first). */
void hn_error_prefix(struct hn_error *err, const char *fmt, ...) HN_PRINTF(2, 3);

/* Prepend context that starts with a position: "<where>: <prefix>: <old message>". Keeps the
 * kind; where stays the error's position (where_len), so the core's identity of the plugin
 * instance goes right after it. */
void hn_error_prefix_at(struct hn_error *err, const char *where, const char *fmt, ...)
    HN_PRINTF(3, 4);

/* Reset err to "no error". */
void hn_error_clear(struct hn_error *err);

/* Exit code for err: HN_EXIT_USAGE for configuration errors, HN_EXIT_FAILURE otherwise. */
int hn_error_exit_code(const struct hn_error *err);

#ifdef __cplusplus
}
#endif
#endif
