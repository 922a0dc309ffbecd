/*
 * safetensors: bit-exact round trips, files as the Python library writes them, F16/BF16
 * against an independent decoder, every malformed-file row, writer refusals, and a seeded
 * mutation loop that must never crash (run it under ASan).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/llm/safetensors.h"
#include "hilnas/rng.h"
#include "tests/core/testutil.h"

static float from_bits(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof(f));
    return f;
}

static uint32_t bits_of(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof(b));
    return b;
}

static char *tmp_file(const char *tag, const char *name)
{
    char *dir = tu_tmpdir(tag);
    cr_assert_not_null(dir);
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    free(dir);
    return path;
}

static void write_bytes(const char *path, const unsigned char *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(*len + 1);
    cr_assert_eq(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}

/* A file image: the 8-byte length of header, header, then data (data_len bytes, may be NULL). */
static unsigned char *image(const char *header, const void *data, size_t data_len, size_t *len)
{
    size_t hl = strlen(header);
    *len = 8 + hl + data_len;
    unsigned char *buf = calloc(1, *len + 1);
    put_le64(buf, hl);
    memcpy(buf + 8, header, hl);
    if (data != NULL) {
        memcpy(buf + 8 + hl, data, data_len);
    }
    return buf;
}

/* Edge values: zeros of both signs, subnormals, extremes, infinities, NaNs with payloads. */
static const uint32_t edge_bits[] = {
    0x00000000, 0x80000000, 0x00000001, 0x807fffff, 0x00800000, 0x7f7fffff,
    0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001 /* signalling */,
    0x7fbfffff, 0x3f800000, 0x3eaaaaab, 0xc0490fdb,
};
#define N_EDGE (sizeof(edge_bits) / sizeof(edge_bits[0]))

