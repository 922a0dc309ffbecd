/*
 * hilnas oracle "host": latency of an architecture measured on this machine's CPU with the
 * llm/ engine, with measurements that resist noise.
 *
 * The trial's architecture (a Hugging Face LlamaConfig as the transformer space decodes it) is
 * built with random weights (latency does not depend on their values) and timed:
 *   prefill_ms        one forward pass over `prompt` tokens into an empty KV cache (the logits
 *                     of the last token only, as generation needs)
 *   decode_ms         per generated token: the mean time of `decode_tokens` one-token steps
 *                     with `context` tokens in the cache; with `contexts: [c1, c2, ...]` one
 *                     metric per context instead, decode_ms_<c> (e.g. decode_ms_2048)
 *   ref_ms            a fixed-cost reference workload (a 16 x 512 x 512 matmul on the same
 *                     threads) timed alongside: it measures the machine, not the architecture
 *   drift             ref_ms / the fastest reference this instance has seen - 1: how much
 *                     slower the machine was during this trial (other load, throttling)
 * and for every timed metric m: m_cv (robust spread: 1.4826 MAD / median) and m_settled (1 when
 * m_cv <= max_cv, else 0). Each metric's value is the median of its repeats; its standard error
 * 1.2533 s / sqrt(n) (s: the sample standard deviation), the standard error of a median.
 *
 * Protocol: `warmup` unrecorded rounds, then rounds of one measurement of every metric in turn
 * (interleaved, so slow phases of the machine hit all metrics alike) until each has `repeats`
 * values; then more rounds, of the metrics whose spread is above `max_cv` only, until they
 * settle or have `max_repeats` values. A trial whose drift exceeds `max_drift` is measured
 * again once (`drift_retries`); if it still drifts the trial keeps the measurement, with drift
 * in its metrics and a warning in the log. With `pin: true` the engine's threads are pinned
 * one per CPU of the process's affinity mask for the measurement (sched_setaffinity from
 * inside the OpenMP pool; restored afterwards). Threads: `threads`, or the evaluation's share
 * of the CPUs. `dtype` stores the weights at a deployment precision (hilnas/llm/qmat.h) before
 * timing. Run host measurements one at a time (the serial executor): trials measured side
 * by side slow each other down.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include "config.h"

#include <math.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "hilnas/util.h"
#include "hilnas/evaluator.h"
#include "hilnas/log.h"
#include "hilnas/rng.h"
#include "hilnas/llm/decode.h"
#include "hilnas/llm/llm_config.h"
#include "hilnas/llm/model.h"
#include "hilnas/llm/ops.h"

#define MAX_CONTEXTS 32
#define MAX_TIMED (MAX_CONTEXTS + 2) /* prefill, decodes, reference */

struct host {
    int64_t prompt, context, decode_tokens, repeats, max_repeats, warmup, threads, drift_retries;
    double max_cv, max_drift;
    int pin;
    int dtype; /* enum hn_dtype: index into dtypes (the same order) */
    int clock; /* index into clocks: 0 wall (monotonic), 1 cpu (the process's CPU time) */
    const struct hn_config_node *contexts_node;
    size_t n_contexts;
    int64_t contexts[MAX_CONTEXTS];
    const char *instance;
    double best_ref; /* fastest reference median seen, ms (0: none yet) */
    size_t n_timed;  /* prefill + decodes + reference */
    char names[MAX_TIMED][64];
    const char *metric_names[3 * MAX_TIMED + 2];
    char extra[3 * MAX_TIMED][80];
};

static const char *const dtypes[] = {"f32", "bf16", "f16", "q8_0", NULL};
static const char *const clocks[] = {"wall", "cpu", NULL};

