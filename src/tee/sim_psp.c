/*
 * sim_psp.c — the simulated PSP: a separate signer process that owns the
 * sim platform's private keys, like AMD's Platform Security Processor owns
 * the VCEK.
 *
 * Privilege separation in the OpenSSH monitor style: the launcher (host
 * side) computes the launch measurement, then forks the signer; only the
 * signer process ever reads vcek.key and seal.key, and it does so after the
 * fork, so the enclave process never has them in its address space. The
 * enclave holds one end of a socketpair and may ask three things, in
 * length-capped, typed messages:
 *   GET_REPORT(report_data[64]) -> ATTESTATION_REPORT (1184) || PEM chain
 *   DERIVE_KEY(context<=256)    -> 32-byte key bound to measurement
 *   MEASURE()                   -> the 48-byte launch measurement
 * The measurement and HOST_DATA in every report are the ones the launcher
 * gave the signer (as the SNP host supplies HOST_DATA at launch); the
 * enclave has no way to choose them. A malformed message ends the signer.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secureai/crypto.h"
#include "secureai/util.h"
#include "tee/tee_internal.h"

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

int sai_tee__psp_call(int fd, uint32_t type, const void *body, size_t body_len,
                 uint8_t **resp, size_t *resp_len, sai_error_t *err)
{
    uint8_t hdr[12];
    *resp = NULL;
    if (body_len > SAI_PSP_REQ_MAX)
        return sai_error_set(err, SAI_ELIMIT, "PSP request too large");
    put32(hdr, SAI_PSP_MAGIC);
    put32(hdr + 4, type);
    put32(hdr + 8, (uint32_t)body_len);
    if (sai_write_full(fd, hdr, sizeof hdr) != 0 || (body_len && sai_write_full(fd, body, body_len) != 0))
        return sai_error_set(err, SAI_EIO, "sim PSP is not reachable (signer gone?)");
    if (sai_read_full(fd, hdr, sizeof hdr) != 0 || get32(hdr) != SAI_PSP_MAGIC)
        return sai_error_set(err, SAI_EIO, "sim PSP did not answer");
    int32_t status = (int32_t)get32(hdr + 4);
    uint32_t n = get32(hdr + 8);
    if (n > SAI_PSP_RESP_MAX)
        return sai_error_set(err, SAI_EFORMAT, "sim PSP response too large");
    uint8_t *buf = malloc(n + 1);
    if (buf == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (sai_read_full(fd, buf, n) != 0) {
        free(buf);
        return sai_error_set(err, SAI_EIO, "sim PSP response truncated");
    }
    buf[n] = '\0';
    if (status != 0) {
        int rc = sai_error_set(err, status < 0 ? status : SAI_EIO, "sim PSP: %s", (char *)buf);
        free(buf);
        return rc;
    }
    *resp = buf;
    *resp_len = n;
    return 0;
}

/* ---- the signer (child) ------------------------------------------------------ */

static int load_text(char **out, size_t *len, const char *dir, const char *name, sai_error_t *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *b = NULL;
    int rc = sai_read_file(path, 64 * 1024, &b, len, err);
    *out = (char *)b;
    return rc;
}

