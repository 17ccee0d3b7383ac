/*
 * framework.c — framework mode, the half both sides share and the host's
 * half: what of the Python runtime is measured and how the host resolves it
 * when the spec is loaded (docs/frameworks.md, "Framework mode").
 *
 * The canonical spec of a framework run carries the script's bytes, the
 * interpreter's SHA-256 and version, torch's version and the runtime hash
 *   runtime_sha256 = SHA-256( for each of sai_pipeline__fw_runtime_names:
 *                             name || 0x00 || SHA-256(bytes) )
 * over libsecureai.so and the secureai package's files. The host computes
 * them here from the files it sees; the enclave recomputes them from the
 * files it opens and refuses to run on any difference
 * (enclave_framework.c). The host is trusted for none of it: a wrong value
 * is a different measurement, which the KBS releases no key to.
 */
#include "pipeline/pipeline_internal.h"
#include "pipeline/spec_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secureai/util.h"

extern char **environ;

const char *const sai_pipeline__fw_runtime_names[SAI_FW_RUNTIME_N] = {
    "libsecureai.so", "secureai/__init__.py", "secureai/_lib.py", "secureai/torch.py", "secureai/pipeline.py",
};

int sai_pipeline__fw_runtime_path(size_t i, char *out, size_t cap, sai_error_t *err)
{
#if defined(SAI_FRAMEWORK_LIB) && defined(SAI_FRAMEWORK_PKG)
    int k = i == 0 ? snprintf(out, cap, "%s", SAI_FRAMEWORK_LIB)
                   : snprintf(out, cap, "%s/%s", SAI_FRAMEWORK_PKG, sai_pipeline__fw_runtime_names[i] + 9);
    if (k < 0 || (size_t)k >= cap)
        return sai_error_set(err, SAI_ELIMIT, "runtime path too long");
    return 0;
#else
    (void)i;
    (void)out;
    (void)cap;
    return sai_error_set(err, SAI_EUNSUPP, "framework mode is not built in (no libsecureai.so in this build)");
#endif
}

int sai_pipeline__fw_runtime_hash(uint8_t out[32], const uint8_t *const *bufs, const size_t *lens, sai_error_t *err)
{
    sai_hash_ctx_t *h = NULL;
    int rc = sai_hash_new(&h, SAI_SHA256, err);
    for (size_t i = 0; rc == 0 && i < SAI_FW_RUNTIME_N; i++) {
        uint8_t d[32];
        const char *nm = sai_pipeline__fw_runtime_names[i];
        if ((rc = sai_hash(SAI_SHA256, d, bufs[i], lens[i], err)) == 0 &&
            (rc = sai_hash_update(h, nm, strlen(nm) + 1, err)) == 0)
            rc = sai_hash_update(h, d, 32, err);
    }
    if (rc == 0)
        rc = sai_hash_final(h, out, err);
    sai_hash_free(h);
    return rc;
}

static int hex_dup(char **out, const uint8_t h[32], sai_error_t *err)
{
    if ((*out = malloc(65)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    sai_hex_encode(*out, h, 32);
    return 0;
}

/* Ask the interpreter for its version and torch's (isolated mode: no
 * PYTHON* variables, no user site). */
static int probe_versions(sai_pipeline_framework_t *f, sai_error_t *err)
{
    static const char probe[] = "import sys, torch; print(sys.version.split()[0]); print(torch.__version__)";
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return sai_error_set(err, SAI_EIO, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    char *argv[] = {(char *)SAI_FRAMEWORK_PYTHON, (char *)"-I", (char *)"-c", (char *)probe, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, SAI_FRAMEWORK_PYTHON, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        return sai_error_set(err, SAI_EIO, "%s: %s", SAI_FRAMEWORK_PYTHON, strerror(rc));
    }
    char buf[256];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof buf - 1 && ((k = read(p[0], buf + n, sizeof buf - 1 - n)) > 0 || (k < 0 && errno == EINTR)))
        n += k > 0 ? (size_t)k : 0;
    buf[n] = '\0';
    close(p[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    char *nl = strchr(buf, '\n'), *nl2 = nl ? strchr(nl + 1, '\n') : NULL;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || nl == NULL || nl2 == NULL)
        return sai_error_set(err, SAI_EUNSUPP, "framework pytorch: %s cannot import torch (scripts/install-deps.sh "
                             "check installs python3-torch)", SAI_FRAMEWORK_PYTHON);
    *nl = *nl2 = '\0';
    if ((f->python_version = strdup(buf)) == NULL || (f->torch_version = strdup(nl + 1)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    return 0;
}

int sai_pipeline__framework_resolve(sai_pipeline_spec_t *s, const char *spec_path, sai_error_t *err)
{
    sai_pipeline_framework_t *f = &s->framework;
    char path[4096];
    uint8_t *bufs[SAI_FW_RUNTIME_N] = {0}, *py = NULL, h[32];
    size_t lens[SAI_FW_RUNTIME_N] = {0}, pylen = 0;
    int rc;
    const char *slash = strrchr(spec_path, '/');
    if (f->script_path[0] == '/' || slash == NULL)
        snprintf(path, sizeof path, "%s", f->script_path);
    else
        snprintf(path, sizeof path, "%.*s/%s", (int)(slash - spec_path), spec_path, f->script_path);
    if ((rc = sai_read_file(path, SAI_FRAMEWORK_SCRIPT_MAX, &f->script, &f->script_len, err))) {
        if (rc == SAI_ELIMIT)
            sai_error_set(err, SAI_ELIMIT, "train.script %s: larger than %u bytes (it travels in the measured "
                          "spec)", path, SAI_FRAMEWORK_SCRIPT_MAX);
        return sai_error_prefix(err, "train.script");
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (!sai_pipeline__spec_ident_ok(base))
        return sai_error_set(err, SAI_EINVAL, "train.script: the file name '%s' is not [A-Za-z0-9._-]{1,64}", base);
    if ((f->script_name = strdup(base)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    if ((rc = sai_read_file(SAI_FRAMEWORK_PYTHON, 256u << 20, &py, &pylen, err)) ||
        (rc = sai_hash(SAI_SHA256, h, py, pylen, err)) || (rc = hex_dup(&f->python_sha256, h, err)))
        goto out;
    if ((rc = probe_versions(f, err)))
        goto out;
    for (size_t i = 0; i < SAI_FW_RUNTIME_N; i++) {
        if ((rc = sai_pipeline__fw_runtime_path(i, path, sizeof path, err)) ||
            (rc = sai_read_file(path, 256u << 20, &bufs[i], &lens[i], err))) {
            sai_error_prefix(err, "framework runtime");
            goto out;
        }
    }
    if ((rc = sai_pipeline__fw_runtime_hash(h, (const uint8_t *const *)bufs, lens, err)) == 0)
        rc = hex_dup(&f->runtime_sha256, h, err);
out:
    free(py);
    for (size_t i = 0; i < SAI_FW_RUNTIME_N; i++)
        free(bufs[i]);
    return rc;
}
