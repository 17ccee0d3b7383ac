/*
 * test_nn_eval.c — evaluation-mode folds (nn_eval_cache in src/nn): every
 * convolution followed by batch norm runs with the BN folded into its
 * weights and a bias (and, for Winograd layers, with the transformed
 * weights cached), so the cache must
 *   - give the unfused evaluation's logits (a model built with
 *     SAI_NN_NO_EVAL_CACHE, same weights) within a tight tolerance, for
 *     ResNet-8 and ResNet-18 with random weights and random BN statistics
 *     (and a conv 1x1 + BN, conv 3x3 + BN test model for the direct 1x1
 *     path), through the Winograd, im2col and split-over-channels paths (batch 1
 *     and larger, 1 and 2 threads). Folding changes rounding: (w*s) (*) x
 *     + b instead of s * (w (*) x) + b', so the tolerance is norm-wise
 *     relative 1e-5 (measured: ~1e-7..1e-6);
 *   - be recomputed after everything that changes the weights: an SGD
 *     step, a checkpoint load, a training-mode forward (running
 *     statistics), a sai_nn_model_tensor hand-out, and
 *     sai_nn_model_weights_changed for a pointer kept across forwards.
 *     A write through a pointer kept from before the cache was built is
 *     not seen until sai_nn_model_weights_changed: the stale logits there
 *     show that the cache is really in use (else the other checks would
 *     pass without it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn_testutil.h"
#include "secureai/nn.h"
#include "nn/nn_internal.h"

#define TOL 1e-5

static sai_nn_model_t *make(const char *name, int hw, int batch, unsigned flags)
{
    sai_error_t err;
    sai_nn_model_t *m;
    assert_int_equal(sai_nn_model_create_ex(&m, name, 3, hw, hw, 10, batch, 5, flags, &err), 0);
    return m;
}

/* BN parameters and statistics away from the identity (the folds must do
 * something): gamma, var in [0.5, 1.5), beta, mean in [-0.2, 0.2) */
static void randomise_bn(sai_nn_model_t *m, uint64_t seed)
{
    uint64_t r = seed;
    for (int i = 0; i < sai_nn_model_num_tensors(m); i++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, i, &ti);
        if (ti.ndim != 1 || strncmp(ti.name, "fc.", 3) == 0)
            continue;
        bool around_one = strstr(ti.name, "running_var") != NULL ||
                          (strstr(ti.name, ".weight") != NULL);
        for (size_t j = 0; j < ti.numel; j++) {
            float u = sai_nn_rng_uniform(&r);
            ti.data[j] = around_one ? 0.5f + u : 0.4f * (u - 0.5f);
        }
    }
}

static void copy_weights(sai_nn_model_t *dst, const sai_nn_model_t *src)
{
    for (int i = 0; i < sai_nn_model_num_tensors(src); i++) {
        sai_nn_tensor_info_t a, b;
        sai_nn_model_tensor(src, i, &a);
        sai_nn_model_tensor(dst, i, &b);
        memcpy(b.data, a.data, a.numel * sizeof(float));
    }
}

static float *input(int n, int hw, uint64_t seed)
{
    float *x = malloc((size_t)n * 3 * hw * hw * sizeof(float));
    assert_non_null(x);
    uint64_t r = seed;
    for (size_t i = 0; i < (size_t)n * 3 * hw * hw; i++)
        x[i] = 2.0f * sai_nn_rng_uniform(&r) - 1.0f;
    return x;
}

/* eval logits of a and b on x (n images), norm-wise relative difference */
static double eval_diff(sai_nn_model_t *a, sai_nn_model_t *b, const float *x, int n)
{
    float la[16 * 10];
    memcpy(la, sai_nn_forward(a, x, n, false), (size_t)n * 10 * sizeof(float));
    const float *lb = sai_nn_forward(b, x, n, false);
    return nn_rel_err(la, lb, (size_t)n * 10);
}

static void check_model(const char *name, int hw, int batch, unsigned flags)
{
    sai_nn_model_t *f = make(name, hw, batch, flags);
    sai_nn_model_t *r = make(name, hw, batch, flags | SAI_NN_NO_EVAL_CACHE);
    randomise_bn(f, 11);
    copy_weights(r, f);
    float *x = input(batch, hw, 3);
    for (int threads = 1; threads <= 2; threads++) {
        sai_nn_set_threads(threads);
        for (int n = 1; n <= batch; n += batch - 1) {
            double d = eval_diff(f, r, x, n);
            printf("%s %dx%d n=%d threads=%d%s: folded vs unfused %.2e\n", name, hw, hw, n,
                   threads, flags & SAI_NN_INFERENCE_ONLY ? " (inference-only)" : "", d);
            assert_true(d < TOL);
        }
    }
    free(x);
    sai_nn_model_free(f);
    sai_nn_model_free(r);
}

