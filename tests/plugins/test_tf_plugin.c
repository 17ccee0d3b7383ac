/*
 * test_tf_plugin.c — libsecureai-tf.so (plugins/tf/sealed_fs.c) driven the
 * way TensorFlow's modular filesystem layer drives a plugin: this program
 * defines the TF_Status functions TensorFlow's runtime exports, dlopens the
 * plugin, calls TF_InitPlugin, checks the registration metadata, and then
 * calls the tables: random-access reads at offsets across 64 KiB chunk
 * boundaries (and from several threads) against the plaintext, stat with the
 * plaintext length, writable and appendable files that must come out sealed,
 * the read-only memory region, and the statuses of damaged, foreign and
 * missing files. It is not TensorFlow (see docs/plugins.md).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "secureai/crypto.h"
#include "secureai/seal.h"
#include "../plugins/tf/tf_filesystem_abi.h"

/* ---- TensorFlow's half: TF_Status --------------------------------------- */
struct TSL_Status {
    TF_Code code;
    char msg[1024];
};
TF_Status *TF_NewStatus(void) { return calloc(1, sizeof(TF_Status)); }
void TF_DeleteStatus(TF_Status *s) { free(s); }
void TF_SetStatus(TF_Status *s, TF_Code code, const char *msg)
{
    s->code = code;
    snprintf(s->msg, sizeof s->msg, "%s", code == TF_OK ? "" : msg);
}
TF_Code TF_GetCode(const TF_Status *s) { return s->code; }
const char *TF_Message(const TF_Status *s) { return s->msg; }

#define PT_LEN (3 * 65536 + 12345)

