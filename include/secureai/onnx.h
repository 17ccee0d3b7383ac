/*
 * onnx.h — ONNX interchange for the engine (src/onnx/).
 *
 * Import: an ONNX model (protobuf, parsed with protobuf-c) of a CNN
 * classifier built from Conv, BatchNormalization, Relu, Add, MaxPool,
 * AveragePool, GlobalAveragePool, Flatten/Reshape and Gemm (what
 * torch.onnx.export writes for ResNets, with or without BatchNorm folded
 * into the convolutions) is lowered to the engine's node set
 * (secureai/nn_graph.h) and matched against the engine's architectures
 * (resnet8/20/56/18/50, smallcnn); on a match its weights are loaded into
 * that model, which then saves as an ordinary checkpoint. The engine builds
 * only those architectures: a graph of supported operators that is none of
 * them is refused (see docs/onnx.md). The first unsupported operator is
 * named in the error.
 *
 * Export: any engine model to ONNX (opset 13), one ONNX node per engine
 * node, initializers named as the engine's tensors.
 *
 * The ONNX bytes are untrusted: every size is capped and checked before
 * use (fuzz/fuzz_onnx.c).
 */
#ifndef SECUREAI_ONNX_H
#define SECUREAI_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "secureai/common.h"
#include "secureai/nn.h"

#define SAI_ONNX_MAX_BYTES (1ull << 30)   /* an ONNX file larger than this is refused */
#define SAI_ONNX_MAX_NODES 4096           /* ONNX nodes in the graph */
#define SAI_ONNX_OPSET     13             /* the opset the exporter writes */

/* Parse buf (an ONNX ModelProto) and build the matching engine model
 * (inference-only, max_batch images per forward) with the file's weights.
 * *out is the caller's: sai_nn_model_free; sai_nn_model_name(*out) is the
 * architecture the graph matched. */
int sai_onnx_import(sai_nn_model_t **out, const uint8_t *buf, size_t len, int max_batch,
                    sai_error_t *err) SAI_MUST_CHECK;

/* Lower only (parse, check every node, compute shapes) without building a
 * model: 0 when the graph uses only supported operators and attributes.
 * *nodes (may be NULL) gets the number of engine nodes. The fuzzer's entry. */
int sai_onnx_check(const uint8_t *buf, size_t len, int *nodes, sai_error_t *err) SAI_MUST_CHECK;

/* Serialise m as an ONNX ModelProto: input "input" [N,C,H,W] float32,
 * output "logits" [N,classes]. *buf malloc'ed, caller frees. */
int sai_onnx_export(const sai_nn_model_t *m, uint8_t **buf, size_t *len,
                    sai_error_t *err) SAI_MUST_CHECK;

#endif