static const struct hn_option host_options[] = {
    {.name = "prompt",
     .type = HN_OPT_INT,
     .def = "128",
     .min = 1,
     .max = 1 << 20,
     .bounded = 1,
     .offset = offsetof(struct host, prompt),
     .help = "Tokens of the timed prefill."},
    {.name = "context",
     .type = HN_OPT_INT,
     .def = "256",
     .min = 0,
     .max = 1 << 20,
     .bounded = 1,
     .offset = offsetof(struct host, context),
     .help = "Tokens already in the KV cache when decode_ms is timed (without `contexts`)."},
    {.name = "contexts",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct host, contexts_node),
     .help = "Context lengths at which decoding is timed, e.g. [0, 512, 2048]: metrics "
             "decode_ms_<c> instead of decode_ms."},
    {.name = "decode_tokens",
     .type = HN_OPT_INT,
     .def = "16",
     .min = 1,
     .max = 1 << 16,
     .bounded = 1,
     .offset = offsetof(struct host, decode_tokens),
     .help = "Tokens generated per decode measurement (decode_ms is their mean)."},
    {.name = "repeats",
     .type = HN_OPT_INT,
     .def = "5",
     .min = 1,
     .max = 1000,
     .bounded = 1,
     .offset = offsetof(struct host, repeats),
     .help = "Measurements per metric at least (median)."},
    {.name = "max_repeats",
     .type = HN_OPT_INT,
     .def = "15",
     .min = 1,
     .max = 10000,
     .bounded = 1,
     .offset = offsetof(struct host, max_repeats),
     .help = "Measurements per metric at most, while its spread exceeds max_cv."},
    {.name = "max_cv",
     .type = HN_OPT_DOUBLE,
     .def = "0.03",
     .min = 0,
     .max = 10,
     .bounded = 1,
     .offset = offsetof(struct host, max_cv),
     .help = "Spread (robust coefficient of variation) under which a metric is settled."},
    {.name = "max_drift",
     .type = HN_OPT_DOUBLE,
     .def = "0.10",
     .min = 0,
     .max = 100,
     .bounded = 1,
     .offset = offsetof(struct host, max_drift),
     .help = "Slowdown of the reference workload (vs the fastest seen) that triggers a "
             "re-measurement, then a warning."},
    {.name = "drift_retries",
     .type = HN_OPT_INT,
     .def = "1",
     .min = 0,
     .max = 10,
     .bounded = 1,
     .offset = offsetof(struct host, drift_retries),
     .help = "Re-measurements of a trial whose drift exceeds max_drift."},
    {.name = "warmup",
     .type = HN_OPT_INT,
     .def = "1",
     .min = 0,
     .max = 100,
     .bounded = 1,
     .offset = offsetof(struct host, warmup),
     .help = "Unrecorded rounds before measuring."},
    {.name = "threads",
     .type = HN_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 1024,
     .bounded = 1,
     .offset = offsetof(struct host, threads),
     .help = "Engine threads; 0: the evaluation's share of the CPUs."},
    {.name = "pin",
     .type = HN_OPT_BOOL,
     .def = "false",
     .offset = offsetof(struct host, pin),
     .help = "Pin the engine's threads, one per CPU the process may run on, while measuring."},
    {.name = "dtype",
     .type = HN_OPT_ENUM,
     .def = "f32",
     .choices = dtypes,
     .offset = offsetof(struct host, dtype),
     .help = "Weight storage precision timed (f32, bf16, f16, q8_0; F32 arithmetic): decode "
             "time follows the bytes."},
    {.name = "clock",
     .type = HN_OPT_ENUM,
     .def = "wall",
     .choices = clocks,
     .offset = offsetof(struct host, clock),
     .help = "wall: elapsed time; cpu: the process's CPU time, which leaves out the time it "
             "waits for a CPU on a loaded machine (equal to wall time on an idle one for "
             "threads: 1; with more threads it adds theirs, so use it with threads: 1)."},
    {.name = NULL},
};
static void *host_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct host *h = calloc(1, sizeof(*h));
    char where[1024];
    if (h == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_apply(host_options, args->node, h, "oracle 'host'", "host", err) != 0) {
        goto fail;
    }
    const struct hn_config_node *c = h->contexts_node;
    if (c != NULL) {
        if (c->type != HN_NODE_SEQUENCE || c->n == 0 || c->n > MAX_CONTEXTS) {
            hn_error_config(err, hn_config_where(c, where, sizeof(where)),
                            "%s: must list 1 to %d context lengths (tokens), e.g. [0, 512, 2048]",
                            c->path, MAX_CONTEXTS);
            goto fail;
        }
        for (size_t i = 0; i < c->n; i++) {
            if (hn_config_to_int(c->items[i], &h->contexts[i], err) != 0) {
                goto fail;
            }
            if (h->contexts[i] < 0 || h->contexts[i] > (1 << 20)) {
                hn_error_config(err, hn_config_where(c->items[i], where, sizeof(where)),
                                "%s: %lld is not a context length (0 .. 1048576 tokens)",
                                c->items[i]->path, (long long)h->contexts[i]);
                goto fail;
            }
            for (size_t j = 0; j < i; j++) {
                if (h->contexts[j] == h->contexts[i]) {
                    hn_error_config(err, hn_config_where(c->items[i], where, sizeof(where)),
                                    "%s: context %lld is listed twice", c->items[i]->path,
                                    (long long)h->contexts[i]);
                    goto fail;
                }
            }
        }
        h->n_contexts = c->n;
    } else {
        h->n_contexts = 1;
        h->contexts[0] = h->context;
    }
    if (h->max_repeats < h->repeats) {
        h->max_repeats = h->repeats;
    }
    h->instance = args->instance;
    /* timed metrics: prefill, the decodes, the reference; then their _cv and _settled */
    size_t k = 0, e = 0;
    snprintf(h->names[k++], sizeof(h->names[0]), "prefill_ms");
    for (size_t i = 0; i < h->n_contexts; i++) {
        if (c != NULL) {
            snprintf(h->names[k++], sizeof(h->names[0]), "decode_ms_%lld",
                     (long long)h->contexts[i]);
        } else {
            snprintf(h->names[k++], sizeof(h->names[0]), "decode_ms");
        }
    }
    snprintf(h->names[k++], sizeof(h->names[0]), "ref_ms");
    h->n_timed = k;
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        h->metric_names[m++] = h->names[i];
        snprintf(h->extra[e], sizeof(h->extra[0]), "%s_cv", h->names[i]);
        h->metric_names[m++] = h->extra[e++];
        snprintf(h->extra[e], sizeof(h->extra[0]), "%s_settled", h->names[i]);
        h->metric_names[m++] = h->extra[e++];
    }
    h->metric_names[m++] = "drift";
    h->metric_names[m] = NULL;
    return h;
