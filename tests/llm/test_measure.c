/*
 * The measurement module (hilnas/llm/measure.h) shared by the host oracle and hilnas-bench:
 * - the metric names, with and without per-context decode names and a reference;
 * - pick: fastest's probed CPUs on a big machine: with a cap of 8 of 128 CPUs each run probes 8
 *   (the previous choice and the next in rotation, no CPU twice) and every CPU is probed within
 *   a rotation; with a cap of 1 the previous choice plus one new CPU;
 * - a real run with pin, pick: fastest and pick_probe 1 on this process's mask (the first run
 *   probes 1 CPU, later runs 2), the chosen CPU in the mask and the mask restored afterwards;
 * - a model timed against a model of its own shape: every _rel is near 1, and the _ref and _rel
 *   metrics have their spreads; the order within a pair (AB, BA) cancels in _rel;
 * - instances: the round schedule keeps AB and BA balanced on every instance (K, K_ref up to 16),
 *   placement shows in the spread of _rel, and a real run times every instance into one series;
 * - the cpu clock on one engine thread counts that thread only: another thread of the process
 *   burning CPU meanwhile does not inflate the times; a run first waits (up to a limit) for the
 *   process's other threads to stop using CPU.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_SET */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/llm/measure.h"
#include "hilnas/llm/model.h"

static struct hn_measure_settings settings(int per_context)
{
    struct hn_measure_settings s = {.prompt = 32,
                                    .contexts = {0, 64},
                                    .n_contexts = per_context ? 2 : 1,
                                    .per_context = per_context,
                                    .decode_tokens = 8,
                                    .repeats = 5,
                                    .max_repeats = 11,
                                    .warmup = 1,
                                    .max_cv = 0.03,
                                    /* CPU time: other processes on a loaded machine do not
                                     * inflate it (one thread) */
                                    .clock = HN_MEASURE_CPU,
                                    .pick_probe = 8};
    return s;
}

Test(measure, metric_names)
{
    char names[HN_MEASURE_MAX_METRICS][HN_MEASURE_NAME_MAX];
    struct hn_measure_settings s = settings(1);
    const char *want[] = {"prefill_ms",  "decode_ms_0",  "decode_ms_64", "ref_ms",
                          "mem_ms",      "prefill_ref",  "decode_ref_0", "decode_ref_64",
                          "prefill_rel", "decode_rel_0", "decode_rel_64"};
    size_t n = hn_measure_names(&s, 1, names, HN_MEASURE_MAX_METRICS);
    cr_assert_eq(n, 11);
    for (size_t i = 0; i < n; i++) {
        cr_expect_str_eq(names[i], want[i]);
    }
    cr_expect_eq(hn_measure_names(&s, 0, names, HN_MEASURE_MAX_METRICS), 5, "no reference");
    s = settings(0);
    const char *one[] = {"prefill_ms",  "decode_ms",  "ref_ms",      "mem_ms",
                         "prefill_ref", "decode_ref", "prefill_rel", "decode_rel"};
    n = hn_measure_names(&s, 1, names, HN_MEASURE_MAX_METRICS);
    cr_assert_eq(n, 8);
    for (size_t i = 0; i < n; i++) {
        cr_expect_str_eq(names[i], one[i]);
    }
}

