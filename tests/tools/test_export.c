/*
 * Keeping and exporting trained models: a verify stage keeps the trained pruning in
 * trials/ID/model/ (evaluator.h's keep_model), `hilnas eval` on it reproduces the trial's
 * val_loss on the evaluator's windows, and `hilnas export` writes it (or a re-derivation of an
 * unkept trial) as Hugging Face and GGUF files that evaluate to the same loss and that
 * independent readers (tests/llm/llama_reference.py, tests/llm/gguf_reader.py) read back.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hilnas/llm/checkpoint.h"
#include "hilnas/llm/model.h"
#include "hilnas/llm/tokens.h"
#include "hilnas/rng.h"
#include "tests/core/testutil.h"
#include "tests/llm/fixtures.h"

/* Data and a random tiny backbone (3 layers, GQA, untied) in DIR/backbone. */
static void make_data(const char *dir, size_t n)
{
    free(tu_write_data(dir, n));
}

static void make_backbone(const char *dir)
{
    struct hn_llm_model *m = tu_tiny_model(3);
    tu_save_model(m, dir, "backbone");
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
             "  include_backbone: false\n"
             "  d_model: [16, 24]\n"
             "  heads: [2, 4]\n"
             "  kv_heads: [1, 2]\n"
             "  d_ffn: [32, 48]\n"
             "  attention: per-layer\n"
             "evaluators:\n"
             "  q: {plugin: pruned, data: %s, steps: 4, seq: 16, batch: 4, eval_batches: 3,\n"
             "      lr: 1e-3, select: magnitude}\n"
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
    char path[9100];
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
    cr_expect(json_is_string(
        json_object_get(json_object_get(json_object_get(t, "backbone"), "weights"), "fnv1a64")));
    json_decref(t);
    snprintf(ckpt, sizeof(ckpt), "%s/run/trials/3/model", dir);
    double got = eval_loss(dir, ckpt);
    printf("kept model of trial 3: hilnas eval %.9f, the trial's val_loss %.9f\n", got, want);
    cr_expect(fabs(got - want) <= 1e-6 * want, "eval %.9f, trial %.9f", got, want);
}

/* Run `hilnas export ARGS...` (NULL-terminated); stderr into *err (malloc'ed). Exit code. */
static int export(char **err, const char *const *args)
{
    char *argv[32];
    size_t n = 0;
    argv[n++] = (char *)tu_hilnas();
    argv[n++] = "export";
    for (; *args != NULL && n < 31; args++) {
        argv[n++] = (char *)*args;
    }
    argv[n] = NULL;
    char *out = NULL;
    int rc = tu_run(argv, NULL, &out, err);
    free(out);
    return rc;
}

/* Run a Python helper of tests/llm with args; stdout into *out. Exit code. */
static int python(const char *script, char **out, const char *const *args)
{
    const char *py = getenv("HN_PYTHON");
    cr_assert(py != NULL && *py != '\0', "HN_PYTHON unset: configure looks for a Python 3 with "
                                         "NumPy (apt-get install python3-numpy)");
    char path[4500], *argv[32], *err = NULL;
    snprintf(path, sizeof(path), "%s/tests/llm/%s", tu_srcdir(), script);
    size_t n = 0;
    argv[n++] = (char *)py;
    argv[n++] = path;
    for (; *args != NULL && n < 31; args++) {
        argv[n++] = (char *)*args;
    }
    argv[n] = NULL;
    int rc = tu_run(argv, NULL, out, &err);
    if (rc != 0) {
        printf("%s: %s\n", script, err ? err : "");
    }
    free(err);
    return rc;
}

static double json_number(const char *text, const char *key)
{
    json_t *o = json_loads(text ? text : "", 0, NULL);
    cr_assert(json_is_number(json_object_get(o, key)), "no %s in %s", key, text);
    double v = json_number_value(json_object_get(o, key));
    json_decref(o);
    return v;
}

