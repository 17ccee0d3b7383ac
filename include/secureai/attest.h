/*
 * attest.h — evidence parsing and verification, the appraisal policy and
 * signed attestation results (EAR-style JWT, ES384).
 *
 * One verifier for sim and real SEV-SNP evidence: the same report parser,
 * signature check and VCEK/VLEK -> ASK/ASVK -> ARK chain walk; only the trust
 * anchor differs (AMD ARK/ASK fingerprints pinned in src/attest/snp_roots.c,
 * or a sim platform's ARK fingerprint), and a policy must say
 * `allow_simulated: true` to accept simulated evidence.
 *
 * Intel TDX/SGX quote verification is a separate component (dcap.h); its
 * results map into sai_attest_result_t (mrtd/rtmr/mrenclave/mrsigner,
 * tcb_status, advisory ids), so the same policy appraises them.
 */
#ifndef SECUREAI_ATTEST_H
#define SECUREAI_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "secureai/common.h"
#include "secureai/tee.h"

/* ---- SEV-SNP ATTESTATION_REPORT ------------------------------------------
 * (SAI_SNP_REPORT_LEN, SAI_SNP_SIGNED_LEN, SAI_SNP_CERT_MAX: tee.h) */

typedef enum {
    SAI_SNP_PRODUCT_UNKNOWN = 0,
    SAI_SNP_PRODUCT_MILAN,
    SAI_SNP_PRODUCT_GENOA,
    SAI_SNP_PRODUCT_TURIN,
    SAI_SNP_PRODUCT_SIM,
} sai_snp_product_t;

const char *sai_snp_product_name(sai_snp_product_t p);

/* TCB_VERSION decoded; which bytes mean what depends on the product:
 * Milan/Genoa [bl, tee, 0,0,0,0, snp, ucode], Turin [fmc, bl, tee, snp, 0,0,0, ucode]. */
typedef struct sai_snp_tcb_t {
    uint64_t raw;
    uint8_t  bl, tee, snp, ucode, fmc;
} sai_snp_tcb_t;

void sai_snp_tcb_decode(sai_snp_tcb_t *t, uint64_t raw, sai_snp_product_t p);

typedef struct sai_snp_report_t {
    uint32_t version, guest_svn;
    uint64_t policy;
    uint8_t  family_id[16], image_id[16];
    uint32_t vmpl, sig_algo;
    uint64_t current_tcb_raw, platform_info;
    uint32_t signer_info;           /* bit0 author key, bit1 mask chip key, bits4:2 signing key */
    uint8_t  report_data[64];
    uint8_t  measurement[48];
    uint8_t  host_data[32];
    uint8_t  id_key_digest[48], author_key_digest[48];
    uint8_t  report_id[32], report_id_ma[32];
    uint64_t reported_tcb_raw;
    uint8_t  cpuid_fam, cpuid_mod, cpuid_step;   /* v3+; zero in v2 */
    uint8_t  chip_id[64];
    uint64_t committed_tcb_raw;
    uint8_t  current_build, current_minor, current_major;
    uint8_t  committed_build, committed_minor, committed_major;
    uint64_t launch_tcb_raw;
    uint64_t launch_mit_vector, current_mit_vector;   /* v5 */
    uint8_t  sig_r[48], sig_s[48];  /* big-endian (converted from the report's LE) */
    /* derived */
    sai_snp_product_t cpuid_product;  /* from CPUID (v3+), UNKNOWN for v2 */
    bool     debug;                 /* policy bit 19 */
    bool     vlek;                  /* signer_info signing key == 1 */
} sai_snp_report_t;

/* Parse exactly SAI_SNP_REPORT_LEN bytes (longer input is refused). Checks
 * version (2, 3, 5), signature algorithm (1 = ECDSA P-384/SHA-384), and that
 * the unused upper bytes of r and s are zero. Does not verify anything. */
int sai_snp_report_parse(sai_snp_report_t *r, const uint8_t *buf, size_t len,
                         sai_error_t *err) SAI_MUST_CHECK;

