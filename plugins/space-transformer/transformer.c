/*
 * hilnas space "transformer": structured prunings of a Llama-style backbone.
 *
 * The backbone is a checkpoint directory; only its config.json is read here. A point chooses
 *   depth      how many of the backbone's layers are kept          (int, depth.min..depth.max)
 *   d_model    hidden size                                         (choice of `d_model`)
 *   heads      query heads                                         (choice of `heads`)
 *   kv_heads   key/value heads                                     (choice of `kv_heads`)
 *   d_ffn      FFN intermediate size                               (choice of `d_ffn`)
 *   attn_<i>   whether kept layer i keeps its attention (bool; `attention: per-layer` only)
 * A dimension with a single allowed value is not a parameter: the architecture just has it.
 * head_dim, vocabulary, RoPE and norms are the backbone's. Every value must fit in the
 * backbone (a pruned model inherits a slice of its weights). A point is valid when heads is a
 * multiple of kv_heads; with `attention: per-layer`, when at least one kept layer keeps its
 * attention, unless `allow_attention_free` is set. `runtime: llama.cpp` keeps the candidates
 * within what llama.cpp runs (docs/export.md): a layer may skip attention only when layer 0
 * keeps it (llama.cpp takes the attention head size from layer 0).
 *
 * With `include_backbone` (the default) every listed dimension also offers the backbone's own
 * value and depth reaches the backbone's layer count, so the unpruned backbone is always a
 * candidate (the reference every pruning is compared with).
 *
 * Kept layers (`keep`): `spread` keeps backbone layers round(i (L-1) / (depth-1)), i = 0..depth-1
 * (the first and the last always, the rest evenly between; depth 1 keeps layer 0); `first`
 * keeps layers 0..depth-1; `importance` keeps the depth layers of largest block importance
 * (1 - cos of a layer's input and output on calibration data, hilnas/llm/importance.h); `loss`
 * keeps those whose removal raises the calibration loss most (layers + 1 forwards per
 * calibration batch, once).
 * `attention: ranked` replaces the per-layer bools by one int, skip_attention (0..depth_max-1):
 * the kept layers whose attention changes the residual stream least (attention importance on
 * calibration data) lose theirs first. Both need `calibration: {data, batches, seq}`; the
 * scores are computed once and cached in <study output>/cache (shared with the evaluator
 * `pruned` when the settings agree).
 *
 * decode() gives a Hugging Face LlamaConfig (hidden_size, intermediate_size, num_hidden_layers,
 * num_attention_heads, num_key_value_heads, head_dim, vocab_size, rms_norm_eps, rope_theta,
 * tie_word_embeddings, max_position_embeddings) plus `attention_layers` (one bool per kept
 * layer), `backbone_layers` (the kept layers' indices in the backbone), `backbone` (the
 * directory) and `parameters` (the pruned model's parameter count).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/llm/checkpoint.h"
#include "hilnas/llm/cost.h"
#include "hilnas/llm/importance.h"
#include "hilnas/llm/llm_config.h"
#include "hilnas/llm/model.h"
#include "hilnas/llm/tokens.h"
#include "hilnas/log.h"
#include "hilnas/plugin.h"
#include "hilnas/space.h"
#include "hilnas/study.h"
#include "hilnas/util.h"

#define MAX_CHOICES 64

enum { DIM_DMODEL, DIM_HEADS, DIM_KVHEADS, DIM_FFN, N_DIMS };

static const char *const dim_names[N_DIMS] = {"d_model", "heads", "kv_heads", "d_ffn"};

struct transformer {
    /* options */
    const char *backbone;
    const struct hn_config_node *depth_node;
    const struct hn_config_node *dim_nodes[N_DIMS];
    int attention; /* index into attention_modes */
    int keep;      /* index into keep_modes */
    int allow_attention_free;
    int include_backbone;
    const struct hn_config_node *calibration_node;
    struct {
        const char *data;
        int64_t batches, batch, seq;
    } cal;
    const char *study_dir;
    struct hn_importance *imp; /* computed on first use (keep: importance, attention: ranked) */
    int runtime;               /* index into runtimes */

    struct hn_llm_config base;
    int64_t depth_min, depth_max;
    int64_t values[N_DIMS][MAX_CHOICES];
    size_t n_values[N_DIMS];
    long index[N_DIMS]; /* parameter index of each dimension, -1 when fixed */
    long depth_index;   /* -1 when depth is fixed */
    long attn_index;    /* index of attn_0, -1 without per-layer attention */
    long skip_index;    /* index of skip_attention (attention: ranked), else -1 */
    struct hn_params *params;
};

