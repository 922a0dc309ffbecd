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

#include "hilnas/llm/checkpoint.h"
#include "hilnas/llm/model.h"
#include "hilnas/llm/tokens.h"
#include "hilnas/llm/train.h"
#include "hilnas/rng.h"
#include "tests/core/testutil.h"
#include "tests/llm/fixtures.h"

#define L 3
#define C 32
#define NH 4
#define KVH 2
#define HD 8
#define F 48
#define V 256

/* The backbone, saved to dir/backbone; heads 2-3, KV head 1 and FFN neurons 0-15 zeroed. */
static struct hn_llm_model *make_backbone(const char *dir)
{
    struct hn_llm_model *m = tu_tiny_model(3);
    cr_assert(m->config.num_hidden_layers == L && m->config.hidden_size == C &&
              m->config.num_attention_heads == NH && m->config.num_key_value_heads == KVH &&
              m->config.head_dim == HD && m->config.intermediate_size == F);
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
    tu_save_model(m, dir, "backbone");
    return m;
}

Test(pruned, zero_heads_and_neurons_prune_away_exactly, .timeout = 120)
{
    char *tmp = tu_tmpdir("pruned"), text[4096], *err;
    uint16_t *tok = tu_write_data(tmp, 6000);
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
    cr_assert_eq(tu_csv_column(tmp, "q.val_loss_inherited", got, 4), 2);
    tu_csv_column(tmp, "heads", heads, 4);
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
    cr_assert_eq(tu_csv_column(sub, "q.val_loss_inherited", got, 4), 2);
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
    uint16_t *tok = tu_write_data(tmp, 6000);
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
    cr_assert_eq(tu_csv_column(tmp, "q.val_loss_inherited", before, 4), 2);
    tu_csv_column(tmp, "q.val_loss", after, 4);
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

/* A fresh directory with the fixture data and a backbone pretrained for `steps` in pre/. */
static char *pretrained(const char *tag, long steps)
{
    char *tmp = tu_tmpdir(tag);
    free(tu_write_data(tmp, 6000));
    tu_pretrain_backbone(tmp, steps);
    return tmp;
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
    char *tmp = pretrained("pruned3", 80), text[8192], *err;
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
    cr_assert_eq(tu_csv_column(tmp, "d_model", dm, 4), 2);
    tu_csv_column(tmp, "q.val_loss", val, 4);
    tu_csv_column(tmp, "q.val_loss_inherited", inh, 4);
    cr_assert_eq(tu_csv_column(again, "d_model", dm2, 4), 2);
    tu_csv_column(again, "q.val_loss", val2, 4);
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
        cr_assert_eq(tu_csv_column(sub, "q.val_loss", got, 4), 2);
        tu_csv_column(sub, "d_model", gdm, 4);
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
    free(tmp);
}

/*
 * A backbone trained to convergence, given a few steps of continued pretraining: with warmup 0
 * and keep_best off, a fresh AdamW's first updates (sign-like steps of the full learning rate)
 * make it worse than its inherited weights for some step counts; with the defaults (warm-up
 * floor, keep_best) the candidate is never worse than its inherited weights, whatever the steps.
 * (At convergence any step only adds noise: the floor alone makes the damage smaller on some
 * backbones, not impossible; keep_best is the guarantee.)
 */
Test(pruned, short_runs_never_make_the_unpruned_backbone_worse, .timeout = 180)
{
    char *tmp = pretrained("pruned4", 400), text[8192], *err;
    static const int steps[] = {1, 2, 3, 5};
    char evals[2048] = "", names[256] = "";
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        size_t o = strlen(evals), k = strlen(names);
        snprintf(evals + o, sizeof(evals) - o,
                 "  q%d: {plugin: pruned, data: %s, steps: %d, seq: 16, batch: 8, "
                 "eval_batches: 4}\n"
                 "  z%d: {plugin: pruned, data: %s, steps: %d, seq: 16, batch: 8, "
                 "eval_batches: 4, warmup: 0, keep_best: false}\n",
                 steps[i], tmp, steps[i], steps[i], tmp, steps[i]);
        snprintf(names + k, sizeof(names) - k, "%sq%d, z%d", i ? ", " : "", steps[i], steps[i]);
    }
    snprintf(text, sizeof(text),
             "study: {name: floor, seed: 3}\n"
             "space: {plugin: transformer, backbone: %s/pre/final, depth: {min: 2, max: 2}, "
             "d_model: [16]}\n"
             "evaluators:\n%s"
             "objectives: [{metric: q1.val_loss, goal: minimize}]\n"
             "stages: [{name: s, sampler: sobol, trials: 1, points: [{d_model: 32}], "
             "run: [%s]}]\n",
             tmp, evals, names);
    int rc = tu_run_study_text(tmp, text, "run", &err);
    cr_assert_eq(rc, 0, "run failed: %s", err);
    free(err);
    int worse_without = 0;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        char col[64];
        double inh[2], val[2], trained[2], raw[2];
        snprintf(col, sizeof(col), "q%d.val_loss_inherited", steps[i]);
        cr_assert_eq(tu_csv_column(tmp, col, inh, 2), 1);
        snprintf(col, sizeof(col), "q%d.val_loss", steps[i]);
        tu_csv_column(tmp, col, val, 2);
        snprintf(col, sizeof(col), "q%d.val_loss_trained", steps[i]);
        tu_csv_column(tmp, col, trained, 2);
        snprintf(col, sizeof(col), "z%d.val_loss", steps[i]);
        tu_csv_column(tmp, col, raw, 2);
        printf("%d steps: inherited %.6f; warmup floor: trained %.6f, val_loss %.6f; warmup 0: "
               "%.6f\n",
               steps[i], inh[0], trained[0], val[0], raw[0]);
        cr_expect(val[0] <= inh[0], "%d steps: the candidate got worse: %.6f -> %.6f", steps[i],
                  inh[0], val[0]);
        cr_expect(val[0] == (trained[0] < inh[0] ? trained[0] : inh[0]), "the better weights");
        worse_without += raw[0] > inh[0];
    }
    cr_expect_gt(worse_without, 0, "warmup 0 never got worse: the test shows nothing");
    free(tmp);
}

