/* test_kbs_units.c — the KBS's building blocks without the network: secret
 * wrapping, JWKs, result tokens, release policies, the session table, the
 * store's at-rest encryption and the audit chain's tamper detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>

#include "kbs/kbs_test.h"
#include "secureai/tee.h"

static void test_wrap_roundtrip_and_tamper(void **state)
{
    (void)state;
    sai_ec_key_t *tee = NULL, *other = NULL;
    sai_error_t err;
    char *jwe = NULL;
    sai_secret_t *out = NULL;
    const uint8_t secret[] = "dataset key 0123456789abcdef0123";
    assert_int_equal(sai_ec_generate(&tee, &err), 0);
    assert_int_equal(sai_ec_generate(&other, &err), 0);
    assert_int_equal(sai_kbs_wrap(&jwe, tee, secret, sizeof secret, &err), 0);
    assert_null(strstr(jwe, "dataset"));
    assert_int_equal(sai_kbs_unwrap(&out, tee, jwe, strlen(jwe), &err), 0);
    assert_int_equal(out->len, sizeof secret);
    assert_memory_equal(out->data, secret, sizeof secret);
    sai_secret_free(out);
    /* Another key cannot open it. */
    assert_int_equal(sai_kbs_unwrap(&out, other, jwe, strlen(jwe), &err), SAI_EAUTH);
    assert_null(out);
    /* Any flipped character in any part fails. */
    size_t n = strlen(jwe);
    for (size_t i = 0; i < n; i += 7) {
        if (jwe[i] == '.')
            continue;
        char saved = jwe[i];
        jwe[i] = saved == 'A' ? 'B' : 'A';
        assert_int_not_equal(sai_kbs_unwrap(&out, tee, jwe, n, &err), 0);
        assert_null(out);
        jwe[i] = saved;
    }
    free(jwe);
    sai_ec_free(tee);
    sai_ec_free(other);
}

/* The registration direction: round trip, and the wrap is bound to its
 * resource name, its attestation token and its purpose (a release wrap
 * and a registration wrap do not open as each other). */
static void test_wrap_register_binding(void **state)
{
    (void)state;
    sai_ec_key_t *kbs = NULL;
    sai_error_t err;
    char *jwe = NULL, *rel = NULL;
    sai_secret_t *out = NULL;
    const uint8_t key[32] = {1, 2, 3, 4, 5};
    assert_int_equal(sai_ec_generate(&kbs, &err), 0);
    assert_int_equal(sai_kbs_wrap_register(&jwe, kbs, "gen/model/r1", "tok.en.1", key, 32, &err), 0);
    assert_int_equal(sai_kbs_unwrap_register(&out, kbs, "gen/model/r1", "tok.en.1", jwe, strlen(jwe), &err), 0);
    assert_int_equal(out->len, 32);
    assert_memory_equal(out->data, key, 32);
    sai_secret_free(out);
    assert_int_equal(sai_kbs_unwrap_register(&out, kbs, "gen/model/r2", "tok.en.1", jwe, strlen(jwe), &err),
                     SAI_EAUTH);
    assert_int_equal(sai_kbs_unwrap_register(&out, kbs, "gen/model/r1", "tok.en.2", jwe, strlen(jwe), &err),
                     SAI_EAUTH);
    assert_int_equal(sai_kbs_unwrap(&out, kbs, jwe, strlen(jwe), &err), SAI_EAUTH);
    assert_null(out);
    assert_int_equal(sai_kbs_wrap(&rel, kbs, key, 32, &err), 0);
    assert_int_equal(sai_kbs_unwrap_register(&out, kbs, "gen/model/r1", "tok.en.1", rel, strlen(rel), &err),
                     SAI_EAUTH);
    free(jwe);
    assert_int_equal(sai_kbs_wrap_register(&jwe, kbs, "not a name", "t", key, 32, &err), SAI_EINVAL);
    assert_null(jwe);
    /* the pin form: SHA-256 of the raw point */
    uint8_t h[32], pt[SAI_P384_POINT_LEN], want[32];
    assert_int_equal(sai_kbs_wrap_key_hash(kbs, h, &err), 0);
    assert_int_equal(sai_ec_public_raw(kbs, pt, &err), 0);
    assert_int_equal(sai_hash(SAI_SHA256, want, pt, sizeof pt, &err), 0);
    assert_memory_equal(h, want, 32);
    free(rel);
    sai_ec_free(kbs);
}

