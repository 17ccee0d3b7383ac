/*
 * test_dist_train.c — data-parallel training on the engine (nn.h) over the
 * encrypted ring: two workers start from different seeds, take worker 0's
 * weights by broadcast, then run three SGD steps on their own half of each
 * batch with all-reduced gradients. Both end with the same bits, and those
 * are the bits of one process that computes each worker's gradient
 * separately, averages them and steps (BN running statistics come from
 * worker 0 after each step, as PyTorch DDP's broadcast_buffers) (docs/distributed.md, "Equivalence").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dist/dist_testutil.h"
#include "secureai/nn.h"

#define B 8
#define STEPS 3
static const sai_nn_sgd_t sgd = {.momentum = 0.9f, .weight_decay = 5e-4f};

static void batch(int rank, int step, float *x, int *y)
{
    uint64_t s = 1000u * (uint64_t)step + (uint64_t)rank;
    for (int i = 0; i < B * 28 * 28; i++)
        x[i] = sai_nn_rng_uniform(&s) * 2.0f - 1.0f;
    for (int i = 0; i < B; i++)
        y[i] = (int)(sai_nn_rng_next(&s) % 10);
}

static size_t model_floats(sai_nn_model_t *m)
{
    size_t n = 0;
    for (int i = 0; i < sai_nn_model_num_tensors(m); i++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, i, &ti);
        n += ti.numel;
    }
    return n;
}

static void dump(sai_nn_model_t *m, float *out)
{
    for (int i = 0; i < sai_nn_model_num_tensors(m); i++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m, i, &ti);
        memcpy(out, ti.data, ti.numel * sizeof(float));
        out += ti.numel;
    }
}

static void local_grad(sai_nn_model_t *m, int rank, int step)
{
    float x[B * 28 * 28];
    int y[B];
    batch(rank, step, x, y);
    sai_nn_zero_grad(m);
    sai_nn_forward(m, x, B, true);
    sai_nn_loss(m, y, B, NULL);
    sai_nn_backward(m, B);
}

static int train_worker(dt_run *run, int rank, sai_dist_cfg_t *cfg, dt_result *res, void *arg)
{
    (void)arg;
    sai_error_t err = {0};
    sai_dist_comm_t *c = NULL;
    sai_nn_model_t *m = NULL;
    int rc;
    sai_nn_set_threads(1);
    if ((rc = sai_nn_model_create(&m, "smallcnn", 1, 28, 28, 10, B, 100 + (uint64_t)rank, &err)) ||
        (rc = dt_connect(run, rank, cfg, &c, &err)) ||
        (rc = sai_dist_step_begin(c, 0, &err)) ||
        (rc = sai_dist_broadcast_model(c, m, 0, &err)))
        goto out;
    for (int step = 1; step <= STEPS; step++) {
        local_grad(m, rank, step);
        if ((rc = sai_dist_step_begin(c, (uint64_t)step, &err)) ||
            (rc = sai_dist_allreduce_grads(c, m, NULL, &err)))
            goto out;
        sai_nn_sgd_step(m, &sgd, 0.05f);
        if ((rc = sai_dist_broadcast_buffers(c, m, 0, &err)))
            goto out;
    }
    dump(m, (float *)(void *)res->out);
    res->out_len = model_floats(m) * sizeof(float);
out:
    if (rc)
        snprintf(res->msg, sizeof res->msg, "%s", err.msg);
    sai_dist_comm_free(c);
    sai_nn_model_free(m);
    return rc;
}

static void test_two_workers_train_identically(void **state)
{
    (void)state;
    sai_error_t err = {0};
    sai_nn_model_t *a = NULL, *b = NULL;
    assert_int_equal(sai_nn_model_create(&a, "smallcnn", 1, 28, 28, 10, B, 100, &err), 0);
    assert_int_equal(sai_nn_model_create(&b, "smallcnn", 1, 28, 28, 10, B, 100, &err), 0);
    size_t nf = model_floats(a);
    dt_run run;
    dt_start(&run, 2, nf * sizeof(float), train_worker, NULL, 20000);
    assert_int_equal(dt_wait(&run), 0);
    for (int r = 0; r < 2; r++)
        if (dt_res(&run, r)->rc)
            fail_msg("worker %d: %s", r, dt_res(&run, r)->msg);

    /* the reference: each worker's gradient separately, averaged, one step */
    sai_nn_set_threads(1);
    for (int step = 1; step <= STEPS; step++) {
        local_grad(a, 0, step);
        local_grad(b, 1, step);
        for (int i = 0; i < sai_nn_model_num_tensors(a); i++) {
            sai_nn_tensor_info_t ta, tb;
            sai_nn_model_tensor(a, i, &ta);
            sai_nn_model_tensor(b, i, &tb);
            if (!ta.trainable)
                continue;
            for (size_t k = 0; k < ta.numel; k++)
                ta.grad[k] = tb.grad[k] = (ta.grad[k] + tb.grad[k]) / 2.0f;
        }
        sai_nn_sgd_step(a, &sgd, 0.05f);
        sai_nn_sgd_step(b, &sgd, 0.05f);
        for (int i = 0; i < sai_nn_model_num_tensors(a); i++) {   /* BN statistics from 0 */
            sai_nn_tensor_info_t ta, tb;
            sai_nn_model_tensor(a, i, &ta);
            sai_nn_model_tensor(b, i, &tb);
            if (!ta.trainable)
                memcpy(tb.data, ta.data, ta.numel * sizeof(float));
        }
    }
    float *ref = malloc(nf * sizeof *ref);
    dump(a, ref);
    assert_memory_equal(dt_res(&run, 0)->out, dt_res(&run, 1)->out, nf * sizeof(float));
    assert_memory_equal(dt_res(&run, 0)->out, ref, nf * sizeof(float));
    /* it trained: the weights moved from the initial ones */
    sai_nn_model_t *init = NULL;
    assert_int_equal(sai_nn_model_create(&init, "smallcnn", 1, 28, 28, 10, B, 100, &err), 0);
    float *w0 = malloc(nf * sizeof *w0);
    dump(init, w0);
    assert_memory_not_equal(w0, ref, nf * sizeof(float));
    free(w0);
    free(ref);
    sai_nn_model_free(init);
    sai_nn_model_free(a);
    sai_nn_model_free(b);
    dt_free(&run);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_workers_train_identically),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
