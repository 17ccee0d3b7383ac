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

/* The expected versions, read from files instead of starting the
 * interpreter (which imports torch: seconds per spec load). They are only the
 * measured expectation: the enclave's interpreter reports sys.version and
 * torch.__version__ after importing torch and is refused on any difference
 * (enclave_framework.c), and the interpreter's bytes are measured anyway.
 *
 * Python: CPython keeps PY_VERSION ("3.11.2"), the first word of sys.version,
 * as a NUL-terminated string in the binary's read-only data. The binary's
 * name (python3 resolves to python3.11) gives major.minor; exactly one string
 * "\0<major.minor>.<micro>[abrc N][+]\0" must be in the bytes. */
static int python_version_from_binary(char **out, const uint8_t *bin, size_t len)
{
    char real[4096], want[32];
    const char *found = NULL;
    size_t found_len = 0;
    if (realpath(SAI_FRAMEWORK_PYTHON, real) == NULL)
        return -1;
    const char *b = strrchr(real, '/') ? strrchr(real, '/') + 1 : real;
    if (strncmp(b, "python", 6) != 0 || b[6] < '0' || b[6] > '9' || strchr(b + 6, '.') == NULL ||
        strspn(b + 6, "0123456789.") != strlen(b + 6) || strlen(b + 6) > 16)
        return -1;
    int wl = snprintf(want, sizeof want, "%s.", b + 6);
    for (size_t i = 1; i + (size_t)wl < len; i++) {
        if (bin[i - 1] != '\0' || memcmp(bin + i, want, (size_t)wl) != 0)
            continue;
        size_t j = i + (size_t)wl, d = j;
        while (j < len && bin[j] >= '0' && bin[j] <= '9')
            j++;
        if (j == d)
            continue;
        if (j < len && (bin[j] == 'a' || bin[j] == 'b' || (bin[j] == 'r' && j + 1 < len && bin[j + 1] == 'c'))) {
            size_t s = j += bin[j] == 'r' ? 2 : 1;
            while (j < len && bin[j] >= '0' && bin[j] <= '9')
                j++;
            if (j == s)
                continue;
        }
        if (j < len && bin[j] == '+')
            j++;
        if (j >= len || bin[j] != '\0' || j - i > 31)
            continue;
        if (found != NULL && (found_len != j - i || memcmp(found, bin + i, found_len) != 0))
            return -1; /* two different candidates: ask the interpreter */
        found = (const char *)bin + i;
        found_len = j - i;
    }
    if (found == NULL)
        return -1;
    return (*out = strndup(found, found_len)) == NULL ? -1 : 0;
}

/* torch: `__version__ = '1.13.0a0'` in torch/version.py (generated by its
 * build; the dist-info/egg-info Version may carry a local part that
 * torch.__version__ does not, e.g. "+gitunknown"). The directories are those
 * of the isolated interpreter's sys.path in order: a torch under /usr/local
 * shadows Debian's. */
static int torch_version_from_file(char **out, const char *pyver)
{
    char dirs[2][256], path[512];
    const char *dot = strchr(pyver, '.'), *dot2 = dot ? strchr(dot + 1, '.') : NULL;
    if (dot2 == NULL)
        return -1;
    snprintf(dirs[0], sizeof dirs[0], "/usr/local/lib/python%.*s/dist-packages/torch", (int)(dot2 - pyver), pyver);
    snprintf(dirs[1], sizeof dirs[1], "/usr/lib/python3/dist-packages/torch");
    for (size_t d = 0; d < 2; d++) {
        if (access(dirs[d], F_OK) != 0)
            continue;
        uint8_t *buf = NULL;
        size_t n = 0;
        sai_error_t e;
        snprintf(path, sizeof path, "%s/version.py", dirs[d]);
        if (sai_read_file(path, 64u << 10, &buf, &n, &e) != 0)
            return -1;
        int rc = -1;
        for (size_t i = 0; rc != 0 && i < n; i++) {
            if ((i > 0 && buf[i - 1] != '\n') || n - i < 11 || memcmp(buf + i, "__version__", 11) != 0)
                continue;
            size_t j = i + 11;
            while (j < n && buf[j] == ' ')
                j++;
            if (j >= n || buf[j++] != '=')
                continue;
            while (j < n && buf[j] == ' ')
                j++;
            if (j >= n || (buf[j] != '\'' && buf[j] != '"'))
                continue;
            uint8_t q = buf[j++];
            size_t s = j;
            while (j < n && buf[j] != q && buf[j] != '\n' && j - s < 64)
                j++;
            if (j < n && buf[j] == q && j > s && (*out = strndup((const char *)buf + s, j - s)) != NULL)
                rc = 0;
        }
        free(buf);
        return rc; /* the first torch on the path is the one imported */
    }
    return -1;
}

/* Ask the interpreter for its version and torch's (isolated mode: no
 * PYTHON* variables, no user site): the fallback when the files above do not
 * answer (a python3 that is not a pythonX.Y binary, a torch without
 * version.py). */
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
    if (python_version_from_binary(&f->python_version, py, pylen) != 0 ||
        torch_version_from_file(&f->torch_version, f->python_version) != 0) {
        free(f->python_version);
        free(f->torch_version);
        f->python_version = f->torch_version = NULL;
        if ((rc = probe_versions(f, err)))
            goto out;
    }
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
