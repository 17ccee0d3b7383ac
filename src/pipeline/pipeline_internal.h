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
/* DONE of a distributed job's worker other than 0 (it seals nothing):
 * {"dist":{"rank","world","weights_sha256"}}; worker 0's DONE carries the
 * same "dist" next to the usual members. */
int  sai_pipeline__proto_worker_done_decode(cJSON **out, const uint8_t *d, size_t n, sai_error_t *err) SAI_MUST_CHECK;

/* ---- membership of a distributed job (dist_glue.c) ---------------------- */
#include "secureai/dist.h"

/* DIST (H->E, after SHARD_FDS, only when the measured spec has dist.workers
 * >= 2): {"rank":r,"world":w} + two descriptors, the stream to the next
 * worker then the one from the previous; for the parameter-server mode
 * (dist.algorithm ps) {"rank","world","servers":S} + world-1 descriptors,
 * one stream per peer in rank order (0..world-1 without this rank). The
 * decoder holds the host to the measured spec: world must equal `workers`
 * (dist.workers), servers the measured `servers` (0: the ring, and no
 * "servers" member), rank < world, with exactly that many descriptors; the
 * host chooses only which rank this is. */
typedef struct sai_proto_dist_t {
    uint32_t rank, world;
    uint32_t servers;   /* ps: the measured dist.servers; 0: the ring */
    uint32_t ckpt;   /* worker 0 of a checkpointing job: a third descriptor, its
                        checkpoint file, SAI_PROTO_CKPT_NEW (write) or _RESUME
                        (holds the checkpoint to resume from) */
} sai_proto_dist_t;
#define SAI_PIPELINE_DIST_CKPT "checkpoint.sealed"   /* worker 0's, in outputs.dir */
#define SAI_PROTO_CKPT_NONE   0u
#define SAI_PROTO_CKPT_NEW    1u
#define SAI_PROTO_CKPT_RESUME 2u
int sai_pipeline__proto_dist_encode(const sai_proto_dist_t *d, char *out, size_t cap);
/* The number of streams DIST carries (without the checkpoint file). */
size_t sai_pipeline__proto_dist_streams(const sai_proto_dist_t *d);
int sai_pipeline__proto_dist_decode(sai_proto_dist_t *d, const uint8_t *b, size_t n, size_t nfds,
                                    unsigned workers, unsigned servers, sai_error_t *err) SAI_MUST_CHECK;

struct sai_attest_policy_t;
struct sai_tee_t;
typedef struct sai_pipeline_dist_member_t {
    const struct sai_attest_policy_t *policy;     /* roots and TEE kinds peers must satisfy */
    struct sai_tee_t *tee;                         /* this worker's TEE */
    uint8_t measurement[SAI_MEASUREMENT_LEN];   /* this worker's launch, which peers must share */
    uint8_t spec_hash[32];                      /* its HOST_DATA */
    bool    has_root;                           /* when set, peers' evidence must chain to */
    uint8_t root_fp[32];                        /* this anchor (SHA-256 of its ARK) */
} sai_pipeline_dist_member_t;

/* The peers' attestation policy inside an enclave (docs/distributed.md,
 * "Peers' attestation policy"): a peer must show evidence of the same TEE
 * kind chaining to the same root as this worker's own. Asks m->tee for a
 * report over fresh random report data, learns its root from the report's
 * own chain (sai_attest_evidence_root; the report is this enclave's own TEE's,
 * fresh, and of m->measurement), sets m->has_root / root_fp, and builds the
 * policy that accepts exactly that kind and root (*pol, caller frees).
 * Sim only for now (SAI_EUNSUPP otherwise). */
int sai_pipeline__dist_peer_policy(sai_pipeline_dist_member_t *m, struct sai_attest_policy_t **pol,
                                   sai_error_t *err) SAI_MUST_CHECK;

