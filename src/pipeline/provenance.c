/*
 * provenance.c — the provenance statement of a pipeline run: what code
 * (launch measurement, spec hash, engine version) ran on which data (dataset
 * identity) inside which kind of TEE, and what came out (the sealed model's
 * SHA-256, metrics).
 *
 * Format: an in-toto Statement v1 inside a DSSE envelope, signed ES384 (raw
 * r||s, base64url) by a P-384 key the enclave generated. The key is tied to
 * the enclave by attestation evidence whose report data is
 *
 *     SHA-512("secureai/v1/provenance" || 0x00 || raw public point)
 *
 * and the statement carries both the key and the evidence, so `secureai
 * verify` needs nothing but the statement, the model file and a policy.
 *
 * Verification order (first failure wins, one line): envelope shape ->
 * statement shape -> signature by the embedded key -> evidence (chain,
 * signature, policy: the attestation module) -> key binding -> measurement
 * (evidence = statement = expected) -> TEE kind -> dataset identity ->
 * spec hash -> model hash. Tests: tests/pipeline/test_provenance.c.
 */
#include "secureai/pipeline.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/util.h"

static const char binding_label[] = "secureai/v1/provenance";

int sai_provenance_report_data(uint8_t out[static 64], const uint8_t pub[static SAI_P384_POINT_LEN],
                               sai_error *err)
{
    uint8_t buf[sizeof binding_label + SAI_P384_POINT_LEN];
    memcpy(buf, binding_label, sizeof binding_label);   /* with the NUL separator */
    memcpy(buf + sizeof binding_label, pub, SAI_P384_POINT_LEN);
    return sai_hash(SAI_SHA512, out, buf, sizeof buf, err);
}

