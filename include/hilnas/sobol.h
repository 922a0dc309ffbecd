/*
 * hilnas Sobol sequences, optionally scrambled.
 *
 * Direction numbers: Joe & Kuo, new-joe-kuo-6.21201 (the table used by SciPy and PyTorch), for
 * up to HN_SOBOL_MAX_DIM dimensions. Unscrambled, the sequence starts at the origin and matches
 * the published points (0, 0.5, 0.75/0.25, ...). Scrambling is a random linear matrix scramble
 * plus a random digital shift (as scipy.stats.qmc.Sobol and torch.quasirandom.SobolEngine do),
 * determined by the seed.
 *
 * Ownership: hn_sobol_new() returns an object the caller frees with hn_sobol_free().
 * Thread safety: one object per thread.
 */
#ifndef HILNAS_SOBOL_H
#define HILNAS_SOBOL_H

#include <stddef.h>
#include <stdint.h>

#include "hilnas/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HN_SOBOL_MAX_DIM 1024 /* Joe-Kuo dimensions shipped in core/sobol_directions.c */
#define HN_SOBOL_BITS 52

struct hn_sobol;

/* dim in 1..HN_SOBOL_MAX_DIM; scramble 0/1; seed used when scrambling. NULL with err. */
struct hn_sobol *hn_sobol_new(size_t dim, int scramble, uint64_t seed, struct hn_error *err);
void hn_sobol_free(struct hn_sobol *sobol);
/* Next point into u[0..dim-1], each in [0, 1). */
void hn_sobol_next(struct hn_sobol *sobol, double *u);
/* Skip n points (O(dim * log n) via Gray code jump). */
void hn_sobol_skip(struct hn_sobol *sobol, uint64_t n);
size_t hn_sobol_dim(const struct hn_sobol *sobol);

#ifdef __cplusplus
}
#endif
#endif
