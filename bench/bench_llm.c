/*
 * bench_llm: throughput of the transformer engine against this machine's sgemm.
 *
 * Prints one table: cblas_sgemm GFLOP/s (1024^3), then for a ~2M and a ~8M parameter byte-level
 * shape: training tokens/s (B x 256), prefill tokens/s (256-token prompt), decode tokens/s at
 * context 256 and 1024, each with model GFLOP/s and the fraction of the sgemm rate. Model FLOPs
 * are the useful ones (hn_llm_flops_per_token: 2 x matmul parameters + causal attention; 3x for
 * training; the prefill LM head runs for the last token only).
 *
 * usage: bench_llm [--threads N] [--quick]
 *        bench_llm --deploy [--threads N] [--dtypes f32,bf16,f16,q8_0] [--skip-half] [--quick]
 *                  [--shape L,C,NH,KVH,F,V] [--prompt 512] [--context 2048] [--tokens 32]
 *                  [--rounds R]
 *
 * --deploy: a MobileLLM-350M-shaped model (32 layers, hidden 960, 15 heads, 5 KV heads, FFN 2560,
 * vocabulary 32000, tied; --skip-half: odd layers skip attention) with random weights at each
 * deployment precision: prefill of --prompt tokens, decode of --tokens tokens from an empty cache
 * and at --context tokens of context (the cache filled with random keys and values, as a real
 * prefill would leave it; its time is not counted), the bytes each decoded token reads (weights +
 * cache), the bandwidth that implies, and the machine's read bandwidth and sgemm rate measured in
 * the same run. Then the per-token overhead of small models: decode time against the time their
 * bytes take at the measured bandwidth. With --rounds R (paired): instead of the table, the
 * models of every listed dtype side by side, each metric timed once per dtype in each of R
 * rounds (order rotating), and the median per-round ratio to the first dtype: the comparison to
 * trust on a machine whose speed drifts between minutes.
 * On a machine shared with other jobs, run with OMP_WAIT_POLICY=passive: spinning OpenMP threads
 * preempted by other processes make every fork/join wait for a time slice.
 */
#include "config.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hilnas/llm/decode.h"
#include "hilnas/llm/model.h"
#include "hilnas/llm/ops.h"
#include "hilnas/llm/qmat.h"
#include "hilnas/rng.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double sgemm_gflops(int n, double min_seconds)
{
    float *a = malloc((size_t)n * n * sizeof(float)), *b = malloc((size_t)n * n * sizeof(float));
    float *c = malloc((size_t)n * n * sizeof(float));
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    int reps = 0;
    double t0 = now(), t;
    do {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c,
                    n);
        reps++;
        t = now() - t0;
    } while (t < min_seconds);
    free(a), free(b), free(c);
    return 2.0 * n * (double)n * n * reps / t / 1e9;
}

struct shape {
    const char *name;
    int layers, hidden, heads, kv_heads, ffn;
};

static struct hn_llm_config config_of(const struct shape *s)
{
    struct hn_llm_config c;
    hn_llm_config_default(&c);
    c.num_hidden_layers = s->layers;
    c.hidden_size = s->hidden;
    c.num_attention_heads = s->heads;
    c.num_key_value_heads = s->kv_heads;
    c.head_dim = s->hidden / s->heads;
    c.intermediate_size = s->ffn;
    c.vocab_size = 256;
    c.max_position_embeddings = 2048;
    c.tie_word_embeddings = 1;
    for (int l = 0; l < HN_LLM_MAX_LAYERS; l++) {
        c.attention_layers[l] = 1;
    }
    return c;
}

static void row(const char *shape, const char *what, double tok_s, double flops_per_tok,
                double sgemm)
{
    double gflops = tok_s * flops_per_tok / 1e9;
    printf("| %-10s | %-22s | %10.0f | %8.1f | %5.0f %% |\n", shape, what, tok_s, gflops,
           100.0 * gflops / sgemm);
}

