/*
 * act.c — element-wise ops: ReLU and the residual add (optionally with a
 * fused ReLU). Flat loops over n*c*h*w floats, split across the engine
 * threads in contiguous chunks and vectorised by the compiler (separate
 * loops per case, restrict pointers, so that each one vectorises).
 *
 * Kernels take explicit pointers and lengths; the driver (model.c) reads
 * the activation table. Backward stores into an input gradient whose live
 * range starts here (`fresh`, nn_dx_fresh in the driver) instead of accumulating into a zeroed buffer: in a ResNet
 * both inputs of every residual add start there, and the add's backward
 * then writes two buffers instead of zeroing, reading and writing them.
 */
#include "nn/nn_internal.h"

typedef struct {
    const float *a, *b, *y, *dy;
    float *out, *da, *db;
    bool relu, ga, gb, fa, fb;   /* fa/fb: da/db are fresh (store) */
} ew_ctx;

/* y > 0 ? g : 0 with g read unconditionally, so that the loops if-convert
 * and vectorise (a conditional load kept them scalar, with a branch on the
 * sign of y: 2.6% of a ResNet-8 step in add_bwd alone) */
static inline float relu_mask(float y, float g)
{
    return y > 0.0f ? g : 0.0f;
}

static void relu_fwd(void *vc, long b, long e, int tid)
{
    const ew_ctx *c = vc;
    const float *restrict a = c->a;
    float *restrict out = c->out;
    (void)tid;
    for (long i = b; i < e; i++)
        out[i] = a[i] > 0.0f ? a[i] : 0.0f;
}

static void relu_bwd(void *vc, long b, long e, int tid)
{
    const ew_ctx *c = vc;
    const float *restrict y = c->y, *restrict dy = c->dy;
    float *restrict da = c->da;
    (void)tid;
    if (c->fa)
        for (long i = b; i < e; i++)
            da[i] = relu_mask(y[i], dy[i]);
    else
        for (long i = b; i < e; i++)
            da[i] += relu_mask(y[i], dy[i]);
}

static void add_fwd(void *vc, long b, long e, int tid)
{
    const ew_ctx *c = vc;
    const float *restrict x1 = c->a, *restrict x2 = c->b;
    float *restrict out = c->out;
    (void)tid;
    if (c->relu) {
        for (long i = b; i < e; i++) {
            float v = x1[i] + x2[i];
            out[i] = v > 0.0f ? v : 0.0f;
        }
    } else {
        for (long i = b; i < e; i++)
            out[i] = x1[i] + x2[i];
    }
}

/* one input gradient: d (=|+=) g, g = dy masked by y > 0 when relu */
static void add_bwd_one(const float *restrict y, const float *restrict dy, float *restrict d,
                        long b, long e, bool relu, bool fresh)
{
    if (relu && fresh)
        for (long i = b; i < e; i++)
            d[i] = relu_mask(y[i], dy[i]);
    else if (relu)
        for (long i = b; i < e; i++)
            d[i] += relu_mask(y[i], dy[i]);
    else if (fresh)
        for (long i = b; i < e; i++)
            d[i] = dy[i];
    else
        for (long i = b; i < e; i++)
            d[i] += dy[i];
}

static void add_bwd(void *vc, long b, long e, int tid)
{
    const ew_ctx *c = vc;
    const float *restrict y = c->y, *restrict dy = c->dy;
    float *restrict da = c->da, *restrict db = c->db;
    (void)tid;
    if (c->ga && c->gb && c->fa && c->fb) {
        /* the ResNet case: one pass writes both */
        if (c->relu)
            for (long i = b; i < e; i++) {
                float g = relu_mask(y[i], dy[i]);
                da[i] = g;
                db[i] = g;
            }
        else
            for (long i = b; i < e; i++) {
                da[i] = dy[i];
                db[i] = dy[i];
            }
        return;
    }
    if (c->ga)
        add_bwd_one(y, dy, da, b, e, c->relu, c->fa);
    if (c->gb)
        add_bwd_one(y, dy, db, b, e, c->relu, c->fb);
}

/* y[len] = max(x, 0) */
void sai_nn__relu_forward(float *y, const float *x, long len, int T)
{
    ew_ctx c = {.a = x, .out = y};
    sai_nn__parallel(len, sai_nn__grain(T, (size_t)len), relu_fwd, &c);
}

/* dx[len] (=|+=) dy masked by y > 0; fresh: store */
void sai_nn__relu_backward(float *dx, const float *y, const float *dy, long len, bool fresh, int T)
{
    ew_ctx c = {.y = y, .dy = dy, .da = dx, .fa = fresh};
    sai_nn__parallel(len, sai_nn__grain(T, (size_t)len), relu_bwd, &c);
}

/* y[len] = a + b (relu: then max(., 0)) */
void sai_nn__add_forward(float *y, const float *a, const float *b, long len, bool relu, int T)
{
    ew_ctx c = {.a = a, .b = b, .out = y, .relu = relu};
    sai_nn__parallel(len, sai_nn__grain(T, (size_t)len), add_fwd, &c);
}

/* da[len], db[len] (=|+=) dy (relu: masked by y > 0); a NULL gradient is
 * not needed; fa/fb: store. da == db (x + x) takes fb = false. */
void sai_nn__add_backward(float *da, float *db, const float *y, const float *dy, long len, bool relu,
                          bool fa, bool fb, int T)
{
    ew_ctx c = {.y = y, .dy = dy, .da = da, .db = db, .relu = relu,
                .ga = da != NULL, .gb = db != NULL, .fa = fa, .fb = fb};
    sai_nn__parallel(len, sai_nn__grain(T, (size_t)len), add_bwd, &c);
}
