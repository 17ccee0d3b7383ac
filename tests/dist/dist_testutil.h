/*
 * dist_testutil.h — fork N workers over loopback for the dist tests.
 *
 * The parent binds one listening socket per worker on 127.0.0.1 (port 0)
 * before forking, so every worker's address is known and no port can
 * collide; worker r gets its own listener and connects to r+1's port.
 * Results go through one MAP_SHARED region, so a worker that fails writes
 * its error sentence where the parent can assert on it.
 */
#ifndef SAI_DIST_TESTUTIL_H
#define SAI_DIST_TESTUTIL_H

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secureai/dist.h"
#include "secureai/util.h"

#define DT_MAX 8

/* Worker r's input: floats of varied magnitude, so the order of the
 * additions shows in the last bits. */
static inline float dt_input(int r, size_t i)
{
    uint64_t z = (uint64_t)r * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull + 1;
    z = (z ^ (z >> 31)) * 0x94D049BB133111EBull;
    z ^= z >> 29;
    float u = (float)(z >> 40) / (float)(1u << 24) - 0.5f;
    return ldexpf(u, (int)((z >> 8) % 17) - 8);
}

/* The documented order: segment s summed from worker s round the ring. */
static inline void dt_reference(float *out, size_t n, int N)
{
    for (int s = 0; s < N; s++) {
        size_t lo = n * (size_t)s / (size_t)N, hi = n * (size_t)(s + 1) / (size_t)N;
        for (size_t x = lo; x < hi; x++) {
            float acc = dt_input(s, x);
            for (int j = 1; j < N; j++)
                acc = acc + dt_input((s + j) % N, x);
            out[x] = acc / (float)N;
        }
    }
}


typedef struct dt_result {
    int    rc;
    char   msg[SAI_ERROR_MAX];
    double seconds;       /* of the part the worker function times */
    size_t out_len;
    uint8_t out[];        /* worker output, out_cap bytes per worker */
} dt_result;

typedef struct dt_run {
    int      n;
    size_t   out_cap;
    uint8_t *shm;
    size_t   slot;
    pid_t    pid[DT_MAX];
    int      lfd[DT_MAX];
    uint16_t port[DT_MAX];
} dt_run;

static inline dt_result *dt_res(dt_run *r, int i)
{
    return (dt_result *)(void *)(r->shm + r->slot * (size_t)i);
}

/* The worker body: cfg is filled (rank, world, job, secret, timeout); it
 * may change cfg, then calls dt_connect. Returns 0 or fills res. */
typedef int (*dt_fn)(dt_run *run, int rank, sai_dist_cfg_t *cfg, dt_result *res, void *arg);

static const uint8_t dt_secret[SAI_DIST_SECRET_LEN] = "group-secret-of-the-test-job-01";

/* Non-zero: workers join as an enclave does, over two sockets its host
 * connected (sai_dist_tcp_ring_connect, then sai_dist_comm_stream). */
static int dt_relayed;

static inline int dt_join(int lfd, const char *host, uint16_t port, const sai_dist_cfg_t *cfg,
                          sai_dist_comm_t **c, sai_error_t *err)
{
    if (!dt_relayed || cfg->world < 2)
        return sai_dist_comm_tcp(c, cfg, lfd, host, port, err);
    int fds[2];
    int rc = sai_dist_tcp_ring_connect(fds, cfg->rank, cfg->world, lfd, host, port,
                                       cfg->timeout_ms, err);
    return rc ? rc : sai_dist_comm_stream(c, cfg, fds[0], fds[1], err);
}

static inline int dt_connect(dt_run *run, int rank, const sai_dist_cfg_t *cfg,
                             sai_dist_comm_t **c, sai_error_t *err)
{
    int next = (rank + 1) % run->n;
    int fd = run->lfd[rank];
    run->lfd[rank] = -1;
    return dt_join(fd, "127.0.0.1", run->port[next], cfg, c, err);
}

