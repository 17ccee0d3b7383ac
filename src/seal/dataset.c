/*
 * dataset.c — sealed datasets: a directory of sealed shards plus a MACed
 * canonical manifest (manifest.c), sealing a directory, opening a dataset
 * and its shards, unsealing a dataset.
 *
 * Trust chain when reading: manifest.mac is checked (constant time) over
 * manifest.json's raw bytes before they are parsed; each shard is hashed
 * through the very fd its reader then uses and compared with the manifest's
 * ciphertext SHA-256 before a byte is decrypted, so a shard replaced by one
 * from another dataset under the same key (or renamed within this one)
 * fails. The reader fixes the header and file key at open, so bytes
 * swapped in on disk after the hash can only fail authentication.
 *
 * Both directions build the output under "<out>.tmp.XXXXXX" and rename it
 * into place (RENAME_NOREPLACE) only when complete.
 */
#include "seal/seal_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sai_dataset_t {
    char        *dir;
    sai_manifest_t m;
    uint8_t      id[SAI_SHA256_LEN];
    sai_secret_t  *key_s;                   /* copy of the data key, locked, wiped on close */
};

/* ---- small path helpers -------------------------------------------------------- */

static char *join(const char *a, const char *b, const char *suffix)
{
    size_t n = strlen(a) + strlen(b) + strlen(suffix) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s%s", a, b, suffix);
    return p;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    return remove(p);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* mkdir -p for the parent directories of root/rel. */
static int make_parents(const char *root, const char *rel, sai_error_t *err)
{
    char *p = join(root, rel, "");
    if (p == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    int rc = 0;
    for (char *s = p + strlen(root) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            rc = sai_error_set(err, SAI_EIO, "cannot create %s: %s", p, strerror(errno));
        *s = '/';
        if (rc != 0)
            break;
    }
    free(p);
    return rc;
}

static char *make_tmp_dir(const char *out, sai_error_t *err)
{
    size_t n = strlen(out) + 16;
    char *t = malloc(n);
    if (t == NULL) {
        sai_error_set(err, SAI_ENOMEM, "out of memory");
        return NULL;
    }
    /* "out/" names the same directory as "out": drop trailing slashes so the
     * temporary sits next to it, not inside a directory that does not exist */
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/')
        len--;
    snprintf(t, n, "%.*s.tmp.XXXXXX", (int)len, out);
    if (mkdtemp(t) == NULL) {
        sai_error_set(err, SAI_EIO, "cannot create a directory next to %s: %s", out,
                      strerror(errno));
        free(t);
        return NULL;
    }
    return t;
}

static int publish_dir(const char *tmp, const char *out, sai_error_t *err)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_NOREPLACE) != 0)
        return sai_error_set(err, errno == EEXIST ? SAI_EEXIST : SAI_EIO,
                             "cannot create %s: %s", out, strerror(errno));
    return sai_fsync_parent(out, err);
}

/* ---- walking the input directory ------------------------------------------------ */

typedef struct {
    char  **v;
    size_t  n, cap;
} names_t;

static int names_add(names_t *l, const char *s)
{
    if (l->n == l->cap) {
        size_t c = l->cap ? l->cap * 2 : 64;
        char **nv = realloc(l->v, c * sizeof *nv);
        if (nv == NULL)
            return -1;
        l->v = nv;
        l->cap = c;
    }
    if ((l->v[l->n] = strdup(s)) == NULL)
        return -1;
    l->n++;
    return 0;
}

