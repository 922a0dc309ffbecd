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

/* Flip signs so every objective is minimized: y[i*m+j] = -y[i*m+j] where maximize[j]. */
void hn_pareto_orient(double *y, size_t n, size_t m, const int *maximize);

/* 1 if a dominates b (a <= b everywhere and < somewhere), minimization. */
int hn_pareto_dominates(const double *a, const double *b, size_t m);

/*
 * Non-dominated sorting: rank[i] = 0 for the Pareto front, 1 for the next front, ...
 * Rows containing NAN get rank -1. O(m n^2). Returns 0, or -1 with err (out of memory).
 */
int hn_pareto_rank(const double *y, size_t n, size_t m, int *rank, struct hn_error *err);

/*
 * Exact hypervolume dominated by the points and bounded by ref (minimization): the volume
 * of { z : exists i, y_i <= z <= ref }. Points not strictly better than ref in every
 * objective contribute nothing. Exact for any m (2: sweep O(n log n); 3+: WFG); intended for
 * m <= 5 and fronts of a few hundred points. Returns the volume, or -1 with err.
 */
double hn_hypervolume(const double *y, size_t n, size_t m, const double *ref,
                      struct hn_error *err);

/*
 * Infer a reference point the way Ax does (infer_reference_point): from the Pareto front of
 * y (minimization), take the worst (nadir) value of each objective and move it away by
 * scale (0.1 in Ax) times the front's range in that objective (or times |nadir| if the range
 * is 0, or by scale if both are 0). Returns 0, or -1 with err when no finite point exists.
 */
int hn_pareto_infer_ref(const double *y, size_t n, size_t m, double scale, double *ref,
                        struct hn_error *err);

#ifdef __cplusplus
}
#endif
#endif
