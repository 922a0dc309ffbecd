/*
 * llm/importance.c: activation-based importance scores and their cache
 * (hilnas/llm/importance.h).
 */
#include "config.h"

#include "hilnas/llm/importance.h"

#include <cblas.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/log.h"
#include "hilnas/util.h"

#define FORMAT "hilnas-importance"
#define IMP_VERSION 1

void hn_importance_free(struct hn_importance *imp)
{
    if (imp == NULL) {
        return;
    }
    free(imp->channels);
    free(imp->head);
    free(imp->neurons);
    free(imp->block);
    free(imp->attention);
    free(imp->removal);
    free(imp);
}

static struct hn_importance *alloc_imp(int L, int C, int NH, int F)
{
    struct hn_importance *imp = calloc(1, sizeof(*imp));
    if (imp == NULL) {
        return NULL;
    }
    imp->layers = L;
    imp->hidden = C;
    imp->heads = NH;
    imp->ffn = F;
    imp->channels = calloc((size_t)C, sizeof(double));
    imp->head = calloc((size_t)L * NH, sizeof(double));
    imp->neurons = calloc((size_t)L * F, sizeof(double));
    imp->block = calloc((size_t)L, sizeof(double));
    imp->attention = calloc((size_t)L, sizeof(double));
    if (imp->channels == NULL || imp->head == NULL || imp->neurons == NULL || imp->block == NULL ||
        imp->attention == NULL) {
        hn_importance_free(imp);
        return NULL;
    }
    return imp;
}

/* 64-bit FNV-1a over bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void hn_importance_key(const struct hn_llm_model *b, const uint16_t *tok, size_t n, int batches,
                       int batch, int seq, char key[33])
{
    const struct hn_llm_config *c = &b->config;
    uint64_t h[2] = {14695981039346656037ULL, 0x9e3779b97f4a7c15ULL};
    char head[512];
    int len =
        snprintf(head, sizeof(head),
                 "%s/%d L%d C%d NH%d KVH%d HD%d F%d V%d tie%d theta%.17g eps%.17g "
                 "n%zu b%d B%d T%d",
                 FORMAT, IMP_VERSION, c->num_hidden_layers, c->hidden_size, c->num_attention_heads,
                 c->num_key_value_heads, c->head_dim, c->intermediate_size, c->vocab_size,
                 c->tie_word_embeddings, c->rope_theta, c->rms_norm_eps, n, batches, batch, seq);
    for (int k = 0; k < 2; k++) {
        h[k] = fnv(h[k], head, (size_t)len);
        h[k] = fnv(h[k], c->attention_layers, sizeof(c->attention_layers));
        h[k] = fnv(h[k], b->params, b->n_params * sizeof(float));
        h[k] = fnv(h[k], tok, n * sizeof(uint16_t));
        /* the second hash differs by its basis and by a salt at the end */
        if (k == 1) {
            h[k] = fnv(h[k], "salt", 4);
        }
    }
    snprintf(key, 33, "%016llx%016llx", (unsigned long long)h[0], (unsigned long long)h[1]);
}

/* acc[j] += (1/W_total) sum_w sqrt(sum_t x[w,t,j]^2) for the W windows of T rows of x (N, D);
 * s is D doubles of scratch. */
static void window_l2(double *acc, const float *x, int W, int T, size_t D, double windows,
                      double *s)
{
    for (int w = 0; w < W; w++) {
        memset(s, 0, D * sizeof(double));
        for (int t = 0; t < T; t++) {
            const float *row = x + ((size_t)w * T + t) * D;
            for (size_t j = 0; j < D; j++) {
                s[j] += (double)row[j] * row[j];
            }
        }
        for (size_t j = 0; j < D; j++) {
            acc[j] += sqrt(s[j]) / windows;
        }
    }
}

/* Sum over rows of 1 - cos(a_r, b_r). */
static double one_minus_cos(const float *a, const float *b, size_t N, size_t C)
{
    double total = 0;
    for (size_t r = 0; r < N; r++) {
        double ab = 0, aa = 0, bb = 0;
        for (size_t j = 0; j < C; j++) {
            ab += (double)a[r * C + j] * b[r * C + j];
            aa += (double)a[r * C + j] * a[r * C + j];
            bb += (double)b[r * C + j] * b[r * C + j];
        }
        total += aa > 0 && bb > 0 ? 1.0 - ab / sqrt(aa * bb) : (aa == bb ? 0.0 : 1.0);
    }
    return total;
}

