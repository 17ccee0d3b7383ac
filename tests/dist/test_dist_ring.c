/*
 * test_dist_ring.c — the TCP ring between forked workers on loopback
 * (docs/distributed.md): the all-reduce equals the average of every
 * worker's vector summed in the documented fixed order, bit for bit, on
 * every worker and on a repeat; broadcast copies the root's bytes; a
 * killed or hung worker fails the step on every other worker within the
 * deadline; a worker without the group secret, of another job, or with
 * evidence the policy refuses (another measurement, or evidence of another
 * handshake) cannot join; a proxy on the wire that flips,
 * replays or reorders a frame makes the step fail with the peer and the
 * step named.
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

typedef struct ar_arg {
    size_t n, chunk;
    int    mode;          /* 0 plain; 1 kill rank 2 at step 1; 2 hang rank 2 at step 1 */
} ar_arg;

static int ar_worker(dt_run *run, int rank, sai_dist_cfg_t *cfg, dt_result *res, void *argp)
{
    ar_arg *a = argp;
    sai_error_t err = {0};
    sai_dist_comm_t *c = NULL;
    int rc;
    cfg->chunk_bytes = a->chunk;
    if ((rc = dt_connect(run, rank, cfg, &c, &err)))
        goto out;
    rc = dt_allreduce_twice(c, rank, a->n, a->mode, res, &err);
out:
    if (rc)
        snprintf(res->msg, sizeof res->msg, "%s", err.msg);
    sai_dist_comm_free(c);
    return rc;
}

static void run_allreduce(int N, size_t n, size_t chunk)
{
    dt_run run;
    ar_arg a = {.n = n, .chunk = chunk};
    dt_start(&run, N, n * sizeof(float) + 4, ar_worker, &a, 20000);
    assert_int_equal(dt_wait(&run), 0);
    float *ref = malloc((n + 1) * sizeof *ref);
    dt_reference(ref, n, N);
    for (int r = 0; r < N; r++) {
        dt_result *res = dt_res(&run, r);
        if (res->rc != 0)
            fail_msg("N=%d n=%zu: worker %d: %s", N, n, r, res->msg);
        assert_int_equal(res->out_len, n * sizeof(float));
        if (memcmp(res->out, ref, n * sizeof(float)) != 0)
            fail_msg("N=%d n=%zu: worker %d differs from the fixed-order average", N, n, r);
    }
    /* and the average is an average: close to the naive one */
    for (size_t x = 0; x < n; x += 97) {
        double s = 0;
        for (int r = 0; r < N; r++)
            s += dt_input(r, x);
        assert_true(fabs(s / N - ref[x]) <= 1e-6 * (1 + fabs(s)));
    }
    free(ref);
    dt_free(&run);
}

static void test_allreduce_exact(void **state)
{
    (void)state;
    run_allreduce(2, 100003, 4096);    /* many chunks per segment: pipelined */
    run_allreduce(3, 50001, 1024);
    run_allreduce(4, 3, 64);           /* fewer values than workers: empty chunks */
    run_allreduce(4, 200000, 0);       /* default chunk */
}

/* The test can fail: the naive order (worker 0 first) differs somewhere. */
static void test_order_matters(void **state)
{
    (void)state;
    size_t n = 50001, diff = 0;
    float *ref = malloc(n * sizeof *ref);
    dt_reference(ref, n, 4);
    for (size_t x = 0; x < n; x++) {
        float acc = dt_input(0, x);
        for (int j = 1; j < 4; j++)
            acc = acc + dt_input(j, x);
        diff += (acc / 4.0f) != ref[x];
    }
    assert_true(diff > 0);
    free(ref);
}

static void test_broadcast(void **state)
{
    (void)state;
    char why[2 * SAI_ERROR_MAX];
    if (dt_bcast_case(dt_connect, why, sizeof why))
        fail_msg("%s", why);
}

/* A worker killed (mode 1) or hung (mode 2) at step 1: every other worker
 * fails step 1 within the deadline, with an error naming the step. */
