/*
 * The core owns a plugin instance's identity (core/instance.c): it checks options against the
 * descriptor's table before create(), names the instance ("evaluator 'f' (faulty)") exactly
 * once in every error the instance returns, after the position the plugin gave, and prefixes
 * every log line the instance writes, on whatever thread the core called it. Through the real
 * CLI with the test plugin evaluator-faulty (tests/plugins-test/faulty.c), which never names
 * itself, and directly on the functions.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/instance.h"
#include "hilnas/log.h"
#include "tests/core/testutil.h"

#define LABEL "evaluator 'f' (faulty)"

/* A study whose evaluator f is faulty with the option lines opts (each "    key: value\n"). */
static char *study_text(const char *opts, const char *executor)
{
    size_t size = 1024 + strlen(opts) + strlen(executor);
    char *t = malloc(size);
    cr_assert_not_null(t);
    snprintf(t, size,
             "study: {name: inst, seed: 3}\n"
             "space:\n  plugin: box\n  params: {a: {type: float, min: 0, max: 1}}\n"
             "evaluators:\n  f:\n    plugin: faulty\n%s"
             "objectives: [{metric: value, goal: minimize}]\n"
             "%s"
             "stages: [{name: init, sampler: sobol, trials: 4}]\n",
             opts, executor);
    return t;
}

/* "study.yaml:LINE:COL" of the first character of needle in text after "plugin: faulty". */
static void position_of(const char *text, const char *needle, char *buf, size_t size)
{
    const char *from = strstr(text, "plugin: faulty");
    cr_assert_not_null(from);
    const char *at = strstr(from, needle);
    cr_assert_not_null(at, "'%s' not in the study", needle);
    int line = 1, col = 1;
    for (const char *p = text; p < at; p++) {
        line += *p == '\n';
        col = *p == '\n' ? 1 : col + 1;
    }
    snprintf(buf, size, "study.yaml:%d:%d", line, col);
}

/* Run `hilnas cmd dir/study.yaml` (run: --output dir/run --quiet) with the test plugins. */
static int hilnas(const char *dir, const char *text, const char *cmd, char **err)
{
    char study[4500], out_dir[4500];
    snprintf(study, sizeof(study), "%s/study.yaml", dir);
    snprintf(out_dir, sizeof(out_dir), "%s/run", dir);
    cr_assert_eq(tu_write_file(study, text), 0);
    char *argv[] = {(char *)tu_hilnas(), (char *)cmd, "study.yaml", "--output", out_dir,
                    "--quiet",           NULL};
    if (strcmp(cmd, "run") != 0) {
        argv[3] = NULL;
    }
    /* relative study path, so that messages read study.yaml:LINE:COL */
    char cwd[4500];
    cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
    cr_assert_eq(chdir(dir), 0);
    char *out = NULL;
    int rc = tu_run(argv, tu_test_plugins_env(), &out, err);
    cr_assert_eq(chdir(cwd), 0);
    free(out);
    return rc;
}

