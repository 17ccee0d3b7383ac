/*
 * test_nn_train.c — training as a library call: ResNet-8 learns the
 * generated CIFAR-10 set (test accuracy > 90% after three epochs of 320 images), and
 * a seed makes a run reproducible bit for bit (identical checkpoints) while
 * another seed does not; the training defaults and the warm-up fraction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "secureai/nn.h"

static char g_dir[] = "/tmp/sai_nn_train_XXXXXX";

static void run(uint64_t seed, uint32_t epochs, uint8_t **ckpt, size_t *len, float *test_acc)
{
    sai_error_t err;
    sai_nn_dataset_t tr, te;
    assert_int_equal(sai_nn_dataset_load_dir(&tr, "cifar10", g_dir, true, &err), 0);
    assert_int_equal(sai_nn_dataset_load_dir(&te, "cifar10", g_dir, false, &err), 0);
    sai_nn_model_t *m;
    assert_int_equal(sai_nn_model_create(&m, "resnet8", 3, 32, 32, 10, 32, seed, &err), 0);
    sai_nn_train_cfg_t cfg = {
        .epochs = epochs, .batch = 32, .sgd = {.momentum = 0.9f, .weight_decay = 5e-4f},
        .sched = {.kind = SAI_NN_SCHED_COSINE, .base_lr = 0.05f, .warmup_steps = 2},
        .aug = {.crop_pad = 2, .hflip = true}, .seed = seed, .progress_every = 5,
    };
    sai_nn_train_result_t res;
    assert_int_equal(sai_nn_train(m, &tr, &cfg, &res, &err), 0);
    assert_int_equal(res.steps, epochs * (uint64_t)(tr.n / 32));
    assert_true(res.images_per_s > 0.0);
    sai_nn_eval_result_t ev;
    assert_int_equal(sai_nn_evaluate(m, &te, &ev, &err), 0);
    *test_acc = ev.accuracy;
    int total = 0;
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < 10; j++)
            total += ev.confusion[i][j];
    assert_int_equal(total, te.n);
    assert_int_equal(sai_nn_ckpt_save_mem(m, NULL, ckpt, len, &err), 0);
    sai_nn_model_free(m);
    sai_nn_dataset_free(&tr);
    sai_nn_dataset_free(&te);
}

static void test_learns_and_reproduces(void **state)
{
    (void)state;
    uint8_t *a, *b, *c;
    size_t la, lb, lc;
    float acc_a, acc_b, acc_c;
    run(5, 3, &a, &la, &acc_a);
    print_message("resnet8 on generated CIFAR-10, 3 epochs: test accuracy %.3f\n", acc_a);
    assert_true(acc_a > 0.9f);
    free(a);
    run(5, 1, &a, &la, &acc_a);
    run(5, 1, &b, &lb, &acc_b);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);     /* same seed: same bytes */
    run(6, 1, &c, &lc, &acc_c);
    assert_memory_not_equal(a, c, la);
    free(a);
    free(b);
    free(c);
}

/* Six steps of resnet8 on the generated set with cfg; the checkpoint. */
static void steps6(const sai_nn_train_cfg_t *cfg, uint8_t **ckpt, size_t *len)
{
    sai_error_t err;
    sai_nn_dataset_t tr;
    assert_int_equal(sai_nn_dataset_load_dir(&tr, "cifar10", g_dir, true, &err), 0);
    sai_nn_model_t *m;
    assert_int_equal(sai_nn_model_create(&m, "resnet8", 3, 32, 32, 10, 32, 3, &err), 0);
    sai_nn_train_result_t res;
    assert_int_equal(sai_nn_train(m, &tr, cfg, &res, &err), 0);
    assert_int_equal(res.steps, 6);
    assert_int_equal(sai_nn_ckpt_save_mem(m, NULL, ckpt, len, &err), 0);
    sai_nn_model_free(m);
    sai_nn_dataset_free(&tr);
}

/* The defaults: Fashion-MNIST's are the sweep's winner (docs/engine.md,
 * "Training defaults"), CIFAR-10's the earlier ones; a warm-up fraction is
 * resolved against the run's steps (0.5 of 6 trains exactly like 3 warm-up
 * steps, and unlike none); out-of-range settings are refused. */
static void test_defaults(void **state)
{
    (void)state;
    sai_nn_train_cfg_t fm, cf;
    sai_nn_train_cfg_defaults(&fm, "fashion-mnist");
    assert_int_equal(fm.sched.kind, SAI_NN_SCHED_ONECYCLE);
    assert_float_equal(fm.sched.base_lr, 0.4f, 0.0f);
    assert_float_equal(fm.sched.warmup_frac, 0.3f, 0.0f);
    assert_true(fm.sgd.nesterov);
    assert_float_equal(fm.sgd.momentum, 0.9f, 0.0f);
    assert_float_equal(fm.sgd.weight_decay, 5e-4f, 0.0f);
    assert_int_equal(fm.aug.crop_pad, 0);
    assert_false(fm.aug.hflip);
    assert_float_equal(fm.label_smoothing, 0.0f, 0.0f);
    sai_nn_train_cfg_defaults(&cf, "cifar10");
    assert_int_equal(cf.sched.kind, SAI_NN_SCHED_COSINE);
    assert_float_equal(cf.sched.base_lr, 0.1f, 0.0f);
    assert_int_equal(cf.aug.crop_pad, 4);
    assert_true(cf.aug.hflip);
    assert_false(cf.sgd.nesterov);

    sai_nn_train_cfg_t cfg;
    sai_nn_train_cfg_defaults(&cfg, "fashion-mnist");
    cfg.batch = 32;
    cfg.max_steps = 6;
    cfg.seed = 2;
    cfg.label_smoothing = 0.1f;
    cfg.sched.warmup_frac = 0.5f;
    uint8_t *a, *b, *c;
    size_t la, lb, lc;
    steps6(&cfg, &a, &la);
    cfg.sched.warmup_frac = 0.0f;
    cfg.sched.warmup_steps = 3;
    steps6(&cfg, &b, &lb);
    cfg.sched.warmup_steps = 0;
    steps6(&cfg, &c, &lc);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_memory_not_equal(a, c, la);
    free(a);
    free(b);
    free(c);

    sai_error_t err;
    sai_nn_dataset_t tr;
    assert_int_equal(sai_nn_dataset_load_dir(&tr, "cifar10", g_dir, true, &err), 0);
    sai_nn_model_t *m;
    assert_int_equal(sai_nn_model_create(&m, "resnet8", 3, 32, 32, 10, 32, 3, &err), 0);
    sai_nn_train_result_t res;
    cfg.label_smoothing = 1.0f;
    assert_int_equal(sai_nn_train(m, &tr, &cfg, &res, &err), SAI_EINVAL);
    cfg.label_smoothing = 0.0f;
    cfg.sched.warmup_frac = 1.0f;
    assert_int_equal(sai_nn_train(m, &tr, &cfg, &res, &err), SAI_EINVAL);
    sai_nn_model_free(m);
    sai_nn_dataset_free(&tr);
}

int main(void)
{
    sai_nn_set_threads(2);
    if (mkdtemp(g_dir) == NULL)
        return 1;
    sai_error_t err;
    if (sai_nn_gen_cifar10(g_dir, 320, 11, &err) != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns_and_reproduces),
        cmocka_unit_test(test_defaults),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
