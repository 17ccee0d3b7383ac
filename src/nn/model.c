/*
 * model.c — the model graph: builders for the ResNet family and the small
 * CNN, the arena that owns every tensor, and the forward/backward drivers.
 *
 * A model is a flat list of ops over a table of activations (one per op
 * output, each sized for max_batch images together with its gradient) and a
 * table of named tensors whose names follow torchvision's state_dict
 * ("layer1.0.conv1.weight", "bn1.running_mean", "fc.bias"), so weights map
 * one to one onto the PyTorch reference in tests/nn/torch_ref.py.
 * Everything lives in one 64-byte aligned arena allocated at build time:
 * forward, backward and the optimizer step allocate nothing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "secureai/util.h"
#include "nn/nn_internal.h"

static void prof_report(void);

/* ---- builder -------------------------------------------------------------- */

static int add_act(sai_nn_model_t *m, int c, int h, int w)
{
    if (m->nacts >= SAI_NN_MAX_ACTS)
        return -1;
    nn_act *a = &m->acts[m->nacts];
    memset(a, 0, sizeof(*a));
    a->c = c; a->h = h; a->w = w;
    a->size = (size_t)c * h * w;
    a->need_grad = true;
    return m->nacts++;
}

static int add_tensor(sai_nn_model_t *m, const char *prefix, const char *suffix, bool trainable,
                      int ndim, int d0, int d1, int d2, int d3)
{
    if (m->ntensors >= SAI_NN_MAX_TENSORS)
        return -1;
    nn_tensor *t = &m->tensors[m->ntensors];
    memset(t, 0, sizeof(*t));
    if (prefix[0] != '\0')
        snprintf(t->name, sizeof(t->name), "%s.%s", prefix, suffix);
    else
        snprintf(t->name, sizeof(t->name), "%s", suffix);
    t->ndim = ndim;
    t->shape[0] = d0; t->shape[1] = d1; t->shape[2] = d2; t->shape[3] = d3;
    t->numel = 1;
    for (int i = 0; i < ndim; i++)
        t->numel *= (size_t)t->shape[i];
    t->trainable = trainable;
    return m->ntensors++;
}

static nn_op *add_op(sai_nn_model_t *m, nn_op_kind kind, int in, int out)
{
    if (m->nops >= SAI_NN_MAX_OPS)
        return NULL;
    nn_op *op = &m->ops[m->nops++];
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->in = in; op->in2 = -1; op->out = out;
    op->w = op->b = op->rm = op->rv = -1;
    return op;
}

/* A builder error (table overflow) is sticky: every helper returns -1 after it. */
static int conv(sai_nn_model_t *m, int in, int cout, int k, int stride, int pad, const char *name)
{
    if (in < 0)
        return -1;
    const nn_act *a = &m->acts[in];
    int ho = (a->h + 2 * pad - k) / stride + 1, wo = (a->w + 2 * pad - k) / stride + 1;
    int out = add_act(m, cout, ho, wo);
    int w = add_tensor(m, name, "weight", true, 4, cout, a->c, k, k);
    nn_op *op = add_op(m, OP_CONV, in, out);
    if (out < 0 || w < 0 || op == NULL)
        return -1;
    op->w = w; op->k = k; op->stride = stride; op->pad = pad;
    m->macs += (double)cout * a->c * k * k * ho * wo;
    return out;
}

static int bn(sai_nn_model_t *m, int in, const char *name)
{
    if (in < 0)
        return -1;
    const nn_act *a = &m->acts[in];
    int out = add_act(m, a->c, a->h, a->w);
    int g = add_tensor(m, name, "weight", true, 1, a->c, 0, 0, 0);
    int b = add_tensor(m, name, "bias", true, 1, a->c, 0, 0, 0);
    int rm = add_tensor(m, name, "running_mean", false, 1, a->c, 0, 0, 0);
    int rv = add_tensor(m, name, "running_var", false, 1, a->c, 0, 0, 0);
    nn_op *op = add_op(m, OP_BN, in, out);
    if (out < 0 || g < 0 || b < 0 || rm < 0 || rv < 0 || op == NULL)
        return -1;
    op->w = g; op->b = b; op->rm = rm; op->rv = rv;
    return out;
}

static int simple(sai_nn_model_t *m, nn_op_kind kind, int in, int k, int stride)
{
    if (in < 0)
        return -1;
    const nn_act *a = &m->acts[in];
    int c = a->c, h = a->h, w = a->w;
    if (kind == OP_MAXPOOL || kind == OP_AVGPOOL) {
        h = (h - k) / stride + 1;
        w = (w - k) / stride + 1;
    } else if (kind == OP_GAP) {
        h = w = 1;
    }
    int out = add_act(m, c, h, w);
    nn_op *op = add_op(m, kind, in, out);
    if (out < 0 || op == NULL)
        return -1;
    op->k = k; op->stride = stride;
    return out;
}

/* ReLU right after batch norm or a residual add is fused into that op (one
 * pass over memory instead of two, one activation fewer); the activation
 * was created by the previous op and has no other consumer yet, so the
 * op's output can simply become the ReLU's output. */
static int relu(sai_nn_model_t *m, int in)
{
    if (in < 0)
        return -1;
    nn_op *last = m->nops > 0 ? &m->ops[m->nops - 1] : NULL;
    if (last != NULL && last->out == in && !last->relu &&
        (last->kind == OP_BN || last->kind == OP_ADD)) {
        last->relu = true;
        return in;
    }
    return simple(m, OP_RELU, in, 0, 0);
}

static int add(sai_nn_model_t *m, int a, int b)
{
    if (a < 0 || b < 0)
        return -1;
    int out = add_act(m, m->acts[a].c, m->acts[a].h, m->acts[a].w);
    nn_op *op = add_op(m, OP_ADD, a, out);
    if (out < 0 || op == NULL)
        return -1;
    op->in2 = b;
    return out;
}

static int linear(sai_nn_model_t *m, int in, int outf, const char *name)
{
    if (in < 0)
        return -1;
    int inf = (int)m->acts[in].size;
    int out = add_act(m, outf, 1, 1);
    int w = add_tensor(m, name, "weight", true, 2, outf, inf, 0, 0);
    int b = add_tensor(m, name, "bias", true, 1, outf, 0, 0, 0);
    nn_op *op = add_op(m, OP_LINEAR, in, out);
    if (out < 0 || w < 0 || b < 0 || op == NULL)
        return -1;
    op->w = w; op->b = b;
    m->macs += (double)inf * outf;
    return out;
}

