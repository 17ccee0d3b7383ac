/*
 * sealed_fs.c — libsecureai-tf.so, a TensorFlow modular filesystem plugin for
 * the sealed:// scheme: tf.data, tf.io.gfile and checkpoints read and write
 * SecureAI sealed files (docs/format.md) as if they were plain files.
 *
 *   tf.experimental.register_filesystem_plugin("libsecureai-tf.so")
 *   tf.data.TFRecordDataset("sealed:///data/train.tfrecord.sealed")
 *
 * What it is: a thin adapter from TensorFlow's C filesystem tables
 * (tf_filesystem_abi.h) to the sealed-file reader and writer of src/seal.
 * Random-access reads decrypt only the 64 KiB chunks a read spans (one
 * reader per open file, behind a mutex because TensorFlow reads one file
 * from several threads); every byte returned is authenticated first, and a
 * damaged file is a DATA_LOSS status naming the file and the chunk.
 * Writes are buffered in memory and sealed when the file is closed (or
 * synced): the sealed header carries the plaintext length, so nothing can be
 * written before the length is known, and no plaintext ever reaches the
 * disk. The key comes from SAI_TF_KEY_FD or SAI_TF_KEY_FILE
 * (../common/keysrc.h), never from the environment itself.
 *
 * What it is not: it has never been run under TensorFlow (TensorFlow cannot
 * be installed on this project's machines); tests/plugins/test_tf_plugin.c
 * drives the tables as TensorFlow's modular_filesystem.cc does. Directory
 * listings, names and sizes on disk are not hidden: only contents are sealed.
 *
 * Exports: TF_InitPlugin only (plugins/tf/exports.map).
 */
#include "tf_filesystem_abi.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/keysrc.h"
#include "secureai/seal.h"

#define SCHEME      "sealed"
#define SCHEME_URI  "sealed://"
/* A writable file is held in memory until it is sealed: cap it. */
#define WRITE_MAX   ((size_t)16 << 30)

typedef struct sfs_t {
    sai_secret_t *key;
    char key_id[SAI_SEAL_KEY_ID_MAX + 1];
} sfs_t;

typedef struct rfile_t {
    pthread_mutex_t mu;
    sai_seal_reader_t *r;
} rfile_t;

typedef struct wfile_t {
    const sfs_t *fs;
    char *path;
    uint8_t *buf;          /* plaintext, wiped whenever it moves or is freed */
    size_t len, cap;
    bool dirty;            /* changed since it was last sealed */
} wfile_t;

typedef struct region_t {
    uint8_t *data;
    uint64_t len;
} region_t;

/* ---- memory handed to TensorFlow ------------------------------------------ */
static void *plugin_alloc(size_t size) { return calloc(1, size ? size : 1); }
static void plugin_free(void *p) { free(p); }

static char *plugin_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = plugin_alloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* ---- status helpers ---------------------------------------------------------- */
static TF_Code code_of_sai(int rc)
{
    switch (rc) {
    case SAI_ENOTFOUND: return TF_NOT_FOUND;
    case SAI_EAUTH:
    case SAI_EFORMAT: return TF_DATA_LOSS;
    case SAI_EINVAL: return TF_INVALID_ARGUMENT;
    case SAI_ENOMEM:
    case SAI_ELIMIT: return TF_RESOURCE_EXHAUSTED;
    case SAI_EEXIST: return TF_ALREADY_EXISTS;
    case SAI_EUNSUPP: return TF_UNIMPLEMENTED;
    default: return TF_INTERNAL;
    }
}

static TF_Code code_of_errno(int e)
{
    switch (e) {
    case ENOENT: return TF_NOT_FOUND;
    case EEXIST: return TF_ALREADY_EXISTS;
    case EACCES:
    case EPERM: return TF_PERMISSION_DENIED;
    case ENOTDIR:
    case EISDIR:
    case ENOTEMPTY: return TF_FAILED_PRECONDITION;
    case ENOSPC:
    case EDQUOT:
    case ENOMEM: return TF_RESOURCE_EXHAUSTED;
    default: return TF_UNKNOWN;
    }
}

static void set_sai(TF_Status *st, int rc, const sai_error_t *err)
{
    TF_SetStatus(st, code_of_sai(rc), err->msg[0] ? err->msg : sai_strerror(rc));
}

