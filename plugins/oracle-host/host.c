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
 * With `reference: PATH` (a config.json or a checkpoint directory) or `reference: space` (the
 * transformer space's backbone), a reference model built once per instance is timed alongside,
 * each of its runs right before or after the trial's run of the same metric (AB, BA in turn),
 * and for each latency metric (prefill_ms, decode_ms[_<c>]) the trial also gets
 *   prefill_ref, decode_ref[_<c>]   the reference's median
 *   prefill_rel, decode_rel[_<c>]   the per-round ratio trial / reference over the rounds (the
 *                                   geometric mean of its AB and BA rounds' medians): slow
 *                                   drift of the machine (seconds to minutes) cancels in it
 * and for every timed metric m: m_cv (robust spread: 1.4826 MAD / median) and m_settled (1 when
 * m_cv <= max_cv, else 0). Each metric's value is the median of its repeats; its standard error
 * 1.2533 s / sqrt(n) (s: the sample standard deviation), the standard error of a median.
 *
 * Protocol (hilnas/llm/measure.h, shared with hilnas-bench): `warmup` unrecorded rounds, then
 * rounds of one measurement of every metric in turn (interleaved, so slow phases of the machine hit
 * all metrics alike) until each has `repeats` values; then more rounds, of the metrics whose spread
 * is above `max_cv` only, until they settle or have `max_repeats` values (with a reference, a
 * metric and the reference's run of it are a pair whose ratio decides). A trial whose drift exceeds
 * `max_drift` is measured again once (`drift_retries`); if it still drifts the trial keeps the
 * measurement, with drift in its metrics and a warning in the log. With `pin: true` the engine's
 * threads are pinned one per CPU of the process's affinity mask for the measurement
 * (sched_setaffinity from inside the OpenMP pool; restored afterwards). Threads: `threads`, or the
 * evaluation's share of the CPUs. With `instances: K` (1..16, default 1) each trial's model is
 * built K times (separate allocations, weights of per-copy seeds) and the reference likewise (kept
 * for this oracle instance's life), and the rounds rotate through the copies (measure.h): where
 * a model's memory lies changes its speed by several per cent, and with K copies that placement
 * becomes part of each metric's spread instead of a constant error of the trial (and of the
 * whole run, for the reference); repeats is raised to K (2 K with a reference). `dtype` stores
 * the weights at a deployment precision (hilnas/llm/qmat.h) before timing. Run host
 * measurements one at a time (the serial executor): trials measured side by side slow each other
 * down.
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/evaluator.h"
#include "hilnas/llm/cost.h"
#include "hilnas/llm/llm_config.h"
#include "hilnas/llm/measure.h"
#include "hilnas/llm/model.h"
#include "hilnas/log.h"
#include "hilnas/progress.h"
#include "hilnas/rng.h"
#include "hilnas/util.h"

#define DRIFT_WINDOW 64
#define MAX_NAMES HN_MEASURE_MAX_METRICS

struct host {
    int64_t prompt, context, decode_tokens, repeats, max_repeats, warmup, threads, drift_retries;
    int64_t pick_probe, instances;
    double max_cv, max_drift;
    int pin;
    int pick;  /* enum hn_measure_pick */
    int dtype; /* enum hn_dtype: index into dtypes (the same order) */
    int clock; /* enum hn_measure_clock */
    const struct hn_config_node *contexts_node;
    const struct hn_config_node *reference_node;
    const char *reference;     /* the option's value, or NULL */
    const char *reference_key; /* its key path, e.g. oracles.host.reference */
    char reference_where[512];
    struct hn_measure_settings settings;
    struct hn_measurer *measurer;
    /* the reference's `instances` copies, built at the first trial, once */
    struct hn_llm_model *ref_model[HN_MEASURE_MAX_INSTANCES];
    /* their inference states, kept while threads stay */
    struct hn_measure_model *ref_mm[HN_MEASURE_MAX_INSTANCES];
    int ref_threads;     /* the engine threads ref_mm was made for */
    char ref_path[4096]; /* where it came from */
    uint64_t seed;
    /* the references of the last DRIFT_WINDOW trials (ring), ms: drift is against their median */
    double seen_ref[DRIFT_WINDOW], seen_mem[DRIFT_WINDOW];
    size_t n_seen;
    char names[MAX_NAMES][HN_MEASURE_NAME_MAX];
    size_t n_names;
    const char *metric_names[3 * MAX_NAMES + 3];
    char extra[2 * MAX_NAMES][HN_MEASURE_NAME_MAX + 16];
};

static const char *const dtypes[] = {"f32", "bf16", "f16", "q8_0", NULL};

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
     .choices = hn_measure_picks,
     .offset = offsetof(struct host, pick),
     .help = "With pin: which CPUs of the process's mask the threads are pinned to. fastest: "
             "the reference workload and a decode step are timed on each (up to pick_probe) "
             "before every trial and the threads go to the fastest (on a shared or virtual machine "
             "one CPU can be slowed by another "
             "tenant, and big.LITTLE cores differ); first: the lowest-numbered."},
    {.name = "pick_probe",
     .type = HN_OPT_INT,
     .def = "8",
     .min = 0,
     .max = 4096,
     .bounded = 1,
     .offset = offsetof(struct host, pick_probe),
     .help = "With pick: fastest, CPUs probed before a trial at most (0: all): those chosen for "
             "the previous trial, then the next ones of the mask in rotation."},
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
     .choices = hn_measure_clocks,
     .offset = offsetof(struct host, clock),
     .help = "wall: elapsed time; cpu: the process's CPU time, which leaves out the time it "
             "waits for a CPU on a loaded machine (equal to wall time on an idle one for "
             "threads: 1; with more threads it adds theirs, so use it with threads: 1)."},
    {.name = "instances",
     .type = HN_OPT_INT,
     .def = "1",
     .min = 1,
     .max = HN_MEASURE_MAX_INSTANCES,
     .bounded = 1,
     .offset = offsetof(struct host, instances),
     .help = "Copies of each trial's model (and of the reference) built separately and timed "
             "in rotation, round by round: where a model's memory lies changes its speed by "
             "several per cent, and with several copies that becomes part of the spread instead "
             "of a constant error of the trial. repeats is raised to instances (2 x instances "
             "with a reference) so every copy is timed."},
    {.name = "reference",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct host, reference_node),
     .help = "A model timed alongside every trial (paired rounds): a config.json, a checkpoint "
             "directory, or space (the transformer space's backbone); adds <m>_ref and <m>_rel "
             "(trial / reference) for each latency metric."},
    {.name = NULL},
};