static int basic_block(sai_nn_model_t *m, int x, int planes, int stride, const char *p)
{
    char n[64];
    snprintf(n, sizeof(n), "%s.conv1", p);
    int y = conv(m, x, planes, 3, stride, 1, n);
    snprintf(n, sizeof(n), "%s.bn1", p);
    y = relu(m, bn(m, y, n));
    snprintf(n, sizeof(n), "%s.conv2", p);
    y = conv(m, y, planes, 3, 1, 1, n);
    snprintf(n, sizeof(n), "%s.bn2", p);
    y = bn(m, y, n);
    int sc = x;
    if (x >= 0 && (stride != 1 || m->acts[x].c != planes)) {
        snprintf(n, sizeof(n), "%s.downsample.0", p);
        sc = conv(m, x, planes, 1, stride, 0, n);
        snprintf(n, sizeof(n), "%s.downsample.1", p);
        sc = bn(m, sc, n);
    }
    return relu(m, add(m, y, sc));
}

static int bottleneck(sai_nn_model_t *m, int x, int planes, int stride, const char *p)
{
    char n[64];
    snprintf(n, sizeof(n), "%s.conv1", p);
    int y = conv(m, x, planes, 1, 1, 0, n);
    snprintf(n, sizeof(n), "%s.bn1", p);
    y = relu(m, bn(m, y, n));
    snprintf(n, sizeof(n), "%s.conv2", p);
    y = conv(m, y, planes, 3, stride, 1, n);
    snprintf(n, sizeof(n), "%s.bn2", p);
    y = relu(m, bn(m, y, n));
    snprintf(n, sizeof(n), "%s.conv3", p);
    y = conv(m, y, planes * 4, 1, 1, 0, n);
    snprintf(n, sizeof(n), "%s.bn3", p);
    y = bn(m, y, n);
    int sc = x;
    if (x >= 0 && (stride != 1 || m->acts[x].c != planes * 4)) {
        snprintf(n, sizeof(n), "%s.downsample.0", p);
        sc = conv(m, x, planes * 4, 1, stride, 0, n);
        snprintf(n, sizeof(n), "%s.downsample.1", p);
        sc = bn(m, sc, n);
    }
    return relu(m, add(m, y, sc));
}

static int build_resnet(sai_nn_model_t *m, int x, const int *blocks, const int *widths,
                        int nstages, bool bottle)
{
    x = conv(m, x, widths[0], 3, 1, 1, "conv1");
    x = relu(m, bn(m, x, "bn1"));
    for (int s = 0; s < nstages; s++) {
        for (int b = 0; b < blocks[s]; b++) {
            char p[32];
            snprintf(p, sizeof(p), "layer%d.%d", s + 1, b);
            int stride = (s > 0 && b == 0) ? 2 : 1;
            x = bottle ? bottleneck(m, x, widths[s], stride, p)
                       : basic_block(m, x, widths[s], stride, p);
        }
    }
    x = simple(m, OP_GAP, x, 0, 0);
    return linear(m, x, m->classes, "fc");
}

static int build_smallcnn(sai_nn_model_t *m, int x)
{
    x = relu(m, bn(m, conv(m, x, 32, 3, 1, 1, "conv1"), "bn1"));
    x = relu(m, bn(m, conv(m, x, 32, 3, 1, 1, "conv2"), "bn2"));
    x = simple(m, OP_MAXPOOL, x, 2, 2);
    x = relu(m, bn(m, conv(m, x, 64, 3, 1, 1, "conv3"), "bn3"));
    x = relu(m, bn(m, conv(m, x, 64, 3, 1, 1, "conv4"), "bn4"));
    x = simple(m, OP_MAXPOOL, x, 2, 2);
    x = relu(m, linear(m, x, 128, "fc1"));
    return linear(m, x, m->classes, "fc2");
}

static const char *const k_models[] = {
    "resnet8", "resnet20", "resnet56", "resnet18", "resnet50", "smallcnn", NULL,
};

bool sai_nn_model_known(const char *name)
{
    for (int i = 0; k_models[i] != NULL; i++)
        if (strcmp(name, k_models[i]) == 0)
            return true;
    return false;
}

int sai_nn__build(sai_nn_model_t *m, sai_error_t *err)
{
    int x = add_act(m, m->in_c, m->in_h, m->in_w);
    m->acts[x].need_grad = false;  /* sai_nn_set_input_grad turns it on (tests) */
    int out = -1;
    static const int cifar_w[] = {16, 32, 64}, img_w[] = {64, 128, 256, 512};
    if (strcmp(m->name, "resnet8") == 0) {
        static const int b[] = {1, 1, 1};
        out = build_resnet(m, x, b, cifar_w, 3, false);
    } else if (strcmp(m->name, "resnet20") == 0) {
        static const int b[] = {3, 3, 3};
        out = build_resnet(m, x, b, cifar_w, 3, false);
    } else if (strcmp(m->name, "resnet56") == 0) {
        static const int b[] = {9, 9, 9};
        out = build_resnet(m, x, b, cifar_w, 3, false);
    } else if (strcmp(m->name, "resnet18") == 0) {
        static const int b[] = {2, 2, 2, 2};
        out = build_resnet(m, x, b, img_w, 4, false);
    } else if (strcmp(m->name, "resnet50") == 0) {
        static const int b[] = {3, 4, 6, 3};
        out = build_resnet(m, x, b, img_w, 4, true);
    } else if (strncmp(m->name, "test-", 5) == 0) {
        /* One-layer graphs for the per-layer gradient checks (tests/nn). */
        const char *l = m->name + 5;
        if (strcmp(l, "conv3x3") == 0)       x = conv(m, x, 4, 3, 1, 1, "c");
        else if (strcmp(l, "wino") == 0)     x = conv(m, x, 9, 3, 1, 1, "c");   /* Winograd (c >= 8) */
        else if (strcmp(l, "wino256") == 0)  x = conv(m, conv(m, x, 256, 1, 1, 0, "e"), 256, 3, 1, 1, "c"); /* blocked dU */
        else if (strcmp(l, "conv3x3s2") == 0) x = conv(m, x, 4, 3, 2, 1, "c");
        else if (strcmp(l, "conv1x1") == 0)  x = conv(m, x, 5, 1, 1, 0, "c");
        else if (strcmp(l, "conv1x1s2") == 0) x = conv(m, x, 5, 1, 2, 0, "c");
        else if (strcmp(l, "conv5x5") == 0)  x = conv(m, x, 3, 5, 1, 2, "c");
        else if (strcmp(l, "convbn") == 0)   /* eval folds: 1x1 direct + Winograd (test_nn_eval) */
            x = bn(m, conv(m, relu(m, bn(m, conv(m, x, 16, 1, 1, 0, "a"), "abn")), 16, 3, 1, 1, "c"), "cbn");
        else if (strcmp(l, "bottleneck") == 0) {   /* eval: residual adds folded into 1x1 convs */
            x = relu(m, bn(m, conv(m, x, 32, 3, 1, 1, "s"), "sbn"));
            x = bottleneck(m, bottleneck(m, x, 8, 1, "b1"), 16, 2, "b2");
        }
        else if (strcmp(l, "bn") == 0)       x = bn(m, x, "bn");
        else if (strcmp(l, "relu") == 0)     x = relu(m, x);
        else if (strcmp(l, "bnrelu") == 0)   x = relu(m, bn(m, x, "bn"));
        else if (strcmp(l, "addrelu") == 0)  x = relu(m, add(m, conv(m, x, m->in_c, 3, 1, 1, "a"), x));
        else if (strcmp(l, "maxpool") == 0)  x = simple(m, OP_MAXPOOL, x, 2, 2);
        else if (strcmp(l, "avgpool") == 0)  x = simple(m, OP_AVGPOOL, x, 2, 2);
        else if (strcmp(l, "gap") == 0)      x = simple(m, OP_GAP, x, 0, 0);
        else if (strcmp(l, "add") == 0)      x = add(m, conv(m, x, m->in_c, 3, 1, 1, "a"), x);
        else if (strcmp(l, "linear") == 0)   x = linear(m, x, 7, "l");
        else
            return sai_error_set(err, SAI_ENOTFOUND, "unknown test model '%s'", m->name);
        out = linear(m, x, m->classes, "fc");
    } else if (strcmp(m->name, "smallcnn") == 0) {
        if (m->in_h % 4 != 0 || m->in_w % 4 != 0)
            return sai_error_set(err, SAI_EINVAL, "smallcnn needs an input size divisible by 4");
        out = build_smallcnn(m, x);
    } else {
        return sai_error_set(err, SAI_ENOTFOUND,
                             "unknown model '%s' (resnet8, resnet20, resnet56, resnet18, "
                             "resnet50, smallcnn)", m->name);
    }
    if (out < 0)
        return sai_error_set(err, SAI_ELIMIT, "model '%s' exceeds the graph limits", m->name);
    for (int i = 0; i < m->nacts; i++)
        if (m->acts[i].h <= 0 || m->acts[i].w <= 0)
            return sai_error_set(err, SAI_EINVAL, "input %dx%d is too small for '%s'",
                                 m->in_h, m->in_w, m->name);
    m->logits = out;
    return 0;
}

