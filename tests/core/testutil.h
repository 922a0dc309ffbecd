/* Helpers for the core tests: real subprocesses, temporary directories, files. */
#ifndef HILNAS_TESTS_TESTUTIL_H
#define HILNAS_TESTS_TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* A fresh directory under $HN_TEST_TMPDIR (or /tmp); malloc'ed path. */
char *tu_tmpdir(const char *tag);
/* Whole file as a NUL-terminated string (malloc'ed), or NULL. */
char *tu_read_file(const char *path);
int tu_write_file(const char *path, const char *text);
/* Occurrences of needle in haystack. */
size_t tu_count(const char *haystack, const char *needle);
/* Path of the built hilnas CLI ($HILNAS). */
const char *tu_hilnas(void);
/*
 * Run argv (argv[0] is a path) with extra environment entries "K=V" (NULL-terminated, may be
 * NULL); capture stdout and stderr (malloc'ed, may be NULL). Returns the exit code, or 128+sig.
 */
int tu_run(char *const argv[], char *const env[], char **out, char **err);
/* Start argv in the background (stdout/stderr to files under dir); returns the pid. */
pid_t tu_spawn(char *const argv[], char *const env[], const char *log_path);
/* {"HILNAS_PLUGIN_PATH=<build>/tests/plugins-test", NULL}: the test-only plugins (static). */
char **tu_test_plugins_env(void);
/* The environment of an `mpirun` started by a test: the test plugins, Open MPI's consent to run
 * as root (CI containers run as root), and the sanitizer options it needs (static storage). */
char **tu_mpi_env(void);
/*
 * Write text to dir/study.yaml and run `hilnas cmd` on it (run: with --output dir/run);
 * stderr into *err (malloc'ed). Returns the exit code.
 */
int tu_run_study_text(const char *dir, const char *text, const char *cmd, char **err);
/* Source and build directories. */
const char *tu_srcdir(void);
const char *tu_builddir(void);

#endif
