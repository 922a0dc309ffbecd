/*
 * hilnas plugins: the descriptor every module exports, and typed option tables.
 *
 * A plugin is a libtool module (plugins/<kind>-<name>.la) exporting exactly one symbol,
 * `hn_plugin_descriptor`, a const struct hn_plugin. Fill its head with HN_PLUGIN_HEAD(kind):
 *
 *     const struct hn_plugin hn_plugin_descriptor = {
 *         HN_PLUGIN_HEAD(HN_KIND_OPTIMIZER),
 *         .name = "random",
 *         .summary = "Uniform or scrambled Sobol points",
 *         .options = random_options,
 *         .optimizer = &random_ops,
 *     };
 *
 * The loader reads abi and signature first and refuses a module built for another ABI or
 * another data model, a module of the wrong kind, a missing function table, or a table whose
 * size is too small, each with a sentence saying what to do. Function tables begin with their
 * size (sizeof the table the plugin was compiled with) and only grow at their end, so the core
 * can check a member exists before calling it.
 *
 * Option tables (struct hn_option, terminated by an entry with name == NULL) drive the core's
 * validation of the plugin's YAML node (before create), filling of the plugin's context struct
 * (hn_options_fill in create), `hilnas plugins --options NAME` and the PLUGINS section of
 * hilnas(1), generated at build time by `hilnas plugins --man`. The key `plugin` of a plugin's
 * node is reserved.
 *
 * Identity: the core prefixes every error a plugin instance returns and every log line it
 * writes (from the thread the core called it on) with "<kind> '<instance>' (<plugin>)", so a
 * plugin never writes its own kind or name into a message.
 */
