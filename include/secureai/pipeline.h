/*
 * pipeline.h — SecureAI's confidential pipeline: the spec, the enclave
 * runtime (host/enclave privilege separation), the sandbox that hardens the
 * enclave process under the `sim` TEE, provenance statements and run reports.
 *
 * Who calls what:
 *   secureai run     sai_pipeline_spec_load -> sai_pipeline_measure ->
 *                    sai_pipeline_host_run (launches the enclave process)
 *   the enclave      sai_sandbox_harden (before any key arrives) -> stages ->
 *                    sai_provenance_sign
 *   secureai verify  sai_provenance_verify
 *   secureai report  sai_report_render
 *
 * Trust boundary (docs/threat-model.md): the host process is untrusted; it
 * measures and launches the enclave, opens files and hands their descriptors
 * over, and only ever sees ciphertext. The enclave is a separate process (the
 * same binary, re-executed from the descriptor that was measured) that talks
 * to the host over a socketpair with typed, length-capped messages.
 */
#ifndef SECUREAI_PIPELINE_H
#define SECUREAI_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secureai/common.h"
#include "secureai/crypto.h"
#include "secureai/kbs.h"     /* sai_kbs_resource_t */
#include "secureai/serve.h"   /* sai_serve_limits_t */

/* ======================================================================
 * The pipeline spec (YAML). See docs/pipeline.md for every field.
 * ==================================================================== */

#define SAI_SPEC_MAX_BYTES   (256u * 1024u)   /* a spec file larger than this is refused */
#define SAI_SPEC_VERSION     1

enum {
    SAI_STAGE_INGEST     = 1u << 0,
    SAI_STAGE_PREPROCESS = 1u << 1,
    SAI_STAGE_TRAIN      = 1u << 2,
    SAI_STAGE_EVALUATE   = 1u << 3,
    SAI_STAGE_INFER      = 1u << 4,
    SAI_STAGE_SERVE      = 1u << 5,   /* alone: `secureai serve` (docs/serving.md) */
};

/* Framework mode: `train: {framework: pytorch, script: FILE, args: [...]}`
 * (docs/frameworks.md). All measured but script_path. */
typedef struct sai_pipeline_framework_t {
    char    *framework;                  /* "pytorch", or NULL: the engine trains */
    char    *script_path;                /* host side: where the script is (relative to the
                                          * spec's directory), read at load */
    char    *script_name;                /* its base name (argv[0] of the script) */
    uint8_t *script;                     /* its bytes (in the canonical form) */
    size_t   script_len;
    char   **args;                       /* the script's arguments */
    size_t   nargs;
    char    *python_sha256;              /* 64 hex: the interpreter binary the enclave runs */
    char    *python_version;             /* sys.version's first word, e.g. "3.11.2" */
    char    *torch_version;              /* torch.__version__ */
    char    *runtime_sha256;             /* 64 hex: libsecureai.so and the secureai package */
} sai_pipeline_framework_t;

