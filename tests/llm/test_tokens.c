/*
 * Byte tokens, token files, batch sampling, sequential windows, and `hilnas tokenize` on real
 * files (temporary texts and, when installed, the fortunes corpus).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hilnas/llm/tokens.h"
#include "hilnas/rng.h"
#include "tests/core/testutil.h"

static char *join(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(*len + 1);
    cr_assert_eq(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

static void spill(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
}

Test(tokens, every_byte_and_random_binary_round_trip)
{
    unsigned char all[256], back[256];
    uint16_t tok[256];
    for (int i = 0; i < 256; i++) {
        all[i] = (unsigned char)i;
    }
    hn_bytes_encode(all, 256, tok);
    for (int i = 0; i < 256; i++) {
        cr_assert_eq(tok[i], i, "token = byte value");
    }
    cr_assert_eq(hn_bytes_decode(tok, 256, back), 0);
    cr_expect_eq(memcmp(all, back, 256), 0);
    /* random binary, invalid UTF-8 and NULs included */
    enum { N = 1 << 16 };
    unsigned char *bin = malloc(N), *out = malloc(N);
    uint16_t *t = malloc(N * sizeof(uint16_t));
    struct hn_rng rng;
    hn_rng_seed(&rng, 1);
    for (size_t i = 0; i < N; i++) {
        bin[i] = (unsigned char)hn_rng_next(&rng);
    }
    bin[0] = 0xc3; /* a lone UTF-8 lead byte */
    bin[1] = 0;
    hn_bytes_encode(bin, N, t);
    cr_assert_eq(hn_bytes_decode(t, N, out), 0);
    cr_expect_eq(memcmp(bin, out, N), 0);
    t[N - 1] = 256;
    cr_expect_eq(hn_bytes_decode(t, N, out), -1, "token 256 is outside the byte vocabulary");
    free(bin);
    free(out);
    free(t);
}

Test(tokens, token_files_are_little_endian_uint16_and_round_trip)
{
    char *dir = tu_tmpdir("tokf");
    char *path = join(dir, "t.bin");
    enum { N = 5000 };
    uint16_t *tok = malloc(N * sizeof(uint16_t));
    struct hn_rng rng;
    hn_rng_seed(&rng, 2);
    for (size_t i = 0; i < N; i++) {
        tok[i] = (uint16_t)hn_rng_next(&rng);
    }
    tok[0] = 0x0102;
    tok[1] = 0xffff;
    tok[2] = 0x00ff;
    struct hn_error err;
    cr_assert_eq(hn_tokens_write(path, tok, N, &err), 0, "%s", err.msg);
    size_t len;
    unsigned char *raw = slurp(path, &len);
    cr_expect_eq(len, 2 * N, "no header");
    cr_expect(raw[0] == 0x02 && raw[1] == 0x01, "low byte first");
    cr_expect(raw[2] == 0xff && raw[3] == 0xff && raw[4] == 0xff && raw[5] == 0);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(raw[2 * i] | raw[2 * i + 1] << 8, tok[i], "token %zu on disk", i);
    }
    free(raw);
    uint16_t *back;
    size_t n;
    cr_assert_eq(hn_tokens_load(path, &back, &n, &err), 0, "%s", err.msg);
    cr_expect(n == N && memcmp(back, tok, N * sizeof(uint16_t)) == 0);
    free(back);
    /* a file written by hand (as numpy's uint16 tofile writes it) */
    static const unsigned char by_hand[6] = {0x68, 0x00, 0x69, 0x00, 0x00, 0x01};
    spill(path, by_hand, sizeof(by_hand));
    cr_assert_eq(hn_tokens_load(path, &back, &n, &err), 0, "%s", err.msg);
    cr_expect(n == 3 && back[0] == 'h' && back[1] == 'i' && back[2] == 256);
    free(back);
    /* overwrite with nothing: an empty token file is valid */
    cr_assert_eq(hn_tokens_write(path, tok, 0, &err), 0, "%s", err.msg);
    cr_assert_eq(hn_tokens_load(path, &back, &n, &err), 0, "%s", err.msg);
    cr_expect(n == 0 && back != NULL);
    free(back);
    /* errors name the path */
    spill(path, "abc", 3);
    cr_expect_eq(hn_tokens_load(path, &back, &n, &err), -1);
    cr_expect(strstr(err.msg, path) != NULL && strstr(err.msg, "whole number") != NULL, "%s",
              err.msg);
    cr_expect_eq(hn_tokens_load(dir, &back, &n, &err), -1);
    cr_expect(strstr(err.msg, "not a regular file") != NULL, "%s", err.msg);
    cr_expect_eq(hn_tokens_load("/nonexistent/t.bin", &back, &n, &err), -1);
    cr_expect(strstr(err.msg, "/nonexistent/t.bin: cannot open") != NULL, "%s", err.msg);
    cr_expect_eq(hn_tokens_write("/nonexistent/t.bin", tok, 3, &err), -1);
    cr_expect(strstr(err.msg, "/nonexistent/t.bin") != NULL, "%s", err.msg);
    free(tok);
    free(path);
    free(dir);
}