/* job id = SHA-256("secureai/dist/v1 job" || spec hash)[0..16): another spec is another job. */
int sai_pipeline__dist_job_id(uint8_t job[SAI_DIST_JOB_ID_LEN], const uint8_t spec_hash[32],
                             sai_error_t *err) SAI_MUST_CHECK;
/* sai_dist_evidence_fn / sai_dist_verify_fn over a sai_pipeline_dist_member_t. */
int sai_pipeline__dist_get_evidence(void *ctx, const uint8_t report_data[64], uint8_t **ev,
                                   size_t *len, sai_error_t *err);
int sai_pipeline__dist_verify_peer(void *ctx, uint32_t peer, const uint8_t *evidence, size_t len,
                                  const uint8_t report_data[64], sai_error_t *err);

/* ---- the host of one worker of a distributed job (host.c, host_dist.c) --- */
typedef struct sai_host_dist_t {
    uint32_t rank, world;
    int      listen_fd;     /* this worker's bound, listening socket (taken) */
    const char *next_host;  /* where the next worker listens */
    uint16_t next_port;
    int      timeout_ms;    /* forming the ring */
    bool     relayed;       /* under mpirun: no listener; streams are the MPI
                               relay's two (to next, from prev; taken) */
    int      streams[2];
    /* dist.algorithm ps: where every worker listens (world entries; hosts
     * NULL = 127.0.0.1), for the full mesh (sai_dist_tcp_mesh_connect:
     * dial every lower rank, accept every higher one). NULL: no mesh. */
    const char *const *peer_hosts;
    const uint16_t *peer_ports;
} sai_host_dist_t;
/* The host's half of the ps mesh: connected streams to every peer, in rank
 * order (world-1 of them into fds, *n set), listen_fd taken. */
int sai_pipeline__host_mesh_connect(const sai_host_dist_t *hd, int listen_fd, int *fds, size_t *n,
                                    sai_error_t *err) SAI_MUST_CHECK;
/* One worker's host: as sai_pipeline_host_run, plus the TCP ring and DIST
 * after SHARD_FDS; only worker 0 publishes outputs. */
int sai_pipeline__host_run_worker(const sai_pipeline_run_opts_t *o, const sai_host_dist_t *hd,
                                  sai_pipeline_run_result_t *res, sai_error_t *err) SAI_MUST_CHECK;
/* `secureai run --workers N`: bind N loopback listeners, fork N worker
 * hosts, wait for all; an error names every worker that failed. */
/* `mpirun -np N secureai run SPEC` (dist.transport: mpi): this process is
 * one worker's host; rank and world from the MPI relay plugin, whose two
 * streams go to the enclave in DIST. */
int sai_pipeline__host_run_mpi(const sai_pipeline_run_opts_t *o, sai_pipeline_run_result_t *res,
                               sai_error_t *err) SAI_MUST_CHECK;
int sai_pipeline__host_run_workers(const sai_pipeline_run_opts_t *o, unsigned workers,
                                   sai_pipeline_run_result_t *res, sai_error_t *err) SAI_MUST_CHECK;
/* `secureai run --rank R --peers T`: this machine's worker of a job of
 * `world` workers; listens on T's port, dials worker R+1 at T's name. */
int sai_pipeline__host_run_peer(const sai_pipeline_run_opts_t *o, unsigned world,
                                sai_pipeline_run_result_t *res, sai_error_t *err) SAI_MUST_CHECK;

/* ---- `secureai serve` (serve_enclave.c, serve_host.c) --------------------- */
struct sai_kbs_client_t;
struct sai_secret_t;
/* What the enclave runtime (enclave.c) lends the serving enclave once the
 * spec is known to be the measured one, the sandbox is up and READY sent. */
