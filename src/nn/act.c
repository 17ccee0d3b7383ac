/*
 * act.c — element-wise ops: ReLU and the residual add (optionally with a
 * fused ReLU). Flat loops over n*c*h*w floats, split across the engine
 * threads in contiguous chunks and vectorised by the compiler.
 */
#include "nn/nn_internal.h"

typedef struct {
    const float *a, *b, *y, *dy;
    float *out, *da, *db;
    bool relu, ga, gb;
} ew_ctx;

static void relu_fwd(void *vc, long b, long e, int tid)
{
    const ew_ctx *c = vc;
    (void)tid;
    for (long i = b; i < e; i++)
        c->out[i] = c->a[i] > 0.0f ? c->a[i] : 0.0f;
}

static void relu_bwd(void *vc, long b, long e, int tid)
{
    const ew_ctx *c = vc;
    (void)tid;
    for (long i = b; i < e; i++)
        c->da[i] += c->y[i] > 0.0f ? c->dy[i] : 0.0f;
}

static void add_fwd(void *vc, long b, long e, int tid)
{
    const ew_ctx *c = vc;
    (void)tid;
    if (c->relu) {
        for (long i = b; i < e; i++) {
            float v = c->a[i] + c->b[i];
            c->out[i] = v > 0.0f ? v : 0.0f;
        }
    } else {
        for (long i = b; i < e; i++)
            c->out[i] = c->a[i] + c->b[i];
    }
}

static void add_bwd(void *vc, long b, long e, int tid)
{
    const ew_ctx *c = vc;
    (void)tid;
    for (long i = b; i < e; i++) {
        float g = (c->relu && !(c->y[i] > 0.0f)) ? 0.0f : c->dy[i];
        if (c->ga) c->da[i] += g;
        if (c->gb) c->db[i] += g;
    }
}

void nn_relu_forward(sai_nn_model_t *m, const nn_op *op, int n)
{
    ew_ctx c = {.a = m->acts[op->in].x, .out = m->acts[op->out].x};
    long len = (long)n * (long)m->acts[op->in].size;
    nn_parallel(len, nn_grain((size_t)len), relu_fwd, &c);
}

void nn_relu_backward(sai_nn_model_t *m, const nn_op *op, int n)
{
    if (!m->acts[op->in].need_grad)
        return;
    ew_ctx c = {.y = m->acts[op->out].x, .dy = m->acts[op->out].dx, .da = m->acts[op->in].dx};
    long len = (long)n * (long)m->acts[op->in].size;
    nn_parallel(len, nn_grain((size_t)len), relu_bwd, &c);
}

void nn_add_forward(sai_nn_model_t *m, const nn_op *op, int n)
{
    ew_ctx c = {.a = m->acts[op->in].x, .b = m->acts[op->in2].x, .out = m->acts[op->out].x,
                .relu = op->relu};
    long len = (long)n * (long)m->acts[op->out].size;
    nn_parallel(len, nn_grain((size_t)len), add_fwd, &c);
}

void nn_add_backward(sai_nn_model_t *m, const nn_op *op, int n)
{
    ew_ctx c = {.y = m->acts[op->out].x, .dy = m->acts[op->out].dx, .da = m->acts[op->in].dx,
                .db = m->acts[op->in2].dx, .relu = op->relu,
                .ga = m->acts[op->in].need_grad, .gb = m->acts[op->in2].need_grad};
    long len = (long)n * (long)m->acts[op->out].size;
    nn_parallel(len, nn_grain((size_t)len), add_bwd, &c);
}
