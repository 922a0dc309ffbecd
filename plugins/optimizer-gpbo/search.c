/*
 * gpbo: acquisition optimization (see gpbo.c's file comment, step 4): raw samples scored in
 * batches, L-BFGS (SLSQP under linear constraints) on the continuous relaxation from the best
 * (or Boltzmann-sampled) raw samples, and for discrete parameters exhaustive enumeration of
 * small all-discrete spaces or hill climbs over one-step neighbours (discrete: local), or
 * rounding of the continuous optimum (discrete: round).
 */
#include "config.h"

#include <math.h>
#include <nlopt.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/rng.h"
#include "hilnas/sobol.h"
#include "plugins/optimizer-gpbo/gpbo.h"

/* Relaxed native value of parameter i at model-space column value t, with d/dt. */
static double relaxed_native(const struct hn_param *q, double t, double *dt)
{
    t = fmin(1, fmax(0, t));
    switch (q->type) {
    case HN_PARAM_FLOAT:
    case HN_PARAM_INT:
        if (q->log_scale) {
            double r = log(q->hi / q->lo), v = q->lo * exp(t * r);
            *dt = v * r;
            return v;
        }
        *dt = q->hi - q->lo;
        return q->lo + t * (q->hi - q->lo);
    case HN_PARAM_CHOICE: {
        if (q->n_values < 2) {
            *dt = 0;
            return q->values[0];
        }
        double pos = t * (double)(q->n_values - 1);
        size_t k = (size_t)floor(pos);
        if (k >= q->n_values - 1) {
            k = q->n_values - 2;
        }
        double slope = q->values[k + 1] - q->values[k];
        *dt = slope * (double)(q->n_values - 1);
        return q->values[k] + (pos - (double)k) * slope;
    }
    case HN_PARAM_BOOL:
        *dt = 1;
        return t;
    default:
        *dt = 0;
        return 0;
    }
}

struct linear_data {
    const struct gpbo *g;
    size_t index;
};

/* NLopt inequality constraint: sum coef * relaxed native value - rhs <= 0. */
static double linear_constraint(unsigned n, const double *z, double *grad, void *data)
{
    const struct linear_data *ld = data;
    const struct gpbo *g = ld->g;
    const struct hn_linear_constraint *lc = &g->params->linear[ld->index];
    double total = -lc->rhs, *x = NULL;
    if (grad) {
        memset(grad, 0, n * sizeof(double));
    }
    for (size_t i = 0; i < g->params->n; i++) {
        if (lc->coef[i] == 0) {
            continue;
        }
        const struct hn_param *q = &g->params->p[i];
        double dt = 0, v;
        if (q->type == HN_PARAM_CATEGORICAL) {
            double xi;
            if (x == NULL) {
                x = malloc(g->params->n * sizeof(double));
                if (x == NULL) {
                    return HUGE_VAL;
                }
                gpbo_decode(g, z, x);
            }
            xi = x[i];
            v = xi;
        } else {
            v = relaxed_native(q, z[g->col[i]], &dt);
        }
        total += lc->coef[i] * v;
        if (grad) {
            grad[g->col[i]] += lc->coef[i] * dt;
        }
    }
    free(x);
    return total;
}

static int acceptable(const struct gpbo *g, const struct hn_history *h, const double *x,
                      const double *batch, size_t nb)
{
    char why[256];
    return hn_space_check(g->space, x, why, sizeof(why)) &&
           !hn_history_has_point(h, g->params, x, batch, nb);
}

/*
 * A valid unseen point from the scrambled Sobol sequence of the parameters' unit cube,
 * starting at index `index`; a finite space is searched exhaustively when draws keep failing.
 * Returns 1 found, 0 none (space exhausted), -1 with err.
 */