Test(measure, probe_rotation_on_a_big_machine)
{
    int cpus[128], prev[1] = {0}, out[128], cursor = 0, n_prev = 0, seen[128] = {0};
    for (int i = 0; i < 128; i++) {
        cpus[i] = 2 * i + 1; /* a mask with holes */
    }
    /* 19 runs of 8 (1 previous + 7 new) cover 128 CPUs */
    for (int run = 0; run < 19; run++) {
        int n = hn_measure_probe_set(cpus, 128, prev, n_prev, &cursor, 8, out);
        cr_assert_eq(n, 8, "run %d probes %d CPUs", run, n);
        for (int i = 0; i < n; i++) {
            cr_assert(out[i] % 2 == 1 && out[i] < 256, "run %d: CPU %d not in the mask", run,
                      out[i]);
            for (int j = 0; j < i; j++) {
                cr_assert_neq(out[i], out[j], "run %d probes CPU %d twice", run, out[i]);
            }
            seen[out[i] / 2] = 1;
        }
        if (n_prev > 0) {
            cr_expect_eq(out[0], prev[0], "run %d: the previous choice is probed again", run);
        }
        prev[0] = out[(run * 5) % n]; /* some choice among the probed */
        n_prev = 1;
    }
    for (int i = 0; i < 128; i++) {
        cr_expect(seen[i], "CPU %d never probed in a whole rotation", cpus[i]);
    }
    /* a previous choice no longer in the mask is dropped */
    prev[0] = 1000;
    cr_expect_eq(hn_measure_probe_set(cpus, 128, prev, 1, &cursor, 8, out), 8);
    for (int i = 0; i < 8; i++) {
        cr_expect_neq(out[i], 1000);
    }
    /* cap 0, or at least the mask: every CPU */
    cr_expect_eq(hn_measure_probe_set(cpus, 128, prev, 1, &cursor, 0, out), 128);
    cr_expect_eq(hn_measure_probe_set(cpus, 128, prev, 1, &cursor, 500, out), 128);
}

Test(measure, probe_cap_of_one)
{
    int cpus[2] = {0, 1}, prev[1] = {0}, out[2], cursor = 0;
    cr_expect_eq(hn_measure_probe_set(cpus, 2, prev, 0, &cursor, 1, out), 1, "first run: one");
    cr_expect_eq(out[0], 0);
    prev[0] = 0;
    cr_expect_eq(hn_measure_probe_set(cpus, 2, prev, 1, &cursor, 1, out), 2, "then: + one new");
    cr_expect(out[0] == 0 && out[1] == 1);
    prev[0] = 1;
    cr_expect_eq(hn_measure_probe_set(cpus, 2, prev, 1, &cursor, 1, out), 2);
    cr_expect(out[0] == 1 && out[1] == 0, "the rotation goes on: %d %d", out[0], out[1]);
}

/* a small random model of `layers` layers of `hidden` (FFN 2 x hidden, heads of 32) */
static struct hn_llm_model *small(int layers, int hidden, uint64_t seed)
{
    struct hn_llm_config c;
    struct hn_error err;
    hn_llm_config_default(&c);
    c.hidden_size = hidden;
    c.intermediate_size = 2 * hidden;
    c.num_hidden_layers = layers;
    c.num_attention_heads = hidden / 32;
    c.num_key_value_heads = hidden / 32;
    c.head_dim = 32;
    c.vocab_size = 64;
    c.max_position_embeddings = 512;
    struct hn_llm_model *m = hn_llm_model_new(&c, &err);
    cr_assert_not_null(m, "%s", err.msg);
    hn_llm_model_randomize(m, seed);
    return m;
}

