/* test_kbs_counter.c — a job's monotonic counter on the KBS
 * (src/kbs/counter.c, docs/distributed.md "Resume"), over the real TLS
 * server, client and sim TEE: compare-and-increment moves it by one only
 * from the value the caller names, a stale value is refused naming both
 * values, it is governed by the release policy of the resource of its
 * name (another measurement, or no such resource, is refused), it
 * survives a restart, and every increment is audited. Over a stream
 * someone else connected (an enclave's host, after the enclave's
 * no-network filter) the client checks the pin as over its own socket.
 * Worker 0's checkpoints (src/pipeline/dist_ckpt.c) move the counter
 * before they are sealed and write nothing when it cannot move. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include "kbs/kbs_test.h"
#include "pipeline/pipeline_internal.h"

static test_kbs g_kbs;
static char g_root[256], g_policy_path[400], g_meas_hex[97];
static sai_kbs_attester_t g_att;

static void tweak(sai_kbs_config_t *c)
{
    snprintf(c->attestation_policy, sizeof c->attestation_policy, "%s", g_policy_path);
}

static int setup(void **state)
{
    (void)state;
    char dir[400];
    signal(SIGPIPE, SIG_IGN);
    if (test_sim_world(g_root, sizeof g_root, g_policy_path, sizeof g_policy_path, g_meas_hex, &g_att) != 0)
        return -1;
    snprintf(dir, sizeof dir, "%s/kbs", g_root);
    return test_kbs_start_dir(&g_kbs, dir, tweak);
}

static int teardown(void **state)
{
    (void)state;
    test_kbs_stop(&g_kbs, false);
    sai_kbs_attester_close(&g_att);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

static void put(sai_kbs_client_t *c, const char *name, const char *meas)
{
    char pol[400];
    snprintf(pol, sizeof pol, "{\"tee\":[\"sim\"],\"allow_simulated\":true,\"measurements\":[\"%s\"]}", meas);
    assert_int_equal(test_put(&g_kbs, c, name, "a-group-secret-of-32-bytes-long!", pol), 201);
}

static void test_compare_and_increment(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    sai_error_t err = {0};
    uint64_t v = 99, e;
    put(c, "job1/dist/group", g_meas_hex);
    /* a new counter reads 0 */
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job1/dist/group", NULL, &v, &err), 0);
    assert_int_equal(v, 0);
    /* 0 -> 1 -> 2 -> 3, each from the value named */
    for (e = 0; e < 3; e++) {
        if (sai_kbs_client_counter(c, &g_att, "job1/dist/group", &e, &v, &err) != 0)
            fail_msg("increment from %llu: %s", (unsigned long long)e, err.msg);
        assert_int_equal(v, e + 1);
    }
    /* a stale value (a rolled-back checkpoint's) is refused, naming both */
    e = 1;
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job1/dist/group", &e, &v, &err), SAI_ESTATE);
    assert_int_equal(v, 3);
    assert_non_null(strstr(err.msg, "counter job1/dist/group is 3, not 1"));
    /* ... and one from the future too; the counter did not move */
    e = 7;
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job1/dist/group", &e, &v, &err), SAI_ESTATE);
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job1/dist/group", NULL, &v, &err), 0);
    assert_int_equal(v, 3);
    /* counters are per name */
    put(c, "job2/dist/group", g_meas_hex);
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job2/dist/group", NULL, &v, &err), 0);
    assert_int_equal(v, 0);
    /* every increment and the refusals are in the audit log */
    char *resp = NULL;
    assert_int_equal(test_req(c, "GET", "/kbs/v0/admin/audit?limit=20", g_kbs.admin_hdr, NULL, &resp), 200);
    assert_non_null(strstr(resp, "\"event\":\"counter\""));
    assert_non_null(strstr(resp, "2 -> 3"));
    assert_non_null(strstr(resp, "is 3, not 1"));
    free(resp);
    sai_kbs_client_free(c);
}

