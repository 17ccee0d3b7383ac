/*
 * intel.c — TDX and SGX evidence (Intel DCAP quotes, RA-TLS certificates)
 * in the one verifier: the dcap component (dcap.h) does the cryptography and
 * Intel's TCB rules; this file maps its result into the TEE-neutral
 * sai_attest_result_t, so the YAML appraisal policy treats TDX and SGX exactly
 * as it treats SEV-SNP (allowed kinds, measurement allow-lists, debug,
 * report data, min_tcb, acceptable TCB statuses).
 *
 * Mapping of the dcap verdicts: AFFIRMING -> tcb_status "UpToDate";
 * WARNING -> the Intel status (SWHardeningNeeded, ...); TCB_UNKNOWN (no
 * collateral) -> "Unknown"; the policy's tcb_statuses (default [UpToDate])
 * then decides. CONTRAINDICATED is a refusal whose rule is the dcap check
 * that failed (quote_signature, pck_chain, tcb_level, ...).
 */
#include <stdio.h>
#include <string.h>

#include "attest/attest_internal.h"
#include "secureai/dcap.h"
#include "secureai/util.h"

static const char *hint_for(const char *check, const char *detail)
{
    if (strstr(detail, "expired") != NULL || strstr(detail, "not yet valid") != NULL)
        return "a certificate, CRL or collateral item is outside its validity: fetch current ones (Intel PCS/PCCS) or verify as of a time inside it (--at)";
    if (!strcmp(check, "tcb_level") || !strcmp(check, "tcb_status"))
        return "TCB not supported or Revoked: the platform needs a TCB recovery (microcode/firmware/TDX module update)";
    if (strstr(check, "validity") != NULL)
        return "fetch current collateral (Intel PCS/PCCS) or verify as of a time inside its validity (--at)";
    if (!strcmp(check, "fmspc") || !strcmp(check, "pceid") || !strcmp(check, "tcb_info_type") ||
        !strncmp(check, "collateral", 10))
        return "the collateral is not for this platform or not signed by Intel: fetch it for this quote's FMSPC";
    if (!strcmp(check, "quote_format") || !strcmp(check, "header") || !strcmp(check, "ratls_format"))
        return "not a DCAP quote this verifier supports (TDX v4/v5, SGX v3, ECDSA P-256, certification data type 5)";
    if (!strncmp(check, "ratls", 5))
        return "the RA-TLS certificate is not bound to its quote, or is self-signed wrongly or expired";
    return "the quote is not genuine Intel evidence, or was altered";
}

int sai_attest_from_dcap(sai_attest_result_t *res, const sai_dcap_result_t *d, int dcap_rc,
                         int64_t at, sai_error_t *err)
{
    memset(res, 0, sizeof *res);
    res->verified_at = at;
    res->tee = d->tee == SAI_DCAP_TDX ? SAI_TEE_TDX : SAI_TEE_SGX;
    res->report_version = d->version;
    if (d->version == 0)       /* not even the header parsed: no fields to map */
        goto verdict;
    if (d->tee == SAI_DCAP_TDX) {
        snprintf(res->product, sizeof res->product, "%s",
                 d->body_type == SAI_DCAP_BODY_TD15 ? "TDX 1.5" : "TDX 1.0");
        res->has_td = true;
        memcpy(res->mrtd, d->mrtd, 48);
        memcpy(res->rtmr, d->rtmr, sizeof res->rtmr);
        memcpy(res->measurement, d->mrtd, 48);
        res->measurement_len = 48;
    } else {
        snprintf(res->product, sizeof res->product, "SGX");
        res->has_sgx = true;
        memcpy(res->mrenclave, d->mrenclave, 32);
        memcpy(res->mrsigner, d->mrsigner, 32);
        memcpy(res->measurement, d->mrenclave, 32);
        res->measurement_len = 32;
        res->isv_prodid = d->isv_prodid;
        res->isv_svn = d->isv_svn;
    }
    memcpy(res->report_data, d->report_data, 64);
    res->debug = d->debug;
    if (sai_hex_decode(res->signer_root_fp, 32, SAI_DCAP_ROOT_SHA256, NULL) != 0)
        memset(res->signer_root_fp, 0, 32);

    /* TCB components min_tcb can name (see attest.h). */
#define ADD(n, v) do { snprintf(res->tcb[res->n_tcb].name, sizeof res->tcb[0].name, "%s", n); \
                       res->tcb[res->n_tcb++].value = (v); } while (0)
    ADD("pce", d->pck_pcesvn);
    ADD("qe", d->qe_isvsvn);
    if (d->tee == SAI_DCAP_TDX)
        ADD("tdx_module", d->tee_tcb_svn[0]);
    else
        ADD("isv_svn", d->isv_svn);