typedef struct sai_pipeline_enclave_ctx_t {
    sai_chan_t                *chan;
    const sai_pipeline_spec_t *spec;
    const char                *tee;
    const uint8_t             *measurement;   /* 48 bytes */
    const uint8_t             *spec_hash;     /* 32 bytes */
    struct sai_kbs_client_t  **kbs;           /* freed (and set NULL) once the key is in */
    void                      *ctx;           /* for the two calls below */
    int (*get_key)(void *ctx, const sai_kbs_resource_t *r, struct sai_secret_t **key, sai_error_t *err);
    int (*evidence)(void *ctx, const uint8_t rd[static 64], char **json, size_t *len, sai_error_t *err);
} sai_pipeline_enclave_ctx_t;

/* After READY, for a spec whose stages are [serve]: SERVE, the model key,
 * the model, the RA-TLS server; then one SERVE_CONN per connection until
 * the host hangs up. */
int sai_pipeline__serve_enclave(const sai_pipeline_enclave_ctx_t *c, sai_error_t *err) SAI_MUST_CHECK;

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
/* The same with the train stage's loop replaced by train(train_ctx, ...)
 * (sai_nn_train's contract; NULL = sai_nn_train): a distributed job's
 * data-parallel loop (enclave_dist.c). */
typedef int (*sai_stage_train_fn)(void *ctx, sai_nn_model_t *m, const sai_nn_dataset_t *ds,
                                  const sai_nn_train_cfg_t *cfg, sai_nn_train_result_t *res,
                                  sai_error_t *err);
int sai_pipeline__stages_ex(const sai_pipeline_spec_t *s, const sai_stage_file_t *files, size_t n,
                            sai_stage_progress_fn progress, void *ctx, sai_stage_train_fn train,
                            void *train_ctx, sai_stage_result_t *res, sai_error_t *err) SAI_MUST_CHECK;

/* ---- the enclave's side of a distributed job (enclave_dist.c) ------------ */
/* Worker 0's sealed checkpoints and the job's KBS counter (dist_ckpt.c). */
struct sai_kbs_client_t;
struct sai_kbs_attester_t;
typedef struct sai_pipeline_dist_ckpt_t {
    int      fd;                 /* the host's checkpoint file (two slots) */
    unsigned every;              /* epochs between checkpoints */
    size_t   payload_len;        /* every tensor and its momentum, as floats */
    uint8_t  key[32];            /* HKDF(model key, job id) */
    uint64_t gen;                /* the counter's value this enclave moved it to last */
    unsigned slot;               /* the slot written last */
    uint64_t resume_gen;         /* resume: the loaded checkpoint's counter value and epoch */
    uint32_t resume_epoch;       /* 0: a fresh start */
    uint8_t *payload;            /* resume: its tensors (wiped on free) */
    struct sai_kbs_client_t *kbs;              /* owned: moves the counter at each checkpoint */
    const struct sai_kbs_attester_t *att;      /* borrowed: the enclave's TEE */
    char     counter[200];       /* the counter's name (the group secret's resource) */
} sai_pipeline_dist_ckpt_t;
/* At the start of an attempt (before the enclave gives up the network):
 * on resume open the newest checkpoint in fd and require its counter value
 * to be the KBS counter's; then compare-and-increment the counter (named
 * counter, the group secret's resource); a resume re-seals the loaded
 * checkpoint under the new value. fd and kbs are taken (kbs moves the
 * counter again at every checkpoint: after sai_sandbox_no_network give it
 * a dialer, sai_kbs_client_set_dialer); att must outlive the checkpoints. */
int  sai_pipeline__dist_ckpt_begin(sai_pipeline_dist_ckpt_t **out, struct sai_kbs_client_t *kbs,
                                   const struct sai_kbs_attester_t *att, const char *counter, int fd, bool resume,
                                   unsigned every, const uint8_t model_key[32],
                                   const uint8_t job[SAI_DIST_JOB_ID_LEN], sai_error_t *err) SAI_MUST_CHECK;
/* One checkpoint: the KBS counter moves from gen to gen+1 by
 * compare-and-increment, and only once the KBS confirmed it is the
 * checkpoint sealed with gen+1 into the other slot (fsynced). Any failure
 * writes nothing and is the caller's error (the run stops). */
