/*
 * hilnas oracle "device": latency measured by an external command, on a phone (adb), a board
 * (ssh) or this machine.
 *
 *   oracles:
 *     phone:
 *       plugin: device
 *       command: [adb-bench, --config, "{arch}"]      # argv: no shell
 *       metrics: [prefill_ms, decode_ms]
 *       timeout_s: 600
 *
 * For each trial the architecture is written to <study>/trials/<id>/arch.json and `command`
 * runs with its placeholders replaced: {arch} (that file), {workdir} (the trial's directory),
 * {trial} (the id), {seed} (the trial's seed). No value is ever parsed by a shell:
 * - a list is the command's argv, each item's placeholders replaced by the plain values;
 * - a string runs under /bin/sh -c, and each path placeholder becomes a quoted reference to an
 *   environment variable (HILNAS_ARCH, HILNAS_WORKDIR; quoted for where it stands: bare, in
 *   '...' or in "..."); {trial} and {seed} become their digits.
 * Both forms also get HILNAS_ARCH, HILNAS_WORKDIR, HILNAS_TRIAL and HILNAS_SEED in their
 * environment. The command prints one JSON object on the last non-empty line of its standard
 * output (see parse.h). Its standard error goes to <workdir>/device.log (at most log_max_kb:
 * the first and last halves, with a note of what was dropped). How the command is run (process
 * group, no inherited descriptors, killed with hilnas, on timeout or on interrupt): run.h. A
 * command that exits non-zero or on a signal, runs past timeout_s, prints no JSON object or
 * misses a metric fails the trial with the reason (and its standard error's last line); the
 * study goes on. An interrupt (Ctrl-C) stops the running commands at once; their trials are
 * measured again on resume.
 *
 * Spread: a command may also print `<metric>_cv` (its own spread of the metric, e.g.
 * hilnas-bench's robust coefficient of variation). When some printed `_cv` exceeds `max_cv`, the
 * command runs again, up to `max_runs` runs in all; each metric is taken from the run where its
 * spread was smallest, and the trial gets `<metric>_cv` and `<metric>_settled` (1 when that
 * spread is at most max_cv), the same rules as the host oracle's.
 */
#define _GNU_SOURCE /* sigabbrev_np */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hilnas/evaluator.h"
#include "hilnas/util.h"
#include "plugins/oracle-device/parse.h"
#include "plugins/oracle-device/run.h"

#define MAX_METRICS 16

extern char **environ;

struct device {
    const struct hn_config_node *command_node;
    const struct hn_config_node *metrics_node;
    double timeout_s;
    int64_t log_max_kb, max_runs;
    double max_cv;
    const char *shell; /* the string form, or NULL */
    const char **argv; /* the list form (NULL-terminated), or NULL */
    const char *metric[MAX_METRICS + 1];
    char where[512]; /* of `command`, for messages */
};

static const struct hn_option device_options[] = {
    {.name = "command",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct device, command_node),
     .help = "The measuring command: a list (its argv, run without a shell) or a string (run by "
             "/bin/sh -c); {arch}, {workdir}, {trial}, {seed} are replaced (required)."},
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
     .help = "Seconds before the command's process group is killed and the trial fails."},
    {.name = "log_max_kb",
     .type = HN_OPT_INT,
     .def = "1024",
     .min = 1,
     .max = 1 << 20,
     .bounded = 1,
     .offset = offsetof(struct device, log_max_kb),
     .help = "Size cap of each trial's device.log (the command's standard error): its first and "
             "last halves are kept, with a note of what was dropped."},
    {.name = "max_cv",
     .type = HN_OPT_DOUBLE,
     .def = "0.03",
     .min = 0,
     .max = 10,
     .bounded = 1,
     .offset = offsetof(struct device, max_cv),
     .help = "Largest spread (<metric>_cv printed by the command) accepted without a re-run."},
    {.name = "max_runs",
     .type = HN_OPT_INT,
     .def = "3",
     .min = 1,
     .max = 100,
     .bounded = 1,
     .offset = offsetof(struct device, max_runs),
     .help = "Runs of the command at most while some printed <metric>_cv exceeds max_cv."},
    {.name = NULL},
};

static void device_destroy(void *ctx)
{
    struct device *d = ctx;
    if (d != NULL) {
        free(d->argv);
    }
    free(d);
}

