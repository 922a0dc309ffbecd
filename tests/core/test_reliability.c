/*
 * Reliability of the core against hostile inputs and a hostile world (issue #8), through the
 * real CLI: many objectives (no fixed-size buffers), bad measurements (NaN, infinities,
 * negative or absurd standard errors) at the boundary and in old journals, failures of the
 * environment (the study stops, the trial is not counted), damaged journals, changed study
 * files on resume, input sizes. Each test failed before its fix.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/core/testutil.h"

/* ---- helpers ---- */

/* Write text to dir/NAME and run `hilnas cmd dir/NAME [--output dir/run] [extra...]` with the
 * test plugins; stdout and stderr into *out / *err (malloc'ed, may be NULL). */
/* When > 0, study_cmd starts hilnas under `mpirun -np mpi_np` (the mpi executor tests). */
static int mpi_np;

static int study_cmd(const char *dir, const char *name, const char *text, const char *cmd,
                     char **out, char **err, ...)
{
    char study[4500], out_dir[4500];
    snprintf(study, sizeof(study), "%s/%s", dir, name);
    snprintf(out_dir, sizeof(out_dir), "%s/run", dir);
    if (text != NULL) {
        cr_assert_eq(tu_write_file(study, text), 0);
    }
    char *argv[24], nps[16];
    int k = 0;
#ifdef HN_TEST_MPIRUN
    if (mpi_np > 0) {
        snprintf(nps, sizeof(nps), "%d", mpi_np);
        argv[k++] = HN_TEST_MPIRUN;
        argv[k++] = "--oversubscribe";
        argv[k++] = "-np";
        argv[k++] = nps;
    }
#else
    (void)nps;
#endif
    argv[k++] = (char *)tu_hilnas();
    argv[k++] = (char *)cmd;
    argv[k++] = study;
    if (strcmp(cmd, "run") == 0) {
        argv[k++] = "--output";
        argv[k++] = out_dir;
        argv[k++] = "--quiet";
    }
    va_list ap;
    va_start(ap, err);
    for (const char *a = va_arg(ap, const char *); a != NULL && k < 23;
         a = va_arg(ap, const char *)) {
        argv[k++] = (char *)a;
    }
    va_end(ap);
    argv[k] = NULL;
    char *o = NULL, *e = NULL;
    int rc = tu_run(argv, mpi_np > 0 ? tu_mpi_env() : tu_test_plugins_env(), &o, &e);
    if (out != NULL) {
        *out = o;
    } else {
        free(o);
    }
    if (err != NULL) {
        *err = e;
    } else {
        free(e);
    }
    return rc;
}

static json_t *load_json_file(const char *path)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    cr_assert_not_null(j, "%s: %s", path, jerr.text);
    return j;
}

static int show(const char *dir, json_t **summary, char **err)
{
    char *argv[] = {(char *)tu_hilnas(), "show", (char *)dir, "--json", NULL};
    char *out = NULL;
    int rc = tu_run(argv, tu_test_plugins_env(), &out, err);
    if (summary != NULL) {
        *summary = rc == 0 ? json_loads(out, 0, NULL) : NULL;
    }
    free(out);
    return rc;
}

static json_int_t count_of(json_t *summary, const char *status)
{
    return json_integer_value(json_object_get(json_object_get(summary, "trials"), status));
}

/* Events of a journal, one JSON object per non-empty line (lines that do not parse are
 * skipped); *n set. */
static json_t **journal_events(const char *run_dir, size_t *n)
{
    char path[4600];
    snprintf(path, sizeof(path), "%s/journal.jsonl", run_dir);
    char *text = tu_read_file(path);
    cr_assert_not_null(text, "no journal at %s", path);
    json_t **evs = calloc(tu_count(text, "\n") + 1, sizeof(json_t *));
    size_t k = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *ev = json_loads(line, 0, NULL);
        if (ev != NULL) {
            evs[k++] = ev;
        }
    }
    free(text);
    *n = k;
    return evs;
}

static void free_events(json_t **evs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(evs[i]);
    }
    free(evs);
}

static size_t count_events(json_t **evs, size_t n, const char *type, const char *key)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = json_string_value(json_object_get(evs[i], "event"));
        if (t != NULL && strcmp(t, type) == 0 && (key == NULL || json_object_get(evs[i], key))) {
            c++;
        }
    }
    return c;
}

/* ---- finding 1: per-objective buffers sized from the problem ---- */

/* Two dtlz2 instances of 12 objectives each: 24 objectives over 13 parameters. */
static char *many_objectives_study(const char *optimizer)
{
    size_t cap = 16384, off = 0;
    char *t = malloc(cap);
    off += (size_t)snprintf(t + off, cap - off,
                            "study: {name: many, seed: 1}\nspace:\n  plugin: box\n  params:\n");
    for (int i = 0; i < 13; i++) {
        off += (size_t)snprintf(t + off, cap - off, "    x%d: {type: float, min: 0, max: 1}\n", i);
    }
    off += (size_t)snprintf(t + off, cap - off,
                            "evaluators:\n  a: {plugin: testfn, function: dtlz2, objectives: "
                            "12, dim: 13}\n  b: {plugin: testfn, function: dtlz2, objectives: "
                            "12, dim: 13}\nobjectives:\n");
    for (int s = 0; s < 2; s++) {
        for (int j = 0; j < 12; j++) {
            off += (size_t)snprintf(t + off, cap - off, "  - {metric: %c.f%d}\n", "ab"[s], j);
        }
    }
    snprintf(t + off, cap - off, "stages:\n  - {name: s, optimizer: %s, trials: 6}\n", optimizer);
    return t;
}

