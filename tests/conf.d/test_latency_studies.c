/*
 * The latency studies of conf.d measure decode where attention skipping shows: with an empty
 * cache and with 512 tokens in it. conf.d/host-latency.yaml runs for real (two trials, on a
 * small backbone written here): every trial has decode_ms_0 and decode_ms_512, and an
 * architecture whose kept layers all have attention decodes slower at 512 than at 0 (it
 * reads the cache), by more than one that skips attention in some layer (its share of the
 * cache is smaller). flash.yaml and demo.yaml time the same contexts paired with their
 * backbone, learn the ratios there, and flash.yaml's budget names decode_rel_512.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/core/testutil.h"

static char *conf(const char *name)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/conf.d/%s", tu_srcdir(), name);
    char *text = tu_read_file(path);
    cr_assert_not_null(text, "%s", path);
    return text;
}

Test(latency_studies, flash_and_demo_time_and_learn_decode_at_0_and_512)
{
    const char *names[] = {"flash.yaml", "demo.yaml", "host-latency.yaml"};
    for (size_t i = 0; i < 3; i++) {
        char *text = conf(names[i]);
        cr_expect(strstr(text, "host: {plugin: host, prompt: 128, contexts: [0, 512]") != NULL,
                  "%s: host without contexts [0, 512]", names[i]);
        if (i < 2) {
            /* paired with the backbone, learning the ratios: they cancel what the machine's
             * speed does between the measure and the verify stage (docs/latency.md) */
            cr_expect(strstr(text, "clock: cpu, reference: space}") != NULL,
                      "%s: host without the backbone as its paired reference", names[i]);
            cr_expect(
                strstr(text, "metrics: [prefill_rel, decode_rel], contexts: [0, 512]}") != NULL,
                "%s: the learned oracle does not learn the ratios at the same contexts", names[i]);
            cr_expect(strstr(text, "latency.decode_rel ") == NULL &&
                          strstr(text, "latency.decode_rel,") == NULL,
                      "%s: names a decode metric without context", names[i]);
        }
        free(text);
    }
    char *flash = conf("flash.yaml");
    cr_expect(strstr(flash, "{metric: latency.decode_rel_512, max:") != NULL);
    free(flash);
}

Test(latency_studies, host_latency_decodes_slower_with_a_full_cache, .timeout = 120)
{
    char *tmp = tu_tmpdir("confhost"), dir[4400], path[4500], study[4400];
    snprintf(dir, sizeof(dir), "%s/backbone", tmp);
    cr_assert_eq(mkdir(dir, 0777), 0);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    cr_assert_eq(tu_write_file(path,
                               "{\"hidden_size\": 128, \"intermediate_size\": 352, "
                               "\"num_hidden_layers\": 4, \"num_attention_heads\": 4, "
                               "\"num_key_value_heads\": 2, \"head_dim\": 32, \"vocab_size\": 256, "
                               "\"max_position_embeddings\": 1024, \"tie_word_embeddings\": "
                               "true}\n"),
                 0);
    /* the study file itself, on this backbone, with two given architectures (all attention;
     * attention in the first layer only) measured on one thread */
    char *text = conf("host-latency.yaml");
    const char *edits[][2] = {
        {"backbone: runs/backbone/final", NULL},
        {"{name: measure, sampler: sobol, trials: 32}",
         "{name: measure, sampler: sobol, trials: 2, points: [{depth: 4, d_model: 128, heads: 4, "
         "kv_heads: 2, d_ffn: 352, attn_0: true, attn_1: true, attn_2: true, attn_3: true}, "
         "{depth: 4, d_model: 128, heads: 4, kv_heads: 2, d_ffn: 352, attn_0: true, attn_1: "
         "false, attn_2: false, attn_3: false}]}"},
        {"decode_tokens: 32, repeats: 5}", "decode_tokens: 8, repeats: 5, threads: 1}"},
    };
    char bb[4500];
    snprintf(bb, sizeof(bb), "backbone: %s", dir);
    edits[0][1] = bb;
    for (size_t i = 0; i < 3; i++) {
        char *at = strstr(text, edits[i][0]);
        cr_assert_not_null(at, "'%s' not in conf.d/host-latency.yaml", edits[i][0]);
        size_t n = strlen(text) + strlen(edits[i][1]) + 1;
        char *t = malloc(n);
        snprintf(t, n, "%.*s%s%s", (int)(at - text), text, edits[i][1], at + strlen(edits[i][0]));
        free(text);
        text = t;
    }
    snprintf(study, sizeof(study), "%s/host-latency.yaml", tmp);
    cr_assert_eq(tu_write_file(study, text), 0);
    free(text);
    snprintf(path, sizeof(path), "%s/run", tmp);
    char *argv[] = {(char *)tu_hilnas(), "run", study, "--output", path, "--quiet", NULL};
    char *out = NULL, *err = NULL;
    int rc = tu_run(argv, NULL, &out, &err);
    cr_assert_eq(rc, 0, "run failed (%d): %s", rc, err);
    free(out);
    free(err);
    snprintf(path, sizeof(path), "%s/run/trials.csv", tmp);
    char *csv = tu_read_file(path);
    cr_assert_not_null(csv);
    /* columns by name */
    char *save = NULL, *header = strtok_r(csv, "\n", &save);
    int c0 = -1, c512 = -1, k = 0;
    for (char *p = header, *tok; (tok = strsep(&p, ",")) != NULL; k++) {
        c0 = strcmp(tok, "host.decode_ms_0") == 0 ? k : c0;
        c512 = strcmp(tok, "host.decode_ms_512") == 0 ? k : c512;
    }
    cr_assert(c0 >= 0 && c512 >= 0, "no host.decode_ms_0 / host.decode_ms_512 columns");
    double d0[2], d512[2];
    for (int row = 0; row < 2; row++) {
        char *line = strtok_r(NULL, "\n", &save);
        cr_assert_not_null(line);
        k = 0;
        for (char *p = line, *tok; (tok = strsep(&p, ",")) != NULL; k++) {
            if (k == c0) {
                d0[row] = strtod(tok, NULL);
            } else if (k == c512) {
                d512[row] = strtod(tok, NULL);
            }
        }
    }
    printf("decode ms at 0 / 512: all attention %.4f / %.4f, one attention layer %.4f / %.4f\n",
           d0[0], d512[0], d0[1], d512[1]);
    cr_expect_gt(d512[0], d0[0], "a full cache costs nothing with attention in every layer");
    cr_expect_gt(d512[0] - d0[0], d512[1] - d0[1],
                 "skipping attention in 3 of 4 layers does not make the cache cheaper");
    free(csv);
    free(tmp);
}
