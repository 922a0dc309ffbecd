/*
 * examples/optimizer-localsearch: an out-of-tree optimizer plugin for hilnas (docs/plugins.md).
 *
 * A local search on the first objective: the first `init` points of a stage are uniform random;
 * every later point is the best complete trial so far that meets the study's constraints, moved by
 * a Gaussian step in the unit cube (each coordinate + step * N(0, 1), clamped to [0, 1]). The step
 * starts at `step` and halves after every `patience` trials of the stage in a row that did not
 * improve on the best (the classic "shrink when stuck" rule of pattern and evolution-strategy
 * searches).
 *
 * What a hilnas optimizer must do, shown here:
 *   - suggest only points hn_space_check() accepts and none already tried or pending
 *     (hn_history_has_point), nor twice in one batch;
 *   - be deterministic: every draw comes from hn_rng_derive(seed, point index), and the state
 *     (best, step) is recomputed from the history at each ask, so a resumed study suggests what
 *     the uninterrupted one would;
 *   - say when it cannot go on: after max_draws rejected candidates the ask returns fewer
 *     points (0 ends the stage).
 *
 * Study file:  stages: [{name: search, optimizer: {plugin: localsearch, step: 0.2}, trials: 20}]
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <hilnas/optimizer.h>
#include <hilnas/rng.h>

struct localsearch {
    int64_t init;
    double step;
    int64_t patience;
    int64_t max_draws;
    int64_t seed;
    const struct hn_space *space;
    const struct hn_params *params;
    const struct hn_problem *problem;     /* objectives and constraints */
    const struct hn_objective *objective; /* the first objective, or NULL (then: random) */
    char *stage;
    uint64_t stream;
    double *u; /* scratch: one point in the unit cube */
};

static const struct hn_option localsearch_options[] = {
    {.name = "init",
     .type = HN_OPT_INT,
     .def = "4",
     .min = 1,
     .max = 1000000,
     .bounded = 1,
     .offset = offsetof(struct localsearch, init),
     .help = "Uniform random points before the local search starts."},
    {.name = "step",
     .type = HN_OPT_DOUBLE,
     .def = "0.2",
     .min = 1e-9,
     .max = 1,
     .bounded = 1,
     .offset = offsetof(struct localsearch, step),
     .help = "First step (standard deviation in the unit cube)."},
    {.name = "patience",
     .type = HN_OPT_INT,
     .def = "4",
     .min = 1,
     .max = 1000000,
     .bounded = 1,
     .offset = offsetof(struct localsearch, patience),
     .help = "Trials without improvement after which the step halves."},
    {.name = "max_draws",
     .type = HN_OPT_INT,
     .def = "1000",
     .min = 1,
     .max = 1000000,
     .bounded = 1,
     .offset = offsetof(struct localsearch, max_draws),
     .help = "Candidates tried per point before giving up."},
    {.name = "seed",
     .type = HN_OPT_INT,
     .def = "-1",
     .min = -1,
     .max = 9.2e18,
     .bounded = 1,
     .offset = offsetof(struct localsearch, seed),
     .help = "Seed of the draws (mixed with the stage name); -1 uses the study seed."},
    {.name = NULL},
};

static void localsearch_destroy(void *ctx)
{
    struct localsearch *o = ctx;
    if (o != NULL) {
        free(o->stage);
        free(o->u);
        free(o);
    }
}

static void *localsearch_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct localsearch *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_fill(localsearch_options, args->node, o, err) != 0) {
        goto fail;
    }
    o->space = args->space;
    o->params = hn_space_params(args->space);
    static const struct hn_problem none = {0};
    o->problem = args->problem != NULL ? args->problem : &none;
    if (o->problem->n_objectives > 0) {
        o->objective = &o->problem->objectives[0];
    }
    o->stage = strdup(args->stage != NULL ? args->stage : "");
    o->u = calloc(o->params->n + 1, sizeof(double));
    if (o->stage == NULL || o->u == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto fail;
    }
    uint64_t seed = o->seed >= 0 ? (uint64_t)o->seed : args->seed;
    o->stream = hn_rng_derive(seed, hn_rng_hash(o->stage));
    return o;
