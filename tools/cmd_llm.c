/* hilnas pretrain / eval / generate: the transformer engine on the command line. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hilnas/conf.h"
#include "hilnas/llm/checkpoint.h"
#include "hilnas/llm/decode.h"
#include "hilnas/llm/model.h"
#include "hilnas/llm/tokens.h"
#include "hilnas/llm/train.h"
#include "hilnas/rng.h"
#include "tools/cli.h"

/* ---------------------------------------------------------------------------------------------
 * pretrain: one table of settings, read from the YAML file and then from the flags */

enum setting_type { S_INT, S_LONG, S_DOUBLE, S_STRING, S_BOOL };

struct pretrain_args {
    int layers, hidden, heads, kv_heads, head_dim, ffn, vocab, seq, batch, eval_batches, threads;
    int tie, quiet;
    long steps, warmup, eval_interval, checkpoint_interval, log_interval, stop_after, seed;
    double lr, min_lr, weight_decay, grad_clip, rope_theta;
    const char *data, *out, *attention;
};

struct setting {
    const char *name;
    enum setting_type type;
    size_t offset;
    const char *help;
};

#define SET(name, type, field, help)                                                               \
    {                                                                                              \
        name, type, offsetof(struct pretrain_args, field), help                                    \
    }
static const struct setting settings[] = {
    SET("layers", S_INT, layers, "transformer layers (4)"),
    SET("hidden", S_INT, hidden, "hidden size C (128)"),
    SET("heads", S_INT, heads, "query heads (4)"),
    SET("kv-heads", S_INT, kv_heads, "key/value heads (= heads)"),
    SET("head-dim", S_INT, head_dim, "head dimension (hidden / heads)"),
    SET("ffn", S_INT, ffn, "FFN intermediate size (8/3 hidden, rounded up to 32)"),
    SET("vocab", S_INT, vocab, "vocabulary size (256, bytes)"),
    SET("attention", S_STRING, attention,
        "per-layer attention, e.g. 1,1,0,1 (0 = skip; default all)"),
    SET("tie", S_BOOL, tie, "tie the LM head to the embedding (true)"),
    SET("rope-theta", S_DOUBLE, rope_theta, "RoPE base (10000)"),
    SET("seq", S_INT, seq, "tokens per training window T (256)"),
    SET("batch", S_INT, batch, "windows per step B (16)"),
    SET("steps", S_LONG, steps, "optimizer steps (1000)"),
    SET("lr", S_DOUBLE, lr, "peak learning rate (3e-3)"),
    SET("min-lr", S_DOUBLE, min_lr, "final learning rate of the cosine (lr / 10)"),
    SET("warmup", S_LONG, warmup, "linear warmup steps (100)"),
    SET("weight-decay", S_DOUBLE, weight_decay, "AdamW weight decay on matrices (0.1)"),
    SET("grad-clip", S_DOUBLE, grad_clip, "global gradient norm clip, 0 = none (1.0)"),
    SET("data", S_STRING, data, "directory with train.bin and val.bin (required)"),
    SET("out", S_STRING, out, "output directory (required)"),
    SET("eval-interval", S_LONG, eval_interval, "validate every N steps (100)"),
    SET("eval-batches", S_INT, eval_batches, "validation batches of B windows (8)"),
    SET("checkpoint-interval", S_LONG, checkpoint_interval, "checkpoint every N steps (500)"),
    SET("log-interval", S_LONG, log_interval, "progress line every N steps without a tty (10)"),
    SET("seed", S_LONG, seed, "random seed (1)"),
    SET("threads", S_INT, threads, "threads (HILNAS_THREADS, else OMP_NUM_THREADS, else all)"),
    SET("stop-after", S_LONG, stop_after, "stop after N steps of this invocation (testing)"),
    SET("quiet", S_BOOL, quiet, "no progress lines"),
};
#undef SET
#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

