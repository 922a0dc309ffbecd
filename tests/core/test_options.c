/*
 * Typed plugin option tables (include/hilnas/plugin.h): hn_options_apply fills a context
 * struct from a YAML node (defaults, bounds, enums, required options, unknown keys with
 * suggestions) and hn_options_describe prints the table for `hilnas plugins --options`.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/plugin.h"

struct demo_ctx {
    int64_t batch;
    double rate;
    int verbose;
    const char *name;
    int mode;
    const struct hn_config_node *extra;
    int64_t need;
    int64_t seed;
};

static const char *const demo_modes[] = {"uniform", "sobol", NULL};

static const struct hn_option demo_options[] = {
    {.name = "batch",
     .type = HN_OPT_INT,
     .def = "1",
     .min = 1,
     .max = 1024,
     .bounded = 1,
     .offset = offsetof(struct demo_ctx, batch),
     .help = "Points suggested per ask."},
    {.name = "rate",
     .type = HN_OPT_DOUBLE,
     .def = "0.5",
     .min = 0,
     .max = 1,
     .bounded = 1,
     .offset = offsetof(struct demo_ctx, rate),
     .help = "A fraction."},
    {.name = "verbose",
     .type = HN_OPT_BOOL,
     .def = "false",
     .offset = offsetof(struct demo_ctx, verbose),
     .help = "Say more."},
    {.name = "name",
     .type = HN_OPT_STRING,
     .def = "anon",
     .offset = offsetof(struct demo_ctx, name),
     .help = "A name."},
    {.name = "mode",
     .type = HN_OPT_ENUM,
     .def = "uniform",
     .choices = demo_modes,
     .offset = offsetof(struct demo_ctx, mode),
     .help = "How points are drawn."},
    {.name = "extra",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct demo_ctx, extra),
     .help = "Anything."},
    {.name = "need",
     .type = HN_OPT_INT,
     .offset = offsetof(struct demo_ctx, need),
     .help = "A required count."},
    {.name = "seed",
     .type = HN_OPT_INT,
     .def = "-1",
     .min = -1,
     .max = 9.2e18,
     .bounded = 1,
     .offset = offsetof(struct demo_ctx, seed),
     .help = "Random seed (-1: the study's)."},
    {.name = NULL},
};

#define VALID "valid: batch, rate, verbose, name, mode, extra, need, seed"

static struct hn_config_node *load_ok(const char *text)
{
    struct hn_error err = {0};
    struct hn_config_node *root = hn_config_load_string(text, "study.yaml", &err);
    cr_assert_not_null(root, "loading failed: %s\n%s", err.msg, text);
    return root;
}

/* The optimizer node sits at line 2, column 3 in every document below. */
static const struct hn_config_node *optimizer_node(const struct hn_config_node *root)
{
    const struct hn_config_node *n = hn_config_get(root, "optimizer");
    cr_assert_not_null(n);
    return n;
}

Test(options, defaults_fill_every_field)
{
    struct hn_config_node *root = load_ok("optimizer:\n  plugin: random\n  need: 3\n");
    struct demo_ctx ctx;
    memset(&ctx, 0xAB, sizeof(ctx));
    struct hn_error err = {0};
    cr_assert_eq(hn_options_apply(demo_options, optimizer_node(root), &ctx, "optimizer 'random'",
                                  "random", &err),
                 0, "%s", err.msg);
    cr_expect_eq(ctx.batch, 1);
    cr_expect_eq(ctx.rate, 0.5);
    cr_expect_eq(ctx.verbose, 0);
    cr_expect_eq(ctx.name, demo_options[3].def, "the default string is the table's own");
    cr_expect_eq(ctx.mode, 0);
    cr_expect_null(ctx.extra);
    cr_expect_eq(ctx.need, 3);
    cr_expect_eq(ctx.seed, -1);
    hn_config_free(root);
}

