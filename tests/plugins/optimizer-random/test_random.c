/*
 * The random optimizer driven in-process (plugins/optimizer-random/random.c is compiled into
 * this program): Sobol mode equals hn_sobol mapped through hn_params_from_unit, determinism
 * under any split of the asks and across a resume (also when draws are refused), validity under
 * linear constraints and the space's own check, finite spaces used up without repeats,
 * uniform coverage.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/study.h"
#include "hilnas/optimizer.h"
#include "hilnas/rng.h"
#include "hilnas/sobol.h"

extern const struct hn_plugin hn_plugin_descriptor;

#define MAX_TRIALS 2048

/* The space plugin's own check, switched on by a test: refuses x0 > 0.5. */
static int check_half;

static int check_cb(void *ctx, const double *x, char *why, size_t size)
{
    (void)ctx;
    if (check_half && x[0] > 0.5) {
        snprintf(why, size, "x0 > 0.5 refused by the test space");
        return 0;
    }
    return 1;
}

static const struct hn_space_ops test_space_ops = {.size = sizeof(struct hn_space_ops),
                                                   .check = check_cb};
static const struct hn_plugin test_space_plugin = {HN_PLUGIN_HEAD(HN_KIND_SPACE), .name = "test",
                                                   .space = &test_space_ops};

struct harness {
    struct hn_config_node *root;
    struct hn_params *params;
    struct hn_space space;
    struct hn_plugin_args args;
    void *opt;
    struct hn_trial *trials[MAX_TRIALS];
    size_t n;
};

/* yaml holds `params:`, optionally `constraints:`, and `random:` (the optimizer's options). */
static void h_init(struct harness *H, const char *yaml, const char *stage, uint64_t seed)
{
    struct hn_error err;
    memset(H, 0, sizeof(*H));
    H->root = hn_config_load_string(yaml, "test.yaml", &err);
    cr_assert_not_null(H->root, "%s", err.msg);
    H->params = hn_params_parse(hn_config_get(H->root, "params"),
                                hn_config_get(H->root, "constraints"), &err);
    cr_assert_not_null(H->params, "%s", err.msg);
    H->space.plugin = &test_space_plugin;
    H->space.params = H->params;
    H->args.node = hn_config_get(H->root, "random");
    H->args.instance = "random";
    H->args.stage = stage;
    H->args.seed = seed;
    H->args.space = &H->space;
    H->args.threads = 1;
    H->opt = hn_plugin_descriptor.optimizer->create(&H->args, &err);
    cr_assert_not_null(H->opt, "%s", err.msg);
}

/* Destroy and create the optimizer again, as a resumed study does. */
static void h_restart(struct harness *H)
{
    struct hn_error err;
    hn_plugin_descriptor.optimizer->destroy(H->opt);
    H->opt = hn_plugin_descriptor.optimizer->create(&H->args, &err);
    cr_assert_not_null(H->opt, "%s", err.msg);
}

static void h_add(struct harness *H, const char *stage, const double *x)
{
    cr_assert_lt(H->n, MAX_TRIALS);
    H->trials[H->n] = hn_trial_new((long)H->n, stage, x, H->params->n);
    cr_assert_not_null(H->trials[H->n]);
    H->n++;
}

/* Ask for up to n points and add them to the history as running trials of the stage. */
static int h_ask(struct harness *H, size_t n, double *out)
{
    struct hn_error err;
    struct hn_history h = {.n = H->n, .trials = H->trials};
    hn_error_clear(&err);
    int k = hn_plugin_descriptor.optimizer->ask(H->opt, &h, n, out, &err);
    cr_assert(k >= 0, "ask failed: %s", err.msg);
    cr_assert_leq((size_t)k, n);
    for (int j = 0; j < k; j++) {
        h_add(H, H->args.stage, out + (size_t)j * H->params->n);
    }
    return k;
}

static void h_free(struct harness *H)
{
    hn_plugin_descriptor.optimizer->destroy(H->opt);
    for (size_t i = 0; i < H->n; i++) {
        hn_trial_free(H->trials[i]);
    }
    hn_params_free(H->params);
    hn_config_free(H->root);
}

static const char *floats3 = "params:\n"
                             "  x0: {type: float, min: -5, max: 10}\n"
                             "  x1: {type: float, min: 0.001, max: 10, log: true}\n"
                             "  x2: {type: float, min: 0, max: 1}\n"
                             "random: {mode: sobol, seed: 11}\n";

