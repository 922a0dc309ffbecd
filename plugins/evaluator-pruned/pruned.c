/*
 * hilnas evaluator "pruned": quality of a pruned architecture with weights inherited from the
 * backbone and a short continued pretraining.
 *
 * The trial's architecture (from the transformer space: a LlamaConfig plus `backbone` and
 * `backbone_layers`) is cut out of the backbone checkpoint by magnitude-based structured
 * pruning, then trained for `steps` AdamW steps on DATA/train.bin and scored on DATA/val.bin:
 *
 *   hidden channels  the d_model channels whose embedding columns have the largest L2 norm,
 *                    the same in every layer (the residual stream is shared);
 *   key/value heads  per kept layer, the kv_heads with the largest sum of squared weights over
 *                    their k/v rows and their query group's q rows and o columns;
 *   query heads      heads / kv_heads per kept kv head, its own group's first by importance
 *                    (squared q rows + o columns), then, when the new group is larger than the
 *                    backbone's, the most important unused heads of other groups;
 *   FFN neurons      per kept layer, the d_ffn with the largest squared gate row + up row +
 *                    down column;
 *   layers           `backbone_layers`; a layer whose attention is skipped keeps only its FFN.
 * With `select: first`, the lowest indices are kept instead (a baseline). Kept indices stay in
 * their backbone order. Norm weights and the embedding are sliced to the
 * kept channels; a tied head stays tied.
 *
 * Metrics: val_loss (mean cross-entropy, nats per token, on the first eval_batches x batch
 * consecutive windows of val.bin, as `hilnas eval`), val_loss_inherited (the same before any
 * training: how much the pruning itself cost), train_loss (the last step's).
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"
#include "hilnas/evaluator.h"
#include "hilnas/rng.h"
#include "llm/checkpoint.h"
#include "llm/llm_config.h"
#include "llm/model.h"
#include "llm/tokens.h"
#include "llm/train.h"

struct pruned {
    const char *data;
    int64_t steps, batch, seq, warmup, eval_batches, threads;
    double lr, min_lr, weight_decay, grad_clip;
    int select; /* index into select_modes */

    /* loaded on first use, kept for the instance's life */
    char *backbone_dir;
    struct hn_llm_model *backbone;
    uint16_t *train, *val;
    size_t n_train, n_val;
    int checked_vocab; /* the data were checked against this vocabulary size */
};

static const char *const select_modes[] = {"magnitude", "first", NULL};

static const struct hn_option pruned_options[] = {
    {.name = "select",
     .type = HN_OPT_ENUM,
     .def = "magnitude",
     .choices = select_modes,
     .offset = offsetof(struct pruned, select),
     .help = "Which channels, heads and neurons to keep: magnitude (largest weights) or first "
             "(the lowest indices, a baseline)."},
    {.name = "data",
     .type = HN_OPT_STRING,
     .offset = offsetof(struct pruned, data),
     .help = "Directory with train.bin and val.bin (hilnas tokenize)."},
    {.name = "steps",
     .type = HN_OPT_INT,
     .def = "50",
     .min = 0,
     .max = 10000000,
     .bounded = 1,
     .offset = offsetof(struct pruned, steps),
     .help = "Continued-pretraining steps (0: none)."},
    {.name = "batch",
     .type = HN_OPT_INT,
     .def = "8",
     .min = 1,
     .max = 4096,
     .bounded = 1,
     .offset = offsetof(struct pruned, batch),
     .help = "Windows per step (and per validation batch)."},
    {.name = "seq",
     .type = HN_OPT_INT,
     .def = "128",
     .min = 1,
     .max = 1 << 20,
     .bounded = 1,
     .offset = offsetof(struct pruned, seq),
     .help = "Tokens per window."},
    {.name = "lr",
     .type = HN_OPT_DOUBLE,
     .def = "1e-3",
     .min = 0,
     .max = 10,
     .bounded = 1,
     .offset = offsetof(struct pruned, lr),
     .help = "Peak learning rate."},
    {.name = "min_lr",
     .type = HN_OPT_DOUBLE,
     .def = "1e-4",
     .min = 0,
     .max = 10,
     .bounded = 1,
     .offset = offsetof(struct pruned, min_lr),
     .help = "Final learning rate of the cosine."},
    {.name = "warmup",
     .type = HN_OPT_INT,
     .def = "5",
     .min = 0,
     .max = 10000000,
     .bounded = 1,
     .offset = offsetof(struct pruned, warmup),
     .help = "Linear warmup steps."},
    {.name = "weight_decay",
     .type = HN_OPT_DOUBLE,
     .def = "0.1",
     .min = 0,
     .max = 10,
     .bounded = 1,
     .offset = offsetof(struct pruned, weight_decay),
     .help = "AdamW weight decay on matrices."},
    {.name = "grad_clip",
     .type = HN_OPT_DOUBLE,
     .def = "1.0",
     .min = 0,
     .max = 1e6,
     .bounded = 1,
     .offset = offsetof(struct pruned, grad_clip),
     .help = "Global gradient norm clip (0: none)."},
    {.name = "eval_batches",
     .type = HN_OPT_INT,
     .def = "8",
     .min = 1,
     .max = 1000000,
     .bounded = 1,
     .offset = offsetof(struct pruned, eval_batches),
     .help = "Validation batches of `batch` windows."},
    {.name = "threads",
     .type = HN_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 1024,
     .bounded = 1,
     .offset = offsetof(struct pruned, threads),
     .help = "Engine threads; 0: the evaluation's share of the CPUs."},
    {.name = NULL},
};

