/*
 * hilnas/llm/gguf.h: write GGUF version 3 files, the model format of llama.cpp (ggml).
 *
 * Layout (ggml/include/gguf.h in llama.cpp): "GGUF", uint32 version 3, uint64 tensor count,
 * uint64 key-value count; the key-value pairs (key as uint64 length + bytes, uint32 type, value;
 * arrays as uint32 element type + uint64 count + elements); the tensor infos (name, uint32
 * n_dims, uint64 ne[n_dims] with ne[0] the fastest-varying (row length), uint32 ggml type,
 * uint64 offset into the data section); zero padding to the alignment; the tensor data, each
 * tensor starting at a multiple of the alignment. Everything little-endian.
 *
 * Usage: hn_gguf_new, hn_gguf_set_* and hn_gguf_add_tensor in the order they should appear in
 * the file, hn_gguf_write, hn_gguf_free. Tensor data are F32 in memory (borrowed until
 * hn_gguf_write) and stored as F32, F16 or BF16 (round to nearest even; overflow to infinity;
 * NaN stays NaN). Thread safety: none needed beyond distinct objects.
 */
#ifndef HILNAS_LLM_GGUF_H
#define HILNAS_LLM_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "hilnas/error.h"

#define HN_GGUF_VERSION 3
#define HN_GGUF_ALIGNMENT 32 /* GGUF_DEFAULT_ALIGNMENT */
#define HN_GGUF_MAX_DIMS 4   /* GGML_MAX_DIMS */

/* Value types of key-value pairs (enum gguf_type). */
enum hn_gguf_type {
    HN_GGUF_UINT8 = 0,
    HN_GGUF_INT8 = 1,
    HN_GGUF_UINT16 = 2,
    HN_GGUF_INT16 = 3,
    HN_GGUF_UINT32 = 4,
    HN_GGUF_INT32 = 5,
    HN_GGUF_FLOAT32 = 6,
    HN_GGUF_BOOL = 7,
    HN_GGUF_STRING = 8,
    HN_GGUF_ARRAY = 9,
    HN_GGUF_UINT64 = 10,
    HN_GGUF_INT64 = 11,
    HN_GGUF_FLOAT64 = 12,
};

/* Tensor storage types (enum ggml_type). */
enum hn_gguf_dtype { HN_GGUF_F32 = 0, HN_GGUF_F16 = 1, HN_GGUF_BF16 = 30 };

struct hn_gguf;

/* A new, empty file description; NULL on out of memory. */
struct hn_gguf *hn_gguf_new(void);
void hn_gguf_free(struct hn_gguf *g);

/*
 * Key-value pairs. A key must be non-empty, at most 65535 bytes and not used before (the error
 * names it). Arrays are copied. Strings are stored as given (GGUF wants UTF-8).
 */
int hn_gguf_set_u32(struct hn_gguf *g, const char *key, uint32_t v, struct hn_error *err);
int hn_gguf_set_i32(struct hn_gguf *g, const char *key, int32_t v, struct hn_error *err);
int hn_gguf_set_f32(struct hn_gguf *g, const char *key, float v, struct hn_error *err);
int hn_gguf_set_bool(struct hn_gguf *g, const char *key, int v, struct hn_error *err);
int hn_gguf_set_str(struct hn_gguf *g, const char *key, const char *v, struct hn_error *err);
int hn_gguf_set_arr_i32(struct hn_gguf *g, const char *key, const int32_t *v, size_t n,
                        struct hn_error *err);
int hn_gguf_set_arr_f32(struct hn_gguf *g, const char *key, const float *v, size_t n,
                        struct hn_error *err);
/* n strings; lens[i] bytes of v[i] (lens NULL: NUL-terminated strings). */
int hn_gguf_set_arr_str(struct hn_gguf *g, const char *key, const char *const *v,
                        const size_t *lens, size_t n, struct hn_error *err);

/*
 * Add a tensor: ndim (1..HN_GGUF_MAX_DIMS) sizes in ggml order (ne[0] = the row length, i.e.
 * the reverse of a row-major shape), stored as dtype; data (ne[0]*...*ne[ndim-1] floats) is
 * borrowed until hn_gguf_write. Names must be unique and shorter than 64 bytes (GGML_MAX_NAME).
 */
int hn_gguf_add_tensor(struct hn_gguf *g, const char *name, size_t ndim, const uint64_t *ne,
                       enum hn_gguf_dtype dtype, const float *data, struct hn_error *err);

/*
 * Write the file to path with general.alignment (set it with hn_gguf_set_u32 to change it from
 * HN_GGUF_ALIGNMENT; it must be a power of two): streamed to a temporary file in the same
 * directory, fsync'ed and renamed over path. Returns 0, or -1 with err naming the path.
 */
int hn_gguf_write(struct hn_gguf *g, const char *path, struct hn_error *err);

/* Storage conversions (round to nearest even). Pure functions. */
uint16_t hn_f32_to_f16(float f);
uint16_t hn_f32_to_bf16(float f);

#endif
