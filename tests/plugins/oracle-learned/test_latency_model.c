/*
 * The latency model shared by the oracles `roofline` and `learned`:
 * - the non-negative relative least squares against an independent solution (a noise-free
 *   linear model of random architectures' costs is predicted exactly on new architectures;
 *   a truth with a negative coefficient gets the closed-form best non-negative fit);
 * - a roofline + learned study: the fit report's k-fold accuracy for both, the versioned
 *   model file, a resumed study that loads it instead of refitting, and a file of an unknown
 *   version that is refused with a message and refitted; the verify stage's predicted vs
 *   re-measured report (verify-verify.csv);
 * - under a real `mpirun -np 3` job with the mpi executor, worker ranks load the fitted model
 *   and predict exactly what the serial run predicts (they used to fail "not fitted").
 */
#include "config.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/rng.h"
#include "plugins/oracle-learned/latency_model.h"
#include "tests/core/testutil.h"

static json_t *random_arch(struct hn_rng *rng)
{
    int layers = 1 + (int)hn_rng_below(rng, 8);
    int heads = 1 + (int)hn_rng_below(rng, 8), kv = heads % 2 ? heads : heads / 2;
    json_t *attn = json_array();
    for (int l = 0; l < layers; l++) {
        json_array_append_new(attn, json_boolean(hn_rng_below(rng, 3) != 0));
    }
    return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o}", "hidden_size",
                     32 * (1 + (int)hn_rng_below(rng, 16)), "intermediate_size",
                     64 * (1 + (int)hn_rng_below(rng, 24)), "num_hidden_layers", layers,
                     "num_attention_heads", heads, "num_key_value_heads", kv, "head_dim", 32,
                     "vocab_size", 512 + (int)hn_rng_below(rng, 4096), "attention_layers", attn);
}

Test(latency_model, nnls_reproduces_a_linear_model_of_the_costs_on_new_architectures)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 11);
    const double truth[LM_NREG] = {0.3, 0.02, 0.05, 1.7, 4.0, 0.011, 0.2, 0.0};
    double R[60 * LM_NREG], y[60], coef[LM_NREG];
    for (int kind = LM_PREFILL; kind <= LM_DECODE; kind++) {
        for (int i = 0; i < 60; i++) {
            json_t *a = random_arch(&rng);
            double tokens = kind == LM_PREFILL ? 128 : (double)hn_rng_below(&rng, 4096);
            cr_assert(lm_regressors(a, kind, tokens, R + i * LM_NREG));
            json_decref(a);
            y[i] = 0;
            for (int k = 0; k < LM_NREG; k++) {
                y[i] += truth[k] * R[i * LM_NREG + k];
            }
        }
        lm_nnls_relative(R, y, 40, LM_NREG, coef); /* fit on 40, predict 20 new */
        double worst = 0;
        for (int i = 40; i < 60; i++) {
            double p = 0;
            for (int k = 0; k < LM_NREG; k++) {
                p += coef[k] * R[i * LM_NREG + k];
            }
            worst = fmax(worst, fabs(p - y[i]) / y[i]);
        }
        printf("nnls (%s): worst relative error on new architectures %.2e\n",
               kind == LM_PREFILL ? "prefill" : "decode", worst);
        cr_expect_lt(worst, 1e-4, "kind %d: worst %g", kind, worst);
        for (int k = 0; k < LM_NREG; k++) {
            cr_expect_geq(coef[k], 0.0);
        }
    }
    /* y = 2 x1 - x2 (> 0 on these rows): the best non-negative fit drops x2 and minimizes
     * sum ((c x1 - y) / y)^2 in closed form: c = sum(x1/y) / sum((x1/y)^2) */
    double r2[8] = {1, 0.1, 2, 0.5, 3, 1, 4, 3}, y2[4], c2[2], num = 0, den = 0;
    for (int i = 0; i < 4; i++) {
        y2[i] = 2 * r2[2 * i] - r2[2 * i + 1];
        num += r2[2 * i] / y2[i];
        den += pow(r2[2 * i] / y2[i], 2);
    }
    lm_nnls_relative(r2, y2, 4, 2, c2);
    cr_expect(c2[1] == 0.0 && fabs(c2[0] - num / den) < 1e-9, "coef %g %g, expected %g 0", c2[0],
              c2[1], num / den);
}

