/*
 * dcap_x509.c — the X.509 and ECDSA P-256 pieces DCAP needs, over OpenSSL:
 * raw r||s ECDSA-SHA256 verification, PEM chains, the pinned Intel SGX Root
 * CA, chain verification at a given time with CRLs, and the SGX extension of
 * PCK certificates (FMSPC, PCE-ID, TCB components, PCESVN, CPUSVN).
 *
 * OpenSSL does every piece of math; this file only arranges inputs. The DER
 * reader here walks the SGX extension (a certificate field, so untrusted
 * until the chain is verified, and bounded like everything else).
 */
#include "attest/dcap_internal.h"
#include "secureai/attest.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "secureai/crypto.h"

/* The Intel SGX Root CA (public, self-signed, ECDSA P-256), pinned: its
 * SHA-256 is SAI_DCAP_ROOT_SHA256 and tests/dcap checks that it is. */
static const char ROOT_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw\n"
    "aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv\n"
    "cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ\n"
    "BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG\n"
    "A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0\n"
    "aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT\n"
    "AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7\n"
    "1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB\n"
    "uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ\n"
    "MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50\n"
    "ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV\n"
    "Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI\n"
    "KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg\n"
    "AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=\n"
    "-----END CERTIFICATE-----\n";

static X509 *g_root;
static pthread_once_t g_root_once = PTHREAD_ONCE_INIT;

