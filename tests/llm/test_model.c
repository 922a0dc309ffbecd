/*
 * Transformer engine: kernels against naive references and finite differences, whole-model
 * gradients (GQA, head_dim != hidden/heads, skipped layers, tied and untied heads), KV-cache
 * decoding against the full forward, attention skipping, RoPE against HF's formula, AdamW
 * against a hand computation, checkpoint round trip.
 *
 * Finite differences run in float, so every check is a central difference of a scalar loss
 * along a random direction, with the forward's accumulations in double (naive kernels); the
 * relative error of the directional derivative is printed and must stay below 1e-2, while a
 * wrong gradient is off by O(1).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/llm/checkpoint.h"
#include "hilnas/llm/decode.h"
#include "hilnas/llm/model.h"
#include "hilnas/llm/ops.h"
#include "hilnas/rng.h"
#include "tests/llm/fixtures.h"

static struct hn_rng test_rng;

static void fill(float *x, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(scale * hn_rng_normal(&test_rng));
    }
}

static float *randn(size_t n, double scale)
{
    float *x = malloc(n * sizeof(float));
    cr_assert(x != NULL);
    fill(x, n, scale);
    return x;
}

static float *zeros(size_t n)
{
    float *x = calloc(n, sizeof(float));
    cr_assert(x != NULL);
    return x;
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        s += (double)a[i] * b[i];
    }
    return s;
}

static double max_abs_diff(const float *a, const float *b, size_t n, double *scale)
{
    double worst = 0.0, big = 0.0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)a[i] - b[i]));
        big = fmax(big, fabs((double)b[i]));
    }
    if (scale != NULL) {
        *scale = big;
    }
    return worst;
}

static void init(void)
{
    hn_rng_seed(&test_rng, 12345);
}

TestSuite(llm, .init = init);

static struct hn_llm_config make_config(int L, int C, int NH, int KVH, int HD, int F, int V,
                                        int tie, const char *attention)
{
    struct hn_llm_config c = tu_config(L, C, NH, KVH, HD, F, V);
    c.rms_norm_eps = 1e-5;
    c.rope_theta = 10000.0;
    c.tie_word_embeddings = tie;
    for (int l = 0; l < HN_LLM_MAX_LAYERS; l++) {
        c.attention_layers[l] = 1;
    }
    for (int l = 0; attention != NULL && attention[l]; l++) {
        c.attention_layers[l] = (unsigned char)(attention[l] == '1');
    }
    return c;
}

/* A model with weights large enough that every path is non-linear (std 0.3, norms 1 +- 0.2). */
static struct hn_llm_model *test_model(const struct hn_llm_config *c, uint64_t seed)
{
    struct hn_error err;
    struct hn_llm_model *m = hn_llm_model_new(c, &err);
    cr_assert(m != NULL, "%s", err.msg);
    hn_rng_seed(&test_rng, seed);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const struct hn_llm_tensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        for (size_t j = 0; j < t->numel; j++) {
            p[j] = (float)(t->ndim == 1 ? 1.0 + 0.2 * hn_rng_normal(&test_rng)
                                        : 0.3 * hn_rng_normal(&test_rng));
        }
    }
    return m;
}

static void random_tokens(int *x, size_t n, int V)
{
    for (size_t i = 0; i < n; i++) {
        x[i] = (int)hn_rng_below(&test_rng, (uint64_t)V);
    }
}

/* ---------------------------------------------------------------------------------------------
 * kernels: BLAS versions equal the naive references */

Test(llm, matmul_blas_equals_naive)
{
    size_t shapes[][3] = {{1, 17, 9}, {7, 33, 20}, {64, 48, 96}};
    for (size_t s = 0; s < 3; s++) {
        size_t N = shapes[s][0], C = shapes[s][1], OC = shapes[s][2];
        float *inp = randn(N * C, 1), *w = randn(OC * C, 1), *dout = randn(N * OC, 1);
        float *o1 = zeros(N * OC), *o2 = zeros(N * OC);
        float *di1 = randn(N * C, 1), *di2 = malloc(N * C * sizeof(float));
        float *dw1 = randn(OC * C, 1), *dw2 = malloc(OC * C * sizeof(float));
        memcpy(di2, di1, N * C * sizeof(float));
        memcpy(dw2, dw1, OC * C * sizeof(float));
        hn_matmul_forward(o1, inp, w, N, C, OC);
        hn_matmul_forward_naive(o2, inp, w, N, C, OC);
        hn_matmul_backward(di1, dw1, dout, inp, w, N, C, OC);
        hn_matmul_backward_naive(di2, dw2, dout, inp, w, N, C, OC);
        double scale, d;
        d = max_abs_diff(o1, o2, N * OC, &scale);
        cr_expect(d <= 1e-5 * scale, "forward %zux%zux%zu: max diff %g (scale %g)", N, C, OC, d,
                  scale);
        d = max_abs_diff(di1, di2, N * C, &scale);
        cr_expect(d <= 1e-5 * scale, "dinp: max diff %g (scale %g)", d, scale);
        d = max_abs_diff(dw1, dw2, OC * C, &scale);
        cr_expect(d <= 1e-5 * scale, "dweight: max diff %g (scale %g)", d, scale);
        free(inp), free(w), free(dout), free(o1), free(o2), free(di1), free(di2), free(dw1),
            free(dw2);
    }
}