Test(random_optimizer, sobol_mode_is_hn_sobol_mapped_through_from_unit)
{
    struct harness H;
    h_init(&H, floats3, "sample", 99);
    /* the documented stream: seed 11 mixed with the stage name scrambles the sequence */
    struct hn_error err;
    struct hn_sobol *sobol = hn_sobol_new(3, 1, hn_rng_derive(11, hn_rng_hash("sample")), &err);
    cr_assert_not_null(sobol, "%s", err.msg);
    double got[3 * 40], u[3], expect[3];
    /* one at a time, then in batches of 3, 5 and 7: the split does not matter */
    size_t sizes[] = {1, 1, 1, 3, 5, 7, 1, 7, 7, 7}, total = 0;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        cr_assert_eq(h_ask(&H, sizes[s], got + 3 * total), (int)sizes[s]);
        total += sizes[s];
    }
    double worst = 0;
    for (size_t k = 0; k < total; k++) {
        hn_sobol_next(sobol, u);
        hn_params_from_unit(H.params, u, expect);
        for (int i = 0; i < 3; i++) {
            worst = fmax(worst, fabs(got[3 * k + (size_t)i] - expect[i]));
        }
    }
    cr_expect(worst == 0, "worst difference from hn_sobol mapped: %g", worst);
    hn_sobol_free(sobol);
    h_free(&H);
}

Test(random_optimizer, under_constraints_sobol_mode_takes_the_valid_sobol_points_in_order)
{
    struct harness H;
    h_init(&H,
           "params:\n"
           "  x0: {type: float, min: 0, max: 1}\n"
           "  x1: {type: float, min: 0, max: 2}\n"
           "constraints: [\"x0 + 0.5 * x1 <= 0.7\", \"x1 >= x0\"]\n"
           "random: {seed: 3}\n",
           "init", 0);
    struct hn_error err;
    struct hn_sobol *sobol = hn_sobol_new(2, 1, hn_rng_derive(3, hn_rng_hash("init")), &err);
    cr_assert_not_null(sobol, "%s", err.msg);
    double got[2 * 30], u[2], expect[2];
    for (size_t k = 0; k < 30; k += 3) {
        cr_assert_eq(h_ask(&H, 3, got + 2 * k), 3);
    }
    size_t k = 0, drawn = 0;
    while (k < 30) {
        hn_sobol_next(sobol, u);
        drawn++;
        hn_params_from_unit(H.params, u, expect);
        if (expect[0] + 0.5 * expect[1] > 0.7 || expect[1] < expect[0]) {
            continue;
        }
        cr_expect(got[2 * k] == expect[0] && got[2 * k + 1] == expect[1],
                  "point %zu: (%g, %g), valid Sobol point (%g, %g)", k, got[2 * k], got[2 * k + 1],
                  expect[0], expect[1]);
        k++;
    }
    cr_expect_gt(drawn, 45, "the constraints refuse about half of the square: %zu draws", drawn);
    hn_sobol_free(sobol);
    h_free(&H);
}

Test(random_optimizer, sobol_points_stratify_the_unit_interval)
{
    struct harness H;
    h_init(&H, "params: {x0: {type: float, min: 0, max: 1}}\n", "s", 7);
    double x[64];
    cr_assert_eq(h_ask(&H, 64, x), 64);
    int bins[64] = {0};
    for (int k = 0; k < 64; k++) {
        bins[(int)(x[k] * 64)]++;
    }
    for (int b = 0; b < 64; b++) {
        cr_expect_eq(bins[b], 1, "bin %d holds %d of the first 64 Sobol points", b, bins[b]);
    }
    h_free(&H);
}

