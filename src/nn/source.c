/*
 * source.c — random-access byte sources behind the data loaders: a plain
 * file read with pread(2) and a borrowed memory buffer. The loaders only
 * ever call src->read_at, so the pipeline can plug in its sealed-file
 * reader instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nn/nn_internal.h"

static int file_read_at(void *ctx, uint64_t off, void *buf, size_t len, sai_error_t *err)
{
    int fd = (int)(intptr_t)ctx;
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return sai_error_set(err, SAI_EIO, "read at offset %llu failed: %s",
                                 (unsigned long long)off, r < 0 ? strerror(errno) : "short read");
        p += r;
        off += (uint64_t)r;
        len -= (size_t)r;
    }
    return 0;
}

int sai_nn_source_file(sai_nn_source_t *src, const char *path, sai_error_t *err)
{
    memset(src, 0, sizeof(*src));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sai_error_set(err, errno == ENOENT ? SAI_ENOTFOUND : SAI_EIO, "%s: %s", path,
                             strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sai_error_set(err, SAI_EIO, "%s: not a regular file", path);
    }
    src->read_at = file_read_at;
    src->ctx = (void *)(intptr_t)fd;
    src->size = (uint64_t)st.st_size;
    src->name = path;
    return 0;
}

void sai_nn_source_file_close(sai_nn_source_t *src)
{
    if (src->read_at == file_read_at)
        close((int)(intptr_t)src->ctx);
    memset(src, 0, sizeof(*src));
}

/* The buffer has no length of its own here: sai_nn__src_read checks every read
 * against src->size before calling read_at. */
static int mem_read_at(void *ctx, uint64_t off, void *buf, size_t len, sai_error_t *err)
{
    (void)err;
    memcpy(buf, (const uint8_t *)ctx + off, len);
    return 0;
}

void sai_nn_source_mem(sai_nn_source_t *src, const void *buf, size_t len)
{
    memset(src, 0, sizeof(*src));
    src->read_at = mem_read_at;
    src->ctx = (void *)(uintptr_t)buf;
    src->size = len;
    src->name = "memory";
}

int sai_nn__src_read(const sai_nn_source_t *src, uint64_t off, void *buf, size_t len, sai_error_t *err)
{
    if (off > src->size || len > src->size - off)
        return sai_error_set(err, SAI_EFORMAT, "%s: read of %zu bytes at %llu is past its end "
                             "(%llu bytes)", src->name ? src->name : "source", len,
                             (unsigned long long)off, (unsigned long long)src->size);
    return src->read_at(src->ctx, off, buf, len, err);
}