/* Most model checks below run twice: with the AVX-512 GEMM over packed
 * folds (where the CPU has it) and with SAI_NN_NO_AVX512, the cblas_sgemm
 * path over plain folds (ResNet-18 and the training ResNet-8 only with the
 * former: the test must stay fast under ASan). The variable is read when a model's cache is
 * first built, so each check makes fresh models. */
static void check_model_both(const char *name, int hw, int batch, unsigned flags)
{
    check_model(name, hw, batch, flags);
    setenv("SAI_NN_NO_AVX512", "1", 1);
    check_model(name, hw, batch, flags);
    unsetenv("SAI_NN_NO_AVX512");
}

static void test_folded_matches_unfused(void **state)
{
    (void)state;
    printf("AVX-512 GEMM: %s\n", sai_nn__gemm_fast() ? "yes" : "no (cblas path twice)");
    /* batch 8 on 32x32: every 3x3 layer on Winograd; batch 1: the small
     * maps on im2col */
    check_model_both("resnet8", 32, 8, SAI_NN_INFERENCE_ONLY);
    check_model("resnet8", 32, 8, 0);
    /* 8 images per thread: ResNet-8 goes through the network 4 images at a
     * time (split_group), two groups per thread */
    check_model("resnet8", 32, 16, SAI_NN_INFERENCE_ONLY);
    check_model("resnet8", 32, 16, 0);
    /* odd sizes: 20x20 (5x5 tiles, partial GEMM columns everywhere), 3 images */
    check_model_both("resnet8", 20, 3, SAI_NN_INFERENCE_ONLY);
    /* the AVX-512 transforms' lane sets (wino_x86.c): 40x40 is 10 tiles
     * across (a set of 8 and one of 2 per tile row), 16x16 ends in 4x4
     * maps (one tile per image, two tile rows to a set) */
    check_model_both("resnet8", 40, 2, SAI_NN_INFERENCE_ONLY);
    check_model_both("resnet8", 16, 5, SAI_NN_INFERENCE_ONLY);
    /* batch 1 on 32x32: the 8x8 and 4x4 layers (under 8 tiles) run
     * im2col split over output channels with 2 threads */
    check_model("resnet18", 32, 2, SAI_NN_INFERENCE_ONLY);   /* the largest: once */
    /* a 1x1 stride-1 conv (the direct GEMM path, ResNet-50's bottlenecks)
     * and a Winograd conv, each with a folded BN */
    check_model_both("test-convbn", 16, 2, SAI_NN_INFERENCE_ONLY);
    check_model_both("test-convbn", 15, 3, SAI_NN_INFERENCE_ONLY);
    /* bottlenecks: the residual add folded into a 1x1 conv (identity
     * shortcut) and into a stride-2 projection shortcut */
    check_model_both("test-bottleneck", 16, 6, SAI_NN_INFERENCE_ONLY);
    check_model_both("test-bottleneck", 9, 5, 0);
}

/* The packed GEMM against a double-precision product, on shapes that hit
 * every edge of its blocking: rows not a multiple of 8, columns not a
 * multiple of 16 or 48 and past one 192-column block, depth past one
 * 256-deep pass (accumulating into C), rows of B and C with padding, with
 * no epilogue, bias + ReLU, and bias + residual + ReLU. */
