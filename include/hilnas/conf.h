/*
 * hilnas configuration tree.
 *
 * A study file (YAML) is loaded with libyaml's document API into a tree of hn_config_node.
 * Every node keeps the file, 1-based line and column of its start, and its key path
 * ("stages[1].optimizer.batch"), so every error can say where. Getters are typed and strict:
 * a wrong type or an out-of-range value is a configuration error (HN_ERR_CONFIG) naming
 * file:line:col and the key path.
 *
 * Ownership: hn_config_load() returns a tree owned by the caller, freed with hn_config_free().
 * Every pointer into the tree (nodes, strings) stays valid until then; plugins may keep
 * borrowed pointers into their configuration node for their whole lifetime, because the study
 * keeps its tree alive longer than any plugin instance.
 *
 * Thread safety: a tree is read-only after loading and overriding; concurrent reads are safe.
 */
#ifndef HILNAS_CONF_H
#define HILNAS_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "hilnas/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum hn_node_type {
    HN_NODE_SCALAR,
    HN_NODE_SEQUENCE,
    HN_NODE_MAPPING,
};

struct hn_config_node {
    enum hn_node_type type;
    const char *file; /* shared, owned by the tree */
    int line;         /* 1-based */
    int column;       /* 1-based */
    char *path;       /* key path from the root, e.g. "space.params.x0.min"; "" for the root */

    /* scalar */
    char *value;
    int quoted;  /* 1 when the scalar was quoted in the file ("1" is then a string) */
    int is_null; /* 1 for ~, null, or an empty value */

    /* sequence items or mapping values; for mappings keys[i] names items[i] */
    size_t n;
    struct hn_config_node **items;
    char **keys;
    struct hn_config_node **key_nodes; /* mapping keys as nodes (for their marks); NULL else */
};

/*
 * Load a YAML file into a tree. Syntax errors (libyaml's problem text at its problem mark:
 * "study.yaml:7:3: YAML syntax error: mapping values are not allowed in this context"),
 * duplicate keys (at the second one), anchors/aliases (not supported), multiple documents,
 * non-string keys, NUL characters in values and nesting deeper than 64 levels are
 * configuration errors naming file:line:col. An empty file (or only comments) is an error
 * "study.yaml: is empty; ...". path is also the file name in messages and marks.
 * Returns the root (owned by the caller, free with hn_config_free()), or NULL with err set.
 */
struct hn_config_node *hn_config_load(const char *path, struct hn_error *err);

/* Same from a NUL-terminated string; name is used as the file name in messages. */
struct hn_config_node *hn_config_load_string(const char *text, const char *name,
                                             struct hn_error *err);

/* Free a tree returned by hn_config_load*(); root may be NULL. */
void hn_config_free(struct hn_config_node *root);

/* "file:line:col" of node into buf (always NUL-terminated); returns buf. */
const char *hn_config_where(const struct hn_config_node *node, char *buf, size_t size);

/* Child of a mapping by key, or NULL (also when node is NULL or not a mapping). */
struct hn_config_node *hn_config_get(const struct hn_config_node *node, const char *key);

/* Human name of a node's type: "a scalar", "a list", "a mapping". */
const char *hn_config_type_name(enum hn_node_type type);

/*
 * Require node to be of a type; otherwise a configuration error
 * "FILE:L:C: KEYPATH must be a mapping, found a list".
 */
int hn_config_expect(const struct hn_config_node *node, enum hn_node_type type,
                     struct hn_error *err);

