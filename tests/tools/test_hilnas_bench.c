/*
 * hilnas-bench (the on-device latency program) as a real process:
 * - on a small architecture it prints one JSON line that the device oracle reads: prefill and
 *   decode at each context with standard errors, spreads and sample counts, the settings it
 *   ran with, the CPU; decoding at 512 cached tokens costs more than at 0;
 * - bad input is refused with a reason and exit 1, bad options with exit 2;
 * - the same program built for a machine without OpenBLAS (tools/cross/build-bench.sh, plain-C
 *   BLAS) runs here too and says so; and with gcc-aarch64-linux-gnu installed the Linux
 *   aarch64 variant is built (a static AArch64 ELF executable) and, with qemu-user-static,
 *   run under qemu-aarch64-static with the same checks of its line; otherwise those parts say
 *   they skip;
 * - the host oracle's options and a reference model (ratio 1 within 0.2 against its own shape,
 * > 1.3 against a third of its layers); scripts/adb-bench.sh with a stand-in adb pushes the
 *   reference and refuses options with shell characters; --instances 3 raises the repeats so
 *   every copy is timed in both orders and says so in "settings";
 * - conf.d/phone.yaml, the flash loop against a phone, runs here with its command pointed at
 *   the local hilnas-bench and a tiny budget: every phone measurement comes from hilnas-bench.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/core/testutil.h"

static const char *arch_text =
    "{\"hidden_size\": 64, \"intermediate_size\": 160, \"num_hidden_layers\": 3, "
    "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 16, "
    "\"vocab_size\": 256, \"max_position_embeddings\": 1024, \"tie_word_embeddings\": true, "
    "\"attention_layers\": [true, false, true]}\n";

static char *bench_path(void)
{
    char *p = malloc(4200);
    snprintf(p, 4200, "%s/tools/hilnas-bench", tu_builddir());
    return p;
}

/* the last line of out as JSON */
static json_t *last_json(const char *out)
{
    cr_assert_not_null(out);
    const char *end = out + strlen(out);
    while (end > out && (end[-1] == '\n' || end[-1] == ' ')) {
        end--;
    }
    const char *start = end;
    while (start > out && start[-1] != '\n') {
        start--;
    }
    json_error_t je;
    json_t *j = json_loadb(start, (size_t)(end - start), 0, &je);
    cr_assert_not_null(j, "not JSON (%s): %.*s", je.text, (int)(end - start), start);
    return j;
}

static void check_line(json_t *j, const char *blas)
{
    const char *names[] = {"prefill_ms", "decode_ms_0", "decode_ms_512"};
    double v[3];
    for (int i = 0; i < 3; i++) {
        json_t *m = json_object_get(j, names[i]);
        char key[64];
        v[i] = json_number_value(json_object_get(m, "value"));
        double sem = json_number_value(json_object_get(m, "sem"));
        cr_expect(v[i] > 0 && isfinite(v[i]), "%s = %g", names[i], v[i]);
        cr_expect(sem >= 0 && isfinite(sem), "%s sem %g", names[i], sem);
        snprintf(key, sizeof(key), "%s_cv", names[i]);
        cr_expect(json_is_number(json_object_get(j, key)), "no %s", key);
        snprintf(key, sizeof(key), "%s_n", names[i]);
        cr_expect_geq(json_integer_value(json_object_get(j, key)), 3, "%s", key);
    }
    cr_expect_gt(v[2], v[1], "decode at 512 (%g ms) not slower than at 0 (%g ms)", v[2], v[1]);
    json_t *s = json_object_get(j, "settings");
    cr_expect_eq(json_integer_value(json_object_get(s, "prompt")), 32);
    cr_expect_eq(json_array_size(json_object_get(s, "contexts")), 2);
    cr_expect_str_eq(json_string_value(json_object_get(s, "dtype")), "q8_0");
    cr_expect_str_eq(json_string_value(json_object_get(s, "blas")), blas);
    cr_expect(json_is_string(json_object_get(j, "cpu_model")));
    cr_expect(json_is_integer(json_object_get(j, "cpu")), "the first pinned CPU, -1 unpinned");
    cr_expect(json_is_boolean(json_object_get(j, "settled")));
    /* the host oracle's fields: the references and every metric's settled flag */
    const char *more[] = {"ref_ms", "mem_ms"};
    for (int i = 0; i < 2; i++) {
        double r = json_number_value(json_object_get(json_object_get(j, more[i]), "value"));
        cr_expect(r > 0 && isfinite(r), "%s = %g", more[i], r);
    }
    const char *flags[] = {"prefill_ms_settled", "decode_ms_512_settled", "ref_ms_settled",
                           "mem_ms_settled", "ref_ms_cv"};
    for (int i = 0; i < 5; i++) {
        cr_expect(json_is_number(json_object_get(j, flags[i])), "no %s", flags[i]);
    }
    cr_expect_gt(json_integer_value(json_object_get(j, "params")), 0);
}

