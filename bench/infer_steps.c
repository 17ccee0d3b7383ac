/*
 * infer_steps.c — evaluation-mode images/s of one engine model on random
 * data, nothing else (no PyTorch): the inference counterpart of
 * train_steps, small enough to profile (`perf record -g`,
 * SAI_NN_PROFILE=1) and to alternate two builds for an A/B of a kernel
 * change on this shared machine. The model is inference-only (as
 * `secureai predict` builds it), with batch-norm statistics and affine
 * parameters away from the identity as bench/infer_throughput sets them.
 *
 *   build/bench/infer_steps [MODEL resnet8] [BATCH 64] [STEPS 10] [THREADS 2]
 *
 * One warm-up forward (builds the evaluation folds), then STEPS timed
 * forwards; prints images/s over the median forward, then over the
 * fastest one (the steadier figure of the two when other jobs share the
 * machine).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/nn.h"

#include "bench_nn.h"
#include "secureai/util.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "resnet8";
    int batch = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 64;
    int steps = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 10;
    int threads = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 2;
    if (batch <= 0 || steps <= 0 || steps > 4096 || threads <= 0) {
        fprintf(stderr, "usage: infer_steps [MODEL] [BATCH] [STEPS <= 4096] [THREADS]\n");
        return 2;
    }
    sai_error_t err;
    sai_nn_model_t *m;
    sai_nn_set_threads(threads);
    if (bench_infer_model(&m, name, batch, &err) != 0) {
        fprintf(stderr, "infer_steps: %s\n", err.msg);
        return 1;
    }
    float *x = malloc((size_t)batch * 3072 * sizeof(float));
    double *t = malloc((size_t)steps * sizeof(double));
    if (x == NULL || t == NULL) {
        fprintf(stderr, "infer_steps: out of memory\n");
        return 1;
    }
    uint64_t rng = 1;
    for (size_t i = 0; i < (size_t)batch * 3072; i++)
        x[i] = sai_nn_rng_uniform(&rng) * 2.0f - 1.0f;
    sai_nn_forward(m, x, batch, false);
    for (int s = 0; s < steps; s++) {
        double t0 = sai_now();
        sai_nn_forward(m, x, batch, false);
        t[s] = sai_now() - t0;
    }
    qsort(t, (size_t)steps, sizeof(double), cmp_d);
    printf("%.1f %.1f\n", batch / t[steps / 2], batch / t[0]);
    free(x);
    free(t);
    sai_nn_model_free(m);
    return 0;
}
