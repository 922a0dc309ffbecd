/* hilnas command line: shared helpers of the subcommands (tools/ only). */
#ifndef HILNAS_TOOLS_CLI_H
#define HILNAS_TOOLS_CLI_H

#include <stdio.h>

#define HN_COMMAND(name, summary) int hn_cmd_##name(int argc, char **argv);
#include "tools/commands.def"
#undef HN_COMMAND

/* Print "hilnas <cmd> VERSION" and return 0; used by every subcommand's --version. */
int hn_cli_version(const char *cmd);

/* Print "hilnas: <cmd>: <msg>" and a hint to use --help to stderr; returns 2 (usage error). */
int hn_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Parse `hilnas CMD [--FLAG[=VALUE]] STUDY_DIR`, the shape of `show` and `report`: one optional
 * flag (long name flag, short letter flag_char, with a value when flag_arg), --help (prints help
 * to stdout) and --version. Returns the study directory, or NULL with *code the exit status (0
 * after --help or --version, 2 after a usage error, which is printed). *value is set when the
 * flag is given: to its argument, or to "" for a flag without one.
 */
const char *hn_cli_study_dir(int argc, char **argv, const char *help, const char *flag,
                             int flag_char, int flag_arg, const char **value, int *code);

/* `hilnas plugins --man`: every plugin of the search path with its options, as man(7) text
 * (tools/man.c); 0, or 1 when a module does not load or writing fails. */
int hn_cli_plugins_man(FILE *out);

#endif
