/*
 * loss.c — softmax cross-entropy, mean over the batch, computed in a
 * numerically stable way (max subtracted, log-sum-exp in double). Writes
 * dloss/dlogits = (softmax - onehot)/n straight into the logits' gradient
 * for sai_nn_backward.
 */
#include <math.h>

#include "nn/nn_internal.h"

float sai_nn_loss(sai_nn_model_t *m, const int *labels, int n, int *correct)
{
    const nn_act *o = &m->acts[m->logits];
    int K = (int)o->size, hits = 0;
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *z = o->x + (size_t)i * K;
        float *dz = o->dx != NULL ? o->dx + (size_t)i * K : NULL;   /* NULL: inference-only */
        int arg = 0;
        for (int j = 1; j < K; j++)
            if (z[j] > z[arg])
                arg = j;
        double sum = 0.0;
        for (int j = 0; j < K; j++)
            sum += exp((double)z[j] - (double)z[arg]);
        double lse = log(sum) + (double)z[arg];
        int y = labels[i];
        if (y < 0 || y >= K)
            y = 0;
        total += lse - (double)z[y];
        hits += (arg == labels[i]);
        for (int j = 0; dz != NULL && j < K; j++)
            dz[j] = (float)((exp((double)z[j] - lse) - (j == y ? 1.0 : 0.0)) / (double)n);
    }
    if (correct != NULL)
        *correct = hits;
    return (float)(total / (double)n);
}
