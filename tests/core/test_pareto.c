/*
 * Pareto utilities: non-dominated sorting vs the definition, hypervolume vs hand computations,
 * inclusion-exclusion, exact grid counting, Monte Carlo and the published BraninCurrin optimum,
 * reference point inference vs Ax's rules.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hilnas/pareto.h"
#include "hilnas/rng.h"

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

Test(hypervolume, hand_computed_2d)
{
    /* ref (4,4); points (1,3), (2,2), (3,1): slabs by increasing x: (1,3) adds
     * (4-1)*(4-3) = 3, (2,2) adds (4-2)*(3-2) = 2, (3,1) adds (4-3)*(2-1) = 1: total 6.
     * A dominated point (3,3), a duplicate (2,2), and a point beyond the reference (5,0)
     * change nothing; a point on the reference boundary (4,0) adds a zero-width box. */
    double y[] = {1, 3, 2, 2, 3, 1, 3, 3, 2, 2, 5, 0, 4, 0};
    double ref[] = {4, 4};
    struct hn_error err;
    cr_expect_float_eq(hn_hypervolume(y, 7, 2, ref, &err), 6.0, 1e-12);
    cr_expect_float_eq(hn_hypervolume(y, 3, 2, ref, &err), 6.0, 1e-12);
    cr_expect_float_eq(hn_hypervolume(y, 0, 2, ref, &err), 0.0, 1e-12);
    /* one objective: the best distance to the reference */
    double one[] = {3, 1.5, 7};
    double ref1[] = {4};
    cr_expect_float_eq(hn_hypervolume(one, 3, 1, ref1, &err), 2.5, 1e-12);
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

Test(hypervolume, hand_computed_3d_staircase_by_slices)
{
    /* ref (4,4,4); a = (0,0,3), b = (0,3,0), c = (3,0,0), d = (2,2,2). Slice the third
     * objective z:
     *   z in [0,2): b, c reach it; 2-D area of {(0,3), (3,0)}: 4*1 + 1*3 = 7; times 2 = 14
     *   z in [2,3): b, c, d; 2-D {(0,3), (2,2), (3,0)}: 4*1 + 2*1 + 1*2 = 8; times 1 = 8
     *   z in [3,4): all four; a = (0,0) covers the whole 4*4 = 16; times 1 = 16
     * total 38. Without d the middle slice is 7: 21 + 16 = 37, which inclusion-exclusion
     * confirms: 3*16 - 3*(4*1*1) + 1*1*1 = 37. Then: e = (3,3,3) is dominated by d, f beyond
     * the reference, g a duplicate of d: none changes the volume. */
    double y[] = {0, 0, 3, 0, 3, 0, 3, 0, 0, 2, 2, 2, 3, 3, 3, 1, 1, 4.5, 2, 2, 2};
    double ref[] = {4, 4, 4};
    struct hn_error err;
    cr_expect_float_eq(hn_hypervolume(y, 3, 3, ref, &err), 37.0, 1e-12);
    cr_expect_float_eq(hn_hypervolume(y, 4, 3, ref, &err), 38.0, 1e-12);
    cr_expect_float_eq(hn_hypervolume(y, 7, 3, ref, &err), 38.0, 1e-12);
}

