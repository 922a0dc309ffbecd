/*
 * llm/decode.c: KV-cache inference (prefill and decode).
 *
 * One pass over n new tokens at positions pos..pos+n-1, per layer with attention:
 *   ln = rmsnorm(x); q (n,NH*HD) = ln Wq^T; k, v (n,KVH*HD) written straight into the cache
 *   rows pos..pos+n-1; RoPE on q and the new k rows; per head h (kv head g):
 *   S (n, pos+n) = scale Q_h K_g^T, causal softmax (row i sees keys 0..pos+i), O_h = P V_g.
 * n == 1 (decode) runs as one parallel region with the SIMD matrix-vector kernels of qmat.h
 * (see decode.h); n > 1 (prefill) runs sgemm per product.
 */
#include "config.h"

#include "hilnas/llm/decode.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/llm/ops.h"

#ifdef _OPENMP
#include <omp.h>
#endif

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
    inf->kv_floats = 2 * cache + 1;
    inf->k_cache = hn_llm_big_calloc(inf->kv_floats, sizeof(float));
    inf->thread_cap = hn_ops_threads();
    size_t scratch =
        3 * n * C + 2 * n * NH * HD + 2 * n * F + NH * n * S + (size_t)inf->thread_cap * C;
    inf->block_floats = scratch;
    inf->block = hn_llm_big_calloc(scratch, sizeof(float));
    inf->views = calloc(L, sizeof(*inf->views));
    if (inf->k_cache == NULL || inf->block == NULL || inf->views == NULL) {
        goto oom;
    }
    /* F32 views of the model's matrices, multiplied when no deployment precision is set */
    size_t weights = C * (size_t)c->vocab_size;
    for (size_t l = 0; l < L; l++) {
        const struct hn_llm_layer *lw = &model->w.layers[l];
        struct hn_llm_qlayer *v = &inf->views[l];
        if (lw->wq != NULL) {
            v->wq = hn_qmat_view_f32(lw->wq, NH * HD, C, C);
            v->wk = hn_qmat_view_f32(lw->wk, KD, C, C);
            v->wv = hn_qmat_view_f32(lw->wv, KD, C, C);
            v->wo = hn_qmat_view_f32(lw->wo, C, NH * HD, NH * HD);
            weights += 2 * C * (NH * HD + KD);
        }
        v->wgate = hn_qmat_view_f32(lw->wgate, F, C, C);
        v->wup = hn_qmat_view_f32(lw->wup, F, C, C);
        v->wdown = hn_qmat_view_f32(lw->wdown, C, F, F);
        weights += 3 * C * F;
    }
    inf->head_view = hn_qmat_view_f32(model->w.lm_head, (size_t)c->vocab_size, C, C);
    /* a decode step shares its products once a layer streams more than HN_OPS_GEMV_PAR_MIN
     * weights on average: then a layer's six barriers cost less than the time saved */
    inf->parallel = inf->thread_cap > 1 && weights / (L + 1) >= HN_OPS_GEMV_PAR_MIN;
    inf->v_cache = inf->k_cache + cache;
    float *p = inf->block;
    inf->x = p, p += n * C;
    inf->ln = p, p += n * C;
    inf->tmp = p, p += n * C;
    inf->q = p, p += n * NH * HD;
    inf->attout = p, p += n * NH * HD;
    inf->gate = p, p += n * F;
    inf->up = p, p += n * F;
    inf->scores = p, p += NH * n * S;
    inf->lnt = p;
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
    hn_llm_big_free(inf->k_cache, inf->kv_floats, sizeof(float));
    hn_llm_big_free(inf->block, inf->block_floats, sizeof(float));
    free(inf->cache_slot);
    free(inf->views);
    free(inf);
}

void hn_llm_infer_reset(struct hn_llm_infer *inf)
{
    inf->pos = 0;
}

/* query rows per tile of the prefill products: row i sees keys 0..pos+i, so a tile of rows
 * [r0, r1) multiplies only keys [0, pos + r1) instead of the whole context */
#define PREFILL_TILE 64

static const struct hn_llm_qlayer *infer_layers(const struct hn_llm_infer *inf)
{
    return inf->model->qlayers != NULL ? inf->model->qlayers : inf->views;
}

static const struct hn_qmat *infer_head(const struct hn_llm_infer *inf)
{
    return inf->model->qlayers != NULL ? &inf->model->qhead : &inf->head_view;
}

