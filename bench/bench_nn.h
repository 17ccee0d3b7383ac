/*
 * bench_nn.h — the engine model both inference benchmarks time
 * (infer_throughput.c against PyTorch, infer_steps.c alone): an
 * inference-only CIFAR-shaped model (3x32x32, 10 classes, like `secureai
 * predict` builds) with random Kaiming weights and batch-norm statistics and
 * affine parameters moved away from the identity, so the folded batch norm
 * does real work.
 */
#ifndef SAI_BENCH_NN_H
#define SAI_BENCH_NN_H

#include <stdbool.h>
#include <string.h>

#include "secureai/nn.h"

static inline int bench_infer_model(sai_nn_model_t **m, const char *name, int batch, sai_error_t *err)
{
    int rc = sai_nn_model_create_ex(m, name, 3, 32, 32, 10, batch, 1, SAI_NN_INFERENCE_ONLY, err);
    if (rc)
        return rc;
    uint64_t rng = 7;
    for (int i = 0; i < sai_nn_model_num_tensors(*m); i++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(*m, i, &ti);
        if (ti.ndim != 1 || strstr(ti.name, "fc.") == ti.name)
            continue;
        bool var = strstr(ti.name, "running_var") != NULL;
        bool gamma = strstr(ti.name, ".weight") != NULL;
        for (size_t j = 0; j < ti.numel; j++) {
            float u = sai_nn_rng_uniform(&rng);
            ti.data[j] = var || gamma ? 0.5f + u : 0.2f * (u - 0.5f);
        }
    }
    return 0;
}

#endif
