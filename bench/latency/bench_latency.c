/*
 * bench_latency: accuracy tables of latency models from studies that measured and predicted
 * the same architectures (bench/latency/run.sh drives it; docs/latency.md has the numbers).
 *
 *   bench_latency table STUDY.yaml DIR [--stage holdout] [--measured host]
 *                 [--predicted latency,roofline] [--metrics M1,M2,...]
 *       For every complete trial of the stage: each metric <measured>.<m> that a predictor
 *       also reports (<predictor>.<m>) is a held-out pair. Prints, per metric and per
 *       predictor, n, MAPE, the shares within +-5 % and +-10 %, the worst error and Kendall's
 *       tau, then the same pooled per family (the name without a trailing _<context>:
 *       prefill_ms, decode_ms, decode_rel, ...), and the targets per family.
 *       --refit S: the predictors are fitted again by this build on the complete trials of
 *       stage S (e.g. measure) and their fresh predictions scored instead of the recorded
 *       ones (a model change re-scored on the same measurements; writes the fits' files into
 *       DIR: run it on a copy).
 *   bench_latency cv STUDY.yaml DIR... [--measured host] [--metrics M1,M2,...]
 *       The first complete trial of each study directory (the same architecture measured in
 *       separate runs): per timed metric the mean, the coefficient of variation across runs
 *       (sample sd / mean), min and max; the largest CV per family.
 *   --metrics keeps the metrics listed, by name or family (e.g. prefill_rel,decode_rel); the
 *   default is every prefill* and decode* metric (and the references ref_ms, mem_ms in cv).
 *   bench_latency curve STUDY.yaml DIR [--train-stage measure] [--test-stage holdout]
 *                 [--test-dir DIR2] [--measured host] [--predicted latency,roofline]
 *                 [--budgets 8,16,24,32,40,48] [--metrics M1,M2,...]
 *       Refits each predictor (its fit() on the first b complete trials of the train stage,
 *       for each budget b) and predicts the test stage's trials (of DIR2 when given: the same
 *       held-out set for two studies): held-out MAPE against the number of measurements.
 *       Writes the fits' files into DIR: run it on a copy.
 *
 * STUDY.yaml is the study file of DIR (its space decodes the points; its oracles are used by
 * curve). Exit status 0, 1 on errors, 2 on usage errors.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/journal.h"
#include "core/registry.h"
#include "core/study.h"
#include "hilnas/evaluator.h"

#define MAX_NAMES 16
#define MAX_METRICS 128

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_latency table STUDY.yaml DIR [--stage S] [--measured M] "
               "[--predicted P1,P2] [--refit TRAIN_STAGE]\n"
               "       bench_latency cv STUDY.yaml DIR... [--measured M]\n"
               "       bench_latency curve STUDY.yaml DIR [--train-stage S] [--test-stage S] "
               "[--test-dir DIR2] [--measured M] [--predicted P1,P2] [--budgets 8,16,...]\n"
               "       (each: [--metrics M1,M2,...] keeps those metrics or families)\n");
}

static size_t split(char *s, const char **out, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(s, ","); tok != NULL && n < max; tok = strtok(NULL, ",")) {
        out[n++] = tok;
    }
    return n;
}

static int read_study(struct hn_study *s, const char *dir, struct hn_replay *r,
                      struct hn_error *err)
{
    int torn = 0;
    memset(r, 0, sizeof(*r));
    r->params = hn_space_params(&s->space);
    if (hn_journal_read(dir, hn_replay_event, r, &torn, err) != 0) {
        return -1;
    }
    return 0;
}

/* ---- accuracy of a set of (prediction, truth) pairs ---- */

struct acc {
    size_t n, cap;
    double *pred, *truth;
};

static int acc_add(struct acc *a, double pred, double truth)
{
    if (!isfinite(pred) || !isfinite(truth) || truth == 0) {
        return 0;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        double *p = realloc(a->pred, cap * sizeof(double));
        if (p == NULL) {
            return -1;
        }
        a->pred = p;
        double *t = realloc(a->truth, cap * sizeof(double));
        if (t == NULL) {
            return -1;
        }
        a->truth = t;
        a->cap = cap;
    }
    a->pred[a->n] = pred;
    a->truth[a->n++] = truth;
    return 0;
}

