/*
 * mpi/relay.c — libsecureai-mpi.so, the MPI relay the untrusted host loads
 * with dlopen (src/dist/relay.c) when a job runs under `mpirun`. It is
 * built separately (only when CMake finds OpenMPI) and is not part of
 * libsecureai, so no secureai binary, and no enclave image, links libmpi:
 * `ldd secureai` shows none (tests/dist/test_dist_tcb.sh).
 *
 * It pumps bytes: what the enclave writes on its stream to the next worker
 * goes to the next rank as MPI messages (tag FWD), and comes out on that
 * rank's stream from its previous worker; what the enclave writes on its
 * stream to the previous worker goes back (tag BWD). Both streams carry the
 * dist handshake and AEAD frames (src/dist/tcp.c, frame.c), so this code
 * sees only ciphertext and is trusted for nothing: whatever it drops,
 * delays, reorders or alters fails the step in the enclaves.
 */
#include "dist/dist_internal.h"

#include <errno.h>
#include <mpi.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { TAG_FWD = 101, TAG_BWD = 102 };
#define RELAY_CAP (1u << 20)

static MPI_Comm relay_comm = MPI_COMM_NULL;
static int relay_inited;

int sai_dist__mpi_relay_abi(void) { return SAI_DIST_MPI_RELAY_ABI; }

int sai_dist__mpi_relay_init(int *rank, int *size, char *msg, size_t cap)
{
    int inited = 0, prov = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &prov) != MPI_SUCCESS) {
            snprintf(msg, cap, "MPI_Init_thread failed");
            return -1;
        }
        relay_inited = 1;
    }
    if (MPI_Comm_dup(MPI_COMM_WORLD, &relay_comm) != MPI_SUCCESS ||
        MPI_Comm_set_errhandler(relay_comm, MPI_ERRORS_RETURN) != MPI_SUCCESS ||
        MPI_Comm_rank(relay_comm, rank) != MPI_SUCCESS ||
        MPI_Comm_size(relay_comm, size) != MPI_SUCCESS) {
        snprintf(msg, cap, "cannot set up the MPI communicator");
        return -1;
    }
    return 0;
}

void sai_dist__mpi_relay_finalize(void)
{
    int fin = 0;
    if (relay_comm != MPI_COMM_NULL)
        MPI_Comm_free(&relay_comm);
    MPI_Finalized(&fin);
    if (relay_inited && !fin)
        MPI_Finalize();
    relay_inited = 0;
}

typedef struct dir {
    int         fd, peer, stag, rtag;
    uint8_t    *sbuf, *rbuf;
    MPI_Request sreq, rreq;
    int         sposted, rposted;
    int         eof_sent, eof_got, discard;
    size_t      woff, wlen;
} dir;

static int fail(char *msg, size_t cap, const char *what, int peer, int mrc)
{
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(mrc, s, &n) != MPI_SUCCESS)
        snprintf(s, sizeof s, "MPI error %d", mrc);
    snprintf(msg, cap, "relay: %s worker %d: %s", what, peer, s);
    return -1;
}

