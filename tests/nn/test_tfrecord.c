/*
 * test_tfrecord.c — the TFRecord reader, writer and tf.train.Example decoder
 * (include/secureai/tfrecord.h) against five real TensorFlow-written files
 * (tests/data/tfrecord/, golden values in its README): every record of every
 * file, the record counts, the first record's two masked CRCs, the label
 * counts and feature shapes. Then the writer (re-writing the MNIST file
 * reproduces it byte for byte; ZLIB and GZIP round trips), damaged input
 * (a flipped byte, every truncation of a small stream, a cut gzip stream)
 * and the unpacked list encodings protobuf allows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <unistd.h>

#include <cmocka.h>

#include "secureai/tfrecord.h"
#include "secureai/util.h"

#define DATA SAI_TEST_DATA_DIR "/tfrecord/"

static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *b = NULL;
    sai_error_t err;
    assert_int_equal(sai_read_file(path, 64u << 20, &b, len, &err), 0);
    return b;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Read every record of a file; for each, call fn(example, record length). */
typedef void (*rec_fn)(const sai_tfexample_t *ex, size_t len, uint64_t i, void *ctx);

static uint64_t read_all(const char *path, sai_tfrecord_compression_t c, rec_fn fn, void *ctx)
{
    sai_error_t err;
    sai_tfrecord_reader_t *r;
    assert_int_equal(sai_tfrecord_reader_open(&r, path, c, &err), 0);
    uint64_t n = 0, off, want_off = 0;
    for (;;) {
        const uint8_t *d;
        size_t len;
        int rc = sai_tfrecord_next(r, &d, &len, &off, &err);
        if (rc != 0)
            fail_msg("%s", err.msg);
        if (d == NULL)
            break;
        assert_int_equal(off, want_off);
        want_off += len + 16;
        sai_tfexample_t *ex;
        if (sai_tfexample_parse(&ex, d, len, &err) != 0)
            fail_msg("record %llu: %s", (unsigned long long)n, err.msg);
        fn(ex, len, n, ctx);
        sai_tfexample_free(ex);
        n++;
    }
    assert_int_equal(sai_tfrecord_reader_count(r), n);
    sai_tfrecord_reader_close(r);
    return n;
}

static void test_crc32c_known_answer(void **state)
{
    (void)state;
    assert_int_equal(sai_tfrecord_crc32c(0, "123456789", 9), 0xE3069283u);
    /* chaining equals one pass, across the 8-byte fast path */
    const char *s = "The quick brown fox jumps over the lazy dog";
    uint32_t a = sai_tfrecord_crc32c(0, s, strlen(s));
    assert_int_equal(sai_tfrecord_crc32c(sai_tfrecord_crc32c(0, s, 13), s + 13, strlen(s) - 13), a);
    assert_int_equal(a, 0x22620404u);
    /* the first CIFAR-10 train record: crc32c 0x62b46b66, masked 0x794fb040 */
    size_t len;
    uint8_t *b = slurp(DATA "tfx_cifar10_train.tfrecord", &len);
    assert_int_equal(sai_tfrecord_crc32c(0, b + 12, 2596), 0x62b46b66u);
    assert_int_equal(sai_tfrecord_masked_crc(b + 12, 2596), 0x794fb040u);
    free(b);
}

/* ---- the five files ------------------------------------------------------------- */

typedef struct {
    int      counts[10];
    size_t   min_len, max_len;
    const char *label_key;
} cifar_ctx;

