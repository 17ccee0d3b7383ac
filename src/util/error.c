/* error.c — sai_error_t helpers (see include/secureai/common.h). */
#include "secureai/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int sai_error_set(sai_error_t *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int sai_error_prefix(sai_error_t *err, const char *fmt, ...)
{
    if (err == NULL)
        return SAI_EINVAL;
    char prefix[SAI_ERROR_MAX];
    char old[SAI_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    /* truncation is fine: the start of the sentence is what matters */
    size_t n = strnlen(prefix, sizeof err->msg - 1);
    memcpy(err->msg, prefix, n);
    if (n + 2 < sizeof err->msg) {
        err->msg[n++] = ':';
        err->msg[n++] = ' ';
        size_t m = strnlen(old, sizeof err->msg - 1 - n);
        memcpy(err->msg + n, old, m);
        n += m;
    }
    err->msg[n] = '\0';
    return err->code;
}

void sai_error_clear(sai_error_t *err)
{
    if (err != NULL) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

const char *sai_strerror(int code)
{
    switch (code) {
    case SAI_OK:        return "success";
    case SAI_EINVAL:    return "invalid argument";
    case SAI_ENOMEM:    return "out of memory";
    case SAI_EIO:       return "I/O error";
    case SAI_EAUTH:     return "authentication failed";
    case SAI_ECRYPTO:   return "cryptographic library error";
    case SAI_EFORMAT:   return "bad format";
    case SAI_ENOTFOUND: return "not found";
    case SAI_EEXIST:    return "already exists";
    case SAI_EPOLICY:   return "refused by policy";
    case SAI_EUNSUPP:   return "not supported";
    case SAI_ENET:      return "network error";
    case SAI_ELIMIT:    return "limit exceeded";
    case SAI_ESTATE:    return "bad state";
    default:            return "unknown error";
    }
}
