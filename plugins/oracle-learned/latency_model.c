/*
 * plugins/oracle-learned/latency_model.c: see latency_model.h.
 */
#include "config.h"

#include "latency_model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/llm/cost.h"
#include "hilnas/llm/llm_config.h"
#include "hilnas/log.h"
#include "hilnas/util.h"

#define LM_FORMAT "hilnas-latency-model"
#define LM_VERSION 2 /* 2: the roofline's cache term and per-context scales */

static const char *const kind_names[] = {"other", "prefill", "decode"};
/* GP inputs by use_arch */
static const char *const inputs_names[] = {"params", "params+arch", "arch"};
/* what features: auto chooses when every trial has a transformer architecture */
#define LM_AUTO_ARCH 2

/* ---------------------------------------------------------------------------------------------
 * configuration */

int lm_init(struct lm *l, const struct hn_plugin_args *args, int use_gp, struct hn_error *err)
{
    char where[1024];
    l->use_gp = use_gp;
    l->plugin = use_gp ? "learned" : "roofline";
    l->instance = args->instance;
    l->study_dir = args->study_dir;
    l->seed = args->seed;
    const struct hn_config_node *m = l->metrics_node;
    if (m == NULL || m->type != HN_NODE_SEQUENCE || m->n == 0 || m->n > LM_MAX_METRICS) {
        return hn_error_config(
            err,
            m ? hn_config_where(m, where, sizeof(where))
              : (args->node ? hn_config_where(args->node, where, sizeof(where)) : NULL),
            "'metrics' must list 1 to %d metric names of '%s', e.g. metrics: "
            "[prefill_ms, decode_ms]",
            LM_MAX_METRICS, l->from);
    }
    const struct hn_config_node *c = l->contexts_node;
    if (c != NULL) {
        if (c->type != HN_NODE_SEQUENCE || c->n == 0 || c->n > LM_MAX_CONTEXTS) {
            return hn_error_config(err, hn_config_where(c, where, sizeof(where)),
                                   "%s: must list 1 to %d context lengths (tokens), e.g. "
                                   "[0, 512, 2048]",
                                   c->path, LM_MAX_CONTEXTS);
        }
        for (size_t i = 0; i < c->n; i++) {
            int64_t v;
            if (hn_config_to_int(c->items[i], &v, err) != 0) {
                return -1;
            }
            if (v < 0 || v > (1 << 24)) {
                return hn_error_config(err, hn_config_where(c->items[i], where, sizeof(where)),
                                       "%s: %lld tokens is not a context length (0 .. 16777216)",
                                       c->items[i]->path, (long long)v);
            }
            l->contexts[i] = (double)v;
        }
        l->n_contexts = c->n;
    }
    l->n_outputs = 0;
    for (size_t i = 0; i < m->n; i++) {
        struct lm_metric *mt = &l->metric[i];
        if (hn_config_to_string(m->items[i], &mt->name, err) != 0) {
            return -1;
        }
        if (strchr(mt->name, '.') != NULL || mt->name[0] == '\0' || strlen(mt->name) > 64) {
            return hn_error_config(err, hn_config_where(m->items[i], where, sizeof(where)),
                                   "%s: a short metric name of '%s' is expected, without '.'",
                                   m->items[i]->path, l->from);
        }
        mt->kind = strncmp(mt->name, "prefill", 7) == 0  ? LM_PREFILL
                   : strncmp(mt->name, "decode", 6) == 0 ? LM_DECODE
                                                         : LM_OTHER;
        mt->pooled = mt->kind == LM_DECODE && l->n_contexts > 0;
        mt->relative = mt->pooled && strstr(mt->name, "_rel") != NULL;
        if (!use_gp && mt->kind == LM_OTHER) {
            return hn_error_config(err, hn_config_where(m->items[i], where, sizeof(where)),
                                   "%s: the roofline models prefill* and decode* latencies; "
                                   "'%s' is neither",
                                   m->items[i]->path, mt->name);
        }
        size_t reps = mt->pooled ? l->n_contexts : 1;
        for (size_t r = 0; r < reps; r++) {
            struct lm_output *o = &l->output[l->n_outputs];
            o->metric = i;
            o->context = mt->pooled ? l->contexts[r] : (double)l->context;
            if (mt->pooled) {
                snprintf(o->name, sizeof(o->name), "%s_%.0f", mt->name, l->contexts[r]);
            } else {
                snprintf(o->name, sizeof(o->name), "%s", mt->name);
            }
            l->output_names[l->n_outputs++] = o->name;
        }
    }
    l->n_metrics = m->n;
    l->output_names[l->n_outputs] = NULL;
    return 0;
}

static void metric_clear(struct lm_metric *mt)
{
    hn_gp_free(mt->gp);
    free(mt->X);
    free(mt->y);
    free(mt->noise_var);
    mt->gp = NULL;
    mt->X = mt->y = mt->noise_var = NULL;
    mt->n = mt->d = 0;
    mt->roofline = 0;
    memset(&mt->roof, 0, sizeof(mt->roof));
    mt->roof.cache_mb = INFINITY;
    mt->noise_floor = NAN;
}

void lm_free(struct lm *l)
{
    for (size_t i = 0; i < l->n_metrics; i++) {
        metric_clear(&l->metric[i]);
    }
}

/* ---------------------------------------------------------------------------------------------
 * features */

static int config_of(const json_t *arch, struct hn_llm_config *c)
{
    struct hn_error e;
    return json_is_object(arch) && json_object_get(arch, "hidden_size") != NULL &&
           hn_llm_config_from_json(arch, "architecture", c, &e) == 0;
}

int lm_regressors(const json_t *arch, enum lm_kind kind, double tokens, double *r)
{
    return lm_regressors_at(arch, kind, tokens, 0, r);
}

int lm_regressors_at(const json_t *arch, enum lm_kind kind, double tokens, int dtype, double *r)
{
    struct hn_llm_config c;
    struct hn_llm_cost k;
    if (kind == LM_OTHER || !config_of(arch, &c)) {
        return 0;
    }
    if (kind == LM_PREFILL) {
        hn_llm_cost_compute_dtype(&c, tokens, 0, (enum hn_dtype)dtype, &k);
        r[3] = k.prefill_matmul_flops * 1e-9;
        r[4] = k.prefill_attention_flops * 1e-9;
        r[6] = 4.0 * k.attention_layers * k.kv_values_per_position * tokens * 1e-6; /* written */
    } else {
        hn_llm_cost_compute_dtype(&c, 0, tokens, (enum hn_dtype)dtype, &k);
        double attn = k.attention_layers * k.attn_flops_per_position * (tokens + 1);
        r[3] = (k.decode_flops - attn) * 1e-9;
        r[4] = attn * 1e-9;
        r[6] = k.decode_kv_bytes * 1e-6;
    }
    r[0] = 1.0;
    r[1] = k.layers;
    r[2] = k.attention_layers;
    r[5] = k.decode_weight_bytes * 1e-6;
    r[7] = 0.0; /* the cache term: its capacity is fitted (lm_roof_fit) */
    return 1;
}

/* The architecture's features (LM_NARCH; 0 if no architecture): log parameters, log prefill
 * FLOPs per token (128-token prompt), then the shape: layers, attention layers, log hidden size,
 * log query width (heads x head_dim), log key/value width, log FFN width, log vocabulary. The
 * shape is what an architecture's speed depends on and the same whatever the layers' order (the
 * search space's coordinates are not: which layers skip attention does not change the time). */
static int arch_features(const json_t *arch, double *f)
{
    struct hn_llm_config c;
    struct hn_llm_cost k;
    if (!config_of(arch, &c)) {
        return 0;
    }
    hn_llm_cost_compute(&c, 128.0, 0.0, 4.0, &k);
    f[0] = log(k.params);
    f[1] = log(k.prefill_flops_per_token);
    f[2] = k.layers;
    f[3] = k.attention_layers;
    f[4] = log(c.hidden_size);
    f[5] = log((double)c.num_attention_heads * c.head_dim);
    f[6] = log((double)c.num_key_value_heads * c.head_dim);
    f[7] = log(c.intermediate_size);
    f[8] = log(c.vocab_size);
    return 1;
}

/* architecture features the GP uses: params+arch the first two, arch all */
static size_t n_arch(const struct lm *l)
{
    return l->use_arch == 2 ? LM_NARCH : l->use_arch == 1 ? 2 : 0;
}

/* Solve G[P,P] z = h[P] for the columns P[0..np) (G symmetric, n x n row-major) by Gaussian
 * elimination with partial pivoting; returns -1 if singular. */
