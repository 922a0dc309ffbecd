/*
 * hilnas-bench: the on-device latency program. Times one architecture with the llm/ engine
 * (linked in statically: copy this one file to a phone or board and run it) and prints the
 * device oracle's JSON line (docs/latency.md, "hilnas-bench"):
 *
 *   hilnas-bench ARCH.json [--prompt 128] [--contexts 0,512 | --context 256]
 *                [--decode-tokens 16] [--threads 0] [--dtype f32|bf16|f16|q8_0]
 *                [--repeats 5] [--max-repeats 15] [--max-cv 0.03] [--warmup 1] [--seed 1]
 *                [--pin] [--pick fastest|first] [--pick-probe 8] [--clock wall|cpu]
 *                [--reference CONFIG.json|CHECKPOINT_DIR] [--instances 1]
 *
 * ARCH.json is an architecture as `hilnas export --arch` reads it and the device oracle
 * writes it ({arch}): a Hugging Face LlamaConfig (+ attention_layers); or a checkpoint
 * directory, whose config.json is read. Weights are random
 * (latency does not depend on their values). The protocol is the host oracle's, from the same
 * code (hilnas/llm/measure.h): warm-up, interleaved rounds, unsettled metrics measured further
 * up to max_repeats, the compute and memory references, pinning, the clock, and with
 * --reference a reference model timed in the same rounds (prefill_rel, decode_rel_<c>: the
 * per-round ratios, as host reports them); --instances K (1..16) builds the model (and the
 * reference) K times and rotates through the copies round by round, as host's `instances` does
 * (repeats raised to K, 2 K with a reference; "settings" has the repeats and max_repeats run).
 * The options have the host oracle's names and meanings
 * (with - for _). Each metric is printed as {"value": median, "sem": standard error of the
 * median} with <metric>_cv (1.4826 MAD / median), <metric>_settled (1 or 0) and <metric>_n;
 * then "settled" (every deciding metric settled), "cpu" (the first CPU pinned to, -1), the
 * settings, the engine's BLAS and "cpu_model":
 *
 *   {"prefill_ms": {"value": 3.1, "sem": 0.02}, "prefill_ms_cv": 0.011, ...,
 *    "ref_ms": {...}, "mem_ms": {...}, "settled": true, "cpu": -1, "params": 1234567,
 *    "settings": {"prompt": 128, "contexts": [0, 512], ...}, "cpu_model": "..."}
 *
 * Exit status: 0, 1 on a failure (unreadable or invalid architecture, out of memory), 2 on a
 * usage error. Errors go to standard error, one line, saying what to do.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/error.h"
#include "hilnas/llm/cost.h"
#include "hilnas/llm/llm_config.h"
#include "hilnas/llm/measure.h"
#include "hilnas/llm/model.h"
#include "hilnas/llm/qmat.h"

#ifndef HN_BENCH_BLAS
#define HN_BENCH_BLAS "openblas" /* tools/cross/build-bench.sh: "plain-c" without OpenBLAS */
#endif

struct opts {
    const char *arch, *reference;
    long prompt, context, decode_tokens, threads, repeats, max_repeats, warmup, seed, pick_probe;
    long instances;
    double max_cv;
    enum hn_dtype dtype;
    int pin, pick, clock;
    size_t n_contexts;
    long contexts[HN_MEASURE_MAX_CONTEXTS];
    int have_contexts;
};

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "hilnas-bench: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr,
            "\nusage: hilnas-bench ARCH.json [--prompt N] [--contexts C1,C2,... | --context C] "
            "[--decode-tokens N] [--threads N] [--dtype f32|bf16|f16|q8_0] [--repeats N] "
            "[--max-repeats N] [--max-cv X] [--warmup N] [--seed N] [--pin] "
            "[--pick fastest|first] [--pick-probe N] [--clock wall|cpu] "
            "[--reference CONFIG.json|CHECKPOINT_DIR] [--instances 1..16]\n");
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

