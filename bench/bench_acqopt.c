/*
 * bench_acqopt: how well gpbo's acquisition optimization does on a binary-heavy space, judged
 * on the acquisition itself (issue #12, item 7; docs/benchmarks.md "Binary-heavy spaces").
 *
 * Space: testfn `layers` (16 booleans, 4 ordered choices of 5 levels: 40,960,000 points).
 * For each seed, gpbo (discrete: local) is run from 10 Sobol points; at each checkpoint of the
 * history (--at, e.g. 10,25,40 observations) the surrogate of the next ask is built once and the
 * point each acquisition optimizer would choose is taken from it:
 *   local   gpbo's default: L-BFGS on the continuous relaxation, rounding, then a hill climb
 *           over one-flip / one-level neighbours
 *   round   the same without the climb (discrete: round)
 *   random  the best of --random N (4096) random grid points
 * and compared with the exact maximum of the acquisition over every unobserved point of the
 * grid (all 40,960,000, enumerated in batches). Prints per checkpoint: the acquisition (log EI)
 * each method reaches, its gap to the maximum, and how often it found the maximum itself.
 *
 * usage: bench_acqopt [--seeds N] [--first-seed S] [--at 10,25,40] [--random N]
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/study.h"
#include "hilnas/optimizer.h"
#include "hilnas/rng.h"
#include "plugins/evaluator-testfn/testfn.h"
#include "plugins/optimizer-gpbo/gpbo.h"

extern const struct hn_plugin hn_plugin_descriptor;

#define D TESTFN_LAYERS_DIM
#define MAX_AT 8
#define MAX_TRIALS 256
#define BATCH 8192

static int check_cb(void *ctx, const double *x, char *why, size_t size)
{
    (void)ctx, (void)x, (void)why, (void)size;
    return 1;
}

static const struct hn_space_ops space_ops = {.size = sizeof(struct hn_space_ops),
                                              .check = check_cb};
static const struct hn_plugin space_plugin = {HN_PLUGIN_HEAD(HN_KIND_SPACE), .name = "bench",
                                              .space = &space_ops};

struct run {
    struct hn_config_node *root;
    struct hn_params *params;
    struct hn_space space;
    struct hn_objective obj;
    struct hn_problem problem;
    void *opt[2]; /* discrete: local, discrete: round */
    struct hn_trial *trials[MAX_TRIALS];
    size_t n;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int run_open(struct run *r, uint64_t seed, struct hn_error *err)
{
    char yaml[2048];
    size_t len = (size_t)snprintf(yaml, sizeof(yaml), "params:\n");
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < D; i++) {
        len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
                                i < TESTFN_LAYERS_BITS
                                    ? "  x%zu: {type: bool}\n"
                                    : "  x%zu: {type: choice, values: [0, 1, 2, 3, 4]}\n",
                                i);
    }
    snprintf(yaml + len, sizeof(yaml) - len,
             "local: {init_trials: 10}\nround: {init_trials: 10, discrete: round}\n");
    if ((r->root = hn_config_load_string(yaml, "bench_acqopt.yaml", err)) == NULL ||
        (r->params = hn_params_parse(hn_config_get(r->root, "params"), NULL, err)) == NULL) {
        return -1;
    }
    r->space.plugin = &space_plugin;
    r->space.params = r->params;
    r->obj.metric = "f.f0";
    r->obj.ref = NAN;
    r->problem.n_objectives = 1;
    r->problem.objectives = &r->obj;
    for (int k = 0; k < 2; k++) {
        struct hn_plugin_args args = {.node = hn_config_get(r->root, k ? "round" : "local"),
                                      .instance = k ? "round" : "local",
                                      .stage = "bo",
                                      .seed = seed,
                                      .space = &r->space,
                                      .problem = &r->problem,
                                      .threads = 1};
        if ((r->opt[k] = hn_plugin_descriptor.optimizer->create(&args, err)) == NULL) {
            return -1;
        }
    }
    return 0;
}

static void run_close(struct run *r)
{
    for (int k = 0; k < 2; k++) {
        if (r->opt[k]) {
            hn_plugin_descriptor.optimizer->destroy(r->opt[k]);
        }
    }
    for (size_t i = 0; i < r->n; i++) {
        hn_trial_free(r->trials[i]);
    }
    hn_params_free(r->params);
    hn_config_free(r->root);
}

