/*
 * test_onnx.c — ONNX interchange without PyTorch (src/onnx/): every engine
 * architecture exported and imported back is the same architecture with
 * bit-identical weights and logits (which also checks the importer's
 * per-architecture convolution counts against the built models), and
 * malformed or hostile bytes are refused with an error, never a crash
 * (fuzz/fuzz_onnx.c goes further).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "secureai/nn.h"
#include "secureai/nn_graph.h"
#include "secureai/onnx.h"

static void roundtrip(const char *arch, int c, int h, int w, int classes)
{
    sai_error_t err = {0};
    sai_nn_model_t *m = NULL, *m2 = NULL;
    assert_int_equal(sai_nn_model_create_ex(&m, arch, c, h, w, classes, 2, 42,
                                            SAI_NN_INFERENCE_ONLY, &err), 0);
    /* non-trivial BN statistics, so that a swapped role would show */
    for (int i = 0; i < sai_nn_model_num_tensors(m); i++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, i, &ti);
        for (size_t j = 0; ti.ndim == 1 && j < ti.numel; j++)
            ti.data[j] += 0.01f * (float)((j * 7 + (size_t)i) % 13);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(sai_onnx_export(m, &buf, &len, &err), 0);
    int nodes = 0;
    assert_int_equal(sai_onnx_check(buf, len, &nodes, &err), 0);
    assert_int_equal(nodes, sai_nn_model_nodes(m, NULL, 0));
    if (sai_onnx_import(&m2, buf, len, 2, &err) != 0)
        fail_msg("%s: %s", arch, err.msg);
    assert_string_equal(sai_nn_model_name(m2), arch);
    assert_int_equal(sai_nn_model_num_tensors(m2), sai_nn_model_num_tensors(m));
    for (int i = 0; i < sai_nn_model_num_tensors(m); i++) {
        sai_nn_tensor_info_t a, b;
        sai_nn_model_tensor(m, i, &a);
        sai_nn_model_tensor(m2, i, &b);
        assert_string_equal(a.name, b.name);
        assert_int_equal(a.numel, b.numel);
        assert_memory_equal(a.data, b.data, a.numel * sizeof(float));
    }
    size_t in = (size_t)2 * c * h * w;
    float *x = malloc(in * sizeof(float));
    for (size_t i = 0; i < in; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    float *z1 = malloc((size_t)2 * classes * sizeof(float));
    memcpy(z1, sai_nn_forward(m, x, 2, false), (size_t)2 * classes * sizeof(float));
    assert_memory_equal(z1, sai_nn_forward(m2, x, 2, false), (size_t)2 * classes * sizeof(float));
    free(z1);
    free(x);
    free(buf);
    sai_nn_model_free(m);
    sai_nn_model_free(m2);
}

static void test_roundtrip_small(void **state)
{
    (void)state;
    roundtrip("resnet8", 3, 32, 32, 10);
    roundtrip("resnet8", 1, 28, 28, 10);
    roundtrip("smallcnn", 3, 32, 32, 10);
    roundtrip("resnet20", 3, 32, 32, 100);
}

static void test_roundtrip_large(void **state)
{
    (void)state;
    roundtrip("resnet56", 3, 16, 16, 10);
    roundtrip("resnet18", 3, 16, 16, 10);
    roundtrip("resnet50", 3, 16, 16, 10);
}

static void test_hostile_bytes(void **state)
{
    (void)state;
    sai_error_t err = {0};
    sai_nn_model_t *m = NULL, *m2 = NULL;
    assert_int_equal(sai_nn_model_create_ex(&m, "smallcnn", 1, 8, 8, 10, 1, 1,
                                            SAI_NN_INFERENCE_ONLY, &err), 0);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(sai_onnx_export(m, &buf, &len, &err), 0);
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x80};
    assert_int_not_equal(sai_onnx_import(&m2, junk, sizeof(junk), 1, &err), 0);
    assert_null(m2);
    assert_int_not_equal(sai_onnx_import(&m2, buf, 0, 1, &err), 0);
    /* every truncation is an error (a parse failure or a graph that no
     * longer holds together), never a model */
    for (size_t cut = 1; cut < len; cut += 1 + cut / 8) {
        assert_int_not_equal(sai_onnx_import(&m2, buf, cut, 1, &err), 0);
        assert_null(m2);
    }
    /* flipped bytes: whatever the outcome, nothing crashes or leaks (ASan) */
    for (size_t i = 0; i < len; i += 1 + i / 4) {
        buf[i] ^= 0x5a;
        if (sai_onnx_import(&m2, buf, len, 1, &err) == 0) {
            sai_nn_model_free(m2);
            m2 = NULL;
        }
        buf[i] ^= 0x5a;
    }
    assert_int_equal(sai_onnx_import(&m2, buf, len, 1, &err), 0);
    sai_nn_model_free(m2);
    free(buf);
    sai_nn_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_small),
        cmocka_unit_test(test_roundtrip_large),
        cmocka_unit_test(test_hostile_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
