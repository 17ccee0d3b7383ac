/*
 * preload.c — libsecureai-preload.so: sealed files under a configured prefix
 * appear as plaintext to unmodified programs (cat, sha256sum, cp, python3's
 * open(), numpy.fromfile, torch.load), and what they write there is sealed.
 *
 *   SAI_PRELOAD_PREFIX=/data/sealed SAI_PRELOAD_KEY_FD=3 \
 *   LD_PRELOAD=libsecureai-preload.so python3 train.py 3<key
 *
 * It is for programs inside a TEE (a confidential VM, where the whole guest
 * is trusted) that cannot take the Python package. docs/plugins.md lists the
 * calls it covers and what it does not (mmap, direct syscalls, C++ streams,
 * O_DIRECT, ...).
 *
 * How: the interposed libc entry points look up each path (made absolute,
 * symlinks of existing parents resolved) against the prefix; anything
 * outside it, and every call made from inside libsecureai itself (a
 * thread-local depth counter), goes straight to libc. A regular file under the
 * prefix opened read-only keeps its real descriptor (so poll, fstat, dup,
 * close and descriptor numbers behave), with a sealed-file reader attached:
 * read/pread/lseek/fstat/statx answer in plaintext terms, decrypting only the
 * 64 KiB chunks a read spans, each authenticated before a byte is released.
 * A file opened for writing gets a descriptor on /dev/null (a write that
 * bypasses libc lands nowhere, never on disk) and its plaintext is held in
 * memory, then sealed through the sealing writer (temp file + rename) when
 * the last descriptor is closed, or at fsync. No plaintext byte reaches the
 * disk. A crash before that loses the unsealed writes; the previous version
 * of the file stays whole.
 *
 * Fails closed: under the prefix, a missing key is EACCES, a file that does
 * not authenticate is EBADMSG, an O_TMPFILE or mmap is refused; nothing is
 * ever passed through as ciphertext-as-plaintext or written in the clear.
 *
 * Exports: the interposed names only (plugins/preload/exports.map).
 */
#undef _FORTIFY_SOURCE   /* this file defines read, open, ...: no inline wrappers */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../common/keysrc.h"
#include "secureai/seal.h"

#define EXPORT __attribute__((visibility("default")))
#define WRITE_MAX ((size_t)16 << 30)

/* ---- libc's own functions ----------------------------------------------------- */
static struct {
    int (*openat)(int, const char *, int, ...);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*pread)(int, void *, size_t, off_t);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*pwrite)(int, const void *, size_t, off_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    off_t (*lseek)(int, off_t, int);
    int (*fstat)(int, struct stat *);
    int (*fstatat)(int, const char *, struct stat *, int);
    int (*statx)(int, const char *, int, unsigned, struct statx *);
    int (*close)(int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*fcntl)(int, int, ...);
    FILE *(*fopen)(const char *, const char *);
    FILE *(*fdopen)(int, const char *);
    int (*fsync)(int);
    int (*fdatasync)(int);
    int (*ftruncate)(int, off_t);
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    ssize_t (*copy_file_range)(int, off64_t *, int, off64_t *, size_t, unsigned);
    ssize_t (*sendfile)(int, int, off_t *, size_t);
} real;

typedef struct sp_file {
    pthread_mutex_t mu;
    int refs;                  /* descriptors referring to this open file */
    pid_t owner;               /* only the opening process seals on close */
    char *path;
    int accmode;               /* O_RDONLY, O_WRONLY or O_RDWR */
    bool append;
    uint64_t off;
    sai_seal_reader_t *r;      /* read-only files */
    uint64_t size;
    bool buffered;             /* written files: plaintext in memory */
    uint8_t *buf;
    size_t len, cap;
    unsigned mode;
    bool dirty;
} sp_file;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool active;                    /* a prefix is configured */
static bool have_key;
static char prefix[PATH_MAX];
static size_t prefix_len;
static sai_secret_t *key;
static char key_id[SAI_SEAL_KEY_ID_MAX + 1] = SAI_SEAL_DEFAULT_KEY_ID;
static __thread int depth;             /* > 0: inside libsecureai or init */
static pthread_mutex_t tab_mu = PTHREAD_MUTEX_INITIALIZER;
static sp_file **tab;
static size_t tab_n;

static void warn(const char *fmt, ...) SAI_PRINTF(1, 2);
static void warn(const char *fmt, ...)
{
    char msg[SAI_ERROR_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof msg - 2)
        n = (int)sizeof msg - 2;
    msg[n++] = '\n';
    if (real.write)
        (void)!real.write(2, msg, (size_t)n);
}

#define RESOLVE(name) real.name = (__typeof__(real.name))dlsym(RTLD_NEXT, #name)

