/*
 * tee.h — the TEE backend interface (one small table of function pointers
 * per backend, in the manner of curl's vtls; the table is private to
 * src/tee, callers see only sai_tee_t and the functions).
 *
 * Backends: "sim" (the simulated AMD-style platform; the default on machines
 * without TEE hardware), "sev-snp" and "tdx" (Linux configfs-tsm, with
 * /dev/sev-guest and /dev/tdx_guest fallbacks), "sgx" (Gramine's
 * /dev/attestation). Every backend produces a self-describing evidence
 * envelope (JSON, built here by sai_evidence_build: the producer owns its
 * format) that sai_attest_verify_evidence() (attest.h) parses and checks.
 * tee depends only on crypto (and util); attest includes this header for
 * the envelope format, the SNP report sizes and sai_tee_kind_t, never the
 * other way round (docs/attestation.md, "Module layering").
 *
 * The sim backend never holds platform private keys: it talks to a separate
 * signer process (the simulated PSP) over a pipe; see docs/attestation.md.
 */
#ifndef SECUREAI_TEE_H
#define SECUREAI_TEE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secureai/common.h"

#define SAI_TEE_REPORT_DATA_LEN 64
#define SAI_TEE_MEASUREMENT_MAX 48
#define SAI_TEE_SEAL_KEY_LEN    32
#define SAI_EVIDENCE_MAX        (256u * 1024u)   /* cap on any evidence envelope */

/* ---- SEV-SNP ATTESTATION_REPORT sizes (the sim PSP signs this layout too) - */
#define SAI_SNP_REPORT_LEN      0x4A0   /* 1184 */
#define SAI_SNP_SIGNED_LEN      0x2A0   /* bytes covered by the signature */
#define SAI_SNP_CERT_MAX        (16u * 1024u)

typedef enum {
    SAI_TEE_NONE = 0,
    SAI_TEE_SIM,
    SAI_TEE_SEV_SNP,
    SAI_TEE_TDX,
    SAI_TEE_SGX,
} sai_tee_kind_t;

/* The one TEE name table (src/tee/tee.c); sched's sai_sched_tee_t is separate. */
/* "sim", "sev-snp", "tdx", "sgx"; NULL for an unknown value. */
const char *sai_tee_kind_name(sai_tee_kind_t k);
/* The canonical names above and the aliases "snp" and "sev_snp" (CLI,
 * evidence); SAI_TEE_NONE for an unknown name or NULL. */
sai_tee_kind_t sai_tee_kind_from_name(const char *name);
/* The canonical names only (pipeline specs, KBS requests: a canonical form
 * must have one spelling); SAI_TEE_NONE otherwise. */
sai_tee_kind_t sai_tee_kind_from_canonical_name(const char *name);

/* Options for sai_tee_open. Zero-initialise, then set what you need. */
typedef struct sai_tee_opts_t {
    /* sim: platform directory (NULL = SECUREAI_PLATFORM_DIR, else
     * $XDG_DATA_HOME/secureai/sim-platform, else ~/.local/share/...). */
    const char *platform_dir;
    /* sim: an already running PSP signer reachable over this fd (the
     * launcher passes it; also read from SECUREAI_SIM_PSP_FD). 0 or -1 =
     * none (then the process launches its own signer: "self-launch"). */
    int         psp_fd;
    /* sim, self-launch only (no launcher): the files whose SHA-384 forms the
     * launch measurement together with /proc/self/exe. NULL = empty. */
    const char *spec_path;
    const char *policy_path;
    /* sev-snp / tdx / sgx: prefix for /sys/kernel/config/tsm, /dev/...
     * (tests point it at a fake tree). NULL = "" (the real root). */
    const char *root;
    /* sev-snp / tdx: configfs-tsm entry name (NULL = "secureai-<pid>-<n>",
     * created and removed per request; tests name a pre-made entry). */
    const char *tsm_entry;
    /* sev-snp: the privilege level (VMPL) reports and sealing keys are
     * requested at. 0 = the lowest the guest may ask for (configfs-tsm's
     * privlevel_floor: the VMPL the guest runs at, e.g. under an SVSM);
     * 1..3 = exactly that level (below the floor is refused). */
    int         privlevel;
} sai_tee_opts_t;

/* An open TEE. The backend table behind it is private (src/tee/tee_int.h,
 * as curl keeps its TLS backends): use the functions below. */
typedef struct sai_tee_t sai_tee_t;

/* Open a backend; opts may be NULL. Free with sai_tee_close. */
int  sai_tee_open(sai_tee_t **out, sai_tee_kind_t kind, const sai_tee_opts_t *opts,
                  sai_error_t *err) SAI_MUST_CHECK;
void sai_tee_close(sai_tee_t *t);
sai_tee_kind_t sai_tee_kind_of(const sai_tee_t *t);
int  sai_tee_measure(sai_tee_t *t, uint8_t out[SAI_TEE_MEASUREMENT_MAX], size_t *len,
                     sai_error_t *err) SAI_MUST_CHECK;