static void *device_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct device *d = calloc(1, sizeof(*d));
    char where[1024];
    if (d == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_fill(device_options, args->node, d, err) != 0) {
        goto fail;
    }
    const struct hn_config_node *c = d->command_node;
    if (c == NULL || (c->type == HN_NODE_SCALAR && (c->is_null || c->value[0] == '\0')) ||
        (c->type == HN_NODE_SEQUENCE && c->n == 0) || c->type == HN_NODE_MAPPING) {
        hn_error_config(err,
                        c ? hn_config_where(c, where, sizeof(where))
                          : (args->node ? hn_config_where(args->node, where, sizeof(where)) : NULL),
                        "'command' must be the measuring command, as a list "
                        "(its argv, run without a shell: command: [adb-bench, \"{arch}\"]) or a "
                        "string (run by /bin/sh -c)");
        goto fail;
    }
    snprintf(d->where, sizeof(d->where), "%s", hn_config_where(c, where, sizeof(where)));
    if (c->type == HN_NODE_SCALAR) {
        d->shell = c->value;
    } else {
        d->argv = calloc(c->n + 1, sizeof(*d->argv));
        if (d->argv == NULL) {
            hn_error_set(err, NULL, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < c->n; i++) {
            if (hn_config_to_string(c->items[i], &d->argv[i], err) != 0) {
                goto fail;
            }
        }
        if (d->argv[0][0] == '\0') {
            hn_error_config(err, hn_config_where(c->items[0], where, sizeof(where)),
                            "the command's first item (the program) is empty");
            goto fail;
        }
    }
    const struct hn_config_node *m = d->metrics_node;
    if (m == NULL || m->type != HN_NODE_SEQUENCE || m->n == 0 || m->n > MAX_METRICS) {
        hn_error_config(err,
                        m ? hn_config_where(m, where, sizeof(where))
                          : (args->node ? hn_config_where(args->node, where, sizeof(where)) : NULL),
                        "'metrics' must list 1 to %d metric names the command "
                        "prints, e.g. metrics: [prefill_ms, decode_ms]",
                        MAX_METRICS);
        goto fail;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (hn_config_to_string(m->items[i], &d->metric[i], err) != 0) {
            goto fail;
        }
    }
    return d;
fail:
    device_destroy(d);
    return NULL;
}

static const char *const *device_metric_names(void *ctx)
{
    return ((struct device *)ctx)->metric;
}

/* ---- the command line ---- */

struct subst {
    const char *arch, *workdir;
    char trial[32], seed[32];
};

enum { P_ARCH, P_WORKDIR, P_TRIAL, P_SEED, P_NONE };

/* Which placeholder starts at p (its length in *len), or P_NONE. */
static int placeholder(const char *p, size_t *len)
{
    static const char *const keys[] = {"{arch}", "{workdir}", "{trial}", "{seed}"};
    for (int k = 0; k < P_NONE; k++) {
        size_t n = strlen(keys[k]);
        if (strncmp(p, keys[k], n) == 0) {
            *len = n;
            return k;
        }
    }
    return P_NONE;
}

/* A growing string. */
struct buf {
    char *s;
    size_t len, cap;
    int oom;
};