static void init(void)
{
    depth++;
    RESOLVE(openat); RESOLVE(read); RESOLVE(pread); RESOLVE(write); RESOLVE(pwrite);
    RESOLVE(readv); RESOLVE(writev); RESOLVE(lseek); RESOLVE(fstat); RESOLVE(fstatat);
    RESOLVE(statx); RESOLVE(close); RESOLVE(dup); RESOLVE(dup2); RESOLVE(dup3); RESOLVE(fcntl);
    RESOLVE(fopen); RESOLVE(fdopen); RESOLVE(fsync); RESOLVE(fdatasync); RESOLVE(ftruncate);
    RESOLVE(mmap); RESOLVE(copy_file_range); RESOLVE(sendfile);
    const char *p = getenv("SAI_PRELOAD_PREFIX");
    if (p && *p) {
        if (p[0] != '/' || !realpath(p, prefix)) {
            /* Fail closed: nothing under it is treated as plaintext. */
            warn("libsecureai-preload: SAI_PRELOAD_PREFIX=%s is not an existing absolute directory", p);
            snprintf(prefix, sizeof prefix, "%s", p);
        }
        prefix_len = strlen(prefix);
        while (prefix_len > 1 && prefix[prefix_len - 1] == '/')
            prefix[--prefix_len] = '\0';
        active = true;
        sai_error_t err = {0};
        if (sai_plugkey_load(&key, "SAI_PRELOAD", &err) == 0)
            have_key = true;
        else
            warn("libsecureai-preload: %s; files under %s are refused", err.msg, prefix);
        const char *kid = getenv("SAI_PRELOAD_KEY_ID");
        if (kid && *kid) {
            if (sai_seal_key_id_valid(kid))
                snprintf(key_id, sizeof key_id, "%s", kid);
            else
                warn("libsecureai-preload: SAI_PRELOAD_KEY_ID is not a valid key id; using %s", key_id);
        }
    }
    depth--;
}

__attribute__((constructor)) static void sp_constructor(void) { pthread_once(&once, init); }

__attribute__((destructor)) static void sp_destructor(void)
{
    /* Files still open at exit are sealed as if closed (stdio flushes
     * before this runs); then the key is wiped. */
    if (!active)
        return;
    for (size_t fd = 0; fd < tab_n; fd++)
        if (tab[fd])
            (void)close((int)fd);
    sai_secret_free(key);
    key = NULL;
    have_key = false;
}

/* true when the call must go straight to libc */
static bool bypass(void)
{
    if (depth > 0)      /* first: init itself calls interposed functions */
        return true;
    pthread_once(&once, init);
    return !active;
}

/* ---- paths ------------------------------------------------------------------------ */
/* Lexically normalise an absolute path in place ("//", ".", ".."). */
static void normalise(char *p)
{
    char *o = p, *s = p;
    while (*s) {
        while (*s == '/')
            s++;
        if (!*s)
            break;
        char *e = s;
        while (*e && *e != '/')
            e++;
        size_t len = (size_t)(e - s);
        if (len == 1 && s[0] == '.') {
        } else if (len == 2 && s[0] == '.' && s[1] == '.') {
            while (o > p && *--o != '/') {
            }
        } else {
            *o++ = '/';
            memmove(o, s, len);
            o += len;
        }
        s = e;
    }
    if (o == p)
        *o++ = '/';
    *o = '\0';
}

/* The absolute path of (dirfd, path), with symlinks resolved as far as the
 * path exists; false when it cannot be known (then the call passes through:
 * such a path is not one the prefix can claim). */
static bool abs_path(int dirfd, const char *path, char out[PATH_MAX])
{
    char tmp[PATH_MAX];
    if (!path || !*path)
        return false;
    if (path[0] == '/') {
        if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
            return false;
    } else {
        char base[PATH_MAX];
        if (dirfd == AT_FDCWD) {
            if (!getcwd(base, sizeof base))
                return false;
        } else {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            ssize_t n = readlink(link, base, sizeof base - 1);
            if (n <= 0)
                return false;
            base[n] = '\0';
        }
        if (snprintf(tmp, sizeof tmp, "%s/%s", base, path) >= (int)sizeof tmp)
            return false;
    }
    normalise(tmp);
    if (realpath(tmp, out))
        return true;
    char *slash = strrchr(tmp, '/');
    if (slash == tmp || !slash)
        return snprintf(out, PATH_MAX, "%s", tmp) < PATH_MAX;
    *slash = '\0';
    char dir[PATH_MAX];
    if (!realpath(tmp, dir))
        return snprintf(out, PATH_MAX, "%s/%s", tmp, slash + 1) < PATH_MAX;
    return snprintf(out, PATH_MAX, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, slash + 1) < PATH_MAX;
}

