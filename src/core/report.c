/* hilnas: study outputs and summaries (see core/report.h and core/study.h). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/report.h"
#include "core/util.h"
#include "hilnas/pareto.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int hn_metric_labels(char *const *names, size_t n, char **labels)
{
    for (size_t i = 0; i < n; i++) {
        labels[i] = strdup(names[i]);
        if (labels[i] == NULL) {
            return -1;
        }
    }
    return 0;
}

json_t *hn_problem_to_json(const struct hn_problem *p)
{
    json_t *objs = json_array(), *cons = json_array();
    for (size_t i = 0; i < p->n_objectives; i++) {
        json_t *o = json_pack("{s:s, s:s}", "metric", p->objectives[i].metric, "goal",
                              p->objectives[i].maximize ? "maximize" : "minimize");
        if (isfinite(p->objectives[i].ref)) {
            json_object_set_new(o, "ref", json_real(p->objectives[i].ref));
        }
        json_array_append_new(objs, o);
    }
    for (size_t i = 0; i < p->n_constraints; i++) {
        json_t *c = json_pack("{s:s}", "metric", p->constraints[i].metric);
        if (isfinite(p->constraints[i].lo)) {
            json_object_set_new(c, "min", json_real(p->constraints[i].lo));
        }
        if (isfinite(p->constraints[i].hi)) {
            json_object_set_new(c, "max", json_real(p->constraints[i].hi));
        }
        json_array_append_new(cons, c);
    }
    return json_pack("{s:o, s:o}", "objectives", objs, "constraints", cons);
}

int hn_problem_from_json(const json_t *obj, struct hn_problem *p, struct hn_error *err)
{
    json_t *objs = json_object_get(obj, "objectives"), *cons = json_object_get(obj, "constraints");
    memset(p, 0, sizeof(*p));
    if (!json_is_array(objs)) {
        return hn_error_set(err, NULL, "the journal's study event has no objectives");
    }
    struct hn_objective *o = calloc(json_array_size(objs) + 1, sizeof(*o));
    struct hn_constraint *c = calloc(json_array_size(cons) + 1, sizeof(*c));
    if (o == NULL || c == NULL) {
        free(o);
        free(c);
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < json_array_size(objs); i++) {
        json_t *e = json_array_get(objs, i);
        const char *m = json_string_value(json_object_get(e, "metric"));
        const char *g = json_string_value(json_object_get(e, "goal"));
        json_t *ref = json_object_get(e, "ref");
        o[i].metric = strdup(m ? m : "?");
        o[i].maximize = g != NULL && strcmp(g, "maximize") == 0;
        o[i].ref = json_is_number(ref) ? json_number_value(ref) : NAN;
    }
    for (size_t i = 0; i < json_array_size(cons); i++) {
        json_t *e = json_array_get(cons, i);
        const char *m = json_string_value(json_object_get(e, "metric"));
        json_t *lo = json_object_get(e, "min"), *hi = json_object_get(e, "max");
        c[i].metric = strdup(m ? m : "?");
        c[i].lo = json_is_number(lo) ? json_number_value(lo) : -INFINITY;
        c[i].hi = json_is_number(hi) ? json_number_value(hi) : INFINITY;
    }
    p->objectives = o;
    p->n_objectives = json_array_size(objs);
    p->constraints = c;
    p->n_constraints = json_array_size(cons);
    return 0;
}

void hn_problem_free(struct hn_problem *p)
{
    for (size_t i = 0; i < p->n_objectives; i++) {
        free((char *)p->objectives[i].metric);
    }
    for (size_t i = 0; i < p->n_constraints; i++) {
        free((char *)p->constraints[i].metric);
    }
    free((void *)p->objectives);
    free((void *)p->constraints);
    memset(p, 0, sizeof(*p));
}

static int feasible(const struct hn_problem *p, const struct hn_trial *t)
{
    if (t->status != HN_TRIAL_COMPLETE) {
        return 0;
    }
    for (size_t i = 0; i < p->n_objectives; i++) {
        if (!isfinite(hn_trial_value(t, p->objectives[i].metric))) {
            return 0;
        }
    }
    for (size_t i = 0; i < p->n_constraints; i++) {
        if (!hn_constraint_ok(&p->constraints[i], hn_trial_value(t, p->constraints[i].metric))) {
            return 0;
        }
    }
    return 1;
}

/* Oriented (minimization) objective matrix of the feasible trials; idx maps rows to trials. */
static double *objective_matrix(const struct hn_problem *p, struct hn_trial *const *trials,
                                size_t n, size_t *idx, size_t *rows)
{
    size_t m = p->n_objectives, k = 0;
    double *y = malloc((n ? n : 1) * m * sizeof(double));
    if (y == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!feasible(p, trials[i])) {
            continue;
        }
        for (size_t j = 0; j < m; j++) {
            double v = hn_trial_value(trials[i], p->objectives[j].metric);
            y[k * m + j] = p->objectives[j].maximize ? -v : v;
        }
        idx[k++] = i;
    }
    *rows = k;
    return y;
}