static char *write_arch(const char *tmp)
{
    char *path = malloc(4300);
    snprintf(path, 4300, "%s/arch.json", tmp);
    cr_assert_eq(tu_write_file(path, arch_text), 0);
    return path;
}

Test(hilnas_bench, prints_the_device_oracle_line, .timeout = 60)
{
    char *tmp = tu_tmpdir("hbench"), *arch = write_arch(tmp), *bin = bench_path();
    char *argv[] = {
        bin,         arch, "--prompt",  "32", "--contexts",      "0,512", "--dtype", "q8_0",
        "--repeats", "3",  "--threads", "1",  "--decode-tokens", "4",     NULL};
    char *out = NULL, *err = NULL;
    int rc = tu_run(argv, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    json_t *j = last_json(out);
    check_line(j, "openblas");
    json_decref(j);
    free(out);
    free(err);
    free(arch);
    free(bin);
    free(tmp);
}

Test(hilnas_bench, refuses_bad_input_with_a_reason, .timeout = 60)
{
    char *tmp = tu_tmpdir("hbenchbad"), *arch = write_arch(tmp), *bin = bench_path();
    char bad[4400], *out = NULL, *err = NULL;
    snprintf(bad, sizeof(bad), "%s/bad.json", tmp);
    cr_assert_eq(tu_write_file(bad, "{\"hidden_size\": 64,\n \"vocab_size\": -3}"), 0);
    struct {
        char *argv[8];
        int code;
        const char *says;
    } rows[] = {
        {{bin, "/nonexistent/arch.json", NULL}, 1, "/nonexistent/arch.json"},
        {{bin, bad, NULL}, 1, "bad.json"},
        {{bin, arch, "--prompt", "2000", NULL}, 1, "max_position_embeddings"},
        {{bin, arch, "--contexts", "0,x", NULL}, 2, "--contexts"},
        /* a number out of range names the range and what was given */
        {{bin, arch, "--repeats", "0", NULL},
         2,
         "--repeats needs an integer from 1 to 1000, found '0'"},
        {{bin, arch, "--warmup", NULL}, 2, "--warmup needs an integer from 0 to 100"},
        {{bin, arch, "--dtype", "f64", NULL}, 2, "--dtype"},
        {{bin, arch, "--bogus", NULL}, 2, "unknown option '--bogus'"},
        {{bin, arch, "--pick", "slowest", NULL}, 2, "--pick"},
        {{bin, arch, "--clock", "sundial", NULL}, 2, "--clock"},
        {{bin, arch, "--reference", NULL}, 2, "--reference"},
        {{bin, arch, "--reference", "/nonexistent/ref.json", NULL}, 1, "/nonexistent/ref.json"},
        {{bin, arch, "--reference", bad, NULL}, 1, "bad.json"},
        {{bin, NULL}, 2, "ARCH.json is required"},
        /* a directory is a checkpoint: its config.json (here none) */
        {{bin, tmp, NULL}, 1, "config.json"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int rc = tu_run(rows[i].argv, NULL, &out, &err);
        cr_expect_eq(rc, rows[i].code, "row %zu: exit %d: %s", i, rc, err);
        cr_expect(err != NULL && strstr(err, rows[i].says) != NULL, "row %zu: %s", i, err);
        cr_expect(out == NULL || out[0] == '\0', "row %zu printed %s", i, out);
        free(out);
        free(err);
    }
    /* and a checkpoint directory with a config.json is measured */
    char ck[4400], cfg[4500];
    snprintf(ck, sizeof(ck), "%s/ck", tmp);
    snprintf(cfg, sizeof(cfg), "%s/config.json", ck);
    cr_assert_eq(tu_run((char *const[]){"/bin/mkdir", "-p", ck, NULL}, NULL, NULL, NULL), 0);
    cr_assert_eq(tu_write_file(cfg, arch_text), 0);
    char *dargv[] = {bin, ck, "--prompt", "16", "--contexts", "0", "--repeats", "1", NULL};
    int rc = tu_run(dargv, NULL, &out, &err);
    cr_expect_eq(rc, 0, "a checkpoint directory: exit %d: %s", rc, err);
    cr_expect(out != NULL && strstr(out, "\"prefill_ms\"") != NULL, "%s", out);
    free(out);
    free(err);
    free(arch);
    free(bin);
    free(tmp);
}

/* The host oracle's options (pin, pick, clock) and a reference model: the line has the
 * reference's medians and the per-round ratios; a model against a copy of its own shape is 1
 * within the noise, against a model of a third of its layers clearly slower. */
Test(hilnas_bench, reference_pin_pick_clock, .timeout = 60)
{
    char *tmp = tu_tmpdir("hbenchref"), *arch = write_arch(tmp), *bin = bench_path();
    char third[4400], three[4400];
    /* 3 layers of 256 (prefill of 64 tokens: milliseconds, not the microseconds of arch.json,
     * whose two instances can time 10 % apart by where their memory lies) and 1 of them */
    snprintf(three, sizeof(three), "%s/three.json", tmp);
    snprintf(third, sizeof(third), "%s/third.json", tmp);
    for (int i = 0; i < 2; i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "{\"hidden_size\": 256, \"intermediate_size\": 512, \"num_hidden_layers\": %d, "
                 "\"num_attention_heads\": 4, \"vocab_size\": 64, "
                 "\"max_position_embeddings\": 1024}",
                 i == 0 ? 3 : 1);
        cr_assert_eq(tu_write_file(i == 0 ? three : third, text), 0);
    }
    for (int r = 0; r < 2; r++) {
        char *argv[] = {bin,
                        three,
                        "--prompt",
                        "64",
                        "--contexts",
                        "0,256",
                        "--repeats",
                        "5",
                        "--max-repeats",
                        "11",
                        "--threads",
                        "1",
                        "--decode-tokens",
                        "8",
                        "--pin",
                        "--pick",
                        "first",
                        "--clock",
                        "cpu",
                        "--reference",
                        r == 0 ? three : third,
                        NULL};
        char *out = NULL, *err = NULL;
        int rc = tu_run(argv, NULL, &out, &err);
        cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
        json_t *j = last_json(out);
        json_t *s = json_object_get(j, "settings");
        cr_expect_str_eq(json_string_value(json_object_get(s, "pick")), "first");
        cr_expect_str_eq(json_string_value(json_object_get(s, "clock")), "cpu");
        cr_expect(json_is_true(json_object_get(s, "pin")));
        cr_expect_geq(json_integer_value(json_object_get(j, "cpu")), 0, "pinned: a CPU");
        double rel = json_number_value(json_object_get(json_object_get(j, "prefill_rel"), "value"));
        double ref = json_number_value(json_object_get(json_object_get(j, "prefill_ref"), "value"));
        double ms = json_number_value(json_object_get(json_object_get(j, "prefill_ms"), "value"));
        printf("hilnas-bench: prefill %.4f ms, reference %.4f ms, rel %.3f (reference %s)\n", ms,
               ref, rel, r == 0 ? "same shape" : "1 of 3 layers");
        cr_expect(ref > 0 && ms > 0);
        if (r == 0) {
            /* two instances of a shape can time 10 % apart (tests/llm/test_measure.c) */
            cr_expect(fabs(rel - 1.0) < 0.2, "against its own shape: prefill_rel %g", rel);
        } else {
            cr_expect_gt(rel, 1.3, "three layers against one: prefill_rel %g", rel);
        }
        cr_expect(json_is_number(json_object_get(j, "decode_rel_256_cv")));
        cr_expect(json_is_number(json_object_get(j, "decode_rel_256_settled")));
        cr_expect(json_is_number(json_object_get(json_object_get(j, "decode_ref_0"), "value")));
        json_decref(j);
        free(out);
        free(err);
    }
    free(arch);
    free(bin);
    free(tmp);
}

/* --instances 3 with a reference: "settings" says 3 and the repeats it ran (2 raised to 6: each
 * copy in both orders), every metric has at least 6 values; 0 and 17 are usage errors. */
Test(hilnas_bench, instances, .timeout = 60)
{
    char *tmp = tu_tmpdir("hbenchinst"), *arch = write_arch(tmp), *bin = bench_path();
    char *out = NULL, *err = NULL;
    char *argv[] = {bin,         arch,  "--prompt",    "16", "--contexts",      "0,32",
                    "--repeats", "2",   "--threads",   "1",  "--decode-tokens", "2",
                    "--clock",   "cpu", "--instances", "3",  "--reference",     arch,
                    NULL};
    int rc = tu_run(argv, NULL, &out, &err);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
    json_t *j = last_json(out);
    json_t *s = json_object_get(j, "settings");
    cr_expect_eq(json_integer_value(json_object_get(s, "instances")), 3);
    cr_expect_eq(json_integer_value(json_object_get(s, "repeats")), 6, "2 raised to 2 x 3");
    cr_expect_geq(json_integer_value(json_object_get(s, "max_repeats")), 6);
    const char *names[] = {"prefill_ms_n", "decode_ms_32_n", "prefill_rel_n", "decode_ref_0_n"};
    for (int i = 0; i < 4; i++) {
        cr_expect_geq(json_integer_value(json_object_get(j, names[i])), 6, "%s", names[i]);
    }
    double rel = json_number_value(json_object_get(json_object_get(j, "prefill_rel"), "value"));
    cr_expect(rel > 0 && isfinite(rel), "prefill_rel %g", rel);
    json_decref(j);
    free(out);
    free(err);
    const char *bad[] = {"0", "17"};
    for (int i = 0; i < 2; i++) {
        char *argv2[] = {bin, arch, "--instances", (char *)bad[i], NULL};
        rc = tu_run(argv2, NULL, &out, &err);
        cr_expect_eq(rc, 2, "--instances %s: exit %d", bad[i], rc);
        cr_expect(err != NULL && strstr(err, "--instances") != NULL, "%s", err);
        free(out);
        free(err);
    }
    free(arch);
    free(bin);
    free(tmp);
}

/* scripts/adb-bench.sh against a stand-in adb that runs here (push: cp; shell: its words
 * joined into one string for sh -c, as adb hands them to the phone's shell): the binary is
 * pushed, the --reference file is pushed to the fixed path and the option points there; an
 * option with a shell character is refused before anything runs. */
Test(hilnas_bench, adb_script_pushes_the_reference, .timeout = 60)
{
    char *tmp = tu_tmpdir("hbenchadb"), *arch = write_arch(tmp), *bin = bench_path();
    char adb[4400], remote[4400], script[4400], e_adb[4500], e_bin[4500], e_remote[4500];
    char pushed[4500];
    snprintf(adb, sizeof(adb), "%s/adb", tmp);
    snprintf(remote, sizeof(remote), "%s/phone", tmp);
    snprintf(script, sizeof(script), "%s/scripts/adb-bench.sh", tu_srcdir());
    cr_assert_eq(tu_write_file(adb, "#!/bin/sh\n"
                                    "cmd=$1; shift\n"
                                    "case $cmd in\n"
                                    "push) cp \"$1\" \"$2\" ;;\n"
                                    "shell) exec /bin/sh -c \"$*\" ;;\n"
                                    "*) exit 1 ;;\n"
                                    "esac\n"),
                 0);
    cr_assert_eq(chmod(adb, 0755), 0);
    snprintf(e_adb, sizeof(e_adb), "ADB=%s", adb);
    snprintf(e_bin, sizeof(e_bin), "HILNAS_BENCH_BIN=%s", bin);
    snprintf(e_remote, sizeof(e_remote), "HILNAS_BENCH_REMOTE=%s", remote);
    char *env[] = {e_adb, e_bin, e_remote, NULL};
    char *argv[] = {"/bin/sh", script,        arch, "--prompt",  "32", "--contexts",
                    "0,64",    "--repeats",   "3",  "--threads", "1",  "--decode-tokens",
                    "4",       "--reference", arch, NULL};
    char *out = NULL, *err = NULL;
    int rc = tu_run(argv, env, &out, &err);
    cr_assert_eq(rc, 0, "adb-bench.sh: exit %d: %s", rc, err);
    json_t *j = last_json(out);
    double rel = json_number_value(json_object_get(json_object_get(j, "prefill_rel"), "value"));
    cr_expect(rel > 0 && isfinite(rel), "prefill_rel %g", rel);
    cr_expect_str_eq(
        json_string_value(json_object_get(json_object_get(j, "settings"), "reference")),
        strcat(strcpy(pushed, remote), "/reference.json"));
    cr_expect(access(pushed, R_OK) == 0, "%s was not pushed", pushed);
    json_decref(j);
    free(out);
    free(err);
    char *bad[] = {"/bin/sh", script, arch, "--prompt", "32;touch x", NULL};
    rc = tu_run(bad, env, &out, &err);
    cr_expect_eq(rc, 2, "exit %d", rc);
    cr_expect(err != NULL && strstr(err, "refusing option") != NULL, "%s", err);
    free(out);
    free(err);
    free(arch);
    free(bin);
    free(tmp);
}

/* program's path in PATH (static storage), or NULL */
static const char *which(const char *program)
{
    const char *path = getenv("PATH");
    char buf[4096];
    static char full[4400];
    snprintf(buf, sizeof(buf), "%s", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(full, sizeof(full), "%s/%s", d, program);
        if (access(full, X_OK) == 0) {
            return full;
        }
    }
    return NULL;
}

static int have(const char *program)
{
    return which(program) != NULL;
}

/* tools/cross/build-bench.sh with CC into tmp/sub; returns the binary's path or NULL */
static char *cross_build(const char *tmp, const char *sub, const char *cc, int is_static,
                         char **err)
{
    char script[4300], outdir[4400], ccenv[256];
    snprintf(script, sizeof(script), "%s/tools/cross/build-bench.sh", tu_srcdir());
    snprintf(outdir, sizeof(outdir), "%s/%s", tmp, sub);
    snprintf(ccenv, sizeof(ccenv), "CC=%s", cc);
    /* -O1: the test checks that it builds and runs, not how fast */
    char *env[] = {ccenv, "EXTRA_CFLAGS=-O1", is_static ? "STATIC=1" : "STATIC=0", NULL};
    char *argv[] = {"/bin/sh", script, outdir, NULL};
    char *out = NULL;
    int rc = tu_run(argv, env, &out, err);
    free(out);
    if (rc != 0) {
        return NULL;
    }
    char *bin = malloc(4500);
    snprintf(bin, 4500, "%s/hilnas-bench", outdir);
    return bin;
}

Test(hilnas_bench, plain_c_and_aarch64_builds, .timeout = 180)
{
    char *tmp = tu_tmpdir("hbenchx"), *arch = write_arch(tmp), *err = NULL;
    /* this machine's compiler, no OpenBLAS: the plain-C BLAS */
    char *bin = cross_build(tmp, "plain", "cc", 0, &err);
    cr_assert_not_null(bin, "plain-C build failed: %s", err);
    free(err);
    char *argv[] = {
        bin,         arch, "--prompt",  "32", "--contexts",      "0,512", "--dtype", "q8_0",
        "--repeats", "3",  "--threads", "1",  "--decode-tokens", "4",     NULL};
    char *out = NULL;
    int rc = tu_run(argv, NULL, &out, &err);
    cr_assert_eq(rc, 0, "plain-C hilnas-bench: exit %d: %s", rc, err);
    json_t *j = last_json(out);
    check_line(j, "plain-c");
    json_decref(j);
    free(out);
    free(err);
    free(bin);

    if (!have("aarch64-linux-gnu-gcc")) {
        printf("hilnas-bench aarch64: skipped (aarch64-linux-gnu-gcc not installed; "
               "apt-get install gcc-aarch64-linux-gnu)\n");
    } else {
        /* statically linked, as documented for boards (and as qemu-user runs it) */
        char *abin = cross_build(tmp, "aarch64", "aarch64-linux-gnu-gcc", 1, &err);
        if (abin == NULL && err != NULL && strstr(err, "jansson") != NULL &&
            getenv("JANSSON_SRC") == NULL) {
            printf("hilnas-bench aarch64: skipped (no jansson for aarch64: dpkg "
                   "--add-architecture arm64, apt-get update, apt-get install "
                   "libjansson-dev:arm64; or set JANSSON_SRC): %s\n",
                   err);
        } else {
            cr_assert_not_null(abin, "aarch64 build failed: %s", err);
            FILE *f = fopen(abin, "rb");
            unsigned char h[20] = {0};
            cr_assert_not_null(f);
            cr_assert_eq(fread(h, 1, 20, f), 20);
            fclose(f);
            cr_expect(h[0] == 0x7f && h[1] == 'E' && h[2] == 'L' && h[3] == 'F' && h[4] == 2,
                      "not a 64-bit ELF file");
            cr_expect_eq(h[18] | (h[19] << 8), 183, "e_machine %d, not EM_AARCH64",
                         h[18] | (h[19] << 8));
            printf("hilnas-bench aarch64: built %s\n", abin);
            /* and it runs: under qemu-user when installed, the device oracle's line */
            const char *qemu = which("qemu-aarch64-static");
            qemu = qemu != NULL ? qemu : which("qemu-aarch64");
            if (qemu == NULL) {
                printf("hilnas-bench aarch64: not run (apt-get install qemu-user-static)\n");
            } else {
                char *qargv[] = {(char *)qemu, abin,
                                 arch,         "--prompt",
                                 "32",         "--contexts",
                                 "0,512",      "--dtype",
                                 "q8_0",       "--threads",
                                 "1",          "--repeats",
                                 "3",          "--decode-tokens",
                                 "4",          NULL};
                char *qout = NULL, *qerr = NULL;
                rc = tu_run(qargv, NULL, &qout, &qerr);
                cr_assert_eq(rc, 0, "%s %s: exit %d: %s", qemu, abin, rc, qerr);
                json_t *qj = last_json(qout);
                check_line(qj, "plain-c");
                printf(
                    "hilnas-bench aarch64: ran under %s: prefill %.3f ms\n", qemu,
                    json_number_value(json_object_get(json_object_get(qj, "prefill_ms"), "value")));
                json_decref(qj);
                free(qout);
                free(qerr);
            }
            free(abin);
        }
        free(err);
    }
    free(arch);
    free(tmp);
}

/* conf.d/phone.yaml with its command pointed at this machine's hilnas-bench, on a small
 * backbone and corpus made here, with a tiny budget: the whole loop runs, and every phone
 * measurement is hilnas-bench's (its log line in the trial's device.log is empty: it writes
 * nothing to stderr) */
Test(hilnas_bench, phone_study_runs_against_the_local_bench, .timeout = 240)
{
    char *tmp = tu_tmpdir("phone"), *bin = bench_path(), *out = NULL, *err = NULL;
    char data[4400], bb[4400], run[4400], study[4400], readme[4400], docs[4400];
    snprintf(data, sizeof(data), "%s/data", tmp);
    snprintf(bb, sizeof(bb), "%s/backbone", tmp);
    snprintf(run, sizeof(run), "%s/run", tmp);
    snprintf(study, sizeof(study), "%s/conf.d/phone.yaml", tu_srcdir());
    snprintf(readme, sizeof(readme), "%s/README.md", tu_srcdir());
    snprintf(docs, sizeof(docs), "%s/docs/latency.md", tu_srcdir());
    char *tok[] = {(char *)tu_hilnas(), "tokenize", readme, docs, "-o", data, NULL};
    int rc = tu_run(tok, NULL, &out, &err);
    cr_assert_eq(rc, 0, "tokenize: %s", err);
    free(out);
    free(err);
    char *pre[] = {(char *)tu_hilnas(),
                   "pretrain",
                   "--data",
                   data,
                   "--out",
                   bb,
                   "--layers",
                   "4",
                   "--hidden",
                   "128",
                   "--heads",
                   "4",
                   "--kv-heads",
                   "4",
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
                   NULL};
    rc = tu_run(pre, NULL, &out, &err);
    cr_assert_eq(rc, 0, "pretrain: %s", err);
    free(out);
    free(err);
    char s_bb[4500], s_cal[4500], s_data[4500], s_cmd[4500], s_ref[4500];
    snprintf(s_bb, sizeof(s_bb), "space.backbone=%s/final", bb);
    snprintf(s_cal, sizeof(s_cal), "space.calibration.data=%s", data);
    snprintf(s_data, sizeof(s_data), "evaluators.quality.data=%s", data);
    snprintf(s_cmd, sizeof(s_cmd), "oracles.phone.command.0=%s", bin);
    snprintf(s_ref, sizeof(s_ref), "oracles.phone.command.16=%s/final", bb);
    char *argv[] = {(char *)tu_hilnas(),
                    "run",
                    study,
                    "--output",
                    run,
                    "--quiet",
                    "--set",
                    s_bb,
                    "--set",
                    s_cal,
                    "--set",
                    s_data,
                    "--set",
                    s_cmd,
                    "--set",
                    "oracles.phone.command.3=32", /* --prompt */
                    "--set",
                    "oracles.phone.command.7=4", /* --decode-tokens */
                    "--set",
                    "oracles.phone.command.9=3", /* --repeats */
                    "--set",
                    "oracles.phone.command.13=1", /* --threads */
                    "--set",
                    s_ref, /* --reference: the backbone */
                    "--set",
                    "evaluators.quality.steps=2",
                    "--set",
                    "evaluators.quality.seq=32",
                    "--set",
                    "evaluators.quality.batch=2",
                    "--set",
                    "evaluators.quality.eval_batches=2",
                    "--set",
                    "stages.0.trials=4",
                    "--set",
                    "stages.2.trials=2",
                    NULL};
    rc = tu_run(argv, NULL, &out, &err);
    cr_assert_eq(rc, 0, "phone study: exit %d: %s", rc, err);
    free(out);
    free(err);
    char path[4500];
    snprintf(path, sizeof(path), "%s/trials.csv", run);
    char *csv = tu_read_file(path);
    cr_assert_not_null(csv);
    cr_expect_eq(tu_count(csv, ",failed,"), 0, "%s", csv);
    cr_expect(strstr(csv, "phone.decode_ms_512") != NULL, "%.300s", csv);
    cr_expect(strstr(csv, "phone.decode_rel_512") != NULL, "%.300s", csv);
    cr_expect(strstr(csv, "latency.decode_rel_512") != NULL, "%.300s", csv);
    cr_expect(strstr(csv, "latency.prefill_rel") != NULL, "%.300s", csv);
    /* measure (4) + search (2) + verify (at least 1) */
    cr_expect_geq(tu_count(csv, ",complete,"), 7, "%s", csv);
    free(csv);
    snprintf(path, sizeof(path), "%s/trials/0/arch.json", run);
    cr_expect(access(path, R_OK) == 0, "the device oracle wrote no %s", path);
    snprintf(path, sizeof(path), "%s/verify-verify.csv", run);
    cr_expect(access(path, R_OK) == 0, "no predicted vs re-measured report %s", path);
    free(bin);
    free(tmp);
}