Test(options, values_from_the_tree)
{
    struct hn_config_node *root = load_ok("optimizer:\n"
                                          "  plugin: random\n"
                                          "  batch: 1024\n"
                                          "  rate: 0\n"
                                          "  verbose: true\n"
                                          "  name: bob\n"
                                          "  mode: sobol\n"
                                          "  extra: [1, {a: 2}]\n"
                                          "  need: -4\n"
                                          "  seed: 9000000000000000000\n");
    const struct hn_config_node *node = optimizer_node(root);
    struct demo_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    struct hn_error err = {0};
    cr_assert_eq(hn_options_apply(demo_options, node, &ctx, "optimizer 'random'", "random", &err),
                 0, "%s", err.msg);
    cr_expect_eq(ctx.batch, 1024);
    cr_expect_eq(ctx.rate, 0.0);
    cr_expect_eq(ctx.verbose, 1);
    cr_expect_str_eq(ctx.name, "bob");
    cr_expect_eq(ctx.name, hn_config_get(node, "name")->value, "strings are borrowed");
    cr_expect_eq(ctx.mode, 1);
    cr_expect_eq(ctx.extra, hn_config_get(node, "extra"));
    cr_expect_eq(ctx.extra->type, HN_NODE_SEQUENCE);
    cr_expect_eq(ctx.need, -4);
    cr_expect_eq(ctx.seed, INT64_C(9000000000000000000));
    /* `key: ~` means the default */
    hn_config_free(root);
    root = load_ok("optimizer:\n  batch: ~\n  name:\n  need: 2\n");
    cr_assert_eq(hn_options_apply(demo_options, optimizer_node(root), &ctx, "optimizer 'random'",
                                  "random", &err),
                 0, "%s", err.msg);
    cr_expect_eq(ctx.batch, 1);
    cr_expect_str_eq(ctx.name, "anon");
    hn_config_free(root);
}

Test(options, refused_values_name_where_and_what)
{
    struct {
        const char *body; /* lines 3.. of "optimizer:\n  plugin: random\n" */
        const char *msg;  /* the whole message */
    } rows[] = {
        {"  need: 1\n  bacth: 2\n",
         "study.yaml:4:3: optimizer 'random': unknown option 'bacth' (did you mean 'batch'? " VALID
         "; see 'hilnas plugins --options random')"},
        {"  need: 1\n  colour: red\n",
         "study.yaml:4:3: optimizer 'random': unknown option 'colour' (" VALID
         "; see 'hilnas plugins --options random')"},
        {"  need: 1\n  batch: 0\n",
         "study.yaml:4:10: optimizer 'random': option 'batch' must be >= 1, found 0"},
        {"  need: 1\n  batch: 2000\n",
         "study.yaml:4:10: optimizer 'random': option 'batch' must be <= 1024, found 2000"},
        {"  need: 1\n  batch: abc\n",
         "study.yaml:4:10: optimizer 'random': option 'batch': expected an integer, found 'abc'"},
        {"  need: 1\n  batch: 2.5\n",
         "study.yaml:4:10: optimizer 'random': option 'batch': expected an integer, found '2.5'"},
        {"  need: 1\n  batch: [1]\n",
         "study.yaml:4:10: optimizer 'random': option 'batch': expected an integer, found a list"},
        {"  need: 1\n  rate: 1.5\n",
         "study.yaml:4:9: optimizer 'random': option 'rate' must be <= 1, found 1.5"},
        {"  need: 1\n  rate: -0.25\n",
         "study.yaml:4:9: optimizer 'random': option 'rate' must be >= 0, found -0.25"},
        {"  need: 1\n  rate: .inf\n",
         "study.yaml:4:9: optimizer 'random': option 'rate' must be <= 1, found .inf"},
        {"  need: 1\n  rate: .nan\n", "study.yaml:4:9: optimizer 'random': option 'rate' must be a "
                                      "number in [0, 1], found .nan"},
        {"  need: 1\n  rate: '0.5'\n",
         "study.yaml:4:9: optimizer 'random': option 'rate': expected a number, found the quoted "
         "string '0.5' (quoted values are strings; write it without quotes)"},
        {"  need: 1\n  verbose: 2\n",
         "study.yaml:4:12: optimizer 'random': option 'verbose': expected true or false, found "
         "'2'"},
        {"  need: 1\n  name: {a: 1}\n",
         "study.yaml:4:9: optimizer 'random': option 'name': expected a string, found a mapping"},
        {"  need: 1\n  mode: sobel\n",
         "study.yaml:4:9: optimizer 'random': option 'mode' must be one of: uniform, sobol, found "
         "'sobel' (did you mean 'sobol'?)"},
        {"  need: 1\n  mode: grid\n",
         "study.yaml:4:9: optimizer 'random': option 'mode' must be one of: uniform, sobol, found "
         "'grid'"},
        {"  batch: 2\n",
         "study.yaml:2:3: optimizer 'random': missing required option 'need' (A required "
         "count.)"},
        {"  need: ~\n",
         "study.yaml:2:3: optimizer 'random': missing required option 'need' (A required "
         "count.)"},
        {"  need: 1\n  seed: -2\n",
         "study.yaml:4:9: optimizer 'random': option 'seed' must be >= -1, found -2"},
        {"  need: 1\n  seed: 9223372036854775807\n",
         "study.yaml:4:9: optimizer 'random': option 'seed' must be <= 9.2e+18, found "
         "9223372036854775807"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "optimizer:\n  plugin: random\n%s", rows[i].body);
        struct hn_config_node *root = load_ok(text);
        /* with a context and without (validation only): the same verdict */
        for (int validate_only = 0; validate_only < 2; validate_only++) {
            struct demo_ctx ctx;
            memset(&ctx, 0, sizeof(ctx));
            struct hn_error err = {0};
            int rc =
                hn_options_apply(demo_options, optimizer_node(root), validate_only ? NULL : &ctx,
                                 "optimizer 'random'", "random", &err);
            cr_expect_eq(rc, -1, "row %zu should fail", i);
            cr_expect_eq(err.kind, HN_ERR_CONFIG, "row %zu", i);
            cr_expect_str_eq(err.msg, rows[i].msg, "row %zu:\n got  %s\n want %s", i, err.msg,
                             rows[i].msg);
        }
        hn_config_free(root);
    }
}

