/*
 * sim_service.c — the simulated platform as a service: the only component
 * that holds the sim platform keys, measures enclave images and launches
 * enclaves, as the AMD PSP or the TDX module does on real hardware.
 *
 * `secureai platform serve` runs as its own system user (started by root,
 * it drops to that user keeping only CAP_SETUID and CAP_SETGID, to start
 * enclaves under their own uid, and CAP_KILL, to stop them: a parent-death
 * signal across uids needs it too), keeps the
 * platform keys in a directory no other user can read, and listens on a
 * Unix socket. At start it copies the enclave image into a sealed memfd
 * (F_SEAL_WRITE|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL) and hashes those
 * bytes and every shared object the loader maps for it (ld.so --list under
 * an empty environment); later writes to the image file change nothing.
 *
 * One connection = one request (OpenSSH's monitor pattern: a forked
 * monitor per launch, length-capped typed messages, anything out of order
 * ends the session):
 *   INFO                 -> ARK fingerprint, service uid, enclave uid
 *   MEASURE(spec)        -> measurement, HOST_DATA (nothing launched)
 *   LAUNCH(spec; chan fd)-> measurement, HOST_DATA, pid; later EXITED(status)
 * The launch measurement is
 *   M = SHA-384("secureai/sim/launch/v2" || 0 || u64be(48) || SHA-384(image)
 *               || u64be(|L|) || L || u64be(|E|) || E || u64be(|S|) || S)
 * with L the library manifest ("<sha384 hex>  <path>\n" per object, in load
 * order), E the enclave's environment ("K=V\0" each) and S the canonical
 * spec; HOST_DATA = SHA-256(S). The platform
 * computes both from the bytes it launches with, so the launcher can no
 * longer name a measurement or HOST_DATA of its own.
 *
 * The enclave runs from the memfd under a dedicated uid, with a fixed
 * environment (nothing of the launcher's: no LD_PRELOAD, no OPENSSL_CONF),
 * stdin and stdout on /dev/null, stderr on the platform's log, 3 = the
 * launcher's channel, 4 = its PSP
 * socket to the monitor, and nothing else. The memfd is execute-only for
 * the enclave's uid, so the kernel makes the process non-dumpable from its
 * first instruction (no /proc/PID/mem race before the sandbox is up). The
 * monitor signs reports only with the measurement and HOST_DATA it recorded
 * at launch. When the launcher's connection closes (it exited or was
 * killed) the monitor exits and the enclave dies with it (PDEATHSIG).
 *
 * --insecure-dev runs the same monitor in a child of the launcher, from the
 * launcher's own platform directory and uid: nothing is proven then, and
 * every report says so (FAMILY_ID = "INSECURE-DEV", sim_psp.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "secureai/crypto.h"
#include "secureai/util.h"
#include "tee/tee_internal.h"
#include "util/weaken.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define SVC_MAGIC   0x53565331u   /* "SVS1" */
#define SVC_INFO    1u
#define SVC_MEASURE 2u
#define SVC_LAUNCH  3u
#define SVC_WEAK_ENV 0x7fu   /* test-only build: enclave_env */
#define SVC_REPLY   0x80u
#define SVC_EXITED  0x81u
#define SVC_HDR     12u
#define SVC_MSG_MAX (SVC_HDR + SAI_SIM_SPEC_MAX)
#define SVC_MAX_MONITORS 64

extern char **environ;

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- messages: one SOCK_SEQPACKET record each, at most one descriptor ---- */

static int msg_send(int fd, uint32_t type, int32_t status, const void *body, size_t len, int pass_fd)
{
    uint8_t hdr[SVC_HDR];
    put32(hdr, SVC_MAGIC);
    put32(hdr + 4, type);
    put32(hdr + 8, (uint32_t)status);
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)body, len}};
    union {
        struct cmsghdr h;
        char           b[CMSG_SPACE(sizeof(int))];
    } cm;
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
    if (pass_fd >= 0) {
        memset(&cm, 0, sizeof cm);
        m.msg_control = cm.b;
        m.msg_controllen = sizeof cm.b;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    ssize_t n;
    do {
        n = sendmsg(fd, &m, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)(sizeof hdr + len) ? 0 : -1;
}

/* Receive one record into buf (cap bytes); *type, *status, body length;
 * *got_fd = a passed descriptor or -1. 0 = a record, 1 = end of stream,
 * -1 = malformed. */
static int msg_recv(int fd, uint8_t *buf, size_t cap, uint32_t *type, int32_t *status, size_t *len,
                    int *got_fd)
{
    union {
        struct cmsghdr h;
        char           b[CMSG_SPACE(sizeof(int) * 4)];
    } cm;
    struct iovec iov = {buf, cap};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b, .msg_controllen = sizeof cm.b};
    if (got_fd)
        *got_fd = -1;
    ssize_t n;
    do {
        n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    int nfds = 0, fds[4];
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k && nfds < 4; i++)
                memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        }
    bool bad = n < (ssize_t)SVC_HDR || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || get32(buf) != SVC_MAGIC ||
               nfds > 1 || (nfds == 1 && got_fd == NULL);
    if (n == 0 && nfds == 0)
        return 1;
    if (bad) {
        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        return -1;
    }
    if (nfds == 1)
        *got_fd = fds[0];
    *type = get32(buf + 4);
    *status = (int32_t)get32(buf + 8);
    *len = (size_t)n - SVC_HDR;
    return 0;
}