static const char *const pruned_metrics[] = {"val_loss", "val_loss_inherited", "train_loss", NULL};

static void pruned_destroy(void *ctx)
{
    struct pruned *p = ctx;
    if (p == NULL) {
        return;
    }
    hn_llm_model_free(p->backbone);
    free(p->backbone_dir);
    free(p->train);
    free(p->val);
    free(p);
}

static void *pruned_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct pruned *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_apply(pruned_options, args->node, p, "evaluator 'pruned'", "pruned", err) != 0) {
        pruned_destroy(p);
        return NULL;
    }
    /* the data are the user's input: check them now, not at the first trial */
    const char *names[2] = {"train.bin", "val.bin"};
    uint16_t **toks[2] = {&p->train, &p->val};
    size_t *counts[2] = {&p->n_train, &p->n_val};
    for (int k = 0; k < 2; k++) {
        char *path = hn_path_join(p->data, names[k]);
        int rc = path ? hn_tokens_load(path, toks[k], counts[k], err) : -1;
        free(path);
        if (rc != 0) {
            hn_error_prefix(err, "evaluator 'pruned' (data)");
            pruned_destroy(p);
            return NULL;
        }
        if (*counts[k] < (size_t)p->seq + 1) {
            hn_error_config(err, p->data, "%s has %zu tokens, fewer than seq+1 = %lld", names[k],
                            *counts[k], (long long)p->seq + 1);
            pruned_destroy(p);
            return NULL;
        }
    }
    return p;
}

static const char *const *pruned_metric_names(void *ctx)
{
    (void)ctx;
    return pruned_metrics;
}

/* Indices of the k largest of score[0..n), in increasing index order, into out. */
static void top_k(const double *score, size_t n, size_t k, size_t *out)
{
    unsigned char *taken = calloc(n, 1);
    for (size_t j = 0; j < k && taken != NULL; j++) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            if (!taken[i] && (best == n || score[i] > score[best])) {
                best = i;
            }
        }
        taken[best] = 1;
    }
    size_t o = 0;
    for (size_t i = 0; i < n && o < k; i++) {
        if (taken == NULL || taken[i]) {
            out[o++] = i;
        }
    }
    free(taken);
}

static double row_sq(const float *m, size_t cols, size_t r, size_t c0, size_t c1)
{
    double s = 0;
    for (size_t c = c0; c < c1; c++) {
        s += (double)m[r * cols + c] * m[r * cols + c];
    }
    return s;
}

