/*
 * test_nn_torch.c — the golden oracle: the engine against PyTorch (Debian's
 * python3-torch via /usr/bin/python3) on the same ResNet-8 weights and the
 * same batch, three SGD steps (momentum 0.9, weight decay 5e-4, plain and
 * Nesterov). Per step: the loss, the logits, every parameter gradient, and
 * every tensor after the step (BN running statistics and the optimizer
 * included).
 *
 * The reference is float64 PyTorch; each step is recomputed from the
 * engine's own state before it, so one step's rounding does not compound
 * into the next comparison. The tolerance of each compared tensor is derived
 * from float32 PyTorch's own norm-wise error on the same tensor (the same
 * step recomputed in float32):
 *
 *     rel(engine, torch64) <= max(K_TOL * rel(torch32, torch64), FLOOR)
 *
 * K_TOL = 16: on this data the engine's error is 0.3-2x float32 PyTorch's
 * through im2col convolutions and 1.3-6.3x through Winograd F(4x4,3x3)
 * (the worst, a BN gradient; docs/engine.md has the table and the
 * command), so 16 leaves a margin of 2.5x over the worst ratio seen under
 * every OPENBLAS_CORETYPE this CPU runs, while a kernel that is an order of
 * magnitude less exact than float32 PyTorch fails. FLOOR = 1e-6 (~8 float32
 * ulps) covers tensors on which float32 PyTorch happens to be exact (the
 * loss, a running variance). The test is not vacuous: it also requires
 * rel(torch32, torch64) < MAX_REF_ERR / K_TOL, so no tolerance exceeds 1e-4
 * (the fixed bound this test used before).
 *
 * ReLUs whose float64 input is within float32 reach of zero are settled to
 * the engine's side in both references (torch_ref.py explains the rule); the
 * engine's ReLU masks are read from its activations (nn_internal.h).
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
#include "secureai/util.h"
#include "nn/nn_internal.h"

#define N 8
#define C 3
#define H 32
#define W 32
#define K 10
#define STEPS 3

#define K_TOL 16.0
#define FLOOR 1e-6
#define MAX_REF_ERR 1e-4

static FILE *open_in(const char *dir, const char *name, int step, const char *mode)
{
    char path[512];
    if (step >= 0)
        snprintf(path, sizeof(path), "%s/%s%d.bin", dir, name, step);
    else
        snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, mode);
    assert_non_null(f);
    return f;
}

/* every tensor and its momentum buffer, before step s */
static void write_state(const char *dir, int s, sai_nn_model_t *m)
{
    FILE *f = open_in(dir, "state", s, "wb");
    uint32_t cnt = (uint32_t)sai_nn_model_num_tensors(m);
    fwrite(&cnt, 4, 1, f);
    for (int t = 0; t < (int)cnt; t++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, t, &ti);
        uint16_t nl = (uint16_t)strlen(ti.name);
        uint32_t numel = (uint32_t)ti.numel;
        uint8_t has_mom = ti.momentum != NULL;
        fwrite(&nl, 2, 1, f);
        fwrite(ti.name, 1, nl, f);
        fwrite(&numel, 4, 1, f);
        fwrite(&has_mom, 1, 1, f);
        fwrite(ti.data, 4, numel, f);
        if (has_mom)
            fwrite(ti.momentum, 4, numel, f);
    }
    assert_int_equal(fclose(f), 0);
}

/* after a forward pass: per ReLU in op order, whether each unit passed */
static void write_masks(const char *dir, int s, const sai_nn_model_t *m, int n)
{
    FILE *f = open_in(dir, "masks", s, "wb");
    for (int i = 0; i < m->nops; i++) {
        const nn_op *op = &m->ops[i];
        if (!(op->relu || op->kind == OP_RELU))
            continue;
        const nn_act *o = &m->acts[op->out];
        uint32_t cnt = (uint32_t)((size_t)n * o->size);
        fwrite(&cnt, 4, 1, f);
        for (uint32_t j = 0; j < cnt; j++) {
            uint8_t b = o->x[j] > 0.0f;
            fwrite(&b, 1, 1, f);
        }
    }
    assert_int_equal(fclose(f), 0);
}

static void write_inputs(const char *dir, const float *x, const int *y, const sai_nn_sgd_t *sgd,
                         float lr)
{
    FILE *f = open_in(dir, "batch.bin", -1, "wb");
    fwrite(x, sizeof(float), (size_t)N * C * H * W, f);
    int32_t yy[N];
    for (int i = 0; i < N; i++)
        yy[i] = y[i];
    fwrite(yy, 4, N, f);
    assert_int_equal(fclose(f), 0);
    f = open_in(dir, "cfg.txt", -1, "w");
    fprintf(f, "%d %d %d %d %d %.9g %.9g %.9g %d %d\n", N, C, H, W, K, lr, sgd->momentum,
            sgd->weight_decay, sgd->nesterov ? 1 : 0, STEPS);
    assert_int_equal(fclose(f), 0);
}