Test(hypervolume, refuses_bad_arguments)
{
    struct hn_error err;
    double y[] = {1, 2};
    double ref[] = {3, NAN};
    cr_expect_eq(hn_hypervolume(y, 1, 2, ref, &err), -1);
    cr_expect(strstr(err.msg, "reference point coordinate 1") != NULL, "%s", err.msg);
    cr_expect_eq(hn_hypervolume(y, 1, 0, ref, &err), -1);
    cr_expect(strstr(err.msg, "m = 0") != NULL, "%s", err.msg);
    /* more objectives than an exact computation can afford: refused, saying why */
    double many[HN_HYPERVOLUME_MAX_OBJECTIVES + 1], mref[HN_HYPERVOLUME_MAX_OBJECTIVES + 1];
    for (size_t j = 0; j <= HN_HYPERVOLUME_MAX_OBJECTIVES; j++) {
        many[j] = 0;
        mref[j] = 1;
    }
    cr_expect_eq(hn_hypervolume(many, 1, HN_HYPERVOLUME_MAX_OBJECTIVES + 1, mref, &err), -1);
    cr_expect(strstr(err.msg, "at most 8") && strstr(err.msg, "exponentially"), "%s", err.msg);
    /* at the limit it is still computed: one point, the unit box */
    cr_expect_float_eq(hn_hypervolume(many, 1, HN_HYPERVOLUME_MAX_OBJECTIVES, mref, &err), 1.0,
                       1e-12);
    /* a NAN row is ignored, not an error */
    double z[] = {NAN, 0, 1, 1};
    double r2[] = {2, 2};
    cr_expect_float_eq(hn_hypervolume(z, 2, 2, r2, &err), 1.0, 1e-12);
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
    for (int trial = 0; trial < 90; trial++) {
        size_t m = 3 + (size_t)(trial % 3), n = 1 + hn_rng_below(&rng, 12);
        double y[12 * 5], ref[5];
        for (size_t j = 0; j < m; j++) {
            ref[j] = 1.0;
        }
        for (size_t i = 0; i < n * m; i++) {
            /* a few ties on a coarse grid, some points beyond the reference */
            y[i] = trial % 2 ? floor(hn_rng_uniform(&rng) * 12) / 10 : hn_rng_uniform(&rng);
        }
        double exact = hv_brute(y, n, m, ref);
        double got = hn_hypervolume(y, n, m, ref, &err);
        cr_assert(fabs(got - exact) <= 1e-12 * fmax(1, exact),
                  "trial %d (n=%zu, m=%zu): WFG %.15g, inclusion-exclusion %.15g", trial, n, m, got,
                  exact);
    }
}

/*
 * Exact volume of points with integer coordinates in 0..G-1 and reference (G, ..., G): count
 * the unit cells [c, c+1) that some point weakly dominates (p_j <= c_j for all j).
 */
static double hv_grid(const double *y, size_t n, size_t m, int G)
{
    size_t cells = 1;
    for (size_t j = 0; j < m; j++) {
        cells *= (size_t)G;
    }
    size_t covered = 0;
    for (size_t cell = 0; cell < cells; cell++) {
        int c[8];
        size_t rest = cell;
        for (size_t j = 0; j < m; j++) {
            c[j] = (int)(rest % (size_t)G);
            rest /= (size_t)G;
        }
        for (size_t i = 0; i < n; i++) {
            int dom = 1;
            for (size_t j = 0; j < m && dom; j++) {
                dom = y[i * m + j] <= c[j];
            }
            if (dom) {
                covered++;
                break;
            }
        }
    }
    return (double)covered;
}

Test(hypervolume, wfg_matches_grid_counting_on_larger_sets)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 17);
    struct hn_error err;
    const int G = 12;
    for (size_t m = 3; m <= 4; m++) {
        for (int trial = 0; trial < 4; trial++) {
            size_t n = 30 + 40 * (size_t)trial;
            double *y = malloc(n * m * sizeof(double));
            double ref[4] = {G, G, G, G};
            for (size_t i = 0; i < n; i++) {
                /* near the simplex sum = G*m/2 so that many points are non-dominated */
                double s = 0;
                for (size_t j = 0; j < m; j++) {
                    y[i * m + j] = (double)hn_rng_below(&rng, (uint64_t)G);
                    s += y[i * m + j];
                }
                if (s < G * (double)m / 3) { /* push deep points out to thin the front */
                    y[i * m + hn_rng_below(&rng, m)] = G - 1;
                }
            }
            double exact = hv_grid(y, n, m, G);
            double got = hn_hypervolume(y, n, m, ref, &err);
            cr_assert(fabs(got - exact) <= 1e-9 * exact, "m=%zu n=%zu: WFG %.12g, grid count %.12g",
                      m, n, got, exact);
            free(y);
        }
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
        size_t n = 150;
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
        cr_expect(fabs(hv - mc) <= 4 * sigma, "m=%zu: exact %.6f, Monte Carlo %.6f +- %.6f", m, hv,
                  mc, sigma);
        free(y);
    }
}