Test(safetensors, round_trip_is_bit_exact_through_read_and_map)
{
    char *path = tmp_file("st", "model.safetensors");
    float edge[N_EDGE];
    for (size_t i = 0; i < N_EDGE; i++) {
        edge[i] = from_bits(edge_bits[i]);
    }
    enum { R = 3, C = 1000 };
    float *big = malloc(R * C * sizeof(float));
    struct hn_rng rng;
    hn_rng_seed(&rng, 11);
    for (size_t i = 0; i < R * C; i++) {
        big[i] = from_bits((uint32_t)hn_rng_next(&rng)); /* any bit pattern at all */
    }
    float scalar = 2.5f;
    /* given order: not sorted by name, with a scalar and an empty tensor */
    struct hn_st_write_entry e[] = {
        {"z.edge", 2, {4, 4}, edge},
        {"a.big", 2, {R, C}, big},
        {"m.scalar", 0, {0}, &scalar},
        {"m.empty", 3, {2, 0, 5}, NULL},
    };
    struct hn_error err;
    cr_assert_eq(hn_st_write(path, e, 4, &err), 0, "%s", err.msg);
    for (int mode = 0; mode < 2; mode++) {
        struct hn_st_file f;
        int rc = mode == 0 ? hn_st_read(path, &f, &err) : hn_st_map(path, &f, &err);
        cr_assert_eq(rc, 0, "%s", err.msg);
        cr_assert_eq(f.n, 4);
        /* data order, which is the given order */
        cr_expect_str_eq(f.t[0].name, "z.edge");
        cr_expect_str_eq(f.t[1].name, "a.big");
        const struct hn_st_tensor *t = hn_st_find(&f, "z.edge");
        cr_assert_not_null(t);
        cr_expect(t->ndim == 2 && t->shape[0] == 4 && t->shape[1] == 4 && t->numel == 16);
        cr_expect_eq(t->stored, HN_ST_F32);
        for (size_t i = 0; i < N_EDGE; i++) {
            cr_expect_eq(bits_of(t->data[i]), edge_bits[i], "mode %d edge %zu: %#x", mode, i,
                         bits_of(t->data[i]));
        }
        t = hn_st_find(&f, "a.big");
        cr_assert_not_null(t);
        cr_expect_eq(memcmp(t->data, big, sizeof(float) * R * C), 0, "mode %d: bit exact", mode);
        cr_expect_eq(t->mapped, mode == 1, "only hn_st_map borrows F32 data");
        t = hn_st_find(&f, "m.scalar");
        cr_expect(t != NULL && t->ndim == 0 && t->numel == 1 && t->data[0] == 2.5f);
        t = hn_st_find(&f, "m.empty");
        cr_expect(t != NULL && t->ndim == 3 && t->numel == 0 && t->shape[2] == 5);
        cr_expect_null(hn_st_find(&f, "c"));
        if (mode == 1) {
            /* the mapping is private: writing to it leaves the file alone */
            float *w = (float *)hn_st_find(&f, "a.big")->data;
            w[0] = 42.0f;
        }
        hn_st_free(&f);
        hn_st_free(&f); /* a freed struct is empty */
        cr_expect(f.n == 0 && f.t == NULL && f.map == NULL);
    }
    struct hn_st_file f;
    cr_assert_eq(hn_st_read(path, &f, &err), 0, "%s", err.msg);
    cr_expect_eq(bits_of(hn_st_find(&f, "a.big")->data[0]), bits_of(big[0]));
    hn_st_free(&f);

    /* the bytes on disk, checked by hand */
    size_t len;
    unsigned char *raw = read_bytes(path, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) {
        hl = hl << 8 | raw[i];
    }
    cr_expect_eq(hl % 8, 0, "header padded to a multiple of 8");
    cr_expect_eq(len, 8 + hl + 4 * (16 + R * C + 1), "file size");
    size_t text = hl;
    while (text > 0 && raw[8 + text - 1] == ' ') {
        text--;
    }
    cr_expect(hl - text < 8, "at most 7 spaces of padding");
    cr_expect(memcmp(raw + 8, "{\"__metadata__\":{\"format\":\"pt\"},\"z.edge\":", 40) == 0,
              "metadata first, then the tensors in the given order");
    json_error_t je;
    json_t *h = json_loadb((const char *)raw + 8, (size_t)hl, 0, &je);
    cr_assert_not_null(h, "%s", je.text);
    json_t *off = json_object_get(json_object_get(h, "a.big"), "data_offsets");
    cr_expect_eq(json_integer_value(json_array_get(off, 0)), 64);
    cr_expect_eq(json_integer_value(json_array_get(off, 1)), 64 + 4 * R * C);
    off = json_object_get(json_object_get(h, "m.empty"), "data_offsets");
    cr_expect_eq(json_integer_value(json_array_get(off, 0)), 64 + 4 * R * C + 4);
    cr_expect_eq(json_integer_value(json_array_get(off, 1)), 64 + 4 * R * C + 4);
    json_decref(h);
    /* little-endian data whatever the host: 1.0f at edge index 13 is 00 00 80 3f */
    const unsigned char *one = raw + 8 + hl + 4 * 13;
    cr_expect(one[0] == 0 && one[1] == 0 && one[2] == 0x80 && one[3] == 0x3f);
    free(raw);

    /* rewriting replaces the file and leaves no temporary file behind */
    e[1].shape[0] = 1;
    cr_assert_eq(hn_st_write(path, e, 4, &err), 0, "%s", err.msg);
    cr_assert_eq(hn_st_read(path, &f, &err), 0, "%s", err.msg);
    cr_expect_eq(hn_st_find(&f, "a.big")->numel, C);
    hn_st_free(&f);
    char *dir = strdup(path);
    *strrchr(dir, '/') = '\0';
    DIR *d = opendir(dir);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d)) != NULL) {
        files += de->d_name[0] != '.';
    }
    closedir(d);
    cr_expect_eq(files, 1, "only model.safetensors in %s", dir);
    free(dir);
    free(big);
    free(path);
}

/*
 * What the Python library writes for save_file({"test": torch.zeros((2, 2))}, path): the
 * header JSON compact, no metadata, padded with spaces to a multiple of 8 bytes.
 */