/* Start n workers; wait for all of them unless keep_pids (then the caller
 * waits with dt_wait). */
static inline void dt_start(dt_run *run, int n, size_t out_cap, dt_fn fn, void *arg,
                            int timeout_ms)
{
    memset(run, 0, sizeof *run);
    run->n = n;
    run->out_cap = out_cap;
    run->slot = (sizeof(dt_result) + out_cap + 63) & ~(size_t)63;
    run->shm = mmap(NULL, run->slot * (size_t)n, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (run->shm == MAP_FAILED) {
        perror("mmap");
        abort();
    }
    for (int i = 0; i < n; i++) {
        sai_error_t err = {0};
        run->port[i] = 0;
        if (sai_dist_tcp_listen(&run->lfd[i], "127.0.0.1", &run->port[i], &err) != 0) {
            fprintf(stderr, "listen: %s\n", err.msg);
            abort();
        }
    }
    fflush(NULL);
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p < 0) {
            perror("fork");
            abort();
        }
        if (p == 0) {
            for (int j = 0; j < n; j++)
                if (j != i)
                    close(run->lfd[j]);
            sai_dist_cfg_t cfg;
            memset(&cfg, 0, sizeof cfg);
            memcpy(cfg.job_id, "test-job-000001", SAI_DIST_JOB_ID_LEN);
            cfg.group_secret = dt_secret;
            cfg.rank = (uint32_t)i;
            cfg.world = (uint32_t)n;
            cfg.timeout_ms = timeout_ms;
            dt_result *res = dt_res(run, i);
            res->rc = fn(run, i, &cfg, res, arg);
            _exit(0);
        }
        run->pid[i] = p;
    }
    for (int i = 0; i < n; i++)
        close(run->lfd[i]);
}

/* Wait for every worker still running; returns how many of those did not
 * exit normally (a sanitizer abort, a crash), so tests can assert 0. */
static inline int dt_wait(dt_run *run)
{
    int bad = 0;
    for (int i = 0; i < run->n; i++) {
        int st;
        if (run->pid[i] > 0 && waitpid(run->pid[i], &st, 0) == run->pid[i])
            bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
        run->pid[i] = 0;
    }
    return bad;
}

static inline void dt_free(dt_run *run)
{
    munmap(run->shm, run->slot * (size_t)run->n);
}

/* Broadcast of len bytes from root over 4 workers joined by join (the
 * ring's dt_connect or the mesh's): every worker must end with the root's
 * bytes (i * 7 + 3). 0, or why. */
typedef int (*dt_join_fn)(dt_run *run, int rank, const sai_dist_cfg_t *cfg, sai_dist_comm_t **c,
                          sai_error_t *err);
typedef struct dt_bcast { size_t len; uint32_t root; dt_join_fn join; } dt_bcast;

static inline int dt_bcast_worker(dt_run *run, int rank, sai_dist_cfg_t *cfg, dt_result *res, void *argp)
{
    const dt_bcast *a = argp;
    sai_error_t err = {0};
    sai_dist_comm_t *c = NULL;
    cfg->chunk_bytes = 1024;
    for (size_t i = 0; i < a->len; i++)
        res->out[i] = (uint8_t)((unsigned)rank == a->root ? i * 7 + 3 : 0);
    int rc;
    if ((rc = a->join(run, rank, cfg, &c, &err)) == 0 && (rc = sai_dist_step_begin(c, 0, &err)) == 0)
        rc = sai_dist_broadcast(c, a->root, res->out, a->len, &err);
    res->out_len = a->len;
    if (rc)
        snprintf(res->msg, sizeof res->msg, "%s", err.msg);
    sai_dist_comm_free(c);
    return rc;
}

