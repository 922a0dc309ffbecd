/* Pareto utilities: non-dominated sorting vs brute force, hypervolume vs hand computations,
 * inclusion-exclusion and Monte Carlo, reference point inference. */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/pareto.h"
#include "hilnas/rng.h"

Test(hypervolume, hand_computed_2d)
{
    /* ref (4,4); points (1,3), (2,2), (3,1): a staircase of 3 + 2 + 1 = 6 unit-area... :
     * slabs by increasing x: (1,3) adds (4-1)*(4-3) = 3, (2,2) adds (4-2)*(3-2) = 2,
     * (3,1) adds (4-3)*(2-1) = 1: total 6. A dominated point (3,3), a duplicate, and a point
     * beyond the reference (5,0) change nothing. */
    double y[] = {1, 3, 2, 2, 3, 1, 3, 3, 2, 2, 5, 0};
    double ref[] = {4, 4};
    struct hn_error err;
    cr_expect_float_eq(hn_hypervolume(y, 6, 2, ref, &err), 6.0, 1e-12);
    cr_expect_float_eq(hn_hypervolume(y, 3, 2, ref, &err), 6.0, 1e-12);
    cr_expect_float_eq(hn_hypervolume(y, 0, 2, ref, &err), 0.0, 1e-12);
}

Test(hypervolume, hand_computed_3d)
{
    /* ref (2,2,2); a = (0,1,1) dominates a 2*1*1 = 2 box; b = (1,0,1) a 1*2*1 = 2 box;
     * c = (1,1,0) a 1*1*2 = 2 box. Pairwise intersections: a^b = max -> (1,1,1): 1; a^c =
     * (1,1,1): 1; b^c = (1,1,1): 1; all three: (1,1,1): 1. Inclusion-exclusion:
     * 2+2+2 - 1-1-1 + 1 = 4. */
    double y[] = {0, 1, 1, 1, 0, 1, 1, 1, 0};
    double ref[] = {2, 2, 2};
    struct hn_error err;
    cr_expect_float_eq(hn_hypervolume(y, 3, 3, ref, &err), 4.0, 1e-12);
    /* one point alone: the box volume */
    double one[] = {0.5, 0.25, 1.0};
    cr_expect_float_eq(hn_hypervolume(one, 1, 3, ref, &err), 1.5 * 1.75 * 1.0, 1e-12);
}

/* Exact hypervolume by inclusion-exclusion over all subsets (small n only). */
static double hv_brute(const double *y, size_t n, size_t m, const double *ref)
{
    double total = 0;
    for (unsigned mask = 1; mask < (1u << n); mask++) {
        double corner[8], vol = 1;
        int bits = 0;
        for (size_t j = 0; j < m; j++) {
            corner[j] = -INFINITY;
        }
        for (size_t i = 0; i < n; i++) {
            if (mask & (1u << i)) {
                bits++;
                for (size_t j = 0; j < m; j++) {
                    corner[j] = fmax(corner[j], y[i * m + j]);
                }
            }
        }
        for (size_t j = 0; j < m; j++) {
            vol *= fmax(0, ref[j] - corner[j]);
        }
        total += (bits % 2 ? 1 : -1) * vol;
    }
    return total;
}

Test(hypervolume, wfg_matches_inclusion_exclusion)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 3);
    struct hn_error err;
    for (int trial = 0; trial < 60; trial++) {
        size_t m = 3 + (size_t)(trial % 3), n = 1 + hn_rng_below(&rng, 11);
        double y[12 * 5], ref[5];
        for (size_t j = 0; j < m; j++) {
            ref[j] = 1.0;
        }
        for (size_t i = 0; i < n * m; i++) {
            /* a few ties on a coarse grid, some points beyond the reference */
            y[i] = floor(hn_rng_uniform(&rng) * 12) / 10;
        }
        double exact = hv_brute(y, n, m, ref);
        double got = hn_hypervolume(y, n, m, ref, &err);
        cr_assert(fabs(got - exact) <= 1e-12 * fmax(1, exact),
                  "trial %d (n=%zu, m=%zu): WFG %.15g, inclusion-exclusion %.15g", trial, n, m,
                  got, exact);
    }
}

