/* hilnas core internals: the Joe-Kuo direction number table (core/sobol_directions.c). */
#ifndef HILNAS_CORE_SOBOL_DIRECTIONS_H
#define HILNAS_CORE_SOBOL_DIRECTIONS_H

#include <stdint.h>

#define HN_SOBOL_TABLE_DIM 1024 /* rows: dimension 1 (van der Corput) and Joe-Kuo 2..1024 */
#define HN_SOBOL_MAX_DEGREE 13  /* highest polynomial degree among those rows */

struct hn_sobol_direction {
    uint32_t poly;                   /* 2^s + 2a + 1; 1 for the first dimension */
    uint16_t m[HN_SOBOL_MAX_DEGREE]; /* m_1..m_s, then zeros */
};

extern const struct hn_sobol_direction hn_sobol_directions[HN_SOBOL_TABLE_DIM];

#endif