static void load_root(void)
{
    BIO *b = BIO_new_mem_buf(ROOT_PEM, (int)sizeof ROOT_PEM - 1);
    if (b == NULL)
        return;
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (x == NULL)
        return;
    /* Belt and braces: refuse to trust a root whose fingerprint differs. */
    uint8_t md[32];
    unsigned mdlen = 0;
    char hex[65];
    if (X509_digest(x, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32) {
        X509_free(x);
        return;
    }
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    if (strcmp(hex, SAI_DCAP_ROOT_SHA256) != 0) {
        X509_free(x);
        return;
    }
    g_root = x;
}

/* The pinned Intel SGX Root CA (parsed once, borrowed). */
static X509 *pinned_root(void)
{
    pthread_once(&g_root_once, load_root);
    return g_root;
}

/* A bounded DER reader. */
typedef struct {
    const uint8_t *p;
    size_t left;
} dcap_der;

/* Read one TLV (single-byte tags, definite lengths up to 4 bytes). */
static int der_next(dcap_der *d, uint8_t *tag, const uint8_t **val, size_t *vlen)
{
    if (d->left < 2)
        return -1;
    const uint8_t *p = d->p;
    size_t left = d->left;
    *tag = p[0];
    if ((p[0] & 0x1f) == 0x1f)
        return -1; /* multi-byte tags never occur in what we read */
    size_t len = p[1];
    p += 2;
    left -= 2;
    if (len & 0x80) {
        size_t n = len & 0x7f;
        if (n == 0 || n > 4 || n > left)
            return -1;
        len = 0;
        for (size_t i = 0; i < n; i++)
            len = (len << 8) | p[i];
        p += n;
        left -= n;
    }
    if (len > left)
        return -1;
    *val = p;
    *vlen = len;
    d->p = p + len;
    d->left = left - len;
    return 0;
}

int sai_dcap__p256_verify(EVP_PKEY *pub, const uint8_t sig[64], const void *msg, size_t len)
{
    uint8_t der[80];
    size_t der_len = sizeof der;
    if (pub == NULL || sai_ecdsa_raw_to_der(der, &der_len, sig, 32, NULL) != 0)
        return 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL)
        return 0;
    int ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
             EVP_DigestVerify(md, der, der_len, msg, len) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

EVP_PKEY *sai_dcap__p256_from_xy(const uint8_t xy[64])
{
    uint8_t point[65];
    point[0] = 0x04;
    memcpy(point + 1, xy, 64);
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    if (bld == NULL ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) != 1 ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    /* On the curve and not infinity (the "quick" check: P-256 has cofactor
     * 1, so the full check's order * Q multiplication adds nothing). */
    if (pkey != NULL) {
        EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (chk == NULL || EVP_PKEY_public_check_quick(chk) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free(chk);
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

STACK_OF(X509) *sai_dcap__pem_chain(const uint8_t *pem, size_t len, char *why, size_t whylen)
{
    if (len > INT32_MAX) {
        snprintf(why, whylen, "certificate chain too large");
        return NULL;
    }
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (b == NULL || sk == NULL) {
        BIO_free(b);
        sk_X509_free(sk);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    X509 *x;
    bool broken = false;
    ERR_clear_error();
    for (;;) {
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        if (x == NULL) {
            /* The end of the text is "no start line"; anything else is a
             * damaged certificate, and a chain with one is refused whole
             * (never silently shortened to the certificates before it). */
            unsigned long e = ERR_peek_last_error();
            broken = !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE);
            break;
        }
        if (sk_X509_num(sk) >= 8 || sk_X509_push(sk, x) <= 0) {
            X509_free(x);
            broken = true;
            break;
        }
    }
    ERR_clear_error();
    BIO_free(b);
    if (broken || sk_X509_num(sk) == 0) {
        sk_X509_pop_free(sk, X509_free);
        snprintf(why, whylen, broken ? "a certificate in the PEM chain is damaged or the chain is "
                                       "longer than 8"
                                     : "no PEM certificate could be parsed");
        return NULL;
    }
    return sk;
}

X509_STORE *sai_dcap__store_new(STACK_OF(X509_CRL) *crls)
{
    X509 *root = pinned_root();
    if (root == NULL)
        return NULL;
    X509_STORE *st = X509_STORE_new();
    if (st == NULL || X509_STORE_add_cert(st, root) != 1) {
        X509_STORE_free(st);
        return NULL;
    }
    for (int i = 0; crls != NULL && i < sk_X509_CRL_num(crls); i++) {
        if (X509_STORE_add_crl(st, sk_X509_CRL_value(crls, i)) != 1) {
            X509_STORE_free(st);
            return NULL;
        }
    }
    return st;
}

time_t sai_dcap__asn1_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return (time_t)-1;
    return timegm(&tm);
}

time_t sai_dcap__rfc3339(const char *s)
{
    int64_t t = 0;   /* the one RFC 3339 parser (evidence.c), shared with --at */
    return sai_parse_rfc3339(&t, s, NULL) == 0 ? (time_t)t : (time_t)-1;
}

static void narrow(time_t *from, time_t *until, time_t a, time_t b)
{
    if (a != (time_t)-1 && a > *from)
        *from = a;
    if (b != (time_t)-1 && b < *until)
        *until = b;
}

int sai_dcap__chain_verify(X509_STORE *store, STACK_OF(X509) *chain, time_t at, bool crl_check,
                           time_t *from, time_t *until, char *why, size_t whylen)
{
    X509 *root = pinned_root();
    if (root == NULL) {
        snprintf(why, whylen, "the pinned Intel SGX Root CA could not be loaded");
        return SAI_ECRYPTO;
    }
    int n = sk_X509_num(chain);
    if (n < 1) {
        snprintf(why, whylen, "empty certificate chain");
        return SAI_EAUTH;
    }
    /* Any self-issued certificate in the chain must be the pinned root:
     * a chain that ends in some other root is refused by name. */
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(chain, i);
        if (X509_check_issued(x, x) == X509_V_OK && X509_cmp(x, root) != 0) {
            uint8_t md[32];
            unsigned mdlen = 0;
            char hex[65] = "?";
            if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1 && mdlen == 32)
                for (int k = 0; k < 32; k++)
                    snprintf(hex + 2 * k, 3, "%02x", md[k]);
            snprintf(why, whylen, "root certificate sha256 %s is not the pinned Intel SGX Root CA %s",
                     hex, SAI_DCAP_ROOT_SHA256);
            return SAI_EAUTH;
        }
    }
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    int rc = SAI_EAUTH;
    if (ctx == NULL || untrusted == NULL) {
        snprintf(why, whylen, "out of memory");
        rc = SAI_ENOMEM;
        goto out;
    }
    for (int i = 1; i < n; i++)
        if (sk_X509_push(untrusted, sk_X509_value(chain, i)) <= 0) {
            rc = SAI_ENOMEM;
            goto out;
        }
    if (X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), untrusted) != 1) {
        snprintf(why, whylen, "X509_STORE_CTX_init failed");
        rc = SAI_ECRYPTO;
        goto out;
    }
    X509_STORE_CTX_set_time(ctx, 0, at);
    if (crl_check)
        X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    if (X509_verify_cert(ctx) != 1) {
        int e = X509_STORE_CTX_get_error(ctx);
        int depth = X509_STORE_CTX_get_error_depth(ctx);
        X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
        char cn[96] = "?";
        if (bad != NULL)
            sai_dcap__cert_cn(bad, cn, sizeof cn);
        char when[32] = "";
        struct tm tm;
        if (gmtime_r(&at, &tm) != NULL)
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(why, whylen, "certificate \"%s\" (depth %d) at %s: %s", cn, depth, when,
                 X509_verify_cert_error_string(e));
        goto out;
    }
    STACK_OF(X509) *used = X509_STORE_CTX_get0_chain(ctx);
    /* Every certificate supplied must be on the verified path: a chain with
     * extra or damaged certificates is refused, not quietly trimmed. */
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(chain, i);
        bool on_path = false;
        for (int k = 0; k < sk_X509_num(used) && !on_path; k++)
            on_path = X509_cmp(x, sk_X509_value(used, k)) == 0;
        if (!on_path) {
            char cn[96] = "?";
            sai_dcap__cert_cn(x, cn, sizeof cn);
            snprintf(why, whylen, "certificate %d (\"%s\") of the chain is not on the path to the root",
                     i, cn);
            goto out;
        }
    }
    for (int i = 0; i < sk_X509_num(used); i++) {
        X509 *x = sk_X509_value(used, i);
        narrow(from, until, sai_dcap__asn1_time(X509_get0_notBefore(x)),
               sai_dcap__asn1_time(X509_get0_notAfter(x)));
    }
    rc = 0;