static void test_jwk(void **state)
{
    (void)state;
    sai_ec_key_t *k = NULL, *back = NULL;
    sai_error_t err;
    char *json = NULL;
    uint8_t a[SAI_P384_POINT_LEN], b[SAI_P384_POINT_LEN];
    assert_int_equal(sai_ec_generate(&k, &err), 0);
    assert_int_equal(sai_kbs_jwk_format(k, &json, &err), 0);
    assert_int_equal(sai_kbs_jwk_parse(&back, json, strlen(json), &err), 0);
    assert_int_equal(sai_ec_public_raw(k, a, &err), 0);
    assert_int_equal(sai_ec_public_raw(back, b, &err), 0);
    assert_memory_equal(a, b, sizeof a);
    sai_ec_free(back);
    /* Off-curve point, wrong curve, private member, short coordinate. */
    char bad[600];
    snprintf(bad, sizeof bad, "%s", json);
    char *x = strstr(bad, "\"x\":\"") + 5;
    x[3] = x[3] == 'A' ? 'B' : 'A';
    assert_int_equal(sai_kbs_jwk_parse(&back, bad, strlen(bad), &err), SAI_EINVAL);
    assert_int_equal(sai_kbs_jwk_parse(&back, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}",
                                       50, &err), SAI_EINVAL);
    snprintf(bad, sizeof bad, "%.*s,\"d\":\"AAAA\"}", (int)strlen(json) - 1, json);
    assert_int_equal(sai_kbs_jwk_parse(&back, bad, strlen(bad), &err), SAI_EINVAL);
    assert_int_equal(sai_kbs_jwk_parse(&back, "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AAAA\",\"y\":\"AAAA\"}",
                                       52, &err), SAI_EINVAL);
    assert_null(back);
    free(json);
    sai_ec_free(k);
}

/* The self-signed TLS certificate is generated on ECDSA P-256 (a handshake
 * costs ~0.1 ms of signing and verification instead of ~1.5 ms on P-384),
 * its key file is 0600, the pin matches the certificate, and a second call
 * keeps both files. */
static void test_tls_self_signed_p256(void **state)
{
    (void)state;
    char dir[256], cert[400], key[400], fp[65], fp2[65];
    sai_error_t err;
    bool created = false;
    struct stat st;
    test_mkdtemp(dir, sizeof dir);
    snprintf(cert, sizeof cert, "%s/tls.crt", dir);
    snprintf(key, sizeof key, "%s/tls.key", dir);
    assert_int_equal(sai_kbs__tls_ensure(cert, key, fp, &created, &err), 0);
    assert_true(created);
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    FILE *f = fopen(key, "r");
    assert_non_null(f);
    EVP_PKEY *pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(pk);
    char group[64] = "";
    size_t glen = 0;
    assert_int_equal(EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof group, &glen), 1);
    assert_string_equal(group, "prime256v1");
    EVP_PKEY_free(pk);
    assert_int_equal(sai_kbs__tls_ensure(cert, key, fp2, &created, &err), 0);
    assert_false(created);
    assert_string_equal(fp, fp2);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void claims_fill(sai_kbs_claims_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->tee, sizeof c->tee, "sim");
    memset(c->measurement, 'a', 96);
    memset(c->host_data, 'b', 64);
    c->tcb[0] = 3; c->tcb[1] = 0; c->tcb[2] = 8; c->tcb[3] = 115;
    snprintf(c->tcb_status, sizeof c->tcb_status, "up-to-date");
    snprintf(c->policy_id, sizeof c->policy_id, "default");
    c->simulated = true;
}

static void test_token(void **state)
{
    (void)state;
    sai_ec_key_t *signer = NULL, *other = NULL, *tee = NULL, *got = NULL;
    sai_error_t err;
    sai_kbs_claims_t c, back;
    char *jwk = NULL, *jwt = NULL;
    claims_fill(&c);
    assert_int_equal(sai_ec_generate(&signer, &err), 0);
    assert_int_equal(sai_ec_generate(&other, &err), 0);
    assert_int_equal(sai_ec_generate(&tee, &err), 0);
    assert_int_equal(sai_kbs_jwk_format(tee, &jwk, &err), 0);
    int64_t now = 1800000000;
    assert_int_equal(sai_kbs__token_issue(&jwt, signer, &c, jwk, now, 300, &err), 0);
    assert_int_equal(sai_kbs__token_verify(signer, jwt, strlen(jwt), now + 10, &back, &got, &err), 0);
    assert_string_equal(back.measurement, c.measurement);
    assert_string_equal(back.host_data, c.host_data);
    assert_memory_equal(back.tcb, c.tcb, 4);
    assert_true(back.simulated);
    sai_ec_free(got);
    /* Expired, wrong signer, tampered payload, alg none. */
    assert_int_equal(sai_kbs__token_verify(signer, jwt, strlen(jwt), now + 300, &back, &got, &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "expired"));
    assert_int_equal(sai_kbs__token_verify(other, jwt, strlen(jwt), now, &back, &got, &err), SAI_EAUTH);
    char *dot = strchr(jwt, '.');
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    assert_int_equal(sai_kbs__token_verify(signer, jwt, strlen(jwt), now, &back, &got, &err), SAI_EAUTH);
    assert_null(got);
    char none[400];
    snprintf(none, sizeof none, "eyJhbGciOiJub25lIn0.%s", dot + 1);
    assert_int_equal(sai_kbs__token_verify(signer, none, strlen(none), now, &back, &got, &err), SAI_EAUTH);
    free(jwk);
    free(jwt);
    sai_ec_free(signer);
    sai_ec_free(other);
    sai_ec_free(tee);
}

