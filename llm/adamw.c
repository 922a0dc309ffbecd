/*
 * llm/adamw.c: AdamW with decoupled weight decay, global-norm clipping, warmup + cosine schedule.
 *
 * Weight decay applies to 2-D tensors only (embedding, attention and MLP projections, LM head);
 * RMSNorm gains are never decayed (decaying them pulls the normalization towards zero, which is
 * not regularization). Moments are kept in float, bias correction in double.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/llm/model.h"

int hn_adamw_init(struct hn_adamw *opt, size_t n, struct hn_error *err)
{
    memset(opt, 0, sizeof(*opt));
    opt->m = calloc(2 * n, sizeof(float));
    if (opt->m == NULL) {
        return hn_error_set(err, NULL, "AdamW: out of memory for %zu moments", 2 * n);
    }
    opt->v = opt->m + n;
    opt->n = n;
    opt->beta1 = 0.9;
    opt->beta2 = 0.95;
    opt->eps = 1e-8;
    opt->weight_decay = 0.1;
    return 0;
}

void hn_adamw_free(struct hn_adamw *opt)
{
    free(opt->m);
    opt->m = opt->v = NULL;
}

void hn_adamw_kernel(float *params, const float *grads, float *m, float *v, size_t n, long t,
                     double lr, double beta1, double beta2, double eps, double wd)
{
    float c1 = (float)(1.0 / (1.0 - pow(beta1, (double)t)));
    float c2 = (float)(1.0 / (1.0 - pow(beta2, (double)t)));
    float b1 = (float)beta1, b2 = (float)beta2, flr = (float)lr, feps = (float)eps;
    float fwd = (float)wd;
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        float mi = b1 * m[i] + (1.0f - b1) * g;
        float vi = b2 * v[i] + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float mhat = mi * c1, vhat = vi * c2;
        params[i] -= flr * (mhat / (sqrtf(vhat) + feps) + fwd * params[i]);
    }
}

void hn_llm_adamw_step(struct hn_llm_model *model, struct hn_adamw *opt, double lr)
{
    opt->t++;
    for (size_t i = 0; i < model->n_tensors; i++) {
        const struct hn_llm_tensor *t = &model->tensors[i];
        double wd = t->ndim == 2 ? opt->weight_decay : 0.0;
        hn_adamw_kernel(model->params + t->offset, model->grads + t->offset, opt->m + t->offset,
                        opt->v + t->offset, t->numel, opt->t, lr, opt->beta1, opt->beta2, opt->eps,
                        wd);
    }
}

double hn_llm_clip_grad_norm(struct hn_llm_model *model, double max_norm)
{
    double ss = 0.0;
    size_t n = model->n_params;
    const float *g = model->grads;
    for (size_t i = 0; i < n; i++) {
        ss += (double)g[i] * g[i];
    }
    double norm = sqrt(ss);
    if (max_norm > 0 && norm > max_norm) {
        float scale = (float)(max_norm / norm);
        float *gw = model->grads;
        for (size_t i = 0; i < n; i++) {
            gw[i] *= scale;
        }
    }
    return norm;
}

double hn_lr_schedule(long step, long total, long warmup, double lr_max, double lr_min)
{
    if (step < warmup) {
        return lr_max * (double)(step + 1) / (double)warmup;
    }
    if (total - 1 <= warmup) {
        return lr_max;
    }
    double progress = (double)(step - warmup) / (double)(total - 1 - warmup);
    if (progress > 1.0) {
        progress = 1.0;
    }
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + cos(M_PI * progress));
}
