/*
 * crypto.h — SecureAI's crypto core: thin wrappers over OpenSSL 3 (EVP).
 *
 * No cipher is written here; every primitive is OpenSSL's. The wrappers fix
 * the algorithms (AES-256-GCM, HKDF-SHA-256, SHA-2, ECDSA/ECDH P-384), give
 * them libsodium-shaped signatures (caller-allocated output first, explicit
 * lengths, int return), and make the safe thing the default: decryption wipes
 * its output when the tag does not verify, comparisons of MACs are constant
 * time, secrets live in locked pages that are wiped on free.
 */
#ifndef SECUREAI_CRYPTO_H
#define SECUREAI_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secureai/common.h"

/* ---- sizes ------------------------------------------------------------- */
#define SAI_AEAD_KEY_LEN    32
#define SAI_AEAD_NONCE_LEN  12
#define SAI_AEAD_TAG_LEN    16
#define SAI_SHA256_LEN      32
#define SAI_SHA384_LEN      48
#define SAI_SHA512_LEN      64
#define SAI_P384_SCALAR_LEN 48
#define SAI_P384_POINT_LEN  97   /* uncompressed: 0x04 || X || Y */
#define SAI_P384_SIG_LEN    96   /* raw r || s, big-endian (JWS ES384 form) */
#define SAI_ECDH_P384_LEN   48

/* ---- random, wiping, constant-time compare ------------------------------ */
int  sai_random_bytes(void *buf, size_t len, sai_error_t *err) SAI_MUST_CHECK;
void sai_wipe(void *buf, size_t len);
/* 1 when equal, 0 otherwise; time depends only on len. */
int  sai_ct_equal(const void *a, const void *b, size_t len);

/* ---- secret buffers -------------------------------------------------------
 * Page-aligned, mlock'ed (best effort: a failed mlock is recorded in
 * `locked`, not fatal), excluded from core dumps (MADV_DONTDUMP), wiped with
 * OPENSSL_cleanse and unmapped on free. The caller owns the buffer and frees
 * it with sai_secret_free (NULL is fine). */
typedef struct sai_secret_t {
    uint8_t *data;
    size_t   len;
    size_t   map_len;
    bool     locked;
} sai_secret_t;

int  sai_secret_new(sai_secret_t **out, size_t len, sai_error_t *err) SAI_MUST_CHECK;
void sai_secret_free(sai_secret_t *s);

/* ---- AEAD: AES-256-GCM ---------------------------------------------------
 * A context holds an expanded key; reuse it for many messages (the sealed
 * format does one call per 64 KiB chunk). Not thread-safe: one per thread. */
typedef struct sai_aead_t sai_aead_t;

int  sai_aead_new(sai_aead_t **out, const uint8_t key[static SAI_AEAD_KEY_LEN],
                  sai_error_t *err) SAI_MUST_CHECK;
void sai_aead_free(sai_aead_t *a);

/* ct may equal pt (in place). */
int sai_aead_seal(sai_aead_t *a, uint8_t *ct, uint8_t tag[static SAI_AEAD_TAG_LEN],
                  const uint8_t *pt, size_t len,
                  const uint8_t *aad, size_t aad_len,
                  const uint8_t nonce[static SAI_AEAD_NONCE_LEN],
                  sai_error_t *err) SAI_MUST_CHECK;

/* Returns SAI_EAUTH when the tag does not verify; pt is then wiped, so no
 * unauthenticated plaintext ever leaves. pt may equal ct. */
int sai_aead_open(sai_aead_t *a, uint8_t *pt,
                  const uint8_t *ct, size_t len,
                  const uint8_t tag[static SAI_AEAD_TAG_LEN],
                  const uint8_t *aad, size_t aad_len,
                  const uint8_t nonce[static SAI_AEAD_NONCE_LEN],
                  sai_error_t *err) SAI_MUST_CHECK;

/* ---- hashes, HMAC, HKDF -------------------------------------------------- */
typedef enum { SAI_SHA256 = 1, SAI_SHA384 = 2, SAI_SHA512 = 3 } sai_hash_alg_t;

size_t sai_hash_len(sai_hash_alg_t alg);
int sai_hash(sai_hash_alg_t alg, uint8_t *out, const void *data, size_t len,
             sai_error_t *err) SAI_MUST_CHECK;

typedef struct sai_hash_ctx_t sai_hash_ctx_t;
int  sai_hash_new(sai_hash_ctx_t **out, sai_hash_alg_t alg, sai_error_t *err) SAI_MUST_CHECK;
int  sai_hash_update(sai_hash_ctx_t *h, const void *data, size_t len, sai_error_t *err) SAI_MUST_CHECK;
/* Writes sai_hash_len(alg) bytes; the context can then only be freed. */
int  sai_hash_final(sai_hash_ctx_t *h, uint8_t *out, sai_error_t *err) SAI_MUST_CHECK;
void sai_hash_free(sai_hash_ctx_t *h);