Test(llm, attention_blas_equals_naive)
{
    size_t B = 2, T = 9, NH = 6, KVH = 2, HD = 5;
    size_t nq = B * T * NH * HD, nk = B * T * KVH * HD, na = B * NH * T * T;
    float *q = randn(nq, 1), *k = randn(nk, 1), *v = randn(nk, 1), *dout = randn(nq, 1);
    float *o1 = zeros(nq), *o2 = zeros(nq), *a1 = zeros(na), *a2 = zeros(na);
    float *dq1 = zeros(nq), *dq2 = zeros(nq), *dk1 = zeros(nk), *dk2 = zeros(nk);
    float *dv1 = zeros(nk), *dv2 = zeros(nk), *s1 = zeros(na), *s2 = zeros(na);
    hn_attention_forward(o1, a1, q, k, v, B, T, NH, KVH, HD);
    hn_attention_forward_naive(o2, a2, q, k, v, B, T, NH, KVH, HD);
    hn_attention_backward(dq1, dk1, dv1, s1, dout, q, k, v, a1, B, T, NH, KVH, HD);
    hn_attention_backward_naive(dq2, dk2, dv2, s2, dout, q, k, v, a2, B, T, NH, KVH, HD);
    double scale, d;
    d = max_abs_diff(o1, o2, nq, &scale);
    cr_expect(d <= 1e-5 * scale, "out: max diff %g", d);
    d = max_abs_diff(a1, a2, na, &scale);
    cr_expect(d <= 1e-5 * scale, "att: max diff %g", d);
    d = max_abs_diff(dq1, dq2, nq, &scale);
    cr_expect(d <= 1e-5 * scale, "dq: max diff %g", d);
    d = max_abs_diff(dk1, dk2, nk, &scale);
    cr_expect(d <= 1e-5 * scale, "dk: max diff %g", d);
    d = max_abs_diff(dv1, dv2, nk, &scale);
    cr_expect(d <= 1e-5 * scale, "dv: max diff %g", d);
    /* causality: rows sum to one, nothing above the diagonal */
    for (size_t r = 0; r < B * NH * T; r++) {
        size_t t = r % T;
        double sum = 0.0;
        for (size_t j = 0; j < T; j++) {
            sum += a1[r * T + j];
            if (j > t) {
                cr_expect(a1[r * T + j] == 0.0f);
            }
        }
        cr_expect(fabs(sum - 1.0) < 1e-5);
    }
    free(q), free(k), free(v), free(dout), free(o1), free(o2), free(a1), free(a2), free(dq1),
        free(dq2), free(dk1), free(dk2), free(dv1), free(dv2), free(s1), free(s2);
}

/* ---------------------------------------------------------------------------------------------
 * kernels against finite differences: L = sum(out * r) for a fixed random r */

#define FD_TOL 1e-2

static double rel_err(double analytic, double fd)
{
    return fabs(analytic - fd) / fmax(fmax(fabs(analytic), fabs(fd)), 1e-6);
}

struct op_case {
    const char *name;
    size_t n_in; /* inputs, packed in one array */
    size_t n_out;
    void (*forward)(float *out, const float *in);
    void (*backward)(float *din, const float *dout, const float *in, const float *out);
};

/* sizes of the op cases */
#define ON 5
#define OC_ 8
#define OF 6
#define OB 2
#define OT 4
#define ONH 4
#define OKVH 2
#define OHD 6
#define OV 7

static float op_rstd[ON];

