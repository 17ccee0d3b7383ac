/*
 * cmd_verify_evidence.c — `secureai verify-evidence`: verify an evidence
 * envelope or raw evidence (SNP report + VCEK [+ chain], TDX/SGX quote
 * [+ collateral], RA-TLS certificate) and appraise the result with a
 * policy. Exit 0 only for an affirming verdict.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "secureai/attest.h"
#include "secureai/crypto.h"
#include "secureai/dcap.h"
#include "secureai/tee.h"
#include "secureai/util.h"

static const char usage[] =
    "usage: secureai verify-evidence EVIDENCE.json [--collateral C.json] [options]\n"
    "       secureai verify-evidence EVIDENCE.json --vcek V.der [--chain ASK_ARK.pem] [options]\n"
    "       secureai verify-evidence --tee sev-snp --report R.bin --vcek V.der [--chain ASK_ARK.pem] [options]\n"
    "       secureai verify-evidence --tee tdx|sgx --quote Q.dat [--collateral C.json] [options]\n"
    "       secureai verify-evidence --ratls CERT.pem [--collateral C.json] [options]\n"
    "\n"
    "Verify attestation evidence and appraise it with a policy. SEV-SNP/sim:\n"
    "report signature, chain to the pinned AMD roots (or a trusted sim\n"
    "platform), TCB and chip id. TDX/SGX (Intel DCAP): quote and QE report\n"
    "signatures, QE binding, PCK chain to the pinned Intel SGX Root CA; with\n"
    "collateral also CRLs, QE identity and the TCB status (without it the\n"
    "status is Unknown). RA-TLS: the quote must bind the certificate's key.\n"
    "Exits 0 only when the verdict is affirming: an Intel TCB status other than\n"
    "UpToDate (SWHardeningNeeded, ..., Unknown) passes only if the policy lists\n"
    "it in tcb_statuses.\n"
    "\n"
    "An SEV-SNP envelope is checked with the certificates it carries; with\n"
    "--vcek (and --chain) it is checked with those instead (for evidence\n"
    "collected where the host supplied no certificate table).\n"
    "\n"
    "options:\n"
    "  --collateral C.json  TDX/SGX collateral (dcap-qvl JSON: tcb_info, qe_identity,\n"
    "                       CRLs, issuer chains); replaces the envelope's\n"
    "  --policy P           appraisal policy (YAML); default: sim refused, debug\n"
    "                       refused, Intel TCB status must be UpToDate\n"
    "  --at RFC3339         verify as of this time (real certificates expire)\n"
    "  --report-data HEX    expected report data (64 bytes of hex)\n"
    "  --platform-dir DIR   trust this sim platform's ARK (default: the local one)\n"
    "  --json               print the result as JSON on stdout\n"
    "  --sign-key KEY.pem   sign the result as an EAR JWT (ES384) with this P-384 key\n"
    "  --token-out FILE     where to write the token (default stdout)\n"
    "  --token-ttl SECONDS  token lifetime (default 300)\n";

/* sai_read_file's messages name the file already: callers add no prefix. */
static int read_arg_file(const char *path, size_t cap, uint8_t **buf, size_t *len, sai_error_t *err)
{
    return sai_read_file(path, cap, buf, len, err);
}

/* An empty --collateral is an error naming the file, never "no collateral"
 * (which would pass a policy accepting Unknown). */
static int read_collateral(const char *path, uint8_t **buf, size_t *len, sai_error_t *err)
{
    int rc = read_arg_file(path, SAI_DCAP_COLLATERAL_MAX, buf, len, err);
    if (rc != 0)
        return rc;
    size_t i = 0;
    while (i < *len && strchr(" \t\r\n", (*buf)[i]) != NULL)
        i++;
    if (i == *len)
        return sai_error_set(err, SAI_EFORMAT,
                             "collateral file %s is empty (%zu bytes%s): give the collateral JSON, or omit --collateral",
                             path, *len, *len ? ", all white space" : "");
    return 0;
}