Test(reliability, twenty_four_objectives_run_and_show)
{
    char *tmp = tu_tmpdir("many-obj");
    char *text = many_objectives_study("{plugin: random, mode: sobol}");
    char *err = NULL;
    int rc = study_cmd(tmp, "study.yaml", text, "run", NULL, &err, NULL);
    cr_assert_eq(rc, 0, "run with 24 objectives failed (%d): %s", rc, err);
    free(err);
    char path[4600], run[4600];
    snprintf(run, sizeof(run), "%s/run", tmp);
    snprintf(path, sizeof(path), "%s/summary.json", run);
    json_t *summary = load_json_file(path);
    cr_expect_eq(json_array_size(json_object_get(summary, "objectives")), 24);
    cr_expect(json_is_null(json_object_get(summary, "hypervolume")),
              "hypervolume over 24 objectives must not be computed");
    const char *note = json_string_value(json_object_get(summary, "hypervolume_note"));
    cr_expect(note != NULL && strstr(note, "24 objectives") != NULL && strstr(note, "8"),
              "the summary says why: %s", note ? note : "(none)");
    json_decref(summary);
    json_t *shown = NULL;
    rc = show(run, &shown, &err);
    cr_assert_eq(rc, 0, "show failed (%d): %s", rc, err);
    cr_expect_eq(count_of(shown, "complete"), 6);
    json_decref(shown);
    free(err);
    free(text);
    free(tmp);
}

Test(reliability, validate_refuses_gpbo_with_too_many_objectives)
{
    char *tmp = tu_tmpdir("many-obj-gpbo");
    char *text = many_objectives_study("gpbo");
    char *err = NULL;
    int rc = study_cmd(tmp, "study.yaml", text, "validate", NULL, &err, NULL);
    cr_expect_eq(rc, 2, "validate must refuse (exit 2), got %d: %s", rc, err);
    cr_expect(err && strstr(err, "stage 's'") && strstr(err, "8 objectives") && strstr(err, "24"),
              "names the stage, the limit and the count: %s", err);
    free(err);
    free(text);
    free(tmp);
}

/* A journal crafted by hand with 320 objectives: show must not crash. */
Test(reliability, crafted_journal_with_320_objectives_shows)
{
    char *tmp = tu_tmpdir("crafted");
    const size_t m = 320;
    json_t *objs = json_array();
    for (size_t j = 0; j < m; j++) {
        char name[32];
        snprintf(name, sizeof(name), "e.k%zu", j);
        json_array_append_new(
            objs, json_pack("{s:s, s:s}", "metric", name, "goal", j % 2 ? "maximize" : "minimize"));
    }
    json_t *study = json_pack("{s:s, s:s, s:i, s:s, s:{s:o, s:[]}}", "event", "study", "format",
                              "hilnas-journal", "version", 1, "name", "crafted", "problem",
                              "objectives", objs, "constraints");
    char path[4600];
    snprintf(path, sizeof(path), "%s/journal.jsonl", tmp);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    char *line = json_dumps(study, JSON_COMPACT);
    fprintf(f, "%s\n", line);
    free(line);
    for (int id = 0; id < 4; id++) {
        fprintf(f, "{\"event\":\"started\",\"trial\":%d,\"stage\":\"s\",\"params\":{}}\n", id);
        json_t *metrics = json_object();
        for (size_t j = 0; j < m; j++) {
            char name[32];
            snprintf(name, sizeof(name), "e.k%zu", j);
            json_object_set_new(metrics, name, json_real(sin((double)(id * 7 + (int)j))));
        }
        json_t *ev =
            json_pack("{s:s, s:i, s:o}", "event", "completed", "trial", id, "metrics", metrics);
        line = json_dumps(ev, JSON_COMPACT);
        fprintf(f, "%s\n", line);
        free(line);
        json_decref(ev);
    }
    fclose(f);
    json_decref(study);
    json_t *summary = NULL;
    char *err = NULL;
    int rc = show(tmp, &summary, &err);
    cr_assert_eq(rc, 0, "show of a 320-objective journal failed (%d): %s", rc, err);
    cr_expect_eq(count_of(summary, "complete"), 4);
    cr_expect(json_is_null(json_object_get(summary, "hypervolume")));
    json_decref(summary);
    free(err);
    free(tmp);
}

/* A crafted journal whose trials carry very many metrics: replay and show stay linear in the
 * number of metrics (a name index behind each trial's metrics), where a linear lookup per put
 * made 200,000 metrics cost 2e10 name comparisons (the test's timeout would catch that). */
Test(reliability, crafted_journal_with_very_many_metrics_shows, .timeout = 120)
{
    char *tmp = tu_tmpdir("manymetrics");
    const size_t m = 200000;
    char path[4600];
    snprintf(path, sizeof(path), "%s/journal.jsonl", tmp);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"event\":\"study\",\"format\":\"hilnas-journal\",\"version\":1,\"name\":"
          "\"many\",\"problem\":{\"objectives\":[{\"metric\":\"e.k7\",\"goal\":"
          "\"minimize\"}],\"constraints\":[]}}\n",
          f);
    for (int id = 0; id < 2; id++) {
        fprintf(f, "{\"event\":\"started\",\"trial\":%d,\"stage\":\"s\",\"params\":{}}\n", id);
        fprintf(f, "{\"event\":\"completed\",\"trial\":%d,\"metrics\":{", id);
        for (size_t j = 0; j < m; j++) {
            fprintf(f, "%s\"e.k%zu\":%d", j ? "," : "", j, (int)(j % 1000) - id);
        }
        fputs("}}\n", f);
    }
    fclose(f);
    json_t *summary = NULL;
    char *err = NULL;
    int rc = show(tmp, &summary, &err);
    cr_assert_eq(rc, 0, "show of a journal with %zu metrics per trial failed (%d): %s", m, rc, err);
    cr_expect_eq(count_of(summary, "complete"), 2);
    json_decref(summary);
    free(err);
    free(tmp);
}

