/*
 * Importance (hilnas/llm/importance.h) on a constructed backbone whose important parts are known,
 * its cache (hit, and invalidated by a changed backbone, data or setting, and a corrupt file), and
 * the distillation gradient (hilnas/llm/train.h) against finite differences of an independent
 * double precision computation of (1 - w) CE + w tau^2 KL.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/llm/importance.h"
#include "hilnas/llm/model.h"
#include "hilnas/llm/train.h"
#include "hilnas/rng.h"
#include "tests/core/testutil.h"
#include "tests/llm/fixtures.h"

#define L 4
#define C 32
#define NH 4
#define KVH 2
#define HD 8
#define F 48
#define V 64

/* Head 3 of every layer is dead (zero q rows and o columns), head 1 has o columns x4; FFN
 * neurons 0-7 dead, 40-47 with down columns x4; channels 5 and 9 scaled x30 in every norm (the
 * residual stream has outlier channels); layer 2 does nothing (zero o_proj and down_proj): an
 * identity block. */
static struct hn_llm_model *constructed(void)
{
    struct hn_llm_config c = tu_config(L, C, NH, KVH, HD, F, V);
    struct hn_llm_model *m = tu_model(&c, 5);
    for (size_t i = 0; i < m->n_params; i++) {
        m->params[i] *= 5.0f;
    }
    for (int l = 0; l < L; l++) {
        struct hn_llm_layer *w = &m->w.layers[l];
        for (size_t r = 0; r < NH * HD; r++) {
            for (size_t o = 0; o < C; o++) {
                float *x = &w->wo[o * NH * HD + r];
                *x = r / HD == 3 || l == 2 ? 0.0f : r / HD == 1 ? 4 * *x : *x;
            }
        }
        for (size_t i = 0; i < F; i++) {
            for (size_t o = 0; o < C; o++) {
                float *x = &w->wdown[o * F + i];
                *x = i < 8 || l == 2 ? 0.0f : i >= 40 ? 4 * *x : *x;
            }
        }
        w->ln1[5] = w->ln1[9] = w->ln2[5] = w->ln2[9] = 30.0f;
    }
    m->w.norm[5] = m->w.norm[9] = 30.0f;
    return m;
}

static uint16_t *tokens(size_t n, uint64_t seed)
{
    uint16_t *t = malloc(n * sizeof(uint16_t));
    struct hn_rng rng;
    hn_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) {
        t[i] = (uint16_t)hn_rng_below(&rng, V);
    }
    return t;
}

Test(importance, finds_the_parts_that_matter, .timeout = 60)
{
    struct hn_llm_model *m = constructed();
    uint16_t *tok = tokens(4000, 1);
    struct hn_error err;
    struct hn_importance *imp = hn_importance_compute(m, tok, 4000, 3, 4, 16, NULL, &err);
    cr_assert_not_null(imp, "%s", err.msg);
    for (int l = 0; l < L; l++) {
        const double *h = imp->head + l * NH, *n = imp->neurons + l * F;
        if (l == 2) {
            cr_expect_eq(imp->block[l], 0.0, "identity layer: block importance %g", imp->block[l]);
            cr_expect_eq(imp->attention[l], 0.0);
            continue;
        }
        cr_expect_eq(h[3], 0.0, "dead head has importance %g", h[3]);
        cr_expect(h[1] > h[0] && h[1] > h[2] && h[0] > 0 && h[2] > 0, "layer %d heads %g %g %g %g",
                  l, h[0], h[1], h[2], h[3]);
        double live = 0, big = 0;
        for (int i = 0; i < F; i++) {
            if (i < 8) {
                cr_expect_eq(n[i], 0.0, "dead neuron %d: %g", i, n[i]);
            } else if (i < 40) {
                live += n[i] / 32;
            } else {
                big += n[i] / 8;
            }
        }
        cr_expect(big > 2.5 * live, "x4 neurons (mean %g) vs others (mean %g)", big, live);
        cr_expect(imp->block[l] > 0.01 && imp->attention[l] > 0.001, "layer %d: %g %g", l,
                  imp->block[l], imp->attention[l]);
    }
    for (int j = 0; j < C; j++) {
        if (j != 5 && j != 9) {
            cr_expect(imp->channels[5] > imp->channels[j] && imp->channels[9] > imp->channels[j],
                      "channel %d: %g vs 5: %g, 9: %g", j, imp->channels[j], imp->channels[5],
                      imp->channels[9]);
        }
    }
    int kept[L];
    hn_importance_keep_layers(imp, L - 1, kept);
    cr_expect(kept[0] == 0 && kept[1] == 1 && kept[2] == 3, "kept %d %d %d", kept[0], kept[1],
              kept[2]);
    hn_importance_free(imp);
    hn_llm_model_free(m);
    free(tok);
}