/* ---------------------------------------------------------------------------------------------
 * prefill (n > 1) */

/* Attention of n > 1 new queries of head h over its kv head's cache; see the file comment. */
static void cached_attention_head(struct hn_llm_infer *inf, const float *kc, const float *vc,
                                  size_t n, size_t h)
{
    const struct hn_llm_config *c = &inf->model->config;
    size_t NH = (size_t)c->num_attention_heads, KVH = (size_t)c->num_key_value_heads;
    size_t HD = (size_t)c->head_dim, KD = KVH * HD, g = h / (NH / KVH);
    size_t pos = (size_t)inf->pos, ctx = pos + n, S = (size_t)inf->max_seq;
    float scale = 1.0f / sqrtf((float)HD);
    float *sc = inf->scores + h * n * S; /* (n, ctx) with row stride ctx */
    for (size_t r0 = 0; r0 < n; r0 += PREFILL_TILE) {
        size_t r1 = r0 + PREFILL_TILE < n ? r0 + PREFILL_TILE : n, keys = pos + r1;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(r1 - r0), (int)keys, (int)HD,
                    scale, inf->q + r0 * NH * HD + h * HD, (int)(NH * HD), kc + g * HD, (int)KD,
                    0.0f, sc + r0 * ctx, (int)ctx);
        for (size_t i = r0; i < r1; i++) {
            hn_causal_softmax_row(sc + i * ctx, pos + i, keys);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(r1 - r0), (int)HD, (int)keys,
                    1.0f, sc + r0 * ctx, (int)ctx, vc + g * HD, (int)KD, 0.0f,
                    inf->attout + r0 * NH * HD + h * HD, (int)(NH * HD));
    }
}

/* Attention of n > 1 new queries over the cache of one layer, heads split over the kernel
 * threads (each head owns its scores and output columns). */
static void cached_attention(struct hn_llm_infer *inf, const float *kc, const float *vc, size_t n)
{
    const struct hn_llm_config *c = &inf->model->config;
    long NH = (long)c->num_attention_heads;
    double work = (double)NH * n * (inf->pos + n) * c->head_dim;
    int nt = hn_ops_threads() > 1 && work >= HN_OPS_PAR_MIN_WORK ? hn_ops_threads() : 1;
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (long h = 0; h < NH; h++) {
        cached_attention_head(inf, kc, vc, n, (size_t)h);
    }
}

/* rows of a low-precision matrix widened to F32 at a time for sgemm */
#define WIDEN_ROWS 64

/* out (N, OC) = inp (N, C) . w^T: sgemm on F32 weights; other precisions widened to F32 in
 * blocks of WIDEN_ROWS rows, the rows split over the threads. */
static void qmat_matmul(float *out, const float *inp, const struct hn_qmat *w, size_t N)
{
    size_t C = w->cols, OC = w->rows;
    if (w->dtype == HN_DTYPE_F32 && w->ld == C) {
        hn_matmul_forward(out, inp, w->data, N, C, OC);
        return;
    }
    int nt =
        hn_ops_threads() > 1 && (double)N * C * OC >= HN_OPS_PAR_MIN_WORK ? hn_ops_threads() : 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = 0, tn = 1;
#ifdef _OPENMP
        t = omp_get_thread_num(), tn = omp_get_num_threads();
#endif
        size_t lo, hi;
        hn_ops_share(OC, WIDEN_ROWS, t, tn, &lo, &hi);
        float *buf = malloc(WIDEN_ROWS * C * sizeof(float));
        for (size_t r0 = lo; r0 < hi; r0 += WIDEN_ROWS) {
            size_t r1 = r0 + WIDEN_ROWS < hi ? r0 + WIDEN_ROWS : hi;
            if (buf != NULL) {
                hn_qmat_rows_to_f32(w, r0, r1, buf);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)(r1 - r0), (int)C,
                            1.0f, inp, (int)C, buf, (int)C, 0.0f, out + r0, (int)OC);
                continue;
            }
            /* no memory for the widened block: one product per input row (slower, same sums) */
            for (size_t i = 0; i < N; i++) {
                hn_qmat_matvec(w, inp + i * C, out + i * OC, r0, r1);
            }
        }
        free(buf);
    }
}

