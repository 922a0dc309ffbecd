/* hilnas run / validate / plugins / show. */
#include "config.h"

#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/journal.h"
#include "core/registry.h"
#include "core/report.h"
#include "core/study.h"
#include "core/util.h"
#include "hilnas/log.h"
#include "tools/cli.h"
#include "tools/prepare.h"
#include "tools/progress.h"
#include "tools/report.h"

struct study_args {
    const char *file;
    const char **overrides;
    size_t n_overrides;
    const char *output;
    int quiet;
    int verbose;
    int repair_journal;
};

static void study_usage(const char *cmd, FILE *out)
{
    if (strcmp(cmd, "run") == 0) {
        fprintf(out, "usage: hilnas run STUDY.yaml [--set KEY.PATH=VALUE]... [--output DIR] "
                     "[--quiet | --verbose]\n\n"
                     "Run the study's stages; if its output directory already holds a journal, "
                     "resume it: completed\ntrials are kept and never re-run.\n\n");
    } else {
        fprintf(out,
                "usage: hilnas validate STUDY.yaml [--set KEY.PATH=VALUE]... [--output DIR]\n\n"
                "Check the study file, load its plugins and check their options; run "
                "nothing.\n\n");
    }
    fprintf(out, "options:\n"
                 "  --set KEY.PATH=VALUE  override a scalar of the study file (repeatable), "
                 "e.g. --set study.seed=3,\n"
                 "                        --set stages.0.trials=20\n"
                 "  --output DIR          write the study to DIR (overrides study.output)\n"
                 "  --quiet, -q           print only problems (errors, warnings) and, at the "
                 "end, the summary\n"
                 "                        (frontier table and report path, on stdout)\n"
                 "  --verbose, -v         also print every progress update of every trial "
                 "(training steps,\n"
                 "                        measurement runs) as a line\n"
                 "  --repair-journal      (run) move damaged journal lines to journal.damaged "
                 "even when\n"
                 "                        recorded events follow them, and resume with what is "
                 "readable\n"
                 "  --help, --version\n\n"
                 "progress: on a terminal, 'run' keeps one live status line per running stage "
                 "(trials done/total,\n"
                 "elapsed, ETA, best value or frontier size, what each running trial is doing); "
                 "otherwise plain\n"
                 "lines, at most one progress line every HILNAS_PROGRESS_INTERVAL seconds "
                 "(30). HILNAS_PROGRESS=\n"
                 "tty|plain|off forces a mode.\n\n"
                 "exit codes: 0 success, 1 runtime failure, 2 usage or configuration error\n");
}

/* 0 ok, 1 help/version printed (exit 0), 2 usage error printed. */
static int parse_study_args(int argc, char **argv, struct study_args *a, int *exit_code)
{
    static const struct option longopts[] = {
        {"set", required_argument, NULL, 's'}, {"output", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},     {"help", no_argument, NULL, 'h'},
        {"verbose", no_argument, NULL, 'v'},   {"repair-journal", no_argument, NULL, 'R'},
        {"version", no_argument, NULL, 'V'},   {NULL, 0, NULL, 0},
    };
    const char *cmd = argv[0];
    memset(a, 0, sizeof(*a));
    a->overrides = calloc((size_t)argc + 1, sizeof(char *));
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "s:o:qvhV", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            a->overrides[a->n_overrides++] = optarg;
            break;
        case 'o':
            a->output = optarg;
            break;
        case 'q':
            a->quiet = 1;
            break;
        case 'v':
            a->verbose = 1;
            break;
        case 'R':
            a->repair_journal = 1;
            break;
        case 'h':
            study_usage(cmd, stdout);
            *exit_code = 0;
            return 1;
        case 'V':
            *exit_code = hn_cli_version(cmd);
            return 1;
        default:
            *exit_code =
                hn_cli_usage_error(cmd, "unknown or incomplete option '%s'", argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc - 1) {
        *exit_code = hn_cli_usage_error(cmd, optind >= argc ? "missing STUDY.yaml"
                                                            : "expected one STUDY.yaml");
        return 2;
    }
    if (a->quiet && a->verbose) {
        *exit_code = hn_cli_usage_error(cmd, "--quiet and --verbose exclude each other");
        return 2;
    }
    a->file = argv[optind];
    hn_cli_set_verbosity(a->quiet     ? HN_VERBOSITY_QUIET
                         : a->verbose ? HN_VERBOSITY_VERBOSE
                                      : HN_VERBOSITY_NORMAL);
    return 0;
}

