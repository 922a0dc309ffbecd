/*
 * Replaying the journal gives back exactly the values measured: a finished study whose
 * outputs and fitted model are deleted and rebuilt by a resumed run (every value now read
 * back from the journal) writes byte-identical trials.csv and pareto.csv, and refits a
 * byte-identical model file (its training targets, logs of the measured values, are written
 * with 17 significant digits); every metric value and standard error of the journal parses to
 * the same double as its trials.csv cell.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/core/testutil.h"

static const char *study_text =
    "study: {name: exact, seed: 5}\n"
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
    "  - {metric: model.branin, goal: minimize}\n"
    "  - {metric: f.branin, goal: maximize}\n"
    "stages:\n"
    "  - {name: measure, run: f, sampler: sobol, trials: 12}\n"
    "  - {name: fit, oracle: model}\n"
    "  - {name: predict, run: [f, model], optimizer: {plugin: random, mode: uniform}, "
    "trials: 6}\n";

static char *read_out(const char *tmp, const char *name)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/run/%s", tmp, name);
    char *text = tu_read_file(path);
    cr_assert_not_null(text, "%s missing", path);
    return text;
}

static void remove_out(const char *tmp, const char *name)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/run/%s", tmp, name);
    cr_assert_eq(unlink(path), 0, "cannot remove %s", path);
}

Test(replay, resumed_outputs_and_refit_are_bit_identical, .timeout = 120)
{
    char *tmp = tu_tmpdir("exact"), *err;
    int rc = tu_run_study_text(tmp, study_text, "run", &err);
    cr_assert_eq(rc, 0, "run failed (%d): %s", rc, err);
    free(err);
    char *csv = read_out(tmp, "trials.csv"), *pareto = read_out(tmp, "pareto.csv");
    char *model = read_out(tmp, "model-model.json");
    remove_out(tmp, "trials.csv");
    remove_out(tmp, "pareto.csv");
    remove_out(tmp, "model-model.json");
    rc = tu_run_study_text(tmp, study_text, "run", &err);
    cr_assert_eq(rc, 0, "resume failed (%d): %s", rc, err);
    free(err);
    char *csv2 = read_out(tmp, "trials.csv"), *pareto2 = read_out(tmp, "pareto.csv");
    char *model2 = read_out(tmp, "model-model.json");
    cr_expect_str_eq(csv2, csv, "trials.csv differs after replay");
    cr_expect_str_eq(pareto2, pareto, "pareto.csv differs after replay");
    cr_expect_str_eq(model2, model, "the model refitted on replayed values differs");

    /* every journal value and sem against its trials.csv cell, as doubles */
    char hdr[4096];
    const char *nl = strchr(csv, '\n');
    cr_assert_not_null(nl);
    snprintf(hdr, sizeof(hdr), "%.*s", (int)(nl - csv), csv);
    char *journal = read_out(tmp, "journal.jsonl");
    int compared = 0;
    char *save = NULL;
    for (char *line = strtok_r(journal, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *ev = json_loads(line, 0, NULL);
        const char *type = json_string_value(json_object_get(ev, "event"));
        if (type == NULL || strcmp(type, "completed") != 0) {
            json_decref(ev);
            continue;
        }
        json_int_t id = json_integer_value(json_object_get(ev, "trial"));
        /* the row of this trial */
        char key[32];
        snprintf(key, sizeof(key), "\n%lld,", (long long)id);
        const char *row = strstr(csv, key);
        cr_assert_not_null(row, "trial %lld not in trials.csv", (long long)id);
        row++;
        const char *name;
        json_t *m;
        json_object_foreach(json_object_get(ev, "metrics"), name, m)
        {
            double v = json_is_object(m) ? json_number_value(json_object_get(m, "value"))
                                         : json_number_value(m);
            /* the column of the metric: count commas in the header */
            char col[256];
            snprintf(col, sizeof(col), ",%s,", name);
            char *h = strstr(hdr, col);
            if (h == NULL) {
                snprintf(col, sizeof(col), ",%s", name);
                h = strstr(hdr, col);
            }
            cr_assert_not_null(h, "column %s missing in %s", name, hdr);
            int k = 0;
            for (const char *p = hdr; p <= h; p++) {
                k += *p == ',';
            }
            const char *cell = row;
            for (int i = 0; i < k; i++) {
                cell = strchr(cell, ',') + 1;
            }
            double c = strtod(cell, NULL);
            cr_expect(memcmp(&c, &v, sizeof(double)) == 0,
                      "trial %lld %s: journal %.17g, trials.csv %.17g", (long long)id, name, v, c);
            compared++;
        }
        json_decref(ev);
    }
    cr_expect_geq(compared, 18 + 6, "values compared: %d", compared);
    free(journal);
    free(csv);
    free(csv2);
    free(pareto);
    free(pareto2);
    free(model);
    free(model2);
    free(tmp);
}