/* 30 points of a constrained space asked in several ways; all runs must agree. */
static void run_constrained(const char *mode, size_t batch, size_t restart_at, double *out)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "params:\n"
             "  x0: {type: float, min: 0, max: 1}\n"
             "  x1: {type: float, min: 0, max: 1}\n"
             "  x2: {type: int, min: 1, max: 4}\n"
             "constraints: [\"x0 + x1 <= 0.6\", \"x2 - 4 * x0 >= 0\"]\n"
             "random: {mode: %s}\n",
             mode);
    struct harness H;
    h_init(&H, yaml, "init", 5);
    /* a trial of another stage before: seen, but does not move this stage's index */
    double other[3] = {0.1, 0.1, 1};
    h_add(&H, "other", other);
    size_t total = 0;
    while (total < 30) {
        size_t n = batch < 30 - total ? batch : 30 - total;
        if (restart_at > 0 && total >= restart_at) {
            h_restart(&H);
            restart_at = 0;
        }
        cr_assert_eq(h_ask(&H, n, out + 3 * total), (int)n);
        total += n;
    }
    h_free(&H);
}

Test(random_optimizer, same_seed_and_history_give_the_same_points_also_after_a_resume)
{
    const char *modes[] = {"sobol", "uniform"};
    for (int m = 0; m < 2; m++) {
        double one[90], five[90], resumed[90];
        run_constrained(modes[m], 1, 0, one);
        run_constrained(modes[m], 5, 0, five);
        run_constrained(modes[m], 4, 13, resumed);
        for (size_t k = 0; k < 30; k++) {
            double *x = one + 3 * k;
            cr_expect(x[0] + x[1] <= 0.6 + 1e-12, "%s: x0 + x1 = %g", modes[m], x[0] + x[1]);
            cr_expect(x[2] - 4 * x[0] >= -1e-12, "%s: x2 - 4 x0 = %g", modes[m], x[2] - 4 * x[0]);
            cr_expect(x[2] == floor(x[2]) && x[2] >= 1 && x[2] <= 4);
            for (int i = 0; i < 3; i++) {
                cr_expect_eq(one[3 * k + (size_t)i], five[3 * k + (size_t)i],
                             "%s: point %zu differs between batches of 1 and 5", modes[m], k);
                cr_expect_eq(one[3 * k + (size_t)i], resumed[3 * k + (size_t)i],
                             "%s: point %zu differs after a resume", modes[m], k);
            }
            for (size_t j = 0; j < k; j++) {
                cr_expect(memcmp(one + 3 * j, x, 3 * sizeof(double)) != 0,
                          "%s: point %zu repeats point %zu", modes[m], k, j);
            }
        }
    }
}

Test(random_optimizer, another_seed_or_stage_gives_other_points)
{
    double a[3 * 8], b[3 * 8], c[3 * 8];
    struct harness H;
    h_init(&H, floats3, "s", 0);
    h_ask(&H, 8, a);
    h_free(&H);
    h_init(&H,
           "params:\n"
           "  x0: {type: float, min: -5, max: 10}\n"
           "  x1: {type: float, min: 0.001, max: 10, log: true}\n"
           "  x2: {type: float, min: 0, max: 1}\n"
           "random: {mode: sobol, seed: 12}\n",
           "s", 0);
    h_ask(&H, 8, b);
    h_free(&H);
    h_init(&H, floats3, "t", 0);
    h_ask(&H, 8, c);
    h_free(&H);
    cr_expect(memcmp(a, b, sizeof(a)) != 0, "seed 11 and 12 give the same points");
    cr_expect(memcmp(a, c, sizeof(a)) != 0, "stages s and t give the same points");
}

Test(random_optimizer, the_study_seed_is_used_when_no_seed_is_given)
{
    const char *yaml = "params: {x0: {type: float, min: 0, max: 1}}\nrandom: {mode: uniform}\n";
    double a[4], b[4], c[4];
    struct harness H;
    h_init(&H, yaml, "s", 1);
    h_ask(&H, 4, a);
    h_free(&H);
    h_init(&H, yaml, "s", 1);
    h_ask(&H, 4, b);
    h_free(&H);
    h_init(&H, yaml, "s", 2);
    h_ask(&H, 4, c);
    h_free(&H);
    cr_expect(memcmp(a, b, sizeof(a)) == 0);
    cr_expect(memcmp(a, c, sizeof(a)) != 0, "study seeds 1 and 2 give the same points");
    /* the documented uniform stream: point k = first uniform of hn_rng_derive(stream, k) */
    uint64_t stream = hn_rng_derive(1, hn_rng_hash("s"));
    for (uint64_t k = 0; k < 4; k++) {
        struct hn_rng rng;
        hn_rng_seed(&rng, hn_rng_derive(stream, k));
        cr_expect_eq(a[k], hn_rng_uniform(&rng), "uniform point %llu", (unsigned long long)k);
    }
}