Test(hypervolume, dominated_points_and_shuffling_change_nothing)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 23);
    struct hn_error err;
    size_t n = 50, m = 4;
    double *y = malloc(2 * n * m * sizeof(double));
    random_front(&rng, y, n, m);
    double ref[4] = {1.2, 1.2, 1.2, 1.2};
    double hv = hn_hypervolume(y, n, m, ref, &err);
    /* add n points each dominated by a front point, then reverse the order of all rows */
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < m; j++) {
            y[(n + i) * m + j] = y[i * m + j] + 0.05 * hn_rng_uniform(&rng);
        }
    }
    for (size_t a = 0, b = 2 * n - 1; a < b; a++, b--) {
        for (size_t j = 0; j < m; j++) {
            double t = y[a * m + j];
            y[a * m + j] = y[b * m + j];
            y[b * m + j] = t;
        }
    }
    double hv2 = hn_hypervolume(y, 2 * n, m, ref, &err);
    cr_expect(fabs(hv - hv2) <= 1e-12 * hv, "front %.15g, with dominated points %.15g", hv, hv2);
    free(y);
}

/* BoTorch's BraninCurrin (both minimized); the inputs are in [0,1]^2. */
static void branin_currin(double x0, double x1, double *f)
{
    double u = 15 * x0 - 5, v = 15 * x1;
    double t = v - 5.1 / (4 * M_PI * M_PI) * u * u + 5 / M_PI * u - 6;
    f[0] = t * t + 10 * (1 - 1 / (8 * M_PI)) * cos(u) + 10;
    f[1] = (1 - exp(-1 / (2 * x1))) * (2300 * x0 * x0 * x0 + 1900 * x0 * x0 + 2092 * x0 + 60) /
           (100 * x0 * x0 * x0 + 500 * x0 * x0 + 4 * x0 + 20);
}

/* Area of a union of boxes [y_i, ref] in 2-D by coordinate compression, O(n^3). */
static double area_by_cells(const double *y, size_t n, const double *ref)
{
    double *xs = malloc((n + 1) * sizeof(double)), *ys = malloc((n + 1) * sizeof(double));
    size_t nx = 0, ny = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[2 * i] < ref[0] && y[2 * i + 1] < ref[1]) {
            xs[nx++] = y[2 * i];
            ys[ny++] = y[2 * i + 1];
        }
    }
    xs[nx++] = ref[0];
    ys[ny++] = ref[1];
    /* selection sort: small n */
    for (size_t a = 0; a < nx; a++) {
        for (size_t b = a + 1; b < nx; b++) {
            if (xs[b] < xs[a]) {
                double t = xs[a];
                xs[a] = xs[b];
                xs[b] = t;
            }
            if (ys[b] < ys[a]) {
                double t = ys[a];
                ys[a] = ys[b];
                ys[b] = t;
            }
        }
    }
    double area = 0;
    for (size_t a = 0; a + 1 < nx; a++) {
        for (size_t b = 0; b + 1 < ny; b++) {
            for (size_t i = 0; i < n; i++) {
                if (y[2 * i] <= xs[a] && y[2 * i + 1] <= ys[b]) {
                    area += (xs[a + 1] - xs[a]) * (ys[b + 1] - ys[b]);
                    break;
                }
            }
        }
    }
    free(xs);
    free(ys);
    return area;
}

