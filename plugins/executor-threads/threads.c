/*
 * hilnas executor "threads": runs up to `workers` trials at once on a pool of POSIX threads in
 * this process.
 *
 * The runner submits at most slots() tasks before it waits, so each queue (to do, done) is a
 * ring of `workers` entries. Worker i calls the core's execute callback with worker id i; the
 * core gives every worker its own instance of each evaluator and oracle (see workers() in
 * include/hilnas/executor.h), so plugins still see one thread at a time per instance. Finished
 * tasks come back from wait() in the order they finish. SIGINT and SIGTERM stay with the
 * calling thread (the pool blocks them), so an interrupt reaches the runner, which stops
 * submitting, waits for the running trials and exits; a second interrupt kills the process
 * and the journal marks the running trials abandoned on resume.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hilnas/executor.h"
#include "hilnas/util.h"

struct ring {
    struct hn_task **items;
    size_t head, count, cap;
};

struct pool {
    int64_t workers; /* option */
    hn_execute_fn execute;
    void *runner;
    size_t n;
    pthread_t *threads;
    size_t started; /* threads created (joined on destroy) */
    pthread_mutex_t mu;
    pthread_cond_t work, done_cv;
    struct ring todo, done;
    size_t outstanding; /* submitted and not yet returned by wait() */
    int stop;
    int failed; /* an execute callback returned -1: fatal */
    struct hn_error fatal;
};

struct worker_arg {
    struct pool *p;
    int id;
};

static const struct hn_option threads_options[] = {
    {.name = "workers",
     .type = HN_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 1024,
     .bounded = 1,
     .offset = offsetof(struct pool, workers),
     .help = "Trials run at once; 0: one per online CPU. Each trial's evaluation gets "
             "max(1, CPUs / workers) threads."},
    {.name = NULL},
};

static int ring_init(struct ring *r, size_t cap)
{
    r->items = calloc(cap, sizeof(*r->items));
    r->head = r->count = 0;
    r->cap = cap;
    return r->items != NULL ? 0 : -1;
}

static int ring_push(struct ring *r, struct hn_task *t)
{
    if (r->count == r->cap) {
        return -1;
    }
    r->items[(r->head + r->count) % r->cap] = t;
    r->count++;
    return 0;
}

static struct hn_task *ring_pop(struct ring *r)
{
    if (r->count == 0) {
        return NULL;
    }
    struct hn_task *t = r->items[r->head];
    r->head = (r->head + 1) % r->cap;
    r->count--;
    return t;
}

static void *worker_main(void *arg)
{
    struct worker_arg *wa = arg;
    struct pool *p = wa->p;
    int id = wa->id;
    free(wa);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->todo.count == 0) {
            pthread_cond_wait(&p->work, &p->mu);
        }
        if (p->stop) {
            break;
        }
        struct hn_task *task = ring_pop(&p->todo);
        pthread_mutex_unlock(&p->mu);
        struct hn_error err;
        hn_error_clear(&err);
        int rc = p->execute(p->runner, task, id, &err);
        pthread_mutex_lock(&p->mu);
        if (rc != 0 && !p->failed) {
            p->failed = 1;
            p->fatal = err;
            hn_error_prefix(&p->fatal, "worker %d (trial %ld)", id, task->trial_id);
        }
        /* cannot overflow: at most n tasks are outstanding */
        ring_push(&p->done, task);
        pthread_cond_signal(&p->done_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void threads_destroy(void *ctx)
{
    struct pool *p = ctx;
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    /* a running evaluation is not interrupted: joining waits for it */
    for (size_t i = 0; i < p->started; i++) {
        pthread_join(p->threads[i], NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done_cv);
    free(p->todo.items);
    free(p->done.items);
    free(p->threads);
    free(p);
}

static void *threads_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct pool *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    if (hn_options_fill(threads_options, args->node, p, err) != 0) {
        threads_destroy(p);
        return NULL;
    }
    if (args->execute == NULL) {
        hn_error_set(err, NULL, "no execute callback (a bug in the core)");
        threads_destroy(p);
        return NULL;
    }
    p->execute = args->execute;
    p->runner = args->runner;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    p->n = p->workers > 0 ? (size_t)p->workers : (size_t)(cpus > 0 ? cpus : 1);
    p->threads = calloc(p->n, sizeof(*p->threads));
    if (p->threads == NULL || ring_init(&p->todo, p->n) != 0 || ring_init(&p->done, p->n) != 0) {
        hn_error_set(err, NULL, "out of memory for %zu workers", p->n);
        threads_destroy(p);
        return NULL;
    }
    /* the pool never takes SIGINT/SIGTERM: they go to the runner's thread */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (size_t i = 0; i < p->n; i++) {
        struct worker_arg *wa = malloc(sizeof(*wa));
        int rc = wa == NULL ? ENOMEM : 0;
        if (wa != NULL) {
            wa->p = p;
            wa->id = (int)i;
            rc = pthread_create(&p->threads[i], NULL, worker_main, wa);
            if (rc != 0) {
                free(wa);
            }
        }
        if (rc != 0) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            hn_error_set(err, NULL, "cannot start worker thread %zu of %zu: %s", i + 1, p->n,
                         hn_strerror(rc));
            threads_destroy(p);
            return NULL;
        }
        p->started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return p;
}

static size_t threads_slots(void *ctx)
{
    return ((struct pool *)ctx)->n;
}

static int threads_submit(void *ctx, struct hn_task *task, struct hn_error *err)
{
    struct pool *p = ctx;
    pthread_mutex_lock(&p->mu);
    if (p->outstanding >= p->n || ring_push(&p->todo, task) != 0) {
        pthread_mutex_unlock(&p->mu);
        return hn_error_set(err, NULL,
                            "threads executor: %zu tasks already outstanding (a bug in the "
                            "runner: it submits at most slots() tasks)",
                            p->n);
    }
    p->outstanding++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static struct hn_task *threads_wait(void *ctx, struct hn_error *err)
{
    struct pool *p = ctx;
    pthread_mutex_lock(&p->mu);
    if (p->outstanding == 0) {
        pthread_mutex_unlock(&p->mu);
        hn_error_set(err, NULL, "threads executor: wait() with no task submitted");
        return NULL;
    }
    while (p->done.count == 0 && !p->failed) {
        pthread_cond_wait(&p->done_cv, &p->mu);
    }
    if (p->failed) {
        *err = p->fatal;
        pthread_mutex_unlock(&p->mu);
        return NULL;
    }
    struct hn_task *task = ring_pop(&p->done);
    p->outstanding--;
    pthread_mutex_unlock(&p->mu);
    return task;
}

static size_t threads_workers(void *ctx)
{
    return ((struct pool *)ctx)->n;
}

static const struct hn_executor_ops threads_ops = {
    .size = sizeof(struct hn_executor_ops),
    .create = threads_create,
    .destroy = threads_destroy,
    .slots = threads_slots,
    .submit = threads_submit,
    .wait = threads_wait,
    .workers = threads_workers,
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_EXECUTOR),
    .name = "threads",
    .summary = "Run several trials at once on threads of this process",
    .options = threads_options,
    .executor = &threads_ops,
};
