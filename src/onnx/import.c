/*
 * import.c — ONNX model -> engine model (secureai/onnx.h).
 *
 * Three steps, each finishing before the next starts:
 *   1. protobuf-c unpacks the bytes (generated from onnx_subset.proto);
 *   2. lower(): every ONNX node, in file order (ONNX requires topological
 *      order), becomes zero or more engine nodes (secureai/nn_graph.h) with
 *      its weights copied out as float arrays; shapes are computed and
 *      checked here, and the first operator or attribute the engine cannot
 *      run is the error;
 *   3. match(): the lowered graph is compared node by node with each engine
 *      architecture built for the same input and classes; on a match the
 *      weights are copied into that model's tensors.
 * Rewrites done while lowering, all exact up to float rounding:
 *   - Conv with a bias B: the engine's convolutions have none, so it becomes
 *     Conv + BN with gamma 1, beta B, mean 0, var 1 - eps (scale 1, shift
 *     B); when a BatchNormalization follows, B folds into its mean instead;
 *   - BatchNormalization with epsilon e != 1e-5: var += e - 1e-5;
 *   - Gemm with transB = 0: the weight is transposed;
 *   - Flatten(axis 1), Reshape to [N, C*H*W] and Identity are aliases (the
 *     engine's Linear reads its input flattened).
 * Untrusted input: the file size, node count, tensor sizes and every
 * dimension are capped before use.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_subset.pb-c.h"
#include "secureai/nn_graph.h"
#include "secureai/onnx.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ONNX raw_data is little-endian; this file assumes a little-endian host"
#endif

#define MAX_LNODES  1024            /* lowered nodes (the engine's limit is 512 ops) */
#define MAX_VALUES  (2 * SAI_ONNX_MAX_NODES + 2)
#define MAX_DIM     (1 << 20)
#define MAX_NUMEL   ((size_t)1 << 28)   /* floats in one tensor (1 GiB) */

typedef struct {
    sai_nn_node_t n;
    float  *t[4];        /* weights in the engine's roles, owned */
    size_t  numel[4];
    const char *src;     /* the ONNX node's name, for messages */
    bool    bias_bn;     /* the BN standing for a Conv's bias */
} lnode;

typedef struct {
    const char *name;
    int  id;             /* lowered value id */
    int  c, h, w;
    bool flat;           /* rank 2 [N, C*H*W] in ONNX terms */
} lvalue;

typedef struct {
    const SaiOnnx__GraphProto *g;
    lnode  *nodes;
    int     nn;
    lvalue *vals;
    int     nv;
    const SaiOnnx__TensorProto **consts;   /* Constant node outputs ... */
    const char **const_names;           /* ... and their value names */
    int     nconsts;
    int     in_c, in_h, in_w, classes;
} lower_ctx;

static const char *str_or(const char *s, const char *dflt)
{
    return (s != NULL && s[0] != '\0') ? s : dflt;
}

static const char *k_supported =
    "Conv, BatchNormalization, Relu, Add, MaxPool, AveragePool, GlobalAveragePool, Flatten, "
    "Reshape, Gemm, Identity, Constant";

/* ---- tensors ----------------------------------------------------------- */

static const SaiOnnx__TensorProto *find_tensor(const lower_ctx *cx, const char *name)
{
    for (size_t i = 0; i < cx->g->n_initializer; i++)
        if (cx->g->initializer[i]->name != NULL && strcmp(cx->g->initializer[i]->name, name) == 0)
            return cx->g->initializer[i];
    for (int i = 0; i < cx->nconsts; i++)
        if (strcmp(cx->const_names[i], name) == 0)
            return cx->consts[i];
    return NULL;
}

static int tensor_numel(const SaiOnnx__TensorProto *t, size_t *numel, sai_error_t *err)
{
    size_t n = 1;
    if (t->n_dims > 8)
        return sai_error_set(err, SAI_ELIMIT, "tensor '%s' has %zu dimensions",
                             str_or(t->name, "?"), t->n_dims);
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0 || t->dims[d] > MAX_DIM)
            return sai_error_set(err, SAI_EFORMAT, "tensor '%s' has a bad dimension %lld",
                                 str_or(t->name, "?"), (long long)t->dims[d]);
        n *= (size_t)t->dims[d];
        if (n > MAX_NUMEL)
            return sai_error_set(err, SAI_ELIMIT, "tensor '%s' is over the size cap",
                                 str_or(t->name, "?"));
    }
    *numel = n;
    return 0;
}

