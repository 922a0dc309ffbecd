/*
 * llm/gguf.c's storage conversions, checked by brute force against the exact decoders of
 * llm/safetensors.c: every finite F16 and BF16 value converts back to itself; every value
 * between two neighbours rounds to the nearer one and ties to the even one; overflow goes to
 * infinity; NaN stays NaN with its sign. The file format itself is checked by
 * tests/llm/gguf_reader.py through tests/tools/test_export.c.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "hilnas/llm/gguf.h"
#include "hilnas/llm/safetensors.h"

static float next_up(float f)
{
    return nextafterf(f, INFINITY);
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        if (bad++ < 5) {                                                                           \
            cr_expect(0, __VA_ARGS__);                                                             \
        }                                                                                          \
    } while (0)

static void check_all(uint16_t (*enc)(float), float (*dec)(uint16_t), const char *what,
                      uint16_t inf)
{
    long bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = dec((uint16_t)h);
        if (isnan(f)) {
            uint16_t e = enc(f);
            cr_expect(isnan(dec(e)) && (e & 0x8000u) == (h & 0x8000u), "%s: NaN %04x -> %04x", what,
                      h, e);
            continue;
        }
        if (enc(f) != (uint16_t)h) {
            BAD("%s: %04x (%g) -> %04x", what, h, f, enc(f));
        }
        /* between h and the next larger magnitude: the midpoint ties to even, points just
         * around it go to the nearer neighbour */
        uint16_t n = (uint16_t)(h + 1);
        if ((h & 0x7fffu) >= inf || (n & 0x7fffu) > inf) {
            continue;
        }
        float g = dec(n);
        if (isnan(g) || isinf(g)) { /* max finite -> inf: the overflow checks below */
            continue;
        }
        double mid = ((double)f + (double)g) / 2;
        float m = (float)mid;
        if ((double)m == mid) {
            uint16_t even = (h & 1u) ? n : (uint16_t)h;
            if (enc(m) != even) {
                BAD("%s: tie %g between %04x and %04x -> %04x", what, m, h, n, enc(m));
            }
            float below = fabsf(f) < fabsf(g) ? nextafterf(m, f) : nextafterf(m, g);
            float above = fabsf(f) < fabsf(g) ? nextafterf(m, g) : nextafterf(m, f);
            uint16_t lo = fabsf(f) < fabsf(g) ? (uint16_t)h : n, hi = lo == h ? n : (uint16_t)h;
            if (enc(below) != lo || enc(above) != hi) {
                BAD("%s: around %g: %04x %04x, want %04x %04x", what, m, enc(below), enc(above), lo,
                    hi);
            }
        }
    }
    cr_expect_eq(bad, 0, "%s: %ld wrong conversions", what, bad);
}

Test(gguf, f16_and_bf16_round_to_nearest_even_exhaustively)
{
    check_all(hn_f32_to_f16, hn_f16_to_f32, "F16", 0x7c00u);
    check_all(hn_f32_to_bf16, hn_bf16_to_f32, "BF16", 0x7f80u);
    /* overflow: 65520 is the first value that rounds to infinity in F16 */
    cr_expect_eq(hn_f32_to_f16(65504.0f), 0x7bffu);
    cr_expect_eq(hn_f32_to_f16(nextafterf(65520.0f, 0)), 0x7bffu);
    cr_expect_eq(hn_f32_to_f16(65520.0f), 0x7c00u);
    cr_expect_eq(hn_f32_to_f16(-1e30f), 0xfc00u);
    cr_expect_eq(hn_f32_to_bf16(3.4e38f), 0x7f80u, "rounds past the largest BF16");
    /* below half the smallest F16 subnormal (2^-25): zero, with its sign */
    cr_expect_eq(hn_f32_to_f16(ldexpf(1.0f, -26)), 0x0000u);
    cr_expect_eq(hn_f32_to_f16(-ldexpf(1.0f, -26)), 0x8000u);
    cr_expect_eq(hn_f32_to_f16(next_up(ldexpf(1.0f, -25))), 0x0001u);
}
