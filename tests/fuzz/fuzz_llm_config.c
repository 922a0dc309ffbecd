/* Fuzz harness: config.json (llm/llm_config.c) on any bytes. */
#include "config.h"

#include <jansson.h>
#include <stdint.h>

#include "hilnas/llm/llm_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *o = json_loadb((const char *)data, size, 0, &je);
    if (o != NULL) {
        struct hn_llm_config c;
        struct hn_error err;
        if (hn_llm_config_from_json(o, "config.json", &c, &err) == 0) {
            hn_llm_config_validate(&c, &err);
        }
        json_decref(o);
    }
    return 0;
}