static void acc_free(struct acc *a)
{
    free(a->pred);
    free(a->truth);
    memset(a, 0, sizeof(*a));
}

struct stats {
    double mape, w5, w10, worst, tau;
};

static struct stats acc_stats(const struct acc *a)
{
    struct stats s = {0};
    double conc = 0, disc = 0;
    for (size_t i = 0; i < a->n; i++) {
        double e = fabs(a->pred[i] - a->truth[i]) / fabs(a->truth[i]);
        s.mape += e / (double)a->n;
        s.w5 += (e <= 0.05) / (double)a->n;
        s.w10 += (e <= 0.10) / (double)a->n;
        s.worst = fmax(s.worst, e);
        for (size_t j = i + 1; j < a->n; j++) {
            double dp = a->pred[i] - a->pred[j], dt = a->truth[i] - a->truth[j];
            conc += dp * dt > 0;
            disc += dp * dt < 0;
        }
    }
    s.tau = conc + disc > 0 ? (conc - disc) / (conc + disc) : NAN;
    return s;
}

static void print_row(const char *metric, const char *pred, const struct acc *a)
{
    struct stats s = acc_stats(a);
    printf("| %-18s | %-9s | %3zu | %6.2f %% | %5.1f %% | %5.1f %% | %6.1f %% | %5.3f |\n", metric,
           pred, a->n, 100 * s.mape, 100 * s.w5, 100 * s.w10, 100 * s.worst, s.tau);
}

static void print_header(void)
{
    printf("| %-18s | %-9s | %3s | %8s | %7s | %7s | %8s | %5s |\n", "metric", "model", "n", "MAPE",
           "+-5 %", "+-10 %", "worst", "tau");
    printf("|--------------------|-----------|----:|---------:|--------:|--------:|---------:|"
           "------:|\n");
}

/* the --metrics list (names or families); none: every latency metric */
static const char *wanted[MAX_METRICS];
static size_t n_wanted;

/* The family of a metric: its name without a trailing _<digits> (decode_rel_512: decode_rel). */
static void family_of(const char *name, char *out, size_t size)
{
    size_t n = strlen(name), k = n;
    while (k > 0 && name[k - 1] >= '0' && name[k - 1] <= '9') {
        k--;
    }
    if (k < n && k > 1 && name[k - 1] == '_') {
        n = k - 1;
    }
    snprintf(out, size, "%.*s", (int)n, name);
}

/* whether a short metric name is a timed latency (prefill*, decode*, not a _cv or _settled)
 * that --metrics keeps */
