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
 *   ref_ms            a fixed-cost reference workload (a 256 x 512 x 512 matmul on the same
 *                     threads, about 1 ms) timed alongside: it measures the machine, not the
 *                     architecture
 *   mem_ms            a fixed-size memory reference: one pass reading 64 MiB on the first
 *                     thread: DRAM bandwidth, which decode depends on and other tenants of the
 *                     machine share
 *   cpu               the first CPU the threads were pinned to (-1 without `pin`)
 *   drift             the larger of ref_ms and mem_ms over the median of each in the last 64
 *                     trials this instance measured, - 1 (0 if faster): how much slower the
 *                     machine was during this trial than usual (other load, throttling,
 *                     memory traffic of other tenants)
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

#include "hilnas/evaluator.h"
#include "hilnas/llm/decode.h"
#include "hilnas/llm/llm_config.h"
#include "hilnas/llm/model.h"
#include "hilnas/llm/ops.h"
#include "hilnas/log.h"
#include "hilnas/rng.h"
#include "hilnas/util.h"

#define MAX_CONTEXTS 32
#define MAX_TIMED (MAX_CONTEXTS + 3) /* prefill, decodes, two references */
#define DRIFT_WINDOW 64

struct host {
    int64_t prompt, context, decode_tokens, repeats, max_repeats, warmup, threads, drift_retries;
    double max_cv, max_drift;
    int pin;
    int pick;  /* index into picks: 0 fastest, 1 first */
    int dtype; /* enum hn_dtype: index into dtypes (the same order) */
    int clock; /* index into clocks: 0 wall (monotonic), 1 cpu (the process's CPU time) */
    const struct hn_config_node *contexts_node;
    size_t n_contexts;
    int64_t contexts[MAX_CONTEXTS];
    /* the references of the last DRIFT_WINDOW trials (ring), ms: drift is against their median */
    double seen_ref[DRIFT_WINDOW], seen_mem[DRIFT_WINDOW];
    size_t n_seen;
    size_t mem_words; /* the memory reference's buffer, 8-byte words */
    size_t n_timed;   /* prefill + decodes + ref_ms + mem_ms */
    char names[MAX_TIMED][64];
    const char *metric_names[3 * MAX_TIMED + 3];
    char extra[3 * MAX_TIMED][80];
};

static const char *const dtypes[] = {"f32", "bf16", "f16", "q8_0", NULL};
static const char *const clocks[] = {"wall", "cpu", NULL};
static const char *const picks[] = {"fastest", "first", NULL};

/* the reference workload: REF_ROWS x REF_DIM times REF_DIM x REF_DIM, about a millisecond */
#define REF_ROWS 256
#define REF_DIM 512
/* the memory reference: more than the last-level cache one core reaches on most CPUs (32 MiB
 * per core complex here; sysconf reports the whole socket's, so it is no guide) */
