/* Fuzz harness: `--set` assignments (hn_config_set), one per input line, on a small study. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *study =
    "study: {name: demo, seed: 7}\n"
    "space: {plugin: box, params: {x0: {type: float, min: 0, max: 1}}}\n"
    "evaluators: {f: {plugin: testfn, function: branin}}\n"
    "objectives: [{metric: branin, goal: minimize}]\n"
    "stages:\n  - {name: a, sampler: sobol, trials: 4}\n  - {name: b, trials: 8, optimizer: "
    "{plugin: gpbo, batch: 2}}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hn_error err;
    struct hn_config_node *root = hn_config_load_string(study, "study.yaml", &err);
    char *text = malloc(size + 1);
    if (root == NULL || text == NULL) {
        abort();
    }
    memcpy(text, data, size);
    text[size] = '\0';
    for (char *line = text; line != NULL;) {
        char *nl = strchr(line, '\n');
        if (nl != NULL) {
            *nl = '\0';
        }
        hn_config_set(root, line, &err);
        line = nl != NULL ? nl + 1 : NULL;
    }
    hn_config_free(root);
    free(text);
    return 0;
}
