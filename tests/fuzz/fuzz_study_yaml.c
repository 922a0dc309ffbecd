/* Fuzz harness: the YAML study loader (core/config.c) on any bytes. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    struct hn_error err;
    struct hn_config_node *root = hn_config_load_string(text, "fuzz.yaml", &err);
    if (root != NULL) {
        /* walk what a study reads: keys, scalars as numbers and strings */
        const struct hn_config_node *study = hn_config_get(root, "study");
        int64_t seed;
        const char *name;
        if (study != NULL) {
            hn_config_get_int(study, "seed", 0, &seed, &err);
            hn_config_get_string(study, "name", "x", &name, &err);
        }
        char where[256];
        hn_config_where(root, where, sizeof(where));
    }
    hn_config_free(root);
    free(text);
    return 0;
}
