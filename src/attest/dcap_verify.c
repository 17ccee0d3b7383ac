/*
 * dcap_verify.c — verification of a parsed DCAP quote, in the order a
 * forger would have to defeat them:
 *   1. header: attestation key type, Intel QE vendor id
 *   2. quote signature: ECDSA P-256 by the attestation key over header||body
 *   3. QE binding: QE report_data = SHA-256(attestation key || QE auth data)
 *      || 32 zero bytes, so the key is the one the QE vouched for
 *   4. PCK chain: PCK leaf -> PCK Platform/Processor CA -> pinned Intel SGX
 *      Root CA, validity at `at`, CRLs when collateral is given
 *   5. QE report signature by the PCK leaf key
 *   6. QE identity (pinned Intel MRSIGNER/ISVPRODID, or the signed QE
 *      identity from collateral with its TCB levels)
 *   7. with collateral: its own signatures and validity, then the TCB status
 * Any failure stops with the check's name and the values (res.failed_*).
 */
#include "attest/dcap_internal.h"
#include "secureai/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "secureai/crypto.h"

static const uint8_t INTEL_QE_VENDOR[16] = {
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
};
/* Intel's QE identities (the MRSIGNER of the signed QE identity collateral). */
static const uint8_t SGX_QE_MRSIGNER[32] = {
    0x8c, 0x4f, 0x57, 0x75, 0xd7, 0x96, 0x50, 0x3e, 0x96, 0x13, 0x7f, 0x77, 0xc6, 0x8a, 0x82, 0x9a,
    0x00, 0x56, 0xac, 0x8d, 0xed, 0x70, 0x14, 0x0b, 0x08, 0x1b, 0x09, 0x44, 0x90, 0xc5, 0x7b, 0xff,
};
static const uint8_t TD_QE_MRSIGNER[32] = {
    0xdc, 0x9e, 0x2a, 0x7c, 0x6f, 0x94, 0x8f, 0x17, 0x47, 0x4e, 0x34, 0xa7, 0xfc, 0x43, 0xed, 0x03,
    0x0f, 0x7c, 0x15, 0x63, 0xf1, 0xba, 0xbd, 0xdf, 0x63, 0x40, 0xc8, 0x2e, 0x0e, 0x54, 0xa8, 0xc5,
};

static X509_STORE *g_store;
static pthread_once_t g_store_once = PTHREAD_ONCE_INIT;
static void make_store(void) { g_store = sai_dcap__store_new(NULL); }

/* Chains verified without collateral (no CRLs) are cached process-wide; a
 * collateral object keeps its own cache, checked against its CRLs. */
static pthread_mutex_t g_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static dcap_chain_cache g_cache[DCAP_CHAIN_CACHE];

static int refuse(sai_dcap_result_t *res, sai_error_t *err, int code, const char *check,
                  const char *fmt, ...) SAI_PRINTF(5, 6);
static int refuse(sai_dcap_result_t *res, sai_error_t *err, int code, const char *check,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->failed_detail, sizeof res->failed_detail, fmt, ap);
    va_end(ap);
    snprintf(res->failed_check, sizeof res->failed_check, "%s", check);
    res->verdict = SAI_DCAP_CONTRAINDICATED;
    return sai_error_set(err, code, "dcap %s: %s", check, res->failed_detail);
}

