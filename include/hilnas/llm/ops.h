/*
 * hilnas/llm/ops.h: the kernels of the transformer engine, as _forward/_backward pairs.
 *
 * Shapes are written outputs first. Dimension names: B batch, T time (sequence), C input channels,
 * OC output channels; NH query heads, KVH key/value heads, HD head dimension, V vocabulary. A
 * "row" count N stands for B*T where batch and time do not matter.
 *
 * Every backward ACCUMULATES (+=) into its gradient outputs, so gradients flowing into one tensor
 * from several places add up; callers zero the buffers first. Kernels with a _naive twin are the
 * plain-loop references the tests compare the BLAS versions against.
 *
 * Threading: one pool. By default (hn_ops_threads() == 1) the matrix products run in OpenBLAS's
 * threads and everything else on the calling thread. After hn_ops_set_threads(n > 1), which the
 * caller pairs with openblas_set_num_threads(1) (hn_llm_set_threads does both), every kernel
 * splits its work over n OpenMP threads (matmul rows, attention heads, elementwise rows), each
 * calling single-threaded BLAS. Alternating OpenMP loops with a multithreaded pthreads OpenBLAS
 * made both pools spin-wait against each other on 2 cores (2M-parameter training: 1310 tokens/s
 * against 5887 with OpenMP off), hence never both. All functions are reentrant on distinct
 * buffers.
 */
#ifndef HILNAS_LLM_OPS_H
#define HILNAS_LLM_OPS_H

#include <stddef.h>

/*
 * Threads the kernels split their work over (see above); n <= 1 means none (OpenBLAS threads
 * the products). A setting of the calling thread, like OpenMP's omp_set_num_threads: kernels
 * run by this thread use it, other threads keep their own (each worker of the `threads`
 * executor sets its evaluation's count), and inside the kernels' parallel regions it is 1.
 * libhilnas-llm is one shared library, so the CLI and every plugin see the same setting on a
 * given thread. Set it with hn_llm_set_threads, which also sizes OpenMP for this thread and
 * keeps OpenBLAS (process-wide) on one thread.
 */
void hn_ops_set_threads(int n);
int hn_ops_threads(void);

/* Alignment of every array hn_llm_big_calloc returns: a cache line, one AVX-512 vector. */
#define HN_LLM_ALIGN 64

/* Zeroed memory for an array the kernels stream (weights, KV caches, inference scratch), placed
 * the same way whatever the process allocated and freed before (a model's speed depends on
 * where its arrays lie): below 64 KiB from the heap aligned to HN_LLM_ALIGN; from 64 KiB an
 * anonymous mapping of its own, page-aligned; from 2 MiB aligned to 2 MiB and advised to use
 * transparent huge pages, so that streaming it (decode reads every weight once per token) takes
 * few TLB misses. Mapped pages are zero and untouched until used. NULL if out of memory (or n *
 * size overflows). Free with hn_llm_big_free and the same n and size. */
void *hn_llm_big_calloc(size_t n, size_t size);
void hn_llm_big_free(void *p, size_t n, size_t size);

/* Below this many multiply-adds (or elements) a kernel stays on the calling thread. */
#define HN_OPS_PAR_MIN_WORK 32768
/* A one-row product (decode) is shared over the threads from this many weights (256 KiB):
 * streaming less costs less than waking the other threads. Decode attention uses the same
 * bound on NH * context * HD. */
#define HN_OPS_GEMV_PAR_MIN 65536

/*
 * [*lo, *hi): thread t's share of n items split over nt threads, boundaries multiples of align
 * (except n itself). Shares differ by at most one block of align items.
 */
void hn_ops_share(size_t n, size_t align, int t, int nt, size_t *lo, size_t *hi);

/* out (N,OC) = inp (N,C) . weight^T (OC,C); N == 1 uses sgemv. */
void hn_matmul_forward(float *out, const float *inp, const float *weight, size_t N, size_t C,
                       size_t OC);
void hn_matmul_forward_naive(float *out, const float *inp, const float *weight, size_t N, size_t C,
                             size_t OC);
/* dinp (N,C) += dout (N,OC) . weight (OC,C); dweight (OC,C) += dout^T . inp. Either may be NULL. */
void hn_matmul_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                        const float *weight, size_t N, size_t C, size_t OC);
void hn_matmul_backward_naive(float *dinp, float *dweight, const float *dout, const float *inp,
                              const float *weight, size_t N, size_t C, size_t OC);

