/*
 * The status line of `hilnas run` (tools/progress.c), seen as a user sees it: a real study run
 * through a pseudo-terminal (forkpty), through a file (no terminal), with --quiet and with
 * --verbose. The study's trials report "sleeping, step i/3" (the test plugin sleepy).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/core/testutil.h"

static const char *study(void)
{
    static char path[4200];
    snprintf(path, sizeof(path), "%s/tests/data/studies/progress.yaml", tu_srcdir());
    return path;
}

/* argv of `hilnas run` on the study into dir, then extra (NULL-terminated, may be NULL). */
static char **run_argv(const char *dir, const char *const *extra)
{
    static char *argv[16];
    int k = 0;
    argv[k++] = (char *)tu_hilnas();
    argv[k++] = "run";
    argv[k++] = (char *)study();
    argv[k++] = "--output";
    argv[k++] = (char *)dir;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && k < 15; i++) {
        argv[k++] = (char *)extra[i];
    }
    argv[k] = NULL;
    return argv;
}

/* Run argv on a new pseudo-terminal of `cols` columns; everything it printed (stdout and
 * stderr share the terminal) as a malloc'ed string; *status its wait status. */
static char *run_on_pty(char *const argv[], int cols, int *status)
{
    int master = -1;
    struct winsize ws = {.ws_row = 24, .ws_col = (unsigned short)cols};
    pid_t pid = forkpty(&master, NULL, NULL, &ws);
    cr_assert_geq(pid, 0, "forkpty: %s", strerror(errno));
    if (pid == 0) {
        char **env = tu_test_plugins_env();
        for (size_t i = 0; env[i] != NULL; i++) {
            putenv(env[i]);
        }
        putenv("TERM=xterm");
        unsetenv("HILNAS_PROGRESS");
        execv(argv[0], argv);
        _exit(127);
    }
    size_t len = 0, cap = 65536;
    char *out = malloc(cap);
    cr_assert_not_null(out);
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap *= 2;
            out = realloc(out, cap);
            cr_assert_not_null(out);
        }
        ssize_t k = read(master, out + len, 4096);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            break; /* EIO once the child side is closed */
        }
        len += (size_t)k;
    }
    out[len] = '\0';
    close(master);
    waitpid(pid, status, 0);
    return out;
}

static const char *after_last(const char *hay, const char *needle)
{
    const char *last = NULL;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        last = p;
    }
    return last;
}

Test(progress, terminal_gets_one_live_line_redrawn_in_place, .timeout = 120)
{
    char *tmp = tu_tmpdir("pty");
    char dir[4300];
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    int status = 0;
    char *out = run_on_pty(run_argv(dir, NULL), 100, &status);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "run failed: %s", out);
    /* every count is drawn: the line is redrawn at once when a trial ends */
    for (int k = 0; k <= 6; k++) {
        char want[64];
        snprintf(want, sizeof(want), "\r[init] %d/6 trials", k);
        cr_expect(strstr(out, want) != NULL, "no status line '%s' in:\n%s", want + 1, out);
    }
    /* what runs now: each trial's first report is drawn at once */
    for (int t = 0; t < 6; t++) {
        char want[64];
        snprintf(want, sizeof(want), "| sleeping trial %d, step 1/3", t);
        cr_expect(strstr(out, want) != NULL, "no '%s' in:\n%s", want, out);
    }
    /* no ETA before a trial finished, one after */
    const char *p0 = strstr(out, "\r[init] 0/6 trials, ");
    const char *eta0 = p0 ? strstr(p0, ", ETA ") : NULL;
    cr_expect(eta0 != NULL && strncmp(eta0, ", ETA --", 8) == 0, "%s", out);
    const char *p3 = strstr(out, "\r[init] 3/6 trials, ");
    const char *eta = p3 ? strstr(p3, ", ETA ") : NULL;
    cr_expect(eta != NULL && eta[6] >= '0' && eta[6] <= '9', "an ETA once trials finished: %s",
              p3 ? p3 : out);
    cr_expect(strstr(out, ", best s.value ") != NULL, "the best value: %s", out);
    /* in place: \r, the text, then erase the rest of the old line */
    cr_expect_geq(tu_count(out, "\033[K"), 7, "%s", out);
    /* a log line first erases the status line, which comes back below it */
    cr_expect(strstr(out, "\r\033[Khilnas: [init] trial 0 complete") != NULL, "%s", out);
    cr_expect(strstr(out, "\r\033[Khilnas: [init] trial 5 complete") != NULL, "%s", out);
    /* no drawn line is wider than the terminal (a wrapped line could not be redrawn) */
    for (const char *p = strstr(out, "\r["); p != NULL; p = strstr(p + 1, "\r[")) {
        const char *e = strstr(p, "\033[K");
        cr_assert_not_null(e, "a status line without its erase: %s", p);
        cr_expect_leq(e - p - 1, 99, "status line of %ld columns on a 100-column terminal",
                      (long)(e - p - 1));
    }
    /* and it is gone at the end: erased after its last drawing, before the summary */
    const char *last = after_last(out, "\r[init]");
    cr_assert_not_null(last);
    const char *erase = strstr(last, "\r\033[K");
    const char *report = strstr(out, "report: ");
    cr_expect(erase != NULL && report != NULL && erase < report,
              "the status line is erased before the summary: %s", last);
    free(out);
    free(tmp);
}

/* Bytes a terminal would interpret: everything below 0x20 but the newline, and DEL. */
static size_t control_bytes(const char *s, char *first, size_t size)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f) {
            if (n++ == 0) {
                snprintf(first, size, "byte 0x%02x at offset %ld", *p,
                         (long)(p - (const unsigned char *)s));
            }
        }
    }
    return n;
}

