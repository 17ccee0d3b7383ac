/*
 * test_seal_buffer.c — sai_seal_buffer (what the pipeline enclave seals in
 * memory) is a well-formed sealed file: the reader opens it and returns the
 * plaintext, a flipped byte fails authentication, the parameters apply.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "secureai/seal.h"

static void roundtrip(size_t len, uint32_t chunk)
{
    uint8_t key[32];
    assert_int_equal(sai_random_bytes(key, 32, NULL), 0);
    uint8_t *pt = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        pt[i] = (uint8_t)(i * 7 + 3);
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    sai_error_t err = {0};
    sai_seal_params_t sp = {.key_id = "model", .chunk_size = chunk};
    assert_int_equal(sai_seal_buffer(&ct, &ct_len, key, &sp, pt, len, &err), 0);
    sai_seal_header_t h;
    assert_int_equal(sai_seal_header_parse(&h, ct, ct_len, &err), 0);
    assert_int_equal(h.chunk_size, chunk ? chunk : SAI_SEAL_CHUNK_DEFAULT);
    assert_int_equal(h.sealed_len, ct_len);
    sai_seal_reader_t *r = NULL;
    sai_seal_open_opts_t o = {.expect_key_id = "model"};
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
    roundtrip(0, 0);
    roundtrip(1, 0);
    roundtrip(65536, 0);
    roundtrip(65536 * 3 + 17, 0);
    roundtrip(10000, 4096);
}

static void test_bad_params(void **state)
{
    (void)state;
    uint8_t key[32] = {1}, *ct = (uint8_t *)1;
    size_t ct_len = 1;
    sai_error_t err = {0};
    sai_seal_params_t bad_id = {.key_id = "no spaces"}, bad_chunk = {.chunk_size = 3};
    assert_int_equal(sai_seal_buffer(&ct, &ct_len, key, &bad_id, "x", 1, &err), SAI_EINVAL);
    assert_null(ct);
    assert_int_equal(ct_len, 0);
    assert_int_equal(sai_seal_buffer(&ct, &ct_len, key, &bad_chunk, "x", 1, &err), SAI_EINVAL);
    /* NULL params: the default key id */
    assert_int_equal(sai_seal_buffer(&ct, &ct_len, key, NULL, "x", 1, &err), 0);
    sai_seal_header_t h;
    assert_int_equal(sai_seal_header_parse(&h, ct, ct_len, &err), 0);
    assert_string_equal(h.key_id, SAI_SEAL_DEFAULT_KEY_ID);
    free(ct);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sizes), cmocka_unit_test(test_bad_params)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
