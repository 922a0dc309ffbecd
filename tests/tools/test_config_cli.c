/*
 * Every malformed study file in tests/data/config/bad/ must be refused by the real CLI
 * (`hilnas validate FILE`) with exit code 2 and a message naming FILE:LINE and containing the
 * text its first line announces: "# expect: LINE TEXT" (LINE 0: no position applies).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/core/testutil.h"

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

Test(config_cli, malformed_study_files_exit_2_naming_the_line, .timeout = 120)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/tests/data/config/bad", tu_srcdir());
    struct dirent **entries;
    int n = scandir(dir, &entries, NULL, by_name);
    cr_assert_gt(n, 0, "no fixtures in %s", dir);
    int checked = 0;
    for (int i = 0; i < n; i++) {
        const char *name = entries[i]->d_name;
        size_t len = strlen(name);
        if (len < 6 || strcmp(name + len - 5, ".yaml") != 0) {
            free(entries[i]);
            continue;
        }
        char path[4500];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        char *text = tu_read_file(path);
        cr_assert_not_null(text);
        int line = -1;
        char expect[512] = "";
        cr_assert(sscanf(text, "# expect: %d %511[^\n]", &line, expect) == 2,
                  "%s: first line must be '# expect: LINE TEXT'", name);
        free(text);
        char *argv[] = {(char *)tu_hilnas(), "validate", path, NULL};
        char *out = NULL, *err = NULL;
        int rc = tu_run(argv, NULL, &out, &err);
        cr_expect_eq(rc, 2, "%s: exit code %d, stderr: %s", name, rc, err);
        char where[4600];
        if (line > 0) {
            snprintf(where, sizeof(where), "%s:%d:", path, line);
        } else {
            snprintf(where, sizeof(where), "%s:", path);
        }
        cr_expect(err != NULL && strstr(err, where) != NULL, "%s: expected '%s' in: %s", name,
                  where, err);
        cr_expect(err != NULL && strstr(err, expect) != NULL, "%s: expected '%s' in: %s", name,
                  expect, err);
        free(out);
        free(err);
        free(entries[i]);
        checked++;
    }
    free(entries);
    cr_expect_geq(checked, 15, "only %d fixtures", checked);
}

Test(config_cli, good_study_files_validate)
{
    const char *good[] = {"conf.d/branin-random.yaml", "conf.d/branincurrin-random.yaml"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char path[4300];
        snprintf(path, sizeof(path), "%s/%s", tu_srcdir(), good[i]);
        char *argv[] = {(char *)tu_hilnas(), "validate", path, NULL};
        char *out = NULL, *err = NULL;
        int rc = tu_run(argv, NULL, &out, &err);
        cr_expect_eq(rc, 0, "%s: %s", good[i], err);
        cr_expect(strstr(out, ": ok:") != NULL, "%s", out);
        free(out);
        free(err);
    }
}

Test(config_cli, set_overrides_are_checked_like_the_file)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/conf.d/branin-random.yaml", tu_srcdir());
    struct {
        const char *set;
        int rc;
        const char *text;
    } rows[] = {
        {"study.seed=5", 0, NULL},
        {"stages[0].trials=4", 0, NULL},
        {"stages.0.optimizer.mode=uniform", 0, NULL},
        {"study.seed=abc", 2, "expected an integer, found 'abc'"},
        {"stages.3.trials=4", 2, "not a valid index"},
        {"stages.0.optimizer.mdoe=uniform", 2, "unknown option 'mdoe'"},
        {"space=box", 2, "only scalar values"},
        {"no-equals-sign", 2, "expected KEY.PATH=VALUE"},
        {"stages.0.trials.x=1", 2, "is a value"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *argv[] = {(char *)tu_hilnas(), "validate", path, "--set", (char *)rows[i].set, NULL};
        char *out = NULL, *err = NULL;
        int rc = tu_run(argv, NULL, &out, &err);
        cr_expect_eq(rc, rows[i].rc, "--set %s: exit %d, stderr %s", rows[i].set, rc, err);
        if (rows[i].text != NULL) {
            cr_expect(strstr(err, rows[i].text) != NULL, "--set %s: expected '%s' in %s",
                      rows[i].set, rows[i].text, err);
        }
        free(out);
        free(err);
    }
}