#undef ADD

verdict:
    if (d->verdict == SAI_DCAP_CONTRAINDICATED || dcap_rc != 0) {
        const char *check = d->failed_check[0] ? d->failed_check : "verification";
        const char *detail = d->failed_detail[0] ? d->failed_detail
                                                 : (err != NULL ? err->msg : "refused");
        int code = dcap_rc != 0 ? dcap_rc : SAI_EAUTH;
        return sai_attest__refuse(res, err, code, check, hint_for(check, detail), "%s", detail);
    }
    if (d->verdict == SAI_DCAP_TCB_UNKNOWN)
        snprintf(res->tcb_status, sizeof res->tcb_status, "Unknown");
    else
        snprintf(res->tcb_status, sizeof res->tcb_status, "%s", d->tcb_status);
    for (size_t i = 0; i < d->n_advisories && i < SAI_ATTEST_MAX_ADVISORIES; i++)
        snprintf(res->advisory_ids[res->n_advisories++], sizeof res->advisory_ids[0], "%s",
                 d->advisory_ids[i]);
    return 0;
}

static int load_collateral(sai_dcap_collateral_t **c, const char *json, size_t len,
                           sai_attest_result_t *res, sai_error_t *err)
{
    *c = NULL;
    if (json == NULL)
        return 0;   /* none given: the TCB status will be Unknown */
    /* given but empty is an error (sai_dcap_collateral_parse says so), never
     * "no collateral": a truncated download must not pass a policy that
     * accepts Unknown, nor be refused as if no collateral had been given */
    int rc = sai_dcap_collateral_parse(json, len, c, err);
    if (rc != 0)
        return sai_attest__refuse(res, err, rc, "collateral",
                                 "give the dcap-qvl style collateral JSON (tcb_info, qe_identity, CRLs, issuer chains)",
                                 "%.200s", err != NULL ? err->msg : "unreadable collateral");
    return 0;
}

int sai_attest_verify_quote(sai_tee_kind_t tee, const uint8_t *quote, size_t quote_len,
                            const char *collateral_json, size_t collateral_len,
                            int64_t at, sai_attest_result_t *res, sai_error_t *err)
{
    sai_dcap_collateral_t *c = NULL;
    sai_dcap_result_t d;
    memset(res, 0, sizeof *res);
    res->tee = tee;
    res->verified_at = at;
    if (tee != SAI_TEE_NONE && tee != SAI_TEE_TDX && tee != SAI_TEE_SGX)
        return sai_attest__refuse(res, err, SAI_EINVAL, "tee", NULL,
                                 "%s evidence is not a DCAP quote", sai_tee_kind_name(tee));
    int rc = load_collateral(&c, collateral_json, collateral_len, res, err);
    if (rc != 0)
        return rc;
    rc = sai_dcap_verify_bytes(quote, quote_len, c, (time_t)at, &d, err);
    sai_dcap_collateral_free(c);
    if (d.version == 0) /* not even the header parsed: keep the caller's kind */
        d.tee = tee == SAI_TEE_TDX ? SAI_DCAP_TDX : SAI_DCAP_SGX;
    int mrc = sai_attest_from_dcap(res, &d, rc, at, err);
    if (mrc != 0)
        return mrc;
    if (tee != SAI_TEE_NONE && res->tee != tee)
        return sai_attest__refuse(res, err, SAI_EFORMAT, "tee",
                                 "the evidence's TEE kind must match the quote's",
                                 "evidence says %s but the quote is a %s quote",
                                 sai_tee_kind_name(tee), sai_tee_kind_name(res->tee));
    return 0;
}

int sai_attest_verify_ratls(const uint8_t *cert, size_t cert_len, const char *collateral_json,
                            size_t collateral_len, int64_t at, sai_attest_result_t *res,
                            sai_error_t *err)
{
    sai_dcap_collateral_t *c = NULL;
    sai_dcap_result_t d;
    memset(res, 0, sizeof *res);
    res->verified_at = at;
    int rc = load_collateral(&c, collateral_json, collateral_len, res, err);
    if (rc != 0)
        return rc;
    rc = sai_dcap_ratls_verify(cert, cert_len, c, (time_t)at, &d, err);
    sai_dcap_collateral_free(c);
    if (d.version == 0)
        d.tee = SAI_DCAP_SGX;
    return sai_attest_from_dcap(res, &d, rc, at, err);
}
