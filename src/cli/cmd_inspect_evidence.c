/*
 * cmd_inspect_evidence.c — `secureai inspect-evidence`: print the parsed
 * fields of an evidence envelope or a raw SNP report as JSON, without
 * verifying anything.
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
    "       secureai inspect-evidence --report R.bin\n"
    "\n"
    "Print the parsed fields (measurement, report data, chip id, TCB, policy\n"
    "bits, ...) as JSON. Nothing is verified: use verify-evidence for that.\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "report", required_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *report = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': report = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default:  return sai_cli_usage_error("inspect-evidence: bad option");
        }
    }
    const char *path = optind < argc ? argv[optind++] : NULL;
    if ((path == NULL) == (report == NULL) || optind != argc)
        return sai_cli_usage_error("inspect-evidence: give EVIDENCE.json or --report R.bin");
    sai_error err;
    sai_error_clear(&err);
    uint8_t *buf = NULL;
    size_t len = 0;
    sai_evidence ev;
    memset(&ev, 0, sizeof ev);
    if (sai_read_file(report ? report : path, SAI_EVIDENCE_MAX, &buf, &len, &err) != 0)
        return sai_cli_fail(&err, "inspect-evidence: %s", report ? report : path);
    int rc;
    if (report != NULL) {
        ev.tee = SAI_TEE_SEV_SNP;
        ev.report = buf;
        ev.report_len = len;
        buf = NULL;
        rc = 0;
    } else {
        rc = sai_evidence_parse(&ev, (const char *)buf, len, &err);
    }
    free(buf);
    if (rc != 0)
        return sai_cli_fail(&err, "inspect-evidence");
    char *json = NULL;
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
