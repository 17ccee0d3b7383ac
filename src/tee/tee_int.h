/* tee_int.h — private helpers shared by the files in src/tee. */
#ifndef SAI_TEE_INT_H
#define SAI_TEE_INT_H

#include "secureai/tee.h"

/* Join root + path into out (cap bytes); root may be NULL/"". */
int sai_tee_path(char *out, size_t cap, const char *root, const char *path);

/* The sim platform's fixed identity, written at init (platform.json). */
typedef struct sai_sim_identity {
    uint8_t  chip_id[64];
    uint64_t tcb_raw;     /* Milan/Genoa byte order */
} sai_sim_identity;

int sai_sim_identity_load(sai_sim_identity *id, const char *dir, sai_error *err);

/* PSP protocol */
#define SAI_PSP_MAGIC        0x50535053u   /* "SPSP" */
#define SAI_PSP_GET_REPORT   1u
#define SAI_PSP_DERIVE_KEY   2u
#define SAI_PSP_MEASURE      3u
#define SAI_PSP_REQ_MAX      4096u
#define SAI_PSP_RESP_MAX     (64u * 1024u)

/* Client side: one request, one response (*resp malloc'ed). */
int sai_psp_call(int fd, uint32_t type, const void *body, size_t body_len,
                 uint8_t **resp, size_t *resp_len, sai_error *err);

#endif