/* The NumPy reference's loss of checkpoint ckpt on the evaluator's windows. */
static double reference_loss(const char *dir, const char *ckpt)
{
    char data[4500], *out = NULL;
    snprintf(data, sizeof(data), "%s/val.bin", dir);
    int rc = python("llama_reference.py", &out,
                    (const char *const[]){ckpt, "--data", data, "--seq", "16", "--batch", "4",
                                          "--batches", "3", NULL});
    cr_assert_eq(rc, 0, "the reference failed on %s", ckpt);
    double v = json_number(out, "loss");
    free(out);
    return v;
}

static json_t *load_json(const char *dir, const char *name)
{
    char path[4500];
    json_error_t je;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    json_t *o = json_load_file(path, 0, &je);
    cr_assert_not_null(o, "%s: %s", path, je.text);
    return o;
}

/* The trial's attention pattern from the journal. */
static int trial_skips_attention(const char *dir, long id)
{
    json_t *s, *c;
    trial_events(dir, id, &s, &c);
    json_t *att = json_object_get(json_object_get(s, "arch"), "attention_layers");
    int skips = 0;
    for (size_t i = 0; i < json_array_size(att); i++) {
        skips |= !json_is_true(json_array_get(att, i));
    }
    json_decref(s);
    json_decref(c);
    return skips;
}

Test(export, hf_export_of_kept_and_rederived_trials_evaluates_to_their_val_loss, .timeout = 180)
{
    const char *dir = study_dir();
    char run[4500], out[4500], *err = NULL;
    snprintf(run, sizeof(run), "%s/run", dir);
    /* trial 3 kept its model; trial 1 (the one it re-measures) did not: re-derived */
    for (long id = 3; id >= 1; id -= 2) {
        char ids[16];
        snprintf(ids, sizeof(ids), "%ld", id);
        snprintf(out, sizeof(out), "%s/hf-%ld", dir, id);
        int rc = export(&err, (const char *const[]){run, "--trial", ids, "-o", out, NULL});
        cr_assert_eq(rc, 0, "export trial %ld: %s", id, err);
        cr_expect_eq(strstr(err, "re-deriving") != NULL, id == 1, "trial %ld: %s", id, err);
        free(err);
        double want = trial_metric(dir, id, "q.val_loss");
        double got = eval_loss(dir, out), ref = reference_loss(dir, out);
        printf("trial %ld (%s): val_loss %.9f, hilnas eval of the export %.9f, NumPy reference "
               "%.9f\n",
               id, id == 1 ? "re-derived" : "kept", want, got, ref);
        cr_expect(fabs(got - want) <= 1e-6 * want, "trial %ld: eval %.9f, trial %.9f", id, got,
                  want);
        cr_expect(fabs(ref - want) <= 1e-5 * want, "trial %ld: reference %.9f, trial %.9f", id, ref,
                  want);
        /* the config's class follows the attention pattern */
        json_t *cfg = load_json(out, "config.json");
        int skips = trial_skips_attention(dir, id);
        const char *cls =
            json_string_value(json_array_get(json_object_get(cfg, "architectures"), 0));
        cr_expect_str_eq(cls, skips ? "DeciLMForCausalLM" : "LlamaForCausalLM");
        cr_expect_eq(json_object_get(cfg, "block_configs") != NULL, skips);
        json_decref(cfg);
        json_t *tok = load_json(out, "tokenizer.json");
        cr_expect_eq(json_object_size(json_object_get(json_object_get(tok, "model"), "vocab")),
                     256);
        json_decref(tok);
        cr_expect(exists(out, "README.md") && exists(out, "generation_config.json"));
    }
    /* the DeciLM form alone (without hilnas's attention_layers) gives the reference the same
     * function */
    snprintf(out, sizeof(out), "%s/hf-3", dir);
    json_t *cfg = load_json(out, "config.json");
    if (json_object_get(cfg, "block_configs") != NULL) {
        char deci[4500], path[4600];
        snprintf(deci, sizeof(deci), "%s/deci-only", dir);
        mkdir(deci, 0755);
        json_object_del(cfg, "attention_layers");
        snprintf(path, sizeof(path), "%s/config.json", deci);
        cr_assert_eq(json_dump_file(cfg, path, 0), 0);
        char src[4600];
        snprintf(src, sizeof(src), "%s/model.safetensors", out);
        snprintf(path, sizeof(path), "%s/model.safetensors", deci);
        cr_assert_eq(link(src, path), 0);
        double a = reference_loss(dir, out), b = reference_loss(dir, deci);
        cr_expect(a == b, "block_configs alone: %.12f vs %.12f", b, a);
    }
    json_decref(cfg);
    /* a re-derivation that does not reproduce the trial is refused, and nothing is written */
    snprintf(out, sizeof(out), "%s/hf-changed", dir);
    int rc = export(&err, (const char *const[]){run, "--trial", "1", "-o", out, "--set",
                                                "evaluators.q.steps=3", NULL});
    cr_expect_eq(rc, 1, "exit %d: %s", rc, err);
    cr_expect(strstr(err, "changed since the study ran") != NULL, "%s", err);
    cr_expect(!exists(out, "config.json"));
    free(err);
    /* a BF16 export evaluates close to (not exactly at) the F32 loss */
    snprintf(out, sizeof(out), "%s/hf-3-bf16", dir);
    cr_assert_eq(export(&err, (const char *const[]){run, "--trial", "3", "-o", out, "--dtype",
                                                    "bf16", NULL}),
                 0, "%s", err);
    free(err);
    double want = trial_metric(dir, 3, "q.val_loss"), got = eval_loss(dir, out);
    cr_expect(fabs(got - want) <= 2e-2 * want && got != want, "bf16: %.9f vs %.9f", got, want);
}

