/*
 * Optimizer "active" (`sampler: active`) through real studies on Branin measured by testfn:
 * - after four measurements packed into one corner of the box, the points it chooses are
 *   where the model knows least: far from that corner and apart from each other (Sobol
 *   points would land near the corner too: its quarter of the box holds a quarter of them);
 * - the same study run twice chooses the same points (deterministic);
 * - a pending trial is conditioned on: two points asked together (threads executor) differ;
 * - without a later fit stage `sampler: active` is refused with what to write instead.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tests/core/testutil.h"

static const char *study_text =
    "study: {name: act, seed: 3}\n"
    "space:\n"
    "  plugin: box\n"
    "  params:\n"
    "    x0: {type: float, min: -5, max: 10}\n"
    "    x1: {type: float, min: 0, max: 15}\n"
    "evaluators:\n"
    "  f: {plugin: testfn, function: branin}\n"
    "oracles:\n"
    "  model: {plugin: learned, from: f, metrics: [branin], restarts: 2}\n"
    "objectives:\n"
    "  - {metric: f.branin, goal: minimize}\n"
    "EXECUTOR"
    "stages:\n"
    "  - name: measure\n"
    "    run: f\n"
    "    sampler: active\n"
    "    trials: 10\n"
    "    points: [{x0: -5, x1: 0}, {x0: -4, x1: 0}, {x0: -5, x1: 1.5}, {x0: -4, x1: 1.5},\n"
    "             {x0: -4.5, x1: 0.75}]\n"
    "  - {name: fit, oracle: model}\n";

static const char *edit(const char *text, const char *from, const char *to)
{
    static char buf[4096];
    const char *at = strstr(text, from);
    cr_assert_not_null(at, "'%s' not in the study", from);
    snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return buf;
}

/* the unit-cube points of trials 0..n-1 from the journal; returns how many were found */
static int points(const char *dir, double (*u)[2], int n)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/run/journal.jsonl", dir);
    char *journal = tu_read_file(path);
    cr_assert_not_null(journal, "no journal at %s", path);
    int found = 0;
    for (char *line = strtok(journal, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *ev = json_loads(line, 0, NULL);
        const char *type = json_string_value(json_object_get(ev, "event"));
        json_int_t id = json_integer_value(json_object_get(ev, "trial"));
        if (type != NULL && strcmp(type, "started") == 0 && id >= 0 && id < n) {
            json_t *p = json_object_get(ev, "params");
            u[id][0] = (json_number_value(json_object_get(p, "x0")) + 5) / 15;
            u[id][1] = json_number_value(json_object_get(p, "x1")) / 15;
            found++;
        }
        json_decref(ev);
    }
    free(journal);
    return found;
}

Test(active, measures_where_the_model_is_least_sure, .timeout = 120)
{
    char *tmp = tu_tmpdir("active"), *err;
    int rc = tu_run_study_text(tmp, edit(study_text, "EXECUTOR", ""), "run", &err);
    cr_assert_eq(rc, 0, "run failed (%d): %s", rc, err);
    free(err);
    double u[10][2];
    cr_assert_eq(points(tmp, u, 10), 10);
    /* 5 given points, 3 more Sobol (initial: 8 by default), then 2 chosen by the model; and
     * the first 3 Sobol points are new too */
    double min_corner = INFINITY, min_pair = INFINITY;
    for (int i = 8; i < 10; i++) {
        double d = hypot(u[i][0] - 0.033, u[i][1] - 0.05); /* the corner cluster's centre */
        min_corner = fmin(min_corner, d);
        for (int j = 0; j < i; j++) {
            min_pair = fmin(min_pair, hypot(u[i][0] - u[j][0], u[i][1] - u[j][1]));
        }
    }
    printf("active: distance of chosen points to the corner >= %.3f, to any earlier point "
           ">= %.3f\n",
           min_corner, min_pair);
    cr_expect_gt(min_corner, 0.3, "a chosen point is near the measured corner (%g)", min_corner);
    cr_expect_gt(min_pair, 0.1, "a chosen point repeats an earlier one (%g)", min_pair);

    /* the same study again: the same points */
    char *tmp2 = tu_tmpdir("active2");
    rc = tu_run_study_text(tmp2, edit(study_text, "EXECUTOR", ""), "run", &err);
    cr_assert_eq(rc, 0, "second run failed (%d): %s", rc, err);
    free(err);
    double v[10][2];
    cr_assert_eq(points(tmp2, v, 10), 10);
    for (int i = 0; i < 10; i++) {
        cr_expect(u[i][0] == v[i][0] && u[i][1] == v[i][1], "trial %d differs between runs", i);
    }
    free(tmp);
    free(tmp2);
}

Test(active, points_asked_together_differ, .timeout = 120)
{
    char *tmp = tu_tmpdir("activeb"), *err;
    const char *text = edit(study_text, "EXECUTOR", "executor: {plugin: threads, workers: 2}\n");
    int rc = tu_run_study_text(tmp, text, "run", &err);
    cr_assert_eq(rc, 0, "run failed (%d): %s", rc, err);
    free(err);
    double u[10][2];
    cr_assert_eq(points(tmp, u, 10), 10);
    for (int i = 8; i < 10; i++) {
        for (int j = 0; j < i; j++) {
            double d = hypot(u[i][0] - u[j][0], u[i][1] - u[j][1]);
            cr_expect_gt(d, 0.05, "trials %d and %d are %g apart", i, j, d);
        }
    }
    free(tmp);
}

Test(active, needs_a_model_to_improve, .timeout = 60)
{
    char *tmp = tu_tmpdir("activebad"), *err;
    char base[4096];
    snprintf(base, sizeof(base), "%s", edit(study_text, "EXECUTOR", ""));
    const char *text = edit(base, "  - {name: fit, oracle: model}\n", "");
    int rc = tu_run_study_text(tmp, text, "validate", &err);
    cr_expect_eq(rc, 2, "exit %d: %s", rc, err);
    cr_expect(strstr(err, "no later stage fits one") != NULL, "%s", err);
    cr_expect(strstr(err, "study.yaml:") != NULL, "no position: %s", err);
    free(err);
    free(tmp);
}
