/*
 * The engine's one setting, the kernels' thread count (hilnas/llm/ops.h), belongs to the calling
 * thread: setting it on one thread leaves every other thread's count alone, a new thread starts
 * at 1, and a kernel run with a count gives the same numbers on every thread. (That the CLI
 * and the plugins share one copy of the engine is tests/llm/test_libraries.sh.)
 */
#include "config.h"

#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/llm/model.h"
#include "hilnas/llm/ops.h"

struct probe {
    int set;           /* count this thread sets (0: none) */
    int before, after; /* hn_ops_threads() on entry and after setting */
    pthread_barrier_t *barrier;
    float *out; /* a matmul computed on this thread */
    const float *inp, *w;
};

#define N 64
#define C 96
#define OC 80

static void *probe_main(void *arg)
{
    struct probe *p = arg;
    p->before = hn_ops_threads();
    if (p->set > 0) {
        hn_llm_set_threads(p->set);
    }
    /* both threads have set their counts before either reads again */
    pthread_barrier_wait(p->barrier);
    p->after = hn_ops_threads();
    hn_matmul_forward(p->out, p->inp, p->w, N, C, OC);
    return NULL;
}

Test(threads, the_count_is_per_thread_and_results_do_not_depend_on_it)
{
    float *inp = malloc(sizeof(float) * N * C), *w = malloc(sizeof(float) * OC * C);
    float *ref = malloc(sizeof(float) * N * OC);
    cr_assert(inp && w && ref);
    for (size_t i = 0; i < (size_t)N * C; i++) {
        inp[i] = (float)sin(0.37 * (double)i);
    }
    for (size_t i = 0; i < (size_t)OC * C; i++) {
        w[i] = (float)cos(0.11 * (double)i);
    }
    hn_matmul_forward_naive(ref, inp, w, N, C, OC);

    hn_llm_set_threads(3);
    cr_assert_eq(hn_ops_threads(), 3, "the main thread's count is %d, not 3", hn_ops_threads());
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    struct probe a = {.set = 2, .barrier = &barrier, .inp = inp, .w = w};
    struct probe b = {.set = 0, .barrier = &barrier, .inp = inp, .w = w};
    a.out = malloc(sizeof(float) * N * OC);
    b.out = malloc(sizeof(float) * N * OC);
    pthread_t ta, tb;
    cr_assert_eq(pthread_create(&ta, NULL, probe_main, &a), 0);
    cr_assert_eq(pthread_create(&tb, NULL, probe_main, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&barrier);

    cr_expect_eq(a.before, 1, "a new thread starts with %d threads, not 1", a.before);
    cr_expect_eq(b.before, 1, "a new thread starts with %d threads, not 1", b.before);
    cr_expect_eq(a.after, 2, "thread a set 2 and reads %d", a.after);
    cr_expect_eq(b.after, 1, "thread b set nothing, yet reads %d (thread a's setting leaked)",
                 b.after);
    cr_expect_eq(hn_ops_threads(), 3, "the main thread's 3 became %d", hn_ops_threads());
    for (size_t i = 0; i < (size_t)N * OC; i++) {
        double tol = 1e-4 * (1 + fabs(ref[i]));
        cr_assert(fabs(a.out[i] - ref[i]) <= tol && fabs(b.out[i] - ref[i]) <= tol,
                  "out[%zu]: %g (2 threads), %g (1 thread), reference %g", i, a.out[i], b.out[i],
                  ref[i]);
    }
    free(a.out);
    free(b.out);
    free(inp);
    free(w);
    free(ref);
}

/* hn_llm_big_calloc: zeroed and writable at every size; aligned to a cache line below 64 KiB, to
 * a page from 64 KiB (a mapping of its own), to 2 MiB from 2 MiB (the huge-page path: a mapping
 * trimmed to its aligned part, so writing its last byte must not fault and freeing it must give
 * back exactly that); n * size overflow is NULL. */
Test(big_calloc, zeroed_aligned_writable_and_overflow_refused)
{
    const size_t two = (size_t)2 << 20;
    const size_t k64 = (size_t)64 << 10;
    const size_t sizes[] = {0, 1, 4095, k64 - 4, k64, k64 + 4, two - 4, two, two + 4, 5 * two + 12};
    for (int round = 0; round < 2; round++) { /* again: freed memory is reused cleanly */
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            size_t n = sizes[i] / sizeof(float);
            unsigned char *p = hn_llm_big_calloc(n, sizeof(float));
            cr_assert_not_null(p, "%zu bytes", sizes[i]);
            size_t bytes = n * sizeof(float);
            size_t align = bytes >= two ? two : bytes >= k64 ? 4096 : HN_LLM_ALIGN;
            cr_expect_eq((uintptr_t)p % align, 0, "%zu bytes at %p: not aligned to %zu", bytes,
                         (void *)p, align);
            size_t nonzero = 0;
            for (size_t k = 0; k < bytes; k++) {
                nonzero += p[k] != 0;
            }
            cr_expect_eq(nonzero, 0, "%zu of %zu bytes not zero", nonzero, bytes);
            if (bytes > 0) {
                memset(p, 0xA5, bytes);
                cr_expect_eq(p[bytes - 1], 0xA5);
            }
            hn_llm_big_free(p, n, sizeof(float));
        }
    }
    cr_expect_null(hn_llm_big_calloc(SIZE_MAX / 2, 4), "n * size overflows");
    cr_expect_null(hn_llm_big_calloc(SIZE_MAX / 8 + 1, 8), "n * size overflows");
    hn_llm_big_free(NULL, 10, 4); /* like free(NULL) */
}

