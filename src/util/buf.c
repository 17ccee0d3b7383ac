/*
 * buf.c — sai_buf_t, the capped growable byte buffer (util.h). It replaces the
 * hand-rolled realloc loops that each re-derived growth, overflow and cap
 * checks; every buffer filled from outside gets a hard cap this way (curl's
 * dynbuf, OpenSSH's sshbuf). Callers own the messages: these functions only
 * return SAI_ELIMIT / SAI_ENOMEM / SAI_EINVAL.
 */
#include "secureai/util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define BUF_FIRST_CAP 256

void sai_buf_init(sai_buf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max < SIZE_MAX ? max : SIZE_MAX - 1;   /* room for the NUL */
}

int sai_buf_reserve(sai_buf_t *b, size_t n)
{
    if (b->data != NULL && n <= b->cap - b->len)
        return 0;
    if (n > b->max - b->len)
        return SAI_ELIMIT;
    size_t need = b->len + n;
    size_t nc = b->cap ? b->cap : BUF_FIRST_CAP;
    while (nc < need)
        nc = nc > b->max / 2 ? b->max : nc * 2;
    if (nc > b->max)
        nc = b->max;
    uint8_t *p = realloc(b->data, nc + 1);
    if (p == NULL)
        return SAI_ENOMEM;
    p[b->len] = '\0';
    b->data = p;
    b->cap = nc;
    return 0;
}

void sai_buf_commit(sai_buf_t *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

int sai_buf_append(sai_buf_t *b, const void *p, size_t n)
{
    int rc = sai_buf_reserve(b, n);
    if (rc != 0)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    sai_buf_commit(b, n);
    return 0;
}

int sai_buf_printf(sai_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sai_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int sai_buf_vprintf(sai_buf_t *b, const char *fmt, va_list ap)
{
    for (;;) {
        size_t room = b->data != NULL ? b->cap - b->len + 1 : 0;   /* + the NUL's byte */
        va_list aq;
        va_copy(aq, ap);   /* a second attempt after growing needs the arguments again */
        int n = vsnprintf(room ? (char *)b->data + b->len : NULL, room, fmt, aq);
        va_end(aq);
        if (n < 0)
            return SAI_EINVAL;
        if ((size_t)n < room) {
            b->len += (size_t)n;   /* vsnprintf wrote the NUL */
            return 0;
        }
        int rc = sai_buf_reserve(b, (size_t)n);
        if (rc != 0) {
            if (b->data != NULL)
                b->data[b->len] = '\0';   /* undo the cut-off attempt */
            return rc;
        }
    }
}

uint8_t *sai_buf_take(sai_buf_t *b, size_t *len)
{
    uint8_t *p = b->data;
    if (len != NULL)
        *len = b->len;
    sai_buf_init(b, b->max);
    return p;
}

void sai_buf_free(sai_buf_t *b)
{
    free(b->data);
    sai_buf_init(b, b->max);
}
