/* Parameter sets: parsing (with error rows), unit-cube map, rounding, JSON, constraints. */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/conf.h"
#include "hilnas/space.h"
#include "hilnas/study.h"
#include "hilnas/trial.h"

static struct hn_params *parse(const char *yaml, struct hn_error *err)
{
    struct hn_config_node *root = hn_config_load_string(yaml, "t.yaml", err);
    cr_assert_not_null(root, "%s", err->msg);
    struct hn_params *p =
        hn_params_parse(hn_config_get(root, "params"), hn_config_get(root, "constraints"), err);
    hn_config_free(root);
    return p;
}

static const char *mixed = "params:\n"
                           "  lr: {type: float, min: 0.0001, max: 0.1, log: true}\n"
                           "  layers: {type: int, min: 2, max: 8}\n"
                           "  width: {type: choice, values: [128, 64, 96]}\n"
                           "  act: {type: categorical, values: [relu, gelu, silu]}\n"
                           "  skip: {type: bool}\n"
                           "constraints: [\"layers + 0.01 * width <= 9\"]\n";

Test(params, mixed_space_round_trips)
{
    struct hn_error err;
    struct hn_params *p = parse(mixed, &err);
    cr_assert_not_null(p, "%s", err.msg);
    cr_assert_eq(p->n, 5);
    cr_expect_eq(p->p[2].values[0], 64, "choice values are sorted");
    cr_expect_eq(p->n_linear, 1);
    double x[5] = {pow(10, -2.5), 5, 96, 2, 1}, u[5], back[5];
    hn_params_to_unit(p, x, u);
    cr_expect(fabs(u[0] - 0.5) < 1e-12, "log scale: 10^-2.5 is the middle of [1e-4, 0.1]: %g",
              u[0]);
    cr_expect(fabs(u[1] - 0.5) < 1e-12);
    cr_expect(fabs(u[2] - 0.5) < 1e-12);
    cr_expect(fabs(u[3] - 1.0) < 1e-12);
    hn_params_from_unit(p, u, back);
    cr_expect(hn_params_same(p, x, back), "round trip");
    char why[256];
    cr_expect(hn_params_valid(p, x, why, sizeof(why)), "%s", why);
    double bad[5] = {0.01, 8, 128, 0, 0}; /* 8 + 1.28 > 9 */
    cr_expect(!hn_params_valid(p, bad, why, sizeof(why)));
    cr_expect(strstr(why, "layers + 0.01 * width <= 9") != NULL, "%s", why);
    double nonint[5] = {0.01, 5.5, 96, 2, 1};
    cr_expect(!hn_params_valid(p, nonint, why, sizeof(why)));
    hn_params_round(p, nonint);
    cr_expect(nonint[1] == 6 || nonint[1] == 5);
    json_t *j = hn_params_to_json(p, x);
    cr_expect_str_eq(json_string_value(json_object_get(j, "act")), "silu");
    cr_expect(json_is_true(json_object_get(j, "skip")));
    cr_expect(json_is_integer(json_object_get(j, "layers")));
    double y[5];
    cr_expect_eq(hn_params_from_json(p, j, y, &err), 0, "%s", err.msg);
    cr_expect(hn_params_same(p, x, y));
    json_object_set_new(j, "act", json_string("tanh"));
    cr_expect_eq(hn_params_from_json(p, j, y, &err), -1);
    cr_expect(strstr(err.msg, "tanh") != NULL, "%s", err.msg);
    json_decref(j);
    /* unit corners stay in bounds after mapping */
    double zeros[5] = {0}, ones[5] = {1, 1, 1, 1, 1};
    hn_params_from_unit(p, zeros, y);
    cr_expect(fabs(y[0] - 0.0001) < 1e-15 && y[1] == 2 && y[2] == 64 && y[3] == 0 && y[4] == 0);
    hn_params_from_unit(p, ones, y);
    cr_expect(fabs(y[0] - 0.1) < 1e-15 && y[1] == 8 && y[2] == 128 && y[3] == 2 && y[4] == 1);
    hn_params_free(p);
}