static void cifar_rec(const sai_tfexample_t *ex, size_t len, uint64_t i, void *vctx)
{
    cifar_ctx *c = vctx;
    sai_tffeature_t f;
    assert_int_equal(sai_tfexample_count(ex), 3);
    assert_int_equal(sai_tfexample_get(ex, "label", &f), 0);
    assert_int_equal(f.kind, SAI_TFFEATURE_INT64);
    assert_int_equal(f.n, 1);
    assert_in_range(f.int64s[0], 0, 9);
    c->counts[f.int64s[0]]++;
    assert_int_equal(sai_tfexample_get(ex, "image", &f), 0);
    assert_int_equal(f.kind, SAI_TFFEATURE_BYTES);
    assert_int_equal(f.n, 1);
    /* a PNG, 32x32, 8-bit RGB (IHDR at byte 8) */
    assert_true(f.bytes[0].len > 33);
    assert_memory_equal(f.bytes[0].data, "\x89PNG\r\n\x1a\n", 8);
    assert_memory_equal(f.bytes[0].data + 12, "IHDR\0\0\0\x20\0\0\0\x20\x08\x02", 14);
    assert_int_equal(sai_tfexample_get(ex, "id", &f), 0);
    assert_int_equal(f.kind, SAI_TFFEATURE_BYTES);
    assert_true(f.n == 1 && f.bytes[0].len > 0);
    assert_int_equal(sai_tfexample_get(ex, "nope", &f), SAI_ENOTFOUND);
    if (i == 0 || len < c->min_len)
        c->min_len = len;
    if (len > c->max_len)
        c->max_len = len;
}

static void check_first_header(const char *path, uint64_t len, uint32_t lcrc, uint32_t dcrc)
{
    size_t n;
    uint8_t *b = slurp(path, &n);
    uint64_t l = 0;
    for (int i = 7; i >= 0; i--)
        l = (l << 8) | b[i];
    assert_int_equal(l, len);
    assert_int_equal(le32(b + 8), lcrc);
    assert_int_equal(le32(b + 12 + len), dcrc);
    const uint8_t *d;
    size_t dl, fl;
    sai_error_t err;
    assert_int_equal(sai_tfrecord_frame_parse(b, n, &d, &dl, &fl, &err), 0);
    assert_int_equal(dl, len);
    assert_int_equal(fl, len + 16);
    assert_ptr_equal(d, b + 12);
    free(b);
}

static void test_cifar10_files(void **state)
{
    (void)state;
    static const int train[10] = {13, 5, 10, 18, 14, 12, 9, 17, 16, 14};
    static const int test[10] = {17, 15, 18, 12, 11, 16, 5, 11, 17, 6};
    cifar_ctx c = {0};
    assert_int_equal(read_all(DATA "tfx_cifar10_train.tfrecord", SAI_TFRECORD_NONE, cifar_rec, &c), 128);
    assert_memory_equal(c.counts, train, sizeof train);
    assert_int_equal(c.min_len, 1510);
    assert_int_equal(c.max_len, 2688);
    check_first_header(DATA "tfx_cifar10_train.tfrecord", 2596, 0x85fd6715u, 0x794fb040u);
    memset(&c, 0, sizeof c);
    assert_int_equal(read_all(DATA "tfx_cifar10_test.tfrecord", SAI_TFRECORD_NONE, cifar_rec, &c), 128);
    assert_memory_equal(c.counts, test, sizeof test);
    assert_int_equal(c.min_len, 619);
    assert_int_equal(c.max_len, 2755);
}

static void mnist_rec(const sai_tfexample_t *ex, size_t len, uint64_t i, void *vctx)
{
    int *counts = vctx;
    (void)i;
    assert_int_equal(len, 3187);
    sai_tffeature_t f;
    assert_int_equal(sai_tfexample_get(ex, "image_class", &f), 0);
    assert_int_equal(f.kind, SAI_TFFEATURE_INT64);
    assert_int_equal(f.n, 1);
    assert_in_range(f.int64s[0], 0, 9);
    counts[f.int64s[0]]++;
    assert_int_equal(sai_tfexample_get(ex, "image_floats", &f), 0);
    assert_int_equal(f.kind, SAI_TFFEATURE_FLOAT);
    assert_int_equal(f.n, 784);
    float lo = 1, hi = -1;
    for (size_t k = 0; k < 784; k++) {
        lo = f.floats[k] < lo ? f.floats[k] : lo;
        hi = f.floats[k] > hi ? f.floats[k] : hi;
    }
    assert_true(lo >= -0.5f && hi <= 0.5f && hi > lo);   /* a real image, not a blank */
}