/* The value of the costs' linear model b at regressors r (the cache term as given in r). */
static double linear(const double *b, const double *r)
{
    double p = 0;
    for (int k = 0; k < LM_NREG; k++) {
        p += b[k] * r[k];
    }
    return p;
}

/*
 * The cache term: decode times made by a known model with a cache of 6 MB (bytes beyond it cost
 * 3x more, as DRAM against the last-level cache) are fitted on 60 random architectures at random
 * contexts and predicted on 30 new ones. The fitted capacity (a grid, then golden-section
 * search) is the truth within 2 %, and the predictions are within 1 %, where the best fit
 * without the term (lm_nnls_relative on the same regressors, the cache column zero) is off by
 * tens of per cent.
 */
Test(latency_model, the_cache_term_is_found_and_predicts_new_architectures)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 23);
    const double b[LM_NREG] = {0.01, 0.002, 0.004, 0.9, 2.0, 0.01, 0.01, 0.02};
    const double cache = 6.0;
    enum { N = 90, TRAIN = 60 };
    double R[N * LM_NREG], ctx[N], y[N], lo = INFINITY, hi = 0;
    for (int i = 0; i < N; i++) {
        json_t *a = random_arch(&rng);
        ctx[i] = (double)hn_rng_below(&rng, 4096);
        cr_assert(lm_regressors(a, LM_DECODE, ctx[i], R + i * LM_NREG));
        json_decref(a);
        double *r = R + i * LM_NREG, bytes = r[5] + r[6];
        cr_expect_eq(r[LM_NREG - 1], 0.0, "the cache column is left to the fit");
        r[LM_NREG - 1] = fmax(0.0, bytes - cache);
        y[i] = linear(b, r);
        r[LM_NREG - 1] = 0.0;
        if (i < TRAIN) {
            lo = fmin(lo, bytes);
            hi = fmax(hi, bytes);
        }
    }
    struct lm_roof f;
    lm_roof_fit(R, ctx, y, TRAIN, NULL, LM_DECODE, 0, &f);
    double step = pow(hi / lo, 1.0 / 24);
    printf("cache term: fitted %.3f MB (truth %.1f MB, grid step x%.3f)\n", f.cache_mb, cache,
           step);
    cr_expect(fabs(f.cache_mb / cache - 1) < 0.02, "cache %g MB", f.cache_mb);
    cr_expect_eq(f.n_scale, 0, "no per-context scale without relative");
    double plain[LM_NREG], worst = 0, worst_plain = 0;
    lm_nnls_relative(R, y, TRAIN, LM_NREG, plain);
    for (int i = TRAIN; i < N; i++) {
        worst = fmax(worst, fabs(lm_roof_predict(&f, R + i * LM_NREG, ctx[i]) / y[i] - 1));
        worst_plain = fmax(worst_plain, fabs(linear(plain, R + i * LM_NREG) / y[i] - 1));
    }
    printf("cache term: worst error on new architectures %.4f (without the term %.4f)\n", worst,
           worst_plain);
    cr_expect_lt(worst, 0.01, "worst %g", worst);
    cr_expect_gt(worst_plain, 0.1, "the term matters: %g vs %g", worst_plain, worst);
    /* prefill has no cache term */
    lm_roof_fit(R, ctx, y, TRAIN, NULL, LM_PREFILL, 0, &f);
    cr_expect(isinf(f.cache_mb), "prefill: %g", f.cache_mb);
}

/*
 * Relative metrics: times divided by a reference's at each context (a different denominator
 * per context) are fitted with a per-context scale: predictions on new architectures are
 * exact, the scales are the reference's time ratios (1 at the smallest context), a context
 * between two fitted ones is interpolated between their scales, and without the scale the fit
 * is worse.
 */
