/*
 * channel.c — the host<->enclave channel (OpenSSH privsep style).
 *
 * One SOCK_SEQPACKET socketpair: every send is one packet, so message
 * boundaries are kept by the kernel and a short read is impossible to
 * misinterpret. A packet is  u32be type || u32be length || payload  and may
 * carry file descriptors (SCM_RIGHTS) — that is how the host hands over the
 * sealed shards it opened, so the enclave never opens a path.
 *
 * The receiver always says which type(s) it expects next; anything else, a
 * length that disagrees with the packet, a payload over the caller's cap or
 * descriptors it did not ask for is SAI_EFORMAT and the caller tears the
 * channel down. Unexpected descriptors are closed before returning.
 */
#include "secureai/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const msg_names[] = {
    "?", "HELLO", "READY", "SHARD_FDS", "EVIDENCE_REQ", "EVIDENCE", "KBS_CONN", "PROGRESS",
    "OUTPUT", "OUTPUT_END", "DONE", "ERROR", "KBS_REQ", "KBS_RESP",
};

static const char *mname(uint32_t t)
{
    return t < sizeof msg_names / sizeof msg_names[0] ? msg_names[t] : "?";
}

int sai_chan_pair(sai_chan_t *host, sai_chan_t *enclave, sai_error_t *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0)
        return sai_error_set(err, SAI_EIO, "socketpair: %s", strerror(errno));
    /* Enough buffer for one maximal packet in flight each way. */
    int sz = (int)SAI_CHAN_MAX_PAYLOAD * 2 + 4096;
    for (int i = 0; i < 2; i++) {
        (void)setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        (void)setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    }
    (void)fcntl(sv[0], F_SETFD, FD_CLOEXEC);
    memset(host, 0, sizeof *host);
    memset(enclave, 0, sizeof *enclave);
    host->fd = sv[0];
    enclave->fd = sv[1];
    return 0;
}

void sai_chan_close(sai_chan_t *c)
{
    if (c != NULL && c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

int sai_chan_send(sai_chan_t *c, sai_msg_type_t type, const void *data, size_t len,
                  const int *fds, size_t nfds, sai_error_t *err)
{
    if (len > SAI_CHAN_MAX_PAYLOAD || nfds > SAI_CHAN_MAX_FDS || type <= 0 || type >= SAI_MSG_MAX_)
        return sai_error_set(err, SAI_ELIMIT, "channel: %s message of %zu bytes and %zu fds is too large",
                             mname((uint32_t)type), len, nfds);
    uint8_t hdr[8];
    for (int i = 0; i < 4; i++) {
        hdr[i] = (uint8_t)((uint32_t)type >> (24 - 8 * i));
        hdr[4 + i] = (uint8_t)((uint32_t)len >> (24 - 8 * i));
    }
    struct iovec iov[2] = {{hdr, 8}, {(void *)data, len}};
    struct msghdr mh = {0};
    mh.msg_iov = iov;
    mh.msg_iovlen = len > 0 ? 2 : 1;
    union {
        char buf[CMSG_SPACE(sizeof(int) * SAI_CHAN_MAX_FDS)];
        struct cmsghdr align;
    } cm;
    if (nfds > 0) {
        memset(&cm, 0, sizeof cm);
        mh.msg_control = cm.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);
        ch->cmsg_level = SOL_SOCKET;
        ch->cmsg_type = SCM_RIGHTS;
        ch->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(ch), fds, sizeof(int) * nfds);
    }
    ssize_t n;
    do
        n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return sai_error_set(err, SAI_EIO, "channel: cannot send %s: %s", mname((uint32_t)type),
                             strerror(errno));
    if ((size_t)n != len + 8)
        return sai_error_set(err, SAI_EIO, "channel: short send of %s", mname((uint32_t)type));
    c->sent++;
    return 0;
}

