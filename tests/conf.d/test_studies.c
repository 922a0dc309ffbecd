/*
 * Every study of conf.d runs for real in some test, shrunk with --set to seconds: the file
 * itself is run (its plugins, options, stages, prepare steps), never a copy that could drift.
 * `every_conf_d_study_is_run_by_a_test` fails when a study is added to conf.d without a
 * test that runs it. Here: the gpbo test-function studies other tests only validate,
 * flash.yaml (on a backbone and corpus made here), quick.yaml and demo.yaml (their own
 * `prepare:` steps, with a tiny pretraining, into a cache under the test's directory) and
 * llamacpp-latency.yaml (with a stand-in llama-bench printing llama-bench's JSON).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hilnas/conf.h"
#include "tests/core/testutil.h"

#define MAX_SETS 40

/* Where each conf.d study is run: the test source (under tests/) that runs it. */
static const struct {
    const char *study;
    const char *test;
} runs[] = {
    {"branin-random.yaml", "tools/test_cli_run.c"},
    {"branincurrin-gpbo.yaml", "plugins/optimizer-gpbo/test_gpbo_cli.c"},
    {"branincurrin-random.yaml", "plugins/optimizer-random/test_random_cli.c"},
    {"constrained-gpbo.yaml", "conf.d/test_studies.c"},
    {"demo.yaml", "conf.d/test_studies.c"},
    {"dtlz2-gpbo.yaml", "conf.d/test_studies.c"},
    {"flash.yaml", "conf.d/test_studies.c"},
    {"hartmann6-gpbo.yaml", "conf.d/test_studies.c"},
    {"host-latency.yaml", "conf.d/test_latency_studies.c"},
    {"llamacpp-latency.yaml", "conf.d/test_studies.c"},
    {"mixed-gpbo.yaml", "conf.d/test_studies.c"},
    {"phone.yaml", "tools/test_hilnas_bench.c"},
    {"quick.yaml", "conf.d/test_studies.c"},
};

Test(conf_d, every_conf_d_study_is_run_by_a_test)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/conf.d", tu_srcdir());
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    int found = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0) {
            continue;
        }
        found++;
        size_t k = 0;
        while (k < sizeof(runs) / sizeof(runs[0]) && strcmp(runs[k].study, e->d_name) != 0) {
            k++;
        }
        if (k == sizeof(runs) / sizeof(runs[0])) {
            cr_expect(0,
                      "conf.d/%s is run by no test: run it (shrunk with --set) in a test and "
                      "add it to the table of tests/conf.d/test_studies.c",
                      e->d_name);
            continue;
        }
        /* the test named must mention the study (by file name, or by name as the gpbo tests do) */
        char path[4500], stem[256];
        snprintf(path, sizeof(path), "%s/tests/%s", tu_srcdir(), runs[k].test);
        snprintf(stem, sizeof(stem), "\"%.*s\"", (int)(len - 5), e->d_name);
        char *src = tu_read_file(path);
        cr_expect(src != NULL && (strstr(src, e->d_name) != NULL || strstr(src, stem) != NULL),
                  "%s does not run conf.d/%s", runs[k].test, e->d_name);
        free(src);
    }
    closedir(d);
    cr_expect_eq((size_t)found, sizeof(runs) / sizeof(runs[0]),
                 "the table names a study conf.d no longer has");
}

/* ---- running a conf.d study ---- */

struct sets {
    size_t n;
    char *v[MAX_SETS];
};

static void set(struct sets *s, const char *fmt, const char *a)
{
    cr_assert_lt(s->n, MAX_SETS);
    char buf[4600];
    snprintf(buf, sizeof(buf), fmt, a);
    s->v[s->n++] = strdup(buf);
}

/* "--set PATH.i=value" for the item after `flag` in the sequence at seq_path of the study */
static void set_after(struct sets *s, const char *study, const char *seq_path, const char *flag,
                      const char *value)
{
    struct hn_error err;
    struct hn_config_node *root = hn_config_load(study, &err);
    cr_assert_not_null(root, "%s", err.msg);
    const struct hn_config_node *n = root;
    char path[256], *save = NULL;
    snprintf(path, sizeof(path), "%s", seq_path);
    for (char *key = strtok_r(path, ".", &save); key && n; key = strtok_r(NULL, ".", &save)) {
        n = hn_config_get(n, key);
    }
    cr_assert(n != NULL && n->type == HN_NODE_SEQUENCE, "%s: no list %s", study, seq_path);
    size_t i = 0;
    while (i + 1 < n->n && strcmp(n->items[i]->value ? n->items[i]->value : "", flag) != 0) {
        i++;
    }
    cr_assert_lt(i + 1, n->n, "%s: %s has no %s", study, seq_path, flag);
    char buf[512];
    snprintf(buf, sizeof(buf), "%s.%zu=%s", seq_path, i + 1, value);
    set(s, "%s", buf);
    hn_config_free(root);
}

