/* The random optimizer through the real CLI: finite spaces are exhausted without repeats,
 * linear constraints are honoured, uniform and Sobol modes both run, a resumed constrained
 * study suggests what the uninterrupted one did, and conf.d/branincurrin-random.yaml measures
 * the scrambled Sobol points with BoTorch's BraninCurrin. */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/conf.h"
#include "hilnas/rng.h"
#include "hilnas/sobol.h"
#include "hilnas/space.h"
#include "plugins/evaluator-testfn/testfn.h"
#include "tests/core/testutil.h"

/* Run `hilnas run path --output out_dir [extra]`; returns trials.csv (malloc'ed) or NULL. */
static char *run_file(const char *path, const char *out_dir, const char *extra, int *rc, char **err)
{
    char *argv[] = {
        (char *)tu_hilnas(),    "run",         (char *)path, "--output", (char *)out_dir, "--quiet",
        extra ? "--set" : NULL, (char *)extra, NULL};
    char *out = NULL;
    *rc = tu_run(argv, NULL, &out, err);
    free(out);
    char csv[4300];
    snprintf(csv, sizeof(csv), "%s/trials.csv", out_dir);
    return tu_read_file(csv);
}

static char *run_study(const char *yaml, const char *tag, int *rc, char **err)
{
    char *dir = tu_tmpdir(tag);
    char path[4200], out_dir[4200];
    snprintf(path, sizeof(path), "%s/study.yaml", dir);
    snprintf(out_dir, sizeof(out_dir), "%s/out", dir);
    tu_write_file(path, yaml);
    char *argv[] = {(char *)tu_hilnas(), "run", path, "--output", out_dir, NULL};
    char *out = NULL;
    *rc = tu_run(argv, NULL, &out, err);
    free(out);
    char csv[4300];
    snprintf(csv, sizeof(csv), "%s/trials.csv", out_dir);
    free(dir);
    return tu_read_file(csv);
}

Test(random_optimizer, small_grid_is_exhausted_without_repeats)
{
    const char *yaml = "study: {name: grid, seed: 3}\n"
                       "space: {plugin: box, params: {x0: {type: int, min: 0, max: 2},\n"
                       "        x1: {type: choice, values: [1, 2, 4]}}}\n"
                       "evaluators: {f: {plugin: testfn, function: ackley}}\n"
                       "objectives: [{metric: ackley}]\n"
                       "stages: [{name: s, sampler: uniform, trials: 12}]\n";
    int rc;
    char *err = NULL;
    char *csv = run_study(yaml, "grid", &rc, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect(strstr(err, "exhausted") != NULL, "the stage reports exhaustion: %s", err);
    cr_assert_not_null(csv);
    cr_expect_eq(tu_count(csv, "\n"), 10, "header + all 9 grid points: %s", csv);
    int seen[3][5] = {{0}};
    char *save = NULL;
    strtok_r(csv, "\n", &save);
    for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int id, a, b;
        cr_assert_eq(sscanf(line, "%d,s,complete,%d,%d,", &id, &a, &b), 3, "%s", line);
        cr_assert(a >= 0 && a <= 2 && (b == 1 || b == 2 || b == 4), "%s", line);
        seen[a][b]++;
    }
    for (int a = 0; a < 3; a++) {
        cr_expect(seen[a][1] == 1 && seen[a][2] == 1 && seen[a][4] == 1, "x0=%d seen %d,%d,%d", a,
                  seen[a][1], seen[a][2], seen[a][4]);
    }
    free(csv);
    free(err);
}

Test(random_optimizer, linear_constraints_are_honoured)
{
    const char *modes[] = {"sobol", "uniform"};
    for (int m = 0; m < 2; m++) {
        char yaml[2048];
        snprintf(yaml, sizeof(yaml),
                 "study: {name: lin, seed: 1}\n"
                 "space: {plugin: box, constraints: [\"x0 + x1 <= 0.5\"],\n"
                 "        params: {x0: {type: float, min: 0, max: 1}, x1: {type: float, min: 0, "
                 "max: 1}}}\n"
                 "evaluators: {f: {plugin: testfn, function: branincurrin}}\n"
                 "objectives: [{metric: branin}, {metric: currin}]\n"
                 "stages: [{name: s, optimizer: {plugin: random, mode: %s}, trials: 40}]\n",
                 modes[m]);
        int rc;
        char *err = NULL;
        char *csv = run_study(yaml, "lin", &rc, &err);
        cr_assert_eq(rc, 0, "%s", err);
        cr_expect_eq(tu_count(csv, ",complete,"), 40);
        char *save = NULL;
        strtok_r(csv, "\n", &save);
        for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            double a, b;
            int id;
            cr_assert_eq(sscanf(line, "%d,s,complete,%lf,%lf,", &id, &a, &b), 3, "%s", line);
            cr_assert(a + b <= 0.5 + 1e-12, "%s: x0 + x1 = %g", modes[m], a + b);
        }
        free(csv);
        free(err);
    }
}

