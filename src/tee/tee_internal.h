/* tee_internal.h — private helpers shared by the files in src/tee. */
#ifndef SAI_TEE_INT_H
#define SAI_TEE_INT_H

#include <stdbool.h>
#include <sys/types.h>

#include "secureai/crypto.h"
#include "secureai/tee.h"

/* ---- the backend table (private: callers use the sai_tee_* functions) ---- */

/* Each backend is a const instance of this struct (sim.c, tsm.c, sgx.c). */
typedef struct sai_tee_backend_t {
    sai_tee_kind_t kind;            /* its name: sai_tee_kind_name(kind) */
    int  (*open)(sai_tee_t *t, const sai_tee_opts_t *o, sai_error_t *err);
    void (*close)(sai_tee_t *t);
    /* The launch measurement as the TEE reports it (SNP MEASUREMENT, TDX
     * MRTD, SGX MRENCLAVE). *len is set to 48 or 32. */
    int  (*measure)(sai_tee_t *t, uint8_t out[SAI_TEE_MEASUREMENT_MAX], size_t *len,
                    sai_error_t *err);
    /* Evidence envelope JSON (malloc'ed, NUL-terminated) binding report_data. */
    int  (*get_evidence)(sai_tee_t *t, const uint8_t report_data[SAI_TEE_REPORT_DATA_LEN],
                         char **json, size_t *json_len, sai_error_t *err);
    /* A 32-byte key bound to this platform and measurement (+ context). */
    int  (*derive_sealing_key)(sai_tee_t *t, const uint8_t *context, size_t context_len,
                               uint8_t key[SAI_TEE_SEAL_KEY_LEN], sai_error_t *err);
} sai_tee_backend_t;

struct sai_tee_t {
    const sai_tee_backend_t *be;
    sai_tee_opts_t           opts;
    void                  *priv;       /* backend state */
};

extern const sai_tee_backend_t sai_tee_backend_sim;
extern const sai_tee_backend_t sai_tee_backend_sev_snp;
extern const sai_tee_backend_t sai_tee_backend_tdx;
extern const sai_tee_backend_t sai_tee_backend_sgx;

/* ---- helpers ---- */

/* Join root + path into out (cap bytes); root may be NULL/"". */
int sai_tee__path(char *out, size_t cap, const char *root, const char *path);

/* The sim platform's fixed identity, written at init (platform.json). */
typedef struct sai_sim_identity_t {
    uint8_t  chip_id[64];
    uint64_t tcb_raw;     /* Milan/Genoa byte order */
} sai_sim_identity_t;

int sai_tee__sim_identity_load(sai_sim_identity_t *id, const char *dir, sai_error_t *err);

/* PSP protocol */
#define SAI_PSP_MAGIC        0x50535053u   /* "SPSP" */
#define SAI_PSP_GET_REPORT   1u
#define SAI_PSP_DERIVE_KEY   2u
#define SAI_PSP_MEASURE      3u
#define SAI_PSP_REQ_MAX      4096u
#define SAI_PSP_RESP_MAX     (64u * 1024u)

/* Client side: one request, one response (*resp malloc'ed). */
int sai_tee__psp_call(int fd, uint32_t type, const void *body, size_t body_len,
                 uint8_t **resp, size_t *resp_len, sai_error_t *err);

/* The signer: the platform keys and what the platform recorded at launch.
 * Only the sim PSP process (self-launch, insecure-dev) or the platform
 * service's launch monitor (sim_service.c) ever holds one. */
typedef struct sai_sim_signer_t {
    sai_ec_key_t      *vcek;
    uint8_t          seal_root[32];
    uint8_t          measurement[48];
    uint8_t          host_data[32];   /* set by the launcher, zeros if none */
    uint8_t          report_id[32];
    bool             insecure_dev;    /* not launched by the platform service */
    sai_sim_identity_t id;
    char            *chain;           /* vcek.pem + ask.pem + ark.pem */
    size_t           chain_len;
} sai_sim_signer_t;

/* Reports of enclaves the platform service did not launch carry this in
 * FAMILY_ID (offset 0x10): the launcher held the platform key. */
#define SAI_SIM_INSECURE_DEV_MARK "INSECURE-DEV"

int  sai_tee__sim_signer_load(sai_sim_signer_t *s, const char *dir, sai_error_t *err);
/* Serve one PSP request on fd; 0 = go on, -1 = the session is over. */
int  sai_tee__sim_signer_handle(const sai_sim_signer_t *s, int fd);
void sai_tee__sim_signer_clear(sai_sim_signer_t *s);

/* The start-up handshake of a child that loads the platform keys: the
 * child reports once (0 or its error), the parent waits once (0 when the
 * child is serving, else -1 with its reason in why, "" if it just exited).
 * Each closes its end of the pipe. */
int sai_tee__sim_start_report(int fd, int rc, const sai_error_t *e);
int sai_tee__sim_start_wait(int fd, char *why, size_t cap);

/* Close *fd (a channel to a child) and wait for the child *pid; both -1 after. */
void sai_tee__sim_close_reap(int *fd, int *pid);

/* Fork a child that will load the platform keys from dir (see sim_psp.c). */
pid_t sai_tee__sim_fork_keyholder(const char *dir, int type, int sv[2], int hp[2], sai_error_t *err);

#endif