static void rmsnorm_f(float *out, const float *in)
{
    hn_rmsnorm_forward(out, op_rstd, in, in + ON * OC_, ON, OC_, 1e-5f);
}
static void rmsnorm_b(float *din, const float *dout, const float *in, const float *out)
{
    hn_rmsnorm_backward(din, din + ON * OC_, dout, in, in + ON * OC_, op_rstd, ON, OC_);
}
static void matmul_f(float *out, const float *in)
{
    hn_matmul_forward(out, in, in + ON * OC_, ON, OC_, OF);
}
static void matmul_b(float *din, const float *dout, const float *in, const float *out)
{
    hn_matmul_backward(din, din + ON * OC_, dout, in, in + ON * OC_, ON, OC_, OF);
}
static void swiglu_f(float *out, const float *in)
{
    hn_swiglu_forward(out, in, in + ON * OF, ON, OF);
}
static void swiglu_b(float *din, const float *dout, const float *in, const float *out)
{
    hn_swiglu_backward(din, din + ON * OF, dout, in, in + ON * OF, ON, OF);
}
static float op_att[OB * ONH * OT * OT], op_datt[OB * ONH * OT * OT];
#define ATT_Q (OB * OT * ONH * OHD)
#define ATT_K (OB * OT * OKVH * OHD)
static void attention_f(float *out, const float *in)
{
    hn_attention_forward(out, op_att, in, in + ATT_Q, in + ATT_Q + ATT_K, OB, OT, ONH, OKVH, OHD);
}
static void attention_b(float *din, const float *dout, const float *in, const float *out)
{
    hn_attention_backward(din, din + ATT_Q, din + ATT_Q + ATT_K, op_datt, dout, in, in + ATT_Q,
                          in + ATT_Q + ATT_K, op_att, OB, OT, ONH, OKVH, OHD);
}
static float rope_cos[16 * OHD / 2], rope_sin[16 * OHD / 2];
static void rope_f(float *out, const float *in)
{
    memcpy(out, in, ATT_Q * sizeof(float));
    hn_rope_forward(out, rope_cos, rope_sin, OB * OT, OT, 3, ONH, OHD);
}
static void rope_b(float *din, const float *dout, const float *in, const float *out)
{
    float tmp[ATT_Q];
    memcpy(tmp, dout, sizeof(tmp));
    hn_rope_backward(tmp, rope_cos, rope_sin, OB * OT, OT, 3, ONH, OHD);
    for (size_t i = 0; i < ATT_Q; i++) {
        din[i] += tmp[i];
    }
}
/* cross-entropy: inputs are logits; the output is the per-row loss */
static const int ce_targets[ON] = {0, 6, 3, 3, 1};
static float ce_probs[ON * OV];
static void ce_f(float *out, const float *in)
{
    hn_crossentropy_forward(out, ce_probs, in, ce_targets, ON, OV);
}
static void ce_b(float *din, const float *dout, const float *in, const float *out)
{
    /* per-row upstream gradients dout[n]: dlogits row n = (p - y) * dout[n] */
    float tmp[ON * OV];
    for (size_t n = 0; n < ON; n++) {
        hn_crossentropy_backward(tmp + n * OV, ce_probs + n * OV, ce_targets + n, 1, OV, dout[n]);
    }
    for (size_t i = 0; i < ON * OV; i++) {
        din[i] += tmp[i];
    }
}

static const struct op_case op_cases[] = {
    {"rmsnorm", ON *OC_ + OC_, ON *OC_, rmsnorm_f, rmsnorm_b},
    {"matmul", ON *OC_ + OF *OC_, ON *OF, matmul_f, matmul_b},
    {"swiglu", 2 * ON *OF, ON *OF, swiglu_f, swiglu_b},
    {"attention", ATT_Q + 2 * ATT_K, ATT_Q, attention_f, attention_b},
    {"rope", ATT_Q, ATT_Q, rope_f, rope_b},
    {"crossentropy", ON *OV, ON, ce_f, ce_b},
};

static double op_loss(const struct op_case *oc, const float *in, const float *r, float *out)
{
    oc->forward(out, in);
    return dot(out, r, oc->n_out);
}

Test(llm, ops_match_finite_differences)
{
    hn_rope_tables(rope_cos, rope_sin, 16, OHD, 10000.0);
    for (size_t c = 0; c < sizeof(op_cases) / sizeof(op_cases[0]); c++) {
        const struct op_case *oc = &op_cases[c];
        float *in = randn(oc->n_in, 1.0), *r = randn(oc->n_out, 1.0);
        float *out = zeros(oc->n_out), *din = zeros(oc->n_in), *dir = zeros(oc->n_in);
        oc->forward(out, in);
        oc->backward(din, r, in, out);
        double worst = 0.0;
        for (int trial = 0; trial < 8; trial++) {
            fill(dir, oc->n_in, 1.0);
            double analytic = dot(din, dir, oc->n_in), h = 1e-2;
            float *shifted = malloc(oc->n_in * sizeof(float));
            for (size_t i = 0; i < oc->n_in; i++) {
                shifted[i] = in[i] + (float)(h * dir[i]);
            }
            double lp = op_loss(oc, shifted, r, out);
            for (size_t i = 0; i < oc->n_in; i++) {
                shifted[i] = in[i] - (float)(h * dir[i]);
            }
            double lm = op_loss(oc, shifted, r, out);
            free(shifted);
            double fd = (lp - lm) / (2 * h), e = rel_err(analytic, fd);
            worst = fmax(worst, e);
            cr_expect(e < FD_TOL, "%s: directional derivative %g, finite difference %g", oc->name,
                      analytic, fd);
        }
        printf("op %-12s worst relative error %.2e\n", oc->name, worst);
        /* the forward state (rstd, att, probs) is restored for the next case */
        free(in), free(r), free(out), free(din), free(dir);
    }
}

Test(llm, embedding_backward_scatters)
{
    const int tokens[4] = {2, 0, 2, 1};
    float wte[3 * 2] = {1, 2, 3, 4, 5, 6}, out[4 * 2], dwte[3 * 2] = {0};
    float dout[4 * 2] = {1, 10, 100, 1000, 2, 20, 200, 2000};
    hn_embedding_forward(out, tokens, wte, 4, 2);
    cr_expect(out[0] == 5 && out[1] == 6 && out[2] == 1 && out[7] == 4);
    hn_embedding_backward(dwte, dout, tokens, 4, 2);
    cr_expect(dwte[0] == 100 && dwte[1] == 1000 && dwte[2] == 200 && dwte[3] == 2000);
    cr_expect(dwte[4] == 3 && dwte[5] == 30);
}

