/*
 * hilnas tokenize TEXT... -o DIR [--val-fraction F] [--seed S]
 *
 * Byte-level tokenization (token = byte) into DIR/train.bin and DIR/val.bin (little-endian
 * uint16, no header). The split is by document: each input file is a document, except that a
 * line holding only "%" (the fortune file format) separates documents and is dropped; empty
 * documents are dropped. Documents are numbered 0, 1, ... across all inputs in command-line
 * order; document i goes to val.bin when a uniform draw from hn_rng seeded with
 * hn_rng_derive(S, i) is below F (default 0.1, seed 0), so the split depends only on (S, i).
 * With two or more documents each side gets at least one (the last document is moved if
 * needed; with F = 0 val.bin stays empty). Every document is followed by one newline token
 * (10), so each file's token count is its documents' bytes plus one per document. Existing
 * files are replaced atomically (each file on its own). A directory argument stands for its
 * regular files (not symlinks, not recursive) in name order, skipping binary files (a NUL byte
 * in their first 4 KiB, e.g. the fortune .dat indexes). Exit 0; 2 for usage errors and
 * unreadable inputs (named); 1 when the output cannot be written.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"
#include "hilnas/llm/tokens.h"
#include "hilnas/rng.h"
#include "tools/cli.h"

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is the file binary (a NUL byte in its first 4 KiB)? Unreadable files count as text, so that
 * reading them reports the error. */
static int is_binary(const char *path)
{
    char head[4096];
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return 0;
    }
    size_t n = fread(head, 1, sizeof(head), f);
    fclose(f);
    return memchr(head, '\0', n) != NULL;
}

/* The inputs with directories replaced by their text files; NULL-terminated, malloc'ed paths. */
static char **expand_inputs(char **args, int n, int *count)
{
    size_t cap = (size_t)n + 1, k = 0;
    char **out = calloc(cap, sizeof(char *));
    for (int i = 0; out != NULL && i < n; i++) {
        struct stat st;
        DIR *d = stat(args[i], &st) == 0 && S_ISDIR(st.st_mode) ? opendir(args[i]) : NULL;
        if (d == NULL) {
            out[k++] = strdup(args[i]);
            continue;
        }
        size_t first = k;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char *p = e->d_name[0] == '.' ? NULL : hn_path_join(args[i], e->d_name);
            if (p == NULL || lstat(p, &st) != 0 || !S_ISREG(st.st_mode) || is_binary(p)) {
                free(p);
                continue;
            }
            if (k + 1 >= cap) {
                cap *= 2;
                char **g = realloc(out, cap * sizeof(char *));
                if (g == NULL) {
                    free(p);
                    break;
                }
                out = g;
            }
            out[k++] = p;
        }
        closedir(d);
        qsort(out + first, k - first, sizeof(char *), cmp_name);
    }
    if (out != NULL) {
        out[k] = NULL;
    }
    *count = (int)k;
    return out;
}

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

/* Split a file at lines holding only "%"; a file without them is one document. */
static int split_file(struct docs *d, const char *buf, size_t len)
{
    size_t start = 0, pos = 0;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t line_end = nl ? (size_t)(nl - buf) : len, next = nl ? line_end + 1 : len;
        if (line_end - pos == 1 && buf[pos] == '%') {
            if (add_doc(d, buf + start, pos - start) != 0) {
                return -1;
            }
            start = next;
        }
        pos = next;
    }
    return add_doc(d, buf + start, len - start);
}

/* Most text one run reads, all inputs together: memory stays below about 3 bytes per input
 * byte (the text, then its uint16 tokens), so 256 MiB of text takes under 800 MiB. */
#define HN_TOKENIZE_MAX_BYTES ((size_t)256 << 20)

/* What read_all refuses before reading: anything but a regular file or a pipe, and a regular
 * file larger than budget. 0, or -1 with a reason in why. */
static int check_input(FILE *f, size_t budget, char *why, size_t why_size)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        snprintf(why, why_size, "cannot stat: %s", hn_strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
        snprintf(why, why_size, "not a regular file or a pipe (%s); tokenize reads text files",
                 S_ISDIR(st.st_mode)   ? "a directory"
                 : S_ISCHR(st.st_mode) ? "a character device"
                 : S_ISBLK(st.st_mode) ? "a block device"
                                       : "a socket or other special file");
        return -1;
    }
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > budget) {
        snprintf(why, why_size,
                 "%lld bytes; tokenize reads at most %zu MiB of text per run (all inputs "
                 "together): split the corpus and tokenize it in parts",
                 (long long)st.st_size, HN_TOKENIZE_MAX_BYTES >> 20);
        return -1;
    }
    return 0;
}

/* f to its end in a buffer that doubles as it fills (malloc'ed, *len bytes), or NULL with a
 * reason in why (*usage = 0 when out of memory). More than budget bytes are refused. */
