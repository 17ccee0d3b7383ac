/*
 * tcp.c — the TCP transport: a ring of connections (each worker connects
 * to rank+1 and accepts rank-1), non-blocking sockets driven by poll(2)
 * under one deadline per operation, and the handshake run on both
 * connections while the ring forms.
 *
 * Sandbox note: every socket is created, connected and accepted here, before
 * the pipeline's no-network seccomp filter (src/pipeline/sandbox.c) goes on;
 * after it, the collectives only send and receive on these descriptors,
 * which that filter leaves alone.
 */
#include "dist/dist_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "secureai/util.h"

typedef struct tcp_t {
    int      fd[2];
    uint32_t peer[2];
} tcp_t;

static int remaining_ms(double deadline)
{
    double left = deadline - sai_now();
    if (left <= 0)
        return 0;
    return left > 1e6 ? 1000000000 : (int)(left * 1000.0) + 1;
}

static int set_socket_opts(int fd)
{
    int one = 1;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

/* ---- the transport table -------------------------------------------------- */

static int tcp_xfer(void *tp, sai_dist_io_t io[2], double deadline, sai_error_t *err)
{
    tcp_t *t = tp;
    for (;;) {
        struct pollfd pf[2];
        int map[2], np = 0;
        bool progress = false, completed = false, pending = false;
        for (int d = 0; d < 2; d++) {
            sai_dist_io_t *x = &io[d];
            if (x->sdone < x->slen) {
                ssize_t n = send(t->fd[d], x->sbuf + x->sdone, x->slen - x->sdone, MSG_NOSIGNAL);
                if (n > 0) {
                    x->sdone += (size_t)n;
                    progress = true;
                    completed |= x->sdone == x->slen;
                } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    return sai_error_set(err, SAI_ENET, "sending to worker %u: %s", t->peer[d],
                                         errno == EPIPE || errno == ECONNRESET
                                             ? "the worker closed the connection"
                                             : strerror(errno));
                }
            }
            if (x->rdone < x->rlen) {
                ssize_t n = recv(t->fd[d], x->rbuf + x->rdone, x->rlen - x->rdone, 0);
                if (n > 0) {
                    x->rdone += (size_t)n;
                    progress = true;
                    completed |= x->rdone == x->rlen;
                } else if (n == 0) {
                    return sai_error_set(err, SAI_ENET, "worker %u closed the connection",
                                         t->peer[d]);
                } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    return sai_error_set(err, SAI_ENET, "receiving from worker %u: %s",
                                         t->peer[d], strerror(errno));
                }
            }
            short ev = (short)((x->sdone < x->slen ? POLLOUT : 0) |
                               (x->rdone < x->rlen ? POLLIN : 0));
            if (ev) {
                pending = true;
                pf[np].fd = t->fd[d];
                pf[np].events = ev;
                pf[np].revents = 0;
                map[np++] = d;
            }
        }
        if (completed || !pending)
            return 0;
        if (progress)
            continue;
        int ms = remaining_ms(deadline);
        if (ms == 0) {
            int d = map[0];
            bool rx = io[d].rdone < io[d].rlen;
            return sai_error_set(err, SAI_ENET, "%s worker %u timed out (deadline passed)",
                                 rx ? "waiting for data from" : "sending to", t->peer[d]);
        }
        int r = poll(pf, (nfds_t)np, ms);
        if (r < 0 && errno != EINTR)
            return sai_error_set(err, SAI_ENET, "poll: %s", strerror(errno));
    }
}

static void tcp_close(void *tp)
{
    tcp_t *t = tp;
    if (t == NULL)
        return;
    for (int d = 0; d < 2; d++)
        if (t->fd[d] >= 0)
            close(t->fd[d]);
    free(t);
}

static const sai_dist_transport_ops_t tcp_ops = {
    .name = "tcp",
    .xfer = tcp_xfer,
    .close = tcp_close,
};

/* ---- blocking helpers for the handshake ------------------------------------ */