static void pretrain_usage(FILE *out)
{
    fprintf(out, "usage: hilnas pretrain [CONFIG.yaml] [--SETTING VALUE]...\n\n"
                 "Pretrain a Llama-style model on token files (DATA/train.bin, DATA/val.bin, "
                 "uint16). Settings come\nfrom CONFIG.yaml (keys as below) and then from the "
                 "flags. Running the same command again\nresumes from OUT/last. Writes "
                 "OUT/log.jsonl, OUT/checkpoint-N/, OUT/final/.\n\nsettings:\n");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        fprintf(out, "  --%-20s %s\n", settings[i].name, settings[i].help);
    }
    fprintf(out, "  --help, --version\n\nexit codes: 0 success, 1 runtime failure, 2 usage or "
                 "configuration error\n");
}

static int parse_value(const struct setting *s, const char *text, struct pretrain_args *a,
                       const char *where, struct hn_error *err)
{
    void *field = (char *)a + s->offset;
    char *end = NULL;
    switch (s->type) {
    case S_INT:
    case S_LONG: {
        errno = 0;
        long v = strtol(text, &end, 10);
        if (end == text || *end != '\0') {
            return hn_error_config(err, where, "'%s' needs an integer, got '%s'", s->name, text);
        }
        if (errno == ERANGE || (s->type == S_INT && (v < INT_MIN || v > INT_MAX))) {
            return hn_error_config(err, where, "'%s': %s is out of range (%s)", s->name, text,
                                   s->type == S_INT ? "a 32-bit integer" : "a 64-bit integer");
        }
        if (s->type == S_INT) {
            *(int *)field = (int)v;
        } else {
            *(long *)field = v;
        }
        return 0;
    }
    case S_DOUBLE: {
        double v = strtod(text, &end);
        if (end == text || *end != '\0') {
            return hn_error_config(err, where, "'%s' needs a number, got '%s'", s->name, text);
        }
        *(double *)field = v;
        return 0;
    }
    case S_STRING:
        *(const char **)field = text;
        return 0;
    case S_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0 || strcmp(text, "yes") == 0) {
            *(int *)field = 1;
        } else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0 ||
                   strcmp(text, "no") == 0) {
            *(int *)field = 0;
        } else {
            return hn_error_config(err, where, "'%s' needs true or false, got '%s'", s->name, text);
        }
        return 0;
    }
    return 0;
}

static const struct setting *find_setting(const char *name)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (strcmp(settings[i].name, name) == 0) {
            return &settings[i];
        }
    }
    return NULL;
}