static bool under_prefix(const char *abs)
{
    if (prefix_len == 1)
        return abs[0] == '/' && abs[1] != '\0';
    return strncmp(abs, prefix, prefix_len) == 0 && abs[prefix_len] == '/' && abs[prefix_len + 1] != '\0';
}

/* ---- the descriptor table ---------------------------------------------------------- */
static sp_file *lookup(int fd)
{
    if (fd < 0)
        return NULL;
    pthread_mutex_lock(&tab_mu);
    sp_file *f = (size_t)fd < tab_n ? tab[fd] : NULL;
    pthread_mutex_unlock(&tab_mu);
    return f;
}

static int attach(int fd, sp_file *f)
{
    int rc = 0;
    pthread_mutex_lock(&tab_mu);
    if ((size_t)fd >= tab_n) {
        size_t n = tab_n ? tab_n : 64;
        while (n <= (size_t)fd)
            n *= 2;
        sp_file **nt = realloc(tab, n * sizeof *nt);
        if (!nt) {
            rc = -1;
            goto out;
        }
        memset(nt + tab_n, 0, (n - tab_n) * sizeof *nt);
        tab = nt;
        tab_n = n;
    }
    tab[fd] = f;
    f->refs++;
out:
    pthread_mutex_unlock(&tab_mu);
    return rc;
}

static sp_file *detach(int fd)
{
    sp_file *f = NULL;
    pthread_mutex_lock(&tab_mu);
    if (fd >= 0 && (size_t)fd < tab_n && tab[fd]) {
        f = tab[fd];
        tab[fd] = NULL;
        if (--f->refs > 0)
            f = NULL;   /* another descriptor still refers to it */
    }
    pthread_mutex_unlock(&tab_mu);
    return f;
}

