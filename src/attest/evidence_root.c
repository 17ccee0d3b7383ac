/*
 * evidence_root.c — which trust anchor a piece of evidence chains to, found
 * from the evidence itself (sai_attest_evidence_root, attest.h).
 *
 * A verifier normally starts from the roots it trusts. An enclave that
 * must hold its peers to "the same platform as mine" (a distributed job,
 * docs/distributed.md "Peers' attestation policy") has no measured list of
 * roots: it knows only that its own TEE is genuine, because that TEE
 * launched it. So it asks its own TEE for a report and learns the root from
 * that report's chain: each certificate after the signing one is tried as
 * the anchor (the pinned AMD roots first, as always), and the anchor is
 * accepted only when the whole chain and the report's signature verify up
 * to it. The result says which root, never that the root is trustworthy:
 * only the caller's reason to trust the evidence's source does.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/attest_internal.h"
#include "secureai/util.h"

#define MAX_CERTS 8

/* SHA-256 of the DER of every self-signed certificate in a PEM bundle but
 * the first (the signing certificate, never an anchor). */
static int anchor_candidates(const char *pem, size_t len, uint8_t fps[MAX_CERTS][32], size_t *n,
                             sai_error_t *err)
{
    *n = 0;
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    if (b == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0;; i++) {
        X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        if (x == NULL)
            break;
        unsigned k = 0;
        /* an anchor signs itself; the verifier then checks the whole chain */
        EVP_PKEY *pub = X509_get0_pubkey(x);
        bool self_signed = pub != NULL && X509_check_issued(x, x) == X509_V_OK && X509_verify(x, pub) == 1;
        if (i > 0 && self_signed && *n < MAX_CERTS) {
            if (X509_digest(x, EVP_sha256(), fps[*n], &k) != 1 || k != 32)
                rc = sai_error_set(err, SAI_EFORMAT, "evidence: a certificate cannot be hashed");
            else
                (*n)++;
        }
        X509_free(x);
        if (rc)
            break;
    }
    BIO_free(b);
    if (rc == 0 && *n == 0)
        rc = sai_error_set(err, SAI_EFORMAT, "evidence: no self-signed certificate after the signing one (no root)");
    return rc;
}

int sai_attest_evidence_root(const char *json, size_t len, int64_t at, sai_attest_result_t *res,
                             sai_error_t *err)
{
    sai_evidence_t ev;
    uint8_t fps[MAX_CERTS][32];
    size_t n = 0;
    int rc;
    memset(res, 0, sizeof *res);
    if (at == 0)
        at = (int64_t)time(NULL);
    if ((rc = sai_evidence_parse(&ev, json, len, err)))
        return rc;
    if (ev.tee != SAI_TEE_SIM && ev.tee != SAI_TEE_SEV_SNP) {
        rc = sai_error_set(err, SAI_EUNSUPP, "the root of %s evidence: only SEV-SNP and sim evidence carry "
                           "their chain here", sai_tee_kind_name(ev.tee));
        goto out;
    }
    if (ev.certs == NULL) {
        rc = sai_error_set(err, SAI_EFORMAT, "evidence carries no certificate chain");
        goto out;
    }
    if ((rc = anchor_candidates(ev.certs, ev.certs_len, fps, &n, err)))
        goto out;
    rc = sai_attest_verify_snp(ev.report, ev.report_len, (const uint8_t *)ev.certs, ev.certs_len, NULL, 0,
                               (const uint8_t (*)[32])fps, n, at, res, err);
    if (rc)
        sai_error_prefix(err, "the evidence does not verify up to any certificate in its own chain");
out:
    sai_evidence_clear(&ev);
    return rc;
}
