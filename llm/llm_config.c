/* llm/llm_config.c: config.json <-> struct hn_llm_config (see llm_config.h). */
#include "config.h"

#include <errno.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/llm/llm_config.h"
#include "hilnas/util.h"

void hn_llm_config_default(struct hn_llm_config *c)
{
    memset(c, 0, sizeof(*c));
    c->hidden_size = 64;
    c->intermediate_size = 128;
    c->num_hidden_layers = 2;
    c->num_attention_heads = 4;
    c->num_key_value_heads = 4;
    c->head_dim = 16;
    c->vocab_size = 256;
    c->max_position_embeddings = 1024;
    c->rms_norm_eps = 1e-5;
    c->rope_theta = 10000;
    c->tie_word_embeddings = 1;
    memset(c->attention_layers, 1, sizeof(c->attention_layers));
}

int hn_llm_config_validate(const struct hn_llm_config *c, struct hn_error *err)
{
    struct {
        const char *name;
        int value;
        int max;
    } dims[] = {
        {"hidden_size", c->hidden_size, 1 << 16},
        {"intermediate_size", c->intermediate_size, 1 << 18},
        {"num_hidden_layers", c->num_hidden_layers, HN_LLM_MAX_LAYERS},
        {"num_attention_heads", c->num_attention_heads, 4096},
        {"num_key_value_heads", c->num_key_value_heads, 4096},
        {"head_dim", c->head_dim, 4096},
        {"vocab_size", c->vocab_size, HN_LLM_MAX_VOCAB},
        {"max_position_embeddings", c->max_position_embeddings, 1 << 24},
    };
    for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++) {
        if (dims[i].value < 1 || dims[i].value > dims[i].max) {
            return hn_error_config(err, NULL, "%s must be in 1..%d, found %d", dims[i].name,
                                   dims[i].max, dims[i].value);
        }
    }
    if (c->num_attention_heads % c->num_key_value_heads != 0) {
        return hn_error_config(err, NULL,
                               "num_attention_heads (%d) must be a multiple of "
                               "num_key_value_heads (%d)",
                               c->num_attention_heads, c->num_key_value_heads);
    }
    if (c->head_dim % 2 != 0) {
        return hn_error_config(err, NULL, "head_dim (%d) must be even for rotary embeddings",
                               c->head_dim);
    }
    if (!(c->rms_norm_eps > 0) || !isfinite(c->rms_norm_eps)) {
        return hn_error_config(err, NULL, "rms_norm_eps (%g) must be positive and finite",
                               c->rms_norm_eps);
    }
    if (!(c->rope_theta > 0) || !isfinite(c->rope_theta)) {
        return hn_error_config(err, NULL, "rope_theta (%g) must be positive and finite",
                               c->rope_theta);
    }
    return 0;
}

static int get_int(const json_t *o, const char *key, int *out, int required, const char *path,
                   struct hn_error *err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v)) {
        return required ? hn_error_config(err, path, "missing required field '%s'", key) : 1;
    }
    if (!json_is_integer(v)) {
        return hn_error_config(err, path, "field '%s' must be an integer", key);
    }
    if (json_integer_value(v) < 0 || json_integer_value(v) > 1 << 30) {
        return hn_error_config(err, path, "field '%s' (%lld) must be in 0..%d", key,
                               (long long)json_integer_value(v), 1 << 30);
    }
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_double(const json_t *o, const char *key, double *out, const char *path,
                      struct hn_error *err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v)) {
        return 1;
    }
    if (!json_is_number(v)) {
        return hn_error_config(err, path, "field '%s' must be a number", key);
    }
    *out = json_number_value(v);
    return 0;
}

static int get_bool(const json_t *o, const char *key, int *out, const char *path,
                    struct hn_error *err)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v)) {
        return 1;
    }
    if (!json_is_boolean(v)) {
        return hn_error_config(err, path, "field '%s' must be true or false", key);
    }
    *out = json_is_true(v);
    return 0;
}

/* Fields this engine cannot honour: refuse rather than compute a different model. */
static int check_unsupported(const json_t *o, const char *path, struct hn_error *err)
{
    json_t *v = json_object_get(o, "hidden_act");
    if (v != NULL && !json_is_null(v) &&
        (!json_is_string(v) || strcmp(json_string_value(v), "silu") != 0)) {
        return hn_error_config(err, path,
                               "field 'hidden_act' must be \"silu\" (the engine's SwiGLU MLP)");
    }
    static const char *const off[] = {"attention_bias", "mlp_bias"};
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
        v = json_object_get(o, off[i]);
        if (v != NULL && !json_is_null(v) && !json_is_false(v)) {
            return hn_error_config(err, path, "field '%s' must be false (the engine has no biases)",
                                   off[i]);
        }
    }
    v = json_object_get(o, "rope_scaling");
    if (v != NULL && !json_is_null(v)) {
        return hn_error_config(err, path,
                               "field 'rope_scaling' must be null (the engine implements plain "
                               "RoPE only)");
    }
    return 0;
}

int hn_llm_config_read(const char *path, struct hn_llm_config *c, struct hn_error *err)
{
    json_error_t je;
    FILE *f = fopen(path, "rbe");
    if (f == NULL) {
        hn_llm_config_default(c);
        return hn_error_config(err, path,
                               "cannot open: %s (a checkpoint is a directory with config.json "
                               "and model.safetensors, as hilnas pretrain writes)",
                               hn_strerror(errno));
    }
    json_t *o = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    if (o == NULL) {
        char where[4200];
        snprintf(where, sizeof(where), "%s:%d:%d", path, je.line, je.column);
        hn_llm_config_default(c);
        return hn_error_config(err, where, "not valid JSON: %s", je.text);
    }
    int rc = hn_llm_config_from_json(o, path, c, err);
    json_decref(o);
    return rc;
}

