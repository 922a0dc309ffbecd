/* llm/safetensors.c: the safetensors reader and writer (see safetensors.h). */
#define _GNU_SOURCE /* mkostemp */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hilnas/llm/safetensors.h"
#include "hilnas/util.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HN_ST_LITTLE_ENDIAN 1
#else
#define HN_ST_LITTLE_ENDIAN 0
#endif

float hn_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {
            /* subnormal m * 2^-24: shift the leading one up to the implicit bit */
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while ((mant & 0x400) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); /* infinity, or NaN keeping its payload */
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

float hn_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

void hn_st_free(struct hn_st_file *f)
{
    if (f == NULL) {
        return;
    }
    for (size_t i = 0; i < f->n; i++) {
        free(f->t[i].name);
        if (!f->t[i].mapped) {
            free(f->t[i].data);
        }
    }
    free(f->t);
    if (f->map != NULL) {
        munmap(f->map, f->map_len);
    }
    memset(f, 0, sizeof(*f));
}

const struct hn_st_tensor *hn_st_find(const struct hn_st_file *f, const char *name)
{
    for (size_t i = 0; f != NULL && i < f->n; i++) {
        if (strcmp(f->t[i].name, name) == 0) {
            return &f->t[i];
        }
    }
    return NULL;
}

/* Where a tensor's bytes are in the data buffer. */
struct span {
    uint64_t begin, end;
    size_t index; /* into the header's order */
};

static int cmp_span(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    if (x->begin != y->begin) {
        return x->begin < y->begin ? -1 : 1;
    }
    if (x->end != y->end) {
        return x->end < y->end ? -1 : 1; /* empty tensors first at a shared offset */
    }
    return (x->index > y->index) - (x->index < y->index);
}

static size_t dtype_size(enum hn_st_dtype d)
{
    return d == HN_ST_F32 ? 4 : 2;
}

/* An entry's "dtype" into *stored. */
static int parse_dtype(const char *key, const json_t *dtype_v, const char *name,
                       enum hn_st_dtype *stored, struct hn_error *err)
{
    const char *dtype = json_string_value(dtype_v);
    if (dtype == NULL) {
        return hn_error_set(err, name, "tensor '%s': dtype is %s, expected a string", key,
                            dtype_v == NULL ? "missing" : "not a string");
    } else if (strcmp(dtype, "F32") == 0) {
        *stored = HN_ST_F32;
    } else if (strcmp(dtype, "F16") == 0) {
        *stored = HN_ST_F16;
    } else if (strcmp(dtype, "BF16") == 0) {
        *stored = HN_ST_BF16;
    } else {
        return hn_error_set(err, name,
                            "tensor '%s': dtype '%.32s' is not supported (F32, F16, BF16); "
                            "convert the checkpoint to one of those",
                            key, dtype);
    }
    return 0;
}

/* An entry's "shape" into t->ndim and t->shape, its element count into *numel (no overflow). */
static int parse_shape(const char *key, const json_t *shape, const char *name,
                       struct hn_st_tensor *t, uint64_t *numel, struct hn_error *err)
{
    if (!json_is_array(shape) || json_array_size(shape) > HN_ST_MAX_DIMS) {
        return hn_error_set(err, name, "tensor '%s': shape must be a list of at most %d integers",
                            key, HN_ST_MAX_DIMS);
    }
    *numel = 1;
    t->ndim = json_array_size(shape);
    for (size_t d = 0; d < t->ndim; d++) {
        json_t *dim = json_array_get(shape, d);
        if (!json_is_integer(dim) || json_integer_value(dim) < 0) {
            return hn_error_set(err, name, "tensor '%s': shape[%zu] is not a non-negative integer",
                                key, d);
        }
        uint64_t extent = (uint64_t)json_integer_value(dim);
        if (__builtin_mul_overflow(*numel, extent, numel)) {
            return hn_error_set(err, name, "tensor '%s': the number of elements overflows 64 bits",
                                key);
        }
        t->shape[d] = (size_t)extent;
        if ((uint64_t)t->shape[d] != extent) {
            return hn_error_set(err, name, "tensor '%s': shape[%zu] is too large for this machine",
                                key, d);
        }
    }
    return 0;
}

/* An entry's "data_offsets" into s: a pair holding exactly bytes, within the data_len-byte
 * data buffer. dtype is for the message. */
static int parse_offsets(const char *key, const json_t *offs, uint64_t bytes, const char *dtype,
                         uint64_t data_len, const char *name, struct span *s, struct hn_error *err)
{
    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        !json_is_integer(json_array_get(offs, 0)) || !json_is_integer(json_array_get(offs, 1)) ||
        json_integer_value(json_array_get(offs, 0)) < 0 ||
        json_integer_value(json_array_get(offs, 1)) < 0) {
        return hn_error_set(err, name,
                            "tensor '%s': data_offsets must be a pair [begin, end] of non-negative "
                            "integers",
                            key);
    }
    uint64_t begin = (uint64_t)json_integer_value(json_array_get(offs, 0));
    uint64_t end = (uint64_t)json_integer_value(json_array_get(offs, 1));
    if (end < begin) {
        return hn_error_set(err, name, "tensor '%s': data_offsets end %llu is before begin %llu",
                            key, (unsigned long long)end, (unsigned long long)begin);
    }
    if (end - begin != bytes) {
        return hn_error_set(err, name,
                            "tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but its shape "
                            "and dtype %s need %llu",
                            key, (unsigned long long)begin, (unsigned long long)end,
                            (unsigned long long)(end - begin), dtype, (unsigned long long)bytes);
    }
    if (end > data_len) {
        return hn_error_set(err, name,
                            "tensor '%s': data_offsets end %llu is beyond the %llu-byte data "
                            "buffer (truncated file?)",
                            key, (unsigned long long)end, (unsigned long long)data_len);
    }
    s->begin = begin;
    s->end = end;
    return 0;
}

