/*
 * llm/model.c: the Llama model: tensor table, parameter block, training forward and backward.
 *
 * Dimensions: B batch, T time, C hidden_size, F intermediate_size, NH query heads, KVH key/value
 * heads, HD head_dim, V vocab_size, L layers, N = B*T rows. Residual stream res[l] (N,C) is the
 * input of layer l; res[L] feeds the final norm.
 */
#include "config.h"

#include "hilnas/llm/model.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "hilnas/llm/ops.h"
#include "hilnas/log.h"
#include "hilnas/rng.h"

enum tensor_role {
    R_EMBED,
    R_LN1,
    R_WQ,
    R_WK,
    R_WV,
    R_WO,
    R_LN2,
    R_GATE,
    R_UP,
    R_DOWN,
    R_NORM,
    R_HEAD
};

/* Saved activations of one layer (attention members NULL when the layer skips attention). */
struct layer_acts {
    float *ln1, *rstd1;   /* (N,C), (N) */
    float *q;             /* (N, NH*HD) after RoPE */
    float *k, *v;         /* (N, KVH*HD), k after RoPE */
    float *att;           /* (B, NH, T, T) probabilities */
    float *attout;        /* (N, NH*HD) */
    float *mid;           /* (N,C) residual after attention; aliases res[l] when skipped */
    float *ln2, *rstd2;   /* (N,C), (N) */
    float *gate, *up, *h; /* (N,F) */
};

struct hn_llm_acts {
    int B, T;
    float *block;
    float **res; /* L+1 pointers (N,C) */
    struct layer_acts *layers;
    float *lnf, *rstdf;    /* (N,C), (N) */
    float *logits;         /* (N,V); probabilities, then dlogits, after a forward with targets */
    float *losses;         /* (N) */
    int *inputs, *targets; /* (N) copies for backward */
    int has_targets;
    /* backward scratch, one block allocated on first backward */
    float *scratch;
    float *dres, *dln, *dq, *dk, *dv, *dattout, *datt, *dgate, *dup, *dh;
};

/* ---------------------------------------------------------------------------------------------
 * tensor table */

static void add_tensor(struct hn_llm_model *m, int *roles, int *layers, int role, int layer,
                       const char *name, size_t rows, size_t cols, size_t *offset)
{
    struct hn_llm_tensor *t = &m->tensors[m->n_tensors];
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->ndim = cols == 0 ? 1 : 2;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->numel = rows * (cols == 0 ? 1 : cols);
    t->offset = *offset;
    *offset += t->numel;
    roles[m->n_tensors] = role;
    layers[m->n_tensors] = layer;
    m->n_tensors++;
}

static void bind_weights(const struct hn_llm_model *m, const int *roles, const int *layers,
                         float *base, struct hn_llm_weights *w)
{
    for (size_t i = 0; i < m->n_tensors; i++) {
        float *p = base + m->tensors[i].offset;
        struct hn_llm_layer *ly = layers[i] >= 0 ? &w->layers[layers[i]] : NULL;
        switch (roles[i]) {
        case R_EMBED:
            w->embed = p;
            break;
        case R_LN1:
            ly->ln1 = p;
            break;
        case R_WQ:
            ly->wq = p;
            break;
        case R_WK:
            ly->wk = p;
            break;
        case R_WV:
            ly->wv = p;
            break;
        case R_WO:
            ly->wo = p;
            break;
        case R_LN2:
            ly->ln2 = p;
            break;
        case R_GATE:
            ly->wgate = p;
            break;
        case R_UP:
            ly->wup = p;
            break;
        case R_DOWN:
            ly->wdown = p;
            break;
        case R_NORM:
            w->norm = p;
            break;
        case R_HEAD:
            w->lm_head = p;
            break;
        }
    }
    if (m->config.tie_word_embeddings) {
        w->lm_head = w->embed;
    }
}

