/*
 * tee.c — the backend table dispatch (sai_tee_open & co) and small helpers.
 * Each backend is a const sai_tee_backend_t in its own file: sim.c, tsm.c
 * (sev-snp, tdx), sgx.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee/tee_internal.h"

/* The one table of TEE names (pipeline specs, KBS requests, evidence and
 * the CLI all go through it). sched keeps its own sai_sched_tee_t: it places
 * work on node types and has no crypto. */
static const struct {
    sai_tee_kind_t kind;
    const char  *name;
} tee_names[] = {
    {SAI_TEE_SIM,     "sim"},
    {SAI_TEE_SEV_SNP, "sev-snp"},
    {SAI_TEE_TDX,     "tdx"},
    {SAI_TEE_SGX,     "sgx"},
};

/* Accepted by sai_tee_kind_from_name only, never printed. */
static const struct {
    sai_tee_kind_t kind;
    const char  *alias;
} tee_aliases[] = {
    {SAI_TEE_SEV_SNP, "snp"},
    {SAI_TEE_SEV_SNP, "sev_snp"},
};

const char *sai_tee_kind_name(sai_tee_kind_t k)
{
    for (size_t i = 0; i < sizeof tee_names / sizeof tee_names[0]; i++)
        if (tee_names[i].kind == k)
            return tee_names[i].name;
    return NULL;
}

sai_tee_kind_t sai_tee_kind_from_canonical_name(const char *name)
{
    if (name == NULL)
        return SAI_TEE_NONE;
    for (size_t i = 0; i < sizeof tee_names / sizeof tee_names[0]; i++)
        if (strcmp(name, tee_names[i].name) == 0)
            return tee_names[i].kind;
    return SAI_TEE_NONE;
}

sai_tee_kind_t sai_tee_kind_from_name(const char *name)
{
    sai_tee_kind_t k = sai_tee_kind_from_canonical_name(name);
    if (k != SAI_TEE_NONE || name == NULL)
        return k;
    for (size_t i = 0; i < sizeof tee_aliases / sizeof tee_aliases[0]; i++)
        if (strcmp(name, tee_aliases[i].alias) == 0)
            return tee_aliases[i].kind;
    return SAI_TEE_NONE;
}

int sai_tee__path(char *out, size_t cap, const char *root, const char *path)
{
    int n = snprintf(out, cap, "%s%s", root ? root : "", path);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static const sai_tee_backend_t *backend_for(sai_tee_kind_t kind)
{
    switch (kind) {
    case SAI_TEE_SIM:     return &sai_tee_backend_sim;
    case SAI_TEE_SEV_SNP: return &sai_tee_backend_sev_snp;
    case SAI_TEE_TDX:     return &sai_tee_backend_tdx;
    case SAI_TEE_SGX:     return &sai_tee_backend_sgx;
    default:              return NULL;
    }
}

int sai_tee_open(sai_tee_t **out, sai_tee_kind_t kind, const sai_tee_opts_t *opts, sai_error_t *err)
{
    const sai_tee_backend_t *be = backend_for(kind);
    *out = NULL;
    if (be == NULL)
        return sai_error_set(err, SAI_EINVAL, "unknown TEE kind");
    sai_tee_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    t->be = be;
    if (opts != NULL)
        t->opts = *opts;
    else
        t->opts.psp_fd = -1;
    int rc = be->open(t, &t->opts, err);
    if (rc != 0) {
        free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void sai_tee_close(sai_tee_t *t)
{
    if (t == NULL)
        return;
    if (t->be->close)
        t->be->close(t);
    free(t);
}

sai_tee_kind_t sai_tee_kind_of(const sai_tee_t *t)
{
    return t->be->kind;
}

int sai_tee_measure(sai_tee_t *t, uint8_t out[SAI_TEE_MEASUREMENT_MAX], size_t *len, sai_error_t *err)
{
    return t->be->measure(t, out, len, err);
}

int sai_tee_get_evidence(sai_tee_t *t, const uint8_t rd[SAI_TEE_REPORT_DATA_LEN], char **json,
                         size_t *json_len, sai_error_t *err)
{
    return t->be->get_evidence(t, rd, json, json_len, err);
}

int sai_tee_derive_sealing_key(sai_tee_t *t, const uint8_t *ctx, size_t ctx_len,
                               uint8_t key[SAI_TEE_SEAL_KEY_LEN], sai_error_t *err)
{
    return t->be->derive_sealing_key(t, ctx, ctx_len, key, err);
}
