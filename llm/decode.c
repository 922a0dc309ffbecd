/*
 * llm/decode.c: KV-cache inference (prefill and decode).
 *
 * One pass over n new tokens at positions pos..pos+n-1, per layer with attention:
 *   ln = rmsnorm(x); q (n,NH*HD) = ln Wq^T; k, v (n,KVH*HD) written straight into the cache
 *   rows pos..pos+n-1; RoPE on q and the new k rows; per head h (kv head g):
 *   S (n, pos+n) = scale Q_h K_g^T, causal softmax (row i sees keys 0..pos+i), O_h = P V_g.
 * n == 1 runs every product as cblas_sgemv.
 */
#include "config.h"

#include "llm/decode.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm/ops.h"

struct hn_llm_infer *hn_llm_infer_new(const struct hn_llm_model *model, int max_seq, int chunk,
                                      struct hn_error *err)
{
    const struct hn_llm_config *c = &model->config;
    struct hn_llm_infer *inf = NULL;
    if (chunk <= 0) {
        chunk = 256;
    }
    if (max_seq < 1 || max_seq > c->max_position_embeddings) {
        hn_error_config(err, NULL,
                        "inference: context of %d positions invalid (1..max_position_embeddings "
                        "= %d)",
                        max_seq, c->max_position_embeddings);
        return NULL;
    }
    if (chunk > max_seq) {
        chunk = max_seq;
    }
    size_t L = (size_t)c->num_hidden_layers, C = (size_t)c->hidden_size;
    size_t F = (size_t)c->intermediate_size, NH = (size_t)c->num_attention_heads;
    size_t HD = (size_t)c->head_dim, KD = (size_t)c->num_key_value_heads * HD;
    size_t n = (size_t)chunk, S = (size_t)max_seq;
    inf = calloc(1, sizeof(*inf));
    if (inf == NULL) {
        goto oom;
    }
    inf->model = model;
    inf->max_seq = max_seq;
    inf->chunk = chunk;
    inf->cache_slot = malloc(L * sizeof(int));
    if (inf->cache_slot == NULL) {
        goto oom;
    }
    size_t n_attn = 0;
    for (size_t l = 0; l < L; l++) {
        inf->cache_slot[l] = c->attention_layers[l] ? (int)n_attn++ : -1;
    }
    size_t cache = n_attn * S * KD;
    inf->k_cache = malloc((2 * cache + 1) * sizeof(float));
    size_t scratch = 3 * n * C + 2 * n * NH * HD + 2 * n * F + NH * n * S;
    inf->block = malloc(scratch * sizeof(float));
    if (inf->k_cache == NULL || inf->block == NULL) {
        goto oom;
    }
    inf->v_cache = inf->k_cache + cache;
    float *p = inf->block;
    inf->x = p, p += n * C;
    inf->ln = p, p += n * C;
    inf->tmp = p, p += n * C;
    inf->q = p, p += n * NH * HD;
    inf->attout = p, p += n * NH * HD;
    inf->gate = p, p += n * F;
    inf->up = p, p += n * F;
    inf->scores = p;
    return inf;
oom:
    hn_llm_infer_free(inf);
    hn_error_set(err, NULL, "inference: out of memory for a cache of %d positions", max_seq);
    return NULL;
}

void hn_llm_infer_free(struct hn_llm_infer *inf)
{
    if (inf == NULL) {
        return;
    }
    free(inf->k_cache);
    free(inf->block);
    free(inf->cache_slot);
    free(inf);
}

void hn_llm_infer_reset(struct hn_llm_infer *inf)
{
    inf->pos = 0;
}

/* query rows per tile of the prefill products: row i sees keys 0..pos+i, so a tile of rows
 * [r0, r1) multiplies only keys [0, pos + r1) instead of the whole context */
#define PREFILL_TILE 64

