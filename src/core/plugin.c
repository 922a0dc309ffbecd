/* hilnas: the plugin registry (see core/registry.h). */
#include "config.h"

#include <dirent.h>
#include <ltdl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/registry.h"
#include "hilnas/evaluator.h"
#include "hilnas/executor.h"
#include "hilnas/optimizer.h"
#include "hilnas/space.h"

struct module {
    lt_dlhandle handle;
    const struct hn_plugin *plugin;
    char *file; /* "<kind>-<name>" */
};

static int registry_ready;
static struct module *modules;
static size_t n_modules;
static char search_path[8192];

static const struct hn_plugin *const builtins[] = {&hn_builtin_executor_serial};

const char *hn_kind_name(enum hn_kind kind)
{
    switch (kind) {
    case HN_KIND_SPACE:
        return "space";
    case HN_KIND_ORACLE:
        return "oracle";
    case HN_KIND_EVALUATOR:
        return "evaluator";
    case HN_KIND_OPTIMIZER:
        return "optimizer";
    case HN_KIND_EXECUTOR:
        return "executor";
    }
    return "unknown";
}

/* Running from the build tree? Then plugins come from the build tree, not $(pkglibdir). */
static int running_uninstalled(void)
{
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (len <= 0) {
        return 0;
    }
    exe[len] = '\0';
    size_t lb = strlen(HN_BUILDDIR);
    return strncmp(exe, HN_BUILDDIR, lb) == 0 && exe[lb] == '/';
}

static int registry_init(struct hn_error *err)
{
    if (registry_ready) {
        return 0;
    }
    if (lt_dlinit() != 0) {
        return hn_error_set(err, NULL, "cannot initialise libltdl: %s", lt_dlerror());
    }
    search_path[0] = '\0';
    const char *env = getenv("HILNAS_PLUGIN_PATH");
    if (env != NULL && env[0] != '\0') {
        snprintf(search_path, sizeof(search_path), "%s:", env);
    }
    size_t off = strlen(search_path);
    snprintf(search_path + off, sizeof(search_path) - off, "%s",
             running_uninstalled() ? HN_BUILD_PLUGINDIR : HN_PLUGINDIR);
    lt_dlsetsearchpath(search_path);
    registry_ready = 1;
    return 0;
}

const char *hn_registry_search_path(void)
{
    registry_init(NULL);
    return search_path;
}

static size_t ops_size(const struct hn_plugin *p)
{
    switch (p->kind) {
    case HN_KIND_SPACE:
        return p->space ? p->space->size : 0;
    case HN_KIND_ORACLE:
        return p->oracle ? p->oracle->size : 0;
    case HN_KIND_EVALUATOR:
        return p->evaluator ? p->evaluator->size : 0;
    case HN_KIND_OPTIMIZER:
        return p->optimizer ? p->optimizer->size : 0;
    case HN_KIND_EXECUTOR:
        return p->executor ? p->executor->size : 0;
    }
    return 0;
}

/* Smallest table size the core accepts for each kind (the first ABI's members). */
static size_t ops_min_size(enum hn_kind kind)
{
    switch (kind) {
    case HN_KIND_SPACE:
        return offsetof(struct hn_space_ops, decode) + sizeof(void *);
    case HN_KIND_ORACLE:
        return offsetof(struct hn_oracle_ops, fit) + sizeof(void *);
    case HN_KIND_EVALUATOR:
        return offsetof(struct hn_evaluator_ops, evaluate) + sizeof(void *);
    case HN_KIND_OPTIMIZER:
        return offsetof(struct hn_optimizer_ops, tell) + sizeof(void *);
    case HN_KIND_EXECUTOR:
        return offsetof(struct hn_executor_ops, wait) + sizeof(void *);
    }
    return 0;
}

