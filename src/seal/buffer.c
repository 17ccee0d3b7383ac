/*
 * buffer.c — seal a buffer to memory in the sealed-file format.
 *
 * For a caller that may not create files (the pipeline enclave: its
 * seccomp filter refuses open) but whose output must be exactly what
 * `secureai unseal` and sai_seal_open read. Same header, HKDF file key and
 * STREAM nonces as writer.c; the whole output is one allocation.
 * tests/seal/test_seal_buffer.c reads the result back with sai_seal_open_mem.
 */
#include "seal/seal_internal.h"

#include <stdlib.h>
#include <string.h>

int sai_seal_buffer(uint8_t **out, size_t *out_len, const uint8_t key[static SAI_SEAL_KEY_LEN],
                    const sai_seal_params_t *p, const void *pt, size_t len, sai_error_t *err)
{
    *out = NULL;
    *out_len = 0;
    sai_seal_header_t h;
    uint8_t hdr[SAI_SEAL_HEADER_MAX], salt[SAI_SEAL_SALT_LEN], fkey[32];
    sai_aead_t *a = NULL;
    const char *kid = p && p->key_id ? p->key_id : SAI_SEAL_DEFAULT_KEY_ID;
    uint32_t cs = p && p->chunk_size ? p->chunk_size : SAI_SEAL_CHUNK_DEFAULT;
    int rc;
    if ((rc = sai_random_bytes(salt, sizeof salt, err)) ||
        (rc = sai_seal__header_build(&h, hdr, cs, len, salt, kid, err)))
        return rc;
    if (h.sealed_len > SIZE_MAX)
        return sai_error_set(err, SAI_ELIMIT, "%zu bytes do not fit in memory once sealed", len);
    rc = sai_seal__derive(fkey, key, salt, SAI_SEAL_INFO_FILE, kid, err);
    if (rc == 0)
        rc = sai_aead_new(&a, fkey, err);
    sai_wipe(fkey, sizeof fkey);
    if (rc)
        return rc;
    uint8_t *buf = malloc((size_t)h.sealed_len);
    if (buf == NULL) {
        sai_aead_free(a);
        return sai_error_set(err, SAI_ENOMEM, "out of memory sealing %zu bytes", len);
    }
    memcpy(buf, hdr, h.header_len);
    const uint8_t *src = pt;
    for (uint64_t i = 0; i < h.chunks && rc == 0; i++) {
        uint8_t nonce[SAI_AEAD_NONCE_LEN];
        size_t n = sai_seal__chunk_len(&h, i);
        uint8_t *dst = buf + sai_seal__chunk_off(&h, i);
        sai_seal__nonce(nonce, i, i + 1 == h.chunks);
        rc = sai_aead_seal(a, dst, dst + n, src + i * (uint64_t)h.chunk_size, n, hdr, h.header_len, nonce, err);
    }
    sai_aead_free(a);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = (size_t)h.sealed_len;
    return 0;
}