int hn_report_pareto_set(const struct hn_problem *p, struct hn_trial *const *trials, size_t n,
                         int *in_set, struct hn_error *err)
{
    size_t *idx = calloc(n ? n : 1, sizeof(size_t));
    int *rank = calloc(n ? n : 1, sizeof(int));
    size_t rows = 0;
    double *y = idx ? objective_matrix(p, trials, n, idx, &rows) : NULL;
    int rc = -1;
    memset(in_set, 0, n * sizeof(int));
    if (idx == NULL || rank == NULL || y == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    if (rows > 0 && hn_pareto_rank(y, rows, p->n_objectives, rank, err) != 0) {
        goto done;
    }
    for (size_t k = 0; k < rows; k++) {
        in_set[idx[k]] = rank[k] == 0;
    }
    rc = 0;
done:
    free(idx);
    free(rank);
    free(y);
    return rc;
}

struct name_at {
    const char *name;
    size_t index;
};

static int cmp_name_at(const void *a, const void *b)
{
    const struct name_at *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : (x->index > y->index) - (x->index < y->index);
}

/* 1 if name is in the sorted array (n entries). */
static int in_sorted(char *const *sorted, size_t n, const char *name)
{
    return n > 0 && bsearch(&name, sorted, n, sizeof(char *), cmp_str) != NULL;
}

/*
 * Every metric name seen in the trials, objectives and constraints first (in the problem's
 * order, once each), the rest alphabetically, for stable columns. O(N log N) in all the names
 * of all the trials, so a journal with many metrics cannot make a report quadratic.
 */
static size_t metric_names(const struct hn_problem *p, struct hn_trial *const *trials, size_t n,
                           char ***out)
{
    size_t fixed_n = p->n_objectives + p->n_constraints, all = 0;
    for (size_t i = 0; i < n; i++) {
        all += trials[i]->metrics.n;
    }
    char **fixed = malloc((fixed_n + 1) * sizeof(char *));
    char **fixed_sorted = malloc((fixed_n + 1) * sizeof(char *));
    char **rest = malloc((all + 1) * sizeof(char *));
    char **names = malloc((fixed_n + all + 1) * sizeof(char *));
    size_t cnt = 0;
    *out = NULL;
    if (fixed == NULL || fixed_sorted == NULL || rest == NULL || names == NULL) {
        free(names);
        names = NULL;
        goto done;
    }
    for (size_t i = 0; i < p->n_objectives; i++) {
        fixed[i] = (char *)p->objectives[i].metric;
    }
    for (size_t i = 0; i < p->n_constraints; i++) {
        fixed[p->n_objectives + i] = (char *)p->constraints[i].metric;
    }
    /* the problem's names in order, once each (a constraint may name an objective's metric):
     * sort (name, index) pairs; an entry equal to its sorted predecessor is a repeat */
    struct name_at *order = malloc((fixed_n + 1) * sizeof(*order));
    int *repeat = calloc(fixed_n + 1, sizeof(int));
    if (order == NULL || repeat == NULL) {
        free(order);
        free(repeat);
        free(names);
        names = NULL;
        goto done;
    }
    for (size_t i = 0; i < fixed_n; i++) {
        order[i] = (struct name_at){fixed[i], i};
    }
    qsort(order, fixed_n, sizeof(*order), cmp_name_at);
    for (size_t k = 0; k < fixed_n; k++) {
        fixed_sorted[k] = (char *)order[k].name;
        if (k > 0 && strcmp(order[k].name, order[k - 1].name) == 0) {
            repeat[order[k].index] = 1;
        }
    }
    for (size_t i = 0; i < fixed_n; i++) {
        if (!repeat[i]) {
            names[cnt++] = fixed[i];
        }
    }
    free(order);
    free(repeat);
    size_t nr = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < trials[i]->metrics.n; k++) {
            rest[nr++] = trials[i]->metrics.m[k].name;
        }
    }
    qsort(rest, nr, sizeof(char *), cmp_str);
    for (size_t i = 0; i < nr; i++) {
        if ((i > 0 && strcmp(rest[i], rest[i - 1]) == 0) ||
            in_sorted(fixed_sorted, fixed_n, rest[i])) {
            continue;
        }
        names[cnt++] = rest[i];
    }
    *out = names;