Test(importance, cache_hits_and_is_invalidated_by_each_input, .timeout = 60)
{
    char *dir = tu_tmpdir("importance");
    struct hn_llm_model *m = constructed();
    uint16_t *tok = tokens(4000, 2);
    struct hn_error err;
    int computed = -1;
    struct hn_importance *a = hn_importance_get(m, tok, 4000, 2, 4, 16, dir, &computed, NULL, &err);
    cr_assert_not_null(a, "%s", err.msg);
    cr_expect_eq(computed, 1, "first call computes");
    struct hn_importance *b = hn_importance_get(m, tok, 4000, 2, 4, 16, dir, &computed, NULL, &err);
    cr_assert_not_null(b, "%s", err.msg);
    cr_expect_eq(computed, 0, "second call reads the cache");
    cr_expect_str_eq(a->key, b->key);
    for (int i = 0; i < L * F; i++) {
        cr_expect(fabs(a->neurons[i] - b->neurons[i]) <= 1e-12 * fabs(a->neurons[i]));
    }
    for (int i = 0; i < C; i++) {
        cr_expect(fabs(a->channels[i] - b->channels[i]) <= 1e-12 * fabs(a->channels[i]));
    }
    hn_importance_free(b);
    /* a different setting, different data, a different backbone: each computes again */
    b = hn_importance_get(m, tok, 4000, 3, 4, 16, dir, &computed, NULL, &err);
    cr_expect(b != NULL && computed == 1 && strcmp(b->key, a->key) != 0, "batches changed");
    hn_importance_free(b);
    tok[1234] = (uint16_t)((tok[1234] + 1) % V);
    b = hn_importance_get(m, tok, 4000, 2, 4, 16, dir, &computed, NULL, &err);
    cr_expect(b != NULL && computed == 1 && strcmp(b->key, a->key) != 0, "data changed");
    hn_importance_free(b);
    tok[1234] = (uint16_t)((tok[1234] + V - 1) % V);
    m->w.layers[1].wgate[7] += 1e-3f;
    b = hn_importance_get(m, tok, 4000, 2, 4, 16, dir, &computed, NULL, &err);
    cr_expect(b != NULL && computed == 1 && strcmp(b->key, a->key) != 0, "backbone changed");
    hn_importance_free(b);
    m->w.layers[1].wgate[7] -= 1e-3f;
    /* back to the first inputs: the first file again; corrupted, it is recomputed */
    char path[4500];
    snprintf(path, sizeof(path), "%s/importance-%s.json", dir, a->key);
    b = hn_importance_get(m, tok, 4000, 2, 4, 16, dir, &computed, NULL, &err);
    cr_expect(b != NULL && computed == 0, "restored inputs hit the first file");
    hn_importance_free(b);
    cr_assert_eq(tu_write_file(path, "{\"format\": \"hilnas-importance\", \"version\": 1}"), 0);
    b = hn_importance_get(m, tok, 4000, 2, 4, 16, dir, &computed, NULL, &err);
    cr_expect(b != NULL && computed == 1, "a corrupt cache file is recomputed");
    hn_importance_free(b);
    b = hn_importance_read(path, a->key, &err);
    cr_expect_not_null(b, "and rewritten: %s", err.msg);
    hn_importance_free(b);
    hn_importance_free(a);
    hn_llm_model_free(m);
    free(tok);
    free(dir);
}

