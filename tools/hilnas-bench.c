/*
 * hilnas-bench: the on-device latency program. Times one architecture with the llm/ engine
 * (linked in statically: copy this one file to a phone or board and run it) and prints the
 * device oracle's JSON line (docs/latency.md, "hilnas-bench"):
 *
 *   hilnas-bench ARCH.json [--prompt 128] [--contexts 0,512 | --context 256]
 *                [--decode-tokens 16] [--threads 0] [--dtype f32|bf16|f16|q8_0]
 *                [--repeats 5] [--max-repeats 15] [--max-cv 0.03] [--warmup 1] [--seed 1]
 *
 * ARCH.json is an architecture as `hilnas export --arch` reads it and the device oracle
 * writes it ({arch}): a Hugging Face LlamaConfig (+ attention_layers). Weights are random
 * (latency does not depend on their values). The protocol is the host oracle's: `warmup`
 * unrecorded rounds, then rounds that time each metric once in turn (prefill of `prompt`
 * tokens into an empty cache; decode, per token, the mean of `decode-tokens` steps with c
 * tokens cached for each context c) until each has `repeats` values, then only the metrics
 * whose spread (1.4826 MAD / median) exceeds max_cv, up to max_repeats. Each metric is the
 * median with the standard error of a median, its spread as <metric>_cv (the device oracle
 * repeats the run while a spread exceeds its max_cv), and the line ends with the settings,
 * the engine's BLAS and the CPU:
 *
 *   {"prefill_ms": {"value": 3.1, "sem": 0.02}, "prefill_ms_cv": 0.011,
 *    "decode_ms_0": {...}, "decode_ms_0_cv": ..., "settled": true,
 *    "settings": {"prompt": 128, "contexts": [0, 512], ...}, "cpu": "..."}
 *
 * Exit status: 0, 1 on a failure (unreadable or invalid architecture, out of memory), 2 on a
 * usage error. Errors go to standard error, one line, saying what to do.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hilnas/error.h"
#include "hilnas/llm/cost.h"
#include "hilnas/llm/decode.h"
#include "hilnas/llm/llm_config.h"
#include "hilnas/llm/model.h"
#include "hilnas/llm/ops.h"
#include "hilnas/llm/qmat.h"
#include "hilnas/rng.h"

#ifndef HN_BENCH_BLAS
#define HN_BENCH_BLAS "openblas" /* tools/cross/build-bench.sh: "plain-c" without OpenBLAS */
#endif
#define MAX_CONTEXTS 32
#define MAX_TIMED (MAX_CONTEXTS + 1)