done:
    free(fixed);
    free(fixed_sorted);
    free(rest);
    return cnt;
}

static json_t *metrics_json(const struct hn_trial *t, char *const *names, char *const *labels,
                            size_t nm)
{
    json_t *o = json_object();
    for (size_t k = 0; k < nm; k++) {
        const struct hn_metric *m = hn_metrics_get(&t->metrics, names[k]);
        if (m != NULL) {
            json_object_set_new(o, labels[k], json_real(m->value));
        }
    }
    return o;
}

json_t *hn_report_summary(const struct hn_problem *p, struct hn_trial *const *trials,
                          json_t *const *params_json, size_t n, struct hn_error *err)
{
    char **names = NULL, **labels = NULL;
    size_t nm = metric_names(p, trials, n, &names);
    int *in_set = calloc(n ? n : 1, sizeof(int));
    json_t *out = NULL;
    labels = calloc(nm ? nm : 1, sizeof(char *));
    if (names == NULL || labels == NULL || in_set == NULL ||
        hn_metric_labels(names, nm, labels) != 0) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    size_t counts[3] = {0, 0, 0}, abandoned = 0;
    for (size_t i = 0; i < n; i++) {
        counts[trials[i]->status]++;
        abandoned += trials[i]->abandoned;
    }
    out = json_object();
    json_object_set_new(out, "trials",
                        json_pack("{s:I, s:I, s:I, s:I, s:I}", "complete",
                                  (json_int_t)counts[HN_TRIAL_COMPLETE], "failed",
                                  (json_int_t)counts[HN_TRIAL_FAILED], "running",
                                  (json_int_t)counts[HN_TRIAL_RUNNING], "abandoned",
                                  (json_int_t)abandoned, "total", (json_int_t)n));
    json_t *objectives = json_array();
    json_t *best = json_object();
    for (size_t j = 0; j < p->n_objectives; j++) {
        const struct hn_objective *o = &p->objectives[j];
        const char *label = o->metric;
        for (size_t k = 0; k < nm; k++) {
            if (strcmp(names[k], o->metric) == 0) {
                label = labels[k];
            }
        }
        json_array_append_new(objectives,
                              json_pack("{s:s, s:s, s:s}", "metric", o->metric, "label", label,
                                        "goal", o->maximize ? "maximize" : "minimize"));
        long bi = -1;
        double bv = 0;
        for (size_t i = 0; i < n; i++) {
            if (!feasible(p, trials[i])) {
                continue;
            }
            double v = hn_trial_value(trials[i], o->metric);
            if (bi < 0 || (o->maximize ? v > bv : v < bv)) {
                bi = (long)i;
                bv = v;
            }
        }
        if (bi >= 0) {
            json_t *b = json_pack("{s:I, s:f, s:s}", "trial", (json_int_t)trials[bi]->id, "value",
                                  bv, "stage", trials[bi]->stage);
            if (params_json && params_json[bi]) {
                json_object_set(b, "params", params_json[bi]);
            }
            json_object_set_new(b, "metrics", metrics_json(trials[bi], names, labels, nm));
            json_object_set_new(best, label, b);
        } else {
            json_object_set_new(best, label, json_null());
        }
    }
    json_object_set_new(out, "objectives", objectives);
    json_object_set_new(out, "best", best);
    if (hn_report_pareto_set(p, trials, n, in_set, err) != 0) {
        json_decref(out);
        out = NULL;
        goto done;
    }
    json_t *pareto = json_array();
    size_t m = p->n_objectives, rows = 0;
    double *y = malloc((n ? n : 1) * (m ? m : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        if (!in_set[i]) {
            continue;
        }
        json_t *e =
            json_pack("{s:I, s:s}", "trial", (json_int_t)trials[i]->id, "stage", trials[i]->stage);
        json_object_set_new(e, "metrics", metrics_json(trials[i], names, labels, nm));
        if (params_json && params_json[i]) {
            json_object_set(e, "params", params_json[i]);
        }
        json_array_append_new(pareto, e);
    }
    json_object_set_new(out, "pareto", pareto);
    if (m >= 2 && y != NULL) {
        /* hypervolume of all feasible points (dominated ones add nothing) */
        for (size_t i = 0; i < n; i++) {
            if (!feasible(p, trials[i])) {
                continue;
            }
            for (size_t j = 0; j < m; j++) {
                double v = hn_trial_value(trials[i], p->objectives[j].metric);
                y[rows * m + j] = p->objectives[j].maximize ? -v : v;
            }
            rows++;
        }
        double *ref = malloc(m * sizeof(double));
        int given = 1;
        for (size_t j = 0; ref != NULL && j < m; j++) {
            given &= isfinite(p->objectives[j].ref);
            ref[j] = p->objectives[j].maximize ? -p->objectives[j].ref : p->objectives[j].ref;
        }
        int have_ref = given && ref != NULL;
        if (ref != NULL && !given && rows > 0) {
            struct hn_error e2;
            have_ref = hn_pareto_infer_ref(y, rows, m, 0.1, ref, &e2) == 0;
        }
        if (m > HN_HYPERVOLUME_MAX_OBJECTIVES) {
            /* exact hypervolume costs exponentially in m: say so instead of hanging */
            char why[256];
            snprintf(why, sizeof(why),
                     "not computed: %zu objectives, exact hypervolume is limited to %d (its "
                     "cost grows exponentially with the number of objectives)",
                     m, HN_HYPERVOLUME_MAX_OBJECTIVES);
            json_object_set_new(out, "hypervolume", json_null());
            json_object_set_new(out, "hypervolume_note", json_string(why));
        } else if (have_ref) {
            double hv = rows > 0 ? hn_hypervolume(y, rows, m, ref, err) : 0.0;
            if (hv < 0) {
                free(ref);
                free(y);
                json_decref(out);
                out = NULL;
                goto done;
            }
            json_t *jr = json_array();
            for (size_t j = 0; j < m; j++) {
                json_array_append_new(jr, json_real(p->objectives[j].maximize ? -ref[j] : ref[j]));
            }
            json_object_set_new(out, "hypervolume", json_real(hv));
            json_object_set_new(out, "reference_point", jr);
            json_object_set_new(out, "reference_point_inferred", json_boolean(!given));
        } else {
            json_object_set_new(out, "hypervolume", json_null());
        }
        free(ref);
    }
    free(y);
done:
    for (size_t k = 0; labels != NULL && k < nm; k++) {
        free(labels[k]);
    }
    free(labels);
    free(names);
    free(in_set);
    return out;
}

/* ---- CSV ---- */

struct buf {
    char *s;
    size_t len, cap;
    int oom;
};

static void put(struct buf *b, const char *text, size_t len)
{
    if (b->oom) {
        return;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + len + 1 > cap) {
            cap *= 2;
        }
        char *g = realloc(b->s, cap);
        if (g == NULL) {
            b->oom = 1;
            return;
        }
        b->s = g;
        b->cap = cap;
    }
    memcpy(b->s + b->len, text, len);
    b->len += len;
    b->s[b->len] = '\0';
}

