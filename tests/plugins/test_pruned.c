/*
 * Evaluator "pruned" through real studies. Exactness: a backbone whose query heads 2-3 (the
 * second KV group, with its k/v rows) and FFN neurons 0-15 are zero in every layer computes the
 * same function without them, so pruning to those shapes must give exactly the backbone's
 * validation loss (computed here in-process) before any training: this checks the choice of
 * heads, KV heads and neurons by importance, the GQA regrouping and every slice. Then: training
 * lowers the loss of a real pruning, and bad data or a space without architectures are refused.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/rng.h"
#include "hilnas/llm/checkpoint.h"
#include "hilnas/llm/model.h"
#include "hilnas/llm/tokens.h"
#include "hilnas/llm/train.h"
#include "tests/core/testutil.h"

#define L 3
#define C 32
#define NH 4
#define KVH 2
#define HD 8
#define F 48
#define V 256

static uint16_t *make_data(const char *dir, size_t n)
{
    char path[4500];
    uint16_t *tok = malloc(n * sizeof(uint16_t));
    struct hn_rng rng;
    hn_rng_seed(&rng, 9);
    /* a byte stream with structure: runs of a few letters */
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

/* The backbone, saved to dir/backbone; heads 2-3, KV head 1 and FFN neurons 0-15 zeroed. */
static struct hn_llm_model *make_backbone(const char *dir)
{
    struct hn_llm_config c;
    hn_llm_config_default(&c);
    c.num_hidden_layers = L;
    c.hidden_size = C;
    c.num_attention_heads = NH;
    c.num_key_value_heads = KVH;
    c.head_dim = HD;
    c.intermediate_size = F;
    c.vocab_size = V;
    c.max_position_embeddings = 64;
    c.tie_word_embeddings = 0;
    struct hn_error err;
    struct hn_llm_model *m = hn_llm_model_new(&c, &err);
    cr_assert_not_null(m, "%s", err.msg);
    hn_llm_model_randomize(m, 3);
    /* larger weights than the default init, so that every part matters */
    for (size_t i = 0; i < m->n_params; i++) {
        m->params[i] *= 3.0f;
    }
    for (int l = 0; l < L; l++) {
        struct hn_llm_layer *w = &m->w.layers[l];
        for (size_t r = 2 * HD; r < 4 * HD; r++) {
            memset(w->wq + r * C, 0, C * sizeof(float));
            for (size_t o = 0; o < C; o++) {
                w->wo[o * NH * HD + r] = 0.0f;
            }
        }
        for (size_t r = HD; r < 2 * HD; r++) {
            memset(w->wk + r * C, 0, C * sizeof(float));
            memset(w->wv + r * C, 0, C * sizeof(float));
        }
        for (size_t i = 0; i < 16; i++) {
            memset(w->wgate + i * C, 0, C * sizeof(float));
            memset(w->wup + i * C, 0, C * sizeof(float));
            for (size_t o = 0; o < C; o++) {
                w->wdown[o * F + i] = 0.0f;
            }
        }
    }
    char path[4500];
    snprintf(path, sizeof(path), "%s/backbone", dir);
    cr_assert_eq(hn_llm_save(m, path, &err), 0, "%s", err.msg);
    return m;
}

