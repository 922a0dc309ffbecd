/* llm/tokens.c: byte tokenizer, token files, batches (see tokens.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "llm/tokens.h"

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
    unsigned char *buf = malloc(2 * n + 1);
    if (buf == NULL) {
        return hn_error_set(err, path, "out of memory");
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
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return hn_error_set(err, path, "cannot open the token file: %s", strerror(errno));
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (len < 0 || len % 2 != 0) {
        fclose(f);
        return hn_error_set(err, path,
                            "is not a token file: %ld bytes is not a whole number of uint16 "
                            "tokens",
                            len);
    }
    unsigned char *buf = malloc((size_t)len + 1);
    uint16_t *t = malloc((size_t)len / 2 * sizeof(uint16_t) + 2);
    if (buf == NULL || t == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        free(t);
        fclose(f);
        return hn_error_set(err, path, "cannot read the token file");
    }
    fclose(f);
    for (long i = 0; i < len / 2; i++) {
        t[i] = (uint16_t)(buf[2 * i] | buf[2 * i + 1] << 8);
    }
    free(buf);
    *tokens = t;
    *n = (size_t)len / 2;
    return 0;
}

void hn_batch_sample(const uint16_t *tok, size_t n, int B, int T, struct hn_rng *rng, int *inputs,
                     int *targets)
{
    size_t starts = n - (size_t)T; /* windows of T+1 tokens */
    for (int b = 0; b < B; b++) {
        size_t s = (size_t)hn_rng_below(rng, starts);
        for (int t = 0; t < T; t++) {
            inputs[b * T + t] = tok[s + (size_t)t];
            targets[b * T + t] = tok[s + (size_t)t + 1];
        }
    }
}

int hn_window(const uint16_t *tok, size_t n, size_t i, int T, int *inputs, int *targets)
{
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
