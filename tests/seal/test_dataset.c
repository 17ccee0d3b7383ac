/*
 * test_dataset.c — sealed datasets: many files in all record formats,
 * manifest canonical form and MAC, shard hash binding, unseal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "secureai/seal.h"

static char g_dir[64];
static uint8_t g_key[32], g_key2[32];

static char *P(const char *fmt, ...) SAI_PRINTF(1, 2);
static char *P(const char *fmt, ...)
{
    static char buf[16][512];
    static int k;
    k = (k + 1) % 16;
    int n = snprintf(buf[k], sizeof buf[k], "%s/", g_dir);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf[k] + n, sizeof buf[k] - (size_t)n, fmt, ap);
    va_end(ap);
    return buf[k];
}

static void put(const char *path, const void *data, size_t len)
{
    sai_error_t err;
    if (sai_write_file_atomic(path, data, len, 0644, false, &err) != 0)
        fail_msg("%s", err.msg);
}

__attribute__((noinline)) static uint8_t *get(const char *path, size_t *len)
{
    sai_error_t err;
    uint8_t *b = NULL;
    assert_int_equal(sai_read_file(path, 1u << 30, &b, len, &err), 0);
    return b;
}

/* An IDX file of n 4x4 ubyte images. */
static uint8_t *make_idx(uint32_t n, size_t *len)
{
    *len = 16 + (size_t)n * 16;
    uint8_t *b = calloc(1, *len);
    b[2] = 0x08;
    b[3] = 3;
    b[4] = (uint8_t)(n >> 24); b[5] = (uint8_t)(n >> 16); b[6] = (uint8_t)(n >> 8); b[7] = (uint8_t)n;
    b[11] = 4;
    b[15] = 4;
    for (size_t i = 16; i < *len; i++)
        b[i] = (uint8_t)(i * 7);
    return b;
}

static uint32_t crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = ~0u;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

static void le32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static uint32_t mask(uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }

static uint8_t *make_tfrecord(int n, size_t *len)
{
    uint8_t *b = malloc(4096);
    size_t o = 0;
    for (int r = 0; r < n; r++) {
        size_t dl = (size_t)(r * 5 + 3);
        memset(b + o, 0, 8);
        b[o] = (uint8_t)dl;
        le32(b + o + 8, mask(crc32c(b + o, 8)));
        for (size_t i = 0; i < dl; i++)
            b[o + 12 + i] = (uint8_t)(r + i);
        le32(b + o + 12 + dl, mask(crc32c(b + o + 12, dl)));
        o += 16 + dl;
    }
    *len = o;
    return b;
}

