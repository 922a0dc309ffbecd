/*
 * hilnas pretrain / eval / generate through the real command line, with a tiny model:
 * the loss `hilnas eval` computes on the final checkpoint equals the validation loss the trainer
 * logged; a run stopped half-way and started again ends exactly where an uninterrupted run ends;
 * generation is deterministic; usage errors exit 2.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[2048], data_dir[2200];

/* Run a shell command; returns its exit code, stdout (up to size) in out if not NULL. */
static int run(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t size, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    cr_assert(p != NULL, "cannot run %s", cmd);
    size_t n = 0;
    char sink[4096];
    while (1) {
        char *buf = out != NULL && n + 1 < size ? out + n : sink;
        size_t room = out != NULL && n + 1 < size ? size - n - 1 : sizeof(sink);
        size_t got = fread(buf, 1, room, p);
        if (got == 0) {
            break;
        }
        if (buf != sink) {
            n += got;
        }
    }
    if (out != NULL) {
        out[n] = '\0';
    }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_tokens(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL);
    for (size_t i = 0; i < n; i++) {
        unsigned char le[2] = {(unsigned char)text[i], 0};
        fwrite(le, 1, 2, f);
    }
    fclose(f);
}

/* Deterministic text with structure: words from a small list, sentences, newlines. */
static void make_data(void)
{
    static const char *words[] = {"the", "cat", "sat",  "on", "a",   "mat", "and", "dog",
                                  "ran", "to",  "fish", "in", "sea", "it",  "was", "red"};
    size_t cap = 40000, n = 0;
    char *text = malloc(cap);
    unsigned x = 7;
    while (n + 16 < cap) {
        x = x * 1103515245u + 12345u;
        const char *w = words[(x >> 16) % 16];
        size_t len = strlen(w);
        memcpy(text + n, w, len);
        n += len;
        text[n++] = ((x >> 8) % 7 == 0) ? '\n' : ' ';
    }
    /* one data directory per test process: Criterion runs the tests of this file in parallel
     * processes, and rewriting shared files under a running reader made it flaky */
    snprintf(data_dir, sizeof(data_dir), "%s/data.%ld", tmpdir, (long)getpid());
    mkdir(data_dir, 0755);
    char path[2400];
    snprintf(path, sizeof(path), "%s/train.bin", data_dir);
    write_tokens(path, text, n - 6000);
    snprintf(path, sizeof(path), "%s/val.bin", data_dir);
    write_tokens(path, text + n - 6000, 6000);
    free(text);
}

static void setup(void)
{
    const char *t = getenv("HN_TEST_TMPDIR");
    cr_assert(t != NULL && getenv("HILNAS") != NULL, "run through make check");
    snprintf(tmpdir, sizeof(tmpdir), "%s", t);
    make_data();
}

TestSuite(llm_cli, .init = setup, .timeout = 60);

#define TRAIN_ARGS                                                                                 \
    "--layers 2 --hidden 32 --heads 4 --kv-heads 2 --head-dim 6 --ffn 48 --attention 1,0 "         \
    "--tie=false --seq 32 --batch 4 --steps 12 --warmup 2 --lr 1e-2 --eval-interval 6 "            \
    "--eval-batches 3 --checkpoint-interval 6 --threads 1 --quiet"

/* The last val_loss in OUT/log.jsonl. */
static double last_val_loss(const char *out)
{
    char path[2400], line[1024];
    snprintf(path, sizeof(path), "%s/log.jsonl", out);
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "no %s", path);
    double val = NAN;
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, "\"val_loss\": ");
        if (p != NULL) {
            val = strtod(p + strlen("\"val_loss\": "), NULL);
        }
    }
    fclose(f);
    return val;
}