/* ---- the image: a sealed, execute-only memfd, and its measurement ------- */

typedef struct image {
    int     fd;                 /* sealed memfd */
    uint8_t sha384[48];
    char   *libs;               /* the library manifest L */
    size_t  libs_len;
    char    env[512];           /* the enclave's environment E: "K=V\0"... */
    size_t  env_len;
    char    path[4096];         /* where it was copied from */
} image;

static int hash_fd(int fd, uint8_t out[48], sai_error_t *err)
{
    sai_hash_ctx_t *h = NULL;
    uint8_t buf[1 << 16];
    int rc = sai_hash_new(&h, SAI_SHA384, err);
    off_t off = 0;
    while (rc == 0) {
        ssize_t n = pread(fd, buf, sizeof buf, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = sai_error_set(err, SAI_EIO, "read: %s", strerror(errno));
            break;
        }
        if (n == 0)
            break;
        rc = sai_hash_update(h, buf, (size_t)n, err);
        off += n;
    }
    if (rc == 0)
        rc = sai_hash_final(h, out, err);
    sai_hash_free(h);
    return rc;
}

/* The objects the loader maps for the image, as ld.so resolves them under
 * the enclave's (empty) environment, each with its SHA-384. */
static int library_manifest(image *im, sai_error_t *err)
{
    static const char *const loaders[] = {"/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"};
    const char *ld = NULL;
    for (size_t i = 0; i < sizeof loaders / sizeof loaders[0] && ld == NULL; i++)
        if (access(loaders[i], X_OK) == 0)
            ld = loaders[i];
    if (ld == NULL)
        return sai_error_set(err, SAI_EUNSUPP, "no dynamic loader found to list the enclave's libraries");
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return sai_error_set(err, SAI_EIO, "pipe: %s", strerror(errno));
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", im->fd);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return sai_error_set(err, SAI_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        dup2(p[1], 1);
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0)
            dup2(nul, 2);
        int fl = fcntl(im->fd, F_GETFD);
        if (fl >= 0)
            fcntl(im->fd, F_SETFD, fl & ~FD_CLOEXEC);
        char *const argv[] = {(char *)ld, "--list", fdpath, NULL};
        char *const envp[] = {NULL};
        execve(ld, argv, envp);
        _exit(127);
    }
    close(p[1]);
    char out[16384];
    size_t n = 0;
    for (;;) {
        ssize_t k = read(p[0], out + n, sizeof out - 1 - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
        if (n == sizeof out - 1)
            break;
    }
    close(p[0]);
    out[n] = '\0';
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || n == sizeof out - 1)
        return sai_error_set(err, SAI_EIO, "%s --list failed for the enclave image", ld);
    size_t cap = 64 * 1024, len = 0;
    char *man = malloc(cap);
    if (man == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    int rc = 0;
    for (char *save = NULL, *line = strtok_r(out, "\n", &save); line != NULL && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        /* "\tname => /path (0x...)", "\t/path (0x...)" or "\tlinux-vdso.so.1 (0x...)" */
        char *path = strstr(line, "=> ");
        path = path ? path + 3 : line + strspn(line, " \t");
        if (path[0] != '/')
            continue;
        char *end = strstr(path, " (");
        if (end)
            *end = '\0';
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint8_t h[48];
        if (fd < 0) {
            rc = sai_error_set(err, SAI_EIO, "enclave library %s: %s", path, strerror(errno));
            break;
        }
        rc = hash_fd(fd, h, err);
        close(fd);
        char hex[97];
        sai_hex_encode(hex, h, 48);
        int k = snprintf(man + len, cap - len, "%s  %s\n", hex, path);
        if (rc == 0 && (k < 0 || (size_t)k >= cap - len))
            rc = sai_error_set(err, SAI_ELIMIT, "enclave library manifest too long");
        else
            len += (size_t)k;
    }
    if (rc) {
        free(man);
        return rc;
    }
    im->libs = man;
    im->libs_len = len;
    return 0;
}

/* The enclave's whole environment, fixed by the platform and measured: one
 * BLAS thread (the engine parallelises around it), the C locale, and the
 * platform administrator's OpenBLAS kernel choice from the service's own
 * environment (some kernels compute wrong results on some CPUs), never
 * anything of the launcher's. */
