/*
 * dcap.h — Intel DCAP evidence: TDX quotes v4/v5, SGX quotes v3, their
 * collateral (TCB info, QE identity, CRLs) and RA-TLS certificates.
 *
 * Three steps, each usable alone:
 *   sai_dcap_quote_parse       bytes -> sai_dcap_quote_t (layout only, no crypto)
 *   sai_dcap_collateral_parse  dcap-qvl style JSON -> sai_dcap_collateral_t
 *   sai_dcap_verify            signatures, QE binding, PCK chain to the pinned
 *                              Intel SGX Root CA at a given time, CRLs, TCB
 *                              status and advisories when collateral is given
 * and for RA-TLS: sai_dcap_ratls_extract (quote + key binding) and
 * sai_dcap_ratls_verify (extract, then verify the quote).
 *
 * The verdict is EAR-shaped: AFFIRMING (everything verified, TCB UpToDate),
 * WARNING (everything verified, TCB status is one an appraisal policy must
 * decide on: SWHardeningNeeded, ConfigurationNeeded, OutOfDate, ...),
 * TCB_UNKNOWN (signatures and chain verified, no collateral given so the TCB
 * status is unknown) and CONTRAINDICATED (a check failed; failed_check and
 * failed_detail name it and the values). The policy layer (attest) maps the
 * result into its generic claims. See docs/dcap.md.
 */
#ifndef SECUREAI_DCAP_H
#define SECUREAI_DCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "secureai/common.h"

#define SAI_DCAP_QUOTE_MAX     (64u * 1024u)   /* cap on any quote we parse */
#define SAI_DCAP_COLLATERAL_MAX (1024u * 1024u)
#define SAI_DCAP_MAX_ADVISORIES 64

/* SHA-256 of the DER of the Intel SGX Root CA every chain must end in. */
#define SAI_DCAP_ROOT_SHA256 \
    "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

typedef enum { SAI_DCAP_SGX = 1, SAI_DCAP_TDX = 2 } sai_dcap_tee_t;

/* The body kinds of a v5 quote (v3 is always SGX, v4 always TD 1.0). */
#define SAI_DCAP_BODY_SGX   1
#define SAI_DCAP_BODY_TD10  2
#define SAI_DCAP_BODY_TD15  3

/* SGX REPORT_BODY (384 bytes): the enclave in an SGX quote and the QE. */
typedef struct sai_dcap_sgx_body_t {
    uint8_t  cpusvn[16];
    uint32_t miscselect;
    uint8_t  isvextprodid[16];
    uint8_t  attributes[16];     /* flags (LE u64) || xfrm; bit 1 = DEBUG */
    uint8_t  mrenclave[32];
    uint8_t  mrsigner[32];
    uint8_t  configid[64];
    uint16_t isvprodid;
    uint16_t isvsvn;
    uint16_t configsvn;
    uint8_t  isvfamilyid[16];
    uint8_t  report_data[64];
} sai_dcap_sgx_body_t;

/* TD report body: TDX 1.0 (584 bytes) and the TDX 1.5 additions (648). */
typedef struct sai_dcap_td_body_t {
    uint8_t tee_tcb_svn[16];
    uint8_t mrseam[48];
    uint8_t mrsignerseam[48];
    uint8_t seam_attributes[8];
    uint8_t td_attributes[8];    /* byte 0 bit 0 = DEBUG */
    uint8_t xfam[8];
    uint8_t mrtd[48];
    uint8_t mrconfigid[48];
    uint8_t mrowner[48];
    uint8_t mrownerconfig[48];
    uint8_t rtmr[4][48];
    uint8_t report_data[64];
    bool    v15;                 /* the two fields below are present */
    uint8_t tee_tcb_svn2[16];
    uint8_t mrservicetd[48];
} sai_dcap_td_body_t;

/* A parsed quote. Fixed fields are copied; the pointers borrow from the
 * buffer given to sai_dcap_quote_parse, which must outlive this struct. */
