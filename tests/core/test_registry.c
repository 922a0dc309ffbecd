/* Plugin registry: broken modules are refused with a clear message, nothing crashes. */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/registry.h"
#include "hilnas/executor.h"
#include "hilnas/optimizer.h"
#include "tests/core/testutil.h"

static void use_test_plugins(void)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/tests/plugins-test", tu_builddir());
    setenv("HILNAS_PLUGIN_PATH", path, 1);
}

struct refusal {
    enum hn_kind kind;
    const char *name;
    const char *expect[3];
};

static const struct refusal refusals[] = {
    {HN_KIND_OPTIMIZER, "wrongabi", {"rebuild", NULL, NULL}}, /* and the numbers, below */
    {HN_KIND_OPTIMIZER, "wrongsig", {"another data model", "rebuild", NULL}},
    {HN_KIND_OPTIMIZER, "smalldesc", {"descriptor is too small", "rebuild", NULL}},
    {HN_KIND_SPACE, "wrongkind", {"space-wrongkind", "is an optimizer plugin", "space plugin"}},
    {HN_KIND_OPTIMIZER, "nosymbol", {"optimizer-nosymbol", "hn_plugin_descriptor", NULL}},
    {HN_KIND_OPTIMIZER, "smalltable", {"function table is too small", "rebuild", NULL}},
    {HN_KIND_EVALUATOR,
     "sleepyy",
     {"unknown evaluator plugin 'sleepyy'", "did you mean 'sleepy'", "hilnas plugins"}},
    {HN_KIND_EVALUATOR, "../etc", {"not a valid plugin name", NULL, NULL}},
};

Test(registry, broken_modules_are_refused_with_a_reason)
{
    use_test_plugins();
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        const struct refusal *r = &refusals[i];
        struct hn_error err;
        hn_error_clear(&err);
        const struct hn_plugin *p = hn_registry_find(r->kind, r->name, &err);
        cr_expect_null(p, "%s must be refused", r->name);
        cr_expect_eq(err.kind, HN_ERR_CONFIG, "%s: a refusal is a configuration error", r->name);
        for (size_t k = 0; k < 3 && r->expect[k]; k++) {
            cr_expect(strstr(err.msg, r->expect[k]) != NULL, "%s: expected '%s' in: %s", r->name,
                      r->expect[k], err.msg);
        }
        if (strcmp(r->name, "wrongabi") == 0) { /* bad.c: HN_PLUGIN_ABI + 998 */
            char built[64], needs[64];
            snprintf(built, sizeof(built), "built for plugin ABI %d", HN_PLUGIN_ABI + 998);
            snprintf(needs, sizeof(needs), "this hilnas needs %d;", HN_PLUGIN_ABI);
            cr_expect(strstr(err.msg, built) != NULL && strstr(err.msg, needs) != NULL,
                      "expected '%s' and '%s' in: %s", built, needs, err.msg);
        }
    }
    hn_registry_shutdown();
}

Test(registry, good_module_loads_and_is_cached)
{
    use_test_plugins();
    struct hn_error err;
    const struct hn_plugin *p = hn_registry_find(HN_KIND_EVALUATOR, "sleepy", &err);
    cr_assert_not_null(p, "%s", err.msg);
    cr_expect_str_eq(p->name, "sleepy");
    cr_expect_eq(p->kind, HN_KIND_EVALUATOR);
    cr_expect_eq(hn_registry_find(HN_KIND_EVALUATOR, "sleepy", &err), p);
    /* asking for the same module as another kind is refused */
    cr_expect_null(hn_registry_find(HN_KIND_OPTIMIZER, "sleepy", &err));
    const struct hn_plugin *serial = hn_registry_find(HN_KIND_EXECUTOR, "serial", &err);
    cr_expect_not_null(serial, "built-in serial executor: %s", err.msg);
    hn_registry_shutdown();
}

Test(registry, listing_reports_broken_modules_without_crashing)
{
    char path[4200], env[4300];
    snprintf(path, sizeof(path), "%s/tests/plugins-test", tu_builddir());
    snprintf(env, sizeof(env), "HILNAS_PLUGIN_PATH=%s", path);
    char *argv[] = {(char *)tu_hilnas(), "plugins", NULL};
    char *envp[] = {env, NULL};
    char *out = NULL, *errout = NULL;
    int rc = tu_run(argv, envp, &out, &errout);
    cr_expect_eq(rc, 0, "stderr: %s", errout);
    cr_expect(strstr(out, "sleepy") != NULL, "%s", out);
    cr_expect(strstr(out, "built for plugin ABI") != NULL, "%s", out);
    cr_expect(strstr(out, "random") != NULL, "build-tree plugins are listed too: %s", out);
    free(out);
    free(errout);
    char *argv2[] = {(char *)tu_hilnas(), "plugins", "--options", "sleepy", NULL};
    rc = tu_run(argv2, envp, &out, &errout);
    cr_expect_eq(rc, 0, "stderr: %s", errout);
    cr_expect(strstr(out, "delay_ms") != NULL && strstr(out, "fail_every") != NULL, "%s", out);
    cr_expect(strstr(out, "NAME") != NULL && strstr(out, "DEFAULT") != NULL,
              "the table of hn_options_describe: %s", out);
    free(out);
    free(errout);
}