static int enclave_environment(image *im, sai_error_t *err)
{
    static const char *const fixed[] = {"OPENBLAS_NUM_THREADS=1", "LC_ALL=C"};
    static const char *const from_platform[] = {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"};
    size_t n = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        size_t k = strlen(fixed[i]) + 1;
        memcpy(im->env + n, fixed[i], k);
        n += k;
    }
    for (size_t i = 0; i < sizeof from_platform / sizeof from_platform[0]; i++) {
        const char *v = getenv(from_platform[i]);
        if (v == NULL || v[0] == '\0')
            continue;
        for (const char *c = v; *c; c++)
            if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
                return sai_error_set(err, SAI_EINVAL, "%s must be alphanumeric", from_platform[i]);
        int k = snprintf(im->env + n, sizeof im->env - n, "%s=%s", from_platform[i], v);
        if (k < 0 || (size_t)k + 1 > sizeof im->env - n)
            return sai_error_set(err, SAI_ELIMIT, "%s is too long", from_platform[i]);
        n += (size_t)k + 1;
    }
    im->env_len = n;
    return 0;
}

static void image_clear(image *im)
{
    if (im->fd >= 0)
        close(im->fd);
    free(im->libs);
    memset(im, 0, sizeof *im);
    im->fd = -1;
}

static int image_load(image *im, const char *path, sai_error_t *err)
{
    memset(im, 0, sizeof *im);
    im->fd = -1;
    snprintf(im->path, sizeof im->path, "%s", path);
    int src = open(path, O_RDONLY | O_CLOEXEC);
    if (src < 0)
        return sai_error_set(err, SAI_EIO, "enclave image %s: %s", path, strerror(errno));
    int rc = 0;
    if (SAI_WEAKENED("image_seal")) {
        /* Test-only: measure the file and later execute the file itself. */
        im->fd = src;
        src = -1;
    } else {
        im->fd = memfd_create("secureai-enclave", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
        if (im->fd < 0) {
            rc = sai_error_set(err, SAI_EIO, "memfd_create: %s", strerror(errno));
            goto out;
        }
        uint8_t buf[1 << 16];
        for (;;) {
            ssize_t n = read(src, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                rc = sai_error_set(err, SAI_EIO, "enclave image %s: %s", path, strerror(errno));
                goto out;
            }
            if (n == 0)
                break;
            if (sai_write_full(im->fd, buf, (size_t)n) != 0) {
                rc = sai_error_set(err, SAI_EIO, "memfd write: %s", strerror(errno));
                goto out;
            }
        }
        /* Execute-only for everyone but the platform: the kernel then marks
         * the enclave non-dumpable at exec. */
        if (fchmod(im->fd, SAI_WEAKENED("enclave_isolation") ? 0555 : 0511) != 0 ||
            fcntl(im->fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
            rc = sai_error_set(err, SAI_EIO, "sealing the enclave image: %s", strerror(errno));
            goto out;
        }
    }
    if ((rc = hash_fd(im->fd, im->sha384, err)) == 0)
        rc = library_manifest(im, err);
    if (rc == 0)
        rc = enclave_environment(im, err);
out:
    if (src >= 0)
        close(src);
    if (rc)
        image_clear(im);
    return rc;
}

static int put_len(sai_hash_ctx_t *h, uint64_t n, sai_error_t *err)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(n >> (56 - 8 * i));
    return sai_hash_update(h, b, 8, err);
}

static int measure(const image *im, const uint8_t *spec, size_t spec_len, uint8_t m[48], uint8_t hd[32],
                   sai_error_t *err)
{
    static const char label[] = "secureai/sim/launch/v2";
    sai_hash_ctx_t *h = NULL;
    int rc = sai_hash_new(&h, SAI_SHA384, err);
    if (rc == 0)
        rc = sai_hash_update(h, label, sizeof label, err);   /* with the NUL */
    if (rc == 0)
        rc = put_len(h, 48, err);
    if (rc == 0)
        rc = sai_hash_update(h, im->sha384, 48, err);
    if (rc == 0)
        rc = put_len(h, im->libs_len, err);
    if (rc == 0)
        rc = sai_hash_update(h, im->libs, im->libs_len, err);
    if (rc == 0)
        rc = put_len(h, im->env_len, err);
    if (rc == 0)
        rc = sai_hash_update(h, im->env, im->env_len, err);
    if (rc == 0)
        rc = put_len(h, spec_len, err);
    if (rc == 0)
        rc = sai_hash_update(h, spec, spec_len, err);
    if (rc == 0)
        rc = sai_hash_final(h, m, err);
    sai_hash_free(h);
    if (rc == 0)
        rc = sai_hash(SAI_SHA256, hd, spec, spec_len, err);
    return rc;
}

/* ---- the monitor: one request, one enclave ---------------------------- */

typedef struct platform {
    sai_sim_signer_t signer;
    image          img;
    uint8_t        ark_fp[32];
    uid_t          enclave_uid;
    gid_t          enclave_gid;
    bool           switch_uid;    /* false only for --insecure-dev */
    bool           quiet;
#ifdef SAI_REDTEAM_WEAKEN
    char          *weak_env;      /* enclave_env: the launcher's environment */
    size_t         weak_env_len;
#endif
} platform;

static int caps_set(uint32_t mask)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    d[0].effective = d[0].permitted = mask;
    return (int)syscall(SYS_capset, &h, d);
}

