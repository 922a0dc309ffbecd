/*
 * llm/cost: every count against a brute-force walk over the engine's own tensor table
 * (hn_llm_model_new) and inference state (hn_llm_infer_new), token by token and position by
 * position, for shapes that exercise GQA, head_dim != hidden/heads, skipped attention and
 * tied/untied LM heads.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "hilnas/llm/cost.h"
#include "hilnas/llm/decode.h"
#include "hilnas/llm/model.h"

struct shape {
    int C, F, L, NH, KVH, HD, V, tied;
    const char *attn; /* per layer '1' attention, '0' skipped */
};

static const struct shape shapes[] = {
    {64, 128, 2, 4, 4, 16, 256, 1, "11"},
    {48, 96, 4, 6, 2, 12, 300, 0, "1010"},
    {32, 80, 3, 4, 1, 10, 97, 1, "001"},
    {40, 64, 5, 2, 2, 24, 128, 0, "00000"},
};

static void config_of(const struct shape *s, struct hn_llm_config *c)
{
    hn_llm_config_default(c);
    c->hidden_size = s->C;
    c->intermediate_size = s->F;
    c->num_hidden_layers = s->L;
    c->num_attention_heads = s->NH;
    c->num_key_value_heads = s->KVH;
    c->head_dim = s->HD;
    c->vocab_size = s->V;
    c->tie_word_embeddings = s->tied;
    c->max_position_embeddings = 64;
    for (int l = 0; l < s->L; l++) {
        c->attention_layers[l] = s->attn[l] == '1';
    }
}

static int has(const char *name, const char *part)
{
    return strstr(name, part) != NULL;
}

static void expect_close(double got, double want, const char *what, size_t row)
{
    cr_expect(fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want)),
              "shape %zu: %s = %.17g, brute force %.17g", row, what, got, want);
}

Test(cost, counts_match_a_brute_force_walk_over_tensors_and_positions)
{
    for (size_t row = 0; row < sizeof(shapes) / sizeof(shapes[0]); row++) {
        struct hn_llm_config c;
        struct hn_error err;
        config_of(&shapes[row], &c);
        struct hn_llm_model *m = hn_llm_model_new(&c, &err);
        cr_assert(m != NULL, "%s", err.msg);
        struct hn_llm_infer *inf = hn_llm_infer_new(m, 32, 8, &err);
        cr_assert(inf != NULL, "%s", err.msg);
        const double prompt = 13, ctx = 20, bpv = 4;

        /* parameters, and what one token's matmuls and a decode step read, from the table */
        double params = 0, layer_matmul_flops = 0, head_flops = 0, weight_values = 0;
        double kv_per_position = 0; /* K+V values cached per position, all layers */
        int attn_layers = 0;
        for (size_t i = 0; i < m->n_tensors; i++) {
            const struct hn_llm_tensor *t = &m->tensors[i];
            params += (double)t->numel;
            if (has(t->name, "embed_tokens")) {
                weight_values += (double)t->shape[1]; /* one row looked up */
                if (c.tie_word_embeddings) {
                    head_flops += 2.0 * (double)t->numel;
                    weight_values += (double)t->numel; /* read again as the LM head */
                }
            } else if (has(t->name, "lm_head")) {
                head_flops += 2.0 * (double)t->numel;
                weight_values += (double)t->numel;
            } else {
                weight_values += (double)t->numel; /* projections and norms */
                if (t->ndim == 2) {
                    layer_matmul_flops += 2.0 * (double)t->numel;
                }
                if (has(t->name, "k_proj") || has(t->name, "v_proj")) {
                    kv_per_position += (double)t->shape[0];
                }
                attn_layers += has(t->name, "q_proj");
            }
        }
        int cached = 0;
        for (int l = 0; l < c.num_hidden_layers; l++) {
            cached += inf->cache_slot[l] >= 0;
        }
        cr_expect_eq(cached, attn_layers, "shape %zu: cache slots vs q_proj tensors", row);
        /* attention FLOPs, query by query */
        double per_query_position = 0;
        for (int l = 0; l < c.num_hidden_layers; l++) {
            if (inf->cache_slot[l] >= 0) {
                for (int h = 0; h < c.num_attention_heads; h++) {
                    per_query_position += 2.0 * c.head_dim + 2.0 * c.head_dim; /* q.k, p v */
                }
            }
        }
        double prefill_attn = 0;
        for (int p = 0; p < (int)prompt; p++) {
            for (int k = 0; k <= p; k++) {
                prefill_attn += per_query_position;
            }
        }
        double decode_attn = 0;
        for (int k = 0; k <= (int)ctx; k++) {
            decode_attn += per_query_position;
        }

        struct hn_llm_cost k;
        hn_llm_cost_compute(&c, prompt, ctx, bpv, &k);
        expect_close(k.params, params, "params", row);
        expect_close((double)hn_llm_param_count(&c), params, "hn_llm_param_count", row);
        expect_close((double)m->n_params, params, "model n_params", row);
        cr_expect_eq(k.attention_layers, attn_layers, "shape %zu", row);
        cr_expect_eq(k.ffn_only_layers, c.num_hidden_layers - attn_layers, "shape %zu", row);
        expect_close(k.prefill_matmul_flops, prompt * layer_matmul_flops + head_flops,
                     "prefill matmul FLOPs", row);
        expect_close(k.prefill_attention_flops, prefill_attn, "prefill attention FLOPs", row);
        expect_close(k.prefill_flops_per_token,
                     (prompt * layer_matmul_flops + head_flops + prefill_attn) / prompt,
                     "prefill FLOPs per token", row);
        expect_close(k.decode_flops, layer_matmul_flops + head_flops + decode_attn, "decode FLOPs",
                     row);
        expect_close(k.decode_weight_bytes, bpv * weight_values, "decode weight bytes", row);
        expect_close(k.decode_kv_bytes, bpv * kv_per_position * (ctx + 1), "decode KV bytes", row);
        expect_close(hn_llm_flops_per_token(&c, ctx),
                     layer_matmul_flops + head_flops + per_query_position * ctx, "flops per token",
                     row);
        expect_close(attn_layers * k.attn_block_params + c.num_hidden_layers * k.ffn_block_params,
                     params -
                         (double)c.vocab_size * c.hidden_size * (c.tie_word_embeddings ? 1 : 2) -
                         c.hidden_size,
                     "per-layer-type parameters", row);
        hn_llm_infer_free(inf);
        hn_llm_model_free(m);
    }
}

