/*
 * train_steps.c — training images/s of one engine model on random data,
 * nothing else (no PyTorch, no inference): small enough to run the same
 * command from two builds alternately and compare (an A/B of a kernel
 * change on this shared machine, where one run against another is noise;
 * scripts/nn_ab.sh alternates two builds and prints the median ratio).
 *
 *   build/bench/train_steps [MODEL resnet8] [BATCH 128] [STEPS 10] [THREADS 2]
 *
 * Two warm-up steps, then STEPS timed steps of forward + loss + zero_grad +
 * backward + SGD (momentum 0.9, weight decay 5e-4); prints images/s.
 */
#include <stdio.h>
#include <stdlib.h>

#include "secureai/nn.h"
#include "secureai/util.h"

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "resnet8";
    int batch = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 128;
    int steps = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 10;
    int threads = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 2;
    if (batch <= 0 || steps <= 0 || threads <= 0) {
        fprintf(stderr, "usage: train_steps [MODEL] [BATCH] [STEPS] [THREADS]\n");
        return 2;
    }
    sai_error_t err;
    sai_nn_model_t *m;
    sai_nn_set_threads(threads);
    if (sai_nn_model_create(&m, name, 3, 32, 32, 10, batch, 1, &err) != 0) {
        fprintf(stderr, "train_steps: %s\n", err.msg);
        return 1;
    }
    float *x = malloc((size_t)batch * 3072 * sizeof(float));
    int *y = malloc((size_t)batch * sizeof(int));
    if (x == NULL || y == NULL) {
        fprintf(stderr, "train_steps: out of memory\n");
        return 1;
    }
    uint64_t rng = 1;
    for (size_t i = 0; i < (size_t)batch * 3072; i++)
        x[i] = sai_nn_rng_uniform(&rng) * 2.0f - 1.0f;
    for (int i = 0; i < batch; i++)
        y[i] = i % 10;
    sai_nn_sgd_t sgd = {.momentum = 0.9f, .weight_decay = 5e-4f};
    double t = 0.0;
    for (int s = -2; s < steps; s++) {
        if (s == 0)
            t = sai_now();
        sai_nn_forward(m, x, batch, true);
        sai_nn_loss(m, y, batch, NULL);
        sai_nn_zero_grad(m);
        sai_nn_backward(m, batch);
        sai_nn_sgd_step(m, &sgd, 0.01f);
    }
    printf("%.1f\n", batch * steps / (sai_now() - t));
    free(x);
    free(y);
    sai_nn_model_free(m);
    return 0;
}