static void set_errno(TF_Status *st, int e, const char *what, const char *path)
{
    char msg[SAI_ERROR_MAX];
    snprintf(msg, sizeof msg, "%s: %s: %s", path, what, strerror(e));
    TF_SetStatus(st, code_of_errno(e), msg);
}

static void set_msg(TF_Status *st, TF_Code code, const char *path, const char *what)
{
    char msg[SAI_ERROR_MAX];
    snprintf(msg, sizeof msg, "%s: %s", path, what);
    TF_SetStatus(st, code, msg);
}

static void set_ok(TF_Status *st) { TF_SetStatus(st, TF_OK, ""); }

/* TensorFlow passes translate_name's result (a plain path) or, on some paths,
 * the URI itself: accept both, and only absolute paths. */
static const char *local_path(const char *p)
{
    if (strncmp(p, SCHEME_URI, sizeof SCHEME_URI - 1) == 0)
        p += sizeof SCHEME_URI - 1;
    return p[0] == '/' ? p : NULL;
}

#define LOCAL_OR_FAIL(var, in, st)                                                  \
    const char *var = local_path(in);                                               \
    if (!var) {                                                                     \
        set_msg(st, TF_FAILED_PRECONDITION, in, "not an absolute sealed:// path"); \
        return;                                                                     \
    }

/* ---- random access files ------------------------------------------------------ */
static void ra_cleanup(TF_RandomAccessFile *file)
{
    rfile_t *f = file->plugin_file;
    if (!f)
        return;
    sai_seal_close(f->r);
    pthread_mutex_destroy(&f->mu);
    free(f);
    file->plugin_file = NULL;
}

static int64_t ra_read(const TF_RandomAccessFile *file, uint64_t offset, size_t n, char *buffer,
                       TF_Status *status)
{
    rfile_t *f = file->plugin_file;
    sai_error_t err = {0};
    uint64_t size = sai_seal_size(f->r);
    size_t k = offset >= size ? 0 : (size - offset < n ? (size_t)(size - offset) : n);
    if (k > 0) {
        pthread_mutex_lock(&f->mu);
        int rc = sai_seal_read_at(f->r, offset, buffer, k, &err);
        pthread_mutex_unlock(&f->mu);
        if (rc != 0) {
            set_sai(status, rc, &err);
            return -1;
        }
    }
    if (k < n)
        TF_SetStatus(status, TF_OUT_OF_RANGE, "read past the end of the sealed file");
    else
        set_ok(status);
    return (int64_t)k;
}

/* Refuse directories and missing files with the statuses TensorFlow expects
 * before the reader sees the path. */
static bool check_regular(const char *path, TF_Status *status)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        set_errno(status, errno, "stat", path);
        return false;
    }
    if (!S_ISREG(sb.st_mode)) {
        set_msg(status, TF_FAILED_PRECONDITION, path, "not a regular file");
        return false;
    }
    return true;
}

