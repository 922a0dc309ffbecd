/* Plugin registry: broken modules are refused with a clear message, nothing crashes. */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/registry.h"
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
    {HN_KIND_OPTIMIZER, "wrongabi", {"built for plugin ABI 999", "this hilnas needs 1", "rebuild"}},
    {HN_KIND_SPACE, "wrongkind", {"space-wrongkind", "is an optimizer plugin", "space plugin"}},
    {HN_KIND_OPTIMIZER, "nosymbol", {"optimizer-nosymbol", "hn_plugin_descriptor", NULL}},
    {HN_KIND_OPTIMIZER, "smalltable", {"function table is too small", "rebuild", NULL}},
    {HN_KIND_EVALUATOR, "sleepyy", {"unknown evaluator plugin 'sleepyy'", "did you mean 'sleepy'",
                                    "hilnas plugins"}},
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
    cr_expect(strstr(errout, "evaluator 'broken'") != NULL, "names the instance: %s", errout);
    cr_expect(strstr(errout, "failing-ctor.yaml:7:") != NULL, "names file:line: %s", errout);
    free(out);
    free(errout);
}
