/*
 * hilnas core internals: study outputs (trials.csv, pareto.csv, summary.json), the Pareto set
 * and summary of a list of trials, and the problem (objectives, constraints) as the journal
 * records it. Not installed. Depends on include/hilnas only: the runner and the readers of a
 * study directory (`hilnas show`, reports) call it, never the other way round.
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
int hn_report_pareto_set(const struct hn_problem *problem, struct hn_trial *const *trials, size_t n,
                         int *in_set, struct hn_error *err);

/*
 * Write DIR/trials.csv, DIR/pareto.csv and DIR/summary.json, each atomically (a reader sees
 * the old or the new file, never a part). With durable, each is also fsync'ed with its
 * directory (hn_write_file_atomic); without, they are only renamed into place
 * (hn_write_file_replace): cheap enough after every trial, and the journal, which is durable,
 * regenerates them. 0 or -1 with err.
 */
int hn_report_write(const char *dir, const struct hn_params *params,
                    const struct hn_problem *problem, struct hn_trial *const *trials,
                    json_t *const *params_json, size_t n, int durable, struct hn_error *err);

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
json_t *hn_report_summary(const struct hn_problem *problem, struct hn_trial *const *trials,
                          json_t *const *params_json, size_t n, struct hn_error *err);

/* Problem (objectives, constraints) as JSON for the journal, and back (for show). */
json_t *hn_problem_to_json(const struct hn_problem *problem);
int hn_problem_from_json(const json_t *obj, struct hn_problem *problem, struct hn_error *err);
void hn_problem_free(struct hn_problem *problem); /* for problems made by from_json */

#endif
