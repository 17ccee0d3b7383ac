/*
 * ratls.c — the model server's RA-TLS certificate: made inside the enclave
 * (sai_serve__ratls_make, for server.c) and checked by a client during the
 * handshake (sai_serve_ratls_check, for client.c and `secureai infer`).
 *
 * The certificate is self-signed by a fresh P-256 key that never leaves the
 * enclave. Two extensions carry what a client needs:
 *   SAI_RATLS_OID_CLAIMS    {"model_sha256":"<hex>","spec_sha256":"<hex>"}
 *   SAI_RATLS_OID_EVIDENCE  the TEE's evidence envelope (secureai-evidence/v1,
 *                           the format src/attest verifies), whose report data is
 *     SHA-512("secureai/v1/ratls" || 0x00 || SHA-256(SPKI DER) || SHA-256(claims))
 * so the evidence names both the TLS key and the model. The Intel RA-TLS
 * formats of src/attest/ratls.c carry DCAP quotes only; a sim or SEV-SNP
 * report travels in its own envelope, hence these two extensions (UUID
 * OIDs under 2.25). docs/serving.md, "The certificate".
 */
#include "serve/serve_internal.h"

#include <cjson/cJSON.h>
#include <libgen.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "secureai/attest.h"
#include "secureai/crypto.h"
#include "secureai/util.h"

#define CERT_VALIDITY_S (30L * 24 * 3600)
#define EXT_MAX (256u * 1024u)

int sai_serve__report_data(uint8_t rd[64], const uint8_t spki_sha256[32], const uint8_t *claims, size_t claims_len,
                           sai_error_t *err)
{
    uint8_t buf[sizeof SAI_RATLS_DOMAIN + 64];
    memcpy(buf, SAI_RATLS_DOMAIN, sizeof SAI_RATLS_DOMAIN);   /* with its NUL: the 0x00 separator */
    memcpy(buf + sizeof SAI_RATLS_DOMAIN, spki_sha256, 32);
    int rc = sai_hash(SAI_SHA256, buf + sizeof SAI_RATLS_DOMAIN + 32, claims, claims_len, err);
    if (rc == 0)
        rc = sai_hash(SAI_SHA512, rd, buf, sizeof buf, err);
    return rc;
}

static int spki_sha256(X509 *x, uint8_t out[32], sai_error_t *err)
{
    uint8_t *der = NULL;
    int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    int rc = n > 0 ? sai_hash(SAI_SHA256, out, der, (size_t)n, err)
                   : sai_error_set(err, SAI_ECRYPTO, "ra-tls: cannot encode the public key");
    OPENSSL_free(der);
    return rc;
}

static int add_ext(X509 *x, const char *oid, const void *data, size_t len)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    int ok = obj != NULL && os != NULL && ASN1_OCTET_STRING_set(os, data, (int)len) == 1 &&
             (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) != NULL && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    return ok ? 0 : -1;
}

int sai_serve__ratls_make(EVP_PKEY **key_out, X509 **cert_out, const char *claims, sai_serve_evidence_fn ev,
                          void *ev_ctx, char **ev_json, size_t *ev_len, sai_error_t *err)
{
    *key_out = NULL;
    *cert_out = NULL;
    *ev_json = NULL;
    int rc = 0;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    uint8_t serial[16], sk[32], rd[64];
    BIGNUM *bn = NULL;
    if (key == NULL || x == NULL || name == NULL) {
        rc = sai_error_set(err, SAI_ECRYPTO, "ra-tls: cannot generate the TLS key");
        goto out;
    }
    if ((rc = sai_random_bytes(serial, sizeof serial, err)))
        goto out;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (bn == NULL || X509_set_version(x, 2) != 1 || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
        X509_gmtime_adj(X509_getm_notBefore(x), -60) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), CERT_VALIDITY_S) == NULL || X509_set_pubkey(x, key) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"secureai-serve", -1, -1, 0) != 1 ||
        X509_set_subject_name(x, name) != 1 || X509_set_issuer_name(x, name) != 1) {
        rc = sai_error_set(err, SAI_ECRYPTO, "ra-tls: cannot build the certificate");
        goto out;
    }
    if ((rc = spki_sha256(x, sk, err)) ||
        (rc = sai_serve__report_data(rd, sk, (const uint8_t *)claims, strlen(claims), err)) ||
        (rc = ev(ev_ctx, rd, ev_json, ev_len, err))) {
        sai_error_prefix(err, "ra-tls: evidence");
        goto out;
    }
    if (*ev_len > EXT_MAX || add_ext(x, SAI_RATLS_OID_CLAIMS, claims, strlen(claims)) != 0 ||
        add_ext(x, SAI_RATLS_OID_EVIDENCE, *ev_json, *ev_len) != 0 || X509_sign(x, key, EVP_sha256()) <= 0) {
        rc = sai_error_set(err, SAI_ECRYPTO, "ra-tls: cannot sign the certificate");
        goto out;
    }
    *key_out = key;
    *cert_out = x;
    key = NULL;
    x = NULL;