typedef struct sai_dcap_quote_t {
    uint16_t version;            /* 3, 4 or 5 */
    uint16_t att_key_type;       /* 2 = ECDSA P-256 */
    uint32_t tee_type;           /* 0x00 SGX, 0x81 TDX */
    sai_dcap_tee_t tee;
    uint16_t qe_svn, pce_svn;    /* header bytes 8..11 (meaningful in v3) */
    uint8_t  qe_vendor_id[16];
    uint8_t  user_data[20];
    uint16_t body_type;          /* SAI_DCAP_BODY_* */
    sai_dcap_sgx_body_t sgx;       /* when tee == SGX */
    sai_dcap_td_body_t  td;        /* when tee == TDX */

    const uint8_t *signed_data;  /* header || (v5 type,size ||) body */
    size_t   signed_len;
    size_t   quote_len;          /* bytes used, bounded by sig_len */

    uint8_t  signature[64];      /* r || s over signed_data */
    uint8_t  att_key[64];        /* attestation key x || y */
    const uint8_t *qe_report_raw;  /* 384 bytes, signed by the PCK key */
    sai_dcap_sgx_body_t qe_report;
    uint8_t  qe_report_sig[64];
    const uint8_t *qe_auth;
    size_t   qe_auth_len;
    uint16_t cert_type;          /* inner certification data type (5) */
    const uint8_t *cert_data;    /* PEM chain; trailing NULs not counted */
    size_t   cert_len;
} sai_dcap_quote_t;

/* Parse a quote. Trailing bytes after the signature data are ignored (real
 * quotes carry buffer padding); quote_len says how many were used. Layout
 * only: nothing is trusted until sai_dcap_verify says so. */
int sai_dcap_quote_parse(const uint8_t *buf, size_t len, sai_dcap_quote_t *q,
                         sai_error_t *err) SAI_MUST_CHECK;

/* ---- collateral ----------------------------------------------------------
 * JSON object with the dcap-qvl field names (as the vectors carry it):
 *   tcb_info (the exact signed JSON text), tcb_info_signature (hex r||s),
 *   tcb_info_issuer_chain (PEM), qe_identity, qe_identity_signature,
 *   qe_identity_issuer_chain, root_ca_crl and pck_crl (hex DER),
 *   pck_crl_issuer_chain (PEM).
 * The object also caches what it has verified (its own signatures, PCK
 * chains) so repeated verifications are cheap; it is safe to share between
 * threads (a mutex guards the cache). */
typedef struct sai_dcap_collateral_t sai_dcap_collateral_t;

int  sai_dcap_collateral_parse(const char *json, size_t len, sai_dcap_collateral_t **out,
                               sai_error_t *err) SAI_MUST_CHECK;
void sai_dcap_collateral_free(sai_dcap_collateral_t *c);

/* ---- verification -------------------------------------------------------- */
typedef enum {
    SAI_DCAP_CONTRAINDICATED = 0,
    SAI_DCAP_AFFIRMING       = 1,
    SAI_DCAP_WARNING         = 2,
    SAI_DCAP_TCB_UNKNOWN     = 3,
} sai_dcap_verdict_t;

typedef struct sai_dcap_result_t {
    sai_dcap_verdict_t verdict;
    sai_dcap_tee_t tee;
    uint16_t version;
    uint16_t body_type;

    /* TDX */
    uint8_t  mrtd[48];
    uint8_t  rtmr[4][48];
    uint8_t  mrseam[48];
    uint8_t  mrsignerseam[48];
    uint8_t  td_attributes[8];
    uint8_t  xfam[8];
    uint8_t  tee_tcb_svn[16];
    bool     td_debug;
    /* SGX */
    uint8_t  mrenclave[32];
    uint8_t  mrsigner[32];
    uint16_t isv_prodid;
    uint16_t isv_svn;
    uint8_t  sgx_attributes[16];
    bool     sgx_debug;
    /* both */
    bool     debug;              /* td_debug || sgx_debug */
    uint8_t  report_data[64];

    /* platform, from the PCK certificate's SGX extension */
    uint8_t  fmspc[6];
    uint8_t  pceid[2];
    uint8_t  cpusvn[16];
    uint8_t  pck_compsvn[16];
    uint16_t pck_pcesvn;
    uint16_t qe_isvsvn;

    /* TCB appraisal: "unknown" without collateral */
    char     tcb_status[40];
    char     qe_tcb_status[40];
    char     tdx_module_status[40]; /* "" when not evaluated */
    char     tcb_date[32];
    size_t   n_advisories;
    char     advisory_ids[SAI_DCAP_MAX_ADVISORIES][32];

    /* the time window in which every certificate/CRL/collateral used was valid */
    time_t   valid_from, valid_until;

    /* on CONTRAINDICATED: the check and the values that failed it */
    char     failed_check[32];
    char     failed_detail[384];
} sai_dcap_result_t;