Test(llm_cli, eval_reproduces_the_trainers_validation_loss)
{
    char out[2400], buf[4096];
    snprintf(out, sizeof(out), "%s/run", tmpdir);
    int rc = run(NULL, 0, "\"$HILNAS\" pretrain " TRAIN_ARGS " --data %s --out %s", data_dir, out);
    cr_assert(rc == 0, "pretrain exited %d", rc);
    double logged = last_val_loss(out);
    cr_assert(isfinite(logged) && logged < log(256.0), "val loss %g", logged);
    rc = run(buf, sizeof(buf),
             "\"$HILNAS\" eval %s/final --data %s/val.bin --seq 32 --batches 3 "
             "--batch 4",
             out, data_dir);
    cr_assert(rc == 0, "eval exited %d: %s", rc, buf);
    const char *p = strstr(buf, "\"loss\": ");
    cr_assert(p != NULL, "no loss in %s", buf);
    double loss = strtod(p + 8, NULL);
    printf("trainer val loss %.9f, hilnas eval %.9f\n", logged, loss);
    cr_expect(fabs(loss - logged) <= 1e-6 * logged, "eval %.9f vs trainer %.9f", loss, logged);
    cr_expect(strstr(buf, "\"tokens\": 384") != NULL, "3 batches x 4 windows x 32: %s", buf);
    /* the final checkpoint is a Hugging Face layout */
    char path[2600];
    struct stat st;
    snprintf(path, sizeof(path), "%s/final/model.safetensors", out);
    cr_expect(stat(path, &st) == 0);
    snprintf(path, sizeof(path), "%s/final/config.json", out);
    cr_expect(stat(path, &st) == 0);
}

Test(llm_cli, resume_after_a_stop_ends_where_an_uninterrupted_run_ends)
{
    char whole[2400], parts[2400], path[2600];
    struct stat st;
    snprintf(whole, sizeof(whole), "%s/whole", tmpdir);
    snprintf(parts, sizeof(parts), "%s/parts", tmpdir);
    cr_assert(run(NULL, 0, "\"$HILNAS\" pretrain " TRAIN_ARGS " --data %s --out %s", data_dir,
                  whole) == 0);
    cr_assert(run(NULL, 0, "\"$HILNAS\" pretrain " TRAIN_ARGS " --data %s --out %s --stop-after 7",
                  data_dir, parts) == 0);
    snprintf(path, sizeof(path), "%s/final", parts);
    cr_expect(stat(path, &st) != 0, "a stopped run has no final model");
    snprintf(path, sizeof(path), "%s/last/state.json", parts);
    cr_assert(stat(path, &st) == 0, "the checkpoint of step 6 is there");
    cr_assert(run(NULL, 0, "\"$HILNAS\" pretrain " TRAIN_ARGS " --data %s --out %s", data_dir,
                  parts) == 0);
    double a = last_val_loss(whole), b = last_val_loss(parts);
    printf("uninterrupted %.9f, resumed %.9f\n", a, b);
    cr_expect(a == b, "uninterrupted %.9f vs resumed %.9f", a, b);
    /* a different shape in the same directory is refused */
    int rc = run(NULL, 0,
                 "\"$HILNAS\" pretrain " TRAIN_ARGS " --hidden 48 --data %s --out %s "
                 "2>/dev/null",
                 data_dir, parts);
    cr_expect(rc == 2, "exit %d", rc);
}

Test(llm_cli, generate_is_deterministic)
{
    char out[2400], a[4096], b[4096];
    snprintf(out, sizeof(out), "%s/gen", tmpdir);
    cr_assert(run(NULL, 0, "\"$HILNAS\" pretrain " TRAIN_ARGS " --steps 6 --data %s --out %s",
                  data_dir, out) == 0);
    cr_assert(run(a, sizeof(a),
                  "\"$HILNAS\" generate %s/final --prompt 'the cat' --tokens 20 "
                  "--temperature 0",
                  out) == 0);
    cr_assert(run(b, sizeof(b),
                  "\"$HILNAS\" generate %s/final --prompt 'the cat' --tokens 20 "
                  "--temperature 0",
                  out) == 0);
    cr_expect(strcmp(a, b) == 0 && strncmp(a, "the cat", 7) == 0 && strlen(a) == 7 + 20 + 1,
              "'%s' vs '%s'", a, b);
    cr_assert(run(a, sizeof(a),
                  "\"$HILNAS\" generate %s/final --prompt 'x' --tokens 30 "
                  "--temperature 1 --top-k 5 --seed 9",
                  out) == 0);
    cr_assert(run(b, sizeof(b),
                  "\"$HILNAS\" generate %s/final --prompt 'x' --tokens 30 "
                  "--temperature 1 --top-k 5 --seed 9",
                  out) == 0);
    cr_expect(strcmp(a, b) == 0, "same seed, different text: '%s' vs '%s'", a, b);
    /* at a deployment precision: the same length of text, deterministic too */
    cr_assert(run(a, sizeof(a),
                  "\"$HILNAS\" generate %s/final --prompt 'the cat' --tokens 20 "
                  "--temperature 0 --dtype q8_0",
                  out) == 0);
    cr_assert(run(b, sizeof(b),
                  "\"$HILNAS\" generate %s/final --prompt 'the cat' --tokens 20 "
                  "--temperature 0 --dtype q8_0",
                  out) == 0);
    cr_expect(strcmp(a, b) == 0 && strncmp(a, "the cat", 7) == 0 && strlen(a) == 7 + 20 + 1,
              "'%s' vs '%s'", a, b);
}

