/* Parameter sets: parsing (with error rows), unit-cube map, rounding, JSON, constraints. */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "hilnas/conf.h"
#include "hilnas/space.h"

static struct hn_params *parse(const char *yaml, struct hn_error *err)
{
    struct hn_config_node *root = hn_config_load_string(yaml, "t.yaml", err);
    cr_assert_not_null(root, "%s", err->msg);
    struct hn_params *p = hn_params_parse(hn_config_get(root, "params"),
                                          hn_config_get(root, "constraints"), err);
    hn_config_free(root);
    return p;
}

static const char *mixed =
    "params:\n"
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
    cr_expect(fabs(u[0] - 0.5) < 1e-12, "log scale: 10^-2.5 is the middle of [1e-4, 0.1]: %g", u[0]);
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
        {"params: {a: {type: float, min: 1, max: 1}}\n", "t.yaml:1:40: params.a.max: must be greater"},
        {"params: {a: {type: int, min: 0.5, max: 3}}\n", "integer min and max"},
        {"params: {a: {type: float, min: 0, max: 1, log: true}}\n", "needs min > 0"},
        {"params: {a: {type: choice, values: [1, 2, 1]}}\n", "appears twice"},
        {"params: {a: {type: choice, values: [1, x]}}\n", "expected a number, found 'x'"},
        {"params: {a: {type: categorical, values: []}}\n", "at least one value"},
        {"params: {a: {type: bool, values: [1]}}\n", "unknown key 'values'"},
        {"params: {a: {type: float, min: 0}}\n", "missing required key 'max'"},
        {"params: {a: {type: flot, min: 0, max: 1}}\n", "did you mean 'float'"},
        {"params: {}\n", "declare at least one parameter"},
        {"params: {a: {type: float, min: 0, max: 1}}\nconstraints: [\"a < 1\"]\n", "needs '<=' or '>='"},
        {"params: {a: {type: bool}}\nconstraints: [\"a <= 1\"]\n", "is a bool"},
        {"params: {a: {type: float, min: 0, max: 1}}\nconstraints: [\"3 <= 4\"]\n", "involves no parameter"},
        {"params: {a: {type: float, min: 0, max: 1}}\nconstraints: [\"a a <= 4\"]\n", "expected '+' or '-'"},
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
