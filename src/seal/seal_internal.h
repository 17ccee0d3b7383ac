/*
 * seal_internal.h — helpers shared by the files of src/seal/ (not public).
 */
#ifndef SAI_SEAL_INTERNAL_H
#define SAI_SEAL_INTERNAL_H

#include "secureai/seal.h"

#define SAI_SEAL_INFO_FILE     "secureai/v1/file"
#define SAI_SEAL_INFO_MANIFEST "secureai/v1/manifest"

/* Encode a header for (chunk_size, length, salt, key_id) into buf (at least
 * SAI_SEAL_HEADER_MAX bytes) and fill h. */
int sai_seal__header_build(sai_seal_header_t *h, uint8_t *buf, uint32_t chunk_size,
                           uint64_t length, const uint8_t salt[SAI_SEAL_SALT_LEN],
                           const char *key_id, sai_error_t *err);

/* HKDF(data key, salt, info_prefix || key id) into out (32 bytes). */
int sai_seal__derive(uint8_t out[32], const uint8_t key[SAI_SEAL_KEY_LEN],
                     const uint8_t salt[SAI_SEAL_SALT_LEN], const char *info_prefix,
                     const char *key_id, sai_error_t *err);

/* A relative shard name the manifest accepts (no "..", ".", empty or
 * absolute components, no control characters or backslashes). */
bool sai_seal__name_ok(const char *name);

/* 11-byte big-endian i || last flag. */
void sai_seal__nonce(uint8_t nonce[SAI_AEAD_NONCE_LEN], uint64_t i, bool last);

/* Write all len bytes of p to fd (sai_write_full); name is for the message. */
int sai_seal__write_all(int fd, const uint8_t *p, size_t len, const char *name, sai_error_t *err);

/* fsync and close *fd, then link (excl) or rename tmp onto path; format.c. */
int sai_seal__publish(int *fd, const char *tmp, const char *path, bool excl, sai_error_t *err);

/* TensorFlow's masked CRC-32C (records.c). */
uint32_t sai_seal__masked_crc32c(const uint8_t *p, size_t n);
/* Every record's frame offset in a plaintext TFRecord file (*offs malloc'ed,
 * *n entries); SAI_EFORMAT if it is not one. records.c. */
int sai_seal__tfrecord_offsets(const char *path, uint64_t **offs, uint64_t *n, sai_error_t *err);
/* The dataset's directory and data key (borrowed; dataset.c). */
const char *sai_seal__dataset_dir(const sai_dataset_t *d);
const uint8_t *sai_seal__dataset_key(const sai_dataset_t *d);
/* Seal the record index of a TFRecord shard next to its sealed file
 * (records_index.c). */
int sai_seal__tfrecord_index_write(const char *sealed_path, const char *plain_path,
                                   const uint8_t key[SAI_SEAL_KEY_LEN], const sai_seal_params_t *p,
                                   const uint8_t shard_sha256[SAI_SHA256_LEN], sai_error_t *err);

/* Plaintext length of chunk i. */
static inline size_t sai_seal__chunk_len(const sai_seal_header_t *h, uint64_t i)
{
    if (i + 1 < h->chunks)
        return h->chunk_size;
    return (size_t)(h->length - (h->chunks - 1) * (uint64_t)h->chunk_size);
}

static inline uint64_t sai_seal__chunk_off(const sai_seal_header_t *h, uint64_t i)
{
    return (uint64_t)h->header_len + i * ((uint64_t)h->chunk_size + SAI_AEAD_TAG_LEN);
}

#endif
