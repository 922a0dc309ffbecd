/* Sobol sequences: published first points, net properties, scrambling, skip, table sanity. */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/sobol_directions.h"
#include "hilnas/sobol.h"

/*
 * The first 12 points in 5 dimensions, unscrambled. Rows 0-7 are
 * scipy.stats.qmc.Sobol(d=5, scramble=False).random(8) as Optuna's test_qmc_sampler.py and
 * others record them; rows 8-11 continue as TensorFlow's sobol_sample test lists them (it starts
 * at row 1). Both use the Joe-Kuo new-joe-kuo-6.21201 table.
 */
static const double published[12][5] = {
    {0, 0, 0, 0, 0},
    {0.5, 0.5, 0.5, 0.5, 0.5},
    {0.75, 0.25, 0.25, 0.25, 0.75},
    {0.25, 0.75, 0.75, 0.75, 0.25},
    {0.375, 0.375, 0.625, 0.875, 0.375},
    {0.875, 0.875, 0.125, 0.375, 0.875},
    {0.625, 0.125, 0.875, 0.625, 0.625},
    {0.125, 0.625, 0.375, 0.125, 0.125},
    {0.1875, 0.3125, 0.9375, 0.4375, 0.5625},
    {0.6875, 0.8125, 0.4375, 0.9375, 0.0625},
    {0.9375, 0.0625, 0.6875, 0.1875, 0.3125},
    {0.4375, 0.5625, 0.1875, 0.6875, 0.8125},
};

Test(sobol, first_points_match_published_values)
{
    for (size_t dim = 1; dim <= 5; dim++) {
        struct hn_error err;
        struct hn_sobol *s = hn_sobol_new(dim, 0, 0, &err);
        cr_assert_not_null(s, "%s", err.msg);
        cr_expect_eq(hn_sobol_dim(s), dim);
        for (int i = 0; i < 12; i++) {
            double u[5];
            hn_sobol_next(s, u);
            for (size_t d = 0; d < dim; d++) {
                cr_expect_eq(u[d], published[i][d],
                             "dim=%zu point %d coordinate %zu: %g, published %g", dim, i, d, u[d],
                             published[i][d]);
            }
        }
        hn_sobol_free(s);
    }
}

Test(sobol, direction_table_is_well_formed)
{
    for (int d = 1; d < HN_SOBOL_TABLE_DIM; d++) {
        uint32_t poly = hn_sobol_directions[d].poly;
        int s = 0;
        while ((poly >> (s + 1)) != 0) {
            s++;
        }
        cr_assert(poly & 1u, "dimension %d: polynomial %u must have a constant term", d + 1, poly);
        for (int k = 0; k < HN_SOBOL_MAX_DEGREE; k++) {
            unsigned m = hn_sobol_directions[d].m[k];
            if (k < s) {
                cr_assert(m % 2 == 1 && m < (1u << (k + 1)),
                          "dimension %d: m_%d = %u must be odd and below 2^%d", d + 1, k + 1, m,
                          k + 1);
            } else {
                cr_assert_eq(m, 0, "dimension %d: m_%d beyond the degree %d", d + 1, k + 1, s);
            }
        }
    }
}

/* Each 1-D projection of the first 2^m points holds exactly one point per interval. */
static void check_1d_stratification(int scramble, size_t dim, int m)
{
    struct hn_error err;
    struct hn_sobol *s = hn_sobol_new(dim, scramble, 42, &err);
    cr_assert_not_null(s, "%s", err.msg);
    size_t n = (size_t)1 << m;
    double *u = malloc(dim * sizeof(double));
    int *hits = calloc(dim * n, sizeof(int));
    for (size_t i = 0; i < n; i++) {
        hn_sobol_next(s, u);
        for (size_t d = 0; d < dim; d++) {
            cr_assert(u[d] >= 0 && u[d] < 1);
            hits[d * n + (size_t)(u[d] * (double)n)]++;
        }
    }
    for (size_t d = 0; d < dim; d++) {
        for (size_t j = 0; j < n; j++) {
            cr_assert_eq(hits[d * n + j], 1, "scramble=%d dim %zu interval %zu holds %d points",
                         scramble, d, j, hits[d * n + j]);
        }
    }
    free(u);
    free(hits);
    hn_sobol_free(s);
}

Test(sobol, every_dimension_is_stratified)
{
    check_1d_stratification(0, HN_SOBOL_MAX_DIM, 10);
    check_1d_stratification(1, HN_SOBOL_MAX_DIM, 10);
}

