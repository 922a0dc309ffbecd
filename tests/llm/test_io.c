/* llm input/output: config.json, safetensors (well-formed, malformed, fuzzed), byte tokens,
 * and `hilnas tokenize`. */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/rng.h"
#include "llm/llm_config.h"
#include "llm/safetensors.h"
#include "llm/tokens.h"
#include "tests/core/testutil.h"

Test(llm_config, round_trip_and_hugging_face_defaults)
{
    char *dir = tu_tmpdir("cfg");
    char path[4200];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    struct hn_llm_config c, r;
    struct hn_error err;
    hn_llm_config_default(&c);
    c.num_hidden_layers = 3;
    c.num_attention_heads = 6;
    c.num_key_value_heads = 2;
    c.head_dim = 10;
    c.attention_layers[1] = 0;
    c.tie_word_embeddings = 0;
    c.rope_theta = 500000;
    cr_assert_eq(hn_llm_config_write(path, &c, &err), 0, "%s", err.msg);
    cr_assert_eq(hn_llm_config_read(path, &r, &err), 0, "%s", err.msg);
    cr_expect_eq(r.num_hidden_layers, 3);
    cr_expect_eq(r.num_key_value_heads, 2);
    cr_expect_eq(r.head_dim, 10);
    cr_expect(r.attention_layers[0] == 1 && r.attention_layers[1] == 0 && r.attention_layers[2] == 1);
    cr_expect_eq(r.tie_word_embeddings, 0);
    cr_expect_float_eq(r.rope_theta, 500000, 1e-9);
    char *text = tu_read_file(path);
    cr_expect(strstr(text, "LlamaForCausalLM") != NULL);
    free(text);
    /* a minimal HF config: head_dim and KV heads default, attention everywhere */
    tu_write_file(path, "{\"hidden_size\": 64, \"intermediate_size\": 172, \"num_hidden_layers\": 2,"
                        " \"num_attention_heads\": 8, \"vocab_size\": 256, \"torch_dtype\": \"bfloat16\"}");
    cr_assert_eq(hn_llm_config_read(path, &r, &err), 0, "%s", err.msg);
    cr_expect_eq(r.head_dim, 8);
    cr_expect_eq(r.num_key_value_heads, 8);
    cr_expect(r.attention_layers[0] && r.attention_layers[1]);
    struct {
        const char *json;
        const char *expect;
    } bad[] = {
        {"{\"hidden_size\": 64}", "missing required field 'intermediate_size'"},
        {"{\"hidden_size\": 64, \"intermediate_size\": 8, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 6, \"num_key_value_heads\": 4, \"vocab_size\": 9}",
         "must be a multiple of num_key_value_heads (4)"},
        {"{\"hidden_size\": 64, \"intermediate_size\": 8, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4, \"vocab_size\": 9, \"attention_layers\": [true]}",
         "list of 2 booleans"},
        {"{\"hidden_size\": \"64\"}", "must be a non-negative integer"},
        {"{\"hidden_size\": 64,", "not valid JSON"},
        {"{\"hidden_size\": 64, \"intermediate_size\": 8, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4, \"vocab_size\": 70000}",
         "vocab_size must be in 1..65536"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tu_write_file(path, bad[i].json);
        cr_expect_eq(hn_llm_config_read(path, &r, &err), -1, "row %zu", i);
        cr_expect(strstr(err.msg, bad[i].expect) != NULL, "row %zu: %s", i, err.msg);
        cr_expect(strstr(err.msg, "config.json") != NULL, "row %zu names the file: %s", i,
                  err.msg);
    }
    free(dir);
}

Test(safetensors, round_trip_is_bit_exact)
{
    char *dir = tu_tmpdir("st");
    char path[4200];
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    float a[6] = {1.5f, -0.0f, 3.25e-39f /* subnormal */, INFINITY, -7.0f, 1e30f};
    float b[3] = {0.1f, 0.2f, 0.3f};
    struct hn_st_write_entry e[2] = {{"model.a", 2, {2, 3}, a}, {"b", 1, {3}, b}};
    struct hn_error err;
    cr_assert_eq(hn_st_write(path, e, 2, &err), 0, "%s", err.msg);
    struct hn_st_file f;
    cr_assert_eq(hn_st_read(path, &f, &err), 0, "%s", err.msg);
    cr_assert_eq(f.n, 2);
    const struct hn_st_tensor *t = hn_st_find(&f, "model.a");
    cr_assert_not_null(t);
    cr_expect(t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->numel == 6);
    cr_expect(memcmp(t->data, a, sizeof(a)) == 0, "bit exact");
    t = hn_st_find(&f, "b");
    cr_expect(memcmp(t->data, b, sizeof(b)) == 0);
    cr_expect_null(hn_st_find(&f, "c"));
    hn_st_free(&f);
    hn_st_free(&f); /* idempotent on a freed struct */
    char *text = tu_read_file(path);
    uint64_t hl = 0;
    memcpy(&hl, text, 8);
    cr_expect_eq(hl % 8, 0, "header padded to 8 bytes");
    free(text);
    free(dir);
}

/* The canonical example, bytes as the Python library writes them. */
static unsigned char *canonical(size_t *len)
{
    const char *h = "{\"test\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    size_t hl = strlen(h);
    *len = 8 + hl + 16;
    unsigned char *buf = calloc(1, *len);
    buf[0] = (unsigned char)hl;
    memcpy(buf + 8, h, hl);
    float v[4] = {0, 1, 2, 3};
    memcpy(buf + 8 + hl, v, 16); /* little-endian host */
    return buf;
}

Test(safetensors, reads_the_canonical_example)
{
    size_t len;
    unsigned char *buf = canonical(&len);
    struct hn_st_file f;
    struct hn_error err;
    cr_assert_eq(hn_st_parse(buf, len, "ex", &f, &err), 0, "%s", err.msg);
    cr_expect(f.n == 1 && f.t[0].numel == 4 && f.t[0].data[3] == 3.0f);
    hn_st_free(&f);
    free(buf);
}

static float decode_half_by_ldexp(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 0) {
        v = ldexp(m, -24);
    } else if (e == 31) {
        v = m ? NAN : INFINITY;
    } else {
        v = ldexp(1024 + m, e - 25);
    }
    return (float)(s ? -v : v);
}

