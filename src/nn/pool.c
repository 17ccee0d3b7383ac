/*
 * pool.c — max pooling and average pooling (k x k, stride s, no padding)
 * and global average pooling, forward and backward, parallel over the
 * n*c planes. Max pooling recomputes the arg-max in backward (first maximum
 * wins, like PyTorch) instead of storing indices.
 */
#include <float.h>

#include "nn/nn_internal.h"

typedef struct {
    const sai_nn_model_t *m;
    const nn_op *op;
    bool fresh;   /* backward, GAP: dx is stale, store (see sai_nn__bwd_stores) */
} pool_ctx;

static void pool_fwd_task(void *vc, long p0, long p1, int tid)
{
    const pool_ctx *cx = vc;
    const nn_op *op = cx->op;
    const nn_act *a = &cx->m->acts[op->in], *o = &cx->m->acts[op->out];
    int H = a->h, W = a->w, Ho = o->h, Wo = o->w, k = op->k, s = op->stride;
    size_t HW = (size_t)H * W, HWo = (size_t)Ho * Wo;
    nn_op_kind kind = op->kind;
    (void)tid;
    for (long pl = p0; pl < p1; pl++) {
        const float *x = a->x + (size_t)pl * HW;
        float *y = o->x + (size_t)pl * HWo;
        if (kind == OP_GAP) {
            float sum = 0.0f;
            for (size_t j = 0; j < HW; j++)
                sum += x[j];
            y[0] = sum / (float)HW;
            continue;
        }
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                float acc = kind == OP_MAXPOOL ? -FLT_MAX : 0.0f;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        float v = x[(size_t)(oh * s + i) * W + ow * s + j];
                        if (kind == OP_MAXPOOL)
                            acc = v > acc ? v : acc;
                        else
                            acc += v;
                    }
                y[oh * Wo + ow] = kind == OP_MAXPOOL ? acc : acc / (float)(k * k);
            }
    }
}

void sai_nn__pool_forward(sai_nn_model_t *m, const nn_op *op, int n, int T)
{
    pool_ctx c = {m, op, false};
    sai_nn__parallel((long)n * m->acts[op->in].c, sai_nn__grain(T, (size_t)n * m->acts[op->in].size), pool_fwd_task, &c);
}

static void pool_bwd_task(void *vc, long p0, long p1, int tid)
{
    const pool_ctx *cx = vc;
    const nn_op *op = cx->op;
    const nn_act *a = &cx->m->acts[op->in], *o = &cx->m->acts[op->out];
    int H = a->h, W = a->w, Ho = o->h, Wo = o->w, k = op->k, s = op->stride;
    size_t HW = (size_t)H * W, HWo = (size_t)Ho * Wo;
    nn_op_kind kind = op->kind;
    (void)tid;
    for (long pl = p0; pl < p1; pl++) {
        const float *x = a->x + (size_t)pl * HW;
        const float *dy = o->dx + (size_t)pl * HWo;
        float *dx = a->dx + (size_t)pl * HW;
        if (kind == OP_GAP) {
            float g = dy[0] / (float)HW;
            if (cx->fresh)   /* first writer of dx (nn_dx_fresh): store */
                for (size_t j = 0; j < HW; j++)
                    dx[j] = g;
            else
                for (size_t j = 0; j < HW; j++)
                    dx[j] += g;
            continue;
        }
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                float g = dy[oh * Wo + ow];
                if (kind == OP_AVGPOOL) {
                    g /= (float)(k * k);
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++)
                            dx[(size_t)(oh * s + i) * W + ow * s + j] += g;
                    continue;
                }
                size_t best = (size_t)(oh * s) * W + ow * s;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        size_t q = (size_t)(oh * s + i) * W + ow * s + j;
                        if (x[q] > x[best])
                            best = q;
                    }
                dx[best] += g;
            }
    }
}

void sai_nn__pool_backward(sai_nn_model_t *m, const nn_op *op, int n, int T)
{
    if (!m->acts[op->in].need_grad)
        return;
    pool_ctx c = {m, op, op->kind == OP_GAP && nn_dx_fresh(m, op, op->in)};
    sai_nn__parallel((long)n * m->acts[op->in].c, sai_nn__grain(T, (size_t)n * m->acts[op->in].size), pool_bwd_task, &c);
}