int sai_tee__sim_signer_load(sai_sim_signer_t *s, const char *dir, sai_error_t *err)
{
    char *pem = NULL, *a = NULL, *b = NULL, *c = NULL;
    size_t len = 0, la, lb, lc;
    int rc;
    if ((rc = load_text(&pem, &len, dir, "vcek.key", err)) != 0)
        return rc;
    rc = sai_ec_from_pem(&s->vcek, pem, len, err);
    sai_wipe(pem, len);
    free(pem);
    if (rc != 0)
        return rc;
    uint8_t *seal = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/seal.key", dir);
    if ((rc = sai_read_file(path, 64, &seal, &len, err)) != 0)
        return rc;
    if (len != 32) {
        sai_wipe(seal, len);
        free(seal);
        return sai_error_set(err, SAI_EFORMAT, "%s is not 32 bytes", path);
    }
    memcpy(s->seal_root, seal, 32);
    sai_wipe(seal, 32);
    free(seal);
    if ((rc = sai_tee__sim_identity_load(&s->id, dir, err)) != 0 ||
        (rc = load_text(&a, &la, dir, "vcek.pem", err)) != 0 ||
        (rc = load_text(&b, &lb, dir, "ask.pem", err)) != 0 ||
        (rc = load_text(&c, &lc, dir, "ark.pem", err)) != 0)
        goto out;
    s->chain = malloc(la + lb + lc + 1);
    if (s->chain == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(s->chain, a, la);
    memcpy(s->chain + la, b, lb);
    memcpy(s->chain + la + lb, c, lc);
    s->chain_len = la + lb + lc;
    s->chain[s->chain_len] = '\0';
out:
    free(a); free(b); free(c);
    return rc;
}

static void build_report(const sai_sim_signer_t *s, uint8_t rep[SAI_SNP_REPORT_LEN],
                         const uint8_t report_data[64])
{
    memset(rep, 0, SAI_SNP_REPORT_LEN);
    put32(rep + 0x00, 3);                  /* version */
    put32(rep + 0x04, 0);                  /* guest_svn */
    put64(rep + 0x08, 0x30000);            /* policy: SMT allowed, bit 17 must-be-one */
    put32(rep + 0x30, 0);                  /* vmpl */
    put32(rep + 0x34, 1);                  /* ECDSA P-384 with SHA-384 */
    put64(rep + 0x38, s->id.tcb_raw);      /* current_tcb */
    put64(rep + 0x40, 0x1);                /* platform_info: SMT enabled */
    put32(rep + 0x48, 0);                  /* signer_info: VCEK */
    if (s->insecure_dev)                   /* family_id: who launched (docs/threat-model.md) */
        memcpy(rep + 0x10, SAI_SIM_INSECURE_DEV_MARK, sizeof SAI_SIM_INSECURE_DEV_MARK - 1);
    memcpy(rep + 0x50, report_data, 64);
    memcpy(rep + 0x90, s->measurement, 48);
    memcpy(rep + 0xC0, s->host_data, 32);   /* HOST_DATA: the launcher's, never the guest's */
    memcpy(rep + 0x140, s->report_id, 32);
    memset(rep + 0x160, 0xff, 32);         /* report_id_ma: no migration agent */
    put64(rep + 0x180, s->id.tcb_raw);     /* reported_tcb */
    memcpy(rep + 0x1A0, s->id.chip_id, 64);
    put64(rep + 0x1E0, s->id.tcb_raw);     /* committed_tcb */
    rep[0x1E8] = 0; rep[0x1E9] = 55; rep[0x1EA] = 1;   /* fw 1.55 build 0 */
    rep[0x1EC] = 0; rep[0x1ED] = 55; rep[0x1EE] = 1;
    put64(rep + 0x1F0, s->id.tcb_raw);     /* launch_tcb */
}

static int sign_report(const sai_sim_signer_t *s, uint8_t rep[SAI_SNP_REPORT_LEN])
{
    uint8_t sig[SAI_P384_SIG_LEN];
    if (sai_ecdsa_sign(s->vcek, sig, rep, SAI_SNP_SIGNED_LEN, NULL) != 0)
        return -1;
    for (int i = 0; i < 48; i++) {           /* big-endian r||s -> 72-byte LE fields */
        rep[0x2A0 + i] = sig[47 - i];
        rep[0x2E8 + i] = sig[95 - i];
    }
    return 0;
}

static int reply(int fd, int32_t status, const void *data, size_t len)
{
    uint8_t hdr[12];
    put32(hdr, SAI_PSP_MAGIC);
    put32(hdr + 4, (uint32_t)status);
    put32(hdr + 8, (uint32_t)len);
    return sai_write_full(fd, hdr, sizeof hdr) == 0 && (len == 0 || sai_write_full(fd, data, len) == 0) ? 0 : -1;
}

static int reply_err(int fd, int code, const char *msg)
{
    return reply(fd, code, msg, strlen(msg));
}

int sai_tee__sim_signer_handle(const sai_sim_signer_t *s, int fd)
{
    uint8_t hdr[12], body[SAI_PSP_REQ_MAX];
    if (sai_read_full(fd, hdr, sizeof hdr) != 0 || get32(hdr) != SAI_PSP_MAGIC)
        return -1;
    uint32_t type = get32(hdr + 4), n = get32(hdr + 8);
    if (n > sizeof body || sai_read_full(fd, body, n) != 0)
        return -1;   /* a malformed message ends the session */
    if (type == SAI_PSP_GET_REPORT) {
        if (n != 64) {
            reply_err(fd, SAI_EINVAL, "report data must be 64 bytes");
            return -1;
        }
        size_t total = SAI_SNP_REPORT_LEN + s->chain_len;
        uint8_t *out = malloc(total);
        if (out == NULL)
            return -1;
        build_report(s, out, body);
        if (sign_report(s, out) != 0) {
            free(out);
            reply_err(fd, SAI_ECRYPTO, "signing failed");
            return -1;
        }
        memcpy(out + SAI_SNP_REPORT_LEN, s->chain, s->chain_len);
        int rc = reply(fd, 0, out, total);
        free(out);
        return rc;
    }
    if (type == SAI_PSP_DERIVE_KEY) {
        static const char label[] = "secureai/sim/seal/v1";
        uint8_t info[sizeof label - 1 + 256], key[32];
        if (n > 256) {
            reply_err(fd, SAI_EINVAL, "context longer than 256 bytes");
            return -1;
        }
        memcpy(info, label, sizeof label - 1);
        memcpy(info + sizeof label - 1, body, n);
        if (sai_hkdf_sha256(key, 32, s->seal_root, 32, s->measurement, 48, info, sizeof label - 1 + n, NULL) != 0) {
            reply_err(fd, SAI_ECRYPTO, "key derivation failed");
            return -1;
        }
        int rc = reply(fd, 0, key, 32);
        sai_wipe(key, sizeof key);
        return rc;
    }
    if (type == SAI_PSP_MEASURE)
        return reply(fd, 0, s->measurement, 48);
    reply_err(fd, SAI_EINVAL, "unknown request");
    return -1;
}

void sai_tee__sim_signer_clear(sai_sim_signer_t *s)
{
    sai_wipe(s->seal_root, sizeof s->seal_root);
    sai_ec_free(s->vcek);
    free(s->chain);
    memset(s, 0, sizeof *s);
}

/* Close every descriptor above stderr except a and b. */
static void close_all_fds_except(int a, int b)
{
    int lo = a < b ? a : b, hi = a < b ? b : a;
    if (lo > 3)
        (void)close_range(3, (unsigned)lo - 1, 0);
    if (hi > lo + 1)
        (void)close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
    (void)close_range((unsigned)hi + 1, ~0u, 0);
}

/* The start-up handshake of a child that loads the platform keys (the
 * PSP signer, the insecure-dev monitor): one write of 'K', or 'E' and the
 * reason, on a pipe the parent reads once. Both close their end. */
int sai_tee__sim_start_report(int fd, int rc, const sai_error_t *e)
{
    char msg[SAI_ERROR_MAX + 1];
    msg[0] = rc == 0 ? 'K' : 'E';
    size_t ml = 1;
    if (rc != 0) {
        ml += (size_t)snprintf(msg + 1, sizeof msg - 1, "%s", e->msg);
        if (ml > sizeof msg - 1)
            ml = sizeof msg - 1;
    }
    int wr = sai_write_full(fd, msg, ml);
    close(fd);
    return wr;
}

int sai_tee__sim_start_wait(int fd, char *why, size_t cap)
{
    char msg[SAI_ERROR_MAX + 1];
    ssize_t n;
    do {
        n = read(fd, msg, sizeof msg - 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    why[0] = '\0';
    if (n > 0 && msg[0] == 'K')
        return 0;
    if (n > 1)
        snprintf(why, cap, "%.*s", (int)(n - 1), msg + 1);
    return -1;
}

/* A child that will load the platform keys from dir: checks the platform
 * exists, makes the socket it will serve on (type) and its start-up pipe,
 * and forks. In the child (0 returned) sv[1] and hp[1] are open; in the
 * parent (pid returned) sv[0] and hp[0]; the other ends are closed. */
pid_t sai_tee__sim_fork_keyholder(const char *dir, int type, int sv[2], int hp[2], sai_error_t *err)
{
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/platform.json", dir);
    if (access(probe, R_OK) != 0)
        return sai_error_set(err, SAI_ENOTFOUND, "no sim platform in %s (run 'secureai platform init')", dir);
    if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0)
        return sai_error_set(err, SAI_EIO, "socketpair: %s", strerror(errno));
    if (pipe2(hp, O_CLOEXEC) != 0) {
        close(sv[0]);
        close(sv[1]);
        return sai_error_set(err, SAI_EIO, "pipe: %s", strerror(errno));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]); close(sv[1]); close(hp[0]); close(hp[1]);
        return sai_error_set(err, SAI_EIO, "fork: %s", strerror(errno));
    }
    close(pid == 0 ? sv[0] : sv[1]);
    close(pid == 0 ? hp[0] : hp[1]);
    return pid;
}