static int solve_passive(const double *G, const double *h, size_t n, const size_t *P, size_t np,
                         double *z)
{
    double A[LM_NREG * (LM_NREG + 1)];
    size_t w = np + 1;
    for (size_t i = 0; i < np; i++) {
        for (size_t j = 0; j < np; j++) {
            A[i * w + j] = G[P[i] * n + P[j]];
        }
        A[i * w + np] = h[P[i]];
    }
    for (size_t c = 0; c < np; c++) {
        size_t piv = c;
        for (size_t r = c + 1; r < np; r++) {
            piv = fabs(A[r * w + c]) > fabs(A[piv * w + c]) ? r : piv;
        }
        if (fabs(A[piv * w + c]) < 1e-13) {
            return -1;
        }
        for (size_t j = 0; j < w; j++) {
            double t = A[c * w + j];
            A[c * w + j] = A[piv * w + j];
            A[piv * w + j] = t;
        }
        for (size_t r = c + 1; r < np; r++) {
            double f = A[r * w + c] / A[c * w + c];
            for (size_t j = c; j < w; j++) {
                A[r * w + j] -= f * A[c * w + j];
            }
        }
    }
    for (size_t c = np; c-- > 0;) {
        double v = A[c * w + np];
        for (size_t j = c + 1; j < np; j++) {
            v -= A[c * w + j] * z[j];
        }
        z[c] = v / A[c * w + c];
    }
    return 0;
}

void lm_nnls_relative(const double *R, const double *y, size_t n, size_t p, double *coef)
{
    /* A = R / y (rows), target 1: the normal equations G b = h with b >= 0, on columns scaled
     * to unit norm, solved by Lawson and Hanson's active-set method (p is small) */
    double G[LM_NREG * LM_NREG] = {0}, h[LM_NREG] = {0}, s[LM_NREG], b[LM_NREG] = {0};
    double z[LM_NREG], wv[LM_NREG];
    size_t P[LM_NREG], np = 0;
    int passive[LM_NREG] = {0};
    for (size_t i = 0; i < n; i++) {
        for (size_t a = 0; a < p; a++) {
            double ra = R[i * p + a] / y[i];
            h[a] += ra;
            for (size_t c = 0; c < p; c++) {
                G[a * p + c] += ra * R[i * p + c] / y[i];
            }
        }
    }
    for (size_t a = 0; a < p; a++) {
        s[a] = G[a * p + a] > 0 ? 1.0 / sqrt(G[a * p + a]) : 0.0;
    }
    for (size_t a = 0; a < p; a++) {
        h[a] *= s[a];
        for (size_t c = 0; c < p; c++) {
            G[a * p + c] *= s[a] * s[c];
        }
    }
    for (size_t outer = 0; outer < 3 * p + 3; outer++) {
        /* the gradient of the objective; the most promising column outside the set joins */
        size_t best = p;
        for (size_t a = 0; a < p; a++) {
            wv[a] = h[a];
            for (size_t c = 0; c < p; c++) {
                wv[a] -= G[a * p + c] * b[c];
            }
            if (!passive[a] && s[a] > 0 && wv[a] > 1e-12 && (best == p || wv[a] > wv[best])) {
                best = a;
            }
        }
        if (best == p) {
            break;
        }
        passive[best] = 1;
        P[np++] = best;
        for (int inner = 0; inner < 3 * (int)p + 3; inner++) {
            if (solve_passive(G, h, p, P, np, z) != 0) {
                /* a column dependent on the others: it leaves the set for good */
                passive[P[--np]] = 2;
                break;
            }
            double alpha = 1.0;
            int feasible = 1;
            for (size_t k = 0; k < np; k++) {
                if (z[k] <= 0) {
                    feasible = 0;
                    double bk = b[P[k]];
                    alpha = fmin(alpha, bk / (bk - z[k]));
                }
            }
            if (feasible) {
                for (size_t k = 0; k < np; k++) {
                    b[P[k]] = z[k];
                }
                break;
            }
            /* step towards z until a coefficient reaches 0; those leave the set */
            size_t keep = 0;
            for (size_t k = 0; k < np; k++) {
                size_t a = P[k];
                b[a] += alpha * (z[k] - b[a]);
                if (b[a] <= 1e-15) {
                    b[a] = 0.0;
                    passive[a] = 0;
                } else {
                    P[keep++] = a;
                }
            }
            np = keep;
        }
    }
    for (size_t a = 0; a < p; a++) {
        coef[a] = b[a] * s[a];
    }
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += a[i] * b[i];
    }
    return s;
}

/* ---------------------------------------------------------------------------------------------
 * the roofline: cache term and per-context scale */

static json_t *doubles(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, isfinite(v[i]) ? json_real(v[i]) : json_null());
    }
    return a;
}

/* [[context, scale], ...] */
static json_t *scales_json(const struct lm_roof *f)
{
    json_t *a = json_array();
    for (size_t k = 0; k < f->n_scale; k++) {
        json_array_append_new(a, json_pack("[f, f]", f->scale_ctx[k], f->scale[k]));
    }
    return a;
}

#define LM_CACHE_GRID 24 /* capacities tried: log grid over the training bytes */
#define LM_ALS_ITERATIONS 60
#define LM_GOLDEN_STEPS 20 /* refinement of the best grid capacity (bracket x 0.618^20) */

/* r with the cache term at capacity cache_mb (decode: bytes read beyond it) into x */
static void with_cache(const double *r, enum lm_kind kind, double cache_mb, double *x)
{
    memcpy(x, r, LM_NREG * sizeof(double));
    x[LM_NREG - 1] =
        kind == LM_DECODE && isfinite(cache_mb) ? fmax(0.0, r[5] + r[6] - cache_mb) : 0.0;
}

static double scale_at(const struct lm_roof *f, double ctx)
{
    size_t k = f->n_scale;
    if (k == 0) {
        return 1.0;
    }
    if (ctx <= f->scale_ctx[0]) {
        return f->scale[0];
    }
    if (ctx >= f->scale_ctx[k - 1]) {
        return f->scale[k - 1];
    }
    size_t j = 1;
    while (f->scale_ctx[j] < ctx) {
        j++;
    }
    double a = log1p(f->scale_ctx[j - 1]), b = log1p(f->scale_ctx[j]);
    double t = (log1p(ctx) - a) / (b - a);
    return exp((1 - t) * log(f->scale[j - 1]) + t * log(f->scale[j]));
}

double lm_roof_predict(const struct lm_roof *f, const double *r, double ctx)
{
    double x[LM_NREG];
    with_cache(r, f->kind, f->cache_mb, x);
    return scale_at(f, ctx) * dot(f->coef, x, LM_NREG);
}

/* The rows of one fit: regressors, values, and each row's index into the scales. */
struct roof_rows {
    size_t m;
    const double *R, *y; /* m rows of the caller's arrays, gathered */
    const size_t *ci;    /* context index of each row (relative), else NULL */
    double *X, *t;       /* scratch: m x LM_NREG, m */
};

