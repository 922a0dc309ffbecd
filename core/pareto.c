/*
 * hilnas: non-dominated sorting, exact hypervolume (2-D sweep, WFG for 3+ objectives) and
 * reference-point inference. All objectives are minimized. See include/hilnas/pareto.h.
 *
 * WFG: L. While, L. Bradstreet, L. Barone, "A fast way of calculating exact hypervolumes",
 * IEEE TEC 16(1), 2012: hv(S) = sum_k [ inclhv(p_k) - hv(limit(S after k, p_k)) ], where the
 * limit set replaces every later point q by max(p_k, q) and keeps the non-dominated ones.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/pareto.h"

void hn_pareto_orient(double *y, size_t n, size_t m, const int *maximize)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < m; j++) {
            if (maximize[j]) {
                y[i * m + j] = -y[i * m + j];
            }
        }
    }
}

int hn_pareto_dominates(const double *a, const double *b, size_t m)
{
    int strictly = 0;
    for (size_t j = 0; j < m; j++) {
        if (a[j] > b[j]) {
            return 0;
        }
        strictly |= a[j] < b[j];
    }
    return strictly;
}

static int has_nan(const double *p, size_t m)
{
    for (size_t j = 0; j < m; j++) {
        if (isnan(p[j])) {
            return 1;
        }
    }
    return 0;
}

int hn_pareto_rank(const double *y, size_t n, size_t m, int *rank, struct hn_error *err)
{
    if (n == 0) {
        return 0;
    }
    size_t *count = calloc(n, sizeof(size_t)); /* how many points dominate i */
    size_t *front = malloc(n * sizeof(size_t));
    if (count == NULL || front == NULL) {
        free(count);
        free(front);
        return hn_error_set(err, NULL, "non-dominated sorting: out of memory (%zu points)", n);
    }
    size_t remaining = 0;
    for (size_t i = 0; i < n; i++) {
        rank[i] = has_nan(y + i * m, m) ? -1 : -2; /* -2: not ranked yet */
        remaining += rank[i] == -2;
    }
    for (size_t i = 0; i < n; i++) {
        if (rank[i] == -1) {
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            if (k != i && rank[k] != -1 && hn_pareto_dominates(y + k * m, y + i * m, m)) {
                count[i]++;
            }
        }
    }
    /* peel fronts: a front is every unranked point nobody unranked dominates */
    for (int r = 0; remaining > 0; r++) {
        size_t nf = 0;
        for (size_t i = 0; i < n; i++) {
            if (rank[i] == -2 && count[i] == 0) {
                front[nf++] = i;
            }
        }
        for (size_t f = 0; f < nf; f++) {
            rank[front[f]] = r;
        }
        remaining -= nf;
        for (size_t f = 0; f < nf; f++) {
            const double *p = y + front[f] * m;
            for (size_t k = 0; k < n; k++) {
                if (rank[k] == -2 && hn_pareto_dominates(p, y + k * m, m)) {
                    count[k]--;
                }
            }
        }
    }
    free(count);
    free(front);
    return 0;
}

/* ---- hypervolume ---- */


static _Thread_local size_t cmp_index;

static int cmp_obj(const void *a, const void *b)
{
    double x = ((const double *)a)[cmp_index], y = ((const double *)b)[cmp_index];
    return (x > y) - (x < y);
}

/* 2-D: sort by the first objective; each point that improves the second adds a slab. */
static double hv2d(double *pts, size_t n, const double *ref)
{
    cmp_index = 0;
    qsort(pts, n, 2 * sizeof(double), cmp_obj);
    double area = 0, best_y = ref[1];
    for (size_t i = 0; i < n; i++) {
        double x = pts[2 * i], y = pts[2 * i + 1];
        if (y < best_y) {
            area += (ref[0] - x) * (best_y - y);
            best_y = y;
        }
    }
    return area;
}

/* Keep the non-dominated rows of pts (n x m) in place; returns the new count. */
static size_t nondominated(double *pts, size_t n, size_t m)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const double *p = pts + i * m;
        int dominated = 0;
        for (size_t j = 0; j < n && !dominated; j++) {
            if (j == i) {
                continue;
            }
            const double *q = pts + j * m;
            /* dominated, or an exact duplicate of an earlier point */
            dominated = hn_pareto_dominates(q, p, m) || (j < i && memcmp(p, q, m * sizeof(double)) == 0);
        }
        if (!dominated) {
            if (k != i) {
                memmove(pts + k * m, p, m * sizeof(double));
            }
            k++;
        }
    }
    return k;
}