static void make_input(const char *dir_, int nraw)
{
    char cmd[600], dir[512];
    snprintf(dir, sizeof dir, "%s", dir_);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/sub/deeper", dir);
    assert_int_equal(system(cmd), 0);
    size_t len;
    uint8_t *b = make_idx(37, &len);
    put(P("%s/train-images-idx3-ubyte", strrchr(dir, '/') + 1), b, len);
    gzFile gz = gzopen(P("%s/sub/images-idx3-ubyte.gz", strrchr(dir, '/') + 1), "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, b, (unsigned)len), (int)len);
    gzclose(gz);
    free(b);
    b = make_tfrecord(9, &len);
    put(P("%s/sub/deeper/data.tfrecord", strrchr(dir, '/') + 1), b, len);
    free(b);
    b = calloc(5, 3073);
    for (int i = 0; i < 5; i++)
        b[i * 3073] = (uint8_t)i;
    put(P("%s/data_batch_1.bin", strrchr(dir, '/') + 1), b, 5 * 3073);
    free(b);
    for (int i = 0; i < nraw; i++) {
        char data[300];
        size_t l = (size_t)(i * 37 % 300);
        memset(data, 'a' + i % 26, l);
        put(P("%s/raw-%03d.txt", strrchr(dir, '/') + 1, i), data, l);
    }
}

static void assert_same_file(const char *a, const char *b)
{
    size_t la, lb;
    uint8_t *x = get(a, &la), *y = get(b, &lb);
    assert_int_equal(la, lb);
    if (la)
        assert_memory_equal(x, y, la);
    free(x);
    free(y);
}

/* A dataset of many files in every format, sealed, listed, read, unsealed. */
static void test_dataset_round_trip(void **state)
{
    (void)state;
    sai_error_t err;
    make_input(P("in"), 40);
    sai_seal_params_t p = {.key_id = "ds-key", .chunk_size = 1000};
    uint8_t id[32];
    assert_int_equal(sai_dataset_seal_dir(P("in"), P("ds"), g_key, &p, NULL, id, &err), 0);
    sai_dataset_t *d = NULL;
    assert_int_equal(sai_dataset_open(&d, P("ds"), g_key, &err), 0);
    assert_memory_equal(sai_dataset_id(d), id, 32);
    const sai_manifest_t *m = sai_dataset_manifest(d);
    assert_int_equal(m->n_shards, 44);
    assert_string_equal(m->key_id, "ds-key");
    assert_int_equal(m->chunk_size, 1000);
    long i;
    assert_true((i = sai_dataset_find(d, "train-images-idx3-ubyte")) >= 0);
    assert_int_equal(m->shards[i].format, SAI_REC_IDX);
    assert_int_equal(m->shards[i].records, 37);
    assert_true((i = sai_dataset_find(d, "sub/images-idx3-ubyte.gz")) >= 0);
    assert_int_equal(m->shards[i].format, SAI_REC_IDX_GZ);
    assert_int_equal(m->shards[i].records, 37);
    assert_true((i = sai_dataset_find(d, "sub/deeper/data.tfrecord")) >= 0);
    assert_int_equal(m->shards[i].format, SAI_REC_TFRECORD);
    assert_int_equal(m->shards[i].records, 9);
    assert_true((i = sai_dataset_find(d, "data_batch_1.bin")) >= 0);
    assert_int_equal(m->shards[i].format, SAI_REC_CIFAR10_BIN);
    assert_int_equal(m->shards[i].records, 5);
    assert_true((i = sai_dataset_find(d, "raw-007.txt")) >= 0);
    assert_int_equal(m->shards[i].format, SAI_REC_RAW);
    assert_int_equal(sai_dataset_find(d, "nope"), -1);
    /* every shard reads back as the input, through the dataset reader */
    for (size_t k = 0; k < m->n_shards; k++) {
        sai_seal_reader_t *r = NULL;
        sai_seal_open_opts_t mo = {.map = (k % 2) == 1};   /* both reader kinds */
        assert_int_equal(sai_dataset_open_shard_opts(d, k, &mo, &r, &err), 0);
        size_t len;
        uint8_t *want = get(P("in/%s", m->shards[k].name), &len);
        assert_int_equal(sai_seal_size(r), len);
        uint8_t *got = malloc(len + 1);
        assert_int_equal(sai_seal_read_at(r, 0, got, len, &err), 0);
        if (len)
            assert_memory_equal(got, want, len);
        free(got);
        free(want);
        sai_seal_close(r);
    }
    /* identity = SHA-256 of manifest.json */
    size_t ml;
    uint8_t *man = get(P("ds/manifest.json"), &ml), h[32];
    assert_int_equal(sai_hash(SAI_SHA256, h, man, ml, &err), 0);
    assert_memory_equal(h, id, 32);
    free(man);
    sai_dataset_close(d);
    /* unseal */
    assert_int_equal(sai_dataset_unseal_dir(P("ds"), P("out"), g_key, NULL, &err), 0);
    assert_same_file(P("in/sub/deeper/data.tfrecord"), P("out/sub/deeper/data.tfrecord"));
    assert_same_file(P("in/raw-039.txt"), P("out/raw-039.txt"));
    assert_same_file(P("in/raw-000.txt"), P("out/raw-000.txt"));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "diff -r %s %s >/dev/null", P("in"), P("out"));
    assert_int_equal(system(cmd), 0);
    /* refuses to overwrite */
    assert_int_equal(sai_dataset_seal_dir(P("in"), P("ds"), g_key, &p, NULL, id, &err), SAI_EEXIST);
    assert_int_equal(sai_dataset_unseal_dir(P("ds"), P("out"), g_key, NULL, &err), SAI_EEXIST);
    /* a second sealing of the same input under the same key: for the tests below */
    assert_int_equal(sai_dataset_seal_dir(P("in"), P("ds2"), g_key, &p, NULL, h, &err), 0);
    assert_memory_not_equal(h, id, 32);
}

static void cp(const char *a, const char *b)
{
    size_t l;
    uint8_t *x = get(a, &l);
    put(b, x, l);
    free(x);
}

/* A shard replaced by the same-named shard of another dataset sealed with
 * the same key: it decrypts fine on its own, the manifest hash catches it. */