/* (1 - w) CE(z, target) + w tau^2 KL(softmax(zt/tau) || softmax(z/tau)) in double. */
static double ref_loss(const double *z, const float *zt, int target, double tau, double w)
{
    double mz = -INFINITY, mt = -INFINITY, sz = 0, szt = 0, st = 0;
    for (int i = 0; i < V; i++) {
        mz = fmax(mz, z[i]);
        mt = fmax(mt, zt[i] / tau);
    }
    for (int i = 0; i < V; i++) {
        sz += exp(z[i] - mz);
        szt += exp(z[i] / tau - mz / tau);
        st += exp(zt[i] / tau - mt);
    }
    double ce = -(z[target] - mz - log(sz)), kl = 0;
    for (int i = 0; i < V; i++) {
        double lpt = zt[i] / tau - mt - log(st), lps = z[i] / tau - mz / tau - log(szt);
        kl += exp(lpt) * (lpt - lps);
    }
    return (1 - w) * ce + w * tau * tau * kl;
}

Test(distill, gradient_matches_finite_differences_and_weight_0_is_plain)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 4);
    const double taus[2] = {1.0, 2.5}, ws[3] = {0.0, 0.5, 1.0};
    double z[V];
    float zt[V], probs[V];
    for (int i = 0; i < V; i++) {
        z[i] = 2 * hn_rng_normal(&rng);
        zt[i] = (float)(2 * hn_rng_normal(&rng));
    }
    int target = 7;
    for (int a = 0; a < 2; a++) {
        for (int b = 0; b < 3; b++) {
            double tau = taus[a], w = ws[b], mz = -INFINITY, s = 0;
            for (int i = 0; i < V; i++) {
                mz = fmax(mz, z[i]);
            }
            for (int i = 0; i < V; i++) {
                s += exp(z[i] - mz);
            }
            float plain[V];
            for (int i = 0; i < V; i++) {
                probs[i] = plain[i] = (float)(exp(z[i] - mz) / s);
            }
            double kd = hn_distill_apply(probs, &target, zt, 1, V, tau, w);
            double want_kd = (ref_loss(z, zt, target, tau, 1.0));
            cr_expect(fabs(kd - want_kd) < 1e-4 * fmax(1, want_kd), "KD %g vs %g", kd, want_kd);
            for (int i = 0; i < V; i++) {
                if (w == 0) {
                    cr_expect(probs[i] == plain[i], "weight 0 leaves probs untouched");
                }
                /* the gradient backward will use, with N = 1 */
                double g = probs[i] - (i == target ? 1.0 : 0.0), h = 1e-4;
                double zp[V], zm[V];
                memcpy(zp, z, sizeof(z));
                memcpy(zm, z, sizeof(z));
                zp[i] += h;
                zm[i] -= h;
                double fd =
                    (ref_loss(zp, zt, target, tau, w) - ref_loss(zm, zt, target, tau, w)) / (2 * h);
                cr_expect(fabs(g - fd) < 2e-5 + 1e-3 * fabs(fd),
                          "tau %g w %g dlogit %d: %.8f vs finite difference %.8f", tau, w, i, g,
                          fd);
            }
        }
    }
}

/* The backbone without layer `drop`: a model of L-1 layers with the other layers' weights,
 * copied tensor by tensor by name (an independent construction of what removal measures). */
static struct hn_llm_model *without_layer(const struct hn_llm_model *m, int drop)
{
    struct hn_llm_config c = m->config;
    c.num_hidden_layers--;
    for (int l = drop; l < c.num_hidden_layers; l++) {
        c.attention_layers[l] = c.attention_layers[l + 1];
    }
    struct hn_error err;
    struct hn_llm_model *r = hn_llm_model_new(&c, &err);
    cr_assert_not_null(r, "%s", err.msg);
    for (size_t i = 0; i < r->n_tensors; i++) {
        char name[128];
        int k, len = 0;
        snprintf(name, sizeof(name), "%s", r->tensors[i].name);
        if (sscanf(r->tensors[i].name, "model.layers.%d.%n", &k, &len) == 1 && len > 0) {
            snprintf(name, sizeof(name), "model.layers.%d.%s", k >= drop ? k + 1 : k,
                     r->tensors[i].name + len);
        }
        long j = hn_llm_tensor_find(m, name);
        cr_assert_geq(j, 0, "tensor %s", name);
        cr_assert_eq(m->tensors[j].numel, r->tensors[i].numel);
        memcpy(r->params + r->tensors[i].offset, m->params + m->tensors[j].offset,
               r->tensors[i].numel * sizeof(float));
    }
    return r;
}