static void fs_new_random_access_file(const TF_Filesystem *filesystem, const char *in,
                                      TF_RandomAccessFile *file, TF_Status *status)
{
    const sfs_t *fs = filesystem->plugin_filesystem;
    LOCAL_OR_FAIL(path, in, status);
    if (!check_regular(path, status))
        return;
    rfile_t *f = calloc(1, sizeof *f);
    if (!f) {
        TF_SetStatus(status, TF_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    sai_error_t err = {0};
    int rc = sai_seal_open(&f->r, path, fs->key->data, NULL, &err);
    if (rc != 0) {
        free(f);
        set_sai(status, rc, &err);
        return;
    }
    pthread_mutex_init(&f->mu, NULL);
    file->plugin_file = f;
    set_ok(status);
}

/* ---- writable files --------------------------------------------------------------- */
static void wfile_free(wfile_t *w)
{
    if (!w)
        return;
    if (w->buf) {
        sai_wipe(w->buf, w->cap);
        free(w->buf);
    }
    free(w->path);
    free(w);
}

static void wf_cleanup(TF_WritableFile *file)
{
    wfile_free(file->plugin_file);
    file->plugin_file = NULL;
}

/* Grow without realloc, which would free the old plaintext unwiped. */
static int wfile_reserve(wfile_t *w, size_t need)
{
    if (need <= w->cap)
        return 0;
    if (need > WRITE_MAX)
        return SAI_ELIMIT;
    size_t cap = w->cap ? w->cap : 65536;
    while (cap < need)
        cap = cap > WRITE_MAX / 2 ? WRITE_MAX : cap * 2;
    uint8_t *nb = malloc(cap);
    if (!nb)
        return SAI_ENOMEM;
    if (w->buf) {
        memcpy(nb, w->buf, w->len);
        sai_wipe(w->buf, w->cap);
        free(w->buf);
    }
    w->buf = nb;
    w->cap = cap;
    return 0;
}

/* Seal the whole buffer to the path: the writer seals into a temp file next
 * to it and renames, so the old version stays whole until the new one is. */
static int wfile_seal(wfile_t *w, sai_error_t *err)
{
    sai_seal_writer_t *sw = NULL;
    sai_seal_params_t p = {.key_id = w->fs->key_id};
    int rc = sai_seal_writer_new(&sw, w->path, w->fs->key->data, &p, w->len, err);
    if (rc == 0 && w->len > 0)
        rc = sai_seal_writer_write(sw, w->buf, w->len, err);
    if (rc == 0)
        rc = sai_seal_writer_finish(sw, NULL, err);
    sai_seal_writer_free(sw);
    if (rc == 0)
        w->dirty = false;
    return rc;
}

static void wf_append(const TF_WritableFile *file, const char *buffer, size_t n, TF_Status *status)
{
    wfile_t *w = file->plugin_file;
    if (n > WRITE_MAX - w->len || wfile_reserve(w, w->len + n) != 0) {
        set_msg(status, TF_RESOURCE_EXHAUSTED, w->path, "a sealed file is held in memory until it is closed: too big");
        return;
    }
    memcpy(w->buf + w->len, buffer, n);
    w->len += n;
    w->dirty = true;
    set_ok(status);
}

static int64_t wf_tell(const TF_WritableFile *file, TF_Status *status)
{
    const wfile_t *w = file->plugin_file;
    set_ok(status);
    return (int64_t)w->len;
}

static void wf_flush(const TF_WritableFile *file, TF_Status *status)
{
    /* Nothing can reach the disk before the length is known: flush is a
     * no-op, as TensorFlow's default is. */
    (void)file;
    set_ok(status);
}

/* sync and close seal what was written so far (a checkpoint of the file). */
static void wf_sync(const TF_WritableFile *file, TF_Status *status)
{
    wfile_t *w = file->plugin_file;
    sai_error_t err = {0};
    int rc = w->dirty ? wfile_seal(w, &err) : 0;
    if (rc != 0)
        set_sai(status, rc, &err);
    else
        set_ok(status);
}

static void wf_close(const TF_WritableFile *file, TF_Status *status)
{
    wf_sync(file, status);
}

static void new_writable(const TF_Filesystem *filesystem, const char *in, TF_WritableFile *file,
                         bool append, TF_Status *status)
{
    const sfs_t *fs = filesystem->plugin_filesystem;
    LOCAL_OR_FAIL(path, in, status);
    struct stat sb;
    bool exists = stat(path, &sb) == 0;
    if (exists && !S_ISREG(sb.st_mode)) {
        set_msg(status, TF_FAILED_PRECONDITION, path, "not a regular file");
        return;
    }
    wfile_t *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        TF_SetStatus(status, TF_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    w->fs = fs;
    w->dirty = true;   /* a new (or truncated) file exists once closed, even empty */
    sai_error_t err = {0};
    int rc = 0;
    if (append && exists) {
        /* Appending to a sealed file means resealing it whole: read it back
         * (authenticated) into the buffer first. */
        sai_seal_reader_t *r = NULL;
        rc = sai_seal_open(&r, path, fs->key->data, NULL, &err);
        if (rc == 0) {
            uint64_t size = sai_seal_size(r);
            if (size > WRITE_MAX)
                rc = sai_error_set(&err, SAI_ELIMIT, "%s: too big to append to in memory", path);
            else if ((rc = wfile_reserve(w, (size_t)size)) != 0)
                sai_error_set(&err, rc, "%s: out of memory", path);
            else if (size > 0 && (rc = sai_seal_read_at(r, 0, w->buf, (size_t)size, &err)) == 0)
                w->len = (size_t)size;
            w->dirty = false;
        }
        sai_seal_close(r);
    } else {
        /* The parent must exist (NOT_FOUND otherwise): check now, not at close. */
        char *dir = strdup(path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash) {
            *(slash == dir ? slash + 1 : slash) = '\0';
            if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
                rc = sai_error_set(&err, SAI_ENOTFOUND, "%s: the parent directory does not exist", path);
        }
        free(dir);
    }
    if (rc != 0) {
        wfile_free(w);
        set_sai(status, rc, &err);
        return;
    }
    file->plugin_file = w;
    set_ok(status);
}

static void fs_new_writable_file(const TF_Filesystem *fs, const char *path, TF_WritableFile *file,
                                 TF_Status *status)
{
    new_writable(fs, path, file, false, status);
}

static void fs_new_appendable_file(const TF_Filesystem *fs, const char *path, TF_WritableFile *file,
                                   TF_Status *status)
{
    new_writable(fs, path, file, true, status);
}

/* ---- read-only memory regions: the whole plaintext, authenticated ---------- */
static void rg_cleanup(TF_ReadOnlyMemoryRegion *region)
{
    region_t *g = region->plugin_memory_region;
    if (!g)
        return;
    sai_wipe(g->data, (size_t)g->len);
    free(g->data);
    free(g);
    region->plugin_memory_region = NULL;
}

static const void *rg_data(const TF_ReadOnlyMemoryRegion *region)
{
    return ((const region_t *)region->plugin_memory_region)->data;
}

static uint64_t rg_length(const TF_ReadOnlyMemoryRegion *region)
{
    return ((const region_t *)region->plugin_memory_region)->len;
}

static void fs_new_region(const TF_Filesystem *filesystem, const char *in, TF_ReadOnlyMemoryRegion *region,
                          TF_Status *status)
{
    const sfs_t *fs = filesystem->plugin_filesystem;
    LOCAL_OR_FAIL(path, in, status);
    if (!check_regular(path, status))
        return;
    sai_error_t err = {0};
    sai_seal_reader_t *r = NULL;
    region_t *g = NULL;
    int rc = sai_seal_open(&r, path, fs->key->data, NULL, &err);
    if (rc != 0)
        goto out;
    uint64_t size = sai_seal_size(r);
    if (size == 0) {
        set_msg(status, TF_INVALID_ARGUMENT, path, "empty file");
        goto done;
    }
    if (size > WRITE_MAX) {
        rc = sai_error_set(&err, SAI_ELIMIT, "%s: too big to hold in memory", path);
        goto out;
    }
    if (!(g = calloc(1, sizeof *g)) || !(g->data = malloc((size_t)size))) {
        rc = sai_error_set(&err, SAI_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    g->len = size;
    if ((rc = sai_seal_read_at(r, 0, g->data, (size_t)size, &err)) != 0)
        goto out;
    region->plugin_memory_region = g;
    g = NULL;
out:
    if (rc != 0)
        set_sai(status, rc, &err);
    else
        set_ok(status);
done:
    if (g) {
        free(g->data);   /* read_at wiped what it wrote on failure */
        free(g);
    }
    sai_seal_close(r);
}

/* ---- the filesystem -------------------------------------------------------------- */
static void fs_init(TF_Filesystem *filesystem, TF_Status *status)
{
    sai_error_t err = {0};
    sfs_t *fs = calloc(1, sizeof *fs);
    if (!fs) {
        TF_SetStatus(status, TF_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    int rc = sai_plugkey_load(&fs->key, "SAI_TF", &err);
    if (rc != 0) {
        free(fs);
        char msg[SAI_ERROR_MAX + 32];
        snprintf(msg, sizeof msg, "sealed:// plugin: %s", err.msg);
        TF_SetStatus(status, TF_FAILED_PRECONDITION, msg);
        return;
    }
    const char *kid = getenv("SAI_TF_KEY_ID");
    if (!kid || !*kid)
        kid = SAI_SEAL_DEFAULT_KEY_ID;
    if (!sai_seal_key_id_valid(kid)) {
        sai_secret_free(fs->key);
        free(fs);
        TF_SetStatus(status, TF_FAILED_PRECONDITION, "sealed:// plugin: SAI_TF_KEY_ID is not a valid key id");
        return;
    }
    snprintf(fs->key_id, sizeof fs->key_id, "%s", kid);
    filesystem->plugin_filesystem = fs;
    set_ok(status);
}

static void fs_cleanup(TF_Filesystem *filesystem)
{
    sfs_t *fs = filesystem->plugin_filesystem;
    if (fs) {
        sai_secret_free(fs->key);
        free(fs);
    }
    filesystem->plugin_filesystem = NULL;
}

static void fs_create_dir(const TF_Filesystem *fs, const char *in, TF_Status *status)
{
    (void)fs;
    LOCAL_OR_FAIL(path, in, status);
    if (mkdir(path, 0755) != 0)
        set_errno(status, errno, "mkdir", path);
    else
        set_ok(status);
}

static void fs_delete_file(const TF_Filesystem *fs, const char *in, TF_Status *status)
{
    (void)fs;
    LOCAL_OR_FAIL(path, in, status);
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        set_msg(status, TF_FAILED_PRECONDITION, path, "is a directory");
    else if (unlink(path) != 0)
        set_errno(status, errno, "unlink", path);
    else
        set_ok(status);
}

static void fs_delete_dir(const TF_Filesystem *fs, const char *in, TF_Status *status)
{
    (void)fs;
    LOCAL_OR_FAIL(path, in, status);
    if (rmdir(path) != 0)
        set_errno(status, errno, "rmdir", path);
    else
        set_ok(status);
}

/* A sealed file's header does not bind its name, so a rename moves the
 * ciphertext as it is. */
static void fs_rename_file(const TF_Filesystem *fs, const char *src_in, const char *dst_in, TF_Status *status)
{
    (void)fs;
    LOCAL_OR_FAIL(src, src_in, status);
    LOCAL_OR_FAIL(dst, dst_in, status);
    struct stat sb;
    if (stat(src, &sb) == 0 && !S_ISREG(sb.st_mode))
        set_msg(status, TF_FAILED_PRECONDITION, src, "not a regular file");
    else if (rename(src, dst) != 0)
        set_errno(status, errno, "rename", src);
    else
        set_ok(status);
}

static void fs_path_exists(const TF_Filesystem *fs, const char *in, TF_Status *status)
{
    (void)fs;
    LOCAL_OR_FAIL(path, in, status);
    struct stat sb;
    if (stat(path, &sb) != 0)
        set_errno(status, errno, "stat", path);
    else
        set_ok(status);
}

/* The length of a regular file is its authenticated plaintext length: the
 * reader checks the size against the header and decrypts the last chunk. */
static void fs_stat(const TF_Filesystem *filesystem, const char *in, TF_FileStatistics *stats,
                    TF_Status *status)
{
    const sfs_t *fs = filesystem->plugin_filesystem;
    LOCAL_OR_FAIL(path, in, status);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        set_errno(status, errno, "stat", path);
        return;
    }
    int64_t length = 0;
    if (S_ISREG(sb.st_mode)) {
        sai_error_t err = {0};
        sai_seal_reader_t *r = NULL;
        int rc = sai_seal_open(&r, path, fs->key->data, NULL, &err);
        if (rc != 0) {
            set_sai(status, rc, &err);
            return;
        }
        length = (int64_t)sai_seal_size(r);
        sai_seal_close(r);
    }
    stats->length = length;
    stats->mtime_nsec = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    stats->is_directory = S_ISDIR(sb.st_mode);
    set_ok(status);
}

static int fs_get_children(const TF_Filesystem *fs, const char *in, char ***entries, TF_Status *status)
{
    (void)fs;
    const char *path = local_path(in);
    if (!path) {
        set_msg(status, TF_FAILED_PRECONDITION, in, "not an absolute sealed:// path");
        return -1;
    }
    DIR *d = opendir(path);
    if (!d) {
        set_errno(status, errno, "opendir", path);
        return -1;
    }
    int n = 0, cap = 0;
    char **list = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            int ncap = cap ? cap * 2 : 16;
            char **nl = plugin_alloc(sizeof *nl * (size_t)ncap);
            if (!nl)
                goto nomem;
            if (list)
                memcpy(nl, list, sizeof *nl * (size_t)n);
            plugin_free(list);
            list = nl;
            cap = ncap;
        }
        if (!(list[n] = plugin_strdup(e->d_name)))
            goto nomem;
        n++;
    }
    closedir(d);
    *entries = list;
    set_ok(status);
    return n;
nomem:
    closedir(d);
    for (int i = 0; i < n; i++)
        plugin_free(list[i]);
    plugin_free(list);
    TF_SetStatus(status, TF_RESOURCE_EXHAUSTED, "out of memory");
    return -1;
}

/* "sealed:///a//b/./c" -> "/a/b/c" (".." resolved lexically, never above /). */
static char *fs_translate_name(const TF_Filesystem *fs, const char *uri)
{
    (void)fs;
    const char *p = uri;
    if (strncmp(p, SCHEME_URI, sizeof SCHEME_URI - 1) == 0)
        p += sizeof SCHEME_URI - 1;
    size_t n = strlen(p);
    char *out = plugin_alloc(n + 2);
    if (!out)
        return NULL;
    size_t o = 0;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - s);
        if (len == 1 && s[0] == '.')
            continue;
        if (len == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            continue;
        }
        out[o++] = '/';
        memcpy(out + o, s, len);
        o += len;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

/* ---- registration ---------------------------------------------------------------- */
__attribute__((visibility("default"))) void TF_InitPlugin(TF_FilesystemPluginInfo *info)
{
    info->plugin_memory_allocate = plugin_alloc;
    info->plugin_memory_free = plugin_free;
    info->num_schemes = 1;
    info->ops = plugin_alloc(sizeof *info->ops);
    if (!info->ops) {
        info->num_schemes = 0;
        return;
    }
    TF_FilesystemPluginOps *ops = info->ops;
    ops->scheme = plugin_strdup(SCHEME);
    ops->filesystem_ops_abi = TF_FILESYSTEM_OPS_ABI;
    ops->filesystem_ops_api = TF_FILESYSTEM_OPS_API;
    ops->filesystem_ops_size = sizeof(TF_FilesystemOps);
    ops->random_access_file_ops_abi = TF_RANDOM_ACCESS_FILE_OPS_ABI;
    ops->random_access_file_ops_api = TF_RANDOM_ACCESS_FILE_OPS_API;
    ops->random_access_file_ops_size = sizeof(TF_RandomAccessFileOps);
    ops->writable_file_ops_abi = TF_WRITABLE_FILE_OPS_ABI;
    ops->writable_file_ops_api = TF_WRITABLE_FILE_OPS_API;
    ops->writable_file_ops_size = sizeof(TF_WritableFileOps);
    ops->read_only_memory_region_ops_abi = TF_READ_ONLY_MEMORY_REGION_OPS_ABI;
    ops->read_only_memory_region_ops_api = TF_READ_ONLY_MEMORY_REGION_OPS_API;
    ops->read_only_memory_region_ops_size = sizeof(TF_ReadOnlyMemoryRegionOps);

    TF_RandomAccessFileOps *ra = plugin_alloc(sizeof *ra);
    TF_WritableFileOps *wf = plugin_alloc(sizeof *wf);
    TF_ReadOnlyMemoryRegionOps *rg = plugin_alloc(sizeof *rg);
    TF_FilesystemOps *fs = plugin_alloc(sizeof *fs);
    if (!ops->scheme || !ra || !wf || !rg || !fs) {
        plugin_free(ops->scheme);
        plugin_free(ra);
        plugin_free(wf);
        plugin_free(rg);
        plugin_free(fs);
        plugin_free(info->ops);
        info->ops = NULL;
        info->num_schemes = 0;
        return;
    }
    ra->cleanup = ra_cleanup;
    ra->read = ra_read;
    wf->cleanup = wf_cleanup;
    wf->append = wf_append;
    wf->tell = wf_tell;
    wf->flush = wf_flush;
    wf->sync = wf_sync;
    wf->close = wf_close;
    rg->cleanup = rg_cleanup;
    rg->data = rg_data;
    rg->length = rg_length;
    fs->init = fs_init;
    fs->cleanup = fs_cleanup;
    fs->new_random_access_file = fs_new_random_access_file;
    fs->new_writable_file = fs_new_writable_file;
    fs->new_appendable_file = fs_new_appendable_file;
    fs->new_read_only_memory_region_from_file = fs_new_region;
    fs->create_dir = fs_create_dir;
    fs->delete_file = fs_delete_file;
    fs->delete_dir = fs_delete_dir;
    fs->rename_file = fs_rename_file;
    fs->path_exists = fs_path_exists;
    fs->stat = fs_stat;
    fs->translate_name = fs_translate_name;
    fs->get_children = fs_get_children;
    /* Everything else is left to TensorFlow's defaults (recursive create and
     * delete, copy through read + write, globbing through get_children). */
    ops->random_access_file_ops = ra;
    ops->writable_file_ops = wf;
    ops->read_only_memory_region_ops = rg;
    ops->filesystem_ops = fs;
}