static void fault_case(int mode, int timeout_ms)
{
    dt_run run;
    ar_arg a = {.n = 300000, .chunk = 0, .mode = mode};
    dt_start(&run, 4, a.n * sizeof(float), ar_worker, &a, timeout_ms);
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
    for (int r = 0; r < 4; r++) {
        if (r == 2)
            continue;
        dt_result *res = dt_res(&run, r);
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

/* ---- membership ------------------------------------------------------------ */

/* 0 wrong secret, 1 other job, 2 other measurement, 3 evidence of another
 * handshake (replayed), 4 bound evidence, all honest */
typedef struct join_arg { int mode; } join_arg;

/* A stand-in TEE: evidence = measurement (13 bytes) || report data (64). */
static int fake_tee(void *ctx, const uint8_t rd[64], uint8_t **ev, size_t *len, sai_error_t *err)
{
    bool stale = ctx != NULL;
    if ((*ev = malloc(13 + 64)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    memcpy(*ev, "measurement-A", 13);
    if (stale)
        memset(*ev + 13, 0x42, 64);   /* what an earlier handshake's report said */
    else
        memcpy(*ev + 13, rd, 64);
    *len = 13 + 64;
    return 0;
}

static int require_a(void *ctx, uint32_t peer, const uint8_t *ev, size_t len,
                     const uint8_t rd[64], sai_error_t *err)
{
    bool bound = ctx != NULL;
    if (len < 13 || memcmp(ev, "measurement-A", 13) != 0)
        return sai_error_set(err, SAI_EPOLICY,
                             "launch measurement of worker %u not in the policy", peer);
    if (bound && (len != 13 + 64 || memcmp(ev + 13, rd, 64) != 0))
        return sai_error_set(err, SAI_EPOLICY,
                             "the report data does not bind this handshake");
    return 0;
}

static int join_worker(dt_run *run, int rank, sai_dist_cfg_t *cfg, dt_result *res, void *argp)
{
    join_arg *a = argp;
    static const uint8_t other[SAI_DIST_SECRET_LEN] = "not-the-group-secret-of-the-job";
    sai_error_t err = {0};
    sai_dist_comm_t *c = NULL;
    static int bound_marker, stale_marker;
    cfg->verify_peer = require_a;
    cfg->evidence = (const uint8_t *)"measurement-A";
    cfg->evidence_len = 13;
    if (a->mode >= 3) {
        cfg->verify_ctx = &bound_marker;
        cfg->get_evidence = fake_tee;
        if (rank == 1 && a->mode == 3)
            cfg->evidence_ctx = &stale_marker;
    }
    if (rank == 1) {
        if (a->mode == 0)
            cfg->group_secret = other;
        if (a->mode == 1)
            memcpy(cfg->job_id, "test-job-000002", SAI_DIST_JOB_ID_LEN);
        if (a->mode == 2)
            cfg->evidence = (const uint8_t *)"measurement-B";
    }
    int rc = dt_connect(run, rank, cfg, &c, &err);
    if (rc)
        snprintf(res->msg, sizeof res->msg, "%s", err.msg);
    sai_dist_comm_free(c);
    return rc;
}

static void join_case(int mode, const char *want)
{
    dt_run run;
    join_arg a = {mode};
    dt_start(&run, 2, 0, join_worker, &a, 1500);
    assert_int_equal(dt_wait(&run), 0);
    dt_result *res = dt_res(&run, 0);
    if (res->rc == 0)
        fail_msg("mode %d: worker 0 let worker 1 join", mode);
    if (strstr(res->msg, want) == NULL || strstr(res->msg, "worker 1") == NULL)
        fail_msg("mode %d: \"%s\" does not say \"%s\" about worker 1", mode, res->msg, want);
    if (getenv("SAI_DIST_TEST_VERBOSE")) fprintf(stderr, "  worker 0: %s\n", res->msg);
    assert_int_not_equal(dt_res(&run, 1)->rc, 0);
    dt_free(&run);
}

static void test_join_refusals(void **state)
{
    (void)state;
    join_case(0, "group secret");
    join_case(1, "another job");
    join_case(2, "not in the policy");
    join_case(3, "does not bind this handshake");
}

/* The same stand-in TEE with evidence bound to each handshake: both join. */
static void test_join_with_bound_evidence(void **state)
{
    (void)state;
    dt_run run;
    join_arg a = {4};
    dt_start(&run, 2, 0, join_worker, &a, 5000);
    assert_int_equal(dt_wait(&run), 0);
    for (int r = 0; r < 2; r++)
        if (dt_res(&run, r)->rc)
            fail_msg("worker %d: %s", r, dt_res(&run, r)->msg);
    dt_free(&run);
}

/* ---- an attacker on the wire ------------------------------------------------
 * Worker 0's connection to worker 1 goes through a proxy that forwards the
 * handshake untouched and then changes the frame stream: flips a ciphertext
 * byte, replays the first frame, or swaps the first two. 2048 floats and
 * 1 KiB chunks make every frame 1024 + 64 bytes; the handshake from the
 * connecting side is hello_i (137 bytes, no evidence) + finish_i (36). */
#define WIRE_HS    (137 + 36)

static int wire_worker(dt_run *run, int rank, sai_dist_cfg_t *cfg, dt_result *res, void *argp)
{
    dt_wire *w = argp;
    sai_error_t err = {0};
    sai_dist_comm_t *c = NULL;
    int rc;
    cfg->chunk_bytes = 1024;
    if (rank == 0) {   /* through the proxy */
        int fd = run->lfd[0];
        run->lfd[0] = -1;
        rc = dt_join(fd, "127.0.0.1", w->to_port, cfg, &c, &err);
    } else {
        rc = dt_connect(run, rank, cfg, &c, &err);
    }
    return dt_wire_step(c, rc, rank, res, &err);
}

static void wire_case(int mode, const char *want)
{
    char why[2 * SAI_ERROR_MAX];
    if (dt_wire_case(wire_worker, 0, mode, WIRE_HS, want, why, sizeof why))
        fail_msg("mode %d: %s", mode, why);
}

static void test_wire_attacks(void **state)
{
    (void)state;
    wire_case(0, "tag does not verify");
    wire_case(1, "chunk 0 (replayed)");
    wire_case(2, "chunk 1 (reordered, or a frame was dropped)");
}

/* The same tests with the ring formed by each worker's host and handed to
 * the worker as two connected streams (the enclave's path: it never opens
 * a socket). */
static int relayed_on(void **state)
{
    (void)state;
    dt_relayed = 1;
    return 0;
}

static int relayed_off(void **state)
{
    (void)state;
    dt_relayed = 0;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allreduce_exact),
        cmocka_unit_test(test_order_matters),
        cmocka_unit_test(test_broadcast),
        cmocka_unit_test(test_killed_worker),
        cmocka_unit_test(test_hung_worker),
        cmocka_unit_test(test_join_refusals),
        cmocka_unit_test(test_join_with_bound_evidence),
        cmocka_unit_test(test_wire_attacks),
        cmocka_unit_test_setup_teardown(test_allreduce_exact, relayed_on, relayed_off),
        cmocka_unit_test_setup_teardown(test_broadcast, relayed_on, relayed_off),
        cmocka_unit_test_setup_teardown(test_killed_worker, relayed_on, relayed_off),
        cmocka_unit_test_setup_teardown(test_hung_worker, relayed_on, relayed_off),
        cmocka_unit_test_setup_teardown(test_wire_attacks, relayed_on, relayed_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