Test(export, gguf_reads_back_exactly_and_refusals_name_the_reason, .timeout = 180)
{
    const char *dir = study_dir();
    char run[4500], hf[4500], out[4500], file[4600], *err = NULL, *res = NULL;
    snprintf(run, sizeof(run), "%s/run", dir);
    snprintf(hf, sizeof(hf), "%s/gguf-ref", dir);
    cr_assert_eq(export(&err, (const char *const[]){run, "--trial", "3", "-o", hf, NULL}), 0, "%s",
                 err);
    free(err);
    static const char *const dtypes[] = {"f32", "f16", "bf16"}, *const upper[] = {"F32", "F16",
                                                                                  "BF16"};
    for (int d = 0; d < 3; d++) {
        snprintf(out, sizeof(out), "%s/gguf-%s", dir, dtypes[d]);
        cr_assert_eq(export(&err, (const char *const[]){run, "--trial", "3", "-o", out, "--format",
                                                        "gguf", "--dtype", dtypes[d], NULL}),
                     0, "%s", err);
        free(err);
        snprintf(file, sizeof(file), "%s/model.gguf", out);
        int rc = python("gguf_reader.py", &res,
                        (const char *const[]){file, "--check", hf, "--dtype", upper[d], NULL});
        cr_expect_eq(rc, 0, "%s: the independent reader disagrees", file);
        printf("%s: %s", dtypes[d], res ? res : "\n");
        free(res);
        res = NULL;
        /* what llama.cpp's graph computes from the file (NumPy, float64, NORM RoPE on the
         * permuted rows) equals the Hugging Face model: a wrong permutation moves it by ~1e-6 */
        if (d == 0) {
            char data[4600];
            snprintf(data, sizeof(data), "%s/val.bin", dir);
            rc = python("gguf_reader.py", &res,
                        (const char *const[]){file, "--data", data, "--seq", "16", "--batch", "4",
                                              "--batches", "3", NULL});
            cr_assert_eq(rc, 0);
            double got = json_number(res, "loss"), want = reference_loss(dir, hf);
            printf("llama.cpp's graph on the GGUF (NumPy): %.12f, Hugging Face reference %.12f\n",
                   got, want);
            cr_expect(fabs(got - want) <= 1e-9 * want, "GGUF %.12f, HF %.12f", got, want);
            free(res);
            res = NULL;
        }
        /* the reader can fail: a file checked against the wrong type is refused */
        if (d == 1) {
            rc = python("gguf_reader.py", &res,
                        (const char *const[]){file, "--check", hf, "--dtype", "BF16", NULL});
            cr_expect_neq(rc, 0, "F16 tensors passed as BF16");
            free(res);
            res = NULL;
        }
    }
    /* layer 0 without attention (but a later layer with it): llama.cpp cannot run it */
    char arch[4500];
    snprintf(arch, sizeof(arch), "%s/skip0.json", dir);
    cr_assert_eq(tu_write_file(arch, "{\"hidden_size\": 32, \"intermediate_size\": 64, "
                                     "\"num_hidden_layers\": 3, \"num_attention_heads\": 4, "
                                     "\"num_key_value_heads\": 2, \"head_dim\": 8, "
                                     "\"vocab_size\": 256, \"max_position_embeddings\": 64, "
                                     "\"attention_layers\": [false, true, true]}"),
                 0);
    snprintf(out, sizeof(out), "%s/skip0", dir);
    int rc = export(&err, (const char *const[]){"--arch", arch, "--random", "-o", out, "--format",
                                                "gguf", NULL});
    cr_expect_eq(rc, 2, "exit %d: %s", rc, err);
    cr_expect(strstr(err, "layer 0 skips attention") != NULL && strstr(err, "llama.cpp") != NULL,
              "%s", err);
    cr_expect(!exists(out, "model.gguf"), "nothing written for a refused export");
    free(err);
    /* the same architecture exports to Hugging Face (DeciLM form) */
    rc = export(&err, (const char *const[]){"--arch", arch, "--random", "-o", out, NULL});
    cr_expect_eq(rc, 0, "%s", err);
    free(err);
    /* usage errors */
    rc = export(&err, (const char *const[]){run, "--trial", "99", "-o", out, NULL});
    cr_expect(rc == 2 && strstr(err, "trial 99 is not in the study") != NULL, "%d %s", rc, err);
    free(err);
    rc = export(&err,
                (const char *const[]){run, "--trial", "3", "-o", out, "--format", "onnx", NULL});
    cr_expect(rc == 2 && strstr(err, "--format must be hf or gguf") != NULL, "%d %s", rc, err);
    free(err);
}

