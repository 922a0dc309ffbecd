/*
 * hilnas oracle "device": running one external command (see run.h).
 *
 * hilnas -> supervisor S (a fork: leader of a new process group) -> the command C (exec'ed).
 * S resets every signal to its default, unblocks them all, asks the kernel for SIGTERM when the
 * thread that forked it dies (PR_SET_PDEATHSIG; checked against a parent already gone), forks
 * C, and waits for it. It sends C's wait status through a pipe, then kills its whole group
 * (C's leftover background processes, itself). On SIGTERM (hilnas died) it kills the group.
 * Only async-signal-safe calls run between fork and exec: hilnas may have other threads.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hilnas/log.h"
#include "hilnas/util.h"
#include "plugins/oracle-device/run.h"

#define MAX_OUTPUT ((size_t)1 << 20)
#define TAIL 1024

/* close every descriptor from lo up (close_range(2); a loop where the kernel lacks it) */
static void close_from(int lo)
{
    if (close_range((unsigned)lo, ~0U, 0) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = lo; fd < (max > 0 ? max : 65536); fd++) {
            close((int)fd);
        }
    }
}

static void say(const char *s)
{
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

static void on_parent_death(int sig)
{
    (void)sig;
    kill(0, SIGKILL); /* the whole group, this supervisor included */
    _exit(1);
}

/* The supervisor (never returns). fds are >= 3 and close-on-exec. */
static void supervise(const struct hn_run_spec *spec, pid_t parent, int in, int outw, int errw,
                      int statw)
{
    setpgid(0, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) {
        if (s != SIGKILL && s != SIGSTOP) {
            sigaction(s, &sa, NULL); /* fails harmlessly for the C library's own signals */
        }
    }
    sa.sa_handler = on_parent_death;
    sigaction(SIGTERM, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) {
        _exit(1); /* hilnas is already gone */
    }
    /* _Fork: no atfork handlers (libraries' handlers are not async-signal-safe) */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    pid_t c = _Fork();
#else
    pid_t c = fork();
#endif
    if (c == 0) {
        sa.sa_handler = SIG_DFL;
        sigaction(SIGTERM, &sa, NULL);
        if (dup2(in, 0) < 0 || dup2(outw, 1) < 0 || dup2(errw, 2) < 0) {
            _exit(127);
        }
        close_from(3);
        execve(spec->path, spec->argv, spec->envp);
        char num[16];
        int e = errno, k = (int)sizeof(num);
        num[--k] = '\0';
        do {
            num[--k] = (char)('0' + e % 10);
            e /= 10;
        } while (e > 0 && k > 0);
        say("hilnas: cannot execute ");
        say(spec->path);
        say(": errno ");
        say(num + k);
        say("\n");
        _exit(127);
    }
    int st = c < 0 ? 127 << 8 : 0;
    while (c > 0 && waitpid(c, &st, 0) < 0 && errno == EINTR) {
    }
    ssize_t w = write(statw, &st, sizeof(st));
    (void)w;
    kill(0, SIGKILL); /* leftovers of the command, and this supervisor */
    _exit(0);
}

/* fd moved to >= 3 (close-on-exec), so that dup2 onto 0, 1, 2 cannot clobber another. */
static int high_fd(int fd)
{
    if (fd >= 3 || fd < 0) {
        return fd;
    }
    int h = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return h;
}

struct sink {
    int fd;       /* the log file */
    size_t max;   /* bytes kept: the first max/2 written at once, the last max/2 at the end */
    size_t total; /* bytes of standard error seen */
    char *ring;   /* the last ring_cap bytes after the head */
    size_t ring_cap, ring_len, ring_pos;
    char tail[TAIL]; /* the last TAIL bytes, for the failure reason */
    size_t tail_len;
};

static void sink_put(struct sink *s, const char *p, size_t n)
{
    size_t head = s->max / 2;
    for (size_t i = 0; i < n; i++) {
        if (s->tail_len == TAIL) {
            memmove(s->tail, s->tail + TAIL / 2, TAIL - TAIL / 2);
            s->tail_len = TAIL - TAIL / 2;
        }
        s->tail[s->tail_len++] = p[i];
    }
    if (s->total < head) {
        size_t k = head - s->total < n ? head - s->total : n;
        ssize_t w = write(s->fd, p, k);
        (void)w;
        s->total += k;
        p += k;
        n -= k;
    }
    s->total += n;
    for (size_t i = 0; i < n && s->ring_cap > 0; i++) {
        s->ring[s->ring_pos] = p[i];
        s->ring_pos = (s->ring_pos + 1) % s->ring_cap;
        if (s->ring_len < s->ring_cap) {
            s->ring_len++;
        }
    }
}

static void sink_close(struct sink *s)
{
    size_t head = s->max / 2;
    size_t dropped = s->total > head + s->ring_len ? s->total - head - s->ring_len : 0;
    if (dropped > 0) {
        char note[200];
        int k = snprintf(note, sizeof(note),
                         "\n[hilnas: %zu bytes of standard error dropped here: device.log keeps "
                         "the first and the last %zu bytes (option log_max_kb)]\n",
                         dropped, head);
        ssize_t w = write(s->fd, note, (size_t)k);
        (void)w;
    }
    /* the ring in order: [ring_pos, ring_cap) then [0, ring_pos) once it has wrapped */
    if (s->ring_len == s->ring_cap && s->ring_cap > 0) {
        ssize_t w = write(s->fd, s->ring + s->ring_pos, s->ring_cap - s->ring_pos);
        (void)w;
    }
    ssize_t w = write(s->fd, s->ring, s->ring_pos); /* unwrapped: ring_pos == ring_len */
    (void)w;
    close(s->fd);
    free(s->ring);
}

/* The last non-blank line of the standard error's tail into buf. */
static void last_line(const struct sink *s, char *buf, size_t size)
{
    size_t end = s->tail_len;
    while (end > 0 && (s->tail[end - 1] == '\n' || s->tail[end - 1] == '\r' ||
                       s->tail[end - 1] == ' ' || s->tail[end - 1] == '\t')) {
        end--;
    }
    size_t start = end;
    while (start > 0 && s->tail[start - 1] != '\n') {
        start--;
    }
    size_t n = end - start < size - 1 ? end - start : size - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s->tail[start + i];
        buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    buf[n] = '\0';
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Append what fd has now to buf (the last MAX_OUTPUT bytes). 0: more may come, 1: EOF. */
static int read_out(int fd, char **buf, size_t *len, size_t *cap)
{
    for (;;) {
        if (*len == *cap) {
            if (*cap < MAX_OUTPUT) {
                char *g = realloc(*buf, 2 * *cap + 1);
                if (g == NULL) {
                    return -1;
                }
                *buf = g;
                *cap *= 2;
            } else {
                /* a flood of output: keep the tail, where the JSON line is */
                memmove(*buf, *buf + *cap / 2, *cap - *cap / 2);
                *len = *cap - *cap / 2;
            }
        }
        ssize_t got = read(fd, *buf + *len, *cap - *len);
        if (got > 0) {
            *len += (size_t)got;
            continue;
        }
        if (got == 0) {
            return 1;
        }
        return errno == EINTR ? 0 : errno == EAGAIN ? 0 : 1;
    }
}

static int read_err(int fd, struct sink *s)
{
    char chunk[16384];
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof(chunk));
        if (got > 0) {
            sink_put(s, chunk, (size_t)got);
            continue;
        }
        if (got == 0) {
            return 1;
        }
        return errno == EINTR || errno == EAGAIN ? 0 : 1;
    }
}