int gpbo_sobol_point(const struct gpbo *g, const struct hn_history *h, uint64_t index,
                     const double *batch, size_t nb, double *x, struct hn_error *err)
{
    size_t d = g->params->n;
    struct hn_sobol *sobol = hn_sobol_new(d, 1, g->stream_seed, err);
    double *u = malloc(d * sizeof(double));
    int found = 0;
    if (sobol == NULL || u == NULL) {
        hn_sobol_free(sobol);
        free(u);
        return sobol ? hn_error_set(err, NULL, "out of memory") : -1;
    }
    hn_sobol_skip(sobol, index);
    for (int tries = 0; tries < 2000 && !found; tries++) {
        hn_sobol_next(sobol, u);
        hn_params_from_unit(g->params, u, x);
        found = acceptable(g, h, x, batch, nb);
    }
    hn_sobol_free(sobol);
    free(u);
    /* finite spaces of up to a million points are searched exhaustively */
    uint64_t size = found ? 0 : hn_params_grid_size(g->params, 1000000);
    if (size > 0) {
        struct hn_rng rng;
        hn_rng_seed(&rng, hn_rng_derive(g->stream_seed, index));
        uint64_t start = hn_rng_below(&rng, size);
        for (uint64_t k = 0; k < size && !found; k++) {
            hn_params_grid_point(g->params, (start + k) % size, x);
            found = acceptable(g, h, x, batch, nb);
        }
    }
    return found;
}

static double nlopt_acq(unsigned n, const double *z, double *grad, void *data)
{
    (void)n;
    return gpbo_state_acq(data, z, grad);
}

/* Best-so-far candidate of one selection. */
struct pick {
    int found;
    double value;
    double *x; /* native */
};

static void pick_offer(const struct gpbo *g, struct pick *best, const double *x, double value)
{
    if (!best->found || value > best->value) {
        best->found = 1;
        best->value = value;
        memcpy(best->x, x, g->params->n * sizeof(double));
    }
}

/* The one-step discrete neighbours of x (valid and unseen) into nbh (rows of d), at most cap;
 * returns their number. +-1 of an int, the adjacent values of an ordered choice, the other
 * boolean, any other category. */
static size_t neighbours(const struct gpbo *g, const struct hn_history *h, const double *batch,
                         size_t nb, const double *x, double *nbh, size_t cap)
{
    const struct hn_params *p = g->params;
    size_t d = p->n, count = 0;
    for (size_t i = 0; i < d; i++) {
        const struct hn_param *q = &p->p[i];
        size_t options = 0;
        double cand[2];
        double *list = NULL;
        switch (q->type) {
        case HN_PARAM_INT:
            cand[options++] = x[i] - 1;
            cand[options++] = x[i] + 1;
            list = cand;
            break;
        case HN_PARAM_CHOICE: {
            size_t k = 0;
            while (k < q->n_values && q->values[k] != x[i]) {
                k++;
            }
            if (k > 0 && k < q->n_values) {
                cand[options++] = q->values[k - 1];
            }
            if (k + 1 < q->n_values) {
                cand[options++] = q->values[k + 1];
            }
            list = cand;
            break;
        }
        case HN_PARAM_BOOL:
            cand[options++] = 1 - x[i];
            list = cand;
            break;
        case HN_PARAM_CATEGORICAL:
            options = q->n_values;
            break;
        default:
            break;
        }
        for (size_t o = 0; o < options && count < cap; o++) {
            double v = list ? list[o] : (double)o;
            if (v == x[i] || (q->type == HN_PARAM_INT && (v < q->lo || v > q->hi))) {
                continue;
            }
            double *row = nbh + count * d;
            memcpy(row, x, d * sizeof(double));
            row[i] = v;
            if (acceptable(g, h, row, batch, nb)) {
                count++;
            }
        }
    }
    return count;
}

/* Neighbours a point can have: two per parameter, or its categories. */
static size_t max_neighbours(const struct gpbo *g)
{
    size_t total = 0;
    for (size_t i = 0; i < g->params->n; i++) {
        const struct hn_param *q = &g->params->p[i];
        total += q->type == HN_PARAM_CATEGORICAL ? q->n_values : 2;
    }
    return total;
}

/*
 * Hill climb (steepest ascent) over the discrete neighbours of x (valid and unseen) with value
 * `value`; each round scores all neighbours in one batch. The best point seen goes to best.
 */
