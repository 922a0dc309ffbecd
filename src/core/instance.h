/*
 * hilnas core internals: plugin instances. Not installed.
 *
 * The core owns a plugin instance's identity: it checks the instance's options against the
 * descriptor's table before create(), and every call into the instance runs inside an
 * hn_instance_call, so that the log lines of that thread carry "<kind> '<instance>' (<plugin>)"
 * and an error the call returns names the instance exactly once, after the position the plugin
 * gave (struct hn_error.where_len) or the instance's node's. Plugins never name themselves.
 * Depends on include/hilnas only.
 */
#ifndef HILNAS_CORE_INSTANCE_H
#define HILNAS_CORE_INSTANCE_H

#include <stddef.h>

#include "hilnas/conf.h"
#include "hilnas/plugin.h"
#include "hilnas/space.h"
#include "hilnas/study.h"

/* The study's space instance (what include/hilnas/space.h's functions take). */
struct hn_space {
    const struct hn_plugin *plugin;
    void *ctx;
    const struct hn_params *params;
};

#define HN_INSTANCE_LABEL_MAX 256

/* "<kind> '<instance>' (<plugin>)", or "<kind> '<plugin>'" when instance is NULL or the
 * plugin's name. Returns buf. */
const char *hn_instance_label(const struct hn_plugin *p, const char *instance, char *buf,
                              size_t size);

/*
 * Check a plugin node against the descriptor's option table (unknown keys, types, bounds,
 * required options), as the configuration error "WHERE: [PATH: ]LABEL: ..." (LABEL as above;
 * path, when not NULL, the key path of options merged from elsewhere, e.g. a stage's
 * override). The core calls it once per node before create().
 */
int hn_instance_check_options(const struct hn_plugin *p, const struct hn_config_node *node,
                              const char *instance, const char *path, struct hn_error *err);

/* A call into an instance: between enter and leave, this thread's log lines carry its label.
 * Calls nest (an executor's worker calls the core back, which calls an evaluator). */
struct hn_instance_call {
    const char *outer; /* the thread's label before enter */
    char label[HN_INSTANCE_LABEL_MAX];
};
void hn_instance_enter(struct hn_instance_call *c, const struct hn_plugin *p, const char *instance);
void hn_instance_leave(struct hn_instance_call *c);

/*
 * Name the instance in the error of a failed call: "WHERE: LABEL: reason", WHERE being the
 * position the plugin gave (hn_error_set's where), else node's position (node may be NULL: no
 * position). A plugin that failed without a message gets "failed (no reason given)".
 */
void hn_instance_error(const struct hn_instance_call *c, const struct hn_config_node *node,
                       struct hn_error *err);

/* Create an instance (any kind) from a's node; the error names the instance once. */
void *hn_instance_create(const struct hn_plugin *p, const struct hn_plugin_args *a,
                         struct hn_error *err);

/* Destroy an instance made by hn_instance_create (ctx may be NULL). */
void hn_instance_destroy(const struct hn_plugin *p, const char *instance, void *ctx);

#endif