/* An option that violates the table is refused by the core: create() never runs. */
Test(instance, options_are_checked_by_the_core_before_create)
{
    struct {
        const char *opts, *at, *says;
    } rows[] = {
        {"    bad_every: -1\n", "-1", "option 'bad_every' must be >= 0, found -1"},
        {"    bad: nan\n    bad_evrey: 3\n", "bad_evrey",
         "unknown option 'bad_evrey' (did you mean 'bad_every'?"},
        {"    bad: fial\n", "fial", "option 'bad' must be one of:"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *tmp = tu_tmpdir("inst-opts");
        char opts[6000], marker[4600], where[128], expect[1024];
        snprintf(marker, sizeof(marker), "%s/created", tmp);
        snprintf(opts, sizeof(opts), "%s    create_marker: %s\n", rows[i].opts, marker);
        char *text = study_text(opts, "");
        position_of(text, rows[i].at, where, sizeof(where));
        snprintf(expect, sizeof(expect), "%s: " LABEL ": %s", where, rows[i].says);
        char *err = NULL;
        int rc = hilnas(tmp, text, "validate", &err);
        cr_expect_eq(rc, 2, "row %zu: exit %d: %s", i, rc, err);
        cr_expect(err != NULL && strstr(err, expect) != NULL, "row %zu: expected '%s' in: %s", i,
                  expect, err);
        cr_expect_eq(tu_count(err, "'f'"), 1, "row %zu: the instance named once: %s", i, err);
        cr_expect_eq(tu_count(err, "(faulty)"), 1, "row %zu: the plugin named once: %s", i, err);
        cr_expect_neq(access(marker, F_OK), 0, "row %zu: create() ran on refused options", i);
        free(err);
        free(text);
        free(tmp);
    }
    /* the same options, corrected, reach create() */
    char *tmp = tu_tmpdir("inst-opts");
    char opts[6000], marker[4600];
    snprintf(marker, sizeof(marker), "%s/created", tmp);
    snprintf(opts, sizeof(opts), "    create_marker: %s\n    bad_every: 1\n", marker);
    char *text = study_text(opts, "");
    char *err = NULL;
    cr_expect_eq(hilnas(tmp, text, "validate", &err), 0, "%s", err);
    cr_expect_eq(access(marker, F_OK), 0, "create() did not run on valid options");
    free(err);
    free(text);
    free(tmp);
}

/* create() fails pointing at an option: the position stays first, the label follows once. */
Test(instance, a_refusal_keeps_the_plugins_position_and_names_the_instance_once)
{
    char *tmp = tu_tmpdir("inst-refuse");
    char *text = study_text("    refuse: true\n", "");
    char where[128], expect[1024];
    position_of(text, "true", where, sizeof(where));
    snprintf(expect, sizeof(expect), "hilnas: error: %s: " LABEL ": refused on purpose", where);
    char *err = NULL;
    int rc = hilnas(tmp, text, "validate", &err);
    cr_expect_eq(rc, 2, "exit %d: %s", rc, err);
    cr_expect(err != NULL && strstr(err, expect) != NULL, "expected '%s' in: %s", expect, err);
    cr_expect_eq(tu_count(err, "faulty"), 1, "%s", err);
    free(err);
    free(text);
    free(tmp);
}

/* Log lines and trial errors of an instance carry its label once, from the executor's worker
 * threads too (the plugin logs and fails without naming itself). */
Test(instance, log_lines_and_trial_errors_carry_the_label_once, .timeout = 60)
{
    const char *executors[] = {"", "executor: {plugin: threads, workers: 2}\n"};
    for (size_t x = 0; x < 2; x++) {
        char *tmp = tu_tmpdir("inst-log");
        char *text =
            study_text("    chatty: true\n    bad: fail\n    bad_every: 2\n", executors[x]);
        char *err = NULL;
        int rc = hilnas(tmp, text, "run", &err);
        cr_expect_eq(rc, 0, "executor %zu: exit %d: %s", x, rc, err);
        size_t lines = 0;
        for (char *line = err; line != NULL && *line != '\0';) {
            char *nl = strchr(line, '\n');
            size_t len = nl ? (size_t)(nl - line) : strlen(line);
            char one[2048];
            snprintf(one, sizeof(one), "%.*s", (int)(len < sizeof(one) ? len : sizeof(one) - 1),
                     line);
            if (strstr(one, "measuring trial") != NULL) {
                lines++;
                cr_expect(strncmp(one, "hilnas: warning: " LABEL ": measuring trial ",
                                  strlen("hilnas: warning: " LABEL ": measuring trial ")) == 0,
                          "executor %zu: %s", x, one);
                cr_expect_eq(tu_count(one, "faulty"), 1, "executor %zu: %s", x, one);
            }
            line = nl ? nl + 1 : NULL;
        }
        cr_expect_eq(lines, 4, "executor %zu: one line per trial: %s", x, err);
        /* the failed trials' reasons in the journal */
        char path[4600];
        snprintf(path, sizeof(path), "%s/run/journal.jsonl", tmp);
        char *journal = tu_read_file(path);
        cr_assert_not_null(journal);
        size_t failed = 0;
        for (char *line = strtok(journal, "\n"); line != NULL; line = strtok(NULL, "\n")) {
            json_t *ev = json_loads(line, 0, NULL);
            const char *type = json_string_value(json_object_get(ev, "event"));
            if (type != NULL && strcmp(type, "failed") == 0) {
                const char *reason = json_string_value(json_object_get(ev, "reason"));
                char expect[256];
                snprintf(expect, sizeof(expect), LABEL ": planned failure of trial %lld",
                         (long long)json_integer_value(json_object_get(ev, "trial")));
                cr_expect(reason != NULL && strcmp(reason, expect) == 0,
                          "executor %zu: reason '%s', expected '%s'", x, reason, expect);
                failed++;
            }
            json_decref(ev);
        }
        cr_expect_eq(failed, 2, "executor %zu: trials 1 and 3 fail", x);
        free(journal);
        free(err);
        free(text);
        free(tmp);
    }
}

/* ---- the functions themselves ---- */

static const struct hn_plugin host = {.kind = HN_KIND_ORACLE, .name = "host"};
static const struct hn_plugin box = {.kind = HN_KIND_SPACE, .name = "box"};

static char captured[8192];
static void capture(void *data, const char *line)
{
    (void)data;
    size_t off = strlen(captured);
    snprintf(captured + off, sizeof(captured) - off, "%s", line);
}

static void *log_from_thread(void *arg)
{
    (void)arg;
    hn_log(HN_LOG_WARNING, "from a thread of its own");
    return NULL;
}

Test(instance, labels_errors_and_log_context)
{
    char buf[HN_INSTANCE_LABEL_MAX];
    cr_expect_str_eq(hn_instance_label(&host, "phone", buf, sizeof(buf)), "oracle 'phone' (host)");
    cr_expect_str_eq(hn_instance_label(&host, "host", buf, sizeof(buf)), "oracle 'host'");
    cr_expect_str_eq(hn_instance_label(&box, NULL, buf, sizeof(buf)), "space 'box'");

    struct hn_instance_call c;
    struct hn_error e;
    hn_instance_enter(&c, &host, "phone");
    hn_instance_leave(&c);
    /* a position the plugin gave stays first */
    hn_error_config(&e, "s.yaml:3:7", "no device at %s", "adb");
    hn_instance_error(&c, NULL, &e);
    cr_expect_str_eq(e.msg, "s.yaml:3:7: oracle 'phone' (host): no device at adb");
    cr_expect_eq(e.kind, HN_ERR_CONFIG);
    cr_expect_eq(e.where_len, strlen("s.yaml:3:7: "));
    /* context prefixed by the plugin: the label goes first */
    hn_error_set(&e, "s.yaml:3:7", "bad");
    hn_error_prefix(&e, "reading the backbone");
    hn_instance_error(&c, NULL, &e);
    cr_expect_str_eq(e.msg, "oracle 'phone' (host): reading the backbone: s.yaml:3:7: bad");
    /* no message at all */
    hn_error_clear(&e);
    hn_instance_error(&c, NULL, &e);
    cr_expect_str_eq(e.msg, "oracle 'phone' (host): failed (no reason given)");
    cr_expect_eq(e.kind, HN_ERR_RUNTIME);
    /* a message written directly (where_len left stale) is not cut */
    hn_error_clear(&e);
    snprintf(e.msg, sizeof(e.msg), "short");
    e.where_len = 40;
    hn_instance_error(&c, NULL, &e);
    cr_expect_str_eq(e.msg, "oracle 'phone' (host): short");

    /* log lines: prefixed while inside, nested calls restore the outer label */
    captured[0] = '\0';
    hn_log_set_writer(capture, NULL);
    struct hn_instance_call outer, inner;
    hn_instance_enter(&outer, &box, NULL);
    hn_log(HN_LOG_WARNING, "one");
    hn_instance_enter(&inner, &host, "phone");
    hn_log(HN_LOG_INFO, "two");
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, log_from_thread, NULL), 0);
    pthread_join(th, NULL);
    hn_instance_leave(&inner);
    hn_log(HN_LOG_WARNING, "three");
    hn_instance_leave(&outer);
    hn_log(HN_LOG_WARNING, "four");
    hn_log_set_writer(NULL, NULL);
    cr_expect_str_eq(captured, "hilnas: warning: space 'box': one\n"
                               "hilnas: oracle 'phone' (host): two\n"
                               "hilnas: warning: from a thread of its own\n"
                               "hilnas: warning: space 'box': three\n"
                               "hilnas: warning: four\n");
}
