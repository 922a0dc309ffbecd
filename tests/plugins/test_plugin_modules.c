/*
 * The built modules plugins/space-box.la and plugins/evaluator-testfn.la, loaded with libltdl
 * through the registry: the box space's parameters and errors, the testfn evaluator's metric
 * names at create time, its parameter lookup by name, its errors, and its noise (repeatable
 * per trial seed, independent between instances, of the declared deviation).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/registry.h"
#include "core/study.h"
#include "hilnas/evaluator.h"
#include "plugins/evaluator-testfn/testfn.h"

static const struct hn_plugin *load(const char *module, enum hn_kind kind, const char *name)
{
    const char *builddir = getenv("abs_top_builddir");
    cr_assert_not_null(builddir, "abs_top_builddir is not set (run through make check)");
    char path[4096];
    snprintf(path, sizeof(path), "%s/plugins/%s.la", builddir, module);
    struct hn_error err;
    const struct hn_plugin *p = hn_registry_load_path(path, kind, name, &err);
    cr_assert_not_null(p, "%s", err.msg);
    return p;
}

/* A box space built from yaml's `space:` mapping. */
struct box_space {
    struct hn_config_node *root;
    const struct hn_plugin *plugin;
    struct hn_space space;
};

static int box_open(struct box_space *b, const char *yaml, struct hn_error *err)
{
    memset(b, 0, sizeof(*b));
    b->root = hn_config_load_string(yaml, "study.yaml", err);
    cr_assert_not_null(b->root, "%s", err->msg);
    b->plugin = load("space-box", HN_KIND_SPACE, "box");
    struct hn_plugin_args args = {
        .node = hn_config_get(b->root, "space"), .instance = "box", .threads = 1};
    hn_error_clear(err);
    b->space.plugin = b->plugin;
    /* as a study does: the core checks the options, then creates */
    if (hn_instance_check_options(b->plugin, args.node, "box", NULL, err) != 0) {
        return -1;
    }
    b->space.ctx = hn_instance_create(b->plugin, &args, err);
    if (b->space.ctx == NULL) {
        return -1;
    }
    b->space.params = b->plugin->space->params(b->space.ctx);
    return 0;
}

static void box_close(struct box_space *b)
{
    if (b->space.ctx != NULL) {
        b->plugin->space->destroy(b->space.ctx);
    }
    hn_config_free(b->root);
}

Test(box, declares_parameters_and_constraints)
{
    struct box_space b;
    struct hn_error err;
    int rc = box_open(&b,
                      "space:\n"
                      "  plugin: box\n"
                      "  params:\n"
                      "    width: {type: choice, values: [64, 128]}\n"
                      "    depth: {type: int, min: 2, max: 6}\n"
                      "  constraints: [\"depth + 0.01 * width <= 7\"]\n",
                      &err);
    cr_assert_eq(rc, 0, "%s", err.msg);
    const struct hn_params *p = b.space.params;
    cr_assert_eq(p->n, 2);
    cr_expect_str_eq(p->p[0].name, "width");
    cr_expect_eq(p->p[1].type, HN_PARAM_INT);
    cr_expect_eq(p->n_linear, 1);
    cr_expect_null(b.plugin->space->check, "box has no check of its own");
    cr_expect_null(b.plugin->space->decode, "box decodes to the parameters as JSON");
    char why[256];
    double ok[2] = {128, 5}, bad[2] = {128, 6};
    cr_expect(hn_space_check(&b.space, ok, why, sizeof(why)), "%s", why);
    cr_expect(!hn_space_check(&b.space, bad, why, sizeof(why)));
    cr_expect(strstr(why, "depth + 0.01 * width <= 7") != NULL, "%s", why);
    json_t *arch = hn_space_decode(&b.space, ok, &err);
    cr_assert_not_null(arch, "%s", err.msg);
    cr_expect_eq(json_integer_value(json_object_get(arch, "width")), 128);
    cr_expect_eq(json_integer_value(json_object_get(arch, "depth")), 5);
    json_decref(arch);
    box_close(&b);
}

