/* llm/tokens.c: byte tokenizer, token files, batches (see tokens.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hilnas/llm/tokens.h"
#include "hilnas/util.h"

void hn_bytes_encode(const unsigned char *bytes, size_t n, uint16_t *tokens)
{
    for (size_t i = 0; i < n; i++) {
        tokens[i] = bytes[i];
    }
}

int hn_bytes_decode(const uint16_t *tokens, size_t n, unsigned char *bytes)
{
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] > 255) {
            return -1;
        }
        bytes[i] = (unsigned char)tokens[i];
    }
    return 0;
}

int hn_tokens_write(const char *path, const uint16_t *tokens, size_t n, struct hn_error *err)
{
    if (n > (SIZE_MAX - 1) / 2) {
        return hn_error_set(err, path, "too many tokens (%zu)", n);
    }
    unsigned char *buf = malloc(2 * n + 1);
    if (buf == NULL) {
        return hn_error_set(err, path, "out of memory (%zu tokens)", n);
    }
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = (unsigned char)(tokens[i] & 0xff);
        buf[2 * i + 1] = (unsigned char)(tokens[i] >> 8);
    }
    int rc = hn_write_file_atomic(path, (const char *)buf, 2 * n, err);
    free(buf);
    return rc;
}

int hn_tokens_load(const char *path, uint16_t **tokens, size_t *n, struct hn_error *err)
{
    unsigned char *buf = NULL;
    uint16_t *t = NULL;
    int rc = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return hn_error_config(err, path,
                               "cannot open the token file: %s (make it with hilnas tokenize)",
                               hn_strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        hn_error_config(err, path, "not a regular file (a token file is expected)");
        goto fail;
    }
    size_t len = (size_t)st.st_size;
    if (len % 2 != 0) {
        hn_error_config(err, path,
                        "is not a token file: %zu bytes is not a whole number of uint16 tokens "
                        "(make it with hilnas tokenize)",
                        len);
        goto fail;
    }
    buf = malloc(len + 1);
    t = malloc(len / 2 * sizeof(uint16_t) + sizeof(uint16_t));
    if (buf == NULL || t == NULL) {
        hn_error_set(err, path, "out of memory (%zu bytes)", len);
        goto fail;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            hn_error_set(err, path, "cannot read the token file: %s",
                         r < 0 ? hn_strerror(errno) : "it shrank while being read");
            goto fail;
        }
        got += (size_t)r;
    }
    for (size_t i = 0; i < len / 2; i++) {
        t[i] = (uint16_t)(buf[2 * i] | buf[2 * i + 1] << 8);
    }
    *tokens = t;
    *n = len / 2;
    t = NULL;
    rc = 0;
fail:
    close(fd);
    free(buf);
    free(t);
    return rc;
}

int hn_tokens_check_vocab(const uint16_t *tok, size_t n, int vocab, const char *where,
                          struct hn_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if ((int)tok[i] >= vocab) {
            return hn_error_config(err, where,
                                   "token %zu is %u, outside the vocabulary 0..%d; the data were "
                                   "tokenized for another vocabulary",
                                   i, (unsigned)tok[i], vocab - 1);
        }
    }
    return 0;
}

int hn_batch_sample(const uint16_t *tok, size_t n, int B, int T, struct hn_rng *rng, int *inputs,
                    int *targets)
{
    if (B < 1 || T < 1 || n < (size_t)T + 1) {
        return -1;
    }
    size_t starts = n - (size_t)T; /* windows of T+1 tokens start at 0..n-T-1 */
    for (int b = 0; b < B; b++) {
        size_t s = (size_t)hn_rng_below(rng, starts);
        for (int t = 0; t < T; t++) {
            inputs[(size_t)b * T + t] = tok[s + (size_t)t];
            targets[(size_t)b * T + t] = tok[s + (size_t)t + 1];
        }
    }
    return 0;
}

int hn_window(const uint16_t *tok, size_t n, size_t i, int T, int *inputs, int *targets)
{
    if (T < 1 || i > (SIZE_MAX - 1) / (size_t)T - 1) {
        return 0;
    }
    size_t s = i * (size_t)T;
    if (s + (size_t)T + 1 > n) {
        return 0;
    }
    for (int t = 0; t < T; t++) {
        inputs[t] = tok[s + (size_t)t];
        targets[t] = tok[s + (size_t)t + 1];
    }
    return 1;
}