#define MEM_BYTES ((size_t)64 << 20)

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
     .help = "Slowdown of the references (vs their medians over the last 64 trials) that "
             "triggers a re-measurement, then a warning."},
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
     .help = "Pin the engine's threads, one per CPU, while measuring (CPUs chosen by `pick`)."},
    {.name = "pick",
     .type = HN_OPT_ENUM,
     .def = "fastest",
     .choices = picks,
     .offset = offsetof(struct host, pick),
     .help = "With pin: which CPUs of the process's mask the threads are pinned to. fastest: "
             "the reference workload is timed on each before every trial and the threads go "
             "to the fastest (on a shared or virtual machine one CPU can be slowed by another "
             "tenant, and big.LITTLE cores differ); first: the lowest-numbered."},
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
    if (hn_options_fill(host_options, args->node, h, err) != 0) {
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
    h->mem_words = MEM_BYTES / sizeof(uint64_t);
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
    snprintf(h->names[k++], sizeof(h->names[0]), "mem_ms");
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
    h->metric_names[m++] = "cpu";
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

/* The median of v[0..n), n >= 1 (v is not changed). */
static double median_of(const double *v, size_t n)
{
    double s[DRIFT_WINDOW];
    n = n < DRIFT_WINDOW ? n : DRIFT_WINDOW;
    memcpy(s, v, n * sizeof(double));
    qsort(s, n, sizeof(double), cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
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

/* Pin the pool's threads (n of them) one per CPU of `use` (pin = 1), or give them back the
 * saved mask `use` (pin = 0). */
static void pin_threads(int n, const cpu_set_t *use, int pin)
{
#ifdef _OPENMP
#pragma omp parallel num_threads(n)
    {
        int t = omp_get_thread_num(), seen = 0;
        cpu_set_t one;
        CPU_ZERO(&one);
        for (int cpu = 0; cpu < CPU_SETSIZE && pin; cpu++) {
            if (CPU_ISSET(cpu, use) && seen++ == t % CPU_COUNT(use)) {
                CPU_SET(cpu, &one);
                break;
            }
        }
        sched_setaffinity(0, sizeof(cpu_set_t), pin ? &one : use);
    }
#else
    (void)n;
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE && pin; cpu++) {
        if (CPU_ISSET(cpu, use)) {
            CPU_SET(cpu, &one);
            break;
        }
    }
    sched_setaffinity(0, sizeof(cpu_set_t), pin ? &one : use);
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
    uint64_t *mem;                   /* the memory reference's buffer (h->mem_words) */
    volatile uint64_t mem_sink;
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
    } else if (k == h->n_timed - 2) {
        t0 = clock_now(h);
        hn_matmul_forward(b->ref_out, b->ref_in, b->ref_w, REF_ROWS, REF_DIM, REF_DIM);
        *ms = 1e3 * (clock_now(h) - t0);
    } else if (k == h->n_timed - 1) {
        uint64_t a[8] = {0};
        t0 = clock_now(h);
        for (size_t i = 0; i + 8 <= h->mem_words; i += 8) {
            for (int j = 0; j < 8; j++) {
                a[j] ^= b->mem[i + (size_t)j];
            }
        }
        *ms = 1e3 * (clock_now(h) - t0);
        b->mem_sink = a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[4] ^ a[5] ^ a[6] ^ a[7];
    } else {
        /* the cache holds the first max(contexts) prompt tokens (one untimed prefill); decoding
         * at context c rewinds to position c (the rows after it are overwritten) */
        int64_t c = h->contexts[k - 1];
        int tok = b->tokens[c];
        /* one untimed step first (the same row, rewritten by the first timed one): the timed
         * steps find the caches as the steps of a generation loop do, not as the previous
         * measurement left them */
        b->inf->pos = (int)c;
        if (hn_llm_infer_forward(b->inf, &tok, 1, b->logits, 0, err) != 0) {
            return -1;
        }
        b->inf->pos = (int)c;
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
            if (k > 0 && k <= h->n_contexts && !prefilled) {
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

/* The CPUs of `allowed` the threads are pinned to, into `use`: all of them when there are no
 * more than `threads`; else the `threads` lowest-numbered (pick: first) or the fastest (pick:
 * fastest). Fastest: on each CPU in turn, PICK_ROUNDS times, the reference workload (compute)
 * and one decode step of the trial's model (memory: on a virtual machine a CPU can be as fast
 * as another in arithmetic and much slower in reaching this process's memory) are timed on the
 * wall clock; a CPU's score is the sum of its best times, each relative to the best of all
 * CPUs. The calling thread is moved from CPU to CPU; the caller restores its mask. */
#define PICK_ROUNDS 3
#define PICK_MAX_CPUS 256
static int choose_cpus(const struct host *h, struct bench *b, int threads, const cpu_set_t *allowed,
                       cpu_set_t *use, struct hn_error *err)
{
    int cpus[PICK_MAX_CPUS], n = 0;
    double best[PICK_MAX_CPUS][2], low[2] = {INFINITY, INFINITY};
    for (int cpu = 0; cpu < CPU_SETSIZE && n < PICK_MAX_CPUS; cpu++) {
        if (CPU_ISSET(cpu, allowed)) {
            best[n][0] = best[n][1] = INFINITY;
            cpus[n++] = cpu;
        }
    }
    CPU_ZERO(use);
    if (n <= threads || h->pick == 1) {
        for (int i = 0; i < n && (i < threads || n <= threads); i++) {
            CPU_SET(cpus[i], use);
        }
        return 0;
    }
    hn_llm_set_threads(1);
    for (int r = 0; r < PICK_ROUNDS; r++) {
        for (int i = 0; i < n; i++) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(cpus[i], &one);
            if (sched_setaffinity(0, sizeof(one), &one) != 0) {
                continue;
            }
            double t0 = hn_monotonic();
            hn_matmul_forward(b->ref_out, b->ref_in, b->ref_w, REF_ROWS, REF_DIM, REF_DIM);
            double t1 = hn_monotonic();
            int tok = b->tokens[0];
            hn_llm_infer_reset(b->inf);
            if (hn_llm_infer_forward(b->inf, &tok, 1, b->logits, 0, err) != 0) {
                hn_llm_set_threads(threads);
                return -1;
            }
            double t2 = hn_monotonic();
            best[i][0] = fmin(best[i][0], t1 - t0);
            best[i][1] = fmin(best[i][1], t2 - t1);
        }
    }
    hn_llm_set_threads(threads);
    for (int i = 0; i < n; i++) {
        low[0] = fmin(low[0], best[i][0]);
        low[1] = fmin(low[1], best[i][1]);
    }
    for (int k = 0; k < threads; k++) { /* the `threads` best scores, by selection */
        int j = -1;
        double sj = INFINITY;
        for (int i = 0; i < n; i++) {
            double si = best[i][0] / low[0] + best[i][1] / low[1];
            if (!CPU_ISSET(cpus[i], use) && (j < 0 || si < sj)) {
                j = i;
                sj = si;
            }
        }
        CPU_SET(cpus[j], use);
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
                               (long long)h->prompt, (long long)*need, c->max_position_embeddings);
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
    free(b->mem);
    hn_llm_infer_free(b->inf);
    hn_llm_infer_free(b->pinf);
}

/* The inference states of m, random prompt tokens, and the compute and memory references'
 * operands. Returns 0, or -1 with err. */
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
    b->ref_out = calloc(REF_ROWS * REF_DIM, sizeof(float));
    b->ref_in = calloc(REF_ROWS * REF_DIM, sizeof(float));
    b->ref_w = calloc(REF_DIM * REF_DIM, sizeof(float));
    b->mem = malloc(h->mem_words * sizeof(uint64_t));
    if (b->inf == NULL || b->tokens == NULL || b->logits == NULL || b->ref_out == NULL ||
        b->ref_in == NULL || b->ref_w == NULL || b->mem == NULL) {
        return b->inf != NULL ? hn_error_set(err, NULL, "out of memory") : -1;
    }
    hn_rng_seed(&b->rng, hn_rng_derive(seed, 1));
    for (int64_t i = 0; i < need; i++) {
        b->tokens[i] = (int)hn_rng_below(&b->rng, (uint64_t)vocab);
    }
    for (size_t i = 0; i < REF_ROWS * REF_DIM; i++) {
        b->ref_in[i] = (float)(hn_rng_uniform(&b->rng) - 0.5);
    }
    for (size_t i = 0; i < REF_DIM * REF_DIM; i++) {
        b->ref_w[i] = (float)(hn_rng_uniform(&b->rng) - 0.5) * 0.05f;
    }
    for (size_t i = 0; i < h->mem_words; i++) { /* written: untouched pages would read as one */
        b->mem[i] = i * 0x9E3779B97F4A7C15ull;
    }
    return 0;
}

/*
 * The protocol, measured again (up to drift_retries times) while the compute or memory
 * reference runs more than max_drift slower than the median of the last DRIFT_WINDOW trials';
 * this trial's references join them. *drift: the last measurement's.
 */
static int measure_settled(struct bench *b, struct host *h, long trial, double *v, size_t *n,
                           double *drift, struct hn_error *err)
{
    double ref = NAN, mem = NAN, typical_ref = NAN, typical_mem = NAN;
    *drift = 0.0;
    for (int64_t attempt = 0;; attempt++) {
        if (measure(b, v, n, err) != 0) {
            return -1;
        }
        double sem, cv;
        size_t k = h->n_timed - 2;
        summarize(v + k * (size_t)h->max_repeats, n[k], &ref, &sem, &cv);
        summarize(v + (k + 1) * (size_t)h->max_repeats, n[k + 1], &mem, &sem, &cv);
        size_t w = h->n_seen < DRIFT_WINDOW ? h->n_seen : DRIFT_WINDOW;
        typical_ref = w ? median_of(h->seen_ref, w) : ref;
        typical_mem = w ? median_of(h->seen_mem, w) : mem;
        *drift = fmax(0.0, fmax(ref / typical_ref, mem / typical_mem) - 1.0);
        if (*drift <= h->max_drift || attempt >= h->drift_retries) {
            break;
        }
        hn_log(HN_LOG_INFO,
               "trial %ld: the references ran %.0f %% slower than in the trials before; "
               "measuring again",
               trial, 100 * *drift);
    }
    if (*drift > h->max_drift) {
        hn_log(HN_LOG_WARNING,
               "trial %ld measured while the machine was %.0f %% slower than in the trials "
               "before (compute reference %.3f ms vs %.3f ms, memory reference %.3f ms vs "
               "%.3f ms, medians of the last %zu); its latencies are suspect",
               trial, 100 * *drift, ref, typical_ref, mem, typical_mem,
               h->n_seen < DRIFT_WINDOW ? h->n_seen : (size_t)DRIFT_WINDOW);
    }
    h->seen_ref[h->n_seen % DRIFT_WINDOW] = ref;
    h->seen_mem[h->n_seen % DRIFT_WINDOW] = mem;
    h->n_seen++;
    return 0;
}

/* Each timed metric's median and standard error, "<name>_cv", "<name>_settled", drift and
 * the first CPU used. */
static int put_timings(const struct host *h, const double *v, const size_t *n, double drift,
                       int first_cpu, struct hn_metrics *out, struct hn_error *err)
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
        if (hn_metrics_put(out, name, isfinite(cv) && cv <= h->max_cv ? 1.0 : 0.0, NAN, err) != 0) {
            return -1;
        }
    }
    if (hn_metrics_put(out, "drift", drift, NAN, err) != 0 ||
        hn_metrics_put(out, "cpu", first_cpu, NAN, err) != 0) {
        return -1;
    }
    return 0;
}