static int run_add(struct run *r, const double *x, struct hn_error *err)
{
    struct hn_trial *t = hn_trial_new((long)r->n, "bo", x, D);
    if (t == NULL || hn_metrics_put(&t->metrics, "f.f0", testfn_layers(x), NAN, err) != 0) {
        hn_trial_free(t);
        return hn_error_set(err, NULL, "out of memory");
    }
    t->status = HN_TRIAL_COMPLETE;
    r->trials[r->n++] = t;
    return 0;
}

static int seen(const struct run *r, const double *x)
{
    for (size_t i = 0; i < r->n; i++) {
        if (memcmp(r->trials[i]->x, x, D * sizeof(double)) == 0) {
            return 1;
        }
    }
    return 0;
}

/* grid point number k (0 .. 2^16 * 5^4 - 1) as a native point */
static void grid_point(uint64_t k, double *x)
{
    for (int i = 0; i < TESTFN_LAYERS_BITS; i++) {
        x[i] = (double)((k >> i) & 1);
    }
    k >>= TESTFN_LAYERS_BITS;
    for (int i = TESTFN_LAYERS_BITS; i < D; i++) {
        x[i] = (double)(k % TESTFN_LAYERS_LEVELS);
        k /= TESTFN_LAYERS_LEVELS;
    }
}

static double acq_at(const struct gpbo *g, const struct gpbo_state *st, const double *x)
{
    double z[64];
    gpbo_encode(g, x, z);
    return gpbo_state_acq(st, z, NULL);
}

/* The exact maximum of the acquisition over the unobserved grid points, into best/xbest. */
static int exhaustive(const struct run *r, const struct gpbo *g, const struct gpbo_state *st,
                      double *best, double *xbest)
{
    size_t dim = gpbo_dim(g), total = (size_t)1 << TESTFN_LAYERS_BITS;
    for (int i = TESTFN_LAYERS_BITS; i < D; i++) {
        total *= TESTFN_LAYERS_LEVELS;
    }
    double *Z = malloc(BATCH * dim * sizeof(double)), *v = malloc(BATCH * sizeof(double));
    if (Z == NULL || v == NULL) {
        free(Z), free(v);
        return -1;
    }
    double x[D];
    *best = -INFINITY;
    for (size_t k0 = 0; k0 < total; k0 += BATCH) {
        size_t k = total - k0 < BATCH ? total - k0 : BATCH;
        for (size_t j = 0; j < k; j++) {
            grid_point(k0 + j, x);
            gpbo_encode(g, x, Z + j * dim);
        }
        if (gpbo_state_acq_batch(st, Z, k, v) != 0) {
            free(Z), free(v);
            return -1;
        }
        for (size_t j = 0; j < k; j++) {
            if (v[j] > *best) {
                grid_point(k0 + j, x);
                if (!seen(r, x)) {
                    *best = v[j];
                    memcpy(xbest, x, sizeof(x));
                }
            }
        }
    }
    free(Z), free(v);
    return 0;
}

