/* hilnas space plugin "box": parameters declared in the study file (see docs/study-file.md). */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>

#include "hilnas/plugin.h"
#include "hilnas/space.h"
#include "hilnas/study.h"

struct box {
    const struct hn_config_node *params_node;
    const struct hn_config_node *constraints_node;
    struct hn_params *params;
};

static const struct hn_option box_options[] = {
    {.name = "params",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct box, params_node),
     .help = "Mapping name -> {type: float|int|choice|categorical|bool, ...} (required)."},
    {.name = "constraints",
     .type = HN_OPT_NODE,
     .offset = offsetof(struct box, constraints_node),
     .help = "List of linear constraints such as \"x0 + x1 <= 1\"."},
    {.name = NULL},
};

static void box_destroy(void *ctx)
{
    struct box *b = ctx;
    if (b != NULL) {
        hn_params_free(b->params);
        free(b);
    }
}

static void *box_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct box *b = calloc(1, sizeof(*b));
    char where[1024];
    if (b == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_fill(box_options, args->node, b, err) != 0) {
        box_destroy(b);
        return NULL;
    }
    if (b->params_node == NULL) {
        hn_error_config(err, args->node ? hn_config_where(args->node, where, sizeof(where)) : NULL,
                        "missing required option 'params' (a mapping of parameter declarations)");
        box_destroy(b);
        return NULL;
    }
    b->params = hn_params_parse(b->params_node, b->constraints_node, err);
    if (b->params == NULL) {
        box_destroy(b);
        return NULL;
    }
    return b;
}

static const struct hn_params *box_params(void *ctx)
{
    return ((struct box *)ctx)->params;
}

static const struct hn_space_ops box_ops = {
    .size = sizeof(struct hn_space_ops),
    .create = box_create,
    .destroy = box_destroy,
    .params = box_params,
    .check = NULL,
    .decode = NULL,
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_SPACE),
    .name = "box",
    .summary = "Plain parameters (float, int, choice, categorical, bool) with linear constraints",
    .options = box_options,
    .space = &box_ops,
};
