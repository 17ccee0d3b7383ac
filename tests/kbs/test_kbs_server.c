/* test_kbs_server.c — the KBS as a real TLS server on loopback with the real
 * client and the real sim TEE: the RCAR flow, each refusal it must make, the
 * admin API's authentication, hostile bodies, the limits, metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "kbs/kbs_test.h"
#include "secureai/attest.h"
#include "secureai/tee.h"

static test_kbs g_kbs;
static char g_root[256], g_policy_path[400], g_meas_hex[97];
static sai_kbs_attester_t g_att;

static void tweak_main(sai_kbs_config_t *c)
{
    snprintf(c->attestation_policy, sizeof c->attestation_policy, "%s", g_policy_path);
    c->max_body = 64 * 1024;
    snprintf(c->enclave_writable, sizeof c->enclave_writable, "models, gen");
}

static int setup(void **state)
{
    (void)state;
    char dir[400];
    signal(SIGPIPE, SIG_IGN);
    if (test_sim_world(g_root, sizeof g_root, g_policy_path, sizeof g_policy_path, g_meas_hex,
                       &g_att) != 0)
        return -1;
    snprintf(dir, sizeof dir, "%s/kbs", g_root);
    return test_kbs_start_dir(&g_kbs, dir, tweak_main);
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

static void put_ok(sai_kbs_client_t *c, const char *name, const char *secret, const char *meas)
{
    char pol[400];
    snprintf(pol, sizeof pol, "{\"tee\":[\"sim\"],\"allow_simulated\":true,\"measurements\":[\"%s\"]}", meas);
    assert_int_equal(test_put(&g_kbs, c, name, secret, pol), 201);
}

static void test_happy_path(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    sai_secret_t *sec = NULL;
    char *token = NULL, *resp = NULL;
    sai_error_t err;
    put_ok(c, "demo/dataset/key1", "0123456789abcdef-dataset-key", g_meas_hex);
    int rc = sai_kbs_client_get_resource(c, &g_att, "demo/dataset/key1", &sec, &token, &err);
    if (rc != 0)
        fail_msg("get_resource: %s", err.msg);
    assert_int_equal(sec->len, 28);
    assert_memory_equal(sec->data, "0123456789abcdef-dataset-key", 28);
    assert_non_null(token);
    sai_secret_free(sec);
    free(token);
    /* The release is in the audit log, and the chain is sound. */
    assert_int_equal(test_req(c, "GET", "/kbs/v0/admin/audit?limit=5", g_kbs.admin_hdr, NULL, &resp), 200);
    assert_non_null(strstr(resp, "\"event\":\"release\",\"actor\":\"127.0.0.1\",\"subject\":\"demo/dataset/key1\",\"verdict\":\"allow\""));
    free(resp);
    uint64_t n = 0;
    char head[65];
    assert_int_equal(sai_kbs_audit_verify(g_kbs.dir, &n, head, &err), 0);
    assert_true(n >= 4);
    /* The CA path works too (the self-signed certificate as its own CA). */
    char ca[600];
    snprintf(ca, sizeof ca, "%s/tls.crt", g_kbs.dir);
    sai_kbs_client_opts_t o = {.url = g_kbs.url, .ca_file = ca};
    assert_int_equal(sai_kbs_get_resource(&o, &g_att, "demo/dataset/key1", &sec, &err), 0);
    sai_secret_free(sec);
    /* ... and the CA as PEM bytes in memory (what a sandboxed enclave has). */
    uint8_t *pem = NULL;
    size_t pem_len = 0;
    assert_int_equal(sai_read_file(ca, 1 << 20, &pem, &pem_len, &err), 0);
    sai_kbs_client_opts_t op = {.url = g_kbs.url, .ca_pem = (const char *)pem, .ca_pem_len = pem_len};
    assert_int_equal(sai_kbs_get_resource(&op, &g_att, "demo/dataset/key1", &sec, &err), 0);
    sai_secret_free(sec);
    free(pem);
    /* A TEE the caller opened itself (the pipeline's enclave), borrowed. */
    sai_tee_t *tee = NULL;
    sai_tee_opts_t to;
    memset(&to, 0, sizeof to);
    to.psp_fd = -1;
    assert_int_equal(sai_tee_open(&tee, SAI_TEE_SIM, &to, &err), 0);
    sai_kbs_attester_t borrowed;
    sai_kbs_attester_borrow(&borrowed, tee);
    assert_string_equal(borrowed.tee, "sim");
    assert_int_equal(sai_kbs_client_get_resource(c, &borrowed, "demo/dataset/key1", &sec, NULL, &err), 0);
    sai_secret_free(sec);
    sai_kbs_attester_close(&borrowed);   /* leaves the TEE open */
    uint8_t m[48];
    size_t ml = 0;
    assert_int_equal(sai_tee_measure(tee, m, &ml, &err), 0);
    sai_tee_close(tee);
    sai_kbs_client_free(c);
}

/* ---- group commit: no release before its durable audit record ---------- */
static atomic_int g_hook_mode;      /* 0 pass, 1 hold once, 2 fail */
static atomic_int g_hook_entered, g_hook_go;

static int sync_hook(void *arg)
{
    (void)arg;
    int m = atomic_load(&g_hook_mode);
    if (m == 2)
        return -1;
    if (m == 1) {
        atomic_store(&g_hook_entered, 1);
        while (!atomic_load(&g_hook_go))
            usleep(1000);
        atomic_store(&g_hook_mode, 0);
    }
    return 0;
}

typedef struct flow_arg {
    const test_kbs *t;
    const char *name;
    int rc;
    sai_secret_t *sec;
    sai_error_t err;
    atomic_int done;
} flow_arg;

static void *flow_main(void *arg)
{
    flow_arg *f = arg;
    sai_kbs_client_t *c = test_client(f->t);
    f->rc = sai_kbs_client_get_resource(c, &g_att, f->name, &f->sec, NULL, &f->err);
    sai_kbs_client_free(c);
    atomic_store(&f->done, 1);
    return NULL;
}

