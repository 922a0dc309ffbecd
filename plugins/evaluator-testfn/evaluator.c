/*
 * hilnas evaluator "testfn": standard optimization test problems (BoTorch's definitions, all
 * minimized), for checking optimizers against published results. Parameters are read by name
 * x0..x{d-1} from the space (a categorical or bool parameter gives its index 0, 1, ... as the
 * coordinate); metric names are the function's name, "branin" and "currin" for BraninCurrin,
 * f0..f{m-1} for ZDT and DTLZ2.
 *
 * Dimensions: branin 2, hartmann6 6, branincurrin 2, layers 20 (x0..x15 bools, x16..x19 ints
 * 0..4; see testfn.h) (fixed); ackley 2 (BoTorch's default);
 * zdt1-3 30 (Zitzler, Deb and Thiele 2000; BoTorch has no default), at least 2; dtlz2
 * max(6, objectives + 1), more than `objectives` (BoTorch requires dim > num_objectives).
 *
 * Noise: with noise_std > 0 every metric gets Gaussian noise of that deviation (reported as
 * its sem), drawn from hn_rng_derive(per-trial seed, hn_rng_hash(instance name)): a re-run of
 * a trial sees the same noise, two testfn instances see independent noise.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/evaluator.h"
#include "hilnas/rng.h"
#include "plugins/evaluator-testfn/testfn.h"

#define MAX_DIM 256
#define MAX_OBJ 16

static const char *const functions[] = {"branin", "hartmann6", "ackley", "branincurrin", "zdt1",
                                        "zdt2",   "zdt3",      "dtlz2",  "layers",       NULL};

struct testfn {
    int function;
    int64_t dim;
    int64_t objectives;
    double noise_std;
    size_t d, m;
    long index[MAX_DIM]; /* where x_i sits in the space's parameters */
    char *names[MAX_OBJ + 1];
    uint64_t noise_stream;
    int resolved; /* index[] found (at create if the space was given, else at first use) */
};

static const struct hn_option testfn_options[] = {
    {.name = "function",
     .type = HN_OPT_ENUM,
     .def = NULL,
     .choices = functions,
     .offset = offsetof(struct testfn, function),
     .help = "Which test problem."},
    {.name = "dim",
     .type = HN_OPT_INT,
     .def = "0",
     .min = 0,
     .max = MAX_DIM,
     .bounded = 1,
     .offset = offsetof(struct testfn, dim),
     .help = "Dimension of ackley (default 2), zdt1-3 (30) and dtlz2 (max(6, objectives + 1)); "
             "0 = default."},
    {.name = "objectives",
     .type = HN_OPT_INT,
     .def = "2",
     .min = 2,
     .max = MAX_OBJ,
     .bounded = 1,
     .offset = offsetof(struct testfn, objectives),
     .help = "Number of objectives of dtlz2."},
    {.name = "noise_std",
     .type = HN_OPT_DOUBLE,
     .def = "0",
     .min = 0,
     .max = 1e300,
     .bounded = 1,
     .offset = offsetof(struct testfn, noise_std),
     .help = "Standard deviation of Gaussian observation noise (reported as the sem)."},
    {.name = NULL},
};

static void testfn_destroy(void *ctx)
{
    struct testfn *t = ctx;
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < MAX_OBJ; i++) {
        free(t->names[i]);
    }
    free(t);
}

/*
 * Find x0..x{d-1} among params. Errors are configuration errors at `where` (may be NULL).
 * Returns 0 or -1.
 */
static int resolve(struct testfn *t, const struct hn_params *params, const char *where,
                   struct hn_error *err)
{
    const char *fname = functions[t->function];
    for (size_t i = 0; i < t->d; i++) {
        char name[32];
        snprintf(name, sizeof(name), "x%zu", i);
        t->index[i] = hn_params_find(params, name);
        if (t->index[i] < 0) {
            return hn_error_config(err, where,
                                   "%s needs parameters x0..x%zu, but the space has no '%s'; "
                                   "declare it (or set dim)",
                                   fname, t->d - 1, name);
        }
    }
    t->resolved = 1;
    return 0;
}

