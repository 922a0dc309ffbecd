/*
 * hilnas core internals: study outputs (trials.csv, pareto.csv, summary.json) and the
 * Pareto set of a list of trials. Not installed.
 */
#ifndef HILNAS_CORE_REPORT_H
#define HILNAS_CORE_REPORT_H

#include <jansson.h>

#include "hilnas/space.h"
#include "hilnas/study.h"
#include "hilnas/trial.h"

/*
 * in_set[i] = 1 for trials on the Pareto front of the problem (single objective: the best,
 * ties included): complete trials whose objectives are all present and finite and that
 * satisfy every constraint. 0 or -1 with err.
 */
int hn_report_pareto_set(const struct hn_problem *problem, struct hn_trial *const *trials,
                         size_t n, int *in_set, struct hn_error *err);

/* Write DIR/trials.csv, DIR/pareto.csv and DIR/summary.json atomically. */
int hn_report_write(const char *dir, const struct hn_params *params,
                    const struct hn_problem *problem, struct hn_trial *const *trials,
                    json_t *const *params_json, size_t n, struct hn_error *err);

#endif