/* The cache of preparation results: $HILNAS_CACHE, else runs/cache. */
static const char *cache_dir(void)
{
    const char *c = getenv("HILNAS_CACHE");
    return c != NULL && *c != '\0' ? c : "runs/cache";
}

/* The study file's `prepare:` steps: run them (dry = 0) or only resolve their directories. */
static int prepare(struct study_args *a, int dry, struct hn_prepared *pp, struct hn_error *err)
{
    struct hn_config_node *root = hn_config_load(a->file, err);
    int rc = root ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < a->n_overrides; i++) {
        rc = hn_config_set(root, a->overrides[i], err);
    }
    if (rc == 0 && root->type == HN_NODE_MAPPING) {
        rc = hn_prepare(root, cache_dir(), dry, a->quiet, pp, err);
    }
    hn_config_free(root);
    return rc;
}

static int load(struct study_args *a, const struct hn_prepared *pp, struct hn_study **out,
                struct hn_error *err)
{
    struct hn_study_options opt = {
        .overrides = a->overrides,
        .n_overrides = a->n_overrides,
        .output = a->output,
        .quiet = a->quiet,
        .vars = (const char *const *)pp->vars,
        .n_vars = pp->n,
        .repair_journal = a->repair_journal,
    };
    *out = hn_study_load(a->file, &opt, err);
    return *out ? 0 : -1;
}

static void on_stop_signal(int sig)
{
    (void)sig;
    hn_study_stop(1); /* only sets a flag: async-signal-safe */
}

/* While a study runs, SIGINT and SIGTERM ask it to stop at the next trial boundary (trials
 * that finish are recorded; `hilnas run` again resumes); otherwise they end the process. */
static void stop_on_signals(int on)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on ? on_stop_signal : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int hn_cmd_run(int argc, char **argv)
{
    struct study_args a;
    struct hn_error err;
    struct hn_study *s = NULL;
    int code = 0;
    hn_error_clear(&err);
    if (parse_study_args(argc, argv, &a, &code) != 0) {
        free(a.overrides);
        return code;
    }
    struct hn_prepared pp = {0};
    if (prepare(&a, 0, &pp, &err) != 0 || load(&a, &pp, &s, &err) != 0) {
        code = hn_error_exit_code(&err);
    } else {
        struct hn_cli_progress *progress =
            hn_cli_progress_start(&s->status, a.quiet     ? HN_VERBOSITY_QUIET
                                              : a.verbose ? HN_VERBOSITY_VERBOSE
                                                          : HN_VERBOSITY_NORMAL);
        stop_on_signals(1);
        int run_rc = hn_study_run(s, &err);
        stop_on_signals(0);
        hn_cli_progress_stop(progress);
        if (run_rc != 0) {
            code = hn_error_exit_code(&err);
        }
    }
    if (code == 0 && s != NULL && !s->worker) {
        char *html = hn_path_join(s->output, "report.html");
        hn_log(HN_LOG_INFO,
               "study '%s' finished: results in %s (trials.csv, pareto.csv, "
               "summary.json; 'hilnas show %s')",
               s->name, s->output, s->output);
        if (html == NULL) {
            hn_error_set(&err, NULL, "out of memory");
            code = hn_error_exit_code(&err);
        } else if (hn_report_publish(s->output, html, stdout, &err) != 0) {
            code = hn_error_exit_code(&err);
        }
        free(html);
    }
    if (code != 0) {
        fprintf(stderr, "hilnas: error: %s\n", err.msg);
    }
    hn_prepared_free(&pp);
    hn_study_free(s);
    hn_registry_shutdown();
    free(a.overrides);
    return code;
}

