/* hilnas: the crash-safe study journal (see core/journal.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/journal.h"
#include "core/util.h"
#include "hilnas/log.h"

struct hn_journal {
    char *path;
    int fd;
    int lock_fd;
    long events;
};

/* Read a whole file; *len set. NULL with err (a missing file gives an empty buffer). */
static char *slurp(const char *path, size_t *len, struct hn_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *len = 0;
            return calloc(1, 1);
        }
        hn_error_set(err, path, "cannot open: %s", hn_strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        hn_error_set(err, path, "cannot stat: %s", hn_strerror(errno));
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (buf == NULL) {
        hn_error_set(err, path, "out of memory reading %zu bytes", size);
        close(fd);
        return NULL;
    }
    size_t off = 0;
    while (off < size) {
        ssize_t r = read(fd, buf + off, size - off);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        off += (size_t)r;
    }
    close(fd);
    buf[off] = '\0';
    *len = off;
    return buf;
}

/*
 * Parse buf line by line. Returns the byte length of the good prefix (everything up to the
 * last complete line) in *good, sets *torn, calls fn. -1 with err on a damaged line.
 */
static int parse_events(const char *path, char *buf, size_t len, hn_journal_event_fn fn,
                        void *data, size_t *good, int *torn, long *events,
                        struct hn_error *err)
{
    size_t pos = 0;
    long line = 0;
    *torn = 0;
    *events = 0;
    while (pos < len) {
        char *nl = memchr(buf + pos, '\n', len - pos);
        line++;
        if (nl == NULL) {
            *torn = 1; /* crash mid-write: no newline yet */
            break;
        }
        *nl = '\0';
        const char *text = buf + pos;
        size_t next = (size_t)(nl - buf) + 1;
        if (strspn(text, " \t\r") == strlen(text)) {
            pos = next;
            continue;
        }
        json_error_t jerr;
        json_t *ev = json_loads(text, 0, &jerr);
        if (ev == NULL || !json_is_object(ev) || !json_is_string(json_object_get(ev, "event"))) {
            char where[4200];
            snprintf(where, sizeof(where), "%s:%ld", path, line);
            hn_error_set(err, where,
                         "damaged journal line (%s); the study cannot be replayed safely: "
                         "restore the file from a backup or remove the line by hand",
                         ev ? "not an event object" : jerr.text);
            json_decref(ev);
            return -1;
        }
        int rc = fn ? fn(ev, line, data, err) : 0;
        json_decref(ev);
        if (rc != 0) {
            char where[4200];
            snprintf(where, sizeof(where), "%s:%ld", path, line);
            hn_error_prefix(err, "%s", where);
            return -1;
        }
        (*events)++;
        pos = next;
    }
    *good = pos;
    return 0;
}

