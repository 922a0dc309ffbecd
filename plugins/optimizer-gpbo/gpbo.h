/*
 * gpbo internals shared with the tests (not installed; the module exports only its descriptor).
 *
 * Model space: every parameter maps to one column of [0,1] (its unit-cube value, see space.h),
 * except a categorical one, which maps to one column per label (one-hot; the optimizer works
 * on the continuous relaxation and rounds by argmax).
 *
 * A gpbo_state is the surrogate of one ask: one GP per metric modelled (objectives, outcome
 * constraints; ParEGO adds a GP of the scalarized objectives), fitted on the complete trials
 * of the history and conditioned on the pending ones at their posterior mean (kriging
 * believer), with the incumbent (LogEI) or the front (EHVI) derived from the posterior means
 * at the feasible observed points. Objectives are oriented for minimization in model space.
 *
 * Thread safety: none; a state belongs to one ask.
 */
#ifndef HILNAS_GPBO_H
#define HILNAS_GPBO_H

#include <stddef.h>

#include "hilnas/error.h"
#include "hilnas/study.h"

struct gpbo;
struct gpbo_state;

/* Columns of the model space. */
size_t gpbo_dim(const struct gpbo *g);
/* Native point x -> model-space point z (gpbo_dim values). */
void gpbo_encode(const struct gpbo *g, const double *x, double *z);
/* Model-space point z (relaxed) -> valid-by-type native point x (rounded, argmax). */
void gpbo_decode(const struct gpbo *g, const double *z, double *x);

/*
 * The surrogate for the history h. Returns NULL with err->kind == HN_ERR_NONE when there is
 * not yet enough data (fewer than 2 usable observations of a metric), or NULL with err set on
 * a failure. seed determines the random parts (GP restarts, ParEGO weights, MC samples).
 */
struct gpbo_state *gpbo_state_new(const struct gpbo *g, const struct hn_history *h,
                                  unsigned long long seed, struct hn_error *err);
void gpbo_state_free(struct gpbo_state *st);
/* The acquisition value at z (log scale, larger is better), gradient w.r.t. z into grad
 * (gpbo_dim values) when not NULL. */
double gpbo_state_acq(const struct gpbo_state *st, const double *z, double *grad);
/* The acquisition at k points Z (k x gpbo_dim) into value[k], no gradients, all points'
 * posteriors at once. Returns 0, or -1 out of memory. */
int gpbo_state_acq_batch(const struct gpbo_state *st, const double *Z, size_t k, double *value);
/* Condition every model on the point z at its posterior mean (kriging believer). */
int gpbo_state_fantasize(struct gpbo_state *st, const double *z, struct hn_error *err);

#endif
