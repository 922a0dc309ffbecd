/*
 * hilnas randomness: one seeded PRNG (xoshiro256**, seeded through splitmix64).
 *
 * Streams are derived, never shared: hn_rng_derive(seed, stream) gives an independent seed for
 * a named purpose (a stage, a trial id), so results do not depend on call order or on resume.
 * Thread safety: an hn_rng is a plain value; one per thread.
 */
#ifndef HILNAS_RNG_H
#define HILNAS_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct hn_rng {
    uint64_t s[4];
};

void hn_rng_seed(struct hn_rng *rng, uint64_t seed);
/* A new seed from (seed, stream): splitmix64 mixing of both. */
uint64_t hn_rng_derive(uint64_t seed, uint64_t stream);
/* Hash of a string, for deriving streams from names (FNV-1a 64). */
uint64_t hn_rng_hash(const char *s);
uint64_t hn_rng_next(struct hn_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
double hn_rng_uniform(struct hn_rng *rng);
/* Uniform integer in [0, n) without modulo bias; n >= 1. */
uint64_t hn_rng_below(struct hn_rng *rng, uint64_t n);
/* Standard normal (Box-Muller, no cached state). */
double hn_rng_normal(struct hn_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
