/*
 * hilnas/llm/decode.h: inference with a key/value cache: prefill a prompt, then decode token by
 * token.
 *
 * The cache holds, for each layer that has attention, the rotated keys and the values of every
 * position so far, per key/value head (grouped-query attention caches KVH heads, not NH):
 * (max_seq, KVH, HD) each. The matrices are multiplied at the model's deployment precision
 * (hn_llm_set_dtype in model.h; F32 by default) with F32 accumulation.
 *
 * Decoding one token runs in one OpenMP parallel region (when the model is large enough to pay
 * for a second thread): per layer every thread normalizes the residual itself, then takes a
 * share of the fused query/key/value heads (with their rotation), of the attention heads, of the
 * output projection rows, of the fused gate/up rows (with SwiGLU) and of the down rows (with the
 * residual add), a barrier between each; the matrix-vector products are hilnas/llm/qmat.h's SIMD
 * kernels. Prefill (n > 1) multiplies with sgemm (low-precision weights widened to F32 in blocks
 * of rows first).
 *
 * Thread safety: one hn_llm_infer per thread; the model is only read (several infer objects may
 * share one model).
 */
#ifndef HILNAS_LLM_DECODE_H
#define HILNAS_LLM_DECODE_H

#include "hilnas/llm/model.h"
#include "hilnas/rng.h"

struct hn_llm_infer {
    const struct hn_llm_model *model; /* borrowed */
    int max_seq;                      /* cache capacity in positions */
    int chunk;                /* most tokens processed per pass (prefill is split into chunks) */
    int pos;                  /* positions filled so far */
    float *k_cache, *v_cache; /* (attention layers, max_seq, KVH, HD) */
    size_t kv_floats;         /* of the one allocation k_cache starts (hn_llm_big_calloc) */
    int *cache_slot;          /* per layer: index into the caches, or -1 when skipped */
    float *block;             /* scratch of one pass, see decode.c (hn_llm_big_calloc) */
    size_t block_floats;      /* its size */
    float *x, *ln, *q, *attout, *tmp, *gate, *up, *scores;
    float *lnt;                  /* per-thread normalized rows (thread_cap, C) for decode */
    int thread_cap;              /* most threads one decode step uses (hn_ops_threads at new) */
    int parallel;                /* 1: decode steps are worth sharing over the threads */
    struct hn_llm_qlayer *views; /* F32 views of the model's layers (used when no dtype set) */
    struct hn_qmat head_view;
};

/*
 * Create an inference state for model (borrowed; must outlive the state) with room for max_seq
 * positions (<= max_position_embeddings) and passes of at most chunk tokens (chunk <= 0: 256).
 * Returns the state (free with hn_llm_infer_free) or NULL with err set.
 */
struct hn_llm_infer *hn_llm_infer_new(const struct hn_llm_model *model, int max_seq, int chunk,
                                      struct hn_error *err);
void hn_llm_infer_free(struct hn_llm_infer *inf);

/* Forget the cached positions (pos = 0). */
void hn_llm_infer_reset(struct hn_llm_infer *inf);

/*
 * Append n tokens at positions pos..pos+n-1 (prefill when n > 1, decode when n == 1) and write
 * logits: all == 0: the last token's (V); all == 1: every new token's (n,V). logits may be NULL
 * (then the LM head is skipped). Returns 0, or -1 with err set (cache full, bad token id).
 */
int hn_llm_infer_forward(struct hn_llm_infer *inf, const int *tokens, int n, float *logits, int all,
                         struct hn_error *err);

/*
 * Pick the next token from logits (V): temperature <= 0 is greedy (argmax, lowest index on
 * ties); otherwise sample from softmax(logits / temperature) restricted to the top_k largest
 * (top_k <= 0: all). rng advances by one draw when sampling. logits are not modified.
 */
int hn_llm_sample(const float *logits, int V, double temperature, int top_k, struct hn_rng *rng);

#endif
