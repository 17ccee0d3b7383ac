/*
 * numerics_probe.c DIR NESTEROV — not a test (no test_ prefix, not built by
 * CMake): the diagnosis behind docs/engine.md "Numerics". Runs
 * test_nn_torch's ResNet-8 steps on its data (its own trajectory, not
 * resynchronised) and writes DIR/{weights.bin,batch.bin,cfg.txt}, every
 * ReLU's input per step (engine_pre.bin) and every gradient per step
 * (engine_grad.bin); numerics_probe.py DIR then compares them with float32
 * and float64 PyTorch. NOWINO=1 builds the model without Winograd.
 *   cd build && cc -O2 -std=c17 -ffp-contract=off -I../include -I../src \
 *     ../tests/nn/numerics_probe.c -o /tmp/probe \
 *     $(sed 's/.*-o test_nn_torch //' CMakeFiles/test_nn_torch.dir/link.txt)
 *   mkdir -p /tmp/p && /tmp/probe /tmp/p 0 && /usr/bin/python3 ../tests/nn/numerics_probe.py /tmp/p
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "secureai/nn.h"
#include "nn/nn_internal.h"
#define N 8
#define C 3
#define H 32
#define W 32
#define K 10
#define STEPS 3
int main(int argc, char **argv)
{
    const char *dir = argv[1];
    int nesterov = atoi(argv[2]);
    sai_nn_set_threads(2);
    sai_error_t err;
    sai_nn_model_t *m = NULL;
    if (sai_nn_model_create_ex(&m, "resnet8", C, H, W, K, N, 1234, getenv("NOWINO") ? SAI_NN_NO_WINOGRAD : 0, &err)) return 1;
    float *x = malloc((size_t)N * C * H * W * sizeof(float));
    int y[N];
    uint64_t rng = 99;
    for (size_t i = 0; i < (size_t)N * C * H * W; i++)
        x[i] = 2.0f * sai_nn_rng_uniform(&rng) - 1.0f;
    for (int i = 0; i < N; i++)
        y[i] = (int)(sai_nn_rng_next(&rng) % K);
    sai_nn_sgd_t sgd = {.momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = nesterov};
    float lr = 0.05f;
    char path[512];
    snprintf(path, sizeof(path), "%s/weights.bin", dir);
    FILE *f = fopen(path, "wb");
    uint32_t cnt = (uint32_t)sai_nn_model_num_tensors(m);
    fwrite(&cnt, 4, 1, f);
    for (int t = 0; t < (int)cnt; t++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, t, &ti);
        uint16_t nl = (uint16_t)strlen(ti.name);
        uint32_t numel = (uint32_t)ti.numel;
        fwrite(&nl, 2, 1, f); fwrite(ti.name, 1, nl, f); fwrite(&numel, 4, 1, f);
        fwrite(ti.data, 4, numel, f);
    }
    fclose(f);
    snprintf(path, sizeof(path), "%s/batch.bin", dir);
    f = fopen(path, "wb");
    fwrite(x, sizeof(float), (size_t)N * C * H * W, f);
    int32_t yy[N]; for (int i = 0; i < N; i++) yy[i] = y[i];
    fwrite(yy, 4, N, f); fclose(f);
    snprintf(path, sizeof(path), "%s/cfg.txt", dir);
    f = fopen(path, "w");
    fprintf(f, "%d %d %d %d %d %.9g %.9g %.9g %d %d\n", N, C, H, W, K, lr, sgd.momentum,
            sgd.weight_decay, sgd.nesterov ? 1 : 0, STEPS);
    fclose(f);
    snprintf(path, sizeof(path), "%s/engine_pre.bin", dir);
    FILE *o = fopen(path, "wb");
    snprintf(path, sizeof(path), "%s/engine_grad.bin", dir);
    FILE *g = fopen(path, "wb");
    for (int s = 0; s < STEPS; s++) {
        sai_nn_forward(m, x, N, true);
        for (int i = 0; i < m->nops; i++) {
            nn_op *op = &m->ops[i];
            if (!op->relu) continue;
            const nn_act *a = &m->acts[op->in];
            size_t HW = (size_t)a->h * a->w;
            for (int im = 0; im < N; im++)
                for (int c = 0; c < a->c; c++)
                    for (size_t j = 0; j < HW; j++) {
                        size_t k = (size_t)im * a->size + (size_t)c * HW + j;
                        float v;
                        if (op->kind == OP_BN) v = a->x[k] * op->save.scale[c] + op->save.shift[c];
                        else v = a->x[k] + m->acts[op->in2].x[k];
                        fwrite(&v, 4, 1, o);
                    }
        }
        sai_nn_loss(m, y, N, NULL);
        sai_nn_zero_grad(m);
        sai_nn_backward(m, N);
        for (int t = 0; t < sai_nn_model_num_tensors(m); t++) {
            sai_nn_tensor_info_t ti; sai_nn_model_tensor(m, t, &ti);
            if (ti.trainable) fwrite(ti.grad, 4, ti.numel, g);
        }
        sai_nn_sgd_step(m, &sgd, lr);
    }
    fclose(o); fclose(g);
    return 0;
}