/* Mean over the calibration batches of the loss on their windows (importance.h's windows). */
static double calibration_loss(struct hn_llm_model *m, const uint16_t *tok, size_t n, int batches,
                               int B, int T)
{
    int inputs[4 * 16], targets[4 * 16];
    cr_assert_leq(B * T, 4 * 16);
    size_t W = (size_t)batches * B, span = n - (size_t)T - 1;
    double total = 0, loss;
    struct hn_error err;
    for (int bt = 0; bt < batches; bt++) {
        for (int w = 0; w < B; w++) {
            size_t start = (size_t)((double)(bt * B + w) * (double)span / (double)(W - 1));
            for (int t = 0; t < T; t++) {
                inputs[w * T + t] = tok[start + t];
                targets[w * T + t] = tok[start + t + 1];
            }
        }
        cr_assert_eq(hn_llm_forward(m, inputs, targets, B, T, &loss, &err), 0, "%s", err.msg);
        total += loss / batches;
    }
    return total;
}

Test(importance, loss_when_removed_matches_the_model_without_the_layer, .timeout = 60)
{
    char *dir = tu_tmpdir("removal");
    struct hn_llm_model *m = constructed();
    /* layer 3's FFN outputs x3: a layer that changes the stream more */
    for (size_t i = 0; i < (size_t)C * F; i++) {
        m->w.layers[3].wdown[i] *= 3.0f;
    }
    uint16_t *tok = tokens(4000, 3);
    struct hn_error err;
    int computed = -1;
    struct hn_importance *imp =
        hn_importance_get(m, tok, 4000, 3, 4, 16, dir, &computed, NULL, &err);
    cr_assert_not_null(imp, "%s", err.msg);
    cr_expect_null(imp->removal, "not computed until asked for");
    cr_assert_eq(hn_importance_removal(imp, m, tok, 4000, dir, &computed, &err), 0, "%s", err.msg);
    cr_expect_eq(computed, 1);
    double full = calibration_loss(m, tok, 4000, 3, 4, 16), want[L];
    int least = 0;
    for (int l = 0; l < L; l++) {
        struct hn_llm_model *r = without_layer(m, l);
        want[l] = calibration_loss(r, tok, 4000, 3, 4, 16) - full;
        printf("layer %d: removal %.6f, model without it %.6f, block %.4f\n", l, imp->removal[l],
               want[l], imp->block[l]);
        cr_expect(fabs(imp->removal[l] - want[l]) <= 1e-5 + 1e-4 * fabs(want[l]),
                  "layer %d: %g vs %g", l, imp->removal[l], want[l]);
        least = want[l] < want[least] ? l : least;
        hn_llm_model_free(r);
    }
    cr_expect_eq(imp->removal[2], 0.0, "the identity layer costs nothing when removed");
    /* the parameters are restored exactly */
    struct hn_llm_model *fresh = constructed();
    for (size_t i = 0; i < (size_t)C * F; i++) {
        fresh->w.layers[3].wdown[i] *= 3.0f;
    }
    cr_expect_eq(memcmp(fresh->params, m->params, m->n_params * sizeof(float)), 0);
    hn_llm_model_free(fresh);
    /* depth L-1 drops the layer whose removal the models without each layer say costs least */
    int kept[L];
    hn_importance_top_layers(imp->removal, L, L - 1, kept);
    for (int i = 0, l = 0; l < L; l++) {
        if (l != least) {
            cr_expect_eq(kept[i], l, "kept[%d] = %d, want %d (dropping %d)", i, kept[i], l, least);
            i++;
        }
    }
    /* cached with the other scores: read back, not computed again */
    struct hn_importance *b = hn_importance_get(m, tok, 4000, 3, 4, 16, dir, &computed, NULL, &err);
    cr_assert_not_null(b, "%s", err.msg);
    cr_expect_eq(computed, 0);
    cr_assert_not_null(b->removal, "the cache file has the removal scores");
    cr_assert_eq(hn_importance_removal(b, m, tok, 4000, dir, &computed, &err), 0, "%s", err.msg);
    cr_expect_eq(computed, 0, "and they are not computed again");
    for (int l = 0; l < L; l++) {
        cr_expect(fabs(b->removal[l] - imp->removal[l]) <= 1e-12 * fabs(imp->removal[l]));
    }
    hn_importance_free(b);
    hn_importance_free(imp);
    hn_llm_model_free(m);
    free(tok);
    free(dir);
}