typedef struct sai_pipeline_spec_t {
    unsigned version;                        /* SAI_SPEC_VERSION */
    char    *name;                           /* [A-Za-z0-9._-]{1,64} */
    char    *tee;                            /* "sim" (default), "sev-snp", "tdx", "sgx" */
    unsigned stages;                         /* SAI_STAGE_* bits, in canonical order */

    struct {
        char            *sealed_dir;         /* host-side path (not measured) */
        char            *format;             /* "idx", "cifar10" or "tfrecord" */
        sai_kbs_resource_t key;                /* where the dataset key lives */
        char            *identity;           /* expected dataset identity (64 hex), optional */
        struct {                             /* format tfrecord (all measured) */
            char    *image, *label;          /* tf.train.Example feature keys */
            unsigned shape[3];               /* c, h, w of one image */
            double   scale, offset;          /* float-list images: pixel = (v*scale+offset)*255 */
            char    *train, *test;           /* shard-name prefixes of the splits
                                              * (default "train", "test") */
        } tfrecord;
    } dataset;

    struct {
        char            *arch;               /* engine model name, e.g. "resnet8", "mlp" */
        unsigned         classes;
        unsigned         width;              /* base channel width, 0 = engine default */
        bool             has_key;            /* model.key given (required) */
        sai_kbs_resource_t key;                /* where the model key lives in the KBS */
        bool             generate_key;       /* the enclave generates the key and registers
                                              * it under `key` (attested registration) */
        char            *key_policy;         /* with generate_key: the release policy
                                              * registered with it (compact JSON object) */
    } model;

    struct {
        unsigned epochs;
        unsigned batch;
        unsigned max_steps;                  /* 0 = whole epochs */
        unsigned train_limit, test_limit;    /* 0 = every record */
        double   lr, momentum, weight_decay;
        uint64_t seed;
    } hyper;

    struct {
        bool normalize;
        bool flip, crop;                     /* augmentation */
    } preprocess;

    struct {
        char *url;                           /* https://HOST:PORT (host-side, not measured) */
        char *ca;                            /* path to a CA bundle, optional (its hash is measured) */
        char *pin;                           /* "sha256:<64 hex>" of the KBS certificate, optional */
        bool  insecure_http;                 /* plain http:// to a test KBS allowed (measured;
                                              * recorded as kbs_channel in the provenance) */
        char *wrap_key_sha256;               /* "sha256:<64 hex>" of the KBS's key-wrapping
                                              * public key (raw P-384 point); needed with
                                              * model.generate_key */
        bool     has_ca_sha256;              /* from the canonical form (the enclave): */
        uint8_t  ca_sha256[SAI_SHA256_LEN];  /*   the measured hash of kbs.ca's bytes */
        unsigned retries;                    /* bounded retries with backoff, default 4 */
    } kbs;

    struct {                                 /* data-parallel training (docs/distributed.md) */
        unsigned workers;                    /* >= 2: distributed (measured); 0/1: one enclave,
                                              * and the section is absent from the canonical form */
        char    *transport;                  /* "tcp" (default) or "mpi" (measured) */
        char    *algorithm;                  /* "ring" (default) or "ps" (measured) */
        unsigned servers;                    /* ps: parameter servers S on ranks 0..S-1,
                                              * 1..workers (measured; default workers);
                                              * 0 for the ring */
        char    *rendezvous;                 /* HOST:PORT (host-side, not measured: reachability
                                              * only, as kbs.url): worker r listens on PORT+r */
        unsigned checkpoint_every;           /* epochs between worker 0's sealed checkpoints
                                              * (0: none; measured when set) */
    } dist;

    sai_pipeline_framework_t framework;     /* framework mode (`train:`); docs/frameworks.md */

    struct {
        char *dir;                           /* host-side output directory (not measured) */
        char *model_name;                    /* file name of the sealed model, default "model.sealed" */
    } outputs;

    char *source;                            /* path the spec was loaded from, or NULL */
} sai_pipeline_spec_t;

/* Parse and validate a spec from memory. `name` is used in messages
 * ("spec.yaml:12: hyper.lr: must be > 0"). *out is caller-owned; free with
 * sai_pipeline_spec_free. Every failure names the line and the field. */
int  sai_pipeline_spec_parse(sai_pipeline_spec_t **out, const char *name,
                             const char *yaml, size_t len, sai_error_t *err) SAI_MUST_CHECK;
int  sai_pipeline_spec_load(sai_pipeline_spec_t **out, const char *path, sai_error_t *err) SAI_MUST_CHECK;
void sai_pipeline_spec_free(sai_pipeline_spec_t *s);

/* The canonical form: compact JSON with a fixed key order holding only what
 * the enclave acts on (host-side paths and the KBS address are left out, so
 * moving files does not change the measurement; the CA's bytes are
 * represented by ca_sha256). *out is malloc'ed and NUL-terminated. */
int  sai_pipeline_spec_canonical(const sai_pipeline_spec_t *s, const uint8_t *ca_sha256,
                                 char **out, size_t *len, sai_error_t *err) SAI_MUST_CHECK;
/* SHA-256 of the canonical form. */
int  sai_pipeline_spec_hash(const sai_pipeline_spec_t *s, const uint8_t *ca_sha256,
                            uint8_t out[static SAI_SHA256_LEN], sai_error_t *err) SAI_MUST_CHECK;
/* The KBS client the enclave uses, built only from what the (canonical,
 * measured) spec says: TLS with kbs.pin, else with kbs.ca whose bytes
 * (ca_pem, handed over by the host) must hash to the measured
 * kbs.ca_sha256; plain http:// only with kbs.insecure_http: true. url is
 * the host's choice and trusted for nothing but reachability. SAI_EPOLICY
 * for a refused http:// URL, SAI_EAUTH for a CA that is not the measured
 * one. (kbs_glue.c) */
struct sai_kbs_client_t;
int  sai_pipeline_kbs_client_for_spec(const sai_pipeline_spec_t *s, const char *url, const char *ca_pem,
                                      size_t ca_len, struct sai_kbs_client_t **out,
                                      sai_error_t *err) SAI_MUST_CHECK;
/* Rebuild a spec from its canonical JSON (what the enclave receives). */
int  sai_pipeline_spec_from_canonical(sai_pipeline_spec_t **out, const char *json, size_t len,
                                      sai_error_t *err) SAI_MUST_CHECK;