struct hn_importance *hn_importance_compute(struct hn_llm_model *m, const uint16_t *tok, size_t n,
                                            int batches, int batch, int seq,
                                            struct hn_progress *progress, struct hn_error *err)
{
    const struct hn_llm_config *c = &m->config;
    int L = c->num_hidden_layers, C = c->hidden_size, NH = c->num_attention_heads;
    int HD = c->head_dim, F = c->intermediate_size;
    int B = batch, T = seq;
    if (batches < 1 || B < 1 || T < 1 || n < (size_t)T + 1 || T > c->max_position_embeddings) {
        hn_error_config(err, NULL,
                        "importance: calibration needs batches, batch >= 1 and 1 <= seq <= %d "
                        "with at least seq+1 tokens (batches %d, batch %d, seq %d, %zu tokens)",
                        c->max_position_embeddings, batches, B, T, n);
        return NULL;
    }
    struct hn_importance *imp = alloc_imp(L, C, NH, F);
    size_t N = (size_t)B * T;
    int *inputs = malloc(N * sizeof(int));
    float *y = malloc(N * (size_t)C * sizeof(float));
    size_t big = (size_t)(F > C ? F : C);
    double *dnorm = malloc((size_t)F * sizeof(double)), *tmp = malloc(big * sizeof(double));
    double *scratch = malloc(big * sizeof(double));
    if (imp == NULL || inputs == NULL || y == NULL || dnorm == NULL || tmp == NULL ||
        scratch == NULL) {
        hn_error_set(err, NULL, "importance: out of memory");
        goto fail;
    }
    imp->batches = batches;
    imp->batch = batch;
    imp->seq = seq;
    size_t W = (size_t)batches * B, span = n - (size_t)T - 1;
    double windows = (double)W, tokens = (double)W * T;
    for (int bt = 0; bt < batches; bt++) {
        hn_progress_update(progress, "computing importance", "batch", bt + 1, batches);
        for (int w = 0; w < B; w++) {
            size_t i = (size_t)bt * B + w;
            size_t start = W > 1 ? (size_t)((double)i * (double)span / (double)(W - 1)) : 0;
            for (int t = 0; t < T; t++) {
                inputs[(size_t)w * T + t] = tok[start + t];
            }
        }
        if (hn_llm_forward(m, inputs, NULL, B, T, NULL, err) != 0) {
            hn_error_prefix(err, "importance (calibration forward)");
            goto fail;
        }
        for (int l = 0; l <= L; l++) {
            struct hn_llm_act_view v;
            hn_llm_activations(m, l, &v);
            if (v.ln1 != NULL) {
                window_l2(imp->channels, v.ln1, B, T, (size_t)C, windows, scratch);
            }
            window_l2(imp->channels, v.ln2, B, T, (size_t)C, windows, scratch);
            if (l == L) {
                break;
            }
            const struct hn_llm_layer *lw = &m->w.layers[l];
            imp->block[l] += one_minus_cos(v.in, v.out, N, (size_t)C) / tokens;
            if (v.attout != NULL) {
                imp->attention[l] += one_minus_cos(v.in, v.mid, N, (size_t)C) / tokens;
                for (int h = 0; h < NH; h++) {
                    /* y (N,C) = attout[:, h] (N,HD) x wo[:, h]^T (HD,C) */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, C, HD, 1.0f,
                                v.attout + (size_t)h * HD, NH * HD, lw->wo + (size_t)h * HD,
                                NH * HD, 0.0f, y, C);
                    double sum = 0;
                    for (int w = 0; w < B; w++) {
                        double s = 0;
                        for (size_t r = (size_t)w * T * C; r < ((size_t)w + 1) * T * C; r++) {
                            s += (double)y[r] * y[r];
                        }
                        sum += sqrt(s);
                    }
                    imp->head[(size_t)l * NH + h] += sum / windows;
                }
            }
            for (int i = 0; i < F; i++) {
                double s = 0;
                for (int o = 0; o < C; o++) {
                    double d = lw->wdown[(size_t)o * F + i];
                    s += d * d;
                }
                dnorm[i] = sqrt(s);
            }
            double *acc = imp->neurons + (size_t)l * F;
            memset(tmp, 0, (size_t)F * sizeof(double));
            window_l2(tmp, v.h, B, T, (size_t)F, windows, scratch);
            for (int i = 0; i < F; i++) {
                acc[i] += tmp[i] * dnorm[i];
            }
        }
    }
    free(inputs);
    free(y);
    free(dnorm);
    free(tmp);
    free(scratch);
    return imp;