int hn_cmd_validate(int argc, char **argv)
{
    struct study_args a;
    struct hn_error err;
    struct hn_study *s = NULL;
    int code = 0;
    hn_error_clear(&err);
    if (parse_study_args(argc, argv, &a, &code) != 0) {
        free(a.overrides);
        return code;
    }
    struct hn_prepared pp = {0};
    size_t pending = 0;
    if (prepare(&a, 1, &pp, &err) == 0) {
        for (size_t i = 0; i < pp.n; i++) {
            pending += !pp.done[i];
        }
    }
    if (err.kind != HN_ERR_NONE) {
        fprintf(stderr, "hilnas: error: %s\n", err.msg);
        code = hn_error_exit_code(&err);
    } else if (pending > 0) {
        /* the plugins may need what the steps make (a backbone): check them after */
        printf("%s: prepare section ok; %zu of %zu steps not yet run (", a.file, pending, pp.n);
        for (size_t i = 0, k = 0; i < pp.n; i++) {
            if (!pp.done[i]) {
                printf("%s%s", k++ ? ", " : "", pp.names[i]);
            }
        }
        printf("): 'hilnas run' runs them first; the rest of the study is checked once they "
               "are done\n");
    } else if (load(&a, &pp, &s, &err) != 0) {
        fprintf(stderr, "hilnas: error: %s\n", err.msg);
        code = hn_error_exit_code(&err);
    } else {
        size_t planned = 0;
        for (size_t i = 0; i < s->n_stages; i++) {
            planned += s->stages[i].type == HN_STAGE_SEARCH ? (size_t)s->stages[i].trials : 0;
        }
        printf("%s: ok: study '%s', %zu parameters, %zu metric sources, %zu objectives, "
               "%zu constraints, %zu stages (%zu search trials), output %s\n",
               a.file, s->name, s->space.params->n, s->n_sources, s->problem.n_objectives,
               s->problem.n_constraints, s->n_stages, planned, s->output);
    }
    hn_prepared_free(&pp);
    hn_study_free(s);
    hn_registry_shutdown();
    free(a.overrides);
    return code;
}

/* ---- plugins ---- */

struct list_state {
    int json;
    json_t *arr;
    int broken;
};

static void list_one(const struct hn_plugin *p, const char *module, const struct hn_error *e,
                     void *data)
{
    struct list_state *ls = data;
    if (p == NULL) {
        ls->broken++;
        if (ls->json) {
            json_array_append_new(ls->arr,
                                  json_pack("{s:s, s:s}", "module", module, "error", e->msg));
        } else {
            printf("  %-10s %-14s (cannot load: %s)\n", "?", module, e->msg);
        }
        return;
    }
    if (ls->json) {
        json_array_append_new(ls->arr, json_pack("{s:s, s:s, s:s, s:s}", "kind",
                                                 hn_kind_name(p->kind), "name", p->name, "summary",
                                                 p->summary ? p->summary : "", "module", module));
    } else {
        printf("  %-10s %-14s %s\n", hn_kind_name(p->kind), p->name, p->summary ? p->summary : "");
    }
}

