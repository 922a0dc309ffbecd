/*
 * hilnas/llm/model.h: a decoder-only Llama model: parameters, training forward/backward, AdamW,
 * threads.
 *
 * Architecture (Hugging Face LlamaForCausalLM): token embedding; per layer an optional attention
 * sub-block x += o_proj(attention(rope(q_proj(n)), rope(k_proj(n)), v_proj(n))) with
 * n = rmsnorm(x) (input_layernorm), then x += down_proj(silu(gate_proj(m)) * up_proj(m)) with
 * m = rmsnorm(x) (post_attention_layernorm); final rmsnorm; LM head (tied to the embedding or
 * separate). A layer with config.attention_layers[l] == 0 has no attention sub-block at all.
 * Grouped-query attention: num_attention_heads query heads share num_key_value_heads key/value
 * heads; head_dim is independent of hidden_size.
 *
 * Memory: all parameters live in one float block (model->params), carved by a tensor table
 * (model->tensors, sizes in size_t, Hugging Face names) that also drives checkpoints and weight
 * decay; gradients are one block of the same layout; activations one block, allocated by the
 * first forward (and again when B or T change), backward scratch one more.
 *
 * Thread safety: a model is used by one thread at a time; kernels use OpenMP (or, by default,
 * OpenBLAS) threads inside (see hn_llm_set_threads).
 */
#ifndef HILNAS_LLM_MODEL_H
#define HILNAS_LLM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "hilnas/error.h"
#include "hilnas/llm/cost.h" /* hn_llm_param_count, hn_llm_flops_per_token */
#include "hilnas/llm/llm_config.h"
#include "hilnas/llm/qmat.h"

/* One parameter tensor: Hugging Face name, shape, offset into the parameter block. */
struct hn_llm_tensor {
    char name[96];
    size_t ndim;
    size_t shape[2];
    size_t numel;
    size_t offset;
};

/* Pointers into a parameter (or gradient) block; attention members are NULL in skipped layers. */
struct hn_llm_layer {
    float *ln1;   /* (C) input_layernorm */
    float *wq;    /* (NH*HD, C) */
    float *wk;    /* (KVH*HD, C) */
    float *wv;    /* (KVH*HD, C) */
    float *wo;    /* (C, NH*HD) */
    float *ln2;   /* (C) post_attention_layernorm */
    float *wgate; /* (F, C) */
    float *wup;   /* (F, C) */
    float *wdown; /* (C, F) */
};

struct hn_llm_weights {
    float *embed;                /* (V, C) */
    struct hn_llm_layer *layers; /* num_hidden_layers entries */
    float *norm;                 /* (C) */
    float *lm_head;              /* (V, C); == embed when tied */
};

/* The matrices of one layer at the deployment precision (hn_llm_set_dtype); attention members
 * have rows == 0 in skipped layers. */
struct hn_llm_qlayer {
    struct hn_qmat wq, wk, wv, wo, wgate, wup, wdown;
};

struct hn_llm_acts; /* training activations, private to model.c */

struct hn_llm_model {
    struct hn_llm_config config;
    size_t n_tensors;
    struct hn_llm_tensor *tensors;
    size_t n_params;
    float *params; /* one block, n_params floats */
    struct hn_llm_weights w;
    float *grads; /* one block, n_params floats, same layout */
    struct hn_llm_weights g;
    float *rope_cos, *rope_sin; /* (max_position_embeddings, HD/2) */
    struct hn_llm_acts *acts;
    int naive; /* 1: use the naive reference kernels (tests, fallback) */
    /* deployment precision (hilnas/llm/decode.h, hn_llm_set_dtype): HN_DTYPE_F32 and qlayers NULL
     * until set; inference multiplies these copies, training and evaluation the F32 params
     * (rounded to the same values) */
    enum hn_dtype dtype;
    struct hn_llm_qlayer *qlayers; /* num_hidden_layers entries, or NULL */
    struct hn_qmat qhead;          /* LM head (V, C) */
};

/*
 * Create a model for config (validated here) with all parameters zero. Returns the model
 * (caller frees with hn_llm_model_free) or NULL with err set.
 */
struct hn_llm_model *hn_llm_model_new(const struct hn_llm_config *config, struct hn_error *err);

/* Free the model and everything it owns. NULL is allowed. */
void hn_llm_model_free(struct hn_llm_model *model);

/*
 * Initialize parameters deterministically from seed: matrices N(0, 0.02), the residual output
 * projections (o_proj, down_proj) N(0, 0.02 / sqrt(2 * layers)), norm weights 1.
 */
void hn_llm_model_randomize(struct hn_llm_model *model, uint64_t seed);

/* Index of a tensor by name in the table, or -1. */
long hn_llm_tensor_find(const struct hn_llm_model *model, const char *name);

/*
 * Training/evaluation forward over inputs (B,T) token ids. With targets (B,T) it computes the
 * mean cross-entropy (nats) into *loss and keeps what backward needs; with targets NULL it
 * leaves the logits (B,T,V) readable via hn_llm_logits(). T <= max_position_embeddings.
 * Returns 0, or -1 with err set (out of memory, bad token id, T too long).
 */
int hn_llm_forward(struct hn_llm_model *model, const int *inputs, const int *targets, int B, int T,
                   double *loss, struct hn_error *err);

