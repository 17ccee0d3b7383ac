/*
 * writer.c — the streaming sealer: plaintext in, sealed file out, in
 * constant memory (one plaintext chunk being filled, a few ciphertext
 * chunks being written), whatever the input size.
 *
 * Sealed chunks are appended to an output buffer of up to OUT_BYTES and
 * written with one write() per buffer, not one per chunk. (fallocate of
 * the known size was tried: 2.5 vs 2.7 GB/s of CPU time on tmpfs, i.e. no
 * gain, so the file just grows.)
 *
 * The plaintext length goes into the authenticated header, so it is fixed
 * when the writer is created; finish refuses a short or long stream. Output
 * is written to "<path>.tmp.XXXXXX" and renamed onto path only after the
 * last chunk is sealed and fsync'ed, so a failed or interrupted seal never
 * leaves a partial file under the final name.
 *
 * sai_seal_writer_new_fd writes to a descriptor the caller owns instead (a
 * sandboxed enclave that may not create files seals its checkpoint straight
 * into a file its host opened, in two chunks of memory instead of a sealed
 * copy of the whole checkpoint); there the caller fsyncs and publishes.
 */
#include "seal/seal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Ciphertext batched per write(): small enough to stay in L2. */
#define OUT_BYTES (256u << 10)

struct sai_seal_writer_t {
    int             fd;
    bool            borrowed;  /* fd is the caller's: not closed, not published */
    char           *path;
    char           *tmp;
    bool            excl;
    bool            done;
    sai_seal_header_t h;
    uint8_t         hdr[SAI_SEAL_HEADER_MAX];
    sai_aead_t       *aead;
    sai_hash_ctx_t   *hash;
    uint8_t        *acc;       /* plaintext chunk being filled */
    size_t          acc_len;
    uint8_t        *out;       /* out_cap bytes: whole sealed chunks */
    size_t          out_cap;
    size_t          out_len;
    uint64_t        index;     /* next chunk to seal */
    uint64_t        written;   /* plaintext bytes accepted */
};

void sai_seal_writer_free(sai_seal_writer_t *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0 && !w->borrowed)
        close(w->fd);
    if (!w->done && w->tmp != NULL)
        unlink(w->tmp);
    sai_aead_free(w->aead);
    sai_hash_free(w->hash);
    if (w->acc != NULL) {
        sai_wipe(w->acc, w->h.chunk_size);   /* plaintext */
        free(w->acc);
    }
    free(w->out);
    free(w->path);
    free(w->tmp);
    free(w);
}

static int writer_new(sai_seal_writer_t **out, const char *path, int fd,
                      const uint8_t key[static SAI_SEAL_KEY_LEN], const sai_seal_params_t *p,
                      uint64_t length, sai_error_t *err)
{
    *out = NULL;
    sai_seal_params_t defp = {0};
    if (p == NULL)
        p = &defp;
    const char *kid = p->key_id ? p->key_id : SAI_SEAL_DEFAULT_KEY_ID;
    uint32_t cs = p->chunk_size ? p->chunk_size : SAI_SEAL_CHUNK_DEFAULT;
    uint8_t salt[SAI_SEAL_SALT_LEN];
    uint8_t fkey[32];
    sai_seal_writer_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    w->fd = -1;
    w->excl = p->excl;
    w->borrowed = fd >= 0;
    int rc = sai_random_bytes(salt, sizeof salt, err);
    if (rc == 0)
        rc = sai_seal__header_build(&w->h, w->hdr, cs, length, salt, kid, err);
    if (rc != 0)
        goto fail;
    if (!w->borrowed && p->excl && access(path, F_OK) == 0) {
        rc = sai_error_set(err, SAI_EEXIST, "%s already exists; refusing to overwrite", path);
        goto fail;
    }
    rc = sai_seal__derive(fkey, key, salt, SAI_SEAL_INFO_FILE, kid, err);
    if (rc == 0)
        rc = sai_aead_new(&w->aead, fkey, err);
    sai_wipe(fkey, sizeof fkey);
    if (rc != 0)
        goto fail;
    if (p->hash_output && (rc = sai_hash_new(&w->hash, SAI_SHA256, err)) != 0)
        goto fail;
    w->acc = malloc(cs);
    size_t unit = (size_t)cs + SAI_AEAD_TAG_LEN;
    w->out_cap = unit;
    while (w->out_cap + unit <= OUT_BYTES)
        w->out_cap += unit;
    w->out = malloc(w->out_cap);
    size_t pl = strlen(path);
    w->path = strdup(path);
    w->tmp = w->borrowed ? NULL : malloc(pl + 16);
    if (w->acc == NULL || w->out == NULL || w->path == NULL || (!w->borrowed && w->tmp == NULL)) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto fail;
    }
    if (w->borrowed) {
        w->fd = fd;
    } else {
        snprintf(w->tmp, pl + 16, "%s.tmp.XXXXXX", path);
        w->fd = mkostemp(w->tmp, O_CLOEXEC);
        if (w->fd < 0) {
            free(w->tmp);
            w->tmp = NULL;
            rc = sai_error_set(err, SAI_EIO, "cannot create a file next to %s: %s", path,
                               strerror(errno));
            goto fail;
        }
        if (fchmod(w->fd, (mode_t)(p->mode ? p->mode : 0644)) != 0) {
            rc = sai_error_set(err, SAI_EIO, "cannot set mode on %s: %s", w->tmp,
                               strerror(errno));
            goto fail;
        }
    }
    rc = sai_seal__write_all(w->fd, w->hdr, w->h.header_len, w->borrowed ? w->path : w->tmp,
                             err);
    if (rc == 0 && w->hash)
        rc = sai_hash_update(w->hash, w->hdr, w->h.header_len, err);
    if (rc != 0)
        goto fail;
    *out = w;
    return 0;
