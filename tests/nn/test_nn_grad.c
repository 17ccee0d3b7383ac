/*
 * test_nn_grad.c — finite-difference gradient checks: every layer kind in a
 * one-layer graph (conv 3x3/5x5/1x1 with strides, batch norm in training
 * mode, ReLU alone and fused into batch norm and the residual add, max/avg/global-average pooling, linear, residual add), each
 * followed by a linear head and softmax cross-entropy. Central differences
 * of the float32 loss against the analytic gradient of every parameter and
 * of the input; norm-wise relative error < 1e-2 (measured: <= 6e-3, most
 * ~1e-4). Whole models are checked entry by entry against PyTorch instead
 * (test_nn_torch): with thousands of ReLU kinks float32 finite differences
 * of a whole ResNet measure the kinks, not the code.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "secureai/nn.h"

#define N 3

static float g_smooth;   /* label smoothing of the loss under test */

static float loss_at(sai_nn_model_t *m, const float *x, const int *y)
{
    sai_nn_forward(m, x, N, true);
    return g_smooth > 0.0f ? sai_nn_loss_smoothed(m, y, N, g_smooth, NULL)
                           : sai_nn_loss(m, y, N, NULL);
}

static double check_model(const char *name, int c, int h, int w, int maxs, float eps)
{
    sai_error_t err;
    sai_nn_model_t *m = NULL;
    assert_int_equal(sai_nn_model_create(&m, name, c, h, w, 3, N, 7, &err), 0);
    sai_nn_set_input_grad(m, true);
    size_t img = (size_t)c * h * w;
    float *x = malloc(N * img * sizeof(float));
    uint64_t rng = 42;
    for (size_t i = 0; i < N * img; i++)
        x[i] = 2.0f * sai_nn_rng_uniform(&rng) - 1.0f;
    int y[N] = {0, 2, 1};
    /* Make biases/gammas non-trivial so every path carries gradient. */
    for (int t = 0; t < sai_nn_model_num_tensors(m); t++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, t, &ti);
        if (ti.trainable && ti.ndim == 1)
            for (size_t i = 0; i < ti.numel; i++)
                ti.data[i] += 0.3f * (sai_nn_rng_uniform(&rng) - 0.5f);
    }
    loss_at(m, x, y);
    sai_nn_zero_grad(m);
    sai_nn_backward(m, N);
    double worst = 0.0;

    for (int t = -1; t < sai_nn_model_num_tensors(m); t++) {
        sai_nn_tensor_info_t ti;
        float *p, *g;
        size_t numel;
        float *gin = NULL;
        if (t < 0) {
            p = x;
            numel = N * img;
            gin = malloc(numel * sizeof(float));
            memcpy(gin, sai_nn_input_grad(m), numel * sizeof(float));
            g = gin;
        } else {
            sai_nn_model_tensor(m, t, &ti);
            if (!ti.trainable)
                continue;
            p = ti.data;
            g = malloc(ti.numel * sizeof(float));
            memcpy(g, ti.grad, ti.numel * sizeof(float));
            numel = ti.numel;
        }
        size_t step = numel > (size_t)maxs ? numel / (size_t)maxs : 1;
        double num2 = 0.0, diff2 = 0.0;
        for (size_t i = 0; i < numel; i += step) {
            float save = p[i];
            p[i] = save + eps;
            float lp = loss_at(m, x, y);
            p[i] = save - eps;
            float lm = loss_at(m, x, y);
            p[i] = save;
            double num = ((double)lp - (double)lm) / (2.0 * eps);
            if (getenv("GC_DEBUG")) print_message("  %s[%zu] num %.6f ana %.6f\n", t < 0 ? "in" : ti.name, i, num, (double)g[i]);
            num2 += num * num;
            diff2 += (num - g[i]) * (num - g[i]);
        }
        double rel = sqrt(diff2) / (sqrt(num2) + 1e-6);
        if (rel > 1e-2)
            print_message("%s tensor %s: relative error %.3g\n", name,
                          t < 0 ? "input" : ti.name, rel);
        if (rel > worst)
            worst = rel;
        free(g);
    }
    free(x);
    sai_nn_model_free(m);
    return worst;
}

static void test_layers(void **state)
{
    (void)state;
    static const char *const layers[] = {
        "test-conv3x3", "test-conv3x3s2", "test-conv1x1", "test-conv1x1s2", "test-conv5x5",
        "test-bn", "test-relu", "test-bnrelu", "test-addrelu", "test-maxpool", "test-avgpool", "test-gap", "test-add",
        "test-linear",
    };
    for (size_t i = 0; i < sizeof(layers) / sizeof(layers[0]); i++) {
        /* fused ReLUs: a bias step of 1e-2 moves a whole channel across the kink */
        float eps = strstr(layers[i], "relu") && strcmp(layers[i], "test-relu") != 0 ? 1e-3f : 1e-2f;
        double e = check_model(layers[i], 2, 6, 6, 40, eps);
        print_message("%-16s max relative error %.2e\n", layers[i], e);
        assert_true(e < 1e-2);
    }
    /* the 3x3 stride-2 im2col/col2im (even/odd column split) on odd sizes */
    double e2 = check_model("test-conv3x3s2", 2, 7, 5, 40, 1e-2f);
    print_message("test-conv3x3s2 7x5 max relative error %.2e\n", e2);
    assert_true(e2 < 1e-2);
    /* the Winograd path (3x3 stride 1, >= 8 channels), even and odd sizes */
    static const int wino[][2] = {{6, 6}, {5, 7}};
    for (size_t i = 0; i < 2; i++) {
        double e = check_model("test-wino", 8, wino[i][0], wino[i][1], 40, 1e-2f);
        print_message("test-wino %dx%d   max relative error %.2e\n", wino[i][0], wino[i][1], e);
        assert_true(e < 1e-2);
    }
}

