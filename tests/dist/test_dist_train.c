/*
 * test_dist_train.c — data-parallel training on the engine (nn.h) over the
 * encrypted ring, N = 2 and 4 workers: they start from different seeds,
 * take worker 0's weights by broadcast, then run three SGD steps, each on
 * its own batch, with all-reduced gradients. After *every* step every
 * worker holds the same bits, and those are the bits of one process that
 * computes each worker's gradient separately, averages them in the ring's
 * documented order and steps (BN running statistics come from worker 0
 * after each step, as PyTorch DDP's broadcast_buffers)
 * (docs/distributed.md, "Collectives and the fixed order").
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
#define MAXN 4
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
        dump(m, (float *)(void *)res->out + (size_t)(step - 1) * model_floats(m));
    }
    res->out_len = STEPS * model_floats(m) * sizeof(float);
out:
    if (rc)
        snprintf(res->msg, sizeof res->msg, "%s", err.msg);
    sai_dist_comm_free(c);
    sai_nn_model_free(m);
    return rc;
}

/* The ring's order over the packed gradient (trainable tensors in order):
 * segment s of N (n*s/N ..) is ((g_s + g_s+1) + ...) + g_s-1, then / N. */
static void ring_average(sai_nn_model_t **m, int N)
{
    size_t n = 0;
    for (int i = 0; i < sai_nn_model_num_tensors(m[0]); i++) {
        sai_nn_tensor_info_t ti;
        sai_nn_model_tensor(m[0], i, &ti);
        n += ti.trainable ? ti.numel : 0;
    }
    float *g[MAXN], *avg = malloc(n * sizeof *avg);
    for (int r = 0; r < N; r++) {
        g[r] = malloc(n * sizeof *g[r]);
        size_t off = 0;
        for (int i = 0; i < sai_nn_model_num_tensors(m[r]); i++) {
            sai_nn_tensor_info_t ti;
            sai_nn_model_tensor(m[r], i, &ti);
            if (ti.trainable) {
                memcpy(g[r] + off, ti.grad, ti.numel * sizeof(float));
                off += ti.numel;
            }
        }
    }
    for (int s = 0; s < N; s++)
        for (size_t x = n * (size_t)s / (size_t)N; x < n * (size_t)(s + 1) / (size_t)N; x++) {
            float acc = g[s][x];
            for (int j = 1; j < N; j++)
                acc = acc + g[(s + j) % N][x];
            avg[x] = acc / (float)N;
        }
    for (int r = 0; r < N; r++) {
        size_t off = 0;
        for (int i = 0; i < sai_nn_model_num_tensors(m[r]); i++) {
            sai_nn_tensor_info_t ti;
            sai_nn_model_tensor(m[r], i, &ti);
            if (ti.trainable) {
                memcpy(ti.grad, avg + off, ti.numel * sizeof(float));
                off += ti.numel;
            }
        }
        free(g[r]);
    }
    free(avg);
}

static void workers_train_identically(int N)
{
    sai_error_t err = {0};
    sai_nn_model_t *ref[MAXN];
    for (int r = 0; r < N; r++)
        assert_int_equal(sai_nn_model_create(&ref[r], "smallcnn", 1, 28, 28, 10, B, 100, &err), 0);
    size_t nf = model_floats(ref[0]);
    dt_run run;
    dt_start(&run, N, STEPS * nf * sizeof(float), train_worker, NULL, 20000);
    assert_int_equal(dt_wait(&run), 0);
    for (int r = 0; r < N; r++)
        if (dt_res(&run, r)->rc)
            fail_msg("worker %d of %d: %s", r, N, dt_res(&run, r)->msg);

    /* the reference: each worker's gradient separately, averaged, one step */
    sai_nn_set_threads(1);
    float *want = malloc(nf * sizeof *want), *w0 = malloc(nf * sizeof *w0);
    dump(ref[0], w0);
    for (int step = 1; step <= STEPS; step++) {
        for (int r = 0; r < N; r++)
            local_grad(ref[r], r, step);
        ring_average(ref, N);
        for (int r = 0; r < N; r++)
            sai_nn_sgd_step(ref[r], &sgd, 0.05f);
        for (int i = 0; i < sai_nn_model_num_tensors(ref[0]); i++) {   /* BN statistics from 0 */
            sai_nn_tensor_info_t t0, tr;
            sai_nn_model_tensor(ref[0], i, &t0);
            for (int r = 1; r < N; r++) {
                sai_nn_model_tensor(ref[r], i, &tr);
                if (!t0.trainable)
                    memcpy(tr.data, t0.data, t0.numel * sizeof(float));
            }
        }
        dump(ref[0], want);
        /* it trained: the weights moved from the initial ones */
        assert_memory_not_equal(w0, want, nf * sizeof(float));
        for (int r = 0; r < N; r++) {
            const uint8_t *got = dt_res(&run, r)->out + (size_t)(step - 1) * nf * sizeof(float);
            if (memcmp(got, want, nf * sizeof(float)) != 0)
                fail_msg("%d workers: worker %d's weights after step %d differ from the reference", N, r,
                         step);
        }
        memcpy(w0, want, nf * sizeof(float));
    }
    free(w0);
    free(want);
    for (int r = 0; r < N; r++)
        sai_nn_model_free(ref[r]);
    dt_free(&run);
}

static void test_two_workers_train_identically(void **state)
{
    (void)state;
    workers_train_identically(2);
}

/* with 4 the order of the additions shows: a sum in another order than
 * the ring's would differ in the last bits */
static void test_four_workers_train_identically(void **state)
{
    (void)state;
    workers_train_identically(4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_workers_train_identically),
        cmocka_unit_test(test_four_workers_train_identically),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
