/*
 * mesh.c — the full-mesh communicator of the parameter-server mode: one
 * connected stream per pair of workers, the ring's handshake (handshake.c)
 * per pair and its frames (frame.c) on a link per direction and pair, and a
 * schedule that runs a collective as per-peer frame lists over all streams
 * at once (poll-driven, non-blocking), so that many peers cannot deadlock:
 * every stream is always read while frames are due on it.
 *
 * Forming it: the host (or sai_dist_comm_mesh_tcp) dials every lower rank
 * and accepts every higher one; an 8-byte preamble names the dialler's rank
 * so the acceptor knows which stream is whose. The preamble is only routing:
 * the handshake then requires the hello of exactly that rank, for exactly
 * this rank, job and world, and key confirmation under the group secret, so
 * a lying preamble only fails the handshake (which the host can always do).
 *
 * Also here: broadcast on the mesh (the root sends every chunk to every
 * worker). The all-reduce of the parameter-server mode is ps.c.
 */
#include "dist/dist_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secureai/util.h"

#define MESH_PREAMBLE_LEN 8

struct sai_dist_mesh {
    uint32_t rank, world;
    int     *fd;                  /* per rank; fd[rank] = -1 */
    sai_dist_link_t **tx, **rx;   /* per rank: frames to / from that worker */
    uint8_t **sframe, **rframe;   /* per rank: chunk + overhead bytes */
    sai_dist_io_t *io;            /* per rank */
    double  *last;                /* per rank: when bytes last moved (for the timeout's culprit) */
    size_t  *sealed, *recvd;      /* per rank, per collective */
    bool    *sending, *receiving;
    struct pollfd *pf;
    uint32_t *map;
    size_t   frame_cap;
    void    *scratch;             /* ps.c's staging: other workers' gradients */
    size_t   scratch_cap;
};

/* ---- the mesh object ------------------------------------------------------------ */

static void mesh_close_fds(void *tp)
{
    struct sai_dist_mesh *m = tp;
    if (m == NULL || m->fd == NULL)
        return;
    for (uint32_t q = 0; q < m->world; q++)
        if (m->fd[q] >= 0) {
            close(m->fd[q]);
            m->fd[q] = -1;
        }
}

void sai_dist__mesh_free(struct sai_dist_mesh *m)
{
    if (m == NULL)
        return;
    mesh_close_fds(m);
    for (uint32_t q = 0; q < m->world; q++) {
        if (m->tx != NULL)
            sai_dist_link_free(m->tx[q]);
        if (m->rx != NULL)
            sai_dist_link_free(m->rx[q]);
        if (m->rframe != NULL && m->rframe[q] != NULL)
            sai_wipe(m->rframe[q], m->frame_cap);   /* plaintext frames in a bench */
        if (m->sframe != NULL)
            free(m->sframe[q]);
        if (m->rframe != NULL)
            free(m->rframe[q]);
    }
    if (m->scratch != NULL)
        sai_wipe(m->scratch, m->scratch_cap);   /* other workers' gradients */
    free(m->scratch);
    free(m->fd);
    free(m->tx);
    free(m->rx);
    free(m->sframe);
    free(m->rframe);
    free(m->io);
    free(m->last);
    free(m->sealed);
    free(m->recvd);
    free(m->sending);
    free(m->receiving);
    free(m->pf);
    free(m->map);
    free(m);
}

