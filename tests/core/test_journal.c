/* Journal: replay, torn last line, damaged lines, and the lock against a second process. */
#include "config.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/journal.h"
#include "tests/core/testutil.h"

struct seen {
    long n;
    long ids[64];
    long lines[64];
};

static int collect(json_t *ev, long line, void *data, struct hn_error *err)
{
    struct seen *s = data;
    (void)err;
    if (s->n < 64) {
        s->ids[s->n] = (long)json_integer_value(json_object_get(ev, "trial"));
        s->lines[s->n] = line;
    }
    s->n++;
    return 0;
}

static void append_trials(struct hn_journal *j, long from, long to)
{
    struct hn_error err;
    for (long i = from; i < to; i++) {
        json_t *ev = json_pack("{s:s, s:I, s:f}", "event", "completed", "trial", (json_int_t)i,
                               "time", 1.5 * (double)i);
        cr_assert_eq(hn_journal_append(j, ev, 1, &err), 0, "append: %s", err.msg);
        json_decref(ev);
    }
}

Test(journal, replay_returns_every_event_in_order)
{
    char *dir = tu_tmpdir("journal");
    struct hn_error err;
    struct hn_journal *j = hn_journal_open(dir, NULL, NULL, &err);
    cr_assert_not_null(j, "open: %s", err.msg);
    append_trials(j, 0, 10);
    hn_journal_close(j);

    struct seen s = {0};
    j = hn_journal_open(dir, collect, &s, &err);
    cr_assert_not_null(j, "reopen: %s", err.msg);
    cr_assert_eq(s.n, 10);
    for (long i = 0; i < 10; i++) {
        cr_expect_eq(s.ids[i], i, "event %ld has trial %ld", i, s.ids[i]);
        cr_expect_eq(s.lines[i], i + 1);
    }
    cr_expect_eq(hn_journal_events(j), 10);
    append_trials(j, 10, 12);
    hn_journal_close(j);
    struct seen s2 = {0};
    int torn = -1;
    cr_assert_eq(hn_journal_read(dir, collect, &s2, &torn, &err), 0, "%s", err.msg);
    cr_expect_eq(s2.n, 12);
    cr_expect_eq(torn, 0);
    free(dir);
}

Test(journal, torn_last_line_is_reported_dropped_and_then_appendable)
{
    char *dir = tu_tmpdir("journal");
    struct hn_error err;
    struct hn_journal *j = hn_journal_open(dir, NULL, NULL, &err);
    cr_assert_not_null(j);
    append_trials(j, 0, 3);
    hn_journal_close(j);
    char path[4200];
    snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
    /* a crash in the middle of writing the fourth event */
    int fd = open(path, O_WRONLY | O_APPEND);
    const char *partial = "{\"event\":\"completed\",\"tri";
    cr_assert_eq(write(fd, partial, strlen(partial)), (ssize_t)strlen(partial));
    close(fd);

    struct seen s = {0};
    int torn = 0;
    cr_assert_eq(hn_journal_read(dir, collect, &s, &torn, &err), 0, "%s", err.msg);
    cr_expect_eq(torn, 1, "read-only replay must report the torn line");
    cr_expect_eq(s.n, 3);

    struct seen s2 = {0};
    j = hn_journal_open(dir, collect, &s2, &err);
    cr_assert_not_null(j, "open must tolerate a torn last line: %s", err.msg);
    cr_expect_eq(s2.n, 3);
    append_trials(j, 3, 4);
    hn_journal_close(j);
    char *text = tu_read_file(path);
    cr_expect_eq(tu_count(text, "\n"), 4, "torn bytes must be gone: %s", text);
    cr_expect_null(strstr(text, "\"tri{"), "no torn fragment left");
    struct seen s3 = {0};
    cr_assert_eq(hn_journal_read(dir, collect, &s3, &torn, &err), 0, "%s", err.msg);
    cr_expect_eq(s3.n, 4);
    cr_expect_eq(torn, 0);
    free(text);
    free(dir);
}

Test(journal, damaged_middle_line_is_an_error_naming_the_line)
{
    char *dir = tu_tmpdir("journal");
    char path[4200];
    snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
    tu_write_file(path, "{\"event\":\"started\",\"trial\":0}\n"
                        "{\"event\":\"completed\" garbage\n"
                        "{\"event\":\"completed\",\"trial\":0}\n");
    struct hn_error err;
    struct seen s = {0};
    struct hn_journal *j = hn_journal_open(dir, collect, &s, &err);
    cr_assert_null(j);
    cr_expect(strstr(err.msg, "journal.jsonl:2") != NULL, "message names line 2: %s", err.msg);
    char *text = tu_read_file(path);
    cr_expect_eq(tu_count(text, "\n"), 3, "a damaged journal is never modified");
    free(text);
    free(dir);
}

Test(journal, second_process_is_refused_by_the_lock)
{
    char *dir = tu_tmpdir("journal");
    struct hn_error err;
    struct hn_journal *j = hn_journal_open(dir, NULL, NULL, &err);
    cr_assert_not_null(j, "%s", err.msg);
    int pipefd[2];
    cr_assert_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* a real second process: fcntl locks are per process */
        struct hn_error e2;
        struct hn_journal *j2 = hn_journal_open(dir, NULL, NULL, &e2);
        int refused = j2 == NULL && strstr(e2.msg, "in use by another hilnas process") != NULL;
        char pidtext[32];
        snprintf(pidtext, sizeof(pidtext), "pid %ld", (long)getppid());
        refused = refused && strstr(e2.msg, pidtext) != NULL;
        if (write(pipefd[1], e2.msg, strlen(e2.msg)) < 0) {
            _exit(3);
        }
        _exit(refused ? 0 : 1);
    }
    close(pipefd[1]);
    char msg[4096] = "";
    ssize_t r = read(pipefd[0], msg, sizeof(msg) - 1);
    msg[r > 0 ? r : 0] = '\0';
    int status;
    waitpid(pid, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "second process must be refused naming our pid; it said: %s", msg);
    hn_journal_close(j);
    /* after the first closes, a new process may open it */
    pid = fork();
    if (pid == 0) {
        struct hn_error e3;
        struct hn_journal *j3 = hn_journal_open(dir, NULL, NULL, &e3);
        _exit(j3 != NULL ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "lock must be released on close");
    free(dir);
}
