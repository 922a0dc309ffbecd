/*
 * hilnas/llm/train.h: pretraining loop with validation, atomic checkpoints and resume; evaluation
 * over consecutive windows.
 *
 * Output directory of a run:
 *   OUT/log.jsonl        one JSON object per line: {"step", "train_loss", "lr", "grad_norm",
 *                        "tokens_per_s"} per step, {"step", "val_loss", "val_tokens"} per
 *                        validation, {"resumed_from": step} when a run resumes
 *   OUT/checkpoint-N/    model (config.json, model.safetensors), optimizer.safetensors (AdamW
 *                        moments "adamw.m", "adamw.v"), state.json (format, version, step, RNG)
 *   OUT/last             symlink to the newest complete checkpoint (replaced atomically)
 *   OUT/final/           the final model (config.json + model.safetensors)
 * A checkpoint is written to OUT/checkpoint-N.tmp and renamed, so a kill at any moment leaves
 * either the previous or the new checkpoint; running the same command again resumes from
 * OUT/last.
 *
 * Thread safety: one run per output directory; uses process-wide BLAS/OpenMP thread settings.
 */
#ifndef HILNAS_LLM_TRAIN_H
#define HILNAS_LLM_TRAIN_H

#include <stdint.h>

#include "hilnas/llm/model.h"

struct hn_llm_train_opts {
    struct hn_llm_config config; /* model shape; max_position_embeddings >= seq */
    int seq;                     /* T: tokens per training window */
    int batch;                   /* B: windows per step */
    long steps;                  /* optimizer steps in total */
    long warmup;                 /* linear warmup steps */
    double lr, min_lr;           /* peak and final learning rate (cosine) */
    double weight_decay;         /* AdamW decoupled decay on 2-D tensors */
    double grad_clip;            /* global gradient norm limit; <= 0: none */
    const char *data_dir;        /* holds train.bin and val.bin (uint16 tokens) */
    const char *out_dir;
    long eval_interval;       /* validate every N steps (and at the end); 0: only at the end */
    int eval_batches;         /* validation batches of B windows (consecutive windows) */
    long checkpoint_interval; /* checkpoint every N steps (and at the end); 0: only the end */
    long log_interval;        /* progress line every N steps when stderr is not a tty */
    long stop_after;          /* stop (as if killed) after this many steps; 0: never (tests) */
    uint64_t seed;
    int threads; /* <= 0: HILNAS_THREADS or library default */
    int quiet;   /* no progress lines */
};

/* Defaults: lr 3e-3 (min 3e-4), warmup 100, weight decay 0.1, clip 1.0, eval 8 batches. */
void hn_llm_train_opts_default(struct hn_llm_train_opts *o);

/*
 * Train (or resume) as described above. Returns 0, or -1 with err set (bad data, a different
 * run already in out_dir, I/O). Progress goes to stderr.
 */
int hn_llm_pretrain(const struct hn_llm_train_opts *o, struct hn_error *err);

/*
 * Mean cross-entropy (nats/token) over consecutive windows of T+1 tokens: window i is tokens
 * i*T .. i*T+T (inputs the first T, targets the last T), i < min(batches*B, (n-1)/T), in
 * batches of B windows (batches <= 0: all windows). *tokens receives the number of predicted
 * tokens. Returns 0, or -1 with err set (fewer than T+1 tokens, bad token ids).
 */
int hn_llm_eval_windows(struct hn_llm_model *model, const uint16_t *tok, size_t n, int T, int B,
                        long batches, double *loss, size_t *tokens, struct hn_error *err);

/*
 * Logit distillation (Hinton et al.) folded into the next backward. probs (N,V) are the
 * student's softmax probabilities from hn_llm_forward with targets (hn_llm_probs), teacher the
 * teacher's logits on the same inputs, tau the temperature, w in [0,1] the weight. Rewrites
 * probs so that hn_llm_backward computes the gradient of
 *     (1 - w) CE + w KD,   KD = tau^2 / N  sum_n KL(softmax(teacher_n / tau) || softmax(z_n / tau))
 * (z the student's logits; softmax(z / tau) is computed from probs as probs^(1/tau),
 * normalized). Returns KD (nats). With w = 0 probs are not touched (plain training, exactly).
 */
double hn_distill_apply(float *probs, const int *targets, const float *teacher, size_t N, size_t V,
                        double tau, double w);

#endif
