/*
 * loss.c — softmax cross-entropy, mean over the batch, computed in a
 * numerically stable way (max subtracted, log-sum-exp in double), with
 * optional label smoothing (target t = (1-eps)*onehot + eps/K, PyTorch's
 * definition). Writes dloss/dlogits = (softmax - t)/n straight into the
 * logits' gradient for sai_nn_backward.
 */
#include <math.h>

#include "nn/nn_internal.h"

float sai_nn_loss(sai_nn_model_t *m, const int *labels, int n, int *correct)
{
    return sai_nn_loss_smoothed(m, labels, n, 0.0f, correct);
}

float sai_nn_loss_smoothed(sai_nn_model_t *m, const int *labels, int n, float eps, int *correct)
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
        hits += (arg == labels[i]);
        if (eps == 0.0f) {   /* the exact pre-smoothing arithmetic */
            total += lse - (double)z[y];
            for (int j = 0; dz != NULL && j < K; j++)
                dz[j] = (float)((exp((double)z[j] - lse) - (j == y ? 1.0 : 0.0)) / (double)n);
            continue;
        }
        double e = eps, off = e / K, on = 1.0 - e + off, zsum = 0.0;
        for (int j = 0; j < K; j++)
            zsum += (double)z[j];
        /* -sum_j t_j log p_j = lse - (1-eps) z_y - (eps/K) sum_j z_j */
        total += lse - (1.0 - e) * (double)z[y] - off * zsum;
        for (int j = 0; dz != NULL && j < K; j++)
            dz[j] = (float)((exp((double)z[j] - lse) - (j == y ? on : off)) / (double)n);
    }
    if (correct != NULL)
        *correct = hits;
    return (float)(total / (double)n);
}
