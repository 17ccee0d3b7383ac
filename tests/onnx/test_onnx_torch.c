/*
 * test_onnx_torch.c — ONNX interchange against real runtimes.
 *
 * tests/onnx/onnx_fixtures.py (Debian's PyTorch) exports a ResNet-8 with
 * non-trivial BatchNorm statistics twice (BN folded into Conv biases, and BN
 * kept) and runs it on 300 Fashion-MNIST test images. Here:
 *   - both ONNX files import into the engine; on every image the engine's
 *     logits are within 1e-4 relative of PyTorch's (max |diff| over the
 *     logits <= 1e-4 * max |logit|) with the same top-1;
 *   - an unsupported operator is named in the error (Sigmoid); a graph of
 *     supported operators that is no engine architecture is refused;
 *   - ONNX Runtime (onnxruntime-node, tests/onnx/ort/) runs PyTorch's ONNX
 *     and the engine's own export (secureai's export of the imported model):
 *     same bound and top-1 against the engine and PyTorch.
 * Skipped when /usr/bin/python3 cannot import torch; the ONNX Runtime part is
 * skipped (with a message) when npm cannot install onnxruntime-node.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "secureai/nn.h"
#include "secureai/onnx.h"
#include "secureai/util.h"

#define N   300
#define IMG (1 * 28 * 28)
#define K   10
#define REL 1e-4

static char g_dir[64];

static int setup(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0)
        return 0;
    snprintf(g_dir, sizeof(g_dir), "/tmp/sai_onnx_XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/onnx/onnx_fixtures.py %s %d 2>/dev/null",
             SAI_SOURCE_DIR, g_dir, N);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (g_dir[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

static uint8_t *slurp(const char *name, size_t *len)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/%s", g_dir, name);
    uint8_t *buf = NULL;
    sai_error_t err = {0};
    if (sai_read_file(p, SAI_ONNX_MAX_BYTES, &buf, len, &err) != 0)
        fail_msg("%s: %s", p, err.msg);
    return buf;
}

static int argmax(const float *z)
{
    int b = 0;
    for (int j = 1; j < K; j++)
        if (z[j] > z[b])
            b = j;
    return b;
}

/* max over images of max|a - b| / max|b|; fails on a top-1 difference */
static double compare(const float *a, const float *b, const char *what)
{
    double worst = 0.0;
    int top_diff = 0;
    for (int i = 0; i < N; i++) {
        double d = 0.0, s = 0.0;
        for (int j = 0; j < K; j++) {
            d = fmax(d, fabs((double)a[i * K + j] - b[i * K + j]));
            s = fmax(s, fabs((double)b[i * K + j]));
        }
        worst = fmax(worst, d / s);
        top_diff += argmax(a + i * K) != argmax(b + i * K);
    }
    print_message("  %s: worst relative difference %.2e, top-1 differences %d of %d\n", what,
                  worst, top_diff, N);
    assert_true(worst <= REL);
    assert_int_equal(top_diff, 0);
    return worst;
}

static float *engine_logits(sai_nn_model_t *m, const float *x)
{
    float *z = malloc((size_t)N * K * sizeof(float));
    assert_non_null(z);
    for (int i = 0; i < N; i += 100)
        memcpy(z + (size_t)i * K, sai_nn_forward(m, x + (size_t)i * IMG, 100, false),
               (size_t)100 * K * sizeof(float));
    return z;
}

static void test_torch(void **state)
{
    (void)state;
    if (g_dir[0] == '\0')
        skip();
    size_t xl, tl;
    float *x = (float *)slurp("x.bin", &xl), *t = (float *)slurp("torch.bin", &tl);
    assert_int_equal(xl, (size_t)N * IMG * sizeof(float));
    assert_int_equal(tl, (size_t)N * K * sizeof(float));
    const char *files[] = {"fused.onnx", "bn.onnx"};
    for (int f = 0; f < 2; f++) {
        size_t len;
        uint8_t *buf = slurp(files[f], &len);
        sai_error_t err = {0};
        sai_nn_model_t *m = NULL;
        if (sai_onnx_import(&m, buf, len, 100, &err) != 0)
            fail_msg("%s: %s", files[f], err.msg);
        assert_string_equal(sai_nn_model_name(m), "resnet8");
        float *z = engine_logits(m, x);
        compare(z, t, files[f]);
        free(z);
        sai_nn_model_free(m);
        free(buf);
    }
    free(x);
    free(t);
}

static void test_refusals(void **state)
{
    (void)state;
    if (g_dir[0] == '\0')
        skip();
    size_t len;
    sai_error_t err = {0};
    sai_nn_model_t *m = NULL;
    uint8_t *buf = slurp("sigmoid.onnx", &len);
    assert_int_equal(sai_onnx_import(&m, buf, len, 1, &err), SAI_EUNSUPP);
    assert_null(m);
    assert_non_null(strstr(err.msg, "unsupported ONNX operator 'Sigmoid'"));
    free(buf);
    buf = slurp("other.onnx", &len);
    assert_int_equal(sai_onnx_import(&m, buf, len, 1, &err), SAI_EUNSUPP);
    assert_null(m);
    assert_non_null(strstr(err.msg, "not one of the engine's architectures"));
    free(buf);
}

static void test_onnxruntime(void **state)
{
    (void)state;
    if (g_dir[0] == '\0')
        skip();
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "bash %s/tests/onnx/ort/setup.sh", SAI_SOURCE_DIR);
    int rc = system(cmd);
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 77) {
        print_message("  onnxruntime-node could not be installed: ONNX Runtime part skipped\n");
        skip();
    }
    assert_int_equal(rc, 0);
    size_t len, xl, tl;
    float *x = (float *)slurp("x.bin", &xl), *t = (float *)slurp("torch.bin", &tl);
    uint8_t *buf = slurp("fused.onnx", &len);
    sai_error_t err = {0};
    sai_nn_model_t *m = NULL;
    assert_int_equal(sai_onnx_import(&m, buf, len, 100, &err), 0);
    free(buf);
    float *z = engine_logits(m, x);
    /* the engine's own export of the imported model */
    uint8_t *ex = NULL;
    size_t exl = 0;
    assert_int_equal(sai_onnx_export(m, &ex, &exl, &err), 0);
    char p[128];
    snprintf(p, sizeof(p), "%s/engine.onnx", g_dir);
    assert_int_equal(sai_write_file_atomic(p, ex, exl, 0600, false, &err), 0);
    free(ex);
    const char *models[] = {"fused.onnx", "bn.onnx", "engine.onnx"};
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof(cmd), "node %s/tests/onnx/ort/run.mjs %s/%s %s/x.bin %d 1 28 28 "
                 "%s/ort.bin", SAI_SOURCE_DIR, g_dir, models[i], g_dir, N, g_dir);
        assert_int_equal(system(cmd), 0);
        size_t ol;
        float *o = (float *)slurp("ort.bin", &ol);
        assert_int_equal(ol, (size_t)N * K * sizeof(float));
        char what[96];
        snprintf(what, sizeof(what), "onnxruntime(%s) vs engine", models[i]);
        compare(z, o, what);
        snprintf(what, sizeof(what), "onnxruntime(%s) vs pytorch", models[i]);
        compare(o, t, what);
        free(o);
    }
    free(z);
    free(x);
    free(t);
    sai_nn_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torch),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_onnxruntime),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
