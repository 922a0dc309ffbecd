/*
 * hilnas export: a trial's model (or an architecture with random weights) as files that other
 * runtimes load: Hugging Face (config.json + model.safetensors + tokenizer) or GGUF (llama.cpp).
 * docs/export.md describes the formats, the refusals and the model card.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/journal.h"
#include "core/registry.h"
#include "core/study.h"
#include "core/util.h"
#include "hilnas/error.h"
#include "hilnas/evaluator.h"
#include "hilnas/llm/checkpoint.h"
#include "hilnas/llm/gguf.h"
#include "hilnas/llm/llm_config.h"
#include "hilnas/llm/model.h"
#include "hilnas/rng.h"
#include "tools/cli.h"

enum ex_format { EX_HF, EX_GGUF };
enum ex_dtype { EX_F32, EX_F16, EX_BF16 };
static const char *const dtype_names[] = {"f32", "f16", "bf16"};
static const char *const st_dtype_names[] = {"F32", "F16", "BF16"};

#define EX_MAX_SETS 64

struct ex_args {
    const char *study_dir, *out, *arch, *evaluator, *study_file;
    const char *sets[EX_MAX_SETS]; /* --set KEY.PATH=VALUE for the re-derivation's study */
    size_t n_sets;
    long trial, seed, threads;
    int random, have_trial;
    enum ex_format format;
    enum ex_dtype dtype;
};

/* What the journal says about the trial. */
struct ex_trial {
    long id;
    json_t *study;     /* "study" event */
    json_t *started;   /* "started" event of the trial */
    json_t *finished;  /* "completed" or "failed" event */
    json_t *completed; /* {"id": completed event} of every trial (for `of`) */
};

/* What produced the model, for the card. */
struct ex_source {
    json_t *training; /* training.json, or NULL */
    int rederived;    /* 1: re-derived now, 0: kept by the evaluator */
    const char *how;  /* "kept", "re-derived", "random" */
    char evaluator[256];
    double val_loss, val_loss_recorded;
};

/* ---------------------------------------------------------------------------------------------
 * writing files */

static int write_json(const char *dir, const char *name, const json_t *o, struct hn_error *err)
{
    char *path = hn_path_join(dir, name);
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    int rc = -1;
    if (path == NULL || text == NULL) {
        hn_error_set(err, NULL, "out of memory");
    } else {
        size_t n = strlen(text);
        char *t2 = realloc(text, n + 2);
        if (t2 != NULL) {
            text = t2;
            text[n++] = '\n';
            text[n] = '\0';
        }
        rc = hn_write_file_atomic(path, text, n, err);
    }
    free(path);
    free(text);
    return rc;
}

static uint16_t to16(enum ex_dtype d, float f)
{
    return d == EX_F16 ? hn_f32_to_f16(f) : hn_f32_to_bf16(f);
}

/*
 * model.safetensors in dtype: the model's tensors in its order, header padded with spaces to a
 * multiple of 8 (as the safetensors library does), atomically.
 */
static int write_safetensors(const char *path, const struct hn_llm_model *m, enum ex_dtype dt,
                             struct hn_error *err)
{
    size_t item = dt == EX_F32 ? 4 : 2, off = 0;
    json_t *h = json_pack("{s:{s:s}}", "__metadata__", "format", "pt");
    for (size_t i = 0; i < m->n_tensors && h != NULL; i++) {
        const struct hn_llm_tensor *t = &m->tensors[i];
        json_t *shape = json_array();
        for (size_t d = 0; d < t->ndim; d++) {
            json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
        }
        json_object_set_new(h, t->name,
                            json_pack("{s:s, s:o, s:[I, I]}", "dtype", st_dtype_names[dt], "shape",
                                      shape, "data_offsets", (json_int_t)off,
                                      (json_int_t)(off + t->numel * item)));
        off += t->numel * item;
    }
    char *text = h ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(h);
    if (text == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    size_t hl = strlen(text), padded = (hl + 7) / 8 * 8;
    size_t total = 8 + padded + off;
    unsigned char *buf = malloc(total);
    if (buf == NULL) {
        free(text);
        return hn_error_set(err, NULL, "out of memory (%zu bytes for %s)", total, path);
    }
    for (int b = 0; b < 8; b++) {
        buf[b] = (unsigned char)((uint64_t)padded >> (8 * b));
    }
    memcpy(buf + 8, text, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    free(text);
    unsigned char *p = buf + 8 + padded;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const struct hn_llm_tensor *t = &m->tensors[i];
        const float *src = m->params + t->offset;
        for (size_t k = 0; k < t->numel; k++) {
            uint32_t u;
            if (dt == EX_F32) {
                memcpy(&u, &src[k], 4);
            } else {
                u = to16(dt, src[k]);
            }
            for (size_t b = 0; b < item; b++) {
                *p++ = (unsigned char)(u >> (8 * b));
            }
        }
    }
    int rc = hn_write_file_atomic(path, (const char *)buf, total, err);
    free(buf);
    return rc;
}

/* GPT-2's bytes_to_unicode: byte b as the code point its byte-level BPE vocabularies use. */
static unsigned byte_codepoint(unsigned b)
{
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) {
        return b;
    }
    unsigned n = 0; /* the others, in byte order, become 256, 257, ... */
    for (unsigned c = 0; c < b; c++) {
        n += !((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255));
    }
    return 256 + n;
}

/* UTF-8 of code point cp (< 0x800) into s (3 bytes room), NUL-terminated; returns the length. */
static size_t utf8(unsigned cp, char *s)
{
    if (cp < 0x80) {
        s[0] = (char)cp;
        s[1] = '\0';
        return 1;
    }
    s[0] = (char)(0xc0 | (cp >> 6));
    s[1] = (char)(0x80 | (cp & 0x3f));
    s[2] = '\0';
    return 2;
}

/* ---------------------------------------------------------------------------------------------
 * Hugging Face */

/* True when every layer has attention (then the layers are uniform: LlamaForCausalLM). */
static int all_attention(const struct hn_llm_config *c)
{
    for (int l = 0; l < c->num_hidden_layers; l++) {
        if (!c->attention_layers[l]) {
            return 0;
        }
    }
    return 1;
}