Test(export, random_exports_have_the_architectures_exact_shapes, .timeout = 120)
{
    char *dir = tu_tmpdir("export-random"), arch[4500], hf[4500], gg[4500], file[4600];
    char *err = NULL, *res = NULL;
    make_data(dir, 2000);
    /* uniform (llama) and attention-skipping (deci) architectures; GQA; untied head */
    static const char *const archs[] = {
        "{\"hidden_size\": 48, \"intermediate_size\": 96, \"num_hidden_layers\": 2, "
        "\"num_attention_heads\": 6, \"num_key_value_heads\": 2, \"head_dim\": 12, "
        "\"vocab_size\": 256, \"max_position_embeddings\": 128, \"rope_theta\": 500000.0, "
        "\"tie_word_embeddings\": false}",
        "{\"hidden_size\": 40, \"intermediate_size\": 80, \"num_hidden_layers\": 4, "
        "\"num_attention_heads\": 4, \"num_key_value_heads\": 1, \"head_dim\": 10, "
        "\"vocab_size\": 256, \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-6, "
        "\"tie_word_embeddings\": true, \"attention_layers\": [true, false, true, false], "
        "\"backbone\": \"ignored\", \"parameters\": 1}",
    };
    for (int i = 0; i < 2; i++) {
        snprintf(arch, sizeof(arch), "%s/arch%d.json", dir, i);
        cr_assert_eq(tu_write_file(arch, archs[i]), 0);
        snprintf(hf, sizeof(hf), "%s/hf%d", dir, i);
        snprintf(gg, sizeof(gg), "%s/gguf%d", dir, i);
        cr_assert_eq(export(&err, (const char *const[]){"--arch", arch, "--random", "--seed", "5",
                                                        "-o", hf, NULL}),
                     0, "%s", err);
        free(err);
        cr_assert_eq(export(&err, (const char *const[]){"--arch", arch, "--random", "--seed", "5",
                                                        "-o", gg, "--format", "gguf", NULL}),
                     0, "%s", err);
        free(err);
        /* the engine loads only exact shapes; the parameter count is the architecture's */
        struct hn_error e;
        struct hn_llm_model *m = hn_llm_load(hf, &e);
        cr_assert_not_null(m, "%s", e.msg);
        json_t *want = json_loads(archs[i], 0, NULL);
        struct hn_llm_config c;
        cr_assert_eq(hn_llm_config_from_json(want, "arch", &c, &e), 0, "%s", e.msg);
        cr_expect_eq(m->n_params, hn_llm_param_count(&c));
        cr_expect_eq(m->config.hidden_size, c.hidden_size);
        cr_expect_eq(m->config.head_dim, c.head_dim);
        cr_expect_eq(
            memcmp(m->config.attention_layers, c.attention_layers, (size_t)c.num_hidden_layers), 0);
        json_decref(want);
        hn_llm_model_free(m);
        /* same seed, same weights: the GGUF holds exactly the Hugging Face export's tensors */
        snprintf(file, sizeof(file), "%s/model.gguf", gg);
        int rc = python("gguf_reader.py", &res,
                        (const char *const[]){file, "--check", hf, "--dtype", "F32", NULL});
        cr_expect_eq(rc, 0, "%s", file);
        cr_expect(res && strstr(res, i == 0 ? "\"llama\"" : "\"deci\""), "%s", res);
        free(res);
        res = NULL;
        /* llama.cpp's graph on the GGUF (NumPy) computes the Hugging Face model's loss */
        char data[4600];
        snprintf(data, sizeof(data), "%s/val.bin", dir);
        rc = python("gguf_reader.py", &res,
                    (const char *const[]){file, "--data", data, "--seq", "16", "--batch", "4",
                                          "--batches", "3", NULL});
        cr_assert_eq(rc, 0);
        double got = json_number(res, "loss"), ref = reference_loss(dir, hf);
        printf("random %s: GGUF (llama.cpp's graph) %.12f, Hugging Face reference %.12f\n",
               i == 0 ? "llama" : "deci", got, ref);
        cr_expect(fabs(got - ref) <= 1e-9 * ref, "GGUF %.12f, HF %.12f", got, ref);
        free(res);
        res = NULL;
        json_t *cfg = load_json(hf, "config.json");
        cr_expect_str_eq(
            json_string_value(json_array_get(json_object_get(cfg, "architectures"), 0)),
            i == 0 ? "LlamaForCausalLM" : "DeciLMForCausalLM");
        json_decref(cfg);
        char *card = NULL;
        char path[4600];
        snprintf(path, sizeof(path), "%s/README.md", gg);
        card = tu_read_file(path);
        cr_expect(card && strstr(card, "random"), "model card: %s", card);
        free(card);
    }
    free(dir);
}