static void test_mnist_file(void **state)
{
    (void)state;
    static const int want[10] = {87, 137, 87, 90, 118, 79, 78, 107, 120, 97};
    int counts[10] = {0};
    assert_int_equal(read_all(DATA "tfx_mnist.tfrecord", SAI_TFRECORD_NONE, mnist_rec, counts), 1000);
    assert_memory_equal(counts, want, sizeof want);
    check_first_header(DATA "tfx_mnist.tfrecord", 3187, 0xf77f4a87u, 0x70003febu);
}

static void penguin_rec(const sai_tfexample_t *ex, size_t len, uint64_t i, void *vctx)
{
    int *counts = vctx;
    assert_int_equal(len, 136);
    sai_tffeature_t f;
    static const char *const fl[] = {"body_mass_g", "culmen_depth_mm", "culmen_length_mm",
                                     "flipper_length_mm"};
    for (int k = 0; k < 4; k++) {
        assert_int_equal(sai_tfexample_get(ex, fl[k], &f), 0);
        assert_int_equal(f.kind, SAI_TFFEATURE_FLOAT);
        assert_int_equal(f.n, 1);
        assert_true(f.floats[0] >= 0.0f && f.floats[0] <= 1.0f);
    }
    assert_int_equal(sai_tfexample_get(ex, "species", &f), 0);
    assert_int_equal(f.kind, SAI_TFFEATURE_INT64);
    assert_in_range(f.int64s[0], 0, 2);
    counts[f.int64s[0]]++;
    (void)i;
}

static void test_penguin_gzip_file(void **state)
{
    (void)state;
    int counts[3] = {0};
    assert_int_equal(read_all(DATA "tfx_penguin_train.tfrecord.gz", SAI_TFRECORD_GZIP, penguin_rec,
                              counts), 234);
    assert_int_equal(counts[0], 99);
    assert_int_equal(counts[1], 46);
    assert_int_equal(counts[2], 89);
    /* the first record's golden CRCs: the first 12 + 136 + 4 inflated bytes */
    sai_error_t err;
    sai_tfrecord_reader_t *r;
    const uint8_t *d;
    size_t len;
    uint64_t off;
    assert_int_equal(sai_tfrecord_reader_open(&r, DATA "tfx_penguin_train.tfrecord.gz",
                                              SAI_TFRECORD_GZIP, &err), 0);
    assert_int_equal(sai_tfrecord_next(r, &d, &len, &off, &err), 0);
    assert_int_equal(len, 136);
    assert_int_equal(le32(d - 4), 0xe2ecdefcu);
    assert_int_equal(le32(d + len), 0x99381d7cu);
    sai_tfrecord_reader_close(r);
    /* read as uncompressed it is not a TFRecord stream */
    assert_int_equal(sai_tfrecord_reader_open(&r, DATA "tfx_penguin_train.tfrecord.gz",
                                              SAI_TFRECORD_NONE, &err), 0);
    assert_int_not_equal(sai_tfrecord_next(r, &d, &len, &off, &err), 0);
    assert_non_null(strstr(err.msg, "record 0 at offset 0"));
    sai_tfrecord_reader_close(r);
    /* and ZLIB is not GZIP */
    assert_int_equal(sai_tfrecord_reader_open(&r, DATA "tfx_penguin_train.tfrecord.gz",
                                              SAI_TFRECORD_ZLIB, &err), 0);
    assert_int_equal(sai_tfrecord_next(r, &d, &len, &off, &err), SAI_EFORMAT);
    sai_tfrecord_reader_close(r);
}