static json_t *hf_config(const struct hn_llm_config *c, enum ex_dtype dt)
{
    static const char *const torch_dtypes[] = {"float32", "float16", "bfloat16"};
    int uniform = all_attention(c);
    json_t *o = json_pack(
        "{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:s, s:b, s:b, "
        "s:n, s:f, s:s, s:n, s:n}",
        "architectures", uniform ? "LlamaForCausalLM" : "DeciLMForCausalLM", "model_type",
        uniform ? "llama" : "nemotron-nas", "hidden_size", c->hidden_size, "intermediate_size",
        c->intermediate_size, "num_hidden_layers", c->num_hidden_layers, "num_attention_heads",
        c->num_attention_heads, "num_key_value_heads", c->num_key_value_heads, "head_dim",
        c->head_dim, "vocab_size", c->vocab_size, "max_position_embeddings",
        c->max_position_embeddings, "rms_norm_eps", c->rms_norm_eps, "rope_theta", c->rope_theta,
        "tie_word_embeddings", c->tie_word_embeddings, "hidden_act", "silu", "attention_bias", 0,
        "mlp_bias", 0, "rope_scaling", "initializer_range", 0.02, "torch_dtype", torch_dtypes[dt],
        "bos_token_id", "eos_token_id");
    if (o == NULL || uniform) {
        return o;
    }
    /* Nemotron-NAS / DeciLM: one block config per layer; plus hilnas's own attention_layers */
    json_t *blocks = json_array(), *att = json_array();
    double mult = 1.5 * c->intermediate_size / c->hidden_size;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        json_t *a = c->attention_layers[l]
                        ? json_pack("{s:i, s:b, s:b}", "n_heads_in_group",
                                    c->num_attention_heads / c->num_key_value_heads, "no_op", 0,
                                    "replace_with_linear", 0)
                        : json_pack("{s:n, s:b, s:b}", "n_heads_in_group", "no_op", 1,
                                    "replace_with_linear", 0);
        json_array_append_new(blocks,
                              json_pack("{s:o, s:{s:f, s:i, s:b, s:b}}", "attention", a, "ffn",
                                        "ffn_mult", mult, "intermediate_size", c->intermediate_size,
                                        "no_op", 0, "replace_with_linear", 0));
        json_array_append_new(att, json_boolean(c->attention_layers[l]));
    }
    json_object_set_new(o, "block_configs", blocks);
    json_object_set_new(o, "attention_layers", att);
    return o;
}

/* tokenizer.json (tokenizers' byte-level BPE without merges: byte i is token i) and
 * tokenizer_config.json. */
static int write_tokenizer(const char *out, const struct hn_llm_config *c, struct hn_error *err)
{
    json_t *vocab = json_object();
    for (unsigned b = 0; b < 256; b++) {
        char s[4];
        utf8(byte_codepoint(b), s);
        json_object_set_new(vocab, s, json_integer(b));
    }
    json_t *tok =
        json_pack("{s:s, s:n, s:n, s:[], s:n, s:{s:s, s:b, s:b, s:b}, s:n, s:{s:s, s:b, s:b, s:b}, "
                  "s:{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:[]}}",
                  "version", "1.0", "truncation", "padding", "added_tokens", "normalizer",
                  "pre_tokenizer", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
                  "use_regex", 0, "post_processor", "decoder", "type", "ByteLevel",
                  "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 0, "model", "type", "BPE",
                  "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix",
                  "fuse_unk", 0, "byte_fallback", 0, "ignore_merges", 0, "vocab", vocab, "merges");
    json_t *cfg =
        json_pack("{s:s, s:i, s:b, s:b, s:b, s:s}", "tokenizer_class", "PreTrainedTokenizerFast",
                  "model_max_length", c->max_position_embeddings, "clean_up_tokenization_spaces", 0,
                  "add_bos_token", 0, "add_eos_token", 0, "hilnas_vocabulary",
                  "byte-level: token i is byte i (no special tokens)");
    int rc = tok == NULL || cfg == NULL ? hn_error_set(err, NULL, "out of memory")
             : write_json(out, "tokenizer.json", tok, err) != 0 ||
                     write_json(out, "tokenizer_config.json", cfg, err) != 0
                 ? -1
                 : 0;
    json_decref(tok);
    json_decref(cfg);
    return rc;
}

static int export_hf(const char *out, const struct hn_llm_model *m, enum ex_dtype dt,
                     struct hn_error *err)
{
    const struct hn_llm_config *c = &m->config;
    json_t *cfg = hf_config(c, dt);
    json_t *gen = json_pack("{s:b, s:i, s:b}", "_from_model_config", 1, "max_length",
                            c->max_position_embeddings, "do_sample", 0);
    char *st = hn_path_join(out, "model.safetensors");
    int rc = -1;
    if (cfg == NULL || gen == NULL || st == NULL) {
        hn_error_set(err, NULL, "out of memory");
    } else if (write_json(out, "config.json", cfg, err) == 0 &&
               write_json(out, "generation_config.json", gen, err) == 0 &&
               write_safetensors(st, m, dt, err) == 0 &&
               (c->vocab_size != 256 || write_tokenizer(out, c, err) == 0)) {
        rc = 0;
    }
    if (rc == 0 && !all_attention(c)) {
        if (c->intermediate_size % 256 != 0) {
            fprintf(stderr,
                    "hilnas: export: note: intermediate_size %d is not a multiple of 256: "
                    "DeciLM's reference code and llama.cpp's converter derive the FFN width from "
                    "ffn_mult rounded up to a multiple of 256, so they will not load these "
                    "weights; loaders that read block_configs[].ffn.intermediate_size (or "
                    "hilnas's own config fields) do. For llama.cpp use --format gguf.\n",
                    c->intermediate_size);
        }
        if (c->head_dim * c->num_attention_heads != c->hidden_size) {
            fprintf(stderr,
                    "hilnas: export: note: head_dim %d is not hidden_size / num_attention_heads "
                    "(%d / %d): DeciLM's reference code assumes it is; loaders that read head_dim "
                    "do not.\n",
                    c->head_dim, c->hidden_size, c->num_attention_heads);
        }
    }
    json_decref(cfg);
    json_decref(gen);
    free(st);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * GGUF */

/* Why llama.cpp cannot run c, or NULL. */
static const char *gguf_refusal(const struct hn_llm_config *c, char *buf, size_t size)
{
    int any = 0;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        any |= c->attention_layers[l];
    }
    if (any && !c->attention_layers[0]) {
        snprintf(buf, size,
                 "layer 0 skips attention but a later layer has it: llama.cpp takes the "
                 "attention head size from layer 0's head count (llama-model.cpp reads "
                 "key_length and the RoPE size only when hparams.n_head() of layer 0 is > 0), so "
                 "it cannot run this model; search with the transformer space's `runtime: "
                 "llama.cpp` to keep attention in layer 0");
        return buf;
    }
    if (c->vocab_size < 256) {
        snprintf(buf, size,
                 "vocab_size %d is below 256: the byte-level tokenizer needs token i = byte i "
                 "for all 256 bytes",
                 c->vocab_size);
        return buf;
    }
    return NULL;
}

/* Rows of a (n_head*HD, C) projection reordered from Hugging Face's rotate-half RoPE layout to
 * llama.cpp's interleaved one, as convert_hf_to_gguf.py's permute(): within each head, row
 * 2i+j of the result is row j*HD/2+i of the input. */
static float *permute_rows(const float *w, int n_head, int HD, int C)
{
    float *o = malloc((size_t)n_head * HD * C * sizeof(float));
    if (o == NULL) {
        return NULL;
    }
    for (int h = 0; h < n_head; h++) {
        for (int i = 0; i < HD / 2; i++) {
            for (int j = 0; j < 2; j++) {
                memcpy(o + ((size_t)h * HD + 2 * i + j) * C,
                       w + ((size_t)h * HD + (size_t)j * HD / 2 + i) * C,
                       (size_t)C * sizeof(float));
            }
        }
    }
    return o;
}