/* Required members present? Returns the name of the first missing one, or NULL. */
static const char *ops_missing(const struct hn_plugin *p)
{
    switch (p->kind) {
    case HN_KIND_SPACE:
        return !p->space->create    ? "create"
               : !p->space->destroy ? "destroy"
               : !p->space->params  ? "params"
                                    : NULL;
    case HN_KIND_ORACLE:
        return !p->oracle->create     ? "create"
               : !p->oracle->destroy  ? "destroy"
               : !p->oracle->metrics  ? "metrics"
               : !p->oracle->evaluate ? "evaluate"
                                      : NULL;
    case HN_KIND_EVALUATOR:
        return !p->evaluator->create     ? "create"
               : !p->evaluator->destroy  ? "destroy"
               : !p->evaluator->metrics  ? "metrics"
               : !p->evaluator->evaluate ? "evaluate"
                                         : NULL;
    case HN_KIND_OPTIMIZER:
        return !p->optimizer->create    ? "create"
               : !p->optimizer->destroy ? "destroy"
               : !p->optimizer->ask     ? "ask"
                                        : NULL;
    case HN_KIND_EXECUTOR:
        return !p->executor->create    ? "create"
               : !p->executor->destroy ? "destroy"
               : !p->executor->slots   ? "slots"
               : !p->executor->submit  ? "submit"
               : !p->executor->wait    ? "wait"
                                       : NULL;
    }
    return "kind";
}

/* Check a descriptor; file names the module in messages. kind 0 accepts any kind. */
static int check_descriptor(const struct hn_plugin *p, const char *file, enum hn_kind kind,
                            const char *name, struct hn_error *err)
{
    if (p->abi != HN_PLUGIN_ABI) {
        return hn_error_config(err, file,
                               "built for plugin ABI %u, this hilnas needs %u; rebuild it "
                               "against this version's headers",
                               p->abi, HN_PLUGIN_ABI);
    }
    if (p->signature != HN_PLUGIN_SIGNATURE) {
        return hn_error_config(err, file,
                               "built for another data model (signature %#x, this hilnas has "
                               "%#x); rebuild it with the same compiler settings",
                               p->signature, HN_PLUGIN_SIGNATURE);
    }
    /* the descriptor grows at its end: a newer one is fine, one without the members of
     * ABI 2's first descriptor is not */
    if (p->size < offsetof(struct hn_plugin, executor) + sizeof(p->executor)) {
        return hn_error_config(err, file,
                               "its descriptor is too small (%zu bytes, at least %zu); rebuild "
                               "it against this version's headers",
                               p->size, offsetof(struct hn_plugin, executor) + sizeof(p->executor));
    }
    if (p->kind < HN_KIND_SPACE || p->kind > HN_KIND_EXECUTOR) {
        return hn_error_config(err, file, "declares an unknown plugin kind %d", (int)p->kind);
    }
    if (kind != 0 && p->kind != kind) {
        return hn_error_config(err, file, "is %s %s plugin, but %s %s plugin was asked for",
                               p->kind == HN_KIND_SPACE ? "a" : "an", hn_kind_name(p->kind),
                               kind == HN_KIND_SPACE ? "a" : "an", hn_kind_name(kind));
    }
    if (p->name == NULL || (name != NULL && strcmp(p->name, name) != 0)) {
        return hn_error_config(err, file, "declares the name '%s', expected '%s'",
                               p->name ? p->name : "(none)", name ? name : "?");
    }
    size_t size = ops_size(p);
    if (size == 0) {
        return hn_error_config(err, file, "has no %s function table in its descriptor",
                               hn_kind_name(p->kind));
    }
    if (size < ops_min_size(p->kind)) {
        return hn_error_config(err, file,
                               "its %s function table is too small (%zu bytes, at least %zu); "
                               "rebuild it against this version's headers",
                               hn_kind_name(p->kind), size, ops_min_size(p->kind));
    }
    const char *missing = ops_missing(p);
    if (missing != NULL) {
        return hn_error_config(err, file, "its %s function table lacks '%s'", hn_kind_name(p->kind),
                               missing);
    }
    return 0;
}