Test(params, constraints_parse_both_sides_and_directions)
{
    struct hn_error err;
    struct hn_params *p = parse("params:\n"
                                "  a: {type: float, min: 0, max: 1}\n"
                                "  b: {type: float, min: 0, max: 1}\n"
                                "constraints: [\"2*a - 0.5 * b + 1 >= b\", \"a <= b\"]\n",
                                &err);
    cr_assert_not_null(p, "%s", err.msg);
    /* 2a - 0.5b + 1 >= b  <=>  -2a + 1.5b <= 1 */
    cr_expect_float_eq(p->linear[0].coef[0], -2, 1e-15);
    cr_expect_float_eq(p->linear[0].coef[1], 1.5, 1e-15);
    cr_expect_float_eq(p->linear[0].rhs, 1, 1e-15);
    /* a <= b  <=>  a - b <= 0 */
    cr_expect_float_eq(p->linear[1].coef[0], 1, 1e-15);
    cr_expect_float_eq(p->linear[1].coef[1], -1, 1e-15);
    cr_expect_float_eq(p->linear[1].rhs, 0, 1e-15);
    hn_params_free(p);
}

Test(params, malformed_declarations_are_refused_with_position)
{
    struct {
        const char *yaml;
        const char *expect;
    } rows[] = {
        {"params: {a: {type: float, min: 1, max: 1}}\n",
         "t.yaml:1:40: params.a.max: must be greater"},
        {"params: {a: {type: int, min: 0.5, max: 3}}\n", "integer min and max"},
        {"params: {a: {type: float, min: 0, max: 1, log: true}}\n", "needs min > 0"},
        {"params: {a: {type: choice, values: [1, 2, 1]}}\n", "appears twice"},
        {"params: {a: {type: choice, values: [1, x]}}\n", "expected a number, found 'x'"},
        {"params: {a: {type: categorical, values: []}}\n", "at least one value"},
        {"params: {a: {type: bool, values: [1]}}\n", "unknown key 'values'"},
        {"params: {a: {type: float, min: 0}}\n", "missing required key 'max'"},
        {"params: {a: {type: flot, min: 0, max: 1}}\n", "did you mean 'float'"},
        {"params: {}\n", "declare at least one parameter"},
        {"params: {a: {type: float, min: 0, max: 1}}\nconstraints: [\"a < 1\"]\n",
         "needs '<=' or '>='"},
        {"params: {a: {type: bool}}\nconstraints: [\"a <= 1\"]\n", "is a bool"},
        {"params: {a: {type: float, min: 0, max: 1}}\nconstraints: [\"3 <= 4\"]\n",
         "involves no parameter"},
        {"params: {a: {type: float, min: 0, max: 1}}\nconstraints: [\"a a <= 4\"]\n",
         "expected '+' or '-'"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct hn_error err;
        hn_error_clear(&err);
        struct hn_params *p = parse(rows[i].yaml, &err);
        cr_expect_null(p, "row %zu must fail", i);
        cr_expect_eq(err.kind, HN_ERR_CONFIG, "row %zu: a configuration error", i);
        cr_expect(strstr(err.msg, rows[i].expect) != NULL, "row %zu: expected '%s' in: %s", i,
                  rows[i].expect, err.msg);
        hn_params_free(p);
    }
}

Test(params, constraint_errors_name_the_constraint_and_position)
{
    struct {
        const char *constraint;
        const char *expect;
    } rows[] = {
        {"a + z <= 1",
         "t.yaml:5:15: constraints[0]: constraint 'a + z <= 1': unknown parameter 'z'"},
        {"a + c <= 1", "parameter 'c' is categorical"},
        {"0x10 * a <= 1", "'0x10' is not a finite decimal number"},
        {"1e999 * a <= 1", "'1e999' is not a finite decimal number"},
        {"a <= 1 <= 2", "only one '<=' or '>='"},
        {" <= a", "a side of the inequality is empty"},
        {"a + <= 1", "expected a number or a parameter name"},
        {"a == b", "needs '<=' or '>='"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml),
                 "params:\n"
                 "  a: {type: float, min: 0, max: 1}\n"
                 "  b: {type: int, min: 0, max: 3}\n"
                 "  c: {type: categorical, values: [u, v]}\n"
                 "constraints: [\"%s\"]\n",
                 rows[i].constraint);
        const char *expect = rows[i].expect;
        struct hn_error err;
        hn_error_clear(&err);
        struct hn_params *p = parse(yaml, &err);
        cr_expect_null(p, "row %zu must fail", i);
        cr_expect_eq(err.kind, HN_ERR_CONFIG, "row %zu: a configuration error", i);
        cr_expect(strstr(err.msg, expect) != NULL, "row %zu: expected '%s' in: %s", i, expect,
                  err.msg);
        hn_params_free(p);
    }
}

