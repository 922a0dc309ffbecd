/*
 * llm/safetensors.h: read and write the safetensors format (Hugging Face).
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32"|"F16"|"BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {string: string}}, then the data buffer (offsets relative to its start).
 * The reader checks every offset and size before touching data, as the reference
 * implementation does: header length within the file and at most 100 MB, valid JSON object, no
 * duplicate names, known dtype, integral non-negative shape, no overflow in numel * itemsize,
 * end - begin == numel * itemsize, tensors contiguous without holes or overlaps, and the buffer
 * fully used. Anything else is refused with a message naming the file and the tensor.
 * F16 and BF16 are converted to F32 exactly (subnormals, infinities and NaNs included).
 */
#ifndef HILNAS_LLM_SAFETENSORS_H
#define HILNAS_LLM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "hilnas/error.h"

#define HN_ST_MAX_DIMS 8
#define HN_ST_MAX_HEADER (100u << 20)

enum hn_st_dtype { HN_ST_F32, HN_ST_F16, HN_ST_BF16 };

struct hn_st_tensor {
    char *name;
    size_t ndim;
    size_t shape[HN_ST_MAX_DIMS];
    size_t numel;
    float *data; /* converted to F32; owned */
    enum hn_st_dtype stored; /* dtype in the file */
};

struct hn_st_file {
    size_t n;
    struct hn_st_tensor *t;
};

/* Read a file; on success out owns the tensors (free with hn_st_free). */
int hn_st_read(const char *path, struct hn_st_file *out, struct hn_error *err);
/* Parse an in-memory file image (for tests and fuzzing); name is used in messages. */
int hn_st_parse(const unsigned char *buf, size_t len, const char *name, struct hn_st_file *out,
                struct hn_error *err);
const struct hn_st_tensor *hn_st_find(const struct hn_st_file *f, const char *name);
/* Free the tensors; accepts a zeroed struct. */
void hn_st_free(struct hn_st_file *f);

struct hn_st_write_entry {
    const char *name;
    size_t ndim;
    size_t shape[HN_ST_MAX_DIMS];
    const float *data;
};

/* Write F32 tensors in the given order (contiguous offsets), the header padded with spaces to a
 * multiple of 8; atomically (temporary file, fsync, rename). */
int hn_st_write(const char *path, const struct hn_st_write_entry *e, size_t n,
                struct hn_error *err);

/* IEEE half and bfloat16 to float. */
float hn_f16_to_f32(uint16_t h);
float hn_bf16_to_f32(uint16_t h);

#endif