/* ---- finding 5: every value and sem checked at the boundary and on replay ---- */

static char *faulty_study(const char *faulty_opts, const char *executor, int search_trials)
{
    char *t = malloc(4096);
    snprintf(t, 4096,
             "study: {name: faulty, seed: 2}\n"
             "space:\n  plugin: box\n  params:\n"
             "    a: {type: float, min: 0, max: 1}\n    b: {type: float, min: 0, max: 1}\n"
             "evaluators:\n  f: {plugin: faulty%s}\n"
             "objectives:\n  - {metric: value, goal: minimize}\n"
             "%s"
             "stages:\n  - {name: init, sampler: sobol, trials: 6}\n"
             "  - {name: search, optimizer: {plugin: gpbo, seed: 1}, trials: %d}\n",
             faulty_opts, executor, search_trials);
    return t;
}

struct bad_row {
    const char *bad;
    const char *reason; /* part of the recorded reason */
};

static const struct bad_row bad_rows[] = {
    {"nan", "NaN"},
    {"inf", "infinite"},
    {"huge", "absurd"},
    {"negative_sem", "standard error -0.5 is negative"},
    {"inf_sem", "standard error is infinite"},
    {"absurd_sem", "is absurd for the value"},
};

/* Trials 2 and 5 (ids + 1 multiples of 3) reply badly; the study goes on, gpbo included. */
Test(reliability, bad_values_and_sems_fail_their_trial_and_never_reach_gpbo, .timeout = 120)
{
    for (size_t r = 0; r < sizeof(bad_rows) / sizeof(bad_rows[0]); r++) {
        char *tmp = tu_tmpdir("bad-values");
        char opts[128];
        snprintf(opts, sizeof(opts), ", bad_every: 3, bad: %s", bad_rows[r].bad);
        char *text = faulty_study(opts, "", 2);
        char *err = NULL;
        int rc = study_cmd(tmp, "study.yaml", text, "run", NULL, &err, NULL);
        cr_expect_eq(rc, 0, "%s: the study must finish (%d): %s", bad_rows[r].bad, rc, err);
        free(err);
        char run[4600];
        snprintf(run, sizeof(run), "%s/run", tmp);
        size_t n = 0;
        json_t **evs = journal_events(run, &n);
        for (size_t i = 0; i < n; i++) {
            const char *type = json_string_value(json_object_get(evs[i], "event"));
            json_int_t id = json_integer_value(json_object_get(evs[i], "trial"));
            if (type == NULL || (id != 2 && id != 5) || strcmp(type, "started") == 0) {
                continue;
            }
            cr_expect_str_eq(type, "failed", "%s: trial %lld must fail", bad_rows[r].bad,
                             (long long)id);
            const char *reason = json_string_value(json_object_get(evs[i], "reason"));
            cr_expect(reason && strstr(reason, bad_rows[r].reason) && strstr(reason, "f.value"),
                      "%s: reason names the metric and the problem: %s", bad_rows[r].bad,
                      reason ? reason : "(none)");
        }
        free_events(evs, n);
        json_t *summary = NULL;
        cr_expect_eq(show(run, &summary, NULL), 0);
        cr_expect_eq(count_of(summary, "failed"), 2, "%s", bad_rows[r].bad);
        cr_expect_eq(count_of(summary, "complete"), 6, "%s", bad_rows[r].bad);
        json_decref(summary);
        free(text);
        free(tmp);
    }
}

/* A journal written before the checks holds a negative sem and an absurd value: the study
 * resumes, loudly; the sem is dropped, the trial with the absurd value counts as failed. */