static void file_free(sp_file *f)
{
    if (!f)
        return;
    depth++;
    sai_seal_close(f->r);
    depth--;
    if (f->buf) {
        sai_wipe(f->buf, f->cap);
        free(f->buf);
    }
    free(f->path);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* Grow without realloc, which would free the old plaintext unwiped. */
static int reserve(sp_file *f, size_t need)
{
    if (need <= f->cap)
        return 0;
    if (need > WRITE_MAX)
        return -1;
    size_t cap = f->cap ? f->cap : 65536;
    while (cap < need)
        cap = cap > WRITE_MAX / 2 ? WRITE_MAX : cap * 2;
    uint8_t *nb = malloc(cap);
    if (!nb)
        return -1;
    if (f->buf) {
        memcpy(nb, f->buf, f->len);
        sai_wipe(f->buf, f->cap);
        free(f->buf);
    }
    f->buf = nb;
    f->cap = cap;
    return 0;
}

/* Seal the buffer over the path (temp file + rename: the old version stays
 * whole until the new one is). Called with f->mu held. */
static int seal_now(sp_file *f)
{
    sai_error_t err = {0};
    sai_seal_writer_t *w = NULL;
    sai_seal_params_t p = {.key_id = key_id, .mode = f->mode};
    depth++;
    int rc = sai_seal_writer_new(&w, f->path, key->data, &p, f->len, &err);
    if (rc == 0 && f->len > 0)
        rc = sai_seal_writer_write(w, f->buf, f->len, &err);
    if (rc == 0)
        rc = sai_seal_writer_finish(w, NULL, &err);
    sai_seal_writer_free(w);
    depth--;
    if (rc != 0) {
        warn("libsecureai-preload: sealing %s failed: %s", f->path, err.msg);
        errno = EIO;
        return -1;
    }
    f->dirty = false;
    return 0;
}

static int errno_of(int rc)
{
    switch (rc) {
    case SAI_EAUTH:
    case SAI_EFORMAT: return EBADMSG;
    case SAI_ENOTFOUND: return ENOENT;
    case SAI_ENOMEM: return ENOMEM;
    case SAI_ELIMIT: return EFBIG;
    default: return EIO;
    }
}

/* ---- open ---------------------------------------------------------------------------- */
static int sp_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    if (bypass())
        return real.openat(dirfd, path, flags, mode);
    char abs[PATH_MAX];
    if (!abs_path(dirfd, path, abs) || !under_prefix(abs) || (flags & (O_DIRECTORY | O_PATH)))
        return real.openat(dirfd, path, flags, mode);
    if ((flags & O_TMPFILE) == O_TMPFILE) {
        errno = EOPNOTSUPP;   /* an unnamed file would hold plaintext on disk */
        return -1;
    }
    if (!have_key) {
        errno = EACCES;
        return -1;
    }
    int acc = flags & O_ACCMODE;
    struct stat sb;
    bool exists = real.fstatat(AT_FDCWD, abs, &sb, 0) == 0;
    if (exists && !S_ISREG(sb.st_mode))
        return real.openat(dirfd, path, flags, mode);   /* directories, devices, fifos */
    sp_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(abs))) {
        free(f);
        errno = ENOMEM;
        return -1;
    }
    pthread_mutex_init(&f->mu, NULL);
    f->owner = getpid();
    f->accmode = acc;
    f->append = (flags & O_APPEND) != 0;
    int fd = -1, e = 0;
    sai_error_t err = {0};
    if (acc == O_RDONLY) {
        if (flags & O_TRUNC) {
            e = EACCES;   /* truncating a file opened read-only: refuse rather than guess */
            goto fail;
        }
        fd = real.openat(AT_FDCWD, abs, flags & ~(O_CREAT | O_EXCL), 0);
        if (fd < 0) {
            e = errno;
            goto fail;
        }
        depth++;
        int rc = sai_seal_open_fd(&f->r, fd, abs, key->data, NULL, &err);
        depth--;
        if (rc != 0) {
            warn("libsecureai-preload: %s", err.msg);
            e = errno_of(rc);
            goto fail;
        }
        f->size = sai_seal_size(f->r);
    } else {
        if (exists && (flags & O_CREAT) && (flags & O_EXCL)) {
            e = EEXIST;
            goto fail;
        }
        if (!exists && !(flags & O_CREAT)) {
            e = ENOENT;
            goto fail;
        }
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", abs);
        *strrchr(dir, '/') = '\0';
        struct stat db;
        if (real.fstatat(AT_FDCWD, dir[0] ? dir : "/", &db, 0) != 0 || !S_ISDIR(db.st_mode)) {
            e = ENOENT;
            goto fail;
        }
        f->buffered = true;
        mode_t um = umask(0);   /* the writer sets the mode exactly: apply the umask here */
        umask(um);
        f->mode = exists ? (sb.st_mode & 07777) : (mode & 07777 & ~um);
        f->dirty = !exists || (flags & O_TRUNC);   /* a new or truncated file exists once closed */
        if (exists && !(flags & O_TRUNC)) {
            /* Read-modify-write: the whole authenticated plaintext first. */
            sai_seal_reader_t *r = NULL;
            depth++;
            int rc = sai_seal_open(&r, abs, key->data, NULL, &err);
            uint64_t size = rc == 0 ? sai_seal_size(r) : 0;
            if (rc == 0 && (size > WRITE_MAX || reserve(f, (size_t)size) != 0))
                rc = sai_error_set(&err, SAI_ENOMEM, "%s: too big to rewrite in memory", abs);
            if (rc == 0 && size > 0)
                rc = sai_seal_read_at(r, 0, f->buf, (size_t)size, &err);
            sai_seal_close(r);
            depth--;
            if (rc != 0) {
                warn("libsecureai-preload: %s", err.msg);
                e = errno_of(rc);
                goto fail;
            }
            f->len = (size_t)size;
        }
        /* The program's descriptor: /dev/null, so a write that bypasses libc
         * lands nowhere. */
        fd = real.openat(AT_FDCWD, "/dev/null", O_RDWR | (flags & O_CLOEXEC), 0);
        if (fd < 0) {
            e = errno;
            goto fail;
        }
    }
    if (attach(fd, f) != 0) {
        e = ENOMEM;
        goto fail;
    }
    return fd;
fail:
    if (fd >= 0)
        real.close(fd);
    file_free(f);
    errno = e;
    return -1;
}