/* index of s in the NULL-terminated names, or -1 */
static int choice(const char *const *names, const char *s)
{
    for (int i = 0; s != NULL && names[i] != NULL; i++) {
        if (strcmp(names[i], s) == 0) {
            return i;
        }
    }
    return -1;
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
                       .pick_probe = 8,
                       .instances = 1,
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
                    {"--pick-probe", &o->pick_probe, 0, 4096},
                    {"--instances", &o->instances, 1, HN_MEASURE_MAX_INSTANCES},
                    {"--seed", &o->seed, 0, 2147483647L}};
        int done = 0;
        for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]) && !done; k++) {
            if (strcmp(a, ints[k].name) == 0) {
                if (v == NULL) {
                    return usage("%s needs an integer from %ld to %ld", a, ints[k].lo, ints[k].hi);
                }
                if (parse_long(v, ints[k].lo, ints[k].hi, ints[k].dst) != 0) {
                    return usage("%s needs an integer from %ld to %ld, found '%.40s'", a,
                                 ints[k].lo, ints[k].hi, v);
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
                if (o->n_contexts == HN_MEASURE_MAX_CONTEXTS ||
                    parse_long(tok, 0, 1 << 20, &o->contexts[o->n_contexts]) != 0) {
                    return usage("--contexts: '%s' is not a list of up to %d context lengths, each "
                                 "from 0 to %d",
                                 v, HN_MEASURE_MAX_CONTEXTS, 1 << 20);
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
        } else if (strcmp(a, "--pick") == 0) {
            if ((o->pick = choice(hn_measure_picks, v)) < 0) {
                return usage("--pick must be fastest or first, found '%s'", v ? v : "");
            }
            i++;
        } else if (strcmp(a, "--clock") == 0) {
            if ((o->clock = choice(hn_measure_clocks, v)) < 0) {
                return usage("--clock must be wall or cpu, found '%s'", v ? v : "");
            }
            i++;
        } else if (strcmp(a, "--reference") == 0) {
            if (v == NULL || v[0] == '\0') {
                return usage("%s needs a model's config.json or a checkpoint directory", a);
            }
            o->reference = v;
            i++;
        } else if (strcmp(a, "--pin") == 0) {
            o->pin = 1;
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

/* a finite number, or 0 (JSON has no NaN) */
static json_t *number(double x)
{
    return json_real(isfinite(x) ? x : 0.0);
}

/* The device oracle's line: every metric of res, "settled", "cpu", the parameters, the
 * settings and the CPU model. */
static json_t *result_line(const struct opts *o, const struct hn_measure_result *res,
                           const struct hn_llm_config *c)
{
    json_t *j = json_object(), *s = json_object(), *ctx = json_array();
    char name[HN_MEASURE_NAME_MAX + 16], cpu[256];
    for (size_t k = 0; k < res->n; k++) {
        const struct hn_measure_metric *m = &res->m[k];
        json_object_set_new(
            j, m->name, json_pack("{s:o, s:o}", "value", number(m->value), "sem", number(m->sem)));
        snprintf(name, sizeof(name), "%s_cv", m->name);
        json_object_set_new(j, name, number(m->cv));
        snprintf(name, sizeof(name), "%s_settled", m->name);
        json_object_set_new(j, name, json_integer(m->settled));
        snprintf(name, sizeof(name), "%s_n", m->name);
        json_object_set_new(j, name, json_integer((json_int_t)m->n));
    }
    json_object_set_new(j, "settled", json_boolean(res->settled));
    json_object_set_new(j, "cpu", json_integer(res->cpu));
    json_object_set_new(j, "params", json_integer((json_int_t)hn_llm_param_count(c)));
    for (size_t i = 0; i < o->n_contexts; i++) {
        json_array_append_new(ctx, json_integer(o->contexts[i]));
    }
    json_object_set_new(s, "prompt", json_integer(o->prompt));
    json_object_set_new(s, "contexts", ctx);
    json_object_set_new(s, "decode_tokens", json_integer(o->decode_tokens));
    json_object_set_new(s, "threads", json_integer(res->threads));
    json_object_set_new(s, "dtype", json_string(hn_dtype_name(o->dtype)));
    /* as run: raised so that every instance is timed */
    size_t k = (size_t)o->instances;
    long min = (long)hn_measure_min_repeats(k, o->reference != NULL ? k : 0);
    long repeats = o->repeats > min ? o->repeats : min;
    json_object_set_new(s, "repeats", json_integer(repeats));
    json_object_set_new(s, "max_repeats",
                        json_integer(o->max_repeats > repeats ? o->max_repeats : repeats));
    json_object_set_new(s, "instances", json_integer(o->instances));
    json_object_set_new(s, "max_cv", json_real(o->max_cv));
    json_object_set_new(s, "warmup", json_integer(o->warmup));
    json_object_set_new(s, "seed", json_integer(o->seed));
    json_object_set_new(s, "pin", json_boolean(o->pin));
    json_object_set_new(s, "pick", json_string(hn_measure_picks[o->pick]));
    json_object_set_new(s, "pick_probe", json_integer(o->pick_probe));
    json_object_set_new(s, "clock", json_string(hn_measure_clocks[o->clock]));
    json_object_set_new(s, "reference", o->reference ? json_string(o->reference) : json_null());
    json_object_set_new(s, "blas", json_string(HN_BENCH_BLAS));
    json_object_set_new(j, "settings", s);
    cpu_model(cpu, sizeof(cpu));
    json_object_set_new(j, "cpu_model", json_string(cpu));
    return j;
}

/* The model of config c with random weights (seed) at dtype, or NULL with err. */
static struct hn_llm_model *random_model(const struct hn_llm_config *c, uint64_t seed,
                                         enum hn_dtype dtype, struct hn_error *err)
{
    struct hn_llm_model *m = hn_llm_model_new(c, err);
    if (m == NULL) {
        return NULL;
    }
    hn_llm_model_randomize(m, seed);
    if (hn_llm_set_dtype(m, dtype, err) != 0) {
        hn_llm_model_free(m);
        return NULL;
    }
    return m;
}

/* The measurement settings the options give. */
static struct hn_measure_settings settings_of(const struct opts *o)
{
    struct hn_measure_settings s = {.prompt = o->prompt,
                                    .n_contexts = o->n_contexts,
                                    .per_context = o->have_contexts,
                                    .decode_tokens = o->decode_tokens,
                                    .repeats = o->repeats,
                                    .max_repeats = o->max_repeats,
                                    .warmup = o->warmup,
                                    .max_cv = o->max_cv,
                                    .clock = o->clock,
                                    .pin = o->pin,
                                    .pick = o->pick,
                                    .pick_probe = o->pick_probe};
    for (size_t i = 0; i < o->n_contexts; i++) {
        s.contexts[i] = o->contexts[i];
    }
    return s;
}

/* The architecture (config.json or checkpoint directory) at path into c, checked to have the
 * positions s needs; what: "" or "--reference " for messages. Returns 0, or 1 after saying why. */
static int read_arch(const char *path, const char *what, const struct hn_measure_settings *s,
                     struct hn_llm_config *c)
{
    struct hn_error err;
    hn_error_clear(&err);
    if (hn_measure_config_read(path, c, &err) != 0) {
        fprintf(stderr,
                "hilnas-bench: %s%s; give a model's config.json or a checkpoint directory\n", what,
                err.msg);
        return 1;
    }
    int64_t need = hn_measure_positions(s);
    if (need > c->max_position_embeddings) {
        fprintf(stderr,
                "hilnas-bench: %s%s: prompt %lld / context + decode tokens %lld exceed "
                "max_position_embeddings %d; lower --prompt, --contexts or --decode-tokens\n",
                what, path, (long long)s->prompt, (long long)need, c->max_position_embeddings);
        return 1;
    }
    return 0;
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
    struct hn_llm_config c, rc_config = {0};
    struct hn_llm_model *m[HN_MEASURE_MAX_INSTANCES] = {NULL};
    struct hn_llm_model *ref[HN_MEASURE_MAX_INSTANCES] = {NULL};
    struct hn_measure_model *mm[HN_MEASURE_MAX_INSTANCES] = {NULL};
    struct hn_measure_model *ref_mm[HN_MEASURE_MAX_INSTANCES] = {NULL};
    size_t k = (size_t)o.instances;
    struct hn_measurer *me = NULL;
    struct hn_measure_result *res = NULL;
    json_t *line = NULL;
    struct hn_measure_settings s = settings_of(&o);
    if (read_arch(o.arch, "", &s, &c) != 0 ||
        (o.reference != NULL && read_arch(o.reference, "--reference ", &s, &rc_config) != 0)) {
        return 1;
    }
    rc = 1;
    int threads = hn_llm_set_threads((int)o.threads);
    res = malloc(sizeof(*res));
    if (res == NULL || (me = hn_measurer_new(&s, &err)) == NULL) {
        fprintf(stderr, "hilnas-bench: %s\n", res == NULL ? "out of memory" : err.msg);
        goto done;
    }
    /* each instance allocated on its own, weights of its own seed (the first: --seed, and
     * --seed + 1 for the reference) */
    for (size_t i = 0; i < k; i++) {
        uint64_t seed = (uint64_t)o.seed + 2 * i;
        if ((m[i] = random_model(&c, seed, o.dtype, &err)) == NULL ||
            (mm[i] = hn_measure_model_new(m[i], &s, seed, &err)) == NULL ||
            (o.reference != NULL &&
             ((ref[i] = random_model(&rc_config, seed + 1, o.dtype, &err)) == NULL ||
              (ref_mm[i] = hn_measure_model_new(ref[i], &s, seed + 1, &err)) == NULL))) {
            fprintf(stderr, "hilnas-bench: %s\n", err.msg);
            goto done;
        }
    }
    if (hn_measure_run_instances(me, threads, mm, k, ref_mm, o.reference != NULL ? k : 0, NULL,
                                 NULL, res, &err) != 0) {
        fprintf(stderr, "hilnas-bench: %s\n", err.msg);
        goto done;
    }
    line = result_line(&o, res, &c);
    char *text = line != NULL ? json_dumps(line, 0) : NULL;
    if (text == NULL) {
        fprintf(stderr, "hilnas-bench: out of memory\n");
        goto done;
    }
    printf("%s\n", text);
    free(text);
    rc = 0;
done:
    json_decref(line);
    free(res);
    for (size_t i = 0; i < k; i++) {
        hn_measure_model_free(ref_mm[i]);
        hn_measure_model_free(mm[i]);
        hn_llm_model_free(ref[i]);
        hn_llm_model_free(m[i]);
    }
    hn_measurer_free(me);
    return rc;
}
