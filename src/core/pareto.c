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
        if (!(a[j] <= b[j])) { /* also false when either is NAN */
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
    int rc = -1;
    size_t *count = calloc(n ? n : 1, sizeof(size_t)); /* how many unranked points dominate i */
    size_t *front = malloc((n ? n : 1) * sizeof(size_t));
    if (count == NULL || front == NULL) {
        hn_error_set(err, NULL, "non-dominated sorting: out of memory (%zu points)", n);
        goto fail;
    }
    size_t remaining = 0;
    for (size_t i = 0; i < n; i++) {
        rank[i] = has_nan(y + i * m, m) ? -1 : -2; /* -2: not ranked yet */
        remaining += rank[i] == -2;
    }
    /* each pair once; NAN rows neither dominate nor are dominated */
    for (size_t i = 0; i < n; i++) {
        for (size_t k = i + 1; k < n; k++) {
            if (hn_pareto_dominates(y + k * m, y + i * m, m)) {
                count[i]++;
            } else if (hn_pareto_dominates(y + i * m, y + k * m, m)) {
                count[k]++;
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
    rc = 0;
fail:
    free(count);
    free(front);
    return rc;
}

/* ---- hypervolume ---- */

/*
 * Points are rows of k doubles (k = the number of objectives still in play: the recursion
 * drops the last one at each level). ref has at least k entries.
 */

static _Thread_local size_t cmp_index;

/* qsort order: ascending in objective cmp_index */
static int cmp_ascending(const void *a, const void *b)
{
    double x = ((const double *)a)[cmp_index], y = ((const double *)b)[cmp_index];
    return (x > y) - (x < y);
}

/* qsort order: descending in objective cmp_index (worst first, for minimization) */
static int cmp_descending(const void *a, const void *b)
{
    return cmp_ascending(b, a);
}

/* Volume of the box between p and ref in the first k objectives. */
static double box_volume(const double *p, size_t k, const double *ref)
{
    double v = 1;
    for (size_t j = 0; j < k; j++) {
        v *= ref[j] - p[j];
    }
    return v;
}

/* 1 if a <= b in each of the first k objectives (a weakly dominates or equals b). */
static int weakly_dominates(const double *a, const double *b, size_t k)
{
    for (size_t j = 0; j < k; j++) {
        if (a[j] > b[j]) {
            return 0;
        }
    }
    return 1;
}

/*
 * 2-D: sort by the first objective; walking right, each point that improves the best second
 * objective so far adds the slab (ref0 - x) * (best_y - y). Dominated points add nothing.
 */
static double hv2d(double *pts, size_t n, const double *ref)
{
    cmp_index = 0;
    qsort(pts, n, 2 * sizeof(double), cmp_ascending);
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

/*
 * Keep the rows of pts (n x k) that no other row weakly dominates (a row equal to a later one
 * is dropped too, so one copy of each duplicate stays). In place; returns the new count.
 */
static size_t keep_nondominated(double *pts, size_t n, size_t k)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const double *p = pts + i * k;
        int dominated = 0;
        /* rows before i that survived, then rows after i */
        for (size_t j = 0; j < kept && !dominated; j++) {
            dominated = weakly_dominates(pts + j * k, p, k);
        }
        for (size_t j = i + 1; j < n && !dominated; j++) {
            dominated = weakly_dominates(pts + j * k, p, k);
        }
        if (!dominated) {
            if (kept != i) {
                memmove(pts + kept * k, p, k * sizeof(double));
            }
            kept++;
        }
    }
    return kept;
}

/*
 * WFG (While, Bradstreet and Barone 2012) with the last objective sliced away:
 * sort the n mutually non-dominated points worst-first in objective k-1, so z_1 >= ... >= z_n.
 * At height t in that objective the dominated cross-section is the (k-1)-D hypervolume of the
 * suffix {p_i : z_i <= t}, and telescoping over suffixes gives
 *
 *   hv_k(S) = sum_i (ref_{k-1} - z_i) * exclhv_{k-1}(p_i, {p_{i+1}, ..., p_n}),
 *   exclhv_{k-1}(p, T) = box_{k-1}(p) - hv_{k-1}(nondominated(limit(T, p))),
 *
 * where limit(T, p) replaces each q by max(p, q) coordinate-wise (first k-1 objectives).
 * Sorting worst-first keeps the limit sets small: later points are better in the dropped
 * objective, so they tend to dominate p elsewhere less. scratch holds the limit sets of the
 * lower levels: n*(k-1) doubles for this level, then the rest for deeper ones.
 */
static double wfg(double *pts, size_t n, size_t k, const double *ref, double *scratch)
{
    if (n == 0) {
        return 0;
    }
    if (n == 1) {
        return box_volume(pts, k, ref);
    }
    if (k == 2) {
        return hv2d(pts, n, ref);
    }
    cmp_index = k - 1;
    qsort(pts, n, k * sizeof(double), cmp_descending);
    const size_t kl = k - 1;
    double *limit = scratch, *deeper = scratch + n * kl;
    double volume = 0;
    for (size_t i = 0; i < n; i++) {
        const double *p = pts + i * k;
        double excl = box_volume(p, kl, ref);
        size_t nl = 0;
        int covered = 0;
        for (size_t j = i + 1; j < n && !covered; j++) {
            const double *q = pts + j * k;
            double *l = limit + nl * kl;
            for (size_t c = 0; c < kl; c++) {
                l[c] = q[c] > p[c] ? q[c] : p[c];
            }
            /* q weakly dominates p in the remaining objectives: nothing of p is exclusive */
            covered = weakly_dominates(q, p, kl);
            nl++;
        }
        if (covered) {
            continue;
        }
        if (nl > 0) {
            nl = keep_nondominated(limit, nl, kl);
            excl -= wfg(limit, nl, kl, ref, deeper);
        }
        volume += (ref[k - 1] - p[k - 1]) * excl;
    }
    return volume;
}

double hn_hypervolume(const double *y, size_t n, size_t m, const double *ref, struct hn_error *err)
{
    double *pts = NULL, *scratch = NULL;
    double hv = -1;
    if (m < 1) {
        hn_error_set(err, NULL, "hypervolume: no objectives (m = 0); pass at least one");
        goto fail;
    }
    if (m > HN_HYPERVOLUME_MAX_OBJECTIVES) {
        hn_error_set(err, NULL,
                     "hypervolume: %zu objectives, at most %d (the exact computation's cost "
                     "grows exponentially with the number of objectives)",
                     m, HN_HYPERVOLUME_MAX_OBJECTIVES);
        goto fail;
    }
    for (size_t j = 0; j < m; j++) {
        if (!isfinite(ref[j])) {
            hn_error_set(err, NULL,
                         "hypervolume: reference point coordinate %zu is %g; give a finite "
                         "reference point",
                         j, ref[j]);
            goto fail;
        }
    }
    pts = malloc((n ? n : 1) * m * sizeof(double));
    if (pts == NULL) {
        hn_error_set(err, NULL, "hypervolume: out of memory (%zu points, %zu objectives)", n, m);
        goto fail;
    }
    size_t inside = 0;
    for (size_t i = 0; i < n; i++) {
        const double *p = y + i * m;
        int better = 1;
        for (size_t j = 0; j < m; j++) {
            better &= p[j] < ref[j]; /* NAN compares false: dropped */
        }
        if (better) {
            memcpy(pts + inside * m, p, m * sizeof(double));
            inside++;
        }
    }
    if (m == 1) {
        hv = 0;
        for (size_t i = 0; i < inside; i++) {
            hv = fmax(hv, ref[0] - pts[i]);
        }
    } else if (m == 2) {
        hv = hv2d(pts, inside, ref);
    } else {
        inside = keep_nondominated(pts, inside, m);
        /* limit sets of levels m-1 .. 2: sum of inside * k doubles */
        size_t scratch_len = 0;
        for (size_t k = 2; k < m; k++) {
            scratch_len += inside * k;
        }
        scratch = malloc((scratch_len ? scratch_len : 1) * sizeof(double));
        if (scratch == NULL) {
            hn_error_set(err, NULL, "hypervolume: out of memory (%zu points, %zu objectives)",
                         inside, m);
            goto fail;
        }
        hv = wfg(pts, inside, m, ref, scratch);
    }
fail:
    free(pts);
    free(scratch);
    return hv;
}

/* Smallest range used when padding the nadir (BoTorch's MIN_Y_RANGE). */
#define MIN_RANGE 1e-7

int hn_pareto_infer_ref(const double *y, size_t n, size_t m, double scale, double *ref,
                        struct hn_error *err)
{
    double *finite = NULL;
    int *rank = NULL;
    int rc = -1;
    if (m < 1) {
        hn_error_set(err, NULL, "cannot infer a reference point: no objectives (m = 0)");
        goto fail;
    }
    finite = malloc((n ? n : 1) * m * sizeof(double));
    rank = malloc((n ? n : 1) * sizeof(int));
    if (finite == NULL || rank == NULL) {
        hn_error_set(err, NULL, "cannot infer a reference point: out of memory (%zu points)", n);
        goto fail;
    }
    /* rows with NAN or an infinity are ignored */
    size_t nf = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = 1;
        for (size_t j = 0; j < m; j++) {
            ok &= isfinite(y[i * m + j]) != 0;
        }
        if (ok) {
            memcpy(finite + nf * m, y + i * m, m * sizeof(double));
            nf++;
        }
    }
    if (nf == 0) {
        hn_error_set(err, NULL,
                     "cannot infer a reference point: none of the %zu points has finite values "
                     "in all %zu objectives; give the reference point explicitly",
                     n, m);
        goto fail;
    }
    if (hn_pareto_rank(finite, nf, m, rank, err) != 0) {
        goto fail;
    }
    /* distinct points on the front: BoTorch deduplicates the front before counting */
    size_t front = 0, first = nf;
    for (size_t i = 0; i < nf; i++) {
        if (rank[i] != 0) {
            continue;
        }
        if (first == nf) {
            first = i;
            front = 1;
        } else if (memcmp(finite + i * m, finite + first * m, m * sizeof(double)) != 0) {
            front = 2; /* two distinct points are enough to know which rule applies */
        }
    }
    for (size_t j = 0; j < m; j++) {
        if (front == 1) {
            /* one point: pad by a fraction of its magnitude */
            double v = finite[first * m + j];
            ref[j] = v + scale * fmax(fabs(v), MIN_RANGE);
            continue;
        }
        double nadir = -INFINITY, ideal = INFINITY;
        for (size_t i = 0; i < nf; i++) {
            if (rank[i] == 0) {
                nadir = fmax(nadir, finite[i * m + j]);
                ideal = fmin(ideal, finite[i * m + j]);
            }
        }
        ref[j] = nadir + scale * fmax(nadir - ideal, MIN_RANGE);
    }
    rc = 0;
fail:
    free(finite);
    free(rank);
    return rc;
}