static void test_release_waits_for_durable_record(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    put_ok(c, "demo/durable/k", "durable-before-release-secret", g_meas_hex);
    sai_kbs_client_free(c);
    sai_kbs_store_t *st = sai_kbs__server_store(g_kbs.srv);
    /* Hold the WAL's fsync: the flow's attest goes through (its record is
     * committed, its fsync pending), the release is committed and its
     * answer held, however long the fsync takes. */
    atomic_store(&g_hook_mode, 1);
    atomic_store(&g_hook_entered, 0);
    atomic_store(&g_hook_go, 0);
    sai_kbs__store_set_sync_hook(st, sync_hook, NULL);
    flow_arg f = {.t = &g_kbs, .name = "demo/durable/k"};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, flow_main, &f), 0);
    for (int i = 0; i < 2000 && !atomic_load(&g_hook_entered); i++)
        usleep(1000);
    assert_true(atomic_load(&g_hook_entered));
    usleep(400 * 1000);
    bool early = atomic_load(&f.done);
    atomic_store(&g_hook_go, 1);          /* (before any assert: never leave the syncer held) */
    pthread_join(th, NULL);
    sai_kbs__store_set_sync_hook(st, NULL, NULL);
    assert_false(early);                  /* no secret while the record is not durable */
    if (f.rc != 0)
        fail_msg("get_resource after the fsync: %s", f.err.msg);
    assert_memory_equal(f.sec->data, "durable-before-release-secret", 29);
    sai_secret_free(f.sec);

    /* A failed fsync refuses the release, and every later one (sticky: the
     * pages may be gone); on a server of its own, as it stays refusing. */
    test_kbs t2;
    memset(&t2, 0, sizeof t2);
    assert_int_equal(test_kbs_start(&t2, tweak_main), 0);
    c = test_client(&t2);
    char pol[400];
    snprintf(pol, sizeof pol, "{\"tee\":[\"sim\"],\"allow_simulated\":true,\"measurements\":[\"%s\"]}",
             g_meas_hex);
    assert_int_equal(test_put(&t2, c, "demo/durable/k2", "never-without-its-record", pol), 201);
    sai_secret_t *sec = NULL;
    sai_error_t err;
    assert_int_equal(sai_kbs_client_get_resource(c, &g_att, "demo/durable/k2", &sec, NULL, &err), 0);
    sai_secret_free(sec);
    sec = NULL;
    atomic_store(&g_hook_mode, 2);
    sai_kbs__store_set_sync_hook(sai_kbs__server_store(t2.srv), sync_hook, NULL);
    assert_int_not_equal(sai_kbs_client_get_resource(c, &g_att, "demo/durable/k2", &sec, NULL, &err), 0);
    assert_null(sec);
    assert_non_null(strstr(err.msg, "durable"));
    atomic_store(&g_hook_mode, 0);
    assert_int_not_equal(sai_kbs_client_get_resource(c, &g_att, "demo/durable/k2", &sec, NULL, &err), 0);
    assert_null(sec);
    sai_kbs_client_free(c);
    test_kbs_stop(&t2, true);
}

/* ---- TLS session resumption ----------------------------------------------- */
static void test_tls_resumption(void **state)
{
    (void)state;
    sai_kbs_client_t *c1 = test_client(&g_kbs);
    sai_kbs__client_session_set(c1, NULL);    /* nothing from earlier tests */
    assert_int_equal(test_req(c1, "GET", "/healthz", NULL, NULL, NULL), 200);
    assert_false(sai_kbs__client_resumed(c1));
    SSL_SESSION *sess = sai_kbs__client_session(c1);
    assert_non_null(sess);                    /* the KBS sent a ticket */
    SSL_SESSION_free(sess);
    sai_kbs_client_free(c1);
    /* Another client object in the process, same KBS and pin: resumed, and
     * the whole flow works over it. */
    sai_kbs_client_t *c2 = test_client(&g_kbs);
    put_ok(c2, "demo/resume/k", "resumed-session-secret", g_meas_hex);
    assert_true(sai_kbs__client_resumed(c2));
    sai_secret_t *sec = NULL;
    sai_error_t err;
    assert_int_equal(sai_kbs_client_get_resource(c2, &g_att, "demo/resume/k", &sec, NULL, &err), 0);
    assert_memory_equal(sec->data, "resumed-session-secret", 22);
    sai_secret_free(sec);
    sai_kbs_client_free(c2);
    /* A tampered ticket: the server cannot open it, the client gets a full
     * handshake (and its answer), not an error. */
    sai_kbs_client_t *c3 = test_client(&g_kbs);
    sess = sai_kbs__client_session(c3);
    assert_non_null(sess);
    const unsigned char *tick = NULL;
    size_t tl = 0;
    SSL_SESSION_get0_ticket(sess, &tick, &tl);
    assert_true(tl > 40);
    int dl = i2d_SSL_SESSION(sess, NULL);
    unsigned char *der = malloc((size_t)dl), *p = der;
    assert_int_equal(i2d_SSL_SESSION(sess, &p), dl);
    unsigned char *at = memmem(der, (size_t)dl, tick, tl);
    assert_non_null(at);
    at[tl / 2] ^= 0x01;                       /* inside the sealed part */
    const unsigned char *q = der;
    SSL_SESSION *bad = d2i_SSL_SESSION(NULL, &q, dl);
    assert_non_null(bad);
    free(der);
    SSL_SESSION_free(sess);
    sai_kbs__client_session_set(c3, bad);
    assert_int_equal(test_req(c3, "GET", "/healthz", NULL, NULL, NULL), 200);
    assert_false(sai_kbs__client_resumed(c3));
    sai_kbs_client_free(c3);
    /* ... and the full handshake left a good ticket behind. */
    sai_kbs_client_t *c4 = test_client(&g_kbs);
    assert_int_equal(test_req(c4, "GET", "/healthz", NULL, NULL, NULL), 200);
    assert_true(sai_kbs__client_resumed(c4));
    sai_kbs_client_free(c4);
    /* A session is never offered under another trust configuration: a
     * client with a wrong pin for the same URL does a full handshake, which
     * its pin check refuses. */
    char wrong[65];
    snprintf(wrong, sizeof wrong, "%s", g_kbs.fp);
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    sai_kbs_client_opts_t o = {.url = g_kbs.url, .pin_sha256 = wrong, .timeout_s = 5, .retries = 1};
    sai_kbs_client_t *c5 = NULL;
    assert_int_equal(sai_kbs_client_new(&c5, &o, &err), 0);
    int status = 0;
    char *resp = NULL;
    size_t rl = 0;
    assert_int_equal(sai_kbs_client_request(c5, "GET", "/healthz", NULL, NULL, 0, &status, &resp, &rl, &err),
                     SAI_EAUTH);
    free(resp);
    sai_kbs_client_free(c5);
}