/* Run conf.d/name into out with the overrides; returns trials.csv after checking that it
 * finished, no trial failed and at least min_complete did. */
static char *run_conf(const char *name, const char *out, struct sets *s, char *const env[],
                      size_t min_complete)
{
    char study[4300];
    snprintf(study, sizeof(study), "%s/conf.d/%s", tu_srcdir(), name);
    char *argv[8 + 2 * MAX_SETS];
    size_t a = 0;
    argv[a++] = (char *)tu_hilnas();
    argv[a++] = "run";
    argv[a++] = study;
    argv[a++] = "--output";
    argv[a++] = (char *)out;
    argv[a++] = "--quiet";
    for (size_t i = 0; i < s->n; i++) {
        argv[a++] = "--set";
        argv[a++] = s->v[i];
    }
    argv[a] = NULL;
    char *o = NULL, *e = NULL;
    int rc = tu_run(argv, env, &o, &e);
    cr_assert_eq(rc, 0, "conf.d/%s: exit %d: %s", name, rc, e);
    free(o);
    free(e);
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i]);
    }
    s->n = 0;
    char path[4500];
    snprintf(path, sizeof(path), "%s/trials.csv", out);
    char *csv = tu_read_file(path);
    cr_assert_not_null(csv, "conf.d/%s wrote no %s", name, path);
    cr_expect_eq(tu_count(csv, ",failed,"), 0, "conf.d/%s: failed trials:\n%s", name, csv);
    cr_expect_geq(tu_count(csv, ",complete,"), min_complete, "conf.d/%s:\n%s", name, csv);
    return csv;
}

static void expect_columns(const char *csv, const char *name, const char *const *cols)
{
    const char *nl = strchr(csv, '\n');
    size_t hl = nl ? (size_t)(nl - csv) : strlen(csv);
    for (size_t i = 0; cols[i]; i++) {
        char *header = strndup(csv, hl);
        int hit = 0;
        for (char *p = header, *tok; (tok = strsep(&p, ",")) != NULL;) {
            hit |= strcmp(tok, cols[i]) == 0;
        }
        cr_expect(hit, "conf.d/%s: no column %s in %s", name, cols[i], header);
        free(header);
    }
}

/* ---- the gpbo test-function studies: a few Sobol points, then gpbo asks ---- */

static void run_testfn(const char *name, const char *first_trials, const char *bo_trials,
                       size_t total, const char *const *cols)
{
    char *tmp = tu_tmpdir("conf"), out[4400];
    snprintf(out, sizeof(out), "%s/run", tmp);
    struct sets s = {0};
    set(&s, "stages.0.trials=%s", first_trials);
    if (bo_trials != NULL) {
        set(&s, "stages.1.trials=%s", bo_trials);
    } else {
        set(&s, "stages.0.optimizer.init_trials=%s", "3"); /* the GP asks after 3 */
    }
    char *csv = run_conf(name, out, &s, NULL, total);
    cr_expect_eq(tu_count(csv, ",complete,"), total, "conf.d/%s:\n%s", name, csv);
    expect_columns(csv, name, cols);
    free(csv);
    free(tmp);
}

Test(conf_d, hartmann6_gpbo_runs, .timeout = 120)
{
    run_testfn("hartmann6-gpbo.yaml", "4", "2", 6, (const char *const[]){"f.hartmann6", NULL});
}

Test(conf_d, dtlz2_gpbo_runs, .timeout = 120)
{
    run_testfn("dtlz2-gpbo.yaml", "4", "2", 6, (const char *const[]){"f.f0", "f.f1", NULL});
}

Test(conf_d, constrained_gpbo_runs, .timeout = 120)
{
    run_testfn("constrained-gpbo.yaml", "4", "2", 6,
               (const char *const[]){"f.branin", "f.currin", NULL});
}

Test(conf_d, mixed_gpbo_runs, .timeout = 120)
{
    run_testfn("mixed-gpbo.yaml", "5", NULL, 5,
               (const char *const[]){"f.ackley", "act", "skip", NULL});
}

/* ---- the transformer studies ---- */

