/*
 * test_dist_ps.c — the parameter-server mode over the TCP mesh between
 * forked workers on loopback (docs/distributed.md, "Parameter-server
 * mode"): the all-reduce equals the sum in rank order 0..N-1 divided by N,
 * bit for bit, on every worker and on a repeat, for N = 2, 3, 4 and S = 1,
 * 2 servers (and for N = 2 it equals the ring's bits); broadcast on the
 * mesh copies the root's bytes; a worker without the group secret cannot
 * join; a proxy on one mesh link that flips, replays, reorders or rewrites
 * the job of a frame makes the step fail with the peer and the step named;
 * a killed or hung worker fails the step on every other worker within the
 * deadline.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dist/dist_testutil.h"

/* The documented PS order: every value summed from worker 0 up, then / N
 * (independent of S and of the shard bounds). */
static void ps_reference(float *out, size_t n, int N)
{
    for (size_t x = 0; x < n; x++) {
        float acc = dt_input(0, x);
        for (int r = 1; r < N; r++)
            acc = acc + dt_input(r, x);
        out[x] = acc / (float)N;
    }
}

/* Join the mesh: dial lower ranks at ports (run->port, or a proxy's). */
static int ps_join(dt_run *run, int rank, sai_dist_cfg_t *cfg, const uint16_t *ports,
                   sai_dist_comm_t **c, sai_error_t *err)
{
    int fd = run->lfd[rank];
    run->lfd[rank] = -1;
    cfg->algorithm = SAI_DIST_PS;
    return sai_dist_comm_mesh_tcp(c, cfg, fd, NULL, ports ? ports : run->port, err);
}

typedef struct ps_arg {
    size_t   n, chunk;
    uint32_t servers;
    int      mode;       /* 0 plain; 1 kill rank 2 at step 1; 2 hang rank 2 at step 1 */
} ps_arg;

static int ps_worker(dt_run *run, int rank, sai_dist_cfg_t *cfg, dt_result *res, void *argp)
{
    ps_arg *a = argp;
    sai_error_t err = {0};
    sai_dist_comm_t *c = NULL;
    int rc;
    cfg->chunk_bytes = a->chunk;
    cfg->servers = a->servers;
    if ((rc = ps_join(run, rank, cfg, NULL, &c, &err)))
        goto out;
    rc = dt_allreduce_twice(c, rank, a->n, a->mode, res, &err);
out:
    if (rc)
        snprintf(res->msg, sizeof res->msg, "%s", err.msg);
    sai_dist_comm_free(c);
    return rc;
}

static void run_ps(int N, uint32_t S, size_t n, size_t chunk)
{
    dt_run run;
    ps_arg a = {.n = n, .chunk = chunk, .servers = S};
    dt_start(&run, N, n * sizeof(float) + 4, ps_worker, &a, 20000);
    assert_int_equal(dt_wait(&run), 0);
    float *ref = malloc((n + 1) * sizeof *ref), *ring = malloc((n + 1) * sizeof *ring);
    ps_reference(ref, n, N);
    dt_reference(ring, n, N);
    for (int r = 0; r < N; r++) {
        dt_result *res = dt_res(&run, r);
        if (res->rc != 0)
            fail_msg("N=%d S=%u n=%zu: worker %d: %s", N, S, n, r, res->msg);
        assert_int_equal(res->out_len, n * sizeof(float));
        if (memcmp(res->out, ref, n * sizeof(float)) != 0)
            fail_msg("N=%d S=%u n=%zu: worker %d differs from the rank-order average", N, S, n,
                     r);
    }
    /* two workers: g0 + g1 is the ring's sum too, so the same bits */
    if (N == 2 && memcmp(ref, ring, n * sizeof(float)) != 0)
        fail_msg("N=2: the PS average differs from the ring's");
    free(ring);
    free(ref);
    dt_free(&run);
}