static void fill_fields(const sai_dcap_quote_t *q, sai_dcap_result_t *res)
{
    res->tee = q->tee;
    res->version = q->version;
    res->body_type = q->body_type;
    if (q->tee == SAI_DCAP_TDX) {
        const sai_dcap_td_body_t *t = &q->td;
        memcpy(res->mrtd, t->mrtd, 48);
        memcpy(res->rtmr, t->rtmr, sizeof res->rtmr);
        memcpy(res->mrseam, t->mrseam, 48);
        memcpy(res->mrsignerseam, t->mrsignerseam, 48);
        memcpy(res->td_attributes, t->td_attributes, 8);
        memcpy(res->xfam, t->xfam, 8);
        memcpy(res->tee_tcb_svn, t->tee_tcb_svn, 16);
        memcpy(res->report_data, t->report_data, 64);
        res->td_debug = (t->td_attributes[0] & 0x01) != 0;
    } else {
        const sai_dcap_sgx_body_t *s = &q->sgx;
        memcpy(res->mrenclave, s->mrenclave, 32);
        memcpy(res->mrsigner, s->mrsigner, 32);
        res->isv_prodid = s->isvprodid;
        res->isv_svn = s->isvsvn;
        memcpy(res->sgx_attributes, s->attributes, 16);
        memcpy(res->report_data, s->report_data, 64);
        res->sgx_debug = (s->attributes[0] & 0x02) != 0;
    }
    res->debug = res->td_debug || res->sgx_debug;
    res->qe_isvsvn = q->qe_report.isvsvn;
    snprintf(res->tcb_status, sizeof res->tcb_status, "unknown");
    snprintf(res->qe_tcb_status, sizeof res->qe_tcb_status, "unknown");
}

/* The PCK chain: from a cache (the collateral's, which was checked against
 * its CRLs, or the process-wide one without collateral), or verified now and
 * cached for the validity window of its certificates. On success
 * *leaf_key holds a reference the caller frees. */
