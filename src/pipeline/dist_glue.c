/*
 * dist_glue.c — membership by attestation for a distributed job
 * (docs/distributed.md, "Membership"): the callbacks src/dist calls during
 * each ring handshake.
 *
 *   get_evidence  this worker's evidence straight from its TEE, over the
 *                 report data that binds it to this handshake (job, both
 *                 ranks, world, fresh ephemeral key);
 *   verify_peer   the peer's evidence, verified by src/attest against the
 *                 job's attestation policy (chain to an accepted root, TEE
 *                 kind) and the handshake's report data, then held to the
 *                 verifier's own launch: the same launch measurement (the
 *                 same enclave image, spec and sandbox policy) and the same
 *                 HOST_DATA (the same canonical spec). A worker that runs
 *                 other code, or this code on another spec, cannot join.
 *
 * The group secret (the other half of the key schedule) comes from the KBS
 * under the same policy, so a worker the KBS refuses cannot even finish the
 * key confirmation.
 */
#include "pipeline/pipeline_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/attest.h"
#include "secureai/tee.h"
#include "secureai/util.h"

int sai_pipeline__dist_job_id(uint8_t job[SAI_DIST_JOB_ID_LEN], const uint8_t spec_hash[32],
                             sai_error_t *err)
{
    static const char label[] = "secureai/dist/v1 job";
    uint8_t buf[sizeof label - 1 + 32], h[32];
    memcpy(buf, label, sizeof label - 1);
    memcpy(buf + sizeof label - 1, spec_hash, 32);
    int rc = sai_hash(SAI_SHA256, h, buf, sizeof buf, err);
    if (rc == 0)
        memcpy(job, h, SAI_DIST_JOB_ID_LEN);
    return rc;
}

int sai_pipeline__dist_get_evidence(void *ctx, const uint8_t report_data[64], uint8_t **ev,
                                   size_t *len, sai_error_t *err)
{
    sai_pipeline_dist_member_t *m = ctx;
    char *json = NULL;
    int rc = sai_tee_get_evidence(m->tee, report_data, &json, len, err);
    if (rc)
        return sai_error_prefix(err, "TEE evidence for the ring handshake");
    *ev = (uint8_t *)json;
    return 0;
}

int sai_pipeline__dist_verify_peer(void *ctx, uint32_t peer, const uint8_t *evidence, size_t len,
                                  const uint8_t report_data[64], sai_error_t *err)
{
    const sai_pipeline_dist_member_t *m = ctx;
    sai_attest_result_t res;
    sai_provenance_evidence_info_t info;
    char got[97], want[97];
    memset(&res, 0, sizeof res);
    int rc = sai_attest_verify_evidence((const char *)evidence, len, m->policy, report_data, 0,
                                        &res, err);
    if (rc)
        return sai_error_prefix(err, "worker %u's evidence", peer);
    if (m->has_root && !sai_ct_equal(res.signer_root_fp, m->root_fp, 32)) {
        sai_hex_encode(got, res.signer_root_fp, 32);
        sai_hex_encode(want, m->root_fp, 32);
        return sai_error_set(err, SAI_EPOLICY,
                             "worker %u's evidence chains to another root (%.16s..., this worker's platform "
                             "is %.16s...): not the platform that launched this worker, refused", peer, got,
                             want);
    }
    if (res.measurement_len != SAI_MEASUREMENT_LEN ||
        !sai_ct_equal(res.measurement, m->measurement, SAI_MEASUREMENT_LEN)) {
        sai_hex_encode(got, res.measurement, res.measurement_len <= 48 ? res.measurement_len : 48);
        sai_hex_encode(want, m->measurement, 48);
        return sai_error_set(err, SAI_EPOLICY,
                             "worker %u runs another launch measurement (%.16s..., this worker's is "
                             "%.16s...): not the same enclave image and spec, refused", peer, got, want);
    }
    if ((rc = sai_provenance_evidence_info_get(&info, evidence, len, err)))
        return sai_error_prefix(err, "worker %u's evidence", peer);
    if (!info.has_host_data || !sai_ct_equal(info.host_data, m->spec_hash, 32))
        return sai_error_set(err, SAI_EPOLICY,
                             "worker %u's HOST_DATA is not this job's spec hash: another spec, refused",
                             peer);
    return 0;
}

int sai_pipeline__dist_peer_policy(sai_pipeline_dist_member_t *m, sai_attest_policy_t **pol, sai_error_t *err)
{
    uint8_t rd[64];
    char *json = NULL, hex[65], yaml[256];
    size_t len = 0;
    sai_attest_result_t res;
    *pol = NULL;
    int rc = sai_random_bytes(rd, sizeof rd, err);
    if (rc == 0 && (rc = sai_tee_get_evidence(m->tee, rd, &json, &len, err)))
        sai_error_prefix(err, "this worker's own evidence");
    if (rc == 0 && (rc = sai_attest_evidence_root(json, len, 0, &res, err)))
        sai_error_prefix(err, "this worker's own evidence");
    if (rc)
        goto out;
    /* Our own TEE, fresh, of our own launch: anything else is a broken TEE
     * connection, not a policy to adopt. */
    if (!sai_ct_equal(res.report_data, rd, 64) || res.measurement_len != SAI_MEASUREMENT_LEN ||
        !sai_ct_equal(res.measurement, m->measurement, SAI_MEASUREMENT_LEN)) {
        rc = sai_error_set(err, SAI_EAUTH, "this worker's own evidence is not a fresh report of its launch");
        goto out;
    }
    if (res.tee != SAI_TEE_SIM) {
        rc = sai_error_set(err, SAI_EUNSUPP, "a distributed job on %s: the peers' policy is built for sim "
                           "platforms only so far (docs/distributed.md)", sai_tee_kind_name(res.tee));
        goto out;
    }
    sai_hex_encode(hex, res.signer_root_fp, 32);
    snprintf(yaml, sizeof yaml, "allowed_tee: [sim]\nallow_simulated: true\nsim_roots: [%s]\n", hex);
    if ((rc = sai_attest_policy_load(pol, yaml, strlen(yaml), err)))
        goto out;
    memcpy(m->root_fp, res.signer_root_fp, 32);
    m->has_root = true;
out:
    free(json);
    return rc;
}
