/*
 * hilnas evaluators (quality) and oracles (latency): measurements of a trial.
 *
 * Both kinds turn a trial (its parameters and decoded architecture) into named metrics. The
 * core prefixes each metric with the instance name from the study file ("quality.val_loss").
 *
 * Lifetimes: create() once per instance (per worker thread when an executor runs trials in
 * parallel: an instance is only ever called from one thread at a time, so plugins need no
 * locks), destroy() at the end. evaluate() returns 0 with metrics put into `out`, or -1 with
 * err: the trial is then recorded as failed with err's message as the reason and the study
 * goes on. Errors are never fatal to the study unless the executor says so.
 */
#ifndef HILNAS_EVALUATOR_H
#define HILNAS_EVALUATOR_H

#include "hilnas/plugin.h"
#include "hilnas/progress.h"
#include "hilnas/space.h"
#include "hilnas/study.h"
#include "hilnas/trial.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hn_eval_request {
    const struct hn_trial *trial;   /* id, x (native units), arch */
    const struct hn_params *params; /* names and types of trial->x */
    const char *work_dir;           /* per-trial scratch directory (exists), for big outputs */
    uint64_t seed;                  /* per-trial seed, the same on every re-run */
    int threads;                    /* threads this evaluation may use */
    /*
     * 1: keep what the evaluation built for later use. An evaluator that trains a model writes
     * it to <work_dir>/model/ in the engine's checkpoint layout (config.json +
     * model.safetensors, as hn_llm_save) plus <work_dir>/model/training.json (what produced
     * it: backbone, selection, steps, seed, losses); `hilnas export` reads it from there. Set
     * by the core for verify stages and stages with `keep_model: true`, and by `hilnas export`
     * when it re-derives a trial's weights.
     */
    int keep_model;
    /*
     * Where a long evaluation says what it is doing, i of n (hilnas/progress.h): shown on the
     * status line of `hilnas run`. May be NULL; hn_progress_update accepts NULL.
     */
    struct hn_progress *progress;
};

struct hn_evaluator_ops {
    size_t size;
    void *(*create)(const struct hn_plugin_args *args, struct hn_error *err);
    void (*destroy)(void *ctx);
    /* Names of the metrics evaluate() produces (NULL-terminated, owned by ctx). Used to
     * validate objectives and constraints before anything runs. */
    const char *const *(*metrics)(void *ctx);
    int (*evaluate)(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                    struct hn_error *err);
};

/*
 * Oracles measure latency. A learned oracle also implements fit(): the `fit` stage calls it
 * with the study's complete trials; afterwards evaluate() predicts (value and sem).
 */
struct hn_oracle_ops {
    size_t size;
    void *(*create)(const struct hn_plugin_args *args, struct hn_error *err);
    void (*destroy)(void *ctx);
    const char *const *(*metrics)(void *ctx);
    int (*evaluate)(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                    struct hn_error *err);
    /* Optional (NULL for measuring oracles). */
    int (*fit)(void *ctx, const struct hn_history *history, const struct hn_params *params,
               struct hn_error *err);
};

#ifdef __cplusplus
}
#endif
#endif
