/*
 * hilnas core internals: the plugin registry (libltdl). Not installed.
 *
 * Modules are found by file name "<kind>-<name>" (libtool's .la, or .so) in the search path:
 * HILNAS_PLUGIN_PATH (colon-separated) first, then the build tree's plugins/ when this hilnas
 * runs uninstalled (its executable lives under the build directory), else $(pkglibdir).
 * Loaded modules stay loaded until hn_registry_shutdown(). The registry is the one piece of
 * global state of the core; it is not thread safe (load plugins before starting threads).
 */
#ifndef HILNAS_CORE_REGISTRY_H
#define HILNAS_CORE_REGISTRY_H

#include <stdio.h>

#include "hilnas/plugin.h"

/*
 * Find (loading on first use) the plugin of kind named name. Refusals (not found, wrong ABI
 * or signature, wrong kind, missing descriptor or function table, name mismatch) are
 * configuration errors with a sentence saying what to do. Built-in plugins (executor
 * "serial") need no module.
 */
const struct hn_plugin *hn_registry_find(enum hn_kind kind, const char *name, struct hn_error *err);

/* Load a module from an explicit path and check it as hn_registry_find does. */
const struct hn_plugin *hn_registry_load_path(const char *path, enum hn_kind kind, const char *name,
                                              struct hn_error *err);

/* The search path actually used, ':'-separated (static buffer). */
const char *hn_registry_search_path(void);

/*
 * Call fn for every loadable plugin found in the search path (built-ins included), sorted by
 * kind then name; modules that fail to load are reported to fn with plugin == NULL and err.
 */
typedef void (*hn_registry_visit_fn)(const struct hn_plugin *plugin, const char *module,
                                     const struct hn_error *err, void *data);
int hn_registry_foreach(hn_registry_visit_fn fn, void *data, struct hn_error *err);

/*
 * The executor whose launcher started this process (its ops' launched() says so, e.g. the mpi
 * executor under mpirun), or NULL when none did (then the study runs on the serial executor).
 * Only executor modules are loaded; modules that fail to load are skipped (a study that names
 * one reports why). *size is the job's size.
 */
const struct hn_plugin *hn_registry_launched_executor(int *size);

void hn_registry_shutdown(void);

/* Built-in serial executor descriptor (core/executor_serial.c). */
extern const struct hn_plugin hn_builtin_executor_serial;

#endif
