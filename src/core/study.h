/*
 * hilnas core internals: a loaded study (configuration + plugin instances) and its runner.
 * Not installed. The command line drives it: hn_study_load -> hn_study_run -> hn_study_free.
 * Layers (tests/core/test_layers.sh checks them): tools -> study (study.c loads, study_run.c
 * runs) -> replay, instance, report, journal, ... -> include/hilnas; never upwards.
 */
#ifndef HILNAS_CORE_STUDY_H
#define HILNAS_CORE_STUDY_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "core/instance.h"
#include "core/progress.h"
#include "core/replay.h"
#include "hilnas/conf.h"
#include "hilnas/plugin.h"
#include "hilnas/space.h"
#include "hilnas/study.h"
#include "hilnas/trial.h"

/* An oracle or evaluator instance ("sources" of metrics). */
struct hn_source {
    char *name;
    const struct hn_plugin *plugin;
    const struct hn_config_node *node;
    const struct hn_config_node *key_node; /* its name in the study file (for positions) */
    void *ctx;
    const char *const *metrics; /* short names, owned by the plugin */
    /* while a study runs on an executor with n > 1 in-process workers: worker w uses
     * worker_ctx[w] (worker_ctx[0] == ctx), or, when shared (oracles that can be fitted), ctx
     * under lock */
    void **worker_ctx;
    size_t n_workers;
    int shared;
    pthread_mutex_t lock;
};

enum hn_stage_type { HN_STAGE_SEARCH, HN_STAGE_FIT, HN_STAGE_VERIFY };

/*
 * A stage's options for one evaluator or oracle (`evaluators: {NAME: {option: value}}` or
 * `oracles:` in the stage): the source's options merged with the stage's (a nested mapping
 * merges key by key), validated like the source's own at load, and an instance of its own that
 * the stage's trials use instead of the source's.
 */
struct hn_stage_override {
    size_t source;                     /* index into sources */
    const struct hn_config_node *node; /* the stage's mapping for the source */
    struct hn_config_node *view;       /* merged options (borrows both trees) */
    struct hn_config_node **owned;     /* the view's own nodes (freed with the stage) */
    size_t n_owned;
    void *ctx;         /* worker 0's instance */
    void **worker_ctx; /* n_workers instances while an executor runs n > 1 (worker_ctx[0] == ctx) */
    size_t n_workers;
};

struct hn_stage {
    const char *name;
    enum hn_stage_type type;
    const struct hn_config_node *node;
    const struct hn_plugin *optimizer;
    const struct hn_config_node *optimizer_node; /* options of the optimizer */
    struct hn_config_node *owned_node;           /* synthesized for `sampler:` shorthand */
    int64_t trials;
    size_t n_run;
    size_t *run;    /* indices into sources */
    long fit;       /* fit stage: source index */
    int keep_model; /* evaluators keep trained models (verify stages, `keep_model: true`) */
    size_t n_points;
    double *points; /* search stage `points:`: n_points x params->n, run before asking */
    size_t n_over;
    struct hn_stage_override *over; /* `evaluators:` / `oracles:` of the stage */
};

struct hn_study_options {
    const char *const *overrides; /* "dotted.path=value" */
    size_t n_overrides;
    const char *output; /* overrides study.output when not NULL */
    int quiet;          /* no per-trial progress lines */
    /* "NAME=VALUE": ${NAME} in any scalar of the study becomes VALUE (after the overrides);
     * `hilnas run` defines prepare.STEP for the steps of the `prepare:` section, which the
     * core otherwise ignores (tools/prepare.h) */
    const char *const *vars;
    size_t n_vars;
    int repair_journal; /* quarantine damaged journal lines even when synced events
                         * follow them (see core/journal.h) */
};

struct hn_study {
    char *file;
    struct hn_config_node *root;
    const char *name;
    uint64_t seed;
    char *output;
    struct hn_space space;
    size_t n_sources;
    struct hn_source *sources;
    struct hn_objective *objectives;
    struct hn_constraint *constraints;
    struct hn_problem problem;
    size_t n_stages;
    struct hn_stage *stages;
    const struct hn_plugin *executor;
    const struct hn_config_node *executor_node;
    int quiet;
    int repair_journal;

    /* run state */
    struct hn_journal *journal;
    struct hn_replay r;      /* every trial of the study, in id order */
    int eval_threads;        /* threads each evaluation may use: CPUs / in-process workers */
    int worker;              /* 1: this process only served tasks (a worker rank of an executor) */
    double outputs_at;       /* monotonic time the outputs were last written, 0 never */
    double outputs_took;     /* seconds that write took */
    struct hn_status status; /* what runs now, for the command line's status line */
    double status_at, status_took; /* when its best value was last computed, and how long */
};

/*
 * Load a study file: parse and check the configuration, load the plugins, validate their
 * options, create the space and the metric sources, resolve objectives and constraints.
 * Nothing runs and nothing is written. NULL with err (configuration errors are HN_ERR_CONFIG).
 */
struct hn_study *hn_study_load(const char *path, const struct hn_study_options *opt,
                               struct hn_error *err);

/* Run (or resume) every stage; writes the study directory. 0 or -1 with err. */
int hn_study_run(struct hn_study *study, struct hn_error *err);

/*
 * Ask a running study to stop (stop = 1) or withdraw the request (0). Async-signal-safe (it
 * only sets a flag): the command line calls it from its SIGINT/SIGTERM handlers. The runner
 * starts no new trial, records those that finish, and returns an error saying the run was
 * interrupted; evaluations that wait long stop at once (hn_study_interrupted()).
 */
void hn_study_stop(int stop);

void hn_study_free(struct hn_study *study);

/* The study's arguments for an instance of plugin p (executors: the caller adds the
 * evaluation callback). */
void hn_study_plugin_args(const struct hn_study *s, const struct hn_plugin *p,
                          const struct hn_config_node *node, const char *instance,
                          const char *stage, struct hn_plugin_args *args);

/* Create an instance of plugin p (not an executor) with the study's arguments
 * (core/instance.h); args is filled and must outlive the call only. Errors name the kind and
 * instance once. */
void *hn_study_create_plugin(const struct hn_study *s, const struct hn_plugin *p,
                             const struct hn_config_node *node, const char *instance,
                             const char *stage, struct hn_plugin_args *args, struct hn_error *err);

/*
 * Evaluate with instance ctx of source `source` (hn_study_source_ctx): under its identity and,
 * while in-process workers share it, its lock. Errors name the instance once. 0 or -1.
 */
struct hn_eval_request;
struct hn_metrics;
int hn_study_evaluate(struct hn_study *s, size_t source, void *ctx,
                      const struct hn_eval_request *req, struct hn_metrics *out,
                      struct hn_error *err);

/*
 * The instance of source `source` that trials of stage `stage` use on `worker` (its stage
 * override's, else the source's own); worker < 0: worker 0's. NULL when the worker is out of
 * range (an executor bug).
 */
void *hn_study_source_ctx(const struct hn_study *s, const char *stage, size_t source, int worker);

#endif
