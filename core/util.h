/* hilnas core internals: small helpers (not installed). */
#ifndef HILNAS_CORE_UTIL_H
#define HILNAS_CORE_UTIL_H

#include <stddef.h>

#include "hilnas/error.h"

/* Wall-clock time in seconds since the epoch (microsecond resolution). */
double hn_now(void);
/* Monotonic seconds, for durations. */
double hn_monotonic(void);
/* mkdir -p; 0 or -1 with err naming the path. */
int hn_mkdir_p(const char *path, struct hn_error *err);
/* malloc'ed "a/b"; NULL on out of memory. */
char *hn_path_join(const char *a, const char *b);
/* strdup that accepts NULL (returns NULL). */
char *hn_strdup(const char *s);
/* malloc'ed printf; NULL on out of memory. */
char *hn_strdup_printf(const char *fmt, ...) HN_PRINTF(1, 2);
/*
 * Duplicate detection in O(n log n): if two of names[0..n) are equal, returns the index of the
 * second occurrence that comes first (in index order) and sets *first to the index of the
 * earliest equal name; -1 when all are distinct (or out of memory: then *first = -1 too and
 * the caller may fall back; n = 0 is fine).
 */
long hn_find_duplicate(const char *const *names, size_t n, long *first);
/* fsync a directory (after creating/renaming a file in it); 0 or -1 with err. */
int hn_fsync_dir(const char *dir, struct hn_error *err);
/* strerror() for any thread: the message of errnum in a buffer of the calling thread (valid
 * until its next call). strerror() itself may share one buffer between threads. */
const char *hn_strerror(int errnum);
/* Write a whole file atomically (tmp + fsync + rename); 0 or -1 with err. */
int hn_write_file_atomic(const char *path, const char *data, size_t len, struct hn_error *err);

#endif