fail:
    free(h);
    return NULL;
}

static void host_destroy(void *ctx)
{
    free(ctx);
}

static const char *const *host_metric_names(void *ctx)
{
    return ((struct host *)ctx)->metric_names;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, standard error of the median and robust spread (1.4826 MAD / median) of v[0..n). */
static void summarize(const double *v, size_t n, double *median, double *sem, double *cv)
{
    double *w = malloc((n + 1) * sizeof(double));
    double mean = 0.0, ss = 0.0;
    if (w == NULL) {
        *median = *sem = *cv = NAN;
        return;
    }
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
    free(w);
    *median = med;
    *sem = n > 1 ? 1.2533 * sqrt(ss / (double)(n - 1)) / sqrt((double)n) : NAN;
    *cv = n > 1 && med > 0 ? 1.4826 * mad / med : NAN;
}

/* Pin the pool's threads (n of them) one per allowed CPU (pin = 1), or give them back the
 * saved mask (pin = 0). */
static void pin_threads(int n, const cpu_set_t *allowed, int pin)
{
#ifdef _OPENMP
#pragma omp parallel num_threads(n)
    {
        int t = omp_get_thread_num(), seen = 0;
        cpu_set_t one;
        CPU_ZERO(&one);
        for (int cpu = 0; cpu < CPU_SETSIZE && pin; cpu++) {
            if (CPU_ISSET(cpu, allowed) && seen++ == t % CPU_COUNT(allowed)) {
                CPU_SET(cpu, &one);
                break;
            }
        }
        sched_setaffinity(0, sizeof(cpu_set_t), pin ? &one : allowed);
    }
#else
    (void)n;
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE && pin; cpu++) {
        if (CPU_ISSET(cpu, allowed)) {
            CPU_SET(cpu, &one);
            break;
        }
    }
    sched_setaffinity(0, sizeof(cpu_set_t), pin ? &one : allowed);
#endif
}