static void host_destroy(void *ctx)
{
    struct host *h = ctx;
    if (h != NULL) {
        hn_measurer_free(h->measurer);
        for (int i = 0; i < HN_MEASURE_MAX_INSTANCES; i++) {
            hn_measure_model_free(h->ref_mm[i]);
            hn_llm_model_free(h->ref_model[i]);
        }
    }
    free(h);
}

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
    struct hn_measure_settings *s = &h->settings;
    const struct hn_config_node *c = h->contexts_node;
    if (c != NULL) {
        if (c->type != HN_NODE_SEQUENCE || c->n == 0 || c->n > HN_MEASURE_MAX_CONTEXTS) {
            hn_error_config(err, hn_config_where(c, where, sizeof(where)),
                            "%s: must list 1 to %d context lengths (tokens), e.g. [0, 512, 2048]",
                            c->path, HN_MEASURE_MAX_CONTEXTS);
            goto fail;
        }
        for (size_t i = 0; i < c->n; i++) {
            if (hn_config_to_int(c->items[i], &s->contexts[i], err) != 0) {
                goto fail;
            }
            if (s->contexts[i] < 0 || s->contexts[i] > (1 << 20)) {
                hn_error_config(err, hn_config_where(c->items[i], where, sizeof(where)),
                                "%s: %lld is not a context length (0 .. 1048576 tokens)",
                                c->items[i]->path, (long long)s->contexts[i]);
                goto fail;
            }
            for (size_t j = 0; j < i; j++) {
                if (s->contexts[j] == s->contexts[i]) {
                    hn_error_config(err, hn_config_where(c->items[i], where, sizeof(where)),
                                    "%s: context %lld is listed twice", c->items[i]->path,
                                    (long long)s->contexts[i]);
                    goto fail;
                }
            }
        }
        s->n_contexts = c->n;
        s->per_context = 1;
    } else {
        s->n_contexts = 1;
        s->contexts[0] = h->context;
    }
    const struct hn_config_node *r = h->reference_node;
    if (r != NULL) {
        snprintf(h->reference_where, sizeof(h->reference_where), "%s",
                 hn_config_where(r, where, sizeof(where)));
        if (r->type != HN_NODE_SCALAR || r->is_null || r->value[0] == '\0') {
            hn_error_config(err, h->reference_where,
                            "%s: must be a model's config.json, a checkpoint directory, or "
                            "space (the transformer space's backbone)",
                            r->path);
            goto fail;
        }
        h->reference = r->value;
        h->reference_key = r->path;
    }
    s->prompt = h->prompt;
    s->decode_tokens = h->decode_tokens;
    s->repeats = h->repeats;
    s->max_repeats = h->max_repeats < h->repeats ? h->repeats : h->max_repeats;
    s->warmup = h->warmup;
    s->max_cv = h->max_cv;
    s->clock = h->clock;
    s->pin = h->pin;
    s->pick = h->pick;
    s->pick_probe = h->pick_probe;
    h->seed = args->seed;
    h->measurer = hn_measurer_new(s, err);
    if (h->measurer == NULL) {
        goto fail;
    }
    if (h->instances > 1) {
        size_t k = (size_t)h->instances;
        int64_t min = hn_measure_min_repeats(k, h->reference != NULL ? k : 0);
        hn_log(HN_LOG_INFO,
               "each trial's model%s is built %lld times and the copies are timed in "
               "rotation; repeats %lld, max_repeats %lld",
               h->reference != NULL ? " (and the reference)" : "", (long long)h->instances,
               (long long)(s->repeats > min ? s->repeats : min),
               (long long)(s->max_repeats > min ? s->max_repeats : min));
    }
    /* metrics: the run's, each with _cv and _settled; then drift and cpu */
    h->n_names = hn_measure_names(s, h->reference != NULL, h->names, MAX_NAMES);
    size_t m = 0, e = 0;
    for (size_t i = 0; i < h->n_names; i++) {
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
    host_destroy(h);
    return NULL;
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

/* The median of v[0..n), 1 <= n <= DRIFT_WINDOW (v is not changed). */
static double median_of(const double *v, size_t n)
{
    double s[DRIFT_WINDOW];
    n = n < DRIFT_WINDOW ? n : DRIFT_WINDOW;
    memcpy(s, v, n * sizeof(double));
    qsort(s, n, sizeof(double), cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

/*
 * The trial's architecture. Returns 0, or -1 with err.
 */
static int read_arch(const struct host *h, const json_t *arch, struct hn_llm_config *c,
                     struct hn_error *err)
{
    if (!json_is_object(arch) || json_object_get(arch, "hidden_size") == NULL) {
        return hn_error_config(err, NULL,
                               "the trial has no transformer architecture to measure; use the "
                               "space 'transformer' (or one that decodes to a LlamaConfig)");
    }
    if (hn_llm_config_from_json(arch, "architecture", c, err) != 0) {
        return -1;
    }
    int64_t need = hn_measure_positions(&h->settings);
    if (need > c->max_position_embeddings) {
        return hn_error_config(err, NULL,
                               "prompt %lld / context + decode_tokens %lld exceed the "
                               "architecture's max_position_embeddings (%d); lower them",
                               (long long)h->prompt, (long long)need, c->max_position_embeddings);
    }
    return 0;
}

/*
 * The reference model, built at the first trial and kept (random weights, the trial's dtype):
 * from the option's path, or with `space` from the trial's backbone. A reference that cannot be
 * read or built is a failure of the environment, not of the trial: the study stops, saying
 * which option and file, and a later run measures the trial. Returns 0, or -1 with err.
 */
static int reference_model(struct host *h, const struct hn_eval_request *req, struct hn_error *err)
{
    struct hn_llm_config c;
    const char *path = h->reference;
    if (h->ref_model[0] != NULL) {
        return 0;
    }
    if (strcmp(path, "space") == 0) {
        path = json_string_value(json_object_get(req->trial->arch, "backbone"));
        if (path == NULL) {
            return hn_error_env(err, h->reference_where,
                                "%s: space takes the transformer space's backbone, and trial "
                                "%ld's architecture names none; give the reference's path "
                                "instead (a config.json or a checkpoint directory)",
                                h->reference_key, req->trial->id);
        }
    }
    snprintf(h->ref_path, sizeof(h->ref_path), "%s", path);
    int64_t need = hn_measure_positions(&h->settings);
    if (hn_measure_config_read(path, &c, err) != 0) {
        char msg[HN_ERROR_MAX];
        snprintf(msg, sizeof(msg), "%s", err->msg);
        return hn_error_env(err, h->reference_where,
                            "%s: the reference model '%s' cannot be used: %s; fix the option (a "
                            "model's config.json or a checkpoint directory) and run the study "
                            "again",
                            h->reference_key, path, msg);
    }
    if (need > c.max_position_embeddings) {
        return hn_error_env(err, h->reference_where,
                            "%s: the reference model '%s': prompt / context + decode_tokens %lld "
                            "exceed its max_position_embeddings (%d); lower them or use another "
                            "reference",
                            h->reference_key, path, (long long)need, c.max_position_embeddings);
    }
    for (int64_t i = 0; i < h->instances; i++) {
        /* each copy allocated on its own, random weights of its own seed */
        struct hn_llm_model *m = hn_llm_model_new(&c, err);
        if (m == NULL) {
            hn_error_prefix(err, "reference '%s'", path);
            err->kind = HN_ERR_ENVIRONMENT;
            goto fail;
        }
        uint64_t seed = hn_rng_derive(h->seed, 0x726566);
        hn_llm_model_randomize(m, i == 0 ? seed : hn_rng_derive(seed, (uint64_t)i));
        if (hn_llm_set_dtype(m, (enum hn_dtype)h->dtype, err) != 0) {
            hn_llm_model_free(m);
            hn_error_prefix(err, "reference '%s'", path);
            err->kind = HN_ERR_ENVIRONMENT;
            goto fail;
        }
        h->ref_model[i] = m;
    }
    hn_log(HN_LOG_INFO,
           "%s: reference model built from %s (%d layers, hidden %d, %zu parameters; %lld "
           "instance%s); every trial is timed against it",
           h->reference_key, path, c.num_hidden_layers, c.hidden_size, hn_llm_param_count(&c),
           (long long)h->instances, h->instances == 1 ? "" : "s");
    return 0;
fail:
    for (int i = 0; i < HN_MEASURE_MAX_INSTANCES; i++) {
        hn_llm_model_free(h->ref_model[i]);
        h->ref_model[i] = NULL;
    }
    return -1;
}

/* hn_measure_progress_fn onto the evaluation's progress handle */
static void report_progress(void *ctx, const char *activity, long done, long total)
{
    hn_progress_update(ctx, activity, total > 0 ? "round" : NULL, done, total);
}

/*
 * The protocol, measured again (up to drift_retries times) while the compute or memory
 * reference runs more than max_drift slower than the median of the last DRIFT_WINDOW trials';
 * this trial's references join them. *drift: the last measurement's.
 */
static int measure_settled(struct host *h, const struct hn_eval_request *req, int threads,
                           struct hn_measure_model *const *trial,
                           struct hn_measure_model *const *ref, struct hn_measure_result *res,
                           double *drift, struct hn_error *err)
{
    double ref_ms = NAN, mem_ms = NAN, typical_ref = NAN, typical_mem = NAN;
    long id = req->trial->id;
    *drift = 0.0;
    for (int64_t attempt = 0;; attempt++) {
        size_t k = (size_t)h->instances;
        if (hn_measure_run_instances(h->measurer, threads, trial, k, ref,
                                     h->reference != NULL ? k : 0, report_progress, req->progress,
                                     res, err) != 0) {
            return -1;
        }
        ref_ms = hn_measure_get(res, "ref_ms")->value;
        mem_ms = hn_measure_get(res, "mem_ms")->value;
        size_t w = h->n_seen < DRIFT_WINDOW ? h->n_seen : DRIFT_WINDOW;
        typical_ref = w ? median_of(h->seen_ref, w) : ref_ms;
        typical_mem = w ? median_of(h->seen_mem, w) : mem_ms;
        *drift = fmax(0.0, fmax(ref_ms / typical_ref, mem_ms / typical_mem) - 1.0);
        if (*drift <= h->max_drift || attempt >= h->drift_retries) {
            break;
        }
        hn_log(HN_LOG_INFO,
               "trial %ld: the references ran %.0f %% slower than in the trials before; "
               "measuring again",
               id, 100 * *drift);
    }
    if (*drift > h->max_drift) {
        hn_log(HN_LOG_WARNING,
               "trial %ld measured while the machine was %.0f %% slower than in the trials "
               "before (compute reference %.3f ms vs %.3f ms, memory reference %.3f ms vs "
               "%.3f ms, medians of the last %zu); its latencies are suspect",
               id, 100 * *drift, ref_ms, typical_ref, mem_ms, typical_mem,
               h->n_seen < DRIFT_WINDOW ? h->n_seen : (size_t)DRIFT_WINDOW);
    }
    h->seen_ref[h->n_seen % DRIFT_WINDOW] = ref_ms;
    h->seen_mem[h->n_seen % DRIFT_WINDOW] = mem_ms;
    h->n_seen++;
    return 0;
}

/* Each metric's median and standard error, "<name>_cv", "<name>_settled", drift and the first
 * CPU used. */
static int put_timings(const struct hn_measure_result *res, double drift, struct hn_metrics *out,
                       struct hn_error *err)
{
    for (size_t k = 0; k < res->n; k++) {
        const struct hn_measure_metric *m = &res->m[k];
        char name[HN_MEASURE_NAME_MAX + 16];
        if (hn_metrics_put(out, m->name, m->value, m->sem, err) != 0) {
            return -1;
        }
        snprintf(name, sizeof(name), "%s_cv", m->name);
        if (hn_metrics_put(out, name, isfinite(m->cv) ? m->cv : 0.0, NAN, err) != 0) {
            return -1;
        }
        snprintf(name, sizeof(name), "%s_settled", m->name);
        if (hn_metrics_put(out, name, m->settled ? 1.0 : 0.0, NAN, err) != 0) {
            return -1;
        }
    }
    if (hn_metrics_put(out, "drift", drift, NAN, err) != 0 ||
        hn_metrics_put(out, "cpu", res->cpu, NAN, err) != 0) {
        return -1;
    }
    return 0;
}

static int host_evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                         struct hn_error *err)
{
    struct host *h = ctx;
    struct hn_llm_config c;
    struct hn_llm_model *m[HN_MEASURE_MAX_INSTANCES] = {NULL};
    struct hn_measure_model *trial[HN_MEASURE_MAX_INSTANCES] = {NULL};
    struct hn_measure_result *res = NULL;
    size_t k = (size_t)h->instances;
    double drift = 0.0;
    int rc = -1;
    if (read_arch(h, req->trial->arch, &c, err) != 0) {
        return -1;
    }
    int threads = hn_llm_set_threads(h->threads > 0 ? (int)h->threads : req->threads);
    if (h->reference != NULL && reference_model(h, req, err) != 0) {
        return -1;
    }
    res = malloc(sizeof(*res));
    if (res == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    /* `instances` copies, each allocated on its own (its memory somewhere else) with weights
     * of its own seed; the first one's seed is the trial's */
    for (size_t i = 0; i < k; i++) {
        uint64_t seed = i == 0 ? req->seed : hn_rng_derive(req->seed, 0x696e7374 + i);
        m[i] = hn_llm_model_new(&c, err);
        if (m[i] == NULL) {
            goto done;
        }
        hn_llm_model_randomize(m[i], seed);
        if (hn_llm_set_dtype(m[i], (enum hn_dtype)h->dtype, err) != 0 ||
            (trial[i] = hn_measure_model_new(m[i], &h->settings, seed, err)) == NULL) {
            goto done;
        }
    }
    /* the reference's states are kept from trial to trial (the same memory every time: two
     * instances of one architecture can time a few per cent apart by where they live) */
    if (h->ref_model[0] != NULL && (h->ref_mm[k - 1] == NULL || h->ref_threads != threads)) {
        h->ref_threads = threads;
        for (size_t i = 0; i < k; i++) {
            hn_measure_model_free(h->ref_mm[i]);
            h->ref_mm[i] = NULL;
        }
        for (size_t i = 0; i < k; i++) {
            h->ref_mm[i] = hn_measure_model_new(
                h->ref_model[i], &h->settings,
                i == 0 ? h->seed : hn_rng_derive(h->seed, 0x696e7374 + i), err);
            if (h->ref_mm[i] == NULL) {
                hn_error_prefix(err, "reference '%s'", h->ref_path);
                goto done;
            }
        }
    }
    if (measure_settled(h, req, threads, trial, h->ref_mm, res, &drift, err) != 0 ||
        put_timings(res, drift, out, err) != 0) {
        goto done;
    }
    rc = 0;
done:
    free(res);
    for (size_t i = 0; i < k; i++) {
        hn_measure_model_free(trial[i]);
        hn_llm_model_free(m[i]);
    }
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
