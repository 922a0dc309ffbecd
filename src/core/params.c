/*
 * hilnas: parameter sets, the unit-cube map and linear constraints (see include/hilnas/space.h).
 *
 * Unit map, per parameter type (u in [0,1]):
 *   FLOAT        (v - lo) / (hi - lo), or the same of log v when log-scaled;
 *   INT          the same; back from u: round to the nearest integer (in native units, also
 *                when log-scaled), then clamp to [lo, hi];
 *   CHOICE       index / (n - 1) of the nearest value; back: the nearest index;
 *   CATEGORICAL  index / (n - 1); back: the nearest index;
 *   BOOL         v; back: u >= 0.5.
 * A CHOICE or CATEGORICAL with a single value maps to 0.5 (the middle of the cube) and every u
 * maps back to it. from_unit treats u outside [0,1] as the nearest bound and NAN as 0.5.
 *
 * Linear constraints are parsed from text: each side is a sum of terms "[+|-] [number [*]]
 * name" or "[+|-] number", for example "2*x0 - 0.5 * x1 >= -3" or "x0 <= x1"; the result is
 * stored as coef . x <= rhs.
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "hilnas/space.h"
#include "hilnas/study.h"
#include "hilnas/trial.h"

static const char *const spec_keys_num[] = {"type", "min", "max", "log", NULL};
static const char *const spec_keys_values[] = {"type", "values", NULL};
static const char *const spec_keys_bool[] = {"type", NULL};

void hn_params_free(struct hn_params *params)
{
    if (params == NULL) {
        return;
    }
    for (size_t i = 0; i < params->n; i++) {
        struct hn_param *p = &params->p[i];
        free(p->name);
        free(p->values);
        for (size_t k = 0; p->labels != NULL && k < p->n_values; k++) {
            free(p->labels[k]);
        }
        free(p->labels);
    }
    free(params->p);
    for (size_t i = 0; i < params->n_linear; i++) {
        free(params->linear[i].coef);
        free(params->linear[i].text);
    }
    free(params->linear);
    free(params);
}

long hn_params_find(const struct hn_params *params, const char *name)
{
    for (size_t i = 0; i < params->n; i++) {
        if (strcmp(params->p[i].name, name) == 0) {
            return (long)i;
        }
    }
    return -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int parse_one(struct hn_param *p, const char *name, const struct hn_config_node *spec,
                     struct hn_error *err)
{
    char where[1024];
    const char *type;
    if (hn_config_expect(spec, HN_NODE_MAPPING, err) != 0 ||
        hn_config_req_string(spec, "type", &type, err) != 0) {
        return -1;
    }
    p->name = strdup(name);
    if (p->name == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    if (strcmp(type, "float") == 0 || strcmp(type, "int") == 0) {
        p->type = type[0] == 'f' ? HN_PARAM_FLOAT : HN_PARAM_INT;
        if (hn_config_check_keys(spec, spec_keys_num, "parameter", err) != 0 ||
            hn_config_req_double(spec, "min", &p->lo, err) != 0 ||
            hn_config_req_double(spec, "max", &p->hi, err) != 0 ||
            hn_config_get_bool(spec, "log", 0, &p->log_scale, err) != 0) {
            return -1;
        }
        const struct hn_config_node *mx = hn_config_get(spec, "max");
        if (!isfinite(p->lo) || !isfinite(p->hi)) {
            return hn_error_config(err, hn_config_where(spec, where, sizeof(where)),
                                   "%s: min and max must be finite", spec->path);
        }
        if (!(p->hi > p->lo)) {
            return hn_error_config(err, hn_config_where(mx, where, sizeof(where)),
                                   "%s: must be greater than min (%g)", mx->path, p->lo);
        }
        if (p->type == HN_PARAM_INT && (p->lo != floor(p->lo) || p->hi != floor(p->hi))) {
            return hn_error_config(err, hn_config_where(spec, where, sizeof(where)),
                                   "%s: an int parameter needs integer min and max", spec->path);
        }
        if (p->log_scale && p->lo <= 0) {
            const struct hn_config_node *mn = hn_config_get(spec, "min");
            return hn_error_config(err, hn_config_where(mn, where, sizeof(where)),
                                   "%s: a log-scaled parameter needs min > 0, found %g", mn->path,
                                   p->lo);
        }
        return 0;
    }
    if (strcmp(type, "choice") == 0 || strcmp(type, "categorical") == 0) {
        int numeric = type[0] == 'c' && type[1] == 'h';
        p->type = numeric ? HN_PARAM_CHOICE : HN_PARAM_CATEGORICAL;
        if (hn_config_check_keys(spec, spec_keys_values, "parameter", err) != 0) {
            return -1;
        }
        const struct hn_config_node *vals = hn_config_get(spec, "values");
        if (vals == NULL) {
            return hn_error_config(err, hn_config_where(spec, where, sizeof(where)),
                                   "%s: missing required key 'values' (a list)", spec->path);
        }
        if (hn_config_expect(vals, HN_NODE_SEQUENCE, err) != 0) {
            return -1;
        }
        if (vals->n == 0) {
            return hn_error_config(err, hn_config_where(vals, where, sizeof(where)),
                                   "%s: needs at least one value", vals->path);
        }
        p->n_values = vals->n;
        if (numeric) {
            p->values = calloc(vals->n, sizeof(double));
            if (p->values == NULL) {
                return hn_error_set(err, NULL, "out of memory");
            }
            for (size_t i = 0; i < vals->n; i++) {
                if (hn_config_to_double(vals->items[i], &p->values[i], err) != 0) {
                    return -1;
                }
                if (!isfinite(p->values[i])) {
                    return hn_error_config(err,
                                           hn_config_where(vals->items[i], where, sizeof(where)),
                                           "%s: values must be finite", vals->items[i]->path);
                }
            }
            qsort(p->values, p->n_values, sizeof(double), cmp_double);
            for (size_t i = 1; i < p->n_values; i++) {
                if (p->values[i] == p->values[i - 1]) {
                    return hn_error_config(err, hn_config_where(vals, where, sizeof(where)),
                                           "%s: value %g appears twice", vals->path, p->values[i]);
                }
            }
            p->lo = p->values[0];
            p->hi = p->values[p->n_values - 1];
        } else {
            p->labels = calloc(vals->n, sizeof(char *));
            if (p->labels == NULL) {
                return hn_error_set(err, NULL, "out of memory");
            }
            for (size_t i = 0; i < vals->n; i++) {
                const char *label;
                if (hn_config_to_string(vals->items[i], &label, err) != 0) {
                    return -1;
                }
                p->labels[i] = strdup(label);
                if (p->labels[i] == NULL) {
                    return hn_error_set(err, NULL, "out of memory");
                }
            }
            long first = -1;
            long second = hn_find_duplicate((const char *const *)p->labels, p->n_values, &first);
            if (second >= 0) {
                return hn_error_config(err,
                                       hn_config_where(vals->items[second], where, sizeof(where)),
                                       "%s: label '%s' appears twice (first as item %ld)",
                                       vals->path, p->labels[second], first);
            }
            p->lo = 0;
            p->hi = (double)(p->n_values - 1);
        }
        return 0;
    }
    if (strcmp(type, "bool") == 0) {
        p->type = HN_PARAM_BOOL;
        if (hn_config_check_keys(spec, spec_keys_bool, "parameter", err) != 0) {
            return -1;
        }
        p->n_values = 2;
        p->lo = 0;
        p->hi = 1;
        return 0;
    }
    static const char *const types[] = {"float", "int", "choice", "categorical", "bool", NULL};
    const struct hn_config_node *tn = hn_config_get(spec, "type");
    const char *near = hn_suggest(type, types);
    char hint[128] = "";
    if (near != NULL) {
        snprintf(hint, sizeof(hint), "did you mean '%s'? ", near);
    }
    return hn_error_config(err, hn_config_where(tn, where, sizeof(where)),
                           "%s: unknown parameter type '%s' (%svalid: float, int, choice, "
                           "categorical, bool)",
                           tn->path, type, hint);
}

/* ---- linear constraints: "2*x0 - x1 + 3 <= x2" ---- */

