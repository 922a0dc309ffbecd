/*
 * hilnas oracle "device": latency measured by an external command, on a phone (adb), a board
 * (ssh) or this machine.
 *
 *   oracles:
 *     phone:
 *       plugin: device
 *       command: "adb shell /data/local/tmp/bench --config - < {arch}"
 *       metrics: [prefill_ms, decode_ms]
 *       timeout_s: 600
 *
 * For each trial the architecture is written to <study>/trials/<id>/arch.json and `command` runs
 * under /bin/sh -c with its placeholders replaced: {arch} (that file), {workdir} (the trial's
 * directory), {trial} (the id), {seed} (the trial's seed). The command prints one JSON object on
 * the last non-empty line of its standard output: each metric a number, or {"value": v, "sem":
 * s} with a standard error. Its standard error output goes to <workdir>/device.log. A command
 * that exits non-zero, runs past timeout_s (its whole process group is killed), prints no JSON
 * object or misses a metric fails the trial with the reason (and the log's last line); the
 * study goes on.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "hilnas/evaluator.h"

#define MAX_METRICS 16
#define MAX_OUTPUT (1 << 20)

struct device {
    const char *command;
    const struct hn_config_node *metrics_node;
    double timeout_s;
    const char *metric[MAX_METRICS + 1];
};

static const struct hn_option device_options[] = {
    {.name = "command",
     .type = HN_OPT_STRING,
     .offset = offsetof(struct device, command),
     .help = "Shell command that measures {arch} and prints a JSON object of metrics."},
    {.name = "metrics",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct device, metrics_node),
     .help = "Names of the metrics the command prints, e.g. [prefill_ms, decode_ms] (required)."},
    {.name = "timeout_s",
     .type = HN_OPT_DOUBLE,
     .def = "600",
     .min = 0.01,
     .max = 1e7,
     .bounded = 1,
     .offset = offsetof(struct device, timeout_s),
     .help = "Seconds before the command is killed and the trial fails."},
    {.name = NULL},
};

static void device_destroy(void *ctx)
{
    free(ctx);
}

static void *device_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct device *d = calloc(1, sizeof(*d));
    char where[1024];
    if (d == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_apply(device_options, args->node, d, "oracle 'device'", "device", err) != 0) {
        free(d);
        return NULL;
    }
    const struct hn_config_node *m = d->metrics_node;
    if (m == NULL || m->type != HN_NODE_SEQUENCE || m->n == 0 || m->n > MAX_METRICS) {
        hn_error_config(err,
                        m ? hn_config_where(m, where, sizeof(where))
                          : (args->node ? hn_config_where(args->node, where, sizeof(where)) : NULL),
                        "oracle 'device': 'metrics' must list 1 to %d metric names the command "
                        "prints, e.g. metrics: [prefill_ms, decode_ms]",
                        MAX_METRICS);
        free(d);
        return NULL;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (hn_config_to_string(m->items[i], &d->metric[i], err) != 0) {
            free(d);
            return NULL;
        }
    }
    return d;
}

static const char *const *device_metric_names(void *ctx)
{
    return ((struct device *)ctx)->metric;
}

/* The command with its placeholders replaced (malloc'ed), or NULL. */
static char *expand(const char *tmpl, const char *arch, const char *workdir, long trial,
                    unsigned long long seed)
{
    size_t cap = strlen(tmpl) + 1, len = 0;
    char ids[2][32];
    snprintf(ids[0], sizeof(ids[0]), "%ld", trial);
    snprintf(ids[1], sizeof(ids[1]), "%llu", seed);
    const char *keys[4] = {"{arch}", "{workdir}", "{trial}", "{seed}"};
    const char *vals[4] = {arch, workdir, ids[0], ids[1]};
    for (const char *p = tmpl; *p; p++) {
        for (int k = 0; k < 4; k++) {
            if (strncmp(p, keys[k], strlen(keys[k])) == 0) {
                cap += strlen(vals[k]);
            }
        }
    }
    char *out = malloc(cap);
    if (out == NULL) {
        return NULL;
    }
    for (const char *p = tmpl; *p;) {
        int hit = 0;
        for (int k = 0; k < 4 && !hit; k++) {
            size_t kl = strlen(keys[k]);
            if (strncmp(p, keys[k], kl) == 0) {
                memcpy(out + len, vals[k], strlen(vals[k]));
                len += strlen(vals[k]);
                p += kl;
                hit = 1;
            }
        }
        if (!hit) {
            out[len++] = *p++;
        }
    }
    out[len] = '\0';
    return out;
}

