/*
 * test_provenance.c — provenance statements: a genuine one verifies; any
 * field changed after signing fails; a statement signed by a key that is not
 * the one bound in the evidence fails; evidence, measurement, dataset, spec
 * and model mismatches each fail with their own one-line reason.
 *
 * Evidence here comes from EVIDENCE_BACKEND (see below).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "secureai/crypto.h"
#include "secureai/pipeline.h"
#include "secureai/util.h"

/* ---- evidence backend -----------------------------------------------------
 * A minimal signed report: measurement(48) || report_data(64) || ES384 sig
 * by a platform key. It stands in for the attestation module's evidence so
 * that the provenance checks are tested on their own; the end-to-end tests
 * (test_e2e.sh) use the real sim TEE. */
static sai_ec_key *platform;

static int make_evidence(uint8_t out[208], const uint8_t meas[48], const uint8_t rd[64])
{
    memcpy(out, meas, 48);
    memcpy(out + 48, rd, 64);
    return sai_ecdsa_sign(platform, out + 112, out, 112, NULL);
}

static int test_verify(void *ctx, const uint8_t *ev, size_t len, uint8_t rd[static 64],
                       uint8_t meas[static 48], char *tee, size_t tee_len, sai_error *err)
{
    (void)ctx;
    if (len != 208)
        return sai_error_set(err, SAI_EFORMAT, "report is %zu bytes, not 208", len);
    if (sai_ecdsa_verify(platform, ev + 112, ev, 112, NULL) != 0)
        return sai_error_set(err, SAI_EAUTH, "the report signature does not verify");
    memcpy(meas, ev, 48);
    memcpy(rd, ev + 48, 64);
    snprintf(tee, tee_len, "sim");
    return 0;
}

static const sai_evidence_verifier verifier = {"test-report", test_verify, NULL};

/* ---- fixture -------------------------------------------------------------- */
static const uint8_t model[] = "SAI sealed model ciphertext ...";
static uint8_t meas[48], dsid[32], spec[32];

static const uint8_t *claimed_meas;   /* what the statement says, when not the evidence's */

static char *sign_with(const sai_ec_key *signer, const sai_ec_key *bound, const uint8_t *m,
                       const uint8_t *ds)
{
    uint8_t pub[97], rd[64], ev[208];
    sai_error err = {0};
    assert_int_equal(sai_ec_public_raw(bound, pub, &err), 0);
    assert_int_equal(sai_provenance_report_data(rd, pub, &err), 0);
    assert_int_equal(make_evidence(ev, meas, rd), 0);
    sai_provenance_facts f = {0};
    f.subject_name = "model.sealed";
    assert_int_equal(sai_hash(SAI_SHA256, f.subject_sha256, m, sizeof model, &err), 0);
    memcpy(f.dataset_identity, ds, 32);
    f.dataset_resource = "demo/dataset/fmnist";
    memcpy(f.measurement, claimed_meas ? claimed_meas : meas, 48);
    memcpy(f.spec_hash, spec, 32);
    f.engine_version = "0.1.0";
    f.metrics_json = "{\"test_accuracy\":0.91,\"images_per_s\":1234.5}";
    f.tee = "sim";
    f.time = "2026-11-26T04:30:00Z";
    f.evidence = ev;
    f.evidence_len = sizeof ev;
    f.evidence_format = "test-report";
    char *env = NULL;
    size_t n = 0;
    assert_int_equal(sai_provenance_sign(&env, &n, &f, signer, &err), 0);
    return env;
}

static int verify(const char *env, const uint8_t *m, sai_error *err)
{
    sai_provenance_expect e = {m, sizeof model, dsid, meas, spec};
    sai_provenance_result r;
    return sai_provenance_verify(env, strlen(env), &e, &verifier, &r, err);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(sai_ec_generate(&platform, NULL), 0);
    memset(meas, 0x4d, sizeof meas);
    memset(dsid, 0xd5, sizeof dsid);
    memset(spec, 0x5e, sizeof spec);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sai_ec_free(platform);
    return 0;
}

