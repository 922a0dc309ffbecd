/*
 * hilnas core internals: a loaded study (configuration + plugin instances) and its runner.
 * Not installed. The command line drives it: hn_study_load -> hn_study_run -> hn_study_free.
 */
#ifndef HILNAS_CORE_STUDY_H
#define HILNAS_CORE_STUDY_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "core/progress.h"
#include "hilnas/conf.h"
#include "hilnas/plugin.h"
#include "hilnas/space.h"
#include "hilnas/study.h"
#include "hilnas/trial.h"

struct hn_space {
    const struct hn_plugin *plugin;
    void *ctx;
    const struct hn_params *params;
};

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

/* Replay helper shared by run and show: apply one journal event to a trial list. */
struct hn_replay {
    const struct hn_params *params; /* NULL: keep parameters only as JSON */
    size_t n, cap;
    struct hn_trial **trials;
    json_t **params_json;
    long *of;            /* verify trials: the trial re-measured, else -1 */
    json_t *study_event; /* last "study" event */
    long next_id;
    int lenient; /* skip (and warn about) events that contradict the journal (show, repair) */
};
struct hn_study_options {
    const char *const *overrides; /* "dotted.path=value" */
    size_t n_overrides;
    const char *output;           /* overrides study.output when not NULL */
    int quiet;                    /* no per-trial progress lines */
    /* "NAME=VALUE": ${NAME} in any scalar of the study becomes VALUE (after the overrides);
     * `hilnas run` defines prepare.STEP for the steps of the `prepare:` section, which the
     * core otherwise ignores (tools/prepare.h) */
    const char *const *vars;
    size_t n_vars;
    int repair_journal;           /* quarantine damaged journal lines even when synced events
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
    struct hn_replay r; /* every trial of the study, in id order */
    int eval_threads;   /* threads each evaluation may use: CPUs / in-process workers */
    int worker;         /* 1: this process only served tasks (a worker rank of an executor) */
    double outputs_at;   /* monotonic time the outputs were last written, 0 never */
    double outputs_took; /* seconds that write took */
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

void hn_study_free(struct hn_study *study);

/* Create an instance of plugin p (any kind) with the study's arguments; args is filled and
 * must outlive the call only. Errors are prefixed with the kind and instance. */
void *hn_study_create_plugin(const struct hn_study *s, const struct hn_plugin *p,
                             const struct hn_config_node *node, const char *instance,
                             const char *stage, struct hn_plugin_args *args,
                             struct hn_error *err);

/*
 * The instance of source `source` that trials of stage `stage` use on `worker` (its stage
 * override's, else the source's own); worker < 0: worker 0's. NULL when the worker is out of
 * range (an executor bug).
 */
void *hn_study_source_ctx(const struct hn_study *s, const char *stage, size_t source, int worker);

/* The core's evaluation callback given to executors. */
hn_execute_fn hn_study_execute_fn(void);

/*
 * Labels of metrics in trials.csv, pareto.csv and summary.json: always the full name
 * (`source.name`), as objectives and logs name them, so that a script written for one study
 * reads the next. labels[i] are malloc'ed; free with free().
 */
int hn_metric_labels(char *const *names, size_t n, char **labels);

/*
 * Summary of trials for `hilnas show --json` and the run's outputs: counts by status, best per
 * objective, Pareto set and hypervolume. params_json[i] (may be NULL) are the trials' parameter
 * objects. Returns a new reference or NULL with err.
 */
json_t *hn_study_summary(const struct hn_problem *problem, struct hn_trial *const *trials,
                         json_t *const *params_json, size_t n, struct hn_error *err);

/* Problem (objectives, constraints) as JSON for the journal, and back (for show). */
json_t *hn_problem_to_json(const struct hn_problem *problem);
int hn_problem_from_json(const json_t *obj, struct hn_problem *problem, struct hn_error *err);
void hn_problem_free(struct hn_problem *problem); /* for problems made by from_json */

int hn_replay_event(json_t *event, long line, void *data, struct hn_error *err);
void hn_replay_free(struct hn_replay *replay);

#endif