/* An SEV-SNP (or sim) envelope checked with --vcek [--chain] in place of the
 * certificates it carries, e.g. evidence from a host that supplied no
 * certificate table. TDX/SGX envelopes have no VCEK: refused, never
 * silently ignored. */
static int verify_envelope_with_certs(const char *path, const char *vcek, const char *chain,
                                      const sai_attest_policy_t *pol, const uint8_t *rdp, int64_t at,
                                      sai_attest_result_t *res, sai_error_t *err)
{
    uint8_t *j = NULL, *v = NULL, *c = NULL;
    size_t jl = 0, vl = 0, cl = 0;
    sai_evidence_t ev;
    memset(&ev, 0, sizeof ev);
    int rc;
    if (vcek == NULL) {
        return sai_error_set(err, SAI_EINVAL,
                             "--chain with an evidence file needs --vcek too (the signing certificate the chain belongs to)");
    }
    if ((rc = read_arg_file(path, SAI_EVIDENCE_MAX, &j, &jl, err)) != 0 ||
        (rc = sai_evidence_parse(&ev, (const char *)j, jl, err)) != 0)
        goto out;
    if (ev.tee != SAI_TEE_SEV_SNP && ev.tee != SAI_TEE_SIM) {
        rc = sai_error_set(err, SAI_EINVAL, "--vcek/--chain are for SEV-SNP evidence; %s is %s evidence",
                           path, sai_tee_kind_name(ev.tee));
        goto out;
    }
    if ((rc = read_arg_file(vcek, 65536, &v, &vl, err)) != 0 ||
        (chain != NULL && (rc = read_arg_file(chain, 65536, &c, &cl, err)) != 0))
        goto out;
    const uint8_t (*roots)[32] = NULL;
    size_t n_roots = 0;
    sai_attest_policy_sim_roots(pol, &roots, &n_roots);
    if (ev.certs != NULL)
        fprintf(stderr, "secureai: note: checking with --vcek%s, not the certificates in %s\n",
                chain ? "/--chain" : "", path);
    rc = sai_attest_verify_snp(ev.report, ev.report_len, v, vl, c, cl, roots, n_roots, at, res, err);
    res->evidence_time = ev.generated_at;
    if (rc == 0)
        rc = sai_attest_policy_appraise(pol, res, rdp, at, err);
out:
    sai_evidence_clear(&ev);
    free(j); free(v); free(c);
    return rc;
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "tee", required_argument, NULL, 't' },
        { "report", required_argument, NULL, 'r' },
        { "vcek", required_argument, NULL, 'v' },
        { "chain", required_argument, NULL, 'c' },
        { "quote", required_argument, NULL, 'q' },
        { "collateral", required_argument, NULL, 'C' },
        { "ratls", required_argument, NULL, 'T' },
        { "policy", required_argument, NULL, 'p' },
        { "at", required_argument, NULL, 'a' },
        { "report-data", required_argument, NULL, 'd' },
        { "platform-dir", required_argument, NULL, 'P' },
        { "json", no_argument, NULL, 'j' },
        { "sign-key", required_argument, NULL, 'k' },
        { "token-out", required_argument, NULL, 'o' },
        { "token-ttl", required_argument, NULL, 'L' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *tee = NULL, *report = NULL, *vcek = NULL, *chain = NULL, *quote = NULL,
               *collateral = NULL, *ratls = NULL, *policy_path = NULL, *at_s = NULL,
               *rd_hex = NULL, *pdir = NULL, *sign_key = NULL, *token_out = NULL;
    bool json = false;
    long long ttl = 300;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:r:v:c:q:C:T:p:a:d:P:jk:o:L:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': tee = optarg; break;
        case 'r': report = optarg; break;
        case 'v': vcek = optarg; break;
        case 'c': chain = optarg; break;
        case 'q': quote = optarg; break;
        case 'C': collateral = optarg; break;
        case 'T': ratls = optarg; break;
        case 'p': policy_path = optarg; break;
        case 'a': at_s = optarg; break;
        case 'd': rd_hex = optarg; break;
        case 'P': pdir = optarg; break;
        case 'j': json = true; break;
        case 'k': sign_key = optarg; break;
        case 'o': token_out = optarg; break;
        case 'L': ttl = sai_cli_parse_size(optarg); break;
        case 'h': fputs(usage, stdout); return 0;
        default:  return sai_cli_usage_error("verify-evidence: bad option");
        }
    }
    const char *evidence = optind < argc ? argv[optind++] : NULL;
    if (optind != argc)
        return sai_cli_usage_error("verify-evidence: unexpected argument '%s'", argv[optind]);
    int modes = (evidence != NULL) + (report != NULL) + (quote != NULL) + (ratls != NULL);
    if (modes != 1)
        return sai_cli_usage_error("verify-evidence: give one of EVIDENCE.json, --report, --quote, --ratls");
    if (ttl <= 0)
        return sai_cli_usage_error("verify-evidence: bad --token-ttl");

    sai_error_t err;
    sai_error_clear(&err);
    int64_t at = 0;
    if (at_s != NULL && sai_parse_rfc3339(&at, at_s, &err) != 0)
        return sai_cli_usage_error("verify-evidence: --at: %s", err.msg);
    if (at == 0)
        at = (int64_t)time(NULL);
    uint8_t rd[64], *rdp = NULL;
    if (rd_hex != NULL) {
        if (strlen(rd_hex) != 128 || sai_hex_decode(rd, 64, rd_hex, &err) != 0)
            return sai_cli_usage_error("verify-evidence: --report-data must be 64 bytes of hex");
        rdp = rd;
    }
    sai_attest_policy_t *pol = NULL;
    int rc = policy_path ? sai_attest_policy_load_file(&pol, policy_path, &err)
                         : sai_attest_policy_default(&pol, &err);
    if (rc != 0)
        return sai_cli_fail(&err, "verify-evidence");
    if (pdir != NULL) {
        uint8_t fp[32];
        if (sai_sim_platform_ark_fingerprint(pdir, fp, &err) != 0 ||
            sai_attest_policy_add_sim_root(pol, fp, &err) != 0) {
            sai_attest_policy_free(pol);
            return sai_cli_fail(&err, "verify-evidence: --platform-dir");
        }
    }

    sai_attest_result_t res;
    memset(&res, 0, sizeof res);
    uint8_t *a = NULL, *b = NULL, *d = NULL;
    size_t al = 0, bl = 0, dl = 0;
    if (collateral != NULL && report != NULL) {
        rc = sai_error_set(&err, SAI_EINVAL, "--collateral is for TDX/SGX evidence");
    } else if (collateral != NULL && (rc = read_collateral(collateral, &b, &bl, &err)) != 0) {
        /* the message names the file */
    } else if (evidence != NULL && (vcek != NULL || chain != NULL)) {
        rc = verify_envelope_with_certs(evidence, vcek, chain, pol, rdp, at, &res, &err);
    } else if (evidence != NULL) {
        rc = read_arg_file(evidence, SAI_EVIDENCE_MAX, &a, &al, &err);
        if (rc == 0)
            rc = sai_attest_verify_envelope((const char *)a, al, (const char *)b, bl, pol, rdp,
                                            at, &res, &err);
    } else if (report != NULL) {
        if (tee != NULL && sai_tee_kind_from_name(tee) != SAI_TEE_SEV_SNP) {
            rc = sai_error_set(&err, SAI_EINVAL, "--report is for --tee sev-snp");
        } else if (vcek == NULL) {
            rc = sai_error_set(&err, SAI_EINVAL, "--report needs --vcek");
        } else if ((rc = read_arg_file(report, 8192, &a, &al, &err)) == 0 &&
                   (rc = read_arg_file(vcek, 65536, &b, &bl, &err)) == 0 &&
                   (chain == NULL || (rc = read_arg_file(chain, 65536, &d, &dl, &err)) == 0)) {
            rc = sai_attest_verify_snp(a, al, b, bl, d, dl, NULL, 0, at, &res, &err);
            if (rc == 0)
                rc = sai_attest_policy_appraise(pol, &res, rdp, at, &err);
        }
    } else if (quote != NULL) {
        sai_tee_kind_t k = sai_tee_kind_from_name(tee);
        if (k != SAI_TEE_TDX && k != SAI_TEE_SGX) {
            rc = sai_error_set(&err, SAI_EINVAL, "--quote needs --tee tdx or --tee sgx");
        } else if ((rc = read_arg_file(quote, SAI_DCAP_QUOTE_MAX, &a, &al, &err)) == 0) {
            rc = sai_attest_verify_quote(k, a, al, (const char *)b, bl, at, &res, &err);
            if (rc == 0)
                rc = sai_attest_policy_appraise(pol, &res, rdp, at, &err);
        }
    } else {
        if ((rc = read_arg_file(ratls, 65536, &a, &al, &err)) == 0) {
            rc = sai_attest_verify_ratls(a, al, (const char *)b, bl, at, &res, &err);
            if (rc == 0)
                rc = sai_attest_policy_appraise(pol, &res, rdp, at, &err);
        }
    }
    free(a); free(b); free(d);
    sai_attest_policy_free(pol);
    if (rc != 0 && res.verdict != SAI_VERDICT_CONTRAINDICATED) {
        res.verdict = SAI_VERDICT_CONTRAINDICATED;
        snprintf(res.rule, sizeof res.rule, "verification");
        snprintf(res.values, sizeof res.values, "%.250s", err.msg);
    }
    if (json) {
        char *out = NULL;
        sai_error_t e2;
        if (sai_attest_result_json(&out, &res, &e2) == 0) {
            puts(out);
            free(out);
        }
    }
    if (sign_key != NULL) {
        uint8_t *pem = NULL;
        size_t pl = 0;
        sai_ec_key_t *k = NULL;
        char *jwt = NULL;
        sai_error_t e2;
        sai_error_clear(&e2);
        int trc = sai_read_file(sign_key, 65536, &pem, &pl, &e2);
        if (trc == 0)
            trc = sai_ec_from_pem(&k, (const char *)pem, pl, &e2);
        if (pem) {
            sai_wipe(pem, pl);
            free(pem);
        }
        if (trc == 0)
            trc = sai_attest_token_sign(&jwt, &res, k, (int64_t)time(NULL), ttl, &e2);
        sai_ec_free(k);
        if (trc == 0 && token_out != NULL)
            trc = sai_write_file_atomic(token_out, jwt, strlen(jwt), 0644, false, &e2);
        else if (trc == 0)
            puts(jwt);
        free(jwt);
        if (trc != 0)
            return sai_cli_fail(&e2, "verify-evidence: token");
    }
    if (rc != 0)
        return sai_cli_fail(&err, "verify-evidence: refused");
    if (!json) {
        char m[97] = "";
        sai_hex_encode(m, res.measurement, res.measurement_len);
        printf("verdict: affirming (%s%s%s%s), measurement %s\n",
               sai_tee_kind_name(res.tee), res.product[0] ? " " : "", res.product,
               res.is_emulated ? ", EMULATED platform: test root, not hardware" : res.is_simulated ? ", SIMULATED TEE" : "",
               m);
        if (res.tcb_status[0])
            printf("tcb_status: %s%s\n", res.tcb_status,
                   strcmp(res.tcb_status, "Unknown") == 0 ? " (no collateral: accepted by the policy's tcb_statuses)"
                   : strcmp(res.tcb_status, "UpToDate") != 0 ? " (accepted by the policy's tcb_statuses)" : "");
        for (size_t i = 0; i < res.n_advisories; i++)
            printf("advisory: %s\n", res.advisory_ids[i]);
    }
    return 0;
}

const sai_cmd_t sai_cmd_verify_evidence = {
    "verify-evidence", "verify and appraise attestation evidence (exit 0 only if affirming)", usage, run
};