static void random_front(struct hn_rng *rng, double *y, size_t n, size_t m)
{
    /* points on the sphere-like front sum y_j^2 = 1 (all mutually non-dominated) */
    for (size_t i = 0; i < n; i++) {
        double norm = 0;
        for (size_t j = 0; j < m; j++) {
            y[i * m + j] = fabs(hn_rng_normal(rng)) + 1e-9;
            norm += y[i * m + j] * y[i * m + j];
        }
        for (size_t j = 0; j < m; j++) {
            y[i * m + j] /= sqrt(norm);
        }
    }
}

Test(hypervolume, agrees_with_monte_carlo_in_4d_and_5d, .timeout = 60)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 11);
    struct hn_error err;
    for (size_t m = 4; m <= 5; m++) {
        size_t n = 40;
        double *y = malloc(n * m * sizeof(double));
        random_front(&rng, y, n, m);
        double ref[5] = {1.1, 1.1, 1.1, 1.1, 1.1};
        double hv = hn_hypervolume(y, n, m, ref, &err);
        cr_assert_geq(hv, 0, "%s", err.msg);
        size_t samples = 200000, inside = 0;
        for (size_t s = 0; s < samples; s++) {
            double z[5];
            for (size_t j = 0; j < m; j++) {
                z[j] = ref[j] * hn_rng_uniform(&rng);
            }
            for (size_t i = 0; i < n; i++) {
                int dom = 1;
                for (size_t j = 0; j < m && dom; j++) {
                    dom = y[i * m + j] <= z[j];
                }
                if (dom) {
                    inside++;
                    break;
                }
            }
        }
        double box = pow(1.1, (double)m), p = (double)inside / (double)samples;
        double mc = box * p, sigma = box * sqrt(p * (1 - p) / (double)samples);
        cr_expect(fabs(hv - mc) <= 4 * sigma, "m=%zu: exact %.6f, Monte Carlo %.6f +- %.6f", m,
                  hv, mc, sigma);
        free(y);
    }
}

Test(pareto, ranks_match_the_definition)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 5);
    struct hn_error err;
    size_t n = 300, m = 3;
    double *y = malloc(n * m * sizeof(double));
    int *rank = malloc(n * sizeof(int));
    for (size_t i = 0; i < n * m; i++) {
        y[i] = floor(hn_rng_uniform(&rng) * 8); /* many ties */
    }
    y[7 * m + 1] = NAN;
    cr_assert_eq(hn_pareto_rank(y, n, m, rank, &err), 0);
    cr_expect_eq(rank[7], -1, "a NaN row is unranked");
    for (size_t i = 0; i < n; i++) {
        if (i == 7) {
            continue;
        }
        /* rank r: dominated by some point of rank r-1 and by none of rank >= r */
        int max_dominator = -1;
        for (size_t k = 0; k < n; k++) {
            if (k != 7 && hn_pareto_dominates(y + k * m, y + i * m, m)) {
                max_dominator = rank[k] > max_dominator ? rank[k] : max_dominator;
            }
        }
        cr_assert_eq(rank[i], max_dominator + 1, "point %zu: rank %d, dominators up to %d", i,
                     rank[i], max_dominator);
    }
    free(y);
    free(rank);
}

Test(pareto, reference_point_is_nadir_padded_by_a_tenth_of_the_range)
{
    /* front: (1,5), (2,3), (4,1); dominated (5,5). nadir (4,5), ideal (1,1), range (3,4) */
    double y[] = {1, 5, 2, 3, 4, 1, 5, 5};
    double ref[2];
    struct hn_error err;
    cr_assert_eq(hn_pareto_infer_ref(y, 4, 2, 0.1, ref, &err), 0, "%s", err.msg);
    cr_expect_float_eq(ref[0], 4.3, 1e-12);
    cr_expect_float_eq(ref[1], 5.4, 1e-12);
    /* single point: padded by a tenth of its magnitude */
    double one[] = {2, -4};
    cr_assert_eq(hn_pareto_infer_ref(one, 1, 2, 0.1, ref, &err), 0);
    cr_expect_float_eq(ref[0], 2.2, 1e-12);
    cr_expect_float_eq(ref[1], -3.6, 1e-12);
}