static int fd_io(int fd, uint32_t peer, const void *sbuf, size_t slen, void *rbuf, size_t rlen,
                 double deadline, sai_error_t *err)
{
    tcp_t one = {.fd = {fd, -1}, .peer = {peer, 0}};
    sai_dist_io_t io[2] = {{.sbuf = sbuf, .slen = slen, .rbuf = rbuf, .rlen = rlen}, {0}};
    while (io[0].sdone < io[0].slen || io[0].rdone < io[0].rlen) {
        int rc = tcp_xfer(&one, io, deadline, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int send_all(int fd, uint32_t peer, const void *buf, size_t len, double deadline,
                    sai_error_t *err)
{
    return fd_io(fd, peer, buf, len, NULL, 0, deadline, err);
}

static int recv_all(int fd, uint32_t peer, void *buf, size_t len, double deadline, sai_error_t *err)
{
    return fd_io(fd, peer, NULL, 0, buf, len, deadline, err);
}

/* Receive a peer's hello (fixed part, then the evidence it announces) and
 * feed it to the handshake. */
static int recv_hello(int fd, sai_dist_hs_t *hs, double deadline, sai_error_t *err)
{
    uint8_t fixed[SAI_DIST_HELLO_FIXED];
    sai_dist_hello_t h;
    uint8_t *all = NULL;
    int rc;
    if ((rc = recv_all(fd, hs->peer, fixed, sizeof fixed, deadline, err)) ||
        (rc = sai_dist__hello_parse(&h, fixed, err)))
        return rc;
    size_t len = SAI_DIST_HELLO_FIXED + h.evidence_len;
    if ((all = malloc(len)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    memcpy(all, fixed, sizeof fixed);
    if ((rc = recv_all(fd, hs->peer, all + sizeof fixed, h.evidence_len, deadline, err)) == 0)
        rc = sai_dist__hs_peer_hello(hs, all, len, err);
    free(all);
    return rc;
}

/* ---- setup ------------------------------------------------------------------ */

int sai_dist_tcp_listen(int *fd, const char *host, uint16_t *port, sai_error_t *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char ps[8];
    *fd = -1;
    snprintf(ps, sizeof ps, "%u", (unsigned)*port);
    int g = getaddrinfo(host, ps, &hints, &ai);
    if (g != 0)
        return sai_error_set(err, SAI_ENET, "cannot resolve %s: %s", host ? host : "*",
                             gai_strerror(g));
    int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    int rc = 0;
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(s, ai->ai_addr, ai->ai_addrlen) < 0 || listen(s, 16) < 0) {
        rc = sai_error_set(err, SAI_ENET, "cannot listen on %s:%u: %s", host ? host : "*",
                           (unsigned)*port, strerror(errno));
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(s, (struct sockaddr *)&ss, &sl) < 0) {
        rc = sai_error_set(err, SAI_ENET, "getsockname: %s", strerror(errno));
        goto out;
    }
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    *fd = s;
    s = -1;
out:
    if (s >= 0)
        close(s);
    freeaddrinfo(ai);
    return rc;
}

/* Connect to host:port, retrying refused connections (the neighbour may
 * not listen yet) until the deadline. */
static int tcp_connect(int *out, const char *host, uint16_t port, uint32_t peer, double deadline,
                       sai_error_t *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char ps[8];
    int last = 0;
    *out = -1;
    snprintf(ps, sizeof ps, "%u", (unsigned)port);
    int g = getaddrinfo(host, ps, &hints, &ai);
    if (g != 0)
        return sai_error_set(err, SAI_ENET, "cannot resolve worker %u's address %s: %s", peer,
                             host, gai_strerror(g));
    while (remaining_ms(deadline) > 0) {
        int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0 || set_socket_opts(s) < 0) {
            last = errno;
            if (s >= 0)
                close(s);
            break;
        }
        if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            struct pollfd pf = {.fd = s, .events = POLLOUT};
            int e = 0;
            socklen_t el = sizeof e;
            if (poll(&pf, 1, remaining_ms(deadline)) == 1 &&
                getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0) {
                *out = s;
                freeaddrinfo(ai);
                return 0;
            }
            last = e ? e : ETIMEDOUT;
        } else {
            last = errno;
        }
        close(s);
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    freeaddrinfo(ai);
    return sai_error_set(err, SAI_ENET, "cannot connect to worker %u at %s:%u: %s", peer, host,
                         (unsigned)port, last ? strerror(last) : "deadline passed");
}

int sai_dist_comm_tcp(sai_dist_comm_t **out, const sai_dist_cfg_t *cfg, int listen_fd,
                      const char *next_host, uint16_t next_port, sai_error_t *err)
{
    sai_dist_comm_t *c = NULL;
    tcp_t *t = NULL;
    sai_dist_hs_t out_hs, in_hs;
    bool out_started = false, in_started = false;
    int cfd = -1;
    sai_error_t last = {0};
    uint8_t fin[SAI_DIST_FIN_LEN];
    *out = NULL;
    int rc = sai_dist__comm_alloc(&c, cfg, err);
    if (rc)
        goto out;
    if (c->world == 1) {
        *out = c;
        c = NULL;
        goto out;
    }
    double deadline = sai_now() + c->timeout_ms / 1000.0;
    if ((t = calloc(1, sizeof *t)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    t->fd[0] = t->fd[1] = -1;
    t->peer[SAI_DIST_NEXT] = c->next;
    t->peer[SAI_DIST_PREV] = c->prev;
    if (set_socket_opts(listen_fd) < 0) {
        rc = sai_error_set(err, SAI_ENET, "bad listening socket: %s", strerror(errno));
        goto out;
    }
    /* 1. connect to next and say hello (small: it fits the socket buffer,
     *    so no worker blocks here while its own previous neighbour waits) */
    if ((rc = tcp_connect(&t->fd[SAI_DIST_NEXT], next_host, next_port, c->next, deadline, err)))
        goto out;
    if ((rc = sai_dist__hs_start(&out_hs, cfg, true, c->next, err)))
        goto out;
    out_started = true;
    if ((rc = send_all(t->fd[SAI_DIST_NEXT], c->next, out_hs.mine, out_hs.mine_len, deadline,
                       err)))
        goto out;
    bool out_done = false;
    for (;;) {
        /* 2. accept prev; a connection whose handshake fails is dropped */
        struct pollfd pf = {.fd = listen_fd, .events = POLLIN};
        int ms = remaining_ms(deadline);
        if (ms == 0 || poll(&pf, 1, ms) <= 0) {
            if (last.code)
                rc = sai_error_set(err, SAI_ENET,
                                   "worker %u did not join within %d ms; last refusal: %s",
                                   c->prev, c->timeout_ms, last.msg);
            else
                rc = sai_error_set(err, SAI_ENET, "worker %u did not join within %d ms",
                                   c->prev, c->timeout_ms);
            goto out;
        }
        cfd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0 || set_socket_opts(cfd) < 0) {
            if (cfd >= 0)
                close(cfd);
            cfd = -1;
            continue;
        }
        if ((rc = sai_dist__hs_start(&in_hs, cfg, false, c->prev, err)))
            goto out;
        in_started = true;
        if ((rc = recv_hello(cfd, &in_hs, deadline, &last)) == 0) {
            sai_dist__hs_finish_msg(&in_hs, fin, true);
            if ((rc = send_all(cfd, c->prev, in_hs.mine, in_hs.mine_len, deadline, &last)) == 0)
                rc = send_all(cfd, c->prev, fin, sizeof fin, deadline, &last);
        }
        if (rc == 0 && !out_done) {
            /* 3. our own connection: the responder's hello and finish, then ours */
            int fd = t->fd[SAI_DIST_NEXT];
            if ((rc = recv_hello(fd, &out_hs, deadline, err)) ||
                (rc = recv_all(fd, c->next, fin, sizeof fin, deadline, err)) ||
                (rc = sai_dist__hs_check_finish(&out_hs, fin, err)))
                goto out;
            sai_dist__hs_finish_msg(&out_hs, fin, true);
            if ((rc = send_all(fd, c->next, fin, sizeof fin, deadline, err)) ||
                (rc = sai_dist__hs_link(&out_hs, &c->tx, true, err)))
                goto out;
            out_done = true;
        }
        /* 4. prev's finish */
        if (rc == 0 && (rc = recv_all(cfd, c->prev, fin, sizeof fin, deadline, &last)) == 0)
            rc = sai_dist__hs_check_finish(&in_hs, fin, &last);
        if (rc == 0)
            break;
        close(cfd);
        cfd = -1;
        sai_dist__hs_clear(&in_hs);
        in_started = false;
    }
    if ((rc = sai_dist__hs_link(&in_hs, &c->rx, false, err)))
        goto out;
    t->fd[SAI_DIST_PREV] = cfd;
    cfd = -1;
    c->ops = &tcp_ops;
    c->t = t;
    t = NULL;
    *out = c;
    c = NULL;
out:
    if (listen_fd >= 0)
        close(listen_fd);
    if (cfd >= 0)
        close(cfd);
    if (out_started)
        sai_dist__hs_clear(&out_hs);
    if (in_started)
        sai_dist__hs_clear(&in_hs);
    sai_wipe(fin, sizeof fin);
    tcp_close(t);
    sai_dist_comm_free(c);
    return rc;
}

/* ---- a ring over descriptors the caller connected (the enclave) -------------
 * The enclave never opens a socket: its untrusted host forms the ring (TCP
 * connect/accept, or a relay over MPI) and hands over one connected stream
 * per neighbour. The handshake and the frames are the same as above, so
 * the host moves ciphertext it cannot open, alter or replay; it can only
 * drop or delay it, which fails the step. The host relays exactly one
 * connection per neighbour, so a failed handshake is final here (unlike
 * the accept loop above, which may try the next caller). */
int sai_dist_comm_stream(sai_dist_comm_t **out, const sai_dist_cfg_t *cfg, int next_fd,
                         int prev_fd, sai_error_t *err)
{
    sai_dist_comm_t *c = NULL;
    tcp_t *t = NULL;
    sai_dist_hs_t out_hs, in_hs;
    bool out_started = false, in_started = false;
    uint8_t fin[SAI_DIST_FIN_LEN];
    *out = NULL;
    int rc = sai_dist__comm_alloc(&c, cfg, err);
    if (rc)
        goto out;
    if (c->world == 1) {
        *out = c;
        c = NULL;
        goto out;
    }
    double deadline = sai_now() + c->timeout_ms / 1000.0;
    if ((t = calloc(1, sizeof *t)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    t->fd[SAI_DIST_NEXT] = next_fd;
    t->fd[SAI_DIST_PREV] = prev_fd;
    next_fd = prev_fd = -1;
    t->peer[SAI_DIST_NEXT] = c->next;
    t->peer[SAI_DIST_PREV] = c->prev;
    if (t->fd[0] < 0 || t->fd[1] < 0 || set_socket_opts(t->fd[0]) < 0 ||
        set_socket_opts(t->fd[1]) < 0) {
        rc = sai_error_set(err, SAI_EINVAL, "the ring's descriptors are not usable streams");
        goto out;
    }
    int nfd = t->fd[SAI_DIST_NEXT], pfd = t->fd[SAI_DIST_PREV];
    /* the order of sai_dist_comm_tcp: hello out, serve in, finish out, finish in */
    if ((rc = sai_dist__hs_start(&out_hs, cfg, true, c->next, err)))
        goto out;
    out_started = true;
    if ((rc = sai_dist__hs_start(&in_hs, cfg, false, c->prev, err)))
        goto out;
    in_started = true;
    if ((rc = send_all(nfd, c->next, out_hs.mine, out_hs.mine_len, deadline, err)) ||
        (rc = recv_hello(pfd, &in_hs, deadline, err)))
        goto out;
    sai_dist__hs_finish_msg(&in_hs, fin, true);
    if ((rc = send_all(pfd, c->prev, in_hs.mine, in_hs.mine_len, deadline, err)) ||
        (rc = send_all(pfd, c->prev, fin, sizeof fin, deadline, err)) ||
        (rc = recv_hello(nfd, &out_hs, deadline, err)) ||
        (rc = recv_all(nfd, c->next, fin, sizeof fin, deadline, err)) ||
        (rc = sai_dist__hs_check_finish(&out_hs, fin, err)))
        goto out;
    sai_dist__hs_finish_msg(&out_hs, fin, true);
    if ((rc = send_all(nfd, c->next, fin, sizeof fin, deadline, err)) ||
        (rc = recv_all(pfd, c->prev, fin, sizeof fin, deadline, err)) ||
        (rc = sai_dist__hs_check_finish(&in_hs, fin, err)) ||
        (rc = sai_dist__hs_link(&out_hs, &c->tx, true, err)) ||
        (rc = sai_dist__hs_link(&in_hs, &c->rx, false, err)))
        goto out;
    c->ops = &tcp_ops;
    c->t = t;
    t = NULL;
    *out = c;
    c = NULL;
out:
    if (next_fd >= 0)
        close(next_fd);
    if (prev_fd >= 0)
        close(prev_fd);
    if (out_started)
        sai_dist__hs_clear(&out_hs);
    if (in_started)
        sai_dist__hs_clear(&in_hs);
    sai_wipe(fin, sizeof fin);
    tcp_close(t);
    sai_dist_comm_free(c);
    return rc;
}

/* The host's half of a TCP ring: listen_fd (taken) accepts the previous
 * worker, the next one is dialled at next_host:next_port; the two
 * connected sockets are what the enclave's sai_dist_comm_stream takes. */
int sai_dist_tcp_ring_connect(int fds[2], uint32_t rank, uint32_t world, int listen_fd,
                              const char *next_host, uint16_t next_port, int timeout_ms,
                              sai_error_t *err)
{
    fds[0] = fds[1] = -1;
    int rc = 0;
    if (world < 2 || rank >= world) {
        rc = sai_error_set(err, SAI_EINVAL, "rank %u of %u: no ring to form", rank, world);
        goto out;
    }
    double deadline = sai_now() + (timeout_ms > 0 ? timeout_ms : 30000) / 1000.0;
    uint32_t next = (rank + 1) % world, prev = (rank + world - 1) % world;
    if ((rc = tcp_connect(&fds[SAI_DIST_NEXT], next_host, next_port, next, deadline, err)))
        goto out;
    struct pollfd pf = {.fd = listen_fd, .events = POLLIN};
    int ms = remaining_ms(deadline);
    if (ms == 0 || poll(&pf, 1, ms) <= 0) {
        rc = sai_error_set(err, SAI_ENET, "worker %u did not connect within %d ms", prev,
                           timeout_ms);
        goto out;
    }
    fds[SAI_DIST_PREV] = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fds[SAI_DIST_PREV] < 0)
        rc = sai_error_set(err, SAI_ENET, "accepting worker %u: %s", prev, strerror(errno));
out:
    if (listen_fd >= 0)
        close(listen_fd);
    if (rc) {
        for (int d = 0; d < 2; d++)
            if (fds[d] >= 0)
                close(fds[d]);
        fds[0] = fds[1] = -1;
    }
    return rc;
}

/* ---- for mesh.c: the same blocking helpers, one stream each ------------------ */

int sai_dist__fd_nonblock(int fd) { return set_socket_opts(fd); }
int sai_dist__remaining_ms(double deadline) { return remaining_ms(deadline); }

int sai_dist__fd_send_all(int fd, uint32_t peer, const void *buf, size_t len, double deadline,
                          sai_error_t *err)
{
    return send_all(fd, peer, buf, len, deadline, err);
}

int sai_dist__fd_recv_all(int fd, uint32_t peer, void *buf, size_t len, double deadline,
                          sai_error_t *err)
{
    return recv_all(fd, peer, buf, len, deadline, err);
}

int sai_dist__fd_recv_hello(int fd, sai_dist_hs_t *hs, double deadline, sai_error_t *err)
{
    return recv_hello(fd, hs, deadline, err);
}

int sai_dist__tcp_dial(int *out, const char *host, uint16_t port, uint32_t peer, double deadline,
                       sai_error_t *err)
{
    return tcp_connect(out, host, port, peer, deadline, err);
}