/* DSSE pre-authentication encoding. *out malloc'ed. */
static int pae(uint8_t **out, size_t *out_len, const char *type, const uint8_t *body, size_t blen,
               sai_error *err)
{
    char head[160];
    int h = snprintf(head, sizeof head, "DSSEv1 %zu %s %zu ", strlen(type), type, blen);
    if (h < 0 || (size_t)h >= sizeof head)
        return sai_error_set(err, SAI_EINVAL, "payload type too long");
    uint8_t *p = malloc((size_t)h + blen + 1);
    if (p == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    memcpy(p, head, (size_t)h);
    if (blen)
        memcpy(p + h, body, blen);
    *out = p;
    *out_len = (size_t)h + blen;
    return 0;
}

static void add_hex(cJSON *o, const char *k, const uint8_t *b, size_t n)
{
    char hex[2 * 64 + 1];
    sai_hex_encode(hex, b, n);
    cJSON_AddStringToObject(o, k, hex);
}

int sai_provenance_sign(char **envelope, size_t *len, const sai_provenance_facts *f,
                        const sai_ec_key *key, sai_error *err)
{
    *envelope = NULL;
    int rc = 0;
    char *stmt = NULL, *b64 = NULL, *sig64 = NULL, *ev64 = NULL, *pub64 = NULL, *out = NULL;
    uint8_t *msg = NULL;
    size_t msg_len = 0;
    uint8_t pub[SAI_P384_POINT_LEN], sig[SAI_P384_SIG_LEN], kid[32];
    cJSON *s = NULL, *env = NULL;

    if ((rc = sai_ec_public_raw(key, pub, err)) || (rc = sai_hash(SAI_SHA256, kid, pub, sizeof pub, err)) ||
        (rc = sai_b64url_encode(&pub64, pub, sizeof pub, err)) ||
        (rc = sai_b64url_encode(&ev64, f->evidence, f->evidence_len, err)))
        goto out;
    cJSON *metrics = f->metrics_json ? cJSON_Parse(f->metrics_json) : cJSON_CreateObject();
    if (metrics == NULL || !cJSON_IsObject(metrics)) {
        cJSON_Delete(metrics);
        rc = sai_error_set(err, SAI_EINVAL, "provenance: metrics are not a JSON object");
        goto out;
    }
    s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "_type", "https://in-toto.io/Statement/v1");
    cJSON *subj = cJSON_AddArrayToObject(s, "subject");
    cJSON *one = cJSON_CreateObject();
    cJSON_AddStringToObject(one, "name", f->subject_name);
    cJSON *dg = cJSON_AddObjectToObject(one, "digest");
    add_hex(dg, "sha256", f->subject_sha256, 32);
    cJSON_AddItemToArray(subj, one);
    cJSON_AddStringToObject(s, "predicateType", SAI_PROVENANCE_PREDICATE);
    cJSON *pr = cJSON_AddObjectToObject(s, "predicate");
    cJSON *ds = cJSON_AddObjectToObject(pr, "dataset");
    add_hex(ds, "identity", f->dataset_identity, 32);
    cJSON_AddStringToObject(ds, "resource", f->dataset_resource ? f->dataset_resource : "");
    add_hex(pr, "launch_measurement", f->measurement, SAI_MEASUREMENT_LEN);
    add_hex(pr, "spec_sha256", f->spec_hash, 32);
    cJSON *eng = cJSON_AddObjectToObject(pr, "engine");
    cJSON_AddStringToObject(eng, "name", "secureai");
    cJSON_AddStringToObject(eng, "version", f->engine_version ? f->engine_version : SAI_VERSION);
    cJSON_AddItemToObject(pr, "metrics", metrics);
    cJSON_AddStringToObject(pr, "tee", f->tee);
    cJSON_AddStringToObject(pr, "time", f->time ? f->time : "");
    if (f->kbs_channel) cJSON_AddStringToObject(pr, "kbs_channel", f->kbs_channel);
    cJSON *sk = cJSON_AddObjectToObject(pr, "signing_key");
    cJSON_AddStringToObject(sk, "alg", "ES384");
    cJSON_AddStringToObject(sk, "public", pub64);
    cJSON *ev = cJSON_AddObjectToObject(pr, "evidence");
    cJSON_AddStringToObject(ev, "format", f->evidence_format ? f->evidence_format : f->tee);
    cJSON_AddStringToObject(ev, "report_data",
                            "SHA-512(\"secureai/v1/provenance\" || 0x00 || signing_key.public)");
    cJSON_AddStringToObject(ev, "data", ev64);
    stmt = cJSON_PrintUnformatted(s);
    if (stmt == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = pae(&msg, &msg_len, SAI_PROVENANCE_PAYLOAD_TYPE, (const uint8_t *)stmt, strlen(stmt), err)) ||
        (rc = sai_ecdsa_sign(key, sig, msg, msg_len, err)) ||
        (rc = sai_b64url_encode(&b64, (const uint8_t *)stmt, strlen(stmt), err)) ||
        (rc = sai_b64url_encode(&sig64, sig, sizeof sig, err)))
        goto out;
    env = cJSON_CreateObject();
    cJSON_AddStringToObject(env, "payloadType", SAI_PROVENANCE_PAYLOAD_TYPE);
    cJSON_AddStringToObject(env, "payload", b64);
    cJSON *sigs = cJSON_AddArrayToObject(env, "signatures");
    cJSON *s1 = cJSON_CreateObject();
    char kidhex[65 + 7] = "sha256:";
    sai_hex_encode(kidhex + 7, kid, 32);
    cJSON_AddStringToObject(s1, "keyid", kidhex);
    cJSON_AddStringToObject(s1, "sig", sig64);
    cJSON_AddItemToArray(sigs, s1);
    out = cJSON_Print(env);
    if (out == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    *envelope = out;
    if (len)
        *len = strlen(out);
out:
    cJSON_Delete(s);
    cJSON_Delete(env);
    free(stmt);
    free(b64);
    free(sig64);
    free(ev64);
    free(pub64);
    free(msg);
    return rc;
}

/* ---- verification ---------------------------------------------------------- */

#define VFAIL(code, ...) do { rc = sai_error_set(err, (code), __VA_ARGS__); goto out; } while (0)

static const char *jget_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int hex_field(const cJSON *o, const char *k, uint8_t *out, size_t n)
{
    const char *s = jget_str(o, k);
    return s != NULL && strlen(s) == 2 * n && sai_hex_decode(out, n, s, NULL) == 0 ? 0 : -1;
}