Test(hypervolume, branin_currin_grid_approaches_the_published_optimum)
{
    /* A 401 x 401 grid of inputs (x1 clamped to >= 1e-3). The front's hypervolume with
     * BoTorch's reference (18, 6) must stay below the published maximum 59.36011874867746
     * (BoTorch BraninCurrin._max_hv, from NSGA-II) and come close to it: a plain Python sweep
     * over the same grids gives 56.4515 (101 x 101), 58.7383 (401 x 401), 59.0826 (801 x 801).
     * On a subset, the sweep must equal the area counted cell by cell. */
    size_t side = 401, n = side * side;
    double *y = malloc(n * 2 * sizeof(double));
    for (size_t a = 0; a < side; a++) {
        for (size_t b = 0; b < side; b++) {
            double x0 = (double)a / (double)(side - 1);
            double x1 = fmax((double)b / (double)(side - 1), 1e-3);
            branin_currin(x0, x1, y + 2 * (a * side + b));
        }
    }
    double ref[] = {18, 6};
    struct hn_error err;
    double hv = hn_hypervolume(y, n, 2, ref, &err);
    cr_expect(hv < 59.36011874867746 && hv > 58.73, "BraninCurrin grid hypervolume %.10g", hv);
    cr_expect(fabs(hv - 58.73826493627048) < 1e-6, "Python sweep: 58.73826493627048, here %.14g",
              hv);
    /* independent 2-D check on every 997th point (162 points) */
    size_t ns = 0;
    double *sub = malloc(n * 2 * sizeof(double));
    for (size_t i = 0; i < n; i += 997) {
        sub[2 * ns] = y[2 * i];
        sub[2 * ns + 1] = y[2 * i + 1];
        ns++;
    }
    double cells = area_by_cells(sub, ns, ref);
    double sweep = hn_hypervolume(sub, ns, 2, ref, &err);
    cr_expect(fabs(cells - sweep) <= 1e-9 * cells, "sweep %.12g, cell count %.12g", sweep, cells);
    /* the same set with a third, constant objective: WFG reduces to the 2-D area */
    double *y3 = malloc(ns * 3 * sizeof(double));
    for (size_t i = 0; i < ns; i++) {
        y3[3 * i] = sub[2 * i];
        y3[3 * i + 1] = sub[2 * i + 1];
        y3[3 * i + 2] = 0.5;
    }
    double ref3[] = {18, 6, 2};
    double vol = hn_hypervolume(y3, ns, 3, ref3, &err);
    cr_expect(fabs(vol - 1.5 * cells) <= 1e-9 * cells, "3-D %.12g, 1.5 * area %.12g", vol,
              1.5 * cells);
    free(y);
    free(sub);
    free(y3);
}

Test(hypervolume, wfg_is_fast_enough_for_200_points_in_4d, .timeout = 60)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 29);
    struct hn_error err;
    size_t n = 200, m = 4;
    double *y = malloc(n * m * sizeof(double));
    random_front(&rng, y, n, m);
    double ref[4] = {1.1, 1.1, 1.1, 1.1};
    double t0 = seconds_now();
    double hv = hn_hypervolume(y, n, m, ref, &err);
    double dt = seconds_now() - t0;
    cr_expect_gt(hv, 0, "%s", err.msg);
    cr_expect_lt(dt, 10.0, "WFG took %.2f s for %zu points in %zu objectives", dt, n, m);
    free(y);
}

/* ranks by the definition: rank r = 1 + the highest rank among dominators; peeled brute force */
static void brute_ranks(const double *y, size_t n, size_t m, int *rank)
{
    for (size_t i = 0; i < n; i++) {
        int nan = 0;
        for (size_t j = 0; j < m; j++) {
            nan |= isnan(y[i * m + j]);
        }
        rank[i] = nan ? -1 : -2;
    }
    for (int r = 0;; r++) {
        /* front r: unranked points that no other unranked (or rank-r) point dominates */
        int *now = calloc(n, sizeof(int));
        int any = 0;
        for (size_t i = 0; i < n; i++) {
            if (rank[i] != -2) {
                continue;
            }
            int dominated = 0;
            for (size_t k = 0; k < n && !dominated; k++) {
                dominated = rank[k] == -2 && hn_pareto_dominates(y + k * m, y + i * m, m);
            }
            now[i] = !dominated;
            any = 1;
        }
        for (size_t i = 0; i < n; i++) {
            if (now[i]) {
                rank[i] = r;
            }
        }
        free(now);
        if (!any) {
            return;
        }
    }
}

