/*
 * aead.c — AES-256-GCM through OpenSSL's EVP interface.
 *
 * One EVP_CIPHER_CTX per direction is kept with the key schedule already
 * expanded, so each message only re-sets the nonce (important for the sealed
 * format's 64 KiB chunks: re-keying per chunk would cost more than the chunk).
 */
#include "secureai/crypto.h"

#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>

struct sai_aead_t {
    EVP_CIPHER_CTX *enc;
    EVP_CIPHER_CTX *dec;
};

void sai_aead_free(sai_aead_t *a)
{
    if (a == NULL)
        return;
    EVP_CIPHER_CTX_free(a->enc);   /* EVP_CIPHER_CTX_free cleanses the key schedule */
    EVP_CIPHER_CTX_free(a->dec);
    free(a);
}

int sai_aead_new(sai_aead_t **out, const uint8_t key[static SAI_AEAD_KEY_LEN], sai_error_t *err)
{
    *out = NULL;
    sai_aead_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    a->enc = EVP_CIPHER_CTX_new();
    a->dec = EVP_CIPHER_CTX_new();
    if (a->enc == NULL || a->dec == NULL ||
        EVP_EncryptInit_ex(a->enc, EVP_aes_256_gcm(), NULL, key, NULL) != 1 ||
        EVP_DecryptInit_ex(a->dec, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
        sai_aead_free(a);
        return sai_error_set(err, SAI_ECRYPTO, "cannot initialise AES-256-GCM");
    }
    *out = a;
    return 0;
}

int sai_aead_seal(sai_aead_t *a, uint8_t *ct, uint8_t tag[static SAI_AEAD_TAG_LEN],
                  const uint8_t *pt, size_t len, const uint8_t *aad, size_t aad_len,
                  const uint8_t nonce[static SAI_AEAD_NONCE_LEN], sai_error_t *err)
{
    int n;
    if (len > INT_MAX || aad_len > INT_MAX)
        return sai_error_set(err, SAI_EINVAL, "AEAD message too large");
    if (EVP_EncryptInit_ex(a->enc, NULL, NULL, NULL, nonce) != 1)
        goto fail;
    if (aad_len > 0 && EVP_EncryptUpdate(a->enc, NULL, &n, aad, (int)aad_len) != 1)
        goto fail;
    if (len > 0 && EVP_EncryptUpdate(a->enc, ct, &n, pt, (int)len) != 1)
        goto fail;
    if (EVP_EncryptFinal_ex(a->enc, ct + len, &n) != 1)
        goto fail;
    if (EVP_CIPHER_CTX_ctrl(a->enc, EVP_CTRL_GCM_GET_TAG, SAI_AEAD_TAG_LEN, tag) != 1)
        goto fail;
    return 0;
fail:
    return sai_error_set(err, SAI_ECRYPTO, "AES-256-GCM encryption failed");
}

int sai_aead_open(sai_aead_t *a, uint8_t *pt, const uint8_t *ct, size_t len,
                  const uint8_t tag[static SAI_AEAD_TAG_LEN],
                  const uint8_t *aad, size_t aad_len,
                  const uint8_t nonce[static SAI_AEAD_NONCE_LEN], sai_error_t *err)
{
    int n;
    if (len > INT_MAX || aad_len > INT_MAX)
        return sai_error_set(err, SAI_EINVAL, "AEAD message too large");
    if (EVP_DecryptInit_ex(a->dec, NULL, NULL, NULL, nonce) != 1)
        goto fail;
    if (aad_len > 0 && EVP_DecryptUpdate(a->dec, NULL, &n, aad, (int)aad_len) != 1)
        goto fail;
    if (len > 0 && EVP_DecryptUpdate(a->dec, pt, &n, ct, (int)len) != 1)
        goto fail;
    /* EVP wants a non-const tag pointer; it only reads it. */
    if (EVP_CIPHER_CTX_ctrl(a->dec, EVP_CTRL_GCM_SET_TAG, SAI_AEAD_TAG_LEN, (void *)tag) != 1)
        goto fail;
    if (EVP_DecryptFinal_ex(a->dec, pt + len, &n) != 1) {
        sai_wipe(pt, len);   /* never release unauthenticated plaintext */
        return sai_error_set(err, SAI_EAUTH, "authentication tag mismatch");
    }
    return 0;
fail:
    sai_wipe(pt, len);
    return sai_error_set(err, SAI_ECRYPTO, "AES-256-GCM decryption failed");
}
