/*
 * The study runner through the real CLI: outputs, resume, SIGKILL mid-study, the lock against
 * a second process, failed trials, seeds, exit codes.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/core/testutil.h"

static const char *study_path(const char *rel, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", tu_srcdir(), rel);
    return buf;
}

static int run_cli(const char *cmd, const char *study, const char *out_dir, const char *extra,
                   char **out, char **err)
{
    char *argv[8];
    int k = 0;
    argv[k++] = (char *)tu_hilnas();
    argv[k++] = (char *)cmd;
    argv[k++] = (char *)study;
    if (out_dir != NULL) {
        argv[k++] = "--output";
        argv[k++] = (char *)out_dir;
    }
    if (extra != NULL) {
        argv[k++] = "--set";
        argv[k++] = (char *)extra;
    }
    argv[k] = NULL;
    return tu_run(argv, tu_test_plugins_env(), out, err);
}

static json_t *show_json(const char *dir)
{
    char *argv[] = {(char *)tu_hilnas(), "show", (char *)dir, "--json", NULL};
    char *out = NULL, *err = NULL;
    int rc = tu_run(argv, tu_test_plugins_env(), &out, &err);
    cr_assert_eq(rc, 0, "show failed (%d): %s", rc, err);
    json_error_t jerr;
    json_t *j = json_loads(out, 0, &jerr);
    cr_assert_not_null(j, "show --json printed invalid JSON (%s): %s", jerr.text, out);
    free(out);
    free(err);
    return j;
}

static json_int_t count_of(json_t *summary, const char *status)
{
    return json_integer_value(json_object_get(json_object_get(summary, "trials"), status));
}

/* Per trial id: how many "completed" events the journal holds. */
static size_t completed_events(const char *dir, int *per_id, size_t max_id)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
    char *text = tu_read_file(path);
    size_t n = 0;
    memset(per_id, 0, max_id * sizeof(int));
    if (text == NULL) {
        return 0; /* not created yet */
    }
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *ev = json_loads(line, 0, NULL);
        if (ev == NULL) {
            continue;
        }
        const char *type = json_string_value(json_object_get(ev, "event"));
        if (type && strcmp(type, "completed") == 0) {
            json_int_t id = json_integer_value(json_object_get(ev, "trial"));
            if (id >= 0 && (size_t)id < max_id) {
                per_id[id]++;
            }
            n++;
        }
        json_decref(ev);
    }
    free(text);
    return n;
}

Test(cli_run, branin_random_outputs_and_show)
{
    char study[4200], dir[4300];
    char *tmp = tu_tmpdir("run");
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    char *out, *err;
    int rc = run_cli("run", study_path("conf.d/branin-random.yaml", study, sizeof(study)), dir,
                     NULL, &out, &err);
    cr_assert_eq(rc, 0, "run failed (%d): %s", rc, err);
    free(out);
    free(err);

    char path[4400];
    snprintf(path, sizeof(path), "%s/trials.csv", dir);
    char *csv = tu_read_file(path);
    cr_assert_not_null(csv);
    cr_expect(strncmp(csv, "id,stage,status,x0,x1,f.branin", 30) == 0, "header: %.80s", csv);
    cr_expect_eq(tu_count(csv, "\n"), 31, "header + 30 rows");
    cr_expect_eq(tu_count(csv, ",complete,"), 30);
    /* the best value in show equals the minimum of the CSV column */
    double best_csv = INFINITY;
    char *save = NULL;
    strtok_r(csv, "\n", &save);
    for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        double x0, x1, v;
        long id;
        char stage[64];
        cr_assert_eq(sscanf(line, "%ld,%63[^,],complete,%lf,%lf,%lf", &id, stage, &x0, &x1, &v), 5,
                     "row: %s", line);
        double a = 1, b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, r = 6, s = 10, t = 1 / (8 * M_PI);
        double expect = a * pow(x1 - b * x0 * x0 + c * x0 - r, 2) + s * (1 - t) * cos(x0) + s;
        cr_expect(fabs(v - expect) <= 1e-9 * fmax(1, fabs(expect)),
                  "trial %ld: branin(%g, %g) = %.17g, CSV says %.17g", id, x0, x1, expect, v);
        cr_expect(x0 >= -5 && x0 <= 10 && x1 >= 0 && x1 <= 15);
        best_csv = fmin(best_csv, v);
    }
    free(csv);
    json_t *sum = show_json(dir);
    cr_expect_eq(count_of(sum, "complete"), 30);
    cr_expect_eq(count_of(sum, "failed"), 0);
    cr_expect_eq(count_of(sum, "running"), 0);
    json_t *best = json_object_get(json_object_get(sum, "best"), "f.branin");
    cr_assert_not_null(best, "best.f.branin present");
    cr_expect_float_eq(json_number_value(json_object_get(best, "value")), best_csv, 1e-12);
    cr_expect_eq(json_array_size(json_object_get(sum, "pareto")), 1);
    json_decref(sum);

    /* running again resumes a finished study: nothing new */
    rc = run_cli("run", study, dir, NULL, &out, &err);
    cr_expect_eq(rc, 0, "%s", err);
    cr_expect(strstr(err, "already complete") != NULL, "%s", err);
    free(out);
    free(err);
    int per_id[64];
    cr_expect_eq(completed_events(dir, per_id, 64), 30);
    free(tmp);
}

