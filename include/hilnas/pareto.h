/*
 * hilnas Pareto utilities: non-dominated sorting, hypervolume, reference points.
 *
 * Points are n rows of m objective values, row-major, ALL TO BE MINIMIZED: callers negate
 * maximized objectives first (hn_pareto_orient does it). Pure functions; thread safe.
 */
#ifndef HILNAS_PARETO_H
#define HILNAS_PARETO_H

#include <stddef.h>

#include "hilnas/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Most objectives hn_hypervolume() accepts. Exact hypervolume costs grow exponentially with
 * the number of objectives (WFG is O(n^(m/2)) at worst): beyond this a call would run for
 * hours on a few hundred points, so it is refused instead, and study summaries report the
 * hypervolume as not computed.
 */
#define HN_HYPERVOLUME_MAX_OBJECTIVES 8

/* Flip signs so every objective is minimized: y[i*m+j] = -y[i*m+j] where maximize[j].
 * Applying it twice restores y. */
void hn_pareto_orient(double *y, size_t n, size_t m, const int *maximize);

/* 1 if a dominates b (a <= b everywhere and < somewhere), minimization; 0 otherwise, and 0
 * whenever a or b holds a NAN. */
int hn_pareto_dominates(const double *a, const double *b, size_t m);

/*
 * Non-dominated sorting: rank[i] = 0 for the Pareto front, 1 for the next front, ...: a row's
 * rank is one more than the highest rank among the rows dominating it. Equal rows share a
 * rank. Rows containing NAN get rank -1 and neither dominate nor are dominated. O(m n^2)
 * (n = 2000, m = 4: about 0.1 s). y is borrowed, rank receives n values. Returns 0, or -1
 * with err (out of memory). Thread safe.
 */
int hn_pareto_rank(const double *y, size_t n, size_t m, int *rank, struct hn_error *err);

/*
 * Exact hypervolume dominated by the points and bounded by ref (minimization): the volume
 * of { z : exists i, y_i <= z <= ref }. Rows not strictly better than ref in every objective
 * (and rows with NAN) contribute nothing; dominated and duplicate rows change nothing.
 * m = 2: sort and sweep, O(n log n). m >= 3: WFG (While, Bradstreet, Barone 2012), exact,
 * slicing the last objective and recursing on limit sets; practical for m <= 5 and a few
 * hundred points (bench/bench_hypervolume prints timings). y is borrowed (n x m, row-major),
 * ref has m finite entries. Returns the volume (>= 0), or -1 with err (m = 0, m larger than
 * HN_HYPERVOLUME_MAX_OBJECTIVES, a non-finite reference coordinate, out of memory). Thread
 * safe.
 */
double hn_hypervolume(const double *y, size_t n, size_t m, const double *ref, struct hn_error *err);

/*
 * Infer a reference point the way Ax does (infer_objective_thresholds, which calls BoTorch's
 * infer_reference_point with scale 0.1), translated to minimization: among the rows with
 * finite values, take the Pareto front (duplicates counted once);
 *   - one point on the front: ref_j = y_j + scale * max(|y_j|, 1e-7);
 *   - otherwise: ref_j = nadir_j + scale * max(nadir_j - ideal_j, 1e-7), with nadir (worst)
 *     and ideal (best) over the front.
 * Each ref_j is thus strictly worse than every front point. For maximized objectives Ax flips
 * signs before and after; here callers orient y first (hn_pareto_orient) and negate ref_j of
 * maximized objectives to get the threshold in the user's units. ref receives m values.
 * Returns 0, or -1 with err when no row is finite (or out of memory). Thread safe.
 */
int hn_pareto_infer_ref(const double *y, size_t n, size_t m, double scale, double *ref,
                        struct hn_error *err);

#ifdef __cplusplus
}
#endif
#endif
