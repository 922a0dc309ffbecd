/*
 * The report of a real study (a tiny backbone pretrained by `prepare:`, latency measured on
 * this CPU, learned, searched and re-measured), rendered by headless Chromium: the page loads
 * without errors, and its charts plot what trials.csv holds, computed here independently from
 * the CSV: one parity point per latency measurement (the model's training points and the
 * held-out re-measurements, told apart), one Pareto point per architecture with both metrics;
 * Pareto charts only for the study's latencies (not the host's reference ref_ms). The rendering
 * is skipped, saying so, when chromium is not installed (Debian: apt-get install chromium).
 */
#include "config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hilnas/conf.h"
#include "tests/core/testutil.h"

static const char *study_fmt =
    "study: {name: report, seed: 4}\n"
    "prepare:\n"
    "  corpus: {run: [tokenize, \"%s/text\", --output, \"${out}\", --val-fraction, 0.2]}\n"
    "  backbone:\n"
    "    run: [pretrain, --data, \"${prepare.corpus}\", --out, \"${out}\", --layers, 2,\n"
    "          --hidden, 16, --heads, 2, --ffn, 32, --seq, 16, --batch, 2, --steps, 6,\n"
    "          --warmup, 2, --eval-interval, 1000, --eval-batches, 1,\n"
    "          --checkpoint-interval, 6, --threads, 1]\n"
    "space:\n"
    "  plugin: transformer\n"
    "  backbone: \"${prepare.backbone}/final\"\n"
    "  d_model: [4, 8, 12, 16]\n"
    "  d_ffn: [8, 16, 24, 32]\n"
    "  attention: per-layer\n"
    "oracles:\n"
    "  host: {plugin: host, prompt: 8, context: 8, decode_tokens: 2, repeats: 1, warmup: 0,\n"
    "         threads: 1}\n"
    "  latency: {plugin: learned, from: host, metrics: [prefill_ms], prompt: 8, context: 8,\n"
    "            restarts: 1}\n"
    "evaluators:\n"
    "  quality: {plugin: pruned, data: \"${prepare.corpus}\", steps: 1, seq: 16, batch: 2,\n"
    "            eval_batches: 1, threads: 1}\n"
    "objectives: [{metric: quality.val_loss, goal: minimize},\n"
    "             {metric: latency.prefill_ms, goal: minimize}]\n"
    "stages:\n"
    "  - {name: measure, run: host, sampler: sobol, trials: 6,\n"
    "     points: [{depth: 2, d_model: 16, d_ffn: 32, attn_0: true, attn_1: true}]}\n"
    "  - {name: fit, oracle: latency}\n"
    "  - {name: search, optimizer: {plugin: random, mode: uniform}, trials: 6,\n"
    "     points: [{depth: 2, d_model: 16, d_ffn: 32, attn_0: true, attn_1: true}]}\n"
    "  - {name: verify, select: pareto, run: host}\n";

static const char *chromium(void)
{
    static const char *const names[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser",
                                        "/usr/bin/google-chrome", NULL};
    const char *env = getenv("HN_CHROMIUM");
    if (env != NULL && access(env, X_OK) == 0) {
        return env;
    }
    for (size_t i = 0; names[i] != NULL; i++) {
        if (access(names[i], X_OK) == 0) {
            return names[i];
        }
    }
    return NULL;
}

/* ---- trials.csv, read independently of the report ---- */

#define MAX_ROWS 64
#define MAX_COLS 64

struct csv {
    int n_rows, n_cols;
    char *cell[MAX_ROWS][MAX_COLS];
    char *head[MAX_COLS];
    char *text;
};

/* Split at commas (the columns used here are never quoted: numbers, booleans, plain names). */
static int split(char *line, char **cells)
{
    int n = 0;
    for (char *c = line; n < MAX_COLS;) {
        cells[n++] = c;
        c = strchr(c, ',');
        if (c == NULL) {
            break;
        }
        *c++ = '\0';
    }
    return n;
}