static void reply_err(int fd, int code, const char *msg)
{
    (void)msg_send(fd, SVC_REPLY, code, msg, strlen(msg), -1);
}

/* The enclave child: become the enclave user, keep only fds 3 and 4, a
 * fixed environment, and execute the sealed image. Never returns. */
static void enclave_exec(const platform *pf, int chan_fd, int psp_fd, pid_t monitor, const struct ucred *peer)
{
    uid_t uid = pf->enclave_uid;
    gid_t gid = pf->enclave_gid;
    if (SAI_WEAKENED("enclave_isolation")) {   /* test-only: run as the launcher */
        uid = peer->uid;
        gid = peer->gid;
    }
    if (pf->switch_uid) {
        if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
            _exit(126);
        if (caps_set(0) != 0)
            _exit(126);
    }
    /* After the uid change (which clears it) and before exec. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != monitor)
        _exit(126);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    /* stdin and stdout go nowhere; stderr is the platform's log (the
     * enclave writes no secret there; sanitizer reports land there). */
    int nul = open("/dev/null", O_RDWR);
    if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0)
        _exit(126);
    /* 3 = channel, 4 = PSP: move them out of the way first. */
    int c = fcntl(chan_fd, F_DUPFD, 10), p = fcntl(psp_fd, F_DUPFD, 10), img = fcntl(pf->img.fd, F_DUPFD, 10);
    if (c < 0 || p < 0 || img < 0 || dup2(c, 3) != 3 || dup2(p, 4) != 4 || dup2(img, 5) != 5)
        _exit(126);
    (void)close_range(6, ~0u, 0);
    if (fcntl(5, F_SETFD, FD_CLOEXEC) != 0)
        _exit(126);
    char *const argv[] = {"secureai", "run", "--enclave-fd", "3", "--tee-fd", "4", NULL};
    char *envp[16];
    int ne = 0;
    for (const char *q = pf->img.env; q < pf->img.env + pf->img.env_len && ne < 10; q += strlen(q) + 1)
        envp[ne++] = (char *)q;
    /* Sanitizer builds: the enclave cannot read its own environment, see
     * __asan_default_options in src/cli/main.c. */
#ifdef SAI_REDTEAM_WEAKEN
    static char weaken[512];
    if (getenv("SAI_WEAKEN") != NULL) {
        snprintf(weaken, sizeof weaken, "SAI_WEAKEN=%s", getenv("SAI_WEAKEN"));
        envp[ne++] = weaken;
    }
    if (pf->weak_env != NULL) {   /* enclave_env: the launcher's environment, as before issue 11 */
        static char *wenv[256];
        size_t k = 0;
        for (char *q = pf->weak_env; q < pf->weak_env + pf->weak_env_len && k < 255; q += strlen(q) + 1)
            wenv[k++] = q;
        wenv[k] = NULL;
        execveat(5, "", argv, wenv, AT_EMPTY_PATH);
    }
#endif
    envp[ne] = NULL;
    execveat(5, "", argv, envp, AT_EMPTY_PATH);
    _exit(127);
}

static void log_line(const platform *pf, const char *fmt, ...) SAI_PRINTF(2, 3);
static void log_line(const platform *pf, const char *fmt, ...)
{
    if (pf->quiet)
        return;
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s secureai-platform: ", when);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Serve one connection. Returns when the request (and, for LAUNCH, the
 * enclave) is over; the caller exits afterwards. */