/* ---------------------------------------------------------------------------------------------
 * RoPE against a direct computation of Hugging Face's formula */

Test(llm, rope_matches_hf_formula)
{
    size_t HD = 10, NH = 3, P = 40;
    double theta = 500000.0;
    float *cos_t = zeros(P * HD / 2), *sin_t = zeros(P * HD / 2);
    hn_rope_tables(cos_t, sin_t, P, HD, theta);
    float *x = randn(2 * 5 * NH * HD, 1.0), *y = malloc(2 * 5 * NH * HD * sizeof(float));
    memcpy(y, x, 2 * 5 * NH * HD * sizeof(float));
    /* two sequences of 5 rows starting at position 31 */
    hn_rope_forward(y, cos_t, sin_t, 10, 5, 31, NH, HD);
    double worst = 0.0;
    for (size_t n = 0; n < 10; n++) {
        double pos = 31 + (double)(n % 5);
        for (size_t h = 0; h < NH; h++) {
            const float *q = x + (n * NH + h) * HD;
            for (size_t d = 0; d < HD; d++) {
                /* inv_freq = 1 / theta^(arange(0, HD, 2) / HD); emb = cat(freqs, freqs);
                 * q_embed = q * cos(emb) + rotate_half(q) * sin(emb), rotate_half = (-x2, x1) */
                size_t i = d % (HD / 2);
                double inv_freq = 1.0 / pow(theta, (double)(2 * i) / (double)HD);
                double emb = pos * inv_freq;
                double rot = d < HD / 2 ? -(double)q[d + HD / 2] : (double)q[d - HD / 2];
                double want = q[d] * cos(emb) + rot * sin(emb);
                double got = y[(n * NH + h) * HD + d];
                worst = fmax(worst, fabs(got - want));
            }
        }
    }
    printf("rope: worst difference to HF formula %.2e\n", worst);
    cr_expect(worst < 1e-5, "RoPE differs from HF's formula by %g", worst);
    free(cos_t), free(sin_t), free(x), free(y);
}

/* ---------------------------------------------------------------------------------------------
 * whole model */

static double model_loss(struct hn_llm_model *m, const int *in, const int *tg, int B, int T)
{
    double loss = 0.0;
    struct hn_error err;
    cr_assert(hn_llm_forward(m, in, tg, B, T, &loss, &err) == 0, "%s", err.msg);
    return loss;
}

static void check_model_gradients(const struct hn_llm_config *c, const char *what)
{
    int B = 2, T = 7;
    struct hn_llm_model *m = test_model(c, 99);
    struct hn_error err;
    int in[2 * 7], tg[2 * 7];
    random_tokens(in, 14, c->vocab_size);
    random_tokens(tg, 14, c->vocab_size);
    m->naive = 1; /* double accumulations: less noise in the finite differences */
    hn_llm_zero_grad(m, &err);
    model_loss(m, in, tg, B, T);
    cr_assert(hn_llm_backward(m, &err) == 0, "%s", err.msg);
    float *grads = malloc(m->n_params * sizeof(float));
    memcpy(grads, m->grads, m->n_params * sizeof(float));
    float *dir = zeros(m->n_params), *saved = malloc(m->n_params * sizeof(float));
    memcpy(saved, m->params, m->n_params * sizeof(float));
    double worst = 0.0;
    const char *worst_name = "";
    /* one direction per tensor (every gradient is checked), then one over all parameters */
    for (size_t i = 0; i <= m->n_tensors; i++) {
        size_t off = i < m->n_tensors ? m->tensors[i].offset : 0;
        size_t len = i < m->n_tensors ? m->tensors[i].numel : m->n_params;
        const char *name = i < m->n_tensors ? m->tensors[i].name : "(all parameters)";
        memset(dir, 0, m->n_params * sizeof(float));
        fill(dir + off, len, 1.0);
        double analytic = dot(grads, dir, m->n_params);
        double h = 1e-3 / sqrt((double)len / 64.0 + 1.0); /* truncation ~h^2, noise ~1/h */
        for (size_t j = 0; j < m->n_params; j++) {
            m->params[j] = saved[j] + (float)(h * dir[j]);
        }
        double lp = model_loss(m, in, tg, B, T);
        for (size_t j = 0; j < m->n_params; j++) {
            m->params[j] = saved[j] - (float)(h * dir[j]);
        }
        double lm = model_loss(m, in, tg, B, T);
        memcpy(m->params, saved, m->n_params * sizeof(float));
        double fd = (lp - lm) / (2 * h), e = rel_err(analytic, fd);
        if (e > worst) {
            worst = e;
            worst_name = name;
        }
        cr_expect(e < FD_TOL, "%s: %s: directional derivative %g, finite difference %g", what, name,
                  analytic, fd);
    }
    printf("model %-40s worst relative error %.2e (%s)\n", what, worst, worst_name);
    /* the BLAS path gives the same gradients */
    m->naive = 0;
    hn_llm_zero_grad(m, &err);
    model_loss(m, in, tg, B, T);
    cr_assert(hn_llm_backward(m, &err) == 0);
    double scale, d = max_abs_diff(m->grads, grads, m->n_params, &scale);
    cr_expect(d <= 1e-4 * scale, "%s: BLAS gradients differ from naive by %g (scale %g)", what, d,
              scale);
    free(grads), free(dir), free(saved);
    hn_llm_model_free(m);
}

