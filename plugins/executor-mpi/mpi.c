/*
 * hilnas executor "mpi": trials run on the ranks of an MPI job.
 *
 *   mpirun -np N hilnas run STUDY.yaml        (executor: {plugin: mpi})
 *
 * Every rank loads the same study. Rank 0 is the runner: it keeps the journal, asks the
 * optimizer and sends each trial to a free worker rank; ranks 1..N-1 are workers: they call
 * the core's execute callback on the trials they receive and send the results back, until the
 * runner says stop. A job of one rank (no mpirun, or -np 1) runs its trials itself, like the
 * serial executor.
 *
 * Messages (MPI_COMM_WORLD, MPI_CHAR, JSON text without the terminating NUL):
 *   TAG_TASK   0 -> w   the task's request   {"trial": id, "params": ..., ...}
 *   TAG_RESULT w -> 0   the task's result    {"metrics": ...} or {"error": ...}
 *   TAG_STOP   0 -> w   empty: leave the serve loop
 * A worker holds at most one task, so the runner matches a result to the task it sent that
 * rank. Only the main thread of each rank calls MPI (MPI_THREAD_FUNNELED).
 *
 * Failure: a trial's evaluation failing is a result ({"error": ...}), not an MPI error. A rank
 * that dies takes the job down (mpirun's default); the journal then has the completed trials
 * and a resumed study replaces the ones that were running. Workers ignore SIGINT (mpirun
 * forwards Ctrl-C to every rank): the runner decides when to stop and waits for the running
 * trials first.
 */
#include "config.h"

#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <mpi.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hilnas/executor.h"

enum { TAG_TASK = 1, TAG_RESULT = 2, TAG_STOP = 3 };

struct mpi_exec {
    hn_execute_fn execute;
    void *runner;
    int rank, size;
    int we_initialized;    /* MPI_Init was ours: finalize in destroy */
    struct hn_task **busy; /* rank 0: the task each worker rank holds (index = rank) */
    size_t outstanding;
    struct hn_task *inline_task; /* a one-rank job: the task to run in wait() */
};

static const struct hn_option mpi_options[] = {{.name = NULL}};

/*
 * libltdl opens plugins RTLD_LOCAL, so libmpi arrives as a local dependency; Open MPI then
 * dlopens its own components, which need libmpi's symbols globally. Promote it first.
 */
static void make_libmpi_global(void)
{
    Dl_info info;
    if (dladdr((void *)&MPI_Init, &info) != 0 && info.dli_fname != NULL) {
        void *h = dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
        (void)h; /* kept open on purpose: libmpi must stay loaded until exit */
    }
}

static int mpi_failed(struct hn_error *err, int code, const char *what)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, text, &len);
    return hn_error_set(err, NULL, "MPI: %s failed: %s", what, text);
}

static void mpi_destroy(void *ctx)
{
    struct mpi_exec *m = ctx;
    if (m == NULL) {
        return;
    }
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && m->rank == 0 && m->busy != NULL) {
        /* tasks still out (an error stopped the study): let the workers finish and drop the
         * results (those trials stay "running" in the journal and are replaced on resume),
         * so that no worker blocks sending; then stop every worker */
        for (int w = 1; w < m->size; w++) {
            if (m->busy[w] != NULL) {
                MPI_Status st;
                int count = 0;
                if (MPI_Probe(w, TAG_RESULT, MPI_COMM_WORLD, &st) == MPI_SUCCESS) {
                    MPI_Get_count(&st, MPI_CHAR, &count);
                    char *buf = malloc((size_t)count + 1);
                    if (buf != NULL) {
                        MPI_Recv(buf, count, MPI_CHAR, w, TAG_RESULT, MPI_COMM_WORLD,
                                 MPI_STATUS_IGNORE);
                    }
                    free(buf);
                }
            }
            MPI_Send(NULL, 0, MPI_CHAR, w, TAG_STOP, MPI_COMM_WORLD);
        }
    }
    if (!finalized && m->we_initialized) {
        MPI_Finalize();
    }
    free(m->busy);
    free(m);
}