static int is_latency(const char *shortname)
{
    size_t n = strlen(shortname);
    if (!((strncmp(shortname, "prefill", 7) == 0 || strncmp(shortname, "decode", 6) == 0) &&
          !(n > 3 && strcmp(shortname + n - 3, "_cv") == 0) &&
          !(n > 8 && strcmp(shortname + n - 8, "_settled") == 0))) {
        return 0;
    }
    if (n_wanted == 0) {
        return 1;
    }
    char fam[96];
    family_of(shortname, fam, sizeof(fam));
    for (size_t i = 0; i < n_wanted; i++) {
        if (strcmp(wanted[i], shortname) == 0 || strcmp(wanted[i], fam) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- table ---- */

static long source_of(const struct hn_study *s, const char *name);

/* The value of metric `name` in out, or NAN. */
static double metrics_value(const struct hn_metrics *out, const char *name)
{
    for (size_t m = 0; m < out->n; m++) {
        if (strcmp(out->m[m].name, name) == 0) {
            return out->m[m].value;
        }
    }
    return NAN;
}

/* --refit S: each predictor fitted again (by this build) on the complete trials of stage S;
 * fresh[p] gets its predictions of trial t. Returns 0 or -1 with err. */
static int refit_all(struct hn_study *s, const struct hn_replay *r, const char *train_stage,
                     const char **pred, size_t n_pred, struct hn_error *err)
{
    const struct hn_params *params = hn_space_params(&s->space);
    struct hn_trial **train = calloc(r->n + 1, sizeof(*train));
    size_t n_train = 0;
    int rc = -1;
    if (train == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < r->n; i++) {
        if (r->trials[i]->status == HN_TRIAL_COMPLETE &&
            strcmp(r->trials[i]->stage, train_stage) == 0) {
            train[n_train++] = r->trials[i];
        }
    }
    struct hn_history h = {.n = n_train, .trials = train};
    for (size_t p = 0; p < n_pred; p++) {
        long k = source_of(s, pred[p]);
        if (k < 0 || s->sources[k].plugin->kind != HN_KIND_ORACLE ||
            s->sources[k].plugin->oracle->fit == NULL) {
            hn_error_set(err, NULL, "'%s' is not a learned oracle of the study", pred[p]);
            goto done;
        }
        if (s->sources[k].plugin->oracle->fit(s->sources[k].ctx, &h, params, err) != 0) {
            hn_error_prefix(err, "fitting '%s' on the %zu trials of stage '%s'", pred[p], n_train,
                            train_stage);
            goto done;
        }
    }
    rc = 0;
done:
    free(train);
    return rc;
}

static int fresh_predictions(struct hn_study *s, const struct hn_trial *t, const char **pred,
                             size_t n_pred, struct hn_metrics *fresh, struct hn_error *err)
{
    const struct hn_params *params = hn_space_params(&s->space);
    for (size_t p = 0; p < n_pred; p++) {
        struct hn_source *so = &s->sources[source_of(s, pred[p])];
        struct hn_eval_request req = {.trial = t, .params = params, .threads = 1};
        if (so->plugin->oracle->evaluate(so->ctx, &req, &fresh[p], err) != 0) {
            hn_error_prefix(err, "'%s' predicting trial %ld", pred[p], t->id);
            return -1;
        }
    }
    return 0;
}

static int cmd_table(struct hn_study *s, const char *dir, const char *stage, const char *measured,
                     const char **pred, size_t n_pred, const char *refit, struct hn_error *err)
{
    struct hn_metrics fresh[MAX_NAMES];
    struct hn_replay r;
    char names[MAX_METRICS][96];
    size_t n_names = 0;
    static struct acc acc[MAX_METRICS][MAX_NAMES], pooled[MAX_METRICS][MAX_NAMES];
    char families[MAX_METRICS][96];
    size_t ml = strlen(measured), n_trials = 0, n_families = 0;
    int rc = -1;
    memset(acc, 0, sizeof(acc));
    memset(pooled, 0, sizeof(pooled));
    memset(fresh, 0, sizeof(fresh));
    if (read_study(s, dir, &r, err) != 0 ||
        (refit != NULL && refit_all(s, &r, refit, pred, n_pred, err) != 0)) {
        goto done;
    }
    for (size_t i = 0; i < r.n; i++) {
        const struct hn_trial *t = r.trials[i];
        if (t->status != HN_TRIAL_COMPLETE || strcmp(t->stage, stage) != 0) {
            continue;
        }
        n_trials++;
        for (size_t p = 0; p < n_pred; p++) {
            hn_metrics_clear(&fresh[p]);
        }
        if (refit != NULL && fresh_predictions(s, t, pred, n_pred, fresh, err) != 0) {
            goto done;
        }
        for (size_t j = 0; j < t->metrics.n; j++) {
            const char *name = t->metrics.m[j].name;
            if (strncmp(name, measured, ml) != 0 || name[ml] != '.' || !is_latency(name + ml + 1)) {
                continue;
            }
            const char *shortname = name + ml + 1;
            size_t k = 0;
            while (k < n_names && strcmp(names[k], shortname) != 0) {
                k++;
            }
            if (k == n_names) {
                if (n_names == MAX_METRICS) {
                    continue;
                }
                snprintf(names[n_names++], sizeof(names[0]), "%s", shortname);
            }
            char fam[96];
            size_t f = 0;
            family_of(shortname, fam, sizeof(fam));
            while (f < n_families && strcmp(families[f], fam) != 0) {
                f++;
            }
            if (f == n_families) {
                snprintf(families[n_families++], sizeof(families[0]), "%s", fam);
            }
            for (size_t p = 0; p < n_pred; p++) {
                char full[256];
                snprintf(full, sizeof(full), "%s.%s", pred[p], shortname);
                double v =
                    refit != NULL ? metrics_value(&fresh[p], shortname) : hn_trial_value(t, full);
                if (acc_add(&acc[k][p], v, t->metrics.m[j].value) != 0 ||
                    acc_add(&pooled[f][p], v, t->metrics.m[j].value) != 0) {
                    hn_error_set(err, NULL, "out of memory");
                    goto done;
                }
            }
        }
    }
    if (n_trials == 0) {
        hn_error_set(err, dir, "no complete trial of stage '%s'", stage);
        goto done;
    }
    printf("held-out accuracy: %zu trials of stage '%s' measured by '%s' (%s)%s%s\n\n", n_trials,
           stage, measured, dir, refit ? "; the models fitted again by this build on stage " : "",
           refit ? refit : "");
    print_header();
    /* rows of the metrics some predictor predicts (the reference's own _ref medians are not) */
    for (size_t k = 0; k < n_names; k++) {
        size_t any = 0;
        for (size_t p = 0; p < n_pred; p++) {
            any += acc[k][p].n;
        }
        for (size_t p = 0; p < n_pred && any > 0; p++) {
            print_row(names[k], pred[p], &acc[k][p]);
        }
    }
    for (size_t f = 0; f < n_families; f++) {
        char label[128];
        size_t any = 0;
        snprintf(label, sizeof(label), "%s (all)", families[f]);
        for (size_t p = 0; p < n_pred; p++) {
            any += pooled[f][p].n;
        }
        for (size_t p = 0; p < n_pred && any > 0; p++) {
            print_row(label, pred[p], &pooled[f][p]);
        }
    }
    printf("\n");
    /* the targets on the first predictor, which should beat the others */
    for (size_t f = 0; f < n_families && n_pred > 0; f++) {
        struct stats a = acc_stats(&pooled[f][0]);
        int beats = 1;
        if (pooled[f][0].n == 0) {
            continue;
        }
        for (size_t p = 1; p < n_pred; p++) {
            beats &= acc_stats(&pooled[f][p]).mape > a.mape;
        }
        printf("%s %s: MAPE %.2f %% (<= 5 %%: %s), within 10 %% %.0f %% (>= 90 %%: %s)%s%s\n",
               pred[0], families[f], 100 * a.mape, a.mape <= 0.05 ? "met" : "MISSED", 100 * a.w10,
               a.w10 >= 0.90 ? "met" : "MISSED", n_pred > 1 ? ", beats the others: " : "",
               n_pred > 1 ? (beats ? "yes" : "NO") : "");
    }
    rc = 0;
done:
    for (size_t p = 0; p < MAX_NAMES; p++) {
        hn_metrics_clear(&fresh[p]);
    }
    for (size_t k = 0; k < MAX_METRICS; k++) {
        for (size_t p = 0; p < MAX_NAMES; p++) {
            acc_free(&acc[k][p]);
        }
    }
    for (size_t f = 0; f < MAX_METRICS; f++) {
        for (size_t p = 0; p < MAX_NAMES; p++) {
            acc_free(&pooled[f][p]);
        }
    }
    hn_replay_free(&r);
    return rc;
}

/* ---- cv ---- */

static int cmd_cv(struct hn_study *s, char **dirs, size_t n_dirs, const char *measured,
                  struct hn_error *err)
{
    char names[MAX_METRICS][96];
    double *v[MAX_METRICS] = {0};
    size_t n_names = 0, ml = strlen(measured);
    int rc = -1;
    for (size_t d = 0; d < n_dirs; d++) {
        struct hn_replay r;
        if (read_study(s, dirs[d], &r, err) != 0) {
            hn_replay_free(&r);
            goto done;
        }
        const struct hn_trial *t = NULL;
        for (size_t i = 0; i < r.n && t == NULL; i++) {
            t = r.trials[i]->status == HN_TRIAL_COMPLETE ? r.trials[i] : NULL;
        }
        if (t == NULL) {
            hn_error_set(err, dirs[d], "no complete trial");
            hn_replay_free(&r);
            goto done;
        }
        for (size_t j = 0; j < t->metrics.n; j++) {
            const char *name = t->metrics.m[j].name;
            if (strncmp(name, measured, ml) != 0 || name[ml] != '.' ||
                !(is_latency(name + ml + 1) ||
                  (n_wanted == 0 && (strcmp(name + ml + 1, "ref_ms") == 0 ||
                                     strcmp(name + ml + 1, "mem_ms") == 0)))) {
                continue;
            }
            size_t k = 0;
            while (k < n_names && strcmp(names[k], name + ml + 1) != 0) {
                k++;
            }
            if (k == n_names) {
                if (n_names == MAX_METRICS) {
                    continue;
                }
                snprintf(names[n_names++], sizeof(names[0]), "%s", name + ml + 1);
                v[k] = calloc(n_dirs, sizeof(double));
                if (v[k] == NULL) {
                    hn_replay_free(&r);
                    hn_error_set(err, NULL, "out of memory");
                    goto done;
                }
                for (size_t e = 0; e < n_dirs; e++) {
                    v[k][e] = NAN;
                }
            }
            v[k][d] = t->metrics.m[j].value;
        }
        hn_replay_free(&r);
    }
    printf("the same architecture measured by '%s' in %zu separate runs\n\n", measured, n_dirs);
    printf("| %-18s | %10s | %6s | %10s | %10s |\n", "metric", "mean ms", "CV", "min ms", "max ms");
    printf("|--------------------|-----------:|-------:|-----------:|-----------:|\n");
    char families[MAX_METRICS][96];
    double worst[MAX_METRICS];
    size_t n_families = 0;
    for (size_t k = 0; k < n_names; k++) {
        double mean = 0, ss = 0, lo = INFINITY, hi = -INFINITY;
        size_t m = 0;
        for (size_t d = 0; d < n_dirs; d++) {
            if (isfinite(v[k][d])) {
                mean += v[k][d];
                lo = fmin(lo, v[k][d]);
                hi = fmax(hi, v[k][d]);
                m++;
            }
        }
        mean /= (double)(m ? m : 1);
        for (size_t d = 0; d < n_dirs; d++) {
            if (isfinite(v[k][d])) {
                ss += (v[k][d] - mean) * (v[k][d] - mean);
            }
        }
        double cv = m > 1 ? sqrt(ss / (double)(m - 1)) / mean : NAN;
        if (is_latency(names[k])) {
            char fam[96];
            size_t f = 0;
            family_of(names[k], fam, sizeof(fam));
            while (f < n_families && strcmp(families[f], fam) != 0) {
                f++;
            }
            if (f == n_families) {
                snprintf(families[n_families], sizeof(families[0]), "%s", fam);
                worst[n_families++] = 0;
            }
            worst[f] = fmax(worst[f], cv);
        }
        printf("| %-18s | %10.4f | %5.2f%% | %10.4f | %10.4f |\n", names[k], mean, 100 * cv, lo,
               hi);
    }
    printf("\n");
    for (size_t f = 0; f < n_families; f++) {
        printf("largest CV across runs (%s): %.2f %% (<= 3 %%: %s)\n", families[f], 100 * worst[f],
               worst[f] <= 0.03 ? "met" : "MISSED");
    }
    rc = 0;
done:
    for (size_t k = 0; k < MAX_METRICS; k++) {
        free(v[k]);
    }
    return rc;
}

/* ---- curve ---- */

static long source_of(const struct hn_study *s, const char *name)
{
    for (size_t i = 0; i < s->n_sources; i++) {
        if (strcmp(s->sources[i].name, name) == 0) {
            return (long)i;
        }
    }
    return -1;
}

static int cmd_curve(struct hn_study *s, const char *dir, const char *test_dir,
                     const char *train_stage, const char *test_stage, const char *measured,
                     const char **pred, size_t n_pred, const long *budgets, size_t n_budgets,
                     struct hn_error *err)
{
    struct hn_replay r, rt;
    const struct hn_params *params = hn_space_params(&s->space);
    struct hn_trial **train = NULL;
    size_t n_train = 0, ml = strlen(measured);
    long src[MAX_NAMES];
    int rc = -1;
    memset(&rt, 0, sizeof(rt));
    if (read_study(s, dir, &r, err) != 0 ||
        (test_dir != NULL && read_study(s, test_dir, &rt, err) != 0)) {
        goto done;
    }
    const struct hn_replay *tr = test_dir != NULL ? &rt : &r;
    for (size_t p = 0; p < n_pred; p++) {
        src[p] = source_of(s, pred[p]);
        if (src[p] < 0 || s->sources[src[p]].plugin->kind != HN_KIND_ORACLE ||
            s->sources[src[p]].plugin->oracle->fit == NULL) {
            hn_error_set(err, NULL, "'%s' is not a learned oracle of the study", pred[p]);
            goto done;
        }
    }
    train = calloc(r.n + 1, sizeof(*train));
    if (train == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < r.n; i++) {
        if (r.trials[i]->status == HN_TRIAL_COMPLETE &&
            strcmp(r.trials[i]->stage, train_stage) == 0) {
            train[n_train++] = r.trials[i];
        }
    }
    printf("held-out MAPE against measurements: fits on the first b trials of stage '%s' (%s), "
           "tested on stage '%s' (%s)\n\n",
           train_stage, dir, test_stage, test_dir ? test_dir : dir);
    printf("| %5s |", "b");
    for (size_t p = 0; p < n_pred; p++) {
        printf(" %s prefill | %s decode |", pred[p], pred[p]);
    }
    printf("\n|------:|");
    for (size_t p = 0; p < n_pred; p++) {
        printf("----------:|---------:|");
    }
    printf("\n");
    for (size_t bi = 0; bi < n_budgets; bi++) {
        size_t b = (size_t)budgets[bi];
        if (b > n_train) {
            printf("(only %zu trials in stage '%s'; larger budgets skipped)\n", n_train,
                   train_stage);
            break;
        }
        struct hn_history h = {.n = b, .trials = train};
        printf("| %5zu |", b);
        for (size_t p = 0; p < n_pred; p++) {
            struct hn_source *so = &s->sources[src[p]];
            struct acc a[2];
            memset(a, 0, sizeof(a));
            if (so->plugin->oracle->fit(so->ctx, &h, params, err) != 0) {
                hn_error_prefix(err, "fitting '%s' on %zu trials", pred[p], b);
                goto done;
            }
            for (size_t i = 0; i < tr->n; i++) {
                const struct hn_trial *t = tr->trials[i];
                struct hn_metrics out = {0};
                if (t->status != HN_TRIAL_COMPLETE || strcmp(t->stage, test_stage) != 0) {
                    continue;
                }
                struct hn_eval_request req = {.trial = t, .params = params, .threads = 1};
                if (so->plugin->oracle->evaluate(so->ctx, &req, &out, err) != 0) {
                    hn_metrics_clear(&out);
                    acc_free(&a[0]);
                    acc_free(&a[1]);
                    goto done;
                }
                for (size_t m = 0; m < out.n; m++) {
                    char full[256];
                    if (!is_latency(out.m[m].name)) {
                        continue;
                    }
                    snprintf(full, sizeof(full), "%.*s.%s", (int)ml, measured, out.m[m].name);
                    double truth = hn_trial_value(t, full);
                    if (acc_add(&a[out.m[m].name[0] == 'd'], out.m[m].value, truth) != 0) {
                        hn_error_set(err, NULL, "out of memory");
                    }
                }
                hn_metrics_clear(&out);
            }
            printf(" %8.2f %% | %7.2f %% |", 100 * acc_stats(&a[0]).mape,
                   100 * acc_stats(&a[1]).mape);
            acc_free(&a[0]);
            acc_free(&a[1]);
        }
        printf("\n");
        fflush(stdout);
    }
    rc = 0;
done:
    free(train);
    hn_replay_free(&r);
    hn_replay_free(&rt);
    return rc;
}

int main(int argc, char **argv)
{
    struct hn_error err;
    hn_error_clear(&err);
    if (argc < 4) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1], *file = argv[2];
    const char *stage = "holdout", *train_stage = "measure", *measured = "host";
    const char *test_dir = NULL, *refit = NULL;
    char pred_buf[512] = "latency,roofline", budget_buf[512] = "8,16,24,32,40,48";
    char metrics_buf[1024] = "";
    char *dirs[256];
    size_t n_dirs = 0;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] == '-' && a[1] == '-' && v == NULL) {
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--stage") == 0 || strcmp(a, "--test-stage") == 0) {
            stage = v;
            i++;
        } else if (strcmp(a, "--train-stage") == 0) {
            train_stage = v;
            i++;
        } else if (strcmp(a, "--refit") == 0) {
            refit = v;
            i++;
        } else if (strcmp(a, "--measured") == 0) {
            measured = v;
            i++;
        } else if (strcmp(a, "--test-dir") == 0) {
            test_dir = v;
            i++;
        } else if (strcmp(a, "--predicted") == 0) {
            snprintf(pred_buf, sizeof(pred_buf), "%s", v);
            i++;
        } else if (strcmp(a, "--metrics") == 0) {
            snprintf(metrics_buf, sizeof(metrics_buf), "%s", v);
            i++;
        } else if (strcmp(a, "--budgets") == 0) {
            snprintf(budget_buf, sizeof(budget_buf), "%s", v);
            i++;
        } else if (a[0] == '-') {
            usage(stderr);
            return 2;
        } else if (n_dirs < 256) {
            dirs[n_dirs++] = argv[i];
        }
    }
    const char *pred[MAX_NAMES], *bstr[64];
    long budgets[64];
    size_t n_pred = split(pred_buf, pred, MAX_NAMES), n_budgets = split(budget_buf, bstr, 64);
    n_wanted = split(metrics_buf, wanted, MAX_METRICS);
    for (size_t i = 0; i < n_budgets; i++) {
        budgets[i] = strtol(bstr[i], NULL, 10);
        if (budgets[i] < 2) {
            usage(stderr);
            return 2;
        }
    }
    if (n_dirs == 0 || (strcmp(cmd, "cv") != 0 && n_dirs != 1)) {
        usage(stderr);
        return 2;
    }
    struct hn_study_options opt = {.output = dirs[0], .quiet = 1};
    struct hn_study *s = hn_study_load(file, &opt, &err);
    int rc = -1;
    if (s == NULL) {
        fprintf(stderr, "bench_latency: %s\n", err.msg);
        return 1;
    }
    if (strcmp(cmd, "table") == 0) {
        rc = cmd_table(s, dirs[0], stage, measured, pred, n_pred, refit, &err);
    } else if (strcmp(cmd, "cv") == 0) {
        rc = cmd_cv(s, dirs, n_dirs, measured, &err);
    } else if (strcmp(cmd, "curve") == 0) {
        rc = cmd_curve(s, dirs[0], test_dir, train_stage, stage, measured, pred, n_pred, budgets,
                       n_budgets, &err);
    } else {
        usage(stderr);
        hn_study_free(s);
        return 2;
    }
    if (rc != 0) {
        fprintf(stderr, "bench_latency: %s\n", err.msg);
    }
    hn_study_free(s);
    hn_registry_shutdown();
    return rc == 0 ? 0 : 1;
}