static void monitor(platform *pf, int conn)
{
    uint8_t *buf = malloc(SVC_MSG_MAX);
    if (buf == NULL)
        return;
    uint32_t type;
    int32_t status;
    size_t len;
    int chan = -1;
    if (msg_recv(conn, buf, SVC_MSG_MAX, &type, &status, &len, &chan) != 0) {
        free(buf);
        return;
    }
#ifdef SAI_REDTEAM_WEAKEN
    if (type == SVC_WEAK_ENV && SAI_WEAKENED("enclave_env") && len > 0 && buf[SVC_HDR + len - 1] == '\0') {
        pf->weak_env = malloc(len);
        if (pf->weak_env != NULL) {
            memcpy(pf->weak_env, buf + SVC_HDR, len);
            pf->weak_env_len = len;
        }
        if (msg_recv(conn, buf, SVC_MSG_MAX, &type, &status, &len, &chan) != 0) {
            free(buf);
            return;
        }
    }
#endif
    const uint8_t *body = buf + SVC_HDR;
    struct ucred cred = {0};
    socklen_t cl = sizeof cred;
    (void)getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
    sai_error_t err;
    sai_error_clear(&err);
    uint8_t out[48 + 32 + 16];
    if (type == SVC_INFO && len == 0 && chan < 0) {
        memcpy(out, pf->ark_fp, 32);
        put32(out + 32, (uint32_t)getuid());
        put32(out + 36, (uint32_t)pf->enclave_uid);
        out[40] = pf->signer.insecure_dev;
        (void)msg_send(conn, SVC_REPLY, 0, out, 41, -1);
        goto out;
    }
    if ((type != SVC_MEASURE && type != SVC_LAUNCH) || (type == SVC_MEASURE) != (chan < 0) || len == 0) {
        reply_err(conn, SAI_EINVAL, "malformed request");
        goto out;
    }
    if (measure(&pf->img, body, len, out, out + 48, &err) != 0) {
        reply_err(conn, SAI_ECRYPTO, err.msg);
        goto out;
    }
    if (type == SVC_MEASURE) {
        (void)msg_send(conn, SVC_REPLY, 0, out, 80, -1);
        goto out;
    }
    /* LAUNCH: record what this enclave's reports will say, then start it. */
    memcpy(pf->signer.measurement, out, 48);
    memcpy(pf->signer.host_data, out + 48, 32);
    if (sai_random_bytes(pf->signer.report_id, 32, &err) != 0) {
        reply_err(conn, SAI_ECRYPTO, err.msg);
        goto out;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        reply_err(conn, SAI_EIO, "socketpair failed");
        goto out;
    }
    pid_t me = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        reply_err(conn, SAI_EIO, "fork failed");
        goto out;
    }
    if (pid == 0) {
        sai_tee__sim_signer_clear(&pf->signer);   /* the keys stay in the monitor */
        enclave_exec(pf, chan, sv[1], me, &cred);
    }
    close(sv[1]);
    close(chan);
    chan = -1;
    int psp = sv[0];
    char mhex[97];
    sai_hex_encode(mhex, out, 48);
    log_line(pf, "launched enclave pid %d for uid %u, measurement %.16s...", (int)pid, (unsigned)cred.uid, mhex);
    put32(out + 80, (uint32_t)pid);
    put32(out + 84, (uint32_t)pf->enclave_uid);
    out[88] = pf->signer.insecure_dev;
    (void)msg_send(conn, SVC_REPLY, 0, out, 89, -1);
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int st = 0;
    for (;;) {
        struct pollfd pfd[3] = {{conn, POLLIN, 0}, {psp, POLLIN, 0}, {pidfd, POLLIN, 0}};
        if (poll(pfd, 3, pidfd < 0 ? 200 : -1) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            /* The launcher closed its end or sent something it may not: the
             * run is over; the enclave dies with this process. */
            log_line(pf, "launcher of pid %d went away: stopping the enclave", (int)pid);
            kill(pid, SIGKILL);   /* CAP_KILL: the enclave runs under another uid */
            break;
        }
        if (psp >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
            sai_tee__sim_signer_handle(&pf->signer, psp) != 0) {
            close(psp);
            psp = -1;
        }
        if ((pidfd >= 0 && (pfd[2].revents & POLLIN)) || (pidfd < 0 && waitpid(pid, &st, WNOHANG) == pid)) {
            if (pidfd >= 0)
                while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                    ;
            uint8_t s[4];
            put32(s, (uint32_t)st);
            (void)msg_send(conn, SVC_EXITED, 0, s, 4, -1);
            log_line(pf, "enclave pid %d exited (status 0x%x)", (int)pid, (unsigned)st);
            pid = -1;
            break;
        }
    }
    if (psp >= 0)
        close(psp);
    if (pidfd >= 0)
        close(pidfd);
    if (pid > 0)
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
out:
    if (chan >= 0)
        close(chan);
    free(buf);
}

static int platform_load(platform *pf, const char *dir, const char *image_path, sai_error_t *err)
{
    int rc;
    memset(&pf->signer, 0, sizeof pf->signer);
    pf->img.fd = -1;
    if ((rc = sai_tee__sim_signer_load(&pf->signer, dir, err)) ||
        (rc = sai_sim_platform_ark_fingerprint(dir, pf->ark_fp, err)) ||
        (rc = image_load(&pf->img, image_path, err)))
        return rc;
    return 0;
}

static void platform_clear(platform *pf)
{
    sai_tee__sim_signer_clear(&pf->signer);
    image_clear(&pf->img);
}

/* ---- the service -------------------------------------------------------- */