Test(measure, pinned_runs_probe_within_the_cap, .timeout = 60)
{
    cpu_set_t before, after;
    struct hn_error err;
    cr_assert_eq(sched_getaffinity(0, sizeof(before), &before), 0);
    if (CPU_COUNT(&before) < 2) {
        cr_skip_test("one CPU: nothing to pick from");
    }
    struct hn_measure_settings s = settings(1);
    s.repeats = s.max_repeats = 2;
    s.pin = 1;
    s.pick = HN_MEASURE_FASTEST;
    s.pick_probe = 1;
    struct hn_llm_model *m = small(2, 128, 1);
    struct hn_measurer *me = hn_measurer_new(&s, &err);
    cr_assert_not_null(me, "%s", err.msg);
    hn_llm_set_threads(1);
    struct hn_measure_model *mm = hn_measure_model_new(m, &s, 1, &err);
    cr_assert_not_null(mm, "%s", err.msg);
    struct hn_measure_result *res = malloc(sizeof(*res));
    for (int run = 0; run < 3; run++) {
        cr_assert_eq(hn_measure_run(me, 1, mm, NULL, NULL, NULL, res, &err), 0, "%s", err.msg);
        cr_expect_eq(res->probed, run == 0 ? 1 : 2, "run %d probed %d CPUs", run, res->probed);
        cr_expect(res->cpu >= 0 && CPU_ISSET(res->cpu, &before), "run %d: CPU %d", run, res->cpu);
        cr_assert_eq(sched_getaffinity(0, sizeof(after), &after), 0);
        cr_expect(CPU_EQUAL(&before, &after), "run %d: the mask is restored", run);
        cr_expect_gt(hn_measure_get(res, "prefill_ms")->value, 0.0);
    }
    free(res);
    hn_measure_model_free(mm);
    hn_measurer_free(me);
    hn_llm_model_free(m);
}

/*
 * A model against another instance of its shape: each _rel near 1. Two instances of one
 * architecture in one process time apart by where their memory lies, steadily within a run (on
 * this machine, loaded, up to 11 % in prefill and 18 % in decode, each instance pair its own
 * way; docs/latency.md), so the check is on the median of three independent pairs: prefill
 * within 0.2, decode within 0.3 (a model of twice the layers is 2 and more).
 */
Test(measure, a_model_against_its_own_shape, .timeout = 90)
{
    struct hn_error err;
    struct hn_measure_settings s = settings(1);
    const char *rel[] = {"prefill_rel", "decode_rel_0", "decode_rel_64"};
    const char *ref[] = {"prefill_ref", "decode_ref_0", "decode_ref_64"};
    const char *ms[] = {"prefill_ms", "decode_ms_0", "decode_ms_64"};
    double got[3][3];
    s.decode_tokens = 16;
    hn_llm_set_threads(1);
    struct hn_measurer *me = hn_measurer_new(&s, &err);
    cr_assert_not_null(me, "%s", err.msg);
    struct hn_measure_result *res = malloc(sizeof(*res));
    for (int pair = 0; pair < 3; pair++) {
        struct hn_llm_model *a = small(4, 256, 1 + 2 * pair), *b = small(4, 256, 2 + 2 * pair);
        struct hn_measure_model *ma = hn_measure_model_new(a, &s, 1, &err);
        struct hn_measure_model *mb = hn_measure_model_new(b, &s, 2, &err);
        cr_assert(ma != NULL && mb != NULL, "%s", err.msg);
        cr_assert_eq(hn_measure_run(me, 1, ma, mb, NULL, NULL, res, &err), 0, "%s", err.msg);
        cr_assert_eq(res->n, 11);
        int settled = 1;
        for (int k = 0; k < 3; k++) {
            const struct hn_measure_metric *r = hn_measure_get(res, rel[k]);
            cr_assert_not_null(r);
            printf("measure: pair %d: %s %.4f (cv %.4f, n %zu)\n", pair, rel[k], r->value, r->cv,
                   r->n);
            got[k][pair] = r->value;
            cr_expect(r->value > 0.6 && r->value < 1.6, "%s = %g", rel[k], r->value);
            cr_expect(r->n >= 5 && r->n <= 11, "%s: %zu values", rel[k], r->n);
            cr_expect_eq(r->settled, isfinite(r->cv) && r->cv <= 0.03);
            settled &= r->settled;
            /* the trial's and the reference's series have as many values as the ratio's */
            cr_expect_eq(hn_measure_get(res, ref[k])->n, r->n, "%s", ref[k]);
            cr_expect_eq(hn_measure_get(res, ms[k])->n, r->n, "%s", ms[k]);
        }
        cr_expect_eq(res->settled, settled, "settled follows the ratios with a reference");
        cr_expect_eq(res->cpu, -1, "not pinned");
        hn_measure_model_free(ma);
        hn_measure_model_free(mb);
        hn_llm_model_free(a);
        hn_llm_model_free(b);
    }
    for (int k = 0; k < 3; k++) {
        double *g = got[k], med = fmax(fmin(g[0], g[1]), fmin(fmax(g[0], g[1]), g[2]));
        cr_expect(fabs(med - 1.0) < (k == 0 ? 0.2 : 0.3), "%s: median of three pairs %g", rel[k],
                  med);
    }
    free(res);
    hn_measurer_free(me);
}