/* Fit b (and the scales when rows->ci) at one capacity into f; returns the relative RMS. */
static double fit_at(const struct roof_rows *rows, double cache_mb, struct lm_roof *f)
{
    size_t m = rows->m;
    f->cache_mb = cache_mb;
    for (size_t i = 0; i < m; i++) {
        with_cache(rows->R + i * LM_NREG, f->kind, cache_mb, rows->X + i * LM_NREG);
    }
    for (size_t k = 0; k < f->n_scale; k++) {
        f->scale[k] = 1.0;
    }
    for (int it = 0; it < LM_ALS_ITERATIONS; it++) {
        for (size_t i = 0; i < m; i++) {
            rows->t[i] = rows->y[i] / (rows->ci ? f->scale[rows->ci[i]] : 1.0);
        }
        lm_nnls_relative(rows->X, rows->t, m, LM_NREG, f->coef);
        if (rows->ci == NULL || f->n_scale < 2) {
            break;
        }
        /* each context's scale: argmin_s sum ((s p - y) / y)^2 = sum(p/y) / sum((p/y)^2) */
        double num[LM_MAX_SCALES] = {0}, den[LM_MAX_SCALES] = {0}, change = 0.0;
        for (size_t i = 0; i < m; i++) {
            double q = dot(f->coef, rows->X + i * LM_NREG, LM_NREG) / rows->y[i];
            num[rows->ci[i]] += q;
            den[rows->ci[i]] += q * q;
        }
        /* relative to the smallest context's (s = 1 there: b absorbs the common factor) */
        double base = den[0] > 0 && num[0] > 0 ? num[0] / den[0] : 1.0;
        for (size_t k = 0; k < f->n_scale; k++) {
            double next = den[k] > 0 && num[k] > 0 ? num[k] / den[k] / base : f->scale[k];
            change = fmax(change, fabs(log(next / f->scale[k])));
            f->scale[k] = next;
        }
        if (change < 1e-9) {
            break;
        }
    }
    double ss = 0.0;
    for (size_t i = 0; i < m; i++) {
        double p =
            (rows->ci ? f->scale[rows->ci[i]] : 1.0) * dot(f->coef, rows->X + i * LM_NREG, LM_NREG);
        ss += pow((p - rows->y[i]) / rows->y[i], 2);
    }
    return m > 0 ? sqrt(ss / (double)m) : 0.0;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void lm_roof_fit(const double *R, const double *ctx, const double *y, size_t n,
                 const unsigned char *mask, enum lm_kind kind, int relative, struct lm_roof *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    out->cache_mb = INFINITY;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        m += mask == NULL || mask[i];
    }
    double *Rm = malloc((m + 1) * LM_NREG * sizeof(double)), *ym = malloc((m + 1) * sizeof(double));
    double *X = malloc((m + 1) * LM_NREG * sizeof(double)), *t = malloc((m + 1) * sizeof(double));
    double *cm = malloc((m + 1) * sizeof(double));
    size_t *ci = malloc((m + 1) * sizeof(size_t));
    if (m == 0 || Rm == NULL || ym == NULL || X == NULL || t == NULL || cm == NULL || ci == NULL) {
        goto done; /* no data (or no memory): coefficients 0 */
    }
    double lo = INFINITY, hi = 0.0;
    m = 0;
    for (size_t i = 0; i < n; i++) {
        if (mask == NULL || mask[i]) {
            memcpy(Rm + m * LM_NREG, R + i * LM_NREG, LM_NREG * sizeof(double));
            ym[m] = y[i];
            cm[m] = ctx != NULL ? ctx[i] : 0.0;
            double bytes = R[i * LM_NREG + 5] + R[i * LM_NREG + 6];
            lo = fmin(lo, bytes);
            hi = fmax(hi, bytes);
            m++;
        }
    }
    /* the distinct contexts of a relative metric: one scale each */
    if (relative && ctx != NULL) {
        memcpy(t, cm, m * sizeof(double));
        qsort(t, m, sizeof(double), cmp_dbl);
        size_t k = 0;
        for (size_t i = 0; i < m && k <= LM_MAX_SCALES; i++) {
            if (i == 0 || t[i] != t[i - 1]) {
                if (k < LM_MAX_SCALES) {
                    out->scale_ctx[k] = t[i];
                }
                k++;
            }
        }
        out->n_scale = k >= 2 && k <= LM_MAX_SCALES ? k : 0;
        for (size_t i = 0; out->n_scale > 0 && i < m; i++) {
            size_t j = 0;
            while (out->scale_ctx[j] != cm[i]) {
                j++;
            }
            ci[i] = j;
        }
    }
    struct roof_rows rows = {m, Rm, ym, out->n_scale > 0 ? ci : NULL, X, t};
    struct lm_roof trial = *out;
    double best = fit_at(&rows, INFINITY, out);
    if (kind == LM_DECODE && lo > 0 && hi > lo * 1.01) {
        int at = 0; /* the best grid point, 0: none */
        double step = log(hi / lo) / LM_CACHE_GRID;
        for (int k = 1; k < LM_CACHE_GRID; k++) {
            double rms = fit_at(&rows, lo * exp(k * step), &trial);
            if (rms < best * 0.999) {
                best = rms;
                at = k;
                *out = trial;
            }
        }
        /* then golden-section search of log capacity between the best point's neighbours */
        double a = log(lo) + (at - 1) * step, b = log(lo) + (at + 1) * step;
        const double g = 0.5 * (sqrt(5.0) - 1.0);
        double x1 = b - g * (b - a), x2 = a + g * (b - a);
        double f1 = fit_at(&rows, exp(x1), &trial), f2 = fit_at(&rows, exp(x2), &trial);
        for (int it = 0; at > 0 && it < LM_GOLDEN_STEPS; it++) {
            if (f1 < f2) {
                b = x2;
                x2 = x1;
                f2 = f1;
                x1 = b - g * (b - a);
                f1 = fit_at(&rows, exp(x1), &trial);
            } else {
                a = x1;
                x1 = x2;
                f1 = f2;
                x2 = a + g * (b - a);
                f2 = fit_at(&rows, exp(x2), &trial);
            }
        }
        double xm = f1 < f2 ? x1 : x2;
        if (at > 0 && fit_at(&rows, exp(xm), &trial) < best) {
            *out = trial;
        }
    }
done:
    free(Rm);
    free(ym);
    free(X);
    free(t);
    free(cm);
    free(ci);
}

/* ---------------------------------------------------------------------------------------------
 * training samples */

struct sample {
    const struct hn_trial *trial;
    size_t ordinal; /* index of the trial among those with this metric (folds) */
    double context, y, sem;
    double r[LM_NREG];
    double roof; /* roofline prediction (fit) */
};

/* Context of a metric name `<prefix>_<digits>`, or -1. */
static double context_suffix(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0 || name[n] != '_' || name[n + 1] == '\0') {
        return -1;
    }
    for (const char *p = name + n + 1; *p; p++) {
        if (*p < '0' || *p > '9' || p - name - n > 9) {
            return -1;
        }
    }
    return atof(name + n + 1);
}

/* The samples of metric k in h (complete trials with the metric and the space's dimension). */
static struct sample *gather(const struct lm *l, const struct lm_metric *mt,
                             const struct hn_history *h, size_t *n_out, struct hn_error *err)
{
    size_t cap = 16, n = 0, ordinal = 0;
    struct sample *s = malloc(cap * sizeof(*s));
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "%s.%s", l->from, mt->name);
    if (s == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < h->n; i++) {
        const struct hn_trial *t = h->trials[i];
        if (t->status != HN_TRIAL_COMPLETE || t->n_params != l->n_params) {
            continue;
        }
        int any = 0;
        for (size_t j = 0; j < t->metrics.n; j++) {
            const struct hn_metric *mv = &t->metrics.m[j];
            double ctx;
            if (mt->pooled) {
                ctx = context_suffix(mv->name, prefix);
                if (ctx < 0) {
                    continue;
                }
            } else {
                if (strcmp(mv->name, prefix) != 0) {
                    continue;
                }
                ctx = mt->kind == LM_PREFILL ? (double)l->prompt : (double)l->context;
            }
            if (n == cap) {
                struct sample *ns = realloc(s, 2 * cap * sizeof(*s));
                if (ns == NULL) {
                    free(s);
                    hn_error_set(err, NULL, "out of memory");
                    return NULL;
                }
                s = ns;
                cap *= 2;
            }
            struct sample *x = &s[n++];
            x->trial = t;
            x->ordinal = ordinal;
            x->context = ctx;
            x->y = mv->value;
            x->sem = mv->sem;
            x->roof = NAN;
            any = 1;
        }
        ordinal += any;
    }
    *n_out = n;
    return s;
}

/* Model inputs of a point (native x, decoded arch) at a context into z; returns the
 * dimension. */
static size_t point_inputs(const struct lm *l, const struct lm_metric *mt,
                           const struct hn_params *params, const double *x, const json_t *arch,
                           double ctx, double *z)
{
    size_t d = 0;
    if (l->use_arch != 2) {
        d = l->n_params;
        hn_params_to_unit(params, x, z);
    }
    if (l->use_arch) {
        double f[LM_NARCH];
        if (!arch_features(arch, f)) {
            memcpy(f, l->feat_lo, sizeof(f));
        }
        for (size_t k = 0; k < n_arch(l); k++) {
            double span = l->feat_hi[k] - l->feat_lo[k];
            z[d++] = span > 0 ? (f[k] - l->feat_lo[k]) / span : 0.5;
        }
    }
    if (mt->pooled) {
        z[d++] = l->ctx_scale > 0 ? log1p(ctx) / l->ctx_scale : 0.0;
    }
    return d;
}

static size_t inputs(const struct lm *l, const struct lm_metric *mt, const struct hn_params *params,
                     const struct hn_trial *t, double ctx, double *z)
{
    return point_inputs(l, mt, params, t->x, t->arch, ctx, z);
}

size_t lm_point_inputs(const struct lm *l, size_t metric, const struct hn_params *params,
                       const double *x, const json_t *arch, double ctx, double *z)
{
    return point_inputs(l, &l->metric[metric], params, x, arch, ctx, z);
}

/* model-space target and its noise variance (NAN: learned) of a sample given its roofline */
static void model_target(const struct lm *l, const struct lm_metric *mt, const struct sample *s,
                         double roof, double *y, double *nv)
{
    int logy = l->log_transform;
    double sem = isfinite(s->sem) ? s->sem : NAN;
    if (mt->roofline) {
        *y = logy ? log(s->y) - log(roof) : s->y - roof;
    } else {
        *y = logy ? log(s->y) : s->y;
    }
    double sm = logy ? sem / s->y : sem;
    *nv = isfinite(sm) ? sm * sm : NAN;
}

