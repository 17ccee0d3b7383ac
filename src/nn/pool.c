/*
 * pool.c — max pooling and average pooling (k x k, stride s, no padding)
 * and global average pooling, forward and backward, parallel over the
 * n*c planes, with explicit shapes (the driver, model.c, reads the
 * activation table). Max pooling recomputes the arg-max in backward (first maximum
 * wins, like PyTorch) instead of storing indices.
 */
#include <float.h>

#include "nn/nn_internal.h"

typedef enum { POOL_MAX, POOL_AVG, POOL_GAP } pool_kind;

typedef struct {
    float *y, *dx;
    const float *x, *dy;
    int H, W, Ho, Wo, k, s;
    pool_kind kind;
    bool fresh;   /* backward, GAP: dx is stale, store (see sai_nn__bwd_stores) */
} pool_ctx;

static void pool_fwd_task(void *vc, long p0, long p1, int tid)
{
    const pool_ctx *cx = vc;
    int H = cx->H, W = cx->W, Ho = cx->Ho, Wo = cx->Wo, k = cx->k, s = cx->s;
    size_t HW = (size_t)H * W, HWo = (size_t)Ho * Wo;
    pool_kind kind = cx->kind;
    (void)tid;
    for (long pl = p0; pl < p1; pl++) {
        const float *x = cx->x + (size_t)pl * HW;
        float *y = cx->y + (size_t)pl * HWo;
        if (kind == POOL_GAP) {
            float sum = 0.0f;
            for (size_t j = 0; j < HW; j++)
                sum += x[j];
            y[0] = sum / (float)HW;
            continue;
        }
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                float acc = kind == POOL_MAX ? -FLT_MAX : 0.0f;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        float v = x[(size_t)(oh * s + i) * W + ow * s + j];
                        if (kind == POOL_MAX)
                            acc = v > acc ? v : acc;
                        else
                            acc += v;
                    }
                y[oh * Wo + ow] = kind == POOL_MAX ? acc : acc / (float)(k * k);
            }
    }
}

/* y[NC][Ho][Wo] = max or mean over k x k windows of x[NC][H][W], stride s,
 * no padding (Ho = (H - k) / s + 1, as the builder sizes it) */
void sai_nn__pool_forward(float *y, const float *x, int NC, int H, int W, int k, int s, bool max,
                          int T)
{
    pool_ctx c = {.y = y, .x = x, .H = H, .W = W, .Ho = (H - k) / s + 1, .Wo = (W - k) / s + 1,
                  .k = k, .s = s, .kind = max ? POOL_MAX : POOL_AVG};
    sai_nn__parallel(NC, sai_nn__grain(T, (size_t)NC * H * W), pool_fwd_task, &c);
}

/* y[NC] = mean of each plane of x[NC][HW] */
void sai_nn__gap_forward(float *y, const float *x, int NC, int HW, int T)
{
    pool_ctx c = {.y = y, .x = x, .H = HW, .W = 1, .Ho = 1, .Wo = 1, .kind = POOL_GAP};
    sai_nn__parallel(NC, sai_nn__grain(T, (size_t)NC * HW), pool_fwd_task, &c);
}

static void pool_bwd_task(void *vc, long p0, long p1, int tid)
{
    const pool_ctx *cx = vc;
    int H = cx->H, W = cx->W, Ho = cx->Ho, Wo = cx->Wo, k = cx->k, s = cx->s;
    size_t HW = (size_t)H * W, HWo = (size_t)Ho * Wo;
    pool_kind kind = cx->kind;
    (void)tid;
    for (long pl = p0; pl < p1; pl++) {
        const float *x = kind == POOL_GAP ? NULL : cx->x + (size_t)pl * HW;   /* GAP: no x */
        const float *dy = cx->dy + (size_t)pl * HWo;
        float *dx = cx->dx + (size_t)pl * HW;
        if (kind == POOL_GAP) {
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
                if (kind == POOL_AVG) {
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

/* dx[NC][H][W] += the window gradients of dy[NC][Ho][Wo] (max: to the first
 * arg-max of x, recomputed) */
void sai_nn__pool_backward(float *dx, const float *x, const float *dy, int NC, int H, int W, int k,
                           int s, bool max, int T)
{
    pool_ctx c = {.dx = dx, .x = x, .dy = dy, .H = H, .W = W, .Ho = (H - k) / s + 1,
                  .Wo = (W - k) / s + 1, .k = k, .s = s, .kind = max ? POOL_MAX : POOL_AVG};
    sai_nn__parallel(NC, sai_nn__grain(T, (size_t)NC * H * W), pool_bwd_task, &c);
}

/* dx[NC][HW] (=|+=) dy[NC] / HW; fresh: store */
void sai_nn__gap_backward(float *dx, const float *dy, int NC, int HW, bool fresh, int T)
{
    pool_ctx c = {.dx = dx, .dy = dy, .H = HW, .W = 1, .Ho = 1, .Wo = 1, .kind = POOL_GAP,
                  .fresh = fresh};
    sai_nn__parallel(NC, sai_nn__grain(T, (size_t)NC * HW), pool_bwd_task, &c);
}
