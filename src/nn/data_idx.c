/*
 * data_idx.c — IDX files (LeCun's MNIST format, also Fashion-MNIST), plain
 * or gzip-compressed: big-endian magic 0x0000TTDD (type 0x08 = u8, DD =
 * number of dimensions), DD big-endian u32 sizes, then the payload. The
 * decompressed size is checked against the header and capped.
 */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "nn/nn_internal.h"
#include "secureai/util.h"

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int gunzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len, sai_error_t *err)
{
    size_t first = len * 4 + 4096;
    sai_buf_t b;
    sai_buf_init(&b, SAI_NN_DATA_MAX_BYTES);
    if (sai_buf_reserve(&b, first < b.max ? first : b.max) != 0)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        sai_buf_free(&b);
        return sai_error_set(err, SAI_ENOMEM, "zlib init failed");
    }
    int rc = 0;
    size_t in_off = 0;
    for (;;) {
        if (b.len == b.cap && (rc = sai_buf_reserve(&b, 1)) != 0) {
            rc = rc == SAI_ELIMIT ? sai_error_set(err, SAI_ELIMIT, "gzip data expands beyond the %llu-byte cap",
                                                  (unsigned long long)SAI_NN_DATA_MAX_BYTES)
                                  : sai_error_set(err, SAI_ENOMEM, "out of memory");
            break;
        }
        size_t chunk_in = len - in_off > (1u << 30) ? (1u << 30) : len - in_off;
        size_t chunk_out = b.cap - b.len > (1u << 30) ? (1u << 30) : b.cap - b.len;
        zs.next_in = (Bytef *)(uintptr_t)(in + in_off);
        zs.avail_in = (uInt)chunk_in;
        zs.next_out = b.data + b.len;
        zs.avail_out = (uInt)chunk_out;
        int z = inflate(&zs, Z_NO_FLUSH);
        in_off += chunk_in - zs.avail_in;
        sai_buf_commit(&b, chunk_out - zs.avail_out);
        if (z == Z_STREAM_END)
            break;
        if (z != Z_OK && !(z == Z_BUF_ERROR && zs.avail_out == 0)) {
            rc = sai_error_set(err, SAI_EFORMAT, "gzip data is corrupt or truncated (%s)",
                               zs.msg ? zs.msg : "inflate failed");
            break;
        }
        if (zs.avail_out != 0 && in_off == len) {
            rc = sai_error_set(err, SAI_EFORMAT, "gzip data is truncated");
            break;
        }
    }
    inflateEnd(&zs);
    if (rc != 0) {
        sai_buf_free(&b);
        return rc;
    }
    *out = sai_buf_take(&b, out_len);
    return 0;
}

int sai_nn_idx_parse(const uint8_t *buf, size_t len, uint8_t **out, size_t *out_len, int *ndim,
                     uint32_t dims[4], sai_error_t *err)
{
    *out = NULL;
    *out_len = 0;
    uint8_t *plain = NULL;
    size_t plen = len;
    const uint8_t *p = buf;
    if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
        int rc = gunzip(buf, len, &plain, &plen, err);
        if (rc != 0)
            return rc;
        p = plain;
    }
    int rc = 0;
    if (plen < 4 || p[0] != 0 || p[1] != 0) {
        rc = sai_error_set(err, SAI_EFORMAT, "not an IDX file (bad magic)");
        goto out;
    }
    if (p[2] != 0x08) {
        rc = sai_error_set(err, SAI_EUNSUPP, "IDX element type 0x%02x is not supported (only u8)",
                           p[2]);
        goto out;
    }
    int nd = p[3];
    if (nd < 1 || nd > 4) {
        rc = sai_error_set(err, SAI_EFORMAT, "IDX file has %d dimensions (1..4 supported)", nd);
        goto out;
    }
    if (plen < 4 + 4 * (size_t)nd) {
        rc = sai_error_set(err, SAI_EFORMAT, "IDX header is truncated");
        goto out;
    }
    uint64_t total = 1;
    for (int i = 0; i < nd; i++) {
        dims[i] = be32(p + 4 + 4 * i);
        total *= dims[i];
        if (total > SAI_NN_DATA_MAX_BYTES) {
            rc = sai_error_set(err, SAI_ELIMIT, "IDX payload exceeds the size cap");
            goto out;
        }
    }
    size_t hdr = 4 + 4 * (size_t)nd;
    if (plen - hdr != total) {
        rc = sai_error_set(err, SAI_EFORMAT, "IDX payload is %zu bytes, the header says %llu%s",
                           plen - hdr, (unsigned long long)total,
                           plen - hdr < total ? " (truncated)" : "");
        goto out;
    }
    *out = malloc(total ? total : 1);
    if (*out == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(*out, p + hdr, total);
    *out_len = total;
    *ndim = nd;
out:
    free(plain);
    return rc;
}

