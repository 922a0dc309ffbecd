/*
 * hilnas optimizers: ask/tell.
 *
 * The runner asks for as many points as it has free executor slots; the optimizer sees the
 * whole history, including pending (running) trials, so it must not suggest them again.
 * Suggested points are in native units (space.h) and must pass hn_space_check(); the runner
 * checks again and treats an invalid suggestion as a bug in the optimizer (runtime error).
 *
 * Determinism: the same seed and the same history give the same suggestions. Derive random
 * streams from args->seed and the history (e.g. the number of trials of the stage), never
 * from time, so a resumed study continues as the uninterrupted one would.
 *
 * Lifetimes: one instance per stage, created when the stage starts (also on resume), told
 * of every finished trial already in the journal (replay) before its first ask.
 */
#ifndef HILNAS_OPTIMIZER_H
#define HILNAS_OPTIMIZER_H

#include "hilnas/plugin.h"
#include "hilnas/space.h"
#include "hilnas/study.h"

#ifdef __cplusplus
extern "C" {
#endif

struct hn_optimizer_ops {
    size_t size;
    void *(*create)(const struct hn_plugin_args *args, struct hn_error *err);
    void (*destroy)(void *ctx);
    /*
     * Suggest up to n points into x (n rows of hn_space_params(space)->n values). Returns the
     * number suggested (0 when the space is exhausted), or -1 with err.
     */
    int (*ask)(void *ctx, const struct hn_history *history, size_t n, double *x,
               struct hn_error *err);
    /* Optional: one finished (complete or failed) trial, in id order. */
    int (*tell)(void *ctx, const struct hn_trial *trial, struct hn_error *err);
};

#ifdef __cplusplus
}
#endif
#endif