static int pck_chain(const sai_dcap_quote_t *q, sai_dcap_collateral_t *c, time_t at,
                     EVP_PKEY **leaf_key, dcap_pck_info *info, sai_dcap_result_t *res,
                     sai_error_t *err)
{
    uint8_t key[32];
    *leaf_key = NULL;
    if (sai_hash(SAI_SHA256, key, q->cert_data, q->cert_len, err) != 0)
        return refuse(res, err, SAI_ECRYPTO, "pck_chain", "SHA-256 failed");
    pthread_mutex_t *lock = c != NULL ? sai_dcap__collateral_lock(c) : &g_cache_lock;
    dcap_chain_cache *cc = c != NULL ? sai_dcap__collateral_cache(c) : g_cache;
    {
        pthread_mutex_lock(lock);
        for (int i = 0; i < DCAP_CHAIN_CACHE; i++) {
            if (cc[i].used && memcmp(cc[i].key, key, 32) == 0 && at >= cc[i].from &&
                at <= cc[i].until && EVP_PKEY_up_ref(cc[i].leaf_key) == 1) {
                *leaf_key = cc[i].leaf_key;
                *info = cc[i].info;
                if (cc[i].from > res->valid_from)
                    res->valid_from = cc[i].from;
                if (cc[i].until < res->valid_until)
                    res->valid_until = cc[i].until;
                break;
            }
        }
        pthread_mutex_unlock(lock);
        if (*leaf_key != NULL)
            return 0;
    }

    char why[400];
    int rc = 0;
    STACK_OF(X509) *chain = sai_dcap__pem_chain(q->cert_data, q->cert_len, why, sizeof why);
    if (chain == NULL)
        return refuse(res, err, SAI_EAUTH, "pck_chain", "PCK certificate chain: %s", why);
    X509_STORE *store;
    if (c != NULL) {
        store = sai_dcap__collateral_store(c);
    } else {
        pthread_once(&g_store_once, make_store);
        store = g_store;
    }
    if (store == NULL) {
        rc = refuse(res, err, SAI_ECRYPTO, "pck_chain", "no certificate store");
        goto out;
    }
    time_t from = 0, until = (time_t)INT64_MAX;
    rc = sai_dcap__chain_verify(store, chain, at, c != NULL, &from, &until, why, sizeof why);
    if (rc != 0) {
        rc = refuse(res, err, rc, "pck_chain", "%s", why);
        goto out;
    }
    X509 *leaf = sk_X509_value(chain, 0);
    char cn[96];
    if (sai_dcap__cert_cn(leaf, cn, sizeof cn) != 0 || strcmp(cn, "Intel SGX PCK Certificate") != 0) {
        rc = refuse(res, err, SAI_EAUTH, "pck_chain",
                    "leaf certificate \"%s\" is not an Intel SGX PCK Certificate", cn);
        goto out;
    }
    if ((rc = sai_dcap__pck_parse(leaf, info, why, sizeof why)) != 0) {
        rc = refuse(res, err, rc, "pck_extension", "%s", why);
        goto out;
    }
    *leaf_key = X509_get_pubkey(leaf);
    if (*leaf_key == NULL) {
        rc = refuse(res, err, SAI_ECRYPTO, "pck_chain", "PCK public key unreadable");
        goto out;
    }
    if (from > res->valid_from)
        res->valid_from = from;
    if (until < res->valid_until)
        res->valid_until = until;
    {
        pthread_mutex_lock(lock);
        int slot = 0;
        while (slot < DCAP_CHAIN_CACHE && cc[slot].used)
            slot++;
        if (slot == DCAP_CHAIN_CACHE)
            slot = (int)(key[0] % DCAP_CHAIN_CACHE); /* replace one, any one */
        if (EVP_PKEY_up_ref(*leaf_key) == 1) {
            EVP_PKEY_free(cc[slot].leaf_key);
            memcpy(cc[slot].key, key, 32);
            cc[slot].leaf_key = *leaf_key;
            cc[slot].info = *info;
            cc[slot].from = from;
            cc[slot].until = until;
            cc[slot].used = true;
        }
        pthread_mutex_unlock(lock);
    }
out:
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

int sai_dcap_verify(const sai_dcap_quote_t *q, sai_dcap_collateral_t *c, time_t at,
                    sai_dcap_result_t *res, sai_error_t *err)
{
    memset(res, 0, sizeof *res);
    res->valid_from = 0;
    res->valid_until = (time_t)INT64_MAX;
    res->verdict = SAI_DCAP_CONTRAINDICATED;
    if (q == NULL || q->cert_data == NULL || q->signed_data == NULL)
        return refuse(res, err, SAI_EINVAL, "quote_format", "no parsed quote");
    fill_fields(q, res);
    char a[200], b[200];

    /* 1. header */
    if (q->att_key_type != 2)
        return refuse(res, err, SAI_EFORMAT, "header", "attestation key type %u is not 2",
                      q->att_key_type);
    if (memcmp(q->qe_vendor_id, INTEL_QE_VENDOR, 16) != 0) {
        sai_hex_encode(a, q->qe_vendor_id, 16);
        return refuse(res, err, SAI_EAUTH, "qe_vendor", "QE vendor id %s is not Intel's", a);
    }

    /* 2. quote signature */
    EVP_PKEY *att = sai_dcap__p256_from_xy(q->att_key);
    if (att == NULL)
        return refuse(res, err, SAI_EAUTH, "quote_signature",
                      "the attestation key is not a P-256 point");
    int sig_ok = sai_dcap__p256_verify(att, q->signature, q->signed_data, q->signed_len);
    EVP_PKEY_free(att);
    if (!sig_ok)
        return refuse(res, err, SAI_EAUTH, "quote_signature",
                      "the quote signature over header and body (%zu bytes) does not verify "
                      "with the attestation key", q->signed_len);

    /* 3. QE report data binds the attestation key and QE auth data */
    uint8_t h[32];
    sai_hash_ctx_t *hc = NULL;
    if (sai_hash_new(&hc, SAI_SHA256, err) != 0 || sai_hash_update(hc, q->att_key, 64, err) != 0 ||
        sai_hash_update(hc, q->qe_auth, q->qe_auth_len, err) != 0 || sai_hash_final(hc, h, err) != 0) {
        sai_hash_free(hc);
        return refuse(res, err, SAI_ECRYPTO, "qe_report_binding", "SHA-256 failed");
    }
    sai_hash_free(hc);
    static const uint8_t zero[32];
    if (memcmp(h, q->qe_report.report_data, 32) != 0 ||
        memcmp(q->qe_report.report_data + 32, zero, 32) != 0) {
        sai_hex_encode(a, q->qe_report.report_data, 32);
        sai_hex_encode(b, h, 32);
        return refuse(res, err, SAI_EAUTH, "qe_report_binding",
                      "QE report_data[0:32] %s != SHA-256(attestation key || QE auth data) %s "
                      "(or [32:64] not zero)", a, b);
    }

    /* 4. PCK chain */
    EVP_PKEY *pck = NULL;
    dcap_pck_info info;
    int rc = pck_chain(q, c, at, &pck, &info, res, err);
    if (rc != 0)
        return rc;
    memcpy(res->fmspc, info.fmspc, 6);
    memcpy(res->pceid, info.pceid, 2);
    memcpy(res->cpusvn, info.cpusvn, 16);
    memcpy(res->pck_compsvn, info.compsvn, 16);
    res->pck_pcesvn = info.pcesvn;

    /* 5. QE report signed by the PCK key */
    sig_ok = sai_dcap__p256_verify(pck, q->qe_report_sig, q->qe_report_raw, 384);
    EVP_PKEY_free(pck);
    if (!sig_ok)
        return refuse(res, err, SAI_EAUTH, "qe_report_signature",
                      "the QE report signature does not verify with the PCK certificate key");

    /* 6-7. QE identity and TCB */
    if (c == NULL) {
        const uint8_t *want = q->tee == SAI_DCAP_TDX ? TD_QE_MRSIGNER : SGX_QE_MRSIGNER;
        uint16_t prod = q->tee == SAI_DCAP_TDX ? 2 : 1;
        if (memcmp(q->qe_report.mrsigner, want, 32) != 0 || q->qe_report.isvprodid != prod) {
            sai_hex_encode(a, q->qe_report.mrsigner, 32);
            sai_hex_encode(b, want, 32);
            return refuse(res, err, SAI_EPOLICY, "qe_identity",
                          "QE MRSIGNER %s ISVPRODID %u, expected Intel's %s ISVPRODID %u", a,
                          q->qe_report.isvprodid, b, prod);
        }
        res->verdict = SAI_DCAP_TCB_UNKNOWN;
        return 0;
    }
    dcap_fail f = { 0 };
    if ((rc = sai_dcap__collateral_check(c, at, &res->valid_from, &res->valid_until, &f)) != 0 ||
        (rc = sai_dcap__collateral_appraise(c, q, &info, at, res, &f)) != 0)
        return refuse(res, err, rc, f.check, "%s", f.detail);
    if (strcmp(res->tcb_status, "Revoked") == 0)
        return refuse(res, err, SAI_EPOLICY, "tcb_status", "TCB status is Revoked");
    res->verdict = strcmp(res->tcb_status, "UpToDate") == 0 ? SAI_DCAP_AFFIRMING : SAI_DCAP_WARNING;
    return 0;
}

int sai_dcap_verify_bytes(const uint8_t *quote, size_t len, sai_dcap_collateral_t *c, time_t at,
                          sai_dcap_result_t *res, sai_error_t *err)
{
    sai_dcap_quote_t q;
    int rc = sai_dcap_quote_parse(quote, len, &q, err);
    if (rc != 0) {
        memset(res, 0, sizeof *res);
        res->verdict = SAI_DCAP_CONTRAINDICATED;
        snprintf(res->failed_check, sizeof res->failed_check, "quote_format");
        snprintf(res->failed_detail, sizeof res->failed_detail, "%.380s",
                 err != NULL ? err->msg : "malformed quote");
        return rc;
    }
    return sai_dcap_verify(&q, c, at, res, err);
}