static void puts_csv(struct buf *b, const char *field)
{
    if (strpbrk(field, ",\"\n\r") == NULL) {
        put(b, field, strlen(field));
        return;
    }
    put(b, "\"", 1);
    for (const char *c = field; *c; c++) {
        put(b, c, 1);
        if (*c == '"') {
            put(b, "\"", 1);
        }
    }
    put(b, "\"", 1);
}

static void put_num(struct buf *b, double v)
{
    char tmp[64];
    if (isfinite(v)) {
        int len = snprintf(tmp, sizeof(tmp), "%.17g", v);
        put(b, tmp, (size_t)len);
    }
}

static void put_param(struct buf *b, const struct hn_param *p, double v)
{
    char tmp[64];
    switch (p->type) {
    case HN_PARAM_CATEGORICAL: {
        size_t k = (size_t)v;
        puts_csv(b, k < p->n_values ? p->labels[k] : "");
        return;
    }
    case HN_PARAM_BOOL:
        put(b, v != 0 ? "True" : "False", v != 0 ? 4 : 5);
        return;
    case HN_PARAM_INT:
        snprintf(tmp, sizeof(tmp), "%lld", (long long)llround(v));
        put(b, tmp, strlen(tmp));
        return;
    default:
        put_num(b, v);
    }
}

static void csv_row(struct buf *b, const struct hn_params *params, const struct hn_trial *t,
                    char *const *names, size_t nm, const int *has_sem, int with_status)
{
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%ld,", t->id);
    put(b, tmp, strlen(tmp));
    puts_csv(b, t->stage);
    if (with_status) {
        put(b, ",", 1);
        const char *st = hn_trial_status_name(t->status);
        put(b, st, strlen(st));
    }
    for (size_t j = 0; j < params->n; j++) {
        put(b, ",", 1);
        if (j < t->n_params) {
            put_param(b, &params->p[j], t->x[j]);
        }
    }
    for (size_t k = 0; k < nm; k++) {
        const struct hn_metric *m =
            t->status == HN_TRIAL_COMPLETE ? hn_metrics_get(&t->metrics, names[k]) : NULL;
        put(b, ",", 1);
        if (m != NULL) {
            put_num(b, m->value);
        }
        if (has_sem[k]) {
            put(b, ",", 1);
            if (m != NULL) {
                put_num(b, m->sem);
            }
        }
    }
}

