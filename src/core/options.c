/* hilnas: typed plugin option tables (see include/hilnas/plugin.h). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "hilnas/plugin.h"

/* A bound as the user would write it: integral values without exponent where exact. */
static const char *bound_text(double x, char *buf, size_t size)
{
    if (x == floor(x) && fabs(x) < 1e15) {
        snprintf(buf, size, "%.0f", x);
    } else {
        snprintf(buf, size, "%g", x);
    }
    return buf;
}

/* "must be >= 1", "must be <= 8", or (NaN) "must be a number in [0, 1]" */
static int bounds_error(const struct hn_option *o, double v, const char *found, const char *where,
                        const char *lead, struct hn_error *err)
{
    char lo[64], hi[64];
    bound_text(o->min, lo, sizeof(lo));
    bound_text(o->max, hi, sizeof(hi));
    if (v < o->min) {
        return hn_error_config(err, where, "%soption '%s' must be >= %s, found %s", lead, o->name,
                               lo, found);
    }
    if (v > o->max) {
        return hn_error_config(err, where, "%soption '%s' must be <= %s, found %s", lead, o->name,
                               hi, found);
    }
    return hn_error_config(err, where, "%soption '%s' must be a number in [%s, %s], found %s", lead,
                           o->name, lo, hi, found);
}

static int convert(const struct hn_option *o, const struct hn_config_node *node, const char *text,
                   void *ctx, const char *lead, struct hn_error *err)
{
    char where[1024];
    struct hn_config_node tmp;
    struct hn_error inner;
    if (node == NULL) {
        /* a default: parse it as an unquoted scalar */
        memset(&tmp, 0, sizeof(tmp));
        tmp.type = HN_NODE_SCALAR;
        tmp.file = "<default>";
        tmp.line = tmp.column = 1;
        tmp.path = (char *)o->name;
        tmp.value = (char *)text;
        node = &tmp;
    }
    hn_config_where(node, where, sizeof(where));
    char *field = ctx ? (char *)ctx + o->offset : NULL;
    switch (o->type) {
    case HN_OPT_INT: {
        int64_t v;
        if (hn_config_to_int(node, &v, &inner) != 0) {
            goto prefix;
        }
        if (o->bounded && ((double)v < o->min || (double)v > o->max)) {
            return bounds_error(o, (double)v, node->value, where, lead, err);
        }
        if (field) {
            memcpy(field, &v, sizeof(v));
        }
        return 0;
    }
    case HN_OPT_DOUBLE: {
        double v;
        if (hn_config_to_double(node, &v, &inner) != 0) {
            goto prefix;
        }
        if (o->bounded && !(v >= o->min && v <= o->max)) {
            return bounds_error(o, v, node->value, where, lead, err);
        }
        if (field) {
            memcpy(field, &v, sizeof(v));
        }
        return 0;
    }
    case HN_OPT_BOOL: {
        int v;
        if (hn_config_to_bool(node, &v, &inner) != 0) {
            goto prefix;
        }
        if (field) {
            memcpy(field, &v, sizeof(v));
        }
        return 0;
    }
    case HN_OPT_STRING: {
        const char *v;
        if (hn_config_to_string(node, &v, &inner) != 0) {
            goto prefix;
        }
        if (node == &tmp) {
            v = text; /* the default string itself: static */
        }
        if (field) {
            memcpy(field, &v, sizeof(v));
        }
        return 0;
    }
    case HN_OPT_ENUM: {
        const char *v;
        if (hn_config_to_string(node, &v, &inner) != 0) {
            goto prefix;
        }
        for (int i = 0; o->choices && o->choices[i]; i++) {
            if (strcmp(o->choices[i], v) == 0) {
                if (field) {
                    memcpy(field, &i, sizeof(i));
                }
                return 0;
            }
        }
        char list[512] = "";
        for (int i = 0; o->choices && o->choices[i]; i++) {
            size_t off = strlen(list);
            snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "", o->choices[i]);
        }
        const char *near = hn_suggest(v, o->choices);
        char hint[128] = "";
        if (near) {
            snprintf(hint, sizeof(hint), " (did you mean '%s'?)", near);
        }
        return hn_error_config(err, where, "%soption '%s' must be one of: %s, found '%s'%s", lead,
                               o->name, list, v, hint);
    }
    case HN_OPT_NODE:
        if (field) {
            const struct hn_config_node *v = node == &tmp ? NULL : node;
            memcpy(field, &v, sizeof(v));
        }
        return 0;
    }
    return hn_error_set(err, where, "%soption '%s' has an unknown type", lead, o->name);