/* The AMD KDS extensions of a VCEK/VLEK certificate (DER or PEM; first
 * certificate). Values are -1 when absent. hwID may be 64 bytes (Milan,
 * Genoa) or 8 (Turin); raw or OCTET STRING-wrapped encodings are accepted. */
typedef struct sai_snp_cert_ext_t {
    int      bl, tee, snp, ucode, fmc;
    uint8_t  hwid[64];
    size_t   hwid_len;
    bool     is_vlek;            /* subject CN "SEV-VLEK" */
    char     product_name[32];   /* extension 1.3.6.1.4.1.3704.1.2, e.g. "Milan-B0" */
    char     csp_id[128];        /* VLEK: extension 1.3.6.1.4.1.3704.1.5 */
} sai_snp_cert_ext_t;

int sai_snp_cert_extensions(sai_snp_cert_ext_t *out, const uint8_t *cert, size_t len,
                            sai_error_t *err) SAI_MUST_CHECK;

/* ---- the generic result that the policy appraises ------------------------ */
typedef enum {
    SAI_VERDICT_NONE = 0,        /* not (yet) appraised */
    SAI_VERDICT_AFFIRMING,       /* verified and accepted by the policy */
    SAI_VERDICT_CONTRAINDICATED, /* verification or policy refused it */
} sai_verdict_t;

#define SAI_ATTEST_MAX_TCB 12
#define SAI_ATTEST_MAX_ADVISORIES 64   /* = SAI_DCAP_MAX_ADVISORIES */

typedef struct sai_attest_tcb_component_t {
    char     name[16];           /* "bl", "tee", "snp", "ucode", "fmc", "tdx_module", ... */
    uint32_t value;
} sai_attest_tcb_component_t;

typedef struct sai_attest_result_t {
    sai_tee_kind_t tee;
    bool     is_simulated;
    bool     is_emulated;        /* SEV-SNP evidence from an emulation's test root
                                    (emulated_roots); is_simulated is true too */
    char     product[16];        /* "Milan", "Genoa", "Turin", "Sim", "TDX 1.0", "TDX 1.5", "SGX" */
    /* Primary measurement: SNP MEASUREMENT (48), TDX MRTD (48), SGX MRENCLAVE (32). */
    uint8_t  measurement[48];
    size_t   measurement_len;
    /* TDX (filled by the dcap component) */
    bool     has_td;
    uint8_t  mrtd[48], rtmr[4][48];
    /* SGX */
    bool     has_sgx;
    uint8_t  mrenclave[32], mrsigner[32];
    uint16_t isv_prodid, isv_svn;
    uint8_t  report_data[64];
    uint8_t  chip_id[64];
    sai_attest_tcb_component_t tcb[SAI_ATTEST_MAX_TCB];
    size_t   n_tcb;
    char     tcb_status[40];     /* Intel status ("UpToDate", ..., "Unknown" without
                                    collateral); "" for SNP/sim */
    char     advisory_ids[SAI_ATTEST_MAX_ADVISORIES][32];
    size_t   n_advisories;
    bool     debug;
    uint64_t guest_policy;       /* SNP POLICY */
    uint32_t vmpl;
    uint32_t report_version;
    bool     vlek;
    int64_t  evidence_time;      /* envelope "generated_at" (unsigned claim), 0 if none */
    int64_t  verified_at;        /* the time the verification was done for */
    uint8_t  signer_root_fp[32]; /* SHA-256 of the trust anchor the chain ended at */
    sai_verdict_t verdict;
    char     rule[32];           /* rule that refused ("signature", "measurement", ...) */
    char     values[256];        /* the values that failed it */
    char     hint[256];          /* what to do about it */
} sai_attest_result_t;

const char *sai_verdict_name(sai_verdict_t v);   /* "affirming", "contraindicated", "none" */