/* dir/name as a string (malloc'ed), NULL when it cannot be read. */
static char *read_output(const char *dir, const char *name)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return tu_read_file(path);
}

/*
 * trials.csv, pareto.csv and summary.json are derived from the journal and, after each trial,
 * only renamed into place (no fsync): a crash of the machine can leave them missing, empty or
 * stale. A run of the finished study (nothing left to run) must rewrite each from the journal,
 * byte for byte what the first run wrote, and leave no temporary file behind.
 */
Test(cli_run, resume_of_a_finished_study_regenerates_missing_or_stale_outputs)
{
    static const char *const names[] = {"trials.csv", "pareto.csv", "summary.json"};
    char study[4200], dir[4300];
    char *tmp = tu_tmpdir("regen");
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    study_path("conf.d/branin-random.yaml", study, sizeof(study));
    char *out, *err;
    int rc = run_cli("run", study, dir, NULL, &out, &err);
    cr_assert_eq(rc, 0, "run failed (%d): %s", rc, err);
    free(out);
    free(err);
    char *first[3];
    for (int i = 0; i < 3; i++) {
        first[i] = read_output(dir, names[i]);
        cr_assert_not_null(first[i], "%s missing after the run", names[i]);
        cr_assert_gt(strlen(first[i]), 20, "%s: %s", names[i], first[i]);
    }
    cr_assert_eq(tu_count(first[0], ",complete,"), 30, "%s", first[0]);

    /* what a crash can leave: one file gone, one empty, one stale (an older, shorter version) */
    char path[4400];
    snprintf(path, sizeof(path), "%s/trials.csv", dir);
    cr_assert_eq(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/pareto.csv", dir);
    cr_assert_eq(truncate(path, 0), 0);
    snprintf(path, sizeof(path), "%s/summary.json", dir);
    cr_assert_eq(tu_write_file(path, "{\"trials\": {\"complete\": 3}}\n"), 0);

    rc = run_cli("run", study, dir, NULL, &out, &err);
    cr_assert_eq(rc, 0, "resume failed (%d): %s", rc, err);
    cr_expect(strstr(err, "already complete") != NULL, "nothing is re-run: %s", err);
    free(out);
    free(err);
    for (int i = 0; i < 3; i++) {
        char *again = read_output(dir, names[i]);
        cr_expect_not_null(again, "%s not regenerated", names[i]);
        cr_expect(again != NULL && strcmp(again, first[i]) == 0,
                  "%s differs from the first run's:\n%s\n--- first run:\n%s", names[i],
                  again ? again : "(missing)", first[i]);
        free(again);
        free(first[i]);
    }
    int per_id[64];
    cr_expect_eq(completed_events(dir, per_id, 64), 30, "no trial re-run");
    /* no temporary file of an atomic write is left beside the outputs */
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        cr_expect(strstr(e->d_name, ".tmp.") == NULL, "leftover temporary file %s/%s", dir,
                  e->d_name);
    }
    closedir(d);
    free(tmp);
}

