/*
 * hilnas evaluator "pruned": quality of a pruned architecture with weights inherited from the
 * backbone and a short continued pretraining (docs/method.md).
 *
 * The trial's architecture (from the transformer space: a LlamaConfig plus `backbone` and
 * `backbone_layers`) is cut out of the backbone checkpoint by structured pruning, then trained
 * for `steps` AdamW steps on DATA/train.bin and scored on DATA/val.bin. What is kept, per
 * `select`, by a score per part:
 *
 *   importance (default)  activations on calibration windows of train.bin (hilnas/llm/importance.h,
 *                         Minitron): hidden channels by their normalized residual activations,
 *                         heads by the norm of their output, neurons by the norm of theirs;
 *                         computed once per (backbone, data, calibration) and cached on disk;
 *   magnitude             weights: channels by embedding column norm, heads by squared q rows
 *                         + o columns, neurons by squared gate + up rows + down column;
 *   first                 the lowest indices (a baseline);
 *   random                a random subset (seeded by the study seed; a baseline).
 * Key/value heads (GQA) by the sum of their own k/v rows' magnitude (magnitude) or 0 (others)
 * plus their query group's scores; each kept KV head keeps its own group's best query heads
 * first, then, when the new group is larger, the best unused heads of other groups. Kept indices
 * stay in their backbone order; the hidden channels are the same in every layer (the residual
 * stream is shared). Layers: `backbone_layers`; a layer whose attention is skipped keeps only its
 * FFN. Norm weights and the embedding are sliced to the kept channels; a tied head stays tied.
 *
 * Recipe (a continuation of the backbone's own training, so that the unpruned backbone does not
 * get worse): peak lr = the learning rate the backbone's training ended at (its training.json,
 * written by `hilnas pretrain`, else the "lr" of the last line of ../log.jsonl), unless `lr` is
 * set; warmup a tenth of the steps but at least min(steps, 10) (AdamW's moments start at zero,
 * so its first updates are sign-like steps of the full learning rate; a run shorter than the
 * floor ends inside the ramp); cosine to a tenth of lr. Batches come from a stream seeded by
 * the study seed, the same for every candidate (common random numbers: candidates are compared
 * on the same data), so a candidate's result depends only on (architecture, settings, seed):
 * results are cached under the cache directory (results-<key>.json) and a repeated candidate is
 * not retrained. Optional logit distillation from the backbone (`distill`).
 *
 * Metrics: val_loss (mean cross-entropy, nats per token, on the first eval_batches x batch
 * consecutive windows of val.bin, as `hilnas eval`), val_loss_inherited (the same before any
 * training: how much the pruning itself cost), val_loss_trained (after the training),
 * train_loss (the last step's). With `keep_best` (default) the candidate is the better of its
 * inherited and trained weights, as a user keeps the best checkpoint: val_loss is the smaller
 * of the two and a kept model is that one, so a candidate (the unpruned backbone at
 * convergence, whose steps only add noise) is never worse than its inherited weights.
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hilnas/evaluator.h"
#include "hilnas/llm/checkpoint.h"
#include "hilnas/llm/importance.h"
#include "hilnas/llm/llm_config.h"
#include "hilnas/llm/model.h"
#include "hilnas/llm/tokens.h"
#include "hilnas/llm/train.h"
#include "hilnas/log.h"
#include "hilnas/rng.h"
#include "hilnas/util.h"

enum { SEL_IMPORTANCE, SEL_MAGNITUDE, SEL_FIRST, SEL_RANDOM };

/* The automatic warmup's floor in steps: a fresh AdamW's first update moves every parameter by
 * about the learning rate (m/sqrt(v) = sign(g)); ramping from lr/10 over 10 steps gives the
 * moments 10 gradients before the peak, so even 1 or 2 steps do not undo the backbone. */
#define WARMUP_FLOOR 10

struct calibration {
    int64_t batches, seq;
};

struct distill {
    double weight, temperature;
};

struct pruned {
    const char *data;
    int64_t steps, batch, seq, warmup, eval_batches, threads;
    double lr, min_lr, weight_decay, grad_clip;
    int select; /* index into select_modes */
    int keep_best;
    const struct hn_config_node *calibration_node, *distill_node;
    const char *cache;
    struct calibration cal;
    struct distill distill;
    uint64_t study_seed;
    char *cache_dir;

    /* loaded on first use, kept for the instance's life */
    char *backbone_dir;
    struct hn_llm_model *backbone;
    struct hn_importance *imp; /* of this backbone, select: importance */
    double backbone_lr;        /* where its training ended; NAN: unknown */
    char backbone_key[33];     /* content hash of the backbone + data */
    uint16_t *train, *val;
    size_t n_train, n_val;
    int checked_vocab; /* the data were checked against this vocabulary size */
};

static const char *const select_modes[] = {"importance", "magnitude", "first", "random", NULL};