static void *testfn_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct testfn *t = calloc(1, sizeof(*t));
    char where[1024];
    if (t == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_fill(testfn_options, args->node, t, err) != 0) {
        goto fail;
    }
    const char *fname = functions[t->function];
    t->m = 1;
    switch (t->function) {
    case TESTFN_BRANIN:
        t->d = 2;
        break;
    case TESTFN_HARTMANN6:
        t->d = 6;
        break;
    case TESTFN_ACKLEY:
        t->d = t->dim > 0 ? (size_t)t->dim : 2;
        break;
    case TESTFN_BRANINCURRIN:
        t->d = 2;
        t->m = 2;
        break;
    case TESTFN_ZDT1:
    case TESTFN_ZDT2:
    case TESTFN_ZDT3:
        t->d = t->dim > 0 ? (size_t)t->dim : 30;
        t->m = 2;
        break;
    case TESTFN_LAYERS:
        t->d = TESTFN_LAYERS_DIM;
        break;
    case TESTFN_DTLZ2:
        t->m = (size_t)t->objectives;
        t->d = t->dim > 0 ? (size_t)t->dim : (t->m + 1 > 6 ? t->m + 1 : 6);
        break;
    }
    const struct hn_config_node *objectives_node = hn_config_get(args->node, "objectives");
    if (objectives_node != NULL && t->function != TESTFN_DTLZ2) {
        hn_error_config(err, hn_config_where(objectives_node, where, sizeof(where)),
                        "%s has %zu objective%s, fixed; 'objectives' is for dtlz2: remove it",
                        fname, t->m, t->m > 1 ? "s" : "");
        goto fail;
    }
    if (t->dim > 0 &&
        (t->function == TESTFN_BRANIN || t->function == TESTFN_HARTMANN6 ||
         t->function == TESTFN_BRANINCURRIN || t->function == TESTFN_LAYERS) &&
        (size_t)t->dim != t->d) {
        hn_error_config(
            err, hn_config_where(hn_config_get(args->node, "dim"), where, sizeof(where)),
            "%s has dimension %zu, not %lld; remove 'dim'", fname, t->d, (long long)t->dim);
        goto fail;
    }
    if ((t->function >= TESTFN_ZDT1 && t->function <= TESTFN_ZDT3 && t->d < 2) ||
        (t->function == TESTFN_DTLZ2 && t->d <= t->m)) {
        const struct hn_config_node *dim_node = hn_config_get(args->node, "dim");
        hn_error_config(err,
                        hn_config_where(dim_node ? dim_node : args->node, where, sizeof(where)),
                        "%s needs dim >= %zu, found %zu", fname,
                        t->function == TESTFN_DTLZ2 ? t->m + 1 : (size_t)2, t->d);
        goto fail;
    }
    if (args->space != NULL) {
        if (resolve(t, hn_space_params(args->space),
                    hn_config_where(args->node, where, sizeof(where)), err) != 0) {
            goto fail;
        }
    }
    t->noise_stream = hn_rng_hash(args->instance != NULL ? args->instance : "testfn");
    if (t->m == 1) {
        t->names[0] = strdup(fname);
    } else if (t->function == TESTFN_BRANINCURRIN) {
        t->names[0] = strdup("branin");
        t->names[1] = strdup("currin");
    } else {
        for (size_t j = 0; j < t->m; j++) {
            char name[32];
            snprintf(name, sizeof(name), "f%zu", j);
            t->names[j] = strdup(name);
        }
    }
    for (size_t j = 0; j < t->m; j++) {
        if (t->names[j] == NULL) {
            hn_error_set(err, NULL, "out of memory");
            goto fail;
        }
    }
    return t;
fail:
    testfn_destroy(t);
    return NULL;
}

static const char *const *testfn_metrics(void *ctx)
{
    return (const char *const *)((struct testfn *)ctx)->names;
}

static int testfn_evaluate(void *ctx, const struct hn_eval_request *req, struct hn_metrics *out,
                           struct hn_error *err)
{
    struct testfn *t = ctx;
    double x[MAX_DIM], f[MAX_OBJ];
    if (!t->resolved && resolve(t, req->params, NULL, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < t->d; i++) {
        x[i] = req->trial->x[t->index[i]];
    }
    switch (t->function) {
    case TESTFN_BRANIN:
        f[0] = testfn_branin(x);
        break;
    case TESTFN_HARTMANN6:
        f[0] = testfn_hartmann6(x);
        break;
    case TESTFN_ACKLEY:
        f[0] = testfn_ackley(x, t->d);
        break;
    case TESTFN_BRANINCURRIN:
        testfn_branincurrin(x, f);
        break;
    case TESTFN_ZDT1:
    case TESTFN_ZDT2:
    case TESTFN_ZDT3:
        testfn_zdt(t->function - TESTFN_ZDT1 + 1, x, t->d, f);
        break;
    case TESTFN_DTLZ2:
        testfn_dtlz2(x, t->d, t->m, f);
        break;
    case TESTFN_LAYERS:
        f[0] = testfn_layers(x);
        break;
    }
    struct hn_rng rng;
    hn_rng_seed(&rng, hn_rng_derive(req->seed, t->noise_stream));
    for (size_t j = 0; j < t->m; j++) {
        double v = f[j], sem = NAN;
        if (t->noise_std > 0) {
            v += t->noise_std * hn_rng_normal(&rng);
            sem = t->noise_std;
        }
        if (hn_metrics_put(out, t->names[j], v, sem, err) != 0) {
            return -1;
        }
    }
    return 0;
}

static const struct hn_evaluator_ops testfn_ops = {
    .size = sizeof(struct hn_evaluator_ops),
    .create = testfn_create,
    .destroy = testfn_destroy,
    .metrics = testfn_metrics,
    .evaluate = testfn_evaluate,
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_EVALUATOR),
    .name = "testfn",
    .summary = "Standard test problems (Branin, Hartmann6, Ackley, BraninCurrin, ZDT1-3, DTLZ2, "
               "layers)",
    .options = testfn_options,
    .evaluator = &testfn_ops,
};
