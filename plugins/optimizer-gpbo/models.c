/*
 * gpbo: GP fits reused between asks (see models.h).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/rng.h"
#include "plugins/optimizer-gpbo/models.h"

struct anchor {
    size_t n;      /* observations */
    uint64_t hash; /* of the first n observations (X, y, sem) */
    struct hn_gp_hyper h;
};

struct chain {
    size_t len, cap;
    struct anchor *a;
    struct hn_gp *gp; /* the GP of a[len - 1], or NULL */
};

struct gpbo_models {
    size_t n;
    struct chain *c;
};

struct gpbo_models *gpbo_models_new(size_t n_metrics)
{
    struct gpbo_models *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    m->n = n_metrics;
    m->c = calloc(n_metrics + 1, sizeof(*m->c));
    if (m->c == NULL) {
        free(m);
        return NULL;
    }
    return m;
}

void gpbo_models_free(struct gpbo_models *m)
{
    if (m == NULL) {
        return;
    }
    for (size_t k = 0; k < m->n; k++) {
        free(m->c[k].a);
        hn_gp_free(m->c[k].gp);
    }
    free(m->c);
    free(m);
}

size_t gpbo_models_anchors(const struct gpbo_models *m, size_t metric, size_t *sizes, size_t cap)
{
    const struct chain *c = &m->c[metric];
    for (size_t j = 0; j < c->len && j < cap; j++) {
        sizes[j] = c->a[j].n;
    }
    return c->len;
}

/* FNV-1a over bytes, continued from h. */
static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
    }
    return h;
}

static void chain_truncate(struct chain *c, size_t len)
{
    if (c->len > len) {
        c->len = len;
        hn_gp_free(c->gp);
        c->gp = NULL;
    }
}

static int chain_push(struct chain *c, const struct anchor *a)
{
    if (c->len == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        struct anchor *p = realloc(c->a, cap * sizeof(*p));
        if (p == NULL) {
            return -1;
        }
        c->a = p;
        c->cap = cap;
    }
    c->a[c->len++] = *a;
    return 0;
}

struct hn_gp *gpbo_models_fit(struct gpbo_models *m, size_t metric, const double *X,
                              const double *y, const double *sem, size_t n, size_t D,
                              const struct hn_gp_options *opt, size_t full_fit_max, double growth,
                              uint64_t seed, struct hn_error *err)
{
    if (n <= full_fit_max || full_fit_max < 2) {
        return hn_gp_fit(X, y, sem, n, D, opt, err);
    }
    struct chain *c = &m->c[metric];
    double *ym = NULL, *nv = NULL;
    struct hn_gp *out = NULL;
    const double *use_sem = opt->fixed_noise ? sem : NULL;
    /* walk the anchors a_j <= n, checking the cached ones against the data */
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t done_rows = 0, a = full_fit_max, j = 0;
    for (;; j++) {
        for (; done_rows < a; done_rows++) {
            h = fnv(h, X + done_rows * D, D * sizeof(double));
            h = fnv(h, y + done_rows, sizeof(double));
            if (use_sem) {
                h = fnv(h, use_sem + done_rows, sizeof(double));
            }
        }
        if (j >= c->len || c->a[j].n != a || c->a[j].hash != h) {
            chain_truncate(c, j);
            struct hn_gp_options o = *opt;
            o.seed = hn_rng_derive(seed, a);
            if (j > 0) {
                o.start = &c->a[j - 1].h;
                o.restarts = 1;
            }
            struct hn_gp *gp = hn_gp_fit(X, y, sem, a, D, &o, err);
            if (gp == NULL) {
                return NULL;
            }
            struct anchor an = {.n = a, .hash = h};
            hn_gp_get_hyper(gp, &an.h);
            if (chain_push(c, &an) != 0) {
                hn_gp_free(gp);
                hn_error_set(err, NULL, "out of memory");
                return NULL;
            }
            hn_gp_free(c->gp);
            c->gp = gp;
        }
        size_t next = (size_t)ceil((double)a * growth);
        next = next > a ? next : a + 1;
        if (next > n) {
            break;
        }
        a = next;
    }
    /* c->a[j] is the last anchor, a = its size; its GP is c->gp unless the chain is longer
     * (the history shrank under the cache): then rebuild it from its hyperparameters */
    if (c->len > j + 1) {
        chain_truncate(c, j + 1);
    }
    ym = malloc((n + 1) * sizeof(double));
    nv = malloc((n + 1) * sizeof(double));
    if (ym == NULL || nv == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    int any_known = 0;
    for (size_t i = 0; i < n; i++) {
        ym[i] = opt->log_transform ? log(y[i]) : y[i];
        double s = use_sem && isfinite(use_sem[i]) ? use_sem[i] : NAN;
        if (!isnan(s)) {
            s = opt->log_transform ? s / y[i] : s; /* delta method, as hn_gp_fit */
            any_known |= i < a;
        }
        nv[i] = s * s;
    }
    if (c->gp == NULL) {
        c->gp = hn_gp_new_fixed(X, ym, any_known ? nv : NULL, a, D, opt->kernel, &c->a[j].h, err);
        if (c->gp == NULL) {
            goto done;
        }
    }
    out = hn_gp_append(c->gp, X + a * D, ym + a, nv + a, n - a, err);
done:
    free(ym);
    free(nv);
    return out;
}