/* The byte-level vocabulary: tokens 0-255 the GPT-2 byte characters, the rest unused. */
static int gguf_vocab(struct hn_gguf *g, const struct hn_llm_config *c, struct hn_error *err)
{
    int32_t *types = malloc(256 * 4 + 4 * (size_t)c->vocab_size);
    char(*tokens)[24] = malloc((size_t)c->vocab_size * 24);
    const char **tokp = malloc((size_t)c->vocab_size * sizeof(char *));
    int rc = -1;
    if (types == NULL || tokens == NULL || tokp == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    for (int v = 0; v < c->vocab_size; v++) {
        if (v < 256) {
            utf8(byte_codepoint((unsigned)v), tokens[v]);
            types[v] = 1; /* LLAMA_TOKEN_TYPE_NORMAL */
        } else {
            snprintf(tokens[v], 24, "<unused%d>", v - 256);
            types[v] = 5; /* LLAMA_TOKEN_TYPE_UNUSED */
        }
        tokp[v] = tokens[v];
    }
    if (hn_gguf_set_str(g, "tokenizer.ggml.model", "gpt2", err) != 0 ||
        hn_gguf_set_str(g, "tokenizer.ggml.pre", "default", err) != 0 ||
        hn_gguf_set_arr_str(g, "tokenizer.ggml.tokens", tokp, NULL, (size_t)c->vocab_size, err) !=
            0 ||
        hn_gguf_set_arr_i32(g, "tokenizer.ggml.token_type", types, (size_t)c->vocab_size, err) !=
            0 ||
        hn_gguf_set_arr_str(g, "tokenizer.ggml.merges", NULL, NULL, 0, err) != 0 ||
        hn_gguf_set_u32(g, "tokenizer.ggml.bos_token_id", 0, err) != 0 ||
        hn_gguf_set_u32(g, "tokenizer.ggml.eos_token_id", 0, err) != 0 ||
        hn_gguf_set_bool(g, "tokenizer.ggml.add_bos_token", 0, err) != 0 ||
        hn_gguf_set_bool(g, "tokenizer.ggml.add_eos_token", 0, err) != 0) {
        goto done;
    }
    rc = 0;
done:
    free(types);
    free(tokens);
    free(tokp);
    return rc;
}

/* A per-layer count: one u32 for uniform layers, else an array of L (ffn: F, attention: 0 on
 * layers without attention). */
static int gguf_per_layer(struct hn_gguf *g, const char *key, const struct hn_llm_config *c,
                          int uniform, int value, int attention_only, struct hn_error *err)
{
    int L = c->num_hidden_layers;
    if (uniform) {
        return hn_gguf_set_u32(g, key, (uint32_t)value, err);
    }
    int32_t *v = malloc((size_t)L * sizeof(int32_t));
    if (v == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    for (int l = 0; l < L; l++) {
        v[l] = !attention_only || c->attention_layers[l] ? value : 0;
    }
    int rc = hn_gguf_set_arr_i32(g, key, v, (size_t)L, err);
    free(v);
    return rc;
}

/* The model's metadata: llama (every layer with attention) or deci (per-layer counts). */
static int gguf_metadata(struct hn_gguf *g, const struct hn_llm_config *c, const char *arch,
                         int uniform, uint32_t ftype, const char *name, struct hn_error *err)
{
    char key[128];
#define K(suffix) (snprintf(key, sizeof(key), "%s.%s", arch, suffix), key)
    int rc =
        hn_gguf_set_str(g, "general.architecture", arch, err) != 0 ||
        hn_gguf_set_str(g, "general.name", name, err) != 0 ||
        hn_gguf_set_u32(g, "general.file_type", ftype, err) != 0 ||
        hn_gguf_set_u32(g, "general.alignment", HN_GGUF_ALIGNMENT, err) != 0 ||
        hn_gguf_set_u32(g, K("vocab_size"), (uint32_t)c->vocab_size, err) != 0 ||
        hn_gguf_set_u32(g, K("context_length"), (uint32_t)c->max_position_embeddings, err) != 0 ||
        hn_gguf_set_u32(g, K("embedding_length"), (uint32_t)c->hidden_size, err) != 0 ||
        hn_gguf_set_u32(g, K("block_count"), (uint32_t)c->num_hidden_layers, err) != 0 ||
        gguf_per_layer(g, K("feed_forward_length"), c, uniform, c->intermediate_size, 0, err) !=
            0 ||
        gguf_per_layer(g, K("attention.head_count"), c, uniform, c->num_attention_heads, 1, err) !=
            0 ||
        gguf_per_layer(g, K("attention.head_count_kv"), c, uniform, c->num_key_value_heads, 1,
                       err) != 0 ||
        hn_gguf_set_u32(g, K("attention.key_length"), (uint32_t)c->head_dim, err) != 0 ||
        hn_gguf_set_u32(g, K("attention.value_length"), (uint32_t)c->head_dim, err) != 0 ||
        hn_gguf_set_f32(g, K("attention.layer_norm_rms_epsilon"), (float)c->rms_norm_eps, err) !=
            0 ||
        hn_gguf_set_f32(g, K("rope.freq_base"), (float)c->rope_theta, err) != 0 ||
        hn_gguf_set_u32(g, K("rope.dimension_count"), (uint32_t)c->head_dim, err) != 0;
#undef K
    return rc ? -1 : 0;
}

#define ADD(nm, nd, a, b, t, data)                                                                 \
    (hn_gguf_add_tensor(g, nm, nd, (const uint64_t[]){(a), (b)}, t, data, err) != 0)

/* Layer l's tensors: q and k permuted to llama.cpp's RoPE layout (kept alive in perm[0..1]
 * until the file is written). */
static int gguf_layer(struct hn_gguf *g, const struct hn_llm_model *m, int l,
                      enum hn_gguf_dtype mat, float **perm, struct hn_error *err)
{
    const struct hn_llm_config *c = &m->config;
    const struct hn_llm_layer *w = &m->w.layers[l];
    size_t C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    size_t Q = (size_t)c->num_attention_heads * c->head_dim;
    size_t KV = (size_t)c->num_key_value_heads * c->head_dim;
    char tn[64];
    if (w->wq != NULL) {
        perm[0] = permute_rows(w->wq, c->num_attention_heads, c->head_dim, (int)C);
        perm[1] = permute_rows(w->wk, c->num_key_value_heads, c->head_dim, (int)C);
        if (perm[0] == NULL || perm[1] == NULL) {
            return hn_error_set(err, NULL, "out of memory");
        }
        if ((snprintf(tn, sizeof(tn), "blk.%d.attn_norm.weight", l),
             ADD(tn, 1, C, 1, HN_GGUF_F32, w->ln1)) ||
            (snprintf(tn, sizeof(tn), "blk.%d.attn_q.weight", l), ADD(tn, 2, C, Q, mat, perm[0])) ||
            (snprintf(tn, sizeof(tn), "blk.%d.attn_k.weight", l),
             ADD(tn, 2, C, KV, mat, perm[1])) ||
            (snprintf(tn, sizeof(tn), "blk.%d.attn_v.weight", l), ADD(tn, 2, C, KV, mat, w->wv)) ||
            (snprintf(tn, sizeof(tn), "blk.%d.attn_output.weight", l),
             ADD(tn, 2, Q, C, mat, w->wo))) {
            return -1;
        }
    }
    if ((snprintf(tn, sizeof(tn), "blk.%d.ffn_norm.weight", l),
         ADD(tn, 1, C, 1, HN_GGUF_F32, w->ln2)) ||
        (snprintf(tn, sizeof(tn), "blk.%d.ffn_gate.weight", l), ADD(tn, 2, C, F, mat, w->wgate)) ||
        (snprintf(tn, sizeof(tn), "blk.%d.ffn_up.weight", l), ADD(tn, 2, C, F, mat, w->wup)) ||
        (snprintf(tn, sizeof(tn), "blk.%d.ffn_down.weight", l), ADD(tn, 2, F, C, mat, w->wdown))) {
        return -1;
    }
    return 0;
}

static int export_gguf(const char *path, const struct hn_llm_model *m, enum ex_dtype dt,
                       const char *name, struct hn_error *err)
{
    const struct hn_llm_config *c = &m->config;
    char why[512];
    const char *no = gguf_refusal(c, why, sizeof(why));
    if (no != NULL) {
        return hn_error_config(err, NULL, "cannot export to GGUF: %s", no);
    }
    int L = c->num_hidden_layers, uniform = all_attention(c);
    static const enum hn_gguf_dtype gdt[] = {HN_GGUF_F32, HN_GGUF_F16, HN_GGUF_BF16};
    static const uint32_t ftype[] = {0, 1, 32}; /* LLAMA_FTYPE_ALL_F32, MOSTLY_F16, MOSTLY_BF16 */
    size_t C = (size_t)c->hidden_size, V = (size_t)c->vocab_size;
    enum hn_gguf_dtype mat = gdt[dt];
    struct hn_gguf *g = hn_gguf_new();
    float **perm = calloc((size_t)2 * L, sizeof(float *));
    int rc = -1;
    if (g == NULL || perm == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    if (gguf_metadata(g, c, uniform ? "llama" : "deci", uniform, ftype[dt], name, err) != 0 ||
        gguf_vocab(g, c, err) != 0) {
        goto done;
    }
    /* tensors: 2-D in dtype, 1-D (norms) in F32 as llama.cpp's converter keeps them */
    if (ADD("token_embd.weight", 2, C, V, mat, m->w.embed)) {
        goto done;
    }
    for (int l = 0; l < L; l++) {
        if (gguf_layer(g, m, l, mat, perm + 2 * l, err) != 0) {
            goto done;
        }
    }
    if (ADD("output_norm.weight", 1, C, 1, HN_GGUF_F32, m->w.norm) ||
        (!c->tie_word_embeddings && ADD("output.weight", 2, C, V, mat, m->w.lm_head))) {
        goto done;
    }
    rc = hn_gguf_write(g, path, err);
done:
    for (int i = 0; perm != NULL && i < 2 * L; i++) {
        free(perm[i]);
    }
    free(perm);
    hn_gguf_free(g);
    return rc;
}
#undef ADD

/* ---------------------------------------------------------------------------------------------
 * the trial: journal, kept model or re-derivation */

static int on_event(json_t *ev, long line, void *data, struct hn_error *err)
{
    struct ex_trial *t = data;
    const char *type = json_string_value(json_object_get(ev, "event"));
    json_t *jid = json_object_get(ev, "trial");
    (void)line;
    (void)err;
    if (type == NULL) {
        return 0;
    }
    if (strcmp(type, "study") == 0) {
        json_decref(t->study);
        t->study = json_incref(ev);
        return 0;
    }
    if (!json_is_integer(jid)) {
        return 0;
    }
    long id = (long)json_integer_value(jid);
    if (strcmp(type, "completed") == 0) {
        char k[32];
        snprintf(k, sizeof(k), "%ld", id);
        json_object_set(t->completed, k, ev);
    }
    if (id != t->id) {
        return 0;
    }
    if (strcmp(type, "started") == 0) {
        json_decref(t->started);
        json_decref(t->finished);
        t->started = json_incref(ev);
        t->finished = NULL;
    } else if (strcmp(type, "completed") == 0 || strcmp(type, "failed") == 0) {
        json_decref(t->finished);
        t->finished = json_incref(ev);
    }
    return 0;
}

static void trial_free(struct ex_trial *t)
{
    json_decref(t->study);
    json_decref(t->started);
    json_decref(t->finished);
    json_decref(t->completed);
}

static int read_trial(const char *dir, long id, struct ex_trial *t, struct hn_error *err)
{
    int torn = 0;
    memset(t, 0, sizeof(*t));
    t->id = id;
    t->completed = json_object();
    if (t->completed == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    if (hn_journal_read(dir, on_event, t, &torn, err) != 0) {
        return -1;
    }
    if (t->started == NULL) {
        return hn_error_config(err, dir, "trial %ld is not in the study's journal", id);
    }
    const char *type = json_string_value(json_object_get(t->finished, "event"));
    if (type == NULL) {
        return hn_error_config(err, dir,
                               "trial %ld has not finished (still running, or abandoned when its "
                               "process ended): resume the study first",
                               id);
    }
    if (strcmp(type, "failed") == 0) {
        return hn_error_config(err, dir, "trial %ld failed (%s): there is no model to export", id,
                               json_string_value(json_object_get(t->finished, "reason")));
    }
    if (!json_is_object(json_object_get(t->started, "arch"))) {
        return hn_error_config(err, dir, "trial %ld has no decoded architecture in the journal",
                               id);
    }
    return 0;
}

/* The trial's metric "<source>.<name>", or NAN. */
static double trial_metric(const struct ex_trial *t, const char *source, const char *name)
{
    char full[600];
    snprintf(full, sizeof(full), "%s.%s", source, name);
    json_t *v =
        json_object_get(json_object_get(json_object_get(t->finished, "metrics"), full), "value");
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Remove the temporary tree dir (made by mkdtemp here; symbolic links are not followed). */
static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char *p = hn_path_join(dir, e->d_name);
        struct stat st;
        if (p != NULL && lstat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode)) {
                rm_tree(p);
            } else {
                unlink(p);
            }
        }
        free(p);
    }
    if (d != NULL) {
        closedir(d);
    }
    rmdir(dir);
}

/* The evaluator to re-derive with: --evaluator, else the one evaluator that produced the
 * trial's val_loss. NULL with err (file: the study file, for messages). */
static struct hn_source *pick_evaluator(const struct ex_args *a, const struct ex_trial *t,
                                        struct hn_study *s, const char *file, struct hn_error *err)
{
    struct hn_source *ev = NULL;
    for (size_t i = 0; i < s->n_sources; i++) {
        struct hn_source *x = &s->sources[i];
        if (x->plugin->kind != HN_KIND_EVALUATOR) {
            continue;
        }
        if (a->evaluator ? strcmp(a->evaluator, x->name) == 0
                         : isfinite(trial_metric(t, x->name, "val_loss"))) {
            if (ev != NULL && a->evaluator == NULL) {
                hn_error_config(err, file,
                                "evaluators '%s' and '%s' both measured trial %ld; "
                                "choose one with --evaluator NAME",
                                ev->name, x->name, t->id);
                return NULL;
            }
            ev = x;
        }
    }
    if (ev == NULL && a->evaluator != NULL) {
        hn_error_config(err, file, "no evaluator '%s' in the study", a->evaluator);
        return NULL;
    }
    if (ev == NULL) {
        json_t *of = json_object_get(t->started, "of");
        if (json_is_integer(of)) {
            hn_error_config(err, file,
                            "no evaluator measured trial %ld's val_loss: it re-measures trial "
                            "%lld with oracles only; export trial %lld (or run the verify stage "
                            "with the evaluator, which then keeps the model)",
                            t->id, (long long)json_integer_value(of),
                            (long long)json_integer_value(of));
        } else {
            hn_error_config(err, file,
                            "no evaluator of the study measured trial %ld's val_loss (a trial "
                            "that only ran oracles has no trained model: export its architecture "
                            "with --arch --random)",
                            t->id);
        }
    }
    return ev;
}

/* The trial as the journal recorded it: stage, parameters (checked against the study's
 * space) and architecture. NULL with err. */
static struct hn_trial *recorded_trial(const struct ex_trial *t, const struct hn_study *s,
                                       const char *file, struct hn_error *err)
{
    struct hn_trial *trial = hn_trial_new(
        t->id, json_string_value(json_object_get(t->started, "stage")), NULL, s->space.params->n);
    if (trial == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_params_from_json(s->space.params, json_object_get(t->started, "params"), trial->x,
                            err) != 0) {
        hn_error_prefix(err, "trial %ld's parameters against %s", t->id, file);
        hn_trial_free(trial);
        return NULL;
    }
    trial->arch = json_incref(json_object_get(t->started, "arch"));
    return trial;
}

/*
 * Run evaluator ev on the trial with keep_model into the temporary directory tmp; its
 * val_loss must reproduce the recorded one. Returns the kept model, or NULL with err.
 */
static struct hn_llm_model *run_kept(const struct ex_args *a, const struct ex_trial *t,
                                     struct hn_study *s, struct hn_source *ev,
                                     struct hn_trial *trial, const char *file, const char *tmp,
                                     struct ex_source *src, struct hn_error *err)
{
    struct hn_metrics out = {0};
    struct hn_llm_model *m = NULL;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct hn_eval_request req = {
        .trial = trial,
        .params = s->space.params,
        .work_dir = tmp,
        .seed = hn_rng_derive(s->seed, (uint64_t)t->id) >> 1,
        .threads = a->threads > 0 ? (int)a->threads
                   : cpus > 0     ? (int)cpus
                                  : 1,
        .keep_model = 1,
    };
    fprintf(stderr,
            "hilnas: export: trial %ld kept no model (only verify stages and stages with "
            "keep_model: true keep theirs): re-deriving it with evaluator '%s' of %s\n",
            t->id, ev->name, file);
    /* with the options of the trial's stage (a stage may override the evaluator's) */
    void *ev_ctx = hn_study_source_ctx(s, trial->stage, (size_t)(ev - s->sources), 0);
    if (hn_study_evaluate(s, (size_t)(ev - s->sources), ev_ctx, &req, &out, err) != 0) {
        hn_error_prefix(err, "re-deriving trial %ld", t->id);
        goto done;
    }
    const struct hn_metric *vl = hn_metrics_get(&out, "val_loss");
    src->val_loss = vl ? vl->value : NAN;
    if (vl == NULL ||
        !(fabs(src->val_loss - src->val_loss_recorded) <= 1e-4 * fabs(src->val_loss_recorded))) {
        hn_error_set(err, file,
                     "the re-derived model of trial %ld has val_loss %.9g, the trial recorded "
                     "%.9g: the study file, its backbone or its data changed since the study ran",
                     t->id, src->val_loss, src->val_loss_recorded);
        goto done;
    }
    char mdir[4200], tj[4300];
    snprintf(mdir, sizeof(mdir), "%s/model", tmp);
    snprintf(tj, sizeof(tj), "%s/training.json", mdir);
    m = hn_llm_load(mdir, err);
    if (m == NULL) {
        hn_error_prefix(err, "the evaluator '%s' kept no model (does it train one?)", ev->name);
        goto done;
    }
    src->training = json_load_file(tj, 0, NULL);
    src->rederived = 1;
    src->how = "re-derived";
    fprintf(stderr, "hilnas: export: re-derived trial %ld: val_loss %.9g (recorded %.9g)\n", t->id,
            src->val_loss, src->val_loss_recorded);
done:
    hn_metrics_clear(&out);
    return m;
}

/*
 * Re-derive the trial's model: load its study (the file the journal names, or --study), create
 * its evaluator and run it on the trial's recorded architecture and seed with keep_model into
 * a temporary directory. The result must reproduce the recorded val_loss.
 */
static struct hn_llm_model *rederive(const struct ex_args *a, const struct ex_trial *t,
                                     struct ex_source *src, struct hn_error *err)
{
    const char *file =
        a->study_file ? a->study_file : json_string_value(json_object_get(t->study, "file"));
    struct hn_study *s = NULL;
    struct hn_trial *trial = NULL;
    struct hn_llm_model *m = NULL;
    char tmp[4096] = "";
    if (file == NULL) {
        hn_error_config(err, a->study_dir,
                        "the journal names no study file; give it with --study FILE");
        return NULL;
    }
    struct hn_study_options opt = {
        .overrides = a->sets, .n_overrides = a->n_sets, .output = a->study_dir, .quiet = 1};
    s = hn_study_load(file, &opt, err);
    if (s == NULL) {
        hn_error_prefix(err,
                        "re-deriving trial %ld from its study file %s (give another with "
                        "--study FILE)",
                        t->id, file);
        return NULL;
    }
    json_t *jseed = json_object_get(t->study, "seed");
    if (json_is_integer(jseed) && (uint64_t)json_integer_value(jseed) != s->seed) {
        hn_error_config(err, file,
                        "the study seed is %llu, the journal's %lld: not the file "
                        "that ran this study",
                        (unsigned long long)s->seed, (long long)json_integer_value(jseed));
        goto done;
    }
    struct hn_source *ev = pick_evaluator(a, t, s, file, err);
    if (ev == NULL) {
        goto done;
    }
    snprintf(src->evaluator, sizeof(src->evaluator), "%s", ev->name);
    src->val_loss_recorded = trial_metric(t, ev->name, "val_loss");
    trial = recorded_trial(t, s, file, err);
    if (trial == NULL) {
        goto done;
    }
    const char *tdir = getenv("TMPDIR");
    snprintf(tmp, sizeof(tmp), "%s/hilnas-export.XXXXXX", tdir && *tdir ? tdir : "/tmp");
    if (mkdtemp(tmp) == NULL) {
        hn_error_env(err, tmp, "cannot create a temporary directory: %s", strerror(errno));
        tmp[0] = '\0';
        goto done;
    }
    m = run_kept(a, t, s, ev, trial, file, tmp, src, err);
done:
    if (tmp[0] != '\0') {
        rm_tree(tmp);
    }
    hn_trial_free(trial);
    hn_study_free(s);
    hn_registry_shutdown();
    return m;
}

static struct hn_llm_model *trial_model(const struct ex_args *a, const struct ex_trial *t,
                                        struct ex_source *src, struct hn_error *err)
{
    char dir[4200], cfg[4300], tj[4300];
    struct stat st;
    snprintf(dir, sizeof(dir), "%s/trials/%ld/model", a->study_dir, t->id);
    snprintf(cfg, sizeof(cfg), "%s/config.json", dir);
    snprintf(tj, sizeof(tj), "%s/training.json", dir);
    if (stat(cfg, &st) != 0) {
        return rederive(a, t, src, err);
    }
    struct hn_llm_model *m = hn_llm_load(dir, err);
    if (m == NULL) {
        hn_error_prefix(err, "trial %ld's kept model", t->id);
        return NULL;
    }
    src->how = "kept";
    src->training = json_load_file(tj, 0, NULL);
    src->val_loss = json_number_value(json_object_get(src->training, "val_loss"));
    /* the kept model's val_loss must be the trial's */
    json_t *ms = json_object_get(t->finished, "metrics");
    const char *k;
    json_t *v;
    json_object_foreach(ms, k, v)
    {
        const char *dot = strchr(k, '.');
        if (dot != NULL && strcmp(dot, ".val_loss") == 0 && src->training != NULL &&
            fabs(json_number_value(json_object_get(v, "value")) - src->val_loss) <=
                1e-12 * fabs(src->val_loss)) {
            snprintf(src->evaluator, sizeof(src->evaluator), "%.*s", (int)(dot - k), k);
            src->val_loss_recorded = src->val_loss;
        }
    }
    if (src->training != NULL && src->evaluator[0] == '\0') {
        hn_llm_model_free(m);
        hn_error_set(err, dir,
                     "training.json's val_loss %.9g is none of trial %ld's val_loss "
                     "metrics: the model does not belong to this trial",
                     src->val_loss, t->id);
        return NULL;
    }
    return m;
}

/* ---------------------------------------------------------------------------------------------
 * the model card */

/* s in single quotes for a POSIX shell ('\'' for each quote). */
static void shq(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') {
            fputs("'\\''", f);
        } else {
            fputc(*s, f);
        }
    }
    fputc('\'', f);
}