/* ---- arena ---------------------------------------------------------------- */

static size_t round_up(size_t n) { return (n + 15) & ~(size_t)15; }   /* floats: 64 bytes */

/* Lays out (base == NULL: only counts) every buffer; returns floats used. */
static size_t layout(sai_nn_model_t *m, float *base)
{
    size_t off = 0;
#define TAKE(ptr, count) do { size_t c_ = round_up(count); if (base) (ptr) = base + off; off += c_; } while (0)
    for (int i = 0; i < m->ntensors; i++) {
        nn_tensor *t = &m->tensors[i];
        TAKE(t->data, t->numel);
        if (t->trainable && !m->inference) {
            TAKE(t->grad, t->numel);
            TAKE(t->mom, t->numel);
        }
    }
    size_t B = (size_t)m->max_batch;
    if (m->inference) {
        /* Without a backward pass an activation is dead after its last
         * reader: activations share buffers by liveness (an op never writes
         * into a buffer it reads). ResNet-50 at batch 64: 2.2 GiB -> ~0.1. */
        int last[SAI_NN_MAX_ACTS], prod[SAI_NN_MAX_ACTS], slot_of[SAI_NN_MAX_ACTS];
        int free_at[SAI_NN_MAX_ACTS], nslots = 0;
        size_t slot_size[SAI_NN_MAX_ACTS], slot_img[SAI_NN_MAX_ACTS];
        /* Evaluation may run the whole network once per thread over its own
         * images (eval_split): thread t then uses region t of every shared
         * buffer, ceil(B / threads) images of the buffer's largest
         * activation, so two threads at different ops never touch the same
         * floats. The input and the logits keep buffers of their own, in
         * image order (the caller's batch in, the logits out). */
        size_t Ts = (size_t)m->scratch_threads, nb = (B + Ts - 1) / Ts;
        float *slot_ptr[SAI_NN_MAX_ACTS];
        for (int i = 0; i < m->nacts; i++)
            last[i] = prod[i] = -1;
        for (int j = 0; j < m->nops; j++) {
            const nn_op *op = &m->ops[j];
            last[op->in] = j;
            if (op->in2 >= 0)
                last[op->in2] = j;
            /* a folded BN's output is written by its convolution (eval
             * cache): it must not share a buffer with the conv's input */
            prod[op->out] = op->kind == OP_BN && j > 0 && m->ops[j - 1].fuse_bn ? j - 1 : j;
            /* so is the output of a residual add folded into the conv two ops back
             * (it must not share a buffer with the conv's input either) */
            if (op->kind == OP_ADD && j > 1 && m->ops[j - 2].fuse_add)
                prod[op->out] = j - 2;
        }
        last[m->logits] = m->nops;
        for (int i = 0; i < m->nacts; i++) {
            bool own = i == 0 || i == m->logits;
            int best = -1;
            for (int sl = 0; sl < nslots && !own; sl++)
                if (free_at[sl] < prod[i] && (best < 0 || slot_size[sl] > slot_size[best]))
                    best = sl;
            if (best < 0) {
                best = nslots++;
                slot_size[best] = slot_img[best] = 0;
            }
            if (m->acts[i].size > slot_img[best])
                slot_img[best] = m->acts[i].size;
            slot_size[best] = own ? B * slot_img[best] : Ts * nb * slot_img[best];
            free_at[best] = own ? SAI_NN_MAX_OPS + 1 : last[i] > prod[i] ? last[i] : prod[i];
            slot_of[i] = best;
        }
        for (int sl = 0; sl < nslots; sl++)
            TAKE(slot_ptr[sl], slot_size[sl]);
        if (base)
            for (int i = 0; i < m->nacts; i++) {
                m->acts[i].x = slot_ptr[slot_of[i]];
                m->acts[i].region = i == 0 || i == m->logits ? 0 : nb * slot_img[slot_of[i]];
            }
    } else {
        for (int i = 0; i < m->nacts; i++)
            TAKE(m->acts[i].x, B * m->acts[i].size);
        /* Activation gradients live only from the backward of their last
         * reader (which starts accumulating into them) down to the backward
         * of their producer: buffers are shared between disjoint ranges
         * (greedy interval colouring in backward order). ResNet-50 keeps a
         * handful of gradient buffers instead of one per activation. */
        bool done[SAI_NN_MAX_ACTS] = {false};
        int occ_prod[SAI_NN_MAX_ACTS], slot_of[SAI_NN_MAX_ACTS], nslots = 0;
        size_t slot_size[SAI_NN_MAX_ACTS];
        float *slot_ptr[SAI_NN_MAX_ACTS];
        for (int k = 0; k < m->nacts; k++) {
            int i = -1;
            for (int c = 0; c < m->nacts; c++)
                if (!done[c] && (i < 0 || m->acts[c].last > m->acts[i].last))
                    i = c;
            done[i] = true;
            int best = -1;
            for (int sl = 0; sl < nslots; sl++)
                if (occ_prod[sl] > m->acts[i].last &&
                    (best < 0 || slot_size[sl] > slot_size[best]))
                    best = sl;
            if (best < 0) {
                best = nslots++;
                slot_size[best] = 0;
            }
            if (B * m->acts[i].size > slot_size[best])
                slot_size[best] = B * m->acts[i].size;
            occ_prod[best] = m->acts[i].prod;
            slot_of[i] = best;
        }
        for (int sl = 0; sl < nslots; sl++)
            TAKE(slot_ptr[sl], slot_size[sl]);
        if (base)
            for (int i = 0; i < m->nacts; i++)
                m->acts[i].dx = slot_ptr[slot_of[i]];
    }
    for (int i = 0; i < m->nops; i++) {
        nn_op *op = &m->ops[i];
        if (op->kind == OP_BN) {
            TAKE(op->save.mean, (size_t)m->acts[op->in].c);
            TAKE(op->save.istd, (size_t)m->acts[op->in].c);
            TAKE(op->save.scale, (size_t)m->acts[op->in].c);
            TAKE(op->save.shift, (size_t)m->acts[op->in].c);
        }
    }
    /* the convolutions' scratch (sized by sai_nn__conv_ws_fit) */
    nn_conv_ws *ws = &m->conv_ws;
    size_t T = (size_t)m->scratch_threads;
    TAKE(ws->col, T * ws->col_floats);
    TAKE(ws->ybuf, T * ws->ybuf_floats);
    TAKE(ws->wino, T * ws->wino_floats);
    TAKE(ws->wino_u, ws->wino_u_floats);
    TAKE(ws->wino_tap, T * ws->wino_tap_floats);
    if (!m->inference) {
        TAKE(ws->dcol, T * ws->col_floats);
        TAKE(ws->dwbuf, T * ws->dw_floats);
    }
#undef TAKE
    return off;
}

