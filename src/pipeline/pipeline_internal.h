/*
 * pipeline_internal.h — adapters between the pipeline and the modules it
 * joins (not public). Each one is small and says which request to the
 * owning module would make it unnecessary.
 */
#ifndef SAI_PIPELINE_INTERNAL_H
#define SAI_PIPELINE_INTERNAL_H

#include "secureai/pipeline.h"

/* Seal a buffer in memory in the sealed-file format (src/seal's building
 * blocks; the enclave cannot create files). *out is malloc'ed.
 * Request to seal: a public sai_seal_mem / fd-based writer. */
int sai_pipeline__seal_mem(uint8_t **out, size_t *out_len, const uint8_t key[static 32],
                           const char *key_id, const void *pt, size_t len,
                           sai_error *err) SAI_MUST_CHECK;

/* Host side of the TEE: evidence JSON for (measurement, report data), as
 * the launcher of a `tee` enclave (sim: signed by the platform key).
 * *json malloc'ed. */
int sai_pipeline__tee_evidence(const char *tee, const uint8_t measurement[static 48],
                               const uint8_t report_data[static 64], char **json,
                               size_t *len, sai_error *err) SAI_MUST_CHECK;

/* Offline evidence verifier for `secureai verify` (policy: attestation
 * policy file, may be NULL for the built-in default). Release with
 * sai_pipeline__verifier_release. */
int  sai_pipeline__verifier(sai_evidence_verifier *v, const char *policy_path,
                            sai_error *err) SAI_MUST_CHECK;
void sai_pipeline__verifier_release(sai_evidence_verifier *v);

#endif
