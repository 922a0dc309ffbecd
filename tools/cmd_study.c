/* hilnas run / validate / plugins / show (being written). */
#include "config.h"
#include "tools/cli.h"
int hn_cmd_run(int argc, char **argv) { return 1; }
int hn_cmd_validate(int argc, char **argv) { return 1; }
int hn_cmd_plugins(int argc, char **argv) { return 1; }
int hn_cmd_show(int argc, char **argv) { return 1; }
