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

/* Seed the generator: its 256-bit state is four splitmix64 outputs from seed. Any seed works. */
void hn_rng_seed(struct hn_rng *rng, uint64_t seed);
/*
 * A new seed from (seed, stream), splitmix64 mixing of both: hn_rng_seed(rng,
 * hn_rng_derive(study_seed, trial_id)) gives a stream per purpose that does not depend on the
 * order of calls. Pure function.
 */
uint64_t hn_rng_derive(uint64_t seed, uint64_t stream);
/* FNV-1a 64 hash of a NUL-terminated string, for deriving streams from names. Pure function. */
uint64_t hn_rng_hash(const char *s);
/* Next 64 random bits (xoshiro256**, Blackman and Vigna). */
uint64_t hn_rng_next(struct hn_rng *rng);
/* Uniform in [0, 1): the top 53 bits of one hn_rng_next() times 2^-53. */
double hn_rng_uniform(struct hn_rng *rng);
/* Uniform integer in [0, n) without modulo bias (rejection); n >= 1 (n = 0 returns 0). */
uint64_t hn_rng_below(struct hn_rng *rng, uint64_t n);
/* Standard normal (Box-Muller from two uniforms, no cached state). */
double hn_rng_normal(struct hn_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
