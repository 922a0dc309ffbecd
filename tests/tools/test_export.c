/*
 * Keeping and exporting trained models: a verify stage keeps the trained pruning in
 * trials/ID/model/ (evaluator.h's keep_model), `hilnas eval` on it reproduces the trial's
 * val_loss on the evaluator's windows, and `hilnas export` writes it (or a re-derivation of an
 * unkept trial) as Hugging Face and GGUF files that evaluate to the same loss and that
 * independent readers (tests/llm/llama_reference.py, tests/llm/gguf_reader.py) read back.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hilnas/rng.h"
#include "llm/checkpoint.h"
#include "llm/model.h"
#include "llm/tokens.h"
#include "tests/core/testutil.h"

/* A byte stream with structure (runs of a few letters) as DIR/train.bin and DIR/val.bin. */
static void make_data(const char *dir, size_t n)
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
    free(tok);
}

/* A random byte-level backbone (3 layers, GQA, untied) in DIR/backbone. */
static void make_backbone(const char *dir)
{
    struct hn_llm_config c;
    hn_llm_config_default(&c);
    c.num_hidden_layers = 3;
    c.hidden_size = 32;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 8;
    c.intermediate_size = 48;
    c.max_position_embeddings = 64;
    c.tie_word_embeddings = 0;
    struct hn_error err;
    struct hn_llm_model *m = hn_llm_model_new(&c, &err);
    cr_assert_not_null(m, "%s", err.msg);
    hn_llm_model_randomize(m, 3);
    char path[4500];
    snprintf(path, sizeof(path), "%s/backbone", dir);
    cr_assert_eq(hn_llm_save(m, path, &err), 0, "%s", err.msg);
    hn_llm_model_free(m);
}

/* Run a small pruned study in DIR/run: 3 searched trials (2 layers, attention per layer), a
 * verify stage that runs the evaluator (and so keeps its models). */
static void run_study(const char *dir)
{
    char text[8192], *err = NULL;
    make_data(dir, 6000);
    make_backbone(dir);
    snprintf(text, sizeof(text),
             "study: {name: keep, seed: 3}\n"
             "space:\n"
             "  plugin: transformer\n"
             "  backbone: %s/backbone\n"
             "  depth: {min: 2, max: 2}\n"
             "  d_model: [16, 24]\n"
             "  heads: [2, 4]\n"
             "  kv_heads: [1, 2]\n"
             "  d_ffn: [32, 48]\n"
             "  attention: per-layer\n"
             "evaluators:\n"
             "  q: {plugin: pruned, data: %s, steps: 4, seq: 16, batch: 4, eval_batches: 3}\n"
             "objectives: [{metric: q.val_loss, goal: minimize}]\n"
             "stages:\n"
             "  - {name: s, sampler: sobol, trials: 3}\n"
             "  - {name: v, select: pareto, run: q}\n",
             dir, dir);
    int rc = tu_run_study_text(dir, text, "run", &err);
    cr_assert_eq(rc, 0, "run failed: %s", err);
    free(err);
}

/* The journal's events of trial id: its "started" and "completed" events (new references). */
static void trial_events(const char *dir, long id, json_t **started, json_t **completed)
{
    char path[4500];
    snprintf(path, sizeof(path), "%s/run/journal.jsonl", dir);
    char *text = tu_read_file(path), *save = NULL;
    cr_assert_not_null(text, "%s", path);
    *started = *completed = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *ev = json_loads(line, 0, NULL);
        cr_assert_not_null(ev, "bad journal line %s", line);
        json_t *t = json_object_get(ev, "trial");
        const char *type = json_string_value(json_object_get(ev, "event"));
        if (json_is_integer(t) && json_integer_value(t) == id && type != NULL) {
            if (strcmp(type, "started") == 0) {
                *started = json_incref(ev);
            } else if (strcmp(type, "completed") == 0) {
                *completed = json_incref(ev);
            }
        }
        json_decref(ev);
    }
    free(text);
    cr_assert_not_null(*started, "trial %ld not in the journal", id);
    cr_assert_not_null(*completed, "trial %ld did not complete", id);
}

