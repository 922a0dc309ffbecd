/*
 * bench_optimizers: quality and speed of the gpbo optimizer against scrambled Sobol at the same
 * budget, on the standard test problems (BoTorch definitions, plugins/evaluator-testfn).
 *
 * The optimizer module is loaded through the plugin registry (the build tree's plugins/) and
 * driven in-process: create with study-like arguments, then an ask/evaluate loop with the test
 * functions' math, one point per ask. Prints tables (not a test):
 *   - per problem and budget: median [first quartile, third quartile] over the seeds of the
 *     simple regret (one objective) or log10 of the hypervolume difference to the true front
 *     (two objectives), for gpbo and for Sobol;
 *   - seconds per ask (GP fits + acquisition optimization) with n = 50 .. 1026 observations.
 *
 * usage: bench_optimizers [--seeds N] [--first-seed S] [--quick] [--no-timing | --timing-only]
 *                         [--only PROBLEM] [--options YAML] [--discrete]
 *   seeds S .. S + N - 1 (default 0 .. 9); --options adds gpbo options to every run, e.g.
 *   --options "acquisition: nehvi".
 *   The scale table times asks at 50 .. 1026 observations (hartmann6, branincurrin): the
 *   default fit reuse against full refits at every ask (full_fit_max: 1000000) and against one
 *   Cholesky factorization of the same size, all in the same run (ratios survive a loaded
 *   machine better than seconds).
 *   --discrete prints only the binary-heavy table (testfn layers: gpbo with local search,
 *   gpbo rounding, random search).
 */
#include "config.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/registry.h"
#include "core/study.h"
#include "hilnas/optimizer.h"
#include "hilnas/pareto.h"
#include "hilnas/rng.h"
#include "hilnas/sobol.h"
#include "hilnas/util.h"
#include "plugins/evaluator-testfn/testfn.h"

char *openblas_get_config(void);

#define MAX_BUDGETS 4

struct problem {
    const char *name;
    size_t d, m;
    double lo, hi;  /* every coordinate */
    double optimum; /* min (one objective) or max hypervolume (two) */
    double ref[2];
    size_t init, total; /* Sobol points of the gpbo run, total budget */
    size_t budgets[MAX_BUDGETS];
    int discrete; /* the layers space: x0..x15 bool, x16..x19 choice [0, 1, 2, 3, 4] */
};

static void evaluate(const struct problem *p, const double *x, double *f)
{
    if (strcmp(p->name, "branin") == 0) {
        double native[2] = {-5 + 15 * x[0], 15 * x[1]}; /* optimized on the unit square */
        f[0] = testfn_branin(native);
    } else if (strcmp(p->name, "hartmann6") == 0) {
        f[0] = testfn_hartmann6(x);
    } else if (strcmp(p->name, "branincurrin") == 0) {
        testfn_branincurrin(x, f);
    } else if (strcmp(p->name, "layers") == 0) {
        f[0] = testfn_layers(x);
    } else if (strcmp(p->name, "dtlz2") == 0) {
        testfn_dtlz2(x, p->d, 2, f);
    } else {
        testfn_zdt(1, x, p->d, f);
    }
}

/* ---- an in-process study: space, problem, history ---- */

static const struct hn_space_ops bench_space_ops = {.size = sizeof(struct hn_space_ops)};
static const struct hn_plugin bench_space_plugin = {HN_PLUGIN_HEAD(HN_KIND_SPACE), .name = "bench",
                                                    .space = &bench_space_ops};

struct run {
    const struct problem *p;
    struct hn_config_node *root;
    struct hn_params *params;
    struct hn_space space;
    struct hn_objective obj[2];
    struct hn_problem problem;
    const struct hn_plugin *plugin;
    void *opt;
    struct hn_trial **trials;
    size_t n;
};

static const char *metric_names[2] = {"f.f0", "f.f1"};

/* the study directory given to the optimizers run_open creates (NULL: none) */
static const char *runs_study_dir;

