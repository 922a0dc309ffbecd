/* config.json <-> struct hn_llm_config: round trip, Hugging Face files, every error row. */
#include "config.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/llm/llm_config.h"
#include "tests/core/testutil.h"

static char *config_path(const char *tag)
{
    char *dir = tu_tmpdir(tag);
    cr_assert_not_null(dir);
    char *path = malloc(strlen(dir) + sizeof("/config.json"));
    sprintf(path, "%s/config.json", dir);
    free(dir);
    return path;
}

Test(llm_config, round_trip_keeps_every_field_exactly)
{
    char *path = config_path("cfg");
    struct hn_llm_config c, r;
    struct hn_error err;
    hn_llm_config_default(&c);
    c.hidden_size = 96;
    c.intermediate_size = 250;
    c.num_hidden_layers = 5;
    c.num_attention_heads = 6;
    c.num_key_value_heads = 2;
    c.head_dim = 10; /* not hidden / heads: kept as given */
    c.vocab_size = 65536;
    c.max_position_embeddings = 4096;
    c.rms_norm_eps = 1.0 / 3e5; /* needs all 17 digits */
    c.rope_theta = 500000.25;
    c.tie_word_embeddings = 0;
    c.attention_layers[1] = 0;
    c.attention_layers[4] = 0;
    cr_assert_eq(hn_llm_config_write(path, &c, &err), 0, "%s", err.msg);
    memset(&r, 0x5a, sizeof(r));
    cr_assert_eq(hn_llm_config_read(path, &r, &err), 0, "%s", err.msg);
    cr_expect_eq(r.hidden_size, 96);
    cr_expect_eq(r.intermediate_size, 250);
    cr_expect_eq(r.num_hidden_layers, 5);
    cr_expect_eq(r.num_attention_heads, 6);
    cr_expect_eq(r.num_key_value_heads, 2);
    cr_expect_eq(r.head_dim, 10);
    cr_expect_eq(r.vocab_size, 65536);
    cr_expect_eq(r.max_position_embeddings, 4096);
    cr_expect(r.rms_norm_eps == c.rms_norm_eps, "eps %.17g vs %.17g", r.rms_norm_eps,
              c.rms_norm_eps);
    cr_expect(r.rope_theta == c.rope_theta);
    cr_expect_eq(r.tie_word_embeddings, 0);
    for (int i = 0; i < 5; i++) {
        cr_expect_eq(r.attention_layers[i], i == 1 || i == 4 ? 0 : 1, "layer %d", i);
    }
    /* the file speaks Hugging Face: check it with jansson, independently of the reader */
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    cr_assert_not_null(o, "%s", je.text);
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(o, "architectures"), 0)),
                     "LlamaForCausalLM");
    cr_expect_str_eq(json_string_value(json_object_get(o, "model_type")), "llama");
    cr_expect_str_eq(json_string_value(json_object_get(o, "torch_dtype")), "float32");
    cr_expect_str_eq(json_string_value(json_object_get(o, "hidden_act")), "silu");
    cr_expect_eq(json_integer_value(json_object_get(o, "num_key_value_heads")), 2);
    json_t *layers = json_object_get(o, "attention_layers");
    cr_expect(json_is_array(layers) && json_array_size(layers) == 5);
    cr_expect(json_is_false(json_array_get(layers, 1)) && json_is_true(json_array_get(layers, 0)));
    json_decref(o);
    /* all layers with attention: a plain Llama config, no attention_layers */
    c.attention_layers[1] = c.attention_layers[4] = 1;
    cr_assert_eq(hn_llm_config_write(path, &c, &err), 0, "%s", err.msg);
    o = json_load_file(path, 0, &je);
    cr_expect_null(json_object_get(o, "attention_layers"));
    json_decref(o);
    free(path);
}