/*
 * Typed conversion of a scalar node. Errors (HN_ERR_CONFIG) name file:line:col and key path:
 * "study.yaml:3:9: study.seed: expected an integer, found 'abc'". A list, a mapping or a null
 * value (~, null, empty) is an error for every conversion.
 * - Integers: decimal digits with an optional sign ("007" is 7); "1.5", "1e3", "0x10" are
 *   errors; values outside int64_t are errors, never clamped.
 * - Numbers: a decimal number strtod() consumes entirely ("1", "-2.5e-3", ".5"), or the YAML
 *   forms .inf, +.inf, -.inf, .nan (any case); "inf", "nan" and hex floats are errors; overflow
 *   is an error, underflow gives 0 or a subnormal.
 * - Booleans: YAML 1.2's true, True, TRUE, false, False, FALSE; YAML 1.1's yes/no/on/off/y/n
 *   (any case) are errors saying what to write; 0 and 1 are errors.
 * - A quoted scalar ('3', "3", or a block | >) is a string, never a number or a boolean:
 *   `seed: "3"` is an error saying so. YAML tags (!!int) are ignored.
 * - Strings: any non-null scalar, quoted or not ("7" gives "7"); *out borrows the tree.
 * Returns 0, or -1 with err set; *out is untouched on error. node may be NULL (an error).
 */
int hn_config_to_int(const struct hn_config_node *node, int64_t *out, struct hn_error *err);
int hn_config_to_double(const struct hn_config_node *node, double *out, struct hn_error *err);
int hn_config_to_bool(const struct hn_config_node *node, int *out, struct hn_error *err);
int hn_config_to_string(const struct hn_config_node *node, const char **out, struct hn_error *err);

/*
 * Getters on a mapping child: if the key is absent, *out = def and 0 is returned; if
 * present it must convert. The _req variants make absence an error naming the parent's
 * position and the missing key path.
 */
int hn_config_get_int(const struct hn_config_node *map, const char *key, int64_t def, int64_t *out,
                      struct hn_error *err);
int hn_config_get_double(const struct hn_config_node *map, const char *key, double def, double *out,
                         struct hn_error *err);
int hn_config_get_bool(const struct hn_config_node *map, const char *key, int def, int *out,
                       struct hn_error *err);
int hn_config_get_string(const struct hn_config_node *map, const char *key, const char *def,
                         const char **out, struct hn_error *err);
int hn_config_req_int(const struct hn_config_node *map, const char *key, int64_t *out,
                      struct hn_error *err);
int hn_config_req_double(const struct hn_config_node *map, const char *key, double *out,
                         struct hn_error *err);
int hn_config_req_string(const struct hn_config_node *map, const char *key, const char **out,
                         struct hn_error *err);

/*
 * Check that every key of mapping `map` is one of `known` (NULL-terminated). An unknown key is
 * a configuration error at the key's position suggesting the nearest known key (edit
 * distance) and listing the valid ones:
 * "study.yaml:14:5: stages[0]: unknown key 'trails' (did you mean 'trials'? valid: name,
 *  optimizer, trials)". The key path names the context; at the root (path "") `what` does
 * instead ("study file: unknown key 'stage' ..."); may be NULL. A map that is not a mapping
 * is an error too. Returns 0, or -1 with err set.
 */
int hn_config_check_keys(const struct hn_config_node *map, const char *const *known,
                         const char *what, struct hn_error *err);

/*
 * Nearest of candidates (NULL-terminated, may be NULL) to word by edit distance (insertions,
 * deletions, substitutions and adjacent transpositions cost 1; the first candidate wins ties),
 * or NULL if none is close (distance > max(2, strlen(word)/3)). Returns a borrowed candidate.
 */
const char *hn_suggest(const char *word, const char *const *candidates);

/*
 * Apply a command-line override "dotted.path=value" to the tree: the path names a scalar
 * (or a missing key of an existing mapping, which is created); list items are addressed as
 * "stages.0.trials" or "stages[0].trials" (decimal index within the list). The value is taken
 * as a plain unquoted scalar, text after the first '=' verbatim ("a=[1]" sets the string
 * "[1]"; "a=" sets null). The new scalar keeps the position "<command line>:1:1" for
 * messages. A malformed override, a missing intermediate key, an index outside the list, a
 * path through a scalar, or replacing a mapping or list by a scalar is a configuration error
 * saying which. Returns 0, or -1 with err set (the tree is then unchanged). Not thread-safe
 * against readers of the same tree.
 */
int hn_config_set(struct hn_config_node *root, const char *assignment, struct hn_error *err);

#ifdef __cplusplus
}
#endif
#endif