/* ---------------------------------------------------------------------------------------------
 * --deploy */

/* GB/s of summing a buffer much larger than the caches, on the engine's threads; allocated as
 * the model's weights are (hn_llm_big_calloc: huge pages where the kernel gives them), so that
 * "of read BW" compares like with like */
static double read_bandwidth(size_t bytes, double min_s)
{
    size_t n = bytes / sizeof(float);
    float *a = hn_llm_big_calloc(n, sizeof(float));
    if (a == NULL) {
        return 0.0;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        a[i] = (float)(i & 7);
    }
    double best = 0.0, t0 = now();
    volatile float sink = 0.0f;
    do {
        float sum = 0.0f;
        double t1 = now();
#pragma omp parallel for simd schedule(static) reduction(+ : sum)
        for (size_t i = 0; i < n; i++) {
            sum += a[i];
        }
        double gbs = (double)n * sizeof(float) / (now() - t1) / 1e9;
        best = gbs > best ? gbs : best;
        sink += sum;
    } while (now() - t0 < min_s);
    hn_llm_big_free(a, n, sizeof(float));
    return best;
}

/* bytes the matrices of one decoded token read (F32 views when no dtype is set) */
static double weight_bytes(const struct hn_llm_model *m, enum hn_dtype dtype)
{
    const struct hn_llm_config *c = &m->config;
    double C = c->hidden_size, F = c->intermediate_size, QD = c->num_attention_heads * c->head_dim;
    double KD = c->num_key_value_heads * c->head_dim, V = c->vocab_size, total = 0.0;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        if (c->attention_layers[l]) {
            total += (double)hn_dtype_row_bytes(dtype, (size_t)C) * (QD + 2 * KD) +
                     (double)hn_dtype_row_bytes(dtype, (size_t)QD) * C;
        }
        total += (double)hn_dtype_row_bytes(dtype, (size_t)C) * 2 * F +
                 (double)hn_dtype_row_bytes(dtype, (size_t)F) * C;
    }
    return total + (double)hn_dtype_row_bytes(dtype, (size_t)C) * V;
}

/* fill the KV caches with random keys and values, as a real prefill would leave them */
static void fill_cache(struct hn_llm_infer *inf)
{
    const struct hn_llm_config *c = &inf->model->config;
    struct hn_rng rng;
    hn_rng_seed(&rng, 3);
    size_t KD = (size_t)c->num_key_value_heads * c->head_dim;
    int attn = 0;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        attn += c->attention_layers[l] != 0;
    }
    for (size_t i = 0; i < (size_t)attn * inf->max_seq * KD; i++) {
        inf->k_cache[i] = (float)(0.1 * hn_rng_normal(&rng));
        inf->v_cache[i] = (float)(0.1 * hn_rng_normal(&rng));
    }
}

/* tokens/s of one run decoding n tokens from position start; 0 on error */
static double decode_once(struct hn_llm_infer *inf, int start, int n, float *logits)
{
    const struct hn_llm_config *c = &inf->model->config;
    struct hn_rng rng;
    hn_rng_seed(&rng, 4);
    inf->pos = start;
    int tok = 1;
    double t1 = now();
    for (int i = 0; i < n; i++) {
        struct hn_error err;
        if (hn_llm_infer_forward(inf, &tok, 1, logits, 0, &err) != 0) {
            fprintf(stderr, "bench_llm: %s\n", err.msg);
            return 0.0;
        }
        tok = hn_llm_sample(logits, c->vocab_size, 0.0, 0, &rng);
    }
    return n / (now() - t1);
}

/* tokens/s of decoding n tokens from position start, best run within min_s */
static double decode_rate(struct hn_llm_infer *inf, int start, int n, float *logits, double min_s)
{
    fill_cache(inf);
    double best = 0.0, t0 = now();
    do {
        double r = decode_once(inf, start, n, logits);
        if (r == 0.0) {
            return 0.0;
        }
        best = r > best ? r : best;
    } while (now() - t0 < min_s);
    return best;
}

