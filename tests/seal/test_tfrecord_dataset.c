/*
 * test_tfrecord_dataset.c — a directory of real TFRecord files
 * (tests/data/tfrecord/) sealed into a dataset whose records stay
 * individually addressable (seal.h, "records of a sealed dataset"):
 * every record read at random through the sealed index equals the
 * plaintext file's record; a dataset without indexes is indexed by walking;
 * an index swapped in from another sealing of the same files under the same
 * key is refused; one flipped byte of a sealed shard is refused naming the
 * shard and the record hit. Also CIFAR-10 and IDX records by number.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "secureai/crypto.h"
#include "secureai/seal.h"
#include "secureai/util.h"

#define DATA SAI_TEST_DATA_DIR "/tfrecord/"

static char g_dir[64];
static uint8_t g_key[32];

static char *P(const char *fmt, ...) SAI_PRINTF(1, 2);
static char *P(const char *fmt, ...)
{
    static char buf[8][512];
    static int k;
    char *b = buf[k++ % 8];
    int n = snprintf(b, 512, "%s/", g_dir);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b + n, 512 - (size_t)n, fmt, ap);
    va_end(ap);
    return b;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *b = NULL;
    sai_error_t err;
    if (sai_read_file(path, 64u << 20, &b, len, &err) != 0)
        fail_msg("%s", err.msg);
    return b;
}

static void put(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, n, f), n);
    fclose(f);
}

static void copy(const char *from, const char *to)
{
    size_t n;
    uint8_t *b = slurp(from, &n);
    put(to, b, n);
    free(b);
}

static const char *const files[] = {
    "tfx_cifar10_train.tfrecord", "tfx_cifar10_test.tfrecord", "tfx_mnist.tfrecord",
    "tfmodels_deeplab_pascal_voc_seg_val-00000-of-00001.tfrecord",
};
static const uint64_t counts[] = {128, 128, 1000, 3};

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/sai-tfds-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    assert_int_equal(sai_random_bytes(g_key, sizeof g_key, NULL), 0);
    assert_int_equal(mkdir(P("in"), 0755), 0);
    for (size_t i = 0; i < 4; i++) {
        char src[512];
        snprintf(src, sizeof src, "%s%s", DATA, files[i]);
        copy(src, P("in/%s", files[i]));
    }
    sai_seal_params_t p = {.key_id = "tf"};
    sai_error_t err;
    if (sai_dataset_seal_dir(P("in"), P("ds"), g_key, &p, NULL, NULL, &err) != 0)
        fail_msg("%s", err.msg);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Frame offsets of a plaintext TFRecord buffer. */
static size_t frames(const uint8_t *b, size_t n, size_t *offs, size_t max)
{
    size_t k = 0;
    for (size_t off = 0; off < n && k < max; k++) {
        uint64_t l = 0;
        for (int i = 7; i >= 0; i--)
            l = (l << 8) | b[off + i];
        offs[k] = off;
        off += l + 16;
    }
    return k;
}

static void check_dataset(const char *dir)
{
    sai_error_t err;
    sai_dataset_t *d;
    assert_int_equal(sai_dataset_open(&d, dir, g_key, &err), 0);
    for (size_t f = 0; f < 4; f++) {
        long i = sai_dataset_find(d, files[f]);
        assert_true(i >= 0);
        assert_int_equal(sai_dataset_manifest(d)->shards[i].format, SAI_REC_TFRECORD);
        assert_int_equal(sai_dataset_manifest(d)->shards[i].records, counts[f]);
        sai_dataset_records_t *r;
        if (sai_dataset_records_open(&r, d, (size_t)i, &err) != 0)
            fail_msg("%s", err.msg);
        assert_int_equal(sai_dataset_records_count(r), counts[f]);
        size_t n;
        uint8_t *plain = slurp(P("in/%s", files[f]), &n);
        static size_t offs[1000];
        assert_int_equal(frames(plain, n, offs, 1000), counts[f]);
        /* every record, in a scrambled order (7919 is prime to all counts) */
        for (uint64_t j = 0; j < counts[f]; j++) {
            uint64_t k = (j * 7919) % counts[f];
            const uint8_t *rec;
            size_t len;
            if (sai_dataset_records_get(r, k, &rec, &len, &err) != 0)
                fail_msg("%s", err.msg);
            size_t want = (k + 1 < counts[f] ? offs[k + 1] : n) - offs[k] - 16;
            assert_int_equal(len, want);
            assert_memory_equal(rec, plain + offs[k] + 12, len);
        }
        const uint8_t *rec;
        size_t len;
        assert_int_equal(sai_dataset_records_get(r, counts[f], &rec, &len, &err), SAI_EINVAL);
        free(plain);
        sai_dataset_records_close(r);
    }
    sai_dataset_close(d);
}

