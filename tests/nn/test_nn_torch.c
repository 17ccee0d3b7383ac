/*
 * test_nn_torch.c — the golden oracle: the engine against PyTorch (Debian's
 * python3-torch via /usr/bin/python3) on the same ResNet-8 weights and the
 * same batch. Writes the engine's initial tensors and a batch to a
 * temporary directory, runs tests/nn/torch_ref.py there, then checks per
 * step the loss, the logits and every parameter gradient, and after three
 * SGD steps (momentum, weight decay) every tensor, including the batch-norm
 * running statistics. Norm-wise relative error per tensor < 1e-4.
 * Skipped (not passed) when /usr/bin/python3 cannot import torch.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "secureai/nn.h"
#include "nn_testutil.h"
#include "secureai/util.h"

#define N 8
#define C 3
#define H 32
#define W 32
#define K 10
#define STEPS 3

static void write_inputs(const char *dir, sai_nn_model_t *m, const float *x, const int *y,
                         const sai_nn_sgd_t *sgd, float lr)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/weights.bin", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint32_t cnt = (uint32_t)sai_nn_model_num_tensors(m);
    fwrite(&cnt, 4, 1, f);
    for (int t = 0; t < (int)cnt; t++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, t, &ti);
        uint16_t nl = (uint16_t)strlen(ti.name);
        uint32_t numel = (uint32_t)ti.numel;
        fwrite(&nl, 2, 1, f);
        fwrite(ti.name, 1, nl, f);
        fwrite(&numel, 4, 1, f);
        fwrite(ti.data, 4, numel, f);
    }
    fclose(f);
    snprintf(path, sizeof(path), "%s/batch.bin", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(x, sizeof(float), (size_t)N * C * H * W, f);
    int32_t yy[N];
    for (int i = 0; i < N; i++)
        yy[i] = y[i];
    fwrite(yy, 4, N, f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/cfg.txt", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%d %d %d %d %d %.9g %.9g %.9g %d %d\n", N, C, H, W, K, lr, sgd->momentum,
            sgd->weight_decay, sgd->nesterov ? 1 : 0, STEPS);
    fclose(f);
}

static void run_oracle(bool nesterov)
{
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0)
        skip();
    char dir[] = "/tmp/sai_nn_torch_XXXXXX";
    assert_non_null(mkdtemp(dir));
    sai_error err;
    sai_nn_model_t *m = NULL;
    assert_int_equal(sai_nn_model_create(&m, "resnet8", C, H, W, K, N, 1234, &err), 0);
    float *x = malloc((size_t)N * C * H * W * sizeof(float));
    int y[N];
    uint64_t rng = 99;
    for (size_t i = 0; i < (size_t)N * C * H * W; i++)
        x[i] = 2.0f * sai_nn_rng_uniform(&rng) - 1.0f;
    for (int i = 0; i < N; i++)
        y[i] = (int)(sai_nn_rng_next(&rng) % K);
    sai_nn_sgd_t sgd = {.momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = nesterov};
    float lr = 0.05f;
    write_inputs(dir, m, x, y, &sgd, lr);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/nn/torch_ref.py %s", SAI_SOURCE_DIR, dir);
    assert_int_equal(system(cmd), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/torch.bin", dir);
    uint8_t *ref;
    size_t ref_len;
    assert_int_equal(sai_read_file(path, 1 << 26, &ref, &ref_len, &err), 0);
    const float *r = (const float *)ref;
    size_t pos = 0, total = ref_len / 4;
    double worst = 0.0;
    for (int s = 0; s < STEPS; s++) {
        const float *z = sai_nn_forward(m, x, N, true);
        float loss = sai_nn_loss(m, y, N, NULL);
        sai_nn_zero_grad(m);
        sai_nn_backward(m, N);
        assert_true(pos + 1 + N * K <= total);
        double el = fabs((double)loss - r[pos]) / fabs(r[pos]);
        double ez = nn_rel_err(z, r + pos + 1, N * K);
        print_message("step %d: loss %.6f torch %.6f (rel %.1e), logits rel %.1e\n", s, loss,
                      r[pos], el, ez);
        assert_true(el < 1e-4);
        assert_true(ez < 1e-4);
        pos += 1 + N * K;
        for (int t = 0; t < sai_nn_model_num_tensors(m); t++) {
            sai_nn_tensor_info_t ti;
            sai_nn_model_tensor(m, t, &ti);
            if (!ti.trainable)
                continue;
            assert_true(pos + ti.numel <= total);
            double e = nn_rel_err(ti.grad, r + pos, ti.numel);
            if (e > worst)
                worst = e;
            if (e >= 1e-4)
                print_message("  grad %s rel %.2e\n", ti.name, e);
            assert_true(e < 1e-4);
            pos += ti.numel;
        }
        sai_nn_sgd_step(m, &sgd, lr);
    }
    print_message("worst gradient relative error over %d steps: %.2e\n", STEPS, worst);
    for (int t = 0; t < sai_nn_model_num_tensors(m); t++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, t, &ti);
        assert_true(pos + ti.numel <= total);
        double e = nn_rel_err(ti.data, r + pos, ti.numel);
        if (e >= 1e-4)
            print_message("  final %s rel %.2e\n", ti.name, e);
        assert_true(e < 1e-4);
        pos += ti.numel;
    }
    assert_int_equal(pos, total);
    free(ref);
    free(x);
    sai_nn_model_free(m);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_resnet8_vs_torch(void **state)
{
    (void)state;
    run_oracle(false);
}

static void test_resnet8_vs_torch_nesterov(void **state)
{
    (void)state;
    run_oracle(true);
}

int main(void)
{
    sai_nn_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resnet8_vs_torch),
        cmocka_unit_test(test_resnet8_vs_torch_nesterov),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