static void deeplab_rec(const sai_tfexample_t *ex, size_t len, uint64_t i, void *vctx)
{
    (void)vctx;
    static const char *const names[] = {"2007_000033", "2007_000042", "2007_000061"};
    static const int64_t h[] = {366, 335, 333};
    static const size_t lens[] = {402447, 368172, 367007};
    assert_true(i < 3);
    assert_int_equal(len, lens[i]);
    sai_tffeature_t f;
    assert_int_equal(sai_tfexample_get(ex, "image/filename", &f), 0);
    assert_int_equal(f.kind, SAI_TFFEATURE_BYTES);
    assert_true(f.bytes[0].len >= strlen(names[i]));
    assert_memory_equal(f.bytes[0].data, names[i], strlen(names[i]));
    assert_int_equal(sai_tfexample_get(ex, "image/height", &f), 0);
    assert_int_equal(f.int64s[0], h[i]);
    assert_int_equal(sai_tfexample_get(ex, "image/width", &f), 0);
    assert_int_equal(f.int64s[0], 500);
    assert_int_equal(sai_tfexample_get(ex, "image/channels", &f), 0);
    assert_int_equal(f.int64s[0], 3);
    assert_int_equal(sai_tfexample_get(ex, "image/format", &f), 0);
    assert_true(f.bytes[0].len == 4 && memcmp(f.bytes[0].data, "jpeg", 4) == 0);
    assert_int_equal(sai_tfexample_get(ex, "image/encoded", &f), 0);
    assert_memory_equal(f.bytes[0].data, "\xff\xd8\xff", 3);          /* JPEG SOI */
    assert_int_equal(sai_tfexample_get(ex, "image/segmentation/class/format", &f), 0);
    assert_true(f.bytes[0].len == 3 && memcmp(f.bytes[0].data, "png", 3) == 0);
    assert_int_equal(sai_tfexample_get(ex, "image/segmentation/class/encoded", &f), 0);
    assert_memory_equal(f.bytes[0].data, "\x89PNG", 4);
}

static void test_deeplab_large_records(void **state)
{
    (void)state;
    assert_int_equal(read_all(DATA "tfmodels_deeplab_pascal_voc_seg_val-00000-of-00001.tfrecord",
                              SAI_TFRECORD_NONE, deeplab_rec, NULL), 3);
    check_first_header(DATA "tfmodels_deeplab_pascal_voc_seg_val-00000-of-00001.tfrecord", 402447,
                       0x679c75e8u, 0x16aeef51u);
}

/* ---- writer --------------------------------------------------------------------- */

static int mem_write(void *ctx, const void *buf, size_t len, sai_error_t *err)
{
    (void)err;
    return sai_buf_append(ctx, buf, len);
}

typedef struct {
    const uint8_t *p;
    size_t         len, off;
    size_t         step;   /* bytes per read call: exercises refills */
} mem_src;

static int mem_read(void *ctx, void *buf, size_t len, size_t *got, sai_error_t *err)
{
    (void)err;
    mem_src *m = ctx;
    size_t t = m->len - m->off;
    t = t < len ? t : len;
    t = t < m->step ? t : m->step;
    memcpy(buf, m->p + m->off, t);
    m->off += t;
    *got = t;
    return 0;
}

static void test_writer_reproduces_mnist_file(void **state)
{
    (void)state;
    size_t n;
    uint8_t *orig = slurp(DATA "tfx_mnist.tfrecord", &n);
    sai_error_t err;
    sai_tfrecord_compression_t modes[] = {SAI_TFRECORD_NONE, SAI_TFRECORD_ZLIB, SAI_TFRECORD_GZIP};
    for (int m = 0; m < 3; m++) {
        sai_buf_t out;
        sai_buf_init(&out, 16u << 20);
        sai_tfrecord_writer_t *w;
        assert_int_equal(sai_tfrecord_writer_new(&w, mem_write, &out, modes[m], &err), 0);
        for (size_t off = 0; off < n;) {
            const uint8_t *d;
            size_t dl, fl;
            assert_int_equal(sai_tfrecord_frame_parse(orig + off, n - off, &d, &dl, &fl, &err), 0);
            assert_int_equal(sai_tfrecord_write(w, d, dl, &err), 0);
            off += fl;
        }
        assert_int_equal(sai_tfrecord_writer_finish(w, &err), 0);
        sai_tfrecord_writer_free(w);
        if (modes[m] == SAI_TFRECORD_NONE) {
            assert_int_equal(out.len, n);
            assert_memory_equal(out.data, orig, n);     /* byte for byte TF's file */
        } else {
            assert_true(out.len < n / 2);               /* it did compress */
            /* read back through small reads: every record, same bytes */
            mem_src src = {out.data, out.len, 0, 777};
            sai_tfrecord_reader_t *r;
            assert_int_equal(sai_tfrecord_reader_new(&r, mem_read, &src, "mem", modes[m], &err), 0);
            size_t off = 0;
            const uint8_t *d;
            size_t dl;
            uint64_t ro;
            for (;;) {
                assert_int_equal(sai_tfrecord_next(r, &d, &dl, &ro, &err), 0);
                if (d == NULL)
                    break;
                assert_int_equal(ro, off);
                assert_memory_equal(d, orig + off + 12, dl);
                off += dl + 16;
            }
            assert_int_equal(off, n);
            sai_tfrecord_reader_close(r);
        }
        sai_buf_free(&out);
    }
    free(orig);
}

