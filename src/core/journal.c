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
 * What a journal holds, piece by piece. A line is normally one event. A power loss can leave
 * NUL bytes where data was never written (at the tail, or inside the last block, with intact
 * events after them); a disk or a hand can leave garbage. Each NUL-free fragment of a line with
 * NUL bytes that parses as a complete event is recovered; what does not parse is damage.
 */
struct piece {
    long line;  /* 1-based */
    size_t off; /* bytes of the piece in the buffer */
    size_t len;
    json_t *ev;    /* an event, or NULL for damage */
    size_t nuls;   /* damage: NUL bytes in its line */
    char why[160]; /* damage: what is wrong */
    int recovered; /* event: found after NUL bytes */
};

struct scan {
    struct piece *p;
    size_t n, cap;
    int torn;        /* the last line has no newline and is not an event */
    size_t torn_off; /* where the torn line starts */
    long damaged;    /* damaged lines */
    long first_damaged, last_damaged;
    long synced_after; /* line of the first synced event after the first damage, or 0 */
};

static void scan_free(struct scan *sc)
{
    for (size_t i = 0; i < sc->n; i++) {
        json_decref(sc->p[i].ev);
    }
    free(sc->p);
    memset(sc, 0, sizeof(*sc));
}

static struct piece *scan_add(struct scan *sc)
{
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? 2 * sc->cap : 256;
        struct piece *g = realloc(sc->p, cap * sizeof(*g));
        if (g == NULL) {
            return NULL;
        }
        sc->p = g;
        sc->cap = cap;
    }
    struct piece *pc = &sc->p[sc->n++];
    memset(pc, 0, sizeof(*pc));
    return pc;
}

/* A JSON event object with a string "event", or NULL (why filled). */
static json_t *parse_event(const char *text, size_t len, char *why, size_t size)
{
    json_error_t jerr;
    json_t *ev = json_loadb(text, len, 0, &jerr);
    if (ev == NULL) {
        snprintf(why, size, "not JSON: %.140s", jerr.text);
        return NULL;
    }
    if (!json_is_object(ev) || !json_is_string(json_object_get(ev, "event"))) {
        snprintf(why, size, "not an event object");
        json_decref(ev);
        return NULL;
    }
    return ev;
}

/* Events the writer fsyncs before going on; only "started" is written without a sync. */
static int is_synced(const json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "event"));
    return type != NULL && strcmp(type, "started") != 0;
}

/* Split buf into pieces (see struct piece). -1 with err only when out of memory. */
static int scan_buffer(const char *path, const char *buf, size_t len, struct scan *sc,
                       struct hn_error *err)
{
    size_t pos = 0;
    long line = 0;
    memset(sc, 0, sizeof(*sc));
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len, next = nl ? end + 1 : len;
        const char *text = buf + pos;
        size_t tlen = end - pos, nuls = 0;
        line++;
        for (size_t i = 0; i < tlen; i++) {
            nuls += text[i] == '\0';
        }
        if (nuls == 0 && strspn(text, " \t\r") >= tlen) {
            pos = next; /* blank */
            continue;
        }
        if (nuls == 0) {
            char why[160];
            json_t *ev = parse_event(text, tlen, why, sizeof(why));
            if (ev == NULL && nl == NULL) {
                sc->torn = 1; /* crash mid-write: the last line has no newline yet */
                sc->torn_off = pos;
                break;
            }
            struct piece *pc = scan_add(sc);
            if (pc == NULL) {
                json_decref(ev);
                return hn_error_set(err, path, "out of memory reading the journal");
            }
            *pc = (struct piece){.line = line, .off = pos, .len = tlen, .ev = ev};
            if (ev == NULL) {
                snprintf(pc->why, sizeof(pc->why), "%s", why);
            }
        } else {
            /* the whole line is damage; complete events among its fragments are recovered */
            struct piece *pc = scan_add(sc);
            if (pc == NULL) {
                return hn_error_set(err, path, "out of memory reading the journal");
            }
            *pc = (struct piece){.line = line, .off = pos, .len = tlen, .nuls = nuls};
            snprintf(pc->why, sizeof(pc->why), "%zu NUL byte%s (what a power loss leaves)", nuls,
                     nuls == 1 ? "" : "s");
            size_t i = 0;
            while (i < tlen) {
                while (i < tlen && text[i] == '\0') {
                    i++;
                }
                size_t f = i;
                while (i < tlen && text[i] != '\0') {
                    i++;
                }
                if (i > f && strspn(text + f, " \t\r") < i - f) {
                    char why[160];
                    json_t *ev = parse_event(text + f, i - f, why, sizeof(why));
                    if (ev != NULL) {
                        struct piece *rp = scan_add(sc);
                        if (rp == NULL) {
                            json_decref(ev);
                            return hn_error_set(err, path, "out of memory reading the journal");
                        }
                        *rp = (struct piece){
                            .line = line, .off = pos + f, .len = i - f, .ev = ev, .recovered = 1};
                    }
                }
            }
        }
        pos = next;
    }
    for (size_t i = 0; i < sc->n; i++) {
        const struct piece *pc = &sc->p[i];
        if (pc->ev == NULL) {
            if (sc->damaged == 0) {
                sc->first_damaged = pc->line;
            }
            sc->damaged++;
            sc->last_damaged = pc->line;
        } else if (sc->damaged > 0 && sc->synced_after == 0 && is_synced(pc->ev)) {
            sc->synced_after = pc->line;
        }
    }
    return 0;
}

