/*
 * test_nn_kernels.c — the convolution (im2col and Winograd) and batch-norm
 * kernels need nothing from the model (issue 12 part 4 (b)): called with
 * explicit shapes on caller-owned buffers, with a workspace sized by
 * sai_nn__conv_ws_fit for that one layer, they reproduce bit for bit what
 * the model computed for the same op in a training step — outputs, saved
 * and running statistics, weight and input gradients. Forward on every
 * convolution and batch norm of a ResNet-8 (im2col stem, Winograd 3x3,
 * stride-2 and 1x1 shortcuts, grouped small maps), backward on one-layer
 * models (whose gradient buffers are not reused by a later op).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "secureai/nn.h"
#include "nn/nn_internal.h"

#define THREADS 2

/* A workspace of our own for one convolution op of m, sized for it alone. */
typedef struct {
    nn_conv_ws ws;
    void *mem;
} own_ws;

static void ws_open(own_ws *o, const sai_nn_model_t *m, const nn_op *op, bool wino)
{
    const nn_act *a = &m->acts[op->in];
    memset(o, 0, sizeof(*o));
    o->ws.max_batch = m->max_batch;
    o->ws.winograd = wino;
    sai_nn__conv_ws_fit(&o->ws, a->c, a->h, a->w, m->acts[op->out].c, op->k, op->stride, op->pad,
                        true);
    size_t T = THREADS, n = 2 * T * o->ws.col_floats + T * o->ws.dw_floats +
                           T * o->ws.ybuf_floats + T * o->ws.wino_floats + o->ws.wino_u_floats +
                           T * o->ws.wino_tap_floats;
    o->mem = sai_nn__aligned_alloc((n + 16) * sizeof(float));
    assert_non_null(o->mem);
    float *p = o->mem;
    o->ws.col = p;      p += T * o->ws.col_floats;
    o->ws.dcol = p;     p += T * o->ws.col_floats;
    o->ws.dwbuf = p;    p += T * o->ws.dw_floats;
    o->ws.ybuf = p;     p += T * o->ws.ybuf_floats;
    o->ws.wino = p;     p += T * o->ws.wino_floats;
    o->ws.wino_tap = p; p += T * o->ws.wino_tap_floats;
    o->ws.wino_u = p;
}

static float *fbuf(size_t n, float fill)
{
    float *p = sai_nn__aligned_alloc((n + 16) * sizeof(float));
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = fill;
    return p;
}

static void assert_same(const float *got, const float *want, size_t n, const char *what, int op)
{
    if (memcmp(got, want, n * sizeof(float)) != 0) {
        size_t i = 0;
        while (memcmp(&got[i], &want[i], sizeof(float)) == 0)
            i++;
        fail_msg("op %d %s: element %zu is %.9g, the model's %.9g", op, what, i, (double)got[i],
                 (double)want[i]);
    }
}

static sai_nn_model_t *train_step(const char *name, int C, int H, int W, int n, unsigned flags,
                                  float ***rm0, float ***rv0)
{
    sai_error_t err;
    sai_nn_model_t *m;
    sai_nn_set_threads(THREADS);
    assert_int_equal(sai_nn_model_create_ex(&m, name, C, H, W, 10, n, 7, flags, &err), 0);
    sai_nn_set_input_grad(m, true);
    /* the running statistics before the step (forward updates them) */
    *rm0 = calloc((size_t)m->nops, sizeof(float *));
    *rv0 = calloc((size_t)m->nops, sizeof(float *));
    assert_non_null(*rm0);
    assert_non_null(*rv0);
    for (int i = 0; i < m->nops; i++) {
        const nn_op *op = &m->ops[i];
        if (op->kind != OP_BN)
            continue;
        size_t c = (size_t)m->acts[op->in].c;
        (*rm0)[i] = fbuf(c, 0.0f);
        (*rv0)[i] = fbuf(c, 0.0f);
        memcpy((*rm0)[i], m->tensors[op->rm].data, c * sizeof(float));
        memcpy((*rv0)[i], m->tensors[op->rv].data, c * sizeof(float));
    }
    size_t img = (size_t)C * H * W;
    float *x = malloc((size_t)n * img * sizeof(float));
    int *y = malloc((size_t)n * sizeof(int));
    assert_non_null(x);
    assert_non_null(y);
    uint64_t rng = 11;
    for (size_t i = 0; i < (size_t)n * img; i++)
        x[i] = 2.0f * sai_nn_rng_uniform(&rng) - 1.0f;
    for (int i = 0; i < n; i++)
        y[i] = i % 10;
    assert_non_null(sai_nn_forward(m, x, n, true));
    sai_nn_loss(m, y, n, NULL);
    sai_nn_zero_grad(m);
    sai_nn_backward(m, n);
    free(x);
    free(y);
    return m;
}