static void card_metrics(FILE *f, const json_t *ev, const char *title)
{
    json_t *ms = json_object_get(ev, "metrics");
    if (!json_is_object(ms) || json_object_size(ms) == 0) {
        return;
    }
    fprintf(f, "\n%s\n\n| metric | value |\n| --- | --- |\n", title);
    const char *k;
    json_t *v;
    json_object_foreach(ms, k, v)
    {
        json_t *sem = json_object_get(v, "sem");
        fprintf(f, "| `%s` | %.6g", k, json_number_value(json_object_get(v, "value")));
        if (json_is_number(sem)) {
            fprintf(f, " ± %.2g", json_number_value(sem));
        }
        fputs(" |\n", f);
    }
}

/* The card's title, what was written, and the architecture table. */
static void card_architecture(FILE *f, const struct ex_args *a, const struct hn_llm_config *c,
                              const struct ex_trial *t, const char *files)
{
    const char *study = t ? json_string_value(json_object_get(t->study, "name")) : NULL;
    if (t != NULL) {
        fprintf(f, "# %s, trial %ld\n\n", study ? study : "study", t->id);
    } else {
        fprintf(f, "# Random weights for an architecture\n\n");
    }
    fprintf(f, "Exported by hilnas %s as %s (%s): %s.\n", PACKAGE_VERSION,
            a->format == EX_HF ? "Hugging Face safetensors" : "GGUF", dtype_names[a->dtype], files);
    fprintf(f, "Vocabulary: byte-level, token i is byte i (%d tokens, no special tokens).\n",
            c->vocab_size);
    if (t == NULL) {
        fprintf(f,
                "\n**The weights are random** (seed %ld): this file is for timing the "
                "architecture in a runtime, not for its outputs.\n",
                a->seed);
    }
    fprintf(f, "\n## Architecture\n\n| | |\n| --- | --- |\n");
    fprintf(f,
            "| layers | %d |\n| hidden size | %d |\n| attention heads | %d (KV heads %d, "
            "head size %d) |\n| FFN size | %d |\n| vocabulary | %d |\n| context | %d |\n",
            c->num_hidden_layers, c->hidden_size, c->num_attention_heads, c->num_key_value_heads,
            c->head_dim, c->intermediate_size, c->vocab_size, c->max_position_embeddings);
    fprintf(f, "| attention | ");
    for (int l = 0; l < c->num_hidden_layers; l++) {
        fprintf(f, "%s%s", l ? " " : "", c->attention_layers[l] ? "A" : "-");
    }
    fprintf(f, " (A: attention, -: FFN only) |\n| parameters | %zu |\n| tied embeddings | %s |\n",
            hn_llm_param_count(c), c->tie_word_embeddings ? "yes" : "no");
    fprintf(f, "| architecture class | %s |\n",
            a->format == EX_HF ? (all_attention(c) ? "LlamaForCausalLM"
                                                   : "DeciLMForCausalLM "
                                                     "(block_configs)")
                               : (all_attention(c) ? "GGUF `llama`" : "GGUF `deci`"));
}