/* The logits (B,T,V) of the last forward without targets (borrowed; valid until next call). */
const float *hn_llm_logits(const struct hn_llm_model *model);

/*
 * The softmax probabilities (B,T,V) of the last forward with targets, until backward consumes
 * them (else NULL). Writable on purpose: backward takes d(loss)/d(logits) = (probs - onehot) /
 * (B*T), so adding (B*T) g to them adds g to that gradient (logit distillation,
 * hilnas/llm/train.h).
 */
float *hn_llm_probs(struct hn_llm_model *model);

/*
 * Backward of the last forward (which must have had targets): ACCUMULATES d(mean loss)/d(param)
 * into model->grads (zero them with hn_llm_zero_grad). Returns 0 or -1 with err set.
 */
int hn_llm_backward(struct hn_llm_model *model, struct hn_error *err);

/* Zero the gradients. Returns 0. */
int hn_llm_zero_grad(struct hn_llm_model *model, struct hn_error *err);

/*
 * Run the engine on n threads as one pool: the kernels split their work over n OpenMP threads and
 * OpenBLAS is set to one thread (hilnas/llm/ops.h says why never both). n <= 0 takes
 * HILNAS_THREADS from
 * the environment, else OMP_NUM_THREADS, else the processors the process may run on. Without
 * OpenMP, n goes to OpenBLAS. Returns the count in effect. Not thread safe (process-wide).
 */
int hn_llm_set_threads(int n);

/*
 * Borrowed views of the activations the last hn_llm_forward() saved (valid until the next forward
 * or backward, which reuses the logits): for layer l < num_hidden_layers, in = res[l] (the
 * layer's input, (B*T, C)), ln1 (input_layernorm output; NULL when the layer skips attention),
 * attout ((B*T, NH*HD) attention output before o_proj; NULL when skipped), mid (residual after
 * attention), ln2 (post_attention_layernorm output), h ((B*T, F) silu(gate) * up), out = res[l+1].
 * For l == num_hidden_layers: in = the final norm's input, ln2 = its output, the rest NULL.
 * Returns 0, or -1 when there was no forward or l is out of range.
 */
struct hn_llm_act_view {
    int B, T;
    const float *in, *ln1, *attout, *mid, *ln2, *h, *out;
};
int hn_llm_activations(const struct hn_llm_model *model, int layer, struct hn_llm_act_view *v);

/*
 * Deployment precision (implemented in llm/decode.c): convert every matrix (projections, LM head,
 * and the embedding) to dtype for inference (model->qlayers, model->qhead) and round the F32
 * parameters in place to the values dtype represents, so that training-forward evaluation
 * (hilnas eval) and the embedding lookup see exactly the deployed weights. Norm weights stay
 * F32. HN_DTYPE_F32 drops earlier copies (the parameters stay as they are). A snapshot: after
 * changing the parameters, call again. Returns 0, or -1 with err set (out of memory; the model
 * is then back at F32 with its parameters possibly rounded).
 */
int hn_llm_set_dtype(struct hn_llm_model *model, enum hn_dtype dtype, struct hn_error *err);
/* Free the deployment copies (model->dtype back to F32). */
void hn_llm_dtype_free(struct hn_llm_model *model);

/* ---------------------------------------------------------------------------------------------
 * AdamW (decoupled weight decay, Loshchilov & Hutter), implemented in llm/adamw.c */

struct hn_adamw {
    size_t n;
    float *m, *v; /* first and second moments, n floats each (one block) */
    long t;       /* updates done */
    double beta1, beta2, eps, weight_decay;
};

/*
 * Allocate zero moments for n parameters; beta1 0.9, beta2 0.95, eps 1e-8, weight_decay 0.1
 * (change the fields after init). Returns 0 or -1 with err set. Free with hn_adamw_free.
 */
int hn_adamw_init(struct hn_adamw *opt, size_t n, struct hn_error *err);
void hn_adamw_free(struct hn_adamw *opt);

/*
 * One AdamW update of params[0..n) from grads at bias-correction step t (1-based), learning
 * rate lr, decoupled weight decay wd: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr * (m / (1-b1^t) / (sqrt(v / (1-b2^t)) + eps) + wd * p). m, v are the matching slices.
 */
void hn_adamw_kernel(float *params, const float *grads, float *m, float *v, size_t n, long t,
                     double lr, double beta1, double beta2, double eps, double wd);

/*
 * One AdamW step of the whole model: weight decay only on 2-D tensors (embedding, projections,
 * LM head), never on RMSNorm weights. Increments opt->t.
 */
void hn_llm_adamw_step(struct hn_llm_model *model, struct hn_adamw *opt, double lr);

/* Global L2 norm of the gradients; if max_norm > 0 and the norm exceeds it, scale all gradients
 * by max_norm / norm. Returns the norm before clipping. */
double hn_llm_clip_grad_norm(struct hn_llm_model *model, double max_norm);

/*
 * Learning rate at step (0-based) of total: linear warmup from lr_max/warmup to lr_max over
 * warmup steps, then cosine decay to lr_min at step total-1 (lr_min = lr_max/10 in the trainer).
 */
double hn_lr_schedule(long step, long total, long warmup, double lr_max, double lr_min);

#endif