Test(latency_model, relative_metrics_get_a_scale_per_context)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 31);
    const double b[LM_NREG] = {0.05, 0.01, 0.02, 1.1, 3.0, 0.004, 0.03, 0.0};
    const double contexts[3] = {0, 512, 2048};
    enum { N = 120, TRAIN = 90 };
    double R[N * LM_NREG], ctx[N], y[N], ref[3], rr[LM_NREG];
    json_t *refarch = random_arch(&rng);
    for (int c = 0; c < 3; c++) {
        cr_assert(lm_regressors(refarch, LM_DECODE, contexts[c], rr));
        ref[c] = linear(b, rr);
    }
    for (int i = 0; i < N; i++) {
        json_t *a = random_arch(&rng);
        int c = i % 3;
        ctx[i] = contexts[c];
        cr_assert(lm_regressors(a, LM_DECODE, ctx[i], R + i * LM_NREG));
        json_decref(a);
        y[i] = linear(b, R + i * LM_NREG) / ref[c];
    }
    struct lm_roof f, plain;
    lm_roof_fit(R, ctx, y, TRAIN, NULL, LM_DECODE, 1, &f);
    lm_roof_fit(R, ctx, y, TRAIN, NULL, LM_DECODE, 0, &plain);
    cr_assert_eq(f.n_scale, 3);
    for (int c = 0; c < 3; c++) {
        cr_expect_eq(f.scale_ctx[c], contexts[c]);
        cr_expect(fabs(f.scale[c] / (ref[0] / ref[c]) - 1) < 1e-3, "scale at %g: %g, truth %g",
                  contexts[c], f.scale[c], ref[0] / ref[c]);
    }
    double worst = 0, worst_plain = 0;
    for (int i = TRAIN; i < N; i++) {
        worst = fmax(worst, fabs(lm_roof_predict(&f, R + i * LM_NREG, ctx[i]) / y[i] - 1));
        worst_plain =
            fmax(worst_plain, fabs(lm_roof_predict(&plain, R + i * LM_NREG, ctx[i]) / y[i] - 1));
    }
    printf("relative: worst error %.2e with the per-context scale, %.3f without\n", worst,
           worst_plain);
    cr_expect_lt(worst, 1e-3);
    cr_expect_gt(worst_plain, 0.05);
    /* 1024 tokens: between the scales of 512 and 2048, at its place in log(1 + context) */
    double t = (log1p(1024.0) - log1p(512.0)) / (log1p(2048.0) - log1p(512.0));
    double want = exp((1 - t) * log(f.scale[1]) + t * log(f.scale[2]));
    double p1 = lm_roof_predict(&f, R, 1024), p0 = lm_roof_predict(&f, R, 2048) / f.scale[2];
    cr_expect(fabs(p1 / p0 / want - 1) < 1e-9, "interpolated scale %g, expected %g", p1 / p0, want);
    /* beyond the largest context: its scale */
    cr_expect(fabs(lm_roof_predict(&f, R, 8192) / p0 / f.scale[2] - 1) < 1e-9);
    json_decref(refarch);
}

/* a backbone config.json in tmp/backbone; the study text into buf */
static void study_text(char *buf, size_t size, const char *tmp, const char *executor)
{
    char dir[4400], path[4500];
    snprintf(dir, sizeof(dir), "%s/backbone", tmp);
    cr_assert_eq(tu_run((char *const[]){"/bin/mkdir", "-p", dir, NULL}, NULL, NULL, NULL), 0);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    cr_assert_eq(tu_write_file(path, "{\"hidden_size\": 128, \"intermediate_size\": 256, "
                                     "\"num_hidden_layers\": 6, \"num_attention_heads\": 4, "
                                     "\"vocab_size\": 256}"),
                 0);
    snprintf(buf, size,
             "study: {name: lat, seed: 5}\n"
             "%s"
             "space: {plugin: transformer, backbone: %s, depth: {min: 1, max: 6},\n"
             "        d_model: [32, 48, 64, 96, 128], d_ffn: [64, 128, 256]}\n"
             "oracles:\n"
             "  phone: {plugin: device, command: \"sh %s/tests/data/device/sim.sh {arch} ok\",\n"
             "          metrics: [prefill_ms, decode_ms]}\n"
             "  model: {plugin: learned, from: phone, metrics: [prefill_ms, decode_ms]}\n"
             "  roof: {plugin: roofline, from: phone, metrics: [prefill_ms, decode_ms]}\n"
             "objectives: [{metric: model.prefill_ms, goal: minimize}]\n"
             "stages:\n"
             "  - {name: measure, run: phone, sampler: sobol, trials: 16}\n"
             "  - {name: fit, oracle: model}\n"
             "  - {name: fit-roofline, oracle: roof}\n"
             "  - {name: predict, run: [model, roof], optimizer: {plugin: random, mode: uniform},\n"
             "     trials: 6}\n"
             "  - {name: verify, select: pareto, run: phone}\n",
             executor, dir, tu_srcdir());
}