static void test_writer_file_and_example_encode(void **state)
{
    (void)state;
    char dir[] = "/tmp/sai-tfw-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/x.tfrecord.gz", dir);
    sai_error_t err;
    sai_tfrecord_writer_t *w;
    assert_int_equal(sai_tfrecord_writer_create(&w, path, SAI_TFRECORD_GZIP, &err), 0);
    for (int i = 0; i < 50; i++) {
        float px[4] = {(float)i, 0.5f, -1.0f, 2.0f};
        int64_t lab = i % 7;
        sai_tfbytes_t name = {5, (const uint8_t *)"hello"};
        sai_tffeature_t fs[3] = {
            {.key = "image", .kind = SAI_TFFEATURE_FLOAT, .n = 4, .floats = px},
            {.key = "label", .kind = SAI_TFFEATURE_INT64, .n = 1, .int64s = &lab},
            {.key = "name", .kind = SAI_TFFEATURE_BYTES, .n = 1, .bytes = &name},
        };
        uint8_t *ex;
        size_t el;
        assert_int_equal(sai_tfexample_encode(fs, 3, &ex, &el, &err), 0);
        assert_int_equal(sai_tfrecord_write(w, ex, el, &err), 0);
        free(ex);
    }
    assert_int_equal(sai_tfrecord_writer_finish(w, &err), 0);
    sai_tfrecord_writer_free(w);
    /* it exists now: a second create refuses to overwrite */
    assert_int_equal(sai_tfrecord_writer_create(&w, path, SAI_TFRECORD_NONE, &err), SAI_EEXIST);
    sai_tfrecord_reader_t *r;
    assert_int_equal(sai_tfrecord_reader_open(&r, path, SAI_TFRECORD_GZIP, &err), 0);
    const uint8_t *d;
    size_t dl;
    for (int i = 0; i < 50; i++) {
        assert_int_equal(sai_tfrecord_next(r, &d, &dl, NULL, &err), 0);
        assert_non_null(d);
        sai_tfexample_t *ex;
        sai_tffeature_t f;
        assert_int_equal(sai_tfexample_parse(&ex, d, dl, &err), 0);
        assert_int_equal(sai_tfexample_count(ex), 3);
        assert_int_equal(sai_tfexample_at(ex, 0, &f), 0);
        assert_string_equal(f.key, "image");
        assert_true(f.n == 4 && f.floats[0] == (float)i && f.floats[3] == 2.0f);
        assert_int_equal(sai_tfexample_get(ex, "label", &f), 0);
        assert_int_equal(f.int64s[0], i % 7);
        assert_int_equal(sai_tfexample_get(ex, "name", &f), 0);
        assert_true(f.bytes[0].len == 5 && memcmp(f.bytes[0].data, "hello", 5) == 0);
        assert_int_equal(sai_tfexample_at(ex, 3, &f), SAI_EINVAL);
        sai_tfexample_free(ex);
    }
    assert_int_equal(sai_tfrecord_next(r, &d, &dl, NULL, &err), 0);
    assert_null(d);
    sai_tfrecord_reader_close(r);
    /* a writer freed before finish leaves no file behind */
    snprintf(path, sizeof path, "%s/y.tfrecord", dir);
    assert_int_equal(sai_tfrecord_writer_create(&w, path, SAI_TFRECORD_NONE, &err), 0);
    assert_int_equal(sai_tfrecord_write(w, "abc", 3, &err), 0);
    sai_tfrecord_writer_free(w);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/x.tfrecord.gz", dir);
    unlink(path);
    rmdir(dir);
}