fail:
    free(inputs);
    free(y);
    free(dnorm);
    free(tmp);
    free(scratch);
    hn_importance_free(imp);
    return NULL;
}

static json_t *array_of(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        json_array_append_new(a, json_real(v[i]));
    }
    return a;
}

int hn_importance_write(const struct hn_importance *imp, const char *path, struct hn_error *err)
{
    json_t *layers = json_array();
    for (int l = 0; layers != NULL && l < imp->layers; l++) {
        json_array_append_new(
            layers,
            json_pack("{s:f, s:f, s:o, s:o}", "block", imp->block[l], "attention",
                      imp->attention[l], "heads",
                      array_of(imp->head + (size_t)l * imp->heads, (size_t)imp->heads), "neurons",
                      array_of(imp->neurons + (size_t)l * imp->ffn, (size_t)imp->ffn)));
    }
    for (int l = 0; layers != NULL && imp->removal != NULL && l < imp->layers; l++) {
        json_object_set_new(json_array_get(layers, (size_t)l), "removal",
                            json_real(imp->removal[l]));
    }
    json_t *root =
        json_pack("{s:s, s:i, s:s, s:{s:i, s:i, s:i, s:i}, s:{s:i, s:i, s:i}, s:o, s:o}", "format",
                  FORMAT, "version", IMP_VERSION, "key", imp->key, "shape", "layers", imp->layers,
                  "hidden", imp->hidden, "heads", imp->heads, "ffn", imp->ffn, "calibration",
                  "batches", imp->batches, "batch", imp->batch, "seq", imp->seq, "channels",
                  array_of(imp->channels, (size_t)imp->hidden), "layers", layers);
    char *text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (text == NULL) {
        return hn_error_set(err, NULL, "importance: out of memory");
    }
    int rc = hn_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

/* n finite numbers of the JSON array a into v; 0 or -1. */
static int read_array(const json_t *a, double *v, size_t n)
{
    if (!json_is_array(a) || json_array_size(a) != n) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(a, i);
        if (!json_is_number(x) || !isfinite(json_number_value(x))) {
            return -1;
        }
        v[i] = json_number_value(x);
    }
    return 0;
}

struct hn_importance *hn_importance_read(const char *path, const char *key, struct hn_error *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    struct hn_importance *imp = NULL;
    if (root == NULL) {
        hn_error_set(err, path, "importance: %s (line %d)", je.text, je.line);
        return NULL;
    }
    json_int_t L = 0, C = 0, NH = 0, F = 0, batches = 0, batch = 0, seq = 0;
    const char *fmt = NULL, *k = NULL;
    json_int_t version = 0;
    json_t *channels = NULL, *layers = NULL;
    if (json_unpack(root, "{s:s, s:I, s:s, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}, s:o, s:o}",
                    "format", &fmt, "version", &version, "key", &k, "shape", "layers", &L, "hidden",
                    &C, "heads", &NH, "ffn", &F, "calibration", "batches", &batches, "batch",
                    &batch, "seq", &seq, "channels", &channels, "layers", &layers) != 0 ||
        strcmp(fmt, FORMAT) != 0 || version != IMP_VERSION || strlen(k) != 32 ||
        (key != NULL && strcmp(k, key) != 0) || L < 1 || L > HN_LLM_MAX_LAYERS || C < 1 ||
        C > (1 << 20) || NH < 1 || NH > 4096 || F < 1 || F > (1 << 24) || !json_is_array(layers) ||
        json_array_size(layers) != (size_t)L) {
        hn_error_set(err, path, "importance: not a %s version %d file for key %s", FORMAT,
                     IMP_VERSION, key ? key : "(any)");
        goto fail;
    }
    imp = alloc_imp((int)L, (int)C, (int)NH, (int)F);
    if (imp == NULL) {
        hn_error_set(err, NULL, "importance: out of memory");
        goto fail;
    }
    imp->batches = (int)batches;
    imp->batch = (int)batch;
    imp->seq = (int)seq;
    snprintf(imp->key, sizeof(imp->key), "%s", k);
    if (read_array(channels, imp->channels, (size_t)C) != 0) {
        hn_error_set(err, path, "importance: channels is not %lld finite numbers", (long long)C);
        goto fail;
    }
    for (json_int_t l = 0; l < L; l++) {
        const json_t *ly = json_array_get(layers, (size_t)l);
        const json_t *bl = json_object_get(ly, "block"), *at = json_object_get(ly, "attention");
        if (!json_is_number(bl) || !json_is_number(at) ||
            read_array(json_object_get(ly, "heads"), imp->head + l * NH, (size_t)NH) != 0 ||
            read_array(json_object_get(ly, "neurons"), imp->neurons + l * F, (size_t)F) != 0) {
            hn_error_set(err, path, "importance: layers[%lld] is malformed", (long long)l);
            goto fail;
        }
        imp->block[l] = json_number_value(bl);
        imp->attention[l] = json_number_value(at);
    }
    /* loss when removed: in every layer or in none */
    size_t with_removal = 0;
    for (json_int_t l = 0; l < L; l++) {
        const json_t *r = json_object_get(json_array_get(layers, (size_t)l), "removal");
        with_removal += json_is_number(r) && isfinite(json_number_value(r));
    }
    if (with_removal == (size_t)L) {
        imp->removal = malloc((size_t)L * sizeof(double));
        if (imp->removal == NULL) {
            hn_error_set(err, NULL, "importance: out of memory");
            goto fail;
        }
        for (json_int_t l = 0; l < L; l++) {
            imp->removal[l] =
                json_number_value(json_object_get(json_array_get(layers, (size_t)l), "removal"));
        }
    } else if (with_removal != 0) {
        hn_error_set(err, path, "importance: 'removal' is in %zu of %lld layers", with_removal,
                     (long long)L);
        goto fail;
    }
    json_decref(root);
    return imp;
fail:
    json_decref(root);
    hn_importance_free(imp);
    return NULL;
}