int sai_hmac_sha256(uint8_t out[static SAI_SHA256_LEN],
                    const uint8_t *key, size_t key_len,
                    const void *data, size_t len, sai_error_t *err) SAI_MUST_CHECK;

/* RFC 5869 HKDF-SHA-256 (extract then expand). out_len <= 255*32. */
int sai_hkdf_sha256(uint8_t *out, size_t out_len,
                    const uint8_t *ikm, size_t ikm_len,
                    const uint8_t *salt, size_t salt_len,
                    const uint8_t *info, size_t info_len,
                    sai_error_t *err) SAI_MUST_CHECK;

/* ---- P-384 keys, ECDSA, ECDH -------------------------------------------- */
typedef struct sai_ec_key_t sai_ec_key_t;   /* wraps an OpenSSL EVP_PKEY */

int  sai_ec_generate(sai_ec_key_t **out, sai_error_t *err) SAI_MUST_CHECK;
void sai_ec_free(sai_ec_key_t *k);
bool sai_ec_has_private(const sai_ec_key_t *k);

/* PEM: private keys as PKCS#8, public keys as SubjectPublicKeyInfo. The
 * returned string is malloc'ed; private PEM is wiped by sai_ec_pem_free. */
int  sai_ec_from_pem(sai_ec_key_t **out, const char *pem, size_t len, sai_error_t *err) SAI_MUST_CHECK;
int  sai_ec_private_pem(const sai_ec_key_t *k, char **pem, size_t *len, sai_error_t *err) SAI_MUST_CHECK;
int  sai_ec_public_pem(const sai_ec_key_t *k, char **pem, size_t *len, sai_error_t *err) SAI_MUST_CHECK;
void sai_ec_pem_free(char *pem, size_t len);

/* Raw public point (0x04 || X || Y) and raw private scalar. */
int sai_ec_public_raw(const sai_ec_key_t *k, uint8_t out[static SAI_P384_POINT_LEN],
                      sai_error_t *err) SAI_MUST_CHECK;
int sai_ec_from_public_raw(sai_ec_key_t **out, const uint8_t *point, size_t len,
                           sai_error_t *err) SAI_MUST_CHECK;
/* From affine coordinates (48 bytes each, big-endian), e.g. a JWK's x/y. */
int sai_ec_from_public_xy(sai_ec_key_t **out, const uint8_t x[static 48],
                          const uint8_t y[static 48], sai_error_t *err) SAI_MUST_CHECK;

/* ECDSA with SHA-384 over msg. Signatures are raw r || s (96 bytes). */
int sai_ecdsa_sign(const sai_ec_key_t *k, uint8_t sig[static SAI_P384_SIG_LEN],
                   const void *msg, size_t len, sai_error_t *err) SAI_MUST_CHECK;
/* 0 when valid, SAI_EAUTH when not. */
int sai_ecdsa_verify(const sai_ec_key_t *k, const uint8_t sig[static SAI_P384_SIG_LEN],
                     const void *msg, size_t len, sai_error_t *err) SAI_MUST_CHECK;
/* The same over a precomputed digest (any length up to 64 bytes). */
int sai_ecdsa_verify_digest(const sai_ec_key_t *k, const uint8_t sig[static SAI_P384_SIG_LEN],
                            const uint8_t *digest, size_t dlen, sai_error_t *err) SAI_MUST_CHECK;

/* Raw r||s <-> DER ECDSA-Sig-Value. scalar_len is 32 (P-256) or 48 (P-384). */
int sai_ecdsa_raw_to_der(uint8_t *der, size_t *der_len, const uint8_t *raw,
                         size_t scalar_len, sai_error_t *err) SAI_MUST_CHECK;
int sai_ecdsa_der_to_raw(uint8_t *raw, size_t scalar_len, const uint8_t *der,
                         size_t der_len, sai_error_t *err) SAI_MUST_CHECK;

/* ECDH: the 48-byte shared X coordinate. */
int sai_ecdh(const sai_ec_key_t *priv, const sai_ec_key_t *peer,
             uint8_t shared[static SAI_ECDH_P384_LEN], sai_error_t *err) SAI_MUST_CHECK;

/* Borrow the underlying EVP_PKEY* (for X.509 code); do not free it. */
void *sai_ec_evp(const sai_ec_key_t *k);
/* Wrap an EVP_PKEY* (takes a reference; the caller keeps its own). */
int sai_ec_from_evp(sai_ec_key_t **out, void *evp_pkey, sai_error_t *err) SAI_MUST_CHECK;

#endif