/* Check one tensor entry of the header and fill t (except name and data) and s. */
static int parse_entry(const char *key, json_t *v, uint64_t data_len, const char *name,
                       struct hn_st_tensor *t, struct span *s, struct hn_error *err)
{
    if (!json_is_object(v)) {
        return hn_error_set(err, name, "tensor '%s': entry is not an object", key);
    }
    json_t *dtype_v = json_object_get(v, "dtype");
    uint64_t numel = 0, bytes = 0;
    if (parse_dtype(key, dtype_v, name, &t->stored, err) != 0 ||
        parse_shape(key, json_object_get(v, "shape"), name, t, &numel, err) != 0) {
        return -1;
    }
    if (__builtin_mul_overflow(numel, (uint64_t)dtype_size(t->stored), &bytes)) {
        return hn_error_set(err, name, "tensor '%s': its size in bytes overflows 64 bits", key);
    }
    if (parse_offsets(key, json_object_get(v, "data_offsets"), bytes, json_string_value(dtype_v),
                      data_len, name, s, err) != 0) {
        return -1;
    }
    if (numel > SIZE_MAX / sizeof(float)) {
        return hn_error_set(err, name, "tensor '%s': too large for this machine", key);
    }
    t->numel = (size_t)numel;
    return 0;
}

/* The header length from the 8-byte little-endian prefix, checked against len. */
static int header_length(const unsigned char *buf, size_t len, const char *name, uint64_t *n,
                         struct hn_error *err)
{
    if (len < 8) {
        return hn_error_set(err, name,
                            "not a safetensors file: %zu bytes, shorter than the 8-byte header "
                            "length",
                            len);
    }
    *n = 0;
    for (int i = 7; i >= 0; i--) {
        *n = (*n << 8) | buf[i];
    }
    if (*n > HN_ST_MAX_HEADER) {
        return hn_error_set(err, name,
                            "header length %llu is absurd (over %u bytes): damaged or not a "
                            "safetensors file",
                            (unsigned long long)*n, HN_ST_MAX_HEADER);
    }
    if (*n > len - 8) {
        return hn_error_set(err, name,
                            "truncated: the header length says %llu bytes but only %zu follow it",
                            (unsigned long long)*n, len - 8);
    }
    return 0;
}