prefix:
    /* the getter said "WHERE: PATH: expected ..."; say it as "WHERE: LABEL: option 'NAME': ..." */
    {
        const char *reason =
            inner.msg + (inner.where_len < strlen(inner.msg) ? inner.where_len : 0);
        size_t pl = strlen(node->path);
        if (pl > 0 && strncmp(reason, node->path, pl) == 0 && strncmp(reason + pl, ": ", 2) == 0) {
            reason += pl + 2;
        }
        return hn_error_config(err, where, "%soption '%s': %s", lead, o->name, reason);
    }
}

/* Unknown keys of node (except "plugin"): a configuration error naming the nearest option. */
static int check_known(const struct hn_option *options, const struct hn_config_node *node,
                       const char *lead, const char *plugin_name, struct hn_error *err)
{
    char where[1024];
    for (size_t i = 0; node != NULL && i < node->n; i++) {
        const char *key = node->keys[i];
        int known = strcmp(key, "plugin") == 0;
        for (const struct hn_option *o = options; o->name != NULL && !known; o++) {
            known = strcmp(o->name, key) == 0;
        }
        if (known) {
            continue;
        }
        const char *names[128];
        char valid[1024] = "";
        size_t n = 0;
        for (const struct hn_option *o = options; o->name != NULL && n < 127; o++) {
            names[n++] = o->name;
            size_t off = strlen(valid);
            snprintf(valid + off, sizeof(valid) - off, "%s%s", n > 1 ? ", " : "", o->name);
        }
        names[n] = NULL;
        const char *near = hn_suggest(key, names);
        char hint[256] = "";
        if (near != NULL) {
            snprintf(hint, sizeof(hint), "did you mean '%s'? ", near);
        }
        return hn_error_config(err, hn_config_where(node->key_nodes[i], where, sizeof(where)),
                               "%sunknown option '%s' (%svalid: %s; see 'hilnas plugins "
                               "--options %s')",
                               lead, key, hint, n ? valid : "none", plugin_name);
    }
    return 0;
}

/* Convert every option of the table from node (or its default) into ctx (may be NULL). */
static int fill(const struct hn_option *options, const struct hn_config_node *node, void *ctx,
                const char *lead, const char *plugin_name, struct hn_error *err)
{
    char where[1024];
    for (const struct hn_option *o = options; o->name != NULL; o++) {
        const struct hn_config_node *v = hn_config_get(node, o->name);
        if (v != NULL && v->type == HN_NODE_SCALAR && v->is_null && o->type != HN_OPT_NODE) {
            v = NULL; /* `key: ~` means the default */
        }
        if (v == NULL && o->def == NULL && o->type != HN_OPT_NODE) {
            const struct hn_config_node *at = node;
            if (o->help != NULL) {
                return hn_error_config(err, at ? hn_config_where(at, where, sizeof(where)) : NULL,
                                       "%smissing required option '%s' (%s)", lead, o->name,
                                       o->help);
            }
            return hn_error_config(err, at ? hn_config_where(at, where, sizeof(where)) : NULL,
                                   "%smissing required option '%s' (see 'hilnas plugins "
                                   "--options %s')",
                                   lead, o->name, plugin_name);
        }
        struct hn_error inner;
        if (convert(o, v, o->def, ctx, lead, &inner) != 0) {
            if (v == NULL) {
                /* the table's own default does not pass its own checks */
                const char *reason = inner.msg;
                const char *cut = strstr(reason, "': ");
                reason = cut != NULL ? cut + 3 : reason;
                return hn_error_set(err, NULL,
                                    "%sthe default '%s' of option '%s' is invalid (%s); this is "
                                    "a bug in the plugin, please report it",
                                    lead, o->def, o->name, reason);
            }
            if (err != NULL) {
                *err = inner;
            }
            return -1;
        }
    }
    return 0;
}

static int check_mapping(const struct hn_config_node *node, const char *lead, struct hn_error *err)
{
    char where[1024];
    if (node != NULL && node->type != HN_NODE_MAPPING) {
        return hn_error_config(err, hn_config_where(node, where, sizeof(where)),
                               "%soptions must be a mapping of name: value, found %s", lead,
                               hn_config_type_name(node->type));
    }
    return 0;
}

int hn_options_apply(const struct hn_option *options, const struct hn_config_node *node, void *ctx,
                     const char *label, const char *plugin_name, struct hn_error *err)
{
    static const struct hn_option no_options[] = {{.name = NULL}};
    char lead[512] = "";
    if (label != NULL && label[0] != '\0') {
        snprintf(lead, sizeof(lead), "%s: ", label);
    }
    if (options == NULL) {
        options = no_options;
    }
    if (plugin_name == NULL) {
        plugin_name = "NAME";
    }
    /* unknown keys first: a typo must never pass silently */
    if (check_mapping(node, lead, err) != 0 ||
        check_known(options, node, lead, plugin_name, err) != 0) {
        return -1;
    }
    return fill(options, node, ctx, lead, plugin_name, err);
}