int hn_llm_config_from_json(const json_t *o, const char *path, struct hn_llm_config *c,
                            struct hn_error *err)
{
    int rc = -1;
    hn_llm_config_default(c);
    /* what transformers' LlamaConfig assumes for absent optional fields */
    c->max_position_embeddings = 2048;
    c->rms_norm_eps = 1e-6;
    c->rope_theta = 10000;
    c->tie_word_embeddings = 0;
    if (!json_is_object(o)) {
        hn_error_config(err, path, "must hold a JSON object");
        goto fail;
    }
    if (get_int(o, "hidden_size", &c->hidden_size, 1, path, err) < 0 ||
        get_int(o, "intermediate_size", &c->intermediate_size, 1, path, err) < 0 ||
        get_int(o, "num_hidden_layers", &c->num_hidden_layers, 1, path, err) < 0 ||
        get_int(o, "num_attention_heads", &c->num_attention_heads, 1, path, err) < 0 ||
        get_int(o, "vocab_size", &c->vocab_size, 1, path, err) < 0) {
        goto fail;
    }
    c->num_key_value_heads = c->num_attention_heads;
    c->head_dim = c->num_attention_heads > 0 ? c->hidden_size / c->num_attention_heads : 0;
    if (get_int(o, "num_key_value_heads", &c->num_key_value_heads, 0, path, err) < 0 ||
        get_int(o, "head_dim", &c->head_dim, 0, path, err) < 0 ||
        get_int(o, "max_position_embeddings", &c->max_position_embeddings, 0, path, err) < 0 ||
        get_double(o, "rms_norm_eps", &c->rms_norm_eps, path, err) < 0 ||
        get_double(o, "rope_theta", &c->rope_theta, path, err) < 0 ||
        get_bool(o, "tie_word_embeddings", &c->tie_word_embeddings, path, err) < 0 ||
        check_unsupported(o, path, err) != 0) {
        goto fail;
    }
    if (c->num_hidden_layers < 1 || c->num_hidden_layers > HN_LLM_MAX_LAYERS) {
        hn_error_config(err, path, "num_hidden_layers must be in 1..%d, found %d",
                        HN_LLM_MAX_LAYERS, c->num_hidden_layers);
        goto fail;
    }
    const json_t *v = json_object_get(o, "attention_layers");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_array(v) || json_array_size(v) != (size_t)c->num_hidden_layers) {
            hn_error_config(err, path,
                            "field 'attention_layers' must be a list of %d booleans (one per "
                            "layer, num_hidden_layers), found %s of %zu",
                            c->num_hidden_layers, json_is_array(v) ? "a list" : "not a list",
                            json_is_array(v) ? json_array_size(v) : (size_t)0);
            goto fail;
        }
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *b = json_array_get(v, i);
            if (!json_is_boolean(b)) {
                hn_error_config(err, path, "attention_layers[%zu] must be true or false", i);
                goto fail;
            }
            c->attention_layers[i] = json_is_true(b);
        }
    }
    if (hn_llm_config_validate(c, err) != 0) {
        hn_error_prefix(err, "%s", path);
        goto fail;
    }
    rc = 0;
fail:
    return rc;
}

int hn_llm_config_write(const char *path, const struct hn_llm_config *c, struct hn_error *err)
{
    if (hn_llm_config_validate(c, err) != 0) {
        hn_error_prefix(err, "%s", path);
        return -1;
    }
    json_t *o = json_pack(
        "{s:[s], s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:s, s:b, s:b}",
        "architectures", "LlamaForCausalLM", "model_type", "llama", "torch_dtype", "float32",
        "hidden_size", c->hidden_size, "intermediate_size", c->intermediate_size,
        "num_hidden_layers", c->num_hidden_layers, "num_attention_heads", c->num_attention_heads,
        "num_key_value_heads", c->num_key_value_heads, "head_dim", c->head_dim, "vocab_size",
        c->vocab_size, "max_position_embeddings", c->max_position_embeddings, "rms_norm_eps",
        c->rms_norm_eps, "rope_theta", c->rope_theta, "tie_word_embeddings", c->tie_word_embeddings,
        "hidden_act", "silu", "attention_bias", 0, "mlp_bias", 0);
    json_t *layers = json_array();
    if (o == NULL || layers == NULL) {
        json_decref(o);
        json_decref(layers);
        return hn_error_set(err, path, "out of memory");
    }
    int all = 1;
    for (int i = 0; i < c->num_hidden_layers; i++) {
        json_array_append_new(layers, json_boolean(c->attention_layers[i]));
        all &= c->attention_layers[i] != 0;
    }
    if (all) {
        json_decref(layers); /* a plain Llama: nothing to say */
    } else {
        json_object_set_new(o, "attention_layers", layers);
    }
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    json_decref(o);
    if (text == NULL) {
        return hn_error_set(err, path, "out of memory");
    }
    size_t len = strlen(text);
    char *withnl = realloc(text, len + 2);
    if (withnl == NULL) {
        free(text);
        return hn_error_set(err, path, "out of memory");
    }
    withnl[len] = '\n';
    withnl[len + 1] = '\0';
    int rc = hn_write_file_atomic(path, withnl, len + 1, err);
    free(withnl);
    return rc;
}