static void test_policy_governs(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    sai_error_t err = {0};
    uint64_t v = 0, e = 0;
    char other[97];
    memset(other, 'a', 96);
    other[96] = '\0';
    /* the resource's release policy names another measurement */
    put(c, "job3/dist/group", other);
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job3/dist/group", &e, &v, &err), SAI_EPOLICY);
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job3/dist/group", NULL, &v, &err), SAI_EPOLICY);
    /* no resource of the name: no counter */
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "nojob/dist/group", &e, &v, &err), SAI_ENOTFOUND);
    /* no token at all */
    assert_int_equal(test_req(c, "POST", "/kbs/v0/counter/job1/dist/group", NULL, "{\"expect\":3}", NULL), 401);
    assert_int_equal(test_req(c, "GET", "/kbs/v0/counter/job1/dist/group", NULL, NULL, NULL), 401);
    /* not a name */
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "../x", &e, &v, &err), SAI_EINVAL);
    sai_kbs_client_free(c);
}

static void test_survives_restart(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    sai_error_t err = {0};
    uint64_t v = 0, e = 0;
    put(c, "job4/dist/group", g_meas_hex);
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job4/dist/group", &e, &v, &err), 0);
    assert_int_equal(v, 1);
    sai_kbs_client_free(c);
    char dir[400];
    snprintf(dir, sizeof dir, "%s/kbs", g_root);
    test_kbs_stop(&g_kbs, false);
    assert_int_equal(test_kbs_start_dir(&g_kbs, dir, tweak), 0);
    c = test_client(&g_kbs);
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job4/dist/group", NULL, &v, &err), 0);
    assert_int_equal(v, 1);
    e = 0;
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job4/dist/group", &e, &v, &err), SAI_ESTATE);
    sai_kbs_client_free(c);
}

/* What an enclave's host does on KBS_CONN: connect a socket to the KBS
 * (the test server's port) and hand it over; or refuse. */
typedef struct dialer {
    int  calls;
    bool refuse;
} dialer;

static int dial_kbs(void *ctx, int *fd, sai_error_t *err)
{
    dialer *d = ctx;
    d->calls++;
    if (d->refuse)
        return sai_error_set(err, SAI_ENET, "the host gave no connection");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(strrchr(g_kbs.url, ':') + 1)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        if (s >= 0)
            close(s);
        return sai_error_set(err, SAI_ENET, "connect failed");
    }
    *fd = s;
    return 0;
}

static void test_over_dialed_stream(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);   /* https, the server's pin */
    sai_error_t err = {0};
    uint64_t v = 0, e = 0;
    dialer d = {0};
    put(c, "job5/dist/group", g_meas_hex);
    sai_kbs_client_set_dialer(c, dial_kbs, &d);
    if (sai_kbs_client_counter(c, &g_att, "job5/dist/group", &e, &v, &err) != 0)
        fail_msg("over a dialed stream: %s", err.msg);
    assert_int_equal(v, 1);
    assert_int_equal(d.calls, 1);   /* auth, attest and the counter on one kept-alive stream */
    /* a checkpoint minutes later: a fresh stream, the TLS session resumed */
    sai_kbs_client_disconnect(c);
    e = 1;
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job5/dist/group", &e, &v, &err), 0);
    assert_int_equal(v, 2);
    assert_int_equal(d.calls, 2);
    assert_true(sai_kbs__client_resumed(c));
    /* compare-and-increment holds over it as over the client's own socket */
    e = 1;
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job5/dist/group", &e, &v, &err), SAI_ESTATE);
    assert_int_equal(v, 2);
    sai_kbs_client_free(c);

    /* the pin is checked over the dialed stream: a client pinned to another
     * certificate is refused by its own TLS, whoever connected the stream */
    char pin[65];
    memset(pin, '0', 64);
    pin[64] = '\0';
    sai_kbs_client_opts_t o = {.url = g_kbs.url, .pin_sha256 = pin, .timeout_s = 5, .retries = 1};
    assert_int_equal(sai_kbs_client_new(&c, &o, &err), 0);
    sai_kbs_client_set_dialer(c, dial_kbs, &d);
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job5/dist/group", NULL, &v, &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "does not match the pin or CA"));
    sai_kbs_client_free(c);

    /* a host that gives no stream: the request fails after the retries, no hang */
    c = test_client_retries(&g_kbs, 2);
    sai_kbs_client_set_dialer(c, dial_kbs, &d);
    d.calls = 0;
    d.refuse = true;
    assert_int_equal(sai_kbs_client_counter(c, &g_att, "job5/dist/group", NULL, &v, &err), SAI_ENET);
    assert_int_equal(d.calls, 2);
    assert_non_null(strstr(err.msg, "the host gave no connection"));
    sai_kbs_client_free(c);
}