static int describe(const char *name)
{
    struct hn_error err;
    const struct hn_plugin *found = NULL;
    char kindbuf[32] = "";
    const char *plain = name;
    const char *dash = strchr(name, '-');
    hn_error_clear(&err);
    if (dash != NULL && (size_t)(dash - name) < sizeof(kindbuf)) {
        memcpy(kindbuf, name, (size_t)(dash - name));
        kindbuf[dash - name] = '\0';
        for (int k = HN_KIND_SPACE; k <= HN_KIND_EXECUTOR; k++) {
            if (strcmp(kindbuf, hn_kind_name(k)) == 0) {
                found = hn_registry_find(k, dash + 1, &err);
                plain = dash + 1;
                if (found == NULL) {
                    fprintf(stderr, "hilnas: error: %s\n", err.msg);
                    return hn_error_exit_code(&err);
                }
            }
        }
    }
    for (int k = HN_KIND_SPACE; found == NULL && k <= HN_KIND_EXECUTOR; k++) {
        struct hn_error e2;
        const struct hn_plugin *p = hn_registry_find(k, plain, &e2);
        if (p != NULL) {
            if (found != NULL) {
                break;
            }
            found = p;
        }
    }
    if (found == NULL) {
        fprintf(stderr,
                "hilnas: plugins: no plugin named '%s' (see 'hilnas plugins'; name it as "
                "KIND-NAME when two kinds share a name)\n",
                name);
        return 2;
    }
    printf("%s %s: %s\n\noptions:\n", hn_kind_name(found->kind), found->name,
           found->summary ? found->summary : "");
    if (hn_options_describe(found->options, stdout) != 0) {
        fprintf(stderr, "hilnas: plugins: cannot write the option table\n");
        return 1;
    }
    return 0;
}

int hn_cmd_plugins(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"options", required_argument, NULL, 'o'}, {"json", no_argument, NULL, 'j'},
        {"man", no_argument, NULL, 'm'},           {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0},
    };
    const char *name = NULL;
    int json = 0, man = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:jhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            name = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'm':
            man = 1;
            break;
        case 'h':
            printf("usage: hilnas plugins [--json | --man] [--options NAME]\n\n"
                   "List the plugins found in the search path (HILNAS_PLUGIN_PATH, then the "
                   "installed plugin directory),\nor describe the options of one plugin "
                   "(NAME or KIND-NAME, e.g. random or optimizer-random).\n"
                   "--man prints every plugin's options as man(7) text (the PLUGINS section "
                   "of hilnas(1)).\n");
            return 0;
        case 'V':
            return hn_cli_version(argv[0]);
        default:
            return hn_cli_usage_error(argv[0], "unknown or incomplete option '%s'",
                                      argv[optind - 1]);
        }
    }
    if (optind != argc) {
        return hn_cli_usage_error(argv[0], "unexpected argument '%s'", argv[optind]);
    }
    int code = 0;
    if (man) {
        code = hn_cli_plugins_man(stdout);
    } else if (name != NULL) {
        code = describe(name);
    } else {
        struct list_state ls = {.json = json, .arr = json_array()};
        struct hn_error err;
        if (!json) {
            printf("plugins (search path %s):\n", hn_registry_search_path());
        }
        if (hn_registry_foreach(list_one, &ls, &err) != 0) {
            fprintf(stderr, "hilnas: error: %s\n", err.msg);
            code = 1;
        }
        if (json) {
            char *text = json_dumps(ls.arr, JSON_INDENT(2));
            printf("%s\n", text);
            free(text);
        }
        json_decref(ls.arr);
    }
    hn_registry_shutdown();
    return code;
}

/* ---- show ---- */

static void print_metrics(const json_t *metrics)
{
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach((json_t *)metrics, k, v)
    {
        printf("%s%s=%.6g", first ? "" : ", ", k, json_number_value(v));
        first = 0;
    }
}

