/*
 * hilnas report STUDY_DIR [-o FILE]: one self-contained HTML file (no network, inline SVG) from
 * a study directory's journal, and the frontier table `hilnas run` prints at its end.
 *
 * Trials with the same parameters are one candidate: their metrics are merged (a verify trial
 * adds measured latency to the search trial it re-measures; a backbone measured by the measure
 * stage and trained by the search stage is one point). The reference (marked "backbone") is a
 * candidate measured from a stage's `points:` (the started event's "point"). The quality metric
 * is the first objective. The latencies are the metrics ending in _ms that the study optimizes
 * or constrains, or that a learned oracle predicts, with their measured counterparts of the same
 * name (not what a measuring oracle reports beside them: the host's reference ref_ms).
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
#include "core/replay.h"
#include "core/report.h"
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
    int ids; /* element ids given out (unique in the page) */
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

/* A latency's name: <x>_ms or <x>_rel, optionally per context (decode_ms_512, decode_rel_512);
 * not the spreads and flags beside them (_cv, _settled) nor a reference's own time (_ref). */
static int latency_name(const char *key)
{
    size_t len = strlen(key), end = len;
    while (end > 0 && key[end - 1] >= '0' && key[end - 1] <= '9') {
        end--;
    }
    if (end < len && end > 0 && key[end - 1] == '_') {
        end--; /* a context suffix */
    }
    return (end >= 4 && strncmp(key + end - 3, "_ms", 3) == 0) ||
           (end >= 5 && strncmp(key + end - 4, "_rel", 4) == 0);
}

/* Latency metrics (latency_name) seen in candidates, sorted (measured before predicted is up to
 * the names); latency_filter() keeps the study's latencies among them. */
