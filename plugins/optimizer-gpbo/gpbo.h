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
#include <stdint.h>

#include "hilnas/error.h"
#include "hilnas/study.h"

#include "plugins/optimizer-gpbo/acquisition.h"

#define MAX_METRICS 32

/* Option values (the order of the option tables in gpbo.c). */
enum acq_kind { ACQ_AUTO, ACQ_LOGEI, ACQ_EHVI, ACQ_NEHVI, ACQ_PAREGO };
enum discrete_mode { DISCRETE_LOCAL, DISCRETE_ROUND };
enum start_mode { STARTS_BEST, STARTS_BOLTZMANN };

/* The optimizer instance: options, the study's problem in model space, the fit cache. */
struct gpbo {
    /* options */
    int64_t init_trials;
    int kernel;
    int acquisition;
    int64_t raw_samples;
    int64_t restarts;
    int64_t maxeval;
    int64_t mc_samples;
    int64_t gp_restarts;
    const struct hn_config_node *log_metrics;
    int64_t seed;
    int64_t full_fit_max;
    double anchor_growth;
    int discrete;
    int64_t enumerate_max;
    int starts;
    int priors;

    /* reuse of GP fits between asks (models.c); mutable through the const gpbo of an ask */
    struct gpbo_models *models;

    /* from the study */
    const struct hn_space *space;
    const struct hn_params *params;
    char *stage;
    uint64_t stream_seed;
    int kind; /* resolved acquisition */
    size_t n_init;
    int has_discrete;

    /* model space */
    size_t dim;
    size_t *col;   /* first column of parameter i */
    size_t *width; /* columns of parameter i */

    /* metrics: distinct names; objectives and constraints index into them */
    size_t n_metrics;
    const char *metric[MAX_METRICS];
    int metric_log[MAX_METRICS];
    size_t m; /* objectives */
    size_t obj_metric[GPBO_MAX_OBJ];
    double obj_sign[GPBO_MAX_OBJ]; /* +1 minimize, -1 maximize */
    double obj_ref[GPBO_MAX_OBJ];  /* oriented model space; NAN = infer */
    size_t nc;
    size_t con_metric[MAX_METRICS];
    double con_lo[MAX_METRICS], con_hi[MAX_METRICS]; /* model space */
    const struct hn_constraint *constraints;         /* native, for observed checks */
};

struct gpbo_state;

/* Columns of the model space. */
size_t gpbo_dim(const struct gpbo *g);
/* Native point x -> model-space point z (gpbo_dim values). */
void gpbo_encode(const struct gpbo *g, const double *x, double *z);
/* Model-space point z (relaxed) -> valid-by-type native point x (rounded, argmax). */
void gpbo_decode(const struct gpbo *g, const double *z, double *x);
/* A native value v of metric into model space (log for log_metrics). */
double gpbo_to_model(const struct gpbo *g, size_t metric, double v);

/*
 * state.c. The surrogate for the history h. Returns NULL with err->kind == HN_ERR_NONE when
 * there is not yet enough data (fewer than 2 usable observations of a metric), or NULL with err
 * set on a failure. seed determines the random parts (GP restarts, ParEGO weights, MC samples).
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

/*
 * search.c. A valid unseen point of the scrambled Sobol sequence from `index` (exhaustive
 * search of finite spaces when draws keep failing), or the acquisition's maximizer (batch:
 * the nb points already chosen in this ask). Both: 1 found (x filled), 0 nothing valid and
 * unseen, -1 with err.
 */
int gpbo_sobol_point(const struct gpbo *g, const struct hn_history *h, uint64_t index,
                     const double *batch, size_t nb, double *x, struct hn_error *err);
int gpbo_select_point(const struct gpbo *g, const struct gpbo_state *st, const struct hn_history *h,
                      const double *batch, size_t nb, uint64_t seed, double *x,
                      struct hn_error *err);

#endif