out:
    ERR_clear_error();
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    return rc;
}

int sai_dcap__cert_cn(X509 *x, char *out, size_t outlen)
{
    out[0] = 0;
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)outlen);
    return n < 0 ? -1 : 0;
}

/* 1.2.840.113741.1.13.1 */
static const uint8_t SGX_OID[] = { 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01 };

static int der_uint(const uint8_t *v, size_t n, unsigned max, unsigned *out)
{
    if (n == 0 || n > 3 || (v[0] & 0x80))
        return -1;
    unsigned x = 0;
    for (size_t i = 0; i < n; i++)
        x = (x << 8) | v[i];
    if (x > max)
        return -1;
    *out = x;
    return 0;
}

/* oid == SGX_OID || sub (one or two arcs, each < 128) */
static int sgx_sub(const uint8_t *oid, size_t n, int *a, int *b)
{
    if (n < sizeof SGX_OID + 1 || memcmp(oid, SGX_OID, sizeof SGX_OID) != 0)
        return -1;
    *a = oid[sizeof SGX_OID];
    *b = n == sizeof SGX_OID + 2 ? oid[sizeof SGX_OID + 1] : -1;
    if (n > sizeof SGX_OID + 2 || (*a & 0x80) || (*b > 0 && (*b & 0x80)))
        return -1;
    return 0;
}