/* Build the table; with base/w also bind pointers. roles/layers are per-tensor scratch. */
static void build_table(struct hn_llm_model *m, int *roles, int *layers)
{
    const struct hn_llm_config *c = &m->config;
    size_t C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    size_t QD = (size_t)c->num_attention_heads * c->head_dim;
    size_t KD = (size_t)c->num_key_value_heads * c->head_dim;
    size_t V = (size_t)c->vocab_size;
    size_t off = 0;
    char name[96];
    m->n_tensors = 0;
    add_tensor(m, roles, layers, R_EMBED, -1, "model.embed_tokens.weight", V, C, &off);
    for (int l = 0; l < c->num_hidden_layers; l++) {
        if (c->attention_layers[l]) {
            snprintf(name, sizeof(name), "model.layers.%d.input_layernorm.weight", l);
            add_tensor(m, roles, layers, R_LN1, l, name, C, 0, &off);
            snprintf(name, sizeof(name), "model.layers.%d.self_attn.q_proj.weight", l);
            add_tensor(m, roles, layers, R_WQ, l, name, QD, C, &off);
            snprintf(name, sizeof(name), "model.layers.%d.self_attn.k_proj.weight", l);
            add_tensor(m, roles, layers, R_WK, l, name, KD, C, &off);
            snprintf(name, sizeof(name), "model.layers.%d.self_attn.v_proj.weight", l);
            add_tensor(m, roles, layers, R_WV, l, name, KD, C, &off);
            snprintf(name, sizeof(name), "model.layers.%d.self_attn.o_proj.weight", l);
            add_tensor(m, roles, layers, R_WO, l, name, C, QD, &off);
        }
        snprintf(name, sizeof(name), "model.layers.%d.post_attention_layernorm.weight", l);
        add_tensor(m, roles, layers, R_LN2, l, name, C, 0, &off);
        snprintf(name, sizeof(name), "model.layers.%d.mlp.gate_proj.weight", l);
        add_tensor(m, roles, layers, R_GATE, l, name, F, C, &off);
        snprintf(name, sizeof(name), "model.layers.%d.mlp.up_proj.weight", l);
        add_tensor(m, roles, layers, R_UP, l, name, F, C, &off);
        snprintf(name, sizeof(name), "model.layers.%d.mlp.down_proj.weight", l);
        add_tensor(m, roles, layers, R_DOWN, l, name, C, F, &off);
    }
    add_tensor(m, roles, layers, R_NORM, -1, "model.norm.weight", C, 0, &off);
    if (!c->tie_word_embeddings) {
        add_tensor(m, roles, layers, R_HEAD, -1, "lm_head.weight", V, C, &off);
    }
    m->n_params = off;
}

long hn_llm_tensor_find(const struct hn_llm_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_tensors; i++) {
        if (strcmp(m->tensors[i].name, name) == 0) {
            return (long)i;
        }
    }
    return -1;
}

/* Floats of the RoPE tables of c: cos, then sin, each (max_position_embeddings, head_dim / 2). */
static size_t rope_floats(const struct hn_llm_config *c)
{
    return 2 * (size_t)c->max_position_embeddings * (size_t)(c->head_dim / 2);
}