/* A stage's evaluator options reach its trials, and the result cache tells them apart. */
Test(pruned, stage_overrides_reach_the_evaluator_and_its_cache_key, .timeout = 180)
{
    char *tmp = pretrained("pruned5", 80), text[8192], *err;
    char cache[4500];
    snprintf(cache, sizeof(cache), "%s/cache", tmp);
    snprintf(text, sizeof(text),
             "study: {name: over, seed: 3}\n"
             "space: {plugin: transformer, backbone: %s/pre/final, depth: {min: 2, max: 2}, "
             "d_model: [16]}\n"
             "evaluators:\n"
             "  q: {plugin: pruned, data: %s, steps: 0, seq: 16, batch: 8, eval_batches: 4, "
             "cache: %s}\n"
             "objectives: [{metric: q.val_loss, goal: minimize}]\n"
             "stages:\n"
             "  - {name: cheap, sampler: sobol, trials: 1, points: [{d_model: 16}]}\n"
             "  - {name: long, sampler: sobol, trials: 1, points: [{d_model: 16}],\n"
             "     evaluators: {q: {steps: 20, lr: 3e-3}}}\n",
             tmp, tmp, cache);
    int rc = tu_run_study_text(tmp, text, "run", &err);
    cr_assert_eq(rc, 0, "run failed: %s", err);
    cr_expect_eq(tu_count(err, "not retrained"), 0, "the overridden settings are another key: %s",
                 err);
    free(err);
    double inh[4], val[4];
    cr_assert_eq(tu_csv_column(tmp, "q.val_loss_inherited", inh, 4), 2);
    tu_csv_column(tmp, "q.val_loss", val, 4);
    printf("cheap: %.6f -> %.6f; long: %.6f -> %.6f\n", inh[0], val[0], inh[1], val[1]);
    cr_expect_eq(inh[0], inh[1], "the same architecture");
    cr_expect_eq(val[0], inh[0], "stage cheap: the evaluator's own steps: 0");
    cr_expect(val[1] < inh[1] - 0.01, "stage long trained 20 steps (%.6f -> %.6f)", inh[1], val[1]);
    /* the same study again, elsewhere, with the shared cache: neither stage retrains, and each
     * gets its own stage's result */
    char again[4500];
    snprintf(again, sizeof(again), "%s/again", tmp);
    cr_assert_eq(tu_run((char *const[]){"/bin/mkdir", "-p", again, NULL}, NULL, NULL, NULL), 0);
    rc = tu_run_study_text(again, text, "run", &err);
    cr_assert_eq(rc, 0, "run failed: %s", err);
    cr_expect_eq(tu_count(err, "not retrained"), 2, "%s", err);
    free(err);
    double val2[4];
    cr_assert_eq(tu_csv_column(again, "q.val_loss", val2, 4), 2);
    cr_expect(val2[0] == val[0] && val2[1] == val[1], "each stage its own result");
    free(tmp);
}
