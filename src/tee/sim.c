/*
 * sim.c — the "sim" backend: the enclave side of the simulated TEE.
 *
 * It never touches platform keys. With a launcher (the normal case) it
 * talks to the PSP signer over the fd the launcher handed down
 * (opts.psp_fd or SECUREAI_SIM_PSP_FD). Without one ("self-launch", e.g.
 * `secureai attest --tee sim` typed at a shell) this process plays the
 * launcher first: it measures /proc/self/exe (+ spec and policy files),
 * then forks the signer, which alone loads the keys; see sim_psp.c and
 * docs/attestation.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secureai/crypto.h"
#include "tee/tee_internal.h"

typedef struct sim_state {
    int         fd;
    sai_sim_psp_t psp;      /* self-launch only */
    bool        own_psp;
} sim_state;

static int sim_open(sai_tee_t *t, const sai_tee_opts_t *o, sai_error_t *err)
{
    sim_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    s->fd = -1;
    s->psp.pid = -1;
    s->psp.enclave_fd = -1;
    const char *env = getenv("SECUREAI_SIM_PSP_FD");
    if (o->psp_fd > 0) {
        s->fd = o->psp_fd;
    } else if (env != NULL && env[0] != '\0') {
        char *end;
        long fd = strtol(env, &end, 10);
        if (*end != '\0' || fd < 3 || fd > 65535) {
            free(s);
            return sai_error_set(err, SAI_EINVAL, "SECUREAI_SIM_PSP_FD='%s' is not a file descriptor", env);
        }
        s->fd = (int)fd;
    } else {
        uint8_t m[48];
        int rc = sai_sim_launch_measurement(m, "/proc/self/exe", o->spec_path, o->policy_path, err);
        if (rc == 0)
            rc = sai_sim_psp_start(&s->psp, o->platform_dir, m, err);
        if (rc != 0) {
            free(s);
            return rc;
        }
        s->fd = s->psp.enclave_fd;
        s->own_psp = true;
    }
    t->priv = s;
    return 0;
}

static void sim_close(sai_tee_t *t)
{
    sim_state *s = t->priv;
    if (s == NULL)
        return;
    if (s->own_psp)
        sai_sim_psp_stop(&s->psp);
    free(s);
    t->priv = NULL;
}

static int sim_measure(sai_tee_t *t, uint8_t out[SAI_TEE_MEASUREMENT_MAX], size_t *len, sai_error_t *err)
{
    sim_state *s = t->priv;
    uint8_t *resp = NULL;
    size_t n = 0;
    int rc = sai_tee__psp_call(s->fd, SAI_PSP_MEASURE, NULL, 0, &resp, &n, err);
    if (rc != 0)
        return rc;
    if (n != 48) {
        free(resp);
        return sai_error_set(err, SAI_EFORMAT, "sim PSP returned a %zu-byte measurement", n);
    }
    memcpy(out, resp, 48);
    *len = 48;
    free(resp);
    return 0;
}

static int sim_get_evidence(sai_tee_t *t, const uint8_t rd[64], char **json, size_t *json_len,
                            sai_error_t *err)
{
    sim_state *s = t->priv;
    uint8_t *resp = NULL;
    size_t n = 0;
    int rc = sai_tee__psp_call(s->fd, SAI_PSP_GET_REPORT, rd, 64, &resp, &n, err);
    if (rc != 0)
        return rc;
    if (n <= SAI_SNP_REPORT_LEN) {
        free(resp);
        return sai_error_set(err, SAI_EFORMAT, "sim PSP returned no certificate chain");
    }
    sai_evidence_parts_t ev = {.tee = SAI_TEE_SIM, .simulated = true,
                             .report = resp, .report_len = SAI_SNP_REPORT_LEN,
                             .certs_pem = (const char *)resp + SAI_SNP_REPORT_LEN};
    rc = sai_evidence_build(json, json_len, &ev, err);
    free(resp);
    return rc;
}

static int sim_derive(sai_tee_t *t, const uint8_t *ctx, size_t ctx_len, uint8_t key[32], sai_error_t *err)
{
    sim_state *s = t->priv;
    uint8_t *resp = NULL;
    size_t n = 0;
    int rc = sai_tee__psp_call(s->fd, SAI_PSP_DERIVE_KEY, ctx, ctx_len, &resp, &n, err);
    if (rc != 0)
        return rc;
    if (n == 32)
        memcpy(key, resp, 32);
    else
        rc = sai_error_set(err, SAI_EFORMAT, "sim PSP returned a %zu-byte key", n);
    sai_wipe(resp, n);
    free(resp);
    return rc;
}

const sai_tee_backend_t sai_tee_backend_sim = {
    SAI_TEE_SIM, sim_open, sim_close, sim_measure, sim_get_evidence, sim_derive,
};

int sai_sim_launch_claims(sai_tee_t *t, uint8_t measurement[48], uint8_t host_data[32], bool *insecure_dev,
                          sai_error_t *err)
{
    if (t == NULL || t->be != &sai_tee_backend_sim)
        return sai_error_set(err, SAI_EUNSUPP, "launch claims: not a sim TEE");
    sim_state *s = t->priv;
    static const uint8_t zero[64];
    uint8_t *resp = NULL;
    size_t n = 0;
    int rc = sai_tee__psp_call(s->fd, SAI_PSP_GET_REPORT, zero, 64, &resp, &n, err);
    if (rc != 0)
        return rc;
    if (n < SAI_SNP_REPORT_LEN) {
        free(resp);
        return sai_error_set(err, SAI_EFORMAT, "sim PSP returned a short report");
    }
    memcpy(measurement, resp + 0x90, 48);
    memcpy(host_data, resp + 0xC0, 32);
    *insecure_dev = memcmp(resp + 0x10, SAI_SIM_INSECURE_DEV_MARK, sizeof SAI_SIM_INSECURE_DEV_MARK - 1) == 0;
    free(resp);
    return 0;
}