struct hn_llm_model *hn_llm_model_new(const struct hn_llm_config *config, struct hn_error *err)
{
    struct hn_llm_model *m = NULL;
    int *roles = NULL, *layers = NULL;
    if (hn_llm_config_validate(config, err) != 0) {
        return NULL;
    }
    if (config->num_attention_heads % config->num_key_value_heads != 0 || config->head_dim % 2) {
        hn_error_config(err, NULL,
                        "model config: num_attention_heads (%d) must be a multiple of "
                        "num_key_value_heads (%d) and head_dim (%d) even",
                        config->num_attention_heads, config->num_key_value_heads, config->head_dim);
        return NULL;
    }
    size_t L = (size_t)config->num_hidden_layers;
    size_t max_tensors = 3 + 9 * L;
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        goto oom;
    }
    m->config = *config;
    m->tensors = calloc(max_tensors, sizeof(*m->tensors));
    roles = calloc(max_tensors, sizeof(int));
    layers = calloc(max_tensors, sizeof(int));
    m->w.layers = calloc(L, sizeof(struct hn_llm_layer));
    m->g.layers = calloc(L, sizeof(struct hn_llm_layer));
    if (m->tensors == NULL || roles == NULL || layers == NULL || m->w.layers == NULL ||
        m->g.layers == NULL) {
        goto oom;
    }
    build_table(m, roles, layers);
    m->params = hn_llm_big_calloc(m->n_params, sizeof(float));
    m->grads = hn_llm_big_calloc(m->n_params, sizeof(float));
    size_t half = (size_t)config->head_dim / 2, P = (size_t)config->max_position_embeddings;
    /* one array: rope_sin follows rope_cos */
    m->rope_cos = hn_llm_big_calloc(rope_floats(config), sizeof(float));
    m->rope_sin = m->rope_cos != NULL ? m->rope_cos + P * half : NULL;
    if (m->params == NULL || m->grads == NULL || m->rope_cos == NULL) {
        goto oom;
    }
    bind_weights(m, roles, layers, m->params, &m->w);
    bind_weights(m, roles, layers, m->grads, &m->g);
    hn_rope_tables(m->rope_cos, m->rope_sin, P, (size_t)config->head_dim, config->rope_theta);
    free(roles);
    free(layers);
    return m;
oom:
    free(roles);
    free(layers);
    hn_llm_model_free(m);
    hn_error_set(err, NULL, "model: out of memory allocating %zu parameters",
                 hn_llm_param_count(config));
    return NULL;
}

static void acts_free(struct hn_llm_acts *a)
{
    if (a == NULL) {
        return;
    }
    free(a->block);
    free(a->scratch);
    free(a->res);
    free(a->layers);
    free(a->inputs);
    free(a->targets);
    free(a);
}

void hn_llm_model_free(struct hn_llm_model *m)
{
    if (m == NULL) {
        return;
    }
    acts_free(m->acts);
    hn_llm_dtype_free(m);
    free(m->tensors);
    hn_llm_big_free(m->params, m->n_params, sizeof(float));
    hn_llm_big_free(m->grads, m->n_params, sizeof(float));
    free(m->w.layers);
    free(m->g.layers);
    hn_llm_big_free(m->rope_cos, rope_floats(&m->config), sizeof(float));
    free(m);
}

void hn_llm_model_randomize(struct hn_llm_model *m, uint64_t seed)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, seed);
    double resid_std = 0.02 / sqrt(2.0 * m->config.num_hidden_layers);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const struct hn_llm_tensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        if (t->ndim == 1) {
            for (size_t j = 0; j < t->numel; j++) {
                p[j] = 1.0f;
            }
            continue;
        }
        int resid = strstr(t->name, "o_proj") != NULL || strstr(t->name, "down_proj") != NULL;
        double std = resid ? resid_std : 0.02;
        for (size_t j = 0; j < t->numel; j++) {
            p[j] = (float)(std * hn_rng_normal(&rng));
        }
    }
}

/* At most 4 threads per online CPU and never more than 1024: more only adds overhead, and
 * libgomp dies (SIGSEGV) creating 100000. Says so once per value asked for. */
static int clamp_threads(long n, const char *from)
{
    static long warned;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long max = 4 * (cpus > 0 ? cpus : 1);
    max = max < 1024 ? max : 1024;
    if (n <= max) {
        return (int)n;
    }
    if (__atomic_exchange_n(&warned, n, __ATOMIC_RELAXED) != n) {
        hn_log(HN_LOG_WARNING,
               "%ld threads (%s) is more than this machine can use: using %ld (4 "
               "per online CPU, at most 1024)",
               n, from, max);
    }
    return (int)max;
}