static void test_gemm_packed(void **state)
{
    (void)state;
    if (!sai_nn__gemm_fast()) {
        printf("no AVX-512F: the packed GEMM is not used here\n");
        skip();
    }
    static const int Ms[] = {1, 7, 8, 13, 24};
    static const int Ns[] = {1, 15, 16, 17, 48, 50, 193, 400};
    static const int Ks[] = {1, 3, 256, 300, 577};
    uint64_t r = 5;
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++)
                for (int epi = 0; epi < 3; epi++) {
                    int M = Ms[mi], N = Ns[ni], K = Ks[ki];
                    size_t lda = (size_t)K + 1, ldb = (size_t)N + 3, ldc = (size_t)N + 5;
                    float *a = malloc((size_t)M * lda * sizeof(float));
                    float *ap = malloc(sai_nn__gemm_packed_floats(M, K) * sizeof(float));
                    float *b = malloc((size_t)K * ldb * sizeof(float));
                    float *c = malloc((size_t)M * ldc * sizeof(float));
                    float *bias = malloc((size_t)M * sizeof(float));
                    float *res = malloc((size_t)M * ldc * sizeof(float));
                    assert_true(a && ap && b && c && bias && res);
                    for (size_t i = 0; i < (size_t)M * ldc; i++)
                        res[i] = sai_nn_rng_uniform(&r) - 0.5f;
                    for (size_t i = 0; i < (size_t)M * lda; i++)
                        a[i] = sai_nn_rng_uniform(&r) - 0.5f;
                    for (size_t i = 0; i < (size_t)K * ldb; i++)
                        b[i] = sai_nn_rng_uniform(&r) - 0.5f;
                    for (int i = 0; i < M; i++)
                        bias[i] = sai_nn_rng_uniform(&r) - 0.5f;
                    for (size_t i = 0; i < (size_t)M * ldc; i++)
                        c[i] = 1234.0f;   /* the padding must survive */
                    sai_nn__gemm_pack(ap, a, M, K, lda);
                    sai_nn__gemm_packed(M, N, K, ap, b, ldb, c, ldc, epi ? bias : NULL,
                                        epi == 2 ? res : NULL, epi > 0);
                    double worst = 0.0;
                    for (int i = 0; i < M; i++) {
                        for (int j = 0; j < N; j++) {
                            double s = epi ? bias[i] : 0.0, mag = fabs(s);
                            for (int k = 0; k < K; k++) {
                                s += (double)a[(size_t)i * lda + k] * b[(size_t)k * ldb + j];
                                mag += fabs((double)a[(size_t)i * lda + k] * b[(size_t)k * ldb + j]);
                            }
                            if (epi == 2) {
                                s += res[(size_t)i * ldc + j];
                                mag += fabs(res[(size_t)i * ldc + j]);
                            }
                            if (epi && s < 0.0)
                                s = 0.0;
                            double e = fabs(c[(size_t)i * ldc + j] - s) / (mag + 1e-30);
                            worst = e > worst ? e : worst;
                        }
                        for (size_t j = (size_t)N; j < ldc; j++)
                            assert_true(c[(size_t)i * ldc + j] == 1234.0f);
                    }
                    if (worst > 1e-6)
                        printf("gemm M=%d N=%d K=%d epi=%d: %.2e\n", M, N, K, epi, worst);
                    assert_true(worst <= 1e-6);
                    free(a);
                    free(ap);
                    free(b);
                    free(c);
                    free(bias);
                    free(res);
                }
}

/* Two training models with the same weights, f folded, r the reference. */
typedef struct {
    sai_nn_model_t *f, *r;
    float *x;
    int y[4];
} pair;

static void pair_init(pair *p, unsigned flags)
{
    p->f = make("resnet8", 16, 4, flags);
    p->r = make("resnet8", 16, 4, flags | SAI_NN_NO_EVAL_CACHE);
    randomise_bn(p->f, 12);
    copy_weights(p->r, p->f);
    p->x = input(4, 16, 4);
    for (int i = 0; i < 4; i++)
        p->y[i] = i;
}

static void pair_free(pair *p)
{
    free(p->x);
    sai_nn_model_free(p->f);
    sai_nn_model_free(p->r);
}

static void train_fwd_bwd(sai_nn_model_t *m, const pair *p)
{
    sai_nn_forward(m, p->x, 4, true);
    sai_nn_loss(m, p->y, 4, NULL);
    sai_nn_zero_grad(m);
    sai_nn_backward(m, 4);
}

static void test_invalidated_by_sgd_step(void **state)
{
    (void)state;
    sai_nn_set_threads(2);
    pair p;
    pair_init(&p, 0);
    sai_nn_sgd_t sgd = {.momentum = 0.9f};
    train_fwd_bwd(p.f, &p);
    train_fwd_bwd(p.r, &p);
    assert_true(eval_diff(p.f, p.r, p.x, 4) < TOL);   /* builds f's cache */
    /* the step alone (no training forward in between) changes the weights */
    sai_nn_sgd_step(p.f, &sgd, 0.5f);
    sai_nn_sgd_step(p.r, &sgd, 0.5f);
    double d = eval_diff(p.f, p.r, p.x, 4);
    printf("after an SGD step: %.2e\n", d);
    assert_true(d < TOL);
    pair_free(&p);
}