Test(safetensors, reads_files_as_the_python_library_writes_them)
{
    static const char header[] =
        "{\"test\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}"
        "    ";
    cr_assert_eq(sizeof(header) - 1, 64);
    unsigned char buf[8 + 64 + 16] = {64, 0, 0, 0, 0, 0, 0, 0};
    memcpy(buf + 8, header, 64);
    /* 1.0, -2.0, 0.5, 3.0 little-endian */
    static const unsigned char data[16] = {0, 0, 0x80, 0x3f, 0, 0, 0,    0xc0,
                                           0, 0, 0,    0x3f, 0, 0, 0x40, 0x40};
    memcpy(buf + 72, data, 16);
    char *path = tmp_file("stpy", "model.safetensors");
    write_bytes(path, buf, sizeof(buf));
    struct hn_st_file f;
    struct hn_error err;
    for (int mode = 0; mode < 2; mode++) {
        int rc = mode == 0 ? hn_st_read(path, &f, &err) : hn_st_map(path, &f, &err);
        cr_assert_eq(rc, 0, "%s", err.msg);
        cr_assert_eq(f.n, 1);
        cr_expect_str_eq(f.t[0].name, "test");
        cr_expect(f.t[0].ndim == 2 && f.t[0].shape[0] == 2 && f.t[0].shape[1] == 2);
        cr_expect(f.t[0].data[0] == 1.0f && f.t[0].data[1] == -2.0f && f.t[0].data[2] == 0.5f &&
                  f.t[0].data[3] == 3.0f);
        hn_st_free(&f);
    }
    /* F16 and BF16 tensors with metadata, as torch.float16 / torch.bfloat16 are saved */
    static const char h2[] = "{\"__metadata__\":{\"format\":\"pt\"},"
                             "\"bf\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]},"
                             "\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[6,14]}}";
    /* bf16: 1.0 = 3f80, pi ~ 4049 = 3.140625, -inf = ff80; f16: 65504 = 7bff, 2^-24 = 0001,
     * -2 = c000, 1/3 ~ 3555 = 0.333251953125 */
    static const unsigned char d2[14] = {0x80, 0x3f, 0x49, 0x40, 0x80, 0xff, 0xff,
                                         0x7b, 0x01, 0x00, 0x00, 0xc0, 0x55, 0x35};
    size_t len;
    unsigned char *img = image(h2, d2, sizeof(d2), &len);
    write_bytes(path, img, len);
    free(img);
    cr_assert_eq(hn_st_map(path, &f, &err), 0, "%s", err.msg);
    const struct hn_st_tensor *bf = hn_st_find(&f, "bf"), *h = hn_st_find(&f, "h");
    cr_assert(bf != NULL && h != NULL);
    cr_expect(bf->stored == HN_ST_BF16 && h->stored == HN_ST_F16 && !bf->mapped && !h->mapped);
    cr_expect(bf->data[0] == 1.0f && bf->data[1] == 3.140625f && bf->data[2] == -INFINITY);
    cr_expect(h->data[0] == 65504.0f && h->data[1] == ldexpf(1, -24) && h->data[2] == -2.0f &&
              h->data[3] == 0.333251953125f);
    hn_st_free(&f);
    free(path);
}

/* Independent decoders: value = significand * 2^exponent by ldexp, from the format tables. */
static double decode_by_ldexp(uint16_t h, int exp_bits, int mant_bits)
{
    int bias = (1 << (exp_bits - 1)) - 1, emax = (1 << exp_bits) - 1;
    int s = h >> 15, e = (h >> mant_bits) & emax, m = h & ((1 << mant_bits) - 1);
    double v;
    if (e == 0) {
        v = ldexp(m, 1 - bias - mant_bits);
    } else if (e == emax) {
        v = m ? NAN : INFINITY;
    } else {
        v = ldexp((1 << mant_bits) + m, e - bias - mant_bits);
    }
    return s ? -v : v;
}

Test(safetensors, half_and_bfloat16_convert_exactly_for_all_bit_patterns)
{
    for (uint32_t h = 0; h < 65536; h++) {
        for (int kind = 0; kind < 2; kind++) {
            float got = kind == 0 ? hn_f16_to_f32((uint16_t)h) : hn_bf16_to_f32((uint16_t)h);
            double want = kind == 0 ? decode_by_ldexp((uint16_t)h, 5, 10)
                                    : decode_by_ldexp((uint16_t)h, 8, 7);
            if (isnan(want)) {
                cr_assert(isnan(got), "%s %#x: %g is not NaN", kind ? "bf16" : "f16", h, got);
                /* the payload and sign survive, quiet bit included */
                uint32_t mant = kind == 0 ? (h & 0x3ff) << 13 : (h & 0x7f) << 16;
                cr_assert_eq(bits_of(got), (h >> 15) << 31 | 0x7f800000u | mant, "%#x", h);
            } else {
                cr_assert((double)got == want, "%s %#x: %.9g, expected %.9g", kind ? "bf16" : "f16",
                          h, got, want);
                cr_assert_eq(!!signbit(got), h >> 15, "%#x keeps its sign", h);
            }
        }
    }
}