static void test_wrong_measurement_refused(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    sai_secret_t *sec = NULL;
    sai_error_t err;
    char other[97];
    memset(other, '0', 96);
    other[96] = '\0';
    put_ok(c, "demo/dataset/key2", "never-released", other);
    assert_int_equal(sai_kbs_client_get_resource(c, &g_att, "demo/dataset/key2", &sec, NULL, &err),
                     SAI_EPOLICY);
    assert_null(sec);
    assert_non_null(strstr(err.msg, "allow-list"));
    /* Debug, other TEE kinds and unknown resources are refused as well. */
    assert_int_equal(test_put(&g_kbs, c, "demo/dataset/key3", "x1", "{\"tee\":[\"sev-snp\"]}"), 201);
    assert_int_equal(sai_kbs_client_get_resource(c, &g_att, "demo/dataset/key3", &sec, NULL, &err),
                     SAI_EPOLICY);
    assert_int_equal(sai_kbs_client_get_resource(c, &g_att, "demo/dataset/none", &sec, NULL, &err),
                     SAI_ENOTFOUND);
    sai_kbs_client_free(c);
}

/* Attested registration (POST /kbs/v0/register/...): an attested TEE stores
 * a key it generated, in an enclave-writable repo only, never overwriting,
 * audited; the admin token is not what authorises it, and is not enough. */
static void test_attested_registration(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    sai_error_t err;
    sai_secret_t *sec = NULL;
    char pol[300], *resp = NULL;
    snprintf(pol, sizeof pol, "{\"tee\":[\"sim\"],\"allow_simulated\":true,\"measurements\":[\"%s\"]}",
             g_meas_hex);
    const uint8_t key[32] = {7, 1, 2, 3};
    assert_int_equal(sai_kbs_client_register_resource(c, &g_att, "models/model/run1", key, 32, pol, g_kbs.wrap, &err), 0);
    /* released to a TEE the registered policy admits */
    assert_int_equal(sai_kbs_client_get_resource(c, &g_att, "models/model/run1", &sec, NULL, &err), 0);
    assert_int_equal(sec->len, 32);
    assert_memory_equal(sec->data, key, 32);
    sai_secret_free(sec);
    /* never overwrites: neither a second registration of the same name... */
    const uint8_t other[32] = {9};
    assert_int_equal(sai_kbs_client_register_resource(c, &g_att, "models/model/run1", other, 32, pol, g_kbs.wrap,
                                                      &err),
                     SAI_EEXIST);   /* 409 */
    assert_non_null(strstr(err.msg, "409"));
    assert_non_null(strstr(err.msg, "never overwrites"));
    assert_int_equal(sai_kbs_client_get_resource(c, &g_att, "models/model/run1", &sec, NULL, &err), 0);
    assert_memory_equal(sec->data, key, 32);
    sai_secret_free(sec);
    /* ... nor into a repo the config does not mark enclave-writable */
    assert_int_equal(sai_kbs_client_register_resource(c, &g_att, "demo/model/x", key, 32, pol, g_kbs.wrap, &err),
                     SAI_EPOLICY);
    assert_non_null(strstr(err.msg, "enclave-writable"));
    assert_int_equal(sai_kbs_client_get_resource(c, &g_att, "demo/model/x", &sec, NULL, &err), SAI_ENOTFOUND);
    /* a bad release policy is refused like the admin's */
    assert_int_equal(sai_kbs_client_register_resource(c, &g_att, "gen/model/badpol", key, 32,
                                                      "{\"tee\":\"sim\"}", g_kbs.wrap, &err), SAI_EINVAL);
    /* without an attestation token (or with the admin token, or a forged one): 401 */
    const char *body = "{\"secret\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"policy\":{\"tee\":[\"sim\"]}}";
    assert_int_equal(test_req(c, "POST", "/kbs/v0/register/gen/model/x", NULL, body, &resp), 401);
    free(resp);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/register/gen/model/x", g_kbs.admin_hdr, body, &resp), 401);
    free(resp);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/register/gen/model/x",
                              "Authorization: Bearer eyJhbGciOiJFUzM4NCJ9.e30.AAAA", body, &resp), 401);
    free(resp);
    assert_int_equal(sai_kbs_client_get_resource(c, &g_att, "gen/model/x", &sec, NULL, &err), SAI_ENOTFOUND);
    /* the admin can still replace it (admin auth unchanged) */
    assert_int_equal(test_put(&g_kbs, c, "models/model/run1", "replaced-by-admin", pol), 201);
    /* every attempt is in the audit log, with the registrant's measurement */
    assert_int_equal(test_req(c, "GET", "/kbs/v0/admin/audit?limit=50", g_kbs.admin_hdr, NULL, &resp), 200);
    assert_non_null(strstr(resp, "\"event\":\"register\",\"actor\":\"127.0.0.1\",\"subject\":\"models/model/run1\",\"verdict\":\"ok\""));
    assert_non_null(strstr(resp, g_meas_hex));
    assert_non_null(strstr(resp, "\"subject\":\"demo/model/x\",\"verdict\":\"deny\""));
    assert_non_null(strstr(resp, "\"subject\":\"gen/model/x\",\"verdict\":\"deny\""));
    free(resp);
    uint64_t n = 0;
    char head[65];
    assert_int_equal(sai_kbs_audit_verify(g_kbs.dir, &n, head, &err), 0);
    sai_kbs_client_free(c);
}

/* The flow by hand, for the attacks. */
static void do_auth(sai_kbs_client_t *c, char session[65], uint8_t nonce[32])
{
    char *resp = NULL;
    assert_int_equal(test_req(c, "POST", "/kbs/v0/auth", NULL, "{\"version\":\"0.1.0\",\"tee\":\"sim\"}", &resp), 200);
    cJSON *j = cJSON_Parse(resp);
    const char *n = cJSON_GetObjectItem(j, "nonce")->valuestring;
    uint8_t *raw = NULL;
    size_t len = 0;
    assert_int_equal(sai_b64_decode(&raw, &len, n, strlen(n), NULL), 0);
    assert_int_equal(len, 32);
    memcpy(nonce, raw, 32);
    snprintf(session, 65, "%s", cJSON_GetObjectItem(j, "session")->valuestring);
    free(raw);
    cJSON_Delete(j);
    free(resp);
}

