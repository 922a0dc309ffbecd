/*
 * hilnas optimizer "random": scrambled Sobol or uniform random points over the space's unit
 * cube, mapped with hn_params_from_unit(), honouring hn_space_check() and never repeating a
 * point (after rounding) that is already in the history (any status, any stage) or earlier in
 * the same batch while unexplored points remain.
 *
 * Determinism. Every point has an index i: the number of trials of this stage already in the
 * history (all statuses) plus its position in the batch. A point depends only on (seed, stage,
 * i) and on the history, never on earlier calls, so a resumed study suggests what the
 * uninterrupted one would, however the runner splits its asks:
 *   - sobol: the points of the scrambled Sobol sequence that pass hn_space_check(), in order,
 *     are the "valid points" 0, 1, 2, ...; point i is the first of valid points i, i+1, ...
 *     that is new. Without constraints point i is thus Sobol point i; with constraints the
 *     stage's points are consecutive valid Sobol points, stratified inside the valid region;
 *   - uniform: the draws of point i are successive vectors of an hn_rng seeded with
 *     hn_rng_derive(stream seed, i); the first that is valid and new is taken.
 * The stream seed is hn_rng_derive(seed, hn_rng_hash(stage name)), where seed is the option, or
 * the study seed when the option is -1; the Sobol scrambling uses the stream seed.
 *
 * At most max_draws candidates are looked at per point (raw draws for uniform, valid points
 * for sobol; and the search for the next valid Sobol point gives up after max_draws invalid
 * ones in a row). Then a fully discrete space (<= 2^24 points) is searched exhaustively from a
 * position derived from i, and when no valid new point is left the ask returns fewer points (0
 * when exhausted). A space with a float parameter cannot be used up: not finding a point is an
 * error saying so.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/optimizer.h"
#include "hilnas/rng.h"
#include "hilnas/sobol.h"

#define MAX_MAX_DRAWS 1000000
#define MAX_FINITE ((uint64_t)1 << 24) /* finite spaces up to this size get a bitmap */

static const char *const modes[] = {"uniform", "sobol", NULL};
enum { MODE_UNIFORM, MODE_SOBOL };

struct random_opt {
    int mode;
    int64_t seed;
    int64_t max_draws;
    const struct hn_space *space;
    const struct hn_params *params;
    char *stage;
    uint64_t stream_seed;
    struct hn_sobol *sobol; /* scans the sequence for valid points, only forward */
    double *valid;          /* n_valid x d: the valid Sobol points found so far (native) */
    size_t n_valid, cap_valid;
    int scan_ended;     /* max_draws invalid Sobol points in a row: no more valid ones */
    char scan_why[256]; /* why the last of them was invalid */
    uint64_t finite;    /* number of points of a fully discrete space, else 0 */
    double *u;
};

static const struct hn_option random_options[] = {
    {.name = "mode",
     .type = HN_OPT_ENUM,
     .def = "sobol",
     .choices = modes,
     .offset = offsetof(struct random_opt, mode),
     .help = "sobol (scrambled; a resumed stage continues the sequence) or uniform."},
    {.name = "seed",
     .type = HN_OPT_INT,
     .def = "-1",
     .min = -1,
     .max = 9.2e18,
     .bounded = 1,
     .offset = offsetof(struct random_opt, seed),
     .help = "Seed of the stream (mixed with the stage name); -1 uses the study seed."},
    {.name = "max_draws",
     .type = HN_OPT_INT,
     .def = "1000",
     .min = 1,
     .max = MAX_MAX_DRAWS,
     .bounded = 1,
     .offset = offsetof(struct random_opt, max_draws),
     .help = "Draws per point before searching a discrete space exhaustively (or giving up)."},
    {.name = NULL},
};

