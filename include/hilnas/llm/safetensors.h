/*
 * hilnas/llm/safetensors.h: read and write the safetensors format (Hugging Face), F32/F16/BF16.
 *
 * Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * {"name": {"dtype": "F32"|"F16"|"BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {string: string}}, then the data buffer; offsets are relative to its start
 * and the data is little-endian. docs/checkpoints.md describes the format and the checks.
 *
 * The reader checks every offset and size before touching data, as the reference (Rust)
 * implementation does: at least 8 bytes; header length within the file and at most
 * HN_ST_MAX_HEADER; the header a valid JSON object without duplicate names; every entry an
 * object with a known dtype, a shape of at most HN_ST_MAX_DIMS non-negative integers, no overflow
 * in numel * itemsize (checked in 64 bits), data_offsets a pair [begin, end] of non-negative
 * integers with begin <= end, end - begin == numel * itemsize and end within the data buffer;
 * "__metadata__" an object of strings; and the tensors, sorted by offsets, tile the buffer
 * exactly: no overlap, no hole, no unused bytes at the end (the reference refuses holes too).
 * Anything else is refused with a message naming the file, the tensor and what is wrong.
 * F16 and BF16 are converted to F32 exactly (subnormals, infinities, NaN payloads and signs).
 *
 * Thread safety: no shared state; distinct hn_st_file values may be used from distinct threads.
 */
#ifndef HILNAS_LLM_SAFETENSORS_H
#define HILNAS_LLM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "hilnas/error.h"

#define HN_ST_MAX_DIMS 8
#define HN_ST_MAX_HEADER (100u << 20) /* bytes; the reference's limit too */

enum hn_st_dtype { HN_ST_F32, HN_ST_F16, HN_ST_BF16 };

struct hn_st_tensor {
    char *name;
    size_t ndim;
    size_t shape[HN_ST_MAX_DIMS];
    size_t numel;
    float *data;             /* numel floats (converted to F32); see hn_st_map for ownership */
    enum hn_st_dtype stored; /* dtype in the file */
    int mapped;              /* 1: data points into the file mapping (hn_st_map), not malloc'ed */
};

struct hn_st_file {
    size_t n;
    struct hn_st_tensor *t; /* in the order of their data offsets */
    void *map;              /* hn_st_map only: the mapping, released by hn_st_free */
    size_t map_len;
};

/*
 * Read the file at path, converting every tensor to F32 in its own malloc'ed array. The file
 * is mapped read-only while reading, so memory peaks at the converted tensors, not twice the
 * file. On success out owns the tensors (free with hn_st_free); on failure out is empty (still
 * safe to pass to hn_st_free). Returns 0, or -1 with err naming the file, the tensor and the
 * problem.
 */
int hn_st_read(const char *path, struct hn_st_file *out, struct hn_error *err);

/*
 * Like hn_st_read, but F32 tensors whose data is 4-byte aligned (always, for files hn_st_write
 * and the Python library write) point straight into a private copy-on-write mapping of the file
 * (on little-endian machines): no copy, and pages stay shared with the page cache until
 * written. Writing to such data changes the mapping only, never the file. Other tensors are
 * converted into malloc'ed arrays as by hn_st_read. hn_st_free unmaps. The file must not be
 * truncated while mapped (hn_st_write replaces files by rename, which is safe).
 */
int hn_st_map(const char *path, struct hn_st_file *out, struct hn_error *err);

/*
 * Parse an in-memory file image of len bytes (for tests and fuzzing); name is used in messages.
 * buf is borrowed; tensors are copied out. Same checks, ownership and errors as hn_st_read.
 */
int hn_st_parse(const unsigned char *buf, size_t len, const char *name, struct hn_st_file *out,
                struct hn_error *err);

/* The tensor called name, or NULL. Borrowed from f. Linear search. */
const struct hn_st_tensor *hn_st_find(const struct hn_st_file *f, const char *name);

/* Free the tensors (and the mapping); leaves f empty. Accepts NULL, a zeroed or freed struct. */
void hn_st_free(struct hn_st_file *f);

struct hn_st_write_entry {
    const char *name;
    size_t ndim;
    size_t shape[HN_ST_MAX_DIMS];
    const float *data; /* numel floats; may be NULL when numel is 0 */
};

/*
 * Write n F32 tensors to path: data in the given order with contiguous offsets, the header
 * listing "__metadata__" ({"format": "pt"}, which transformers expects) then the tensors in the
 * same order, padded with spaces to a multiple of 8 bytes (so all data is 8-byte aligned).
 * Streams to a temporary file in the same directory, fsyncs it, renames it over path and
 * fsyncs the directory: readers see the old file or the new one, never a mix. Entries are
 * borrowed. Refuses (-1, err) empty or duplicate names, "__metadata__", ndim above
 * HN_ST_MAX_DIMS, sizes that overflow, and NULL data; I/O errors name the path.
 */
int hn_st_write(const char *path, const struct hn_st_write_entry *e, size_t n,
                struct hn_error *err);

/* IEEE binary16 and bfloat16 to float, exact for every bit pattern. Pure functions. */
float hn_f16_to_f32(uint16_t h);
float hn_bf16_to_f32(uint16_t h);

#endif