static void test_shard_from_other_dataset_rejected(void **state)
{
    (void)state;
    sai_error_t err;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp -r %s %s", P("ds"), P("dsx"));
    assert_int_equal(system(cmd), 0);
    cp(P("ds2/raw-005.txt.sealed"), P("dsx/raw-005.txt.sealed"));
    sai_seal_reader_t *r = NULL;
    assert_int_equal(sai_seal_open(&r, P("dsx/raw-005.txt.sealed"), g_key, NULL, &err), 0);
    sai_seal_close(r);
    sai_dataset_t *d = NULL;
    assert_int_equal(sai_dataset_open(&d, P("dsx"), g_key, &err), 0);
    long i = sai_dataset_find(d, "raw-005.txt");
    assert_int_equal(sai_dataset_open_shard(d, (size_t)i, &r, &err), SAI_EAUTH);
    assert_null(r);
    assert_non_null(strstr(err.msg, "raw-005.txt.sealed"));
    assert_non_null(strstr(err.msg, "does not match the manifest"));
    /* the other shards still open */
    assert_int_equal(sai_dataset_open_shard(d, (size_t)i + 1, &r, &err), 0);
    sai_seal_close(r);
    sai_dataset_close(d);
    /* a shard renamed within the dataset (same sizes) */
    cp(P("ds/raw-001.txt.sealed"), P("dsx/raw-005.txt.sealed"));
    assert_int_equal(sai_dataset_open(&d, P("dsx"), g_key, &err), 0);
    assert_int_equal(sai_dataset_open_shard(d, (size_t)i, &r, &err), SAI_EAUTH);
    sai_dataset_close(d);
    /* unseal of the tampered dataset fails and leaves no output */
    assert_int_equal(sai_dataset_unseal_dir(P("dsx"), P("outx"), g_key, NULL, &err), SAI_EAUTH);
    assert_int_not_equal(access(P("outx"), F_OK), 0);
    snprintf(cmd, sizeof cmd, "ls %s | grep -q outx.tmp", g_dir);
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", P("dsx"));
    assert_int_equal(system(cmd), 0);
}

static void test_manifest_edited_rejected(void **state)
{
    (void)state;
    sai_error_t err;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s && cp -r %s %s", P("dsm"), P("ds"), P("dsm"));
    assert_int_equal(system(cmd), 0);
    size_t ml;
    uint8_t *man = get(P("dsm/manifest.json"), &ml);
    sai_dataset_t *d = NULL;
    /* every single-byte change of the manifest */
    for (size_t off = 0; off < ml; off += 7) {
        man[off] ^= 0x04;
        put(P("dsm/manifest.json"), man, ml);
        assert_int_equal(sai_dataset_open(&d, P("dsm"), g_key, &err), SAI_EAUTH);
        man[off] ^= 0x04;
    }
    assert_non_null(strstr(err.msg, "manifest MAC does not verify"));
    /* a record count edited */
    char *rec = strstr((char *)man, "\"records\":37");
    assert_non_null(rec);
    size_t ro = (size_t)(rec - (char *)man) + 11;
    man[ro] = '8';
    put(P("dsm/manifest.json"), man, ml);
    assert_int_equal(sai_dataset_open(&d, P("dsm"), g_key, &err), SAI_EAUTH);
    man[ro] = '7';
    put(P("dsm/manifest.json"), man, ml);
    assert_int_equal(sai_dataset_open(&d, P("dsm"), g_key, &err), 0);
    sai_dataset_close(d);
    /* the MAC edited */
    size_t l;
    uint8_t *mac = get(P("dsm/manifest.mac"), &l);
    mac[3] = mac[3] == '0' ? '1' : '0';
    put(P("dsm/manifest.mac"), mac, l);
    assert_int_equal(sai_dataset_open(&d, P("dsm"), g_key, &err), SAI_EAUTH);
    free(mac);
    /* wrong key */
    cp(P("ds/manifest.mac"), P("dsm/manifest.mac"));
    assert_int_equal(sai_dataset_open(&d, P("dsm"), g_key2, &err), SAI_EAUTH);
    /* manifest + MAC swapped in from another dataset under the same key: the
     * MAC verifies (same key), the identity changes, and every shard fails */
    cp(P("ds2/manifest.json"), P("dsm/manifest.json"));
    cp(P("ds2/manifest.mac"), P("dsm/manifest.mac"));
    assert_int_equal(sai_dataset_open(&d, P("dsm"), g_key, &err), 0);
    uint8_t id1[32];
    assert_int_equal(sai_hash(SAI_SHA256, id1, man, ml, &err), 0);
    assert_memory_not_equal(sai_dataset_id(d), id1, 32);
    for (size_t k = 0; k < sai_dataset_manifest(d)->n_shards; k++) {
        sai_seal_reader_t *r = NULL;
        assert_int_equal(sai_dataset_open_shard(d, k, &r, &err), SAI_EAUTH);
    }
    sai_dataset_close(d);
    free(man);
}