/* ---- appraisal policy (YAML) ----------------------------------------------
 * Keys (all optional; unknown keys are refused):
 *   allowed_tee: [sev-snp, tdx, sgx, sim]  (default: sev-snp, tdx, sgx)
 *   allow_simulated: false                 (default false)
 *   allow_debug: false                     (default false: debug forbidden)
 *   measurements: [hex, ...]               (SNP MEASUREMENT / TDX MRTD / SGX MRENCLAVE)
 *   mrtd: [hex], rtmr0..rtmr3: [hex], mrenclave: [hex], mrsigner: [hex]
 *   min_tcb: {bl: 2, tee: 0, snp: 5, ucode: 68, fmc: 0,      (SNP)
 *             pce: 13, qe: 8, tdx_module: 3, isv_svn: 1}     (Intel)
 *   isv_prodid: [0, 1]                     (SGX ISVPRODID allow-list)
 *   tcb_statuses: [UpToDate, SWHardeningNeeded]   (Intel results; default
 *             [UpToDate]: WARNING statuses and "Unknown" (no collateral)
 *             pass only when listed)
 *   report_data: hex (64 bytes)
 *   max_age: seconds
 *   sim_roots: [sha256 hex of a sim platform ARK]
 *   emulated_roots: [sha256 hex]           TEST / EMULATION ONLY: the ARK of an
 *             SEV-SNP emulation (docs/hardware.md). Evidence chaining to it
 *             is SEV-SNP evidence marked is_simulated and is_emulated, so
 *             allow_simulated must be true as well. Never list a root here
 *             that signs anything but test reports.
 */
typedef struct sai_attest_policy_t sai_attest_policy_t;

int  sai_attest_policy_load(sai_attest_policy_t **out, const char *yaml, size_t len,
                            sai_error_t *err) SAI_MUST_CHECK;
int  sai_attest_policy_load_file(sai_attest_policy_t **out, const char *path,
                                 sai_error_t *err) SAI_MUST_CHECK;
/* The default policy (no allow-lists, debug forbidden, sim refused). */
int  sai_attest_policy_default(sai_attest_policy_t **out, sai_error_t *err) SAI_MUST_CHECK;
void sai_attest_policy_free(sai_attest_policy_t *p);
/* Add a trusted sim ARK fingerprint (e.g. the local platform's). */
int  sai_attest_policy_add_sim_root(sai_attest_policy_t *p, const uint8_t fp[32],
                                    sai_error_t *err) SAI_MUST_CHECK;
/* TEST / EMULATION ONLY: trust the ARK of an SEV-SNP emulation. */
int  sai_attest_policy_add_emulated_root(sai_attest_policy_t *p, const uint8_t fp[32],
                                         sai_error_t *err) SAI_MUST_CHECK;
/* Whether fp is one of the policy's emulated (test) roots. */
bool sai_attest_policy_root_is_emulated(const sai_attest_policy_t *p, const uint8_t fp[32]);
/* The policy's trusted non-AMD roots: sim ARK fingerprints and emulated
 * (test) roots, in one list (borrowed from p; *n may be 0, e.g. for a
 * verifier that then falls back to the local platform's ARK). Chains that
 * end in one of them verify as sim evidence; sai_attest_policy_appraise
 * turns those that end in an emulated root into emulated SEV-SNP evidence. */
void sai_attest_policy_sim_roots(const sai_attest_policy_t *p, const uint8_t (**roots)[32],
                                 size_t *n);

/* Appraise a verified result against the policy. Sets res->verdict and, on
 * refusal, res->rule / values / hint, and returns SAI_EPOLICY with err
 * holding "<rule>: <values> (<hint>)". expected_report_data (may be NULL)
 * adds to the policy's report_data rule; now is the appraisal time. */
int  sai_attest_policy_appraise(const sai_attest_policy_t *p, sai_attest_result_t *res,
                                const uint8_t *expected_report_data, int64_t now,
                                sai_error_t *err) SAI_MUST_CHECK;

/* ---- verification -------------------------------------------------------- */

/* Verify a raw SNP report with its VCEK/VLEK (DER or PEM) and optionally the
 * ASK/ASVK+ARK chain (PEM bundle; when NULL the signing cert must be
 * followed in vcek by the chain, e.g. a VCEK+ASK+ARK PEM file). The chain
 * must end in a pinned AMD root, or in one of extra_roots (SHA-256 of DER,
 * n_extra entries: sim platform ARKs, in which case the result is marked
 * simulated). at = verification time (Unix seconds). Fills res (not
 * appraised: verdict stays NONE on success). */
