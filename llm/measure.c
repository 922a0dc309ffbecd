/*
 * The measurement protocol of the host oracle and hilnas-bench (hilnas/llm/measure.h says what
 * is timed and how). Compiled into libhilnas-llm and, as source, into the static hilnas-bench
 * (tools/local.mk, tools/cross/build-bench.sh): it uses only the engine and core/util.c.
 */
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include "config.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "hilnas/llm/decode.h"
#include "hilnas/llm/measure.h"
#include "hilnas/llm/ops.h"
#include "hilnas/rng.h"
#include "hilnas/util.h"

/* the compute reference: REF_ROWS x REF_DIM times REF_DIM x REF_DIM, about a millisecond */
#define REF_ROWS 256
#define REF_DIM 512
/* the memory reference: more than the last-level cache one core reaches on most CPUs (32 MiB
 * per core complex here; sysconf reports the whole socket's, so it is no guide) */
#define MEM_BYTES ((size_t)64 << 20)
#define PICK_ROUNDS 3
#define PICK_MAX_CPUS 1024

const char *const hn_measure_clocks[] = {"wall", "cpu", NULL};
const char *const hn_measure_picks[] = {"fastest", "first", NULL};

struct hn_measure_model {
    const struct hn_llm_model *model;
    struct hn_llm_infer *pinf; /* prefill runs */
    struct hn_llm_infer *inf;  /* decode runs: the cache is filled once per run */
    int *tokens;
    float *logits;
    int vocab;
    int prefilled; /* inf holds the longest context */
    struct hn_rng rng;
};

struct hn_measurer {
    struct hn_measure_settings s;
    float *ref_out, *ref_in, *ref_w; /* the compute reference's operands */
    uint64_t *mem;                   /* the memory reference's buffer */
    size_t mem_words;
    volatile uint64_t mem_sink;
    int prev[PICK_MAX_CPUS]; /* the CPUs pick: fastest chose last time */
    int n_prev, cursor;      /* and where the rotation of probed CPUs stands */
    int threads;             /* engine threads of the current run (the cpu clock's choice) */
};

int64_t hn_measure_positions(const struct hn_measure_settings *s)
{
    int64_t need = s->prompt;
    for (size_t i = 0; i < s->n_contexts; i++) {
        if (s->contexts[i] + s->decode_tokens > need) {
            need = s->contexts[i] + s->decode_tokens;
        }
    }
    return need;
}

int hn_measure_config_read(const char *path, struct hn_llm_config *c, struct hn_error *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t size = strlen(path) + sizeof("/config.json");
        char *file = malloc(size);
        if (file == NULL) {
            return hn_error_set(err, NULL, "out of memory");
        }
        snprintf(file, size, "%s/config.json", path);
        int rc = hn_llm_config_read(file, c, err);
        free(file);
        return rc;
    }
    return hn_llm_config_read(path, c, err);
}

static int64_t longest_context(const struct hn_measure_settings *s)
{
    int64_t c = 0;
    for (size_t i = 0; i < s->n_contexts; i++) {
        c = s->contexts[i] > c ? s->contexts[i] : c;
    }
    return c;
}

/* the name of latency metric k (0 prefill, 1.. decodes) of a family: "ms", "ref" or "rel" */
static void latency_name(const struct hn_measure_settings *s, size_t k, const char *family,
                         char *out, size_t size)
{
    if (k == 0) {
        snprintf(out, size, "prefill_%s", family);
    } else if (s->per_context) {
        snprintf(out, size, "decode_%s_%lld", family, (long long)s->contexts[k - 1]);
    } else {
        snprintf(out, size, "decode_%s", family);
    }
}

size_t hn_measure_names(const struct hn_measure_settings *s, int with_reference,
                        char (*names)[HN_MEASURE_NAME_MAX], size_t cap)
{
    size_t L = 1 + s->n_contexts, n = 0;
    const char *families[] = {"ms", "ref", "rel"};
    for (int f = 0; f < (with_reference ? 3 : 1); f++) {
        for (size_t k = 0; k < L && n < cap; k++) {
            latency_name(s, k, families[f], names[n++], HN_MEASURE_NAME_MAX);
        }
        if (f == 0 && n + 2 <= cap) {
            snprintf(names[n++], HN_MEASURE_NAME_MAX, "ref_ms");
            snprintf(names[n++], HN_MEASURE_NAME_MAX, "mem_ms");
        }
    }
    return n;
}

