/*
 * pipeline_internal.h — shared by the files of src/pipeline only (not
 * public): the HELLO limits and the stages runner used by the enclave and
 * the plain baseline.
 */
#ifndef SAI_PIPELINE_INTERNAL_H
#define SAI_PIPELINE_INTERNAL_H

#include "secureai/pipeline.h"

/* kbs.ca travels to the enclave inside HELLO (one 64 KiB message). */
#define SAI_PIPELINE_CA_MAX (32 * 1024)

/* ---- the typed host<->enclave protocol (proto.c) ---------------------- */
#include <cjson/cJSON.h>

typedef struct sai_proto_hello_t {
    char  *spec;          /* the canonical spec (measured; its SHA-256 is HOST_DATA) */
    size_t spec_len;
    char  *kbs_url;       /* where the KBS is (reachability only: trust comes from the spec) */
    char  *kbs_ca;        /* kbs.ca's PEM, or NULL; must hash to the measured kbs.ca_sha256 */
    size_t kbs_ca_len;
    int    threads;       /* engine threads, 0 = all, at most SAI_NN_THREADS_MAX */
} sai_proto_hello_t;

int  sai_pipeline__proto_hello_encode(const sai_proto_hello_t *h, char **out, size_t *len, sai_error_t *err) SAI_MUST_CHECK;
int  sai_pipeline__proto_hello_decode(sai_proto_hello_t *h, const uint8_t *d, size_t n, sai_error_t *err) SAI_MUST_CHECK;
void sai_pipeline__proto_hello_clear(sai_proto_hello_t *h);

/* READY carries the sandbox status; returns the length written, -1 if cap is too small. */
int  sai_pipeline__proto_ready_encode(const sai_sandbox_status_t *st, char *out, size_t cap);
int  sai_pipeline__proto_ready_decode(sai_sandbox_status_t *st, const uint8_t *d, size_t n, sai_error_t *err) SAI_MUST_CHECK;

typedef struct sai_proto_shards_t {
    uint8_t *manifest;    /* the manifest's bytes (MACed: believed only after the MAC) */
    size_t   manifest_len;
    uint8_t  mac[32];
    char   **names;       /* n shard names, in descriptor order */
    size_t   n;
} sai_proto_shards_t;

int  sai_pipeline__proto_shards_encode(const sai_proto_shards_t *s, char **out, size_t *len, sai_error_t *err) SAI_MUST_CHECK;
/* nfds: descriptors that came with it (n shards, then the model's file). */
int  sai_pipeline__proto_shards_decode(sai_proto_shards_t *s, const uint8_t *d, size_t n, size_t nfds,
                             sai_error_t *err) SAI_MUST_CHECK;
void sai_pipeline__proto_shards_clear(sai_proto_shards_t *s);

typedef enum sai_proto_out_t { SAI_PROTO_OUT_MODEL = 1, SAI_PROTO_OUT_PROVENANCE = 2 } sai_proto_out_t;
#define SAI_PROTO_OUTPUT_END_MAX 41

typedef struct sai_proto_output_t {
    sai_proto_out_t  id;
    bool           end;          /* OUTPUT_END */
    const uint8_t *data;         /* OUTPUT: borrowed from the packet */
    size_t         len;
    uint8_t        sha256[32];   /* OUTPUT_END */
    uint64_t       sealed_len;   /* OUTPUT_END of the model: the file's length */
} sai_proto_output_t;

size_t sai_pipeline__proto_output_end_encode(uint8_t out[SAI_PROTO_OUTPUT_END_MAX], sai_proto_out_t id,
                                   const uint8_t sha256[32], uint64_t sealed_len);
int  sai_pipeline__proto_output_decode(sai_proto_output_t *o, bool end, const uint8_t *d, size_t n,
                             sai_error_t *err) SAI_MUST_CHECK;
/* DONE: a strict JSON object (*out owned by the caller). */
int  sai_pipeline__proto_done_decode(cJSON **out, const uint8_t *d, size_t n, sai_error_t *err) SAI_MUST_CHECK;

/* ---- membership of a distributed job (dist_glue.c) ---------------------- */
#include "secureai/dist.h"