int hn_options_fill(const struct hn_option *options, const struct hn_config_node *node, void *ctx,
                    struct hn_error *err)
{
    static const struct hn_option no_options[] = {{.name = NULL}};
    if (check_mapping(node, "", err) != 0) {
        return -1;
    }
    return fill(options != NULL ? options : no_options, node, ctx, "", "NAME", err);
}

static const char *type_text(enum hn_opt_type type)
{
    switch (type) {
    case HN_OPT_INT:
        return "int";
    case HN_OPT_DOUBLE:
        return "float";
    case HN_OPT_BOOL:
        return "bool";
    case HN_OPT_STRING:
        return "string";
    case HN_OPT_ENUM:
        return "enum";
    case HN_OPT_NODE:
        return "yaml";
    }
    return "?";
}

static const char *default_text(const struct hn_option *o)
{
    if (o->def == NULL) {
        return o->type == HN_OPT_NODE ? "-" : "required";
    }
    return o->def[0] ? o->def : "\"\"";
}

/* "1..1024", ">= 0" when the upper bound only guards overflow, "a|b|c" for choices, "-" */
static const char *range_text(const struct hn_option *o, char *buf, size_t size)
{
    char lo[64], hi[64];
    snprintf(buf, size, "-");
    if (o->type == HN_OPT_ENUM && o->choices != NULL) {
        buf[0] = '\0';
        for (size_t i = 0, off = 0; o->choices[i] != NULL && off < size; i++) {
            off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? "|" : "", o->choices[i]);
        }
    } else if (o->bounded && (o->type == HN_OPT_INT || o->type == HN_OPT_DOUBLE)) {
        int open_above = o->max >= 1e18, open_below = o->min <= -1e18;
        bound_text(o->min, lo, sizeof(lo));
        bound_text(o->max, hi, sizeof(hi));
        if (open_above && open_below) {
            snprintf(buf, size, "-");
        } else if (open_above) {
            snprintf(buf, size, ">= %s", lo);
        } else if (open_below) {
            snprintf(buf, size, "<= %s", hi);
        } else {
            snprintf(buf, size, "%s..%s", lo, hi);
        }
    }
    return buf;
}

int hn_options_describe(const struct hn_option *options, FILE *out)
{
    char range[1024];
    int wname = 4, wtype = 4, wdef = 7, wrange = 6;
    if (options == NULL || options[0].name == NULL) {
        fprintf(out, "  (no options)\n");
        return fflush(out) != 0 || ferror(out) ? -1 : 0;
    }
    for (const struct hn_option *o = options; o->name != NULL; o++) {
        int l = (int)strlen(o->name);
        wname = l > wname ? l : wname;
        l = (int)strlen(type_text(o->type));
        wtype = l > wtype ? l : wtype;
        l = (int)strlen(default_text(o));
        wdef = l > wdef ? l : wdef;
        l = (int)strlen(range_text(o, range, sizeof(range)));
        wrange = l > wrange ? l : wrange;
    }
    /* a very long list of choices must not push every help text off the screen */
    wrange = wrange > 32 ? 32 : wrange;
    fprintf(out, "  %-*s  %-*s  %-*s  %-*s  %s\n", wname, "NAME", wtype, "TYPE", wdef, "DEFAULT",
            wrange, "VALUES", "HELP");
    for (const struct hn_option *o = options; o->name != NULL; o++) {
        fprintf(out, "  %-*s  %-*s  %-*s  %-*s  %s\n", wname, o->name, wtype, type_text(o->type),
                wdef, default_text(o), wrange, range_text(o, range, sizeof(range)),
                o->help ? o->help : "");
    }
    return fflush(out) != 0 || ferror(out) ? -1 : 0;
}

int hn_options_describe_man(const struct hn_option *options, FILE *out)
{
    char range[1024];
    if (options == NULL || options[0].name == NULL) {
        fputs(".PP\nNo options.\n", out);
        return fflush(out) != 0 || ferror(out) ? -1 : 0;
    }
    for (const struct hn_option *o = options; o->name != NULL; o++) {
        fputs(".TP\n.B ", out);
        hn_roff_text(o->name, out);
        fputs("\n(", out);
        hn_roff_text(type_text(o->type), out);
        fputs(o->def == NULL && o->type != HN_OPT_NODE ? ", required" : "", out);
        if (o->def != NULL) {
            fputs(", default ", out);
            hn_roff_text(default_text(o), out);
        }
        range_text(o, range, sizeof(range));
        if (strcmp(range, "-") != 0) {
            fputs(o->type == HN_OPT_ENUM ? "; one of " : "; ", out);
            hn_roff_text(range, out);
        }
        fputs(")\n", out);
        hn_roff_text(o->help != NULL && o->help[0] != '\0' ? o->help : "(undocumented)", out);
        fputc('\n', out);
    }
    return fflush(out) != 0 || ferror(out) ? -1 : 0;
}