int sai_attest_verify_snp(const uint8_t *report, size_t report_len,
                          const uint8_t *vcek, size_t vcek_len,
                          const uint8_t *chain, size_t chain_len,
                          const uint8_t (*extra_roots)[32], size_t n_extra,
                          int64_t at, sai_attest_result_t *res, sai_error_t *err) SAI_MUST_CHECK;

/* The same in two steps, so a verifier can cache a checked chain: _new
 * verifies the chain (signatures, pinned root, validity at `at`) once;
 * _verify checks one report against it (signature, TCB and chip id
 * extensions, product). The verifier is immutable and thread-safe to share. */
typedef struct sai_snp_verifier_t sai_snp_verifier_t;
int  sai_snp_verifier_new(sai_snp_verifier_t **out,
                          const uint8_t *vcek, size_t vcek_len,
                          const uint8_t *chain, size_t chain_len,
                          const uint8_t (*extra_roots)[32], size_t n_extra,
                          int64_t at, sai_error_t *err) SAI_MUST_CHECK;
int  sai_snp_verifier_verify(const sai_snp_verifier_t *v, const uint8_t *report, size_t report_len,
                             sai_attest_result_t *res, sai_error_t *err) SAI_MUST_CHECK;
void sai_snp_verifier_free(sai_snp_verifier_t *v);

/* Verify an evidence envelope (JSON from sai_tee_get_evidence or
 * `secureai attest`) and appraise it. policy NULL = the default policy (plus
 * the local sim platform's ARK if one exists). expected_report_data may be
 * NULL. at = time of verification (Unix seconds; 0 = now). Returns 0 only
 * for an affirming verdict; otherwise a negative code, with res describing
 * the refusal (res->rule, values, hint) whenever the envelope parsed. */
int sai_attest_verify_evidence(const char *evidence_json, size_t len,
                               const sai_attest_policy_t *policy,
                               const uint8_t *expected_report_data,
                               int64_t at, sai_attest_result_t *res,
                               sai_error_t *err) SAI_MUST_CHECK;

/* The trust anchor this evidence chains to, learnt from the evidence
 * itself (SEV-SNP and sim; others SAI_EUNSUPP): every certificate after the
 * signing one is tried as the anchor (the pinned AMD ARKs as usual), and
 * one is taken only when the report's signature and the whole chain verify
 * up to it (validity at `at`, 0 = now). On success res is the verified,
 * unappraised result: res->signer_root_fp is the anchor's SHA-256, res->tee
 * SAI_TEE_SIM for a non-AMD anchor, else SAI_TEE_SEV_SNP. This proves which
 * root, not that it is trustworthy: use it only on evidence from a source
 * trusted for another reason (an enclave's own TEE, to hold peers to the
 * platform that launched it; docs/distributed.md). */
int sai_attest_evidence_root(const char *evidence_json, size_t len, int64_t at,
                             sai_attest_result_t *res, sai_error_t *err) SAI_MUST_CHECK;

/* ---- the evidence envelope ------------------------------------------------
 * The format and sai_evidence_build belong to tee (tee.h), its producer;
 * attest parses it. */
typedef struct sai_evidence_t {
    sai_tee_kind_t tee;
    bool     simulated;
    uint8_t *report;  size_t report_len;    /* SNP/sim report */
    uint8_t *quote;   size_t quote_len;     /* TDX/SGX quote */
    char    *certs;   size_t certs_len;     /* PEM bundle, signing cert first */
    char    *collateral; size_t collateral_len; /* JSON text, may be NULL */
    int64_t  generated_at;
} sai_evidence_t;

int  sai_evidence_parse(sai_evidence_t *ev, const char *json, size_t len,
                        sai_error_t *err) SAI_MUST_CHECK;
void sai_evidence_clear(sai_evidence_t *ev);

/* Parsed fields as a JSON object (malloc'ed): what `secureai inspect-evidence`
 * prints. Works without verifying. */
