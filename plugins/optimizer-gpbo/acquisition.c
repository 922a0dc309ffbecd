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
    if (!(s > 0)) {
        /* a point mass: max(c - mu, 0) */
        *dmu = c > mu ? -1 : 0;
        *ds = 0;
        return c > mu ? c - mu : 0;
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

/* ---- EHVI for m objectives over a cell decomposition ---- */

struct gpbo_ehvi {
    size_t m;
    size_t n_grid[GPBO_MAX_OBJ]; /* dims 0..m-2: -inf, sorted front coordinates, ref */
    double *grid[GPBO_MAX_OBJ];
    size_t n_last; /* distinct upper bounds c of the columns in the last dimension */
    double *last;
    size_t n_cells;
    unsigned *cell; /* n_cells x m: lower grid index in dims 0..m-2, then index into last */
};

void gpbo_ehvi_free(struct gpbo_ehvi *e)
{
    if (e == NULL) {
        return;
    }
    for (size_t j = 0; j < GPBO_MAX_OBJ; j++) {
        free(e->grid[j]);
    }
    free(e->last);
    free(e->cell);
    free(e);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorted distinct values of v (n), written back; returns the count. */
static size_t sort_unique(double *v, size_t n)
{
    qsort(v, n, sizeof(double), cmp_double);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k == 0 || v[i] != v[k - 1]) {
            v[k++] = v[i];
        }
    }
    return k;
}

/* The points of front (k x m) strictly inside the reference box and not dominated by another
 * (exact duplicates once) into p; returns their count. */