static int read_all(const sai_nn_source_t *src, uint8_t **buf, sai_error_t *err)
{
    if (src->size > SAI_NN_DATA_MAX_BYTES)
        return sai_error_set(err, SAI_ELIMIT, "%s: larger than the size cap",
                             src->name ? src->name : "IDX source");
    *buf = malloc(src->size ? src->size : 1);
    if (*buf == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    int rc = sai_nn__src_read(src, 0, *buf, src->size, err);
    if (rc != 0) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

int sai_nn_dataset_add_idx(sai_nn_dataset_t *ds, const sai_nn_source_t *images,
                           const sai_nn_source_t *labels, sai_error_t *err)
{
    uint8_t *ib = NULL, *lb = NULL, *ip = NULL, *lp = NULL;
    size_t il = 0, ll = 0;
    int ind = 0, lnd = 0;
    uint32_t idims[4] = {0}, ldims[4] = {0};
    int rc = read_all(images, &ib, err);
    if (rc == 0)
        rc = read_all(labels, &lb, err);
    if (rc == 0 && (rc = sai_nn_idx_parse(ib, images->size, &ip, &il, &ind, idims, err)) != 0)
        sai_error_prefix(err, "%s", images->name ? images->name : "images");
    if (rc == 0 && (rc = sai_nn_idx_parse(lb, labels->size, &lp, &ll, &lnd, ldims, err)) != 0)
        sai_error_prefix(err, "%s", labels->name ? labels->name : "labels");
    if (rc != 0)
        goto out;
    if (ind != 3 || lnd != 1 || idims[0] != ldims[0] || idims[0] == 0 || idims[1] == 0 ||
        idims[2] == 0 || idims[1] > 1024 || idims[2] > 1024) {
        rc = sai_error_set(err, SAI_EFORMAT, "IDX images/labels do not match (want [n][h][w] "
                           "and [n])");
        goto out;
    }
    if (ds->n > 0 && (ds->c != 1 || ds->h != (int)idims[1] || ds->w != (int)idims[2])) {
        rc = sai_error_set(err, SAI_EINVAL, "cannot mix image shapes in one dataset");
        goto out;
    }
    for (size_t i = 0; i < ll; i++)
        if (lp[i] > 9) {
            rc = sai_error_set(err, SAI_EFORMAT, "label %zu is %u (0..9 expected)", i, lp[i]);
            goto out;
        }
    size_t img = (size_t)idims[1] * idims[2];
    size_t n = (size_t)ds->n + idims[0];
    uint8_t *np = realloc(ds->pixels, n * img), *nl;
    if (np == NULL) { rc = sai_error_set(err, SAI_ENOMEM, "out of memory"); goto out; }
    ds->pixels = np;
    nl = realloc(ds->labels, n);
    if (nl == NULL) { rc = sai_error_set(err, SAI_ENOMEM, "out of memory"); goto out; }
    ds->labels = nl;
    memcpy(ds->pixels + (size_t)ds->n * img, ip, il);
    memcpy(ds->labels + ds->n, lp, ll);
    ds->n = (int)n;
    ds->c = 1; ds->h = (int)idims[1]; ds->w = (int)idims[2]; ds->classes = 10;
    if (ds->kind[0] == '\0')
        rc = sai_nn_dataset_set_norm(ds, "fashion-mnist", err);
out:
    free(ib); free(lb); free(ip); free(lp);
    return rc;
}