/* value and standard error from a roofline prediction and the GP's model-space mean/sd */
static void from_model(const struct lm *l, const struct lm_metric *mt, double roof, double mean,
                       double sd, double *value, double *sem)
{
    if (mt->roofline) {
        *value = l->log_transform ? roof * exp(mean) : roof + mean;
    } else {
        *value = l->log_transform ? exp(mean) : mean;
    }
    *sem = l->log_transform ? *value * sd : sd;
}

/* The variance of a new measurement around the model, in model space: the GP's learned noise,
 * but at least the median of the training measurements' own squared standard errors (a GP that
 * interpolates its training points learns a noise below what a re-measurement varies by; the
 * measurements' standard errors say how much that is at least). */
static double new_noise(const struct lm_metric *mt, const struct hn_gp_hyper *hy)
{
    double learned = hy->noise * hy->y_scale * hy->y_scale;
    return isfinite(mt->noise_floor) ? fmax(learned, mt->noise_floor) : learned;
}

/* median of the training samples' squared standard errors in model space (NAN: none known) */
static double noise_floor_of(const struct lm *l, const struct sample *s, size_t n)
{
    double *v = malloc((n + 1) * sizeof(double));
    size_t k = 0;
    for (size_t i = 0; v != NULL && i < n; i++) {
        double sem = l->log_transform ? s[i].sem / s[i].y : s[i].sem;
        if (isfinite(sem) && sem >= 0) {
            v[k++] = sem * sem;
        }
    }
    double med = NAN;
    if (k > 0) {
        qsort(v, k, sizeof(double), cmp_dbl);
        med = k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
    }
    free(v);
    return med;
}

static double roof_of(const struct lm_roof *f, const struct sample *x, double floor)
{
    return fmax(lm_roof_predict(f, x->r, x->context), floor);
}

/* ---------------------------------------------------------------------------------------------
 * accuracy */

static double kendall_tau(const double *a, const double *b, size_t n)
{
    double conc = 0, disc = 0, ta = 0, tb = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            double da = a[i] - a[j], db = b[i] - b[j];
            if (da == 0 && db == 0) {
                continue;
            }
            if (da == 0) {
                ta++;
            } else if (db == 0) {
                tb++;
            } else if ((da > 0) == (db > 0)) {
                conc++;
            } else {
                disc++;
            }
        }
    }
    double den = sqrt((conc + disc + ta) * (conc + disc + tb));
    return den > 0 ? (conc - disc) / den : NAN;
}

static json_t *accuracy_json(const double *pred, const double *truth, const double *sd_model,
                             size_t n, int log_space)
{
    double mape = 0, w5 = 0, w10 = 0, cover = 0, worst = 0;
    size_t have_sd = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(pred[i] - truth[i]) / fabs(truth[i]);
        mape += e / (double)n;
        worst = fmax(worst, e);
        w5 += e <= 0.05;
        w10 += e <= 0.10;
        if (sd_model != NULL && isfinite(sd_model[i])) {
            double dev = log_space ? fabs(log(truth[i]) - log(pred[i])) : fabs(truth[i] - pred[i]);
            cover += dev <= 1.96 * sd_model[i];
            have_sd++;
        }
    }
    double tau = kendall_tau(pred, truth, n);
    json_t *o = json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "n", (json_int_t)n, "mape", mape,
                          "within5", w5 / (double)n, "within10", w10 / (double)n, "kendall_tau",
                          isfinite(tau) ? tau : 0.0, "worst", worst);
    if (have_sd > 0) {
        json_object_set_new(o, "coverage95", json_real(cover / (double)have_sd));
    }
    return o;
}

/*
 * The fit report's "points": one per training sample, {"trial", "measured"} (+ "context" for a
 * metric pooled over contexts), with its out-of-sample prediction under `key` ("loo":
 * leave-one-out; "cv": the k-fold cross-validation). The report's parity plot shows them as
 * the model's training points.
 */