Test(tokens, batches_are_seeded_windows_with_shifted_targets)
{
    enum { NTOK = 1000, B = 6, T = 16 };
    uint16_t tok[NTOK];
    for (int i = 0; i < NTOK; i++) {
        tok[i] = (uint16_t)i; /* a token tells its position */
    }
    int in1[B * T], tg1[B * T], in2[B * T], tg2[B * T];
    struct hn_rng r1, r2, expect;
    hn_rng_seed(&r1, 5);
    hn_rng_seed(&r2, 5);
    hn_rng_seed(&expect, 5);
    cr_assert_eq(hn_batch_sample(tok, NTOK, B, T, &r1, in1, tg1), 0);
    cr_assert_eq(hn_batch_sample(tok, NTOK, B, T, &r2, in2, tg2), 0);
    cr_expect(memcmp(in1, in2, sizeof(in1)) == 0 && memcmp(tg1, tg2, sizeof(tg1)) == 0,
              "same seed, same batch");
    cr_expect(memcmp(&r1, &r2, sizeof(r1)) == 0);
    for (int b = 0; b < B; b++) {
        /* the documented draw: start b is hn_rng_below(rng, n - T) */
        int s = (int)hn_rng_below(&expect, NTOK - T);
        for (int t = 0; t < T; t++) {
            cr_assert_eq(in1[b * T + t], s + t, "row %d is the window at %d", b, s);
            cr_assert_eq(tg1[b * T + t], s + t + 1, "targets are inputs shifted by one");
        }
    }
    /* the next batch differs, and another seed gives another batch */
    cr_assert_eq(hn_batch_sample(tok, NTOK, B, T, &r1, in2, tg2), 0);
    cr_expect(memcmp(in1, in2, sizeof(in1)) != 0);
    hn_rng_seed(&r2, 6);
    cr_assert_eq(hn_batch_sample(tok, NTOK, B, T, &r2, in2, tg2), 0);
    cr_expect(memcmp(in1, in2, sizeof(in1)) != 0);

    /* every start 0..n-T-1 is reachable, the last token included, and nothing beyond */
    enum { SMALL = T + 4 };
    int seen[SMALL] = {0};
    int in[T], tg[T];
    for (int k = 0; k < 400; k++) {
        cr_assert_eq(hn_batch_sample(tok, SMALL, 1, T, &r2, in, tg), 0);
        cr_assert(in[0] >= 0 && in[0] <= SMALL - T - 1, "start %d", in[0]);
        cr_assert(tg[T - 1] <= SMALL - 1);
        seen[in[0]]++;
    }
    for (int s = 0; s <= SMALL - T - 1; s++) {
        cr_expect(seen[s] > 50, "start %d drawn %d times of 400 (4 starts)", s, seen[s]);
    }
    /* exactly T+1 tokens: one window; fewer: refused, rng untouched */
    cr_expect_eq(hn_batch_sample(tok, T + 1, 1, T, &r2, in, tg), 0);
    cr_expect(in[0] == 0 && tg[T - 1] == T);
    struct hn_rng before = r2;
    cr_expect_eq(hn_batch_sample(tok, T, 1, T, &r2, in, tg), -1);
    cr_expect_eq(hn_batch_sample(tok, NTOK, 0, T, &r2, in, tg), -1);
    cr_expect_eq(hn_batch_sample(tok, NTOK, 1, 0, &r2, in, tg), -1);
    cr_expect(memcmp(&before, &r2, sizeof(r2)) == 0);
}

