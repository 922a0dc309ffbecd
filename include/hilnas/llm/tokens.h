/*
 * hilnas/llm/tokens.h: the byte-level tokenizer (vocabulary 256: token = byte value), token files
 * (flat little-endian uint16 arrays without a header, the nanoGPT convention) and the two ways
 * of cutting training examples out of a token array: seeded random windows (training) and
 * consecutive windows (evaluation). docs/checkpoints.md describes the files.
 *
 * Thread safety: no shared state; every function only touches its arguments.
 */
#ifndef HILNAS_LLM_TOKENS_H
#define HILNAS_LLM_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "hilnas/error.h"
#include "hilnas/rng.h"

#define HN_BYTE_VOCAB 256

/* bytes[0..n) -> tokens[0..n): token i is byte i (any value, 0 and 0xff included). */
void hn_bytes_encode(const unsigned char *bytes, size_t n, uint16_t *tokens);
/* tokens[0..n) -> bytes[0..n), the identity; returns -1 (bytes partly written) if a token is
 * above 255, else 0. */
int hn_bytes_decode(const uint16_t *tokens, size_t n, unsigned char *bytes);

/*
 * Write n tokens to path as little-endian uint16 (whatever the machine's byte order),
 * atomically: temporary file, fsync, rename; an existing file is replaced. tokens is borrowed.
 * Returns 0, or -1 with err naming the path.
 */
int hn_tokens_write(const char *path, const uint16_t *tokens, size_t n, struct hn_error *err);

/*
 * Read a token file: *tokens (malloc'ed, caller frees; non-NULL even when *n is 0) and *n.
 * Returns 0, or -1 with err naming the path: unreadable, not a regular file, or an odd number
 * of bytes (not a token file).
 */
int hn_tokens_load(const char *path, uint16_t **tokens, size_t *n, struct hn_error *err);

/*
 * Check that every token of tok[0..n) is below vocab. Returns 0, or -1 with a configuration
 * error naming `where` (the file), the first bad token's index and value, and the vocabulary.
 */
int hn_tokens_check_vocab(const uint16_t *tok, size_t n, int vocab, const char *where,
                          struct hn_error *err);

/*
 * B random windows of T+1 consecutive tokens: window b starts at s_b, uniform in [0, n-T-1],
 * drawn in order b = 0..B-1 with hn_rng_below(rng, n - T); inputs[b*T+t] = tok[s_b+t] and
 * targets[b*T+t] = tok[s_b+t+1] (inputs and targets hold B*T ints). The same rng state gives
 * the same batch. Returns 0, or -1 (nothing written, rng untouched) when n < T+1 or B, T < 1.
 */
int hn_batch_sample(const uint16_t *tok, size_t n, int B, int T, struct hn_rng *rng, int *inputs,
                    int *targets);

/*
 * Window i of the sequential reader (used by evaluation): the T+1 tokens starting at i*T, so
 * consecutive windows share one token and every token but the first is a target exactly once.
 * inputs[t] = tok[i*T+t], targets[t] = tok[i*T+t+1]. Returns 1, or 0 (nothing written) if the
 * window does not fit in n tokens; there are (n - 1) / T windows.
 */
int hn_window(const uint16_t *tok, size_t n, size_t i, int T, int *inputs, int *targets);

#endif
