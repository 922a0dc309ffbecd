/*
 * llm/llm_config.h: the model shape, as Hugging Face's LlamaConfig (config.json) spells it, plus
 * hilnas's per-layer attention pattern.
 *
 * config.json fields read and written: hidden_size, intermediate_size, num_hidden_layers,
 * num_attention_heads, num_key_value_heads (default: num_attention_heads), head_dim (default:
 * hidden_size / num_attention_heads), vocab_size, rms_norm_eps, rope_theta,
 * tie_word_embeddings, max_position_embeddings, and the optional `attention_layers` (one boolean
 * per layer, absent = every layer has attention). Other fields (HF configs carry many) are
 * ignored on reading. Written files also say architectures ["LlamaForCausalLM"], model_type
 * "llama" and torch_dtype "float32", so a checkpoint without skipped layers loads in
 * transformers as is.
 */
#ifndef HILNAS_LLM_CONFIG_H
#define HILNAS_LLM_CONFIG_H

#include "hilnas/error.h"

#define HN_LLM_MAX_LAYERS 256
#define HN_LLM_MAX_VOCAB 65536 /* token files are uint16 */

struct hn_llm_config {
    int hidden_size, intermediate_size, num_hidden_layers;
    int num_attention_heads, num_key_value_heads, head_dim;
    int vocab_size, max_position_embeddings;
    double rms_norm_eps, rope_theta;
    int tie_word_embeddings;
    unsigned char attention_layers[HN_LLM_MAX_LAYERS]; /* 1 = attention, 0 = skipped */
};

/* A small byte-level default (hidden 64, 2 layers, 4 heads of 16, FFN 128, vocab 256). */
void hn_llm_config_default(struct hn_llm_config *c);
/* Every dimension >= 1, heads a multiple of KV heads, layers and vocab within the limits,
 * eps and theta positive. Configuration errors name the field. */
int hn_llm_config_validate(const struct hn_llm_config *c, struct hn_error *err);
/* Read config.json (path) and validate it. Errors name the file and field. */
int hn_llm_config_read(const char *path, struct hn_llm_config *c, struct hn_error *err);
/* Write config.json atomically. */
int hn_llm_config_write(const char *path, const struct hn_llm_config *c, struct hn_error *err);

#endif