static char *read_stream(FILE *f, size_t budget, size_t *len, int *usage, char *why,
                         size_t why_size)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n == cap) {
            if (cap > budget) {
                snprintf(why, why_size,
                         "more than %zu MiB of text in all inputs together; split the corpus "
                         "and tokenize it in parts",
                         HN_TOKENIZE_MAX_BYTES >> 20);
                free(buf);
                buf = NULL;
                break;
            }
            char *bigger = realloc(buf, 2 * cap);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                *usage = 0;
                snprintf(why, why_size, "out of memory");
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                snprintf(why, why_size, "cannot read: %s", hn_strerror(errno ? errno : EIO));
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (buf == NULL && why[0] == '\0') {
        snprintf(why, why_size, "out of memory");
        *usage = 0;
    }
    if (buf != NULL && n > budget) {
        snprintf(why, why_size,
                 "more than %zu MiB of text in all inputs together; split the corpus and "
                 "tokenize it in parts",
                 HN_TOKENIZE_MAX_BYTES >> 20);
        free(buf);
        buf = NULL;
    }
    *len = n;
    return buf;
}

/*
 * The whole input (malloc'ed, *len bytes), or NULL with a reason in why. Regular files and
 * pipes (FIFOs, /dev/stdin) are read; devices (/dev/zero), sockets and directories are
 * refused before reading. At most budget bytes are accepted: beyond them the read stops.
 */
static char *read_all(const char *path, size_t budget, size_t *len, int *usage, char *why,
                      size_t why_size)
{
    *usage = 1;
    FILE *f = fopen(path, "rbe");
    if (f == NULL) {
        snprintf(why, why_size, "cannot read: %s", hn_strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    if (check_input(f, budget, why, why_size) == 0) {
        buf = read_stream(f, budget, len, usage, why, why_size);
    }
    fclose(f);
    return buf;
}

struct tokenize_opts {
    const char *out;
    double frac;
    unsigned long long seed;
};

static void tokenize_help(void)
{
    printf("usage: hilnas tokenize TEXT... -o DIR [--val-fraction F] [--seed S]\n\n"
           "Byte-level tokens (vocabulary 256, token = byte) of the text files into\n"
           "DIR/train.bin and DIR/val.bin (little-endian uint16, no header; replaced if\n"
           "present). Each file is a document; a line holding only '%%' (fortune files)\n"
           "separates documents. Document i goes to val.bin with probability F, decided\n"
           "by (S, i) alone; each document is followed by a newline token. A directory\n"
           "stands for its regular text files (binary files, e.g. fortune .dat, skipped).\n\n"
           "  -o, --output DIR        where train.bin and val.bin go (created)\n"
           "  -f, --val-fraction F    share of documents for validation, [0, 1); 0.1\n"
           "  -s, --seed S            split seed (unsigned integer); 0\n\n"
           "Prints the document and token counts as JSON. Exit status: 0; 2 for usage\n"
           "errors and unreadable inputs; 1 when the output cannot be written.\n");
}

/* The options into o; -1 to go on (optind at the first input), else the exit status. */
static int parse_args(int argc, char **argv, struct tokenize_opts *o)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"val-fraction", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 's'},   {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:f:s:hV", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'o':
            o->out = optarg;
            break;
        case 'f':
            o->frac = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(o->frac >= 0 && o->frac < 1)) {
                return hn_cli_usage_error(argv[0], "--val-fraction must be in [0, 1), found '%s'",
                                          optarg);
            }
            break;
        case 's':
            errno = 0;
            o->seed = strtoull(optarg, &end, 10);
            if (end == optarg || *end != '\0' || optarg[0] == '-' || errno == ERANGE) {
                return hn_cli_usage_error(
                    argv[0], "--seed must be an integer in 0..2^64-1, found '%s'", optarg);
            }
            break;
        case 'h':
            tokenize_help();
            return 0;
        case 'V':
            return hn_cli_version(argv[0]);
        default:
            return hn_cli_usage_error(argv[0], "unknown or incomplete option '%s'",
                                      argv[optind - 1]);
        }
    }
    if (o->out == NULL) {
        return hn_cli_usage_error(argv[0], "missing -o DIR");
    }
    if (optind >= argc) {
        return hn_cli_usage_error(argv[0], "no input text files");
    }
    return -1;
}

/* The documents of every input (at most HN_TOKENIZE_MAX_BYTES in all); 0, or the exit status
 * after saying why. */
static int read_docs(char **inputs, int n_inputs, struct docs *d)
{
    size_t read_total = 0;
    for (int i = 0; i < n_inputs; i++) {
        size_t len = 0;
        int usage = 1;
        char why[512] = "";
        char *buf =
            read_all(inputs[i], HN_TOKENIZE_MAX_BYTES - read_total, &len, &usage, why, sizeof(why));
        if (buf == NULL) {
            fprintf(stderr, "hilnas: tokenize: %s: %s\n", inputs[i], why);
            return usage ? HN_EXIT_USAGE : HN_EXIT_FAILURE;
        }
        read_total += len;
        int split = split_file(d, buf, len);
        free(buf);
        if (split != 0) {
            fprintf(stderr, "hilnas: tokenize: out of memory\n");
            return HN_EXIT_FAILURE;
        }
    }
    if (d->n == 0) {
        fprintf(stderr, "hilnas: tokenize: the inputs hold no text (every document is empty)\n");
        return HN_EXIT_USAGE;
    }
    return 0;
}

