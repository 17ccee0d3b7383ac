/* test_util.c — encodings, full reads and writes, atomic file writes and the
 * capped growable buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secureai/util.h"

#if defined(__SANITIZE_ADDRESS__)
/* The ENOMEM case asks for more than exists; ASan must answer NULL as
 * malloc does instead of aborting. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
#endif

static void test_b64url_round_trip(void **state)
{
    (void)state;
    sai_error_t err;
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
    sai_error_t err;
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
    sai_error_t err;
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

/* A pipe bigger than its buffer, with a signal in the middle: every byte
 * arrives, and a short read at EOF is an error (EIO), not a partial success. */
static void on_alarm(int sig)
{
    (void)sig;
}

static void test_read_write_full(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    size_t n = 1u << 20;
    uint8_t *out = malloc(n), *in = malloc(n);
    assert_non_null(out);
    assert_non_null(in);
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(i * 131 + 7);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        _exit(sai_write_full(p[1], out, n) == 0 ? 0 : 1);
    }
    close(p[1]);
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;   /* no SA_RESTART: read(2) sees EINTR */
    assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
    struct itimerval it = {{0, 1000}, {0, 1000}}, off = {{0, 0}, {0, 0}};
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    assert_int_equal(sai_read_full(p[0], in, n), 0);
    assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
    assert_memory_equal(in, out, n);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(p[0]);

    assert_int_equal(pipe(p), 0);
    assert_int_equal(sai_write_full(p[1], "abc", 3), 0);
    close(p[1]);
    errno = 0;
    assert_int_equal(sai_read_full(p[0], in, 4), -1);
    assert_int_equal(errno, EIO);
    close(p[0]);
    free(in);
    free(out);
}

static void test_buf(void **state)
{
    (void)state;
    sai_buf_t b;
    sai_buf_init(&b, 1000);
    assert_null(b.data);
    assert_int_equal(sai_buf_append(&b, "hello", 5), 0);
    assert_int_equal(sai_buf_printf(&b, ", %s %d", "world", 42), 0);
    assert_int_equal(b.len, 15);
    assert_string_equal((char *)b.data, "hello, world 42");
    /* grow past the first allocation, byte by byte up to the cap */
    while (b.len < 1000)
        assert_int_equal(sai_buf_append(&b, "x", 1), 0);
    assert_int_equal(b.data[1000], '\0');
    assert_int_equal(sai_buf_append(&b, "x", 1), SAI_ELIMIT);
    assert_int_equal(sai_buf_printf(&b, "%d", 1), SAI_ELIMIT);
    assert_int_equal(b.len, 1000);
    assert_int_equal(b.data[1000], '\0');
    assert_int_equal(sai_buf_append(&b, "", 0), 0);
    size_t len = 0;
    uint8_t *p = sai_buf_take(&b, &len);
    assert_int_equal(len, 1000);
    assert_memory_equal(p, "hello, world 42xx", 17);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 1000);
    free(p);

    /* a printf that does not fit the current room grows once and retries */
    assert_int_equal(sai_buf_append(&b, "a", 1), 0);
    assert_int_equal(sai_buf_printf(&b, "%0600d", 7), 0);
    assert_int_equal(b.len, 601);
    assert_int_equal(b.data[600], '7');
    assert_int_equal(b.data[601], '\0');
    /* a long printf into a buffer that has to grow several times */
    sai_buf_t w;
    sai_buf_init(&w, 100000);
    assert_int_equal(sai_buf_printf(&w, "%s|%05000d|%s", "head", 3, "tail"), 0);
    assert_int_equal(w.len, 5010);
    assert_memory_equal(w.data, "head|0000", 9);
    assert_string_equal((char *)w.data + 5004, "3|tail");
    sai_buf_free(&w);
    /* reserve + commit, as a reader filling the buffer directly */
    assert_int_equal(sai_buf_reserve(&b, 399), 0);
    memset(b.data + b.len, 'r', 399);
    sai_buf_commit(&b, 399);
    assert_int_equal(b.len, 1000);
    assert_int_equal(sai_buf_reserve(&b, 1), SAI_ELIMIT);
    sai_buf_free(&b);
    assert_null(b.data);

    /* no overflow near SIZE_MAX; allocation failure is ENOMEM */
    sai_buf_init(&b, SIZE_MAX);
    assert_int_equal(b.max, SIZE_MAX - 1);
    assert_int_equal(sai_buf_append(&b, "ab", 2), 0);
    assert_int_equal(sai_buf_reserve(&b, SIZE_MAX - 2), SAI_ELIMIT);
    assert_int_equal(sai_buf_reserve(&b, SIZE_MAX / 2), SAI_ENOMEM);
    assert_int_equal(b.len, 2);
    assert_string_equal((char *)b.data, "ab");
    sai_buf_free(&b);
    /* a zero cap holds nothing but the empty string */
    sai_buf_init(&b, 0);
    assert_int_equal(sai_buf_append(&b, "a", 1), SAI_ELIMIT);
    assert_int_equal(sai_buf_append(&b, "", 0), 0);
    assert_string_equal((char *)b.data, "");
    sai_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_round_trip),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_read_write_full),
        cmocka_unit_test(test_buf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