static int mesh_new(struct sai_dist_mesh **out, uint32_t rank, uint32_t world, size_t chunk,
                    sai_error_t *err)
{
    struct sai_dist_mesh *m = calloc(1, sizeof *m);
    *out = NULL;
    if (m == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    m->rank = rank;
    m->world = world;
    m->frame_cap = chunk + SAI_DIST_FRAME_OVERHEAD;
    m->fd = malloc(world * sizeof *m->fd);
    m->tx = calloc(world, sizeof *m->tx);
    m->rx = calloc(world, sizeof *m->rx);
    m->sframe = calloc(world, sizeof *m->sframe);
    m->rframe = calloc(world, sizeof *m->rframe);
    m->io = calloc(world, sizeof *m->io);
    m->last = calloc(world, sizeof *m->last);
    m->sealed = calloc(world, sizeof *m->sealed);
    m->recvd = calloc(world, sizeof *m->recvd);
    m->sending = calloc(world, sizeof *m->sending);
    m->receiving = calloc(world, sizeof *m->receiving);
    m->pf = calloc(world, sizeof *m->pf);
    m->map = calloc(world, sizeof *m->map);
    bool ok = m->fd && m->tx && m->rx && m->sframe && m->rframe && m->io && m->last &&
              m->sealed && m->recvd && m->sending && m->receiving && m->pf && m->map;
    if (m->fd != NULL)
        for (uint32_t q = 0; q < world; q++)
            m->fd[q] = -1;
    for (uint32_t q = 0; ok && q < world; q++) {
        if (q == rank)
            continue;
        m->sframe[q] = malloc(m->frame_cap);
        m->rframe[q] = malloc(m->frame_cap);
        ok = m->sframe[q] != NULL && m->rframe[q] != NULL;
    }
    if (!ok) {
        sai_dist__mesh_free(m);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    *out = m;
    return 0;
}

int sai_dist__mesh_begin_step(struct sai_dist_mesh *m, uint64_t step, sai_error_t *err)
{
    int rc = 0;
    for (uint32_t q = 0; q < m->world && rc == 0; q++) {
        if (m->tx[q] != NULL)
            rc = sai_dist_link_begin_step(m->tx[q], step, err);
        if (rc == 0 && m->rx[q] != NULL)
            rc = sai_dist_link_begin_step(m->rx[q], step, err);
    }
    return rc;
}

double sai_dist__mesh_crypto_seconds(const struct sai_dist_mesh *m)
{
    double s = 0;
    for (uint32_t q = 0; q < m->world; q++)
        s += (m->tx[q] ? m->tx[q]->crypto_s : 0) + (m->rx[q] ? m->rx[q]->crypto_s : 0);
    return s;
}

void *sai_dist__mesh_scratch(struct sai_dist_mesh *m, size_t bytes)
{
    if (bytes <= m->scratch_cap)
        return m->scratch;
    if (m->scratch != NULL)
        sai_wipe(m->scratch, m->scratch_cap);
    free(m->scratch);
    m->scratch_cap = 0;
    if ((m->scratch = malloc(bytes)) != NULL)
        m->scratch_cap = bytes;
    return m->scratch;
}

/* ---- moving bytes: every pending transfer on every stream ----------------------
 * As tcp.c's xfer, for all peers: progress each pending send and receive
 * until at least one completes; a closed or failed stream, or the deadline,
 * fails naming the peer. At the deadline the peer named is the one whose
 * stream has been silent longest among those with a transfer pending. */
static int mesh_xfer(struct sai_dist_mesh *m, double deadline, sai_error_t *err)
{
    for (;;) {
        nfds_t np = 0;
        bool progress = false, completed = false;
        double now = sai_now();
        for (uint32_t q = 0; q < m->world; q++) {
            sai_dist_io_t *x = &m->io[q];
            if (q == m->rank || m->fd[q] < 0)
                continue;
            if (x->sdone < x->slen) {
                ssize_t n = send(m->fd[q], x->sbuf + x->sdone, x->slen - x->sdone, MSG_NOSIGNAL);
                if (n > 0) {
                    x->sdone += (size_t)n;
                    progress = true;
                    m->last[q] = now;
                    completed |= x->sdone == x->slen;
                } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    return sai_error_set(err, SAI_ENET, "sending to worker %u: %s", q,
                                         errno == EPIPE || errno == ECONNRESET
                                             ? "the worker closed the connection"
                                             : strerror(errno));
                }
            }
            if (x->rdone < x->rlen) {
                ssize_t n = recv(m->fd[q], x->rbuf + x->rdone, x->rlen - x->rdone, 0);
                if (n > 0) {
                    x->rdone += (size_t)n;
                    progress = true;
                    m->last[q] = now;
                    completed |= x->rdone == x->rlen;
                } else if (n == 0) {
                    return sai_error_set(err, SAI_ENET, "worker %u closed the connection", q);
                } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    return sai_error_set(err, SAI_ENET, "receiving from worker %u: %s", q,
                                         strerror(errno));
                }
            }
            short ev = (short)((x->sdone < x->slen ? POLLOUT : 0) |
                               (x->rdone < x->rlen ? POLLIN : 0));
            if (ev) {
                m->pf[np].fd = m->fd[q];
                m->pf[np].events = ev;
                m->pf[np].revents = 0;
                m->map[np++] = q;
            }
        }
        if (completed || np == 0)
            return 0;
        if (progress)
            continue;
        int ms = sai_dist__remaining_ms(deadline);
        if (ms == 0) {
            uint32_t q = m->map[0];
            for (nfds_t k = 1; k < np; k++)
                if (m->last[m->map[k]] < m->last[q])
                    q = m->map[k];
            bool rx = m->io[q].rdone < m->io[q].rlen;
            return sai_error_set(err, SAI_ENET, "%s worker %u timed out (deadline passed)",
                                 rx ? "waiting for data from" : "sending to", q);
        }
        if (poll(m->pf, np, ms) < 0 && errno != EINTR)
            return sai_error_set(err, SAI_ENET, "poll: %s", strerror(errno));
    }
}