/* One run of the command as hilnas sees it: the pipes' reading ends and what came through. */
struct child {
    int outp[2], errp[2], statp[2], in;
    struct sink sink;
    char *buf; /* standard output */
    size_t len, cap;
    pid_t pid;
    double start;
    int timed_out; /* 1 past the deadline, -1 out of memory (err set) */
    int interrupted, out_open, err_open, nostat;
    int status; /* the command's wait status, from the supervisor */
    size_t got_status;
    int sst; /* the supervisor's own wait status */
};

static void child_close(struct child *c)
{
    for (int i = 0; i < 2; i++) {
        if (c->outp[i] >= 0) {
            close(c->outp[i]);
        }
        if (c->errp[i] >= 0) {
            close(c->errp[i]);
        }
        if (c->statp[i] >= 0) {
            close(c->statp[i]);
        }
    }
    if (c->in >= 0) {
        close(c->in);
    }
    if (c->sink.fd >= 0) {
        sink_close(&c->sink);
    } else {
        free(c->sink.ring);
    }
    free(c->buf);
}

/* The pipes, /dev/null as standard input, the log file and the buffers. Returns 0, or -1 with
 * err (an environment failure). */
static int child_open(struct child *c, const struct hn_run_spec *spec, struct hn_error *err)
{
    if (pipe2(c->outp, O_CLOEXEC) != 0 || pipe2(c->errp, O_CLOEXEC) != 0 ||
        pipe2(c->statp, O_CLOEXEC) != 0) {
        return hn_error_env(err, NULL, "cannot create a pipe for the command: %s",
                            hn_strerror(errno));
    }
    c->in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    c->sink.fd = open(spec->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (c->in < 0 || c->sink.fd < 0) {
        return hn_error_env(err, c->in < 0 ? "/dev/null" : spec->log, "cannot open: %s",
                            hn_strerror(errno));
    }
    c->sink.ring_cap = spec->log_max - spec->log_max / 2;
    c->sink.ring = malloc(c->sink.ring_cap ? c->sink.ring_cap : 1);
    c->buf = malloc(c->cap + 1);
    if (c->sink.ring == NULL || c->buf == NULL) {
        return hn_error_env(err, NULL, "out of memory starting the command");
    }
    return 0;
}

/* Fork the supervisor (which runs the command) and keep the reading ends, non-blocking. */
static int child_start(struct child *c, const struct hn_run_spec *spec, struct hn_error *err)
{
    c->in = high_fd(c->in);
    c->outp[1] = high_fd(c->outp[1]);
    c->errp[1] = high_fd(c->errp[1]);
    c->statp[1] = high_fd(c->statp[1]);
    pid_t parent = getpid();
    c->pid = fork();
    if (c->pid == 0) {
        supervise(spec, parent, c->in, c->outp[1], c->errp[1], c->statp[1]);
    }
    if (c->pid < 0) {
        return hn_error_env(err, NULL, "cannot start the command: %s", hn_strerror(errno));
    }
    setpgid(c->pid, c->pid); /* also here: no kill(-pid) before the child has done it */
    close(c->outp[1]);
    close(c->errp[1]);
    close(c->statp[1]);
    close(c->in);
    c->outp[1] = c->errp[1] = c->statp[1] = c->in = -1;
    fcntl(c->outp[0], F_SETFL, O_NONBLOCK);
    fcntl(c->errp[0], F_SETFL, O_NONBLOCK);
    fcntl(c->statp[0], F_SETFL, O_NONBLOCK);
    c->start = now_s();
    return 0;
}

/* Kill the group on an interruption or past the deadline. */
static void check_deadline(struct child *c, const struct hn_run_spec *spec, double now)
{
    if (!c->interrupted && spec->interrupted != NULL && spec->interrupted()) {
        c->interrupted = 1;
        hn_log(HN_LOG_INFO,
               "interrupted: stopping the device command of %s (process group %ld, running "
               "for %.1f s)",
               spec->what, (long)c->pid, now - c->start);
        kill(-c->pid, SIGKILL);
    }
    if (!c->timed_out && !c->interrupted && now >= c->start + spec->timeout_s) {
        c->timed_out = 1;
        kill(-c->pid, SIGKILL);
    }
}

/* Read the pipes until the supervisor reports the command's status or goes away. */
static void child_watch(struct child *c, const struct hn_run_spec *spec, struct hn_error *err)
{
    double deadline = c->start + spec->timeout_s;
    c->out_open = c->err_open = 1;
    for (;;) {
        double now = now_s();
        check_deadline(c, spec, now);
        struct pollfd pfd[3] = {{.fd = c->out_open ? c->outp[0] : -1, .events = POLLIN},
                                {.fd = c->err_open ? c->errp[0] : -1, .events = POLLIN},
                                {.fd = c->statp[0], .events = POLLIN}};
        double left = deadline - now;
        int ms = left > 0.1 ? 100 : left > 0 ? (int)(left * 1000) + 1 : 100;
        if (poll(pfd, 3, ms) < 0 && errno != EINTR) {
            return;
        }
        if (c->out_open && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            int r = read_out(c->outp[0], &c->buf, &c->len, &c->cap);
            if (r < 0) {
                hn_error_env(err, NULL, "out of memory reading the command's output");
                kill(-c->pid, SIGKILL);
                c->timed_out = -1;
            }
            c->out_open = r == 0;
        }
        if (c->err_open && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            c->err_open = !read_err(c->errp[0], &c->sink);
        }
        if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t got;
            while ((got = read(c->statp[0], (char *)&c->status + c->got_status,
                               sizeof(c->status) - c->got_status)) > 0) {
                c->got_status += (size_t)got;
            }
            if (got == 0 || c->got_status == sizeof(c->status)) {
                c->nostat = c->got_status != sizeof(c->status);
                return; /* the supervisor is gone: the command and its group too */
            }
        }
    }
}

