/*
 * hilnas tokenize TEXT... -o DIR [--val-fraction F] [--seed S]
 *
 * Byte-level tokenization (token = byte) into DIR/train.bin and DIR/val.bin. The split is by
 * document: each input file is a document, except fortune files (a line holding only "%"
 * separates fortunes), whose fortunes are the documents. Document i goes to val.bin when a
 * uniform draw seeded by (seed, i) is below F (default 0.1; at least one document each side
 * when there are two or more). Documents are joined with a newline token.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "hilnas/rng.h"
#include "llm/tokens.h"
#include "tools/cli.h"

struct docs {
    size_t n, cap;
    char **text;
    size_t *len;
};

static int add_doc(struct docs *d, const char *s, size_t len)
{
    if (len == 0) {
        return 0;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 256;
        char **t = realloc(d->text, cap * sizeof(char *));
        size_t *l = t ? realloc(d->len, cap * sizeof(size_t)) : NULL;
        if (t) {
            d->text = t;
        }
        if (l == NULL) {
            return -1;
        }
        d->len = l;
        d->cap = cap;
    }
    d->text[d->n] = malloc(len);
    if (d->text[d->n] == NULL) {
        return -1;
    }
    memcpy(d->text[d->n], s, len);
    d->len[d->n++] = len;
    return 0;
}

/* Split a fortune file at lines holding only "%"; a file without them is one document. */
static int split_file(struct docs *d, const char *buf, size_t len)
{
    size_t start = 0, pos = 0;
    int fortune = 0;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) + 1 : len;
        if (end - pos == 2 && buf[pos] == '%') {
            fortune = 1;
            if (add_doc(d, buf + start, pos - start) != 0) {
                return -1;
            }
            start = end;
        }
        pos = end;
    }
    (void)fortune;
    return add_doc(d, buf + start, len - start);
}

int hn_cmd_tokenize(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"val-fraction", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 's'},   {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    double frac = 0.1;
    unsigned long long seed = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:f:s:hV", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'f':
            frac = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(frac >= 0 && frac < 1)) {
                return hn_cli_usage_error(argv[0], "--val-fraction must be in [0, 1), found '%s'",
                                          optarg);
            }
            break;
        case 's':
            seed = strtoull(optarg, &end, 10);
            if (end == optarg || *end != '\0') {
                return hn_cli_usage_error(argv[0], "--seed must be an integer, found '%s'", optarg);
            }
            break;
        case 'h':
            printf("usage: hilnas tokenize TEXT... -o DIR [--val-fraction F] [--seed S]\n\n"
                   "Byte-level tokens (vocabulary 256) of the text files into DIR/train.bin and "
                   "DIR/val.bin\n(little-endian uint16, no header). Each file is a document, "
                   "fortune files ('%%' lines)\nsplit into fortunes; a seeded fraction F "
                   "(default 0.1) of documents goes to val.bin.\n");
            return 0;
        case 'V':
            return hn_cli_version(argv[0]);
        default:
            return hn_cli_usage_error(argv[0], "unknown or incomplete option '%s'",
                                      argv[optind - 1]);
        }
    }
    if (out == NULL) {
        return hn_cli_usage_error(argv[0], "missing -o DIR");
    }
    if (optind >= argc) {
        return hn_cli_usage_error(argv[0], "no input text files");
    }
    struct docs d = {0};
    int code = 1;
    struct hn_error err;
    uint16_t *train = NULL, *val = NULL;
    size_t total = 0;
    for (int i = optind; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (f == NULL) {
            fprintf(stderr, "hilnas: tokenize: %s: cannot open: %s\n", argv[i], strerror(errno));
            code = 2;
            goto done;
        }
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = malloc(len > 0 ? (size_t)len : 1);
        size_t got = buf && len > 0 ? fread(buf, 1, (size_t)len, f) : 0;
        fclose(f);
        if (buf == NULL || split_file(&d, buf, got) != 0) {
            free(buf);
            fprintf(stderr, "hilnas: tokenize: out of memory\n");
            goto done;
        }
        free(buf);
    }
    for (size_t i = 0; i < d.n; i++) {
        total += d.len[i] + 1;
    }
    train = malloc((total + 1) * sizeof(uint16_t));
    val = malloc((total + 1) * sizeof(uint16_t));
    if (train == NULL || val == NULL) {
        fprintf(stderr, "hilnas: tokenize: out of memory\n");
        goto done;
    }
    size_t nt = 0, nv = 0, dt = 0, dv = 0;
    for (size_t i = 0; i < d.n; i++) {
        struct hn_rng rng;
        hn_rng_seed(&rng, hn_rng_derive(seed, i));
        int to_val = hn_rng_uniform(&rng) < frac;
        if (d.n >= 2 && frac > 0 && i == d.n - 1 && dv == 0) {
            to_val = 1; /* at least one validation document */
        }
        if (d.n >= 2 && i == d.n - 1 && dt == 0) {
            to_val = 0;
        }
        uint16_t *dst = to_val ? val + nv : train + nt;
        hn_bytes_encode((const unsigned char *)d.text[i], d.len[i], dst);
        dst[d.len[i]] = '\n';
        if (to_val) {
            nv += d.len[i] + 1;
            dv++;
        } else {
            nt += d.len[i] + 1;
            dt++;
        }
    }
    if (hn_mkdir_p(out, &err) != 0) {
        fprintf(stderr, "hilnas: tokenize: %s\n", err.msg);
        goto done;
    }
    char *pt = hn_path_join(out, "train.bin"), *pv = hn_path_join(out, "val.bin");
    int rc = hn_tokens_write(pt, train, nt, &err);
    if (rc == 0) {
        rc = hn_tokens_write(pv, val, nv, &err);
    }
    free(pt);
    free(pv);
    if (rc != 0) {
        fprintf(stderr, "hilnas: tokenize: %s\n", err.msg);
        goto done;
    }
    printf("{\"documents\": %zu, \"train_documents\": %zu, \"val_documents\": %zu, "
           "\"train_tokens\": %zu, \"val_tokens\": %zu}\n",
           d.n, dt, dv, nt, nv);
    code = 0;
done:
    for (size_t i = 0; i < d.n; i++) {
        free(d.text[i]);
    }
    free(d.text);
    free(d.len);
    free(train);
    free(val);
    return code;
}
