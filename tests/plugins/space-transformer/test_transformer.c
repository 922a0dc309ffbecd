/*
 * Space "transformer" and oracle "host" through real studies: every decoded architecture is
 * checked against an independent computation (the point's values, the kept layers by the
 * documented formula in floating point, the parameter count summed tensor by tensor); host
 * latencies are positive with a standard error; bad options and trials without an
 * architecture give clear errors.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/core/testutil.h"

/* Backbone: 6 layers, hidden 96, 6 heads of 16, 2 KV heads, FFN 256, vocabulary 300, untied. */
static const char *backbone_config =
    "{\"hidden_size\": 96, \"intermediate_size\": 256, \"num_hidden_layers\": 6, "
    "\"num_attention_heads\": 6, \"num_key_value_heads\": 2, \"head_dim\": 16, "
    "\"vocab_size\": 300, \"max_position_embeddings\": 128, \"tie_word_embeddings\": false}";

static char *make_backbone(const char *tmp)
{
    char *dir = malloc(4400), path[4500];
    snprintf(dir, 4400, "%s/backbone", tmp);
    cr_assert_eq(tu_run((char *const[]){"/bin/mkdir", "-p", dir, NULL}, NULL, NULL, NULL), 0);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    cr_assert_eq(tu_write_file(path, backbone_config), 0);
    return dir;
}

static int run_hilnas(const char *cmd, const char *study, const char *dir, char **out, char **err)
{
    char *argv[] = {(char *)tu_hilnas(), (char *)cmd, (char *)study, "--output", (char *)dir, NULL};
    if (dir == NULL) {
        argv[3] = NULL;
    }
    return tu_run(argv, NULL, out, err);
}

/* Parameters of a Llama model, tensor by tensor (independent of llm/model.c). */
static long long count_params(long long C, long long F, long long NH, long long KVH, long long HD,
                              long long V, const int *attention, int L, int tied)
{
    long long n = V * C + C + (tied ? 0 : V * C);
    for (int l = 0; l < L; l++) {
        n += C + 3 * C * F; /* post_attention_layernorm, gate, up, down */
        if (attention[l]) {
            n += C + NH * HD * C + 2 * KVH * HD * C + C * NH * HD; /* norm, q, k, v, o */
        }
    }
    return n;
}

static long long jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    cr_assert(json_is_integer(v), "%s is not an integer", key);
    return (long long)json_integer_value(v);
}

