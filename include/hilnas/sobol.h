/*
 * hilnas Sobol sequences, optionally scrambled.
 *
 * Direction numbers: Joe & Kuo, new-joe-kuo-6.21201 (the table used by SciPy and PyTorch), for
 * up to HN_SOBOL_MAX_DIM dimensions; dimension 1 is the van der Corput sequence. Points are
 * generated in Gray-code order with HN_SOBOL_BITS-bit integers, so every coordinate is a
 * multiple of 2^-52 in [0, 1) and the sequence has 2^52 distinct points. Unscrambled, the
 * sequence starts at the origin and matches SciPy's qmc.Sobol(d, scramble=False) exactly
 * (0, 0.5, 0.75/0.25, ...). Scrambling follows scipy.stats.qmc.Sobol: a random lower-triangular
 * binary matrix with a unit diagonal applied to each dimension's direction numbers (linear
 * matrix scrambling) plus a random digital shift, drawn from hn_rng seeded with the seed. The
 * points therefore differ from SciPy's (another random stream) but keep the same properties:
 * the first 2^m points stratify every coordinate into 2^m equal intervals and every 2-D
 * projection keeps the t-value of the unscrambled sequence.
 *
 * Ownership: hn_sobol_new() returns an object the caller frees with hn_sobol_free().
 * Thread safety: one object per thread; distinct objects are independent.
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

/*
 * A Sobol sequence of dim dimensions (1..HN_SOBOL_MAX_DIM), scrambled when scramble is nonzero
 * (seed then determines the scrambling; ignored otherwise). Returns the object, or NULL with
 * err set (dimension out of range, out of memory).
 */
struct hn_sobol *hn_sobol_new(size_t dim, int scramble, uint64_t seed, struct hn_error *err);
/* Free the object; NULL is allowed. */
void hn_sobol_free(struct hn_sobol *sobol);
/* Write the next point into u[0..dim-1] (caller's array), each in [0, 1). O(dim). */
void hn_sobol_next(struct hn_sobol *sobol, double *u);
/* Skip n points, as if hn_sobol_next() had been called n times. O(dim * 52). */
void hn_sobol_skip(struct hn_sobol *sobol, uint64_t n);
/* The number of dimensions given to hn_sobol_new(). */
size_t hn_sobol_dim(const struct hn_sobol *sobol);

#ifdef __cplusplus
}
#endif
#endif