/* 2-D elementary intervals of a (0,2)-sequence-like pair: dims 0 and 1 form a (0,m,2)-net. */
Test(sobol, first_two_dimensions_form_a_0_m_2_net)
{
    for (int scramble = 0; scramble <= 1; scramble++) {
        struct hn_error err;
        struct hn_sobol *s = hn_sobol_new(2, scramble, 7, &err);
        int m = 8;
        size_t n = (size_t)1 << m;
        double(*pts)[2] = malloc(n * sizeof(*pts));
        for (size_t i = 0; i < n; i++) {
            hn_sobol_next(s, pts[i]);
        }
        for (int a = 0; a <= m; a++) { /* boxes 2^-a by 2^-(m-a): one point each */
            size_t na = (size_t)1 << a, nb = (size_t)1 << (m - a);
            int *hits = calloc(n, sizeof(int));
            for (size_t i = 0; i < n; i++) {
                size_t bx = (size_t)(pts[i][0] * (double)na), by = (size_t)(pts[i][1] * (double)nb);
                hits[bx * nb + by]++;
            }
            for (size_t b = 0; b < n; b++) {
                cr_assert_eq(hits[b], 1, "scramble=%d a=%d box %zu: %d points", scramble, a, b,
                             hits[b]);
            }
            free(hits);
        }
        free(pts);
        hn_sobol_free(s);
    }
}

Test(sobol, seeds_determine_scrambling_and_skip_equals_discarding)
{
    struct hn_error err;
    struct hn_sobol *a = hn_sobol_new(5, 1, 1, &err), *b = hn_sobol_new(5, 1, 1, &err),
                    *c = hn_sobol_new(5, 1, 2, &err), *k = hn_sobol_new(5, 1, 1, &err);
    double ua[5], ub[5], uc[5], uk[5];
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        hn_sobol_next(a, ua);
        hn_sobol_next(b, ub);
        hn_sobol_next(c, uc);
        cr_assert(memcmp(ua, ub, sizeof(ua)) == 0, "same seed, point %d differs", i);
        differ |= memcmp(ua, uc, sizeof(ua)) != 0;
    }
    cr_expect(differ, "another seed must give other points");
    hn_sobol_skip(k, 100);
    for (int i = 0; i < 50; i++) {
        hn_sobol_next(a, ua);
        hn_sobol_next(k, uk);
        cr_assert(memcmp(ua, uk, sizeof(ua)) == 0, "skip(100): point %d differs", 100 + i);
    }
    hn_sobol_skip(k, 0);
    hn_sobol_skip(k, 13);
    for (int i = 0; i < 13; i++) {
        hn_sobol_next(a, ua);
    }
    hn_sobol_next(a, ua);
    hn_sobol_next(k, uk);
    cr_expect(memcmp(ua, uk, sizeof(ua)) == 0, "skip after use");
    hn_sobol_free(a);
    hn_sobol_free(b);
    hn_sobol_free(c);
    hn_sobol_free(k);
}

Test(sobol, bad_dimensions_are_refused)
{
    struct hn_error err;
    cr_expect_null(hn_sobol_new(0, 0, 0, &err));
    cr_expect(strstr(err.msg, "dimension 0") != NULL, "%s", err.msg);
    cr_expect_null(hn_sobol_new(HN_SOBOL_MAX_DIM + 1, 1, 0, &err));
    struct hn_sobol *s = hn_sobol_new(HN_SOBOL_MAX_DIM, 1, 0, &err);
    cr_expect_not_null(s, "%s", err.msg);
    hn_sobol_free(s);
}

/* ---- 2-D projections: t-values by counting points in boxes vs by linear algebra ---- */

/*
 * Smallest t such that the n = 2^m points (pairs in [0,1)^2) form a (t,m,2)-net: every box
 * [i 2^-a, (i+1) 2^-a) x [j 2^-b, (j+1) 2^-b) with a + b = m - t holds exactly 2^t points.
 */
static int t_by_counting(const double (*pts)[2], int m)
{
    size_t n = (size_t)1 << m;
    int *hits = malloc(n * sizeof(int));
    for (int t = 0; t <= m; t++) {
        int ok = 1;
        for (int a = 0; a <= m - t && ok; a++) {
            int b = m - t - a;
            size_t na = (size_t)1 << a, nb = (size_t)1 << b;
            memset(hits, 0, na * nb * sizeof(int));
            for (size_t i = 0; i < n; i++) {
                size_t bx = (size_t)(pts[i][0] * (double)na);
                size_t by = (size_t)(pts[i][1] * (double)nb);
                hits[bx * nb + by]++;
            }
            for (size_t box = 0; box < na * nb && ok; box++) {
                ok = hits[box] == (1 << t);
            }
        }
        if (ok) {
            free(hits);
            return t;
        }
    }
    free(hits);
    return -1;
}