Test(tokens, sequential_windows_start_at_multiples_of_T)
{
    uint16_t tok[40];
    for (int i = 0; i < 40; i++) {
        tok[i] = (uint16_t)(1000 + i);
    }
    int in[8], tg[8];
    for (size_t n = 0; n <= 40; n++) {
        for (int T = 1; T <= 8; T++) {
            size_t fits = 0;
            for (size_t i = 0; i < 50; i++) {
                if (!hn_window(tok, n, i, T, in, tg)) {
                    /* brute force: window i needs tokens i*T .. i*T+T */
                    cr_assert(i * (size_t)T + (size_t)T >= n, "n %zu T %d window %zu", n, T, i);
                    continue;
                }
                fits++;
                for (int t = 0; t < T; t++) {
                    cr_assert_eq(in[t], tok[i * (size_t)T + (size_t)t]);
                    cr_assert_eq(tg[t], tok[i * (size_t)T + (size_t)t + 1]);
                }
            }
            cr_assert_eq(fits, n > 0 ? (n - 1) / (size_t)T : 0, "n %zu T %d", n, T);
        }
    }
    cr_expect_eq(hn_window(tok, 40, SIZE_MAX / 2, 8, in, tg), 0, "no overflow");
    cr_expect_eq(hn_window(tok, 40, 0, 0, in, tg), 0);
}

/* ---- hilnas tokenize ---- */

struct expected {
    unsigned char *train, *val;
    size_t n_train, n_val, docs, docs_val;
};

static void append(unsigned char **buf, size_t *n, const unsigned char *s, size_t len)
{
    *buf = realloc(*buf, *n + len + 1);
    memcpy(*buf + *n, s, len);
    *n += len;
    (*buf)[(*n)++] = '\n';
}

/*
 * The documented split, written again from the help text: documents are the files, cut at
 * lines holding only "%", empty ones dropped, numbered across files; document i goes to val
 * when a uniform draw seeded by hn_rng_derive(seed, i) is below f; with two or more documents
 * the last one is moved if a side would otherwise be empty; each document ends with '\n'.
 */
static struct expected expected_split(char **files, int n_files, uint64_t seed, double f)
{
    unsigned char **doc = NULL;
    size_t *len = NULL, n = 0;
    unsigned char **bufs = calloc((size_t)n_files, sizeof(*bufs));
    for (int k = 0; k < n_files; k++) {
        size_t flen;
        unsigned char *buf = bufs[k] = slurp(files[k], &flen);
        size_t start = 0, pos = 0;
        while (pos <= flen) {
            size_t end = pos;
            while (end < flen && buf[end] != '\n') {
                end++;
            }
            int sep = end - pos == 1 && buf[pos] == '%';
            if (sep || end >= flen) {
                size_t stop = sep ? pos : flen;
                if (stop > start) {
                    doc = realloc(doc, (n + 1) * sizeof(*doc));
                    len = realloc(len, (n + 1) * sizeof(*len));
                    doc[n] = buf + start;
                    len[n++] = stop - start;
                }
                start = end + 1;
            }
            if (end >= flen) {
                break;
            }
            pos = end + 1;
        }
    }
    struct expected x = {0};
    size_t n_train_docs = 0;
    for (size_t i = 0; i < n; i++) {
        struct hn_rng rng;
        hn_rng_seed(&rng, hn_rng_derive(seed, i));
        int to_val = hn_rng_uniform(&rng) < f;
        if (n >= 2 && i == n - 1 && f > 0 && x.docs_val == 0) {
            to_val = 1;
        }
        if (n >= 2 && i == n - 1 && n_train_docs == 0) {
            to_val = 0;
        }
        if (to_val) {
            append(&x.val, &x.n_val, doc[i], len[i]);
            x.docs_val++;
        } else {
            append(&x.train, &x.n_train, doc[i], len[i]);
            n_train_docs++;
        }
    }
    x.docs = n;
    for (int k = 0; k < n_files; k++) {
        free(bufs[k]);
    }
    free(bufs);
    free(doc);
    free(len);
    return x;
}

static void expect_outputs(const char *out, const struct expected *x, const char *what)
{
    char *p = join(out, "train.bin");
    struct hn_error err;
    uint16_t *tr, *va;
    size_t nt, nv;
    cr_assert_eq(hn_tokens_load(p, &tr, &nt, &err), 0, "%s", err.msg);
    free(p);
    p = join(out, "val.bin");
    cr_assert_eq(hn_tokens_load(p, &va, &nv, &err), 0, "%s", err.msg);
    free(p);
    cr_expect_eq(nt, x->n_train, "%s: train tokens", what);
    cr_expect_eq(nv, x->n_val, "%s: val tokens", what);
    int same = nt == x->n_train && nv == x->n_val;
    for (size_t i = 0; same && i < nt; i++) {
        same = tr[i] == x->train[i];
    }
    for (size_t i = 0; same && i < nv; i++) {
        same = va[i] == x->val[i];
    }
    cr_expect(same, "%s: the files hold the documented split, byte for byte", what);
    free(tr);
    free(va);
}

