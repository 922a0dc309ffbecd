/*
 * hilnas search spaces: parameters, points, and the space plugin interface.
 *
 * A point is a vector of doubles x[0..n-1], one per parameter, in *native* units:
 *   HN_PARAM_FLOAT        the value, lo <= x <= hi
 *   HN_PARAM_INT          the integer value, lo <= x <= hi
 *   HN_PARAM_CHOICE       one of values[] (an ordered numeric choice, e.g. d_model 64/96/128)
 *   HN_PARAM_CATEGORICAL  the index 0..n_values-1 of labels[]
 *   HN_PARAM_BOOL         0 or 1
 * The unit-cube map (hn_params_to_unit / hn_params_from_unit) is what optimizers work in.
 *
 * Linear constraints sum_j coef[j] * x[j] <= rhs (native units) are part of the parameter set;
 * hn_space_check() enforces bounds, integrality, linear constraints and the plugin's own
 * validity check, in that order: optimizers must never suggest a point it refuses.
 */
#ifndef HILNAS_SPACE_H
#define HILNAS_SPACE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "hilnas/conf.h"
#include "hilnas/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hn_plugin_args;

enum hn_param_type {
    HN_PARAM_FLOAT,
    HN_PARAM_INT,
    HN_PARAM_CHOICE,
    HN_PARAM_CATEGORICAL,
    HN_PARAM_BOOL,
};

struct hn_param {
    char *name;
    enum hn_param_type type;
    double lo, hi;   /* FLOAT/INT bounds (inclusive); CHOICE: min/max of values; else 0,n-1 */
    int log_scale;   /* FLOAT/INT: map to the unit cube in log space (lo > 0) */
    size_t n_values; /* CHOICE and CATEGORICAL; 2 for BOOL */
    double *values;  /* CHOICE: strictly increasing values */
    char **labels;   /* CATEGORICAL: labels */
};

struct hn_linear_constraint {
    double *coef; /* n params; 0 for parameters not involved */
    double rhs;
    char *text; /* as written, for messages */
};

struct hn_params {
    size_t n;
    struct hn_param *p;
    size_t n_linear;
    struct hn_linear_constraint *linear;
};

/* ---- parameter sets (core/params.c) ---- */

/*
 * Parse parameter declarations from a mapping name -> spec, where spec is one of
 *   {type: float, min: A, max: B, log: false}
 *   {type: int, min: A, max: B, log: false}
 *   {type: choice, values: [64, 96, 128]}          (ordered numbers)
 *   {type: categorical, values: [relu, gelu]}      (labels)
 *   {type: bool}
 * and an optional list of linear constraints "x0 + 2*x1 <= 1" (">=" is accepted too).
 * constraints may be NULL. Returns a new set (free with hn_params_free) or NULL with a
 * configuration error naming file:line:col.
 */
struct hn_params *hn_params_parse(const struct hn_config_node *decls,
                                  const struct hn_config_node *constraints, struct hn_error *err);
void hn_params_free(struct hn_params *params);

/* Index of the parameter called name, or -1. */
long hn_params_find(const struct hn_params *params, const char *name);

/* Native point -> unit cube [0,1]^n (CHOICE/CATEGORICAL by index/(n_values-1)). */
void hn_params_to_unit(const struct hn_params *params, const double *x, double *u);
/* Unit cube -> native point, rounding INT/CHOICE/CATEGORICAL/BOOL to valid values. */
void hn_params_from_unit(const struct hn_params *params, const double *u, double *x);
/* Snap a native point to the nearest valid values (clamp, round). */
void hn_params_round(const struct hn_params *params, double *x);
/* 1 if a and b are the same point after rounding (exact for discrete, 1e-12 relative for
 * floats), else 0. */
int hn_params_same(const struct hn_params *params, const double *a, const double *b);

/*
 * A fully discrete set (no FLOAT parameter) as a grid, numbered in mixed radix with the first
 * parameter fastest. hn_params_grid_size: the number of points, or 0 if a parameter is FLOAT or
 * there are more than max points. hn_params_grid_point: point number index (< the size) into x.
 * hn_params_grid_index: the number of x, or -1 if x is not exactly a point of the grid. Linear
 * constraints are ignored: a grid point may be invalid.
 */
uint64_t hn_params_grid_size(const struct hn_params *params, uint64_t max);
void hn_params_grid_point(const struct hn_params *params, uint64_t index, double *x);
int64_t hn_params_grid_index(const struct hn_params *params, const double *x);
/* 1 if x satisfies bounds, integrality and linear constraints; else 0 with why filled. */
int hn_params_valid(const struct hn_params *params, const double *x, char *why, size_t size);

/* {"x0": 0.5, "act": "gelu", "skip": true} (new reference) and back. */
json_t *hn_params_to_json(const struct hn_params *params, const double *x);
int hn_params_from_json(const struct hn_params *params, const json_t *obj, double *x,
                        struct hn_error *err);

/* ---- space plugins ---- */

struct hn_space_ops {
    size_t size; /* sizeof(struct hn_space_ops) as compiled into the plugin */
    /* Parse options and build the space. Returns the plugin's context or NULL with err. */
    void *(*create)(const struct hn_plugin_args *args, struct hn_error *err);
    void (*destroy)(void *ctx);
    /* The parameter set; owned by the plugin, valid until destroy. */
    const struct hn_params *(*params)(void *ctx);
    /* Optional. Plugin-specific validity of a point already within bounds and constraints:
     * 1 valid, 0 invalid (why filled with a short reason). NULL means all points are valid. */
    int (*check)(void *ctx, const double *x, char *why, size_t why_size);
    /* Decode a valid point into the architecture as a JSON object (new reference), or NULL
     * with err. NULL member means "the parameters as a JSON object". */
    json_t *(*decode)(void *ctx, const double *x, struct hn_error *err);
};

/* A created space (opaque; owned by the study). */
struct hn_space;

const struct hn_params *hn_space_params(const struct hn_space *space);
/* Bounds, integrality, linear constraints, then the plugin's check: 1 valid, 0 not (why). */
int hn_space_check(const struct hn_space *space, const double *x, char *why, size_t size);
/* Architecture JSON of a point (new reference), or NULL with err. */
json_t *hn_space_decode(const struct hn_space *space, const double *x, struct hn_error *err);

#ifdef __cplusplus
}
#endif
#endif