/* The JSON header (n bytes after the prefix), an object without duplicate keys; NULL with err. */
static json_t *load_header(const unsigned char *buf, uint64_t n, const char *name,
                           struct hn_error *err)
{
    json_error_t je;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        if (json_error_code(&je) == json_error_duplicate_key) {
            hn_error_set(err, name, "the header names a tensor twice (%s, byte %d)", je.text,
                         je.position);
        } else {
            hn_error_set(err, name, "the header is not valid JSON: %s (byte %d of %llu)", je.text,
                         je.position, (unsigned long long)n);
        }
        return NULL;
    }
    if (!json_is_object(root)) {
        hn_error_set(err, name, "the header is not a JSON object");
        json_decref(root);
        return NULL;
    }
    return root;
}

static int check_metadata(json_t *v, const char *name, struct hn_error *err)
{
    const char *mk;
    json_t *mv;
    if (!json_is_object(v)) {
        return hn_error_set(err, name, "__metadata__ must be an object of strings");
    }
    json_object_foreach(v, mk, mv)
    {
        if (!json_is_string(mv)) {
            return hn_error_set(err, name, "__metadata__ '%.64s' is not a string", mk);
        }
    }
    return 0;
}

/*
 * The header's tensors in its order into t and spans (room for every entry); *count of them
 * (each with its name, owned by t) also on failure.
 */
static int parse_entries(json_t *root, uint64_t data_len, const char *name, struct hn_st_tensor *t,
                         struct span *spans, size_t *count, struct hn_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "__metadata__") == 0) {
            if (check_metadata(v, name, err) != 0) {
                return -1;
            }
            continue;
        }
        size_t i = *count;
        if (parse_entry(key, v, data_len, name, &t[i], &spans[i], err) != 0) {
            return -1;
        }
        spans[i].index = i;
        t[i].name = strdup(key);
        ++*count;
        if (t[i].name == NULL) {
            return hn_error_set(err, name, "out of memory");
        }
    }
    return 0;
}

/* The tensors (spans sorted by offset) must tile the buffer: no overlap, no hole, nothing
 * left over. */
static int check_tiling(const struct span *spans, const struct hn_st_tensor *t, size_t count,
                        uint64_t data_len, const char *name, struct hn_error *err)
{
    uint64_t pos = 0;
    for (size_t i = 0; i < count; i++) {
        const char *tname = t[spans[i].index].name;
        if (spans[i].begin < pos) {
            return hn_error_set(err, name,
                                "tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' "
                                "(which ends at %llu)",
                                tname, (unsigned long long)spans[i].begin,
                                (unsigned long long)spans[i].end, t[spans[i - 1].index].name,
                                (unsigned long long)pos);
        }
        if (spans[i].begin > pos) {
            return hn_error_set(err, name,
                                "tensor '%s': data_offsets begin %llu leaves a hole (bytes "
                                "%llu..%llu belong to no tensor)",
                                tname, (unsigned long long)spans[i].begin, (unsigned long long)pos,
                                (unsigned long long)spans[i].begin);
        }
        pos = spans[i].end;
    }
    if (pos != data_len) {
        return hn_error_set(err, name,
                            "the data buffer has %llu bytes but the tensors use %llu (trailing "
                            "data or a missing tensor)",
                            (unsigned long long)data_len, (unsigned long long)pos);
    }
    return 0;
}

/* t's values from its bytes at src: pointing into a mapping (mapped, little-endian F32,
 * aligned), else copied and converted to F32. */
