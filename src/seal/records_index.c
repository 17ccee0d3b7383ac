/*
 * records_index.c — individually addressable records of a sealed dataset
 * (seal.h, "records of a sealed dataset"): the sealed TFRecord offset index
 * written at sealing time, and the record reader the Python package and the
 * loaders use for random access (shuffled training) without decrypting a
 * whole shard.
 *
 * Index plaintext (little-endian, like TFRecord itself):
 *   0  8  magic "SAI-TFRI"
 *   8  4  version 1
 *  12  4  reserved 0
 *  16  8  records N
 *  24 32  SHA-256 of the sealed shard it indexes (the manifest's value)
 *  56 8N  frame offset of each record, strictly increasing, the first 0
 * The index is trusted only after its GCM tags verify under the data key
 * and its shard hash equals the manifest's (itself under the MAC), so a
 * key holder wrote it for exactly this shard; each frame read through it
 * must then have the length the next offset implies and valid CRCs.
 */
#include "seal/seal_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INDEX_HDR 56u
#define FRAME_OVH 16u   /* TFRecord: 8 length + 4 + 4 CRC */

struct sai_dataset_records_t {
    sai_dataset_t     *d;
    size_t           shard;
    const char      *name;
    sai_record_format_t fmt;
    sai_seal_reader_t *r;
    uint64_t         n;
    uint64_t         size;       /* plaintext bytes of the shard */
    uint64_t        *offs;       /* TFRecord: n frame offsets */
    uint64_t         base;       /* fixed-size formats: first record's offset */
    size_t           rec_len;    /* fixed-size formats: bytes per record */
    uint8_t         *buf;        /* the last record read (plaintext: wiped) */
    size_t           buf_cap;
};

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static char *index_path(const char *sealed_or_dir, const char *name)
{
    /* "<dir>/<name>.sai-index" or, from "<x>.sealed", "<x>.sai-index" */
    size_t n = strlen(sealed_or_dir) + (name ? strlen(name) + 1 : 0) +
               sizeof SAI_DATASET_INDEX_SUFFIX;
    char *p = malloc(n);
    if (p == NULL)
        return NULL;
    if (name != NULL)
        snprintf(p, n, "%s/%s%s", sealed_or_dir, name, SAI_DATASET_INDEX_SUFFIX);
    else {
        size_t l = strlen(sealed_or_dir);
        if (l >= 7 && strcmp(sealed_or_dir + l - 7, ".sealed") == 0)
            l -= 7;
        snprintf(p, n, "%.*s%s", (int)l, sealed_or_dir, SAI_DATASET_INDEX_SUFFIX);
    }
    return p;
}