/* A float tensor's data as a new malloc'ed array (raw_data or float_data). */
static int tensor_floats(const SaiOnnx__TensorProto *t, float **out, size_t *numel, sai_error_t *err)
{
    *out = NULL;
    int rc = tensor_numel(t, numel, err);
    if (rc != 0)
        return rc;
    const char *nm = str_or(t->name, "?");
    if (t->n_external_data > 0 ||
        (t->has_data_location && t->data_location == SAI_ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL))
        return sai_error_set(err, SAI_EUNSUPP, "tensor '%s' keeps its data in an external file "
                             "(save the model with its weights inside)", nm);
    if (!t->has_data_type || t->data_type != SAI_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return sai_error_set(err, SAI_EUNSUPP, "tensor '%s' is not float32 (data type %d)", nm,
                             (int)t->data_type);
    size_t n = *numel;
    const void *src;
    if (t->has_raw_data && t->raw_data.len > 0) {
        if (t->raw_data.len != n * sizeof(float))
            return sai_error_set(err, SAI_EFORMAT, "tensor '%s' has %zu bytes of data for %zu "
                                 "floats", nm, t->raw_data.len, n);
        src = t->raw_data.data;
    } else {
        if (t->n_float_data != n)
            return sai_error_set(err, SAI_EFORMAT, "tensor '%s' has %zu floats, its shape %zu",
                                 nm, t->n_float_data, n);
        src = t->float_data;
    }
    float *f = malloc(n > 0 ? n * sizeof(float) : 1);
    if (f == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory for tensor '%s'", nm);
    if (n > 0)
        memcpy(f, src, n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        if (!isfinite(f[i])) {
            free(f);
            return sai_error_set(err, SAI_EFORMAT, "tensor '%s' holds NaN or infinity", nm);
        }
    *out = f;
    return 0;
}

/* An int64 tensor of at most cap values (Reshape's shape). */
static int tensor_int64s(const SaiOnnx__TensorProto *t, int64_t *out, size_t cap, size_t *count,
                         sai_error_t *err)
{
    size_t n = 0;
    int rc = tensor_numel(t, &n, err);
    if (rc != 0)
        return rc;
    const char *nm = str_or(t->name, "?");
    if (!t->has_data_type || t->data_type != SAI_ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || n > cap)
        return sai_error_set(err, SAI_EUNSUPP, "tensor '%s' is not a short int64 list", nm);
    if (t->has_raw_data && t->raw_data.len > 0) {
        if (t->raw_data.len != n * 8)
            return sai_error_set(err, SAI_EFORMAT, "tensor '%s' has %zu bytes for %zu int64s",
                                 nm, t->raw_data.len, n);
        memcpy(out, t->raw_data.data, n * 8);
    } else {
        if (t->n_int64_data != n)
            return sai_error_set(err, SAI_EFORMAT, "tensor '%s' has %zu int64s, its shape %zu",
                                 nm, t->n_int64_data, n);
        memcpy(out, t->int64_data, n * 8);
    }
    *count = n;
    return 0;
}

/* ---- attributes -------------------------------------------------------- */

static const SaiOnnx__AttributeProto *attr(const SaiOnnx__NodeProto *nd, const char *name)
{
    for (size_t i = 0; i < nd->n_attribute; i++)
        if (nd->attribute[i]->name != NULL && strcmp(nd->attribute[i]->name, name) == 0)
            return nd->attribute[i];
    return NULL;
}

static int64_t attr_int(const SaiOnnx__NodeProto *nd, const char *name, int64_t dflt)
{
    const SaiOnnx__AttributeProto *a = attr(nd, name);
    return (a != NULL && a->has_i) ? a->i : dflt;
}

static float attr_float(const SaiOnnx__NodeProto *nd, const char *name, float dflt)
{
    const SaiOnnx__AttributeProto *a = attr(nd, name);
    return (a != NULL && a->has_f) ? a->f : dflt;
}

/* ints attribute: n values all equal to *v (or absent: *v = dflt). */
static bool attr_ints_uniform(const SaiOnnx__NodeProto *nd, const char *name, size_t n, int64_t dflt,
                              int64_t *v)
{
    const SaiOnnx__AttributeProto *a = attr(nd, name);
    *v = dflt;
    if (a == NULL)
        return true;
    if (a->n_ints != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (a->ints[i] != a->ints[0])
            return false;
    *v = a->ints[0];
    return true;
}

static bool auto_pad_ok(const SaiOnnx__NodeProto *nd)
{
    const SaiOnnx__AttributeProto *a = attr(nd, "auto_pad");
    if (a == NULL || !a->has_s || a->s.len == 0)
        return true;
    return (a->s.len == 6 && memcmp(a->s.data, "NOTSET", 6) == 0) ||
           (a->s.len == 5 && memcmp(a->s.data, "VALID", 5) == 0);
}

/* ---- values ------------------------------------------------------------ */

static lvalue *find_value(lower_ctx *cx, const char *name)
{
    for (int i = cx->nv - 1; i >= 0; i--)
        if (strcmp(cx->vals[i].name, name) == 0)
            return &cx->vals[i];
    return NULL;
}

static int add_value(lower_ctx *cx, const char *name, int id, int c, int h, int w, bool flat,
                     sai_error_t *err)
{
    if (name == NULL || name[0] == '\0')
        return sai_error_set(err, SAI_EFORMAT, "a node output has no name");
    if (find_value(cx, name) != NULL || find_tensor(cx, name) != NULL)
        return sai_error_set(err, SAI_EFORMAT, "value '%s' is defined twice", name);
    if (cx->nv >= MAX_VALUES)
        return sai_error_set(err, SAI_ELIMIT, "too many values");
    cx->vals[cx->nv++] = (lvalue){name, id, c, h, w, flat};
    return 0;
}

static lnode *new_node(lower_ctx *cx, sai_nn_node_kind_t kind, const lvalue *in, int c, int h, int w,
                       const char *src, sai_error_t *err)
{
    if (cx->nn >= MAX_LNODES) {
        sai_error_set(err, SAI_ELIMIT, "the graph has more than %d engine nodes", MAX_LNODES);
        return NULL;
    }
    lnode *n = &cx->nodes[cx->nn++];
    memset(n, 0, sizeof(*n));
    n->n.kind = kind;
    n->n.in = in->id;
    n->n.in2 = -1;
    n->n.c = c; n->n.h = h; n->n.w = w;
    for (int i = 0; i < 4; i++)
        n->n.tensor[i] = -1;
    n->src = src;
    return n;
}

static float *filled(size_t n, float v)
{
    float *p = malloc(n > 0 ? n * sizeof(float) : 1);
    if (p != NULL)
        for (size_t i = 0; i < n; i++)
            p[i] = v;
    return p;
}

/* How many node inputs and graph outputs name the value. */
static int readers(const SaiOnnx__GraphProto *g, const char *name)
{
    int r = 0;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t j = 0; j < g->node[i]->n_input; j++)
            r += g->node[i]->input[j] != NULL && strcmp(g->node[i]->input[j], name) == 0;
    for (size_t i = 0; i < g->n_output; i++)
        r += g->output[i]->name != NULL && strcmp(g->output[i]->name, name) == 0;
    return r;
}

/* ---- one ONNX node ------------------------------------------------------ */

#define NODE_ERR(code, ...) \
    do { rc = sai_error_set(err, code, __VA_ARGS__); goto out; } while (0)

static int lower_node(lower_ctx *cx, const SaiOnnx__NodeProto *nd, int idx, sai_error_t *err)
{
    int rc = 0;
    const char *op = str_or(nd->op_type, "");
    char where[160];
    snprintf(where, sizeof(where), "node %d ('%s', %s)", idx, str_or(nd->name, "unnamed"), op);
    float *owned[4] = {NULL, NULL, NULL, NULL};

    if (nd->domain != NULL && nd->domain[0] != '\0' && strcmp(nd->domain, "ai.onnx") != 0)
        NODE_ERR(SAI_EUNSUPP, "unsupported ONNX operator '%s' of domain '%s' (%s); the importer "
                 "reads %s", op, nd->domain, where, k_supported);
    if (strcmp(op, "Constant") == 0) {
        const SaiOnnx__AttributeProto *a = attr(nd, "value");
        if (nd->n_output != 1 || a == NULL || a->t == NULL)
            NODE_ERR(SAI_EUNSUPP, "%s: only a tensor-valued Constant is supported", where);
        if (cx->nconsts >= SAI_ONNX_MAX_NODES)
            NODE_ERR(SAI_ELIMIT, "%s: too many constants", where);
        if (nd->output[0] == NULL || find_value(cx, nd->output[0]) != NULL ||
            find_tensor(cx, nd->output[0]) != NULL)
            NODE_ERR(SAI_EFORMAT, "%s: output name missing or defined twice", where);
        cx->const_names[cx->nconsts] = nd->output[0];
        cx->consts[cx->nconsts++] = a->t;
        goto out;
    }
    static const char *const known[] = {
        "Conv", "BatchNormalization", "Relu", "Add", "MaxPool", "AveragePool",
        "GlobalAveragePool", "Flatten", "Reshape", "Gemm", "Identity", NULL,
    };
    bool ok = false;
    for (int i = 0; known[i] != NULL; i++)
        ok = ok || strcmp(op, known[i]) == 0;
    if (!ok)
        NODE_ERR(SAI_EUNSUPP, "unsupported ONNX operator '%s' (%s); the importer reads %s", op,
                 where, k_supported);
    if (nd->n_input < 1 || nd->n_output < 1 || nd->input[0] == NULL)
        NODE_ERR(SAI_EFORMAT, "%s has no input or output", where);
    lvalue *x = find_value(cx, nd->input[0]);
    const SaiOnnx__TensorProto *xt = x == NULL ? find_tensor(cx, nd->input[0]) : NULL;
    if (strcmp(op, "Identity") == 0 && xt != NULL) {
        /* torch.onnx.export shares equal initializers through Identity */
        if (nd->n_output != 1 || nd->output[0] == NULL || find_value(cx, nd->output[0]) != NULL ||
            find_tensor(cx, nd->output[0]) != NULL)
            NODE_ERR(SAI_EFORMAT, "%s: output name missing or defined twice", where);
        if (cx->nconsts >= SAI_ONNX_MAX_NODES)
            NODE_ERR(SAI_ELIMIT, "%s: too many constants", where);
        cx->const_names[cx->nconsts] = nd->output[0];
        cx->consts[cx->nconsts++] = xt;
        goto out;
    }
    if (x == NULL)
        NODE_ERR(SAI_EFORMAT, "%s reads '%s', which no earlier node or graph input defines",
                 where, nd->input[0]);
    const lvalue xin = *x;
    const char *outname = nd->output[0];
    if (nd->n_output != 1)
        NODE_ERR(SAI_EUNSUPP, "%s has %zu outputs (training-mode or index outputs are not "
                 "supported)", where, nd->n_output);

    if (strcmp(op, "Conv") == 0) {
        if (xin.flat)
            NODE_ERR(SAI_EUNSUPP, "%s: convolution of a flattened value", where);
        const SaiOnnx__TensorProto *wt = nd->n_input >= 2 ? find_tensor(cx, nd->input[1]) : NULL;
        if (wt == NULL)
            NODE_ERR(SAI_EUNSUPP, "%s: the weight must be an initializer", where);
        if (wt->n_dims != 4 || wt->dims[2] != wt->dims[3] || wt->dims[1] != xin.c ||
            wt->dims[0] <= 0 || wt->dims[0] > 65536 || wt->dims[2] <= 0 || wt->dims[2] > 15)
            NODE_ERR(SAI_EUNSUPP, "%s: weight must be [Co][%d][k][k] with k <= 15", where, xin.c);
        int k = (int)wt->dims[2], co = (int)wt->dims[0];
        int64_t s, p, dil, ks;
        if (attr_int(nd, "group", 1) != 1)
            NODE_ERR(SAI_EUNSUPP, "%s: grouped convolution is not supported", where);
        if (!attr_ints_uniform(nd, "dilations", 2, 1, &dil) || dil != 1)
            NODE_ERR(SAI_EUNSUPP, "%s: dilated convolution is not supported", where);
        if (!attr_ints_uniform(nd, "strides", 2, 1, &s) || s < 1 || s > 8)
            NODE_ERR(SAI_EUNSUPP, "%s: strides must be equal and in 1..8", where);
        if (!attr_ints_uniform(nd, "pads", 4, 0, &p) || p < 0 || p > 8)
            NODE_ERR(SAI_EUNSUPP, "%s: pads must be symmetric and in 0..8", where);
        if (!attr_ints_uniform(nd, "kernel_shape", 2, k, &ks) || ks != k)
            NODE_ERR(SAI_EUNSUPP, "%s: kernel_shape does not match the weight", where);
        if (!auto_pad_ok(nd))
            NODE_ERR(SAI_EUNSUPP, "%s: auto_pad SAME_* is not supported", where);
        int ho = (xin.h + 2 * (int)p - k) / (int)s + 1, wo = (xin.w + 2 * (int)p - k) / (int)s + 1;
        if (xin.h + 2 * (int)p < k || xin.w + 2 * (int)p < k || ho <= 0 || wo <= 0)
            NODE_ERR(SAI_EINVAL, "%s: the input is smaller than the kernel", where);
        size_t wn;
        if ((rc = tensor_floats(wt, &owned[0], &wn, err)) != 0)
            goto out;
        lnode *n = new_node(cx, SAI_NN_NODE_CONV, &xin, co, ho, wo, nd->name, err);
        if (n == NULL) { rc = err->code; goto out; }
        n->n.k = k; n->n.stride = (int)s; n->n.pad = (int)p;
        n->t[0] = owned[0]; n->numel[0] = wn; owned[0] = NULL;
        int id = cx->nn;
        if (nd->n_input >= 3 && nd->input[2] != NULL && nd->input[2][0] != '\0') {
            /* bias: Conv + BN(gamma 1, beta B, mean 0, var 1 - eps) */
            const SaiOnnx__TensorProto *bt = find_tensor(cx, nd->input[2]);
            size_t bn_;
            if (bt == NULL)
                NODE_ERR(SAI_EUNSUPP, "%s: the bias must be an initializer", where);
            if ((rc = tensor_floats(bt, &owned[1], &bn_, err)) != 0)
                goto out;
            if (bn_ != (size_t)co)
                NODE_ERR(SAI_EFORMAT, "%s: bias has %zu values for %d channels", where, bn_, co);
            lvalue pre = {outname, id, co, ho, wo, false};
            lnode *b = new_node(cx, SAI_NN_NODE_BN, &pre, co, ho, wo, nd->name, err);
            if (b == NULL) { rc = err->code; goto out; }
            b->bias_bn = true;
            b->t[0] = filled((size_t)co, 1.0f);
            b->t[1] = owned[1]; owned[1] = NULL;
            b->t[2] = filled((size_t)co, 0.0f);
            b->t[3] = filled((size_t)co, 1.0f - SAI_NN_BN_EPS);
            for (int i = 0; i < 4; i++)
                b->numel[i] = (size_t)co;
            if (b->t[0] == NULL || b->t[2] == NULL || b->t[3] == NULL)
                NODE_ERR(SAI_ENOMEM, "out of memory");
            id = cx->nn;
        }
        rc = add_value(cx, outname, id, co, ho, wo, false, err);
    } else if (strcmp(op, "BatchNormalization") == 0) {
        if (xin.flat)
            NODE_ERR(SAI_EUNSUPP, "%s: batch norm of a flattened value", where);
        if (nd->n_input != 5)
            NODE_ERR(SAI_EFORMAT, "%s needs 5 inputs", where);
        if (attr_int(nd, "training_mode", 0) != 0 || attr_int(nd, "spatial", 1) != 1)
            NODE_ERR(SAI_EUNSUPP, "%s: only inference-mode spatial batch norm is supported",
                     where);
        size_t cnt[4];
        for (int i = 0; i < 4; i++) {
            const SaiOnnx__TensorProto *t = find_tensor(cx, nd->input[i + 1]);
            if (t == NULL)
                NODE_ERR(SAI_EUNSUPP, "%s: parameter '%s' must be an initializer", where,
                         nd->input[i + 1]);
            if ((rc = tensor_floats(t, &owned[i], &cnt[i], err)) != 0)
                goto out;
            if (cnt[i] != (size_t)xin.c)
                NODE_ERR(SAI_EFORMAT, "%s: parameter '%s' has %zu values for %d channels", where,
                         nd->input[i + 1], cnt[i], xin.c);
        }
        float eps = attr_float(nd, "epsilon", 1e-5f);
        if (!(eps >= 0.0f && eps < 1.0f))
            NODE_ERR(SAI_EFORMAT, "%s: bad epsilon", where);
        for (int c = 0; c < xin.c; c++) {
            owned[3][c] += eps - SAI_NN_BN_EPS;
            if (!(owned[3][c] + SAI_NN_BN_EPS > 0.0f))
                NODE_ERR(SAI_EFORMAT, "%s: variance plus epsilon is not positive", where);
        }
        /* Conv bias followed by this BN, which is the conv output's only
         * reader: fold the bias into the mean, BN(x + b) = BN'(x) with
         * mean' = mean - b, and let this BN replace the synthetic one. */
        lnode *prev = xin.id == cx->nn && cx->nn > 0 ? &cx->nodes[cx->nn - 1] : NULL;
        if (prev != NULL && prev->bias_bn && readers(cx->g, nd->input[0]) == 1) {
            for (int c = 0; c < xin.c; c++)
                owned[2][c] -= prev->t[1][c];
            for (int i = 0; i < 4; i++) {
                free(prev->t[i]);
                prev->t[i] = owned[i];
                owned[i] = NULL;
            }
            prev->bias_bn = false;
            prev->src = nd->name;
            rc = add_value(cx, outname, xin.id, xin.c, xin.h, xin.w, false, err);
            goto out;
        }
        lnode *n = new_node(cx, SAI_NN_NODE_BN, &xin, xin.c, xin.h, xin.w, nd->name, err);
        if (n == NULL) { rc = err->code; goto out; }
        for (int i = 0; i < 4; i++) {
            n->t[i] = owned[i];
            n->numel[i] = cnt[i];
            owned[i] = NULL;
        }
        rc = add_value(cx, outname, cx->nn, xin.c, xin.h, xin.w, false, err);
    } else if (strcmp(op, "Relu") == 0) {
        if (new_node(cx, SAI_NN_NODE_RELU, &xin, xin.c, xin.h, xin.w, nd->name, err) == NULL) {
            rc = err->code;
            goto out;
        }
        rc = add_value(cx, outname, cx->nn, xin.c, xin.h, xin.w, xin.flat, err);
    } else if (strcmp(op, "Add") == 0) {
        lvalue *y = nd->n_input == 2 ? find_value(cx, nd->input[1]) : NULL;
        if (y == NULL)
            NODE_ERR(SAI_EUNSUPP, "%s: only the sum of two computed values is supported", where);
        if (y->c != xin.c || y->h != xin.h || y->w != xin.w || y->flat != xin.flat)
            NODE_ERR(SAI_EUNSUPP, "%s: the two inputs differ in shape (no broadcasting)", where);
        lnode *n = new_node(cx, SAI_NN_NODE_ADD, &xin, xin.c, xin.h, xin.w, nd->name, err);
        if (n == NULL) { rc = err->code; goto out; }
        n->n.in2 = y->id;
        rc = add_value(cx, outname, cx->nn, xin.c, xin.h, xin.w, xin.flat, err);
    } else if (strcmp(op, "MaxPool") == 0 || strcmp(op, "AveragePool") == 0) {
        bool mx = op[0] == 'M';
        const SaiOnnx__AttributeProto *ka = attr(nd, "kernel_shape");
        int64_t k, s, p, dil;
        if (xin.flat)
            NODE_ERR(SAI_EUNSUPP, "%s: pooling of a flattened value", where);
        if (ka == NULL || !attr_ints_uniform(nd, "kernel_shape", 2, 0, &k) || k < 1 || k > 15)
            NODE_ERR(SAI_EUNSUPP, "%s: kernel_shape must be square, 1..15", where);
        if (!attr_ints_uniform(nd, "strides", 2, 1, &s) || s < 1 || s > 15)
            NODE_ERR(SAI_EUNSUPP, "%s: strides must be equal, 1..15", where);
        if (!attr_ints_uniform(nd, "pads", 4, 0, &p) || p != 0 || !auto_pad_ok(nd))
            NODE_ERR(SAI_EUNSUPP, "%s: padded pooling is not supported by the engine", where);
        if (!attr_ints_uniform(nd, "dilations", 2, 1, &dil) || dil != 1 ||
            attr_int(nd, "ceil_mode", 0) != 0 || attr_int(nd, "storage_order", 0) != 0)
            NODE_ERR(SAI_EUNSUPP, "%s: dilation, ceil_mode and storage_order are not supported",
                     where);
        if (xin.h < k || xin.w < k)
            NODE_ERR(SAI_EINVAL, "%s: the input is smaller than the window", where);
        int ho = (xin.h - (int)k) / (int)s + 1, wo = (xin.w - (int)k) / (int)s + 1;
        lnode *n = new_node(cx, mx ? SAI_NN_NODE_MAXPOOL : SAI_NN_NODE_AVGPOOL, &xin, xin.c, ho,
                            wo, nd->name, err);
        if (n == NULL) { rc = err->code; goto out; }
        n->n.k = (int)k; n->n.stride = (int)s;
        rc = add_value(cx, outname, cx->nn, xin.c, ho, wo, false, err);
    } else if (strcmp(op, "GlobalAveragePool") == 0) {
        if (xin.flat)
            NODE_ERR(SAI_EUNSUPP, "%s: pooling of a flattened value", where);
        if (new_node(cx, SAI_NN_NODE_GAP, &xin, xin.c, 1, 1, nd->name, err) == NULL) {
            rc = err->code;
            goto out;
        }
        rc = add_value(cx, outname, cx->nn, xin.c, 1, 1, false, err);
    } else if (strcmp(op, "Flatten") == 0) {
        if (attr_int(nd, "axis", 1) != 1)
            NODE_ERR(SAI_EUNSUPP, "%s: only Flatten with axis 1 is supported", where);
        rc = add_value(cx, outname, xin.id, xin.c, xin.h, xin.w, true, err);
    } else if (strcmp(op, "Reshape") == 0) {
        const SaiOnnx__TensorProto *st = nd->n_input == 2 ? find_tensor(cx, nd->input[1]) : NULL;
        int64_t shp[2];
        size_t ns = 0;
        if (st == NULL)
            NODE_ERR(SAI_EUNSUPP, "%s: the target shape must be a constant", where);
        if ((rc = tensor_int64s(st, shp, 2, &ns, err)) != 0)
            goto out;
        int64_t chw = (int64_t)xin.c * xin.h * xin.w;
        if (ns != 2 || !(shp[0] == -1 || shp[0] == 0 || shp[0] == 1) ||
            !(shp[1] == chw || (shp[1] == -1 && shp[0] != -1)) ||
            (shp[0] == 0 && attr_int(nd, "allowzero", 0) != 0))
            NODE_ERR(SAI_EUNSUPP, "%s: only a reshape to [N, C*H*W] (a flatten) is supported",
                     where);
        rc = add_value(cx, outname, xin.id, xin.c, xin.h, xin.w, true, err);
    } else if (strcmp(op, "Identity") == 0) {
        rc = add_value(cx, outname, xin.id, xin.c, xin.h, xin.w, xin.flat, err);
    } else {   /* Gemm */
        if (!xin.flat)
            NODE_ERR(SAI_EUNSUPP, "%s: Gemm input must be flattened to [N, C*H*W]", where);
        if (attr_float(nd, "alpha", 1.0f) != 1.0f || attr_float(nd, "beta", 1.0f) != 1.0f ||
            attr_int(nd, "transA", 0) != 0)
            NODE_ERR(SAI_EUNSUPP, "%s: only alpha = beta = 1, transA = 0 is supported", where);
        bool tb = attr_int(nd, "transB", 0) != 0;
        const SaiOnnx__TensorProto *wt = nd->n_input >= 2 ? find_tensor(cx, nd->input[1]) : NULL;
        if (wt == NULL || wt->n_dims != 2)
            NODE_ERR(SAI_EUNSUPP, "%s: B must be a 2-D initializer", where);
        int64_t inf = (int64_t)xin.c * xin.h * xin.w;
        int64_t outf = tb ? wt->dims[0] : wt->dims[1], kin = tb ? wt->dims[1] : wt->dims[0];
        if (kin != inf || outf <= 0 || outf > 65536)
            NODE_ERR(SAI_EFORMAT, "%s: B is %lldx%lld for %lld inputs", where,
                     (long long)wt->dims[0], (long long)wt->dims[1], (long long)inf);
        size_t wn, bn_ = (size_t)outf;
        if ((rc = tensor_floats(wt, &owned[0], &wn, err)) != 0)
            goto out;
        if (!tb) {   /* [in][out] -> [out][in] */
            float *t = malloc(wn * sizeof(float));
            if (t == NULL)
                NODE_ERR(SAI_ENOMEM, "out of memory");
            for (int64_t i = 0; i < inf; i++)
                for (int64_t o = 0; o < outf; o++)
                    t[o * inf + i] = owned[0][i * outf + o];
            free(owned[0]);
            owned[0] = t;
        }
        if (nd->n_input >= 3 && nd->input[2] != NULL && nd->input[2][0] != '\0') {
            const SaiOnnx__TensorProto *bt = find_tensor(cx, nd->input[2]);
            if (bt == NULL)
                NODE_ERR(SAI_EUNSUPP, "%s: C must be an initializer", where);
            if ((rc = tensor_floats(bt, &owned[1], &bn_, err)) != 0)
                goto out;
            if (bn_ != (size_t)outf)
                NODE_ERR(SAI_EUNSUPP, "%s: C must have one value per output (%lld), not %zu",
                         where, (long long)outf, bn_);
        } else if ((owned[1] = filled((size_t)outf, 0.0f)) == NULL) {
            NODE_ERR(SAI_ENOMEM, "out of memory");
        }
        lnode *n = new_node(cx, SAI_NN_NODE_LINEAR, &xin, (int)outf, 1, 1, nd->name, err);
        if (n == NULL) { rc = err->code; goto out; }
        n->t[0] = owned[0]; n->numel[0] = wn; owned[0] = NULL;
        n->t[1] = owned[1]; n->numel[1] = (size_t)outf; owned[1] = NULL;
        cx->classes = (int)outf;
        rc = add_value(cx, outname, cx->nn, (int)outf, 1, 1, true, err);
    }
out:
    for (int i = 0; i < 4; i++)
        free(owned[i]);
    return rc;
}

/* ---- the whole graph ---------------------------------------------------- */

static void lower_free(lower_ctx *cx)
{
    if (cx->nodes != NULL)
        for (int i = 0; i < cx->nn; i++)
            for (int k = 0; k < 4; k++)
                free(cx->nodes[i].t[k]);
    free(cx->nodes);
    free(cx->vals);
    free(cx->consts);
    free(cx->const_names);
    memset(cx, 0, sizeof(*cx));
}

static int input_shape(lower_ctx *cx, const SaiOnnx__GraphProto *g, const char **name,
                       sai_error_t *err)
{
    const SaiOnnx__ValueInfoProto *in = NULL;
    for (size_t i = 0; i < g->n_input; i++) {
        const char *nm = g->input[i]->name;
        if (nm == NULL || find_tensor(cx, nm) != NULL)
            continue;   /* IR < 4 lists initializers as inputs too */
        if (in != NULL)
            return sai_error_set(err, SAI_EUNSUPP, "the graph has more than one input");
        in = g->input[i];
    }
    if (in == NULL)
        return sai_error_set(err, SAI_EFORMAT, "the graph has no input");
    const SaiOnnx__TypeProto *t = in->type;
    if (t == NULL || t->value_case != SAI_ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        t->tensor_type == NULL || t->tensor_type->elem_type != SAI_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
        t->tensor_type->shape == NULL || t->tensor_type->shape->n_dim != 4)
        return sai_error_set(err, SAI_EUNSUPP, "input '%s' must be a float32 [N,C,H,W] tensor",
                             in->name);
    int d[3];
    for (int i = 0; i < 3; i++) {
        const SaiOnnx__TensorShapeProto__Dimension *dm = t->tensor_type->shape->dim[i + 1];
        if (dm->value_case != SAI_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ||
            dm->dim_value <= 0 || dm->dim_value > 1024)
            return sai_error_set(err, SAI_EUNSUPP, "input '%s' needs a fixed C, H and W "
                                 "(1..1024)", in->name);
        d[i] = (int)dm->dim_value;
    }
    if (d[0] > 16)
        return sai_error_set(err, SAI_EUNSUPP, "input '%s' has %d channels (at most 16)",
                             in->name, d[0]);
    cx->in_c = d[0]; cx->in_h = d[1]; cx->in_w = d[2];
    *name = in->name;
    return 0;
}

static int lower(lower_ctx *cx, const SaiOnnx__ModelProto *mp, sai_error_t *err)
{
    const SaiOnnx__GraphProto *g = mp->graph;
    int rc;
    if (g == NULL)
        return sai_error_set(err, SAI_EFORMAT, "the ONNX model has no graph");
    if (g->n_node > SAI_ONNX_MAX_NODES)
        return sai_error_set(err, SAI_ELIMIT, "the graph has %zu nodes (cap %d)", g->n_node,
                             SAI_ONNX_MAX_NODES);
    int64_t opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const char *d = mp->opset_import[i]->domain;
        if (d == NULL || d[0] == '\0' || strcmp(d, "ai.onnx") == 0)
            opset = mp->opset_import[i]->version;
    }
    if (opset < 7 || opset > 21)
        return sai_error_set(err, SAI_EUNSUPP, "ONNX opset %lld is not supported (7..21)",
                             (long long)opset);
    cx->g = g;
    cx->nodes = calloc(MAX_LNODES, sizeof(*cx->nodes));
    cx->vals = calloc(MAX_VALUES, sizeof(*cx->vals));
    cx->consts = calloc(SAI_ONNX_MAX_NODES, sizeof(*cx->consts));
    cx->const_names = calloc(SAI_ONNX_MAX_NODES, sizeof(*cx->const_names));
    if (cx->nodes == NULL || cx->vals == NULL || cx->consts == NULL || cx->const_names == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    const char *in_name = NULL;
    if ((rc = input_shape(cx, g, &in_name, err)) != 0)
        return rc;
    if ((rc = add_value(cx, in_name, 0, cx->in_c, cx->in_h, cx->in_w, false, err)) != 0)
        return rc;
    for (size_t i = 0; i < g->n_node; i++) {
        if ((rc = lower_node(cx, g->node[i], (int)i, err)) != 0)
            return rc;
    }
    if (g->n_output != 1 || g->output[0]->name == NULL)
        return sai_error_set(err, SAI_EUNSUPP, "the graph must have exactly one output");
    const lvalue *o = find_value(cx, g->output[0]->name);
    if (o == NULL)
        return sai_error_set(err, SAI_EFORMAT, "graph output '%s' is not computed",
                             g->output[0]->name);
    if (cx->nn == 0 || o->id != cx->nn || cx->nodes[cx->nn - 1].n.kind != SAI_NN_NODE_LINEAR)
        return sai_error_set(err, SAI_EUNSUPP, "the graph output must be the last node's "
                             "logits from a Gemm");
    return 0;
}

static int unpack(const uint8_t *buf, size_t len, SaiOnnx__ModelProto **mp, sai_error_t *err)
{
    *mp = NULL;
    if (len > SAI_ONNX_MAX_BYTES)
        return sai_error_set(err, SAI_ELIMIT, "ONNX file of %zu bytes is over the cap", len);
    if (len == 0)
        return sai_error_set(err, SAI_EFORMAT, "empty ONNX file");
    *mp = sai_onnx__model_proto__unpack(NULL, len, buf);
    if (*mp == NULL)
        return sai_error_set(err, SAI_EFORMAT, "not an ONNX model (protobuf parse failed)");
    return 0;
}

int sai_onnx_check(const uint8_t *buf, size_t len, int *nodes, sai_error_t *err)
{
    SaiOnnx__ModelProto *mp;
    lower_ctx cx;
    memset(&cx, 0, sizeof(cx));
    int rc = unpack(buf, len, &mp, err);
    if (rc == 0)
        rc = lower(&cx, mp, err);
    if (rc == 0 && nodes != NULL)
        *nodes = cx.nn;
    lower_free(&cx);
    if (mp != NULL)
        sai_onnx__model_proto__free_unpacked(mp, NULL);
    return rc;
}

/* ---- matching ------------------------------------------------------------ */

/* The engine's architectures and their convolution counts (a cheap filter
 * before building a candidate: resnet50 costs 100 MB and 0.2 s to build).
 * tests/onnx/test_onnx.c checks the counts against the built models. */
static const struct {
    const char *name;
    int convs;
} k_arch[] = {
    {"smallcnn", 4}, {"resnet8", 9}, {"resnet20", 21}, {"resnet18", 20},
    {"resnet56", 57}, {"resnet50", 53},
};

static bool same_node(const sai_nn_node_t *a, const sai_nn_node_t *b)
{
    if (a->kind != b->kind || a->c != b->c || a->h != b->h || a->w != b->w)
        return false;
    if (a->kind == SAI_NN_NODE_ADD)
        return (a->in == b->in && a->in2 == b->in2) || (a->in == b->in2 && a->in2 == b->in);
    if (a->in != b->in)
        return false;
    switch (a->kind) {
    case SAI_NN_NODE_CONV:
        return a->k == b->k && a->stride == b->stride && a->pad == b->pad;
    case SAI_NN_NODE_MAXPOOL:
    case SAI_NN_NODE_AVGPOOL:
        return a->k == b->k && a->stride == b->stride;
    default:
        return true;
    }
}

/* Copy the lowered weights into m when its graph is the lowered one. */
static bool match(sai_nn_model_t *m, const lower_ctx *cx)
{
    int cnt = sai_nn_model_nodes(m, NULL, 0);
    if (cnt != cx->nn)
        return false;
    sai_nn_node_t *nodes = calloc((size_t)cnt, sizeof(*nodes));
    if (nodes == NULL)
        return false;
    sai_nn_model_nodes(m, nodes, cnt);
    bool ok = true;
    for (int i = 0; ok && i < cnt; i++) {
        ok = same_node(&nodes[i], &cx->nodes[i].n);
        for (int k = 0; ok && k < 4; k++) {
            if (nodes[i].tensor[k] < 0)
                continue;
            sai_nn_tensor_info_t ti;
            sai_nn_model_tensor(m, nodes[i].tensor[k], &ti);
            ok = cx->nodes[i].t[k] != NULL && cx->nodes[i].numel[k] == ti.numel;
        }
    }
    for (int i = 0; ok && i < cnt; i++)
        for (int k = 0; k < 4; k++) {
            if (nodes[i].tensor[k] < 0)
                continue;
            sai_nn_tensor_info_t ti;
            sai_nn_model_tensor(m, nodes[i].tensor[k], &ti);
            memcpy(ti.data, cx->nodes[i].t[k], ti.numel * sizeof(float));
        }
    free(nodes);
    return ok;
}

int sai_onnx_import(sai_nn_model_t **out, const uint8_t *buf, size_t len, int max_batch,
                    sai_error_t *err)
{
    *out = NULL;
    SaiOnnx__ModelProto *mp;
    lower_ctx cx;
    memset(&cx, 0, sizeof(cx));
    sai_nn_model_t *m = NULL;
    int rc = unpack(buf, len, &mp, err);
    if (rc != 0)
        goto out;
    if ((rc = lower(&cx, mp, err)) != 0)
        goto out;
    int convs = 0;
    for (int i = 0; i < cx.nn; i++)
        convs += cx.nodes[i].n.kind == SAI_NN_NODE_CONV;
    for (size_t a = 0; a < sizeof(k_arch) / sizeof(k_arch[0]); a++) {
        if (k_arch[a].convs != convs)
            continue;
        sai_error_t e2 = {0};
        if (sai_nn_model_create_ex(&m, k_arch[a].name, cx.in_c, cx.in_h, cx.in_w, cx.classes,
                                   max_batch, 0, SAI_NN_INFERENCE_ONLY, &e2) != 0)
            continue;
        if (match(m, &cx)) {
            *out = m;
            m = NULL;
            goto out;
        }
        sai_nn_model_free(m);
        m = NULL;
    }
    int counts[8] = {0};
    for (int i = 0; i < cx.nn; i++)
        counts[cx.nodes[i].n.kind]++;
    rc = sai_error_set(err, SAI_EUNSUPP,
                       "the graph (%d engine nodes: %d conv, %d batch norm, %d relu, %d add, "
                       "%d pool, %d linear; input %dx%dx%d, %d classes) is not one of the "
                       "engine's architectures (smallcnn, resnet8, resnet20, resnet56, resnet18, "
                       "resnet50)", cx.nn, counts[SAI_NN_NODE_CONV], counts[SAI_NN_NODE_BN],
                       counts[SAI_NN_NODE_RELU], counts[SAI_NN_NODE_ADD],
                       counts[SAI_NN_NODE_MAXPOOL] + counts[SAI_NN_NODE_AVGPOOL] +
                           counts[SAI_NN_NODE_GAP],
                       counts[SAI_NN_NODE_LINEAR], cx.in_c, cx.in_h, cx.in_w, cx.classes);
out:
    sai_nn_model_free(m);
    lower_free(&cx);
    if (mp != NULL)
        sai_onnx__model_proto__free_unpacked(mp, NULL);
    return rc;
}