static volatile sig_atomic_t stop_flag;
static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int lookup_user(const char *name, uid_t *uid, gid_t *gid, sai_error_t *err)
{
    struct passwd *pw = getpwnam(name);
    if (pw == NULL)
        return sai_error_set(err, SAI_ENOTFOUND, "no user '%s' (create it: useradd --system %s)", name, name);
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

/* The platform directory belongs to the service user alone (0700). */
static int own_platform_dir(const char *dir, uid_t uid, gid_t gid, sai_error_t *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return sai_error_set(err, SAI_EIO, "%s: %s", dir, strerror(errno));
    int dfd = dirfd(d), rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && rc == 0) {
        if (e->d_name[0] == '.')
            continue;
        struct stat st;
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            fchownat(dfd, e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 ||
            fchmodat(dfd, e->d_name, SAI_WEAKENED("platform_custody") ? 0644 : 0600, 0) != 0)
            rc = sai_error_set(err, SAI_EIO, "%s/%s: cannot give it to the service user", dir, e->d_name);
    }
    closedir(d);
    if (rc == 0 && (chown(dir, uid, gid) != 0 || chmod(dir, SAI_WEAKENED("platform_custody") ? 0755 : 0700) != 0))
        rc = sai_error_set(err, SAI_EIO, "%s: %s", dir, strerror(errno));
    return rc;
}

static int listen_on(const char *path, sai_error_t *err)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return sai_error_set(err, SAI_EINVAL, "socket path too long: %s", path);
    memcpy(a.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sai_error_set(err, SAI_EIO, "socket: %s", strerror(errno));
    struct stat st;
    if (lstat(path, &st) == 0) {
        /* A socket left by a service that died: reuse the path only if no
         * one answers on it. */
        int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && connect(probe, (struct sockaddr *)&a, sizeof a) == 0;
        if (probe >= 0)
            close(probe);
        if (live || !S_ISSOCK(st.st_mode)) {
            close(fd);
            return sai_error_set(err, SAI_EEXIST, "%s exists%s", path,
                                 live ? " and a platform service answers there" : " and is not a socket");
        }
        unlink(path);
    }
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || chmod(path, 0666) != 0 || listen(fd, 64) != 0) {
        int e = errno;
        close(fd);
        return sai_error_set(err, SAI_EIO, "cannot listen on %s: %s", path, strerror(e));
    }
    return fd;
}

int sai_sim_service_serve(const sai_sim_service_opts_t *o, sai_error_t *err)
{
    char dir[4096];
    int rc = sai_sim_platform_dir(dir, sizeof dir, o->platform_dir, err);
    if (rc)
        return rc;
    prctl(PR_SET_DUMPABLE, 0);   /* the keys will be in this process */
    const char *sock = o->socket_path ? o->socket_path : SAI_SIM_SOCKET_DEFAULT;
    const char *eu = o->enclave_user ? o->enclave_user : SAI_SIM_ENCLAVE_USER;
    platform pf;
    memset(&pf, 0, sizeof pf);
    pf.img.fd = -1;
    pf.quiet = o->quiet;
    pf.switch_uid = true;
    if ((rc = lookup_user(eu, &pf.enclave_uid, &pf.enclave_gid, err)))
        return rc;
    uid_t su = getuid();
    gid_t sg = getgid();
    if (o->user != NULL && (rc = lookup_user(o->user, &su, &sg, err)))
        return rc;
    if (su == 0)
        return sai_error_set(err, SAI_EPOLICY, "the platform service does not run as root: give --user "
                             "(e.g. %s)", SAI_SIM_SERVICE_USER);
    if (su == pf.enclave_uid)
        return sai_error_set(err, SAI_EPOLICY, "the enclave user must differ from the service user");
    if (geteuid() != 0 && o->user != NULL && su != geteuid())
        return sai_error_set(err, SAI_EPOLICY, "--user needs root");
    /* The socket's directory, world-searchable; the platform directory. */
    char sdir[4096];
    snprintf(sdir, sizeof sdir, "%s", sock);
    char *slash = strrchr(sdir, '/');
    if (slash != NULL && slash != sdir) {
        *slash = '\0';
        if (mkdir(sdir, 0755) != 0 && errno != EEXIST)
            return sai_error_set(err, SAI_EIO, "cannot create %s: %s", sdir, strerror(errno));
        /* The service removes its socket when it stops. */
        if (geteuid() == 0 && chown(sdir, su, sg) != 0)
            return sai_error_set(err, SAI_EIO, "cannot give %s to the service user: %s", sdir, strerror(errno));
    }
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/platform.json", dir);
    if (access(probe, F_OK) != 0) {
        if ((rc = sai_sim_platform_init(dir, false, err)))
            return rc;
        log_line(&pf, "created the SIMULATED platform in %s", dir);
    }
    if (geteuid() == 0 && (rc = own_platform_dir(dir, su, sg, err)))
        return rc;
    int lfd = listen_on(sock, err);
    if (lfd < 0)
        return lfd;
    /* Keys and image are read before dropping privileges (as sshd reads its
     * host keys): the platform directory and the image may sit where only
     * root can reach them. */
    const char *img = o->enclave_image ? o->enclave_image : "/proc/self/exe";
    if ((rc = platform_load(&pf, dir, img, err))) {
        close(lfd);
        platform_clear(&pf);
        return rc;
    }
    if (geteuid() == 0) {
        /* Drop to the service user, keeping only what launching needs. */
        for (int cap = 0; cap <= 63; cap++)
            if (cap != CAP_SETUID && cap != CAP_SETGID && cap != CAP_KILL)
                (void)prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
        if (prctl(PR_SET_KEEPCAPS, 1) != 0 || setgroups(0, NULL) != 0 || setresgid(sg, sg, sg) != 0 ||
            setresuid(su, su, su) != 0 || prctl(PR_SET_KEEPCAPS, 0) != 0 ||
            caps_set(1u << CAP_SETUID | 1u << CAP_SETGID | 1u << CAP_KILL) != 0) {
            close(lfd);
            platform_clear(&pf);
            return sai_error_set(err, SAI_EIO, "cannot drop to the service user: %s", strerror(errno));
        }
    }
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    char fph[65];
    sai_hex_encode(fph, pf.ark_fp, 32);
    log_line(&pf, "serving on %s as uid %u; enclaves run as %s (uid %u); sim ARK sha256 %s", sock,
             (unsigned)getuid(), eu, (unsigned)pf.enclave_uid, fph);
    if (o->ready_fd >= 0) {
        if (sai_write_full(o->ready_fd, "ready\n", 6) != 0)
            log_line(&pf, "cannot signal readiness: %s", strerror(errno));
        close(o->ready_fd);
    }
    int live = 0;
    while (!stop_flag) {
        while (live > 0 && waitpid(-1, NULL, WNOHANG) > 0)
            live--;
        struct pollfd p = {lfd, POLLIN, 0};
        if (poll(&p, 1, 500) <= 0)
            continue;
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        if (live >= SVC_MAX_MONITORS) {
            reply_err(c, SAI_ELIMIT, "the platform service is busy (too many enclaves)");
            close(c);
            continue;
        }
        fflush(NULL);
        pid_t m = fork();
        if (m == 0) {
            close(lfd);
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            prctl(PR_SET_PDEATHSIG, SIGKILL);   /* no platform, no enclaves */
            monitor(&pf, c);
            platform_clear(&pf);
            _exit(0);
        }
        close(c);
        if (m > 0)
            live++;
    }
    close(lfd);
    unlink(sock);
    platform_clear(&pf);
    log_line(&pf, "stopped");
    return 0;
}

