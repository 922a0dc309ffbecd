/*
 * Oracle "learned" through real studies: fitted on measured Branin values, it predicts unseen
 * points close to the true function (computed here from the formula) with standard errors that
 * cover the truth; the fit report holds the leave-one-out accuracy; a stage that would use the
 * model before a fit stage, too few measurements and bad options are clear errors.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "plugins/evaluator-testfn/testfn.h"
#include "tests/core/testutil.h"

static const char *study_text =
    "study: {name: learn, seed: 2}\n"
    "space:\n"
    "  plugin: box\n"
    "  params:\n"
    "    x0: {type: float, min: -5, max: 10}\n"
    "    x1: {type: float, min: 0, max: 15}\n"
    "evaluators:\n"
    "  f: {plugin: testfn, function: branin}\n"
    "oracles:\n"
    "  model: {plugin: learned, from: f, metrics: [branin]}\n"
    "objectives:\n"
    "  - {metric: model.branin, goal: minimize}\n"
    "stages:\n"
    "  - {name: measure, run: f, sampler: sobol, trials: MEASURED}\n"
    "  - {name: fit, oracle: model}\n"
    "  - {name: predict, optimizer: {plugin: random, mode: uniform}, trials: 40}\n";

/* The study text with `from` replaced by `to` (static buffer). */
static const char *edit(const char *text, const char *from, const char *to)
{
    static char buf[4096];
    const char *at = strstr(text, from);
    cr_assert_not_null(at, "'%s' not in the study", from);
    snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return buf;
}

Test(learned, predicts_unseen_points_of_the_function_it_learned, .timeout = 120)
{
    char *tmp = tu_tmpdir("learned"), *err, path[4400];
    int rc = tu_run_study_text(tmp, edit(study_text, "MEASURED", "48"), "run", &err);
    cr_assert_eq(rc, 0, "run failed (%d): %s", rc, err);
    cr_expect(strstr(err, "oracle 'model' (learned): learned from 'f' (params): branin: n=48") !=
                  NULL,
              "%s", err);
    free(err);

    /* predictions of the 40 uniform points against Branin itself */
    snprintf(path, sizeof(path), "%s/run/journal.jsonl", tmp);
    char *journal = tu_read_file(path);
    cr_assert_not_null(journal);
    double x[64][2];
    int have_x[64] = {0}, n = 0, covered = 0;
    double rel[64];
    for (char *line = strtok(journal, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *ev = json_loads(line, 0, NULL);
        const char *type = json_string_value(json_object_get(ev, "event"));
        json_int_t id = json_integer_value(json_object_get(ev, "trial"));
        if (id >= 48 && id < 88 && strcmp(type, "started") == 0) {
            json_t *p = json_object_get(ev, "params");
            x[id - 48][0] = json_number_value(json_object_get(p, "x0"));
            x[id - 48][1] = json_number_value(json_object_get(p, "x1"));
            have_x[id - 48] = 1;
        } else if (id >= 48 && id < 88 && strcmp(type, "completed") == 0) {
            cr_assert(have_x[id - 48]);
            json_t *m = json_object_get(json_object_get(ev, "metrics"), "model.branin");
            double pred = json_number_value(json_object_get(m, "value"));
            double sem = json_number_value(json_object_get(m, "sem"));
            double truth = testfn_branin(x[id - 48]);
            cr_expect(sem > 0 && isfinite(sem), "trial %lld: sem %g", (long long)id, sem);
            rel[n++] = fabs(pred - truth) / truth;
            covered += fabs(pred - truth) <= 3 * sem;
        }
        json_decref(ev);
    }
    free(journal);
    cr_assert_eq(n, 40);
    /* median relative error */
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            if (rel[j] < rel[i]) {
                double t = rel[i];
                rel[i] = rel[j];
                rel[j] = t;
            }
        }
    }
    double median = 0.5 * (rel[19] + rel[20]);
    printf("learned: median relative error %.3f, %d of 40 within 3 standard errors\n", median,
           covered);
    cr_expect_lt(median, 0.25, "median relative error %g", median);
    cr_expect_geq(covered, 32, "the standard errors cover the truth (%d of 40)", covered);

    snprintf(path, sizeof(path), "%s/run/model-fit.json", tmp);
    char *text = tu_read_file(path);
    json_t *report = json_loads(text ? text : "", 0, NULL);
    cr_assert_not_null(report, "no fit report at %s", path);
    json_t *b = json_object_get(report, "branin");
    cr_expect_eq(json_integer_value(json_object_get(b, "n")), 48);
    double rho = json_number_value(json_object_get(b, "loo_kendall_tau"));
    double cover = json_number_value(json_object_get(b, "loo_coverage95"));
    cr_expect(rho > 0.75 && rho <= 1.0, "LOO Kendall tau %g", rho);
    cr_expect(cover >= 0.75 && cover <= 1.0, "LOO 95 %% coverage %g", cover);
    json_decref(report);
    free(text);
    free(tmp);
}