/* The order within a pair cancels: per-round ratios of a true 1.5 that going first inflates by
 * 1.2 (AB rounds 1.8, BA rounds 1.25) give 1.5, where a plain median of 5 rounds (3 AB) would
 * give 1.8; the spread is that around each order's median (here none). */
Test(measure, pair_order_cancels)
{
    double r[7] = {1.8, 1.25, 1.8, 1.25, 1.8, 1.25, 1.8};
    struct hn_measure_metric m;
    cr_assert_eq(hn_measure_summarize_ratio(r, 5, 0.03, &m), 0);
    cr_expect(fabs(m.value - 1.5) < 1e-12, "%.17g", m.value);
    cr_expect_eq(m.n, 5);
    cr_expect(m.cv < 1e-12 && m.settled, "cv %g", m.cv);
    /* noise on top: each order's median, then their geometric mean */
    double noisy[6] = {1.7, 1.3, 1.9, 1.2, 1.8, 1.25};
    cr_assert_eq(hn_measure_summarize_ratio(noisy, 6, 0.03, &m), 0);
    cr_expect(fabs(m.value - sqrt(1.8 * 1.25)) < 1e-12, "%.17g", m.value);
    cr_expect(m.cv > 0 && !m.settled, "cv %g", m.cv);
    /* one round: the value itself, no spread */
    cr_assert_eq(hn_measure_summarize_ratio(noisy, 1, 0.03, &m), 0);
    cr_expect_eq(m.value, 1.7);
    cr_expect(isnan(m.cv) && !m.settled);
}

/*
 * The instance schedule: without a reference round r times instance r % K; with one, every
 * trial and reference instance is timed in as many AB rounds as BA rounds over 2 max(K, K_ref)
 * rounds (and any multiple), for every K, K_ref up to the maximum, so the order's cost still
 * cancels per instance.
 */