/* Write imp to path in cache_dir (created): 0, or -1 with an environment error saying what to do.
 */
static int cache_store(const struct hn_importance *imp, const char *cache_dir, const char *path,
                       struct hn_error *err)
{
    if (hn_mkdir_p(cache_dir, err) != 0 || hn_importance_write(imp, path, err) != 0) {
        char msg[sizeof(err->msg)];
        snprintf(msg, sizeof(msg), "%s", err->msg);
        return hn_error_env(err, path,
                            "importance cache: %s (set the cache directory to a writable place "
                            "or free space)",
                            msg);
    }
    return 0;
}

struct hn_importance *hn_importance_get(struct hn_llm_model *b, const uint16_t *tok, size_t n,
                                        int batches, int batch, int seq, const char *cache_dir,
                                        int *computed, struct hn_progress *progress,
                                        struct hn_error *err)
{
    char key[33], name[64];
    char *path = NULL;
    struct hn_importance *imp = NULL;
    const struct hn_llm_config *c = &b->config;
    if (computed != NULL) {
        *computed = 0;
    }
    hn_importance_key(b, tok, n, batches, batch, seq, key);
    if (cache_dir != NULL) {
        snprintf(name, sizeof(name), "importance-%s.json", key);
        path = hn_path_join(cache_dir, name);
        if (path == NULL) {
            hn_error_set(err, NULL, "out of memory");
            return NULL;
        }
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            fclose(f);
            struct hn_error e2;
            imp = hn_importance_read(path, key, &e2);
            if (imp != NULL &&
                (imp->layers != c->num_hidden_layers || imp->hidden != c->hidden_size ||
                 imp->heads != c->num_attention_heads || imp->ffn != c->intermediate_size)) {
                hn_importance_free(imp);
                imp = NULL;
                hn_error_set(&e2, path, "importance: shape differs from the backbone's");
            }
            if (imp != NULL) {
                free(path);
                return imp;
            }
            hn_log(HN_LOG_WARNING, "%s; computing it again", e2.msg);
        }
    }
    double t0 = hn_monotonic();
    imp = hn_importance_compute(b, tok, n, batches, batch, seq, progress, err);
    if (imp == NULL) {
        free(path);
        return NULL;
    }
    snprintf(imp->key, sizeof(imp->key), "%s", key);
    if (computed != NULL) {
        *computed = 1;
    }
    hn_log(HN_LOG_INFO,
           "importance: computed from %d x %d windows of %d tokens in %.1f s (cached as %s)",
           batches, batch, seq, hn_monotonic() - t0, path != NULL ? path : "nothing");
    if (path != NULL && cache_store(imp, cache_dir, path, err) != 0) {
        free(path);
        hn_importance_free(imp);
        return NULL;
    }
    free(path);
    return imp;
}

