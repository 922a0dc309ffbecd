/*
 * Fuzz harness: journal replay (core/journal.c reading, core/replay.c's hn_replay_event),
 * the path of `hilnas show` and of a resume, on any bytes as journal.jsonl.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/journal.h"
#include "core/replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], path[128];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (dir[0] == '\0') {
        atexit(cleanup);
        snprintf(dir, sizeof(dir), "/tmp/hilnas-fuzz-journal.%ld", (long)getpid());
        mkdir(dir, 0700);
        snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
    }
    FILE *f = fopen(path, "wbe");
    if (f == NULL) {
        abort();
    }
    fwrite(data, 1, size, f);
    fclose(f);
    struct hn_replay r;
    memset(&r, 0, sizeof(r));
    struct hn_error err;
    int torn = 0;
    hn_journal_read(dir, hn_replay_event, &r, &torn, &err);
    hn_replay_free(&r);
    return 0;
}