static void test_policy(void **state)
{
    (void)state;
    sai_kbs_claims_t c;
    sai_error_t err;
    char pol[800], meas[97];
    claims_fill(&c);
    memset(meas, 'a', 96);
    meas[96] = '\0';
    snprintf(pol, sizeof pol, "{\"tee\":[\"sim\"],\"allow_simulated\":true,\"measurements\":[\"%s\"],"
             "\"min_tcb\":{\"snp\":8},\"pipeline_spec_hash\":\"%.64s\"}", meas, c.host_data);
    assert_int_equal(sai_kbs_policy_validate(pol, strlen(pol), &err), 0);
    assert_int_equal(sai_kbs_policy_check(pol, &c, &err), 0);
    sai_kbs_claims_t d = c;
    d.measurement[0] = 'c';
    assert_int_equal(sai_kbs_policy_check(pol, &d, &err), SAI_EPOLICY);
    assert_non_null(strstr(err.msg, "allow-list"));
    d = c;
    d.tcb[2] = 7;
    assert_int_equal(sai_kbs_policy_check(pol, &d, &err), SAI_EPOLICY);
    d = c;
    d.debug = true;
    assert_int_equal(sai_kbs_policy_check(pol, &d, &err), SAI_EPOLICY);
    d = c;
    d.host_data[0] = 'c';
    assert_int_equal(sai_kbs_policy_check(pol, &d, &err), SAI_EPOLICY);
    d = c;
    snprintf(d.tee, sizeof d.tee, "tdx");
    assert_int_equal(sai_kbs_policy_check(pol, &d, &err), SAI_EPOLICY);
    /* Simulated evidence needs allow_simulated. */
    assert_int_equal(sai_kbs_policy_check("{\"tee\":[\"sim\"]}", &c, &err), SAI_EPOLICY);
    /* Strictness: unknown member, no tee list, bad types. */
    assert_int_equal(sai_kbs_policy_validate("{\"tee\":[\"sim\"],\"measurement\":[]}", 34, &err), SAI_EINVAL);
    assert_int_equal(sai_kbs_policy_validate("{}", 2, &err), SAI_EINVAL);
    assert_int_equal(sai_kbs_policy_validate("{\"tee\":[\"sim\"],\"allow_debug\":1}", 32, &err), SAI_EINVAL);
}

static void test_sessions_single_use_and_expiry(void **state)
{
    (void)state;
    sai_kbs_sessions_t *t = NULL;
    sai_error_t err;
    char id[33], tee[16];
    uint8_t n1[32], n2[32];
    assert_int_equal(sai_kbs__sessions_new(&t, 4, 0, 1, &err), 0);
    assert_int_equal(sai_kbs__session_create(t, "sim", "10.0.0.1", id, n1, &err), 0);
    assert_int_equal(sai_kbs__session_take(t, id, tee, n2, &err), 0);
    assert_memory_equal(n1, n2, 32);
    assert_string_equal(tee, "sim");
    assert_int_equal(sai_kbs__session_take(t, id, tee, n2, &err), SAI_ENOTFOUND);
    /* A full table makes room by evicting its oldest pending session. */
    char ids[5][33];
    for (int i = 0; i < 5; i++)
        assert_int_equal(sai_kbs__session_create(t, "sim", "10.0.0.1", ids[i], n1, &err), 0);
    assert_int_equal(sai_kbs__session_take(t, ids[0], tee, n2, &err), SAI_ENOTFOUND);
    assert_int_equal(sai_kbs__session_take(t, ids[1], tee, n2, &err), 0);
    assert_int_equal(sai_kbs__sessions_evicted(t), 1);
    /* Expiry. */
    sleep(2);
    assert_int_equal(sai_kbs__session_take(t, ids[4], tee, n2, &err), SAI_EAUTH);
    assert_int_equal(sai_kbs__session_create(t, "sim", "10.0.0.1", id, n1, &err), 0);
    sai_kbs__sessions_free(t);
}

