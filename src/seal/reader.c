/*
 * reader.c — random-access reader of sealed files, and unseal.
 *
 * open authenticates the header and the length up front: the file size
 * must equal what the header implies (truncation and extension fail here,
 * naming the chunk) and the last chunk, whose nonce carries the "last"
 * flag, is decrypted. After open, sai_seal_size is an authenticated value.
 *
 * read_at touches only the chunks a range spans. A run of chunks the range
 * covers whole is read in batches of up to BATCH_BYTES with one preadv each
 * (ciphertexts into the caller's buffer, tags aside) and each batch is
 * decrypted in place while it is still in L2: one syscall per batch, no
 * copy on the hot path of large reads. Nothing of a batch is released
 * until read_at returns 0; a failed chunk wipes the whole range. A
 * chunk covered in part is decrypted into a one-chunk cache, so the small
 * record reads of a data loader decrypt each chunk once, not once per
 * record. The header and file key are fixed at open: bytes swapped in on
 * disk afterwards can only fail authentication.
 *
 * Callers: the CLI (unseal), the dataset reader (dataset.c), the pipeline's
 * shard streaming and the training data loaders.
 */
#include "seal/seal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define NO_CHUNK UINT64_MAX

/* One preadv reads at most this many bytes (or BATCH_MAX chunks): big
 * enough to amortise the syscall, small enough that the copy the kernel
 * makes is still in L2 when it is decrypted. */
#define BATCH_BYTES (256u << 10)
#define BATCH_MAX   64u

struct sai_seal_reader_t {
    int             fd;         /* -1 for a memory or mapped reader */
    const uint8_t  *mem;
    uint64_t        mem_len;
    void           *map;        /* our own mapping (opts->map), unmapped on close */
    char           *name;
    sai_seal_header_t h;
    uint8_t         hdr[SAI_SEAL_HEADER_MAX];
    sai_aead_t       *aead;
    uint8_t        *cache;      /* chunk_size + tag bytes */
    uint64_t        cache_idx;
    uint8_t         tags[BATCH_MAX][SAI_AEAD_TAG_LEN];
    struct iovec    iov[2 * BATCH_MAX];
};

void sai_seal_close(sai_seal_reader_t *r)
{
    if (r == NULL)
        return;
    if (r->fd >= 0)
        close(r->fd);
    if (r->map != NULL)
        munmap(r->map, (size_t)r->mem_len);
    if (r->cache != NULL) {
        sai_wipe(r->cache, (size_t)r->h.chunk_size + SAI_AEAD_TAG_LEN);
        free(r->cache);
    }
    sai_aead_free(r->aead);
    free(r->name);
    free(r);
}

uint64_t sai_seal_size(const sai_seal_reader_t *r) { return r->h.length; }

const sai_seal_header_t *sai_seal_reader_header(const sai_seal_reader_t *r) { return &r->h; }

static int chunk_auth_error(const sai_seal_reader_t *r, uint64_t i, sai_error_t *err)
{
    return sai_error_set(err, SAI_EAUTH,
                         "%s: chunk %llu of %llu: authentication failed (wrong key, or the file "
                         "was modified, truncated, reordered or spliced)",
                         r->name, (unsigned long long)i, (unsigned long long)r->h.chunks);
}

/* Decrypt chunk i into dst (chunk_len(i) bytes; for the fd path dst must
 * have room for the ciphertext, i.e. the same). dst is wiped on failure. */
static int decrypt_chunk(sai_seal_reader_t *r, uint64_t i, uint8_t *dst, sai_error_t *err)
{
    size_t clen = sai_seal__chunk_len(&r->h, i);
    uint64_t off = sai_seal__chunk_off(&r->h, i);
    uint8_t nonce[SAI_AEAD_NONCE_LEN];
    uint8_t tagbuf[SAI_AEAD_TAG_LEN];
    const uint8_t *ct, *tag;
    sai_seal__nonce(nonce, i, i + 1 == r->h.chunks);
    if (r->fd < 0) {
        ct = r->mem + off;
        tag = ct + clen;
    } else {
        struct iovec iov[2] = {{dst, clen}, {tagbuf, sizeof tagbuf}};
        size_t want = clen + SAI_AEAD_TAG_LEN, got = 0;
        while (got < want) {
            ssize_t n;
            if (got < clen) {
                struct iovec v[2] = {{dst + got, clen - got}, iov[1]};
                n = preadv(r->fd, v, 2, (off_t)(off + got));
            } else {
                n = pread(r->fd, tagbuf + (got - clen), want - got, (off_t)(off + got));
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                sai_wipe(dst, clen);
                return sai_error_set(err, SAI_EIO, "%s: chunk %llu: read failed: %s", r->name,
                                     (unsigned long long)i, strerror(errno));
            }
            if (n == 0) {
                sai_wipe(dst, clen);
                return sai_error_set(err, SAI_EAUTH, "%s: chunk %llu of %llu: truncated "
                                     "(the file shrank after it was opened)", r->name,
                                     (unsigned long long)i, (unsigned long long)r->h.chunks);
            }
            got += (size_t)n;
        }
        ct = dst;
        tag = tagbuf;
    }
    int rc = sai_aead_open(r->aead, dst, ct, clen, tag, r->hdr, r->h.header_len, nonce, err);
    if (rc == SAI_EAUTH)
        return chunk_auth_error(r, i, err);
    if (rc != 0)
        return sai_error_prefix(err, "%s: chunk %llu", r->name, (unsigned long long)i);
    return 0;
}