out:
    ERR_clear_error();
    BN_free(bn);
    X509_NAME_free(name);
    X509_free(x);
    EVP_PKEY_free(key);
    if (rc) {
        free(*ev_json);
        *ev_json = NULL;
    }
    return rc;
}

/* The one extension with this OID (two are refused: which would count?). */
static const ASN1_OCTET_STRING *one_ext(X509 *x, const char *oid)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    if (obj == NULL)
        return NULL;
    int i = X509_get_ext_by_OBJ(x, obj, -1);
    int j = i >= 0 ? X509_get_ext_by_OBJ(x, obj, i) : -1;
    ASN1_OBJECT_free(obj);
    if (i < 0 || j >= 0)
        return NULL;
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_get_ext(x, i));
    return v != NULL && ASN1_STRING_length(v) > 0 && (size_t)ASN1_STRING_length(v) <= EXT_MAX ? v : NULL;
}

static int hex_field(const cJSON *o, const char *key, uint8_t *out, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && strlen(v->valuestring) == 2 * n && sai_hex_decode(out, n, v->valuestring, NULL) == 0
               ? 0
               : -1;
}

static int claims_parse(const uint8_t *d, size_t n, sai_serve_verified_t *out)
{
    cJSON *o = cJSON_ParseWithLength((const char *)d, n);
    int rc = cJSON_IsObject(o) && cJSON_GetArraySize(o) == 2 && hex_field(o, "model_sha256", out->model_sha256, 32) == 0 &&
                     hex_field(o, "spec_sha256", out->spec_sha256, 32) == 0
                 ? 0
                 : -1;
    cJSON_Delete(o);
    return rc;
}

int sai_serve__ratls_check(const uint8_t *der, size_t len, const sai_serve_policy_t *p,
                           const sai_attest_policy_t *ap, int64_t at, sai_serve_verified_t *out, sai_error_t *err)
{
    sai_serve_verified_t local;
    if (out == NULL)
        out = &local;
    memset(out, 0, sizeof *out);
    if (at == 0)
        at = (int64_t)time(NULL);
    int rc = 0;
    const uint8_t *q = der;
    X509 *x = len > 0 && len <= 2 * EXT_MAX ? d2i_X509(NULL, &q, (long)len) : NULL;
    EVP_PKEY *pub = x ? X509_get0_pubkey(x) : NULL;
    time_t t = (time_t)at;
    uint8_t sk[32], rd[64];
    if (x == NULL || q != der + len) {
        rc = sai_error_set(err, SAI_EFORMAT, "ra-tls: the server's certificate is not one DER X.509 certificate");
        goto out;
    }
    if (pub == NULL || X509_verify(x, pub) != 1) {
        rc = sai_error_set(err, SAI_EAUTH, "ra-tls: the certificate's self-signature does not verify");
        goto out;
    }
    if (X509_cmp_time(X509_get0_notBefore(x), &t) >= 0 || X509_cmp_time(X509_get0_notAfter(x), &t) <= 0) {
        rc = sai_error_set(err, SAI_EAUTH, "ra-tls: the certificate is not valid now");
        goto out;
    }
    const ASN1_OCTET_STRING *cl = one_ext(x, SAI_RATLS_OID_CLAIMS), *ev = one_ext(x, SAI_RATLS_OID_EVIDENCE);
    if (cl == NULL || ev == NULL) {
        rc = sai_error_set(err, SAI_EFORMAT, "ra-tls: the certificate does not carry exactly one claims and one "
                           "evidence extension (not a secureai model server)");
        goto out;
    }
    const uint8_t *cd = ASN1_STRING_get0_data(cl);
    size_t cn = (size_t)ASN1_STRING_length(cl);
    if ((rc = spki_sha256(x, sk, err)) || (rc = sai_serve__report_data(rd, sk, cd, cn, err)))
        goto out;
    sai_attest_result_t res;
    /* The report data is checked by the verifier: the evidence must name
     * this certificate's key and these claims. */
    if ((rc = sai_attest_verify_evidence((const char *)ASN1_STRING_get0_data(ev), (size_t)ASN1_STRING_length(ev), ap,
                                         rd, at, &res, err))) {
        sai_error_prefix(err, "ra-tls: evidence");
        goto out;
    }
    out->simulated = res.is_simulated || res.tee == SAI_TEE_SIM;
    snprintf(out->tee, sizeof out->tee, "%s", sai_tee_kind_name(res.tee) ? sai_tee_kind_name(res.tee) : "?");
    if (out->simulated && !p->allow_simulated) {
        rc = sai_error_set(err, SAI_EPOLICY, "ra-tls: allow_simulated: the server's evidence is simulated (%s) and "
                           "the policy does not say allow_simulated: true", out->tee);
        goto out;
    }
    if (res.measurement_len != 48) {
        rc = sai_error_set(err, SAI_EFORMAT, "ra-tls: the evidence carries a %zu-byte measurement, not 48",
                           res.measurement_len);
        goto out;
    }
    memcpy(out->measurement, res.measurement, 48);
    if (!sai_ct_equal(res.measurement, p->measurement, 48)) {
        char got[97];
        sai_hex_encode(got, res.measurement, 48);
        rc = sai_error_set(err, SAI_EPOLICY, "ra-tls: measurement: the server runs %.16s..., not the policy's",
                           got);
        goto out;
    }
    if (claims_parse(cd, cn, out) != 0) {
        rc = sai_error_set(err, SAI_EFORMAT, "ra-tls: the claims are not {\"model_sha256\", \"spec_sha256\"}");
        goto out;
    }
    if (!sai_ct_equal(out->model_sha256, p->model_sha256, 32)) {
        char got[65];
        sai_hex_encode(got, out->model_sha256, 32);
        rc = sai_error_set(err, SAI_EPOLICY, "ra-tls: model_sha256: the server serves %.16s..., not the policy's",
                           got);
        goto out;
    }
    if (p->has_spec_sha256 && !sai_ct_equal(out->spec_sha256, p->spec_sha256, 32)) {
        rc = sai_error_set(err, SAI_EPOLICY, "ra-tls: spec_sha256: the server's spec is not the policy's");
        goto out;
    }
out:
    ERR_clear_error();
    X509_free(x);
    return rc;
}