Test(registry, failing_constructor_is_a_clean_error)
{
    char path[4200], env[4300], study[4200];
    snprintf(path, sizeof(path), "%s/tests/plugins-test", tu_builddir());
    snprintf(env, sizeof(env), "HILNAS_PLUGIN_PATH=%s", path);
    snprintf(study, sizeof(study), "%s/tests/data/studies/failing-ctor.yaml", tu_srcdir());
    char *argv[] = {(char *)tu_hilnas(), "validate", study, NULL};
    char *envp[] = {env, NULL};
    char *out = NULL, *errout = NULL;
    int rc = tu_run(argv, envp, &out, &errout);
    cr_expect_eq(rc, 2, "exit %d, stderr: %s", rc, errout);
    cr_expect(strstr(errout, "cannot open device") != NULL, "%s", errout);
    cr_expect(strstr(errout, "evaluator 'broken' (failctor): cannot open device") != NULL,
              "names the instance: %s", errout);
    cr_expect_eq(tu_count(errout, "broken"), 1, "names the instance once: %s", errout);
    cr_expect(strstr(errout, "failing-ctor.yaml:7:") != NULL, "names file:line: %s", errout);
    free(out);
    free(errout);
}

Test(registry, tables_newer_than_the_core_load_and_their_extra_members_are_ignored)
{
    use_test_plugins();
    struct hn_error err;
    const struct hn_plugin *p = hn_registry_find(HN_KIND_OPTIMIZER, "newer", &err);
    cr_assert_not_null(p, "%s", err.msg);
    cr_expect_gt(p->size, sizeof(struct hn_plugin), "the descriptor is a newer one");
    cr_expect_gt(p->optimizer->size, sizeof(struct hn_optimizer_ops), "so is the table");
    cr_expect(HN_OPS_HAS(p->optimizer, ask));
    cr_expect(!HN_OPS_HAS(p->optimizer, tell), "tell is NULL in this table");
    hn_registry_shutdown();
}

Test(registry, members_past_an_older_table_are_never_called)
{
    use_test_plugins();
    struct hn_error err;
    const struct hn_plugin *p = hn_registry_find(HN_KIND_EXECUTOR, "oldtable", &err);
    cr_assert_not_null(p, "%s", err.msg);
    /* the table sets workers and serve, to traps, past its size */
    cr_expect_not_null(p->executor->workers);
    cr_expect(!HN_OPS_HAS(p->executor, workers));
    cr_expect(!HN_OPS_HAS(p->executor, serve));
    cr_expect(HN_OPS_HAS(p->executor, wait));
    hn_registry_shutdown();

    /* a whole study on it: a call to a trap would abort (exit 134) */
    char *dir = tu_tmpdir("oldtable");
    char study[4500], out_dir[4500];
    snprintf(study, sizeof(study), "%s/study.yaml", dir);
    snprintf(out_dir, sizeof(out_dir), "%s/run", dir);
    cr_assert_eq(tu_write_file(study, "study: {name: old, seed: 1}\n"
                                      "space:\n"
                                      "  plugin: box\n"
                                      "  params: {x0: {type: float, min: -5, max: 10},\n"
                                      "           x1: {type: float, min: 0, max: 15}}\n"
                                      "evaluators: {f: {plugin: testfn, function: branin}}\n"
                                      "objectives: [{metric: branin, goal: minimize}]\n"
                                      "executor: {plugin: oldtable}\n"
                                      "stages: [{name: s, sampler: sobol, trials: 4}]\n"),
                 0);
    char *argv[] = {(char *)tu_hilnas(), "run", study, "--output", out_dir, NULL};
    char *out = NULL, *errout = NULL;
    int rc = tu_run(argv, tu_test_plugins_env(), &out, &errout);
    cr_expect_eq(rc, 0, "exit %d, stderr: %s", rc, errout);
    char csv[4600];
    snprintf(csv, sizeof(csv), "%s/trials.csv", out_dir);
    char *text = tu_read_file(csv);
    cr_assert_not_null(text, "no trials.csv; stderr: %s", errout);
    cr_expect_eq(tu_count(text, ",complete,"), 4, "%s", text);
    free(text);
    free(out);
    free(errout);
    free(dir);
}