/* tokens/s of one prefill of n tokens into an empty cache; 0 on error */
static double prefill_once(struct hn_llm_infer *inf, const int *prompt, int n, float *logits)
{
    struct hn_error err;
    hn_llm_infer_reset(inf);
    double t1 = now();
    if (hn_llm_infer_forward(inf, prompt, n, logits, 0, &err) != 0) {
        fprintf(stderr, "bench_llm: %s\n", err.msg);
        return 0.0;
    }
    return n / (now() - t1);
}

static double prefill_rate(struct hn_llm_infer *inf, const int *prompt, int n, float *logits,
                           double min_s)
{
    double best = 0.0, t0 = now();
    do {
        double r = prefill_once(inf, prompt, n, logits);
        if (r == 0.0) {
            return 0.0;
        }
        best = r > best ? r : best;
    } while (now() - t0 < min_s);
    return best;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median of v[0..n) (sorted in place) */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define MAX_PAIRED 4

/*
 * --rounds R: every dtype's model side by side in memory, each metric timed once per dtype in
 * every round, the dtypes' order rotating between rounds. On a shared host the machine's speed
 * drifts by 20 % and more between minutes (docs/benchmarks.md), more than the differences
 * measured; timed seconds apart in the same round, two precisions see the same machine, so
 * the median of the per-round ratios is the number to trust. Prints per dtype the median
 * tokens/s (min-max over rounds) and the ratio to the first dtype.
 */
static int deploy_paired(const struct hn_llm_config *c, const char *dtypes, const int *in,
                         int prompt, int context, int tokens, int rounds)
{
    enum hn_dtype dt[MAX_PAIRED];
    struct hn_llm_model *m[MAX_PAIRED] = {NULL};
    struct hn_llm_infer *inf[MAX_PAIRED] = {NULL};
    int n = 0, rc = 1;
    char list[64];
    snprintf(list, sizeof(list), "%s", dtypes);
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name != NULL;
         name = strtok_r(NULL, ",", &save)) {
        if (n == MAX_PAIRED || hn_dtype_parse(name, &dt[n]) != 0) {
            fprintf(stderr,
                    "bench_llm: --rounds takes up to %d dtypes of f32, bf16, f16, q8_0 "
                    "('%s')\n",
                    MAX_PAIRED, name);
            return 2;
        }
        n++;
    }
    double *v = calloc((size_t)3 * MAX_PAIRED * (size_t)rounds, sizeof(double));
    double *ratio = calloc((size_t)rounds, sizeof(double));
    float *logits = malloc((size_t)c->vocab_size * sizeof(float));
    struct hn_error err;
    if (v == NULL || ratio == NULL || logits == NULL) {
        fprintf(stderr, "bench_llm: out of memory\n");
        goto done;
    }
    for (int d = 0; d < n; d++) {
        if ((m[d] = hn_llm_model_new(c, &err)) == NULL) {
            goto fail;
        }
        hn_llm_model_randomize(m[d], 1);
        if (hn_llm_set_dtype(m[d], dt[d], &err) != 0 ||
            (inf[d] = hn_llm_infer_new(m[d], c->max_position_embeddings, 256, &err)) == NULL) {
            goto fail;
        }
        fill_cache(inf[d]);
    }
#define V(metric, d, r)                                                                            \
    v[((size_t)(metric)*MAX_PAIRED + (size_t)(d)) * (size_t)rounds + (size_t)(r)]
    for (int r = -1; r < rounds; r++) { /* round -1: warm-up, not recorded */
        for (int metric = 0; metric < 3; metric++) {
            for (int j = 0; j < n; j++) {
                int d = (j + (r < 0 ? 0 : r)) % n;
                double x = metric == 0   ? prefill_once(inf[d], in, prompt, logits)
                           : metric == 1 ? decode_once(inf[d], 0, tokens, logits)
                                         : decode_once(inf[d], context, tokens, logits);
                if (x == 0.0) {
                    goto done;
                }
                if (r >= 0) {
                    V(metric, d, r) = x;
                }
            }
        }
    }
    printf("\npaired: %d rounds, each metric timed once per dtype per round, the order rotating; "
           "tokens/s median (min-max), ratio to %s: median of the per-round ratios (min-max)\n",
           rounds, hn_dtype_name(dt[0]));
    printf("| dtype | prefill %d | ratio | decode ctx 0 | ratio | decode ctx %d | ratio |\n"
           "|---|---|---|---|---|---|---|\n",
           prompt, context);
    for (int d = 0; d < n; d++) {
        printf("| %s |", hn_dtype_name(dt[d]));
        for (int metric = 0; metric < 3; metric++) {
            for (int r = 0; r < rounds; r++) {
                ratio[r] = V(metric, d, r) / V(metric, 0, r);
            }
            double lo = ratio[0], hi = ratio[0];
            for (int r = 1; r < rounds; r++) {
                lo = ratio[r] < lo ? ratio[r] : lo;
                hi = ratio[r] > hi ? ratio[r] : hi;
            }
            double rmed = median(ratio, rounds);
            for (int r = 0; r < rounds; r++) {
                ratio[r] = V(metric, d, r);
            }
            double med = median(ratio, rounds);
            printf(" %.2f (%.2f-%.2f) | %.3f (%.3f-%.3f) |", med, ratio[0], ratio[rounds - 1], rmed,
                   lo, hi);
        }
        printf("\n");
    }
#undef V
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "bench_llm: %s\n", err.msg);
done:
    for (int d = 0; d < n; d++) {
        hn_llm_infer_free(inf[d]);
        hn_llm_model_free(m[d]);
    }
    free(v);
    free(ratio);
    free(logits);
    return rc;
}