int sai_serve__attest_policy(const sai_serve_policy_t *p, sai_attest_policy_t **ap, sai_error_t *err)
{
    if (p->attestation_policy[0] != '\0')
        return sai_attest_policy_load_file(ap, p->attestation_policy, err);
    /* As `secureai verify` does without one: hardware TEE kinds, plus sim
     * (the local platform's ARK) only when the policy allows simulation. */
    char yaml[160];
    snprintf(yaml, sizeof yaml, "allowed_tee: [sev-snp, tdx, sgx%s]\nallow_simulated: %s\n",
             p->allow_simulated ? ", sim" : "", p->allow_simulated ? "true" : "false");
    return sai_attest_policy_load(ap, yaml, strlen(yaml), err);
}

int sai_serve_ratls_check(const uint8_t *der, size_t len, const sai_serve_policy_t *p, int64_t at,
                          sai_serve_verified_t *out, sai_error_t *err)
{
    sai_attest_policy_t *ap = NULL;
    int rc = sai_serve__attest_policy(p, &ap, err);
    if (rc == 0)
        rc = sai_serve__ratls_check(der, len, p, ap, at, out, err);
    sai_attest_policy_free(ap);
    return rc;
}

int sai_serve_policy_load(sai_serve_policy_t *p, const char *path, sai_error_t *err)
{
    memset(p, 0, sizeof *p);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = sai_read_file(path, 64 * 1024, &buf, &len, err);
    if (rc)
        return sai_error_prefix(err, "serving policy %s", path);
    cJSON *o = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    if (!cJSON_IsObject(o)) {
        rc = sai_error_set(err, SAI_EFORMAT, "serving policy %s: not a JSON object", path);
        goto out;
    }
    bool has_m = false, has_model = false;
    for (cJSON *it = o->child; it != NULL; it = it->next) {
        const char *k = it->string;
        if (strcmp(k, "measurement") == 0 && hex_field(o, k, p->measurement, 48) == 0) {
            has_m = true;
        } else if (strcmp(k, "model_sha256") == 0 && hex_field(o, k, p->model_sha256, 32) == 0) {
            has_model = true;
        } else if (strcmp(k, "spec_sha256") == 0 && hex_field(o, k, p->spec_sha256, 32) == 0) {
            p->has_spec_sha256 = true;
        } else if (strcmp(k, "allow_simulated") == 0 && cJSON_IsBool(it)) {
            p->allow_simulated = cJSON_IsTrue(it);
        } else if (strcmp(k, "attestation_policy") == 0 && cJSON_IsString(it) && it->valuestring[0] != '\0') {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s", path);
            int n = it->valuestring[0] == '/'
                        ? snprintf(p->attestation_policy, sizeof p->attestation_policy, "%s", it->valuestring)
                        : snprintf(p->attestation_policy, sizeof p->attestation_policy, "%s/%s", dirname(dir),
                                   it->valuestring);
            if (n < 0 || (size_t)n >= sizeof p->attestation_policy) {
                rc = sai_error_set(err, SAI_ELIMIT, "serving policy %s: attestation_policy path too long", path);
                goto out;
            }
        } else {
            rc = sai_error_set(err, SAI_EINVAL, "serving policy %s: key '%.40s' is unknown or malformed "
                               "(measurement: 96 hex, model_sha256 / spec_sha256: 64 hex, allow_simulated: "
                               "bool, attestation_policy: file)", path, k);
            goto out;
        }
    }
    if (!has_m || !has_model)
        rc = sai_error_set(err, SAI_EINVAL, "serving policy %s: measurement and model_sha256 are required "
                           "(a client that trusts any model or any enclave has no reason to attest)", path);
out:
    cJSON_Delete(o);
    return rc;
}