int sai_seal__tfrecord_index_write(const char *sealed_path, const char *plain_path,
                                   const uint8_t key[SAI_SEAL_KEY_LEN], const sai_seal_params_t *p,
                                   const uint8_t shard_sha256[SAI_SHA256_LEN], sai_error_t *err)
{
    uint64_t *offs = NULL, n = 0;
    uint8_t *pt = NULL, *ct = NULL;
    size_t ct_len = 0;
    char *ip = index_path(sealed_path, NULL);
    int rc = ip ? sai_seal__tfrecord_offsets(plain_path, &offs, &n, err)
                : sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (rc != 0)
        goto out;
    size_t len = INDEX_HDR + 8 * (size_t)n;
    if ((pt = calloc(1, len)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(pt, SAI_DATASET_INDEX_MAGIC, 8);
    put_le(pt + 8, 1, 4);
    put_le(pt + 16, n, 8);
    memcpy(pt + 24, shard_sha256, SAI_SHA256_LEN);
    for (uint64_t i = 0; i < n; i++)
        put_le(pt + INDEX_HDR + 8 * i, offs[i], 8);
    sai_seal_params_t ip_params = {.key_id = p->key_id, .chunk_size = p->chunk_size};
    if ((rc = sai_seal_buffer(&ct, &ct_len, key, &ip_params, pt, len, err)) != 0)
        goto out;
    rc = sai_write_file_atomic(ip, ct, ct_len, 0644, true, err);
out:
    free(offs);
    free(pt);
    free(ct);
    free(ip);
    return rc;
}

/* ---- reading ---------------------------------------------------------------------- */

static int load_index(sai_dataset_records_t *x, sai_error_t *err)
{
    const sai_dataset_shard_t *s = &sai_dataset_manifest(x->d)->shards[x->shard];
    char *ip = index_path(sai_seal__dataset_dir(x->d), s->name);
    sai_seal_reader_t *ir = NULL;
    uint8_t hdr[INDEX_HDR];
    int rc = 0;
    if (ip == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (access(ip, F_OK) != 0 && errno == ENOENT) {
        free(ip);
        return SAI_ENOTFOUND;                   /* sealed before indexes: walk instead */
    }
    sai_seal_open_opts_t o = {.expect_key_id = sai_dataset_manifest(x->d)->key_id};
    if ((rc = sai_seal_open(&ir, ip, sai_seal__dataset_key(x->d), &o, err)) != 0)
        goto out;
    if (s->records > (SIZE_MAX - INDEX_HDR) / 8 || sai_seal_size(ir) != INDEX_HDR + 8 * s->records) {
        rc = sai_error_set(err, SAI_EAUTH, "%s: index size does not match the manifest's %llu "
                           "records", ip, (unsigned long long)s->records);
        goto out;
    }
    if ((rc = sai_seal_read_at(ir, 0, hdr, sizeof hdr, err)) != 0)
        goto out;
    if (memcmp(hdr, SAI_DATASET_INDEX_MAGIC, 8) != 0 || get_le(hdr + 8, 4) != 1 ||
        get_le(hdr + 12, 4) != 0 || get_le(hdr + 16, 8) != s->records ||
        !sai_ct_equal(hdr + 24, s->sha256, SAI_SHA256_LEN)) {
        rc = sai_error_set(err, SAI_EAUTH, "%s: not the index of this shard (magic, version, "
                           "count or shard hash differ)", ip);
        goto out;
    }
    x->n = s->records;
    if ((x->offs = malloc((size_t)(x->n ? x->n : 1) * 8)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = sai_seal_read_at(ir, INDEX_HDR, x->offs, (size_t)x->n * 8, err)) != 0)
        goto out;
    for (uint64_t i = 0; i < x->n; i++) {
        x->offs[i] = get_le((const uint8_t *)&x->offs[i], 8);
        if ((i == 0 && x->offs[i] != 0) || (i > 0 && x->offs[i] <= x->offs[i - 1]) ||
            x->offs[i] + FRAME_OVH > x->size) {
            rc = sai_error_set(err, SAI_EFORMAT, "%s: offsets out of order", ip);
            goto out;
        }
    }
out:
    sai_seal_close(ir);
    free(ip);
    return rc;
}

/* Index a shard sealed without one: walk the frame headers through the
 * reader (decrypts every chunk a header falls in). */
static int walk_index(sai_dataset_records_t *x, sai_error_t *err)
{
    const sai_dataset_shard_t *s = &sai_dataset_manifest(x->d)->shards[x->shard];
    if (s->records > x->size / FRAME_OVH)
        return sai_error_set(err, SAI_EFORMAT, "%s: more records than bytes", x->name);
    x->n = s->records;
    if ((x->offs = malloc((size_t)(x->n ? x->n : 1) * 8)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    uint64_t off = 0;
    for (uint64_t i = 0; i < x->n; i++) {
        uint8_t h[12];
        if (x->size - off < FRAME_OVH)
            return sai_error_set(err, SAI_EFORMAT, "%s: record %llu of %llu: shard ends early",
                                 x->name, (unsigned long long)i, (unsigned long long)x->n);
        int rc = sai_seal_read_at(x->r, off, h, sizeof h, err);
        if (rc != 0)
            return rc;
        uint64_t len = get_le(h, 8);
        if (get_le(h + 8, 4) != sai_seal__masked_crc32c(h, 8) ||
            len > x->size - off - FRAME_OVH)
            return sai_error_set(err, SAI_EFORMAT, "%s: record %llu of %llu: corrupted record "
                                 "header", x->name, (unsigned long long)i, (unsigned long long)x->n);
        x->offs[i] = off;
        off += len + FRAME_OVH;
    }
    if (off != x->size)
        return sai_error_set(err, SAI_EFORMAT, "%s: %llu bytes after the last record", x->name,
                             (unsigned long long)(x->size - off));
    return 0;
}

/* The shard failed its hash check: say which chunk is damaged and which
 * records it holds, so an operator knows what was hit. Diagnostic only:
 * the shard stays refused whatever this finds. */
static void localise(sai_dataset_records_t *x, sai_error_t *err)
{
    const sai_dataset_shard_t *s = &sai_dataset_manifest(x->d)->shards[x->shard];
    size_t pl = strlen(sai_seal__dataset_dir(x->d)) + strlen(s->name) + 16;
    char *path = malloc(pl);
    sai_seal_reader_t *r = NULL;
    uint8_t *chunk = NULL;
    sai_error_t e2;
    if (path == NULL)
        return;
    snprintf(path, pl, "%s/%s.sealed", sai_seal__dataset_dir(x->d), s->name);
    sai_seal_open_opts_t o = {.expect_key_id = sai_dataset_manifest(x->d)->key_id};
    if (sai_seal_open(&r, path, sai_seal__dataset_key(x->d), &o, &e2) != 0) {
        sai_error_prefix(err, "%s: %s", s->name, e2.msg);
        goto out;
    }
    const sai_seal_header_t *h = sai_seal_reader_header(r);
    if ((chunk = malloc(h->chunk_size)) == NULL)
        goto out;
    for (uint64_t c = 0; c < h->chunks; c++) {
        uint64_t a = c * (uint64_t)h->chunk_size;
        size_t l = (size_t)(h->length - a < h->chunk_size ? h->length - a : h->chunk_size);
        if (sai_seal_read_at(r, a, chunk, l, &e2) == 0)
            continue;
        if (x->offs != NULL && x->n > 0) {
            uint64_t k0 = 0, k1 = 0;
            for (uint64_t k = 0; k < x->n; k++) {
                if (x->offs[k] <= a)
                    k0 = k;
                if (x->offs[k] < a + l)
                    k1 = k;
            }
            if (k0 == k1)
                sai_error_prefix(err, "%s: record %llu of %llu is damaged (chunk %llu fails "
                                 "authentication)", s->name, (unsigned long long)k0,
                                 (unsigned long long)x->n, (unsigned long long)c);
            else
                sai_error_prefix(err, "%s: records %llu..%llu of %llu are damaged (chunk %llu "
                                 "fails authentication)", s->name, (unsigned long long)k0,
                                 (unsigned long long)k1, (unsigned long long)x->n,
                                 (unsigned long long)c);
        } else {
            sai_error_prefix(err, "%s: bytes %llu..%llu are damaged (chunk %llu)", s->name,
                             (unsigned long long)a, (unsigned long long)(a + l),
                             (unsigned long long)c);
        }
        break;
    }
out:
    if (chunk != NULL) {
        sai_wipe(chunk, sai_seal_reader_header(r)->chunk_size);
        free(chunk);
    }
    sai_seal_close(r);
    free(path);
}

void sai_dataset_records_close(sai_dataset_records_t *x)
{
    if (x == NULL)
        return;
    sai_seal_close(x->r);
    if (x->buf != NULL) {
        sai_wipe(x->buf, x->buf_cap);
        free(x->buf);
    }
    free(x->offs);
    free(x);
}

int sai_dataset_records_open(sai_dataset_records_t **out, sai_dataset_t *d, size_t shard,
                             sai_error_t *err)
{
    *out = NULL;
    const sai_manifest_t *m = sai_dataset_manifest(d);
    if (shard >= m->n_shards)
        return sai_error_set(err, SAI_EINVAL, "no shard %zu", shard);
    const sai_dataset_shard_t *s = &m->shards[shard];
    if (s->format != SAI_REC_TFRECORD && s->format != SAI_REC_CIFAR10_BIN &&
        s->format != SAI_REC_IDX)
        return sai_error_set(err, SAI_EUNSUPP, "%s: a %s shard has no addressable records",
                             s->name, sai_record_format_name(s->format));
    sai_dataset_records_t *x = calloc(1, sizeof *x);
    if (x == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    x->d = d;
    x->shard = shard;
    x->name = s->name;
    x->fmt = s->format;
    x->size = s->size;
    int rc = 0;
    if (s->format == SAI_REC_TFRECORD && (rc = load_index(x, err)) != 0 && rc != SAI_ENOTFOUND)
        goto out;
    bool need_walk = s->format == SAI_REC_TFRECORD && x->offs == NULL;
    if ((rc = sai_dataset_open_shard(d, shard, &x->r, err)) != 0) {
        if (rc == SAI_EAUTH)
            localise(x, err);
        goto out;
    }
    if (need_walk) {
        if ((rc = walk_index(x, err)) != 0)
            goto out;
    } else if (s->format == SAI_REC_CIFAR10_BIN) {
        x->rec_len = 3073;
        x->n = s->size / 3073;
    } else if (s->format == SAI_REC_IDX) {
        uint8_t h[4 + 4 * 4];
        size_t hl = s->size < sizeof h ? (size_t)s->size : sizeof h;
        if (hl < 4 || (rc = sai_seal_read_at(x->r, 0, h, hl, err)) != 0) {
            rc = rc ? rc : sai_error_set(err, SAI_EFORMAT, "%s: short IDX file", s->name);
            goto out;
        }
        int es = h[2] == 0x08 || h[2] == 0x09 ? 1 : h[2] == 0x0B ? 2 : h[2] == 0x0E ? 8 : 4;
        size_t nd = h[3];
        if (nd == 0 || nd > 4 || hl < 4 + 4 * nd) {
            rc = sai_error_set(err, SAI_EUNSUPP, "%s: IDX with %zu dimensions", s->name, nd);
            goto out;
        }
        uint64_t per = (uint64_t)es;
        for (size_t i = 1; i < nd; i++) {
            const uint8_t *q = h + 4 + 4 * i;   /* IDX dimensions are big-endian */
            per *= ((uint64_t)q[0] << 24) | ((uint64_t)q[1] << 16) | ((uint64_t)q[2] << 8) | q[3];
        }
        x->base = 4 + 4 * nd;
        x->rec_len = (size_t)per;
        x->n = s->records;
        if (per == 0 || per > SAI_DATASET_RECORD_MAX || x->base + per * x->n != s->size) {
            rc = sai_error_set(err, SAI_EFORMAT, "%s: IDX sizes do not add up", s->name);
            goto out;
        }
    }
    *out = x;
    x = NULL;
out:
    sai_dataset_records_close(x);
    return rc;
}

uint64_t sai_dataset_records_count(const sai_dataset_records_t *x)
{
    return x->n;
}

int sai_dataset_records_get(sai_dataset_records_t *x, uint64_t k, const uint8_t **data, size_t *len,
                            sai_error_t *err)
{
    *data = NULL;
    *len = 0;
    if (k >= x->n)
        return sai_error_set(err, SAI_EINVAL, "%s: record %llu of %llu does not exist", x->name,
                             (unsigned long long)k, (unsigned long long)x->n);
    uint64_t off, flen;
    if (x->offs != NULL) {
        off = x->offs[k];
        flen = (k + 1 < x->n ? x->offs[k + 1] : x->size) - off;
    } else {
        off = x->base + k * x->rec_len;
        flen = x->rec_len;
    }
    if (flen > SAI_DATASET_RECORD_MAX + FRAME_OVH)
        return sai_error_set(err, SAI_ELIMIT, "%s: record %llu is over the size cap", x->name,
                             (unsigned long long)k);
    if (flen > x->buf_cap) {
        uint8_t *nb = malloc((size_t)flen);
        if (nb == NULL)
            return sai_error_set(err, SAI_ENOMEM, "out of memory");
        if (x->buf != NULL) {
            sai_wipe(x->buf, x->buf_cap);
            free(x->buf);
        }
        x->buf = nb;
        x->buf_cap = (size_t)flen;
    }
    int rc = sai_seal_read_at(x->r, off, x->buf, (size_t)flen, err);
    if (rc != 0)
        return sai_error_prefix(err, "%s: record %llu of %llu", x->name, (unsigned long long)k,
                                (unsigned long long)x->n);
    if (x->offs == NULL) {
        *data = x->buf;
        *len = (size_t)flen;
        return 0;
    }
    uint64_t n = get_le(x->buf, 8);
    if (flen < FRAME_OVH || n != flen - FRAME_OVH ||
        get_le(x->buf + 8, 4) != sai_seal__masked_crc32c(x->buf, 8) ||
        get_le(x->buf + 12 + n, 4) != sai_seal__masked_crc32c(x->buf + 12, (size_t)n))
        return sai_error_set(err, SAI_EFORMAT, "%s: record %llu of %llu: frame does not match "
                             "the index (length or CRC)", x->name, (unsigned long long)k,
                             (unsigned long long)x->n);
    *data = x->buf + 12;
    *len = (size_t)n;
    return 0;
}
