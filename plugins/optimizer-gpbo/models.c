/*
 * gpbo: GP fits reused between asks (see models.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hilnas/log.h"
#include "hilnas/rng.h"
#include "hilnas/util.h"
#include "plugins/optimizer-gpbo/models.h"

#define ANCHORS_FORMAT "hilnas-gpbo-anchors"
#define ANCHORS_VERSION 1
#define ANCHORS_MAX_BYTES ((size_t)64 << 20)

struct anchor {
    size_t n;      /* observations */
    uint64_t hash; /* of the first n observations (X, y, sem) */
    uint64_t key;  /* of the fit settings (options, seed, growth, dimension) */
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
    char *path;  /* the anchors file (gpbo_models_persist), or NULL */
    size_t fits; /* hn_gp_fit calls made for anchors and small histories */
    int warned;  /* a failed save was reported */
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
    free(m->path);
    free(m);
}

size_t gpbo_models_fit_count(const struct gpbo_models *m)
{
    return m->fits;
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

/* Hash of what an anchor's fit depends on besides its observations. */
static uint64_t settings_key(const struct hn_gp_options *opt, size_t D, size_t full_fit_max,
                             double growth, uint64_t seed)
{
    int64_t v[] = {(int64_t)opt->kernel,  opt->log_transform,     opt->fixed_noise, opt->restarts,
                   opt->use_priors,       opt->learn_outputscale, opt->maxeval,     (int64_t)D,
                   (int64_t)full_fit_max, (int64_t)seed};
    uint64_t h = fnv(0xcbf29ce484222325ULL, v, sizeof(v));
    return fnv(h, &growth, sizeof(growth));
}

/* ---------------------------------------------------------------------------------------------
 * the anchors file: every chain's anchors (size, hashes, hyperparameters), so that a resumed
 * study starts from the last anchor instead of refitting the chain */

static json_t *reals(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, json_real(v[i]));
    }
    return a;
}

static void save_anchors(struct gpbo_models *m)
{
    if (m->path == NULL) {
        return;
    }
    json_t *root = json_pack("{s:s, s:i}", "format", ANCHORS_FORMAT, "version", ANCHORS_VERSION);
    json_t *chains = json_array();
    for (size_t k = 0; k < m->n; k++) {
        json_t *arr = json_array();
        for (size_t j = 0; j < m->c[k].len; j++) {
            const struct anchor *a = &m->c[k].a[j];
            char hash[17], key[17];
            snprintf(hash, sizeof(hash), "%016" PRIx64, a->hash);
            snprintf(key, sizeof(key), "%016" PRIx64, a->key);
            json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:o, s:f, s:f, s:f, s:f, s:f}",
                                                 "n", (json_int_t)a->n, "hash", hash, "key", key,
                                                 "lengthscale", reals(a->h.lengthscale, a->h.d),
                                                 "noise", a->h.noise, "mean", a->h.mean,
                                                 "outputscale", a->h.outputscale, "y_mean",
                                                 a->h.y_mean, "y_scale", a->h.y_scale));
        }
        json_array_append_new(chains, arr);
    }
    json_object_set_new(root, "chains", chains);
    char *text = json_dumps(root, JSON_REAL_PRECISION(17) | JSON_COMPACT);
    json_decref(root);
    struct hn_error err = {0};
    /* a cache (a resumed study without it refits): renamed into place, never fsync'ed */
    if (text == NULL || hn_write_file_replace(m->path, text, strlen(text), &err) != 0) {
        if (!m->warned) {
            hn_log(HN_LOG_WARNING,
                   "cannot save the GP anchors (%s); a resumed study "
                   "will refit them",
                   text == NULL ? "out of memory" : err.msg);
            m->warned = 1;
        }
    }
    free(text);
}

static int hex64(const json_t *v, uint64_t *out)
{
    const char *s = json_string_value(v);
    char *end;
    if (s == NULL || strlen(s) != 16) {
        return -1;
    }
    errno = 0;
    unsigned long long x = strtoull(s, &end, 16);
    if (errno != 0 || *end != '\0') {
        return -1;
    }
    *out = (uint64_t)x;
    return 0;
}

static int finite_number(const json_t *v, double *out)
{
    if (!json_is_number(v) || !isfinite(json_number_value(v))) {
        return -1;
    }
    *out = json_number_value(v);
    return 0;
}

