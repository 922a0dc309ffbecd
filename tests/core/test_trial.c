/* Tests of core/trial.c: the metrics list and its name index, against a brute-force scan. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/trial.h"

/* The reference: the last value put under each name, found by scanning every put in order. */
struct put {
    char name[24];
    double value;
};

static const struct put *brute_last(const struct put *puts, size_t n, const char *name)
{
    const struct put *last = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(puts[i].name, name) == 0) {
            last = &puts[i];
        }
    }
    return last;
}

Test(trial, metrics_index_agrees_with_a_scan)
{
    /* names that collide often (short, similar) and overwrites spread over every growth step */
    const size_t n_puts = 6000;
    struct put *puts = calloc(n_puts, sizeof(*puts));
    struct hn_metrics m = {0};
    struct hn_error err = {0};
    unsigned state = 12345;
    for (size_t i = 0; i < n_puts; i++) {
        state = state * 1103515245u + 12345u;
        unsigned k = (state >> 8) % 2500;
        snprintf(puts[i].name, sizeof(puts[i].name), "%s.m%u", k % 3 ? "host" : "q", k);
        puts[i].value = (double)i;
        cr_assert_eq(hn_metrics_put(&m, puts[i].name, puts[i].value, NAN, &err), 0, "%s", err.msg);
        if (i % 97 == 0 || i == n_puts - 1) {
            /* every name seen so far, plus names never put */
            for (size_t j = 0; j <= i; j += 1 + j % 7) {
                const struct put *want = brute_last(puts, i + 1, puts[j].name);
                const struct hn_metric *got = hn_metrics_get(&m, puts[j].name);
                cr_assert_not_null(got, "metric %s lost after %zu puts", puts[j].name, i + 1);
                cr_assert_eq(got->value, want->value, "%s: %g, want %g", puts[j].name, got->value,
                             want->value);
            }
            cr_assert_null(hn_metrics_get(&m, "host.m99999"));
            cr_assert_null(hn_metrics_get(&m, "host"));
        }
    }
    /* m[0..n) holds each distinct name once, in first-put order */
    size_t distinct = 0;
    for (size_t i = 0; i < n_puts; i++) {
        int first = 1;
        for (size_t j = 0; j < i && first; j++) {
            first = strcmp(puts[j].name, puts[i].name) != 0;
        }
        if (first) {
            cr_assert_lt(distinct, m.n);
            cr_assert_str_eq(m.m[distinct].name, puts[i].name);
            distinct++;
        }
    }
    cr_assert_eq(m.n, distinct);
    hn_metrics_clear(&m);
    cr_assert_eq(m.n, 0);
    cr_assert_null(hn_metrics_get(&m, "q.m1"));
    free(puts);
}

Test(trial, empty_metrics_and_bad_names)
{
    struct hn_metrics m = {0};
    struct hn_error err = {0};
    cr_assert_null(hn_metrics_get(&m, "a.b"));
    cr_assert_neq(hn_metrics_put(&m, "", 1.0, NAN, &err), 0);
    cr_assert_neq(hn_metrics_put(&m, NULL, 1.0, NAN, &err), 0);
    cr_assert_eq(hn_metrics_put(&m, "a.b", 1.0, 0.5, &err), 0);
    cr_assert_eq(hn_metrics_put(&m, "a.b", 2.0, 0.25, &err), 0);
    cr_assert_eq(m.n, 1);
    cr_assert_eq(hn_metrics_get(&m, "a.b")->value, 2.0);
    cr_assert_eq(hn_metrics_get(&m, "a.b")->sem, 0.25);
    hn_metrics_clear(&m);
}