Test(llm, model_gradients_gqa_skip_untied)
{
    /* head_dim 6 != hidden/heads = 4; 4 query heads share 2 kv heads; layer 1 skips attention */
    struct hn_llm_config c = make_config(3, 16, 4, 2, 6, 24, 11, 0, "101");
    check_model_gradients(&c, "GQA, head_dim 6, layer 1 skipped, untied");
}

Test(llm, model_gradients_tied_mha)
{
    struct hn_llm_config c = make_config(2, 12, 3, 3, 4, 20, 9, 1, NULL);
    check_model_gradients(&c, "MHA, tied head");
}

Test(llm, model_gradients_multi_query_all_skipped_but_first)
{
    struct hn_llm_config c = make_config(3, 8, 4, 1, 2, 16, 5, 1, "100");
    check_model_gradients(&c, "MQA (1 kv head), head_dim 2, layers 1-2 skipped");
}

Test(llm, skipped_layer_equals_zero_output_projection)
{
    struct hn_llm_config skip = make_config(3, 16, 4, 2, 6, 24, 11, 0, "101");
    struct hn_llm_config full = make_config(3, 16, 4, 2, 6, 24, 11, 0, NULL);
    struct hn_llm_model *a = test_model(&skip, 5), *b = test_model(&full, 6);
    for (size_t i = 0; i < a->n_tensors; i++) {
        long j = hn_llm_tensor_find(b, a->tensors[i].name);
        cr_assert(j >= 0, "%s missing from the full model", a->tensors[i].name);
        memcpy(b->params + b->tensors[j].offset, a->params + a->tensors[i].offset,
               a->tensors[i].numel * sizeof(float));
    }
    cr_assert(b->n_tensors == a->n_tensors + 5);
    cr_assert(hn_llm_tensor_find(a, "model.layers.1.input_layernorm.weight") < 0);
    cr_assert(hn_llm_tensor_find(a, "model.layers.1.self_attn.q_proj.weight") < 0);
    memset(b->w.layers[1].wo, 0, 16 * 24 * sizeof(float));
    int B = 2, T = 9, in[18];
    random_tokens(in, 18, 11);
    struct hn_error err;
    cr_assert(hn_llm_forward(a, in, NULL, B, T, NULL, &err) == 0);
    cr_assert(hn_llm_forward(b, in, NULL, B, T, NULL, &err) == 0);
    double scale, d = max_abs_diff(hn_llm_logits(a), hn_llm_logits(b), 18 * 11, &scale);
    printf("skip vs zero o_proj: max logit difference %.2e (scale %.2f)\n", d, scale);
    cr_expect(d <= 1e-6 * scale, "logits differ by %g", d);
    hn_llm_model_free(a);
    hn_llm_model_free(b);
}

static void check_decode(const struct hn_llm_config *c, int prefill, int chunk)
{
    int T = 23, V = c->vocab_size;
    struct hn_llm_model *m = test_model(c, 17);
    struct hn_error err;
    int tokens[23];
    random_tokens(tokens, 23, V);
    cr_assert(hn_llm_forward(m, tokens, NULL, 1, T, NULL, &err) == 0, "%s", err.msg);
    const float *full = hn_llm_logits(m);
    float *got = zeros((size_t)T * V);
    struct hn_llm_infer *inf = hn_llm_infer_new(m, 30, chunk, &err);
    cr_assert(inf != NULL, "%s", err.msg);
    cr_assert(hn_llm_infer_forward(inf, tokens, prefill, got, 1, &err) == 0, "%s", err.msg);
    for (int t = prefill; t < T; t++) {
        cr_assert(hn_llm_infer_forward(inf, tokens + t, 1, got + (size_t)t * V, 0, &err) == 0);
    }
    double worst = 0.0;
    for (int t = 0; t < T; t++) {
        double scale,
            d = max_abs_diff(got + (size_t)t * V, full + (size_t)t * V, (size_t)V, &scale);
        worst = fmax(worst, d / scale);
        cr_expect(d <= 1e-4 * scale, "position %d: decode logits differ by %g (scale %g)", t, d,
                  scale);
    }
    printf("decode (prefill %d, chunk %d): worst relative logit difference %.2e\n", prefill, chunk,
           worst);
    /* the cache refuses to overflow */
    cr_expect(hn_llm_infer_forward(inf, tokens, 8, NULL, 0, &err) == -1);
    hn_llm_infer_free(inf);
    free(got);
    hn_llm_model_free(m);
}

Test(llm, kv_cache_decode_equals_full_forward)
{
    struct hn_llm_config c = make_config(3, 16, 4, 2, 6, 24, 11, 0, "101");
    check_decode(&c, 1, 0);
    check_decode(&c, 9, 4); /* chunked prefill */
    struct hn_llm_config t = make_config(2, 32, 8, 2, 8, 40, 50, 1, NULL);
    check_decode(&t, 5, 0);
}

