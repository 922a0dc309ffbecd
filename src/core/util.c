/* hilnas core internals: small helpers. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

char *hn_strdup_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0) {
        return NULL;
    }
    char *s = malloc((size_t)len + 1);
    if (s != NULL) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)len + 1, fmt, ap);
        va_end(ap);
    }
    return s;
}

struct dup_entry {
    const char *name;
    size_t index;
};

static int dup_cmp(const void *a, const void *b)
{
    const struct dup_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0) {
        return c;
    }
    return (x->index > y->index) - (x->index < y->index);
}

long hn_find_duplicate(const char *const *names, size_t n, long *first)
{
    *first = -1;
    if (n < 2) {
        return -1;
    }
    struct dup_entry *e = malloc(n * sizeof(*e));
    if (e == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        e[i].name = names[i];
        e[i].index = i;
    }
    qsort(e, n, sizeof(*e), dup_cmp);
    long second = -1;
    for (size_t k = 0; k + 1 < n;) {
        size_t run = k;
        while (run + 1 < n && strcmp(e[run + 1].name, e[k].name) == 0) {
            run++;
        }
        if (run > k && (second < 0 || (long)e[k + 1].index < second)) {
            second = (long)e[k + 1].index;
            *first = (long)e[k].index;
        }
        k = run + 1;
    }
    free(e);
    return second;
}

double hn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double hn_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* strerror_r is the XSI one (int) or the GNU one (char *) depending on feature macros */
static inline const char *strerror_pick_int(int rc, const char *buf)
{
    return rc == 0 ? buf : NULL;
}

static inline const char *strerror_pick_ptr(const char *msg, const char *buf)
{
    (void)buf;
    return msg;
}

const char *hn_strerror(int errnum)
{
    static __thread char buf[160];
    buf[0] = '\0';
    __typeof__(strerror_r(errnum, buf, sizeof(buf))) r = strerror_r(errnum, buf, sizeof(buf));
    const char *msg = _Generic(r, int : strerror_pick_int, default : strerror_pick_ptr)(r, buf);
    if (msg == NULL || msg[0] == '\0') {
        snprintf(buf, sizeof(buf), "error %d", errnum);
        msg = buf;
    }
    return msg;
}

int hn_mkdir_p(const char *path, struct hn_error *err)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf)) {
        return hn_error_set(err, path, "directory path is empty or too long");
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char saved = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                return hn_error_set(err, buf, "cannot create directory: %s", hn_strerror(errno));
            }
            buf[i] = saved;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return hn_error_set(err, path, "exists but is not a directory; choose another output");
    }
    return 0;
}

char *hn_path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (s == NULL) {
        return NULL;
    }
    memcpy(s, a, la);
    size_t off = la;
    if (la > 0 && a[la - 1] != '/') {
        s[off++] = '/';
    }
    memcpy(s + off, b, lb + 1);
    return s;
}

char *hn_strdup(const char *s)
{
    return s == NULL ? NULL : strdup(s);
}

int hn_fsync_dir(const char *dir, struct hn_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return hn_error_set(err, dir, "cannot open directory to sync it: %s", hn_strerror(errno));
    }
    int rc = fsync(fd);
    close(fd);
    if (rc != 0 && errno != EINVAL) {
        return hn_error_set(err, dir, "fsync failed: %s", hn_strerror(errno));
    }
    return 0;
}

/* The directory part of path ("." when it has none) in a new string; NULL on out of memory. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        return strdup(".");
    }
    if (slash == path) {
        return strdup("/");
    }
    return strndup(path, (size_t)(slash - path));
}

/* data into a temporary file beside path, renamed over path; with durable, the file is fsync'ed
 * before the rename and its directory after it. */
static int write_replace(const char *path, const char *data, size_t len, int durable,
                         struct hn_error *err)
{
    char *tmp = hn_strdup_printf("%s.tmp.%ld", path, (long)getpid());
    int rc = -1;
    if (tmp == NULL) {
        return hn_error_set(err, path, "out of memory");
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        hn_error_set(err, tmp, "cannot create: %s", hn_strerror(errno));
        goto done;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            hn_error_set(err, tmp, "write failed: %s (is the disk full?)", hn_strerror(errno));
            close(fd);
            unlink(tmp);
            goto done;
        }
        off += (size_t)w;
    }
    if ((durable && fsync(fd) != 0) || close(fd) != 0) {
        hn_error_set(err, tmp, "%s failed: %s", durable ? "fsync/close" : "close",
                     hn_strerror(errno));
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        hn_error_set(err, path, "cannot rename %s into place: %s", tmp, hn_strerror(errno));
        unlink(tmp);
        goto done;
    }
    if (durable) {
        char *dir = dir_of(path);
        if (dir == NULL) {
            hn_error_set(err, path, "out of memory");
            goto done;
        }
        int sync_rc = hn_fsync_dir(dir, err);
        free(dir);
        if (sync_rc != 0) {
            goto done;
        }
    }
    rc = 0;
done:
    free(tmp);
    return rc;
}

int hn_write_file_atomic(const char *path, const char *data, size_t len, struct hn_error *err)
{
    return write_replace(path, data, len, 1, err);
}

int hn_write_file_replace(const char *path, const char *data, size_t len, struct hn_error *err)
{
    return write_replace(path, data, len, 0, err);
}

void hn_roff_text(const char *s, FILE *out)
{
    if (s[0] == '.' || s[0] == '\'') {
        fputs("\\&", out);
    }
    for (; *s != '\0'; s++) {
        if (*s == '\\') {
            fputs("\\e", out);
        } else if (*s == '-') {
            fputs("\\-", out);
        } else {
            fputc(*s == '\n' ? ' ' : *s, out);
        }
    }
}