Test(llm_cli, usage_errors_exit_2)
{
    char yaml[2400], buf[4096];
    cr_expect(run(NULL, 0, "\"$HILNAS\" eval /nonexistent --data x.bin 2>/dev/null") == 2);
    cr_expect(run(NULL, 0, "\"$HILNAS\" pretrain --bogus 1 2>/dev/null") == 2);
    cr_expect(run(NULL, 0, "\"$HILNAS\" pretrain --data %s 2>/dev/null", data_dir) == 2);
    cr_expect(run(NULL, 0, "\"$HILNAS\" generate 2>/dev/null") == 2);
    cr_expect(run(NULL, 0, "\"$HILNAS\" eval x --data x.bin --seq 8 --dtype int4 2>/dev/null") ==
              2);
    cr_expect(run(NULL, 0,
                  "\"$HILNAS\" pretrain --layers 2 --attention 1,0,1 --data %s "
                  "--out %s/x 2>/dev/null",
                  data_dir, tmpdir) == 2);
    snprintf(yaml, sizeof(yaml), "%s/train.yaml", tmpdir);
    FILE *f = fopen(yaml, "w");
    fprintf(f, "layers: 2\nhiden: 32\n");
    fclose(f);
    int rc = run(buf, sizeof(buf), "\"$HILNAS\" pretrain %s --data %s --out %s/y 2>&1", yaml,
                 data_dir, tmpdir);
    cr_expect(rc == 2, "exit %d", rc);
    cr_expect(strstr(buf, "hiden") != NULL && strstr(buf, "hidden") != NULL &&
                  strstr(buf, ":2:") != NULL,
              "%s", buf);
    cr_expect(run(buf, sizeof(buf), "\"$HILNAS\" eval --help") == 0);
    cr_expect(strstr(buf, "usage: hilnas eval") != NULL);
}