Test(pareto, ranks_match_the_definition)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 5);
    struct hn_error err;
    for (size_t m = 2; m <= 4; m++) {
        size_t n = 300;
        double *y = malloc(n * m * sizeof(double));
        int *rank = malloc(n * sizeof(int)), *want = malloc(n * sizeof(int));
        for (size_t i = 0; i < n * m; i++) {
            y[i] = floor(hn_rng_uniform(&rng) * 8); /* many ties and duplicates */
        }
        y[7 * m + 1] = NAN;
        cr_assert_eq(hn_pareto_rank(y, n, m, rank, &err), 0);
        brute_ranks(y, n, m, want);
        cr_expect_eq(rank[7], -1, "a NaN row is unranked");
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(rank[i], want[i], "m=%zu point %zu: rank %d, by peeling %d", m, i, rank[i],
                         want[i]);
            /* and the local definition: one more than the highest-ranked dominator */
            int max_dominator = -1;
            for (size_t k = 0; k < n && rank[i] >= 0; k++) {
                if (hn_pareto_dominates(y + k * m, y + i * m, m) && rank[k] > max_dominator) {
                    max_dominator = rank[k];
                }
            }
            cr_assert(rank[i] < 0 || rank[i] == max_dominator + 1,
                      "point %zu: rank %d, dominators up to %d", i, rank[i], max_dominator);
        }
        free(y);
        free(rank);
        free(want);
    }
}

Test(pareto, ranks_2000_points_quickly, .timeout = 60)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 6);
    struct hn_error err;
    size_t n = 2000, m = 4;
    double *y = malloc(n * m * sizeof(double));
    int *rank = malloc(n * sizeof(int));
    for (size_t i = 0; i < n * m; i++) {
        y[i] = floor(hn_rng_uniform(&rng) * 50);
    }
    double t0 = seconds_now();
    cr_assert_eq(hn_pareto_rank(y, n, m, rank, &err), 0);
    double dt = seconds_now() - t0;
    cr_expect_lt(dt, 5.0, "ranking %zu points took %.2f s", n, dt);
    /* spot-check the definition on every 20th point */
    for (size_t i = 0; i < n; i += 20) {
        int max_dominator = -1;
        for (size_t k = 0; k < n; k++) {
            if (hn_pareto_dominates(y + k * m, y + i * m, m) && rank[k] > max_dominator) {
                max_dominator = rank[k];
            }
        }
        cr_assert_eq(rank[i], max_dominator + 1, "point %zu", i);
    }
    free(y);
    free(rank);
}

Test(pareto, dominance_and_orientation)
{
    double a[] = {1, 2}, b[] = {1, 3}, c[] = {NAN, 1};
    cr_expect(hn_pareto_dominates(a, b, 2));
    cr_expect(!hn_pareto_dominates(b, a, 2));
    cr_expect(!hn_pareto_dominates(a, a, 2), "a point does not dominate itself");
    cr_expect(!hn_pareto_dominates(c, b, 2), "a NAN row dominates nothing");
    cr_expect(!hn_pareto_dominates(a, c, 2), "a NAN row is never dominated");
    double y[] = {1, 2, 3, 4};
    int maximize[] = {0, 1};
    hn_pareto_orient(y, 2, 2, maximize);
    cr_expect(y[0] == 1 && y[1] == -2 && y[2] == 3 && y[3] == -4);
    hn_pareto_orient(y, 2, 2, maximize);
    cr_expect(y[1] == 2 && y[3] == 4);
}