int sai_dcap__pck_parse(X509 *leaf, dcap_pck_info *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    const ASN1_OCTET_STRING *data = NULL;
    for (int i = 0; i < X509_get_ext_count(leaf); i++) {
        X509_EXTENSION *ext = X509_get_ext(leaf, i);
        const ASN1_OBJECT *obj = X509_EXTENSION_get_object(ext);
        if ((size_t)OBJ_length(obj) == sizeof SGX_OID &&
            memcmp(OBJ_get0_data(obj), SGX_OID, sizeof SGX_OID) == 0) {
            data = X509_EXTENSION_get_data(ext);
            break;
        }
    }
    if (data == NULL) {
        snprintf(why, whylen, "the PCK certificate has no SGX extension (1.2.840.113741.1.13.1)");
        return SAI_EFORMAT;
    }
    dcap_der top = { ASN1_STRING_get0_data(data), (size_t)ASN1_STRING_length(data) };
    uint8_t tag;
    const uint8_t *v;
    size_t vn;
    if (der_next(&top, &tag, &v, &vn) != 0 || tag != 0x30)
        goto bad;
    dcap_der seq = { v, vn };
    unsigned have = 0;
    while (seq.left > 0) {
        if (der_next(&seq, &tag, &v, &vn) != 0 || tag != 0x30)
            goto bad;
        dcap_der item = { v, vn };
        const uint8_t *oid, *val;
        size_t oidn, valn;
        uint8_t vtag;
        int a, b;
        if (der_next(&item, &tag, &oid, &oidn) != 0 || tag != 0x06 ||
            der_next(&item, &vtag, &val, &valn) != 0)
            goto bad;
        if (sgx_sub(oid, oidn, &a, &b) != 0 || b != -1)
            continue;
        if (a == 2) { /* TCB: SEQUENCE of {OID .2.n, value} */
            if (vtag != 0x30)
                goto bad;
            dcap_der tcb = { val, valn };
            while (tcb.left > 0) {
                const uint8_t *cv, *coid, *cval;
                size_t cn, coidn, cvaln;
                uint8_t ctag;
                if (der_next(&tcb, &tag, &cv, &cn) != 0 || tag != 0x30)
                    goto bad;
                dcap_der comp = { cv, cn };
                int ca, cb;
                if (der_next(&comp, &tag, &coid, &coidn) != 0 || tag != 0x06 ||
                    der_next(&comp, &ctag, &cval, &cvaln) != 0)
                    goto bad;
                if (sgx_sub(coid, coidn, &ca, &cb) != 0 || ca != 2)
                    continue;
                unsigned x;
                if (cb >= 1 && cb <= 16) {
                    if (ctag != 0x02 || der_uint(cval, cvaln, 255, &x) != 0)
                        goto bad;
                    out->compsvn[cb - 1] = (uint8_t)x;
                    have |= 1u << 8;
                } else if (cb == 17) {
                    if (ctag != 0x02 || der_uint(cval, cvaln, 65535, &x) != 0)
                        goto bad;
                    out->pcesvn = (uint16_t)x;
                    have |= 1u << 9;
                } else if (cb == 18) {
                    if (ctag != 0x04 || cvaln != 16)
                        goto bad;
                    memcpy(out->cpusvn, cval, 16);
                    have |= 1u << 10;
                }
            }
        } else if (a == 3) { /* PCE-ID */
            if (vtag != 0x04 || valn != 2)
                goto bad;
            memcpy(out->pceid, val, 2);
            have |= 1u << 3;
        } else if (a == 4) { /* FMSPC */
            if (vtag != 0x04 || valn != 6)
                goto bad;
            memcpy(out->fmspc, val, 6);
            have |= 1u << 4;
        }
    }
    if ((have & ((1u << 3) | (1u << 4) | (1u << 8) | (1u << 9))) !=
        ((1u << 3) | (1u << 4) | (1u << 8) | (1u << 9))) {
        snprintf(why, whylen, "the PCK certificate's SGX extension lacks FMSPC, PCE-ID or TCB");
        return SAI_EFORMAT;
    }
    return 0;
bad:
    snprintf(why, whylen, "the PCK certificate's SGX extension is malformed");
    return SAI_EFORMAT;
}
