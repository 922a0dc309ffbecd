/* hilnas: typed plugin option tables (see include/hilnas/plugin.h). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hilnas/plugin.h"

static int convert(const struct hn_option *o, const struct hn_config_node *node, const char *text,
                   void *ctx, const char *label, struct hn_error *err)
{
    char where[1024];
    struct hn_config_node tmp;
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
        if (hn_config_to_int(node, &v, err) != 0) {
            goto prefix;
        }
        if (o->bounded && ((double)v < o->min || (double)v > o->max)) {
            return hn_error_config(err, where, "%s: option '%s' must be %s %g, found %lld",
                                   label, o->name, (double)v < o->min ? ">=" : "<=",
                                   (double)v < o->min ? o->min : o->max, (long long)v);
        }
        if (field) {
            memcpy(field, &v, sizeof(v));
        }
        return 0;
    }
    case HN_OPT_DOUBLE: {
        double v;
        if (hn_config_to_double(node, &v, err) != 0) {
            goto prefix;
        }
        if (o->bounded && !(v >= o->min && v <= o->max)) {
            return hn_error_config(err, where, "%s: option '%s' must be in [%g, %g], found %g",
                                   label, o->name, o->min, o->max, v);
        }
        if (field) {
            memcpy(field, &v, sizeof(v));
        }
        return 0;
    }
    case HN_OPT_BOOL: {
        int v;
        if (hn_config_to_bool(node, &v, err) != 0) {
            goto prefix;
        }
        if (field) {
            memcpy(field, &v, sizeof(v));
        }
        return 0;
    }
    case HN_OPT_STRING: {
        const char *v;
        if (hn_config_to_string(node, &v, err) != 0) {
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
        if (hn_config_to_string(node, &v, err) != 0) {
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
            snprintf(hint, sizeof(hint), "did you mean '%s'? ", near);
        }
        return hn_error_config(err, where, "%s: option '%s' must be one of: %s, found '%s'%s%s%s",
                               label, o->name, list, v, near ? " (" : "", hint,
                               near ? ")" : "");
    }
    case HN_OPT_NODE:
        if (field) {
            const struct hn_config_node *v = node == &tmp ? NULL : node;
            memcpy(field, &v, sizeof(v));
        }
        return 0;
    }
    return hn_error_set(err, where, "%s: option '%s' has an unknown type", label, o->name);
prefix:
    hn_error_prefix(err, "%s: option '%s'", label, o->name);
    return -1;
}

int hn_options_apply(const struct hn_option *options, const struct hn_config_node *node,
                     void *ctx, const char *label, const char *plugin_name,
                     struct hn_error *err)
{
    char where[1024];
    if (node != NULL && node->type != HN_NODE_MAPPING) {
        return hn_error_config(err, hn_config_where(node, where, sizeof(where)),
                               "%s: options must be a mapping of name: value, found %s", label,
                               hn_config_type_name(node->type));
    }
    /* unknown keys first: a typo must never pass silently */
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
                               "%s: unknown option '%s' (%svalid: %s; see 'hilnas plugins "
                               "--options %s')",
                               label, key, hint, n ? valid : "none", plugin_name);
    }
    for (const struct hn_option *o = options; o->name != NULL; o++) {
        const struct hn_config_node *v = hn_config_get(node, o->name);
        if (v != NULL && v->type == HN_NODE_SCALAR && v->is_null && o->type != HN_OPT_NODE) {
            v = NULL; /* `key: ~` means the default */
        }
        if (v == NULL && o->def == NULL && o->type != HN_OPT_NODE) {
            const struct hn_config_node *at = node;
            return hn_error_config(err, at ? hn_config_where(at, where, sizeof(where)) : NULL,
                                   "%s: missing required option '%s' (%s)", label, o->name,
                                   o->help ? o->help : "see 'hilnas plugins --options'");
        }
        if (convert(o, v, o->def, ctx, label, err) != 0) {
            return -1;
        }
    }
    return 0;
}
