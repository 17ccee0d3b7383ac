/*
 * train_throughput.c — training and inference speed of the engine against
 * PyTorch in the same run: ResNet-8 (batch 128), ResNet-18 (64) and
 * ResNet-50 (32) on random 32x32 batches with THREADS threads (default 2),
 * then bench/train_throughput.py (Debian's python3-torch, same models, same
 * thread count, one process per model). Training speed is the median of
 * timed steps on both sides. The engine also trains each model with its
 * im2col path (SAI_NN_NO_WINOGRAD) between two Winograd runs, so the
 * Winograd speed-up is a ratio from one run. Prints images/s for both and
 * the ratio, peak RSS of both, the engine's
 * achieved GFLOP/s (training = 3x the forward multiply-adds x 2) as a
 * fraction of OpenBLAS sgemm peak measured at the start of the run with the
 * same threads, batch-1 latency and batch-64 inference throughput.
 *
 *   build/bench/train_throughput [THREADS] [MODELS e.g. resnet8,resnet18]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cblas.h>

#include "secureai/nn.h"
#include "secureai/util.h"

typedef struct {
    const char *name;
    int batch, steps, lat_runs, inf_runs;
    double train, lat_ms, infer, gflops, rss_mb;
    double train_i2c;   /* same engine with SAI_NN_NO_WINOGRAD (im2col path) */
    double t_train, t_lat_ms, t_infer, t_rss_mb;
} row;

