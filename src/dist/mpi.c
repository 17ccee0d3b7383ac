/*
 * mpi.c — the MPI transport: the same handshake and the same AEAD frames
 * as tcp.c, carried in MPI messages between ring neighbours on a private
 * duplicate of MPI_COMM_WORLD (`mpirun -np N secureai ...`, the launcher
 * clusters already have). MPI only moves ciphertext: it is untrusted like
 * the network, and nothing here relies on it for integrity or order.
 *
 * Built when CMake finds OpenMPI (SAI_HAVE_MPI); otherwise every entry
 * point says the build has no MPI. Errors return (MPI_ERRORS_RETURN on our
 * communicator) instead of aborting, so a bad frame or a timeout is an
 * ordinary SAI_E* error; a worker that dies is also seen by mpirun, whose
 * default is to stop the whole job.
 */
#include "dist/dist_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SAI_HAVE_MPI
#include <mpi.h>
#include <sched.h>

#include "secureai/util.h"

enum { TAG_HELLO_I = 1, TAG_HELLO_R, TAG_FIN_R, TAG_FIN_I, TAG_DATA };

typedef struct mpi_t {
    MPI_Comm    comm;
    int         peer[2];
    MPI_Request sreq[2], rreq[2];
    bool        sposted[2], rposted[2];
} mpi_t;

static bool we_initialised;

bool sai_dist_mpi_available(void) { return true; }

static int mpi_fail(sai_error *err, int mrc, const char *what, int peer)
{
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(mrc, s, &n) != MPI_SUCCESS)
        snprintf(s, sizeof s, "MPI error %d", mrc);
    return sai_error_set(err, SAI_ENET, "%s worker %d: %s", what, peer, s);
}

int sai_dist_mpi_init(uint32_t *rank, uint32_t *world, sai_error *err)
{
    int inited = 0, r = 0, n = 0, prov = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &prov) != MPI_SUCCESS)
            return sai_error_set(err, SAI_ENET, "MPI_Init_thread failed");
        we_initialised = true;
    }
    if (MPI_Comm_rank(MPI_COMM_WORLD, &r) != MPI_SUCCESS ||
        MPI_Comm_size(MPI_COMM_WORLD, &n) != MPI_SUCCESS)
        return sai_error_set(err, SAI_ENET, "cannot read the MPI rank and size");
    *rank = (uint32_t)r;
    *world = (uint32_t)n;
    return 0;
}

void sai_dist_mpi_finalize(void)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (we_initialised && !fin)
        MPI_Finalize();
    we_initialised = false;
}

static int mpi_xfer(void *tp, sai_dist_io io[2], double deadline, sai_error *err)
{
    mpi_t *t = tp;
    int mrc;
    for (int d = 0; d < 2; d++) {
        sai_dist_io *x = &io[d];
        if (x->sdone < x->slen && !t->sposted[d]) {
            mrc = MPI_Isend(x->sbuf + x->sdone, (int)(x->slen - x->sdone), MPI_BYTE, t->peer[d],
                            TAG_DATA, t->comm, &t->sreq[d]);
            if (mrc != MPI_SUCCESS)
                return mpi_fail(err, mrc, "sending to", t->peer[d]);
            t->sposted[d] = true;
        }
        if (x->rdone < x->rlen && !t->rposted[d]) {
            mrc = MPI_Irecv(x->rbuf + x->rdone, (int)(x->rlen - x->rdone), MPI_BYTE, t->peer[d],
                            TAG_DATA, t->comm, &t->rreq[d]);
            if (mrc != MPI_SUCCESS)
                return mpi_fail(err, mrc, "receiving from", t->peer[d]);
            t->rposted[d] = true;
        }
    }
    for (;;) {
        bool done = false, pending = false;
        for (int d = 0; d < 2; d++) {
            int flag = 0;
            MPI_Status st;
            if (t->sposted[d]) {
                pending = true;
                if ((mrc = MPI_Test(&t->sreq[d], &flag, &st)) != MPI_SUCCESS)
                    return mpi_fail(err, mrc, "sending to", t->peer[d]);
                if (flag) {
                    t->sposted[d] = false;
                    io[d].sdone = io[d].slen;
                    done = true;
                }
            }
            if (t->rposted[d]) {
                pending = true;
                if ((mrc = MPI_Test(&t->rreq[d], &flag, &st)) != MPI_SUCCESS)
                    return mpi_fail(err, mrc, "receiving from", t->peer[d]);
                if (flag) {
                    int count = 0;
                    t->rposted[d] = false;
                    MPI_Get_count(&st, MPI_BYTE, &count);
                    if ((size_t)count != io[d].rlen - io[d].rdone)
                        return sai_error_set(err, SAI_EFORMAT,
                                             "worker %d sent a message of %d bytes, not %zu",
                                             t->peer[d], count, io[d].rlen - io[d].rdone);
                    io[d].rdone = io[d].rlen;
                    done = true;
                }
            }
        }
        if (done || !pending)
            return 0;
        if (sai_now() > deadline) {
            int d = t->rposted[0] || t->rposted[1] ? (t->rposted[SAI_DIST_PREV] ? 1 : 0)
                                                   : (t->sposted[0] ? 0 : 1);
            return sai_error_set(err, SAI_ENET, "%s worker %d timed out (deadline passed)",
                                 t->rposted[d] ? "waiting for data from" : "sending to",
                                 t->peer[d]);
        }
        sched_yield();
    }
}

