/*
 * test_nn_wino.c — the Winograd F(2x2,3x3) path against the im2col path it
 * replaces: the same one-layer model (same seed, same weights) built with
 * and without SAI_NN_NO_WINOGRAD must give the same logits, input gradient
 * and weight gradient to float rounding, on even and odd sizes, a 1x1
 * image, chunks that straddle images, one and two threads, and through
 * three SGD steps of a whole ResNet-8.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "secureai/nn.h"
#include "nn_testutil.h"

static float *grad_of(sai_nn_model_t *m, const char *name, size_t *numel)
{
    for (int t = 0; t < sai_nn_model_num_tensors(m); t++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, t, &ti);
        if (strcmp(ti.name, name) == 0) {
            *numel = ti.numel;
            return ti.grad;
        }
    }
    fail_msg("no tensor %s", name);
    return NULL;
}

static void run(sai_nn_model_t *m, const float *x, const int *y, int n)
{
    sai_nn_forward(m, x, n, true);
    sai_nn_loss(m, y, n, NULL);
    sai_nn_zero_grad(m);
    sai_nn_backward(m, n);
}

static void check_model(const char *name, int C, int H, int W, int n, int threads)
{
    sai_error_t err;
    sai_nn_model_t *w, *d;
    sai_nn_set_threads(threads);
    assert_int_equal(sai_nn_model_create_ex(&w, name, C, H, W, 3, n, 5, 0, &err), 0);
    assert_int_equal(sai_nn_model_create_ex(&d, name, C, H, W, 3, n, 5,
                                            SAI_NN_NO_WINOGRAD, &err), 0);
    sai_nn_set_input_grad(w, true);
    sai_nn_set_input_grad(d, true);
    size_t img = (size_t)C * H * W;
    float *x = malloc((size_t)n * img * sizeof(float));
    int *y = malloc((size_t)n * sizeof(int));
    uint64_t rng = 9;
    for (size_t i = 0; i < (size_t)n * img; i++)
        x[i] = 2.0f * sai_nn_rng_uniform(&rng) - 1.0f;
    for (int i = 0; i < n; i++)
        y[i] = i % 3;
    run(w, x, y, n);
    run(d, x, y, n);
    size_t nw = 0, nd = 0;
    double e_in = nn_rel_err(sai_nn_input_grad(w), sai_nn_input_grad(d), (size_t)n * img);
    const float *gw = grad_of(w, "c.weight", &nw), *gd = grad_of(d, "c.weight", &nd);
    assert_int_equal(nw, nd);
    double e_w = nn_rel_err(gw, gd, nd);
    gw = grad_of(w, "fc.weight", &nw);
    gd = grad_of(d, "fc.weight", &nd);
    double e_fc = nn_rel_err(gw, gd, nd);
    print_message("%s C=%d %dx%d n=%d threads=%d: input grad %.1e, conv weight grad %.1e, "
                  "fc weight grad (forward) %.1e\n", name, C, H, W, n, threads, e_in, e_w, e_fc);
    assert_true(e_in < 1e-5);
    assert_true(e_w < 1e-5);
    assert_true(e_fc < 1e-5);
    free(x);
    free(y);
    sai_nn_model_free(w);
    sai_nn_model_free(d);
}

static void check_shape(int C, int H, int W, int n, int threads)
{
    check_model("test-wino", C, H, W, n, threads);
}

static void test_shapes(void **state)
{
    (void)state;
    check_shape(8, 6, 6, 3, 1);
    check_shape(8, 7, 5, 2, 2);     /* odd sizes: partial tiles on both edges */
    check_shape(12, 1, 1, 8, 2);    /* a 1x1 image is all padding but its centre */
    check_shape(12, 4, 4, 3, 2);    /* 3 tiles: below the threshold, both models use im2col */
    check_shape(16, 13, 9, 5, 2);
    check_shape(8, 40, 40, 4, 2);   /* 400 tiles per image, 512 per chunk: chunks straddle images */
    check_shape(8, 40, 40, 4, 1);
    /* 256 -> 256 channels (after a 1x1 expansion from 4): dU is
     * accumulated a block of rows at a time */
    check_model("test-wino256", 4, 8, 8, 2, 2);
    check_model("test-wino256", 4, 8, 8, 2, 1);
}

/* ResNet-8 end to end: logits and every parameter after three SGD steps. */
static void test_resnet8(void **state)
{
    (void)state;
    sai_error_t err;
    sai_nn_model_t *w, *d;
    const int n = 4;
    sai_nn_set_threads(2);
    assert_int_equal(sai_nn_model_create_ex(&w, "resnet8", 3, 16, 16, 10, n, 3, 0, &err), 0);
    assert_int_equal(sai_nn_model_create_ex(&d, "resnet8", 3, 16, 16, 10, n, 3,
                                            SAI_NN_NO_WINOGRAD, &err), 0);
    static float x[4 * 3 * 16 * 16];
    int y[4] = {1, 7, 3, 0};
    uint64_t rng = 4;
    for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++)
        x[i] = 2.0f * sai_nn_rng_uniform(&rng) - 1.0f;
    sai_nn_sgd_t sgd = {.momentum = 0.9f, .weight_decay = 5e-4f};
    for (int s = 0; s < 3; s++) {
        run(w, x, y, n);
        run(d, x, y, n);
        sai_nn_sgd_step(w, &sgd, 0.1f);
        sai_nn_sgd_step(d, &sgd, 0.1f);
    }
    double worst = nn_rel_err(sai_nn_forward(w, x, n, false), sai_nn_forward(d, x, n, false), 40);
    for (int t = 0; t < sai_nn_model_num_tensors(w); t++) {
        sai_nn_tensor_info_t a, b;
        sai_nn_model_tensor(w, t, &a);
        sai_nn_model_tensor(d, t, &b);
        double e = nn_rel_err(a.data, b.data, a.numel);
        if (e > worst)
            worst = e;
    }
    print_message("resnet8, 3 SGD steps: worst tensor %.1e\n", worst);
    assert_true(worst < 1e-5);
    sai_nn_model_free(w);
    sai_nn_model_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_resnet8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
