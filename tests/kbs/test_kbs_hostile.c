/* test_kbs_hostile.c — the KBS and its client against hostile or broken
 * peers (issue 13): a client that must not die of SIGPIPE, a slowloris from
 * one address, an /auth flood, and the small protocol strictnesses. Loopback
 * only; every wait is bounded (a few seconds in all). The process does not
 * ignore SIGPIPE itself: the client under test runs in a child with the
 * default disposition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "kbs/kbs_test.h"
#include "secureai/attest.h"
#include "secureai/tee.h"

#include <pthread.h>

static char g_root[256], g_policy_path[400], g_meas_hex[97];
static sai_kbs_attester_t g_att;

static int raw_connect_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in me = {.sin_family = AF_INET};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    inet_pton(AF_INET, src, &me.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof me) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static const char *k_auth = "{\"version\":\"0.1.0\",\"tee\":\"sim\"}";

/* ---- 1. the client never dies of SIGPIPE ------------------------------------ */

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0)
        return -1;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A peer that accepts and hangs up at once, as a KBS whose connection
 * slots are all taken does: the client's ClientHello or next write hits a
 * closed socket. Before the fix the child died of SIGPIPE (exit 141). */
static void sigpipe_case(const char *scheme)
{
    char fp[65];
    memset(fp, 'a', 64);
    fp[64] = '\0';
    int port = 0, lfd = listen_any(&port);
    assert_true(lfd >= 0);
    char url[64];
    snprintf(url, sizeof url, "%s://127.0.0.1:%d", scheme, port);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(lfd);
        close(pfd[0]);
        signal(SIGPIPE, SIG_DFL);
        sai_kbs_client_opts_t o = {.url = url, .pin_sha256 = fp, .retries = 3, .timeout_s = 2,
                                 .allow_insecure_http = true};
        sai_kbs_client_t *c = NULL;
        sai_error_t e = {0};
        char body[2048];
        memset(body, ' ', sizeof body - 1);
        body[0] = '{';
        body[sizeof body - 2] = '}';
        body[sizeof body - 1] = '\0';
        int status = 0, rc = sai_kbs_client_new(&c, &o, &e);
        char *resp = NULL;
        size_t rl = 0;
        if (rc == 0)
            rc = sai_kbs_client_request(c, "POST", "/kbs/v0/auth", NULL, body, strlen(body), &status,
                                        &resp, &rl, &e);
        free(resp);
        sai_kbs_client_free(c);
        (void)!write(pfd[1], e.msg, strlen(e.msg));
        _exit(rc == SAI_ENET ? 0 : 3);
    }
    close(pfd[1]);
    signal(SIGPIPE, SIG_IGN);
    int accepted = 0;
    for (;;) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            int cfd = accept(lfd, NULL, NULL);
            close(cfd);   /* before the handshake: the client's next write is EPIPE */
            accepted++;
        }
        int wst = 0;
        pid_t w = waitpid(pid, &wst, WNOHANG);
        if (w == pid) {
            char msg[300] = "";
            ssize_t n = read(pfd[0], msg, sizeof msg - 1);
            msg[n > 0 ? n : 0] = '\0';
            if (WIFSIGNALED(wst))
                fail_msg("the client died of signal %d after %d connections", WTERMSIG(wst), accepted);
            assert_true(WIFEXITED(wst));
            if (WEXITSTATUS(wst) != 0)
                fail_msg("client exit %d: %s", WEXITSTATUS(wst), msg);
            assert_non_null(strstr(msg, "cannot reach the KBS after 3 attempts"));
            assert_true(accepted >= 3);
            break;
        }
    }
    close(pfd[0]);
    close(lfd);
}

static void test_client_survives_sigpipe(void **state)
{
    (void)state;
    sigpipe_case("https");
    sigpipe_case("http");
}

/* ---- 2. a slowloris from one address does not lock out others ------------------- */
#define NSLOW 40

typedef struct slowloris {
    int           port;
    int           fds[NSLOW];
    atomic_int    stop;
    atomic_int    reconnects;
    pthread_t     th;
} slowloris;

/* 40 connections from 127.0.0.2 that never finish a handshake (half send a
 * partial TLS record header and stall, half send nothing); each one the
 * server closes is opened again at once. */
static void *slowloris_main(void *arg)
{
    slowloris *l = arg;
    for (int i = 0; i < NSLOW; i++)
        l->fds[i] = -1;
    while (!atomic_load(&l->stop)) {
        for (int i = 0; i < NSLOW; i++) {
            if (l->fds[i] >= 0) {
                struct pollfd p = {.fd = l->fds[i], .events = POLLIN};
                char b[64];
                if (poll(&p, 1, 0) > 0 && recv(l->fds[i], b, sizeof b, MSG_DONTWAIT) <= 0) {
                    close(l->fds[i]);
                    l->fds[i] = -1;
                    atomic_fetch_add(&l->reconnects, 1);
                }
            }
            if (l->fds[i] < 0 && (l->fds[i] = raw_connect_from("127.0.0.2", l->port)) >= 0 && i % 2)
                (void)!send(l->fds[i], "\x16\x03\x01\x02", 4, MSG_NOSIGNAL);
        }
        usleep(20 * 1000);
    }
    for (int i = 0; i < NSLOW; i++)
        if (l->fds[i] >= 0)
            close(l->fds[i]);
    return NULL;
}