static int read_yaml(const char *path, struct hn_config_node **root, struct pretrain_args *a,
                     struct hn_error *err)
{
    const char *names[N_SETTINGS + 1];
    char where[512];
    for (size_t i = 0; i < N_SETTINGS; i++) {
        names[i] = settings[i].name;
    }
    names[N_SETTINGS] = NULL;
    *root = hn_config_load(path, err);
    if (*root == NULL || hn_config_expect(*root, HN_NODE_MAPPING, err) != 0 ||
        hn_config_check_keys(*root, names, "pretrain", err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < (*root)->n; i++) {
        const struct hn_config_node *node = (*root)->items[i];
        const char *text;
        if (hn_config_to_string(node, &text, err) != 0) {
            return -1;
        }
        hn_config_where(node, where, sizeof(where));
        if (parse_value(find_setting((*root)->keys[i]), text, a, where, err) != 0) {
            return -1;
        }
    }
    return 0;
}

static int build_opts(const struct pretrain_args *a, struct hn_llm_train_opts *o,
                      struct hn_error *err)
{
    struct hn_llm_config *c = &o->config;
    hn_llm_train_opts_default(o);
    if (a->data == NULL || a->out == NULL) {
        return hn_error_config(err, NULL, "--data DIR and --out DIR are required");
    }
    if (a->layers < 1 || a->layers > HN_LLM_MAX_LAYERS || a->hidden < 1 || a->heads < 1) {
        return hn_error_config(err, NULL, "layers must be 1..%d, hidden and heads >= 1",
                               HN_LLM_MAX_LAYERS);
    }
    c->num_hidden_layers = a->layers;
    c->hidden_size = a->hidden;
    c->num_attention_heads = a->heads;
    c->num_key_value_heads = a->kv_heads > 0 ? a->kv_heads : a->heads;
    c->head_dim = a->head_dim > 0 ? a->head_dim : a->hidden / a->heads;
    c->intermediate_size = a->ffn > 0 ? a->ffn : (8 * a->hidden / 3 + 31) / 32 * 32;
    c->vocab_size = a->vocab;
    c->max_position_embeddings =
        a->seq > c->max_position_embeddings ? a->seq : c->max_position_embeddings;
    c->tie_word_embeddings = a->tie;
    c->rope_theta = a->rope_theta;
    for (int l = 0; l < HN_LLM_MAX_LAYERS; l++) {
        c->attention_layers[l] = 1;
    }
    if (a->attention != NULL && strcmp(a->attention, "all") != 0) {
        const char *p = a->attention;
        for (int l = 0; l < a->layers; l++) {
            if ((*p != '0' && *p != '1') || (p[1] != ',' && p[1] != '\0') ||
                (p[1] == '\0' && l != a->layers - 1)) {
                return hn_error_config(err, NULL,
                                       "attention '%s': give %d comma-separated 0/1 flags, one "
                                       "per layer (0 = skip attention)",
                                       a->attention, a->layers);
            }
            c->attention_layers[l] = (unsigned char)(*p == '1');
            p += p[1] == ',' ? 2 : 1;
        }
        if (*p != '\0') {
            return hn_error_config(err, NULL, "attention '%s': more than %d flags", a->attention,
                                   a->layers);
        }
    }
    o->seq = a->seq;
    o->batch = a->batch;
    o->steps = a->steps;
    o->warmup = a->warmup;
    o->lr = a->lr;
    o->min_lr = a->min_lr >= 0 ? a->min_lr : a->lr / 10;
    o->weight_decay = a->weight_decay;
    o->grad_clip = a->grad_clip;
    o->data_dir = a->data;
    o->out_dir = a->out;
    o->eval_interval = a->eval_interval;
    o->eval_batches = a->eval_batches;
    o->checkpoint_interval = a->checkpoint_interval;
    o->log_interval = a->log_interval;
    o->stop_after = a->stop_after;
    o->seed = (uint64_t)a->seed;
    o->threads = a->threads;
    o->quiet = a->quiet;
    return hn_llm_config_validate(c, err);
}

int hn_cmd_pretrain(int argc, char **argv)
{
    struct option longopts[N_SETTINGS + 3];
    struct pretrain_args a = {
        .layers = 4,
        .hidden = 128,
        .heads = 4,
        .vocab = 256,
        .seq = 256,
        .batch = 16,
        .eval_batches = 8,
        .tie = 1,
        .steps = 1000,
        .warmup = 100,
        .eval_interval = 100,
        .checkpoint_interval = 500,
        .log_interval = 10,
        .seed = 1,
        .lr = 3e-3,
        .min_lr = -1,
        .weight_decay = 0.1,
        .grad_clip = 1.0,
        .rope_theta = 10000.0,
    };
    struct hn_config_node *root = NULL;
    struct hn_llm_train_opts o;
    struct hn_error err;
    const char *cmd = argv[0];
    int code = HN_EXIT_OK;
    hn_error_clear(&err);
    for (size_t i = 0; i < N_SETTINGS; i++) {
        longopts[i] = (struct option){
            settings[i].name, settings[i].type == S_BOOL ? optional_argument : required_argument,
            NULL, 256 + (int)i};
    }
    longopts[N_SETTINGS] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[N_SETTINGS + 1] = (struct option){"version", no_argument, NULL, 'V'};
    longopts[N_SETTINGS + 2] = (struct option){NULL, 0, NULL, 0};
    /* first pass: help/version and the YAML file, so that flags override it */
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        if (c == 'h') {
            pretrain_usage(stdout);
            return HN_EXIT_OK;
        }
        if (c == 'V') {
            return hn_cli_version(cmd);
        }
        if (c == '?' || c == ':') {
            return hn_cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind > 1) {
        return hn_cli_usage_error(cmd, "expected at most one CONFIG.yaml, got '%s' and '%s'",
                                  argv[optind], argv[optind + 1]);
    }
    if (optind < argc && read_yaml(argv[optind], &root, &a, &err) != 0) {
        goto fail;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        const struct setting *s = &settings[c - 256];
        const char *value = optarg;
        if (s->type == S_BOOL && value == NULL) {
            value = "true";
        }
        if (parse_value(s, value, &a, "command line", &err) != 0) {
            goto fail;
        }
    }
    if (build_opts(&a, &o, &err) != 0 || hn_llm_pretrain(&o, &err) != 0) {
        goto fail;
    }
    hn_config_free(root);
    return HN_EXIT_OK;
fail:
    code = hn_error_exit_code(&err);
    fprintf(stderr, "\nhilnas: pretrain: %s\n", err.msg);
    hn_config_free(root);
    return code;
}

/* ---------------------------------------------------------------------------------------------
 * eval */

/* A --NAME VALUE flag of eval and generate: an integer (long) or a number (double) in
 * [min, max], or a string. max 0 means INT_MAX for integers (most are handed on as int) and no
 * bound for numbers; out-of-range values are refused, never truncated. */
enum flag_type { F_INT, F_NUM, F_STR };
struct flag {
    const char *name;
    enum flag_type type;
    double min;
    void *dest;
    long max;
};

/*
 * Parse argv for a command taking one CHECKPOINT, the given flags, --help (prints help) and
 * --version. Returns -1 when the caller goes on with argv[optind] as the checkpoint, else the
 * exit code to return.
 */
static int parse_checkpoint_args(int argc, char **argv, const struct flag *flags, size_t n,
                                 const char *help)
{
    const char *cmd = argv[0];
    struct option longopts[16];
    if (n + 3 > sizeof(longopts) / sizeof(longopts[0])) {
        return hn_cli_usage_error(cmd, "internal: too many flags");
    }
    for (size_t i = 0; i < n; i++) {
        longopts[i] = (struct option){flags[i].name, required_argument, NULL, 256 + (int)i};
    }
    longopts[n] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n + 1] = (struct option){"version", no_argument, NULL, 'V'};
    longopts[n + 2] = (struct option){NULL, 0, NULL, 0};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(help, stdout);
            return HN_EXIT_OK;
        }
        if (c == 'V') {
            return hn_cli_version(cmd);
        }
        if (c < 256 || c >= 256 + (int)n) {
            return hn_cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        const struct flag *f = &flags[c - 256];
        if (f->type == F_STR) {
            *(const char **)f->dest = optarg;
            continue;
        }
        char *end = NULL;
        errno = 0;
        if (f->type == F_INT) {
            long max = f->max != 0 ? f->max : INT_MAX;
            long long v = strtoll(optarg, &end, 10);
            if (end == optarg || *end != '\0' || errno != 0 || v < (long long)f->min || v > max) {
                return hn_cli_usage_error(cmd, "--%s needs an integer in %.0f..%ld, got '%s'",
                                          f->name, f->min, max, optarg);
            }
            *(long *)f->dest = (long)v;
            continue;
        }
        double v = strtod(optarg, &end);
        if (end == optarg || *end != '\0' || errno != 0 || !(v >= f->min) || !isfinite(v) ||
            (f->max != 0 && v > (double)f->max)) {
            return hn_cli_usage_error(cmd, "--%s needs a finite number >= %g, got '%s'", f->name,
                                      f->min, optarg);
        }
        *(double *)f->dest = v;
    }
    if (optind != argc - 1) {
        return hn_cli_usage_error(cmd, optind >= argc ? "missing CHECKPOINT directory"
                                                      : "expected one CHECKPOINT directory");
    }
    return -1;
}

