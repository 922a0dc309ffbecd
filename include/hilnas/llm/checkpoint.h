/*
 * hilnas/llm/checkpoint.h: model <-> checkpoint directory (Hugging Face layout).
 *
 * A checkpoint directory holds config.json (LlamaConfig fields, plus attention_layers when some
 * layer skips attention) and model.safetensors with Hugging Face Llama tensor names; a
 * checkpoint without skipped layers is a valid Hugging Face Llama checkpoint. Thread safety:
 * none needed beyond distinct models and directories.
 */
#ifndef HILNAS_LLM_CHECKPOINT_H
#define HILNAS_LLM_CHECKPOINT_H

#include "hilnas/llm/model.h"

/*
 * Write model (borrowed) to dir, creating dir (and parents) if needed: config.json and
 * model.safetensors (F32; each file replaced atomically). Returns 0, or -1 with err set.
 */
int hn_llm_save(const struct hn_llm_model *model, const char *dir, struct hn_error *err);

/*
 * Load dir/config.json and dir/model.safetensors (F32, F16 or BF16) into a new model (caller
 * frees with hn_llm_model_free). Every tensor of the config must be present with its exact shape
 * (the error names the tensor, the expected and the found shape); a tensor the config does not
 * have (e.g. attention weights of a skipped layer) is an error too, except HF's non-parameter
 * rotary_emb.inv_freq buffers, which are ignored. Returns NULL with err set on failure.
 */
struct hn_llm_model *hn_llm_load(const char *dir, struct hn_error *err);

#endif
