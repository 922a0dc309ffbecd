/* hilnas: loading a study file into configuration + plugin instances (see core/study.h). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/registry.h"
#include "core/study.h"
#include "core/util.h"
#include "hilnas/evaluator.h"
#include "hilnas/executor.h"
#include "hilnas/log.h"
#include "hilnas/optimizer.h"
#include "hilnas/space.h"

static const char *const top_keys[] = {"study",      "space",       "oracles",  "evaluators",
                                       "objectives", "constraints", "executor", "stages",
                                       "prepare",    NULL};
static const char *const study_keys[] = {"name", "seed", "output", "description", NULL};
static const char *const objective_keys[] = {"metric", "goal", "ref", NULL};
static const char *const constraint_keys[] = {"metric", "min", "max", NULL};
static const char *const stage_keys[] = {"name",   "optimizer",  "sampler", "trials",
                                         "run",    "oracle",     "select",  "keep_model",
                                         "points", "evaluators", "oracles", NULL};

/* Replace ${NAME} by VALUE in every scalar of the tree, for each "NAME=VALUE" of vars; other
 * ${...} stay as they are (a device command may hold shell variables). */
static int substitute(struct hn_config_node *n, const char *const *vars, size_t n_vars,
                      struct hn_error *err)
{
    if (n->type != HN_NODE_SCALAR) {
        for (size_t i = 0; i < n->n; i++) {
            if (substitute(n->items[i], vars, n_vars, err) != 0) {
                return -1;
            }
        }
        return 0;
    }
    if (n->value == NULL || strstr(n->value, "${") == NULL) {
        return 0;
    }
    for (size_t v = 0; v < n_vars; v++) {
        const char *eq = strchr(vars[v], '=');
        if (eq == NULL) {
            continue;
        }
        size_t nl = (size_t)(eq - vars[v]), vl = strlen(eq + 1);
        for (;;) {
            char *at = n->value;
            while ((at = strstr(at, "${")) != NULL &&
                   !(strncmp(at + 2, vars[v], nl) == 0 && at[2 + nl] == '}')) {
                at += 2;
            }
            if (at == NULL) {
                break;
            }
            size_t pre = (size_t)(at - n->value), len = strlen(n->value);
            char *r = malloc(len - (nl + 3) + vl + 1);
            if (r == NULL) {
                return hn_error_set(err, NULL, "out of memory");
            }
            memcpy(r, n->value, pre);
            memcpy(r + pre, eq + 1, vl);
            strcpy(r + pre + vl, at + nl + 3);
            free(n->value);
            n->value = r;
        }
    }
    return 0;
}

static const char *where(const struct hn_config_node *node, char *buf, size_t size)
{
    return hn_config_where(node, buf, size);
}

/* Plugin name of a plugin node: {plugin: NAME, ...}. */
static const char *plugin_name_of(const struct hn_config_node *node, const char *what,
                                  struct hn_error *err)
{
    const char *name = NULL;
    if (hn_config_expect(node, HN_NODE_MAPPING, err) != 0) {
        return NULL;
    }
    if (hn_config_req_string(node, "plugin", &name, err) != 0) {
        hn_error_prefix(err, "%s", what);
        return NULL;
    }
    return name;
}

/* Find the plugin named in node (kind), with the node's position on errors. */
static const struct hn_plugin *find_plugin(enum hn_kind kind, const struct hn_config_node *node,
                                           const char *name, struct hn_error *err)
{
    const struct hn_plugin *p = hn_registry_find(kind, name, err);
    if (p == NULL) {
        char buf[512];
        const struct hn_config_node *pn = hn_config_get(node, "plugin");
        hn_error_prefix(err, "%s: %s", where(pn ? pn : node, buf, sizeof(buf)),
                        pn ? pn->path : node->path);
    }
    return p;
}

void hn_study_plugin_args(const struct hn_study *s, const struct hn_plugin *p,
                          const struct hn_config_node *node, const char *instance,
                          const char *stage, struct hn_plugin_args *a)
{
    memset(a, 0, sizeof(*a));
    a->node = node;
    a->instance = instance ? instance : p->name;
    a->stage = stage;
    a->seed = s->seed;
    a->study_dir = s->output;
    a->space = p->kind == HN_KIND_SPACE ? NULL : &s->space;
    a->problem = &s->problem;
    a->threads = 1;
}

void *hn_study_create_plugin(const struct hn_study *s, const struct hn_plugin *p,
                             const struct hn_config_node *node, const char *instance,
                             const char *stage, struct hn_plugin_args *args, struct hn_error *err)
{
    hn_study_plugin_args(s, p, node, instance, stage, args);
    return hn_instance_create(p, args, err);
}