Test(safetensors, half_and_bfloat16_convert_exactly)
{
    for (uint32_t h = 0; h < 65536; h++) {
        float got = hn_f16_to_f32((uint16_t)h), want = decode_half_by_ldexp((uint16_t)h);
        if (isnan(want)) {
            cr_assert(isnan(got), "f16 %#x", h);
        } else {
            cr_assert(got == want && signbit(got) == signbit(want), "f16 %#x: %g vs %g", h, got,
                      want);
        }
        /* bf16 is the top half of a float */
        float b = hn_bf16_to_f32((uint16_t)h);
        uint32_t bits;
        memcpy(&bits, &b, 4);
        cr_assert_eq(bits, h << 16);
    }
}

static int parse_text_header(const char *header, size_t data_bytes, struct hn_error *err)
{
    size_t hl = strlen(header), len = 8 + hl + data_bytes;
    unsigned char *buf = calloc(1, len);
    for (int i = 0; i < 8; i++) {
        buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    }
    memcpy(buf + 8, header, hl);
    struct hn_st_file f;
    int rc = hn_st_parse(buf, len, "bad", &f, err);
    hn_st_free(&f);
    free(buf);
    return rc;
}

Test(safetensors, malformed_files_are_refused)
{
    struct {
        const char *header;
        size_t data;
        const char *expect;
    } rows[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "not a JSON object"},
        {"[1,2]", 0, "not a JSON object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "beyond the 4-byte"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, "overlaps"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, "hole"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12"},
        {"{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "not supported"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
         "overflows"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "before begin"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "[begin, end]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
         16, "not a JSON object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "tensors use 4"},
        {"{\"a\":5}", 0, "not an object"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct hn_error err;
        hn_error_clear(&err);
        cr_expect_eq(parse_text_header(rows[i].header, rows[i].data, &err), -1, "row %zu", i);
        cr_expect(strstr(err.msg, rows[i].expect) != NULL, "row %zu: expected '%s' in: %s", i,
                  rows[i].expect, err.msg);
    }
    /* truncated, absurd header length, tiny file */
    size_t len;
    unsigned char *buf = canonical(&len);
    struct hn_st_file f;
    struct hn_error err;
    cr_expect_eq(hn_st_parse(buf, len - 1, "t", &f, &err), -1);
    cr_expect_eq(hn_st_parse(buf, 20, "t", &f, &err), -1);
    cr_expect(strstr(err.msg, "truncated") != NULL, "%s", err.msg);
    cr_expect_eq(hn_st_parse(buf, 5, "t", &f, &err), -1);
    buf[7] = 0x7f;
    cr_expect_eq(hn_st_parse(buf, len, "t", &f, &err), -1);
    cr_expect(strstr(err.msg, "absurd") != NULL, "%s", err.msg);
    free(buf);
}

Test(safetensors, random_mutations_never_crash)
{
    size_t len;
    unsigned char *orig = canonical(&len);
    unsigned char *buf = malloc(len);
    struct hn_rng rng;
    hn_rng_seed(&rng, 77);
    int accepted = 0;
    for (int i = 0; i < 5000; i++) {
        memcpy(buf, orig, len);
        int flips = 1 + (int)hn_rng_below(&rng, 4);
        for (int k = 0; k < flips; k++) {
            buf[hn_rng_below(&rng, len)] = (unsigned char)hn_rng_below(&rng, 256);
        }
        size_t cut = hn_rng_below(&rng, 10) == 0 ? hn_rng_below(&rng, len + 1) : len;
        struct hn_st_file f;
        struct hn_error err;
        if (hn_st_parse(buf, cut, "fuzz", &f, &err) == 0) {
            accepted++;
            for (size_t t = 0; t < f.n; t++) {
                cr_assert_leq(f.t[t].numel * 4, len);
            }
            hn_st_free(&f);
        }
    }
    cr_log_info("%d of 5000 mutants still parse", accepted);
    free(buf);
    free(orig);
}

Test(tokens, bytes_and_files_round_trip)
{
    unsigned char bytes[512], back[512];
    uint16_t tok[512];
    for (int i = 0; i < 512; i++) {
        bytes[i] = (unsigned char)(i * 37 + 11);
    }
    bytes[0] = 0;
    bytes[1] = 0xff;
    hn_bytes_encode(bytes, 512, tok);
    cr_assert_eq(hn_bytes_decode(tok, 512, back), 0);
    cr_expect(memcmp(bytes, back, 512) == 0);
    tok[3] = 300;
    cr_expect_eq(hn_bytes_decode(tok, 512, back), -1);
    char *dir = tu_tmpdir("tok");
    char path[4200];
    snprintf(path, sizeof(path), "%s/t.bin", dir);
    struct hn_error err;
    tok[3] = 65535;
    cr_assert_eq(hn_tokens_write(path, tok, 512, &err), 0);
    char *raw = tu_read_file(path);
    cr_expect((unsigned char)raw[6] == 0xff && (unsigned char)raw[7] == 0xff, "little-endian");
    cr_expect((unsigned char)raw[2] == 0xff && raw[3] == 0, "token 0xff is ff 00");
    free(raw);
    uint16_t *t2;
    size_t n;
    cr_assert_eq(hn_tokens_load(path, &t2, &n, &err), 0);
    cr_expect(n == 512 && memcmp(t2, tok, sizeof(tok)) == 0);
    /* batches: deterministic, targets are inputs shifted by one */
    int in1[4 * 8], tg1[4 * 8], in2[4 * 8], tg2[4 * 8];
    struct hn_rng r1, r2;
    hn_rng_seed(&r1, 5);
    hn_rng_seed(&r2, 5);
    hn_batch_sample(t2, n, 4, 8, &r1, in1, tg1);
    hn_batch_sample(t2, n, 4, 8, &r2, in2, tg2);
    cr_expect(memcmp(in1, in2, sizeof(in1)) == 0 && memcmp(tg1, tg2, sizeof(tg1)) == 0);
    for (int b = 0; b < 4; b++) {
        for (int t = 0; t + 1 < 8; t++) {
            cr_expect_eq(tg1[b * 8 + t], in1[b * 8 + t + 1]);
        }
    }
    int win[8], wt[8];
    cr_expect(hn_window(t2, n, 2, 8, win, wt));
    cr_expect(win[0] == t2[16] && wt[7] == t2[24], "window 2 starts at token 16");
    cr_expect(!hn_window(t2, n, 64, 8, win, wt), "window 64 (tokens 512..520) does not fit");
    free(t2);
    tu_write_file(path, "abc");
    cr_expect_eq(hn_tokens_load(path, &t2, &n, &err), -1);
    cr_expect(strstr(err.msg, "whole number") != NULL, "%s", err.msg);
    free(dir);
}

Test(tokens, tokenize_cli_splits_documents_deterministically)
{
    char *dir = tu_tmpdir("tokcli");
    char in[4200], out1[4200], out2[4200];
    snprintf(in, sizeof(in), "%s/fortunes", dir);
    FILE *f = fopen(in, "w");
    size_t body = 0;
    for (int i = 0; i < 200; i++) {
        char line[64];
        int n = snprintf(line, sizeof(line), "fortune number %d\nsecond line\n", i);
        fputs(line, f);
        body += (size_t)n;
        fputs("%\n", f);
    }
    fclose(f);
    snprintf(out1, sizeof(out1), "%s/a", dir);
    snprintf(out2, sizeof(out2), "%s/b", dir);
    char *argv1[] = {(char *)tu_hilnas(), "tokenize", in, "-o", out1, "--seed", "3", NULL};
    char *argv2[] = {(char *)tu_hilnas(), "tokenize", in, "-o", out2, "--seed", "3", NULL};
    char *o, *e;
    cr_assert_eq(tu_run(argv1, NULL, &o, &e), 0, "%s", e);
    cr_expect(strstr(o, "\"documents\": 200") != NULL, "%s", o);
    free(o), free(e);
    cr_assert_eq(tu_run(argv2, NULL, &o, &e), 0, "%s", e);
    free(o), free(e);
    char p[4300];
    struct hn_error err;
    uint16_t *tr, *va, *tr2;
    size_t nt, nv, nt2;
    snprintf(p, sizeof(p), "%s/train.bin", out1);
    cr_assert_eq(hn_tokens_load(p, &tr, &nt, &err), 0, "%s", err.msg);
    snprintf(p, sizeof(p), "%s/val.bin", out1);
    cr_assert_eq(hn_tokens_load(p, &va, &nv, &err), 0, "%s", err.msg);
    snprintf(p, sizeof(p), "%s/train.bin", out2);
    cr_assert_eq(hn_tokens_load(p, &tr2, &nt2, &err), 0, "%s", err.msg);
    cr_expect_eq(nt + nv, body + 200, "every byte plus one separator per document");
    cr_expect(nt2 == nt && memcmp(tr, tr2, nt * 2) == 0, "same seed, same split");
    double frac = (double)nv / (double)(nt + nv);
    cr_expect(frac > 0.03 && frac < 0.2, "validation fraction %g", frac);
    free(tr), free(va), free(tr2);
    /* errors */
    char *bad[] = {(char *)tu_hilnas(), "tokenize", "/nonexistent/file", "-o", out1, NULL};
    cr_expect_eq(tu_run(bad, NULL, &o, &e), 2);
    cr_expect(strstr(e, "/nonexistent/file") != NULL, "%s", e);
    free(o), free(e);
    char *bad2[] = {(char *)tu_hilnas(), "tokenize", in, NULL};
    cr_expect_eq(tu_run(bad2, NULL, &o, &e), 2);
    free(o), free(e);
    free(dir);
}