int hn_cmd_eval(int argc, char **argv)
{
    const char *cmd = argv[0], *data = NULL, *dtype_name = "f32";
    long seq = 0, batches = 0, batch = 8, threads = 0;
    const struct flag flags[] = {
        {"data", F_STR, 0, &data, 0},
        {"seq", F_INT, 1, &seq, 0},
        {"batches", F_INT, 1, &batches, LONG_MAX},
        {"batch", F_INT, 1, &batch, 0},
        {"threads", F_INT, 1, &threads, 0},
        {"dtype", F_STR, 0, &dtype_name, 0},
    };
    int code = parse_checkpoint_args(
        argc, argv, flags, sizeof(flags) / sizeof(flags[0]),
        "usage: hilnas eval CHECKPOINT --data FILE.bin --seq T [--batches N] [--batch B] "
        "[--threads N]\n                   [--dtype f32|bf16|f16|q8_0]\n\n"
        "Mean cross-entropy of the checkpoint on consecutive, non-overlapping windows of T+1 "
        "tokens\n(window i starts at token i*T), N batches of B windows (default: all windows, "
        "B = 8).\n--dtype: the weights rounded to a deployment precision first (F32 arithmetic "
        "on the\nrounded values; the loss a model stored that way gives).\nPrints one JSON "
        "object: {\"loss\" (nats per token), \"tokens\", \"windows\", \"perplexity\",\n"
        "\"bits_per_token\", \"seq\", \"batch\", \"dtype\"}.\n\nexit codes: 0 success, 1 "
        "runtime failure, 2 usage or configuration error\n");
    if (code >= 0) {
        return code;
    }
    struct hn_error err;
    hn_error_clear(&err);
    if (data == NULL || seq == 0) {
        return hn_cli_usage_error(cmd, "--data FILE.bin and --seq T are required");
    }
    enum hn_dtype dtype;
    if (hn_dtype_parse(dtype_name, &dtype) != 0) {
        return hn_cli_usage_error(cmd, "--dtype '%s' unknown (f32, bf16, f16, q8_0)", dtype_name);
    }
    hn_llm_set_threads((int)threads);
    uint16_t *tok = NULL;
    size_t n = 0, tokens = 0;
    double loss = 0.0;
    struct hn_llm_model *model = hn_llm_load(argv[optind], &err);
    int rc = HN_EXIT_OK;
    if (model == NULL || hn_llm_set_dtype(model, dtype, &err) != 0 ||
        hn_tokens_load(data, &tok, &n, &err) != 0 ||
        hn_tokens_check_vocab(tok, n, model->config.vocab_size, data, &err) != 0 ||
        hn_llm_eval_windows(model, tok, n, (int)seq, (int)batch, batches, &loss, &tokens, &err) !=
            0) {
        fprintf(stderr, "hilnas: eval: %s\n", err.msg);
        rc = hn_error_exit_code(&err);
    } else if (!isfinite(loss)) {
        /* the JSON still comes, with the reason: NaN has no JSON spelling */
        json_t *out = json_pack("{s:n, s:s, s:I, s:i, s:i, s:s}", "loss", "error",
                                "the loss is not finite (NaN or infinite): the checkpoint's "
                                "weights hold non-finite values or overflow; retrain or restore "
                                "it",
                                "tokens", (json_int_t)tokens, "seq", (int)seq, "batch", (int)batch,
                                "dtype", hn_dtype_name(dtype));
        json_dumpf(out, stdout, 0);
        fputc('\n', stdout);
        json_decref(out);
        fprintf(stderr, "hilnas: eval: %s: the loss is not finite (%g)\n", argv[optind], loss);
        rc = HN_EXIT_FAILURE;
    } else {
        json_t *out = json_pack("{s:f, s:I, s:I, s:f, s:f, s:i, s:i, s:s}", "loss", loss, "tokens",
                                (json_int_t)tokens, "windows", (json_int_t)(tokens / (size_t)seq),
                                "perplexity", exp(loss), "bits_per_token", loss / log(2.0), "seq",
                                (int)seq, "batch", (int)batch, "dtype", hn_dtype_name(dtype));
        json_dumpf(out, stdout, JSON_REAL_PRECISION(10));
        fputc('\n', stdout);
        json_decref(out);
    }
    free(tok);
    hn_llm_model_free(model);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * generate (byte-level tokens: token = byte value) */

int hn_cmd_generate(int argc, char **argv)
{
    const char *cmd = argv[0], *prompt = NULL, *dtype_name = "f32";
    long n_tokens = 128, top_k = 0, seed = 1, threads = 0;
    double temperature = 0.8;
    const struct flag flags[] = {
        {"prompt", F_STR, 0, &prompt, 0},           {"tokens", F_INT, 0, &n_tokens, 0},
        {"temperature", F_NUM, 0, &temperature, 0}, {"top-k", F_INT, 0, &top_k, 0},
        {"seed", F_INT, 0, &seed, LONG_MAX},        {"threads", F_INT, 1, &threads, 0},
        {"dtype", F_STR, 0, &dtype_name, 0},
    };
    int code = parse_checkpoint_args(
        argc, argv, flags, sizeof(flags) / sizeof(flags[0]),
        "usage: hilnas generate CHECKPOINT --prompt TEXT [--tokens N] [--temperature t] "
        "[--top-k k]\n                [--seed s] [--threads N] [--dtype f32|bf16|f16|q8_0]\n\n"
        "Continue TEXT with a byte-level model: prefill the prompt, then decode N tokens (128) "
        "with a\nKV cache, sampling at temperature t (0.8; 0 = greedy) among the k most likely "
        "(0 = all).\n--dtype: the weights converted to a deployment precision at load (F32 "
        "arithmetic).\nPrints the prompt and its continuation on stdout. The same seed gives the "
        "same text.\n\nexit codes: 0 success, 1 runtime failure, 2 usage or configuration "
        "error\n");
    if (code >= 0) {
        return code;
    }
    if (prompt == NULL || prompt[0] == '\0') {
        return hn_cli_usage_error(cmd, "--prompt TEXT (non-empty) is required");
    }
    enum hn_dtype dtype;
    if (hn_dtype_parse(dtype_name, &dtype) != 0) {
        return hn_cli_usage_error(cmd, "--dtype '%s' unknown (f32, bf16, f16, q8_0)", dtype_name);
    }
    hn_llm_set_threads((int)threads);
    struct hn_error err;
    hn_error_clear(&err);
    struct hn_llm_infer *inf = NULL;
    int *tokens = NULL;
    float *logits = NULL;
    int rc = HN_EXIT_FAILURE;
    struct hn_llm_model *model = hn_llm_load(argv[optind], &err);
    if (model == NULL || hn_llm_set_dtype(model, dtype, &err) != 0) {
        goto fail;
    }
    size_t n_prompt = strlen(prompt);
    long total = (long)n_prompt + n_tokens;
    int V = model->config.vocab_size;
    if (V < 256) {
        hn_error_config(&err, argv[optind],
                        "vocabulary of %d tokens; generate needs a byte-level model (>= 256)", V);
        goto fail;
    }
    if (total > model->config.max_position_embeddings) {
        hn_error_config(&err, argv[optind],
                        "prompt (%zu bytes) + --tokens %ld exceed the model's context of %d "
                        "positions; ask for fewer tokens",
                        n_prompt, n_tokens, model->config.max_position_embeddings);
        goto fail;
    }
    tokens = malloc((size_t)total * sizeof(int));
    logits = malloc((size_t)V * sizeof(float));
    inf = hn_llm_infer_new(model, (int)total, 0, &err);
    if (tokens == NULL || logits == NULL || inf == NULL) {
        if (inf != NULL) {
            hn_error_set(&err, NULL, "out of memory");
        }
        goto fail;
    }
    for (size_t i = 0; i < n_prompt; i++) {
        tokens[i] = (unsigned char)prompt[i];
    }
    fputs(prompt, stdout);
    fflush(stdout);
    struct hn_rng rng;
    hn_rng_seed(&rng, (uint64_t)seed);
    if (hn_llm_infer_forward(inf, tokens, (int)n_prompt, logits, 0, &err) != 0) {
        goto fail;
    }
    for (long i = 0; i < n_tokens; i++) {
        int next = hn_llm_sample(logits, V, temperature, (int)top_k, &rng);
        tokens[n_prompt + (size_t)i] = next;
        if (next < 256) {
            putchar(next);
            fflush(stdout);
        }
        if (i + 1 < n_tokens && hn_llm_infer_forward(inf, &next, 1, logits, 0, &err) != 0) {
            goto fail;
        }
    }
    putchar('\n');
    rc = HN_EXIT_OK;
fail:
    if (rc != HN_EXIT_OK) {
        rc = hn_error_exit_code(&err);
        fprintf(stderr, "hilnas: generate: %s\n", err.msg);
    }
    hn_llm_infer_free(inf);
    free(tokens);
    free(logits);
    hn_llm_model_free(model);
    return rc;
}
