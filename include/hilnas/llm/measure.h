/*
 * hilnas/llm/measure.h: timing a model's prefill and decode with the llm/ engine, with
 * measurements that resist noise. The one protocol of the `host` oracle and of hilnas-bench (the
 * on-device program), so a phone measures exactly as this machine does (docs/latency.md).
 *
 * Metrics of a run (struct hn_measure_result, in this order):
 *   prefill_ms        one pass over `prompt` tokens into an empty KV cache (logits of the last
 *                     token only)
 *   decode_ms         per token, the mean of `decode_tokens` one-token steps with `contexts[0]`
 *                     tokens cached; with per_context: decode_ms_<c> for each context c
 *   ref_ms            a fixed-cost compute reference (256 x 512 x 512 matmul on the engine's
 *                     threads, about 1 ms): the machine's arithmetic speed during the run
 *   mem_ms            a fixed-size memory reference (one pass reading 64 MiB on one thread)
 * and, when a reference model is timed alongside (hn_measure_run's `reference`), for each
 * latency metric above (prefill, each decode):
 *   prefill_ref, decode_ref[_<c>]   the reference model's median of the same metric
 *   prefill_rel, decode_rel[_<c>]   the per-round ratio trial / reference (the two runs of a
 *                                   round follow each other), over rounds: the geometric mean
 *                                   of its medians in AB and in BA rounds
 * Each has a median, the standard error of the median (1.2533 s / sqrt(n)), a robust spread
 * (cv: 1.4826 MAD / median) and settled (cv <= max_cv).
 *
 * Protocol: a wait (up to HN_MEASURE_SETTLE_MAX_MS) until the process's other threads stop
 * using CPU, `warmup` unrecorded rounds, then rounds that time every metric once in turn
 * (interleaved: a slow phase of the machine hits all metrics alike) until each has `repeats`
 * values; then further rounds of only the metrics whose spread exceeds max_cv, up to
 * max_repeats. With a reference, each latency metric is a pair: the trial's run and the
 * reference's run of that metric follow each other, in the order AB in even rounds and BA in odd
 * ones, and it is the ratio's spread that decides whether the pair is measured further. Decoding
 * shares one untimed prefill of the longest context per model (decoding at context c rewinds the
 * cache to c), and every timed decode run starts with one untimed step at its position. With
 * pin, the engine's threads are pinned one per CPU of the process's mask for the run (chosen by
 * pick; restored afterwards).
 *
 * Instances (hn_measure_run_instances): the trial and the reference may each be given as K
 * separately built copies of one model (instances; their memory lies in different places, and two
 * copies of one architecture time apart by several per cent). Round r times trial instance
 * r % K without a reference; with one, trial instance (r / 2) % K and reference instance
 * (r / 2) % K_ref, so that each instance is timed in the AB round and the BA round of a pair
 * (with r % K and K even, an instance would be timed in one order only and the orders' geometric
 * mean would no longer cancel the order's cost) (hn_measure_schedule). Every warm-up round runs
 * each latency on every instance (first-touch page faults land there); the values of all
 * instances form each metric's one series, so placement is part of its spread instead of a
 * constant error. `repeats` is raised to hn_measure_min_repeats(K, K_ref) (K without a
 * reference; with one, 2 max(K, K_ref) when either is above 1) so that every instance is timed
 * (in both orders), and max_repeats to at least that. hn_measure_run is the case K = 1 (K_ref 0
 * or 1).
 *
 * Thread safety: a measurer belongs to one thread at a time; hn_measure_run sets the calling
 * thread's engine thread count (hn_llm_set_threads) and, with pin, the affinity of its OpenMP
 * pool (restored). Measure one thing at a time on a machine.
 */
#ifndef HILNAS_LLM_MEASURE_H
#define HILNAS_LLM_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#include "hilnas/error.h"
#include "hilnas/llm/llm_config.h"
#include "hilnas/llm/model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HN_MEASURE_MAX_CONTEXTS 32
/* prefill + decodes, twice more with a reference (ref, rel), + ref_ms + mem_ms */
#define HN_MEASURE_MAX_METRICS (3 * (HN_MEASURE_MAX_CONTEXTS + 1) + 2)
#define HN_MEASURE_NAME_MAX 48
/* longest wait for the process's other threads to stop using CPU before a run (ms) */
#define HN_MEASURE_SETTLE_MAX_MS 1000
#define HN_MEASURE_MAX_INSTANCES 16 /* of the trial, and of the reference */