/* DIST (H->E, after SHARD_FDS, only when the measured spec has dist.workers
 * >= 2): {"rank":r,"world":w} + two descriptors, the stream to the next
 * worker then the one from the previous. The decoder holds the host to the
 * measured spec: world must equal `workers` (dist.workers) and rank < world,
 * with exactly two descriptors; the host chooses only which rank this is. */
typedef struct sai_proto_dist_t {
    uint32_t rank, world;
} sai_proto_dist_t;
int sai_pipeline__proto_dist_encode(const sai_proto_dist_t *d, char *out, size_t cap);
int sai_pipeline__proto_dist_decode(sai_proto_dist_t *d, const uint8_t *b, size_t n, size_t nfds,
                                    unsigned workers, sai_error_t *err) SAI_MUST_CHECK;

struct sai_attest_policy_t;
struct sai_tee_t;
typedef struct sai_pipeline_dist_member_t {
    const struct sai_attest_policy_t *policy;     /* roots and TEE kinds peers must satisfy */
    struct sai_tee_t *tee;                         /* this worker's TEE */
    uint8_t measurement[SAI_MEASUREMENT_LEN];   /* this worker's launch, which peers must share */
    uint8_t spec_hash[32];                      /* its HOST_DATA */
} sai_pipeline_dist_member_t;

/* job id = SHA-256("secureai/dist/v1 job" || spec hash)[0..16): another spec is another job. */
int sai_pipeline__dist_job_id(uint8_t job[SAI_DIST_JOB_ID_LEN], const uint8_t spec_hash[32],
                             sai_error_t *err) SAI_MUST_CHECK;
/* sai_dist_evidence_fn / sai_dist_verify_fn over a sai_pipeline_dist_member_t. */
int sai_pipeline__dist_get_evidence(void *ctx, const uint8_t report_data[64], uint8_t **ev,
                                   size_t *len, sai_error_t *err);
int sai_pipeline__dist_verify_peer(void *ctx, uint32_t peer, const uint8_t *evidence, size_t len,
                                  const uint8_t report_data[64], sai_error_t *err);

/* ---- stages (stages.c): shared by the enclave and the plain baseline ---- */
#include "secureai/nn.h"

typedef struct sai_stage_file_t {
    const char      *name;     /* plaintext file name, e.g. "train-images-idx3-ubyte.gz" */
    sai_nn_source_t  src;      /* random-access plaintext */
} sai_stage_file_t;

typedef void (*sai_stage_progress_fn)(void *ctx, const char *json_line);

typedef struct sai_stage_result_t {
    double test_accuracy, test_loss, train_loss, train_accuracy;
    double train_images_per_s, infer_images_per_s;
    double ingest_s, train_s, evaluate_s, infer_s;
    sai_train_usage_t train_usage;   /* getrusage over the train stage */
    uint64_t steps;
    int    train_n, test_n;
    uint8_t *ckpt;             /* plaintext checkpoint (wipe + free) */
    size_t   ckpt_len;
    /* With train + evaluate: the test set's accuracy and loss at the end of
     * every epoch (the last one is the evaluate stage's), a JSON array
     * [{"epoch":1,"step":N,"test_accuracy":a,"test_loss":l},...] (malloc'ed;
     * it goes into the statement's signed metrics as "epochs"). */
    char    *epochs_json;
    double   epoch_eval_s;     /* time of the extra per-epoch evaluations (in evaluate_s) */
} sai_stage_result_t;

/* ingest + preprocess + train + evaluate + infer as the spec says. */
int sai_pipeline__stages(const sai_pipeline_spec_t *s, const sai_stage_file_t *files, size_t n,
                         sai_stage_progress_fn progress, void *ctx, sai_stage_result_t *res,
                         sai_error_t *err) SAI_MUST_CHECK;
void sai_pipeline__stage_result_clear(sai_stage_result_t *r);

/* One split (train or test) of the spec's dataset, decoded as the stages
 * decode it (formats, limits, normalisation constants). */
int sai_pipeline__stage_load(const sai_pipeline_spec_t *s, const sai_stage_file_t *files, size_t n, bool train,
                             sai_nn_dataset_t *ds, sai_error_t *err) SAI_MUST_CHECK;