Test(cost, skipping_attention_removes_exactly_its_cost_and_the_kv_cache)
{
    struct hn_llm_config c;
    config_of(&shapes[1], &c);
    struct hn_llm_cost all, none;
    for (int l = 0; l < c.num_hidden_layers; l++) {
        c.attention_layers[l] = 1;
    }
    hn_llm_cost_compute(&c, 64, 512, 4, &all);
    for (int l = 0; l < c.num_hidden_layers; l++) {
        c.attention_layers[l] = 0;
    }
    hn_llm_cost_compute(&c, 64, 512, 4, &none);
    cr_expect_eq(none.decode_kv_bytes, 0.0);
    cr_expect_gt(all.decode_kv_bytes, 0.0);
    expect_close(all.decode_flops - none.decode_flops,
                 c.num_hidden_layers * (all.attn_block_flops + all.attn_flops_per_position * 513),
                 "attention share of decode", 1);
}

/* bytes one decode step reads at each weight precision: every matrix the engine converted
 * (hn_llm_set_dtype) as hn_qmat_bytes reports it, plus the float32 embedding row, norms and
 * cache; Q8_0 with columns that are not multiples of 32 (padding) */
Test(cost, decode_bytes_follow_the_weight_dtype_of_the_converted_model)
{
    static const enum hn_dtype dtypes[] = {HN_DTYPE_F32, HN_DTYPE_BF16, HN_DTYPE_F16,
                                           HN_DTYPE_Q8_0};
    for (size_t row = 0; row < sizeof(shapes) / sizeof(shapes[0]); row++) {
        for (size_t d = 0; d < 4; d++) {
            struct hn_llm_config c;
            struct hn_error err;
            config_of(&shapes[row], &c);
            struct hn_llm_model *m = hn_llm_model_new(&c, &err);
            cr_assert(m != NULL, "%s", err.msg);
            hn_llm_model_randomize(m, 3);
            cr_assert_eq(hn_llm_set_dtype(m, dtypes[d], &err), 0, "%s", err.msg);
            double bytes = 0, f32_values = 0;
            for (size_t i = 0; i < m->n_tensors; i++) {
                const struct hn_llm_tensor *t = &m->tensors[i];
                if (t->ndim == 1) {
                    f32_values += (double)t->numel; /* norms */
                } else if (has(t->name, "embed_tokens")) {
                    f32_values += (double)t->shape[1]; /* the looked-up row */
                } else if (dtypes[d] == HN_DTYPE_F32 && !has(t->name, "lm_head")) {
                    bytes += 4.0 * (double)t->numel; /* layer matrices */
                }
            }
            if (dtypes[d] == HN_DTYPE_F32) {
                bytes += 4.0 * (double)c.vocab_size * c.hidden_size; /* the head */
            } else {
                for (int l = 0; l < c.num_hidden_layers; l++) {
                    const struct hn_llm_qlayer *q = &m->qlayers[l];
                    const struct hn_qmat *all[] = {&q->wq,    &q->wk,  &q->wv,   &q->wo,
                                                   &q->wgate, &q->wup, &q->wdown};
                    for (size_t k = 0; k < 7; k++) {
                        if (all[k]->rows > 0) {
                            cr_expect_eq(all[k]->dtype, dtypes[d]);
                            bytes += (double)hn_qmat_bytes(all[k]);
                        }
                    }
                }
                bytes += (double)hn_qmat_bytes(&m->qhead);
            }
            bytes += 4.0 * f32_values;
            struct hn_llm_cost k, k32;
            hn_llm_cost_compute_dtype(&c, 13, 20, dtypes[d], &k);
            hn_llm_cost_compute(&c, 13, 20, 4, &k32);
            expect_close(k.decode_weight_bytes, bytes, hn_dtype_name(dtypes[d]), row);
            expect_close(k.decode_kv_bytes, k32.decode_kv_bytes, "KV bytes (float32)", row);
            expect_close(k.decode_bytes, bytes + k32.decode_kv_bytes, "decode bytes", row);
            expect_close(k.decode_flops, k32.decode_flops, "FLOPs do not depend on dtype", row);
            hn_llm_model_free(m);
        }
    }
}
