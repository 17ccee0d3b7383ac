/*
 * util.h — small helpers every module uses: hex/base64url, whole-file I/O
 * with size caps, atomic replace-on-success writes, a progress line.
 */
#ifndef SECUREAI_UTIL_H
#define SECUREAI_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "secureai/common.h"

/* Lower-case hex. out must hold 2*len+1 bytes. */
void sai_hex_encode(char *out, const uint8_t *in, size_t len);
/* Decodes exactly out_len bytes from a string of 2*out_len hex digits. */
int  sai_hex_decode(uint8_t *out, size_t out_len, const char *hex, sai_error *err) SAI_MUST_CHECK;

/* Base64url without padding (JOSE). *out is malloc'ed and NUL-terminated. */
int sai_b64url_encode(char **out, const uint8_t *in, size_t len, sai_error *err) SAI_MUST_CHECK;
/* Accepts base64url or standard base64, padded or not; *out malloc'ed. */
int sai_b64_decode(uint8_t **out, size_t *out_len, const char *in, size_t in_len,
                   sai_error *err) SAI_MUST_CHECK;

/* Read a whole file (at most max bytes, else SAI_ELIMIT). *buf is malloc'ed
 * with one extra NUL byte after the data. */
int sai_read_file(const char *path, size_t max, uint8_t **buf, size_t *len,
                  sai_error *err) SAI_MUST_CHECK;

/* Write data to path atomically: a temporary file in the same directory,
 * fsync, rename, fsync of the directory. mode e.g. 0600. With excl, fail
 * with SAI_EEXIST when path exists. */
/* write(2) / read(2) until all len bytes moved, retrying EINTR. 0, or -1
 * with errno set (read: a short read at end of file sets errno = EIO). */
int sai_write_full(int fd, const void *buf, size_t len) SAI_MUST_CHECK;
int sai_read_full(int fd, void *buf, size_t len) SAI_MUST_CHECK;

int sai_write_file_atomic(const char *path, const void *data, size_t len,
                          unsigned mode, bool excl, sai_error *err) SAI_MUST_CHECK;

/* fsync the directory that contains path (after a rename). */
int sai_fsync_parent(const char *path, sai_error *err);

/* Monotonic seconds. */
double sai_now(void);

/* A progress line on stderr, redrawn in place, only when stderr is a TTY. */
typedef struct sai_progress {
    const char *label;
    uint64_t    total;      /* 0 when unknown */
    uint64_t    done;
    double      start, last;
    bool        enabled;
} sai_progress;

void sai_progress_begin(sai_progress *p, const char *label, uint64_t total, bool enabled);
void sai_progress_update(sai_progress *p, uint64_t done);
void sai_progress_end(sai_progress *p);

#endif