const char *sai_pipeline_stage_name(unsigned bit);

/* ======================================================================
 * Launch measurement: computed by the platform (under sim the platform
 * service, src/tee/sim_service.c) over the enclave image it launches, the
 * shared objects the loader maps for it and the canonical spec; never by the
 * host, never by the enclave. The sandbox policy is code in the image.
 * ==================================================================== */
#define SAI_MEASUREMENT_LEN SAI_SHA384_LEN

/* ======================================================================
 * The sandbox (sim TEE enclave hardening). Installed by the enclave process
 * on itself, before it asks for any key.
 * ==================================================================== */

/* The allow-list as text, one syscall name per line (compiled into the
 * image, so a looser sandbox is a different measurement). */
const char *sai_sandbox_policy_text(void);

typedef struct sai_sandbox_status_t {
    bool dumpable_off;       /* PR_SET_DUMPABLE 0 (also blocks ptrace attach by same uid) */
    bool core_off;           /* RLIMIT_CORE 0/0 */
    bool no_new_privs;       /* PR_SET_NO_NEW_PRIVS */
    bool seccomp;            /* the allow-list is installed */
} sai_sandbox_status_t;

/* Apply everything: not dumpable, no core dumps, no new privileges, the
 * seccomp allow-list (open/openat/creat/... fail with EACCES; execve,
 * ptrace, process_vm_*, socket families other than AF_INET/AF_INET6 kill
 * the process). Irreversible. */
int sai_sandbox_harden(sai_sandbox_status_t *st, sai_error_t *err) SAI_MUST_CHECK;
/* Only the process-level parts (no seccomp): for tests and for the host. */
int sai_sandbox_harden_process(sai_sandbox_status_t *st, sai_error_t *err) SAI_MUST_CHECK;
/* After the enclave's last key-broker call: no new socket, connect, bind,
 * listen or accept for the rest of the process's life (EACCES). */
int sai_sandbox_no_network(sai_error_t *err) SAI_MUST_CHECK;

/* ======================================================================
 * The host<->enclave channel: typed, length-capped messages over a
 * SOCK_SEQPACKET socketpair, optionally carrying file descriptors. Every
 * message is   u32be type || u32be length || payload   in one packet; a
 * receiver names the type it expects and anything else is fatal.
 * ==================================================================== */
#define SAI_CHAN_MAX_PAYLOAD (1u << 16)   /* one packet (fits the default socket buffer); bulk data is chunked */
#define SAI_CHAN_MAX_FDS     64

typedef enum {
    SAI_MSG_HELLO = 1,          /* H->E: canonical spec, measurement */
    SAI_MSG_READY,              /* E->H: sandbox installed */
    SAI_MSG_SHARD_FDS,          /* H->E: manifest bytes + shard fds (names in payload) */
    SAI_MSG_EVIDENCE_REQ,       /* E->H: 64-byte report data */
    SAI_MSG_EVIDENCE,           /* H->E: evidence blob (from the TEE backend) */
    SAI_MSG_KBS_CONN,           /* E->H: asks for a stream to the KBS; H->E: a connected socket (fd), or none and why */
    SAI_MSG_PROGRESS,           /* E->H: one line of metrics JSON */
    SAI_MSG_OUTPUT,             /* E->H: name + one chunk of an output file */
    SAI_MSG_OUTPUT_END,         /* E->H: name + sha256 of the whole file */
    SAI_MSG_DONE,               /* E->H: final metrics JSON */
    SAI_MSG_ERROR,              /* E->H: one sentence */
    SAI_MSG_KBS_REQ,            /* E->H: an HTTP request for the KBS (relayed) */
    SAI_MSG_KBS_RESP,           /* H->E: the KBS response (status + body) */
    SAI_MSG_DIST,               /* H->E: rank, world + the two ring streams, or ps one per peer (fds) */
    SAI_MSG_SERVE,              /* H->E: serving limits (JSON) + the sealed model (fd) [+ provenance (fd)] */
    SAI_MSG_SERVING,            /* E->H: the server is up (JSON: model and certificate hashes) */
    SAI_MSG_SERVE_CONN,         /* H->E: one accepted TCP connection (fd; ciphertext only) */
    SAI_MSG_MAX_
} sai_msg_type_t;

typedef struct sai_chan_t {
    int      fd;
    uint64_t sent, received;    /* message counters (logged on error) */
} sai_chan_t;

/* A pair: [0] for the host, [1] for the enclave. Close-on-exec is set on the
 * host's end only. */
int sai_chan_pair(sai_chan_t *host, sai_chan_t *enclave, sai_error_t *err) SAI_MUST_CHECK;
void sai_chan_close(sai_chan_t *c);

