/* The random optimizer through the real CLI: finite spaces are exhausted without repeats,
 * linear constraints are honoured, uniform and Sobol modes both run. */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/core/testutil.h"

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