struct bad_row {
    const char *header;
    size_t data;
    const char *expect;
};

static const struct bad_row bad_rows[] = {
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "not valid JSON"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},,}", 8, "not valid JSON"},
    {"[1,2]", 0, "not a JSON object"},
    {"{\"a\":5}", 0, "tensor 'a': entry is not an object"},
    {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'a': dtype is missing"},
    {"{\"a\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'a': dtype is not"},
    {"{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
     "tensor 'a': dtype 'I64' is not supported"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, "tensor 'a': shape must"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
     "at most 8"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0,
     "tensor 'a': shape[0] is not a non-negative integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2.5],\"data_offsets\":[0,8]}}", 8, "shape[1]"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
     "tensor 'a': the number of elements overflows"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}", 8,
     "tensor 'a': its size in bytes overflows"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "tensor 'a': data_offsets must be a pair"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "must be a pair"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,16]}}", 8, "must be a pair"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]}}", 8, "must be a pair"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, "must be a pair"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
     "tensor 'a': data_offsets end 0 is before begin 8"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
     "tensor 'a': data_offsets [0, 8] hold 8 bytes, but its shape and dtype F32 need 12"},
    {"{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "F16 need 4"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
     "tensor 'a': data_offsets end 8 is beyond the 4-byte data buffer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[18446744073709551600,"
     "18446744073709551608]}}",
     8, "not valid JSON"}, /* beyond int64: jansson refuses the number */
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, "tensor 'b': data_offsets [4, 12] overlap tensor 'a'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     8, "overlap"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16,
     "tensor 'a': data_offsets begin 8 leaves a hole"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
     12, "tensor 'b': data_offsets begin 8 leaves a hole"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
     "the data buffer has 8 bytes but the tensors use 4"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
     16, "names a tensor twice"},
    {"{\"__metadata__\":[],\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 0,
     "__metadata__ must be an object"},
    {"{\"__metadata__\":{\"format\":1}}", 0, "__metadata__ 'format' is not a string"},
};

Test(safetensors, malformed_headers_are_refused_with_the_reason)
{
    char *path = tmp_file("stbad", "bad.safetensors");
    for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
        size_t len;
        unsigned char *buf = image(bad_rows[i].header, NULL, bad_rows[i].data, &len);
        struct hn_st_file f;
        struct hn_error err;
        hn_error_clear(&err);
        cr_expect_eq(hn_st_parse(buf, len, "img", &f, &err), -1, "row %zu accepted", i);
        cr_expect(f.n == 0 && f.t == NULL, "row %zu: out left empty", i);
        cr_expect(strstr(err.msg, bad_rows[i].expect) != NULL, "row %zu: expected '%s' in: %s", i,
                  bad_rows[i].expect, err.msg);
        /* the same through a file, read and mapped: the message starts with the path */
        write_bytes(path, buf, len);
        for (int mode = 0; mode < 2; mode++) {
            hn_error_clear(&err);
            int rc = mode == 0 ? hn_st_read(path, &f, &err) : hn_st_map(path, &f, &err);
            cr_expect_eq(rc, -1, "row %zu mode %d accepted", i, mode);
            cr_expect(strncmp(err.msg, path, strlen(path)) == 0 &&
                          strstr(err.msg, bad_rows[i].expect) != NULL,
                      "row %zu mode %d: %s", i, mode, err.msg);
            hn_st_free(&f);
        }
        free(buf);
    }
    free(path);
}