fail:
    sai_seal_writer_free(w);
    return rc;
}

int sai_seal_writer_new(sai_seal_writer_t **out, const char *path,
                        const uint8_t key[static SAI_SEAL_KEY_LEN], const sai_seal_params_t *p,
                        uint64_t length, sai_error_t *err)
{
    return writer_new(out, path, -1, key, p, length, err);
}

int sai_seal_writer_new_fd(sai_seal_writer_t **out, int fd, const char *name,
                           const uint8_t key[static SAI_SEAL_KEY_LEN], const sai_seal_params_t *p,
                           uint64_t length, sai_error_t *err)
{
    *out = NULL;
    if (fd < 0)
        return sai_error_set(err, SAI_EINVAL, "%s: no descriptor to seal into", name);
    return writer_new(out, name, fd, key, p, length, err);
}

uint64_t sai_seal_writer_sealed_len(const sai_seal_writer_t *w)
{
    return w->h.sealed_len;
}

static int flush_out(sai_seal_writer_t *w, sai_error_t *err)
{
    int rc = sai_seal__write_all(w->fd, w->out, w->out_len, w->tmp ? w->tmp : w->path, err);
    w->out_len = 0;
    return rc;
}

/* Seal chunk w->index from pt (pt_len bytes) into the output buffer, and
 * write the buffer when it is full. */
static int emit(sai_seal_writer_t *w, const uint8_t *pt, size_t pt_len, sai_error_t *err)
{
    uint8_t nonce[SAI_AEAD_NONCE_LEN];
    bool last = w->index + 1 == w->h.chunks;
    size_t n = pt_len + SAI_AEAD_TAG_LEN;
    int rc;
    if (w->out_cap - w->out_len < n && (rc = flush_out(w, err)) != 0)
        return rc;
    uint8_t *o = w->out + w->out_len;
    sai_seal__nonce(nonce, w->index, last);
    rc = sai_aead_seal(w->aead, o, o + pt_len, pt, pt_len, w->hdr, w->h.header_len, nonce, err);
    if (rc != 0)
        return rc;
    if (w->hash && (rc = sai_hash_update(w->hash, o, n, err)) != 0)   /* while in L1/L2 */
        return rc;
    w->out_len += n;
    w->index++;
    if (last || w->out_cap - w->out_len < n)
        return flush_out(w, err);
    return 0;
}

