/*
 * seal_mem.c — seal a buffer to memory in the sealed-file format.
 *
 * The enclave may not create files (its seccomp filter refuses open), yet
 * its output — the sealed model — must be in exactly the format `secureai
 * unseal` and sai_seal_open read. The public writer only writes to a path,
 * so this builds the file in memory from src/seal's own building blocks
 * (header, HKDF file key, STREAM nonces); the AEAD is crypto.h's. Nothing
 * about the format is decided here. tests/pipeline/test_seal_mem.c reads
 * the result back with sai_seal_open_mem.
 */
#include "pipeline/pipeline_internal.h"
#include "seal/seal_internal.h"

#include <stdlib.h>
#include <string.h>

int sai_pipeline__seal_mem(uint8_t **out, size_t *out_len, const uint8_t key[static 32],
                           const char *key_id, const void *pt, size_t len, sai_error *err)
{
    *out = NULL;
    *out_len = 0;
    sai_seal_header h;
    uint8_t hdr[SAI_SEAL_HEADER_MAX], salt[SAI_SEAL_SALT_LEN], fkey[32];
    sai_aead *a = NULL;
    const char *kid = key_id ? key_id : SAI_SEAL_DEFAULT_KEY_ID;
    int rc;
    if ((rc = sai_random_bytes(salt, sizeof salt, err)) ||
        (rc = sai_seal__header_build(&h, hdr, SAI_SEAL_CHUNK_DEFAULT, len, salt, kid, err)))
        return rc;
    rc = sai_seal__derive(fkey, key, salt, SAI_SEAL_INFO_FILE, kid, err);
    if (rc == 0)
        rc = sai_aead_new(&a, fkey, err);
    sai_wipe(fkey, sizeof fkey);
    if (rc)
        return rc;
    uint8_t *buf = malloc(h.sealed_len);
    if (buf == NULL) {
        sai_aead_free(a);
        return sai_error_set(err, SAI_ENOMEM, "out of memory sealing %zu bytes", len);
    }
    memcpy(buf, hdr, h.header_len);
    const uint8_t *p = pt;
    for (uint64_t i = 0; i < h.chunks && rc == 0; i++) {
        uint8_t nonce[SAI_AEAD_NONCE_LEN];
        size_t n = sai_seal__chunk_len(&h, i);
        uint8_t *dst = buf + sai_seal__chunk_off(&h, i);
        sai_seal__nonce(nonce, i, i + 1 == h.chunks);
        rc = sai_aead_seal(a, dst, dst + n, p + i * (uint64_t)h.chunk_size, n, hdr, h.header_len, nonce, err);
    }
    sai_aead_free(a);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = h.sealed_len;
    return 0;
}