Test(reliability, old_journal_with_bad_values_resumes_loudly, .timeout = 120)
{
    char *tmp = tu_tmpdir("bad-replay");
    char *text = faulty_study("", "", 1);
    char *err = NULL;
    int rc = study_cmd(tmp, "study.yaml", text, "run", NULL, &err, NULL);
    cr_assert_eq(rc, 0, "%s", err);
    free(err);
    free(text);
    char run[4600], path[4700];
    snprintf(run, sizeof(run), "%s/run", tmp);
    snprintf(path, sizeof(path), "%s/journal.jsonl", run);
    /* rewrite the completed events of trials 1 and 3 as an old hilnas could have */
    size_t n = 0;
    json_t **evs = journal_events(run, &n);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    long sem_line = -1, value_line = -1;
    for (size_t i = 0; i < n; i++) {
        const char *type = json_string_value(json_object_get(evs[i], "event"));
        json_int_t id = json_integer_value(json_object_get(evs[i], "trial"));
        if (strcmp(type, "completed") == 0 && (id == 1 || id == 3)) {
            json_t *v = json_object_get(json_object_get(evs[i], "metrics"), "f.value");
            if (id == 1) {
                json_object_set_new(v, "sem", json_real(-0.5));
                sem_line = (long)i + 1;
            } else {
                json_object_set_new(v, "value", json_real(1e300));
                value_line = (long)i + 1;
            }
        }
        char *line = json_dumps(evs[i], JSON_COMPACT);
        fprintf(f, "%s\n", line);
        free(line);
    }
    fclose(f);
    free_events(evs, n);
    cr_assert(sem_line > 0 && value_line > 0);
    text = faulty_study("", "", 3);
    rc = study_cmd(tmp, "study.yaml", text, "run", NULL, &err, NULL);
    cr_expect_eq(rc, 0, "the study must resume (%d): %s", rc, err);
    char want[128];
    snprintf(want, sizeof(want), "journal line %ld: trial 1", sem_line);
    cr_expect(err && strstr(err, want) && strstr(err, "standard error -0.5 is negative") &&
                  strstr(err, "dropped"),
              "warns about the sem with its line: %s", err);
    snprintf(want, sizeof(want), "journal line %ld: trial 3", value_line);
    cr_expect(err && strstr(err, want) && strstr(err, "failed trial"),
              "warns about the value with its line: %s", err);
    free(err);
    json_t *summary = NULL;
    cr_expect_eq(show(run, &summary, NULL), 0);
    cr_expect_eq(count_of(summary, "failed"), 1, "trial 3 counts as failed");
    cr_expect_eq(count_of(summary, "complete"), 8, "6 + 3 trials, one of them failed");
    json_decref(summary);
    free(text);
    free(tmp);
}

/* ---- finding 8: failures of the environment stop the study; a later run resumes ---- */

static void environment_stops_and_resumes(const char *executor)
{
    char *tmp = tu_tmpdir("env");
    char broken[4600], opts[4800];
    snprintf(broken, sizeof(broken), "%s/data-is-broken", tmp);
    cr_assert_eq(tu_write_file(broken, "x"), 0);
    snprintf(opts, sizeof(opts), ", env_while: %s", broken);
    char *text = faulty_study(opts, executor, 2);
    char *err = NULL;
    int rc = study_cmd(tmp, "study.yaml", text, "run", NULL, &err, NULL);
    cr_expect_eq(rc, 1, "%s: an environment failure stops the study with exit 1 (%d): %s", executor,
                 rc, err);
    cr_expect(err && strstr(err, "the data is unreachable") &&
                  strstr(err, "not counted as failed") && strstr(err, "run the same command"),
              "%s: says what failed and what to do: %s", executor, err);
    free(err);
    char run[4600];
    snprintf(run, sizeof(run), "%s/run", tmp);
    size_t n = 0;
    json_t **evs = journal_events(run, &n);
    cr_expect_eq(count_events(evs, n, "completed", NULL), 0);
    size_t env_events = count_events(evs, n, "failed", "environment");
    cr_expect(env_events >= 1, "the stopped trial is journaled as an environment failure");
    cr_expect_eq(count_events(evs, n, "failed", NULL), env_events,
                 "%s: no trial is recorded as a plain failure", executor);
    free_events(evs, n);

    /* the environment is repaired: the same command resumes and finishes the budget */
    cr_assert_eq(unlink(broken), 0);
    rc = study_cmd(tmp, "study.yaml", NULL, "run", NULL, &err, NULL);
    cr_expect_eq(rc, 0, "%s: resume after the repair (%d): %s", executor, rc, err);
    free(err);
    json_t *summary = NULL;
    cr_expect_eq(show(run, &summary, NULL), 0);
    cr_expect_eq(count_of(summary, "complete"), 8, "%s: the whole budget is measured", executor);
    cr_expect_eq(count_of(summary, "failed"), count_of(summary, "abandoned"),
                 "%s: only abandoned trials, no candidate failed", executor);
    json_decref(summary);
    free(text);
    free(tmp);
}

Test(reliability, environment_failure_stops_serial, .timeout = 120)
{
    environment_stops_and_resumes("");
}

Test(reliability, environment_failure_stops_threads, .timeout = 120)
{
    environment_stops_and_resumes("executor: {plugin: threads, workers: 2}\n");
}

/* The same under mpirun: the worker rank that meets the broken environment tells rank 0, which
 * stops the study (exit 1 from mpirun) without a failed trial; the next job resumes. */
#ifdef HN_TEST_MPIRUN
Test(reliability, environment_failure_stops_mpi, .timeout = 240)
{
    mpi_np = 3;
    environment_stops_and_resumes("executor: {plugin: mpi}\n");
    mpi_np = 0;
}
#endif

Test(reliability, trial_directory_not_creatable_stops_the_study, .timeout = 120)
{
    char *tmp = tu_tmpdir("env-dir");
    char run[4600], trials[4700];
    snprintf(run, sizeof(run), "%s/run", tmp);
    snprintf(trials, sizeof(trials), "%s/trials", run);
    cr_assert_eq(mkdir(run, 0755), 0);
    /* a file where the trial directories go: mkdir fails as on a full disk, even as root */
    cr_assert_eq(tu_write_file(trials, "not a directory"), 0);
    char *text = faulty_study("", "", 2);
    char *err = NULL;
    int rc = study_cmd(tmp, "study.yaml", text, "run", NULL, &err, NULL);
    cr_expect_eq(rc, 1, "exit 1 (%d): %s", rc, err);
    cr_expect(err && strstr(err, "cannot create the trial directory") && strstr(err, "trial 0"),
              "%s", err);
    free(err);
    cr_assert_eq(unlink(trials), 0);
    rc = study_cmd(tmp, "study.yaml", NULL, "run", NULL, &err, NULL);
    cr_expect_eq(rc, 0, "resume (%d): %s", rc, err);
    free(err);
    json_t *summary = NULL;
    cr_expect_eq(show(run, &summary, NULL), 0);
    cr_expect_eq(count_of(summary, "complete"), 8);
    cr_expect_eq(count_of(summary, "abandoned"), 1);
    json_decref(summary);
    free(text);
    free(tmp);
}