void hn_measure_model_free(struct hn_measure_model *mm)
{
    if (mm == NULL) {
        return;
    }
    hn_llm_infer_free(mm->inf);
    hn_llm_infer_free(mm->pinf);
    free(mm->tokens);
    free(mm->logits);
    free(mm);
}

struct hn_measure_model *hn_measure_model_new(const struct hn_llm_model *model,
                                              const struct hn_measure_settings *s, uint64_t seed,
                                              struct hn_error *err)
{
    int64_t need = hn_measure_positions(s);
    int64_t need_decode = 1;
    for (size_t i = 0; i < s->n_contexts; i++) {
        if (s->contexts[i] + s->decode_tokens > need_decode) {
            need_decode = s->contexts[i] + s->decode_tokens;
        }
    }
    if (need > model->config.max_position_embeddings) {
        hn_error_set(err, NULL,
                     "prompt %lld / context + decode_tokens %lld exceed the architecture's "
                     "max_position_embeddings (%d); lower them",
                     (long long)s->prompt, (long long)need_decode,
                     model->config.max_position_embeddings);
        return NULL;
    }
    struct hn_measure_model *mm = calloc(1, sizeof(*mm));
    if (mm == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    mm->model = model;
    mm->vocab = model->config.vocab_size;
    mm->pinf = hn_llm_infer_new(model, (int)s->prompt, (int)s->prompt, err);
    mm->inf = mm->pinf == NULL ? NULL : hn_llm_infer_new(model, (int)need_decode, 256, err);
    if (mm->inf == NULL) {
        goto fail;
    }
    mm->tokens = malloc((size_t)need * sizeof(int));
    mm->logits = malloc((size_t)mm->vocab * sizeof(float));
    if (mm->tokens == NULL || mm->logits == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto fail;
    }
    hn_rng_seed(&mm->rng, hn_rng_derive(seed, 1));
    for (int64_t i = 0; i < need; i++) {
        mm->tokens[i] = (int)hn_rng_below(&mm->rng, (uint64_t)mm->vocab);
    }
    return mm;
fail:
    hn_measure_model_free(mm);
    return NULL;
}

void hn_measurer_free(struct hn_measurer *me)
{
    if (me == NULL) {
        return;
    }
    free(me->ref_out);
    free(me->ref_in);
    free(me->ref_w);
    free(me->mem);
    free(me);
}

struct hn_measurer *hn_measurer_new(const struct hn_measure_settings *s, struct hn_error *err)
{
    struct hn_measurer *me = calloc(1, sizeof(*me));
    struct hn_rng rng;
    if (me == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    me->s = *s;
    if (me->s.max_repeats < me->s.repeats) {
        me->s.max_repeats = me->s.repeats;
    }
    me->mem_words = MEM_BYTES / sizeof(uint64_t);
    me->ref_out = calloc(REF_ROWS * REF_DIM, sizeof(float));
    me->ref_in = calloc(REF_ROWS * REF_DIM, sizeof(float));
    me->ref_w = calloc(REF_DIM * REF_DIM, sizeof(float));
    me->mem = malloc(me->mem_words * sizeof(uint64_t));
    if (me->ref_out == NULL || me->ref_in == NULL || me->ref_w == NULL || me->mem == NULL) {
        hn_error_set(err, NULL, "out of memory");
        hn_measurer_free(me);
        return NULL;
    }
    hn_rng_seed(&rng, 0x6d656173757265ull);
    for (size_t i = 0; i < REF_ROWS * REF_DIM; i++) {
        me->ref_in[i] = (float)(hn_rng_uniform(&rng) - 0.5);
    }
    for (size_t i = 0; i < REF_DIM * REF_DIM; i++) {
        me->ref_w[i] = (float)(hn_rng_uniform(&rng) - 0.5) * 0.05f;
    }
    for (size_t i = 0; i < me->mem_words; i++) { /* written: untouched pages would read as one */
        me->mem[i] = i * 0x9E3779B97F4A7C15ull;
    }
    return me;
}

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, standard error of the median and robust spread (1.4826 MAD / median) of v[0..n) into
 * m; w: scratch of n. */
static void summarize(const double *v, size_t n, double *w, double max_cv,
                      struct hn_measure_metric *m)
{
    double mean = 0.0, ss = 0.0;
    m->n = n;
    if (n == 0) {
        m->value = m->sem = m->cv = NAN;
        m->settled = 0;
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
    m->value = med;
    m->sem = n > 1 ? 1.2533 * sqrt(ss / (double)(n - 1)) / sqrt((double)n) : NAN;
    m->cv = n > 1 && med > 0 ? 1.4826 * mad / med : NAN;
    m->settled = isfinite(m->cv) && m->cv <= max_cv;
}

/* The median of v[0], v[stride], ... (n values); w: scratch of n. */
static double strided_median(const double *v, size_t n, size_t stride, double *w)
{
    for (size_t i = 0; i < n; i++) {
        w[i] = v[i * stride];
    }
    qsort(w, n, sizeof(double), cmp_double);
    return n % 2 ? w[n / 2] : 0.5 * (w[n / 2 - 1] + w[n / 2]);
}

/*
 * The ratio metric of a pair from its per-round ratios r[0..n): value i was taken in round i,
 * the trial first (AB) when i is even, second (BA) when odd. Whatever going first or second
 * costs (caches and branch predictors the other model warmed, a CPU's frequency ramp) is a
 * factor on the AB ratios and its inverse on the BA ones, so the value is the geometric mean of
 * the two orders' medians, in which it cancels; the standard error and the spread are those of
 * the ratios with each order's median moved onto that value (c: scratch of n, w: of n + 1).
 */
static void summarize_ratio(const double *r, size_t n, double *c, double *w, double max_cv,
                            struct hn_measure_metric *m)
{
    if (n < 2) {
        summarize(r, n, w, max_cv, m);
        return;
    }
    double ab = strided_median(r, (n + 1) / 2, 2, w), ba = strided_median(r + 1, n / 2, 2, w);
    double rel = sqrt(ab * ba);
    for (size_t i = 0; i < n; i++) {
        c[i] = r[i] * rel / (i % 2 ? ba : ab);
    }
    summarize(c, n, w, max_cv, m);
    m->value = rel;
}

int hn_measure_summarize_ratio(const double *r, size_t n, double max_cv,
                               struct hn_measure_metric *m)
{
    double *c = malloc((n + 1) * sizeof(double)), *w = malloc((n + 1) * sizeof(double));
    if (c == NULL || w == NULL) {
        free(c);
        free(w);
        return -1;
    }
    summarize_ratio(r, n, c, w, max_cv, m);
    free(c);
    free(w);
    return 0;
}

/* ---- timing ---- */

/* seconds on the settings' clock. cpu: the calling thread's CPU time when the engine runs on
 * it alone (one thread): the process's would add whatever other threads of the process burn
 * meanwhile (an evaluator's BLAS or OpenMP workers spinning after its training, in the same
 * trial); with more threads the process's, which adds the engine's threads. */
static double clock_now(const struct hn_measurer *me)
{
    if (me->s.clock == HN_MEASURE_CPU) {
        struct timespec ts;
        clock_gettime(me->threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    }
    return hn_monotonic();
}

/*
 * Wait (up to HN_MEASURE_SETTLE_MAX_MS) until the process's other threads stop using CPU: two
 * 20 ms windows in a row in which the CPU time of the process grows by no more than the calling
 * thread's, which sleeps, plus 10 % of the window (the kernel accounts a thread running on
 * another CPU at its ticks: a window of a few ticks, not one). An evaluator's BLAS or OpenMP
 * workers spin for a while after its training (in the same trial, right before the
 * measurement) and, on a sibling hardware thread, slow the measured one. Returns the
 * milliseconds waited.
 */
static double settle_threads(void)
{
    const double window = 20e-3;
    double waited = 0.0;
    int quiet = 0;
    while (quiet < 2 && waited < 1e-3 * HN_MEASURE_SETTLE_MAX_MS) {
        struct timespec p0, t0, p1, t1, nap = {0, (long)(window * 1e9)};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &p0);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        nanosleep(&nap, NULL);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &p1);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        waited += window;
        double others =
            (double)(p1.tv_sec - p0.tv_sec) + 1e-9 * (double)(p1.tv_nsec - p0.tv_nsec) -
            ((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
        quiet = others < 0.1 * window ? quiet + 1 : 0;
    }
    return 1e3 * waited;
}

/* One timed run of latency metric k (0 prefill, 1.. the decode at contexts[k - 1]) of mm, ms. */
static int time_latency(struct hn_measurer *me, struct hn_measure_model *mm, size_t k, double *ms,
                        struct hn_error *err)
{
    const struct hn_measure_settings *s = &me->s;
    double t0;
    if (k == 0) {
        hn_llm_infer_reset(mm->pinf);
        t0 = clock_now(me);
        if (hn_llm_infer_forward(mm->pinf, mm->tokens, (int)s->prompt, mm->logits, 0, err) != 0) {
            return -1;
        }
        *ms = 1e3 * (clock_now(me) - t0);
        return 0;
    }
    if (!mm->prefilled) {
        /* the decode cache: one untimed prefill of the longest context; decoding at context c
         * rewinds to position c (the rows after it are overwritten) */
        int64_t max_ctx = longest_context(s);
        hn_llm_infer_reset(mm->inf);
        if (max_ctx > 0 &&
            hn_llm_infer_forward(mm->inf, mm->tokens, (int)max_ctx, NULL, 0, err) != 0) {
            return -1;
        }
        mm->prefilled = 1;
    }
    int64_t c = s->contexts[k - 1];
    int tok = mm->tokens[c];
    /* one untimed step first (the same row, rewritten by the first timed one): the timed steps
     * find the caches as the steps of a generation loop do, not as the previous measurement
     * (a prefill, the references, the other model) left them */
    mm->inf->pos = (int)c;
    if (hn_llm_infer_forward(mm->inf, &tok, 1, mm->logits, 0, err) != 0) {
        return -1;
    }
    mm->inf->pos = (int)c;
    t0 = clock_now(me);
    for (int64_t i = 0; i < s->decode_tokens; i++) {
        if (hn_llm_infer_forward(mm->inf, &tok, 1, mm->logits, 0, err) != 0) {
            return -1;
        }
        tok = hn_llm_sample(mm->logits, mm->vocab, 0.0, 0, &mm->rng);
    }
    *ms = 1e3 * (clock_now(me) - t0) / (double)s->decode_tokens;
    return 0;
}

static double time_compute_reference(struct hn_measurer *me)
{
    double t0 = clock_now(me);
    hn_matmul_forward(me->ref_out, me->ref_in, me->ref_w, REF_ROWS, REF_DIM, REF_DIM);
    return 1e3 * (clock_now(me) - t0);
}

static double time_memory_reference(struct hn_measurer *me)
{
    uint64_t a[8] = {0};
    double t0 = clock_now(me);
    for (size_t i = 0; i + 8 <= me->mem_words; i += 8) {
        for (int j = 0; j < 8; j++) {
            a[j] ^= me->mem[i + (size_t)j];
        }
    }
    double ms = 1e3 * (clock_now(me) - t0);
    me->mem_sink = a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[4] ^ a[5] ^ a[6] ^ a[7];
    return ms;
}

/* ---- CPUs ---- */

int hn_measure_probe_set(const int *cpus, int n, const int *prev, int n_prev, int *cursor, int cap,
                         int *out)
{
    int k = 0;
    if (n <= 0) {
        return 0;
    }
    if (cap <= 0 || cap >= n) {
        memcpy(out, cpus, (size_t)n * sizeof(int));
        return n;
    }
    for (int i = 0; i < n_prev; i++) { /* the last choice, where still allowed */
        int allowed = 0, dup = 0;
        for (int j = 0; j < n && !allowed; j++) {
            allowed = cpus[j] == prev[i];
        }
        for (int j = 0; j < k && !dup; j++) {
            dup = out[j] == prev[i];
        }
        if (allowed && !dup) {
            out[k++] = prev[i];
        }
    }
    int want = cap > k + 1 ? cap : k + 1;
    want = want < n ? want : n;
    int c = *cursor >= 0 ? *cursor % n : 0;
    for (int steps = 0; k < want && steps < n; steps++) {
        int cpu = cpus[c], dup = 0;
        c = (c + 1) % n;
        for (int j = 0; j < k && !dup; j++) {
            dup = out[j] == cpu;
        }
        if (!dup) {
            out[k++] = cpu;
        }
    }
    *cursor = c;
    return k;
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

/*
 * The CPUs of `allowed` the threads are pinned to, into `use`: all of them when there are no
 * more than `threads`; else the `threads` lowest-numbered (pick: first) or the fastest of the
 * probed ones (pick: fastest). Fastest: on each probed CPU in turn, PICK_ROUNDS times, the
 * compute reference and one decode step of the trial's model (memory: on a virtual machine a
 * CPU can be as fast as another in arithmetic and much slower in reaching this process's
 * memory) are timed on the wall clock; a CPU's score is the sum of its best times, each relative
 * to the best of all probed CPUs. The calling thread is moved from CPU to CPU; the caller
 * restores its mask. *probed: how many CPUs were timed.
 */
static int choose_cpus(struct hn_measurer *me, struct hn_measure_model *mm, int threads,
                       const cpu_set_t *allowed, cpu_set_t *use, int *probed, struct hn_error *err)
{
    int cpus[PICK_MAX_CPUS], probe[PICK_MAX_CPUS], n = 0;
    double best[PICK_MAX_CPUS][2], low[2] = {INFINITY, INFINITY};
    for (int cpu = 0; cpu < CPU_SETSIZE && n < PICK_MAX_CPUS; cpu++) {
        if (CPU_ISSET(cpu, allowed)) {
            cpus[n++] = cpu;
        }
    }
    CPU_ZERO(use);
    *probed = 0;
    if (n <= threads || me->s.pick == HN_MEASURE_FIRST) {
        for (int i = 0; i < n && (i < threads || n <= threads); i++) {
            CPU_SET(cpus[i], use);
        }
        return 0;
    }
    int cap = (int)me->s.pick_probe;
    cap = cap <= 0 ? n : cap < threads ? threads : cap;
    int np = hn_measure_probe_set(cpus, n, me->prev, me->n_prev, &me->cursor, cap, probe);
    for (int i = 0; i < np; i++) {
        best[i][0] = best[i][1] = INFINITY;
    }
    hn_llm_set_threads(1);
    for (int r = 0; r < PICK_ROUNDS; r++) {
        for (int i = 0; i < np; i++) {
            cpu_set_t one;
            CPU_ZERO(&one);
            CPU_SET(probe[i], &one);
            if (sched_setaffinity(0, sizeof(one), &one) != 0) {
                continue;
            }
            double t0 = hn_monotonic();
            hn_matmul_forward(me->ref_out, me->ref_in, me->ref_w, REF_ROWS, REF_DIM, REF_DIM);
            double t1 = hn_monotonic();
            int tok = mm->tokens[0];
            hn_llm_infer_reset(mm->inf);
            mm->prefilled = 0;
            if (hn_llm_infer_forward(mm->inf, &tok, 1, mm->logits, 0, err) != 0) {
                hn_llm_set_threads(threads);
                return -1;
            }
            double t2 = hn_monotonic();
            best[i][0] = fmin(best[i][0], t1 - t0);
            best[i][1] = fmin(best[i][1], t2 - t1);
        }
    }
    hn_llm_set_threads(threads);
    *probed = np;
    for (int i = 0; i < np; i++) {
        low[0] = fmin(low[0], best[i][0]);
        low[1] = fmin(low[1], best[i][1]);
    }
    me->n_prev = 0;
    for (int k = 0; k < threads && k < np; k++) { /* the `threads` best scores, by selection */
        int j = -1;
        double sj = INFINITY;
        for (int i = 0; i < np; i++) {
            double si = best[i][0] / low[0] + best[i][1] / low[1];
            if (!CPU_ISSET(probe[i], use) && (j < 0 || si < sj)) {
                j = i;
                sj = si;
            }
        }
        CPU_SET(probe[j], use);
        me->prev[me->n_prev++] = probe[j];
    }
    return 0;
}

/* ---- the protocol ---- */

const struct hn_measure_metric *hn_measure_get(const struct hn_measure_result *res,
                                               const char *name)
{
    for (size_t i = 0; i < res->n; i++) {
        if (strcmp(res->m[i].name, name) == 0) {
            return &res->m[i];
        }
    }
    return NULL;
}

void hn_measure_schedule(int64_t round, size_t n_trial, size_t n_ref, size_t *trial_i,
                         size_t *ref_i, int *ref_first)
{
    uint64_t r = round < 0 ? 0 : (uint64_t)round;
    n_trial = n_trial > 0 ? n_trial : 1;
    if (n_ref == 0) {
        *trial_i = (size_t)(r % n_trial);
        *ref_i = 0;
        *ref_first = 0;
        return;
    }
    /* an instance keeps both rounds of an AB, BA pair: the order alternates within it, so no
     * instance is timed in one order only (r % K with K even would be) */
    *trial_i = (size_t)(r / 2 % n_trial);
    *ref_i = (size_t)(r / 2 % n_ref);
    *ref_first = (int)(r & 1);
}

int64_t hn_measure_min_repeats(size_t n_trial, size_t n_ref)
{
    size_t k = n_trial > n_ref ? n_trial : n_ref;
    k = k > 0 ? k : 1;
    /* one instance each: the repeats as given (the K = 1 protocol) */
    return n_ref > 0 && k > 1 ? 2 * (int64_t)k : (int64_t)k;
}

/*
 * The rounds. Units u: the latency metrics 0..L-1 (each a pair with a reference), then the
 * compute (L) and memory (L+1) references. Series of values, R = max_repeats each:
 *   0..L-1 the trial's latencies, L ref_ms, L+1 mem_ms,
 *   L+2..2L+1 the reference model's latencies, 2L+2..3L+1 the per-round ratios,
 * the order of hn_measure_names. n[u]: values of unit u (the same in each of its series).
 * Round r times trial[ti] and ref[ri] (hn_measure_schedule); a warm-up round runs every latency
 * on every instance. timed[i] / timed_ref[i]: timed runs of each instance.
 */
static int rounds(struct hn_measurer *me, struct hn_measure_model *const *trial, size_t n_trial,
                  struct hn_measure_model *const *ref, size_t n_ref, int64_t repeats,
                  int64_t max_repeats, hn_measure_progress_fn progress, void *progress_ctx,
                  double *v, double *w, double *c, size_t *n, long *timed, long *timed_ref,
                  struct hn_error *err)
{
    const struct hn_measure_settings *s = &me->s;
    size_t L = 1 + s->n_contexts, U = L + 2, R = (size_t)max_repeats;
    int active[HN_MEASURE_MAX_CONTEXTS + 3];
    for (size_t u = 0; u < U; u++) {
        n[u] = 0;
        active[u] = 1;
    }
    for (int64_t round = -s->warmup;; round++) {
        int any = 0;
        if (progress != NULL) {
            if (round < 0) {
                progress(progress_ctx, "warming up", (long)(round + s->warmup + 1),
                         (long)s->warmup);
            } else {
                /* rounds past `repeats` (unsettled metrics) count up to max_repeats */
                progress(progress_ctx, "measuring", (long)round + 1,
                         (long)(round < repeats ? repeats : max_repeats));
            }
        }
        size_t ti, ri;
        int ref_first;
        hn_measure_schedule(round, n_trial, n_ref, &ti, &ri, &ref_first);
        for (size_t u = 0; u < U; u++) {
            if (!active[u]) {
                continue;
            }
            any = 1;
            if (u >= L) {
                double ms = u == L ? time_compute_reference(me) : time_memory_reference(me);
                if (round >= 0) {
                    v[u * R + n[u]++] = ms;
                }
                continue;
            }
            double a = 0, b = 1;
            if (round < 0) {
                /* warm-up: every instance, each in its own pass (its memory faults in) */
                for (size_t i = 0; i < n_trial + n_ref; i++) {
                    struct hn_measure_model *mm = i < n_trial ? trial[i] : ref[i - n_trial];
                    if (time_latency(me, mm, u, &a, err) != 0) {
                        return -1;
                    }
                }
                continue;
            }
            /* the pair back to back: AB in even rounds, BA in odd ones */
            struct hn_measure_model *rm = n_ref > 0 ? ref[ri] : NULL;
            if ((rm != NULL && ref_first && time_latency(me, rm, u, &b, err) != 0) ||
                time_latency(me, trial[ti], u, &a, err) != 0 ||
                (rm != NULL && !ref_first && time_latency(me, rm, u, &b, err) != 0)) {
                return -1;
            }
            timed[ti]++;
            if (rm != NULL) {
                timed_ref[ri]++;
            }
            v[u * R + n[u]] = a;
            if (rm != NULL) {
                v[(L + 2 + u) * R + n[u]] = b;
                v[(2 * L + 2 + u) * R + n[u]] = a / b;
            }
            n[u]++;
        }
        if (!any) {
            break;
        }
        /* after `repeats`, keep measuring only what has not settled, up to max_repeats; a pair
         * settles on its ratio, and only after whole rotations over the instances (else the
         * median and spread of, e.g., values of instances 0, 1, 0 would be instance 0's) */
        size_t period = (size_t)hn_measure_min_repeats(n_trial, n_ref);
        for (size_t u = 0; u < U; u++) {
            if (round < 0 || !active[u] || n[u] < (size_t)repeats) {
                continue;
            }
            struct hn_measure_metric m;
            if (n_ref > 0 && u < L) {
                summarize_ratio(v + (2 * L + 2 + u) * R, n[u], c, w, s->max_cv, &m);
            } else {
                summarize(v + u * R, n[u], w, s->max_cv, &m);
            }
            if (n[u] >= R || ((m.settled || n[u] < 2) && (u >= L || n[u] % period == 0))) {
                active[u] = 0;
            }
        }
    }
    return 0;
}

int hn_measure_run(struct hn_measurer *me, int threads, struct hn_measure_model *trial,
                   struct hn_measure_model *reference, hn_measure_progress_fn progress,
                   void *progress_ctx, struct hn_measure_result *res, struct hn_error *err)
{
    struct hn_measure_model *t[1] = {trial}, *r[1] = {reference};
    return hn_measure_run_instances(me, threads, t, 1, r, reference != NULL ? 1 : 0, progress,
                                    progress_ctx, res, err);
}

int hn_measure_run_instances(struct hn_measurer *me, int threads,
                             struct hn_measure_model *const *trial, size_t n_trial,
                             struct hn_measure_model *const *reference, size_t n_ref,
                             hn_measure_progress_fn progress, void *progress_ctx,
                             struct hn_measure_result *res, struct hn_error *err)
{
    const struct hn_measure_settings *s = &me->s;
    memset(res, 0, sizeof(*res));
    res->cpu = -1;
    if (n_trial < 1 || n_trial > HN_MEASURE_MAX_INSTANCES || n_ref > HN_MEASURE_MAX_INSTANCES ||
        (n_ref > 0 && reference == NULL)) {
        return hn_error_set(err, NULL,
                            "%zu trial and %zu reference instances: 1..%d trial instances and "
                            "0..%d reference instances are allowed",
                            n_trial, n_ref, HN_MEASURE_MAX_INSTANCES, HN_MEASURE_MAX_INSTANCES);
    }
    for (size_t i = 0; i < n_trial + n_ref; i++) {
        if ((i < n_trial ? trial[i] : reference[i - n_trial]) == NULL) {
            return hn_error_set(err, NULL, "%s instance %zu is missing",
                                i < n_trial ? "trial" : "reference", i < n_trial ? i : i - n_trial);
        }
    }
    /* every instance is timed (and, with a reference, in both orders) */
    int64_t repeats = s->repeats, min = hn_measure_min_repeats(n_trial, n_ref);
    repeats = repeats < min ? min : repeats;
    int64_t max_repeats = s->max_repeats < repeats ? repeats : s->max_repeats;
    size_t L = 1 + s->n_contexts, series = n_ref > 0 ? 3 * L + 2 : L + 2;
    size_t R = (size_t)max_repeats, n[HN_MEASURE_MAX_CONTEXTS + 3];
    long timed[HN_MEASURE_MAX_INSTANCES] = {0}, timed_ref[HN_MEASURE_MAX_INSTANCES] = {0};
    char names[HN_MEASURE_MAX_METRICS][HN_MEASURE_NAME_MAX];
    double *v = malloc(series * R * sizeof(double)), *w = malloc((R + 1) * sizeof(double));
    double *c = malloc((R + 1) * sizeof(double));
    int rc = -1, pinned = 0;
    cpu_set_t allowed;
    if (v == NULL || w == NULL || c == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    threads = hn_llm_set_threads(threads);
    res->threads = threads;
    me->threads = threads;
    for (size_t i = 0; i < n_trial + n_ref; i++) {
        (i < n_trial ? trial[i] : reference[i - n_trial])->prefilled = 0;
    }
    res->settle_ms = settle_threads();
    if (s->pin && sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
        cpu_set_t use;
        pinned = 1;
        if (progress != NULL && s->pick == HN_MEASURE_FASTEST) {
            progress(progress_ctx, "probing CPUs", 0, 0);
        }
        int chosen = choose_cpus(me, trial[0], threads, &allowed, &use, &res->probed, err);
        sched_setaffinity(0, sizeof(allowed), &allowed);
        if (chosen != 0) {
            goto done;
        }
        pin_threads(threads, &use, 1);
        for (int cpu = 0; cpu < CPU_SETSIZE && res->cpu < 0; cpu++) {
            res->cpu = CPU_ISSET(cpu, &use) ? cpu : -1;
        }
    }
    if (rounds(me, trial, n_trial, reference, n_ref, repeats, max_repeats, progress, progress_ctx,
               v, w, c, n, timed, timed_ref, err) != 0) {
        goto done;
    }
    for (size_t i = 0; i < n_trial; i++) {
        res->instances += timed[i] > 0;
    }
    for (size_t i = 0; i < n_ref; i++) {
        res->ref_instances += timed_ref[i] > 0;
    }
    res->n = hn_measure_names(s, n_ref > 0, names, HN_MEASURE_MAX_METRICS);
    res->settled = 1;
    for (size_t i = 0; i < res->n; i++) {
        /* series i belongs to unit i (trial latencies, references), i - L - 2 (reference
         * latencies) or i - 2L - 2 (ratios) */
        size_t u = i < L + 2 ? i : i < 2 * L + 2 ? i - L - 2 : i - 2 * L - 2;
        snprintf(res->m[i].name, sizeof(res->m[i].name), "%s", names[i]);
        if (i >= 2 * L + 2) {
            summarize_ratio(v + i * R, n[u], c, w, s->max_cv, &res->m[i]);
        } else {
            summarize(v + i * R, n[u], w, s->max_cv, &res->m[i]);
        }
        int decides = n_ref > 0 ? i >= 2 * L + 2 : i < L;
        if (decides && !res->m[i].settled) {
            res->settled = 0;
        }
    }
    rc = 0;
done:
    if (pinned) {
        pin_threads(threads, &allowed, 0);
    }
    free(v);
    free(w);
    free(c);
    return rc;
}
