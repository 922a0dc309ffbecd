/* llm/train.c: the pretraining loop, checkpoints with resume, and window evaluation. */
#include "config.h"

#include "hilnas/llm/train.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hilnas/llm/checkpoint.h"
#include "hilnas/llm/safetensors.h"
#include "hilnas/llm/tokens.h"
#include "hilnas/rng.h"
#include "hilnas/util.h"

#define STATE_FORMAT "hilnas-llm-train-state"
#define STATE_VERSION 1

void hn_llm_train_opts_default(struct hn_llm_train_opts *o)
{
    memset(o, 0, sizeof(*o));
    hn_llm_config_default(&o->config);
    o->seq = 256;
    o->batch = 16;
    o->steps = 1000;
    o->warmup = 100;
    o->lr = 3e-3;
    o->min_lr = 3e-4;
    o->weight_decay = 0.1;
    o->grad_clip = 1.0;
    o->eval_interval = 100;
    o->eval_batches = 8;
    o->checkpoint_interval = 500;
    o->log_interval = 10;
    o->seed = 1;
}

int hn_llm_eval_windows(struct hn_llm_model *model, const uint16_t *tok, size_t n, int T, int B,
                        long batches, double *loss, size_t *tokens, struct hn_error *err)
{
    int *inputs = NULL, *targets = NULL;
    int rc = -1;
    if (T < 1 || B < 1 || n < (size_t)T + 1) {
        return hn_error_config(
            err, NULL, "evaluation needs at least seq+1 = %d tokens, the data has %zu", T + 1, n);
    }
    size_t windows = (n - 1) / (size_t)T;
    if (batches > 0 && (size_t)batches * (size_t)B < windows) {
        windows = (size_t)batches * (size_t)B;
    }
    inputs = malloc((size_t)B * T * sizeof(int));
    targets = malloc((size_t)B * T * sizeof(int));
    if (inputs == NULL || targets == NULL) {
        hn_error_set(err, NULL, "evaluation: out of memory");
        goto fail;
    }
    double total = 0.0;
    for (size_t w = 0; w < windows; w += (size_t)B) {
        int nb = windows - w < (size_t)B ? (int)(windows - w) : B;
        for (int b = 0; b < nb; b++) {
            hn_window(tok, n, w + (size_t)b, T, inputs + (size_t)b * T, targets + (size_t)b * T);
        }
        double batch_loss;
        if (hn_llm_forward(model, inputs, targets, nb, T, &batch_loss, err) != 0) {
            goto fail;
        }
        total += batch_loss * nb * T;
    }
    *tokens = windows * (size_t)T;
    *loss = total / (double)*tokens;
    rc = 0;
fail:
    free(inputs);
    free(targets);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * checkpoints */

struct run {
    const struct hn_llm_train_opts *o;
    struct hn_llm_model *model;
    struct hn_adamw opt;
    struct hn_rng rng;
    long step; /* completed optimizer steps */
    char prev_checkpoint[64];
    /* the loop: data, batch buffers, log and progress */
    uint16_t *train, *val;
    size_t n_train, n_val;
    int *inputs, *targets; /* B x T */
    FILE *log;
    int tty;
    double t_start, train_seconds, last_val;
    long steps_here; /* steps taken by this process */
};

/* Remove a flat directory of files. Missing is fine. */
static void remove_flat_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int save_checkpoint(struct run *r, struct hn_error *err)
{
    const char *out = r->o->out_dir;
    char name[64], dir[PATH_MAX], tmp[PATH_MAX + 8], path[PATH_MAX + 40], link_tmp[PATH_MAX];
    snprintf(name, sizeof(name), "checkpoint-%08ld", r->step);
    snprintf(dir, sizeof(dir), "%s/%s", out, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", dir);
    remove_flat_dir(tmp);
    if (hn_llm_save(r->model, tmp, err) != 0) {
        return -1;
    }
    struct hn_st_write_entry moments[2] = {
        {.name = "adamw.m", .ndim = 1, .shape = {r->opt.n}, .data = r->opt.m},
        {.name = "adamw.v", .ndim = 1, .shape = {r->opt.n}, .data = r->opt.v},
    };
    snprintf(path, sizeof(path), "%s/optimizer.safetensors", tmp);
    if (hn_st_write(path, moments, 2, err) != 0) {
        return -1;
    }
    json_t *state = json_pack("{s:s, s:i, s:I, s:I, s:[s,s,s,s]}", "format", STATE_FORMAT,
                              "version", STATE_VERSION, "step", (json_int_t)r->step, "adamw_t",
                              (json_int_t)r->opt.t, "rng", "", "", "", "");
    char hex[4][17];
    for (int i = 0; i < 4; i++) {
        snprintf(hex[i], sizeof(hex[i]), "%016" PRIx64, r->rng.s[i]);
        json_array_set_new(json_object_get(state, "rng"), (size_t)i, json_string(hex[i]));
    }
    char *text = json_dumps(state, JSON_INDENT(2));
    json_decref(state);
    snprintf(path, sizeof(path), "%s/state.json", tmp);
    int rc = text != NULL ? hn_write_file_atomic(path, text, strlen(text), err) : -1;
    free(text);
    if (rc != 0) {
        return -1;
    }
    remove_flat_dir(dir);
    if (rename(tmp, dir) != 0) {
        return hn_error_set(err, dir, "cannot rename the new checkpoint into place: %s",
                            hn_strerror(errno));
    }
    snprintf(link_tmp, sizeof(link_tmp), "%s/last.tmp", out);
    snprintf(path, sizeof(path), "%s/last", out);
    unlink(link_tmp);
    if (symlink(name, link_tmp) != 0 || rename(link_tmp, path) != 0) {
        return hn_error_set(err, path, "cannot point 'last' at %s: %s", name, hn_strerror(errno));
    }
    if (hn_fsync_dir(out, err) != 0) {
        return -1;
    }
    if (r->prev_checkpoint[0] != '\0' && strcmp(r->prev_checkpoint, name) != 0) {
        snprintf(path, sizeof(path), "%s/%s", out, r->prev_checkpoint);
        remove_flat_dir(path);
    }
    snprintf(r->prev_checkpoint, sizeof(r->prev_checkpoint), "%s", name);
    return 0;
}

static int same_shape(const struct hn_llm_config *a, const struct hn_llm_config *b)
{
    if (a->hidden_size != b->hidden_size || a->intermediate_size != b->intermediate_size ||
        a->num_hidden_layers != b->num_hidden_layers ||
        a->num_attention_heads != b->num_attention_heads ||
        a->num_key_value_heads != b->num_key_value_heads || a->head_dim != b->head_dim ||
        a->vocab_size != b->vocab_size || a->tie_word_embeddings != b->tie_word_embeddings) {
        return 0;
    }
    for (int l = 0; l < a->num_hidden_layers; l++) {
        if (!a->attention_layers[l] != !b->attention_layers[l]) {
            return 0;
        }
    }
    return 1;
}

/* Resume from OUT/last if present: 1 resumed, 0 nothing to resume, -1 error. */
static int try_resume(struct run *r, struct hn_error *err)
{
    const char *out = r->o->out_dir;
    char last[PATH_MAX], path[PATH_MAX + 40], target[64];
    snprintf(last, sizeof(last), "%s/last", out);
    ssize_t len = readlink(last, target, sizeof(target) - 1);
    if (len < 0) {
        return 0;
    }
    target[len] = '\0';
    snprintf(path, sizeof(path), "%s/state.json", last);
    json_error_t jerr;
    json_t *state = json_load_file(path, 0, &jerr);
    json_t *rng = state != NULL ? json_object_get(state, "rng") : NULL;
    const char *format = state != NULL ? json_string_value(json_object_get(state, "format")) : NULL;
    if (state == NULL || format == NULL || strcmp(format, STATE_FORMAT) != 0 ||
        json_integer_value(json_object_get(state, "version")) != STATE_VERSION ||
        json_array_size(rng) != 4) {
        json_decref(state);
        return hn_error_config(err, path,
                               "not a hilnas training state of version %d; remove %s to start "
                               "the run from scratch",
                               STATE_VERSION, out);
    }
    r->step = (long)json_integer_value(json_object_get(state, "step"));
    long adam_t = (long)json_integer_value(json_object_get(state, "adamw_t"));
    for (size_t i = 0; i < 4; i++) {
        const char *s = json_string_value(json_array_get(rng, i));
        r->rng.s[i] = s != NULL ? strtoull(s, NULL, 16) : 0;
    }
    json_decref(state);
    struct hn_llm_model *model = hn_llm_load(last, err);
    if (model == NULL) {
        return -1;
    }
    if (!same_shape(&model->config, &r->o->config)) {
        hn_llm_model_free(model);
        return hn_error_config(err, out,
                               "holds a run of a different model shape; use another output "
                               "directory, or remove it to start again");
    }
    hn_llm_model_free(r->model);
    r->model = model;
    struct hn_st_file file = {0};
    snprintf(path, sizeof(path), "%s/optimizer.safetensors", last);
    if (hn_st_read(path, &file, err) != 0) {
        return -1;
    }
    const struct hn_st_tensor *m = hn_st_find(&file, "adamw.m");
    const struct hn_st_tensor *v = hn_st_find(&file, "adamw.v");
    if (m == NULL || v == NULL || m->numel != r->opt.n || v->numel != r->opt.n) {
        hn_st_free(&file);
        return hn_error_config(err, path,
                               "AdamW moments 'adamw.m'/'adamw.v' of %zu values "
                               "missing or of the wrong size",
                               r->opt.n);
    }
    memcpy(r->opt.m, m->data, r->opt.n * sizeof(float));
    memcpy(r->opt.v, v->data, r->opt.n * sizeof(float));
    r->opt.t = adam_t;
    hn_st_free(&file);
    snprintf(r->prev_checkpoint, sizeof(r->prev_checkpoint), "%s", target);
    return 1;
}

/* Remove leftovers of a killed run: *.tmp checkpoints and checkpoints 'last' does not name. */
static void clean_out_dir(const char *out, const char *keep)
{
    DIR *d = opendir(out);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "checkpoint-", 11) == 0 && strcmp(e->d_name, keep) != 0) {
            snprintf(path, sizeof(path), "%s/%s", out, e->d_name);
            remove_flat_dir(path);
        }
    }
    closedir(d);
}

