/*
 * hilnas optimizer "random": uniform random or scrambled Sobol points over the space's unit
 * cube, honouring the space's validity check and never repeating a point (after rounding) that
 * is already in the history or the batch while unexplored points remain.
 *
 * Determinism: the draw sequence of a stage starts at the number of trials the stage already
 * has (Sobol index, or the uniform stream's position), so the same seed and history give the
 * same points, also after a resume.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/optimizer.h"
#include "hilnas/rng.h"
#include "hilnas/sobol.h"

static const char *const modes[] = {"sobol", "uniform", NULL};

struct random_opt {
    int mode; /* 0 sobol, 1 uniform */
    int64_t seed;
    int64_t max_draws;
    const struct hn_space *space;
    const struct hn_params *params;
    char *stage;
    uint64_t stream_seed;
    struct hn_sobol *sobol;
    uint64_t position; /* next draw index of the stream */
    int positioned;
};

static const struct hn_option random_options[] = {
    {.name = "mode", .type = HN_OPT_ENUM, .def = "sobol", .choices = modes,
     .offset = offsetof(struct random_opt, mode), .help = "sobol (scrambled) or uniform."},
    {.name = "seed", .type = HN_OPT_INT, .def = "-1", .min = -1, .max = 9.2e18, .bounded = 1,
     .offset = offsetof(struct random_opt, seed),
     .help = "Seed of the stream; -1 derives it from the study seed and the stage name."},
    {.name = "max_draws", .type = HN_OPT_INT, .def = "1000", .min = 1, .max = 1e9, .bounded = 1,
     .offset = offsetof(struct random_opt, max_draws),
     .help = "Draws per point before searching a finite space exhaustively."},
    {.name = NULL},
};

static void random_destroy(void *ctx)
{
    struct random_opt *r = ctx;
    if (r != NULL) {
        hn_sobol_free(r->sobol);
        free(r->stage);
        free(r);
    }
}

static void *random_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct random_opt *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_apply(random_options, args->node, r, "optimizer 'random'", "random", err) != 0) {
        random_destroy(r);
        return NULL;
    }
    r->space = args->space;
    r->params = hn_space_params(args->space);
    r->stage = strdup(args->stage ? args->stage : "");
    r->stream_seed = r->seed >= 0 ? (uint64_t)r->seed
                                  : hn_rng_derive(args->seed, hn_rng_hash(r->stage));
    if (r->mode == 0) {
        r->sobol = hn_sobol_new(r->params->n, 1, r->stream_seed, err);
        if (r->sobol == NULL) {
            random_destroy(r);
            return NULL;
        }
    }
    return r;
}

/* Draw number k of the stream into u. */
static void draw(struct random_opt *r, double *u)
{
    if (r->mode == 0) {
        hn_sobol_next(r->sobol, u);
    } else {
        struct hn_rng rng;
        hn_rng_seed(&rng, hn_rng_derive(r->stream_seed, r->position));
        for (size_t i = 0; i < r->params->n; i++) {
            u[i] = hn_rng_uniform(&rng);
        }
    }
    r->position++;
}

static int seen(const struct random_opt *r, const struct hn_history *h, const double *x,
                const double *batch, size_t nb)
{
    for (size_t i = 0; i < h->n; i++) {
        if (h->trials[i]->n_params == r->params->n &&
            hn_params_same(r->params, h->trials[i]->x, x)) {
            return 1;
        }
    }
    for (size_t k = 0; k < nb; k++) {
        if (hn_params_same(r->params, batch + k * r->params->n, x)) {
            return 1;
        }
    }
    return 0;
}

/* Number of points of a fully discrete space, or 0 if it has a float or is too large. */
static uint64_t finite_size(const struct hn_params *p)
{
    uint64_t total = 1;
    for (size_t i = 0; i < p->n; i++) {
        uint64_t k;
        switch (p->p[i].type) {
        case HN_PARAM_FLOAT:
            return 0;
        case HN_PARAM_INT:
            k = (uint64_t)(p->p[i].hi - p->p[i].lo) + 1;
            break;
        default:
            k = p->p[i].n_values;
        }
        if (k == 0 || total > 10000000 / k) {
            return 0;
        }
        total *= k;
    }
    return total;
}

/* The point number `index` of a finite space (mixed radix). */
static void enumerate(const struct hn_params *p, uint64_t index, double *x)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct hn_param *q = &p->p[i];
        uint64_t k = q->type == HN_PARAM_INT ? (uint64_t)(q->hi - q->lo) + 1 : q->n_values;
        uint64_t digit = index % k;
        index /= k;
        switch (q->type) {
        case HN_PARAM_INT:
            x[i] = q->lo + (double)digit;
            break;
        case HN_PARAM_CHOICE:
            x[i] = q->values[digit];
            break;
        default:
            x[i] = (double)digit;
        }
    }
}

static int random_ask(void *ctx, const struct hn_history *h, size_t n, double *x,
                      struct hn_error *err)
{
    struct random_opt *r = ctx;
    size_t d = r->params->n;
    double *u = malloc(d * sizeof(double));
    if (u == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    if (!r->positioned) {
        /* continue the stream where this stage left off */
        uint64_t done = 0;
        for (size_t i = 0; i < h->n; i++) {
            done += strcmp(h->trials[i]->stage, r->stage) == 0;
        }
        r->position = 0;
        if (r->mode == 0) {
            hn_sobol_skip(r->sobol, done);
        }
        r->position = done;
        r->positioned = 1;
    }
    size_t got = 0;
    uint64_t space_size = 0;
    int space_known = 0;
    char why[256];
    while (got < n) {
        double *xi = x + got * d;
        int found = 0;
        for (int64_t tries = 0; tries < r->max_draws && !found; tries++) {
            draw(r, u);
            hn_params_from_unit(r->params, u, xi);
            found = hn_space_check(r->space, xi, why, sizeof(why)) && !seen(r, h, xi, x, got);
        }
        if (!found) {
            /* a small discrete space may be nearly exhausted: look at every point once */
            if (!space_known) {
                space_size = finite_size(r->params);
                space_known = 1;
            }
            if (space_size > 0) {
                struct hn_rng rng;
                hn_rng_seed(&rng, hn_rng_derive(r->stream_seed, r->position));
                uint64_t start = hn_rng_below(&rng, space_size);
                for (uint64_t k = 0; k < space_size && !found; k++) {
                    enumerate(r->params, (start + k) % space_size, xi);
                    found = hn_space_check(r->space, xi, why, sizeof(why)) &&
                            !seen(r, h, xi, x, got);
                }
            }
        }
        if (!found) {
            break; /* exhausted (or invalid almost everywhere): fewer points */
        }
        got++;
    }
    free(u);
    return (int)got;
}

static const struct hn_optimizer_ops random_ops = {
    .size = sizeof(struct hn_optimizer_ops),
    .create = random_create,
    .destroy = random_destroy,
    .ask = random_ask,
    .tell = NULL,
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_OPTIMIZER),
    .name = "random",
    .summary = "Uniform or scrambled Sobol points (no repeats, validity honoured)",
    .options = random_options,
    .optimizer = &random_ops,
};
