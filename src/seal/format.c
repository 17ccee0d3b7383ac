/*
 * format.c — the sealed-file header: encoding, parsing, validation, and the
 * key derivation and nonce layout shared by the writer and the reader.
 *
 * Header (all integers big-endian; docs/format.md):
 *   0  magic "SAI-SEAL"      8
 *   8  version = 1           2
 *  10  key id length (1..64) 1
 *  11  reserved = 0          1
 *  12  chunk size            4
 *  16  plaintext length      8
 *  24  salt                 32
 *  56  key id               key id length
 * The parser trusts none of it; the header is authenticated because every
 * chunk's tag covers it as associated data.
 */
#include "seal/seal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

bool sai_seal_key_id_valid(const char *id)
{
    if (id == NULL)
        return false;
    size_t n = strnlen(id, SAI_SEAL_KEY_ID_MAX + 1);
    if (n == 0 || n > SAI_SEAL_KEY_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '@' || c == '/' || c == '+' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static int finish_header(sai_seal_header_t *h, sai_error_t *err)
{
    if (h->chunk_size < SAI_SEAL_CHUNK_MIN || h->chunk_size > SAI_SEAL_CHUNK_MAX)
        return sai_error_set(err, SAI_EFORMAT, "chunk size %u is outside %u..%u",
                             h->chunk_size, SAI_SEAL_CHUNK_MIN, SAI_SEAL_CHUNK_MAX);
    if (h->length > SAI_SEAL_LENGTH_MAX)
        return sai_error_set(err, SAI_EFORMAT, "plaintext length %llu is too large",
                             (unsigned long long)h->length);
    h->chunks = h->length == 0 ? 1 : (h->length + h->chunk_size - 1) / h->chunk_size;
    h->sealed_len = h->header_len + h->length + h->chunks * SAI_AEAD_TAG_LEN;
    return 0;
}

int sai_seal__header_build(sai_seal_header_t *h, uint8_t *buf, uint32_t chunk_size,
                           uint64_t length, const uint8_t salt[SAI_SEAL_SALT_LEN],
                           const char *key_id, sai_error_t *err)
{
    memset(h, 0, sizeof *h);
    if (!sai_seal_key_id_valid(key_id))
        return sai_error_set(err, SAI_EINVAL,
                             "invalid key id (1..64 characters of A-Z a-z 0-9 . _ : @ / + -)");
    size_t kl = strlen(key_id);
    h->version = SAI_SEAL_VERSION;
    h->chunk_size = chunk_size;
    h->length = length;
    memcpy(h->salt, salt, SAI_SEAL_SALT_LEN);
    memcpy(h->key_id, key_id, kl + 1);
    h->header_len = SAI_SEAL_HEADER_FIXED + kl;
    if (chunk_size < SAI_SEAL_CHUNK_MIN || chunk_size > SAI_SEAL_CHUNK_MAX)
        return sai_error_set(err, SAI_EINVAL, "chunk size %u is outside %u..%u", chunk_size,
                             SAI_SEAL_CHUNK_MIN, SAI_SEAL_CHUNK_MAX);
    if (length > SAI_SEAL_LENGTH_MAX)
        return sai_error_set(err, SAI_EINVAL, "input is too large to seal");
    int rc = finish_header(h, err);
    if (rc != 0)
        return rc;
    memcpy(buf, SAI_SEAL_MAGIC, SAI_SEAL_MAGIC_LEN);
    put_be(buf + 8, SAI_SEAL_VERSION, 2);
    buf[10] = (uint8_t)kl;
    buf[11] = 0;
    put_be(buf + 12, chunk_size, 4);
    put_be(buf + 16, length, 8);
    memcpy(buf + 24, salt, SAI_SEAL_SALT_LEN);
    memcpy(buf + 56, key_id, kl);
    return 0;
}

int sai_seal_header_parse(sai_seal_header_t *h, const uint8_t *buf, size_t len, sai_error_t *err)
{
    memset(h, 0, sizeof *h);
    if (len < SAI_SEAL_MAGIC_LEN || memcmp(buf, SAI_SEAL_MAGIC, SAI_SEAL_MAGIC_LEN) != 0)
        return sai_error_set(err, SAI_EFORMAT, "not a sealed file (bad magic)");
    if (len < SAI_SEAL_HEADER_FIXED)
        return sai_error_set(err, SAI_EFORMAT, "header truncated (%zu of %d bytes)", len,
                             SAI_SEAL_HEADER_FIXED);
    h->version = (uint16_t)get_be(buf + 8, 2);
    if (h->version != SAI_SEAL_VERSION)
        return sai_error_set(err, SAI_EFORMAT, "unsupported version %u (this build reads %d)",
                             h->version, SAI_SEAL_VERSION);
    size_t kl = buf[10];
    if (buf[11] != 0)
        return sai_error_set(err, SAI_EFORMAT, "reserved header byte is not zero");
    if (kl == 0 || kl > SAI_SEAL_KEY_ID_MAX)
        return sai_error_set(err, SAI_EFORMAT, "key id length %zu is outside 1..%d", kl,
                             SAI_SEAL_KEY_ID_MAX);
    if (len < SAI_SEAL_HEADER_FIXED + kl)
        return sai_error_set(err, SAI_EFORMAT, "header truncated in the key id");
    h->chunk_size = (uint32_t)get_be(buf + 12, 4);
    h->length = get_be(buf + 16, 8);
    memcpy(h->salt, buf + 24, SAI_SEAL_SALT_LEN);
    memcpy(h->key_id, buf + 56, kl);
    h->key_id[kl] = '\0';
    if (!sai_seal_key_id_valid(h->key_id))
        return sai_error_set(err, SAI_EFORMAT, "key id has characters outside the allowed set");
    h->header_len = SAI_SEAL_HEADER_FIXED + kl;
    return finish_header(h, err);
}

int sai_seal__derive(uint8_t out[32], const uint8_t key[SAI_SEAL_KEY_LEN],
                     const uint8_t salt[SAI_SEAL_SALT_LEN], const char *info_prefix,
                     const char *key_id, sai_error_t *err)
{
    uint8_t info[64 + SAI_SEAL_KEY_ID_MAX];
    size_t pl = strlen(info_prefix), kl = strlen(key_id);
    if (pl > 64 || kl > SAI_SEAL_KEY_ID_MAX)
        return sai_error_set(err, SAI_EINVAL, "key derivation label too long");
    memcpy(info, info_prefix, pl);
    memcpy(info + pl, key_id, kl);
    return sai_hkdf_sha256(out, 32, key, SAI_SEAL_KEY_LEN, salt, SAI_SEAL_SALT_LEN, info,
                           pl + kl, err);
}

void sai_seal__nonce(uint8_t nonce[SAI_AEAD_NONCE_LEN], uint64_t i, bool last)
{
    memset(nonce, 0, 3);               /* the top 24 bits of the 88-bit counter */
    put_be(nonce + 3, i, 8);
    nonce[11] = last ? 1 : 0;
}

int sai_seal_inspect(const char *path, sai_seal_header_t *h, uint64_t *file_size, sai_error_t *err)
{
    uint8_t buf[SAI_SEAL_HEADER_MAX];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sai_error_set(err, errno == ENOENT ? SAI_ENOTFOUND : SAI_EIO, "cannot open %s: %s",
                             path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sai_error_set(err, SAI_EIO, "%s is not a regular file", path);
    }
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    close(fd);
    if (n < 0)
        return sai_error_set(err, SAI_EIO, "cannot read %s: %s", path, strerror(errno));
    int rc = sai_seal_header_parse(h, buf, (size_t)n, err);
    if (rc != 0)
        return sai_error_prefix(err, "%s", path);
    if (file_size != NULL)
        *file_size = (uint64_t)st.st_size;
    return 0;
}

/* ---- key files -------------------------------------------------------------- */

int sai_seal_keygen(const char *path, sai_error_t *err)
{
    sai_secret_t *k = NULL;
    int rc = sai_secret_new(&k, SAI_SEAL_KEY_LEN, err);
    if (rc != 0)
        return rc;
    rc = sai_random_bytes(k->data, k->len, err);
    if (rc == 0)
        rc = sai_write_file_atomic(path, k->data, k->len, 0600, true, err);
    sai_secret_free(k);
    return rc;
}

int sai_seal_key_load(sai_secret_t **out, const char *path, sai_error_t *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sai_error_set(err, errno == ENOENT ? SAI_ENOTFOUND : SAI_EIO,
                             "cannot open key file %s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = sai_error_set(err, SAI_EIO, "key file %s is not a regular file", path);
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        rc = sai_error_set(err, SAI_EPOLICY,
                           "key file %s is accessible by group or others (mode %04o); chmod 600 it",
                           path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if (st.st_size != SAI_SEAL_KEY_LEN) {
        rc = sai_error_set(err, SAI_EFORMAT, "key file %s is %lld bytes, not %d", path,
                           (long long)st.st_size, SAI_SEAL_KEY_LEN);
        goto out;
    }
    sai_secret_t *k = NULL;
    rc = sai_secret_new(&k, SAI_SEAL_KEY_LEN, err);
    if (rc != 0)
        goto out;
    if (sai_read_full(fd, k->data, SAI_SEAL_KEY_LEN) != 0) {
        sai_secret_free(k);
        rc = sai_error_set(err, SAI_EIO, "cannot read key file %s", path);
        goto out;
    }
    *out = k;
out:
    close(fd);
    return rc;
}

/* Write all of p to fd, with a message naming the file; shared by the writer
 * and the reader. */
int sai_seal__write_all(int fd, const uint8_t *p, size_t len, const char *name, sai_error_t *err)
{
    if (sai_write_full(fd, p, len) != 0)
        return sai_error_set(err, SAI_EIO, "cannot write %s: %s", name, strerror(errno));
    return 0;
}

/* Publish a finished temp file: fsync and close *fd (set to -1), then move
 * tmp onto path: link() when excl (fails if path appeared meanwhile: no
 * silent overwrite), else rename(). On failure tmp is left for the caller
 * to unlink; the caller syncs path's directory. Shared by writer and reader. */
int sai_seal__publish(int *fd, const char *tmp, const char *path, bool excl, sai_error_t *err)
{
    if (fsync(*fd) != 0)
        return sai_error_set(err, SAI_EIO, "cannot sync %s: %s", tmp, strerror(errno));
    close(*fd);
    *fd = -1;
    if (excl) {
        if (link(tmp, path) != 0)
            return sai_error_set(err, errno == EEXIST ? SAI_EEXIST : SAI_EIO,
                                 "cannot create %s: %s", path, strerror(errno));
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        return sai_error_set(err, SAI_EIO, "cannot rename onto %s: %s", path, strerror(errno));
    }
    return 0;
}