/* One prefill pass of 1 < n <= chunk tokens. */
static void prefill_pass(struct hn_llm_infer *inf, const int *tokens, size_t n, float *logits,
                         int all)
{
    const struct hn_llm_model *m = inf->model;
    const struct hn_llm_config *c = &m->config;
    const struct hn_llm_qlayer *ql = infer_layers(inf);
    size_t L = (size_t)c->num_hidden_layers, C = (size_t)c->hidden_size;
    size_t F = (size_t)c->intermediate_size, NH = (size_t)c->num_attention_heads;
    size_t KVH = (size_t)c->num_key_value_heads, HD = (size_t)c->head_dim, KD = KVH * HD;
    size_t S = (size_t)inf->max_seq, pos = (size_t)inf->pos;
    float eps = (float)c->rms_norm_eps;

    hn_embedding_forward(inf->x, tokens, m->w.embed, n, C);
    for (size_t l = 0; l < L; l++) {
        const struct hn_llm_layer *lw = &m->w.layers[l];
        const struct hn_llm_qlayer *q = &ql[l];
        if (lw->wq != NULL) {
            float *kc = inf->k_cache + (size_t)inf->cache_slot[l] * S * KD;
            float *vc = inf->v_cache + (size_t)inf->cache_slot[l] * S * KD;
            hn_rmsnorm_forward(inf->ln, NULL, inf->x, lw->ln1, n, C, eps);
            qmat_matmul(inf->q, inf->ln, &q->wq, n);
            qmat_matmul(kc + pos * KD, inf->ln, &q->wk, n);
            qmat_matmul(vc + pos * KD, inf->ln, &q->wv, n);
            hn_rope_forward(inf->q, m->rope_cos, m->rope_sin, n, n, pos, NH, HD);
            hn_rope_forward(kc + pos * KD, m->rope_cos, m->rope_sin, n, n, pos, KVH, HD);
            cached_attention(inf, kc, vc, n);
            qmat_matmul(inf->tmp, inf->attout, &q->wo, n);
            hn_residual_forward(inf->x, inf->x, inf->tmp, n, C);
        }
        hn_rmsnorm_forward(inf->ln, NULL, inf->x, lw->ln2, n, C, eps);
        qmat_matmul(inf->gate, inf->ln, &q->wgate, n);
        qmat_matmul(inf->up, inf->ln, &q->wup, n);
        hn_swiglu_forward(inf->gate, inf->gate, inf->up, n, F);
        qmat_matmul(inf->tmp, inf->gate, &q->wdown, n);
        hn_residual_forward(inf->x, inf->x, inf->tmp, n, C);
    }
    inf->pos += (int)n;
    if (logits == NULL) {
        return;
    }
    if (all) {
        hn_rmsnorm_forward(inf->ln, NULL, inf->x, m->w.norm, n, C, eps);
        qmat_matmul(logits, inf->ln, infer_head(inf), n);
    } else {
        hn_rmsnorm_forward(inf->ln, NULL, inf->x + (n - 1) * C, m->w.norm, 1, C, eps);
        hn_qmat_matvec(infer_head(inf), inf->ln, logits, 0, infer_head(inf)->rows);
    }
}

/* ---------------------------------------------------------------------------------------------
 * decode (n == 1): one parallel region per token */

/* y (C) = rmsnorm(x) * w, as hn_rmsnorm_forward computes one row */
static void norm_row(float *y, const float *x, const float *w, size_t C, float eps)
{
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (size_t i = 0; i < C; i++) {
        ss += x[i] * x[i];
    }
    float r = 1.0f / sqrtf(ss / (float)C + eps);
    for (size_t i = 0; i < C; i++) {
        y[i] = x[i] * r * w[i];
    }
}

/* RoPE of one head (HD) at position pos, as hn_rope_forward */
static void rope_head(float *x, const float *cos_table, const float *sin_table, size_t pos,
                      size_t HD)
{
    size_t half = HD / 2;
    const float *cs = cos_table + pos * half, *sn = sin_table + pos * half;
    for (size_t i = 0; i < half; i++) {
        float a = x[i], b = x[i + half];
        x[i] = a * cs[i] - b * sn[i];
        x[i + half] = b * cs[i] + a * sn[i];
    }
}

static void barrier(void)
{
#pragma omp barrier
}