/*
 * Direction numbers of dimension d (0-based) as 32-bit fractions, written again from Joe and
 * Kuo's notes: v_k = m_k 2^(31-k) for k < s, then
 * v_k = v_{k-s} ^ (v_{k-s} >> s) ^ XOR_{j=1..s-1} a_j v_{k-j}, a_j the j-th bit of a from the top.
 */
static void directions32(size_t d, int count, uint32_t *v)
{
    if (d == 0) {
        for (int k = 0; k < count; k++) {
            v[k] = 1u << (31 - k);
        }
        return;
    }
    uint32_t poly = hn_sobol_directions[d].poly;
    int s = 31 - __builtin_clz(poly);
    uint32_t a = (poly >> 1) & ((1u << (s - 1)) - 1u);
    for (int k = 0; k < count; k++) {
        if (k < s) {
            v[k] = (uint32_t)hn_sobol_directions[d].m[k] << (31 - k);
            continue;
        }
        v[k] = v[k - s] ^ (v[k - s] >> s);
        for (int j = 1; j < s; j++) {
            if ((a >> (s - 1 - j)) & 1u) {
                v[k] ^= v[k - j];
            }
        }
    }
}

/* Rank over GF(2) of count row bitmasks. */
static int gf2_rank(uint32_t *rows, int count)
{
    int rank = 0;
    for (int bit = 31; bit >= 0 && rank < count; bit--) {
        int pivot = -1;
        for (int r = rank; r < count; r++) {
            if ((rows[r] >> bit) & 1u) {
                pivot = r;
                break;
            }
        }
        if (pivot < 0) {
            continue;
        }
        uint32_t p = rows[pivot];
        rows[pivot] = rows[rank];
        rows[rank] = p;
        for (int r = 0; r < count; r++) {
            if (r != rank && ((rows[r] >> bit) & 1u)) {
                rows[r] ^= p;
            }
        }
        rank++;
    }
    return rank;
}

/*
 * t-value of the digital net of dimensions (d1, d2) with 2^m points: the smallest t such that
 * for all a + b = m - t the first a rows of C1 and the first b rows of C2 are independent,
 * where row r of C_j has bit k set when digit r (from the top) of direction number v_k is 1.
 */
static int t_by_algebra(size_t d1, size_t d2, int m)
{
    uint32_t v1[32], v2[32], c1[32] = {0}, c2[32] = {0};
    directions32(d1, m, v1);
    directions32(d2, m, v2);
    for (int r = 0; r < m; r++) {
        for (int k = 0; k < m; k++) {
            c1[r] |= ((v1[k] >> (31 - r)) & 1u) << k;
            c2[r] |= ((v2[k] >> (31 - r)) & 1u) << k;
        }
    }
    for (int t = 0; t <= m; t++) {
        int ok = 1;
        for (int a = 0; a <= m - t && ok; a++) {
            int b = m - t - a;
            uint32_t rows[32];
            memcpy(rows, c1, (size_t)a * sizeof(uint32_t));
            memcpy(rows + a, c2, (size_t)b * sizeof(uint32_t));
            ok = gf2_rank(rows, a + b) == a + b;
        }
        if (ok) {
            return t;
        }
    }
    return -1;
}

Test(sobol, two_dimensional_projections_have_the_t_values_of_their_matrices, .timeout = 60)
{
    /* pairs of 1-based dimensions, including high ones */
    static const size_t pairs[][2] = {{1, 2},     {2, 3},     {4, 5},    {99, 100},
                                      {300, 301}, {512, 777}, {1000, 1}, {1023, 1024}};
    const int m_max = 11;
    size_t n = (size_t)1 << m_max;
    double(*pts)[2] = malloc(n * sizeof(*pts));
    double *u = malloc(HN_SOBOL_MAX_DIM * sizeof(double));
    int checked_nonzero = 0;
    for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
        size_t d1 = pairs[p][0] - 1, d2 = pairs[p][1] - 1;
        size_t dim = (d1 > d2 ? d1 : d2) + 1;
        for (int scramble = 0; scramble <= 1; scramble++) {
            struct hn_error err;
            struct hn_sobol *s = hn_sobol_new(dim, scramble, 1234 + p, &err);
            cr_assert_not_null(s, "%s", err.msg);
            for (size_t i = 0; i < n; i++) {
                hn_sobol_next(s, u);
                pts[i][0] = u[d1];
                pts[i][1] = u[d2];
            }
            hn_sobol_free(s);
            for (int m = 1; m <= m_max; m++) {
                int counted = t_by_counting((const double(*)[2])pts, m);
                int algebra = t_by_algebra(d1, d2, m);
                cr_assert_eq(counted, algebra,
                             "dimensions (%zu, %zu), 2^%d points, scramble=%d: t = %d by "
                             "counting, %d from the generator matrices",
                             d1 + 1, d2 + 1, m, scramble, counted, algebra);
                checked_nonzero |= counted > 0;
                if (d1 == 0 && d2 == 1) {
                    cr_assert_eq(counted, 0, "dimensions 1 and 2 form a (0,m,2)-net");
                }
            }
        }
    }
    cr_expect(checked_nonzero, "some projection must have t > 0, or the check is too weak");
    free(pts);
    free(u);
}

