/*
 * hash.c — SHA-2, HMAC-SHA-256 and HKDF-SHA-256 over OpenSSL 3.
 */
#include "secureai/crypto.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <stdlib.h>

struct sai_hash_ctx_t {
    EVP_MD_CTX  *md;
    sai_hash_alg_t alg;
};

static const EVP_MD *md_of(sai_hash_alg_t alg)
{
    switch (alg) {
    case SAI_SHA256: return EVP_sha256();
    case SAI_SHA384: return EVP_sha384();
    case SAI_SHA512: return EVP_sha512();
    }
    return NULL;
}

size_t sai_hash_len(sai_hash_alg_t alg)
{
    switch (alg) {
    case SAI_SHA256: return SAI_SHA256_LEN;
    case SAI_SHA384: return SAI_SHA384_LEN;
    case SAI_SHA512: return SAI_SHA512_LEN;
    }
    return 0;
}

int sai_hash(sai_hash_alg_t alg, uint8_t *out, const void *data, size_t len, sai_error_t *err)
{
    const EVP_MD *md = md_of(alg);
    if (md == NULL)
        return sai_error_set(err, SAI_EINVAL, "unknown hash algorithm");
    if (EVP_Digest(data, len, out, NULL, md, NULL) != 1)
        return sai_error_set(err, SAI_ECRYPTO, "hash computation failed");
    return 0;
}

int sai_hash_new(sai_hash_ctx_t **out, sai_hash_alg_t alg, sai_error_t *err)
{
    *out = NULL;
    const EVP_MD *md = md_of(alg);
    if (md == NULL)
        return sai_error_set(err, SAI_EINVAL, "unknown hash algorithm");
    sai_hash_ctx_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    h->alg = alg;
    h->md = EVP_MD_CTX_new();
    if (h->md == NULL || EVP_DigestInit_ex(h->md, md, NULL) != 1) {
        sai_hash_free(h);
        return sai_error_set(err, SAI_ECRYPTO, "cannot initialise hash");
    }
    *out = h;
    return 0;
}

int sai_hash_update(sai_hash_ctx_t *h, const void *data, size_t len, sai_error_t *err)
{
    if (len > 0 && EVP_DigestUpdate(h->md, data, len) != 1)
        return sai_error_set(err, SAI_ECRYPTO, "hash update failed");
    return 0;
}

int sai_hash_final(sai_hash_ctx_t *h, uint8_t *out, sai_error_t *err)
{
    if (EVP_DigestFinal_ex(h->md, out, NULL) != 1)
        return sai_error_set(err, SAI_ECRYPTO, "hash finalisation failed");
    return 0;
}

void sai_hash_free(sai_hash_ctx_t *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->md);
    free(h);
}

int sai_hmac_sha256(uint8_t out[static SAI_SHA256_LEN], const uint8_t *key, size_t key_len,
                    const void *data, size_t len, sai_error_t *err)
{
    size_t olen = 0;
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, key_len, data, len,
                  out, SAI_SHA256_LEN, &olen) == NULL || olen != SAI_SHA256_LEN)
        return sai_error_set(err, SAI_ECRYPTO, "HMAC-SHA-256 failed");
    return 0;
}

int sai_hkdf_sha256(uint8_t *out, size_t out_len, const uint8_t *ikm, size_t ikm_len,
                    const uint8_t *salt, size_t salt_len, const uint8_t *info, size_t info_len,
                    sai_error_t *err)
{
    int ret = SAI_ECRYPTO;
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[5], *p = params;

    if (out_len == 0 || out_len > 255 * SAI_SHA256_LEN)
        return sai_error_set(err, SAI_EINVAL, "HKDF output length %zu out of range", out_len);
    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (kdf == NULL || (kctx = EVP_KDF_CTX_new(kdf)) == NULL)
        goto out;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
    if (salt_len > 0)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    if (info_len > 0)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    *p = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(kctx, out, out_len, params) != 1)
        goto out;
    ret = 0;
out:
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    if (ret != 0)
        return sai_error_set(err, ret, "HKDF-SHA-256 failed");
    return 0;
}
