/*
 * tee_glue.c — the pipeline's two contacts with src/tee and src/attest:
 * producing evidence as the launcher of a `sim` enclave, and verifying
 * evidence offline for `secureai verify`.
 */
#include "pipeline/pipeline_internal.h"

#include <string.h>

int sai_pipeline__tee_evidence(const char *tee, const uint8_t measurement[static 48],
                               const uint8_t report_data[static 64], char **json, size_t *len,
                               sai_error *err)
{
    (void)measurement;
    (void)report_data;
    *json = NULL;
    *len = 0;
    return sai_error_set(err, SAI_EUNSUPP, "TEE '%s': no evidence backend in this build", tee);
}

int sai_pipeline__verifier(sai_evidence_verifier *v, const char *policy_path, sai_error *err)
{
    (void)policy_path;
    memset(v, 0, sizeof *v);
    return sai_error_set(err, SAI_EUNSUPP, "no evidence verifier in this build");
}

void sai_pipeline__verifier_release(sai_evidence_verifier *v)
{
    memset(v, 0, sizeof *v);
}
