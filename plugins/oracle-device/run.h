/*
 * Running one external command for the device oracle, safely from any thread:
 *
 * - no shell unless the caller asks for one (argv is executed as given);
 * - the command inherits only stdin (/dev/null), stdout (a pipe read here) and stderr (a pipe
 *   copied to a log file); every descriptor of hilnas is closed before exec, and every
 *   descriptor made here is close-on-exec, so a command never holds a sibling's pipe;
 * - it runs in a process group of its own under a tiny supervisor process that kills the whole
 *   group when hilnas dies (PR_SET_PDEATHSIG), so no command outlives a SIGKILL of hilnas;
 * - past its timeout, or when the study is interrupted, the whole group is killed.
 */
#ifndef HILNAS_PLUGINS_DEVICE_RUN_H
#define HILNAS_PLUGINS_DEVICE_RUN_H

#include <stddef.h>

#include "hilnas/error.h"

struct hn_run_spec {
    const char *path;  /* the program (a path: no PATH search here) */
    char *const *argv; /* its arguments, argv[0] first, NULL-terminated */
    char *const *envp; /* its environment, NULL-terminated */
    double timeout_s;  /* the whole group is killed after this long */
    const char *log;   /* standard error is copied here (truncated first) */
    size_t log_max;    /* at most this many bytes of it; then a note of what was dropped */
    const char *what;  /* "trial 12", for messages */
    /* polled about 10 times a second; non-zero stops the command (SIGTERM, then SIGKILL) */
    int (*interrupted)(void);
};

struct hn_run_result {
    char *out; /* standard output (its last 1 MiB), NUL-terminated, malloc'ed */
    size_t out_len;
    int status;         /* the command's wait status (as waitpid) */
    char err_tail[512]; /* the last non-blank line of its standard error */
};

/*
 * Run the command to its end. 0 with res filled (any exit status), or -1 with err: it could not
 * start (HN_ERR_ENVIRONMENT), ran past its timeout (killed), or was interrupted
 * (HN_ERR_ENVIRONMENT: the trial is measured again on resume).
 */
int hn_run_command(const struct hn_run_spec *spec, struct hn_run_result *res, struct hn_error *err);

#endif
