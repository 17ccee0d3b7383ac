/*
 * masterkey.c — the KBS master key file (<data_dir>/master.key, mode 0600).
 *
 * Two forms. Plain: the 32 key bytes. Sealed to the KBS's own TEE (chosen
 * when the key is created, `seal_master_key: sim|sev-snp|tdx|sgx`):
 *   "SAIKMK01" || tee kind (1 byte) || nonce (12) || AES-256-GCM(key) (32) || tag (16)
 * under sai_tee_derive_sealing_key(context "secureai/v1/kbs-master-key"),
 * with the first 9 bytes as associated data. The sealing key is bound to the
 * platform and the KBS binary's measurement, so a copy of the data directory
 * is useless on another machine or to another program. Either way a key file
 * that group or others can read is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kbs/kbs_internal.h"
#include "secureai/tee.h"
#include "secureai/util.h"

#define MK_MAGIC     "SAIKMK01"
#define MK_HDR       9
#define MK_SEALED    (MK_HDR + SAI_AEAD_NONCE_LEN + 32 + SAI_AEAD_TAG_LEN)
#define MK_CONTEXT   "secureai/v1/kbs-master-key"

static int sealing_key(sai_tee_kind_t kind, uint8_t k[32], sai_error_t *err)
{
    sai_tee_t *t = NULL;
    sai_tee_opts_t o;
    memset(&o, 0, sizeof o);
    o.psp_fd = -1;
    int rc = sai_tee_open(&t, kind, &o, err);
    if (rc != 0)
        return sai_error_prefix(err, "the master key is sealed to the %s TEE", sai_tee_kind_name(kind));
    rc = sai_tee_derive_sealing_key(t, (const uint8_t *)MK_CONTEXT, sizeof MK_CONTEXT - 1, k, err);
    sai_tee_close(t);
    return rc;
}

static int seal_new(const char *path, const char *tee, uint8_t key[32], sai_error_t *err)
{
    sai_tee_kind_t kind = sai_tee_kind_from_name(tee);
    if (kind == SAI_TEE_NONE)
        return sai_error_set(err, SAI_EINVAL, "seal_master_key: unknown TEE kind \"%s\"", tee);
    uint8_t file[MK_SEALED], k[32];
    sai_aead_t *a = NULL;
    memcpy(file, MK_MAGIC, 8);
    file[8] = (uint8_t)kind;
    int rc = sealing_key(kind, k, err);
    if (rc == 0 && (rc = sai_random_bytes(file + MK_HDR, SAI_AEAD_NONCE_LEN, err)) == 0 &&
        (rc = sai_aead_new(&a, k, err)) == 0)
        rc = sai_aead_seal(a, file + MK_HDR + SAI_AEAD_NONCE_LEN, file + MK_HDR + SAI_AEAD_NONCE_LEN + 32,
                           key, 32, file, MK_HDR, file + MK_HDR, err);
    sai_aead_free(a);
    sai_wipe(k, sizeof k);
    if (rc == 0)
        rc = sai_write_file_atomic(path, file, sizeof file, 0600, true, err);
    return rc;
}

static int unseal(const uint8_t *file, uint8_t key[32], sai_error_t *err)
{
    sai_tee_kind_t kind = (sai_tee_kind_t)file[8];
    if (sai_tee_kind_name(kind) == NULL || kind == SAI_TEE_NONE)
        return sai_error_set(err, SAI_EFORMAT, "the sealed master key names an unknown TEE");
    uint8_t k[32];
    sai_aead_t *a = NULL;
    int rc = sealing_key(kind, k, err);
    if (rc == 0 && (rc = sai_aead_new(&a, k, err)) == 0) {
        rc = sai_aead_open(a, key, file + MK_HDR + SAI_AEAD_NONCE_LEN, 32,
                           file + MK_HDR + SAI_AEAD_NONCE_LEN + 32, file, MK_HDR, file + MK_HDR, err);
        if (rc != 0)
            rc = sai_error_set(err, SAI_EAUTH, "the master key does not unseal in this %s TEE "
                               "(another platform or another KBS binary)", sai_tee_kind_name(kind));
    }
    sai_aead_free(a);
    sai_wipe(k, sizeof k);
    return rc;
}

int sai_kbs__master_key_load(const char *dir, bool create, const char *seal_tee, uint8_t key[32],
                            sai_error_t *err)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, SAI_KBS_MASTER_KEY_FILE);
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT || !create)
            return sai_error_set(err, SAI_ENOTFOUND, "no master key at %s", path);
        int rc = sai_random_bytes(key, 32, err);
        if (rc == 0)
            rc = seal_tee && *seal_tee ? seal_new(path, seal_tee, key, err)
                                       : sai_write_file_atomic(path, key, 32, 0600, true, err);
        if (rc != 0)
            sai_wipe(key, 32);
        return rc;
    }
    if ((st.st_mode & 077) != 0)
        return sai_error_set(err, SAI_EPOLICY,
                             "master key %s is readable by group or others (mode %o); chmod 600 it",
                             path, (unsigned)(st.st_mode & 0777));
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = sai_read_file(path, 256, &buf, &len, err);
    if (rc != 0)
        return rc;
    if (len == 32) {
        if (seal_tee && *seal_tee)
            rc = sai_error_set(err, SAI_ESTATE, "master key %s exists unsealed; refusing to "
                               "pretend it is sealed to %s", path, seal_tee);
        else
            memcpy(key, buf, 32);
    } else if (len == MK_SEALED && memcmp(buf, MK_MAGIC, 8) == 0) {
        rc = unseal(buf, key, err);
    } else {
        rc = sai_error_set(err, SAI_EFORMAT, "master key %s is neither 32 key bytes nor a sealed "
                           "key (%zu bytes)", path, len);
    }
    sai_wipe(buf, len);
    free(buf);
    return rc;
}