static size_t count_percent_lines(const unsigned char *buf, size_t len)
{
    size_t count = 0;
    for (size_t pos = 0; pos < len;) {
        size_t end = pos;
        while (end < len && buf[end] != '\n') {
            end++;
        }
        count += end - pos == 1 && buf[pos] == '%';
        pos = end + 1;
    }
    return count;
}

Test(tokenize, splits_documents_as_documented_and_deterministically)
{
    char *dir = tu_tmpdir("tokcli");
    char *fort = join(dir, "fortunes"), *plain = join(dir, "plain.txt"), *bin = join(dir, "b");
    FILE *f = fopen(fort, "w");
    size_t fort_bytes = 0;
    for (int i = 0; i < 300; i++) {
        fort_bytes += (size_t)fprintf(f, "fortune number %d\n%s\n", i,
                                      i % 3 ? "second line" : "100% sure\n%%");
        fort_bytes += (size_t)fprintf(f, "%%\n");
    }
    fclose(f);
    tu_write_file(plain, "a plain document\nwithout separators, no final newline");
    unsigned char binary[300];
    for (int i = 0; i < 300; i++) {
        binary[i] = (unsigned char)(255 - i % 256); /* 0xff, 0x00, invalid UTF-8 */
    }
    spill(bin, binary, sizeof(binary));
    char *files[] = {fort, plain, bin};
    char *out1 = join(dir, "a"), *out2 = join(dir, "b.out");
    char *argv1[] = {
        (char *)tu_hilnas(), "tokenize", fort, plain, bin, "-o", out1, "--seed", "3", NULL};
    char *o, *e;
    cr_assert_eq(tu_run(argv1, NULL, &o, &e), 0, "%s", e);
    struct expected x = expected_split(files, 3, 3, 0.1);
    cr_expect_eq(x.docs, 302);
    char want[256];
    snprintf(want, sizeof(want),
             "{\"documents\": %zu, \"train_documents\": %zu, \"val_documents\": %zu, "
             "\"train_tokens\": %zu, \"val_tokens\": %zu}",
             x.docs, x.docs - x.docs_val, x.docs_val, x.n_train, x.n_val);
    cr_expect(strstr(o, want) != NULL, "prints %s, got %s", want, o);
    free(o), free(e);
    expect_outputs(out1, &x, "seed 3");
    /* sizes: input bytes without the '%' lines, plus one separator per document */
    size_t plain_len = strlen("a plain document\nwithout separators, no final newline");
    cr_expect_eq(x.n_train + x.n_val, fort_bytes - 2 * 300 + plain_len + 300 + 302);
    double frac = (double)x.docs_val / (double)x.docs;
    cr_expect(frac > 0.05 && frac < 0.16, "validation share %g for F = 0.1 (302 documents)", frac);

    /* same seed into another directory: the same files; another seed: another split */
    char *argv2[] = {
        (char *)tu_hilnas(), "tokenize", fort, plain, bin, "-o", out2, "--seed", "3", NULL};
    cr_assert_eq(tu_run(argv2, NULL, &o, &e), 0, "%s", e);
    free(o), free(e);
    expect_outputs(out2, &x, "seed 3 again");
    char *argv3[] = {(char *)tu_hilnas(), "tokenize", fort, plain, bin, "-o", out2, "--seed", "4",
                     "--val-fraction",    "0.5",      NULL};
    cr_assert_eq(tu_run(argv3, NULL, &o, &e), 0, "%s", e);
    free(o), free(e);
    struct expected y = expected_split(files, 3, 4, 0.5);
    expect_outputs(out2, &y, "seed 4, F = 0.5, over the old files");
    cr_expect(y.docs_val > 110 && y.docs_val < 190, "%zu of 302 for F = 0.5", y.docs_val);
    /* F = 0: everything trains, val.bin is empty */
    char *argv4[] = {(char *)tu_hilnas(), "tokenize", fort, "-o", out2, "-f", "0", NULL};
    cr_assert_eq(tu_run(argv4, NULL, &o, &e), 0, "%s", e);
    free(o), free(e);
    struct expected z = expected_split(files, 1, 0, 0);
    cr_expect_eq(z.docs_val, 0);
    expect_outputs(out2, &z, "F = 0");
    free(x.train), free(x.val), free(y.train), free(y.val), free(z.train), free(z.val);
    free(fort), free(plain), free(bin), free(out1), free(out2), free(dir);
}

