/*
 * pipeline_isolation.c — what the enclave sandbox costs the training loop.
 *
 * The same ResNet-8 training steps (synthetic 1x28x28 images, batch 32) in
 * two child processes, alternating: a plain one, and one that first applies
 * sai_sandbox_harden (not dumpable, no core, no capabilities, seccomp
 * allow-list) exactly as the enclave does. Each child reports the fastest of
 * its repetitions; the machines are shared and the engine's OpenMP barriers
 * make a step swing by several times when another job takes a core, so the
 * minimum over alternating rounds is the figure to compare.
 *
 *   build/bench/pipeline_isolation [STEPS] [ROUNDS]   (default 15 steps, 5 rounds)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secureai/nn.h"
#include "secureai/pipeline.h"
#include "secureai/util.h"

static double train_once(const sai_nn_dataset_t *ds, int steps)
{
    sai_nn_model_t *m = NULL;
    sai_error err = {0};
    if (sai_nn_model_create(&m, "resnet8", ds->c, ds->h, ds->w, 10, 32, 1, &err) != 0)
        return -1;
    sai_nn_train_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.epochs = 1;
    cfg.batch = 32;
    cfg.max_steps = (uint64_t)steps;
    cfg.sgd.momentum = 0.9f;
    cfg.sched.kind = SAI_NN_SCHED_CONST;
    cfg.sched.base_lr = 0.05f;
    cfg.seed = 1;
    sai_nn_train_result_t r;
    double t = sai_now();
    int rc = sai_nn_train(m, ds, &cfg, &r, &err);
    t = sai_now() - t;
    sai_nn_model_free(m);
    return rc == 0 ? t : -1;
}

/* One child: optionally harden, then train; writes the time to fd. */
static double child(const sai_nn_dataset_t *ds, int steps, int harden)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        sai_error err = {0};
        if (harden && sai_sandbox_harden(NULL, &err) != 0)
            _exit(2);
        double t = train_once(ds, steps);
        if (write(p[1], &t, sizeof t) != (ssize_t)sizeof t)
            _exit(3);
        _exit(0);
    }
    close(p[1]);
    double t = -1;
    if (read(p[0], &t, sizeof t) != (ssize_t)sizeof t)
        t = -1;
    close(p[0]);
    waitpid(pid, NULL, 0);
    return t;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 15, rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (steps < 1 || rounds < 1)
        return 2;
    sai_nn_dataset_t ds;
    sai_nn_dataset_init(&ds);
    ds.n = 2048;
    ds.c = 1;
    ds.h = ds.w = 28;
    ds.classes = 10;
    ds.pixels = malloc((size_t)ds.n * 28 * 28);
    ds.labels = malloc((size_t)ds.n);
    if (ds.pixels == NULL || ds.labels == NULL)
        return 1;
    uint64_t rng = 42;
    for (size_t i = 0; i < (size_t)ds.n * 28 * 28; i++)
        ds.pixels[i] = (uint8_t)sai_nn_rng_next(&rng);
    for (int i = 0; i < ds.n; i++)
        ds.labels[i] = (uint8_t)(sai_nn_rng_next(&rng) % 10);
    sai_error err = {0};
    if (sai_nn_dataset_set_norm(&ds, "fashion-mnist", &err) != 0)
        return 1;
    sai_nn_set_threads(0);
    double best_plain = 1e9, best_sandbox = 1e9;
    for (int r = 0; r < rounds; r++) {
        double a = child(&ds, steps, 0), b = child(&ds, steps, 1);
        if (a < 0 || b < 0) {
            fprintf(stderr, "pipeline_isolation: a child failed\n");
            return 1;
        }
        if (a < best_plain) best_plain = a;
        if (b < best_sandbox) best_sandbox = b;
        printf("round %d: plain %.3f s, sandboxed %.3f s\n", r + 1, a, b);
    }
    printf("pipeline_isolation: resnet8 %d steps batch 32, best of %d: plain %.3f s, sandboxed %.3f s, "
           "ratio %.3f (%+.1f%%)\n", steps, rounds, best_plain, best_sandbox, best_sandbox / best_plain,
           (best_sandbox / best_plain - 1) * 100);
    sai_nn_dataset_free(&ds);
    return 0;
}