int sai_chan_send(sai_chan_t *c, sai_msg_type_t type, const void *data, size_t len,
                  const int *fds, size_t nfds, sai_error_t *err) SAI_MUST_CHECK;

/* Receive exactly one message of type `want` (SAI_MSG_ERROR is returned as
 * SAI_ESTATE with the peer's sentence in err). *data is malloc'ed (plus a
 * NUL byte); received fds go to fds[0..*nfds) (at most max_fds, else
 * fatal). A different type, a truncated packet or a length over max_len is
 * SAI_EFORMAT and the caller must tear the channel down. */
int sai_chan_recv(sai_chan_t *c, sai_msg_type_t want, uint8_t **data, size_t *len,
                  size_t max_len, int *fds, size_t max_fds, size_t *nfds,
                  sai_error_t *err) SAI_MUST_CHECK;
/* Like sai_chan_recv but accepts any type in want[0..nwant); *got says which. */
int sai_chan_recv_any(sai_chan_t *c, const sai_msg_type_t *want, size_t nwant,
                      sai_msg_type_t *got, uint8_t **data, size_t *len, size_t max_len,
                      int *fds, size_t max_fds, size_t *nfds, sai_error_t *err) SAI_MUST_CHECK;

/* ======================================================================
 * Provenance: an in-toto Statement v1 in a DSSE envelope, signed ES384
 * with an enclave key whose public half is bound into attestation evidence:
 *
 *   report_data (64 bytes) = SHA-512("secureai/v1/provenance" || 0x00 ||
 *                                    public key raw point (97 bytes))
 *
 * The statement's predicate carries that evidence (base64url) and the raw
 * public key; the DSSE signature is over
 *   PAE(payloadType, payload) = "DSSEv1" SP len(type) SP type SP len(body) SP body
 * ==================================================================== */
#define SAI_PROVENANCE_PREDICATE "https://secureai.dev/provenance/v1"
#define SAI_PROVENANCE_PAYLOAD_TYPE "application/vnd.in-toto+json"
#define SAI_PROVENANCE_MAX_BYTES (4u * 1024u * 1024u)

typedef struct sai_provenance_facts_t {
    const char *subject_name;                 /* model ciphertext file name */
    uint8_t     subject_sha256[SAI_SHA256_LEN];
    uint8_t     dataset_identity[SAI_SHA256_LEN];
    const char *dataset_resource;             /* "repo/type/tag" */
    uint8_t     measurement[SAI_MEASUREMENT_LEN];
    uint8_t     spec_hash[SAI_SHA256_LEN];
    const char *engine_version;
    const char *metrics_json;                 /* a JSON object, copied verbatim */
    const char *epochs_json;                  /* optional JSON array: the per-epoch test curve,
                                               * signed as metrics.epochs */
    const char *tee;                          /* "sim", ... */
    const char *time;                         /* RFC 3339 UTC */
    const uint8_t *evidence;                  /* the TEE's evidence envelope (secureai-evidence/v1);
                                               * evidence.format and the protection line are
                                               * derived from these bytes, never from the host */
    size_t      evidence_len;
    const char *kbs_channel;                  /* how the keys travelled: "tls-pin", "tls-ca"
                                               * or "insecure-http" (sai_kbs_channel_name) */
    /* A distributed job (docs/distributed.md; dist_world 0: one enclave):
     * this statement is worker 0's; every other worker's evidence is listed,
     * each over SHA-512("secureai/dist/v1 worker" || job || u32 rank ||
     * u32 world || weights SHA-256), job = SHA-256("secureai/dist/v1 job" ||
     * spec hash)[0..16). */
    uint32_t    dist_world;
    uint8_t     dist_weights_sha256[SAI_SHA256_LEN];
    const uint8_t *const *dist_evidence;      /* indexed by rank, 1..dist_world-1 */
    const size_t *dist_evidence_len;
} sai_provenance_facts_t;

/* What a sim TEE protects, in the words every output of a sim run uses, and
 * the line for a sim report whose FAMILY_ID marks an --insecure-dev launch. */
#define SAI_PROVENANCE_SIM_TEXT                                                                   \
    "simulated TEE: software isolation by the platform service; the launching user and other "  \
    "non-root users are outside the boundary; root and the kernel are not; nothing is "         \
    "hardware-protected"
#define SAI_PROVENANCE_INSECURE_DEV_TEXT "INSECURE-DEV: the launcher held the platform key; nothing is proven"
/* What every output of a run on an SEV-SNP emulation says (docs/hardware.md). */
#define SAI_PROVENANCE_EMULATED_TEXT                                                              \
    "EMULATED SEV-SNP platform: the report is signed by a test root, not by a chain to AMD's "     \
    "roots; nothing is hardware-protected"
