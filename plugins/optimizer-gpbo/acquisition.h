/*
 * gpbo acquisition functions (pure math, tested on their own): log expected improvement,
 * log probability of feasibility, exact 2-objective expected hypervolume improvement, Monte
 * Carlo hypervolume improvement. Everything is in *minimization* form.
 */
#ifndef HILNAS_GPBO_ACQUISITION_H
#define HILNAS_GPBO_ACQUISITION_H

#include <stddef.h>

#define GPBO_MAX_OBJ 8

/*
 * log EI for minimization: log E[max(best - Y, 0)], Y ~ N(mu, sigma^2). With the derivatives
 * w.r.t. mu and sigma in d_mu / d_sigma (may be NULL).
 */
double gpbo_log_ei(double mu, double sigma, double best, double *d_mu, double *d_sigma);

/* log P(Y <= upper) (or P(Y >= lower) when upper_bound == 0), with derivatives. */
double gpbo_log_pof(double mu, double sigma, double bound, int upper_bound, double *d_mu,
                    double *d_sigma);

/*
 * log P(lo <= Y <= hi) for either side infinite or both finite, with derivatives (a probability
 * below 1e-300 gives log(1e-300) and zero derivatives).
 */
double gpbo_log_pof2(double mu, double sigma, double lo, double hi, double *d_mu, double *d_sigma);

/*
 * Exact EHVI for two objectives (minimization) of independent Y1 ~ N(mu[0], s[0]^2),
 * Y2 ~ N(mu[1], s[1]^2) against the non-dominated points `front` (k x 2, any order; dominated
 * points and points outside ref are ignored) and reference point ref. d_mu, d_s (2 each) get the
 * derivatives when not NULL.
 */
double gpbo_ehvi2(const double *mu, const double *s, const double *front, size_t k,
                  const double *ref, double *d_mu, double *d_s);

/* Hypervolume improvement of point y over the front (k x m), minimization. */
double gpbo_hvi(const double *y, const double *front, size_t k, size_t m, const double *ref,
                double front_hv);

/*
 * Expected hypervolume improvement for m (2..GPBO_MAX_OBJ) objectives (minimization) of a point
 * whose objectives are independent normals, over a fixed front and reference point.
 *
 * The non-dominated region (bounded above by ref) is cut into cells: a grid over the front's
 * coordinates in the first m-1 objectives, and in each grid cell a column y_m < c where c is
 * the best last coordinate among front points weakly below the cell's lower corner. In a cell
 * [l, u) x (-inf, c) the improvement of y is prod_j (max(0, u_j - y_j) - max(0, l_j - y_j)) *
 * max(0, c - y_m), and with independent objectives its expectation is the product of the
 * one-dimensional expectations psi_j(u_j) - psi_j(l_j), psi(c) = E[max(c - Y, 0)]
 * (Emmerich, Yang et al. for m = 2; exact for any m, (k+1)^(m-1) cells for k front points).
 * A standard deviation of 0 gives the improvement of the point itself (Monte Carlo use).
 *
 * gpbo_ehvi_new copies what it needs; NULL on out of memory or m out of range. Read-only after
 * creation: evaluations may run concurrently.
 */
struct gpbo_ehvi;
struct gpbo_ehvi *gpbo_ehvi_new(const double *front, size_t k, size_t m, const double *ref);
void gpbo_ehvi_free(struct gpbo_ehvi *e);
/* E[HVI] at means mu (m), standard deviations s (m), with derivatives when not NULL. */
double gpbo_ehvi_value(const struct gpbo_ehvi *e, const double *mu, const double *s, double *d_mu,
                       double *d_s);
size_t gpbo_ehvi_cells(const struct gpbo_ehvi *e);

#endif