static int load_sources(struct hn_study *s, const struct hn_config_node *map, enum hn_kind kind,
                        struct hn_error *err)
{
    if (map == NULL) {
        return 0;
    }
    if (hn_config_expect(map, HN_NODE_MAPPING, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < map->n; i++) {
        const struct hn_config_node *node = map->items[i];
        const char *inst = map->keys[i];
        char buf[512];
        if (strchr(inst, '.') != NULL || inst[0] == '\0') {
            return hn_error_config(err, where(map->key_nodes[i], buf, sizeof(buf)),
                                   "%s: instance names must be non-empty and contain no '.'",
                                   node->path);
        }
        const char *pname = plugin_name_of(node, node->path, err);
        if (pname == NULL) {
            return -1;
        }
        const struct hn_plugin *p = find_plugin(kind, node, pname, err);
        if (p == NULL || hn_instance_check_options(p, node, inst, NULL, err) != 0) {
            return -1;
        }
        struct hn_source *g = realloc(s->sources, (s->n_sources + 1) * sizeof(*g));
        if (g == NULL) {
            return hn_error_set(err, NULL, "out of memory");
        }
        s->sources = g;
        struct hn_source *src = &s->sources[s->n_sources];
        memset(src, 0, sizeof(*src));
        src->name = strdup(inst);
        src->plugin = p;
        src->node = node;
        src->key_node = map->key_nodes[i];
        s->n_sources++;
        struct hn_plugin_args a;
        src->ctx = hn_study_create_plugin(s, p, node, inst, NULL, &a, err);
        if (src->ctx == NULL) {
            return -1;
        }
        struct hn_instance_call c;
        hn_instance_enter(&c, p, inst);
        src->metrics =
            kind == HN_KIND_ORACLE ? p->oracle->metrics(src->ctx) : p->evaluator->metrics(src->ctx);
        hn_instance_leave(&c);
        if (src->metrics == NULL || src->metrics[0] == NULL) {
            hn_error_set(err, NULL, "declares no metrics (a bug in the plugin)");
            hn_instance_error(&c, node, err);
            return -1;
        }
    }
    return 0;
}

/* Oracle and evaluator names are unique across both lists (O(n log n)). */
static int check_source_names(const struct hn_study *s, struct hn_error *err)
{
    const char **names = calloc(s->n_sources + 1, sizeof(char *));
    if (names == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < s->n_sources; i++) {
        names[i] = s->sources[i].name;
    }
    long first = -1, second = hn_find_duplicate(names, s->n_sources, &first);
    free(names);
    if (second >= 0) {
        char buf[512], was[512];
        const struct hn_source *a = &s->sources[first], *b = &s->sources[second];
        return hn_error_config(err, where(b->key_node, buf, sizeof(buf)),
                               "%s: the name '%s' is already used by another oracle or "
                               "evaluator (at %s); metric names must be unambiguous",
                               b->node->path, b->name, where(a->key_node, was, sizeof(was)));
    }
    return 0;
}

/*
 * Index of every metric for resolving objective and constraint names in O(log n) each, so that
 * a study with thousands of sources and objectives loads in linear time: sources by name, and
 * every (short metric name, source) pair by short name.
 */
struct short_ref {
    const char *name;
    size_t src;
};
struct metric_index {
    size_t n_src, n_short;
    struct short_ref *src;    /* sources sorted by name */
    struct short_ref *shorts; /* (metric short name, source) sorted by short name */
};

static int cmp_short(const void *a, const void *b)
{
    const struct short_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : (x->src > y->src) - (x->src < y->src);
}

static void metric_index_free(struct metric_index *ix)
{
    free(ix->src);
    free(ix->shorts);
    memset(ix, 0, sizeof(*ix));
}

static int metric_index_build(const struct hn_study *s, struct metric_index *ix)
{
    memset(ix, 0, sizeof(*ix));
    size_t total = 0;
    for (size_t i = 0; i < s->n_sources; i++) {
        for (size_t k = 0; s->sources[i].metrics[k] != NULL; k++) {
            total++;
        }
    }
    ix->src = calloc(s->n_sources + 1, sizeof(struct short_ref));
    ix->shorts = calloc(total + 1, sizeof(struct short_ref));
    if (ix->src == NULL || ix->shorts == NULL) {
        metric_index_free(ix);
        return -1;
    }
    for (size_t i = 0; i < s->n_sources; i++) {
        ix->src[ix->n_src++] = (struct short_ref){s->sources[i].name, i};
        for (size_t k = 0; s->sources[i].metrics[k] != NULL; k++) {
            ix->shorts[ix->n_short++] = (struct short_ref){s->sources[i].metrics[k], i};
        }
    }
    qsort(ix->src, ix->n_src, sizeof(struct short_ref), cmp_short);
    qsort(ix->shorts, ix->n_short, sizeof(struct short_ref), cmp_short);
    return 0;
}

/* Full name of name via the index: 1 found (*full malloc'ed), 0 unknown or ambiguous. */
static int metric_index_find(const struct hn_study *s, const struct metric_index *ix,
                             const char *name, char **full)
{
    const char *dot = strchr(name, '.');
    *full = NULL;
    if (dot != NULL) {
        char *prefix = strndup(name, (size_t)(dot - name));
        size_t lo = 0, hi = ix->n_src;
        while (prefix != NULL && lo < hi) { /* the source named by the prefix */
            size_t mid = (lo + hi) / 2;
            int c = strcmp(ix->src[mid].name, prefix);
            if (c == 0) {
                const struct hn_source *src = &s->sources[ix->src[mid].src];
                for (size_t m = 0; src->metrics[m] != NULL; m++) {
                    if (strcmp(src->metrics[m], dot + 1) == 0) {
                        *full = strdup(name);
                    }
                }
                break;
            }
            if (c < 0) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        free(prefix);
        if (*full != NULL) {
            return 1;
        }
    }
    size_t lo = 0, hi = ix->n_short;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(ix->shorts[mid].name, name) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < ix->n_short && strcmp(ix->shorts[lo].name, name) == 0 &&
        (lo + 1 == ix->n_short || strcmp(ix->shorts[lo + 1].name, name) != 0)) {
        *full = hn_strdup_printf("%s.%s", s->sources[ix->shorts[lo].src].name, name);
        return *full != NULL;
    }
    return 0;
}

/* Resolve a metric name (full "source.name" or a unique short name) to its full name. */
static char *resolve_metric(const struct hn_study *s, const struct metric_index *ix,
                            const struct hn_config_node *node, struct hn_error *err)
{
    const char *name = node->value;
    char *fast = NULL;
    if (ix != NULL && metric_index_find(s, ix, name, &fast)) {
        return fast;
    }
    char buf[512];
    char all[2048] = "";
    const char *cands[256];
    char fulls[256][160];
    size_t nc = 0;
    char *found = NULL;
    int matches = 0;
    for (size_t i = 0; i < s->n_sources; i++) {
        for (size_t k = 0; s->sources[i].metrics[k] != NULL; k++) {
            const char *m = s->sources[i].metrics[k];
            char full[160];
            snprintf(full, sizeof(full), "%s.%s", s->sources[i].name, m);
            if (nc < 254) {
                snprintf(fulls[nc], sizeof(fulls[nc]), "%s", full);
                cands[nc] = fulls[nc];
                nc++;
                snprintf(fulls[nc], sizeof(fulls[nc]), "%s", m);
                cands[nc] = fulls[nc];
                nc++;
            }
            size_t off = strlen(all);
            snprintf(all + off, sizeof(all) - off, "%s%s", off ? ", " : "", full);
            if (strcmp(full, name) == 0 || strcmp(m, name) == 0) {
                matches++;
                if (found == NULL) {
                    found = strdup(full);
                }
                if (strcmp(full, name) == 0) { /* a full name is never ambiguous */
                    free(found);
                    return strdup(full);
                }
            }
        }
    }
    cands[nc] = NULL;
    if (matches == 1) {
        return found;
    }
    free(found);
    if (matches > 1) {
        hn_error_config(err, where(node, buf, sizeof(buf)),
                        "%s: metric '%s' is ambiguous; name it as source.metric (one of: %s)",
                        node->path, name, all);
        return NULL;
    }
    const char *near = hn_suggest(name, cands);
    char hint[256] = "";
    if (near != NULL) {
        snprintf(hint, sizeof(hint), "did you mean '%s'? ", near);
    }
    hn_error_config(err, where(node, buf, sizeof(buf)),
                    "%s: unknown metric '%s' (%sknown metrics: %s)", node->path, name, hint,
                    nc ? all : "none: declare oracles or evaluators");
    return NULL;
}

static int load_problem_ix(struct hn_study *s, const struct metric_index *ix_,
                           struct hn_error *err);

static int load_problem(struct hn_study *s, struct hn_error *err)
{
    struct metric_index ix;
    if (metric_index_build(s, &ix) != 0) {
        return hn_error_set(err, NULL, "out of memory");
    }
    int rc = load_problem_ix(s, &ix, err);
    metric_index_free(&ix);
    return rc;
}

static int load_problem_ix(struct hn_study *s, const struct metric_index *ix_, struct hn_error *err)
{
    const struct metric_index ix = *ix_;
    const struct hn_config_node *objs = hn_config_get(s->root, "objectives");
    char buf[512];
    if (objs == NULL) {
        return hn_error_config(err, where(s->root, buf, sizeof(buf)),
                               "missing required key 'objectives' (a list like "
                               "[{metric: quality.val_loss, goal: minimize}])");
    }
    if (hn_config_expect(objs, HN_NODE_SEQUENCE, err) != 0) {
        return -1;
    }
    if (objs->n == 0) {
        return hn_error_config(err, where(objs, buf, sizeof(buf)),
                               "objectives: needs at least one objective");
    }
    s->objectives = calloc(objs->n, sizeof(*s->objectives));
    if (s->objectives == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < objs->n; i++) {
        const struct hn_config_node *o = objs->items[i];
        if (hn_config_expect(o, HN_NODE_MAPPING, err) != 0 ||
            hn_config_check_keys(o, objective_keys, "objective", err) != 0) {
            return -1;
        }
        const struct hn_config_node *mn = hn_config_get(o, "metric");
        const char *metric, *goal;
        if (hn_config_req_string(o, "metric", &metric, err) != 0 ||
            hn_config_get_string(o, "goal", "minimize", &goal, err) != 0) {
            return -1;
        }
        struct hn_objective *ob = &s->objectives[i];
        ob->ref = NAN;
        if (strcmp(goal, "minimize") == 0) {
            ob->maximize = 0;
        } else if (strcmp(goal, "maximize") == 0) {
            ob->maximize = 1;
        } else {
            const struct hn_config_node *gn = hn_config_get(o, "goal");
            return hn_error_config(err, where(gn, buf, sizeof(buf)),
                                   "%s: must be 'minimize' or 'maximize', found '%s'", gn->path,
                                   goal);
        }
        if (hn_config_get_double(o, "ref", NAN, &ob->ref, err) != 0) {
            return -1;
        }
        char *full = resolve_metric(s, &ix, mn, err);
        if (full == NULL) {
            return -1;
        }
        ob->metric = full;
        s->problem.n_objectives = i + 1;
    }
    const char **names = calloc(objs->n, sizeof(char *));
    if (names == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < objs->n; i++) {
        names[i] = s->objectives[i].metric;
    }
    long first = -1, second = hn_find_duplicate(names, objs->n, &first);
    free(names);
    if (second >= 0) {
        const struct hn_config_node *mn = hn_config_get(objs->items[second], "metric");
        return hn_error_config(err, where(mn, buf, sizeof(buf)),
                               "%s: metric '%s' is already an objective (objectives[%ld])",
                               mn->path, s->objectives[second].metric, first);
    }
    const struct hn_config_node *cons = hn_config_get(s->root, "constraints");
    if (cons != NULL && !cons->is_null) {
        if (hn_config_expect(cons, HN_NODE_SEQUENCE, err) != 0) {
            return -1;
        }
        s->constraints = calloc(cons->n ? cons->n : 1, sizeof(*s->constraints));
        if (s->constraints == NULL) {
            return hn_error_set(err, NULL, "out of memory");
        }
        for (size_t i = 0; i < cons->n; i++) {
            const struct hn_config_node *c = cons->items[i];
            if (hn_config_expect(c, HN_NODE_MAPPING, err) != 0 ||
                hn_config_check_keys(c, constraint_keys, "constraint", err) != 0) {
                return -1;
            }
            struct hn_constraint *cn = &s->constraints[i];
            const char *metric;
            if (hn_config_req_string(c, "metric", &metric, err) != 0 ||
                hn_config_get_double(c, "min", -INFINITY, &cn->lo, err) != 0 ||
                hn_config_get_double(c, "max", INFINITY, &cn->hi, err) != 0) {
                return -1;
            }
            if (hn_config_get(c, "min") == NULL && hn_config_get(c, "max") == NULL) {
                return hn_error_config(err, where(c, buf, sizeof(buf)),
                                       "%s: a constraint needs 'min', 'max' or both", c->path);
            }
            if (!(cn->lo <= cn->hi)) {
                return hn_error_config(err, where(c, buf, sizeof(buf)),
                                       "%s: min (%g) must not exceed max (%g)", c->path, cn->lo,
                                       cn->hi);
            }
            cn->metric = resolve_metric(s, &ix, hn_config_get(c, "metric"), err);
            if (cn->metric == NULL) {
                return -1;
            }
            s->problem.n_constraints = i + 1;
        }
    }
    s->problem.objectives = s->objectives;
    s->problem.constraints = s->constraints;
    return 0;
}

static long source_index(const struct hn_study *s, const char *name)
{
    for (size_t i = 0; i < s->n_sources; i++) {
        if (strcmp(s->sources[i].name, name) == 0) {
            return (long)i;
        }
    }
    return -1;
}

static int unknown_source(const struct hn_study *s, const struct hn_config_node *node,
                          struct hn_error *err)
{
    char buf[512], all[1024] = "";
    const char *cands[128];
    size_t n = 0;
    for (size_t i = 0; i < s->n_sources && i < 127; i++) {
        size_t off = strlen(all);
        snprintf(all + off, sizeof(all) - off, "%s%s", i ? ", " : "", s->sources[i].name);
        cands[n++] = s->sources[i].name;
    }
    cands[n] = NULL;
    const char *near = hn_suggest(node->value, cands);
    char hint[256] = "";
    if (near) {
        snprintf(hint, sizeof(hint), "did you mean '%s'? ", near);
    }
    return hn_error_config(err, where(node, buf, sizeof(buf)),
                           "%s: no oracle or evaluator named '%s' (%sdeclared: %s)", node->path,
                           node->value, hint, n ? all : "none");
}

/* Sources a search stage runs by default: those that produce objectives or constraints. */
static int default_run(struct hn_study *s, struct hn_stage *st, struct hn_error *err)
{
    st->run = calloc(s->n_sources ? s->n_sources : 1, sizeof(size_t));
    if (st->run == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < s->n_sources; i++) {
        size_t len = strlen(s->sources[i].name);
        int used = 0;
        for (size_t k = 0; k < s->problem.n_objectives; k++) {
            used |= strncmp(s->objectives[k].metric, s->sources[i].name, len) == 0 &&
                    s->objectives[k].metric[len] == '.';
        }
        for (size_t k = 0; k < s->problem.n_constraints; k++) {
            used |= strncmp(s->constraints[k].metric, s->sources[i].name, len) == 0 &&
                    s->constraints[k].metric[len] == '.';
        }
        if (used) {
            st->run[st->n_run++] = i;
        }
    }
    return 0;
}

/*
 * The value of parameter `name` in a point as JSON, read the way the rest of the study file is
 * (hn_config_to_*): a bool parameter takes YAML 1.2's booleans only (true, True, TRUE, false,
 * False, FALSE; yes/no/on/off are errors saying what to write), a float, int or choice parameter
 * a finite unquoted number, a categorical one its label. An unknown name gives its text, for
 * hn_params_from_json to refuse. NULL with err (file:line:col and key path) on a bad value.
 */
static json_t *point_value(const struct hn_params *params, const char *name,
                           const struct hn_config_node *v, struct hn_error *err)
{
    char buf[512];
    long k = hn_params_find(params, name);
    enum hn_param_type type = k >= 0 ? params->p[k].type : HN_PARAM_CATEGORICAL;
    json_t *out;
    if (type == HN_PARAM_BOOL) {
        int b;
        if (hn_config_to_bool(v, &b, err) != 0) {
            return NULL;
        }
        out = json_boolean(b);
    } else if (type == HN_PARAM_CATEGORICAL) {
        const char *label;
        if (hn_config_to_string(v, &label, err) != 0) {
            return NULL;
        }
        out = json_string(label);
    } else {
        double d;
        if (hn_config_to_double(v, &d, err) != 0) {
            return NULL;
        }
        if (!isfinite(d)) {
            hn_error_config(err, where(v, buf, sizeof(buf)),
                            "%s: expected a finite number, found '%s'", v->path, v->value);
            return NULL;
        }
        out = json_real(d);
    }
    if (out == NULL) {
        hn_error_set(err, NULL, "out of memory");
    }
    return out;
}

/* `points: [{param: value, ...}, ...]`: points a search stage measures first (e.g. the
 * unpruned backbone, as a reference), in order, each once. */
static int load_points(struct hn_study *s, struct hn_stage *st, const struct hn_config_node *pts,
                       struct hn_error *err)
{
    char buf[512];
    const struct hn_params *params = s->space.params;
    if (pts == NULL) {
        return 0;
    }
    if (hn_config_expect(pts, HN_NODE_SEQUENCE, err) != 0) {
        return -1;
    }
    if ((int64_t)pts->n > st->trials) {
        return hn_error_config(err, where(pts, buf, sizeof(buf)),
                               "%s: %zu points but the stage runs %lld trials", pts->path, pts->n,
                               (long long)st->trials);
    }
    st->points = calloc((pts->n ? pts->n : 1) * (params->n ? params->n : 1), sizeof(double));
    if (st->points == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < pts->n; i++) {
        const struct hn_config_node *p = pts->items[i];
        if (hn_config_expect(p, HN_NODE_MAPPING, err) != 0) {
            return -1;
        }
        json_t *obj = json_object();
        if (obj == NULL) {
            return hn_error_set(err, NULL, "out of memory");
        }
        for (size_t k = 0; k < p->n; k++) {
            json_t *value = NULL;
            if (hn_config_expect(p->items[k], HN_NODE_SCALAR, err) != 0 ||
                (value = point_value(params, p->keys[k], p->items[k], err)) == NULL) {
                json_decref(obj);
                return -1;
            }
            if (json_object_set_new(obj, p->keys[k], value) != 0) { /* value is released */
                json_decref(obj);
                return hn_error_set(err, NULL, "out of memory");
            }
        }
        int rc = hn_params_from_json(params, obj, st->points + i * params->n, err);
        json_decref(obj);
        if (rc != 0) {
            char msg[sizeof(err->msg)];
            snprintf(msg, sizeof(msg), "%s", err->msg);
            return hn_error_config(err, where(p, buf, sizeof(buf)), "%s: %s", p->path, msg);
        }
        char why[512] = "";
        if (!hn_space_check(&s->space, st->points + i * params->n, why, sizeof(why))) {
            return hn_error_config(err, where(p, buf, sizeof(buf)),
                                   "%s: not a valid point of the space: %s", p->path, why);
        }
        st->n_points++;
    }
    return 0;
}

/* ---- stage overrides of evaluator and oracle options (struct hn_stage_override) ---- */

static struct hn_config_node *view_new(struct hn_stage_override *o, const struct hn_config_node *at,
                                       size_t n)
{
    struct hn_config_node **grown = realloc(o->owned, (o->n_owned + 1) * sizeof(*grown));
    if (grown == NULL) {
        return NULL;
    }
    o->owned = grown;
    struct hn_config_node *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        return NULL;
    }
    o->owned[o->n_owned++] = v;
    v->type = HN_NODE_MAPPING;
    v->file = at->file;
    v->line = at->line;
    v->column = at->column;
    v->path = strdup(at->path);
    v->items = calloc(n ? n : 1, sizeof(*v->items));
    v->keys = calloc(n ? n : 1, sizeof(*v->keys));
    v->key_nodes = calloc(n ? n : 1, sizeof(*v->key_nodes));
    return v->path && v->items && v->keys && v->key_nodes ? v : NULL;
}