/* One pass over one direction; *progress when anything moved. */
static int step_dir(dir *d, int *progress, char *msg, size_t cap)
{
    int mrc, flag = 0;
    /* the enclave's bytes out to the peer */
    if (!d->sposted && !d->eof_sent) {
        ssize_t n = read(d->fd, d->sbuf, RELAY_CAP);
        if (n > 0 || n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            int len = n > 0 ? (int)n : 0;
            if ((mrc = MPI_Isend(d->sbuf, len, MPI_BYTE, d->peer, d->stag, relay_comm, &d->sreq)))
                return fail(msg, cap, "sending to", d->peer, mrc);
            d->sposted = 1;
            d->eof_sent = len == 0;
            *progress = 1;
        }
    }
    if (d->sposted) {
        if ((mrc = MPI_Test(&d->sreq, &flag, MPI_STATUS_IGNORE)))
            return fail(msg, cap, "sending to", d->peer, mrc);
        if (flag) {
            d->sposted = 0;
            *progress = 1;
        }
    }
    /* the peer's bytes in to the enclave */
    if (d->woff < d->wlen) {
        ssize_t k = d->discard ? (ssize_t)(d->wlen - d->woff)
                               : send(d->fd, d->rbuf + d->woff, d->wlen - d->woff, MSG_NOSIGNAL);
        if (k > 0) {
            d->woff += (size_t)k;
            *progress = 1;
        } else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            d->discard = 1;   /* the enclave is gone: keep draining the peer */
        }
    } else if (!d->eof_got) {
        if (!d->rposted) {
            if ((mrc = MPI_Irecv(d->rbuf, (int)RELAY_CAP, MPI_BYTE, d->peer, d->rtag, relay_comm,
                                 &d->rreq)))
                return fail(msg, cap, "receiving from", d->peer, mrc);
            d->rposted = 1;
        }
        MPI_Status st;
        if ((mrc = MPI_Test(&d->rreq, &flag, &st)))
            return fail(msg, cap, "receiving from", d->peer, mrc);
        if (flag) {
            int count = 0;
            MPI_Get_count(&st, MPI_BYTE, &count);
            d->rposted = 0;
            *progress = 1;
            if (count <= 0) {
                d->eof_got = 1;
                (void)shutdown(d->fd, SHUT_WR);
            } else {
                d->woff = 0;
                d->wlen = (size_t)count;
            }
        }
    }
    return 0;
}

static void cancel(MPI_Request *r, int *posted)
{
    if (*posted) {
        MPI_Cancel(r);
        MPI_Request_free(r);
        *posted = 0;
    }
}

int sai_dist__mpi_relay_pump(const int fds[2], const volatile int *stop, char *msg, size_t cap)
{
    int rank = 0, size = 0, rc = 0;
    MPI_Comm_rank(relay_comm, &rank);
    MPI_Comm_size(relay_comm, &size);
    dir d[2];
    memset(d, 0, sizeof d);
    for (int i = 0; i < 2; i++) {
        d[i].fd = fds[i];
        d[i].peer = i == SAI_DIST_NEXT ? (rank + 1) % size : (rank + size - 1) % size;
        d[i].stag = i == SAI_DIST_NEXT ? TAG_FWD : TAG_BWD;
        d[i].rtag = i == SAI_DIST_NEXT ? TAG_BWD : TAG_FWD;
        d[i].sbuf = malloc(RELAY_CAP);
        d[i].rbuf = malloc(RELAY_CAP);
        if (d[i].sbuf == NULL || d[i].rbuf == NULL) {
            snprintf(msg, cap, "relay: out of memory");
            rc = -1;
            goto out;
        }
    }
    while (!*stop) {
        int progress = 0;
        for (int i = 0; i < 2 && rc == 0; i++)
            rc = step_dir(&d[i], &progress, msg, cap);
        if (rc)
            break;
        int done = 1;
        for (int i = 0; i < 2; i++)
            done &= d[i].eof_sent && !d[i].sposted && d[i].eof_got && d[i].woff >= d[i].wlen;
        if (done)
            break;
        if (!progress) {
            struct pollfd pf[2];
            for (int i = 0; i < 2; i++) {
                pf[i].fd = d[i].fd;
                pf[i].events = (short)((!d[i].sposted && !d[i].eof_sent ? POLLIN : 0) |
                                       (d[i].woff < d[i].wlen ? POLLOUT : 0));
                pf[i].revents = 0;
            }
            (void)poll(pf, 2, 1);   /* MPI has no descriptor to wait on: poll it every ms */
        }
    }
out:
    for (int i = 0; i < 2; i++) {
        cancel(&d[i].sreq, &d[i].sposted);
        cancel(&d[i].rreq, &d[i].rposted);
        free(d[i].sbuf);
        free(d[i].rbuf);
    }
    return rc;
}