static double col_sq(const float *m, size_t rows, size_t cols, size_t c)
{
    double s = 0;
    for (size_t r = 0; r < rows; r++) {
        s += (double)m[r * cols + c] * m[r * cols + c];
    }
    return s;
}

/* dst (rows.n x cols.n) = src[rows, cols] of a row-major matrix with src_cols columns. */
static void gather(float *dst, const float *src, size_t src_cols, const size_t *rows, size_t nr,
                   const size_t *cols, size_t nc)
{
    for (size_t i = 0; i < nr; i++) {
        for (size_t j = 0; j < nc; j++) {
            dst[i * nc + j] = src[rows[i] * src_cols + cols[j]];
        }
    }
}

/*
 * Kept query heads and kv heads of a layer: kv[KVH'] and q[NH'] (backbone indices; q grouped
 * by its new kv head, NH'/KVH' per group).
 */
static void choose_heads(const struct hn_llm_config *b, const struct hn_llm_layer *w,
                         const struct hn_llm_config *c, int first, size_t *kv, size_t *q)
{
    size_t NH = (size_t)b->num_attention_heads, KVH = (size_t)b->num_key_value_heads;
    size_t HD = (size_t)b->head_dim, C = (size_t)b->hidden_size, G = NH / KVH;
    size_t NH2 = (size_t)c->num_attention_heads, KVH2 = (size_t)c->num_key_value_heads;
    size_t G2 = NH2 / KVH2;
    double qs[4096], kvs[4096];
    unsigned char used[4096] = {0};
    for (size_t h = 0; h < NH; h++) {
        qs[h] = 0;
        for (size_t r = h * HD; r < (h + 1) * HD; r++) {
            qs[h] += row_sq(w->wq, C, r, 0, C) + col_sq(w->wo, C, NH * HD, r);
        }
    }
    for (size_t g = 0; g < KVH; g++) {
        kvs[g] = 0;
        for (size_t r = g * HD; r < (g + 1) * HD; r++) {
            kvs[g] += row_sq(w->wk, C, r, 0, C) + row_sq(w->wv, C, r, 0, C);
        }
        for (size_t h = g * G; h < (g + 1) * G; h++) {
            kvs[g] += qs[h];
        }
    }
    if (first) {
        for (size_t h = 0; h < NH; h++) {
            qs[h] = -(double)h;
        }
        for (size_t g = 0; g < KVH; g++) {
            kvs[g] = -(double)g;
        }
    }
    top_k(kvs, KVH, KVH2, kv);
    for (size_t j = 0; j < KVH2; j++) {
        size_t g = kv[j], got = 0;
        /* its own group first, by importance; then the best unused heads elsewhere */
        for (int own = 1; own >= 0 && got < G2; own--) {
            while (got < G2) {
                size_t best = NH;
                for (size_t h = 0; h < NH; h++) {
                    int mine = h / G == g;
                    if (!used[h] && mine == own && (best == NH || qs[h] > qs[best])) {
                        best = h;
                    }
                }
                if (best == NH) {
                    break;
                }
                used[best] = 1;
                q[j * G2 + got++] = best;
            }
        }
        /* keep backbone order within the group */
        for (size_t a = 1; a < G2; a++) {
            for (size_t z = a; z > 0 && q[j * G2 + z - 1] > q[j * G2 + z]; z--) {
                size_t t = q[j * G2 + z];
                q[j * G2 + z] = q[j * G2 + z - 1];
                q[j * G2 + z - 1] = t;
            }
        }
    }
}

/* Rows r of heads (each head = HD consecutive rows) into a list of row indices. */
static void head_rows(const size_t *heads, size_t n, size_t HD, size_t *rows)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t d = 0; d < HD; d++) {
            rows[i * HD + d] = heads[i] * HD + d;
        }
    }
}