Test(transformer, decoded_architectures_match_an_independent_computation, .timeout = 120)
{
    char *tmp = tu_tmpdir("tspace"), study[4400], dir[4400], text[4096], *out, *err;
    char *bb = make_backbone(tmp);
    snprintf(study, sizeof(study), "%s/study.yaml", tmp);
    snprintf(dir, sizeof(dir), "%s/run", tmp);
    snprintf(text, sizeof(text),
             "study: {name: tspace, seed: 4}\n"
             "space:\n"
             "  plugin: transformer\n"
             "  backbone: %s\n"
             "  depth: {min: 1, max: 6}\n"
             "  d_model: [48, 64, 96]\n"
             "  heads: [2, 3, 6]\n"
             "  kv_heads: [1, 2]\n"
             "  d_ffn: [128, 256]\n"
             "  attention: per-layer\n"
             "oracles:\n"
             "  host: {plugin: host, prompt: 16, context: 16, decode_tokens: 4, repeats: 3}\n"
             "objectives:\n"
             "  - {metric: prefill_ms, goal: minimize}\n"
             "  - {metric: decode_ms, goal: minimize}\n"
             "stages:\n"
             "  - {name: measure, sampler: sobol, trials: 24}\n",
             bb);
    cr_assert_eq(tu_write_file(study, text), 0);
    int rc = run_hilnas("run", study, dir, &out, &err);
    cr_assert_eq(rc, 0, "run failed (%d): %s", rc, err);
    free(out);
    free(err);

    char jpath[4500];
    snprintf(jpath, sizeof(jpath), "%s/journal.jsonl", dir);
    char *journal = tu_read_file(jpath);
    cr_assert_not_null(journal);
    int started = 0, completed = 0, attention_free = 0, skipping = 0;
    for (char *line = strtok(journal, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *ev = json_loads(line, 0, NULL);
        cr_assert_not_null(ev);
        const char *type = json_string_value(json_object_get(ev, "event"));
        if (strcmp(type, "completed") == 0) {
            json_t *m = json_object_get(ev, "metrics");
            const char *names[2] = {"host.prefill_ms", "host.decode_ms"};
            for (int k = 0; k < 2; k++) {
                json_t *v = json_object_get(m, names[k]);
                double value = json_number_value(json_object_get(v, "value"));
                double sem = json_number_value(json_object_get(v, "sem"));
                cr_expect(value > 0 && isfinite(value) && sem >= 0 && isfinite(sem),
                          "%s = %g +- %g", names[k], value, sem);
            }
            completed++;
        }
        if (strcmp(type, "started") != 0) {
            json_decref(ev);
            continue;
        }
        started++;
        json_t *p = json_object_get(ev, "params"), *a = json_object_get(ev, "arch");
        int depth = (int)jint(p, "depth");
        long long C = jint(p, "d_model"), NH = jint(p, "heads"), KVH = jint(p, "kv_heads");
        long long F = jint(p, "d_ffn");
        cr_expect_eq(jint(a, "num_hidden_layers"), depth);
        cr_expect_eq(jint(a, "hidden_size"), C);
        cr_expect_eq(jint(a, "num_attention_heads"), NH);
        cr_expect_eq(jint(a, "num_key_value_heads"), KVH);
        cr_expect_eq(jint(a, "intermediate_size"), F);
        cr_expect_eq(jint(a, "head_dim"), 16, "head_dim is the backbone's");
        cr_expect_eq(jint(a, "vocab_size"), 300);
        cr_expect_eq(NH % KVH, 0, "only valid points are measured (heads %lld, kv %lld)", NH, KVH);
        json_t *attn = json_object_get(a, "attention_layers");
        json_t *kept = json_object_get(a, "backbone_layers");
        cr_assert_eq(json_array_size(attn), (size_t)depth);
        cr_assert_eq(json_array_size(kept), (size_t)depth);
        int attention[6] = {0}, any = 0;
        for (int i = 0; i < depth; i++) {
            char name[16];
            snprintf(name, sizeof(name), "attn_%d", i);
            attention[i] = json_is_true(json_object_get(p, name));
            cr_expect_eq(json_is_true(json_array_get(attn, (size_t)i)), attention[i]);
            any |= attention[i];
            skipping |= !attention[i];
            /* spread: round(i * 5 / (depth - 1)), first and last always kept */
            long want = depth == 1 ? 0 : lround(i * 5.0 / (depth - 1));
            cr_expect_eq(json_integer_value(json_array_get(kept, (size_t)i)), want,
                         "depth %d: kept layer %d is %lld, want %ld", depth, i,
                         (long long)json_integer_value(json_array_get(kept, (size_t)i)), want);
        }
        attention_free |= !any;
        cr_expect_eq(jint(a, "parameters"),
                     count_params(C, F, NH, KVH, 16, 300, attention, depth, 0));
        json_decref(ev);
    }
    free(journal);
    cr_expect_eq(started, 24);
    cr_expect_eq(completed, 24);
    cr_expect(skipping, "some sampled architectures skip attention in a layer");
    cr_expect(!attention_free, "no architecture without any attention (allow_attention_free)");
    free(bb);
    free(tmp);
}

Test(transformer, bad_options_are_refused_with_their_position, .timeout = 60)
{
    char *tmp = tu_tmpdir("tbad"), study[4400], text[4096], *out, *err;
    char *bb = make_backbone(tmp);
    snprintf(study, sizeof(study), "%s/study.yaml", tmp);
    static const struct {
        const char *space, *expect;
    } rows[] = {
        {"  d_model: [48, 128]\n", "study.yaml:5:"},
        {"  d_model: [48, 128]\n", "128 is outside 1..96"},
        {"  depth: {min: 2, max: 7}\n", "max <= 6"},
        {"  kv_heads: [1, 1, 2]\n", "1 is listed twice"},
        {"  heads: 4\n", "expected a list"},
        {"  depth: {min: 2, most: 4}\n", "expected {min: A, max: B}"},
        {"  attention: some\n", "attention"},
        {"  include_backbone: false\n  depth: {min: 3, max: 3}\n", "nothing to search"},
        {"  keep: importance\n", "need calibration data"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        snprintf(text, sizeof(text),
                 "study: {name: tbad}\n"
                 "space:\n"
                 "  plugin: transformer\n"
                 "  backbone: %s\n"
                 "%s"
                 "oracles: {host: {plugin: host}}\n"
                 "objectives: [{metric: prefill_ms, goal: minimize}]\n"
                 "stages: [{name: s, sampler: sobol, trials: 2}]\n",
                 bb, rows[i].space);
        cr_assert_eq(tu_write_file(study, text), 0);
        int rc = run_hilnas("validate", study, NULL, &out, &err);
        cr_expect_eq(rc, 2, "row %zu: exit %d: %s", i, rc, err);
        cr_expect(strstr(err, rows[i].expect) != NULL, "row %zu: '%s' not in: %s", i,
                  rows[i].expect, err);
        free(out);
        free(err);
    }
    /* a backbone that is not there: the option and the missing file are named */
    snprintf(text, sizeof(text),
             "study: {name: tbad}\n"
             "space: {plugin: transformer, backbone: %s/nowhere, depth: {min: 1, max: 2}}\n"
             "oracles: {host: {plugin: host}}\n"
             "objectives: [{metric: prefill_ms, goal: minimize}]\n"
             "stages: [{name: s, sampler: sobol, trials: 2}]\n",
             tmp);
    cr_assert_eq(tu_write_file(study, text), 0);
    int rc = run_hilnas("validate", study, NULL, &out, &err);
    cr_expect_eq(rc, 2, "exit %d: %s", rc, err);
    cr_expect(strstr(err, "backbone") != NULL && strstr(err, "nowhere/config.json") != NULL, "%s",
              err);
    free(out);
    free(err);
    free(bb);
    free(tmp);
}

Test(transformer, host_fails_trials_it_cannot_measure_with_the_reason, .timeout = 60)
{
    char *tmp = tu_tmpdir("thost"), study[4400], dir[4400], text[4096], *out, *err;
    char *bb = make_backbone(tmp);
    snprintf(study, sizeof(study), "%s/study.yaml", tmp);
    const char *cases[2][2] = {
        /* a box space decodes to its parameters, not to an architecture */
        {"space: {plugin: box, params: {x: {type: float, min: 0, max: 1}}}\n"
         "oracles: {host: {plugin: host}}\n",
         "no transformer architecture"},
        /* the backbone has 128 positions */
        {"space: {plugin: transformer, backbone: BB, depth: {min: 1, max: 2}}\n"
         "oracles: {host: {plugin: host, prompt: 200}}\n",
         "exceed the architecture's max_position_embeddings (128)"},
    };
    for (int k = 0; k < 2; k++) {
        char space[2048];
        const char *at = strstr(cases[k][0], "BB");
        if (at != NULL) {
            snprintf(space, sizeof(space), "%.*s%s%s", (int)(at - cases[k][0]), cases[k][0], bb,
                     at + 2);
        } else {
            snprintf(space, sizeof(space), "%s", cases[k][0]);
        }
        snprintf(text, sizeof(text),
                 "study: {name: thost}\n%s"
                 "objectives: [{metric: prefill_ms, goal: minimize}]\n"
                 "stages: [{name: s, sampler: sobol, trials: 2}]\n",
                 space);
        cr_assert_eq(tu_write_file(study, text), 0);
        snprintf(dir, sizeof(dir), "%s/run%d", tmp, k);
        int rc = run_hilnas("run", study, dir, &out, &err);
        cr_expect_eq(rc, 0, "failed trials do not stop a study: %d %s", rc, err);
        free(out);
        free(err);
        char path[4500];
        snprintf(path, sizeof(path), "%s/trials.csv", dir);
        char *csv = tu_read_file(path);
        cr_assert_not_null(csv);
        cr_expect_eq(tu_count(csv, ",failed,"), 2, "%s", csv);
        cr_expect(strstr(csv, cases[k][1]) != NULL, "'%s' not in %s", cases[k][1], csv);
        free(csv);
    }
    free(bb);
    free(tmp);
}

/* dtype: the host times weights stored at a deployment precision; unknown ones are refused */
Test(transformer, host_times_deployment_precisions, .timeout = 60)
{
    char *tmp = tu_tmpdir("tdtype"), study[4400], dir[4400], text[4096], *out, *err;
    char *bb = make_backbone(tmp);
    snprintf(study, sizeof(study), "%s/study.yaml", tmp);
    const char *dtypes[3] = {"q8_0", "bf16", "int4"};
    for (int k = 0; k < 3; k++) {
        snprintf(text, sizeof(text),
                 "study: {name: tdtype}\n"
                 "space: {plugin: transformer, backbone: %s, depth: {min: 1, max: 2}}\n"
                 "oracles: {host: {plugin: host, prompt: 8, context: 8, decode_tokens: 2, "
                 "repeats: 1, dtype: %s}}\n"
                 "objectives: [{metric: decode_ms, goal: minimize}]\n"
                 "stages: [{name: s, sampler: sobol, trials: 2}]\n",
                 bb, dtypes[k]);
        cr_assert_eq(tu_write_file(study, text), 0);
        snprintf(dir, sizeof(dir), "%s/run%d", tmp, k);
        int rc = run_hilnas("run", study, dir, &out, &err);
        if (k == 2) {
            cr_expect_eq(rc, 2, "exit %d: %s", rc, err);
            cr_expect(strstr(err, "dtype") != NULL && strstr(err, "int4") != NULL, "%s", err);
        } else {
            cr_expect_eq(rc, 0, "%s: exit %d: %s", dtypes[k], rc, err);
            char path[4500];
            snprintf(path, sizeof(path), "%s/trials.csv", dir);
            char *csv = tu_read_file(path);
            cr_assert_not_null(csv);
            cr_expect_eq(tu_count(csv, ",complete,"), 2, "%s", csv);
            free(csv);
        }
        free(out);
        free(err);
    }
    free(bb);
    free(tmp);
}