/* ---- finding 6: NUL-filled and garbage journal lines ---- */

/* Run the 6+1 faulty study to completion in tmp/run; returns the journal's text. */
static char *finished_study(const char *tmp, int search_trials)
{
    char *text = faulty_study("", "", search_trials);
    char *err = NULL;
    int rc = study_cmd(tmp, "study.yaml", text, "run", NULL, &err, NULL);
    cr_assert_eq(rc, 0, "%s", err);
    free(err);
    free(text);
    char path[4700];
    snprintf(path, sizeof(path), "%s/run/journal.jsonl", tmp);
    return tu_read_file(path);
}

static void write_bytes(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* What a power loss leaves: the last (unsynced) "started" line and some more zeroed out, with
 * a newline after them, and zeros in the middle of the last block before an intact started
 * event. The run warns with line numbers, quarantines the damage, recovers the intact event,
 * keeps every completed trial and finishes. */
Test(reliability, power_loss_zeros_at_the_tail_are_quarantined, .timeout = 120)
{
    char *tmp = tu_tmpdir("nul-tail");
    char *journal = finished_study(tmp, 1);
    size_t len = strlen(journal), lines = tu_count(journal, "\n");
    /* append: a zeroed line, then zeros followed by an intact "started" event */
    const char *started = "{\"event\":\"started\",\"trial\":7,\"stage\":\"search\",\"params\":"
                          "{\"a\":0.5,\"b\":0.25},\"time\":1}\n";
    size_t cap = len + 4096 + strlen(started);
    char *buf = calloc(1, cap);
    memcpy(buf, journal, len);
    size_t off = len + 300; /* 300 NUL bytes, a newline */
    buf[off++] = '\n';
    off += 200; /* 200 NUL bytes then the event, on the same line */
    memcpy(buf + off, started, strlen(started));
    off += strlen(started);
    char path[4700];
    snprintf(path, sizeof(path), "%s/run/journal.jsonl", tmp);
    write_bytes(path, buf, off);

    json_t *summary = NULL;
    char *err = NULL;
    char run[4600];
    snprintf(run, sizeof(run), "%s/run", tmp);
    cr_assert_eq(show(run, &summary, &err), 0, "show reads around the damage: %s", err);
    cr_expect_eq(json_integer_value(json_object_get(summary, "journal_damaged_lines")), 2);
    cr_expect_eq(count_of(summary, "complete"), 7);
    cr_expect_eq(count_of(summary, "running"), 1, "the recovered start");
    char want[64];
    snprintf(want, sizeof(want), "damaged lines %zu (300 NUL bytes", lines + 1);
    cr_expect(err && strstr(err, want), "show warns with line numbers: %s", err);
    json_decref(summary);
    free(err);

    /* resume with a bigger last stage: the damage is quarantined, the run goes on */
    char *text = faulty_study("", "", 3);
    int rc = study_cmd(tmp, "study.yaml", text, "run", NULL, &err, NULL);
    cr_expect_eq(rc, 0, "resume after a power loss (%d): %s", rc, err);
    cr_expect(err && strstr(err, want) && strstr(err, "journal.damaged") &&
                  strstr(err, "no recorded trial was lost") &&
                  strstr(err, "recovered a complete 'started' event"),
              "loud: %s", err);
    free(err);
    char dpath[4700];
    snprintf(dpath, sizeof(dpath), "%s/run/journal.damaged", tmp);
    struct stat stt;
    cr_expect(stat(dpath, &stt) == 0 && stt.st_size >= 500, "the damaged bytes are kept");
    char *now = tu_read_file(path);
    struct stat jst;
    cr_expect(stat(path, &jst) == 0 && (size_t)jst.st_size == strlen(now), "no NUL left");
    cr_expect(strncmp(now, journal, len) == 0, "every good line kept as it was");
    free(now);
    cr_expect_eq(show(run, &summary, NULL), 0);
    cr_expect_eq(count_of(summary, "complete"), 9, "6 + 3, nothing lost or re-run");
    cr_expect_eq(count_of(summary, "abandoned"), 1, "trial 7 was running");
    cr_expect_eq(json_integer_value(json_object_get(summary, "journal_damaged_lines")), 0);
    json_decref(summary);
    free(text);
    free(buf);
    free(journal);
    free(tmp);
}

/* Zeros over a completed event that a synced event follows: not a power loss; refused with the
 * line, the journal untouched; --repair-journal resumes and re-runs the lost trial. */
Test(reliability, damage_before_synced_events_is_refused_then_repaired, .timeout = 120)
{
    char *tmp = tu_tmpdir("nul-middle");
    char *journal = finished_study(tmp, 1);
    /* zero out the completed event of trial 2 (keep its newline) */
    char *c = strstr(journal, "{\"event\":\"completed\"");
    for (int k = 0; k < 2 && c != NULL; k++) {
        c = strstr(c + 1, "{\"event\":\"completed\"");
    }
    cr_assert_not_null(c);
    long line = 1;
    for (char *p = journal; p < c; p++) {
        line += *p == '\n';
    }
    size_t len = strlen(journal);
    memset(c, 0, (size_t)(strchr(c, '\n') - c));
    char path[4700];
    snprintf(path, sizeof(path), "%s/run/journal.jsonl", tmp);
    write_bytes(path, journal, len);

    char *err = NULL;
    int rc = study_cmd(tmp, "study.yaml", NULL, "run", NULL, &err, NULL);
    char want[64];
    snprintf(want, sizeof(want), "journal.jsonl:%ld: damaged journal", line);
    cr_expect_eq(rc, 1, "refused (%d): %s", rc, err);
    cr_expect(err && strstr(err, want) && strstr(err, "--repair-journal"), "%s", err);
    free(err);
    struct stat st1;
    cr_expect_eq(stat(path, &st1), 0);
    cr_expect_eq((size_t)st1.st_size, len, "not one byte changed");

    rc = study_cmd(tmp, "study.yaml", NULL, "run", NULL, &err, "--repair-journal", NULL);
    cr_expect_eq(rc, 0, "repair (%d): %s", rc, err);
    free(err);
    char run[4600];
    snprintf(run, sizeof(run), "%s/run", tmp);
    json_t *summary = NULL;
    cr_expect_eq(show(run, &summary, NULL), 0);
    cr_expect_eq(count_of(summary, "complete"), 7, "the lost trial was run again");
    cr_expect_eq(count_of(summary, "abandoned"), 1);
    json_decref(summary);
    free(journal);
    free(tmp);
}

/* ---- finding 7: resume compares the study file with the journal ---- */

struct change_row {
    const char *set;  /* --set on resume */
    const char *want; /* in the refusal */
};

static const struct change_row changes[] = {
    {"objectives.0.goal=maximize", "objective 1 changed from f.value minimize to f.value maximize"},
    {"study.seed=3", "the seed changed from 2 to 3"},
    {"study.name=other", "the study name changed from 'faulty' to 'other'"},
    {"space.params.b.max=2", "parameter 2 changed from 'b: float [0, 1]' to 'b: float [0, 2]'"},
    {"stages.0.trials=9", "stage 1 (init: search with random"},
    {"stages.1.optimizer.seed=4", "stage 2 changed from 'search: search with gpbo"},
};

Test(reliability, resume_refuses_a_changed_study_file, .timeout = 120)
{
    char *tmp = tu_tmpdir("changed");
    char *journal = finished_study(tmp, 1);
    char path[4700];
    snprintf(path, sizeof(path), "%s/run/journal.jsonl", tmp);
    size_t before = strlen(journal);
    for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
        char *err = NULL;
        int rc =
            study_cmd(tmp, "study.yaml", NULL, "run", NULL, &err, "--set", changes[i].set, NULL);
        cr_expect_eq(rc, 2, "%s: refused with exit 2 (%d): %s", changes[i].set, rc, err);
        cr_expect(err && strstr(err, changes[i].want) && strstr(err, "--output"),
                  "%s: says what changed: %s", changes[i].set, err);
        free(err);
        char *now = tu_read_file(path);
        cr_expect_eq(strlen(now), before, "%s: the journal is untouched", changes[i].set);
        free(now);
    }
    /* safe by design: a bigger last stage, a new stage after it, another executor */
    char *err = NULL;
    int rc =
        study_cmd(tmp, "study.yaml", NULL, "run", NULL, &err, "--set", "stages.1.trials=2", NULL);
    cr_expect_eq(rc, 0, "growing the last stage resumes (%d): %s", rc, err);
    free(err);
    char *text = faulty_study("", "executor: {plugin: threads, workers: 2}\n", 2);
    char *more = malloc(strlen(text) + 128);
    sprintf(more, "%s  - {name: extra, sampler: uniform, trials: 2}\n", text);
    rc = study_cmd(tmp, "study.yaml", more, "run", NULL, &err, NULL);
    cr_expect_eq(rc, 0, "a new stage and another executor resume (%d): %s", rc, err);
    free(err);
    char run[4600];
    snprintf(run, sizeof(run), "%s/run", tmp);
    json_t *summary = NULL;
    cr_expect_eq(show(run, &summary, NULL), 0);
    cr_expect_eq(count_of(summary, "complete"), 10);
    json_decref(summary);
    free(more);
    free(text);
    free(journal);
    free(tmp);
}