static void read_csv(const char *dir, struct csv *t)
{
    char path[4500];
    snprintf(path, sizeof(path), "%s/trials.csv", dir);
    memset(t, 0, sizeof(*t));
    t->text = tu_read_file(path);
    cr_assert_not_null(t->text, "%s", path);
    char *save = NULL;
    char *line = strtok_r(t->text, "\n", &save);
    t->n_cols = split(line, t->head);
    while ((line = strtok_r(NULL, "\n", &save)) != NULL && t->n_rows < MAX_ROWS) {
        split(line, t->cell[t->n_rows++]);
    }
}

static int col(const struct csv *t, const char *name)
{
    for (int k = 0; k < t->n_cols; k++) {
        if (strcmp(t->head[k], name) == 0) {
            return k;
        }
    }
    cr_assert_fail("trials.csv has no column %s", name);
    return -1;
}

static const char *at(const struct csv *t, int row, int k)
{
    return t->cell[row][k] ? t->cell[row][k] : "";
}

/* Rows r and q have the same parameters (the columns after "status" without a '.'). */
static int same_params(const struct csv *t, int r, int q)
{
    for (int k = col(t, "status") + 1; k < t->n_cols && strchr(t->head[k], '.') == NULL; k++) {
        if (atof(at(t, r, k)) != atof(at(t, q, k)) || strcmp(at(t, r, k), at(t, q, k)) != 0) {
            return 0;
        }
    }
    return 1;
}

/* ---- the DOM Chromium dumped ---- */