/* ---- the schedule ------------------------------------------------------------------ */

int sai_dist__mesh_run(sai_dist_comm_t *c, sai_dist_mplan_t *p, sai_error_t *err)
{
    struct sai_dist_mesh *m = c->mesh;
    double t0 = sai_now(), deadline = t0 + c->timeout_ms / 1000.0;
    int rc = 0;
    if (m == NULL)
        return sai_error_set(err, SAI_ESTATE, "not a mesh communicator");
    for (uint32_t q = 0; q < m->world; q++) {
        memset(&m->io[q], 0, sizeof m->io[q]);
        m->sealed[q] = m->recvd[q] = 0;
        m->sending[q] = m->receiving[q] = false;
        m->last[q] = t0;
    }
    for (;;) {
        bool busy = false, left = false;
        for (uint32_t q = 0; q < m->world; q++) {
            if (q == m->rank)
                continue;
            sai_dist_io_t *x = &m->io[q];
            if (!m->sending[q] && m->sealed[q] < p->n_out[q] && p->out_ready(p, q, m->sealed[q])) {
                size_t len;
                const uint8_t *src = p->out_chunk(p, q, m->sealed[q], &len);
                if ((rc = sai_dist_frame_seal(m->tx[q], m->sframe[q], src, len, err)))
                    goto out;
                x->sbuf = m->sframe[q];
                x->slen = len + SAI_DIST_FRAME_OVERHEAD;
                x->sdone = 0;
                m->sending[q] = true;
                m->sealed[q]++;
            }
            if (!m->receiving[q] && m->recvd[q] < p->n_in[q]) {
                size_t len;
                (void)p->in_dest(p, q, m->recvd[q], &len);
                x->rbuf = m->rframe[q];
                x->rlen = len + SAI_DIST_FRAME_OVERHEAD;
                x->rdone = 0;
                m->receiving[q] = true;
            }
            busy |= m->sending[q] || m->receiving[q];
            left |= m->sealed[q] < p->n_out[q] || m->recvd[q] < p->n_in[q];
        }
        if (!busy) {
            if (left)
                rc = sai_error_set(err, SAI_ESTATE, "internal: the mesh schedule stalled");
            goto out;
        }
        if ((rc = mesh_xfer(m, deadline, err)))
            goto out;
        for (uint32_t q = 0; q < m->world; q++) {
            sai_dist_io_t *x = &m->io[q];
            if (q == m->rank)
                continue;
            if (m->sending[q] && x->sdone == x->slen) {
                c->st.frames_sent++;
                c->st.bytes_sent += x->slen;
                x->slen = x->sdone = 0;
                m->sending[q] = false;
            }
            if (m->receiving[q] && x->rdone == x->rlen) {
                size_t len, flen = x->rlen;
                uint8_t *dst = p->in_dest(p, q, m->recvd[q], &len);
                if ((rc = sai_dist_frame_open(m->rx[q], dst, m->rframe[q], flen, err)))
                    goto out;
                double t1 = sai_now();
                p->in_done(p, q, m->recvd[q]);
                c->st.reduce_seconds += sai_now() - t1;
                c->st.frames_received++;
                c->st.bytes_received += flen;
                x->rlen = x->rdone = 0;
                m->receiving[q] = false;
                m->recvd[q]++;
            }
        }
    }
out:
    c->st.total_seconds += sai_now() - t0;
    return rc;
}

