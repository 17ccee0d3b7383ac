/*
 * ratls.c — RA-TLS certificates: find the DCAP quote(s) a self-signed X.509
 * certificate carries and check that the quote binds the certificate's
 * public key, then (sai_dcap_ratls_verify) verify the quote itself.
 *
 * Formats (CCC "Interoperable RA-TLS" and the producers' own):
 *  - Gramine legacy: extension OID TLV 06 0b 06 09 2a864886f84d8a3906 (Gramine
 *    nests the TLV of 1.2.840.113741.1337.6 inside the OID; the plain OID is
 *    accepted too), value = raw quote, report_data[0:32] = SHA-256(SPKI DER).
 *  - Intel SGX SDK: 1.2.840.113741.1.13.1, value = raw quote; the SDK binds
 *    through the DICE claims in the same certificate (below).
 *  - TCG DICE 2.23.133.5.4.9: CBOR tag 60000 [quote bstr, claims bstr];
 *    report_data[0:32] = SHA-256(claims) and claims["pubkey-hash"] =
 *    [hash-alg, H(SPKI DER)] (alg 1 = SHA-256, 7 = SHA-384, 8 = SHA-512).
 * The CBOR reader below is minimal and bounded (definite lengths, depth 8).
 */
#include "attest/attest_internal.h"
#include "attest/dcap_internal.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/crypto.h"

static const uint8_t OID_GRAMINE_LEGACY[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf8,
                                              0x4d, 0x8a, 0x39, 0x06 };
static const uint8_t OID_GRAMINE[] = { 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x8a, 0x39, 0x06 };
static const uint8_t OID_INTEL_SDK[] = { 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01 };
static const uint8_t OID_TCG_DICE[] = { 0x67, 0x81, 0x05, 0x05, 0x04, 0x09 };

/* ---- minimal CBOR ---- */
typedef struct {
    const uint8_t *p;
    size_t left;
} cbor;

/* Read an item head: major type and argument. Indefinite lengths refused. */
static int cbor_head(cbor *c, int *major, uint64_t *arg)
{
    if (c->left < 1)
        return -1;
    uint8_t ib = *c->p++;
    c->left--;
    *major = ib >> 5;
    unsigned ai = ib & 31;
    if (ai < 24) {
        *arg = ai;
        return 0;
    }
    size_t n = ai == 24 ? 1 : ai == 25 ? 2 : ai == 26 ? 4 : ai == 27 ? 8 : 0;
    if (n == 0 || n > c->left)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | c->p[i];
    c->p += n;
    c->left -= n;
    *arg = v;
    return 0;
}

static int cbor_bytes(cbor *c, int want_major, const uint8_t **p, size_t *n)
{
    int major;
    uint64_t arg;
    if (cbor_head(c, &major, &arg) != 0 || major != want_major || arg > c->left)
        return -1;
    *p = c->p;
    *n = (size_t)arg;
    c->p += arg;
    c->left -= (size_t)arg;
    return 0;
}

static int cbor_skip(cbor *c, int depth)
{
    int major;
    uint64_t arg;
    if (depth > 8 || cbor_head(c, &major, &arg) != 0)
        return -1;
    switch (major) {
    case 0: case 1: case 7:
        return 0;
    case 2: case 3:
        if (arg > c->left)
            return -1;
        c->p += arg;
        c->left -= (size_t)arg;
        return 0;
    case 4: case 5: {
        if (arg > c->left)
            return -1; /* every item takes at least one byte */
        uint64_t items = major == 5 ? arg * 2 : arg;
        for (uint64_t i = 0; i < items; i++)
            if (cbor_skip(c, depth + 1) != 0)
                return -1;
        return 0;
    }
    case 6:
        return cbor_skip(c, depth + 1);
    }
    return -1;
}

/* claims map -> the pubkey-hash [alg, hash] */
static int claims_pubkey_hash(const uint8_t *claims, size_t len, int *alg, const uint8_t **h,
                              size_t *hlen)
{
    cbor c = { claims, len };
    int major;
    uint64_t n;
    if (cbor_head(&c, &major, &n) != 0 || major != 5 || n > len)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *k;
        size_t kn;
        if (cbor_bytes(&c, 3, &k, &kn) != 0)
            return -1;
        if (kn == 11 && memcmp(k, "pubkey-hash", 11) == 0) {
            const uint8_t *v;
            size_t vn;
            if (cbor_bytes(&c, 2, &v, &vn) != 0)
                return -1;
            cbor in = { v, vn };
            uint64_t cnt, a;
            if (cbor_head(&in, &major, &cnt) != 0 || major != 4 || cnt != 2 ||
                cbor_head(&in, &major, &a) != 0 || major != 0 || a > 64 ||
                cbor_bytes(&in, 2, h, hlen) != 0)
                return -1;
            *alg = (int)a;
            return 0;
        }
        if (cbor_skip(&c, 0) != 0)
            return -1;
    }
    return -1;
}

