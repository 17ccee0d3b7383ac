/*
 * test_channel.c — the host<->enclave channel: typed messages with
 * descriptors round-trip; a message out of order, an oversize packet, a
 * length field that lies, or descriptors nobody asked for are fatal
 * (SAI_EFORMAT) and leak no descriptor; the peer's ERROR sentence and a
 * closed peer are reported as such.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "secureai/pipeline.h"

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

static void test_roundtrip_with_fds(void **state)
{
    (void)state;
    sai_chan_t h, e;
    sai_error_t err = {0};
    assert_int_equal(sai_chan_pair(&h, &e, &err), 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "ciphertext", 10), 10);
    assert_int_equal(sai_chan_send(&h, SAI_MSG_SHARD_FDS, "shard-0", 7, &p[0], 1, &err), 0);
    uint8_t *d = NULL;
    size_t n = 0, nf = 0;
    int fds[4];
    assert_int_equal(sai_chan_recv(&e, SAI_MSG_SHARD_FDS, &d, &n, 1024, fds, 4, &nf, &err), 0);
    assert_int_equal(n, 7);
    assert_string_equal((char *)d, "shard-0");
    assert_int_equal(nf, 1);
    char buf[10];
    assert_int_equal(read(fds[0], buf, 10), 10);
    assert_memory_equal(buf, "ciphertext", 10);
    free(d);
    close(fds[0]);
    /* An empty payload and a maximal one. */
    assert_int_equal(sai_chan_send(&e, SAI_MSG_READY, NULL, 0, NULL, 0, &err), 0);
    assert_int_equal(sai_chan_recv(&h, SAI_MSG_READY, &d, &n, 0, NULL, 0, NULL, &err), 0);
    assert_int_equal(n, 0);
    free(d);
    uint8_t *big = calloc(1, SAI_CHAN_MAX_PAYLOAD);
    assert_int_equal(sai_chan_send(&e, SAI_MSG_OUTPUT, big, SAI_CHAN_MAX_PAYLOAD, NULL, 0, &err), 0);
    assert_int_equal(sai_chan_recv(&h, SAI_MSG_OUTPUT, &d, &n, SAI_CHAN_MAX_PAYLOAD, NULL, 0, NULL, &err), 0);
    assert_int_equal(n, SAI_CHAN_MAX_PAYLOAD);
    free(d);
    assert_int_equal(sai_chan_send(&e, SAI_MSG_OUTPUT, big, SAI_CHAN_MAX_PAYLOAD + 1, NULL, 0, &err), SAI_ELIMIT);
    free(big);
    close(p[0]);
    close(p[1]);
    sai_chan_close(&h);
    sai_chan_close(&e);
}

static void test_out_of_order_is_fatal(void **state)
{
    (void)state;
    sai_chan_t h, e;
    sai_error_t err = {0};
    assert_int_equal(sai_chan_pair(&h, &e, &err), 0);
    int before = count_fds();
    int p[2];
    assert_int_equal(pipe(p), 0);
    /* The enclave expects EVIDENCE but the host sends a KBS_CONN with a descriptor. */
    assert_int_equal(sai_chan_send(&h, SAI_MSG_KBS_CONN, "x", 1, &p[0], 1, &err), 0);
    close(p[0]);
    close(p[1]);
    uint8_t *d = NULL;
    size_t n = 0, nf = 0;
    int fds[2];
    assert_int_equal(sai_chan_recv(&e, SAI_MSG_EVIDENCE, &d, &n, 1024, fds, 2, &nf, &err), SAI_EFORMAT);
    assert_non_null(strstr(err.msg, "unexpected KBS_CONN message (expected EVIDENCE)"));
    assert_null(d);
    assert_int_equal(count_fds(), before);   /* the smuggled descriptor was closed */
    /* Descriptors on a message that takes none. */
    assert_int_equal(pipe(p), 0);
    assert_int_equal(sai_chan_send(&h, SAI_MSG_EVIDENCE, "x", 1, p, 2, &err), 0);
    close(p[0]);
    close(p[1]);
    assert_int_equal(sai_chan_recv(&e, SAI_MSG_EVIDENCE, &d, &n, 1024, NULL, 0, NULL, &err), SAI_EFORMAT);
    assert_int_equal(count_fds(), before);
    sai_chan_close(&h);
    sai_chan_close(&e);
}

static void test_caps_and_lies(void **state)
{
    (void)state;
    sai_chan_t h, e;
    sai_error_t err = {0};
    assert_int_equal(sai_chan_pair(&h, &e, &err), 0);
    uint8_t *d = NULL;
    size_t n = 0;
    char payload[100] = {0};
    /* Over the receiver's cap. */
    assert_int_equal(sai_chan_send(&h, SAI_MSG_HELLO, payload, 100, NULL, 0, &err), 0);
    assert_int_equal(sai_chan_recv(&e, SAI_MSG_HELLO, &d, &n, 99, NULL, 0, NULL, &err), SAI_EFORMAT);
    /* A raw packet whose length field lies. */
    uint8_t raw[12] = {0, 0, 0, SAI_MSG_HELLO, 0, 0, 0, 9, 'a', 'b', 'c', 'd'};
    assert_int_equal(send(h.fd, raw, sizeof raw, 0), (ssize_t)sizeof raw);
    assert_int_equal(sai_chan_recv(&e, SAI_MSG_HELLO, &d, &n, 99, NULL, 0, NULL, &err), SAI_EFORMAT);
    assert_non_null(strstr(err.msg, "says 9 bytes but carries 4"));
    /* A runt packet. */
    assert_int_equal(send(h.fd, raw, 3, 0), 3);
    assert_int_equal(sai_chan_recv(&e, SAI_MSG_HELLO, &d, &n, 99, NULL, 0, NULL, &err), SAI_EFORMAT);
    /* The peer's error sentence, control characters neutralised. */
    assert_int_equal(sai_chan_send(&e, SAI_MSG_ERROR, "shard 3: bad tag\n\x1b[2J", 22, NULL, 0, &err), 0);
    assert_int_equal(sai_chan_recv(&h, SAI_MSG_DONE, &d, &n, 99, NULL, 0, NULL, &err), SAI_ESTATE);
    assert_null(strchr(err.msg, '\x1b'));
    assert_non_null(strstr(err.msg, "shard 3: bad tag"));
    /* The peer going away. */
    sai_chan_close(&h);
    assert_int_equal(sai_chan_recv(&e, SAI_MSG_HELLO, &d, &n, 99, NULL, 0, NULL, &err), SAI_ENET);
    sai_chan_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_with_fds),
        cmocka_unit_test(test_out_of_order_is_fatal),
        cmocka_unit_test(test_caps_and_lies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