/* Evidence binding (nonce, bind_key); the body names send_key. */
static char *attest_body(const char *session, const uint8_t nonce[32], sai_ec_key_t *bind_key,
                         sai_ec_key_t *send_key)
{
    uint8_t pt[SAI_P384_POINT_LEN], rd[64];
    char *ev = NULL, *jwk = NULL;
    size_t evl = 0;
    sai_error_t err;
    assert_int_equal(sai_ec_public_raw(bind_key, pt, &err), 0);
    assert_int_equal(sai_kbs_report_data(rd, nonce, pt, &err), 0);
    assert_int_equal(g_att.evidence(g_att.ctx, rd, &ev, &evl, &err), 0);
    assert_int_equal(sai_kbs_jwk_format(send_key, &jwk, &err), 0);
    size_t n = evl + strlen(jwk) + 200;
    char *body = malloc(n);
    snprintf(body, n, "{\"session\":\"%s\",\"tee-pubkey\":%s,\"evidence\":%s}", session, jwk, ev);
    free(ev);
    free(jwk);
    return body;
}

static char *token_from(const char *resp)
{
    cJSON *j = cJSON_Parse(resp);
    char *t = strdup(cJSON_GetObjectItem(j, "token")->valuestring);
    cJSON_Delete(j);
    return t;
}

static void test_replayed_nonce_refused(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    sai_ec_key_t *k = NULL;
    sai_error_t err;
    char session[65], *resp = NULL;
    uint8_t nonce[32];
    assert_int_equal(sai_ec_generate(&k, &err), 0);
    do_auth(c, session, nonce);
    char *body = attest_body(session, nonce, k, k);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/attest", NULL, body, &resp), 200);
    free(resp);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/attest", NULL, body, &resp), 401);
    assert_non_null(strstr(resp, "already used"));
    free(resp);
    /* A made-up session is refused the same way. */
    char *p = strstr(body, session);
    p[0] = p[0] == 'a' ? 'b' : 'a';
    assert_int_equal(test_req(c, "POST", "/kbs/v0/attest", NULL, body, NULL), 401);
    free(body);
    sai_ec_free(k);
    sai_kbs_client_free(c);
}

static void test_evidence_bound_to_other_key_refused(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    sai_ec_key_t *mine = NULL, *theirs = NULL;
    sai_error_t err;
    char session[65], *resp = NULL;
    uint8_t nonce[32];
    assert_int_equal(sai_ec_generate(&mine, &err), 0);
    assert_int_equal(sai_ec_generate(&theirs, &err), 0);
    do_auth(c, session, nonce);
    /* Evidence captured from a TEE that bound its own key, replayed with ours. */
    char *body = attest_body(session, nonce, theirs, mine);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/attest", NULL, body, &resp), 403);
    assert_non_null(strstr(resp, "report_data"));
    free(resp);
    free(body);
    /* A session opened for another TEE kind: sim evidence does not pass. */
    {
        char *r2 = NULL, sess3[65];
        uint8_t n3[32];
        assert_int_equal(test_req(c, "POST", "/kbs/v0/auth", NULL,
                                  "{\"version\":\"0.1.0\",\"tee\":\"sev-snp\"}", &r2), 200);
        cJSON *j = cJSON_Parse(r2);
        uint8_t *raw = NULL;
        size_t rl = 0;
        const char *nn = cJSON_GetObjectItem(j, "nonce")->valuestring;
        assert_int_equal(sai_b64_decode(&raw, &rl, nn, strlen(nn), NULL), 0);
        memcpy(n3, raw, 32);
        snprintf(sess3, sizeof sess3, "%s", cJSON_GetObjectItem(j, "session")->valuestring);
        free(raw);
        cJSON_Delete(j);
        free(r2);
        body = attest_body(sess3, n3, mine, mine);
        assert_int_equal(test_req(c, "POST", "/kbs/v0/attest", NULL, body, &r2), 403);
        assert_non_null(strstr(r2, "session was for sev-snp"));
        free(r2);
        free(body);
    }
    /* Evidence bound to another session's nonce. */
    uint8_t nonce2[32];
    char session2[65];
    do_auth(c, session2, nonce2);
    body = attest_body(session2, nonce, mine, mine);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/attest", NULL, body, NULL), 403);
    free(body);
    sai_ec_free(mine);
    sai_ec_free(theirs);
    sai_kbs_client_free(c);
}

static char *valid_token(sai_kbs_client_t *c, sai_ec_key_t *k)
{
    char session[65], *resp = NULL;
    uint8_t nonce[32];
    do_auth(c, session, nonce);
    char *body = attest_body(session, nonce, k, k);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/attest", NULL, body, &resp), 200);
    char *t = token_from(resp);
    free(resp);
    free(body);
    return t;
}

static void test_expired_and_tampered_tokens_refused(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    sai_ec_key_t *k = NULL, *signer = NULL;
    sai_error_t err;
    char hdr[8192], path[600], *resp = NULL;
    assert_int_equal(sai_ec_generate(&k, &err), 0);
    put_ok(c, "demo/model/key", "model-key-bytes", g_meas_hex);
    char *tok = valid_token(c, k);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", tok);
    assert_int_equal(test_req(c, "GET", "/kbs/v0/resource/demo/model/key", hdr, NULL, NULL), 200);
    /* Tampered payload (claims) and signature. */
    char *dot = strchr(tok, '.');
    dot[8] = dot[8] == 'A' ? 'B' : 'A';
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", tok);
    assert_int_equal(test_req(c, "GET", "/kbs/v0/resource/demo/model/key", hdr, NULL, &resp), 401);
    assert_non_null(strstr(resp, "signature"));
    free(resp);
    dot[8] = dot[8] == 'A' ? 'B' : 'A';
    size_t n = strlen(tok);
    tok[n - 3] = tok[n - 3] == 'A' ? 'B' : 'A';
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", tok);
    assert_int_equal(test_req(c, "GET", "/kbs/v0/resource/demo/model/key", hdr, NULL, NULL), 401);
    free(tok);
    /* Expired: a token the KBS's own key signed, 10 minutes ago. */
    snprintf(path, sizeof path, "%s/signing.key", g_kbs.dir);
    assert_int_equal(sai_kbs__key_ensure(&signer, path, &err), 0);
    sai_kbs_claims_t cl;
    memset(&cl, 0, sizeof cl);
    snprintf(cl.tee, sizeof cl.tee, "sim");
    snprintf(cl.measurement, sizeof cl.measurement, "%s", g_meas_hex);
    snprintf(cl.tcb_status, sizeof cl.tcb_status, "verified");
    cl.simulated = true;
    char *jwk = NULL;
    assert_int_equal(sai_kbs_jwk_format(k, &jwk, &err), 0);
    assert_int_equal(sai_kbs__token_issue(&tok, signer, &cl, jwk, sai_kbs__wall_now() - 600, 300, &err), 0);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", tok);
    assert_int_equal(test_req(c, "GET", "/kbs/v0/resource/demo/model/key", hdr, NULL, &resp), 401);
    assert_non_null(strstr(resp, "expired"));
    free(resp);
    free(tok);
    /* The same claims, fresh: accepted (so the refusal above is the expiry). */
    assert_int_equal(sai_kbs__token_issue(&tok, signer, &cl, jwk, sai_kbs__wall_now(), 300, &err), 0);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", tok);
    assert_int_equal(test_req(c, "GET", "/kbs/v0/resource/demo/model/key", hdr, NULL, NULL), 200);
    free(tok);
    /* No token at all. */
    assert_int_equal(test_req(c, "GET", "/kbs/v0/resource/demo/model/key", NULL, NULL, NULL), 401);
    free(jwk);
    sai_ec_free(signer);
    sai_ec_free(k);
    sai_kbs_client_free(c);
}