static void expect_fail(const char *env, const uint8_t *m, const char *needle)
{
    sai_error err = {0};
    int rc = verify(env, m, &err);
    assert_int_not_equal(rc, 0);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("reason '%s' lacks '%s'", err.msg, needle);
    assert_null(strchr(err.msg, '\n'));   /* one line */
}

static void test_genuine_verifies(void **state)
{
    (void)state;
    sai_ec_key *k = NULL;
    assert_int_equal(sai_ec_generate(&k, NULL), 0);
    char *env = sign_with(k, k, model, dsid);
    sai_error err = {0};
    sai_provenance_expect e = {model, sizeof model, dsid, meas, spec};
    sai_provenance_result r;
    if (sai_provenance_verify(env, strlen(env), &e, &verifier, &r, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(r.tee, "sim");
    assert_string_equal(r.subject_name, "model.sealed");
    assert_non_null(strstr(r.metrics, "0.91"));
    free(env);
    sai_ec_free(k);
}

/* Rewrite one field of the signed payload, keeping the old signature. */
static char *tamper(const char *env, const char *path, const char *newval)
{
    cJSON *e = cJSON_Parse(env);
    const char *p64 = cJSON_GetObjectItem(e, "payload")->valuestring;
    uint8_t *pl = NULL;
    size_t pn = 0;
    assert_int_equal(sai_b64_decode(&pl, &pn, p64, strlen(p64), NULL), 0);
    cJSON *st = cJSON_ParseWithLength((char *)pl, pn);
    free(pl);
    assert_non_null(st);
    /* path like "predicate.dataset.identity" or "subject.0.digest.sha256" */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    cJSON *cur = st, *parent = NULL;
    char *last = NULL;
    for (char *tok = strtok(buf, "."); tok; tok = strtok(NULL, ".")) {
        parent = cur;
        last = tok;
        cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, atoi(tok)) : cJSON_GetObjectItem(cur, tok);
        assert_non_null(cur);
    }
    cJSON_ReplaceItemInObject(parent, last, cJSON_CreateRaw(newval));
    char *txt = cJSON_PrintUnformatted(st);
    char *b64 = NULL;
    assert_int_equal(sai_b64url_encode(&b64, (uint8_t *)txt, strlen(txt), NULL), 0);
    cJSON_ReplaceItemInObject(e, "payload", cJSON_CreateString(b64));
    char *out = cJSON_Print(e);
    free(txt);
    free(b64);
    cJSON_Delete(st);
    cJSON_Delete(e);
    return out;
}

static void test_any_field_changed_fails(void **state)
{
    (void)state;
    sai_ec_key *k = NULL;
    assert_int_equal(sai_ec_generate(&k, NULL), 0);
    char *env = sign_with(k, k, model, dsid);
    static const char *const edits[][2] = {
        {"_type", "\"https://in-toto.io/Statement/v0.1\""},
        {"predicateType", "\"https://slsa.dev/provenance/v1\""},
        {"subject.0.name", "\"other.sealed\""},
        {"subject.0.digest.sha256", "\"00000000000000000000000000000000000000000000000000000000000000ff\""},
        {"predicate.dataset.identity", "\"d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d4\""},
        {"predicate.dataset.resource", "\"demo/dataset/other\""},
        {"predicate.launch_measurement", "\"4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d"
                                         "4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4c\""},
        {"predicate.spec_sha256", "\"5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5f\""},
        {"predicate.engine.version", "\"0.0.9\""},
        {"predicate.metrics.test_accuracy", "0.99"},
        {"predicate.tee", "\"sev-snp\""},
        {"predicate.time", "\"2030-01-01T00:00:00Z\""},
        {"predicate.evidence.format", "\"sev-snp\""},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char *t = tamper(env, edits[i][0], edits[i][1]);
        sai_error err = {0};
        if (verify(t, model, &err) == 0)
            fail_msg("changing %s was not detected", edits[i][0]);
        if (strstr(err.msg, "signature:") == NULL && strstr(err.msg, "statement:") == NULL)
            fail_msg("changing %s: '%s'", edits[i][0], err.msg);
        free(t);
    }
    /* The signature itself, one bit. */
    cJSON *e = cJSON_Parse(env);
    cJSON *s0 = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "signatures"), 0);
    char *sig = strdup(cJSON_GetObjectItem(s0, "sig")->valuestring);
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    cJSON_ReplaceItemInObject(s0, "sig", cJSON_CreateString(sig));
    char *t = cJSON_Print(e);
    expect_fail(t, model, "signature:");
    free(t);
    free(sig);
    cJSON_Delete(e);
    free(env);
    sai_ec_free(k);
}

