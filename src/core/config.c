/* hilnas: YAML configuration tree (see include/hilnas/conf.h). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "core/util.h"
#include "hilnas/conf.h"

/* The tree owns one copy of the file name, shared by every node. */
struct tree_file {
    char *name;
};

/* deepest nesting of lists and mappings a study file may have */
#define HN_CONFIG_MAX_DEPTH 64
/* Largest study file, and most values (scalars, lists, mappings) in one. A real study has a
 * few hundred; these bound the memory libyaml and the tree take (about 250 bytes per value)
 * before any is allocated. */
#define HN_CONFIG_MAX_BYTES ((size_t)16 << 20)
#define HN_CONFIG_MAX_NODES 1000000L

static struct hn_config_node *node_new(enum hn_node_type type, const char *file, int line,
                                       int column, const char *path)
{
    struct hn_config_node *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return NULL;
    }
    n->type = type;
    n->file = file;
    n->line = line;
    n->column = column;
    n->path = strdup(path);
    if (n->path == NULL) {
        free(n);
        return NULL;
    }
    return n;
}

static void node_free(struct hn_config_node *n)
{
    if (n == NULL) {
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        node_free(n->items[i]);
        if (n->keys != NULL) {
            free(n->keys[i]);
        }
        if (n->key_nodes != NULL) {
            node_free(n->key_nodes[i]);
        }
    }
    free(n->items);
    free(n->keys);
    free(n->key_nodes);
    free(n->value);
    free(n->path);
    free(n);
}

void hn_config_free(struct hn_config_node *root)
{
    if (root == NULL) {
        return;
    }
    char *file = (char *)root->file;
    node_free(root);
    free(file);
}

const char *hn_config_where(const struct hn_config_node *node, char *buf, size_t size)
{
    if (node == NULL) {
        snprintf(buf, size, "?");
    } else {
        snprintf(buf, size, "%s:%d:%d", node->file, node->line, node->column);
    }
    return buf;
}

const char *hn_config_type_name(enum hn_node_type type)
{
    switch (type) {
    case HN_NODE_SCALAR:
        return "a scalar";
    case HN_NODE_SEQUENCE:
        return "a list";
    case HN_NODE_MAPPING:
        return "a mapping";
    }
    return "?";
}

static const char *display_path(const struct hn_config_node *n)
{
    return n->path[0] ? n->path : "the document";
}

static int is_null_scalar(const char *v, int quoted)
{
    return !quoted && (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
                       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0);
}

static char *child_path(const char *parent, const char *key, long index)
{
    size_t len = strlen(parent) + (key ? strlen(key) : 24) + 4;
    char *p = malloc(len);
    if (p == NULL) {
        return NULL;
    }
    if (key != NULL) {
        snprintf(p, len, "%s%s%s", parent, parent[0] ? "." : "", key);
    } else {
        snprintf(p, len, "%s[%ld]", parent, index);
    }
    return p;
}

/*
 * Children arrays grow geometrically (linear time for big lists): their capacity is implied by
 * the count, 4 and then the next power of two, so a realloc happens when the count is 0 or a
 * power of two >= 4.
 */
static int append_child(struct hn_config_node *parent, struct hn_config_node *child, char *key,
                        struct hn_config_node *key_node)
{
    size_t n = parent->n + 1, have = parent->n;
    int grow = have == 0 || (have >= 4 && (have & (have - 1)) == 0);
    size_t cap = have == 0 ? 4 : 2 * have;
    if (grow) {
        struct hn_config_node **items = realloc(parent->items, cap * sizeof(*items));
        if (items == NULL) {
            return -1;
        }
        parent->items = items;
    }
    if (parent->type == HN_NODE_MAPPING) {
        if (grow) {
            char **keys = realloc(parent->keys, cap * sizeof(*keys));
            if (keys == NULL) {
                return -1;
            }
            parent->keys = keys;
            struct hn_config_node **kn = realloc(parent->key_nodes, cap * sizeof(*kn));
            if (kn == NULL) {
                return -1;
            }
            parent->key_nodes = kn;
        }
        parent->keys[parent->n] = key;
        parent->key_nodes[parent->n] = key_node;
    }
    parent->items[parent->n] = child;
    parent->n = n;
    return 0;
}