/* base's keys with over's values where over has them (mappings merged key by key), then over's
 * other keys; positions and paths are the override's. Borrows both trees. */
static struct hn_config_node *merge_view(struct hn_stage_override *o,
                                         const struct hn_config_node *base,
                                         const struct hn_config_node *over)
{
    size_t nb = base != NULL ? base->n : 0;
    struct hn_config_node *v = view_new(o, over, nb + over->n);
    if (v == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < nb; i++) {
        struct hn_config_node *item = base->items[i], *key_node = base->key_nodes[i];
        for (size_t k = 0; k < over->n; k++) {
            if (strcmp(over->keys[k], base->keys[i]) != 0) {
                continue;
            }
            key_node = over->key_nodes[k];
            item = over->items[k];
            if (item->type == HN_NODE_MAPPING && base->items[i]->type == HN_NODE_MAPPING) {
                item = merge_view(o, base->items[i], over->items[k]);
                if (item == NULL) {
                    return NULL;
                }
            }
        }
        v->keys[v->n] = base->keys[i];
        v->key_nodes[v->n] = key_node;
        v->items[v->n++] = item;
    }
    for (size_t k = 0; k < over->n; k++) {
        if (hn_config_get(base, over->keys[k]) == NULL) {
            v->keys[v->n] = over->keys[k];
            v->key_nodes[v->n] = over->key_nodes[k];
            v->items[v->n++] = over->items[k];
        }
    }
    return v;
}