static double inclhv(const double *p, size_t m, const double *ref)
{
    double v = 1;
    for (size_t j = 0; j < m; j++) {
        v *= ref[j] - p[j];
    }
    return v;
}

/* pts: n non-dominated points strictly better than ref; consumed (reordered). */
static double wfg(double *pts, size_t n, size_t m, const double *ref, int *oom)
{
    if (n == 0) {
        return 0;
    }
    if (n == 1) {
        return inclhv(pts, m, ref);
    }
    if (m == 2) {
        return hv2d(pts, n, ref);
    }
    /* worst-first in the last objective keeps the limit sets small */
    cmp_index = m - 1;
    qsort(pts, n, m * sizeof(double), cmp_obj);
    for (size_t a = 0, b = n - 1; a < b; a++, b--) {
        double tmp[16];
        memcpy(tmp, pts + a * m, m * sizeof(double));
        memcpy(pts + a * m, pts + b * m, m * sizeof(double));
        memcpy(pts + b * m, tmp, m * sizeof(double));
    }
    double *limit = malloc(n * m * sizeof(double));
    if (limit == NULL) {
        *oom = 1;
        return 0;
    }
    double total = 0;
    for (size_t k = 0; k < n; k++) {
        const double *p = pts + k * m;
        size_t nl = 0;
        for (size_t j = k + 1; j < n; j++) {
            for (size_t c = 0; c < m; c++) {
                double q = pts[j * m + c];
                limit[nl * m + c] = q > p[c] ? q : p[c];
            }
            nl++;
        }
        nl = nondominated(limit, nl, m);
        total += inclhv(p, m, ref) - wfg(limit, nl, m, ref, oom);
    }
    free(limit);
    return total;
}

double hn_hypervolume(const double *y, size_t n, size_t m, const double *ref,
                      struct hn_error *err)
{
    if (m < 1 || m > 16) {
        hn_error_set(err, NULL, "hypervolume: %zu objectives (1..16 supported)", m);
        return -1;
    }
    for (size_t j = 0; j < m; j++) {
        if (!isfinite(ref[j])) {
            hn_error_set(err, NULL, "hypervolume: reference point coordinate %zu is not finite",
                         j);
            return -1;
        }
    }
    double *pts = malloc((n ? n : 1) * m * sizeof(double));
    if (pts == NULL) {
        hn_error_set(err, NULL, "hypervolume: out of memory (%zu points)", n);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const double *p = y + i * m;
        int inside = 1;
        for (size_t j = 0; j < m; j++) {
            inside &= p[j] < ref[j]; /* NAN compares false: dropped */
        }
        if (inside) {
            memcpy(pts + k * m, p, m * sizeof(double));
            k++;
        }
    }
    double hv = 0;
    if (m == 1) {
        for (size_t i = 0; i < k; i++) {
            hv = fmax(hv, ref[0] - pts[i]);
        }
    } else {
        k = nondominated(pts, k, m);
        int oom = 0;
        hv = wfg(pts, k, m, ref, &oom);
        if (oom) {
            free(pts);
            hn_error_set(err, NULL, "hypervolume: out of memory");
            return -1;
        }
    }
    free(pts);
    return hv;
}

int hn_pareto_infer_ref(const double *y, size_t n, size_t m, double scale, double *ref,
                        struct hn_error *err)
{
    int *rank = malloc((n ? n : 1) * sizeof(int));
    if (rank == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    if (hn_pareto_rank(y, n, m, rank, err) != 0) {
        free(rank);
        return -1;
    }
    int any = 0;
    for (size_t j = 0; j < m; j++) {
        double nadir = -INFINITY, ideal = INFINITY;
        for (size_t i = 0; i < n; i++) {
            if (rank[i] != 0) {
                continue;
            }
            double v = y[i * m + j];
            if (isfinite(v)) {
                nadir = fmax(nadir, v);
                ideal = fmin(ideal, v);
                any = 1;
            }
        }
        if (!isfinite(nadir)) {
            free(rank);
            return hn_error_set(err, NULL,
                                "cannot infer a reference point: objective %zu has no finite "
                                "value on the Pareto front",
                                j);
        }
        double range = nadir - ideal;
        if (range > 0) {
            ref[j] = nadir + scale * range;
        } else if (nadir != 0) {
            ref[j] = nadir + scale * fabs(nadir);
        } else {
            ref[j] = nadir + scale;
        }
    }
    free(rank);
    if (!any) {
        return hn_error_set(err, NULL, "cannot infer a reference point: no finite points");
    }
    return 0;
}