/* Convert libyaml node `yn` of `doc` into our tree. depth guards against abuse. */
static struct hn_config_node *convert(yaml_document_t *doc, yaml_node_t *yn, const char *file,
                                      const char *path, int depth, struct hn_error *err)
{
    int line = (int)yn->start_mark.line + 1, col = (int)yn->start_mark.column + 1;
    char where[1024];
    snprintf(where, sizeof(where), "%s:%d:%d", file, line, col);
    if (depth > HN_CONFIG_MAX_DEPTH) {
        hn_error_config(err, where, "%s: nested more than 64 levels deep", path);
        return NULL;
    }
    struct hn_config_node *n = NULL;
    switch (yn->type) {
    case YAML_SCALAR_NODE: {
        n = node_new(HN_NODE_SCALAR, file, line, col, path);
        if (n == NULL) {
            break;
        }
        n->value = strndup((const char *)yn->data.scalar.value, yn->data.scalar.length);
        if (n->value == NULL) {
            node_free(n);
            n = NULL;
            break;
        }
        if (strlen(n->value) != yn->data.scalar.length) {
            hn_error_config(err, where, "%s: a value contains a NUL character", path);
            node_free(n);
            return NULL;
        }
        n->quoted = yn->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    yn->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE ||
                    yn->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
                    yn->data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
        n->is_null = is_null_scalar(n->value, n->quoted);
        return n;
    }
    case YAML_SEQUENCE_NODE: {
        n = node_new(HN_NODE_SEQUENCE, file, line, col, path);
        if (n == NULL) {
            break;
        }
        long i = 0;
        for (yaml_node_item_t *it = yn->data.sequence.items.start; it < yn->data.sequence.items.top;
             it++, i++) {
            char *cp = child_path(path, NULL, i);
            yaml_node_t *cy = yaml_document_get_node(doc, *it);
            struct hn_config_node *c = cp && cy ? convert(doc, cy, file, cp, depth + 1, err) : NULL;
            free(cp);
            if (c == NULL || append_child(n, c, NULL, NULL) != 0) {
                node_free(c);
                node_free(n);
                return NULL;
            }
        }
        return n;
    }
    case YAML_MAPPING_NODE: {
        n = node_new(HN_NODE_MAPPING, file, line, col, path);
        if (n == NULL) {
            break;
        }
        for (yaml_node_pair_t *p = yn->data.mapping.pairs.start; p < yn->data.mapping.pairs.top;
             p++) {
            yaml_node_t *ky = yaml_document_get_node(doc, p->key);
            yaml_node_t *vy = yaml_document_get_node(doc, p->value);
            int kl = (int)ky->start_mark.line + 1, kc = (int)ky->start_mark.column + 1;
            char kwhere[1024];
            snprintf(kwhere, sizeof(kwhere), "%s:%d:%d", file, kl, kc);
            if (ky->type != YAML_SCALAR_NODE) {
                hn_error_config(err, kwhere, "%s: mapping keys must be plain strings, found %s",
                                path[0] ? path : "the document",
                                ky->type == YAML_SEQUENCE_NODE ? "a list" : "a mapping");
                node_free(n);
                return NULL;
            }
            char *key = strndup((const char *)ky->data.scalar.value, ky->data.scalar.length);
            if (key == NULL) {
                node_free(n);
                return NULL;
            }
            char *cp = child_path(path, key, 0);
            struct hn_config_node *kn = node_new(HN_NODE_SCALAR, file, kl, kc, cp ? cp : "");
            struct hn_config_node *c = cp ? convert(doc, vy, file, cp, depth + 1, err) : NULL;
            free(cp);
            if (kn != NULL) {
                kn->value = strdup(key);
            }
            if (c == NULL || kn == NULL || kn->value == NULL || append_child(n, c, key, kn) != 0) {
                node_free(c);
                node_free(kn);
                free(key);
                node_free(n);
                return NULL;
            }
        }
        /* duplicate keys, by sorting: a mapping with 100000 keys costs milliseconds */
        long first = -1;
        long second = hn_find_duplicate((const char *const *)n->keys, n->n, &first);
        if (second >= 0) {
            const struct hn_config_node *kn = n->key_nodes[second];
            char kwhere[1024];
            snprintf(kwhere, sizeof(kwhere), "%s:%d:%d", file, kn->line, kn->column);
            hn_error_config(err, kwhere,
                            "%s: duplicate key '%s' (first defined at line %d, column %d); "
                            "remove one of them",
                            path[0] ? path : "the document", n->keys[second],
                            n->key_nodes[first]->line, n->key_nodes[first]->column);
            node_free(n);
            return NULL;
        }
        return n;
    }
    default:
        hn_error_config(err, where, "%s: unsupported YAML node", path);
        return NULL;
    }
    hn_error_set(err, where, "out of memory");
    return NULL;
}

