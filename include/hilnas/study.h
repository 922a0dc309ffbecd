/*
 * hilnas study context seen by plugins: creation arguments, objectives, constraints, history.
 */
#ifndef HILNAS_STUDY_H
#define HILNAS_STUDY_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "hilnas/conf.h"
#include "hilnas/space.h"
#include "hilnas/trial.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An objective: a metric to minimize or maximize. */
struct hn_objective {
    const char *metric; /* full name "source.name" */
    int maximize;       /* 0 minimize, 1 maximize */
    double ref;         /* reference point for hypervolume; NAN = inferred (see pareto.h) */
};

/* An outcome constraint lo <= metric <= hi (either side may be infinite). */
struct hn_constraint {
    const char *metric; /* full name */
    double lo, hi;      /* -INFINITY / INFINITY when open */
};

struct hn_problem {
    size_t n_objectives;
    const struct hn_objective *objectives;
    size_t n_constraints;
    const struct hn_constraint *constraints;
};

/* Every trial of the study so far (all stages, all statuses), in id order. Running trials
 * are the pending ones. */
struct hn_history {
    size_t n;
    struct hn_trial *const *trials;
};

/*
 * 1 if x is the same point (hn_params_same) as a trial of h (any status; trials with
 * params->n parameters) or as one of the first nb points of batch (nb rows of params->n), else 0.
 * The check optimizers use so that no point is suggested twice. h may be NULL.
 */
int hn_history_has_point(const struct hn_history *h, const struct hn_params *params,
                         const double *x, const double *batch, size_t nb);

struct hn_task;
/* Core callback that evaluates one task (see executor.h). */
typedef int (*hn_execute_fn)(void *runner, struct hn_task *task, int worker, struct hn_error *err);

/*
 * What create() receives. Everything is borrowed and outlives the plugin instance.
 */
struct hn_plugin_args {
    const struct hn_config_node *node; /* the plugin's mapping (options + "plugin"); may be NULL */
    /* instance name ("quality", "latency") or the plugin name: for file names and streams of
     * the instance, never for messages (the core names the instance in those) */
    const char *instance;
    const char *stage;                /* optimizers: the stage they serve; else NULL */
    uint64_t seed;                    /* the study seed; derive streams with hn_rng_derive() */
    const char *study_dir;            /* the study's output directory (exists) */
    const struct hn_space *space;     /* NULL when creating the space itself */
    const struct hn_problem *problem; /* objectives and constraints */
    int threads;                      /* threads this instance may use (>= 1) */
    hn_execute_fn execute;            /* executors: the core's evaluation callback */
    void *runner;                     /* executors: first argument of execute */
};

/*
 * 1 once the run was asked to stop (hn_study_stop(): `hilnas run` calls it on SIGINT and
 * SIGTERM; the library installs no signal handler), else 0; any thread may poll it. An
 * evaluation that waits long (an external command) stops at once and returns -1 with
 * hn_error_env(): its trial is not recorded, and runs again when the study resumes.
 */
int hn_study_interrupted(void);

/* Whether a metric value satisfies a constraint. NAN never does. */
static inline int hn_constraint_ok(const struct hn_constraint *c, double value)
{
    return !isnan(value) && value >= c->lo && value <= c->hi;
}

#ifdef __cplusplus
}
#endif
#endif