static int local_search(const struct gpbo *g, const struct gpbo_state *st,
                        const struct hn_history *h, const double *batch, size_t nb, const double *x,
                        double value, struct pick *best)
{
    size_t d = g->params->n, D = g->dim, cap = max_neighbours(g);
    double *cur = malloc(d * sizeof(double)), *nbh = malloc((cap + 1) * d * sizeof(double));
    double *Z = malloc((cap + 1) * D * sizeof(double)), *v = malloc((cap + 1) * sizeof(double));
    int rc = -1;
    if (cur == NULL || nbh == NULL || Z == NULL || v == NULL) {
        goto done;
    }
    memcpy(cur, x, d * sizeof(double));
    for (int round = 0; round < 100; round++) {
        size_t k = neighbours(g, h, batch, nb, cur, nbh, cap);
        for (size_t r = 0; r < k; r++) {
            gpbo_encode(g, nbh + r * d, Z + r * D);
        }
        if (k == 0 || gpbo_state_acq_batch(st, Z, k, v) != 0) {
            break;
        }
        size_t top = 0;
        for (size_t r = 1; r < k; r++) {
            top = v[r] > v[top] ? r : top;
        }
        if (!(v[top] > value)) {
            break;
        }
        value = v[top];
        memcpy(cur, nbh + top * d, d * sizeof(double));
        pick_offer(g, best, cur, value);
    }
    rc = 0;
done:
    free(cur);
    free(nbh);
    free(Z);
    free(v);
    return rc;
}

/*
 * Small all-discrete spaces: the acquisition at every valid unseen point (batches of 1024).
 * Returns 1 found, 0 none, -1 with err.
 */