enum hn_measure_clock {
    HN_MEASURE_WALL = 0, /* elapsed time (CLOCK_MONOTONIC) */
    HN_MEASURE_CPU = 1,  /* the process's CPU time (CLOCK_PROCESS_CPUTIME_ID) */
};
enum hn_measure_pick {
    HN_MEASURE_FASTEST = 0, /* time the candidate CPUs, take the fastest */
    HN_MEASURE_FIRST = 1,   /* the lowest-numbered */
};
/* The names of the enums above, index = value, NULL-terminated (option tables, command lines) */
extern const char *const hn_measure_clocks[];
extern const char *const hn_measure_picks[];

struct hn_measure_settings {
    int64_t prompt;                            /* tokens of the timed prefill (>= 1) */
    int64_t contexts[HN_MEASURE_MAX_CONTEXTS]; /* cached tokens of each decode metric */
    size_t n_contexts;                         /* 1 .. HN_MEASURE_MAX_CONTEXTS */
    int per_context;                           /* 1: decode_ms_<c> names; 0: decode_ms (one) */
    int64_t decode_tokens;                     /* steps per decode run (>= 1) */
    int64_t repeats, max_repeats, warmup;      /* max_repeats >= repeats >= 1 */
    double max_cv;
    int clock; /* enum hn_measure_clock */
    int pin;   /* pin the threads one per CPU while measuring */
    int pick;  /* enum hn_measure_pick */
    /* pick fastest: CPUs probed per run at most (0: all): those chosen for the previous run,
     * then the next ones of the mask in rotation (at least one new one per run) */
    int64_t pick_probe;
};

/* Positions a model needs for these settings: max(prompt, longest context + decode_tokens). */
int64_t hn_measure_positions(const struct hn_measure_settings *s);

/*
 * The metric names a run reports, in order (see above), into names[0..cap); with_reference adds
 * the _ref and _rel ones. Returns their count (<= HN_MEASURE_MAX_METRICS).
 */
size_t hn_measure_names(const struct hn_measure_settings *s, int with_reference,
                        char (*names)[HN_MEASURE_NAME_MAX], size_t cap);

/*
 * The architecture at path: a config.json file, or a checkpoint directory (its config.json is
 * read). Returns 0, or -1 with err (hn_llm_config_read's: the file and what is wrong with it).
 */
int hn_measure_config_read(const char *path, struct hn_llm_config *c, struct hn_error *err);

/* A model ready to be timed: its inference states and random prompt tokens (opaque). */
struct hn_measure_model;

/*
 * Inference states for model (borrowed: it must outlive the result) sized for s, and prompt
 * tokens drawn with seed. Create it after hn_llm_set_threads (the states are sized for the
 * engine's threads). Returns it (free with hn_measure_model_free) or NULL with err (the model's
 * max_position_embeddings is below hn_measure_positions(s), out of memory).
 */
struct hn_measure_model *hn_measure_model_new(const struct hn_llm_model *model,
                                              const struct hn_measure_settings *s, uint64_t seed,
                                              struct hn_error *err);
void hn_measure_model_free(struct hn_measure_model *mm);

/* What an instance keeps between runs: the settings, the references' operands (the 64 MiB
 * memory reference buffer is written once), the CPUs of the last pick (opaque). */
struct hn_measurer;

/* Returns a measurer for s (copied), or NULL with err (out of memory). */
struct hn_measurer *hn_measurer_new(const struct hn_measure_settings *s, struct hn_error *err);
void hn_measurer_free(struct hn_measurer *me);

struct hn_measure_metric {
    char name[HN_MEASURE_NAME_MAX];
    double value; /* the median, ms (a ratio for _rel) */
    double sem;   /* standard error of the median; NAN with one value */
    double cv;    /* robust spread 1.4826 MAD / median; NAN with one value */
    int settled;  /* cv <= max_cv */
    size_t n;     /* values */
};