int hn_llm_set_threads(int n)
{
    const char *from = "--threads or the 'threads' option";
    if (n <= 0) {
        const char *env = getenv("HILNAS_THREADS");
        char *end = NULL;
        long v = env != NULL ? strtol(env, &end, 10) : 0;
        if (env != NULL && *env != '\0' && (end == env || *end != '\0' || v < 0)) {
            hn_log(HN_LOG_WARNING, "HILNAS_THREADS='%.40s' is not a number of threads: ignored",
                   env);
            v = 0;
        }
        n = v < 1 << 30 ? (int)v : 1 << 30;
        from = "HILNAS_THREADS";
    }
#ifdef _OPENMP
    if (n <= 0) {
        /* OMP_NUM_THREADS if set, else the processors this process may run on */
        n = omp_get_max_threads();
        from = "OMP_NUM_THREADS";
    }
#endif
    n = n > 0 ? clamp_threads(n, from) : n;
    if (n > 0) {
#ifdef _OPENMP
        /* one pool: the kernels split work over OpenMP threads, each calling single-threaded
         * OpenBLAS (see hilnas/llm/ops.h) */
        omp_set_num_threads(n);
        openblas_set_num_threads(1);
        hn_ops_set_threads(n);
#else
        openblas_set_num_threads(n);
#endif
        return n;
    }
    return openblas_get_num_threads();
}

/* ---------------------------------------------------------------------------------------------
 * activations */

/* Carve pointers from base (NULL: only count). Returns the number of floats needed. */
static size_t acts_layout(struct hn_llm_acts *a, const struct hn_llm_config *c, float *base)
{
    size_t B = (size_t)a->B, T = (size_t)a->T, N = B * T;
    size_t C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    size_t NH = (size_t)c->num_attention_heads, HD = (size_t)c->head_dim;
    size_t KD = (size_t)c->num_key_value_heads * HD, V = (size_t)c->vocab_size;
    size_t L = (size_t)c->num_hidden_layers;
    size_t off = 0;
#define TAKE(ptr, count)                                                                           \
    do {                                                                                           \
        (ptr) = base != NULL ? base + off : NULL;                                                  \
        off += (count);                                                                            \
    } while (0)
    for (size_t l = 0; l <= L; l++) {
        TAKE(a->res[l], N * C);
    }
    for (size_t l = 0; l < L; l++) {
        struct layer_acts *la = &a->layers[l];
        memset(la, 0, sizeof(*la));
        if (c->attention_layers[l]) {
            TAKE(la->ln1, N * C);
            TAKE(la->rstd1, N);
            TAKE(la->q, N * NH * HD);
            TAKE(la->k, N * KD);
            TAKE(la->v, N * KD);
            TAKE(la->att, B * NH * T * T);
            TAKE(la->attout, N * NH * HD);
            TAKE(la->mid, N * C);
        } else {
            la->mid = a->res[l];
        }
        TAKE(la->ln2, N * C);
        TAKE(la->rstd2, N);
        TAKE(la->gate, N * F);
        TAKE(la->up, N * F);
        TAKE(la->h, N * F);
    }
    TAKE(a->lnf, N * C);
    TAKE(a->rstdf, N);
    TAKE(a->logits, N * V);
    TAKE(a->losses, N);
    return off;
}

static size_t scratch_layout(struct hn_llm_acts *a, const struct hn_llm_config *c, float *base)
{
    size_t B = (size_t)a->B, T = (size_t)a->T, N = B * T;
    size_t C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    size_t NH = (size_t)c->num_attention_heads, HD = (size_t)c->head_dim;
    size_t KD = (size_t)c->num_key_value_heads * HD;
    size_t off = 0;
    TAKE(a->dres, N * C);
    TAKE(a->dln, N * C);
    TAKE(a->dq, N * NH * HD);
    TAKE(a->dk, N * KD);
    TAKE(a->dv, N * KD);
    TAKE(a->dattout, N * NH * HD);
    TAKE(a->datt, B * NH * T * T);
    TAKE(a->dgate, N * F);
    TAKE(a->dup, N * F);
    TAKE(a->dh, N * F);
#undef TAKE
    return off;
}