/* The /proc/self/maps line of the mapping that holds [p, p + len), or "" (line: of cap). */
static void mapping_of(const void *p, size_t len, char *line, size_t cap)
{
    FILE *f = fopen("/proc/self/maps", "r");
    line[0] = '\0';
    cr_assert_not_null(f, "/proc/self/maps");
    char buf[4096];
    while (fgets(buf, sizeof(buf), f) != NULL) {
        unsigned long lo, hi;
        if (sscanf(buf, "%lx-%lx", &lo, &hi) == 2 && lo <= (uintptr_t)p &&
            (uintptr_t)p + len <= hi) {
            snprintf(line, cap, "%s", buf);
            break;
        }
    }
    fclose(f);
}

/* Where an engine array lies does not depend on what the process freed before. glibc serves a
 * calloc below its mmap threshold from the heap and raises that threshold each time a larger
 * mapped chunk is freed: a model built after a training run (which frees large buffers) landed
 * in recycled heap memory and decoded 10-25 % slower than the same shape built first
 * (docs/latency.md, flash.yaml's verify stage). From 64 KiB an array is a page-aligned mapping
 * of its own, before and after such a free alike. */
Test(big_calloc, placement_does_not_depend_on_what_was_freed_before)
{
    const size_t bytes = (size_t)256 << 10;
    for (int round = 0; round < 2; round++) {
        if (round == 1) {
            /* a large chunk mapped and freed: glibc's threshold rises above 256 KiB */
            volatile char *big = malloc((size_t)8 << 20);
            cr_assert_not_null((void *)big);
            big[0] = 1;
            free((void *)big);
            char *plain = calloc(1, bytes);
            char line[4200];
            mapping_of(plain, bytes, line, sizeof(line));
            cr_log_info("after the free, calloc(256 KiB) lies in: %s", line);
            free(plain);
        }
        unsigned char *p = hn_llm_big_calloc(bytes / sizeof(float), sizeof(float));
        cr_assert_not_null(p);
        char line[4200];
        mapping_of(p, bytes, line, sizeof(line));
        cr_expect_eq((uintptr_t)p % 4096, 0, "round %d: %p not page-aligned", round, (void *)p);
        cr_expect(line[0] != '\0' && strstr(line, "[heap]") == NULL,
                  "round %d: 256 KiB at %p not in an anonymous mapping of its own: %s", round,
                  (void *)p, line);
        size_t nonzero = 0;
        for (size_t k = 0; k < bytes; k++) {
            nonzero += p[k] != 0;
        }
        cr_expect_eq(nonzero, 0);
        hn_llm_big_free(p, bytes / sizeof(float), sizeof(float));
    }
}