struct bench {
    const struct host *h;
    struct hn_llm_infer *pinf; /* prefill runs */
    struct hn_llm_infer *inf;  /* decode runs: the cache is filled once */
    int *tokens;
    float *logits;
    int vocab;
    float *ref_out, *ref_in, *ref_w; /* the reference workload's operands */
    struct hn_rng rng;
    struct hn_progress *progress; /* the evaluation's (may be NULL) */
};

/* seconds on the instance's clock */
static double clock_now(const struct host *h)
{
    if (h->clock == 1) {
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    }
    return hn_monotonic();
}

/* One timed run of metric k, in ms. */
static int time_one(struct bench *b, size_t k, double *ms, struct hn_error *err)
{
    const struct host *h = b->h;
    double t0;
    if (k == 0) {
        hn_llm_infer_reset(b->pinf);
        t0 = clock_now(h);
        if (hn_llm_infer_forward(b->pinf, b->tokens, (int)h->prompt, b->logits, 0, err) != 0) {
            return -1;
        }
        *ms = 1e3 * (clock_now(h) - t0);
    } else if (k == h->n_timed - 1) {
        t0 = clock_now(h);
        hn_matmul_forward(b->ref_out, b->ref_in, b->ref_w, 16, 512, 512);
        *ms = 1e3 * (clock_now(h) - t0);
    } else {
        /* the cache holds the first max(contexts) prompt tokens (one untimed prefill); decoding
         * at context c rewinds to position c (the rows after it are overwritten) */
        int64_t c = h->contexts[k - 1];
        b->inf->pos = (int)c;
        int tok = b->tokens[c];
        t0 = clock_now(h);
        for (int64_t i = 0; i < h->decode_tokens; i++) {
            if (hn_llm_infer_forward(b->inf, &tok, 1, b->logits, 0, err) != 0) {
                return -1;
            }
            tok = hn_llm_sample(b->logits, b->vocab, 0.0, 0, &b->rng);
        }
        *ms = 1e3 * (clock_now(h) - t0) / (double)h->decode_tokens;
    }
    return 0;
}

/* The interleaved protocol: v (n_timed x max_repeats), n[k] values of metric k. */
static int measure(struct bench *b, double *v, size_t *n, struct hn_error *err)
{
    const struct host *h = b->h;
    size_t K = h->n_timed, R = (size_t)h->max_repeats;
    int64_t max_ctx = 0;
    for (size_t i = 0; i < h->n_contexts; i++) {
        max_ctx = h->contexts[i] > max_ctx ? h->contexts[i] : max_ctx;
    }
    int prefilled = 0; /* the decode cache is valid (a prefill run resets it) */
    int active[MAX_TIMED];
    for (size_t k = 0; k < K; k++) {
        n[k] = 0;
        active[k] = 1;
    }
    for (int64_t round = -h->warmup;; round++) {
        int any = 0;
        if (round < 0) {
            hn_progress_update(b->progress, "warming up", "round", round + h->warmup + 1,
                               h->warmup);
        } else {
            /* rounds past `repeats` (unsettled metrics) count up to max_repeats */
            hn_progress_update(b->progress, "measuring", "round", round + 1,
                               round < h->repeats ? h->repeats : h->max_repeats);
        }
        for (size_t k = 0; k < K; k++) {
            if (!active[k]) {
                continue;
            }
            if (k > 0 && k < K - 1 && !prefilled) {
                hn_llm_infer_reset(b->inf);
                if (max_ctx > 0 &&
                    hn_llm_infer_forward(b->inf, b->tokens, (int)max_ctx, NULL, 0, err) != 0) {
                    return -1;
                }
                prefilled = 1;
            }
            double ms;
            if (time_one(b, k, &ms, err) != 0) {
                return -1;
            }
            if (round >= 0) {
                v[k * R + n[k]++] = ms;
            }
            any = 1;
        }
        if (!any) {
            break;
        }
        /* after `repeats`, keep measuring only what has not settled, up to max_repeats */
        for (size_t k = 0; k < K; k++) {
            if (round < 0 || n[k] < (size_t)h->repeats) {
                continue;
            }
            double med, sem, cv;
            summarize(v + k * R, n[k], &med, &sem, &cv);
            if (n[k] >= R || (isfinite(cv) && cv <= h->max_cv) || (n[k] < 2)) {
                active[k] = 0;
            }
        }
    }
    return 0;
}

