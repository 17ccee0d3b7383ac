/*
 * test_provenance.c — provenance statements: a genuine one verifies; any
 * field changed after signing fails; a statement signed by a key that is not
 * the one bound in the evidence fails; evidence, measurement, dataset, spec
 * and model mismatches each fail with their own one-line reason; duplicate
 * keys (envelope and statement, any depth) and unknown envelope fields are
 * refused; evidence.format is the evidence's own; spec_sha256 must be the
 * evidence's HOST_DATA; freshness (max_age, the future); the sim
 * --insecure-dev FAMILY_ID marker; kbs_channel; per-epoch metrics.
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

#include "pipeline/pipeline_internal.h"
#include <cjson/cJSON.h>

#include "secureai/attest.h"
#include "secureai/crypto.h"
#include "secureai/pipeline.h"
#include "secureai/util.h"

/* ---- evidence backend -----------------------------------------------------
 * A secureai-evidence/v1 envelope around an SNP-layout report (measurement,
 * report data, HOST_DATA, FAMILY_ID) signed ES384 by a test platform key
 * (r at 0x2A0, s at 0x2E8). It stands in for the attestation module's chain
 * checks so that the provenance checks are tested on their own; the
 * end-to-end tests (test_e2e.sh, tests/redteam) use the real sim TEE. */
static sai_ec_key_t *platform;
static uint8_t host_data[32];
static const char *family = "";          /* FAMILY_ID text, "" = zero */
static const char *ev_tee_name = "sim";
static int64_t generated_at;

static char *make_evidence(const uint8_t m[48], const uint8_t rd[64], size_t *len)
{
    uint8_t rep[SAI_SNP_REPORT_LEN] = {0}, sig[96];
    rep[0] = 3;                          /* version */
    rep[0x34] = 1;                       /* ECDSA P-384 */
    memcpy(rep + 0x10, family, strlen(family));
    memcpy(rep + 0x50, rd, 64);
    memcpy(rep + 0x90, m, 48);
    memcpy(rep + 0xC0, host_data, 32);
    assert_int_equal(sai_ecdsa_sign(platform, sig, rep, SAI_SNP_SIGNED_LEN, NULL), 0);
    memcpy(rep + 0x2A0, sig, 48);
    memcpy(rep + 0x2E8, sig + 48, 48);
    char *json = NULL;
    sai_evidence_parts_t parts = {.tee = sai_tee_kind_from_name(ev_tee_name),
                                .simulated = strcmp(ev_tee_name, "sim") == 0,
                                .report = rep, .report_len = sizeof rep};
    assert_int_equal(sai_evidence_build(&json, len, &parts, NULL), 0);
    {   /* the statement's time unless a test says otherwise (2026-11-26T04:30:00Z) */
        cJSON *o = cJSON_Parse(json);
        cJSON_ReplaceItemInObject(o, "generated_at",
                                  cJSON_CreateNumber((double)(generated_at ? generated_at : 1795667400)));
        free(json);
        json = cJSON_PrintUnformatted(o);
        *len = strlen(json);
        cJSON_Delete(o);
    }
    return json;
}

static int test_verify(void *ctx, const uint8_t *ev, size_t len, uint8_t rd[static 64],
                       uint8_t m[static 48], char *tee, size_t tee_len, sai_error_t *err)
{
    (void)ctx;
    sai_evidence_t e;
    int rc = sai_evidence_parse(&e, (const char *)ev, len, err);
    if (rc)
        return rc;
    uint8_t sig[96];
    if (e.report_len != SAI_SNP_REPORT_LEN) {
        sai_evidence_clear(&e);
        return sai_error_set(err, SAI_EFORMAT, "report is %zu bytes", e.report_len);
    }
    memcpy(sig, e.report + 0x2A0, 48);
    memcpy(sig + 48, e.report + 0x2E8, 48);
    if (sai_ecdsa_verify(platform, sig, e.report, SAI_SNP_SIGNED_LEN, NULL) != 0) {
        sai_evidence_clear(&e);
        return sai_error_set(err, SAI_EAUTH, "the report signature does not verify");
    }
    memcpy(m, e.report + 0x90, 48);
    memcpy(rd, e.report + 0x50, 64);
    snprintf(tee, tee_len, "%s", sai_tee_kind_name(e.tee));
    sai_evidence_clear(&e);
    return 0;
}