Test(sobol, skip_equals_generating_and_discarding)
{
    static const uint64_t skips[] = {1, 2, 3, 7, 8, 1000, 4096, 123457};
    for (int scramble = 0; scramble <= 1; scramble++) {
        for (size_t k = 0; k < sizeof(skips) / sizeof(skips[0]); k++) {
            struct hn_error err;
            struct hn_sobol *a = hn_sobol_new(7, scramble, 99, &err);
            struct hn_sobol *b = hn_sobol_new(7, scramble, 99, &err);
            double ua[7], ub[7];
            for (uint64_t i = 0; i < skips[k]; i++) {
                hn_sobol_next(a, ua);
            }
            hn_sobol_skip(b, skips[k]);
            for (int i = 0; i < 5; i++) {
                hn_sobol_next(a, ua);
                hn_sobol_next(b, ub);
                cr_assert(memcmp(ua, ub, sizeof(ua)) == 0,
                          "scramble=%d skip(%llu): point %d after it differs", scramble,
                          (unsigned long long)skips[k], i);
            }
            hn_sobol_free(a);
            hn_sobol_free(b);
        }
    }
}

Test(sobol, scrambled_first_point_is_uniform_over_seeds)
{
    /* the digital shift makes point 0 of each dimension uniform over seeds: mean 1/2,
     * standard error sqrt(1/12/2000) = 0.0065 */
    double sum = 0, sum_dim2 = 0;
    int differ = 0;
    for (uint64_t seed = 0; seed < 2000; seed++) {
        struct hn_error err;
        struct hn_sobol *s = hn_sobol_new(2, 1, seed, &err);
        double u[2];
        hn_sobol_next(s, u);
        sum += u[0];
        sum_dim2 += u[1];
        differ |= u[0] != u[1];
        hn_sobol_free(s);
    }
    cr_expect(fabs(sum / 2000 - 0.5) < 0.03, "mean of the first coordinate %g", sum / 2000);
    cr_expect(fabs(sum_dim2 / 2000 - 0.5) < 0.03, "mean of the second %g", sum_dim2 / 2000);
    cr_expect(differ, "dimensions must be scrambled independently");
}

/* Multiplicative order of x modulo the GF(2) polynomial poly of degree s (0 if x^k never is 1). */
static uint32_t order_of_x(uint32_t poly, int s)
{
    uint32_t r = 1, period = (1u << s) - 1u;
    for (uint32_t k = 1; k <= period; k++) {
        r <<= 1;
        if (r >> s) {
            r ^= poly;
        }
        if (r == 1) {
            return k;
        }
    }
    return 0;
}

Test(sobol, table_lists_the_primitive_polynomials_in_order)
{
    /*
     * Joe and Kuo use every primitive polynomial of each degree, in increasing order. x has
     * order 2^s - 1 modulo a primitive polynomial of degree s; their number is
     * phi(2^s - 1) / s: 1, 1, 2, 2, 6, 6, 18, 16, 48, 60, 176, 144 for s = 1..12, so dimensions
     * 2..481 hold all of degree <= 12 and the rest of the table (482..1024) has degree 13.
     */
    static const int count_by_degree[13] = {0, 1, 1, 2, 2, 6, 6, 18, 16, 48, 60, 176, 144};
    int seen[14] = {0};
    uint32_t previous = 1;
    for (int d = 1; d < HN_SOBOL_TABLE_DIM; d++) {
        uint32_t poly = hn_sobol_directions[d].poly;
        int s = 31 - __builtin_clz(poly);
        cr_assert(s >= 1 && s <= HN_SOBOL_MAX_DEGREE, "dimension %d: degree %d", d + 1, s);
        cr_assert_gt(poly, previous, "dimension %d: polynomials must increase", d + 1);
        cr_assert_eq(order_of_x(poly, s), (1u << s) - 1u,
                     "dimension %d: polynomial %u is not primitive", d + 1, poly);
        previous = poly;
        seen[s]++;
    }
    for (int s = 1; s <= 12; s++) {
        cr_expect_eq(seen[s], count_by_degree[s], "degree %d: %d polynomials, expected %d", s,
                     seen[s], count_by_degree[s]);
    }
    cr_expect_eq(seen[13], HN_SOBOL_TABLE_DIM - 1 - 480);
}