Test(measure, schedule_balances_orders_per_instance)
{
    for (size_t k = 1; k <= HN_MEASURE_MAX_INSTANCES; k++) {
        for (size_t kr = 0; kr <= HN_MEASURE_MAX_INSTANCES; kr++) {
            int64_t min = hn_measure_min_repeats(k, kr), rounds = 3 * min;
            long ab[HN_MEASURE_MAX_INSTANCES] = {0}, ba[HN_MEASURE_MAX_INSTANCES] = {0};
            long rab[HN_MEASURE_MAX_INSTANCES] = {0}, rba[HN_MEASURE_MAX_INSTANCES] = {0};
            cr_assert(min >= (int64_t)k && (kr == 0 || min >= (int64_t)kr), "%zu %zu", k, kr);
            for (int64_t r = 0; r < rounds; r++) {
                size_t ti, ri;
                int ref_first;
                hn_measure_schedule(r, k, kr, &ti, &ri, &ref_first);
                cr_assert(ti < k && (kr == 0 ? ri == 0 : ri < kr), "round %lld", (long long)r);
                cr_assert_eq(ref_first, kr > 0 && r % 2 == 1, "AB in even rounds, BA in odd");
                if (kr == 0) {
                    cr_assert_eq(ti, (size_t)(r % (int64_t)k));
                }
                (ref_first ? ba : ab)[ti]++;
                (ref_first ? rba : rab)[ri]++;
            }
            for (size_t i = 0; i < k; i++) {
                cr_assert_gt(ab[i] + ba[i], 0, "K %zu: trial instance %zu never timed", k, i);
                if (kr > 0 && (k > 1 || kr > 1)) {
                    cr_assert_eq(ab[i], ba[i],
                                 "K %zu, K_ref %zu: trial instance %zu: %ld AB, "
                                 "%ld BA",
                                 k, kr, i, ab[i], ba[i]);
                }
            }
            for (size_t i = 0; i < kr; i++) {
                cr_assert_gt(rab[i] + rba[i], 0, "K_ref %zu: reference %zu never timed", kr, i);
                if (k > 1 || kr > 1) {
                    cr_assert_eq(rab[i], rba[i], "K %zu, K_ref %zu: reference %zu", k, kr, i);
                }
            }
        }
    }
    /* within the first min_repeats rounds (a run's least) every instance is timed already */
    for (size_t k = 1; k <= HN_MEASURE_MAX_INSTANCES; k++) {
        for (size_t kr = 0; kr <= HN_MEASURE_MAX_INSTANCES; kr++) {
            int seen[HN_MEASURE_MAX_INSTANCES] = {0}, rseen[HN_MEASURE_MAX_INSTANCES] = {0}, n = 0;
            int nr = 0;
            for (int64_t r = 0; r < hn_measure_min_repeats(k, kr); r++) {
                size_t ti, ri;
                int ref_first;
                hn_measure_schedule(r, k, kr, &ti, &ri, &ref_first);
                n += !seen[ti]++;
                nr += kr > 0 && !rseen[ri]++;
            }
            cr_assert_eq(n, (int)k, "K %zu, K_ref %zu: %d trial instances timed", k, kr, n);
            cr_assert_eq(nr, (int)kr, "K %zu, K_ref %zu: %d references timed", k, kr, nr);
        }
    }
}

/*
 * Placement becomes spread, not a hidden constant: per-round ratios of two trial instances
 * whose placement costs 1.0 and 1.1 (true ratio 1), with going first costing 1.2, summarized as a
 * run reports them. The order cancels (the value lies between the instances' 1.0 and 1.1), and
 * the instances' difference shows in the spread. With the schedule r % 2 (instance 0 always AB)
 * the order correction would absorb the placement and the spread would be 0.
 */
Test(measure, placement_shows_in_the_spread)
{
    double r[8], place[2] = {1.0, 1.1};
    struct hn_measure_metric m;
    for (int64_t i = 0; i < 8; i++) {
        size_t ti, ri;
        int ref_first;
        hn_measure_schedule(i, 2, 1, &ti, &ri, &ref_first);
        r[i] = place[ti] * (ref_first ? 1 / 1.2 : 1.2);
    }
    cr_assert_eq(hn_measure_summarize_ratio(r, 8, 0.03, &m), 0);
    cr_expect(m.value > 1.0 - 1e-12 && m.value < 1.1 + 1e-12, "rel %.17g", m.value);
    cr_expect(fabs(m.value - 1.05) < 1e-12, "the instances' mean: %.17g", m.value);
    cr_expect(m.cv > 0.03 && !m.settled, "placement in the spread: cv %g", m.cv);
    for (int i = 0; i < 8; i++) { /* the aliased schedule, for contrast */
        r[i] = place[i % 2] * (i % 2 ? 1 / 1.2 : 1.2);
    }
    cr_assert_eq(hn_measure_summarize_ratio(r, 8, 0.03, &m), 0);
    cr_expect(m.cv < 1e-12, "aliased: the spread hides it (cv %g)", m.cv);
}

/*
 * A real run on instances: two trial instances of different depth (1 and 4 layers, so their
 * times differ by far more than noise) form one series: all of it is timed (res->instances), its
 * median lies between the two and its spread is large, so it never settles and runs to
 * max_repeats. With a reference of two instances, repeats 1 is raised to 4 (both orders on each
 * instance). Counts out of range are errors.
 */
