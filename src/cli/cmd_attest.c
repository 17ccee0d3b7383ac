/*
 * cmd_attest.c — `secureai attest`: ask a TEE backend for evidence bound to
 * 64 bytes of report data and write the self-describing envelope.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "secureai/attest.h"
#include "secureai/dcap.h"
#include "secureai/tee.h"
#include "secureai/util.h"

static const char usage[] =
    "usage: secureai attest --tee sim|sev-snp|tdx|sgx --report-data HEX --out EVIDENCE.json\n"
    "                       [--platform-dir DIR] [--spec FILE] [--launch-policy FILE]\n"
    "                       [--collateral C.json] [--require-certs] [--privlevel N]\n"
    "                       [--root DIR] [--tsm-entry NAME]\n"
    "\n"
    "Collect TEE evidence whose report data is HEX (up to 64 bytes, zero-padded)\n"
    "and write it as a JSON evidence envelope ('-' = stdout).\n"
    "\n"
    "  --tee KIND           sim (simulated TEE), sev-snp / tdx (configfs-tsm,\n"
    "                       /dev/sev-guest), sgx (Gramine /dev/attestation)\n"
    "  --platform-dir DIR   sim: the platform (see 'secureai platform')\n"
    "  --spec, --launch-policy FILE\n"
    "                       sim without a launcher: files measured together with\n"
    "                       this binary into the launch measurement\n"
    "  --collateral C.json  tdx/sgx: embed this DCAP collateral (dcap-qvl JSON:\n"
    "                       TCB info, QE identity, CRLs) so the envelope verifies\n"
    "                       with a TCB status offline\n"
    "  --require-certs      sev-snp: fail when the platform returns no VCEK/VLEK\n"
    "                       certificate table (default: a warning; the evidence\n"
    "                       then verifies only with --vcek/--chain)\n"
    "  --privlevel N        sev-snp: request the report at VMPL N (default: the\n"
    "                       guest's floor, configfs-tsm privlevel_floor)\n"
    "  --root DIR           prefix for /sys and /dev paths (testing)\n"
    "  --tsm-entry NAME     use this configfs-tsm report entry (testing)\n"
    "\n"
    "Verify the result with 'secureai verify-evidence EVIDENCE.json'.\n";

/* Re-build the envelope with the collateral (checked to parse as DCAP
 * collateral first, so a wrong file fails here rather than at the verifier). */
static int add_collateral(char **json, size_t *len, const char *path, sai_error_t *err)
{
    uint8_t *c = NULL;
    size_t cl = 0;
    sai_dcap_collateral_t *dc = NULL;
    sai_evidence_t ev;
    int rc = sai_read_file(path, SAI_DCAP_COLLATERAL_MAX, &c, &cl, err);
    if (rc != 0)
        return rc;   /* the message names the file */
    if ((rc = sai_dcap_collateral_parse((const char *)c, cl, &dc, err)) != 0) {
        sai_error_prefix(err, "%s", path);
    } else if ((rc = sai_evidence_parse(&ev, *json, *len, err)) == 0) {
        char *text = malloc(cl + 1);
        char *out = NULL;
        size_t ol = 0;
        if (text == NULL) {
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        } else {
            memcpy(text, c, cl);
            text[cl] = '\0';
            sai_evidence_parts_t parts = {.tee = ev.tee, .simulated = ev.simulated,
                                        .report = ev.report, .report_len = ev.report_len,
                                        .quote = ev.quote, .quote_len = ev.quote_len,
                                        .certs_pem = ev.certs, .collateral_json = text};
            rc = sai_evidence_build(&out, &ol, &parts, err);
        }
        free(text);
        sai_evidence_clear(&ev);
        if (rc == 0) {
            free(*json);
            *json = out;
            *len = ol;
        }
    }
    sai_dcap_collateral_free(dc);
    free(c);
    return rc;
}

/* SEV-SNP evidence without the VCEK/VLEK certificate table verifies only
 * when the verifier is given the certificates (--vcek/--chain): say so on
 * stderr, or refuse with --require-certs. */