/* ---- finding 9: input sizes ---- */

/* 4.2 MB of study file: 99999 parameters in one mapping, then the same with a duplicate key at
 * the very end. The quadratic checks of the old code took 39 s for a third of this (34000, on
 * the loaded machine), so about six minutes here: past the timeout. Linear ones take a few
 * seconds (bench/bench_config.sh measures it). */
Test(reliability, a_big_study_with_many_keys_validates, .timeout = 120)
{
    char *tmp = tu_tmpdir("big-study");
    const int n = 99999;
    size_t cap = 64 + (size_t)n * 64 + 1024, off = 0;
    char *t = malloc(cap);
    off += (size_t)snprintf(t + off, cap - off,
                            "study: {name: big, seed: 1}\nspace:\n  plugin: box\n  params:\n");
    for (int i = 0; i < n; i++) {
        off +=
            (size_t)snprintf(t + off, cap - off, "    p%05d: {type: float, min: 0, max: 1}\n", i);
    }
    size_t params_end = off;
    const char *tail = "evaluators:\n  s: {plugin: sleepy}\nobjectives:\n  - {metric: value}\n"
                       "stages:\n  - {name: s, sampler: uniform, trials: 1}\n";
    snprintf(t + off, cap - off, "%s", tail);
    cr_assert_gt(strlen(t), 4000000, "%zu bytes", strlen(t));
    char *out = NULL, *err = NULL;
    int rc = study_cmd(tmp, "big.yaml", t, "validate", &out, &err, NULL);
    cr_expect_eq(rc, 0, "validate (%d): %s", rc, err);
    cr_expect(out && strstr(out, "99999 parameters"), "%s", out);
    free(out);
    free(err);
    /* a duplicate key at the end is found, with both positions */
    off = params_end;
    off += (size_t)snprintf(t + off, cap - off, "    p00007: {type: float, min: 0, max: 1}\n");
    snprintf(t + off, cap - off, "%s", tail);
    rc = study_cmd(tmp, "dup.yaml", t, "validate", NULL, &err, NULL);
    char want[128];
    snprintf(want, sizeof(want),
             "dup.yaml:%d:5: space.params: duplicate key 'p00007' (first "
             "defined at line 12, column 5)",
             n + 5);
    cr_expect_eq(rc, 2);
    cr_expect(err && strstr(err, want), "want %s in: %s", want, err);
    free(err);
    free(t);
    free(tmp);
}