Test(export, runtime_llamacpp_keeps_attention_in_layer_0, .timeout = 120)
{
    char *dir = tu_tmpdir("export-runtime"), text[8192], *err = NULL, path[4600];
    make_data(dir, 3000);
    make_backbone(dir);
    for (int llama = 0; llama < 2; llama++) {
        snprintf(text, sizeof(text),
                 "study: {name: rt, seed: 5}\n"
                 "space:\n"
                 "  plugin: transformer\n"
                 "  backbone: %s/backbone\n"
                 "  depth: {min: 3, max: 3}\n"
                 "  include_backbone: false\n"
                 "  d_model: [16]\n"
                 "  attention: per-layer\n"
                 "%s"
                 "evaluators:\n"
                 "  q: {plugin: pruned, data: %s, steps: 0, seq: 16, batch: 2, eval_batches: 1}\n"
                 "objectives: [{metric: q.val_loss, goal: minimize}]\n"
                 "stages: [{name: s, sampler: sobol, trials: 12}]\n",
                 dir, llama ? "  runtime: llama.cpp\n" : "", dir);
        char sub[4500];
        snprintf(sub, sizeof(sub), "%s/%d", dir, llama);
        mkdir(sub, 0755);
        int rc = tu_run_study_text(sub, text, "run", &err);
        cr_assert_eq(rc, 0, "run failed: %s", err);
        free(err);
        snprintf(path, sizeof(path), "%s/run/trials.csv", sub);
        char *csv = tu_read_file(path);
        cr_assert_not_null(csv);
        /* columns status, attn_0, attn_1, attn_2: attention after a layer 0 without it */
        int bad =
            tu_count(csv, ",complete,False,True,") + tu_count(csv, ",complete,False,False,True,");
        printf("runtime %s: %d trials skip attention in layer 0 but not later\n",
               llama ? "llama.cpp" : "any", bad);
        if (llama) {
            cr_expect_eq(bad, 0, "runtime: llama.cpp proposed layer-0-skipping candidates:\n%s",
                         csv);
        } else {
            cr_expect_gt(bad, 0, "the check is vacuous: no candidate skips layer 0 without it");
        }
        free(csv);
    }
    free(dir);
}