/* Cut the pruned model m (config c, backbone layers `layers`) out of backbone b. */
static int inherit(struct hn_llm_model *m, const struct hn_llm_model *b, const int *layers,
                   int first, struct hn_error *err)
{
    const struct hn_llm_config *bc = &b->config, *c = &m->config;
    size_t Cb = (size_t)bc->hidden_size, C = (size_t)c->hidden_size;
    size_t V = (size_t)c->vocab_size, HD = (size_t)c->head_dim;
    size_t Fb = (size_t)bc->intermediate_size, F = (size_t)c->intermediate_size;
    size_t NHb = (size_t)bc->num_attention_heads, NH = (size_t)c->num_attention_heads;
    size_t KVH = (size_t)c->num_key_value_heads;
    size_t big = Cb > Fb ? Cb : Fb;
    big = big > V ? big : V;
    size_t *ch = malloc(Cb * sizeof(size_t)), *all = malloc(big * sizeof(size_t));
    size_t *ff = malloc(Fb * sizeof(size_t)), *qrows = malloc(NHb * HD * sizeof(size_t));
    size_t *kvrows = malloc(NHb * HD * sizeof(size_t));
    size_t kv[4096], q[4096];
    double *score = malloc(big * sizeof(double));
    if (ch == NULL || all == NULL || ff == NULL || qrows == NULL || kvrows == NULL ||
        score == NULL) {
        free(ch), free(all), free(ff), free(qrows), free(kvrows), free(score);
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < big; i++) {
        all[i] = i;
    }
    for (size_t j = 0; j < Cb; j++) {
        score[j] = col_sq(b->w.embed, V, Cb, j);
    }
    for (size_t j = 0; first && j < Cb; j++) {
        score[j] = -(double)j;
    }
    top_k(score, Cb, C, ch);
    gather(m->w.embed, b->w.embed, Cb, all, V, ch, C);
    gather(m->w.norm, b->w.norm, Cb, all, 1, ch, C);
    if (!c->tie_word_embeddings) {
        gather(m->w.lm_head, b->w.lm_head, Cb, all, V, ch, C);
    }
    for (int l = 0; l < c->num_hidden_layers; l++) {
        const struct hn_llm_layer *bw = &b->w.layers[layers[l]];
        struct hn_llm_layer *w = &m->w.layers[l];
        if (w->wq != NULL) {
            choose_heads(bc, bw, c, first, kv, q);
            head_rows(q, NH, HD, qrows);
            head_rows(kv, KVH, HD, kvrows);
            gather(w->ln1, bw->ln1, Cb, all, 1, ch, C);
            gather(w->wq, bw->wq, Cb, qrows, NH * HD, ch, C);
            gather(w->wk, bw->wk, Cb, kvrows, KVH * HD, ch, C);
            gather(w->wv, bw->wv, Cb, kvrows, KVH * HD, ch, C);
            gather(w->wo, bw->wo, NHb * HD, ch, C, qrows, NH * HD);
        }
        for (size_t i = 0; i < Fb; i++) {
            score[i] = row_sq(bw->wgate, Cb, i, 0, Cb) + row_sq(bw->wup, Cb, i, 0, Cb) +
                       col_sq(bw->wdown, Cb, Fb, i);
        }
        for (size_t i = 0; first && i < Fb; i++) {
            score[i] = -(double)i;
        }
        top_k(score, Fb, F, ff);
        gather(w->ln2, bw->ln2, Cb, all, 1, ch, C);
        gather(w->wgate, bw->wgate, Cb, ff, F, ch, C);
        gather(w->wup, bw->wup, Cb, ff, F, ch, C);
        gather(w->wdown, bw->wdown, Fb, ch, C, ff, F);
    }
    free(ch), free(all), free(ff), free(qrows), free(kvrows), free(score);
    return 0;
}