enum { ATT_ALL, ATT_PER_LAYER, ATT_RANKED };
enum { KEEP_SPREAD, KEEP_FIRST, KEEP_IMPORTANCE, KEEP_LOSS };
static const char *const attention_modes[] = {"all", "per-layer", "ranked", NULL};
static const char *const keep_modes[] = {"spread", "first", "importance", "loss", NULL};

static const struct hn_option calibration_options[] = {
    {.name = "data",
     .type = HN_OPT_STRING,
     .def = "",
     .offset = offsetof(struct transformer, cal.data),
     .help = "Directory with train.bin (hilnas tokenize): the calibration windows."},
    {.name = "batches",
     .type = HN_OPT_INT,
     .def = "16",
     .min = 1,
     .max = 100000,
     .bounded = 1,
     .offset = offsetof(struct transformer, cal.batches),
     .help = "Calibration batches."},
    {.name = "batch",
     .type = HN_OPT_INT,
     .def = "8",
     .min = 1,
     .max = 4096,
     .bounded = 1,
     .offset = offsetof(struct transformer, cal.batch),
     .help = "Windows per batch (as the evaluator's batch, to share its cache)."},
    {.name = "seq",
     .type = HN_OPT_INT,
     .def = "128",
     .min = 1,
     .max = 1 << 20,
     .bounded = 1,
     .offset = offsetof(struct transformer, cal.seq),
     .help = "Tokens per window (as the evaluator's seq, to share its cache)."},
    {.name = NULL},
};
static const char *const runtimes[] = {"any", "llama.cpp", NULL};

static const struct hn_option transformer_options[] = {
    {.name = "backbone",
     .type = HN_OPT_STRING,
     .offset = offsetof(struct transformer, backbone),
     .help = "Checkpoint directory of the backbone (its config.json is read)."},
    {.name = "depth",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct transformer, depth_node),
     .help = "Kept layers: {min: A, max: B} (default 1 .. the backbone's layers)."},
    {.name = "d_model",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct transformer, dim_nodes[DIM_DMODEL]),
     .help = "Hidden sizes to try, e.g. [64, 96, 128] (default: the backbone's)."},
    {.name = "heads",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct transformer, dim_nodes[DIM_HEADS]),
     .help = "Query head counts (default: the backbone's)."},
    {.name = "kv_heads",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct transformer, dim_nodes[DIM_KVHEADS]),
     .help = "Key/value head counts (default: the backbone's)."},
    {.name = "d_ffn",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct transformer, dim_nodes[DIM_FFN]),
     .help = "FFN intermediate sizes (default: the backbone's)."},
    {.name = "attention",
     .type = HN_OPT_ENUM,
     .def = "all",
     .choices = attention_modes,
     .offset = offsetof(struct transformer, attention),
     .help = "all: every kept layer has attention; per-layer: one bool parameter per layer; "
             "ranked: one int, how many kept layers skip attention, least important first."},
    {.name = "keep",
     .type = HN_OPT_ENUM,
     .def = "spread",
     .choices = keep_modes,
     .offset = offsetof(struct transformer, keep),
     .help = "Which backbone layers a depth keeps: spread (first, last, evenly between), first, "
             "importance (block importance on calibration data) or loss (the layers whose "
             "removal raises the calibration loss most)."},
    {.name = "include_backbone",
     .type = HN_OPT_BOOL,
     .def = "true",
     .offset = offsetof(struct transformer, include_backbone),
     .help = "Add the backbone's own value to every listed dimension and its depth to the depth "
             "range, so the unpruned backbone is a candidate."},
    {.name = "calibration",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct transformer, calibration_node),
     .help = "For keep: importance|loss and attention: ranked: {data: DIR, batches: 16, batch: 8, "
             "seq: 128}."},
    {.name = "allow_attention_free",
     .type = HN_OPT_BOOL,
     .def = "false",
     .offset = offsetof(struct transformer, allow_attention_free),
     .help = "With attention: per-layer, allow architectures where no layer has attention."},
    {.name = "runtime",
     .type = HN_OPT_ENUM,
     .def = "any",
     .choices = runtimes,
     .offset = offsetof(struct transformer, runtime),
     .help = "Keep candidates within what a runtime runs: any, or llama.cpp (layer 0 keeps its "
             "attention when any layer has attention; see docs/export.md)."},
    {.name = NULL},
};

