/* hilnas run: the study's preparation steps (see tools/prepare.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util.h"
#include "hilnas/log.h"
#include "tools/prepare.h"

/* The subcommands a step may run: they write a directory and resume or redo safely. */
static const char *const step_commands[] = {"tokenize", "pretrain", NULL};

/* ---- hashing: FNV-1a 64 over what the result depends on ---- */

static void fnv(uint64_t *h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        *h ^= p[i];
        *h *= 0x100000001b3ULL;
    }
}

static void fnv_str(uint64_t *h, const char *s)
{
    fnv(h, s, strlen(s) + 1);
}

static void fnv_stat(uint64_t *h, const struct stat *st)
{
    int64_t v[2] = {(int64_t)st->st_size, (int64_t)st->st_mtime};
    fnv(h, v, sizeof(v));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An argument naming a file adds its size and time; a directory, its regular files'. */
static void fnv_path(uint64_t *h, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return;
    }
    if (S_ISREG(st.st_mode)) {
        fnv_stat(h, &st);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        return;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **g = realloc(names, cap * sizeof(*names));
            if (g == NULL) {
                break;
            }
            names = g;
        }
        if ((names[n] = strdup(e->d_name)) != NULL) {
            n++;
        }
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char *p = hn_path_join(path, names[i]);
        if (p != NULL && lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            fnv_str(h, names[i]);
            fnv_stat(h, &st);
        }
        free(p);
        free(names[i]);
    }
    free(names);
}

/* ---- variables ---- */

