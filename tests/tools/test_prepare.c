/*
 * hilnas run's `prepare:` steps through the real CLI: a corpus tokenized from a directory
 * (binary files skipped) and a tiny backbone pretrained once into a content-addressed cache,
 * used by the study through ${prepare.NAME}; a second study reuses them; a run killed in the
 * middle of pretraining resumes the step and publishes it once. Also a search stage's
 * `points:` (the unpruned backbone measured as a trial).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <glob.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/core/testutil.h"

static const char *study_fmt =
    "study: {name: \"prep<img src=x onerror=alert(1)>\", seed: 3}\n"
    "prepare:\n"
    "  corpus: {run: [tokenize, \"%s/text\", --output, \"${out}\", --val-fraction, 0.2]}\n"
    "  backbone:\n"
    "    run: [pretrain, --data, \"${prepare.corpus}\", --out, \"${out}\", --layers, 2,\n"
    "          --hidden, 16, --heads, 2, --ffn, 32, --seq, 16, --batch, 2, --steps, %d,\n"
    "          --warmup, 2, --eval-interval, 1000, --eval-batches, 1,\n"
    "          --checkpoint-interval, 5, --threads, 1]\n"
    "space:\n"
    "  plugin: transformer\n"
    "  backbone: \"${prepare.backbone}/final\"\n"
    "  d_model: [8, 16]\n"
    "oracles:\n"
    "  host: {plugin: host, prompt: 8, context: 8, decode_tokens: 2, repeats: 1, warmup: 0,\n"
    "         threads: 1}\n"
    "evaluators:\n"
    "  quality: {plugin: pruned, data: \"${prepare.corpus}\", steps: 1, seq: 16, batch: 2,\n"
    "            eval_batches: 1, threads: 1}\n"
    "objectives: [{metric: quality.val_loss, goal: minimize},\n"
    "             {metric: host.prefill_ms, goal: minimize}]\n"
    "stages:\n"
    "  - {name: measure, sampler: sobol, trials: 3, points: [{depth: 2, d_model: 16}]}\n";

/* A text directory: two fortune-style files and a binary file that must be skipped. */
static void make_text(const char *tmp)
{
    char path[4400], body[8192];
    snprintf(path, sizeof(path), "%s/text", tmp);
    cr_assert_eq(mkdir(path, 0755), 0);
    for (int f = 0; f < 2; f++) {
        size_t off = 0;
        for (int d = 0; d < 20; d++) {
            off += (size_t)snprintf(
                body + off, sizeof(body) - off,
                "fortune %d.%d: the quick brown fox jumps over the lazy dog\n%%\n", f, d);
        }
        snprintf(path, sizeof(path), "%s/text/file%d", tmp, f);
        cr_assert_eq(tu_write_file(path, body), 0);
    }
    snprintf(path, sizeof(path), "%s/text/file0.dat", tmp);
    FILE *bin = fopen(path, "wb");
    cr_assert_not_null(bin);
    fwrite("\0\1\2\3binary", 1, 10, bin);
    fclose(bin);
}

static const char *write_study(const char *tmp, const char *name, int steps)
{
    static char path[4400];
    char text[4096];
    snprintf(text, sizeof(text), study_fmt, tmp, steps);
    snprintf(path, sizeof(path), "%s/%s", tmp, name);
    cr_assert_eq(tu_write_file(path, text), 0);
    return path;
}

static char *cache_env[3];

static char **env_for(const char *tmp)
{
    static char cache[4400];
    snprintf(cache, sizeof(cache), "HILNAS_CACHE=%s/cache", tmp);
    cache_env[0] = cache;
    cache_env[1] = "HILNAS_THREADS=1";
    cache_env[2] = NULL;
    return cache_env;
}

static int run(const char *cmd, const char *study, const char *out_dir, const char *tmp, char **out,
               char **err)
{
    char *argv[] = {(char *)tu_hilnas(),         (char *)cmd,     (char *)study,
                    out_dir ? "--output" : NULL, (char *)out_dir, NULL};
    return tu_run(argv, env_for(tmp), out, err);
}

/* Count the events of the cache's journal with this type (and step, if not NULL). */
static int events(const char *tmp, const char *type, const char *step, int *resumed)
{
    char path[4400];
    snprintf(path, sizeof(path), "%s/cache/journal.jsonl", tmp);
    char *text = tu_read_file(path);
    int n = 0;
    if (resumed) {
        *resumed = 0;
    }
    for (char *save = NULL, *line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *ev = json_loads(line, 0, NULL);
        cr_assert_not_null(ev, "journal line: %s", line);
        const char *e = json_string_value(json_object_get(ev, "event"));
        const char *s = json_string_value(json_object_get(ev, "step"));
        if (strcmp(e, type) == 0 && (step == NULL || strcmp(s, step) == 0)) {
            n++;
            if (resumed && json_is_true(json_object_get(ev, "resumed"))) {
                (*resumed)++;
            }
        }
        json_decref(ev);
    }
    free(text);
    return n;
}