static int check_certs(const char *json, size_t len, bool require, sai_error_t *err)
{
    sai_evidence_t ev;
    int rc = sai_evidence_parse(&ev, json, len, err);
    if (rc != 0)
        return rc;
    bool none = ev.certs == NULL;
    sai_evidence_clear(&ev);
    if (!none)
        return 0;
    if (require)
        return sai_error_set(err, SAI_ENOTFOUND,
                             "the platform returned no VCEK/VLEK certificate table (configfs-tsm auxblob / SNP_GET_EXT_REPORT) and --require-certs is set");
    fprintf(stderr, "secureai: warning: the evidence carries no VCEK/VLEK certificate: the host supplied no certificate table; "
                    "verify it with 'secureai verify-evidence EVIDENCE.json --vcek VCEK.der --chain ASK_ARK.pem'\n");
    return 0;
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        { "tee", required_argument, NULL, 't' },
        { "report-data", required_argument, NULL, 'r' },
        { "out", required_argument, NULL, 'o' },
        { "platform-dir", required_argument, NULL, 'p' },
        { "spec", required_argument, NULL, 's' },
        { "launch-policy", required_argument, NULL, 'l' },
        { "root", required_argument, NULL, 'R' },
        { "collateral", required_argument, NULL, 'C' },
        { "tsm-entry", required_argument, NULL, 'E' },
        { "require-certs", no_argument, NULL, 'Q' },
        { "privlevel", required_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    sai_tee_opts_t o;
    memset(&o, 0, sizeof o);
    o.psp_fd = -1;
    const char *tee = NULL, *rdhex = NULL, *out = NULL, *collateral = NULL;
    bool require_certs = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:r:o:p:s:l:R:C:E:QV:h", opts, NULL)) != -1) {
        switch (c) {
        case 't': tee = optarg; break;
        case 'r': rdhex = optarg; break;
        case 'o': out = optarg; break;
        case 'p': o.platform_dir = optarg; break;
        case 's': o.spec_path = optarg; break;
        case 'l': o.policy_path = optarg; break;
        case 'R': o.root = optarg; break;
        case 'C': collateral = optarg; break;
        case 'E': o.tsm_entry = optarg; break;
        case 'Q': require_certs = true; break;
        case 'V':
            if (strlen(optarg) != 1 || optarg[0] < '0' || optarg[0] > '3')
                return sai_cli_usage_error("attest: --privlevel must be 0..3");
            o.privlevel = optarg[0] - '0';
            break;
        case 'h': fputs(usage, stdout); return 0;
        default:  return sai_cli_usage_error("attest: bad option");
        }
    }
    if (optind != argc)
        return sai_cli_usage_error("attest: unexpected argument '%s'", argv[optind]);
    if (tee == NULL || rdhex == NULL || out == NULL)
        return sai_cli_usage_error("attest: --tee, --report-data and --out are required");
    sai_tee_kind_t kind = sai_tee_kind_from_name(tee);
    if (kind == SAI_TEE_NONE)
        return sai_cli_usage_error("attest: unknown TEE '%s' (sim, sev-snp, tdx, sgx)", tee);
    if (collateral != NULL && kind != SAI_TEE_TDX && kind != SAI_TEE_SGX)
        return sai_cli_usage_error("attest: --collateral is for --tee tdx or sgx");
    if ((require_certs || o.privlevel != 0) && kind != SAI_TEE_SEV_SNP)
        return sai_cli_usage_error("attest: --require-certs and --privlevel are for --tee sev-snp");
    sai_error_t err;
    sai_error_clear(&err);
    uint8_t rd[64] = {0};
    size_t hl = strlen(rdhex);
    if (hl % 2 != 0 || hl > 128 || sai_hex_decode(rd, hl / 2, rdhex, &err) != 0)
        return sai_cli_usage_error("attest: --report-data must be at most 64 bytes of hex");
    sai_tee_t *t = NULL;
    if (sai_tee_open(&t, kind, &o, &err) != 0)
        return sai_cli_fail(&err, "attest");
    char *json = NULL;
    size_t len = 0;
    int rc = sai_tee_get_evidence(t, rd, &json, &len, &err);
    sai_tee_close(t);
    if (rc != 0)
        return sai_cli_fail(&err, "attest");
    if (collateral != NULL && (rc = add_collateral(&json, &len, collateral, &err)) != 0) {
        free(json);
        return sai_cli_fail(&err, "attest: --collateral");
    }
    if (kind == SAI_TEE_SEV_SNP && (rc = check_certs(json, len, require_certs, &err)) != 0) {
        free(json);
        return sai_cli_fail(&err, "attest");
    }
    if (strcmp(out, "-") == 0) {
        fwrite(json, 1, len, stdout);
        fputc('\n', stdout);
    } else if (sai_write_file_atomic(out, json, len, 0644, false, &err) != 0) {
        free(json);
        return sai_cli_fail(&err, "attest: %s", out);
    }
    if (kind == SAI_TEE_SIM)
        fprintf(stderr, "secureai: note: evidence is from the SIMULATED TEE (not hardware-backed)\n");
    free(json);
    return 0;
}

const sai_cmd_t sai_cmd_attest = { "attest", "collect TEE evidence bound to report data", usage, run };