static void random_destroy(void *ctx)
{
    struct random_opt *r = ctx;
    if (r != NULL) {
        hn_sobol_free(r->sobol);
        free(r->valid);
        free(r->stage);
        free(r->u);
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
    if (hn_options_fill(random_options, args->node, r, err) != 0) {
        goto fail;
    }
    if (args->space == NULL) {
        hn_error_set(err, NULL, "created without a space (a bug in the caller)");
        goto fail;
    }
    r->space = args->space;
    r->params = hn_space_params(args->space);
    r->stage = strdup(args->stage != NULL ? args->stage : "");
    r->u = calloc(r->params->n ? r->params->n : 1, sizeof(double));
    if (r->stage == NULL || r->u == NULL) {
        hn_error_set(err, NULL, "out of memory");
        goto fail;
    }
    uint64_t base = r->seed >= 0 ? (uint64_t)r->seed : args->seed;
    r->stream_seed = hn_rng_derive(base, hn_rng_hash(r->stage));
    r->finite = hn_params_grid_size(r->params, MAX_FINITE);
    if (r->mode == MODE_SOBOL) {
        /* fail now, not at the first ask, if the dimension is out of range */
        r->sobol = hn_sobol_new(r->params->n, 1, r->stream_seed, err);
        if (r->sobol == NULL) {
            goto fail;
        }
    }
    return r;
fail:
    random_destroy(r);
    return NULL;
}

/*
 * Valid Sobol point number j into x: scan the sequence (memoized, so each Sobol point is
 * mapped and checked once per instance). Returns 1, 0 if the scan ended (max_draws invalid
 * points in a row: a pure function of the sequence and the space), or -1 with err.
 */
static int valid_sobol_point(struct random_opt *r, size_t j, double *x, struct hn_error *err)
{
    size_t d = r->params->n;
    while (r->n_valid <= j && !r->scan_ended) {
        if (r->n_valid == r->cap_valid) {
            size_t cap = r->cap_valid ? 2 * r->cap_valid : 64;
            double *grown = realloc(r->valid, cap * d * sizeof(double));
            if (grown == NULL) {
                return hn_error_set(err, NULL, "out of memory");
            }
            r->valid = grown;
            r->cap_valid = cap;
        }
        double *slot = r->valid + r->n_valid * d;
        int ok = 0;
        for (int64_t t = 0; t < r->max_draws && !ok; t++) {
            hn_sobol_next(r->sobol, r->u);
            hn_params_from_unit(r->params, r->u, slot);
            ok = hn_space_check(r->space, slot, r->scan_why, sizeof(r->scan_why));
        }
        if (ok) {
            r->n_valid++;
        } else {
            r->scan_ended = 1;
        }
    }
    if (j >= r->n_valid) {
        return 0;
    }
    memcpy(x, r->valid + j * d, d * sizeof(double));
    return 1;
}

/* Used points of a finite space: one bit per point index. */
static int bit_get(const unsigned char *bits, uint64_t i)
{
    return (bits[i / 8] >> (i % 8)) & 1;
}

static void bit_set(unsigned char *bits, uint64_t i)
{
    bits[i / 8] |= (unsigned char)(1u << (i % 8));
}

/* Whether candidate xi is new: bitmap lookup for finite spaces, else linear search. */
static int is_new(const struct random_opt *r, const unsigned char *used, const struct hn_history *h,
                  const double *xi, const double *batch, size_t nb)
{
    if (used != NULL) {
        int64_t k = hn_params_grid_index(r->params, xi);
        return k >= 0 && !bit_get(used, (uint64_t)k);
    }
    return !hn_history_has_point(h, r->params, xi, batch, nb);
}

static int random_ask(void *ctx, const struct hn_history *h, size_t n, double *x,
                      struct hn_error *err)
{
    struct random_opt *r = ctx;
    const struct hn_params *params = r->params;
    size_t d = params->n;
    unsigned char *used = NULL;
    char why[512] = "";
    int rc = -1;

    uint64_t done = 0;
    for (size_t i = 0; i < h->n; i++) {
        done += h->trials[i]->stage != NULL && strcmp(h->trials[i]->stage, r->stage) == 0;
    }
    if (r->finite > 0) {
        used = calloc(r->finite / 8 + 1, 1);
        if (used == NULL) {
            hn_error_set(err, NULL, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < h->n; i++) {
            if (h->trials[i]->n_params == d) {
                int64_t k = hn_params_grid_index(params, h->trials[i]->x);
                if (k >= 0) {
                    bit_set(used, (uint64_t)k);
                }
            }
        }
    }

    size_t got = 0;
    while (got < n) {
        uint64_t index = done + got;
        double *xi = x + got * d;
        struct hn_rng rng;
        hn_rng_seed(&rng, hn_rng_derive(r->stream_seed, index));
        int found = 0;
        for (int64_t t = 0; t < r->max_draws && !found; t++) {
            if (r->mode == MODE_UNIFORM) {
                for (size_t i = 0; i < d; i++) {
                    r->u[i] = hn_rng_uniform(&rng);
                }
                hn_params_from_unit(params, r->u, xi);
                if (!hn_space_check(r->space, xi, why, sizeof(why))) {
                    continue;
                }
            } else {
                int ok = valid_sobol_point(r, (size_t)(index + (uint64_t)t), xi, err);
                if (ok < 0) {
                    goto done;
                }
                if (ok == 0) {
                    snprintf(why, sizeof(why), "%s, and so were the %lld Sobol points before",
                             r->scan_why, (long long)r->max_draws - 1);
                    break;
                }
            }
            found = is_new(r, used, h, xi, x, got);
            if (!found) {
                snprintf(why, sizeof(why), "already suggested");
            }
        }
        if (!found && used != NULL) {
            /* a discrete space nearly used up: every point once, from a derived start */
            struct hn_rng start_rng;
            hn_rng_seed(&start_rng, hn_rng_derive(hn_rng_derive(r->stream_seed, index), 1));
            uint64_t start = hn_rng_below(&start_rng, r->finite);
            for (uint64_t k = 0; k < r->finite && !found; k++) {
                uint64_t j = (start + k) % r->finite;
                if (bit_get(used, j)) {
                    continue;
                }
                hn_params_grid_point(params, j, xi);
                found = hn_space_check(r->space, xi, why, sizeof(why));
            }
        } else if (!found) {
            hn_error_set(err, NULL,
                         "no valid new point in %lld draws (last refused: %s); the space's "
                         "constraints leave almost no room: loosen them or raise max_draws",
                         (long long)r->max_draws, why);
            goto done;
        }
        if (!found) {
            break; /* exhausted: fewer points */
        }
        if (used != NULL) {
            bit_set(used, (uint64_t)hn_params_grid_index(params, xi));
        }
        got++;
    }
    rc = (int)got;
done:
    free(used);
    return rc;
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
    .summary = "Scrambled Sobol or uniform points (no repeats, validity honoured)",
    .options = random_options,
    .optimizer = &random_ops,
};
