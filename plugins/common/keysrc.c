/*
 * keysrc.c — the plugin libraries' key source (keysrc.h): a descriptor
 * named by <PREFIX>_KEY_FD or a key file named by <PREFIX>_KEY_FILE.
 */
#include "keysrc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "secureai/seal.h"

static int load_fd(sai_secret_t **out, const char *var, const char *val, sai_error_t *err)
{
    int ret = SAI_EINVAL, kfd = -1;
    sai_secret_t *s = NULL;
    char *end = NULL;
    errno = 0;
    long fd = strtol(val, &end, 10);
    if (errno != 0 || end == val || *end != '\0' || fd < 0 || fd > INT_MAX) {
        ret = sai_error_set(err, SAI_EINVAL, "%s is not a descriptor number", var);
        goto out;
    }
    kfd = (int)fd;
    if ((ret = sai_secret_new(&s, SAI_SEAL_KEY_LEN, err)) != 0)
        goto out;
    /* Read up to EOF: exactly 32 bytes, not a prefix of something longer. */
    size_t got = 0;
    for (;;) {
        uint8_t extra;
        void *dst = got < SAI_SEAL_KEY_LEN ? (void *)(s->data + got) : (void *)&extra;
        size_t want = got < SAI_SEAL_KEY_LEN ? SAI_SEAL_KEY_LEN - got : 1;
        ssize_t n = read(kfd, dst, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ret = sai_error_set(err, SAI_EIO, "%s=%ld: cannot read the key: errno %d", var, fd, errno);
            goto out;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > SAI_SEAL_KEY_LEN) {
            sai_wipe(&extra, 1);
            break;
        }
    }
    if (got != SAI_SEAL_KEY_LEN) {
        ret = sai_error_set(err, SAI_EFORMAT, "%s=%ld: a key is exactly %d bytes, the descriptor %s",
                            var, fd, SAI_SEAL_KEY_LEN, got < SAI_SEAL_KEY_LEN ? "had fewer" : "had more");
        goto out;
    }
    *out = s;
    s = NULL;
    ret = 0;
out:
    if (kfd >= 0)
        (void)close(kfd);   /* the key is read once; the program cannot read it again */
    sai_secret_free(s);
    return ret;
}

int sai_plugkey_load(sai_secret_t **out, const char *env_prefix, sai_error_t *err)
{
    char fd_var[64], file_var[64];
    if (snprintf(fd_var, sizeof fd_var, "%s_KEY_FD", env_prefix) >= (int)sizeof fd_var ||
        snprintf(file_var, sizeof file_var, "%s_KEY_FILE", env_prefix) >= (int)sizeof file_var)
        return sai_error_set(err, SAI_EINVAL, "key variable prefix too long");
    const char *fdv = getenv(fd_var), *filev = getenv(file_var);
    if (fdv && *fdv && filev && *filev)
        return sai_error_set(err, SAI_EINVAL, "both %s and %s are set: say which key to use", fd_var, file_var);
    if (fdv && *fdv)
        return load_fd(out, fd_var, fdv, err);
    if (filev && *filev) {
        int rc = sai_seal_key_load(out, filev, err);
        return rc == 0 ? 0 : sai_error_prefix(err, "%s", file_var);
    }
    return sai_error_set(err, SAI_EINVAL, "no key: set %s (a descriptor holding the 32-byte key) or %s (a key file); "
                         "a key itself is never taken from the environment", fd_var, file_var);
}
