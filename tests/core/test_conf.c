/*
 * The configuration tree (include/hilnas/conf.h): loading, marks, key paths, typed getters,
 * key checks with suggestions, --set overrides, YAML errors with their line:col. Positions in
 * the tables were counted by hand from the texts beside them.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/conf.h"

static struct hn_config_node *load_ok(const char *text)
{
    struct hn_error err = {0};
    struct hn_config_node *root = hn_config_load_string(text, "t.yaml", &err);
    cr_assert_not_null(root, "loading failed: %s\n--- text:\n%s", err.msg, text);
    return root;
}

/* Node at a path like "stages[1].optimizer.batch", walking keys and [i] by hand. */
static struct hn_config_node *at(struct hn_config_node *root, const char *path)
{
    struct hn_config_node *n = root;
    const char *p = path;
    while (*p != '\0' && n != NULL) {
        if (*p == '.') {
            p++;
        }
        if (*p == '[') {
            char *end;
            long i = strtol(p + 1, &end, 10);
            cr_assert_eq(*end, ']', "bad test path %s", path);
            cr_assert_eq(n->type, HN_NODE_SEQUENCE, "%s: not a list at %s", path, p);
            n = (size_t)i < n->n ? n->items[i] : NULL;
            p = end + 1;
            continue;
        }
        size_t len = strcspn(p, ".[");
        char key[128];
        snprintf(key, sizeof(key), "%.*s", (int)len, p);
        n = hn_config_get(n, key);
        p += len;
    }
    cr_assert_not_null(n, "no node at %s", path);
    return n;
}

/* ---- loading, marks and key paths ---- */

static const char *study_text = "study: {name: demo, seed: 7}\n"              /* 1 */
                                "stages:\n"                                   /* 2 */
                                "  - name: init\n"                            /* 3 */
                                "    trials: 5\n"                             /* 4 */
                                "  - name: bo\n"                              /* 5 */
                                "    optimizer: {plugin: random, batch: 2}\n" /* 6 */
                                "# a comment\n"                               /* 7 */
                                "quoted: \"3\"\n"                             /* 8 */
                                "single: 'x'\n"                               /* 9 */
                                "nothing:\n"                                  /* 10 */
                                "tilde: ~\n"                                  /* 11 */
                                "list: [a, [b, c]]\n";                        /* 12 */