/* tag 60000 [quote, claims] */
static int dice_parse(const uint8_t *v, size_t n, const uint8_t **quote, size_t *qlen,
                      const uint8_t **claims, size_t *clen)
{
    cbor c = { v, n };
    int major;
    uint64_t arg;
    if (cbor_head(&c, &major, &arg) != 0 || major != 6 || arg != 60000 ||
        cbor_head(&c, &major, &arg) != 0 || major != 4 || arg != 2 ||
        cbor_bytes(&c, 2, quote, qlen) != 0 || cbor_bytes(&c, 2, claims, clen) != 0)
        return -1;
    return 0;
}

void sai_dcap_ratls_free(sai_ratls_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->ev[i].quote);
    memset(r, 0, sizeof *r);
}

static X509 *load_cert(const uint8_t *cert, size_t len)
{
    if (len == 0 || len > SAI_DCAP_COLLATERAL_MAX)
        return NULL;
    X509 *x = NULL;
    if (len > 10 && memcmp(cert, "-----BEGIN", 10) == 0) {
        BIO *b = BIO_new_mem_buf(cert, (int)len);
        if (b != NULL)
            x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
    } else {
        const uint8_t *p = cert;
        x = d2i_X509(NULL, &p, (long)len);
    }
    ERR_clear_error();
    return x;
}

static const uint8_t *report_data_of(const uint8_t *quote, size_t len, sai_dcap_quote_t *q)
{
    if (sai_dcap_quote_parse(quote, len, q, NULL) != 0)
        return NULL;
    return q->tee == SAI_DCAP_TDX ? q->td.report_data : q->sgx.report_data;
}

static int add_ev(sai_ratls_t *r, sai_ratls_kind_t kind, const uint8_t *q, size_t qlen)
{
    if (r->n >= SAI_RATLS_MAX_EVIDENCE || qlen == 0 || qlen > SAI_DCAP_QUOTE_MAX)
        return -1;
    sai_ratls_evidence_t *e = &r->ev[r->n];
    if ((e->quote = malloc(qlen)) == NULL)
        return -1;
    memcpy(e->quote, q, qlen);
    e->quote_len = qlen;
    e->kind = kind;
    r->n++;
    return 0;
}

int sai_dcap_ratls_extract(const uint8_t *cert, size_t len, sai_ratls_t *r, sai_error_t *err)
{
    memset(r, 0, sizeof *r);
    X509 *x = load_cert(cert, len);
    if (x == NULL)
        return sai_error_set(err, SAI_EFORMAT, "ra-tls: not a PEM or DER X.509 certificate");
    int rc = 0;
    uint8_t *spki = NULL;
    int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
    if (spki_len <= 0 || sai_hash(SAI_SHA256, r->spki_sha256, spki, (size_t)spki_len, err) != 0) {
        rc = sai_error_set(err, SAI_ECRYPTO, "ra-tls: cannot encode the public key");
        goto out;
    }
    EVP_PKEY *pub = X509_get0_pubkey(x);
    r->self_signature_ok = pub != NULL && X509_verify(x, pub) == 1;
    r->not_before = sai_dcap__asn1_time(X509_get0_notBefore(x));
    r->not_after = sai_dcap__asn1_time(X509_get0_notAfter(x));

    const uint8_t *claims = NULL;
    size_t claims_len = 0;
    for (int i = 0; i < X509_get_ext_count(x); i++) {
        X509_EXTENSION *ext = X509_get_ext(x, i);
        const ASN1_OBJECT *obj = X509_EXTENSION_get_object(ext);
        const uint8_t *od = OBJ_get0_data(obj);
        size_t on = (size_t)OBJ_length(obj);
        const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(ext);
        const uint8_t *v = ASN1_STRING_get0_data(val);
        size_t vn = (size_t)ASN1_STRING_length(val);
        int add = 0;
        if (od == NULL)
            continue;
        if ((on == sizeof OID_GRAMINE_LEGACY && memcmp(od, OID_GRAMINE_LEGACY, on) == 0) ||
            (on == sizeof OID_GRAMINE && memcmp(od, OID_GRAMINE, on) == 0)) {
            add = add_ev(r, SAI_RATLS_GRAMINE_LEGACY, v, vn);
        } else if (on == sizeof OID_INTEL_SDK && memcmp(od, OID_INTEL_SDK, on) == 0) {
            add = add_ev(r, SAI_RATLS_INTEL_SDK, v, vn);
        } else if (on == sizeof OID_TCG_DICE && memcmp(od, OID_TCG_DICE, on) == 0) {
            const uint8_t *q;
            size_t qn;
            if (dice_parse(v, vn, &q, &qn, &claims, &claims_len) != 0) {
                rc = sai_error_set(err, SAI_EFORMAT,
                                   "ra-tls: TCG DICE extension is not tag 60000 [quote, claims]");
                goto out;
            }
            add = add_ev(r, SAI_RATLS_TCG_DICE, q, qn);
        }
        if (add != 0) {
            rc = sai_error_set(err, SAI_ELIMIT, "ra-tls: too many or oversized quote extensions");
            goto out;
        }
    }
    if (r->n == 0) {
        rc = sai_error_set(err, SAI_ENOTFOUND,
                           "ra-tls: the certificate carries no Gramine, Intel SGX SDK or TCG DICE "
                           "quote extension");
        goto out;
    }

    /* The binding: which hash of this certificate's key each quote carries. */
    uint8_t claims_h[32];
    bool claims_bind_key = false;
    if (claims != NULL) {
        int alg;
        const uint8_t *ph;
        size_t phn;
        if (sai_hash(SAI_SHA256, claims_h, claims, claims_len, NULL) == 0 &&
            claims_pubkey_hash(claims, claims_len, &alg, &ph, &phn) == 0) {
            sai_hash_alg_t ha = alg == 1 ? SAI_SHA256 : alg == 7 ? SAI_SHA384 : alg == 8 ? SAI_SHA512 : 0;
            uint8_t kh[64];
            claims_bind_key = ha != 0 && phn == sai_hash_len(ha) &&
                              sai_hash(ha, kh, spki, (size_t)spki_len, NULL) == 0 &&
                              memcmp(kh, ph, phn) == 0;
        }
    }
    for (size_t i = 0; i < r->n; i++) {
        sai_ratls_evidence_t *e = &r->ev[i];
        sai_dcap_quote_t q;
        const uint8_t *rd = report_data_of(e->quote, e->quote_len, &q);
        if (rd == NULL) {
            snprintf(e->binding, sizeof e->binding, "the quote does not parse");
        } else if (e->kind != SAI_RATLS_TCG_DICE && memcmp(rd, r->spki_sha256, 32) == 0) {
            e->binding_ok = true;
            snprintf(e->binding, sizeof e->binding, "report_data[0:32] = SHA-256(SubjectPublicKeyInfo)");
        } else if (claims != NULL && memcmp(rd, claims_h, 32) == 0) {
            e->binding_ok = claims_bind_key;
            snprintf(e->binding, sizeof e->binding, "%s",
                     claims_bind_key ? "report_data[0:32] = SHA-256(DICE claims), claims pubkey-hash "
                                       "= hash(SubjectPublicKeyInfo)"
                                     : "report_data binds the DICE claims, but their pubkey-hash is "
                                       "not this certificate's key");
        } else {
            snprintf(e->binding, sizeof e->binding,
                     "report_data[0:32] is neither SHA-256 of the public key nor of the DICE claims");
        }
    }
out:
    OPENSSL_free(spki);
    X509_free(x);
    if (rc != 0)
        sai_dcap_ratls_free(r);
    return rc;
}

