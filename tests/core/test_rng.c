/* PRNG: reference outputs, uniformity, bounded integers, normal moments, stream derivation. */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>

#include "hilnas/rng.h"

/* splitmix64 and xoshiro256** written again, plainly, from Vigna's reference code. */
static uint64_t ref_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

Test(rng, matches_published_reference_outputs)
{
    /* splitmix64 from state 0: 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f,
     * 0xf88bb8a8724c81ec (outputs of Vigna's splitmix64.c, as several test suites record them);
     * hn_rng_seed(0) fills the xoshiro state with exactly these. */
    static const uint64_t splitmix_from_0[4] = {0xe220a8397b1dcdafULL, 0x6e789e6aa1b965f4ULL,
                                                0x06c45d188009454fULL, 0xf88bb8a8724c81ecULL};
    struct hn_rng rng;
    hn_rng_seed(&rng, 0);
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(rng.s[i], splitmix_from_0[i], "state word %d: %#llx", i,
                     (unsigned long long)rng.s[i]);
    }
    /* xoshiro256** from the state {1, 2, 3, 4}: the ten values the rand_xoshiro crate's
     * reference test took from Blackman and Vigna's xoshiro256starstar.c */
    static const uint64_t from_1234[10] = {
        11520ULL,
        0ULL,
        1509978240ULL,
        1215971899390074240ULL,
        1216172134540287360ULL,
        607988272756665600ULL,
        16172922978634559625ULL,
        8476171486693032832ULL,
        10595114339597558777ULL,
        2904607092377533576ULL,
    };
    rng.s[0] = 1;
    rng.s[1] = 2;
    rng.s[2] = 3;
    rng.s[3] = 4;
    for (int i = 0; i < 10; i++) {
        uint64_t x = hn_rng_next(&rng);
        cr_expect_eq(x, from_1234[i], "output %d: %llu, published %llu", i, (unsigned long long)x,
                     (unsigned long long)from_1234[i]);
    }
    /* FNV-1a 64: offset basis for "", and the FNV test-suite values for "a" and "foobar" */
    cr_expect_eq(hn_rng_hash(""), 0xcbf29ce484222325ULL);
    cr_expect_eq(hn_rng_hash("a"), 0xaf63dc4c8601ec8cULL);
    cr_expect_eq(hn_rng_hash("foobar"), 0x85944171f73967e8ULL);
}

Test(rng, matches_the_reference_algorithm)
{
    /* published: splitmix64 from state 0 starts with 0xe220a8397b1dcdaf */
    uint64_t st = 0;
    cr_expect_eq(ref_splitmix(&st), 0xe220a8397b1dcdafULL);
    uint64_t s[4];
    st = 1234;
    for (int i = 0; i < 4; i++) {
        s[i] = ref_splitmix(&st);
    }
    struct hn_rng rng;
    hn_rng_seed(&rng, 1234);
    for (int i = 0; i < 1000; i++) {
        uint64_t x = s[1] * 5;
        uint64_t expect = ((x << 7) | (x >> 57)) * 9;
        uint64_t t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = (s[3] << 45) | (s[3] >> 19);
        cr_assert_eq(hn_rng_next(&rng), expect, "output %d", i);
    }
}

Test(rng, uniform_buckets_pass_chi_square)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 99);
    int counts[64] = {0};
    int n = 640000;
    for (int i = 0; i < n; i++) {
        double u = hn_rng_uniform(&rng);
        cr_assert(u >= 0 && u < 1);
        counts[(int)(u * 64)]++;
    }
    double chi = 0, e = n / 64.0;
    for (int k = 0; k < 64; k++) {
        chi += (counts[k] - e) * (counts[k] - e) / e;
    }
    /* 63 degrees of freedom: P(chi2 > 110) < 1e-4 */
    cr_expect_lt(chi, 110, "chi-square %g", chi);
}

Test(rng, below_is_in_range_and_unbiased)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 7);
    int counts[3] = {0};
    for (int i = 0; i < 30000; i++) {
        uint64_t k = hn_rng_below(&rng, 3);
        cr_assert_lt(k, 3);
        counts[k]++;
    }
    for (int k = 0; k < 3; k++) {
        cr_expect(abs(counts[k] - 10000) < 500, "bucket %d: %d", k, counts[k]);
    }
    cr_expect_eq(hn_rng_below(&rng, 1), 0);
    cr_expect_eq(hn_rng_below(&rng, 0), 0, "outside the contract, but no division by zero");
    /* n = 3 * 2^62: the naive x % n would return values below 2^62 twice as often as the
     * others, putting only 3/8 of the draws in the upper half [n/2, n); uniform gives 1/2 */
    uint64_t n = (UINT64_C(1) << 63) + (UINT64_C(1) << 62);
    int upper = 0;
    for (int i = 0; i < 20000; i++) {
        uint64_t k = hn_rng_below(&rng, n);
        cr_assert_lt(k, n);
        upper += k >= n / 2;
    }
    /* standard error sqrt(0.25 / 20000) = 0.0035 */
    cr_expect(fabs(upper / 20000.0 - 0.5) < 0.02, "fraction in the upper half %g", upper / 20000.0);
}

Test(rng, normal_has_unit_moments)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 8);
    double s = 0, s2 = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double z = hn_rng_normal(&rng);
        s += z;
        s2 += z * z;
    }
    double mean = s / n, var = s2 / n - mean * mean;
    /* standard errors: mean 1/sqrt(n) = 0.0022, variance sqrt(2/n) = 0.0032 */
    cr_expect(fabs(mean) < 0.01, "mean %g", mean);
    cr_expect(fabs(var - 1) < 0.015, "variance %g", var);
}

Test(rng, derived_streams_differ_and_repeat)
{
    cr_expect_eq(hn_rng_derive(1, 2), hn_rng_derive(1, 2));
    cr_expect_neq(hn_rng_derive(1, 2), hn_rng_derive(1, 3));
    cr_expect_neq(hn_rng_derive(1, 2), hn_rng_derive(2, 2));
    cr_expect_neq(hn_rng_hash("search"), hn_rng_hash("init"));
}