static void test_records_addressable(void **state)
{
    (void)state;
    assert_int_equal(access(P("ds/tfx_mnist.tfrecord.sai-index"), F_OK), 0);
    check_dataset(P("ds"));
    /* unsealing gives the input files back, and no index files */
    sai_error_t err;
    assert_int_equal(sai_dataset_unseal_dir(P("ds"), P("out"), g_key, NULL, &err), 0);
    assert_int_not_equal(access(P("out/tfx_mnist.tfrecord.sai-index"), F_OK), 0);
    size_t a, b;
    uint8_t *x = slurp(P("in/tfx_mnist.tfrecord"), &a), *y = slurp(P("out/tfx_mnist.tfrecord"), &b);
    assert_int_equal(a, b);
    assert_memory_equal(x, y, a);
    free(x);
    free(y);
}

static void test_without_index_walks(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp -r %s %s && rm %s/*.sai-index", P("ds"), P("noidx"), P("noidx"));
    assert_int_equal(system(cmd), 0);
    check_dataset(P("noidx"));
}

static void test_index_from_other_sealing_refused(void **state)
{
    (void)state;
    sai_error_t err;
    sai_seal_params_t p = {.key_id = "tf"};
    assert_int_equal(sai_dataset_seal_dir(P("in"), P("ds2"), g_key, &p, NULL, NULL, &err), 0);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cp -r %s %s && cp %s %s", P("ds"), P("mixed"),
             P("ds2/tfx_mnist.tfrecord.sai-index"), P("mixed/tfx_mnist.tfrecord.sai-index"));
    assert_int_equal(system(cmd), 0);
    sai_dataset_t *d;
    assert_int_equal(sai_dataset_open(&d, P("mixed"), g_key, &err), 0);
    sai_dataset_records_t *r;
    long i = sai_dataset_find(d, "tfx_mnist.tfrecord");
    assert_int_equal(sai_dataset_records_open(&r, d, (size_t)i, &err), SAI_EAUTH);
    assert_non_null(strstr(err.msg, "not the index of this shard"));
    sai_dataset_close(d);
    /* under another key the index does not even open */
    uint8_t other[32];
    assert_int_equal(sai_random_bytes(other, 32, NULL), 0);
    snprintf(cmd, sizeof cmd, "mkdir %s && cp %s %s", P("k2"), P("in/tfx_mnist.tfrecord"),
             P("k2/tfx_mnist.tfrecord"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(sai_dataset_seal_dir(P("k2"), P("ds3"), other, &p, NULL, NULL, &err), 0);
    snprintf(cmd, sizeof cmd, "cp %s %s", P("ds3/tfx_mnist.tfrecord.sai-index"),
             P("mixed/tfx_mnist.tfrecord.sai-index"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(sai_dataset_open(&d, P("mixed"), g_key, &err), 0);
    assert_int_equal(sai_dataset_records_open(&r, d, (size_t)i, &err), SAI_EAUTH);
    sai_dataset_close(d);
}

static void test_flipped_byte_names_record(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp -r %s %s", P("ds"), P("flip"));
    assert_int_equal(system(cmd), 0);
    /* the MNIST shard: 1000 records of 3203 bytes in 64 KiB chunks; flip a
     * ciphertext byte in chunk 20, plaintext offset 20 * 65536 + 1000 */
    size_t n;
    uint8_t *b = slurp(P("flip/tfx_mnist.tfrecord.sealed"), &n);
    size_t hl = 56 + 2;                       /* key id "tf" */
    size_t pos = hl + 20 * (65536 + 16) + 1000;
    b[pos] ^= 0x20;
    put(P("flip/tfx_mnist.tfrecord.sealed"), b, n);
    free(b);
    uint64_t rec = (20 * 65536 + 1000) / 3203;   /* the record holding that byte */
    sai_error_t err;
    sai_dataset_t *d;
    assert_int_equal(sai_dataset_open(&d, P("flip"), g_key, &err), 0);
    long i = sai_dataset_find(d, "tfx_mnist.tfrecord");
    sai_dataset_records_t *r;
    assert_int_equal(sai_dataset_records_open(&r, d, (size_t)i, &err), SAI_EAUTH);
    char want[128];
    /* chunk 20 spans plaintext 1310720..1376256: records 409..429 */
    snprintf(want, sizeof want, "records %llu..%llu of 1000 are damaged (chunk 20",
             (unsigned long long)((20 * 65536) / 3203), (unsigned long long)((21 * 65536 - 1) / 3203));
    if (strstr(err.msg, want) == NULL || strstr(err.msg, "tfx_mnist.tfrecord") == NULL)
        fail_msg("message: %s (want '%s', record %llu)", err.msg, want, (unsigned long long)rec);
    assert_non_null(strstr(err.msg, "does not match the manifest"));
    sai_dataset_close(d);
    /* the deeplab shard: records of ~400 KB, so one chunk lies in one record */
    snprintf(cmd, sizeof cmd, "cp -r %s %s", P("ds"), P("flip2"));
    assert_int_equal(system(cmd), 0);
    const char *dl = "tfmodels_deeplab_pascal_voc_seg_val-00000-of-00001.tfrecord";
    b = slurp(P("flip2/%s.sealed", dl), &n);
    b[hl + 8 * (65536 + 16) + 77] ^= 0x01;     /* chunk 8: 524288.. in record 1 */
    put(P("flip2/%s.sealed", dl), b, n);
    free(b);
    assert_int_equal(sai_dataset_open(&d, P("flip2"), g_key, &err), 0);
    i = sai_dataset_find(d, dl);
    assert_int_equal(sai_dataset_records_open(&r, d, (size_t)i, &err), SAI_EAUTH);
    if (strstr(err.msg, "record 1 of 3 is damaged (chunk 8") == NULL)
        fail_msg("message: %s", err.msg);
    sai_dataset_close(d);
}

static void test_fixed_size_records(void **state)
{
    (void)state;
    /* 5 CIFAR-10 records and a 7-item IDX image file */
    uint8_t cif[5 * 3073];
    for (size_t k = 0; k < sizeof cif; k++)
        cif[k] = (uint8_t)(k * 31 + 7);
    for (int r = 0; r < 5; r++)
        cif[r * 3073] = (uint8_t)r;
    uint8_t idx[16 + 7 * 4 * 3];
    memcpy(idx, "\0\0\x08\x03\0\0\0\x07\0\0\0\x04\0\0\0\x03", 16);
    for (size_t k = 16; k < sizeof idx; k++)
        idx[k] = (uint8_t)k;
    assert_int_equal(mkdir(P("fx"), 0755), 0);
    put(P("fx/data_batch_1.bin"), cif, sizeof cif);
    put(P("fx/images-idx3-ubyte"), idx, sizeof idx);
    sai_error_t err;
    assert_int_equal(sai_dataset_seal_dir(P("fx"), P("fxs"), g_key, NULL, NULL, NULL, &err), 0);
    sai_dataset_t *d;
    assert_int_equal(sai_dataset_open(&d, P("fxs"), g_key, &err), 0);
    sai_dataset_records_t *r;
    const uint8_t *rec;
    size_t len;
    assert_int_equal(sai_dataset_records_open(&r, d, (size_t)sai_dataset_find(d, "data_batch_1.bin"),
                                              &err), 0);
    assert_int_equal(sai_dataset_records_count(r), 5);
    assert_int_equal(sai_dataset_records_get(r, 3, &rec, &len, &err), 0);
    assert_int_equal(len, 3073);
    assert_memory_equal(rec, cif + 3 * 3073, 3073);
    sai_dataset_records_close(r);
    assert_int_equal(sai_dataset_records_open(&r, d,
                                              (size_t)sai_dataset_find(d, "images-idx3-ubyte"), &err), 0);
    assert_int_equal(sai_dataset_records_count(r), 7);
    assert_int_equal(sai_dataset_records_get(r, 6, &rec, &len, &err), 0);
    assert_int_equal(len, 12);
    assert_memory_equal(rec, idx + 16 + 6 * 12, 12);
    sai_dataset_records_close(r);
    sai_dataset_close(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_addressable),
        cmocka_unit_test(test_without_index_walks),
        cmocka_unit_test(test_index_from_other_sealing_refused),
        cmocka_unit_test(test_flipped_byte_names_record),
        cmocka_unit_test(test_fixed_size_records),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