static void set_points(json_t *mrep, const struct sample *s, size_t n, int pooled, const char *key,
                       const double *pred)
{
    json_t *pts = json_object_get(mrep, "points");
    if (pts == NULL) {
        pts = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *e =
                json_pack("{s:I, s:f}", "trial", (json_int_t)s[i].trial->id, "measured", s[i].y);
            if (pooled && e != NULL) {
                json_object_set_new(e, "context", json_integer((json_int_t)s[i].context));
            }
            json_array_append_new(pts, e);
        }
        json_object_set_new(mrep, "points", pts);
    }
    for (size_t i = 0; i < n && i < json_array_size(pts); i++) {
        if (isfinite(pred[i])) {
            json_object_set_new(json_array_get(pts, i), key, json_real(pred[i]));
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * fitting one metric */

/* Fit the roofline of mt on samples with mask[i] != 0 (NULL: all) into f. */
/* The roofline of the samples mask selects (NULL: all) into f. Returns 0, or -1 with err (out of
 * memory: the caller must not use f). */
static int fit_roofline(const struct lm_metric *mt, const struct sample *s, size_t n,
                        const unsigned char *mask, struct lm_roof *f, struct hn_error *err)
{
    double *R = malloc((n + 1) * LM_NREG * sizeof(double)), *y = malloc((n + 1) * sizeof(double));
    double *ctx = malloc((n + 1) * sizeof(double));
    int rc = -1;
    if (R == NULL || y == NULL || ctx == NULL) {
        hn_error_set(err, NULL, "out of memory fitting the roofline of '%s' (%zu samples)",
                     mt->name, n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(R + i * LM_NREG, s[i].r, sizeof(s[i].r));
        y[i] = s[i].y;
        ctx[i] = s[i].context;
    }
    lm_roof_fit(R, ctx, y, n, mask, mt->kind, mt->relative, f);
    rc = 0;
done:
    free(R);
    free(y);
    free(ctx);
    return rc;
}

/*
 * Check the samples (positive where a log or a roofline needs it), compute their regressors and
 * fit the roofline when every trial has an architecture (mt->roofline; s[i].roof its value,
 * never below *floor). Returns 0, or -1 with err.
 */
static int prepare_samples(const struct lm *l, struct lm_metric *mt, struct sample *s, size_t n,
                           const char *full, double *floor, struct hn_error *err)
{
    double ymin = INFINITY;
    int all_arch = 1;
    for (size_t i = 0; i < n; i++) {
        if ((l->log_transform || !l->use_gp) && !(s[i].y > 0)) {
            hn_error_config(err, NULL,
                            "trial %ld: %s = %g cannot be modelled in log space or by a "
                            "roofline; set log: false (learned)",
                            s[i].trial->id, full, s[i].y);
            return -1;
        }
        ymin = fmin(ymin, fabs(s[i].y));
        all_arch &= lm_regressors_at(s[i].trial->arch, mt->kind,
                                     mt->kind == LM_PREFILL ? (double)l->prompt : s[i].context,
                                     l->dtype, s[i].r);
    }
    /* mean: 0 auto (roofline where possible), 1 roofline, 2 constant */
    mt->roofline = mt->kind != LM_OTHER && all_arch && (!l->use_gp || l->mean != 2);
    if (!mt->roofline && (!l->use_gp || l->mean == 1)) {
        hn_error_config(err, NULL,
                        "%s: a roofline needs every trial's transformer architecture and a "
                        "prefill* or decode* metric%s",
                        full, l->use_gp ? "; set mean: constant" : "");
        return -1;
    }
    *floor = 1e-6 * ymin;
    if (mt->roofline) {
        if (fit_roofline(mt, s, n, NULL, &mt->roof, err) != 0) {
            return -1;
        }
        double ss = 0;
        for (size_t i = 0; i < n; i++) {
            s[i].roof = roof_of(&mt->roof, &s[i], *floor);
            ss += pow((s[i].roof - s[i].y) / s[i].y, 2) / (double)n;
        }
        mt->roofline_rel_rms = sqrt(ss);
    }
    return 0;
}

/* The fitted roofline into the metric's report. */
static void roofline_report(const struct lm_metric *mt, json_t *mrep)
{
    json_object_set_new(mrep, "roofline", doubles(mt->roof.coef, LM_NREG));
    json_object_set_new(mrep, "roofline_fit_rel_rms", json_real(mt->roofline_rel_rms));
    json_object_set_new(mrep, "roofline_cache_mb",
                        isfinite(mt->roof.cache_mb) ? json_real(mt->roof.cache_mb) : json_null());
    if (mt->roof.n_scale > 0) {
        json_object_set_new(mrep, "roofline_context_scale", scales_json(&mt->roof));
    }
}

/*
 * The GP on the samples' residuals from the roofline (or their values), its hyperparameters into
 * *hy; mt keeps the GP, its inputs, targets and noise variances (mt->gp, X, y, noise_var, n, d)
 * and the noise floor. Returns 0, or -1 with err.
 */
static int fit_gp(const struct lm *l, struct lm_metric *mt, const struct hn_params *params,
                  const struct sample *s, size_t n, const char *full, struct hn_gp_hyper *hy,
                  struct hn_error *err)
{
    size_t d = 0;
    double *X = malloc((n + 1) * (HN_GP_MAX_DIM) * sizeof(double));
    double *y = malloc((n + 1) * sizeof(double)), *nv = malloc((n + 1) * sizeof(double));
    double *sem = malloc((n + 1) * sizeof(double));
    int rc = -1;
    if (X == NULL || y == NULL || nv == NULL || sem == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        d = inputs(l, mt, params, s[i].trial, s[i].context, X + i * HN_GP_MAX_DIM);
        model_target(l, mt, &s[i], s[i].roof, &y[i], &nv[i]);
        if (l->noise == 0) {
            nv[i] = NAN; /* learned: one noise variance for every trial */
        }
        sem[i] = isfinite(nv[i]) ? sqrt(nv[i]) : NAN;
    }
    if (d > HN_GP_MAX_DIM) {
        hn_error_config(err, NULL, "%zu model inputs, at most %d", d, HN_GP_MAX_DIM);
        goto done;
    }
    /* compact the rows to n x d */
    for (size_t i = 1; i < n; i++) {
        memmove(X + i * d, X + i * HN_GP_MAX_DIM, d * sizeof(double));
    }
    struct hn_gp_options opt;
    hn_gp_options_default(&opt);
    opt.kernel = l->kernel == 1 ? HN_GP_RBF : HN_GP_MATERN52;
    opt.log_transform = 0; /* targets are already in model space */
    opt.restarts = (int)l->restarts;
    opt.threads = 1;
    opt.seed = l->seed;
    mt->gp = hn_gp_fit(X, y, sem, n, d, &opt, err);
    if (mt->gp == NULL) {
        hn_error_prefix(err, "fitting %s", full);
        goto done;
    }
    hn_gp_get_hyper(mt->gp, hy);
    mt->noise_floor = noise_floor_of(l, s, n);
    mt->n = n;
    mt->d = d;
    mt->X = X;
    mt->y = y;
    mt->noise_var = nv;
    X = y = nv = NULL;
    rc = 0;
done:
    free(X);
    free(y);
    free(nv);
    free(sem);
    return rc;
}

/* Leave-one-out predictions of the fitted GP (same hyperparameters, closed form) into the
 * metric's report ("loo" and its points); pred, truth, sdm: scratch of n. */
static int loo_report(const struct lm *l, const struct lm_metric *mt, const struct sample *s,
                      size_t n, json_t *mrep, double *pred, double *truth, double *sdm,
                      struct hn_error *err)
{
    double *lm_ = malloc((n + 1) * sizeof(double)), *lv = malloc((n + 1) * sizeof(double));
    if (lm_ == NULL || lv == NULL || hn_gp_loo(mt->gp, lm_, lv, err) != 0) {
        free(lm_);
        free(lv);
        if (err->msg[0] == '\0') {
            hn_error_set(err, NULL, "out of memory");
        }
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        double sem_v;
        from_model(l, mt, s[i].roof, lm_[i], sqrt(lv[i]), &pred[i], &sem_v);
        truth[i] = s[i].y;
        sdm[i] = sqrt(lv[i]);
    }
    free(lm_);
    free(lv);
    set_points(mrep, s, n, mt->pooled, "loo", pred);
    json_t *loo = accuracy_json(pred, truth, sdm, n, l->log_transform);
    json_object_set_new(mrep, "loo", loo);
    /* backwards-compatible names */
    json_object_set_new(mrep, "loo_mape", json_real(json_real_value(json_object_get(loo, "mape"))));
    json_object_set_new(mrep, "loo_coverage95",
                        json_real(json_real_value(json_object_get(loo, "coverage95"))));
    json_object_set_new(mrep, "loo_kendall_tau",
                        json_real(json_real_value(json_object_get(loo, "kendall_tau"))));
    return 0;
}

/*
 * One fold of the cross-validation: the roofline refitted on the samples mask selects, the GP
 * with the full fit's hyperparameters hy on their residuals; predictions of the others into
 * pred (sdm: their model-space sd, NAN without a GP), the roofline's into rpred, the truth into
 * truth. Returns 0, or -1 with err.
 */
static int cv_fold(const struct lm *l, const struct lm_metric *mt, const struct sample *s, size_t n,
                   const unsigned char *mask, double floor, const struct hn_gp_hyper *hy,
                   double *pred, double *rpred, double *truth, double *sdm, struct hn_error *err)
{
    struct lm_roof fr;
    if (mt->roofline && fit_roofline(mt, s, n, mask, &fr, err) != 0) {
        return -1;
    }
    struct hn_gp *g = NULL;
    if (l->use_gp) {
        double *Xf = malloc((n + 1) * mt->d * sizeof(double));
        double *yf = malloc((n + 1) * sizeof(double)), *nf = malloc((n + 1) * sizeof(double));
        size_t m = 0;
        for (size_t i = 0; Xf && yf && nf && i < n; i++) {
            if (!mask[i]) {
                continue;
            }
            memcpy(Xf + m * mt->d, mt->X + i * mt->d, mt->d * sizeof(double));
            model_target(l, mt, &s[i], mt->roofline ? roof_of(&fr, &s[i], floor) : NAN, &yf[m],
                         &nf[m]);
            m++;
        }
        if (Xf != NULL && yf != NULL && nf != NULL) {
            g = hn_gp_new_fixed(Xf, yf, nf, m, mt->d, l->kernel == 1 ? HN_GP_RBF : HN_GP_MATERN52,
                                hy, err);
        }
        free(Xf);
        free(yf);
        free(nf);
        if (g == NULL) {
            if (err->msg[0] == '\0') {
                hn_error_set(err, NULL, "out of memory");
            }
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (mask[i]) {
            continue;
        }
        double roof = mt->roofline ? roof_of(&fr, &s[i], floor) : NAN;
        rpred[i] = roof;
        truth[i] = s[i].y;
        if (g == NULL) {
            pred[i] = roof;
            sdm[i] = NAN;
            continue;
        }
        double mean, var, sem_v;
        if (hn_gp_predict(g, mt->X + i * mt->d, 1, &mean, &var, err) != 0) {
            hn_gp_free(g);
            return -1;
        }
        double sd = sqrt(fmax(var, 0) + new_noise(mt, hy));
        from_model(l, mt, roof, mean, sd, &pred[i], &sem_v);
        sdm[i] = sd;
    }
    hn_gp_free(g);
    return 0;
}

/* Append "name: n=..., k-fold error ..." (the cross-validation of mrep) to summary (of cap). */
static void cv_summary(const struct lm *l, const struct lm_metric *mt, size_t n, size_t folds,
                       const json_t *mrep, char *summary, size_t cap)
{
    size_t len = strlen(summary);
    if (folds < 2) {
        snprintf(summary + len, cap - len, "%s%s: n=%zu", len ? "; " : "", mt->name, n);
        return;
    }
    const json_t *cv = json_object_get(mrep, "cv");
    snprintf(summary + len, cap - len,
             "%s%s: n=%zu, %zu-fold error %.1f %%, %.0f %% within 10 %%, tau %.3f", len ? "; " : "",
             mt->name, n, folds, 100.0 * json_real_value(json_object_get(cv, "mape")),
             100.0 * json_real_value(json_object_get(cv, "within10")),
             json_real_value(json_object_get(cv, "kendall_tau")));
    if (mt->roofline && l->use_gp) {
        len = strlen(summary);
        snprintf(
            summary + len, cap - len, " (roofline alone %.1f %%)",
            100.0 * json_real_value(json_object_get(json_object_get(mrep, "cv_roofline"), "mape")));
    }
}

static int fit_metric(struct lm *l, struct lm_metric *mt, const struct hn_history *h,
                      const struct hn_params *params, json_t *report, char *summary, size_t cap,
                      struct hn_error *err)
{
    size_t n = 0;
    struct sample *s = gather(l, mt, h, &n, err);
    double *pred = NULL, *rpred = NULL, *truth = NULL, *sdm = NULL, floor = 0.0;
    unsigned char *mask = NULL;
    int rc = -1;
    char full[256];
    snprintf(full, sizeof(full), "%s.%s%s", l->from, mt->name, mt->pooled ? "_<context>" : "");
    if (s == NULL) {
        return -1;
    }
    metric_clear(mt);
    if (n < 2) {
        hn_error_config(err, NULL,
                        "only %zu complete trial%s with metric '%s' to learn from; measure more "
                        "before the fit stage",
                        n, n == 1 ? "" : "s", full);
        goto done;
    }
    if (prepare_samples(l, mt, s, n, full, &floor, err) != 0) {
        goto done;
    }
    pred = malloc((n + 1) * sizeof(double));
    rpred = malloc((n + 1) * sizeof(double));
    truth = malloc((n + 1) * sizeof(double));
    sdm = malloc((n + 1) * sizeof(double));
    mask = malloc(n + 1);
    if (pred == NULL || truth == NULL || sdm == NULL || mask == NULL || rpred == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    json_t *mrep = json_object();
    json_object_set_new(report, mt->name, mrep);
    json_object_set_new(mrep, "n", json_integer((json_int_t)n));
    json_object_set_new(mrep, "kind", json_string(kind_names[mt->kind]));
    if (mt->roofline) {
        roofline_report(mt, mrep);
    }
    struct hn_gp_hyper hy;
    if (l->use_gp && (fit_gp(l, mt, params, s, n, full, &hy, err) != 0 ||
                      loo_report(l, mt, s, n, mrep, pred, truth, sdm, err) != 0)) {
        goto done;
    }
    /* k-fold cross-validation by trial: the roofline refitted per fold; the GP with the full
     * fit's hyperparameters on the fold's residuals */
    size_t n_trials = s[n - 1].ordinal + 1;
    size_t folds = (size_t)l->folds < n_trials ? (size_t)l->folds : n_trials;
    if (folds >= 2) {
        for (size_t f = 0; f < folds; f++) {
            for (size_t i = 0; i < n; i++) {
                mask[i] = s[i].ordinal % folds != f;
            }
            if (cv_fold(l, mt, s, n, mask, floor, &hy, pred, rpred, truth, sdm, err) != 0) {
                hn_error_prefix(err, "cross-validating %s", full);
                goto done;
            }
        }
        set_points(mrep, s, n, mt->pooled, "cv", pred);
        json_t *cv = accuracy_json(pred, truth, l->use_gp ? sdm : NULL, n, l->log_transform);
        json_object_set_new(cv, "folds", json_integer((json_int_t)folds));
        json_object_set_new(mrep, "cv", cv);
        if (mt->roofline && l->use_gp) {
            json_object_set_new(mrep, "cv_roofline", accuracy_json(rpred, truth, NULL, n, 1));
        }
    }
    cv_summary(l, mt, n, folds, mrep, summary, cap);
    rc = 0;
done:
    free(s);
    free(pred);
    free(rpred);
    free(truth);
    free(sdm);
    free(mask);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * the model file */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 1099511628211ULL;
    }
    return h;
}

/* doubles are hashed as 12 significant digits: a value replayed from the journal (a resumed
 * study) may differ from the measured one in its last bits */
static uint64_t fnv_d(uint64_t h, double v)
{
    char buf[40];
    int n = snprintf(buf, sizeof(buf), "%.12g", isfinite(v) ? v : NAN);
    return fnv(h, buf, (size_t)n);
}

/* Does t carry a measurement of the source (a metric `<from>.*`)? */
static int measured(const struct lm *l, const struct hn_trial *t)
{
    size_t fl = strlen(l->from);
    if (t->status != HN_TRIAL_COMPLETE || t->n_params != l->n_params) {
        return 0;
    }
    for (size_t j = 0; j < t->metrics.n; j++) {
        if (strncmp(t->metrics.m[j].name, l->from, fl) == 0 && t->metrics.m[j].name[fl] == '.') {
            return 1;
        }
    }
    return 0;
}

/* Hash of everything a fit depends on: settings, and every sample's point, regressors, value
 * and standard error. */
static uint64_t training_hash(const struct lm *l, const struct hn_history *h)
{
    uint64_t x = 1469598103934665603ULL;
    x = fnv(x, l->plugin, strlen(l->plugin) + 1);
    x = fnv(x, l->from, strlen(l->from) + 1);
    int64_t o[] = {l->prompt, l->context,  l->restarts, l->folds,         l->log_transform,
                   l->kernel, l->features, l->mean,     (int64_t)l->seed, (int64_t)l->n_params,
                   l->dtype,  l->noise};
    x = fnv(x, o, sizeof(o));
    for (size_t c = 0; c < l->n_contexts; c++) {
        x = fnv_d(x, l->contexts[c]);
    }
    for (size_t k = 0; k < l->n_metrics; k++) {
        x = fnv(x, l->metric[k].name, strlen(l->metric[k].name) + 1);
    }
    for (size_t i = 0; i < h->n; i++) {
        const struct hn_trial *t = h->trials[i];
        if (!measured(l, t)) {
            continue;
        }
        x = fnv(x, &t->id, sizeof(t->id));
        for (size_t j = 0; j < t->n_params; j++) {
            x = fnv_d(x, t->x[j]);
        }
        double f[LM_NARCH] = {0};
        if (arch_features(t->arch, f)) {
            x = fnv_d(fnv_d(x, f[0]), f[1]);
        }
        /* the metrics' order differs between a run and its replay: combine them by a sum */
        uint64_t sum = 0;
        for (size_t j = 0; j < t->metrics.n; j++) {
            size_t fl = strlen(l->from);
            const char *name = t->metrics.m[j].name;
            if (strncmp(name, l->from, fl) == 0 && name[fl] == '.') {
                uint64_t m = fnv(1469598103934665603ULL, name, strlen(name) + 1);
                m = fnv_d(m, t->metrics.m[j].value);
                sum += fnv_d(m, t->metrics.m[j].sem);
            }
        }
        x = fnv(x, &sum, sizeof(sum));
    }
    return x;
}

static char *model_path(const struct lm *l)
{
    char name[512];
    if (l->study_dir == NULL) {
        return NULL;
    }
    snprintf(name, sizeof(name), "%s-model.json", l->instance);
    return hn_path_join(l->study_dir, name);
}

static int save_model(struct lm *l, uint64_t hash, struct hn_error *err)
{
    char *path = model_path(l), hex[32];
    if (path == NULL) {
        return 0;
    }
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)hash);
    json_t *root = json_pack(
        "{s:s, s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:f}", "format", LM_FORMAT, "version",
        LM_VERSION, "plugin", l->plugin, "instance", l->instance, "from", l->from, "training", hex,
        "n_params", (json_int_t)l->n_params, "prompt", (json_int_t)l->prompt, "context",
        (json_int_t)l->context, "log", l->log_transform, "ctx_scale", l->ctx_scale);
    json_object_set_new(root, "use_arch", json_boolean(l->use_arch != 0));
    json_object_set_new(root, "inputs", json_string(inputs_names[l->use_arch]));
    json_object_set_new(root, "feat_lo", doubles(l->feat_lo, LM_NARCH));
    json_object_set_new(root, "feat_hi", doubles(l->feat_hi, LM_NARCH));
    json_object_set_new(root, "kernel", json_string(l->kernel == 1 ? "rbf" : "matern52"));
    json_t *ms = json_object();
    json_object_set_new(root, "metrics", ms);
    for (size_t k = 0; k < l->n_metrics; k++) {
        const struct lm_metric *mt = &l->metric[k];
        json_t *m =
            json_pack("{s:s, s:b, s:b, s:o, s:f, s:o}", "kind", kind_names[mt->kind], "pooled",
                      mt->pooled, "roofline", mt->roofline, "coef", doubles(mt->roof.coef, LM_NREG),
                      "roofline_rel_rms", mt->roofline_rel_rms, "cache_mb",
                      isfinite(mt->roof.cache_mb) ? json_real(mt->roof.cache_mb) : json_null());
        if (mt->roof.n_scale > 0) {
            json_object_set_new(m, "context_scale", scales_json(&mt->roof));
        }
        if (mt->gp != NULL) {
            struct hn_gp_hyper hy;
            hn_gp_get_hyper(mt->gp, &hy);
            json_object_set_new(m, "gp",
                                json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:f, s:f, s:f, s:f, s:f}",
                                          "n", (json_int_t)mt->n, "d", (json_int_t)mt->d, "X",
                                          doubles(mt->X, mt->n * mt->d), "y", doubles(mt->y, mt->n),
                                          "noise_var", doubles(mt->noise_var, mt->n), "lengthscale",
                                          doubles(hy.lengthscale, mt->d), "noise", hy.noise, "mean",
                                          hy.mean, "outputscale", hy.outputscale, "y_mean",
                                          hy.y_mean, "y_scale", hy.y_scale));
            json_object_set_new(json_object_get(m, "gp"), "noise_floor",
                                isfinite(mt->noise_floor) ? json_real(mt->noise_floor)
                                                          : json_null());
        }
        json_object_set_new(ms, mt->name, m);
    }
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    json_decref(root);
    int rc = -1;
    if (text == NULL) {
        hn_error_set(err, NULL, "out of memory");
    } else if (hn_write_file_atomic(path, text, strlen(text), err) == 0 &&
               stat(path, &l->loaded) == 0) {
        rc = 0;
    } else if (err->msg[0] == '\0') {
        hn_error_env(err, NULL, "%s: %s", path, strerror(errno));
    }
    free(text);
    free(path);
    return rc;
}