struct hn_measure_result {
    size_t n;
    struct hn_measure_metric m[HN_MEASURE_MAX_METRICS];
    int cpu;           /* the first CPU the threads were pinned to, -1 without pin */
    int probed;        /* CPUs timed by pick: fastest in this run (0: no probe) */
    int settled;       /* every metric that decides the repeats (the _rel ones with a reference,
                        * else the latencies) settled */
    int threads;       /* engine threads of the run */
    double settle_ms;  /* waited before measuring for the process's other threads to go idle */
    int instances;     /* trial instances that were timed (all K of a run) */
    int ref_instances; /* reference instances that were timed (0 without a reference) */
};

/* Progress of a run: activity ("warming up", "measuring", "probing CPUs"), round done of total. */
typedef void (*hn_measure_progress_fn)(void *ctx, const char *activity, long done, long total);

/*
 * Time trial (and reference, NULL for none, alongside it) with the protocol above on `threads`
 * engine threads, into res. progress may be NULL. Returns 0, or -1 with err (an engine failure).
 * The process's affinity mask is restored before returning.
 */
int hn_measure_run(struct hn_measurer *me, int threads, struct hn_measure_model *trial,
                   struct hn_measure_model *reference, hn_measure_progress_fn progress,
                   void *progress_ctx, struct hn_measure_result *res, struct hn_error *err);

/*
 * The same with n_trial instances of the trial (1..HN_MEASURE_MAX_INSTANCES) and n_ref of the
 * reference (0: none; 0..HN_MEASURE_MAX_INSTANCES), each built separately from one model
 * (hn_llm_model_new, hn_measure_model_new) and rotated through round by round as the protocol
 * above says. res->instances and res->ref_instances count the instances that were timed.
 * Returns 0, or -1 with err (an engine failure, counts out of range).
 */
int hn_measure_run_instances(struct hn_measurer *me, int threads,
                             struct hn_measure_model *const *trial, size_t n_trial,
                             struct hn_measure_model *const *reference, size_t n_ref,
                             hn_measure_progress_fn progress, void *progress_ctx,
                             struct hn_measure_result *res, struct hn_error *err);

/*
 * The round schedule of the instances (exposed for tests): in timed round `round` (0, 1, ...),
 * the trial instance *trial_i and reference instance *ref_i that are timed, and whether the
 * reference runs first (*ref_first: BA; always 0 without a reference, n_ref = 0).
 */
void hn_measure_schedule(int64_t round, size_t n_trial, size_t n_ref, size_t *trial_i,
                         size_t *ref_i, int *ref_first);

/* The repeats a run with these instance counts takes at least: n_trial without a reference,
 * 2 max(n_trial, n_ref) with one (every instance in both orders), 1 when both are 1. */
int64_t hn_measure_min_repeats(size_t n_trial, size_t n_ref);

/*
 * A pair's ratio metric from its per-round ratios trial / reference r[0..n), value i taken in
 * round i (the trial first when i is even, second when odd), as hn_measure_run reports it: the
 * geometric mean of the two orders' medians (so whatever going first costs cancels), with the
 * standard error and spread of the ratios each moved by its order's median onto that value.
 * Returns 0, or -1 (out of memory).
 */
int hn_measure_summarize_ratio(const double *r, size_t n, double max_cv,
                               struct hn_measure_metric *m);

/* The metric called name in res, or NULL. */
const struct hn_measure_metric *hn_measure_get(const struct hn_measure_result *res,
                                               const char *name);

/*
 * The CPUs pick: fastest probes in one run (exposed for tests): from cpus[0..n) (the mask, in
 * order), the previous run's choice prev[0..n_prev) that is still in the mask, then the next
 * CPUs from *cursor on in rotation (wrapping, skipping those already taken) until `cap` are
 * taken, at least one that was not in prev (cap <= 0 or cap >= n: all n). *cursor advances past
 * the CPUs taken in rotation. Writes them to out (room for n) and returns their count.
 */
int hn_measure_probe_set(const int *cpus, int n, const int *prev, int n_prev, int *cursor, int cap,
                         int *out);

#ifdef __cplusplus
}
#endif
#endif
