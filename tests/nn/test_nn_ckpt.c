/*
 * test_nn_ckpt.c — checkpoints: a save/load round trip through memory and a
 * file restores every tensor and the optimizer state bit for bit (same
 * logits); loading into another model, a truncated buffer (every prefix
 * length tried over a sample), a flipped bit or another version fails with
 * a clear message and leaves the model untouched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "secureai/nn.h"

#define B 4
#define IMG (3 * 16 * 16)

static sai_nn_model_t *trained(uint64_t seed)
{
    sai_error_t err;
    sai_nn_model_t *m;
    assert_int_equal(sai_nn_model_create(&m, "resnet8", 3, 16, 16, 10, B, seed, &err), 0);
    static float x[B * IMG];
    uint64_t r = 1;
    for (int i = 0; i < B * IMG; i++)
        x[i] = sai_nn_rng_uniform(&r);
    int y[B] = {1, 2, 3, 4};
    sai_nn_sgd_t sgd = {.momentum = 0.9f, .weight_decay = 1e-4f};
    sai_nn_forward(m, x, B, true);
    sai_nn_loss(m, y, B, NULL);
    sai_nn_zero_grad(m);
    sai_nn_backward(m, B);
    sai_nn_sgd_step(m, &sgd, 0.1f);
    return m;
}

static void assert_same(const sai_nn_model_t *a, const sai_nn_model_t *b)
{
    assert_int_equal(sai_nn_model_num_tensors(a), sai_nn_model_num_tensors(b));
    for (int t = 0; t < sai_nn_model_num_tensors(a); t++) {
        sai_nn_tensor_info_t ta, tb;
        sai_nn_model_tensor(a, t, &ta);
        sai_nn_model_tensor(b, t, &tb);
        assert_string_equal(ta.name, tb.name);
        assert_memory_equal(ta.data, tb.data, ta.numel * sizeof(float));
        if (ta.momentum != NULL && tb.momentum != NULL)   /* inference-only models have none */
            assert_memory_equal(ta.momentum, tb.momentum, ta.numel * sizeof(float));
    }
}

static void test_roundtrip(void **state)
{
    (void)state;
    sai_error_t err;
    sai_nn_model_t *a = trained(1), *b = trained(2);
    sai_nn_ckpt_meta_t meta = {.step = 77, .epoch = 3, .lr = 0.05f,
                               .sgd = {.momentum = 0.9f, .weight_decay = 1e-4f, .nesterov = true}};
    snprintf(meta.dataset, sizeof(meta.dataset), "cifar10");
    uint8_t *buf;
    size_t len;
    assert_int_equal(sai_nn_ckpt_save_mem(a, &meta, &buf, &len, &err), 0);
    sai_nn_ckpt_meta_t got;
    assert_int_equal(sai_nn_ckpt_load_mem(b, buf, len, &got, &err), 0);
    assert_same(a, b);
    assert_string_equal(got.model, "resnet8");
    assert_string_equal(got.dataset, "cifar10");
    assert_int_equal(got.step, 77);
    assert_int_equal(got.epoch, 3);
    assert_true(got.sgd.nesterov);
    assert_int_equal(got.in_h, 16);
    /* same logits in evaluation mode */
    static float x[IMG];
    for (int i = 0; i < IMG; i++)
        x[i] = (float)(i % 17) / 17.0f;
    float za[10];
    memcpy(za, sai_nn_forward(a, x, 1, false), sizeof(za));
    assert_memory_equal(za, sai_nn_forward(b, x, 1, false), sizeof(za));
    /* build-from-checkpoint and a file round trip */
    sai_nn_model_t *c;
    assert_int_equal(sai_nn_ckpt_load_model(&c, buf, len, 2, NULL, &err), 0);
    assert_same(a, c);
    /* it is inference-only: less memory, no momentum, same logits */
    sai_nn_tensor_info_t ti;
    sai_nn_model_tensor(c, 0, &ti);
    assert_null(ti.momentum);
    assert_null(ti.grad);
    assert_true(sai_nn_model_arena_bytes(c) < sai_nn_model_arena_bytes(a) / 2);
    assert_memory_equal(za, sai_nn_forward(c, x, 1, false), sizeof(za));
    sai_nn_zero_grad(c);
    sai_nn_backward(c, 1);   /* a no-op, must not crash */
    /* saving it again keeps the weights (momentum written as zeros) */
    uint8_t *buf2;
    size_t len2;
    assert_int_equal(sai_nn_ckpt_save_mem(c, &meta, &buf2, &len2, &err), 0);
    assert_int_equal(len2, len);
    sai_nn_model_t *d = trained(3);
    assert_int_equal(sai_nn_ckpt_load_mem(d, buf2, len2, NULL, &err), 0);
    assert_memory_equal(za, sai_nn_forward(d, x, 1, false), sizeof(za));
    sai_nn_model_free(d);
    free(buf2);
    sai_nn_model_free(c);
    char path[] = "/tmp/sai_nn_ckpt_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(sai_nn_ckpt_save_file(a, &meta, path, &err), 0);
    assert_int_equal(sai_nn_ckpt_load_file(&c, path, 1, NULL, &err), 0);
    assert_same(a, c);
    sai_nn_model_free(c);
    unlink(path);
    free(buf);
    sai_nn_model_free(a);
    sai_nn_model_free(b);
}

