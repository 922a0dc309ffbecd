/* llm/gguf.c: GGUF v3 writer (see hilnas/llm/gguf.h). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hilnas/llm/gguf.h"
#include "hilnas/util.h"

struct gguf_tensor {
    char *name;
    size_t ndim;
    uint64_t ne[HN_GGUF_MAX_DIMS];
    enum hn_gguf_dtype dtype;
    const float *data;
    uint64_t numel, bytes, offset;
};

struct hn_gguf {
    unsigned char *kv; /* serialized key-value pairs */
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    char **keys;
    size_t n_keys, keys_cap;
    uint32_t alignment;
    struct gguf_tensor *t;
    size_t n_t, t_cap;
};

struct hn_gguf *hn_gguf_new(void)
{
    struct hn_gguf *g = calloc(1, sizeof(*g));
    if (g != NULL) {
        g->alignment = HN_GGUF_ALIGNMENT;
    }
    return g;
}

void hn_gguf_free(struct hn_gguf *g)
{
    if (g == NULL) {
        return;
    }
    for (size_t i = 0; i < g->n_keys; i++) {
        free(g->keys[i]);
    }
    for (size_t i = 0; i < g->n_t; i++) {
        free(g->t[i].name);
    }
    free(g->keys);
    free(g->kv);
    free(g->t);
    free(g);
}

static int put(struct hn_gguf *g, const void *p, size_t n)
{
    if (n > SIZE_MAX - g->kv_len) {
        return -1;
    }
    if (g->kv_len + n > g->kv_cap) {
        size_t cap = g->kv_cap ? g->kv_cap : 4096;
        while (cap < g->kv_len + n) {
            if (cap > SIZE_MAX / 2) {
                return -1;
            }
            cap *= 2;
        }
        unsigned char *kv = realloc(g->kv, cap);
        if (kv == NULL) {
            return -1;
        }
        g->kv = kv;
        g->kv_cap = cap;
    }
    memcpy(g->kv + g->kv_len, p, n);
    g->kv_len += n;
    return 0;
}

/* Little-endian encoders (the host may be either). */
static int put_u32(struct hn_gguf *g, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return put(g, b, 4);
}

static int put_u64(struct hn_gguf *g, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(v >> (8 * i));
    }
    return put(g, b, 8);
}

static int put_f32(struct hn_gguf *g, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return put_u32(g, u);
}

static int put_str(struct hn_gguf *g, const char *s, size_t n)
{
    return put_u64(g, n) || put(g, s, n) ? -1 : 0;
}

/* Start a pair: check the key, remember it, write key and type. */
static int begin(struct hn_gguf *g, const char *key, enum hn_gguf_type type, struct hn_error *err)
{
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > 65535) {
        return hn_error_set(err, NULL, "GGUF key '%s': must have 1 to 65535 bytes",
                            key ? key : "(null)");
    }
    for (size_t i = 0; i < g->n_keys; i++) {
        if (strcmp(g->keys[i], key) == 0) {
            return hn_error_set(err, NULL, "GGUF key '%s' is set twice", key);
        }
    }
    if (g->n_keys == g->keys_cap) {
        size_t cap = g->keys_cap ? 2 * g->keys_cap : 32;
        char **k = realloc(g->keys, cap * sizeof(*k));
        if (k == NULL) {
            return hn_error_set(err, NULL, "out of memory");
        }
        g->keys = k;
        g->keys_cap = cap;
    }
    g->keys[g->n_keys] = strdup(key);
    if (g->keys[g->n_keys] == NULL || put_str(g, key, n) != 0 || put_u32(g, (uint32_t)type) != 0) {
        free(g->keys[g->n_keys]);
        return hn_error_set(err, NULL, "out of memory");
    }
    g->n_keys++;
    g->n_kv++;
    return 0;
}

static int oom(struct hn_error *err)
{
    return hn_error_set(err, NULL, "out of memory");
}

int hn_gguf_set_u32(struct hn_gguf *g, const char *key, uint32_t v, struct hn_error *err)
{
    if (strcmp(key, "general.alignment") == 0) {
        if (v == 0 || (v & (v - 1)) != 0) {
            return hn_error_set(err, NULL, "general.alignment %u is not a power of two", v);
        }
        g->alignment = v;
    }
    if (begin(g, key, HN_GGUF_UINT32, err) != 0) {
        return -1;
    }
    return put_u32(g, v) ? oom(err) : 0;
}

int hn_gguf_set_i32(struct hn_gguf *g, const char *key, int32_t v, struct hn_error *err)
{
    if (begin(g, key, HN_GGUF_INT32, err) != 0) {
        return -1;
    }
    return put_u32(g, (uint32_t)v) ? oom(err) : 0;
}

int hn_gguf_set_f32(struct hn_gguf *g, const char *key, float v, struct hn_error *err)
{
    if (begin(g, key, HN_GGUF_FLOAT32, err) != 0) {
        return -1;
    }
    return put_f32(g, v) ? oom(err) : 0;
}

