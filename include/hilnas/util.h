/*
 * hilnas/util.h: time, path and file helpers for plugins and the engine (installed; part of
 * libhilnas, so a plugin linked with `pkg-config --libs hilnas-plugin` has them).
 *
 * Every function is thread safe. Functions that can fail return 0 or -1 and fill err with a
 * message naming the path and the system's reason (see hilnas/error.h); a failure of the file
 * system is an environment error (hn_error_env: the study stops and is resumed later) only
 * when the caller says so, these helpers report HN_ERR_RUNTIME.
 */
#ifndef HILNAS_UTIL_H
#define HILNAS_UTIL_H

#include <stddef.h>

#include "hilnas/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Wall-clock time in seconds since the epoch (microsecond resolution): for timestamps. */
double hn_now(void);

/* Monotonic seconds since an arbitrary start: for durations (never goes back). */
double hn_monotonic(void);

/* mkdir -p path (mode 0777 before the umask); existing directories are fine. 0 or -1 with
 * err naming the path. */
int hn_mkdir_p(const char *path, struct hn_error *err);

/* "a/b" in a new malloc'ed string ('/' added unless a is empty or ends with one); NULL on out
 * of memory. The caller frees it. */
char *hn_path_join(const char *a, const char *b);

/* fsync a directory, so that a file created or renamed in it survives a crash; 0 or -1. */
int hn_fsync_dir(const char *dir, struct hn_error *err);

/*
 * Write len bytes of data to path atomically and durably: a temporary file in the same
 * directory, fsync, rename over path, fsync of the directory. Readers see the old or the new
 * content, never a part, and once it returns 0 the new content survives a crash or power loss.
 * 0 or -1 with err naming the path.
 */
int hn_write_file_atomic(const char *path, const char *data, size_t len, struct hn_error *err);

/*
 * hn_write_file_atomic without the two fsyncs, for files that can be regenerated (outputs
 * derived from a journal, caches, inputs of a child process): readers still see the old or the
 * new content, never a part, but a crash of the machine (not of the process) may leave the old
 * content or an empty file. Much cheaper on a busy disk. 0 or -1 with err naming the path.
 */
int hn_write_file_replace(const char *path, const char *data, size_t len, struct hn_error *err);

/* strerror() for any thread: the message of errnum in a buffer of the calling thread, valid
 * until the thread's next call (strerror() itself may share one buffer between threads). */
const char *hn_strerror(int errnum);

#ifdef __cplusplus
}
#endif
#endif
