/*
 * bn.c — batch normalisation over N,H,W per channel (PyTorch semantics:
 * eps 1e-5, momentum 0.1, biased variance to normalise, unbiased variance
 * into the running estimate). Training mode saves the batch mean and
 * 1/sqrt(var+eps) per channel for the backward pass; evaluation mode uses
 * the running statistics. Parallel over channels.
 */
#include <math.h>

#include "nn/nn_internal.h"

#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f

typedef struct {
    sai_nn_model_t *m;
    nn_op *op;
    int n;
    bool train;
} bn_ctx;

static void bn_fwd_task(void *vc, long c0, long c1, int tid)
{
    const bn_ctx *cx = vc;
    sai_nn_model_t *m = cx->m;
    nn_op *op = cx->op;
    int n = cx->n;
    bool train = cx->train;
    (void)tid;
    const nn_act *a = &m->acts[op->in], *o = &m->acts[op->out];
    const float *g = m->tensors[op->w].data, *b = m->tensors[op->b].data;
    float *rm = m->tensors[op->rm].data, *rv = m->tensors[op->rv].data;
    size_t HW = (size_t)a->h * a->w, M = (size_t)n * HW;
    bool relu = op->relu;
    for (long c = c0; c < c1; c++) {
        float mean, istd;
        if (train) {
            double sum = 0.0;
            for (int i = 0; i < n; i++) {
                const float *x = a->x + (size_t)i * a->size + (size_t)c * HW;
                float s = 0.0f;
                for (size_t j = 0; j < HW; j++)
                    s += x[j];
                sum += s;
            }
            mean = (float)(sum / (double)M);
            double sq = 0.0;
            for (int i = 0; i < n; i++) {
                const float *x = a->x + (size_t)i * a->size + (size_t)c * HW;
                float s = 0.0f;
                for (size_t j = 0; j < HW; j++) {
                    float d = x[j] - mean;
                    s += d * d;
                }
                sq += s;
            }
            float var = (float)(sq / (double)M);
            istd = 1.0f / sqrtf(var + BN_EPS);
            op->save_mean[c] = mean;
            op->save_istd[c] = istd;
            float unbiased = M > 1 ? (float)(sq / (double)(M - 1)) : var;
            rm[c] = (1.0f - BN_MOMENTUM) * rm[c] + BN_MOMENTUM * mean;
            rv[c] = (1.0f - BN_MOMENTUM) * rv[c] + BN_MOMENTUM * unbiased;
        } else {
            mean = rm[c];
            istd = 1.0f / sqrtf(rv[c] + BN_EPS);
        }
        float scale = g[c] * istd, shift = b[c] - mean * scale;
        for (int i = 0; i < n; i++) {
            const float *x = a->x + (size_t)i * a->size + (size_t)c * HW;
            float *y = o->x + (size_t)i * o->size + (size_t)c * HW;
            if (relu) {
                for (size_t j = 0; j < HW; j++) {
                    float v = x[j] * scale + shift;
                    y[j] = v > 0.0f ? v : 0.0f;
                }
            } else {
                for (size_t j = 0; j < HW; j++)
                    y[j] = x[j] * scale + shift;
            }
        }
    }
}

void nn_bn_forward(sai_nn_model_t *m, nn_op *op, int n, bool train)
{
    bn_ctx c = {m, op, n, train};
    nn_parallel(m->acts[op->in].c, nn_grain((size_t)n * m->acts[op->in].size), bn_fwd_task, &c);
}

static void bn_bwd_task(void *vc, long c0, long c1, int tid)
{
    const bn_ctx *cx = vc;
    sai_nn_model_t *m = cx->m;
    const nn_op *op = cx->op;
    int n = cx->n;
    (void)tid;
    const nn_act *a = &m->acts[op->in], *o = &m->acts[op->out];
    const float *g = m->tensors[op->w].data;
    float *dg = m->tensors[op->w].grad, *db = m->tensors[op->b].grad;
    size_t HW = (size_t)a->h * a->w, M = (size_t)n * HW;
    bool relu = op->relu;
    for (long c = c0; c < c1; c++) {
        float mean = op->save_mean[c], istd = op->save_istd[c];
        double sdy = 0.0, sdyx = 0.0;
        for (int i = 0; i < n; i++) {
            const float *x = a->x + (size_t)i * a->size + (size_t)c * HW;
            const float *y = o->x + (size_t)i * o->size + (size_t)c * HW;
            float *dy = o->dx + (size_t)i * o->size + (size_t)c * HW;
            float s1 = 0.0f, s2 = 0.0f;
            if (relu)   /* fused ReLU: mask the incoming gradient in place, once */
                for (size_t j = 0; j < HW; j++)
                    dy[j] = y[j] > 0.0f ? dy[j] : 0.0f;
            for (size_t j = 0; j < HW; j++) {
                s1 += dy[j];
                s2 += dy[j] * (x[j] - mean);
            }
            sdy += s1;
            sdyx += s2;
        }
        float sum_dy = (float)sdy, sum_dyxhat = (float)sdyx * istd;
        dg[c] += sum_dyxhat;
        db[c] += sum_dy;
        if (!a->need_grad)
            continue;
        /* dx = g*istd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat)) */
        float k1 = g[c] * istd, k2 = sum_dy / (float)M, k3 = sum_dyxhat / (float)M * istd;
        for (int i = 0; i < n; i++) {
            const float *x = a->x + (size_t)i * a->size + (size_t)c * HW;
            const float *dy = o->dx + (size_t)i * o->size + (size_t)c * HW;
            float *dx = a->dx + (size_t)i * a->size + (size_t)c * HW;
            for (size_t j = 0; j < HW; j++)
                dx[j] += k1 * (dy[j] - k2 - (x[j] - mean) * k3);
        }
    }
}

void nn_bn_backward(sai_nn_model_t *m, const nn_op *op, int n)
{
    bn_ctx c = {m, (nn_op *)op, n, true};
    nn_parallel(m->acts[op->in].c, nn_grain((size_t)n * m->acts[op->in].size), bn_bwd_task, &c);
}