static int read_doubles(const json_t *a, double *out, size_t n)
{
    if (!json_is_array(a) || json_array_size(a) != n) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(a, i);
        out[i] = json_is_null(v) ? NAN : json_number_value(v);
        if (!json_is_null(v) && !json_is_number(v)) {
            return -1;
        }
    }
    return 0;
}

/* A metric's roofline from its model file entry m (version 1: seven coefficients, no cache
 * term, no scales). Returns 0, or -1 if malformed. */
static int read_roof(const json_t *m, int version, struct lm_metric *mt)
{
    struct lm_roof *f = &mt->roof;
    f->kind = mt->kind;
    f->cache_mb = INFINITY;
    f->n_scale = 0;
    if (read_doubles(json_object_get(m, "coef"), f->coef, version == 1 ? 7 : LM_NREG) != 0) {
        return -1;
    }
    for (size_t k = 0; k < LM_NREG; k++) {
        if (version == 1 && k >= 7) {
            f->coef[k] = 0.0;
        } else if (!(f->coef[k] >= 0 && f->coef[k] < INFINITY)) {
            return -1;
        }
    }
    if (version == 1) {
        return 0;
    }
    const json_t *c = json_object_get(m, "cache_mb");
    if (json_is_number(c) && json_number_value(c) > 0 && isfinite(json_number_value(c))) {
        f->cache_mb = json_number_value(c);
    } else if (!json_is_null(c)) {
        return -1;
    }
    const json_t *sc = json_object_get(m, "context_scale");
    if (sc == NULL) {
        return 0;
    }
    size_t n = json_array_size(sc);
    if (!json_is_array(sc) || n > LM_MAX_SCALES) {
        return -1;
    }
    for (size_t k = 0; k < n; k++) {
        double pair[2];
        if (read_doubles(json_array_get(sc, k), pair, 2) != 0 || !(pair[0] >= 0) ||
            !(pair[0] < INFINITY) || !(pair[1] > 0) || !(pair[1] < INFINITY) ||
            (k > 0 && !(pair[0] > f->scale_ctx[k - 1]))) {
            return -1;
        }
        f->scale_ctx[k] = pair[0];
        f->scale[k] = pair[1];
    }
    f->n_scale = n;
    return 0;
}