static void transformer_destroy(void *ctx)
{
    struct transformer *t = ctx;
    if (t != NULL) {
        hn_params_free(t->params);
        hn_importance_free(t->imp);
        free(t);
    }
}

/* The backbone's value of a dimension. */
static int64_t base_value(const struct hn_llm_config *c, int d)
{
    switch (d) {
    case DIM_DMODEL:
        return c->hidden_size;
    case DIM_HEADS:
        return c->num_attention_heads;
    case DIM_KVHEADS:
        return c->num_key_value_heads;
    default:
        return c->intermediate_size;
    }
}

/* A list of distinct positive integers no larger than the backbone's value (or, absent, the
 * backbone's value alone). */
static int read_dim(struct transformer *t, int d, struct hn_error *err)
{
    const struct hn_config_node *n = t->dim_nodes[d];
    int64_t limit = base_value(&t->base, d);
    char where[1024];
    if (n == NULL) {
        t->values[d][0] = limit;
        t->n_values[d] = 1;
        return 0;
    }
    if (n->type != HN_NODE_SEQUENCE || n->n == 0 || n->n > MAX_CHOICES) {
        return hn_error_config(err, hn_config_where(n, where, sizeof(where)),
                               "%s: expected a list of 1 to %d integers, e.g. [%lld]", n->path,
                               MAX_CHOICES, (long long)limit);
    }
    for (size_t i = 0; i < n->n; i++) {
        int64_t v;
        if (hn_config_to_int(n->items[i], &v, err) != 0) {
            return -1;
        }
        if (v < 1 || v > limit) {
            return hn_error_config(err, hn_config_where(n->items[i], where, sizeof(where)),
                                   "%s: %lld is outside 1..%lld: a pruned model cannot be larger "
                                   "than the backbone (%s = %lld in %s)",
                                   n->items[i]->path, (long long)v, (long long)limit, dim_names[d],
                                   (long long)limit, t->backbone);
        }
        for (size_t j = 0; j < i; j++) {
            if (t->values[d][j] == v) {
                return hn_error_config(err, hn_config_where(n->items[i], where, sizeof(where)),
                                       "%s: %lld is listed twice", n->items[i]->path, (long long)v);
            }
        }
        t->values[d][i] = v;
    }
    t->n_values[d] = n->n;
    if (t->include_backbone) {
        int has = 0;
        for (size_t i = 0; i < n->n; i++) {
            has |= t->values[d][i] == limit;
        }
        if (!has && n->n < MAX_CHOICES) {
            t->values[d][t->n_values[d]++] = limit;
            hn_log(HN_LOG_INFO, "%s also offers the backbone's %lld (include_backbone)",
                   dim_names[d], (long long)limit);
        }
    }
    return 0;
}

static int read_depth(struct transformer *t, struct hn_error *err)
{
    const struct hn_config_node *n = t->depth_node;
    int64_t L = t->base.num_hidden_layers;
    char where[1024];
    t->depth_min = 1;
    t->depth_max = L;
    if (n == NULL) {
        return 0;
    }
    const struct hn_config_node *lo = hn_config_get(n, "min"), *hi = hn_config_get(n, "max");
    if (n->type != HN_NODE_MAPPING || n->n != (size_t)(lo != NULL) + (hi != NULL)) {
        return hn_error_config(err, hn_config_where(n, where, sizeof(where)),
                               "%s: expected {min: A, max: B} (kept layers, 1..%lld)", n->path,
                               (long long)L);
    }
    if ((lo != NULL && hn_config_to_int(lo, &t->depth_min, err) != 0) ||
        (hi != NULL && hn_config_to_int(hi, &t->depth_max, err) != 0)) {
        return -1;
    }
    if (t->include_backbone && t->depth_max < L && t->depth_min >= 1 &&
        t->depth_min <= t->depth_max) {
        hn_log(HN_LOG_INFO, "depth reaches the backbone's %lld (include_backbone)", (long long)L);
        t->depth_max = L;
    }
    if (t->depth_min < 1 || t->depth_max > L || t->depth_min > t->depth_max) {
        return hn_error_config(err, hn_config_where(n, where, sizeof(where)),
                               "%s: min %lld and max %lld must satisfy 1 <= min <= max <= %lld "
                               "(the backbone's layers)",
                               n->path, (long long)t->depth_min, (long long)t->depth_max,
                               (long long)L);
    }
    return 0;
}

