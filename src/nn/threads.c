/*
 * threads.c — the engine's thread setting and its worker pool.
 *
 * The setting (sai_nn_set_threads) is the only global: the drivers
 * (sai_nn_forward, sai_nn_backward, sai_nn_sgd_step) read it once per call,
 * cap it by the model's scratch (model->scratch_threads) and pass the count
 * down; no kernel reads it. sai_nn__parallel(n, threads, fn, ctx) splits
 * [0, n) into one contiguous chunk per thread (the caller takes chunk 0)
 * and returns when all are done.
 *
 * Why not OpenMP: libgomp's workers spin at barriers, and its wait policy
 * can only be chosen by environment variable before the library loads. On
 * a machine shared with other jobs (this one has 2 cores and several
 * builds) a spinning worker waits for a descheduled peer: measured on
 * ResNet-8, 52 img/s with libgomp's default policy against 178 img/s with
 * OMP_WAIT_POLICY=passive. This pool spins briefly (cheap hand-offs when
 * the machine is quiet) and then sleeps on a condition variable.
 * The pool is process-wide; concurrent sai_nn__parallel callers are serialised,
 * and a call from inside a task runs inline.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <cblas.h>

#include "nn/nn_internal.h"

_Static_assert(SAI_NN_MAX_THREADS == SAI_NN_THREADS_MAX, "one limit for the setting and the pool");

/* ---- the setting ----------------------------------------------------------- */

static int g_threads = 0;   /* 0: not set yet (resolved on first read) */

int sai_nn_threads_resolve(int threads)
{
    if (threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        threads = c > 0 ? (c > SAI_NN_THREADS_MAX ? SAI_NN_THREADS_MAX : (int)c) : 1;
    }
    return threads > SAI_NN_THREADS_MAX ? SAI_NN_THREADS_MAX : threads;
}

void sai_nn_set_threads(int threads)
{
    g_threads = sai_nn_threads_resolve(threads);
    /* The engine parallelises around the GEMMs: BLAS stays single-threaded so
     * engine threads x BLAS threads never exceeds the cores. */
    openblas_set_num_threads(1);
}

int sai_nn_get_threads(void)
{
    if (g_threads == 0)
        sai_nn_set_threads(0);
    return g_threads;
}

int sai_nn__pass_threads(const sai_nn_model_t *m)
{
    int t = sai_nn_get_threads();
    return t < m->scratch_threads ? t : m->scratch_threads;
}

/* ---- the pool -------------------------------------------------------------- */

#define SPIN 20000

static struct {
    pthread_mutex_t mu, call_mu;
    pthread_cond_t  cv_work, cv_done;
    int             nworkers;
    atomic_ulong    gen;
    atomic_int      pending;
    nn_task_fn      fn;
    void           *ctx;
    long            n;
    int             T;
} P = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
       PTHREAD_COND_INITIALIZER, 0, 0, 0, NULL, NULL, 0, 0};

static _Thread_local bool in_task;
/* The generation a worker has already seen, fixed by its creator: a worker
 * that reads P.gen itself might start after the call that created it has
 * published its work, and then wait for the next one forever. */
static unsigned long start_gen[SAI_NN_MAX_THREADS];

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void chunk(long n, int T, int t, long *b, long *e)
{
    long q = n / T, r = n % T;
    *b = t * q + (t < r ? t : r);
    *e = *b + q + (t < r ? 1 : 0);
}

static void *worker(void *arg)
{
    int w = (int)(intptr_t)arg;
    unsigned long seen = start_gen[w];
    in_task = true;
    for (;;) {
        unsigned long g;
        int spins = 0;
        while ((g = atomic_load_explicit(&P.gen, memory_order_acquire)) == seen && spins < SPIN) {
            cpu_relax();
            spins++;
        }
        if (g == seen) {
            pthread_mutex_lock(&P.mu);
            while ((g = atomic_load(&P.gen)) == seen)
                pthread_cond_wait(&P.cv_work, &P.mu);
            pthread_mutex_unlock(&P.mu);
        }
        seen = g;
        if (w >= P.T)
            continue;
        long b, e;
        chunk(P.n, P.T, w, &b, &e);
        if (e > b)
            P.fn(P.ctx, b, e, w);
        if (atomic_fetch_sub_explicit(&P.pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&P.mu);
            pthread_cond_signal(&P.cv_done);
            pthread_mutex_unlock(&P.mu);
        }
    }
    return NULL;
}

/* Grow the pool to threads-1 workers (never shrinks; extra workers idle). */
static int ensure_workers(int threads)
{
    while (P.nworkers < threads - 1 && P.nworkers < SAI_NN_MAX_THREADS - 1) {
        pthread_t th;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        start_gen[P.nworkers + 1] = atomic_load(&P.gen);
        int rc = pthread_create(&th, &at, worker, (void *)(intptr_t)(P.nworkers + 1));
        pthread_attr_destroy(&at);
        if (rc != 0)
            break;
        P.nworkers++;
    }
    return P.nworkers + 1;
}

int sai_nn__grain(int threads, size_t work)
{
    /* ~64 KiB of floats per thread at least: below that a hand-off costs
     * more than it saves (batch-1 inference: 0.5 ms single-threaded against
     * >10 ms when the second core is busy with another job). */
    size_t t = work / 16384;
    if (t < 1)
        t = 1;
    return (size_t)threads < t ? threads : (int)t;
}

void sai_nn__parallel(long n, int threads, nn_task_fn fn, void *ctx)
{
    if (n <= 0)
        return;
    int T = threads < SAI_NN_MAX_THREADS ? threads : SAI_NN_MAX_THREADS;
    if (T > n)
        T = (int)n;
    if (T <= 1 || in_task) {
        fn(ctx, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&P.call_mu);
    T = T < ensure_workers(T) ? T : P.nworkers + 1;
    if (T <= 1) {
        pthread_mutex_unlock(&P.call_mu);
        fn(ctx, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&P.mu);
    P.fn = fn;
    P.ctx = ctx;
    P.n = n;
    P.T = T;
    atomic_store(&P.pending, T - 1);
    atomic_fetch_add_explicit(&P.gen, 1, memory_order_release);
    pthread_cond_broadcast(&P.cv_work);
    pthread_mutex_unlock(&P.mu);
    long b, e;
    chunk(n, T, 0, &b, &e);
    in_task = true;
    fn(ctx, b, e, 0);
    in_task = false;
    for (int s = 0; s < SPIN && atomic_load_explicit(&P.pending, memory_order_acquire) > 0; s++)
        cpu_relax();
    if (atomic_load(&P.pending) > 0) {
        pthread_mutex_lock(&P.mu);
        while (atomic_load(&P.pending) > 0)
            pthread_cond_wait(&P.cv_done, &P.mu);
        pthread_mutex_unlock(&P.mu);
    }
    pthread_mutex_unlock(&P.call_mu);
}
