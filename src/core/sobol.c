/*
 * hilnas: Sobol sequences with Joe-Kuo direction numbers, Gray-code order, optional linear
 * matrix scrambling + digital shift (as scipy.stats.qmc.Sobol). See include/hilnas/sobol.h.
 *
 * Points are HN_SOBOL_BITS-bit binary fractions: bit (BITS-1-k) of direction number v[k] is
 * the leading bit of the k-th column of the generator matrix.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/sobol_directions.h"
#include "hilnas/rng.h"
#include "hilnas/sobol.h"

#define BITS HN_SOBOL_BITS

struct hn_sobol {
    size_t dim;
    uint64_t index;  /* index of the next point */
    uint64_t *v;     /* dim x BITS direction numbers (scrambled if asked) */
    uint64_t *shift; /* dim: digital shift (0 when not scrambled) */
    uint64_t *x;     /* dim: current state = point index-1, before scaling */
};

/* Direction numbers of one dimension (0-based) into v[0..BITS-1]. */
static void directions(size_t d, uint64_t *v)
{
    if (d == 0) {
        for (int k = 0; k < BITS; k++) {
            v[k] = (uint64_t)1 << (BITS - 1 - k);
        }
        return;
    }
    const struct hn_sobol_direction *dir = &hn_sobol_directions[d];
    uint32_t poly = dir->poly;
    int s = 0;
    while ((poly >> (s + 1)) != 0) {
        s++;
    }
    uint32_t a = (poly - (1u << s) - 1u) >> 1;
    for (int k = 0; k < s && k < BITS; k++) {
        v[k] = (uint64_t)dir->m[k] << (BITS - 1 - k);
    }
    for (int k = s; k < BITS; k++) {
        uint64_t value = v[k - s] ^ (v[k - s] >> s);
        for (int j = 1; j < s; j++) {
            if ((a >> (s - 1 - j)) & 1u) {
                value ^= v[k - j];
            }
        }
        v[k] = value;
    }
}

static int parity64(uint64_t x)
{
    return __builtin_parityll(x);
}

struct hn_sobol *hn_sobol_new(size_t dim, int scramble, uint64_t seed, struct hn_error *err)
{
    if (dim < 1 || dim > HN_SOBOL_MAX_DIM) {
        hn_error_set(err, NULL,
                     "Sobol sequence: dimension %zu is outside 1..%d (the Joe-Kuo directions "
                     "shipped); use fewer parameters or uniform random points",
                     dim, HN_SOBOL_MAX_DIM);
        return NULL;
    }
    struct hn_sobol *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    s->dim = dim;
    s->v = calloc(dim * BITS, sizeof(uint64_t));
    s->shift = calloc(dim, sizeof(uint64_t));
    s->x = calloc(dim, sizeof(uint64_t));
    if (s->v == NULL || s->shift == NULL || s->x == NULL) {
        hn_sobol_free(s);
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    struct hn_rng rng;
    hn_rng_seed(&rng, seed);
    const uint64_t mask = ((uint64_t)1 << BITS) - 1;
    for (size_t d = 0; d < dim; d++) {
        uint64_t *v = s->v + d * BITS;
        directions(d, v);
        if (!scramble) {
            continue;
        }
        /*
         * Linear matrix scramble: v'_k = L v_k with L lower triangular (in the order of bit
         * significance) with a unit diagonal and random entries below it. Row i of L acts on
         * bit i (counted from the most significant): it XORs bit i with a random subset of
         * the more significant bits.
         */
        uint64_t rows[BITS];
        for (int i = 0; i < BITS; i++) {
            uint64_t above = i == 0 ? 0 : ((mask >> (BITS - i)) << (BITS - i)) & mask;
            rows[i] = ((uint64_t)1 << (BITS - 1 - i)) | (hn_rng_next(&rng) & above);
        }
        for (int k = 0; k < BITS; k++) {
            uint64_t out = 0;
            for (int i = 0; i < BITS; i++) {
                out |= (uint64_t)parity64(rows[i] & v[k]) << (BITS - 1 - i);
            }
            v[k] = out;
        }
        s->shift[d] = hn_rng_next(&rng) & mask;
        s->x[d] = s->shift[d];
    }
    return s;
}

void hn_sobol_free(struct hn_sobol *s)
{
    if (s == NULL) {
        return;
    }
    free(s->v);
    free(s->shift);
    free(s->x);
    free(s);
}

size_t hn_sobol_dim(const struct hn_sobol *s)
{
    return s->dim;
}

void hn_sobol_next(struct hn_sobol *s, double *u)
{
    const double scale = 1.0 / (double)((uint64_t)1 << BITS);
    if (s->index > 0) {
        /* Gray code: point n differs from point n-1 by the direction of n-1's lowest 0 bit */
        int c = __builtin_ctzll(~(s->index - 1));
        if (c >= BITS) {
            c = BITS - 1; /* past 2^52 points the sequence repeats; harmless in practice */
        }
        for (size_t d = 0; d < s->dim; d++) {
            s->x[d] ^= s->v[d * BITS + (size_t)c];
        }
    }
    for (size_t d = 0; d < s->dim; d++) {
        u[d] = (double)s->x[d] * scale;
    }
    s->index++;
}

void hn_sobol_skip(struct hn_sobol *s, uint64_t n)
{
    if (n == 0) {
        return;
    }
    /* the state after skipping is the point of index (index + n - 1): XOR of the directions
     * selected by the Gray code of that index */
    uint64_t target = s->index + n - 1;
    uint64_t gray = target ^ (target >> 1);
    for (size_t d = 0; d < s->dim; d++) {
        uint64_t x = s->shift[d];
        for (int k = 0; k < BITS && (gray >> k) != 0; k++) {
            if ((gray >> k) & 1) {
                x ^= s->v[d * BITS + (size_t)k];
            }
        }
        s->x[d] = x;
    }
    /* the state holds point `target`; next() steps to point target + 1 and emits it */
    s->index = target + 1;
}