/* Parse one side: sum of [+-] [number [*]] [name] terms into coef (added with sign) and a
 * constant. Returns 0 or -1 with a short reason in why. */
static int parse_side(const char *s, const struct hn_params *params, double sign, double *coef,
                      double *constant, char *why, size_t why_size)
{
    const char *c = s;
    int terms = 0;
    for (;;) {
        while (isspace((unsigned char)*c)) {
            c++;
        }
        if (*c == '\0') {
            break;
        }
        double term_sign = 1;
        if (*c == '+' || *c == '-') {
            term_sign = *c == '-' ? -1 : 1;
            c++;
            while (isspace((unsigned char)*c)) {
                c++;
            }
        } else if (terms > 0) {
            snprintf(why, why_size, "expected '+' or '-' before '%s'", c);
            return -1;
        }
        double factor = 1;
        int have_number = 0;
        if (isdigit((unsigned char)*c) || *c == '.') {
            char *end;
            factor = strtod(c, &end);
            for (const char *k = c; k < end; k++) {
                if (!isdigit((unsigned char)*k) && strchr(".eE+-", *k) == NULL) {
                    end = (char *)c; /* hex floats, inf, nan: not plain numbers */
                }
            }
            if (end == c || !isfinite(factor)) {
                snprintf(why, why_size, "'%.*s' is not a finite decimal number",
                         (int)strcspn(c, " \t*+-<>="), c);
                return -1;
            }
            c = end;
            have_number = 1;
            while (isspace((unsigned char)*c)) {
                c++;
            }
            if (*c == '*') {
                c++;
                while (isspace((unsigned char)*c)) {
                    c++;
                }
            }
        }
        if (isalpha((unsigned char)*c) || *c == '_') {
            const char *start = c;
            while (isalnum((unsigned char)*c) || *c == '_') {
                c++;
            }
            char name[256];
            size_t len =
                (size_t)(c - start) < sizeof(name) - 1 ? (size_t)(c - start) : sizeof(name) - 1;
            memcpy(name, start, len);
            name[len] = '\0';
            long idx = hn_params_find(params, name);
            if (idx < 0) {
                snprintf(why, why_size, "unknown parameter '%s'", name);
                return -1;
            }
            enum hn_param_type t = params->p[idx].type;
            if (t == HN_PARAM_CATEGORICAL || t == HN_PARAM_BOOL) {
                snprintf(why, why_size,
                         "parameter '%s' is %s; linear constraints take float, int and choice "
                         "parameters",
                         name, t == HN_PARAM_BOOL ? "a bool" : "categorical");
                return -1;
            }
            coef[idx] += sign * term_sign * factor;
        } else if (have_number) {
            *constant += sign * term_sign * factor;
        } else {
            snprintf(why, why_size, "expected a number or a parameter name at '%s'", c);
            return -1;
        }
        terms++;
    }
    if (terms == 0) {
        snprintf(why, why_size, "a side of the inequality is empty");
        return -1;
    }
    return 0;
}