/* The last line of a file (static buffer), for failure reasons. */
static const char *last_line(const char *path)
{
    static __thread char line[512];
    FILE *f = fopen(path, "r");
    char buf[512];
    line[0] = '\0';
    while (f != NULL && fgets(buf, sizeof(buf), f) != NULL) {
        size_t n = strcspn(buf, "\n");
        buf[n] = '\0';
        if (n > 0) {
            snprintf(line, sizeof(line), "%s", buf);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return line;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Run cmd; its stdout into *out (malloc'ed). Returns 0 and the exit status, or -1 with err. */
static int run_command(const char *cmd, const char *log, double timeout, char **out, int *status,
                       struct hn_error *err)
{
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        return hn_error_set(err, NULL, "cannot create a pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return hn_error_set(err, NULL, "cannot start the command: %s", strerror(errno));
    }
    if (pid == 0) {
        setpgid(0, 0); /* its own process group, killed whole on timeout */
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int devnull = open("/dev/null", O_RDONLY);
        dup2(pipefd[1], 1);
        if (fd >= 0) {
            dup2(fd, 2);
        }
        if (devnull >= 0) {
            dup2(devnull, 0);
        }
        close(pipefd[0]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    close(pipefd[1]);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    int timed_out = 0;
    double deadline = now_s() + timeout;
    while (buf != NULL) {
        double left = deadline - now_s();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
        int r = poll(&pfd, 1, left > 1.0 ? 1000 : (int)(left * 1000) + 1);
        if (r <= 0) {
            continue; /* timeout of this wait, or EINTR */
        }
        if (len == cap) {
            if (cap < MAX_OUTPUT) {
                char *grown = realloc(buf, 2 * cap + 1);
                if (grown == NULL) {
                    free(buf);
                    buf = NULL;
                    break;
                }
                buf = grown;
                cap *= 2;
            } else {
                /* a flood of output: keep the tail, where the JSON line is */
                memmove(buf, buf + cap / 2, cap - cap / 2);
                len = cap - cap / 2;
            }
        }
        ssize_t got = read(pipefd[0], buf + len, cap - len);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break; /* end of output */
        }
        len += (size_t)got;
    }
    close(pipefd[0]);
    if (timed_out) {
        kill(-pid, SIGKILL);
    }
    /* output closed: wait for the exit, still within the deadline */
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, timed_out ? 0 : WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR)) {
            break;
        }
        if (now_s() > deadline) {
            kill(-pid, SIGKILL);
            timed_out = 1;
        } else {
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
        }
    }
    if (buf == NULL) {
        return hn_error_set(err, NULL, "out of memory reading the command's output");
    }
    buf[len] = '\0';
    if (timed_out) {
        free(buf);
        return hn_error_set(err, NULL, "the command ran past timeout_s = %g s and was killed",
                            timeout);
    }
    *out = buf;
    *status = st;
    return 0;
}

static int device_evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                           struct hn_error *err)
{
    const struct device *d = ctx;
    char *arch_path = hn_path_join(req->work_dir, "arch.json");
    char *log_path = hn_path_join(req->work_dir, "device.log");
    json_t *empty = json_object();
    char *text = json_dumps(req->trial->arch ? req->trial->arch : empty,
                            JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(empty);
    char *cmd = NULL, *output = NULL;
    json_t *obj = NULL;
    int rc = -1, status = 0;
    if (arch_path == NULL || log_path == NULL || text == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    if (hn_write_file_atomic(arch_path, text, strlen(text), err) != 0) {
        goto done;
    }
    cmd =
        expand(d->command, arch_path, req->work_dir, req->trial->id, (unsigned long long)req->seed);
    if (cmd == NULL || run_command(cmd, log_path, d->timeout_s, &output, &status, err) != 0) {
        goto done;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        const char *tail = last_line(log_path);
        hn_error_set(err, NULL, "the command %s %d%s%s (log: %s)",
                     WIFEXITED(status) ? "exited with" : "was killed by signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                     tail[0] ? ": " : "", tail, log_path);
        goto done;
    }
    /* the last non-empty line of the output */
    char *line = NULL;
    for (char *p = strtok(output, "\n"); p != NULL; p = strtok(NULL, "\n")) {
        if (strspn(p, " \t\r") != strlen(p)) {
            line = p;
        }
    }
    json_error_t je;
    obj = line ? json_loads(line, 0, &je) : NULL;
    if (!json_is_object(obj)) {
        hn_error_set(err, NULL,
                     "the command printed no JSON object on its last line (got '%.200s'); print "
                     "e.g. {\"prefill_ms\": 12.5}",
                     line ? line : "");
        goto done;
    }
    for (size_t i = 0; d->metric[i] != NULL; i++) {
        json_t *v = json_object_get(obj, d->metric[i]);
        double value = NAN, sem = NAN;
        if (json_is_number(v)) {
            value = json_number_value(v);
        } else if (json_is_object(v) && json_is_number(json_object_get(v, "value"))) {
            value = json_number_value(json_object_get(v, "value"));
            json_t *s = json_object_get(v, "sem");
            sem = json_is_number(s) ? json_number_value(s) : NAN;
        }
        if (!isfinite(value)) {
            hn_error_set(err, NULL, "the command's output has no number for metric '%s': %.200s",
                         d->metric[i], line);
            goto done;
        }
        if (hn_metrics_put(out, d->metric[i], value, sem, err) != 0) {
            goto done;
        }
    }
    rc = 0;
done:
    json_decref(obj);
    free(output);
    free(cmd);
    free(text);
    free(arch_path);
    free(log_path);
    return rc;
}

static const struct hn_oracle_ops device_ops = {
    .size = sizeof(struct hn_oracle_ops),
    .create = device_create,
    .destroy = device_destroy,
    .metrics = device_metric_names,
    .evaluate = device_evaluate,
    .fit = NULL,
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_ORACLE),
    .name = "device",
    .summary = "Latency from an external command (adb, ssh or local) run on each architecture",
    .options = device_options,
    .oracle = &device_ops,
};
