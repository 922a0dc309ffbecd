/*
 * Fixtures for tests that need real token files and small real models (the pruned evaluator,
 * export, importance): written to a test's temporary directory, checked with Criterion.
 */
#ifndef HILNAS_TESTS_LLM_FIXTURES_H
#define HILNAS_TESTS_LLM_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "hilnas/llm/model.h"

/*
 * A byte stream with structure (runs of a few letters, seeded), n tokens as DIR/train.bin and
 * the first n/2 as DIR/val.bin. Returns the n tokens (malloc'ed; the caller frees).
 */
uint16_t *tu_write_data(const char *dir, size_t n);

/*
 * A model shape: hn_llm_config_default's with these sizes (layers, hidden size, query and KV
 * heads, head size, FFN size, vocabulary) and 64 positions.
 */
struct hn_llm_config tu_config(int layers, int hidden, int heads, int kv_heads, int head_dim,
                               int ffn, int vocab);

/* A model of config c randomized from seed (hn_llm_model_randomize); the caller frees it. */
struct hn_llm_model *tu_model(const struct hn_llm_config *c, uint64_t seed);

/*
 * A tiny byte-level model with GQA and an untied head (3 layers, hidden 32, 4 query / 2 KV heads
 * of 8, FFN 48, 64 positions), randomized from seed; the caller frees it.
 */
struct hn_llm_model *tu_tiny_model(uint64_t seed);

/* Save m as DIR/NAME (config.json + model.safetensors). */
void tu_save_model(const struct hn_llm_model *m, const char *dir, const char *name);

/*
 * A 2-layer backbone (hidden 32, 4/2 heads, FFN 64) really pretrained by the trainer for `steps`
 * steps on DIR's data (lr 3e-3 to 3e-4), so that DIR/pre/final has training.json.
 */
void tu_pretrain_backbone(const char *dir, long steps);

/* Column `name` of DIR/run/trials.csv, for each row (up to max), as numbers; the row count. */
int tu_csv_column(const char *dir, const char *name, double *v, int max);

#endif