Test(cli_run, sigkill_mid_study_then_resume_keeps_every_completed_trial_once, .timeout = 120)
{
    char study[4200], dir[4300], log[4400], jpath[4400];
    char *tmp = tu_tmpdir("kill");
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    snprintf(log, sizeof(log), "%s/first.log", tmp);
    snprintf(jpath, sizeof(jpath), "%s/journal.jsonl", dir);
    study_path("tests/data/studies/sleepy.yaml", study, sizeof(study));
    char *argv[] = {(char *)tu_hilnas(), "run", study, "--output", dir, NULL};
    pid_t pid = tu_spawn(argv, tu_test_plugins_env(), log);
    /* wait (on the journal, not a timer) until 12 trials are complete, then SIGKILL */
    int per_id[128];
    size_t done = 0;
    for (int i = 0; i < 3000 && done < 12; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
        done = completed_events(dir, per_id, 128);
    }
    cr_assert_geq(done, 12, "the first run never completed 12 trials");
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status), "the first run must have been killed");
    int before[128];
    size_t n_before = completed_events(dir, before, 128);
    cr_assert_lt(n_before, 40, "killed before the end");

    char *out, *err;
    int rc = run_cli("run", study, dir, NULL, &out, &err);
    cr_assert_eq(rc, 0, "resume failed (%d): %s", rc, err);
    free(out);
    free(err);
    int after[128];
    size_t n_after = completed_events(dir, after, 128);
    cr_expect_eq(n_after, 40, "the study finishes with its 40 configured trials");
    for (int id = 0; id < 128; id++) {
        cr_expect_leq(after[id], 1, "trial %d completed %d times", id, after[id]);
        if (before[id]) {
            cr_expect_eq(after[id], 1, "completed trial %d lost", id);
        }
    }
    json_t *sum = show_json(dir);
    cr_expect_eq(count_of(sum, "complete"), 40);
    cr_expect_eq(count_of(sum, "running"), 0);
    cr_expect_eq(count_of(sum, "failed"), count_of(sum, "abandoned"),
                 "only abandoned trials failed");
    cr_expect_leq(count_of(sum, "abandoned"), 1, "at most the one running trial is abandoned");
    json_decref(sum);
    char path[4400];
    snprintf(path, sizeof(path), "%s/trials.csv", dir);
    char *csv = tu_read_file(path);
    cr_expect_eq(tu_count(csv, ",complete,"), 40);
    cr_expect_eq(tu_count(csv, ",init,complete,"), 10);
    cr_expect_eq(tu_count(csv, ",more,complete,"), 30);
    free(csv);
    free(tmp);
}

/*
 * The first process is held inside its first trial, with the study locked, by the sleepy
 * evaluator's gate (a FIFO it reads until the test closes it): opening the FIFO for writing
 * returns exactly when the first process is there, so the second process always meets the lock
 * (no timing, however loaded the machine), and the first then finishes normally.
 */
Test(cli_run, second_process_on_the_same_study_is_refused, .timeout = 120)
{
    char study[4200], dir[4300], log[4400], gate[4400], set_gate[4500];
    char *tmp = tu_tmpdir("lock");
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    snprintf(log, sizeof(log), "%s/first.log", tmp);
    snprintf(gate, sizeof(gate), "%s/gate", tmp);
    snprintf(set_gate, sizeof(set_gate), "evaluators.s.gate=%s", gate);
    cr_assert_eq(mkfifo(gate, 0600), 0, "mkfifo %s", gate);
    study_path("tests/data/studies/sleepy.yaml", study, sizeof(study));
    char *argv[] = {(char *)tu_hilnas(), "run", study, "--output", dir, "--set", set_gate, "--set",
                    "stages.1.trials=2", NULL};
    pid_t pid = tu_spawn(argv, tu_test_plugins_env(), log);
    int fd = open(gate, O_WRONLY | O_CLOEXEC); /* returns once the first run is in a trial */
    cr_assert_geq(fd, 0, "open %s", gate);
    char *out, *err;
    int rc = run_cli("run", study, dir, NULL, &out, &err);
    cr_expect_eq(rc, 1, "exit %d: %s", rc, err);
    cr_expect(strstr(err, "in use by another hilnas process") != NULL, "%s", err);
    char pidtext[32];
    snprintf(pidtext, sizeof(pidtext), "pid %ld", (long)pid);
    cr_expect(strstr(err, pidtext) != NULL, "names the pid %ld: %s", (long)pid, err);
    free(out);
    free(err);
    close(fd); /* let the first run go on: it finishes, unharmed by the refused one */
    int status = 0;
    waitpid(pid, &status, 0);
    char *first = tu_read_file(log);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "first run: %s", first ? first : "");
    free(first);
    int per_id[128];
    cr_expect_eq(completed_events(dir, per_id, 128), 12, "10 + 2 trials, each once");
    free(tmp);
}