static inline int dt_bcast_case(dt_join_fn join, char *why, size_t why_len)
{
    dt_run run;
    dt_bcast a = {.len = 10007, .root = 2, .join = join};
    int rc = 0;
    dt_start(&run, 4, a.len, dt_bcast_worker, &a, 20000);
    if (dt_wait(&run) != 0) {
        snprintf(why, why_len, "a worker did not finish");
        rc = -1;
    }
    for (int r = 0; r < 4 && rc == 0; r++) {
        const dt_result *res = dt_res(&run, r);
        if (res->rc) {
            snprintf(why, why_len, "worker %d: %s", r, res->msg);
            rc = -1;
        }
        for (size_t i = 0; i < a.len && rc == 0; i++)
            if (res->out[i] != (uint8_t)(i * 7 + 3)) {
                snprintf(why, why_len, "worker %d: byte %zu differs", r, i);
                rc = -1;
            }
    }
    dt_free(&run);
    return rc;
}

/* An all-reduce worker's steps once joined: two all-reduces of n inputs
 * (dt_input), the second must give the first's bits, which go to res->out;
 * mode 1 kills worker 2 at step 1 (SIGKILL), mode 2 hangs it there (the
 * parent kills it). res->seconds is the last all-reduce's time. */
static inline int dt_allreduce_twice(sai_dist_comm_t *c, int rank, size_t n, int mode, dt_result *res,
                                     sai_error_t *err)
{
    float *v = malloc((n + 1) * sizeof *v), *first = (float *)(void *)res->out;
    int rc = 0;
    if (v == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    for (uint64_t step = 0; step < 2 && rc == 0; step++) {
        for (size_t i = 0; i < n; i++)
            v[i] = dt_input(rank, i);
        if ((rc = sai_dist_step_begin(c, step, err)))
            break;
        if (step == 1 && rank == 2 && mode == 1)
            raise(SIGKILL);
        if (step == 1 && rank == 2 && mode == 2)
            sleep(60);
        double t0 = sai_now();
        rc = sai_dist_allreduce_avg(c, v, n, err);
        res->seconds = sai_now() - t0;
        if (rc)
            break;
        if (step == 0) {
            memcpy(first, v, n * sizeof *v);
            res->out_len = n * sizeof *v;
        } else if (memcmp(first, v, n * sizeof *v) != 0) {
            rc = sai_error_set(err, -100, "the repeat gave other bits");
        }
    }
    free(v);
    return rc;
}

/* A man in the middle for the wire-attack tests: it accepts the dialing
 * worker on lfd, connects to to_port, passes the handshake (the first hs
 * bytes the dialer sends) and everything the other way untouched, and then
 * attacks the dialer's frames (each DT_WIRE_FRAME bytes: 1 KiB payloads).
 * mode 0 tamper, 1 replay, 2 reorder, 3 another job's header. */
typedef struct dt_wire { int lfd; uint16_t to_port; int mode; size_t hs; } dt_wire;

#define DT_WIRE_FRAME (1024 + SAI_DIST_FRAME_OVERHEAD)

static inline int dt_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static inline void dt_proxy_main(const dt_wire *w)
{
    int c = accept(w->lfd, NULL, NULL);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(w->to_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (c < 0 || s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
        _exit(1);
    static uint8_t held[DT_WIRE_FRAME];
    size_t off = 0;   /* bytes read so far from the dialer */
    for (;;) {
        struct pollfd pf[2] = {{.fd = c, .events = POLLIN}, {.fd = s, .events = POLLIN}};
        if (poll(pf, 2, 10000) <= 0)
            _exit(0);
        uint8_t buf[4096];
        if (pf[1].revents) {   /* the other way: untouched */
            ssize_t k = read(s, buf, sizeof buf);
            if (k <= 0 || dt_write_all(c, buf, (size_t)k))
                _exit(0);
        }
        if (!pf[0].revents)
            continue;
        ssize_t k = read(c, buf, sizeof buf);
        if (k <= 0)
            _exit(0);
        for (ssize_t j = 0; j < k; j++, off++) {
            uint8_t b = buf[j];
            size_t f0 = w->hs, f1 = w->hs + DT_WIRE_FRAME, f2 = w->hs + 2 * DT_WIRE_FRAME;
            if (w->mode == 0 && off == f0 + SAI_DIST_FRAME_HDR_LEN + 10)
                b ^= 0x04;
            if (w->mode == 3 && off == f0 + 8 + 3)   /* a byte of the header's job id */
                b ^= 0x01;
            if (w->mode == 2 && off >= f0 && off < f1) {
                held[off - f0] = b;   /* frame 0 waits */
                continue;
            }
            if (dt_write_all(s, &b, 1))
                _exit(0);
            if (w->mode == 1 && off >= f0 && off < f1)
                held[off - f0] = b;
            if ((w->mode == 1 && off + 1 == f1) || (w->mode == 2 && off + 1 == f2))
                if (dt_write_all(s, held, sizeof held))   /* frame 0 again / late */
                    _exit(0);
        }
    }
}

/* The wire-attack workers' step once joined (rc and err: the join's
 * result): one all-reduce of 2048 inputs at step 0; the error text into
 * res. Frees c. */
static inline int dt_wire_step(sai_dist_comm_t *c, int rc, int rank, dt_result *res,
                               sai_error_t *err)
{
    float v[2048];
    for (size_t i = 0; i < 2048; i++)
        v[i] = dt_input(rank, i);
    if (rc == 0 && (rc = sai_dist_step_begin(c, 0, err)) == 0)
        rc = sai_dist_allreduce_avg(c, v, 2048, err);
    if (rc)
        snprintf(res->msg, sizeof res->msg, "%s", err->msg);
    sai_dist_comm_free(c);
    return rc;
}

/* One wire attack: two workers, worker `dialer`'s connection to the other
 * through dt_proxy_main in `mode`; fn is the worker body, which gets the
 * dt_wire whose to_port is the proxy's (the dialer connects there). 0 if
 * the other worker refused the step with `want`, naming the dialer and step
 * 0, and the dialer's step failed too; else why (the workers' words). */
static inline int dt_wire_case(dt_fn fn, int dialer, int mode, size_t hs, const char *want, char *why,
                               size_t why_len)
{
    sai_error_t err = {0};
    dt_wire proxy = {.mode = mode, .hs = hs};    /* listens on lfd, forwards to the receiver */
    dt_wire worker = {.mode = mode, .hs = hs};   /* the dialer dials the proxy's port */
    int recv = 1 - dialer, rc = 0;
    if (sai_dist_tcp_listen(&proxy.lfd, "127.0.0.1", &worker.to_port, &err)) {
        snprintf(why, why_len, "proxy: %s", err.msg);
        return -1;
    }
    dt_run run;
    dt_start(&run, 2, 0, fn, &worker, 3000);
    proxy.to_port = run.port[recv];
    pid_t pp = fork();
    if (pp == 0) {
        dt_proxy_main(&proxy);
        _exit(0);
    }
    close(proxy.lfd);
    int waited = dt_wait(&run);
    kill(pp, SIGKILL);
    waitpid(pp, NULL, 0);
    const dt_result *r = dt_res(&run, recv), *d = dt_res(&run, dialer);
    char name[32];
    const char *stepn = "step 0";
    snprintf(name, sizeof name, "worker %d", dialer);
    if (getenv("SAI_DIST_TEST_VERBOSE"))
        fprintf(stderr, "  worker %d: %s\n  worker %d: %s\n", recv, r->msg, dialer, d->msg);
    if (waited != 0 || r->rc == 0 || strstr(r->msg, want) == NULL || strstr(r->msg, name) == NULL ||
        strstr(r->msg, stepn) == NULL || d->rc == 0) {
        snprintf(why, why_len, "worker %d said \"%s\" (worker %d: rc %d), wanted \"%s\" naming %s and %s",
                 recv, r->msg, dialer, d->rc, want, name, stepn);
        rc = -1;
    }
    dt_free(&run);
    return rc;
}

#endif