/* FAMILY_ID (16 bytes at 0x10 of a sim report) of an --insecure-dev launch:
 * these bytes, zero-padded. Under the platform service it is all zero. */
#define SAI_PROVENANCE_INSECURE_DEV_FAMILY "INSECURE-DEV"
/* A statement dated more than this far after the verification time is refused. */
#define SAI_PROVENANCE_MAX_SKEW_S 300

/* What the evidence envelope itself says (no verification): its format
 * name "secureai-evidence/v1:<tee>", whether it is simulated, HOST_DATA and
 * whether a sim report carries the --insecure-dev FAMILY_ID marker. */
typedef struct sai_provenance_evidence_info_t {
    char    format[64];
    char    tee[16];
    bool    simulated;                        /* tee sim or the envelope says simulated */
    bool    has_host_data;                    /* SNP / sim reports carry HOST_DATA */
    uint8_t host_data[32];
    bool    insecure_dev;                     /* sim FAMILY_ID = "INSECURE-DEV" */
    bool    emulated;                         /* SEV-SNP whose certificates do not chain to a
                                               * pinned AMD root (an emulation's test root, or
                                               * none): simulated is set too */
    bool    family_unknown;                   /* sim FAMILY_ID neither zero nor the marker */
    int64_t generated_at;                     /* envelope generated_at, 0 if none */
} sai_provenance_evidence_info_t;

int sai_provenance_evidence_info_get(sai_provenance_evidence_info_t *info, const uint8_t *evidence,
                                     size_t len, sai_error_t *err) SAI_MUST_CHECK;

/* The report data that binds a provenance key (see above). */
int sai_provenance_report_data(uint8_t out[static 64],
                               const uint8_t pub[static SAI_P384_POINT_LEN],
                               sai_error_t *err) SAI_MUST_CHECK;

/* Build and sign. *envelope is malloc'ed JSON text. The evidence must be a
 * secureai-evidence/v1 envelope: evidence.format and predicate.protection
 * are taken from it. */
int sai_provenance_sign(char **envelope, size_t *len, const sai_provenance_facts_t *f,
                        const sai_ec_key_t *key, sai_error_t *err) SAI_MUST_CHECK;

/* Evidence verification is the attestation module's job; the pipeline
 * reaches it through this small table so the verifier is swappable per TEE
 * kind. `verify` checks the evidence's chain and signature against `policy`
 * (its meaning belongs to the backend), and returns the report data and the
 * launch measurement it attests to. */
typedef struct sai_evidence_verifier_t {
    const char *format;
    int (*verify)(void *ctx, const uint8_t *evidence, size_t len,
                  uint8_t report_data[static 64],
                  uint8_t measurement[static SAI_MEASUREMENT_LEN],
                  char *tee, size_t tee_len, sai_error_t *err);
    void *ctx;
} sai_evidence_verifier_t;

/* The attestation module's verifier for `secureai verify` (src/attest).
 * policy_path: an attestation policy (YAML) file; NULL builds one that
 * accepts every TEE kind. Simulated evidence is accepted only when
 * allow_simulated, whatever the attestation policy says (both must allow
 * it). at: verification time (Unix seconds, 0 = now). Release with
 * sai_pipeline_verifier_release. */
int  sai_pipeline_verifier_new(sai_evidence_verifier_t *v, const char *policy_path,
                               bool allow_simulated, sai_error_t *err) SAI_MUST_CHECK;
void sai_pipeline_verifier_set_time(sai_evidence_verifier_t *v, int64_t at);
void sai_pipeline_verifier_release(sai_evidence_verifier_t *v);

typedef struct sai_provenance_expect_t {
    const uint8_t *model;                     /* the model ciphertext bytes */
    size_t         model_len;
    const uint8_t *dataset_identity;          /* 32 bytes, required */
    const uint8_t *measurement;               /* 48 bytes, required */
    const uint8_t *spec_hash;                 /* 32 bytes, optional */
    int64_t        now;                       /* verification time, Unix seconds; 0 = time(NULL) */
    int64_t        max_age;                   /* seconds; 0 = no freshness limit (the future
                                               * beyond SAI_PROVENANCE_MAX_SKEW_S is always refused) */
    bool           allow_insecure_dev;        /* accept sim evidence of an --insecure-dev launch */
} sai_provenance_expect_t;