static void test_admin_requires_credential(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    const char *body = "{\"secret\":\"c2VjcmV0\",\"policy\":{\"tee\":[\"sim\"]}}";
    assert_int_equal(test_req(c, "PUT", "/kbs/v0/admin/resource/a/b/c", NULL, body, NULL), 401);
    assert_int_equal(test_req(c, "PUT", "/kbs/v0/admin/resource/a/b/c",
                              "Authorization: Bearer not-the-token-at-all", body, NULL), 401);
    assert_int_equal(test_req(c, "GET", "/kbs/v0/admin/audit", NULL, NULL, NULL), 401);
    assert_int_equal(test_req(c, "DELETE", "/kbs/v0/admin/resource/demo/dataset/key1", NULL, NULL, NULL), 401);
    assert_int_equal(test_req(c, "PUT", "/kbs/v0/admin/policy", NULL, "allow_debug: true\n", NULL), 401);
    /* Nothing was stored; with the token it works, and delete removes it. */
    assert_int_equal(test_req(c, "GET", "/kbs/v0/admin/resource/a/b/c", g_kbs.admin_hdr, NULL, NULL), 404);
    assert_int_equal(test_req(c, "PUT", "/kbs/v0/admin/resource/a/b/c", g_kbs.admin_hdr, body, NULL), 201);
    assert_int_equal(test_req(c, "GET", "/kbs/v0/admin/resource/a/b/c", g_kbs.admin_hdr, NULL, NULL), 200);
    assert_int_equal(test_req(c, "DELETE", "/kbs/v0/admin/resource/a/b/c", g_kbs.admin_hdr, NULL, NULL), 200);
    assert_int_equal(test_req(c, "GET", "/kbs/v0/admin/resource/a/b/c", g_kbs.admin_hdr, NULL, NULL), 404);
    sai_kbs_client_free(c);
}

static void test_attestation_policy_via_admin(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    sai_secret_t *sec = NULL;
    sai_error_t err;
    put_ok(c, "demo/dataset/pol", "policy-test", g_meas_hex);
    assert_int_equal(test_req(c, "PUT", "/kbs/v0/admin/policy", g_kbs.admin_hdr,
                              "allowed_tee: [sev-snp]\n", NULL), 201);
    assert_int_equal(sai_kbs_client_get_resource(c, &g_att, "demo/dataset/pol", &sec, NULL, &err), SAI_EPOLICY);
    assert_int_equal(test_req(c, "PUT", "/kbs/v0/admin/policy", g_kbs.admin_hdr,
                              "allowed_tee: [sim]\nunknown_key: 1\n", NULL), 400);
    assert_int_equal(test_req(c, "PUT", "/kbs/v0/admin/policy", g_kbs.admin_hdr,
                              "allowed_tee: [sim]\nallow_simulated: true\n", NULL), 201);
    assert_int_equal(sai_kbs_client_get_resource(c, &g_att, "demo/dataset/pol", &sec, NULL, &err), 0);
    sai_secret_free(sec);
    sai_kbs_client_free(c);
}

static void test_malformed_and_oversized_bodies(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    static const char *bad[] = {
        "{", "[]", "null", "{\"version\":\"0.1.0\"}", "{\"version\":\"0.1.0\",\"tee\":7}",
        "{\"version\":\"0.1.0\",\"tee\":\"simsimsimsimsimsimsim\"}", "\"str\"", "{\"a\":[[[[[[[[[[]]]]]]]]]]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *resp = NULL;
        int st = test_req(c, "POST", "/kbs/v0/auth", NULL, bad[i], &resp);
        assert_true(st >= 400 && st < 500);
        cJSON *j = cJSON_Parse(resp);
        assert_non_null(j);
        assert_true(cJSON_IsString(cJSON_GetObjectItem(j, "error")));
        cJSON_Delete(j);
        free(resp);
        st = test_req(c, "POST", "/kbs/v0/attest", NULL, bad[i], NULL);
        assert_true(st >= 400 && st < 500);
    }
    /* A bad JWK, a bad evidence type. */
    assert_int_equal(test_req(c, "POST", "/kbs/v0/attest", NULL,
        "{\"session\":\"00\",\"tee-pubkey\":{\"kty\":\"RSA\"},\"evidence\":{}}", NULL), 400);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/attest", NULL,
        "{\"session\":\"00\",\"tee-pubkey\":{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"},\"evidence\":1}", NULL), 400);
    /* Over the 64 KiB body cap. */
    size_t big = 70 * 1024;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    huge[big] = '\0';
    int status = test_req(c, "POST", "/kbs/v0/auth", NULL, huge, NULL);
    assert_int_equal(status, 413);
    free(huge);
    /* Far over it: drained, never buffered, then 413. */
    big = 4 * 1024 * 1024;
    huge = malloc(big + 1);
    memset(huge, 'x', big);
    huge[big] = '\0';
    sai_kbs_client_free(c);
    c = test_client(&g_kbs);
    status = test_req(c, "POST", "/kbs/v0/attest", NULL, huge, NULL);
    assert_int_equal(status, 413);
    free(huge);
    sai_kbs_client_free(c);
    /* Unknown paths and methods. */
    c = test_client(&g_kbs);
    assert_int_equal(test_req(c, "GET", "/nope", NULL, NULL, NULL), 404);
    assert_int_equal(test_req(c, "GET", "/kbs/v0/auth", NULL, NULL, NULL), 405);
    assert_int_equal(test_req(c, "GET", "/kbs/v0/resource/../../etc", "Authorization: Bearer x", NULL, NULL), 401);
    /* Still serving. */
    assert_int_equal(test_req(c, "GET", "/healthz", NULL, NULL, NULL), 200);
    sai_kbs_client_free(c);
}