Test(random_optimizer, a_3x3_grid_gives_9_distinct_points_then_none)
{
    const char *modes[] = {"sobol", "uniform"};
    for (int m = 0; m < 2; m++) {
        for (size_t batch = 1; batch <= 12; batch += 11) {
            char yaml[512];
            snprintf(yaml, sizeof(yaml),
                     "params:\n"
                     "  x0: {type: int, min: -1, max: 1}\n"
                     "  x1: {type: choice, values: [10, 20, 40]}\n"
                     "random: {mode: %s}\n",
                     modes[m]);
            struct harness H;
            h_init(&H, yaml, "grid", 3);
            double x[2 * 12];
            size_t total = 0;
            int k;
            while ((k = h_ask(&H, batch, x + 2 * total)) > 0) {
                total += (size_t)k;
                cr_assert_leq(total, 9, "%s: more than 9 points from a 3x3 grid", modes[m]);
            }
            cr_expect_eq(total, 9, "%s, batch %zu: %zu points", modes[m], batch, total);
            int seen[3][3] = {{0}};
            for (size_t j = 0; j < total; j++) {
                int a = (int)x[2 * j] + 1;
                int b = x[2 * j + 1] == 10 ? 0 : (x[2 * j + 1] == 20 ? 1 : 2);
                cr_assert(a >= 0 && a < 3 &&
                          (x[2 * j + 1] == 10 || x[2 * j + 1] == 20 || x[2 * j + 1] == 40));
                seen[a][b]++;
            }
            for (int a = 0; a < 3; a++) {
                for (int b = 0; b < 3; b++) {
                    cr_expect_eq(seen[a][b], 1, "%s: grid point (%d, %d) suggested %d times",
                                 modes[m], a - 1, b, seen[a][b]);
                }
            }
            cr_expect_eq(h_ask(&H, 3, x), 0, "an exhausted grid gives no point");
            h_free(&H);
        }
    }
}

Test(random_optimizer, a_finite_space_skips_points_of_other_stages_and_invalid_points)
{
    /* 4 x 2 x 2 = 16 points; x0 + 2 x1 <= 4 refuses (3, 1, *), so 14 are valid; 3 valid ones
     * are already in the history (trials of another stage) */
    struct harness H;
    h_init(&H,
           "params:\n"
           "  x0: {type: int, min: 0, max: 3}\n"
           "  x1: {type: int, min: 0, max: 1}\n"
           "  x2: {type: categorical, values: [a, b]}\n"
           "constraints: [\"x0 + 2 * x1 <= 4\"]\n"
           "random: {mode: uniform, max_draws: 3}\n",
           "s", 4);
    double prior[3][3] = {{0, 0, 0}, {1, 1, 1}, {3, 0, 1}};
    for (int i = 0; i < 3; i++) {
        h_add(&H, "before", prior[i]);
    }
    double x[3 * 20];
    size_t total = 0;
    int k;
    while ((k = h_ask(&H, 5, x + 3 * total)) > 0) {
        total += (size_t)k;
        cr_assert_leq(total, 20);
    }
    cr_expect_eq(total, 11, "%zu new valid points", total);
    char why[128];
    for (size_t j = 0; j < total; j++) {
        cr_expect(hn_space_check(&H.space, x + 3 * j, why, sizeof(why)), "%s", why);
        for (int i = 0; i < 3; i++) {
            cr_expect(memcmp(prior[i], x + 3 * j, sizeof(prior[i])) != 0,
                      "point %zu repeats a trial of another stage", j);
        }
        for (size_t l = 0; l < j; l++) {
            cr_expect(memcmp(x + 3 * l, x + 3 * j, 3 * sizeof(double)) != 0);
        }
    }
    h_free(&H);
}

Test(random_optimizer, the_space_plugin_check_is_honoured)
{
    const char *modes[] = {"sobol", "uniform"};
    check_half = 1;
    for (int m = 0; m < 2; m++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml),
                 "params: {x0: {type: float, min: 0, max: 1}, x1: {type: float, min: 0, max: 1}}\n"
                 "random: {mode: %s}\n",
                 modes[m]);
        struct harness H;
        h_init(&H, yaml, "s", 8);
        double x[2 * 50];
        cr_assert_eq(h_ask(&H, 50, x), 50);
        for (size_t j = 0; j < 50; j++) {
            cr_expect(x[2 * j] <= 0.5, "%s: point %zu has x0 = %g", modes[m], j, x[2 * j]);
        }
        h_free(&H);
    }
    check_half = 0;
}

