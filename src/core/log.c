/* hilnas: logging to stderr (see include/hilnas/log.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/log_context.h"
#include "hilnas/log.h"

static enum hn_log_level log_level = HN_LOG_INFO;
/* the plugin instance this thread runs in, if any (core/log_context.h) */
static _Thread_local const char *log_context;

const char *hn_log_context(const char *label)
{
    const char *was = log_context;
    log_context = label;
    return was;
}
static hn_log_writer log_writer;
static void *log_writer_data;

void hn_log_set_writer(hn_log_writer fn, void *data)
{
    log_writer = fn;
    log_writer_data = data;
}

void hn_log_set_level(enum hn_log_level level)
{
    log_level = level;
}

enum hn_log_level hn_log_get_level(void)
{
    return log_level;
}

void hn_log(enum hn_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    if (level > log_level) {
        return;
    }
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One fputs per line so concurrent writers do not interleave within a line. */
    char out[4600];
    const char *ctx = log_context != NULL ? log_context : "",
               *sep = log_context != NULL ? ": " : "";
    if (level == HN_LOG_INFO || level == HN_LOG_DEBUG) {
        snprintf(out, sizeof(out), "hilnas: %.256s%s%s\n", ctx, sep, line);
    } else {
        snprintf(out, sizeof(out), "hilnas: %s: %.256s%s%s\n", names[level], ctx, sep, line);
    }
    if (log_writer != NULL) {
        log_writer(log_writer_data, out);
    } else {
        fputs(out, stderr);
    }
}