/* Everything the engine computes for one training step and one decode, on `threads` threads. */
struct run {
    double loss;
    float *logits, *grads, *params, *decoded;
};

static struct run run_on_threads(const struct hn_llm_config *c, int threads, int B, int T,
                                 int prefill, int decode)
{
    struct run r;
    struct hn_error err;
    cr_assert(hn_llm_set_threads(threads) == threads);
    cr_assert(hn_ops_threads() == threads);
    struct hn_llm_model *m = test_model(c, 21);
    size_t V = (size_t)c->vocab_size, N = (size_t)B * T;
    int *in = malloc(N * sizeof(int)), *tg = malloc(N * sizeof(int));
    hn_rng_seed(&test_rng, 22);
    random_tokens(in, N, (int)V);
    random_tokens(tg, N, (int)V);
    cr_assert(hn_llm_forward(m, in, NULL, B, T, NULL, &err) == 0, "%s", err.msg);
    r.logits = malloc(N * V * sizeof(float));
    memcpy(r.logits, hn_llm_logits(m), N * V * sizeof(float));
    struct hn_adamw opt;
    cr_assert(hn_adamw_init(&opt, m->n_params, &err) == 0);
    hn_llm_zero_grad(m, &err);
    cr_assert(hn_llm_forward(m, in, tg, B, T, &r.loss, &err) == 0, "%s", err.msg);
    cr_assert(hn_llm_backward(m, &err) == 0, "%s", err.msg);
    r.grads = malloc(m->n_params * sizeof(float));
    memcpy(r.grads, m->grads, m->n_params * sizeof(float));
    /* the update from the same gradients in both runs: AdamW's first step is about lr * sign(g),
     * so gradients equal to rounding would still flip the tiny ones */
    hn_rng_seed(&test_rng, 23);
    fill(m->grads, m->n_params, 0.1);
    hn_llm_clip_grad_norm(m, 1.0);
    hn_llm_adamw_step(m, &opt, 1e-3);
    r.params = malloc(m->n_params * sizeof(float));
    memcpy(r.params, m->params, m->n_params * sizeof(float));
    hn_adamw_free(&opt);
    /* prefill then one token at a time, logits of every decoded position */
    struct hn_llm_infer *inf = hn_llm_infer_new(m, prefill + decode, 0, &err);
    cr_assert(inf != NULL, "%s", err.msg);
    int *seq = malloc((size_t)(prefill + decode) * sizeof(int));
    random_tokens(seq, (size_t)(prefill + decode), (int)V);
    r.decoded = malloc((size_t)(decode + 1) * V * sizeof(float));
    cr_assert(hn_llm_infer_forward(inf, seq, prefill, r.decoded, 0, &err) == 0, "%s", err.msg);
    for (int i = 0; i < decode; i++) {
        cr_assert(
            hn_llm_infer_forward(inf, seq + prefill + i, 1, r.decoded + (i + 1) * V, 0, &err) == 0);
    }
    hn_llm_infer_free(inf);
    free(seq);
    free(in);
    free(tg);
    hn_llm_model_free(m);
    return r;
}

static void expect_close(const char *what, const float *got, const float *want, size_t n,
                         double rel)
{
    double scale, d = max_abs_diff(got, want, n, &scale);
    printf("2 threads vs 1, %s: max difference %.2e (scale %.2e)\n", what, d, scale);
    cr_expect(scale > 0 && d <= rel * scale, "%s differ by %g (scale %g)", what, d, scale);
}

/* Big enough that every kernel shares its work (products >= 32768 multiply-adds, FFN weights
 * and the decode cache >= 65536 floats), with GQA, a skipped layer and an untied head. */
Test(llm, two_threads_compute_what_one_thread_computes)
{
    struct hn_llm_config c = make_config(3, 128, 4, 2, 32, 512, 300, 0, "101");
    c.max_position_embeddings = 1024;
    int B = 3, T = 70, prefill = 600, decode = 6;
    struct run one = run_on_threads(&c, 1, B, T, prefill, decode);
    struct run two = run_on_threads(&c, 2, B, T, prefill, decode);
    size_t n_params = hn_llm_param_count(&c), V = 300, N = (size_t)B * T;
    printf("loss: 1 thread %.9f, 2 threads %.9f\n", one.loss, two.loss);
    cr_expect(fabs(one.loss - two.loss) <= 1e-6 * fabs(one.loss));
    /* products split differently sum in a different order: rounding, where a wrong split or a
     * race is off by O(1) */
    expect_close("logits", two.logits, one.logits, N * V, 3e-5);
    expect_close("gradients", two.grads, one.grads, n_params, 3e-5);
    expect_close("parameters after clipping + AdamW", two.params, one.params, n_params, 1e-6);
    expect_close("decode logits", two.decoded, one.decoded, (size_t)(decode + 1) * V, 3e-5);
    struct run *runs[2] = {&one, &two};
    for (int i = 0; i < 2; i++) {
        free(runs[i]->logits);
        free(runs[i]->grads);
        free(runs[i]->params);
        free(runs[i]->decoded);
    }
}

