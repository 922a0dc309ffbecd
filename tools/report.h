/* hilnas: the HTML report and the frontier table (presentation; tools/ only). */
#ifndef HILNAS_TOOLS_REPORT_H
#define HILNAS_TOOLS_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "hilnas/error.h"

/* Write the study directory's report to file (and dir/report.json). 0 or -1 with err. */
int hn_report_html(const char *dir, const char *file, struct hn_error *err);

/* The fastest architectures within 1, 2 and 5 % of the reference's (backbone's) quality with
 * their measured speedups: {"quality", "latency", "reference": {...}, "rows": [...]}; new
 * reference or NULL with err. */
json_t *hn_frontier_table(const char *dir, struct hn_error *err);
void hn_frontier_print(const json_t *table, FILE *f);

#endif