int sai_provenance_verify(const char *envelope, size_t len, const sai_provenance_expect *exp,
                          const sai_evidence_verifier *v, sai_provenance_result *res, sai_error *err)
{
    int rc = 0;
    cJSON *env = NULL, *st = NULL;
    uint8_t *payload = NULL, *sig = NULL, *pub = NULL, *evidence = NULL, *msg = NULL;
    size_t payload_len = 0, sig_len = 0, pub_len = 0, ev_len = 0, msg_len = 0;
    sai_ec_key *key = NULL;
    sai_provenance_result local;
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof *res);

    if (len > SAI_PROVENANCE_MAX_BYTES)
        VFAIL(SAI_ELIMIT, "statement: larger than %u bytes", SAI_PROVENANCE_MAX_BYTES);
    env = cJSON_ParseWithLength(envelope, len);
    if (!cJSON_IsObject(env))
        VFAIL(SAI_EFORMAT, "statement: not a JSON DSSE envelope");
    const char *ptype = jget_str(env, "payloadType");
    const char *p64 = jget_str(env, "payload");
    const cJSON *sigs = cJSON_GetObjectItemCaseSensitive(env, "signatures");
    if (ptype == NULL || strcmp(ptype, SAI_PROVENANCE_PAYLOAD_TYPE) != 0)
        VFAIL(SAI_EFORMAT, "statement: payloadType is not %s", SAI_PROVENANCE_PAYLOAD_TYPE);
    if (p64 == NULL || !cJSON_IsArray(sigs) || cJSON_GetArraySize(sigs) != 1)
        VFAIL(SAI_EFORMAT, "statement: the envelope needs a payload and exactly one signature");
    const char *s64 = jget_str(cJSON_GetArrayItem(sigs, 0), "sig");
    if (s64 == NULL || sai_b64_decode(&sig, &sig_len, s64, strlen(s64), NULL) != 0 || sig_len != SAI_P384_SIG_LEN)
        VFAIL(SAI_EFORMAT, "statement: the signature is not a 96-byte ES384 signature");
    if (sai_b64_decode(&payload, &payload_len, p64, strlen(p64), NULL) != 0)
        VFAIL(SAI_EFORMAT, "statement: the payload is not base64");
    st = cJSON_ParseWithLength((const char *)payload, payload_len);
    if (!cJSON_IsObject(st))
        VFAIL(SAI_EFORMAT, "statement: the payload is not a JSON object");
    const char *t = jget_str(st, "_type"), *pt = jget_str(st, "predicateType");
    const cJSON *subj = cJSON_GetObjectItemCaseSensitive(st, "subject");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(st, "predicate");
    if (t == NULL || strcmp(t, "https://in-toto.io/Statement/v1") != 0 || pt == NULL ||
        strcmp(pt, SAI_PROVENANCE_PREDICATE) != 0 || !cJSON_IsArray(subj) ||
        cJSON_GetArraySize(subj) != 1 || !cJSON_IsObject(pr))
        VFAIL(SAI_EFORMAT, "statement: not a SecureAI in-toto provenance statement");

    /* Signature by the embedded key. */
    const cJSON *sk = cJSON_GetObjectItemCaseSensitive(pr, "signing_key");
    const char *alg = jget_str(sk, "alg"), *pk64 = jget_str(sk, "public");
    if (alg == NULL || strcmp(alg, "ES384") != 0 || pk64 == NULL ||
        sai_b64_decode(&pub, &pub_len, pk64, strlen(pk64), NULL) != 0 || pub_len != SAI_P384_POINT_LEN ||
        sai_ec_from_public_raw(&key, pub, pub_len, NULL) != 0)
        VFAIL(SAI_EFORMAT, "statement: signing_key is not an ES384 public key");
    if ((rc = pae(&msg, &msg_len, ptype, payload, payload_len, err)))
        goto out;
    if (sai_ecdsa_verify(key, sig, msg, msg_len, NULL) != 0)
        VFAIL(SAI_EAUTH, "signature: the statement is not signed by its signing key (altered after signing?)");

    /* Evidence, through the attestation module. */
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(pr, "evidence");
    const char *ev64 = jget_str(ev, "data"), *evfmt = jget_str(ev, "format");
    if (ev64 == NULL || evfmt == NULL || sai_b64_decode(&evidence, &ev_len, ev64, strlen(ev64), NULL) != 0)
        VFAIL(SAI_EFORMAT, "evidence: missing or not base64");
    if (v == NULL || v->verify == NULL)
        VFAIL(SAI_EUNSUPP, "evidence: no verifier for format '%s'", evfmt);
    if (v->format != NULL && strcmp(v->format, evfmt) != 0)
        VFAIL(SAI_EPOLICY, "evidence: format '%s' does not match the verifier's '%s'", evfmt, v->format);
    uint8_t rd[64], ev_meas[SAI_MEASUREMENT_LEN];
    char ev_tee[32] = "";
    sai_error verr = {0};
    if (v->verify(v->ctx, evidence, ev_len, rd, ev_meas, ev_tee, sizeof ev_tee, &verr) != 0)
        VFAIL(verr.code ? verr.code : SAI_EAUTH, "evidence: %s", verr.msg[0] ? verr.msg : "rejected");

    /* The key binding. */
    uint8_t want_rd[64];
    if ((rc = sai_provenance_report_data(want_rd, pub, err)))
        goto out;
    if (!sai_ct_equal(rd, want_rd, 64))
        VFAIL(SAI_EAUTH, "binding: the signing key is not the one bound in the evidence's report data");

    /* Measurement: evidence = statement = expected. */
    uint8_t st_meas[SAI_MEASUREMENT_LEN];
    if (hex_field(pr, "launch_measurement", st_meas, sizeof st_meas) != 0)
        VFAIL(SAI_EFORMAT, "statement: launch_measurement is not 96 hex digits");
    if (!sai_ct_equal(st_meas, ev_meas, sizeof st_meas))
        VFAIL(SAI_EAUTH, "measurement: the statement's launch measurement differs from the evidence's");
    if (exp == NULL || exp->measurement == NULL)
        VFAIL(SAI_EINVAL, "measurement: no expected measurement given");
    if (!sai_ct_equal(ev_meas, exp->measurement, SAI_MEASUREMENT_LEN)) {
        char h[97];
        sai_hex_encode(h, ev_meas, 16);
        VFAIL(SAI_EPOLICY, "measurement: %s... is not the expected launch measurement", h);
    }
    const char *tee = jget_str(pr, "tee");
    if (tee == NULL || (ev_tee[0] != '\0' && strcmp(tee, ev_tee) != 0))
        VFAIL(SAI_EAUTH, "tee: the statement says '%s' but the evidence is '%s'", tee ? tee : "?", ev_tee);

    /* Dataset identity. */
    uint8_t ds[32];
    const cJSON *dsj = cJSON_GetObjectItemCaseSensitive(pr, "dataset");
    if (hex_field(dsj, "identity", ds, 32) != 0)
        VFAIL(SAI_EFORMAT, "statement: dataset.identity is not 64 hex digits");
    if (exp->dataset_identity == NULL)
        VFAIL(SAI_EINVAL, "dataset: no expected dataset identity given");
    if (!sai_ct_equal(ds, exp->dataset_identity, 32))
        VFAIL(SAI_EPOLICY, "dataset: the model was trained on a different dataset than the expected one");

    uint8_t sh[32];
    if (hex_field(pr, "spec_sha256", sh, 32) != 0)
        VFAIL(SAI_EFORMAT, "statement: spec_sha256 is not 64 hex digits");
    if (exp->spec_hash != NULL && !sai_ct_equal(sh, exp->spec_hash, 32))
        VFAIL(SAI_EPOLICY, "spec: the statement's spec hash is not the expected one");

    /* The model. */
    const cJSON *s0 = cJSON_GetArrayItem(subj, 0);
    uint8_t want_model[32], got_model[32];
    const char *sname = jget_str(s0, "name");
    if (sname == NULL || hex_field(cJSON_GetObjectItemCaseSensitive(s0, "digest"), "sha256", want_model, 32) != 0)
        VFAIL(SAI_EFORMAT, "statement: subject needs a name and a sha256 digest");
    if (exp->model == NULL)
        VFAIL(SAI_EINVAL, "model: no model bytes given");
    if ((rc = sai_hash(SAI_SHA256, got_model, exp->model, exp->model_len, err)))
        goto out;
    if (!sai_ct_equal(want_model, got_model, 32))
        VFAIL(SAI_EAUTH, "model: the file's SHA-256 is not the statement's subject digest");

    snprintf(res->tee, sizeof res->tee, "%s", tee);
    snprintf(res->subject_name, sizeof res->subject_name, "%s", sname);
    const char *tm = jget_str(pr, "time");
    snprintf(res->time, sizeof res->time, "%s", tm ? tm : "");
    char *m = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(pr, "metrics"));
    if (m != NULL)
        snprintf(res->metrics, sizeof res->metrics, "%s", m);
    free(m);
    rc = 0;
out:
    cJSON_Delete(env);
    cJSON_Delete(st);
    free(payload);
    free(sig);
    free(pub);
    free(evidence);
    free(msg);
    sai_ec_free(key);
    return rc;
}