Test(measure, instances_form_one_series, .timeout = 60)
{
    struct hn_error err;
    struct hn_measure_settings s = settings(0);
    s.repeats = 1;
    s.max_repeats = 6;
    hn_llm_set_threads(1);
    struct hn_measurer *me = hn_measurer_new(&s, &err);
    cr_assert_not_null(me, "%s", err.msg);
    struct hn_llm_model *m1 = small(1, 128, 1), *m4 = small(4, 128, 2);
    struct hn_measure_model *mm[2], *ref[2];
    mm[0] = hn_measure_model_new(m1, &s, 1, &err);
    mm[1] = hn_measure_model_new(m4, &s, 2, &err);
    ref[0] = hn_measure_model_new(m1, &s, 3, &err);
    ref[1] = hn_measure_model_new(m1, &s, 4, &err);
    cr_assert(mm[0] && mm[1] && ref[0] && ref[1], "%s", err.msg);
    struct hn_measure_result *res = malloc(sizeof(*res)), *one = malloc(sizeof(*one));
    cr_assert_eq(hn_measure_run(me, 1, mm[0], NULL, NULL, NULL, one, &err), 0, "%s", err.msg);
    cr_expect_eq(one->instances, 1);
    cr_expect_eq(one->ref_instances, 0);
    cr_assert_eq(hn_measure_run_instances(me, 1, mm, 2, NULL, 0, NULL, NULL, res, &err), 0, "%s",
                 err.msg);
    cr_expect_eq(res->instances, 2);
    cr_expect_eq(res->ref_instances, 0);
    const struct hn_measure_metric *p = hn_measure_get(res, "prefill_ms");
    const struct hn_measure_metric *p1 = hn_measure_get(one, "prefill_ms");
    cr_assert(p != NULL && p1 != NULL);
    /* the 1-layer instance alone once more, after: the faster of the two runs (a run that a busy
     * machine slowed, as .ci/run's parallel sanitizer stage does, would move the bar) */
    double alone = p1->value;
    cr_assert_eq(hn_measure_run(me, 1, mm[0], NULL, NULL, NULL, one, &err), 0, "%s", err.msg);
    double again = hn_measure_get(one, "prefill_ms")->value;
    printf("measure: instances 1+4 layers: prefill %.4f ms (cv %.3f, n %zu); 1 layer alone "
           "%.4f, then %.4f ms\n",
           p->value, p->cv, p->n, alone, again);
    alone = fmin(alone, again);
    cr_expect_eq(p->n, 6, "unsettled: max_repeats values, %zu", p->n);
    cr_expect(p->cv > 0.2 && !p->settled, "both depths in the spread: cv %g", p->cv);
    /* the series' median is about halfway between the depths (the 4 layers take 1.8-3x the 1
     * layer's time, sanitizers and load included): 1.4-2x the 1 layer's, where a series of the 1
     * layer alone would sit at 1 */
    cr_expect_gt(p->value, 1.15 * alone, "the median lies above the 1-layer instance's (%.4f ms)",
                 alone);
    /* with a reference of two instances: repeats 1 becomes 4, both instances of each timed */
    s.max_cv = 10.0; /* everything settles at once */
    struct hn_measurer *me2 = hn_measurer_new(&s, &err);
    cr_assert_not_null(me2, "%s", err.msg);
    cr_assert_eq(hn_measure_run_instances(me2, 1, mm, 2, ref, 2, NULL, NULL, res, &err), 0, "%s",
                 err.msg);
    cr_expect_eq(res->instances, 2);
    cr_expect_eq(res->ref_instances, 2);
    cr_expect_eq(hn_measure_get(res, "prefill_rel")->n, 4);
    cr_expect_eq(hn_measure_get(res, "decode_ms")->n, 4);
    /* out of range */
    cr_expect_eq(hn_measure_run_instances(me2, 1, mm, 0, NULL, 0, NULL, NULL, res, &err), -1);
    struct hn_measure_model *many[HN_MEASURE_MAX_INSTANCES + 1];
    for (int i = 0; i <= HN_MEASURE_MAX_INSTANCES; i++) {
        many[i] = mm[0];
    }
    cr_expect_eq(hn_measure_run_instances(me2, 1, many, HN_MEASURE_MAX_INSTANCES + 1, NULL, 0, NULL,
                                          NULL, res, &err),
                 -1);
    cr_expect(strstr(err.msg, "1..16") != NULL, "%s", err.msg);
    free(res);
    free(one);
    for (int i = 0; i < 2; i++) {
        hn_measure_model_free(mm[i]);
        hn_measure_model_free(ref[i]);
    }
    hn_llm_model_free(m1);
    hn_llm_model_free(m4);
    hn_measurer_free(me);
    hn_measurer_free(me2);
}