/* What is left in the pipes (written before the group died), then the supervisor reaped. */
static void child_reap(struct child *c, struct hn_error *err)
{
    if (c->out_open && read_out(c->outp[0], &c->buf, &c->len, &c->cap) < 0 && c->timed_out == 0) {
        hn_error_env(err, NULL, "out of memory reading the command's output");
        c->timed_out = -1;
    }
    if (c->err_open) {
        read_err(c->errp[0], &c->sink);
    }
    kill(-c->pid, SIGKILL);
    while (waitpid(c->pid, &c->sst, 0) < 0 && errno == EINTR) {
    }
}

/* How the run ended: 0 with its status, or -1 with err (interrupted, timed out, ...). */
static int child_outcome(const struct child *c, const struct hn_run_spec *spec,
                         struct hn_error *err)
{
    if (c->timed_out < 0) {
        return -1; /* err set when it happened */
    }
    if (c->interrupted) {
        return hn_error_env(err, NULL,
                            "interrupted: the device command of %s was stopped; it is measured "
                            "again when the study resumes",
                            spec->what);
    }
    if (c->timed_out) {
        return hn_error_set(err, NULL, "the command ran past timeout_s = %g s and was killed",
                            spec->timeout_s);
    }
    if (c->nostat) {
        int sst = c->sst;
        return hn_error_set(err, NULL, "the command's supervisor process died (%s %d)",
                            WIFSIGNALED(sst) ? "signal" : "exit",
                            WIFSIGNALED(sst) ? WTERMSIG(sst) : WEXITSTATUS(sst));
    }
    return 0;
}

int hn_run_command(const struct hn_run_spec *spec, struct hn_run_result *res, struct hn_error *err)
{
    struct child c = {.outp = {-1, -1},
                      .errp = {-1, -1},
                      .statp = {-1, -1},
                      .in = -1,
                      .sink = {.fd = -1, .max = spec->log_max},
                      .cap = 65536};
    int rc = -1;
    memset(res, 0, sizeof(*res));
    if (child_open(&c, spec, err) != 0 || child_start(&c, spec, err) != 0) {
        goto done;
    }
    child_watch(&c, spec, err);
    child_reap(&c, err);
    last_line(&c.sink, res->err_tail, sizeof(res->err_tail));
    if (child_outcome(&c, spec, err) != 0) {
        goto done;
    }
    c.buf[c.len] = '\0';
    res->out = c.buf;
    res->out_len = c.len;
    res->status = c.status;
    c.buf = NULL;
    rc = 0;
done:
    child_close(&c);
    return rc;
}