static mode_t va_mode(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

EXPORT int open(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = va_mode(flags, ap);
    va_end(ap);
    return sp_openat(AT_FDCWD, path, flags, m);
}
EXPORT int open64(const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = va_mode(flags, ap);
    va_end(ap);
    return sp_openat(AT_FDCWD, path, flags, m);
}
EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = va_mode(flags, ap);
    va_end(ap);
    return sp_openat(dirfd, path, flags, m);
}
EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    mode_t m = va_mode(flags, ap);
    va_end(ap);
    return sp_openat(dirfd, path, flags, m);
}
/* _FORTIFY_SOURCE builds call these when the flags are not constant. */
EXPORT int __open_2(const char *path, int flags) { return sp_openat(AT_FDCWD, path, flags, 0); }
EXPORT int __open64_2(const char *path, int flags) { return sp_openat(AT_FDCWD, path, flags, 0); }
EXPORT int __openat_2(int dirfd, const char *path, int flags) { return sp_openat(dirfd, path, flags, 0); }
EXPORT int __openat64_2(int dirfd, const char *path, int flags) { return sp_openat(dirfd, path, flags, 0); }
EXPORT int creat(const char *path, mode_t mode) { return sp_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode); }
EXPORT int creat64(const char *path, mode_t mode) { return sp_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

/* ---- read / write ---------------------------------------------------------------------- */
/* Read n bytes at off (or at the file offset when at == NULL); f->mu held. */
static ssize_t file_read(sp_file *f, void *buf, size_t n, const uint64_t *at)
{
    if (f->accmode == O_WRONLY) {
        errno = EBADF;
        return -1;
    }
    uint64_t off = at ? *at : f->off;
    uint64_t size = f->buffered ? f->len : f->size;
    size_t k = off >= size ? 0 : (size - off < n ? (size_t)(size - off) : n);
    if (k > 0) {
        if (f->buffered) {
            memcpy(buf, f->buf + off, k);
        } else {
            sai_error_t err = {0};
            depth++;
            int rc = sai_seal_read_at(f->r, off, buf, k, &err);
            depth--;
            if (rc != 0) {
                warn("libsecureai-preload: %s", err.msg);
                errno = errno_of(rc);
                return -1;
            }
        }
    }
    if (!at)
        f->off = off + k;
    return (ssize_t)k;
}

static ssize_t file_write(sp_file *f, const void *buf, size_t n, const uint64_t *at)
{
    if (f->accmode == O_RDONLY || !f->buffered) {
        errno = EBADF;
        return -1;
    }
    uint64_t off = at ? *at : (f->append ? f->len : f->off);
    if (off > WRITE_MAX || n > WRITE_MAX - off || reserve(f, (size_t)off + n) != 0) {
        errno = ENOSPC;   /* the plaintext is held in memory until it is sealed */
        return -1;
    }
    if (off > f->len)
        memset(f->buf + f->len, 0, (size_t)off - f->len);
    memcpy(f->buf + off, buf, n);
    if (off + n > f->len)
        f->len = (size_t)off + n;
    f->dirty = true;
    if (!at)
        f->off = off + n;
    return (ssize_t)n;
}

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    sp_file *f = bypass() ? NULL : lookup(fd);
    if (!f)
        return real.read(fd, buf, n);
    pthread_mutex_lock(&f->mu);
    ssize_t r = file_read(f, buf, n, NULL);
    pthread_mutex_unlock(&f->mu);
    return r;
}

static ssize_t sp_pread(int fd, void *buf, size_t n, off_t off)
{
    sp_file *f = bypass() ? NULL : lookup(fd);
    if (!f)
        return real.pread(fd, buf, n, off);
    if (off < 0) {
        errno = EINVAL;
        return -1;
    }
    uint64_t at = (uint64_t)off;
    pthread_mutex_lock(&f->mu);
    ssize_t r = file_read(f, buf, n, &at);
    pthread_mutex_unlock(&f->mu);
    return r;
}
EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off) { return sp_pread(fd, buf, n, off); }
EXPORT ssize_t pread64(int fd, void *buf, size_t n, off64_t off) { return sp_pread(fd, buf, n, off); }
EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    if (n > buflen)
        abort();
    return read(fd, buf, n);
}
EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
    if (n > buflen)
        abort();
    return sp_pread(fd, buf, n, off);
}
EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen)
{
    if (n > buflen)
        abort();
    return sp_pread(fd, buf, n, off);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    sp_file *f = bypass() ? NULL : lookup(fd);
    if (!f)
        return real.readv(fd, iov, cnt);
    ssize_t total = 0;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < cnt; i++) {
        ssize_t r = file_read(f, iov[i].iov_base, iov[i].iov_len, NULL);
        if (r < 0) {
            total = total ? total : -1;
            break;
        }
        total += r;
        if ((size_t)r < iov[i].iov_len)
            break;
    }
    pthread_mutex_unlock(&f->mu);
    return total;
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    sp_file *f = bypass() ? NULL : lookup(fd);
    if (!f)
        return real.write(fd, buf, n);
    pthread_mutex_lock(&f->mu);
    ssize_t r = file_write(f, buf, n, NULL);
    pthread_mutex_unlock(&f->mu);
    return r;
}

static ssize_t sp_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    sp_file *f = bypass() ? NULL : lookup(fd);
    if (!f)
        return real.pwrite(fd, buf, n, off);
    if (off < 0) {
        errno = EINVAL;
        return -1;
    }
    uint64_t at = (uint64_t)off;
    pthread_mutex_lock(&f->mu);
    ssize_t r = file_write(f, buf, n, &at);
    pthread_mutex_unlock(&f->mu);
    return r;
}
EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) { return sp_pwrite(fd, buf, n, off); }
EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off) { return sp_pwrite(fd, buf, n, off); }

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    sp_file *f = bypass() ? NULL : lookup(fd);
    if (!f)
        return real.writev(fd, iov, cnt);
    ssize_t total = 0;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < cnt; i++) {
        ssize_t r = file_write(f, iov[i].iov_base, iov[i].iov_len, NULL);
        if (r < 0) {
            total = total ? total : -1;
            break;
        }
        total += r;
    }
    pthread_mutex_unlock(&f->mu);
    return total;
}