/* "12, 13 and 20" (at most 8 named), into buf. */
static void damaged_lines(const struct scan *sc, char *buf, size_t size)
{
    size_t off = 0;
    long shown = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sc->n && off < size; i++) {
        if (sc->p[i].ev != NULL) {
            continue;
        }
        if (shown == 8) {
            snprintf(buf + off, size - off, " and %ld more", sc->damaged - shown);
            break;
        }
        int w = snprintf(buf + off, size - off, "%s%ld (%s)", shown ? ", " : "", sc->p[i].line,
                         sc->p[i].why);
        off += w > 0 ? (size_t)w : 0;
        shown++;
    }
}

/* Replay the events of a scan through fn; -1 with err (prefixed with path:line). */
static int replay(const char *path, const struct scan *sc, hn_journal_event_fn fn, void *data,
                  long *events, struct hn_error *err)
{
    *events = 0;
    for (size_t i = 0; i < sc->n; i++) {
        const struct piece *pc = &sc->p[i];
        if (pc->ev == NULL) {
            continue;
        }
        if (pc->recovered) {
            hn_log(HN_LOG_WARNING, "%s:%ld: recovered a complete '%s' event after NUL bytes", path,
                   pc->line, json_string_value(json_object_get(pc->ev, "event")));
        }
        if (fn != NULL && fn(pc->ev, pc->line, data, err) != 0) {
            hn_error_prefix(err, "%s:%ld", path, pc->line);
            return -1;
        }
        (*events)++;
    }
    return 0;
}

/*
 * Damage with a synced event after it cannot be what a power loss leaves (everything before a
 * sync is on disk): an acknowledged event may be lost. Refuse unless repairing.
 */