Test(llm, sampling)
{
    float logits[5] = {0.1f, 2.0f, -1.0f, 2.0f, 1.9f};
    struct hn_rng rng;
    hn_rng_seed(&rng, 3);
    cr_expect(hn_llm_sample(logits, 5, 0.0, 0, &rng) == 1, "greedy takes the first maximum");
    int counts[5] = {0};
    for (int i = 0; i < 3000; i++) {
        counts[hn_llm_sample(logits, 5, 1.0, 3, &rng)]++;
    }
    cr_expect(counts[0] == 0 && counts[2] == 0, "top-3 never samples outside the top 3");
    /* p(1) = p(3) = e^2 / (2 e^2 + e^1.9) = 0.3448 */
    cr_expect(fabs(counts[1] / 3000.0 - 0.3448) < 0.04, "p(1) = %g", counts[1] / 3000.0);
}

/* ---------------------------------------------------------------------------------------------
 * AdamW, schedule, clipping */

Test(llm, adamw_matches_hand_computation)
{
    float p[2] = {1.0f, -2.0f}, m[2] = {0}, v[2] = {0};
    float g1[2] = {0.5f, -1.0f}, g2[2] = {-0.25f, 3.0f};
    double lr = 0.1, b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.01;
    hn_adamw_kernel(p, g1, m, v, 2, 1, lr, b1, b2, eps, wd);
    hn_adamw_kernel(p, g2, m, v, 2, 2, lr, b1, b2, eps, wd);
    /* by hand, element 0: step 1: m = 0.05, v = 0.0125, mhat = 0.5, vhat = 0.25,
     * p = 1 - 0.1 (0.5/0.5 + 0.01) = 0.899; step 2: m = 0.045 - 0.025 = 0.02,
     * v = 0.011875 + 0.003125 = 0.015, mhat = 0.02/0.19, vhat = 0.015/0.0975,
     * p = 0.899 - 0.1 (0.105263/0.392232 + 0.00899) */
    double mhat = 0.02 / 0.19, vhat = 0.015 / 0.0975;
    double want0 = 0.899 - 0.1 * (mhat / (sqrt(vhat) + eps) + 0.01 * 0.899);
    cr_expect(fabs(p[0] - want0) < 1e-6, "p0 = %.9f, hand %.9f", p[0], want0);
    /* element 1: step 1: mhat = -1, vhat = 1, p = -2 - 0.1 (-1 - 0.02) = -1.898;
     * step 2: m = -0.09 + 0.3 = 0.21, v = 0.0475 + 0.45 = 0.4975 */
    double mh1 = 0.21 / 0.19, vh1 = 0.4975 / 0.0975;
    double want1 = -1.898 - 0.1 * (mh1 / (sqrt(vh1) + eps) + 0.01 * -1.898);
    cr_expect(fabs(p[1] - want1) < 1e-6, "p1 = %.9f, hand %.9f", p[1], want1);
}

Test(llm, adamw_decays_matrices_only)
{
    struct hn_llm_config c = make_config(2, 8, 2, 1, 4, 16, 5, 0, "10");
    struct hn_llm_model *model = test_model(&c, 1);
    struct hn_adamw opt;
    struct hn_error err;
    cr_assert(hn_adamw_init(&opt, model->n_params, &err) == 0);
    opt.weight_decay = 0.5;
    float *before = malloc(model->n_params * sizeof(float));
    memcpy(before, model->params, model->n_params * sizeof(float));
    hn_llm_zero_grad(model, &err);
    hn_llm_adamw_step(model, &opt, 0.1);
    for (size_t i = 0; i < model->n_tensors; i++) {
        const struct hn_llm_tensor *t = &model->tensors[i];
        for (size_t j = 0; j < t->numel; j++) {
            float want =
                t->ndim == 2 ? before[t->offset + j] * (1.0f - 0.05f) : before[t->offset + j];
            cr_expect(fabsf(model->params[t->offset + j] - want) <= 1e-6f * fabsf(want),
                      "%s[%zu] = %g, expected %g", t->name, j, model->params[t->offset + j], want);
        }
    }
    cr_expect(opt.t == 1);
    free(before);
    hn_adamw_free(&opt);
    hn_llm_model_free(model);
}

Test(llm, clip_and_schedule)
{
    struct hn_llm_config c = make_config(1, 4, 1, 1, 4, 4, 3, 1, NULL);
    struct hn_llm_model *model = test_model(&c, 1);
    for (size_t i = 0; i < model->n_params; i++) {
        model->grads[i] = 2.0f;
    }
    double norm = hn_llm_clip_grad_norm(model, 1.0);
    cr_expect(fabs(norm - 2.0 * sqrt((double)model->n_params)) < 1e-6 * norm);
    double ss = 0.0;
    for (size_t i = 0; i < model->n_params; i++) {
        ss += (double)model->grads[i] * model->grads[i];
    }
    cr_expect(fabs(sqrt(ss) - 1.0) < 1e-5, "norm after clipping %g", sqrt(ss));
    hn_llm_model_free(model);
    cr_expect(fabs(hn_lr_schedule(0, 100, 10, 1.0, 0.1) - 0.1) < 1e-12);
    cr_expect(fabs(hn_lr_schedule(9, 100, 10, 1.0, 0.1) - 1.0) < 1e-12);
    cr_expect(fabs(hn_lr_schedule(10, 100, 10, 1.0, 0.1) - 1.0) < 1e-12);
    cr_expect(fabs(hn_lr_schedule(99, 100, 10, 1.0, 0.1) - 0.1) < 1e-12);
    /* halfway through the decay: lr_min + (lr_max - lr_min) / 2 */
    cr_expect(fabs(hn_lr_schedule(10 + 89 / 2, 100, 10, 1.0, 0.1) -
                   (0.1 + 0.45 * (1 + cos(M_PI * 44.0 / 89.0)))) < 1e-12);
}