Test(pareto, reference_point_follows_ax)
{
    struct hn_error err;
    double ref[2];
    /* front (1,5), (2,3), (4,1); dominated (5,5). nadir (4,5), ideal (1,1), range (3,4):
     * ref = nadir + 0.1 * range = (4.3, 5.4) */
    double y[] = {1, 5, 2, 3, 4, 1, 5, 5};
    cr_assert_eq(hn_pareto_infer_ref(y, 4, 2, 0.1, ref, &err), 0, "%s", err.msg);
    cr_expect_float_eq(ref[0], 4.3, 1e-12);
    cr_expect_float_eq(ref[1], 5.4, 1e-12);
    /* a single front point: padded by a tenth of its magnitude, (2,-4) -> (2.2, -3.6); the
     * dominated (3, 0) and a NAN row are ignored */
    double one[] = {2, -4, 3, 0, NAN, -9};
    cr_assert_eq(hn_pareto_infer_ref(one, 3, 2, 0.1, ref, &err), 0, "%s", err.msg);
    cr_expect_float_eq(ref[0], 2.2, 1e-12);
    cr_expect_float_eq(ref[1], -3.6, 1e-12);
    /* a duplicated single point is still one point; zero pads by 0.1 * 1e-7 */
    double dup[] = {0, 5, 0, 5};
    cr_assert_eq(hn_pareto_infer_ref(dup, 2, 2, 0.1, ref, &err), 0);
    cr_expect_float_eq(ref[0], 1e-8, 1e-20);
    cr_expect_float_eq(ref[1], 5.5, 1e-12);
    /* (1,7) dominates (3,7) and (2,7): a single front point, padded by 0.1 * |y| */
    double two[] = {1, 7, 3, 7, 2, 7};
    cr_assert_eq(hn_pareto_infer_ref(two, 3, 2, 0.1, ref, &err), 0);
    cr_expect_float_eq(ref[0], 1.1, 1e-12, "only (1,7) is on the front: %g", ref[0]);
    cr_expect_float_eq(ref[1], 7.7, 1e-12);
    /* front (1,7), (2,6); (3,6) dominated. nadir (2,7), ideal (1,6), range (1,1) */
    double tie[] = {1, 7, 2, 6, 3, 6};
    cr_assert_eq(hn_pareto_infer_ref(tie, 3, 2, 0.1, ref, &err), 0);
    cr_expect_float_eq(ref[0], 2.1, 1e-12);
    cr_expect_float_eq(ref[1], 7.1, 1e-12);
    /* two front points with equal objective 1: its range 0 is clamped to 1e-7 (BoTorch's
     * MIN_Y_RANGE), not replaced by |nadir| */
    double three[] = {1, 7, 2, 2, 7, 1};
    double ref3[3];
    cr_assert_eq(hn_pareto_infer_ref(three, 2, 3, 0.1, ref3, &err), 0);
    cr_expect_float_eq(ref3[0], 2.1, 1e-12);
    cr_expect_float_eq(ref3[1], 7 + 1e-8, 1e-12, "zero range in objective 1: %.17g", ref3[1]);
    cr_expect_gt(ref3[1], 7.0);
    cr_expect_float_eq(ref3[2], 2.1, 1e-12);
}

Test(pareto, reference_point_for_a_maximized_objective)
{
    /* accuracy (maximize) and latency (minimize): (0.9, 10), (0.8, 5), (0.7, 8). Ax: in the
     * maximization space the front is (0.9, -10), (0.8, -5); nadir (0.8, -10), range
     * (0.1, 5), ref = nadir - 0.1 * range = (0.79, -10.5), i.e. thresholds accuracy >= 0.79
     * and latency <= 10.5. Here: orient, infer, negate the maximized coordinate back. */
    double y[] = {0.9, 10, 0.8, 5, 0.7, 8};
    int maximize[] = {1, 0};
    hn_pareto_orient(y, 3, 2, maximize);
    double ref[2];
    struct hn_error err;
    cr_assert_eq(hn_pareto_infer_ref(y, 3, 2, 0.1, ref, &err), 0, "%s", err.msg);
    cr_expect_float_eq(-ref[0], 0.79, 1e-12, "accuracy threshold %g", -ref[0]);
    cr_expect_float_eq(ref[1], 10.5, 1e-12, "latency threshold %g", ref[1]);
}

Test(pareto, reference_point_needs_a_finite_row)
{
    double y[] = {NAN, 1, INFINITY, 2};
    double ref[2];
    struct hn_error err;
    cr_expect_eq(hn_pareto_infer_ref(y, 2, 2, 0.1, ref, &err), -1);
    cr_expect(strstr(err.msg, "finite") != NULL, "%s", err.msg);
    cr_expect_eq(hn_pareto_infer_ref(y, 0, 2, 0.1, ref, &err), -1);
}