struct opts {
    const char *arch;
    long prompt, context, decode_tokens, threads, repeats, max_repeats, warmup, seed;
    double max_cv;
    enum hn_dtype dtype;
    size_t n_contexts;
    long contexts[MAX_CONTEXTS];
    int have_contexts;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "hilnas-bench: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr,
            "\nusage: hilnas-bench ARCH.json [--prompt N] [--contexts C1,C2,... | --context C] "
            "[--decode-tokens N] [--threads N] [--dtype f32|bf16|f16|q8_0] [--repeats N] "
            "[--max-repeats N] [--max-cv X] [--warmup N] [--seed N]\n");
    return 2;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.prompt = 128,
                       .context = 256,
                       .decode_tokens = 16,
                       .repeats = 5,
                       .max_repeats = 15,
                       .warmup = 1,
                       .seed = 1,
                       .max_cv = 0.03};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        struct {
            const char *name;
            long *dst, lo, hi;
        } ints[] = {{"--prompt", &o->prompt, 1, 1 << 20},
                    {"--context", &o->context, 0, 1 << 20},
                    {"--decode-tokens", &o->decode_tokens, 1, 1 << 16},
                    {"--threads", &o->threads, 0, 1024},
                    {"--repeats", &o->repeats, 1, 1000},
                    {"--max-repeats", &o->max_repeats, 1, 10000},
                    {"--warmup", &o->warmup, 0, 100},
                    {"--seed", &o->seed, 0, 2147483647L}};
        int done = 0;
        for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]) && !done; k++) {
            if (strcmp(a, ints[k].name) == 0) {
                if (v == NULL || parse_long(v, ints[k].lo, ints[k].hi, ints[k].dst) != 0) {
                    return usage("%s needs an integer in range", a);
                }
                i++;
                done = 1;
            }
        }
        if (done) {
            continue;
        }
        if (strcmp(a, "--contexts") == 0) {
            if (v == NULL) {
                return usage("%s needs a list like 0,512,2048", a);
            }
            char buf[1024];
            snprintf(buf, sizeof(buf), "%s", v);
            o->n_contexts = 0;
            for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
                 tok = strtok_r(NULL, ",", &save)) {
                if (o->n_contexts == MAX_CONTEXTS ||
                    parse_long(tok, 0, 1 << 20, &o->contexts[o->n_contexts]) != 0) {
                    return usage("--contexts: '%s' is not a list of up to 32 context lengths", v);
                }
                for (size_t j = 0; j < o->n_contexts; j++) {
                    if (o->contexts[j] == o->contexts[o->n_contexts]) {
                        return usage("--contexts: '%s' lists a context twice", v);
                    }
                }
                o->n_contexts++;
            }
            if (o->n_contexts == 0) {
                return usage("--contexts: '%s' is empty", v);
            }
            o->have_contexts = 1;
            i++;
        } else if (strcmp(a, "--dtype") == 0) {
            if (v == NULL || hn_dtype_parse(v, &o->dtype) != 0) {
                return usage("--dtype must be f32, bf16, f16 or q8_0, found '%s'", v ? v : "");
            }
            i++;
        } else if (strcmp(a, "--max-cv") == 0) {
            char *end;
            o->max_cv = v ? strtod(v, &end) : -1;
            if (v == NULL || *end != '\0' || !(o->max_cv >= 0 && o->max_cv <= 10)) {
                return usage("--max-cv needs a number in 0..10, found '%s'", v ? v : "");
            }
            i++;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage("%s", "times one architecture and prints the device oracle's JSON line");
            exit(0);
        } else if (a[0] == '-') {
            return usage("unknown option '%s'", a);
        } else if (o->arch == NULL) {
            o->arch = a;
        } else {
            return usage("one ARCH.json expected, '%s' is a second", a);
        }
    }
    if (o->arch == NULL) {
        return usage("%s", "ARCH.json is required");
    }
    if (!o->have_contexts) {
        o->n_contexts = 1;
        o->contexts[0] = o->context;
    }
    if (o->max_repeats < o->repeats) {
        o->max_repeats = o->repeats;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median, standard error of the median (1.2533 s / sqrt(n)), robust spread 1.4826 MAD/median */
static void summarize(const double *v, size_t n, double *median, double *sem, double *cv)
{
    double w[10000], mean = 0, ss = 0;
    for (size_t i = 0; i < n; i++) {
        mean += v[i] / (double)n;
    }
    for (size_t i = 0; i < n; i++) {
        ss += (v[i] - mean) * (v[i] - mean);
    }
    memcpy(w, v, n * sizeof(double));
    qsort(w, n, sizeof(double), cmp_double);
    double med = n % 2 ? w[n / 2] : 0.5 * (w[n / 2 - 1] + w[n / 2]);
    for (size_t i = 0; i < n; i++) {
        w[i] = fabs(v[i] - med);
    }
    qsort(w, n, sizeof(double), cmp_double);
    double mad = n % 2 ? w[n / 2] : 0.5 * (w[n / 2 - 1] + w[n / 2]);
    *median = med;
    *sem = n > 1 ? 1.2533 * sqrt(ss / (double)(n - 1)) / sqrt((double)n) : 0.0;
    *cv = n > 1 && med > 0 ? 1.4826 * mad / med : 0.0;
}

static void cpu_model(char *buf, size_t size)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(buf, size, "unknown");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        /* x86: "model name"; arm64 kernels: "Hardware" or only "CPU part" */
        if (strncmp(line, "model name", 10) == 0 || strncmp(line, "Hardware", 8) == 0 ||
            (strncmp(line, "CPU part", 8) == 0 && strcmp(buf, "unknown") == 0)) {
            char *c = strchr(line, ':');
            if (c != NULL) {
                c++;
                while (*c == ' ' || *c == '\t') {
                    c++;
                }
                c[strcspn(c, "\n")] = '\0';
                snprintf(buf, size, "%s%s", strncmp(line, "CPU part", 8) == 0 ? "CPU part " : "",
                         c);
                if (strncmp(line, "CPU part", 8) != 0) {
                    break;
                }
            }
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    for (char *p = buf; *p; p++) {
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) {
            *p = '?'; /* printed inside a JSON string */
        }
    }
}