static int acts_ensure(struct hn_llm_model *m, int B, int T, struct hn_error *err)
{
    struct hn_llm_acts *a = m->acts;
    if (a != NULL && a->B == B && a->T == T) {
        return 0;
    }
    acts_free(a);
    m->acts = a = calloc(1, sizeof(*a));
    if (a == NULL) {
        goto oom;
    }
    size_t L = (size_t)m->config.num_hidden_layers, N = (size_t)B * T;
    a->B = B;
    a->T = T;
    a->res = calloc(L + 1, sizeof(float *));
    a->layers = calloc(L, sizeof(struct layer_acts));
    a->inputs = malloc(N * sizeof(int));
    a->targets = malloc(N * sizeof(int));
    if (a->res == NULL || a->layers == NULL || a->inputs == NULL || a->targets == NULL) {
        goto oom;
    }
    size_t n = acts_layout(a, &m->config, NULL);
    a->block = malloc(n * sizeof(float));
    if (a->block == NULL) {
        goto oom;
    }
    acts_layout(a, &m->config, a->block);
    return 0;
oom:
    acts_free(m->acts);
    m->acts = NULL;
    return hn_error_set(err, NULL, "model: out of memory for activations of batch %d x %d tokens",
                        B, T);
}

/* ---------------------------------------------------------------------------------------------
 * forward and backward */

#define MATMUL_FORWARD(m, ...)                                                                     \
    ((m)->naive ? hn_matmul_forward_naive(__VA_ARGS__) : hn_matmul_forward(__VA_ARGS__))
#define MATMUL_BACKWARD(m, ...)                                                                    \
    ((m)->naive ? hn_matmul_backward_naive(__VA_ARGS__) : hn_matmul_backward(__VA_ARGS__))

int hn_llm_forward(struct hn_llm_model *m, const int *inputs, const int *targets, int B, int T,
                   double *loss, struct hn_error *err)
{
    const struct hn_llm_config *c = &m->config;
    size_t C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    size_t NH = (size_t)c->num_attention_heads, KVH = (size_t)c->num_key_value_heads;
    size_t HD = (size_t)c->head_dim, V = (size_t)c->vocab_size;
    size_t L = (size_t)c->num_hidden_layers, N = (size_t)B * T;
    float eps = (float)c->rms_norm_eps;
    if (B < 1 || T < 1 || T > c->max_position_embeddings) {
        return hn_error_config(err, NULL,
                               "model forward: batch %d x sequence %d invalid (sequence must be "
                               "1..max_position_embeddings = %d)",
                               B, T, c->max_position_embeddings);
    }
    for (size_t n = 0; n < N; n++) {
        if (inputs[n] < 0 || inputs[n] >= c->vocab_size ||
            (targets != NULL && (targets[n] < 0 || targets[n] >= c->vocab_size))) {
            return hn_error_config(err, NULL,
                                   "model forward: token id at position %zu outside the "
                                   "vocabulary 0..%d; check the data was tokenized for this model",
                                   n, c->vocab_size - 1);
        }
    }
    if (acts_ensure(m, B, T, err) != 0) {
        return -1;
    }
    struct hn_llm_acts *a = m->acts;
    memcpy(a->inputs, inputs, N * sizeof(int));
    a->has_targets = 0;

    hn_embedding_forward(a->res[0], inputs, m->w.embed, N, C);
    for (size_t l = 0; l < L; l++) {
        const struct hn_llm_layer *lw = &m->w.layers[l];
        struct layer_acts *la = &a->layers[l];
        float *x = a->res[l];
        if (lw->wq != NULL) {
            hn_rmsnorm_forward(la->ln1, la->rstd1, x, lw->ln1, N, C, eps);
            MATMUL_FORWARD(m, la->q, la->ln1, lw->wq, N, C, NH * HD);
            MATMUL_FORWARD(m, la->k, la->ln1, lw->wk, N, C, KVH * HD);
            MATMUL_FORWARD(m, la->v, la->ln1, lw->wv, N, C, KVH * HD);
            hn_rope_forward(la->q, m->rope_cos, m->rope_sin, N, (size_t)T, 0, NH, HD);
            hn_rope_forward(la->k, m->rope_cos, m->rope_sin, N, (size_t)T, 0, KVH, HD);
            if (m->naive) {
                hn_attention_forward_naive(la->attout, la->att, la->q, la->k, la->v, (size_t)B,
                                           (size_t)T, NH, KVH, HD);
            } else {
                hn_attention_forward(la->attout, la->att, la->q, la->k, la->v, (size_t)B, (size_t)T,
                                     NH, KVH, HD);
            }
            MATMUL_FORWARD(m, la->mid, la->attout, lw->wo, N, NH * HD, C);
            hn_residual_forward(la->mid, la->mid, x, N, C);
        }
        hn_rmsnorm_forward(la->ln2, la->rstd2, la->mid, lw->ln2, N, C, eps);
        MATMUL_FORWARD(m, la->gate, la->ln2, lw->wgate, N, C, F);
        MATMUL_FORWARD(m, la->up, la->ln2, lw->wup, N, C, F);
        hn_swiglu_forward(la->h, la->gate, la->up, N, F);
        MATMUL_FORWARD(m, a->res[l + 1], la->h, lw->wdown, N, F, C);
        hn_residual_forward(a->res[l + 1], a->res[l + 1], la->mid, N, C);
    }
    hn_rmsnorm_forward(a->lnf, a->rstdf, a->res[L], m->w.norm, N, C, eps);
    MATMUL_FORWARD(m, a->logits, a->lnf, m->w.lm_head, N, C, V);
    if (targets != NULL) {
        memcpy(a->targets, targets, N * sizeof(int));
        double mean = hn_crossentropy_forward(a->losses, a->logits, a->logits, targets, N, V);
        a->has_targets = 1;
        if (loss != NULL) {
            *loss = mean;
        }
    }
    return 0;
}