static void test_rejects(void **state)
{
    (void)state;
    sai_error_t err;
    sai_nn_model_t *a = trained(1), *b = trained(2), *ref = trained(2);
    uint8_t *buf;
    size_t len;
    assert_int_equal(sai_nn_ckpt_save_mem(a, NULL, &buf, &len, &err), 0);
    /* another model */
    sai_nn_model_t *r20;
    assert_int_equal(sai_nn_model_create(&r20, "resnet20", 3, 16, 16, 10, 1, 1, &err), 0);
    assert_int_equal(sai_nn_ckpt_load_mem(r20, buf, len, NULL, &err), SAI_EFORMAT);
    assert_non_null(strstr(err.msg, "resnet8"));
    sai_nn_model_free(r20);
    /* same model, another input size */
    sai_nn_model_t *big;
    assert_int_equal(sai_nn_model_create(&big, "resnet8", 3, 32, 32, 10, 1, 1, &err), 0);
    assert_int_equal(sai_nn_ckpt_load_mem(big, buf, len, NULL, &err), SAI_EFORMAT);
    sai_nn_model_free(big);
    /* every truncation fails and leaves b untouched */
    for (size_t cut = 0; cut < len; cut += (cut < 200 ? 1 : 997)) {
        int rc = sai_nn_ckpt_load_mem(b, buf, cut, NULL, &err);
        assert_int_not_equal(rc, 0);
        if (cut >= 152)
            assert_non_null(strstr(err.msg, "truncated"));
    }
    assert_same(b, ref);
    /* a flipped bit anywhere is caught by the checksum */
    for (size_t pos = 130; pos < len; pos += len / 7) {
        buf[pos] ^= 0x10;
        assert_int_equal(sai_nn_ckpt_load_mem(b, buf, len, NULL, &err), SAI_EFORMAT);
        assert_non_null(strstr(err.msg, "checksum"));
        buf[pos] ^= 0x10;
    }
    /* another version; bad magic */
    buf[8] = 2;
    assert_int_equal(sai_nn_ckpt_load_mem(b, buf, len, NULL, &err), SAI_EFORMAT);
    assert_non_null(strstr(err.msg, "version"));
    buf[8] = 1;
    buf[0] = 'X';
    assert_int_equal(sai_nn_ckpt_load_mem(b, buf, len, NULL, &err), SAI_EFORMAT);
    assert_non_null(strstr(err.msg, "magic"));
    buf[0] = 'S';
    assert_same(b, ref);
    assert_int_equal(sai_nn_ckpt_load_mem(b, buf, len, NULL, &err), 0);
    assert_same(a, b);
    free(buf);
    sai_nn_model_free(a);
    sai_nn_model_free(b);
    sai_nn_model_free(ref);
}

int main(void)
{
    sai_nn_set_threads(2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
