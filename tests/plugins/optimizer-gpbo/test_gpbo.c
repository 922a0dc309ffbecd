/*
 * The gpbo optimizer driven in-process (its sources are compiled into this program): the
 * acquisition's gradients against finite differences, outcome constraints, mixed parameters,
 * batches, pending trials, determinism, and a short Branin run against Sobol.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/study.h"
#include "hilnas/optimizer.h"
#include "hilnas/pareto.h"
#include "hilnas/rng.h"
#include "hilnas/sobol.h"
#include "plugins/evaluator-testfn/testfn.h"
#include "plugins/optimizer-gpbo/gpbo.h"
#include "plugins/optimizer-gpbo/models.h"

extern const struct hn_plugin hn_plugin_descriptor;

/* ---- harness: a space, a problem, a history and one optimizer instance ---- */

typedef void (*eval_fn)(const double *x, double *metrics);
/* Optional extra validity of the test space (the plugin-specific check of space.h). */
static int (*extra_check)(const double *x);

static int check_cb(void *ctx, const double *x, char *why, size_t size)
{
    (void)ctx;
    if (extra_check && !extra_check(x)) {
        snprintf(why, size, "excluded by the test");
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
    struct hn_objective obj[4];
    struct hn_constraint con[4];
    struct hn_problem problem;
    const char *metric_names[8];
    size_t n_metrics;
    void *opt;
    struct hn_trial *trials[512];
    size_t n;
    eval_fn eval;
};

/*
 * yaml holds `params:` (and optionally `constraints:`) and `gpbo:` (the optimizer's options).
 * objectives: "name" or "-name" (maximize); constraints added by the caller before create.
 */
static void h_init(struct harness *H, const char *yaml, eval_fn eval, size_t n_obj,
                   const char *const *metrics, size_t n_metrics)
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
    for (size_t j = 0; j < n_obj; j++) {
        H->obj[j].metric = metrics[j];
        H->obj[j].ref = NAN;
    }
    H->problem.n_objectives = n_obj;
    H->problem.objectives = H->obj;
    H->problem.constraints = H->con;
    for (size_t k = 0; k < n_metrics; k++) {
        H->metric_names[k] = metrics[k];
    }
    H->n_metrics = n_metrics;
    H->eval = eval;
}

/* the study directory h_create gives the optimizer (NULL: none, nothing persisted) */
static const char *h_study_dir;

