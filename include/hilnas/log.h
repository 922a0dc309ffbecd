/*
 * hilnas logging: one line per message on stderr, "hilnas: [level] message".
 * The level threshold is the only global of the core besides the plugin registry; it is set
 * once by the command line (hn_log_set_level) before any thread starts.
 */
#ifndef HILNAS_LOG_H
#define HILNAS_LOG_H

#include "hilnas/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum hn_log_level { HN_LOG_ERROR, HN_LOG_WARNING, HN_LOG_INFO, HN_LOG_DEBUG };

void hn_log_set_level(enum hn_log_level level);
enum hn_log_level hn_log_get_level(void);
void hn_log(enum hn_log_level level, const char *fmt, ...) HN_PRINTF(2, 3);

/*
 * Where log lines go: fn receives each whole line ("hilnas: ...\n", one call per line, from
 * any thread) instead of stderr. The command line routes them through its status line, which
 * must be erased before a line is printed and drawn again after. NULL restores stderr. Set it
 * while no other thread logs.
 */
typedef void (*hn_log_writer)(void *data, const char *line);
void hn_log_set_writer(hn_log_writer fn, void *data);

#ifdef __cplusplus
}
#endif
#endif