fail:
    localsearch_destroy(o);
    return NULL;
}

/* The objective's value of t, oriented so that smaller is better; NAN if t has none or
 * violates a constraint of the study (infeasible trials are never the best). */
static double score(const struct localsearch *o, const struct hn_trial *t)
{
    if (o->objective == NULL || t->status != HN_TRIAL_COMPLETE) {
        return NAN;
    }
    for (size_t i = 0; i < o->problem->n_constraints; i++) {
        const struct hn_constraint *c = &o->problem->constraints[i];
        const struct hn_metric *m = hn_metrics_get(&t->metrics, c->metric);
        if (m == NULL || !hn_constraint_ok(c, m->value)) {
            return NAN;
        }
    }
    const struct hn_metric *m = hn_metrics_get(&t->metrics, o->objective->metric);
    if (m == NULL) {
        return NAN;
    }
    return o->objective->maximize ? -m->value : m->value;
}

/*
 * From the history: the best complete trial of any stage (*best, NULL if none), the number of
 * this stage's trials (*mine, any status) and the step after the stage's trials so far.
 */
static double state(const struct localsearch *o, const struct hn_history *h,
                    const struct hn_trial **best, size_t *mine)
{
    double best_score = INFINITY, step = o->step;
    int64_t stuck = 0;
    *best = NULL;
    *mine = 0;
    for (size_t i = 0; h != NULL && i < h->n; i++) {
        const struct hn_trial *t = h->trials[i];
        int in_stage = t->stage != NULL && strcmp(t->stage, o->stage) == 0;
        *mine += in_stage;
        double s = score(o, t);
        if (s < best_score) {
            best_score = s;
            *best = t;
            stuck = 0;
        } else if (in_stage && t->status != HN_TRIAL_RUNNING && ++stuck >= o->patience) {
            step *= 0.5;
            stuck = 0;
        }
    }
    return step;
}

static int localsearch_ask(void *ctx, const struct hn_history *history, size_t n, double *x,
                           struct hn_error *err)
{
    struct localsearch *o = ctx;
    size_t d = o->params->n, mine;
    const struct hn_trial *best;
    double step = state(o, history, &best, &mine);
    double *base = NULL;
    if (best != NULL && (int64_t)mine >= o->init) {
        base = calloc(d + 1, sizeof(double));
        if (base == NULL) {
            return hn_error_set(err, NULL, "out of memory");
        }
        hn_params_to_unit(o->params, best->x, base);
    }
    size_t made = 0;
    for (size_t k = 0; k < n; k++) {
        struct hn_rng rng;
        hn_rng_seed(&rng, hn_rng_derive(o->stream, mine + k));
        double *xk = x + made * d;
        int found = 0;
        for (int64_t draw = 0; draw < o->max_draws && !found; draw++) {
            for (size_t j = 0; j < d; j++) {
                double u =
                    base != NULL ? base[j] + step * hn_rng_normal(&rng) : hn_rng_uniform(&rng);
                o->u[j] = u < 0 ? 0 : u > 1 ? 1 : u;
            }
            hn_params_from_unit(o->params, o->u, xk);
            char why[256];
            found = hn_space_check(o->space, xk, why, sizeof(why)) &&
                    !hn_history_has_point(history, o->params, xk, x, made);
        }
        made += found;
    }
    free(base);
    return (int)made; /* fewer than n (0: the stage ends) when no new valid point was found */
}

static const struct hn_optimizer_ops localsearch_ops = {
    .size = sizeof(struct hn_optimizer_ops),
    .create = localsearch_create,
    .destroy = localsearch_destroy,
    .ask = localsearch_ask,
    .tell = NULL, /* optional: the history given to ask() holds everything needed */
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_OPTIMIZER),
    .name = "localsearch",
    .summary = "Example optimizer: Gaussian local search around the best trial, shrinking step",
    .options = localsearch_options,
    .optimizer = &localsearch_ops,
};