static void free_stats(const sai_nn_model_t *m, float **rm0, float **rv0)
{
    for (int i = 0; i < m->nops; i++) {
        sai_nn__aligned_free(rm0[i]);
        sai_nn__aligned_free(rv0[i]);
    }
    free(rm0);
    free(rv0);
}

/* Forward of op i of m, replayed on our own buffers; returns 1 if replayed. */
static int replay_forward(const sai_nn_model_t *m, int i, float *const *rm0, float *const *rv0,
                          bool wino)
{
    const nn_op *op = &m->ops[i];
    const nn_act *a = &m->acts[op->in], *o = &m->acts[op->out];
    int n = m->last_n;
    size_t ysz = (size_t)n * o->size;
    float *y = fbuf(ysz, -3.0f);
    if (op->kind == OP_CONV) {
        own_ws w;
        ws_open(&w, m, op, wino);
        sai_nn__conv_forward(y, a->x, m->tensors[op->w].data, n, a->c, a->h, a->w, o->c, op->k,
                             op->stride, op->pad, &w.ws, THREADS);
        sai_nn__aligned_free(w.mem);
        assert_same(y, o->x, ysz, "conv output", i);
    } else if (op->kind == OP_BN) {
        size_t c = (size_t)a->c;
        nn_bn_saved sv = {fbuf(c, 0.0f), fbuf(c, 0.0f), fbuf(c, 0.0f), fbuf(c, 0.0f)};
        float *rm = fbuf(c, 0.0f), *rv = fbuf(c, 0.0f);
        memcpy(rm, rm0[i], c * sizeof(float));
        memcpy(rv, rv0[i], c * sizeof(float));
        sai_nn__bn_forward(y, a->x, m->tensors[op->w].data, m->tensors[op->b].data, rm, rv, &sv,
                           n, a->c, a->h * a->w, true, op->relu, THREADS);
        assert_same(y, o->x, ysz, "bn output", i);
        assert_same(sv.mean, op->save.mean, c, "bn saved mean", i);
        assert_same(sv.istd, op->save.istd, c, "bn saved 1/std", i);
        assert_same(sv.scale, op->save.scale, c, "bn saved scale", i);
        assert_same(sv.shift, op->save.shift, c, "bn saved shift", i);
        assert_same(rm, m->tensors[op->rm].data, c, "bn running mean", i);
        assert_same(rv, m->tensors[op->rv].data, c, "bn running var", i);
        float *bufs[] = {sv.mean, sv.istd, sv.scale, sv.shift, rm, rv};
        for (size_t b = 0; b < sizeof bufs / sizeof bufs[0]; b++)
            sai_nn__aligned_free(bufs[b]);
    } else {
        sai_nn__aligned_free(y);
        return 0;
    }
    sai_nn__aligned_free(y);
    return 1;
}