/* ---- framework mode (framework.c, enclave_framework.c) ------------------- */
#include <sys/types.h>
/* The runtime the enclave hands the interpreter, in hashing order. */
#define SAI_FW_RUNTIME_N 5
extern const char *const sai_pipeline__fw_runtime_names[SAI_FW_RUNTIME_N];
/* Where file i is on this machine (fixed at build time). */
int sai_pipeline__fw_runtime_path(size_t i, char *out, size_t cap, sai_error_t *err) SAI_MUST_CHECK;
int sai_pipeline__fw_runtime_hash(uint8_t out[32], const uint8_t *const *bufs, const size_t *lens,
                                  sai_error_t *err) SAI_MUST_CHECK;

/* The interpreter child of the enclave: a stream socket to it and its pid. */
typedef struct sai_fw_t {
    int   sock;
    pid_t pid;
    char  sandbox[200];   /* what the child reported of its sandbox (JSON) */
} sai_fw_t;

/* Before the enclave's own sandbox (it forks and execs): check the
 * interpreter and the runtime against the measured spec, start the
 * interpreter on the measured bootstrap, hand it the runtime's and the
 * script's bytes, and wait until it reports its versions (checked against
 * the spec) and its sandbox (the enclave's, plus no network). No data and
 * no key exist yet. */
int  sai_pipeline__fw_start(sai_fw_t *fw, const sai_pipeline_spec_t *s, const char *canon, size_t canon_len,
                            int threads, sai_error_t *err) SAI_MUST_CHECK;
/* In place of the stages: decode the splits, hand them to the script, run
 * it, and collect what it saved through secureai.torch.save (res->ckpt,
 * plaintext: the caller seals and wipes it) and reported. */
int  sai_pipeline__fw_train(sai_fw_t *fw, const sai_pipeline_spec_t *s, const sai_stage_file_t *files, size_t n,
                            sai_stage_progress_fn progress, void *ctx, sai_stage_result_t *res,
                            sai_error_t *err) SAI_MUST_CHECK;
/* fw_start with the spec's canonical form and the engine's thread setting. */
int  sai_pipeline__fw_start_for(sai_fw_t *fw, const sai_pipeline_spec_t *s, sai_error_t *err) SAI_MUST_CHECK;
void sai_pipeline__fw_stop(sai_fw_t *fw);

/* ---- confidential-VM mode (cvm.c) ---------------------------------------- */
#include <sys/types.h>
#include "secureai/tee.h"

/* The enclave's evidence source in a confidential VM: an attester process
 * forked before the sandbox, holding the configfs-tsm backend. */
typedef struct sai_cvm_attester_t {
    int   fd;
    pid_t pid;
} sai_cvm_attester_t;

/* Open the guest's TEE (kind sev-snp / tdx; tee_root: the backends' path
 * prefix, NULL = the real one) and fork the attester; close_fd (or -1) is
 * closed in the attester. */
int  sai_pipeline__cvm_attester_start(sai_cvm_attester_t *a, sai_tee_kind_t kind, const char *tee_root, int close_fd,
                                      sai_error_t *err) SAI_MUST_CHECK;
void sai_pipeline__cvm_attester_stop(sai_cvm_attester_t *a);
int  sai_pipeline__cvm_evidence(sai_cvm_attester_t *a, const uint8_t rd[static 64], char **json, size_t *len,
                                sai_error_t *err) SAI_MUST_CHECK;
/* A fresh report over random report data: checks that it carries that data
 * and that HOST_DATA (SNP) / MRCONFIGID (TDX: the hash || 16 zero bytes) is
 * spec_hash; returns MEASUREMENT / MRTD and whether the evidence does not
 * chain to AMD's roots (an emulation's test root). */
int  sai_pipeline__cvm_launch_claims(sai_cvm_attester_t *a, sai_tee_kind_t kind, const uint8_t spec_hash[static 32],
                                     uint8_t measurement[static SAI_MEASUREMENT_LEN], bool *emulated,
                                     sai_error_t *err) SAI_MUST_CHECK;
/* The host half: start `secureai run --enclave-fd 3 --cvm [--tee-root R]`
 * (this program) with chan_fd as its descriptor 3. */
int  sai_pipeline__cvm_spawn(int chan_fd, const char *tee_root, pid_t *pid, sai_error_t *err) SAI_MUST_CHECK;
/* Wait at most timeout_ms (-1: forever) for it to exit. */
int  sai_pipeline__cvm_wait(pid_t pid, int timeout_ms, int *status, sai_error_t *err) SAI_MUST_CHECK;

#endif
