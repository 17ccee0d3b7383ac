/*
 * host_dist.c — `secureai run SPEC --workers N`: a distributed job's N
 * workers on this machine (docs/distributed.md, "Running a job").
 *
 * The parent binds N loopback listeners first (so no worker races another
 * for a port and every worker knows its next neighbour's port before any
 * starts), then forks N worker hosts. Each is an ordinary host
 * (host.c): it launches its own enclave through the platform service, hands
 * over the shards, forms its part of the TCP ring (accept the previous
 * worker, dial the next) and sends DIST with the two sockets. The enclaves
 * do the rest (enclave_dist.c); only worker 0 seals and publishes. With
 * dist.algorithm ps the workers form the full mesh instead (each dials
 * every lower rank's listener and accepts every higher one,
 * sai_dist_tcp_mesh_connect) and DIST carries one stream per peer.
 *
 * Every worker reports {rc, error, result} on its own pipe. When one fails,
 * the others are given 10 s to fail on their own (a dead ring
 * member fails every step at once: its sockets close) and are then stopped,
 * so a worker that failed before the ring existed leaves no one waiting
 * for it. The error names every worker that failed and why.
 *
 * `secureai run SPEC --rank R --peers TEMPLATE` is one worker of a job
 * whose workers run on different machines (an Indexed Job: docs/
 * scheduling.md): it listens on the template's port on every address,
 * dials worker R+1 at the template's name for it, and is otherwise the same
 * worker host; the ring's security is the enclaves' (evidence-bound
 * handshake, AEAD frames), never the names.
 *
 * Under `mpirun -np N secureai run SPEC` (dist.transport: mpi) each process
 * is one worker's host: sai_pipeline__host_run_mpi loads the MPI relay
 * plugin (libsecureai-mpi.so, dlopen'ed; secureai never links libmpi),
 * takes rank and world from it and hands the enclave the relay's two
 * streams in DIST. mpirun is the parent here: a rank that fails exits
 * non-zero and mpirun stops the others.
 */
#include "pipeline/pipeline_internal.h"
#include "pipeline/spec_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secureai/util.h"

#define RING_TIMEOUT_MS 60000
#define GRACE_MS        10000
/* Workers on other machines start when their pods do (image pulls, node
 * start-up): they get longer to form the ring. */
#define PEER_TIMEOUT_MS 300000
#define RELAY_DRAIN_MS  10000   /* after the enclave ended: the peers' streams end too */

typedef struct report {
    int rc;
    sai_error_t err;
    sai_pipeline_run_result_t res;
} report;

typedef struct worker {
    pid_t  pid;
    int    fd;       /* read end of its report pipe */
    size_t got;
    bool   done;     /* reported, or its pipe closed */
    report r;
} worker;

