/*
 * common.h — error reporting shared by every SecureAI module.
 *
 * Convention (ARCHITECTURE.md): a function returns 0 or a negative SAI_E*
 * code and, on failure, fills a caller-owned sai_error_t with one human
 * sentence. Nothing outside src/cli/ calls exit(). A NULL sai_error_t is
 * allowed everywhere and simply drops the sentence.
 */
#ifndef SECUREAI_COMMON_H
#define SECUREAI_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define SAI_OK          0
#define SAI_EINVAL    (-1)  /* bad argument or malformed input */
#define SAI_ENOMEM    (-2)  /* allocation failed */
#define SAI_EIO       (-3)  /* read/write/open failed */
#define SAI_EAUTH     (-4)  /* authentication failed: tag, MAC, signature */
#define SAI_ECRYPTO   (-5)  /* the crypto library failed unexpectedly */
#define SAI_EFORMAT   (-6)  /* well-formed bytes, wrong magic/version/layout */
#define SAI_ENOTFOUND (-7)  /* a named thing does not exist */
#define SAI_EEXIST    (-8)  /* refusing to overwrite */
#define SAI_EPOLICY   (-9)  /* refused by a policy rule */
#define SAI_EUNSUPP  (-10)  /* not available on this platform / build */
#define SAI_ENET     (-11)  /* network or peer failure */
#define SAI_ELIMIT   (-12)  /* a size, rate or count limit was hit */
#define SAI_ESTATE   (-13)  /* call out of order */

#define SAI_ERROR_MAX 512

typedef struct sai_error_t {
    int  code;
    char msg[SAI_ERROR_MAX];
} sai_error_t;

#if defined(__GNUC__)
#define SAI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define SAI_MUST_CHECK   __attribute__((warn_unused_result))
#else
#define SAI_PRINTF(a, b)
#define SAI_MUST_CHECK
#endif

/* Fill err (if not NULL) and return code, so callers can write
 *   return sai_error_set(err, SAI_EINVAL, "chunk size %u is too small", n); */
int sai_error_set(sai_error_t *err, int code, const char *fmt, ...) SAI_PRINTF(3, 4);

/* Prefix an existing message: "<prefix>: <old message>". Returns err->code. */
int sai_error_prefix(sai_error_t *err, const char *fmt, ...) SAI_PRINTF(2, 3);

/* A short fixed name for a code ("authentication failed", ...). */
const char *sai_strerror(int code);

/* Reset to "no error". */
void sai_error_clear(sai_error_t *err);

#endif