/* The element <svg ... with attribute text `attr` (as Chromium serializes it), up to its end. */
static char *svg_with(char *dom, const char *attr)
{
    for (char *s = strstr(dom, "<svg"); s != NULL; s = strstr(s + 1, "<svg")) {
        char *gt = strchr(s, '>'), *end = strstr(s, "</svg>");
        if (gt != NULL && end != NULL) {
            char save = *gt;
            *gt = '\0';
            int hit = strstr(s, attr) != NULL;
            *gt = save;
            if (hit) {
                end[0] = '\0';
                return s;
            }
        }
    }
    return NULL;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* The integers of every `name="..."` attribute in text, into ids (as a sorted set). */
static int ids_of(const char *text, const char *name, long *ids, int max)
{
    char key[64];
    int n = 0;
    snprintf(key, sizeof(key), " %s=\"", name);
    for (const char *p = strstr(text, key); p != NULL; p = strstr(p + 1, key)) {
        const char *v = p + strlen(key);
        while (*v != '"' && n < max) {
            char *end;
            long id = strtol(v, &end, 10);
            if (end == v) {
                break;
            }
            ids[n++] = id;
            v = end;
            while (*v == ' ') {
                v++;
            }
        }
    }
    qsort(ids, (size_t)n, sizeof(long), cmp_long);
    return n;
}

static void expect_same_ids(const long *got, int ng, const long *want, int nw, const char *what)
{
    cr_expect_eq(ng, nw, "%s: %d plotted, %d expected from trials.csv", what, ng, nw);
    for (int i = 0; i < ng && i < nw; i++) {
        cr_expect_eq(got[i], want[i], "%s: plotted trial %ld, expected %ld", what, got[i], want[i]);
    }
}

/* Run the study text in tmp (a small corpus of sayings in tmp/text, a cache of its own) into
 * dir = tmp/study; the run must succeed. */
static void run_report_study(const char *tmp, const char *study, char *dir, size_t dir_size)
{
    char path[4500], text[8192];
    snprintf(path, sizeof(path), "%s/text", tmp);
    cr_assert_eq(mkdir(path, 0755), 0);
    size_t off = 0;
    for (int d = 0; d < 60; d++) {
        off += (size_t)snprintf(text + off, sizeof(text) - off,
                                "saying %d: a watched pot never boils, said the cook\n%%\n", d);
    }
    snprintf(path, sizeof(path), "%s/text/sayings", tmp);
    cr_assert_eq(tu_write_file(path, text), 0);
    snprintf(path, sizeof(path), "%s/study.yaml", tmp);
    cr_assert_eq(tu_write_file(path, study), 0);
    snprintf(dir, dir_size, "%s/study", tmp);
    char cache[4500];
    snprintf(cache, sizeof(cache), "HILNAS_CACHE=%s/cache", tmp);
    char *env[] = {cache, "HILNAS_THREADS=1", NULL};
    char *argv[] = {(char *)tu_hilnas(), "run", path, "--output", dir, "--quiet", NULL};
    char *out = NULL, *err = NULL;
    int rc = tu_run(argv, env, &out, &err);
    cr_assert_eq(rc, 0, "%s%s\n%s", out, err, study);
    free(out);
    free(err);
}

Test(report, chromium_renders_every_trial_of_trials_csv, .timeout = 300)
{
    char *tmp = tu_tmpdir("report");
    char dir[4400], text[8192];
    snprintf(text, sizeof(text), study_fmt, tmp);
    run_report_study(tmp, text, dir, sizeof(dir));
    int rc;

    /* what trials.csv says should be plotted */
    struct csv t;
    read_csv(dir, &t);
    int cid = col(&t, "id"), cst = col(&t, "status"), cstage = col(&t, "stage");
    int cme = col(&t, "host.prefill_ms"), cpr = col(&t, "latency.prefill_ms");
    int cq = col(&t, "quality.val_loss");
    long measured[MAX_ROWS], merged[MAX_ROWS];
    int n_measured = 0, n_merged = 0, n_front_points = 0, n_held = 0;
    int counted[MAX_ROWS] = {0};
    for (int r = 0; r < t.n_rows; r++) {
        if (strcmp(at(&t, r, cst), "complete") != 0) {
            continue;
        }
        if (at(&t, r, cme)[0] != '\0') {
            measured[n_measured++] = atol(at(&t, r, cid));
            /* held out: measured after the fit, an architecture no measure trial had */
            int seen = strcmp(at(&t, r, cstage), "measure") == 0;
            for (int q = 0; q < t.n_rows && !seen; q++) {
                seen = strcmp(at(&t, q, cstage), "measure") == 0 && same_params(&t, r, q);
            }
            n_held += !seen;
        }
        if (counted[r]) {
            continue;
        }
        /* one Pareto point per architecture (its complete trials merged) with both metrics */
        int hq = 0, hl = 0, first = n_merged;
        for (int q = r; q < t.n_rows; q++) {
            if (!counted[q] && strcmp(at(&t, q, cst), "complete") == 0 && same_params(&t, r, q)) {
                counted[q] = 1;
                hq |= at(&t, q, cq)[0] != '\0';
                hl |= at(&t, q, cpr)[0] != '\0';
                merged[n_merged++] = atol(at(&t, q, cid));
            }
        }
        if (hq && hl) {
            n_front_points++;
        } else {
            n_merged = first;
        }
    }
    cr_assert_geq(n_measured, 8, "the measure and verify stages measured");
    cr_assert_geq(n_front_points, 3);

    /* Pareto charts for the study's latencies only: the objective latency.prefill_ms and its
     * measured counterpart, not host.decode_ms (neither optimized nor learned) nor the host's
     * reference workload host.ref_ms, though trials.csv has both */
    col(&t, "host.ref_ms");
    col(&t, "host.decode_ms");
    char html[4500];
    snprintf(html, sizeof(html), "%s/report.html", dir);
    char *page = tu_read_file(html);
    cr_assert_not_null(page, "%s", html);
    char charted[512] = "";
    for (char *p = strstr(page, "data-metric='"); p != NULL; p = strstr(p + 1, "data-metric='")) {
        char *v = p + strlen("data-metric='"), *q = strchr(v, '\'');
        cr_assert_not_null(q);
        snprintf(charted + strlen(charted), sizeof(charted) - strlen(charted), "%s%.*s",
                 charted[0] ? " " : "", (int)(q - v), v);
    }
    cr_expect_str_eq(charted, "host.prefill_ms latency.prefill_ms", "Pareto charts drawn for: %s",
                     charted);
    free(page);

    /* rendered by Chromium */
    const char *browser = chromium();
    if (browser == NULL) {
        free(t.text);
        free(tmp);
        cr_skip_test("chromium is not installed: the report was not rendered (Debian: apt-get "
                     "install chromium; scripts/setup.sh installs it)");
    }
    char profile[4500], url[4600];
    snprintf(profile, sizeof(profile), "--user-data-dir=%s/chromium", tmp);
    snprintf(url, sizeof(url), "file://%s", html);
    char *cargv[] = {(char *)browser,
                     "--headless",
                     "--no-sandbox",
                     "--disable-gpu",
                     "--no-first-run",
                     "--enable-logging=stderr",
                     "--v=0",
                     profile,
                     "--dump-dom",
                     url,
                     NULL};
    char home[4500];
    snprintf(home, sizeof(home), "HOME=%s", tmp);
    char *cenv[] = {home, NULL};
    char *dom = NULL, *log = NULL;
    rc = tu_run(cargv, cenv, &dom, &log);
    cr_assert_eq(rc, 0, "chromium failed (%d): %s", rc, log);
    cr_assert_not_null(dom);
    cr_expect(strstr(dom, "<h1>Study report</h1>") != NULL, "the page loaded: %.2000s", dom);
    cr_expect(strstr(log, "Uncaught") == NULL && strstr(log, "CONSOLE") == NULL,
              "no script or console errors: %s", log);
    cr_expect(strstr(log, "Content Security Policy") == NULL, "nothing blocked: %s", log);

    long got[4 * MAX_ROWS];
    char *parity = svg_with(dom, "data-predicted=\"latency.prefill_ms\" "
                                 "data-measured=\"host.prefill_ms\"");
    cr_assert_not_null(parity, "a parity plot of latency.prefill_ms vs host.prefill_ms");
    int ng = ids_of(parity, "data-trial", got, 4 * MAX_ROWS);
    expect_same_ids(got, ng, measured, n_measured, "parity points (one per measurement)");
    cr_expect_eq(tu_count(parity, "<circle class=\"par held\""), (size_t)n_held,
                 "held-out points: measured after the fit, architectures never trained on");
    cr_expect_eq(tu_count(parity, "<circle class=\"par train\""), (size_t)(n_measured - n_held));
    cr_expect_eq(tu_count(parity, "class=\"band\""), 1, "the +-10 %% band");
    parity[strlen(parity)] = '<'; /* svg_with cut the text at </svg> */

    char *front = svg_with(dom, "data-metric=\"latency.prefill_ms\"");
    cr_assert_not_null(front, "a Pareto plot against latency.prefill_ms");
    cr_expect_eq(tu_count(front, "<circle class=\"pt\""), (size_t)n_front_points,
                 "one Pareto point per architecture with both metrics");
    ng = ids_of(front, "data-trials", got, 4 * MAX_ROWS);
    long want[MAX_ROWS];
    memcpy(want, merged, sizeof(long) * (size_t)n_merged);
    qsort(want, (size_t)n_merged, sizeof(long), cmp_long);
    expect_same_ids(got, ng, want, n_merged, "trials behind the Pareto points");
    free(dom);
    free(log);
    free(t.text);
    free(tmp);
}

/* quick.yaml and demo.yaml re-measure latency only in their verify stage: quality was
 * measured in search, and a verify stage keeps models (keep_model), which makes the pruned
 * evaluator bypass its result cache and train again. */
Test(report, example_studies_verify_latency_only)
{
    static const char *const files[] = {"conf.d/quick.yaml", "conf.d/demo.yaml"};
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        char path[4200];
        struct hn_error err;
        snprintf(path, sizeof(path), "%s/%s", tu_srcdir(), files[f]);
        struct hn_config_node *root = hn_config_load(path, &err);
        cr_assert_not_null(root, "%s", err.msg);
        const struct hn_config_node *stages = hn_config_get(root, "stages");
        int verify = 0;
        for (size_t i = 0; stages != NULL && i < stages->n; i++) {
            const struct hn_config_node *st = stages->items[i];
            if (hn_config_get(st, "select") == NULL) {
                continue;
            }
            verify++;
            const struct hn_config_node *run = hn_config_get(st, "run");
            cr_assert_not_null(run, "%s: the verify stage names what it runs", files[f]);
            const char *what = run->type == HN_NODE_SCALAR ? run->value
                               : run->n == 1               ? run->items[0]->value
                                                           : "(several)";
            cr_expect_str_eq(what, "host", "%s: verify runs the measuring oracle only", files[f]);
        }
        cr_expect_eq(verify, 1, "%s has a verify stage", files[f]);
        hn_config_free(root);
    }
}

