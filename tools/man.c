/*
 * hilnas plugins --man: the plugins' option tables as man(7) text, the "PLUGINS" part of
 * hilnas(1). The build runs it on the plugins it just built (docs/local.mk), so the manual's
 * option lists are the plugins' own tables and cannot drift from them.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "core/registry.h"
#include "core/util.h"
#include "hilnas/plugin.h"
#include "tools/cli.h"

struct man_state {
    FILE *out;
    int broken; /* modules that did not load: the page would miss them */
};

static void man_one(const struct hn_plugin *p, const char *module, const struct hn_error *e,
                    void *data)
{
    struct man_state *ms = data;
    if (p == NULL) {
        fprintf(stderr, "hilnas: plugins: %s cannot be loaded: %s\n", module,
                e != NULL ? e->msg : "?");
        ms->broken++;
        return;
    }
    fprintf(ms->out, ".SS \"%s %s\"\n", hn_kind_name(p->kind), p->name);
    hn_roff_text(p->summary != NULL && p->summary[0] != '\0' ? p->summary : "(no summary)",
                 ms->out);
    fputc('\n', ms->out);
    if (hn_options_describe_man(p->options, ms->out) != 0) {
        ms->broken++;
    }
}

int hn_cli_plugins_man(FILE *out)
{
    struct man_state ms = {.out = out};
    struct hn_error err;
    hn_error_clear(&err);
    if (hn_registry_foreach(man_one, &ms, &err) != 0) {
        fprintf(stderr, "hilnas: error: %s\n", err.msg);
        return 1;
    }
    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "hilnas: plugins: cannot write the manual text\n");
        return 1;
    }
    return ms.broken > 0 ? 1 : 0;
}