/* ---- damaged input ---------------------------------------------------------------- */

static int read_mem_all(const uint8_t *p, size_t n, sai_tfrecord_compression_t c, uint64_t *recs,
                        sai_error_t *err)
{
    mem_src src = {p, n, 0, 4096};
    sai_tfrecord_reader_t *r;
    int rc = sai_tfrecord_reader_new(&r, mem_read, &src, "t", c, err);
    if (rc != 0)
        return rc;
    *recs = 0;
    for (;;) {
        const uint8_t *d;
        size_t dl;
        rc = sai_tfrecord_next(r, &d, &dl, NULL, err);
        if (rc != 0 || d == NULL)
            break;
        (*recs)++;
    }
    sai_tfrecord_reader_close(r);
    return rc;
}

static void test_damage_detected(void **state)
{
    (void)state;
    size_t n;
    uint8_t *b = slurp(DATA "tfx_cifar10_test.tfrecord", &n);
    sai_error_t err;
    uint64_t recs;
    assert_int_equal(read_mem_all(b, n, SAI_TFRECORD_NONE, &recs, &err), 0);
    assert_int_equal(recs, 128);
    /* one flipped byte in record 2's data: named by index and offset */
    size_t off = 0, first_end = 0;
    for (int i = 0; i < 2; i++) {
        const uint8_t *d;
        size_t dl, fl;
        assert_int_equal(sai_tfrecord_frame_parse(b + off, n - off, &d, &dl, &fl, &err), 0);
        off += fl;
        if (i == 0)
            first_end = off;
    }
    b[off + 40] ^= 0x01;
    assert_int_equal(read_mem_all(b, n, SAI_TFRECORD_NONE, &recs, &err), SAI_EFORMAT);
    assert_int_equal(recs, 2);
    char want[64];
    snprintf(want, sizeof want, "record 2 at offset %zu", off);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "corrupted record"));
    b[off + 40] ^= 0x01;
    /* a flipped length byte fails the length CRC */
    b[off + 1] ^= 0x80;
    assert_int_equal(read_mem_all(b, n, SAI_TFRECORD_NONE, &recs, &err), SAI_EFORMAT);
    assert_non_null(strstr(err.msg, "length CRC"));
    b[off + 1] ^= 0x80;
    /* every cut inside the first two records is "truncated"; a cut at a
     * record boundary is a shorter valid stream (TFRecord has no trailer) */
    for (size_t cut = 1; cut < off; cut++) {
        int rc = read_mem_all(b, cut, SAI_TFRECORD_NONE, &recs, &err);
        if (cut == first_end) {
            assert_int_equal(rc, 0);
            assert_int_equal(recs, 1);
            continue;
        }
        assert_int_equal(rc, SAI_EFORMAT);
        assert_non_null(strstr(err.msg, "truncated record"));
        assert_int_equal(recs, cut < first_end ? 0 : 1);
    }
    /* a cut gzip stream */
    free(b);
    b = slurp(DATA "tfx_penguin_train.tfrecord.gz", &n);
    assert_int_equal(read_mem_all(b, n, SAI_TFRECORD_GZIP, &recs, &err), 0);
    assert_int_equal(recs, 234);
    assert_int_equal(read_mem_all(b, n - 5, SAI_TFRECORD_GZIP, &recs, &err), SAI_EFORMAT);
    assert_non_null(strstr(err.msg, "gzip stream is truncated"));
    /* two gzip members one after the other are one stream of 468 records */
    uint8_t *two = malloc(2 * n);
    memcpy(two, b, n);
    memcpy(two + n, b, n);
    if (read_mem_all(two, 2 * n, SAI_TFRECORD_GZIP, &recs, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(recs, 468);
    free(two);
    free(b);
    /* a length over the cap is refused before anything is allocated for it */
    uint8_t hdr[16] = {0};
    uint64_t big = (uint64_t)SAI_TFRECORD_RECORD_MAX + 1;
    for (int i = 0; i < 8; i++)
        hdr[i] = (uint8_t)(big >> (8 * i));
    uint32_t c = sai_tfrecord_masked_crc(hdr, 8);
    for (int i = 0; i < 4; i++)
        hdr[8 + i] = (uint8_t)(c >> (8 * i));
    assert_int_equal(read_mem_all(hdr, sizeof hdr, SAI_TFRECORD_NONE, &recs, &err), SAI_ELIMIT);
}

static void test_example_unpacked_and_garbage(void **state)
{
    (void)state;
    /* Example{features{feature{key:"f" value{float_list{value:1.5 value:-2}}}
     *                  feature{key:"i" value{int64_list{value:3 value:-1}}}}}
     * with the lists in their unpacked wire forms (float: wire type 5,
     * int64: wire type 0), as protobuf requires a parser to accept */
    static const uint8_t fl[] = {0x0d, 0x00, 0x00, 0xc0, 0x3f, 0x0d, 0x00, 0x00, 0x00, 0xc0};
    static const uint8_t il[] = {0x08, 0x03, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0x01};
    uint8_t buf[128];
    size_t n = 0;
    /* entry 1 */
    uint8_t e1[64], e2[64];
    size_t n1 = 0, n2 = 0;
    e1[n1++] = 0x0a; e1[n1++] = 1; e1[n1++] = 'f';
    e1[n1++] = 0x12; e1[n1++] = (uint8_t)(2 + sizeof fl);      /* Feature */
    e1[n1++] = 0x12; e1[n1++] = (uint8_t)sizeof fl;            /* float_list = 2 */
    memcpy(e1 + n1, fl, sizeof fl); n1 += sizeof fl;
    e2[n2++] = 0x0a; e2[n2++] = 1; e2[n2++] = 'i';
    e2[n2++] = 0x12; e2[n2++] = (uint8_t)(2 + sizeof il);
    e2[n2++] = 0x1a; e2[n2++] = (uint8_t)sizeof il;            /* int64_list = 3 */
    memcpy(e2 + n2, il, sizeof il); n2 += sizeof il;
    buf[n++] = 0x0a; buf[n++] = (uint8_t)(2 + n1 + 2 + n2);     /* Example.features */
    buf[n++] = 0x0a; buf[n++] = (uint8_t)n1; memcpy(buf + n, e1, n1); n += n1;
    buf[n++] = 0x0a; buf[n++] = (uint8_t)n2; memcpy(buf + n, e2, n2); n += n2;
    sai_error_t err;
    sai_tfexample_t *ex;
    sai_tffeature_t f;
    assert_int_equal(sai_tfexample_parse(&ex, buf, n, &err), 0);
    assert_int_equal(sai_tfexample_get(ex, "f", &f), 0);
    assert_int_equal(f.kind, SAI_TFFEATURE_FLOAT);
    assert_int_equal(f.n, 2);
    assert_true(f.floats[0] == 1.5f && f.floats[1] == -2.0f);
    assert_int_equal(sai_tfexample_get(ex, "i", &f), 0);
    assert_int_equal(f.kind, SAI_TFFEATURE_INT64);
    assert_int_equal(f.n, 2);
    assert_true(f.int64s[0] == 3 && f.int64s[1] == -1);
    sai_tfexample_free(ex);
    /* an empty Example is valid and has no features */
    assert_int_equal(sai_tfexample_parse(&ex, buf, 0, &err), 0);
    assert_int_equal(sai_tfexample_count(ex), 0);
    assert_int_equal(sai_tfexample_get(ex, "f", &f), SAI_ENOTFOUND);
    sai_tfexample_free(ex);
    /* truncated at every length: an error or a valid prefix, never a crash;
     * cutting inside the outer message is always an error */
    for (size_t cut = 1; cut < n; cut++)
        assert_int_equal(sai_tfexample_parse(&ex, buf, cut, &err), SAI_EFORMAT);
    /* garbage */
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(sai_tfexample_parse(&ex, junk, sizeof junk, &err), SAI_EFORMAT);
    assert_non_null(strstr(err.msg, "tf.train.Example"));
}

/* ---- the engine's loader ------------------------------------------------------------ */

static void test_nn_loader(void **state)
{
    (void)state;
    sai_error_t err;
    sai_nn_dataset_t ds;
    sai_nn_dataset_init(&ds);
    sai_nn_source_t src;
    assert_int_equal(sai_nn_source_file(&src, DATA "tfx_mnist.tfrecord", &err), 0);
    sai_nn_tfrecord_map_t m = {.image = "image_floats", .label = "image_class", .c = 1, .h = 28,
                               .w = 28, .classes = 10, .scale = 1.0f, .offset = 0.5f};
    if (sai_nn_dataset_add_tfrecord(&ds, &src, &m, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(ds.n, 1000);
    int counts[10] = {0};
    static const int want[10] = {87, 137, 87, 90, 118, 79, 78, 107, 120, 97};
    for (int i = 0; i < ds.n; i++)
        counts[ds.labels[i]]++;
    assert_memory_equal(counts, want, sizeof want);
    /* pixels are the floats mapped to 0..255: record 0 against the decoder */
    sai_tfrecord_reader_t *r;
    const uint8_t *d;
    size_t len;
    assert_int_equal(sai_tfrecord_reader_open(&r, DATA "tfx_mnist.tfrecord", SAI_TFRECORD_NONE,
                                              &err), 0);
    assert_int_equal(sai_tfrecord_next(r, &d, &len, NULL, &err), 0);
    sai_tfexample_t *ex;
    sai_tffeature_t f;
    assert_int_equal(sai_tfexample_parse(&ex, d, len, &err), 0);
    assert_int_equal(sai_tfexample_get(ex, "image_floats", &f), 0);
    int nonzero = 0;
    for (int k = 0; k < 784; k++) {
        int v = (int)lrintf((f.floats[k] + 0.5f) * 255.0f);
        assert_int_equal(ds.pixels[k], v < 0 ? 0 : v > 255 ? 255 : v);
        nonzero += ds.pixels[k] != 0;
    }
    assert_true(nonzero > 50);
    sai_tfexample_free(ex);
    sai_tfrecord_reader_close(r);
    /* a mapping the records do not fit is refused naming the record */
    m.label = "nope";
    assert_int_equal(sai_nn_dataset_add_tfrecord(&ds, &src, &m, &err), SAI_EFORMAT);
    assert_non_null(strstr(err.msg, "record 0"));
    m.label = "image_class";
    m.h = 27;
    assert_int_not_equal(sai_nn_dataset_add_tfrecord(&ds, &src, &m, &err), 0);
    sai_nn_source_file_close(&src);
    /* the GZIP penguin file: 4 floats as a 1x2x2 "image", species as label */
    sai_nn_dataset_t p;
    sai_nn_dataset_init(&p);
    assert_int_equal(sai_nn_source_file(&src, DATA "tfx_penguin_train.tfrecord.gz", &err), 0);
    sai_nn_tfrecord_map_t pm = {.image = "body_mass_g", .label = "species", .c = 1, .h = 1,
                                .w = 1, .classes = 3, .scale = 1.0f,
                                .compression = SAI_TFRECORD_GZIP};
    assert_int_equal(sai_nn_dataset_add_tfrecord(&p, &src, &pm, &err), 0);
    assert_int_equal(p.n, 234);
    sai_nn_source_file_close(&src);
    sai_nn_dataset_free(&p);
    sai_nn_dataset_free(&ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_known_answer),
        cmocka_unit_test(test_cifar10_files),
        cmocka_unit_test(test_mnist_file),
        cmocka_unit_test(test_penguin_gzip_file),
        cmocka_unit_test(test_deeplab_large_records),
        cmocka_unit_test(test_writer_reproduces_mnist_file),
        cmocka_unit_test(test_writer_file_and_example_encode),
        cmocka_unit_test(test_damage_detected),
        cmocka_unit_test(test_example_unpacked_and_garbage),
        cmocka_unit_test(test_nn_loader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
