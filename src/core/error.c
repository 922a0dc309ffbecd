/* hilnas: error messages (see include/hilnas/error.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hilnas/error.h"

static int error_vset(struct hn_error *err, enum hn_error_kind kind, const char *where,
                      const char *fmt, va_list ap)
{
    if (err == NULL) {
        return -1;
    }
    size_t off = 0;
    err->kind = kind;
    err->msg[0] = '\0';
    err->where_len = 0;
    if (where != NULL && where[0] != '\0') {
        int n = snprintf(err->msg, sizeof(err->msg), "%s: ", where);
        off = n < 0 ? 0 : (size_t)n;
        if (off >= sizeof(err->msg)) {
            return -1;
        }
        err->where_len = off;
    }
    vsnprintf(err->msg + off, sizeof(err->msg) - off, fmt, ap);
    return -1;
}

int hn_error_set(struct hn_error *err, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, HN_ERR_RUNTIME, where, fmt, ap);
    va_end(ap);
    return -1;
}

int hn_error_config(struct hn_error *err, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, HN_ERR_CONFIG, where, fmt, ap);
    va_end(ap);
    return -1;
}

int hn_error_env(struct hn_error *err, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, HN_ERR_ENVIRONMENT, where, fmt, ap);
    va_end(ap);
    return -1;
}

void hn_error_prefix(struct hn_error *err, const char *fmt, ...)
{
    if (err == NULL) {
        return;
    }
    char prefix[512];
    char old[HN_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    /* a message longer than HN_ERROR_MAX is cut at the end, which is fine */
    int len = snprintf(err->msg, sizeof(err->msg), "%.511s: %.1530s", prefix, old);
    (void)len;
    err->where_len = 0;
    if (err->kind == HN_ERR_NONE) {
        err->kind = HN_ERR_RUNTIME;
    }
}

void hn_error_prefix_at(struct hn_error *err, const char *where, const char *fmt, ...)
{
    if (err == NULL) {
        return;
    }
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    if (where == NULL || where[0] == '\0') {
        hn_error_prefix(err, "%s", prefix);
        return;
    }
    hn_error_prefix(err, "%.200s: %s", where, prefix);
    size_t wl = strnlen(where, 200) + 2;
    err->where_len = wl < strlen(err->msg) ? wl : 0;
}

void hn_error_clear(struct hn_error *err)
{
    if (err != NULL) {
        err->kind = HN_ERR_NONE;
        err->msg[0] = '\0';
        err->where_len = 0;
    }
}

int hn_error_exit_code(const struct hn_error *err)
{
    return (err != NULL && err->kind == HN_ERR_CONFIG) ? HN_EXIT_USAGE : HN_EXIT_FAILURE;
}