/* How the trial's model came about: backbone, kept layers, continued pretraining (tr: its
 * training.json, may be NULL). */
static void card_training(FILE *f, const struct ex_trial *t, const json_t *tr)
{
    const json_t *arch = json_object_get(t->started, "arch");
    fprintf(f, "\n## Backbone and pruning\n\n");
    fprintf(f, "- backbone: `%s`\n",
            json_string_value(json_object_get(arch, "backbone")) ?: "(not recorded)");
    json_t *bw = json_object_get(json_object_get(tr, "backbone"), "weights");
    if (bw != NULL) {
        fprintf(f, "- backbone weights: %lld bytes, FNV-1a 64 `%s`\n",
                (long long)json_integer_value(json_object_get(bw, "bytes")),
                json_string_value(json_object_get(bw, "fnv1a64")) ?: "?");
    }
    char *kept = json_dumps(json_object_get(arch, "backbone_layers"), JSON_COMPACT);
    fprintf(f, "- kept backbone layers: %s\n", kept ? kept : "(not recorded)");
    free(kept);
    if (tr == NULL) {
        return;
    }
    fprintf(f, "- selection of channels, heads and neurons: %s\n",
            json_string_value(json_object_get(tr, "select")) ?: "?");
    json_t *x = json_object_get(tr, "training");
    fprintf(f,
            "\n## Continued pretraining\n\n- %lld steps of %lld windows x %lld tokens, "
            "AdamW lr %g (cosine to %g, %lld warmup), weight decay %g, grad clip %g, "
            "seed %lld\n",
            (long long)json_integer_value(json_object_get(x, "steps")),
            (long long)json_integer_value(json_object_get(x, "batch")),
            (long long)json_integer_value(json_object_get(x, "seq")),
            json_number_value(json_object_get(x, "lr")),
            json_number_value(json_object_get(x, "min_lr")),
            (long long)json_integer_value(json_object_get(x, "warmup")),
            json_number_value(json_object_get(x, "weight_decay")),
            json_number_value(json_object_get(x, "grad_clip")),
            (long long)json_integer_value(json_object_get(x, "seed")));
    json_t *e = json_object_get(tr, "eval");
    fprintf(f,
            "- validation: %s/val.bin, %lld batches of %lld windows x %lld tokens "
            "(%lld predicted tokens)\n",
            json_string_value(json_object_get(e, "data")) ?: "?",
            (long long)json_integer_value(json_object_get(e, "batches")),
            (long long)json_integer_value(json_object_get(e, "batch")),
            (long long)json_integer_value(json_object_get(e, "seq")),
            (long long)json_integer_value(json_object_get(e, "tokens")));
    fprintf(f,
            "- val_loss %.6f nats/token (perplexity %.4g); before training "
            "(inherited weights only) %.6f\n",
            json_number_value(json_object_get(tr, "val_loss")),
            exp(json_number_value(json_object_get(tr, "val_loss"))),
            json_number_value(json_object_get(tr, "val_loss_inherited")));
}