static void tweak_slow(sai_kbs_config_t *c)
{
    c->max_connections = 32;
    c->max_connections_per_addr = 8;
    c->max_handshakes = 16;
    c->max_handshakes_per_addr = 4;
    c->handshake_timeout_s = 1;
    c->header_timeout_s = 2;
}

static void test_slowloris_one_address(void **state)
{
    (void)state;
    test_kbs t;
    memset(&t, 0, sizeof t);
    assert_int_equal(test_kbs_start(&t, tweak_slow), 0);
    slowloris l;
    memset(&l, 0, sizeof l);
    l.port = sai_kbs_server_port(t.srv);
    assert_int_equal(pthread_create(&l.th, NULL, slowloris_main, &l), 0);
    usleep(300 * 1000);
    /* Legitimate clients from 127.0.0.1, a fresh TLS connection each. */
    int ok = 0;
    double t0 = sai_now();
    for (int i = 0; i < 12; i++) {
        sai_kbs_client_t *c = test_client(&t);
        ok += test_req(c, "GET", "/healthz", NULL, NULL, NULL) == 200;
        sai_kbs_client_free(c);
        usleep(100 * 1000);
    }
    double dt = sai_now() - t0;
    /* Still under attack: the handshake slots the attacker holds are capped. */
    sai_kbs_client_t *c = test_client(&t);
    char *resp = NULL;
    assert_int_equal(test_req(c, "GET", "/metrics", NULL, NULL, &resp), 200);
    const char *h = strstr(resp, "\nsai_kbs_handshakes ");
    assert_non_null(h);
    int hs = atoi(h + strlen("\nsai_kbs_handshakes "));
    free(resp);
    sai_kbs_client_free(c);
    atomic_store(&l.stop, 1);
    pthread_join(l.th, NULL);
    test_kbs_stop(&t, true);
    if (ok != 12)
        fail_msg("%d of 12 legitimate requests succeeded under the slowloris", ok);
    assert_true(dt < 6.0);
    assert_true(hs <= 4 + 1);                       /* 4 from 127.0.0.2, maybe ours */
    assert_true(atomic_load(&l.reconnects) >= NSLOW - 8);   /* the excess was closed at once */
}

/* ---- 3. an /auth flood neither locks others out nor grows the audit log --------- */
static void tweak_sessions(sai_kbs_config_t *c)
{
    snprintf(c->attestation_policy, sizeof c->attestation_policy, "%s", g_policy_path);
    c->max_sessions = 64;
    c->max_sessions_per_addr = 16;
}

static void test_auth_flood(void **state)
{
    (void)state;
    test_kbs t;
    sai_error_t err;
    memset(&t, 0, sizeof t);
    assert_int_equal(test_kbs_start(&t, tweak_sessions), 0);
    sai_kbs_client_t *c = test_client(&t);
    char pol[300];
    snprintf(pol, sizeof pol, "{\"tee\":[\"sim\"],\"allow_simulated\":true,\"measurements\":[\"%s\"]}",
             g_meas_hex);
    assert_int_equal(test_put(&t, c, "demo/dataset/k", "flood-test-secret", pol), 201);
    uint64_t before = 0, after = 0;
    char head[65];
    assert_int_equal(sai_kbs_audit_verify(t.dir, &before, head, &err), 0);
    for (int i = 0; i < 300; i++) {
        int st = test_req(c, "POST", "/kbs/v0/auth", NULL, k_auth, NULL);
        if (st != 200)
            fail_msg("/auth number %d of the flood: %d", i + 1, st);
    }
    assert_int_equal(sai_kbs_audit_verify(t.dir, &after, head, &err), 0);
    assert_int_equal(after, before);      /* no audit row per /auth */
    /* A legitimate flow right after it completes. */
    sai_secret_t *sec = NULL;
    if (sai_kbs_client_get_resource(c, &g_att, "demo/dataset/k", &sec, NULL, &err) != 0)
        fail_msg("get_resource after the flood: %s", err.msg);
    assert_int_equal(sec->len, 17);
    sai_secret_free(sec);
    sai_kbs_client_free(c);
    test_kbs_stop(&t, true);
}

/* ---- 5. the client waits out a 429 as Retry-After says ------------------------ */
static void tweak_rate(sai_kbs_config_t *c)
{
    c->rate_per_s = 1;
    c->rate_burst = 1;
}