int hn_importance_removal(struct hn_importance *imp, struct hn_llm_model *m, const uint16_t *tok,
                          size_t n, const char *cache_dir, int *computed, struct hn_error *err)
{
    const struct hn_llm_config *c = &m->config;
    int L = c->num_hidden_layers, C = c->hidden_size, F = c->intermediate_size;
    int B = imp->batch, T = imp->seq, NHD = c->num_attention_heads * c->head_dim;
    if (computed != NULL) {
        *computed = 0;
    }
    if (imp->removal != NULL) {
        return 0;
    }
    if (L != imp->layers || B < 1 || T < 1 || n < (size_t)T + 1) {
        return hn_error_set(err, NULL,
                            "importance: removal needs the scores' backbone and at "
                            "least seq+1 tokens");
    }
    size_t N = (size_t)B * T, W = (size_t)imp->batches * B, span = n - (size_t)T - 1;
    int *inputs = malloc(N * sizeof(int)), *targets = malloc(N * sizeof(int));
    float *saved_o = malloc((size_t)C * NHD * sizeof(float));
    float *saved_d = malloc((size_t)C * F * sizeof(float));
    double *removal = calloc((size_t)L, sizeof(double));
    char *path = NULL;
    int rc = -1;
    double t0 = hn_monotonic();
    if (inputs == NULL || targets == NULL || saved_o == NULL || saved_d == NULL ||
        removal == NULL) {
        hn_error_set(err, NULL, "importance: out of memory");
        goto done;
    }
    for (int bt = 0; bt < imp->batches; bt++) {
        /* the calibration windows of hn_importance_compute, with their next tokens */
        for (int w = 0; w < B; w++) {
            size_t i = (size_t)bt * B + w;
            size_t start = W > 1 ? (size_t)((double)i * (double)span / (double)(W - 1)) : 0;
            for (int t = 0; t < T; t++) {
                inputs[(size_t)w * T + t] = tok[start + t];
                targets[(size_t)w * T + t] = tok[start + t + 1];
            }
        }
        double full, without;
        if (hn_llm_forward(m, inputs, targets, B, T, &full, err) != 0) {
            goto done;
        }
        for (int l = 0; l < L; l++) {
            /* zero the layer's output projections: the stream passes through unchanged */
            struct hn_llm_layer *lw = &m->w.layers[l];
            size_t no = (size_t)C * NHD, nd = (size_t)C * F;
            if (lw->wo != NULL) {
                memcpy(saved_o, lw->wo, no * sizeof(float));
                memset(lw->wo, 0, no * sizeof(float));
            }
            memcpy(saved_d, lw->wdown, nd * sizeof(float));
            memset(lw->wdown, 0, nd * sizeof(float));
            int frc = hn_llm_forward(m, inputs, targets, B, T, &without, err);
            if (lw->wo != NULL) {
                memcpy(lw->wo, saved_o, no * sizeof(float));
            }
            memcpy(lw->wdown, saved_d, nd * sizeof(float));
            if (frc != 0) {
                goto done;
            }
            removal[l] += (without - full) / imp->batches;
        }
    }
    imp->removal = removal;
    removal = NULL;
    if (computed != NULL) {
        *computed = 1;
    }
    hn_log(HN_LOG_INFO, "importance: loss when removed of %d layers in %.1f s", L,
           hn_monotonic() - t0);
    if (cache_dir != NULL) {
        char name[64];
        snprintf(name, sizeof(name), "importance-%s.json", imp->key);
        path = hn_path_join(cache_dir, name);
        if (path == NULL) {
            hn_error_set(err, NULL, "out of memory");
            goto done;
        }
        if (cache_store(imp, cache_dir, path, err) != 0) {
            goto done;
        }
    }
    rc = 0;
done:
    free(inputs);
    free(targets);
    free(saved_o);
    free(saved_d);
    free(removal);
    free(path);
    return rc;
}

void hn_importance_top_layers(const double *score, int L, int depth, int *layers)
{
    int k = 0;
    unsigned char taken[HN_LLM_MAX_LAYERS] = {0};
    for (int j = 0; j < depth && j < L; j++) {
        int best = -1;
        for (int l = 0; l < L; l++) {
            if (!taken[l] && (best < 0 || score[l] > score[best])) {
                best = l;
            }
        }
        taken[best] = 1;
    }
    for (int l = 0; l < L; l++) {
        if (taken[l]) {
            layers[k++] = l;
        }
    }
}

void hn_importance_keep_layers(const struct hn_importance *imp, int depth, int *layers)
{
    hn_importance_top_layers(imp->block, imp->layers, depth, layers);
}