Test(params, from_unit_rounds_to_the_nearest_valid_value)
{
    struct hn_error err;
    struct hn_params *p = parse("params:\n"
                                "  f: {type: float, min: -2, max: 6}\n"
                                "  i: {type: int, min: 1, max: 100, log: true}\n"
                                "  j: {type: int, min: -3, max: 4}\n"
                                "  c: {type: choice, values: [0.5, 2, 7, 100]}\n"
                                "  k: {type: categorical, values: [p, q, r]}\n"
                                "  b: {type: bool}\n"
                                "  one: {type: choice, values: [3]}\n",
                                &err);
    cr_assert_not_null(p, "%s", err.msg);
    double worst = 0;
    for (int step = 0; step <= 1000; step++) {
        double t = step / 1000.0, u[7], x[7], back[7];
        for (int i = 0; i < 7; i++) {
            u[i] = t;
        }
        hn_params_from_unit(p, u, x);
        char why[256];
        cr_assert(hn_params_valid(p, x, why, sizeof(why)), "u = %g: %s", t, why);
        /* float: linear, and to_unit inverts it */
        worst = fmax(worst, fabs(x[0] - (-2 + 8 * t)));
        hn_params_to_unit(p, x, back);
        worst = fmax(worst, fabs(back[0] - t));
        /* log int: the integer nearest exp(log 1 + t log 100) */
        double cont = exp(t * log(100.0));
        cr_assert(fabs(x[1] - cont) <= 0.5 + 1e-9, "u = %g: %g for %g", t, x[1], cont);
        /* plain int: nearest of -3 + 7 t */
        cr_assert(fabs(x[2] - (-3 + 7 * t)) <= 0.5 + 1e-9);
        /* choice and categorical: the index nearest t (n - 1), by brute force */
        size_t best = 0;
        for (size_t k = 1; k < 4; k++) {
            if (fabs(k / 3.0 - t) < fabs(best / 3.0 - t) - 1e-12) {
                best = k;
            }
        }
        const double values[4] = {0.5, 2, 7, 100};
        if (fabs(fabs(best / 3.0 - t) - 0.5 / 3.0) > 1e-9) { /* not a tie */
            cr_assert_eq(x[3], values[best], "u = %g: %g, expected %g", t, x[3], values[best]);
        }
        double kbest = round(2 * t);
        if (fabs(2 * t - floor(2 * t) - 0.5) > 1e-9) {
            cr_assert_eq(x[4], kbest, "u = %g", t);
        }
        cr_assert_eq(x[5], t >= 0.5 ? 1 : 0);
        cr_assert_eq(x[6], 3);
        cr_assert_eq(back[6], 0.5, "a single value sits in the middle of the cube");
    }
    cr_expect(worst < 1e-12, "float map worst error %g", worst);
    /* outside the cube: clamped; NAN: the middle */
    double u[7] = {-1, 2, -0.5, 1.5, NAN, NAN, 0}, x[7];
    hn_params_from_unit(p, u, x);
    cr_expect(x[0] == -2 && x[1] == 100 && x[2] == -3 && x[3] == 100 && x[4] == 1 && x[5] == 1);
    hn_params_free(p);
}

