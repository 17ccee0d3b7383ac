/*
 * tfrecord.h — TensorFlow's TFRecord container and tf.train.Example records,
 * read and written in C (part of the nn module's data loaders; the sealed
 * dataset code in src/seal/ walks the same framing on its own).
 *
 * Framing (tensorflow/core/lib/io/record_writer.h), little-endian:
 *
 *   uint64 length | uint32 masked_crc32c(length) | data[length] | uint32 masked_crc32c(data)
 *
 * masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8. "GZIP" and "ZLIB"
 * compression wrap the whole framed stream (not each record). Both CRCs are
 * checked on every record; they detect accidents, not attackers (a sealed
 * dataset is what authenticates records).
 *
 * tf.train.Example is decoded with protobuf-c (src/nn/tfexample.proto, wire
 * compatible with tensorflow/core/example/{example,feature}.proto); packed
 * and unpacked float / int64 lists are both accepted.
 *
 * Ownership: every object comes from its *_open / *_new / *_parse function
 * and is freed by the matching *_free / *_close (NULL is fine). Pointers
 * returned by sai_tfrecord_next stay valid until the next call on the same
 * reader; views into an Example stay valid until it is freed.
 */
#ifndef SECUREAI_TFRECORD_H
#define SECUREAI_TFRECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secureai/common.h"
#include "secureai/nn.h"

#define SAI_TFRECORD_FRAME_OVERHEAD 16u          /* 8 length + 4 CRC + 4 CRC */
#define SAI_TFRECORD_RECORD_MAX     (256u << 20) /* cap on one record's length */
#define SAI_TFRECORD_MASK_DELTA     0xa282ead8u

/* CRC-32C (Castagnoli): crc = 0 to start, chain by passing the previous value. */
uint32_t sai_tfrecord_crc32c(uint32_t crc, const void *data, size_t len);
/* TensorFlow's masked CRC of crc32c(data). */
uint32_t sai_tfrecord_masked_crc(const void *data, size_t len);

typedef enum sai_tfrecord_compression_t {
    SAI_TFRECORD_NONE = 0,
    SAI_TFRECORD_ZLIB,    /* zlib stream (window bits 15) */
    SAI_TFRECORD_GZIP,    /* gzip stream (window bits 31), concatenated members allowed */
} sai_tfrecord_compression_t;

/* "" / "NONE", "ZLIB", "GZIP" (TensorFlow's option strings). */
int sai_tfrecord_compression_parse(const char *s, sai_tfrecord_compression_t *out,
                                   sai_error_t *err) SAI_MUST_CHECK;

/* Parse one frame at the start of buf[0..avail). On success *data and *len are
 * the record (pointing into buf) and *frame_len the bytes it took. Errors:
 * SAI_EFORMAT "truncated record" when avail is short, "corrupted record"
 * when a CRC fails, SAI_ELIMIT over SAI_TFRECORD_RECORD_MAX. */
int sai_tfrecord_frame_parse(const uint8_t *buf, size_t avail, const uint8_t **data,
                             size_t *len, size_t *frame_len, sai_error_t *err) SAI_MUST_CHECK;

/* ---- sequential reader ------------------------------------------------------ */

/* A byte stream: read up to len bytes into buf, *got = 0 at end of stream. */
typedef int (*sai_tfrecord_read_fn)(void *ctx, void *buf, size_t len, size_t *got,
                                    sai_error_t *err);

typedef struct sai_tfrecord_reader_t sai_tfrecord_reader_t;

/* A reader over fn/ctx (borrowed until close). name is copied and used in
 * every message ("<name>: record 3 at offset 9612: corrupted record"). */
int sai_tfrecord_reader_new(sai_tfrecord_reader_t **out, sai_tfrecord_read_fn fn, void *ctx,
                            const char *name, sai_tfrecord_compression_t c,
                            sai_error_t *err) SAI_MUST_CHECK;
/* A reader over a file it opens (and closes). */
int sai_tfrecord_reader_open(sai_tfrecord_reader_t **out, const char *path,
                             sai_tfrecord_compression_t c, sai_error_t *err) SAI_MUST_CHECK;
/* The next record: *data and *len, valid until the next call; *data = NULL and
 * *len = 0 at a clean end of stream (a stream ending inside a frame, or a
 * compressed stream ending early, is an error). offset (may be NULL) gets
 * the record frame's offset in the uncompressed stream. */
int sai_tfrecord_next(sai_tfrecord_reader_t *r, const uint8_t **data, size_t *len,
                      uint64_t *offset, sai_error_t *err) SAI_MUST_CHECK;
