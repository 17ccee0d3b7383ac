/*
 * tee_glue.c — the pipeline's contact with src/attest for `secureai
 * verify`: the evidence carried in a provenance statement is checked by the
 * attestation module's verifier (chain to the pinned AMD root or a sim
 * platform ARK, report signature, policy), which returns the report data
 * and launch measurement the provenance checks then compare.
 *
 * Simulated evidence counts only when the verify policy says
 * allow_simulated: true, whether or not it names an attestation policy (which
 * must allow it too): `allow_simulated: false` next to an attestation_policy
 * that allows sim used to be ignored.
 */
#include "pipeline/pipeline_internal.h"
#include "util/weaken.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/attest.h"
#include "secureai/tee.h"

typedef struct glue {
    sai_attest_policy_t *policy;
    bool               allow_simulated;
    int64_t            at;                 /* 0 = now */
} glue;

static int verify(void *ctx, const uint8_t *evidence, size_t len, uint8_t rd[static 64],
                  uint8_t meas[static SAI_MEASUREMENT_LEN], char *tee, size_t tee_len, sai_error_t *err)
{
    const glue *g = ctx;
    sai_attest_result_t res;
    memset(&res, 0, sizeof res);
    int rc = sai_attest_verify_evidence((const char *)evidence, len, g->policy, NULL, g->at, &res, err);
    if (rc)
        return rc;
    if ((res.is_simulated || res.tee == SAI_TEE_SIM) && !g->allow_simulated && !SAI_WEAKENED("allow_simulated"))
        return sai_error_set(err, SAI_EPOLICY, "allow_simulated: the evidence is simulated and the verify policy "
                             "does not say allow_simulated: true");
    if (res.measurement_len != SAI_MEASUREMENT_LEN)
        return sai_error_set(err, SAI_EFORMAT, "the evidence carries a %zu-byte measurement, not 48",
                             res.measurement_len);
    memcpy(rd, res.report_data, 64);
    memcpy(meas, res.measurement, SAI_MEASUREMENT_LEN);
    const char *name = sai_tee_kind_name(res.tee);
    snprintf(tee, tee_len, "%s", name ? name : "?");
    return 0;
}

int sai_pipeline_verifier_new(sai_evidence_verifier_t *v, const char *policy_path, bool allow_simulated,
                           sai_error_t *err)
{
    memset(v, 0, sizeof *v);
    sai_attest_policy_t *p = NULL;
    int rc;
    if (policy_path != NULL) {
        rc = sai_attest_policy_load_file(&p, policy_path, err);
    } else {
        /* The measurement and dataset are checked by the provenance
         * verifier; here: which TEE kinds count. Simulated evidence only
         * when the verify policy says so, from this machine's sim platform
         * (the attestation module pins its ARK when no sim_roots are given). */
        char yaml[160];
        snprintf(yaml, sizeof yaml, "allowed_tee: [sev-snp, tdx, sgx%s]\nallow_simulated: %s\n",
                 allow_simulated ? ", sim" : "", allow_simulated ? "true" : "false");
        rc = sai_attest_policy_load(&p, yaml, strlen(yaml), err);
    }
    if (rc)
        return sai_error_prefix(err, "attestation policy");
    glue *g = calloc(1, sizeof *g);
    if (g == NULL) {
        sai_attest_policy_free(p);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    g->policy = p;
    g->allow_simulated = allow_simulated;
    v->format = NULL;   /* the envelope is self-describing */
    v->verify = verify;
    v->ctx = g;
    return 0;
}

void sai_pipeline_verifier_set_time(sai_evidence_verifier_t *v, int64_t at)
{
    if (v != NULL && v->ctx != NULL)
        ((glue *)v->ctx)->at = at;
}

void sai_pipeline_verifier_release(sai_evidence_verifier_t *v)
{
    if (v != NULL) {
        glue *g = v->ctx;
        if (g != NULL)
            sai_attest_policy_free(g->policy);
        free(g);
        memset(v, 0, sizeof *v);
    }
}