/* The commands that reproduce the export (and, for a trial, the study and the val_loss). */
static void card_reproduce(FILE *f, const struct ex_args *a, const struct ex_trial *t,
                           const json_t *tr)
{
    const char *format = a->format == EX_HF ? "hf" : "gguf";
    fprintf(f, "\n## Reproduce\n\n```sh\n");
    if (t == NULL) {
        fprintf(f, "hilnas export --arch ");
        shq(f, a->arch);
        fprintf(f, " --random --seed %ld -o ", a->seed);
        shq(f, a->out);
        fprintf(f, " --format %s --dtype %s\n```\n", format, dtype_names[a->dtype]);
        return;
    }
    const char *file = json_string_value(json_object_get(t->study, "file"));
    if (file != NULL) {
        fputs("hilnas run ", f);
        shq(f, file);
        fputs(" --output ", f);
        shq(f, a->study_dir);
        fputc('\n', f);
    }
    fprintf(f, "hilnas export ");
    shq(f, a->study_dir);
    fprintf(f, " --trial %ld -o ", t->id);
    shq(f, a->out);
    fprintf(f, " --format %s --dtype %s\n", format, dtype_names[a->dtype]);
    json_t *e = json_object_get(tr, "eval");
    if (e != NULL && a->format == EX_HF) {
        char *val = hn_path_join(json_string_value(json_object_get(e, "data")) ?: ".", "val.bin");
        fputs("hilnas eval ", f);
        shq(f, a->out);
        fputs(" --data ", f);
        shq(f, val ? val : "val.bin");
        fprintf(f, " --seq %lld --batch %lld --batches %lld   # val_loss %.9g\n",
                (long long)json_integer_value(json_object_get(e, "seq")),
                (long long)json_integer_value(json_object_get(e, "batch")),
                (long long)json_integer_value(json_object_get(e, "batches")),
                json_number_value(json_object_get(tr, "val_loss")));
        free(val);
    }
    fprintf(f, "```\n");
}