static size_t latency_metrics(const struct cand *c, size_t n, const char *quality, char ***out)
{
    char **names = NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *key;
        json_t *v;
        json_object_foreach(c[i].metrics, key, v)
        {
            if (!latency_name(key) || strcmp(key, quality) == 0) {
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

/* Whether metric comes from a learned oracle (dir holds <source>-fit.json). */
static int is_learned(const char *dir, const char *metric)
{
    char src[256];
    const char *dot = strchr(metric, '.');
    snprintf(src, sizeof(src), "%.*s-fit.json", dot ? (int)(dot - metric) : 0, metric);
    char *path = hn_path_join(dir, src);
    FILE *f = path ? fopen(path, "r") : NULL;
    free(path);
    if (f != NULL) {
        fclose(f);
    }
    return f != NULL;
}

/* A metric's name without its source ("host.prefill_ms" -> "prefill_ms"). */
static const char *short_name(const char *metric)
{
    const char *dot = strchr(metric, '.');
    return dot ? dot + 1 : metric;
}

/*
 * Keep (in order) the study's latencies among the n names: those whose short name is that of a
 * latency objective (every objective after the first, which is quality), of a constraint, or of
 * a metric a fitted (learned) oracle predicts, so that both the prediction and its measured
 * counterpart stay (latency.prefill_ms, host.prefill_ms). What a measuring oracle reports
 * beside them (the host's reference workload ref_ms, spreads) is not a latency of the model.
 * Returns how many were kept.
 */
static size_t latency_filter(const char *dir, const struct hn_problem *prob, char **names, size_t n)
{
    int *learned = calloc(n ? n : 1, sizeof(int));
    size_t k = 0;
    for (size_t i = 0; learned != NULL && i < n; i++) {
        learned[i] = is_learned(dir, names[i]);
    }
    for (size_t i = 0; i < n; i++) {
        const char *sn = short_name(names[i]);
        int keep = 0;
        for (size_t j = 1; j < prob->n_objectives && !keep; j++) {
            keep = strcmp(short_name(prob->objectives[j].metric), sn) == 0;
        }
        for (size_t j = 0; j < prob->n_constraints && !keep; j++) {
            keep = strcmp(short_name(prob->constraints[j].metric), sn) == 0;
        }
        for (size_t j = 0; learned != NULL && j < n && !keep; j++) {
            keep = learned[j] && strcmp(short_name(names[j]), sn) == 0;
        }
        if (keep) {
            names[k++] = names[i];
        }
    }
    free(learned);
    return k;
}

/* The measured latency for speedups: the latency objective's metric when it is measured, or
 * the measured metric of the same name from another source when a learned oracle predicts it
 * (latency.prefill_ms -> host.prefill_ms); else the first latency metric of the reference that
 * does not come from a learned oracle, else the first one. */
static const char *measured_latency(const char *dir, const struct hn_problem *prob,
                                    const struct cand *ref, char **lat, size_t nl)
{
    for (size_t k = 1; k < prob->n_objectives; k++) {
        const char *obj = prob->objectives[k].metric, *dot = strchr(obj, '.');
        for (size_t i = 0; dot != NULL && i < nl; i++) {
            const char *d2 = strchr(lat[i], '.');
            if (d2 != NULL && strcmp(d2, dot) == 0 && !is_learned(dir, lat[i]) &&
                (ref == NULL || isfinite(mval(ref, lat[i])))) {
                return lat[i];
            }
        }
    }
    const char *first = NULL;
    for (size_t i = 0; i < nl; i++) {
        if (ref != NULL && !isfinite(mval(ref, lat[i]))) {
            continue;
        }
        first = first ? first : lat[i];
        if (!is_learned(dir, lat[i])) {
            return lat[i];
        }
    }
    return first;
}

/* ---- the frontier table ---- */

static const double tolerances[] = {0.01, 0.02, 0.05};

/* A study directory read once: its journal replayed, trials merged into candidates, the
 * latency metrics, the reference (backbone) and the latency that speedups use. */
struct loaded {
    struct rep p;
    struct hn_problem prob;
    struct cand *c;
    size_t n;
    char **lat;
    size_t nl;
    const char *quality; /* the first objective's metric ("" when none) */
    const struct cand *ref;
    const char *speed;
};

static void loaded_free(struct loaded *L)
{
    free(L->lat);
    free_cands(L->c, L->n);
    json_decref(L->p.started);
    hn_problem_free(&L->prob);
    hn_replay_free(&L->p.r);
    memset(L, 0, sizeof(*L));
}

static int load_study(const char *dir, struct loaded *L, struct hn_error *err)
{
    int torn = 0;
    memset(L, 0, sizeof(*L));
    L->p.started = json_object();
    L->p.fit_after = -1;
    if (hn_journal_read(dir, on_event, &L->p, &torn, err) != 0) {
        return -1;
    }
    if (L->p.r.study_event == NULL) {
        return hn_error_set(err, dir,
                            "the journal has no study event yet (the study has not started)");
    }
    if (hn_problem_from_json(json_object_get(L->p.r.study_event, "problem"), &L->prob, err) != 0) {
        return -1;
    }
    L->quality = L->prob.n_objectives ? L->prob.objectives[0].metric : "";
    L->n = build(&L->p, &L->c);
    L->nl = latency_metrics(L->c, L->n, L->quality, &L->lat);
    L->nl = latency_filter(dir, &L->prob, L->lat, L->nl);
    L->ref = reference(L->c, L->n, L->quality);
    L->speed = measured_latency(dir, &L->prob, L->ref, L->lat, L->nl);
    return 0;
}

/* The fastest architectures within 1, 2 and 5 % of the reference's (backbone's) quality with
 * their measured speedups: {"quality", "latency", "reference": {...}, "rows": [...]}. */
static json_t *frontier_table(const struct loaded *L)
{
    const struct cand *c = L->c, *ref = L->ref;
    const char *quality = L->quality, *speed = L->speed;
    json_t *out =
        json_pack("{s:s?, s:s?}", "quality", quality[0] ? quality : NULL, "latency", speed);
    json_t *rows = json_array();
    json_object_set_new(out, "rows", rows);
    if (ref == NULL || speed == NULL || !isfinite(mval(ref, speed))) {
        return out;
    }
    double q0 = mval(ref, quality), l0 = mval(ref, speed);
    json_object_set_new(
        out, "reference",
        json_pack("{s:I, s:f, s:f}", "trial", (json_int_t)ref->id, "quality", q0, "latency", l0));
    for (size_t t = 0; t < sizeof(tolerances) / sizeof(tolerances[0]); t++) {
        const struct cand *best = NULL;
        for (size_t i = 0; i < L->n; i++) {
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
    return out;
}

static void frontier_print(const json_t *table, FILE *f)
{
    const json_t *ref = json_object_get(table, "reference");
    const char *q = json_string_value(json_object_get(table, "quality"));
    const char *l = json_string_value(json_object_get(table, "latency"));
    if (ref == NULL) {
        fprintf(f,
                "frontier: no reference (backbone) trial with %s and measured latency; see "
                "'points:' in docs/study-file.md\n",
                q ? q : "a quality metric");
        return;
    }
    fprintf(f, "fastest models near the backbone (trial %lld: %s %.4f, %s %.4g):\n",
            (long long)json_integer_value(json_object_get(ref, "trial")), q,
            json_number_value(json_object_get(ref, "quality")), l,
            json_number_value(json_object_get(ref, "latency")));
    fprintf(f, "  %-7s %-7s %-12s %-12s %s\n", "within", "trial", "loss", "latency", "speedup");
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(table, "rows"), i, row)
    {
        double w = json_number_value(json_object_get(row, "within")) * 100;
        if (json_object_get(row, "trial") == NULL) {
            fprintf(f, "  %3.0f %%   (none)\n", w);
            continue;
        }
        fprintf(f, "  %3.0f %%   %-7lld %-12.4f %-12.4g %.2fx%s\n", w,
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
    emit(o,
         "</text>\n<text x='14' y='%d' font-size='12' text-anchor='middle' "
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
    emit(o,
         "<svg class='pareto' xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
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
        /* every trial merged into the point (search, verify, a stage's point) */
        emit(o, "<circle class='pt' data-trials='");
        size_t j;
        json_t *tid;
        json_array_foreach(c[i].trials, j, tid)
        {
            emit(o, "%s%lld", j ? " " : "", (long long)json_integer_value(tid));
        }
        emit(o,
             "' data-trial='%ld' data-front='%d' data-reference='%d' "
             "cx='%.1f' cy='%.1f' r='%d' fill='%s' fill-opacity='%s' stroke='%s'>"
             "<title>trial %ld: %.4g, %.4g</title></circle>\n",
             c[i].id, on[i], c[i].reference, x, y, c[i].reference ? 6 : 4, on[i] ? "#c33" : "#888",
             on[i] ? "1" : "0.35", c[i].reference ? "#000" : "none", c[i].id, mval(&c[i], lat),
             mval(&c[i], quality));
        if (on[i] || c[i].reference) {
            emit(o, "<text x='%.1f' y='%.1f' font-size='10'>%ld%s</text>\n", x + 6, y - 4, c[i].id,
                 c[i].reference ? " backbone" : "");
        }
    }
    emit(o, "</svg>\n");
    json_object_set_new(jfronts, lat, front);
    free(order);
    free(on);
}

/* The learned oracle's fit report (<source>-fit.json) for a predicted metric "<source>.<m>":
 * its training points of metric m (or of m's base name pooled over contexts, those of m's
 * context). A new reference to the points array (NULL when there is no such report), with
 * *context set to the context to keep (-1: all). */
static json_t *fit_points(const char *dir, const char *predicted, long *context)
{
    const char *dot = strchr(predicted, '.');
    *context = -1;
    if (dot == NULL) {
        return NULL;
    }
    char name[300];
    snprintf(name, sizeof(name), "%.*s-fit.json", (int)(dot - predicted), predicted);
    char *path = hn_path_join(dir, name);
    json_t *fit = path ? json_load_file(path, 0, NULL) : NULL;
    free(path);
    const char *metric = dot + 1;
    json_t *pts = json_object_get(json_object_get(fit, metric), "points");
    if (pts == NULL) {
        /* decode_ms_512 from the pooled model "decode_ms" */
        const char *us = strrchr(metric, '_');
        if (us != NULL && us[1] != '\0' && strspn(us + 1, "0123456789") == strlen(us + 1)) {
            char base[256];
            snprintf(base, sizeof(base), "%.*s", (int)(us - metric), metric);
            pts = json_object_get(json_object_get(fit, base), "points");
            *context = atol(us + 1);
        }
    }
    json_incref(pts);
    json_decref(fit);
    return json_is_array(pts) ? pts : (json_decref(pts), NULL);
}

/* The trial with this id, or NULL. */
static const struct hn_trial *trial_by_id(const struct rep *p, long id)
{
    if (id >= 0 && (size_t)id < p->r.n && p->r.trials[id]->id == id) {
        return p->r.trials[id];
    }
    for (size_t i = 0; i < p->r.n; i++) {
        if (p->r.trials[i]->id == id) {
            return p->r.trials[i];
        }
    }
    return NULL;
}

struct parity_point {
    long trial;       /* the trial that measured */
    double predicted; /* training: out-of-sample (leave-one-out, else cross-validated) */
    double measured;
    int heldout; /* 1: measured after the fit, of an architecture the model never saw */
};

/*
 * Predicted (a learned oracle's metric) vs measured (the same metric name from another source),
 * one point per measurement: the model's training points (the fit report's out-of-sample
 * predictions), and every measurement made after the fit against the model's prediction for
 * that architecture: held out when the model never saw the architecture.
 */
static void parity_svg(struct out *o, const char *dir, const struct loaded *L, json_t *jparity)
{
    const struct cand *c = L->c;
    char **lat = L->lat;
    size_t nl = L->nl, n = L->n;
    for (size_t pi = 0; pi < nl; pi++) {
        long context = -1;
        json_t *pts = fit_points(dir, lat[pi], &context);
        const char *dot = strchr(lat[pi], '.');
        if (pts == NULL) {
            continue; /* not a learned oracle's metric */
        }
        for (size_t m = 0; m < nl; m++) {
            const char *d2 = strchr(lat[m], '.');
            if (m == pi || d2 == NULL || strcmp(d2, dot) != 0) {
                continue;
            }
            /* trials the model learned from, and their architectures */
            int *trained = calloc(n ? n : 1, sizeof(int));
            struct parity_point *pp = calloc(json_array_size(pts) + L->p.r.n + 1, sizeof(*pp));
            size_t np = 0, k;
            json_t *e;
            if (trained == NULL || pp == NULL) {
                free(trained);
                free(pp);
                continue;
            }
            json_array_foreach(pts, k, e)
            {
                json_t *cx = json_object_get(e, "context");
                if (context >= 0 && (!json_is_integer(cx) || json_integer_value(cx) != context)) {
                    continue;
                }
                long id = (long)json_integer_value(json_object_get(e, "trial"));
                json_t *pr = json_object_get(e, "loo");
                pr = pr ? pr : json_object_get(e, "cv");
                for (size_t i = 0; i < n; i++) {
                    size_t j;
                    json_t *tid;
                    json_array_foreach(c[i].trials, j, tid)
                    {
                        trained[i] |= json_integer_value(tid) == id;
                    }
                }
                if (json_is_number(pr)) {
                    pp[np++] =
                        (struct parity_point){id, json_number_value(pr),
                                              json_number_value(json_object_get(e, "measured")), 0};
                }
            }
            /* measurements after the fit, against the prediction for their architecture */
            for (size_t i = 0; i < n; i++) {
                double pred = mval(&c[i], lat[pi]);
                size_t j;
                json_t *tid;
                json_array_foreach(c[i].trials, j, tid)
                {
                    const struct hn_trial *t = trial_by_id(&L->p, (long)json_integer_value(tid));
                    double me = t ? hn_trial_value(t, lat[m]) : NAN;
                    if (t == NULL || L->p.fit_after < 0 || t->id < L->p.fit_after ||
                        !isfinite(me) || !isfinite(pred)) {
                        continue;
                    }
                    pp[np++] = (struct parity_point){t->id, pred, me, !trained[i]};
                }
            }
            struct axes a = {INFINITY, -INFINITY, 0, 0};
            size_t held = 0;
            json_t *pairs = json_array();
            for (size_t q = 0; q < np; q++) {
                a.x0 = fmin(a.x0, fmin(pp[q].predicted, pp[q].measured));
                a.x1 = fmax(a.x1, fmax(pp[q].predicted, pp[q].measured));
                held += pp[q].heldout;
                json_array_append_new(pairs, json_pack("{s:I, s:f, s:f, s:b}", "trial",
                                                       (json_int_t)pp[q].trial, "predicted",
                                                       pp[q].predicted, "measured", pp[q].measured,
                                                       "heldout", pp[q].heldout));
            }
            char key[600];
            snprintf(key, sizeof(key), "%s vs %s", lat[pi], lat[m]);
            json_object_set_new(jparity, key, pairs);
            emit(o, "<h3>Latency model: ");
            esc(o, lat[pi]);
            emit(o, " (predicted) vs ");
            esc(o, lat[m]);
            emit(o, " (measured): %zu training, %zu held-out measurements</h3>\n", np - held, held);
            if (np == 0) {
                emit(o, "<p>No measurement to compare.</p>\n");
                free(trained);
                free(pp);
                continue;
            }
            pad(&a.x0, &a.x1);
            a.y0 = a.x0;
            a.y1 = a.x1;
            int id = ++o->ids;
            emit(o,
                 "<svg class='parity' xmlns='http://www.w3.org/2000/svg' width='%d' "
                 "height='%d' data-predicted='",
                 W, H);
            esc(o, lat[pi]);
            emit(o, "' data-measured='");
            esc(o, lat[m]);
            emit(o,
                 "'>\n<defs><clipPath id='plot%d'><rect x='%d' y='%d' width='%d' "
                 "height='%d'/></clipPath></defs>\n",
                 id, ML, MT, W - ML - MR, H - MT - MB);
            frame(o, &a, lat[m], lat[pi]);
            /* the band predicted = measured +- 10 %, clipped to the plot */
            emit(o,
                 "<polygon class='band' clip-path='url(#plot%d)' fill='#ddd' "
                 "fill-opacity='0.6' points='%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f'/>\n",
                 id, sx(&a, a.x0), sy(&a, a.x0 * 1.1), sx(&a, a.x1), sy(&a, a.x1 * 1.1),
                 sx(&a, a.x1), sy(&a, a.x1 * 0.9), sx(&a, a.x0), sy(&a, a.x0 * 0.9));
            emit(o, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#666'/>\n", sx(&a, a.x0),
                 sy(&a, a.x0), sx(&a, a.x1), sy(&a, a.x1));
            for (size_t q = 0; q < np; q++) {
                const struct parity_point *x = &pp[q];
                double err = (x->predicted - x->measured) / x->measured;
                /* training: hollow orange rings; held out: filled blue, drawn larger */
                emit(o,
                     "<circle class='par %s' data-trial='%ld' data-heldout='%d' cx='%.1f' "
                     "cy='%.1f' r='%d' fill='%s' stroke='%s' stroke-width='1.5'><title>trial "
                     "%ld (%s): predicted %.4g, measured %.4g (%+.1f %%)</title></circle>\n",
                     x->heldout ? "held" : "train", x->trial, x->heldout, sx(&a, x->measured),
                     sy(&a, x->predicted), x->heldout ? 5 : 4, x->heldout ? "#36c" : "none",
                     x->heldout ? "#036" : "#e80", x->trial, x->heldout ? "held out" : "training",
                     x->predicted, x->measured, 100 * err);
            }
            emit(o,
                 "</svg>\n<p>Grey band: prediction within 10 %% of the measurement. Orange "
                 "rings: the %zu measurements the model learned from, each predicted "
                 "without itself (leave-one-out, else cross-validated). Blue dots: %zu "
                 "measurements made after the fit of architectures the model never saw "
                 "(held out), against its prediction; a re-measured training "
                 "architecture counts as training.</p>\n",
                 np - held, held);
            free(trained);
            free(pp);
        }
        json_decref(pts);
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
        emit(o,
             "<h3>Hypervolume by trial</h3>\n<svg class='hv' "
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
    {"num_hidden_layers", "depth"},   {"hidden_size", "hidden"},
    {"num_attention_heads", "heads"}, {"num_key_value_heads", "KV heads"},
    {"intermediate_size", "FFN"},     {"parameters", "parameters"},
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
            emit(o, "%s%lld", first ? "" : " ",
                 (long long)(b ? json_integer_value(b) : (json_int_t)i));
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
        emit(o,
             "<li>%zu architectures on the front. From the fastest to the best quality, "
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

int hn_report_publish(const char *dir, const char *file, FILE *summary_out, struct hn_error *err)
{
    struct loaded L;
    struct out o = {0};
    json_t *summary = NULL, *data = json_object(), *fronts = json_object(), *parity = json_object(),
           *trace = json_array(), *table_json = NULL;
    int rc = -1;
    if (load_study(dir, &L, err) != 0) {
        goto done;
    }
    const struct rep *p = &L.p;
    summary = hn_report_summary(&L.prob, p->r.trials, p->r.params_json, p->r.n, err);
    table_json = frontier_table(&L);
    if (summary == NULL || table_json == NULL) {
        if (table_json == NULL) {
            hn_error_set(err, dir, "out of memory");
        }
        goto done;
    }
    const char *name = json_string_value(json_object_get(p->r.study_event, "name"));
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
    emit(&o,
         "</h1>\n<p>%lld trials complete, %lld failed; %zu distinct architectures. "
         "Directory: ",
         (long long)json_integer_value(json_object_get(tr, "complete")),
         (long long)json_integer_value(json_object_get(tr, "failed")), L.n);
    esc(&o, dir);
    emit(&o, ". Data: report.json, trials.csv, pareto.csv, summary.json.</p>\n");
    /* the frontier table, as `hilnas run` prints it */
    char *ft = NULL;
    size_t ftl = 0;
    FILE *mf = open_memstream(&ft, &ftl);
    if (mf != NULL) {
        frontier_print(table_json, mf);
        fclose(mf);
        emit(&o, "<pre>");
        esc(&o, ft);
        emit(&o, "</pre>\n");
        free(ft);
    }
    emit(&o, "<h2>Pareto frontier</h2>\n<p>Red: on the front of the two metrics (labelled with "
             "trial ids); grey: dominated; black ring: the backbone.</p>\n");
    for (size_t k = 0; k < L.nl; k++) {
        pareto_svg(&o, L.c, L.n, L.lat[k], L.quality, fronts);
    }
    emit(&o, "<h2>Latency model</h2>\n");
    parity_svg(&o, dir, &L, parity);
    hv_svg(&o, p, summary, trace);
    table(&o, L.c, L.n, L.quality, L.speed, L.lat, L.nl, L.ref);
    emit(&o, "</body></html>\n");
    if (o.s == NULL) {
        hn_error_set(err, dir, "out of memory writing the report");
        goto done;
    }
    /* the same data as JSON */
    json_t *cands = json_array();
    for (size_t i = 0; i < L.n; i++) {
        const struct cand *c = &L.c[i];
        json_t *e =
            json_pack("{s:I, s:O, s:O, s:O, s:b}", "trial", (json_int_t)c->id, "trials", c->trials,
                      "params", c->params, "metrics", c->metrics, "reference", c->reference);
        if (c->arch) {
            json_object_set(e, "arch", c->arch);
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
    if (hn_write_file_atomic(file, o.s, o.len, err) != 0) {
        goto done;
    }
    if (summary_out != NULL) {
        if (json_object_get(table_json, "reference") != NULL) {
            frontier_print(table_json, summary_out);
        }
        fprintf(summary_out, "report: %s\n", file);
    }
    rc = 0;
done:
    free(o.s);
    json_decref(summary);
    json_decref(data);
    json_decref(fronts);
    json_decref(parity);
    json_decref(trace);
    json_decref(table_json);
    loaded_free(&L);
    return rc;
}

int hn_cmd_report(int argc, char **argv)
{
    const char *file = NULL;
    int code = 0;
    const char *dir = hn_cli_study_dir(
        argc, argv,
        "usage: hilnas report STUDY_DIR [-o FILE]\n\n"
        "Write one self-contained HTML report (inline SVG, no network) of a study: Pareto "
        "frontier of\nquality vs each latency metric, latency model parity, hypervolume by "
        "trial, frontier\narchitectures and design observations. Default FILE: "
        "STUDY_DIR/report.html. Also writes\nSTUDY_DIR/report.json with the same data. Prints "
        "the frontier table (as 'hilnas run' does at its end)\nand 'report: FILE'.\n",
        "output", 'o', 1, &file, &code);
    if (dir == NULL) {
        return code;
    }
    char *def = file ? NULL : hn_path_join(dir, "report.html");
    struct hn_error err;
    hn_error_clear(&err);
    if (hn_report_publish(dir, file ? file : def, stdout, &err) != 0) {
        fprintf(stderr, "hilnas: error: %s\n", err.msg);
        code = hn_error_exit_code(&err);
    }
    free(def);
    return code;
}
