/*
 * hilnas/llm/llm_config.h: the model shape, as Hugging Face's LlamaConfig (config.json) spells it,
 * plus hilnas's per-layer attention pattern.
 *
 * config.json fields read and written: hidden_size, intermediate_size, num_hidden_layers,
 * num_attention_heads, num_key_value_heads (default: num_attention_heads), head_dim (default:
 * hidden_size / num_attention_heads), vocab_size, rms_norm_eps, rope_theta,
 * tie_word_embeddings, max_position_embeddings, and the optional `attention_layers` (one boolean
 * per layer, absent = every layer has attention). Other fields (HF configs carry many) are
 * ignored on reading. docs/checkpoints.md describes the checkpoint directory. Written files also
 * say architectures ["LlamaForCausalLM"], model_type "llama" and torch_dtype "float32", so a
 * checkpoint without skipped layers loads in transformers as is.
 */
#ifndef HILNAS_LLM_CONFIG_H
#define HILNAS_LLM_CONFIG_H

#include <jansson.h>

#include "hilnas/error.h"

#define HN_LLM_MAX_LAYERS 256
/* large vocabularies (Llama 3: 128256, Gemma: 262144) load; token files (uint16) reach ids
 * below 65536 only */
#define HN_LLM_MAX_VOCAB (1 << 20)

struct hn_llm_config {
    int hidden_size, intermediate_size, num_hidden_layers;
    int num_attention_heads, num_key_value_heads, head_dim;
    int vocab_size, max_position_embeddings;
    double rms_norm_eps, rope_theta;
    int tie_word_embeddings;
    unsigned char attention_layers[HN_LLM_MAX_LAYERS]; /* 1 = attention, 0 = skipped */
};

/*
 * Fill c with a small byte-level model: hidden 64, 2 layers, 4 heads (and 4 KV heads) of 16,
 * FFN 128, vocab 256, 1024 positions, eps 1e-5, theta 10000, tied embeddings, attention in
 * every layer. Never fails; thread safe.
 */
void hn_llm_config_default(struct hn_llm_config *c);

/*
 * Check c: every dimension >= 1 and within its limit (num_hidden_layers <= HN_LLM_MAX_LAYERS,
 * vocab_size <= HN_LLM_MAX_VOCAB), num_attention_heads a multiple of num_key_value_heads,
 * head_dim even (RoPE rotates pairs), rms_norm_eps and rope_theta positive and finite.
 * Returns 0, or -1 with a configuration error naming the field and its value (callers prefix
 * the file). Thread safe.
 */
int hn_llm_config_validate(const struct hn_llm_config *c, struct hn_error *err);

/*
 * Read config.json at path into c and validate it. Required: hidden_size, intermediate_size,
 * num_hidden_layers, num_attention_heads, vocab_size. Absent optional fields take
 * LlamaConfig's defaults (num_key_value_heads = num_attention_heads, head_dim = hidden_size /
 * num_attention_heads, max_position_embeddings 2048, rms_norm_eps 1e-6, rope_theta 10000,
 * tie_word_embeddings false). A field of the wrong type, an attention_layers list of the
 * wrong length, and settings the engine cannot honour (hidden_act other than "silu",
 * attention_bias or mlp_bias true, a non-null rope_scaling) are configuration errors. Unknown
 * fields are ignored. Returns 0, or -1 with err naming the file (with line:column for bad
 * JSON) and the field, e.g. "ckpt/config.json: num_attention_heads (6) must be a multiple of
 * num_key_value_heads (4)". c is overwritten either way. Thread safe.
 */
int hn_llm_config_read(const char *path, struct hn_llm_config *c, struct hn_error *err);

/* The same from a parsed JSON object (an architecture decoded by the transformer space, say);
 * `where` names it in messages. */
int hn_llm_config_from_json(const json_t *o, const char *where, struct hn_llm_config *c,
                            struct hn_error *err);

/*
 * Validate c and write it to path as config.json (indented, numbers round-trip exactly),
 * atomically (temporary file, fsync, rename). attention_layers is written only when some
 * layer skips attention. Returns 0, or -1 with err naming the path. Thread safe.
 */
int hn_llm_config_write(const char *path, const struct hn_llm_config *c, struct hn_error *err);

#endif