/* Load the model file into l; hash: if non-NULL, only a file of this training hash is
 * accepted (returns 1 when the file is absent or of other data). Returns 0 loaded, 1 not
 * applicable, -1 with err (unreadable, malformed, other version). */
/* The most samples a model file's GP may hold: its matrix is n x n (a fit stage would not get
 * far beyond a few thousand; a file claiming more is refused, not factorized for hours). */
#define LM_MAX_GP_SAMPLES 20000

/*
 * The identity of the model file root at path: its format and version (into *version), and
 * that it was written by this oracle for this space (plugin, n_params) and, with hash, for this
 * training set. Returns 0, 1 when hash does not match (a fit on other trials: fit again), or -1
 * with err.
 */
static int check_header(const struct lm *l, const json_t *root, const char *path, size_t n_params,
                        const uint64_t *hash, json_int_t *version, struct hn_error *err)
{
    const char *format = json_string_value(json_object_get(root, "format"));
    *version = json_integer_value(json_object_get(root, "version"));
    if (format == NULL || strcmp(format, LM_FORMAT) != 0 || *version < 1 || *version > LM_VERSION) {
        hn_error_config(err, NULL,
                        "%s: not a %s file of version 1 to %d (format %s, version %lld); delete "
                        "it and run the fit stage again to regenerate it",
                        path, LM_FORMAT, LM_VERSION, format ? format : "missing",
                        (long long)*version);
        return -1;
    }
    const char *plugin = json_string_value(json_object_get(root, "plugin"));
    if (hash != NULL) {
        char hex[32];
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)*hash);
        const char *th = json_string_value(json_object_get(root, "training"));
        if (th == NULL || strcmp(th, hex) != 0 || plugin == NULL ||
            strcmp(plugin, l->plugin) != 0) {
            return 1;
        }
    }
    if (plugin == NULL || strcmp(plugin, l->plugin) != 0 ||
        (json_int_t)n_params != json_integer_value(json_object_get(root, "n_params"))) {
        hn_error_config(err, NULL,
                        "%s was written by another oracle or for another space (plugin %s, "
                        "%lld parameters; this is '%s' with %zu); delete it and fit again",
                        path, plugin ? plugin : "?",
                        (long long)json_integer_value(json_object_get(root, "n_params")), l->plugin,
                        n_params);
        return -1;
    }
    return 0;
}

/* Metric mt's GP from its entry m of the model file at path (kernel: the file's). Returns 0, or
 * -1 with err. */
static int read_gp(struct lm_metric *mt, const json_t *m, const char *kernel, const char *path,
                   struct hn_error *err)
{
    const json_t *g = json_object_get(m, "gp");
    size_t n = (size_t)json_integer_value(json_object_get(g, "n"));
    size_t d = (size_t)json_integer_value(json_object_get(g, "d"));
    struct hn_gp_hyper hy = {0};
    if (g == NULL || n < 1 || n > LM_MAX_GP_SAMPLES || d < 1 || d > HN_GP_MAX_DIM) {
        hn_error_config(err, NULL,
                        "%s: metric '%s' has no valid GP (n %zu of 1 to %d samples, d %zu of 1 to "
                        "%d inputs); fit again",
                        path, mt->name, n, LM_MAX_GP_SAMPLES, d, HN_GP_MAX_DIM);
        return -1;
    }
    mt->X = malloc(n * d * sizeof(double));
    mt->y = malloc(n * sizeof(double));
    mt->noise_var = malloc(n * sizeof(double));
    if (mt->X == NULL || mt->y == NULL || mt->noise_var == NULL ||
        read_doubles(json_object_get(g, "X"), mt->X, n * d) != 0 ||
        read_doubles(json_object_get(g, "y"), mt->y, n) != 0 ||
        read_doubles(json_object_get(g, "noise_var"), mt->noise_var, n) != 0 ||
        read_doubles(json_object_get(g, "lengthscale"), hy.lengthscale, d) != 0) {
        hn_error_config(err, NULL, "%s: metric '%s': malformed GP data; fit again", path, mt->name);
        return -1;
    }
    mt->n = n;
    mt->d = d;
    hy.d = d;
    hy.noise = json_number_value(json_object_get(g, "noise"));
    hy.mean = json_number_value(json_object_get(g, "mean"));
    hy.outputscale = json_number_value(json_object_get(g, "outputscale"));
    hy.y_mean = json_number_value(json_object_get(g, "y_mean"));
    hy.y_scale = json_number_value(json_object_get(g, "y_scale"));
    const json_t *nf = json_object_get(g, "noise_floor"); /* version 2 */
    mt->noise_floor =
        json_is_number(nf) && json_number_value(nf) >= 0 ? json_number_value(nf) : NAN;
    mt->gp = hn_gp_new_fixed(mt->X, mt->y, mt->noise_var, n, d,
                             kernel && strcmp(kernel, "rbf") == 0 ? HN_GP_RBF : HN_GP_MATERN52, &hy,
                             err);
    if (mt->gp == NULL) {
        hn_error_prefix(err, "%s: metric '%s'", path, mt->name);
        return -1;
    }
    return 0;
}