/* Reject anchors/aliases: libyaml resolves aliases into shared nodes, which our tree (and
 * error positions) cannot represent; and they are a classic billion-laughs vector. */
static int scan_events(yaml_parser_t *parser, const char *file, int *documents,
                       struct hn_error *err)
{
    yaml_event_t ev;
    int depth = 0;
    long nodes = 0;
    *documents = 0;
    for (;;) {
        if (!yaml_parser_parse(parser, &ev)) {
            return -1;
        }
        char where[1024];
        snprintf(where, sizeof(where), "%s:%d:%d", file, (int)ev.start_mark.line + 1,
                 (int)ev.start_mark.column + 1);
        int stop = ev.type == YAML_STREAM_END_EVENT;
        int bad = 0;
        if (ev.type == YAML_ALIAS_EVENT ||
            (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.anchor != NULL) ||
            (ev.type == YAML_SEQUENCE_START_EVENT && ev.data.sequence_start.anchor != NULL) ||
            (ev.type == YAML_MAPPING_START_EVENT && ev.data.mapping_start.anchor != NULL)) {
            hn_error_config(err, where,
                            "YAML anchors and aliases (& and *) are not supported in study "
                            "files; write the values out");
            bad = 1;
        }
        if ((ev.type == YAML_SCALAR_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
             ev.type == YAML_MAPPING_START_EVENT) &&
            ++nodes > HN_CONFIG_MAX_NODES && !bad) {
            /* stop before libyaml and the tree allocate for every value */
            hn_error_config(err, where,
                            "more than %ld values (keys, scalars, lists, mappings); a study file "
                            "never needs that many",
                            HN_CONFIG_MAX_NODES);
            bad = 1;
        }
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
            /* stop here, before libyaml spends quadratic time on absurd nesting */
            if (++depth > HN_CONFIG_MAX_DEPTH) {
                hn_error_config(err, where,
                                "lists and mappings nested more than %d deep; a study file "
                                "never needs that",
                                HN_CONFIG_MAX_DEPTH);
                bad = 1;
            }
        } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        if (!bad && ev.type == YAML_DOCUMENT_START_EVENT && ++*documents > 1) {
            hn_error_config(err, where,
                            "a study file holds one YAML document; remove the second '---'");
            bad = 1;
        }
        yaml_event_delete(&ev);
        if (bad) {
            return -2;
        }
        if (stop) {
            return 0;
        }
    }
}

/*
 * libyaml's problem text at its problem mark. Reader errors (bad UTF-8, control characters)
 * carry only a byte offset, so the line and column are counted from the text.
 */