int sai_sim_psp_start(sai_sim_psp_t *psp, const char *platform_dir, const uint8_t measurement[48],
                      sai_error_t *err)
{
    return sai_sim_psp_start_ex(psp, platform_dir, measurement, NULL, err);
}

int sai_sim_psp_start_ex(sai_sim_psp_t *psp, const char *platform_dir, const uint8_t measurement[48],
                         const uint8_t host_data[SAI_SIM_HOST_DATA_LEN], sai_error_t *err)
{
    char dir[4096];
    int sv[2];
    int rc = sai_sim_platform_dir(dir, sizeof dir, platform_dir, err);
    psp->pid = -1;
    psp->enclave_fd = -1;
    if (rc != 0)
        return rc;
    int hp[2];
    pid_t pid = sai_tee__sim_fork_keyholder(dir, SOCK_STREAM, sv, hp, err);
    if (pid < 0)
        return pid;
    if (pid == 0) {
        /* the signer: keys exist only from here on, only in this process */
        /* Keep nothing else the parent had open: an inherited end of another
         * PSP's socket would keep that PSP alive (its close would then wait
         * forever), and the signer needs no other descriptor anyway. */
        close_all_fds_except(sv[1], hp[1]);
        prctl(PR_SET_DUMPABLE, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        signal(SIGPIPE, SIG_IGN);
        sai_sim_signer_t s;
        memset(&s, 0, sizeof s);
        s.insecure_dev = true;   /* launched by the user, not by the platform service */
        memcpy(s.measurement, measurement, 48);
        if (host_data != NULL)
            memcpy(s.host_data, host_data, sizeof s.host_data);
        sai_error_t e;
        sai_error_clear(&e);
        int lrc = sai_random_bytes(s.report_id, sizeof s.report_id, &e);
        if (lrc == 0)
            lrc = sai_tee__sim_signer_load(&s, dir, &e);
        if (sai_tee__sim_start_report(hp[1], lrc, &e) != 0)
            lrc = SAI_EIO;   /* the parent saw no 'K' and has given up */
        if (lrc == 0)
            while (sai_tee__sim_signer_handle(&s, sv[1]) == 0)
                ;
        sai_tee__sim_signer_clear(&s);
        _exit(lrc == 0 ? 0 : 1);
    }
    char why[SAI_ERROR_MAX];
    if (sai_tee__sim_start_wait(hp[0], why, sizeof why) != 0) {
        close(sv[0]);
        waitpid(pid, NULL, 0);
        return sai_error_set(err, SAI_EIO, "sim PSP failed to start: %s", why[0] ? why : "signer exited");
    }
    psp->pid = pid;
    psp->enclave_fd = sv[0];
    return 0;
}

void sai_tee__sim_close_reap(int *fd, int *pid)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
    if (*pid > 0)
        while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
            ;
    *pid = -1;
}