Test(params, round_and_same)
{
    struct hn_error err;
    struct hn_params *p = parse("params:\n"
                                "  f: {type: float, min: 0, max: 10}\n"
                                "  i: {type: int, min: 0, max: 5}\n"
                                "  c: {type: choice, values: [1, 10, 100]}\n",
                                &err);
    cr_assert_not_null(p, "%s", err.msg);
    double x[3] = {11, 2.4, 40};
    hn_params_round(p, x);
    cr_expect(x[0] == 10 && x[1] == 2 && x[2] == 10, "%g %g %g", x[0], x[1], x[2]);
    double a[3] = {5, 2, 10}, b[3] = {5 + 1e-14, 2.4, 12}, c[3] = {5 + 1e-9, 2, 10};
    cr_expect(hn_params_same(p, a, b), "equal after rounding");
    cr_expect(!hn_params_same(p, a, c), "floats 1e-9 apart differ");
    double d[3] = {5, 3, 10};
    cr_expect(!hn_params_same(p, a, d));
    hn_params_free(p);
}

Test(params, json_types_and_errors)
{
    struct hn_error err;
    struct hn_params *p = parse("params:\n"
                                "  f: {type: float, min: 0, max: 1}\n"
                                "  i: {type: int, min: 0, max: 5}\n"
                                "  c: {type: choice, values: [0.25, 4]}\n"
                                "  k: {type: categorical, values: [p, q]}\n"
                                "  b: {type: bool}\n",
                                &err);
    cr_assert_not_null(p, "%s", err.msg);
    double x[5] = {0.5, 3, 0.25, 1, 0};
    json_t *j = hn_params_to_json(p, x);
    char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    cr_expect_str_eq(text, "{\"b\":false,\"c\":0.25,\"f\":0.5,\"i\":3,\"k\":\"q\"}");
    free(text);
    json_decref(j);
    struct {
        const char *json;
        const char *expect;
    } rows[] = {
        {"{\"f\":0.5,\"i\":3,\"c\":4,\"k\":\"q\",\"b\":true}", NULL},
        {"{\"f\":0.5,\"i\":3,\"c\":4,\"k\":\"q\",\"b\":true,\"z\":1}", "unknown parameter 'z'"},
        {"{\"f\":0.5,\"i\":3,\"c\":4,\"k\":\"q\"}", "parameter 'b' is missing"},
        {"{\"f\":\"0.5\",\"i\":3,\"c\":4,\"k\":\"q\",\"b\":true}", "'f' must be a number"},
        {"{\"f\":0.5,\"i\":3,\"c\":4,\"k\":1,\"b\":true}", "'k': '(not a string)' is not one"},
        {"{\"f\":0.5,\"i\":3,\"c\":4,\"k\":\"q\",\"b\":1}", "'b' must be true or false"},
        {"{\"f\":0.5,\"i\":6,\"c\":4,\"k\":\"q\",\"b\":true}", "i = 6 is outside [0, 5]"},
        {"{\"f\":0.5,\"i\":3,\"c\":3,\"k\":\"q\",\"b\":true}", "c = 3 is not one of its values"},
        {"[1, 2]", "must be a JSON object"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        json_t *obj = json_loads(rows[i].json, 0, NULL);
        cr_assert_not_null(obj);
        double y[5];
        hn_error_clear(&err);
        int rc = hn_params_from_json(p, obj, y, &err);
        if (rows[i].expect == NULL) {
            cr_expect_eq(rc, 0, "row %zu: %s", i, err.msg);
            cr_expect(y[0] == 0.5 && y[1] == 3 && y[2] == 4 && y[3] == 1 && y[4] == 1);
        } else {
            cr_expect_eq(rc, -1, "row %zu must fail", i);
            cr_expect(strstr(err.msg, rows[i].expect) != NULL, "row %zu: expected '%s' in: %s", i,
                      rows[i].expect, err.msg);
        }
        json_decref(obj);
    }
    hn_params_free(p);
}

/* The grid of a discrete set against brute force: every index gives a distinct point of the
 * declared values, and the point gives its index back. */
Test(params, grid_numbers_every_point_of_a_discrete_set_once)
{
    struct hn_error err;
    struct hn_params *p = parse("params:\n"
                                "  layers: {type: int, min: -1, max: 2}\n"
                                "  width: {type: choice, values: [128, 64, 96]}\n"
                                "  act: {type: categorical, values: [relu, gelu]}\n"
                                "  skip: {type: bool}\n"
                                "constraints: [\"layers + 0.01 * width <= 2\"]\n",
                                &err);
    cr_assert_not_null(p, "%s", err.msg);
    uint64_t size = hn_params_grid_size(p, 1000);
    cr_assert_eq(size, 4 * 3 * 2 * 2);
    cr_expect_eq(hn_params_grid_size(p, 47), 0, "more points than max");
    cr_expect_eq(hn_params_grid_size(p, 48), 48);
    double pts[48][4];
    int invalid = 0;
    for (uint64_t i = 0; i < size; i++) {
        hn_params_grid_point(p, i, pts[i]);
        cr_expect(pts[i][0] >= -1 && pts[i][0] <= 2 && pts[i][0] == floor(pts[i][0]));
        cr_expect(pts[i][1] == 64 || pts[i][1] == 96 || pts[i][1] == 128);
        cr_expect(pts[i][2] == 0 || pts[i][2] == 1);
        cr_expect(pts[i][3] == 0 || pts[i][3] == 1);
        cr_expect_eq(hn_params_grid_index(p, pts[i]), (int64_t)i);
        for (uint64_t j = 0; j < i; j++) {
            cr_expect(!hn_params_same(p, pts[i], pts[j]), "points %d and %d coincide", (int)i,
                      (int)j);
        }
        char why[256];
        invalid += !hn_params_valid(p, pts[i], why, sizeof(why));
    }
    /* the grid ignores the constraint: layers 2 with any width, layers 1 with width 128 */
    cr_expect_eq(invalid, (3 + 1) * 4);
    double off[4] = {0.5, 64, 0, 1}, unknown[4] = {0, 80, 0, 1};
    cr_expect_eq(hn_params_grid_index(p, off), -1);
    cr_expect_eq(hn_params_grid_index(p, unknown), -1);
    hn_params_free(p);

    p = parse("params:\n  x: {type: float, min: 0, max: 1}\n  k: {type: int, min: 0, max: 3}\n",
              &err);
    cr_assert_not_null(p, "%s", err.msg);
    cr_expect_eq(hn_params_grid_size(p, 1000), 0, "a float parameter has no grid");
    hn_params_free(p);
    p = parse("params:\n  k: {type: int, min: 0, max: 9000000000000000000}\n", &err);
    cr_assert_not_null(p, "%s", err.msg);
    cr_expect_eq(hn_params_grid_size(p, 1 << 24), 0, "an integer range beyond max");
    hn_params_free(p);
}

Test(params, history_has_point_checks_trials_and_the_batch)
{
    struct hn_error err;
    struct hn_params *p = parse(mixed, &err);
    cr_assert_not_null(p, "%s", err.msg);
    double a[5] = {0.01, 5, 96, 2, 1}, b[5] = {0.01, 6, 96, 2, 1}, c[5] = {0.02, 5, 96, 2, 1};
    double other[3] = {0.01, 5, 96};
    struct hn_trial *trials[2] = {hn_trial_new(1, "search", a, 5),
                                  hn_trial_new(2, "search", other, 3)};
    struct hn_history h = {.n = 2, .trials = trials};
    cr_expect(hn_history_has_point(&h, p, a, NULL, 0));
    double a_again[5] = {0.01 * (1 + 1e-15), 5, 96, 2, 1};
    cr_expect(hn_history_has_point(&h, p, a_again, NULL, 0), "same float up to 1e-12");
    cr_expect(!hn_history_has_point(&h, p, b, NULL, 0));
    cr_expect(!hn_history_has_point(&h, p, c, NULL, 0));
    double batch[10];
    memcpy(batch, c, sizeof(c));
    memcpy(batch + 5, b, sizeof(b));
    cr_expect(!hn_history_has_point(&h, p, b, batch, 1), "only the first nb rows count");
    cr_expect(hn_history_has_point(&h, p, b, batch, 2));
    cr_expect(hn_history_has_point(NULL, p, c, batch, 1));
    cr_expect(!hn_history_has_point(NULL, p, a, NULL, 0));
    hn_trial_free(trials[0]);
    hn_trial_free(trials[1]);
    hn_params_free(p);
}