static const struct hn_plugin *open_module(const char *file, const char *path, enum hn_kind kind,
                                           const char *name, struct hn_error *err)
{
    for (size_t i = 0; i < n_modules; i++) {
        if (strcmp(modules[i].file, file) == 0) {
            if (check_descriptor(modules[i].plugin, file, kind, name, err) != 0) {
                return NULL;
            }
            return modules[i].plugin;
        }
    }
    lt_dlhandle h = lt_dlopenext(path);
    if (h == NULL) {
        const char *why = lt_dlerror();
        hn_error_config(err, file,
                        "cannot load plugin module: %s (searched %s; check it was built, "
                        "set HILNAS_PLUGIN_PATH, or run 'ldd' on the module to find a missing "
                        "library)",
                        why ? why : "unknown error", search_path);
        return NULL;
    }
    const struct hn_plugin *p = lt_dlsym(h, "hn_plugin_descriptor");
    if (p == NULL) {
        hn_error_config(err, file,
                        "is not a hilnas plugin: it does not export 'hn_plugin_descriptor'");
        lt_dlclose(h);
        return NULL;
    }
    if (check_descriptor(p, file, kind, name, err) != 0) {
        lt_dlclose(h);
        return NULL;
    }
    struct module *grown = realloc(modules, (n_modules + 1) * sizeof(*modules));
    if (grown == NULL) {
        lt_dlclose(h);
        hn_error_set(err, file, "out of memory");
        return NULL;
    }
    modules = grown;
    modules[n_modules].handle = h;
    modules[n_modules].plugin = p;
    modules[n_modules].file = strdup(file);
    n_modules++;
    return p;
}

/* Does any module file for base exist in the search path? */
static int module_exists(const char *base)
{
    char path[8192];
    snprintf(path, sizeof(path), "%s", search_path);
    for (char *save = NULL, *dir = strtok_r(path, ":", &save); dir;
         dir = strtok_r(NULL, ":", &save)) {
        char f[4096];
        snprintf(f, sizeof(f), "%s/%s.la", dir, base);
        if (access(f, R_OK) == 0) {
            return 1;
        }
        snprintf(f, sizeof(f), "%s/%s.so", dir, base);
        if (access(f, R_OK) == 0) {
            return 1;
        }
    }
    return 0;
}

static int is_plugin_name(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 64) {
        return 0;
    }
    for (const char *c = s; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-')) {
            return 0;
        }
    }
    return 1;
}

/* Names of the plugins of one kind found in the search path, for suggestions. */
static size_t known_names(enum hn_kind kind, char names[][65], size_t max);

const struct hn_plugin *hn_registry_find(enum hn_kind kind, const char *name, struct hn_error *err)
{
    if (registry_init(err) != 0) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        if (builtins[i]->kind == kind && strcmp(builtins[i]->name, name) == 0) {
            return builtins[i];
        }
    }
    if (!is_plugin_name(name)) {
        hn_error_config(err, NULL,
                        "'%s' is not a valid plugin name (lower-case letters, digits, '_' "
                        "and '-')",
                        name);
        return NULL;
    }
    char base[128];
    snprintf(base, sizeof(base), "%s-%s", hn_kind_name(kind), name);
    if (!module_exists(base)) {
        char names[64][65];
        size_t n = known_names(kind, names, 64);
        const char *cands[65];
        char list[2048] = "";
        for (size_t i = 0; i < n; i++) {
            cands[i] = names[i];
            size_t off = strlen(list);
            snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "", names[i]);
        }
        cands[n] = NULL;
        const char *near = hn_suggest(name, cands);
        char hint[256] = "";
        if (near != NULL) {
            snprintf(hint, sizeof(hint), "did you mean '%s'? ", near);
        }
        hn_error_config(err, NULL, "unknown %s plugin '%s' (%savailable: %s; see 'hilnas plugins')",
                        hn_kind_name(kind), name, hint, n ? list : "none found");
        return NULL;
    }
    return open_module(base, base, kind, name, err);
}

const struct hn_plugin *hn_registry_load_path(const char *path, enum hn_kind kind, const char *name,
                                              struct hn_error *err)
{
    if (registry_init(err) != 0) {
        return NULL;
    }
    return open_module(path, path, kind, name, err);
}

struct found {
    char base[128];
};

static int cmp_found(const void *a, const void *b)
{
    return strcmp(((const struct found *)a)->base, ((const struct found *)b)->base);
}