static void override_free(const struct hn_study *s, struct hn_stage_override *o)
{
    hn_instance_destroy(s->sources[o->source].plugin, s->sources[o->source].name, o->ctx);
    for (size_t i = 0; i < o->n_owned; i++) {
        free(o->owned[i]->path);
        free(o->owned[i]->items);
        free(o->owned[i]->keys);
        free(o->owned[i]->key_nodes);
        free(o->owned[i]);
    }
    free(o->owned);
}

/*
 * `evaluators: {NAME: {option: value, ...}}` and `oracles: {...}` of a stage: each NAME a
 * declared source of that kind (not a fitted oracle, whose model belongs to its fit stage),
 * each value a mapping of the plugin's options without `plugin`; the merged options are
 * validated as the source's own and an instance is created now, so that `validate` refuses
 * what the stage could not run.
 */
static int load_overrides(struct hn_study *s, struct hn_stage *st, const struct hn_config_node *map,
                          enum hn_kind kind, struct hn_error *err)
{
    char buf[512];
    const char *section = kind == HN_KIND_ORACLE ? "oracles" : "evaluators";
    if (map == NULL) {
        return 0;
    }
    if (hn_config_expect(map, HN_NODE_MAPPING, err) != 0) {
        return -1;
    }
    if (st->type == HN_STAGE_FIT && map->n > 0) {
        return hn_error_config(err, where(map, buf, sizeof(buf)),
                               "%s: a fit stage runs no trials; remove '%s'", map->path, section);
    }
    struct hn_stage_override *grown = realloc(st->over, (st->n_over + map->n + 1) * sizeof(*grown));
    if (grown == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    st->over = grown;
    for (size_t i = 0; i < map->n; i++) {
        const struct hn_config_node *key = map->key_nodes[i], *opts = map->items[i];
        long k = source_index(s, map->keys[i]);
        if (k < 0 || s->sources[k].plugin->kind != kind) {
            char all[1024] = "";
            const char *cands[128];
            size_t n = 0;
            for (size_t j = 0; j < s->n_sources && n < 127; j++) {
                if (s->sources[j].plugin->kind == kind) {
                    size_t off = strlen(all);
                    snprintf(all + off, sizeof(all) - off, "%s%s", n ? ", " : "",
                             s->sources[j].name);
                    cands[n++] = s->sources[j].name;
                }
            }
            cands[n] = NULL;
            const char *near = hn_suggest(map->keys[i], cands);
            char hint[256] = "";
            if (near != NULL) {
                snprintf(hint, sizeof(hint), "did you mean '%s'? ", near);
            }
            return hn_error_config(err, where(key, buf, sizeof(buf)),
                                   "%s: no %s named '%s' (%sdeclared: %s)", map->path,
                                   kind == HN_KIND_ORACLE ? "oracle" : "evaluator", map->keys[i],
                                   hint, n ? all : "none");
        }
        struct hn_source *src = &s->sources[k];
        if (hn_config_expect(opts, HN_NODE_MAPPING, err) != 0) {
            return -1;
        }
        const struct hn_config_node *pn = hn_config_get(opts, "plugin");
        if (pn != NULL) {
            return hn_error_config(err, where(pn, buf, sizeof(buf)),
                                   "%s: a stage overrides options of '%s' but not its plugin "
                                   "(declare another %s instead)",
                                   pn->path, src->name,
                                   kind == HN_KIND_ORACLE ? "oracle" : "evaluator");
        }
        if (kind == HN_KIND_ORACLE && src->plugin->oracle->fit != NULL) {
            return hn_error_config(err, where(key, buf, sizeof(buf)),
                                   "%s.%s: '%s' (plugin %s) is fitted by a fit stage; its options "
                                   "are the study's, not a stage's",
                                   map->path, map->keys[i], src->name, src->plugin->name);
        }
        for (size_t j = 0; j < st->n_over; j++) {
            if (st->over[j].source == (size_t)k) {
                return hn_error_config(err, where(key, buf, sizeof(buf)),
                                       "%s.%s: '%s' is overridden twice in this stage", map->path,
                                       map->keys[i], src->name);
            }
        }
        struct hn_stage_override *o = &st->over[st->n_over++];
        memset(o, 0, sizeof(*o));
        o->source = (size_t)k;
        o->node = opts;
        o->view = merge_view(o, src->node, opts);
        if (o->view == NULL) {
            return hn_error_set(err, NULL, "out of memory");
        }
        if (hn_instance_check_options(src->plugin, o->view, src->name, opts->path, err) != 0) {
            return -1;
        }
        struct hn_plugin_args a;
        o->ctx = hn_study_create_plugin(s, src->plugin, o->view, src->name, st->name, &a, err);
        if (o->ctx == NULL) {
            hn_error_prefix(err, "stage '%s'", st->name);
            return -1;
        }
    }
    return 0;
}

void *hn_study_source_ctx(const struct hn_study *s, const char *stage, size_t source, int worker)
{
    const struct hn_source *src = &s->sources[source];
    size_t w = worker < 0 ? 0 : (size_t)worker;
    for (size_t i = 0; stage != NULL && i < s->n_stages; i++) {
        const struct hn_stage *st = &s->stages[i];
        if (strcmp(st->name, stage) != 0) {
            continue;
        }
        for (size_t j = 0; j < st->n_over; j++) {
            const struct hn_stage_override *o = &st->over[j];
            if (o->source != source) {
                continue;
            }
            /* without per-worker instances (one worker, or a process of its own per worker)
             * every worker uses the one instance */
            if (o->worker_ctx == NULL) {
                return o->ctx;
            }
            return w < o->n_workers ? o->worker_ctx[w] : NULL;
        }
    }
    if (src->worker_ctx == NULL) {
        return src->ctx;
    }
    return w < src->n_workers ? src->worker_ctx[w] : NULL;
}

/*
 * `sampler: active`: the options of the oracle that the first later fit stage fits (the model
 * whose uncertainty the sampler reduces). NULL with err when there is none.
 */
static const struct hn_config_node *active_model(const struct hn_study *s,
                                                 const struct hn_config_node *node,
                                                 const struct hn_config_node *sampler,
                                                 struct hn_error *err)
{
    const struct hn_config_node *stages = hn_config_get(s->root, "stages");
    char buf[512];
    int after = 0;
    for (size_t i = 0; stages != NULL && stages->type == HN_NODE_SEQUENCE && i < stages->n; i++) {
        const struct hn_config_node *o = hn_config_get(stages->items[i], "oracle");
        if (stages->items[i] == node) {
            after = 1;
        } else if (after && o != NULL && o->type == HN_NODE_SCALAR) {
            long idx = source_index(s, o->value);
            if (idx >= 0) {
                return s->sources[idx].node;
            }
        }
    }
    hn_error_config(err, where(sampler, buf, sizeof(buf)),
                    "%s: 'active' measures where a latency model is least sure, but no later "
                    "stage fits one; add {name: fit, oracle: latency} after this stage (latency: "
                    "a learned oracle), or write optimizer: {plugin: active, from: host, "
                    "metrics: [prefill_ms, decode_ms]}",
                    sampler->path);
    return NULL;
}

static int load_stage(struct hn_study *s, struct hn_stage *st, const struct hn_config_node *node,
                      struct hn_error *err)
{
    char buf[512];
    if (hn_config_expect(node, HN_NODE_MAPPING, err) != 0 ||
        hn_config_check_keys(node, stage_keys, "stage", err) != 0 ||
        hn_config_req_string(node, "name", &st->name, err) != 0) {
        return -1;
    }
    st->node = node;
    st->fit = -1;
    const struct hn_config_node *opt = hn_config_get(node, "optimizer");
    const struct hn_config_node *sampler = hn_config_get(node, "sampler");
    const struct hn_config_node *oracle = hn_config_get(node, "oracle");
    const struct hn_config_node *select = hn_config_get(node, "select");
    int kinds = (opt != NULL) + (sampler != NULL) + (oracle != NULL) + (select != NULL);
    if (kinds != 1) {
        return hn_error_config(err, where(node, buf, sizeof(buf)),
                               "%s: stage '%s' needs exactly one of 'optimizer' or 'sampler' "
                               "(a search), 'oracle' (fit a learned oracle) or 'select' "
                               "(re-measure a set of trials)",
                               node->path, st->name);
    }
    if (opt != NULL || sampler != NULL) {
        st->type = HN_STAGE_SEARCH;
        if (hn_config_req_int(node, "trials", &st->trials, err) != 0) {
            return -1;
        }
        if (st->trials < 1) {
            const struct hn_config_node *tn = hn_config_get(node, "trials");
            return hn_error_config(err, where(tn, buf, sizeof(buf)), "%s: must be >= 1, found %lld",
                                   tn->path, (long long)st->trials);
        }
        if (sampler != NULL) {
            const char *mode;
            if (hn_config_to_string(sampler, &mode, err) != 0) {
                return -1;
            }
            if (strcmp(mode, "active") == 0) {
                /* the model of the first later fit stage, with that oracle's options */
                st->optimizer_node = active_model(s, node, sampler, err);
                if (st->optimizer_node == NULL) {
                    return -1;
                }
                st->optimizer = find_plugin(HN_KIND_OPTIMIZER, sampler, "active", err);
            } else {
                if (strcmp(mode, "sobol") != 0 && strcmp(mode, "uniform") != 0) {
                    return hn_error_config(err, where(sampler, buf, sizeof(buf)),
                                           "%s: must be 'sobol', 'uniform' or 'active', found '%s'",
                                           sampler->path, mode);
                }
                char text[64];
                snprintf(text, sizeof(text), "mode: %s\n", mode);
                st->owned_node = hn_config_load_string(text, sampler->file, err);
                if (st->owned_node == NULL) {
                    return -1;
                }
                st->optimizer_node = st->owned_node;
                st->optimizer = find_plugin(HN_KIND_OPTIMIZER, sampler, "random", err);
            }
        } else if (opt->type == HN_NODE_SCALAR) {
            st->optimizer = find_plugin(HN_KIND_OPTIMIZER, opt, opt->value, err);
            st->optimizer_node = NULL;
        } else {
            const char *pname = plugin_name_of(opt, opt->path, err);
            if (pname == NULL) {
                return -1;
            }
            st->optimizer = find_plugin(HN_KIND_OPTIMIZER, opt, pname, err);
            st->optimizer_node = opt;
        }
        if (st->optimizer == NULL ||
            hn_instance_check_options(st->optimizer, st->optimizer_node, NULL, NULL, err) != 0) {
            return -1;
        }
        if (load_points(s, st, hn_config_get(node, "points"), err) != 0) {
            return -1;
        }
    } else if (oracle != NULL) {
        st->type = HN_STAGE_FIT;
        if (hn_config_expect(oracle, HN_NODE_SCALAR, err) != 0) {
            return -1;
        }
        st->fit = source_index(s, oracle->value);
        if (st->fit < 0) {
            return unknown_source(s, oracle, err);
        }
        const struct hn_source *src = &s->sources[st->fit];
        if (src->plugin->kind != HN_KIND_ORACLE || src->plugin->oracle->fit == NULL) {
            return hn_error_config(err, where(oracle, buf, sizeof(buf)),
                                   "%s: '%s' (plugin %s) is not a learned oracle; a fit stage "
                                   "needs an oracle that can be fitted (e.g. plugin 'learned')",
                                   oracle->path, src->name, src->plugin->name);
        }
        if (hn_config_get(node, "trials") != NULL) {
            const struct hn_config_node *tn = hn_config_get(node, "trials");
            return hn_error_config(err, where(tn, buf, sizeof(buf)),
                                   "%s: a fit stage runs no trials; remove 'trials'", tn->path);
        }
    } else {
        st->type = HN_STAGE_VERIFY;
        const char *what;
        if (hn_config_to_string(select, &what, err) != 0) {
            return -1;
        }
        if (strcmp(what, "pareto") != 0) {
            return hn_error_config(err, where(select, buf, sizeof(buf)),
                                   "%s: must be 'pareto', found '%s'", select->path, what);
        }
    }
    /* evaluators keep what they trained (evaluator.h): always for verify stages */
    if (hn_config_get_bool(node, "keep_model", st->type == HN_STAGE_VERIFY, &st->keep_model, err) !=
        0) {
        return -1;
    }
    const struct hn_config_node *run = hn_config_get(node, "run");
    if (run != NULL && st->type == HN_STAGE_FIT) {
        return hn_error_config(err, where(run, buf, sizeof(buf)),
                               "%s: a fit stage runs nothing; remove 'run'", run->path);
    }
    if (run != NULL) {
        size_t n = run->type == HN_NODE_SEQUENCE ? run->n : 1;
        st->run = calloc(n ? n : 1, sizeof(size_t));
        if (st->run == NULL) {
            return hn_error_set(err, NULL, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
            const struct hn_config_node *r = run->type == HN_NODE_SEQUENCE ? run->items[i] : run;
            if (hn_config_expect(r, HN_NODE_SCALAR, err) != 0) {
                return -1;
            }
            long idx = source_index(s, r->value);
            if (idx < 0) {
                return unknown_source(s, r, err);
            }
            st->run[st->n_run++] = (size_t)idx;
        }
    } else if (st->type != HN_STAGE_FIT && default_run(s, st, err) != 0) {
        return -1;
    }
    return load_overrides(s, st, hn_config_get(node, "evaluators"), HN_KIND_EVALUATOR, err) != 0 ||
                   load_overrides(s, st, hn_config_get(node, "oracles"), HN_KIND_ORACLE, err) != 0
               ? -1
               : 0;
}

static int check_stage_names(const struct hn_study *s, const struct hn_config_node *stages,
                             struct hn_error *err)
{
    const char **names = calloc(s->n_stages + 1, sizeof(char *));
    if (names == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < s->n_stages; i++) {
        names[i] = s->stages[i].name;
    }
    long first = -1, second = hn_find_duplicate(names, s->n_stages, &first);
    free(names);
    if (second >= 0) {
        char buf[512];
        const struct hn_config_node *nn = hn_config_get(stages->items[second], "name");
        return hn_error_config(err, where(nn, buf, sizeof(buf)),
                               "%s: stage name '%s' is used twice (also stages[%ld])", nn->path,
                               s->stages[second].name, first);
    }
    return 0;
}

static int load_stages(struct hn_study *s, struct hn_error *err)
{
    const struct hn_config_node *stages = hn_config_get(s->root, "stages");
    char buf[512];
    if (stages == NULL) {
        return hn_error_config(err, where(s->root, buf, sizeof(buf)),
                               "missing required key 'stages' (a list like [{name: search, "
                               "optimizer: gpbo, trials: 40}])");
    }
    if (hn_config_expect(stages, HN_NODE_SEQUENCE, err) != 0) {
        return -1;
    }
    if (stages->n == 0) {
        return hn_error_config(err, where(stages, buf, sizeof(buf)),
                               "stages: needs at least one stage");
    }
    s->stages = calloc(stages->n, sizeof(*s->stages));
    if (s->stages == NULL) {
        return hn_error_set(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < stages->n; i++) {
        s->n_stages = i + 1;
        if (load_stage(s, &s->stages[i], stages->items[i], err) != 0) {
            return -1;
        }
        /* a learned oracle predicts only after a fit stage has fitted it */
        const struct hn_stage *st = &s->stages[i];
        for (size_t r = 0; r < st->n_run; r++) {
            const struct hn_source *src = &s->sources[st->run[r]];
            if (src->plugin->kind != HN_KIND_ORACLE || src->plugin->oracle->fit == NULL) {
                continue;
            }
            int fitted = 0;
            for (size_t k = 0; k < i; k++) {
                fitted |= s->stages[k].type == HN_STAGE_FIT && s->stages[k].fit == (long)st->run[r];
            }
            if (!fitted) {
                return hn_error_config(err, where(stages->items[i], buf, sizeof(buf)),
                                       "%s: stage '%s' runs the learned oracle '%s', which no "
                                       "earlier stage fits; add {name: fit, oracle: %s} after "
                                       "the stage that measures what it learns",
                                       stages->items[i]->path, st->name, src->name, src->name);
            }
        }
    }
    return check_stage_names(s, stages, err);
}

/*
 * Create (and drop) each search stage's optimizer now, so that what it cannot handle (too many
 * objectives or dimensions, a bad option combination) is refused by `validate` and before the
 * first trial of a run, not when a later stage starts.
 */
static int check_optimizers(struct hn_study *s, struct hn_error *err)
{
    for (size_t i = 0; i < s->n_stages; i++) {
        const struct hn_stage *st = &s->stages[i];
        if (st->type != HN_STAGE_SEARCH) {
            continue;
        }
        struct hn_plugin_args a;
        void *ctx =
            hn_study_create_plugin(s, st->optimizer, st->optimizer_node, NULL, st->name, &a, err);
        if (ctx == NULL) {
            hn_error_prefix(err, "stage '%s'", st->name);
            if (err != NULL && err->kind == HN_ERR_RUNTIME) {
                err->kind = HN_ERR_CONFIG; /* nothing ran: the study file asks the impossible */
            }
            return -1;
        }
        hn_instance_destroy(st->optimizer, NULL, ctx);
    }
    return 0;
}

static int load_space(struct hn_study *s, struct hn_error *err)
{
    const struct hn_config_node *node = hn_config_get(s->root, "space");
    char buf[512];
    if (node == NULL) {
        return hn_error_config(err, where(s->root, buf, sizeof(buf)),
                               "missing required key 'space' (e.g. {plugin: box, params: ...})");
    }
    const char *pname = plugin_name_of(node, "space", err);
    if (pname == NULL) {
        return -1;
    }
    const struct hn_plugin *p = find_plugin(HN_KIND_SPACE, node, pname, err);
    if (p == NULL || hn_instance_check_options(p, node, NULL, NULL, err) != 0) {
        return -1;
    }
    s->space.plugin = p;
    struct hn_plugin_args a;
    s->space.ctx = hn_study_create_plugin(s, p, node, NULL, NULL, &a, err);
    if (s->space.ctx == NULL) {
        return -1;
    }
    struct hn_instance_call c;
    hn_instance_enter(&c, p, NULL);
    s->space.params = p->space->params(s->space.ctx);
    hn_instance_leave(&c);
    if (s->space.params == NULL || s->space.params->n == 0) {
        hn_error_config(err, NULL, "declares no parameters");
        hn_instance_error(&c, node, err);
        return -1;
    }
    return 0;
}

struct hn_study *hn_study_load(const char *path, const struct hn_study_options *opt,
                               struct hn_error *err)
{
    struct hn_study *s = calloc(1, sizeof(*s));
    char buf[512];
    if (s == NULL) {
        hn_error_set(err, path, "out of memory");
        return NULL;
    }
    hn_status_init(&s->status);
    s->file = strdup(path);
    s->quiet = opt ? opt->quiet : 0;
    s->repair_journal = opt ? opt->repair_journal : 0;
    s->root = hn_config_load(path, err);
    if (s->root == NULL) {
        goto fail;
    }
    for (size_t i = 0; opt != NULL && i < opt->n_overrides; i++) {
        if (hn_config_set(s->root, opt->overrides[i], err) != 0) {
            goto fail;
        }
    }
    if (opt != NULL && opt->n_vars > 0 && substitute(s->root, opt->vars, opt->n_vars, err) != 0) {
        goto fail;
    }
    if (hn_config_expect(s->root, HN_NODE_MAPPING, err) != 0 ||
        hn_config_check_keys(s->root, top_keys, "study file", err) != 0) {
        goto fail;
    }
    const struct hn_config_node *study = hn_config_get(s->root, "study");
    if (study == NULL) {
        hn_error_config(err, where(s->root, buf, sizeof(buf)),
                        "missing required key 'study' (e.g. study: {name: demo, seed: 1})");
        goto fail;
    }
    int64_t seed;
    const char *output;
    if (hn_config_expect(study, HN_NODE_MAPPING, err) != 0 ||
        hn_config_check_keys(study, study_keys, "study", err) != 0 ||
        hn_config_req_string(study, "name", &s->name, err) != 0 ||
        hn_config_get_int(study, "seed", 0, &seed, err) != 0 ||
        hn_config_get_string(study, "output", NULL, &output, err) != 0) {
        goto fail;
    }
    /* the name is a directory under runs/ (the default output): one path component */
    size_t nlen = strlen(s->name), bad = strcspn(s->name, "/\\");
    for (size_t i = 0; i < nlen && bad == nlen; i++) {
        bad = (unsigned char)s->name[i] < 0x20 || s->name[i] == 0x7f ? i : bad;
    }
    if (nlen == 0 || nlen > 200 || bad < nlen || strcmp(s->name, ".") == 0 ||
        strcmp(s->name, "..") == 0) {
        const struct hn_config_node *nn = hn_config_get(study, "name");
        hn_error_config(err, where(nn, buf, sizeof(buf)),
                        "%s: a study name is one directory name under runs/: 1 to 200 bytes, "
                        "not '.' or '..', without '/', '\\' or control characters",
                        nn->path);
        goto fail;
    }
    if (seed < 0) {
        const struct hn_config_node *sn = hn_config_get(study, "seed");
        hn_error_config(err, where(sn, buf, sizeof(buf)), "%s: must be >= 0, found %lld", sn->path,
                        (long long)seed);
        goto fail;
    }
    s->seed = (uint64_t)seed;
    if (opt != NULL && opt->output != NULL) {
        s->output = strdup(opt->output);
    } else if (output != NULL) {
        s->output = strdup(output);
    } else {
        s->output = hn_path_join("runs", s->name);
    }
    if (load_space(s, err) != 0 ||
        load_sources(s, hn_config_get(s->root, "oracles"), HN_KIND_ORACLE, err) != 0 ||
        load_sources(s, hn_config_get(s->root, "evaluators"), HN_KIND_EVALUATOR, err) != 0) {
        goto fail;
    }
    if (check_source_names(s, err) != 0) {
        goto fail;
    }
    if (s->n_sources == 0) {
        hn_error_config(err, where(s->root, buf, sizeof(buf)),
                        "the study declares no 'evaluators' and no 'oracles': nothing would "
                        "measure the trials");
        goto fail;
    }
    if (load_problem(s, err) != 0 || load_stages(s, err) != 0 || check_optimizers(s, err) != 0) {
        goto fail;
    }
    const struct hn_config_node *ex = hn_config_get(s->root, "executor");
    if (ex != NULL) {
        const char *pname =
            ex->type == HN_NODE_SCALAR ? ex->value : plugin_name_of(ex, "executor", err);
        if (pname == NULL) {
            goto fail;
        }
        s->executor = find_plugin(HN_KIND_EXECUTOR, ex, pname, err);
        s->executor_node = ex->type == HN_NODE_SCALAR ? NULL : ex;
        if (s->executor == NULL ||
            hn_instance_check_options(s->executor, s->executor_node, NULL, NULL, err) != 0) {
            goto fail;
        }
    } else {
        int size = 0;
        s->executor = hn_registry_launched_executor(&size);
        if (s->executor != NULL) {
            hn_log(HN_LOG_INFO,
                   "executor: %s (this process was started by its launcher in a job of %d; "
                   "set 'executor: serial' to run without it)",
                   s->executor->name, size);
        } else {
            s->executor = &hn_builtin_executor_serial;
        }
    }
    return s;
fail:
    if (err != NULL && err->kind == HN_ERR_NONE) {
        err->kind = HN_ERR_RUNTIME;
    }
    hn_study_free(s);
    return NULL;
}

void hn_study_free(struct hn_study *s)
{
    if (s == NULL) {
        return;
    }
    hn_replay_free(&s->r);
    hn_status_destroy(&s->status);
    for (size_t i = 0; i < s->n_stages; i++) {
        free(s->stages[i].run);
        hn_config_free(s->stages[i].owned_node);
        free(s->stages[i].points);
        for (size_t j = 0; j < s->stages[i].n_over; j++) {
            override_free(s, &s->stages[i].over[j]);
        }
        free(s->stages[i].over);
    }
    free(s->stages);
    for (size_t i = 0; i < s->n_sources; i++) {
        struct hn_source *src = &s->sources[i];
        hn_instance_destroy(src->plugin, src->name, src->ctx);
        free(src->name);
    }
    free(s->sources);
    if (s->space.ctx != NULL) {
        hn_instance_destroy(s->space.plugin, NULL, s->space.ctx);
    }
    for (size_t i = 0; i < s->problem.n_objectives; i++) {
        free((char *)s->objectives[i].metric);
    }
    for (size_t i = 0; i < s->problem.n_constraints; i++) {
        free((char *)s->constraints[i].metric);
    }
    free(s->objectives);
    free(s->constraints);
    hn_config_free(s->root);
    free(s->output);
    free(s->file);
    free(s);
}
