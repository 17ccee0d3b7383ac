/*
 * sgx.c — the "sgx" backend over Gramine's /dev/attestation pseudo-files:
 * write 64 bytes to user_report_data, read quote (a DCAP quote v3);
 * attestation_type must say "dcap". Sealing keys come from
 * /dev/attestation/keys/_sgx_mrenclave (bound to MRENCLAVE by the CPU),
 * stretched with HKDF over the caller's context. opts.root prefixes every
 * path so tests run against the emulator (tests/tee/emu/tee_emu.c).
 *
 * Gramine's pseudo-files all stat as 0 bytes and make their content when
 * opened (libos attestation pseudo-fs): every read goes to end of file
 * (sai_read_pseudo_file). user_report_data is one process-wide value that
 * the quote file reads when it is opened, and Gramine takes no lock between
 * the two: two threads collecting quotes at once could each get the other's
 * report data. quote_lock makes write-then-open one step in this process.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secureai/crypto.h"
#include "secureai/util.h"
#include "tee/tee_internal.h"

static pthread_mutex_t quote_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct sgx_state {
    char dir[4096];
} sgx_state;

static int sgx_open(sai_tee_t *t, const sai_tee_opts_t *o, sai_error_t *err)
{
    sgx_state *s = calloc(1, sizeof *s);
    struct stat st;
    if (s == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (sai_tee__path(s->dir, sizeof s->dir, o->root, "/dev/attestation") != 0) {
        free(s);
        return sai_error_set(err, SAI_ELIMIT, "root path too long");
    }
    if (stat(s->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        int rc = sai_error_set(err, SAI_ENOTFOUND,
                               "no SGX attestation interface found (looked at %s; run inside Gramine with sgx.remote_attestation = \"dcap\")",
                               s->dir);
        free(s);
        return rc;
    }
    char path[4200];
    uint8_t *type = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/attestation_type", s->dir);
    int rc = sai_read_pseudo_file(path, 64, &type, &n, err);
    if (rc != 0) {
        free(s);
        return rc;
    }
    while (n > 0 && (type[n - 1] == '\n' || type[n - 1] == '\0'))
        type[--n] = '\0';
    bool dcap = strcmp((const char *)type, "dcap") == 0;
    if (!dcap) {
        rc = sai_error_set(err, SAI_EUNSUPP, "Gramine attestation type is \"%.32s\", not \"dcap\"",
                           (const char *)type);
        free(type);
        free(s);
        return rc;
    }
    free(type);
    t->priv = s;
    return 0;
}

static void sgx_close(sai_tee_t *t)
{
    free(t->priv);
    t->priv = NULL;
}

static int sgx_quote(sai_tee_t *t, const uint8_t rd[64], uint8_t **q, size_t *qlen, sai_error_t *err)
{
    const sgx_state *s = t->priv;
    char path[4200];
    int rc;
    snprintf(path, sizeof path, "%s/user_report_data", s->dir);
    pthread_mutex_lock(&quote_lock);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = sai_error_set(err, SAI_EIO, "open %s: %s", path, strerror(errno));
        goto out;
    }
    ssize_t w = write(fd, rd, 64);
    int e = errno;
    if (close(fd) != 0 && w == 64) {   /* Gramine saves it on close */
        w = -1;
        e = errno;
    }
    if (w != 64) {
        rc = sai_error_set(err, SAI_EIO, "write %s: %s", path, w < 0 ? strerror(e) : "short write");
        goto out;
    }
    snprintf(path, sizeof path, "%s/quote", s->dir);
    rc = sai_read_pseudo_file(path, 64 * 1024, q, qlen, err);
out:
    pthread_mutex_unlock(&quote_lock);
    if (rc != 0)
        return rc;
    if (*qlen < 48 + 384) {
        free(*q);
        *q = NULL;
        return sai_error_set(err, SAI_EFORMAT, "%s returned %zu bytes, not an SGX quote", path, *qlen);
    }
    return 0;
}

static int sgx_get_evidence(sai_tee_t *t, const uint8_t rd[64], char **json, size_t *json_len,
                            sai_error_t *err)
{
    uint8_t *q = NULL;
    size_t n = 0;
    int rc = sgx_quote(t, rd, &q, &n, err);
    if (rc != 0)
        return rc;
    sai_evidence_parts_t ev = {.tee = SAI_TEE_SGX, .quote = q, .quote_len = n};
    rc = sai_evidence_build(json, json_len, &ev, err);
    free(q);
    return rc;
}

static int sgx_measure(sai_tee_t *t, uint8_t out[48], size_t *len, sai_error_t *err)
{
    uint8_t rd[64] = {0}, *q = NULL;
    size_t n = 0;
    int rc = sgx_quote(t, rd, &q, &n, err);
    if (rc != 0)
        return rc;
    memcpy(out, q + 48 + 64, 32);   /* report body: cpusvn16 misc4 rsv28 attr16 MRENCLAVE */
    *len = 32;
    free(q);
    return 0;
}

static int sgx_derive(sai_tee_t *t, const uint8_t *ctx, size_t ctx_len, uint8_t key[32], sai_error_t *err)
{
    const sgx_state *s = t->priv;
    char path[4200];
    uint8_t *k = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/keys/_sgx_mrenclave", s->dir);
    int rc = sai_read_pseudo_file(path, 64, &k, &n, err);
    if (rc != 0)
        return rc;
    static const char label[] = "secureai/sgx/seal/v1";
    if (n != 16)
        rc = sai_error_set(err, SAI_EFORMAT, "%s is %zu bytes, expected 16", path, n);
    else
        rc = sai_hkdf_sha256(key, 32, k, n, (const uint8_t *)label, sizeof label - 1, ctx, ctx_len, err);
    sai_wipe(k, n);
    free(k);
    return rc;
}

const sai_tee_backend_t sai_tee_backend_sgx = {
    SAI_TEE_SGX, sgx_open, sgx_close, sgx_measure, sgx_get_evidence, sgx_derive,
};
