/* llm/checkpoint.c: save and load checkpoint directories (see checkpoint.h). */
#include "config.h"

#include "hilnas/llm/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/llm/safetensors.h"
#include "hilnas/util.h"

static void shape_string(char *buf, size_t size, size_t ndim, const size_t *shape)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "(");
    for (size_t i = 0; i < ndim && used < size; i++) {
        used += (size_t)snprintf(buf + used, size - used, "%s%zu", i ? ", " : "", shape[i]);
    }
    if (used < size) {
        snprintf(buf + used, size - used, ")");
    }
}

int hn_llm_save(const struct hn_llm_model *model, const char *dir, struct hn_error *err)
{
    char *config_path = NULL, *st_path = NULL;
    struct hn_st_write_entry *entries = NULL;
    int rc = -1;
    if (hn_mkdir_p(dir, err) != 0) {
        goto fail;
    }
    config_path = hn_path_join(dir, "config.json");
    st_path = hn_path_join(dir, "model.safetensors");
    entries = calloc(model->n_tensors, sizeof(*entries));
    if (config_path == NULL || st_path == NULL || entries == NULL) {
        hn_error_set(err, dir, "out of memory writing the checkpoint");
        goto fail;
    }
    for (size_t i = 0; i < model->n_tensors; i++) {
        const struct hn_llm_tensor *t = &model->tensors[i];
        entries[i].name = t->name;
        entries[i].ndim = t->ndim;
        entries[i].shape[0] = t->shape[0];
        entries[i].shape[1] = t->shape[1];
        entries[i].data = model->params + t->offset;
    }
    if (hn_st_write(st_path, entries, model->n_tensors, err) != 0 ||
        hn_llm_config_write(config_path, &model->config, err) != 0) {
        goto fail;
    }
    rc = 0;
fail:
    free(config_path);
    free(st_path);
    free(entries);
    return rc;
}

struct hn_llm_model *hn_llm_load(const char *dir, struct hn_error *err)
{
    char *config_path = hn_path_join(dir, "config.json");
    char *st_path = hn_path_join(dir, "model.safetensors");
    struct hn_st_file file = {0};
    struct hn_llm_model *model = NULL;
    struct hn_llm_config config;
    char want[64], found[64];
    if (config_path == NULL || st_path == NULL) {
        hn_error_set(err, dir, "out of memory");
        goto fail;
    }
    if (hn_llm_config_read(config_path, &config, err) != 0) {
        goto fail;
    }
    model = hn_llm_model_new(&config, err);
    if (model == NULL) {
        hn_error_prefix(err, "%s", config_path);
        goto fail;
    }
    /* mapped, not read: F32 tensors are copied once, from the page cache into the model */
    if (hn_st_map(st_path, &file, err) != 0) {
        goto fail;
    }
    for (size_t i = 0; i < model->n_tensors; i++) {
        const struct hn_llm_tensor *t = &model->tensors[i];
        const struct hn_st_tensor *s = hn_st_find(&file, t->name);
        if (s == NULL) {
            shape_string(want, sizeof(want), t->ndim, t->shape);
            hn_error_config(err, st_path,
                            "tensor '%s' %s is missing, but config.json needs it; the checkpoint "
                            "and its config.json do not match",
                            t->name, want);
            goto fail;
        }
        int same = s->ndim == t->ndim;
        for (size_t d = 0; same && d < t->ndim; d++) {
            same = s->shape[d] == t->shape[d];
        }
        if (!same) {
            shape_string(want, sizeof(want), t->ndim, t->shape);
            shape_string(found, sizeof(found), s->ndim, s->shape);
            hn_error_config(err, st_path,
                            "tensor '%s' has shape %s, config.json implies %s; the checkpoint and "
                            "its config.json do not match",
                            t->name, found, want);
            goto fail;
        }
        memcpy(model->params + t->offset, s->data, t->numel * sizeof(float));
    }
    for (size_t i = 0; i < file.n; i++) {
        const char *name = file.t[i].name;
        size_t len = strlen(name), tail = strlen("rotary_emb.inv_freq");
        if (len >= tail && strcmp(name + len - tail, "rotary_emb.inv_freq") == 0) {
            continue;
        }
        if (model->config.tie_word_embeddings && strcmp(name, "lm_head.weight") == 0) {
            continue; /* some exporters write the tied head anyway */
        }
        if (hn_llm_tensor_find(model, name) < 0) {
            hn_error_config(err, st_path,
                            "tensor '%s' is not part of the model config.json describes (a "
                            "skipped-attention layer, or a different architecture?)",
                            name);
            goto fail;
        }
    }
    hn_st_free(&file);
    free(config_path);
    free(st_path);
    return model;
fail:
    hn_st_free(&file);
    hn_llm_model_free(model);
    free(config_path);
    free(st_path);
    return NULL;
}