/* Attention of query head h over its kv head's cache, n new queries; see the file comment. */
static void cached_attention_head(struct hn_llm_infer *inf, const float *kc, const float *vc,
                                  size_t n, size_t h)
{
    const struct hn_llm_config *c = &inf->model->config;
    size_t NH = (size_t)c->num_attention_heads, KVH = (size_t)c->num_key_value_heads;
    size_t HD = (size_t)c->head_dim, KD = KVH * HD, g = h / (NH / KVH);
    size_t pos = (size_t)inf->pos, ctx = pos + n, S = (size_t)inf->max_seq;
    float scale = 1.0f / sqrtf((float)HD);
    float *sc = inf->scores + h * n * S; /* (n, ctx) with row stride ctx */
    if (n == 1) {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)ctx, (int)HD, scale, kc + g * HD, (int)KD,
                    inf->q + h * HD, 1, 0.0f, sc, 1);
        hn_causal_softmax_row(sc, pos, ctx);
        /* out (HD) = V_g^T (HD, ctx) . p (ctx) */
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)ctx, (int)HD, 1.0f, vc + g * HD, (int)KD, sc,
                    1, 0.0f, inf->attout + h * HD, 1);
        return;
    }
    for (size_t r0 = 0; r0 < n; r0 += PREFILL_TILE) {
        size_t r1 = r0 + PREFILL_TILE < n ? r0 + PREFILL_TILE : n, keys = pos + r1;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(r1 - r0), (int)keys, (int)HD,
                    scale, inf->q + r0 * NH * HD + h * HD, (int)(NH * HD), kc + g * HD, (int)KD,
                    0.0f, sc + r0 * ctx, (int)ctx);
        for (size_t i = r0; i < r1; i++) {
            hn_causal_softmax_row(sc + i * ctx, pos + i, keys);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(r1 - r0), (int)HD,
                    (int)keys, 1.0f, sc + r0 * ctx, (int)ctx, vc + g * HD, (int)KD, 0.0f,
                    inf->attout + r0 * NH * HD + h * HD, (int)(NH * HD));
    }
}

/* Attention of n new queries over the cache of one layer, heads split over the kernel threads
 * (each head owns its scores and output columns). */
static void cached_attention(struct hn_llm_infer *inf, const float *kc, const float *vc,
                             size_t n)
{
    const struct hn_llm_config *c = &inf->model->config;
    long NH = (long)c->num_attention_heads;
    double work = (double)NH * n * (inf->pos + n) * c->head_dim;
    /* one new token (decode) streams the cache once: shared only when the cache is large enough
     * to pay for waking the other threads (the same bound as a shared matrix-vector product) */
    int nt = hn_ops_threads() > 1 && work >= (n > 1 ? HN_OPS_PAR_MIN_WORK : HN_OPS_GEMV_PAR_MIN)
                 ? hn_ops_threads()
                 : 1;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (long h = 0; h < NH; h++) {
        cached_attention_head(inf, kc, vc, n, (size_t)h);
    }
}

/* One pass of n <= chunk tokens. */
static void infer_pass(struct hn_llm_infer *inf, const int *tokens, size_t n, float *logits,
                       int all)
{
    const struct hn_llm_model *m = inf->model;
    const struct hn_llm_config *c = &m->config;
    size_t L = (size_t)c->num_hidden_layers, C = (size_t)c->hidden_size;
    size_t F = (size_t)c->intermediate_size, NH = (size_t)c->num_attention_heads;
    size_t KVH = (size_t)c->num_key_value_heads, HD = (size_t)c->head_dim, KD = KVH * HD;
    size_t V = (size_t)c->vocab_size, S = (size_t)inf->max_seq, pos = (size_t)inf->pos;
    float eps = (float)c->rms_norm_eps;

    hn_embedding_forward(inf->x, tokens, m->w.embed, n, C);
    for (size_t l = 0; l < L; l++) {
        const struct hn_llm_layer *lw = &m->w.layers[l];
        if (lw->wq != NULL) {
            float *kc = inf->k_cache + (size_t)inf->cache_slot[l] * S * KD;
            float *vc = inf->v_cache + (size_t)inf->cache_slot[l] * S * KD;
            hn_rmsnorm_forward(inf->ln, NULL, inf->x, lw->ln1, n, C, eps);
            hn_matmul_forward(inf->q, inf->ln, lw->wq, n, C, NH * HD);
            hn_matmul_forward(kc + pos * KD, inf->ln, lw->wk, n, C, KD);
            hn_matmul_forward(vc + pos * KD, inf->ln, lw->wv, n, C, KD);
            hn_rope_forward(inf->q, m->rope_cos, m->rope_sin, n, n, pos, NH, HD);
            hn_rope_forward(kc + pos * KD, m->rope_cos, m->rope_sin, n, n, pos, KVH, HD);
            cached_attention(inf, kc, vc, n);
            hn_matmul_forward(inf->tmp, inf->attout, lw->wo, n, NH * HD, C);
            hn_residual_forward(inf->x, inf->x, inf->tmp, n, C);
        }
        hn_rmsnorm_forward(inf->ln, NULL, inf->x, lw->ln2, n, C, eps);
        hn_matmul_forward(inf->gate, inf->ln, lw->wgate, n, C, F);
        hn_matmul_forward(inf->up, inf->ln, lw->wup, n, C, F);
        hn_swiglu_forward(inf->gate, inf->gate, inf->up, n, F);
        hn_matmul_forward(inf->tmp, inf->gate, lw->wdown, n, F, C);
        hn_residual_forward(inf->x, inf->x, inf->tmp, n, C);
    }
    inf->pos += (int)n;
    if (logits == NULL) {
        return;
    }
    if (all) {
        hn_rmsnorm_forward(inf->ln, NULL, inf->x, m->w.norm, n, C, eps);
        hn_matmul_forward(logits, inf->ln, m->w.lm_head, n, C, V);
    } else {
        hn_rmsnorm_forward(inf->ln, NULL, inf->x + (n - 1) * C, m->w.norm, 1, C, eps);
        hn_matmul_forward(logits, inf->ln, m->w.lm_head, 1, C, V);
    }
}