static void names_free(names_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(const char *root, const char *rel, names_t *out, int depth, sai_error_t *err)
{
    char *path = rel[0] ? join(root, rel, "") : strdup(root);
    if (path == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    int rc = 0;
    DIR *d = opendir(path);
    if (d == NULL) {
        rc = sai_error_set(err, SAI_EIO, "cannot read directory %s: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char sub[SAI_DATASET_NAME_MAX + 2];
        int n = rel[0] ? snprintf(sub, sizeof sub, "%s/%s", rel, e->d_name)
                       : snprintf(sub, sizeof sub, "%s", e->d_name);
        if (n < 0 || (size_t)n > SAI_DATASET_NAME_MAX) {
            rc = sai_error_set(err, SAI_ELIMIT, "%s/%s: name too long", path, e->d_name);
            break;
        }
        char *full = join(root, sub, "");
        struct stat st;
        if (full == NULL) {
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
            break;
        }
        if (lstat(full, &st) != 0)
            rc = sai_error_set(err, SAI_EIO, "cannot stat %s: %s", full, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            rc = depth > 32 ? sai_error_set(err, SAI_ELIMIT, "%s: directories nested too deep", full)
                            : walk(root, sub, out, depth + 1, err);
        else if (!S_ISREG(st.st_mode))
            rc = sai_error_set(err, SAI_EINVAL, "%s is not a regular file (symlinks and devices "
                               "are not sealed)", full);
        else if (out->n >= SAI_DATASET_SHARDS_MAX)
            rc = sai_error_set(err, SAI_ELIMIT, "more than %u files", SAI_DATASET_SHARDS_MAX);
        else if (!sai_seal__name_ok(sub))
            rc = sai_error_set(err, SAI_EINVAL, "%s: file name not allowed in a dataset "
                               "(control characters or backslash)", full);
        else if (names_add(out, sub) != 0)
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        free(full);
    }
    closedir(d);
    free(path);
    return rc;
}

/* ---- sealing a directory ---------------------------------------------------------- */

static int write_manifest(const char *dir, const sai_manifest_t *m, const uint8_t *key,
                          uint8_t id[SAI_SHA256_LEN], sai_error_t *err)
{
    char *txt = NULL, *mp = NULL, *macp = NULL;
    size_t len = 0;
    uint8_t mac[SAI_SHA256_LEN];
    char hex[2 * SAI_SHA256_LEN + 2];
    int rc = sai_manifest_encode(m, &txt, &len, err);
    if (rc != 0)
        return rc;
    if ((rc = sai_manifest_mac(mac, key, (const uint8_t *)txt, len, err)) != 0)
        goto out;
    if (id != NULL && (rc = sai_hash(SAI_SHA256, id, txt, len, err)) != 0)
        goto out;
    sai_hex_encode(hex, mac, sizeof mac);
    hex[2 * SAI_SHA256_LEN] = '\n';
    hex[2 * SAI_SHA256_LEN + 1] = '\0';
    mp = join(dir, SAI_DATASET_MANIFEST, "");
    macp = join(dir, SAI_DATASET_MAC, "");
    if (mp == NULL || macp == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    rc = sai_write_file_atomic(mp, txt, len, 0644, true, err);
    if (rc == 0)
        rc = sai_write_file_atomic(macp, hex, strlen(hex), 0644, true, err);
out:
    free(txt);
    free(mp);
    free(macp);
    return rc;
}

int sai_dataset_seal_dir(const char *in_dir, const char *out_dir,
                         const uint8_t key[static SAI_SEAL_KEY_LEN], const sai_seal_params_t *p,
                         sai_progress_t *progress, uint8_t id[SAI_SHA256_LEN], sai_error_t *err)
{
    names_t names = {0};
    sai_manifest_t m = {0};
    char *tmp = NULL;
    sai_seal_params_t pp = p ? *p : (sai_seal_params_t){0};
    pp.hash_output = true;
    pp.excl = true;
    if (pp.key_id == NULL)
        pp.key_id = SAI_SEAL_DEFAULT_KEY_ID;
    if (pp.chunk_size == 0)
        pp.chunk_size = SAI_SEAL_CHUNK_DEFAULT;
    if (!sai_seal_key_id_valid(pp.key_id))
        return sai_error_set(err, SAI_EINVAL, "invalid key id");
    if (access(out_dir, F_OK) == 0)
        return sai_error_set(err, SAI_EEXIST, "%s already exists; refusing to overwrite", out_dir);
    int rc = walk(in_dir, "", &names, 0, err);
    if (rc != 0)
        goto out;
    if (names.n == 0) {
        rc = sai_error_set(err, SAI_EINVAL, "%s holds no regular files to seal", in_dir);
        goto out;
    }
    qsort(names.v, names.n, sizeof *names.v, cmp_str);
    memcpy(m.key_id, pp.key_id, strlen(pp.key_id) + 1);
    m.chunk_size = pp.chunk_size;
    m.shards = calloc(names.n, sizeof *m.shards);
    if (m.shards == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    if ((tmp = make_tmp_dir(out_dir, err)) == NULL) {
        rc = err ? err->code : SAI_EIO;
        goto out;
    }
    uint64_t done = 0;
    for (size_t i = 0; i < names.n; i++) {
        sai_dataset_shard_t *s = &m.shards[i];
        char *src = join(in_dir, names.v[i], ""), *dst = join(tmp, names.v[i], ".sealed");
        struct stat st;
        if (src == NULL || dst == NULL)
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        else if ((rc = sai_record_detect(src, &s->format, &s->records, err)) == 0 &&
                 (rc = make_parents(tmp, names.v[i], err)) == 0 &&
                 (rc = sai_seal_file(src, dst, key, &pp, NULL, s->sha256, err)) == 0 &&
                 stat(src, &st) != 0)
            rc = sai_error_set(err, SAI_EIO, "cannot stat %s", src);
        /* TFRecord records have no fixed size: a sealed index of their
         * offsets keeps each one addressable (records_index.c) */
        if (rc == 0 && s->format == SAI_REC_TFRECORD)
            rc = sai_seal__tfrecord_index_write(dst, src, key, &pp, s->sha256, err);
        if (rc == 0) {
            s->size = (uint64_t)st.st_size;
            s->name = names.v[i];
            names.v[i] = NULL;
            m.n_shards++;
            done += s->size;
            if (progress)
                sai_progress_update(progress, done);
        }
        free(src);
        free(dst);
        if (rc != 0)
            goto out;
    }
    if ((rc = write_manifest(tmp, &m, key, id, err)) != 0)
        goto out;
    rc = publish_dir(tmp, out_dir, err);
out:
    if (rc != 0 && tmp != NULL)
        rm_tree(tmp);
    free(tmp);
    names_free(&names);
    sai_manifest_clear(&m);
    return rc;
}

/* ---- reading a dataset ------------------------------------------------------------- */

void sai_dataset_close(sai_dataset_t *d)
{
    if (d == NULL)
        return;
    sai_manifest_clear(&d->m);
    sai_secret_free(d->key_s);
    free(d->dir);
    free(d);
}

int sai_dataset_open(sai_dataset_t **out, const char *dir, const uint8_t key[static SAI_SEAL_KEY_LEN],
                     sai_error_t *err)
{
    *out = NULL;
    uint8_t *man = NULL, *macf = NULL;
    size_t man_len = 0, mac_len = 0;
    char *mp = join(dir, SAI_DATASET_MANIFEST, ""), *macp = join(dir, SAI_DATASET_MAC, "");
    uint8_t want[SAI_SHA256_LEN], got[SAI_SHA256_LEN];
    sai_dataset_t *d = calloc(1, sizeof *d);
    int rc;
    if (d == NULL || mp == NULL || macp == NULL || (d->dir = strdup(dir)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = sai_read_file(mp, SAI_DATASET_MANIFEST_MAX, &man, &man_len, err)) != 0 ||
        (rc = sai_read_file(macp, 256, &macf, &mac_len, err)) != 0)
        goto out;
    if (mac_len > 0 && macf[mac_len - 1] == '\n')
        macf[--mac_len] = '\0';
    if (mac_len != 2 * SAI_SHA256_LEN || sai_hex_decode(want, sizeof want, (char *)macf, NULL) != 0) {
        rc = sai_error_set(err, SAI_EFORMAT, "%s is not a hex HMAC-SHA-256", macp);
        goto out;
    }
    if ((rc = sai_manifest_mac(got, key, man, man_len, err)) != 0)
        goto out;
    if (!sai_ct_equal(got, want, sizeof got)) {
        rc = sai_error_set(err, SAI_EAUTH, "%s: manifest MAC does not verify (the manifest was "
                           "edited or swapped, or this is the wrong key)", mp);
        goto out;
    }
    if ((rc = sai_manifest_parse(&d->m, man, man_len, err)) != 0) {
        sai_error_prefix(err, "%s", mp);
        goto out;
    }
    if ((rc = sai_hash(SAI_SHA256, d->id, man, man_len, err)) != 0)
        goto out;
    if ((rc = sai_secret_new(&d->key_s, SAI_SEAL_KEY_LEN, err)) != 0)
        goto out;
    memcpy(d->key_s->data, key, SAI_SEAL_KEY_LEN);
    *out = d;
    d = NULL;
out:
    free(man);
    free(macf);
    free(mp);
    free(macp);
    sai_dataset_close(d);
    return rc;
}

const sai_manifest_t *sai_dataset_manifest(const sai_dataset_t *d) { return &d->m; }
const char *sai_seal__dataset_dir(const sai_dataset_t *d) { return d->dir; }
const uint8_t *sai_seal__dataset_key(const sai_dataset_t *d) { return d->key_s->data; }
const uint8_t *sai_dataset_id(const sai_dataset_t *d) { return d->id; }

long sai_dataset_find(const sai_dataset_t *d, const char *name)
{
    size_t lo = 0, hi = d->m.n_shards;   /* shards are sorted by name */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(d->m.shards[mid].name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

int sai_dataset_open_shard(sai_dataset_t *d, size_t i, sai_seal_reader_t **out, sai_error_t *err)
{
    return sai_dataset_open_shard_opts(d, i, NULL, out, err);
}

int sai_dataset_open_shard_opts(sai_dataset_t *d, size_t i, const sai_seal_open_opts_t *opts,
                                sai_seal_reader_t **out, sai_error_t *err)
{
    *out = NULL;
    if (i >= d->m.n_shards)
        return sai_error_set(err, SAI_EINVAL, "no shard %zu", i);
    const sai_dataset_shard_t *s = &d->m.shards[i];
    char *path = join(d->dir, s->name, ".sealed");
    uint8_t *buf = malloc(1u << 20);
    sai_hash_ctx_t *h = NULL;
    uint8_t got[SAI_SHA256_LEN];
    int fd = -1, rc;
    if (path == NULL || buf == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = sai_error_set(err, errno == ENOENT ? SAI_ENOTFOUND : SAI_EIO,
                           "cannot open shard %s: %s", path, strerror(errno));
        goto out;
    }
    if ((rc = sai_hash_new(&h, SAI_SHA256, err)) != 0)
        goto out;
    for (uint64_t off = 0;;) {
        ssize_t n = pread(fd, buf, 1u << 20, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = sai_error_set(err, SAI_EIO, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if ((rc = sai_hash_update(h, buf, (size_t)n, err)) != 0)
            goto out;
        off += (uint64_t)n;
    }
    if ((rc = sai_hash_final(h, got, err)) != 0)
        goto out;
    if (!sai_ct_equal(got, s->sha256, sizeof got)) {
        rc = sai_error_set(err, SAI_EAUTH, "%s: shard does not match the manifest (ciphertext "
                           "SHA-256 differs: replaced, modified or from another dataset)", path);
        goto out;
    }
    sai_seal_open_opts_t o = opts ? *opts : (sai_seal_open_opts_t){0};
    o.expect_key_id = d->m.key_id;
    if ((rc = sai_seal_open_fd(out, fd, path, d->key_s->data, &o, err)) != 0)
        goto out;
    if (sai_seal_size(*out) != s->size ||
        sai_seal_reader_header(*out)->chunk_size != d->m.chunk_size) {
        sai_seal_close(*out);
        *out = NULL;
        rc = sai_error_set(err, SAI_EAUTH, "%s: length or chunk size differs from the manifest",
                           path);
    }
out:
    if (fd >= 0)
        close(fd);
    sai_hash_free(h);
    free(buf);
    free(path);
    return rc;
}

int sai_dataset_unseal_dir(const char *in_dir, const char *out_dir,
                           const uint8_t key[static SAI_SEAL_KEY_LEN], sai_progress_t *progress,
                           sai_error_t *err)
{
    sai_dataset_t *d = NULL;
    sai_seal_reader_t *r = NULL;
    char *tmp = NULL, *dst = NULL;
    uint8_t *buf = NULL;
    size_t bl = 1u << 20;
    int fd = -1;
    if (access(out_dir, F_OK) == 0)
        return sai_error_set(err, SAI_EEXIST, "%s already exists; refusing to overwrite", out_dir);
    int rc = sai_dataset_open(&d, in_dir, key, err);
    if (rc != 0)
        return rc;
    if ((buf = malloc(bl)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    if ((tmp = make_tmp_dir(out_dir, err)) == NULL) {
        rc = err ? err->code : SAI_EIO;
        goto out;
    }
    uint64_t done = 0;
    for (size_t i = 0; i < d->m.n_shards; i++) {
        const sai_dataset_shard_t *s = &d->m.shards[i];
        if ((rc = sai_dataset_open_shard(d, i, &r, err)) != 0 ||
            (rc = make_parents(tmp, s->name, err)) != 0)
            goto out;
        if ((dst = join(tmp, s->name, "")) == NULL) {
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
            goto out;
        }
        if ((fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
            rc = sai_error_set(err, SAI_EIO, "cannot create %s: %s", dst, strerror(errno));
            goto out;
        }
        for (uint64_t off = 0; off < s->size;) {
            size_t n = s->size - off < bl ? (size_t)(s->size - off) : bl;
            if ((rc = sai_seal_read_at(r, off, buf, n, err)) != 0)
                goto out;
            if ((rc = sai_seal__write_all(fd, buf, n, dst, err)) != 0)
                goto out;
            off += n;
            done += n;
            if (progress)
                sai_progress_update(progress, done);
        }
        if (fsync(fd) != 0) {
            rc = sai_error_set(err, SAI_EIO, "cannot sync %s: %s", dst, strerror(errno));
            goto out;
        }
        close(fd);
        fd = -1;
        free(dst);
        dst = NULL;
        sai_seal_close(r);
        r = NULL;
    }
    rc = publish_dir(tmp, out_dir, err);
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && tmp != NULL)
        rm_tree(tmp);
    if (buf != NULL) {
        sai_wipe(buf, bl);
        free(buf);
    }
    free(dst);
    free(tmp);
    sai_seal_close(r);
    sai_dataset_close(d);
    return rc;
}