/* Which documents go to val.bin (depends on (S, i) only); with two or more, each side gets
 * one (the last document moves if needed). *dt, *dv: documents on each side. */
static void choose_split(const struct docs *d, const struct tokenize_opts *o, unsigned char *to_val,
                         size_t *dt, size_t *dv)
{
    *dt = *dv = 0;
    for (size_t i = 0; i < d->n; i++) {
        struct hn_rng rng;
        hn_rng_seed(&rng, hn_rng_derive(o->seed, i));
        to_val[i] = hn_rng_uniform(&rng) < o->frac;
        if (d->n >= 2 && o->frac > 0 && i == d->n - 1 && *dv == 0) {
            to_val[i] = 1; /* at least one validation document */
        }
        if (d->n >= 2 && i == d->n - 1 && *dt == 0) {
            to_val[i] = 0;
        }
        *dv += to_val[i];
        *dt += !to_val[i];
    }
}

/* The tokens of each side (allocated exactly), each document followed by a newline token;
 * the texts are freed as they go. Returns 0, or -1 out of memory. */
static int encode_split(struct docs *d, const unsigned char *to_val, uint16_t **train, size_t *nt,
                        uint16_t **val, size_t *nv)
{
    *nt = *nv = 0;
    for (size_t i = 0; i < d->n; i++) {
        *(to_val[i] ? nv : nt) += d->len[i] + 1;
    }
    *train = malloc((*nt + 1) * sizeof(uint16_t));
    *val = malloc((*nv + 1) * sizeof(uint16_t));
    if (*train == NULL || *val == NULL) {
        return -1;
    }
    *nt = *nv = 0;
    for (size_t i = 0; i < d->n; i++) {
        size_t *n = to_val[i] ? nv : nt;
        uint16_t *dst = (to_val[i] ? *val : *train) + *n;
        hn_bytes_encode((const unsigned char *)d->text[i], d->len[i], dst);
        dst[d->len[i]] = '\n';
        *n += d->len[i] + 1;
        free(d->text[i]); /* tokens replace the text as they go */
        d->text[i] = NULL;
    }
    return 0;
}

/* DIR/train.bin and DIR/val.bin, each replaced atomically. Returns 0, or -1 with err. */
static int write_split(const char *out, const uint16_t *train, size_t nt, const uint16_t *val,
                       size_t nv, struct hn_error *err)
{
    if (hn_mkdir_p(out, err) != 0) {
        return -1;
    }
    char *pt = hn_path_join(out, "train.bin"), *pv = hn_path_join(out, "val.bin");
    int rc = pt != NULL && pv != NULL ? 0 : hn_error_set(err, out, "out of memory");
    if (rc == 0) {
        rc = hn_tokens_write(pt, train, nt, err);
    }
    if (rc == 0) {
        rc = hn_tokens_write(pv, val, nv, err);
    }
    free(pt);
    free(pv);
    return rc;
}

int hn_cmd_tokenize(int argc, char **argv)
{
    struct tokenize_opts o = {.out = NULL, .frac = 0.1, .seed = 0};
    int code = parse_args(argc, argv, &o);
    if (code >= 0) {
        return code;
    }
    struct docs d = {0};
    struct hn_error err;
    uint16_t *train = NULL, *val = NULL;
    unsigned char *to_val = NULL;
    size_t nt = 0, nv = 0, dt = 0, dv = 0;
    int n_inputs = 0;
    char **inputs = expand_inputs(argv + optind, argc - optind, &n_inputs);
    if (inputs == NULL) {
        fprintf(stderr, "hilnas: tokenize: out of memory\n");
        return HN_EXIT_FAILURE;
    }
    code = read_docs(inputs, n_inputs, &d);
    if (code != 0) {
        goto done;
    }
    code = HN_EXIT_FAILURE;
    to_val = calloc(d.n, 1);
    if (to_val == NULL) {
        fprintf(stderr, "hilnas: tokenize: out of memory\n");
        goto done;
    }
    choose_split(&d, &o, to_val, &dt, &dv);
    if (encode_split(&d, to_val, &train, &nt, &val, &nv) != 0) {
        fprintf(stderr, "hilnas: tokenize: out of memory\n");
        goto done;
    }
    if (write_split(o.out, train, nt, val, nv, &err) != 0) {
        fprintf(stderr, "hilnas: tokenize: %s\n", err.msg);
        goto done;
    }
    printf("{\"documents\": %zu, \"train_documents\": %zu, \"val_documents\": %zu, "
           "\"train_tokens\": %zu, \"val_tokens\": %zu}\n",
           d.n, dt, dv, nt, nv);
    code = 0;
done:
    for (int i = 0; i < n_inputs; i++) {
        free(inputs[i]);
    }
    free(inputs);
    for (size_t i = 0; i < d.n; i++) {
        free(d.text[i]);
    }
    free(d.text);
    free(d.len);
    free(to_val);
    free(train);
    free(val);
    return code;
}