/* Another thread of the process burns CPU while a model is timed on one engine thread with the
 * cpu clock (as an evaluator's BLAS or OpenMP workers spin after its training, in the same
 * trial): the times are the timing thread's CPU time, not the process's. Prefill with the
 * spinner over prefill without: within 1.5 (the process's CPU time, counted before, gave about
 * 1.3 in a flash.yaml verify stage and about 2 here on two idle CPUs). */
static volatile int spin_stop;

static void *spinner(void *arg)
{
    volatile unsigned long x = 0;
    (void)arg;
    while (!spin_stop) {
        x++;
    }
    return NULL;
}

Test(measure, the_cpu_clock_counts_the_timing_thread_only, .timeout = 60)
{
    struct hn_error err;
    struct hn_measure_settings s = settings(0);
    s.repeats = s.max_repeats = 7;
    hn_llm_set_threads(1);
    struct hn_llm_model *m = small(4, 256, 3);
    struct hn_measurer *me = hn_measurer_new(&s, &err);
    cr_assert_not_null(me, "%s", err.msg);
    struct hn_measure_model *mm = hn_measure_model_new(m, &s, 1, &err);
    cr_assert_not_null(mm, "%s", err.msg);
    struct hn_measure_result *res = malloc(sizeof(*res));
    double alone[2], spun[2];
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(hn_measure_run(me, 1, mm, NULL, NULL, NULL, res, &err), 0, "%s", err.msg);
        alone[k] = hn_measure_get(res, "prefill_ms")->value;
        cr_expect_lt(res->settle_ms, 0.5 * HN_MEASURE_SETTLE_MAX_MS, "nothing else runs: %g ms",
                     res->settle_ms);
        pthread_t t;
        spin_stop = 0;
        cr_assert_eq(pthread_create(&t, NULL, spinner, NULL), 0);
        int rc = hn_measure_run(me, 1, mm, NULL, NULL, NULL, res, &err);
        spin_stop = 1;
        pthread_join(t, NULL);
        cr_assert_eq(rc, 0, "%s", err.msg);
        spun[k] = hn_measure_get(res, "prefill_ms")->value;
        /* it waited for the spinner (which never stops: up to the limit on an idle machine;
         * when the suite's other tests starve the spinner it may see two quiet windows
         * earlier, but not before one busy one) */
        cr_expect_geq(res->settle_ms, 59.0, "settle %g ms", res->settle_ms);
        printf("measure: waited %.0f ms for a spinning thread\n", res->settle_ms);
    }
    double ratio = fmin(spun[0] / alone[0], spun[1] / alone[1]);
    printf("measure: prefill with a spinning thread in the process / without: %.3f, %.3f\n",
           spun[0] / alone[0], spun[1] / alone[1]);
    cr_expect_lt(ratio, 1.5, "the cpu clock counted another thread: %g", ratio);
    free(res);
    hn_measure_model_free(mm);
    hn_measurer_free(me);
    hn_llm_model_free(m);
}