int main(int argc, char **argv)
{
    struct opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        return rc;
    }
    struct hn_error err;
    hn_error_clear(&err);
    struct hn_llm_config c;
    struct hn_llm_model *m = NULL;
    struct hn_llm_infer *pinf = NULL, *inf = NULL;
    int *tokens = NULL;
    float *logits = NULL;
    double *v = NULL;
    json_error_t je;
    json_t *arch = json_load_file(o.arch, 0, &je);
    rc = 1;
    if (arch == NULL) {
        if (je.line > 0) {
            fprintf(stderr, "hilnas-bench: %s:%d:%d: %s\n", o.arch, je.line, je.column, je.text);
        } else {
            fprintf(stderr, "hilnas-bench: %s\n", je.text); /* names the file */
        }
        return 1;
    }
    if (hn_llm_config_from_json(arch, o.arch, &c, &err) != 0) {
        fprintf(stderr, "hilnas-bench: %s\n", err.msg);
        goto done;
    }
    long max_ctx = 0;
    for (size_t i = 0; i < o.n_contexts; i++) {
        max_ctx = o.contexts[i] > max_ctx ? o.contexts[i] : max_ctx;
    }
    long need = o.prompt > max_ctx + o.decode_tokens ? o.prompt : max_ctx + o.decode_tokens;
    if (need > c.max_position_embeddings) {
        fprintf(stderr,
                "hilnas-bench: %s: prompt %ld / context + decode tokens %ld exceed "
                "max_position_embeddings %d; lower --prompt, --contexts or --decode-tokens\n",
                o.arch, o.prompt, max_ctx + o.decode_tokens, c.max_position_embeddings);
        goto done;
    }
    int threads = hn_llm_set_threads((int)o.threads);
    m = hn_llm_model_new(&c, &err);
    if (m == NULL) {
        fprintf(stderr, "hilnas-bench: %s\n", err.msg);
        goto done;
    }
    hn_llm_model_randomize(m, (uint64_t)o.seed);
    if (hn_llm_set_dtype(m, o.dtype, &err) != 0 ||
        (pinf = hn_llm_infer_new(m, (int)o.prompt, (int)o.prompt, &err)) == NULL ||
        (inf = hn_llm_infer_new(m, (int)(max_ctx + o.decode_tokens), 256, &err)) == NULL) {
        fprintf(stderr, "hilnas-bench: %s\n", err.msg);
        goto done;
    }
    size_t K = 1 + o.n_contexts, R = (size_t)o.max_repeats, n[MAX_TIMED] = {0};
    tokens = malloc((size_t)need * sizeof(int));
    logits = malloc((size_t)c.vocab_size * sizeof(float));
    v = malloc(K * R * sizeof(double));
    if (tokens == NULL || logits == NULL || v == NULL || R > 10000) {
        fprintf(stderr, "hilnas-bench: out of memory\n");
        goto done;
    }
    struct hn_rng rng;
    hn_rng_seed(&rng, hn_rng_derive((uint64_t)o.seed, 1));
    for (long i = 0; i < need; i++) {
        tokens[i] = (int)hn_rng_below(&rng, (uint64_t)c.vocab_size);
    }
    /* the decode cache: one untimed prefill of the longest context; decoding at context c
     * rewinds to position c */
    if (max_ctx > 0 && hn_llm_infer_forward(inf, tokens, (int)max_ctx, NULL, 0, &err) != 0) {
        fprintf(stderr, "hilnas-bench: %s\n", err.msg);
        goto done;
    }
    int active[MAX_TIMED];
    for (size_t k = 0; k < K; k++) {
        active[k] = 1;
    }
    for (long round = -o.warmup;; round++) {
        int any = 0;
        for (size_t k = 0; k < K; k++) {
            if (!active[k]) {
                continue;
            }
            double t0 = now(), ms;
            if (k == 0) {
                hn_llm_infer_reset(pinf);
                t0 = now();
                rc = hn_llm_infer_forward(pinf, tokens, (int)o.prompt, logits, 0, &err);
                ms = 1e3 * (now() - t0);
            } else {
                inf->pos = (int)o.contexts[k - 1];
                int tok = tokens[o.contexts[k - 1]];
                t0 = now();
                rc = 0;
                for (long i = 0; i < o.decode_tokens && rc == 0; i++) {
                    rc = hn_llm_infer_forward(inf, &tok, 1, logits, 0, &err);
                    tok = hn_llm_sample(logits, c.vocab_size, 0.0, 0, &rng);
                }
                ms = 1e3 * (now() - t0) / (double)o.decode_tokens;
            }
            if (rc != 0) {
                fprintf(stderr, "hilnas-bench: %s\n", err.msg);
                rc = 1;
                goto done;
            }
            if (round >= 0) {
                v[k * R + n[k]++] = ms;
            }
            any = 1;
        }
        if (!any) {
            break;
        }
        for (size_t k = 0; k < K; k++) {
            double med, sem, cv;
            if (round < 0 || n[k] < (size_t)o.repeats) {
                continue;
            }
            summarize(v + k * R, n[k], &med, &sem, &cv);
            if (n[k] >= R || cv <= o.max_cv) {
                active[k] = 0;
            }
        }
    }
    char cpu[256];
    cpu_model(cpu, sizeof(cpu));
    int settled = 1;
    printf("{");
    for (size_t k = 0; k < K; k++) {
        double med, sem, cv;
        char name[64];
        summarize(v + k * R, n[k], &med, &sem, &cv);
        if (k == 0) {
            snprintf(name, sizeof(name), "prefill_ms");
        } else if (o.have_contexts) {
            snprintf(name, sizeof(name), "decode_ms_%ld", o.contexts[k - 1]);
        } else {
            snprintf(name, sizeof(name), "decode_ms");
        }
        settled &= cv <= o.max_cv;
        printf("\"%s\": {\"value\": %.17g, \"sem\": %.17g}, \"%s_cv\": %.17g, \"%s_n\": %zu, ",
               name, med, sem, name, cv, name, n[k]);
    }
    printf("\"settled\": %s, \"params\": %zu, \"settings\": {\"prompt\": %ld, \"contexts\": [",
           settled ? "true" : "false", hn_llm_param_count(&c), o.prompt);
    for (size_t i = 0; i < o.n_contexts; i++) {
        printf("%s%ld", i ? ", " : "", o.contexts[i]);
    }
    printf("], \"decode_tokens\": %ld, \"threads\": %d, \"dtype\": \"%s\", \"repeats\": %ld, "
           "\"max_repeats\": %ld, \"max_cv\": %.17g, \"warmup\": %ld, \"seed\": %ld, "
           "\"blas\": \"%s\"}, \"cpu\": \"%s\"}\n",
           o.decode_tokens, threads, hn_dtype_name(o.dtype), o.repeats, o.max_repeats, o.max_cv,
           o.warmup, o.seed, HN_BENCH_BLAS, cpu);
    rc = 0;
done:
    json_decref(arch);
    free(tokens);
    free(logits);
    free(v);
    hn_llm_infer_free(inf);
    hn_llm_infer_free(pinf);
    hn_llm_model_free(m);
    return rc;
}