/* Append the line "  name: spec" to buf. */
static void append(char *buf, size_t size, const char *name, const char *spec)
{
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, "  %s: %s\n", name, spec);
}

/* Build the parameter set through the same parser as the box space. */
static int build_params(struct transformer *t, struct hn_error *err)
{
    size_t size = 4096 + 64 * (size_t)HN_LLM_MAX_LAYERS;
    char *yaml = malloc(size), spec[2048];
    if (yaml == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    snprintf(yaml, size, "params:\n");
    long k = 0;
    t->depth_index = -1;
    if (t->depth_min < t->depth_max) {
        snprintf(spec, sizeof(spec), "{type: int, min: %lld, max: %lld}", (long long)t->depth_min,
                 (long long)t->depth_max);
        append(yaml, size, "depth", spec);
        t->depth_index = k++;
    }
    for (int d = 0; d < N_DIMS; d++) {
        t->index[d] = -1;
        if (t->n_values[d] < 2) {
            continue;
        }
        size_t o = (size_t)snprintf(spec, sizeof(spec), "{type: choice, values: [");
        for (size_t i = 0; i < t->n_values[d]; i++) {
            o += (size_t)snprintf(spec + o, sizeof(spec) - o, "%s%lld", i ? ", " : "",
                                  (long long)t->values[d][i]);
        }
        snprintf(spec + o, sizeof(spec) - o, "]}");
        append(yaml, size, dim_names[d], spec);
        t->index[d] = k++;
    }
    t->attn_index = -1;
    t->skip_index = -1;
    if (t->attention == ATT_RANKED) {
        snprintf(spec, sizeof(spec), "{type: int, min: 0, max: %lld}",
                 (long long)(t->allow_attention_free ? t->depth_max : t->depth_max - 1));
        if (t->depth_max > 1 || t->allow_attention_free) {
            append(yaml, size, "skip_attention", spec);
            t->skip_index = k++;
        }
    }
    if (t->attention == ATT_PER_LAYER) {
        t->attn_index = k;
        for (int64_t i = 0; i < t->depth_max; i++) {
            char name[32];
            snprintf(name, sizeof(name), "attn_%lld", (long long)i);
            append(yaml, size, name, "{type: bool}");
            k++;
        }
    }
    if (k == 0) {
        free(yaml);
        return hn_error_config(err, NULL,
                               "nothing to search: depth, d_model, heads, "
                               "kv_heads and d_ffn each have one value and attention is 'all'");
    }
    struct hn_config_node *root = hn_config_load_string(yaml, "<transformer space>", err);
    free(yaml);
    if (root == NULL) {
        return -1;
    }
    t->params = hn_params_parse(hn_config_get(root, "params"), NULL, err);
    hn_config_free(root);
    return t->params != NULL ? 0 : -1;
}

static void *transformer_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct transformer *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_fill(transformer_options, args->node, t, err) != 0) {
        goto fail;
    }
    char *path = hn_path_join(t->backbone, "config.json");
    if (path == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto fail;
    }
    int rc = hn_llm_config_read(path, &t->base, err);
    free(path);
    if (rc != 0) {
        char where[1024];
        const struct hn_config_node *b = hn_config_get(args->node, "backbone");
        hn_error_prefix_at(err, b ? hn_config_where(b, where, sizeof(where)) : NULL, "backbone");
        goto fail;
    }
    if (hn_options_apply(calibration_options, t->calibration_node, t, "calibration", "transformer",
                         err) != 0) {
        goto fail;
    }
    t->study_dir = args->study_dir;
    int by_data = t->keep == KEEP_IMPORTANCE || t->keep == KEEP_LOSS;
    if ((by_data || t->attention == ATT_RANKED) && t->cal.data[0] == '\0') {
        char where[1024];
        const struct hn_config_node *k = hn_config_get(args->node, "keep");
        const struct hn_config_node *a = hn_config_get(args->node, "attention");
        hn_error_config(err, hn_config_where(by_data ? k : a, where, sizeof(where)),
                        "keep: importance and attention: ranked need calibration data: add "
                        "calibration: {data: DIR} (the evaluator's data)");
        goto fail;
    }
    if (read_depth(t, err) != 0) {
        goto fail;
    }
    for (int d = 0; d < N_DIMS; d++) {
        if (read_dim(t, d, err) != 0) {
            goto fail;
        }
    }
    if (build_params(t, err) != 0) {
        goto fail;
    }
    return t;