static int run_open(struct run *r, const struct problem *p, const char *options, uint64_t seed,
                    size_t capacity, struct hn_error *err)
{
    char yaml[4096];
    size_t len = (size_t)snprintf(yaml, sizeof(yaml), "params:\n");
    memset(r, 0, sizeof(*r));
    r->p = p;
    for (size_t i = 0; i < p->d; i++) {
        if (p->discrete) {
            len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
                                    i < TESTFN_LAYERS_BITS
                                        ? "  x%zu: {type: bool}\n"
                                        : "  x%zu: {type: choice, values: [0, 1, 2, 3, 4]}\n",
                                    i);
            continue;
        }
        len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
                                "  x%zu: {type: float, min: %.17g, max: %.17g}\n", i, p->lo, p->hi);
    }
    snprintf(yaml + len, sizeof(yaml) - len, "gpbo: %s\n", options);
    r->root = hn_config_load_string(yaml, "bench.yaml", err);
    if (r->root == NULL) {
        return -1;
    }
    r->params = hn_params_parse(hn_config_get(r->root, "params"), NULL, err);
    if (r->params == NULL) {
        return -1;
    }
    r->space.plugin = &bench_space_plugin;
    r->space.params = r->params;
    for (size_t j = 0; j < p->m; j++) {
        r->obj[j].metric = metric_names[j];
        r->obj[j].ref = p->m > 1 ? p->ref[j] : NAN;
    }
    r->problem.n_objectives = p->m;
    r->problem.objectives = r->obj;
    r->plugin = hn_registry_find(HN_KIND_OPTIMIZER, "gpbo", err);
    if (r->plugin == NULL) {
        return -1;
    }
    struct hn_plugin_args args = {.node = hn_config_get(r->root, "gpbo"),
                                  .instance = "gpbo",
                                  .stage = "bo",
                                  .study_dir = runs_study_dir,
                                  .seed = seed,
                                  .space = &r->space,
                                  .problem = &r->problem,
                                  .threads = 1};
    r->opt = r->plugin->optimizer->create(&args, err);
    r->trials = calloc(capacity, sizeof(*r->trials));
    return r->opt != NULL && r->trials != NULL ? 0 : -1;
}

static void run_close(struct run *r)
{
    if (r->opt) {
        r->plugin->optimizer->destroy(r->opt);
    }
    for (size_t i = 0; i < r->n; i++) {
        hn_trial_free(r->trials[i]);
    }
    free(r->trials);
    hn_params_free(r->params);
    hn_config_free(r->root);
}