static off_t sp_lseek(int fd, off_t off, int whence)
{
    sp_file *f = bypass() ? NULL : lookup(fd);
    if (!f)
        return real.lseek(fd, off, whence);
    pthread_mutex_lock(&f->mu);
    int64_t size = (int64_t)(f->buffered ? f->len : f->size);
    int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (int64_t)f->off
                 : whence == SEEK_END ? size : -1;
    off_t r = -1;
    if (whence == SEEK_DATA || whence == SEEK_HOLE) {
        if (off < 0 || off >= size)
            errno = ENXIO;
        else
            r = whence == SEEK_DATA ? off : (off_t)size;   /* no holes */
    } else if (base < 0 || (off < 0 && -off > base) || (off > 0 && off > INT64_MAX - base)) {
        errno = EINVAL;
    } else {
        r = (off_t)(base + off);
    }
    if (r >= 0)
        f->off = (uint64_t)r;   /* SEEK_DATA/SEEK_HOLE move the offset too, as on Linux */
    pthread_mutex_unlock(&f->mu);
    return r;
}
EXPORT off_t lseek(int fd, off_t off, int whence) { return sp_lseek(fd, off, whence); }
EXPORT off64_t lseek64(int fd, off64_t off, int whence) { return sp_lseek(fd, off, whence); }

/* ---- stat ---------------------------------------------------------------------------- */
/* The plaintext view of an open file: a regular file of its plaintext size. */
static void patch_stat(sp_file *f, struct stat *sb)
{
    pthread_mutex_lock(&f->mu);
    uint64_t size = f->buffered ? f->len : f->size;
    if (f->buffered) {
        sb->st_mode = S_IFREG | (f->mode ? f->mode : 0644);
        sb->st_nlink = 1;
        sb->st_rdev = 0;
        sb->st_blksize = 65536;
    }
    pthread_mutex_unlock(&f->mu);
    sb->st_size = (off_t)size;
    sb->st_blocks = (blkcnt_t)((size + 511) / 512);
}

/* libc declares the path nonnull, but the kernel takes NULL with
 * AT_EMPTY_PATH: test it out of the compiler's sight. */
__attribute__((noinline)) static bool empty_path(const char *p) { return !p || !*p; }

/* The authenticated plaintext size of a sealed file at abs, or -1. */
static int64_t sealed_size(const char *abs)
{
    sai_seal_reader_t *r = NULL;
    depth++;
    int rc = sai_seal_open(&r, abs, key->data, NULL, NULL);
    int64_t size = rc == 0 ? (int64_t)sai_seal_size(r) : -1;
    sai_seal_close(r);
    depth--;
    return size;
}

/* A path under the prefix: stat in plaintext terms. A file that does not
 * authenticate keeps its on-disk size (listing a directory must not fail);
 * reading it is what fails. */
static void patch_path_stat(int dirfd, const char *path, int flags, struct stat *sb)
{
    char abs[PATH_MAX];
    if (!S_ISREG(sb->st_mode) || !have_key || ((flags & AT_EMPTY_PATH) && empty_path(path)))
        return;
    if (!abs_path(dirfd, path, abs) || !under_prefix(abs))
        return;
    int64_t size = sealed_size(abs);
    if (size >= 0) {
        sb->st_size = (off_t)size;
        sb->st_blocks = (blkcnt_t)((size + 511) / 512);
    }
}

EXPORT int fstat(int fd, struct stat *sb)
{
    bool by = bypass();
    int rc = real.fstat(fd, sb);
    sp_file *f = rc != 0 || by ? NULL : lookup(fd);
    if (f)
        patch_stat(f, sb);
    return rc;
}
EXPORT int fstat64(int fd, struct stat64 *sb) { return fstat(fd, (struct stat *)sb); }

EXPORT int fstatat(int dirfd, const char *path, struct stat *sb, int flags)
{
    bool by = bypass();
    int rc = real.fstatat(dirfd, path, sb, flags);
    if (rc != 0 || by)
        return rc;
    if ((flags & AT_EMPTY_PATH) && empty_path(path)) {
        sp_file *f = lookup(dirfd);
        if (f)
            patch_stat(f, sb);
        return rc;
    }
    patch_path_stat(dirfd, path, flags, sb);
    return rc;
}
EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *sb, int flags)
{
    return fstatat(dirfd, path, (struct stat *)sb, flags);
}
EXPORT int stat(const char *path, struct stat *sb) { return fstatat(AT_FDCWD, path, sb, 0); }
EXPORT int stat64(const char *path, struct stat64 *sb) { return fstatat(AT_FDCWD, path, (struct stat *)sb, 0); }
EXPORT int lstat(const char *path, struct stat *sb) { return fstatat(AT_FDCWD, path, sb, AT_SYMLINK_NOFOLLOW); }
EXPORT int lstat64(const char *path, struct stat64 *sb)
{
    return fstatat(AT_FDCWD, path, (struct stat *)sb, AT_SYMLINK_NOFOLLOW);
}

