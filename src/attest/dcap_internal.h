/*
 * dcap_internal.h — private glue between the DCAP files (dcap_x509.c,
 * dcap_collateral.c, dcap_verify.c, ratls.c). Not a public API.
 */
#ifndef SAI_DCAP_INTERNAL_H
#define SAI_DCAP_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>

#include "secureai/dcap.h"


/* ---- crypto and X.509 over OpenSSL (dcap_x509.c) ---- */
/* ECDSA P-256 / SHA-256 with a raw 64-byte r || s signature. 1 = valid. */
int sai_dcap__p256_verify(EVP_PKEY *pub, const uint8_t sig[64], const void *msg, size_t len);
/* A P-256 public key from raw x || y. NULL when not a valid point. */
EVP_PKEY *sai_dcap__p256_from_xy(const uint8_t xy[64]);
/* Every certificate of a PEM text, in order. NULL (and why) on failure. */
STACK_OF(X509) *sai_dcap__pem_chain(const uint8_t *pem, size_t len, char *why, size_t whylen);
/* A store trusting only the pinned root, with crls (may be NULL) added and
 * CRL checking switched on when there are any. Caller frees. */
X509_STORE *sai_dcap__store_new(STACK_OF(X509_CRL) *crls);
/* Verify chain[0] up to the pinned root through chain[1..] at time `at`.
 * A self-signed certificate in chain other than the pinned root is refused.
 * Narrows [*from, *until] to the validity of every certificate used.
 * 0 or SAI_EAUTH with why filled. */
int sai_dcap__chain_verify(X509_STORE *store, STACK_OF(X509) *chain, time_t at, bool crl_check,
                           time_t *from, time_t *until, char *why, size_t whylen);
int sai_dcap__cert_cn(X509 *x, char *out, size_t outlen);
time_t sai_dcap__asn1_time(const ASN1_TIME *t);
/* "2025-06-19T10:32:27Z" -> time_t; -1 when malformed. */
time_t sai_dcap__rfc3339(const char *s);

/* The SGX extension (1.2.840.113741.1.13.1) of a PCK certificate. */
typedef struct {
    uint8_t  fmspc[6];
    uint8_t  pceid[2];
    uint8_t  cpusvn[16];
    uint8_t  compsvn[16];
    uint16_t pcesvn;
} dcap_pck_info;

int sai_dcap__pck_parse(X509 *leaf, dcap_pck_info *out, char *why, size_t whylen);

/* ---- collateral (dcap_collateral.c) ---- */
typedef struct {
    uint8_t  key[32];            /* SHA-256 of the PEM chain */
    EVP_PKEY *leaf_key;
    dcap_pck_info info;
    time_t   from, until;
    bool     used;
} dcap_chain_cache;

#define DCAP_CHAIN_CACHE 8

/* Failure of an appraisal step: the check's name and the values. */
typedef struct {
    int  code;
    char check[32];
    char detail[384];
} dcap_fail;

/* Evaluate the TCB of a verified quote against verified collateral, fill
 * res's tcb fields. 0, or a negative code with f filled. */
int sai_dcap__collateral_appraise(sai_dcap_collateral_t *c, const sai_dcap_quote_t *q,
                                  const dcap_pck_info *pck, time_t at, sai_dcap_result_t *res,
                                  dcap_fail *f);
/* The store (root + CRLs) of the collateral, and its chain cache. */
X509_STORE *sai_dcap__collateral_store(sai_dcap_collateral_t *c);
pthread_mutex_t *sai_dcap__collateral_lock(sai_dcap_collateral_t *c);
dcap_chain_cache *sai_dcap__collateral_cache(sai_dcap_collateral_t *c);
/* Check the collateral's own signatures (cached) at `at`. */
int sai_dcap__collateral_check(sai_dcap_collateral_t *c, time_t at, time_t *from, time_t *until,
                               dcap_fail *f);

#endif