static const sai_evidence_verifier_t verifier = {NULL, test_verify, NULL};

/* ---- fixture -------------------------------------------------------------- */
static const uint8_t model[] = "SAI sealed model ciphertext ...";
static uint8_t meas[48], dsid[32], spec[32];

static const uint8_t *claimed_meas;   /* what the statement says, when not the evidence's */
static const char *claimed_time = "2026-11-26T04:30:00Z";
static const char *extra_epochs;
static int64_t verify_now;            /* 0 = 2026-11-26T05:00:00Z */
static int64_t verify_max_age;
static bool allow_insecure_dev;

static char *sign_with(const sai_ec_key_t *signer, const sai_ec_key_t *bound, const uint8_t *m,
                       const uint8_t *ds)
{
    uint8_t pub[97], rd[64];
    sai_error_t err = {0};
    assert_int_equal(sai_ec_public_raw(bound, pub, &err), 0);
    assert_int_equal(sai_provenance_report_data(rd, pub, &err), 0);
    size_t evlen = 0;
    char *ev = make_evidence(meas, rd, &evlen);
    sai_provenance_facts_t f = {0};
    f.subject_name = "model.sealed";
    assert_int_equal(sai_hash(SAI_SHA256, f.subject_sha256, m, sizeof model, &err), 0);
    memcpy(f.dataset_identity, ds, 32);
    f.dataset_resource = "demo/dataset/fmnist";
    memcpy(f.measurement, claimed_meas ? claimed_meas : meas, 48);
    memcpy(f.spec_hash, spec, 32);
    f.engine_version = "0.1.0";
    f.metrics_json = "{\"test_accuracy\":0.91,\"images_per_s\":1234.5}";
    f.epochs_json = extra_epochs;
    f.tee = "sim";
    f.time = claimed_time;
    f.evidence = (const uint8_t *)ev;
    f.evidence_len = evlen;
    char *env = NULL;
    size_t n = 0;
    if (sai_provenance_sign(&env, &n, &f, signer, &err) != 0)
        fail_msg("sign: %s", err.msg);
    free(ev);
    return env;
}

static int64_t base_now(void)
{
    int64_t t = 0;
    assert_int_equal(sai_parse_rfc3339(&t, "2026-11-26T05:00:00Z", NULL), 0);
    return t;
}

static int verify(const char *env, const uint8_t *m, sai_error_t *err)
{
    sai_provenance_expect_t e = {m, sizeof model, dsid, meas, spec, verify_now ? verify_now : base_now(),
                               verify_max_age, allow_insecure_dev};
    sai_provenance_result_t r;
    return sai_provenance_verify(env, strlen(env), &e, &verifier, &r, err);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(sai_ec_generate(&platform, NULL), 0);
    memset(meas, 0x4d, sizeof meas);
    memset(dsid, 0xd5, sizeof dsid);
    memset(spec, 0x5e, sizeof spec);
    memcpy(host_data, spec, 32);        /* the launcher bound this spec */
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
    sai_error_t err = {0};
    int rc = verify(env, m, &err);
    assert_int_not_equal(rc, 0);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("reason '%s' lacks '%s'", err.msg, needle);
    assert_null(strchr(err.msg, '\n'));   /* one line */
}

