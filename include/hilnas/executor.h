/*
 * hilnas executors: where trial evaluations run (inline, threads, MPI ranks).
 *
 * The runner submits tasks (one per trial) and waits for them. A task carries its trial
 * as JSON (so it can cross a process boundary) and gets its result back as JSON. To run a task
 * the executor calls the core's args->execute(args->runner, task, worker, err) on a worker:
 * in-process executors call it directly (worker = thread index); the MPI executor calls it on
 * the rank that runs the task, where the same study is loaded.
 *
 * Failures of an evaluation are part of the result (task->failed), not executor errors; an
 * executor error (-1 / NULL with err) stops the study (completed trials are already safe).
 */
#ifndef HILNAS_EXECUTOR_H
#define HILNAS_EXECUTOR_H

#include <jansson.h>

#include "hilnas/plugin.h"
#include "hilnas/study.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hn_task {
    long trial_id;
    /* owned, built by the runner (core/study_run.c): {"trial": id, "stage": name, "params":
     * {name: value}, "arch": {...} (the space's decoding), "run": [source names], "seed": n},
     * plus "keep_model": true when the stage keeps trained models (absent otherwise).
     * Executors pass it on as it is (the core may add members). */
    json_t *request;
    /* set by execute, owned: {"metrics": {"<source>.<metric>": {"value": v, "sem": s}},
     * "worker": w} ("sem" only when known) or {"error": "...", "worker": w}, with
     * "environment": true when the environment failed (HN_ERR_ENVIRONMENT: the runner stops
     * the study instead of counting a failed trial). w is execute's worker argument (thread
     * index, or MPI rank); the journal records it. Executors pass it back as it is. */
    json_t *result;
};

struct hn_executor_ops {
    size_t size;
    void *(*create)(const struct hn_plugin_args *args, struct hn_error *err);
    void (*destroy)(void *ctx);
    /* How many tasks may run at once (>= 1). */
    size_t (*slots)(void *ctx);
    /* Start a task (may run it inline). The executor borrows it until wait() returns it. */
    int (*submit)(void *ctx, struct hn_task *task, struct hn_error *err);
    /* Block until a submitted task finishes and return it; NULL with err on failure. Only
     * called when at least one task is outstanding. */
    struct hn_task *(*wait)(void *ctx, struct hn_error *err);
    /*
     * Optional (NULL: 1). In-process executors that call execute from several threads at once
     * return how many (their worker ids are 0..n-1). The core then creates one instance of each
     * evaluator and oracle per worker, so a plugin instance still sees one thread at a time;
     * an oracle that can be fitted keeps one instance, which the core locks around each call.
     * Executors whose workers live in other processes (MPI) leave it NULL.
     */
    size_t (*workers)(void *ctx);
    /*
     * Optional (NULL: this process is the runner). Executors whose workers are other processes
     * running the same study (MPI ranks) decide here which role this process has: the runner
     * gets 0 at once and runs the study; a worker process runs the tasks it receives, calling
     * execute, until the runner stops it, then returns 1 and the core ends the run without
     * touching the journal or the outputs. -1 with err on failure. Called right after create().
     */
    int (*serve)(void *ctx, struct hn_error *err);
    /*
     * Optional (NULL: never). Was this process started by this executor's launcher, with
     * other processes of the same job (e.g. mpirun -n 3 sets OMPI_COMM_WORLD_SIZE=3)? The
     * core then picks this executor for a study that names none, so that `mpirun -n 3 hilnas
     * run STUDY` runs one study on three ranks instead of three competing studies. Returns
     * the job's size (> 1) when launched, else 0. Must not start anything (it runs before
     * create, on every executor module found).
     */
    int (*launched)(void);
    /*
     * Optional (NULL: 1). How many processes of this job run on this process's machine, each
     * evaluating trials at once (an MPI launcher's ranks per node: OMPI_COMM_WORLD_LOCAL_SIZE
     * and the like). The core divides the machine's CPUs by this times workers() to set the
     * threads of each evaluation (hn_eval_request.threads). Called after serve() returned 0.
     */
    size_t (*local_processes)(void *ctx);
};

#ifdef __cplusplus
}
#endif
#endif