const float *hn_llm_logits(const struct hn_llm_model *m)
{
    return m->acts != NULL && !m->acts->has_targets ? m->acts->logits : NULL;
}

float *hn_llm_probs(struct hn_llm_model *m)
{
    return m->acts != NULL && m->acts->has_targets ? m->acts->logits : NULL;
}

int hn_llm_zero_grad(struct hn_llm_model *m, struct hn_error *err)
{
    (void)err;
    memset(m->grads, 0, m->n_params * sizeof(float));
    return 0;
}

int hn_llm_backward(struct hn_llm_model *m, struct hn_error *err)
{
    const struct hn_llm_config *c = &m->config;
    struct hn_llm_acts *a = m->acts;
    if (a == NULL || !a->has_targets) {
        return hn_error_set(err, NULL,
                            "model backward: no forward with targets to differentiate "
                            "(call hn_llm_forward with targets first)");
    }
    size_t B = (size_t)a->B, T = (size_t)a->T, N = B * T;
    size_t C = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    size_t NH = (size_t)c->num_attention_heads, KVH = (size_t)c->num_key_value_heads;
    size_t HD = (size_t)c->head_dim, V = (size_t)c->vocab_size;
    size_t L = (size_t)c->num_hidden_layers;
    if (a->scratch == NULL) {
        size_t n = scratch_layout(a, c, NULL);
        a->scratch = malloc(n * sizeof(float));
        if (a->scratch == NULL) {
            return hn_error_set(err, NULL, "model backward: out of memory (%zu floats of scratch)",
                                n);
        }
        scratch_layout(a, c, a->scratch);
    }
    /* the probabilities become dlogits in place: d(mean loss)/dlogits = (p - onehot) / N */
    float *dlogits = a->logits;
    hn_crossentropy_backward(dlogits, a->logits, a->targets, N, V, 1.0f / (float)N);
    a->has_targets = 0; /* probabilities consumed */
    memset(a->dln, 0, N * C * sizeof(float));
    MATMUL_BACKWARD(m, a->dln, m->g.lm_head, dlogits, a->lnf, m->w.lm_head, N, C, V);
    memset(a->dres, 0, N * C * sizeof(float));
    hn_rmsnorm_backward(a->dres, m->g.norm, a->dln, a->res[L], m->w.norm, a->rstdf, N, C);
    for (size_t l = L; l-- > 0;) {
        const struct hn_llm_layer *lw = &m->w.layers[l];
        struct hn_llm_layer *lg = &m->g.layers[l];
        struct layer_acts *la = &a->layers[l];
        /* res[l+1] = mid + down(h): dres flows to mid unchanged and into the FFN */
        memset(a->dh, 0, N * F * sizeof(float));
        MATMUL_BACKWARD(m, a->dh, lg->wdown, a->dres, la->h, lw->wdown, N, F, C);
        memset(a->dgate, 0, N * F * sizeof(float));
        memset(a->dup, 0, N * F * sizeof(float));
        hn_swiglu_backward(a->dgate, a->dup, a->dh, la->gate, la->up, N, F);
        memset(a->dln, 0, N * C * sizeof(float));
        MATMUL_BACKWARD(m, a->dln, lg->wgate, a->dgate, la->ln2, lw->wgate, N, C, F);
        MATMUL_BACKWARD(m, a->dln, lg->wup, a->dup, la->ln2, lw->wup, N, C, F);
        hn_rmsnorm_backward(a->dres, lg->ln2, a->dln, la->mid, lw->ln2, la->rstd2, N, C);
        if (lw->wq == NULL) {
            continue;
        }
        /* mid = res[l] + o(attout) */
        memset(a->dattout, 0, N * NH * HD * sizeof(float));
        MATMUL_BACKWARD(m, a->dattout, lg->wo, a->dres, la->attout, lw->wo, N, NH * HD, C);
        memset(a->dq, 0, N * NH * HD * sizeof(float));
        memset(a->dk, 0, N * KVH * HD * sizeof(float));
        memset(a->dv, 0, N * KVH * HD * sizeof(float));
        if (m->naive) {
            hn_attention_backward_naive(a->dq, a->dk, a->dv, a->datt, a->dattout, la->q, la->k,
                                        la->v, la->att, B, T, NH, KVH, HD);
        } else {
            hn_attention_backward(a->dq, a->dk, a->dv, a->datt, a->dattout, la->q, la->k, la->v,
                                  la->att, B, T, NH, KVH, HD);
        }
        hn_rope_backward(a->dq, m->rope_cos, m->rope_sin, N, T, 0, NH, HD);
        hn_rope_backward(a->dk, m->rope_cos, m->rope_sin, N, T, 0, KVH, HD);
        memset(a->dln, 0, N * C * sizeof(float));
        MATMUL_BACKWARD(m, a->dln, lg->wq, a->dq, la->ln1, lw->wq, N, C, NH * HD);
        MATMUL_BACKWARD(m, a->dln, lg->wk, a->dk, la->ln1, lw->wk, N, C, KVH * HD);
        MATMUL_BACKWARD(m, a->dln, lg->wv, a->dv, la->ln1, lw->wv, N, C, KVH * HD);
        hn_rmsnorm_backward(a->dres, lg->ln1, a->dln, a->res[l], lw->ln1, la->rstd1, N, C);
    }
    hn_embedding_backward(m->g.embed, a->dres, a->inputs, N, C);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * activations of the last forward, for importance estimation (llm/importance.c) */

int hn_llm_activations(const struct hn_llm_model *m, int layer, struct hn_llm_act_view *v)
{
    const struct hn_llm_acts *a = m->acts;
    memset(v, 0, sizeof(*v));
    if (a == NULL || layer < 0 || layer > m->config.num_hidden_layers) {
        return -1;
    }
    v->B = a->B;
    v->T = a->T;
    v->in = a->res[layer];
    if (layer == m->config.num_hidden_layers) {
        v->ln2 = a->lnf;
        return 0;
    }
    const struct layer_acts *la = &a->layers[layer];
    v->ln1 = la->ln1;
    v->attout = la->attout;
    v->mid = la->mid;
    v->ln2 = la->ln2;
    v->h = la->h;
    v->out = a->res[layer + 1];
    return 0;
}