static int enumerate_points(const struct gpbo *g, const struct gpbo_state *st,
                            const struct hn_history *h, const double *batch, size_t nb,
                            uint64_t size, double *x, struct hn_error *err)
{
    size_t d = g->params->n, D = g->dim, block = 1024;
    double *X = malloc(block * d * sizeof(double)), *Z = malloc(block * D * sizeof(double));
    double *v = malloc(block * sizeof(double));
    struct pick best = {.found = 0, .value = -INFINITY, .x = x};
    int rc = -1;
    if (X == NULL || Z == NULL || v == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    for (uint64_t index = 0; index < size;) {
        size_t k = 0;
        for (; index < size && k < block; index++) {
            hn_params_grid_point(g->params, index, X + k * d);
            if (acceptable(g, h, X + k * d, batch, nb)) {
                gpbo_encode(g, X + k * d, Z + k * D);
                k++;
            }
        }
        if (k > 0 && gpbo_state_acq_batch(st, Z, k, v) != 0) {
            hn_error_set(err, NULL, "out of memory");
            goto done;
        }
        for (size_t r = 0; r < k; r++) {
            pick_offer(g, &best, X + r * d, v[r]);
        }
    }
    rc = best.found;
done:
    free(X);
    free(Z);
    free(v);
    return rc;
}

/*
 * Indices of the starts among k raw samples with values v: the R best (order: best first),
 * or BoTorch's Boltzmann sampling (initialize_q_batch: without replacement, weights
 * exp(eta z) with z the standardized values, eta = 1 halved while a weight overflows; the
 * best sample is always included). Returns the number chosen (min(R, k)).
 */
static size_t choose_starts(const struct gpbo *g, const double *v, size_t k, size_t R,
                            uint64_t seed, size_t *idx)
{
    size_t n = R < k ? R : k;
    size_t *order = malloc((k + 1) * sizeof(size_t));
    double *w = malloc((k + 1) * sizeof(double));
    if (order == NULL || w == NULL) {
        free(order);
        free(w);
        n = 0;
        return n;
    }
    /* order by value, best first (insertion into a partial order is enough for R) */
    for (size_t r = 0; r < k; r++) {
        order[r] = r;
    }
    for (size_t a = 0; a < n; a++) {
        size_t top = a;
        for (size_t r = a + 1; r < k; r++) {
            if (v[order[r]] > v[order[top]]) {
                top = r;
            }
        }
        size_t t = order[a];
        order[a] = order[top];
        order[top] = t;
    }
    if (g->starts == STARTS_BEST || n == k) {
        memcpy(idx, order, n * sizeof(size_t));
    } else {
        double mean = 0, var = 0;
        for (size_t r = 0; r < k; r++) {
            mean += v[r];
        }
        mean /= (double)k;
        for (size_t r = 0; r < k; r++) {
            var += (v[r] - mean) * (v[r] - mean);
        }
        double sd = sqrt(var / (double)(k > 1 ? k - 1 : 1)), eta = 1;
        struct hn_rng rng;
        hn_rng_seed(&rng, hn_rng_derive(seed, 0x626f6c74 /* "bolt" */));
        idx[0] = order[0];
        for (size_t r = 0; r < k; r++) {
            double z = sd > 0 && isfinite(v[r]) ? (v[r] - mean) / sd : 0;
            w[r] = r == order[0] ? 0 : exp(eta * fmin(z, 700));
        }
        for (size_t a = 1; a < n; a++) {
            double total = 0;
            for (size_t r = 0; r < k; r++) {
                total += w[r];
            }
            size_t pickr = order[a]; /* all weights 0: the next best */
            if (total > 0) {
                double u = hn_rng_uniform(&rng) * total, acc = 0;
                for (size_t r = 0; r < k; r++) {
                    acc += w[r];
                    if (w[r] > 0 && u < acc) {
                        pickr = r;
                        break;
                    }
                }
            }
            idx[a] = pickr;
            w[pickr] = 0;
        }
    }
    free(order);
    free(w);
    return n;
}

/*
 * raw scrambled Sobol points rounded to valid unseen points (Zr, model space), scored in one
 * batch (vr) and offered to best. Returns how many there are, or -1 with err.
 */
static long score_raw_samples(const struct gpbo *g, const struct gpbo_state *st,
                              const struct hn_history *h, const double *batch, size_t nb,
                              uint64_t seed, double *Zr, double *vr, struct pick *best,
                              struct hn_error *err)
{
    size_t D = g->dim, raw = (size_t)g->raw_samples, k = 0;
    long rc = -1;
    struct hn_sobol *sobol = hn_sobol_new(D, 1, seed, err);
    double *z = malloc(D * sizeof(double)), *xr = malloc((g->params->n + 1) * sizeof(double));
    if (sobol == NULL) {
        goto done;
    }
    if (z == NULL || xr == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    for (size_t r = 0; r < raw; r++) {
        hn_sobol_next(sobol, z);
        gpbo_decode(g, z, xr);
        if (acceptable(g, h, xr, batch, nb)) {
            gpbo_encode(g, xr, Zr + k * D);
            k++;
        }
    }
    if (k > 0 && gpbo_state_acq_batch(st, Zr, k, vr) != 0) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    for (size_t r = 0; r < k; r++) {
        gpbo_decode(g, Zr + r * D, xr);
        pick_offer(g, best, xr, vr[r]);
    }
    rc = (long)k;
done:
    hn_sobol_free(sobol);
    free(z);
    free(xr);
    return rc;
}

/*
 * The gradient search on the unit cube: L-BFGS, or SLSQP under the linear parameter
 * constraints (ld: one per constraint, kept alive by the caller). NULL with err on failure.
 */
static nlopt_opt gradient_search_new(const struct gpbo *g, const struct gpbo_state *st,
                                     struct linear_data *ld, struct hn_error *err)
{
    size_t D = g->dim;
    nlopt_opt nl =
        nlopt_create(g->params->n_linear > 0 ? NLOPT_LD_SLSQP : NLOPT_LD_LBFGS, (unsigned)D);
    double *lb = malloc(D * sizeof(double)), *ub = malloc(D * sizeof(double));
    if (nl == NULL || lb == NULL || ub == NULL) {
        hn_error_set(err, NULL, nl == NULL ? "cannot create the NLopt optimizer" : "out of memory");
        if (nl) {
            nlopt_destroy(nl);
        }
        free(lb);
        free(ub);
        return NULL;
    }
    for (size_t i = 0; i < D; i++) {
        lb[i] = 0;
        ub[i] = 1;
    }
    nlopt_set_lower_bounds(nl, lb); /* copied */
    nlopt_set_upper_bounds(nl, ub);
    free(lb);
    free(ub);
    nlopt_set_max_objective(nl, nlopt_acq, (void *)st);
    nlopt_set_maxeval(nl, (int)g->maxeval);
    nlopt_set_ftol_abs(nl, 1e-9);
    nlopt_set_xtol_rel(nl, 1e-6);
    for (size_t c = 0; c < g->params->n_linear; c++) {
        ld[c].g = g;
        ld[c].index = c;
        nlopt_add_inequality_constraint(nl, linear_constraint, &ld[c], 1e-9);
    }
    return nl;
}

/*
 * One restart: the gradient search from the raw sample start (acquisition start_value), the
 * rounded optimum offered to best, then (discrete: local) a hill climb from it, or from the
 * start when rounding gave an invalid or seen point. Returns 0, or -1 out of memory.
 */
static int optimize_from(const struct gpbo *g, const struct gpbo_state *st,
                         const struct hn_history *h, const double *batch, size_t nb, nlopt_opt nl,
                         const double *start, double start_value, struct pick *best)
{
    size_t D = g->dim;
    double *z = malloc(D * sizeof(double)), *xr = malloc((g->params->n + 1) * sizeof(double));
    double value;
    int rc = -1;
    if (z == NULL || xr == NULL) {
        goto done;
    }
    memcpy(z, start, D * sizeof(double));
    nlopt_optimize(nl, z, &value);
    gpbo_decode(g, z, xr);
    int rounded_ok = acceptable(g, h, xr, batch, nb);
    if (rounded_ok) {
        gpbo_encode(g, xr, z);
        value = gpbo_state_acq(st, z, NULL);
        pick_offer(g, best, xr, value);
    }
    rc = 0;
    if (!g->has_discrete || g->discrete == DISCRETE_ROUND) {
        goto done;
    }
    /* hill climb from the rounded optimum, or from the (discrete) raw start when rounding
     * gave an invalid or seen point; climbing from every raw start as well was measured
     * worse on testfn layers (docs/benchmarks.md): it favours exploration */
    if (rounded_ok) {
        rc = local_search(g, st, h, batch, nb, xr, value, best);
    } else {
        gpbo_decode(g, start, xr);
        rc = local_search(g, st, h, batch, nb, xr, start_value, best);
    }
done:
    free(z);
    free(xr);
    return rc;
}

/*
 * One point maximizing the acquisition: 1 found (x filled), 0 nothing valid and unseen, -1
 * with err.
 */
int gpbo_select_point(const struct gpbo *g, const struct gpbo_state *st, const struct hn_history *h,
                      const double *batch, size_t nb, uint64_t seed, double *x,
                      struct hn_error *err)
{
    size_t D = g->dim, R = (size_t)g->restarts, raw = (size_t)g->raw_samples;
    int rc = -1;
    if (g->discrete == DISCRETE_LOCAL && g->enumerate_max > 0) {
        uint64_t size = hn_params_grid_size(g->params, (uint64_t)g->enumerate_max);
        if (size > 0) {
            rc = enumerate_points(g, st, h, batch, nb, size, x, err);
            if (rc != 0) {
                return rc;
            }
            /* nothing valid and unseen on the grid */
            return gpbo_sobol_point(g, h, hn_rng_derive(seed, 1) & 0xffffff, batch, nb, x, err);
        }
    }
    double *Zr = malloc((raw + 1) * D * sizeof(double)), *vr = malloc((raw + 1) * sizeof(double));
    size_t *idx = malloc((R + 1) * sizeof(size_t));
    struct linear_data *ld = calloc(g->params->n_linear + 1, sizeof(*ld));
    struct pick best = {.found = 0, .value = -INFINITY, .x = x};
    size_t n_starts = 0;
    nlopt_opt nl = NULL;
    if (Zr == NULL || vr == NULL || idx == NULL || ld == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    long k = score_raw_samples(g, st, h, batch, nb, seed, Zr, vr, &best, err);
    if (k < 0) {
        goto done;
    }
    n_starts = k > 0 ? choose_starts(g, vr, (size_t)k, R, seed, idx) : 0;
    if (n_starts > 0 && (nl = gradient_search_new(g, st, ld, err)) == NULL) {
        goto done;
    }
    for (size_t s = 0; s < n_starts; s++) {
        if (optimize_from(g, st, h, batch, nb, nl, Zr + idx[s] * D, vr[idx[s]], &best) != 0) {
            hn_error_set(err, NULL, "out of memory");
            goto done;
        }
    }
    if (!best.found) {
        /* every raw sample was invalid or seen: fall back to more Sobol draws */
        rc = gpbo_sobol_point(g, h, hn_rng_derive(seed, 1) & 0xffffff, batch, nb, x, err);
        goto done;
    }
    rc = 1;
done:
    if (nl) {
        nlopt_destroy(nl);
    }
    free(Zr);
    free(vr);
    free(idx);
    free(ld);
    return rc;
}
