/*
 * records.c — record-format detection for sealed-dataset manifests.
 *
 * Formats (what the nn module's data loaders read): raw, cifar10-bin
 * (3073-byte records: 1 label byte 0..9 + 3x32x32 pixels), idx (MNIST IDX:
 * 0,0,type,ndims, ndims big-endian u32 dims, data), idx.gz (the same,
 * gzip'ed), tfrecord (u64 length, masked CRC32C of it, data, masked CRC32C
 * of the data). The content decides; the name only breaks ties (cifar's
 * structure is too weak to claim a file without a ".bin" name). A file that
 * announces a format by name or magic but does not add up is an error, so
 * a damaged shard is caught when it is sealed, not during training.
 */
#include "seal/seal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CIFAR_REC 3073u
#define IO_BUF    (1u << 20)

static const char *const names[] = {"raw", "cifar10-bin", "idx", "idx.gz", "tfrecord"};

const char *sai_record_format_name(sai_record_format_t f)
{
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "?";
}

int sai_record_format_parse(const char *name, sai_record_format_t *out)
{
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (sai_record_format_t)i;
            return 0;
        }
    return SAI_EFORMAT;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* ---- IDX -------------------------------------------------------------------- */

static int idx_elem_size(uint8_t t)
{
    switch (t) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
    }
}

/* From the first bytes of an IDX stream: header length, expected total
 * length and the first dimension. 1 if it is an IDX header, 0 if not. */
static int idx_header(const uint8_t *p, size_t n, size_t *hlen, uint64_t *total, uint64_t *recs)
{
    if (n < 4 || p[0] != 0 || p[1] != 0 || idx_elem_size(p[2]) == 0 || p[3] == 0 || p[3] > 16)
        return 0;
    size_t nd = p[3];
    if (n < 4 + 4 * nd)
        return 0;
    uint64_t cnt = (uint64_t)idx_elem_size(p[2]);
    for (size_t i = 0; i < nd; i++) {
        const uint8_t *d = p + 4 + 4 * i;
        uint64_t v = ((uint64_t)d[0] << 24) | ((uint64_t)d[1] << 16) | ((uint64_t)d[2] << 8) | d[3];
        if (i == 0)
            *recs = v;
        if (v != 0 && cnt > (1ull << 62) / v)
            return 0;
        cnt *= v;
    }
    *hlen = 4 + 4 * nd;
    *total = *hlen + cnt;
    return 1;
}

static int detect_idx_gz(int fd, const char *path, uint64_t *records, sai_error_t *err)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return sai_error_set(err, SAI_ENOMEM, "zlib init failed");
    uint8_t *in = malloc(IO_BUF), *out = malloc(IO_BUF);
    uint8_t head[4 + 4 * 16];
    size_t head_len = 0;
    uint64_t total = 0;
    int rc = 0, zr = Z_OK;
    if (in == NULL || out == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    while (zr != Z_STREAM_END) {
        ssize_t n = read(fd, in, IO_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = sai_error_set(err, SAI_EIO, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        z.next_in = in;
        z.avail_in = (uInt)n;
        while (z.avail_in > 0 && zr != Z_STREAM_END) {
            z.next_out = out;
            z.avail_out = IO_BUF;
            zr = inflate(&z, Z_NO_FLUSH);
            if (zr != Z_OK && zr != Z_STREAM_END) {
                rc = sai_error_set(err, SAI_EFORMAT, "%s: not a valid gzip stream", path);
                goto out;
            }
            size_t got = IO_BUF - z.avail_out;
            if (head_len < sizeof head) {
                size_t t = got < sizeof head - head_len ? got : sizeof head - head_len;
                memcpy(head + head_len, out, t);
                head_len += t;
            }
            total += got;
        }
    }
    if (zr != Z_STREAM_END) {
        rc = sai_error_set(err, SAI_EFORMAT, "%s: gzip stream is truncated", path);
        goto out;
    }
    size_t hl;
    uint64_t want;
    if (!idx_header(head, head_len, &hl, &want, records) || want != total) {
        rc = sai_error_set(err, SAI_EFORMAT, "%s: gzip content is not a consistent IDX file", path);
        goto out;
    }
out:
    inflateEnd(&z);
    free(in);
    free(out);
    return rc;
}

/* ---- TFRecord ----------------------------------------------------------------- */

static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_table[i] = c;
    }
}