typedef struct world {
    char dir[64];
    char key_path[128];
    char sealed[128];
    uint8_t key[32];
    uint8_t *pt;
    void *dso;
    TF_FilesystemPluginInfo info;
    TF_FilesystemOps fs;            /* copies, as TensorFlow keeps them */
    TF_RandomAccessFileOps ra;
    TF_WritableFileOps wf;
    TF_ReadOnlyMemoryRegionOps rg;
    TF_Filesystem filesystem;
    TF_Status *st;
} world;

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void load_plugin(world *w)
{
    w->dso = dlopen(SAI_TF_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (!w->dso)
        fail_msg("dlopen: %s", dlerror());
    void (*init)(TF_FilesystemPluginInfo *) = (void (*)(TF_FilesystemPluginInfo *))dlsym(w->dso, "TF_InitPlugin");
    assert_non_null(init);
    memset(&w->info, 0, sizeof w->info);
    init(&w->info);
    /* What TensorFlow's registration checks. */
    assert_int_equal(w->info.num_schemes, 1);
    assert_non_null(w->info.plugin_memory_allocate);
    assert_non_null(w->info.plugin_memory_free);
    TF_FilesystemPluginOps *ops = &w->info.ops[0];
    assert_string_equal(ops->scheme, "sealed");
    assert_int_equal(ops->filesystem_ops_abi, 0);
    assert_int_equal(ops->random_access_file_ops_abi, 0);
    assert_int_equal(ops->writable_file_ops_abi, 0);
    assert_int_equal(ops->read_only_memory_region_ops_abi, 0);
    assert_int_equal(ops->filesystem_ops_size, sizeof(TF_FilesystemOps));
    assert_int_equal(ops->random_access_file_ops_size, sizeof(TF_RandomAccessFileOps));
    assert_int_equal(ops->writable_file_ops_size, sizeof(TF_WritableFileOps));
    assert_int_equal(ops->read_only_memory_region_ops_size, sizeof(TF_ReadOnlyMemoryRegionOps));
    /* Required operations (TensorFlow refuses a plugin without them). */
    assert_non_null(ops->filesystem_ops->init);
    assert_non_null(ops->filesystem_ops->cleanup);
    assert_non_null(ops->random_access_file_ops->cleanup);
    assert_non_null(ops->writable_file_ops->cleanup);
    assert_non_null(ops->read_only_memory_region_ops->cleanup);
    assert_non_null(ops->read_only_memory_region_ops->data);
    assert_non_null(ops->read_only_memory_region_ops->length);
    /* TensorFlow copies the tables and frees the plugin's. */
    w->fs = *ops->filesystem_ops;
    w->ra = *ops->random_access_file_ops;
    w->wf = *ops->writable_file_ops;
    w->rg = *ops->read_only_memory_region_ops;
    w->info.plugin_memory_free(ops->filesystem_ops);
    w->info.plugin_memory_free(ops->random_access_file_ops);
    w->info.plugin_memory_free(ops->writable_file_ops);
    w->info.plugin_memory_free(ops->read_only_memory_region_ops);
    w->info.plugin_memory_free(ops->scheme);
    w->info.plugin_memory_free(w->info.ops);
}

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    snprintf(w->dir, sizeof w->dir, "/tmp/sai-tfplug-XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    snprintf(w->key_path, sizeof w->key_path, "%s/data.key", w->dir);
    snprintf(w->sealed, sizeof w->sealed, "%s/train.tfrecord.sealed", w->dir);
    assert_int_equal(sai_random_bytes(w->key, 32, NULL), 0);
    write_file(w->key_path, w->key, 32, 0600);
    w->pt = malloc(PT_LEN);
    for (size_t i = 0; i < PT_LEN; i++)
        w->pt[i] = (uint8_t)(i * 31 + (i >> 16));
    sai_error_t err = {0};
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    if (sai_seal_buffer(&ct, &ct_len, w->key, NULL, w->pt, PT_LEN, &err) != 0)
        fail_msg("%s", err.msg);
    write_file(w->sealed, ct, ct_len, 0644);
    free(ct);
    unsetenv("SAI_TF_KEY_FD");
    setenv("SAI_TF_KEY_FILE", w->key_path, 1);
    load_plugin(w);
    w->st = TF_NewStatus();
    w->fs.init(&w->filesystem, w->st);
    if (TF_GetCode(w->st) != TF_OK)
        fail_msg("init: %s", TF_Message(w->st));
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;
    w->fs.cleanup(&w->filesystem);
    TF_DeleteStatus(w->st);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", w->dir);
    assert_int_equal(system(cmd), 0);
    free(w->pt);
    free(w);
    return 0;
}

static void check_read(world *w, TF_RandomAccessFile *f, uint64_t off, size_t n)
{
    char *buf = malloc(n + 1);
    int64_t got = w->ra.read(f, off, n, buf, w->st);
    size_t want = off >= PT_LEN ? 0 : (PT_LEN - off < n ? PT_LEN - off : n);
    if (got != (int64_t)want)
        fail_msg("read(%llu, %zu) = %lld: %s", (unsigned long long)off, n, (long long)got, TF_Message(w->st));
    assert_int_equal(TF_GetCode(w->st), want == n ? TF_OK : TF_OUT_OF_RANGE);
    if (want)
        assert_memory_equal(buf, w->pt + off, want);
    free(buf);
}

static void test_random_access_reads(void **state)
{
    world *w = *state;
    char *path = w->fs.translate_name(&w->filesystem, "sealed:///tmp/../tmp//./x");
    assert_string_equal(path, "/tmp/x");
    w->info.plugin_memory_free(path);
    char uri[160];
    snprintf(uri, sizeof uri, "sealed://%s", w->sealed);
    path = w->fs.translate_name(&w->filesystem, uri);
    assert_string_equal(path, w->sealed);

    TF_RandomAccessFile f = {0};
    w->fs.new_random_access_file(&w->filesystem, path, &f, w->st);
    if (TF_GetCode(w->st) != TF_OK)
        fail_msg("%s", TF_Message(w->st));
    check_read(w, &f, 0, 100);
    check_read(w, &f, 65530, 16);                 /* across the first boundary */
    check_read(w, &f, 2 * 65536 - 3, 65536 + 6); /* a whole chunk and two partial ones */
    check_read(w, &f, 0, PT_LEN);                 /* everything */
    check_read(w, &f, PT_LEN - 10, 10);           /* the last bytes */
    check_read(w, &f, PT_LEN - 10, 100);          /* short at EOF: OUT_OF_RANGE */
    check_read(w, &f, PT_LEN + 5, 10);            /* past EOF: 0, OUT_OF_RANGE */
    srand(7);
    for (int i = 0; i < 300; i++) {
        uint64_t off = (uint64_t)rand() % PT_LEN;
        size_t n = 1 + (size_t)rand() % 140000;
        check_read(w, &f, off, n);
    }
    w->ra.cleanup(&f);
    assert_null(f.plugin_file);
    w->info.plugin_memory_free(path);
}

typedef struct reader_arg {
    world *w;
    TF_RandomAccessFile *f;
    unsigned seed;
    int bad;
} reader_arg;

static void *reader_thread(void *p)
{
    reader_arg *a = p;
    TF_Status *st = TF_NewStatus();
    char *buf = malloc(70000);
    for (int i = 0; i < 200; i++) {
        uint64_t off = (uint64_t)rand_r(&a->seed) % (PT_LEN - 70000);
        size_t n = 1 + (size_t)rand_r(&a->seed) % 70000;
        if (a->w->ra.read(a->f, off, n, buf, st) != (int64_t)n || TF_GetCode(st) != TF_OK ||
            memcmp(buf, a->w->pt + off, n) != 0)
            a->bad++;
    }
    free(buf);
    TF_DeleteStatus(st);
    return NULL;
}

/* TensorFlow reads one file from several threads at once. */
static void test_concurrent_reads(void **state)
{
    world *w = *state;
    TF_RandomAccessFile f = {0};
    w->fs.new_random_access_file(&w->filesystem, w->sealed, &f, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    pthread_t t[4];
    reader_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (reader_arg){.w = w, .f = &f, .seed = 100u + (unsigned)i};
        assert_int_equal(pthread_create(&t[i], NULL, reader_thread, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].bad, 0);
    }
    w->ra.cleanup(&f);
}

static void test_stat_and_listing(void **state)
{
    world *w = *state;
    TF_FileStatistics s;
    memset(&s, 0xff, sizeof s);
    w->fs.stat(&w->filesystem, w->sealed, &s, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    assert_int_equal(s.length, PT_LEN);          /* plaintext, not ciphertext size */
    assert_false(s.is_directory);
    assert_true(s.mtime_nsec > 0);
    w->fs.stat(&w->filesystem, w->dir, &s, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    assert_true(s.is_directory);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope", w->dir);
    w->fs.stat(&w->filesystem, missing, &s, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_NOT_FOUND);
    w->fs.path_exists(&w->filesystem, w->sealed, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    w->fs.path_exists(&w->filesystem, missing, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_NOT_FOUND);
    w->fs.stat(&w->filesystem, "relative/path", &s, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_FAILED_PRECONDITION);

    char **entries = NULL;
    int n = w->fs.get_children(&w->filesystem, w->dir, &entries, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    int found = 0;
    for (int i = 0; i < n; i++) {
        found += strcmp(entries[i], "train.tfrecord.sealed") == 0;
        w->info.plugin_memory_free(entries[i]);
    }
    w->info.plugin_memory_free(entries);
    assert_int_equal(n, 2);   /* data.key and the sealed file */
    assert_int_equal(found, 1);

    char sub[160];
    snprintf(sub, sizeof sub, "%s/sub", w->dir);
    w->fs.create_dir(&w->filesystem, sub, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    w->fs.create_dir(&w->filesystem, sub, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_ALREADY_EXISTS);
    TF_RandomAccessFile f = {0};
    w->fs.new_random_access_file(&w->filesystem, sub, &f, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_FAILED_PRECONDITION);
    w->fs.delete_file(&w->filesystem, sub, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_FAILED_PRECONDITION);
    w->fs.delete_dir(&w->filesystem, sub, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
}

static void unseal_and_compare(world *w, const char *path, const uint8_t *want, size_t len)
{
    size_t ct_len;
    uint8_t *ct = read_file(path, &ct_len);
    assert_true(ct_len >= 8);
    assert_memory_equal(ct, "SAI-SEAL", 8);
    /* No 32-byte run of the plaintext appears in the file. */
    for (size_t off = 0; len >= 32 && off + 32 <= len; off += 4099)
        assert_null(memmem(ct, ct_len, want + off, 32));
    sai_error_t err = {0};
    sai_seal_reader_t *r = NULL;
    if (sai_seal_open_mem(&r, ct, ct_len, path, w->key, NULL, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(sai_seal_size(r), len);
    uint8_t *got = malloc(len + 1);
    if (len)
        assert_int_equal(sai_seal_read_at(r, 0, got, len, &err), 0);
    assert_memory_equal(got, want, len);
    free(got);
    sai_seal_close(r);
    free(ct);
}

static void test_writable_and_appendable(void **state)
{
    world *w = *state;
    char out[160];
    snprintf(out, sizeof out, "%s/model.ckpt.sealed", w->dir);
    TF_WritableFile f = {0};
    w->fs.new_writable_file(&w->filesystem, out, &f, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    size_t half = PT_LEN / 2;
    for (size_t off = 0; off < half; off += 7777) {
        size_t k = half - off < 7777 ? half - off : 7777;
        w->wf.append(&f, (const char *)w->pt + off, k, w->st);
        assert_int_equal(TF_GetCode(w->st), TF_OK);
    }
    assert_int_equal(w->wf.tell(&f, w->st), (int64_t)half);
    w->wf.flush(&f, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    struct stat sb;
    assert_int_equal(stat(out, &sb), -1);   /* nothing on disk before sync/close */
    w->wf.close(&f, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    w->wf.cleanup(&f);
    unseal_and_compare(w, out, w->pt, half);

    /* Append the rest: the file is resealed whole. */
    w->fs.new_appendable_file(&w->filesystem, out, &f, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    assert_int_equal(w->wf.tell(&f, w->st), (int64_t)half);
    w->wf.append(&f, (const char *)w->pt + half, PT_LEN - half, w->st);
    w->wf.sync(&f, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    unseal_and_compare(w, out, w->pt, PT_LEN);
    w->wf.close(&f, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    w->wf.cleanup(&f);
    unseal_and_compare(w, out, w->pt, PT_LEN);

    /* The plugin reads back what it wrote; an empty file is a valid one. */
    TF_FileStatistics s;
    w->fs.stat(&w->filesystem, out, &s, w->st);
    assert_int_equal(s.length, PT_LEN);
    char empty[160];
    snprintf(empty, sizeof empty, "%s/empty.sealed", w->dir);
    w->fs.new_writable_file(&w->filesystem, empty, &f, w->st);
    w->wf.close(&f, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    w->wf.cleanup(&f);
    unseal_and_compare(w, empty, NULL, 0);

    char orphan[160];
    snprintf(orphan, sizeof orphan, "%s/no/such/dir/x", w->dir);
    w->fs.new_writable_file(&w->filesystem, orphan, &f, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_NOT_FOUND);

    /* rename moves the ciphertext as it is */
    char moved[160];
    snprintf(moved, sizeof moved, "%s/moved.sealed", w->dir);
    w->fs.rename_file(&w->filesystem, out, moved, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    unseal_and_compare(w, moved, w->pt, PT_LEN);
    w->fs.delete_file(&w->filesystem, moved, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    w->fs.delete_file(&w->filesystem, moved, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_NOT_FOUND);
}

static void test_memory_region(void **state)
{
    world *w = *state;
    TF_ReadOnlyMemoryRegion g = {0};
    w->fs.new_read_only_memory_region_from_file(&w->filesystem, w->sealed, &g, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    assert_int_equal(w->rg.length(&g), PT_LEN);
    assert_memory_equal(w->rg.data(&g), w->pt, PT_LEN);
    w->rg.cleanup(&g);
    assert_null(g.plugin_memory_region);
}

/* Damage is a TF_DATA_LOSS status naming the file and chunk; no byte of a
 * damaged chunk is returned, the undamaged chunks still read. */
static void test_tampered_files(void **state)
{
    world *w = *state;
    size_t ct_len;
    uint8_t *ct = read_file(w->sealed, &ct_len);
    char bad[160];
    snprintf(bad, sizeof bad, "%s/bad.sealed", w->dir);
    ct[ct_len / 2] ^= 0xff;   /* inside chunk 1 or 2 */
    write_file(bad, ct, ct_len, 0644);
    TF_RandomAccessFile f = {0};
    w->fs.new_random_access_file(&w->filesystem, bad, &f, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);   /* header and last chunk are fine */
    char *buf = malloc(PT_LEN);
    memset(buf, 0x5a, PT_LEN);
    assert_int_equal(w->ra.read(&f, 0, PT_LEN, buf, w->st), -1);
    assert_int_equal(TF_GetCode(w->st), TF_DATA_LOSS);
    assert_non_null(strstr(TF_Message(w->st), "bad.sealed"));
    assert_non_null(strstr(TF_Message(w->st), "chunk"));
    for (size_t i = 0; i < PT_LEN; i++)     /* nothing unauthenticated left in the buffer */
        if (buf[i] != 0x5a && buf[i] != 0)
            fail_msg("byte %zu of a failed read was released", i);
    check_read(w, &f, 10, 1000);             /* chunk 0 is intact */
    w->ra.cleanup(&f);
    TF_ReadOnlyMemoryRegion g = {0};
    w->fs.new_read_only_memory_region_from_file(&w->filesystem, bad, &g, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_DATA_LOSS);
    assert_null(g.plugin_memory_region);
    w->fs.new_appendable_file(&w->filesystem, bad, &(TF_WritableFile){0}, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_DATA_LOSS);
    ct[ct_len / 2] ^= 0xff;

    /* A flipped header byte (the salt), a truncation, a plaintext file. */
    ct[30] ^= 1;
    write_file(bad, ct, ct_len, 0644);
    w->fs.new_random_access_file(&w->filesystem, bad, &f, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_DATA_LOSS);
    ct[30] ^= 1;
    write_file(bad, ct, ct_len - 1, 0644);
    TF_FileStatistics s;
    w->fs.stat(&w->filesystem, bad, &s, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_DATA_LOSS);
    write_file(bad, w->pt, 5000, 0644);
    w->fs.new_random_access_file(&w->filesystem, bad, &f, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_DATA_LOSS);

    /* The same file under another key. */
    uint8_t other[32];
    assert_int_equal(sai_random_bytes(other, 32, NULL), 0);
    uint8_t *ct2 = NULL;
    size_t ct2_len = 0;
    assert_int_equal(sai_seal_buffer(&ct2, &ct2_len, other, NULL, w->pt, 1000, NULL), 0);
    write_file(bad, ct2, ct2_len, 0644);
    w->fs.new_random_access_file(&w->filesystem, bad, &f, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_DATA_LOSS);
    free(ct2);
    free(buf);
    free(ct);
}

/* The key comes from a descriptor or a 0600 file, never from a variable. */
static void test_key_sources(void **state)
{
    world *w = *state;
    TF_Filesystem fs2 = {0};
    unsetenv("SAI_TF_KEY_FILE");
    w->fs.init(&fs2, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_FAILED_PRECONDITION);
    assert_non_null(strstr(TF_Message(w->st), "SAI_TF_KEY_FD"));

    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], w->key, 32), 32);
    close(p[1]);
    char num[16];
    snprintf(num, sizeof num, "%d", p[0]);
    setenv("SAI_TF_KEY_FD", num, 1);
    w->fs.init(&fs2, w->st);
    if (TF_GetCode(w->st) != TF_OK)
        fail_msg("%s", TF_Message(w->st));
    assert_int_equal(fcntl(p[0], F_GETFD), -1);   /* read once, then closed */
    TF_RandomAccessFile f = {0};
    w->fs.new_random_access_file(&fs2, w->sealed, &f, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_OK);
    check_read(w, &f, 65000, 2000);
    w->ra.cleanup(&f);
    w->fs.cleanup(&fs2);

    /* 33 bytes on the descriptor: refused, not truncated. */
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], w->key, 32), 32);
    assert_int_equal(write(p[1], "x", 1), 1);
    close(p[1]);
    snprintf(num, sizeof num, "%d", p[0]);
    setenv("SAI_TF_KEY_FD", num, 1);
    w->fs.init(&fs2, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_FAILED_PRECONDITION);
    setenv("SAI_TF_KEY_FD", "3x", 1);
    w->fs.init(&fs2, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_FAILED_PRECONDITION);

    /* Both set is ambiguous; a group-readable key file is refused. */
    setenv("SAI_TF_KEY_FILE", w->key_path, 1);
    w->fs.init(&fs2, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_FAILED_PRECONDITION);
    unsetenv("SAI_TF_KEY_FD");
    assert_int_equal(chmod(w->key_path, 0644), 0);
    w->fs.init(&fs2, w->st);
    assert_int_equal(TF_GetCode(w->st), TF_FAILED_PRECONDITION);
    assert_int_equal(chmod(w->key_path, 0600), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_access_reads),
        cmocka_unit_test(test_concurrent_reads),
        cmocka_unit_test(test_stat_and_listing),
        cmocka_unit_test(test_writable_and_appendable),
        cmocka_unit_test(test_memory_region),
        cmocka_unit_test(test_tampered_files),
        cmocka_unit_test(test_key_sources),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