static int check_damage(const char *path, const struct scan *sc, int repair, int writing,
                        struct hn_error *err)
{
    char list[1024];
    if (sc->damaged == 0) {
        return 0;
    }
    damaged_lines(sc, list, sizeof(list));
    if (sc->synced_after != 0 && !repair) {
        char where[4200];
        snprintf(where, sizeof(where), "%s:%ld", path, sc->first_damaged);
        return hn_error_set(
            err, where,
            "damaged journal: line%s %s; an event that hilnas syncs follows the damage (line "
            "%ld), so this is not what a power loss leaves and a recorded trial may be lost. "
            "Restore the journal from a backup, or run again with --repair-journal to move the "
            "damaged lines to journal.damaged and resume with every readable event (trials "
            "whose events were damaged are run again)",
            sc->damaged == 1 ? "" : "s", list, sc->synced_after);
    }
    if (writing) {
        hn_log(HN_LOG_WARNING,
               "%s: damaged line%s %s; %s: the damaged lines are moved to journal.damaged "
               "(next to the journal) and the study goes on with every readable event; trials "
               "that were running are run again",
               path, sc->damaged == 1 ? "" : "s", list,
               sc->synced_after == 0
                   ? "nothing hilnas had synced follows them (the signature of a power loss), "
                     "so no recorded trial was lost"
                   : "repairing as asked (--repair-journal); a recorded trial may have been lost");
    } else {
        hn_log(HN_LOG_WARNING, "%s: damaged line%s %s; shown without them%s", path,
               sc->damaged == 1 ? "" : "s", list,
               sc->synced_after == 0 ? "" : " (a recorded trial may be missing)");
    }
    return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/*
 * Move the damaged lines (and a torn tail) to DIR/journal.damaged (appended, after a header
 * line) and replace the journal, atomically, by its readable events. 0 or -1 with err.
 */
static int quarantine(const char *dir, const char *path, const char *buf, size_t len,
                      const struct scan *sc, struct hn_error *err)
{
    char *dpath = hn_path_join(dir, "journal.damaged");
    char *tmp = hn_path_join(dir, HN_JOURNAL_FILE ".repair");
    int dfd = -1, tfd = -1, rc = -1;
    if (dpath == NULL || tmp == NULL) {
        hn_error_set(err, dir, "out of memory");
        goto done;
    }
    dfd = open(dpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (dfd < 0) {
        hn_error_set(err, dpath, "cannot open to quarantine damaged journal lines: %s",
                     hn_strerror(errno));
        goto done;
    }
    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "# hilnas: damaged lines of %s quarantined at unix time %.0f (each line "
                      "follows as it was, NUL bytes included)\n",
                      HN_JOURNAL_FILE, hn_now());
    int bad = write_all(dfd, head, (size_t)hl);
    for (size_t i = 0; i < sc->n && !bad; i++) {
        if (sc->p[i].ev == NULL) {
            bad = write_all(dfd, buf + sc->p[i].off, sc->p[i].len) || write_all(dfd, "\n", 1);
        }
    }
    if (!bad && sc->torn) {
        bad = write_all(dfd, buf + sc->torn_off, len - sc->torn_off) || write_all(dfd, "\n", 1);
    }
    if (bad || fsync(dfd) != 0) {
        hn_error_set(err, dpath, "cannot write the quarantined lines: %s", hn_strerror(errno));
        goto done;
    }
    tfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (tfd < 0) {
        hn_error_set(err, tmp, "cannot create: %s", hn_strerror(errno));
        goto done;
    }
    for (size_t i = 0; i < sc->n && !bad; i++) {
        if (sc->p[i].ev != NULL) {
            bad = write_all(tfd, buf + sc->p[i].off, sc->p[i].len) || write_all(tfd, "\n", 1);
        }
    }
    if (bad || fsync(tfd) != 0) {
        hn_error_set(err, tmp, "cannot write the repaired journal: %s", hn_strerror(errno));
        goto done;
    }
    if (rename(tmp, path) != 0) {
        hn_error_set(err, path, "cannot replace by the repaired journal: %s", hn_strerror(errno));
        goto done;
    }
    rc = hn_fsync_dir(dir, err);
done:
    if (dfd >= 0) {
        close(dfd);
    }
    if (tfd >= 0) {
        close(tfd);
    }
    if (rc != 0 && tmp != NULL) {
        unlink(tmp);
    }
    free(dpath);
    free(tmp);
    return rc;
}

struct hn_journal *hn_journal_open(const char *dir, hn_journal_event_fn fn, void *data,
                                   struct hn_error *err)
{
    return hn_journal_open_repair(dir, fn, data, 0, err);
}

struct hn_journal *hn_journal_open_repair(const char *dir, hn_journal_event_fn fn, void *data,
                                          int repair, struct hn_error *err)
{
    struct hn_journal *j = calloc(1, sizeof(*j));
    char *lock_path = NULL;
    char *buf = NULL;
    struct scan sc;
    memset(&sc, 0, sizeof(sc));
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

    size_t len = 0;
    buf = slurp(j->path, &len, err);
    if (buf == NULL || scan_buffer(j->path, buf, len, &sc, err) != 0 ||
        check_damage(j->path, &sc, repair, 1, err) != 0 ||
        replay(j->path, &sc, fn, data, &j->events, err) != 0) {
        goto fail;
    }
    if (sc.damaged > 0 && quarantine(dir, j->path, buf, len, &sc, err) != 0) {
        goto fail;
    }
    j->fd = open(j->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (j->fd < 0) {
        hn_error_set(err, j->path, "cannot open for appending: %s", hn_strerror(errno));
        goto fail;
    }
    if (sc.torn && sc.damaged == 0) {
        hn_log(HN_LOG_WARNING,
               "%s: torn last line (%zu bytes, the previous run stopped mid-write) dropped; "
               "the trial it described, if any, will be treated as unfinished",
               j->path, len - sc.torn_off);
        if (ftruncate(j->fd, (off_t)sc.torn_off) != 0 || fsync(j->fd) != 0) {
            hn_error_set(err, j->path, "cannot truncate the torn last line: %s",
                         hn_strerror(errno));
            goto fail;
        }
    }
    if (len == 0 && hn_fsync_dir(dir, err) != 0) {
        goto fail;
    }
    scan_free(&sc);
    free(buf);
    free(lock_path);
    return j;
fail:
    scan_free(&sc);
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
    struct hn_journal_status st;
    int rc = hn_journal_read_status(dir, fn, data, &st, err);
    if (torn != NULL) {
        *torn = st.torn;
    }
    return rc;
}

int hn_journal_read_status(const char *dir, hn_journal_event_fn fn, void *data,
                           struct hn_journal_status *st, struct hn_error *err)
{
    memset(st, 0, sizeof(*st));
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
    size_t len = 0;
    long events = 0;
    struct scan sc;
    memset(&sc, 0, sizeof(sc));
    char *buf = slurp(path, &len, err);
    int rc = -1;
    if (buf != NULL && scan_buffer(path, buf, len, &sc, err) == 0 &&
        check_damage(path, &sc, 1, 0, err) == 0) {
        rc = replay(path, &sc, fn, data, &events, err);
    }
    st->torn = sc.torn;
    st->damaged = sc.damaged;
    st->first_damaged = sc.first_damaged;
    st->synced_after_damage = sc.synced_after;
    scan_free(&sc);
    free(buf);
    free(path);
    return rc;
}