static int deploy(int threads, const char *dtypes, const int *shape, int skip_half, int prompt,
                  int context, int tokens, int rounds, double min_s)
{
    openblas_set_num_threads(threads);
    double sgemm = sgemm_gflops(1024, min_s);
    hn_llm_set_threads(threads);
    double bw = read_bandwidth((size_t)1 << 30, min_s);
    printf("OpenBLAS: %s; threads %d; SIMD kernels %s\n", openblas_get_config(), threads,
           hn_qmat_simd_name());
    printf("machine: sgemm 1024^3 %.1f GFLOP/s, read bandwidth %.1f GB/s (%d threads)\n\n", sgemm,
           bw, threads);
    struct hn_llm_config c;
    hn_llm_config_default(&c);
    c.num_hidden_layers = shape[0];
    c.hidden_size = shape[1];
    c.num_attention_heads = shape[2];
    c.num_key_value_heads = shape[3];
    c.head_dim = shape[1] / shape[2];
    c.intermediate_size = shape[4];
    c.vocab_size = shape[5];
    c.max_position_embeddings = context + tokens > prompt ? context + tokens : prompt;
    c.tie_word_embeddings = 1;
    for (int l = 0; l < HN_LLM_MAX_LAYERS; l++) {
        c.attention_layers[l] = skip_half ? l % 2 == 0 : 1;
    }
    struct hn_error err;
    struct hn_llm_model *m = hn_llm_model_new(&c, &err);
    if (m == NULL) {
        fprintf(stderr, "bench_llm: %s\n", err.msg);
        return 1;
    }
    int *in = malloc((size_t)prompt * sizeof(int));
    float *logits = malloc((size_t)c.vocab_size * sizeof(float));
    struct hn_rng rng;
    hn_rng_seed(&rng, 2);
    for (int i = 0; i < prompt; i++) {
        in[i] = (int)hn_rng_below(&rng, (uint64_t)c.vocab_size);
    }
    if (rounds > 0) {
        hn_llm_model_free(m);
        int rc = deploy_paired(&c, dtypes, in, prompt, context, tokens, rounds);
        free(in);
        free(logits);
        return rc;
    }
    double KD = c.num_key_value_heads * c.head_dim;
    int attn = 0;
    for (int l = 0; l < c.num_hidden_layers; l++) {
        attn += c.attention_layers[l] != 0;
    }
    printf("| model %s | dtype | weights MB | prefill %d tok/s | decode tok/s (ctx 0) | GB/s | "
           "of read BW | decode tok/s (ctx %d) | GB/s | of read BW |\n",
           skip_half ? "(half skip attn)" : "", prompt, context);
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    char list[64];
    snprintf(list, sizeof(list), "%s", dtypes);
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name != NULL;
         name = strtok_r(NULL, ",", &save)) {
        enum hn_dtype dt;
        if (hn_dtype_parse(name, &dt) != 0) {
            fprintf(stderr, "bench_llm: unknown dtype '%s' (f32, bf16, f16, q8_0)\n", name);
            return 2;
        }
        hn_llm_model_randomize(m, 1);
        if (hn_llm_set_dtype(m, dt, &err) != 0) {
            fprintf(stderr, "bench_llm: %s\n", err.msg);
            return 1;
        }
        struct hn_llm_infer *inf = hn_llm_infer_new(m, c.max_position_embeddings, 256, &err);
        if (inf == NULL) {
            fprintf(stderr, "bench_llm: %s\n", err.msg);
            return 1;
        }
        double wb = weight_bytes(m, dt);
        double pre = prefill_rate(inf, in, prompt, logits, min_s);
        double d0 = decode_rate(inf, 0, tokens, logits, min_s);
        double dc = decode_rate(inf, context, tokens, logits, min_s);
        /* bytes per token: weights + the cache read (keys and values, F32) at the mean context */
        double b0 = wb + 2.0 * attn * KD * 4 * (tokens / 2.0);
        double bc = wb + 2.0 * attn * KD * 4 * (context + tokens / 2.0);
        printf("| %dx%d | %s | %.0f | %.1f | %.2f | %.1f | %.0f %% | %.2f | %.1f | %.0f %% |\n",
               c.num_hidden_layers, c.hidden_size, hn_dtype_name(dt), wb / 1e6, pre, d0,
               d0 * b0 / 1e9, 100.0 * d0 * b0 / 1e9 / bw, dc, dc * bc / 1e9,
               100.0 * dc * bc / 1e9 / bw);
        fflush(stdout);
        hn_llm_infer_free(inf);
    }
    free(in);
    free(logits);
    hn_llm_model_free(m);

    /* per-token overhead of small models: measured decode time against bytes / bandwidth */
    static const int small[][6] = {
        {4, 128, 4, 2, 384, 256}, {6, 256, 8, 4, 768, 2048}, {8, 512, 8, 4, 1536, 8192}};
    printf("\n| small model | params | weights MB | decode tok/s (ctx 64) | us/token | us at read "
           "BW | overhead us/token |\n|---|---:|---:|---:|---:|---:|---:|\n");
    for (size_t k = 0; k < sizeof(small) / sizeof(small[0]); k++) {
        struct hn_llm_config sc;
        hn_llm_config_default(&sc);
        sc.num_hidden_layers = small[k][0];
        sc.hidden_size = small[k][1];
        sc.num_attention_heads = small[k][2];
        sc.num_key_value_heads = small[k][3];
        sc.head_dim = small[k][1] / small[k][2];
        sc.intermediate_size = small[k][4];
        sc.vocab_size = small[k][5];
        sc.max_position_embeddings = 256;
        sc.tie_word_embeddings = 1;
        for (int l = 0; l < HN_LLM_MAX_LAYERS; l++) {
            sc.attention_layers[l] = 1;
        }
        struct hn_llm_model *sm = hn_llm_model_new(&sc, &err);
        if (sm == NULL) {
            fprintf(stderr, "bench_llm: %s\n", err.msg);
            return 1;
        }
        hn_llm_model_randomize(sm, 1);
        float *lg = malloc((size_t)sc.vocab_size * sizeof(float));
        struct hn_llm_infer *inf = hn_llm_infer_new(sm, 256, 64, &err);
        double r = decode_rate(inf, 64, 64, lg, min_s);
        double bytes = weight_bytes(sm, HN_DTYPE_F32) +
                       2.0 * sc.num_hidden_layers * sc.num_key_value_heads * sc.head_dim * 4 * 96;
        double us = 1e6 / r, ideal = bytes / (bw * 1e9) * 1e6;
        printf("| %dx%d | %.2fM | %.2f | %.0f | %.1f | %.1f | %.1f |\n", sc.num_hidden_layers,
               sc.hidden_size, hn_llm_param_count(&sc) / 1e6, bytes / 1e6, r, us, ideal,
               us - ideal);
        hn_llm_infer_free(inf);
        free(lg);
        hn_llm_model_free(sm);
    }
    return 0;
}