static const struct hn_option calibration_options[] = {
    {.name = "batches",
     .type = HN_OPT_INT,
     .def = "16",
     .min = 1,
     .max = 100000,
     .bounded = 1,
     .offset = offsetof(struct calibration, batches),
     .help = "Calibration batches of `batch` windows, evenly spaced over train.bin."},
    {.name = "seq",
     .type = HN_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 1 << 20,
     .bounded = 1,
     .offset = offsetof(struct calibration, seq),
     .help = "Tokens per calibration window (0: the evaluator's seq)."},
    {.name = NULL},
};

static const struct hn_option distill_options[] = {
    {.name = "weight",
     .type = HN_OPT_DOUBLE,
     .def = "0",
     .min = 0,
     .max = 1,
     .bounded = 1,
     .offset = offsetof(struct distill, weight),
     .help = "w in loss = (1 - w) cross-entropy + w KL(teacher || student) (0: plain training)."},
    {.name = "temperature",
     .type = HN_OPT_DOUBLE,
     .def = "1",
     .min = 0.05,
     .max = 100,
     .bounded = 1,
     .offset = offsetof(struct distill, temperature),
     .help = "Softmax temperature of the distillation (the KL term is scaled by its square)."},
    {.name = NULL},
};

static const struct hn_option pruned_options[] = {
    {.name = "select",
     .type = HN_OPT_ENUM,
     .def = "importance",
     .choices = select_modes,
     .offset = offsetof(struct pruned, select),
     .help = "Which channels, heads and neurons to keep: importance (activations on "
             "calibration data), magnitude (largest weights), first or random (baselines)."},
    {.name = "keep_best",
     .type = HN_OPT_BOOL,
     .def = "true",
     .offset = offsetof(struct pruned, keep_best),
     .help = "The candidate is the better of its inherited and trained weights by val_loss "
             "(the best checkpoint); false: always the trained one."},
    {.name = "calibration",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct pruned, calibration_node),
     .help = "select: importance: {batches: 16, seq: 0 (the evaluator's)} windows of train.bin."},
    {.name = "distill",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct pruned, distill_node),
     .help = "Logit distillation from the backbone: {weight: 0, temperature: 1}."},
    {.name = "cache",
     .type = HN_OPT_STRING,
     .def = "",
     .offset = offsetof(struct pruned, cache),
     .help = "Directory of the importance and result caches (default: <study output>/cache)."},
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
     .def = "-1",
     .min = -1,
     .max = 10,
     .bounded = 1,
     .offset = offsetof(struct pruned, lr),
     .help = "Peak learning rate (-1: where the backbone's training ended, from its "
             "training.json or ../log.jsonl)."},
    {.name = "min_lr",
     .type = HN_OPT_DOUBLE,
     .def = "-1",
     .min = -1,
     .max = 10,
     .bounded = 1,
     .offset = offsetof(struct pruned, min_lr),
     .help = "Final learning rate of the cosine (-1: lr / 10)."},
    {.name = "warmup",
     .type = HN_OPT_INT,
     .def = "-1",
     .min = -1,
     .max = 10000000,
     .bounded = 1,
     .offset = offsetof(struct pruned, warmup),
     .help = "Linear warmup steps (-1: a tenth of steps, at least 10: fresh AdamW moments "
             "make the first steps sign-like; a shorter run ends inside the ramp)."},
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

static const char *const pruned_metrics[] = {"val_loss", "val_loss_inherited", "val_loss_trained",
                                             "train_loss", NULL};