/* ---- the client side ------------------------------------------------------ */

int sai_sim_connect(sai_sim_conn_t *c, const sai_sim_connect_opts_t *o, sai_error_t *err)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->local_pid = -1;
    if (!o->insecure_dev) {
        const char *path = o->socket_path ? o->socket_path : getenv("SECUREAI_PLATFORM_SOCKET");
        if (path == NULL || path[0] == '\0')
            path = SAI_SIM_SOCKET_DEFAULT;
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof a.sun_path)
            return sai_error_set(err, SAI_EINVAL, "socket path too long: %s", path);
        memcpy(a.sun_path, path, strlen(path) + 1);
        c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
            int e = errno;
            sai_sim_disconnect(c);
            return sai_error_set(err, SAI_ENOTFOUND, "no platform service at %s (%s): start it with "
                                 "`secureai platform serve` as root, or pass --insecure-dev to run without one "
                                 "(nothing is proven then)", path, strerror(e));
        }
        return 0;
    }
    /* insecure-dev: the monitor is our own child, from our own platform
     * directory, under our own uid. */
    char dir[4096];
    int rc = sai_sim_platform_dir(dir, sizeof dir, o->platform_dir, err);
    if (rc)
        return rc;
    int sv[2], hp[2];
    pid_t pid = sai_tee__sim_fork_keyholder(dir, SOCK_SEQPACKET, sv, hp, err);
    if (pid < 0)
        return pid;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        prctl(PR_SET_DUMPABLE, 0);
        signal(SIGPIPE, SIG_IGN);
        platform pf;
        memset(&pf, 0, sizeof pf);
        pf.quiet = true;
        pf.enclave_uid = getuid();
        pf.enclave_gid = getgid();
        sai_error_t e;
        sai_error_clear(&e);
        int lrc = platform_load(&pf, dir, o->enclave_image ? o->enclave_image : "/proc/self/exe", &e);
        pf.signer.insecure_dev = true;
        if (sai_tee__sim_start_report(hp[1], lrc, &e) != 0)
            lrc = SAI_EIO;
        if (lrc == 0)
            monitor(&pf, sv[1]);
        platform_clear(&pf);
        _exit(lrc == 0 ? 0 : 1);
    }
    c->fd = sv[0];
    c->local_pid = pid;
    char why[SAI_ERROR_MAX];
    if (sai_tee__sim_start_wait(hp[0], why, sizeof why) != 0) {
        sai_sim_disconnect(c);
        return sai_error_set(err, SAI_EIO, "sim platform (insecure-dev) failed to start: %s",
                             why[0] ? why : "it exited");
    }
    return 0;
}

