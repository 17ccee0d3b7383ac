/*
 * fuzz_tfrecord.c — libFuzzer target for the TFRecord reader and the
 * tf.train.Example decoder (src/nn/tfrecord.c), both fed untrusted bytes
 * (a dataset shard, a user's file). The first input byte picks the
 * compression (none, ZLIB, GZIP) and how many bytes each read returns, so
 * refills across frame and stream boundaries are reached. Properties beyond
 * "no crash": every record the stream reader returns also parses as a
 * frame in memory with the same length, and every feature of a decoded
 * Example has a consistent view (its values readable to the last one).
 * Seeds: fuzz/corpus/fuzz_tfrecord/ (small slices of tests/data/tfrecord/).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/tfrecord.h"

typedef struct {
    const uint8_t *p;
    size_t len, off, step;
} src_t;

static int rd(void *ctx, void *buf, size_t len, size_t *got, sai_error_t *err)
{
    (void)err;
    src_t *s = ctx;
    size_t t = s->len - s->off;
    t = t < len ? t : len;
    t = t < s->step ? t : s->step;
    memcpy(buf, s->p + s->off, t);
    s->off += t;
    *got = t;
    return 0;
}

static volatile uint64_t sink;

static void touch_example(const uint8_t *d, size_t len)
{
    sai_tfexample_t *ex;
    if (sai_tfexample_parse(&ex, d, len, NULL) != 0)
        return;
    size_t n = sai_tfexample_count(ex);
    for (size_t i = 0; i < n; i++) {
        sai_tffeature_t f;
        if (sai_tfexample_at(ex, i, &f) != 0 || f.key == NULL)
            abort();
        sai_tffeature_t g;
        if (sai_tfexample_get(ex, f.key, &g) != 0)
            abort();
        for (size_t k = 0; k < f.n; k++) {
            if (f.kind == SAI_TFFEATURE_FLOAT)
                sink += (uint64_t)f.floats[k];
            else if (f.kind == SAI_TFFEATURE_INT64)
                sink += (uint64_t)f.int64s[k];
            else if (f.kind == SAI_TFFEATURE_BYTES && f.bytes[k].len > 0)
                sink += f.bytes[k].data[f.bytes[k].len - 1];
        }
    }
    sai_tfexample_free(ex);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    sai_tfrecord_compression_t c = (sai_tfrecord_compression_t)(data[0] % 3);
    src_t s = {data + 1, size - 1, 0, 1 + (size_t)(data[0] >> 2) * 97};
    /* the in-memory frame parser on the raw bytes */
    const uint8_t *d;
    size_t dl, fl;
    if (sai_tfrecord_frame_parse(s.p, s.len, &d, &dl, &fl, NULL) == 0) {
        if (fl != dl + SAI_TFRECORD_FRAME_OVERHEAD || fl > s.len || d != s.p + 12)
            abort();
        touch_example(d, dl);
    }
    /* the stream reader */
    sai_tfrecord_reader_t *r;
    if (sai_tfrecord_reader_new(&r, rd, &s, "fuzz", c, NULL) != 0)
        return 0;
    for (int i = 0; i < 10000; i++) {
        uint64_t off;
        if (sai_tfrecord_next(r, &d, &dl, &off, NULL) != 0 || d == NULL)
            break;
        if (c == SAI_TFRECORD_NONE) {
            const uint8_t *d2;
            size_t dl2, fl2;
            if (off > s.len || sai_tfrecord_frame_parse(s.p + off, s.len - off, &d2, &dl2, &fl2,
                                                        NULL) != 0 || dl2 != dl ||
                memcmp(d2, d, dl) != 0)
                abort();
        }
        touch_example(d, dl);
    }
    sai_tfrecord_reader_close(r);
    return 0;
}