Test(llm_config, reads_a_hugging_face_config)
{
    /* tests/data/llm/smollm2-135m-config.json: HuggingFaceTB/SmolLM2-135M's LlamaConfig as
     * transformers 4.48 prints it, unknown fields included */
    char path[4200];
    snprintf(path, sizeof(path), "%s/data/llm/smollm2-135m-config.json", HN_TEST_SRCDIR);
    struct hn_llm_config c;
    struct hn_error err;
    cr_assert_eq(hn_llm_config_read(path, &c, &err), 0, "%s", err.msg);
    cr_expect_eq(c.hidden_size, 576);
    cr_expect_eq(c.intermediate_size, 1536);
    cr_expect_eq(c.num_hidden_layers, 30);
    cr_expect_eq(c.num_attention_heads, 9);
    cr_expect_eq(c.num_key_value_heads, 3);
    cr_expect_eq(c.head_dim, 64);
    cr_expect_eq(c.vocab_size, 49152);
    cr_expect_eq(c.max_position_embeddings, 2048);
    cr_expect(c.rms_norm_eps == 1e-5 && c.rope_theta == 100000);
    cr_expect_eq(c.tie_word_embeddings, 1);
    for (int i = 0; i < 30; i++) {
        cr_expect_eq(c.attention_layers[i], 1);
    }
}

Test(llm_config, absent_fields_take_llama_defaults)
{
    char *path = config_path("cfgdef");
    tu_write_file(path,
                  "{\"hidden_size\": 64, \"intermediate_size\": 172, \"num_hidden_layers\": 3,"
                  " \"num_attention_heads\": 8, \"vocab_size\": 256}");
    struct hn_llm_config c;
    struct hn_error err;
    cr_assert_eq(hn_llm_config_read(path, &c, &err), 0, "%s", err.msg);
    cr_expect_eq(c.head_dim, 8, "hidden_size / num_attention_heads");
    cr_expect_eq(c.num_key_value_heads, 8, "num_attention_heads");
    cr_expect_eq(c.max_position_embeddings, 2048);
    cr_expect(c.rms_norm_eps == 1e-6 && c.rope_theta == 10000);
    cr_expect_eq(c.tie_word_embeddings, 0);
    cr_expect(c.attention_layers[0] && c.attention_layers[1] && c.attention_layers[2]);
    /* nulls count as absent, as Python writes None */
    tu_write_file(path,
                  "{\"hidden_size\": 64, \"intermediate_size\": 172, \"num_hidden_layers\": 1,"
                  " \"num_attention_heads\": 8, \"num_key_value_heads\": null, "
                  "\"head_dim\": null, \"vocab_size\": 256, \"attention_layers\": null}");
    cr_assert_eq(hn_llm_config_read(path, &c, &err), 0, "%s", err.msg);
    cr_expect(c.num_key_value_heads == 8 && c.head_dim == 8);
    free(path);
}

#define BASE "\"hidden_size\": 64, \"intermediate_size\": 8, \"vocab_size\": 9, "

