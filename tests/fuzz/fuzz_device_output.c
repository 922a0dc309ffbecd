/* Fuzz harness: the device oracle's output parser (plugins/oracle-device/parse.c). */
#include "config.h"

#include <stdint.h>

#include "plugins/oracle-device/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const metrics[] = {"prefill_ms", "decode_ms", NULL};
    struct hn_metrics m = {0};
    struct hn_error err;
    hn_device_parse_output((const char *)data, size, metrics, &m, &err);
    hn_metrics_clear(&m);
    return 0;
}