/* Numbered protocol cases, tests/kbs/cases/NNNN.case: METHOD, PATH, optional
 * HEADER (@ADMIN@ is replaced by the admin token) and BODY lines, the
 * expected STATUS and a substring EXPECTed in the answer. */
static void test_protocol_cases(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/tests/kbs/cases/*.case", SAI_SOURCE_DIR);
    FILE *ls = popen(cmd, "r");
    assert_non_null(ls);
    char file[512];
    int n = 0;
    sai_kbs_client_t *c = test_client(&g_kbs);
    const char *admin = strchr(g_kbs.admin_hdr, ' ') + 1 + strlen("Bearer ");
    while (fgets(file, sizeof file, ls)) {
        file[strcspn(file, "\n")] = '\0';
        uint8_t *text = NULL;
        size_t len = 0;
        sai_error_t err;
        assert_int_equal(sai_read_file(file, 64 * 1024, &text, &len, &err), 0);
        char method[16] = "", path[512] = "", hdr[512] = "", body[8192] = "", expect[256] = "";
        int status = 0;
        char *save = NULL;
        for (char *line = strtok_r((char *)text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (strncmp(line, "METHOD ", 7) == 0) snprintf(method, sizeof method, "%s", line + 7);
            else if (strncmp(line, "PATH ", 5) == 0) snprintf(path, sizeof path, "%s", line + 5);
            else if (strncmp(line, "BODY ", 5) == 0) snprintf(body, sizeof body, "%s", line + 5);
            else if (strncmp(line, "STATUS ", 7) == 0) status = atoi(line + 7);
            else if (strncmp(line, "EXPECT ", 7) == 0) snprintf(expect, sizeof expect, "%s", line + 7);
            else if (strncmp(line, "HEADER ", 7) == 0) {
                char *at = strstr(line + 7, "@ADMIN@");
                if (at) {
                    *at = '\0';
                    snprintf(hdr, sizeof hdr, "%s%s%s", line + 7, admin, at + 7);
                } else {
                    snprintf(hdr, sizeof hdr, "%s", line + 7);
                }
            }
        }
        char *resp = NULL;
        int got = test_req(c, method, path, hdr[0] ? hdr : NULL, body[0] ? body : NULL, &resp);
        if (got != status || resp == NULL || strstr(resp, expect) == NULL)
            fail_msg("%s: %s %s -> %d %s (want %d with \"%s\")", file, method, path, got,
                     resp ? resp : "", status, expect);
        free(resp);
        free(text);
        n++;
    }
    pclose(ls);
    assert_true(n >= 28);
    assert_int_equal(test_req(c, "GET", "/healthz", NULL, NULL, NULL), 200);
    sai_kbs_client_free(c);
}

static void test_metrics(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    char *resp = NULL;
    assert_int_equal(test_req(c, "GET", "/metrics", NULL, NULL, &resp), 200);
    assert_non_null(strstr(resp, "# TYPE sai_kbs_request_duration_seconds histogram"));
    assert_non_null(strstr(resp, "sai_kbs_request_duration_seconds_bucket{route=\"attest\",le=\"+Inf\"}"));
    assert_non_null(strstr(resp, "sai_kbs_verdicts_total{event=\"release\",verdict=\"allow\"}"));
    assert_non_null(strstr(resp, "sai_kbs_requests_total{route=\"auth\",code=\"4xx\"}"));
    free(resp);
    sai_kbs_client_free(c);
}

static void test_client_verifies_server(void **state)
{
    (void)state;
    sai_error_t err;
    sai_secret_t *sec = NULL;
    char pin[65];
    snprintf(pin, sizeof pin, "%s", g_kbs.fp);
    pin[10] = pin[10] == '0' ? '1' : '0';
    sai_kbs_client_opts_t o = {.url = g_kbs.url, .pin_sha256 = pin};
    assert_int_equal(sai_kbs_get_resource(&o, &g_att, "demo/dataset/key1", &sec, &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "TLS"));
    /* A CA that did not sign the KBS certificate. */
    char other_dir[256], ca[400], key[400], fp[65];
    bool created;
    test_mkdtemp(other_dir, sizeof other_dir);
    snprintf(ca, sizeof ca, "%s/ca.crt", other_dir);
    snprintf(key, sizeof key, "%s/ca.key", other_dir);
    assert_int_equal(sai_kbs__tls_ensure(ca, key, fp, &created, &err), 0);
    sai_kbs_client_opts_t o2 = {.url = g_kbs.url, .ca_file = ca};
    assert_int_equal(sai_kbs_get_resource(&o2, &g_att, "demo/dataset/key1", &sec, &err), SAI_EAUTH);
    /* The same wrong CA as PEM bytes is refused too; a PEM buffer without a
     * certificate (or with a truncated one) is refused before connecting. */
    uint8_t *pem = NULL;
    size_t pem_len = 0;
    assert_int_equal(sai_read_file(ca, 1 << 20, &pem, &pem_len, &err), 0);
    sai_kbs_client_opts_t op = {.url = g_kbs.url, .ca_pem = (const char *)pem, .ca_pem_len = pem_len};
    assert_int_equal(sai_kbs_get_resource(&op, &g_att, "demo/dataset/key1", &sec, &err), SAI_EAUTH);
    sai_kbs_client_t *bad = NULL;
    op.ca_pem_len = pem_len / 2;
    assert_int_equal(sai_kbs_client_new(&bad, &op, &err), SAI_EFORMAT);
    op.ca_pem = "not a certificate";
    op.ca_pem_len = strlen(op.ca_pem);
    assert_int_equal(sai_kbs_client_new(&bad, &op, &err), SAI_EFORMAT);
    free(pem);
    /* No way to verify -> refused before connecting. */
    sai_kbs_client_opts_t o3 = {.url = g_kbs.url};
    sai_kbs_client_t *c = NULL;
    assert_int_equal(sai_kbs_client_new(&c, &o3, &err), SAI_EINVAL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", other_dir);
    assert_int_equal(system(cmd), 0);
}

static void test_down_kbs_bounded_error(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);  /* a port nobody listens on */
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%d", ntohs(sa.sin_port));
    sai_kbs_client_opts_t o = {.url = url, .pin_sha256 = g_kbs.fp, .retries = 3, .timeout_s = 2};
    sai_secret_t *sec = NULL;
    sai_error_t err;
    double t0 = sai_now();
    assert_int_equal(sai_kbs_get_resource(&o, &g_att, "demo/dataset/key1", &sec, &err), SAI_ENET);
    double dt = sai_now() - t0;
    assert_true(dt < 3.0);
    assert_non_null(strstr(err.msg, "after 3 attempts"));
}