Test(tokenize, the_fortunes_corpus)
{
    const char *corpus[] = {"/usr/share/games/fortunes/fortunes",
                            "/usr/share/games/fortunes/computers"};
    struct stat st;
    if (stat(corpus[0], &st) != 0 || stat(corpus[1], &st) != 0) {
        cr_skip_test("the fortunes package is not installed");
    }
    char *dir = tu_tmpdir("tokfort");
    char *out = join(dir, "data");
    char *argv[] = {(char *)tu_hilnas(),
                    "tokenize",
                    (char *)corpus[0],
                    (char *)corpus[1],
                    "-o",
                    out,
                    "--seed",
                    "7",
                    NULL};
    char *o, *e;
    cr_assert_eq(tu_run(argv, NULL, &o, &e), 0, "%s", e);
    free(o), free(e);
    struct expected x = expected_split((char **)corpus, 2, 7, 0.1);
    expect_outputs(out, &x, "fortunes");
    size_t bytes = 0, separators = 0;
    for (int k = 0; k < 2; k++) {
        size_t len;
        unsigned char *buf = slurp(corpus[k], &len);
        bytes += len;
        separators += count_percent_lines(buf, len);
        free(buf);
    }
    cr_expect_eq(x.n_train + x.n_val, bytes - 2 * separators + x.docs,
                 "bytes - '%%' lines + one newline per fortune");
    cr_expect(x.docs > 1000, "%zu fortunes", x.docs);
    double frac = (double)x.docs_val / (double)x.docs;
    cr_expect(frac > 0.07 && frac < 0.13, "validation share %g", frac);
    free(x.train), free(x.val), free(out), free(dir);
}

Test(tokenize, errors_name_the_problem)
{
    char *dir = tu_tmpdir("tokerr");
    char *in = join(dir, "in.txt"), *empty = join(dir, "empty.txt"), *out = join(dir, "o");
    tu_write_file(in, "text\n");
    tu_write_file(empty, "%\n%\n");
    char *emptydir = join(dir, "nodocs");
    cr_assert_eq(mkdir(emptydir, 0755), 0);
    struct {
        char *argv[10];
        int code;
        const char *expect;
    } rows[] = {
        {{"tokenize", "/nonexistent/file", "-o", out}, 2, "/nonexistent/file: cannot read"},
        /* a directory stands for its text files: one without any gives no text */
        {{"tokenize", emptydir, "-o", out}, 2, "the inputs hold no text"},
        {{"tokenize", in}, 2, "missing -o DIR"},
        {{"tokenize", "-o", out}, 2, "no input text files"},
        {{"tokenize", in, "-o", out, "--val-fraction", "1"}, 2, "--val-fraction must be in [0, 1)"},
        {{"tokenize", in, "-o", out, "--val-fraction", "x"}, 2, "--val-fraction"},
        {{"tokenize", in, "-o", out, "--seed", "-1"}, 2, "--seed must be an integer"},
        {{"tokenize", in, "-o", out, "--bogus"}, 2, "--bogus"},
        {{"tokenize", empty, "-o", out}, 2, "no text"},
        {{"tokenize", in, "-o", "/dev/null/x"}, 1, "/dev/null/x"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *argv[12] = {(char *)tu_hilnas()};
        for (int k = 0; rows[i].argv[k] != NULL; k++) {
            argv[k + 1] = rows[i].argv[k];
        }
        char *o, *e;
        cr_expect_eq(tu_run(argv, NULL, &o, &e), rows[i].code, "row %zu: %s", i, e);
        cr_expect(strstr(e, rows[i].expect) != NULL, "row %zu: expected '%s' in: %s", i,
                  rows[i].expect, e);
        free(o), free(e);
    }
    char *help[] = {(char *)tu_hilnas(), "tokenize", "--help", NULL};
    char *o, *e;
    cr_expect_eq(tu_run(help, NULL, &o, &e), 0);
    cr_expect(strstr(o, "--val-fraction") != NULL, "%s", o);
    free(o), free(e);
    free(in), free(empty), free(emptydir), free(out), free(dir);
}
