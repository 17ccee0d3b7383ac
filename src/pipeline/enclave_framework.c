/*
 * enclave_framework.c — framework mode inside the enclave: the user's
 * PyTorch script runs in a child interpreter of the enclave process, under
 * the enclave's own sandbox, and sees the data only through the secureai
 * package (docs/frameworks.md, "Framework mode").
 *
 *   1. Before the enclave hardens itself (it must fork and exec), and before
 *      any key exists: open the interpreter (SAI_FRAMEWORK_PYTHON) and hash
 *      the bytes it will execute; copy libsecureai.so into a sealed memfd and
 *      read the package's files, hash them as the runtime; both must equal
 *      the measured spec. Fork; the child keeps only a stream socket (fd 3)
 *      and the library's memfd (fd 4), dies with the enclave
 *      (PDEATHSIG), and execs the interpreter from the descriptor that was
 *      hashed, isolated (-I), on the bootstrap below (part of the image).
 *   2. The bootstrap reads the package's sources and the script from the
 *      socket (the bytes hashed here, not the files), imports torch, the
 *      package and the script's own imports, then installs the enclave's
 *      seccomp sandbox on itself (sai_sandbox_harden, the same allow-list)
 *      plus the no-network filter, and reports its versions and sandbox:
 *      the enclave refuses versions that are not the measured ones.
 *   3. After the keys: the splits are decoded here (the engine's loaders,
 *      so every format of the spec works) and handed over the socket as
 *      pixels and labels; the script runs; what it saves through
 *      secureai.torch.save comes back as bytes and is sealed by the caller
 *      under the model key; its reported metrics go into the statement.
 *
 * Frames both ways: u32be type || u32be length || payload.
 */
#include "pipeline/pipeline_internal.h"
#include "pipeline/spec_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secureai/util.h"

enum {
    FW_SETUP = 1, FW_SCRIPT, FW_READY, FW_DATA, FW_PIXELS, FW_LABELS, FW_DATA_END,
    FW_PROGRESS, FW_MODEL, FW_MODEL_END, FW_METRICS, FW_ERROR, FW_END,
};
#define FW_FRAME_MAX   (1u << 20)          /* one frame from the child */
#define FW_MODEL_MAX   (512ull << 20)      /* what the script may save */
#define FW_READY_WAIT_MS (300 * 1000)      /* importing torch on a busy machine */

/* The interpreter's first code (measured with the image): frames, the
 * package from the bytes the enclave hashed, then secureai.pipeline. */
static const char bootstrap[] =
    "import json, socket, struct, sys, importlib.abc, importlib.util\n"
    "s = socket.socket(fileno=3)\n"
    "def rx(n):\n"
    "    b = bytearray(n); v = memoryview(b); k = 0\n"
    "    while k < n:\n"
    "        r = s.recv_into(v[k:])\n"
    "        if r == 0: raise SystemExit(3)\n"
    "        k += r\n"
    "    return b\n"
    "def frame():\n"
    "    t, n = struct.unpack('>II', rx(8)); return t, rx(n)\n"
    "t, setup = frame(); setup = json.loads(setup)\n"
    "t, script = frame()\n"
    "SRC = setup['sources']\n"
    "class F(importlib.abc.MetaPathFinder, importlib.abc.Loader):\n"
    "    def find_spec(self, name, path, target=None):\n"
    "        if name in SRC: return importlib.util.spec_from_loader(name, self, is_package=name == 'secureai')\n"
    "    def create_module(self, spec): return None\n"
    "    def exec_module(self, m):\n"
    "        exec(compile(SRC[m.__name__], '<secureai>/' + m.__name__, 'exec'), m.__dict__)\n"
    "sys.meta_path.insert(0, F())\n"
    "import secureai.pipeline\n"
    "secureai.pipeline._main(s, setup, bytes(script))\n";

static int send_frame(int fd, uint32_t type, const void *d, size_t n, sai_error_t *err)
{
    uint8_t h[8];
    for (int i = 0; i < 4; i++) {
        h[i] = (uint8_t)(type >> (24 - 8 * i));
        h[4 + i] = (uint8_t)((uint32_t)n >> (24 - 8 * i));
    }
    if (sai_write_full(fd, h, 8) != 0 || (n && sai_write_full(fd, d, n) != 0))
        return sai_error_set(err, SAI_EIO, "framework: the interpreter is gone (%s)", strerror(errno));
    return 0;
}