static void *mpi_create(const struct hn_plugin_args *args, struct hn_error *err)
{
    struct mpi_exec *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        hn_error_set(err, NULL, "out of memory");
        return NULL;
    }
    if (hn_options_fill(mpi_options, args->node, m, err) != 0) {
        free(m);
        return NULL;
    }
    m->execute = args->execute;
    m->runner = args->runner;
    int inited = 0, provided = 0, rc;
    MPI_Initialized(&inited);
    if (!inited) {
        make_libmpi_global();
        rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) {
            mpi_failed(err, rc, "MPI_Init_thread");
            free(m);
            return NULL;
        }
        m->we_initialized = 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->size);
    m->busy = calloc((size_t)m->size, sizeof(*m->busy));
    if (m->busy == NULL) {
        hn_error_set(err, NULL, "out of memory");
        mpi_destroy(m);
        return NULL;
    }
    return m;
}

static size_t mpi_slots(void *ctx)
{
    struct mpi_exec *m = ctx;
    return m->size > 1 ? (size_t)(m->size - 1) : 1;
}

static int send_json(const json_t *j, int dest, int tag, struct hn_error *err)
{
    char *text = json_dumps(j, JSON_COMPACT);
    if (text == NULL) {
        return hn_error_set(err, NULL, "cannot encode a message for rank %d", dest);
    }
    size_t len = strlen(text);
    if (len > (size_t)INT32_MAX) {
        free(text);
        return hn_error_set(err, NULL, "message for rank %d too large (%zu bytes)", dest, len);
    }
    int rc = MPI_Send(text, (int)len, MPI_CHAR, dest, tag, MPI_COMM_WORLD);
    free(text);
    return rc == MPI_SUCCESS ? 0 : mpi_failed(err, rc, "MPI_Send");
}

/* Receive one message of tag from source (or MPI_ANY_SOURCE) as JSON; *from gets the rank.
 * *stop is set for TAG_STOP. Returns the JSON (NULL for stop) or NULL with err. */
static json_t *recv_json(int source, int tag, int *from, int *stop, struct hn_error *err)
{
    MPI_Status st;
    int rc = MPI_Probe(source, tag, MPI_COMM_WORLD, &st);
    if (rc != MPI_SUCCESS) {
        mpi_failed(err, rc, "MPI_Probe");
        return NULL;
    }
    int count = 0;
    MPI_Get_count(&st, MPI_CHAR, &count);
    char *buf = malloc((size_t)count + 1);
    if (buf == NULL) {
        hn_error_set(err, NULL, "out of memory for a message of %d bytes", count);
        return NULL;
    }
    rc = MPI_Recv(buf, count, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD,
                  MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
        free(buf);
        mpi_failed(err, rc, "MPI_Recv");
        return NULL;
    }
    buf[count] = '\0';
    *from = st.MPI_SOURCE;
    if (st.MPI_TAG == TAG_STOP) {
        free(buf);
        *stop = 1;
        return NULL;
    }
    *stop = 0;
    json_error_t je;
    json_t *j = json_loads(buf, 0, &je);
    free(buf);
    if (j == NULL) {
        hn_error_set(err, NULL, "malformed message from rank %d: %s", *from, je.text);
    }
    return j;
}

static int mpi_submit(void *ctx, struct hn_task *task, struct hn_error *err)
{
    struct mpi_exec *m = ctx;
    if (m->size == 1) {
        if (m->inline_task != NULL) {
            return hn_error_set(err, NULL, "mpi executor: a task is already queued");
        }
        m->inline_task = task;
        return 0;
    }
    int w = 1;
    while (w < m->size && m->busy[w] != NULL) {
        w++;
    }
    if (w == m->size) {
        return hn_error_set(err, NULL,
                            "mpi executor: all %d workers are busy (a bug in the runner: it "
                            "submits at most slots() tasks)",
                            m->size - 1);
    }
    if (send_json(task->request, w, TAG_TASK, err) != 0) {
        return -1;
    }
    m->busy[w] = task;
    m->outstanding++;
    return 0;
}

