/*
 * secret.c — CSPRNG, wiping, constant-time compare and locked secret buffers.
 */
#include "secureai/crypto.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int sai_random_bytes(void *buf, size_t len, sai_error_t *err)
{
    /* RAND_bytes takes an int; draw in slices so any size works. */
    uint8_t *p = buf;
    while (len > 0) {
        size_t n = len > (1u << 30) ? (1u << 30) : len;
        if (RAND_bytes(p, (int)n) != 1)
            return sai_error_set(err, SAI_ECRYPTO, "the system random generator failed");
        p += n;
        len -= n;
    }
    return 0;
}

void sai_wipe(void *buf, size_t len)
{
    if (buf != NULL && len > 0)
        OPENSSL_cleanse(buf, len);
}

int sai_ct_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

int sai_secret_new(sai_secret_t **out, size_t len, sai_error_t *err)
{
    *out = NULL;
    if (len == 0)
        return sai_error_set(err, SAI_EINVAL, "a secret cannot be empty");
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t map_len = (len + page - 1) / page * page;
    sai_secret_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory for a secret");
    void *p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        free(s);
        return sai_error_set(err, SAI_ENOMEM, "cannot map %zu bytes for a secret", len);
    }
    /* Keep the pages out of swap and core dumps. mlock can fail under a low
     * RLIMIT_MEMLOCK; the secret is still usable and the caller can see it. */
    s->locked = mlock(p, map_len) == 0;
    (void)madvise(p, map_len, MADV_DONTDUMP);
    s->data = p;
    s->len = len;
    s->map_len = map_len;
    *out = s;
    return 0;
}

void sai_secret_free(sai_secret_t *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s->data, s->map_len);
    if (s->locked)
        munlock(s->data, s->map_len);
    munmap(s->data, s->map_len);
    free(s);
}