void sai_sim_psp_stop(sai_sim_psp_t *psp)
{
    if (psp != NULL)
        sai_tee__sim_close_reap(&psp->enclave_fd, &psp->pid);
}

int sai_sim_launch(sai_sim_psp_t *psp, int *enclave_pid, const char *platform_dir,
                   const char *binary, char *const argv[], const char *spec_path,
                   const char *policy_path, uint8_t measurement[48], sai_error_t *err)
{
    return sai_sim_launch_ex(psp, enclave_pid, platform_dir, binary, argv, spec_path, policy_path,
                             NULL, measurement, err);
}

int sai_sim_launch_ex(sai_sim_psp_t *psp, int *enclave_pid, const char *platform_dir,
                      const char *binary, char *const argv[], const char *spec_path,
                      const char *policy_path, const uint8_t host_data[SAI_SIM_HOST_DATA_LEN],
                      uint8_t measurement[48], sai_error_t *err)
{
    uint8_t m[48];
    *enclave_pid = -1;
    int rc = sai_sim_launch_measurement(m, binary, spec_path, policy_path, err);
    if (rc != 0)
        return rc;
    if ((rc = sai_sim_psp_start_ex(psp, platform_dir, m, host_data, err)) != 0)
        return rc;
    if (measurement != NULL)
        memcpy(measurement, m, 48);
    pid_t pid = fork();
    if (pid < 0) {
        rc = sai_error_set(err, SAI_EIO, "fork: %s", strerror(errno));
        sai_sim_psp_stop(psp);
        return rc;
    }
    if (pid == 0) {
        char fdbuf[16];
        int fd = psp->enclave_fd;
        int fl = fcntl(fd, F_GETFD);
        if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
            _exit(127);
        snprintf(fdbuf, sizeof fdbuf, "%d", fd);
        if (setenv("SECUREAI_SIM_PSP_FD", fdbuf, 1) != 0)
            _exit(127);
        execv(binary, argv);
        _exit(127);
    }
    close(psp->enclave_fd);       /* only the enclave talks to the PSP */
    psp->enclave_fd = -1;
    *enclave_pid = pid;
    return 0;
}