static struct hn_task *mpi_wait(void *ctx, struct hn_error *err)
{
    struct mpi_exec *m = ctx;
    if (m->size == 1) {
        struct hn_task *task = m->inline_task;
        if (task == NULL) {
            hn_error_set(err, NULL, "mpi executor: wait() with no task submitted");
            return NULL;
        }
        m->inline_task = NULL;
        return m->execute(m->runner, task, 0, err) == 0 ? task : NULL;
    }
    if (m->outstanding == 0) {
        hn_error_set(err, NULL, "mpi executor: wait() with no task submitted");
        return NULL;
    }
    int from = -1, stop = 0;
    json_t *result = recv_json(MPI_ANY_SOURCE, TAG_RESULT, &from, &stop, err);
    if (result == NULL) {
        return NULL;
    }
    if (from < 1 || from >= m->size || m->busy[from] == NULL) {
        json_decref(result);
        hn_error_set(err, NULL, "result from rank %d, which holds no task", from);
        return NULL;
    }
    struct hn_task *task = m->busy[from];
    m->busy[from] = NULL;
    m->outstanding--;
    task->result = result;
    return task;
}

static size_t mpi_workers(void *ctx)
{
    (void)ctx;
    return 1; /* workers are processes: one instance of each source per rank */
}

/* Worker ranks: run tasks until told to stop. Rank 0 returns 0 at once. */
static int mpi_serve(void *ctx, struct hn_error *err)
{
    struct mpi_exec *m = ctx;
    if (m->rank == 0) {
        return 0;
    }
    /* a worker rank stops when the runner says so (^C reaches every rank of the job, the
     * runner drains its trials first); SIGTERM ends it, whatever the command line set */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    for (;;) {
        int from = -1, stop = 0;
        json_t *request = recv_json(0, MPI_ANY_TAG, &from, &stop, err);
        if (stop) {
            return 1;
        }
        if (request == NULL) {
            hn_error_prefix(err, "worker rank %d", m->rank);
            return -1;
        }
        struct hn_task task = {
            .trial_id = (long)json_integer_value(json_object_get(request, "trial")),
            .request = request,
        };
        if (m->execute(m->runner, &task, m->rank, err) != 0) {
            json_decref(request);
            hn_error_prefix(err, "worker rank %d (trial %ld)", m->rank, task.trial_id);
            return -1;
        }
        int rc = send_json(task.result, 0, TAG_RESULT, err);
        json_decref(request);
        json_decref(task.result);
        if (rc != 0) {
            return -1;
        }
    }
}

/* Launcher environments: Open MPI (mpirun), MPICH/Hydra and Slurm's PMI, PMIx (prterun, srun
 * --mpi=pmix). A job of one process is not "launched": the serial executor does the same. */
static int mpi_launched(void)
{
    static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE",
                                        "MPI_LOCALNRANKS", NULL};
    for (size_t i = 0; sizes[i] != NULL; i++) {
        const char *v = getenv(sizes[i]);
        if (v != NULL && *v != '\0') {
            char *end = NULL;
            long n = strtol(v, &end, 10);
            if (*end == '\0' && n > 1 && n <= 1L << 24) {
                return (int)n;
            }
            if (*end == '\0' && n == 1) {
                return 0;
            }
        }
    }
    return 0;
}

/* Ranks on this machine, as the launcher says (Open MPI, MPICH/Hydra, PMIx); 1 if none does. */
static size_t mpi_local_processes(void *ctx)
{
    static const char *const sizes[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                                        "PMIX_LOCAL_SIZE", NULL};
    (void)ctx;
    for (size_t i = 0; sizes[i] != NULL; i++) {
        const char *v = getenv(sizes[i]);
        char *end = NULL;
        long n = v != NULL && *v != '\0' ? strtol(v, &end, 10) : 0;
        if (end != NULL && *end == '\0' && n >= 1 && n <= 1L << 24) {
            return (size_t)n;
        }
    }
    return 1;
}

static const struct hn_executor_ops mpi_ops = {
    .size = sizeof(struct hn_executor_ops),
    .create = mpi_create,
    .destroy = mpi_destroy,
    .slots = mpi_slots,
    .submit = mpi_submit,
    .wait = mpi_wait,
    .workers = mpi_workers,
    .serve = mpi_serve,
    .launched = mpi_launched,
    .local_processes = mpi_local_processes,
};

const struct hn_plugin hn_plugin_descriptor = {
    HN_PLUGIN_HEAD(HN_KIND_EXECUTOR),
    .name = "mpi",
    .summary = "Run trials on the ranks of an MPI job (mpirun -np N hilnas run ...)",
    .options = mpi_options,
    .executor = &mpi_ops,
};