static void h_create(struct harness *H, uint64_t seed)
{
    struct hn_error err;
    struct hn_plugin_args args = {.node = hn_config_get(H->root, "gpbo"),
                                  .instance = "gpbo",
                                  .stage = "bo",
                                  .study_dir = h_study_dir,
                                  .seed = seed,
                                  .space = &H->space,
                                  .problem = &H->problem,
                                  .threads = 1};
    H->opt = hn_plugin_descriptor.optimizer->create(&args, &err);
    cr_assert_not_null(H->opt, "create: %s", err.msg);
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

static struct hn_history h_history(const struct harness *H)
{
    struct hn_history h = {.n = H->n, .trials = H->trials};
    return h;
}

/* Add a trial at x; complete (evaluated) or running. */
static struct hn_trial *h_add(struct harness *H, const double *x, int complete)
{
    struct hn_error err;
    struct hn_trial *t = hn_trial_new((long)H->n, "bo", x, H->params->n);
    cr_assert_not_null(t);
    if (complete) {
        double v[8];
        H->eval(x, v);
        for (size_t k = 0; k < H->n_metrics; k++) {
            cr_assert_eq(hn_metrics_put(&t->metrics, H->metric_names[k], v[k], NAN, &err), 0);
        }
        t->status = HN_TRIAL_COMPLETE;
    }
    H->trials[H->n++] = t;
    return t;
}

/* Ask for n points into x; returns how many. */
static int h_ask(struct harness *H, size_t n, double *x)
{
    struct hn_error err;
    struct hn_history h = h_history(H);
    int got = hn_plugin_descriptor.optimizer->ask(H->opt, &h, n, x, &err);
    cr_assert(got >= 0, "ask: %s", err.msg);
    return got;
}

/* Ask one point, check it is valid and new, evaluate it. */
static const double *h_step(struct harness *H)
{
    double x[64];
    char why[256];
    int got = h_ask(H, 1, x);
    cr_assert_eq(got, 1);
    cr_assert(hn_space_check(&H->space, x, why, sizeof(why)), "invalid suggestion: %s", why);
    for (size_t i = 0; i < H->n; i++) {
        cr_assert(!hn_params_same(H->params, H->trials[i]->x, x),
                  "suggestion %zu repeats trial %zu", H->n, i);
    }
    return h_add(H, x, 1)->x;
}

/* ---- problems ---- */

static void branin_eval(const double *x, double *v)
{
    v[0] = testfn_branin(x);
}

static const char *branin_yaml = "params:\n"
                                 "  x0: {type: float, min: -5, max: 10}\n"
                                 "  x1: {type: float, min: 0, max: 15}\n"
                                 "gpbo: {init_trials: 6}\n";

/* Two objectives and a constraint metric on [0,1]^2. */
static void two_obj_eval(const double *x, double *v)
{
    v[0] = (x[0] - 0.2) * (x[0] - 0.2) + (x[1] - 0.7) * (x[1] - 0.7);
    v[1] = (x[0] - 0.8) * (x[0] - 0.8) + 0.5 * x[1] * x[1] + 0.1;
    v[2] = x[0] + 0.3 * sin(5 * x[1]);
}

static const char *unit2_yaml = "params:\n"
                                "  x0: {type: float, min: 0, max: 1}\n"
                                "  x1: {type: float, min: 0, max: 1}\n"
                                "gpbo: {init_trials: 8}\n";

static const char *const f_names[] = {"f.a", "f.b", "f.c"};

/* ---- tests ---- */

/* Central finite differences of the acquisition at random interior points. */
static void check_gradient(struct harness *H, const char *what)
{
    struct hn_error err;
    struct hn_history h = h_history(H);
    struct gpbo_state *st = gpbo_state_new(H->opt, &h, 11, &err);
    cr_assert_not_null(st, "%s: state: %s", what, err.msg);
    size_t D = gpbo_dim(H->opt);
    /* not the step of nehvi's own differences (1e-6), so that it is checked too */
    double z[16], grad[16], eps = 3e-6, worst = 0;
    struct hn_rng rng;
    hn_rng_seed(&rng, 17);
    for (int t = 0; t < 20; t++) {
        for (size_t i = 0; i < D; i++) {
            z[i] = 0.05 + 0.9 * hn_rng_uniform(&rng);
        }
        double v = gpbo_state_acq(st, z, grad);
        if (v < -600) {
            continue; /* flat floor: no gradient to check */
        }
        for (size_t i = 0; i < D; i++) {
            double save = z[i];
            z[i] = save + eps;
            double up = gpbo_state_acq(st, z, NULL);
            z[i] = save - eps;
            double down = gpbo_state_acq(st, z, NULL);
            z[i] = save;
            double fd = (up - down) / (2 * eps);
            double diff = fabs(grad[i] - fd) / fmax(1, fabs(fd));
            worst = fmax(worst, diff);
            cr_expect(diff < 1e-4, "%s: z %g %g: d/dz%zu %g, finite difference %g", what, z[0],
                      z[1], i, grad[i], fd);
        }
    }
    cr_log_info("%s: worst relative gradient error %g", what, worst);
    gpbo_state_free(st);
}

static void fill_sobol(struct harness *H, size_t n)
{
    struct hn_error err;
    struct hn_sobol *s = hn_sobol_new(H->params->n, 1, 4, &err);
    double u[16], x[16];
    for (size_t i = 0; i < n; i++) {
        hn_sobol_next(s, u);
        hn_params_from_unit(H->params, u, x);
        h_add(H, x, 1);
    }
    hn_sobol_free(s);
}

Test(gpbo, acquisition_gradients_match_finite_differences)
{
    static const struct {
        const char *acq;
        size_t n_obj;
        int constrained;
    } cases[] = {{"logei", 1, 0}, {"logei", 1, 1}, {"ehvi", 2, 0},
                 {"ehvi", 2, 1},  {"nehvi", 2, 0}, {"parego", 2, 1}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct harness H;
        char yaml[512], what[64];
        snprintf(yaml, sizeof(yaml),
                 "params:\n  x0: {type: float, min: 0, max: 1}\n"
                 "  x1: {type: float, min: 0, max: 1}\n"
                 "gpbo: {acquisition: %s, mc_samples: 16}\n",
                 cases[c].acq);
        h_init(&H, yaml, two_obj_eval, cases[c].n_obj, f_names, 3);
        if (cases[c].constrained) {
            H.con[0] = (struct hn_constraint){.metric = "f.c", .lo = -INFINITY, .hi = 0.6};
            H.problem.n_constraints = 1;
        }
        h_create(&H, 1);
        fill_sobol(&H, 12);
        snprintf(what, sizeof(what), "%s, %zu objective(s)%s", cases[c].acq, cases[c].n_obj,
                 cases[c].constrained ? ", constrained" : "");
        check_gradient(&H, what);
        h_free(&H);
    }
}

/* two_obj_eval plus deterministic pseudo-noise of standard deviation about 0.05 */
static void noisy_eval(const double *x, double *v)
{
    two_obj_eval(x, v);
    double h1 = sin(1e4 * x[0] + 3e3 * x[1]), h2 = cos(7e3 * x[0] - 5e3 * x[1]);
    v[0] += 0.08 * h1;
    v[1] += 0.08 * h2;
}

Test(gpbo, nehvi_samples_a_candidate_jointly_with_the_observed_points)
{
    /*
     * With noisy data the latent value at an observed point is uncertain. Sampled jointly with
     * the observed points (nehvi), the candidate at an observed point equals that point's own
     * sample, which is already in the sampled front: no improvement at all. The independent
     * EHVI against the front of posterior means still sees some.
     */
    double acq[2];
    for (int variant = 0; variant < 2; variant++) {
        struct harness H;
        struct hn_error err;
        h_init(&H,
               variant ? "params:\n  x0: {type: float, min: 0, max: 1}\n"
                         "  x1: {type: float, min: 0, max: 1}\ngpbo: {acquisition: nehvi}\n"
                       : "params:\n  x0: {type: float, min: 0, max: 1}\n"
                         "  x1: {type: float, min: 0, max: 1}\ngpbo: {acquisition: ehvi}\n",
               noisy_eval, 2, f_names, 2);
        h_create(&H, 1);
        fill_sobol(&H, 16);
        struct hn_history h = h_history(&H);
        struct gpbo_state *st = gpbo_state_new(H.opt, &h, 5, &err);
        cr_assert_not_null(st, "%s", err.msg);
        /* the observed point with the best first objective is on every sampled front */
        size_t best = 0;
        for (size_t i = 1; i < H.n; i++) {
            if (hn_trial_value(H.trials[i], "f.a") < hn_trial_value(H.trials[best], "f.a")) {
                best = i;
            }
        }
        double z[2];
        gpbo_encode(H.opt, H.trials[best]->x, z);
        acq[variant] = gpbo_state_acq(st, z, NULL);
        gpbo_state_free(st);
        h_free(&H);
    }
    cr_log_info("log acquisition at an observed point: ehvi %g, nehvi %g", acq[0], acq[1]);
    /* not exactly 0: the jitter of the sampled points' covariance leaves a little variance */
    cr_expect(acq[1] < -12, "nehvi at an observed point: log %g, expected about log 0", acq[1]);
    cr_expect(acq[0] > acq[1] + 5, "ehvi %g vs nehvi %g at an observed point", acq[0], acq[1]);
}

static void constrained_eval(const double *x, double *v)
{
    v[0] = (x[0] - 0.1) * (x[0] - 0.1) + (x[1] - 0.5) * (x[1] - 0.5); /* best at x0 = 0.1 */
    v[1] = x[0];                                                      /* constraint: x0 >= 0.6 */
}

Test(gpbo, no_suggestion_where_the_constraint_model_is_surely_infeasible)
{
    struct harness H;
    const char *names[] = {"f.obj", "f.c"};
    h_init(&H, unit2_yaml, constrained_eval, 1, names, 2);
    H.con[0] = (struct hn_constraint){.metric = "f.c", .lo = 0.6, .hi = INFINITY};
    H.problem.n_constraints = 1;
    h_create(&H, 3);
    for (int i = 0; i < 8; i++) {
        h_step(&H);
    }
    /* the constraint GP now knows c = x0 well: x0 < 0.5 is infeasible with certainty */
    double best = INFINITY;
    for (int i = 0; i < 12; i++) {
        const double *x = h_step(&H);
        cr_expect(x[0] >= 0.5, "suggestion %d at x0 = %g, where c = x0 < 0.6 for sure", i, x[0]);
        double v[2];
        constrained_eval(x, v);
        if (v[1] >= 0.6) {
            best = fmin(best, v[0]);
        }
    }
    /* the constrained optimum is (0.6, 0.5) with value 0.25 */
    cr_expect(best < 0.25 + 0.02, "best feasible value %g (optimum 0.25)", best);
    h_free(&H);
}

static void latency_eval(const double *x, double *v)
{
    v[0] = (x[0] - 0.1) * (x[0] - 0.1) + (x[1] - 0.5) * (x[1] - 0.5);
    v[1] = exp(3 * x[0]); /* a positive "latency", modelled in log space */
}

Test(gpbo, a_constraint_on_a_log_modelled_metric_is_honoured)
{
    struct harness H;
    const char *names[] = {"f.obj", "f.latency"};
    h_init(&H,
           "params:\n  x0: {type: float, min: 0, max: 1}\n  x1: {type: float, min: 0, max: 1}\n"
           "gpbo: {init_trials: 8, log_metrics: [latency]}\n",
           latency_eval, 1, names, 2);
    /* latency >= e^1.8 <=> x0 >= 0.6 */
    H.con[0] = (struct hn_constraint){.metric = "f.latency", .lo = exp(1.8), .hi = INFINITY};
    H.problem.n_constraints = 1;
    h_create(&H, 4);
    for (int i = 0; i < 8; i++) {
        h_step(&H);
    }
    double best = INFINITY;
    for (int i = 0; i < 12; i++) {
        const double *x = h_step(&H);
        cr_expect(x[0] >= 0.5, "suggestion %d at x0 = %g, surely infeasible", i, x[0]);
        double v[2];
        latency_eval(x, v);
        if (v[1] >= exp(1.8)) {
            best = fmin(best, v[0]);
        }
    }
    cr_expect(best < 0.25 + 0.02, "best feasible value %g (optimum 0.25)", best);
    h_free(&H);
}

Test(gpbo, without_a_feasible_point_the_probability_of_feasibility_leads)
{
    struct harness H;
    const char *names[] = {"f.obj", "f.c"};
    h_init(&H, unit2_yaml, constrained_eval, 1, names, 2);
    /* feasible only for x0 >= 0.85, and every observation so far has x0 <= 0.5 */
    H.con[0] = (struct hn_constraint){.metric = "f.c", .lo = 0.85, .hi = INFINITY};
    H.problem.n_constraints = 1;
    h_create(&H, 6);
    for (int i = 0; i < 10; i++) {
        double x[2] = {0.05 * i, 0.1 * (double)((i * 7) % 10)};
        h_add(&H, x, 1);
    }
    double x[2];
    cr_assert_eq(h_ask(&H, 1, x), 1);
    cr_expect(x[0] > 0.8,
              "first suggestion x0 = %g: the objective (best at x0 = 0.1) must not "
              "win before the feasible region (x0 >= 0.85) is found",
              x[0]);
    h_free(&H);
}

static void mixed_eval(const double *x, double *v)
{
    /* lr (log float), layers (int), width (choice), act (categorical), skip (bool) */
    static const double act_cost[3] = {0.3, 0.0, 0.6};
    v[0] = pow(log10(x[0]) + 2.5, 2) + 0.1 * pow(x[1] - 5, 2) + pow((x[2] - 96) / 32, 2) +
           act_cost[(int)x[3]] + 0.2 * x[4];
}

static const char *mixed_yaml = "params:\n"
                                "  lr: {type: float, min: 0.0001, max: 0.1, log: true}\n"
                                "  layers: {type: int, min: 2, max: 8}\n"
                                "  width: {type: choice, values: [64, 96, 128, 160]}\n"
                                "  act: {type: categorical, values: [relu, gelu, silu]}\n"
                                "  skip: {type: bool}\n"
                                "constraints: [\"layers + 0.01 * width <= 9.5\"]\n"
                                "gpbo: {init_trials: 6}\n";

static int no_layers_three(const double *x)
{
    return x[1] != 3; /* a plugin-specific validity rule */
}

Test(gpbo, mixed_parameters_give_valid_distinct_suggestions)
{
    struct harness H;
    const char *names[] = {"f.loss"};
    h_init(&H, mixed_yaml, mixed_eval, 1, names, 1);
    extra_check = no_layers_three;
    h_create(&H, 5);
    cr_expect_eq(gpbo_dim(H.opt), 7, "one-hot categorical: 1 + 1 + 1 + 3 + 1 columns");
    double best = INFINITY;
    for (int i = 0; i < 22; i++) {
        const double *x = h_step(&H); /* asserts validity (incl. the check) and novelty */
        double v;
        mixed_eval(x, &v);
        best = fmin(best, v);
        cr_expect(x[1] != 3);
    }
    /* optimum 0: lr 10^-2.5, layers 5, width 96, gelu, no skip */
    cr_expect(best < 0.35, "best %g after 22 trials (optimum 0)", best);
    extra_check = NULL;
    h_free(&H);
}

static void small_eval(const double *x, double *v)
{
    v[0] = x[0] * x[0] - x[1];
}

Test(gpbo, a_finite_space_is_exhausted_without_repeats)
{
    struct harness H;
    const char *names[] = {"f.v"};
    h_init(&H,
           "params:\n  k: {type: int, min: 0, max: 3}\n  b: {type: bool}\n"
           "gpbo: {init_trials: 3}\n",
           small_eval, 1, names, 1);
    h_create(&H, 2);
    for (int i = 0; i < 8; i++) {
        h_step(&H); /* all 8 points, each once */
    }
    double x[4];
    cr_expect_eq(h_ask(&H, 1, x), 0, "the space is exhausted: nothing more to suggest");
    h_free(&H);
}

static double dist2(const double *a, const double *b)
{
    return hypot((a[0] - b[0]) / 15, (a[1] - b[1]) / 15);
}

Test(gpbo, batch_points_are_distinct_and_pending_points_are_not_repeated)
{
    struct harness H;
    const char *names[] = {"f.branin"};
    h_init(&H, branin_yaml, branin_eval, 1, names, 1);
    h_create(&H, 7);
    for (int i = 0; i < 10; i++) {
        h_step(&H);
    }
    double x[8];
    char why[256];
    cr_assert_eq(h_ask(&H, 4, x), 4);
    for (int a = 0; a < 4; a++) {
        cr_expect(hn_space_check(&H.space, x + 2 * a, why, sizeof(why)), "%s", why);
        for (int b = 0; b < a; b++) {
            cr_expect(dist2(x + 2 * a, x + 2 * b) > 1e-3,
                      "batch points %d and %d coincide: "
                      "(%g, %g) (%g, %g)",
                      a, b, x[2 * a], x[2 * a + 1], x[2 * b], x[2 * b + 1]);
        }
    }
    /* the same history asked one point at a time with the first ones pending gives the batch */
    double one[2];
    cr_assert_eq(h_ask(&H, 1, one), 1);
    cr_expect(one[0] == x[0] && one[1] == x[1], "first point of a batch = single ask");
    h_add(&H, one, 0); /* now pending */
    double next[2];
    cr_assert_eq(h_ask(&H, 1, next), 1);
    cr_expect(dist2(next, one) > 1e-3, "pending point (%g, %g) suggested again: (%g, %g)", one[0],
              one[1], next[0], next[1]);
    cr_expect(fabs(next[0] - x[2]) < 1e-6 && fabs(next[1] - x[3]) < 1e-6,
              "with the first point pending, the next is the batch's second: (%g, %g) vs (%g, %g)",
              next[0], next[1], x[2], x[3]);
    h_free(&H);
}

Test(gpbo, same_seed_and_history_give_the_same_suggestions)
{
    double a[6], b[6], c[6];
    for (int run = 0; run < 3; run++) {
        struct harness H;
        const char *names[] = {"f.branin"};
        h_init(&H, branin_yaml, branin_eval, 1, names, 1);
        h_create(&H, run == 2 ? 8 : 7);
        for (int i = 0; i < 9; i++) {
            h_step(&H);
        }
        cr_assert_eq(h_ask(&H, 3, run == 0 ? a : run == 1 ? b : c), 3);
        h_free(&H);
    }
    cr_expect(memcmp(a, b, sizeof(a)) == 0, "same seed, same history: same points");
    cr_expect(memcmp(a, c, sizeof(a)) != 0, "another seed: other points");
}

static double median3(double *v)
{
    double a = fmin(v[0], v[1]), b = fmax(v[0], v[1]);
    return fmax(a, fmin(b, v[2]));
}

Test(gpbo, branin_beats_sobol_at_the_same_budget)
{
    size_t budget = 25; /* 6 Sobol + 19 BO */
    double bo[3], sobol[3];
    for (int seed = 0; seed < 3; seed++) {
        struct harness H;
        const char *names[] = {"f.branin"};
        h_init(&H, branin_yaml, branin_eval, 1, names, 1);
        h_create(&H, (uint64_t)seed);
        bo[seed] = INFINITY;
        for (size_t i = 0; i < budget; i++) {
            bo[seed] = fmin(bo[seed], testfn_branin(h_step(&H)));
        }
        struct hn_error err;
        struct hn_sobol *s = hn_sobol_new(2, 1, (uint64_t)seed + 100, &err);
        double u[2], x[2];
        sobol[seed] = INFINITY;
        for (size_t i = 0; i < budget; i++) {
            hn_sobol_next(s, u);
            hn_params_from_unit(H.params, u, x);
            sobol[seed] = fmin(sobol[seed], testfn_branin(x));
        }
        hn_sobol_free(s);
        h_free(&H);
        bo[seed] -= TESTFN_BRANIN_MIN;
        sobol[seed] -= TESTFN_BRANIN_MIN;
        cr_log_info("seed %d: regret gpbo %g, sobol %g", seed, bo[seed], sobol[seed]);
    }
    double mb = median3(bo), ms = median3(sobol);
    cr_expect(mb < 0.2, "median gpbo regret %g after %zu trials", mb, budget);
    cr_expect(mb < 0.25 * ms, "median regret gpbo %g vs sobol %g", mb, ms);
}

Test(gpbo, two_objectives_improve_the_hypervolume_over_sobol)
{
    size_t budget = 16;
    double bo_hv = 0, sobol_hv = 0, ref[2] = {0.8, 0.9};
    struct harness H;
    h_init(&H, unit2_yaml, two_obj_eval, 2, f_names, 2);
    H.obj[0].ref = ref[0];
    H.obj[1].ref = ref[1];
    h_create(&H, 1);
    double y[64], x[2], u[2];
    for (size_t i = 0; i < budget; i++) {
        h_step(&H);
        two_obj_eval(H.trials[i]->x, y + 2 * i);
    }
    bo_hv = hn_hypervolume(y, budget, 2, ref, NULL);
    struct hn_error err;
    struct hn_sobol *s = hn_sobol_new(2, 1, 55, &err);
    for (size_t i = 0; i < budget; i++) {
        double v[3];
        hn_sobol_next(s, u);
        hn_params_from_unit(H.params, u, x);
        two_obj_eval(x, v);
        y[2 * i] = v[0];
        y[2 * i + 1] = v[1];
    }
    sobol_hv = hn_hypervolume(y, budget, 2, ref, NULL);
    hn_sobol_free(s);
    h_free(&H);
    cr_log_info("hypervolume gpbo %g, sobol %g", bo_hv, sobol_hv);
    cr_expect(bo_hv > sobol_hv, "hypervolume gpbo %g vs sobol %g", bo_hv, sobol_hv);
}

Test(gpbo, bad_options_are_configuration_errors)
{
    static const struct {
        const char *gpbo;
        size_t n_obj;
        const char *needle;
    } rows[] = {
        {"{acquisition: logei}", 2, "logei needs one objective"},
        {"{acquisition: ehvi}", 1, "needs 2 or more objectives"},
        {"{log_metrics: [nope]}", 1, "'nope' is not an objective or constraint metric"},
        {"{kernel: cubic}", 1, "kernel"},
        {"{restarts: 0}", 1, "restarts"},
        {"{raw_sample: 10}", 1, "raw_samples"},
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        struct harness H;
        char yaml[512];
        snprintf(yaml, sizeof(yaml), "params:\n  x0: {type: float, min: 0, max: 1}\ngpbo: %s\n",
                 rows[r].gpbo);
        h_init(&H, yaml, two_obj_eval, rows[r].n_obj, f_names, 2);
        struct hn_error err;
        struct hn_plugin_args args = {.node = hn_config_get(H.root, "gpbo"),
                                      .stage = "bo",
                                      .space = &H.space,
                                      .problem = &H.problem};
        /* as a study does: the core checks the options (the typo of row 5), then creates */
        const struct hn_plugin *p = &hn_plugin_descriptor;
        void *opt = hn_instance_check_options(p, args.node, NULL, NULL, &err) == 0
                        ? p->optimizer->create(&args, &err)
                        : NULL;
        cr_expect_null(opt, "row %zu accepted", r);
        if (opt == NULL) {
            cr_expect_eq(err.kind, HN_ERR_CONFIG, "row %zu: %s", r, err.msg);
            cr_expect(strstr(err.msg, rows[r].needle) != NULL, "row %zu: %s", r, err.msg);
        }
        hn_plugin_descriptor.optimizer->destroy(opt);
        H.opt = NULL;
        hn_params_free(H.params);
        hn_config_free(H.root);
    }
}

Test(gpbo, the_suggestion_maximizes_the_acquisition_on_a_dense_grid)
{
    struct harness H;
    const char *names[] = {"f.branin"};
    h_init(&H, branin_yaml, branin_eval, 1, names, 1);
    h_create(&H, 9);
    for (int i = 0; i < 12; i++) {
        h_step(&H);
    }
    struct hn_error err;
    struct hn_history h = h_history(&H);
    uint64_t seed = 0; /* the acquisition does not depend on the seed for LogEI */
    struct gpbo_state *st = gpbo_state_new(H.opt, &h, seed, &err);
    cr_assert_not_null(st, "%s", err.msg);
    double z[2], grid_best = -INFINITY, x[2];
    for (int a = 0; a <= 400; a++) {
        for (int b = 0; b <= 400; b++) {
            z[0] = a / 400.0;
            z[1] = b / 400.0;
            grid_best = fmax(grid_best, gpbo_state_acq(st, z, NULL));
        }
    }
    cr_assert_eq(h_ask(&H, 1, x), 1);
    gpbo_encode(H.opt, x, z);
    double chosen = gpbo_state_acq(st, z, NULL);
    cr_log_info("acquisition: chosen %g, grid maximum %g", chosen, grid_best);
    cr_expect(chosen >= grid_best - 1e-3, "chosen point's log acquisition %g < grid maximum %g",
              chosen, grid_best);
    gpbo_state_free(st);
    h_free(&H);
}

Test(gpbo, reused_fits_are_deterministic_a_fresh_instance_suggests_the_same)
{
    /* beyond full_fit_max the fits come from the anchor chain (warm starts, block updates);
     * a new instance (empty cache: a resumed study) must rebuild the same chain and suggest
     * the same points as the instance that built it ask by ask */
    struct harness H;
    const char *names[] = {"f.branin"};
    const char *yaml = "params:\n"
                       "  x0: {type: float, min: -5, max: 10}\n"
                       "  x1: {type: float, min: 0, max: 15}\n"
                       "gpbo: {init_trials: 5, full_fit_max: 8, anchor_growth: 1.25}\n";
    h_init(&H, yaml, branin_eval, 1, names, 1);
    h_create(&H, 3);
    for (int i = 0; i < 16; i++) {
        h_step(&H);
    }
    double a[4], b[4];
    cr_assert_eq(h_ask(&H, 2, a), 2);
    void *warm = H.opt;
    h_create(&H, 3);
    cr_assert_eq(h_ask(&H, 2, b), 2);
    cr_expect(memcmp(a, b, sizeof(a)) == 0,
              "fresh instance: (%g, %g) (%g, %g), warm (%g, %g) "
              "(%g, %g)",
              b[0], b[1], b[2], b[3], a[0], a[1], a[2], a[3]);
    hn_plugin_descriptor.optimizer->destroy(warm);
    /* and the search still works on the reused models: near a Branin minimum (0.398) */
    for (int i = 0; i < 8; i++) {
        h_step(&H);
    }
    double best = INFINITY, v;
    for (size_t i = 0; i < H.n; i++) {
        branin_eval(H.trials[i]->x, &v);
        best = fmin(best, v);
    }
    cr_expect(best < 0.6, "best Branin value after 24 trials with reused fits: %g", best);
    h_free(&H);
}

/* The anchors file: a fresh instance (a resumed study) that finds it suggests exactly what the
 * instance that wrote it does, without fitting a single anchor again; a damaged file, one
 * written under another seed and one for other data are not used (the chain is refitted and
 * the suggestions are still the same as without any file). */
static size_t anchors_fits(const struct harness *H)
{
    return gpbo_models_fit_count(((const struct gpbo *)H->opt)->models);
}

Test(gpbo, anchors_file_lets_a_resumed_instance_skip_the_refits)
{
    char dir[] = "/tmp/hilnas-anchors-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    struct harness H;
    const char *names[] = {"f.branin"};
    const char *yaml = "params:\n"
                       "  x0: {type: float, min: -5, max: 10}\n"
                       "  x1: {type: float, min: 0, max: 15}\n"
                       "gpbo: {init_trials: 5, full_fit_max: 8, anchor_growth: 1.25}\n";
    h_study_dir = dir;
    h_init(&H, yaml, branin_eval, 1, names, 1);
    h_create(&H, 3);
    for (int i = 0; i < 20; i++) {
        h_step(&H);
    }
    double warm[4], got[4];
    cr_assert_eq(h_ask(&H, 2, warm), 2);
    void *writer = H.opt;
    char path[512] = "";
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (strncmp(e->d_name, "gpbo-anchors-", 13) == 0) {
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    cr_assert(path[0] != '\0', "no anchors file in %s", dir);
    FILE *f;

    /* resumed: reads the file, fits nothing, suggests the same */
    h_create(&H, 3);
    cr_assert_eq(h_ask(&H, 2, got), 2);
    cr_expect(memcmp(warm, got, sizeof(got)) == 0, "with the file: (%g, %g) vs (%g, %g)", got[0],
              got[1], warm[0], warm[1]);
    cr_expect_eq(anchors_fits(&H), 0, "%zu anchor fits with the file", anchors_fits(&H));
    hn_plugin_descriptor.optimizer->destroy(H.opt);

    /* another seed: the anchors are not this study's; refitted */
    h_create(&H, 4);
    cr_assert_eq(h_ask(&H, 2, got), 2);
    cr_expect_gt(anchors_fits(&H), 0, "anchors of seed 3 used under seed 4");
    hn_plugin_descriptor.optimizer->destroy(H.opt);

    /* damaged files: ignored with a warning, refitted, same suggestions as the writer */
    const char *bad[] = {
        "{\"format\": \"hilnas-gpbo-anchors\", \"version\": 1, \"chains\": [[{\"n\": 8, "
        "\"hash\": \"00\"}]]}",
        "not json", "{\"format\": \"other\"}", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f = fopen(path, "w");
        cr_assert_not_null(f);
        fputs(bad[i], f);
        fclose(f);
        h_create(&H, 3);
        cr_assert_eq(h_ask(&H, 2, got), 2);
        cr_expect(memcmp(warm, got, sizeof(got)) == 0, "bad file %zu: (%g, %g) vs (%g, %g)", i,
                  got[0], got[1], warm[0], warm[1]);
        cr_expect_gt(anchors_fits(&H), 0, "bad file %zu: nothing refitted", i);
        hn_plugin_descriptor.optimizer->destroy(H.opt);
    }
    H.opt = writer;
    h_free(&H);
    h_study_dir = NULL;
    cr_expect_eq(unlink(path), 0);
    cr_expect_eq(rmdir(dir), 0, "%s: files other than the anchors file left", dir);
}
