/* Helpers for the core tests (see testutil.h). */
#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/core/testutil.h"

char *tu_tmpdir(const char *tag)
{
    const char *base = getenv("HN_TEST_TMPDIR");
    char templ[4096];
    snprintf(templ, sizeof(templ), "%s/%s.XXXXXX", base ? base : "/tmp", tag);
    if (mkdtemp(templ) == NULL) {
        return NULL;
    }
    return strdup(templ);
}

char *tu_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    size_t got = fread(buf, 1, (size_t)len, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

int tu_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return -1;
    }
    fputs(text, f);
    return fclose(f);
}

size_t tu_count(const char *haystack, const char *needle)
{
    size_t n = 0, len = strlen(needle);
    for (const char *p = haystack; p && (p = strstr(p, needle)) != NULL; p += len) {
        n++;
    }
    return n;
}

const char *tu_hilnas(void)
{
    const char *h = getenv("HILNAS");
    return h ? h : "../tools/hilnas";
}

const char *tu_srcdir(void)
{
    const char *s = getenv("abs_top_srcdir");
    return s ? s : "..";
}

const char *tu_builddir(void)
{
    const char *s = getenv("abs_top_builddir");
    return s ? s : "..";
}

char **tu_test_plugins_env(void)
{
    static char path[4300];
    static char *envp[2];
    snprintf(path, sizeof(path), "HILNAS_PLUGIN_PATH=%s/tests/plugins-test", tu_builddir());
    envp[0] = path;
    envp[1] = NULL;
    return envp;
}

char **tu_mpi_env(void)
{
    static char asan[1024];
    static char *envp[5];
    const char *given = getenv("ASAN_OPTIONS");
    /* Processes under mpirun keep leak checking; Open MPI's components are unloaded before
     * LSan reports, and the fast frame-pointer unwinder stops at their frames, so the stacks
     * of their allocations end in "<unknown module>" where .ci/lsan.supp cannot name them.
     * The slow unwinder reaches the named libraries (libevent, libopen-pal, ...). */
    snprintf(asan, sizeof(asan), "ASAN_OPTIONS=%s%sfast_unwind_on_malloc=0", given ? given : "",
             given && given[0] ? ":" : "");
    envp[0] = tu_test_plugins_env()[0];
    envp[1] = "OMPI_ALLOW_RUN_AS_ROOT=1";
    envp[2] = "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1";
    envp[3] = asan;
    envp[4] = NULL;
    return envp;
}

static void child_env(char *const env[])
{
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        putenv(env[i]);
    }
}

int tu_run(char *const argv[], char *const env[], char **out, char **err)
{
    char *dir = tu_tmpdir("run");
    char po[4200], pe[4200];
    snprintf(po, sizeof(po), "%s/stdout", dir);
    snprintf(pe, sizeof(pe), "%s/stderr", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fo, 1);
        dup2(fe, 2);
        child_env(env);
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (out) {
        *out = tu_read_file(po);
    }
    if (err) {
        *err = tu_read_file(pe);
    }
    unlink(po);
    unlink(pe);
    rmdir(dir);
    free(dir);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

pid_t tu_spawn(char *const argv[], char *const env[], const char *log_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        child_env(env);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int tu_run_study_text(const char *dir, const char *text, const char *cmd, char **err)
{
    char study[4500], out_dir[4500];
    snprintf(study, sizeof(study), "%s/study.yaml", dir);
    snprintf(out_dir, sizeof(out_dir), "%s/run", dir);
    if (tu_write_file(study, text) != 0) {
        return -1;
    }
    char *argv[] = {(char *)tu_hilnas(), (char *)cmd, study, "--output", out_dir, NULL};
    if (strcmp(cmd, "validate") == 0) {
        argv[3] = NULL;
    }
    char *out = NULL;
    int rc = tu_run(argv, NULL, &out, err);
    free(out);
    return rc;
}