/* Decode at every context is a latency (decode_ms_<c>), charted when the study constrains or
 * learns it; the spreads and flags beside it (_cv, _settled) and the references never are.
 * Before, only names ending in _ms counted, so flash.yaml's decode_ms_512 was never charted. */
Test(report, charts_decode_at_each_context, .timeout = 300)
{
    char *tmp = tu_tmpdir("report-ctx");
    char dir[4400], text[8192];
    /* the study of the test above, decode timed at contexts 0 and 8, learned on both, and a
     * constraint on decode with 8 tokens cached */
    char study[8192];
    snprintf(study, sizeof(study), study_fmt, tmp);
    const char *host_old = "prompt: 8, context: 8, decode_tokens: 2,";
    const char *learned_old = "metrics: [prefill_ms], prompt: 8, context: 8,";
    char *h = strstr(study, host_old), *l = strstr(study, learned_old),
         *o = strstr(study, "stages:");
    cr_assert(h != NULL && l != NULL && o != NULL, "the test study changed: %s", study);
    snprintf(text, sizeof(text),
             "%.*sprompt: 8, contexts: [0, 8], decode_tokens: 2,%.*smetrics: [prefill_ms, "
             "decode_ms], prompt: 8, contexts: [0, 8],%.*sconstraints: [{metric: "
             "latency.decode_ms_8, max: 1000}]\n%s",
             (int)(h - study), study, (int)(l - (h + strlen(host_old))), h + strlen(host_old),
             (int)(o - (l + strlen(learned_old))), l + strlen(learned_old), o);
    run_report_study(tmp, text, dir, sizeof(dir));
    char html[4500];
    snprintf(html, sizeof(html), "%s/report.html", dir);
    char *page = tu_read_file(html);
    cr_assert_not_null(page, "%s", html);
    char charted[1024] = "";
    for (char *p = strstr(page, "data-metric='"); p != NULL; p = strstr(p + 1, "data-metric='")) {
        char *v = p + strlen("data-metric='"), *q = strchr(v, '\'');
        cr_assert_not_null(q);
        snprintf(charted + strlen(charted), sizeof(charted) - strlen(charted), " %.*s ",
                 (int)(q - v), v);
    }
    cr_expect(strstr(charted, " latency.decode_ms_8 ") != NULL, "charted: %s", charted);
    cr_expect(strstr(charted, " host.decode_ms_8 ") != NULL, "charted: %s", charted);
    cr_expect(strstr(charted, " latency.prefill_ms ") != NULL, "charted: %s", charted);
    cr_expect(strstr(charted, "_cv") == NULL && strstr(charted, "_settled") == NULL &&
                  strstr(charted, "ref_ms") == NULL && strstr(charted, "mem_ms") == NULL,
              "only latencies charted: %s", charted);
    free(page);
    free(tmp);
}
