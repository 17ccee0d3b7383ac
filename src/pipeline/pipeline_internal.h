/*
 * pipeline_internal.h — adapters between the pipeline and the modules it
 * joins (not public). Each one is small and says which request to the
 * owning module would make it unnecessary.
 */
#ifndef SAI_PIPELINE_INTERNAL_H
#define SAI_PIPELINE_INTERNAL_H

#include "secureai/pipeline.h"

/* kbs.ca travels to the enclave inside HELLO (one 64 KiB message). */
#define SAI_PIPELINE_CA_MAX (32 * 1024)

/* Seal a buffer in memory in the sealed-file format (src/seal's building
 * blocks; the enclave cannot create files). *out is malloc'ed.
 * Request to seal: a public sai_seal_mem / fd-based writer. */
int sai_pipeline__seal_mem(uint8_t **out, size_t *out_len, const uint8_t key[static 32],
                           const char *key_id, const void *pt, size_t len,
                           sai_error *err) SAI_MUST_CHECK;

/* Offline evidence verifier for `secureai verify` over src/attest.
 * policy_path: an attestation policy (YAML) file; NULL builds one that
 * accepts every TEE kind, and simulated evidence (from the local sim
 * platform's ARK) only when allow_simulated. Release with
 * sai_pipeline__verifier_release. */
int  sai_pipeline__verifier(sai_evidence_verifier *v, const char *policy_path,
                            bool allow_simulated, sai_error *err) SAI_MUST_CHECK;
void sai_pipeline__verifier_release(sai_evidence_verifier *v);

#endif

/* ---- stages (stages.c): shared by the enclave and the plain baseline ---- */
#include "secureai/nn.h"

typedef struct sai_stage_file {
    const char      *name;     /* plaintext file name, e.g. "train-images-idx3-ubyte.gz" */
    sai_nn_source_t  src;      /* random-access plaintext */
} sai_stage_file;

typedef void (*sai_stage_progress_fn)(void *ctx, const char *json_line);

typedef struct sai_stage_result {
    double test_accuracy, test_loss, train_loss, train_accuracy;
    double train_images_per_s, infer_images_per_s;
    double ingest_s, train_s, evaluate_s, infer_s;
    uint64_t steps;
    int    train_n, test_n;
    uint8_t *ckpt;             /* plaintext checkpoint (wipe + free) */
    size_t   ckpt_len;
} sai_stage_result;

/* ingest + preprocess + train + evaluate + infer as the spec says. */
int sai_pipeline__stages(const sai_pipeline_spec *s, const sai_stage_file *files, size_t n,
                         sai_stage_progress_fn progress, void *ctx, sai_stage_result *res,
                         sai_error *err) SAI_MUST_CHECK;
void sai_pipeline__stage_result_clear(sai_stage_result *r);
