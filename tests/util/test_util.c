/* test_util.c — encodings and atomic file writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secureai/util.h"

static void test_b64url_round_trip(void **state)
{
    (void)state;
    sai_error err;
    uint8_t in[64];
    for (int i = 0; i < 64; i++) in[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof in; n++) {
        char *s = NULL;
        uint8_t *back = NULL;
        size_t blen = 0;
        assert_int_equal(sai_b64url_encode(&s, in, n, &err), 0);
        assert_null(strchr(s, '='));
        assert_int_equal(sai_b64_decode(&back, &blen, s, strlen(s), &err), 0);
        assert_int_equal(blen, n);
        if (n) assert_memory_equal(back, in, n);
        free(s);
        free(back);
    }
    char *s = NULL;
    assert_int_equal(sai_b64url_encode(&s, (const uint8_t *)"foobar", 6, &err), 0);
    assert_string_equal(s, "Zm9vYmFy");
    free(s);
    uint8_t *b = NULL;
    size_t bl = 0;
    assert_int_equal(sai_b64_decode(&b, &bl, "a$", 2, &err), SAI_EFORMAT);
}

static void test_hex(void **state)
{
    (void)state;
    sai_error err;
    uint8_t out[3];
    char s[7];
    assert_int_equal(sai_hex_decode(out, 3, "00fFa1", &err), 0);
    sai_hex_encode(s, out, 3);
    assert_string_equal(s, "00ffa1");
    assert_int_equal(sai_hex_decode(out, 3, "00ff", &err), SAI_EINVAL);
    assert_int_equal(sai_hex_decode(out, 3, "00ffzz", &err), SAI_EINVAL);
}

static void test_atomic_write(void **state)
{
    (void)state;
    sai_error err;
    char dir[] = "/tmp/sai-util-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/f", dir);
    assert_int_equal(sai_write_file_atomic(path, "hello", 5, 0600, true, &err), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(sai_write_file_atomic(path, "x", 1, 0600, true, &err), SAI_EEXIST);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(sai_read_file(path, 100, &buf, &len, &err), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    free(buf);
    assert_int_equal(sai_read_file(path, 4, &buf, &len, &err), SAI_ELIMIT);
    assert_int_equal(sai_write_file_atomic(path, "bye", 3, 0644, false, &err), 0);
    assert_int_equal(sai_read_file(path, 100, &buf, &len, &err), 0);
    assert_int_equal(len, 3);
    free(buf);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_round_trip),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_atomic_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
