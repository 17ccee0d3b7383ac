/*
 * nn_graph.h — a read-only view of an engine model's graph (src/nn/graph.c),
 * for the ONNX importer and exporter (src/onnx/).
 *
 * The engine fuses a ReLU into the batch norm or residual add before it;
 * this view undoes that, so every ReLU is its own node, as in the
 * frameworks' graphs. Values are numbered: 0 is the model input, i + 1 the
 * output of node i; the last node's output is the logits. Nodes are in
 * execution order (every input is an earlier value).
 */
#ifndef SECUREAI_NN_GRAPH_H
#define SECUREAI_NN_GRAPH_H

#include "secureai/nn.h"

typedef enum {
    SAI_NN_NODE_CONV = 0,   /* weight [Co][Ci][k][k], no bias, square stride and pad */
    SAI_NN_NODE_BN,         /* gamma, beta, running mean, running var; eps 1e-5 */
    SAI_NN_NODE_RELU,
    SAI_NN_NODE_MAXPOOL,    /* k x k, stride, no padding */
    SAI_NN_NODE_AVGPOOL,    /* k x k, stride, no padding */
    SAI_NN_NODE_GAP,        /* global average pool to C x 1 x 1 */
    SAI_NN_NODE_LINEAR,     /* weight [out][in] over the flattened input, bias [out] */
    SAI_NN_NODE_ADD,        /* in + in2, same shape */
} sai_nn_node_kind_t;

#define SAI_NN_BN_EPS 1e-5f

typedef struct sai_nn_node {
    sai_nn_node_kind_t kind;
    int in, in2;            /* value ids; in2 only for ADD (-1 otherwise) */
    int k, stride, pad;     /* CONV, pools */
    int c, h, w;            /* the output value's shape per image */
    int tensor[4];          /* sai_nn_model_tensor indices in the roles above; -1 unused */
} sai_nn_node_t;

/* Fill nodes[0..cap-1] with m's graph; returns the node count (which may be
 * more than cap: call with cap 0 to size the array). */
int sai_nn_model_nodes(const sai_nn_model_t *m, sai_nn_node_t *nodes, int cap);

#endif
