/* hilnas: plugin instances and their identity in messages (see core/instance.h). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "core/instance.h"
#include "core/log_context.h"
#include "hilnas/evaluator.h"
#include "hilnas/executor.h"
#include "hilnas/optimizer.h"

const char *hn_instance_label(const struct hn_plugin *p, const char *instance, char *buf,
                              size_t size)
{
    if (instance != NULL && strcmp(instance, p->name) != 0) {
        snprintf(buf, size, "%s '%s' (%s)", hn_kind_name(p->kind), instance, p->name);
    } else {
        snprintf(buf, size, "%s '%s'", hn_kind_name(p->kind), p->name);
    }
    return buf;
}

int hn_instance_check_options(const struct hn_plugin *p, const struct hn_config_node *node,
                              const char *instance, const char *path, struct hn_error *err)
{
    char label[HN_INSTANCE_LABEL_MAX], text[2 * HN_INSTANCE_LABEL_MAX];
    hn_instance_label(p, instance, label, sizeof(label));
    snprintf(text, sizeof(text), "%.256s%s%s", path ? path : "", path ? ": " : "", label);
    return hn_options_apply(p->options, node, NULL, text, p->name, err);
}

void hn_instance_enter(struct hn_instance_call *c, const struct hn_plugin *p, const char *instance)
{
    hn_instance_label(p, instance, c->label, sizeof(c->label));
    c->outer = hn_log_context(c->label);
}

void hn_instance_leave(struct hn_instance_call *c)
{
    hn_log_context(c->outer);
}

void hn_instance_error(const struct hn_instance_call *c, const struct hn_config_node *node,
                       struct hn_error *err)
{
    if (err == NULL) {
        return;
    }
    char old[HN_ERROR_MAX], pos[1024] = "";
    size_t len = strnlen(err->msg, sizeof(err->msg) - 1);
    if (len == 0) {
        snprintf(old, sizeof(old), "failed (no reason given)");
        err->where_len = 0;
    } else {
        memcpy(old, err->msg, len);
        old[len] = '\0';
    }
    /* the plugin's own "WHERE: " stays first; where_len past the text is not the plugin's */
    size_t wl = err->where_len < len ? err->where_len : 0;
    if (wl > 0) {
        snprintf(pos, sizeof(pos), "%.*s", (int)wl, old);
    } else if (node != NULL) {
        char at[1000];
        snprintf(pos, sizeof(pos), "%s: ", hn_config_where(node, at, sizeof(at)));
    }
    enum hn_error_kind kind = err->kind == HN_ERR_NONE ? HN_ERR_RUNTIME : err->kind;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-truncation"
    /* a message longer than HN_ERROR_MAX is cut at its end, which is fine */
    int n = snprintf(err->msg, sizeof(err->msg), "%s%s: %s", pos, c->label, old + wl);
#pragma GCC diagnostic pop
    (void)n;
    err->kind = kind;
    err->where_len = strlen(pos);
}

void *hn_instance_create(const struct hn_plugin *p, const struct hn_plugin_args *a,
                         struct hn_error *err)
{
    struct hn_instance_call c;
    void *ctx = NULL;
    hn_error_clear(err);
    hn_instance_enter(&c, p, a->instance);
    switch (p->kind) {
    case HN_KIND_SPACE:
        ctx = p->space->create(a, err);
        break;
    case HN_KIND_ORACLE:
        ctx = p->oracle->create(a, err);
        break;
    case HN_KIND_EVALUATOR:
        ctx = p->evaluator->create(a, err);
        break;
    case HN_KIND_OPTIMIZER:
        ctx = p->optimizer->create(a, err);
        break;
    case HN_KIND_EXECUTOR:
        ctx = p->executor->create(a, err);
        break;
    }
    hn_instance_leave(&c);
    if (ctx == NULL) {
        hn_instance_error(&c, a->node, err);
    }
    return ctx;
}

void hn_instance_destroy(const struct hn_plugin *p, const char *instance, void *ctx)
{
    if (ctx == NULL) {
        return;
    }
    struct hn_instance_call c;
    hn_instance_enter(&c, p, instance);
    switch (p->kind) {
    case HN_KIND_SPACE:
        p->space->destroy(ctx);
        break;
    case HN_KIND_ORACLE:
        p->oracle->destroy(ctx);
        break;
    case HN_KIND_EVALUATOR:
        p->evaluator->destroy(ctx);
        break;
    case HN_KIND_OPTIMIZER:
        p->optimizer->destroy(ctx);
        break;
    case HN_KIND_EXECUTOR:
        p->executor->destroy(ctx);
        break;
    }
    hn_instance_leave(&c);
}

/* ---- the space wrapper seen by plugins (space.h) ---- */

const struct hn_params *hn_space_params(const struct hn_space *space)
{
    return space->params;
}

int hn_space_check(const struct hn_space *space, const double *x, char *why, size_t size)
{
    if (!hn_params_valid(space->params, x, why, size)) {
        return 0;
    }
    if (space->plugin->space->check != NULL) {
        struct hn_instance_call c;
        hn_instance_enter(&c, space->plugin, NULL);
        int ok = space->plugin->space->check(space->ctx, x, why, size);
        hn_instance_leave(&c);
        return ok > 0 ? 1 : 0;
    }
    return 1;
}

json_t *hn_space_decode(const struct hn_space *space, const double *x, struct hn_error *err)
{
    if (space->plugin->space->decode != NULL) {
        struct hn_instance_call c;
        hn_instance_enter(&c, space->plugin, NULL);
        json_t *arch = space->plugin->space->decode(space->ctx, x, err);
        hn_instance_leave(&c);
        if (arch == NULL) {
            hn_instance_error(&c, NULL, err);
        }
        return arch;
    }
    return hn_params_to_json(space->params, x);
}