/* The x0,x1 columns of the rows of trials.csv (id,stage,status,x0,x1,...), at most max rows. */
static size_t read_points(const char *csv, double *x, size_t max)
{
    char *copy = strdup(csv), *save = NULL;
    size_t n = 0;
    strtok_r(copy, "\n", &save);
    for (char *line = strtok_r(NULL, "\n", &save); line && n < max;
         line = strtok_r(NULL, "\n", &save)) {
        int id;
        char stage[64], status[64];
        cr_assert_eq(sscanf(line, "%d,%63[^,],%63[^,],%lf,%lf,", &id, stage, status, &x[2 * n],
                            &x[2 * n + 1]),
                     5, "%s", line);
        cr_assert_eq((size_t)id, n);
        n++;
    }
    free(copy);
    return n;
}

Test(random_optimizer, a_resumed_constrained_study_suggests_what_the_uninterrupted_one_did)
{
    const char *yaml =
        "study: {name: resume, seed: 9}\n"
        "space: {plugin: box, constraints: [\"x0 + 2 * x1 <= 1\"],\n"
        "        params: {x0: {type: float, min: 0, max: 1}, x1: {type: float, min: 0, "
        "max: 1}}}\n"
        "evaluators: {f: {plugin: testfn, function: branincurrin}}\n"
        "objectives: [{metric: branin}, {metric: currin}]\n"
        "stages: [{name: s, optimizer: {plugin: random, mode: %s}, trials: 24}]\n";
    const char *modes[] = {"sobol", "uniform"};
    for (int m = 0; m < 2; m++) {
        char *dir = tu_tmpdir("resume");
        char path[4200], whole[4200], parts[4200], text[1024];
        snprintf(path, sizeof(path), "%s/study.yaml", dir);
        snprintf(whole, sizeof(whole), "%s/whole", dir);
        snprintf(parts, sizeof(parts), "%s/parts", dir);
        snprintf(text, sizeof(text), yaml, modes[m]);
        tu_write_file(path, text);
        int rc;
        char *err = NULL;
        char *a = run_file(path, whole, NULL, &rc, &err);
        cr_assert_eq(rc, 0, "%s", err);
        free(err);
        /* the same study stopped after 7 trials, then resumed twice */
        const char *steps[] = {"stages.0.trials=7", "stages.0.trials=15", NULL};
        char *b = NULL;
        for (int k = 0; k < 3; k++) {
            free(b);
            b = run_file(path, parts, steps[k], &rc, &err);
            cr_assert_eq(rc, 0, "%s", err);
            free(err);
        }
        double xa[2 * 24], xb[2 * 24];
        cr_assert_eq(read_points(a, xa, 24), 24, "%s", a);
        cr_assert_eq(read_points(b, xb, 24), 24, "%s", b);
        for (size_t i = 0; i < 24; i++) {
            cr_expect(xa[2 * i] == xb[2 * i] && xa[2 * i + 1] == xb[2 * i + 1],
                      "%s: trial %zu (%.17g, %.17g) uninterrupted, (%.17g, %.17g) resumed",
                      modes[m], i, xa[2 * i], xa[2 * i + 1], xb[2 * i], xb[2 * i + 1]);
            cr_expect(xa[2 * i] + 2 * xa[2 * i + 1] <= 1 + 1e-12);
        }
        free(a);
        free(b);
        free(dir);
    }
}

Test(random_optimizer, branincurrin_random_study_measures_the_sobol_points)
{
    char path[4200], out_dir[4200];
    snprintf(path, sizeof(path), "%s/conf.d/branincurrin-random.yaml", tu_srcdir());
    char *dir = tu_tmpdir("bc");
    snprintf(out_dir, sizeof(out_dir), "%s/out", dir);
    int rc;
    char *err = NULL;
    char *csv = run_file(path, out_dir, NULL, &rc, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_not_null(csv);
    cr_expect_eq(tu_count(csv, ",sample,complete,"), 26, "%s", csv);
    /* the points: scrambled Sobol, stream hn_rng_derive(study seed 0, hash("sample")) */
    struct hn_error e;
    struct hn_sobol *sobol = hn_sobol_new(2, 1, hn_rng_derive(0, hn_rng_hash("sample")), &e);
    cr_assert_not_null(sobol, "%s", e.msg);
    char *save = NULL;
    strtok_r(csv, "\n", &save);
    double worst = 0;
    for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int id;
        double x[2], f[2], expect[2], u[2];
        cr_assert_eq(
            sscanf(line, "%d,sample,complete,%lf,%lf,%lf,%lf,", &id, &x[0], &x[1], &f[0], &f[1]), 5,
            "%s", line);
        hn_sobol_next(sobol, u);
        cr_expect(fabs(x[0] - u[0]) < 1e-15 && fabs(x[1] - u[1]) < 1e-15,
                  "trial %d at (%g, %g), Sobol point (%g, %g)", id, x[0], x[1], u[0], u[1]);
        testfn_branincurrin(x, expect);
        for (int j = 0; j < 2; j++) {
            worst = fmax(worst, fabs(f[j] - expect[j]) / fmax(1, fabs(expect[j])));
        }
    }
    cr_expect(worst < 1e-12, "worst relative difference from BraninCurrin: %g", worst);
    hn_sobol_free(sobol);
    free(csv);
    free(err);
    free(dir);
}
