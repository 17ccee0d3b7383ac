/*
 * cmd_verify.c — `secureai verify MODEL --provenance STATEMENT --policy POLICY`:
 * offline check of a pipeline's provenance (sai_provenance_verify_files, the
 * code path `secureai report --policy` uses too). Exit 0 only when
 * everything holds; otherwise one line saying what did not.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "secureai/attest.h"
#include "secureai/pipeline.h"
#include "secureai/util.h"

static const char usage[] =
    "usage: secureai verify MODEL --provenance STATEMENT --policy POLICY\n"
    "                       [--max-age DURATION] [--at TIME]\n"
    "\n"
    "Check that MODEL (a sealed model file) is what the provenance STATEMENT\n"
    "says: the attestation evidence and its certificate chain, that the key\n"
    "which signed the statement is the one bound in the evidence, the\n"
    "signature, that the statement's evidence format and spec hash are the\n"
    "evidence's own (spec_sha256 = HOST_DATA), the model's SHA-256, and that\n"
    "the dataset identity and the launch measurement are the ones POLICY\n"
    "expects. Exit 0 only when all hold; otherwise one line naming the first\n"
    "check that failed. The envelope and the statement may not repeat a key.\n"
    "\n"
    "  --max-age DURATION  refuse a statement (or evidence) older than this:\n"
    "                      seconds or 90m, 24h, 7d (overrides the policy's)\n"
    "  --at TIME           verify as of this RFC 3339 time instead of now\n"
    "A statement dated more than 5 minutes in the future is always refused.\n"
    "\n"
    "POLICY is JSON (unknown keys are refused):\n"
    "  {\"measurement\": \"<96 hex>\",          launch measurement (secureai run --measure)\n"
    "   \"dataset_identity\": \"<64 hex>\",     SHA-256 of the sealed dataset's manifest\n"
    "   \"spec_sha256\": \"<64 hex>\",          optional\n"
    "   \"allow_simulated\": true,            accept sim evidence (needed even when an\n"
    "                                       attestation_policy allows sim)\n"
    "   \"allow_insecure_dev\": true,         accept sim evidence of an --insecure-dev run\n"
    "                                       (proves nothing; development only)\n"
    "   \"max_age\": \"7d\",                    optional freshness limit\n"
    "   \"attestation_policy\": \"FILE\"}       optional, relative to POLICY's directory\n";

static int run(int argc, char **argv)
{
    static const struct option opts[] = {{"provenance", required_argument, NULL, 'p'},
                                         {"policy", required_argument, NULL, 'P'},
                                         {"max-age", required_argument, NULL, 'a'},
                                         {"at", required_argument, NULL, 't'},
                                         {NULL, 0, NULL, 0}};
    const char *prov_path = NULL, *pol_path = NULL, *age_s = NULL, *at_s = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'p') prov_path = optarg;
        else if (c == 'P') pol_path = optarg;
        else if (c == 'a') age_s = optarg;
        else if (c == 't') at_s = optarg;
        else return sai_cli_usage_error("verify: unknown option");
    }
    if (optind != argc - 1 || prov_path == NULL || pol_path == NULL)
        return sai_cli_usage_error("verify: expected MODEL --provenance STATEMENT --policy POLICY");
    const char *model_path = argv[optind];
    sai_error_t err = {0};
    uint8_t *prov = NULL;
    size_t prov_len = 0;
    int ret = 1;
    int64_t max_age = 0, at = 0;
    sai_verify_policy_t pol;
    if (age_s != NULL && sai_parse_duration(&max_age, age_s, &err) != 0)
        return sai_cli_fail(&err, "verify: --max-age");
    if (at_s != NULL && sai_parse_rfc3339(&at, at_s, &err) != 0)
        return sai_cli_fail(&err, "verify: --at");
    if (sai_verify_policy_load(&pol, pol_path, &err) != 0)
        return sai_cli_fail(&err, "verify");
    if (sai_read_file(prov_path, SAI_PROVENANCE_MAX_BYTES, &prov, &prov_len, &err) != 0) {
        ret = sai_cli_fail(&err, "verify: statement %s", prov_path);
        goto out;
    }
    sai_provenance_result_t r;
    if (sai_provenance_verify_files(model_path, prov, prov_len, &pol, max_age, at, &r, &err) != 0) {
        fprintf(stderr, "secureai: verify: FAILED: %s\n", err.msg);
        goto out;
    }
    char mh[17];
    sai_hex_encode(mh, pol.measurement, 8);
    printf("verified: %s was produced by enclave %s... under TEE '%s' (evidence %s) at %s from the expected "
           "dataset; metrics %s\n", r.subject_name, mh, r.tee, r.evidence_format, r.time, r.metrics);
    if (r.dist_workers >= 2)
        printf("distributed job: %u workers, each one's evidence verified (same launch measurement and spec, bound "
               "to the job, its rank and the final weights)\n", r.dist_workers);
    if (r.insecure_dev)
        printf("%s\n", SAI_PROVENANCE_INSECURE_DEV_TEXT);
    else if (r.emulated)
        printf("note: %s\n", SAI_PROVENANCE_EMULATED_TEXT);
    else if (r.simulated)
        printf("note: %s\n", SAI_PROVENANCE_SIM_TEXT);
    if (strcmp(r.tee, "sim") == 0)
        printf("note: %s\n", sai_pipeline_tee_statement("sim"));
    if (strcmp(r.kbs_channel, "insecure-http") == 0)
        printf("WARNING: the enclave fetched its keys over plain HTTP (kbs.insecure_http): anyone on the "
               "network path could read or replace them\n");
    ret = 0;
out:
    free(prov);
    return ret;
}

const sai_cmd_t sai_cmd_verify = {"verify", "verify a model against its provenance statement and a policy", usage,
                                  run};
