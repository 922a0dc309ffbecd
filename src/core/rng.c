/* hilnas: the seeded PRNG (xoshiro256** by Blackman and Vigna, seeded with splitmix64). */
#include "config.h"

#include <math.h>

#include "hilnas/rng.h"

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void hn_rng_seed(struct hn_rng *rng, uint64_t seed)
{
    uint64_t s = seed;
    for (int i = 0; i < 4; i++) {
        rng->s[i] = splitmix64(&s);
    }
}

uint64_t hn_rng_derive(uint64_t seed, uint64_t stream)
{
    uint64_t s = seed ^ 0x6a09e667f3bcc909ULL;
    uint64_t a = splitmix64(&s);
    s = a ^ (stream * 0xd1b54a32d192ed03ULL + 0x2545f4914f6cdd1dULL);
    return splitmix64(&s);
}

uint64_t hn_rng_hash(const char *str)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *c = (const unsigned char *)str; *c; c++) {
        h ^= *c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t hn_rng_next(struct hn_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double hn_rng_uniform(struct hn_rng *rng)
{
    return (double)(hn_rng_next(rng) >> 11) * 0x1.0p-53;
}

uint64_t hn_rng_below(struct hn_rng *rng, uint64_t n)
{
    if (n == 0) {
        return 0; /* outside the contract; answer 0 rather than divide by zero */
    }
    /* accept x below the largest multiple of n that fits (limit = q n): x % n is then
     * uniform; the rejection probability is below 1/2 and tiny for small n */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = hn_rng_next(rng);
    } while (x >= limit);
    return x % n;
}

double hn_rng_normal(struct hn_rng *rng)
{
    /* Box-Muller, cosine branch only; u1 = 0 (probability 2^-53) is clamped away from log 0 */
    double u1 = hn_rng_uniform(rng);
    double u2 = hn_rng_uniform(rng);
    if (u1 < 0x1.0p-60) {
        u1 = 0x1.0p-60;
    }
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