static size_t file_bytes(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static uint64_t counter_now(sai_kbs_client_t *c, const char *name)
{
    sai_error_t err = {0};
    uint64_t v = 0;
    if (sai_kbs_client_counter(c, &g_att, name, NULL, &v, &err) != 0)
        fail_msg("reading %s: %s", name, err.msg);
    return v;
}

static void test_checkpoint_order(void **state)
{
    (void)state;
    static const char name[] = "job6/dist/group";
    sai_kbs_client_t *own = test_client(&g_kbs);   /* the test's own view of the KBS */
    sai_error_t err = {0};
    sai_pipeline_dist_ckpt_t *ck = NULL;
    uint8_t mk[32] = {1}, job[SAI_DIST_JOB_ID_LEN] = {2}, pay[64], before[1024], after[1024];
    char path[400];
    dialer d = {0};
    uint64_t e = 0, v = 0;
    memset(pay, 7, sizeof pay);
    put(own, name, g_meas_hex);
    snprintf(path, sizeof path, "%s/checkpoint.sealed", g_root);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    /* a fresh attempt: 0 -> 1, then a checkpoint over dialed streams: 1 -> 2 */
    if (sai_pipeline__dist_ckpt_begin(&ck, test_client_retries(&g_kbs, 2), &g_att, name, fd, false, 1, mk, job,
                                      &err) != 0)
        fail_msg("begin: %s", err.msg);
    assert_int_equal(counter_now(own, name), 1);
    sai_kbs_client_set_dialer(ck->kbs, dial_kbs, &d);
    if (sai_pipeline__dist_ckpt_write(ck, 1, pay, sizeof pay, &err) != 0)
        fail_msg("checkpoint: %s", err.msg);
    assert_int_equal(counter_now(own, name), 2);
    assert_int_equal(d.calls, 1);
    size_t nb = file_bytes(path, before, sizeof before);
    assert_true(nb > 64);
    /* the host gives no stream: nothing is written, the counter stays */
    d.refuse = true;
    assert_int_equal(sai_pipeline__dist_ckpt_write(ck, 2, pay, sizeof pay, &err), SAI_ENET);
    assert_non_null(strstr(err.msg, "did not move from 2: no checkpoint is written"));
    assert_int_equal(file_bytes(path, after, sizeof after), nb);
    assert_memory_equal(before, after, nb);
    assert_int_equal(counter_now(own, name), 2);
    /* another attempt of the job moved the counter: this one writes nothing */
    d.refuse = false;
    e = 2;
    assert_int_equal(sai_kbs_client_counter(own, &g_att, name, &e, &v, &err), 0);
    assert_int_equal(sai_pipeline__dist_ckpt_write(ck, 2, pay, sizeof pay, &err), SAI_ESTATE);
    assert_non_null(strstr(err.msg, "moved past 2 without this enclave"));
    assert_int_equal(file_bytes(path, after, sizeof after), nb);
    assert_memory_equal(before, after, nb);
    sai_pipeline__dist_ckpt_free(ck);
    ck = NULL;
    /* the file one behind the counter (what a crash between the KBS's
     * confirmation and the fsync leaves): a resume is refused, naming both */
    fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(sai_pipeline__dist_ckpt_begin(&ck, test_client(&g_kbs), &g_att, name, fd, true, 1, mk, job,
                                                   &err), SAI_EPOLICY);
    assert_null(ck);
    assert_non_null(strstr(err.msg, "carries counter value 2 (epoch 1), but the job's counter on the KBS is 3"));
    assert_non_null(strstr(err.msg, "start it afresh"));
    assert_int_equal(counter_now(own, name), 3);
    sai_kbs_client_free(own);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare_and_increment),
        cmocka_unit_test(test_policy_governs),
        cmocka_unit_test(test_survives_restart),
        cmocka_unit_test(test_over_dialed_stream),
        cmocka_unit_test(test_checkpoint_order),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