static int read_full(int fd, void *buf, size_t n, int timeout_ms)
{
    uint8_t *p = buf;
    while (n > 0) {
        if (timeout_ms >= 0) {
            struct pollfd pf = {fd, POLLIN, 0};
            int k = poll(&pf, 1, timeout_ms);
            if (k == 0)
                return -2;
            if (k < 0 && errno != EINTR)
                return -1;
            if (k < 0)
                continue;
        }
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* One frame from the child; *d malloc'ed with a NUL after it. */
static int recv_frame(int fd, uint32_t *type, uint8_t **d, size_t *n, int timeout_ms, sai_error_t *err)
{
    uint8_t h[8];
    *d = NULL;
    int k = read_full(fd, h, 8, timeout_ms);
    if (k == -2)
        return sai_error_set(err, SAI_EIO, "framework: the interpreter did not answer in %d s", timeout_ms / 1000);
    if (k != 0)
        return sai_error_set(err, SAI_EIO, "framework: the interpreter exited before it finished (see the "
                             "platform log for its traceback)");
    *type = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    *n = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 | h[7];
    if (*n > FW_FRAME_MAX)
        return sai_error_set(err, SAI_EFORMAT, "framework: a frame of %zu bytes from the interpreter", *n);
    if ((*d = malloc(*n + 1)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (read_full(fd, *d, *n, timeout_ms) != 0) {
        free(*d);
        *d = NULL;
        return sai_error_set(err, SAI_EIO, "framework: the interpreter's frame was cut short");
    }
    (*d)[*n] = 0;
    return 0;
}

static int read_fd(int fd, const char *what, uint8_t **out, size_t *len, sai_error_t *err)
{
    sai_buf_t b;
    sai_buf_init(&b, 256u << 20);
    int rc = 0;
    for (;;) {
        if ((rc = sai_buf_reserve(&b, 1 << 16)) != 0) {
            rc = sai_error_set(err, rc, "%s: too large", what);
            break;
        }
        ssize_t k = read(fd, b.data + b.len, b.cap - b.len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = sai_error_set(err, SAI_EIO, "%s: %s", what, strerror(errno));
            break;
        }
        if (k == 0)
            break;
        sai_buf_commit(&b, (size_t)k);
    }
    if (rc == 0)
        *out = sai_buf_take(&b, len);
    sai_buf_free(&b);
    return rc;
}

static int hex_matches(const uint8_t h[32], const char *want)
{
    uint8_t w[32];
    return want != NULL && sai_hex_decode(w, 32, want, NULL) == 0 && sai_ct_equal(h, w, 32);
}

/* The SETUP frame: threads, the script's name and arguments, the measured
 * spec, and the package's sources (the hashed bytes). */
static int setup_json(char **out, const sai_pipeline_spec_t *s, const char *canon, size_t canon_len, int threads,
                      uint8_t *const *bufs, const size_t *lens, sai_error_t *err)
{
    cJSON *o = cJSON_CreateObject(), *a, *src;
    char *spec = strndup(canon, canon_len);
    if (o == NULL || spec == NULL) {
        cJSON_Delete(o);
        free(spec);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    cJSON_AddNumberToObject(o, "threads", threads);
    cJSON_AddStringToObject(o, "script_name", s->framework.script_name);
    a = cJSON_AddArrayToObject(o, "args");
    for (size_t i = 0; a && i < s->framework.nargs; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(s->framework.args[i]));
    cJSON_AddStringToObject(o, "spec", spec);
    free(spec);
    src = cJSON_AddObjectToObject(o, "sources");
    for (size_t i = 1; src && i < SAI_FW_RUNTIME_N; i++) {
        /* "secureai/torch.py" -> module "secureai.torch"; __init__ is the package */
        char mod[64];
        const char *nm = sai_pipeline__fw_runtime_names[i] + 9;
        size_t k = strlen(nm) - 3;
        if (strncmp(nm, "__init__", 8) == 0)
            snprintf(mod, sizeof mod, "secureai");
        else
            snprintf(mod, sizeof mod, "secureai.%.*s", (int)k, nm);
        char *txt = strndup((const char *)bufs[i], lens[i]);
        if (txt == NULL || strlen(txt) != lens[i]) {
            free(txt);
            cJSON_Delete(o);
            return sai_error_set(err, SAI_EFORMAT, "framework runtime: %s is not text", nm);
        }
        cJSON_AddStringToObject(src, mod, txt);
        free(txt);
    }
    *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return *out ? 0 : sai_error_set(err, SAI_ENOMEM, "out of memory");
}

/* The child's environment, built before fork (the enclave may already run
 * threads, so the child does nothing but move descriptors and exec): the
 * enclave's own OpenBLAS core-type/locale settings, the run's thread count
 * for OpenMP and OpenBLAS, and the fixed variables the package reads; -I
 * keeps PYTHON* out anyway. The enclave's own OPENBLAS_NUM_THREADS (1: the
 * engine threads itself) is not passed on: torch calls OpenBLAS from its
 * own pool, and a single-threaded BLAS made a script's epoch 1.35x a plain
 * python3 run's (bench/fw_resnet8_fmnist.sh, quiet machine). */
typedef struct child_env {
    char  kv[5][128];
    char *envp[10];
} child_env;

static void child_env_build(child_env *ce, int threads)
{
    static const char *const keep[] = {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LC_ALL"};
    int ne = 0;
    for (size_t i = 0; i < 3; i++) {
        const char *v = getenv(keep[i]);
        if (v != NULL && snprintf(ce->kv[i], sizeof ce->kv[i], "%s=%s", keep[i], v) < (int)sizeof ce->kv[i])
            ce->envp[ne++] = ce->kv[i];
    }
    snprintf(ce->kv[3], sizeof ce->kv[3], "OMP_NUM_THREADS=%d", threads > 0 ? threads : 2);
    ce->envp[ne++] = ce->kv[3];
    snprintf(ce->kv[4], sizeof ce->kv[4], "OPENBLAS_NUM_THREADS=%d", threads > 0 ? threads : 2);
    ce->envp[ne++] = ce->kv[4];
    ce->envp[ne++] = (char *)"SECUREAI_LIB=/proc/self/fd/4";
    ce->envp[ne++] = (char *)"SECUREAI_PIPELINE_FD=3";
    ce->envp[ne] = NULL;
}

static void child_exec(int sock, int libfd, int pyfd, child_env *ce) __attribute__((noreturn));
static void child_exec(int sock, int libfd, int pyfd, child_env *ce)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        _exit(126);
    int s = fcntl(sock, F_DUPFD, 10), l = fcntl(libfd, F_DUPFD, 10), p = fcntl(pyfd, F_DUPFD, 10);
    if (s < 0 || l < 0 || p < 0 || dup2(s, 3) != 3 || dup2(l, 4) != 4 || dup2(p, 5) != 5)
        _exit(126);
    (void)close_range(6, ~0u, 0);
    if (fcntl(5, F_SETFD, FD_CLOEXEC) != 0)
        _exit(126);
    char *argv[] = {(char *)SAI_FRAMEWORK_PYTHON, (char *)"-I", (char *)"-B", (char *)"-c", (char *)bootstrap, NULL};
    execveat(5, "", argv, ce->envp, AT_EMPTY_PATH);
    _exit(127);
}

int sai_pipeline__fw_start(sai_fw_t *fw, const sai_pipeline_spec_t *s, const char *canon, size_t canon_len,
                           int threads, sai_error_t *err)
{
    const sai_pipeline_framework_t *f = &s->framework;
    uint8_t *bufs[SAI_FW_RUNTIME_N] = {0}, *py = NULL, *d = NULL, h[32];
    size_t lens[SAI_FW_RUNTIME_N] = {0}, pylen = 0, n = 0;
    int pyfd = -1, libfd = -1, sv[2] = {-1, -1}, rc;
    char *setup = NULL, path[4096];
    cJSON *ready = NULL;
    fw->sock = -1;
    fw->pid = -1;
    fw->sandbox[0] = '\0';

    /* the interpreter: the descriptor that is hashed is the one executed */
    if ((pyfd = open(SAI_FRAMEWORK_PYTHON, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = sai_error_set(err, SAI_ENOTFOUND, "framework: %s: %s", SAI_FRAMEWORK_PYTHON, strerror(errno));
        goto out;
    }
    if ((rc = read_fd(pyfd, SAI_FRAMEWORK_PYTHON, &py, &pylen, err)) || (rc = sai_hash(SAI_SHA256, h, py, pylen, err)))
        goto out;
    if (!hex_matches(h, f->python_sha256)) {
        rc = sai_error_set(err, SAI_EAUTH, "framework: %s is not the interpreter the spec measured (its SHA-256 "
                           "differs from train.python.sha256)", SAI_FRAMEWORK_PYTHON);
        goto out;
    }
    /* the runtime: the library into a sealed memfd (what is hashed is what
     * is mapped), the package's files as bytes handed over */
    for (size_t i = 0; i < SAI_FW_RUNTIME_N; i++) {
        int fd;
        if ((rc = sai_pipeline__fw_runtime_path(i, path, sizeof path, err)))
            goto out;
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
            rc = sai_error_set(err, SAI_ENOTFOUND, "framework runtime %s: %s", path, strerror(errno));
            goto out;
        }
        rc = read_fd(fd, path, &bufs[i], &lens[i], err);
        close(fd);
        if (rc)
            goto out;
    }
    if ((rc = sai_pipeline__fw_runtime_hash(h, (const uint8_t *const *)bufs, lens, err)))
        goto out;
    if (!hex_matches(h, f->runtime_sha256)) {
        rc = sai_error_set(err, SAI_EAUTH, "framework: libsecureai.so or the secureai package is not the runtime "
                           "the spec measured (train.runtime_sha256)");
        goto out;
    }
    if ((libfd = memfd_create("libsecureai.so", MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0 ||
        sai_write_full(libfd, bufs[0], lens[0]) != 0 ||
        fcntl(libfd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        rc = sai_error_set(err, SAI_EIO, "framework: library memfd: %s", strerror(errno));
        goto out;
    }
    if ((rc = setup_json(&setup, s, canon, canon_len, threads, bufs, lens, err)))
        goto out;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        rc = sai_error_set(err, SAI_EIO, "framework: socketpair: %s", strerror(errno));
        goto out;
    }
    child_env ce;
    child_env_build(&ce, threads);
    pid_t pid = fork();
    if (pid < 0) {
        rc = sai_error_set(err, SAI_EIO, "framework: fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0)
        child_exec(sv[1], libfd, pyfd, &ce);
    fw->pid = pid;
    fw->sock = sv[0];
    sv[0] = -1;
    if ((rc = send_frame(fw->sock, FW_SETUP, setup, strlen(setup), err)) ||
        (rc = send_frame(fw->sock, FW_SCRIPT, f->script, f->script_len, err)))
        goto out;
    uint32_t type = 0;
    if ((rc = recv_frame(fw->sock, &type, &d, &n, FW_READY_WAIT_MS, err)))
        goto out;
    if (type == FW_ERROR) {
        rc = sai_error_set(err, SAI_ESTATE, "framework: the interpreter could not start: %.300s", (char *)d);
        goto out;
    }
    ready = type == FW_READY ? cJSON_ParseWithLength((const char *)d, n) : NULL;
    cJSON *pv = cJSON_GetObjectItemCaseSensitive(ready, "python"), *tv = cJSON_GetObjectItemCaseSensitive(ready, "torch");
    cJSON *sb = cJSON_GetObjectItemCaseSensitive(ready, "sandbox");
    if (!cJSON_IsString(pv) || !cJSON_IsString(tv) || !cJSON_IsObject(sb)) {
        rc = sai_error_set(err, SAI_EFORMAT, "framework: the interpreter's READY is malformed");
        goto out;
    }
    if (strcmp(pv->valuestring, f->python_version) != 0 || strcmp(tv->valuestring, f->torch_version) != 0) {
        rc = sai_error_set(err, SAI_EAUTH, "framework: the interpreter runs Python %.32s with torch %.32s, the spec "
                           "measured Python %s with torch %s", pv->valuestring, tv->valuestring, f->python_version,
                           f->torch_version);
        goto out;
    }
    static const char *const need[] = {"dumpable_off", "core_off", "no_new_privs", "seccomp", "no_network"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sb, need[i]))) {
            rc = sai_error_set(err, SAI_ESTATE, "framework: the interpreter's sandbox lacks %s", need[i]);
            goto out;
        }
    char *sbt = cJSON_PrintUnformatted(sb);
    snprintf(fw->sandbox, sizeof fw->sandbox, "%s", sbt ? sbt : "{}");
    free(sbt);
    rc = 0;
out:
    cJSON_Delete(ready);
    free(d);
    free(setup);
    free(py);
    for (size_t i = 0; i < SAI_FW_RUNTIME_N; i++)
        free(bufs[i]);
    if (pyfd >= 0)
        close(pyfd);
    if (libfd >= 0)
        close(libfd);
    for (int i = 0; i < 2; i++)
        if (sv[i] >= 0)
            close(sv[i]);
    if (rc)
        sai_pipeline__fw_stop(fw);
    return rc;
}

static int send_split(sai_fw_t *fw, const char *name, const sai_nn_dataset_t *ds, sai_error_t *err)
{
    char hdr[400];
    snprintf(hdr, sizeof hdr,
             "{\"split\":\"%s\",\"n\":%d,\"c\":%d,\"h\":%d,\"w\":%d,\"classes\":%d,\"kind\":\"%s\","
             "\"mean\":[%.8g,%.8g,%.8g],\"std\":[%.8g,%.8g,%.8g]}",
             name, ds->n, ds->c, ds->h, ds->w, ds->classes, ds->kind, ds->mean[0], ds->mean[1], ds->mean[2],
             ds->std[0], ds->std[1], ds->std[2]);
    int rc = send_frame(fw->sock, FW_DATA, hdr, strlen(hdr), err);
    size_t total = (size_t)ds->n * (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
    for (size_t off = 0; rc == 0 && off < total; off += FW_FRAME_MAX) {
        size_t k = total - off < FW_FRAME_MAX ? total - off : FW_FRAME_MAX;
        rc = send_frame(fw->sock, FW_PIXELS, ds->pixels + off, k, err);
    }
    if (rc == 0)
        rc = send_frame(fw->sock, FW_LABELS, ds->labels, (size_t)ds->n, err);
    return rc;
}

static double num(cJSON *o, const char *k, double dflt)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

int sai_pipeline__fw_train(sai_fw_t *fw, const sai_pipeline_spec_t *s, const sai_stage_file_t *files, size_t n,
                           sai_stage_progress_fn progress, void *ctx, sai_stage_result_t *res, sai_error_t *err)
{
    memset(res, 0, sizeof *res);
    sai_nn_dataset_t train, test;
    sai_nn_dataset_init(&train);
    sai_nn_dataset_init(&test);
    sai_buf_t model;
    sai_buf_init(&model, FW_MODEL_MAX);
    uint8_t *d = NULL;
    size_t dn = 0;
    int rc = 0;
    bool want_train = s->stages & SAI_STAGE_TRAIN, want_test = s->stages & (SAI_STAGE_EVALUATE | SAI_STAGE_INFER);
    bool model_done = false;
    double t = sai_now();

    if ((want_train && (rc = sai_pipeline__stage_load(s, files, n, true, &train, err))) ||
        (want_test && (rc = sai_pipeline__stage_load(s, files, n, false, &test, err))))
        goto out;
    if (want_train && want_test && strcmp(s->dataset.format, "tfrecord") == 0) {
        memcpy(test.mean, train.mean, sizeof test.mean);
        memcpy(test.std, train.std, sizeof test.std);
    }
    res->train_n = train.n;
    res->test_n = test.n;
    if ((want_train && (rc = send_split(fw, "train", &train, err))) ||
        (want_test && (rc = send_split(fw, "test", &test, err))) ||
        (rc = send_frame(fw->sock, FW_DATA_END, NULL, 0, err)))
        goto out;
    res->ingest_s = sai_now() - t;
    /* The plaintext images now live in the interpreter only. */
    if (train.pixels)
        sai_wipe(train.pixels, (size_t)train.n * train.c * train.h * train.w);
    if (test.pixels)
        sai_wipe(test.pixels, (size_t)test.n * test.c * test.h * test.w);

    t = sai_now();
    for (;;) {
        uint32_t type = 0;
        free(d);
        d = NULL;
        if ((rc = recv_frame(fw->sock, &type, &d, &dn, -1, err)))
            goto out;
        if (type == FW_PROGRESS) {
            cJSON *j = cJSON_ParseWithLength((const char *)d, dn);
            char *line = cJSON_IsObject(j) ? cJSON_PrintUnformatted(j) : NULL;
            if (line != NULL && strlen(line) < 1024 && progress != NULL)
                progress(ctx, line);
            free(line);
            cJSON_Delete(j);
        } else if (type == FW_MODEL) {
            if (model_done || sai_buf_append(&model, d, dn) != 0) {
                rc = sai_error_set(err, SAI_ELIMIT, "framework: the saved model is over %llu MiB or saved twice",
                                   (unsigned long long)(FW_MODEL_MAX >> 20));
                goto out;
            }
        } else if (type == FW_MODEL_END) {
            model_done = true;
        } else if (type == FW_METRICS) {
            cJSON *j = cJSON_ParseWithLength((const char *)d, dn);
            res->test_accuracy = num(j, "test_accuracy", res->test_accuracy);
            res->test_loss = num(j, "test_loss", res->test_loss);
            res->train_loss = num(j, "train_loss", res->train_loss);
            res->train_accuracy = num(j, "train_accuracy", res->train_accuracy);
            double st = num(j, "steps", (double)res->steps);
            res->steps = st >= 0 && st < 1e15 ? (uint64_t)st : 0;
            cJSON_Delete(j);
        } else if (type == FW_ERROR) {
            for (size_t i = 0; i < dn; i++)
                if (d[i] < 0x20 || d[i] > 0x7e)
                    d[i] = ' ';
            rc = sai_error_set(err, SAI_ESTATE, "framework: %s failed: %.400s", s->framework.script_name, (char *)d);
            goto out;
        } else if (type == FW_END) {
            break;
        } else {
            rc = sai_error_set(err, SAI_EFORMAT, "framework: unexpected frame %u from the interpreter", type);
            goto out;
        }
    }
    res->train_s = sai_now() - t;
    if (!model_done) {
        rc = sai_error_set(err, SAI_ENOTFOUND, "framework: %s saved no model (secureai.torch.save(obj) with no "
                           "path saves it sealed)", s->framework.script_name);
        goto out;
    }
    res->train_images_per_s = res->train_s > 0 && want_train ? train.n * (double)(s->hyper.epochs) / res->train_s : 0;
    res->ckpt = sai_buf_take(&model, &res->ckpt_len);
out:
    free(d);
    if (model.data)
        sai_wipe(model.data, model.len);
    sai_buf_free(&model);
    sai_nn_dataset_free(&train);
    sai_nn_dataset_free(&test);
    if (rc)
        sai_pipeline__stage_result_clear(res);
    return rc;
}

int sai_pipeline__fw_start_for(sai_fw_t *fw, const sai_pipeline_spec_t *s, sai_error_t *err)
{
    char *canon = NULL;
    size_t len = 0;
    int rc = sai_pipeline_spec_canonical(s, s->kbs.has_ca_sha256 ? s->kbs.ca_sha256 : NULL, &canon, &len, err);
    if (rc == 0)
        rc = sai_pipeline__fw_start(fw, s, canon, len, sai_nn_get_threads(), err);
    free(canon);
    return rc;
}

void sai_pipeline__fw_stop(sai_fw_t *fw)
{
    if (fw->sock >= 0)
        close(fw->sock);   /* the interpreter reads EOF; PDEATHSIG covers the rest */
    fw->sock = -1;
    fw->pid = -1;
}
