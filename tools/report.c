/*
 * hilnas report STUDY_DIR [-o FILE]: one self-contained HTML file (no network, inline SVG) from
 * a study directory's journal, and the frontier table `hilnas run` prints at its end.
 *
 * Trials with the same parameters are one candidate: their metrics are merged (a verify trial
 * adds measured latency to the search trial it re-measures; a backbone measured by the measure
 * stage and trained by the search stage is one point). The reference (marked "backbone") is a
 * candidate measured from a stage's `points:` (the started event's "point"). The quality metric
 * is the first objective; every other metric ending in _ms is a latency.
 *
 * Everything shown is also written to STUDY_DIR/report.json (candidates with merged metrics,
 * fronts, parity pairs, hypervolume trace, frontier table). Every text from the study (names,
 * metrics, parameters) is escaped: it is untrusted input.
 */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/journal.h"
#include "core/study.h"
#include "core/util.h"
#include "hilnas/pareto.h"
#include "tools/cli.h"
#include "tools/report.h"

struct cand {
    long id;         /* first trial of the group */
    json_t *params;  /* borrowed */
    json_t *arch;    /* borrowed, may be NULL */
    json_t *metrics; /* owned: name -> value */
    json_t *trials;  /* owned: ids */
    int reference;
    int heldout; /* some measurement came after a fit (for parity) */
};

struct rep {
    struct hn_replay r;
    json_t *started; /* id -> started event */
    long fit_after;  /* trials with id >= this started after the first fit */
};

static int on_event(json_t *ev, long line, void *data, struct hn_error *err)
{
    struct rep *p = data;
    const char *type = json_string_value(json_object_get(ev, "event"));
    if (type != NULL && strcmp(type, "started") == 0) {
        char key[32];
        snprintf(key, sizeof(key), "%lld",
                 (long long)json_integer_value(json_object_get(ev, "trial")));
        json_object_set(p->started, key, ev);
    } else if (type != NULL && strcmp(type, "fit") == 0 && p->fit_after < 0) {
        p->fit_after = p->r.next_id;
    }
    return hn_replay_event(ev, line, &p->r, err);
}

/* ---- text building ---- */

struct out {
    char *s;
    size_t len, cap;
};