Test(box, errors_name_the_position)
{
    struct {
        const char *yaml;
        const char *expect;
    } rows[] = {
        {"space: {plugin: box}\n", "missing required option 'params'"},
        {"space: {plugin: box, params: {x: {type: float, min: 0, max: 1}}, constrains: []}\n",
         "unknown option 'constrains'"},
        {"space:\n  plugin: box\n  params:\n    x0: {type: float, min: -5, max: -5}\n",
         "study.yaml:4:37: space 'box': space.params.x0.max: must be greater than min (-5)"},
        {"space:\n  plugin: box\n  params: {x: {type: float, min: 0, max: 1}}\n"
         "  constraints: [\"x + y <= 1\"]\n",
         "study.yaml:4:17: space 'box': space.constraints[0]: constraint 'x + y <= 1': unknown "
         "parameter 'y'"},
        {"space:\n  plugin: box\n  params: {x: {type: float, min: 0, max: 1}}\n"
         "  constraints: \"x <= 1\"\n",
         "space.constraints must be a list"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct box_space b;
        struct hn_error err;
        cr_expect_eq(box_open(&b, rows[i].yaml, &err), -1, "row %zu must fail", i);
        cr_expect_eq(err.kind, HN_ERR_CONFIG, "row %zu: %s", i, err.msg);
        cr_expect(strstr(err.msg, rows[i].expect) != NULL, "row %zu: expected '%s' in: %s", i,
                  rows[i].expect, err.msg);
        box_close(&b);
    }
}

/* ---- testfn ---- */

struct evaluator {
    struct hn_config_node *root;
    const struct hn_plugin *plugin;
    void *ctx;
};

/* Create testfn from yaml's `f:` mapping, over space (may be NULL). */
static int testfn_open(struct evaluator *e, const char *yaml, const char *instance,
                       const struct hn_space *space, struct hn_error *err)
{
    memset(e, 0, sizeof(*e));
    e->root = hn_config_load_string(yaml, "study.yaml", err);
    cr_assert_not_null(e->root, "%s", err->msg);
    e->plugin = load("evaluator-testfn", HN_KIND_EVALUATOR, "testfn");
    struct hn_plugin_args args = {
        .node = hn_config_get(e->root, "f"), .instance = instance, .space = space, .threads = 1};
    hn_error_clear(err);
    e->ctx = e->plugin->evaluator->create(&args, err);
    return e->ctx != NULL ? 0 : -1;
}

static void testfn_close(struct evaluator *e)
{
    if (e->ctx != NULL) {
        e->plugin->evaluator->destroy(e->ctx);
    }
    hn_config_free(e->root);
}

Test(testfn_plugin, metric_names_are_known_at_create_time)
{
    struct {
        const char *options;
        const char *names[6];
    } rows[] = {
        {"function: branin", {"branin"}},
        {"function: hartmann6", {"hartmann6"}},
        {"function: ackley, dim: 5", {"ackley"}},
        {"function: branincurrin", {"branin", "currin"}},
        {"function: zdt1", {"f0", "f1"}},
        {"function: zdt3, dim: 4", {"f0", "f1"}},
        {"function: dtlz2", {"f0", "f1"}},
        {"function: dtlz2, objectives: 4", {"f0", "f1", "f2", "f3"}},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char yaml[256];
        snprintf(yaml, sizeof(yaml), "f: {plugin: testfn, %s}\n", rows[i].options);
        struct evaluator e;
        struct hn_error err;
        cr_assert_eq(testfn_open(&e, yaml, "f", NULL, &err), 0, "row %zu: %s", i, err.msg);
        const char *const *names = e.plugin->evaluator->metrics(e.ctx);
        size_t k = 0;
        for (; rows[i].names[k] != NULL; k++) {
            cr_assert_not_null(names[k], "row %zu: metric %zu missing", i, k);
            cr_expect_str_eq(names[k], rows[i].names[k], "row %zu", i);
        }
        cr_expect_null(names[k], "row %zu: more metrics than expected", i);
        testfn_close(&e);
    }
}

Test(testfn_plugin, bad_configurations_are_refused_at_create_time)
{
    struct {
        const char *space;   /* params of a box space, or NULL for none */
        const char *options; /* of testfn */
        const char *expect;
    } rows[] = {
        {"{x0: {type: float, min: 0, max: 1}}", "function: branin",
         "needs parameters x0..x1, but the space has no 'x1'"},
        {NULL, "function: dtlz2, dim: 3, objectives: 3", "dtlz2 needs dim >= 4, found 3"},
        {NULL, "function: zdt2, dim: 1", "zdt2 needs dim >= 2, found 1"},
        {NULL, "function: branin, dim: 3", "branin has dimension 2, not 3"},
        {NULL, "function: zdt1, objectives: 3", "'objectives' is for dtlz2"},
        {NULL, "function: rosenbrock", "function"},
        {NULL, "function: branin, noise_std: -1", "noise_std"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct box_space b = {0};
        struct hn_error err;
        char yaml[512];
        if (rows[i].space != NULL) {
            snprintf(yaml, sizeof(yaml), "space: {plugin: box, params: %s}\n", rows[i].space);
            cr_assert_eq(box_open(&b, yaml, &err), 0, "%s", err.msg);
        }
        snprintf(yaml, sizeof(yaml), "f: {plugin: testfn, %s}\n", rows[i].options);
        struct evaluator e;
        cr_expect_eq(testfn_open(&e, yaml, "f", rows[i].space ? &b.space : NULL, &err), -1,
                     "row %zu must fail", i);
        cr_expect_eq(err.kind, HN_ERR_CONFIG, "row %zu: %s", i, err.msg);
        cr_expect(strstr(err.msg, rows[i].expect) != NULL, "row %zu: expected '%s' in: %s", i,
                  rows[i].expect, err.msg);
        testfn_close(&e);
        if (rows[i].space != NULL) {
            box_close(&b);
        }
    }
}

/* Evaluate one point; returns the metric values in f (and sems). */
static void evaluate(struct evaluator *e, const struct hn_params *params, const double *x,
                     uint64_t seed, double *f, double *sem, size_t m)
{
    struct hn_trial *trial = hn_trial_new(0, "s", x, params->n);
    cr_assert_not_null(trial);
    struct hn_eval_request req = {.trial = trial, .params = params, .seed = seed, .threads = 1};
    struct hn_metrics out = {0};
    struct hn_error err;
    cr_assert_eq(e->plugin->evaluator->evaluate(e->ctx, &req, &out, &err), 0, "%s", err.msg);
    const char *const *names = e->plugin->evaluator->metrics(e->ctx);
    cr_assert_eq(out.n, m);
    for (size_t j = 0; j < m; j++) {
        const struct hn_metric *metric = hn_metrics_get(&out, names[j]);
        cr_assert_not_null(metric, "metric %s missing", names[j]);
        f[j] = metric->value;
        sem[j] = metric->sem;
    }
    hn_metrics_clear(&out);
    free(out.m);
    hn_trial_free(trial);
}

Test(testfn_plugin, parameters_are_read_by_name)
{
    /* x1 declared before x0, and an unrelated parameter in between */
    struct box_space b;
    struct hn_error err;
    cr_assert_eq(box_open(&b,
                          "space:\n"
                          "  plugin: box\n"
                          "  params:\n"
                          "    x1: {type: float, min: 0, max: 15}\n"
                          "    other: {type: int, min: 0, max: 3}\n"
                          "    x0: {type: float, min: -5, max: 10}\n",
                          &err),
                 0, "%s", err.msg);
    struct evaluator e;
    cr_assert_eq(testfn_open(&e, "f: {plugin: testfn, function: branin}\n", "f", &b.space, &err), 0,
                 "%s", err.msg);
    double x[3] = {2.275, 1, M_PI}, f, sem;
    evaluate(&e, b.space.params, x, 1, &f, &sem, 1);
    cr_expect(fabs(f - TESTFN_BRANIN_MIN) < 1e-5, "branin(pi, 2.275) = %.8f", f);
    cr_expect(isnan(sem), "no noise: sem unknown (NAN), found %g", sem);
    testfn_close(&e);
    box_close(&b);
}

Test(testfn_plugin, noise_repeats_per_trial_seed_and_has_the_declared_deviation)
{
    struct box_space b;
    struct hn_error err;
    cr_assert_eq(box_open(&b,
                          "space: {plugin: box, params: {x0: {type: float, min: 0, max: 1},\n"
                          "        x1: {type: float, min: 0, max: 1}}}\n",
                          &err),
                 0, "%s", err.msg);
    const char *yaml = "f: {plugin: testfn, function: branincurrin, noise_std: 0.5}\n";
    struct evaluator e, e2;
    cr_assert_eq(testfn_open(&e, yaml, "quality", &b.space, &err), 0, "%s", err.msg);
    cr_assert_eq(testfn_open(&e2, yaml, "other", &b.space, &err), 0, "%s", err.msg);
    double x[2] = {0.3, 0.6}, truth[2], f[2], g[2], h[2], sem[2];
    testfn_branincurrin(x, truth);
    evaluate(&e, b.space.params, x, 42, f, sem, 2);
    evaluate(&e, b.space.params, x, 42, g, sem, 2);
    cr_expect(f[0] == g[0] && f[1] == g[1], "the same trial seed gives the same noise");
    cr_expect(sem[0] == 0.5 && sem[1] == 0.5, "sem = noise_std");
    evaluate(&e2, b.space.params, x, 42, h, sem, 2);
    cr_expect(f[0] != h[0] && f[1] != h[1], "another instance draws other noise");
    /* over 4000 trial seeds the noise has mean 0 and deviation 0.5 */
    enum { N = 4000 };
    double sum[2] = {0}, sq[2] = {0}, cross = 0;
    for (uint64_t seed = 0; seed < N; seed++) {
        evaluate(&e, b.space.params, x, seed, f, sem, 2);
        for (int j = 0; j < 2; j++) {
            double z = f[j] - truth[j];
            sum[j] += z;
            sq[j] += z * z;
        }
        cross += (f[0] - truth[0]) * (f[1] - truth[1]);
    }
    for (int j = 0; j < 2; j++) {
        double mean = sum[j] / N, sd = sqrt(sq[j] / N - mean * mean);
        cr_expect(fabs(mean) < 4 * 0.5 / sqrt(N), "objective %d: noise mean %g", j, mean);
        cr_expect(fabs(sd - 0.5) < 0.05, "objective %d: noise deviation %g", j, sd);
    }
    cr_expect(fabs(cross / N) < 4 * 0.25 / sqrt(N), "noise of the two objectives correlated: %g",
              cross / N);
    testfn_close(&e);
    testfn_close(&e2);
    box_close(&b);
}

Test(testfn_plugin, default_dimensions)
{
    /* zdt1 reads x0..x29 by default, dtlz2 x0..x5, ackley x0..x1: the space lacks the last */
    struct {
        const char *options;
        const char *missing;
    } rows[] = {
        {"function: zdt1", "x0..x29, but the space has no 'x29'"},
        {"function: dtlz2", "x0..x5, but the space has no 'x5'"},
        {"function: dtlz2, objectives: 7", "x0..x7, but the space has no 'x7'"},
        {"function: ackley", "x0..x1, but the space has no 'x1'"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct box_space b;
        struct hn_error err;
        char yaml[2048];
        size_t len = (size_t)snprintf(yaml, sizeof(yaml), "space: {plugin: box, params: {");
        size_t top = strstr(rows[i].missing, "x29") ? 29
                                                    : (strstr(rows[i].missing, "x7")   ? 7
                                                       : strstr(rows[i].missing, "x5") ? 5
                                                                                       : 1);
        for (size_t k = 0; k < top; k++) {
            len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
                                    "%sx%zu: {type: float, min: 0, max: 1}", k ? ", " : "", k);
        }
        snprintf(yaml + len, sizeof(yaml) - len, "}}\n");
        cr_assert_eq(box_open(&b, yaml, &err), 0, "%s", err.msg);
        struct evaluator e;
        snprintf(yaml, sizeof(yaml), "f: {plugin: testfn, %s}\n", rows[i].options);
        cr_expect_eq(testfn_open(&e, yaml, "f", &b.space, &err), -1, "row %zu must fail", i);
        cr_expect(strstr(err.msg, rows[i].missing) != NULL, "row %zu: expected '%s' in: %s", i,
                  rows[i].missing, err.msg);
        testfn_close(&e);
        box_close(&b);
    }
}

Test(testfn_plugin, without_a_space_at_create_parameters_are_found_at_evaluation)
{
    struct box_space b;
    struct hn_error err;
    cr_assert_eq(box_open(&b,
                          "space: {plugin: box, params: {x1: {type: float, min: 0, max: 15},\n"
                          "        x0: {type: float, min: -5, max: 10}}}\n",
                          &err),
                 0, "%s", err.msg);
    struct evaluator e;
    cr_assert_eq(testfn_open(&e, "f: {plugin: testfn, function: branin}\n", "f", NULL, &err), 0,
                 "%s", err.msg);
    double x[2] = {12.275, -M_PI}, f, sem;
    evaluate(&e, b.space.params, x, 1, &f, &sem, 1);
    cr_expect(fabs(f - TESTFN_BRANIN_MIN) < 1e-5, "branin(-pi, 12.275) = %.8f", f);
    testfn_close(&e);
    cr_assert_eq(testfn_open(&e, "f: {plugin: testfn, function: hartmann6}\n", "f", NULL, &err), 0,
                 "%s", err.msg);
    struct hn_trial *trial = hn_trial_new(0, "s", x, 2);
    struct hn_eval_request req = {.trial = trial, .params = b.space.params, .seed = 1};
    struct hn_metrics out = {0};
    cr_expect_eq(e.plugin->evaluator->evaluate(e.ctx, &req, &out, &err), -1);
    cr_expect(strstr(err.msg, "space has no 'x2'") != NULL, "%s", err.msg);
    hn_metrics_clear(&out);
    free(out.m);
    hn_trial_free(trial);
    testfn_close(&e);
    box_close(&b);
}

Test(testfn_plugin, categorical_and_bool_parameters_give_their_index)
{
    struct box_space b;
    struct hn_error err;
    cr_assert_eq(box_open(&b,
                          "space: {plugin: box, params: {x0: {type: categorical, values: [a, b, "
                          "c]},\n        x1: {type: bool}}}\n",
                          &err),
                 0, "%s", err.msg);
    struct evaluator e;
    cr_assert_eq(testfn_open(&e, "f: {plugin: testfn, function: ackley}\n", "f", &b.space, &err), 0,
                 "%s", err.msg);
    double x[2] = {2, 1}, f, sem;
    evaluate(&e, b.space.params, x, 1, &f, &sem, 1);
    cr_expect(fabs(f - testfn_ackley(x, 2)) < 1e-15 && f > 1, "ackley(c, true) = %g", f);
    testfn_close(&e);
    box_close(&b);
}
