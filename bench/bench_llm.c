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
 * On a machine shared with other jobs, run with OMP_WAIT_POLICY=passive: spinning OpenMP threads
 * preempted by other processes make every fork/join wait for a time slice.
 */
#include "config.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hilnas/rng.h"
#include "llm/decode.h"
#include "llm/model.h"

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

int main(int argc, char **argv)
{
    int threads = 0, quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else {
            fprintf(stderr, "usage: bench_llm [--threads N] [--quick]\n");
            return 2;
        }
    }
    threads = hn_llm_set_threads(threads);
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