static void test_genuine_verifies(void **state)
{
    (void)state;
    sai_ec_key_t *k = NULL;
    assert_int_equal(sai_ec_generate(&k, NULL), 0);
    char *env = sign_with(k, k, model, dsid);
    sai_error_t err = {0};
    sai_provenance_expect_t e = {model, sizeof model, dsid, meas, spec, base_now(), 0, false};
    sai_provenance_result_t r;
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
    sai_ec_key_t *k = NULL;
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
        sai_error_t err = {0};
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
    sai_ec_key_t *enclave = NULL, *attacker = NULL;
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
    sai_ec_key_t *k = NULL;
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
    sai_error_t err = {0};
    uint8_t meas2[48];
    memcpy(meas2, meas, 48);
    meas2[47] ^= 1;
    sai_provenance_expect_t e = {model, sizeof model, dsid, meas2, spec, base_now(), 0, false};
    assert_int_not_equal(sai_provenance_verify(env, strlen(env), &e, &verifier, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "measurement: "));
    uint8_t spec2[32] = {0};
    sai_provenance_expect_t e2 = {model, sizeof model, dsid, meas, spec2, base_now(), 0, false};
    assert_int_not_equal(sai_provenance_verify(env, strlen(env), &e2, &verifier, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "spec: "));
    /* No verifier, or one for another format. */
    sai_provenance_expect_t e3 = {model, sizeof model, dsid, meas, spec, base_now(), 0, false};
    assert_int_not_equal(sai_provenance_verify(env, strlen(env), &e3, NULL, NULL, &err), 0);
    sai_evidence_verifier_t other = {"sev-snp", test_verify, NULL};   /* expects another format */
    assert_int_not_equal(sai_provenance_verify(env, strlen(env), &e3, &other, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "evidence: "));
    free(env);
    /* Evidence signed by another platform. */
    sai_ec_key_t *real = platform;
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

/* The payload text of an envelope (malloc'ed). */
static char *payload_of(const char *env)
{
    cJSON *e = cJSON_Parse(env);
    const char *p64 = cJSON_GetObjectItem(e, "payload")->valuestring;
    uint8_t *pl = NULL;
    size_t pn = 0;
    assert_int_equal(sai_b64_decode(&pl, &pn, p64, strlen(p64), NULL), 0);
    cJSON_Delete(e);
    char *s = malloc(pn + 1);
    memcpy(s, pl, pn);
    s[pn] = 0;
    free(pl);
    return s;
}

/* An envelope around `payload`, properly signed by k (what the enclave key
 * holder could sign: tests the checks after the signature). */
static char *resign(const char *payload, const sai_ec_key_t *k)
{
    const char *t = SAI_PROVENANCE_PAYLOAD_TYPE;
    size_t pn = strlen(payload);
    char head[128];
    int h = snprintf(head, sizeof head, "DSSEv1 %zu %s %zu ", strlen(t), t, pn);
    uint8_t *msg = malloc((size_t)h + pn);
    memcpy(msg, head, (size_t)h);
    memcpy(msg + h, payload, pn);
    uint8_t sig[96];
    assert_int_equal(sai_ecdsa_sign(k, sig, msg, (size_t)h + pn, NULL), 0);
    free(msg);
    char *b64 = NULL, *s64 = NULL;
    assert_int_equal(sai_b64url_encode(&b64, (const uint8_t *)payload, pn, NULL), 0);
    assert_int_equal(sai_b64url_encode(&s64, sig, sizeof sig, NULL), 0);
    size_t cap = strlen(b64) + strlen(s64) + 256;
    char *out = malloc(cap);
    snprintf(out, cap, "{\"payloadType\":\"%s\",\"payload\":\"%s\",\"signatures\":[{\"keyid\":\"k\",\"sig\":\"%s\"}]}",
             t, b64, s64);
    free(b64);
    free(s64);
    return out;
}

/* Replace the first `from` in s by `to` (malloc'ed). */
static char *subst(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    if (p == NULL)
        fail_msg("'%s' not in '%.200s'", from, s);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *o = malloc(n);
    snprintf(o, n, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from));
    return o;
}

