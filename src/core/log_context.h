/*
 * hilnas core internals: the plugin instance a thread runs in, for log lines. Not installed.
 * core/instance.c sets it around every call into a plugin instance; hn_log() prefixes each
 * line of that thread with it ("hilnas: warning: oracle 'latency' (learned): ...").
 */
#ifndef HILNAS_CORE_LOG_CONTEXT_H
#define HILNAS_CORE_LOG_CONTEXT_H

/* Set this thread's label (NULL: none; borrowed until replaced); returns the previous one. */
const char *hn_log_context(const char *label);

#endif