static void test_client_honours_retry_after(void **state)
{
    (void)state;
    test_kbs t;
    memset(&t, 0, sizeof t);
    assert_int_equal(test_kbs_start(&t, tweak_rate), 0);
    sai_kbs_client_t *c = test_client(&t);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/auth", NULL, k_auth, NULL), 200);
    /* The bucket is empty: 429 with Retry-After: 1, waited out, then 200. */
    double t0 = sai_now();
    assert_int_equal(test_req(c, "POST", "/kbs/v0/auth", NULL, k_auth, NULL), 200);
    double dt = sai_now() - t0;
    assert_true(dt > 0.5 && dt < 3.0);
    sai_kbs_client_free(c);
    /* Bounded: with one attempt the 429 comes back as it is. */
    c = test_client_retries(&t, 1);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/auth", NULL, k_auth, NULL), 429);
    sai_kbs_client_free(c);
    test_kbs_stop(&t, true);
}

/* ---- 5. the small ones --------------------------------------------------------- */
static void tweak_small(sai_kbs_config_t *c)
{
    c->max_body = 64 * 1024;
}

/* A JSON error body: {"error": "...", "status": code}. */
static void assert_json_error(const char *resp, int code)
{
    cJSON *j = cJSON_Parse(resp);
    if (j == NULL)
        fail_msg("not JSON: %.200s", resp);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "error")));
    assert_int_equal(cJSON_GetObjectItem(j, "status")->valueint, code);
    cJSON_Delete(j);
}

static void test_small_findings(void **state)
{
    (void)state;
    test_kbs t;
    sai_error_t err;
    struct stat st;
    char path[700], *resp = NULL;
    memset(&t, 0, sizeof t);
    assert_int_equal(test_kbs_start(&t, tweak_small), 0);
    /* The database's WAL and shared-memory files are private like it. */
    const char *files[] = {"kbs.db", "kbs.db-wal", "kbs.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", t.dir, files[i]);
        assert_int_equal(stat(path, &st), 0);
        if ((st.st_mode & 0777) != 0600)
            fail_msg("%s is %o", files[i], (unsigned)(st.st_mode & 0777));
    }
    sai_kbs_client_t *c = test_client(&t);
    /* evhttp's own refusals come back as the documented JSON error. */
    size_t big = 70 * 1024;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    huge[big] = '\0';
    assert_int_equal(test_req(c, "POST", "/kbs/v0/auth", NULL, huge, &resp), 413);
    assert_json_error(resp, 413);
    free(resp);
    free(huge);
    sai_kbs_client_free(c);
    c = test_client(&t);
    char *longpath = malloc(20001);
    memcpy(longpath, "/kbs/v0/resource/", 17);
    memset(longpath + 17, 'a', 20000 - 17);
    longpath[20000] = '\0';
    assert_int_equal(test_req(c, "GET", longpath, NULL, NULL, &resp), 400);
    assert_json_error(resp, 400);
    free(resp);
    free(longpath);
    sai_kbs_client_free(c);
    /* Authenticated admin calls that fail are audited with their reason. */
    c = test_client(&t);
    assert_int_equal(test_req(c, "DELETE", "/kbs/v0/admin/resource/no/such/thing", t.admin_hdr, NULL, NULL), 404);
    assert_int_equal(test_req(c, "PUT", "/kbs/v0/admin/resource/a/b/c", t.admin_hdr, "{\"secret\":1}", NULL), 400);
    assert_int_equal(test_req(c, "GET", "/kbs/v0/admin/nothing-here", t.admin_hdr, NULL, NULL), 404);
    assert_int_equal(test_req(c, "GET", "/kbs/v0/admin/audit?limit=20", t.admin_hdr, NULL, &resp), 200);
    assert_non_null(strstr(resp, "\"event\":\"admin.failed\",\"actor\":\"127.0.0.1\",\"subject\":\"resource/no/such/thing\",\"verdict\":\"fail\",\"detail\":\"DELETE 404"));
    assert_non_null(strstr(resp, "\"subject\":\"resource/a/b/c\",\"verdict\":\"fail\",\"detail\":\"PUT 400: member"));
    assert_non_null(strstr(resp, "\"subject\":\"nothing-here\",\"verdict\":\"fail\""));
    free(resp);
    sai_kbs_client_free(c);
    uint64_t n = 0;
    char head[65];
    assert_int_equal(sai_kbs_audit_verify(t.dir, &n, head, &err), 0);
    test_kbs_stop(&t, true);
}

static int setup(void **state)
{
    (void)state;
    return test_sim_world(g_root, sizeof g_root, g_policy_path, sizeof g_policy_path, g_meas_hex,
                          &g_att) != 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    sai_kbs_attester_close(&g_att);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_survives_sigpipe),
        cmocka_unit_test(test_slowloris_one_address),
        cmocka_unit_test(test_auth_flood),
        cmocka_unit_test(test_client_honours_retry_after),
        cmocka_unit_test(test_small_findings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