static void test_duplicate_and_unknown_keys(void **state)
{
    (void)state;
    sai_ec_key_t *k = NULL;
    assert_int_equal(sai_ec_generate(&k, NULL), 0);
    char *env = sign_with(k, k, model, dsid);
    sai_error_t err = {0};
    assert_int_equal(verify(env, model, &err), 0);
    /* A second "payload" (other parsers read the last one). */
    char *t = subst(env, "\"signatures\"", "\"payload\": \"e30\", \"signatures\"");
    expect_fail(t, model, "statement: the envelope has the key \"payload\" twice");
    free(t);
    t = subst(env, "\"payloadType\"", "\"payload\": \"e30\", \"payloadType\"");
    expect_fail(t, model, "\"payload\" twice");
    free(t);
    t = subst(env, "\"payloadType\"", "\"extra\": 1, \"payloadType\"");
    expect_fail(t, model, "statement: unknown envelope field \"extra\"");
    free(t);
    t = subst(env, "\"sig\"", "\"cert\": \"x\", \"sig\"");
    expect_fail(t, model, "unknown signature field \"cert\"");
    free(t);
    /* Inside the signed statement, at any depth: validly signed, still refused. */
    char *pl = payload_of(env);
    static const char *const dups[][2] = {
        {"\"predicateType\"", "\"_type\":\"https://in-toto.io/Statement/v1\",\"predicateType\""},
        {"\"tee\"", "\"tee\":\"sev-snp\",\"tee\""},
        {"\"test_accuracy\"", "\"test_accuracy\":0.99,\"test_accuracy\""},
        {"\"identity\"", "\"identity\":\"00\",\"identity\""},
    };
    for (size_t i = 0; i < sizeof dups / sizeof dups[0]; i++) {
        char *p2 = subst(pl, dups[i][0], dups[i][1]);
        char *e2 = resign(p2, k);
        expect_fail(e2, model, "twice");
        free(p2);
        free(e2);
    }
    char *p2 = subst(pl, "\"predicate\"", "\"note\":1,\"predicate\"");
    char *e2 = resign(p2, k);
    expect_fail(e2, model, "unknown in-toto statement field \"note\"");
    free(p2);
    free(e2);
    /* The re-signing helper itself produces an acceptable envelope. */
    e2 = resign(pl, k);
    assert_int_equal(verify(e2, model, &err), 0);
    free(e2);
    free(pl);
    free(env);
    sai_ec_free(k);
}

static void test_evidence_format_from_evidence(void **state)
{
    (void)state;
    sai_ec_key_t *k = NULL;
    assert_int_equal(sai_ec_generate(&k, NULL), 0);
    char *env = sign_with(k, k, model, dsid);
    char *pl = payload_of(env);
    assert_non_null(strstr(pl, "\"format\":\"secureai-evidence/v1:sim\""));
    assert_non_null(strstr(pl, SAI_PROVENANCE_SIM_TEXT));
    /* A statement naming another format than its evidence's is refused. */
    char *p2 = subst(pl, "\"format\":\"secureai-evidence/v1:sim\"", "\"format\":\"sev-snp\"");
    char *e2 = resign(p2, k);
    expect_fail(e2, model, "evidence: the statement says format 'sev-snp' but the evidence is 'secureai-evidence/v1:sim'");
    free(p2);
    free(e2);
    /* Evidence that is not an envelope cannot be signed into a statement. */
    sai_provenance_facts_t f = {0};
    f.subject_name = "m";
    f.tee = "sim";
    f.evidence = (const uint8_t *)"evidence";
    f.evidence_len = 8;
    char *out = NULL;
    sai_error_t err = {0};
    assert_int_not_equal(sai_provenance_sign(&out, NULL, &f, k, &err), 0);
    assert_non_null(strstr(err.msg, "evidence"));
    free(pl);
    free(env);
    sai_ec_free(k);
}

static void test_spec_is_host_data(void **state)
{
    (void)state;
    sai_ec_key_t *k = NULL;
    assert_int_equal(sai_ec_generate(&k, NULL), 0);
    /* The TEE bound another spec at launch than the one the statement names:
     * refused even when the verifier expects no particular spec. */
    memset(host_data, 0x99, 32);
    char *env = sign_with(k, k, model, dsid);
    memcpy(host_data, spec, 32);
    sai_error_t err = {0};
    sai_provenance_expect_t e = {model, sizeof model, dsid, meas, NULL, base_now(), 0, false};
    assert_int_not_equal(sai_provenance_verify(env, strlen(env), &e, &verifier, NULL, &err), 0);
    assert_non_null(strstr(err.msg, "spec: the statement's spec_sha256 5e5e5e5e5e5e5e5e... is not the evidence's "
                                    "HOST_DATA 9999999999999999..."));
    free(env);
    sai_ec_free(k);
}