/* A token corpus from two of the project's documents, and a backbone pretrained 2 steps. */
static void make_corpus(const char *data)
{
    char readme[4400], docs[4400], *out = NULL, *err = NULL;
    snprintf(readme, sizeof(readme), "%s/README.md", tu_srcdir());
    snprintf(docs, sizeof(docs), "%s/docs/latency.md", tu_srcdir());
    char *argv[] = {(char *)tu_hilnas(), "tokenize", readme, docs, "-o", (char *)data, NULL};
    int rc = tu_run(argv, NULL, &out, &err);
    cr_assert_eq(rc, 0, "tokenize: %s", err);
    free(out);
    free(err);
}

static void make_backbone(const char *data, const char *bb, const char *kv_heads)
{
    char *out = NULL, *err = NULL;
    char *argv[] = {(char *)tu_hilnas(),
                    "pretrain",
                    "--data",
                    (char *)data,
                    "--out",
                    (char *)bb,
                    "--layers",
                    "4",
                    "--hidden",
                    "128",
                    "--heads",
                    "4",
                    "--kv-heads",
                    (char *)kv_heads,
                    "--ffn",
                    "352",
                    "--seq",
                    "32",
                    "--batch",
                    "2",
                    "--steps",
                    "2",
                    "--warmup",
                    "1",
                    "--eval-interval",
                    "2",
                    "--checkpoint-interval",
                    "2",
                    "--threads",
                    "1",
                    NULL};
    int rc = tu_run(argv, NULL, &out, &err);
    cr_assert_eq(rc, 0, "pretrain: %s", err);
    free(out);
    free(err);
}

/* the host oracle at its cheapest: one round of two decoded tokens, one thread */
static void cheap_host(struct sets *s)
{
    set(s, "oracles.host.%s=1", "repeats");
    set(s, "oracles.host.%s=1", "max_repeats");
    set(s, "oracles.host.%s=0", "warmup");
    set(s, "oracles.host.%s=1", "threads");
    set(s, "oracles.host.%s=2", "decode_tokens");
}

/* the pruned evaluator at its cheapest: one training step, one validation batch */
static void cheap_quality(struct sets *s)
{
    set(s, "evaluators.quality.%s=1", "steps");
    set(s, "evaluators.quality.%s=32", "seq");
    set(s, "evaluators.quality.%s=2", "batch");
    set(s, "evaluators.quality.%s=1", "eval_batches");
}

Test(conf_d, flash_runs, .timeout = 300)
{
    char *tmp = tu_tmpdir("flash"), data[4400], bb[4400], out[4400];
    snprintf(data, sizeof(data), "%s/data", tmp);
    snprintf(bb, sizeof(bb), "%s/backbone", tmp);
    snprintf(out, sizeof(out), "%s/run", tmp);
    make_corpus(data);
    make_backbone(data, bb, "4");
    struct sets s = {0};
    char final[4500];
    snprintf(final, sizeof(final), "%s/final", bb);
    set(&s, "space.backbone=%s", final);
    set(&s, "space.calibration.data=%s", data);
    set(&s, "space.calibration.%s=2", "batches");
    set(&s, "space.calibration.%s=2", "batch");
    set(&s, "space.calibration.%s=32", "seq");
    set(&s, "evaluators.quality.data=%s", data);
    cheap_host(&s);
    cheap_quality(&s);
    set(&s, "stages.0.trials=%s", "3");
    set(&s, "stages.2.trials=%s", "2");
    /* a model of 3 measurements may predict both searched trials above the decode budget
     * (decode_rel_512 <= 0.9), which leaves the verify stage no feasible trial: no budget here */
    set(&s, "constraints.0.max=%s", "100");
    /* measure 3 + search 2 + verify at least 1 */
    char *csv = run_conf("flash.yaml", out, &s, NULL, 6);
    expect_columns(csv, "flash.yaml",
                   (const char *const[]){"host.prefill_ms", "host.decode_ms_512",
                                         "host.prefill_rel", "host.decode_rel_512",
                                         "latency.decode_rel_512", "quality.val_loss", NULL});
    free(csv);
    free(tmp);
}

