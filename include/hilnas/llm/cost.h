/*
 * hilnas/llm/cost.h: what an architecture costs to run, computed from its configuration alone: the
 * one place where parameters, FLOPs and bytes moved are counted (the transformer space, the
 * roofline and learned latency oracles, the benchmarks and the report call it; none recounts).
 *
 * Conventions (the engine's own work, llm/decode.c):
 *   - a matmul of an (n, in) activation by an (out, in) weight costs 2 n in out FLOPs;
 *   - attention of one query against `k` cached positions costs 4 NH HD k FLOPs (scores and
 *     the weighted sum of values); a token at position p (0-based) attends to p + 1 positions;
 *   - prefill of a prompt of P tokens into an empty cache computes the LM head of the last
 *     token only (what generation needs); a decode step with `ctx` tokens already cached
 *     attends to ctx + 1 positions and computes the LM head once;
 *   - bytes read per decode step: every weight matrix once (the LM head reads the embedding
 *     when tied), one embedding row, the RMSNorm weights, and the K and V rows of every cached
 *     position in each attention layer; weights and cache entries are `bytes_per_value` wide
 *     (4 for the engine's float32);
 *   - elementwise work (RMSNorm, RoPE, SiLU, softmax) is not counted in FLOPs.
 * Layers with attention_layers[l] == 0 have no attention sub-block (only their FFN runs).
 * All functions are pure and thread safe; c is assumed valid (hn_llm_config_validate).
 */
#ifndef HILNAS_LLM_COST_H
#define HILNAS_LLM_COST_H

#include <stddef.h>

#include "hilnas/llm/llm_config.h"
#include "hilnas/llm/qmat.h"

struct hn_llm_cost {
    /* layer counts */
    int layers;           /* num_hidden_layers */
    int attention_layers; /* layers with attention */
    int ffn_only_layers;  /* layers whose attention is skipped */

    /* per layer type (per token, matmuls only; weights in values, not bytes) */
    double attn_block_params; /* q/k/v/o projections + input_layernorm of one attention layer */
    double ffn_block_params;  /* gate/up/down + post_attention_layernorm of any layer */
    double attn_block_flops;  /* 2 x projection weights: one token through one attention block */
    double ffn_block_flops;   /* 2 x 3 F C: one token through one FFN */
    double head_flops;        /* 2 V C: the LM head of one token */
    double attn_flops_per_position; /* 4 NH HD: one query against one cached position, one layer */
    double kv_values_per_position;  /* 2 KVH HD: K and V values cached per position, one layer */

    /* totals */
    double params;        /* parameters (embedding counted once when tied) */
    double matmul_params; /* weights used by the matmuls of one token, LM head included */

    /* prefill of `prompt` tokens into an empty cache */
    double prefill_tokens;
    double prefill_matmul_flops;    /* prompt x layer matmuls + one LM head */
    double prefill_attention_flops; /* attention_layers x 4 NH HD x prompt (prompt + 1) / 2 */
    double prefill_flops;           /* their sum */
    double prefill_flops_per_token; /* prefill_flops / prompt */

    /* one decode step with `context` tokens in the cache */
    double decode_context;
    double decode_flops;        /* layer matmuls + LM head + attention over context + 1 */
    double decode_weight_bytes; /* weights read once per step */
    double decode_kv_bytes;     /* cached K and V read: attention_layers x (context + 1) x ... */
    double decode_bytes;        /* their sum */
};

/*
 * Fill *out with the costs of c for a prefill of `prompt` tokens (>= 0) and a decode step with
 * `context` tokens cached (>= 0), values `bytes_per_value` bytes wide (4: float32). Never fails.
 */
void hn_llm_cost_compute(const struct hn_llm_config *c, double prompt, double context,
                         double bytes_per_value, struct hn_llm_cost *out);

/*
 * As hn_llm_cost_compute, with the weight matrices stored at `weights` precision as the engine
 * stores them after hn_llm_set_dtype (llm/qmat.h): every matrix row of `cols` weights takes
 * hn_dtype_row_bytes(weights, cols) bytes (Q8_0: 34 bytes per block of 32, rows padded to a
 * whole block), while the looked-up embedding row, the RMSNorm weights and the KV cache stay
 * float32 (4 bytes). Only decode_weight_bytes and decode_bytes differ from the float32 costs.
 */
void hn_llm_cost_compute_dtype(const struct hn_llm_config *c, double prompt, double context,
                               enum hn_dtype weights, struct hn_llm_cost *out);

/* Number of parameters of c (embedding counted once when tied). */
size_t hn_llm_param_count(const struct hn_llm_config *c);

/*
 * FLOPs of one token's forward pass attending to ctx positions: 2 x matmul parameters (LM head
 * included) + 4 NH HD ctx per attention layer. Training costs 3x a forward. A sequence of T
 * tokens costs T x hn_llm_flops_per_token(c, (T + 1) / 2).
 */
double hn_llm_flops_per_token(const struct hn_llm_config *c, double ctx);

#endif