/* ---------------------------------------------------------------------------------------------
 * the loop */

static void format_duration(char *buf, size_t size, double seconds)
{
    long s = (long)(seconds + 0.5);
    if (s >= 3600) {
        snprintf(buf, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
    } else {
        snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
    }
}

/*
 * <dir>/training.json beside the final model: how it was trained, and the learning rate it ended
 * at (continued pretraining starts from there; see the evaluator `pruned`).
 */
static int write_training_record(const struct hn_llm_train_opts *o, const char *dir,
                                 double val_loss, struct hn_error *err)
{
    double final_lr = hn_lr_schedule(o->steps - 1, o->steps, o->warmup, o->lr, o->min_lr);
    json_t *t = json_pack("{s:s, s:s, s:{s:I, s:f, s:f, s:I, s:f, s:f, s:f, s:i, s:i, s:I, s:s}}",
                          "format", "hilnas-training-1", "producer", "pretrain", "training",
                          "steps", (json_int_t)o->steps, "lr", o->lr, "min_lr", o->min_lr, "warmup",
                          (json_int_t)o->warmup, "final_lr", final_lr, "weight_decay",
                          o->weight_decay, "grad_clip", o->grad_clip, "batch", o->batch, "seq",
                          o->seq, "seed", (json_int_t)o->seed, "data", o->data_dir);
    if (t != NULL && isfinite(val_loss)) {
        json_object_set_new(t, "val_loss", json_real(val_loss));
    }
    char *text = t ? json_dumps(t, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) : NULL;
    char *path = hn_path_join(dir, "training.json");
    int rc = text && path ? hn_write_file_atomic(path, text, strlen(text), err)
                          : hn_error_set(err, NULL, "out of memory");
    free(text);
    free(path);
    json_decref(t);
    return rc;
}

/* train.bin and val.bin of o->data_dir, checked against the vocabulary and seq (val.bin now,
 * not after the first eval-interval steps of training). Returns 0, or -1 with err. */
static int load_data(struct run *r, struct hn_error *err)
{
    const struct hn_llm_train_opts *o = r->o;
    const char *names[2] = {"train.bin", "val.bin"};
    uint16_t **toks[2] = {&r->train, &r->val};
    size_t *counts[2] = {&r->n_train, &r->n_val};
    for (int k = 0; k < 2; k++) {
        char *path = hn_path_join(o->data_dir, names[k]);
        int rc = path == NULL ? hn_error_set(err, NULL, "out of memory")
                              : hn_tokens_load(path, toks[k], counts[k], err);
        free(path);
        if (rc != 0) {
            return -1;
        }
    }
    if (r->n_train < (size_t)o->seq + 1) {
        return hn_error_config(err, o->data_dir, "train.bin has %zu tokens, fewer than seq+1 = %d",
                               r->n_train, o->seq + 1);
    }
    for (int k = 0; k < 2; k++) {
        if (hn_tokens_check_vocab(*toks[k], *counts[k], o->config.vocab_size, names[k], err) != 0) {
            hn_error_prefix(err, "%s (set --vocab to the data's vocabulary)", o->data_dir);
            return -1;
        }
    }
    if (r->n_val < (size_t)o->seq + 1) {
        return hn_error_config(err, o->data_dir,
                               "val.bin has %zu tokens, fewer than seq+1 = %d, so the model "
                               "cannot be validated; tokenize with a larger --val-fraction or "
                               "lower --seq",
                               r->n_val, o->seq + 1);
    }
    return 0;
}

/*
 * The output directory, the model and its optimizer, resumed from OUT/last or fresh, and the
 * training log opened for appending. Returns 0, or -1 with err.
 */
static int start_run(struct run *r, struct hn_error *err)
{
    const struct hn_llm_train_opts *o = r->o;
    if (hn_mkdir_p(o->out_dir, err) != 0) {
        return -1;
    }
    r->model = hn_llm_model_new(&o->config, err);
    if (r->model == NULL || hn_adamw_init(&r->opt, r->model->n_params, err) != 0) {
        return -1;
    }
    r->opt.weight_decay = o->weight_decay;
    int resumed = try_resume(r, err);
    if (resumed < 0) {
        return -1;
    }
    clean_out_dir(o->out_dir, resumed ? r->prev_checkpoint : "");
    if (!resumed) {
        hn_llm_model_randomize(r->model, hn_rng_derive(o->seed, hn_rng_hash("init")));
        hn_rng_seed(&r->rng, hn_rng_derive(o->seed, hn_rng_hash("batches")));
    }
    char *path = hn_path_join(o->out_dir, "log.jsonl");
    r->log = path != NULL ? fopen(path, "ae") : NULL;
    r->inputs = malloc((size_t)o->batch * o->seq * sizeof(int));
    r->targets = malloc((size_t)o->batch * o->seq * sizeof(int));
    if (r->log == NULL || r->inputs == NULL || r->targets == NULL) {
        hn_error_set(err, path, "cannot open the training log for appending: %s",
                     hn_strerror(errno));
        free(path);
        return -1;
    }
    free(path);
    if (resumed) {
        fprintf(r->log, "{\"resumed_from\": %ld}\n", r->step);
        fflush(r->log);
        if (!o->quiet) {
            fprintf(stderr, "hilnas: pretrain: resuming %s from step %ld\n", o->out_dir, r->step);
        }
    } else if (!o->quiet) {
        fprintf(stderr, "hilnas: pretrain: %zu parameters, %d x %d tokens per step, %ld steps\n",
                r->model->n_params, o->batch, o->seq, o->steps);
    }
    return 0;
}

/* One optimizer step on a sampled batch, logged, with a progress line. Returns 0, or -1. */
static int train_step(struct run *r, struct hn_error *err)
{
    const struct hn_llm_train_opts *o = r->o;
    int T = o->seq, B = o->batch;
    double t0 = hn_monotonic(), loss;
    hn_batch_sample(r->train, r->n_train, B, T, &r->rng, r->inputs, r->targets);
    hn_llm_zero_grad(r->model, err);
    if (hn_llm_forward(r->model, r->inputs, r->targets, B, T, &loss, err) != 0 ||
        hn_llm_backward(r->model, err) != 0) {
        return -1;
    }
    if (!isfinite(loss)) {
        return hn_error_set(err, NULL,
                            "pretrain: loss is %g at step %ld; lower the learning rate (--lr) "
                            "or raise warmup",
                            loss, r->step + 1);
    }
    double norm = hn_llm_clip_grad_norm(r->model, o->grad_clip);
    double lr = hn_lr_schedule(r->step, o->steps, o->warmup, o->lr, o->min_lr);
    hn_llm_adamw_step(r->model, &r->opt, lr);
    r->step++;
    r->steps_here++;
    r->train_seconds += hn_monotonic() - t0;
    double tok_s = (double)r->steps_here * B * T / r->train_seconds;
    fprintf(r->log,
            "{\"step\": %ld, \"train_loss\": %.9g, \"lr\": %.6g, \"grad_norm\": %.6g, "
            "\"tokens_per_s\": %.1f}\n",
            r->step, loss, lr, norm, tok_s);
    fflush(r->log);
    if (!o->quiet && (r->tty || r->step % (o->log_interval > 0 ? o->log_interval : 1) == 0 ||
                      r->step == o->steps)) {
        char eta[32];
        format_duration(eta, sizeof(eta),
                        (double)(o->steps - r->step) * (hn_monotonic() - r->t_start) /
                            (double)r->steps_here);
        fprintf(stderr, "%sstep %ld/%ld  loss %.4f  lr %.2e  %.0f tok/s  ETA %s%s",
                r->tty ? "\r" : "", r->step, o->steps, loss, lr, tok_s, eta, r->tty ? "  " : "\n");
    }
    return 0;
}

/* The validation loss (o->eval_batches windows of val.bin), logged. Returns 0, or -1. */
static int validate(struct run *r, struct hn_error *err)
{
    const struct hn_llm_train_opts *o = r->o;
    double val_loss;
    size_t val_tokens;
    if (hn_llm_eval_windows(r->model, r->val, r->n_val, o->seq, o->batch, o->eval_batches,
                            &val_loss, &val_tokens, err) != 0) {
        hn_error_prefix(err, "validation");
        return -1;
    }
    fprintf(r->log, "{\"step\": %ld, \"val_loss\": %.9g, \"val_tokens\": %zu}\n", r->step, val_loss,
            val_tokens);
    r->last_val = val_loss;
    fflush(r->log);
    if (!o->quiet) {
        fprintf(stderr, "%sstep %ld/%ld  val loss %.4f (%zu tokens)\n", r->tty ? "\r" : "", r->step,
                o->steps, val_loss, val_tokens);
    }
    return 0;
}

/* The final model in OUT/final with its training record. Returns 0, or -1 with err. */
static int save_final(struct run *r, struct hn_error *err)
{
    char *path = hn_path_join(r->o->out_dir, "final");
    int rc = -1;
    if (path == NULL) {
        hn_error_set(err, NULL, "out of memory");
    } else if (hn_llm_save(r->model, path, err) == 0 &&
               write_training_record(r->o, path, r->last_val, err) == 0) {
        if (!r->o->quiet) {
            fprintf(stderr, "hilnas: pretrain: done; final model in %s\n", path);
        }
        rc = 0;
    }
    free(path);
    return rc;
}

int hn_llm_pretrain(const struct hn_llm_train_opts *o, struct hn_error *err)
{
    struct run r = {.o = o, .last_val = NAN};
    int rc = -1;
    if (o->seq < 1 || o->batch < 1 || o->steps < 1 || o->seq > o->config.max_position_embeddings) {
        return hn_error_config(err, NULL,
                               "pretrain: seq (%d), batch (%d) and steps (%ld) must be >= 1 and "
                               "seq <= max_position_embeddings (%d)",
                               o->seq, o->batch, o->steps, o->config.max_position_embeddings);
    }
    hn_llm_set_threads(o->threads);
    if (load_data(&r, err) != 0 || start_run(&r, err) != 0) {
        goto done;
    }
    r.tty = isatty(fileno(stderr));
    r.t_start = hn_monotonic();
    while (r.step < o->steps) {
        if (train_step(&r, err) != 0) {
            goto done;
        }
        int last = r.step == o->steps;
        if (((o->eval_interval > 0 && r.step % o->eval_interval == 0) || last) &&
            validate(&r, err) != 0) {
            goto done;
        }
        if (((o->checkpoint_interval > 0 && r.step % o->checkpoint_interval == 0) || last) &&
            save_checkpoint(&r, err) != 0) {
            goto done;
        }
        if (o->stop_after > 0 && r.steps_here >= o->stop_after && !last) {
            if (!o->quiet) {
                fprintf(stderr, "hilnas: pretrain: stopping after %ld steps as asked\n",
                        r.steps_here);
            }
            rc = 0;
            goto done;
        }
    }
    rc = save_final(&r, err);
done:
    if (r.log != NULL) {
        fclose(r.log);
    }
    free(r.inputs);
    free(r.targets);
    free(r.train);
    free(r.val);
    hn_adamw_free(&r.opt);
    hn_llm_model_free(r.model);
    return rc;
}

double hn_distill_apply(float *probs, const int *targets, const float *teacher, size_t N, size_t V,
                        double tau, double w)
{
    double kd = 0;
    double *ps = malloc(V * sizeof(double)), *pt = malloc(V * sizeof(double));
    if (ps == NULL || pt == NULL) {
        free(ps);
        free(pt);
        return NAN;
    }
    for (size_t n = 0; n < N; n++) {
        float *p = probs + n * V;
        const float *zt = teacher + n * V;
        /* student at temperature tau: p^(1/tau) normalized (log p = z - lse) */
        double ss = 0, tmax = -INFINITY, st = 0;
        for (size_t i = 0; i < V; i++) {
            ps[i] = p[i] > 0 ? exp(log((double)p[i]) / tau) : 0.0;
            ss += ps[i];
            tmax = zt[i] / tau > tmax ? zt[i] / tau : tmax;
        }
        for (size_t i = 0; i < V; i++) {
            pt[i] = exp(zt[i] / tau - tmax);
            st += pt[i];
        }
        for (size_t i = 0; i < V; i++) {
            ps[i] /= ss;
            pt[i] /= st;
            if (pt[i] > 0) {
                kd += pt[i] * (log(pt[i]) - (ps[i] > 0 ? log(ps[i]) : -745.0));
            }
        }
        if (w == 0) {
            continue;
        }
        /* d(w KD)/dz = w tau / N (ps - pt); backward applies (probs' - onehot) / N, so
         * probs' = (1 - w) p + w onehot + w tau (ps - pt) */
        for (size_t i = 0; i < V; i++) {
            double onehot = (int)i == targets[n] ? 1.0 : 0.0;
            p[i] = (float)((1 - w) * p[i] + w * onehot + w * tau * (ps[i] - pt[i]));
        }
    }
    free(ps);
    free(pt);
    return kd * tau * tau / (double)N;
}