/* What verification established (valid only when it returns 0). */
typedef struct sai_provenance_result_t {
    char tee[32];
    char time[40];
    char subject_name[128];
    char metrics[1024];                       /* the metrics JSON, truncated */
    char evidence_format[64];
    char kbs_channel[32];                     /* predicate.kbs_channel, "" when absent */
    bool simulated;
    bool emulated;                            /* SEV-SNP evidence from an emulation's test root */
    bool insecure_dev;                        /* sim evidence of an --insecure-dev launch */
    const char *protection;                   /* what the TEE protects (static text, from the
                                               * evidence, not from the statement) */
    unsigned dist_workers;                    /* a distributed job: every worker's evidence
                                               * verified (0: one enclave) */
} sai_provenance_result_t;

/* Every check, in order: envelope shape (no duplicate keys at any level, no
 * unknown envelope fields), signature by the embedded key, the statement's
 * fields, the evidence (via v), evidence.format = the evidence's own, the key
 * binding in the report data, the evidence's measurement equals the
 * statement's and the expected one, TEE kind, the insecure-dev marker,
 * spec_sha256 = the evidence's HOST_DATA (always) and the expected one,
 * a distributed job's every other worker's evidence (via v; the same
 * measurement, TEE kind and HOST_DATA, bound to job, rank, world and the
 * weights hash, fresh; ranks 1..N-1 each once),
 * freshness, dataset identity, model hash. On failure err->msg is one line
 * naming the first check that failed. */
int sai_provenance_verify(const char *envelope, size_t len,
                          const sai_provenance_expect_t *exp,
                          const sai_evidence_verifier_t *v,
                          sai_provenance_result_t *res, sai_error_t *err) SAI_MUST_CHECK;

/* Parse a duration: plain seconds ("3600") or a number with a unit s, m, h
 * or d ("90m", "24h", "7d"). */
int sai_parse_duration(int64_t *secs, const char *s, sai_error_t *err) SAI_MUST_CHECK;

/* A verify policy (JSON; docs/pipeline.md):
 *   {"measurement": "<96 hex>", "dataset_identity": "<64 hex>",
 *    "spec_sha256": "<64 hex>", "allow_simulated": bool, "allow_insecure_dev": bool,
 *    "max_age": seconds | "24h", "attestation_policy": "FILE"}
 * Unknown keys are refused (a misspelt rule must not be silently ignored). */
typedef struct sai_verify_policy_t {
    uint8_t measurement[SAI_MEASUREMENT_LEN];
    uint8_t dataset_identity[SAI_SHA256_LEN];
    uint8_t spec_sha256[SAI_SHA256_LEN];
    bool    has_spec_sha256;
    bool    allow_simulated, allow_insecure_dev;
    int64_t max_age;                          /* 0 = none */
    char    attestation_policy[4096];         /* resolved against the policy's directory; "" = none */
} sai_verify_policy_t;

int sai_verify_policy_load(sai_verify_policy_t *p, const char *path, sai_error_t *err) SAI_MUST_CHECK;

/* What `secureai verify` does, from files: read MODEL and STATEMENT, build
 * the verifier of the policy, sai_provenance_verify. max_age > 0 overrides
 * the policy's; at = verification time (0 = now). `secureai report --policy`
 * uses the same function. */
int sai_provenance_verify_files(const char *model_path, const uint8_t *statement, size_t len,
                                const sai_verify_policy_t *pol, int64_t max_age, int64_t at,
                                sai_provenance_result_t *res, sai_error_t *err) SAI_MUST_CHECK;

/* The verified statement's payload (after sai_provenance_verify returned 0
 * on the same bytes), parsed; NULL if it does not decode. */
struct cJSON;
struct cJSON *sai_provenance_payload(const char *envelope, size_t len);

/* ======================================================================
 * Run directory and report. A run directory holds:
 *   run.json        facts of the run written by the (untrusted) host
 *   <model>.sealed  the sealed model, provenance.json, report.html
 * The report takes what it shows as verified only from a provenance
 * statement it verified itself against a verify policy; everything from
 * run.json is marked "host-written (unverified)".
 * ==================================================================== */
typedef struct sai_report_check_t {
    bool        policy_given;                 /* false: "not verified: no policy given" */
    int         rc;                           /* sai_provenance_verify's result */
    char        reason[SAI_ERROR_MAX];        /* its message when rc != 0 */
    sai_provenance_result_t res;                /* when rc == 0 */
    bool        model_checked;                /* the model file was hashed against the statement */
} sai_report_check_t;

/* check NULL = no policy given. */
int sai_report_render(char **html, size_t *len, const char *run_json, size_t run_len,
                      const char *provenance, size_t prov_len, const sai_report_check_t *check,
                      sai_error_t *err) SAI_MUST_CHECK;
