/*
 * plugins/oracle-learned/latency_model.h: the latency model shared by the oracles `learned`
 * (roofline mean + Gaussian-process correction) and `roofline` (the linear model alone). Both
 * modules compile latency_model.c; nothing here is exported from either.
 *
 * Metrics. Each configured metric is a latency of the source oracle. Its kind follows its name:
 *   prefill*  prefill of `prompt` tokens into an empty cache;
 *   decode*   one decode step with `context` tokens cached; with `contexts: [c1, c2, ...]` the
 *             metric stands for `<name>_<c>` at every context c (host's naming), all learned by
 *             one model whose inputs include the context length, so it predicts any context;
 *   other     no roofline (constant mean; learned only).
 *
 * Roofline. time = s(context) x b . r(arch, tokens), b >= 0, with regressors r
 * (hilnas/llm/cost.h):
 *   [1, layers, attention layers, matmul GFLOP, attention GFLOP, weight MB read, KV-cache MB,
 *    MB beyond the cache]
 * fitted by non-negative least squares on relative errors (minimizes sum ((b.r_i - y_i)/y_i)^2).
 * The last regressor is a decode step's bytes that a cache of `cache_mb` cannot hold,
 * max(0, weight MB + KV MB - cache_mb): a model whose weights and cache fit in the processor's
 * last-level cache streams them from there, not from DRAM, faster per byte (on this machine's
 * CPU 2-3x). cache_mb is fitted: the capacity with the smallest relative residual, of none and
 * 23 points of a log grid over the training data's bytes, then refined by golden-section search
 * between the best point's neighbours; prefill has no such term (it is compute-bound). A relative
 * metric (a name with `_rel`, e.g. decode_rel: a time divided by a reference's, docs/latency.md)
 * pooled over contexts is divided by the reference's time at each context, a different denominator
 * per context: s(context) is a per-context scale fitted with b (alternating least squares; s = 1 at
 * the smallest context), interpolated in log(1 + context) between the fitted contexts and held
 * constant beyond them. Other metrics have s = 1.
 *
 * GP correction (learned). log y = log roofline + f(x) with f a GP (include/hilnas/gp.h) on
 * the inputs `features` chooses: params, the point's unit-cube coordinates; params+arch, those
 * and log parameters and log FLOPs per token; arch (auto's choice when every trial has a
 * transformer architecture), the architecture's shape alone: log parameters, log FLOPs per
 * token, layers, attention layers, log widths (hidden, query, key/value, FFN, vocabulary),
 * which do not depend on which layers skip attention, as the time does not; each scaled to the
 * training data's range; + the scaled log context when pooled over contexts. It is fitted on
 * the residuals with the measurements' standard errors (or a learned variance) as noise. Without a
 * roofline (other metrics, or mean: constant) f models log y itself, as before.
 *
 * The fitted model is saved to <study>/<instance>-model.json (format "hilnas-latency-model",
 * version 2; version 1 files, without the cache term and the scales, are still read) with a
 * hash of its training data; a fit on the same data (a resumed study) loads it instead of
 * refitting, and a process that evaluates without having fitted (an MPI worker rank) loads it,
 * again whenever the file changes.
 */
#ifndef HILNAS_LATENCY_MODEL_H
#define HILNAS_LATENCY_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "hilnas/evaluator.h"
#include "hilnas/gp.h"

#define LM_MAX_METRICS 16
#define LM_MAX_CONTEXTS 32
#define LM_MAX_OUTPUTS (LM_MAX_METRICS * LM_MAX_CONTEXTS)
#define LM_NREG 8        /* roofline regressors (the last: MB beyond the cache) */
#define LM_MAX_SCALES 64 /* contexts of a relative metric's per-context scale */
#define LM_NARCH 9       /* architecture features (latency_model.c: arch_features) */

enum lm_kind { LM_OTHER, LM_PREFILL, LM_DECODE };

/* A fitted roofline (see above). */
struct lm_roof {
    enum lm_kind kind;
    double coef[LM_NREG]; /* ms (or the metric's unit) per regressor unit */
    double cache_mb;      /* the cache term's capacity; INFINITY: no cache term */
    size_t n_scale;       /* per-context scales (0: none, s = 1) */
    double scale_ctx[LM_MAX_SCALES], scale[LM_MAX_SCALES]; /* ascending contexts */
};