int sai_chan_recv_any(sai_chan_t *c, const sai_msg_type_t *want, size_t nwant, sai_msg_type_t *got,
                      uint8_t **data, size_t *len, size_t max_len, int *fds, size_t max_fds,
                      size_t *nfds, sai_error_t *err)
{
    *data = NULL;
    *len = 0;
    if (nfds)
        *nfds = 0;
    if (max_len > SAI_CHAN_MAX_PAYLOAD)
        max_len = SAI_CHAN_MAX_PAYLOAD;
    /* Room for one byte more than allowed, so an oversize packet shows up
     * as MSG_TRUNC instead of being silently cut. */
    uint8_t *buf = malloc(max_len + 8 + 1);
    if (buf == NULL)
        return sai_error_set(err, SAI_ENOMEM, "channel: out of memory");
    union {
        char b[CMSG_SPACE(sizeof(int) * SAI_CHAN_MAX_FDS)];
        struct cmsghdr align;
    } cm;
    struct iovec iov = {buf, max_len + 8};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cm.b;
    mh.msg_controllen = sizeof cm.b;
    ssize_t n;
    do
        n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    int rc = 0;
    int got_fds[SAI_CHAN_MAX_FDS];
    size_t ngot = 0;
    for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch != NULL; ch = CMSG_NXTHDR(&mh, ch)) {
        if (ch->cmsg_level == SOL_SOCKET && ch->cmsg_type == SCM_RIGHTS) {
            size_t k = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k && ngot < SAI_CHAN_MAX_FDS; i++)
                memcpy(&got_fds[ngot++], CMSG_DATA(ch) + i * sizeof(int), sizeof(int));
        }
    }
    if (n < 0) {
        rc = sai_error_set(err, SAI_EIO, "channel: receive failed: %s", strerror(errno));
        goto fail;
    }
    if (n == 0) {
        rc = sai_error_set(err, SAI_ENET, "channel: the peer closed the channel");
        goto fail;
    }
    if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || n < 8) {
        rc = sai_error_set(err, SAI_EFORMAT, "channel: message %llu is truncated or over %zu bytes",
                           (unsigned long long)c->received + 1, max_len);
        goto fail;
    }
    uint32_t type = 0, plen = 0;
    for (int i = 0; i < 4; i++) {
        type = type << 8 | buf[i];
        plen = plen << 8 | buf[4 + i];
    }
    if ((size_t)plen != (size_t)n - 8) {
        rc = sai_error_set(err, SAI_EFORMAT, "channel: %s says %u bytes but carries %zd", mname(type),
                           plen, n - 8);
        goto fail;
    }
    if (type == SAI_MSG_ERROR) {
        size_t m = plen < 400 ? plen : 400;
        char why[401];
        memcpy(why, buf + 8, m);
        why[m] = '\0';
        for (size_t i = 0; i < m; i++)
            if ((unsigned char)why[i] < 0x20)
                why[i] = ' ';
        rc = sai_error_set(err, SAI_ESTATE, "%s", why);
        goto fail;
    }
    size_t w = 0;
    while (w < nwant && (uint32_t)want[w] != type)
        w++;
    if (w == nwant) {
        rc = sai_error_set(err, SAI_EFORMAT, "channel: unexpected %s message (expected %s)", mname(type),
                           mname((uint32_t)want[0]));
        goto fail;
    }
    if (ngot > max_fds || (ngot > 0 && fds == NULL)) {
        rc = sai_error_set(err, SAI_EFORMAT, "channel: %s carries %zu descriptors, at most %zu expected",
                           mname(type), ngot, max_fds);
        goto fail;
    }
    for (size_t i = 0; i < ngot; i++)
        fds[i] = got_fds[i];
    if (nfds)
        *nfds = ngot;
    memmove(buf, buf + 8, plen);
    buf[plen] = 0;
    *data = buf;
    *len = plen;
    if (got)
        *got = (sai_msg_type_t)type;
    c->received++;
    return 0;
fail:
    for (size_t i = 0; i < ngot; i++)
        close(got_fds[i]);
    free(buf);
    return rc;
}

int sai_chan_recv(sai_chan_t *c, sai_msg_type_t want, uint8_t **data, size_t *len, size_t max_len,
                  int *fds, size_t max_fds, size_t *nfds, sai_error_t *err)
{
    return sai_chan_recv_any(c, &want, 1, NULL, data, len, max_len, fds, max_fds, nfds, err);
}