Test(progress, without_a_terminal_plain_lines_and_no_control_characters, .timeout = 120)
{
    char *tmp = tu_tmpdir("plain");
    char dir[4300];
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    char **argv = run_argv(dir, NULL);
    char plugins[4400];
    snprintf(plugins, sizeof(plugins), "%s", tu_test_plugins_env()[0]);
    /* interval 0: a progress line at every change, so that their presence is certain */
    char *env[] = {plugins, "HILNAS_PROGRESS_INTERVAL=0", "TERM=xterm", NULL};
    char *out = NULL, *err = NULL;
    int rc = tu_run(argv, env, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    char first[128] = "";
    cr_expect_eq(control_bytes(err, first, sizeof(first)), 0, "%s in stderr:\n%s", first, err);
    cr_expect_eq(control_bytes(out, first, sizeof(first)), 0, "%s in stdout:\n%s", first, out);
    cr_expect(strstr(err, "hilnas: [init] 6/6 trials") != NULL, "%s", err);
    cr_expect(strstr(err, "| sleeping trial 2, step 1/3") != NULL, "%s", err);
    cr_expect(strstr(err, "hilnas: [init] trial 5 complete") != NULL, "%s", err);
    free(out);
    free(err);
    /* the default: no progress line at all in a run shorter than the interval (30 s) */
    char *env2[] = {plugins, NULL};
    rc = tu_run(argv, env2, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect(strstr(err, "/6 trials") == NULL, "%s", err);
    cr_expect_eq(control_bytes(err, first, sizeof(first)), 0, "%s in stderr:\n%s", first, err);
    free(out);
    free(err);
    free(tmp);
}

Test(progress, quiet_prints_errors_and_the_summary_only, .timeout = 120)
{
    char *tmp = tu_tmpdir("quiet");
    char dir[4300];
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    /* failed trials are results, not errors: nothing on stderr */
    const char *fails[] = {"--quiet", "--set", "evaluators.s.fail_every=3", NULL};
    char *out = NULL, *err = NULL;
    int rc = tu_run(run_argv(dir, fails), tu_test_plugins_env(), &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect_str_eq(err, "", "stderr of --quiet: %s", err);
    /* no reference (backbone) in this study: the summary is the report's path */
    cr_expect(strncmp(out, "report: ", 8) == 0 && tu_count(out, "\n") == 1 &&
                  strstr(out, "/report.html\n") != NULL,
              "stdout of --quiet: the summary only: %s", out);
    free(out);
    free(err);
    /* the same on a terminal: no status line, no log */
    int status = 0;
    char dir2[4300];
    snprintf(dir2, sizeof(dir2), "%s/study2", tmp);
    const char *q[] = {"-q", NULL};
    char *all = run_on_pty(run_argv(dir2, q), 100, &status);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", all);
    cr_expect(strstr(all, "\033") == NULL && strstr(all, "hilnas:") == NULL, "%s", all);
    cr_expect(strstr(all, "report: ") != NULL, "%s", all);
    free(all);
    /* errors still come */
    const char *bad[] = {"--quiet", "--set", "evaluators.s.delay_ms=-5", NULL};
    rc = tu_run(run_argv(dir, bad), tu_test_plugins_env(), &out, &err);
    cr_expect_eq(rc, 2, "%s", err);
    cr_expect(strstr(err, "hilnas: error: ") != NULL && strstr(err, "delay_ms") != NULL, "%s", err);
    cr_expect_str_eq(out, "");
    free(out);
    free(err);
    /* and --quiet with --verbose is a usage error */
    const char *both[] = {"-q", "-v", NULL};
    rc = tu_run(run_argv(dir, both), tu_test_plugins_env(), &out, &err);
    cr_expect_eq(rc, 2, "%s", err);
    free(out);
    free(err);
    free(tmp);
}

Test(progress, verbose_prints_every_update, .timeout = 120)
{
    char *tmp = tu_tmpdir("verbose");
    char dir[4300];
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    const char *v[] = {"--verbose", NULL};
    char *out = NULL, *err = NULL;
    int rc = tu_run(run_argv(dir, v), tu_test_plugins_env(), &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    for (int t = 0; t < 6; t++) {
        for (int step = 1; step <= 3; step++) {
            char want[96];
            snprintf(want, sizeof(want), "hilnas: [init] sleeping trial %d, step %d/3\n", t, step);
            cr_expect_eq(tu_count(err, want), 1, "'%s' once in:\n%s", want, err);
        }
    }
    free(out);
    free(err);
    free(tmp);
}

/* Two trials at once on the threads executor: each reports on its own slot of the line. */
Test(progress, threads_report_side_by_side, .timeout = 120)
{
    char *tmp = tu_tmpdir("threads");
    char dir[4300];
    snprintf(dir, sizeof(dir), "%s/study", tmp);
    const char *threads[] = {"--set", "executor.plugin=threads", "--set", "executor.workers=2",
                             NULL};
    int status = 0;
    char *out = run_on_pty(run_argv(dir, threads), 250, &status);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "run failed: %s", out);
    for (int t = 0; t < 6; t++) {
        char want[64];
        snprintf(want, sizeof(want), "sleeping trial %d, step 1/3", t);
        cr_expect(strstr(out, want) != NULL, "no '%s' in:\n%s", want, out);
    }
    cr_expect(strstr(out, "\r[init] 6/6 trials") != NULL, "%s", out);
    cr_expect(strstr(out, "entered by two threads") == NULL, "%s", out);
    free(out);
    free(tmp);
}
