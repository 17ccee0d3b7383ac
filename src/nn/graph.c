/*
 * graph.c — the read-only node view of a model (secureai/nn_graph.h) that
 * the ONNX importer matches against and the exporter writes out. It reads
 * the op table that model.c builds and changes nothing; the one thing it
 * adds is the split of fused ReLUs back into their own nodes.
 */
#include <string.h>

#include "secureai/nn_graph.h"
#include "nn/nn_internal.h"

static sai_nn_node_kind_t node_kind(nn_op_kind k)
{
    switch (k) {
    case OP_CONV: return SAI_NN_NODE_CONV;
    case OP_BN: return SAI_NN_NODE_BN;
    case OP_RELU: return SAI_NN_NODE_RELU;
    case OP_MAXPOOL: return SAI_NN_NODE_MAXPOOL;
    case OP_AVGPOOL: return SAI_NN_NODE_AVGPOOL;
    case OP_GAP: return SAI_NN_NODE_GAP;
    case OP_LINEAR: return SAI_NN_NODE_LINEAR;
    case OP_ADD: break;
    }
    return SAI_NN_NODE_ADD;
}

static void put(sai_nn_node_t *nodes, int cap, int idx, const sai_nn_node_t *n)
{
    if (idx < cap)
        nodes[idx] = *n;
}

int sai_nn_model_nodes(const sai_nn_model_t *m, sai_nn_node_t *nodes, int cap)
{
    /* value_of[act]: the value id that currently holds the act's contents
     * (after a fused ReLU, the ReLU node's output). */
    int value_of[SAI_NN_MAX_ACTS];
    for (int i = 0; i < m->nacts; i++)
        value_of[i] = -1;
    value_of[0] = 0;
    int count = 0;
    for (int j = 0; j < m->nops; j++) {
        const nn_op *op = &m->ops[j];
        const nn_act *o = &m->acts[op->out];
        sai_nn_node_t n;
        memset(&n, 0, sizeof(n));
        n.kind = node_kind(op->kind);
        n.in = value_of[op->in];
        n.in2 = op->in2 >= 0 ? value_of[op->in2] : -1;
        n.k = op->k;
        n.stride = op->stride;
        n.pad = op->pad;
        n.c = o->c; n.h = o->h; n.w = o->w;
        n.tensor[0] = op->w; n.tensor[1] = op->b; n.tensor[2] = op->rm; n.tensor[3] = op->rv;
        put(nodes, cap, count++, &n);
        value_of[op->out] = count;
        if (op->relu) {
            sai_nn_node_t r;
            memset(&r, 0, sizeof(r));
            r.kind = SAI_NN_NODE_RELU;
            r.in = count;
            r.in2 = -1;
            r.c = o->c; r.h = o->h; r.w = o->w;
            r.tensor[0] = r.tensor[1] = r.tensor[2] = r.tensor[3] = -1;
            put(nodes, cap, count++, &r);
            value_of[op->out] = count;
        }
    }
    return count;
}