/* Records returned so far. */
uint64_t sai_tfrecord_reader_count(const sai_tfrecord_reader_t *r);
void sai_tfrecord_reader_close(sai_tfrecord_reader_t *r);

/* ---- writer ---------------------------------------------------------------- */

/* A byte sink: write all len bytes. */
typedef int (*sai_tfrecord_write_fn)(void *ctx, const void *buf, size_t len, sai_error_t *err);

typedef struct sai_tfrecord_writer_t sai_tfrecord_writer_t;

int sai_tfrecord_writer_new(sai_tfrecord_writer_t **out, sai_tfrecord_write_fn fn, void *ctx,
                            sai_tfrecord_compression_t c, sai_error_t *err) SAI_MUST_CHECK;
/* A writer to a new file (O_EXCL, mode 0644); finish fsyncs and closes it. */
int sai_tfrecord_writer_create(sai_tfrecord_writer_t **out, const char *path,
                               sai_tfrecord_compression_t c, sai_error_t *err) SAI_MUST_CHECK;
int sai_tfrecord_write(sai_tfrecord_writer_t *w, const void *data, size_t len,
                       sai_error_t *err) SAI_MUST_CHECK;
/* Ends the compressed stream and flushes (and fsyncs/closes a created file). */
int sai_tfrecord_writer_finish(sai_tfrecord_writer_t *w, sai_error_t *err) SAI_MUST_CHECK;
void sai_tfrecord_writer_free(sai_tfrecord_writer_t *w);

/* ---- tf.train.Example --------------------------------------------------------- */

typedef enum sai_tffeature_kind_t {
    SAI_TFFEATURE_NONE = 0,   /* a Feature with no list set */
    SAI_TFFEATURE_BYTES,
    SAI_TFFEATURE_FLOAT,
    SAI_TFFEATURE_INT64,
} sai_tffeature_kind_t;

/* One element of a bytes list (same layout as protobuf-c's binary data). */
typedef struct sai_tfbytes_t {
    size_t         len;
    const uint8_t *data;
} sai_tfbytes_t;

/* A borrowed view of one feature's list (also the input of encode). */
typedef struct sai_tffeature_t {
    const char        *key;
    sai_tffeature_kind_t kind;
    size_t             n;          /* number of values */
    const float       *floats;     /* FLOAT: n values */
    const int64_t     *int64s;     /* INT64: n values */
    const sai_tfbytes_t *bytes;      /* BYTES: n values */
} sai_tffeature_t;

typedef struct sai_tfexample_t sai_tfexample_t;

/* Decode a serialized tf.train.Example (the copy is the Example's own). */
int sai_tfexample_parse(sai_tfexample_t **out, const uint8_t *data, size_t len,
                        sai_error_t *err) SAI_MUST_CHECK;
void sai_tfexample_free(sai_tfexample_t *ex);
size_t sai_tfexample_count(const sai_tfexample_t *ex);
/* Feature i (0 <= i < count), in wire order. */
int sai_tfexample_at(const sai_tfexample_t *ex, size_t i, sai_tffeature_t *f) SAI_MUST_CHECK;
/* The feature named key (the last one if repeated, as protobuf maps do);
 * SAI_ENOTFOUND if absent. */
int sai_tfexample_get(const sai_tfexample_t *ex, const char *key, sai_tffeature_t *f) SAI_MUST_CHECK;
/* Serialize an Example of n features (key, kind, n and the matching array
 * of each). *out is malloc'ed; the caller frees it. */
int sai_tfexample_encode(const sai_tffeature_t *features, size_t n, uint8_t **out,
                         size_t *out_len, sai_error_t *err) SAI_MUST_CHECK;

/* ---- the engine's loader (src/nn/data_tfrecord.c) ------------------------------ */

/* Which features hold the image and the label. The image is a float list
 * of c*h*w values, pixel = clamp(round((v * scale + offset) * 255)), or one
 * bytes value of c*h*w raw uint8 (CHW); encoded images (PNG, JPEG) are not
 * decoded. The label is one int64 in 0..classes-1. */
typedef struct sai_nn_tfrecord_map {
    const char              *image;
    const char              *label;
    int                      c, h, w, classes;
    float                    scale, offset;
    sai_tfrecord_compression_t compression;
} sai_nn_tfrecord_map_t;

/* Append every Example of a TFRecord stream read from src (a plain file,
 * memory or a sealed shard; the pipeline passes its sealed reader). Errors
 * name the source and the record. */
int sai_nn_dataset_add_tfrecord(sai_nn_dataset_t *ds, const sai_nn_source_t *src,
                                const sai_nn_tfrecord_map_t *map, sai_error_t *err) SAI_MUST_CHECK;

#endif
