/*
 * The executors through the real CLI.
 * threads: trials run at once, each worker on its own evaluator instance; the same trials as
 * the serial executor; an interrupt lets the running trials finish; SIGKILL with several trials
 * running, then resume, loses no completed trial and runs none twice; GP-BO asks for batches
 * with pending points.
 * mpi (when configure found Open MPI and mpirun): real `mpirun -np 3` jobs on this machine;
 * every worker rank measures trials; the same trials as serially; rank 0 killed mid-study,
 * then the job started again, resumes without losing or repeating a trial.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "tests/core/testutil.h"

static int run_study(const char *rel, const char *dir, const char *set, char **out, char **err)
{
    char study[4200];
    snprintf(study, sizeof(study), "%s/%s", tu_srcdir(), rel);
    char *argv[] = {(char *)tu_hilnas(),  "run",       study, "--output", (char *)dir,
                    set ? "--set" : NULL, (char *)set, NULL};
    return tu_run(argv, tu_test_plugins_env(), out, err);
}

/* A copy of study rel in dir tmp (file name) whose executor line is replaced by `executor`
 * (a whole line, or "" to drop it: the serial default). Returns the path (static buffer). */
static const char *variant(const char *rel, const char *tmp, const char *name, const char *executor)
{
    static char path[4400];
    char src[4400];
    snprintf(src, sizeof(src), "%s/%s", tu_srcdir(), rel);
    char *yaml = tu_read_file(src);
    cr_assert_not_null(yaml, "cannot read %s", src);
    char *line = strstr(yaml, "executor:");
    cr_assert_not_null(line);
    char *rest = strchr(line, '\n') + 1;
    *line = '\0';
    size_t len = strlen(yaml) + strlen(executor) + strlen(rest) + 2;
    char *text = malloc(len);
    snprintf(text, len, "%s%s%s", yaml, executor, rest);
    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    cr_assert_eq(tu_write_file(path, text), 0);
    free(text);
    free(yaml);
    return path;
}

/* Every event of the journal, as JSON objects (caller decrefs the array). */
static json_t *journal(const char *dir)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
    char *text = tu_read_file(path);
    json_t *all = json_array();
    for (char *line = text; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        json_t *ev = json_loads(line, 0, NULL);
        if (ev != NULL) {
            json_array_append_new(all, ev);
        }
        line = nl != NULL ? nl + 1 : NULL;
    }
    free(text);
    return all;
}

static const char *event_type(const json_t *ev)
{
    const char *t = json_string_value(json_object_get(ev, "event"));
    return t != NULL ? t : "";
}

/* Completed events per trial id (ids < n); returns the number of completed events. */
static size_t completed(const char *dir, int *per_id, size_t n)
{
    json_t *all = journal(dir);
    size_t i, total = 0;
    json_t *ev;
    memset(per_id, 0, n * sizeof(int));
    json_array_foreach(all, i, ev)
    {
        if (strcmp(event_type(ev), "completed") == 0) {
            json_int_t id = json_integer_value(json_object_get(ev, "trial"));
            if (id >= 0 && (size_t)id < n) {
                per_id[id]++;
            }
            total++;
        }
    }
    json_decref(all);
    return total;
}

/* trials.csv as rows of text, without the timing columns (started, finished, seconds). */
static json_t *summary(const char *dir)
{
    char *argv[] = {(char *)tu_hilnas(), "show", (char *)dir, "--json", NULL};
    char *out = NULL, *err = NULL;
    int rc = tu_run(argv, tu_test_plugins_env(), &out, &err);
    cr_assert_eq(rc, 0, "show failed: %s", err);
    json_t *j = json_loads(out, 0, NULL);
    cr_assert_not_null(j, "show --json printed: %s", out);
    free(out);
    free(err);
    return j;
}

/* id, stage, status and the values (the first six columns of trials.csv: no times),
 * one line per trial in id order; malloc'ed. */