static double trial_metric(const char *dir, long id, const char *metric)
{
    json_t *s, *c;
    trial_events(dir, id, &s, &c);
    json_t *m = json_object_get(json_object_get(json_object_get(c, "metrics"), metric), "value");
    cr_assert(json_is_number(m), "trial %ld has no %s", id, metric);
    double v = json_number_value(m);
    json_decref(s);
    json_decref(c);
    return v;
}

/* `hilnas eval CKPT` on the evaluator's windows (seq 16, batch 4, 3 batches of val.bin). */
static double eval_loss(const char *dir, const char *ckpt)
{
    char data[4500], *out = NULL, *err = NULL;
    snprintf(data, sizeof(data), "%s/val.bin", dir);
    int rc = tu_run((char *const[]){(char *)tu_hilnas(), "eval", (char *)ckpt, "--data", data,
                                    "--seq", "16", "--batch", "4", "--batches", "3", NULL},
                    NULL, &out, &err);
    cr_assert_eq(rc, 0, "eval %s: %s", ckpt, err);
    json_t *o = json_loads(out, 0, NULL);
    cr_assert(json_is_number(json_object_get(o, "loss")), "eval printed %s", out);
    double loss = json_number_value(json_object_get(o, "loss"));
    json_decref(o);
    free(out);
    free(err);
    return loss;
}

static int exists(const char *dir, const char *rel)
{
    char path[4500];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    return stat(path, &st) == 0;
}

/*
 * One study for every test of this file: Criterion runs each test in its own process (perhaps
 * at the same time), so the first to take the lock runs it and the others reuse it.
 */
static const char *study_dir(void)
{
    static char dir[3000];
    const char *base = getenv("HN_TEST_TMPDIR");
    snprintf(dir, sizeof(dir), "%s/export-study-%ld", base ? base : "/tmp", (long)getppid());
    mkdir(dir, 0755);
    char lock[4300];
    snprintf(lock, sizeof(lock), "%s/lock", dir);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    cr_assert(fd >= 0 && flock(fd, LOCK_EX) == 0, "locking %s", lock);
    if (!exists(dir, "done")) {
        run_study(dir);
        char done[4300];
        snprintf(done, sizeof(done), "%s/done", dir);
        cr_assert_eq(tu_write_file(done, "ok\n"), 0);
    }
    close(fd);
    return dir;
}

Test(export, verify_trials_keep_their_model_and_eval_reproduces_val_loss, .timeout = 120)
{
    const char *dir = study_dir();
    /* trials 0-2 searched (not kept), trial 3 re-measures the best one and keeps its model */
    cr_expect(!exists(dir, "run/trials/0/model"), "search trials keep nothing");
    cr_assert(exists(dir, "run/trials/3/model/config.json"));
    cr_assert(exists(dir, "run/trials/3/model/model.safetensors"));
    char path[4500], ckpt[4500];
    snprintf(path, sizeof(path), "%s/run/trials/3/model/training.json", dir);
    json_error_t je;
    json_t *t = json_load_file(path, 0, &je);
    cr_assert_not_null(t, "%s: %s", path, je.text);
    double want = trial_metric(dir, 3, "q.val_loss");
    cr_expect(fabs(json_number_value(json_object_get(t, "val_loss")) - want) <= 1e-12 * want);
    cr_expect_eq(json_integer_value(json_object_get(t, "trial")), 3);
    cr_expect_str_eq(json_string_value(json_object_get(t, "select")), "magnitude");
    cr_expect_eq(json_array_size(json_object_get(t, "backbone_layers")), 2);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(t, "training"), "steps")), 4);
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(t, "eval"), "tokens")),
                 3 * 4 * 16);
    cr_expect(json_is_string(json_object_get(
        json_object_get(json_object_get(t, "backbone"), "weights"), "fnv1a64")));
    json_decref(t);
    snprintf(ckpt, sizeof(ckpt), "%s/run/trials/3/model", dir);
    double got = eval_loss(dir, ckpt);
    printf("kept model of trial 3: hilnas eval %.9f, the trial's val_loss %.9f\n", got, want);
    cr_expect(fabs(got - want) <= 1e-6 * want, "eval %.9f, trial %.9f", got, want);
}