static void check_resnet8(unsigned flags, int n)
{
    float **rm0, **rv0;
    sai_nn_model_t *m = train_step("resnet8", 3, 32, 32, n, flags, &rm0, &rv0);
    int convs = 0, wino = 0, bns = 0;
    for (int i = 0; i < m->nops; i++) {
        const nn_op *op = &m->ops[i];
        const nn_act *a = &m->acts[op->in];
        bool w = (flags & SAI_NN_NO_WINOGRAD) == 0;
        if (op->kind == OP_CONV) {
            convs++;
            wino += w && sai_nn__wino_eligible(&m->conv_ws, n, a->c, a->h, a->w,
                                               m->acts[op->out].c, op->k, op->stride, op->pad);
        }
        bns += op->kind == OP_BN;
        replay_forward(m, i, rm0, rv0, w);
    }
    print_message("resnet8 n=%d%s: %d convolutions (%d Winograd), %d batch norms replayed\n", n,
                  flags ? " (no Winograd)" : "", convs, wino, bns);
    assert_int_equal(convs, 9);
    assert_int_equal(bns, 9);
    assert_int_equal(wino, (flags & SAI_NN_NO_WINOGRAD) ? 0 : 4);
    free_stats(m, rm0, rv0);
    sai_nn_model_free(m);
}

static void test_forward_resnet8(void **state)
{
    (void)state;
    check_resnet8(0, 5);
    check_resnet8(SAI_NN_NO_WINOGRAD, 5);
}

/* Backward of op 0 of a one-layer model (input -> op -> fc), replayed. */
static void check_backward(const char *name, int C, int H, int W, int n)
{
    float **rm0, **rv0;
    sai_nn_model_t *m = train_step(name, C, H, W, n, 0, &rm0, &rv0);
    const nn_op *op = &m->ops[0];
    const nn_act *a = &m->acts[op->in], *o = &m->acts[op->out];
    assert_true(op->in == 0 && a->need_grad);
    size_t xsz = (size_t)n * a->size;
    const nn_tensor *wt = &m->tensors[op->w];
    float *dx, *dw = fbuf(wt->numel, 0.0f);
    if (op->kind == OP_CONV) {
        own_ws w;
        ws_open(&w, m, op, true);
        dx = fbuf(xsz, 0.0f);   /* accumulates: the driver zeroes it first */
        sai_nn__conv_backward(dx, dw, o->dx, a->x, wt->data, n, a->c, a->h, a->w, o->c, op->k,
                              op->stride, op->pad, &w.ws, THREADS);
        sai_nn__aligned_free(w.mem);
    } else {
        assert_int_equal(op->kind, OP_BN);
        float *db = fbuf((size_t)a->c, 0.0f);
        dx = fbuf(xsz, 7.0f);   /* stale data: BN stores into a fresh gradient */
        assert_true(nn_dx_fresh(m, op, op->in));
        sai_nn__bn_backward(dx, dw, db, o->dx, a->x, wt->data, &op->save, n, a->c, a->h * a->w,
                            op->relu, true, THREADS);
        assert_same(db, m->tensors[op->b].grad, (size_t)a->c, "bn beta gradient", 0);
        sai_nn__aligned_free(db);
    }
    assert_same(dw, wt->grad, wt->numel, "weight gradient", 0);
    assert_same(dx, sai_nn_input_grad(m), xsz, "input gradient", 0);
    print_message("%s %dx%dx%d n=%d: gradients replayed bit for bit\n", name, C, H, W, n);
    sai_nn__aligned_free(dx);
    sai_nn__aligned_free(dw);
    free_stats(m, rm0, rv0);
    sai_nn_model_free(m);
}

static void test_backward(void **state)
{
    (void)state;
    check_backward("test-wino", 8, 13, 9, 5);        /* Winograd, partial tiles */
    check_backward("test-wino", 8, 4, 4, 1);         /* under 8 tiles: im2col */
    check_backward("test-conv3x3s2", 3, 9, 7, 4);    /* even/odd split, col2im */
    check_backward("test-conv1x1", 4, 6, 6, 3);      /* direct sgemm */
    check_backward("test-conv5x5", 2, 6, 5, 9);      /* grouped images (P < 256) */
    check_backward("test-bn", 3, 5, 5, 9);           /* AVX2 eight-image blocks + tail */
    check_backward("test-bnrelu", 4, 3, 3, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_resnet8),
        cmocka_unit_test(test_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