static int load_tensor(struct hn_st_tensor *t, const unsigned char *src, int mapped,
                       const char *name, struct hn_error *err)
{
    if (mapped && HN_ST_LITTLE_ENDIAN && t->stored == HN_ST_F32 &&
        (uintptr_t)src % sizeof(float) == 0) {
        t->data = (float *)(uintptr_t)src; /* zero copy into the private mapping */
        t->mapped = 1;
        return 0;
    }
    t->data = malloc((t->numel ? t->numel : 1) * sizeof(float));
    if (t->data == NULL) {
        return hn_error_set(err, name, "out of memory reading tensor '%s' (%zu floats)", t->name,
                            t->numel);
    }
    if (t->stored == HN_ST_F32 && HN_ST_LITTLE_ENDIAN) {
        memcpy(t->data, src, t->numel * sizeof(float));
    } else if (t->stored == HN_ST_F32) {
        for (size_t k = 0; k < t->numel; k++) {
            uint32_t b = (uint32_t)src[4 * k] | (uint32_t)src[4 * k + 1] << 8 |
                         (uint32_t)src[4 * k + 2] << 16 | (uint32_t)src[4 * k + 3] << 24;
            memcpy(&t->data[k], &b, sizeof(b));
        }
    } else {
        float (*convert)(uint16_t) = t->stored == HN_ST_F16 ? hn_f16_to_f32 : hn_bf16_to_f32;
        for (size_t k = 0; k < t->numel; k++) {
            t->data[k] = convert((uint16_t)(src[2 * k] | src[2 * k + 1] << 8));
        }
    }
    return 0;
}

/*
 * Check buf[0..len) and fill out with the tensors in data order. mapped: F32 tensors may point
 * into buf (which then must outlive out) instead of being copied.
 */
