/* Sobol sequences: published first points, net properties, scrambling, skip, table sanity. */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/sobol_directions.h"
#include "hilnas/sobol.h"

/*
 * The first 8 points in 3 dimensions, unscrambled, as scipy.stats.qmc.Sobol(d=3,
 * scramble=False).random(8) prints them (SciPy documentation and test_qmc.py use the same
 * Joe-Kuo table):
 */
static const double published[8][3] = {
    {0.0, 0.0, 0.0},       {0.5, 0.5, 0.5},       {0.75, 0.25, 0.25},    {0.25, 0.75, 0.75},
    {0.375, 0.375, 0.625}, {0.875, 0.875, 0.125}, {0.625, 0.125, 0.875}, {0.125, 0.625, 0.375},
};

Test(sobol, first_points_match_published_values)
{
    struct hn_error err;
    struct hn_sobol *s = hn_sobol_new(3, 0, 0, &err);
    cr_assert_not_null(s, "%s", err.msg);
    for (int i = 0; i < 8; i++) {
        double u[3];
        hn_sobol_next(s, u);
        for (int d = 0; d < 3; d++) {
            cr_expect_eq(u[d], published[i][d], "point %d dim %d: %g, published %g", i, d, u[d],
                         published[i][d]);
        }
    }
    hn_sobol_free(s);
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
        double (*pts)[2] = malloc(n * sizeof(*pts));
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
