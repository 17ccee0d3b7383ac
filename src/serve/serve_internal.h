/*
 * serve_internal.h — shared by the files of src/serve only: the RA-TLS
 * certificate's maker (server.c) and checker (client.c).
 */
#ifndef SAI_SERVE_INTERNAL_H
#define SAI_SERVE_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "secureai/attest.h"
#include "secureai/serve.h"

/* SHA-512(SAI_RATLS_DOMAIN || 0x00 || spki_sha256 || SHA-256(claims)). */
int sai_serve__report_data(uint8_t rd[64], const uint8_t spki_sha256[32], const uint8_t *claims,
                           size_t claims_len, sai_error_t *err) SAI_MUST_CHECK;
/* A fresh P-256 key and its self-signed RA-TLS certificate carrying claims
 * (a JSON object) and the evidence ev returned for their report data
 * (*ev_json: that evidence, malloc'ed, for GET /v1/model). */
int sai_serve__ratls_make(EVP_PKEY **key, X509 **cert, const char *claims, sai_serve_evidence_fn ev,
                          void *ev_ctx, char **ev_json, size_t *ev_len, sai_error_t *err) SAI_MUST_CHECK;
/* sai_serve_ratls_check with the attestation policy already loaded. */
int sai_serve__ratls_check(const uint8_t *der, size_t len, const sai_serve_policy_t *p,
                           const sai_attest_policy_t *ap, int64_t at, sai_serve_verified_t *out,
                           sai_error_t *err) SAI_MUST_CHECK;
/* The attestation policy a serving policy names (or the default one). */
int sai_serve__attest_policy(const sai_serve_policy_t *p, sai_attest_policy_t **ap,
                             sai_error_t *err) SAI_MUST_CHECK;

#endif
