/*
 * tfrecord.c — TFRecord framing (masked CRC-32C on length and data), GZIP
 * and ZLIB streams through zlib, and tf.train.Example through protobuf-c
 * (tfrecord.h). It is a parser of untrusted bytes: every length is checked
 * against SAI_TFRECORD_RECORD_MAX before anything is allocated for it, and
 * fuzz/fuzz_tfrecord.c runs it under libFuzzer.
 *
 * Not here: the dataset loader (data_tfrecord.c) and the sealed-dataset
 * record index (src/seal/records.c, which walks the framing on its own since
 * seal sits below nn in the module map).
 */
#include "secureai/tfrecord.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "secureai/util.h"
#include "tfexample.pb-c.h"

#define IO_CHUNK (256u << 10)   /* bytes pulled from the stream per read */

_Static_assert(sizeof(sai_tfbytes_t) == sizeof(ProtobufCBinaryData) &&
               offsetof(sai_tfbytes_t, len) == offsetof(ProtobufCBinaryData, len) &&
               offsetof(sai_tfbytes_t, data) == offsetof(ProtobufCBinaryData, data),
               "sai_tfbytes_t must mirror ProtobufCBinaryData");

/* ---- CRC-32C ------------------------------------------------------------------ */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

/* Slice-by-8: 8 table lookups per 8 bytes instead of one per byte (the
 * MNIST shard, 3.2 MB, is checked at open and at every sealing). */
