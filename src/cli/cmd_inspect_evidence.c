/*
 * cmd_inspect_evidence.c — `secureai inspect-evidence`: print the parsed
 * fields of an evidence envelope, a raw SNP report, a raw TDX/SGX quote or
 * an RA-TLS certificate as JSON, without verifying anything.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "secureai/attest.h"
#include "secureai/tee.h"
#include "secureai/util.h"

static const char usage[] =
    "usage: secureai inspect-evidence EVIDENCE.json\n"
    "       secureai inspect-evidence [--tee sev-snp] --report R.bin   (SEV-SNP report)\n"
    "       secureai inspect-evidence [--tee tdx|sgx] --quote Q.dat    (TDX v4/v5, SGX v3 quote)\n"
    "       secureai inspect-evidence --ratls CERT.pem                 (RA-TLS certificate)\n"
    "\n"
    "--tee means what it means to verify-evidence: the kind the evidence must\n"
    "be (a quote of the other kind, or an envelope of another kind, is an\n"
    "error); without it the kind is read from the evidence.\n"
    "\n"
    "Print the parsed fields as JSON: SNP measurement, report data, chip id,\n"
    "TCB, policy bits; TDX MRTD, RTMR0-3, MRSEAM, TD attributes (debug),\n"
    "TEE_TCB_SVN; SGX MRENCLAVE, MRSIGNER, ISV prod id/SVN, attributes\n"
    "(debug); the QE report; RA-TLS: each embedded quote and whether it binds\n"
    "the certificate's key. Nothing is verified: use verify-evidence for that.\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "tee", required_argument, NULL, 't' },
        { "report", required_argument, NULL, 'r' },
        { "quote", required_argument, NULL, 'q' },
        { "ratls", required_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *tee = NULL, *report = NULL, *quote = NULL, *ratls = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:r:q:T:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': tee = optarg; break;
        case 'r': report = optarg; break;
        case 'q': quote = optarg; break;
        case 'T': ratls = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default:  return sai_cli_usage_error("inspect-evidence: bad option");
        }
    }
    const char *path = optind < argc ? argv[optind++] : NULL;
    if ((path != NULL) + (report != NULL) + (quote != NULL) + (ratls != NULL) != 1 || optind != argc)
        return sai_cli_usage_error("inspect-evidence: give one of EVIDENCE.json, --report R.bin, --quote Q.dat, --ratls CERT.pem");
    sai_tee_kind_t want = SAI_TEE_NONE;
    if (tee != NULL) {
        want = sai_tee_kind_from_name(tee);
        if (want == SAI_TEE_NONE)
            return sai_cli_usage_error("inspect-evidence: unknown TEE '%s' (sim, sev-snp, tdx, sgx)", tee);
        if (report != NULL && want != SAI_TEE_SEV_SNP)
            return sai_cli_usage_error("inspect-evidence: --report is for --tee sev-snp");
        if (quote != NULL && want != SAI_TEE_TDX && want != SAI_TEE_SGX)
            return sai_cli_usage_error("inspect-evidence: --quote needs --tee tdx or --tee sgx");
        if (ratls != NULL && want != SAI_TEE_SGX)
            return sai_cli_usage_error("inspect-evidence: --ratls is for --tee sgx");
    }
    const char *file = path ? path : report ? report : quote ? quote : ratls;
    sai_error_t err;
    sai_error_clear(&err);
    uint8_t *buf = NULL;
    size_t len = 0;
    sai_evidence_t ev;
    memset(&ev, 0, sizeof ev);
    if (sai_read_file(file, SAI_EVIDENCE_MAX, &buf, &len, &err) != 0)
        return sai_cli_fail(&err, "inspect-evidence");   /* the message names the file */
    int rc;
    char *json = NULL;
    if (ratls != NULL) {
        rc = sai_attest_inspect_ratls_json(&json, buf, len, &err);
        free(buf);
        if (rc != 0)
            return sai_cli_fail(&err, "inspect-evidence: %s", file);
        puts(json);
        free(json);
        return 0;
    }
    if (report != NULL || quote != NULL) {
        ev.tee = report != NULL ? SAI_TEE_SEV_SNP
                                : (len >= 8 && buf[4] == 0x81) ? SAI_TEE_TDX : SAI_TEE_SGX;
        if (report != NULL) {
            ev.report = buf;
            ev.report_len = len;
        } else {
            ev.quote = buf;
            ev.quote_len = len;
        }
        buf = NULL;
        rc = 0;
    } else {
        rc = sai_evidence_parse(&ev, (const char *)buf, len, &err);
    }
    free(buf);
    if (rc != 0)
        return sai_cli_fail(&err, "inspect-evidence: %s", file);
    if (want != SAI_TEE_NONE && ev.tee != want) {
        rc = sai_error_set(&err, SAI_EFORMAT, "--tee %s but %s is %s evidence", tee, file,
                           sai_tee_kind_name(ev.tee));
        sai_evidence_clear(&ev);
        return sai_cli_fail(&err, "inspect-evidence");
    }
    rc = sai_attest_inspect_json(&json, &ev, &err);
    sai_evidence_clear(&ev);
    if (rc != 0)
        return sai_cli_fail(&err, "inspect-evidence");
    puts(json);
    free(json);
    return 0;
}

const sai_cmd_t sai_cmd_inspect_evidence = {
    "inspect-evidence", "print the parsed fields of evidence as JSON (no verification)", usage, run
};