Test(reliability, yaml_sizes_are_bounded, .timeout = 60)
{
    char *tmp = tu_tmpdir("yaml-size");
    /* 1.2 million list items in 4.8 MB: refused while scanning, before any tree is built */
    size_t n = 1200000, cap = n * 4 + 64;
    char *t = malloc(cap), *err = NULL;
    size_t off = (size_t)snprintf(t, cap, "study:\n");
    for (size_t i = 0; i < n; i++) {
        memcpy(t + off, "- 1\n", 4);
        off += 4;
    }
    t[off] = '\0';
    int rc = study_cmd(tmp, "list.yaml", t, "validate", NULL, &err, NULL);
    cr_expect_eq(rc, 2, "%s", err);
    cr_expect(err && strstr(err, "more than 1000000 values"), "%s", err);
    free(err);
    free(t);
    /* 17 MiB of comments: refused by size */
    char path[4600];
    snprintf(path, sizeof(path), "%s/huge.yaml", tmp);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 17 * 1024; i++) {
        char line[1024];
        memset(line, '#', sizeof(line) - 1);
        line[sizeof(line) - 1] = '\n';
        fwrite(line, 1, sizeof(line), f);
    }
    fclose(f);
    rc = study_cmd(tmp, "huge.yaml", NULL, "validate", NULL, &err, NULL);
    cr_expect_eq(rc, 2, "%s", err);
    cr_expect(err && strstr(err, "larger than 16 MiB"), "%s", err);
    free(err);
    free(tmp);
}

Test(reliability, tokenize_refuses_devices_and_directories)
{
    char *tmp = tu_tmpdir("tokenize");
    const char *inputs[] = {"/dev/zero", "/dev/null"};
    for (size_t i = 0; i < 2; i++) {
        char *argv[] = {(char *)tu_hilnas(), "tokenize", (char *)inputs[i], "-o", tmp, NULL};
        char *out = NULL, *err = NULL;
        int rc = tu_run(argv, NULL, &out, &err);
        cr_expect_eq(rc, 2, "%s: %s", inputs[i], err);
        cr_expect(err && strstr(err, inputs[i]) && strstr(err, "a character device"), "%s", err);
        free(out);
        free(err);
    }
    /* a directory stands for its regular text files: a device linked into it is not read */
    char corpus[4200], link[4300], text[4300], out_dir[4300];
    snprintf(corpus, sizeof(corpus), "%s/corpus", tmp);
    snprintf(link, sizeof(link), "%s/zero", corpus);
    snprintf(text, sizeof(text), "%s/a.txt", corpus);
    snprintf(out_dir, sizeof(out_dir), "%s/out", tmp);
    cr_assert_eq(mkdir(corpus, 0755), 0);
    cr_assert_eq(symlink("/dev/zero", link), 0);
    char *argv[] = {(char *)tu_hilnas(), "tokenize", corpus, "-o", out_dir, NULL};
    char *err = NULL;
    cr_expect_eq(tu_run(argv, NULL, NULL, &err), 2, "only a device in the directory: %s", err);
    cr_expect(err && strstr(err, "no text"), "%s", err);
    free(err);
    err = NULL;
    cr_assert_eq(tu_write_file(text, "one fortune\n%\nanother one\n"), 0);
    cr_expect_eq(tu_run(argv, NULL, NULL, &err), 0, "the text file beside the device: %s", err);
    free(err);
    free(tmp);
}

/* ---- finding 10: the smaller ones ---- */

Test(reliability, integer_flags_refuse_out_of_range_values)
{
    const char *bad[] = {"--seq=4294967297", "--batch=-1", "--seq=2147483648",
                         "--batches=99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *argv[] = {(char *)tu_hilnas(), "eval", "/nonexistent", "--data", "x.bin",
                        (char *)bad[i],      NULL};
        char *err = NULL;
        int rc = tu_run(argv, NULL, NULL, &err);
        cr_expect_eq(rc, 2, "%s: exit %d: %s", bad[i], rc, err);
        cr_expect(err && strstr(err, "needs an integer in"), "%s: %s", bad[i], err);
        free(err);
    }
}