int sai_seal_writer_write(sai_seal_writer_t *w, const void *data, size_t len, sai_error_t *err)
{
    const uint8_t *p = data;
    if (w->done)
        return sai_error_set(err, SAI_ESTATE, "%s: write after finish", w->path);
    if (len > w->h.length - w->written)
        return sai_error_set(err, SAI_EINVAL, "%s: more input than the declared %llu bytes",
                             w->path, (unsigned long long)w->h.length);
    w->written += len;
    size_t cs = w->h.chunk_size;
    while (len > 0) {
        /* The last chunk is sealed by finish, never here. */
        bool is_last = w->index + 1 == w->h.chunks;
        if (w->acc_len == 0 && len >= cs && !is_last) {
            int rc = emit(w, p, cs, err);        /* straight from the caller's buffer */
            if (rc != 0)
                return rc;
            p += cs;
            len -= cs;
            continue;
        }
        size_t take = cs - w->acc_len < len ? cs - w->acc_len : len;
        memcpy(w->acc + w->acc_len, p, take);
        w->acc_len += take;
        p += take;
        len -= take;
        if (w->acc_len == cs && !is_last) {
            int rc = emit(w, w->acc, cs, err);
            if (rc != 0)
                return rc;
            w->acc_len = 0;
        }
    }
    return 0;
}

int sai_seal_writer_finish(sai_seal_writer_t *w, uint8_t ct_sha256[SAI_SHA256_LEN], sai_error_t *err)
{
    int rc;
    if (w->done)
        return sai_error_set(err, SAI_ESTATE, "%s: finished twice", w->path);
    if (w->written != w->h.length || w->index + 1 != w->h.chunks)
        return sai_error_set(err, SAI_EINVAL, "%s: input ended after %llu of %llu bytes",
                             w->path, (unsigned long long)w->written,
                             (unsigned long long)w->h.length);
    if ((rc = emit(w, w->acc, w->acc_len, err)) != 0)
        return rc;
    sai_wipe(w->acc, w->acc_len);
    w->acc_len = 0;
    if (ct_sha256 != NULL) {
        if (w->hash == NULL)
            return sai_error_set(err, SAI_ESTATE, "%s: hash_output was not requested", w->path);
        rc = sai_hash_final(w->hash, ct_sha256, err);
        if (rc != 0)
            return rc;
    }
    if (w->borrowed) {   /* the caller fsyncs and publishes its descriptor */
        w->done = true;
        return 0;
    }
    if ((rc = sai_seal__publish(&w->fd, w->tmp, w->path, w->excl, err)) != 0)
        return rc;
    w->done = true;
    return sai_fsync_parent(w->path, err);
}

int sai_seal_file(const char *in, const char *out, const uint8_t key[static SAI_SEAL_KEY_LEN],
                  const sai_seal_params_t *p, sai_progress_t *progress,
                  uint8_t ct_sha256[SAI_SHA256_LEN], sai_error_t *err)
{
    int fd = open(in, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sai_error_set(err, errno == ENOENT ? SAI_ENOTFOUND : SAI_EIO, "cannot open %s: %s",
                             in, strerror(errno));
    sai_seal_writer_t *w = NULL;
    uint8_t *buf = NULL;
    int rc;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = sai_error_set(err, SAI_EINVAL, "%s is not a regular file", in);
        goto out;
    }
    sai_seal_params_t pp = p ? *p : (sai_seal_params_t){0};
    if (ct_sha256 != NULL)
        pp.hash_output = true;
    rc = sai_seal_writer_new(&w, out, key, &pp, (uint64_t)st.st_size, err);
    if (rc != 0)
        goto out;
    /* Read a whole number of chunks at a time, L2-sized, so the writer
     * seals straight from this buffer while it is still in cache. */
    size_t cs = w->h.chunk_size, bl = cs;
    while (bl + cs <= OUT_BYTES)
        bl += cs;
    buf = malloc(bl);
    if (buf == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    uint64_t done = 0;
    for (;;) {
        ssize_t n = read(fd, buf, bl);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = sai_error_set(err, SAI_EIO, "cannot read %s: %s", in, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if ((rc = sai_seal_writer_write(w, buf, (size_t)n, err)) != 0)
            goto out;
        done += (uint64_t)n;
        if (progress)
            sai_progress_update(progress, done);
    }
    rc = sai_seal_writer_finish(w, ct_sha256, err);
out:
    if (buf != NULL) {
        sai_wipe(buf, bl);
        free(buf);
    }
    sai_seal_writer_free(w);
    close(fd);
    return rc;
}