/* ---- limits, each on its own server ------------------------------------------ */
static void tweak_limits(sai_kbs_config_t *c)
{
    tweak_main(c);
    c->header_timeout_s = 2;
    c->idle_timeout_s = 1;
    c->max_connections = 4;
    c->rate_per_s = 1;
    c->rate_burst = 3;
}

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Seconds until the server closes fd (or `limit` if it does not). */
static double time_to_close(int fd, double limit)
{
    double t0 = sai_now();
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (sai_now() - t0 < limit) {
        if (poll(&p, 1, 50) > 0) {
            char b[256];
            ssize_t n = recv(fd, b, sizeof b, 0);
            if (n <= 0)
                return sai_now() - t0;
        }
    }
    return limit;
}

static void test_limits(void **state)
{
    (void)state;
    test_kbs t;
    memset(&t, 0, sizeof t);
    assert_int_equal(test_kbs_start(&t, tweak_limits), 0);
    int port = sai_kbs_server_port(t.srv);
    /* A slow client that trickles bytes is cut at the deadline. */
    int slow = raw_connect(port);
    assert_true(slow >= 0);
    double t0 = sai_now();
    bool closed = false;
    while (sai_now() - t0 < 6.0 && !closed) {
        if (send(slow, "\x16", 1, MSG_NOSIGNAL) != 1)
            closed = true;
        struct pollfd p = {.fd = slow, .events = POLLIN};
        if (poll(&p, 1, 300) > 0) {
            char b[64];
            if (recv(slow, b, sizeof b, 0) <= 0)
                closed = true;
        }
    }
    assert_true(closed);
    assert_true(sai_now() - t0 < 4.5);   /* the 2 s deadline, not the bytes, decided */
    close(slow);
    /* Connection cap: 4 held; the 5th is closed at once. */
    usleep(200 * 1000);
    int held[4];
    for (int i = 0; i < 4; i++)
        assert_true((held[i] = raw_connect(port)) >= 0);
    usleep(100 * 1000);
    int extra = raw_connect(port);
    assert_true(extra >= 0);
    assert_true(time_to_close(extra, 3.0) < 1.2);   /* well before the 2 s deadline */
    close(extra);
    for (int i = 0; i < 4; i++)
        close(held[i]);
    usleep(2200 * 1000);
    /* Rate limit: a burst of 3 at 1/s, then 429 (one attempt: the client
     * would otherwise wait out Retry-After). */
    sai_kbs_client_t *c = test_client_retries(&t, 1);
    int ok = 0, limited = 0;
    double t1 = sai_now();
    for (int i = 0; i < 12; i++) {
        int st = test_req(c, "POST", "/kbs/v0/auth", NULL, "{\"version\":\"0.1.0\",\"tee\":\"sim\"}", NULL);
        ok += st == 200;
        limited += st == 429;
    }
    assert_true(ok >= 3 && ok <= 3 + (int)(sai_now() - t1) + 1);
    assert_true(limited >= 6);
    assert_int_equal(test_req(c, "GET", "/healthz", NULL, NULL, NULL), 200);
    /* The server closes the idle kept-alive connection (idle + header
     * deadline, 3 s here); the client's next request goes out on a fresh
     * connection at once, not after the 100 ms backoff meant for a KBS that
     * is down (a pipeline enclave trains between its two key requests). */
    usleep(3500 * 1000);
    double t2 = sai_now();
    assert_int_equal(test_req(c, "GET", "/healthz", NULL, NULL, NULL), 200);
    assert_true(sai_now() - t2 < 0.095);
    sai_kbs_client_free(c);
    test_kbs_stop(&t, true);
}

/* A registered secret travels wrapped to the KBS's long-term wrap key
 * (attack 4 of docs/threat-model.md: a passive proxy on the path reads
 * nothing): the server refuses a clear one even with a valid attestation
 * token; the client refuses a KBS whose wrap key is not the pinned one
 * before sending anything; a wrap is good for one resource name and one
 * attestation token only. */