/* The backbone's config must match the architecture's inherited fields. */
static int compatible(const struct hn_llm_config *b, const struct hn_llm_config *c,
                      const int *layers, struct hn_error *err)
{
    static const char *const same_names[3] = {"head_dim", "vocab_size", "tie_word_embeddings"};
    static const char *const at_most_names[5] = {"hidden_size", "intermediate_size",
                                                 "num_attention_heads", "num_key_value_heads",
                                                 "num_hidden_layers"};
    const int same[3][2] = {{c->head_dim, b->head_dim},
                            {c->vocab_size, b->vocab_size},
                            {c->tie_word_embeddings, b->tie_word_embeddings}};
    const int at_most[5][2] = {{c->hidden_size, b->hidden_size},
                               {c->intermediate_size, b->intermediate_size},
                               {c->num_attention_heads, b->num_attention_heads},
                               {c->num_key_value_heads, b->num_key_value_heads},
                               {c->num_hidden_layers, b->num_hidden_layers}};
    for (int i = 0; i < 3; i++) {
        if (same[i][0] != same[i][1]) {
            return hn_error_config(err, NULL,
                                   "not a pruning of its backbone: %s is %d, the backbone's %d "
                                   "(it must be the same)",
                                   same_names[i], same[i][0], same[i][1]);
        }
    }
    for (int i = 0; i < 5; i++) {
        if (at_most[i][0] > at_most[i][1]) {
            return hn_error_config(err, NULL,
                                   "not a pruning of its backbone: %s is %d, more than the "
                                   "backbone's %d",
                                   at_most_names[i], at_most[i][0], at_most[i][1]);
        }
    }
    for (int l = 0; l < c->num_hidden_layers; l++) {
        if (layers[l] < 0 || layers[l] >= b->num_hidden_layers) {
            return hn_error_config(err, NULL,
                                   "backbone_layers[%d] = %d: the backbone has layers 0..%d", l,
                                   layers[l], b->num_hidden_layers - 1);
        }
        if (c->attention_layers[l] && !b->attention_layers[layers[l]]) {
            return hn_error_config(err, NULL,
                                   "kept layer %d has attention, but backbone layer %d skips it: "
                                   "there are no attention weights to inherit",
                                   l, layers[l]);
        }
    }
    return 0;
}


/* ---------------------------------------------------------------------------------------------
 * keep_model (evaluator.h): the trained model and what produced it, in <work_dir>/model/ */

struct pruned_result {
    const int *layers;
    double val_loss, val_loss_inherited, train_loss;
    size_t val_tokens;
};

/* Size, mtime and FNV-1a 64 of a file into o[key] (what identifies the backbone's bytes). */
static int describe_file(json_t *o, const char *key, const char *path, struct hn_error *err)
{
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        if (f != NULL) {
            fclose(f);
        }
        return hn_error_env(err, path, "cannot read the backbone file to describe it");
    }
    uint64_t h = 1469598103934665603ULL;
    unsigned char buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
        for (size_t i = 0; i < got; i++) {
            h = (h ^ buf[i]) * 1099511628211ULL;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        return hn_error_env(err, path, "read error while hashing the backbone");
    }
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)h);
    json_object_set_new(o, key,
                        json_pack("{s:s, s:I, s:I, s:s}", "path", path, "bytes",
                                  (json_int_t)st.st_size, "mtime", (json_int_t)st.st_mtime,
                                  "fnv1a64", hex));
    return 0;
}