static int load_cache(sai_seal_reader_t *r, uint64_t i, sai_error_t *err)
{
    if (r->cache_idx == i)
        return 0;
    r->cache_idx = NO_CHUNK;
    int rc = decrypt_chunk(r, i, r->cache, err);
    if (rc == 0)
        r->cache_idx = i;
    return rc;
}

/* Decrypt the n whole chunks i.. into dst (their plaintext lengths laid end
 * to end; for the fd path the ciphertexts are read there with one preadv
 * and decrypted in place). Returns 0, or an error with dst[0, all) wiped. */
static int decrypt_run(sai_seal_reader_t *r, uint64_t i, uint64_t n, uint8_t *dst, sai_error_t *err)
{
    size_t done = 0, all = 0, got = 0;
    uint64_t k = 0;
    for (uint64_t j = 0; j < n; j++)
        all += sai_seal__chunk_len(&r->h, i + j);
    if (r->fd >= 0 && n > 1) {
        for (k = 0; k < n; k++) {
            size_t cl = sai_seal__chunk_len(&r->h, i + k);
            r->iov[2 * k] = (struct iovec){dst + done, cl};
            r->iov[2 * k + 1] = (struct iovec){r->tags[k], SAI_AEAD_TAG_LEN};
            done += cl;
        }
        ssize_t m;
        do
            m = preadv(r->fd, r->iov, (int)(2 * n), (off_t)sai_seal__chunk_off(&r->h, i));
        while (m < 0 && errno == EINTR);
        got = m > 0 ? (size_t)m : 0;   /* a short or failed read: the rest one by one */
        done = 0;
        for (k = 0; k < n; k++) {
            size_t cl = sai_seal__chunk_len(&r->h, i + k);
            if (got < cl + SAI_AEAD_TAG_LEN)
                break;
            got -= cl + SAI_AEAD_TAG_LEN;
            uint8_t nonce[SAI_AEAD_NONCE_LEN];
            sai_seal__nonce(nonce, i + k, i + k + 1 == r->h.chunks);
            int rc = sai_aead_open(r->aead, dst + done, dst + done, cl, r->tags[k], r->hdr,
                                   r->h.header_len, nonce, err);
            if (rc != 0) {
                sai_wipe(dst, all);
                if (rc == SAI_EAUTH)
                    return chunk_auth_error(r, i + k, err);
                return sai_error_prefix(err, "%s: chunk %llu", r->name,
                                        (unsigned long long)(i + k));
            }
            done += cl;
        }
    }
    for (; k < n; k++) {
        int rc = decrypt_chunk(r, i + k, dst + done, err);
        if (rc != 0) {
            sai_wipe(dst, all);
            return rc;
        }
        done += sai_seal__chunk_len(&r->h, i + k);
    }
    return 0;
}