fail:
    transformer_destroy(t);
    return NULL;
}

static const struct hn_params *transformer_params(void *ctx)
{
    return ((struct transformer *)ctx)->params;
}

/* Load the backbone and its importance on calibration data (once). */
static int ensure_importance(struct transformer *t, struct hn_error *err)
{
    if (t->imp != NULL ||
        (t->keep != KEEP_IMPORTANCE && t->keep != KEEP_LOSS && t->attention != ATT_RANKED)) {
        return 0;
    }
    struct hn_llm_model *b = hn_llm_load(t->backbone, err);
    char *path = hn_path_join(t->cal.data, "train.bin");
    char *cache = hn_path_join(t->study_dir ? t->study_dir : ".", "cache");
    uint16_t *tok = NULL;
    size_t n = 0;
    int computed = 0;
    if (b != NULL && path != NULL && cache != NULL && hn_tokens_load(path, &tok, &n, err) == 0) {
        t->imp = hn_importance_get(b, tok, n, (int)t->cal.batches, (int)t->cal.batch,
                                   (int)t->cal.seq, cache, &computed, NULL, err);
        if (t->imp != NULL) {
            hn_log(HN_LOG_INFO, "layer importance %s (%s/importance-%s.json)",
                   computed ? "computed" : "read from the cache", cache, t->imp->key);
        }
        if (t->imp != NULL && t->keep == KEEP_LOSS &&
            hn_importance_removal(t->imp, b, tok, n, cache, NULL, err) != 0) {
            hn_importance_free(t->imp);
            t->imp = NULL;
        }
    }
    hn_llm_model_free(b);
    free(tok);
    free(path);
    free(cache);
    if (t->imp == NULL) {
        hn_error_prefix(err, "calibration");
        err->kind = HN_ERR_ENVIRONMENT;
        return -1;
    }
    return 0;
}

/* The architecture of point x, filled into c; layers[] gets the kept backbone layers. Without
 * importance scores (check() before the first decode) keep: importance and attention: ranked
 * stand in with spread and the last layers: only the counts matter there. */
static void shape_of(const struct transformer *t, const double *x, struct hn_llm_config *c,
                     int *layers)
{
    *c = t->base;
    int64_t v[N_DIMS];
    for (int d = 0; d < N_DIMS; d++) {
        v[d] = t->index[d] >= 0 ? (int64_t)x[t->index[d]] : t->values[d][0];
    }
    int depth = (int)(t->depth_index >= 0 ? (int64_t)x[t->depth_index] : t->depth_min);
    int L = t->base.num_hidden_layers;
    c->hidden_size = (int)v[DIM_DMODEL];
    c->num_attention_heads = (int)v[DIM_HEADS];
    c->num_key_value_heads = (int)v[DIM_KVHEADS];
    c->intermediate_size = (int)v[DIM_FFN];
    c->num_hidden_layers = depth;
    int by_data = (t->keep == KEEP_IMPORTANCE || t->keep == KEEP_LOSS) && t->imp != NULL;
    if (by_data) {
        hn_importance_top_layers(t->keep == KEEP_LOSS ? t->imp->removal : t->imp->block, L, depth,
                                 layers);
    }
    for (int i = 0; i < depth; i++) {
        if (by_data) {
            /* set above */
        } else if (t->keep == KEEP_FIRST || depth == 1) {
            layers[i] = i;
        } else {
            /* round(i (L-1) / (depth-1)) in integers */
            layers[i] = (int)(((long)i * (L - 1) * 2 + (depth - 1)) / (2L * (depth - 1)));
        }
        c->attention_layers[i] = t->attn_index < 0 || x[t->attn_index + i] != 0.0;
    }
    if (t->skip_index >= 0) {
        int skip = (int)x[t->skip_index];
        unsigned char off[HN_LLM_MAX_LAYERS] = {0};
        for (int k = 0; k < skip && k < depth; k++) {
            int best = -1;
            for (int i = 0; i < depth; i++) {
                double a = t->imp != NULL ? t->imp->attention[layers[i]] : -(double)i;
                double ab = best >= 0
                                ? (t->imp != NULL ? t->imp->attention[layers[best]] : -(double)best)
                                : 0;
                if (!off[i] && (best < 0 || a < ab)) {
                    best = i;
                }
            }
            off[best] = 1;
        }
        for (int i = 0; i < depth; i++) {
            c->attention_layers[i] = !off[i];
        }
    }
    for (int i = depth; i < HN_LLM_MAX_LAYERS; i++) {
        c->attention_layers[i] = 1;
    }
}