static int write_all(int fd, const void *b, size_t n)
{
    const uint8_t *p = b;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void run_child(const sai_pipeline_run_opts_t *o, unsigned rank, unsigned N, int listen_fd,
                      const uint16_t *ports, int report_fd)
{
    report r;
    memset(&r, 0, sizeof r);
    /* The ring needs the next worker's port, the ps mesh every one's (the
     * host picks by the spec's dist.algorithm, host.c). */
    sai_host_dist_t hd = {.rank = rank, .world = N, .listen_fd = listen_fd, .next_host = "127.0.0.1",
                          .next_port = ports[(rank + 1) % N], .timeout_ms = RING_TIMEOUT_MS,
                          .peer_ports = ports};
    r.rc = sai_pipeline__host_run_worker(o, &hd, &r.res, &r.err);
    int ok = write_all(report_fd, &r, sizeof r) == 0;
    close(report_fd);
    _exit(r.rc == 0 && ok ? 0 : 1);
}

/* Read what is there of each report; mark a worker done when its report is
 * complete or its pipe closed. */
static void drain(worker *w)
{
    while (!w->done) {
        ssize_t k = read(w->fd, (uint8_t *)&w->r + w->got, sizeof w->r - w->got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN)
            return;
        if (k <= 0) {   /* closed before a full report: it died */
            if (w->got != sizeof w->r) {
                memset(&w->r, 0, sizeof w->r);
                w->r.rc = SAI_ESTATE;
                snprintf(w->r.err.msg, sizeof w->r.err.msg, "its host died without a report");
            }
            w->done = true;
            return;
        }
        w->got += (size_t)k;
        if (w->got == sizeof w->r)
            w->done = true;
    }
}

int sai_pipeline__host_run_workers(const sai_pipeline_run_opts_t *o, unsigned N, sai_pipeline_run_result_t *res,
                                   sai_error_t *err)
{
    int rc = 0;
    if (N < 2 || N > SAI_SPEC_MAX_WORKERS)
        return sai_error_set(err, SAI_EINVAL, "--workers takes 2..%u", (unsigned)SAI_SPEC_MAX_WORKERS);
    int *lfd = calloc(N, sizeof *lfd);
    uint16_t *port = calloc(N, sizeof *port);
    worker *w = calloc(N, sizeof *w);
    struct pollfd *pf = calloc(N, sizeof *pf);
    if (lfd == NULL || port == NULL || w == NULL || pf == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < N; i++) {
        lfd[i] = -1;
        w[i].pid = -1;
        w[i].fd = -1;
    }
    for (unsigned i = 0; i < N; i++)
        if ((rc = sai_dist_tcp_listen(&lfd[i], "127.0.0.1", &port[i], err))) {
            sai_error_prefix(err, "worker %u's listener", i);
            goto out;
        }
    fflush(stdout);
    fflush(stderr);
    for (unsigned i = 0; i < N; i++) {
        int pp[2];
        if (pipe2(pp, O_CLOEXEC) != 0) {
            rc = sai_error_set(err, SAI_EIO, "pipe: %s", strerror(errno));
            goto out;
        }
        pid_t pid = fork();
        if (pid < 0) {
            close(pp[0]);
            close(pp[1]);
            rc = sai_error_set(err, SAI_EIO, "fork: %s", strerror(errno));
            goto out;
        }
        if (pid == 0) {
            close(pp[0]);
            for (unsigned j = 0; j < N; j++) {
                if (j != i && lfd[j] >= 0)
                    close(lfd[j]);
                if (w[j].fd >= 0)
                    close(w[j].fd);
            }
            run_child(o, i, N, lfd[i], port, pp[1]);
        }
        close(pp[1]);
        w[i].pid = pid;
        w[i].fd = pp[0];
        (void)fcntl(pp[0], F_SETFL, O_NONBLOCK);
    }
    for (unsigned i = 0; i < N; i++) {   /* each listener now lives in its worker */
        close(lfd[i]);
        lfd[i] = -1;
    }

    /* Wait for every report; once one worker failed, the rest get GRACE_MS. */
    double failed_at = -1.0;
    for (;;) {
        nfds_t np = 0;
        bool any_failed = false;
        for (unsigned i = 0; i < N; i++) {
            if (w[i].done && w[i].r.rc != 0)
                any_failed = true;
            if (!w[i].done) {
                pf[np].fd = w[i].fd;
                pf[np].events = POLLIN;
                np++;
            }
        }
        if (np == 0)
            break;
        if (any_failed && failed_at < 0)
            failed_at = sai_now();
        int tmo = -1;
        if (failed_at >= 0) {
            double left = GRACE_MS / 1000.0 - (sai_now() - failed_at);
            if (left <= 0) {
                for (unsigned i = 0; i < N; i++)
                    if (!w[i].done) {
                        kill(w[i].pid, SIGTERM);
                        w[i].done = true;
                        w[i].r.rc = SAI_ESTATE;
                        snprintf(w[i].r.err.msg, sizeof w[i].r.err.msg,
                                 "stopped: another worker had failed and this one had not ended %d s later",
                                 GRACE_MS / 1000);
                    }
                continue;
            }
            tmo = (int)(left * 1000.0) + 1;
        }
        if (poll(pf, np, tmo) < 0 && errno != EINTR) {
            rc = sai_error_set(err, SAI_EIO, "poll: %s", strerror(errno));
            goto out;
        }
        for (unsigned i = 0; i < N; i++)
            if (!w[i].done)
                drain(&w[i]);
    }

    /* The summary: every worker that failed, by rank. */
    char ranks[256] = "";
    size_t rl = 0;
    unsigned nfail = 0, first = N;
    for (unsigned i = 0; i < N; i++) {
        if (w[i].r.rc == 0)
            continue;
        nfail++;
        if (first == N)
            first = i;
        int k = snprintf(ranks + rl, sizeof ranks - rl, "%s%u", rl ? ", " : "", i);
        if (k > 0 && (size_t)k < sizeof ranks - rl)
            rl += (size_t)k;
        if (!o->quiet)
            fprintf(stderr, "secureai: worker %u: %s\n", i, w[i].r.err.msg[0] ? w[i].r.err.msg : sai_strerror(w[i].r.rc));
    }
    if (nfail > 0) {
        rc = sai_error_set(err, w[first].r.rc, "distributed run failed on worker%s %s of %u (worker %u: %s)",
                           nfail > 1 ? "s" : "", ranks, N, first,
                           w[first].r.err.msg[0] ? w[first].r.err.msg : sai_strerror(w[first].r.rc));
        goto out;
    }
    if (res != NULL)
        *res = w[0].r.res;
out:
    for (unsigned i = 0; w != NULL && i < N; i++) {
        if (w[i].pid > 0) {
            if (rc)
                kill(w[i].pid, SIGTERM);
            int st;
            while (waitpid(w[i].pid, &st, 0) < 0 && errno == EINTR)
                ;
        }
        if (w[i].fd >= 0)
            close(w[i].fd);
    }
    for (unsigned i = 0; lfd != NULL && i < N; i++)
        if (lfd[i] >= 0)
            close(lfd[i]);
    free(lfd);
    free(port);
    free(w);
    free(pf);
    return rc;
}

/* ---- one worker of a job spread over machines (`--rank R --peers T`) ------ */

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
}