static void init_weights(sai_nn_model_t *m)
{
    for (int i = 0; i < m->ntensors; i++) {
        nn_tensor *t = &m->tensors[i];
        const char *suffix = strrchr(t->name, '.');
        suffix = suffix ? suffix + 1 : t->name;
        if (t->ndim == 4) {
            /* Kaiming normal, fan_out, ReLU gain (torchvision's ResNet init). */
            float sd = sqrtf(2.0f / (float)(t->shape[0] * t->shape[2] * t->shape[3]));
            for (size_t j = 0; j < t->numel; j++)
                t->data[j] = sd * sai_nn__rng_normal(&m->rng);
        } else if (t->ndim == 2 || (t->ndim == 1 && strcmp(suffix, "bias") == 0 &&
                                    i > 0 && m->tensors[i - 1].ndim == 2)) {
            /* nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W and b. */
            int fan_in = t->ndim == 2 ? t->shape[1] : m->tensors[i - 1].shape[1];
            float bound = 1.0f / sqrtf((float)fan_in);
            for (size_t j = 0; j < t->numel; j++)
                t->data[j] = bound * (2.0f * sai_nn_rng_uniform(&m->rng) - 1.0f);
        } else {
            float v = (strcmp(suffix, "weight") == 0 || strcmp(suffix, "running_var") == 0)
                          ? 1.0f : 0.0f;
            for (size_t j = 0; j < t->numel; j++)
                t->data[j] = v;
        }
        if (t->grad != NULL) {
            memset(t->grad, 0, t->numel * sizeof(float));
            memset(t->mom, 0, t->numel * sizeof(float));
        }
    }
}

int sai_nn_model_create(sai_nn_model_t **out, const char *name, int in_c, int in_h, int in_w,
                        int num_classes, int max_batch, uint64_t seed, sai_error_t *err)
{
    return sai_nn_model_create_ex(out, name, in_c, in_h, in_w, num_classes, max_batch, seed, 0,
                                  err);
}

