/*
 * linear.c — fully connected layer y = x W^T + b over the flattened input
 * (x [n][in], W [out][in]). Three sgemms; BLAS gets the engine's threads
 * for their duration because nothing else runs in parallel around them.
 */
#include <cblas.h>

#include "nn/nn_internal.h"

void sai_nn__linear_forward(sai_nn_model_t *m, const nn_op *op, int n, int T)
{
    const nn_act *a = &m->acts[op->in], *o = &m->acts[op->out];
    const float *W = m->tensors[op->w].data, *b = m->tensors[op->b].data;
    int in = (int)a->size, out = (int)o->size;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < out; j++)
            o->x[(size_t)i * out + j] = b[j];
    bool big = (double)n * in * out > 1e6;   /* small GEMMs: a BLAS hand-off costs more */
    if (big)
        openblas_set_num_threads(T);
    /* y[n][out] += x[n][in] * W[out][in]^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, a->x, in, W, in,
                1.0f, o->x, out);
    if (big)
        openblas_set_num_threads(1);
}

void sai_nn__linear_backward(sai_nn_model_t *m, const nn_op *op, int n, int T)
{
    const nn_act *a = &m->acts[op->in], *o = &m->acts[op->out];
    nn_tensor *wt = &m->tensors[op->w], *bt = &m->tensors[op->b];
    int in = (int)a->size, out = (int)o->size;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < out; j++)
            bt->grad[j] += o->dx[(size_t)i * out + j];
    bool big = (double)n * in * out > 1e6;
    if (big)
        openblas_set_num_threads(T);
    /* dW[out][in] += dy[n][out]^T * x[n][in] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, o->dx, out, a->x, in,
                1.0f, wt->grad, in);
    /* dx[n][in] += dy[n][out] * W[out][in] */
    if (a->need_grad)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, o->dx, out,
                    wt->data, in, 1.0f, a->dx, in);
    if (big)
        openblas_set_num_threads(1);
}