static int write_card(const struct ex_args *a, const struct hn_llm_model *m,
                      const struct ex_trial *t, const struct ex_source *src, const char *files,
                      struct hn_error *err)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    card_architecture(f, a, &m->config, t, files);
    if (t != NULL) {
        card_training(f, t, src->training);
        fprintf(f, "- the weights were %s%s\n", src->how,
                src->rederived ? " by `hilnas export` (the trial kept none) and reproduce the "
                                 "trial's val_loss"
                               : " by the evaluator when the trial ran");
        card_metrics(f, t->finished, "## Measured (this trial, from the journal)");
        json_t *of = json_object_get(t->started, "of");
        if (json_is_integer(of)) {
            char k[32], title[128];
            snprintf(k, sizeof(k), "%lld", (long long)json_integer_value(of));
            snprintf(title, sizeof(title),
                     "## Measured when first evaluated (trial %s, which this trial re-measures)",
                     k);
            card_metrics(f, json_object_get(t->completed, k), title);
        }
    }
    card_reproduce(f, a, t, t ? src->training : NULL);
    if (fclose(f) != 0) {
        free(text);
        return hn_error_set(err, NULL, "out of memory");
    }
    char *path = hn_path_join(a->out, "README.md");
    int rc = path ? hn_write_file_atomic(path, text, len, err)
                  : hn_error_set(err, NULL, "out of memory");
    free(path);
    free(text);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * the command */

static const char usage_text[] =
    "usage: hilnas export STUDY_DIR --trial ID -o OUT [--format hf|gguf] [--dtype f32|f16|bf16]\n"
    "                     [--evaluator NAME] [--study FILE] [--set KEY.PATH=VALUE]... "
    "[--threads N]\n"
    "       hilnas export --arch ARCH.json --random [--seed N] -o OUT [--format hf|gguf]\n"
    "                     [--dtype f32|f16|bf16]\n\n"
    "Write a trial's trained model (or an architecture with random weights) for other "
    "runtimes:\n"
    "  --format hf    OUT/config.json, model.safetensors, generation_config.json, "
    "tokenizer.json,\n"
    "                 tokenizer_config.json: LlamaForCausalLM, or DeciLMForCausalLM "
    "(block_configs)\n"
    "                 when some layers skip attention (default)\n"
    "  --format gguf  OUT/model.gguf for llama.cpp: architecture llama, or deci when some "
    "layers\n"
    "                 skip attention\n"
    "  --dtype        tensor type (default f32; GGUF keeps norms in f32)\n"
    "Both write OUT/README.md, a model card. A trial's model is the one its evaluator kept in\n"
    "STUDY_DIR/trials/ID/model/ (verify stages, keep_model: true); otherwise it is re-derived "
    "by\n"
    "running the trial's evaluator again (--study FILE when the study file moved, --set as the\n"
    "study was run with), and must\n"
    "reproduce the trial's val_loss. --arch takes a decoded architecture (config.json fields, "
    "as\n"
    "the transformer space writes them). See docs/export.md.\n\n"
    "exit codes: 0 success, 1 runtime failure, 2 usage or configuration error\n";

static int check_args(const char *cmd, int argc, char **argv, struct ex_args *a);

/* --trial, --seed or --threads (option c): an integer >= 0 into a. -1 to go on, else the exit
 * status. */
static int parse_count(const char *cmd, int c, struct ex_args *a)
{
    long *num = c == 't' ? &a->trial : c == 's' ? &a->seed : &a->threads;
    char *end = NULL;
    errno = 0;
    *num = strtol(optarg, &end, 10);
    if (end == optarg || *end != '\0' || errno != 0 || *num < 0) {
        return hn_cli_usage_error(cmd, "--%s needs an integer >= 0, got '%s'",
                                  c == 't'   ? "trial"
                                  : c == 's' ? "seed"
                                             : "threads",
                                  optarg);
    }
    a->have_trial |= c == 't';
    return -1;
}

/* --format (option 'f') or --dtype ('d') into a. -1 to go on, else the exit status. */
static int parse_format(const char *cmd, int c, struct ex_args *a)
{
    if (c == 'f') {
        if (strcmp(optarg, "hf") == 0) {
            a->format = EX_HF;
        } else if (strcmp(optarg, "gguf") == 0) {
            a->format = EX_GGUF;
        } else {
            return hn_cli_usage_error(cmd, "--format must be hf or gguf, got '%s'", optarg);
        }
        return -1;
    }
    for (a->dtype = EX_F32; a->dtype <= EX_BF16; a->dtype++) {
        if (strcmp(optarg, dtype_names[a->dtype]) == 0) {
            return -1;
        }
    }
    return hn_cli_usage_error(cmd, "--dtype must be f32, f16 or bf16, got '%s'", optarg);
}

/* One option c of getopt_long (its argument in optarg) into a. -1 to go on, else the exit
 * status (--help, --version, a usage error). */