/* A llama.cpp program: in PATH, else $LLAMA_CPP_DIR/bin or $LLAMA_CPP_DIR/build/bin; into buf.
 * Returns 0 when found. */
static int find_llama(const char *name, char *buf, size_t size)
{
    const char *dir = getenv("LLAMA_CPP_DIR"), *path = getenv("PATH");
    const char *subs[] = {"bin", "build/bin"};
    for (int i = 0; dir != NULL && *dir && i < 2; i++) {
        snprintf(buf, size, "%s/%s/%s", dir, subs[i], name);
        if (access(buf, X_OK) == 0) {
            return 0;
        }
    }
    while (path != NULL && *path) {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);
        snprintf(buf, size, "%.*s/%s", (int)n, path, name);
        if (n > 0 && access(buf, X_OK) == 0) {
            return 0;
        }
        path = colon ? colon + 1 : NULL;
    }
    return -1;
}

/* llama.cpp on the exported GGUF computes what the NumPy reference computes on the Hugging Face
 * export: llama-perplexity's number on the same bytes (tokenizer, tensors, permutation, per-layer
 * heads all have to be right for that). */
Test(export, llamacpp_computes_the_same_perplexity, .timeout = 300)
{
    char ppl[4500];
    if (find_llama("llama-perplexity", ppl, sizeof(ppl)) != 0) {
        printf("SKIP: llama-perplexity not found in PATH or $LLAMA_CPP_DIR/{bin,build/bin}: "
               "llama.cpp is not checked (docs/export.md says how to get it)\n");
        return;
    }
    const char *dir = study_dir();
    char run[4500], text[4500], *err = NULL, *out = NULL;
    snprintf(run, sizeof(run), "%s/run", dir);
    snprintf(text, sizeof(text), "%s/text.txt", dir);
    /* plain ASCII and UTF-8 text: the GGUF tokenizer must give token i = byte i */
    static const char sample[] =
        "The quick brown fox jumps over the lazy dog; caf\xc3\xa9 na\xc3\xafve "
        "r\xc3\xa9sum\xc3\xa9 -- 12345 {json: [1, 2]}\n\ttabs & symbols: "
        "~!@#$%^&*()_+ \"quotes\" 'apostrophes'\n";
    char body[2048] = "";
    for (int i = 0; i < 6; i++) {
        strcat(body, sample);
    }
    cr_assert_eq(tu_write_file(text, body), 0);
    /* the kept (deci) trial in F32 and F16, and a uniform (llama) architecture with random
     * weights; the study's trials skip attention in some layer */
    char uni[4500];
    snprintf(uni, sizeof(uni), "%s/uniform.json", dir);
    cr_assert_eq(tu_write_file(uni, "{\"hidden_size\": 48, \"intermediate_size\": 96, "
                                    "\"num_hidden_layers\": 2, \"num_attention_heads\": 6, "
                                    "\"num_key_value_heads\": 2, \"head_dim\": 8, "
                                    "\"vocab_size\": 256, \"max_position_embeddings\": 64, "
                                    "\"rope_theta\": 500000.0, \"tie_word_embeddings\": true}"),
                 0);
    static const char *const cases[][2] = {{"3", "f32"}, {"3", "f16"}, {"uniform", "f32"}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char hf[4500], gg[4500], model[4600];
        int random = strcmp(cases[k][0], "uniform") == 0;
        snprintf(hf, sizeof(hf), "%s/llama-hf-%s", dir, cases[k][0]);
        snprintf(gg, sizeof(gg), "%s/llama-gguf-%s-%s", dir, cases[k][0], cases[k][1]);
        const char *src[4] = {run, "--trial", cases[k][0], NULL};
        if (random) {
            src[0] = "--arch", src[1] = uni, src[2] = "--random";
        }
        cr_assert_eq(export(&err, (const char *const[]){src[0], src[1], src[2], "-o", hf, NULL}), 0,
                     "%s", err);
        free(err);
        int rc = export(&err, (const char *const[]){src[0], src[1], src[2], "-o", gg, "--format",
                                                    "gguf", "--dtype", cases[k][1], NULL});
        cr_assert_eq(rc, 0, "%s", err);
        free(err);
        snprintf(model, sizeof(model), "%s/model.gguf", gg);
        char tokz[4500];
        if (k == 0 && find_llama("llama-tokenize", tokz, sizeof(tokz)) == 0) {
            /* llama.cpp's tokenizer: token i is byte i, no BOS */
            rc = tu_run(
                (char *const[]){tokz, "-m", model, "-f", text, "--ids", "--log-disable", NULL},
                NULL, &out, &err);
            cr_assert_eq(rc, 0, "llama-tokenize: %s", err);
            char *want = malloc(8 * sizeof(body) + 8), *w = want;
            w += sprintf(w, "[");
            for (size_t i = 0; body[i] != '\0'; i++) {
                w += sprintf(w, "%s%u", i ? ", " : "", (unsigned)(unsigned char)body[i]);
            }
            sprintf(w, "]");
            cr_expect(out != NULL && strstr(out, want) != NULL,
                      "llama-tokenize gives other ids than the bytes:\n%s\nwant\n%s", out, want);
            printf("llama-tokenize: %zu bytes -> the same %zu ids\n", strlen(body), strlen(body));
            free(want);
            free(out);
            free(err);
            out = NULL;
        } else if (k == 0) {
            printf("SKIP (tokenizer): llama-tokenize not found\n");
        }
        rc = tu_run(
            (char *const[]){ppl, "-m", model, "-f", text, "-c", "32", "-b", "32", "-t", "1", NULL},
            NULL, &out, &err);
        cr_assert_eq(rc, 0, "llama-perplexity: %s", err);
        const char *fe = err ? strstr(err, "Final estimate: PPL = ") : NULL;
        if (fe == NULL && out != NULL) {
            fe = strstr(out, "Final estimate: PPL = ");
        }
        cr_assert_not_null(fe, "no estimate in llama-perplexity's output: %s", err);
        double got = strtod(fe + strlen("Final estimate: PPL = "), NULL);
        free(out);
        free(err);
        out = NULL;
        rc = python("llama_reference.py", &out,
                    (const char *const[]){hf, "--text", text, "--llama-perplexity", "32", NULL});
        cr_assert_eq(rc, 0);
        double want = json_number(out, "ppl");
        free(out);
        out = NULL;
        /* F16 weights: llama.cpp computes with the rounded weights, the reference with F32 */
        double tol = strcmp(cases[k][1], "f16") == 0 ? 1e-2 : 1e-3;
        printf("%s (%s): llama.cpp perplexity %.4f, NumPy reference %.4f\n", cases[k][0],
               cases[k][1], got, want);
        cr_expect(fabs(got - want) <= tol * want + 1e-4, "%s %s: llama.cpp %.4f, reference %.4f",
                  cases[k][0], cases[k][1], got, want);
    }
}