static size_t glob_count(const char *pattern)
{
    glob_t g;
    size_t n = glob(pattern, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
    if (n) {
        globfree(&g);
    }
    return n;
}

/* The HTML report: one point per architecture with both metrics, as trials.csv says; the
 * backbone (the stage's point) marked once; untrusted text escaped. */
static void check_report(const char *dir)
{
    char path[4500];
    snprintf(path, sizeof(path), "%s/trials.csv", dir);
    char *csv = tu_read_file(path);
    cr_assert_not_null(csv);
    /* columns: id,stage,status,depth,d_model,quality.val_loss,... host.prefill_ms ... */
    char *save = NULL, *header = strtok_r(csv, "\n", &save);
    int qcol = -1, lcol = -1, k = 0;
    char *hs = NULL;
    for (char *f = strtok_r(header, ",", &hs); f; f = strtok_r(NULL, ",", &hs), k++) {
        qcol = strcmp(f, "quality.val_loss") == 0 ? k : qcol;
        lcol = strcmp(f, "host.prefill_ms") == 0 ? k : lcol;
    }
    cr_assert(qcol >= 0 && lcol >= 0, "columns by full name");
    int both = 0;
    for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int col = 0, hq = 0, hl = 0;
        for (char *c = line;; c++) {
            if (col == qcol && *c != ',' && *c) {
                hq = 1;
            }
            if (col == lcol && *c != ',' && *c) {
                hl = 1;
            }
            if (*c == '\0') {
                break;
            }
            col += *c == ',';
        }
        both += hq && hl;
    }
    free(csv);
    snprintf(path, sizeof(path), "%s/report.html", dir);
    char *html = tu_read_file(path);
    cr_assert_not_null(html, "run writes %s", path);
    char *svg = strstr(html, "<svg class='pareto' xmlns='http://www.w3.org/2000/svg' width='520' "
                             "height='360' data-metric='host.prefill_ms'>");
    cr_assert_not_null(svg, "a Pareto plot against host.prefill_ms");
    char *end = strstr(svg, "</svg>");
    cr_assert_not_null(end);
    *end = '\0';
    cr_expect_eq(tu_count(svg, "<circle class='pt'"), (size_t)both,
                 "one point per trial with "
                 "both metrics (%d)",
                 both);
    cr_expect_eq(tu_count(svg, "data-reference='1'"), 1, "the backbone is marked once");
    cr_expect(strstr(svg, "data-trial='0' data-front='") != NULL, "trial 0 is the backbone");
    *end = '<';
    cr_expect(strstr(html, "<img") == NULL, "the study name is escaped");
    cr_expect(strstr(html, "prep&lt;img src=x onerror=alert(1)&gt;") != NULL);
    cr_expect(strstr(html, "http://") == strstr(html, "http://www.w3.org"), "no network");
    cr_expect(strstr(html, "<table class='frontier'>") != NULL);
    free(html);
    snprintf(path, sizeof(path), "%s/report.json", dir);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    cr_assert_not_null(j, "%s", jerr.text);
    cr_expect_eq(json_array_size(json_object_get(j, "candidates")), 3, "the backbone + 2 sampled");
    json_decref(j);
}