Test(llm_config, bad_files_name_the_file_and_field)
{
    struct {
        const char *json;
        const char *expect;
    } rows[] = {
        {"{\"hidden_size\": 64}", "missing required field 'intermediate_size'"},
        {"{" BASE "\"num_hidden_layers\": 2, \"num_attention_heads\": 6, "
         "\"num_key_value_heads\": 4}",
         "config.json: num_attention_heads (6) must be a multiple of num_key_value_heads (4)"},
        {"{" BASE "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
         "\"attention_layers\": [true]}",
         "'attention_layers' must be a list of 2 booleans"},
        {"{" BASE "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
         "\"attention_layers\": [true, 1]}",
         "attention_layers[1] must be true or false"},
        {"{" BASE "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
         "\"attention_layers\": \"all\"}",
         "'attention_layers' must be a list"},
        /* more layers than the struct holds: refused before the list is stored */
        {"{" BASE "\"num_hidden_layers\": 300, \"num_attention_heads\": 4, "
         "\"attention_layers\": [" /* filled below */ "]}",
         "num_hidden_layers must be in 1..256, found 300"},
        {"{\"hidden_size\": \"64\"}", "field 'hidden_size' must be an integer"},
        {"{\"hidden_size\": 64.0}", "field 'hidden_size' must be an integer"},
        {"{\"hidden_size\": -3}", "field 'hidden_size' (-3) must be in 0.."},
        {"{" BASE "\"num_hidden_layers\": 0, \"num_attention_heads\": 4}",
         "num_hidden_layers must be in 1..256, found 0"},
        {"{" BASE "\"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"head_dim\": 0}",
         "head_dim must be in 1..4096, found 0"},
        {"{" BASE "\"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"head_dim\": 7}",
         "head_dim (7) must be even"},
        {"{\"hidden_size\": 64, \"intermediate_size\": 8, \"num_hidden_layers\": 2, "
         "\"num_attention_heads\": 4, \"vocab_size\": 2000000}",
         "vocab_size must be in 1..1048576, found 2000000"},
        {"{" BASE "\"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"rms_norm_eps\": 0}",
         "rms_norm_eps (0) must be positive"},
        {"{" BASE "\"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"rope_theta\": \"x\"}",
         "field 'rope_theta' must be a number"},
        {"{" BASE "\"num_hidden_layers\": 1, \"num_attention_heads\": 4, "
         "\"tie_word_embeddings\": 1}",
         "field 'tie_word_embeddings' must be true or false"},
        {"{" BASE "\"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"hidden_act\": \"gelu\"}",
         "'hidden_act' must be \"silu\""},
        {"{" BASE "\"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"mlp_bias\": true}",
         "'mlp_bias' must be false"},
        {"{" BASE "\"num_hidden_layers\": 1, \"num_attention_heads\": 4, "
         "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}}",
         "'rope_scaling' must be null"},
        {"{\"hidden_size\": 64,\n \"hidden_size\": 65}", "config.json:2:"},
        {"{\"hidden_size\": 64,", "config.json:1:"},
        {"[1, 2]", "must hold a JSON object"},
    };
    char *path = config_path("cfgbad");
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char text[8192];
        snprintf(text, sizeof(text), "%s", rows[i].json);
        char *list = strstr(text, "\"attention_layers\": []");
        if (list != NULL) {
            char *p = list + strlen("\"attention_layers\": [");
            for (int k = 0; k < 300; k++) {
                p += sprintf(p, "%strue", k ? "," : "");
            }
            strcpy(p, "]}");
        }
        tu_write_file(path, text);
        struct hn_llm_config c;
        struct hn_error err;
        hn_error_clear(&err);
        cr_expect_eq(hn_llm_config_read(path, &c, &err), -1, "row %zu accepted", i);
        cr_expect(strstr(err.msg, rows[i].expect) != NULL, "row %zu: expected '%s' in: %s", i,
                  rows[i].expect, err.msg);
        cr_expect(strncmp(err.msg, path, strlen(path)) == 0, "row %zu starts with the path: %s", i,
                  err.msg);
        cr_expect_eq(err.kind, HN_ERR_CONFIG, "row %zu is a configuration error", i);
    }
    struct hn_llm_config c;
    struct hn_error err;
    cr_expect_eq(hn_llm_config_read("/nonexistent/config.json", &c, &err), -1);
    cr_expect(strstr(err.msg, "/nonexistent/config.json: cannot open: No such file") != NULL, "%s",
              err.msg);
    cr_expect_eq(err.kind, HN_ERR_CONFIG);
    free(path);
}

Test(llm_config, validate_and_write_refuse_bad_configs)
{
    struct hn_llm_config c;
    struct hn_error err;
    hn_llm_config_default(&c);
    cr_expect_eq(hn_llm_config_validate(&c, &err), 0, "the default is valid: %s", err.msg);
    cr_expect_eq(c.head_dim * c.num_attention_heads, c.hidden_size);
    c.vocab_size = 262144; /* Gemma's; Llama 3 has 128256 */
    cr_expect_eq(hn_llm_config_validate(&c, &err), 0, "large vocabularies load: %s", err.msg);
    hn_llm_config_default(&c);
    c.num_key_value_heads = 3;
    cr_expect_eq(hn_llm_config_validate(&c, &err), -1);
    cr_expect(strstr(err.msg, "num_attention_heads (4) must be a multiple of "
                              "num_key_value_heads (3)") != NULL,
              "%s", err.msg);
    char *path = config_path("cfgw");
    cr_expect_eq(hn_llm_config_write(path, &c, &err), -1);
    cr_expect(strstr(err.msg, path) != NULL, "%s", err.msg);
    FILE *f = fopen(path, "r");
    cr_expect_null(f, "nothing written for an invalid config");
    if (f != NULL) {
        fclose(f);
    }
    hn_llm_config_default(&c);
    c.rope_theta = INFINITY;
    cr_expect_eq(hn_llm_config_validate(&c, &err), -1);
    cr_expect(strstr(err.msg, "rope_theta") != NULL, "%s", err.msg);
    hn_llm_config_default(&c);
    cr_expect_eq(hn_llm_config_write("/nonexistent/dir/config.json", &c, &err), -1);
    cr_expect(strstr(err.msg, "/nonexistent/dir/config.json") != NULL, "%s", err.msg);
    free(path);
}
