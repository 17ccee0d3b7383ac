/*
 * test_seal_mem.c — what the enclave seals in memory is a well-formed
 * sealed file: src/seal's reader opens it and returns the plaintext, and a
 * flipped byte anywhere fails authentication.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pipeline/pipeline_internal.h"
#include "secureai/seal.h"

static void roundtrip(size_t len)
{
    uint8_t key[32];
    assert_int_equal(sai_random_bytes(key, 32, NULL), 0);
    uint8_t *pt = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        pt[i] = (uint8_t)(i * 7 + 3);
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    sai_error err = {0};
    assert_int_equal(sai_pipeline__seal_mem(&ct, &ct_len, key, "model", pt, len, &err), 0);
    sai_seal_reader *r = NULL;
    sai_seal_open_opts o = {.expect_key_id = "model"};
    if (sai_seal_open_mem(&r, ct, ct_len, "model.sealed", key, &o, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(sai_seal_size(r), len);
    uint8_t *back = malloc(len + 1);
    assert_int_equal(sai_seal_read_at(r, 0, back, len, &err), 0);
    assert_memory_equal(back, pt, len);
    sai_seal_close(r);
    /* Flip one byte in the middle: the reader refuses. */
    ct[ct_len / 2] ^= 0x40;
    int rc = sai_seal_open_mem(&r, ct, ct_len, "model.sealed", key, &o, &err);
    if (rc == 0) {
        rc = sai_seal_read_at(r, 0, back, len, &err);
        sai_seal_close(r);
    }
    assert_int_not_equal(rc, 0);
    free(pt);
    free(back);
    free(ct);
}

static void test_sizes(void **state)
{
    (void)state;
    roundtrip(0);
    roundtrip(1);
    roundtrip(65536);
    roundtrip(65536 * 3 + 17);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sizes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