Test(cli_run, failed_trials_are_recorded_with_their_reason)
{
    char study[4200], dir[4300];
    char *tmp = tu_tmpdir("fail");
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    char *out, *err;
    int rc =
        run_cli("run", study_path("tests/data/studies/some-failures.yaml", study, sizeof(study)),
                dir, NULL, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    free(out);
    free(err);
    json_t *sum = show_json(dir);
    cr_expect_eq(count_of(sum, "failed"), 3, "trials 2, 5, 8 fail");
    cr_expect_eq(count_of(sum, "complete"), 6);
    json_decref(sum);
    char path[4400];
    snprintf(path, sizeof(path), "%s/trials.csv", dir);
    char *csv = tu_read_file(path);
    cr_expect_eq(tu_count(csv, "planned failure of trial"), 3, "%s", csv);
    cr_expect(strstr(csv, "\"green, dark\"") != NULL || strstr(csv, ",red,") != NULL ||
                  strstr(csv, ",blue,") != NULL,
              "categorical labels in the CSV: %s", csv);
    free(csv);
    free(tmp);
}

Test(cli_run, seeds_reproduce_and_differ)
{
    char study[4200], d1[4300], d2[4300], d3[4300];
    char *tmp = tu_tmpdir("seed");
    snprintf(d1, sizeof(d1), "%s/a", tmp);
    snprintf(d2, sizeof(d2), "%s/b", tmp);
    snprintf(d3, sizeof(d3), "%s/c", tmp);
    study_path("conf.d/branin-random.yaml", study, sizeof(study));
    char *out, *err;
    cr_assert_eq(run_cli("run", study, d1, "study.seed=11", &out, &err), 0, "%s", err);
    free(out), free(err);
    cr_assert_eq(run_cli("run", study, d2, "study.seed=11", &out, &err), 0, "%s", err);
    free(out), free(err);
    cr_assert_eq(run_cli("run", study, d3, "study.seed=12", &out, &err), 0, "%s", err);
    free(out), free(err);
    char p1[4400], p2[4400], p3[4400];
    snprintf(p1, sizeof(p1), "%s/pareto.csv", d1);
    snprintf(p2, sizeof(p2), "%s/pareto.csv", d2);
    snprintf(p3, sizeof(p3), "%s/pareto.csv", d3);
    char *a = tu_read_file(p1), *b = tu_read_file(p2), *c = tu_read_file(p3);
    cr_expect_str_eq(a, b, "same seed, same study");
    cr_expect_str_neq(a, c, "another seed, another study");
    free(a), free(b), free(c);
    free(tmp);
}

Test(cli_run, usage_errors_exit_2)
{
    char *out, *err;
    char *a1[] = {(char *)tu_hilnas(), "run", NULL};
    cr_expect_eq(tu_run(a1, NULL, &out, &err), 2);
    free(out), free(err);
    char *a2[] = {(char *)tu_hilnas(), "run", "--bogus", "x.yaml", NULL};
    cr_expect_eq(tu_run(a2, NULL, &out, &err), 2);
    cr_expect(strstr(err, "--bogus") != NULL, "%s", err);
    free(out), free(err);
    char *a3[] = {(char *)tu_hilnas(), "frobnicate", NULL};
    cr_expect_eq(tu_run(a3, NULL, &out, &err), 2);
    free(out), free(err);
    char *a4[] = {(char *)tu_hilnas(), "validate", "/nonexistent/study.yaml", NULL};
    int rc = tu_run(a4, NULL, &out, &err);
    cr_expect(rc == 2 || rc == 1, "missing file: exit %d", rc);
    cr_expect(strstr(err, "/nonexistent/study.yaml") != NULL, "%s", err);
    free(out), free(err);
    char *a5[] = {(char *)tu_hilnas(), "show", "/nonexistent-dir", NULL};
    cr_expect_eq(tu_run(a5, NULL, &out, &err), 2, "%s", err);
    free(out), free(err);
    const char *cmds[] = {"run", "validate", "plugins", "show"};
    for (size_t i = 0; i < 4; i++) {
        char *h[] = {(char *)tu_hilnas(), (char *)cmds[i], "--help", NULL};
        cr_expect_eq(tu_run(h, NULL, &out, &err), 0, "%s --help", cmds[i]);
        cr_expect(strstr(out, "usage: hilnas") != NULL, "%s --help: %s", cmds[i], out);
        free(out), free(err);
        char *v[] = {(char *)tu_hilnas(), (char *)cmds[i], "--version", NULL};
        cr_expect_eq(tu_run(v, NULL, &out, &err), 0, "%s --version", cmds[i]);
        cr_expect(strstr(out, PACKAGE_VERSION) != NULL, "%s --version: %s", cmds[i], out);
        free(out), free(err);
    }
}

Test(cli_run, verify_stage_re_measures_the_pareto_set_once)
{
    char study[4200], dir[4300];
    char *tmp = tu_tmpdir("verify");
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    study_path("tests/data/studies/verify-pareto.yaml", study, sizeof(study));
    char *out, *err;
    cr_assert_eq(run_cli("run", study, dir, NULL, &out, &err), 0, "%s", err);
    free(out), free(err);
    json_t *sum = show_json(dir);
    size_t front = json_array_size(json_object_get(sum, "pareto"));
    cr_assert_gt(front, 0);
    cr_expect_eq(count_of(sum, "complete"), 20 + (json_int_t)front);
    json_decref(sum);
    char path[4400];
    snprintf(path, sizeof(path), "%s/trials.csv", dir);
    char *csv = tu_read_file(path);
    cr_expect_eq(tu_count(csv, ",check,complete,"), front, "one re-measurement per Pareto trial");
    free(csv);
    /* running again re-measures nothing */
    cr_assert_eq(run_cli("run", study, dir, NULL, &out, &err), 0, "%s", err);
    free(out), free(err);
    csv = tu_read_file(path);
    cr_expect_eq(tu_count(csv, ",check,complete,"), front, "verify trials are not re-run");
    free(csv);
    free(tmp);
}

/* The metrics of trial events in dir/journal.jsonl: for each completed trial of `stage`, the
 * sem of `metric` (NAN when it has none) into sem[], and its value into val[]; returns how many. */
static int stage_metric(const char *dir, const char *stage, const char *metric, double *val,
                        double *sem, int max)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
    char *text = tu_read_file(path);
    cr_assert_not_null(text);
    json_t *stage_of = json_object();
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *ev = json_loads(line, 0, NULL);
        const char *type = json_string_value(json_object_get(ev, "event"));
        char id[32];
        snprintf(id, sizeof(id), "%lld",
                 (long long)json_integer_value(json_object_get(ev, "trial")));
        if (type != NULL && strcmp(type, "started") == 0) {
            json_object_set(stage_of, id, json_object_get(ev, "stage"));
        } else if (type != NULL && strcmp(type, "completed") == 0 && n < max &&
                   strcmp(json_string_value(json_object_get(stage_of, id)), stage) == 0) {
            json_t *m = json_object_get(json_object_get(ev, "metrics"), metric);
            cr_assert_not_null(m, "trial %s has %s", id, metric);
            val[n] = json_number_value(json_object_get(m, "value"));
            json_t *se = json_object_get(m, "sem");
            sem[n++] = se != NULL ? json_number_value(se) : NAN;
        }
        json_decref(ev);
    }
    json_decref(stage_of);
    free(text);
    return n;
}