/* Column `name` of trials.csv for each row (up to max), as numbers; returns the row count. */
static int csv_column(const char *dir, const char *name, double *v, int max)
{
    char path[4500];
    snprintf(path, sizeof(path), "%s/run/trials.csv", dir);
    char *csv = tu_read_file(path);
    cr_assert_not_null(csv);
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

Test(pruned, zero_heads_and_neurons_prune_away_exactly, .timeout = 120)
{
    char *tmp = tu_tmpdir("pruned"), text[4096], *err;
    uint16_t *tok = make_data(tmp, 6000);
    struct hn_llm_model *b = make_backbone(tmp);
    double want;
    size_t n;
    struct hn_error e;
    cr_assert_eq(hn_llm_eval_windows(b, tok, 3000, 16, 4, 3, &want, &n, &e), 0, "%s", e.msg);
    /* heads 2 (one group: the zero heads go) or 4 (the zero heads regrouped under the kept KV
     * head: still no contribution); one KV head; 32 of 48 neurons */
    snprintf(text, sizeof(text),
             "study: {name: exact, seed: 1}\n"
             "space:\n"
             "  plugin: transformer\n"
             "  backbone: %s/backbone\n"
             "  depth: {min: 3, max: 3}\n"
             "  include_backbone: false\n"
             "  heads: [2, 4]\n"
             "  kv_heads: [1]\n"
             "  d_ffn: [32]\n"
             "evaluators:\n"
             "  q: {plugin: pruned, data: %s, steps: 0, seq: 16, batch: 4, eval_batches: 3}\n"
             "objectives: [{metric: q.val_loss, goal: minimize}]\n"
             "stages: [{name: s, sampler: sobol, trials: 2}]\n",
             tmp, tmp);
    int rc = tu_run_study_text(tmp, text, "run", &err);
    cr_assert_eq(rc, 0, "run failed: %s", err);
    free(err);
    double got[4], heads[4];
    cr_assert_eq(csv_column(tmp, "q.val_loss_inherited", got, 4), 2);
    csv_column(tmp, "heads", heads, 4);
    cr_expect(heads[0] != heads[1], "both head counts were tried");
    for (int i = 0; i < 2; i++) {
        printf("pruned to %g heads: %.9f, backbone %.9f\n", heads[i], got[i], want);
        cr_expect(fabs(got[i] - want) <= 1e-5 * want, "heads %g: %.9f, backbone %.9f", heads[i],
                  got[i], want);
    }
    /* select: first keeps neurons 0-31, among them the 16 zero ones, and drops live ones */
    char *first = strstr(text, "eval_batches: 3}");
    cr_assert_not_null(first);
    memmove(first + strlen("eval_batches: 3, select: first}"), first + strlen("eval_batches: 3}"),
            strlen(first + strlen("eval_batches: 3}")) + 1);
    memcpy(first, "eval_batches: 3, select: first}", strlen("eval_batches: 3, select: first}"));
    char sub[4400];
    snprintf(sub, sizeof(sub), "%s/first", tmp);
    cr_assert_eq(tu_run((char *const[]){"/bin/mkdir", "-p", sub, NULL}, NULL, NULL, NULL), 0);
    rc = tu_run_study_text(sub, text, "run", &err);
    cr_assert_eq(rc, 0, "run failed: %s", err);
    free(err);
    cr_assert_eq(csv_column(sub, "q.val_loss_inherited", got, 4), 2);
    for (int i = 0; i < 2; i++) {
        cr_expect(fabs(got[i] - want) > 1e-3, "select: first differs (%.9f vs %.9f)", got[i], want);
    }
    hn_llm_model_free(b);
    free(tok);
    free(tmp);
}

Test(pruned, training_recovers_from_pruning_and_errors_are_clear, .timeout = 120)
{
    char *tmp = tu_tmpdir("pruned2"), text[4096], *err;
    uint16_t *tok = make_data(tmp, 6000);
    struct hn_llm_model *b = make_backbone(tmp);
    snprintf(text, sizeof(text),
             "study: {name: train, seed: 1}\n"
             "space:\n"
             "  plugin: transformer\n"
             "  backbone: %s/backbone\n"
             "  depth: {min: 2, max: 2}\n"
             "  include_backbone: false\n"
             "  d_model: [16, 24]\n"
             "evaluators:\n"
             "  q: {plugin: pruned, data: %s, steps: 40, lr: 3e-3, seq: 16, batch: 8}\n"
             "objectives: [{metric: q.val_loss, goal: minimize}]\n"
             "stages: [{name: s, sampler: sobol, trials: 2}]\n",
             tmp, tmp);
    int rc = tu_run_study_text(tmp, text, "run", &err);
    cr_assert_eq(rc, 0, "run failed: %s", err);
    free(err);
    double before[4], after[4];
    cr_assert_eq(csv_column(tmp, "q.val_loss_inherited", before, 4), 2);
    csv_column(tmp, "q.val_loss", after, 4);
    for (int i = 0; i < 2; i++) {
        printf("trial %d: inherited %.4f, after 40 steps %.4f\n", i, before[i], after[i]);
        cr_expect(after[i] < before[i] - 0.1, "training lowered the loss (%g -> %g)", before[i],
                  after[i]);
    }

    /* no val.bin: refused before any trial, naming the file */
    char moved[4500], path[4500];
    snprintf(path, sizeof(path), "%s/val.bin", tmp);
    snprintf(moved, sizeof(moved), "%s/val.bin.away", tmp);
    rename(path, moved);
    rc = tu_run_study_text(tmp, text, "validate", &err);
    cr_expect_eq(rc, 2, "%s", err);
    cr_expect(strstr(err, "val.bin") != NULL && strstr(err, "hilnas tokenize") != NULL, "%s", err);
    free(err);
    rename(moved, path);

    /* a space that decodes to no architecture: failed trials with the reason */
    snprintf(text, sizeof(text),
             "study: {name: box}\n"
             "space: {plugin: box, params: {x: {type: float, min: 0, max: 1}}}\n"
             "evaluators: {q: {plugin: pruned, data: %s, seq: 16}}\n"
             "objectives: [{metric: q.val_loss, goal: minimize}]\n"
             "stages: [{name: s, sampler: sobol, trials: 2}]\n",
             tmp);
    char dir2[4400];
    snprintf(dir2, sizeof(dir2), "%s/boxcase", tmp);
    cr_assert_eq(tu_run((char *const[]){"/bin/mkdir", "-p", dir2, NULL}, NULL, NULL, NULL), 0);
    rc = tu_run_study_text(dir2, text, "run", &err);
    cr_expect_eq(rc, 0, "%s", err);
    free(err);
    snprintf(path, sizeof(path), "%s/run/trials.csv", dir2);
    char *csv = tu_read_file(path);
    cr_expect(csv != NULL && tu_count(csv, ",failed,") == 2 &&
                  strstr(csv, "names no backbone") != NULL,
              "%s", csv);
    free(csv);
    hn_llm_model_free(b);
    free(tok);
    free(tmp);
}

/* A small backbone really pretrained by the trainer (so it has training.json). */
static void pretrain_backbone(const char *dir)
{
    struct hn_llm_train_opts o;
    hn_llm_train_opts_default(&o);
    o.config.num_hidden_layers = 2;
    o.config.hidden_size = 32;
    o.config.num_attention_heads = 4;
    o.config.num_key_value_heads = 2;
    o.config.head_dim = 8;
    o.config.intermediate_size = 64;
    o.config.vocab_size = V;
    o.config.max_position_embeddings = 64;
    o.seq = 16;
    o.batch = 8;
    o.steps = 80;
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

static const char *recipe_study =
    "study: {name: recipe, seed: 3}\n"
    "space: {plugin: transformer, backbone: %s/pre/final, depth: {min: 2, max: 2}, d_model: [16]}\n"
    "evaluators:\n"
    "  q: {plugin: pruned, data: %s, steps: 30, seq: 16, batch: 8, eval_batches: 4%s}\n"
    "objectives: [{metric: q.val_loss, goal: minimize}]\n"
    "stages: [{name: s, sampler: sobol, trials: 2}]\n";

Test(pruned, recipe_keeps_the_backbone_and_repeats_are_not_retrained, .timeout = 180)
{
    char *tmp = tu_tmpdir("pruned3"), text[8192], *err;
    uint16_t *tok = make_data(tmp, 6000);
    pretrain_backbone(tmp);
    char rec[4500];
    snprintf(rec, sizeof(rec), "%s/pre/final/training.json", tmp);
    char *record = tu_read_file(rec);
    cr_assert(record != NULL && strstr(record, "\"final_lr\"") != NULL, "pretrain's record");
    free(record);
    /* two architectures (d_model 16 and the backbone's 32); a second study with the same
     * settings and a shared cache gets the same results without training */
    char cachedir[4500], opt[4600], again[4500];
    snprintf(cachedir, sizeof(cachedir), "%s/cache", tmp);
    snprintf(opt, sizeof(opt), ", cache: %s", cachedir);
    snprintf(text, sizeof(text), recipe_study, tmp, tmp, opt);
    int rc = tu_run_study_text(tmp, text, "run", &err);
    cr_assert_eq(rc, 0, "run failed: %s", err);
    cr_expect_eq(tu_count(err, "not retrained"), 0, "%s", err);
    cr_expect_eq(tu_count(err, "computed by this trial"), 1, "importance computed once: %s", err);
    free(err);
    snprintf(again, sizeof(again), "%s/again", tmp);
    cr_assert_eq(tu_run((char *const[]){"/bin/mkdir", "-p", again, NULL}, NULL, NULL, NULL), 0);
    rc = tu_run_study_text(again, text, "run", &err);
    cr_assert_eq(rc, 0, "run failed: %s", err);
    cr_expect_eq(tu_count(err, "not retrained"), 2, "%s", err);
    free(err);
    double dm[4], val[4], inh[4], val2[4], dm2[4];
    cr_assert_eq(csv_column(tmp, "d_model", dm, 4), 2);
    csv_column(tmp, "q.val_loss", val, 4);
    csv_column(tmp, "q.val_loss_inherited", inh, 4);
    cr_assert_eq(csv_column(again, "d_model", dm2, 4), 2);
    csv_column(again, "q.val_loss", val2, 4);
    int unpruned = 0;
    for (int i = 0; i < 2; i++) {
        printf("d_model %g: inherited %.6f, after 30 steps %.6f\n", dm[i], inh[i], val[i]);
        cr_expect(dm2[i] == dm[i] && val2[i] == val[i], "the repeat has the first result");
        if (dm[i] == 32) {
            unpruned++;
            cr_expect(val[i] <= inh[i], "the unpruned backbone got worse: %.6f -> %.6f", inh[i],
                      val[i]);
        }
    }
    cr_expect_eq(unpruned, 1, "the unpruned backbone is a candidate");

    /* distillation with weight 0 is plain training, exactly; weight 0.5 is not */
    char sub[4400];
    for (int k = 0; k < 2; k++) {
        snprintf(sub, sizeof(sub), "%s/kd%d", tmp, k);
        cr_assert_eq(tu_run((char *const[]){"/bin/mkdir", "-p", sub, NULL}, NULL, NULL, NULL), 0);
        snprintf(text, sizeof(text), recipe_study, tmp, tmp,
                 k == 0 ? ", distill: {weight: 0, temperature: 2}"
                        : ", distill: {weight: 0.5, temperature: 2}");
        rc = tu_run_study_text(sub, text, "run", &err);
        cr_assert_eq(rc, 0, "run failed: %s", err);
        free(err);
        double got[4], gdm[4];
        cr_assert_eq(csv_column(sub, "q.val_loss", got, 4), 2);
        csv_column(sub, "d_model", gdm, 4);
        for (int i = 0; i < 2; i++) {
            cr_assert_eq(gdm[i], dm[i]);
            if (k == 0) {
                cr_expect_eq(got[i], val[i], "weight 0: %.9f vs plain %.9f", got[i], val[i]);
            } else {
                printf("distill 0.5: %.6f vs plain %.6f\n", got[i], val[i]);
                cr_expect(got[i] != val[i] && isfinite(got[i]));
            }
        }
    }
    /* a typo in a nested option is an error with its place */
    snprintf(text, sizeof(text), recipe_study, tmp, tmp, ", distill: {wieght: 1}");
    rc = tu_run_study_text(tmp, text, "validate", &err);
    cr_expect_eq(rc, 2, "%s", err);
    cr_expect(strstr(err, "wieght") != NULL && strstr(err, "study.yaml:") != NULL, "%s", err);
    free(err);
    free(tok);
    free(tmp);
}
