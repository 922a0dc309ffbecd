/* hilnas run: the live status line (see tools/progress.h). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "hilnas/log.h"
#include "tools/progress.h"

#define TICK_TTY 0.25 /* seconds between redraws on a terminal (the clock moves) */

struct hn_cli_progress {
    struct hn_status *st;
    int tty;
    double interval; /* plain mode: seconds between progress lines */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    int thread_started, stop;
    int drawn;        /* a status line is on the terminal now */
    double last_line; /* plain mode: monotonic time of the last progress line */
};

void hn_cli_set_verbosity(enum hn_verbosity v)
{
    hn_log_set_level(v == HN_VERBOSITY_QUIET     ? HN_LOG_WARNING
                     : v == HN_VERBOSITY_VERBOSE ? HN_LOG_DEBUG
                                                 : HN_LOG_INFO);
}

/* "45s", "3m05s", "2h07m". */
static void duration(double s, char *buf, size_t size)
{
    long t = s > 0 && isfinite(s) ? (long)(s + 0.5) : 0;
    if (t < 60) {
        snprintf(buf, size, "%lds", t);
    } else if (t < 3600) {
        snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
    } else {
        snprintf(buf, size, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
    }
}

void hn_cli_status_text(const struct hn_status_view *v, char *buf, size_t size)
{
    size_t off = 0;
    char el[32], eta[32];
    buf[0] = '\0';
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (off < size) {                                                                          \
            int k_ = snprintf(buf + off, size - off, __VA_ARGS__);                                 \
            off += k_ > 0 ? (size_t)k_ : 0;                                                        \
        }                                                                                          \
    } while (0)
    if (!v->enabled || v->kind == HN_STATUS_IDLE) {
        return;
    }
    duration(v->stage_elapsed, el, sizeof(el));
    ADD("[%s] ", v->stage);
    if (v->kind == HN_STATUS_FIT) {
        ADD("%s, %s", v->note[0] ? v->note : "fitting", el);
    } else {
        ADD("%ld/%ld trials", v->done, v->total);
        if (v->failed > 0) {
            ADD(" (%ld failed)", v->failed);
        }
        ADD(", %s", el);
        long here = v->done - v->done_before;
        if (v->done >= v->total) {
            ADD(", done");
        } else if (here > 0) {
            duration(v->stage_elapsed / (double)here * (double)(v->total - v->done), eta,
                     sizeof(eta));
            ADD(", ETA %s", eta);
        } else {
            ADD(", ETA --");
        }
        if (v->has_best && v->n_objectives == 1) {
            ADD(", best %s %.4g (trial %ld)", v->best_metric, v->best, v->best_trial);
        } else if (v->has_best) {
            ADD(", frontier %ld", v->frontier);
        }
    }
    int first = 1;
    for (size_t i = 0; i < v->n_slots; i++) {
        if (v->slots[i].trial < 0) {
            continue;
        }
        char what[160];
        hn_progress_text(&v->slots[i], what, sizeof(what));
        ADD("%s%s", first ? " | " : "; ", what);
        first = 0;
    }
#undef ADD
    if (off >= size && size > 4) {
        memcpy(buf + size - 4, "...", 4);
    }
}

static int columns(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) {
        return ws.ws_col;
    }
    return 80;
}

static void put(const char *s, size_t len)
{
    while (len > 0) {
        ssize_t k = write(STDERR_FILENO, s, len);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return;
        }
        s += k;
        len -= (size_t)k;
    }
}

/* Terminal: draw the line in place, clipped to the width (a wrapped line cannot be redrawn). */
static void draw(struct hn_cli_progress *p)
{
    struct hn_status_view v;
    char text[1024], out[1100];
    hn_status_snapshot(p->st, &v);
    hn_cli_status_text(&v, text, sizeof(text));
    size_t width = (size_t)columns() - 1;
    if (strlen(text) > width) {
        text[width] = '\0';
    }
    if (text[0] == '\0') {
        if (p->drawn) {
            put("\r\033[K", 4);
            p->drawn = 0;
        }
        return;
    }
    int n = snprintf(out, sizeof(out), "\r%s\033[K", text);
    put(out, n > 0 && (size_t)n < sizeof(out) ? (size_t)n : 0);
    p->drawn = 1;
}