int sai_nn_model_create_ex(sai_nn_model_t **out, const char *name, int in_c, int in_h, int in_w,
                           int num_classes, int max_batch, uint64_t seed, unsigned flags,
                           sai_error_t *err)
{
    *out = NULL;
    if (name == NULL || strlen(name) >= 32)
        return sai_error_set(err, SAI_EINVAL, "model name missing or too long");
    if (in_c <= 0 || in_c > 16 || in_h <= 0 || in_h > 1024 || in_w <= 0 || in_w > 1024 ||
        num_classes < 2 || num_classes > 1000 || max_batch <= 0 || max_batch > 65536)
        return sai_error_set(err, SAI_EINVAL, "bad model dimensions (c=%d h=%d w=%d classes=%d "
                             "batch=%d)", in_c, in_h, in_w, num_classes, max_batch);
    sai_nn_model_t *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    snprintf(m->name, sizeof(m->name), "%s", name);
    m->in_c = in_c; m->in_h = in_h; m->in_w = in_w;
    m->classes = num_classes; m->max_batch = max_batch;
    m->rng = seed ^ 0x5ec0de5a1ULL;
    m->inference = (flags & SAI_NN_INFERENCE_ONLY) != 0;
    m->conv_ws.winograd = (flags & SAI_NN_NO_WINOGRAD) == 0;
    m->conv_ws.max_batch = max_batch;
    int rc = sai_nn__build(m, err);
    if (rc != 0) {
        free(m);
        return rc;
    }
    for (int i = 0; i < m->nacts; i++)
        m->acts[i].prod = m->acts[i].last = -1;
    for (int j = 0; j < m->nops; j++) {
        m->acts[m->ops[j].in].last = j;
        if (m->ops[j].in2 >= 0)
            m->acts[m->ops[j].in2].last = j;
        m->acts[m->ops[j].out].prod = j;
    }
    m->acts[m->logits].last = m->nops;
    for (int j = 0; j + 1 < m->nops; j++) {
        nn_op *op = &m->ops[j], *nx = &m->ops[j + 1];
        op->fuse_bn = op->kind == OP_CONV && nx->kind == OP_BN && nx->in == op->out &&
                      m->acts[op->out].last == j + 1 && op->out != m->logits;
        /* conv, BN, then a residual add of the BN's output (its only reader)
         * and an activation computed before: the basic block's conv2 + bn2 +
         * add, the bottleneck's conv3, a projection shortcut */
        const nn_op *ad = j + 2 < m->nops ? &m->ops[j + 2] : NULL;
        op->fuse_add = op->fuse_bn && !nx->relu && ad != NULL && ad->kind == OP_ADD &&
                       (ad->in == nx->out) != (ad->in2 == nx->out) &&
                       m->acts[nx->out].last == j + 2 && nx->out != m->logits;
    }
    m->eval = calloc(1, sizeof(*m->eval));
    if (m->eval == NULL) {
        free(m);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    m->eval->disabled = (flags & SAI_NN_NO_EVAL_CACHE) != 0;
    m->eval->no_split = getenv("SAI_NN_NO_EVAL_SPLIT") != NULL;
    nn_conv_ws *ws = &m->conv_ws;
    for (int i = 0; i < m->nops; i++) {
        const nn_op *op = &m->ops[i];
        if (op->kind != OP_CONV)
            continue;
        const nn_act *a = &m->acts[op->in];
        sai_nn__conv_ws_fit(ws, a->c, a->h, a->w, m->acts[op->out].c, op->k, op->stride,
                            op->pad, !m->inference);
    }
    m->scratch_threads = sai_nn_get_threads();   /* the most threads any pass uses */
    size_t floats = layout(m, NULL);
    m->arena_bytes = floats * sizeof(float);
    m->arena = sai_nn__aligned_alloc(m->arena_bytes);
    if (m->arena == NULL) {
        free(m->eval);
        free(m);
        return sai_error_set(err, SAI_ENOMEM, "cannot allocate a %zu MiB arena for '%s'",
                             floats * sizeof(float) >> 20, name);
    }
    layout(m, m->arena);
    init_weights(m);
    nn_weights_changed(m);
    *out = m;
    return 0;
}

void sai_nn_model_free(sai_nn_model_t *m)
{
    if (m == NULL)
        return;
    prof_report();
    if (m->eval != NULL) {
        sai_nn__aligned_free(m->eval->block);
        free(m->eval->views);
    }
    free(m->eval);
    sai_nn__aligned_free(m->arena);
    free(m);
}

const char *sai_nn_model_name(const sai_nn_model_t *m) { return m->name; }
int sai_nn_model_max_batch(const sai_nn_model_t *m) { return m->max_batch; }
int sai_nn_model_classes(const sai_nn_model_t *m) { return m->classes; }
size_t sai_nn_model_arena_bytes(const sai_nn_model_t *m) { return m->arena_bytes; }
double sai_nn_model_macs(const sai_nn_model_t *m) { return m->macs; }
int sai_nn_model_num_tensors(const sai_nn_model_t *m) { return m->ntensors; }

void sai_nn_model_input(const sai_nn_model_t *m, int *c, int *h, int *w)
{
    *c = m->in_c; *h = m->in_h; *w = m->in_w;
}

size_t sai_nn_model_num_params(const sai_nn_model_t *m)
{
    size_t n = 0;
    for (int i = 0; i < m->ntensors; i++)
        if (m->tensors[i].trainable)
            n += m->tensors[i].numel;
    return n;
}

void sai_nn_model_tensor(const sai_nn_model_t *m, int i, sai_nn_tensor_info_t *info)
{
    const nn_tensor *t = &m->tensors[i];
    /* info->data is writable and callers write through it (checkpoint
     * import, ONNX import, distributed broadcast): the eval folds are
     * recomputed at the next evaluation forward */
    nn_weights_changed(m);
    info->name = t->name;
    info->ndim = t->ndim;
    memcpy(info->shape, t->shape, sizeof(info->shape));
    info->numel = t->numel;
    info->data = t->data;
    info->grad = t->grad;
    info->momentum = t->mom;
    info->trainable = t->trainable;
}

/* ---- the op table ----------------------------------------------------------
 * One entry per op kind: its name (profile), forward, backward, and whether
 * its backward stores into an input gradient that starts its live range
 * there (nn_dx_fresh) instead of accumulating: the driver then skips a
 * memset of the buffer and the kernel a read of it (ResNet-8: the inputs of
 * every BN and residual add, ~60% of the zeroing). The adapters below are
 * the only code besides the builder that reads the activation table: they
 * turn an op into the explicit shapes and pointers of its kernel. */

typedef struct {
    const char *name;
    void (*forward)(sai_nn_model_t *m, nn_op *op, int n, bool train, int T);
    void (*backward)(sai_nn_model_t *m, const nn_op *op, int n, int T);
    bool bwd_stores;
} nn_op_impl;

#define IN(op)  (&m->acts[(op)->in])
#define OUT(op) (&m->acts[(op)->out])
#define GRAD_OR_NULL(a) ((a)->need_grad ? (a)->dx : NULL)

/* Evaluation with valid folds: a conv with fuse_bn runs with the folded
 * weights and bias (ReLU too if the BN has it) straight into the BN's
 * output, and the BN op is skipped. */
static bool folded(const sai_nn_model_t *m, const nn_op *op, bool train)
{
    return !train && m->eval->use && op->fuse_bn;
}

static void conv_fwd(sai_nn_model_t *m, nn_op *op, int n, bool train, int T)
{
    const nn_act *a = IN(op);
    if (folded(m, op, train)) {
        const nn_fold *f = &m->eval->fold[op - m->ops];
        const nn_op *b = op + 1;
        nn_conv_epi epi = {.bias = f->b, .wino_u = f->u, .relu = b->relu,
                           .packed = m->eval->packed};
        float *y = m->acts[b->out].x;
        if (op->fuse_add) {   /* straight into the add's output */
            const nn_op *ad = op + 2;
            epi.res = m->acts[ad->in == b->out ? ad->in2 : ad->in].x;
            epi.relu = ad->relu;
            y = OUT(ad)->x;
        }
        sai_nn__conv_forward_ex(y, a->x, f->w, &epi, n, a->c, a->h, a->w, OUT(op)->c, op->k,
                                op->stride, op->pad, &m->conv_ws, T);
        return;
    }
    sai_nn__conv_forward(OUT(op)->x, a->x, m->tensors[op->w].data, n, a->c, a->h, a->w,
                         OUT(op)->c, op->k, op->stride, op->pad, &m->conv_ws, T);
}

static void conv_bwd(sai_nn_model_t *m, const nn_op *op, int n, int T)
{
    const nn_act *a = IN(op);
    const nn_tensor *w = &m->tensors[op->w];
    sai_nn__conv_backward(GRAD_OR_NULL(a), w->grad, OUT(op)->dx, a->x, w->data, n, a->c, a->h,
                          a->w, OUT(op)->c, op->k, op->stride, op->pad, &m->conv_ws, T);
}

static void bn_fwd(sai_nn_model_t *m, nn_op *op, int n, bool train, int T)
{
    const nn_act *a = IN(op);
    if (op > m->ops && folded(m, op - 1, train))
        return;   /* folded into the convolution before it */
    sai_nn__bn_forward(OUT(op)->x, a->x, m->tensors[op->w].data, m->tensors[op->b].data,
                       m->tensors[op->rm].data, m->tensors[op->rv].data, &op->save, n, a->c,
                       a->h * a->w, train, op->relu, T);
}

static void bn_bwd(sai_nn_model_t *m, const nn_op *op, int n, int T)
{
    const nn_act *a = IN(op);
    const nn_tensor *g = &m->tensors[op->w];
    sai_nn__bn_backward(GRAD_OR_NULL(a), g->grad, m->tensors[op->b].grad, OUT(op)->dx, a->x,
                        g->data, &op->save, n, a->c, a->h * a->w, op->relu,
                        nn_dx_fresh(m, op, op->in), T);
}

static void relu_fwd(sai_nn_model_t *m, nn_op *op, int n, bool train, int T)
{
    (void)train;
    sai_nn__relu_forward(OUT(op)->x, IN(op)->x, (long)n * (long)IN(op)->size, T);
}

static void relu_bwd(sai_nn_model_t *m, const nn_op *op, int n, int T)
{
    if (IN(op)->need_grad)
        sai_nn__relu_backward(IN(op)->dx, OUT(op)->x, OUT(op)->dx, (long)n * (long)IN(op)->size,
                              nn_dx_fresh(m, op, op->in), T);
}

static void add_fwd(sai_nn_model_t *m, nn_op *op, int n, bool train, int T)
{
    if (op - m->ops > 1 && folded(m, op - 2, train) && (op - 2)->fuse_add)
        return;   /* folded into the convolution two ops back */
    sai_nn__add_forward(OUT(op)->x, IN(op)->x, m->acts[op->in2].x, (long)n * (long)OUT(op)->size,
                        op->relu, T);
}

static void add_bwd(sai_nn_model_t *m, const nn_op *op, int n, int T)
{
    const nn_act *b = &m->acts[op->in2];
    sai_nn__add_backward(GRAD_OR_NULL(IN(op)), GRAD_OR_NULL(b), OUT(op)->x, OUT(op)->dx,
                         (long)n * (long)OUT(op)->size, op->relu, nn_dx_fresh(m, op, op->in),
                         op->in2 != op->in && nn_dx_fresh(m, op, op->in2),   /* x + x: da, then db += */
                         T);
}

static void pool_fwd(sai_nn_model_t *m, nn_op *op, int n, bool train, int T)
{
    (void)train;
    const nn_act *a = IN(op);
    sai_nn__pool_forward(OUT(op)->x, a->x, n * a->c, a->h, a->w, op->k, op->stride,
                         op->kind == OP_MAXPOOL, T);
}

static void pool_bwd(sai_nn_model_t *m, const nn_op *op, int n, int T)
{
    const nn_act *a = IN(op);
    if (a->need_grad)
        sai_nn__pool_backward(a->dx, a->x, OUT(op)->dx, n * a->c, a->h, a->w, op->k, op->stride,
                              op->kind == OP_MAXPOOL, T);
}

static void gap_fwd(sai_nn_model_t *m, nn_op *op, int n, bool train, int T)
{
    (void)train;
    const nn_act *a = IN(op);
    sai_nn__gap_forward(OUT(op)->x, a->x, n * a->c, a->h * a->w, T);
}

static void gap_bwd(sai_nn_model_t *m, const nn_op *op, int n, int T)
{
    const nn_act *a = IN(op);
    if (a->need_grad)
        sai_nn__gap_backward(a->dx, OUT(op)->dx, n * a->c, a->h * a->w, nn_dx_fresh(m, op, op->in), T);
}

static void linear_fwd(sai_nn_model_t *m, nn_op *op, int n, bool train, int T)
{
    (void)train;
    sai_nn__linear_forward(OUT(op)->x, IN(op)->x, m->tensors[op->w].data, m->tensors[op->b].data, n,
                           (int)IN(op)->size, (int)OUT(op)->size, T);
}

static void linear_bwd(sai_nn_model_t *m, const nn_op *op, int n, int T)
{
    const nn_tensor *w = &m->tensors[op->w];
    sai_nn__linear_backward(GRAD_OR_NULL(IN(op)), w->grad, m->tensors[op->b].grad, OUT(op)->dx,
                            IN(op)->x, w->data, n, (int)IN(op)->size, (int)OUT(op)->size, T);
}

static const nn_op_impl k_ops[] = {
    [OP_CONV]    = {"conv", conv_fwd, conv_bwd, false},
    [OP_BN]      = {"bn", bn_fwd, bn_bwd, true},
    [OP_RELU]    = {"relu", relu_fwd, relu_bwd, true},
    [OP_MAXPOOL] = {"maxpool", pool_fwd, pool_bwd, false},
    [OP_AVGPOOL] = {"avgpool", pool_fwd, pool_bwd, false},
    [OP_GAP]     = {"gap", gap_fwd, gap_bwd, true},
    [OP_LINEAR]  = {"linear", linear_fwd, linear_bwd, false},
    [OP_ADD]     = {"add", add_fwd, add_bwd, true},
};
_Static_assert(sizeof k_ops / sizeof k_ops[0] == OP_ADD + 1, "one table entry per op kind");

#undef IN
#undef OUT
#undef GRAD_OR_NULL

/* ---- drivers -------------------------------------------------------------- */

/* SAI_NN_PROFILE=1 in the environment: per-op-kind wall time, printed on
 * stderr when the model is freed (for tuning; off by default). */
static double g_prof[2][OP_ADD + 1];
static int g_prof_on = -1;

static bool prof_on(void)
{
    if (g_prof_on < 0)
        g_prof_on = getenv("SAI_NN_PROFILE") != NULL;
    return g_prof_on == 1;
}

static void prof_report(void)
{
    if (!prof_on())
        return;
    for (int k = 0; k <= OP_ADD; k++)
        if (g_prof[0][k] + g_prof[1][k] > 0)
            fprintf(stderr, "nn profile: %-8s forward %8.3f s  backward %8.3f s\n", k_ops[k].name,
                    g_prof[0][k], g_prof[1][k]);
    memset(g_prof, 0, sizeof(g_prof));
}

/* ---- evaluation cache (nn_eval_cache) -------------------------------------- */

/* Floats of one conv's folds: weights (packed for the AVX-512 GEMM when
 * ec->packed, 8-row blocks), bias, and the Winograd U (packed per tap). */
static size_t fold_w_floats(const sai_nn_model_t *m, const nn_op *op)
{
    int K = m->acts[op->out].c;
    size_t kd = m->tensors[op->w].numel / (size_t)K;
    return m->eval->packed ? sai_nn__gemm_packed_floats(K, (int)kd) : m->tensors[op->w].numel;
}

static size_t fold_u_floats(const sai_nn_model_t *m, const nn_op *op)
{
    int C = m->acts[op->in].c, K = m->acts[op->out].c;
    return m->eval->packed ? 36 * sai_nn__gemm_packed_floats(K, C) : sai_nn__wino_u_floats(C, K);
}

static size_t fold_floats(const sai_nn_model_t *m, const nn_op *op, bool *wino)
{
    const nn_act *a = &m->acts[op->in];
    int K = m->acts[op->out].c;
    *wino = m->conv_ws.winograd && sai_nn__wino_shape_ok(a->c, K, op->k, op->stride, op->pad);
    return round_up(fold_w_floats(m, op)) + round_up((size_t)K) +
           (*wino ? round_up(fold_u_floats(m, op)) : 0);
}

/* Makes the folds match the current weights; false: run unfolded (disabled,
 * or the one-time allocation failed). */
static bool eval_cache_ready(sai_nn_model_t *m, int T)
{
    nn_eval_cache *ec = m->eval;
    if (ec->disabled)
        return false;
    if (ec->block != NULL && ec->built == ec->version)
        return true;
    bool wino;
    if (ec->block == NULL) {
        ec->packed = sai_nn__gemm_fast();   /* fixed for the cache's life: its layout */
        size_t floats = 0;
        for (int j = 0; j < m->nops; j++)
            if (m->ops[j].fuse_bn)
                floats += fold_floats(m, &m->ops[j], &wino);
        if (floats == 0 || (ec->block = sai_nn__aligned_alloc(floats * sizeof(float))) == NULL) {
            ec->disabled = true;
            return false;
        }
        ec->floats = floats;
        float *p = ec->block;
        for (int j = 0; j < m->nops; j++) {
            const nn_op *op = &m->ops[j];
            if (!op->fuse_bn)
                continue;
            nn_fold *f = &ec->fold[j];
            f->w = p;
            p += round_up(fold_w_floats(m, op));
            f->b = p;
            p += round_up((size_t)m->acts[op->out].c);
            fold_floats(m, op, &wino);
            f->u = wino ? p : NULL;
            if (wino)
                p += round_up(fold_u_floats(m, op));
        }
    }
    /* packed folds are computed plain in scratch first, then packed */
    float *tw = NULL, *tu = NULL;
    if (ec->packed) {
        size_t wmax = 0, umax = 0;
        for (int j = 0; j < m->nops; j++) {
            const nn_op *op = &m->ops[j];
            if (!op->fuse_bn)
                continue;
            if (m->tensors[op->w].numel > wmax)
                wmax = m->tensors[op->w].numel;
            if (ec->fold[j].u != NULL &&
                sai_nn__wino_u_floats(m->acts[op->in].c, m->acts[op->out].c) > umax)
                umax = sai_nn__wino_u_floats(m->acts[op->in].c, m->acts[op->out].c);
        }
        tw = malloc(wmax * sizeof(float));
        tu = umax > 0 ? malloc(umax * sizeof(float)) : NULL;
        if (tw == NULL || (umax > 0 && tu == NULL)) {
            free(tw);
            free(tu);
            return false;   /* this forward runs unfused; the next one tries again */
        }
    }
    for (int j = 0; j < m->nops; j++) {
        const nn_op *op = &m->ops[j];
        if (!op->fuse_bn)
            continue;
        const nn_op *b = op + 1;
        const nn_fold *f = &ec->fold[j];
        const float *w = m->tensors[op->w].data, *g = m->tensors[b->w].data;
        const float *beta = m->tensors[b->b].data, *rm = m->tensors[b->rm].data;
        const float *rv = m->tensors[b->rv].data;
        int K = m->acts[op->out].c, C = m->acts[op->in].c;
        size_t per = m->tensors[op->w].numel / (size_t)K;
        float *fw = ec->packed ? tw : f->w;
        for (int k = 0; k < K; k++) {
            /* the scale and shift bn.c's evaluation mode applies */
            float istd = 1.0f / sqrtf(rv[k] + NN_BN_EPS);
            float scale = g[k] * istd, shift = beta[k] - rm[k] * scale;
            for (size_t q = 0; q < per; q++)
                fw[(size_t)k * per + q] = w[(size_t)k * per + q] * scale;
            f->b[k] = shift;
        }
        if (f->u != NULL)
            sai_nn__wino_weights(ec->packed ? tu : f->u, fw, C, K, &m->conv_ws, T);
        if (!ec->packed)
            continue;
        sai_nn__gemm_pack(f->w, fw, K, (int)per, per);
        if (f->u != NULL) {   /* U[xi][K][C] -> per tap [K/8][C][8] */
            size_t us = sai_nn__gemm_packed_floats(K, C);
            for (int xi = 0; xi < 36; xi++)
                sai_nn__gemm_pack(f->u + (size_t)xi * us, tu + (size_t)xi * K * C, K, C,
                                  (size_t)C);
        }
    }
    free(tw);
    free(tu);
    ec->built = ec->version;
    return true;
}

void sai_nn_model_weights_changed(sai_nn_model_t *m)
{
    nn_weights_changed(m);
}

/* ---- evaluation split over images ------------------------------------------
 * A batch of at least two images per thread, in evaluation with valid
 * folds: each thread runs the whole network over its own images, inline
 * (T = 1 inside), instead of every kernel splitting its work and joining
 * at its end. One hand-off per forward instead of one or more per op
 * (ResNet-8 at batch 64: ~20 joins, a third of the profile when the other
 * core is busy). Thread t works through a view of the model: a copy of
 * the model struct whose activation pointers start at its images (or its
 * region of a shared buffer, nn_act.region) and whose convolution scratch
 * is its own block; the kernels cannot tell it from a model. The weights,
 * the folds and the arena are shared and only read. */

typedef struct {
    const sai_nn_model_t *m;
    int n, nb;   /* images, images per thread */
    int g;       /* images per pass through the network (micro-batch) */
} split_ctx;

/* Images a thread takes through the whole network at a time: with small
 * folds (ResNet-8: 1.1 MiB), groups whose largest activation stays within
 * ~256 KiB, so a layer's input is still in L2 when the next layer reads it
 * (ResNet-8's 32 images per thread made every activation 2 MiB, and the
 * Winograd row loads waited on L3); large models re-reading their folds
 * per group would cost more than they save, they take all their images
 * at once. */
static int split_group(const sai_nn_model_t *m, int nb)
{
    if (m->eval->floats * sizeof(float) > ((size_t)4 << 20))
        return nb;
    size_t big = 0;
    for (int a = 0; a < m->nacts; a++)
        if (m->acts[a].size > big)
            big = m->acts[a].size;
    size_t g = ((size_t)256 << 10) / (big * sizeof(float) + 1);
    return g < 1 ? 1 : g > (size_t)nb ? nb : (int)g;
}

static bool eval_split_ok(const sai_nn_model_t *m, int n, int T)
{
    if (!m->eval->use || m->eval->no_split || T < 2 || n < 2 * T)
        return false;
    if (m->eval->views == NULL &&
        (m->eval->views = malloc((size_t)m->scratch_threads * sizeof(sai_nn_model_t))) == NULL)
        return false;
    /* an inference-only model's shared buffers hold ceil(max_batch /
     * scratch_threads) images per region */
    int per = (n + T - 1) / T, cap = (m->max_batch + m->scratch_threads - 1) / m->scratch_threads;
    return !m->inference || per <= cap;
}

static float *shift(float *p, size_t floats)
{
    return p != NULL ? p + floats : NULL;
}

static void split_task(void *vc, long t0, long t1, int tid)
{
    const split_ctx *sc = vc;
    const sai_nn_model_t *m = sc->m;
    bool prof = prof_on() && tid == 0;   /* thread 0's share of the time */
    for (long t = t0; t < t1; t++) {
        int first = (int)t * sc->nb, end = sc->n < first + sc->nb ? sc->n : first + sc->nb;
        if (end <= first)
            continue;
        sai_nn_model_t *v = &m->eval->views[t];
        memcpy(v, m, sizeof(*v));
        nn_conv_ws *ws = &v->conv_ws;
        ws->col = shift(ws->col, (size_t)t * ws->col_floats);
        ws->ybuf = shift(ws->ybuf, (size_t)t * ws->ybuf_floats);
        ws->wino = shift(ws->wino, (size_t)t * ws->wino_floats);
        ws->wino_tap = shift(ws->wino_tap, (size_t)t * ws->wino_tap_floats);
        /* a group finishes the network before the next starts: each reuses
         * the start of the thread's region; image-ordered buffers move on */
        for (int i0 = first; i0 < end; i0 += sc->g) {
            int cnt = end - i0 < sc->g ? end - i0 : sc->g;
            for (int a = 0; a < m->nacts; a++) {
                const nn_act *src = &m->acts[a];
                v->acts[a].x = src->x + (src->region ? (size_t)t * src->region
                                                     : (size_t)i0 * src->size);
            }
            for (int i = 0; i < v->nops; i++) {
                nn_op *op = &v->ops[i];
                double s0 = prof ? sai_now() : 0.0;
                k_ops[op->kind].forward(v, op, cnt, false, 1);
                if (prof)
                    g_prof[0][op->kind] += sai_now() - s0;
            }
        }
    }
}

const float *sai_nn_forward(sai_nn_model_t *m, const float *x, int n, bool train)
{
    bool prof = prof_on();
    if (n <= 0 || n > m->max_batch)
        return NULL;
    memcpy(m->acts[0].x, x, (size_t)n * m->acts[0].size * sizeof(float));
    int T = sai_nn__pass_threads(m);
    if (train)
        nn_weights_changed(m);   /* batch norm's running statistics move */
    m->eval->use = !train && eval_cache_ready(m, T);
    if (!train && eval_split_ok(m, n, T)) {
        split_ctx sc = {.m = m, .n = n, .nb = (n + T - 1) / T};
        sc.g = split_group(m, sc.nb);
        sai_nn__parallel(T, T, split_task, &sc);
        m->last_n = n;
        m->last_train = train;
        return m->acts[m->logits].x;
    }
    for (int i = 0; i < m->nops; i++) {
        nn_op *op = &m->ops[i];
        double t0 = prof ? sai_now() : 0.0;
        k_ops[op->kind].forward(m, op, n, train, T);
        if (prof)
            g_prof[0][op->kind] += sai_now() - t0;
    }
    m->last_n = n;
    m->last_train = train;
    return m->acts[m->logits].x;
}

void sai_nn_zero_grad(sai_nn_model_t *m)
{
    if (m->inference)
        return;
    for (int i = 0; i < m->ntensors; i++)
        if (m->tensors[i].trainable)
            memset(m->tensors[i].grad, 0, m->tensors[i].numel * sizeof(float));
}

static void zero_task(void *ctx, long b, long e, int tid)
{
    (void)tid;
    memset((float *)ctx + b, 0, (size_t)(e - b) * sizeof(float));
}

/* memset on the engine threads: a serial one left the worker spinning, then
 * asleep, and the next kernel waited for it to wake */
static void zero_floats(float *p, size_t len, int T)
{
    sai_nn__parallel((long)len, sai_nn__grain(T, len), zero_task, p);
}

void sai_nn_backward(sai_nn_model_t *m, int n)
{
    if (m->inference || !m->last_train || n != m->last_n)
        return;   /* nothing to differentiate (documented: train=true forward first) */
    /* Every kernel accumulates into its input gradients (an activation can
     * feed two ops: the residual branch and the shortcut), so each starts at
     * zero, except the logits' (set by sai_nn_loss). */
    bool prof = prof_on();
    int T = sai_nn__pass_threads(m);
    for (int i = m->nops - 1; i >= 0; i--) {
        const nn_op *op = &m->ops[i];
        double t0 = prof ? sai_now() : 0.0;
        /* An activation's gradient buffer is zeroed when its live range
         * starts: at the backward of its last reader (buffers are shared),
         * unless that kernel stores into it (bwd_stores). */
        if (!k_ops[op->kind].bwd_stores)
            for (int a = 0; a < m->nacts; a++)
                if (m->acts[a].last == i && m->acts[a].need_grad)
                    zero_floats(m->acts[a].dx, (size_t)n * m->acts[a].size, T);
        k_ops[op->kind].backward(m, op, n, T);
        if (prof)
            g_prof[1][op->kind] += sai_now() - t0;
    }
}

void sai_nn_set_input_grad(sai_nn_model_t *m, bool on)
{
    m->acts[0].need_grad = on && !m->inference;
}

const float *sai_nn_input_grad(const sai_nn_model_t *m)
{
    return m->acts[0].need_grad ? m->acts[0].dx : NULL;
}