/* Bad token files are the user's input: exit 2, the file named, before any training. */
Test(llm_cli, bad_token_files_exit_2_naming_the_file)
{
    char dir[2400], path[2500], out[2500], buf[4096];
    snprintf(dir, sizeof(dir), "%s/baddata.%ld", tmpdir, (long)getpid());
    mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/train.bin", dir);
    write_tokens(path, "the cat sat on the mat and the dog ran to the sea, it was red. ", 64);
    snprintf(out, sizeof(out), "%s/out", dir);

    /* no val.bin */
    int rc = run(buf, sizeof(buf), "\"$HILNAS\" pretrain " TRAIN_ARGS " --data %s --out %s 2>&1",
                 dir, out);
    cr_expect(rc == 2, "exit %d: %s", rc, buf);
    cr_expect(strstr(buf, "val.bin") != NULL && strstr(buf, "hilnas tokenize") != NULL, "%s", buf);

    /* a val.bin too short for one window: refused before the first step */
    snprintf(path, sizeof(path), "%s/val.bin", dir);
    write_tokens(path, "too short", 9);
    rc = run(buf, sizeof(buf), "\"$HILNAS\" pretrain " TRAIN_ARGS " --data %s --out %s 2>&1", dir,
             out);
    cr_expect(rc == 2, "exit %d: %s", rc, buf);
    cr_expect(strstr(buf, "val.bin has 9 tokens") != NULL && strstr(buf, "seq+1 = 33") != NULL,
              "%s", buf);
    struct stat st;
    cr_expect(stat(out, &st) != 0, "nothing is written for a refused run");

    /* an odd number of bytes is not a token file */
    FILE *f = fopen(path, "ab");
    fputc('x', f);
    fclose(f);
    snprintf(out, sizeof(out), "%s/ok", dir);
    cr_assert(run(NULL, 0, "\"$HILNAS\" pretrain " TRAIN_ARGS " --steps 1 --data %s --out %s",
                  data_dir, out) == 0);
    rc = run(buf, sizeof(buf), "\"$HILNAS\" eval %s/final --data %s --seq 8 2>&1", out, path);
    cr_expect(rc == 2, "exit %d: %s", rc, buf);
    cr_expect(strstr(buf, path) != NULL && strstr(buf, "whole number") != NULL, "%s", buf);
    rc = run(buf, sizeof(buf), "\"$HILNAS\" eval %s/final --data %s/nope.bin --seq 8 2>&1", out,
             dir);
    cr_expect(rc == 2, "exit %d: %s", rc, buf);
    cr_expect(strstr(buf, "nope.bin") != NULL, "%s", buf);

    /* a token the model's vocabulary does not have (the models here have 256): named with its
     * index in the file, by eval and, before any step, by pretrain */
    FILE *wide = fopen(path, "wb");
    for (int i = 0; i < 100; i++) {
        unsigned char le[2] = {i == 57 ? 0x2c : 'a', i == 57 ? 0x01 : 0}; /* 300 = 0x012c */
        fwrite(le, 1, 2, wide);
    }
    fclose(wide);
    rc = run(buf, sizeof(buf), "\"$HILNAS\" eval %s/final --data %s --seq 8 2>&1", out, path);
    cr_expect(rc == 2, "exit %d: %s", rc, buf);
    cr_expect(strstr(buf, "token 57 is 300, outside the vocabulary 0..255") != NULL, "%s", buf);
    snprintf(out, sizeof(out), "%s/wide", dir);
    char train_path[2500];
    snprintf(train_path, sizeof(train_path), "%s/train.bin", dir);
    rename(path, train_path);
    write_tokens(path, "plenty of validation text for one window of thirty-two tokens", 60);
    rc = run(buf, sizeof(buf), "\"$HILNAS\" pretrain " TRAIN_ARGS " --data %s --out %s 2>&1", dir,
             out);
    cr_expect(rc == 2, "exit %d: %s", rc, buf);
    cr_expect(strstr(buf, "train.bin: token 57 is 300") != NULL, "%s", buf);
    cr_expect(stat(out, &st) != 0, "nothing is written for a refused run");
}

/* "loss" of a JSON line printed by `hilnas eval` or the reference. */
static double json_loss(const char *text)
{
    const char *p = strstr(text, "\"loss\": ");
    cr_assert(p != NULL, "no loss in: %s", text);
    return strtod(p + strlen("\"loss\": "), NULL);
}

/* `hilnas eval` and tests/llm/llama_reference.py (Hugging Face's Llama in NumPy, float64) on the
 * same checkpoint and windows. */
static void expect_reference_loss_at(const char *ckpt, const char *what, const char *dtype)
{
    char buf[4096], ref[4096];
    const char *py = getenv("HN_PYTHON");
    cr_assert(py != NULL && *py != '\0', "HN_PYTHON unset: configure looks for a Python 3 with "
                                         "NumPy (apt-get install python3-numpy)");
    int rc = run(buf, sizeof(buf),
                 "\"$HILNAS\" eval %s --data %s/val.bin --seq 32 --batches 3 "
                 "--batch 4 --threads 2 --dtype %s 2>&1",
                 ckpt, data_dir, dtype);
    cr_assert(rc == 0, "eval exited %d: %s", rc, buf);
    rc = run(ref, sizeof(ref),
             "\"$HN_PYTHON\" \"$abs_top_srcdir/tests/llm/llama_reference.py\" "
             "%s --data %s/val.bin --seq 32 --batches 3 --batch 4 --round %s 2>&1",
             ckpt, data_dir, dtype);
    cr_assert(rc == 0, "the reference exited %d: %s", rc, ref);
    double got = json_loss(buf), want = json_loss(ref);
    printf("%s, %s: hilnas eval %.9f, NumPy reference %.9f\n", what, dtype, got, want);
    cr_expect(fabs(got - want) <= 1e-5 * want, "%s, %s: eval %.9f, reference %.9f", what, dtype,
              got, want);
}

static void expect_reference_loss(const char *ckpt, const char *what)
{
    expect_reference_loss_at(ckpt, what, "f32");
}

