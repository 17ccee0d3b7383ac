/*
 * model.c — data-parallel helpers over the engine's public API (nn.h):
 * gradients packed in tensor order into one flat buffer for one
 * all-reduce, and every tensor broadcast from a root (initial weights,
 * momentum, BN running statistics).
 */
#include "dist/dist_internal.h"

#include <stdlib.h>
#include <string.h>

#include "secureai/nn.h"

int sai_dist_allreduce_grads(sai_dist_comm_t *c, struct sai_nn_model *m, float *scratch,
                             sai_error_t *err)
{
    size_t n = sai_nn_model_num_params(m);
    float *buf = scratch;
    if (buf == NULL && (buf = malloc((n ? n : 1) * sizeof *buf)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    int nt = sai_nn_model_num_tensors(m);
    size_t off = 0;
    int rc = 0;
    for (int i = 0; i < nt; i++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, i, &ti);
        if (!ti.trainable || ti.grad == NULL)
            continue;
        if (off + ti.numel > n) {
            rc = sai_error_set(err, SAI_ESTATE, "the model has more gradient than parameters");
            goto out;
        }
        memcpy(buf + off, ti.grad, ti.numel * sizeof(float));
        off += ti.numel;
    }
    if ((rc = sai_dist_allreduce_avg(c, buf, off, err)))
        goto out;
    off = 0;
    for (int i = 0; i < nt; i++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, i, &ti);
        if (!ti.trainable || ti.grad == NULL)
            continue;
        memcpy(ti.grad, buf + off, ti.numel * sizeof(float));
        off += ti.numel;
    }
out:
    if (buf != scratch)
        free(buf);
    return rc;
}

int sai_dist_broadcast_model(sai_dist_comm_t *c, struct sai_nn_model *m, uint32_t root,
                             sai_error_t *err)
{
    int nt = sai_nn_model_num_tensors(m);
    for (int i = 0; i < nt; i++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, i, &ti);
        int rc = sai_dist_broadcast(c, root, ti.data, ti.numel * sizeof(float), err);
        if (rc == 0 && ti.momentum != NULL)
            rc = sai_dist_broadcast(c, root, ti.momentum, ti.numel * sizeof(float), err);
        if (rc)
            return sai_error_prefix(err, "broadcasting %s", ti.name);
    }
    return 0;
}

int sai_dist_broadcast_buffers(sai_dist_comm_t *c, struct sai_nn_model *m, uint32_t root,
                               sai_error_t *err)
{
    int nt = sai_nn_model_num_tensors(m);
    size_t n = 0, off = 0;
    for (int i = 0; i < nt; i++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, i, &ti);
        if (!ti.trainable)
            n += ti.numel;
    }
    if (n == 0)
        return 0;
    float *buf = malloc(n * sizeof *buf);
    if (buf == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    for (int i = 0; i < nt; i++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, i, &ti);
        if (!ti.trainable) {
            memcpy(buf + off, ti.data, ti.numel * sizeof(float));
            off += ti.numel;
        }
    }
    int rc = sai_dist_broadcast(c, root, buf, n * sizeof(float), err);
    if (rc == 0) {
        off = 0;
        for (int i = 0; i < nt; i++) {
            sai_nn_tensor_info_t ti;
            sai_nn_model_tensor(m, i, &ti);
            if (!ti.trainable) {
                memcpy(ti.data, buf + off, ti.numel * sizeof(float));
                off += ti.numel;
            }
        }
    }
    free(buf);
    return rc;
}