/* One anchor from its JSON object; -1 (with why) if it is not one this code could have written. */
static int parse_anchor(const json_t *o, size_t prev_n, struct anchor *a, const char **why)
{
    const json_t *ls = json_object_get(o, "lengthscale");
    json_int_t n = json_integer_value(json_object_get(o, "n"));
    *why = "malformed anchor";
    memset(a, 0, sizeof(*a));
    if (!json_is_object(o) || !json_is_integer(json_object_get(o, "n")) ||
        n <= (json_int_t)prev_n || hex64(json_object_get(o, "hash"), &a->hash) != 0 ||
        hex64(json_object_get(o, "key"), &a->key) != 0 || !json_is_array(ls) ||
        json_array_size(ls) == 0 || json_array_size(ls) > HN_GP_MAX_DIM ||
        finite_number(json_object_get(o, "noise"), &a->h.noise) != 0 ||
        finite_number(json_object_get(o, "mean"), &a->h.mean) != 0 ||
        finite_number(json_object_get(o, "outputscale"), &a->h.outputscale) != 0 ||
        finite_number(json_object_get(o, "y_mean"), &a->h.y_mean) != 0 ||
        finite_number(json_object_get(o, "y_scale"), &a->h.y_scale) != 0) {
        return -1;
    }
    a->n = (size_t)n;
    a->h.d = json_array_size(ls);
    for (size_t i = 0; i < a->h.d; i++) {
        if (finite_number(json_array_get(ls, i), &a->h.lengthscale[i]) != 0 ||
            !(a->h.lengthscale[i] > 0)) {
            *why = "a lengthscale is not a positive number";
            return -1;
        }
    }
    if (a->h.noise < 0 || a->h.outputscale < 0 || a->h.y_scale < 0) {
        *why = "a negative variance or scale";
        return -1;
    }
    return 0;
}

static int load_anchors(struct gpbo_models *m, const char **why)
{
    json_error_t je;
    FILE *f = fopen(m->path, "rb");
    if (f == NULL) {
        if (errno == ENOENT) {
            return 0; /* a new study */
        }
        *why = "cannot open it";
        return -1;
    }
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size < 0 || (size_t)size > ANCHORS_MAX_BYTES || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        *why = "not a regular file of at most 64 MiB";
        return -1;
    }
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    *why = "not JSON";
    if (root == NULL) {
        return -1;
    }
    const json_t *chains = json_object_get(root, "chains");
    const char *format = json_string_value(json_object_get(root, "format"));
    *why = "not a gpbo anchors file of this version";
    if (format == NULL || strcmp(format, ANCHORS_FORMAT) != 0 ||
        json_integer_value(json_object_get(root, "version")) != ANCHORS_VERSION ||
        !json_is_array(chains) || json_array_size(chains) != m->n) {
        json_decref(root);
        return -1;
    }
    for (size_t k = 0; k < m->n; k++) {
        const json_t *arr = json_array_get(chains, k);
        size_t prev = 0;
        if (!json_is_array(arr)) {
            json_decref(root);
            return -1;
        }
        for (size_t j = 0; j < json_array_size(arr); j++) {
            struct anchor a;
            if (parse_anchor(json_array_get(arr, j), prev, &a, why) != 0 ||
                chain_push(&m->c[k], &a) != 0) {
                json_decref(root);
                return -1;
            }
            prev = a.n;
        }
    }
    json_decref(root);
    return 0;
}

int gpbo_models_persist(struct gpbo_models *m, const char *dir, const char *instance,
                        const char *stage)
{
    /* the file name from a hash of the names: any instance or stage name makes a plain name */
    uint64_t h =
        fnv(0xcbf29ce484222325ULL, instance ? instance : "", instance ? strlen(instance) + 1 : 1);
    h = fnv(h, stage ? stage : "", stage ? strlen(stage) + 1 : 1);
    size_t len = strlen(dir) + 64;
    m->path = malloc(len);
    if (m->path == NULL) {
        return -1;
    }
    snprintf(m->path, len, "%s/gpbo-anchors-%016" PRIx64 ".json", dir, h);
    const char *why = NULL;
    if (load_anchors(m, &why) != 0) {
        hn_log(HN_LOG_WARNING, "%s: %s; ignored (the GP anchors are fitted again)", m->path, why);
        for (size_t k = 0; k < m->n; k++) {
            m->c[k].len = 0;
        }
    }
    return 0;
}

struct hn_gp *gpbo_models_fit(struct gpbo_models *m, size_t metric, const double *X,
                              const double *y, const double *sem, size_t n, size_t D,
                              const struct hn_gp_options *opt, size_t full_fit_max, double growth,
                              uint64_t seed, struct hn_error *err)
{
    if (n <= full_fit_max || full_fit_max < 2) {
        m->fits++;
        return hn_gp_fit(X, y, sem, n, D, opt, err);
    }
    struct chain *c = &m->c[metric];
    uint64_t key = settings_key(opt, D, full_fit_max, growth, seed);
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
        if (j >= c->len || c->a[j].n != a || c->a[j].hash != h || c->a[j].key != key ||
            c->a[j].h.d != D) {
            chain_truncate(c, j);
            struct hn_gp_options o = *opt;
            o.seed = hn_rng_derive(seed, a);
            if (j > 0) {
                o.start = &c->a[j - 1].h;
                o.restarts = 1;
            }
            struct hn_gp *gp = hn_gp_fit(X, y, sem, a, D, &o, err);
            m->fits++;
            if (gp == NULL) {
                return NULL;
            }
            struct anchor an = {.n = a, .hash = h, .key = key};
            hn_gp_get_hyper(gp, &an.h);
            if (chain_push(c, &an) != 0) {
                hn_gp_free(gp);
                hn_error_set(err, NULL, "out of memory");
                return NULL;
            }
            hn_gp_free(c->gp);
            c->gp = gp;
            save_anchors(m);
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
        /* the anchor's hyperparameters: fitted in this process, or read from the anchors file */
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