static int parse_option(const char *cmd, int c, char **argv, struct ex_args *a)
{
    switch (c) {
    case 't':
    case 's':
    case 'j':
        return parse_count(cmd, c, a);
    case 'f':
    case 'd':
        return parse_format(cmd, c, a);
    case 'o':
        a->out = optarg;
        return -1;
    case 'a':
        a->arch = optarg;
        return -1;
    case 'r':
        a->random = 1;
        return -1;
    case 'e':
        a->evaluator = optarg;
        return -1;
    case 'S':
        a->study_file = optarg;
        return -1;
    case 'O':
        if (a->n_sets == EX_MAX_SETS) {
            return hn_cli_usage_error(cmd, "at most %d --set options", EX_MAX_SETS);
        }
        a->sets[a->n_sets++] = optarg;
        return -1;
    case 'h':
        fputs(usage_text, stdout);
        return HN_EXIT_OK;
    case 'V':
        return hn_cli_version(cmd);
    default:
        return hn_cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
    }
}

/* The command line into a. -1 to go on, else the exit status. */
static int parse(int argc, char **argv, struct ex_args *a)
{
    const char *cmd = argv[0];
    static const struct option longopts[] = {
        {"trial", required_argument, NULL, 't'},  {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, 'f'}, {"dtype", required_argument, NULL, 'd'},
        {"arch", required_argument, NULL, 'a'},   {"random", no_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 's'},   {"evaluator", required_argument, NULL, 'e'},
        {"study", required_argument, NULL, 'S'},  {"threads", required_argument, NULL, 'j'},
        {"set", required_argument, NULL, 'O'},    {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof(*a));
    a->seed = 1;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "o:hV", longopts, NULL)) != -1) {
        int rc = parse_option(cmd, c, argv, a);
        if (rc != -1) {
            return rc;
        }
    }
    return check_args(cmd, argc, argv, a);
}

/* The arguments after the options: a study directory and a trial, or --arch with --random;
 * -1 to go on, else the exit status. */
static int check_args(const char *cmd, int argc, char **argv, struct ex_args *a)
{
    if (a->out == NULL) {
        return hn_cli_usage_error(cmd, "-o OUT (the output directory) is required");
    }
    if (a->arch != NULL || a->random) {
        if (a->arch == NULL || !a->random) {
            return hn_cli_usage_error(cmd, "--arch ARCH.json and --random go together");
        }
        if (optind != argc || a->have_trial) {
            return hn_cli_usage_error(cmd, "--arch --random takes no STUDY_DIR or --trial");
        }
        return -1;
    }
    if (optind != argc - 1) {
        return hn_cli_usage_error(cmd,
                                  optind >= argc ? "missing STUDY_DIR" : "expected one STUDY_DIR");
    }
    if (!a->have_trial) {
        return hn_cli_usage_error(cmd, "--trial ID is required");
    }
    a->study_dir = argv[optind];
    return -1;
}

static struct hn_llm_model *random_model(const struct ex_args *a, struct hn_error *err)
{
    json_error_t je;
    json_t *o = json_load_file(a->arch, JSON_REJECT_DUPLICATES, &je);
    struct hn_llm_config c;
    if (o == NULL) {
        hn_error_config(err, a->arch, "%d:%d: %s", je.line, je.column, je.text);
        return NULL;
    }
    int rc = hn_llm_config_from_json(o, a->arch, &c, err);
    json_decref(o);
    if (rc != 0) {
        return NULL;
    }
    struct hn_llm_model *m = hn_llm_model_new(&c, err);
    if (m != NULL) {
        hn_llm_model_randomize(m, (uint64_t)a->seed);
    }
    return m;
}

/* The model to export: the trial's (kept or re-derived; refused before a re-derivation when
 * GGUF cannot hold its architecture), or random weights for --arch. NULL with err. */
static struct hn_llm_model *export_model(const struct ex_args *a, struct ex_trial *t,
                                         struct ex_source *src, struct hn_error *err)
{
    if (a->arch != NULL) {
        return random_model(a, err);
    }
    if (read_trial(a->study_dir, a->trial, t, err) != 0) {
        return NULL;
    }
    /* refuse before spending a re-derivation on it */
    struct hn_llm_config ac;
    char why[512];
    if (a->format == EX_GGUF &&
        hn_llm_config_from_json(json_object_get(t->started, "arch"), "architecture", &ac, err) ==
            0 &&
        gguf_refusal(&ac, why, sizeof(why)) != NULL) {
        hn_error_config(err, NULL, "cannot export trial %ld to GGUF: %s", a->trial, why);
        return NULL;
    }
    hn_error_clear(err);
    return trial_model(a, t, src, err);
}

/* OUT/ in the chosen format; *files: what was written, for the card. Returns 0, or -1. */
static int export_files(const struct ex_args *a, const struct hn_llm_model *m,
                        const struct ex_trial *t, const struct ex_source *src, const char **files,
                        struct hn_error *err)
{
    if (a->format == EX_HF) {
        *files = m->config.vocab_size == 256
                     ? "config.json, model.safetensors, generation_config.json, tokenizer.json, "
                       "tokenizer_config.json"
                     : "config.json, model.safetensors, generation_config.json (no tokenizer: "
                       "the vocabulary is not the 256 bytes)";
        if (export_hf(a->out, m, a->dtype, err) != 0) {
            return -1;
        }
        return src->training != NULL ? write_json(a->out, "training.json", src->training, err) : 0;
    }
    char name[300];
    if (t != NULL) {
        const char *sn = json_string_value(json_object_get(t->study, "name"));
        snprintf(name, sizeof(name), "%s-trial%ld", sn ? sn : "hilnas", a->trial);
    } else {
        snprintf(name, sizeof(name), "hilnas-random-seed%ld", a->seed);
    }
    *files = "model.gguf";
    char *path = hn_path_join(a->out, "model.gguf");
    int r =
        path ? export_gguf(path, m, a->dtype, name, err) : hn_error_set(err, NULL, "out of memory");
    free(path);
    return r;
}

int hn_cmd_export(int argc, char **argv)
{
    struct ex_args a;
    int code = parse(argc, argv, &a);
    if (code >= 0) {
        return code;
    }
    struct hn_error err;
    hn_error_clear(&err);
    struct ex_trial t;
    struct ex_source src = {.how = "random", .val_loss = NAN, .val_loss_recorded = NAN};
    int have_trial = a.arch == NULL, rc = -1;
    const char *files = NULL;
    char why[512];
    memset(&t, 0, sizeof(t));
    struct hn_llm_model *m = export_model(&a, &t, &src, &err);
    if (m == NULL) {
        goto done;
    }
    if (a.format == EX_GGUF && gguf_refusal(&m->config, why, sizeof(why)) != NULL) {
        hn_error_config(&err, NULL, "cannot export to GGUF: %s", why);
        goto done;
    }
    if (hn_mkdir_p(a.out, &err) != 0 ||
        export_files(&a, m, have_trial ? &t : NULL, &src, &files, &err) != 0 ||
        write_card(&a, m, have_trial ? &t : NULL, &src, files, &err) != 0) {
        goto done;
    }
    printf("%s: %s, README.md (%s, %s%s)\n", a.out, files,
           a.format == EX_HF ? "Hugging Face" : "GGUF", dtype_names[a.dtype],
           have_trial ? (src.rederived ? ", re-derived" : ", kept model") : ", random weights");
    rc = 0;
done:
    if (rc != 0) {
        fprintf(stderr, "hilnas: export: %s\n", err.msg);
        code = hn_error_exit_code(&err);
    } else {
        code = HN_EXIT_OK;
    }
    hn_llm_model_free(m);
    json_decref(src.training);
    trial_free(&t);
    return code;
}
