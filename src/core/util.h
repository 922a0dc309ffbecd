/* hilnas core internals: small helpers (not installed). */
#ifndef HILNAS_CORE_UTIL_H
#define HILNAS_CORE_UTIL_H

#include <stddef.h>
#include <stdio.h>

#include "hilnas/error.h"

/* Time, paths, atomic files, hn_strerror: the public part (plugins use it). */
#include "hilnas/util.h"

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

/* s as man(7) text on out: '\\' as \e, '-' as \- (a real hyphen-minus, so options can be
 * copied from the page), newlines as spaces, a leading '.' or '\'' guarded by \&. */
void hn_roff_text(const char *s, FILE *out);

#endif
