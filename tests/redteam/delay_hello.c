/* delay_hello.c — red-team attack 2's host-side helper: the launcher owns
 * its host process, so it can hold the enclave before it hardens itself.
 * Preloaded into `secureai run`, this delays the host's HELLO (the first
 * channel message, type 1) by RT_DELAY_MS, leaving the enclave waiting for
 * it in whatever state the platform started it. Built by the test. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    static ssize_t (*real)(int, const struct msghdr *, int);
    if (real == NULL)
        real = (ssize_t (*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
    const uint8_t *b = m->msg_iovlen > 0 ? m->msg_iov[0].iov_base : NULL;
    if (b != NULL && m->msg_iov[0].iov_len >= 8 && b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 1) {
        const char *ms = getenv("RT_DELAY_MS");
        long d = ms ? atol(ms) : 0;
        struct timespec ts = {d / 1000, (d % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return real(fd, m, flags);
}
