/*
 * util.h — small helpers every module uses: hex/base64url, whole-file I/O
 * with size caps, full reads and writes, atomic replace-on-success writes, a
 * capped growable buffer, a progress line.
 */
#ifndef SECUREAI_UTIL_H
#define SECUREAI_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "secureai/common.h"

/* Lower-case hex. out must hold 2*len+1 bytes. */
void sai_hex_encode(char *out, const uint8_t *in, size_t len);
/* Decodes exactly out_len bytes from a string of 2*out_len hex digits. */
int  sai_hex_decode(uint8_t *out, size_t out_len, const char *hex, sai_error_t *err) SAI_MUST_CHECK;

/* Base64url without padding (JOSE). *out is malloc'ed and NUL-terminated. */
int sai_b64url_encode(char **out, const uint8_t *in, size_t len, sai_error_t *err) SAI_MUST_CHECK;
/* Accepts base64url or standard base64, padded or not; *out malloc'ed. */
int sai_b64_decode(uint8_t **out, size_t *out_len, const char *in, size_t in_len,
                   sai_error_t *err) SAI_MUST_CHECK;

/* Read a whole file (at most max bytes, else SAI_ELIMIT). *buf is malloc'ed
 * with one extra NUL byte after the data. */
int sai_read_file(const char *path, size_t max, uint8_t **buf, size_t *len,
                  sai_error_t *err) SAI_MUST_CHECK;

/* Read a file to end of file, at most max bytes (more: SAI_ELIMIT). For
 * pseudo-files (configfs, sysfs, procfs, Gramine's /dev/attestation) whose
 * st_size is not their length: configfs text attributes stat as 4096 and
 * return a few bytes, binary attributes and Gramine's files stat as 0 and
 * produce their content on read. st_size is a hint for the first buffer at
 * most. *buf malloc'ed with one extra NUL byte after the data. */
int sai_read_pseudo_file(const char *path, size_t max, uint8_t **buf, size_t *len,
                         sai_error_t *err) SAI_MUST_CHECK;

/* write(2) / read(2) until all len bytes moved, retrying EINTR. 0, or -1
 * with errno set (read: a short read at end of file sets errno = EIO).
 * For all-or-nothing transfers only; a loop that wants partial reads
 * (read until EOF, poll-driven non-blocking I/O) keeps its own. */
int sai_write_full(int fd, const void *buf, size_t len) SAI_MUST_CHECK;
int sai_read_full(int fd, void *buf, size_t len) SAI_MUST_CHECK;

/* Write data to path atomically: a temporary file in the same directory,
 * fsync, rename, fsync of the directory. mode e.g. 0600. With excl, fail
 * with SAI_EEXIST when path exists. */
int sai_write_file_atomic(const char *path, const void *data, size_t len,
                          unsigned mode, bool excl, sai_error_t *err) SAI_MUST_CHECK;

/* fsync the directory that contains path (after a rename). */
int sai_fsync_parent(const char *path, sai_error_t *err);

/* A growable byte buffer with a hard cap (curl's dynbuf, OpenSSH's sshbuf),
 * for anything filled from outside. The buffer owns data; once anything was
 * stored, data[len] is a NUL byte, so text can be used as a C string.
 * Growth is geometric and never beyond max bytes of content. Calls return 0,
 * SAI_ELIMIT (would pass max; the buffer is unchanged) or SAI_ENOMEM, and
 * set no message: the caller words its own. Growing leaves stale copies in
 * freed memory, so it is not for secrets. */
typedef struct sai_buf_t {
    uint8_t *data;   /* NULL until the first byte is stored */
    size_t   len;    /* bytes of content */
    size_t   cap;    /* bytes of content that fit without growing */
    size_t   max;    /* the cap on len */
} sai_buf_t;

/* An empty buffer holding at most max bytes (clamped to SIZE_MAX - 1). */
void sai_buf_init(sai_buf_t *b, size_t max);
/* Room for n more bytes after len (data + len is then writable for n bytes;
 * sai_buf_commit them). */
int  sai_buf_reserve(sai_buf_t *b, size_t n) SAI_MUST_CHECK;
/* Count n bytes written at data + len after a reserve as content. */
void sai_buf_commit(sai_buf_t *b, size_t n);
int  sai_buf_append(sai_buf_t *b, const void *p, size_t n) SAI_MUST_CHECK;
/* Append formatted text; SAI_EINVAL when the format fails. */
int  sai_buf_printf(sai_buf_t *b, const char *fmt, ...) SAI_PRINTF(2, 3) SAI_MUST_CHECK;
int  sai_buf_vprintf(sai_buf_t *b, const char *fmt, va_list ap) SAI_PRINTF(2, 0) SAI_MUST_CHECK;
/* Hand the content to the caller (free() it; NUL-terminated; NULL when
 * nothing was ever stored) and leave the buffer empty with the same max. */
uint8_t *sai_buf_take(sai_buf_t *b, size_t *len);
/* Free the content and leave the buffer empty with the same max. */
void sai_buf_free(sai_buf_t *b);

/* Monotonic seconds. */
double sai_now(void);

/* A progress line on stderr, redrawn in place, only when stderr is a TTY. */
typedef struct sai_progress_t {
    const char *label;
    uint64_t    total;      /* 0 when unknown */
    uint64_t    done;
    double      start, last;
    bool        enabled;
} sai_progress_t;

void sai_progress_begin(sai_progress_t *p, const char *label, uint64_t total, bool enabled);
void sai_progress_update(sai_progress_t *p, uint64_t done);
void sai_progress_end(sai_progress_t *p);

#endif