static void test_freshness(void **state)
{
    (void)state;
    sai_ec_key_t *k = NULL;
    assert_int_equal(sai_ec_generate(&k, NULL), 0);
    char *env = sign_with(k, k, model, dsid);
    sai_error_t err = {0};
    verify_max_age = 7 * 86400;
    assert_int_equal(verify(env, model, &err), 0);
    verify_now = base_now() + 8 * 86400;
    expect_fail(env, model, "freshness: the statement is dated 2026-11-26T04:30:00Z, older than max_age 7d "
                            "(verification time 2026-12-04T05:00:00Z)");
    verify_max_age = 0;
    assert_int_equal(verify(env, model, &err), 0);    /* no limit asked */
    /* From the future (beyond the skew): always refused. */
    verify_now = base_now() - 3600;
    expect_fail(env, model, "freshness: the statement is dated 2026-11-26T04:30:00Z, in the future "
                            "(verification time 2026-11-26T04:00:00Z)");
    verify_now = base_now() - 1800 - 60;                /* 4:29, within the skew */
    assert_int_equal(verify(env, model, &err), 0);
    verify_now = 0;
    free(env);
    /* The evidence's own time counts too. */
    generated_at = base_now() - 30 * 86400;
    env = sign_with(k, k, model, dsid);
    generated_at = 0;
    verify_max_age = 86400;
    expect_fail(env, model, "freshness: the evidence is dated 2026-10-27T05:00:00Z, older than max_age 1d");
    verify_max_age = 0;
    free(env);
    sai_ec_free(k);
}

static void test_insecure_dev_marker(void **state)
{
    (void)state;
    sai_ec_key_t *k = NULL;
    assert_int_equal(sai_ec_generate(&k, NULL), 0);
    family = "INSECURE-DEV";
    char *env = sign_with(k, k, model, dsid);
    char *pl = payload_of(env);
    assert_non_null(strstr(pl, SAI_PROVENANCE_INSECURE_DEV_TEXT));
    free(pl);
    expect_fail(env, model, "insecure-dev: INSECURE-DEV: the launcher held the platform key; nothing is proven");
    allow_insecure_dev = true;
    sai_error_t err = {0};
    sai_provenance_expect_t e = {model, sizeof model, dsid, meas, spec, base_now(), 0, true};
    sai_provenance_result_t r;
    if (sai_provenance_verify(env, strlen(env), &e, &verifier, &r, &err) != 0)
        fail_msg("%s", err.msg);
    assert_true(r.insecure_dev);
    assert_string_equal(r.protection, SAI_PROVENANCE_INSECURE_DEV_TEXT);
    allow_insecure_dev = false;
    free(env);
    /* Any other non-zero FAMILY_ID in sim evidence is not the platform service's either. */
    family = "SOMETHING";
    env = sign_with(k, k, model, dsid);
    expect_fail(env, model, "insecure-dev: ");
    free(env);
    family = "";
    /* Under the platform service (FAMILY_ID zero): the sim line. */
    env = sign_with(k, k, model, dsid);
    e.allow_insecure_dev = false;
    assert_int_equal(sai_provenance_verify(env, strlen(env), &e, &verifier, &r, &err), 0);
    assert_false(r.insecure_dev);
    assert_true(r.simulated);
    assert_string_equal(r.protection, SAI_PROVENANCE_SIM_TEXT);
    free(env);
    sai_ec_free(k);
}