/* ---- broadcast: the root sends every chunk to every worker -------------------------- */

typedef struct bc_ctx {
    uint8_t *data;
    size_t   len, cb;
} bc_ctx;

static bool bc_out_ready(const sai_dist_mplan_t *p, uint32_t q, size_t o)
{
    (void)p; (void)q; (void)o;
    return true;
}

static const uint8_t *bc_out_chunk(const sai_dist_mplan_t *p, uint32_t q, size_t o, size_t *len)
{
    const bc_ctx *b = p->ctx;
    size_t lo = o * b->cb, hi = lo + b->cb < b->len ? lo + b->cb : b->len;
    (void)q;
    *len = hi - lo;
    return b->data + lo;
}

static uint8_t *bc_in_dest(sai_dist_mplan_t *p, uint32_t q, size_t i, size_t *len)
{
    bc_ctx *b = p->ctx;
    size_t lo = i * b->cb, hi = lo + b->cb < b->len ? lo + b->cb : b->len;
    (void)q;
    *len = hi - lo;
    return b->data + lo;
}

static void bc_in_done(sai_dist_mplan_t *p, uint32_t q, size_t i)
{
    (void)p; (void)q; (void)i;
}

int sai_dist__mesh_broadcast(sai_dist_comm_t *c, uint32_t root, void *data, size_t len,
                             sai_error_t *err)
{
    uint32_t N = c->world;
    size_t *n_out = calloc(N, sizeof *n_out), *n_in = calloc(N, sizeof *n_in);
    int rc = 0;
    if (n_out == NULL || n_in == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    bc_ctx b = {.data = data, .len = len, .cb = c->chunk_bytes};
    size_t nch = (len + b.cb - 1) / b.cb;
    for (uint32_t q = 0; q < N; q++) {
        if (q == c->rank)
            continue;
        n_out[q] = c->rank == root ? nch : 0;
        n_in[q] = q == root ? nch : 0;
    }
    sai_dist_mplan_t p = {.n_out = n_out, .n_in = n_in, .out_ready = bc_out_ready,
                          .out_chunk = bc_out_chunk, .in_dest = bc_in_dest,
                          .in_done = bc_in_done, .ctx = &b};
    if ((rc = sai_dist__mesh_run(c, &p, err)))
        rc = sai_dist__fail(c, rc, err);
out:
    free(n_out);
    free(n_in);
    return rc;
}

/* ---- forming the mesh ---------------------------------------------------------------- */

static const sai_dist_transport_ops_t mesh_ops = {
    .name = "mesh",
    .xfer = NULL,              /* collectives on a mesh run sai_dist__mesh_run */
    .close = mesh_close_fds,   /* the mesh itself is freed with the communicator */
};

/* One pair's handshake over its stream: the lower rank initiates. */
static int pair_handshake(struct sai_dist_mesh *m, const sai_dist_cfg_t *cfg, uint32_t q,
                          double deadline, sai_error_t *err)
{
    sai_dist_hs_t hs;
    uint8_t fin[SAI_DIST_FIN_LEN];
    int fd = m->fd[q];
    bool initiator = m->rank < q;
    int rc = sai_dist__hs_start(&hs, cfg, initiator, q, err);
    if (rc)
        return rc;
    if (initiator) {
        if ((rc = sai_dist__fd_send_all(fd, q, hs.mine, hs.mine_len, deadline, err)) ||
            (rc = sai_dist__fd_recv_hello(fd, &hs, deadline, err)) ||
            (rc = sai_dist__fd_recv_all(fd, q, fin, sizeof fin, deadline, err)) ||
            (rc = sai_dist__hs_check_finish(&hs, fin, err)))
            goto out;
        sai_dist__hs_finish_msg(&hs, fin, true);
        if ((rc = sai_dist__fd_send_all(fd, q, fin, sizeof fin, deadline, err)))
            goto out;
    } else {
        if ((rc = sai_dist__fd_recv_hello(fd, &hs, deadline, err)))
            goto out;
        sai_dist__hs_finish_msg(&hs, fin, true);
        if ((rc = sai_dist__fd_send_all(fd, q, hs.mine, hs.mine_len, deadline, err)) ||
            (rc = sai_dist__fd_send_all(fd, q, fin, sizeof fin, deadline, err)) ||
            (rc = sai_dist__fd_recv_all(fd, q, fin, sizeof fin, deadline, err)) ||
            (rc = sai_dist__hs_check_finish(&hs, fin, err)))
            goto out;
    }
    if ((rc = sai_dist__hs_link(&hs, &m->tx[q], true, err)) ||
        (rc = sai_dist__hs_link(&hs, &m->rx[q], false, err)))
        goto out;
out:
    sai_wipe(fin, sizeof fin);
    sai_dist__hs_clear(&hs);
    return rc;
}

int sai_dist_comm_mesh_stream(sai_dist_comm_t **out, const sai_dist_cfg_t *cfg, int *fds,
                              sai_error_t *err)
{
    sai_dist_comm_t *c = NULL;
    struct sai_dist_mesh *m = NULL;
    *out = NULL;
    int rc = sai_dist__comm_alloc(&c, cfg, err);
    if (rc)
        goto out;
    if (c->algorithm != SAI_DIST_PS) {
        rc = sai_error_set(err, SAI_EINVAL,
                           "a mesh carries the parameter-server all-reduce (algorithm ps); the "
                           "ring runs over sai_dist_comm_stream");
        goto out;
    }
    if (c->world == 1) {
        *out = c;
        c = NULL;
        goto out;
    }
    double deadline = sai_now() + c->timeout_ms / 1000.0;
    if ((rc = mesh_new(&m, c->rank, c->world, c->chunk_bytes, err)))
        goto out;
    for (uint32_t q = 0; q < c->world; q++) {
        if (q == c->rank)
            continue;
        m->fd[q] = fds[q];
        fds[q] = -1;
    }
    for (uint32_t q = 0; q < c->world; q++)
        if (q != c->rank && (m->fd[q] < 0 || sai_dist__fd_nonblock(m->fd[q]) < 0)) {
            rc = sai_error_set(err, SAI_EINVAL,
                               "the mesh's stream to worker %u is not a usable stream", q);
            goto out;
        }
    /* Pairs in the order (lower, higher): each worker's list of pairs is in
     * that order, so the smallest unfinished pair always has both ends
     * ready and no two workers wait on each other. */
    for (uint32_t q = 0; q < c->world; q++) {
        if (q == c->rank)
            continue;
        if ((rc = pair_handshake(m, cfg, q, deadline, err)))
            goto out;
    }
    c->mesh = m;
    c->t = m;
    c->ops = &mesh_ops;
    m = NULL;
    *out = c;
    c = NULL;
out:
    if (fds != NULL && cfg->world > 1)
        for (uint32_t q = 0; q < cfg->world; q++)
            if (q != cfg->rank && fds[q] >= 0) {
                close(fds[q]);
                fds[q] = -1;
            }
    sai_dist__mesh_free(m);
    sai_dist_comm_free(c);
    return rc;
}

/* ---- the host's half: dial lower ranks, accept higher ones --------------------------- */

int sai_dist_tcp_mesh_connect(int *fds, uint32_t rank, uint32_t world, int listen_fd,
                              const char *const *hosts, const uint16_t *ports, int timeout_ms,
                              sai_error_t *err)
{
    int rc = 0;
    uint32_t want = 0;
    sai_error_t last = {0};
    if (world < 2 || world > SAI_DIST_MAX_WORKERS || rank >= world) {
        rc = sai_error_set(err, SAI_EINVAL, "rank %u of %u: no mesh to form", rank, world);
        goto out;
    }
    for (uint32_t q = 0; q < world; q++)
        fds[q] = -1;
    double deadline = sai_now() + (timeout_ms > 0 ? timeout_ms : 30000) / 1000.0;
    uint8_t pre[MESH_PREAMBLE_LEN];
    memcpy(pre, "SAIM", 4);
    sai_dist__put32(pre + 4, rank);
    for (uint32_t q = 0; q < rank; q++) {
        const char *h = hosts != NULL ? hosts[q] : "127.0.0.1";
        if ((rc = sai_dist__tcp_dial(&fds[q], h, ports[q], q, deadline, err)) ||
            (rc = sai_dist__fd_send_all(fds[q], q, pre, sizeof pre, deadline, err)))
            goto out;
    }
    want = world - 1 - rank;
    if (want > 0 && (listen_fd < 0 || sai_dist__fd_nonblock(listen_fd) < 0)) {
        rc = sai_error_set(err, SAI_EINVAL, "worker %u of a mesh needs a listening socket", rank);
        goto out;
    }
    while (want > 0) {
        struct pollfd pf = {.fd = listen_fd, .events = POLLIN};
        int ms = sai_dist__remaining_ms(deadline);
        if (ms == 0 || poll(&pf, 1, ms) <= 0) {
            uint32_t missing = rank + 1;
            while (missing < world && fds[missing] >= 0)
                missing++;
            rc = sai_error_set(err, SAI_ENET, "worker %u did not connect within %d ms%s%s",
                               missing, timeout_ms, last.code ? "; last refusal: " : "",
                               last.code ? last.msg : "");
            goto out;
        }
        int cfd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0 || sai_dist__fd_nonblock(cfd) < 0) {
            if (cfd >= 0)
                close(cfd);
            continue;
        }
        uint8_t got[MESH_PREAMBLE_LEN];
        uint32_t who = 0;
        sai_error_t e = {0};
        if (sai_dist__fd_recv_all(cfd, rank, got, sizeof got, deadline, &e) != 0) {
            sai_error_set(&e, SAI_ENET, "a connection closed or timed out before its preamble");
        } else {
            who = sai_dist__get32(got + 4);
            if (memcmp(got, "SAIM", 4) != 0)
                sai_error_set(&e, SAI_EFORMAT, "a connection without the mesh preamble");
            else if (who <= rank || who >= world)
                sai_error_set(&e, SAI_EPOLICY, "a connection claiming to be worker %u", who);
            else if (fds[who] >= 0)
                sai_error_set(&e, SAI_EPOLICY, "a second connection from worker %u", who);
        }
        if (e.code) {
            last = e;
            close(cfd);
            continue;
        }
        fds[who] = cfd;
        want--;
    }
out:
    if (listen_fd >= 0)
        close(listen_fd);
    if (rc && world >= 2 && world <= SAI_DIST_MAX_WORKERS && rank < world)
        for (uint32_t q = 0; q < world; q++)
            if (fds[q] >= 0) {
                close(fds[q]);
                fds[q] = -1;
            }
    return rc;
}

int sai_dist_comm_mesh_tcp(sai_dist_comm_t **out, const sai_dist_cfg_t *cfg, int listen_fd,
                           const char *const *hosts, const uint16_t *ports, sai_error_t *err)
{
    int *fds = NULL;
    int rc = 0;
    *out = NULL;
    if (cfg->world < 2 || cfg->world > SAI_DIST_MAX_WORKERS || cfg->rank >= cfg->world) {
        if (listen_fd >= 0)
            close(listen_fd);
        return sai_dist_comm_mesh_stream(out, cfg, NULL, err);   /* validates, or world 1 */
    }
    if ((fds = malloc(cfg->world * sizeof *fds)) == NULL) {
        if (listen_fd >= 0)
            close(listen_fd);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    if ((rc = sai_dist_tcp_mesh_connect(fds, cfg->rank, cfg->world, listen_fd, hosts, ports,
                                        cfg->timeout_ms, err)) == 0)
        rc = sai_dist_comm_mesh_stream(out, cfg, fds, err);
    free(fds);
    return rc;
}