/* Write <work_dir>/model/ (hn_llm_save) and model/training.json for req->keep_model. */
static int keep_model(const struct pruned *p, const struct hn_eval_request *req,
                      const struct hn_llm_model *m, const struct pruned_result *r,
                      struct hn_error *err)
{
    char *dir = hn_path_join(req->work_dir, "model");
    char *st_path = hn_path_join(p->backbone_dir, "model.safetensors");
    char *tj_path = dir ? hn_path_join(dir, "training.json") : NULL;
    json_t *layers = json_array(), *t = NULL;
    char *text = NULL;
    int rc = -1;
    if (dir == NULL || st_path == NULL || tj_path == NULL || layers == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    for (int l = 0; l < m->config.num_hidden_layers; l++) {
        json_array_append_new(layers, json_integer(r->layers[l]));
    }
    t = json_pack("{s:s, s:I, s:s, s:s, s:O, s:{s:I, s:f, s:f, s:I, s:f, s:f, s:I, s:I, s:I}, "
                  "s:{s:s, s:I, s:I, s:I, s:I}, s:f, s:f}",
                  "format", "hilnas-training-1", "trial", (json_int_t)req->trial->id, "evaluator",
                  "pruned", "select", select_modes[p->select], "backbone_layers", layers,
                  "training", "steps", (json_int_t)p->steps, "lr", p->lr, "min_lr", p->min_lr,
                  "warmup", (json_int_t)p->warmup, "weight_decay", p->weight_decay, "grad_clip",
                  p->grad_clip, "batch", (json_int_t)p->batch, "seq", (json_int_t)p->seq, "seed",
                  (json_int_t)req->seed, "eval", "data", p->data, "batch", (json_int_t)p->batch,
                  "seq", (json_int_t)p->seq, "batches", (json_int_t)p->eval_batches, "tokens",
                  (json_int_t)r->val_tokens, "val_loss", r->val_loss, "val_loss_inherited",
                  r->val_loss_inherited);
    if (t == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    json_object_set_new(t, "backbone", json_pack("{s:s}", "dir", p->backbone_dir));
    if (describe_file(json_object_get(t, "backbone"), "weights", st_path, err) != 0) {
        goto done;
    }
    if (isfinite(r->train_loss)) {
        json_object_set_new(t, "train_loss", json_real(r->train_loss));
    }
    if (hn_llm_save(m, dir, err) != 0) {
        hn_error_prefix(err, "keeping the model");
        err->kind = HN_ERR_ENVIRONMENT;
        goto done;
    }
    text = json_dumps(t, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    if (text == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    if (hn_write_file_atomic(tj_path, text, strlen(text), err) != 0) {
        err->kind = HN_ERR_ENVIRONMENT;
        goto done;
    }
    rc = 0;
done:
    free(text);
    json_decref(t);
    json_decref(layers);
    free(dir);
    free(st_path);
    free(tj_path);
    return rc;
}

static int pruned_evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                           struct hn_error *err)
{
    struct pruned *p = ctx;
    const json_t *arch = req->trial->arch;
    const char *dir = json_string_value(json_object_get(arch, "backbone"));
    const json_t *kept = json_object_get(arch, "backbone_layers");
    struct hn_llm_config c;
    struct hn_llm_model *m = NULL;
    struct hn_adamw opt = {0};
    int *inputs = NULL, *targets = NULL, rc = -1;
    int layers[HN_LLM_MAX_LAYERS];
    if (dir == NULL || !json_is_array(kept)) {
        return hn_error_config(err, NULL,
                               "the trial's architecture names no backbone and kept layers; use "
                               "the space 'transformer'");
    }
    if (hn_llm_config_from_json(arch, "architecture", &c, err) != 0) {
        return -1;
    }
    if (json_array_size(kept) != (size_t)c.num_hidden_layers) {
        return hn_error_config(err, NULL, "backbone_layers has %zu entries for %d layers",
                               json_array_size(kept), c.num_hidden_layers);
    }
    for (int l = 0; l < c.num_hidden_layers; l++) {
        layers[l] = (int)json_integer_value(json_array_get(kept, (size_t)l));
    }
    if (p->seq > c.max_position_embeddings) {
        return hn_error_config(err, NULL, "seq %lld exceeds max_position_embeddings %d",
                               (long long)p->seq, c.max_position_embeddings);
    }
    hn_llm_set_threads(p->threads > 0 ? (int)p->threads : req->threads);
    if (p->backbone == NULL || strcmp(p->backbone_dir, dir) != 0) {
        hn_llm_model_free(p->backbone);
        free(p->backbone_dir);
        p->backbone_dir = strdup(dir);
        p->backbone = hn_llm_load(dir, err);
        if (p->backbone == NULL || p->backbone_dir == NULL) {
            hn_error_prefix(err, "backbone");
            if (err != NULL) {
                err->kind = HN_ERR_ENVIRONMENT; /* not the candidate's fault: stop the study */
            }
            return -1;
        }
    }
    if (compatible(&p->backbone->config, &c, layers, err) != 0) {
        return -1;
    }
    if (p->checked_vocab != c.vocab_size) {
        /* once per vocabulary, not per trial */
        if (hn_tokens_check_vocab(p->train, p->n_train, c.vocab_size, "train.bin", err) != 0 ||
            hn_tokens_check_vocab(p->val, p->n_val, c.vocab_size, "val.bin", err) != 0) {
            hn_error_prefix(err, "%s (the backbone's vocabulary)", p->data);
            if (err != NULL) {
                err->kind = HN_ERR_ENVIRONMENT; /* the data do not fit the backbone */
            }
            return -1;
        }
        p->checked_vocab = c.vocab_size;
    }
    m = hn_llm_model_new(&c, err);
    if (m == NULL || inherit(m, p->backbone, layers, p->select == 1, err) != 0) {
        goto done;
    }
    int T = (int)p->seq, B = (int)p->batch;
    double inherited, val, train_loss = NAN;
    size_t val_tokens;
    if (hn_llm_eval_windows(m, p->val, p->n_val, T, B, (long)p->eval_batches, &inherited,
                            &val_tokens, err) != 0) {
        goto done;
    }
    val = inherited;
    if (p->steps > 0) {
        inputs = malloc((size_t)B * T * sizeof(int));
        targets = malloc((size_t)B * T * sizeof(int));
        if (inputs == NULL || targets == NULL || hn_adamw_init(&opt, m->n_params, err) != 0) {
            if (inputs == NULL || targets == NULL) {
                hn_error_set(err, NULL, "out of memory");
            }
            goto done;
        }
        opt.weight_decay = p->weight_decay;
        struct hn_rng rng;
        hn_rng_seed(&rng, hn_rng_derive(req->seed, hn_rng_hash("batches")));
        for (long s = 0; s < p->steps; s++) {
            hn_batch_sample(p->train, p->n_train, B, T, &rng, inputs, targets);
            hn_llm_zero_grad(m, err);
            if (hn_llm_forward(m, inputs, targets, B, T, &train_loss, err) != 0 ||
                hn_llm_backward(m, err) != 0) {
                goto done;
            }
            if (!isfinite(train_loss)) {
                hn_error_set(err, NULL, "training diverged at step %ld (loss %g); lower lr", s + 1,
                             train_loss);
                goto done;
            }
            if (p->grad_clip > 0) {
                hn_llm_clip_grad_norm(m, p->grad_clip);
            }
            hn_llm_adamw_step(m, &opt,
                              hn_lr_schedule(s, (long)p->steps, (long)p->warmup, p->lr, p->min_lr));
        }
        if (hn_llm_eval_windows(m, p->val, p->n_val, T, B, (long)p->eval_batches, &val, &val_tokens,
                                err) != 0) {
            goto done;
        }
    }
    if (hn_metrics_put(out, "val_loss", val, NAN, err) != 0 ||
        hn_metrics_put(out, "val_loss_inherited", inherited, NAN, err) != 0 ||
        (isfinite(train_loss) && hn_metrics_put(out, "train_loss", train_loss, NAN, err) != 0)) {
        goto done;
    }
    if (req->keep_model) {
        struct pruned_result r = {layers, val, inherited, train_loss, val_tokens};
        if (keep_model(p, req, m, &r, err) != 0) {
            goto done;
        }
    }
    rc = 0;
done:
    hn_adamw_free(&opt);
    free(inputs);
    free(targets);
    hn_llm_model_free(m);
    return rc;
}

static const struct hn_evaluator_ops pruned_ops = {
    .size = sizeof(struct hn_evaluator_ops),
    .create = pruned_create,
    .destroy = pruned_destroy,
    .metrics = pruned_metric_names,
    .evaluate = pruned_evaluate,
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_EVALUATOR),
    .name = "pruned",
    .summary = "Validation loss of a pruned architecture with inherited weights after a short "
               "continued pretraining",
    .options = pruned_options,
    .evaluator = &pruned_ops,
};
