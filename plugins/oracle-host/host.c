/*
 * hilnas oracle "host": latency of an architecture measured on this machine's CPU with the
 * llm/ engine.
 *
 * The trial's architecture (a Hugging Face LlamaConfig as the transformer space decodes it) is
 * built with random weights (latency does not depend on their values) and timed:
 *   prefill_ms  one forward pass over `prompt` tokens into an empty KV cache (the logits of the
 *               last token only, as generation needs)
 *   decode_ms   per generated token: after an untimed prefill of `context` tokens, the mean
 *               time of `decode_tokens` one-token steps (greedy, KV cache)
 * Each is measured `repeats` times after `warmup` unrecorded runs; the metric is the median
 * and its standard error is 1.2533 s / sqrt(repeats) (s: the sample standard deviation), the
 * standard error of a median of normal samples. `dtype` stores the weights at a deployment
 * precision (llm/qmat.h) before timing. Threads: `threads`, or the evaluation's share
 * of the CPUs. Run host measurements one at a time (the serial executor): trials measured
 * side by side slow each other down.
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "hilnas/evaluator.h"
#include "hilnas/rng.h"
#include "llm/decode.h"
#include "llm/llm_config.h"
#include "llm/model.h"

struct host {
    int64_t prompt, context, decode_tokens, repeats, warmup, threads;
    int dtype; /* enum hn_dtype: index into dtypes (the same order) */
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
     .help = "Tokens already in the KV cache when decoding is timed."},
    {.name = "decode_tokens",
     .type = HN_OPT_INT,
     .def = "32",
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
     .help = "Measurements per metric (median)."},
    {.name = "warmup",
     .type = HN_OPT_INT,
     .def = "1",
     .min = 0,
     .max = 100,
     .bounded = 1,
     .offset = offsetof(struct host, warmup),
     .help = "Unrecorded runs before measuring."},
    {.name = "threads",
     .type = HN_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 1024,
     .bounded = 1,
     .offset = offsetof(struct host, threads),
     .help = "Engine threads; 0: the evaluation's share of the CPUs."},
    {.name = "dtype",
     .type = HN_OPT_ENUM,
     .def = "f32",
     .choices = dtypes,
     .offset = offsetof(struct host, dtype),
     .help = "Weight storage precision timed (f32, bf16, f16, q8_0; F32 arithmetic): decode "
             "time follows the bytes."},
    {.name = NULL},
};

static const char *const host_metrics[] = {"prefill_ms", "decode_ms", NULL};

static void *host_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct host *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_apply(host_options, args->node, h, "oracle 'host'", "host", err) != 0) {
        free(h);
        return NULL;
    }
    return h;
}

static void host_destroy(void *ctx)
{
    free(ctx);
}

static const char *const *host_metric_names(void *ctx)
{
    (void)ctx;
    return host_metrics;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorted in place) and the standard error of the median. */
static void summarize(double *v, size_t n, double *median, double *sem)
{
    double mean = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++) {
        mean += v[i] / (double)n;
    }
    for (size_t i = 0; i < n; i++) {
        ss += (v[i] - mean) * (v[i] - mean);
    }
    qsort(v, n, sizeof(double), cmp_double);
    *median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    *sem = n > 1 ? 1.2533 * sqrt(ss / (double)(n - 1)) / sqrt((double)n) : NAN;
}

static int host_evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                         struct hn_error *err)
{
    const struct host *h = ctx;
    const json_t *arch = req->trial->arch;
    struct hn_llm_config c;
    struct hn_llm_model *m = NULL;
    struct hn_llm_infer *inf = NULL;
    int *tokens = NULL;
    float *logits = NULL;
    double *prefill = NULL, *decode = NULL;
    int rc = -1;
    if (!json_is_object(arch) || json_object_get(arch, "hidden_size") == NULL) {
        return hn_error_config(err, NULL,
                               "the trial has no transformer architecture to measure; use the "
                               "space 'transformer' (or one that decodes to a LlamaConfig)");
    }
    if (hn_llm_config_from_json(arch, "architecture", &c, err) != 0) {
        return -1;
    }
    int64_t need =
        h->prompt > h->context + h->decode_tokens ? h->prompt : h->context + h->decode_tokens;
    if (need > c.max_position_embeddings) {
        return hn_error_config(err, NULL,
                               "prompt %lld / context %lld + decode_tokens %lld exceed the "
                               "architecture's max_position_embeddings (%d); lower them",
                               (long long)h->prompt, (long long)h->context,
                               (long long)h->decode_tokens, c.max_position_embeddings);
    }
    hn_llm_set_threads(h->threads > 0 ? (int)h->threads : req->threads);
    m = hn_llm_model_new(&c, err);
    if (m == NULL) {
        goto done;
    }
    hn_llm_model_randomize(m, req->seed);
    if (hn_llm_set_dtype(m, (enum hn_dtype)h->dtype, err) != 0) {
        goto done;
    }
    inf = hn_llm_infer_new(m, (int)need, (int)h->prompt, err);
    size_t n_runs = (size_t)(h->warmup + h->repeats);
    tokens = malloc((size_t)need * sizeof(int));
    logits = malloc((size_t)c.vocab_size * sizeof(float));
    prefill = malloc(n_runs * sizeof(double));
    decode = malloc(n_runs * sizeof(double));
    if (inf == NULL || tokens == NULL || logits == NULL || prefill == NULL || decode == NULL) {
        if (inf != NULL) {
            hn_error_set(err, NULL, "out of memory");
        }
        goto done;
    }
    struct hn_rng rng;
    hn_rng_seed(&rng, hn_rng_derive(req->seed, 1));
    for (int64_t i = 0; i < need; i++) {
        tokens[i] = (int)hn_rng_below(&rng, (uint64_t)c.vocab_size);
    }
    for (size_t r = 0; r < n_runs; r++) {
        hn_llm_infer_reset(inf);
        double t0 = hn_monotonic();
        if (hn_llm_infer_forward(inf, tokens, (int)h->prompt, logits, 0, err) != 0) {
            goto done;
        }
        prefill[r] = 1e3 * (hn_monotonic() - t0);
        hn_llm_infer_reset(inf);
        if (h->context > 0 &&
            hn_llm_infer_forward(inf, tokens, (int)h->context, logits, 0, err) != 0) {
            goto done;
        }
        int tok = tokens[h->context];
        t0 = hn_monotonic();
        for (int64_t k = 0; k < h->decode_tokens; k++) {
            if (hn_llm_infer_forward(inf, &tok, 1, logits, 0, err) != 0) {
                goto done;
            }
            tok = hn_llm_sample(logits, c.vocab_size, 0.0, 0, &rng);
        }
        decode[r] = 1e3 * (hn_monotonic() - t0) / (double)h->decode_tokens;
    }
    double med, sem;
    summarize(prefill + h->warmup, (size_t)h->repeats, &med, &sem);
    if (hn_metrics_put(out, "prefill_ms", med, sem, err) != 0) {
        goto done;
    }
    summarize(decode + h->warmup, (size_t)h->repeats, &med, &sem);
    if (hn_metrics_put(out, "decode_ms", med, sem, err) != 0) {
        goto done;
    }
    rc = 0;
done:
    free(prefill);
    free(decode);
    free(tokens);
    free(logits);
    hn_llm_infer_free(inf);
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