/* quick.yaml and demo.yaml prepare their corpus (the fortunes) and backbone themselves */
static void run_prepared(const char *name)
{
    if (access("/usr/share/games/fortunes", R_OK) != 0) {
        cr_skip_test("conf.d/%s: /usr/share/games/fortunes is missing (apt-get install fortunes, "
                     "as scripts/setup.sh does)",
                     name);
    }
    char *tmp = tu_tmpdir("prepared"), out[4400], study[4400], env_cache[4500], report[4500];
    snprintf(out, sizeof(out), "%s/run", tmp);
    snprintf(study, sizeof(study), "%s/conf.d/%s", tu_srcdir(), name);
    snprintf(env_cache, sizeof(env_cache), "HILNAS_CACHE=%s/cache", tmp);
    struct sets s = {0};
    set_after(&s, study, "prepare.backbone.run", "--steps", "2");
    set_after(&s, study, "prepare.backbone.run", "--warmup", "1");
    set_after(&s, study, "prepare.backbone.run", "--eval-interval", "2");
    set_after(&s, study, "prepare.backbone.run", "--checkpoint-interval", "2");
    set_after(&s, study, "prepare.backbone.run", "--batch", "2");
    cheap_host(&s);
    cheap_quality(&s);
    set(&s, "stages.0.trials=%s", "3");
    set(&s, "stages.2.trials=%s", "2");
    char *csv = run_conf(name, out, &s, (char *const[]){env_cache, NULL}, 6);
    /* quick.yaml learns the times, demo.yaml the ratios to its backbone */
    const char *latency =
        strcmp(name, "demo.yaml") == 0 ? "latency.prefill_rel" : "latency.prefill_ms";
    expect_columns(csv, name,
                   (const char *const[]){"host.prefill_ms", latency, "quality.val_loss", NULL});
    free(csv);
    snprintf(report, sizeof(report), "%s/report.html", out);
    cr_expect(access(report, R_OK) == 0, "conf.d/%s wrote no %s", name, report);
    free(tmp);
}

Test(conf_d, quick_runs, .timeout = 300)
{
    run_prepared("quick.yaml");
}

Test(conf_d, demo_runs, .timeout = 300)
{
    run_prepared("demo.yaml");
}

/* scripts/llamacpp-latency.sh exports each architecture as GGUF and times it with llama-bench;
 * a stand-in prints llama-bench's JSON (1 ms per prompt token, 2 ms per generated one), after
 * checking the exported model exists. tests/tools/test_export.c runs the real llama-bench. */
Test(conf_d, llamacpp_latency_runs, .timeout = 300)
{
    char *tmp = tu_tmpdir("llamacpp"), data[4400], bb[4400], out[4400], bench[4400];
    snprintf(data, sizeof(data), "%s/data", tmp);
    snprintf(bb, sizeof(bb), "%s/backbone", tmp);
    snprintf(out, sizeof(out), "%s/run", tmp);
    snprintf(bench, sizeof(bench), "%s/fake-llama-bench", tmp);
    make_corpus(data);
    make_backbone(data, bb, "2");
    cr_assert_eq(tu_write_file(bench,
                               "#!/bin/sh\n"
                               "p=0; n=0; m=''\n"
                               "while [ $# -gt 0 ]; do case $1 in -p) p=$2; shift;; "
                               "-n) n=$2; shift;; -m) m=$2; shift;; esac; shift; done\n"
                               "[ -s \"$m\" ] || { echo \"no model $m\" >&2; exit 1; }\n"
                               "printf '[\\n  {\\n    \"n_prompt\": %s,\\n    \"n_gen\": %s,\\n"
                               "    \"avg_ns\": %s,\\n    \"stddev_ns\": 500000,\\n"
                               "    \"samples_ns\": [ 1, 2 ]\\n  }\\n]\\n' \"$p\" \"$n\" "
                               "$(( p * 1000000 + n * 2000000 ))\n"),
                 0);
    cr_assert_eq(chmod(bench, 0755), 0);
    char study[4400], script[4500], benv[4500], henv[4500], final[4500];
    snprintf(study, sizeof(study), "%s/conf.d/llamacpp-latency.yaml", tu_srcdir());
    snprintf(script, sizeof(script), "%s/scripts/llamacpp-latency.sh", tu_srcdir());
    snprintf(benv, sizeof(benv), "LLAMA_BENCH=%s", bench);
    snprintf(henv, sizeof(henv), "HILNAS=%s", tu_hilnas());
    snprintf(final, sizeof(final), "%s/final", bb);
    struct sets s = {0};
    set(&s, "space.backbone=%s", final);
    set(&s, "oracles.llamacpp.command.0=%s", script);
    set_after(&s, study, "oracles.llamacpp.command", "{workdir}", "32"); /* PROMPT */
    set(&s, "stages.0.trials=%s", "3");
    char *csv = run_conf("llamacpp-latency.yaml", out, &s, (char *const[]){benv, henv, NULL}, 3);
    expect_columns(csv, "llamacpp-latency.yaml",
                   (const char *const[]){"llamacpp.prefill_ms", "llamacpp.decode_ms", NULL});
    /* the stand-in's 32 prompt tokens at 1 ms each (the script passed PROMPT on), sem 0.5 ms
     * over sqrt(5 repetitions) */
    cr_expect_eq(tu_count(csv, ",32,0.22360"), 3, "%s", csv);
    free(csv);
    free(tmp);
}