/* scripts/llamacpp-latency.sh through the device oracle: with a stand-in llama-bench (a real
 * subprocess printing llama-bench's JSON layout) always, with the real one when it is found. */
Test(export, llamacpp_latency_script_feeds_the_device_oracle, .timeout = 300)
{
    char *dir = tu_tmpdir("export-latency"), bench[4500], text[8192], *err = NULL, path[4800];
    make_data(dir, 3000);
    make_backbone(dir);
    snprintf(bench, sizeof(bench), "%s/fake-llama-bench", dir);
    /* prompt time 1 ms per prompt token, generation 2 ms per token, sd 0.5 ms */
    cr_assert_eq(tu_write_file(bench,
                               "#!/bin/sh\n"
                               "p=0; n=0; m=''\n"
                               "while [ $# -gt 0 ]; do case $1 in -p) p=$2; shift;; "
                               "-n) n=$2; shift;; -m) m=$2; shift;; esac; shift; done\n"
                               "[ -s \"$m\" ] || { echo \"no model $m\" >&2; exit 1; }\n"
                               "printf '[\\n  {\\n    \"n_prompt\": %s,\\n    \"n_gen\": %s,\\n"
                               "    \"avg_ns\": %s,\\n    \"stddev_ns\": 500000,\\n"
                               "    \"samples_ns\": [ 1, 2 ]\\n  }\\n]\\n' \"$p\" \"$n\" "
                               "$(( p * 1000000 + n * 2000000 ))\n"),
                 0);
    chmod(bench, 0755);
    char real[4500];
    int have_real = find_llama("llama-bench", real, sizeof(real)) == 0;
    if (!have_real) {
        printf("SKIP (real llama-bench): not found in PATH or $LLAMA_CPP_DIR/{bin,build/bin}; "
               "only the stand-in runs\n");
    }
    for (int r = 0; r < 1 + have_real; r++) {
        snprintf(text, sizeof(text),
                 "study: {name: lat, seed: 5}\n"
                 "space:\n"
                 "  plugin: transformer\n"
                 "  backbone: %s/backbone\n"
                 "  depth: {min: 2, max: 3}\n"
                 "  d_model: [16, 32]\n"
                 "  attention: per-layer\n"
                 "  runtime: llama.cpp\n"
                 "oracles:\n"
                 "  lc:\n"
                 "    plugin: device\n"
                 "    command: \"%s/scripts/llamacpp-latency.sh {arch} {workdir} 32 4 0 2 1\"\n"
                 "    metrics: [prefill_ms, decode_ms]\n"
                 "objectives: [{metric: lc.prefill_ms, goal: minimize}, "
                 "{metric: lc.decode_ms, goal: minimize}]\n"
                 "stages: [{name: s, sampler: sobol, trials: 3}]\n",
                 dir, tu_srcdir());
        char sub[4500], benv[4600], henv[4600];
        snprintf(sub, sizeof(sub), "%s/%d", dir, r);
        mkdir(sub, 0755);
        snprintf(path, sizeof(path), "%s/study.yaml", sub);
        cr_assert_eq(tu_write_file(path, text), 0);
        snprintf(benv, sizeof(benv), "LLAMA_BENCH=%s", r == 0 ? bench : real);
        snprintf(henv, sizeof(henv), "HILNAS=%s", tu_hilnas());
        char outdir[4700];
        snprintf(outdir, sizeof(outdir), "%s/run", sub);
        int rc = tu_run((char *const[]){(char *)tu_hilnas(), "run", path, "--output", outdir, NULL},
                        (char *const[]){benv, henv, NULL}, NULL, &err);
        cr_assert_eq(rc, 0, "run failed: %s", err);
        free(err);
        snprintf(path, sizeof(path), "%s/trials.csv", outdir);
        char *csv = tu_read_file(path);
        cr_assert_not_null(csv);
        printf("%s llama-bench:\n%s", r ? "real" : "stand-in", csv);
        cr_expect_eq(tu_count(csv, ",complete,"), 3, "%s", csv);
        if (r == 0) {
            /* 32 prompt tokens at 1 ms; 2 ms per generated token; sem 0.5 / sqrt(2) */
            cr_expect_eq(tu_count(csv, ",32,0.353553"), 3, "stand-in prefill: %s", csv);
            cr_expect_eq(tu_count(csv, ",2,0.08838"), 3, "stand-in decode: %s", csv);
        }
        free(csv);
    }
    free(dir);
}
