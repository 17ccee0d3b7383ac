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