static double sgemm_peak(int threads)
{
    const int n = 1024;
    float *a = malloc((size_t)n * n * 4), *b = malloc((size_t)n * n * 4), *c = malloc((size_t)n * n * 4);
    for (size_t i = 0; i < (size_t)n * n; i++)
        a[i] = b[i] = (float)(i % 7) * 0.1f;
    openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 0.0;
    for (int r = 0; r < 5; r++) {
        double t = sai_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double g = 2.0 * n * n * n / (sai_now() - t) / 1e9;
        if (g > best)
            best = g;
    }
    openblas_set_num_threads(1);
    free(a); free(b); free(c);
    return best;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* images/s of a fresh model built with flags, from the median of r->steps
 * timed training steps (after one warm-up step): the median shrugs off a
 * neighbour that takes the other core for a moment, and PyTorch's half
 * (train_throughput.py) is timed the same way. *arena gets its arena size. */
static double train_rate(const row *r, unsigned flags, const float *x, const int *y,
                         size_t *arena)
{
    sai_error_t err;
    sai_nn_model_t *m;
    if (sai_nn_model_create_ex(&m, r->name, 3, 32, 32, 10, r->batch, 1, flags, &err) != 0) {
        fprintf(stderr, "train_throughput: %s\n", err.msg);
        exit(1);
    }
    sai_nn_sgd_t sgd = {.momentum = 0.9f, .weight_decay = 5e-4f};
    double times[64];
    for (int s = -1; s < r->steps; s++) {   /* step -1 warms up */
        double t = sai_now();
        sai_nn_forward(m, x, r->batch, true);
        sai_nn_loss(m, y, r->batch, NULL);
        sai_nn_zero_grad(m);
        sai_nn_backward(m, r->batch);
        sai_nn_sgd_step(m, &sgd, 0.01f);
        if (s >= 0)
            times[s] = sai_now() - t;
    }
    qsort(times, (size_t)r->steps, sizeof(double), cmp_d);
    if (arena != NULL)
        *arena = sai_nn_model_arena_bytes(m);
    sai_nn_model_free(m);
    return r->batch / times[r->steps / 2];
}

static void bench_engine(row *r)
{
    sai_error_t err;
    sai_nn_model_t *m, *inf;
    int B = r->batch > 64 ? r->batch : 64;
    if (sai_nn_model_create_ex(&inf, r->name, 3, 32, 32, 10, 64, 1, SAI_NN_INFERENCE_ONLY,
                               &err) != 0) {
        fprintf(stderr, "train_throughput: %s\n", err.msg);
        exit(1);
    }
    float *x = malloc((size_t)B * 3072 * sizeof(float));
    int *y = malloc((size_t)B * sizeof(int));
    uint64_t rng = 1;
    for (size_t i = 0; i < (size_t)B * 3072; i++)
        x[i] = sai_nn_rng_uniform(&rng) * 2.0f - 1.0f;
    for (int i = 0; i < B; i++)
        y[i] = i % 10;
    /* Winograd, the im2col path (SAI_NN_NO_WINOGRAD), Winograd again: the
     * better Winograd run against the im2col run between the two */
    size_t train_arena = 0;
    r->train = train_rate(r, 0, x, y, &train_arena);
    r->train_i2c = train_rate(r, SAI_NN_NO_WINOGRAD, x, y, NULL);
    double again = train_rate(r, 0, x, y, NULL);
    if (again > r->train)
        r->train = again;
    r->gflops = r->train * 3.0 * 2.0 * sai_nn_model_macs(inf) / 1e9;
    double t;
    m = inf;
    double lat[64];
    sai_nn_forward(m, x, 1, false);
    for (int i = 0; i < r->lat_runs; i++) {
        t = sai_now();
        sai_nn_forward(m, x, 1, false);
        lat[i] = sai_now() - t;
    }
    qsort(lat, (size_t)r->lat_runs, sizeof(double), cmp_d);
    r->lat_ms = 1000.0 * lat[r->lat_runs / 2];
    sai_nn_forward(m, x, 64, false);
    t = sai_now();
    for (int i = 0; i < r->inf_runs; i++)
        sai_nn_forward(m, x, 64, false);
    r->infer = 64.0 * r->inf_runs / (sai_now() - t);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r->rss_mb = (double)ru.ru_maxrss / 1024.0;
    printf("engine  %-9s batch %3d: train %8.1f img/s (%6.1f GFLOP/s; im2col path %.1f img/s, "
           "Winograd %.2fx), batch-1 latency %7.2f ms, "
           "batch-64 inference %8.1f img/s, arena train %zu / inference %zu MiB, max RSS %.0f MiB\n",
           r->name, r->batch, r->train, r->gflops, r->train_i2c, r->train / r->train_i2c, r->lat_ms, r->infer, train_arena >> 20,
           sai_nn_model_arena_bytes(m) >> 20, r->rss_mb);
    fflush(stdout);
    free(x);
    free(y);
    sai_nn_model_free(m);
}

static double json_num(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\": ", key);
    const char *p = strstr(line, pat);
    return p ? strtod(p + strlen(pat), NULL) : 0.0;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    const char *only = argc > 2 ? argv[2] : NULL;
    row rows[] = {
        {.name = "resnet8", .batch = 128, .steps = 9, .lat_runs = 20, .inf_runs = 4},
        {.name = "resnet18", .batch = 64, .steps = 5, .lat_runs = 5, .inf_runs = 2},
        {.name = "resnet50", .batch = 32, .steps = 5, .lat_runs = 5, .inf_runs = 2},
    };
    const int nrows = 3;
    double peak = sgemm_peak(threads);
    printf("OpenBLAS sgemm 1024^3 peak with %d threads: %.1f GFLOP/s\n", threads, peak);
    sai_nn_set_threads(threads);
    for (int i = 0; i < nrows; i++)
        if (only == NULL || strstr(only, rows[i].name) != NULL)
            bench_engine(&rows[i]);

    /* PyTorch, same models and threads, one child process per model so its
     * peak RSS is that model's (the engine runs the models in growing size,
     * freeing each, so its running peak is the current model's). */
    char dir[4096], cmd[8192];
    snprintf(dir, sizeof(dir), "%s", __FILE__);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    bool have_torch = false;
    for (int i = 0; i < nrows; i++) {
        if (rows[i].train == 0.0)
            continue;
        snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/train_throughput.py %d %s", dir, threads,
                 rows[i].name);
        FILE *p = popen(cmd, "r");
        char line[1024];
        while (p != NULL && fgets(line, sizeof(line), p) != NULL) {
            char pat[64];
            snprintf(pat, sizeof(pat), "\"model\": \"%s\"", rows[i].name);
            if (strstr(line, pat) == NULL)
                continue;
            rows[i].t_train = json_num(line, "train_images_per_s");
            rows[i].t_lat_ms = json_num(line, "latency_ms");
            rows[i].t_infer = json_num(line, "infer_images_per_s");
            rows[i].t_rss_mb = json_num(line, "max_rss_mb");
            have_torch = true;
        }
        if (p != NULL)
            pclose(p);
    }
    printf("\n| model | batch | engine train img/s | PyTorch train img/s | ratio | engine GFLOP/s "
           "(%% of sgemm peak) | batch-1 latency engine / PyTorch ms | batch-64 inference engine / "
           "PyTorch img/s | peak RSS engine / PyTorch MiB |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < nrows; i++) {
        row *r = &rows[i];
        if (r->train == 0.0)
            continue;
        printf("| %s | %d | %.1f | %.1f | %.2fx | %.1f (%.0f%%) | %.2f / %.2f | %.1f / %.1f | "
               "%.0f / %.0f |\n",
               r->name, r->batch, r->train, r->t_train, r->t_train > 0 ? r->train / r->t_train : 0,
               r->gflops, 100.0 * r->gflops / peak, r->lat_ms, r->t_lat_ms, r->infer, r->t_infer,
               r->rss_mb, r->t_rss_mb);
    }
    if (!have_torch)
        printf("(PyTorch not available: /usr/bin/python3 with torch is needed for the baseline)\n");
    return 0;
}