int  sai_tee_get_evidence(sai_tee_t *t, const uint8_t report_data[SAI_TEE_REPORT_DATA_LEN],
                          char **json, size_t *json_len, sai_error_t *err) SAI_MUST_CHECK;
int  sai_tee_derive_sealing_key(sai_tee_t *t, const uint8_t *context, size_t context_len,
                                uint8_t key[SAI_TEE_SEAL_KEY_LEN], sai_error_t *err) SAI_MUST_CHECK;

/* ---- the evidence envelope ------------------------------------------------
 * {"format":"secureai-evidence/v1","tee":"sev-snp"|"sim"|"tdx"|"sgx",
 *  "simulated":bool,"notice":"SIMULATED TEE: ..." (sim only),
 *  "report":b64url,"certs":[PEM,...],"quote":b64url,
 *  "collateral":{...},"generated_at":unix}
 * Produced here; parsed and verified by attest (sai_evidence_parse). */
#define SAI_EVIDENCE_FORMAT "secureai-evidence/v1"

/* What goes into an envelope. Zero-initialise, then set what you have:
 * report (SNP/sim) or quote (TDX/SGX); certs_pem and collateral_json may be
 * NULL. Nothing here is owned by the struct. */
typedef struct sai_evidence_parts_t {
    sai_tee_kind_t   tee;
    bool           simulated;
    const uint8_t *report;  size_t report_len;
    const uint8_t *quote;   size_t quote_len;
    const char    *certs_pem;         /* PEM bundle, signing cert first */
    const char    *collateral_json;   /* JSON text */
} sai_evidence_parts_t;

/* Build an envelope from parts; *json malloc'ed, NUL-terminated. */
int sai_evidence_build(char **json, size_t *json_len, const sai_evidence_parts_t *parts,
                       sai_error_t *err) SAI_MUST_CHECK;

/* ---- the simulated platform (sim) ------------------------------------------ */

/* Resolve the platform directory: dir if not NULL, else $SECUREAI_PLATFORM_DIR,
 * else $XDG_DATA_HOME/secureai/sim-platform, else $HOME/.local/share/...
 * Writes at most cap bytes. */
int sai_sim_platform_dir(char *out, size_t cap, const char *dir, sai_error_t *err) SAI_MUST_CHECK;

/* Create the sim ARK -> ASK -> VCEK hierarchy (X.509, ECDSA P-384, VCEK
 * with AMD's TCB and hwID extensions) and a sealing root in dir (0700;
 * private keys 0600). Refuses (SAI_EEXIST) to overwrite unless force. */
int sai_sim_platform_init(const char *dir, bool force, sai_error_t *err) SAI_MUST_CHECK;

/* SHA-256 fingerprint of the platform's ARK (DER), the trust anchor a
 * verifier pins for this simulated platform. */
int sai_sim_platform_ark_fingerprint(const char *dir, uint8_t fp[32], sai_error_t *err) SAI_MUST_CHECK;

/* The launcher computes the launch measurement:
 * SHA-384( "secureai/sim/launch/v1" || u64 len || SHA-384(binary)
 *          || u64 len || SHA-384(spec) || u64 len || SHA-384(policy) ).
 * spec/policy may be NULL (empty). */
int sai_sim_launch_measurement(uint8_t out[48], const char *binary_path,
                               const char *spec_path, const char *policy_path,
                               sai_error_t *err) SAI_MUST_CHECK;

/* The simulated PSP: a separate signer process that holds the platform
 * keys. It is started by the launcher with the measurement the launcher
 * computed; the enclave only ever gets *enclave_fd (a socket). */
typedef struct sai_sim_psp_t {
    int   pid;          /* signer process */
    int   enclave_fd;   /* give this to the enclave (SECUREAI_SIM_PSP_FD) */
} sai_sim_psp_t;

int  sai_sim_psp_start(sai_sim_psp_t *psp, const char *platform_dir,
                       const uint8_t measurement[48], sai_error_t *err) SAI_MUST_CHECK;
/* Close the enclave fd (if still open here) and reap the signer. */
/* As above, plus the 32 bytes of HOST_DATA every report carries (offset
 * 0xC0), chosen by the launcher as the SNP host does at launch; the guest
 * cannot change it. NULL = zeros (what sai_sim_psp_start does). The
 * pipeline host sets it to the spec hash, which the KBS's
 * pipeline_spec_hash release rule checks. */
#define SAI_SIM_HOST_DATA_LEN 32
int  sai_sim_psp_start_ex(sai_sim_psp_t *psp, const char *platform_dir,
                          const uint8_t measurement[48],
                          const uint8_t host_data[SAI_SIM_HOST_DATA_LEN],
                          sai_error_t *err) SAI_MUST_CHECK;
void sai_sim_psp_stop(sai_sim_psp_t *psp);