static int parse_linear(struct hn_params *params, const struct hn_config_node *node,
                        struct hn_linear_constraint *lc, struct hn_error *err)
{
    char where[1024], why[512];
    const char *text;
    if (hn_config_to_string(node, &text, err) != 0) {
        return -1;
    }
    const char *op = strstr(text, "<=");
    int ge = 0;
    if (op == NULL) {
        op = strstr(text, ">=");
        ge = 1;
    }
    if (op == NULL) {
        return hn_error_config(err, hn_config_where(node, where, sizeof(where)),
                               "%s: constraint '%s' needs '<=' or '>='", node->path, text);
    }
    lc->coef = calloc(params->n, sizeof(double));
    lc->text = strdup(text);
    char *lhs = strndup(text, (size_t)(op - text));
    if (lc->coef == NULL || lc->text == NULL || lhs == NULL) {
        free(lhs);
        return hn_error_set(err, NULL, "out of memory");
    }
    /* lhs <= rhs  ->  lhs - rhs <= 0 ; lhs >= rhs -> rhs - lhs <= 0 */
    double constant = 0;
    double s = ge ? -1 : 1;
    int rc = parse_side(lhs, params, s, lc->coef, &constant, why, sizeof(why));
    if (rc == 0 && (strstr(op + 2, "<=") || strstr(op + 2, ">="))) {
        snprintf(why, sizeof(why), "only one '<=' or '>=' per constraint");
        rc = -1;
    }
    if (rc == 0) {
        rc = parse_side(op + 2, params, -s, lc->coef, &constant, why, sizeof(why));
    }
    free(lhs);
    if (rc != 0) {
        return hn_error_config(err, hn_config_where(node, where, sizeof(where)),
                               "%s: constraint '%s': %s", node->path, text, why);
    }
    lc->rhs = -constant;
    int any = 0;
    for (size_t j = 0; j < params->n; j++) {
        any |= lc->coef[j] != 0;
    }
    if (!any) {
        return hn_error_config(err, hn_config_where(node, where, sizeof(where)),
                               "%s: constraint '%s' involves no parameter", node->path, text);
    }
    return 0;
}