static void csv_header(struct buf *b, const struct hn_params *params, char *const *labels,
                       size_t nm, const int *has_sem, int with_status)
{
    put(b, with_status ? "id,stage,status" : "id,stage", with_status ? 15 : 8);
    for (size_t j = 0; j < params->n; j++) {
        put(b, ",", 1);
        puts_csv(b, params->p[j].name);
    }
    for (size_t k = 0; k < nm; k++) {
        put(b, ",", 1);
        puts_csv(b, labels[k]);
        if (has_sem[k]) {
            char tmp[600];
            snprintf(tmp, sizeof(tmp), "%s_sem", labels[k]);
            put(b, ",", 1);
            puts_csv(b, tmp);
        }
    }
}

int hn_report_write(const char *dir, const struct hn_params *params, const struct hn_problem *p,
                    struct hn_trial *const *trials, json_t *const *params_json, size_t n,
                    int durable, struct hn_error *err)
{
    int (*write_file)(const char *, const char *, size_t, struct hn_error *) =
        durable ? hn_write_file_atomic : hn_write_file_replace;
    char **names = NULL, **labels = NULL;
    size_t nm = metric_names(p, trials, n, &names);
    int *has_sem = calloc(nm ? nm : 1, sizeof(int));
    int *in_set = calloc(n ? n : 1, sizeof(int));
    struct buf tb = {0}, pb = {0};
    int rc = -1;
    labels = calloc(nm ? nm : 1, sizeof(char *));
    if (names == NULL || labels == NULL || has_sem == NULL || in_set == NULL ||
        hn_metric_labels(names, nm, labels) != 0) {
        hn_error_set(err, dir, "out of memory writing the study outputs");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < nm; k++) {
            const struct hn_metric *m = hn_metrics_get(&trials[i]->metrics, names[k]);
            has_sem[k] |= m != NULL && isfinite(m->sem);
        }
    }
    csv_header(&tb, params, labels, nm, has_sem, 1);
    put(&tb, ",started,finished,seconds,reason\n", 33);
    for (size_t i = 0; i < n; i++) {
        const struct hn_trial *t = trials[i];
        csv_row(&tb, params, t, names, nm, has_sem, 1);
        char tmp[128];
        snprintf(tmp, sizeof(tmp), ",%.6f,", t->started);
        put(&tb, tmp, strlen(tmp));
        if (t->finished > 0) {
            snprintf(tmp, sizeof(tmp), "%.6f,%.6f", t->finished, t->finished - t->started);
            put(&tb, tmp, strlen(tmp));
        } else {
            put(&tb, ",", 1);
        }
        put(&tb, ",", 1);
        puts_csv(&tb, t->reason ? t->reason : "");
        put(&tb, "\n", 1);
    }
    if (hn_report_pareto_set(p, trials, n, in_set, err) != 0) {
        goto done;
    }
    csv_header(&pb, params, labels, nm, has_sem, 0);
    put(&pb, "\n", 1);
    for (size_t i = 0; i < n; i++) {
        if (in_set[i]) {
            csv_row(&pb, params, trials[i], names, nm, has_sem, 0);
            put(&pb, "\n", 1);
        }
    }
    if (tb.oom || pb.oom) {
        hn_error_set(err, dir, "out of memory writing the study outputs");
        goto done;
    }
    char *path = hn_path_join(dir, "trials.csv");
    rc = path ? write_file(path, tb.s, tb.len, err) : -1;
    free(path);
    if (rc == 0) {
        path = hn_path_join(dir, "pareto.csv");
        rc = path ? write_file(path, pb.s, pb.len, err) : -1;
        free(path);
    }
    if (rc == 0) {
        json_t *summary = hn_report_summary(p, trials, params_json, n, err);
        char *text = summary ? json_dumps(summary, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) : NULL;
        path = hn_path_join(dir, "summary.json");
        rc = (text && path) ? write_file(path, text, strlen(text), err) : -1;
        free(path);
        free(text);
        json_decref(summary);
    }
done:
    for (size_t k = 0; labels != NULL && k < nm; k++) {
        free(labels[k]);
    }
    free(labels);
    free(names);
    free(has_sem);
    free(in_set);
    free(tb.s);
    free(pb.s);
    return rc;
}