static void put(struct buf *b, const char *p, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *g = realloc(b->s, cap);
        if (g == NULL) {
            b->oom = 1;
            return;
        }
        b->s = g;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void puts_(struct buf *b, const char *p)
{
    put(b, p, strlen(p));
}

/* One list item with the plain values in place of its placeholders (malloc'ed), or NULL. */
static char *expand_arg(const char *tmpl, const struct subst *v)
{
    struct buf b = {0};
    put(&b, "", 0);
    for (const char *p = tmpl; *p;) {
        size_t n;
        switch (placeholder(p, &n)) {
        case P_ARCH:
            puts_(&b, v->arch);
            break;
        case P_WORKDIR:
            puts_(&b, v->workdir);
            break;
        case P_TRIAL:
            puts_(&b, v->trial);
            break;
        case P_SEED:
            puts_(&b, v->seed);
            break;
        default:
            n = 1;
            put(&b, p, 1);
            break;
        }
        p += n;
    }
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/*
 * The shell string with its placeholders replaced by references to the environment variables
 * that hold the values, quoted for the context they stand in (outside quotes, inside '...' or
 * inside "..."), so that the shell never parses a value: no injection, spaces are kept.
 * Numbers ({trial}, {seed}) are written as digits. malloc'ed, or NULL.
 */
static char *expand_shell(const char *tmpl, const struct subst *v)
{
    enum { BARE, SINGLE, DOUBLE } q = BARE;
    static const char *const var[] = {"HILNAS_ARCH", "HILNAS_WORKDIR"};
    struct buf b = {0};
    put(&b, "", 0);
    for (const char *p = tmpl; *p;) {
        size_t n;
        int k = placeholder(p, &n);
        if (k == P_TRIAL || k == P_SEED) {
            puts_(&b, k == P_TRIAL ? v->trial : v->seed);
            p += n;
            continue;
        }
        if (k == P_ARCH || k == P_WORKDIR) {
            const char *pre = q == BARE ? "\"$" : q == SINGLE ? "'\"$" : "${";
            const char *post = q == BARE ? "\"" : q == SINGLE ? "\"'" : "}";
            puts_(&b, pre);
            puts_(&b, var[k]);
            puts_(&b, post);
            p += n;
            continue;
        }
        /* the quoting state of a POSIX shell word, for the next placeholder */
        if (q != SINGLE && *p == '\\' && p[1] != '\0') {
            put(&b, p, 2);
            p += 2;
            continue;
        }
        if (q == BARE && *p == '\'') {
            q = SINGLE;
        } else if (q == SINGLE && *p == '\'') {
            q = BARE;
        } else if (q == BARE && *p == '"') {
            q = DOUBLE;
        } else if (q == DOUBLE && *p == '"') {
            q = BARE;
        }
        put(&b, p, 1);
        p++;
    }
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* "NAME=value" (malloc'ed). */
static char *env_entry(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 2;
    char *e = malloc(n);
    if (e != NULL) {
        snprintf(e, n, "%s=%s", name, value);
    }
    return e;
}

/* This process's environment with the four HILNAS_ values (the first four entries are
 * malloc'ed; free them and the array). */
static char **make_env(const struct subst *v)
{
    static const char *const ours[] = {
        "HILNAS_ARCH=", "HILNAS_WORKDIR=", "HILNAS_TRIAL=", "HILNAS_SEED="};
    size_t n = 0;
    while (environ != NULL && environ[n] != NULL) {
        n++;
    }
    char **env = calloc(n + 5, sizeof(*env));
    if (env == NULL) {
        return NULL;
    }
    env[0] = env_entry("HILNAS_ARCH", v->arch);
    env[1] = env_entry("HILNAS_WORKDIR", v->workdir);
    env[2] = env_entry("HILNAS_TRIAL", v->trial);
    env[3] = env_entry("HILNAS_SEED", v->seed);
    size_t k = 4;
    for (size_t i = 0; i < n; i++) {
        int mine = 0;
        for (int j = 0; j < 4; j++) {
            mine |= strncmp(environ[i], ours[j], strlen(ours[j])) == 0;
        }
        if (!mine) {
            env[k++] = environ[i];
        }
    }
    if (env[0] == NULL || env[1] == NULL || env[2] == NULL || env[3] == NULL) {
        for (int j = 0; j < 4; j++) {
            free(env[j]);
        }
        free(env);
        return NULL;
    }
    return env;
}

/* The program of a list command: itself when it names a path, else found on PATH (malloc'ed),
 * or NULL with err (an environment failure: the study stops). */
static char *find_program(const char *name, const char *where, struct hn_error *err)
{
    struct stat st;
    if (strchr(name, '/') != NULL) {
        if (stat(name, &st) != 0 || !S_ISREG(st.st_mode) || access(name, X_OK) != 0) {
            hn_error_env(err, where, "the command's program '%s' %s", name,
                         access(name, F_OK) != 0 ? "does not exist" : "is not executable");
            return NULL;
        }
        return strdup(name);
    }
    const char *path = getenv("PATH");
    if (path == NULL || path[0] == '\0') {
        path = "/usr/local/bin:/usr/bin:/bin";
    }
    for (const char *p = path;;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        size_t size = n + strlen(name) + 3;
        char *cand = malloc(size);
        if (cand == NULL) {
            hn_error_env(err, NULL, "out of memory");
            return NULL;
        }
        snprintf(cand, size, "%.*s/%s", (int)(n ? n : 1), n ? p : ".", name);
        if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
            return cand;
        }
        free(cand);
        if (colon == NULL) {
            break;
        }
        p = colon + 1;
    }
    hn_error_env(err, where,
                 "the command's program '%s' is not on PATH (%s): install it or give its path",
                 name, path);
    return NULL;
}

/* "killed by signal 11 (SIGSEGV)" and friends, thread-safely. */
static const char *signal_name(int sig)
{
    const char *n = sigabbrev_np(sig);
    return n != NULL ? n : "?";
}

/* The command of one trial: the program, its arguments and environment (all owned). */
struct command {
    char *program, *script, **argv, **envp;
    size_t argc;
};

static void command_free(struct command *cmd)
{
    for (size_t i = 0; cmd->argv != NULL && i < cmd->argc; i++) {
        free(cmd->argv[i]);
    }
    free(cmd->argv);
    for (int j = 0; cmd->envp != NULL && j < 4; j++) {
        free(cmd->envp[j]);
    }
    free(cmd->envp);
    free(cmd->program);
    free(cmd->script);
}

/*
 * The command with the trial's values in place of the placeholders: `sh -c` with the shell
 * form, else the list form with its program found on PATH. Returns 0, or -1 with err.
 */
static int build_command(const struct device *d, const struct subst *v, struct command *cmd,
                         struct hn_error *err)
{
    cmd->envp = make_env(v);
    if (d->shell != NULL) {
        cmd->argc = 3;
        cmd->argv = calloc(cmd->argc + 1, sizeof(*cmd->argv));
        cmd->script = expand_shell(d->shell, v);
        cmd->program = strdup("/bin/sh");
        if (cmd->argv != NULL && cmd->script != NULL) {
            cmd->argv[0] = strdup("sh");
            cmd->argv[1] = strdup("-c");
            cmd->argv[2] = strdup(cmd->script);
        }
    } else {
        while (d->argv[cmd->argc] != NULL) {
            cmd->argc++;
        }
        cmd->argv = calloc(cmd->argc + 1, sizeof(*cmd->argv));
        for (size_t i = 0; cmd->argv != NULL && i < cmd->argc; i++) {
            cmd->argv[i] = expand_arg(d->argv[i], v);
        }
        if (cmd->argv != NULL && cmd->argv[0] != NULL) {
            cmd->program = find_program(cmd->argv[0], d->where, err);
            if (cmd->program == NULL && err->kind == HN_ERR_ENVIRONMENT) {
                return -1;
            }
        }
    }
    int complete = cmd->envp != NULL && cmd->argv != NULL && cmd->program != NULL;
    for (size_t i = 0; complete && i < cmd->argc; i++) {
        complete = cmd->argv[i] != NULL;
    }
    return complete ? 0 : hn_error_env(err, NULL, "out of memory");
}

/* One run of the command: its metrics parsed from its output into got (and res). Returns 0,
 * or -1 with err (the command failed, or printed no metrics). */
static int run_once(const struct device *d, const struct hn_run_spec *spec,
                    struct hn_run_result *res, struct hn_metrics *got, struct hn_error *err)
{
    free(res->out);
    memset(res, 0, sizeof(*res));
    if (hn_run_command(spec, res, err) != 0) {
        return -1;
    }
    if (!WIFEXITED(res->status) || WEXITSTATUS(res->status) != 0) {
        char how[64];
        if (WIFEXITED(res->status)) {
            snprintf(how, sizeof(how), "exited with %d", WEXITSTATUS(res->status));
        } else {
            snprintf(how, sizeof(how), "was killed by signal %d (SIG%s)", WTERMSIG(res->status),
                     signal_name(WTERMSIG(res->status)));
        }
        return hn_error_set(err, NULL, "the command %s%s%s (log: %s)", how,
                            res->err_tail[0] ? ": " : "", res->err_tail, spec->log);
    }
    return hn_device_parse_output(res->out, res->out_len, d->metric, got, err);
}

/*
 * The spreads the run printed (optional "<metric>_cv"): each metric of got whose spread is the
 * least so far (or of the first run) goes into best. *settled: no printed spread exceeds
 * max_cv, or none was printed (no more runs needed). Returns 0, or -1 with err.
 */
static int keep_least_spread(const struct device *d, const struct hn_run_result *res,
                             const struct hn_metrics *got, int64_t run, double *best_cv,
                             struct hn_metrics *best, int *settled, struct hn_error *err)
{
    int unsettled = 0, any_cv = 0;
    for (size_t k = 0; d->metric[k] != NULL; k++) {
        char cv_name[160];
        const char *one[2] = {cv_name, NULL};
        struct hn_metrics cvm = {0};
        struct hn_error ignored;
        double cv = NAN;
        snprintf(cv_name, sizeof(cv_name), "%s_cv", d->metric[k]);
        if (hn_device_parse_output(res->out, res->out_len, one, &cvm, &ignored) == 0 &&
            cvm.n == 1) {
            cv = cvm.m[0].value;
            any_cv = 1;
        }
        hn_metrics_clear(&cvm);
        const struct hn_metric *mv = hn_metrics_get(got, d->metric[k]);
        double rank = isfinite(cv) ? cv : INFINITY;
        if (run == 0 || rank < best_cv[k]) {
            best_cv[k] = rank;
            if (mv != NULL && hn_metrics_put(best, d->metric[k], mv->value, mv->sem, err) != 0) {
                return -1;
            }
        }
        unsettled |= isfinite(cv) && cv > d->max_cv;
    }
    *settled = !any_cv || !unsettled;
    return 0;
}

/* The kept metrics into out, with "<metric>_cv" and "<metric>_settled" where a spread was
 * printed. */
static int put_best(const struct device *d, const struct hn_metrics *best, const double *best_cv,
                    struct hn_metrics *out, struct hn_error *err)
{
    for (size_t k = 0; d->metric[k] != NULL; k++) {
        const struct hn_metric *mv = hn_metrics_get(best, d->metric[k]);
        char name[160];
        if (mv == NULL || hn_metrics_put(out, d->metric[k], mv->value, mv->sem, err) != 0) {
            return -1;
        }
        if (isfinite(best_cv[k])) {
            snprintf(name, sizeof(name), "%s_cv", d->metric[k]);
            hn_metrics_put(out, name, best_cv[k], NAN, err);
            snprintf(name, sizeof(name), "%s_settled", d->metric[k]);
            hn_metrics_put(out, name, best_cv[k] <= d->max_cv ? 1.0 : 0.0, NAN, err);
        }
    }
    return 0;
}

/* The trial's architecture (an empty object when it has none) into path: an input of the
 * command, written anew for every measurement, so renamed into place without an fsync. */
static int write_arch(const struct hn_eval_request *req, const char *path, struct hn_error *err)
{
    json_t *empty = json_object();
    char *text = json_dumps(req->trial->arch ? req->trial->arch : empty,
                            JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(empty);
    int rc = text == NULL ? hn_error_set(err, NULL, "out of memory")
                          : hn_write_file_replace(path, text, strlen(text), err);
    free(text);
    return rc;
}

static int device_evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                           struct hn_error *err)
{
    const struct device *d = ctx;
    char *arch_path = hn_path_join(req->work_dir, "arch.json");
    char *log_path = hn_path_join(req->work_dir, "device.log");
    char what[64];
    struct command cmd = {0};
    struct hn_run_result res = {0};
    struct hn_metrics best = {0};
    double best_cv[MAX_METRICS];
    int rc = -1;
    if (arch_path == NULL || log_path == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    if (write_arch(req, arch_path, err) != 0) {
        goto done;
    }
    struct subst v = {.arch = arch_path, .workdir = req->work_dir};
    snprintf(v.trial, sizeof(v.trial), "%ld", req->trial->id);
    snprintf(v.seed, sizeof(v.seed), "%llu", (unsigned long long)req->seed);
    snprintf(what, sizeof(what), "trial %ld", req->trial->id);
    if (build_command(d, &v, &cmd, err) != 0) {
        goto done;
    }
    struct hn_run_spec spec = {.path = cmd.program,
                               .argv = cmd.argv,
                               .envp = cmd.envp,
                               .timeout_s = d->timeout_s,
                               .log = log_path,
                               .log_max = (size_t)d->log_max_kb * 1024,
                               .what = what,
                               .interrupted = hn_study_interrupted};
    for (size_t k = 0; k < MAX_METRICS; k++) {
        best_cv[k] = INFINITY;
    }
    for (int64_t run = 0; run < d->max_runs; run++) {
        /* a device measurement can take minutes: the status line says which run it is */
        hn_progress_update(req->progress, "running the device command", "run", (long)run + 1,
                           (long)d->max_runs);
        struct hn_metrics got = {0};
        int settled = 0;
        int fail = run_once(d, &spec, &res, &got, err) != 0 ||
                   keep_least_spread(d, &res, &got, run, best_cv, &best, &settled, err) != 0;
        hn_metrics_clear(&got);
        if (fail) {
            goto done;
        }
        if (settled) {
            break;
        }
    }
    if (put_best(d, &best, best_cv, out, err) != 0) {
        goto done;
    }
    rc = 0;
done:
    hn_metrics_clear(&best);
    free(res.out);
    command_free(&cmd);
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