/* Issue 13: /auth from 8 addresses, far past the table's size, never gets
 * a legitimate client refused, nor its pending session lost: each address
 * only displaces its own oldest sessions. */
static void test_sessions_flood_per_address(void **state)
{
    (void)state;
    sai_kbs_sessions_t *t = NULL;
    sai_error_t err;
    char id[33], mine[33], tee[16], addr[32];
    uint8_t n[32], got[32], my_nonce[32];
    assert_int_equal(sai_kbs__sessions_new(&t, 64, 4, 60, &err), 0);
    for (int round = 0; round < 50; round++) {
        if (round == 10)
            assert_int_equal(sai_kbs__session_create(t, "sim", "192.0.2.1", mine, my_nonce, &err), 0);
        for (int a = 0; a < 8; a++) {
            snprintf(addr, sizeof addr, "10.0.0.%d", a + 1);
            assert_int_equal(sai_kbs__session_create(t, "sim", addr, id, n, &err), 0);
        }
    }
    assert_true(sai_kbs__sessions_live(t) <= 8 * 4 + 1);
    assert_int_equal(sai_kbs__session_take(t, mine, tee, got, &err), 0);
    assert_memory_equal(got, my_nonce, 32);
    /* The newest of a flooding address is there, its older ones are not. */
    assert_int_equal(sai_kbs__session_take(t, id, tee, got, &err), 0);
    assert_true(sai_kbs__sessions_evicted(t) >= 8 * 45);
    /* Many addresses (more than the table holds at 4 each): the oldest
     * pending sessions go first, so a fresh one survives. */
    for (int a = 0; a < 40; a++) {
        snprintf(addr, sizeof addr, "10.1.0.%d", a + 1);
        for (int k = 0; k < 4; k++)
            assert_int_equal(sai_kbs__session_create(t, "sim", addr, id, n, &err), 0);
    }
    assert_int_equal(sai_kbs__session_create(t, "sim", "192.0.2.1", mine, my_nonce, &err), 0);
    for (int a = 0; a < 10; a++) {
        snprintf(addr, sizeof addr, "10.2.0.%d", a + 1);
        assert_int_equal(sai_kbs__session_create(t, "sim", addr, id, n, &err), 0);
    }
    assert_true(sai_kbs__sessions_live(t) <= 64);
    assert_int_equal(sai_kbs__session_take(t, mine, tee, got, &err), 0);
    sai_kbs__sessions_free(t);
}