/* Plain mode: one progress line when the interval has passed and a stage runs. */
static void plain_line(struct hn_cli_progress *p, double now)
{
    struct hn_status_view v;
    char text[1024], out[1100];
    if (now - p->last_line < p->interval) {
        return;
    }
    hn_status_snapshot(p->st, &v);
    hn_cli_status_text(&v, text, sizeof(text));
    if (text[0] == '\0') {
        return;
    }
    int n = snprintf(out, sizeof(out), "hilnas: %s\n", text);
    put(out, n > 0 && (size_t)n < sizeof(out) ? (size_t)n : 0);
    p->last_line = now;
}

static void observer(void *data, int now)
{
    struct hn_cli_progress *p = data;
    if (!now || (!p->tty && p->interval > 0)) {
        return; /* counters that moved are drawn at the next tick */
    }
    pthread_mutex_lock(&p->lock);
    if (!p->stop) {
        if (p->tty) {
            draw(p);
        } else {
            plain_line(p, hn_monotonic()); /* interval 0: a line at every change */
        }
    }
    pthread_mutex_unlock(&p->lock);
}

static void writer(void *data, const char *line)
{
    struct hn_cli_progress *p = data;
    pthread_mutex_lock(&p->lock);
    if (p->tty && p->drawn) {
        put("\r\033[K", 4);
        p->drawn = 0;
    }
    put(line, strlen(line));
    if (p->tty && !p->stop) {
        draw(p);
    }
    pthread_mutex_unlock(&p->lock);
}

static void *ticker(void *data)
{
    struct hn_cli_progress *p = data;
    pthread_mutex_lock(&p->lock);
    while (!p->stop) {
        struct timespec ts;
        double tick = p->tty ? TICK_TTY : p->interval > 0 ? fmin(1.0, p->interval) : 1.0;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)tick;
        ts.tv_nsec += (long)((tick - floor(tick)) * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        int rc = pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        if (p->stop) {
            break;
        }
        if (rc == ETIMEDOUT || rc == 0) {
            if (p->tty) {
                draw(p);
            } else {
                plain_line(p, hn_monotonic());
            }
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

struct hn_cli_progress *hn_cli_progress_start(struct hn_status *st, enum hn_verbosity v)
{
    const char *mode = getenv("HILNAS_PROGRESS");
    const char *term = getenv("TERM");
    if (v == HN_VERBOSITY_QUIET || (mode != NULL && strcmp(mode, "off") == 0)) {
        return NULL;
    }
    struct hn_cli_progress *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL; /* no status line; the log still works */
    }
    p->st = st;
    if (mode != NULL && strcmp(mode, "tty") == 0) {
        p->tty = 1;
    } else if (mode != NULL && strcmp(mode, "plain") == 0) {
        p->tty = 0;
    } else {
        p->tty = isatty(STDERR_FILENO) && !(term != NULL && strcmp(term, "dumb") == 0);
    }
    const char *iv = getenv("HILNAS_PROGRESS_INTERVAL");
    char *end = NULL;
    double seconds = iv != NULL ? strtod(iv, &end) : NAN;
    p->interval = end != NULL && end != iv && *end == '\0' && seconds >= 0 ? seconds : 30.0;
    p->last_line = hn_monotonic();
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    hn_status_observe(st, observer, p);
    hn_log_set_writer(writer, p);
    p->thread_started = pthread_create(&p->thread, NULL, ticker, p) == 0;
    return p;
}

void hn_cli_progress_stop(struct hn_cli_progress *p)
{
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (p->thread_started) {
        pthread_join(p->thread, NULL);
    }
    hn_log_set_writer(NULL, NULL);
    hn_status_observe(p->st, NULL, NULL);
    if (p->drawn) {
        put("\r\033[K", 4);
    }
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
