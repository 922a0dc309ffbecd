/*
 * The device oracle's output parser: a pure function (no I/O, no global state), called by the
 * plugin on each command's standard output and by the fuzzer (tests/fuzz/device_output).
 */
#ifndef HILNAS_PLUGINS_DEVICE_PARSE_H
#define HILNAS_PLUGINS_DEVICE_PARSE_H

#include <stddef.h>

#include "hilnas/error.h"
#include "hilnas/trial.h"

/*
 * The metrics named in `metrics` (NULL-terminated) from a command's output: `len` bytes (any
 * bytes, NULs included) whose last non-blank line is a JSON object; each metric is a finite
 * number, or {"value": v, "sem": s} with a finite standard error s >= 0 (sem may be absent or
 * null). Puts every metric into out and returns 0, or returns -1 with err saying what is wrong
 * (quoting at most 200 bytes of the line, control characters shown as '?'); out may then hold
 * some of the metrics.
 */
int hn_device_parse_output(const char *output, size_t len, const char *const *metrics,
                           struct hn_metrics *out, struct hn_error *err);

#endif
