/*
 * The gpbo studies of conf.d through the real CLI (module loaded by the registry): they
 * validate, BraninCurrin reaches a good hypervolume, and a study stopped half-way and resumed
 * suggests exactly what the uninterrupted one did.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/core/testutil.h"

static const char *const studies[] = {"hartmann6-gpbo", "branincurrin-gpbo", "dtlz2-gpbo",
                                      "constrained-gpbo", "mixed-gpbo"};

static void conf_path(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/conf.d/%s.yaml", tu_srcdir(), name);
}

Test(gpbo_cli, the_gpbo_studies_validate)
{
    for (size_t i = 0; i < sizeof(studies) / sizeof(studies[0]); i++) {
        char path[4096];
        conf_path(studies[i], path, sizeof(path));
        char *argv[] = {(char *)tu_hilnas(), "validate", path, NULL};
        char *out = NULL, *err = NULL;
        int rc = tu_run(argv, NULL, &out, &err);
        cr_expect_eq(rc, 0, "%s: %s", studies[i], err);
        free(out);
        free(err);
    }
}

/* Run (or resume) a conf.d study into dir with extra --set overrides; returns trials.csv. */
static char *run_study(const char *name, const char *dir, const char *set)
{
    char path[4096];
    conf_path(name, path, sizeof(path));
    char *argv[] = {(char *)tu_hilnas(),  "run",       path, "--output", (char *)dir, "--quiet",
                    set ? "--set" : NULL, (char *)set, NULL};
    char *out = NULL, *err = NULL;
    int rc = tu_run(argv, NULL, &out, &err);
    cr_assert_eq(rc, 0, "%s: %s", name, err);
    free(out);
    free(err);
    char csv[4200];
    snprintf(csv, sizeof(csv), "%s/trials.csv", dir);
    return tu_read_file(csv);
}

/* trials.csv without the timing columns (started, finished, seconds) */
static void strip_times(char *csv)
{
    char *out = csv;
    for (char *line = csv; *line;) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        int commas = 0;
        for (size_t i = 0; i < len; i++) {
            commas += line[i] == ',';
            if (commas == 7) {
                break; /* id,stage,status,x0,x1,branin,currin */
            }
            *out++ = line[i];
        }
        *out++ = '\n';
        line += len + (end ? 1 : 0);
    }
    *out = '\0';
}

Test(gpbo_cli, branincurrin_resumes_exactly_and_reaches_a_good_hypervolume)
{
    char *dir = tu_tmpdir("gpbo-bc");
    char a[4200], b[4200], summary[4300];
    snprintf(a, sizeof(a), "%s/whole", dir);
    snprintf(b, sizeof(b), "%s/resumed", dir);
    char *whole = run_study("branincurrin-gpbo", a, NULL);
    free(run_study("branincurrin-gpbo", b, "stages.1.trials=7"));
    char *resumed = run_study("branincurrin-gpbo", b, NULL);
    cr_assert_not_null(whole);
    cr_assert_not_null(resumed);
    strip_times(whole);
    strip_times(resumed);
    cr_expect_str_eq(resumed, whole, "stopped after 7 BO trials and resumed: other points");

    snprintf(summary, sizeof(summary), "%s/summary.json", a);
    json_error_t jerr;
    json_t *s = json_load_file(summary, 0, &jerr);
    cr_assert_not_null(s, "%s: %s", summary, jerr.text);
    double hv = json_number_value(json_object_get(s, "hypervolume"));
    /* BoTorch 0.11 qNEHVI: 56.4 +- 0.3; Sobol at 26 points: about 41 */
    cr_expect(hv > 55.0, "hypervolume %g after 6 Sobol + 20 gpbo trials (max 59.36)", hv);
    json_decref(s);
    free(whole);
    free(resumed);
    free(dir);
}