static size_t nondominated_inside(const double *front, size_t k, size_t m, const double *ref,
                                  double *p)
{
    size_t np = 0;
    for (size_t i = 0; i < k; i++) {
        int inside = 1;
        for (size_t j = 0; j < m; j++) {
            inside &= front[i * m + j] < ref[j];
        }
        if (inside) {
            memcpy(p + np * m, front + i * m, m * sizeof(double));
            np++;
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < np; i++) {
        int dominated = 0;
        for (size_t q = 0; q < np && !dominated; q++) {
            if (q == i) {
                continue;
            }
            int le = 1, lt = 0;
            for (size_t j = 0; j < m; j++) {
                le &= p[q * m + j] <= p[i * m + j];
                lt |= p[q * m + j] < p[i * m + j];
            }
            /* dominated, or an exact duplicate of an earlier point */
            dominated = le && (lt || q < i);
        }
        if (!dominated) {
            memmove(p + kept * m, p + i * m, m * sizeof(double));
            kept++;
        }
    }
    return kept;
}

/* The grid of dims 0..m-2 (-inf, the points' sorted coordinates, ref) and the distinct last
 * coordinates; returns the number of cells, or 0 out of memory. */
static size_t build_grid(struct gpbo_ehvi *e, const double *p, size_t np, const double *ref)
{
    size_t m = e->m, cells = 1;
    for (size_t j = 0; j + 1 < m; j++) {
        e->grid[j] = malloc((np + 2) * sizeof(double));
        if (e->grid[j] == NULL) {
            return 0;
        }
        for (size_t i = 0; i < np; i++) {
            e->grid[j][i] = p[i * m + j];
        }
        size_t u = sort_unique(e->grid[j], np);
        memmove(e->grid[j] + 1, e->grid[j], u * sizeof(double));
        e->grid[j][0] = -INFINITY;
        e->grid[j][u + 1] = ref[j];
        e->n_grid[j] = u + 2;
        cells *= u + 1;
    }
    e->last = malloc((np + 1) * sizeof(double));
    if (e->last == NULL) {
        return 0;
    }
    for (size_t i = 0; i < np; i++) {
        e->last[i] = p[i * m + m - 1];
    }
    e->last[np] = ref[m - 1];
    e->n_last = sort_unique(e->last, np + 1);
    return cells;
}

/* Each cell's lower grid indices and its column bound: the best last coordinate among the
 * points weakly below its lower corner (or ref), as an index into e->last. */
static void fill_cells(struct gpbo_ehvi *e, const double *p, size_t np, const double *ref)
{
    size_t m = e->m;
    unsigned idx[GPBO_MAX_OBJ];
    memset(idx, 0, sizeof(idx));
    for (size_t c = 0; c < e->n_cells; c++) {
        double bound = ref[m - 1];
        for (size_t i = 0; i < np; i++) {
            int below = 1;
            for (size_t j = 0; j + 1 < m && below; j++) {
                below = p[i * m + j] <= e->grid[j][idx[j]];
            }
            if (below && p[i * m + m - 1] < bound) {
                bound = p[i * m + m - 1];
            }
        }
        double *hit = bsearch(&bound, e->last, e->n_last, sizeof(double), cmp_double);
        for (size_t j = 0; j + 1 < m; j++) {
            e->cell[c * m + j] = idx[j];
        }
        e->cell[c * m + m - 1] = (unsigned)(hit - e->last);
        /* next cell: odometer over dims 0..m-2 */
        for (size_t j = 0; j + 1 < m; j++) {
            if (++idx[j] + 1 < e->n_grid[j]) {
                break;
            }
            idx[j] = 0;
        }
    }
}

struct gpbo_ehvi *gpbo_ehvi_new(const double *front, size_t k, size_t m, const double *ref)
{
    if (m < 2 || m > GPBO_MAX_OBJ) {
        return NULL;
    }
    struct gpbo_ehvi *e = calloc(1, sizeof(*e));
    double *p = malloc((k + 1) * m * sizeof(double));
    if (e == NULL || p == NULL) {
        goto fail;
    }
    e->m = m;
    size_t np = nondominated_inside(front, k, m, ref, p);
    size_t cells = build_grid(e, p, np, ref);
    if (cells == 0) {
        goto fail;
    }
    e->cell = malloc(cells * m * sizeof(unsigned));
    if (e->cell == NULL) {
        goto fail;
    }
    e->n_cells = cells;
    fill_cells(e, p, np, ref);
    free(p);
    return e;
fail:
    free(p);
    gpbo_ehvi_free(e);
    return NULL;
}

double gpbo_ehvi_value(const struct gpbo_ehvi *e, const double *mu, const double *s, double *d_mu,
                       double *d_s)
{
    size_t m = e->m;
    /* psi and its derivatives at every grid value, per dimension */
    double buf[3 * 1024];
    double *heap = NULL, *ps[GPBO_MAX_OBJ], *pm[GPBO_MAX_OBJ], *pd[GPBO_MAX_OBJ];
    size_t need = 0;
    for (size_t j = 0; j + 1 < m; j++) {
        need += 3 * e->n_grid[j];
    }
    need += 3 * e->n_last;
    double *mem = buf;
    if (need > sizeof(buf) / sizeof(buf[0])) {
        heap = malloc(need * sizeof(double));
        if (heap == NULL) {
            return NAN;
        }
        mem = heap;
    }
    for (size_t j = 0; j < m; j++) {
        size_t n = j + 1 < m ? e->n_grid[j] : e->n_last;
        const double *g = j + 1 < m ? e->grid[j] : e->last;
        ps[j] = mem;
        pm[j] = mem + n;
        pd[j] = mem + 2 * n;
        mem += 3 * n;
        for (size_t i = 0; i < n; i++) {
            ps[j][i] = psi(g[i], mu[j], s[j], &pm[j][i], &pd[j][i]);
        }
    }
    double total = 0, gm[GPBO_MAX_OBJ] = {0}, gs[GPBO_MAX_OBJ] = {0};
    for (size_t c = 0; c < e->n_cells; c++) {
        const unsigned *ix = e->cell + c * m;
        double w[GPBO_MAX_OBJ], wm[GPBO_MAX_OBJ], ws[GPBO_MAX_OBJ];
        for (size_t j = 0; j + 1 < m; j++) {
            unsigned a = ix[j];
            w[j] = ps[j][a + 1] - ps[j][a];
            wm[j] = pm[j][a + 1] - pm[j][a];
            ws[j] = pd[j][a + 1] - pd[j][a];
        }
        w[m - 1] = ps[m - 1][ix[m - 1]];
        wm[m - 1] = pm[m - 1][ix[m - 1]];
        ws[m - 1] = pd[m - 1][ix[m - 1]];
        double prod = 1;
        for (size_t j = 0; j < m; j++) {
            prod *= w[j];
        }
        total += prod;
        if (d_mu || d_s) {
            for (size_t j = 0; j < m; j++) {
                double others = 1;
                for (size_t q = 0; q < m; q++) {
                    if (q != j) {
                        others *= w[q];
                    }
                }
                gm[j] += wm[j] * others;
                gs[j] += ws[j] * others;
            }
        }
    }
    for (size_t j = 0; j < m; j++) {
        if (d_mu) {
            d_mu[j] = gm[j];
        }
        if (d_s) {
            d_s[j] = gs[j];
        }
    }
    free(heap);
    return total;
}

size_t gpbo_ehvi_cells(const struct gpbo_ehvi *e)
{
    return e->n_cells;
}

double gpbo_log_pof2(double mu, double sigma, double lo, double hi, double *d_mu, double *d_sigma)
{
    double dm = 0, ds = 0, value = 0;
    if (isinf(lo) && isinf(hi)) {
        value = lo < hi ? 0 : -INFINITY;
    } else if (isinf(lo)) {
        value = gpbo_log_pof(mu, sigma, hi, 1, &dm, &ds);
    } else if (isinf(hi)) {
        value = gpbo_log_pof(mu, sigma, lo, 0, &dm, &ds);
    } else {
        double a = (lo - mu) / sigma, b = (hi - mu) / sigma;
        /* P = Phi(b) - Phi(a), computed in the tail where it does not cancel */
        double p = a > 0 ? hn_norm_cdf(-a) - hn_norm_cdf(-b) : hn_norm_cdf(b) - hn_norm_cdf(a);
        double pa = hn_norm_pdf(a), pb = hn_norm_pdf(b);
        if (p > 1e-300) {
            value = log(p);
            dm = (pa - pb) / sigma / p;
            ds = (pa * a - pb * b) / sigma / p;
        } else {
            value = log(1e-300);
        }
    }
    if (d_mu) {
        *d_mu = dm;
    }
    if (d_sigma) {
        *d_sigma = ds;
    }
    return value;
}