/*
 * The trial's architecture, and the positions the runs need: *need for the prompt and the
 * decode runs, *need_decode for the decode runs (the longest context plus decode_tokens).
 */
static int read_arch(const struct host *h, const json_t *arch, struct hn_llm_config *c,
                     int64_t *need, int64_t *need_decode, struct hn_error *err)
{
    if (!json_is_object(arch) || json_object_get(arch, "hidden_size") == NULL) {
        return hn_error_config(err, NULL,
                               "the trial has no transformer architecture to measure; use the "
                               "space 'transformer' (or one that decodes to a LlamaConfig)");
    }
    if (hn_llm_config_from_json(arch, "architecture", c, err) != 0) {
        return -1;
    }
    *need = h->prompt;
    *need_decode = 1;
    for (size_t i = 0; i < h->n_contexts; i++) {
        if (h->contexts[i] + h->decode_tokens > *need_decode) {
            *need_decode = h->contexts[i] + h->decode_tokens;
        }
        *need = *need > *need_decode ? *need : *need_decode;
    }
    if (*need > c->max_position_embeddings) {
        return hn_error_config(err, NULL,
                               "prompt %lld / context + decode_tokens %lld exceed the "
                               "architecture's max_position_embeddings (%d); lower them",
                               (long long)h->prompt, (long long)*need,
                               c->max_position_embeddings);
    }
    return 0;
}

static void bench_free(struct bench *b)
{
    free(b->tokens);
    free(b->logits);
    free(b->ref_out);
    free(b->ref_in);
    free(b->ref_w);
    hn_llm_infer_free(b->inf);
    hn_llm_infer_free(b->pinf);
}

/* The inference states of m, random prompt tokens and the reference workload's operands. */
static int bench_setup(struct bench *b, const struct hn_llm_model *m, int64_t need,
                       int64_t need_decode, uint64_t seed, struct hn_error *err)
{
    const struct host *h = b->h;
    int vocab = m->config.vocab_size;
    b->pinf = hn_llm_infer_new(m, (int)h->prompt, (int)h->prompt, err);
    b->inf = b->pinf == NULL ? NULL : hn_llm_infer_new(m, (int)need_decode, 256, err);
    b->vocab = vocab;
    b->tokens = malloc((size_t)need * sizeof(int));
    b->logits = malloc((size_t)vocab * sizeof(float));
    b->ref_out = calloc(16 * 512, sizeof(float));
    b->ref_in = calloc(16 * 512, sizeof(float));
    b->ref_w = calloc(512 * 512, sizeof(float));
    if (b->inf == NULL || b->tokens == NULL || b->logits == NULL || b->ref_out == NULL ||
        b->ref_in == NULL || b->ref_w == NULL) {
        return b->inf != NULL ? hn_error_set(err, NULL, "out of memory") : -1;
    }
    hn_rng_seed(&b->rng, hn_rng_derive(seed, 1));
    for (int64_t i = 0; i < need; i++) {
        b->tokens[i] = (int)hn_rng_below(&b->rng, (uint64_t)vocab);
    }
    for (size_t i = 0; i < 16 * 512; i++) {
        b->ref_in[i] = (float)(hn_rng_uniform(&b->rng) - 0.5);
    }
    for (size_t i = 0; i < 512 * 512; i++) {
        b->ref_w[i] = (float)(hn_rng_uniform(&b->rng) - 0.5) * 0.05f;
    }
    return 0;
}

/*
 * The protocol, measured again (up to drift_retries times) while the reference workload runs
 * more than max_drift slower than the fastest seen by this instance. *drift: the last
 * measurement's.
 */