struct hn_params *hn_params_parse(const struct hn_config_node *decls,
                                  const struct hn_config_node *constraints, struct hn_error *err)
{
    char where[1024];
    struct hn_params *params = calloc(1, sizeof(*params));
    if (params == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (decls == NULL) {
        hn_error_config(err, NULL, "no parameters declared");
        goto fail;
    }
    if (hn_config_expect(decls, HN_NODE_MAPPING, err) != 0) {
        goto fail;
    }
    if (decls->n == 0) {
        hn_error_config(err, hn_config_where(decls, where, sizeof(where)),
                        "%s: declare at least one parameter", decls->path);
        goto fail;
    }
    params->p = calloc(decls->n, sizeof(struct hn_param));
    if (params->p == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < decls->n; i++) {
        params->n = i + 1;
        if (parse_one(&params->p[i], decls->keys[i], decls->items[i], err) != 0) {
            goto fail;
        }
    }
    if (constraints != NULL && !constraints->is_null) {
        if (hn_config_expect(constraints, HN_NODE_SEQUENCE, err) != 0) {
            goto fail;
        }
        params->linear =
            calloc(constraints->n ? constraints->n : 1, sizeof(struct hn_linear_constraint));
        if (params->linear == NULL) {
            hn_error_set(err, NULL, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < constraints->n; i++) {
            params->n_linear = i + 1;
            if (parse_linear(params, constraints->items[i], &params->linear[i], err) != 0) {
                goto fail;
            }
        }
    }
    return params;
fail:
    hn_params_free(params);
    return NULL;
}

/* ---- unit cube ---- */

static double to_unit(const struct hn_param *p, double v)
{
    switch (p->type) {
    case HN_PARAM_FLOAT:
    case HN_PARAM_INT:
        if (p->log_scale) {
            return (log(v) - log(p->lo)) / (log(p->hi) - log(p->lo));
        }
        return (v - p->lo) / (p->hi - p->lo);
    case HN_PARAM_CHOICE: {
        size_t best = 0;
        for (size_t k = 1; k < p->n_values; k++) {
            if (fabs(p->values[k] - v) < fabs(p->values[best] - v)) {
                best = k;
            }
        }
        return p->n_values > 1 ? (double)best / (double)(p->n_values - 1) : 0.5;
    }
    case HN_PARAM_CATEGORICAL:
        return p->n_values > 1 ? v / (double)(p->n_values - 1) : 0.5;
    case HN_PARAM_BOOL:
        return v;
    }
    return 0;
}

static double round_one(const struct hn_param *p, double v);

static double clamp01(double u)
{
    return u < 0 ? 0 : (u > 1 ? 1 : u);
}

static double from_unit(const struct hn_param *p, double u)
{
    u = clamp01(isnan(u) ? 0.5 : u);
    switch (p->type) {
    case HN_PARAM_FLOAT:
        if (p->log_scale) {
            return fmin(p->hi, fmax(p->lo, exp(log(p->lo) + u * (log(p->hi) - log(p->lo)))));
        }
        return fmin(p->hi, fmax(p->lo, p->lo + u * (p->hi - p->lo)));
    case HN_PARAM_INT: {
        double v = p->log_scale ? exp(log(p->lo) + u * (log(p->hi) - log(p->lo)))
                                : p->lo + u * (p->hi - p->lo);
        return fmin(p->hi, fmax(p->lo, round(v)));
    }
    case HN_PARAM_CHOICE: {
        size_t k = (size_t)llround(u * (double)(p->n_values - 1));
        return p->values[k < p->n_values ? k : p->n_values - 1];
    }
    case HN_PARAM_CATEGORICAL: {
        double k = round(u * (double)(p->n_values - 1));
        return fmin((double)(p->n_values - 1), fmax(0, k));
    }
    case HN_PARAM_BOOL:
        return u >= 0.5 ? 1 : 0;
    }
    return 0;
}

void hn_params_to_unit(const struct hn_params *params, const double *x, double *u)
{
    for (size_t i = 0; i < params->n; i++) {
        u[i] = to_unit(&params->p[i], x[i]);
    }
}

void hn_params_from_unit(const struct hn_params *params, const double *u, double *x)
{
    for (size_t i = 0; i < params->n; i++) {
        x[i] = from_unit(&params->p[i], u[i]);
    }
}

/* The nearest valid value of parameter p to v (NAN goes to lo, or to index 0). */
static double round_one(const struct hn_param *p, double v)
{
    switch (p->type) {
    case HN_PARAM_FLOAT:
        return fmin(p->hi, fmax(p->lo, isnan(v) ? p->lo : v));
    case HN_PARAM_INT:
        return fmin(p->hi, fmax(p->lo, round(isnan(v) ? p->lo : v)));
    case HN_PARAM_CHOICE: {
        size_t best = 0;
        for (size_t k = 1; !isnan(v) && k < p->n_values; k++) {
            if (fabs(p->values[k] - v) < fabs(p->values[best] - v)) {
                best = k;
            }
        }
        return p->values[best];
    }
    case HN_PARAM_CATEGORICAL:
        return fmin((double)(p->n_values - 1), fmax(0, round(isnan(v) ? 0 : v)));
    case HN_PARAM_BOOL:
        return v >= 0.5 ? 1 : 0;
    }
    return v;
}

void hn_params_round(const struct hn_params *params, double *x)
{
    for (size_t i = 0; i < params->n; i++) {
        x[i] = round_one(&params->p[i], x[i]);
    }
}

int hn_params_same(const struct hn_params *params, const double *a, const double *b)
{
    for (size_t i = 0; i < params->n; i++) {
        const struct hn_param *p = &params->p[i];
        double ra = round_one(p, a[i]), rb = round_one(p, b[i]);
        if (p->type == HN_PARAM_FLOAT) {
            /* 1e-12 relative to the magnitude of the values (or of the range) */
            double scale = fmax(fmax(fabs(ra), fabs(rb)), fabs(p->hi - p->lo));
            if (fabs(ra - rb) > 1e-12 * fmax(scale, 1e-300)) {
                return 0;
            }
        } else if (ra != rb) {
            return 0;
        }
    }
    return 1;
}

/* Number of values of a discrete parameter, at most cap + 1 (0 for FLOAT). */
static uint64_t n_levels(const struct hn_param *p, uint64_t cap)
{
    switch (p->type) {
    case HN_PARAM_FLOAT:
        return 0;
    case HN_PARAM_INT:
        return p->hi - p->lo >= (double)cap ? cap + 1 : (uint64_t)(p->hi - p->lo) + 1;
    default:
        return p->n_values;
    }
}

uint64_t hn_params_grid_size(const struct hn_params *params, uint64_t max)
{
    uint64_t total = 1;
    for (size_t i = 0; i < params->n; i++) {
        uint64_t k = n_levels(&params->p[i], max);
        if (k == 0 || total > max / k) {
            return 0;
        }
        total *= k;
    }
    return total;
}

void hn_params_grid_point(const struct hn_params *params, uint64_t index, double *x)
{
    for (size_t i = 0; i < params->n; i++) {
        const struct hn_param *p = &params->p[i];
        uint64_t k = n_levels(p, UINT64_MAX - 1);
        uint64_t digit = index % k;
        index /= k;
        x[i] = p->type == HN_PARAM_INT      ? p->lo + (double)digit
               : p->type == HN_PARAM_CHOICE ? p->values[digit]
                                            : (double)digit;
    }
}

int64_t hn_params_grid_index(const struct hn_params *params, const double *x)
{
    uint64_t index = 0, radix = 1;
    for (size_t i = 0; i < params->n; i++) {
        const struct hn_param *p = &params->p[i];
        uint64_t k = n_levels(p, UINT64_MAX - 1), digit = k;
        if (k == 0) {
            return -1;
        }
        if (p->type == HN_PARAM_CHOICE) {
            for (uint64_t j = 0; j < k; j++) {
                if (p->values[j] == x[i]) {
                    digit = j;
                }
            }
        } else {
            double v = p->type == HN_PARAM_INT ? x[i] - p->lo : x[i];
            if (v >= 0 && v < (double)k && v == floor(v)) {
                digit = (uint64_t)v;
            }
        }
        if (digit >= k || (radix > 1 && k > (uint64_t)INT64_MAX / radix)) {
            return -1;
        }
        index += digit * radix;
        radix *= k;
    }
    return index > (uint64_t)INT64_MAX ? -1 : (int64_t)index;
}

int hn_history_has_point(const struct hn_history *h, const struct hn_params *params,
                         const double *x, const double *batch, size_t nb)
{
    for (size_t i = 0; h != NULL && i < h->n; i++) {
        if (h->trials[i]->n_params == params->n && hn_params_same(params, h->trials[i]->x, x)) {
            return 1;
        }
    }
    for (size_t k = 0; k < nb; k++) {
        if (hn_params_same(params, batch + k * params->n, x)) {
            return 1;
        }
    }
    return 0;
}

int hn_params_valid(const struct hn_params *params, const double *x, char *why, size_t size)
{
    for (size_t i = 0; i < params->n; i++) {
        const struct hn_param *p = &params->p[i];
        double v = x[i];
        if (!isfinite(v)) {
            snprintf(why, size, "%s is not a finite number", p->name);
            return 0;
        }
        switch (p->type) {
        case HN_PARAM_FLOAT:
        case HN_PARAM_INT:
            if (v < p->lo || v > p->hi) {
                snprintf(why, size, "%s = %g is outside [%g, %g]", p->name, v, p->lo, p->hi);
                return 0;
            }
            if (p->type == HN_PARAM_INT && v != floor(v)) {
                snprintf(why, size, "%s = %g is not an integer", p->name, v);
                return 0;
            }
            break;
        case HN_PARAM_CHOICE: {
            int found = 0;
            for (size_t k = 0; k < p->n_values; k++) {
                found |= p->values[k] == v;
            }
            if (!found) {
                snprintf(why, size, "%s = %g is not one of its values", p->name, v);
                return 0;
            }
            break;
        }
        case HN_PARAM_CATEGORICAL:
        case HN_PARAM_BOOL:
            if (v != floor(v) || v < 0 || v >= (double)p->n_values) {
                snprintf(why, size, "%s = %g is not a valid index", p->name, v);
                return 0;
            }
            break;
        }
    }
    for (size_t c = 0; c < params->n_linear; c++) {
        const struct hn_linear_constraint *lc = &params->linear[c];
        double s = 0, scale = fabs(lc->rhs);
        for (size_t j = 0; j < params->n; j++) {
            s += lc->coef[j] * x[j];
            scale += fabs(lc->coef[j] * x[j]);
        }
        if (s > lc->rhs + 1e-12 * fmax(scale, 1.0)) {
            snprintf(why, size, "violates the constraint '%s'", lc->text);
            return 0;
        }
    }
    return 1;
}

json_t *hn_params_to_json(const struct hn_params *params, const double *x)
{
    json_t *o = json_object();
    if (o == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < params->n; i++) {
        const struct hn_param *p = &params->p[i];
        json_t *v = NULL;
        switch (p->type) {
        case HN_PARAM_FLOAT:
            v = json_real(x[i]);
            break;
        case HN_PARAM_INT:
            v = json_integer((json_int_t)llround(x[i]));
            break;
        case HN_PARAM_CHOICE:
            v = x[i] == floor(x[i]) && fabs(x[i]) < 9e15 ? json_integer((json_int_t)x[i])
                                                         : json_real(x[i]);
            break;
        case HN_PARAM_CATEGORICAL: {
            size_t k = (size_t)x[i];
            v = json_string(k < p->n_values ? p->labels[k] : "");
            break;
        }
        case HN_PARAM_BOOL:
            v = json_boolean(x[i] != 0);
            break;
        }
        json_object_set_new(o, p->name, v);
    }
    return o;
}

int hn_params_from_json(const struct hn_params *params, const json_t *obj, double *x,
                        struct hn_error *err)
{
    if (!json_is_object(obj)) {
        return hn_error_set(err, NULL, "parameters must be a JSON object");
    }
    if (json_object_size(obj) != params->n) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)obj, key, v)
        {
            if (hn_params_find(params, key) < 0) {
                return hn_error_set(err, NULL, "unknown parameter '%s'", key);
            }
        }
    }
    for (size_t i = 0; i < params->n; i++) {
        const struct hn_param *p = &params->p[i];
        json_t *v = json_object_get(obj, p->name);
        if (v == NULL) {
            return hn_error_set(err, NULL, "parameter '%s' is missing", p->name);
        }
        switch (p->type) {
        case HN_PARAM_FLOAT:
        case HN_PARAM_INT:
        case HN_PARAM_CHOICE:
            if (!json_is_number(v)) {
                return hn_error_set(err, NULL, "parameter '%s' must be a number", p->name);
            }
            x[i] = json_number_value(v);
            break;
        case HN_PARAM_CATEGORICAL: {
            const char *label = json_string_value(v);
            long k = -1;
            for (size_t j = 0; label != NULL && j < p->n_values; j++) {
                if (strcmp(p->labels[j], label) == 0) {
                    k = (long)j;
                }
            }
            if (k < 0) {
                return hn_error_set(err, NULL, "parameter '%s': '%s' is not one of its labels",
                                    p->name, label ? label : "(not a string)");
            }
            x[i] = (double)k;
            break;
        }
        case HN_PARAM_BOOL:
            if (!json_is_boolean(v)) {
                return hn_error_set(err, NULL, "parameter '%s' must be true or false", p->name);
            }
            x[i] = json_is_true(v) ? 1 : 0;
            break;
        }
    }
    char why[512];
    if (!hn_params_valid(params, x, why, sizeof(why))) {
        return hn_error_set(err, NULL, "invalid point: %s", why);
    }
    return 0;
}