static void parser_error(yaml_parser_t *parser, const unsigned char *text, size_t len,
                         const char *file, struct hn_error *err)
{
    const yaml_mark_t *m = &parser->problem_mark;
    int line = (int)m->line + 1, column = (int)m->column + 1;
    if (parser->error == YAML_MEMORY_ERROR) {
        hn_error_set(err, file, "out of memory while parsing YAML");
        return;
    }
    if (parser->error == YAML_READER_ERROR) {
        line = 1;
        column = 1;
        for (size_t i = 0; i < parser->problem_offset && i < len; i++) {
            if (text[i] == '\n') {
                line++;
                column = 1;
            } else if ((text[i] & 0xC0) != 0x80) {
                column++;
            }
        }
    }
    char where[1024];
    snprintf(where, sizeof(where), "%s:%d:%d", file, line, column);
    const char *problem = parser->problem ? parser->problem : "malformed YAML";
    if (parser->error == YAML_READER_ERROR) {
        hn_error_config(err, where, "YAML syntax error: %s (byte 0x%02x); save the file as UTF-8",
                        problem, (unsigned)parser->problem_value & 0xFFu);
    } else if (parser->context != NULL) {
        hn_error_config(err, where, "YAML syntax error: %s (%s at line %d)", problem,
                        parser->context, (int)parser->context_mark.line + 1);
    } else {
        hn_error_config(err, where, "YAML syntax error: %s", problem);
    }
}