static int measure_settled(struct bench *b, struct host *h, long trial, double *v, size_t *n,
                           double *drift, struct hn_error *err)
{
    double ref = NAN;
    *drift = 0.0;
    for (int64_t attempt = 0;; attempt++) {
        if (measure(b, v, n, err) != 0) {
            return -1;
        }
        double sem, cv;
        size_t k = h->n_timed - 1;
        summarize(v + k * (size_t)h->max_repeats, n[k], &ref, &sem, &cv);
        if (h->best_ref == 0 || ref < h->best_ref) {
            h->best_ref = ref;
        }
        *drift = ref / h->best_ref - 1.0;
        if (*drift <= h->max_drift || attempt >= h->drift_retries) {
            break;
        }
        hn_log(HN_LOG_INFO,
               "oracle '%s': trial %ld: the reference ran %.0f %% slower than the fastest "
               "seen; measuring again",
               h->instance, trial, 100 * *drift);
    }
    if (*drift > h->max_drift) {
        hn_log(HN_LOG_WARNING,
               "oracle '%s': trial %ld measured while the machine was %.0f %% slower than its "
               "fastest (reference %.3f ms vs %.3f ms); its latencies are suspect",
               h->instance, trial, 100 * *drift, ref, h->best_ref);
    }
    return 0;
}

/* Each timed metric's median and standard error, "<name>_cv", "<name>_settled", and drift. */
static int put_timings(const struct host *h, const double *v, const size_t *n, double drift,
                       struct hn_metrics *out, struct hn_error *err)
{
    for (size_t k = 0; k < h->n_timed; k++) {
        double med, sem, cv;
        char name[96];
        summarize(v + k * (size_t)h->max_repeats, n[k], &med, &sem, &cv);
        if (hn_metrics_put(out, h->names[k], med, sem, err) != 0) {
            return -1;
        }
        snprintf(name, sizeof(name), "%s_cv", h->names[k]);
        if (hn_metrics_put(out, name, isfinite(cv) ? cv : 0.0, NAN, err) != 0) {
            return -1;
        }
        snprintf(name, sizeof(name), "%s_settled", h->names[k]);
        if (hn_metrics_put(out, name, isfinite(cv) && cv <= h->max_cv ? 1.0 : 0.0, NAN, err) !=
            0) {
            return -1;
        }
    }
    return hn_metrics_put(out, "drift", drift, NAN, err);
}

static int host_evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                         struct hn_error *err)
{
    struct host *h = ctx;
    struct hn_llm_config c;
    struct hn_llm_model *m = NULL;
    struct bench b = {.h = h, .progress = req->progress};
    double *v = NULL, drift;
    size_t n[MAX_TIMED];
    int rc = -1, pinned = 0, threads;
    int64_t need = 0, need_decode = 0;
    cpu_set_t allowed;
    if (read_arch(h, req->trial->arch, &c, &need, &need_decode, err) != 0) {
        return -1;
    }
    threads = hn_llm_set_threads(h->threads > 0 ? (int)h->threads : req->threads);
    m = hn_llm_model_new(&c, err);
    if (m == NULL) {
        goto done;
    }
    hn_llm_model_randomize(m, req->seed);
    if (hn_llm_set_dtype(m, (enum hn_dtype)h->dtype, err) != 0 ||
        bench_setup(&b, m, need, need_decode, req->seed, err) != 0) {
        goto done;
    }
    v = malloc(h->n_timed * (size_t)h->max_repeats * sizeof(double));
    if (v == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    if (h->pin && sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
        pin_threads(threads, &allowed, 1);
        pinned = 1;
    }
    if (measure_settled(&b, h, req->trial->id, v, n, &drift, err) != 0 ||
        put_timings(h, v, n, drift, out, err) != 0) {
        goto done;
    }
    rc = 0;
done:
    if (pinned) {
        pin_threads(threads, &allowed, 0);
    }
    free(v);
    bench_free(&b);
    hn_llm_model_free(m);
    return rc;
}

static const struct hn_oracle_ops host_ops = {
    .size = sizeof(struct hn_oracle_ops),
    .create = host_create,
    .destroy = host_destroy,
    .metrics = host_metric_names,
    .evaluate = host_evaluate,
    .fit = NULL,
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_ORACLE),
    .name = "host",
    .summary = "Prefill and decode latency of the architecture on this CPU (llm/ engine)",
    .options = host_options,
    .oracle = &host_ops,
};