/* Pin the threads to the chosen CPUs of `allowed`; *first_cpu: the first of them (-1: none).
 * Returns 0, or -1 with err. */
static int pin_chosen(const struct host *h, struct bench *b, int threads, const cpu_set_t *allowed,
                      int *first_cpu, struct hn_error *err)
{
    cpu_set_t use;
    int chosen = choose_cpus(h, b, threads, allowed, &use, err);
    sched_setaffinity(0, sizeof(*allowed), allowed);
    if (chosen != 0) {
        return -1;
    }
    pin_threads(threads, &use, 1);
    for (int cpu = 0; cpu < CPU_SETSIZE && *first_cpu < 0; cpu++) {
        *first_cpu = CPU_ISSET(cpu, &use) ? cpu : -1;
    }
    return 0;
}

static int host_evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                         struct hn_error *err)
{
    struct host *h = ctx;
    struct hn_llm_config c;
    struct hn_llm_model *m = NULL;
    struct bench b = {.h = h, .progress = req->progress};
    double *v = NULL, drift = 0.0;
    size_t n[MAX_TIMED];
    int rc = -1, pinned = 0, threads, first_cpu = -1;
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
        pinned = 1;
        if (pin_chosen(h, &b, threads, &allowed, &first_cpu, err) != 0) {
            goto done;
        }
    }
    if (measure_settled(&b, h, req->trial->id, v, n, &drift, err) != 0 ||
        put_timings(h, v, n, drift, first_cpu, out, err) != 0) {
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