static const char *override_study =
    "study: {name: over, seed: 3}\n"
    "space: {plugin: box, params: {x0: {type: float, min: 0, max: 1}, x1: {type: float, min: 0, "
    "max: 1}}}\n"
    "evaluators:\n"
    "  f: {plugin: testfn, function: branincurrin}\n"
    "objectives: [{metric: f.branin, ref: 18}, {metric: f.currin, ref: 6}]\n"
    "%s"
    "stages:\n"
    "  - {name: plain, sampler: sobol, trials: 3, points: [{x0: 0.25, x1: 0.5}]}\n"
    "  - name: noisy\n"
    "    sampler: uniform\n"
    "    trials: 3\n"
    "    points: [{x0: 0.5, x1: 0.25}]\n"
    "    %s\n";

Test(cli_run, stage_overrides_reach_the_evaluator_and_wrong_ones_are_refused, .timeout = 60)
{
    char *tmp = tu_tmpdir("override"), text[4096], *err;
    /* on two worker threads, so that every worker's instance has the stage's options */
    snprintf(text, sizeof(text), override_study, "executor: {plugin: threads, workers: 2}\n",
             "evaluators: {f: {noise_std: 0.5}}");
    int rc = tu_run_study_text(tmp, text, "run", &err);
    cr_assert_eq(rc, 0, "%s", err);
    free(err);
    char dir[4300];
    snprintf(dir, sizeof(dir), "%s/run", tmp);
    double val[8], sem[8];
    cr_assert_eq(stage_metric(dir, "plain", "f.branin", val, sem, 8), 3);
    for (int i = 0; i < 3; i++) {
        cr_expect(isnan(sem[i]), "stage plain has the evaluator's own options (no noise)");
    }
    cr_assert_eq(stage_metric(dir, "noisy", "f.branin", val, sem, 8), 3);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(sem[i], 0.5, "stage noisy's override reached its trial %d", i);
    }
    /* what the override changes is validated like the evaluator's own options */
    struct {
        const char *stage_line, *want[3];
    } bad[] = {
        {"evaluators: {f: {noise_stdd: 1}}",
         {"study.yaml:12:22", "stages[1].evaluators.f", "did you mean 'noise_std'"}},
        {"evaluators: {f: {noise_std: -1}}", {"study.yaml:12:33", "noise_std", "must be >= 0"}},
        {"evaluators: {g: {noise_std: 1}}",
         {"study.yaml:12:18", "no evaluator named 'g'", "declared: f"}},
        {"evaluators: {f: {plugin: testfn}}",
         {"study.yaml:12:30", "not its plugin", "stages[1].evaluators.f.plugin"}},
        {"evaluators: [noise_std]",
         {"study.yaml:12:17", "stages[1].evaluators", "must be a mapping"}},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        snprintf(text, sizeof(text), override_study, "", bad[k].stage_line);
        rc = tu_run_study_text(tmp, text, "validate", &err);
        cr_expect_eq(rc, 2, "%s: exit %d", bad[k].stage_line, rc);
        for (int w = 0; w < 3; w++) {
            cr_expect(strstr(err, bad[k].want[w]) != NULL, "%s: wants '%s' in: %s",
                      bad[k].stage_line, bad[k].want[w], err);
        }
        free(err);
    }
    free(tmp);
}