int hn_cmd_show(int argc, char **argv)
{
    const char *json_flag = NULL;
    int code = 0;
    const char *dir = hn_cli_study_dir(
        argc, argv,
        "usage: hilnas show STUDY_DIR [--json]\n\n"
        "Summarize a study directory from its journal: trials by status, the best trial per "
        "objective,\nthe Pareto set and, for several objectives, the hypervolume. Safe while "
        "the study runs.\n",
        "json", 'j', 0, &json_flag, &code);
    if (dir == NULL) {
        return code;
    }
    int json = json_flag != NULL;
    struct hn_replay r;
    struct hn_problem problem;
    struct hn_error err;
    struct hn_journal_status jst;
    int torn = 0;
    memset(&r, 0, sizeof(r));
    memset(&problem, 0, sizeof(problem));
    hn_error_clear(&err);
    json_t *summary = NULL;
    r.lenient = 1; /* show what is readable; damage is warned about with line numbers */
    if (hn_journal_read_status(dir, hn_replay_event, &r, &jst, &err) != 0) {
        goto fail;
    }
    torn = jst.torn;
    if (r.study_event == NULL) {
        hn_error_set(&err, dir, "the journal has no study event yet (the study has not started)");
        goto fail;
    }
    if (hn_problem_from_json(json_object_get(r.study_event, "problem"), &problem, &err) != 0) {
        goto fail;
    }
    summary = hn_report_summary(&problem, r.trials, r.params_json, r.n, &err);
    if (summary == NULL) {
        goto fail;
    }
    json_object_set(summary, "study", json_object_get(r.study_event, "name"));
    json_object_set_new(summary, "journal_torn_last_line", json_boolean(torn));
    json_object_set_new(summary, "journal_damaged_lines", json_integer(jst.damaged));
    if (json) {
        char *text = json_dumps(summary, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
        printf("%s\n", text);
        free(text);
    } else {
        json_t *tr = json_object_get(summary, "trials");
        printf("study %s (%s)\n", json_string_value(json_object_get(summary, "study")), dir);
        printf("trials: %lld complete, %lld failed (%lld abandoned), %lld running\n",
               (long long)json_integer_value(json_object_get(tr, "complete")),
               (long long)json_integer_value(json_object_get(tr, "failed")),
               (long long)json_integer_value(json_object_get(tr, "abandoned")),
               (long long)json_integer_value(json_object_get(tr, "running")));
        const char *label;
        json_t *b;
        json_object_foreach(json_object_get(summary, "best"), label, b)
        {
            if (json_is_null(b)) {
                printf("best %s: none (no feasible complete trial)\n", label);
            } else {
                printf("best %s: %.6g (trial %lld)\n", label,
                       json_number_value(json_object_get(b, "value")),
                       (long long)json_integer_value(json_object_get(b, "trial")));
            }
        }
        json_t *pareto = json_object_get(summary, "pareto");
        if (problem.n_objectives > 1) {
            printf("pareto set: %zu trials\n", json_array_size(pareto));
            size_t i;
            json_t *e;
            json_array_foreach(pareto, i, e)
            {
                printf("  trial %-5lld ",
                       (long long)json_integer_value(json_object_get(e, "trial")));
                print_metrics(json_object_get(e, "metrics"));
                printf("\n");
            }
            json_t *hv = json_object_get(summary, "hypervolume");
            if (json_is_number(hv)) {
                printf("hypervolume: %.6g (reference point%s:", json_number_value(hv),
                       json_is_true(json_object_get(summary, "reference_point_inferred"))
                           ? " inferred"
                           : "");
                size_t j;
                json_t *v;
                json_array_foreach(json_object_get(summary, "reference_point"), j, v)
                {
                    printf(" %.6g", json_number_value(v));
                }
                printf(")\n");
            }
        }
        if (jst.damaged > 0) {
            printf("note: the journal has %ld damaged line%s (first: line %ld), skipped; 'hilnas "
                   "run' moves them to journal.damaged%s\n",
                   jst.damaged, jst.damaged == 1 ? "" : "s", jst.first_damaged,
                   jst.synced_after_damage ? " once asked to (--repair-journal)" : "");
        }
        if (torn) {
            printf("note: the journal's last line is torn (a run stopped mid-write); 'hilnas "
                   "run' will drop it\n");
        }
    }
    goto done;
fail:
    fprintf(stderr, "hilnas: error: %s\n", err.msg);
    code = hn_error_exit_code(&err);
done:
    json_decref(summary);
    hn_problem_free(&problem);
    hn_replay_free(&r);
    return code;
}
