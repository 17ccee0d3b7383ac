/*
 * act.c — element-wise ops: ReLU and the residual add. Flat loops over
 * n*c*h*w floats, split across the engine threads and vectorised by the
 * compiler.
 */
#include "nn/nn_internal.h"

void nn_relu_forward(sai_nn_model_t *m, const nn_op *op, int n)
{
    const float *x = m->acts[op->in].x;
    float *y = m->acts[op->out].x;
    long len = (long)n * (long)m->acts[op->in].size;
    SAI_OMP(omp parallel for schedule(static))
    for (long i = 0; i < len; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void nn_relu_backward(sai_nn_model_t *m, const nn_op *op, int n)
{
    if (!m->acts[op->in].need_grad)
        return;
    const float *y = m->acts[op->out].x, *dy = m->acts[op->out].dx;
    float *dx = m->acts[op->in].dx;
    long len = (long)n * (long)m->acts[op->in].size;
    SAI_OMP(omp parallel for schedule(static))
    for (long i = 0; i < len; i++)
        dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
}

void nn_add_forward(sai_nn_model_t *m, const nn_op *op, int n)
{
    const float *a = m->acts[op->in].x, *b = m->acts[op->in2].x;
    float *y = m->acts[op->out].x;
    long len = (long)n * (long)m->acts[op->out].size;
    if (op->relu) {
        SAI_OMP(omp parallel for schedule(static))
        for (long i = 0; i < len; i++) {
            float v = a[i] + b[i];
            y[i] = v > 0.0f ? v : 0.0f;
        }
        return;
    }
    SAI_OMP(omp parallel for schedule(static))
    for (long i = 0; i < len; i++)
        y[i] = a[i] + b[i];
}

void nn_add_backward(sai_nn_model_t *m, const nn_op *op, int n)
{
    const float *dy = m->acts[op->out].dx, *y = m->acts[op->out].x;
    float *da = m->acts[op->in].dx, *db = m->acts[op->in2].dx;
    long len = (long)n * (long)m->acts[op->out].size;
    bool ga = m->acts[op->in].need_grad, gb = m->acts[op->in2].need_grad, relu = op->relu;
    SAI_OMP(omp parallel for schedule(static))
    for (long i = 0; i < len; i++) {
        float g = (relu && !(y[i] > 0.0f)) ? 0.0f : dy[i];
        if (ga) da[i] += g;
        if (gb) db[i] += g;
    }
}