struct lm_metric {
    const char *name; /* as configured (borrowed from the config tree) */
    enum lm_kind kind;
    int pooled;              /* decode over `contexts` */
    int roofline;            /* has a roofline part */
    int relative;            /* a `_rel` metric pooled over contexts: per-context scale */
    struct lm_roof roof;     /* the roofline */
    double roofline_rel_rms; /* relative residual RMS of the roofline on its training data */
    struct hn_gp *gp;        /* learned: the correction */
    double noise_floor;      /* least variance of a new measurement (model space), NAN: none */
    size_t n, d;             /* training set of the GP (kept to save the model) */
    double *X, *y, *noise_var;
};

struct lm_output {
    size_t metric;  /* index into metrics */
    double context; /* tokens cached (decode) */
    char name[96];
};

struct lm {
    /* options (filled by the plugin's option table) */
    const char *from;
    const struct hn_config_node *metrics_node, *contexts_node;
    int64_t prompt, context, restarts, folds;
    int log_transform, kernel, features, mean;
    int noise; /* learned: 0 learned (one variance), 1 measured (each trial's standard error) */
    int dtype; /* enum hn_dtype of the source's weights (roofline weight bytes) */
    /* set by lm_init */
    int use_gp; /* 1: learned, 0: roofline */
    int quiet;  /* 1: no log line per fit (a sampler that refits at every ask) */
    const char *plugin, *instance, *study_dir;
    uint64_t seed;
    size_t n_metrics, n_contexts, n_outputs;
    struct lm_metric metric[LM_MAX_METRICS];
    double contexts[LM_MAX_CONTEXTS];
    struct lm_output output[LM_MAX_OUTPUTS];
    const char *output_names[LM_MAX_OUTPUTS + 1];
    /* fitted state */
    int fitted;
    size_t n_params;
    int use_arch; /* GP inputs: 0 params, 1 params + 2 arch features, 2 the LM_NARCH arch ones */
    double feat_lo[LM_NARCH], feat_hi[LM_NARCH];
    double ctx_scale;   /* log1p of the largest context seen */
    struct stat loaded; /* the model file as last read or written */
};

/* After hn_options_apply: check and expand metrics/contexts. Returns 0 or -1 with err. */
int lm_init(struct lm *l, const struct hn_plugin_args *args, int use_gp, struct hn_error *err);
void lm_free(struct lm *l);
int lm_fit(struct lm *l, const struct hn_history *h, const struct hn_params *params,
           struct hn_error *err);
int lm_evaluate(struct lm *l, const struct hn_eval_request *req, struct hn_metrics *out,
                struct hn_error *err);

/* Roofline regressors of a decoded architecture for a metric kind at `tokens` (prompt for
 * prefill, context for decode). Returns 0 if arch is not a transformer architecture. */
int lm_regressors(const json_t *arch, enum lm_kind kind, double tokens, double *r);
/* The same with the weights stored at `dtype` (enum hn_dtype, llm/qmat.h: f32, bf16, f16,
 * q8_0): the weight-bytes regressor counts the bytes the engine reads at that precision. */
int lm_regressors_at(const json_t *arch, enum lm_kind kind, double tokens, int dtype, double *r);

/* Inputs of metric `metric`'s GP at a point (native x and its decoded architecture) and a
 * context (decode tokens cached) into z (HN_GP_MAX_DIM); returns their number (mt->d once
 * fitted). For samplers that ask the fitted model where it is unsure. */
size_t lm_point_inputs(const struct lm *l, size_t metric, const struct hn_params *params,
                       const double *x, const json_t *arch, double ctx, double *z);

/*
 * Fit a roofline of `kind` on the samples i < n with mask[i] != 0 (mask NULL: all): regressors
 * R (n x LM_NREG as lm_regressors_at gives them; the last is computed here), their contexts ctx
 * (decode tokens cached; only read with relative) and values y > 0. relative: fit a per-context
 * scale. With too few samples (none) the coefficients are 0.
 */
void lm_roof_fit(const double *R, const double *ctx, const double *y, size_t n,
                 const unsigned char *mask, enum lm_kind kind, int relative, struct lm_roof *out);
/* The fitted roofline's value at regressors r (the last is computed) and context ctx. */
double lm_roof_predict(const struct lm_roof *f, const double *r, double ctx);

/* Non-negative least squares on relative errors: coef (p) minimizing
 * sum_i ((R_i . coef - y_i) / y_i)^2, coef >= 0; R (n x p row-major), y > 0. */
void lm_nnls_relative(const double *R, const double *y, size_t n, size_t p, double *coef);

#endif
