/*
 * llm/cost.c: costs of an architecture (see cost.h for the conventions).
 */
#include "config.h"

#include "hilnas/llm/cost.h"

void hn_llm_cost_compute(const struct hn_llm_config *c, double prompt, double context,
                         double bytes_per_value, struct hn_llm_cost *out)
{
    double C = c->hidden_size, F = c->intermediate_size, V = c->vocab_size;
    double QD = (double)c->num_attention_heads * c->head_dim;
    double KD = (double)c->num_key_value_heads * c->head_dim;
    struct hn_llm_cost k = {0};
    k.layers = c->num_hidden_layers;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        k.attention_layers += c->attention_layers[l] != 0;
    }
    k.ffn_only_layers = k.layers - k.attention_layers;
    double attn_w = 2 * QD * C + 2 * KD * C; /* q, o: (QD, C), (C, QD); k, v: (KD, C) */
    double ffn_w = 3 * F * C;
    k.attn_block_params = attn_w + C;
    k.ffn_block_params = ffn_w + C;
    k.attn_block_flops = 2 * attn_w;
    k.ffn_block_flops = 2 * ffn_w;
    k.head_flops = 2 * V * C;
    k.attn_flops_per_position = 4 * QD;
    k.kv_values_per_position = 2 * KD;

    double embed = V * C, head = c->tie_word_embeddings ? 0 : V * C;
    k.params =
        embed + head + C + k.attention_layers * k.attn_block_params + k.layers * k.ffn_block_params;
    double layer_matmul = k.attention_layers * attn_w + k.layers * ffn_w;
    k.matmul_params = layer_matmul + V * C;

    double layer_flops = k.attention_layers * k.attn_block_flops + k.layers * k.ffn_block_flops;
    k.prefill_tokens = prompt;
    k.prefill_matmul_flops = prompt > 0 ? prompt * layer_flops + k.head_flops : 0;
    k.prefill_attention_flops =
        k.attention_layers * k.attn_flops_per_position * prompt * (prompt + 1) / 2;
    k.prefill_flops = k.prefill_matmul_flops + k.prefill_attention_flops;
    k.prefill_flops_per_token = prompt > 0 ? k.prefill_flops / prompt : 0;

    k.decode_context = context;
    k.decode_flops =
        layer_flops + k.head_flops + k.attention_layers * k.attn_flops_per_position * (context + 1);
    /* weights: layer matrices, LM head (the embedding when tied), one embedding row, norms */
    double norms = k.attention_layers * C + k.layers * C + C;
    k.decode_weight_bytes = bytes_per_value * (layer_matmul + V * C + C + norms);
    k.decode_kv_bytes =
        bytes_per_value * k.attention_layers * k.kv_values_per_position * (context + 1);
    k.decode_bytes = k.decode_weight_bytes + k.decode_kv_bytes;
    *out = k;
}

/* storage bytes of a row of cols weights, as llm/qmat.c stores them (hn_dtype_row_bytes; kept
 * here so that libhilnas-cost needs no engine; tests/llm/test_cost.c checks both agree) */
static size_t row_bytes(enum hn_dtype dtype, size_t cols)
{
    switch (dtype) {
    case HN_DTYPE_F32:
        return cols * 4;
    case HN_DTYPE_BF16:
    case HN_DTYPE_F16:
        return cols * 2;
    case HN_DTYPE_Q8_0:
        return (cols + HN_Q8_BLOCK - 1) / HN_Q8_BLOCK * (HN_Q8_BLOCK + 2);
    }
    return cols * 4;
}

void hn_llm_cost_compute_dtype(const struct hn_llm_config *c, double prompt, double context,
                               enum hn_dtype weights, struct hn_llm_cost *out)
{
    hn_llm_cost_compute(c, prompt, context, 4, out);
    if (weights == HN_DTYPE_F32) {
        return;
    }
    size_t C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    size_t QD = (size_t)c->num_attention_heads * c->head_dim;
    size_t KD = (size_t)c->num_key_value_heads * c->head_dim, V = (size_t)c->vocab_size;
    /* rows x row bytes of each matrix: q (QD, C), k and v (KD, C), o (C, QD); gate and up
     * (F, C), down (C, F); the LM head (V, C) */
    double attn = (double)(QD + 2 * KD) * (double)row_bytes(weights, C) +
                  (double)C * (double)row_bytes(weights, QD);
    double ffn =
        2.0 * (double)F * (double)row_bytes(weights, C) + (double)C * (double)row_bytes(weights, F);
    double head = (double)V * (double)row_bytes(weights, C);
    double norms =
        (double)out->attention_layers * (double)C + (double)out->layers * (double)C + (double)C;
    out->decode_weight_bytes =
        out->attention_layers * attn + out->layers * ffn + head + 4.0 * ((double)C + norms);
    out->decode_bytes = out->decode_weight_bytes + out->decode_kv_bytes;
}

size_t hn_llm_param_count(const struct hn_llm_config *c)
{
    size_t C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    size_t QD = (size_t)c->num_attention_heads * c->head_dim;
    size_t KD = (size_t)c->num_key_value_heads * c->head_dim;
    size_t V = (size_t)c->vocab_size;
    size_t n = V * C + C + (c->tie_word_embeddings ? 0 : V * C);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        if (c->attention_layers[l]) {
            n += C + 2 * QD * C + 2 * KD * C;
        }
        n += C + 3 * F * C;
    }
    return n;
}

double hn_llm_flops_per_token(const struct hn_llm_config *c, double ctx)
{
    struct hn_llm_cost k;
    hn_llm_cost_compute(c, 0, 0, 4, &k);
    return 2 * k.matmul_params + k.attention_layers * k.attn_flops_per_position * ctx;
}