EXPORT int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *sx)
{
    bool by = bypass();
    int rc = real.statx(dirfd, path, flags, mask, sx);
    if (rc != 0 || by)
        return rc;
    if ((flags & AT_EMPTY_PATH) && empty_path(path)) {
        sp_file *f = lookup(dirfd);
        if (f) {
            struct stat sb = {.st_mode = sx->stx_mode};
            patch_stat(f, &sb);
            sx->stx_mode = (uint16_t)sb.st_mode;
            sx->stx_size = (uint64_t)sb.st_size;
            sx->stx_blocks = (uint64_t)sb.st_blocks;
        }
        return rc;
    }
    struct stat sb = {.st_mode = sx->stx_mode, .st_size = (off_t)sx->stx_size};
    patch_path_stat(dirfd, path, flags, &sb);
    sx->stx_size = (uint64_t)sb.st_size;
    sx->stx_blocks = (uint64_t)sb.st_blocks;
    return rc;
}

/* ---- close, dup --------------------------------------------------------------------- */
/* Drop fd's reference; the last one seals a written file. 0, or -1 with
 * errno when sealing failed. */
static int release(int fd)
{
    sp_file *f = detach(fd);
    if (!f)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    if (f->buffered && f->dirty && f->owner == getpid() && have_key)
        rc = seal_now(f);
    pthread_mutex_unlock(&f->mu);
    int e = errno;
    file_free(f);
    errno = e;
    return rc;
}

EXPORT int close(int fd)
{
    if (bypass() || !lookup(fd))
        return real.close(fd);
    int rc = release(fd);
    int e = errno;
    int rc2 = real.close(fd);
    if (rc != 0) {
        errno = e;
        return -1;
    }
    return rc2;
}

static int dup_track(int oldfd, int newfd)
{
    sp_file *f;
    if (newfd < 0 || bypass() || !(f = lookup(oldfd)))
        return newfd;
    if (attach(newfd, f) != 0) {
        real.close(newfd);
        errno = ENOMEM;
        return -1;
    }
    return newfd;
}

EXPORT int dup(int fd)
{
    (void)bypass();
    return dup_track(fd, real.dup(fd));
}

static int sp_dup3(int oldfd, int newfd, int flags, bool is_dup2)
{
    if (!bypass() && oldfd != newfd && lookup(newfd))
        (void)release(newfd);   /* dup2 closes newfd first: seal what it held */
    int r = is_dup2 ? real.dup2(oldfd, newfd) : real.dup3(oldfd, newfd, flags);
    if (r < 0 || oldfd == newfd)
        return r;
    return dup_track(oldfd, r);
}
EXPORT int dup2(int oldfd, int newfd) { return sp_dup3(oldfd, newfd, 0, true); }
EXPORT int dup3(int oldfd, int newfd, int flags) { return sp_dup3(oldfd, newfd, flags, false); }

static int sp_fcntl(int fd, int cmd, va_list ap)
{
    void *arg = va_arg(ap, void *);
    (void)bypass();
    int r = real.fcntl(fd, cmd, arg);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        return dup_track(fd, r);
    return r;
}
EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    int r = sp_fcntl(fd, cmd, ap);
    va_end(ap);
    return r;
}
EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    int r = sp_fcntl(fd, cmd, ap);
    va_end(ap);
    return r;
}

/* ---- sync, truncate ------------------------------------------------------------------- */
static int sp_sync(int fd, bool data_only)
{
    sp_file *f = bypass() ? NULL : lookup(fd);
    if (!f)
        return data_only ? real.fdatasync(fd) : real.fsync(fd);
    int rc = 0;
    pthread_mutex_lock(&f->mu);
    if (f->buffered && f->dirty && f->owner == getpid())
        rc = seal_now(f);   /* the durable point: a sealed file of what was written so far */
    pthread_mutex_unlock(&f->mu);
    return rc;
}
EXPORT int fsync(int fd) { return sp_sync(fd, false); }
EXPORT int fdatasync(int fd) { return sp_sync(fd, true); }