/* A checkpoint whose weights are all NaN: eval prints its JSON with the error, exit 1. */
Test(reliability, eval_with_nan_weights_prints_an_error_json, .timeout = 120)
{
    char *tmp = tu_tmpdir("nan-eval");
    char text[4600], data[4600], out[4600], st[4700];
    snprintf(text, sizeof(text), "%s/text.txt", tmp);
    snprintf(data, sizeof(data), "%s/data", tmp);
    snprintf(out, sizeof(out), "%s/model", tmp);
    char *doc = malloc(20000);
    for (int i = 0; i < 19999; i++) {
        doc[i] = "the cat sat on a mat\n"[i % 21];
    }
    doc[19999] = '\0';
    cr_assert_eq(tu_write_file(text, doc), 0);
    free(doc);
    char *tok[] = {(char *)tu_hilnas(), "tokenize", text, "-o", data, "--val-fraction", "0", NULL};
    cr_assert_eq(tu_run(tok, NULL, NULL, NULL), 0);
    snprintf(st, sizeof(st), "%s/train.bin", data);
    char val[4700];
    snprintf(val, sizeof(val), "%s/val.bin", data);
    unlink(val); /* empty with --val-fraction 0: validate on the training tokens */
    cr_assert_eq(link(st, val), 0);
    char *pre[] = {
        (char *)tu_hilnas(), "pretrain", "--layers",   "1",     "--hidden", "16", "--heads",   "2",
        "--kv-heads",        "1",        "--head-dim", "8",     "--ffn",    "32", "--seq",     "16",
        "--batch",           "2",        "--steps",    "1",     "--warmup", "0",  "--threads", "1",
        "--quiet",           "--data",   data,         "--out", out,        NULL};
    char *err = NULL;
    int rc = tu_run(pre, NULL, NULL, &err);
    cr_assert_eq(rc, 0, "pretrain (%d): %s", rc, err);
    free(err);
    /* every weight NaN (float32 0x7fc00000) after the safetensors header */
    snprintf(st, sizeof(st), "%s/final/model.safetensors", out);
    FILE *f = fopen(st, "r+b");
    cr_assert_not_null(f);
    unsigned char h[8];
    cr_assert_eq(fread(h, 1, 8, f), 8);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) {
        hlen = hlen << 8 | h[i];
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, (long)(8 + hlen), SEEK_SET);
    const unsigned char nan32[4] = {0x00, 0x00, 0xc0, 0x7f};
    for (long p = 8 + (long)hlen; p + 4 <= size; p += 4) {
        fwrite(nan32, 1, 4, f);
    }
    fclose(f);
    snprintf(st, sizeof(st), "%s/final", out);
    char *ev[] = {(char *)tu_hilnas(), "eval", st, "--data", val, "--seq", "16", NULL};
    char *sout = NULL;
    rc = tu_run(ev, NULL, &sout, &err);
    cr_expect_eq(rc, 1, "eval of NaN weights (%d): %s", rc, err);
    json_t *j = sout ? json_loads(sout, 0, NULL) : NULL;
    cr_expect(j != NULL, "eval printed its JSON: '%s'", sout ? sout : "");
    cr_expect(json_is_null(json_object_get(j, "loss")));
    const char *e = json_string_value(json_object_get(j, "error"));
    cr_expect(e && strstr(e, "not finite"), "%s", sout);
    json_decref(j);
    free(sout);
    free(err);
    free(tmp);
}

/* trials.csv follows the trials: after a SIGKILL mid-stage it lists every completed trial
 * (but possibly the last one, finishing as the kill came). */
Test(reliability, trials_csv_is_current_after_a_kill, .timeout = 120)
{
    char *tmp = tu_tmpdir("csv-kill");
    char study[4600], run[4600], log[4600], path[4700];
    snprintf(study, sizeof(study), "%s/study.yaml", tmp);
    snprintf(run, sizeof(run), "%s/run", tmp);
    snprintf(log, sizeof(log), "%s/log", tmp);
    cr_assert_eq(tu_write_file(study, "study: {name: csv, seed: 1}\n"
                                      "space:\n  plugin: box\n  params:\n"
                                      "    a: {type: float, min: 0, max: 1}\n"
                                      "evaluators:\n  s: {plugin: sleepy, delay_ms: 40}\n"
                                      "objectives:\n  - {metric: value}\n"
                                      "stages:\n  - {name: only, sampler: uniform, trials: 200}\n"),
                 0);
    char *argv[] = {(char *)tu_hilnas(), "run", study, "--output", run, "--quiet", NULL};
    pid_t pid = tu_spawn(argv, tu_test_plugins_env(), log);
    snprintf(path, sizeof(path), "%s/journal.jsonl", run);
    for (int i = 0; i < 600; i++) {
        char *j = tu_read_file(path);
        size_t done = j ? tu_count(j, "\"completed\"") : 0;
        free(j);
        if (done >= 8) {
            break;
        }
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char *j = tu_read_file(path);
    size_t done = tu_count(j, "\"event\":\"completed\"");
    free(j);
    snprintf(path, sizeof(path), "%s/trials.csv", run);
    char *csv = tu_read_file(path);
    cr_assert_not_null(csv, "trials.csv must exist after a kill mid-stage");
    size_t rows = tu_count(csv, ",complete,");
    cr_expect(done >= 8 && rows + 1 >= done && rows <= done, "%zu rows, %zu completed", rows, done);
    free(csv);
    free(tmp);
}