static void test_unbound_key_fails(void **state)
{
    (void)state;
    sai_ec_key *enclave = NULL, *attacker = NULL;
    assert_int_equal(sai_ec_generate(&enclave, NULL), 0);
    assert_int_equal(sai_ec_generate(&attacker, NULL), 0);
    /* Genuine evidence binds the enclave's key; the attacker signs a
     * statement with its own key and carries that evidence along. */
    char *env = sign_with(attacker, enclave, model, dsid);
    expect_fail(env, model, "binding: the signing key is not the one bound");
    free(env);
    sai_ec_free(enclave);
    sai_ec_free(attacker);
}

static void test_each_expectation(void **state)
{
    (void)state;
    sai_ec_key *k = NULL;
    assert_int_equal(sai_ec_generate(&k, NULL), 0);
    /* The enclave itself signed, but over another dataset. */
    uint8_t other_ds[32];
    memset(other_ds, 0x11, 32);
    char *env = sign_with(k, k, model, other_ds);
    expect_fail(env, model, "dataset: ");
    free(env);
    /* A different model file. */
    env = sign_with(k, k, model, dsid);
    uint8_t m2[sizeof model];
    memcpy(m2, model, sizeof model);
    m2[3] ^= 1;
    expect_fail(env, m2, "model: ");
    /* A different expected measurement / spec. */
    sai_error err = {0};
    uint8_t meas2[48];
    memcpy(meas2, meas, 48);
    meas2[47] ^= 1;
    sai_provenance_expect e = {model, sizeof model, dsid, meas2, spec};
    assert_int_not_equal(sai_provenance_verify(env, strlen(env), &e, &verifier, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "measurement: "));
    uint8_t spec2[32] = {0};
    sai_provenance_expect e2 = {model, sizeof model, dsid, meas, spec2};
    assert_int_not_equal(sai_provenance_verify(env, strlen(env), &e2, &verifier, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "spec: "));
    /* No verifier, or one for another format. */
    sai_provenance_expect e3 = {model, sizeof model, dsid, meas, spec};
    assert_int_not_equal(sai_provenance_verify(env, strlen(env), &e3, NULL, NULL, &err), 0);
    sai_evidence_verifier other = {"sev-snp", test_verify, NULL};
    assert_int_not_equal(sai_provenance_verify(env, strlen(env), &e3, &other, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "evidence: "));
    free(env);
    /* Evidence signed by another platform. */
    sai_ec_key *real = platform;
    assert_int_equal(sai_ec_generate(&platform, NULL), 0);
    env = sign_with(k, k, model, dsid);
    sai_ec_free(platform);
    platform = real;
    expect_fail(env, model, "evidence: the report signature does not verify");
    free(env);
    /* The host lied about the measurement in HELLO: the enclave signs a
     * statement whose measurement differs from what the TEE attests. */
    uint8_t lie[48];
    memset(lie, 0x77, sizeof lie);
    claimed_meas = lie;
    env = sign_with(k, k, model, dsid);
    claimed_meas = NULL;
    expect_fail(env, model, "measurement: the statement's launch measurement differs from the evidence's");
    free(env);
    /* Not JSON / not an envelope. */
    expect_fail("{\"payloadType\":1}", model, "statement: ");
    expect_fail("[]", model, "statement: ");
    sai_ec_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_genuine_verifies),
        cmocka_unit_test(test_any_field_changed_fails),
        cmocka_unit_test(test_unbound_key_fails),
        cmocka_unit_test(test_each_expectation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