/* Verify a parsed quote as of time `at` (real certificates expire, so tests
 * pass a time inside the vector's validity). With collateral == NULL the TCB
 * status is "unknown" and the verdict at best TCB_UNKNOWN. Returns 0 when the
 * verdict is not CONTRAINDICATED; otherwise a negative code (SAI_EAUTH for a
 * bad signature or chain, SAI_EPOLICY for a TCB/identity refusal, SAI_EFORMAT
 * for unsupported layouts) with the failing check in res and err. res is
 * always filled with whatever was parsed. */
int sai_dcap_verify(const sai_dcap_quote_t *q, sai_dcap_collateral_t *collateral,
                    time_t at, sai_dcap_result_t *res, sai_error_t *err) SAI_MUST_CHECK;

/* Parse + verify in one call. */
int sai_dcap_verify_bytes(const uint8_t *quote, size_t len, sai_dcap_collateral_t *collateral,
                          time_t at, sai_dcap_result_t *res, sai_error_t *err) SAI_MUST_CHECK;

/* "affirming", "warning", "tcb-unknown", "contraindicated". */
const char *sai_dcap_verdict_name(sai_dcap_verdict_t v);

/* The result as one JSON object (hex fields, RFC 3339 times, the fields of
 * the result's TEE only); *json is malloc'ed, the caller frees it. */
int sai_dcap_result_json(const sai_dcap_result_t *r, char **json, sai_error_t *err) SAI_MUST_CHECK;

/* ---- RA-TLS ----------------------------------------------------------------
 * Certificates carrying a quote: Gramine legacy extension (the nested OID
 * 06 09 2a864886f84d8a3906, also the plain 1.2.840.113741.1337.6), Intel SGX
 * SDK (1.2.840.113741.1.13.1), TCG DICE (2.23.133.5.4.9, CBOR tag 60000
 * [quote, claims], used by Gramine, the Intel SDK and rats-tls). */
typedef enum {
    SAI_RATLS_GRAMINE_LEGACY = 1,
    SAI_RATLS_INTEL_SDK      = 2,
    SAI_RATLS_TCG_DICE       = 3,
} sai_ratls_kind_t;

#define SAI_RATLS_MAX_EVIDENCE 3

typedef struct sai_ratls_evidence_t {
    sai_ratls_kind_t kind;
    uint8_t *quote;              /* malloc'ed copy */
    size_t   quote_len;
    bool     binding_ok;         /* report_data binds this cert's public key */
    char     binding[160];       /* how it was bound, or why it was not */
} sai_ratls_evidence_t;

typedef struct sai_ratls_t {
    size_t   n;
    sai_ratls_evidence_t ev[SAI_RATLS_MAX_EVIDENCE];
    uint8_t  spki_sha256[32];
    bool     self_signature_ok;
    time_t   not_before, not_after;
} sai_ratls_t;

/* Accepts PEM or DER. Fails when the certificate carries no quote. */
int  sai_dcap_ratls_extract(const uint8_t *cert, size_t len, sai_ratls_t *out,
                            sai_error_t *err) SAI_MUST_CHECK;
void sai_dcap_ratls_free(sai_ratls_t *r);

/* Extract, require every quote found to bind the key and the certificate's
 * self-signature to verify, then verify the preferred quote (DICE first) with
 * sai_dcap_verify. res describes that quote. */
int sai_dcap_ratls_verify(const uint8_t *cert, size_t len, sai_dcap_collateral_t *collateral,
                          time_t at, sai_dcap_result_t *res, sai_error_t *err) SAI_MUST_CHECK;

#endif