Test(options, plugin_key_reserved_and_edge_cases)
{
    struct hn_error err = {0};
    struct demo_ctx ctx;
    /* no node: defaults, but a required option is still required */
    cr_expect_eq(hn_options_apply(demo_options, NULL, &ctx, "optimizer 'random'", "random", &err),
                 -1);
    cr_expect_str_eq(err.msg, "optimizer 'random': missing required option 'need' (A required "
                              "count.)");
    static const struct hn_option no_help[] = {
        {.name = "need", .type = HN_OPT_INT, .offset = 0},
        {.name = NULL},
    };
    cr_expect_eq(hn_options_apply(no_help, NULL, NULL, "oracle 'o' (host)", "host", &err), -1);
    cr_expect_str_eq(err.msg, "oracle 'o' (host): missing required option 'need' (see 'hilnas "
                              "plugins --options host')");
    cr_expect_eq(hn_options_apply(demo_options + 7, NULL, &ctx, "x", "x", &err), 0, "%s", err.msg);
    cr_expect_eq(ctx.seed, -1);
    /* a plugin without options accepts only `plugin` */
    struct hn_config_node *root = load_ok("executor: {plugin: serial}\nother: {plugin: s, a: 1}\n");
    cr_expect_eq(hn_options_apply(NULL, hn_config_get(root, "executor"), NULL, "executor 'serial'",
                                  "serial", &err),
                 0, "%s", err.msg);
    static const struct hn_option empty[] = {{.name = NULL}};
    cr_expect_eq(hn_options_apply(empty, hn_config_get(root, "executor"), NULL, "executor 'serial'",
                                  "serial", &err),
                 0, "%s", err.msg);
    cr_expect_eq(
        hn_options_apply(NULL, hn_config_get(root, "other"), NULL, "executor 's'", "s", &err), -1);
    cr_expect_str_eq(err.msg, "study.yaml:2:20: executor 's': unknown option 'a' (valid: none; "
                              "see 'hilnas plugins --options s')");
    /* options must be a mapping */
    hn_config_free(root);
    root = load_ok("optimizer: [1, 2]\n");
    cr_expect_eq(hn_options_apply(demo_options, optimizer_node(root), NULL, "optimizer 'random'",
                                  "random", &err),
                 -1);
    cr_expect_str_eq(err.msg, "study.yaml:1:12: optimizer 'random': options must be a mapping of "
                              "name: value, found a list");
    hn_config_free(root);
}