void sai_sim_disconnect(sai_sim_conn_t *c)
{
    if (c != NULL)
        sai_tee__sim_close_reap(&c->fd, &c->local_pid);
}

/* One request, one REPLY. */
static int call(sai_sim_conn_t *c, uint32_t type, const void *body, size_t len, int pass_fd, uint8_t *out,
                size_t want, sai_error_t *err)
{
    if (len > SAI_SIM_SPEC_MAX)
        return sai_error_set(err, SAI_ELIMIT, "the spec is larger than the platform takes (%u bytes)",
                             (unsigned)SAI_SIM_SPEC_MAX);
    if (msg_send(c->fd, type, 0, body, len, pass_fd) != 0)
        return sai_error_set(err, SAI_EIO, "the platform service is not reachable: %s", strerror(errno));
    uint8_t buf[SVC_HDR + SAI_ERROR_MAX + 128];
    uint32_t rt;
    int32_t st;
    size_t n;
    int r = msg_recv(c->fd, buf, sizeof buf - 1, &rt, &st, &n, NULL);
    if (r != 0 || rt != SVC_REPLY)
        return sai_error_set(err, SAI_EIO, "the platform service did not answer");
    if (st != 0) {
        buf[SVC_HDR + n] = '\0';
        return sai_error_set(err, st < 0 ? st : SAI_EIO, "platform: %s", (char *)buf + SVC_HDR);
    }
    if (n != want)
        return sai_error_set(err, SAI_EFORMAT, "the platform service sent a malformed answer");
    memcpy(out, buf + SVC_HDR, want);
    return 0;
}

int sai_sim_info(sai_sim_conn_t *c, sai_sim_platform_info_t *info, sai_error_t *err)
{
    uint8_t b[41];
    int rc = call(c, SVC_INFO, NULL, 0, -1, b, sizeof b, err);
    if (rc)
        return rc;
    memcpy(info->ark_sha256, b, 32);
    info->service_uid = get32(b + 32);
    info->enclave_uid = get32(b + 36);
    info->insecure_dev = b[40] != 0;
    return 0;
}

int sai_sim_measure(sai_sim_conn_t *c, const void *spec, size_t len, uint8_t measurement[48],
                    uint8_t host_data[32], sai_error_t *err)
{
    uint8_t b[80];
    int rc = call(c, SVC_MEASURE, spec, len, -1, b, sizeof b, err);
    if (rc)
        return rc;
    memcpy(measurement, b, 48);
    memcpy(host_data, b + 48, 32);
    return 0;
}

int sai_sim_launch_enclave(sai_sim_conn_t *c, const void *spec, size_t len, int chan_fd, sai_sim_launched_t *out,
                           sai_error_t *err)
{
    uint8_t b[89];
#ifdef SAI_REDTEAM_WEAKEN
    if (SAI_WEAKENED("enclave_env")) {
        static char env[SAI_SIM_SPEC_MAX];
        size_t n = 0;
        for (char **e = environ; *e != NULL; e++) {
            size_t k = strlen(*e) + 1;
            if (n + k > sizeof env)
                break;
            memcpy(env + n, *e, k);
            n += k;
        }
        if (n > 0 && msg_send(c->fd, SVC_WEAK_ENV, 0, env, n, -1) != 0)
            return sai_error_set(err, SAI_EIO, "the platform service is not reachable");
    }
#endif
    int rc = call(c, SVC_LAUNCH, spec, len, chan_fd, b, sizeof b, err);
    if (rc)
        return rc;
    memcpy(out->measurement, b, 48);
    memcpy(out->host_data, b + 48, 32);
    out->pid = (int)get32(b + 80);
    out->enclave_uid = get32(b + 84);
    out->insecure_dev = b[88] != 0;
    return 0;
}

int sai_sim_wait_exit(sai_sim_conn_t *c, int timeout_ms, int *status, sai_error_t *err)
{
    struct pollfd p = {c->fd, POLLIN, 0};
    int r;
    do {
        r = poll(&p, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return sai_error_set(err, SAI_ESTATE, "the enclave did not exit");
    uint8_t buf[SVC_HDR + 8];
    uint32_t t;
    int32_t st;
    size_t n;
    if (msg_recv(c->fd, buf, sizeof buf, &t, &st, &n, NULL) != 0 || t != SVC_EXITED || n != 4)
        return sai_error_set(err, SAI_EIO, "the platform service did not report the enclave's exit");
    *status = (int)get32(buf + SVC_HDR);
    return 0;
}