static int parse_shape(const char *s, int *shape)
{
    return sscanf(s, "%d,%d,%d,%d,%d,%d", &shape[0], &shape[1], &shape[2], &shape[3], &shape[4],
                  &shape[5]) == 6 &&
                   shape[0] > 0 && shape[1] > 0 && shape[2] > 0 && shape[3] > 0 && shape[4] > 0 &&
                   shape[5] > 0
               ? 0
               : -1;
}

int main(int argc, char **argv)
{
    int threads = 0, quick = 0, deploy_mode = 0, skip_half = 0, n_prompt = 512, context = 2048;
    int tokens = 32, rounds = 0, shape[6] = {32, 960, 15, 5, 2560, 32000};
    const char *dtypes = "f32,bf16,f16,q8_0";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--deploy") == 0) {
            deploy_mode = 1;
        } else if (strcmp(argv[i], "--skip-half") == 0) {
            skip_half = 1;
        } else if (strcmp(argv[i], "--dtypes") == 0 && i + 1 < argc) {
            dtypes = argv[++i];
        } else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc &&
                   parse_shape(argv[i + 1], shape) == 0) {
            i++;
        } else if (strcmp(argv[i], "--prompt") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 1) {
            n_prompt = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--context") == 0 && i + 1 < argc && atoi(argv[i + 1]) >= 0) {
            context = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0) {
            tokens = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0 &&
                   atoi(argv[i + 1]) <= 1000) {
            rounds = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_llm [--threads N] [--quick]\n"
                            "       bench_llm --deploy [--threads N] [--dtypes LIST] "
                            "[--skip-half] [--quick]\n"
                            "                 [--shape L,C,NH,KVH,F,V] [--prompt N] [--context "
                            "N] [--tokens N] [--rounds R]\n");
            return 2;
        }
    }
    threads = hn_llm_set_threads(threads);
    if (deploy_mode) {
        return deploy(threads, dtypes, shape, skip_half, n_prompt, context, tokens, rounds,
                      quick ? 0.5 : 3.0);
    }
    double min_s = quick ? 0.3 : 2.0;
    /* the reference is OpenBLAS on all the threads (hn_llm_set_threads leaves it on one, the
     * engine splitting work itself), then back to the engine's setting */
    openblas_set_num_threads(threads);
    double sgemm = sgemm_gflops(1024, min_s);
    hn_llm_set_threads(threads);
    printf("OpenBLAS: %s; threads %d\n\n", openblas_get_config(), threads);
    printf("| shape      | measurement            |   tokens/s |  GFLOP/s | of sgemm |\n");
    printf("|------------|------------------------|-----------:|---------:|---------:|\n");
    printf("| -          | cblas_sgemm 1024^3     |          - | %8.1f |   100 %% |\n", sgemm);
    static const struct shape shapes[] = {
        {"2M", 4, 192, 6, 6, 576},
        {"8M", 4, 384, 12, 12, 1280},
    };
    struct hn_error err;
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        struct hn_llm_config c = config_of(&shapes[s]);
        struct hn_llm_model *m = hn_llm_model_new(&c, &err);
        if (m == NULL) {
            fprintf(stderr, "bench_llm: %s\n", err.msg);
            return 1;
        }
        hn_llm_model_randomize(m, 1);
        char name[32];
        snprintf(name, sizeof(name), "%s (%.1fM)", shapes[s].name, m->n_params / 1e6);
        int T = 256, B = 8;
        int *in = malloc((size_t)B * T * sizeof(int)), *tg = malloc((size_t)B * T * sizeof(int));
        struct hn_rng rng;
        hn_rng_seed(&rng, 1);
        for (int i = 0; i < B * T; i++) {
            in[i] = (int)hn_rng_below(&rng, 256);
            tg[i] = (int)hn_rng_below(&rng, 256);
        }
        struct hn_adamw opt;
        hn_adamw_init(&opt, m->n_params, &err);
        double loss, t0, t;
        int steps = 0;
        /* training: forward + backward + clip + AdamW; one warm-up step */
        for (int warm = 1; warm >= 0; warm--) {
            steps = 0;
            t0 = now();
            do {
                hn_llm_zero_grad(m, &err);
                hn_llm_forward(m, in, tg, B, T, &loss, &err);
                hn_llm_backward(m, &err);
                hn_llm_clip_grad_norm(m, 1.0);
                hn_llm_adamw_step(m, &opt, 1e-4);
                steps++;
                t = now() - t0;
            } while (!warm && t < min_s);
        }
        double train_fpt = 3.0 * hn_llm_flops_per_token(&c, (T + 1) / 2.0);
        char what[64];
        snprintf(what, sizeof(what), "training B=%d T=%d", B, T);
        row(name, what, steps * (double)B * T / t, train_fpt, sgemm);
        hn_adamw_free(&opt);

        /* prefill of a 256-token prompt (logits of the last token only) */
        struct hn_llm_infer *inf = hn_llm_infer_new(m, 1024 + 64, 256, &err);
        float *logits = malloc(256 * sizeof(float));
        int reps = 0;
        t0 = now();
        do {
            hn_llm_infer_reset(inf);
            hn_llm_infer_forward(inf, in, T, logits, 0, &err);
            reps++;
            t = now() - t0;
        } while (t < min_s);
        double lm_head = 2.0 * c.vocab_size * c.hidden_size;
        double prefill_fpt = hn_llm_flops_per_token(&c, (T + 1) / 2.0) - lm_head + lm_head / T;
        row(name, "prefill T=256", reps * (double)T / t, prefill_fpt, sgemm);

        /* decode at contexts 256 and 1024 */
        int contexts[2] = {256, 1024};
        for (int k = 0; k < 2; k++) {
            int ctx = contexts[k], n_dec = 64;
            int *prompt = malloc((size_t)ctx * sizeof(int));
            for (int i = 0; i < ctx; i++) {
                prompt[i] = in[i % (B * T)];
            }
            hn_llm_infer_reset(inf);
            hn_llm_infer_forward(inf, prompt, ctx, logits, 0, &err);
            int tok = 65;
            t0 = now();
            for (int i = 0; i < n_dec; i++) {
                hn_llm_infer_forward(inf, &tok, 1, logits, 0, &err);
                tok = hn_llm_sample(logits, 256, 0.0, 0, &rng);
            }
            t = now() - t0;
            snprintf(what, sizeof(what), "decode context %d", ctx);
            row(name, what, n_dec / t, hn_llm_flops_per_token(&c, ctx + n_dec / 2.0), sgemm);
            free(prompt);
        }
        hn_llm_infer_free(inf);
        free(logits);
        free(in);
        free(tg);
        hn_llm_model_free(m);
    }
    return 0;
}
