/*
 * file.c — whole-file reads with a size cap, and atomic writes: data goes to
 * a temporary file next to the target and is renamed over it only once it is
 * complete and on disk, so a crash or an error never leaves a half-written
 * output under the final name.
 */
#include "secureai/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int sai_read_file(const char *path, size_t max, uint8_t **buf, size_t *len, sai_error_t *err)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sai_error_set(err, errno == ENOENT ? SAI_ENOTFOUND : SAI_EIO,
                             "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sai_error_set(err, SAI_EIO, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return sai_error_set(err, SAI_ELIMIT, "%s is %lld bytes, more than the %zu allowed",
                             path, (long long)st.st_size, max);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *p = malloc(size + 1);
    if (p == NULL) {
        close(fd);
        return sai_error_set(err, SAI_ENOMEM, "out of memory reading %s", path);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, p + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(p);
            close(fd);
            return sai_error_set(err, SAI_EIO, "cannot read %s: %s", path,
                                 n == 0 ? "file shrank while reading" : strerror(errno));
        }
        got += (size_t)n;
    }
    close(fd);
    p[size] = '\0';
    *buf = p;
    *len = size;
    return 0;
}

int sai_read_pseudo_file(const char *path, size_t max, uint8_t **buf, size_t *len,
                         sai_error_t *err)
{
    sai_buf_t b;
    struct stat st;
    int rc = 0;
    *buf = NULL;
    *len = 0;
    sai_buf_init(&b, max);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sai_error_set(err, errno == ENOENT ? SAI_ENOTFOUND : SAI_EIO,
                             "cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        rc = sai_error_set(err, SAI_EIO, "%s is not a file", path);
        goto out;
    }
    /* st_size only sizes the first read; the content ends where read() says */
    size_t chunk = st.st_size > 0 && (uint64_t)st.st_size < max ? (size_t)st.st_size + 1 : 4096;
    for (;;) {
        if (b.len == max) {
            /* full: one more byte means the file is larger than allowed */
            uint8_t probe;
            ssize_t n = read(fd, &probe, 1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n > 0)
                rc = sai_error_set(err, SAI_ELIMIT, "%s is more than the %zu bytes allowed", path, max);
            else if (n < 0)
                rc = sai_error_set(err, SAI_EIO, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        size_t want = chunk < max - b.len ? chunk : max - b.len;
        if (sai_buf_reserve(&b, want) != 0) {
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory reading %s", path);
            break;
        }
        ssize_t n = read(fd, b.data + b.len, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = sai_error_set(err, SAI_EIO, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        sai_buf_commit(&b, (size_t)n);
        chunk = 4096;
    }
out:
    close(fd);
    if (rc != 0) {
        if (b.data != NULL)
            explicit_bzero(b.data, b.len);   /* a key file read half-way */
        sai_buf_free(&b);
        return rc;
    }
    if (b.data == NULL && sai_buf_reserve(&b, 0) != 0)
        return sai_error_set(err, SAI_ENOMEM, "out of memory reading %s", path);
    b.data[b.len] = '\0';
    *buf = sai_buf_take(&b, len);
    return 0;
}

int sai_fsync_parent(const char *path, sai_error_t *err)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return sai_error_set(err, SAI_EIO, "cannot open directory of %s: %s", path, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0)
        return sai_error_set(err, SAI_EIO, "cannot sync directory of %s: %s", path, strerror(errno));
    return 0;
}

int sai_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode,
                          bool excl, sai_error_t *err)
{
    if (excl && access(path, F_OK) == 0)
        return sai_error_set(err, SAI_EEXIST, "%s already exists; refusing to overwrite", path);
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (tmp == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    snprintf(tmp, plen + 32, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return sai_error_set(err, SAI_EIO, "cannot create a file next to %s: %s", path, strerror(e));
    }
    int ret = 0;
    if (fchmod(fd, (mode_t)mode) != 0) {
        ret = sai_error_set(err, SAI_EIO, "cannot set mode on %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (sai_write_full(fd, data, len) != 0) {
        ret = sai_error_set(err, SAI_EIO, "cannot write %s: %s", path, strerror(errno));
        goto fail;
    }
    if (fsync(fd) != 0) {
        ret = sai_error_set(err, SAI_EIO, "cannot sync %s: %s", path, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    if (excl) {
        /* link() fails if path appeared meanwhile: no silent overwrite */
        if (link(tmp, path) != 0) {
            ret = sai_error_set(err, errno == EEXIST ? SAI_EEXIST : SAI_EIO,
                                "cannot create %s: %s", path, strerror(errno));
            goto fail;
        }
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        ret = sai_error_set(err, SAI_EIO, "cannot rename onto %s: %s", path, strerror(errno));
        goto fail;
    }
    free(tmp);
    return sai_fsync_parent(path, err);
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return ret;
}

double sai_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One loop for both directions: all len bytes, or -1 with errno (EIO when
 * the other end is done before len bytes moved). */
static int full_io(int fd, uint8_t *p, size_t len, bool wr)
{
    while (len > 0) {
        ssize_t n = wr ? write(fd, p, len) : read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int sai_write_full(int fd, const void *buf, size_t len)
{
    return full_io(fd, (uint8_t *)(uintptr_t)buf, len, true);   /* write(2) only reads it */
}

int sai_read_full(int fd, void *buf, size_t len)
{
    return full_io(fd, buf, len, false);
}
