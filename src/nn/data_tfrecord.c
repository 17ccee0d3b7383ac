/*
 * data_tfrecord.c — the engine's TFRecord loader: every tf.train.Example of
 * a TFRecord stream (plain, GZIP or ZLIB) read through a random-access
 * source (a plain file, memory, or the pipeline's sealed-shard reader) and
 * appended to a dataset as uint8 pixels and a label, by a feature mapping
 * (tfrecord.h, sai_nn_tfrecord_map_t). The codec is tfrecord.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_internal.h"
#include "secureai/tfrecord.h"

typedef struct {
    const sai_nn_source_t *src;
    uint64_t               off;
} src_stream;

static int src_pull(void *ctx, void *buf, size_t len, size_t *got, sai_error_t *err)
{
    src_stream *s = ctx;
    uint64_t left = s->src->size - s->off;
    size_t t = left < len ? (size_t)left : len;
    *got = 0;
    if (t == 0)
        return 0;
    int rc = sai_nn__src_read(s->src, s->off, buf, t, err);
    if (rc != 0)
        return rc;
    s->off += t;
    *got = t;
    return 0;
}

static int grow(sai_nn_dataset_t *ds, size_t cap, size_t img, sai_error_t *err)
{
    if (cap > (size_t)1 << 26 || cap * img > SAI_NN_DATA_MAX_BYTES)
        return sai_error_set(err, SAI_ELIMIT, "dataset too large (%zu records)", cap);
    uint8_t *p = realloc(ds->pixels, cap * img);
    if (p == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory for %zu records", cap);
    ds->pixels = p;
    uint8_t *l = realloc(ds->labels, cap);
    if (l == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory for %zu labels", cap);
    ds->labels = l;
    return 0;
}

/* One Example into pixels[img] and *label. */
static int decode(const sai_tfexample_t *ex, const sai_nn_tfrecord_map_t *m, size_t img,
                  uint8_t *px, uint8_t *label, sai_error_t *err)
{
    sai_tffeature_t f;
    if (sai_tfexample_get(ex, m->image, &f) != 0)
        return sai_error_set(err, SAI_EFORMAT, "no image feature '%s'", m->image);
    if (f.kind == SAI_TFFEATURE_BYTES && f.n == 1 && f.bytes[0].len == img) {
        memcpy(px, f.bytes[0].data, img);
    } else if (f.kind == SAI_TFFEATURE_FLOAT && f.n == img) {
        for (size_t k = 0; k < img; k++) {
            float v = (f.floats[k] * m->scale + m->offset) * 255.0f;
            if (!isfinite(v))
                return sai_error_set(err, SAI_EFORMAT, "image value %zu is not finite", k);
            px[k] = (uint8_t)(v < 0.0f ? 0 : v > 255.0f ? 255 : (int)lrintf(v));
        }
    } else {
        return sai_error_set(err, SAI_EFORMAT, "image feature '%s' is not %zu floats or one "
                             "%zu-byte raw uint8 value (encoded images are not decoded)",
                             m->image, img, img);
    }
    if (sai_tfexample_get(ex, m->label, &f) != 0 || f.kind != SAI_TFFEATURE_INT64 || f.n != 1)
        return sai_error_set(err, SAI_EFORMAT, "label feature '%s' is not one int64", m->label);
    if (f.int64s[0] < 0 || f.int64s[0] >= m->classes)
        return sai_error_set(err, SAI_EFORMAT, "label %lld is outside 0..%d",
                             (long long)f.int64s[0], m->classes - 1);
    *label = (uint8_t)f.int64s[0];
    return 0;
}

int sai_nn_dataset_add_tfrecord(sai_nn_dataset_t *ds, const sai_nn_source_t *src,
                                const sai_nn_tfrecord_map_t *m, sai_error_t *err)
{
    const char *name = src->name ? src->name : "TFRecord";
    if (m->image == NULL || m->label == NULL || m->c < 1 || m->c > 3 || m->h < 1 ||
        m->h > 1024 || m->w < 1 || m->w > 1024 || m->classes < 2 || m->classes > 256)
        return sai_error_set(err, SAI_EINVAL, "%s: bad feature mapping (image, label, c 1..3, "
                             "h and w 1..1024, classes 2..256)", name);
    if (ds->n > 0 && (ds->c != m->c || ds->h != m->h || ds->w != m->w))
        return sai_error_set(err, SAI_EINVAL, "%s: cannot mix %dx%dx%d with %dx%dx%d images",
                             name, m->c, m->h, m->w, ds->c, ds->h, ds->w);
    size_t img = (size_t)m->c * (size_t)m->h * (size_t)m->w;
    src_stream s = {src, 0};
    sai_tfrecord_reader_t *r = NULL;
    sai_tfexample_t *ex = NULL;
    size_t n = (size_t)ds->n, cap = n;
    int rc = sai_tfrecord_reader_new(&r, src_pull, &s, name, m->compression, err);
    while (rc == 0) {
        const uint8_t *d;
        size_t len;
        uint64_t off;
        if ((rc = sai_tfrecord_next(r, &d, &len, &off, err)) != 0 || d == NULL)
            break;
        if (n == cap && (rc = grow(ds, cap ? cap * 2 : 1024, img, err)) == 0)
            cap = cap ? cap * 2 : 1024;
        if (rc == 0)
            rc = sai_tfexample_parse(&ex, d, len, err);
        if (rc == 0)
            rc = decode(ex, m, img, ds->pixels + n * img, &ds->labels[n], err);
        sai_tfexample_free(ex);
        ex = NULL;
        if (rc != 0) {
            sai_error_prefix(err, "%s: record %llu", name,
                             (unsigned long long)(sai_tfrecord_reader_count(r) - 1));
            break;
        }
        n++;
    }
    sai_tfrecord_reader_close(r);
    if (rc == 0 && n == (size_t)ds->n)
        rc = sai_error_set(err, SAI_EFORMAT, "%s: no records", name);
    if (rc != 0)
        return rc;
    ds->n = (int)n;
    ds->c = m->c;
    ds->h = m->h;
    ds->w = m->w;
    ds->classes = m->classes;
    return 0;
}