Test(learned, misuse_is_refused_with_a_reason, .timeout = 60)
{
    char *tmp = tu_tmpdir("learnbad"), *err;
    const char *measured = edit(study_text, "MEASURED", "10");
    static char base[4096];
    snprintf(base, sizeof(base), "%s", measured);

    /* no fit stage before the model is used */
    int rc = tu_run_study_text(tmp, edit(base, "  - {name: fit, oracle: model}\n", ""), "validate",
                               &err);
    cr_expect_eq(rc, 2, "%s", err);
    cr_expect(strstr(err, "runs the learned oracle 'model', which no earlier stage fits") != NULL,
              "%s", err);
    free(err);

    /* metrics not a list */
    rc = tu_run_study_text(tmp, edit(base, "metrics: [branin]", "metrics: branin"), "validate",
                           &err);
    cr_expect_eq(rc, 2, "%s", err);
    cr_expect(strstr(err, "study.yaml:10:") != NULL && strstr(err, "'metrics' must list") != NULL,
              "%s", err);
    free(err);

    /* a full name where a short one belongs */
    rc = tu_run_study_text(tmp, edit(base, "metrics: [branin]", "metrics: [f.branin]"), "validate",
                           &err);
    cr_expect_eq(rc, 2, "%s", err);
    cr_expect(strstr(err, "without '.'") != NULL, "%s", err);
    free(err);

    /* one measurement is not enough to learn from */
    static char one[4096];
    snprintf(one, sizeof(one), "%s", edit(study_text, "MEASURED", "1"));
    rc = tu_run_study_text(tmp, one, "run", &err);
    cr_expect_eq(rc, 2, "%s", err);
    cr_expect(strstr(err, "only 1 complete trial with metric 'f.branin'") != NULL, "%s", err);
    free(err);
    free(tmp);
}

/* Architecture features: latencies from the device stand-in (prefill = hidden x layers / 100, a
 * deterministic function of the architecture) are learned from 20 prunings and predicted for 12
 * more; `auto` picks arch (the shape's features, not the space's coordinates) for a transformer
 * space; params+arch on a space without architectures is refused. */
Test(learned, architecture_features_for_transformer_spaces, .timeout = 120)
{
    char *tmp = tu_tmpdir("learnarch"), dir[4400], path[4500], text[8192], *err;
    snprintf(dir, sizeof(dir), "%s/backbone", tmp);
    cr_assert_eq(tu_run((char *const[]){"/bin/mkdir", "-p", dir, NULL}, NULL, NULL, NULL), 0);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    cr_assert_eq(tu_write_file(path, "{\"hidden_size\": 128, \"intermediate_size\": 256, "
                                     "\"num_hidden_layers\": 6, \"num_attention_heads\": 4, "
                                     "\"vocab_size\": 256}"),
                 0);
    snprintf(text, sizeof(text),
             "study: {name: arch, seed: 5}\n"
             "space: {plugin: transformer, backbone: %s, depth: {min: 1, max: 6},\n"
             "        d_model: [32, 48, 64, 96, 128], d_ffn: [64, 128, 256]}\n"
             "oracles:\n"
             "  phone: {plugin: device, command: \"sh %s/tests/data/device/sim.sh {arch} ok\",\n"
             "          metrics: [prefill_ms, decode_ms]}\n"
             "  model: {plugin: learned, from: phone, metrics: [prefill_ms]}\n"
             "objectives: [{metric: model.prefill_ms, goal: minimize}]\n"
             "stages:\n"
             "  - {name: measure, run: phone, sampler: sobol, trials: 20}\n"
             "  - {name: fit, oracle: model}\n"
             "  - {name: predict, optimizer: {plugin: random, mode: uniform}, trials: 12}\n",
             dir, tu_srcdir());
    int rc = tu_run_study_text(tmp, text, "run", &err);
    cr_assert_eq(rc, 0, "run failed: %s", err);
    cr_expect(strstr(err, "learned from 'phone' (arch)") != NULL, "%s", err);
    free(err);
    snprintf(path, sizeof(path), "%s/run/journal.jsonl", tmp);
    char *journal = tu_read_file(path);
    cr_assert_not_null(journal);
    double truth[64] = {0}, worst = 0;
    int n = 0;
    for (char *line = strtok(journal, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *ev = json_loads(line, 0, NULL);
        const char *type = json_string_value(json_object_get(ev, "event"));
        json_int_t id = json_integer_value(json_object_get(ev, "trial"));
        if (id >= 20 && id < 64 && strcmp(type, "started") == 0) {
            json_t *a = json_object_get(ev, "arch");
            truth[id] = json_integer_value(json_object_get(a, "hidden_size")) *
                        json_integer_value(json_object_get(a, "num_hidden_layers")) / 100.0;
        } else if (id >= 20 && id < 64 && strcmp(type, "completed") == 0) {
            json_t *m = json_object_get(json_object_get(ev, "metrics"), "model.prefill_ms");
            double pred = json_number_value(json_object_get(m, "value"));
            worst = fmax(worst, fabs(pred - truth[id]) / truth[id]);
            n++;
        }
        json_decref(ev);
    }
    free(journal);
    printf("learned with architecture features: worst relative error %.3f over %d\n", worst, n);
    cr_expect_eq(n, 12);
    cr_expect_lt(worst, 0.25, "worst relative error %g", worst);
    free(tmp);

    /* params+arch asked for where there is no architecture */
    tmp = tu_tmpdir("learnbox");
    static char ten[4096], box[4096];
    snprintf(ten, sizeof(ten), "%s", edit(study_text, "MEASURED", "10"));
    snprintf(box, sizeof(box), "%s",
             edit(ten, "metrics: [branin]", "metrics: [branin], features: params+arch"));
    rc = tu_run_study_text(tmp, box, "run", &err);
    cr_expect_eq(rc, 2, "%s", err);
    cr_expect(strstr(err, "has no transformer architecture for features: params+arch") != NULL,
              "%s", err);
    free(err);
    free(tmp);
}