uint32_t sai_tfrecord_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (len >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
            crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

static uint32_t mask(uint32_t c)
{
    return ((c >> 15) | (c << 17)) + SAI_TFRECORD_MASK_DELTA;
}

uint32_t sai_tfrecord_masked_crc(const void *data, size_t len)
{
    return mask(sai_tfrecord_crc32c(0, data, len));
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int sai_tfrecord_compression_parse(const char *s, sai_tfrecord_compression_t *out, sai_error_t *err)
{
    if (s == NULL || s[0] == '\0' || strcmp(s, "NONE") == 0)
        *out = SAI_TFRECORD_NONE;
    else if (strcmp(s, "ZLIB") == 0)
        *out = SAI_TFRECORD_ZLIB;
    else if (strcmp(s, "GZIP") == 0)
        *out = SAI_TFRECORD_GZIP;
    else
        return sai_error_set(err, SAI_EINVAL, "unknown TFRecord compression '%s' (NONE, ZLIB, GZIP)",
                             s);
    return 0;
}

/* ---- one frame ---------------------------------------------------------------- */

/* The header: 0 and *len when complete and its CRC matches. */
static int frame_header(const uint8_t *p, size_t avail, uint64_t *len, sai_error_t *err)
{
    if (avail < 12)
        return sai_error_set(err, SAI_EFORMAT, "truncated record (%zu header bytes of 12)", avail);
    if (le32(p + 8) != sai_tfrecord_masked_crc(p, 8))
        return sai_error_set(err, SAI_EFORMAT, "corrupted record: length CRC mismatch");
    *len = le64(p);
    if (*len > SAI_TFRECORD_RECORD_MAX)
        return sai_error_set(err, SAI_ELIMIT, "record of %llu bytes is over the %u-byte cap",
                             (unsigned long long)*len, SAI_TFRECORD_RECORD_MAX);
    return 0;
}

int sai_tfrecord_frame_parse(const uint8_t *buf, size_t avail, const uint8_t **data, size_t *len,
                             size_t *frame_len, sai_error_t *err)
{
    uint64_t n = 0;
    int rc = frame_header(buf, avail, &n, err);
    if (rc != 0)
        return rc;
    if (avail - 12 < n + 4)
        return sai_error_set(err, SAI_EFORMAT, "truncated record (%llu data bytes, %zu available)",
                             (unsigned long long)n, avail - 12);
    if (le32(buf + 12 + n) != sai_tfrecord_masked_crc(buf + 12, (size_t)n))
        return sai_error_set(err, SAI_EFORMAT, "corrupted record: data CRC mismatch");
    *data = buf + 12;
    *len = (size_t)n;
    *frame_len = (size_t)n + SAI_TFRECORD_FRAME_OVERHEAD;
    return 0;
}

/* ---- reader ------------------------------------------------------------------- */

struct sai_tfrecord_reader_t {
    sai_tfrecord_read_fn     fn;
    void                    *ctx;
    char                    *name;
    sai_tfrecord_compression_t comp;
    int                      fd;           /* reader_open's file, else -1 */
    z_stream                 z;
    bool                     z_live;
    bool                     z_ended;      /* the last member ended at a stream end */
    uint8_t                 *in;           /* compressed input */
    bool                     in_eof;       /* fn returned 0 */
    uint8_t                 *buf;          /* uncompressed bytes buf[pos..end) */
    size_t                   pos, end, cap;
    bool                     eof;          /* no more uncompressed bytes will come */
    uint64_t                 offset;       /* stream offset of buf[pos] */
    uint64_t                 count;
};

static int fd_read(void *ctx, void *buf, size_t len, size_t *got, sai_error_t *err)
{
    int fd = (int)(intptr_t)ctx;
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sai_error_set(err, SAI_EIO, "read failed: %s", strerror(errno));
        *got = (size_t)n;
        return 0;
    }
}

int sai_tfrecord_reader_new(sai_tfrecord_reader_t **out, sai_tfrecord_read_fn fn, void *ctx,
                            const char *name, sai_tfrecord_compression_t c, sai_error_t *err)
{
    *out = NULL;
    sai_tfrecord_reader_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    r->fn = fn;
    r->ctx = ctx;
    r->comp = c;
    r->fd = -1;
    r->name = strdup(name ? name : "tfrecord");
    r->cap = IO_CHUNK;
    r->buf = malloc(r->cap);
    if (r->name == NULL || r->buf == NULL)
        goto nomem;
    if (c != SAI_TFRECORD_NONE) {
        if ((r->in = malloc(IO_CHUNK)) == NULL)
            goto nomem;
        if (inflateInit2(&r->z, c == SAI_TFRECORD_GZIP ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK)
            goto nomem;
        r->z_live = true;
    }
    *out = r;
    return 0;
nomem:
    sai_tfrecord_reader_close(r);
    return sai_error_set(err, SAI_ENOMEM, "out of memory");
}

int sai_tfrecord_reader_open(sai_tfrecord_reader_t **out, const char *path,
                             sai_tfrecord_compression_t c, sai_error_t *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sai_error_set(err, errno == ENOENT ? SAI_ENOTFOUND : SAI_EIO, "cannot open %s: %s",
                             path, strerror(errno));
    int rc = sai_tfrecord_reader_new(out, fd_read, (void *)(intptr_t)fd, path, c, err);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    (*out)->fd = fd;
    return 0;
}

void sai_tfrecord_reader_close(sai_tfrecord_reader_t *r)
{
    if (r == NULL)
        return;
    if (r->z_live)
        inflateEnd(&r->z);
    if (r->fd >= 0)
        close(r->fd);
    free(r->in);
    free(r->buf);
    free(r->name);
    free(r);
}

uint64_t sai_tfrecord_reader_count(const sai_tfrecord_reader_t *r)
{
    return r->count;
}

/* Inflate more bytes into buf[end..cap). */
static int inflate_more(sai_tfrecord_reader_t *r, sai_error_t *err)
{
    for (;;) {
        if (r->z.avail_in == 0 && !r->in_eof) {
            size_t got = 0;
            int rc = r->fn(r->ctx, r->in, IO_CHUNK, &got, err);
            if (rc != 0)
                return rc;
            if (got == 0)
                r->in_eof = true;
            r->z.next_in = r->in;
            r->z.avail_in = (uInt)got;
        }
        if (r->z.avail_in == 0 && r->in_eof) {
            if (!r->z_ended)
                return sai_error_set(err, SAI_EFORMAT, "%s stream is truncated",
                                     r->comp == SAI_TFRECORD_GZIP ? "gzip" : "zlib");
            r->eof = true;
            return 0;
        }
        if (r->z_ended) {
            /* bytes after the end of a stream: a further gzip member (as
             * gzip(1) and TF's writer allow); garbage after zlib is an error */
            if (r->comp != SAI_TFRECORD_GZIP)
                return sai_error_set(err, SAI_EFORMAT, "bytes after the end of the zlib stream");
            if (inflateReset(&r->z) != Z_OK)
                return sai_error_set(err, SAI_EFORMAT, "zlib reset failed");
            r->z_ended = false;
        }
        r->z.next_out = r->buf + r->end;
        r->z.avail_out = (uInt)(r->cap - r->end);
        int zr = inflate(&r->z, Z_NO_FLUSH);
        size_t made = (r->cap - r->end) - r->z.avail_out;
        r->end += made;
        if (zr == Z_STREAM_END)
            r->z_ended = true;
        else if (zr != Z_OK && zr != Z_BUF_ERROR)
            return sai_error_set(err, SAI_EFORMAT, "not a valid %s stream (%s)",
                                 r->comp == SAI_TFRECORD_GZIP ? "gzip" : "zlib",
                                 r->z.msg ? r->z.msg : "inflate failed");
        if (made > 0)
            return 0;
    }
}

/* Make at least need bytes available at buf[pos..), or as many as the
 * stream has left. */
static int fill(sai_tfrecord_reader_t *r, size_t need, sai_error_t *err)
{
    if (r->end - r->pos >= need || r->eof)
        return 0;
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->end - r->pos);
        r->end -= r->pos;
        r->pos = 0;
    }
    if (need > r->cap) {
        size_t c = r->cap;
        while (c < need)
            c *= 2;
        uint8_t *nb = realloc(r->buf, c);
        if (nb == NULL)
            return sai_error_set(err, SAI_ENOMEM, "out of memory for a %zu-byte record", need);
        r->buf = nb;
        r->cap = c;
    }
    while (r->end < need && !r->eof) {
        if (r->comp == SAI_TFRECORD_NONE) {
            size_t got = 0;
            int rc = r->fn(r->ctx, r->buf + r->end, r->cap - r->end, &got, err);
            if (rc != 0)
                return rc;
            if (got == 0)
                r->eof = true;
            r->end += got;
        } else {
            int rc = inflate_more(r, err);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

int sai_tfrecord_next(sai_tfrecord_reader_t *r, const uint8_t **data, size_t *len,
                      uint64_t *offset, sai_error_t *err)
{
    *data = NULL;
    *len = 0;
    int rc = fill(r, 12, err);
    if (rc == 0 && r->end == r->pos && r->eof)
        return 0;                       /* clean end of stream */
    uint64_t n = 0;
    if (rc == 0)
        rc = frame_header(r->buf + r->pos, r->end - r->pos, &n, err);
    if (rc == 0)
        rc = fill(r, (size_t)n + SAI_TFRECORD_FRAME_OVERHEAD, err);
    const uint8_t *d = NULL;
    size_t dl = 0, fl = 0;
    if (rc == 0)
        rc = sai_tfrecord_frame_parse(r->buf + r->pos, r->end - r->pos, &d, &dl, &fl, err);
    if (rc != 0)
        return sai_error_prefix(err, "%s: record %llu at offset %llu", r->name,
                                (unsigned long long)r->count, (unsigned long long)r->offset);
    if (offset != NULL)
        *offset = r->offset;
    *data = d;
    *len = dl;
    r->pos += fl;
    r->offset += fl;
    r->count++;
    return 0;
}

/* ---- writer ------------------------------------------------------------------- */

struct sai_tfrecord_writer_t {
    sai_tfrecord_write_fn    fn;
    void                    *ctx;
    sai_tfrecord_compression_t comp;
    z_stream                 z;
    bool                     z_live;
    uint8_t                 *out;
    int                      fd;       /* writer_create's file, else -1 */
    char                    *path;     /* removed by free unless finished */
    bool                     finished;
};

static int fd_write(void *ctx, const void *buf, size_t len, sai_error_t *err)
{
    if (sai_write_full((int)(intptr_t)ctx, buf, len) != 0)
        return sai_error_set(err, SAI_EIO, "write failed: %s", strerror(errno));
    return 0;
}

int sai_tfrecord_writer_new(sai_tfrecord_writer_t **out, sai_tfrecord_write_fn fn, void *ctx,
                            sai_tfrecord_compression_t c, sai_error_t *err)
{
    *out = NULL;
    sai_tfrecord_writer_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    w->fn = fn;
    w->ctx = ctx;
    w->comp = c;
    w->fd = -1;
    if (c != SAI_TFRECORD_NONE) {
        if ((w->out = malloc(IO_CHUNK)) == NULL ||
            deflateInit2(&w->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                         c == SAI_TFRECORD_GZIP ? 16 + MAX_WBITS : MAX_WBITS, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK) {
            free(w->out);
            free(w);
            return sai_error_set(err, SAI_ENOMEM, "out of memory");
        }
        w->z_live = true;
    }
    *out = w;
    return 0;
}

int sai_tfrecord_writer_create(sai_tfrecord_writer_t **out, const char *path,
                               sai_tfrecord_compression_t c, sai_error_t *err)
{
    *out = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return sai_error_set(err, errno == EEXIST ? SAI_EEXIST : SAI_EIO, "cannot create %s: %s",
                             path, strerror(errno));
    int rc = sai_tfrecord_writer_new(out, fd_write, (void *)(intptr_t)fd, c, err);
    if (rc == 0 && ((*out)->path = strdup(path)) == NULL) {
        sai_tfrecord_writer_free(*out);
        *out = NULL;
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    if (rc != 0) {
        close(fd);
        unlink(path);
        return rc;
    }
    (*out)->fd = fd;
    return 0;
}

static int emit(sai_tfrecord_writer_t *w, const void *p, size_t n, int flush, sai_error_t *err)
{
    if (w->comp == SAI_TFRECORD_NONE)
        return n > 0 ? w->fn(w->ctx, p, n, err) : 0;
    w->z.next_in = (Bytef *)(uintptr_t)p;   /* zlib's API is not const-correct */
    w->z.avail_in = (uInt)n;
    int zr;
    do {
        w->z.next_out = w->out;
        w->z.avail_out = IO_CHUNK;
        zr = deflate(&w->z, flush);
        if (zr == Z_STREAM_ERROR)
            return sai_error_set(err, SAI_EIO, "deflate failed");
        size_t made = IO_CHUNK - w->z.avail_out;
        if (made > 0) {
            int rc = w->fn(w->ctx, w->out, made, err);
            if (rc != 0)
                return rc;
        }
    } while (w->z.avail_in > 0 || w->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
    return 0;
}

int sai_tfrecord_write(sai_tfrecord_writer_t *w, const void *data, size_t len, sai_error_t *err)
{
    if (w->finished)
        return sai_error_set(err, SAI_ESTATE, "TFRecord writer already finished");
    if (len > SAI_TFRECORD_RECORD_MAX)
        return sai_error_set(err, SAI_ELIMIT, "record of %zu bytes is over the %u-byte cap", len,
                             SAI_TFRECORD_RECORD_MAX);
    uint8_t hdr[12], tail[4];
    for (int i = 0; i < 8; i++)
        hdr[i] = (uint8_t)((uint64_t)len >> (8 * i));
    put_le32(hdr + 8, sai_tfrecord_masked_crc(hdr, 8));
    put_le32(tail, sai_tfrecord_masked_crc(data, len));
    /* a record larger than uInt is written in pieces */
    int rc = emit(w, hdr, sizeof hdr, Z_NO_FLUSH, err);
    for (size_t off = 0; rc == 0 && off < len;) {
        size_t t = len - off < (1u << 30) ? len - off : (1u << 30);
        rc = emit(w, (const uint8_t *)data + off, t, Z_NO_FLUSH, err);
        off += t;
    }
    if (rc == 0)
        rc = emit(w, tail, sizeof tail, Z_NO_FLUSH, err);
    return rc;
}

int sai_tfrecord_writer_finish(sai_tfrecord_writer_t *w, sai_error_t *err)
{
    int rc = 0;
    if (w->comp != SAI_TFRECORD_NONE)
        rc = emit(w, NULL, 0, Z_FINISH, err);
    if (rc == 0 && w->fd >= 0) {
        if (fsync(w->fd) != 0)
            rc = sai_error_set(err, SAI_EIO, "fsync %s: %s", w->path, strerror(errno));
        if (close(w->fd) != 0 && rc == 0)
            rc = sai_error_set(err, SAI_EIO, "close %s: %s", w->path, strerror(errno));
        w->fd = -1;
    }
    if (rc == 0)
        w->finished = true;
    return rc;
}

void sai_tfrecord_writer_free(sai_tfrecord_writer_t *w)
{
    if (w == NULL)
        return;
    if (w->z_live)
        deflateEnd(&w->z);
    if (w->fd >= 0)
        close(w->fd);
    if (w->path != NULL && !w->finished)
        unlink(w->path);
    free(w->path);
    free(w->out);
    free(w);
}

/* ---- tf.train.Example ----------------------------------------------------------- */

struct sai_tfexample_t {
    Sai__Tfexample__Example *msg;
};

int sai_tfexample_parse(sai_tfexample_t **out, const uint8_t *data, size_t len, sai_error_t *err)
{
    *out = NULL;
    if (len > SAI_TFRECORD_RECORD_MAX)
        return sai_error_set(err, SAI_ELIMIT, "Example of %zu bytes is over the cap", len);
    sai_tfexample_t *ex = calloc(1, sizeof *ex);
    if (ex == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    ex->msg = sai__tfexample__example__unpack(NULL, len, data);
    if (ex->msg == NULL) {
        free(ex);
        return sai_error_set(err, SAI_EFORMAT, "not a valid tf.train.Example (protobuf decoding "
                             "failed)");
    }
    *out = ex;
    return 0;
}

void sai_tfexample_free(sai_tfexample_t *ex)
{
    if (ex == NULL)
        return;
    sai__tfexample__example__free_unpacked(ex->msg, NULL);
    free(ex);
}

size_t sai_tfexample_count(const sai_tfexample_t *ex)
{
    return ex->msg->features != NULL ? ex->msg->features->n_feature : 0;
}

static void view(const Sai__Tfexample__FeatureEntry *e, sai_tffeature_t *f)
{
    memset(f, 0, sizeof *f);
    f->key = e->key != NULL ? e->key : "";
    const Sai__Tfexample__Feature *v = e->value;
    if (v == NULL)
        return;
    switch (v->kind_case) {
    case SAI__TFEXAMPLE__FEATURE__KIND_BYTES_LIST:
        f->kind = SAI_TFFEATURE_BYTES;
        f->n = v->bytes_list->n_value;
        f->bytes = (const sai_tfbytes_t *)v->bytes_list->value;
        break;
    case SAI__TFEXAMPLE__FEATURE__KIND_FLOAT_LIST:
        f->kind = SAI_TFFEATURE_FLOAT;
        f->n = v->float_list->n_value;
        f->floats = v->float_list->value;
        break;
    case SAI__TFEXAMPLE__FEATURE__KIND_INT64_LIST:
        f->kind = SAI_TFFEATURE_INT64;
        f->n = v->int64_list->n_value;
        f->int64s = v->int64_list->value;
        break;
    default:
        break;
    }
}

int sai_tfexample_at(const sai_tfexample_t *ex, size_t i, sai_tffeature_t *f)
{
    if (i >= sai_tfexample_count(ex))
        return SAI_EINVAL;
    view(ex->msg->features->feature[i], f);
    return 0;
}

int sai_tfexample_get(const sai_tfexample_t *ex, const char *key, sai_tffeature_t *f)
{
    size_t n = sai_tfexample_count(ex);
    for (size_t i = n; i-- > 0;) {
        const Sai__Tfexample__FeatureEntry *e = ex->msg->features->feature[i];
        if (e->key != NULL && strcmp(e->key, key) == 0) {
            view(e, f);
            return 0;
        }
    }
    memset(f, 0, sizeof *f);
    return SAI_ENOTFOUND;
}

int sai_tfexample_encode(const sai_tffeature_t *features, size_t n, uint8_t **out, size_t *out_len,
                         sai_error_t *err)
{
    *out = NULL;
    *out_len = 0;
    int rc = SAI_ENOMEM;
    Sai__Tfexample__Example ex = SAI__TFEXAMPLE__EXAMPLE__INIT;
    Sai__Tfexample__Features fs = SAI__TFEXAMPLE__FEATURES__INIT;
    Sai__Tfexample__FeatureEntry *ents = calloc(n ? n : 1, sizeof *ents);
    Sai__Tfexample__FeatureEntry **eptr = calloc(n ? n : 1, sizeof *eptr);
    Sai__Tfexample__Feature *vals = calloc(n ? n : 1, sizeof *vals);
    Sai__Tfexample__BytesList *bl = calloc(n ? n : 1, sizeof *bl);
    Sai__Tfexample__FloatList *fl = calloc(n ? n : 1, sizeof *fl);
    Sai__Tfexample__Int64List *il = calloc(n ? n : 1, sizeof *il);
    if (!ents || !eptr || !vals || !bl || !fl || !il)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const sai_tffeature_t *f = &features[i];
        sai__tfexample__feature_entry__init(&ents[i]);
        sai__tfexample__feature__init(&vals[i]);
        ents[i].key = (char *)(uintptr_t)f->key;     /* protobuf-c packs from non-const */
        ents[i].value = &vals[i];
        eptr[i] = &ents[i];
        switch (f->kind) {
        case SAI_TFFEATURE_BYTES:
            sai__tfexample__bytes_list__init(&bl[i]);
            bl[i].n_value = f->n;
            bl[i].value = (ProtobufCBinaryData *)(uintptr_t)f->bytes;
            vals[i].kind_case = SAI__TFEXAMPLE__FEATURE__KIND_BYTES_LIST;
            vals[i].bytes_list = &bl[i];
            break;
        case SAI_TFFEATURE_FLOAT:
            sai__tfexample__float_list__init(&fl[i]);
            fl[i].n_value = f->n;
            fl[i].value = (float *)(uintptr_t)f->floats;
            vals[i].kind_case = SAI__TFEXAMPLE__FEATURE__KIND_FLOAT_LIST;
            vals[i].float_list = &fl[i];
            break;
        case SAI_TFFEATURE_INT64:
            sai__tfexample__int64_list__init(&il[i]);
            il[i].n_value = f->n;
            il[i].value = (int64_t *)(uintptr_t)f->int64s;
            vals[i].kind_case = SAI__TFEXAMPLE__FEATURE__KIND_INT64_LIST;
            vals[i].int64_list = &il[i];
            break;
        default:
            break;
        }
    }
    fs.n_feature = n;
    fs.feature = eptr;
    ex.features = &fs;
    size_t len = sai__tfexample__example__get_packed_size(&ex);
    if ((*out = malloc(len ? len : 1)) == NULL)
        goto out;
    *out_len = sai__tfexample__example__pack(&ex, *out);
    rc = 0;
out:
    if (rc != 0)
        sai_error_set(err, rc, "out of memory");
    free(ents);
    free(eptr);
    free(vals);
    free(bl);
    free(fl);
    free(il);
    return rc;
}