int sai_dcap_ratls_verify(const uint8_t *cert, size_t len, sai_dcap_collateral_t *collateral,
                          time_t at, sai_dcap_result_t *res, sai_error_t *err)
{
    memset(res, 0, sizeof *res);
    res->verdict = SAI_DCAP_CONTRAINDICATED;
    sai_ratls_t r;
    int rc = sai_dcap_ratls_extract(cert, len, &r, err);
    if (rc != 0) {
        snprintf(res->failed_check, sizeof res->failed_check, "ratls_format");
        snprintf(res->failed_detail, sizeof res->failed_detail, "%.380s", err ? err->msg : "");
        return rc;
    }
    const char *check = NULL;
    char detail[256] = "";
    if (!r.self_signature_ok) {
        check = "ratls_signature";
        snprintf(detail, sizeof detail, "the certificate's self-signature does not verify");
    } else if (at < r.not_before || at > r.not_after) {
        check = "ratls_validity";
        char t1[SAI_ATTEST_TIME_STR], t2[SAI_ATTEST_TIME_STR], t3[SAI_ATTEST_TIME_STR];
        sai_attest__time_str(t1, (int64_t)r.not_before);
        sai_attest__time_str(t2, (int64_t)r.not_after);
        sai_attest__time_str(t3, (int64_t)at);
        snprintf(detail, sizeof detail, "the certificate is valid %s .. %s, not at %s", t1, t2, t3);
    }
    for (size_t i = 0; check == NULL && i < r.n; i++)
        if (!r.ev[i].binding_ok) {
            check = "ratls_binding";
            snprintf(detail, sizeof detail, "quote %zu: %s", i, r.ev[i].binding);
        }
    if (check != NULL) {
        snprintf(res->failed_check, sizeof res->failed_check, "%s", check);
        snprintf(res->failed_detail, sizeof res->failed_detail, "%s", detail);
        rc = sai_error_set(err, SAI_EAUTH, "dcap %s: %s", check, detail);
        goto out;
    }
    /* Verify every quote; report the DICE one (else the first). */
    size_t pick = 0;
    for (size_t i = 0; i < r.n; i++)
        if (r.ev[i].kind == SAI_RATLS_TCG_DICE)
            pick = i;
    for (size_t i = 0; i < r.n; i++) {
        if (i == pick)
            continue;
        sai_dcap_result_t other;
        if ((rc = sai_dcap_verify_bytes(r.ev[i].quote, r.ev[i].quote_len, collateral, at, &other,
                                        err)) != 0) {
            *res = other;
            goto out;
        }
    }
    rc = sai_dcap_verify_bytes(r.ev[pick].quote, r.ev[pick].quote_len, collateral, at, res, err);
out:
    sai_dcap_ratls_free(&r);
    return rc;
}