Test(prepare, steps_run_once_cached_and_used_through_variables, .timeout = 240)
{
    char *tmp = tu_tmpdir("prepare"), a[4400], b[4400], path[4500], *out, *err;
    make_text(tmp);
    const char *study = write_study(tmp, "study.yaml", 8);
    /* before anything ran: validate checks the prepare section only */
    int rc = run("validate", study, NULL, tmp, &out, &err);
    cr_expect_eq(rc, 0, "%s%s", out, err);
    cr_expect(strstr(out, "2 of 2 steps not yet run (corpus, backbone)") != NULL, "%s", out);
    free(out);
    free(err);

    snprintf(a, sizeof(a), "%s/a", tmp);
    rc = run("run", study, a, tmp, &out, &err);
    cr_assert_eq(rc, 0, "%s%s", out, err);
    /* the run ends with the frontier table and the report */
    cr_expect(strstr(out, "fastest models near the backbone (trial 0:") != NULL, "%s", out);
    cr_expect(strstr(out, "report: ") != NULL, "%s", out);
    free(out);
    free(err);
    check_report(a);
    cr_expect_eq(events(tmp, "prepare_completed", "corpus", NULL), 1);
    cr_expect_eq(events(tmp, "prepare_completed", "backbone", NULL), 1);
    snprintf(path, sizeof(path), "%s/cache/backbone-*/final/config.json", tmp);
    cr_expect_eq(glob_count(path), 1, "the backbone is published under its hash");
    snprintf(path, sizeof(path), "%s/cache/*.partial", tmp);
    cr_expect_eq(glob_count(path), 0, "no partial step left behind");
    /* the corpus holds the 40 documents of the text files, not the binary file */
    snprintf(path, sizeof(path), "%s/cache/corpus-*/step.out", tmp);
    glob_t g;
    cr_assert_eq(glob(path, 0, NULL, &g), 0);
    char *summary = tu_read_file(g.gl_pathv[0]);
    globfree(&g);
    cr_expect(strstr(summary, "\"documents\": 40,") != NULL, "%s", summary);
    free(summary);

    /* the study's points: its first trial is the unpruned backbone */
    snprintf(path, sizeof(path), "%s/trials.csv", a);
    char *csv = tu_read_file(path);
    cr_assert_not_null(csv);
    cr_expect(strstr(csv, "\n0,measure,complete,2,16,") != NULL, "%s", csv);
    cr_expect_eq(tu_count(csv, ",measure,complete,"), 3, "%s", csv);
    cr_expect_eq(tu_count(csv, ",measure,complete,2,16,"), 1, "the point is measured once");
    free(csv);

    /* another study of the same preparation reuses it; validate now checks everything */
    rc = run("validate", study, NULL, tmp, &out, &err);
    cr_expect_eq(rc, 0, "%s", err);
    cr_expect(strstr(out, ": ok: study 'prep<img") != NULL, "%s", out);
    free(out);
    free(err);
    snprintf(b, sizeof(b), "%s/b", tmp);
    rc = run("run", study, b, tmp, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect(strstr(err, "prepare backbone: cached in") != NULL, "%s", err);
    free(out);
    free(err);
    cr_expect_eq(events(tmp, "prepare_started", NULL, NULL), 2, "nothing prepared twice");

    /* other settings are another step directory */
    const char *other = write_study(tmp, "other.yaml", 9);
    rc = run("validate", other, NULL, tmp, &out, &err);
    cr_expect(strstr(out, "1 of 2 steps not yet run (backbone)") != NULL, "%s", out);
    free(out);
    free(err);
    free(tmp);
}

Test(prepare, a_killed_step_resumes_and_is_published_once, .timeout = 300)
{
    char *tmp = tu_tmpdir("prepkill"), a[4400], path[4500], log[4500];
    make_text(tmp);
    const char *study = write_study(tmp, "study.yaml", 400);
    snprintf(a, sizeof(a), "%s/a", tmp);
    snprintf(log, sizeof(log), "%s/first.log", tmp);
    char *argv[] = {(char *)tu_hilnas(), "run", (char *)study, "--output", a, NULL};
    pid_t pid = tu_spawn(argv, env_for(tmp), log);
    /* wait for the first checkpoint of the pretraining, then kill the run */
    snprintf(path, sizeof(path), "%s/cache/backbone-*.partial/last/config.json", tmp);
    for (int i = 0; i < 1200 && glob_count(path) == 0; i++) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(glob_count(path), 1, "no checkpoint after 120 s");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    cr_expect_eq(events(tmp, "prepare_completed", "backbone", NULL), 0);

    char *out, *err;
    int rc = run("run", study, a, tmp, &out, &err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect(strstr(err, "prepare backbone: resuming") != NULL, "%s", err);
    free(out);
    free(err);
    int resumed = 0;
    cr_expect_eq(events(tmp, "prepare_started", "backbone", &resumed), 2);
    cr_expect_eq(resumed, 1);
    cr_expect_eq(events(tmp, "prepare_completed", "backbone", NULL), 1);
    /* pretrain continued from its checkpoint: its log does not start over */
    snprintf(path, sizeof(path), "%s/cache/backbone-*/log.jsonl", tmp);
    glob_t g;
    cr_assert_eq(glob(path, 0, NULL, &g), 0);
    char *text = tu_read_file(g.gl_pathv[0]);
    globfree(&g);
    cr_assert_not_null(text);
    cr_expect_leq(tu_count(text, "{\"step\": 1,"), 1, "step 1 trained once");
    free(text);
    free(tmp);
}
