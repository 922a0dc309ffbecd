/* llm/safetensors.c: the safetensors reader and writer (see safetensors.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "llm/safetensors.h"

float hn_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {
            /* subnormal: normalize */
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while ((mant & 0x400) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13);
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
        free(f->t[i].data);
    }
    free(f->t);
    f->t = NULL;
    f->n = 0;
}

const struct hn_st_tensor *hn_st_find(const struct hn_st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->t[i].name, name) == 0) {
            return &f->t[i];
        }
    }
    return NULL;
}

struct span {
    uint64_t begin, end;
    size_t index;
};

static int cmp_span(const void *a, const void *b)
{
    const struct span *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

int hn_st_parse(const unsigned char *buf, size_t len, const char *name, struct hn_st_file *out,
                struct hn_error *err)
{
    memset(out, 0, sizeof(*out));
    if (len < 8) {
        return hn_error_set(err, name,
                            "not a safetensors file: %zu bytes, shorter than the 8-byte header "
                            "length",
                            len);
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) {
        n = (n << 8) | buf[i];
    }
    if (n > HN_ST_MAX_HEADER) {
        return hn_error_set(err, name, "header length %llu is absurd (over %u bytes): damaged file?",
                            (unsigned long long)n, HN_ST_MAX_HEADER);
    }
    if (n > len - 8) {
        return hn_error_set(err, name,
                            "truncated: the header claims %llu bytes but the file has %zu after "
                            "the length",
                            (unsigned long long)n, len - 8);
    }
    const unsigned char *data = buf + 8 + n;
    uint64_t data_len = len - 8 - n;
    json_error_t je;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL || !json_is_object(root)) {
        hn_error_set(err, name, "the header is not a JSON object (%s at byte %d)",
                     root ? "not an object" : je.text, root ? 0 : je.position);
        json_decref(root);
        return -1;
    }
    size_t count = json_object_size(root);
    struct span *spans = calloc(count ? count : 1, sizeof(*spans));
    out->t = calloc(count ? count : 1, sizeof(*out->t));
    int rc = -1;
    if (spans == NULL || out->t == NULL) {
        hn_error_set(err, name, "out of memory");
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(v)) {
                hn_error_set(err, name, "__metadata__ must be an object of strings");
                goto done;
            }
            continue;
        }
        struct hn_st_tensor *t = &out->t[out->n];
        if (!json_is_object(v)) {
            hn_error_set(err, name, "tensor '%s': entry is not an object", key);
            goto done;
        }
        const char *dtype = json_string_value(json_object_get(v, "dtype"));
        json_t *shape = json_object_get(v, "shape"), *offs = json_object_get(v, "data_offsets");
        size_t item;
        if (dtype == NULL) {
            hn_error_set(err, name, "tensor '%s': missing dtype", key);
            goto done;
        } else if (strcmp(dtype, "F32") == 0) {
            t->stored = HN_ST_F32;
            item = 4;
        } else if (strcmp(dtype, "F16") == 0) {
            t->stored = HN_ST_F16;
            item = 2;
        } else if (strcmp(dtype, "BF16") == 0) {
            t->stored = HN_ST_BF16;
            item = 2;
        } else {
            hn_error_set(err, name, "tensor '%s': dtype '%s' is not supported (F32, F16, BF16)",
                         key, dtype);
            goto done;
        }
        if (!json_is_array(shape) || json_array_size(shape) > HN_ST_MAX_DIMS) {
            hn_error_set(err, name, "tensor '%s': shape must be a list of at most %d integers",
                         key, HN_ST_MAX_DIMS);
            goto done;
        }
        uint64_t numel = 1;
        t->ndim = json_array_size(shape);
        for (size_t d = 0; d < t->ndim; d++) {
            json_t *dim = json_array_get(shape, d);
            if (!json_is_integer(dim) || json_integer_value(dim) < 0) {
                hn_error_set(err, name, "tensor '%s': shape[%zu] is not a non-negative integer",
                             key, d);
                goto done;
            }
            uint64_t s = (uint64_t)json_integer_value(dim);
            if (s != 0 && numel > UINT64_MAX / s) {
                hn_error_set(err, name, "tensor '%s': shape overflows", key);
                goto done;
            }
            numel *= s;
            t->shape[d] = (size_t)s;
        }
        if (numel > UINT64_MAX / item) {
            hn_error_set(err, name, "tensor '%s': size overflows", key);
            goto done;
        }
        if (!json_is_array(offs) || json_array_size(offs) != 2 ||
            !json_is_integer(json_array_get(offs, 0)) ||
            !json_is_integer(json_array_get(offs, 1)) ||
            json_integer_value(json_array_get(offs, 0)) < 0 ||
            json_integer_value(json_array_get(offs, 1)) < 0) {
            hn_error_set(err, name, "tensor '%s': data_offsets must be [begin, end] integers", key);
            goto done;
        }
        uint64_t begin = (uint64_t)json_integer_value(json_array_get(offs, 0));
        uint64_t end = (uint64_t)json_integer_value(json_array_get(offs, 1));
        if (end < begin) {
            hn_error_set(err, name, "tensor '%s': data_offsets end %llu before begin %llu", key,
                         (unsigned long long)end, (unsigned long long)begin);
            goto done;
        }
        if (end - begin != numel * item) {
            hn_error_set(err, name,
                         "tensor '%s': %llu bytes at data_offsets, but its shape and dtype need "
                         "%llu",
                         key, (unsigned long long)(end - begin),
                         (unsigned long long)(numel * item));
            goto done;
        }
        if (end > data_len) {
            hn_error_set(err, name,
                         "tensor '%s': data_offsets end %llu is beyond the %llu-byte data "
                         "buffer (truncated file?)",
                         key, (unsigned long long)end, (unsigned long long)data_len);
            goto done;
        }
        if (numel > SIZE_MAX / sizeof(float)) {
            hn_error_set(err, name, "tensor '%s': too large for this machine", key);
            goto done;
        }
        t->name = strdup(key);
        t->numel = (size_t)numel;
        spans[out->n].begin = begin;
        spans[out->n].end = end;
        spans[out->n].index = out->n;
        out->n++;
        if (t->name == NULL) {
            hn_error_set(err, name, "out of memory");
            goto done;
        }
    }
    /* contiguous, no holes, no overlaps, the whole buffer used */
    qsort(spans, out->n, sizeof(*spans), cmp_span);
    uint64_t pos = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (spans[i].begin != pos) {
            hn_error_set(err, name, "tensor '%s': data %s at offset %llu (expected %llu)",
                         out->t[spans[i].index].name,
                         spans[i].begin < pos ? "overlaps another tensor" : "leaves a hole",
                         (unsigned long long)spans[i].begin, (unsigned long long)pos);
            goto done;
        }
        pos = spans[i].end;
    }
    if (pos != data_len) {
        hn_error_set(err, name, "the data buffer has %llu bytes but the tensors use %llu",
                     (unsigned long long)data_len, (unsigned long long)pos);
        goto done;
    }
    for (size_t i = 0; i < out->n; i++) {
        struct hn_st_tensor *t = &out->t[spans[i].index];
        const unsigned char *src = data + spans[i].begin;
        t->data = malloc((t->numel ? t->numel : 1) * sizeof(float));
        if (t->data == NULL) {
            hn_error_set(err, name, "out of memory reading tensor '%s'", t->name);
            goto done;
        }
        for (size_t k = 0; k < t->numel; k++) {
            if (t->stored == HN_ST_F32) {
                uint32_t b = (uint32_t)src[4 * k] | (uint32_t)src[4 * k + 1] << 8 |
                             (uint32_t)src[4 * k + 2] << 16 | (uint32_t)src[4 * k + 3] << 24;
                memcpy(&t->data[k], &b, 4);
            } else {
                uint16_t h = (uint16_t)(src[2 * k] | src[2 * k + 1] << 8);
                t->data[k] = t->stored == HN_ST_F16 ? hn_f16_to_f32(h) : hn_bf16_to_f32(h);
            }
        }
    }
    rc = 0;