/* The engine's record, in torch_ref.py's layout. */
typedef struct {
    float *v;
    size_t n, cap;
} rec;

static void put(rec *r, const float *v, size_t n)
{
    if (r->n + n > r->cap) {
        r->cap = (r->n + n) * 2;
        r->v = realloc(r->v, r->cap * sizeof(float));
        assert_non_null(r->v);
    }
    memcpy(r->v + r->n, v, n * sizeof(float));
    r->n += n;
}

/* One compared block: fails when the engine is further from float64 than
 * K_TOL times float32 PyTorch (or FLOOR). Returns engine error / tolerance. */
static double check(int step, const char *what, const float *e, const float *r32,
                    const double *r64, size_t n)
{
    double de = 0.0, d32 = 0.0, nr = 0.0;
    for (size_t i = 0; i < n; i++) {
        de += ((double)e[i] - r64[i]) * ((double)e[i] - r64[i]);
        d32 += ((double)r32[i] - r64[i]) * ((double)r32[i] - r64[i]);
        nr += r64[i] * r64[i];
    }
    double ee = sqrt(de) / (sqrt(nr) + 1e-300), e32 = sqrt(d32) / (sqrt(nr) + 1e-300);
    double tol = fmax(K_TOL * e32, FLOOR);
    if (ee > tol || e32 * K_TOL >= MAX_REF_ERR)
        print_message("  step %d %s: engine %.2e, torch32 %.2e, tolerance %.2e\n", step, what, ee,
                      e32, tol);
    assert_true(e32 * K_TOL < MAX_REF_ERR);
    assert_true(ee <= tol);
    return ee / tol;
}

static void run_oracle(bool nesterov)
{
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0)
        skip();
    char dir[] = "/tmp/sai_nn_torch_XXXXXX";
    assert_non_null(mkdtemp(dir));
    sai_error_t err;
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
    write_inputs(dir, x, y, &sgd, lr);

    /* the engine's three steps, recorded */
    rec eng = {0};
    int nt = sai_nn_model_num_tensors(m);
    for (int s = 0; s < STEPS; s++) {
        write_state(dir, s, m);
        const float *z = sai_nn_forward(m, x, N, true);
        write_masks(dir, s, m, N);
        float loss = sai_nn_loss(m, y, N, NULL);
        sai_nn_zero_grad(m);
        sai_nn_backward(m, N);
        put(&eng, &loss, 1);
        put(&eng, z, (size_t)N * K);
        for (int t = 0; t < nt; t++) {
            sai_nn_tensor_info_t ti;
            sai_nn_model_tensor(m, t, &ti);
            if (ti.trainable)
                put(&eng, ti.grad, ti.numel);
        }
        sai_nn_sgd_step(m, &sgd, lr);
        for (int t = 0; t < nt; t++) {
            sai_nn_tensor_info_t ti;
            sai_nn_model_tensor(m, t, &ti);
            put(&eng, ti.data, ti.numel);
        }
    }

    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/tests/nn/torch_ref.py %s", SAI_SOURCE_DIR, dir);
    assert_int_equal(system(cmd), 0);
    char path[512];
    uint8_t *b32, *b64;
    size_t len32, len64;
    snprintf(path, sizeof(path), "%s/ref32.bin", dir);
    assert_int_equal(sai_read_file(path, 1 << 26, &b32, &len32, &err), 0);
    snprintf(path, sizeof(path), "%s/ref64.bin", dir);
    assert_int_equal(sai_read_file(path, 1 << 27, &b64, &len64, &err), 0);
    assert_int_equal(len32, eng.n * 4);
    assert_int_equal(len64, eng.n * 8);
    const float *r32 = (const float *)b32;
    const double *r64 = (const double *)b64;

    size_t pos = 0;
    double worst = 0.0;
    const char *worst_what = "";
    int worst_step = 0;
#define CHECK(s, what, n)                                                                  \
    do {                                                                                   \
        double q_ = check((s), (what), eng.v + pos, r32 + pos, r64 + pos, (n));            \
        if (q_ > worst) {                                                                  \
            worst = q_;                                                                    \
            worst_what = (what);                                                           \
            worst_step = (s);                                                              \
        }                                                                                  \
        pos += (n);                                                                        \
    } while (0)
    for (int s = 0; s < STEPS; s++) {
        CHECK(s, "loss", 1);
        CHECK(s, "logits", (size_t)N * K);
        for (int t = 0; t < nt; t++) {
            sai_nn_tensor_info_t ti;
            sai_nn_model_tensor(m, t, &ti);
            if (ti.trainable)
                CHECK(s, ti.name, ti.numel);
        }
        for (int t = 0; t < nt; t++) {
            sai_nn_tensor_info_t ti;
            sai_nn_model_tensor(m, t, &ti);
            CHECK(s, ti.name, ti.numel);
        }
    }
#undef CHECK
    assert_int_equal(pos, eng.n);
    print_message("worst engine error / tolerance: %.2f (step %d, %s)\n", worst, worst_step,
                  worst_what);
    free(b32);
    free(b64);
    free(eng.v);
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
