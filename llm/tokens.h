/*
 * llm/tokens.h: the byte-level tokenizer (vocabulary 256: token = byte value), token files
 * (flat little-endian uint16 arrays without a header, the nanoGPT convention) and seeded
 * batch sampling.
 */
#ifndef HILNAS_LLM_TOKENS_H
#define HILNAS_LLM_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "hilnas/error.h"
#include "hilnas/rng.h"

#define HN_BYTE_VOCAB 256

/* Bytes -> tokens (n of each) and back; decoding fails (-1) on a token above 255. */
void hn_bytes_encode(const unsigned char *bytes, size_t n, uint16_t *tokens);
int hn_bytes_decode(const uint16_t *tokens, size_t n, unsigned char *bytes);

/* Write n tokens as little-endian uint16, atomically. */
int hn_tokens_write(const char *path, const uint16_t *tokens, size_t n, struct hn_error *err);
/* Read a token file; *tokens is malloc'ed. An odd byte count is an error. */
int hn_tokens_load(const char *path, uint16_t **tokens, size_t *n, struct hn_error *err);

/* B random windows of T+1 tokens: inputs[b*T+t] = tok[s_b+t], targets[b*T+t] = tok[s_b+t+1].
 * Requires n >= T + 1. Deterministic for a given rng state. */
void hn_batch_sample(const uint16_t *tok, size_t n, int B, int T, struct hn_rng *rng, int *inputs,
                     int *targets);

/* Window i of the sequential reader: starts at token i*T, T+1 tokens; 0 if it does not fit. */
int hn_window(const uint16_t *tok, size_t n, size_t i, int T, int *inputs, int *targets);

#endif