static int exec_sql(const char *dir, const char *sql)
{
    char path[400];
    sqlite3 *db = NULL;
    snprintf(path, sizeof path, "%s/kbs.db", dir);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

static void fill_store(const char *dir)
{
    sai_kbs_store_t *s = NULL;
    sai_error_t err;
    assert_int_equal(sai_kbs__store_open(&s, dir, true, &err), 0);
    const char *pol = "{\"tee\":[\"sim\"],\"allow_simulated\":true}";
    for (int i = 0; i < 5; i++) {
        char name[64], sec[64];
        snprintf(name, sizeof name, "repo/key/r%d", i);
        snprintf(sec, sizeof sec, "PLAINTEXT-SECRET-%d", i);
        assert_int_equal(sai_kbs__store_put_resource(s, name, (uint8_t *)sec, strlen(sec), pol, "t", &err), 0);
        assert_int_equal(sai_kbs__audit_append(s, "auth", "127.0.0.1", "x", "ok", "sim", &err), 0);
    }
    sai_kbs__store_close(s);
}

static void test_store_at_rest_and_master_key(void **state)
{
    (void)state;
    char dir[256], path[400];
    sai_error_t err;
    test_mkdtemp(dir, sizeof dir);
    fill_store(dir);
    /* The secrets are not in the database files in the clear. */
    const char *files[] = {"kbs.db", "kbs.db-wal"};
    for (int f = 0; f < 2; f++) {
        uint8_t *buf = NULL;
        size_t len = 0;
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        if (sai_read_file(path, 64 << 20, &buf, &len, &err) != 0)
            continue;
        assert_null(memmem(buf, len, "PLAINTEXT-SECRET", 16));
        free(buf);
    }
    sai_kbs_store_t *s = NULL;
    sai_secret_t *sec = NULL;
    char *pol = NULL;
    assert_int_equal(sai_kbs__store_open(&s, dir, false, &err), 0);
    assert_int_equal(sai_kbs__store_get_resource(s, "repo/key/r3", &sec, &pol, &err), 0);
    assert_memory_equal(sec->data, "PLAINTEXT-SECRET-3", 18);
    sai_secret_free(sec);
    free(pol);
    sai_kbs__store_close(s);
    /* A sealed row moved under another name does not open. */
    assert_int_equal(exec_sql(dir, "UPDATE resource SET sealed=(SELECT sealed FROM resource "
                                   "WHERE name='repo/key/r1') WHERE name='repo/key/r2'"), 0);
    assert_int_equal(sai_kbs__store_open(&s, dir, false, &err), 0);
    assert_int_equal(sai_kbs__store_get_resource(s, "repo/key/r2", &sec, &pol, &err), SAI_EAUTH);
    sai_kbs__store_close(s);
    /* A master key others can read is refused. */
    snprintf(path, sizeof path, "%s/master.key", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    chmod(path, 0644);
    assert_int_equal(sai_kbs__store_open(&s, dir, false, &err), SAI_EPOLICY);
    chmod(path, 0600);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A master key sealed to the sim TEE: not in the file in the clear, opens
 * again on the same platform, not on another one. */
static void test_master_key_sealed_to_tee(void **state)
{
    (void)state;
    char root[256], plat[400], other[400], dir[400], path[500], cmd[300];
    sai_error_t err;
    test_mkdtemp(root, sizeof root);
    snprintf(plat, sizeof plat, "%s/plat", root);
    snprintf(other, sizeof other, "%s/other", root);
    snprintf(dir, sizeof dir, "%s/kbs", root);
    assert_int_equal(sai_sim_platform_init(plat, false, &err), 0);
    assert_int_equal(sai_sim_platform_init(other, false, &err), 0);
    setenv("SECUREAI_PLATFORM_DIR", plat, 1);
    sai_kbs_store_t *s = NULL;
    sai_secret_t *sec = NULL;
    char *pol = NULL;
    assert_int_equal(sai_kbs__store_open_sealed(&s, dir, true, "sim", &err), 0);
    assert_int_equal(sai_kbs__store_put_resource(s, "a/b/c", (const uint8_t *)"sealed-secret", 13,
                                                "{\"tee\":[\"sim\"]}", "t", &err), 0);
    sai_kbs__store_close(s);
    uint8_t *buf = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/master.key", dir);
    assert_int_equal(sai_read_file(path, 4096, &buf, &len, &err), 0);
    assert_int_equal(len, 69);
    assert_memory_equal(buf, "SAIKMK01", 8);
    free(buf);
    assert_int_equal(sai_kbs__store_open(&s, dir, false, &err), 0);
    assert_int_equal(sai_kbs__store_get_resource(s, "a/b/c", &sec, &pol, &err), 0);
    assert_memory_equal(sec->data, "sealed-secret", 13);
    sai_secret_free(sec);
    free(pol);
    sai_kbs__store_close(s);
    setenv("SECUREAI_PLATFORM_DIR", other, 1);
    assert_int_equal(sai_kbs__store_open(&s, dir, false, &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "does not unseal"));
    unsetenv("SECUREAI_PLATFORM_DIR");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

/* Edit, remove, reorder, cut: each is caught (the last only against a head). */
static void test_audit_tamper(void **state)
{
    (void)state;
    static const char *attacks[] = {
        "UPDATE audit SET verdict='allow' WHERE seq=4",
        "UPDATE audit SET detail='x' WHERE seq=1",
        "DELETE FROM audit WHERE seq=3",
        /* reorder: swap the contents of 5 and 6, keep seq */
        "CREATE TEMP TABLE t AS SELECT * FROM audit WHERE seq IN (5,6);"
        "UPDATE audit SET ts=(SELECT ts FROM t WHERE seq=6), event=(SELECT event FROM t WHERE seq=6),"
        " actor=(SELECT actor FROM t WHERE seq=6), subject=(SELECT subject FROM t WHERE seq=6),"
        " verdict=(SELECT verdict FROM t WHERE seq=6), detail=(SELECT detail FROM t WHERE seq=6),"
        " prev=(SELECT prev FROM t WHERE seq=6), hash=(SELECT hash FROM t WHERE seq=6) WHERE seq=5;"
        "UPDATE audit SET ts=(SELECT ts FROM t WHERE seq=5), event=(SELECT event FROM t WHERE seq=5),"
        " actor=(SELECT actor FROM t WHERE seq=5), subject=(SELECT subject FROM t WHERE seq=5),"
        " verdict=(SELECT verdict FROM t WHERE seq=5), detail=(SELECT detail FROM t WHERE seq=5),"
        " prev=(SELECT prev FROM t WHERE seq=5), hash=(SELECT hash FROM t WHERE seq=5) WHERE seq=6;",
        /* remove and renumber the rest (prev chain breaks) */
        "DELETE FROM audit WHERE seq=2; UPDATE audit SET seq=seq-1 WHERE seq>2;",
    };
    for (size_t i = 0; i < sizeof attacks / sizeof *attacks; i++) {
        char dir[256], head[65], cmd[300];
        uint64_t n = 0;
        sai_error_t err;
        test_mkdtemp(dir, sizeof dir);
        fill_store(dir);
        assert_int_equal(sai_kbs_audit_verify(dir, &n, head, &err), 0);
        assert_int_equal(n, 10);
        assert_int_equal(exec_sql(dir, attacks[i]), 0);
        assert_int_equal(sai_kbs_audit_verify(dir, &n, head, &err), SAI_EAUTH);
        assert_non_null(strstr(err.msg, "audit chain broken"));
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
    }
    /* Cutting the newest entries leaves a valid but shorter chain; the
     * anchors outside the table see it (issue 13), and so does a head
     * recorded earlier, while a chain that only grew since still matches. */
    static const char *cuts[] = {
        "DELETE FROM audit WHERE seq=10",
        "DELETE FROM audit WHERE seq>=7",
        "DELETE FROM audit",
        "DROP TABLE audit",
        /* the head record moved back with the cut: the anchor file holds */
        "DELETE FROM audit WHERE seq>=9; UPDATE audit_head SET seq=8, hash=(SELECT hash FROM audit WHERE seq=8)",
        /* everything local rewritten: resources without any entry */
        "DELETE FROM audit; DELETE FROM audit_head",
    };
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        char dir[256], head[65], cmd[300], anchor[400];
        uint64_t n = 0;
        sai_error_t err;
        test_mkdtemp(dir, sizeof dir);
        fill_store(dir);
        assert_int_equal(sai_kbs_audit_verify(dir, &n, head, &err), 0);
        /* what a running KBS keeps next to the database */
        snprintf(anchor, sizeof anchor, "%s/" SAI_KBS_ANCHOR_FILE, dir);
        assert_int_equal(sai_kbs__anchor_write(anchor, n, head, &err), 0);
        if (i == sizeof cuts / sizeof *cuts - 1)
            unlink(anchor);
        assert_int_equal(exec_sql(dir, cuts[i]), 0);
        if (sai_kbs_audit_verify(dir, &n, head, &err) != SAI_EAUTH)
            fail_msg("cut %zu verified as intact", i);
        assert_non_null(strstr(err.msg, "audit chain cut"));
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        assert_int_equal(system(cmd), 0);
    }
    char dir[256], head[65], head2[65], cmd[300];
    uint64_t n = 0, at = 0;
    sai_error_t err;
    test_mkdtemp(dir, sizeof dir);
    fill_store(dir);
    assert_int_equal(sai_kbs_audit_verify(dir, &n, head, &err), 0);
    sai_kbs_store_t *s = NULL;
    assert_int_equal(sai_kbs__store_open(&s, dir, false, &err), 0);
    assert_int_equal(sai_kbs__audit_append(s, "attest", "127.0.0.1", "x", "allow", "", &err), 0);
    assert_int_equal(sai_kbs__audit_append(s, "attest", "127.0.0.1", "y", "allow", "", &err), 0);
    sai_kbs__store_close(s);
    assert_int_equal(sai_kbs_audit_verify_anchor(dir, head, &n, head2, &at, &err), 0);
    assert_int_equal(n, 12);
    assert_int_equal(at, 10);
    assert_int_equal(exec_sql(dir, "DELETE FROM audit WHERE seq>=10; "
                                   "UPDATE audit_head SET seq=9, hash=(SELECT hash FROM audit WHERE seq=9)"), 0);
    assert_int_equal(sai_kbs_audit_verify_anchor(dir, head, &n, head2, &at, &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "is not in the chain"));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_config(void **state)
{
    (void)state;
    char dir[256], path[400], cmd[300];
    sai_kbs_config_t c;
    sai_error_t err;
    test_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/kbs.yaml", dir);
    const char *good = "port: 9443\nmax_connections: 7\nrate_per_s: 2.5\nseal_master_key: sim\n"
                       "insecure_http: true\n";
    assert_int_equal(sai_write_file_atomic(path, good, strlen(good), 0600, false, &err), 0);
    sai_kbs_config_defaults(&c);
    assert_int_equal(sai_kbs_config_load(&c, path, &err), 0);
    assert_int_equal(c.port, 9443);
    assert_int_equal(c.max_connections, 7);
    assert_true(c.rate_per_s == 2.5);
    assert_string_equal(c.seal_master_key, "sim");
    assert_true(c.insecure_http);
    assert_int_equal(c.nonce_ttl_s, 15);
    assert_true(c.rate_per_s == 2.5 && c.rate_burst == 400);
    assert_int_equal(c.max_connections_per_addr, 64);
    /* what a real start refuses, the check refuses (and --dry-run runs it) */
    assert_int_equal(sai_kbs_config_check(&c, &err), 0);
    snprintf(c.listen_addr, sizeof c.listen_addr, "0.0.0.0");
    assert_int_equal(sai_kbs_config_check(&c, &err), SAI_EPOLICY);
    c.insecure_http = false;
    assert_int_equal(sai_kbs_config_check(&c, &err), 0);
    const char *bad[] = {"max_conections: 7\n", "port: 70000\n", "port: 12x\n",
                         "threads: [1, 2]\n", "insecure_http: maybe\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(sai_write_file_atomic(path, bad[i], strlen(bad[i]), 0600, false, &err), 0);
        sai_kbs_config_defaults(&c);
        assert_int_not_equal(sai_kbs_config_load(&c, path, &err), 0);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_request_parsers(void **state)
{
    (void)state;
    sai_kbs_auth_req_t a;
    sai_kbs_attest_req_t r;
    sai_kbs_put_req_t p;
    sai_error_t err;
    assert_int_equal(sai_kbs__parse_auth(&a, "{\"version\":\"0.1.0\",\"tee\":\"sim\"}", 31, &err), 0);
    assert_int_equal(sai_kbs__parse_auth(&a, "{\"version\":\"0.1.0\",\"tee\":\"sim\"} \r\n", 34, &err), 0);
    /* one value and nothing after it (a NUL included); no member twice */
    assert_int_equal(sai_kbs__parse_auth(&a, "{\"version\":\"0.1.0\",\"tee\":\"sim\"}", 32, &err), SAI_EINVAL);
    assert_int_equal(sai_kbs__parse_auth(&a, "{\"version\":\"0.1.0\",\"tee\":\"sim\",\"tee\":\"sim\"}", 43, &err),
                     SAI_EINVAL);
    assert_int_equal(sai_kbs__parse_auth(&a, "{\"version\":\"0.1.0\",\"tee\":\"xen\"}", 31, &err), SAI_EINVAL);
    assert_int_equal(sai_kbs__parse_auth(&a, "{\"version\":1,\"tee\":\"sim\"}", 26, &err), SAI_EINVAL);
    assert_int_equal(sai_kbs__parse_auth(&a, "[1,2]", 5, &err), SAI_EINVAL);
    assert_int_equal(sai_kbs__parse_auth(&a, "{\"version\":", 11, &err), SAI_EINVAL);
    assert_int_equal(sai_kbs__parse_attest(&r, "{\"session\":\"ab\"}", 16, &err), SAI_EINVAL);
    assert_int_equal(sai_kbs__parse_put(&p, "{\"secret\":\"\",\"policy\":{}}", 25, &err), SAI_EINVAL);
    assert_true(sai_kbs__resource_name_ok("repo/key/tag-1.0"));
    assert_false(sai_kbs__resource_name_ok("repo/key"));
    assert_false(sai_kbs__resource_name_ok("repo/../tag"));
    assert_false(sai_kbs__resource_name_ok("repo/key/tag/x"));
    assert_false(sai_kbs__resource_name_ok("repo//tag"));
    assert_false(sai_kbs__resource_name_ok("re po/key/tag"));
}


/* Trustee's protocol building blocks (trustee.c): RFC 8785 canonical JSON
 * (its own example of member order by UTF-16 code units, where U+1F600
 * sorts before U+FB33), the runtime-data report data against a value
 * computed independently (Python), the TEE keys Trustee clients send and
 * the ones refused, and the flattened JWE for each key type: it opens with
 * the right key only, and a flipped byte anywhere is refused. */
static void test_trustee_blocks(void **state)
{
    (void)state;
    sai_error_t err;
    char *out = NULL;
    size_t len = 0;
    cJSON *j = cJSON_Parse("{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\",\"\\ufb33\":\"Hebrew\","
                           "\"1\":\"One\",\"\\ud83d\\ude00\":\"Emoji\",\"\\u0080\":\"Control\","
                           "\"\\u00f6\":\"o\",\"n\":[1,-2,true,null,\"a\\u0001\\\"\\\\/\"]}");
    assert_non_null(j);
    assert_int_equal(sai_kbs__jcs(j, &out, &len, &err), 0);
    assert_string_equal(out, "{\"\\r\":\"Carriage Return\",\"1\":\"One\","
                             "\"n\":[1,-2,true,null,\"a\\u0001\\\"\\\\/\"],\"\xc2\x80\":\"Control\",\"\xc3\xb6\":\"o\","
                             "\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98\x80\":\"Emoji\","
                             "\"\xef\xac\xb3\":\"Hebrew\"}");
    free(out);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"a\":1.5}");
    assert_int_equal(sai_kbs__jcs(j, &out, &len, &err), SAI_EUNSUPP);
    cJSON_Delete(j);

    uint8_t rd[SAI_KBS_REPORT_DATA_LEN], want[SAI_KBS_REPORT_DATA_LEN] = {0};
    assert_int_equal(sai_hex_decode(want, 48, "d20490d30e5f16cba693abc1ca3c31ed977d2722d0adf01a98097"
                                    "2d16913dc38f103c1f12abf477df0523af2b12e4b43", &err), 0);
    assert_int_equal(sai_kbs__trustee_report_data(rd, "bm9uY2U=", "{\"kty\":\"EC\",\"crv\":\"P-256\","
                     "\"alg\":\"ECDH-ES+A256KW\",\"x\":\"AAAA\",\"y\":\"BBBB\"}", "", &err), 0);
    assert_memory_equal(rd, want, sizeof rd);

    static const char *const refused[] = {
        "{\"kty\":\"EC\",\"crv\":\"P-384\",\"alg\":\"ECDH-ES+A256KW\",\"x\":\"AA\",\"y\":\"AA\"}",
        "{\"kty\":\"RSA\",\"alg\":\"RSA1_5\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
        "{\"kty\":\"RSA\",\"alg\":\"RSA-OAEP-256\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",    /* 17-bit modulus */
        "{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ECDH-ES\",\"x\":\"AA\",\"y\":\"AA\"}",
        "{\"kty\":\"oct\",\"alg\":\"A256KW\",\"k\":\"AA\"}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        sai_kbs_tkey_t k;
        assert_int_not_equal(sai_kbs__tkey_parse(&k, refused[i], strlen(refused[i]), &err), 0);
    }
    const uint8_t secret[] = "the dataset key, 32 bytes long..";
    for (int t = SAI_KBS_TEE_KEY_P256; t <= SAI_KBS_TEE_KEY_RSA; t++) {
        sai_kbs_tkey_t priv, pub, other;
        assert_int_equal(sai_kbs__tkey_generate(&priv, (sai_kbs_tee_key_t)t, &err), 0);
        assert_int_equal(sai_kbs__tkey_generate(&other, (sai_kbs_tee_key_t)t, &err), 0);
        /* the server sees only the public JWK; with "d" it refuses it */
        assert_int_equal(sai_kbs__tkey_parse(&pub, priv.jwk, strlen(priv.jwk), &err), 0);
        assert_string_equal(pub.jwk, priv.jwk);
        char *jwe = NULL;
        sai_secret_t *got = NULL;
        assert_int_equal(sai_kbs__trustee_wrap(&jwe, &pub, secret, 32, &err), 0);
        assert_int_equal(sai_kbs__trustee_unwrap(&got, &priv, jwe, strlen(jwe), &err), 0);
        assert_int_equal(got->len, 32);
        assert_memory_equal(got->data, secret, 32);
        sai_secret_free(got);
        assert_int_not_equal(sai_kbs__trustee_unwrap(&got, &other, jwe, strlen(jwe), &err), 0);
        assert_null(got);
        /* a changed character in each member: refused, nothing returned */
        static const char *const members[] = {"\"protected\":\"", "\"encrypted_key\":\"", "\"iv\":\"",
                                              "\"ciphertext\":\"", "\"tag\":\""};
        for (size_t m = 0; m < 5; m++) {
            char *bad = strdup(jwe);
            char *v = strstr(bad, members[m]) + strlen(members[m]) + 2;
            *v = *v == 'A' ? 'B' : 'A';
            assert_int_not_equal(sai_kbs__trustee_unwrap(&got, &priv, bad, strlen(bad), &err), 0);
            assert_null(got);
            free(bad);
        }
        free(jwe);
        sai_kbs__tkey_free(&priv);
        sai_kbs__tkey_free(&pub);
        sai_kbs__tkey_free(&other);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrap_roundtrip_and_tamper),
        cmocka_unit_test(test_wrap_register_binding),
        cmocka_unit_test(test_jwk),
        cmocka_unit_test(test_tls_self_signed_p256),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_sessions_single_use_and_expiry),
        cmocka_unit_test(test_sessions_flood_per_address),
        cmocka_unit_test(test_store_at_rest_and_master_key),
        cmocka_unit_test(test_master_key_sealed_to_tee),
        cmocka_unit_test(test_audit_tamper),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_request_parsers),
        cmocka_unit_test(test_trustee_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
