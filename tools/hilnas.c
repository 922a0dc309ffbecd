/* hilnas: the command line. Dispatches to one subcommand (see tools/commands.def). */
#include "config.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hilnas/error.h"
#include "tools/cli.h"

struct command {
    const char *name;
    const char *summary;
    int (*fn)(int argc, char **argv);
};

static const struct command commands[] = {
#define HN_COMMAND(name, summary) {#name, summary, hn_cmd_##name},
#include "tools/commands.def"
#undef HN_COMMAND
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

int hn_cli_version(const char *cmd)
{
    printf("hilnas%s%s %s\n", cmd ? " " : "", cmd ? cmd : "", PACKAGE_VERSION);
    return HN_EXIT_OK;
}

int hn_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "hilnas: %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'hilnas %s --help')\n", cmd);
    return HN_EXIT_USAGE;
}

const char *hn_cli_study_dir(int argc, char **argv, const char *help, const char *flag,
                             int flag_char, int flag_arg, const char **value, int *code)
{
    const struct option longopts[] = {
        {flag, flag_arg ? required_argument : no_argument, NULL, flag_char},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    char shortopts[8];
    snprintf(shortopts, sizeof(shortopts), "%c%shV", flag_char, flag_arg ? ":" : "");
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == flag_char) {
            *value = flag_arg ? optarg : "";
        } else if (c == 'h') {
            fputs(help, stdout);
            *code = HN_EXIT_OK;
            return NULL;
        } else if (c == 'V') {
            *code = hn_cli_version(argv[0]);
            return NULL;
        } else {
            *code =
                hn_cli_usage_error(argv[0], "unknown or incomplete option '%s'", argv[optind - 1]);
            return NULL;
        }
    }
    if (optind != argc - 1) {
        *code = hn_cli_usage_error(argv[0], "expected one STUDY_DIR");
        return NULL;
    }
    return argv[optind];
}

static void usage(FILE *out)
{
    fprintf(out, "usage: hilnas COMMAND [ARGS...]\n\n"
                 "Hardware-in-the-loop architecture search for on-device language models.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\n'hilnas COMMAND --help' describes one command. Exit codes: 0 success, "
                 "1 runtime failure, 2 usage or configuration error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return HN_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return HN_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        return hn_cli_version(NULL);
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].fn(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "hilnas: unknown command '%s' (see 'hilnas --help')\n", argv[1]);
    return HN_EXIT_USAGE;
}
