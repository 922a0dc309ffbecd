/*
 * Oracle "device" with a real subprocess (tests/data/device/sim.sh, a stand-in for an on-device
 * benchmark): metrics parsed from the last output line equal what the script computes from the
 * architecture file; placeholders are replaced; a failing, hanging, silent or incomplete command
 * fails its trial with the reason, and the study goes on.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tests/core/testutil.h"

static const char *backbone = "{\"hidden_size\": 64, \"intermediate_size\": 128, "
                              "\"num_hidden_layers\": 4, \"num_attention_heads\": 4, "
                              "\"vocab_size\": 256}";

/* A study of `trials` transformer prunings measured by `command` (with {SIM} for the script). */
static void write_study(const char *tmp, const char *command, int trials, char *text, size_t size)
{
    char dir[4400], path[4500], sim[4400], cmd[2048];
    snprintf(dir, sizeof(dir), "%s/backbone", tmp);
    cr_assert_eq(tu_run((char *const[]){"/bin/mkdir", "-p", dir, NULL}, NULL, NULL, NULL), 0);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    cr_assert_eq(tu_write_file(path, backbone), 0);
    snprintf(sim, sizeof(sim), "%s/tests/data/device/sim.sh", tu_srcdir());
    const char *at = strstr(command, "{SIM}");
    snprintf(cmd, sizeof(cmd), "%.*ssh %s%s", (int)(at - command), command, sim, at + 5);
    snprintf(text, size,
             "study: {name: dev, seed: 1}\n"
             "space: {plugin: transformer, backbone: %s, d_model: [32, 48, 64]}\n"
             "oracles:\n"
             "  phone: {plugin: device, command: \"%s\", metrics: [prefill_ms, decode_ms], "
             "timeout_s: 2}\n"
             "objectives: [{metric: prefill_ms, goal: minimize}]\n"
             "stages: [{name: s, sampler: sobol, trials: %d}]\n",
             dir, cmd, trials);
}

Test(device, metrics_come_from_the_command_s_last_line, .timeout = 60)
{
    char *tmp = tu_tmpdir("device"), text[8192], *err;
    write_study(tmp, "echo {trial} {seed} > {workdir}/ids.txt && {SIM} {arch} ok", 6, text,
                sizeof(text));
    int rc = tu_run_study_text(tmp, text, "run", &err);
    cr_assert_eq(rc, 0, "run failed: %s", err);
    free(err);
    char path[4500];
    snprintf(path, sizeof(path), "%s/run/journal.jsonl", tmp);
    char *journal = tu_read_file(path);
    cr_assert_not_null(journal);
    long hidden[16] = {0}, layers[16] = {0};
    int completed = 0;
    for (char *line = strtok(journal, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        json_t *ev = json_loads(line, 0, NULL);
        const char *type = json_string_value(json_object_get(ev, "event"));
        json_int_t id = json_integer_value(json_object_get(ev, "trial"));
        if (strcmp(type, "started") == 0 && id < 16) {
            json_t *a = json_object_get(ev, "arch");
            hidden[id] = (long)json_integer_value(json_object_get(a, "hidden_size"));
            layers[id] = (long)json_integer_value(json_object_get(a, "num_hidden_layers"));
        } else if (strcmp(type, "completed") == 0 && id < 16) {
            json_t *m = json_object_get(ev, "metrics");
            json_t *p = json_object_get(m, "phone.prefill_ms"),
                   *d = json_object_get(m, "phone.decode_ms");
            double pv = json_number_value(json_object_get(p, "value"));
            double dv = json_number_value(json_object_get(d, "value"));
            double ds = json_number_value(json_object_get(d, "sem"));
            cr_expect(fabs(pv - hidden[id] * layers[id] / 100.0) < 1e-9, "trial %lld: %g",
                      (long long)id, pv);
            cr_expect(fabs(dv - layers[id] / 10.0) < 1e-9 && fabs(ds - 0.01) < 1e-12,
                      "trial %lld: %g +- %g", (long long)id, dv, ds);
            cr_expect_null(json_object_get(p, "sem"), "a bare number has no standard error");
            /* the placeholders */
            snprintf(path, sizeof(path), "%s/run/trials/%lld/ids.txt", tmp, (long long)id);
            char *ids = tu_read_file(path);
            cr_expect(ids != NULL && strtol(ids, NULL, 10) == id, "ids.txt: %s", ids);
            free(ids);
            snprintf(path, sizeof(path), "%s/run/trials/%lld/device.log", tmp, (long long)id);
            char *log = tu_read_file(path);
            cr_expect(log != NULL && strstr(log, "measuring") != NULL, "stderr goes to the log");
            free(log);
            completed++;
        }
        json_decref(ev);
    }
    free(journal);
    cr_expect_eq(completed, 6);
    free(tmp);
}

Test(device, a_bad_command_fails_its_trial_with_the_reason, .timeout = 60)
{
    static const struct {
        const char *mode, *reason;
    } rows[] = {
        {"fail", "exited with 3: device not found: is the phone connected?"},
        {"slow", "ran past timeout_s = 2 s and was killed"},
        {"garbage", "printed no JSON object on its last line (got 'no json here')"},
        {"partial", "no number for metric 'decode_ms'"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *tmp = tu_tmpdir("devbad"), text[8192], cmd[256], *err;
        snprintf(cmd, sizeof(cmd), "{SIM} {arch} %s", rows[i].mode);
        write_study(tmp, cmd, 1, text, sizeof(text));
        int rc = tu_run_study_text(tmp, text, "run", &err);
        cr_expect_eq(rc, 0, "%s: failed trials do not stop the study: %s", rows[i].mode, err);
        free(err);
        char path[4500];
        snprintf(path, sizeof(path), "%s/run/trials.csv", tmp);
        char *csv = tu_read_file(path);
        cr_expect(csv != NULL && tu_count(csv, ",failed,") == 1, "%s: %s", rows[i].mode, csv);
        cr_expect(csv != NULL && strstr(csv, rows[i].reason) != NULL, "%s: '%s' not in %s",
                  rows[i].mode, rows[i].reason, csv);
        free(csv);
        free(tmp);
    }
}