/* One decoded token; runs inside the parallel region on thread t of nt. */
static void decode_step(struct hn_llm_infer *inf, float *logits, int t, int nt)
{
    const struct hn_llm_model *m = inf->model;
    const struct hn_llm_config *c = &m->config;
    const struct hn_llm_qlayer *ql = infer_layers(inf);
    size_t L = (size_t)c->num_hidden_layers, C = (size_t)c->hidden_size;
    size_t F = (size_t)c->intermediate_size, NH = (size_t)c->num_attention_heads;
    size_t KVH = (size_t)c->num_key_value_heads, HD = (size_t)c->head_dim, KD = KVH * HD;
    size_t S = (size_t)inf->max_seq, pos = (size_t)inf->pos, ctx = pos + 1;
    size_t group = NH / KVH;
    float eps = (float)c->rms_norm_eps, scale = 1.0f / sqrtf((float)HD);
    float *ln = inf->lnt + (size_t)t * C, *x = inf->x;
    size_t lo, hi;

    for (size_t l = 0; l < L; l++) {
        const struct hn_llm_layer *lw = &m->w.layers[l];
        const struct hn_llm_qlayer *q = &ql[l];
        if (lw->wq != NULL) {
            float *kc = inf->k_cache + (size_t)inf->cache_slot[l] * S * KD;
            float *vc = inf->v_cache + (size_t)inf->cache_slot[l] * S * KD;
            norm_row(ln, x, lw->ln1, C, eps);
            /* fused q/k/v: NH + 2 KVH heads of HD rows, each rotated by whoever computed it */
            hn_ops_share(NH + 2 * KVH, 1, t, nt, &lo, &hi);
            for (size_t h = lo; h < hi; h++) {
                if (h < NH) {
                    hn_qmat_matvec(&q->wq, ln, inf->q, h * HD, (h + 1) * HD);
                    rope_head(inf->q + h * HD, m->rope_cos, m->rope_sin, pos, HD);
                } else if (h < NH + KVH) {
                    size_t g = h - NH;
                    hn_qmat_matvec(&q->wk, ln, kc + pos * KD, g * HD, (g + 1) * HD);
                    rope_head(kc + pos * KD + g * HD, m->rope_cos, m->rope_sin, pos, HD);
                } else {
                    size_t g = h - NH - KVH;
                    hn_qmat_matvec(&q->wv, ln, vc + pos * KD, g * HD, (g + 1) * HD);
                }
            }
            barrier();
            /* attention heads: scores over the cache, softmax, weighted sum of values */
            hn_ops_share(NH, 1, t, nt, &lo, &hi);
            for (size_t h = lo; h < hi; h++) {
                size_t g = h / group;
                float *sc = inf->scores + h * S;
                struct hn_qmat keys = hn_qmat_view_f32(kc + g * HD, ctx, HD, KD);
                hn_qmat_matvec(&keys, inf->q + h * HD, sc, 0, ctx);
                for (size_t j = 0; j < ctx; j++) {
                    sc[j] *= scale;
                }
                hn_causal_softmax_row(sc, pos, ctx);
                hn_vecmat_f32(inf->attout + h * HD, sc, vc + g * HD, ctx, HD, KD);
            }
            barrier();
            /* output projection and residual, rows of x split */
            hn_ops_share(C, 16, t, nt, &lo, &hi);
            hn_qmat_matvec(&q->wo, inf->attout, inf->tmp, lo, hi);
            for (size_t i = lo; i < hi; i++) {
                x[i] += inf->tmp[i];
            }
            barrier();
        }
        norm_row(ln, x, lw->ln2, C, eps);
        /* fused gate/up and SwiGLU on the same rows */
        hn_ops_share(F, 16, t, nt, &lo, &hi);
        hn_qmat_matvec(&q->wgate, ln, inf->gate, lo, hi);
        hn_qmat_matvec(&q->wup, ln, inf->up, lo, hi);
        for (size_t i = lo; i < hi; i++) {
            float gi = inf->gate[i];
            inf->gate[i] = gi / (1.0f + expf(-gi)) * inf->up[i];
        }
        barrier();
        hn_ops_share(C, 16, t, nt, &lo, &hi);
        hn_qmat_matvec(&q->wdown, inf->gate, inf->tmp, lo, hi);
        for (size_t i = lo; i < hi; i++) {
            x[i] += inf->tmp[i];
        }
        barrier();
    }
    if (logits != NULL) {
        const struct hn_qmat *head = infer_head(inf);
        norm_row(ln, x, m->w.norm, C, eps);
        hn_ops_share(head->rows, 16, t, nt, &lo, &hi);
        hn_qmat_matvec(head, ln, logits, lo, hi);
    }
}