/* "trial,metric=value;..." lines of the completed predict trials of a study (sorted by id). */
static char *predictions(const char *dir)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
    char *text = tu_read_file(path);
    cr_assert_not_null(text, "no journal in %s", dir);
    size_t cap = 65536, len = 0;
    char *out = calloc(cap, 1), *line_of[64] = {0};
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *ev = json_loads(line, 0, NULL);
        const char *type = json_string_value(json_object_get(ev, "event"));
        json_int_t id = json_integer_value(json_object_get(ev, "trial"));
        if (type != NULL && strcmp(type, "completed") == 0 && id >= 16 && id < 64) {
            json_t *m = json_object_get(ev, "metrics");
            const char *k;
            json_t *v;
            char row[1024];
            size_t n = (size_t)snprintf(row, sizeof(row), "%lld:", (long long)id);
            json_object_foreach(m, k, v)
            {
                n += (size_t)snprintf(row + n, sizeof(row) - n, " %s=%.9g", k,
                                      json_number_value(json_object_get(v, "value")));
            }
            free(line_of[id]);
            line_of[id] = strdup(row);
        }
        json_decref(ev);
    }
    for (int i = 0; i < 64; i++) {
        if (line_of[i] != NULL) {
            len += (size_t)snprintf(out + len, cap - len, "%s\n", line_of[i]);
            free(line_of[i]);
        }
    }
    free(text);
    return out;
}

/* the weight-bytes regressor at each precision: the bytes of the engine's matrices at that
 * precision (llm/cost.h, checked against the converted model in tests/llm/test_cost.c) plus
 * the float32 embedding row and norms; every other regressor is the same as at f32 */
Test(latency_model, roofline_weight_bytes_follow_the_dtype)
{
    struct hn_rng rng;
    hn_rng_seed(&rng, 5);
    for (int i = 0; i < 20; i++) {
        json_t *a = random_arch(&rng);
        int C = (int)json_integer_value(json_object_get(a, "hidden_size"));
        int F = (int)json_integer_value(json_object_get(a, "intermediate_size"));
        int L = (int)json_integer_value(json_object_get(a, "num_hidden_layers"));
        int NH = (int)json_integer_value(json_object_get(a, "num_attention_heads"));
        int KV = (int)json_integer_value(json_object_get(a, "num_key_value_heads"));
        int V = (int)json_integer_value(json_object_get(a, "vocab_size"));
        int A = 0;
        for (int l = 0; l < L; l++) {
            A += json_is_true(json_array_get(json_object_get(a, "attention_layers"), (size_t)l));
        }
        double QD = 32.0 * NH, KD = 32.0 * KV;
        /* values per matrix row, by hand: q, k, v rows of C; o rows of QD; gate, up rows of C;
         * down rows of F; head rows of C (tied: the embedding) */
        for (int kind = LM_PREFILL; kind <= LM_DECODE; kind++) {
            double r32[LM_NREG], r[LM_NREG];
            cr_assert(lm_regressors_at(a, kind, 100, 0, r32));
            for (int dt = 1; dt <= 3; dt++) {
                cr_assert(lm_regressors_at(a, kind, 100, dt, r));
                double q8c = ceil(C / 32.0) * 34, q8qd = ceil(QD / 32.0) * 34,
                       q8f = ceil(F / 32.0) * 34;
                double rowc = dt == 3 ? q8c : 2.0 * C, rowqd = dt == 3 ? q8qd : 2.0 * QD,
                       rowf = dt == 3 ? q8f : 2.0 * F;
                double want = A * ((QD + 2 * KD) * rowc + C * rowqd) +
                              L * (2.0 * F * rowc + C * rowf) + V * rowc +
                              4.0 * (C + (double)A * C + (double)L * C + C);
                cr_expect(fabs(r[5] - want * 1e-6) <= 1e-9 * want * 1e-6,
                          "arch %d dtype %d: weight MB %.9g, by hand %.9g", i, dt, r[5],
                          want * 1e-6);
                for (int k = 0; k < LM_NREG; k++) {
                    if (k != 5) {
                        cr_expect_eq(r[k], r32[k], "regressor %d depends on the dtype", k);
                    }
                }
            }
        }
        json_decref(a);
    }
}