static int parse_image(const unsigned char *buf, size_t len, const char *name, int mapped,
                       struct hn_st_file *out, struct hn_error *err)
{
    uint64_t n = 0;
    if (header_length(buf, len, name, &n, err) != 0) {
        return -1;
    }
    const unsigned char *data = buf + 8 + n;
    uint64_t data_len = len - 8 - n;
    struct span *spans = NULL;
    struct hn_st_tensor *unordered = NULL;
    size_t count = 0;
    int rc = -1;
    json_t *root = load_header(buf, n, name, err);
    if (root == NULL) {
        goto fail;
    }
    size_t entries = json_object_size(root);
    spans = calloc(entries ? entries : 1, sizeof(*spans));
    unordered = calloc(entries ? entries : 1, sizeof(*unordered));
    if (spans == NULL || unordered == NULL) {
        hn_error_set(err, name, "out of memory");
        goto fail;
    }
    if (parse_entries(root, data_len, name, unordered, spans, &count, err) != 0) {
        goto fail;
    }
    qsort(spans, count, sizeof(*spans), cmp_span);
    if (check_tiling(spans, unordered, count, data_len, name, err) != 0) {
        goto fail;
    }
    out->t = calloc(count ? count : 1, sizeof(*out->t));
    if (out->t == NULL) {
        hn_error_set(err, name, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < count; i++) {
        /* move the tensor into data order; out owns it from now on */
        struct hn_st_tensor *t = &out->t[out->n++];
        *t = unordered[spans[i].index];
        unordered[spans[i].index].name = NULL;
        if (load_tensor(t, data + spans[i].begin, mapped, name, err) != 0) {
            goto fail;
        }
    }
    rc = 0;
fail:
    if (unordered != NULL) {
        for (size_t i = 0; i < count; i++) {
            free(unordered[i].name);
        }
    }
    free(unordered);
    free(spans);
    json_decref(root);
    return rc;
}

int hn_st_parse(const unsigned char *buf, size_t len, const char *name, struct hn_st_file *out,
                struct hn_error *err)
{
    memset(out, 0, sizeof(*out));
    if (parse_image(buf, len, name, 0, out, err) != 0) {
        hn_st_free(out);
        return -1;
    }
    return 0;
}

/* Map path privately; *len 0 and *addr NULL for files too short to hold a header length. */
static int map_file(const char *path, int writable, void **addr, size_t *len, struct hn_error *err)
{
    *addr = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return hn_error_set(err, path, "cannot open: %s", hn_strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        hn_error_set(err, path, "cannot stat: %s", hn_strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        hn_error_set(err, path, "not a regular file");
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        hn_error_set(err, path, "too large for this machine");
        close(fd);
        return -1;
    }
    *len = (size_t)st.st_size;
    if (*len >= 8) {
        int prot = PROT_READ | (writable ? PROT_WRITE : 0);
        void *p = mmap(NULL, *len, prot, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            hn_error_set(err, path, "cannot map %zu bytes: %s", *len, hn_strerror(errno));
            close(fd);
            return -1;
        }
        *addr = p;
    }
    close(fd);
    return 0;
}

static int read_mapped(const char *path, int keep, struct hn_st_file *out, struct hn_error *err)
{
    memset(out, 0, sizeof(*out));
    void *addr;
    size_t len;
    if (map_file(path, keep, &addr, &len, err) != 0) {
        return -1;
    }
    static const unsigned char empty[8];
    const unsigned char *buf = addr != NULL ? addr : empty;
    int rc = parse_image(buf, len, path, keep, out, err);
    if (addr != NULL && keep && rc == 0) {
        out->map = addr;
        out->map_len = len;
        madvise(addr, len, MADV_WILLNEED);
    } else if (addr != NULL) {
        munmap(addr, len);
    }
    if (rc != 0) {
        hn_st_free(out);
    }
    return rc;
}

int hn_st_read(const char *path, struct hn_st_file *out, struct hn_error *err)
{
    return read_mapped(path, 0, out, err);
}

int hn_st_map(const char *path, struct hn_st_file *out, struct hn_error *err)
{
    return read_mapped(path, 1, out, err);
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* The JSON header for the entries, or NULL with err; *bytes is the size of the data buffer. */
static char *build_header(const char *path, const struct hn_st_write_entry *e, size_t n,
                          uint64_t *bytes, struct hn_error *err)
{
    json_t *h = json_object();
    char *text = NULL;
    uint64_t pos = 0;
    if (h == NULL || json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format", "pt"))) {
        hn_error_set(err, path, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = e[i].name;
        if (name == NULL || name[0] == '\0' || strcmp(name, "__metadata__") == 0) {
            hn_error_set(err, path, "entry %zu: tensor name '%s' is not allowed", i,
                         name ? name : "(null)");
            goto fail;
        }
        if (json_object_get(h, name) != NULL) {
            hn_error_set(err, path, "tensor '%s' is given twice", name);
            goto fail;
        }
        if (e[i].ndim > HN_ST_MAX_DIMS) {
            hn_error_set(err, path, "tensor '%s': %zu dimensions, at most %d", name, e[i].ndim,
                         HN_ST_MAX_DIMS);
            goto fail;
        }
        uint64_t numel = 1, size;
        json_t *shape = json_array();
        for (size_t d = 0; d < e[i].ndim; d++) {
            if (__builtin_mul_overflow(numel, (uint64_t)e[i].shape[d], &numel) ||
                e[i].shape[d] > (uint64_t)INT64_MAX) {
                numel = UINT64_MAX;
            }
            json_array_append_new(shape, json_integer((json_int_t)e[i].shape[d]));
        }
        if (numel == UINT64_MAX || __builtin_mul_overflow(numel, 4, &size) ||
            __builtin_add_overflow(pos, size, &size) || size > (uint64_t)INT64_MAX) {
            json_decref(shape);
            hn_error_set(err, path, "tensor '%s': the size overflows", name);
            goto fail;
        }
        if (e[i].data == NULL && numel > 0) {
            json_decref(shape);
            hn_error_set(err, path, "tensor '%s': no data", name);
            goto fail;
        }
        json_t *entry = json_pack("{s:s, s:o, s:[I,I]}", "dtype", "F32", "shape", shape,
                                  "data_offsets", (json_int_t)pos, (json_int_t)size);
        if (entry == NULL || json_object_set_new(h, name, entry) != 0) {
            hn_error_set(err, path, "tensor '%s': cannot build its header entry (not UTF-8?)",
                         name);
            goto fail;
        }
        pos = size;
    }
    text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        hn_error_set(err, path, "out of memory");
    }
    *bytes = pos;
fail:
    json_decref(h);
    return text;
}

/* Data of one entry as little-endian F32. */
static int write_floats(int fd, const float *data, size_t numel)
{
    if (HN_ST_LITTLE_ENDIAN) {
        return numel == 0 ? 0 : write_all(fd, data, numel * sizeof(float));
    }
    unsigned char chunk[4096];
    size_t k = 0;
    while (k < numel) {
        size_t m = numel - k < sizeof(chunk) / 4 ? numel - k : sizeof(chunk) / 4;
        for (size_t j = 0; j < m; j++) {
            uint32_t b;
            memcpy(&b, &data[k + j], sizeof(b));
            for (int byte = 0; byte < 4; byte++) {
                chunk[4 * j + (size_t)byte] = (unsigned char)(b >> (8 * byte));
            }
        }
        if (write_all(fd, chunk, 4 * m) != 0) {
            return -1;
        }
        k += m;
    }
    return 0;
}

/* The file's bytes to fd: the header's length (8 bytes, little endian), the header padded with
 * spaces to a multiple of 8, then each tensor's data. 0, or -1 with errno. */
static int write_contents(int fd, const char *header, const struct hn_st_write_entry *e, size_t n)
{
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    unsigned char len_le[8];
    for (int i = 0; i < 8; i++) {
        len_le[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    }
    char spaces[8];
    memset(spaces, ' ', sizeof(spaces));
    if (write_all(fd, len_le, 8) != 0 || write_all(fd, header, hl) != 0 ||
        write_all(fd, spaces, padded - hl) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t numel = 1;
        for (size_t d = 0; d < e[i].ndim; d++) {
            numel *= e[i].shape[d]; /* checked by build_header */
        }
        if (write_floats(fd, e[i].data, numel) != 0) {
            return -1;
        }
    }
    return 0;
}

/* fsync the directory that holds path, so that a rename into it survives a crash. */
static int sync_parent(const char *path, struct hn_error *err)
{
    char *dir = strdup(path);
    if (dir == NULL) {
        return hn_error_set(err, path, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
    } else {
        slash[slash == dir ? 1 : 0] = '\0';
    }
    int rc = hn_fsync_dir(dir, err);
    free(dir);
    return rc;
}

int hn_st_write(const char *path, const struct hn_st_write_entry *e, size_t n, struct hn_error *err)
{
    uint64_t bytes = 0; /* the data buffer's size (streamed, so not needed beyond checks) */
    char *text = build_header(path, e, n, &bytes, err);
    char *tmp = NULL;
    int fd = -1, rc = -1;
    if (text == NULL) {
        goto fail;
    }
    tmp = malloc(strlen(path) + sizeof(".tmp.XXXXXX"));
    if (tmp == NULL) {
        hn_error_set(err, path, "out of memory");
        goto fail;
    }
    sprintf(tmp, "%s.tmp.XXXXXX", path);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        hn_error_set(err, path, "cannot create a temporary file next to it: %s",
                     hn_strerror(errno));
        free(tmp);
        tmp = NULL;
        goto fail;
    }
    if (fchmod(fd, 0644) != 0 || write_contents(fd, text, e, n) != 0) {
        hn_error_set(err, tmp, "write failed: %s (is the disk full?)", hn_strerror(errno));
        goto fail;
    }
    if (fsync(fd) != 0) {
        hn_error_set(err, tmp, "fsync failed: %s", hn_strerror(errno));
        goto fail;
    }
    int closed = close(fd);
    fd = -1;
    if (closed != 0) {
        hn_error_set(err, tmp, "close failed: %s", hn_strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        hn_error_set(err, path, "cannot rename %s into place: %s", tmp, hn_strerror(errno));
        goto fail;
    }
    free(tmp);
    tmp = NULL;
    rc = sync_parent(path, err);
fail:
    if (fd >= 0) {
        close(fd);
    }
    if (tmp != NULL) {
        unlink(tmp);
    }
    free(tmp);
    free(text);
    return rc;
}
