/* gpbo acquisition functions (see acquisition.h). */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/gp.h"
#include "hilnas/pareto.h"
#include "plugins/optimizer-gpbo/acquisition.h"

double gpbo_log_ei(double mu, double sigma, double best, double *d_mu, double *d_sigma)
{
    double z = (best - mu) / sigma;
    double log_h = hn_log_h(z);
    /* h'(z) = Phi(z): the ratio Phi/h computed in log space, stable in both tails */
    double ratio = exp(hn_norm_logcdf(z) - log_h);
    if (d_mu) {
        *d_mu = -ratio / sigma;
    }
    if (d_sigma) {
        *d_sigma = 1 / sigma - ratio * z / sigma;
    }
    return log(sigma) + log_h;
}

double gpbo_log_pof(double mu, double sigma, double bound, int upper_bound, double *d_mu,
                    double *d_sigma)
{
    double u = upper_bound ? (bound - mu) / sigma : (mu - bound) / sigma;
    double lc = hn_norm_logcdf(u);
    /* d logPhi(u)/du = phi(u)/Phi(u) */
    double r = exp(-0.5 * u * u - 0.5 * log(2 * M_PI) - lc);
    double du_dmu = upper_bound ? -1 / sigma : 1 / sigma;
    if (d_mu) {
        *d_mu = r * du_dmu;
    }
    if (d_sigma) {
        *d_sigma = r * (-u / sigma);
    }
    return lc;
}

/* psi(c) = E[max(c - Y, 0)] = (c - mu) Phi(t) + s phi(t), t = (c - mu)/s; dpsi/dmu = -Phi(t),
 * dpsi/ds = phi(t). */
static double psi(double c, double mu, double s, double *dmu, double *ds)
{
    if (isinf(c)) {
        *dmu = 0;
        *ds = 0;
        return 0; /* c = -inf */
    }
    double t = (c - mu) / s, cdf = hn_norm_cdf(t), pdf = hn_norm_pdf(t);
    *dmu = -cdf;
    *ds = pdf;
    return (c - mu) * cdf + s * pdf;
}

static int cmp_x(const void *a, const void *b)
{
    const double *p = a, *q = b;
    return (p[0] > q[0]) - (p[0] < q[0]);
}

double gpbo_ehvi2(const double *mu, const double *s, const double *front, size_t k,
                  const double *ref, double *d_mu, double *d_s)
{
    /* the staircase: non-dominated front points inside ref, x ascending (y descending) */
    double *p = malloc((k + 1) * 2 * sizeof(double));
    size_t np = 0;
    if (p == NULL) {
        return 0;
    }
    for (size_t i = 0; i < k; i++) {
        if (front[2 * i] < ref[0] && front[2 * i + 1] < ref[1]) {
            p[2 * np] = front[2 * i];
            p[2 * np + 1] = front[2 * i + 1];
            np++;
        }
    }
    qsort(p, np, 2 * sizeof(double), cmp_x);
    size_t m = 0;
    double best_y = INFINITY;
    for (size_t i = 0; i < np; i++) {
        if (p[2 * i + 1] < best_y) {
            best_y = p[2 * i + 1];
            p[2 * m] = p[2 * i];
            p[2 * m + 1] = p[2 * i + 1];
            m++;
        }
    }
    /*
     * Cells j = 0..m: x in [a_j, b_j), y < c_j with a_0 = -inf, a_j = p_j.x, b_j = p_{j+1}.x
     * (b_m = ref.x), c_0 = ref.y, c_j = p_j.y. E[HVI] = sum_j (psi1(b_j) - psi1(a_j)) psi2(c_j).
     */
    double total = 0, g[4] = {0, 0, 0, 0};
    for (size_t j = 0; j <= m; j++) {
        double a = j == 0 ? -INFINITY : p[2 * (j - 1)];
        double b = j == m ? ref[0] : p[2 * j];
        double c = j == 0 ? ref[1] : p[2 * (j - 1) + 1];
        double dbm, dbs, dam, das, dcm, dcs;
        double w = psi(b, mu[0], s[0], &dbm, &dbs) - psi(a, mu[0], s[0], &dam, &das);
        double h = psi(c, mu[1], s[1], &dcm, &dcs);
        total += w * h;
        g[0] += (dbm - dam) * h;
        g[1] += w * dcm;
        g[2] += (dbs - das) * h;
        g[3] += w * dcs;
    }
    free(p);
    if (d_mu) {
        d_mu[0] = g[0];
        d_mu[1] = g[1];
    }
    if (d_s) {
        d_s[0] = g[2];
        d_s[1] = g[3];
    }
    return total;
}

double gpbo_hvi(const double *y, const double *front, size_t k, size_t m, const double *ref,
                double front_hv)
{
    for (size_t j = 0; j < m; j++) {
        if (!(y[j] < ref[j])) {
            return 0;
        }
    }
    double *all = malloc((k + 1) * m * sizeof(double));
    if (all == NULL) {
        return 0;
    }
    memcpy(all, front, k * m * sizeof(double));
    memcpy(all + k * m, y, m * sizeof(double));
    double hv = hn_hypervolume(all, k + 1, m, ref, NULL);
    free(all);
    return hv > front_hv ? hv - front_hv : 0;
}
