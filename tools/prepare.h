/*
 * hilnas run: the study's `prepare:` section (tools/ only; the core knows nothing of it).
 *
 *   prepare:
 *     corpus:   {run: [tokenize, /usr/share/games/fortunes, --output, "${out}"]}
 *     backbone: {run: [pretrain, --data, "${prepare.corpus}", --out, "${out}", --steps, 150]}
 *   space: {plugin: transformer, backbone: "${prepare.backbone}/final", ...}
 *
 * Each step is one hilnas subcommand (tokenize or pretrain; never a shell string) run as a
 * child process. Its output directory is content-addressed: <cache>/<step>-<hash>, the hash
 * covering the hilnas version, the step's arguments (earlier steps' directories included, so a
 * new corpus means a new backbone) and the size and time of every file or directory an
 * argument names. A finished step is reused by every study that asks for the same thing; a
 * step runs in <dir>.partial under a lock and becomes <dir> by one rename when it succeeds, so
 * a killed step resumes (pretrain continues from its last checkpoint) and never leaves a
 * half-made result behind. Every start, completion and failure is appended (fsync'ed) to
 * <cache>/journal.jsonl. The cache is safe to delete.
 *
 * The steps' directories become the variables ${prepare.NAME} of the study file (see
 * hn_study_options.vars).
 */
#ifndef HILNAS_TOOLS_PREPARE_H
#define HILNAS_TOOLS_PREPARE_H

#include <stddef.h>

#include "hilnas/conf.h"
#include "hilnas/error.h"

struct hn_prepared {
    size_t n;
    char **vars;  /* "prepare.NAME=DIR" */
    char **names; /* step names */
    char **dirs;  /* their directories (may not exist yet when dry) */
    int *done;    /* 1 when the directory holds a finished result */
};

/*
 * Resolve (dry = 1: only compute directories) or run the steps of root's `prepare:` section in
 * order. cache is the cache directory (created). Configuration errors name file:line:col.
 * 0, or -1 with err (a failed step is an environment error: exit 1, run again to resume).
 */
int hn_prepare(const struct hn_config_node *root, const char *cache, int dry, int quiet,
               struct hn_prepared *out, struct hn_error *err);

void hn_prepared_free(struct hn_prepared *p);

#endif
