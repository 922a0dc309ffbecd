/* hilnas: the HTML report and the frontier table (presentation; tools/ only). */
#ifndef HILNAS_TOOLS_REPORT_H
#define HILNAS_TOOLS_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "hilnas/error.h"

/*
 * Write the study directory's report to file (HTML) and dir/report.json from one reading of its
 * journal; then, when summary is not NULL, print to it the frontier table (the fastest models
 * within 1, 2 and 5 % of the backbone's quality, with measured speedups; only when the study
 * has a reference) and "report: FILE". `hilnas run` (at its end) and `hilnas report` both call
 * it. 0 or -1 with err.
 */
int hn_report_publish(const char *dir, const char *file, FILE *summary, struct hn_error *err);

#endif