Test(llm_cli, eval_equals_an_independent_numpy_llama)
{
    char out[2400], ckpt[2500];
    /* trained by hilnas: GQA, head_dim 6 != 32/4, second layer skips attention, untied head */
    snprintf(out, sizeof(out), "%s/ref.%ld", tmpdir, (long)getpid());
    cr_assert(
        run(NULL, 0, "\"$HILNAS\" pretrain " TRAIN_ARGS " --data %s --out %s", data_dir, out) == 0);
    snprintf(ckpt, sizeof(ckpt), "%s/final", out);
    expect_reference_loss(ckpt, "pretrained (GQA, skip, untied)");
    /* deployment precisions: the weights rounded by NumPy (float16, bit-level BF16, Q8_0 blocks
     * with a float16 scale) give the loss hilnas eval --dtype gives */
    expect_reference_loss_at(ckpt, "pretrained", "bf16");
    expect_reference_loss_at(ckpt, "pretrained", "f16");
    expect_reference_loss_at(ckpt, "pretrained", "q8_0");

    /* written by the reference as a Python exporter would: BF16 and F16, configs with what
     * transformers writes (no head_dim: hidden / heads; no attention_layers; rope_theta 5e5) */
    static const struct {
        const char *dtype, *config;
    } foreign[] = {
        {"BF16", "{\"model_type\": \"llama\", \"hidden_size\": 48, \"intermediate_size\": 80, "
                 "\"num_hidden_layers\": 3, \"num_attention_heads\": 6, "
                 "\"num_key_value_heads\": 2, \"head_dim\": 12, \"vocab_size\": 256, "
                 "\"rms_norm_eps\": 1e-6, \"rope_theta\": 500000.0, "
                 "\"tie_word_embeddings\": false, \"max_position_embeddings\": 64, "
                 "\"attention_layers\": [true, false, true]}"},
        {"F16", "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", "
                "\"hidden_size\": 40, \"intermediate_size\": 64, \"num_hidden_layers\": 2, "
                "\"num_attention_heads\": 4, \"num_key_value_heads\": 1, \"vocab_size\": 256, "
                "\"rms_norm_eps\": 1e-5, \"rope_theta\": 500000.0, "
                "\"tie_word_embeddings\": true, \"max_position_embeddings\": 64, "
                "\"hidden_act\": \"silu\", \"torch_dtype\": \"float16\"}"},
    };
    for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
        char buf[4096];
        snprintf(ckpt, sizeof(ckpt), "%s/foreign-%zu", out, i);
        int rc = run(buf, sizeof(buf),
                     "\"$HN_PYTHON\" \"$abs_top_srcdir/tests/llm/llama_reference.py\" %s "
                     "--write-random '%s' --dtype %s --seed %zu 2>&1",
                     ckpt, foreign[i].config, foreign[i].dtype, i + 3);
        cr_assert(rc == 0, "writing %s: %s", ckpt, buf);
        expect_reference_loss(ckpt, foreign[i].dtype);
    }
}

/* Issue 8, finding 4: 100000 threads asked for on the command line, in HILNAS_THREADS or in
 * OMP_NUM_THREADS ended in a SIGSEGV inside libgomp; now clamped, with a warning. */
Test(llm_cli, absurd_thread_counts_are_clamped_with_a_warning)
{
    static const char *const env[] = {"", "HILNAS_THREADS=100000 ", "OMP_NUM_THREADS=100000 "};
    static const char *const from[] = {"--threads", "HILNAS_THREADS", "OMP_NUM_THREADS"};
    for (int i = 0; i < 3; i++) {
        char buf[4096];
        int rc = run(buf, sizeof(buf),
                     "%s\"$HILNAS\" pretrain --layers 2 --hidden 32 --heads 4 --kv-heads 2 "
                     "--head-dim 6 --ffn 48 --seq 32 --batch 4 --steps 1 --warmup 1 "
                     "--eval-interval 1 --eval-batches 1 --quiet --data %s --out %s/threads%d "
                     "%s 2>&1",
                     env[i], data_dir, tmpdir, i, i == 0 ? "--threads 100000" : "");
        cr_expect_eq(rc, 0, "%s: exit %d: %s", from[i], rc, buf);
        cr_expect(strstr(buf, "100000 threads") != NULL && strstr(buf, from[i]) != NULL &&
                      strstr(buf, "using") != NULL,
                  "%s: no warning: %s", from[i], buf);
    }
}
