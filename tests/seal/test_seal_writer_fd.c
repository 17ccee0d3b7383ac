/*
 * test_seal_writer_fd.c — sai_seal_writer_new_fd (what the pipeline enclave
 * seals its checkpoint with, into a file its host opened): the output is a
 * well-formed sealed file the reader opens, the SHA-256 it reports is the
 * file's, sealed_len is its size, the descriptor stays open and the caller's
 * (nothing is renamed or removed), and a short input fails at finish.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "secureai/crypto.h"
#include "secureai/seal.h"

static void roundtrip(size_t len, uint32_t chunk, size_t piece)
{
    uint8_t key[32];
    assert_int_equal(sai_random_bytes(key, 32, NULL), 0);
    uint8_t *pt = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        pt[i] = (uint8_t)(i * 13 + 5);
    FILE *f = tmpfile();
    assert_non_null(f);
    int fd = fileno(f);
    sai_error_t err = {0};
    sai_seal_params_t sp = {.key_id = "bench/model/resnet18", .chunk_size = chunk, .hash_output = true};
    sai_seal_writer_t *w = NULL;
    if (sai_seal_writer_new_fd(&w, fd, "the sealed model", key, &sp, len, &err) != 0)
        fail_msg("%s", err.msg);
    for (size_t off = 0; off < len; off += piece) {
        size_t k = len - off < piece ? len - off : piece;
        assert_int_equal(sai_seal_writer_write(w, pt + off, k, &err), 0);
    }
    uint8_t sha[32];
    assert_int_equal(sai_seal_writer_finish(w, sha, &err), 0);
    uint64_t sealed_len = sai_seal_writer_sealed_len(w);
    sai_seal_writer_free(w);

    /* The descriptor is still open and holds exactly the sealed file. */
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal((uint64_t)st.st_size, sealed_len);
    uint8_t *ct = malloc(sealed_len);
    assert_int_equal(pread(fd, ct, sealed_len, 0), (ssize_t)sealed_len);
    uint8_t want[32];
    assert_int_equal(sai_hash(SAI_SHA256, want, ct, sealed_len, &err), 0);
    assert_memory_equal(sha, want, 32);

    sai_seal_reader_t *r = NULL;
    sai_seal_open_opts_t o = {.expect_key_id = "bench/model/resnet18"};
    if (sai_seal_open_mem(&r, ct, sealed_len, "model.sealed", key, &o, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(sai_seal_size(r), len);
    uint8_t *back = malloc(len + 1);
    assert_int_equal(sai_seal_read_at(r, 0, back, len, &err), 0);
    assert_memory_equal(back, pt, len);
    sai_seal_close(r);
    fclose(f);
    free(pt);
    free(ct);
    free(back);
}

static void test_roundtrip(void **state)
{
    (void)state;
    roundtrip(0, 0, 1);
    roundtrip(1, 0, 1);
    roundtrip(65536 * 5 + 3, 0, 65536 * 5 + 3);   /* one write: straight from the caller's buffer */
    roundtrip(65536 * 5 + 3, 0, 1000);            /* small writes: through the accumulator */
    roundtrip(3 << 20, 4096, 3 << 20);            /* more than one 256 KiB output batch */
}

static void test_short_input_and_bad_fd(void **state)
{
    (void)state;
    uint8_t key[32] = {7};
    sai_error_t err = {0};
    FILE *f = tmpfile();
    assert_non_null(f);
    sai_seal_writer_t *w = NULL;
    assert_int_equal(sai_seal_writer_new_fd(&w, fileno(f), "m", key, NULL, 100, &err), 0);
    assert_int_equal(sai_seal_writer_write(w, "0123456789", 10, &err), 0);
    assert_int_not_equal(sai_seal_writer_finish(w, NULL, &err), 0);
    sai_seal_writer_free(w);
    /* free did not close the caller's descriptor */
    struct stat st;
    assert_int_equal(fstat(fileno(f), &st), 0);
    fclose(f);
    w = (sai_seal_writer_t *)1;
    assert_int_equal(sai_seal_writer_new_fd(&w, -1, "m", key, NULL, 1, &err), SAI_EINVAL);
    assert_null(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_roundtrip),
                                       cmocka_unit_test(test_short_input_and_bad_fd)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
