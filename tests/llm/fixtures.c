/* Fixtures for tests with token files and small real models (tests/llm/fixtures.h). */
#include "config.h"

#include "tests/llm/fixtures.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/llm/checkpoint.h"
#include "hilnas/llm/tokens.h"
#include "hilnas/llm/train.h"
#include "hilnas/rng.h"
#include "tests/core/testutil.h"

uint16_t *tu_write_data(const char *dir, size_t n)
{
    char path[4500];
    uint16_t *tok = malloc(n * sizeof(uint16_t));
    cr_assert_not_null(tok);
    struct hn_rng rng;
    hn_rng_seed(&rng, 9);
    for (size_t i = 0; i < n; i++) {
        tok[i] = (uint16_t)('a' + (i / 3 + hn_rng_below(&rng, 3)) % 7);
    }
    struct hn_error err;
    snprintf(path, sizeof(path), "%s/train.bin", dir);
    cr_assert_eq(hn_tokens_write(path, tok, n, &err), 0, "%s", err.msg);
    snprintf(path, sizeof(path), "%s/val.bin", dir);
    cr_assert_eq(hn_tokens_write(path, tok, n / 2, &err), 0, "%s", err.msg);
    return tok;
}

struct hn_llm_config tu_config(int layers, int hidden, int heads, int kv_heads, int head_dim,
                               int ffn, int vocab)
{
    struct hn_llm_config c;
    hn_llm_config_default(&c);
    c.num_hidden_layers = layers;
    c.hidden_size = hidden;
    c.num_attention_heads = heads;
    c.num_key_value_heads = kv_heads;
    c.head_dim = head_dim;
    c.intermediate_size = ffn;
    c.vocab_size = vocab;
    c.max_position_embeddings = 64;
    return c;
}

struct hn_llm_model *tu_model(const struct hn_llm_config *c, uint64_t seed)
{
    struct hn_error err;
    struct hn_llm_model *m = hn_llm_model_new(c, &err);
    cr_assert_not_null(m, "%s", err.msg);
    hn_llm_model_randomize(m, seed);
    return m;
}

struct hn_llm_model *tu_tiny_model(uint64_t seed)
{
    struct hn_llm_config c = tu_config(3, 32, 4, 2, 8, 48, 256);
    c.tie_word_embeddings = 0;
    return tu_model(&c, seed);
}

void tu_save_model(const struct hn_llm_model *m, const char *dir, const char *name)
{
    char path[4500];
    struct hn_error err;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    cr_assert_eq(hn_llm_save(m, path, &err), 0, "%s", err.msg);
}

void tu_pretrain_backbone(const char *dir, long steps)
{
    struct hn_llm_train_opts o;
    hn_llm_train_opts_default(&o);
    o.config = tu_config(2, 32, 4, 2, 8, 64, 256);
    o.seq = 16;
    o.batch = 8;
    o.steps = steps;
    o.warmup = 10;
    o.lr = 3e-3;
    o.min_lr = 3e-4;
    o.eval_interval = 0;
    o.checkpoint_interval = 0;
    o.data_dir = dir;
    char out[4500];
    snprintf(out, sizeof(out), "%s/pre", dir);
    o.out_dir = out;
    o.quiet = 1;
    o.threads = 1;
    struct hn_error err;
    cr_assert_eq(hn_llm_pretrain(&o, &err), 0, "%s", err.msg);
}

int tu_csv_column(const char *dir, const char *name, double *v, int max)
{
    char path[4500];
    snprintf(path, sizeof(path), "%s/run/trials.csv", dir);
    char *csv = tu_read_file(path);
    cr_assert_not_null(csv, "%s", path);
    char *save = NULL, *line = strtok_r(csv, "\n", &save);
    int col = -1, k = 0, rows = 0;
    for (char *f = line; f != NULL; k++) {
        char *comma = strchr(f, ',');
        size_t len = comma ? (size_t)(comma - f) : strlen(f);
        if (len == strlen(name) && strncmp(f, name, len) == 0) {
            col = k;
        }
        f = comma ? comma + 1 : NULL;
    }
    cr_assert_geq(col, 0, "no column %s", name);
    while ((line = strtok_r(NULL, "\n", &save)) != NULL && rows < max) {
        char *f = line;
        for (int i = 0; i < col && f != NULL; i++) {
            f = strchr(f, ',');
            f = f ? f + 1 : NULL;
        }
        v[rows++] = f ? strtod(f, NULL) : NAN;
    }
    free(csv);
    return rows;
}