static void test_kbs_channel_and_epochs(void **state)
{
    (void)state;
    sai_ec_key_t *k = NULL;
    assert_int_equal(sai_ec_generate(&k, NULL), 0);
    extra_epochs = "[{\"epoch\":1,\"step\":4,\"test_accuracy\":0.5,\"test_loss\":1.5},"
                   "{\"epoch\":2,\"step\":8,\"test_accuracy\":0.7,\"test_loss\":1.0}]";
    char *env = sign_with(k, k, model, dsid);
    extra_epochs = NULL;
    char *pl = payload_of(env);
    char *p2 = subst(pl, "\"tee\":", "\"kbs_channel\":\"insecure-http\",\"tee\":");
    char *e2 = resign(p2, k);
    sai_error_t err = {0};
    sai_provenance_expect_t e = {model, sizeof model, dsid, meas, spec, base_now(), 0, false};
    sai_provenance_result_t r;
    if (sai_provenance_verify(e2, strlen(e2), &e, &verifier, &r, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(r.kbs_channel, "insecure-http");
    assert_non_null(strstr(r.metrics, "\"epochs\":[{\"epoch\":1"));
    assert_int_equal(sai_provenance_verify(env, strlen(env), &e, &verifier, &r, &err), 0);
    assert_string_equal(r.kbs_channel, "");
    free(p2);
    free(e2);
    free(pl);
    free(env);
    sai_ec_free(k);
}

static void test_duration_and_policy(void **state)
{
    (void)state;
    int64_t s = 0;
    assert_int_equal(sai_parse_duration(&s, "3600", NULL), 0);
    assert_int_equal(s, 3600);
    assert_int_equal(sai_parse_duration(&s, "90m", NULL), 0);
    assert_int_equal(s, 5400);
    assert_int_equal(sai_parse_duration(&s, "24h", NULL), 0);
    assert_int_equal(s, 86400);
    assert_int_equal(sai_parse_duration(&s, "7d", NULL), 0);
    assert_int_equal(s, 7 * 86400);
    static const char *const bad[] = {"", "0", "-5", "1w", "h", "5 h", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(sai_parse_duration(&s, bad[i], NULL), 0);
    char dir[] = "/tmp/sai-vpol-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[128], txt[512];
    snprintf(p, sizeof p, "%s/v.json", dir);
    char mh[97], dh[65];
    sai_hex_encode(mh, meas, 48);
    sai_hex_encode(dh, dsid, 32);
    snprintf(txt, sizeof txt, "{\"measurement\":\"%s\",\"dataset_identity\":\"%s\",\"max_age\":\"24h\","
             "\"allow_simulated\":false,\"attestation_policy\":\"att.yaml\"}", mh, dh);
    assert_int_equal(sai_write_file_atomic(p, txt, strlen(txt), 0600, false, NULL), 0);
    sai_verify_policy_t pol;
    sai_error_t err = {0};
    if (sai_verify_policy_load(&pol, p, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(pol.max_age, 86400);
    assert_false(pol.allow_simulated);
    char want[128];
    snprintf(want, sizeof want, "%s/att.yaml", dir);
    assert_string_equal(pol.attestation_policy, want);
    /* A misspelt rule is refused, not ignored; so is a repeated key. */
    snprintf(txt, sizeof txt, "{\"measurement\":\"%s\",\"dataset_identity\":\"%s\",\"allow_simulate\":false}", mh, dh);
    assert_int_equal(sai_write_file_atomic(p, txt, strlen(txt), 0600, false, NULL), 0);
    assert_int_not_equal(sai_verify_policy_load(&pol, p, &err), 0);
    assert_non_null(strstr(err.msg, "unknown key \"allow_simulate\""));
    snprintf(txt, sizeof txt, "{\"measurement\":\"%s\",\"dataset_identity\":\"%s\",\"allow_simulated\":false,"
             "\"allow_simulated\":true}", mh, dh);
    assert_int_equal(sai_write_file_atomic(p, txt, strlen(txt), 0600, false, NULL), 0);
    assert_int_not_equal(sai_verify_policy_load(&pol, p, &err), 0);
    assert_non_null(strstr(err.msg, "twice"));
    snprintf(txt, sizeof txt, "{\"measurement\":\"%s\"}", mh);
    assert_int_equal(sai_write_file_atomic(p, txt, strlen(txt), 0600, false, NULL), 0);
    assert_int_not_equal(sai_verify_policy_load(&pol, p, &err), 0);
    assert_non_null(strstr(err.msg, "dataset_identity"));
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- a distributed job: every other worker's evidence ---------------------
 * Worker 0 signs; workers 1..N-1 are listed with evidence over
 * SHA-512("secureai/dist/v1 worker" || job || rank || N || weights hash).
 * Each check refuses one wrong worker, naming it. */
enum { DW_OK, DW_OTHER_MEAS, DW_OTHER_WEIGHTS, DW_WRONG_RANK, DW_OTHER_SPEC, DW_MISSING };

static char *sign_dist(int how)
{
    enum { N = 3 };
    sai_error_t err = {0};
    sai_ec_key_t *k = NULL;
    uint8_t pub[97], rd[64], job[16], ws[32], other_meas[48];
    memset(ws, 0x77, sizeof ws);
    memset(other_meas, 0x4e, sizeof other_meas);
    assert_int_equal(sai_ec_generate(&k, NULL), 0);
    assert_int_equal(sai_ec_public_raw(k, pub, &err), 0);
    assert_int_equal(sai_provenance_report_data(rd, pub, &err), 0);
    assert_int_equal(sai_pipeline__dist_job_id(job, spec, &err), 0);
    size_t evlen = 0, wl[N] = {0};
    char *ev = make_evidence(meas, rd, &evlen), *wev[N] = {NULL};
    for (uint32_t r = 1; r < N; r++) {
        uint8_t wrd[64], wws[32];
        memcpy(wws, ws, 32);
        if (how == DW_OTHER_WEIGHTS && r == 2)
            wws[0] ^= 1;
        assert_int_equal(sai_pipeline__dist_worker_report_data(wrd, job, how == DW_WRONG_RANK && r == 2 ? 1 : r, N,
                                                               wws, &err), 0);
        if (how == DW_OTHER_SPEC && r == 2)
            host_data[0] ^= 1;
        wev[r] = make_evidence(how == DW_OTHER_MEAS && r == 2 ? other_meas : meas, wrd, &wl[r]);
        if (how == DW_OTHER_SPEC && r == 2)
            host_data[0] ^= 1;
    }
    sai_provenance_facts_t f = {0};
    f.subject_name = "model.sealed";
    assert_int_equal(sai_hash(SAI_SHA256, f.subject_sha256, model, sizeof model, &err), 0);
    memcpy(f.dataset_identity, dsid, 32);
    memcpy(f.measurement, meas, 48);
    memcpy(f.spec_hash, spec, 32);
    f.tee = "sim";
    f.time = claimed_time;
    f.evidence = (const uint8_t *)ev;
    f.evidence_len = evlen;
    f.dist_world = N;
    memcpy(f.dist_weights_sha256, ws, 32);
    const uint8_t *wp[N] = {NULL, (const uint8_t *)wev[1], (const uint8_t *)wev[2]};
    if (how == DW_MISSING)
        f.dist_world = N - 1;   /* claims 2 workers, lists worker 1 bound to 3: refused by the binding */
    f.dist_evidence = wp;
    f.dist_evidence_len = wl;
    char *env = NULL;
    if (sai_provenance_sign(&env, NULL, &f, k, &err) != 0)
        fail_msg("sign: %s", err.msg);
    free(ev);
    for (int r = 1; r < N; r++)
        free(wev[r]);
    sai_ec_free(k);
    return env;
}

static void test_dist_workers_evidence(void **state)
{
    (void)state;
    char *env = sign_dist(DW_OK);
    sai_error_t err = {0};
    sai_provenance_expect_t e = {model, sizeof model, dsid, meas, spec, base_now(), 0, false};
    sai_provenance_result_t r;
    if (sai_provenance_verify(env, strlen(env), &e, &verifier, &r, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(r.dist_workers, 3);
    free(env);
    static const struct { int how; const char *why; } bad[] = {
        {DW_OTHER_MEAS, "worker 2 ran another launch measurement"},
        {DW_OTHER_WEIGHTS, "worker 2's evidence is not bound to this job"},
        {DW_WRONG_RANK, "worker 2's evidence is not bound to this job"},
        {DW_OTHER_SPEC, "worker 2's HOST_DATA is not the statement's spec"},
        {DW_MISSING, "worker 1's evidence is not bound"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        env = sign_dist(bad[i].how);
        expect_fail(env, model, bad[i].why);
        free(env);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dist_workers_evidence),
        cmocka_unit_test(test_genuine_verifies),
        cmocka_unit_test(test_any_field_changed_fails),
        cmocka_unit_test(test_unbound_key_fails),
        cmocka_unit_test(test_each_expectation),
        cmocka_unit_test(test_duplicate_and_unknown_keys),
        cmocka_unit_test(test_evidence_format_from_evidence),
        cmocka_unit_test(test_spec_is_host_data),
        cmocka_unit_test(test_freshness),
        cmocka_unit_test(test_insecure_dev_marker),
        cmocka_unit_test(test_kbs_channel_and_epochs),
        cmocka_unit_test(test_duration_and_policy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