struct hn_journal *hn_journal_open(const char *dir, hn_journal_event_fn fn, void *data,
                                   struct hn_error *err)
{
    struct hn_journal *j = calloc(1, sizeof(*j));
    char *lock_path = NULL;
    char *buf = NULL;
    if (j == NULL) {
        hn_error_set(err, dir, "out of memory");
        return NULL;
    }
    j->fd = -1;
    j->lock_fd = -1;
    if (hn_mkdir_p(dir, err) != 0) {
        goto fail;
    }
    lock_path = hn_path_join(dir, "lock");
    j->path = hn_path_join(dir, HN_JOURNAL_FILE);
    if (lock_path == NULL || j->path == NULL) {
        hn_error_set(err, dir, "out of memory");
        goto fail;
    }
    j->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (j->lock_fd < 0) {
        hn_error_set(err, lock_path, "cannot open lock file: %s", hn_strerror(errno));
        goto fail;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(j->lock_fd, F_SETLK, &fl) != 0) {
        char pid[32] = "";
        ssize_t r = pread(j->lock_fd, pid, sizeof(pid) - 1, 0);
        pid[r > 0 ? r : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        hn_error_set(err, dir,
                     "study directory is in use by another hilnas process (pid %s); wait "
                     "for it to finish, or stop it, then run again (completed trials are kept)",
                     pid[0] ? pid : "unknown");
        goto fail;
    }
    char pidline[32];
    int pl = snprintf(pidline, sizeof(pidline), "%ld\n", (long)getpid());
    if (ftruncate(j->lock_fd, 0) != 0 || pwrite(j->lock_fd, pidline, (size_t)pl, 0) != pl) {
        hn_log(HN_LOG_WARNING, "%s: cannot record the pid in the lock file", lock_path);
    }

    size_t len = 0, good = 0;
    int torn = 0;
    buf = slurp(j->path, &len, err);
    if (buf == NULL) {
        goto fail;
    }
    if (parse_events(j->path, buf, len, fn, data, &good, &torn, &j->events, err) != 0) {
        goto fail;
    }
    j->fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (j->fd < 0) {
        hn_error_set(err, j->path, "cannot open for appending: %s", hn_strerror(errno));
        goto fail;
    }
    if (torn) {
        hn_log(HN_LOG_WARNING,
               "%s: torn last line (%zu bytes, the previous run stopped mid-write) dropped; "
               "the trial it described, if any, will be treated as unfinished",
               j->path, len - good);
        if (ftruncate(j->fd, (off_t)good) != 0 || fsync(j->fd) != 0) {
            hn_error_set(err, j->path, "cannot truncate the torn last line: %s",
                         hn_strerror(errno));
            goto fail;
        }
    }
    if (len == 0 && hn_fsync_dir(dir, err) != 0) {
        goto fail;
    }
    free(buf);
    free(lock_path);
    return j;
fail:
    free(buf);
    free(lock_path);
    hn_journal_close(j);
    return NULL;
}

int hn_journal_append(struct hn_journal *journal, const json_t *event, int sync,
                      struct hn_error *err)
{
    char *text = json_dumps(event, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    if (text == NULL) {
        return hn_error_set(err, journal->path, "cannot encode a journal event (NaN value?)");
    }
    size_t len = strlen(text);
    char *line = realloc(text, len + 2);
    if (line == NULL) {
        free(text);
        return hn_error_set(err, journal->path, "out of memory");
    }
    line[len] = '\n';
    line[len + 1] = '\0';
    /* One write() per line: O_APPEND makes it land whole at the end. */
    size_t off = 0;
    while (off < len + 1) {
        ssize_t w = write(journal->fd, line + off, len + 1 - off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            free(line);
            return hn_error_set(err, journal->path,
                                "cannot append to the journal: %s (free disk space, then run "
                                "again: completed trials are kept)",
                                hn_strerror(errno));
        }
        off += (size_t)w;
    }
    free(line);
    if (sync && fdatasync(journal->fd) != 0) {
        return hn_error_set(err, journal->path, "fsync failed: %s", hn_strerror(errno));
    }
    journal->events++;
    return 0;
}

long hn_journal_events(const struct hn_journal *journal)
{
    return journal->events;
}

void hn_journal_close(struct hn_journal *journal)
{
    if (journal == NULL) {
        return;
    }
    if (journal->fd >= 0) {
        fsync(journal->fd);
        close(journal->fd);
    }
    if (journal->lock_fd >= 0) {
        close(journal->lock_fd); /* releases the lock */
    }
    free(journal->path);
    free(journal);
}

int hn_journal_read(const char *dir, hn_journal_event_fn fn, void *data, int *torn,
                    struct hn_error *err)
{
    char *path = hn_path_join(dir, HN_JOURNAL_FILE);
    if (path == NULL) {
        return hn_error_set(err, dir, "out of memory");
    }
    if (access(path, R_OK) != 0) {
        hn_error_config(err, dir, "not a study directory: %s is missing or unreadable (%s)",
                        HN_JOURNAL_FILE, hn_strerror(errno));
        free(path);
        return -1;
    }
    size_t len = 0, good = 0;
    long events = 0;
    int t = 0;
    char *buf = slurp(path, &len, err);
    int rc = -1;
    if (buf != NULL) {
        rc = parse_events(path, buf, len, fn, data, &good, &t, &events, err);
    }
    if (torn != NULL) {
        *torn = t;
    }
    free(buf);
    free(path);
    return rc;
}