static void test_ps_exact(void **state)
{
    (void)state;
    for (int N = 2; N <= 4; N++)
        for (uint32_t S = 1; S <= 2; S++) {
            run_ps(N, S, 20011, 4096);   /* several chunks per shard: pipelined */
            run_ps(N, S, 1, 64);         /* fewer values than servers: empty shards */
        }
    run_ps(4, 4, 200000, 0);             /* S = N, the default chunk */
}

/* The test can fail: from N = 3 on, the rank order and the ring's order
 * differ somewhere. */
static void test_ps_order_differs_from_ring(void **state)
{
    (void)state;
    size_t n = 20011, diff = 0;
    float *ref = malloc(n * sizeof *ref), *ring = malloc(n * sizeof *ring);
    ps_reference(ref, n, 3);
    dt_reference(ring, n, 3);
    for (size_t x = 0; x < n; x++)
        diff += ref[x] != ring[x];
    assert_true(diff > 0);
    free(ref);
    free(ring);
}

/* the mesh with the default servers, as the broadcast test wants it */
static int mesh_join(dt_run *run, int rank, const sai_dist_cfg_t *cfg, sai_dist_comm_t **c, sai_error_t *err)
{
    sai_dist_cfg_t cf = *cfg;
    return ps_join(run, rank, &cf, NULL, c, err);
}

static void test_mesh_broadcast(void **state)
{
    (void)state;
    char why[2 * SAI_ERROR_MAX];
    if (dt_bcast_case(mesh_join, why, sizeof why))
        fail_msg("%s", why);
}

/* A worker without the group secret fails key confirmation on the mesh too. */
static int secret_worker(dt_run *run, int rank, sai_dist_cfg_t *cfg, dt_result *res, void *argp)
{
    static const uint8_t other[SAI_DIST_SECRET_LEN] = "not-the-group-secret-of-the-job";
    sai_error_t err = {0};
    sai_dist_comm_t *c = NULL;
    (void)argp;
    if (rank == 2)
        cfg->group_secret = other;
    int rc = ps_join(run, rank, cfg, NULL, &c, &err);
    if (rc)
        snprintf(res->msg, sizeof res->msg, "%s", err.msg);
    sai_dist_comm_free(c);
    return rc;
}

static void test_mesh_join_needs_secret(void **state)
{
    (void)state;
    dt_run run;
    dt_start(&run, 3, 0, secret_worker, NULL, 3000);
    assert_int_equal(dt_wait(&run), 0);
    /* worker 0 meets worker 2 first (pairs in order) and refuses it; worker
     * 2 then gives up, so worker 1 sees its stream to worker 2 end */
    dt_result *r0 = dt_res(&run, 0), *r1 = dt_res(&run, 1);
    if (r0->rc == 0 || strstr(r0->msg, "worker 2 failed key confirmation") == NULL)
        fail_msg("worker 0: \"%s\"", r0->msg);
    if (r1->rc == 0 || strstr(r1->msg, "worker 2") == NULL)
        fail_msg("worker 1: \"%s\"", r1->msg);
    assert_int_not_equal(dt_res(&run, 2)->rc, 0);
    dt_free(&run);
}

/* ---- faults ------------------------------------------------------------------ */

