/*
 * gpbo: GP fits reused between asks (one chain per modelled metric).
 *
 * Up to full_fit_max observations a metric's GP is fitted from scratch at every ask (all
 * restarts). Beyond, its hyperparameters come from fits at *anchor* sizes a_0 = full_fit_max,
 * a_{j+1} = max(a_j + 1, ceil(growth a_j)): anchor j is the GP fitted on the first a_j
 * observations (in history order), warm-started from anchor j - 1's hyperparameters with one
 * start (anchor 0: from scratch, all restarts). An ask with n observations takes the last
 * anchor a_J <= n and adds the n - a_J later observations by a block Cholesky update
 * (hn_gp_append, O(n^2 (n - a_J))) with unchanged hyperparameters.
 *
 * Deterministic: each anchor is a function of the first a_j observations only (and the seed),
 * so a resumed study (empty cache) rebuilds the same chain and suggests the same points.
 * With gpbo_models_persist the anchors (sizes, hashes of their observations and of the fit
 * settings, hyperparameters) are also kept in a file of the study directory, rewritten
 * atomically when an anchor is added; a resumed study reads it and starts from the last
 * anchor that still matches its data and settings (one Cholesky instead of the chain's fits).
 * The file is a cache: one that is damaged, of another version or for other data is ignored
 * with a warning and the chain is fitted again. The
 * cache keys each anchor by a hash of its observations: when the history changes under it
 * (a trial with a smaller id completed later), the chain is rebuilt from the first anchor
 * that no longer matches.
 *
 * Thread safety: none (one per optimizer instance, used by its asks).
 */
#ifndef HILNAS_GPBO_MODELS_H
#define HILNAS_GPBO_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include "hilnas/error.h"
#include "hilnas/gp.h"

struct gpbo_models;

/* A cache for n_metrics chains; NULL when out of memory. */
struct gpbo_models *gpbo_models_new(size_t n_metrics);
void gpbo_models_free(struct gpbo_models *c);

/*
 * The GP of metric `metric` on n observations X (n x D), y, sem (as hn_gp_fit; sem may be
 * NULL), reusing the chain as described above. opt: the fit options (opt->seed is ignored
 * beyond full_fit_max: anchors derive theirs from seed and their size). The returned GP
 * belongs to the caller. NULL with err on a failed fit.
 */
struct hn_gp *gpbo_models_fit(struct gpbo_models *c, size_t metric, const double *X,
                              const double *y, const double *sem, size_t n, size_t D,
                              const struct hn_gp_options *opt, size_t full_fit_max, double growth,
                              uint64_t seed, struct hn_error *err);

/*
 * Keep the anchors in <dir>/gpbo-anchors-<hash of instance and stage>.json: read what is there
 * (a damaged or foreign file: a warning, then ignored), and save after every new anchor
 * (a failed save: one warning). -1 only when out of memory.
 */
int gpbo_models_persist(struct gpbo_models *c, const char *dir, const char *instance,
                        const char *stage);

/* hn_gp_fit calls made so far (anchors and small histories; for tests and logs). */
size_t gpbo_models_fit_count(const struct gpbo_models *c);

/* Anchors of metric's chain (for tests and logs): the count, and sizes into sizes[cap]. */
size_t gpbo_models_anchors(const struct gpbo_models *c, size_t metric, size_t *sizes, size_t cap);

#endif
