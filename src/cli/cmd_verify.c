/*
 * cmd_verify.c — `secureai verify MODEL --provenance STATEMENT --policy POLICY`:
 * offline check of a pipeline's provenance (sai_provenance_verify). Exit 0
 * only when everything holds; otherwise one line saying what did not.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "secureai/pipeline.h"
#include "secureai/util.h"

static const char usage[] =
    "usage: secureai verify MODEL --provenance STATEMENT --policy POLICY\n"
    "\n"
    "Check that MODEL (a sealed model file) is what the provenance STATEMENT\n"
    "says: the attestation evidence and its certificate chain, that the key\n"
    "which signed the statement is the one bound in the evidence, the\n"
    "signature, the model's SHA-256, and that the dataset identity and the\n"
    "launch measurement are the ones POLICY expects. Exit 0 only when all\n"
    "hold; otherwise one line naming the first check that failed.\n"
    "\n"
    "POLICY is JSON:\n"
    "  {\"measurement\": \"<96 hex>\",          launch measurement (secureai run --measure)\n"
    "   \"dataset_identity\": \"<64 hex>\",     SHA-256 of the sealed dataset's manifest\n"
    "   \"spec_sha256\": \"<64 hex>\",          optional\n"
    "   \"allow_simulated\": true,            accept sim evidence from this machine's platform\n"
    "   \"attestation_policy\": \"FILE\"}       optional, relative to POLICY's directory\n";

static int hexfield(cJSON *o, const char *k, uint8_t *out, size_t n, bool required, bool *present)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *present = false;
    if (v == NULL)
        return required ? -1 : 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) != 2 * n || sai_hex_decode(out, n, v->valuestring, NULL) != 0)
        return -1;
    *present = true;
    return 0;
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"provenance", required_argument, NULL, 'p'}, {"policy", required_argument, NULL, 'P'}, {NULL, 0, NULL, 0}};
    const char *prov_path = NULL, *pol_path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'p') prov_path = optarg;
        else if (c == 'P') pol_path = optarg;
        else return sai_cli_usage_error("verify: unknown option");
    }
    if (optind != argc - 1 || prov_path == NULL || pol_path == NULL)
        return sai_cli_usage_error("verify: expected MODEL --provenance STATEMENT --policy POLICY");
    const char *model_path = argv[optind];
    sai_error err = {0};
    uint8_t *model = NULL, *prov = NULL, *pol = NULL;
    size_t model_len = 0, prov_len = 0, pol_len = 0;
    int ret = 1;
    cJSON *pj = NULL;
    sai_evidence_verifier v = {0};
    if (sai_read_file(model_path, (size_t)3 << 30, &model, &model_len, &err) != 0) {
        ret = sai_cli_fail(&err, "verify: model %s", model_path);
        goto out;
    }
    if (sai_read_file(prov_path, SAI_PROVENANCE_MAX_BYTES, &prov, &prov_len, &err) != 0) {
        ret = sai_cli_fail(&err, "verify: statement %s", prov_path);
        goto out;
    }
    if (sai_read_file(pol_path, 1 << 20, &pol, &pol_len, &err) != 0) {
        ret = sai_cli_fail(&err, "verify: policy %s", pol_path);
        goto out;
    }
    pj = cJSON_ParseWithLength((const char *)pol, pol_len);
    uint8_t meas[48], ds[32], spec[32];
    bool has_m, has_d, has_s;
    if (!cJSON_IsObject(pj) || hexfield(pj, "measurement", meas, 48, true, &has_m) != 0 ||
        hexfield(pj, "dataset_identity", ds, 32, true, &has_d) != 0 ||
        hexfield(pj, "spec_sha256", spec, 32, false, &has_s) != 0) {
        fprintf(stderr, "secureai: verify: policy %s: needs \"measurement\" (96 hex) and "
                        "\"dataset_identity\" (64 hex)\n", pol_path);
        goto out;
    }
    char ap[4096] = "";
    cJSON *apj = cJSON_GetObjectItemCaseSensitive(pj, "attestation_policy");
    if (cJSON_IsString(apj)) {
        if (apj->valuestring[0] == '/') {
            snprintf(ap, sizeof ap, "%s", apj->valuestring);
        } else {
            char tmp[4096];
            snprintf(tmp, sizeof tmp, "%s", pol_path);
            snprintf(ap, sizeof ap, "%s/%s", dirname(tmp), apj->valuestring);
        }
    }
    bool allow_sim = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pj, "allow_simulated"));
    if (sai_pipeline_verifier_new(&v, ap[0] ? ap : NULL, allow_sim, &err) != 0) {
        ret = sai_cli_fail(&err, "verify");
        goto out;
    }
    sai_provenance_expect e = {model, model_len, ds, meas, has_s ? spec : NULL};
    sai_provenance_result r;
    if (sai_provenance_verify((const char *)prov, prov_len, &e, &v, &r, &err) != 0) {
        fprintf(stderr, "secureai: verify: FAILED: %s\n", err.msg);
        goto out;
    }
    char mh[17];
    sai_hex_encode(mh, meas, 8);
    printf("verified: %s was produced by enclave %s... under TEE '%s' at %s from the expected dataset; "
           "metrics %s\n", r.subject_name, mh, r.tee, r.time, r.metrics);
    if (strcmp(r.tee, "sim") == 0)
        printf("note: %s\n", sai_pipeline_tee_statement("sim"));
    ret = 0;
out:
    sai_pipeline_verifier_release(&v);
    cJSON_Delete(pj);
    free(model);
    free(prov);
    free(pol);
    return ret;
}

const sai_cmd_t sai_cmd_verify = {"verify", "verify a model against its provenance statement and a policy", usage,
                                  run};