static int load_model(struct lm *l, size_t n_params, const uint64_t *hash, struct hn_error *err)
{
    char *path = model_path(l);
    json_error_t je;
    struct stat st;
    int rc = -1;
    if (path == NULL || stat(path, &st) != 0) {
        free(path);
        return 1;
    }
    json_t *root = json_load_file(path, 0, &je);
    if (root == NULL) {
        hn_error_config(err, NULL, "%s:%d:%d: %s; delete it and run the fit stage again", path,
                        je.line, je.column, je.text);
        free(path);
        return -1;
    }
    json_int_t version = 0;
    rc = check_header(l, root, path, n_params, hash, &version, err);
    if (rc != 0) {
        goto done;
    }
    rc = -1;
    json_t *ms = json_object_get(root, "metrics");
    const char *kernel = json_string_value(json_object_get(root, "kernel"));
    for (size_t k = 0; k < l->n_metrics; k++) {
        struct lm_metric *mt = &l->metric[k];
        json_t *m = json_object_get(ms, mt->name);
        metric_clear(mt);
        if (m == NULL || read_roof(m, (int)version, mt) != 0) {
            hn_error_config(err, NULL, "%s: metric '%s' missing or malformed; fit again", path,
                            mt->name);
            goto done;
        }
        mt->roofline = json_is_true(json_object_get(m, "roofline"));
        mt->roofline_rel_rms = json_number_value(json_object_get(m, "roofline_rel_rms"));
        if (l->use_gp && read_gp(mt, m, kernel, path, err) != 0) {
            goto done;
        }
    }
    l->n_params = n_params;
    l->use_arch = json_is_true(json_object_get(root, "use_arch"));
    const char *inputs = json_string_value(json_object_get(root, "inputs"));
    for (int k = 0; version > 1 && k < 3; k++) {
        if (inputs != NULL && strcmp(inputs, inputs_names[k]) == 0) {
            l->use_arch = k;
        }
    }
    l->ctx_scale = json_number_value(json_object_get(root, "ctx_scale"));
    size_t nf = version == 1 ? 2 : LM_NARCH;
    memset(l->feat_lo, 0, sizeof(l->feat_lo));
    memset(l->feat_hi, 0, sizeof(l->feat_hi));
    if (read_doubles(json_object_get(root, "feat_lo"), l->feat_lo, nf) != 0 ||
        read_doubles(json_object_get(root, "feat_hi"), l->feat_hi, nf) != 0) {
        hn_error_config(err, NULL, "%s: malformed feature ranges; fit again", path);
        goto done;
    }
    l->loaded = st;
    l->fitted = 1;
    rc = 0;
done:
    json_decref(root);
    free(path);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * fit and evaluate */

int lm_fit(struct lm *l, const struct hn_history *h, const struct hn_params *params,
           struct hn_error *err)
{
    json_t *report = NULL;
    char summary[4096] = "";
    int rc = -1;
    l->fitted = 0;
    l->n_params = params->n;
    /* architecture features and the context scale over the complete trials */
    int all_have = 1, any = 0;
    for (size_t k = 0; k < LM_NARCH; k++) {
        l->feat_lo[k] = INFINITY;
        l->feat_hi[k] = -INFINITY;
    }
    double max_ctx = 0;
    for (size_t c = 0; c < l->n_contexts; c++) {
        max_ctx = fmax(max_ctx, l->contexts[c]);
    }
    for (size_t i = 0; i < h->n; i++) {
        const struct hn_trial *t = h->trials[i];
        double f[LM_NARCH];
        if (!measured(l, t)) {
            continue; /* the model's own predictions (a resumed study) are no training data */
        }
        int has = arch_features(t->arch, f);
        all_have &= has;
        any = 1;
        for (size_t k = 0; has && k < LM_NARCH; k++) {
            l->feat_lo[k] = fmin(l->feat_lo[k], f[k]);
            l->feat_hi[k] = fmax(l->feat_hi[k], f[k]);
        }
        for (size_t j = 0; j < t->metrics.n; j++) {
            for (size_t k = 0; k < l->n_metrics; k++) {
                char prefix[256];
                snprintf(prefix, sizeof(prefix), "%s.%s", l->from, l->metric[k].name);
                if (l->metric[k].pooled) {
                    max_ctx = fmax(max_ctx, context_suffix(t->metrics.m[j].name, prefix));
                }
            }
        }
    }
    l->ctx_scale = log1p(max_ctx);
    /* features: 0 auto, 1 params, 2 params+arch, 3 arch; use_arch: 0, 1 params+arch, 2 arch */
    int arch_ok = all_have && any;
    l->use_arch = !l->use_gp                    ? 0
                  : l->features == 3            ? 2
                  : l->features == 2            ? 1
                  : l->features == 0 && arch_ok ? LM_AUTO_ARCH
                                                : 0;
    if (l->use_gp && (l->features == 2 || l->features == 3) && !all_have) {
        return hn_error_config(err, NULL,
                               "a trial has no transformer architecture for features: %s (use "
                               "the space 'transformer', or features: params)",
                               inputs_names[l->features - 1]);
    }
    for (size_t k = n_arch(l); k < LM_NARCH; k++) {
        l->feat_lo[k] = l->feat_hi[k] = 0;
    }
    uint64_t hash = training_hash(l, h);
    struct hn_error le;
    hn_error_clear(&le);
    int lr = load_model(l, params->n, &hash, &le);
    if (lr == 0) {
        hn_log(HN_LOG_INFO,
               "loaded the saved model of the same training data (%s-model.json) instead of "
               "fitting again",
               l->instance);
        return 0;
    }
    if (lr < 0) {
        hn_log(HN_LOG_WARNING, "%s; fitting again", le.msg);
    }
    report = json_object();
    if (report == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t k = 0; k < l->n_metrics; k++) {
        if (fit_metric(l, &l->metric[k], h, params, report, summary, sizeof(summary), err) != 0) {
            goto done;
        }
    }
    const char *feats = !l->use_gp ? "roofline" : inputs_names[l->use_arch];
    json_object_set_new(report, "features", json_string(feats));
    if (l->study_dir != NULL) {
        char name[512];
        snprintf(name, sizeof(name), "%s-fit.json", l->instance);
        char *path = hn_path_join(l->study_dir, name);
        char *text = json_dumps(report, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(6));
        if (path == NULL || text == NULL ||
            hn_write_file_atomic(path, text, strlen(text), err) != 0) {
            free(path);
            free(text);
            goto done;
        }
        free(path);
        free(text);
    }
    if (save_model(l, hash, err) != 0) {
        goto done;
    }
    l->fitted = 1;
    if (!l->quiet) {
        hn_log(HN_LOG_INFO, "learned from '%s' (%s): %s", l->from, feats, summary);
    }
    rc = 0;
done:
    json_decref(report);
    return rc;
}

/* Load the model file when this process has not fitted (an MPI worker rank) or the file
 * changed since (another process fitted again). */
static int refresh(struct lm *l, size_t n_params, struct hn_error *err)
{
    char *path = model_path(l);
    struct stat st;
    int have = path != NULL && stat(path, &st) == 0;
    free(path);
    if (have && l->fitted &&
        (st.st_ino == l->loaded.st_ino && st.st_mtim.tv_sec == l->loaded.st_mtim.tv_sec &&
         st.st_mtim.tv_nsec == l->loaded.st_mtim.tv_nsec && st.st_size == l->loaded.st_size)) {
        return 0;
    }
    if (!have) {
        return l->fitted ? 0 : 1;
    }
    return load_model(l, n_params, NULL, err);
}

int lm_evaluate(struct lm *l, const struct hn_eval_request *req, struct hn_metrics *out,
                struct hn_error *err)
{
    int r = refresh(l, req->params->n, err);
    if (r < 0) {
        return -1;
    }
    if (!l->fitted) {
        return hn_error_config(err, NULL,
                               "not fitted (and %s/%s-model.json does not exist): add a stage "
                               "{name: fit, oracle: %s} after the trials it learns from",
                               l->study_dir ? l->study_dir : ".", l->instance, l->instance);
    }
    if (req->trial->n_params != l->n_params) {
        return hn_error_set(err, NULL, "the trial has %zu parameters, the model %zu",
                            req->trial->n_params, l->n_params);
    }
    for (size_t o = 0; o < l->n_outputs; o++) {
        const struct lm_output *op = &l->output[o];
        const struct lm_metric *mt = &l->metric[op->metric];
        double r_[LM_NREG], roof = NAN, value, sem;
        if (mt->roofline) {
            double tokens = mt->kind == LM_PREFILL ? (double)l->prompt : op->context;
            if (!lm_regressors_at(req->trial->arch, mt->kind, tokens, l->dtype, r_)) {
                return hn_error_config(err, NULL,
                                       "trial %ld has no transformer architecture, but the "
                                       "model of '%s' has a roofline",
                                       req->trial->id, mt->name);
            }
            roof = fmax(lm_roof_predict(&mt->roof, r_, tokens), 1e-9);
        }
        if (mt->gp != NULL) {
            double z[HN_GP_MAX_DIM], mean, var;
            struct hn_gp_hyper hy;
            if (l->use_arch && !arch_features(req->trial->arch, z)) {
                return hn_error_config(err, NULL,
                                       "trial %ld has no transformer architecture, but the "
                                       "model was fitted with architecture features",
                                       req->trial->id);
            }
            size_t d = inputs(l, mt, req->params, req->trial, op->context, z);
            if (d != mt->d) {
                return hn_error_set(err, NULL, "model of '%s' has %zu inputs, the trial %zu",
                                    mt->name, mt->d, d);
            }
            if (hn_gp_predict(mt->gp, z, 1, &mean, &var, err) != 0) {
                return -1;
            }
            hn_gp_get_hyper(mt->gp, &hy);
            /* the latent's uncertainty plus the learned measurement noise, in model space */
            double sd = sqrt(fmax(var, 0.0) + new_noise(mt, &hy));
            from_model(l, mt, roof, mean, sd, &value, &sem);
        } else {
            value = roof;
            sem = roof * mt->roofline_rel_rms;
        }
        if (hn_metrics_put(out, op->name, value, sem, err) != 0) {
            return -1;
        }
    }
    return 0;
}