Test(conf_load, marks_and_paths)
{
    struct hn_config_node *root = load_ok(study_text);
    struct {
        const char *path;
        enum hn_node_type type;
        int line, column;
        const char *value; /* scalars */
    } rows[] = {
        {"", HN_NODE_MAPPING, 1, 1, NULL},
        {"study", HN_NODE_MAPPING, 1, 8, NULL},
        {"study.name", HN_NODE_SCALAR, 1, 15, "demo"},
        {"study.seed", HN_NODE_SCALAR, 1, 27, "7"},
        {"stages", HN_NODE_SEQUENCE, 3, 3, NULL},
        {"stages[0]", HN_NODE_MAPPING, 3, 5, NULL},
        {"stages[0].name", HN_NODE_SCALAR, 3, 11, "init"},
        {"stages[0].trials", HN_NODE_SCALAR, 4, 13, "5"},
        {"stages[1]", HN_NODE_MAPPING, 5, 5, NULL},
        {"stages[1].optimizer", HN_NODE_MAPPING, 6, 16, NULL},
        {"stages[1].optimizer.plugin", HN_NODE_SCALAR, 6, 25, "random"},
        {"stages[1].optimizer.batch", HN_NODE_SCALAR, 6, 40, "2"},
        {"quoted", HN_NODE_SCALAR, 8, 9, "3"},
        {"single", HN_NODE_SCALAR, 9, 9, "x"},
        {"nothing", HN_NODE_SCALAR, 10, 9, ""},
        {"tilde", HN_NODE_SCALAR, 11, 8, "~"},
        {"list", HN_NODE_SEQUENCE, 12, 7, NULL},
        {"list[0]", HN_NODE_SCALAR, 12, 8, "a"},
        {"list[1]", HN_NODE_SEQUENCE, 12, 11, NULL},
        {"list[1][1]", HN_NODE_SCALAR, 12, 15, "c"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct hn_config_node *n = at(root, rows[i].path);
        cr_expect_str_eq(n->path, rows[i].path);
        cr_expect_eq(n->type, rows[i].type, "%s: type %d", rows[i].path, n->type);
        cr_expect_eq(n->line, rows[i].line, "%s: line %d, expected %d", rows[i].path, n->line,
                     rows[i].line);
        cr_expect_eq(n->column, rows[i].column, "%s: column %d, expected %d", rows[i].path,
                     n->column, rows[i].column);
        cr_expect_str_eq(n->file, "t.yaml");
        if (rows[i].value != NULL) {
            cr_expect_str_eq(n->value, rows[i].value, "%s", rows[i].path);
        }
    }
    /* keys keep their own marks: 'batch' starts at column 33 of line 6 */
    struct hn_config_node *opt = at(root, "stages[1].optimizer");
    cr_assert_eq(opt->n, 2);
    cr_expect_str_eq(opt->keys[1], "batch");
    cr_expect_eq(opt->key_nodes[1]->line, 6);
    cr_expect_eq(opt->key_nodes[1]->column, 33);
    cr_expect_null(at(root, "stages")->keys);
    /* quoting and nulls */
    cr_expect_eq(at(root, "quoted")->quoted, 1);
    cr_expect_eq(at(root, "single")->quoted, 1);
    cr_expect_eq(at(root, "study.seed")->quoted, 0);
    cr_expect_eq(at(root, "nothing")->is_null, 1);
    cr_expect_eq(at(root, "tilde")->is_null, 1);
    cr_expect_eq(at(root, "quoted")->is_null, 0);
    char buf[64];
    cr_expect_str_eq(hn_config_where(at(root, "stages[0].trials"), buf, sizeof(buf)),
                     "t.yaml:4:13");
    cr_expect_str_eq(hn_config_where(NULL, buf, sizeof(buf)), "?");
    char tiny[5];
    cr_expect_str_eq(hn_config_where(root, tiny, sizeof(tiny)), "t.ya");
    hn_config_free(root);
}

Test(conf_load, nulls_and_quoted_empties)
{
    struct hn_config_node *root =
        load_ok("a: ~\nb: null\nc: Null\nd: NULL\ne:\nf: ''\ng: \"null\"\nh: nil\ni: '~'\n");
    const char *nulls = "abcde";
    for (const char *k = nulls; *k; k++) {
        char key[2] = {*k, 0};
        cr_expect_eq(hn_config_get(root, key)->is_null, 1, "%s should be null", key);
    }
    const char *strings = "fghi";
    for (const char *k = strings; *k; k++) {
        char key[2] = {*k, 0};
        cr_expect_eq(hn_config_get(root, key)->is_null, 0, "%s should not be null", key);
    }
    hn_config_free(root);
}

Test(conf_load, get_and_type_names)
{
    struct hn_config_node *root = load_ok("m: {a: 1}\nl: [1]\ns: x\n");
    cr_expect_not_null(hn_config_get(root, "m"));
    cr_expect_null(hn_config_get(root, "zz"));
    cr_expect_null(hn_config_get(NULL, "m"));
    cr_expect_null(hn_config_get(hn_config_get(root, "l"), "0"));
    cr_expect_null(hn_config_get(hn_config_get(root, "s"), "x"));
    cr_expect_str_eq(hn_config_type_name(HN_NODE_SCALAR), "a scalar");
    cr_expect_str_eq(hn_config_type_name(HN_NODE_SEQUENCE), "a list");
    cr_expect_str_eq(hn_config_type_name(HN_NODE_MAPPING), "a mapping");
    hn_config_free(root);
    hn_config_free(NULL);
}

Test(conf_load, from_file_large_and_missing)
{
    /* larger than the first 8 KiB read buffer, so the file is read in several pieces */
    const char *dir = getenv("HN_TEST_TMPDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/conf-large.yaml", dir ? dir : "/tmp");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    int keys = 3000;
    for (int i = 0; i < keys; i++) {
        fprintf(f, "key%04d: %d\n", i, i * 7);
    }
    fclose(f);
    struct hn_error err = {0};
    struct hn_config_node *root = hn_config_load(path, &err);
    cr_assert_not_null(root, "%s", err.msg);
    cr_expect_eq(root->n, (size_t)keys);
    struct hn_config_node *last = hn_config_get(root, "key2999");
    cr_assert_not_null(last);
    cr_expect_eq(last->line, 3000);
    cr_expect_eq(last->column, 10);
    cr_expect_str_eq(last->file, path);
    int64_t v = 0;
    cr_expect_eq(hn_config_to_int(last, &v, &err), 0);
    cr_expect_eq(v, 2999 * 7);
    hn_config_free(root);
    remove(path);

    snprintf(path, sizeof(path), "%s/conf-does-not-exist.yaml", dir ? dir : "/tmp");
    root = hn_config_load(path, &err);
    cr_expect_null(root);
    cr_expect_eq(err.kind, HN_ERR_CONFIG);
    cr_expect(strstr(err.msg, "cannot open the study file: No such file") != NULL, "%s", err.msg);
    cr_expect(strncmp(err.msg, path, strlen(path)) == 0, "%s", err.msg);

    /* a directory opens but cannot be read */
    root = hn_config_load(dir ? dir : "/tmp", &err);
    cr_expect_null(root);
    cr_expect_eq(err.kind, HN_ERR_CONFIG);
    cr_expect(strstr(err.msg, ": cannot read the study file: Is a directory") != NULL, "%s",
              err.msg);
}

/* ---- YAML-level errors with their positions ---- */

Test(conf_load, errors_name_line_and_column)
{
    char deep[400] = "a: ";
    for (int i = 0; i < 70; i++) {
        strcat(deep, "[");
    }
    for (int i = 0; i < 70; i++) {
        strcat(deep, "]");
    }
    strcat(deep, "\n");
    struct {
        const char *text;
        const char *expect; /* the whole message starts with this */
    } rows[] = {
        {"a: b: c\n",
         "t.yaml:1:5: YAML syntax error: mapping values are not allowed in this context"},
        {"study:\n  name: x\n  seed: 1: 2\n",
         "t.yaml:3:10: YAML syntax error: mapping values are not allowed in this context"},
        {"a:\n\tb: 1\n", "t.yaml:2:1: YAML syntax error: found character that cannot start any "
                         "token"},
        {"a: [1, 2\nb: 3\n", "t.yaml:2:2: YAML syntax error: did not find expected ',' or ']'"},
        {"a: {b: 1\n", "t.yaml:2:1: YAML syntax error: did not find expected ',' or '}'"},
        {"a: \"abc\n", "t.yaml:2:1: YAML syntax error: found unexpected end of stream"},
        {"a:\n  b: 1\n c: 2\n", "t.yaml:3:2: YAML syntax error: did not find expected key"},
        {"- a\nb: 1\n", "t.yaml:2:1: YAML syntax error: did not find expected '-' indicator"},
        /* reader errors carry a byte offset only: line and column are counted from the text */
        {"a: 1\nb: \xff\n", "t.yaml:2:4: YAML syntax error: invalid leading UTF-8 octet (byte "
                            "0xff)"},
        {"a: 1\nb: \xc3\xa9\xc3\xa9 \x01\n",
         "t.yaml:2:7: YAML syntax error: control characters are not allowed (byte 0x01)"},
        {"a: &x 1\nb: *x\n", "t.yaml:1:4: YAML anchors and aliases"},
        {"a: 1\nb: *x\n", "t.yaml:2:4: YAML anchors and aliases"},
        {"a: 1\n---\nb: 2\n", "t.yaml:2:1: a study file holds one YAML document"},
        {"a: 1\nb: 2\na: 3\n", "t.yaml:3:1: the document: duplicate key 'a' (first defined at "
                               "line 1, column 1)"},
        {"s:\n  x: 1\n  y: 2\n  x: 2\n", "t.yaml:4:3: s: duplicate key 'x' (first defined at "
                                         "line 2, column 3)"},
        {"l:\n  - {k: 1, k: 2}\n",
         "t.yaml:2:12: l[0]: duplicate key 'k' (first defined at line 2, column 6)"},
        {"? [1]\n: 2\n", "t.yaml:1:3: the document: mapping keys must be plain strings, found a "
                         "list"},
        {"a: \"x\\0y\"\n", "t.yaml:1:4: a: a value contains a NUL character"},
        {deep, "t.yaml:1:"},
        {"", "t.yaml: is empty; a study needs at least 'study'"},
        {"# only a comment\n\n", "t.yaml: is empty"},
        {"   \n", "t.yaml: is empty"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct hn_error err = {0};
        struct hn_config_node *root = hn_config_load_string(rows[i].text, "t.yaml", &err);
        cr_expect_null(root, "row %zu should fail", i);
        hn_config_free(root);
        cr_expect_eq(err.kind, HN_ERR_CONFIG, "row %zu: kind %d (%s)", i, err.kind, err.msg);
        cr_expect(strncmp(err.msg, rows[i].expect, strlen(rows[i].expect)) == 0,
                  "row %zu: got      '%s'\nexpected '%s...'", i, err.msg, rows[i].expect);
    }
    struct hn_error err = {0};
    cr_expect_null(hn_config_load_string(deep, "t.yaml", &err));
    cr_expect(strstr(err.msg, "nested more than 64 deep") != NULL, "%s", err.msg);
}

/* 100000 nested lists or mappings: refused at the 65th level, in well under the timeout (the
 * whole text through libyaml and our tree took minutes and gigabytes before the check). */
Test(conf_load, absurd_nesting_is_refused_at_once, .timeout = 30)
{
    size_t n = 100000;
    char *text = malloc(8 * n + 16);
    cr_assert_not_null(text);
    const char *open[2] = {"[", "{a: "}, *close[2] = {"]", "}"};
    for (int k = 0; k < 2; k++) {
        size_t o = (size_t)sprintf(text, "a: ");
        for (size_t i = 0; i < n; i++) {
            o += (size_t)sprintf(text + o, "%s", open[k]);
        }
        o += (size_t)sprintf(text + o, "1");
        for (size_t i = 0; i < n; i++) {
            o += (size_t)sprintf(text + o, "%s", close[k]);
        }
        struct hn_error err = {0};
        cr_expect_null(hn_config_load_string(text, "t.yaml", &err));
        cr_expect(strstr(err.msg, "t.yaml:1:") != NULL &&
                      strstr(err.msg, "nested more than 64 deep") != NULL,
                  "%s", err.msg);
    }
    free(text);
}

Test(conf_load, scalar_and_list_documents_load)
{
    /* the tree accepts any document; the study decides the top must be a mapping */
    struct hn_config_node *root = load_ok("- 1\n- 2\n");
    cr_expect_eq(root->type, HN_NODE_SEQUENCE);
    cr_expect_str_eq(root->items[1]->path, "[1]");
    hn_config_free(root);
    root = load_ok("--- just text\n");
    cr_expect_eq(root->type, HN_NODE_SCALAR);
    cr_expect_str_eq(root->value, "just text");
    hn_config_free(root);
}

/* ---- typed getters ---- */

enum kind { K_INT, K_DOUBLE, K_BOOL, K_STRING };

struct getter_row {
    enum kind kind;
    const char *yaml; /* value text after "k: " */
    int ok;
    int64_t i;
    double d;
    const char *s; /* string result, or for errors a substring of the message */
};

Test(conf_get, typed_conversions)
{
    struct getter_row rows[] = {
        {K_INT, "0", 1, 0, 0, NULL},
        {K_INT, "-12", 1, -12, 0, NULL},
        {K_INT, "+7", 1, 7, 0, NULL},
        {K_INT, "007", 1, 7, 0, NULL},
        {K_INT, "9223372036854775807", 1, INT64_MAX, 0, NULL},
        {K_INT, "-9223372036854775808", 1, INT64_MIN, 0, NULL},
        {K_INT, "9223372036854775808", 0, 0, 0,
         "t.yaml:1:4: k: integer '9223372036854775808' is out of range"},
        {K_INT, "-9223372036854775809", 0, 0, 0, "integer '-9223372036854775809' is out of range"},
        {K_INT, "abc", 0, 0, 0, "t.yaml:1:4: k: expected an integer, found 'abc'"},
        {K_INT, "1.5", 0, 0, 0, "k: expected an integer, found '1.5'"},
        {K_INT, "1e3", 0, 0, 0, "expected an integer, found '1e3'"},
        {K_INT, "0x10", 0, 0, 0, "expected an integer, found '0x10'"},
        {K_INT, "1 2", 0, 0, 0, "expected an integer, found '1 2'"},
        {K_INT, "--1", 0, 0, 0, "expected an integer, found '--1'"},
        {K_INT, "1-2", 0, 0, 0, "expected an integer, found '1-2'"},
        {K_INT, "\"3\"", 0, 0, 0,
         "t.yaml:1:4: k: expected an integer, found the quoted string '3' (quoted values are "
         "strings"},
        {K_INT, "'3'", 0, 0, 0, "found the quoted string '3'"},
        {K_INT, "", 0, 0, 0, "k: expected an integer, found nothing"},
        {K_INT, "~", 0, 0, 0, "t.yaml:1:4: k: expected an integer, found nothing"},
        {K_INT, "[1]", 0, 0, 0, "t.yaml:1:4: k: expected an integer, found a list"},
        {K_INT, "{a: 1}", 0, 0, 0, "k: expected an integer, found a mapping"},
        {K_INT, "!!int 5", 1, 5, 0, NULL},
        {K_DOUBLE, "1.5", 1, 0, 1.5, NULL},
        {K_DOUBLE, "-2e-3", 1, 0, -2e-3, NULL},
        {K_DOUBLE, "1E3", 1, 0, 1000.0, NULL},
        {K_DOUBLE, ".5", 1, 0, 0.5, NULL},
        {K_DOUBLE, "5.", 1, 0, 5.0, NULL},
        {K_DOUBLE, "+3", 1, 0, 3.0, NULL},
        {K_DOUBLE, "-0", 1, 0, -0.0, NULL},
        {K_DOUBLE, "1e-400", 1, 0, 0.0, NULL},
        {K_DOUBLE, ".inf", 1, 0, INFINITY, NULL},
        {K_DOUBLE, ".Inf", 1, 0, INFINITY, NULL},
        {K_DOUBLE, "+.INF", 1, 0, INFINITY, NULL},
        {K_DOUBLE, "-.inf", 1, 0, -INFINITY, NULL},
        {K_DOUBLE, ".nan", 1, 0, NAN, NULL},
        {K_DOUBLE, ".NaN", 1, 0, NAN, NULL},
        {K_DOUBLE, "1e400", 0, 0, 0, "t.yaml:1:4: k: number '1e400' is out of range"},
        {K_DOUBLE, "-1e400", 0, 0, 0, "number '-1e400' is out of range"},
        {K_DOUBLE, "inf", 0, 0, 0, "t.yaml:1:4: k: expected a number, found 'inf'"},
        {K_DOUBLE, "nan", 0, 0, 0, "expected a number, found 'nan'"},
        {K_DOUBLE, "0x1p3", 0, 0, 0, "expected a number, found '0x1p3'"},
        {K_DOUBLE, "1.5.2", 0, 0, 0, "expected a number, found '1.5.2'"},
        {K_DOUBLE, "1e", 0, 0, 0, "expected a number, found '1e'"},
        {K_DOUBLE, "e5", 0, 0, 0, "expected a number, found 'e5'"},
        {K_DOUBLE, "abc", 0, 0, 0, "expected a number, found 'abc'"},
        {K_DOUBLE, "'1.5'", 0, 0, 0, "expected a number, found the quoted string '1.5'"},
        {K_DOUBLE, "\".inf\"", 0, 0, 0, "found the quoted string '.inf'"},
        {K_DOUBLE, "~", 0, 0, 0, "expected a number, found nothing"},
        {K_DOUBLE, "[1.5]", 0, 0, 0, "expected a number, found a list"},
        {K_BOOL, "true", 1, 1, 0, NULL},
        {K_BOOL, "False", 1, 0, 0, NULL},
        {K_BOOL, "TRUE", 1, 1, 0, NULL},
        {K_BOOL, "True", 1, 1, 0, NULL},
        {K_BOOL, "false", 1, 0, 0, NULL},
        {K_BOOL, "FALSE", 1, 0, 0, NULL},
        /* YAML 1.1's other booleans are refused, saying what to write */
        {K_BOOL, "no", 0, 0, 0,
         "t.yaml:1:4: k: expected true or false, found 'no' (a YAML 1.1 boolean; YAML 1.2 "
         "booleans are true and false: write false)"},
        {K_BOOL, "YES", 0, 0, 0,
         "found 'YES' (a YAML 1.1 boolean; YAML 1.2 booleans are true "
         "and false: write true)"},
        {K_BOOL, "on", 0, 0, 0,
         "found 'on' (a YAML 1.1 boolean; YAML 1.2 booleans are true and "
         "false: write true)"},
        {K_BOOL, "Off", 0, 0, 0, "write false)"},
        {K_BOOL, "y", 0, 0, 0, "write true)"},
        {K_BOOL, "N", 0, 0, 0, "write false)"},
        {K_BOOL, "tRUE", 0, 0, 0, "expected true or false, found 'tRUE'"},
        {K_BOOL, "'no'", 0, 0, 0, "expected true or false, found the quoted string 'no'"},
        {K_BOOL, "1", 0, 0, 0, "t.yaml:1:4: k: expected true or false, found '1'"},
        {K_BOOL, "maybe", 0, 0, 0, "expected true or false, found 'maybe'"},
        {K_BOOL, "'true'", 0, 0, 0, "expected true or false, found the quoted string 'true'"},
        {K_BOOL, "~", 0, 0, 0, "expected true or false, found nothing"},
        {K_STRING, "hello world", 1, 0, 0, "hello world"},
        {K_STRING, "7", 1, 0, 0, "7"},
        {K_STRING, "no", 1, 0, 0, "no"},
        {K_STRING, "'3'", 1, 0, 0, "3"},
        {K_STRING, "''", 1, 0, 0, ""},
        {K_STRING, "\"a\\tb\"", 1, 0, 0, "a\tb"},
        {K_STRING, "\"~\"", 1, 0, 0, "~"},
        {K_STRING, "~", 0, 0, 0, "t.yaml:1:4: k: expected a string, found nothing"},
        {K_STRING, "", 0, 0, 0, "k: expected a string, found nothing"},
        {K_STRING, "[a]", 0, 0, 0, "k: expected a string, found a list"},
        {K_STRING, "{a: b}", 0, 0, 0, "k: expected a string, found a mapping"},
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        char text[256];
        snprintf(text, sizeof(text), "k: %s\n", rows[r].yaml);
        struct hn_config_node *root = load_ok(text);
        struct hn_error err = {0};
        int64_t i = -99;
        double d = -99;
        int b = -99;
        const char *s = NULL;
        int rc = -2;
        switch (rows[r].kind) {
        case K_INT:
            rc = hn_config_get_int(root, "k", 42, &i, &err);
            break;
        case K_DOUBLE:
            rc = hn_config_get_double(root, "k", 4.2, &d, &err);
            break;
        case K_BOOL:
            rc = hn_config_get_bool(root, "k", 0, &b, &err);
            break;
        case K_STRING:
            rc = hn_config_get_string(root, "k", "def", &s, &err);
            break;
        }
        if (rows[r].ok) {
            cr_expect_eq(rc, 0, "k: %s: %s", rows[r].yaml, err.msg);
            switch (rows[r].kind) {
            case K_INT:
                cr_expect_eq(i, rows[r].i, "k: %s gave %lld", rows[r].yaml, (long long)i);
                break;
            case K_DOUBLE:
                if (isnan(rows[r].d)) {
                    cr_expect(isnan(d), "k: %s gave %g", rows[r].yaml, d);
                } else {
                    cr_expect(d == rows[r].d && signbit(d) == signbit(rows[r].d),
                              "k: %s gave %.17g, expected %.17g", rows[r].yaml, d, rows[r].d);
                }
                break;
            case K_BOOL:
                cr_expect_eq(b, (int)rows[r].i, "k: %s gave %d", rows[r].yaml, b);
                break;
            case K_STRING:
                cr_expect(s != NULL && strcmp(s, rows[r].s) == 0, "k: %s gave '%s'", rows[r].yaml,
                          s);
                /* borrowed from the tree */
                cr_expect_eq(s, hn_config_get(root, "k")->value);
                break;
            }
        } else {
            cr_expect_eq(rc, -1, "k: %s should fail", rows[r].yaml);
            cr_expect_eq(err.kind, HN_ERR_CONFIG, "k: %s", rows[r].yaml);
            cr_expect(strstr(err.msg, rows[r].s) != NULL, "k: %s:\n got '%s'\n want '%s'",
                      rows[r].yaml, err.msg, rows[r].s);
            /* outputs untouched on error */
            cr_expect(i == -99 && d == -99 && b == -99 && s == NULL, "k: %s wrote its output",
                      rows[r].yaml);
        }
        hn_config_free(root);
    }
}

Test(conf_get, defaults_and_required)
{
    struct hn_config_node *root = load_ok("a: 1\ns:\n  x: 2\n");
    struct hn_config_node *s = hn_config_get(root, "s");
    struct hn_error err = {0};
    int64_t i = 0;
    double d = 0;
    int b = 0;
    const char *str = NULL;
    cr_expect_eq(hn_config_get_int(s, "missing", -5, &i, &err), 0);
    cr_expect_eq(i, -5);
    cr_expect_eq(hn_config_get_double(s, "missing", 2.5, &d, &err), 0);
    cr_expect_eq(d, 2.5);
    cr_expect_eq(hn_config_get_bool(s, "missing", 1, &b, &err), 0);
    cr_expect_eq(b, 1);
    cr_expect_eq(hn_config_get_string(s, "missing", "dflt", &str, &err), 0);
    cr_expect_str_eq(str, "dflt");
    /* an absent parent behaves like an empty mapping */
    cr_expect_eq(hn_config_get_int(NULL, "x", 3, &i, &err), 0);
    cr_expect_eq(i, 3);

    cr_expect_eq(hn_config_req_int(s, "x", &i, &err), 0);
    cr_expect_eq(i, 2);
    struct {
        int rc;
        const char *msg;
    } req[3];
    req[0].rc = hn_config_req_int(s, "y", &i, &err);
    req[0].msg = strdup(err.msg);
    req[1].rc = hn_config_req_double(s, "y", &d, &err);
    req[1].msg = strdup(err.msg);
    req[2].rc = hn_config_req_string(s, "y", &str, &err);
    req[2].msg = strdup(err.msg);
    for (int k = 0; k < 3; k++) {
        cr_expect_eq(req[k].rc, -1);
        cr_expect_str_eq(req[k].msg, "t.yaml:3:3: s: missing required key 'y'");
        free((char *)req[k].msg);
    }
    cr_expect_eq(hn_config_req_double(root, "nope", &d, &err), -1);
    cr_expect_str_eq(err.msg, "t.yaml:1:1: the document: missing required key 'nope'");
    cr_expect_eq(err.kind, HN_ERR_CONFIG);
    cr_expect_eq(hn_config_req_string(NULL, "study", &str, &err), -1);
    cr_expect_str_eq(err.msg, "missing required key 'study'");
    hn_config_free(root);
}

Test(conf_get, expect_types)
{
    struct hn_config_node *root = load_ok("m: {a: 1}\nl: [1]\ns: word\nn:\n");
    struct hn_error err = {0};
    cr_expect_eq(hn_config_expect(hn_config_get(root, "m"), HN_NODE_MAPPING, &err), 0);
    cr_expect_eq(hn_config_expect(hn_config_get(root, "l"), HN_NODE_SEQUENCE, &err), 0);
    cr_expect_eq(hn_config_expect(hn_config_get(root, "s"), HN_NODE_SCALAR, &err), 0);
    struct {
        const char *key;
        enum hn_node_type type;
        const char *msg;
    } rows[] = {
        {"m", HN_NODE_SEQUENCE, "t.yaml:1:4: m must be a list, found a mapping"},
        {"l", HN_NODE_MAPPING, "t.yaml:2:4: l must be a mapping, found a list"},
        {"s", HN_NODE_MAPPING, "t.yaml:3:4: s must be a mapping, found the value 'word'"},
        {"n", HN_NODE_MAPPING, "t.yaml:4:3: n must be a mapping, found nothing"},
        {"n", HN_NODE_SCALAR, "t.yaml:4:3: n must be a scalar, found nothing"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        cr_expect_eq(hn_config_expect(hn_config_get(root, rows[i].key), rows[i].type, &err), -1);
        cr_expect_str_eq(err.msg, rows[i].msg);
        cr_expect_eq(err.kind, HN_ERR_CONFIG);
    }
    cr_expect_eq(hn_config_expect(NULL, HN_NODE_MAPPING, &err), -1);
    cr_expect_eq(hn_config_to_int(NULL, &(int64_t){0}, &err), -1);
    hn_config_free(root);
}

/* ---- suggestions and key checks ---- */

/* Reference optimal string alignment distance: the full table, straight from the definition. */
static size_t ref_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t d[32][32];
    for (size_t i = 0; i <= la; i++) {
        for (size_t j = 0; j <= lb; j++) {
            if (i == 0 || j == 0) {
                d[i][j] = i + j;
                continue;
            }
            size_t v = d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            v = d[i - 1][j] + 1 < v ? d[i - 1][j] + 1 : v;
            v = d[i][j - 1] + 1 < v ? d[i][j - 1] + 1 : v;
            if (i >= 2 && j >= 2 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v) {
                v = d[i - 2][j - 2] + 1;
            }
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

Test(conf_keys, suggestions)
{
    const char *const opts[] = {"batch", "mode", "seed", NULL};
    const char *const stage[] = {"name", "optimizer", "sampler", "trials", "run", NULL};
    const char *const top[] = {"study",       "space",    "oracles", "evaluators", "objectives",
                               "constraints", "executor", "stages",  NULL};
    struct {
        const char *word;
        const char *const *cands;
        const char *expect;
    } rows[] = {
        {"bacth", opts, "batch"},
        {"batch", opts, "batch"},
        {"mdoe", opts, "mode"},
        {"sed", opts, "seed"},
        {"seeds", opts, "seed"},
        {"xyzzy", opts, NULL},
        {"trails", stage, "trials"},
        {"optimiser", stage, "optimizer"},
        {"smapler", stage, "sampler"},
        {"stage", top, "stages"},
        {"objective", top, "objectives"},
        {"evaluator", top, "evaluators"},
        {"contraints", top, "constraints"},
        {"", opts, NULL}, /* 4 edits from every option: more than 2 */
        {"zzzzzzzzzzzz", top, NULL},
        {"b", opts, NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *s = hn_suggest(rows[i].word, rows[i].cands);
        if (rows[i].expect == NULL) {
            cr_expect_null(s, "'%s' suggested '%s'", rows[i].word, s);
        } else {
            cr_expect(s != NULL && strcmp(s, rows[i].expect) == 0, "'%s' suggested '%s', not '%s'",
                      rows[i].word, s, rows[i].expect);
        }
    }
    cr_expect_null(hn_suggest("abc", NULL));
    const char *const none[] = {NULL};
    cr_expect_null(hn_suggest("abc", none));
}

Test(conf_keys, suggestion_matches_brute_force_distance)
{
    /* random short words over a small alphabet: many transpositions, ties and near misses */
    uint64_t state = 0x9E3779B97F4A7C15ull;
    const char alphabet[] = "abcd";
    char words[8][12];
    const char *cands[8];
    int mismatches = 0;
    for (int round = 0; round < 3000; round++) {
        for (int w = 0; w < 7; w++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            int len = 1 + (int)((state >> 33) % 10);
            for (int c = 0; c < len; c++) {
                state = state * 6364136223846793005ull + 1442695040888963407ull;
                words[w][c] = alphabet[(state >> 40) % 4];
            }
            words[w][len] = '\0';
        }
        for (int w = 0; w < 6; w++) {
            cands[w] = words[w + 1];
        }
        cands[6] = NULL;
        const char *word = words[0];
        const char *best = NULL;
        size_t best_d = (size_t)-1;
        for (int w = 0; w < 6; w++) {
            size_t d = ref_distance(word, cands[w]);
            if (d < best_d) {
                best_d = d;
                best = cands[w];
            }
        }
        size_t limit = strlen(word) / 3 < 2 ? 2 : strlen(word) / 3;
        const char *expect = best_d <= limit ? best : NULL;
        const char *got = hn_suggest(word, cands);
        if (got != expect && mismatches++ < 5) {
            cr_expect_eq(got, expect, "word '%s': suggested '%s', brute force '%s' (distance %zu)",
                         word, got, expect, best_d);
        }
    }
    cr_expect_eq(mismatches, 0, "%d of 3000 suggestions differ from brute force", mismatches);
    /* one transposition is one edit, even inside a longer word */
    cr_expect_eq(ref_distance("bacth", "batch"), 1);
}

Test(conf_keys, check_keys)
{
    const char *const stage[] = {"name", "optimizer", "trials", NULL};
    const char *const top[] = {"study", "stages", NULL};
    struct hn_config_node *root =
        load_ok("study: {name: x}\nstages:\n  - name: a\n    trails: 5\n  - name: b\n");
    struct hn_error err = {0};
    struct hn_config_node *s0 = at(root, "stages[0]");
    cr_expect_eq(hn_config_check_keys(s0, stage, "stage", &err), -1);
    cr_expect_str_eq(err.msg, "t.yaml:4:5: stages[0]: unknown key 'trails' (did you mean "
                              "'trials'? valid: name, optimizer, trials)");
    cr_expect_eq(err.kind, HN_ERR_CONFIG);
    cr_expect_eq(hn_config_check_keys(at(root, "stages[1]"), stage, "stage", &err), 0);
    cr_expect_eq(hn_config_check_keys(root, top, "study file", &err), 0);
    const char *const only_study[] = {"study", NULL};
    cr_expect_eq(hn_config_check_keys(root, only_study, "study file", &err), -1);
    cr_expect_str_eq(err.msg, "t.yaml:2:1: study file: unknown key 'stages' (valid: study)");
    cr_expect_eq(hn_config_check_keys(root, only_study, NULL, &err), -1);
    cr_expect_str_eq(err.msg, "t.yaml:2:1: unknown key 'stages' (valid: study)");
    cr_expect_eq(hn_config_check_keys(at(root, "stages"), stage, "stage", &err), -1);
    cr_expect_str_eq(err.msg, "t.yaml:3:3: stages must be a mapping, found a list");
    hn_config_free(root);
}

/* ---- --set overrides ---- */

static const char *set_text = "study: {name: demo, seed: 7}\n"
                              "stages:\n"
                              "  - {name: init, trials: 5}\n"
                              "  - name: bo\n"
                              "    optimizer: {plugin: random}\n";

Test(conf_set, overrides)
{
    struct {
        const char *assignment;
        const char *path;  /* node to look at afterwards */
        const char *value; /* its new value */
    } rows[] = {
        {"study.seed=3", "study.seed", "3"},
        {"study.name=other name", "study.name", "other name"},
        {"stages[1].name=bo2", "stages[1].name", "bo2"},
        {"stages.0.trials=9", "stages[0].trials", "9"},
        {"stages[0].trials=a=b", "stages[0].trials", "a=b"},
        {"stages.1.optimizer.mode=sobol", "stages[1].optimizer.mode", "sobol"},
        {"stages[1].optimizer[batch]=4", "stages[1].optimizer.batch", "4"},
        {"study.output=", "study.output", ""},
        {"study.description=[1, 2]", "study.description", "[1, 2]"},
        {"extra=1", "extra", "1"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct hn_config_node *root = load_ok(set_text);
        struct hn_error err = {0};
        cr_expect_eq(hn_config_set(root, rows[i].assignment, &err), 0, "--set %s: %s",
                     rows[i].assignment, err.msg);
        struct hn_config_node *n = at(root, rows[i].path);
        cr_expect_eq(n->type, HN_NODE_SCALAR);
        cr_expect_str_eq(n->value, rows[i].value, "--set %s", rows[i].assignment);
        cr_expect_str_eq(n->path, rows[i].path, "--set %s", rows[i].assignment);
        cr_expect_str_eq(n->file, "<command line>");
        cr_expect_eq(n->line, 1);
        cr_expect_eq(n->column, 1);
        cr_expect_eq(n->quoted, 0);
        cr_expect_eq(n->is_null, rows[i].value[0] == '\0');
        hn_config_free(root);
    }
}

Test(conf_set, new_keys_and_errors_after_set)
{
    struct hn_config_node *root = load_ok(set_text);
    struct hn_error err = {0};
    struct hn_config_node *opt = at(root, "stages[1].optimizer");
    cr_assert_eq(hn_config_set(root, "stages.1.optimizer.batch=abc", &err), 0, "%s", err.msg);
    cr_assert_eq(opt->n, 2);
    cr_expect_str_eq(opt->keys[1], "batch");
    cr_expect_str_eq(opt->key_nodes[1]->value, "batch");
    cr_expect_str_eq(opt->key_nodes[1]->file, "<command line>");
    int64_t v = 0;
    cr_expect_eq(hn_config_get_int(opt, "batch", 1, &v, &err), -1);
    cr_expect_str_eq(err.msg,
                     "<command line>:1:1: stages[1].optimizer.batch: expected an integer, found "
                     "'abc'");
    /* a second --set of the same key replaces the created value */
    cr_assert_eq(hn_config_set(root, "stages[1].optimizer.batch=8", &err), 0, "%s", err.msg);
    cr_expect_eq(opt->n, 2);
    cr_expect_eq(hn_config_get_int(opt, "batch", 1, &v, &err), 0);
    cr_expect_eq(v, 8);
    /* an unknown key added on the command line is still caught by the key check */
    const char *const known[] = {"plugin", "mode", NULL};
    cr_expect_eq(hn_config_check_keys(opt, known, "optimizer", &err), -1);
    cr_expect(strstr(err.msg, "<command line>:1:1: stages[1].optimizer: unknown key 'batch'") ==
                  err.msg,
              "%s", err.msg);
    hn_config_free(root);
}

/* Missing intermediate keys are created as mappings: --set executor.plugin=mpi works on a study
 * file without an executor section; the new nodes are marked as coming from the command line. */
Test(conf_set, missing_intermediate_keys_are_created)
{
    struct hn_config_node *root = load_ok(set_text);
    struct hn_error err = {0};
    cr_assert_eq(hn_config_set(root, "executor.plugin=mpi", &err), 0, "%s", err.msg);
    cr_assert_eq(hn_config_set(root, "executor.workers=3", &err), 0, "%s", err.msg);
    cr_assert_eq(hn_config_set(root, "study.a.b.c=deep", &err), 0, "%s", err.msg);
    cr_expect_eq(root->n, 3, "one new top-level key");
    struct hn_config_node *ex = at(root, "executor");
    cr_assert_eq(ex->type, HN_NODE_MAPPING);
    cr_expect_str_eq(ex->path, "executor");
    cr_expect_str_eq(ex->file, "<command line>");
    cr_assert_eq(ex->n, 2, "the second --set adds to the created mapping");
    cr_expect_str_eq(at(root, "executor.plugin")->value, "mpi");
    cr_expect_str_eq(at(root, "executor.workers")->value, "3");
    struct hn_config_node *c = at(root, "study.a.b.c");
    cr_assert_eq(c->type, HN_NODE_SCALAR);
    cr_expect_str_eq(c->value, "deep");
    cr_expect_str_eq(c->path, "study.a.b.c");
    cr_expect_eq(at(root, "study.a")->type, HN_NODE_MAPPING);
    cr_expect_str_eq(at(root, "study.seed")->value, "7", "siblings untouched");
    /* a value in the way is still refused, and a list index must exist */
    cr_expect_eq(hn_config_set(root, "executor.plugin.x=1", &err), -1);
    cr_expect(strstr(err.msg, "'executor.plugin' is a value") != NULL, "%s", err.msg);
    hn_config_free(root);
}

Test(conf_set, refused_overrides)
{
    struct {
        const char *assignment;
        const char *msg;
    } rows[] = {
        {"noequals", "<command line>: --set 'noequals': expected KEY.PATH=VALUE"},
        {"=3", "expected KEY.PATH=VALUE"},
        {"..=3", "malformed key path at character 1 (a key is missing here)"},
        {"stages[0.trials=3", "malformed key path at character 7 ('[' needs an index or key "
                              "and a closing ']')"},
        {"stages]0.trials=3", "at character 7 (']' without '[')"},
        {"stages[0]trials=3", "at character 10 (expected '.' or '[' after ']')"},
        {"stages[].trials=3", "at character 7 ('[' needs"},
        {"stages.0.=3", "at character 10 (the path ends without a key)"},
        {"study..seed=3", "at character 7 (a key is missing here)"},
        {"study=x", "--set study=x: 'study' is a mapping; only scalar values can be set"},
        {"stages=x", "'stages' is a list; only scalar values can be set"},
        {"stages[1].optimizer=gpbo", "'stages[1].optimizer' is a mapping"},
        {"study.seed.x=1", "--set study.seed.x=1: 'study.seed' is a value, not a mapping or list"},
        {"stages.2.trials=1", "'stages' is a list of 2 items; '2' is not a valid index (0..1)"},
        {"stages[-1].trials=1", "'-1' is not a valid index"},
        {"stages.x.trials=1", "'x' is not a valid index"},
        {"stages.+1.trials=1", "'+1' is not a valid index"},
        {"stages.99999999999999999999.trials=1", "is not a valid index"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct hn_config_node *root = load_ok(set_text);
        struct hn_error err = {0};
        cr_expect_eq(hn_config_set(root, rows[i].assignment, &err), -1, "--set %s should fail",
                     rows[i].assignment);
        cr_expect_eq(err.kind, HN_ERR_CONFIG, "--set %s", rows[i].assignment);
        cr_expect(strstr(err.msg, rows[i].msg) != NULL, "--set %s:\n got '%s'\n want '%s'",
                  rows[i].assignment, err.msg, rows[i].msg);
        /* the tree is unchanged */
        cr_expect_str_eq(at(root, "study.seed")->value, "7");
        cr_expect_eq(at(root, "stages")->n, 2);
        cr_expect_eq(at(root, "study")->n, 2);
        cr_expect_eq(root->n, 2);
        hn_config_free(root);
    }
}

/* ---- robustness: mutated documents load or fail cleanly ---- */

/* Every node's path follows from its parent's; marks are 1-based; the file is shared. */
static void check_tree(const struct hn_config_node *n, const char *file)
{
    cr_assert_geq(n->line, 1);
    cr_assert_geq(n->column, 1);
    cr_assert_eq(n->file, file);
    if (n->type == HN_NODE_SCALAR) {
        cr_assert_not_null(n->value);
        cr_assert_eq(n->n, 0);
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        char expect[4096];
        if (n->type == HN_NODE_MAPPING) {
            cr_assert_not_null(n->keys[i]);
            cr_assert_str_eq(n->key_nodes[i]->value, n->keys[i]);
            snprintf(expect, sizeof(expect), "%s%s%s", n->path, n->path[0] ? "." : "", n->keys[i]);
            cr_assert_eq(hn_config_get(n, n->keys[i]), n->items[i], "keys are unique");
        } else {
            snprintf(expect, sizeof(expect), "%s[%zu]", n->path, i);
        }
        cr_assert_str_eq(n->items[i]->path, expect);
        check_tree(n->items[i], file);
    }
}

Test(conf_load, mutated_documents_load_or_fail_with_a_position)
{
    const char pieces[] = ":-[]{},'\"#&*!|> \t\n~?x1.";
    size_t base = strlen(study_text);
    uint64_t state = 42;
    int loaded = 0, refused = 0;
    for (int round = 0; round < 1500; round++) {
        char text[1024];
        memcpy(text, study_text, base + 1);
        size_t len = base;
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        int edits = 1 + (int)((state >> 33) % 3);
        for (int e = 0; e < edits; e++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)((state >> 20) % len);
            char c = pieces[(state >> 45) % (sizeof(pieces) - 1)];
            switch ((state >> 60) % 3) {
            case 0: /* replace */
                text[pos] = c;
                break;
            case 1: /* insert */
                memmove(text + pos + 1, text + pos, len - pos + 1);
                text[pos] = c;
                len++;
                break;
            default: /* delete */
                memmove(text + pos, text + pos + 1, len - pos);
                len--;
                break;
            }
        }
        struct hn_error err = {0};
        struct hn_config_node *root = hn_config_load_string(text, "t.yaml", &err);
        if (root != NULL) {
            loaded++;
            check_tree(root, root->file);
            cr_assert_str_eq(root->path, "");
            hn_config_free(root);
        } else {
            refused++;
            cr_assert_eq(err.kind, HN_ERR_CONFIG, "%s\n--- text:\n%s", err.msg, text);
            cr_assert(strncmp(err.msg, "t.yaml:", 7) == 0, "%s", err.msg);
        }
    }
    /* the mutations exercise both outcomes */
    cr_expect_gt(loaded, 100, "loaded %d", loaded);
    cr_expect_gt(refused, 100, "refused %d", refused);
}