static int run_add(struct run *r, const double *x, double *f, struct hn_error *err)
{
    struct hn_trial *t = hn_trial_new((long)r->n, "bo", x, r->p->d);
    if (t == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    evaluate(r->p, x, f);
    for (size_t j = 0; j < r->p->m; j++) {
        if (hn_metrics_put(&t->metrics, metric_names[j], f[j], NAN, err) != 0) {
            hn_trial_free(t);
            return -1;
        }
    }
    t->status = HN_TRIAL_COMPLETE;
    r->trials[r->n++] = t;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int ask_one(struct run *r, double *x, struct hn_error *err)
{
    struct hn_history h = {.n = r->n, .trials = r->trials};
    int got = r->plugin->optimizer->ask(r->opt, &h, 1, x, err);
    if (got < 0) {
        return -1;
    }
    if (got == 0) {
        return hn_error_set(err, NULL, "the optimizer suggested nothing");
    }
    return 0;
}

/* Quality after each budget: regret, or log10 of the hypervolume difference. */
static double quality(const struct problem *p, const double *y, size_t n)
{
    if (p->m == 1) {
        double best = INFINITY;
        for (size_t i = 0; i < n; i++) {
            best = fmin(best, y[i]);
        }
        return best - p->optimum;
    }
    double hv = hn_hypervolume(y, n, 2, p->ref, NULL);
    return log10(fmax(p->optimum - hv, 1e-12));
}

static const char *extra_options;

static int run_gpbo(const struct problem *p, uint64_t seed, double *out, double *seconds,
                    struct hn_error *err)
{
    struct run r;
    char options[1024];
    double *y = malloc(p->total * p->m * sizeof(double)), x[64];
    int rc = -1;
    snprintf(options, sizeof(options), "{init_trials: %zu%s%s}", p->init, extra_options ? ", " : "",
             extra_options ? extra_options : "");
    if (y == NULL || run_open(&r, p, options, seed, p->total, err) != 0) {
        goto done;
    }
    double t_bo = 0;
    for (size_t i = 0; i < p->total; i++) {
        double t0 = now();
        if (ask_one(&r, x, err) != 0) {
            goto done;
        }
        if (i >= p->init) {
            t_bo += now() - t0;
        }
        if (run_add(&r, x, y + i * p->m, err) != 0) {
            goto done;
        }
    }
    for (size_t b = 0; b < MAX_BUDGETS && p->budgets[b]; b++) {
        out[b] = quality(p, y, p->budgets[b]);
    }
    *seconds = t_bo / (double)(p->total - p->init);
    rc = 0;
done:
    run_close(&r);
    free(y);
    return rc;
}

static void run_sobol(const struct problem *p, uint64_t seed, double *out)
{
    struct hn_error err;
    struct hn_sobol *s = hn_sobol_new(p->d, 1, hn_rng_derive(seed, 0x50b01), &err);
    double *y = malloc(p->total * p->m * sizeof(double)), u[64], x[64];
    for (size_t i = 0; i < p->total; i++) {
        hn_sobol_next(s, u);
        for (size_t k = 0; k < p->d; k++) {
            x[k] = p->lo + u[k] * (p->hi - p->lo);
            if (p->discrete) {
                /* random search on the grid: a bool or one of 5 levels per coordinate */
                double levels = k < TESTFN_LAYERS_BITS ? 2 : TESTFN_LAYERS_LEVELS;
                x[k] = fmin(floor(u[k] * levels), levels - 1);
            }
        }
        evaluate(p, x, y + i * p->m);
    }
    for (size_t b = 0; b < MAX_BUDGETS && p->budgets[b]; b++) {
        out[b] = quality(p, y, p->budgets[b]);
    }
    hn_sobol_free(s);
    free(y);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile q of n sorted values (linear interpolation). */
static double quantile(const double *v, size_t n, double q)
{
    double pos = q * (double)(n - 1);
    size_t i = (size_t)floor(pos);
    return i + 1 < n ? v[i] + (pos - (double)i) * (v[i + 1] - v[i]) : v[n - 1];
}

static void summary(double *v, size_t n, char *buf, size_t size, int log_scale)
{
    qsort(v, n, sizeof(double), cmp_double);
    const char *fmt = log_scale ? "%.2f [%.2f, %.2f]" : "%.3g [%.3g, %.3g]";
    snprintf(buf, size, fmt, quantile(v, n, 0.5), quantile(v, n, 0.25), quantile(v, n, 0.75));
}

static const struct problem problems[] = {
    {.name = "branin",
     .d = 2,
     .m = 1,
     .lo = 0,
     .hi = 1,
     .optimum = TESTFN_BRANIN_MIN,
     .init = 6,
     .total = 30,
     .budgets = {10, 20, 30}},
    {.name = "hartmann6",
     .d = 6,
     .m = 1,
     .lo = 0,
     .hi = 1,
     .optimum = TESTFN_HARTMANN6_MIN,
     .init = 10,
     .total = 50,
     .budgets = {20, 30, 50}},
    {.name = "branincurrin",
     .d = 2,
     .m = 2,
     .lo = 0,
     .hi = 1,
     .optimum = TESTFN_BRANINCURRIN_MAX_HV,
     .ref = {18, 6},
     .init = 6,
     .total = 26,
     .budgets = {10, 18, 26}},
    {.name = "dtlz2",
     .d = 6,
     .m = 2,
     .lo = 0,
     .hi = 1,
     .optimum = 1.21 - M_PI / 4,
     .ref = {1.1, 1.1},
     .init = 12,
     .total = 50,
     .budgets = {20, 35, 50}},
    /* ZDT1 front f1 = 1 - sqrt(f0): hypervolume to (11, 11) = 121 - 1/3 */
    {.name = "zdt1",
     .d = 6,
     .m = 2,
     .lo = 0,
     .hi = 1,
     .optimum = 121 - 1.0 / 3,
     .ref = {11, 11},
     .init = 12,
     .total = 50,
     .budgets = {20, 35, 50}},
};

/*
 * Seconds of consecutive asks: n_start Sobol observations of a problem, one ask (not timed
 * separately: it builds the fit chain from nothing, as after a resume; its time goes to
 * *first), then `asks` timed asks, each after the previous suggestion was evaluated and added
 * (ask i sees n_start + i observations). options: gpbo options (YAML flow mapping body).
 */
static int time_asks(const struct problem *p, size_t n_start, size_t asks, const char *options,
                     double *first, double *seconds, double *cpu, struct hn_error *err)
{
    struct run r;
    char opts[512];
    double *y = malloc((n_start + asks + 2) * p->m * sizeof(double)), u[64], x[64];
    struct hn_sobol *s = hn_sobol_new(p->d, 1, 77, err);
    int rc = -1;
    snprintf(opts, sizeof(opts), "{init_trials: 0%s%s}", options[0] ? ", " : "", options);
    if (y == NULL || s == NULL || run_open(&r, p, opts, 1, n_start + asks + 2, err) != 0) {
        goto done;
    }
    for (size_t i = 0; i < n_start; i++) {
        hn_sobol_next(s, u);
        for (size_t k = 0; k < p->d; k++) {
            x[k] = p->lo + u[k] * (p->hi - p->lo);
        }
        if (run_add(&r, x, y + i * p->m, err) != 0) {
            goto done;
        }
    }
    double t0 = now();
    if (ask_one(&r, x, err) != 0) {
        goto done;
    }
    *first = now() - t0;
    for (size_t k = 0; k < asks; k++) {
        if (run_add(&r, x, y + (n_start + k) * p->m, err) != 0) {
            goto done;
        }
        t0 = now();
        double c0 = cpu_now();
        if (ask_one(&r, x, err) != 0) {
            goto done;
        }
        seconds[k] = now() - t0;
        cpu[k] = cpu_now() - c0;
    }
    rc = 0;
done:
    run_close(&r);
    hn_sobol_free(s);
    free(y);
    return rc;
}

/* Seconds of the first ask of a resumed study that finds gpbo's anchors file: a first run on
 * n_start observations builds the chain and writes the file in a temporary study directory, a
 * second run on the same observations (a new instance, as after a resume) asks once. */
static int time_resumed(const struct problem *p, size_t n_start, double *seconds,
                        struct hn_error *err)
{
    char dir[] = "/tmp/hilnas-bench-XXXXXX";
    double first, unused[1], unused_cpu[1];
    if (mkdtemp(dir) == NULL) {
        return hn_error_set(err, NULL, "mkdtemp: %s", hn_strerror(errno));
    }
    runs_study_dir = dir;
    int rc = time_asks(p, n_start, 0, "", &first, unused, unused_cpu, err);
    if (rc == 0) {
        rc = time_asks(p, n_start, 0, "", seconds, unused, unused_cpu, err);
    }
    runs_study_dir = NULL;
    DIR *d = opendir(dir);
    for (struct dirent *e = d ? readdir(d) : NULL; e != NULL; e = readdir(d)) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.') {
            unlink(path);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    rmdir(dir);
    return rc;
}

/* Seconds of one Cholesky factorization (dpotrf) of an n x n kernel matrix on one thread:
 * the yardstick measured in the same run (best of 3). */
static double cholesky_seconds(size_t n)
{
    double *K = malloc(n * n * sizeof(double)), *A = malloc(n * n * sizeof(double)), best = 1e9;
    struct hn_rng rng;
    hn_rng_seed(&rng, 5);
    double *X = malloc(n * 6 * sizeof(double));
    for (size_t i = 0; i < n * 6; i++) {
        X[i] = hn_rng_uniform(&rng);
    }
    for (size_t j = 0; j < n; j++) {
        for (size_t i = 0; i < n; i++) {
            double r2 = 0;
            for (size_t q = 0; q < 6; q++) {
                double dx = X[i * 6 + q] - X[j * 6 + q];
                r2 += dx * dx / 0.25;
            }
            K[i + j * n] = exp(-0.5 * r2) + (i == j ? 1e-3 : 0);
        }
    }
    int threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
    for (int t = 0; t < 3; t++) {
        memcpy(A, K, n * n * sizeof(double));
        double t0 = now();
        LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)n, A, (lapack_int)n);
        best = fmin(best, now() - t0);
    }
    openblas_set_num_threads(threads);
    free(K);
    free(A);
    free(X);
    return best;
}

/* Anchor sizes of gpbo's fit reuse (models.h) with the default full_fit_max and growth. */
static int is_anchor(size_t n)
{
    for (size_t a = 200; a <= n;) {
        if (a == n) {
            return 1;
        }
        size_t next = (size_t)ceil((double)a * 1.1);
        a = next > a ? next : a + 1;
    }
    return 0;
}

static void cmd_load(char *buf, size_t size)
{
    FILE *f = fopen("/proc/loadavg", "r");
    if (f == NULL || fgets(buf, (int)size, f) == NULL) {
        snprintf(buf, size, "?");
    }
    if (f) {
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = 0;
}

/*
 * The scale table: asks at n ~ 50 .. 1000 with the default reuse, against the same code fitting
 * from scratch at every ask (full_fit_max: 1000000, the behaviour before the reuse) and against
 * one Cholesky of the same size, all in this run.
 */
static int scale_table(const char *only, int quick, struct hn_error *err)
{
    /* asks at n_start + 1 .. n_start + asks; 527 and 1031 are anchors (a warm refit) */
    static const struct {
        size_t n_start, asks;
    } points[] = {{49, 1}, {199, 1}, {498, 3}, {526, 2}, {998, 3}, {1030, 2}};
    char load[128];
    cmd_load(load, sizeof(load));
    printf("\n# scale: load average before: %s\n", load);
    printf("| problem | observations | ask kind | seconds per ask (CPU) | full refit, old "
           "(CPU) | Cholesky of n | ask / Cholesky |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- |\n");
    size_t n_problems = sizeof(problems) / sizeof(problems[0]);
    for (size_t pi = 0; pi < n_problems; pi++) {
        const struct problem *p = &problems[pi];
        if ((strcmp(p->name, "hartmann6") != 0 && strcmp(p->name, "branincurrin") != 0) ||
            (only && strcmp(only, p->name) != 0)) {
            continue;
        }
        for (size_t k = 0; k < sizeof(points) / sizeof(points[0]); k++) {
            size_t n0 = points[k].n_start, asks = points[k].asks;
            if (quick && n0 > 200) {
                continue;
            }
            double first, sec[4], cpu[4], first_ref, sec_ref[4], cpu_ref[4];
            if (time_asks(p, n0, asks, "", &first, sec, cpu, err) != 0) {
                return -1;
            }
            /* the old behaviour only at one ask per size (a cold fit of 1000 points is slow) */
            int ref = n0 <= 200 || k == 2 || k == 4;
            if (ref && time_asks(p, n0, 1, "full_fit_max: 1000000", &first_ref, sec_ref, cpu_ref,
                                 err) != 0) {
                return -1;
            }
            for (size_t a = 0; a < asks; a++) {
                size_t n = n0 + 1 + a;
                double chol = cholesky_seconds(n);
                char refbuf[64] = "-";
                if (ref && a == 0) {
                    snprintf(refbuf, sizeof(refbuf), "%.3f (%.3f)", sec_ref[0], cpu_ref[0]);
                }
                printf("| %s (d = %zu) | %zu | %s | %.3f (%.3f) | %s | %.2f ms | %.0f |\n", p->name,
                       p->d, n,
                       n <= 200       ? "full fit"
                       : is_anchor(n) ? "anchor (warm refit)"
                                      : "update",
                       sec[a], cpu[a], refbuf, 1e3 * chol, sec[a] / chol);
            }
            if (n0 > 200) {
                double resumed;
                if (time_resumed(p, n0, &resumed, err) != 0) {
                    return -1;
                }
                printf("| %s (d = %zu) | %zu | first ask (chain from nothing, as after a "
                       "resume without the anchors file) | %.3f | - | - | - |\n",
                       p->name, p->d, n0, first);
                printf("| %s (d = %zu) | %zu | first ask after a resume, anchors file read | "
                       "%.3f | - | - | - |\n",
                       p->name, p->d, n0, resumed);
            }
            fflush(stdout);
        }
    }
    cmd_load(load, sizeof(load));
    printf("# load average after: %s\n", load);
    return 0;
}

/*
 * Binary-heavy space (testfn layers: 16 bools, 4 ordered choices; known minimum): gpbo with
 * its discrete local search, the same gpbo rounding the continuous optimum (discrete: round),
 * and random search (scrambled Sobol mapped to the grid). Regret median [q1, q3] over seeds,
 * and how many seeds found the exact minimum.
 */
static int discrete_table(size_t seeds, size_t seed0, struct hn_error *err)
{
    static const struct problem layers = {.name = "layers",
                                          .d = TESTFN_LAYERS_DIM,
                                          .m = 1,
                                          .lo = 0,
                                          .hi = 1,
                                          .optimum = TESTFN_LAYERS_MIN,
                                          .init = 10,
                                          .total = 60,
                                          .budgets = {20, 40, 60},
                                          .discrete = 1};
    static const char *const methods[] = {"gpbo (discrete: local)", "gpbo (discrete: round)",
                                          "random (Sobol on the grid)"};
    char load[128];
    cmd_load(load, sizeof(load));
    printf("\n# layers (16 bools + 4 ordinals, minimum %.6f): regret median [q1, q3] over %zu "
           "seeds; load before: %s\n",
           TESTFN_LAYERS_MIN, seeds, load);
    printf("| method | budget 20 | budget 40 | budget 60 | minimum found (of %zu) | s/ask |\n"
           "| --- | --- | --- | --- | --- | --- |\n",
           seeds);
    double *q = malloc(seeds * MAX_BUDGETS * sizeof(double)), *col = malloc(seeds * sizeof(double));
    const char *saved = extra_options;
    for (int method = 0; method < 3; method++) {
        double secs = 0;
        for (size_t k = 0; k < seeds; k++) {
            double sec = 0;
            if (method == 2) {
                run_sobol(&layers, seed0 + k, q + k * MAX_BUDGETS);
            } else {
                extra_options = method == 1 ? "discrete: round" : NULL;
                if (run_gpbo(&layers, seed0 + k, q + k * MAX_BUDGETS, &sec, err) != 0) {
                    extra_options = saved;
                    free(q);
                    free(col);
                    return -1;
                }
            }
            secs += sec;
        }
        extra_options = saved;
        char cells[MAX_BUDGETS][64];
        for (size_t b = 0; b < 3; b++) {
            for (size_t k = 0; k < seeds; k++) {
                col[k] = q[k * MAX_BUDGETS + b];
            }
            summary(col, seeds, cells[b], sizeof(cells[b]), 0);
        }
        size_t found = 0;
        for (size_t k = 0; k < seeds; k++) {
            found += q[k * MAX_BUDGETS + 2] < 1e-9;
        }
        printf("| %s | %s | %s | %s | %zu | %.3f |\n", methods[method], cells[0], cells[1],
               cells[2], found, secs / (double)seeds);
        fflush(stdout);
    }
    free(q);
    free(col);
    return 0;
}

int main(int argc, char **argv)
{
    size_t seeds = 10, seed0 = 0;
    int quick = 0, timing = 1, discrete = 0;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            seeds = (size_t)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--first-seed") == 0 && i + 1 < argc) {
            seed0 = (size_t)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--timing-only") == 0) {
            timing = 2;
        } else if (strcmp(argv[i], "--discrete") == 0) {
            discrete = 1;
        } else if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--no-timing") == 0) {
            timing = 0;
        } else if (strcmp(argv[i], "--options") == 0 && i + 1 < argc) {
            extra_options = argv[++i];
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: %s [--seeds N] [--first-seed S] [--quick] [--no-timing | "
                    "--timing-only] [--only PROBLEM] [--options YAML] [--discrete]\n",
                    argv[0]);
            return 2;
        }
    }
    if (seeds < 1 || seeds > 1000) {
        fprintf(stderr, "bench_optimizers: --seeds takes 1 to 1000\n");
        return 2;
    }
    struct hn_error err;
    printf("# bench_optimizers: %zu seeds; gpbo options {%s}; OpenBLAS %s\n", seeds,
           extra_options ? extra_options : "", openblas_get_config());
    printf("# quality: median [q1, q3] over seeds; one objective: simple regret (best - optimum);"
           "\n# two objectives: log10(max hypervolume - hypervolume). gpbo: Sobol init, then one"
           "\n# point per ask; sobol: scrambled Sobol at the same budget.\n\n");
    printf("| problem | init | budget | gpbo | gpbo median hypervolume | sobol | gpbo s/ask |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- |\n");
    size_t n_problems = sizeof(problems) / sizeof(problems[0]);
    for (size_t pi = 0; pi < n_problems; pi++) {
        struct problem p = problems[pi];
        if ((quick && pi > 2) || (only && strcmp(only, p.name) != 0) || timing == 2 || discrete) {
            continue;
        }
        double *g = malloc(seeds * MAX_BUDGETS * sizeof(double));
        double *s = malloc(seeds * MAX_BUDGETS * sizeof(double));
        double *col = malloc(seeds * sizeof(double)), secs = 0;
        for (size_t k = 0; k < seeds; k++) {
            double sec;
            if (run_gpbo(&p, seed0 + k, g + k * MAX_BUDGETS, &sec, &err) != 0) {
                fprintf(stderr, "bench_optimizers: %s seed %zu: %s\n", p.name, k, err.msg);
                free(g);
                free(s);
                free(col);
                hn_registry_shutdown();
                return 1;
            }
            secs += sec;
            run_sobol(&p, seed0 + k, s + k * MAX_BUDGETS);
        }
        for (size_t b = 0; b < MAX_BUDGETS && p.budgets[b]; b++) {
            char gb[64], sb[64];
            for (size_t k = 0; k < seeds; k++) {
                col[k] = g[k * MAX_BUDGETS + b];
            }
            summary(col, seeds, gb, sizeof(gb), p.m > 1);
            char hv[64] = "-";
            if (p.m > 1) {
                /* the hypervolume itself: median of max - 10^(log10 difference) */
                for (size_t k = 0; k < seeds; k++) {
                    col[k] = p.optimum - pow(10, g[k * MAX_BUDGETS + b]);
                }
                qsort(col, seeds, sizeof(double), cmp_double);
                snprintf(hv, sizeof(hv), "%.2f", quantile(col, seeds, 0.5));
            }
            for (size_t k = 0; k < seeds; k++) {
                col[k] = s[k * MAX_BUDGETS + b];
            }
            summary(col, seeds, sb, sizeof(sb), p.m > 1);
            printf("| %s | %zu | %zu | %s | %s | %s | %.3f |\n", p.name, p.init, p.budgets[b], gb,
                   hv, sb, secs / (double)seeds);
        }
        fflush(stdout);
        free(g);
        free(s);
        free(col);
    }
    if (discrete) {
        int rc = discrete_table(seeds, seed0, &err);
        if (rc != 0) {
            fprintf(stderr, "bench_optimizers: layers: %s\n", err.msg);
        }
        hn_registry_shutdown();
        return rc != 0;
    }
    if (timing && scale_table(only, quick, &err) != 0) {
        fprintf(stderr, "bench_optimizers: timing: %s\n", err.msg);
        return 1;
    }
    hn_registry_shutdown();
    return 0;
}