static void emit(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if (o->len + (size_t)n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 65536;
        while (o->len + (size_t)n + 1 > cap) {
            cap *= 2;
        }
        char *g = realloc(o->s, cap);
        if (g == NULL) {
            return;
        }
        o->s = g;
        o->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(o->s + o->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

/* HTML-escape untrusted text (element content and quoted attributes). */
static void esc(struct out *o, const char *s)
{
    for (; s != NULL && *s; s++) {
        switch (*s) {
        case '<':
            emit(o, "&lt;");
            break;
        case '>':
            emit(o, "&gt;");
            break;
        case '&':
            emit(o, "&amp;");
            break;
        case '"':
            emit(o, "&quot;");
            break;
        case '\'':
            emit(o, "&#39;");
            break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') {
                emit(o, "&#xfffd;");
            } else {
                emit(o, "%c", *s);
            }
        }
    }
}

/* ---- candidates ---- */

static double mval(const struct cand *c, const char *name)
{
    json_t *v = json_object_get(c->metrics, name);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static size_t build(struct rep *p, struct cand **out)
{
    struct cand *c = calloc(p->r.n ? p->r.n : 1, sizeof(*c));
    size_t n = 0;
    for (size_t i = 0; c != NULL && i < p->r.n; i++) {
        const struct hn_trial *t = p->r.trials[i];
        if (t->status != HN_TRIAL_COMPLETE) {
            continue;
        }
        json_t *params = p->r.params_json[i];
        size_t k = 0;
        while (k < n && !json_equal(c[k].params, params)) {
            k++;
        }
        char key[32];
        snprintf(key, sizeof(key), "%ld", t->id);
        json_t *st = json_object_get(p->started, key);
        if (k == n) {
            c[n].id = t->id;
            c[n].params = params;
            c[n].arch = json_object_get(st, "arch");
            c[n].metrics = json_object();
            c[n].trials = json_array();
            n++;
        }
        c[k].reference |= json_object_get(st, "point") != NULL;
        json_array_append_new(c[k].trials, json_integer(t->id));
        for (size_t m = 0; m < t->metrics.n; m++) {
            json_object_set_new(c[k].metrics, t->metrics.m[m].name,
                                json_real(t->metrics.m[m].value));
        }
        if (p->fit_after >= 0 && t->id >= p->fit_after) {
            c[k].heldout = 1;
        }
    }
    *out = c;
    return n;
}

static void free_cands(struct cand *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(c[i].metrics);
        json_decref(c[i].trials);
    }
    free(c);
}

/* Latency metrics: names ending in _ms seen in candidates, sorted (measured before predicted
 * is up to the names; the report shows every one). */
static size_t latency_metrics(const struct cand *c, size_t n, const char *quality, char ***out)
{
    char **names = NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *key;
        json_t *v;
        json_object_foreach(c[i].metrics, key, v)
        {
            size_t len = strlen(key);
            if (len < 4 || strcmp(key + len - 3, "_ms") != 0 || strcmp(key, quality) == 0) {
                continue;
            }
            int seen = 0;
            for (size_t j = 0; j < k; j++) {
                seen |= strcmp(names[j], key) == 0;
            }
            if (!seen) {
                char **g = realloc(names, (k + 1) * sizeof(char *));
                if (g == NULL) {
                    continue;
                }
                names = g;
                names[k++] = (char *)key;
            }
        }
    }
    for (size_t i = 0; i < k; i++) {
        for (size_t j = i + 1; j < k; j++) {
            if (strcmp(names[j], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
        }
    }
    *out = names;
    return k;
}

/* 2-D front (both minimized) of candidates having both metrics: on[i] = 1 on the front,
 * 0 dominated, -1 lacking a metric. */
static void front2(const struct cand *c, size_t n, const char *a, const char *b, int *on)
{
    for (size_t i = 0; i < n; i++) {
        double ai = mval(&c[i], a), bi = mval(&c[i], b);
        if (!isfinite(ai) || !isfinite(bi)) {
            on[i] = -1;
            continue;
        }
        on[i] = 1;
        for (size_t j = 0; j < n && on[i]; j++) {
            double aj = mval(&c[j], a), bj = mval(&c[j], b);
            if (j != i && isfinite(aj) && isfinite(bj) && aj <= ai && bj <= bi &&
                (aj < ai || bj < bi)) {
                on[i] = 0;
            }
        }
    }
}

static const struct cand *reference(const struct cand *c, size_t n, const char *quality)
{
    for (size_t i = 0; i < n; i++) {
        if (c[i].reference && isfinite(mval(&c[i], quality))) {
            return &c[i];
        }
    }
    return NULL;
}

/* The measured latency for speedups: the first latency metric of the reference that does not
 * come from a learned oracle (no <source>-fit.json in dir), else the first one. */
static const char *measured_latency(const char *dir, const struct cand *ref, char **lat,
                                    size_t nl)
{
    const char *first = NULL;
    for (size_t i = 0; i < nl; i++) {
        if (ref != NULL && !isfinite(mval(ref, lat[i]))) {
            continue;
        }
        first = first ? first : lat[i];
        char src[256], *path;
        const char *dot = strchr(lat[i], '.');
        snprintf(src, sizeof(src), "%.*s-fit.json", dot ? (int)(dot - lat[i]) : 0, lat[i]);
        path = hn_path_join(dir, src);
        FILE *f = path ? fopen(path, "r") : NULL;
        free(path);
        if (f == NULL) {
            return lat[i];
        }
        fclose(f);
    }
    return first;
}

/* ---- the frontier table ---- */

static const double tolerances[] = {0.01, 0.02, 0.05};

json_t *hn_frontier_table(const char *dir, struct hn_error *err)
{
    struct rep p;
    memset(&p, 0, sizeof(p));
    p.started = json_object();
    p.fit_after = -1;
    int torn = 0;
    json_t *out = NULL;
    struct cand *c = NULL;
    size_t n = 0;
    char **lat = NULL;
    if (hn_journal_read(dir, on_event, &p, &torn, err) != 0) {
        goto done;
    }
    if (p.r.study_event == NULL) {
        hn_error_set(err, dir, "the journal has no study event yet (the study has not started)");
        goto done;
    }
    json_t *objs = json_object_get(json_object_get(p.r.study_event, "problem"), "objectives");
    const char *quality = json_string_value(json_object_get(json_array_get(objs, 0), "metric"));
    n = build(&p, &c);
    size_t nl = latency_metrics(c, n, quality ? quality : "", &lat);
    const struct cand *ref = reference(c, n, quality ? quality : "");
    const char *speed = measured_latency(dir, ref, lat, nl);
    out = json_pack("{s:s?, s:s?}", "quality", quality, "latency", speed);
    json_t *rows = json_array();
    json_object_set_new(out, "rows", rows);
    if (ref == NULL || speed == NULL || !isfinite(mval(ref, speed))) {
        goto done;
    }
    double q0 = mval(ref, quality), l0 = mval(ref, speed);
    json_object_set_new(out, "reference",
                        json_pack("{s:I, s:f, s:f}", "trial", (json_int_t)ref->id, "quality", q0,
                                  "latency", l0));
    for (size_t t = 0; t < sizeof(tolerances) / sizeof(tolerances[0]); t++) {
        const struct cand *best = NULL;
        for (size_t i = 0; i < n; i++) {
            double q = mval(&c[i], quality), l = mval(&c[i], speed);
            if (isfinite(q) && isfinite(l) && q <= q0 + tolerances[t] * fabs(q0) &&
                (best == NULL || l < mval(best, speed))) {
                best = &c[i];
            }
        }
        json_t *row = json_pack("{s:f}", "within", tolerances[t]);
        if (best != NULL) {
            double q = mval(best, quality), l = mval(best, speed);
            json_object_set_new(row, "trial", json_integer(best->id));
            json_object_set_new(row, "quality", json_real(q));
            json_object_set_new(row, "latency", json_real(l));
            json_object_set_new(row, "speedup", json_real(l > 0 ? l0 / l : NAN));
            json_object_set_new(row, "reference", json_boolean(best->reference));
            json_object_set(row, "params", best->params);
        }
        json_array_append_new(rows, row);
    }
done:
    free(lat);
    free_cands(c, n);
    json_decref(p.started);
    hn_replay_free(&p.r);
    return out;
}

void hn_frontier_print(const json_t *table, FILE *f)
{
    const json_t *ref = json_object_get(table, "reference");
    const char *q = json_string_value(json_object_get(table, "quality"));
    const char *l = json_string_value(json_object_get(table, "latency"));
    if (ref == NULL) {
        fprintf(f, "frontier: no reference (backbone) trial with %s and measured latency; see "
                   "'points:' in docs/study-file.md\n",
                q ? q : "a quality metric");
        return;
    }
    fprintf(f, "fastest models near the backbone (trial %lld: %s %.4f, %s %.4g):\n",
            (long long)json_integer_value(json_object_get(ref, "trial")), q,
            json_number_value(json_object_get(ref, "quality")), l,
            json_number_value(json_object_get(ref, "latency")));
    fprintf(f, "  %-8s %-7s %-12s %-12s %s\n", "within", "trial", "loss", "latency", "speedup");
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(table, "rows"), i, row)
    {
        double w = json_number_value(json_object_get(row, "within")) * 100;
        if (json_object_get(row, "trial") == NULL) {
            fprintf(f, "  %-7.0f%% (none)\n", w);
            continue;
        }
        fprintf(f, "  %-7.0f%% %-7lld %-12.4f %-12.4g %.2fx%s\n", w,
                (long long)json_integer_value(json_object_get(row, "trial")),
                json_number_value(json_object_get(row, "quality")),
                json_number_value(json_object_get(row, "latency")),
                json_number_value(json_object_get(row, "speedup")),
                json_is_true(json_object_get(row, "reference")) ? " (the backbone)" : "");
    }
}

/* ---- SVG ---- */

#define W 520
#define H 360
#define ML 64
#define MR 16
#define MT 16
#define MB 44

struct axes {
    double x0, x1, y0, y1;
};

static double sx(const struct axes *a, double x)
{
    return ML + (x - a->x0) / (a->x1 - a->x0) * (W - ML - MR);
}

static double sy(const struct axes *a, double y)
{
    return H - MB - (y - a->y0) / (a->y1 - a->y0) * (H - MT - MB);
}

static void pad(double *lo, double *hi)
{
    if (!(*hi > *lo)) {
        *lo -= 0.5;
        *hi += 0.5;
    }
    double d = (*hi - *lo) * 0.06;
    *lo -= d;
    *hi += d;
}

static void frame(struct out *o, const struct axes *a, const char *xl, const char *yl)
{
    emit(o, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#999'/>\n", ML, MT,
         W - ML - MR, H - MT - MB);
    for (int k = 0; k <= 4; k++) {
        double xv = a->x0 + (a->x1 - a->x0) * k / 4, yv = a->y0 + (a->y1 - a->y0) * k / 4;
        emit(o, "<text x='%.1f' y='%d' font-size='10' text-anchor='middle'>%.3g</text>\n",
             sx(a, xv), H - MB + 14, xv);
        emit(o, "<text x='%d' y='%.1f' font-size='10' text-anchor='end'>%.3g</text>\n", ML - 4,
             sy(a, yv) + 3, yv);
    }
    emit(o, "<text x='%d' y='%d' font-size='12' text-anchor='middle'>", (W + ML) / 2, H - 8);
    esc(o, xl);
    emit(o, "</text>\n<text x='14' y='%d' font-size='12' text-anchor='middle' "
            "transform='rotate(-90 14 %d)'>",
         H / 2, H / 2);
    esc(o, yl);
    emit(o, "</text>\n");
}

static void pareto_svg(struct out *o, const struct cand *c, size_t n, const char *lat,
                       const char *quality, json_t *jfronts)
{
    int *on = calloc(n ? n : 1, sizeof(int));
    if (on == NULL) {
        return;
    }
    front2(c, n, lat, quality, on);
    struct axes a = {INFINITY, -INFINITY, INFINITY, -INFINITY};
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        if (on[i] < 0) {
            continue;
        }
        shown++;
        a.x0 = fmin(a.x0, mval(&c[i], lat));
        a.x1 = fmax(a.x1, mval(&c[i], lat));
        a.y0 = fmin(a.y0, mval(&c[i], quality));
        a.y1 = fmax(a.y1, mval(&c[i], quality));
    }
    emit(o, "<h3>");
    esc(o, quality);
    emit(o, " vs ");
    esc(o, lat);
    emit(o, " (%zu architectures)</h3>\n", shown);
    if (shown == 0) {
        emit(o, "<p>No architecture has both metrics.</p>\n");
        free(on);
        return;
    }
    pad(&a.x0, &a.x1);
    pad(&a.y0, &a.y1);
    emit(o, "<svg class='pareto' xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
            "data-metric='",
         W, H);
    esc(o, lat);
    emit(o, "'>\n");
    frame(o, &a, lat, quality);
    json_t *front = json_array();
    /* the front as a step line, by latency */
    int *order = calloc(n, sizeof(int));
    size_t nf = 0;
    for (size_t i = 0; i < n; i++) {
        if (on[i] == 1) {
            order[nf++] = (int)i;
        }
    }
    for (size_t i = 0; i < nf; i++) {
        for (size_t j = i + 1; j < nf; j++) {
            if (mval(&c[order[j]], lat) < mval(&c[order[i]], lat)) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
    }
    emit(o, "<polyline fill='none' stroke='#c33' stroke-width='1.5' points='");
    for (size_t i = 0; i < nf; i++) {
        emit(o, "%.1f,%.1f ", sx(&a, mval(&c[order[i]], lat)), sy(&a, mval(&c[order[i]], quality)));
        json_array_append_new(front, json_integer(c[order[i]].id));
    }
    emit(o, "'/>\n");
    for (size_t i = 0; i < n; i++) {
        if (on[i] < 0) {
            continue;
        }
        double x = sx(&a, mval(&c[i], lat)), y = sy(&a, mval(&c[i], quality));
        emit(o, "<circle class='pt' data-trial='%ld' data-front='%d' data-reference='%d' "
                "cx='%.1f' cy='%.1f' r='%d' fill='%s' fill-opacity='%s' stroke='%s'>"
                "<title>trial %ld: %.4g, %.4g</title></circle>\n",
             c[i].id, on[i], c[i].reference, x, y, c[i].reference ? 6 : 4,
             on[i] ? "#c33" : "#888", on[i] ? "1" : "0.35", c[i].reference ? "#000" : "none",
             c[i].id, mval(&c[i], lat), mval(&c[i], quality));
        if (on[i] || c[i].reference) {
            emit(o, "<text x='%.1f' y='%.1f' font-size='10'>%ld%s</text>\n", x + 6, y - 4,
                 c[i].id, c[i].reference ? " backbone" : "");
        }
    }
    emit(o, "</svg>\n");
    json_object_set_new(jfronts, lat, front);
    free(order);
    free(on);
}

/* Predicted (a learned oracle's metric) vs measured (same metric name from another source). */
static void parity_svg(struct out *o, const char *dir, const struct cand *c, size_t n,
                       char **lat, size_t nl, json_t *jparity)
{
    for (size_t p = 0; p < nl; p++) {
        const char *dot = strchr(lat[p], '.');
        char fit[300];
        snprintf(fit, sizeof(fit), "%.*s-fit.json", dot ? (int)(dot - lat[p]) : 0, lat[p]);
        char *path = hn_path_join(dir, fit);
        FILE *f = path ? fopen(path, "r") : NULL;
        free(path);
        if (f == NULL || dot == NULL) {
            if (f) {
                fclose(f);
            }
            continue;
        }
        fclose(f);
        for (size_t m = 0; m < nl; m++) {
            const char *d2 = strchr(lat[m], '.');
            if (m == p || d2 == NULL || strcmp(d2, dot) != 0) {
                continue;
            }
            struct axes a = {INFINITY, -INFINITY, 0, 0};
            size_t cnt = 0;
            json_t *pairs = json_array();
            for (size_t i = 0; i < n; i++) {
                double pr = mval(&c[i], lat[p]), me = mval(&c[i], lat[m]);
                if (isfinite(pr) && isfinite(me)) {
                    a.x0 = fmin(a.x0, fmin(pr, me));
                    a.x1 = fmax(a.x1, fmax(pr, me));
                    cnt++;
                    json_array_append_new(pairs, json_pack("{s:I, s:f, s:f, s:b}", "trial",
                                                           (json_int_t)c[i].id, "predicted", pr,
                                                           "measured", me, "heldout",
                                                           c[i].heldout));
                }
            }
            char key[600];
            snprintf(key, sizeof(key), "%s vs %s", lat[p], lat[m]);
            json_object_set_new(jparity, key, pairs);
            emit(o, "<h3>Latency model: ");
            esc(o, lat[p]);
            emit(o, " (predicted) vs ");
            esc(o, lat[m]);
            emit(o, " (measured), %zu architectures</h3>\n", cnt);
            if (cnt == 0) {
                emit(o, "<p>No architecture has both.</p>\n");
                continue;
            }
            pad(&a.x0, &a.x1);
            a.y0 = a.x0;
            a.y1 = a.x1;
            emit(o, "<svg class='parity' xmlns='http://www.w3.org/2000/svg' width='%d' "
                    "height='%d'>\n",
                 W, H);
            frame(o, &a, lat[m], lat[p]);
            emit(o, "<polygon fill='#ddd' fill-opacity='0.6' points='%.1f,%.1f %.1f,%.1f "
                    "%.1f,%.1f %.1f,%.1f'/>\n",
                 sx(&a, a.x0), sy(&a, a.x0 * 1.1), sx(&a, a.x1), sy(&a, fmin(a.x1 * 1.1, a.y1)),
                 sx(&a, a.x1), sy(&a, a.x1 * 0.9), sx(&a, a.x0), sy(&a, fmax(a.x0 * 0.9, a.y0)));
            emit(o, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#666'/>\n",
                 sx(&a, a.x0), sy(&a, a.x0), sx(&a, a.x1), sy(&a, a.x1));
            for (size_t i = 0; i < n; i++) {
                double pr = mval(&c[i], lat[p]), me = mval(&c[i], lat[m]);
                if (!isfinite(pr) || !isfinite(me)) {
                    continue;
                }
                emit(o, "<circle class='par' data-trial='%ld' data-heldout='%d' cx='%.1f' "
                        "cy='%.1f' r='4' fill='%s'><title>trial %ld: predicted %.4g, measured "
                        "%.4g</title></circle>\n",
                     c[i].id, c[i].heldout, sx(&a, me), sy(&a, pr),
                     c[i].heldout ? "#36c" : "#fa0", c[i].id, pr, me);
            }
            emit(o, "</svg>\n<p>Grey band: within 10 %% of the measurement. Blue: measured "
                    "after the fit (held out); orange: before it.</p>\n");
        }
    }
}

/* Hypervolume of the feasible trials among the first k, for every k. */
static void hv_svg(struct out *o, const struct rep *p, json_t *summary, json_t *jtrace)
{
    struct hn_problem prob;
    struct hn_error e;
    json_t *refj = json_object_get(summary, "reference_point");
    if (hn_problem_from_json(json_object_get(p->r.study_event, "problem"), &prob, &e) != 0) {
        return;
    }
    size_t m = prob.n_objectives;
    if (m < 2 || !json_is_array(refj) || json_array_size(refj) != m) {
        hn_problem_free(&prob);
        return;
    }
    double *y = calloc((p->r.n + 1) * m, sizeof(double)), ref[16];
    double *hv = calloc(p->r.n + 1, sizeof(double));
    size_t rows = 0;
    for (size_t j = 0; j < m && j < 16; j++) {
        double r = json_number_value(json_array_get(refj, j));
        ref[j] = prob.objectives[j].maximize ? -r : r;
    }
    for (size_t i = 0; y != NULL && hv != NULL && i < p->r.n && m <= 16; i++) {
        const struct hn_trial *t = p->r.trials[i];
        int ok = t->status == HN_TRIAL_COMPLETE;
        for (size_t j = 0; ok && j < m; j++) {
            double v = hn_trial_value(t, prob.objectives[j].metric);
            ok = isfinite(v);
            y[rows * m + j] = prob.objectives[j].maximize ? -v : v;
        }
        rows += ok;
        hv[i] = rows ? hn_hypervolume(y, rows, m, ref, &e) : 0;
        json_array_append_new(jtrace, json_pack("{s:I, s:f}", "trial", (json_int_t)t->id,
                                                "hypervolume", hv[i] > 0 ? hv[i] : 0));
    }
    if (y != NULL && hv != NULL && p->r.n > 0) {
        struct axes a = {0, (double)p->r.n, 0, 0};
        for (size_t i = 0; i < p->r.n; i++) {
            a.y1 = fmax(a.y1, hv[i]);
        }
        pad(&a.x0, &a.x1);
        pad(&a.y0, &a.y1);
        emit(o, "<h3>Hypervolume by trial</h3>\n<svg class='hv' "
                "xmlns='http://www.w3.org/2000/svg' width='%d' height='%d'>\n",
             W, H);
        frame(o, &a, "trials", "hypervolume");
        emit(o, "<polyline fill='none' stroke='#36c' stroke-width='1.5' points='");
        for (size_t i = 0; i < p->r.n; i++) {
            emit(o, "%.1f,%.1f ", sx(&a, (double)(i + 1)), sy(&a, fmax(hv[i], 0)));
        }
        emit(o, "'/>\n</svg>\n");
    }
    free(y);
    free(hv);
    hn_problem_free(&prob);
}

static const char *const arch_cols[][2] = {
    {"num_hidden_layers", "depth"},  {"hidden_size", "hidden"},
    {"num_attention_heads", "heads"}, {"num_key_value_heads", "KV heads"},
    {"intermediate_size", "FFN"},    {"parameters", "parameters"},
};
#define N_ARCH_COLS (sizeof(arch_cols) / sizeof(arch_cols[0]))

static void attention_text(struct out *o, const json_t *arch)
{
    json_t *al = json_object_get(arch, "attention_layers");
    json_t *bl = json_object_get(arch, "backbone_layers");
    size_t i;
    json_t *v;
    int first = 1;
    json_array_foreach(al, i, v)
    {
        if (json_is_true(v)) {
            json_t *b = json_array_get(bl, i);
            emit(o, "%s%lld", first ? "" : " ", (long long)(b ? json_integer_value(b) : (json_int_t)i));
            first = 0;
        }
    }
    if (first) {
        emit(o, "none");
    }
}

static void table(struct out *o, const struct cand *c, size_t n, const char *quality,
                  const char *speed, char **lat, size_t nl, const struct cand *ref)
{
    int *on = calloc(n ? n : 1, sizeof(int));
    if (on == NULL || speed == NULL) {
        free(on);
        return;
    }
    front2(c, n, speed, quality, on);
    emit(o, "<h2>Frontier architectures (");
    esc(o, quality);
    emit(o, " vs ");
    esc(o, speed);
    emit(o, ")</h2>\n<table class='frontier'><tr><th>trial</th>");
    for (size_t k = 0; k < N_ARCH_COLS; k++) {
        emit(o, "<th>%s</th>", arch_cols[k][1]);
    }
    emit(o, "<th>attention (backbone layers)</th>");
    for (size_t k = 0; k < nl; k++) {
        emit(o, "<th>");
        esc(o, lat[k]);
        emit(o, "</th>");
    }
    emit(o, "<th>");
    esc(o, quality);
    emit(o, "</th><th>speedup</th></tr>\n");
    /* by latency */
    for (;;) {
        long best = -1;
        for (size_t i = 0; i < n; i++) {
            if (on[i] == 1 && (best < 0 || mval(&c[i], speed) < mval(&c[best], speed))) {
                best = (long)i;
            }
        }
        if (best < 0) {
            break;
        }
        on[best] = 2;
        const struct cand *x = &c[best];
        emit(o, "<tr class='frow' data-trial='%ld'><td>%ld%s</td>", x->id, x->id,
             x->reference ? " (backbone)" : "");
        for (size_t k = 0; k < N_ARCH_COLS; k++) {
            json_t *v = json_object_get(x->arch, arch_cols[k][0]);
            emit(o, "<td>");
            if (json_is_integer(v)) {
                emit(o, "%lld", (long long)json_integer_value(v));
            }
            emit(o, "</td>");
        }
        emit(o, "<td>");
        attention_text(o, x->arch);
        emit(o, "</td>");
        for (size_t k = 0; k < nl; k++) {
            double v = mval(x, lat[k]);
            emit(o, isfinite(v) ? "<td>%.4g</td>" : "<td></td>", v);
        }
        double l0 = ref ? mval(ref, speed) : NAN;
        emit(o, "<td>%.4f</td><td>%s", mval(x, quality), "");
        if (isfinite(l0) && mval(x, speed) > 0) {
            emit(o, "%.2fx", l0 / mval(x, speed));
        }
        emit(o, "</td></tr>\n");
    }
    emit(o, "</table>\n");
    /* observations: along the front by latency */
    emit(o, "<h2>Design observations</h2>\n<ul>\n");
    size_t nf = 0;
    double d_first = NAN, d_last = NAN, h_first = NAN, h_last = NAN;
    long attn_keep[256] = {0};
    for (long i = 0; i < (long)n; i++) {
        if (on[i] != 2) {
            continue;
        }
        nf++;
    }
    /* in latency order again */
    for (size_t step = 0; step < nf; step++) {
        long best = -1;
        for (size_t i = 0; i < n; i++) {
            if (on[i] == 2 && (best < 0 || mval(&c[i], speed) < mval(&c[best], speed))) {
                best = (long)i;
            }
        }
        on[best] = 3;
        double d = json_number_value(json_object_get(c[best].arch, "num_hidden_layers"));
        double h = json_number_value(json_object_get(c[best].arch, "hidden_size"));
        if (step == 0) {
            d_first = d;
            h_first = h;
        }
        d_last = d;
        h_last = h;
        json_t *al = json_object_get(c[best].arch, "attention_layers");
        json_t *bl = json_object_get(c[best].arch, "backbone_layers");
        size_t k;
        json_t *v;
        json_array_foreach(al, k, v)
        {
            long b = (long)json_integer_value(json_array_get(bl, k));
            if (json_is_true(v) && b >= 0 && b < 256) {
                attn_keep[b]++;
            }
        }
    }
    if (nf > 0 && json_object_get(c[0].arch, "num_hidden_layers") != NULL) {
        emit(o, "<li>%zu architectures on the front. From the fastest to the best quality, "
                "depth goes %g &rarr; %g layers and hidden size %g &rarr; %g.</li>\n",
             nf, d_first, d_last, h_first, h_last);
        emit(o, "<li>Attention kept at backbone layer (share of frontier models):");
        for (int b = 0; b < 256; b++) {
            if (attn_keep[b] > 0) {
                emit(o, " %d: %ld/%zu;", b, attn_keep[b], nf);
            }
        }
        emit(o, "</li>\n");
    } else {
        emit(o, "<li>%zu architectures on the front.</li>\n", nf);
    }
    emit(o, "</ul>\n");
    free(on);
}

int hn_report_html(const char *dir, const char *file, struct hn_error *err)
{
    struct rep p;
    memset(&p, 0, sizeof(p));
    p.started = json_object();
    p.fit_after = -1;
    struct hn_problem prob;
    memset(&prob, 0, sizeof(prob));
    struct out o = {0};
    struct cand *c = NULL;
    size_t n = 0;
    char **lat = NULL;
    json_t *summary = NULL, *data = json_object(), *fronts = json_object(),
           *parity = json_object(), *trace = json_array(), *table_json = NULL;
    int torn = 0, rc = -1;
    if (hn_journal_read(dir, on_event, &p, &torn, err) != 0) {
        goto done;
    }
    if (p.r.study_event == NULL) {
        hn_error_set(err, dir, "the journal has no study event yet (the study has not started)");
        goto done;
    }
    if (hn_problem_from_json(json_object_get(p.r.study_event, "problem"), &prob, err) != 0) {
        goto done;
    }
    summary = hn_study_summary(&prob, p.r.trials, p.r.params_json, p.r.n, err);
    if (summary == NULL) {
        goto done;
    }
    const char *quality = prob.n_objectives ? prob.objectives[0].metric : "";
    const char *name = json_string_value(json_object_get(p.r.study_event, "name"));
    n = build(&p, &c);
    size_t nl = latency_metrics(c, n, quality, &lat);
    const struct cand *ref = reference(c, n, quality);
    const char *speed = measured_latency(dir, ref, lat, nl);
    table_json = hn_frontier_table(dir, err);
    if (table_json == NULL) {
        goto done;
    }
    emit(&o, "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>\n"
             "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
             "style-src 'unsafe-inline'\">\n<title>hilnas report: ");
    esc(&o, name);
    emit(&o, "</title>\n<style>body{font-family:sans-serif;max-width:1100px;margin:1em auto}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
             "padding:2px 6px;text-align:right}svg{margin:4px}</style></head><body>\n"
             "<h1>Study ");
    esc(&o, name);
    json_t *tr = json_object_get(summary, "trials");
    emit(&o, "</h1>\n<p>%lld trials complete, %lld failed; %zu distinct architectures. "
             "Directory: ",
         (long long)json_integer_value(json_object_get(tr, "complete")),
         (long long)json_integer_value(json_object_get(tr, "failed")), n);
    esc(&o, dir);
    emit(&o, ". Data: report.json, trials.csv, pareto.csv, summary.json.</p>\n");
    /* frontier table text */
    char *ft = NULL;
    size_t ftl = 0;
    FILE *mf = open_memstream(&ft, &ftl);
    if (mf != NULL) {
        hn_frontier_print(table_json, mf);
        fclose(mf);
        emit(&o, "<pre>");
        esc(&o, ft);
        emit(&o, "</pre>\n");
        free(ft);
    }
    emit(&o, "<h2>Pareto frontier</h2>\n<p>Red: on the front of the two metrics (labelled with "
             "trial ids); grey: dominated; black ring: the backbone.</p>\n");
    for (size_t k = 0; k < nl; k++) {
        pareto_svg(&o, c, n, lat[k], quality, fronts);
    }
    emit(&o, "<h2>Latency model</h2>\n");
    parity_svg(&o, dir, c, n, lat, nl, parity);
    hv_svg(&o, &p, summary, trace);
    table(&o, c, n, quality, speed, lat, nl, ref);
    emit(&o, "</body></html>\n");
    if (o.s == NULL) {
        hn_error_set(err, dir, "out of memory writing the report");
        goto done;
    }
    /* the same data as JSON */
    json_t *cands = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_pack("{s:I, s:O, s:O, s:O, s:b}", "trial", (json_int_t)c[i].id,
                              "trials", c[i].trials, "params", c[i].params, "metrics",
                              c[i].metrics, "reference", c[i].reference);
        if (c[i].arch) {
            json_object_set(e, "arch", c[i].arch);
        }
        json_array_append_new(cands, e);
    }
    json_object_set_new(data, "candidates", cands);
    json_object_set(data, "fronts", fronts);
    json_object_set(data, "parity", parity);
    json_object_set(data, "hypervolume_trace", trace);
    json_object_set(data, "frontier_table", table_json);
    char *text = json_dumps(data, JSON_INDENT(1) | JSON_REAL_PRECISION(10));
    char *jpath = hn_path_join(dir, "report.json");
    if (text == NULL || jpath == NULL ||
        hn_write_file_atomic(jpath, text, strlen(text), err) != 0) {
        free(text);
        free(jpath);
        goto done;
    }
    free(text);
    free(jpath);
    rc = hn_write_file_atomic(file, o.s, o.len, err);
done:
    free(o.s);
    free(lat);
    free_cands(c, n);
    json_decref(summary);
    json_decref(data);
    json_decref(fronts);
    json_decref(parity);
    json_decref(trace);
    json_decref(table_json);
    json_decref(p.started);
    hn_problem_free(&prob);
    hn_replay_free(&p.r);
    return rc;
}

int hn_cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *file = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            file = optarg;
            break;
        case 'h':
            printf("usage: hilnas report STUDY_DIR [-o FILE]\n\n"
                   "Write one self-contained HTML report (inline SVG, no network) of a study: "
                   "Pareto frontier of\nquality vs each latency metric, latency model parity, "
                   "hypervolume by trial, frontier\narchitectures and design observations. "
                   "Default FILE: STUDY_DIR/report.html. Also writes\nSTUDY_DIR/report.json "
                   "with the same data.\n");
            return 0;
        case 'V':
            return hn_cli_version(argv[0]);
        default:
            return hn_cli_usage_error(argv[0], "unknown or incomplete option '%s'",
                                      argv[optind - 1]);
        }
    }
    if (optind != argc - 1) {
        return hn_cli_usage_error(argv[0], "expected one STUDY_DIR");
    }
    const char *dir = argv[optind];
    char *def = file ? NULL : hn_path_join(dir, "report.html");
    struct hn_error err;
    hn_error_clear(&err);
    int code = 0;
    if (hn_report_html(dir, file ? file : def, &err) != 0) {
        fprintf(stderr, "hilnas: error: %s\n", err.msg);
        code = hn_error_exit_code(&err);
    } else {
        printf("%s\n", file ? file : def);
    }
    free(def);
    return code;
}