done:
    if (rc != 0) {
        hn_st_free(out);
    }
    free(spans);
    json_decref(root);
    return rc;
}

int hn_st_read(const char *path, struct hn_st_file *out, struct hn_error *err)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return hn_error_set(err, path, "cannot open: %s", strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return hn_error_set(err, path, "cannot stat: %s", strerror(errno));
    }
    size_t len = (size_t)st.st_size;
    unsigned char *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        fclose(f);
        return hn_error_set(err, path, "out of memory (%zu bytes)", len);
    }
    size_t got = fread(buf, 1, len, f);
    fclose(f);
    int rc = hn_st_parse(buf, got, path, out, err);
    free(buf);
    return rc;
}

int hn_st_write(const char *path, const struct hn_st_write_entry *e, size_t n,
                struct hn_error *err)
{
    json_t *h = json_object();
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t numel = 1;
        json_t *shape = json_array();
        for (size_t d = 0; d < e[i].ndim; d++) {
            json_array_append_new(shape, json_integer((json_int_t)e[i].shape[d]));
            numel *= e[i].shape[d];
        }
        json_object_set_new(h, e[i].name,
                            json_pack("{s:s, s:o, s:[I,I]}", "dtype", "F32", "shape", shape,
                                      "data_offsets", (json_int_t)pos,
                                      (json_int_t)(pos + 4 * numel)));
        pos += 4 * numel;
    }
    json_object_set_new(h, "__metadata__", json_pack("{s:s}", "format", "pt"));
    char *text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    if (text == NULL) {
        return hn_error_set(err, path, "out of memory");
    }
    size_t hl = strlen(text), padded = (hl + 7) / 8 * 8;
    size_t total = 8 + padded + (size_t)pos;
    unsigned char *buf = malloc(total);
    if (buf == NULL) {
        free(text);
        return hn_error_set(err, path, "out of memory (%zu bytes)", total);
    }
    for (int i = 0; i < 8; i++) {
        buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    }
    memcpy(buf + 8, text, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    free(text);
    unsigned char *p = buf + 8 + padded;
    for (size_t i = 0; i < n; i++) {
        size_t numel = 1;
        for (size_t d = 0; d < e[i].ndim; d++) {
            numel *= e[i].shape[d];
        }
        for (size_t k = 0; k < numel; k++) {
            uint32_t b;
            memcpy(&b, &e[i].data[k], 4);
            p[0] = (unsigned char)b;
            p[1] = (unsigned char)(b >> 8);
            p[2] = (unsigned char)(b >> 16);
            p[3] = (unsigned char)(b >> 24);
            p += 4;
        }
    }
    int rc = hn_write_file_atomic(path, (const char *)buf, total, err);
    free(buf);
    return rc;
}