static void test_invalidated_by_train_forward(void **state)
{
    (void)state;
    sai_nn_set_threads(2);
    pair p;
    pair_init(&p, 0);
    assert_true(eval_diff(p.f, p.r, p.x, 4) < TOL);
    /* running statistics move 10% towards the batch's */
    for (int i = 0; i < 3; i++) {
        sai_nn_forward(p.f, p.x, 4, true);
        sai_nn_forward(p.r, p.x, 4, true);
    }
    double d = eval_diff(p.f, p.r, p.x, 4);
    printf("after training-mode forwards: %.2e\n", d);
    assert_true(d < TOL);
    pair_free(&p);
}

static void test_invalidated_by_checkpoint_load(void **state)
{
    (void)state;
    sai_nn_set_threads(2);
    sai_error_t err;
    pair p;
    pair_init(&p, SAI_NN_INFERENCE_ONLY);
    assert_true(eval_diff(p.f, p.r, p.x, 4) < TOL);
    /* other weights, from a checkpoint of another model */
    sai_nn_model_t *o;
    assert_int_equal(sai_nn_model_create(&o, "resnet8", 3, 16, 16, 10, 4, 99, &err), 0);
    randomise_bn(o, 13);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(sai_nn_ckpt_save_mem(o, NULL, &buf, &len, &err), 0);
    double before = eval_diff(p.f, o, p.x, 4);
    assert_true(before > 1e-2);   /* they do differ */
    assert_int_equal(sai_nn_ckpt_load_mem(p.f, buf, len, NULL, &err), 0);
    assert_int_equal(sai_nn_ckpt_load_mem(p.r, buf, len, NULL, &err), 0);
    double d = eval_diff(p.f, p.r, p.x, 4);
    printf("after a checkpoint load: %.2e (models differed by %.2e)\n", d, before);
    assert_true(d < TOL);
    free(buf);
    sai_nn_model_free(o);
    pair_free(&p);
}

static void test_invalidated_by_setter(void **state)
{
    (void)state;
    sai_nn_set_threads(2);
    pair p;
    pair_init(&p, SAI_NN_INFERENCE_ONLY);
    /* a pointer taken before the cache is built */
    sai_nn_tensor_info_t kept, kept_r;
    sai_nn_model_tensor(p.f, 1, &kept);   /* conv1.weight's BN: bn1.weight */
    sai_nn_model_tensor(p.r, 1, &kept_r);
    assert_true(eval_diff(p.f, p.r, p.x, 4) < TOL);
    float old[16];
    memcpy(old, sai_nn_forward(p.f, p.x, 1, false), sizeof(float) * 10);
    for (size_t j = 0; j < kept.numel; j++) {
        kept.data[j] *= 3.0f;
        kept_r.data[j] *= 3.0f;
    }
    /* written behind the cache's back: the stale folds are still used */
    double stale = nn_rel_err(sai_nn_forward(p.f, p.x, 1, false), old, 10);
    assert_true(stale == 0.0);
    sai_nn_model_weights_changed(p.f);
    double d = eval_diff(p.f, p.r, p.x, 4);
    printf("after sai_nn_model_weights_changed: %.2e\n", d);
    assert_true(d < TOL);
    /* a fresh hand-out invalidates by itself */
    sai_nn_tensor_info_t ti, tr;
    sai_nn_model_tensor(p.f, 0, &ti);
    sai_nn_model_tensor(p.r, 0, &tr);
    for (size_t j = 0; j < ti.numel; j++) {
        ti.data[j] = -ti.data[j];
        tr.data[j] = -tr.data[j];
    }
    d = eval_diff(p.f, p.r, p.x, 4);
    printf("after a sai_nn_model_tensor write: %.2e\n", d);
    assert_true(d < TOL);
    pair_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_packed),
        cmocka_unit_test(test_folded_matches_unfused),
        cmocka_unit_test(test_invalidated_by_sgd_step),
        cmocka_unit_test(test_invalidated_by_train_forward),
        cmocka_unit_test(test_invalidated_by_checkpoint_load),
        cmocka_unit_test(test_invalidated_by_setter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
