/*
 * gpbo acquisition functions (pure math, tested on their own): log expected improvement,
 * log probability of feasibility, exact 2-objective expected hypervolume improvement, Monte
 * Carlo hypervolume improvement. Everything is in *minimization* form.
 */
#ifndef HILNAS_GPBO_ACQUISITION_H
#define HILNAS_GPBO_ACQUISITION_H

#include <stddef.h>

/*
 * log EI for minimization: log E[max(best - Y, 0)], Y ~ N(mu, sigma^2). With the derivatives
 * w.r.t. mu and sigma in d_mu / d_sigma (may be NULL).
 */
double gpbo_log_ei(double mu, double sigma, double best, double *d_mu, double *d_sigma);

/* log P(Y <= upper) (or P(Y >= lower) when upper_bound == 0), with derivatives. */
double gpbo_log_pof(double mu, double sigma, double bound, int upper_bound, double *d_mu,
                    double *d_sigma);

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

#endif