static void pruned_destroy(void *ctx)
{
    struct pruned *p = ctx;
    if (p == NULL) {
        return;
    }
    hn_llm_model_free(p->backbone);
    hn_importance_free(p->imp);
    free(p->backbone_dir);
    free(p->cache_dir);
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
    if (hn_options_fill(pruned_options, args->node, p, err) != 0 ||
        hn_options_apply(calibration_options, p->calibration_node, &p->cal, "calibration", "pruned",
                         err) != 0 ||
        hn_options_apply(distill_options, p->distill_node, &p->distill, "distill", "pruned", err) !=
            0) {
        pruned_destroy(p);
        return NULL;
    }
    p->study_seed = args->seed;
    p->backbone_lr = NAN;
    p->cache_dir = p->cache[0] != '\0'
                       ? strdup(p->cache)
                       : hn_path_join(args->study_dir ? args->study_dir : ".", "cache");
    if (p->cache_dir == NULL) {
        hn_error_set(err, NULL, "out of memory");
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
            hn_error_prefix(err, "data");
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

/* Scores of every part of the backbone, larger = keep (see the top of the file). */
struct scores {
    double *channels; /* Cb */
    double *q;        /* Lb * NHb */
    double *kv;       /* Lb * KVHb */
    double *neurons;  /* Lb * Fb */
};

static void scores_free(struct scores *s)
{
    free(s->channels);
    free(s->q);
    free(s->kv);
    free(s->neurons);
}

static int scores_fill(struct scores *s, const struct hn_llm_model *b, int select,
                       const struct hn_importance *imp, uint64_t seed, struct hn_error *err)
{
    const struct hn_llm_config *bc = &b->config;
    size_t L = (size_t)bc->num_hidden_layers, C = (size_t)bc->hidden_size;
    size_t NH = (size_t)bc->num_attention_heads, KVH = (size_t)bc->num_key_value_heads;
    size_t HD = (size_t)bc->head_dim, F = (size_t)bc->intermediate_size, V = (size_t)bc->vocab_size;
    size_t G = NH / KVH;
    s->channels = calloc(C, sizeof(double));
    s->q = calloc(L * NH, sizeof(double));
    s->kv = calloc(L * KVH, sizeof(double));
    s->neurons = calloc(L * F, sizeof(double));
    if (s->channels == NULL || s->q == NULL || s->kv == NULL || s->neurons == NULL) {
        scores_free(s);
        return hn_error_set(err, NULL, "out of memory");
    }
    struct hn_rng rng;
    hn_rng_seed(&rng, hn_rng_derive(seed, hn_rng_hash("random selection")));
    for (size_t j = 0; j < C; j++) {
        switch (select) {
        case SEL_IMPORTANCE:
            s->channels[j] = imp->channels[j];
            break;
        case SEL_MAGNITUDE:
            s->channels[j] = col_sq(b->w.embed, V, C, j);
            break;
        case SEL_FIRST:
            s->channels[j] = -(double)j;
            break;
        default:
            s->channels[j] = hn_rng_uniform(&rng);
            break;
        }
    }
    for (size_t l = 0; l < L; l++) {
        const struct hn_llm_layer *w = &b->w.layers[l];
        double *qs = s->q + l * NH, *kvs = s->kv + l * KVH, *ns = s->neurons + l * F;
        for (size_t h = 0; h < NH && w->wq != NULL; h++) {
            switch (select) {
            case SEL_IMPORTANCE:
                qs[h] = imp->head[l * NH + h];
                break;
            case SEL_MAGNITUDE:
                for (size_t r = h * HD; r < (h + 1) * HD; r++) {
                    qs[h] += row_sq(w->wq, C, r, 0, C) + col_sq(w->wo, C, NH * HD, r);
                }
                break;
            case SEL_FIRST:
                qs[h] = -(double)h;
                break;
            default:
                qs[h] = hn_rng_uniform(&rng);
                break;
            }
        }
        for (size_t g = 0; g < KVH && w->wq != NULL; g++) {
            switch (select) {
            case SEL_MAGNITUDE:
                for (size_t r = g * HD; r < (g + 1) * HD; r++) {
                    kvs[g] += row_sq(w->wk, C, r, 0, C) + row_sq(w->wv, C, r, 0, C);
                }
                /* plus the group's query heads */
                /* fall through */
            case SEL_IMPORTANCE:
                for (size_t h = g * G; h < (g + 1) * G; h++) {
                    kvs[g] += qs[h];
                }
                break;
            case SEL_FIRST:
                kvs[g] = -(double)g;
                break;
            default:
                kvs[g] = hn_rng_uniform(&rng);
                break;
            }
        }
        for (size_t i = 0; i < F; i++) {
            switch (select) {
            case SEL_IMPORTANCE:
                ns[i] = imp->neurons[l * F + i];
                break;
            case SEL_MAGNITUDE:
                ns[i] = row_sq(w->wgate, C, i, 0, C) + row_sq(w->wup, C, i, 0, C) +
                        col_sq(w->wdown, C, F, i);
                break;
            case SEL_FIRST:
                ns[i] = -(double)i;
                break;
            default:
                ns[i] = hn_rng_uniform(&rng);
                break;
            }
        }
    }
    return 0;
}

/*
 * Kept query heads and kv heads of a layer from its scores qs[NH], kvs[KVH]: kv[KVH'] and
 * q[NH'] (backbone indices; q grouped by its new kv head, NH'/KVH' per group).
 */
static void choose_heads(const struct hn_llm_config *b, const double *qs, const double *kvs,
                         const struct hn_llm_config *c, size_t *kv, size_t *q)
{
    size_t NH = (size_t)b->num_attention_heads, KVH = (size_t)b->num_key_value_heads;
    size_t G = NH / KVH;
    size_t NH2 = (size_t)c->num_attention_heads, KVH2 = (size_t)c->num_key_value_heads;
    size_t G2 = NH2 / KVH2;
    unsigned char used[4096] = {0};
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

/* Cut the pruned model m (config c, backbone layers `layers`) out of backbone b by scores sc. */
static int inherit(struct hn_llm_model *m, const struct hn_llm_model *b, const int *layers,
                   const struct scores *sc, struct hn_error *err)
{
    const struct hn_llm_config *bc = &b->config, *c = &m->config;
    size_t Cb = (size_t)bc->hidden_size, C = (size_t)c->hidden_size;
    size_t V = (size_t)c->vocab_size, HD = (size_t)c->head_dim;
    size_t Fb = (size_t)bc->intermediate_size, F = (size_t)c->intermediate_size;
    size_t NHb = (size_t)bc->num_attention_heads, NH = (size_t)c->num_attention_heads;
    size_t KVHb = (size_t)bc->num_key_value_heads, KVH = (size_t)c->num_key_value_heads;
    size_t big = Cb > Fb ? Cb : Fb;
    big = big > V ? big : V;
    size_t *ch = malloc(Cb * sizeof(size_t)), *all = malloc(big * sizeof(size_t));
    size_t *ff = malloc(Fb * sizeof(size_t)), *qrows = malloc(NHb * HD * sizeof(size_t));
    size_t *kvrows = malloc(NHb * HD * sizeof(size_t));
    size_t kv[4096], q[4096];
    if (ch == NULL || all == NULL || ff == NULL || qrows == NULL || kvrows == NULL) {
        free(ch), free(all), free(ff), free(qrows), free(kvrows);
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < big; i++) {
        all[i] = i;
    }
    top_k(sc->channels, Cb, C, ch);
    gather(m->w.embed, b->w.embed, Cb, all, V, ch, C);
    gather(m->w.norm, b->w.norm, Cb, all, 1, ch, C);
    if (!c->tie_word_embeddings) {
        gather(m->w.lm_head, b->w.lm_head, Cb, all, V, ch, C);
    }
    for (int l = 0; l < c->num_hidden_layers; l++) {
        size_t lb = (size_t)layers[l];
        const struct hn_llm_layer *bw = &b->w.layers[lb];
        struct hn_llm_layer *w = &m->w.layers[l];
        if (w->wq != NULL) {
            choose_heads(bc, sc->q + lb * NHb, sc->kv + lb * KVHb, c, kv, q);
            head_rows(q, NH, HD, qrows);
            head_rows(kv, KVH, HD, kvrows);
            gather(w->ln1, bw->ln1, Cb, all, 1, ch, C);
            gather(w->wq, bw->wq, Cb, qrows, NH * HD, ch, C);
            gather(w->wk, bw->wk, Cb, kvrows, KVH * HD, ch, C);
            gather(w->wv, bw->wv, Cb, kvrows, KVH * HD, ch, C);
            gather(w->wo, bw->wo, NHb * HD, ch, C, qrows, NH * HD);
        }
        top_k(sc->neurons + lb * Fb, Fb, F, ff);
        gather(w->ln2, bw->ln2, Cb, all, 1, ch, C);
        gather(w->wgate, bw->wgate, Cb, ff, F, ch, C);
        gather(w->wup, bw->wup, Cb, ff, F, ch, C);
        gather(w->wdown, bw->wdown, Fb, ch, C, ff, F);
    }
    free(ch), free(all), free(ff), free(qrows), free(kvrows);
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

/* 64-bit FNV-1a over bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *c = data;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ c[i]) * 1099511628211ULL;
    }
    return h;
}

/*
 * The learning rate the backbone's training ended at: <dir>/training.json ("training":
 * {"final_lr"} or {"steps", "lr", "min_lr", "warmup"} through the trainer's schedule), else the
 * "lr" of the last step line of <dir>/../log.jsonl (a `hilnas pretrain` output directory). NAN
 * when neither says.
 */
static double backbone_final_lr(const char *dir)
{
    char *path = hn_path_join(dir, "training.json");
    json_t *root = path ? json_load_file(path, 0, NULL) : NULL;
    double lr = NAN;
    free(path);
    const json_t *t = json_object_get(root, "training");
    const json_t *fl = json_object_get(t, "final_lr");
    if (json_is_number(fl)) {
        lr = json_number_value(fl);
    } else if (t != NULL) {
        json_int_t steps = json_integer_value(json_object_get(t, "steps"));
        json_int_t warm = json_integer_value(json_object_get(t, "warmup"));
        const json_t *pk = json_object_get(t, "lr"), *mn = json_object_get(t, "min_lr");
        if (steps > 0 && warm >= 0 && json_is_number(pk) && json_is_number(mn)) {
            lr = hn_lr_schedule((long)steps - 1, (long)steps, (long)warm, json_number_value(pk),
                                json_number_value(mn));
        }
    }
    json_decref(root);
    if (isfinite(lr) && lr > 0) {
        return lr;
    }
    path = hn_path_join(dir, "../log.jsonl");
    FILE *f = path ? fopen(path, "r") : NULL;
    free(path);
    if (f == NULL) {
        return NAN;
    }
    char line[1024];
    lr = NAN;
    while (fgets(line, sizeof(line), f) != NULL) {
        json_t *o = json_loads(line, 0, NULL);
        const json_t *v = json_object_get(o, "lr");
        if (json_is_number(v) && json_number_value(v) > 0) {
            lr = json_number_value(v);
        }
        json_decref(o);
    }
    fclose(f);
    return lr;
}

/* Load the backbone of dir (once per directory): weights, where its training ended, content key. */
static int load_backbone(struct pruned *p, const char *dir, struct hn_error *err)
{
    if (p->backbone != NULL && strcmp(p->backbone_dir, dir) == 0) {
        return 0;
    }
    hn_llm_model_free(p->backbone);
    hn_importance_free(p->imp);
    p->imp = NULL;
    free(p->backbone_dir);
    p->backbone_dir = strdup(dir);
    p->backbone = hn_llm_load(dir, err);
    if (p->backbone == NULL || p->backbone_dir == NULL) {
        hn_error_prefix(err, "backbone");
        err->kind = HN_ERR_ENVIRONMENT; /* not the candidate's fault: stop the study */
        free(p->backbone_dir);
        p->backbone_dir = NULL;
        return -1;
    }
    p->backbone_lr = backbone_final_lr(dir);
    uint64_t h = 14695981039346656037ULL;
    const struct hn_llm_config *c = &p->backbone->config;
    h = fnv(h, c, sizeof(*c));
    h = fnv(h, p->backbone->params, p->backbone->n_params * sizeof(float));
    uint64_t d = fnv(14695981039346656037ULL, p->train, p->n_train * sizeof(uint16_t));
    d = fnv(d, p->val, p->n_val * sizeof(uint16_t));
    snprintf(p->backbone_key, sizeof(p->backbone_key), "%016llx%016llx", (unsigned long long)h,
             (unsigned long long)d);
    return 0;
}

/* The training settings in effect (after the automatic ones). */
struct recipe {
    double lr, min_lr;
    long warmup;
};

/* Content key of a result: architecture, backbone and data bytes, every setting, study seed. */
static void result_key(const struct pruned *p, const json_t *arch, const struct recipe *r,
                       char key[33])
{
    char *a = json_dumps(arch, JSON_COMPACT | JSON_SORT_KEYS);
    char set[1024];
    int n = snprintf(set, sizeof(set),
                     "pruned/1 %s sel%d steps%lld B%lld T%lld lr%.17g min%.17g warm%ld "
                     "wd%.17g clip%.17g evb%lld cal%lld/%lld kd%.17g/%.17g seed%llu best%d",
                     p->backbone_key, p->select, (long long)p->steps, (long long)p->batch,
                     (long long)p->seq, r->lr, r->min_lr, r->warmup, p->weight_decay, p->grad_clip,
                     (long long)p->eval_batches, (long long)p->cal.batches, (long long)p->cal.seq,
                     p->distill.weight, p->distill.temperature, (unsigned long long)p->study_seed,
                     p->keep_best);
    uint64_t h1 = fnv(14695981039346656037ULL, set, (size_t)n);
    uint64_t h2 = fnv(0x9e3779b97f4a7c15ULL, set, (size_t)n);
    if (a != NULL) {
        h1 = fnv(h1, a, strlen(a));
        h2 = fnv(h2, a, strlen(a));
    }
    free(a);
    snprintf(key, 33, "%016llx%016llx", (unsigned long long)h1, (unsigned long long)h2);
}

static char *result_path(const struct pruned *p, const char *key)
{
    char name[64];
    snprintf(name, sizeof(name), "results-%s.json", key);
    return hn_path_join(p->cache_dir, name);
}

/* A cached result: 1 with the metrics put, 0 when there is none (or it is unreadable). */
static int result_lookup(const struct pruned *p, const char *key, struct hn_metrics *out,
                         struct hn_error *err)
{
    char *path = result_path(p, key);
    json_t *root = path ? json_load_file(path, 0, NULL) : NULL;
    free(path);
    const json_t *k = json_object_get(root, "key"), *m = json_object_get(root, "metrics");
    int hit = 0;
    if (json_is_string(k) && strcmp(json_string_value(k), key) == 0 && json_is_object(m)) {
        const char *name;
        const json_t *v;
        hit = 1;
        json_object_foreach((json_t *)m, name, v)
        {
            if (!json_is_number(v) ||
                hn_metrics_put(out, name, json_number_value(v), NAN, err) != 0) {
                hit = json_is_number(v) ? -1 : 0;
                break;
            }
        }
    }
    json_decref(root);
    return hit;
}

static void result_store(const struct pruned *p, const char *key, const json_t *arch, double val,
                         double inherited, double trained, double train_loss)
{
    json_t *m = json_pack("{s:f, s:f}", "val_loss", val, "val_loss_inherited", inherited);
    if (m != NULL && isfinite(trained)) {
        json_object_set_new(m, "val_loss_trained", json_real(trained));
    }
    if (m != NULL && isfinite(train_loss)) {
        json_object_set_new(m, "train_loss", json_real(train_loss));
    }
    json_t *root = json_pack("{s:s, s:s, s:o, s:O}", "format", "hilnas-pruned-result-1", "key", key,
                             "metrics", m, "architecture", arch);
    char *text = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    char *path = result_path(p, key);
    struct hn_error e;
    if (text == NULL || path == NULL || hn_mkdir_p(p->cache_dir, &e) != 0 ||
        hn_write_file_atomic(path, text, strlen(text), &e) != 0) {
        hn_log(HN_LOG_WARNING, "result not cached (%s)", text && path ? e.msg : "out of memory");
    }
    free(text);
    free(path);
    json_decref(root);
}

/* ---------------------------------------------------------------------------------------------
 * keep_model (evaluator.h): the trained model and what produced it, in <work_dir>/model/ */

struct pruned_result {
    const int *layers;
    double val_loss, val_loss_inherited, val_loss_trained, train_loss;
    int kept_inherited; /* keep_best: the inherited weights were better */
    size_t val_tokens;
    double lr, min_lr; /* in effect (after the automatic ones) */
    long warmup;
    uint64_t seed; /* of the training batches */
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
                  "training", "steps", (json_int_t)p->steps, "lr", r->lr, "min_lr", r->min_lr,
                  "warmup", (json_int_t)r->warmup, "weight_decay", p->weight_decay, "grad_clip",
                  p->grad_clip, "batch", (json_int_t)p->batch, "seq", (json_int_t)p->seq, "seed",
                  (json_int_t)r->seed, "eval", "data", p->data, "batch", (json_int_t)p->batch,
                  "seq", (json_int_t)p->seq, "batches", (json_int_t)p->eval_batches, "tokens",
                  (json_int_t)r->val_tokens, "val_loss", r->val_loss, "val_loss_inherited",
                  r->val_loss_inherited);
    if (t != NULL && isfinite(r->val_loss_trained)) {
        json_object_set_new(t, "val_loss_trained", json_real(r->val_loss_trained));
    }
    if (t != NULL) {
        /* which weights the model holds (keep_best) */
        json_object_set_new(t, "weights", json_string(r->kept_inherited ? "inherited" : "trained"));
    }
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
    if (p->distill.weight > 0) {
        json_object_set_new(json_object_get(t, "training"), "distill",
                            json_pack("{s:f, s:f}", "weight", p->distill.weight, "temperature",
                                      p->distill.temperature));
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

/*
 * The trial's architecture: the backbone directory (*dir, borrowed from arch), the candidate's
 * config and, for each of its layers, the backbone layer it inherits.
 */
static int read_candidate(const struct pruned *p, const json_t *arch, const char **dir,
                          struct hn_llm_config *c, int *layers, struct hn_error *err)
{
    const json_t *kept = json_object_get(arch, "backbone_layers");
    *dir = json_string_value(json_object_get(arch, "backbone"));
    if (*dir == NULL || !json_is_array(kept)) {
        return hn_error_config(err, NULL,
                               "the trial's architecture names no backbone and kept layers; use "
                               "the space 'transformer'");
    }
    if (hn_llm_config_from_json(arch, "architecture", c, err) != 0) {
        return -1;
    }
    if (json_array_size(kept) != (size_t)c->num_hidden_layers) {
        return hn_error_config(err, NULL, "backbone_layers has %zu entries for %d layers",
                               json_array_size(kept), c->num_hidden_layers);
    }
    for (int l = 0; l < c->num_hidden_layers; l++) {
        layers[l] = (int)json_integer_value(json_array_get(kept, (size_t)l));
    }
    if (p->seq > c->max_position_embeddings) {
        return hn_error_config(err, NULL, "seq %lld exceeds max_position_embeddings %d",
                               (long long)p->seq, c->max_position_embeddings);
    }
    return 0;
}

/* The data's tokens fit the vocabulary (checked once per vocabulary, not per trial). */
static int check_vocab(struct pruned *p, int vocab_size, struct hn_error *err)
{
    if (p->checked_vocab == vocab_size) {
        return 0;
    }
    if (hn_tokens_check_vocab(p->train, p->n_train, vocab_size, "train.bin", err) != 0 ||
        hn_tokens_check_vocab(p->val, p->n_val, vocab_size, "val.bin", err) != 0) {
        hn_error_prefix(err, "%s (the backbone's vocabulary)", p->data);
        if (err != NULL) {
            err->kind = HN_ERR_ENVIRONMENT; /* the data do not fit the backbone */
        }
        return -1;
    }
    p->checked_vocab = vocab_size;
    return 0;
}

/* The training settings in effect: lr from the backbone's record unless set, min_lr lr/10,
 * warmup a tenth of the steps (at least WARMUP_FLOOR). */
static int resolve_recipe(const struct pruned *p, const char *dir, struct recipe *r,
                          struct hn_error *err)
{
    *r = (struct recipe){p->lr, p->min_lr, (long)p->warmup};
    if (r->lr < 0) {
        r->lr = p->backbone_lr;
        if (!isfinite(r->lr) && p->steps > 0) {
            return hn_error_config(err, NULL,
                                   "the backbone %s has no training record "
                                   "(training.json from `hilnas pretrain`, or ../log.jsonl) to "
                                   "say where its learning rate ended; set the option lr",
                                   dir);
        }
    }
    if (r->min_lr < 0) {
        r->min_lr = r->lr / 10;
    }
    if (r->warmup < 0) {
        r->warmup = (long)(p->steps / 10);
        r->warmup = r->warmup < WARMUP_FLOOR ? WARMUP_FLOOR : r->warmup;
    }
    return 0;
}

/* select: importance: the backbone's importance scores, computed once or read from the cache. */
static int ensure_importance(struct pruned *p, const char *dir, const struct hn_eval_request *req,
                             struct hn_error *err)
{
    if (p->select != SEL_IMPORTANCE || p->imp != NULL) {
        return 0;
    }
    int T = (int)(p->cal.seq > 0 ? p->cal.seq : p->seq), computed = 0;
    if (T > p->backbone->config.max_position_embeddings) {
        return hn_error_config(err, NULL, "calibration seq %d exceeds max_position_embeddings %d",
                               T, p->backbone->config.max_position_embeddings);
    }
    p->imp = hn_importance_get(p->backbone, p->train, p->n_train, (int)p->cal.batches,
                               (int)p->batch, T, p->cache_dir, &computed, req->progress, err);
    if (p->imp == NULL) {
        hn_error_prefix(err, "layer importance");
        return -1;
    }
    hn_log(HN_LOG_INFO, "importance of %s %s (%s/importance-%s.json)", dir,
           computed ? "computed by this trial" : "read from the cache", p->cache_dir, p->imp->key);
    return 0;
}

/*
 * p->steps AdamW steps on m from the study's batch stream (the same for every candidate:
 * common random numbers), distilled from the backbone when teacher (B*T x V) is given.
 * res->train_loss: the last step's loss.
 */
static int train_steps(struct pruned *p, const struct hn_eval_request *req, struct hn_llm_model *m,
                       struct hn_adamw *opt, int *inputs, int *targets, float *teacher,
                       struct pruned_result *res, struct hn_error *err)
{
    int T = (int)p->seq, B = (int)p->batch;
    size_t N = (size_t)B * T, V = (size_t)m->config.vocab_size;
    struct hn_rng rng;
    hn_rng_seed(&rng, hn_rng_derive(p->study_seed, hn_rng_hash("pruned batches")));
    for (long s = 0; s < p->steps; s++) {
        hn_progress_update(req->progress, "training", "step", s + 1, (long)p->steps);
        hn_batch_sample(p->train, p->n_train, B, T, &rng, inputs, targets);
        if (teacher != NULL) {
            if (hn_llm_forward(p->backbone, inputs, NULL, B, T, NULL, err) != 0) {
                return -1;
            }
            memcpy(teacher, hn_llm_logits(p->backbone), N * V * sizeof(float));
        }
        hn_llm_zero_grad(m, err);
        if (hn_llm_forward(m, inputs, targets, B, T, &res->train_loss, err) != 0) {
            return -1;
        }
        if (teacher != NULL) {
            hn_distill_apply(hn_llm_probs(m), targets, teacher, N, V, p->distill.temperature,
                             p->distill.weight);
        }
        if (hn_llm_backward(m, err) != 0) {
            return -1;
        }
        if (!isfinite(res->train_loss)) {
            return hn_error_set(err, NULL, "training diverged at step %ld (loss %g); lower lr",
                                s + 1, res->train_loss);
        }
        if (p->grad_clip > 0) {
            hn_llm_clip_grad_norm(m, p->grad_clip);
        }
        hn_llm_adamw_step(m, opt,
                          hn_lr_schedule(s, (long)p->steps, res->warmup, res->lr, res->min_lr));
    }
    return 0;
}

/*
 * Continued pretraining of m (p->steps > 0), then its validation loss: res->val_loss_trained
 * and res->val_loss, or (keep_best) the inherited weights back when they were better.
 */
static int continue_training(struct pruned *p, const struct hn_eval_request *req,
                             struct hn_llm_model *m, struct pruned_result *res,
                             struct hn_error *err)
{
    size_t N = (size_t)p->batch * p->seq, V = (size_t)m->config.vocab_size;
    struct hn_adamw opt = {0};
    int *inputs = malloc(N * sizeof(int)), *targets = malloc(N * sizeof(int)), rc = -1;
    float *teacher = p->distill.weight > 0 ? malloc(N * V * sizeof(float)) : NULL;
    float *start = p->keep_best ? malloc(m->n_params * sizeof(float)) : NULL;
    if (inputs == NULL || targets == NULL || (p->distill.weight > 0 && teacher == NULL) ||
        (p->keep_best && start == NULL)) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    if (start != NULL) {
        memcpy(start, m->params, m->n_params * sizeof(float));
    }
    if (hn_adamw_init(&opt, m->n_params, err) != 0) {
        goto done;
    }
    opt.weight_decay = p->weight_decay;
    if (train_steps(p, req, m, &opt, inputs, targets, teacher, res, err) != 0) {
        goto done;
    }
    hn_progress_update(req->progress, "validating", NULL, 0, 0);
    if (hn_llm_eval_windows(m, p->val, p->n_val, (int)p->seq, (int)p->batch, (long)p->eval_batches,
                            &res->val_loss_trained, &res->val_tokens, err) != 0) {
        goto done;
    }
    res->val_loss = res->val_loss_trained;
    if (start != NULL && res->val_loss_trained > res->val_loss_inherited) {
        /* the best checkpoint is the inherited one */
        memcpy(m->params, start, m->n_params * sizeof(float));
        res->val_loss = res->val_loss_inherited;
        res->kept_inherited = 1;
    }
    rc = 0;
done:
    hn_adamw_free(&opt);
    free(inputs);
    free(targets);
    free(teacher);
    free(start);
    return rc;
}

static int put_metrics(struct hn_metrics *out, const struct pruned_result *res,
                       struct hn_error *err)
{
    if (hn_metrics_put(out, "val_loss", res->val_loss, NAN, err) != 0 ||
        hn_metrics_put(out, "val_loss_inherited", res->val_loss_inherited, NAN, err) != 0 ||
        (isfinite(res->val_loss_trained) &&
         hn_metrics_put(out, "val_loss_trained", res->val_loss_trained, NAN, err) != 0) ||
        (isfinite(res->train_loss) &&
         hn_metrics_put(out, "train_loss", res->train_loss, NAN, err) != 0)) {
        return -1;
    }
    return 0;
}

static int pruned_evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                           struct hn_error *err)
{
    struct pruned *p = ctx;
    const json_t *arch = req->trial->arch;
    const char *dir;
    struct hn_llm_config c;
    struct hn_llm_model *m = NULL;
    struct scores sc = {0};
    int layers[HN_LLM_MAX_LAYERS], rc = -1;
    struct recipe r;
    if (read_candidate(p, arch, &dir, &c, layers, err) != 0) {
        return -1;
    }
    hn_llm_set_threads(p->threads > 0 ? (int)p->threads : req->threads);
    if (load_backbone(p, dir, err) != 0 || compatible(&p->backbone->config, &c, layers, err) != 0 ||
        check_vocab(p, c.vocab_size, err) != 0 || resolve_recipe(p, dir, &r, err) != 0) {
        return -1;
    }
    char key[33];
    result_key(p, arch, &r, key);
    if (!req->keep_model) {
        int hit = result_lookup(p, key, out, err);
        if (hit != 0) {
            if (hit > 0) {
                hn_log(HN_LOG_INFO,
                       "trial %lld has the architecture and settings of a "
                       "result already computed (%s/results-%s.json): not retrained",
                       (long long)req->trial->id, p->cache_dir, key);
            }
            return hit > 0 ? 0 : -1;
        }
    }
    if (ensure_importance(p, dir, req, err) != 0 ||
        scores_fill(&sc, p->backbone, p->select, p->imp, p->study_seed, err) != 0) {
        return -1;
    }
    struct pruned_result res = {.layers = layers,
                                .val_loss_trained = NAN,
                                .train_loss = NAN,
                                .lr = r.lr,
                                .min_lr = r.min_lr,
                                .warmup = r.warmup,
                                .seed = p->study_seed};
    m = hn_llm_model_new(&c, err);
    if (m == NULL || inherit(m, p->backbone, layers, &sc, err) != 0) {
        goto done;
    }
    hn_progress_update(req->progress, "scoring inherited weights", NULL, 0, 0);
    if (hn_llm_eval_windows(m, p->val, p->n_val, (int)p->seq, (int)p->batch, (long)p->eval_batches,
                            &res.val_loss_inherited, &res.val_tokens, err) != 0) {
        goto done;
    }
    res.val_loss = res.val_loss_inherited;
    if ((p->steps > 0 && continue_training(p, req, m, &res, err) != 0) ||
        put_metrics(out, &res, err) != 0 ||
        (req->keep_model && keep_model(p, req, m, &res, err) != 0)) {
        goto done;
    }
    result_store(p, key, arch, res.val_loss, res.val_loss_inherited, res.val_loss_trained,
                 res.train_loss);
    rc = 0;
done:
    scores_free(&sc);
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