int  sai_pipeline__dist_ckpt_write(sai_pipeline_dist_ckpt_t *ck, uint32_t epoch, const uint8_t *payload,
                                   size_t len, sai_error_t *err) SAI_MUST_CHECK;
void sai_pipeline__dist_ckpt_free(sai_pipeline_dist_ckpt_t *ck);

typedef struct sai_pipeline_dist_run_t {
    sai_dist_comm_t *comm;
    sai_pipeline_dist_ckpt_t *ckpt;           /* worker 0 of a checkpointing job (taken), else NULL */
    sai_pipeline_dist_member_t member;
    struct sai_attest_policy_t *policy;       /* peers': this worker's TEE kind and root */
    uint32_t rank, world;
    uint8_t  job_id[SAI_DIST_JOB_ID_LEN];
    uint64_t next_step;                       /* the ring's next step number */
    bool     trained;                         /* the final weight-hash check passed */
    uint8_t  weights_sha256[32];              /* SHA-256 over every tensor, the same on every worker */
    uint8_t **evidence;                       /* worker 0: each rank's final evidence */
    size_t  *evidence_len;
    uint32_t n_evidence;
} sai_pipeline_dist_run_t;

/* Join the ring or mesh the host formed (fds taken, each set to -1): the
 * peers' policy from this worker's own evidence, then the handshake (group
 * secret, evidence bound to it, same measurement and spec hash). servers 0:
 * the ring, fds = {to next, from prev}; else the parameter-server mode with
 * that many servers (the measured dist.servers), fds = one stream per peer
 * in rank order (world-1). */
int  sai_pipeline__dist_join(sai_pipeline_dist_run_t **out, struct sai_tee_t *tee,
                             const uint8_t measurement[SAI_MEASUREMENT_LEN], const uint8_t spec_hash[32],
                             const uint8_t group_secret[SAI_DIST_SECRET_LEN], uint32_t rank, uint32_t world,
                             uint32_t servers, int *fds, size_t nfds, sai_error_t *err) SAI_MUST_CHECK;
void sai_pipeline__dist_leave(sai_pipeline_dist_run_t *d);
/* After training: each worker's evidence over
 *   SHA-512("secureai/dist/v1 worker" || job || u32 rank || u32 world || weights SHA-256)
 * (sai_pipeline__dist_worker_report_data), broadcast by each rank in turn (round the
 * ring, or straight from it on the ps mesh) to worker 0
 * (d->evidence[r]; worker 0's own slot 0 stays empty: its evidence is the
 * statement's). */
int  sai_pipeline__dist_finish(sai_pipeline_dist_run_t *d, sai_error_t *err) SAI_MUST_CHECK;
int  sai_pipeline__dist_worker_report_data(uint8_t rd[64], const uint8_t job[SAI_DIST_JOB_ID_LEN], uint32_t rank,
                                           uint32_t world, const uint8_t weights_sha256[32],
                                           sai_error_t *err) SAI_MUST_CHECK;
/* Worker 0: the statement's dist facts (world, weights hash, the others' evidence; borrowed from d). */
void sai_pipeline__dist_facts(const sai_pipeline_dist_run_t *d, sai_provenance_facts_t *f);
/* DONE of a worker other than 0 (it seals nothing): {"dist":{"rank","world","weights_sha256"}}. */
size_t sai_pipeline__dist_worker_done(const sai_pipeline_dist_run_t *d, char *out, size_t cap);
/* A sai_stage_train_fn over a joined sai_pipeline_dist_run_t (docs/distributed.md step 3). */
int  sai_pipeline__dist_train(void *ctx, sai_nn_model_t *m, const sai_nn_dataset_t *ds,
                              const sai_nn_train_cfg_t *cfg, sai_nn_train_result_t *res,
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