int  sai_attest_inspect_json(char **json, const sai_evidence_t *ev, sai_error_t *err) SAI_MUST_CHECK;
int  sai_attest_result_json(char **json, const sai_attest_result_t *res, sai_error_t *err) SAI_MUST_CHECK;
/* The quotes in an RA-TLS certificate (kind, key binding, quote fields). */
int  sai_attest_inspect_ratls_json(char **json, const uint8_t *cert, size_t len,
                                   sai_error_t *err) SAI_MUST_CHECK;

/* The same with collateral given separately (TDX/SGX: dcap-qvl style JSON,
 * see dcap.h); when collateral_json is non-NULL it replaces the envelope's
 * "collateral". */
int sai_attest_verify_envelope(const char *evidence_json, size_t len,
                               const char *collateral_json, size_t collateral_len,
                               const sai_attest_policy_t *policy,
                               const uint8_t *expected_report_data,
                               int64_t at, sai_attest_result_t *res,
                               sai_error_t *err) SAI_MUST_CHECK;

/* TDX/SGX (Intel DCAP, dcap.h) into the generic result. tee is the kind the
 * caller expects (SAI_TEE_TDX / SAI_TEE_SGX; SAI_TEE_NONE = whatever the
 * quote is); a quote of the other kind is refused (rule "tee").
 * collateral_json may be NULL: the TCB status is then "Unknown", which the
 * default policy refuses. Returns 0 when the quote verified (res not yet
 * appraised: verdict NONE); otherwise a negative code with res->rule = the
 * dcap check that failed (quote_signature, pck_chain, tcb_level, ...). */
int  sai_attest_verify_quote(sai_tee_kind_t tee, const uint8_t *quote, size_t quote_len,
                             const char *collateral_json, size_t collateral_len,
                             int64_t at, sai_attest_result_t *res, sai_error_t *err) SAI_MUST_CHECK;
/* An RA-TLS certificate (PEM/DER): every quote in it must bind the
 * certificate's key; the preferred one (DICE first) is verified and mapped. */
int  sai_attest_verify_ratls(const uint8_t *cert, size_t cert_len,
                             const char *collateral_json, size_t collateral_len, int64_t at,
                             sai_attest_result_t *res, sai_error_t *err) SAI_MUST_CHECK;
/* Map a sai_dcap_result_t (from sai_dcap_verify, e.g. with a cached
 * collateral object) into res; a CONTRAINDICATED result becomes a refusal
 * (returns its code, res->rule = failed_check). at = verification time. */
struct sai_dcap_result_t;
int  sai_attest_from_dcap(sai_attest_result_t *res, const struct sai_dcap_result_t *d,
                          int dcap_rc, int64_t at, sai_error_t *err) SAI_MUST_CHECK;

/* Parse RFC 3339 ("2025-09-12T00:00:00Z", offsets allowed) to Unix seconds. */
int  sai_parse_rfc3339(int64_t *out, const char *s, sai_error_t *err) SAI_MUST_CHECK;

/* ---- signed attestation results (JWT, ES384, EAR-style claims) ----------- */
typedef struct sai_ec_key_t sai_ec_key_t;

/* Sign a result as a JWT: header {"alg":"ES384","typ":"JWT"}; claims
 * eat_profile, iat, exp = iat + ttl, ear.verifier-id, submods.<tee>.ear.status
 * and annotated evidence (measurement, report_data, chip id, tcb, simulated).
 * *jwt malloc'ed. */
int sai_attest_token_sign(char **jwt, const sai_attest_result_t *res, const sai_ec_key_t *key,
                          int64_t iat, int64_t ttl, sai_error_t *err) SAI_MUST_CHECK;

typedef struct sai_attest_token_t {
    sai_verdict_t verdict;
    sai_tee_kind_t tee;
    bool     simulated;
    int64_t  iat, exp;
    uint8_t  measurement[48];
    size_t   measurement_len;
    uint8_t  report_data[64];
    bool     has_report_data;
} sai_attest_token_t;

/* Verify signature (ES384 only; "none" and every other alg refused),
 * expiry (exp > now, iat <= now + 60) and decode the claims. */
int sai_attest_token_verify(sai_attest_token_t *out, const char *jwt, size_t len,
                            const sai_ec_key_t *pub, int64_t now, sai_error_t *err) SAI_MUST_CHECK;

#endif