/* Read RUN_DIR/run.json (+ provenance.json if present), verify the
 * statement against policy_path (NULL: not verified), write
 * RUN_DIR/report.html. *verified (may be NULL) says whether it verified. */
int sai_report_write_verified(const char *run_dir, const char *policy_path, int64_t max_age,
                              char *out_path, size_t out_cap, bool *verified,
                              sai_error_t *err) SAI_MUST_CHECK;
/* The same without a policy (the host writes this after a run). */
int sai_report_write(const char *run_dir, char *out_path, size_t out_cap,
                     sai_error_t *err) SAI_MUST_CHECK;

/* ======================================================================
 * Running a pipeline.
 * ==================================================================== */
typedef struct sai_pipeline_run_opts_t {
    const char *spec_path;
    const char *dataset_dir;     /* overrides dataset.sealed (host-side, not measured) */
    const char *out_dir;         /* overrides outputs.dir */
    const char *kbs_url;         /* overrides kbs.url */
    const char *platform_socket; /* the sim platform service (NULL: $SECUREAI_PLATFORM_SOCKET,
                                    else /run/secureai/platform.sock) */
    bool        insecure_dev;    /* no platform service: this user's own platform launches the
                                    enclave; the launcher holds the platform key, nothing is proven */
    const char *enclave_binary;  /* insecure_dev only: the enclave image (NULL: this program) */
    const char *tee_root;        /* confidential-VM mode (tee: sev-snp / tdx): prefix of the guest's
                                    TEE interfaces (tests: an emulator's tree); NULL = the real ones */
    int         threads;         /* engine threads in the enclave, 0 = all, at most SAI_NN_THREADS_MAX */
    unsigned    plain_max_steps; /* plain baseline only: stop after this many steps (0 = spec) */
    const char *plain_ckpt_out;  /* plain baseline only: write the plaintext checkpoint here
                                    (atomic, fsync'd, counted in wall_s), as the enclave run
                                    writes its sealed one; NULL: write nothing */
    bool        quiet;
    bool        resume;          /* a distributed spec with dist.checkpoint_every: resume from
                                    worker 0's sealed checkpoint in outputs.dir (--resume) */
    unsigned    workers;         /* a distributed spec (dist.workers >= 2): run it as this many
                                    local workers, each with its own host and enclave, ring over
                                    loopback (`secureai run --workers N`; must equal dist.workers) */
    const struct sai_pipeline_peers_t *peers; /* one worker of a job spread over machines
                                    (`--rank R --peers TEMPLATE`): where rank k listens */
    unsigned    rank;            /* with peers: this worker's rank, < dist.workers */
    const char *listen_addr;     /* with peers: the address to listen on (NULL: every address) */
} sai_pipeline_run_opts_t;

/* Where the workers of a multi-machine TCP job listen, decoded once from a
 * template such as "job-{rank}.job.ns.svc:7070" (an Indexed Job's pod DNS
 * names under a headless Service): worker k is prefix || k || suffix, all
 * on one port. The host part holds [A-Za-z0-9.-] and exactly one {rank}. */
typedef struct sai_pipeline_peers_t {
    char     prefix[256], suffix[256];
    uint16_t port;
} sai_pipeline_peers_t;

int sai_pipeline_peers_parse(sai_pipeline_peers_t *out, const char *tmpl,
                             sai_error_t *err) SAI_MUST_CHECK;
/* Worker rank's host name into host (room for 600 bytes). */
void sai_pipeline_peers_host(const sai_pipeline_peers_t *p, unsigned rank, char *host, size_t n);

/* What the training stage cost its process (getrusage(RUSAGE_SELF) deltas
 * around sai_nn_train, all threads): CPU time is less sensitive than wall
 * time to other jobs on a shared machine, and faults / context switches show
 * whether the enclave's training differs from the plain one's in kind. */
typedef struct sai_train_usage_t {
    double   cpu_s;             /* user + system */
    double   sys_s;
    long     minflt, nvcsw, nivcsw;
} sai_train_usage_t;

typedef struct sai_pipeline_run_result_t {
    uint8_t measurement[SAI_MEASUREMENT_LEN];
    uint8_t spec_hash[SAI_SHA256_LEN];
    bool    insecure_dev;             /* launched without the platform service */
    bool    cvm;                      /* confidential-VM mode (tee: sev-snp / tdx) */
    bool    emulated;                 /* cvm: the evidence is an emulation's (test root) */
    char    protection[512];          /* cvm: what the platform protects, as the enclave saw it */
    char    model_path[4096];
    char    provenance_path[4096];
    char    run_dir[4096];
    double  test_accuracy, train_images_per_s, wall_s;
    double  ingest_s, train_s;        /* plain baseline: per-stage times */
    double  ckpt_write_s;             /* plain baseline: writing ckpt_out (fsync'd) */
    sai_train_usage_t train_usage;      /* plain baseline */
    uint32_t dist_rank, dist_world;   /* under mpirun: this process's rank (only 0 publishes) */
} sai_pipeline_run_result_t;

