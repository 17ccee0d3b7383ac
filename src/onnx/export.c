/*
 * export.c — engine model -> ONNX (secureai/onnx.h).
 *
 * One ONNX node per engine node (secureai/nn_graph.h): Conv (no bias),
 * BatchNormalization (epsilon 1e-5, inference mode), Relu, MaxPool,
 * AveragePool, GlobalAveragePool, Add and Gemm (transB = 1), with a Flatten
 * before a Gemm whose input is still [N,C,H,W]. Initializers carry the
 * engine's tensor names and their floats as raw_data (little-endian, like
 * the host). Opset 13, IR version 7: what onnxruntime and PyTorch 1.13 read.
 * The message is built over borrowed pointers (names and weights stay in
 * the model) and packed once by protobuf-c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_subset.pb-c.h"
#include "secureai/nn_graph.h"
#include "secureai/onnx.h"

typedef struct {
    SaiOnnx__NodeProto      node;
    char                *in[5], *out[1];
    SaiOnnx__AttributeProto attr[3], *attrp[3];
    int64_t              ints[3][4];
    char                 flat_name[24];
} enode;

static void value_name(char *dst, size_t cap, int id, int last)
{
    if (id == 0)
        snprintf(dst, cap, "input");
    else if (id == last)
        snprintf(dst, cap, "logits");
    else
        snprintf(dst, cap, "v%d", id);
}

static void set_ints(enode *e, int slot, const char *name, int64_t v, size_t n)
{
    SaiOnnx__AttributeProto *a = &e->attr[slot];
    sai_onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = SAI_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    for (size_t i = 0; i < n; i++)
        e->ints[slot][i] = v;
    a->n_ints = n;
    a->ints = e->ints[slot];
    e->attrp[slot] = a;
    e->node.n_attribute = (size_t)slot + 1;
    e->node.attribute = e->attrp;
}

int sai_onnx_export(const sai_nn_model_t *m, uint8_t **buf, size_t *len, sai_error_t *err)
{
    *buf = NULL;
    *len = 0;
    int rc = 0;
    int cnt = sai_nn_model_nodes(m, NULL, 0);
    int ntens = sai_nn_model_num_tensors(m);
    sai_nn_node_t *nodes = calloc((size_t)cnt + 1, sizeof(*nodes));
    enode *en = calloc((size_t)cnt * 2 + 1, sizeof(*en));   /* a Flatten may precede a Gemm */
    SaiOnnx__NodeProto **np = calloc((size_t)cnt * 2 + 1, sizeof(*np));
    char (*vname)[24] = calloc((size_t)cnt + 1, sizeof(*vname));
    bool *flat = calloc((size_t)cnt + 1, sizeof(*flat));
    SaiOnnx__TensorProto *tp = calloc((size_t)ntens + 1, sizeof(*tp));
    SaiOnnx__TensorProto **tpp = calloc((size_t)ntens + 1, sizeof(*tpp));
    int64_t (*tdims)[4] = calloc((size_t)ntens + 1, sizeof(*tdims));
    if (nodes == NULL || en == NULL || np == NULL || vname == NULL || flat == NULL ||
        tp == NULL || tpp == NULL || tdims == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    sai_nn_model_nodes(m, nodes, cnt);
    for (int i = 0; i <= cnt; i++)
        value_name(vname[i], sizeof(vname[i]), i, cnt);

    int ne = 0;
    for (int i = 0; i < cnt; i++) {
        const sai_nn_node_t *n = &nodes[i];
        char *x = vname[n->in];
        if (n->kind == SAI_NN_NODE_LINEAR && !flat[n->in]) {
            enode *f = &en[ne];
            sai_onnx__node_proto__init(&f->node);
            snprintf(f->flat_name, sizeof(f->flat_name), "v%d_flat", n->in);
            f->in[0] = x;
            f->out[0] = f->flat_name;
            f->node.op_type = "Flatten";
            f->node.n_input = 1; f->node.input = f->in;
            f->node.n_output = 1; f->node.output = f->out;
            np[ne++] = &f->node;
            x = f->flat_name;
        }
        enode *e = &en[ne];
        sai_onnx__node_proto__init(&e->node);
        e->in[0] = x;
        e->node.n_input = 1;
        for (int k = 0; k < 4; k++) {
            if (n->tensor[k] < 0)
                continue;
            sai_nn_tensor_info_t ti;
            sai_nn_model_tensor(m, n->tensor[k], &ti);
            e->in[1 + k] = (char *)ti.name;
            e->node.n_input = (size_t)k + 2;
        }
        e->node.input = e->in;
        e->out[0] = vname[i + 1];
        e->node.n_output = 1;
        e->node.output = e->out;
        switch (n->kind) {
        case SAI_NN_NODE_CONV:
            e->node.op_type = "Conv";
            set_ints(e, 0, "kernel_shape", n->k, 2);
            set_ints(e, 1, "strides", n->stride, 2);
            set_ints(e, 2, "pads", n->pad, 4);
            break;
        case SAI_NN_NODE_BN:
            e->node.op_type = "BatchNormalization";
            sai_onnx__attribute_proto__init(&e->attr[0]);
            e->attr[0].name = "epsilon";
            e->attr[0].has_type = 1;
            e->attr[0].type = SAI_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
            e->attr[0].has_f = 1;
            e->attr[0].f = SAI_NN_BN_EPS;
            e->attrp[0] = &e->attr[0];
            e->node.n_attribute = 1;
            e->node.attribute = e->attrp;
            break;
        case SAI_NN_NODE_RELU:
            e->node.op_type = "Relu";
            flat[i + 1] = flat[n->in];
            break;
        case SAI_NN_NODE_MAXPOOL:
        case SAI_NN_NODE_AVGPOOL:
            e->node.op_type = n->kind == SAI_NN_NODE_MAXPOOL ? "MaxPool" : "AveragePool";
            set_ints(e, 0, "kernel_shape", n->k, 2);
            set_ints(e, 1, "strides", n->stride, 2);
            break;
        case SAI_NN_NODE_GAP:
            e->node.op_type = "GlobalAveragePool";
            break;
        case SAI_NN_NODE_LINEAR:
            e->node.op_type = "Gemm";
            sai_onnx__attribute_proto__init(&e->attr[0]);
            e->attr[0].name = "transB";
            e->attr[0].has_type = 1;
            e->attr[0].type = SAI_ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
            e->attr[0].has_i = 1;
            e->attr[0].i = 1;
            e->attrp[0] = &e->attr[0];
            e->node.n_attribute = 1;
            e->node.attribute = e->attrp;
            flat[i + 1] = true;
            break;
        case SAI_NN_NODE_ADD:
            e->node.op_type = "Add";
            e->in[1] = vname[n->in2];
            e->node.n_input = 2;
            flat[i + 1] = flat[n->in];
            break;
        }
        np[ne++] = &e->node;
    }

    for (int i = 0; i < ntens; i++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, i, &ti);
        SaiOnnx__TensorProto *t = &tp[i];
        sai_onnx__tensor_proto__init(t);
        t->name = (char *)ti.name;
        for (int d = 0; d < ti.ndim; d++)
            tdims[i][d] = ti.shape[d];
        t->n_dims = (size_t)ti.ndim;
        t->dims = tdims[i];
        t->has_data_type = 1;
        t->data_type = SAI_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        t->has_raw_data = 1;
        t->raw_data.len = ti.numel * sizeof(float);
        t->raw_data.data = (uint8_t *)ti.data;
        tpp[i] = t;
    }

    int c, h, w;
    sai_nn_model_input(m, &c, &h, &w);
    SaiOnnx__TensorShapeProto__Dimension din[4], dout[2], *dinp[4], *doutp[2];
    int64_t in_dims[4] = {0, c, h, w};
    for (int i = 0; i < 4; i++) {
        sai_onnx__tensor_shape_proto__dimension__init(&din[i]);
        if (i == 0) {
            din[i].value_case = SAI_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            din[i].dim_param = "N";
        } else {
            din[i].value_case = SAI_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            din[i].dim_value = in_dims[i];
        }
        dinp[i] = &din[i];
    }
    for (int i = 0; i < 2; i++) {
        sai_onnx__tensor_shape_proto__dimension__init(&dout[i]);
        doutp[i] = &dout[i];
    }
    dout[0].value_case = SAI_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
    dout[0].dim_param = "N";
    dout[1].value_case = SAI_ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    dout[1].dim_value = sai_nn_model_classes(m);
    SaiOnnx__TensorShapeProto sin = SAI_ONNX__TENSOR_SHAPE_PROTO__INIT, sout = SAI_ONNX__TENSOR_SHAPE_PROTO__INIT;
    sin.n_dim = 4; sin.dim = dinp;
    sout.n_dim = 2; sout.dim = doutp;
    SaiOnnx__TypeProto__Tensor ttin = SAI_ONNX__TYPE_PROTO__TENSOR__INIT,
                            ttout = SAI_ONNX__TYPE_PROTO__TENSOR__INIT;
    ttin.has_elem_type = ttout.has_elem_type = 1;
    ttin.elem_type = ttout.elem_type = SAI_ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    ttin.shape = &sin;
    ttout.shape = &sout;
    SaiOnnx__TypeProto tin = SAI_ONNX__TYPE_PROTO__INIT, tout = SAI_ONNX__TYPE_PROTO__INIT;
    tin.value_case = tout.value_case = SAI_ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tin.tensor_type = &ttin;
    tout.tensor_type = &ttout;
    SaiOnnx__ValueInfoProto vin = SAI_ONNX__VALUE_INFO_PROTO__INIT, vout = SAI_ONNX__VALUE_INFO_PROTO__INIT;
    SaiOnnx__ValueInfoProto *vinp = &vin, *voutp = &vout;
    vin.name = "input";
    vin.type = &tin;
    vout.name = "logits";
    vout.type = &tout;

    SaiOnnx__GraphProto g = SAI_ONNX__GRAPH_PROTO__INIT;
    char gname[48];
    snprintf(gname, sizeof(gname), "secureai-%s", sai_nn_model_name(m));
    g.name = gname;
    g.n_node = (size_t)ne;
    g.node = np;
    g.n_initializer = (size_t)ntens;
    g.initializer = tpp;
    g.n_input = 1;
    g.input = &vinp;
    g.n_output = 1;
    g.output = &voutp;

    SaiOnnx__OperatorSetIdProto ops = SAI_ONNX__OPERATOR_SET_ID_PROTO__INIT, *opsp = &ops;
    ops.domain = "";
    ops.has_version = 1;
    ops.version = SAI_ONNX_OPSET;
    SaiOnnx__ModelProto mp = SAI_ONNX__MODEL_PROTO__INIT;
    mp.has_ir_version = 1;
    mp.ir_version = 7;
    mp.n_opset_import = 1;
    mp.opset_import = &opsp;
    mp.producer_name = "secureai";
    mp.producer_version = SAI_VERSION;
    mp.graph = &g;

    size_t sz = sai_onnx__model_proto__get_packed_size(&mp);
    if (sz > SAI_ONNX_MAX_BYTES) {
        rc = sai_error_set(err, SAI_ELIMIT, "the model is too large for ONNX (%zu bytes)", sz);
        goto out;
    }
    *buf = malloc(sz > 0 ? sz : 1);
    if (*buf == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory for %zu bytes of ONNX", sz);
        goto out;
    }
    *len = sai_onnx__model_proto__pack(&mp, *buf);
out:
    free(nodes);
    free(en);
    free(np);
    free(vname);
    free(flat);
    free(tp);
    free(tpp);
    free(tdims);
    return rc;
}