#ifndef HILNAS_PLUGIN_H
#define HILNAS_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hilnas/conf.h"
#include "hilnas/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The loader accepts exactly this number (core/plugin.c: abi != HN_PLUGIN_ABI is refused).
 * Bump it when
 * - a struct shared with plugins loses, moves or retypes a member, or a member's meaning
 *   changes;
 * - a struct without a size that one side fills and the other reads gains a member (what the
 *   core passes: hn_eval_request, hn_plugin_args, hn_task, hn_error): neither side can tell
 *   whether the other knows it (3 below was such a bump).
 * No bump when a function table or the descriptor grows at its end by a member that may be
 * absent: both carry their size, the core calls such a member only when HN_OPS_HAS says the
 * plugin's table has it (executor workers, serve, launched), and an older core ignores it.
 * 2: the descriptor carries its size.
 * 3: hn_eval_request.progress (a plugin built for 3 reads it; an older core would not set it).
 * 4: struct hn_error.where_len (plugins allocate errors the core fills); the core validates a
 *    plugin's options before create() and names the instance in its messages and log lines.
 * 5: struct hn_task loses its unused last member `core` (runner private; the runner finds a
 *    returned task's trial by trial_id).
 */
#define HN_PLUGIN_ABI 5

/* Encodes what changes struct layouts: pointer, size_t, long and double widths. */
#define HN_PLUGIN_SIGNATURE                                                                        \
    ((unsigned)(sizeof(void *) | (sizeof(size_t) << 5) | (sizeof(long) << 10) |                    \
                (sizeof(double) << 15)))

enum hn_kind {
    HN_KIND_SPACE = 1,
    HN_KIND_ORACLE,
    HN_KIND_EVALUATOR,
    HN_KIND_OPTIMIZER,
    HN_KIND_EXECUTOR,
};

#define HN_PLUGIN_HEAD(k)                                                                          \
    .abi = HN_PLUGIN_ABI, .signature = HN_PLUGIN_SIGNATURE, .size = sizeof(struct hn_plugin),      \
    .kind = (k)

/*
 * True when the function table ops (a pointer to one of the hn_*_ops structs, which begin with
 * their size) was compiled with `member` and sets it. Use it before calling any member that
 * was added after the table's first version (optional members): a plugin built against older
 * headers has a shorter table, and the bytes past its size are not the plugin's.
 */
#define HN_OPS_HAS(ops, member)                                                                    \
    ((ops) != NULL &&                                                                              \
     (ops)->size >= offsetof(__typeof__(*(ops)), member) + sizeof((ops)->member) &&                \
     (ops)->member != NULL)

/* ---- options ---- */

enum hn_opt_type {
    HN_OPT_INT,    /* int64_t at offset */
    HN_OPT_DOUBLE, /* double at offset */
    HN_OPT_BOOL,   /* int at offset (0/1) */
    HN_OPT_STRING, /* const char * at offset, borrowed from the config tree (or .def) */
    HN_OPT_ENUM,   /* int at offset: index of the value in .choices */
    HN_OPT_NODE,   /* const struct hn_config_node * at offset (any YAML); NULL if absent, the
                    * null node for `key: ~` (so errors can point at it; other types take ~ as
                    * "the default") */
};

struct hn_option {
    const char *name;
    enum hn_opt_type type;
    const char *def;            /* default as YAML text; NULL = required (unless HN_OPT_NODE) */
    double min, max;            /* inclusive bounds for INT/DOUBLE; ignored when min > max... */
    int bounded;                /* ...so set bounded = 1 to enforce min/max */
    const char *const *choices; /* HN_OPT_ENUM: NULL-terminated allowed values */
    size_t offset;              /* offsetof(struct my_ctx, field) */
    const char *help;           /* one line */
};

/*
 * Validate a mapping node against an option table: unknown keys (except "plugin") are
 * configuration errors suggesting the nearest option and pointing at `hilnas plugins --options
 * NAME`; values must have the declared type and bounds; required options must be present.
 * If ctx is not NULL, fill it (defaults applied here, in one place). node may be NULL (all
 * defaults). label names what the options belong to in messages (e.g. "calibration"; NULL:
 * none). The core calls it with the descriptor's table on every plugin node before create();
 * plugins call it only for tables of their own nested mappings.
 */
int hn_options_apply(const struct hn_option *options, const struct hn_config_node *node, void *ctx,
                     const char *label, const char *plugin_name, struct hn_error *err);

/*
 * Fill ctx from a plugin's node with the descriptor's own table (defaults applied), in
 * create(). The core has validated the node against the same table before calling create(),
 * so for a study this cannot fail; it does not look for unknown keys (the core did). A caller
 * that creates an instance without the core (a unit test) gets type, bound and required-option
 * errors, without a plugin name: the core adds that.
 */
int hn_options_fill(const struct hn_option *options, const struct hn_config_node *node, void *ctx,
                    struct hn_error *err);

/*
 * Print an option table to out, one row per option after a header: name, type (int, float,
 * bool, string, enum, yaml), default or "required", bounds ("1..1024", ">= 0") or choices
 * ("uniform|sobol"), one-line help. options may be NULL or empty ("(no options)"). Used by
 * `hilnas plugins --options NAME`. Returns 0, or -1 if writing to out failed.
 * Thread safety: reads only the table; safe to call concurrently on different streams.
 */
int hn_options_describe(const struct hn_option *options, FILE *out);

/*
 * The same table as man(7) text: per option a .TP paragraph with the name in bold, its type,
 * default (or "required") and values, then the help line; roff's special characters are
 * escaped. Used by `hilnas plugins --man`, which generates the options part of hilnas(1).
 * Returns 0, or -1 if writing to out failed.
 */
int hn_options_describe_man(const struct hn_option *options, FILE *out);

/* ---- descriptor ---- */

struct hn_space_ops;
struct hn_oracle_ops;
struct hn_evaluator_ops;
struct hn_optimizer_ops;
struct hn_executor_ops;

struct hn_plugin {
    unsigned abi;       /* HN_PLUGIN_ABI the module was built with */
    unsigned signature; /* HN_PLUGIN_SIGNATURE the module was built with */
    size_t size;        /* sizeof(struct hn_plugin) the module was built with */
    enum hn_kind kind;
    const char *name;    /* must equal the module's name after "<kind>-" */
    const char *summary; /* one line */
    const struct hn_option *options;
    /* exactly the member of `kind` is set */
    const struct hn_space_ops *space;
    const struct hn_oracle_ops *oracle;
    const struct hn_evaluator_ops *evaluator;
    const struct hn_optimizer_ops *optimizer;
    const struct hn_executor_ops *executor;
};

/* "space", "oracle", ... */
const char *hn_kind_name(enum hn_kind kind);

#ifdef __cplusplus
}
#endif
#endif
