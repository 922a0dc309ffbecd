/* Fuzz harness: the safetensors reader (llm/safetensors.c) on any bytes. */
#include "config.h"

#include <stdint.h>

#include "hilnas/llm/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hn_st_file f;
    struct hn_error err;
    if (hn_st_parse(data, size, "fuzz.safetensors", &f, &err) == 0) {
        hn_st_find(&f, "model.embed_tokens.weight");
        hn_st_free(&f);
    }
    return 0;
}