static int open_common(sai_seal_reader_t *r, const uint8_t *key, uint64_t file_size,
                       const uint8_t *hbuf, size_t hlen, const sai_seal_open_opts_t *opts,
                       sai_error_t *err)
{
    int rc = sai_seal_header_parse(&r->h, hbuf, hlen, err);
    if (rc != 0)
        return sai_error_prefix(err, "%s", r->name);
    memcpy(r->hdr, hbuf, r->h.header_len);
    const sai_seal_header_t *h = &r->h;
    if (file_size < h->sealed_len) {
        uint64_t k = file_size <= h->header_len
                         ? 0 : (file_size - h->header_len) / ((uint64_t)h->chunk_size + SAI_AEAD_TAG_LEN);
        return sai_error_set(err, SAI_EAUTH,
                             "%s: truncated: chunk %llu of %llu is incomplete or missing "
                             "(file is %llu bytes, its header says %llu)",
                             r->name, (unsigned long long)k, (unsigned long long)h->chunks,
                             (unsigned long long)file_size, (unsigned long long)h->sealed_len);
    }
    if (file_size > h->sealed_len)
        return sai_error_set(err, SAI_EAUTH,
                             "%s: %llu unexpected bytes after the last chunk (chunk %llu of %llu)",
                             r->name, (unsigned long long)(file_size - h->sealed_len),
                             (unsigned long long)(h->chunks - 1), (unsigned long long)h->chunks);
    if (opts != NULL && opts->expect_key_id != NULL && strcmp(opts->expect_key_id, h->key_id) != 0)
        return sai_error_set(err, SAI_EAUTH, "%s: sealed under key id '%s', expected '%s'",
                             r->name, h->key_id, opts->expect_key_id);
    uint8_t fkey[32];
    rc = sai_seal__derive(fkey, key, h->salt, SAI_SEAL_INFO_FILE, h->key_id, err);
    if (rc == 0)
        rc = sai_aead_new(&r->aead, fkey, err);
    sai_wipe(fkey, sizeof fkey);
    if (rc != 0)
        return rc;
    r->cache = malloc((size_t)h->chunk_size + SAI_AEAD_TAG_LEN);
    if (r->cache == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    /* Authenticate header + length now: the last chunk carries the flag. */
    return load_cache(r, h->chunks - 1, err);
}

static sai_seal_reader_t *reader_alloc(const char *name)
{
    sai_seal_reader_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->fd = -1;
    r->cache_idx = NO_CHUNK;
    r->name = strdup(name ? name : "(sealed data)");
    if (r->name == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

int sai_seal_open_fd(sai_seal_reader_t **out, int fd, const char *name,
                     const uint8_t key[static SAI_SEAL_KEY_LEN], const sai_seal_open_opts_t *opts,
                     sai_error_t *err)
{
    *out = NULL;
    sai_seal_reader_t *r = reader_alloc(name);
    if (r == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    int rc;
    struct stat st;
    uint8_t hbuf[SAI_SEAL_HEADER_MAX];
    r->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (r->fd < 0) {
        rc = sai_error_set(err, SAI_EIO, "%s: %s", r->name, strerror(errno));
        goto fail;
    }
    if (fstat(r->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = sai_error_set(err, SAI_EIO, "%s is not a regular file", r->name);
        goto fail;
    }
    if (opts != NULL && opts->map && (uint64_t)st.st_size >= SAI_SEAL_HEADER_FIXED &&
        (uint64_t)st.st_size <= SIZE_MAX) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, r->fd, 0);
        if (m != MAP_FAILED) {
            madvise(m, (size_t)st.st_size, MADV_WILLNEED);
            r->map = m;
            r->mem = m;
            r->mem_len = (uint64_t)st.st_size;
            close(r->fd);
            r->fd = -1;
            rc = open_common(r, key, r->mem_len, r->mem, (size_t)r->mem_len, opts, err);
            if (rc != 0)
                goto fail;
            *out = r;
            return 0;
        }
    }
    ssize_t n;
    do
        n = pread(r->fd, hbuf, sizeof hbuf, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        rc = sai_error_set(err, SAI_EIO, "cannot read %s: %s", r->name, strerror(errno));
        goto fail;
    }
    rc = open_common(r, key, (uint64_t)st.st_size, hbuf, (size_t)n, opts, err);
    if (rc != 0)
        goto fail;
    *out = r;
    return 0;
fail:
    sai_seal_close(r);
    return rc;
}

int sai_seal_open(sai_seal_reader_t **out, const char *path,
                  const uint8_t key[static SAI_SEAL_KEY_LEN], const sai_seal_open_opts_t *opts,
                  sai_error_t *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sai_error_set(err, errno == ENOENT ? SAI_ENOTFOUND : SAI_EIO, "cannot open %s: %s",
                             path, strerror(errno));
    int rc = sai_seal_open_fd(out, fd, path, key, opts, err);
    close(fd);
    return rc;
}

int sai_seal_open_mem(sai_seal_reader_t **out, const void *data, size_t len, const char *name,
                      const uint8_t key[static SAI_SEAL_KEY_LEN], const sai_seal_open_opts_t *opts,
                      sai_error_t *err)
{
    *out = NULL;
    sai_seal_reader_t *r = reader_alloc(name);
    if (r == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    r->mem = data;
    r->mem_len = len;
    int rc = open_common(r, key, len, data, len, opts, err);
    if (rc != 0) {
        sai_seal_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

int sai_seal_read_at(sai_seal_reader_t *r, uint64_t offset, void *buf, size_t len, sai_error_t *err)
{
    uint64_t size = r->h.length;
    if (offset > size || len > size - offset)
        return sai_error_set(err, SAI_EINVAL, "%s: read of %zu bytes at %llu is past the end (%llu)",
                             r->name, len, (unsigned long long)offset, (unsigned long long)size);
    if (len == 0)
        return 0;
    uint8_t *out = buf;
    uint64_t cs = r->h.chunk_size, end = offset + len;
    uint64_t i0 = offset / cs, i1 = (end - 1) / cs;
    uint64_t batch = BATCH_BYTES / cs;
    batch = batch < 1 ? 1 : batch > BATCH_MAX ? BATCH_MAX : batch;
    for (uint64_t i = i0; i <= i1;) {
        uint64_t cstart = i * cs;
        size_t clen = sai_seal__chunk_len(&r->h, i);
        size_t s = offset > cstart ? (size_t)(offset - cstart) : 0;
        size_t e = end < cstart + clen ? (size_t)(end - cstart) : clen;
        uint8_t *dst = out + (cstart + s - offset);
        uint64_t n = 1;
        int rc;
        if (s == 0 && e == clen && i != r->cache_idx) {
            /* the run of whole chunks from i (the last one may be short only
             * if it is the file's last chunk, which ends the range) */
            while (n < batch && i + n <= i1 && end >= (i + n) * cs + sai_seal__chunk_len(&r->h, i + n)
                   && i + n != r->cache_idx)
                n++;
            rc = decrypt_run(r, i, n, dst, err);
        } else {
            rc = load_cache(r, i, err);
            if (rc == 0)
                memcpy(dst, r->cache + s, e - s);
        }
        if (rc != 0) {
            sai_wipe(out, len);   /* what earlier chunks released, and the rest */
            return rc;
        }
        i += n;
    }
    return 0;
}

int sai_seal_verify(sai_seal_reader_t *r, sai_progress_t *progress, sai_error_t *err)
{
    for (uint64_t i = 0; i < r->h.chunks; i++) {
        int rc = load_cache(r, i, err);
        if (rc != 0)
            return rc;
        if (progress)
            sai_progress_update(progress, (i + 1) * (uint64_t)r->h.chunk_size);
    }
    return 0;
}

static int copy_out(sai_seal_reader_t *r, int fd, const char *name, uint8_t *buf, size_t bl,
                    sai_progress_t *progress, sai_error_t *err)
{
    uint64_t size = r->h.length;
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < bl ? (size_t)(size - off) : bl;
        int rc = sai_seal_read_at(r, off, buf, n, err);
        if (rc == 0)
            rc = sai_seal__write_all(fd, buf, n, name, err);
        if (rc != 0)
            return rc;
        off += n;
        if (progress)
            sai_progress_update(progress, off);
    }
    return 0;
}

int sai_unseal_file(const char *in, const char *out, const uint8_t key[static SAI_SEAL_KEY_LEN],
                    bool excl, sai_progress_t *progress, sai_error_t *err)
{
    sai_seal_reader_t *r = NULL;
    uint8_t *buf = NULL;
    char *tmp = NULL;
    int fd = -1;
    size_t bl = 0;
    bool to_stdout = strcmp(out, "-") == 0;
    int rc = sai_seal_open(&r, in, key, NULL, err);
    if (rc != 0)
        return rc;
    /* Whole-file, in order: tell the kernel (bigger readahead), and copy
     * out in L2-sized pieces so what read_at decrypted is still in cache
     * when write() copies it. */
    if (r->fd >= 0)
        (void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    size_t cs = r->h.chunk_size;
    bl = cs;
    while (bl + cs <= BATCH_BYTES)
        bl += cs;
    buf = malloc(bl);
    if (buf == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    if (to_stdout) {
        /* Verify everything before the first byte leaves. */
        if ((rc = sai_seal_verify(r, NULL, err)) != 0)
            goto out;
        rc = copy_out(r, STDOUT_FILENO, "standard output", buf, bl, progress, err);
        goto out;
    }
    if (excl && access(out, F_OK) == 0) {
        rc = sai_error_set(err, SAI_EEXIST, "%s already exists; refusing to overwrite", out);
        goto out;
    }
    size_t ol = strlen(out);
    tmp = malloc(ol + 16);
    if (tmp == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(tmp, ol + 16, "%s.tmp.XXXXXX", out);
    fd = mkostemp(tmp, O_CLOEXEC);   /* mode 0600: plaintext */
    if (fd < 0) {
        free(tmp);
        tmp = NULL;
        rc = sai_error_set(err, SAI_EIO, "cannot create a file next to %s: %s", out,
                           strerror(errno));
        goto out;
    }
    if ((rc = copy_out(r, fd, tmp, buf, bl, progress, err)) != 0)
        goto out;
    if ((rc = sai_seal__publish(&fd, tmp, out, excl, err)) != 0)
        goto out;
    free(tmp);
    tmp = NULL;
    rc = sai_fsync_parent(out, err);
out:
    if (fd >= 0)
        close(fd);
    if (tmp != NULL) {
        unlink(tmp);
        free(tmp);
    }
    if (buf != NULL) {
        sai_wipe(buf, bl);
        free(buf);
    }
    sai_seal_close(r);
    return rc;
}