static void mpi_close(void *tp)
{
    mpi_t *t = tp;
    if (t == NULL)
        return;
    for (int d = 0; d < 2; d++) {
        if (t->sposted[d]) {
            MPI_Cancel(&t->sreq[d]);
            MPI_Request_free(&t->sreq[d]);
        }
        if (t->rposted[d]) {
            MPI_Cancel(&t->rreq[d]);
            MPI_Request_free(&t->rreq[d]);
        }
    }
    if (t->comm != MPI_COMM_NULL)
        MPI_Comm_free(&t->comm);
    free(t);
}

static const sai_dist_transport_ops mpi_ops = {
    .name = "mpi",
    .xfer = mpi_xfer,
    .close = mpi_close,
};

static int send_msg(mpi_t *t, int dest, int tag, const void *buf, size_t len, double deadline,
                    sai_error *err)
{
    MPI_Request rq;
    int flag = 0, mrc = MPI_Isend(buf, (int)len, MPI_BYTE, dest, tag, t->comm, &rq);
    if (mrc != MPI_SUCCESS)
        return mpi_fail(err, mrc, "sending to", dest);
    while (!flag) {
        if ((mrc = MPI_Test(&rq, &flag, MPI_STATUS_IGNORE)) != MPI_SUCCESS)
            return mpi_fail(err, mrc, "sending to", dest);
        if (!flag && sai_now() > deadline) {
            MPI_Cancel(&rq);
            MPI_Request_free(&rq);
            return sai_error_set(err, SAI_ENET, "sending to worker %d timed out", dest);
        }
        if (!flag)
            sched_yield();
    }
    return 0;
}