int hn_gguf_set_bool(struct hn_gguf *g, const char *key, int v, struct hn_error *err)
{
    unsigned char b = v != 0;
    if (begin(g, key, HN_GGUF_BOOL, err) != 0) {
        return -1;
    }
    return put(g, &b, 1) ? oom(err) : 0;
}

int hn_gguf_set_str(struct hn_gguf *g, const char *key, const char *v, struct hn_error *err)
{
    if (begin(g, key, HN_GGUF_STRING, err) != 0) {
        return -1;
    }
    return put_str(g, v, strlen(v)) ? oom(err) : 0;
}

static int begin_array(struct hn_gguf *g, const char *key, enum hn_gguf_type type, size_t n,
                       struct hn_error *err)
{
    if (begin(g, key, HN_GGUF_ARRAY, err) != 0) {
        return -1;
    }
    return put_u32(g, (uint32_t)type) || put_u64(g, n) ? oom(err) : 0;
}

int hn_gguf_set_arr_i32(struct hn_gguf *g, const char *key, const int32_t *v, size_t n,
                        struct hn_error *err)
{
    if (begin_array(g, key, HN_GGUF_INT32, n, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (put_u32(g, (uint32_t)v[i]) != 0) {
            return oom(err);
        }
    }
    return 0;
}

int hn_gguf_set_arr_f32(struct hn_gguf *g, const char *key, const float *v, size_t n,
                        struct hn_error *err)
{
    if (begin_array(g, key, HN_GGUF_FLOAT32, n, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (put_f32(g, v[i]) != 0) {
            return oom(err);
        }
    }
    return 0;
}

int hn_gguf_set_arr_str(struct hn_gguf *g, const char *key, const char *const *v,
                        const size_t *lens, size_t n, struct hn_error *err)
{
    if (begin_array(g, key, HN_GGUF_STRING, n, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (put_str(g, v[i], lens ? lens[i] : strlen(v[i])) != 0) {
            return oom(err);
        }
    }
    return 0;
}

static size_t dtype_size(enum hn_gguf_dtype d)
{
    return d == HN_GGUF_F32 ? 4 : 2;
}

int hn_gguf_add_tensor(struct hn_gguf *g, const char *name, size_t ndim, const uint64_t *ne,
                       enum hn_gguf_dtype dtype, const float *data, struct hn_error *err)
{
    if (name == NULL || name[0] == '\0' || strlen(name) >= 64) {
        return hn_error_set(err, NULL, "GGUF tensor name '%s': must have 1 to 63 bytes",
                            name ? name : "(null)");
    }
    if (ndim < 1 || ndim > HN_GGUF_MAX_DIMS) {
        return hn_error_set(err, NULL, "GGUF tensor '%s': %zu dimensions (1 to %d)", name, ndim,
                            HN_GGUF_MAX_DIMS);
    }
    if (dtype != HN_GGUF_F32 && dtype != HN_GGUF_F16 && dtype != HN_GGUF_BF16) {
        return hn_error_set(err, NULL, "GGUF tensor '%s': unsupported type %d", name, (int)dtype);
    }
    for (size_t i = 0; i < g->n_t; i++) {
        if (strcmp(g->t[i].name, name) == 0) {
            return hn_error_set(err, NULL, "GGUF tensor '%s' is added twice", name);
        }
    }
    uint64_t numel = 1;
    for (size_t d = 0; d < ndim; d++) {
        if (ne[d] == 0 || numel > UINT64_MAX / ne[d] / 4) {
            return hn_error_set(err, NULL, "GGUF tensor '%s': bad size %llu in dimension %zu", name,
                                (unsigned long long)ne[d], d);
        }
        numel *= ne[d];
    }
    if (data == NULL) {
        return hn_error_set(err, NULL, "GGUF tensor '%s': no data", name);
    }
    if (g->n_t == g->t_cap) {
        size_t cap = g->t_cap ? 2 * g->t_cap : 64;
        struct gguf_tensor *t = realloc(g->t, cap * sizeof(*t));
        if (t == NULL) {
            return oom(err);
        }
        g->t = t;
        g->t_cap = cap;
    }
    struct gguf_tensor *t = &g->t[g->n_t];
    memset(t, 0, sizeof(*t));
    t->name = strdup(name);
    if (t->name == NULL) {
        return oom(err);
    }
    t->ndim = ndim;
    memcpy(t->ne, ne, ndim * sizeof(uint64_t));
    t->dtype = dtype;
    t->data = data;
    t->numel = numel;
    t->bytes = numel * dtype_size(dtype);
    g->n_t++;
    return 0;
}

uint16_t hn_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) { /* inf or NaN (a NaN keeps being a quiet NaN) */
        return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0));
    }
    if (ax >= 0x477ff000u) { /* rounds to at least 65536: infinity */
        return (uint16_t)(sign | 0x7c00u);
    }
    if (ax < 0x38800000u) { /* below the smallest normal half (2^-14): subnormal or zero */
        /* value = ax as float; subnormal half units are 2^-24 */
        float a;
        memcpy(&a, &ax, 4);
        float q = a * 16777216.0f; /* exact scaling by 2^24 */
        /* round half to even via nearbyintf in the default rounding mode */
        uint32_t m = (uint32_t)nearbyintf(q);
        return (uint16_t)(sign | m); /* m may be 0x400: the smallest normal, still correct */
    }
    uint32_t e = (ax >> 23) - 127 + 15, mant = ax & 0x7fffffu;
    uint32_t h = (e << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) {
        h++; /* may carry into the exponent: correct, and never past infinity (checked above) */
    }
    return (uint16_t)(sign | h);
}