Test(llm, training_lowers_the_loss)
{
    /* a learnable sequence: token t+1 = (token t * 3 + 1) mod V */
    struct hn_llm_config c = make_config(2, 16, 4, 2, 4, 32, 7, 1, "11");
    struct hn_error err;
    struct hn_llm_model *m = hn_llm_model_new(&c, &err);
    hn_llm_model_randomize(m, 4);
    struct hn_adamw opt;
    cr_assert(hn_adamw_init(&opt, m->n_params, &err) == 0);
    int in[4 * 8], tg[4 * 8];
    for (int b = 0; b < 4; b++) {
        int x = b;
        for (int t = 0; t < 8; t++) {
            in[b * 8 + t] = x;
            x = (x * 3 + 1) % 7;
            tg[b * 8 + t] = x;
        }
    }
    double first = 0, loss = 0;
    for (int step = 0; step < 60; step++) {
        hn_llm_zero_grad(m, &err);
        cr_assert(hn_llm_forward(m, in, tg, 4, 8, &loss, &err) == 0);
        cr_assert(hn_llm_backward(m, &err) == 0);
        hn_llm_clip_grad_norm(m, 1.0);
        hn_llm_adamw_step(m, &opt, 1e-2);
        if (step == 0) {
            first = loss;
        }
    }
    printf("training: loss %.3f -> %.3f\n", first, loss);
    cr_expect(first > 1.8 && loss < 0.1, "loss %g -> %g", first, loss);
    hn_adamw_free(&opt);
    hn_llm_model_free(m);
}

Test(llm, checkpoint_round_trip_is_bit_exact)
{
    struct hn_llm_config c = make_config(3, 16, 4, 2, 6, 24, 11, 0, "101");
    struct hn_llm_model *a = test_model(&c, 8);
    struct hn_error err;
    const char *tmp = getenv("HN_TEST_TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/ckpt-roundtrip", tmp != NULL ? tmp : "/tmp");
    cr_assert(hn_llm_save(a, dir, &err) == 0, "%s", err.msg);
    struct hn_llm_model *b = hn_llm_load(dir, &err);
    cr_assert(b != NULL, "%s", err.msg);
    cr_expect(b->n_params == a->n_params && b->n_tensors == a->n_tensors);
    cr_expect(memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0);
    cr_expect(b->config.num_key_value_heads == 2 && b->config.head_dim == 6);
    cr_expect(b->config.attention_layers[1] == 0 && b->config.attention_layers[2] == 1);
    cr_expect(b->config.tie_word_embeddings == 0);
    hn_llm_model_free(b);
    hn_llm_model_free(a);
}

Test(llm, load_rejects_mismatched_shapes)
{
    struct hn_llm_config c = make_config(2, 16, 4, 2, 6, 24, 11, 1, NULL);
    struct hn_llm_model *a = test_model(&c, 8);
    struct hn_error err;
    const char *tmp = getenv("HN_TEST_TMPDIR");
    char dir[4096], path[4200];
    snprintf(dir, sizeof(dir), "%s/ckpt-mismatch", tmp != NULL ? tmp : "/tmp");
    cr_assert(hn_llm_save(a, dir, &err) == 0, "%s", err.msg);
    /* the config now claims 3 kv heads of 6: k_proj should be (18, 16) but is (12, 16) */
    c.num_key_value_heads = 4;
    c.num_attention_heads = 4;
    snprintf(path, sizeof(path), "%s/config.json", dir);
    cr_assert(hn_llm_config_write(path, &c, &err) == 0, "%s", err.msg);
    struct hn_llm_model *b = hn_llm_load(dir, &err);
    cr_expect(b == NULL);
    cr_expect(strstr(err.msg, "model.layers.0.self_attn.k_proj.weight") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "(12, 16)") != NULL && strstr(err.msg, "(24, 16)") != NULL, "%s",
              err.msg);
    /* a skipped layer in the config but attention tensors in the file */
    c.num_key_value_heads = 2;
    c.attention_layers[1] = 0;
    cr_assert(hn_llm_config_write(path, &c, &err) == 0, "%s", err.msg);
    b = hn_llm_load(dir, &err);
    cr_expect(b == NULL);
    cr_expect(strstr(err.msg, "model.layers.1.") != NULL, "%s", err.msg);
    hn_llm_model_free(a);
}