static size_t split_longs(const char *s, long *out, size_t max)
{
    size_t n = 0;
    while (*s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s) {
            break;
        }
        out[n++] = v;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

enum { M_LOCAL, M_ROUND, M_RANDOM, N_METHODS };
static const char *const method_names[N_METHODS] = {"local (default)", "round", "random"};

int main(int argc, char **argv)
{
    size_t seeds = 5, seed0 = 1, n_random = 4096;
    long at[MAX_AT] = {10, 25, 40};
    size_t n_at = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0) {
            seeds = (size_t)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--first-seed") == 0 && i + 1 < argc) {
            seed0 = (size_t)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--random") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0) {
            n_random = (size_t)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--at") == 0 && i + 1 < argc) {
            n_at = split_longs(argv[++i], at, MAX_AT);
        } else {
            fprintf(stderr, "usage: bench_acqopt [--seeds N] [--first-seed S] [--at 10,25,40] "
                            "[--random N]\n");
            return 2;
        }
    }
    for (size_t a = 0; a < n_at; a++) {
        if (at[a] < 10 || at[a] >= MAX_TRIALS || (a > 0 && at[a] <= at[a - 1])) {
            fprintf(stderr, "bench_acqopt: --at wants increasing sizes in 10..%d\n",
                    MAX_TRIALS - 1);
            return 2;
        }
    }
    /* gap[a][method][seed], hit counts */
    double gap[MAX_AT][N_METHODS][64];
    int hit[MAX_AT][N_METHODS] = {{0}};
    if (seeds > 64) {
        seeds = 64;
    }
    printf("# bench_acqopt: testfn layers (16 bools + 4 ordinals, 40,960,000 points); gpbo LogEI; "
           "seeds %zu..%zu; random = best of %zu grid points\n",
           seed0, seed0 + seeds - 1, n_random);
    printf("| seed | observations | max log EI (exhaustive) | local | round | random | "
           "exhaustive s |\n| --- | --- | --- | --- | --- | --- | --- |\n");
    for (size_t s = 0; s < seeds; s++) {
        struct run r;
        struct hn_error err;
        uint64_t seed = seed0 + s;
        if (run_open(&r, seed, &err) != 0) {
            fprintf(stderr, "bench_acqopt: %s\n", err.msg);
            run_close(&r);
            return 1;
        }
        size_t a = 0;
        while (a < n_at) {
            struct hn_history h = {.n = r.n, .trials = r.trials};
            if ((long)r.n == at[a]) {
                const struct gpbo *g[2] = {r.opt[0], r.opt[1]};
                struct gpbo_state *st = gpbo_state_new(g[0], &h, seed * 1000 + r.n, &err);
                if (st == NULL) {
                    fprintf(stderr, "bench_acqopt: state: %s\n", err.msg);
                    return 1;
                }
                double x[N_METHODS][D], v[N_METHODS], best, xbest[D];
                for (int k = 0; k < 2; k++) {
                    if (gpbo_select_point(g[k], st, &h, NULL, 0, seed * 7 + r.n, x[k], &err) != 1) {
                        fprintf(stderr, "bench_acqopt: select: %s\n", err.msg);
                        return 1;
                    }
                    v[k] = acq_at(g[0], st, x[k]);
                }
                struct hn_rng rng;
                hn_rng_seed(&rng, seed * 31 + r.n);
                v[M_RANDOM] = -INFINITY;
                for (size_t j = 0; j < n_random; j++) {
                    double xr[D];
                    grid_point(hn_rng_below(&rng, (uint64_t)40960000), xr);
                    double vr = seen(&r, xr) ? -INFINITY : acq_at(g[0], st, xr);
                    if (vr > v[M_RANDOM]) {
                        v[M_RANDOM] = vr;
                        memcpy(x[M_RANDOM], xr, sizeof(xr));
                    }
                }
                double t0 = now();
                if (exhaustive(&r, g[0], st, &best, xbest) != 0) {
                    fprintf(stderr, "bench_acqopt: out of memory\n");
                    return 1;
                }
                double te = now() - t0;
                printf("| %llu | %zu | %.4f |", (unsigned long long)seed, r.n, best);
                for (int k = 0; k < N_METHODS; k++) {
                    gap[a][k][s] = best - v[k];
                    int same = memcmp(x[k], xbest, sizeof(xbest)) == 0;
                    hit[a][k] += same;
                    printf(" %.4f (gap %.3g%s) |", v[k], gap[a][k][s], same ? ", the max" : "");
                }
                printf(" %.1f |\n", te);
                fflush(stdout);
                gpbo_state_free(st);
                a++;
                if (a == n_at) {
                    break;
                }
            }
            /* the history grows by the default gpbo's own choices */
            double x[D];
            int got = hn_plugin_descriptor.optimizer->ask(r.opt[0], &h, 1, x, &err);
            if (got != 1 || run_add(&r, x, &err) != 0) {
                fprintf(stderr, "bench_acqopt: ask: %s\n", got < 0 ? err.msg : "no point");
                return 1;
            }
        }
        run_close(&r);
    }
    printf("\n| observations | method | median gap to the max (log EI) | worst gap | found the max "
           "|\n| --- | --- | --- | --- | --- |\n");
    for (size_t a = 0; a < n_at; a++) {
        for (int k = 0; k < N_METHODS; k++) {
            double g[64], worst = 0;
            for (size_t s = 0; s < seeds; s++) {
                g[s] = gap[a][k][s];
                worst = fmax(worst, g[s]);
            }
            /* insertion sort: a handful of seeds */
            for (size_t i = 1; i < seeds; i++) {
                for (size_t j = i; j > 0 && g[j] < g[j - 1]; j--) {
                    double t = g[j];
                    g[j] = g[j - 1], g[j - 1] = t;
                }
            }
            double med = seeds % 2 ? g[seeds / 2] : 0.5 * (g[seeds / 2 - 1] + g[seeds / 2]);
            printf("| %ld | %s | %.4g | %.4g | %d of %zu |\n", at[a], method_names[k], med, worst,
                   hit[a][k], seeds);
        }
    }
    return 0;
}