int hn_llm_infer_forward(struct hn_llm_infer *inf, const int *tokens, int n, float *logits,
                         int all, struct hn_error *err)
{
    const struct hn_llm_config *c = &inf->model->config;
    if (n < 1 || inf->pos + n > inf->max_seq) {
        return hn_error_config(err, NULL,
                               "inference: %d more tokens do not fit the cache (%d of %d "
                               "positions used); create the state with a larger context",
                               n, inf->pos, inf->max_seq);
    }
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size) {
            return hn_error_config(err, NULL, "inference: token id %d outside the vocabulary 0..%d",
                                   tokens[i], c->vocab_size - 1);
        }
    }
    for (int done = 0; done < n;) {
        int step = n - done < inf->chunk ? n - done : inf->chunk;
        int last = done + step == n;
        float *out = NULL;
        if (logits != NULL && all) {
            out = logits + (size_t)done * c->vocab_size;
        } else if (logits != NULL && last) {
            out = logits;
        }
        infer_pass(inf, tokens + done, (size_t)step, out, all);
        done += step;
    }
    return 0;
}

int hn_llm_sample(const float *logits, int V, double temperature, int top_k, struct hn_rng *rng)
{
    int best = 0;
    for (int i = 1; i < V; i++) {
        if (logits[i] > logits[best]) {
            best = i;
        }
    }
    if (temperature <= 0.0) {
        return best;
    }
    /* threshold: the top_k-th largest logit (ties at the threshold are all kept) */
    float threshold = -INFINITY;
    if (top_k > 0 && top_k < V) {
        float *sorted = malloc((size_t)V * sizeof(float));
        if (sorted != NULL) {
            memcpy(sorted, logits, (size_t)V * sizeof(float));
            /* partial selection sort of the first top_k entries: O(top_k V), fine for the
             * small k used in sampling */
            for (int i = 0; i < top_k; i++) {
                int arg = i;
                for (int j = i + 1; j < V; j++) {
                    if (sorted[j] > sorted[arg]) {
                        arg = j;
                    }
                }
                float tmp = sorted[i];
                sorted[i] = sorted[arg];
                sorted[arg] = tmp;
            }
            threshold = sorted[top_k - 1];
            free(sorted);
        }
    }
    double maxv = logits[best], sum = 0.0;
    for (int i = 0; i < V; i++) {
        if (logits[i] >= threshold) {
            sum += exp((logits[i] - maxv) / temperature);
        }
    }
    double u = hn_rng_uniform(rng) * sum, acc = 0.0;
    int last = best;
    for (int i = 0; i < V; i++) {
        if (logits[i] >= threshold) {
            acc += exp((logits[i] - maxv) / temperature);
            last = i;
            if (u < acc) {
                return i;
            }
        }
    }
    return last;
}