/* Replace ${out} and ${prepare.NAME} (NAME an earlier step) in text; malloc'ed or NULL+err. */
static char *expand(const char *text, const char *out, const struct hn_prepared *p,
                    const struct hn_config_node *node, struct hn_error *err)
{
    size_t cap = strlen(text) + 1, len = 0;
    for (size_t i = 0; i < p->n; i++) {
        cap += strlen(p->dirs[i]);
    }
    cap += strlen(out) * (strlen(text) / 6 + 1);
    char *r = malloc(cap), where[1024];
    if (r == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    for (const char *c = text; *c;) {
        if (c[0] == '$' && c[1] == '{') {
            const char *end = strchr(c, '}');
            size_t nl = end ? (size_t)(end - c - 2) : 0;
            const char *val = NULL;
            if (end != NULL && nl == 3 && strncmp(c + 2, "out", 3) == 0) {
                val = out;
            }
            for (size_t i = 0; end != NULL && val == NULL && i < p->n; i++) {
                if (nl == 8 + strlen(p->names[i]) && strncmp(c + 2, "prepare.", 8) == 0 &&
                    strncmp(c + 10, p->names[i], nl - 8) == 0) {
                    val = p->dirs[i];
                }
            }
            if (val == NULL) {
                hn_error_config(err, hn_config_where(node, where, sizeof(where)),
                                "%s: '%.*s' is not defined here (a step may use ${out}, its "
                                "own directory, and ${prepare.NAME} of the steps above it)",
                                node->path, end ? (int)(end - c + 1) : (int)strlen(c), c);
                free(r);
                return NULL;
            }
            size_t vl = strlen(val);
            if (len + vl + 1 > cap) {
                cap = len + vl + strlen(c) + 1;
                char *g = realloc(r, cap);
                if (g == NULL) {
                    free(r);
                    hn_error_set(err, NULL, "out of memory");
                    return NULL;
                }
                r = g;
            }
            memcpy(r + len, val, vl);
            len += vl;
            c = end + 1;
            continue;
        }
        if (len + 2 > cap) {
            cap = 2 * cap + 16;
            char *g = realloc(r, cap);
            if (g == NULL) {
                free(r);
                hn_error_set(err, NULL, "out of memory");
                return NULL;
            }
            r = g;
        }
        r[len++] = *c++;
    }
    r[len] = '\0';
    return r;
}

static void free_argv(char **argv)
{
    for (size_t i = 0; argv != NULL && argv[i] != NULL; i++) {
        free(argv[i]);
    }
    free(argv);
}

/* argv of the step ("hilnas", subcommand, args..., NULL) with out substituted. */
static char **step_argv(const struct hn_config_node *run, const char *out,
                        const struct hn_prepared *p, struct hn_error *err)
{
    char **argv = calloc(run->n + 2, sizeof(char *));
    if (argv == NULL || (argv[0] = strdup("hilnas")) == NULL) {
        free(argv);
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < run->n; i++) {
        const char *v;
        if (hn_config_to_string(run->items[i], &v, err) != 0 ||
            (argv[i + 1] = expand(v, out, p, run->items[i], err)) == NULL) {
            free_argv(argv);
            return NULL;
        }
    }
    return argv;
}

/* ---- the journal of the cache ---- */

static void journal(const char *cache, json_t *ev)
{
    char *path = hn_path_join(cache, "journal.jsonl");
    json_object_set_new(ev, "time", json_real(hn_now()));
    char *line = json_dumps(ev, JSON_COMPACT);
    int fd = path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
    if (fd >= 0 && line != NULL) {
        size_t len = strlen(line);
        line[len] = '\n'; /* replaces the NUL; written with its length */
        if (write(fd, line, len + 1) == (ssize_t)(len + 1)) {
            fsync(fd);
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    free(line);
    free(path);
    json_decref(ev);
}

static json_t *argv_json(char **argv)
{
    json_t *a = json_array();
    for (size_t i = 0; argv[i] != NULL; i++) {
        json_array_append_new(a, json_string(argv[i]));
    }
    return a;
}

/* ---- running one step ---- */

/* Run this hilnas with argv, stdout to stdout_path; the child dies with us (a killed run
 * leaves no orphan writing into the step's directory). */
static int run_child(char **argv, const char *stdout_path, int *status, struct hn_error *err)
{
    int fd = open(stdout_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return hn_error_env(err, stdout_path, "cannot create: %s", hn_strerror(errno));
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent || dup2(fd, STDOUT_FILENO) < 0) {
            _exit(127);
        }
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(fd);
    if (pid < 0) {
        return hn_error_env(err, NULL, "cannot start 'hilnas %s': %s", argv[1], hn_strerror(errno));
    }
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR) {
            return hn_error_env(err, NULL, "waiting for 'hilnas %s': %s", argv[1],
                                hn_strerror(errno));
        }
    }
    return 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int run_step(const char *cache, const char *name, const char *dir,
                    const struct hn_config_node *run, const struct hn_prepared *p, int quiet,
                    struct hn_error *err)
{
    size_t dl = strlen(dir);
    char *partial = malloc(dl + 16), *lockp = malloc(dl + 16);
    char **argv = NULL;
    int lock = -1, rc = -1;
    if (partial == NULL || lockp == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    snprintf(partial, dl + 16, "%s.partial", dir);
    snprintf(lockp, dl + 16, "%s.lock", dir);
    lock = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0) {
        hn_error_env(err, lockp, "cannot create the step's lock: %s", hn_strerror(errno));
        goto done;
    }
    if (flock(lock, LOCK_EX | LOCK_NB) != 0) {
        hn_log(HN_LOG_INFO, "prepare %s: waiting for another hilnas preparing %s", name, dir);
        if (flock(lock, LOCK_EX) != 0) {
            hn_error_env(err, lockp, "cannot lock: %s", hn_strerror(errno));
            goto done;
        }
    }
    if (is_dir(dir)) { /* the other process finished it */
        rc = 0;
        goto done;
    }
    int resumed = is_dir(partial);
    if (hn_mkdir_p(partial, err) != 0) {
        err->kind = HN_ERR_ENVIRONMENT;
        goto done;
    }
    if ((argv = step_argv(run, partial, p, err)) == NULL) {
        goto done;
    }
    if (quiet && strcmp(argv[1], "pretrain") == 0) {
        /* its own progress line is the only output it has besides errors; not part of the
         * step's hash (computed without it), so a quiet run reuses a loud run's result */
        char **g = realloc(argv, (run->n + 3) * sizeof(char *));
        if (g == NULL) {
            hn_error_set(err, NULL, "out of memory");
            goto done;
        }
        argv = g;
        argv[run->n + 1] = strdup("--quiet");
        argv[run->n + 2] = NULL;
        if (argv[run->n + 1] == NULL) {
            hn_error_set(err, NULL, "out of memory");
            goto done;
        }
    }
    if (!quiet) {
        hn_log(HN_LOG_INFO, "prepare %s: %s 'hilnas %s' in %s", name,
               resumed ? "resuming" : "running", argv[1], partial);
    }
    journal(cache, json_pack("{s:s, s:s, s:s, s:o, s:b}", "event", "prepare_started", "step", name,
                             "dir", dir, "argv", argv_json(argv), "resumed", resumed));
    double t0 = hn_monotonic();
    char *out_path = hn_path_join(partial, "step.out");
    int status = 0;
    if (out_path == NULL || run_child(argv, out_path, &status, err) != 0) {
        free(out_path);
        goto done;
    }
    free(out_path);
    double seconds = hn_monotonic() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char why[64];
        if (WIFEXITED(status)) {
            snprintf(why, sizeof(why), "exit %d", WEXITSTATUS(status));
        } else {
            snprintf(why, sizeof(why), "signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        }
        journal(cache, json_pack("{s:s, s:s, s:s, s:s, s:f}", "event", "prepare_failed", "step",
                                 name, "dir", dir, "why", why, "seconds", seconds));
        hn_error_env(err, NULL,
                     "prepare %s: 'hilnas %s' failed (%s); its messages are above, its output "
                     "in %s/step.out; run again to resume, or delete %s to start it over",
                     name, argv[1], why, partial, partial);
        goto done;
    }
    json_t *info = json_pack("{s:s, s:o, s:f, s:f, s:s}", "step", name, "argv", argv_json(argv),
                             "seconds", seconds, "finished", hn_now(), "hilnas", PACKAGE_VERSION);
    char *text = json_dumps(info, JSON_INDENT(2));
    char *info_path = hn_path_join(partial, "prepared.json");
    json_decref(info);
    rc = text && info_path ? hn_write_file_atomic(info_path, text, strlen(text), err) : -1;
    free(text);
    free(info_path);
    if (rc != 0) {
        err->kind = HN_ERR_ENVIRONMENT;
        goto done;
    }
    rc = -1;
    if (rename(partial, dir) != 0 || hn_fsync_dir(cache, err) != 0) {
        hn_error_env(err, dir, "cannot publish the step's result: %s", hn_strerror(errno));
        goto done;
    }
    journal(cache, json_pack("{s:s, s:s, s:s, s:f}", "event", "prepare_completed", "step", name,
                             "dir", dir, "seconds", seconds));
    if (!quiet) {
        hn_log(HN_LOG_INFO, "prepare %s: done in %.1f s: %s", name, seconds, dir);
    }
    rc = 0;
done:
    if (lock >= 0) {
        close(lock);
    }
    free_argv(argv);
    free(partial);
    free(lockp);
    return rc;
}

static int add(struct hn_prepared *p, const char *name, const char *dir, int done)
{
    size_t n = p->n + 1;
    char **v = realloc(p->vars, n * sizeof(char *));
    if (v != NULL) {
        p->vars = v;
    }
    char **nm = realloc(p->names, n * sizeof(char *));
    if (nm != NULL) {
        p->names = nm;
    }
    char **d = realloc(p->dirs, n * sizeof(char *));
    if (d != NULL) {
        p->dirs = d;
    }
    int *dn = realloc(p->done, n * sizeof(int));
    if (dn != NULL) {
        p->done = dn;
    }
    if (v == NULL || nm == NULL || d == NULL || dn == NULL) {
        return -1;
    }
    size_t len = strlen(name) + strlen(dir) + 16;
    p->vars[p->n] = malloc(len);
    p->names[p->n] = strdup(name);
    p->dirs[p->n] = strdup(dir);
    p->done[p->n] = done;
    if (p->vars[p->n] != NULL) {
        snprintf(p->vars[p->n], len, "prepare.%s=%s", name, dir);
    }
    p->n = n;
    return p->vars[n - 1] && p->names[n - 1] && p->dirs[n - 1] ? 0 : -1;
}

int hn_prepare(const struct hn_config_node *root, const char *cache, int dry, int quiet,
               struct hn_prepared *out, struct hn_error *err)
{
    char where[1024];
    memset(out, 0, sizeof(*out));
    const struct hn_config_node *prep = hn_config_get(root, "prepare");
    if (prep == NULL || prep->is_null) {
        return 0;
    }
    if (hn_config_expect(prep, HN_NODE_MAPPING, err) != 0) {
        return -1;
    }
    if (!dry && hn_mkdir_p(cache, err) != 0) {
        err->kind = HN_ERR_ENVIRONMENT;
        return -1;
    }
    for (size_t i = 0; i < prep->n; i++) {
        const char *name = prep->keys[i];
        const struct hn_config_node *step = prep->items[i];
        static const char *const keys[] = {"run", NULL};
        if (hn_config_check_keys(step, keys, "prepare step", err) != 0) {
            return -1;
        }
        if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                strlen(name) ||
            strlen(name) > 64) {
            return hn_error_config(err, hn_config_where(prep->key_nodes[i], where, sizeof(where)),
                                   "prepare: step name '%s' must be letters, digits, '_' or "
                                   "'-' (at most 64)",
                                   name);
        }
        const struct hn_config_node *run = hn_config_get(step, "run");
        if (run == NULL || run->type != HN_NODE_SEQUENCE || run->n == 0) {
            return hn_error_config(err, hn_config_where(run ? run : step, where, sizeof(where)),
                                   "%s: needs 'run: [COMMAND, ARGS...]' with COMMAND one of "
                                   "tokenize, pretrain",
                                   step->path);
        }
        const char *cmd;
        if (hn_config_to_string(run->items[0], &cmd, err) != 0) {
            return -1;
        }
        int known = 0;
        for (size_t k = 0; step_commands[k] != NULL; k++) {
            known |= strcmp(cmd, step_commands[k]) == 0;
        }
        if (!known) {
            return hn_error_config(err, hn_config_where(run->items[0], where, sizeof(where)),
                                   "%s: '%s' is not a preparation command (tokenize, pretrain)",
                                   run->items[0]->path, cmd);
        }
        /* the hash sees ${out} unexpanded: the directory is what it names */
        char **argv = step_argv(run, "${out}", out, err);
        if (argv == NULL) {
            return -1;
        }
        uint64_t h = 0xcbf29ce484222325ULL;
        fnv_str(&h, PACKAGE_VERSION);
        fnv_str(&h, name);
        for (size_t k = 1; argv[k] != NULL; k++) {
            fnv_str(&h, argv[k]);
            fnv_path(&h, argv[k]);
        }
        free_argv(argv);
        char base[128];
        snprintf(base, sizeof(base), "%s-%016llx", name, (unsigned long long)h);
        char *dir = hn_path_join(cache, base);
        if (dir == NULL || add(out, name, dir, is_dir(dir)) != 0) {
            free(dir);
            return hn_error_set(err, NULL, "out of memory");
        }
        if (!dry && !out->done[i]) {
            if (run_step(cache, name, dir, run, out, quiet, err) != 0) {
                free(dir);
                return -1;
            }
            out->done[i] = 1;
        } else if (!dry && !quiet) {
            hn_log(HN_LOG_INFO, "prepare %s: cached in %s", name, dir);
        }
        free(dir);
    }
    return 0;
}

void hn_prepared_free(struct hn_prepared *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->vars[i]);
        free(p->names[i]);
        free(p->dirs[i]);
    }
    free(p->vars);
    free(p->names);
    free(p->dirs);
    free(p->done);
    memset(p, 0, sizeof(*p));
}