/* Architecture check: trainable parameter counts equal those of the same
 * networks in PyTorch (scripts/torch_resnet.py, shared by the bench; ResNet-18/50
 * match the well-known CIFAR variants' 11,173,962 and 23,520,842), and a
 * forward pass of every model gives finite logits. */
static void test_model_zoo(void **state)
{
    (void)state;
    static const struct { const char *name; size_t params; } zoo[] = {
        {"resnet8", 78042}, {"resnet20", 272474}, {"resnet56", 855770},
        {"resnet18", 11173962}, {"resnet50", 23520842},
    };
    static float x[2 * 3 * 32 * 32];
    for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++)
        x[i] = (float)(i % 13) / 13.0f - 0.5f;
    for (size_t i = 0; i < sizeof(zoo) / sizeof(zoo[0]); i++) {
        sai_error_t err;
        sai_nn_model_t *m = NULL;
        assert_int_equal(sai_nn_model_create_ex(&m, zoo[i].name, 3, 32, 32, 10, 2, 1,
                                                SAI_NN_INFERENCE_ONLY, &err), 0);
        print_message("%-9s %zu parameters\n", zoo[i].name, sai_nn_model_num_params(m));
        assert_int_equal(sai_nn_model_num_params(m), zoo[i].params);
        const float *z = sai_nn_forward(m, x, 2, false);
        for (int j = 0; j < 20; j++)
            assert_true(isfinite(z[j]));
        sai_nn_model_free(m);
    }
}

/* Label smoothing: the loss equals -sum_j t_j log softmax(z)_j with
 * t = (1-eps) onehot + eps/K, computed here from the logits in double; eps 0
 * is the plain loss bit for bit; and the gradient it stores passes the
 * finite-difference check of the smoothed loss (with eps 0.3 a gradient
 * that ignored the smoothing is off by ~30% and fails it). */
static void test_label_smoothing(void **state)
{
    (void)state;
    sai_error_t err;
    sai_nn_model_t *m = NULL;
    assert_int_equal(sai_nn_model_create(&m, "test-linear", 2, 6, 6, 3, N, 7, &err), 0);
    float x[N * 72];
    uint64_t rng = 5;
    for (size_t i = 0; i < N * 72; i++)
        x[i] = 4.0f * sai_nn_rng_uniform(&rng) - 2.0f;
    int y[N] = {2, 0, 1};
    const float *z = sai_nn_forward(m, x, N, true);
    float zc[N * 3];
    memcpy(zc, z, sizeof(zc));
    const double e = 0.2;
    double want = 0.0;
    for (int i = 0; i < N; i++) {
        double mx = fmax(fmax(zc[3 * i], zc[3 * i + 1]), zc[3 * i + 2]), s = 0.0;
        for (int j = 0; j < 3; j++)
            s += exp(zc[3 * i + j] - mx);
        for (int j = 0; j < 3; j++) {
            double t = (j == y[i] ? 1.0 - e : 0.0) + e / 3.0;
            want -= t * (zc[3 * i + j] - mx - log(s)) / N;
        }
    }
    float got = sai_nn_loss_smoothed(m, y, N, (float)e, NULL);
    print_message("smoothed loss %.7f, expected %.7f\n", (double)got, want);
    assert_true(fabs(got - want) < 1e-6 * fmax(1.0, want));
    assert_true(fabs(got - sai_nn_loss(m, y, N, NULL)) > 1e-3);   /* it does change the loss */
    float a = sai_nn_loss(m, y, N, NULL), b = sai_nn_loss_smoothed(m, y, N, 0.0f, NULL);
    assert_memory_equal(&a, &b, sizeof(a));
    sai_nn_model_free(m);

    g_smooth = 0.3f;
    double err_lin = check_model("test-linear", 2, 6, 6, 40, 1e-2f);
    double err_bn = check_model("test-bn", 2, 6, 6, 40, 1e-2f);
    g_smooth = 0.0f;
    print_message("label smoothing 0.3: max relative error %.2e (linear), %.2e (bn)\n",
                  err_lin, err_bn);
    assert_true(err_lin < 1e-2);
    assert_true(err_bn < 1e-2);
}

static void test_bad_model(void **state)
{
    (void)state;
    sai_error_t err;
    sai_nn_model_t *m = NULL;
    assert_int_equal(sai_nn_model_create(&m, "resnet9000", 3, 32, 32, 10, 4, 1, &err),
                     SAI_ENOTFOUND);
    assert_null(m);
    assert_int_not_equal(sai_nn_model_create(&m, "smallcnn", 1, 30, 30, 10, 4, 1, &err), 0);
}

int main(void)
{
    sai_nn_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layers),
        cmocka_unit_test(test_model_zoo),
        cmocka_unit_test(test_label_smoothing),
        cmocka_unit_test(test_bad_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