/* out (N,C) = inp * rstd * weight (C); rstd (N) = 1 / sqrt(mean(inp^2) + eps); rstd may be NULL. */
void hn_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *weight, size_t N,
                        size_t C, float eps);
/* dinp (N,C) +=, dweight (C) += ; uses the rstd saved by the forward. */
void hn_rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                         const float *weight, const float *rstd, size_t N, size_t C);

/*
 * Rotary position embedding tables, Hugging Face Llama convention: inv_freq[i] =
 * theta^(-2i/HD), angle = pos * inv_freq[i], for i < HD/2. cos/sin (max_pos, HD/2). Angles are
 * computed in double and rounded once.
 */
void hn_rope_tables(float *cos_table, float *sin_table, size_t max_pos, size_t HD, double theta);
/*
 * In place on x (N, NH, HD), row n at position pos[n] (pos NULL: row n of each of the B blocks of
 * T rows is at position n % T, start + n % T). HF's rotate_half pairs dims i and i + HD/2:
 * x1' = x1 cos - x2 sin, x2' = x2 cos + x1 sin.
 */
void hn_rope_forward(float *x, const float *cos_table, const float *sin_table, size_t N, size_t T,
                     size_t start, size_t NH, size_t HD);
/* In place on dx: the transposed rotation. Same arguments as the forward. */
void hn_rope_backward(float *dx, const float *cos_table, const float *sin_table, size_t N, size_t T,
                      size_t start, size_t NH, size_t HD);

/*
 * Causal grouped-query attention, softmax scale 1/sqrt(HD); query head h reads key/value head
 * h / (NH/KVH) (HF repeat_kv). out (B,T,NH,HD), att (B,NH,T,T) saved probabilities (upper
 * triangle zero); q (B,T,NH,HD), k, v (B,T,KVH,HD).
 */
void hn_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                          size_t B, size_t T, size_t NH, size_t KVH, size_t HD);
void hn_attention_forward_naive(float *out, float *att, const float *q, const float *k,
                                const float *v, size_t B, size_t T, size_t NH, size_t KVH,
                                size_t HD);
/* In place on row[0..last]: softmax (max-subtracted, single precision); row[last+1..len) = 0. */
void hn_causal_softmax_row(float *row, size_t last, size_t len);

/* dq, dk, dv +=; datt (B,NH,T,T) is scratch (overwritten). */
void hn_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
                           const float *q, const float *k, const float *v, const float *att,
                           size_t B, size_t T, size_t NH, size_t KVH, size_t HD);
void hn_attention_backward_naive(float *dq, float *dk, float *dv, float *datt, const float *dout,
                                 const float *q, const float *k, const float *v, const float *att,
                                 size_t B, size_t T, size_t NH, size_t KVH, size_t HD);

/* out (N,F) = silu(gate) * up; gate, up (N,F). */
void hn_swiglu_forward(float *out, const float *gate, const float *up, size_t N, size_t F);
/* dgate, dup (N,F) += */
void hn_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                        const float *up, size_t N, size_t F);

/* out (N,C) = a + b (out may alias a). */
void hn_residual_forward(float *out, const float *a, const float *b, size_t N, size_t C);

/* out (B*T,C) = wte[tokens]; tokens (B*T) in [0, V). */
void hn_embedding_forward(float *out, const int *tokens, const float *wte, size_t N, size_t C);
/* dwte (V,C) += scattered dout (N,C). */
void hn_embedding_backward(float *dwte, const float *dout, const int *tokens, size_t N, size_t C);

/*
 * Softmax cross-entropy. probs (N,V) = softmax(logits) (may alias logits); losses (N) =
 * -log probs[target]. Returns the mean loss, summed in double.
 */
double hn_crossentropy_forward(float *losses, float *probs, const float *logits, const int *targets,
                               size_t N, size_t V);
/* dlogits (N,V) = (probs - onehot(target)) * dloss, overwritten (dlogits may alias probs). */
void hn_crossentropy_backward(float *dlogits, const float *probs, const int *targets, size_t N,
                              size_t V, float dloss);

#endif
