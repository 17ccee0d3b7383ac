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
#include "secureai/util.h"

static const char usage[] =
    "usage: secureai inspect-evidence EVIDENCE.json\n"
    "       secureai inspect-evidence --report R.bin        (SEV-SNP report)\n"
    "       secureai inspect-evidence --quote Q.dat         (TDX v4/v5, SGX v3 quote)\n"
    "       secureai inspect-evidence --ratls CERT.pem      (RA-TLS certificate)\n"
    "\n"
    "Print the parsed fields as JSON: SNP measurement, report data, chip id,\n"
    "TCB, policy bits; TDX MRTD, RTMR0-3, MRSEAM, TD attributes (debug),\n"
    "TEE_TCB_SVN; SGX MRENCLAVE, MRSIGNER, ISV prod id/SVN, attributes\n"
    "(debug); the QE report; RA-TLS: each embedded quote and whether it binds\n"
    "the certificate's key. Nothing is verified: use verify-evidence for that.\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "report", required_argument, NULL, 'r' },
        { "quote", required_argument, NULL, 'q' },
        { "ratls", required_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *report = NULL, *quote = NULL, *ratls = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:q:T:h", opts, NULL)) != -1) {
        switch (c) {
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
    const char *file = path ? path : report ? report : quote ? quote : ratls;
    sai_error err;
    sai_error_clear(&err);
    uint8_t *buf = NULL;
    size_t len = 0;
    sai_evidence ev;
    memset(&ev, 0, sizeof ev);
    if (sai_read_file(file, SAI_EVIDENCE_MAX, &buf, &len, &err) != 0)
        return sai_cli_fail(&err, "inspect-evidence: %s", file);
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
        return sai_cli_fail(&err, "inspect-evidence");
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