int sai_pipeline_peers_parse(sai_pipeline_peers_t *out, const char *tmpl, sai_error_t *err)
{
    static const char mark[] = "{rank}";
    memset(out, 0, sizeof *out);
    const char *at = strstr(tmpl, mark), *colon = strrchr(tmpl, ':');
    if (at == NULL || strstr(at + 1, mark) != NULL)
        return sai_error_set(err, SAI_EINVAL, "--peers: the template must hold {rank} exactly once, "
                             "e.g. job-{rank}.job.ns.svc:7070");
    if (colon == NULL || colon < at)
        return sai_error_set(err, SAI_EINVAL, "--peers: the template must end in :PORT after the host");
    size_t np = (size_t)(at - tmpl), ns = (size_t)(colon - (at + sizeof mark - 1));
    if (np >= sizeof out->prefix || ns >= sizeof out->suffix)
        return sai_error_set(err, SAI_EINVAL, "--peers: the host part is too long");
    if (np + ns == 0)
        return sai_error_set(err, SAI_EINVAL, "--peers: the host part is only {rank}");
    for (const char *c = tmpl; c < colon; c++) {
        if (c == at) {
            c += sizeof mark - 2;
            continue;
        }
        if (!host_char(*c))
            return sai_error_set(err, SAI_EINVAL, "--peers: '%c' in the host part (letters, digits, "
                                 "'.', '-' and one {rank})", *c);
    }
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno || port < 1 || port > 65535)
        return sai_error_set(err, SAI_EINVAL, "--peers: '%s' is not a port (1..65535)", colon + 1);
    memcpy(out->prefix, tmpl, np);
    memcpy(out->suffix, at + sizeof mark - 1, ns);
    out->port = (uint16_t)port;
    return 0;
}

void sai_pipeline_peers_host(const sai_pipeline_peers_t *p, unsigned rank, char *host, size_t n)
{
    snprintf(host, n, "%s%u%s", p->prefix, rank, p->suffix);
}