static int sp_ftruncate(int fd, off_t len)
{
    sp_file *f = bypass() ? NULL : lookup(fd);
    if (!f)
        return real.ftruncate(fd, len);
    int rc = -1;
    pthread_mutex_lock(&f->mu);
    if (!f->buffered || f->accmode == O_RDONLY)
        errno = EINVAL;
    else if (len < 0)
        errno = EINVAL;
    else if ((uint64_t)len > WRITE_MAX || reserve(f, (size_t)len) != 0)
        errno = EFBIG;
    else {
        if ((size_t)len > f->len)
            memset(f->buf + f->len, 0, (size_t)len - f->len);
        else
            sai_wipe(f->buf + len, f->len - (size_t)len);
        f->len = (size_t)len;
        f->dirty = true;
        rc = 0;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}
EXPORT int ftruncate(int fd, off_t len) { return sp_ftruncate(fd, len); }
EXPORT int ftruncate64(int fd, off64_t len) { return sp_ftruncate(fd, len); }

/* ---- what cannot be served: refuse rather than hand out ciphertext ------------------- */
static void *sp_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (!(flags & MAP_ANONYMOUS) && !bypass() && lookup(fd)) {
        errno = ENODEV;   /* mapped pages would be the ciphertext (or /dev/null) */
        return MAP_FAILED;
    }
    return real.mmap(addr, len, prot, flags, fd, off);
}
EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return sp_mmap(addr, len, prot, flags, fd, off);
}
EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    return sp_mmap(addr, len, prot, flags, fd, off);
}

/* In-kernel copies would move ciphertext; callers fall back to read/write. */
EXPORT ssize_t copy_file_range(int in, off64_t *in_off, int out, off64_t *out_off, size_t n, unsigned flags)
{
    if (!bypass() && (lookup(in) || lookup(out))) {
        errno = EXDEV;
        return -1;
    }
    return real.copy_file_range(in, in_off, out, out_off, n, flags);
}
EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
    if (!bypass() && (lookup(in) || lookup(out))) {
        errno = EINVAL;
        return -1;
    }
    return real.sendfile(out, in, off, n);
}
EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t n) { return sendfile(out, in, off, n); }

/* ---- stdio: fopencookie over the descriptor ------------------------------------------ */
static ssize_t ck_read(void *c, char *buf, size_t n) { return read((int)(intptr_t)c, buf, n); }
static ssize_t ck_write(void *c, const char *buf, size_t n)
{
    ssize_t r = write((int)(intptr_t)c, buf, n);
    return r < 0 ? 0 : r;   /* fopencookie: 0 is the error return of write */
}
static int ck_seek(void *c, off64_t *off, int whence)
{
    off_t r = sp_lseek((int)(intptr_t)c, (off_t)*off, whence);
    if (r < 0)
        return -1;
    *off = r;
    return 0;
}
static int ck_close(void *c) { return close((int)(intptr_t)c); }

static FILE *cookie_file(int fd, const char *mode)
{
    cookie_io_functions_t io = {.read = ck_read, .write = ck_write, .seek = ck_seek, .close = ck_close};
    FILE *fp = fopencookie((void *)(intptr_t)fd, mode, io);
    return fp;
}

static int mode_flags(const char *mode)
{
    int flags;
    switch (mode[0]) {
    case 'r': flags = O_RDONLY; break;
    case 'w': flags = O_WRONLY | O_CREAT | O_TRUNC; break;
    case 'a': flags = O_WRONLY | O_CREAT | O_APPEND; break;
    default: return -1;
    }
    for (const char *m = mode + 1; *m && *m != ','; m++) {
        if (*m == '+')
            flags = (flags & ~O_ACCMODE) | O_RDWR;
        else if (*m == 'e')
            flags |= O_CLOEXEC;
        else if (*m == 'x')
            flags |= O_EXCL;
    }
    return flags;
}

EXPORT FILE *fopen(const char *path, const char *mode)
{
    char abs[PATH_MAX];
    if (bypass() || !abs_path(AT_FDCWD, path, abs) || !under_prefix(abs))
        return real.fopen(path, mode);
    int flags = mode_flags(mode);
    if (flags < 0) {
        errno = EINVAL;
        return NULL;
    }
    int fd = sp_openat(AT_FDCWD, path, flags, 0666);
    if (fd < 0)
        return NULL;
    if (!lookup(fd)) {   /* not a regular file: plain stdio */
        FILE *fp = real.fdopen(fd, mode);
        if (!fp)
            real.close(fd);
        return fp;
    }
    FILE *fp = cookie_file(fd, mode);
    if (!fp) {
        int e = errno;
        close(fd);
        errno = e;
    }
    return fp;
}
EXPORT FILE *fopen64(const char *path, const char *mode) { return fopen(path, mode); }

EXPORT FILE *fdopen(int fd, const char *mode)
{
    if (bypass() || !lookup(fd))
        return real.fdopen(fd, mode);
    return cookie_file(fd, mode);
}