/* Receive one message of at most cap bytes (malloc'ed into *buf). */
static int recv_msg(mpi_t *t, int src, int tag, size_t cap, uint8_t **buf, size_t *len,
                    double deadline, sai_error *err)
{
    MPI_Status st;
    int flag = 0, count = 0, mrc;
    *buf = NULL;
    while (!flag) {
        if ((mrc = MPI_Iprobe(src, tag, t->comm, &flag, &st)) != MPI_SUCCESS)
            return mpi_fail(err, mrc, "waiting for", src);
        if (!flag && sai_now() > deadline)
            return sai_error_set(err, SAI_ENET, "worker %d did not answer the handshake in time",
                                 src);
        if (!flag)
            sched_yield();
    }
    MPI_Get_count(&st, MPI_BYTE, &count);
    if (count < 0 || (size_t)count > cap)
        return sai_error_set(err, SAI_ELIMIT, "worker %d sent a %d-byte handshake message", src,
                             count);
    if ((*buf = malloc(count > 0 ? (size_t)count : 1)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    if ((mrc = MPI_Recv(*buf, count, MPI_BYTE, src, tag, t->comm, MPI_STATUS_IGNORE)) != MPI_SUCCESS) {
        free(*buf);
        *buf = NULL;
        return mpi_fail(err, mrc, "receiving from", src);
    }
    *len = (size_t)count;
    return 0;
}

int sai_dist_comm_mpi(sai_dist_comm_t **out, const sai_dist_cfg_t *cfg, sai_error *err)
{
    sai_dist_comm_t *c = NULL;
    mpi_t *t = NULL;
    sai_dist_hs out_hs, in_hs;
    bool out_started = false, in_started = false;
    uint8_t *msg = NULL, fin[SAI_DIST_FIN_LEN];
    size_t len = 0;
    uint32_t r = 0, n = 0;
    *out = NULL;
    int rc = sai_dist__comm_alloc(&c, cfg, err);
    if (rc || (rc = sai_dist_mpi_init(&r, &n, err)))
        goto out;
    if (r != cfg->rank || n != cfg->world) {
        rc = sai_error_set(err, SAI_EINVAL, "worker %u of %u, but MPI says rank %u of %u",
                           cfg->rank, cfg->world, r, n);
        goto out;
    }
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
    t->comm = MPI_COMM_NULL;
    if (MPI_Comm_dup(MPI_COMM_WORLD, &t->comm) != MPI_SUCCESS ||
        MPI_Comm_set_errhandler(t->comm, MPI_ERRORS_RETURN) != MPI_SUCCESS) {
        rc = sai_error_set(err, SAI_ENET, "cannot set up the MPI communicator");
        goto out;
    }
    int next = (int)c->next, prev = (int)c->prev;
    t->peer[SAI_DIST_NEXT] = next;
    t->peer[SAI_DIST_PREV] = prev;
    size_t cap = SAI_DIST_HELLO_FIXED + SAI_DIST_MAX_EVIDENCE;
    /* the order of tcp.c: hello out, serve in, finish out, finish in */
    if ((rc = sai_dist__hs_start(&out_hs, cfg, true, c->next, err)))
        goto out;
    out_started = true;
    if ((rc = sai_dist__hs_start(&in_hs, cfg, false, c->prev, err)))
        goto out;
    in_started = true;
    if ((rc = send_msg(t, next, TAG_HELLO_I, out_hs.mine, out_hs.mine_len, deadline, err)) ||
        (rc = recv_msg(t, prev, TAG_HELLO_I, cap, &msg, &len, deadline, err)) ||
        (rc = sai_dist__hs_peer_hello(&in_hs, msg, len, err)))
        goto out;
    free(msg);
    msg = NULL;
    sai_dist__hs_finish_msg(&in_hs, fin, true);
    if ((rc = send_msg(t, prev, TAG_HELLO_R, in_hs.mine, in_hs.mine_len, deadline, err)) ||
        (rc = send_msg(t, prev, TAG_FIN_R, fin, sizeof fin, deadline, err)) ||
        (rc = recv_msg(t, next, TAG_HELLO_R, cap, &msg, &len, deadline, err)) ||
        (rc = sai_dist__hs_peer_hello(&out_hs, msg, len, err)))
        goto out;
    free(msg);
    msg = NULL;
    if ((rc = recv_msg(t, next, TAG_FIN_R, SAI_DIST_FIN_LEN, &msg, &len, deadline, err)))
        goto out;
    if (len != SAI_DIST_FIN_LEN) {
        rc = sai_error_set(err, SAI_EFORMAT, "worker %d sent a bad finish", next);
        goto out;
    }
    if ((rc = sai_dist__hs_check_finish(&out_hs, msg, err)))
        goto out;
    free(msg);
    msg = NULL;
    sai_dist__hs_finish_msg(&out_hs, fin, true);
    if ((rc = send_msg(t, next, TAG_FIN_I, fin, sizeof fin, deadline, err)) ||
        (rc = recv_msg(t, prev, TAG_FIN_I, SAI_DIST_FIN_LEN, &msg, &len, deadline, err)))
        goto out;
    if (len != SAI_DIST_FIN_LEN) {
        rc = sai_error_set(err, SAI_EFORMAT, "worker %d sent a bad finish", prev);
        goto out;
    }
    if ((rc = sai_dist__hs_check_finish(&in_hs, msg, err)) ||
        (rc = sai_dist__hs_link(&out_hs, &c->tx, true, err)) ||
        (rc = sai_dist__hs_link(&in_hs, &c->rx, false, err)))
        goto out;
    c->ops = &mpi_ops;
    c->t = t;
    t = NULL;
    *out = c;
    c = NULL;
out:
    free(msg);
    if (out_started)
        sai_dist__hs_clear(&out_hs);
    if (in_started)
        sai_dist__hs_clear(&in_hs);
    sai_wipe(fin, sizeof fin);
    mpi_close(t);
    sai_dist_comm_free(c);
    return rc;
}

#else /* !SAI_HAVE_MPI */

bool sai_dist_mpi_available(void) { return false; }

int sai_dist_mpi_init(uint32_t *rank, uint32_t *world, sai_error *err)
{
    *rank = 0;
    *world = 0;
    return sai_error_set(err, SAI_EUNSUPP, "this build has no MPI transport (OpenMPI not found)");
}

void sai_dist_mpi_finalize(void) {}

int sai_dist_comm_mpi(sai_dist_comm_t **out, const sai_dist_cfg_t *cfg, sai_error *err)
{
    (void)cfg;
    *out = NULL;
    return sai_error_set(err, SAI_EUNSUPP, "this build has no MPI transport (OpenMPI not found)");
}

#endif