/* The whole launcher in one call: measure (binary, spec, policy), start the
 * PSP with that measurement, then fork+exec `binary argv` with the PSP fd
 * inherited and SECUREAI_SIM_PSP_FD set; the launcher's copy of the fd is
 * closed. *enclave_pid is the enclave; wait for it, then sai_sim_psp_stop.
 * measurement (may be NULL) receives the launch measurement. */
int sai_sim_launch(sai_sim_psp_t *psp, int *enclave_pid, const char *platform_dir,
                   const char *binary, char *const argv[], const char *spec_path,
                   const char *policy_path, uint8_t measurement[48], sai_error_t *err) SAI_MUST_CHECK;
/* sai_sim_launch with HOST_DATA (see sai_sim_psp_start_ex; NULL = zeros). */
int sai_sim_launch_ex(sai_sim_psp_t *psp, int *enclave_pid, const char *platform_dir,
                      const char *binary, char *const argv[], const char *spec_path,
                      const char *policy_path, const uint8_t host_data[SAI_SIM_HOST_DATA_LEN],
                      uint8_t measurement[48], sai_error_t *err) SAI_MUST_CHECK;

/* ---- the platform service (sim) -------------------------------------------
 * The only holder of the sim platform keys and the only launcher of sim
 * enclaves (src/tee/sim_service.c, docs/threat-model.md). */
#define SAI_SIM_SOCKET_DEFAULT "/run/secureai/platform.sock"
#define SAI_SIM_SERVICE_USER   "secureai-platform"
#define SAI_SIM_ENCLAVE_USER   "secureai-enclave"
#define SAI_SIM_SPEC_MAX       (60u * 1024u)

typedef struct sai_sim_service_opts_t {
    const char *socket_path;     /* NULL = SAI_SIM_SOCKET_DEFAULT */
    const char *platform_dir;    /* created (init) when missing */
    const char *enclave_image;   /* NULL = this program */
    const char *user;            /* started as root: run as this user */
    const char *enclave_user;    /* NULL = SAI_SIM_ENCLAVE_USER */
    int         ready_fd;        /* -1, or gets "ready\n" once serving */
    bool        quiet;
} sai_sim_service_opts_t;

/* Serve until SIGTERM/SIGINT. */
int sai_sim_service_serve(const sai_sim_service_opts_t *o, sai_error_t *err) SAI_MUST_CHECK;

typedef struct sai_sim_connect_opts_t {
    const char *socket_path;     /* NULL = $SECUREAI_PLATFORM_SOCKET, else the default */
    bool        insecure_dev;    /* no service: this user's own platform (nothing proven) */
    const char *platform_dir;    /* insecure_dev only */
    const char *enclave_image;   /* insecure_dev only; NULL = this program */
} sai_sim_connect_opts_t;

/* One connection carries one request; closing it stops a launched enclave. */
typedef struct sai_sim_conn_t {
    int fd;
    int local_pid;               /* insecure_dev: our own monitor */
} sai_sim_conn_t;

typedef struct sai_sim_platform_info_t {
    uint8_t  ark_sha256[32];
    uint32_t service_uid, enclave_uid;
    bool     insecure_dev;
} sai_sim_platform_info_t;

typedef struct sai_sim_launched_t {
    uint8_t  measurement[48];
    uint8_t  host_data[32];      /* SHA-256 of the spec the platform measured */
    int      pid;
    uint32_t enclave_uid;
    bool     insecure_dev;
} sai_sim_launched_t;

int  sai_sim_connect(sai_sim_conn_t *c, const sai_sim_connect_opts_t *o, sai_error_t *err) SAI_MUST_CHECK;
void sai_sim_disconnect(sai_sim_conn_t *c);
int  sai_sim_info(sai_sim_conn_t *c, sai_sim_platform_info_t *info, sai_error_t *err) SAI_MUST_CHECK;
/* The measurement and HOST_DATA a launch with this spec would get. */
int  sai_sim_measure(sai_sim_conn_t *c, const void *spec, size_t len, uint8_t measurement[48],
                     uint8_t host_data[32], sai_error_t *err) SAI_MUST_CHECK;
/* Launch the platform's enclave image with this spec; chan_fd becomes the
 * enclave's descriptor 3 (the caller keeps the other end). */
int  sai_sim_launch_enclave(sai_sim_conn_t *c, const void *spec, size_t len, int chan_fd,
                            sai_sim_launched_t *out, sai_error_t *err) SAI_MUST_CHECK;
/* Wait (at most timeout_ms, -1 = forever) for the enclave's wait status. */
int  sai_sim_wait_exit(sai_sim_conn_t *c, int timeout_ms, int *status, sai_error_t *err) SAI_MUST_CHECK;

/* Inside a sim enclave: the measurement and HOST_DATA the platform recorded
 * at launch (from a report over the enclave's own PSP socket). */
int  sai_sim_launch_claims(sai_tee_t *t, uint8_t measurement[48], uint8_t host_data[32],
                           bool *insecure_dev, sai_error_t *err) SAI_MUST_CHECK;

#endif