/*
 * `points:` read like the rest of the study file: a bool parameter takes every YAML 1.2
 * spelling (True, FALSE, ...), a categorical one its label (even one that looks like a
 * number), and each point is the stage's first trials, in order.
 */
Test(cli_run, points_take_yaml12_booleans_and_labels, .timeout = 60)
{
    static const char *study = "study: {name: points, seed: 1}\n"
                               "space:\n"
                               "  plugin: box\n"
                               "  params:\n"
                               "    x0: {type: float, min: -5, max: 10}\n"
                               "    x1: {type: float, min: 0, max: 15}\n"
                               "    skip: {type: bool}\n"
                               "    act: {type: categorical, values: [relu, '2', silu]}\n"
                               "evaluators: {f: {plugin: testfn, function: branin}}\n"
                               "objectives: [{metric: branin}]\n"
                               "stages:\n"
                               "  - name: s\n"
                               "    sampler: sobol\n"
                               "    trials: 5\n"
                               "    points:\n"
                               "      - {x0: -1.5, x1: 2, skip: True, act: silu}\n"
                               "      - {x0: 3, x1: .5e1, skip: FALSE, act: '2'}\n"
                               "      - {x0: 0, x1: 0, skip: TRUE, act: 2}\n"
                               "      - {x0: 1, x1: 1, skip: false, act: relu}\n";
    char *tmp = tu_tmpdir("points"), *err = NULL;
    int rc = tu_run_study_text(tmp, study, "run", &err);
    cr_assert_eq(rc, 0, "%s", err);
    free(err);
    char dir[4300];
    snprintf(dir, sizeof(dir), "%s/run", tmp);
    char *csv = read_output(dir, "trials.csv");
    cr_assert_not_null(csv);
    cr_assert(strncmp(csv, "id,stage,status,x0,x1,skip,act,f.branin,", 40) == 0, "header: %.80s",
              csv);
    static const char *const want[] = {"0,s,complete,-1.5,2,True,silu,",
                                       "1,s,complete,3,5,False,2,", "2,s,complete,0,0,True,2,",
                                       "3,s,complete,1,1,False,relu,"};
    char *save = NULL;
    strtok_r(csv, "\n", &save);
    for (size_t i = 0; i < 4; i++) {
        char *line = strtok_r(NULL, "\n", &save);
        cr_assert_not_null(line, "row %zu missing", i);
        cr_expect(strncmp(line, want[i], strlen(want[i])) == 0, "row %zu: '%s', want '%s...'", i,
                  line, want[i]);
    }
    free(csv);
    free(tmp);
}