Test(safetensors, truncated_and_absurd_lengths_are_refused)
{
    size_t len;
    float v[4] = {0, 1, 2, 3};
    unsigned char *buf = image(
        "{\"test\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", v, 16, &len);
    struct hn_st_file f;
    struct hn_error err;
    cr_assert_eq(hn_st_parse(buf, len, "ok", &f, &err), 0, "%s", err.msg);
    hn_st_free(&f);
    struct {
        size_t cut;
        uint64_t header_len; /* 0: keep */
        const char *expect;
    } rows[] = {
        {0, 0, "shorter than the 8-byte header length"},
        {5, 0, "shorter than the 8-byte header length"},
        {8, 0, "truncated: the header length says 60 bytes but only 0 follow it"},
        {20, 0, "truncated"},
        {len - 1, 0, "tensor 'test': data_offsets end 16 is beyond the 15-byte data buffer"},
        {len - 16, 0, "beyond the 0-byte data buffer"},
        {len, 62, "not valid JSON"},          /* one data byte read as header */
        {len, 59, "not valid JSON"},          /* header loses its last brace */
        {len, len - 7, "truncated"},          /* one byte more than the file */
        {len, 200u << 20, "absurd"},          /* 200 MB */
        {len, UINT64_MAX, "absurd"},          /* would overflow 8 + n */
        {len, UINT64_MAX - 7, "absurd"},      /* 8 + n wraps to 0 */
        {len, (uint64_t)1 << 63, "absurd"},   /* negative as int64 */
        {len, HN_ST_MAX_HEADER + 1, "absurd"} /* just over the limit */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        unsigned char *copy = malloc(len);
        memcpy(copy, buf, len);
        if (rows[i].header_len != 0) {
            put_le64(copy, rows[i].header_len);
        }
        hn_error_clear(&err);
        cr_expect_eq(hn_st_parse(copy, rows[i].cut, "t", &f, &err), -1, "row %zu accepted", i);
        cr_expect(strstr(err.msg, rows[i].expect) != NULL, "row %zu: expected '%s' in: %s", i,
                  rows[i].expect, err.msg);
        free(copy);
    }
    /* an empty file, a directory and a missing file through the path readers */
    char *path = tmp_file("sttrunc", "empty.safetensors");
    write_bytes(path, buf, 0);
    cr_expect_eq(hn_st_read(path, &f, &err), -1);
    cr_expect(strstr(err.msg, "shorter than the 8-byte") != NULL, "%s", err.msg);
    cr_expect_eq(hn_st_map(path, &f, &err), -1);
    *strrchr(path, '/') = '\0';
    cr_expect_eq(hn_st_read(path, &f, &err), -1);
    cr_expect(strstr(err.msg, "not a regular file") != NULL, "%s", err.msg);
    cr_expect_eq(hn_st_read("/nonexistent/model.safetensors", &f, &err), -1);
    cr_expect(strstr(err.msg, "/nonexistent/model.safetensors: cannot open") != NULL, "%s",
              err.msg);
    free(path);
    free(buf);
}