/* All distinct "<kind>-<name>" module bases in the search path, sorted. */
static size_t scan_modules(struct found **out)
{
    struct found *list = NULL;
    size_t n = 0, cap = 0;
    char path[8192];
    snprintf(path, sizeof(path), "%s", search_path);
    for (char *save = NULL, *dir = strtok_r(path, ":", &save); dir;
         dir = strtok_r(NULL, ":", &save)) {
        DIR *d = opendir(dir);
        if (d == NULL) {
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            size_t len = strlen(e->d_name);
            if (len < 4 || len >= 128 ||
                (strcmp(e->d_name + len - 3, ".la") != 0 &&
                 strcmp(e->d_name + len - 3, ".so") != 0)) {
                continue;
            }
            char base[128];
            memcpy(base, e->d_name, len - 3);
            base[len - 3] = '\0';
            int dup = 0;
            for (size_t i = 0; i < n; i++) {
                dup |= strcmp(list[i].base, base) == 0;
            }
            if (dup || strchr(base, '-') == NULL) {
                continue;
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                struct found *g = realloc(list, cap * sizeof(*list));
                if (g == NULL) {
                    break;
                }
                list = g;
            }
            snprintf(list[n++].base, sizeof(list[0].base), "%s", base);
        }
        closedir(d);
    }
    if (n > 1) {
        qsort(list, n, sizeof(*list), cmp_found);
    }
    *out = list;
    return n;
}

static size_t known_names(enum hn_kind kind, char names[][65], size_t max)
{
    struct found *list = NULL;
    size_t n = scan_modules(&list), k = 0;
    const char *prefix = hn_kind_name(kind);
    size_t lp = strlen(prefix);
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]) && k < max; i++) {
        if (builtins[i]->kind == kind) {
            snprintf(names[k++], 65, "%s", builtins[i]->name);
        }
    }
    for (size_t i = 0; i < n && k < max; i++) {
        if (strncmp(list[i].base, prefix, lp) == 0 && list[i].base[lp] == '-') {
            snprintf(names[k++], 65, "%s", list[i].base + lp + 1);
        }
    }
    free(list);
    return k;
}

int hn_registry_foreach(hn_registry_visit_fn fn, void *data, struct hn_error *err)
{
    if (registry_init(err) != 0) {
        return -1;
    }
    struct found *list = NULL;
    size_t n = scan_modules(&list);
    for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
        fn(builtins[i], "(built in)", NULL, data);
    }
    for (size_t i = 0; i < n; i++) {
        struct hn_error e;
        hn_error_clear(&e);
        char *dash = strchr(list[i].base, '-');
        enum hn_kind kind = 0;
        for (int k = HN_KIND_SPACE; k <= HN_KIND_EXECUTOR; k++) {
            size_t lk = strlen(hn_kind_name(k));
            if ((size_t)(dash - list[i].base) == lk &&
                strncmp(list[i].base, hn_kind_name(k), lk) == 0) {
                kind = k;
            }
        }
        if (kind == 0) {
            continue; /* not a plugin module name */
        }
        const struct hn_plugin *p = open_module(list[i].base, list[i].base, kind, dash + 1, &e);
        fn(p, list[i].base, p ? NULL : &e, data);
    }
    free(list);
    return 0;
}

const struct hn_plugin *hn_registry_launched_executor(int *size)
{
    struct hn_error e;
    const struct hn_plugin *found = NULL;
    if (registry_init(&e) != 0) {
        return NULL;
    }
    struct found *list = NULL;
    size_t n = scan_modules(&list);
    const char *prefix = hn_kind_name(HN_KIND_EXECUTOR);
    size_t lp = strlen(prefix);
    for (size_t i = 0; i < n && found == NULL; i++) {
        if (strncmp(list[i].base, prefix, lp) != 0 || list[i].base[lp] != '-') {
            continue;
        }
        const struct hn_plugin *p =
            open_module(list[i].base, list[i].base, HN_KIND_EXECUTOR, list[i].base + lp + 1, &e);
        if (p != NULL && HN_OPS_HAS(p->executor, launched) &&
            (*size = p->executor->launched()) > 1) {
            found = p;
        }
    }
    free(list);
    return found;
}

void hn_registry_shutdown(void)
{
    for (size_t i = 0; i < n_modules; i++) {
        lt_dlclose(modules[i].handle);
        free(modules[i].file);
    }
    free(modules);
    modules = NULL;
    n_modules = 0;
    if (registry_ready) {
        lt_dlexit();
        registry_ready = 0;
    }
}