static uint32_t crc32c_update(uint32_t c, const uint8_t *p, size_t n)
{
    while (n--)
        c = crc32c_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

uint32_t sai_seal__masked_crc32c(const uint8_t *p, size_t n)
{
    pthread_once(&crc32c_once, crc32c_init);
    uint32_t c = ~crc32c_update(~0u, p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Walk the records checking both CRCs; with offs, also collect each frame's
 * offset (*offs malloc'ed, *records entries). Returns 1 (is tfrecord), 0
 * (not), SAI_ENOMEM. */
static int walk_tfrecord(int fd, uint64_t size, uint64_t *records, uint64_t **offs)
{
    pthread_once(&crc32c_once, crc32c_init);
    uint8_t hdr[12], crc[4];
    uint8_t *buf = malloc(IO_BUF);
    uint64_t off = 0, n = 0, cap = 0;
    uint64_t *o = NULL;
    int ok = 0;
    if (buf == NULL || lseek(fd, 0, SEEK_SET) != 0)
        goto out;
    while (off < size) {
        if (size - off < 16 || sai_read_full(fd, hdr, 12) != 0)
            goto out;
        uint64_t len = 0;
        for (int i = 7; i >= 0; i--)
            len = (len << 8) | hdr[i];
        if (le32(hdr + 8) != sai_seal__masked_crc32c(hdr, 8) || len > size - off - 16)
            goto out;
        uint32_t c = ~0u;   /* incremental CRC32C over the data */
        for (uint64_t left = len; left > 0;) {
            size_t t = left < IO_BUF ? (size_t)left : IO_BUF;
            if (sai_read_full(fd, buf, t) != 0)
                goto out;
            c = crc32c_update(c, buf, t);
            left -= t;
        }
        c = ~c;
        if (sai_read_full(fd, crc, 4) != 0 || le32(crc) != ((c >> 15) | (c << 17)) + 0xa282ead8u)
            goto out;
        if (offs != NULL) {
            if (n == cap) {
                cap = cap ? 2 * cap : 1024;
                uint64_t *no = realloc(o, cap * sizeof *o);
                if (no == NULL) {
                    ok = SAI_ENOMEM;
                    goto out;
                }
                o = no;
            }
            o[n] = off;
        }
        off += 16 + len;
        n++;
    }
    *records = n;
    ok = n > 0;
out:
    if (ok == 1 && offs != NULL) {
        *offs = o;
        o = NULL;
    }
    free(o);
    free(buf);
    return ok;
}

int sai_seal__tfrecord_offsets(const char *path, uint64_t **offs, uint64_t *n, sai_error_t *err)
{
    *offs = NULL;
    *n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sai_error_set(err, SAI_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = sai_error_set(err, SAI_EIO, "cannot stat %s", path);
    else {
        int w = walk_tfrecord(fd, (uint64_t)st.st_size, n, offs);
        if (w == SAI_ENOMEM)
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        else if (w != 1)
            rc = sai_error_set(err, SAI_EFORMAT, "%s: not a TFRecord file", path);
    }
    close(fd);
    return rc;
}

/* ---- CIFAR-10 binary ----------------------------------------------------------- */

static int is_cifar(int fd, uint64_t size, uint64_t *records)
{
    if (size == 0 || size % CIFAR_REC != 0)
        return 0;
    uint8_t *buf = malloc((size_t)CIFAR_REC * 300);
    int ok = 0;
    if (buf == NULL || lseek(fd, 0, SEEK_SET) != 0)
        goto out;
    for (uint64_t left = size; left > 0;) {
        size_t t = left < (uint64_t)CIFAR_REC * 300 ? (size_t)left : (size_t)CIFAR_REC * 300;
        if (sai_read_full(fd, buf, t) != 0)
            goto out;
        for (size_t k = 0; k < t; k += CIFAR_REC)
            if (buf[k] > 9)
                goto out;
        left -= t;
    }
    *records = size / CIFAR_REC;
    ok = 1;
out:
    free(buf);
    return ok;
}

int sai_record_detect(const char *path, sai_record_format_t *fmt, uint64_t *records,
                      sai_error_t *err)
{
    *fmt = SAI_REC_RAW;
    *records = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sai_error_set(err, SAI_EIO, "cannot open %s: %s", path, strerror(errno));
    int rc = 0;
    struct stat st;
    uint8_t head[4 + 4 * 16];
    if (fstat(fd, &st) != 0) {
        rc = sai_error_set(err, SAI_EIO, "cannot stat %s", path);
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    ssize_t hn = pread(fd, head, sizeof head, 0);
    if (hn < 0) {
        rc = sai_error_set(err, SAI_EIO, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    size_t hl;
    uint64_t want, recs;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    bool named_idx = strstr(base, "idx") != NULL || strstr(base, "-ubyte") != NULL;
    if (hn >= 2 && head[0] == 0x1f && head[1] == 0x8b) {
        if (named_idx || ends_with(base, ".gz")) {
            if (lseek(fd, 0, SEEK_SET) != 0) {
                rc = sai_error_set(err, SAI_EIO, "cannot seek %s", path);
                goto out;
            }
            rc = detect_idx_gz(fd, path, records, err);
            if (rc == 0)
                *fmt = SAI_REC_IDX_GZ;
            else if (!named_idx) {      /* some other gzip: raw */
                rc = 0;
                *records = 0;
            }
        }
        goto out;
    }
    if (idx_header(head, (size_t)hn, &hl, &want, &recs)) {
        if (want == size) {
            *fmt = SAI_REC_IDX;
            *records = recs;
            goto out;
        }
        if (named_idx) {
            rc = sai_error_set(err, SAI_EFORMAT, "%s: IDX header says %llu bytes, file has %llu",
                               path, (unsigned long long)want, (unsigned long long)size);
            goto out;
        }
    }
    if (walk_tfrecord(fd, size, &recs, NULL) == 1) {
        *fmt = SAI_REC_TFRECORD;
        *records = recs;
        goto out;
    }
    if (strstr(base, "tfrecord") != NULL) {
        rc = sai_error_set(err, SAI_EFORMAT, "%s: named like a TFRecord file but its records "
                           "do not check out (length or CRC32C)", path);
        goto out;
    }
    if (ends_with(base, ".bin") && is_cifar(fd, size, &recs)) {
        *fmt = SAI_REC_CIFAR10_BIN;
        *records = recs;
    }
out:
    close(fd);
    return rc;
}