Test(random_optimizer, an_infeasible_continuous_space_is_an_error)
{
    struct harness H;
    h_init(&H,
           "params: {x0: {type: float, min: 0, max: 1}, x1: {type: float, min: 0, max: 1}}\n"
           "constraints: [\"x0 + x1 <= -1\"]\n"
           "random: {max_draws: 50}\n",
           "s", 8);
    struct hn_error err;
    struct hn_history h = {.n = 0, .trials = H.trials};
    double x[2];
    hn_error_clear(&err);
    cr_expect_eq(hn_plugin_descriptor.optimizer->ask(H.opt, &h, 1, x, &err), -1);
    cr_expect(strstr(err.msg, "no valid new point in 50 draws") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "x0 + x1 <= -1") != NULL, "names the constraint: %s", err.msg);
    h_free(&H);
}

Test(random_optimizer, uniform_points_cover_the_square_evenly)
{
    struct harness H;
    h_init(&H,
           "params: {x0: {type: float, min: 0, max: 1}, x1: {type: float, min: 0, max: 1}}\n"
           "random: {mode: uniform}\n",
           "s", 21);
    enum { N = 1600, B = 4 };
    double *x = malloc(2 * N * sizeof(double));
    cr_assert_eq(h_ask(&H, N, x), N);
    int cells[B][B] = {{0}};
    double mean0 = 0;
    for (int j = 0; j < N; j++) {
        cr_assert(x[2 * j] >= 0 && x[2 * j] <= 1 && x[2 * j + 1] >= 0 && x[2 * j + 1] <= 1);
        cells[(int)(x[2 * j] * B)][(int)(x[2 * j + 1] * B)]++;
        mean0 += x[2 * j] / N;
    }
    /* chi-square with 15 degrees of freedom: 37.7 is its 0.999 quantile */
    double chi2 = 0, expect = (double)N / (B * B);
    for (int a = 0; a < B; a++) {
        for (int b = 0; b < B; b++) {
            chi2 += (cells[a][b] - expect) * (cells[a][b] - expect) / expect;
        }
    }
    cr_expect(chi2 < 37.7, "chi-square %g over 4x4 cells", chi2);
    cr_expect(fabs(mean0 - 0.5) < 4 * sqrt(1.0 / 12 / N), "mean of x0 %g", mean0);
    free(x);
    h_free(&H);
}

Test(random_optimizer, bad_options_are_configuration_errors)
{
    const char *rows[][2] = {
        {"random: {mode: halton}\n", "mode"},
        {"random: {max_draws: 0}\n", "max_draws"},
        {"random: {seed: -2}\n", "seed"},
        {"random: {batch: 2}\n", "unknown option 'batch'"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char yaml[256];
        snprintf(yaml, sizeof(yaml), "params: {x0: {type: float, min: 0, max: 1}}\n%s", rows[i][0]);
        struct hn_error err;
        struct hn_config_node *root = hn_config_load_string(yaml, "t.yaml", &err);
        cr_assert_not_null(root, "%s", err.msg);
        struct hn_params *params = hn_params_parse(hn_config_get(root, "params"), NULL, &err);
        struct hn_space space = {.plugin = &test_space_plugin, .params = params};
        struct hn_plugin_args args = {
            .node = hn_config_get(root, "random"), .stage = "s", .space = &space, .threads = 1};
        hn_error_clear(&err);
        /* as a study does: the core checks the options, then creates */
        const struct hn_plugin *p = &hn_plugin_descriptor;
        void *opt = hn_instance_check_options(p, args.node, NULL, NULL, &err) == 0
                        ? hn_instance_create(p, &args, &err)
                        : NULL;
        cr_expect_null(opt, "row %zu must fail", i);
        cr_expect_eq(err.kind, HN_ERR_CONFIG, "row %zu: %s", i, err.msg);
        cr_expect(strstr(err.msg, rows[i][1]) != NULL, "row %zu: '%s' not in: %s", i, rows[i][1],
                  err.msg);
        hn_params_free(params);
        hn_config_free(root);
    }
}