Test(safetensors, writer_refuses_bad_entries)
{
    char *path = tmp_file("stw", "w.safetensors");
    float x[4] = {1, 2, 3, 4};
    struct {
        struct hn_st_write_entry e[2];
        size_t n;
        const char *expect;
    } rows[] = {
        {{{"a", 1, {4}, x}, {"a", 1, {4}, x}}, 2, "tensor 'a' is given twice"},
        {{{"__metadata__", 1, {4}, x}}, 1, "not allowed"},
        {{{"", 1, {4}, x}}, 1, "not allowed"},
        {{{NULL, 1, {4}, x}}, 1, "not allowed"},
        {{{"a", 9, {1}, x}}, 1, "9 dimensions, at most 8"},
        {{{"a", 2, {(size_t)1 << 62, 8}, x}}, 1, "the size overflows"},
        {{{"a", 1, {(size_t)1 << 62}, x}}, 1, "the size overflows"},
        {{{"a", 1, {4}, NULL}}, 1, "tensor 'a': no data"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct hn_error err;
        hn_error_clear(&err);
        cr_expect_eq(hn_st_write(path, rows[i].e, rows[i].n, &err), -1, "row %zu accepted", i);
        cr_expect(strstr(err.msg, rows[i].expect) != NULL, "row %zu: expected '%s' in: %s", i,
                  rows[i].expect, err.msg);
        FILE *f = fopen(path, "rb");
        cr_expect_null(f, "row %zu: nothing written", i);
        if (f != NULL) {
            fclose(f);
        }
    }
    struct hn_st_write_entry ok = {"a", 1, {4}, x};
    struct hn_error err;
    cr_expect_eq(hn_st_write("/nonexistent/dir/w.safetensors", &ok, 1, &err), -1);
    cr_expect(strstr(err.msg, "/nonexistent/dir/w.safetensors") != NULL, "%s", err.msg);
    /* no tensors at all is a valid (empty) file */
    cr_assert_eq(hn_st_write(path, NULL, 0, &err), 0, "%s", err.msg);
    struct hn_st_file f;
    cr_assert_eq(hn_st_read(path, &f, &err), 0, "%s", err.msg);
    cr_expect_eq(f.n, 0);
    hn_st_free(&f);
    free(path);
}

/* Checks that an accepted mutant is self-consistent: tensors tile the data buffer. */
static void check_accepted(const struct hn_st_file *f, size_t len)
{
    size_t bytes = 0;
    for (size_t t = 0; t < f->n; t++) {
        size_t item = f->t[t].stored == HN_ST_F32 ? 4 : 2;
        size_t numel = 1;
        for (size_t d = 0; d < f->t[t].ndim; d++) {
            numel *= f->t[t].shape[d];
        }
        cr_assert_eq(numel, f->t[t].numel);
        bytes += numel * item;
        volatile float sink = 0;
        for (size_t k = 0; k < f->t[t].numel; k++) {
            sink += f->t[t].data[k]; /* every element readable (ASan checks the bounds) */
        }
        (void)sink;
    }
    cr_assert_leq(bytes, len);
}

Test(safetensors, random_mutations_never_crash)
{
    /* a valid file with all three dtypes and metadata */
    static const char header[] =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        "\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[32,36]}}";
    unsigned char data[36];
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (unsigned char)(i * 29 + 3);
    }
    size_t len;
    unsigned char *orig = image(header, data, sizeof(data), &len);
    struct hn_st_file f;
    struct hn_error err;
    cr_assert_eq(hn_st_parse(orig, len, "orig", &f, &err), 0, "%s", err.msg);
    hn_st_free(&f);
    size_t hl = strlen(header);
    struct hn_rng rng;
    hn_rng_seed(&rng, 20261125);
    int accepted = 0, trials = 6000;
    for (int i = 0; i < trials; i++) {
        /* a fresh exact-size allocation, so ASan sees any read past the end */
        size_t cut = hn_rng_below(&rng, 8) == 0 ? (size_t)hn_rng_below(&rng, len + 1) : len;
        unsigned char *buf = malloc(cut ? cut : 1);
        memcpy(buf, orig, cut);
        int flips = 1 + (int)hn_rng_below(&rng, 4);
        for (int k = 0; k < flips && cut > 0; k++) {
            /* mostly the header (where the structure is), sometimes the length or the data */
            uint64_t where = hn_rng_below(&rng, 10);
            size_t pos = where < 7   ? 8 + (size_t)hn_rng_below(&rng, hl)
                         : where < 8 ? (size_t)hn_rng_below(&rng, 8)
                                     : (size_t)hn_rng_below(&rng, len);
            if (pos >= cut) {
                continue;
            }
            if (hn_rng_below(&rng, 2) == 0) {
                buf[pos] ^= (unsigned char)(1u << hn_rng_below(&rng, 8));
            } else {
                /* a structural character or digit, to reach deeper checks */
                static const char pick[] = "0123456789[]{},:\"-";
                buf[pos] = (unsigned char)pick[hn_rng_below(&rng, sizeof(pick) - 1)];
            }
        }
        hn_error_clear(&err);
        if (hn_st_parse(buf, cut, "fuzz", &f, &err) == 0) {
            accepted++;
            check_accepted(&f, cut);
            hn_st_free(&f);
        } else {
            cr_assert(err.msg[0] != '\0' && strncmp(err.msg, "fuzz: ", 6) == 0, "mutant %d: '%s'",
                      i, err.msg);
            cr_assert(f.n == 0 && f.t == NULL);
        }
        free(buf);
    }
    cr_log_info("%d of %d mutants still parse", accepted, trials);
    cr_expect(accepted > 0 && accepted < trials, "the mutations reach both outcomes");
    free(orig);
}