static void test_registration_is_wrapped(void **state)
{
    (void)state;
    sai_kbs_client_t *c = test_client(&g_kbs);
    sai_error_t err;
    sai_secret_t *sec = NULL;
    char *token = NULL, *resp = NULL, *jwe = NULL, hdr[2048], body[4096], pol[300];
    struct stat st;
    char path[700];
    snprintf(pol, sizeof pol, "{\"tee\":[\"sim\"],\"allow_simulated\":true,\"measurements\":[\"%s\"]}",
             g_meas_hex);
    /* the key pair on disk: private 0600, public next to it */
    snprintf(path, sizeof path, "%s/wrap.key", g_kbs.dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/wrap.pub", g_kbs.dir);
    uint8_t *pem = NULL;
    size_t pem_len = 0;
    sai_ec_key_t *wk = NULL;
    assert_int_equal(sai_read_file(path, 65536, &pem, &pem_len, &err), 0);
    assert_int_equal(sai_ec_from_pem(&wk, (const char *)pem, pem_len, &err), 0);
    assert_false(sai_ec_has_private(wk));
    free(pem);
    /* GET /kbs/v0/wrap-key serves it with its hash */
    char hex[65];
    sai_hex_encode(hex, g_kbs.wrap, 32);
    assert_int_equal(test_req(c, "GET", "/kbs/v0/wrap-key", NULL, NULL, &resp), 200);
    assert_non_null(strstr(resp, hex));
    free(resp);
    /* a valid attestation token (from a release) */
    put_ok(c, "demo/dataset/wraptok", "k", g_meas_hex);
    assert_int_equal(sai_kbs_client_get_resource(c, &g_att, "demo/dataset/wraptok", &sec, &token, &err), 0);
    sai_secret_free(sec);
    snprintf(hdr, sizeof hdr, "Authorization: Bearer %s", token);
    /* a clear secret is refused, token or not */
    snprintf(body, sizeof body, "{\"secret\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"policy\":%s}", pol);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/register/gen/model/clear", hdr, body, &resp), 403);
    assert_non_null(strstr(resp, "unwrapped"));
    free(resp);
    assert_int_equal(sai_kbs_client_get_resource(c, &g_att, "gen/model/clear", &sec, NULL, &err), SAI_ENOTFOUND);
    /* a wrap for another name, or made under another token, does not open */
    const uint8_t key[32] = {5, 4, 3};
    assert_int_equal(sai_kbs_wrap_register(&jwe, wk, "gen/model/a", token, key, 32, &err), 0);
    snprintf(body, sizeof body, "{\"jwe\":\"%s\",\"policy\":%s}", jwe, pol);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/register/gen/model/b", hdr, body, &resp), 403);
    free(resp);
    free(jwe);
    assert_int_equal(sai_kbs_wrap_register(&jwe, wk, "gen/model/a", "another.token.x", key, 32, &err), 0);
    snprintf(body, sizeof body, "{\"jwe\":\"%s\",\"policy\":%s}", jwe, pol);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/register/gen/model/a", hdr, body, &resp), 403);
    free(resp);
    free(jwe);
    /* the right name and token: registered, and released as it was made;
     * not on POST /kbs/v0/resource/... (Trustee's admin set-resource), which
     * is no route here (405) */
    assert_int_equal(sai_kbs_wrap_register(&jwe, wk, "gen/model/a", token, key, 32, &err), 0);
    snprintf(body, sizeof body, "{\"jwe\":\"%s\",\"policy\":%s}", jwe, pol);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/resource/gen/model/a", hdr, body, &resp), 405);
    free(resp);
    assert_int_equal(test_req(c, "POST", "/kbs/v0/register/gen/model/a", hdr, body, &resp), 201);
    free(resp);
    free(jwe);
    assert_int_equal(sai_kbs_client_get_resource(c, &g_att, "gen/model/a", &sec, NULL, &err), 0);
    assert_memory_equal(sec->data, key, 32);
    sai_secret_free(sec);
    /* a KBS whose wrap key is not the pinned one gets nothing */
    uint8_t wrong[32];
    memcpy(wrong, g_kbs.wrap, 32);
    wrong[0] ^= 1;
    assert_int_equal(sai_kbs_client_register_resource(c, &g_att, "gen/model/wrongpin", key, 32, pol, wrong, &err),
                     SAI_EAUTH);
    assert_non_null(strstr(err.msg, "not the pinned"));
    assert_int_equal(sai_kbs_client_get_resource(c, &g_att, "gen/model/wrongpin", &sec, NULL, &err), SAI_ENOTFOUND);
    sai_ec_free(wk);
    free(token);
    sai_kbs_client_free(c);
}

/* The client takes plain http:// only when its caller allows it, and says
 * which channel it uses. */
static void test_client_refuses_http_unless_allowed(void **state)
{
    (void)state;
    sai_kbs_client_t *c = NULL;
    sai_error_t err;
    sai_kbs_client_opts_t o = {.url = "http://127.0.0.1:1"};
    assert_int_equal(sai_kbs_client_new(&c, &o, &err), SAI_EPOLICY);
    assert_null(c);
    assert_non_null(strstr(err.msg, "plain HTTP"));
    o.pin_sha256 = g_kbs.fp;   /* a pin does not make http acceptable */
    assert_int_equal(sai_kbs_client_new(&c, &o, &err), SAI_EPOLICY);
    o.allow_insecure_http = true;
    assert_int_equal(sai_kbs_client_new(&c, &o, &err), 0);
    assert_string_equal(sai_kbs_channel_name(sai_kbs_client_channel(c)), "insecure-http");
    sai_kbs_client_free(c);
    sai_kbs_client_opts_t p = {.url = g_kbs.url, .pin_sha256 = g_kbs.fp};
    assert_int_equal(sai_kbs_client_new(&c, &p, &err), 0);
    assert_string_equal(sai_kbs_channel_name(sai_kbs_client_channel(c)), "tls-pin");
    sai_kbs_client_free(c);
    char ca[600];
    snprintf(ca, sizeof ca, "%s/tls.crt", g_kbs.dir);
    sai_kbs_client_opts_t q = {.url = g_kbs.url, .ca_file = ca};
    assert_int_equal(sai_kbs_client_new(&c, &q, &err), 0);
    assert_string_equal(sai_kbs_channel_name(sai_kbs_client_channel(c)), "tls-ca");
    sai_kbs_client_free(c);
}

static void test_insecure_http_loopback_only(void **state)
{
    (void)state;
    sai_kbs_config_t cfg;
    sai_kbs_server_t *s = NULL;
    sai_error_t err;
    char dir[256];
    test_mkdtemp(dir, sizeof dir);
    sai_kbs_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
    snprintf(cfg.listen_addr, sizeof cfg.listen_addr, "0.0.0.0");
    cfg.port = 0;
    cfg.insecure_http = true;
    cfg.quiet = true;
    assert_int_equal(sai_kbs_server_new(&s, &cfg, &g_kbs.v, &err), SAI_EPOLICY);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_happy_path),
        cmocka_unit_test(test_release_waits_for_durable_record),
        cmocka_unit_test(test_tls_resumption),
        cmocka_unit_test(test_wrong_measurement_refused),
        cmocka_unit_test(test_attested_registration),
        cmocka_unit_test(test_registration_is_wrapped),
        cmocka_unit_test(test_client_refuses_http_unless_allowed),
        cmocka_unit_test(test_replayed_nonce_refused),
        cmocka_unit_test(test_evidence_bound_to_other_key_refused),
        cmocka_unit_test(test_expired_and_tampered_tokens_refused),
        cmocka_unit_test(test_admin_requires_credential),
        cmocka_unit_test(test_attestation_policy_via_admin),
        cmocka_unit_test(test_malformed_and_oversized_bodies),
        cmocka_unit_test(test_protocol_cases),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_client_verifies_server),
        cmocka_unit_test(test_down_kbs_bounded_error),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_insecure_http_loopback_only),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