/* Measure only: the launch measurement `secureai run` would give SPEC (for
 * registering a KBS policy). */
int sai_pipeline_measure(const sai_pipeline_run_opts_t *o, uint8_t out[static SAI_MEASUREMENT_LEN],
                         uint8_t spec_hash[static SAI_SHA256_LEN], sai_error_t *err) SAI_MUST_CHECK;

/* The spec's TEE kind and hash (SHA-256 of its canonical form): what a VMM
 * binds at launch in confidential-VM mode (HOST_DATA on SEV-SNP; MRCONFIGID
 * = the hash || 16 zero bytes on TDX). */
int sai_pipeline_launch_binding(const sai_pipeline_run_opts_t *o, char tee[static 16],
                                uint8_t spec_hash[static SAI_SHA256_LEN], sai_error_t *err) SAI_MUST_CHECK;

/* The canonical form of SPEC with the host-side overrides applied: the
 * bytes the platform measures and whose SHA-256 is HOST_DATA (*canon is
 * malloc'ed, NUL-terminated). */
int sai_pipeline_canonical_spec(const sai_pipeline_run_opts_t *o, char **canon, size_t *len,
                                sai_error_t *err) SAI_MUST_CHECK;

/* The untrusted host: measure, launch the enclave, hand over descriptors,
 * answer evidence requests, write the outputs the enclave sends (only once
 * it says DONE), run.json and report.html. */
int sai_pipeline_host_run(const sai_pipeline_run_opts_t *o, sai_pipeline_run_result_t *res,
                          sai_error_t *err) SAI_MUST_CHECK;

/* `secureai serve SPEC` (docs/serving.md): the spec's stages are [serve].
 * The host launches the enclave as for a run, hands it the sealed model
 * (and the run's provenance statement), listens on `listen` and passes
 * every accepted connection to the enclave, which terminates TLS 1.3 with
 * its RA-TLS key: the host moves ciphertext only. Returns when SIGINT or
 * SIGTERM arrives (0) or the enclave fails. sim TEE only for now. */
typedef struct sai_pipeline_serve_opts_t {
    sai_pipeline_run_opts_t run;      /* spec_path, out_dir, kbs_url, platform_socket, insecure_dev,
                                       * threads, quiet */
    const char *listen;               /* "ADDR:PORT" ("[v6]:PORT"); NULL = 127.0.0.1:8443 */
    const char *port_file;            /* write the bound port here once serving (for --listen :0) */
    const char *model_path;           /* NULL = outputs.dir/model_name */
    const char *provenance_path;      /* NULL = outputs.dir/provenance.json when it exists */
    sai_serve_limits_t limits;        /* 0 fields: the defaults (serve.h) */
    unsigned    max_batch;            /* images per forward pass, 0 = 16 */
    unsigned    batch_wait_ms;        /* dynamic batching's latency bound, 0 = serve.h's default */
    const char *plain_checkpoint;     /* bench/test only: serve this plaintext checkpoint from
                                       * this process, no TEE, no attestation (same server,
                                       * TLS and HTTP; its "evidence" no policy accepts) */
} sai_pipeline_serve_opts_t;

int sai_pipeline_serve(const sai_pipeline_serve_opts_t *o, sai_error_t *err) SAI_MUST_CHECK;

/* The enclave process's main (`secureai run --enclave-fd 3 --tee-fd 4`, as
 * the platform launches it: 3 = the host's channel, 4 = its PSP socket). */
int sai_pipeline_enclave_main(int chan_fd, int tee_fd, sai_error_t *err);

/* The same in a confidential VM (`run --enclave-fd 3 --cvm`, started by the
 * host half in the same guest, tee: sev-snp / tdx): the evidence comes from
 * the guest's own TEE (configfs-tsm under tee_root, NULL = the real one). */
int sai_pipeline_enclave_main_cvm(int chan_fd, const char *tee_root, sai_error_t *err);

/* The same stages without an enclave, on plaintext files in plain_dir (the
 * baseline of the overhead figures). Writes nothing. */
int sai_pipeline_plain_run(const sai_pipeline_run_opts_t *o, const char *plain_dir,
                           sai_pipeline_run_result_t *res, sai_error_t *err) SAI_MUST_CHECK;

/* What a TEE kind protects, in plain words (used by the report and the CLI). */
const char *sai_pipeline_tee_statement(const char *tee);

#endif