static char *trial_rows(const char *dir)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/trials.csv", dir);
    char *csv = tu_read_file(path);
    cr_assert_not_null(csv, "no %s", path);
    size_t len = strlen(csv), o = 0;
    char *rows = malloc(len + 2);
    for (char *line = csv; *line != '\0';) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line), commas = 0, j = 0;
        /* id,stage,status,x0,x1,metric: six columns */
        for (; j < n && commas < 6; j++) {
            commas += line[j] == ',';
        }
        memcpy(rows + o, line, j);
        o += j;
        rows[o++] = '\n';
        line = nl ? nl + 1 : line + n;
    }
    rows[o] = '\0';
    free(csv);
    return rows;
}

static long trial_count(json_t *sum, const char *key)
{
    return (long)json_integer_value(json_object_get(json_object_get(sum, "trials"), key));
}

/* After a kill and a resume: `target` trials complete, only abandoned ones failed (at most
 * `running`, the trials that were running), and every trial completed before (before[id]) is
 * still completed exactly once, none twice. */
static void expect_resumed(const char *dir, const int *before, long target, long running)
{
    int after[64];
    json_t *sum = summary(dir);
    long abandoned = trial_count(sum, "abandoned");
    cr_expect_eq(trial_count(sum, "complete"), target, "the configured trials are reached");
    cr_expect_eq(trial_count(sum, "failed"), abandoned, "only abandoned trials failed");
    cr_expect_leq(abandoned, running, "at most the %ld running trials are abandoned", running);
    json_decref(sum);
    completed(dir, after, 64);
    for (int id = 0; id < 64; id++) {
        cr_expect_leq(after[id], 1, "trial %d completed %d times", id, after[id]);
        if (before[id]) {
            cr_expect_eq(after[id], 1, "completed trial %d lost", id);
        }
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

Test(executor_threads, trials_run_at_once_each_worker_on_its_own_instance, .timeout = 120)
{
    char *tmp = tu_tmpdir("threads"), dir[4300], *out, *err;
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    int rc = run_study("tests/data/studies/threads-sleepy.yaml", dir, NULL, &out, &err);
    cr_assert_eq(rc, 0, "run failed (%d): %s", rc, err);
    cr_expect(strstr(err, "4 trials at once") != NULL, "%s", err);
    free(out);
    free(err);
    json_t *sum = summary(dir);
    cr_expect_eq(trial_count(sum, "complete"), 20, "no trial failed: no instance was shared");
    cr_expect_eq(trial_count(sum, "failed"), 0);
    json_decref(sum);

    /* from the journal: how many trials ran at the same time, and on how many instances */
    json_t *all = journal(dir);
    double start[64] = {0}, end[64] = {0};
    int instance_seen[64] = {0};
    size_t i;
    json_t *ev;
    json_array_foreach(all, i, ev)
    {
        json_int_t id = json_integer_value(json_object_get(ev, "trial"));
        if (id < 0 || id >= 64) {
            continue;
        }
        if (strcmp(event_type(ev), "started") == 0) {
            start[id] = (double)i;
        } else if (strcmp(event_type(ev), "completed") == 0) {
            end[id] = (double)i;
            json_t *inst = json_object_get(
                json_object_get(json_object_get(ev, "metrics"), "s.instance"), "value");
            int k = (int)json_number_value(inst);
            if (k > 0 && k < 64) {
                instance_seen[k] = 1;
            }
        }
    }
    json_decref(all);
    /* overlap in journal order: trials started before the first one completed */
    int max_running = 0;
    for (int t = 0; t < 20; t++) {
        int running = 0;
        for (int u = 0; u < 20; u++) {
            running += start[u] <= start[t] && end[u] > start[t];
        }
        max_running = running > max_running ? running : max_running;
    }
    int instances = 0;
    for (int k = 0; k < 64; k++) {
        instances += instance_seen[k];
    }
    printf("threads: up to %d trials running at once, %d instances measured\n", max_running,
           instances);
    cr_expect_eq(max_running, 4, "four workers keep four trials running");
    cr_expect_geq(instances, 2, "trials were measured by several instances");
    cr_expect_leq(instances, 4, "one instance per worker, not per trial");
    free(tmp);
}

Test(executor_threads, same_trials_as_the_serial_executor, .timeout = 120)
{
    char *tmp = tu_tmpdir("same"), a[4300], b[4300], *out, *err;
    snprintf(a, sizeof(a), "%s/threads", tmp);
    snprintf(b, sizeof(b), "%s/serial", tmp);
    int rc = run_study("tests/data/studies/threads-branin.yaml", a, NULL, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    free(out);
    free(err);
    /* the same file without its executor line: the built-in serial executor */
    const char *serial = variant("tests/data/studies/threads-branin.yaml", tmp, "serial.yaml", "");
    char *argv[] = {(char *)tu_hilnas(), "run", (char *)serial, "--output", b, NULL};
    rc = tu_run(argv, tu_test_plugins_env(), &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect(strstr(err, "trials at once") == NULL, "%s", err);
    free(out);
    free(err);
    char *rows[2] = {trial_rows(a), trial_rows(b)};
    cr_expect_eq(tu_count(rows[0], ",complete,"), 16);
    cr_expect_str_eq(rows[0], rows[1], "threads:\n%s\nserial:\n%s", rows[0], rows[1]);
    free(rows[0]);
    free(rows[1]);
    free(tmp);
}

/* Start `hilnas run` of the threads-sleepy study in the background (output tmp/study, log
 * tmp/first.log) and return its pid once `n` trials have completed. */
static pid_t start_and_wait_for(const char *tmp, size_t n)
{
    char dir[4300], log[4400], study[4200];
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    snprintf(log, sizeof(log), "%s/first.log", tmp);
    snprintf(study, sizeof(study), "%s/tests/data/studies/threads-sleepy.yaml", tu_srcdir());
    char *argv[] = {(char *)tu_hilnas(), "run", study, "--output", dir, NULL};
    pid_t pid = tu_spawn(argv, tu_test_plugins_env(), log);
    int per_id[64];
    size_t done = 0;
    for (int i = 0; i < 3000 && done < n; i++) {
        sleep_ms(10);
        done = completed(dir, per_id, 64);
    }
    cr_assert_geq(done, n, "the first run never completed %zu trials", n);
    return pid;
}

Test(executor_threads, interrupt_lets_running_trials_finish_and_resume_completes, .timeout = 120)
{
    char *tmp = tu_tmpdir("int"), dir[4300], log[4400];
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    snprintf(log, sizeof(log), "%s/first.log", tmp);
    pid_t pid = start_and_wait_for(tmp, 5);
    int per_id[64];
    kill(pid, SIGINT);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0, "an interrupted run exits non-zero");
    char *text = tu_read_file(log);
    cr_expect(text != NULL && strstr(text, "interrupted") != NULL, "%s", text);
    free(text);
    json_t *sum = summary(dir);
    long first = trial_count(sum, "complete");
    cr_expect_eq(trial_count(sum, "running"), 0, "the running trials were waited for");
    cr_expect_eq(trial_count(sum, "failed"), 0);
    cr_expect_lt(first, 20);
    json_decref(sum);

    char *out, *err;
    int rc = run_study("tests/data/studies/threads-sleepy.yaml", dir, NULL, &out, &err);
    cr_assert_eq(rc, 0, "resume failed: %s", err);
    free(out);
    free(err);
    sum = summary(dir);
    cr_expect_eq(trial_count(sum, "complete"), 20);
    cr_expect_eq(trial_count(sum, "abandoned"), 0, "nothing was running when the run ended");
    json_decref(sum);
    completed(dir, per_id, 64);
    for (int id = 0; id < 64; id++) {
        cr_expect_leq(per_id[id], 1, "trial %d completed %d times", id, per_id[id]);
    }
    free(tmp);
}

Test(executor_threads, sigkill_with_trials_running_then_resume, .timeout = 120)
{
    char *tmp = tu_tmpdir("kill"), dir[4300];
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    pid_t pid = start_and_wait_for(tmp, 6);
    int before[64];
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status));
    completed(dir, before, 64);

    char *out, *err;
    int rc = run_study("tests/data/studies/threads-sleepy.yaml", dir, NULL, &out, &err);
    cr_assert_eq(rc, 0, "resume failed: %s", err);
    free(out);
    free(err);
    expect_resumed(dir, before, 20, 4);
    free(tmp);
}

Test(executor_threads, gpbo_chooses_batches_with_pending_points, .timeout = 300)
{
    char *tmp = tu_tmpdir("gpbo"), dir[4300], *out, *err;
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    int rc = run_study("tests/data/studies/threads-gpbo.yaml", dir, NULL, &out, &err);
    cr_assert_eq(rc, 0, "run failed (%d): %s", rc, err);
    free(out);
    free(err);
    json_t *sum = summary(dir);
    cr_expect_eq(trial_count(sum, "complete"), 14);
    json_decref(sum);
    /* no point twice, and the optimizer had two trials pending at least once */
    json_t *all = journal(dir);
    size_t i, n = 0, running = 0, max_running = 0;
    json_t *ev, *params[32];
    json_array_foreach(all, i, ev)
    {
        if (strcmp(event_type(ev), "started") == 0 && n < 32) {
            params[n++] = json_object_get(ev, "params");
            running++;
            max_running = running > max_running ? running : max_running;
        } else if (strcmp(event_type(ev), "completed") == 0) {
            running--;
        }
    }
    cr_expect_eq(max_running, 2);
    for (size_t a = 0; a < n; a++) {
        for (size_t b = 0; b < a; b++) {
            cr_expect(!json_equal(params[a], params[b]), "trials %zu and %zu share a point", a, b);
        }
    }
    json_decref(all);
    free(tmp);
}

#ifdef HN_TEST_MPIRUN
/* ---------------------------------------------------------------------------------------------
 * mpi */

/* argv of `mpirun --oversubscribe -np N hilnas run STUDY --output DIR` (static storage). */
static char **mpirun_argv(int np, const char *study, const char *dir)
{
    static char nps[16], *argv[12];
    snprintf(nps, sizeof(nps), "%d", np);
    int k = 0;
    argv[k++] = HN_TEST_MPIRUN;
    argv[k++] = "--oversubscribe";
    argv[k++] = "-np";
    argv[k++] = nps;
    argv[k++] = (char *)tu_hilnas();
    argv[k++] = "run";
    argv[k++] = (char *)study;
    argv[k++] = "--output";
    argv[k++] = (char *)dir;
    argv[k] = NULL;
    return argv;
}

Test(executor_mpi, every_worker_rank_measures_and_the_trials_equal_serial, .timeout = 180)
{
    char *tmp = tu_tmpdir("mpi"), a[4300], b[4300], *out, *err;
    snprintf(a, sizeof(a), "%s/mpi", tmp);
    snprintf(b, sizeof(b), "%s/serial", tmp);
    const char *study = variant("tests/data/studies/threads-branin.yaml", tmp, "mpi.yaml",
                                "executor: {plugin: mpi}\n");
    int rc = tu_run(mpirun_argv(3, study, a), tu_mpi_env(), &out, &err);
    cr_assert_eq(rc, 0, "mpirun exited %d: %s%s", rc, out, err);
    cr_expect_eq(tu_count(err, "finished: results in"), 1, "only rank 0 reports: %s", err);
    free(out);
    free(err);
    const char *serial = variant("tests/data/studies/threads-branin.yaml", tmp, "serial.yaml", "");
    char *argv[] = {(char *)tu_hilnas(), "run", (char *)serial, "--output", b, NULL};
    rc = tu_run(argv, tu_test_plugins_env(), &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    free(out);
    free(err);
    char *rows[2] = {trial_rows(a), trial_rows(b)};
    cr_expect_eq(tu_count(rows[0], ",complete,"), 16);
    cr_expect_str_eq(rows[0], rows[1], "mpi:\n%s\nserial:\n%s", rows[0], rows[1]);
    free(rows[0]);
    free(rows[1]);
    /* which rank measured each trial: both workers, never rank 0 */
    json_t *all = journal(a);
    int by_rank[3] = {0};
    size_t i;
    json_t *ev;
    json_array_foreach(all, i, ev)
    {
        if (strcmp(event_type(ev), "completed") == 0) {
            json_int_t w = json_integer_value(json_object_get(ev, "worker"));
            cr_assert(w >= 0 && w < 3, "worker %lld", (long long)w);
            by_rank[w]++;
        }
    }
    json_decref(all);
    printf("mpi: trials per rank %d %d %d\n", by_rank[0], by_rank[1], by_rank[2]);
    cr_expect_eq(by_rank[0], 0, "rank 0 only runs the study");
    cr_expect_gt(by_rank[1], 0);
    cr_expect_gt(by_rank[2], 0);
    free(tmp);
}

/* `mpirun -n 3 hilnas run STUDY` with no executor in the study: the mpi executor is chosen
 * because mpirun started the process; one study runs (no lock fight), on both worker ranks. */
Test(executor_mpi, chosen_automatically_under_mpirun, .timeout = 180)
{
    char *tmp = tu_tmpdir("mpiauto"), a[4300], *out, *err;
    snprintf(a, sizeof(a), "%s/run", tmp);
    const char *study = variant("tests/data/studies/threads-branin.yaml", tmp, "none.yaml", "");
    int rc = tu_run(mpirun_argv(3, study, a), tu_mpi_env(), &out, &err);
    cr_assert_eq(rc, 0, "mpirun exited %d: %s%s", rc, out, err);
    cr_expect_eq(tu_count(err, "finished: results in"), 1, "one study, not three: %s", err);
    cr_expect(strstr(err, "executor: mpi (this process was started by its launcher in a job "
                          "of 3") != NULL,
              "%s", err);
    cr_expect(strstr(err, "lock") == NULL, "no rank fights for the lock: %s", err);
    free(out);
    free(err);
    json_t *all = journal(a);
    int by_rank[3] = {0}, n = 0;
    size_t i;
    json_t *ev;
    json_array_foreach(all, i, ev)
    {
        if (strcmp(event_type(ev), "completed") == 0) {
            json_int_t w = json_integer_value(json_object_get(ev, "worker"));
            cr_assert(w >= 0 && w < 3, "worker %lld", (long long)w);
            by_rank[w]++;
            n++;
        }
    }
    json_decref(all);
    cr_expect_eq(n, 16);
    cr_expect_eq(by_rank[0], 0, "rank 0 only runs the study");
    cr_expect_gt(by_rank[1], 0);
    cr_expect_gt(by_rank[2], 0);
    /* the same study without mpirun runs serially (no launcher in the environment) */
    char b[4300];
    snprintf(b, sizeof(b), "%s/plain", tmp);
    char *argv[] = {(char *)tu_hilnas(), "run", (char *)study, "--output", b, NULL};
    rc = tu_run(argv, tu_test_plugins_env(), &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect(strstr(err, "executor: mpi") == NULL, "%s", err);
    free(out);
    free(err);
    free(tmp);
}

/* The pid in the journal's lock file: rank 0 of the job. */
static pid_t runner_pid(const char *dir)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/lock", dir);
    char *text = tu_read_file(path);
    pid_t pid = text != NULL ? (pid_t)strtol(text, NULL, 10) : 0;
    free(text);
    return pid;
}

Test(executor_mpi, rank_0_killed_then_the_job_again_loses_and_repeats_nothing, .timeout = 180)
{
    char *tmp = tu_tmpdir("mpikill"), dir[4300], log[4400];
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    snprintf(log, sizeof(log), "%s/first.log", tmp);
    const char *study = variant("tests/data/studies/threads-sleepy.yaml", tmp, "mpi.yaml",
                                "executor: {plugin: mpi}\n");
    char study_path[4400];
    snprintf(study_path, sizeof(study_path), "%s", study);
    pid_t job = tu_spawn(mpirun_argv(3, study_path, dir), tu_mpi_env(), log);
    int before[64];
    size_t done = 0;
    for (int i = 0; i < 6000 && done < 5; i++) {
        sleep_ms(10);
        done = completed(dir, before, 64);
    }
    cr_assert_geq(done, 5, "the job never completed 5 trials");
    pid_t rank0 = runner_pid(dir);
    cr_assert_gt(rank0, 0, "no pid in the lock file");
    kill(rank0, SIGKILL);
    int status;
    waitpid(job, &status, 0);
    cr_expect(!(WIFEXITED(status) && WEXITSTATUS(status) == 0), "the job failed with its rank 0");
    completed(dir, before, 64);

    char *out, *err;
    int rc = tu_run(mpirun_argv(3, study_path, dir), tu_mpi_env(), &out, &err);
    cr_assert_eq(rc, 0, "the second job exited %d: %s", rc, err);
    free(out);
    free(err);
    expect_resumed(dir, before, 20, 2);
    free(tmp);
}
#endif