static void test_manifest_canonical_only(void **state)
{
    (void)state;
    sai_error_t err;
    sai_manifest_t m;
    const char *good =
        "{\"type\":\"secureai-dataset\",\"version\":1,\"key_id\":\"k\",\"chunk_size\":65536,"
        "\"shards\":[{\"name\":\"a/b\",\"size\":5,\"sha256\":\""
        "0000000000000000000000000000000000000000000000000000000000000000\",\"format\":\"raw\","
        "\"records\":0}]}";
    assert_int_equal(sai_manifest_parse(&m, (const uint8_t *)good, strlen(good), &err), 0);
    assert_int_equal(m.n_shards, 1);
    assert_string_equal(m.shards[0].name, "a/b");
    char *again = NULL;
    size_t al;
    assert_int_equal(sai_manifest_encode(&m, &again, &al, &err), 0);
    assert_int_equal(al, strlen(good));
    assert_memory_equal(again, good, al);
    free(again);
    sai_manifest_clear(&m);
    struct { const char *from, *to; } bad[] = {
        {"{\"type\"", "{ \"type\""},                    /* whitespace */
        {"\"version\":1", "\"version\":1.0"},           /* another spelling */
        {"\"version\":1", "\"version\":2"},
        {"\"a/b\"", "\"../b\""},                        /* unsafe names */
        {"\"a/b\"", "\"/b\""},
        {"\"a/b\"", "\"a//b\""},
        {"\"a/b\"", "\"a/./b\""},
        {"\"a/b\"", "\"\""},
        {"\"size\":5", "\"size\":-5"},
        {"\"size\":5", "\"size\":5.5"},
        {"\"raw\"", "\"jpeg\""},
        {"\"key_id\":\"k\"", "\"key_id\":\"k k\""},
        {"\"chunk_size\":65536", "\"chunk_size\":8"},
        {"\"records\":0}", "\"records\":0,\"x\":1}"},  /* extra key */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[1024];
        const char *at = strstr(good, bad[i].from);
        assert_non_null(at);
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - good), good, bad[i].to,
                 at + strlen(bad[i].from));
        if (sai_manifest_parse(&m, (const uint8_t *)buf, strlen(buf), &err) == 0)
            fail_msg("accepted: %s", buf);
    }
    /* unsorted / duplicate shards */
    const char *dup =
        "{\"type\":\"secureai-dataset\",\"version\":1,\"key_id\":\"k\",\"chunk_size\":65536,"
        "\"shards\":[{\"name\":\"b\",\"size\":5,\"sha256\":\""
        "0000000000000000000000000000000000000000000000000000000000000000\",\"format\":\"raw\","
        "\"records\":0},{\"name\":\"a\",\"size\":5,\"sha256\":\""
        "0000000000000000000000000000000000000000000000000000000000000000\",\"format\":\"raw\","
        "\"records\":0}]}";
    assert_int_equal(sai_manifest_parse(&m, (const uint8_t *)dup, strlen(dup), &err), SAI_EFORMAT);
}

static void test_record_detection(void **state)
{
    (void)state;
    sai_error_t err;
    sai_record_format_t f;
    uint64_t n;
    size_t len;
    uint8_t *b = make_idx(3, &len);
    put(P("bad-idx1-ubyte"), b, len - 1);   /* sizes do not add up, named idx */
    assert_int_equal(sai_record_detect(P("bad-idx1-ubyte"), &f, &n, &err), SAI_EFORMAT);
    put(P("plain"), b, len - 1);           /* same bytes, no claim: raw */
    assert_int_equal(sai_record_detect(P("plain"), &f, &n, &err), 0);
    assert_int_equal(f, SAI_REC_RAW);
    free(b);
    b = make_tfrecord(3, &len);
    b[len - 1] ^= 1;                       /* data CRC broken */
    put(P("x.tfrecord"), b, len);
    assert_int_equal(sai_record_detect(P("x.tfrecord"), &f, &n, &err), SAI_EFORMAT);
    free(b);
    uint8_t c[3073 * 2] = {0};
    c[3073] = 10;                          /* label out of range: not cifar */
    put(P("c.bin"), c, sizeof c);
    assert_int_equal(sai_record_detect(P("c.bin"), &f, &n, &err), 0);
    assert_int_equal(f, SAI_REC_RAW);
    /* the real Fashion-MNIST, when installed */
    if (access("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", R_OK) == 0) {
        assert_int_equal(sai_record_detect("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
                                           &f, &n, &err), 0);
        assert_int_equal(f, SAI_REC_IDX_GZ);
        assert_int_equal(n, 10000);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/sai-ds-XXXXXX");
    if (mkdtemp(g_dir) == NULL)
        return -1;
    for (int i = 0; i < 32; i++) {
        g_key[i] = (uint8_t)(i * 5 + 1);
        g_key2[i] = (uint8_t)(i * 5 + 2);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dataset_round_trip),
        cmocka_unit_test(test_shard_from_other_dataset_rejected),
        cmocka_unit_test(test_manifest_edited_rejected),
        cmocka_unit_test(test_manifest_canonical_only),
        cmocka_unit_test(test_record_detection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