int sai_pipeline__host_run_peer(const sai_pipeline_run_opts_t *o, unsigned world,
                                sai_pipeline_run_result_t *res, sai_error_t *err)
{
    if (o->rank >= world)
        return sai_error_set(err, SAI_EINVAL, "--rank %u: the job has %u workers (0..%u)", o->rank, world,
                             world - 1);
    int lfd = -1;
    uint16_t port = o->peers->port;
    /* Every address of this machine: the name in the template resolves to
     * it (a pod's own DNS record) but may not be bindable as such. */
    int rc = sai_dist_tcp_listen(&lfd, o->listen_addr ? o->listen_addr : "0.0.0.0", &port, err);
    if (rc) {
        sai_error_prefix(err, "worker %u's listener on port %u", o->rank, (unsigned)o->peers->port);
        return rc;
    }
    char next[600];
    sai_pipeline_peers_host(o->peers, (o->rank + 1) % world, next, sizeof next);
    /* dist.algorithm ps: the mesh dials every lower rank, each at its name
     * in the template, all on the template's port */
    char (*names)[600] = calloc(world, sizeof *names);
    const char **hosts = calloc(world, sizeof *hosts);
    uint16_t *ports = calloc(world, sizeof *ports);
    if (names == NULL || hosts == NULL || ports == NULL) {
        close(lfd);
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    for (unsigned q = 0; q < world; q++) {
        sai_pipeline_peers_host(o->peers, q, names[q], sizeof names[q]);
        hosts[q] = names[q];
        ports[q] = o->peers->port;
    }
    sai_host_dist_t hd = {.rank = o->rank, .world = world, .listen_fd = lfd, .next_host = next,
                          .next_port = o->peers->port, .timeout_ms = PEER_TIMEOUT_MS,
                          .peer_hosts = hosts, .peer_ports = ports};
    rc = sai_pipeline__host_run_worker(o, &hd, res, err);
out:
    free(names);
    free(hosts);
    free(ports);
    return rc;
}

int sai_pipeline__host_mesh_connect(const sai_host_dist_t *hd, int listen_fd, int *fds, size_t *n,
                                    sai_error_t *err)
{
    *n = 0;
    int *all = hd->world >= 2 && hd->world <= SAI_CHAN_MAX_FDS ? malloc(hd->world * sizeof *all) : NULL;
    if (all == NULL) {
        if (listen_fd >= 0)
            close(listen_fd);
        return sai_error_set(err, SAI_EINVAL, "no mesh of %u workers to form", hd->world);
    }
    int rc = sai_dist_tcp_mesh_connect(all, hd->rank, hd->world, listen_fd, hd->peer_hosts, hd->peer_ports,
                                       hd->timeout_ms, err);
    for (uint32_t q = 0; rc == 0 && q < hd->world; q++)
        if (q != hd->rank)
            fds[(*n)++] = all[q];
    free(all);
    return rc;
}

/* Started by an MPI launcher? (Open MPI, and PMI / PMIx for the others.) */
static bool under_mpi_launcher(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]) != NULL)
            return true;
    return false;
}

int sai_pipeline__host_run_mpi(const sai_pipeline_run_opts_t *o, sai_pipeline_run_result_t *res, sai_error_t *err)
{
    sai_pipeline_spec_t *spec = NULL;
    sai_dist_relay_t *relay = NULL;
    int fds[2] = {-1, -1};
    uint32_t rank = 0, world = 0;
    int rc = sai_pipeline_spec_load(&spec, o->spec_path, err);
    if (rc)
        goto out;
    unsigned want = spec->dist.workers;
    if (strcmp(spec->dist.algorithm, "ps") == 0) {
        /* The relay plugin carries two streams per rank (the ring's); the
         * mesh would need one per peer. */
        rc = sai_error_set(err, SAI_EUNSUPP, "dist.algorithm ps runs over TCP only (secureai run --workers %u, or "
                           "--rank/--peers): under mpirun the relay carries the ring's two streams, not a stream "
                           "per peer; use dist.algorithm: ring with dist.transport: mpi", want);
        goto out;
    }
    if (!under_mpi_launcher()) {
        rc = sai_error_set(err, SAI_EINVAL, "the spec's dist.transport is mpi: start it with `mpirun -np %u "
                           "secureai run SPEC` (one host and enclave per rank), or set dist.transport: tcp and "
                           "run it here with --workers %u", want, want);
        goto out;
    }
    if ((rc = sai_dist_mpi_relay_open(&relay, NULL, &rank, &world, fds, err))) {
        sai_error_prefix(err, "dist.transport mpi");
        goto out;
    }
    if (world != want) {
        rc = sai_error_set(err, SAI_EINVAL, "mpirun started %u ranks; the spec's dist.workers is %u (measured: "
                           "the enclaves hold the host to it)", world, want);
        goto out;
    }
    sai_host_dist_t hd = {.rank = rank, .world = world, .listen_fd = -1, .relayed = true,
                          .streams = {fds[0], fds[1]}, .timeout_ms = RING_TIMEOUT_MS};
    fds[0] = fds[1] = -1;   /* taken by the worker's host */
    rc = sai_pipeline__host_run_worker(o, &hd, res, err);
    if (rc)
        sai_error_prefix(err, "worker %u of %u", rank, world);
    if (res != NULL) {
        res->dist_rank = rank;
        res->dist_world = world;
    }
out:
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (relay != NULL) {
        /* The enclave has ended and closed its ends; once the neighbours'
         * streams have ended too, the relay finalises MPI. A failed worker
         * waits less: its peers fail at once on the closed streams. */
        sai_error_t rerr = {0};
        int rrc = sai_dist_relay_close(relay, rc ? 2000 : RELAY_DRAIN_MS, &rerr);
        if (rc == 0 && rrc != 0) {
            *err = rerr;
            rc = rrc;
        }
    }
    sai_pipeline_spec_free(spec);
    return rc;
}
