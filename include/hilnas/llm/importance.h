/*
 * hilnas/llm/importance.h: activation-based importance of a backbone's parts (Minitron-style), for
 * structured pruning, computed once per (backbone, calibration data, settings) and cached.
 *
 * Calibration: W = batches * batch windows of seq+1 tokens, evenly spaced over the token file
 * (window i starts at floor(i * (n - seq - 1) / W)): deterministic, no RNG, covering all of it.
 * The backbone runs forward (no training) on each batch of windows. Scores, each aggregated as
 * Minitron recommends (mean over the batch of windows, L2 over the sequence):
 *
 *   channels[j]       hidden channel j: sum over every RMSNorm output of the model (each layer's
 *                     input_layernorm and post_attention_layernorm, the final norm) of
 *                     mean_w sqrt(sum_t n[w,t,j]^2), n the norm's output (normalized residual);
 *   heads[l*NH+h]     query head h of layer l: mean_w sqrt(sum_t ||y[w,t]||^2), y the head's
 *                     contribution to the residual stream (its attention output times its o_proj
 *                     columns); 0 in layers without attention;
 *   neurons[l*F+i]    FFN neuron i: mean_w sqrt(sum_t h[w,t,i]^2) * ||down_proj[:, i]||, i.e. the
 *                     norm of its contribution to the residual (h = silu(gate) * up);
 *   block[l]          1 - the mean over tokens of cos(x_l, x_{l+1}) (input and output of layer l;
 *                     ShortGPT's block influence): how much the layer changes the stream;
 *   attention[l]      1 - the mean over tokens of cos(x_l, mid_l) (input and output of the
 *                     attention sub-block): how much losing the layer's attention would change
 *                     the stream; 0 in layers without attention.
 * KV heads (GQA) are scored by the sum of their query group's scores (the pruner does that).
 *
 * Cache: <cache_dir>/importance-<key>.json, key = 128-bit FNV-1a hash of a format tag, the
 * backbone's configuration and parameter bytes, the calibration token file's bytes and
 * (batches, batch, seq). A changed backbone, data or setting gives another key, so a stale file
 * is never read; a file that does not parse or does not match the backbone is recomputed and
 * replaced (a warning says so). Files are written atomically; deleting them is always safe.
 *
 * Thread safety: one call at a time per backbone model (it runs forwards on it).
 */
#ifndef HILNAS_LLM_IMPORTANCE_H
#define HILNAS_LLM_IMPORTANCE_H

#include <stddef.h>
#include <stdint.h>

#include "hilnas/error.h"
#include "hilnas/llm/model.h"
#include "hilnas/progress.h"

struct hn_importance {
    int layers, hidden, heads, ffn; /* the backbone's shape */
    double *channels;               /* hidden */
    double *head;                   /* layers * heads */
    double *neurons;                /* layers * ffn */
    double *block;                  /* layers */
    double *attention;              /* layers */
    int batches, batch, seq;        /* the calibration */
    char key[33];                   /* hex content key */
};

/* The cache key of (backbone, tokens, settings) as 32 hex digits + NUL into key. */
void hn_importance_key(const struct hn_llm_model *backbone, const uint16_t *tok, size_t n,
                       int batches, int batch, int seq, char key[33]);

/*
 * Compute the scores above on tok[0..n) (token ids checked against the vocabulary by the
 * forward). progress (may be NULL) hears "computing importance, batch i/batches". Returns a
 * new object (hn_importance_free) or NULL with err set (n < seq + 1, out of
 * memory, bad token).
 */
struct hn_importance *hn_importance_compute(struct hn_llm_model *backbone, const uint16_t *tok,
                                            size_t n, int batches, int batch, int seq,
                                            struct hn_progress *progress, struct hn_error *err);

/*
 * The scores from cache_dir when a file with the key exists and matches, else computed and
 * stored there (cache_dir is created; NULL: not cached). *computed (may be NULL) is set to 1
 * when they were computed. Returns the object or NULL with err set (including an unwritable
 * cache directory, an environment error).
 */
struct hn_importance *hn_importance_get(struct hn_llm_model *backbone, const uint16_t *tok,
                                        size_t n, int batches, int batch, int seq,
                                        const char *cache_dir, int *computed,
                                        struct hn_progress *progress, struct hn_error *err);

/* Read / write the JSON form (the cache files). read returns NULL with err set on any mismatch
 * with the expected key (NULL: any) or malformed content. */
struct hn_importance *hn_importance_read(const char *path, const char *key, struct hn_error *err);
int hn_importance_write(const struct hn_importance *imp, const char *path, struct hn_error *err);

void hn_importance_free(struct hn_importance *imp);

/*
 * The `depth` most important layers by block importance (ties: lower index first) into
 * layers[0..depth), in increasing order. depth <= imp->layers.
 */
void hn_importance_keep_layers(const struct hn_importance *imp, int depth, int *layers);

#endif
