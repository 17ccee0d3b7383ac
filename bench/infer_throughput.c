/*
 * infer_throughput.c — inference speed of the engine against PyTorch in one
 * run: ResNet-8, ResNet-18 and ResNet-50 (CIFAR variants, 3x32x32 input,
 * 10 classes) in evaluation mode, batch-64 images/s (64 over the median of
 * timed forwards) and batch-1 latency p50 (median of timed forwards), with
 * THREADS threads on both sides. For every model and round the engine runs,
 * then bench/infer_throughput.py (Debian's python3-torch, the same network
 * from scripts/torch_resnet.py, eval mode, no_grad) in a child process, so
 * the two alternate and each ratio compares neighbouring measurements on
 * this shared machine. Prints every round and the median ratio per model.
 * The last columns are batch-64 img/s over the fastest timed forward on
 * each side and their ratio: on a loaded machine the medians measure the
 * load (PyTorch's spinning OpenMP threads suffer most), the fastest
 * forwards are closer to what each side does on a quiet one.
 * The engine model is an inference-only one (SAI_NN_INFERENCE_ONLY, like
 * `secureai predict`) with random Kaiming weights and random batch-norm
 * statistics, so the folded batch norm is not an identity.
 *
 *   build/bench/infer_throughput [THREADS 2] [MODELS resnet8,resnet18,resnet50] [ROUNDS 3]
 *
 * SAI_NN_PROFILE=1 adds the engine's per-op-kind time on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/nn.h"

#include "bench_nn.h"
#include "secureai/util.h"

typedef struct {
    const char *name;
    int b64_runs, lat_runs;
} spec;

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    return v[n / 2];
}

/* Engine: *ips batch-64 images/s (median), *best (fastest), *lat_ms batch-1 p50. */
static int run_engine(const spec *s, const float *x, double *ips, double *best, double *lat_ms)
{
    sai_error_t err;
    sai_nn_model_t *m;
    if (bench_infer_model(&m, s->name, 64, &err) != 0) {
        fprintf(stderr, "infer_throughput: %s\n", err.msg);
        return -1;
    }
    double t[512];
    int n64 = s->b64_runs > 512 ? 512 : s->b64_runs, n1 = s->lat_runs > 512 ? 512 : s->lat_runs;
    sai_nn_forward(m, x, 64, false);
    for (int i = 0; i < n64; i++) {
        double t0 = sai_now();
        sai_nn_forward(m, x, 64, false);
        t[i] = sai_now() - t0;
    }
    *ips = 64.0 / median(t, n64);
    *best = 64.0 / t[0];   /* sorted by median() */
    for (int i = 0; i < 3; i++)
        sai_nn_forward(m, x, 1, false);
    for (int i = 0; i < n1; i++) {
        double t0 = sai_now();
        sai_nn_forward(m, x, 1, false);
        t[i] = sai_now() - t0;
    }
    *lat_ms = 1000.0 * median(t, n1);
    sai_nn_model_free(m);
    return 0;
}

static double json_num(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\": ", key);
    const char *p = strstr(line, pat);
    return p ? strtod(p + strlen(pat), NULL) : 0.0;
}

static int run_torch(const char *dir, int threads, const spec *s, double *ips, double *best,
                     double *lat_ms)
{
    char cmd[8192], line[1024];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/infer_throughput.py %d %s %d %d", dir,
             threads, s->name, s->b64_runs, s->lat_runs);
    FILE *p = popen(cmd, "r");
    int rc = -1;
    while (p != NULL && fgets(line, sizeof(line), p) != NULL)
        if (strstr(line, "infer_images_per_s") != NULL) {
            *ips = json_num(line, "infer_images_per_s");
            *best = json_num(line, "infer_images_per_s_best");
            *lat_ms = json_num(line, "latency_ms");
            rc = *ips > 0.0 ? 0 : -1;
        }
    if (p != NULL)
        pclose(p);
    return rc;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    const char *only = argc > 2 ? argv[2] : NULL;
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    if (threads <= 0 || rounds <= 0 || rounds > 32) {
        fprintf(stderr, "usage: infer_throughput [THREADS] [MODELS] [ROUNDS <= 32]\n");
        return 2;
    }
    static const spec specs[] = {
        {"resnet8", 40, 200},
        {"resnet18", 6, 40},
        {"resnet50", 4, 20},
    };
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", __FILE__);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    sai_nn_set_threads(threads);
    float *x = malloc((size_t)64 * 3072 * sizeof(float));
    if (x == NULL)
        return 1;
    uint64_t rng = 1;
    for (size_t i = 0; i < (size_t)64 * 3072; i++)
        x[i] = sai_nn_rng_uniform(&rng) * 2.0f - 1.0f;
    printf("threads %d, %d rounds, engine then PyTorch per model and round\n", threads, rounds);
    printf("| model | round | engine b64 img/s | PyTorch b64 img/s | ratio | engine b1 p50 ms | "
           "PyTorch b1 p50 ms | latency ratio (PyTorch/engine) | engine b64 best | "
           "PyTorch b64 best | best ratio |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    fflush(stdout);
    int rc = 0;
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        const spec *s = &specs[k];
        if (only != NULL && strstr(only, s->name) == NULL)
            continue;
        double thr[32], lat[32], bst[32];
        int got = 0;
        for (int r = 0; r < rounds; r++) {
            double e_ips, e_best, e_lat, t_ips = 0.0, t_best = 0.0, t_lat = 0.0;
            if (run_engine(s, x, &e_ips, &e_best, &e_lat) != 0) {
                rc = 1;
                break;
            }
            bool torch = run_torch(dir, threads, s, &t_ips, &t_best, &t_lat) == 0;
            printf("| %s | %d | %.1f | %.1f | %.2fx | %.3f | %.3f | %.2fx | %.1f | %.1f | %.2fx |\n",
                   s->name, r + 1, e_ips, t_ips, torch ? e_ips / t_ips : 0.0, e_lat, t_lat,
                   torch ? t_lat / e_lat : 0.0, e_best, t_best,
                   torch && t_best > 0.0 ? e_best / t_best : 0.0);
            fflush(stdout);
            if (torch) {
                thr[got] = e_ips / t_ips;
                lat[got] = t_lat / e_lat;
                bst[got] = t_best > 0.0 ? e_best / t_best : 0.0;
                got++;
            }
        }
        if (got > 0) {
            double mt = median(thr, got), ml = median(lat, got), mb = median(bst, got);
            printf("| %s | median of %d | | | **%.2fx** | | | **%.2fx** | | | **%.2fx** |\n",
                   s->name, got, mt, ml, mb);
        } else {
            printf("(PyTorch not available: /usr/bin/python3 with torch is needed for %s)\n",
                   s->name);
        }
        fflush(stdout);
    }
    free(x);
    return rc;
}
