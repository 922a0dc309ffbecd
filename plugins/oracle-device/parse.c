/* hilnas oracle "device": the parser of a command's output (see parse.h). */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "plugins/oracle-device/parse.h"

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* At most 200 bytes of line for a message, control characters as '?' (NUL-terminated). */
static const char *quote(const char *line, size_t len, char buf[204])
{
    size_t n = len < 200 ? len : 200;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)line[i];
        buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (len > 200) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

int hn_device_parse_output(const char *output, size_t len, const char *const *metrics,
                           struct hn_metrics *out, struct hn_error *err)
{
    /* the last line that is not blank: [start, end) */
    size_t end = len;
    while (end > 0 && blank(output[end - 1])) {
        end--;
    }
    size_t start = end;
    while (start > 0 && output[start - 1] != '\n') {
        start--;
    }
    const char *line = output + start;
    size_t n = end - start;
    char shown[204];
    json_error_t je;
    json_t *obj = n > 0 ? json_loadb(line, n, 0, &je) : NULL;
    int rc = -1;
    if (!json_is_object(obj)) {
        hn_error_set(err, NULL,
                     "the command printed no JSON object on its last line (got '%s'); print "
                     "e.g. {\"prefill_ms\": 12.5}",
                     quote(line, n, shown));
        goto done;
    }
    for (size_t i = 0; metrics[i] != NULL; i++) {
        json_t *v = json_object_get(obj, metrics[i]);
        double value = NAN, sem = NAN;
        if (json_is_number(v)) {
            value = json_number_value(v);
        } else if (json_is_object(v) && json_is_number(json_object_get(v, "value"))) {
            value = json_number_value(json_object_get(v, "value"));
            json_t *s = json_object_get(v, "sem");
            if (json_is_number(s)) {
                sem = json_number_value(s);
            } else if (s != NULL && !json_is_null(s)) {
                sem = -1;
            }
            if (!(sem >= 0 && isfinite(sem)) && !(s == NULL || json_is_null(s))) {
                hn_error_set(err, NULL,
                             "the command's standard error of metric '%s' is not a finite "
                             "number >= 0: %s",
                             metrics[i], quote(line, n, shown));
                goto done;
            }
        }
        if (!isfinite(value)) {
            hn_error_set(err, NULL, "the command's output has no number for metric '%s': %s",
                         metrics[i], quote(line, n, shown));
            goto done;
        }
        if (hn_metrics_put(out, metrics[i], value, sem, err) != 0) {
            goto done;
        }
    }
    rc = 0;
done:
    json_decref(obj);
    return rc;
}