uint16_t hn_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        return (uint16_t)((x >> 16) | 0x40u); /* NaN: keep it a (quiet) NaN */
    }
    uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)((x + rounding) >> 16);
}

/* Buffered little-endian output. */
struct out {
    FILE *f;
    int bad;
};

static void w(struct out *o, const void *p, size_t n)
{
    if (!o->bad && n > 0 && fwrite(p, 1, n, o->f) != n) {
        o->bad = 1;
    }
}

static void w_u32(struct out *o, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    w(o, b, 4);
}

static void w_u64(struct out *o, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(v >> (8 * i));
    }
    w(o, b, 8);
}

static void w_pad(struct out *o, uint64_t n)
{
    static const unsigned char zeros[256];
    while (n > 0) {
        size_t k = n > sizeof(zeros) ? sizeof(zeros) : (size_t)n;
        w(o, zeros, k);
        n -= k;
    }
}

static void w_tensor(struct out *o, const struct gguf_tensor *t)
{
    unsigned char buf[8192];
    size_t per = dtype_size(t->dtype), chunk = sizeof(buf) / per, fill = 0;
    for (uint64_t i = 0; i < t->numel; i++) {
        uint32_t u;
        if (t->dtype == HN_GGUF_F32) {
            memcpy(&u, &t->data[i], 4);
        } else {
            u = t->dtype == HN_GGUF_F16 ? hn_f32_to_f16(t->data[i]) : hn_f32_to_bf16(t->data[i]);
        }
        for (size_t b = 0; b < per; b++) {
            buf[fill * per + b] = (unsigned char)(u >> (8 * b));
        }
        if (++fill == chunk) {
            w(o, buf, fill * per);
            fill = 0;
        }
    }
    w(o, buf, fill * per);
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

int hn_gguf_write(struct hn_gguf *g, const char *path, struct hn_error *err)
{
    uint64_t a = g->alignment;
    /* offsets of the tensors in the data section */
    uint64_t off = 0;
    for (size_t i = 0; i < g->n_t; i++) {
        g->t[i].offset = off;
        off = align_up(off + g->t[i].bytes, a);
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    char *dir = strdup(path);
    if (tmp == NULL || dir == NULL) {
        free(tmp);
        free(dir);
        return oom(err);
    }
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == dir) {
        dir[1] = '\0';
    } else {
        *slash = '\0';
    }
    struct out o = {fopen(tmp, "wb"), 0};
    if (o.f == NULL) {
        hn_error_set(err, path, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        free(dir);
        return -1;
    }
    w(&o, "GGUF", 4);
    w_u32(&o, HN_GGUF_VERSION);
    w_u64(&o, g->n_t);
    w_u64(&o, g->n_kv);
    w(&o, g->kv, g->kv_len);
    uint64_t pos = 24 + g->kv_len;
    for (size_t i = 0; i < g->n_t; i++) {
        const struct gguf_tensor *t = &g->t[i];
        size_t n = strlen(t->name);
        w_u64(&o, n);
        w(&o, t->name, n);
        w_u32(&o, (uint32_t)t->ndim);
        for (size_t d = 0; d < t->ndim; d++) {
            w_u64(&o, t->ne[d]);
        }
        w_u32(&o, (uint32_t)t->dtype);
        w_u64(&o, t->offset);
        pos += 8 + n + 4 + 8 * t->ndim + 4 + 8;
    }
    w_pad(&o, align_up(pos, a) - pos);
    uint64_t data = 0;
    for (size_t i = 0; i < g->n_t && !o.bad; i++) {
        w_pad(&o, g->t[i].offset - data);
        w_tensor(&o, &g->t[i]);
        data = g->t[i].offset + g->t[i].bytes;
    }
    int e = 0;
    if (o.bad || fflush(o.f) != 0 || fsync(fileno(o.f)) != 0) {
        e = errno ? errno : EIO;
    }
    if (fclose(o.f) != 0 && e == 0) {
        e = errno;
    }
    if (e == 0 && rename(tmp, path) != 0) {
        e = errno;
    }
    if (e != 0) {
        unlink(tmp);
        hn_error_set(err, path, "writing the GGUF file failed: %s", strerror(e));
        free(tmp);
        free(dir);
        return -1;
    }
    free(tmp);
    int rc = hn_fsync_dir(dir, err);
    free(dir);
    return rc;
}