static int transformer_check(void *ctx, const double *x, char *why, size_t why_size)
{
    const struct transformer *t = ctx;
    struct hn_llm_config c;
    int layers[HN_LLM_MAX_LAYERS];
    shape_of(t, x, &c, layers);
    if (c.num_key_value_heads > c.num_attention_heads ||
        c.num_attention_heads % c.num_key_value_heads != 0) {
        snprintf(why, why_size, "heads (%d) must be a multiple of kv_heads (%d)",
                 c.num_attention_heads, c.num_key_value_heads);
        return 0;
    }
    if (t->skip_index >= 0 &&
        (int)x[t->skip_index] > c.num_hidden_layers - (t->allow_attention_free ? 0 : 1)) {
        snprintf(why, why_size, "skip_attention (%d) leaves no kept layer (%d) with attention",
                 (int)x[t->skip_index], c.num_hidden_layers);
        return 0;
    }
    if (t->attn_index >= 0 && !t->allow_attention_free) {
        int any = 0;
        for (int i = 0; i < c.num_hidden_layers; i++) {
            any |= c.attention_layers[i];
        }
        if (!any) {
            snprintf(why, why_size, "no kept layer has attention (set allow_attention_free)");
            return 0;
        }
    }
    if (t->runtime == 1 && c.num_hidden_layers > 1 && !c.attention_layers[0]) {
        for (int i = 1; i < c.num_hidden_layers; i++) {
            if (c.attention_layers[i]) {
                snprintf(why, why_size,
                         "layer 0 skips attention while layer %d has it: llama.cpp cannot run "
                         "that (runtime: llama.cpp)",
                         i);
                return 0;
            }
        }
    }
    return 1;
}

static json_t *transformer_decode(void *ctx, const double *x, struct hn_error *err)
{
    struct transformer *t = ctx;
    struct hn_llm_config c;
    int layers[HN_LLM_MAX_LAYERS];
    if (ensure_importance(t, err) != 0) {
        return NULL;
    }
    shape_of(t, x, &c, layers);
    json_t *attn = json_array(), *kept = json_array();
    for (int i = 0; i < c.num_hidden_layers; i++) {
        json_array_append_new(attn, json_boolean(c.attention_layers[i]));
        json_array_append_new(kept, json_integer(layers[i]));
    }
    json_t *arch = json_pack(
        "{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:i, s:o, s:o, s:s, s:I}",
        "hidden_size", c.hidden_size, "intermediate_size", c.intermediate_size, "num_hidden_layers",
        c.num_hidden_layers, "num_attention_heads", c.num_attention_heads, "num_key_value_heads",
        c.num_key_value_heads, "head_dim", c.head_dim, "vocab_size", c.vocab_size, "rms_norm_eps",
        c.rms_norm_eps, "rope_theta", c.rope_theta, "tie_word_embeddings", c.tie_word_embeddings,
        "max_position_embeddings", c.max_position_embeddings, "attention_layers", attn,
        "backbone_layers", kept, "backbone", t->backbone, "parameters",
        (json_int_t)hn_llm_param_count(&c));
    if (arch == NULL) {
        hn_error_set(err, NULL, "out of memory");
    }
    return arch;
}

static const struct hn_space_ops transformer_ops = {
    .size = sizeof(struct hn_space_ops),
    .create = transformer_create,
    .destroy = transformer_destroy,
    .params = transformer_params,
    .check = transformer_check,
    .decode = transformer_decode,
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_SPACE),
    .name = "transformer",
    .summary = "Structured prunings of a Llama-style backbone: depth, width, heads, FFN, "
               "attention per layer",
    .options = transformer_options,
    .space = &transformer_ops,
};