static struct hn_config_node *load(const unsigned char *text, size_t len, const char *name,
                                   struct hn_error *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    struct hn_config_node *root = NULL;
    char *file = strdup(name);
    if (file == NULL) {
        hn_error_set(err, name, "out of memory");
        return NULL;
    }
    /* pass 1: events, to refuse anchors and multiple documents with positions */
    int documents = 0;
    if (!yaml_parser_initialize(&parser)) {
        hn_error_set(err, name, "cannot initialise the YAML parser");
        free(file);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, text, len);
    int rc = scan_events(&parser, file, &documents, err);
    if (rc == -1) {
        parser_error(&parser, text, len, file, err);
    }
    yaml_parser_delete(&parser);
    if (rc != 0) {
        free(file);
        return NULL;
    }
    /* pass 2: the document */
    if (!yaml_parser_initialize(&parser)) {
        hn_error_set(err, name, "cannot initialise the YAML parser");
        free(file);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        parser_error(&parser, text, len, file, err);
        yaml_parser_delete(&parser);
        free(file);
        return NULL;
    }
    yaml_node_t *top = yaml_document_get_root_node(&doc);
    if (top == NULL || (top->type == YAML_SCALAR_NODE && top->data.scalar.length == 0)) {
        hn_error_config(err, name,
                        "is empty; a study needs at least 'study', 'space', 'objectives' and "
                        "'stages' (see docs/study-file.md)");
    } else {
        root = convert(&doc, top, file, "", 0, err);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (root == NULL) {
        free(file);
        return NULL;
    }
    return root;
}

struct hn_config_node *hn_config_load_string(const char *text, const char *name,
                                             struct hn_error *err)
{
    return load((const unsigned char *)text, strlen(text), name, err);
}

struct hn_config_node *hn_config_load(const char *path, struct hn_error *err)
{
    FILE *f = fopen(path, "rbe");
    if (f == NULL) {
        hn_error_config(err, path, "cannot open the study file: %s", hn_strerror(errno));
        return NULL;
    }
    size_t cap = 8192, len = 0;
    unsigned char *buf = malloc(cap);
    while (buf != NULL) {
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (len < cap) {
            break;
        }
        if (cap >= HN_CONFIG_MAX_BYTES) {
            fclose(f);
            free(buf);
            hn_error_config(err, path,
                            "is larger than %zu MiB (the limit of a study file); is it really "
                            "a study file?",
                            HN_CONFIG_MAX_BYTES >> 20);
            return NULL;
        }
        unsigned char *g = realloc(buf, cap * 2);
        if (g == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = g;
        cap *= 2;
    }
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (buf == NULL) {
        hn_error_set(err, path, "out of memory reading the study file");
        return NULL;
    }
    if (read_errno != 0) {
        free(buf);
        /* a directory opens fine and fails here: the user named the wrong thing */
        hn_error_config(err, path, "cannot read the study file: %s", hn_strerror(read_errno));
        return NULL;
    }
    struct hn_config_node *root = load(buf, len, path, err);
    free(buf);
    return root;
}

struct hn_config_node *hn_config_get(const struct hn_config_node *node, const char *key)
{
    if (node == NULL || node->type != HN_NODE_MAPPING) {
        return NULL;
    }
    for (size_t i = 0; i < node->n; i++) {
        if (strcmp(node->keys[i], key) == 0) {
            return node->items[i];
        }
    }
    return NULL;
}

int hn_config_expect(const struct hn_config_node *node, enum hn_node_type type,
                     struct hn_error *err)
{
    char where[1024];
    if (node == NULL) {
        return hn_error_config(err, NULL, "expected %s, found nothing", hn_config_type_name(type));
    }
    if (node->type == type && !(type == HN_NODE_SCALAR && node->is_null)) {
        return 0;
    }
    const char *found =
        node->type == HN_NODE_SCALAR && node->is_null ? "nothing" : hn_config_type_name(node->type);
    if (node->type == HN_NODE_SCALAR && !node->is_null) {
        return hn_error_config(err, hn_config_where(node, where, sizeof(where)),
                               "%s must be %s, found the value '%s'", display_path(node),
                               hn_config_type_name(type), node->value);
    }
    return hn_error_config(err, hn_config_where(node, where, sizeof(where)),
                           "%s must be %s, found %s", display_path(node), hn_config_type_name(type),
                           found);
}

static int scalar_or_fail(const struct hn_config_node *node, const char *expected,
                          struct hn_error *err)
{
    char where[1024];
    if (node == NULL) {
        return hn_error_config(err, NULL, "expected %s, found nothing", expected);
    }
    if (node->type != HN_NODE_SCALAR) {
        return hn_error_config(err, hn_config_where(node, where, sizeof(where)),
                               "%s: expected %s, found %s", display_path(node), expected,
                               hn_config_type_name(node->type));
    }
    if (node->is_null) {
        return hn_error_config(err, hn_config_where(node, where, sizeof(where)),
                               "%s: expected %s, found nothing", display_path(node), expected);
    }
    return 0;
}

/* "expected an integer, found 'abc'"; a quoted value gets told why it is not a number. */
static int type_error(const struct hn_config_node *node, const char *expected, struct hn_error *err)
{
    char where[1024];
    hn_config_where(node, where, sizeof(where));
    if (node->quoted) {
        return hn_error_config(err, where,
                               "%s: expected %s, found the quoted string '%s' (quoted values "
                               "are strings; write it without quotes)",
                               display_path(node), expected, node->value);
    }
    return hn_error_config(err, where, "%s: expected %s, found '%s'", display_path(node), expected,
                           node->value);
}

int hn_config_to_int(const struct hn_config_node *node, int64_t *out, struct hn_error *err)
{
    char where[1024];
    if (scalar_or_fail(node, "an integer", err) != 0) {
        return -1;
    }
    const char *v = node->value;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (node->quoted || end == v || *end != '\0' || strspn(v, "+-0123456789") != strlen(v)) {
        return type_error(node, "an integer", err);
    }
    if (errno == ERANGE) {
        return hn_error_config(err, hn_config_where(node, where, sizeof(where)),
                               "%s: integer '%s' is out of range (64-bit signed)",
                               display_path(node), v);
    }
    *out = (int64_t)x;
    return 0;
}

int hn_config_to_double(const struct hn_config_node *node, double *out, struct hn_error *err)
{
    char where[1024];
    if (scalar_or_fail(node, "a number", err) != 0) {
        return -1;
    }
    const char *v = node->value;
    if (!node->quoted) {
        if (strcasecmp(v, ".inf") == 0 || strcasecmp(v, "+.inf") == 0) {
            *out = INFINITY;
            return 0;
        }
        if (strcasecmp(v, "-.inf") == 0) {
            *out = -INFINITY;
            return 0;
        }
        if (strcasecmp(v, ".nan") == 0) {
            *out = NAN;
            return 0;
        }
    }
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    /* strtod accepts "inf", "nan" and hex: only plain decimal numbers are numbers here */
    int plain = strspn(v, "+-0123456789.eE") == strlen(v);
    if (node->quoted || end == v || *end != '\0' || !plain) {
        return type_error(node, "a number", err);
    }
    if (errno == ERANGE && fabs(x) > 1.0) {
        return hn_error_config(err, hn_config_where(node, where, sizeof(where)),
                               "%s: number '%s' is out of range", display_path(node), v);
    }
    *out = x;
    return 0;
}

int hn_config_to_bool(const struct hn_config_node *node, int *out, struct hn_error *err)
{
    /* YAML 1.2's core schema: exactly these spellings are booleans */
    static const char *const yes[] = {"true", "True", "TRUE", NULL};
    static const char *const no[] = {"false", "False", "FALSE", NULL};
    /* YAML 1.1's other booleans: refused, saying what to write instead */
    static const char *const yes11[] = {"yes", "y", "on", NULL};
    static const char *const no11[] = {"no", "n", "off", NULL};
    if (scalar_or_fail(node, "true or false", err) != 0) {
        return -1;
    }
    for (size_t i = 0; !node->quoted && yes[i]; i++) {
        if (strcmp(node->value, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(node->value, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    for (size_t i = 0; !node->quoted && yes11[i]; i++) {
        if (strcasecmp(node->value, yes11[i]) == 0 || strcasecmp(node->value, no11[i]) == 0) {
            char where[1024];
            return hn_error_config(err, hn_config_where(node, where, sizeof(where)),
                                   "%s: expected true or false, found '%s' (a YAML 1.1 boolean; "
                                   "YAML 1.2 booleans are true and false: write %s)",
                                   display_path(node), node->value,
                                   strcasecmp(node->value, yes11[i]) == 0 ? "true" : "false");
        }
    }
    return type_error(node, "true or false", err);
}

int hn_config_to_string(const struct hn_config_node *node, const char **out, struct hn_error *err)
{
    if (scalar_or_fail(node, "a string", err) != 0) {
        return -1;
    }
    *out = node->value;
    return 0;
}

#define GETTER(fn, conv, type)                                                                     \
    int fn(const struct hn_config_node *map, const char *key, type def, type *out,                 \
           struct hn_error *err)                                                                   \
    {                                                                                              \
        const struct hn_config_node *n = hn_config_get(map, key);                                  \
        if (n == NULL) {                                                                           \
            *out = def;                                                                            \
            return 0;                                                                              \
        }                                                                                          \
        return conv(n, out, err);                                                                  \
    }

GETTER(hn_config_get_int, hn_config_to_int, int64_t)
GETTER(hn_config_get_double, hn_config_to_double, double)
GETTER(hn_config_get_bool, hn_config_to_bool, int)
GETTER(hn_config_get_string, hn_config_to_string, const char *)

static int missing(const struct hn_config_node *map, const char *key, struct hn_error *err)
{
    char where[1024];
    if (map == NULL) {
        return hn_error_config(err, NULL, "missing required key '%s'", key);
    }
    return hn_error_config(err, hn_config_where(map, where, sizeof(where)),
                           "%s: missing required key '%s'", display_path(map), key);
}

#define REQUIRER(fn, conv, type)                                                                   \
    int fn(const struct hn_config_node *map, const char *key, type *out, struct hn_error *err)     \
    {                                                                                              \
        const struct hn_config_node *n = hn_config_get(map, key);                                  \
        if (n == NULL) {                                                                           \
            return missing(map, key, err);                                                         \
        }                                                                                          \
        return conv(n, out, err);                                                                  \
    }

REQUIRER(hn_config_req_int, hn_config_to_int, int64_t)
REQUIRER(hn_config_req_double, hn_config_to_double, double)
REQUIRER(hn_config_req_string, hn_config_to_string, const char *)

/*
 * Optimal string alignment distance: insertions, deletions, substitutions and transpositions
 * of adjacent characters each cost one ("bacth" is one edit from "batch"). Three rows of the
 * dynamic programme suffice; words longer than 64 characters are never suggested.
 */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) {
        return (size_t)-1;
    }
    size_t rows[3][65];
    size_t *before = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++) {
        prev[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t best = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < best) {
                best = prev[j] + 1;
            }
            if (cur[j - 1] + 1 < best) {
                best = cur[j - 1] + 1;
            }
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                before[j - 2] + 1 < best) {
                best = before[j - 2] + 1;
            }
            cur[j] = best;
        }
        size_t *t = before;
        before = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

const char *hn_suggest(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    size_t limit = strlen(word) / 3;
    if (limit < 2) {
        limit = 2;
    }
    for (size_t i = 0; candidates != NULL && candidates[i] != NULL; i++) {
        size_t d = edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best_d <= limit ? best : NULL;
}

int hn_config_check_keys(const struct hn_config_node *map, const char *const *known,
                         const char *what, struct hn_error *err)
{
    char where[1024];
    if (hn_config_expect(map, HN_NODE_MAPPING, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < map->n; i++) {
        int ok = 0;
        for (size_t k = 0; known[k] != NULL && !ok; k++) {
            ok = strcmp(map->keys[i], known[k]) == 0;
        }
        if (ok) {
            continue;
        }
        char valid[1024] = "";
        for (size_t k = 0; known[k] != NULL; k++) {
            size_t off = strlen(valid);
            snprintf(valid + off, sizeof(valid) - off, "%s%s", k ? ", " : "", known[k]);
        }
        const char *near = hn_suggest(map->keys[i], known);
        char hint[256] = "";
        if (near != NULL) {
            snprintf(hint, sizeof(hint), "did you mean '%s'? ", near);
        }
        /* the key path says where inside the file; at the root, `what` says what it is */
        const char *context = map->path[0] ? map->path : what;
        return hn_error_config(err, hn_config_where(map->key_nodes[i], where, sizeof(where)),
                               "%s%sunknown key '%s' (%svalid: %s)", context ? context : "",
                               context ? ": " : "", map->keys[i], hint, valid);
    }
    return 0;
}

/* ---- --set overrides ---- */

/*
 * A key path is KEY ( [K] )* ( . KEY ( [K] )* )*, where KEY and K are non-empty runs of
 * characters other than '.', '[' and ']' (K is a list index or a key; indexes are checked
 * against the tree later). 0, or -1 with the offset of the first
 * wrong character and what is wrong there.
 */
static int check_key_path(const char *p, size_t len, size_t *at, const char **why)
{
    size_t i = 0;
    for (;;) {
        size_t k = 0;
        while (i + k < len && strchr(".[]", p[i + k]) == NULL) {
            k++;
        }
        if (k == 0) {
            *at = i;
            *why = i >= len ? "the path ends without a key" : "a key is missing here";
            return -1;
        }
        i += k;
        while (i < len && p[i] == '[') {
            size_t d = 0;
            while (i + 1 + d < len && strchr(".[]", p[i + 1 + d]) == NULL) {
                d++;
            }
            if (d == 0 || i + 1 + d >= len || p[i + 1 + d] != ']') {
                *at = i;
                *why = "'[' needs an index or key and a closing ']'";
                return -1;
            }
            i += d + 2;
        }
        if (i >= len) {
            return 0;
        }
        if (p[i] != '.') {
            *at = i;
            *why = p[i] == ']' ? "']' without '['" : "expected '.' or '[' after ']'";
            return -1;
        }
        i++;
    }
}

int hn_config_set(struct hn_config_node *root, const char *assignment, struct hn_error *err)
{
    const char *where = "<command line>";
    const char *eq = strchr(assignment, '=');
    if (eq == NULL || eq == assignment) {
        return hn_error_config(err, where, "--set '%s': expected KEY.PATH=VALUE, e.g. study.seed=3",
                               assignment);
    }
    size_t plen = (size_t)(eq - assignment), at = 0;
    const char *why = NULL;
    if (check_key_path(assignment, plen, &at, &why) != 0) {
        return hn_error_config(err, where,
                               "--set '%s': malformed key path at character %zu (%s); write "
                               "e.g. stages[0].trials=20 or stages.0.trials=20",
                               assignment, at + 1, why);
    }
    char *path = strndup(assignment, plen);
    if (path == NULL) {
        return hn_error_set(err, where, "out of memory");
    }
    /* normalise a[0].b to a.0.b */
    for (char *c = path; *c; c++) {
        if (*c == '[') {
            *c = '.';
        } else if (*c == ']') {
            memmove(c, c + 1, strlen(c));
            c--;
        }
    }
    struct hn_config_node *node = root;
    char *save = NULL;
    char *seg = strtok_r(path, ".", &save);
    int rc = -1;
    char sofar[1024] = "";
    while (seg != NULL) {
        char *next = strtok_r(NULL, ".", &save);
        size_t off = strlen(sofar);
        snprintf(sofar + off, sizeof(sofar) - off, "%s%s", off ? "." : "", seg);
        struct hn_config_node *child = NULL;
        if (node->type == HN_NODE_MAPPING) {
            for (size_t i = 0; i < node->n; i++) {
                if (strcmp(node->keys[i], seg) == 0) {
                    child = node->items[i];
                }
            }
            if (child == NULL) {
                /* a missing key is added: a mapping when the path goes on (so that
                 * --set executor.plugin=mpi works without an executor section), else the
                 * scalar value */
                char *cp = child_path(node->path, seg, 0);
                struct hn_config_node *nn =
                    cp ? node_new(next ? HN_NODE_MAPPING : HN_NODE_SCALAR, root->file, 1, 1, cp)
                       : NULL;
                struct hn_config_node *kn =
                    cp ? node_new(HN_NODE_SCALAR, root->file, 1, 1, cp) : NULL;
                char *key = strdup(seg);
                free(cp);
                if (nn == NULL || kn == NULL || key == NULL ||
                    (!next && (nn->value = strdup(eq + 1)) == NULL) ||
                    (kn->value = strdup(seg)) == NULL || append_child(node, nn, key, kn) != 0) {
                    node_free(nn);
                    node_free(kn);
                    free(key);
                    hn_error_set(err, where, "out of memory");
                    goto done;
                }
                nn->file = "<command line>";
                kn->file = "<command line>";
                if (next == NULL) {
                    nn->is_null = is_null_scalar(nn->value, 0);
                    rc = 0;
                    goto done;
                }
                node = nn;
                seg = next;
                continue;
            }
        } else if (node->type == HN_NODE_SEQUENCE) {
            char *end = NULL;
            long idx = strtol(seg, &end, 10);
            if (strspn(seg, "0123456789") != strlen(seg) || *end != '\0' ||
                (size_t)idx >= node->n) {
                hn_error_config(err, where,
                                "--set %s: '%s' is a list of %zu items; '%s' is not a valid "
                                "index (0..%zu)",
                                assignment, node->path[0] ? node->path : "the document", node->n,
                                seg, node->n ? node->n - 1 : 0);
                goto done;
            }
            child = node->items[idx];
        } else {
            hn_error_config(err, where, "--set %s: '%s' is a value, not a mapping or list",
                            assignment, node->path);
            goto done;
        }
        if (next == NULL) {
            if (child->type != HN_NODE_SCALAR) {
                hn_error_config(err, where,
                                "--set %s: '%s' is %s; only scalar values can be set from the "
                                "command line",
                                assignment, child->path, hn_config_type_name(child->type));
                goto done;
            }
            char *v = strdup(eq + 1);
            if (v == NULL) {
                hn_error_set(err, where, "out of memory");
                goto done;
            }
            free(child->value);
            child->value = v;
            child->quoted = 0;
            child->is_null = is_null_scalar(v, 0);
            child->file = "<command line>";
            child->line = 1;
            child->column = 1;
            rc = 0;
            goto done;
        }
        node = child;
        seg = next;
    }
    hn_error_config(err, where, "--set '%s': empty key path", assignment);
done:
    free(path);
    return rc;
}