Test(latency_model, fit_report_model_file_and_resume, .timeout = 120)
{
    char *tmp = tu_tmpdir("latmodel"), text[8192], path[4500], *err;
    study_text(text, sizeof(text), tmp, "");
    int rc = tu_run_study_text(tmp, text, "run", &err);
    cr_assert_eq(rc, 0, "run failed: %s", err);
    cr_expect(strstr(err,
                     "oracle 'roof' (roofline): learned from 'phone' (roofline): prefill_ms: n=16, "
                     "5-fold error") != NULL,
              "%s", err);
    cr_expect(strstr(err, "(roofline alone ") != NULL, "%s", err);
    free(err);
    char *before = predictions(strcat(strcpy(path, tmp), "/run"));
    cr_expect_eq(tu_count(before, "model.prefill_ms="), 6, "%s", before);
    cr_expect_eq(tu_count(before, "roof.decode_ms="), 6, "%s", before);

    /* the fit report: k-fold accuracy of learned and of the roofline alone */
    snprintf(path, sizeof(path), "%s/run/model-fit.json", tmp);
    char *rep = tu_read_file(path);
    json_t *report = json_loads(rep ? rep : "", 0, NULL);
    cr_assert_not_null(report, "%s", path);
    json_t *cv = json_object_get(json_object_get(report, "prefill_ms"), "cv");
    cr_expect_eq(json_integer_value(json_object_get(cv, "folds")), 5);
    cr_expect_eq(json_integer_value(json_object_get(cv, "n")), 16);
    double mape = json_number_value(json_object_get(cv, "mape"));
    double w10 = json_number_value(json_object_get(cv, "within10"));
    double tau = json_number_value(json_object_get(cv, "kendall_tau"));
    printf("learned on the stand-in: 5-fold MAPE %.3f, within 10 %% %.2f, tau %.3f\n", mape, w10,
           tau);
    cr_expect(mape > 0 && mape < 0.3, "mape %g", mape);
    cr_expect(tau > 0.6 && tau <= 1, "tau %g", tau);
    cr_expect_not_null(json_object_get(json_object_get(report, "prefill_ms"), "cv_roofline"));
    json_decref(report);
    free(rep);

    /* verify: predicted vs re-measured per trial, as the stand-in's formula says */
    snprintf(path, sizeof(path), "%s/run/verify-verify.csv", tmp);
    char *csv = tu_read_file(path);
    cr_assert_not_null(csv, "no %s", path);
    cr_expect(strncmp(csv,
                      "trial,of,measured_metric,predicted_metric,measured,predicted,"
                      "predicted_sem,error,inside95\n",
                      80) == 0,
              "%s", csv);
    int rows = 0;
    for (char *line = strtok(strchr(csv, '\n') + 1, "\n"); line != NULL;
         line = strtok(NULL, "\n")) {
        long trial, of;
        char measured_name[64], predicted_name[64];
        double measured, predicted, sem, error;
        int inside;
        cr_assert_eq(sscanf(line, "%ld,%ld,%63[^,],%63[^,],%lf,%lf,%lf,%lf,%d", &trial, &of,
                            measured_name, predicted_name, &measured, &predicted, &sem, &error,
                            &inside),
                     9, "%s", line);
        cr_expect(strcmp(strchr(measured_name, '.'), strchr(predicted_name, '.')) == 0 &&
                      strncmp(measured_name, "phone.", 6) == 0 &&
                      (strncmp(predicted_name, "model.", 6) == 0 ||
                       strncmp(predicted_name, "roof.", 5) == 0),
                  "%s", line);
        cr_expect(fabs(error - (measured - predicted) / predicted) < 1e-5, "%s", line);
        cr_expect_eq(inside, fabs(measured - predicted) <= 1.96 * sem, "%s", line);
        cr_expect(of >= 16 && of < 22 && trial >= 22, "%s", line);
        rows++;
    }
    cr_expect_geq(rows, 4, "two metrics and two models per re-measured trial: %d rows", rows);
    free(csv);

    /* the model file declares itself */
    snprintf(path, sizeof(path), "%s/run/model-model.json", tmp);
    json_t *model = json_load_file(path, 0, NULL);
    cr_assert_not_null(model, "%s", path);
    cr_expect_str_eq(json_string_value(json_object_get(model, "format")), "hilnas-latency-model");
    cr_expect_eq(json_integer_value(json_object_get(model, "version")), 2);
    /* the noise floor: the median of the training measurements' squared relative standard
     * errors (the stand-in's decode_ms: sem 0.01 on layers / 10), and no prediction claims
     * less than that about a new measurement */
    double floor = json_number_value(json_object_get(
        json_object_get(json_object_get(json_object_get(model, "metrics"), "decode_ms"), "gp"),
        "noise_floor"));
    json_decref(model);
    char jpath[4500];
    snprintf(jpath, sizeof(jpath), "%s/run/journal.jsonl", tmp);
    char *journal = tu_read_file(jpath);
    cr_assert_not_null(journal);
    double rel2[16], pred[64][2];
    int n_rel = 0, n_pred = 0;
    for (char *line = strtok(journal, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *ev = json_loads(line, 0, NULL);
        const char *type = json_string_value(json_object_get(ev, "event"));
        json_int_t id = json_integer_value(json_object_get(ev, "trial"));
        json_t *ms = json_object_get(ev, "metrics");
        if (type != NULL && strcmp(type, "completed") == 0) {
            json_t *m = json_object_get(ms, id < 16 ? "phone.decode_ms" : "model.decode_ms");
            double v = json_number_value(json_object_get(m, "value"));
            double se = json_number_value(json_object_get(m, "sem"));
            if (m != NULL && id < 16 && n_rel < 16) {
                rel2[n_rel++] = (se / v) * (se / v);
            } else if (m != NULL && id >= 16 && n_pred < 64) {
                pred[n_pred][0] = v;
                pred[n_pred++][1] = se;
            }
        }
        json_decref(ev);
    }
    free(journal);
    cr_assert_eq(n_rel, 16);
    for (int i = 1; i < n_rel; i++) { /* insertion sort: the median by hand */
        for (int j = i; j > 0 && rel2[j - 1] > rel2[j]; j--) {
            double t = rel2[j];
            rel2[j] = rel2[j - 1];
            rel2[j - 1] = t;
        }
    }
    double want = 0.5 * (rel2[7] + rel2[8]);
    cr_expect(fabs(floor / want - 1) < 1e-9, "noise floor %g, the measurements' median %g", floor,
              want);
    cr_expect_geq(n_pred, 6);
    for (int i = 0; i < n_pred; i++) {
        cr_expect_geq(pred[i][1], pred[i][0] * sqrt(want) * (1 - 1e-9),
                      "prediction %g +- %g claims less than the floor %g", pred[i][0], pred[i][1],
                      sqrt(want));
    }

    /* resume: the same data, so the saved model is loaded, and every trial is kept */
    rc = tu_run_study_text(tmp, text, "run", &err);
    cr_assert_eq(rc, 0, "resume failed: %s", err);
    cr_expect_eq(tu_count(err, "loaded the saved model of the same training data"), 2, "%s", err);
    free(err);
    char *after = predictions(strcat(strcpy(text, tmp), "/run"));
    cr_expect_str_eq(after, before);
    free(after);

    /* a model file of another version is refused with what to do, then refitted */
    model = json_load_file(path, 0, NULL);
    json_object_set_new(model, "version", json_integer(99));
    cr_assert_eq(json_dump_file(model, path, 0), 0);
    json_decref(model);
    study_text(text, sizeof(text), tmp, "");
    rc = tu_run_study_text(tmp, text, "run", &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect(strstr(err, "not a hilnas-latency-model file of version 1 to 2 (format "
                          "hilnas-latency-model, version 99); delete it") != NULL,
              "%s", err);
    cr_expect(strstr(err, "oracle 'model' (learned): learned from 'phone'") != NULL, "%s", err);
    free(err);

    /* a GP claiming more samples than any fit makes is refused (not factorized for hours) */
    model = json_load_file(path, 0, NULL);
    json_t *gp =
        json_object_get(json_object_get(json_object_get(model, "metrics"), "prefill_ms"), "gp");
    cr_assert_not_null(gp, "%s has no prefill_ms GP", path);
    json_object_set_new(gp, "n", json_integer(25000));
    cr_assert_eq(json_dump_file(model, path, 0), 0);
    json_decref(model);
    rc = tu_run_study_text(tmp, text, "run", &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect(strstr(err, "model-model.json: metric 'prefill_ms' has no valid GP (n 25000 of 1 "
                          "to 20000 samples") != NULL,
              "%s", err);
    free(err);
    free(before);
    free(tmp);
}

/*
 * A model file of version 1 (written before the cache term and the per-context scales: seven
 * coefficients, two architecture features) is still read: a study resumed across the upgrade
 * loads it instead of refitting, and its new trials are predicted by it, b . r over the seven
 * costs (checked against lm_regressors on each new trial's architecture). A version 2 file with
 * a negative capacity is refused as malformed and refitted.
 */
Test(latency_model, a_version_1_model_file_is_still_read, .timeout = 120)
{
    char *tmp = tu_tmpdir("latv1"), text[8192], path[4500], *err;
    study_text(text, sizeof(text), tmp, "");
    cr_assert_eq(tu_run_study_text(tmp, text, "run", &err), 0, "%s", err);
    free(err);
    snprintf(path, sizeof(path), "%s/run/roof-model.json", tmp);
    json_t *model = json_load_file(path, 0, NULL);
    cr_assert_not_null(model);
    json_object_set_new(model, "version", json_integer(1));
    json_object_del(model, "inputs");
    double coef[2][LM_NREG] = {{0}};
    const char *names[2] = {"prefill_ms", "decode_ms"};
    for (int k = 0; k < 2; k++) {
        json_t *m = json_object_get(json_object_get(model, "metrics"), names[k]);
        json_t *c = json_object_get(m, "coef");
        cr_assert_eq(json_array_size(c), LM_NREG);
        json_array_remove(c, LM_NREG - 1);
        for (int j = 0; j < 7; j++) {
            coef[k][j] = json_number_value(json_array_get(c, (size_t)j));
        }
        json_object_del(m, "cache_mb");
        json_object_del(m, "context_scale");
    }
    for (int k = 0; k < 2; k++) {
        json_t *f = json_object_get(model, k ? "feat_hi" : "feat_lo");
        while (json_array_size(f) > 2) {
            json_array_remove(f, json_array_size(f) - 1);
        }
    }
    cr_assert_eq(json_dump_file(model, path, 0), 0);
    json_decref(model);
    /* resume with a stage of two more trials to predict */
    snprintf(text + strlen(text), sizeof(text) - strlen(text),
             "  - {name: more, run: [model, roof], optimizer: {plugin: random, mode: uniform},\n"
             "     trials: 2}\n");
    cr_assert_eq(tu_run_study_text(tmp, text, "run", &err), 0, "%s", err);
    cr_expect_eq(tu_count(err, "loaded the saved model of the same training data"), 2, "%s", err);
    free(err);
    model = json_load_file(path, 0, NULL);
    cr_expect_eq(json_integer_value(json_object_get(model, "version")), 1, "not refitted");
    json_decref(model);
    /* the new trials: roof's values are b . r over the seven costs */
    snprintf(path, sizeof(path), "%s/run/journal.jsonl", tmp);
    char *journal = tu_read_file(path);
    cr_assert_not_null(journal);
    json_t *arch[256] = {0};
    int checked = 0;
    for (char *line = strtok(journal, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *ev = json_loads(line, 0, NULL);
        const char *type = json_string_value(json_object_get(ev, "event"));
        json_int_t id = json_integer_value(json_object_get(ev, "trial"));
        const char *stage = json_string_value(json_object_get(ev, "stage"));
        if (type != NULL && id >= 0 && id < 256 && strcmp(type, "started") == 0 && stage != NULL &&
            strcmp(stage, "more") == 0) {
            arch[id] = json_incref(json_object_get(ev, "arch"));
        }
        if (type != NULL && id >= 22 && id < 256 && strcmp(type, "completed") == 0 &&
            arch[id] != NULL) {
            for (int k = 0; k < 2; k++) {
                char name[64];
                double r[LM_NREG];
                snprintf(name, sizeof(name), "roof.%s", names[k]);
                json_t *v = json_object_get(json_object_get(ev, "metrics"), name);
                cr_assert_not_null(v, "trial %lld: %s", (long long)id, line);
                cr_assert(lm_regressors(arch[id], k ? LM_DECODE : LM_PREFILL, k ? 256 : 128, r));
                double want = 0;
                for (int j = 0; j < 7; j++) {
                    want += coef[k][j] * r[j];
                }
                double got = json_number_value(json_object_get(v, "value"));
                cr_expect(fabs(got / want - 1) < 1e-9, "trial %lld %s: %.17g, b . r %.17g",
                          (long long)id, name, got, want);
                checked++;
            }
        }
        json_decref(ev);
    }
    cr_expect_eq(checked, 4, "two new trials, two metrics each: %d", checked);
    for (int i = 0; i < 256; i++) {
        json_decref(arch[i]);
    }
    free(journal);
    /* version 2 with a negative capacity: malformed, refitted */
    snprintf(path, sizeof(path), "%s/run/roof-model.json", tmp);
    model = json_load_file(path, 0, NULL);
    json_object_set_new(model, "version", json_integer(2));
    json_t *dm = json_object_get(json_object_get(model, "metrics"), "decode_ms");
    json_array_append_new(json_object_get(dm, "coef"), json_real(0.0));
    json_object_set_new(dm, "cache_mb", json_real(-3.0));
    cr_assert_eq(json_dump_file(model, path, 0), 0);
    json_decref(model);
    cr_assert_eq(tu_run_study_text(tmp, text, "run", &err), 0, "%s", err);
    cr_expect(strstr(err, "roof-model.json: metric 'prefill_ms' missing or malformed; fit again") !=
                      NULL ||
                  strstr(err, "metric 'decode_ms' missing or malformed; fit again") != NULL,
              "%s", err);
    cr_expect(strstr(err, "oracle 'roof' (roofline): learned from 'phone'") != NULL, "%s", err);
    free(err);
    free(tmp);
}

#ifdef HN_TEST_MPIRUN
Test(latency_model, mpi_worker_ranks_load_the_fit_and_predict_as_serial, .timeout = 180)
{
    char *tmp = tu_tmpdir("latmpi"), text[8192], path[4500], a[4400], b[4400], *out, *err;
    snprintf(a, sizeof(a), "%s/mpi", tmp);
    snprintf(b, sizeof(b), "%s/serial", tmp);
    study_text(text, sizeof(text), tmp, "executor: {plugin: mpi}\n");
    snprintf(path, sizeof(path), "%s/mpi.yaml", tmp);
    cr_assert_eq(tu_write_file(path, text), 0);
    char **env = tu_mpi_env();
    char *argv[] = {HN_TEST_MPIRUN, "--oversubscribe", "-np", "3", (char *)tu_hilnas(), "run",
                    path,           "--output",        a,     NULL};
    int rc = tu_run(argv, env, &out, &err);
    cr_assert_eq(rc, 0, "mpirun exited %d: %s%s", rc, out, err);
    cr_expect_eq(tu_count(err, "not fitted (and"), 0, "%s", err);
    free(out);
    free(err);
    study_text(text, sizeof(text), tmp, "");
    snprintf(path, sizeof(path), "%s/serial.yaml", tmp);
    cr_assert_eq(tu_write_file(path, text), 0);
    char *sargv[] = {(char *)tu_hilnas(), "run", path, "--output", b, NULL};
    rc = tu_run(sargv, tu_test_plugins_env(), &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    free(out);
    free(err);
    char *pm = predictions(a), *ps = predictions(b);
    cr_expect_eq(tu_count(pm, "model.prefill_ms="), 6, "mpi predictions:\n%s", pm);
    cr_expect_str_eq(pm, ps, "mpi:\n%s\nserial:\n%s", pm, ps);
    free(pm);
    free(ps);
    free(tmp);
}
#endif
