/*
 * fuzz_onnx.c — libFuzzer target for the ONNX importer (src/onnx/import.c):
 * the input is an ONNX file, unpacked by protobuf-c, lowered (every
 * attribute, tensor size and value reference checked) and, when it lowers,
 * matched against the engine's architectures with a model built for it.
 * Seeds: fuzz/corpus/fuzz_onnx/ (small torch.onnx.export graphs that lower
 * completely: Conv with and without bias, BatchNormalization, Relu, Add,
 * MaxPool, Reshape, GlobalAveragePool, Flatten, Gemm).
 */
#include <stdint.h>
#include <stdlib.h>

#include "secureai/nn.h"
#include "secureai/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sai_error_t err;
    int nodes;
    (void)sai_onnx_check(data, size, &nodes, &err);
    sai_nn_model_t *m = NULL;
    if (sai_onnx_import(&m, data, size, 1, &err) == 0)
        sai_nn_model_free(m);
    return 0;
}