Test(options, a_bad_default_is_a_plugin_bug)
{
    static const struct hn_option bad[] = {
        {.name = "batch",
         .type = HN_OPT_INT,
         .def = "0",
         .min = 1,
         .max = 8,
         .bounded = 1,
         .offset = 0,
         .help = "x"},
        {.name = NULL},
    };
    static const struct hn_option bad_type[] = {
        {.name = "rate", .type = HN_OPT_DOUBLE, .def = "fast", .offset = 0, .help = "x"},
        {.name = NULL},
    };
    struct hn_error err = {0};
    int64_t v = 0;
    cr_expect_eq(hn_options_apply(bad, NULL, &v, "optimizer 'b'", "b", &err), -1);
    cr_expect_eq(err.kind, HN_ERR_RUNTIME);
    cr_expect(strstr(err.msg, "optimizer 'b': the default '0' of option 'batch' is invalid") ==
                  err.msg,
              "%s", err.msg);
    cr_expect(strstr(err.msg, "must be >= 1") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "bug in the plugin") != NULL, "%s", err.msg);
    double d = 0;
    cr_expect_eq(hn_options_apply(bad_type, NULL, &d, "optimizer 'b'", "b", &err), -1);
    cr_expect(strstr(err.msg, "expected a number, found 'fast'") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "<default>") == NULL, "%s", err.msg);
}

/* ---- describe ---- */

Test(options, describe_prints_one_row_per_option)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    cr_assert_not_null(out);
    cr_assert_eq(hn_options_describe(demo_options, out), 0);
    fclose(out);
    struct {
        const char *name, *type, *def, *values, *help;
    } rows[] = {
        {"NAME", "TYPE", "DEFAULT", "VALUES", "HELP"},
        {"batch", "int", "1", "1..1024", "Points suggested per ask."},
        {"rate", "float", "0.5", "0..1", "A fraction."},
        {"verbose", "bool", "false", "-", "Say more."},
        {"name", "string", "anon", "-", "A name."},
        {"mode", "enum", "uniform", "uniform|sobol", "How points are drawn."},
        {"extra", "yaml", "-", "-", "Anything."},
        {"need", "int", "required", "-", "A required count."},
        {"seed", "int", "-1", ">= -1", "Random seed (-1: the study's)."},
    };
    size_t nrows = sizeof(rows) / sizeof(rows[0]);
    char *save = NULL;
    size_t line_no = 0;
    int help_column = -1;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save), line_no++) {
        cr_assert_lt(line_no, nrows, "extra line: %s", line);
        char name[64], type[64], def[64];
        int rest = 0;
        cr_assert_eq(sscanf(line, "%63s %63s %63s %n", name, type, def, &rest), 3, "%s", line);
        cr_expect_str_eq(name, rows[line_no].name, "%s", line);
        cr_expect_str_eq(type, rows[line_no].type, "%s", line);
        cr_expect_str_eq(def, rows[line_no].def, "%s", line);
        size_t vlen = strlen(rows[line_no].values);
        cr_expect(strncmp(line + rest, rows[line_no].values, vlen) == 0 && line[rest + vlen] == ' ',
                  "values column of: %s", line);
        int help_at = rest + (int)vlen;
        while (line[help_at] == ' ') {
            help_at++;
        }
        cr_expect_str_eq(line + help_at, rows[line_no].help, "%s", line);
        cr_expect_eq(strncmp(line, "  ", 2), 0, "rows are indented: %s", line);
        /* columns line up: help starts at the same column on every row */
        if (help_column < 0) {
            help_column = help_at;
        }
        cr_expect_eq(help_at, help_column, "misaligned: %s", line);
    }
    cr_expect_eq(line_no, nrows);
    free(text);

    text = NULL;
    out = open_memstream(&text, &size);
    cr_assert_eq(hn_options_describe(NULL, out), 0);
    fclose(out);
    cr_expect_str_eq(text, "  (no options)\n");
    free(text);

    FILE *full = fopen("/dev/full", "w");
    if (full != NULL) {
        cr_expect_eq(hn_options_describe(demo_options, full), -1, "a failed write is reported");
        fclose(full);
    }
}