static void fault_case(int mode, int timeout_ms)
{
    dt_run run;
    ps_arg a = {.n = 300000, .chunk = 0, .servers = 2, .mode = mode};
    dt_start(&run, 4, a.n * sizeof(float), ps_worker, &a, timeout_ms);
    for (int r = 0; r < 4; r++) {
        if (r == 2)
            continue;
        int st;
        assert_int_equal(waitpid(run.pid[r], &st, 0), run.pid[r]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        run.pid[r] = 0;
    }
    kill(run.pid[2], SIGKILL);
    assert_int_equal(dt_wait(&run), 1);   /* worker 2, killed */
    int named = 0;
    for (int r = 0; r < 4; r++) {
        if (r == 2)
            continue;
        dt_result *res = dt_res(&run, r);
        named += strstr(res->msg, "worker 2") != NULL;
        if (getenv("SAI_DIST_TEST_VERBOSE"))
            fprintf(stderr, "  worker %d after %.2f s: %s\n", r, res->seconds, res->msg);
        if (res->rc == 0)
            fail_msg("mode %d: worker %d completed a step with a worker missing", mode, r);
        if (strstr(res->msg, "step 1") == NULL)
            fail_msg("mode %d: worker %d: \"%s\" does not name step 1", mode, r, res->msg);
        if (res->seconds > timeout_ms / 1000.0 + 1.0)
            fail_msg("mode %d: worker %d took %.2f s (deadline %d ms): %s", mode, r,
                     res->seconds, timeout_ms, res->msg);
    }
    /* the first server to see worker 2's streams close (killed) or its
     * deadline pass (hung) names worker 2; it then fails and closes its own
     * streams, so the others may see that first */
    if (named == 0)
        fail_msg("mode %d: no worker named worker 2", mode);
    dt_free(&run);
}

static void test_killed_worker(void **state)
{
    (void)state;
    fault_case(1, 3000);
}

static void test_hung_worker(void **state)
{
    (void)state;
    fault_case(2, 1500);
}

/* ---- an attacker on one mesh link --------------------------------------------
 * Worker 1 dials worker 0 through a proxy, which forwards everything and
 * changes the stream from worker 1 after the handshake: worker 1 (the
 * responder) sends the preamble (8), hello_r (137, no evidence) and
 * finish_r (36), then its contribution frames to server 0: 2048 floats,
 * S = 1, 1 KiB chunks, so 8 frames of 1024 + 64 bytes. */
#define WIRE_HS    (8 + 137 + 36)

static int wire_worker(dt_run *run, int rank, sai_dist_cfg_t *cfg, dt_result *res, void *argp)
{
    dt_wire *w = argp;
    sai_error_t err = {0};
    sai_dist_comm_t *c = NULL;
    uint16_t ports[2] = {w->to_port, run->port[1]};   /* worker 1 dials the proxy */
    int rc;
    cfg->chunk_bytes = 1024;
    cfg->servers = 1;
    rc = ps_join(run, rank, cfg, ports, &c, &err);
    return dt_wire_step(c, rc, rank, res, &err);
}

static void wire_case(int mode, const char *want)
{
    char why[2 * SAI_ERROR_MAX];
    if (dt_wire_case(wire_worker, 1, mode, WIRE_HS, want, why, sizeof why))
        fail_msg("mode %d: %s", mode, why);
}

static void test_wire_attacks(void **state)
{
    (void)state;
    wire_case(0, "tag does not verify");
    wire_case(1, "chunk 0 (replayed)");
    wire_case(2, "chunk 1 (reordered, or a frame was dropped)");
    wire_case(3, "belongs to another job");
}

/* The algorithm needs its communicator: a ring refuses ps, a mesh ring. */
static void test_algorithm_needs_its_communicator(void **state)
{
    (void)state;
    sai_dist_comm_t *c = NULL;
    sai_error_t err = {0};
    sai_dist_cfg_t cfg = {.group_secret = dt_secret, .rank = 0, .world = 2};
    int fds[2] = {-1, -1};
    assert_int_equal(sai_dist_comm_mesh_stream(&c, &cfg, fds, &err), SAI_EINVAL);
    assert_non_null(strstr(err.msg, "ring runs over"));
    cfg.algorithm = SAI_DIST_PS;
    cfg.servers = 3;
    assert_int_equal(sai_dist_comm_mesh_stream(&c, &cfg, fds, &err), SAI_EINVAL);
    assert_non_null(strstr(err.msg, "3 parameter servers for 2 workers"));
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ps_exact),
        cmocka_unit_test(test_ps_order_differs_from_ring),
        cmocka_unit_test(test_mesh_broadcast),
        cmocka_unit_test(test_mesh_join_needs_secret),
        cmocka_unit_test(test_killed_worker),
        cmocka_unit_test(test_hung_worker),
        cmocka_unit_test(test_wire_attacks),
        cmocka_unit_test(test_algorithm_needs_its_communicator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