static void decode_token(struct hn_llm_infer *inf, int token, float *logits)
{
    const struct hn_llm_model *m = inf->model;
    size_t C = (size_t)m->config.hidden_size;
    memcpy(inf->x, m->w.embed + (size_t)token * C, C * sizeof(float));
    int nt = 1;
    if (inf->parallel) {
        nt = hn_ops_threads() < inf->thread_cap ? hn_ops_threads() : inf->thread_cap;
    }
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = 0, tn = 1;
#ifdef _OPENMP
        t = omp_get_thread_num(), tn = omp_get_num_threads();
#endif
        decode_step(inf, logits, t, tn);
    }
    inf->pos++;
}

/* One pass of n <= chunk tokens. */
static void infer_pass(struct hn_llm_infer *inf, const int *tokens, size_t n, float *logits,
                       int all)
{
    if (n == 1) {
        decode_token(inf, tokens[0], logits);
    } else {
        prefill_pass(inf, tokens, n, logits, all);
    }
}

/* ---------------------------------------------------------------------------------------------
 * deployment precision */

void hn_llm_dtype_free(struct hn_llm_model *m)
{
    if (m->qlayers != NULL) {
        for (int l = 0; l < m->config.num_hidden_layers; l++) {
            struct hn_llm_qlayer *q = &m->qlayers[l];
            struct hn_qmat *all[] = {&q->wq, &q->wk, &q->wv, &q->wo, &q->wgate, &q->wup, &q->wdown};
            for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
                hn_qmat_free(all[i]);
            }
        }
        free(m->qlayers);
        m->qlayers = NULL;
    }
    hn_qmat_free(&m->qhead);
    m->dtype = HN_DTYPE_F32;
}

/* Convert w (rows, cols) into q at dtype and round w in place to the values q holds. */
static int convert(struct hn_qmat *q, float *w, size_t rows, size_t cols, enum hn_dtype dtype,
                   struct hn_error *err)
{
    if (hn_qmat_from_f32(q, w, rows, cols, dtype, err) != 0) {
        return -1;
    }
    hn_qmat_rows_to_f32(q, 0, rows, w);
    return 0;
}

int hn_llm_set_dtype(struct hn_llm_model *m, enum hn_dtype dtype, struct hn_error *err)
{
    const struct hn_llm_config *c = &m->config;
    size_t L = (size_t)c->num_hidden_layers, C = (size_t)c->hidden_size;
    size_t F = (size_t)c->intermediate_size, QD = (size_t)c->num_attention_heads * c->head_dim;
    size_t KD = (size_t)c->num_key_value_heads * c->head_dim, V = (size_t)c->vocab_size;
    hn_llm_dtype_free(m);
    if (dtype == HN_DTYPE_F32) {
        return 0;
    }
    m->qlayers = calloc(L, sizeof(*m->qlayers));
    if (m->qlayers == NULL) {
        return hn_error_set(err, NULL, "out of memory converting the model to %s",
                            hn_dtype_name(dtype));
    }
    for (size_t l = 0; l < L; l++) {
        struct hn_llm_layer *w = &m->w.layers[l];
        struct hn_llm_qlayer *q = &m->qlayers[l];
        if (w->wq != NULL && (convert(&q->wq, w->wq, QD, C, dtype, err) != 0 ||
                              convert(&q->wk, w->wk, KD, C, dtype, err) != 0 ||
                              convert(&q->wv, w->wv, KD, C, dtype, err) != 0 ||
                              convert(&q->wo, w->wo, C, QD, dtype, err) != 0)) {
            goto fail;
        }
        if (convert(&q->wgate, w->wgate, F, C, dtype, err) != 0 ||
            convert(&q->wup, w->wup, F, C, dtype, err) != 0 ||
            convert(&q->wdown, w->wdown, C, F, dtype, err) != 0) {
            goto fail;
        }
    }
    if (convert(&m->qhead, m->w.lm_head, V, C, dtype, err) != 0) {
        goto fail;
    }
    if (m->w.embed != m->w.lm_head) {
        /* untied: the embedding is only looked up, but at the deployed values */
        struct hn_qmat e;
        if (convert(&e, m->w.embed, V, C, dtype, err) != 0) {
            goto fail;
        }
        hn_qmat_free(&e);
    }
    m->dtype = dtype;
    return 0;
fail:
    hn_llm_dtype_free(m);
    return -1;
}

int hn_llm_infer_forward(struct hn_llm_infer *inf, const int *tokens, int n, float *logits, int all,
                         struct hn_error *err)
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
