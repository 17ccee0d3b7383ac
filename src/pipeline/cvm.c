/*
 * cvm.c — confidential-VM mode: `secureai run` with `tee: sev-snp` or
 * `tee: tdx` inside a confidential guest (docs/hardware.md, "Confidential-VM
 * mode"; docs/pipeline.md).
 *
 * On SEV-SNP and TDX the whole guest is the TEE: there is no platform
 * service to measure and launch an enclave. The VMM launched the guest and
 * the hardware measured it (MEASUREMENT / MRTD); the VMM also bound the
 * pipeline spec at launch, the way Confidential Containers binds init-data:
 * SHA-256 of the canonical spec in HOST_DATA (SNP, 32 bytes) or in the first
 * 32 bytes of MRCONFIGID (TDX, 48 bytes, the rest zero). Inside the guest
 * the host/enclave split stays: `secureai run` (the host half) starts the
 * enclave half as a child (`run --enclave-fd 3 --cvm`), which reads HELLO,
 * asks the guest's own TEE for a report and checks the binding before it
 * uses anything of the spec, then hardens itself exactly as under sim
 * (sandbox.c) — the seccomp allow-list forbids opening paths, so evidence
 * comes from a small attester process the enclave forks before hardening,
 * as the sim enclave's comes from its PSP socket. Same KBS, sealing and
 * provenance as under sim.
 *
 * The attester: one SOCK_STREAM socket; request = 64 bytes of report data;
 * reply = u32be status (0 = evidence follows, 1 = an error sentence
 * follows), u32be length, the bytes. It holds no key, only the configfs-tsm
 * (or /dev/sev-guest) backend, and exits when the socket closes.
 */
#include "pipeline/pipeline_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "secureai/attest.h"
#include "secureai/dcap.h"
#include "secureai/tee.h"
#include "secureai/util.h"
#include "util/weaken.h"

#define REPLY_OK  0u
#define REPLY_ERR 1u

static void put32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void attester_serve(int fd, sai_tee_t *t)
{
    for (;;) {
        uint8_t rd[SAI_TEE_REPORT_DATA_LEN], hdr[8];
        if (sai_read_full(fd, rd, sizeof rd) != 0)
            _exit(0);   /* the enclave closed the socket (or is gone) */
        char *json = NULL;
        size_t len = 0;
        sai_error_t e = {0};
        int rc = sai_tee_get_evidence(t, rd, &json, &len, &e);
        const char *msg = e.msg[0] ? e.msg : sai_strerror(rc);
        const void *body = rc == 0 ? (const void *)json : (const void *)msg;
        size_t bl = rc == 0 ? len : strlen(msg);
        put32be(hdr, rc == 0 ? REPLY_OK : REPLY_ERR);
        put32be(hdr + 4, (uint32_t)bl);
        int wrc = sai_write_full(fd, hdr, sizeof hdr);
        if (wrc == 0 && bl > 0)
            wrc = sai_write_full(fd, body, bl);
        free(json);
        if (wrc != 0)
            _exit(1);
    }
}

int sai_pipeline__cvm_attester_start(sai_cvm_attester_t *a, sai_tee_kind_t kind, const char *tee_root, int close_fd,
                                     sai_error_t *err)
{
    a->fd = -1;
    a->pid = -1;
    if (kind != SAI_TEE_SEV_SNP && kind != SAI_TEE_TDX)
        return sai_error_set(err, SAI_EUNSUPP, "confidential-VM mode is for sev-snp and tdx");
    sai_tee_opts_t to;
    memset(&to, 0, sizeof to);
    to.psp_fd = -1;
    to.root = tee_root;
    sai_tee_t *t = NULL;
    int sv[2] = {-1, -1};
    int rc = sai_tee_open(&t, kind, &to, err);
    if (rc)
        return sai_error_prefix(err, "TEE %s (confidential-VM mode)", sai_tee_kind_name(kind));
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        rc = sai_error_set(err, SAI_EIO, "socketpair: %s", strerror(errno));
        goto out;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = sai_error_set(err, SAI_EIO, "fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        /* The attester: dies with the enclave, holds nothing but the TEE. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || prctl(PR_SET_DUMPABLE, 0) != 0)
            _exit(1);
        close(sv[0]);
        if (close_fd >= 0)
            close(close_fd);
        attester_serve(sv[1], t);
        _exit(0);
    }
    a->pid = pid;
    a->fd = sv[0];
    sv[0] = -1;
out:
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    sai_tee_close(t);   /* the parent's copy; the attester keeps its own */
    return rc;
}

void sai_pipeline__cvm_attester_stop(sai_cvm_attester_t *a)
{
    if (a->fd >= 0)
        close(a->fd);   /* the attester exits on EOF */
    a->fd = -1;
    if (a->pid > 0)
        (void)waitpid(a->pid, NULL, WNOHANG);   /* may be refused by the sandbox; it dies with us */
    a->pid = -1;
}

int sai_pipeline__cvm_evidence(sai_cvm_attester_t *a, const uint8_t rd[static 64], char **json, size_t *len,
                               sai_error_t *err)
{
    uint8_t hdr[8];
    *json = NULL;
    if (a->fd < 0)
        return sai_error_set(err, SAI_ESTATE, "TEE: no attester");
    if (sai_write_full(a->fd, rd, 64) != 0 || sai_read_full(a->fd, hdr, sizeof hdr) != 0)
        return sai_error_set(err, SAI_EIO, "TEE: the in-guest attester is gone");
    uint32_t st = get32be(hdr), n = get32be(hdr + 4);
    if ((st != REPLY_OK && st != REPLY_ERR) || n > SAI_EVIDENCE_MAX || (st == REPLY_ERR && n >= SAI_ERROR_MAX))
        return sai_error_set(err, SAI_EFORMAT, "TEE: malformed reply from the in-guest attester");
    char *b = malloc((size_t)n + 1);
    if (b == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (n > 0 && sai_read_full(a->fd, b, n) != 0) {
        free(b);
        return sai_error_set(err, SAI_EIO, "TEE: the in-guest attester is gone");
    }
    b[n] = '\0';
    if (st == REPLY_ERR) {
        int rc = sai_error_set(err, SAI_EIO, "TEE: %s", b);
        free(b);
        return rc;
    }
    *json = b;
    *len = n;
    return 0;
}

/* The launch binding, from a fresh report of the guest's own TEE. */
int sai_pipeline__cvm_launch_claims(sai_cvm_attester_t *a, sai_tee_kind_t kind, const uint8_t spec_hash[static 32],
                                    uint8_t measurement[static SAI_MEASUREMENT_LEN], bool *emulated,
                                    sai_error_t *err)
{
    uint8_t rd[64], bound[48];
    char *json = NULL;
    size_t len = 0;
    sai_evidence_t ev;
    bool ev_ok = false;
    const char *field = kind == SAI_TEE_TDX ? "MRCONFIGID" : "HOST_DATA";
    int rc = sai_random_bytes(rd, sizeof rd, err);
    if (rc == 0)
        rc = sai_pipeline__cvm_evidence(a, rd, &json, &len, err);
    if (rc == 0 && (rc = sai_evidence_parse(&ev, json, len, err)) == 0)
        ev_ok = true;
    if (rc)
        goto out;
    if (ev.tee != kind) {
        rc = sai_error_set(err, SAI_EAUTH, "TEE: asked for %s evidence, got %s", sai_tee_kind_name(kind),
                           sai_tee_kind_name(ev.tee) ? sai_tee_kind_name(ev.tee) : "?");
        goto out;
    }
    uint8_t got_rd[64];
    memset(bound, 0, sizeof bound);
    if (kind == SAI_TEE_SEV_SNP) {
        sai_snp_report_t r;
        if ((rc = sai_snp_report_parse(&r, ev.report, ev.report_len, err)) != 0) {
            sai_error_prefix(err, "TEE: the guest's report");
            goto out;
        }
        memcpy(bound, r.host_data, 32);
        memcpy(measurement, r.measurement, 48);
        memcpy(got_rd, r.report_data, 64);
    } else {
        sai_dcap_quote_t q;
        if ((rc = sai_dcap_quote_parse(ev.quote, ev.quote_len, &q, err)) != 0 || q.tee != SAI_DCAP_TDX) {
            rc = rc ? rc : sai_error_set(err, SAI_EFORMAT, "not a TDX quote");
            sai_error_prefix(err, "TEE: the guest's quote");
            goto out;
        }
        memcpy(bound, q.td.mrconfigid, 48);
        memcpy(measurement, q.td.mrtd, 48);
        memcpy(got_rd, q.td.report_data, 64);
    }
    if (!sai_ct_equal(got_rd, rd, 64)) {
        rc = sai_error_set(err, SAI_EAUTH, "TEE: the report does not carry the report data just asked for "
                           "(a recorded or another guest's report)");
        goto out;
    }
    /* HOST_DATA = SHA-256(spec); MRCONFIGID = SHA-256(spec) || 16 zero bytes. */
    static const uint8_t zero[16];
    bool ok = sai_ct_equal(bound, spec_hash, 32) && (kind != SAI_TEE_TDX || memcmp(bound + 32, zero, 16) == 0);
    if (!ok && !SAI_WEAKENED("spec_host_data")) {
        char h[17];
        sai_hex_encode(h, bound, 8);
        rc = sai_error_set(err, SAI_EAUTH, "the spec is not the one this guest was launched with: its SHA-256 "
                           "is not the report's %s (%s...), which the VMM set at launch", field, h);
        goto out;
    }
    sai_provenance_evidence_info_t info;
    if ((rc = sai_provenance_evidence_info_get(&info, (const uint8_t *)json, len, err)) != 0)
        goto out;
    *emulated = info.emulated;
out:
    if (ev_ok)
        sai_evidence_clear(&ev);
    free(json);
    return rc;
}

/* ---- the host half: start the enclave half in this guest ---------------- */

extern char **environ;

int sai_pipeline__cvm_spawn(int chan_fd, const char *tee_root, pid_t *pid_out, sai_error_t *err)
{
    /* Built before fork: the child only dup2s and execs. The environment is
     * this guest user's (inside the TEE, as the guest image is), with
     * OPENBLAS_NUM_THREADS=1 as the sim platform gives its enclaves (the
     * engine's threads come from HELLO). */
    char *argv[8];
    int ac = 0;
    argv[ac++] = (char *)"secureai";
    argv[ac++] = (char *)"run";
    argv[ac++] = (char *)"--enclave-fd";
    argv[ac++] = (char *)"3";
    argv[ac++] = (char *)"--cvm";
    if (tee_root != NULL) {
        argv[ac++] = (char *)"--tee-root";
        argv[ac++] = (char *)tee_root;
    }
    argv[ac] = NULL;
    size_t ne = 0;
    while (environ != NULL && environ[ne] != NULL)
        ne++;
    char **envp = calloc(ne + 2, sizeof *envp);
    if (envp == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    size_t k = 0;
    char *asan_opts = NULL;   /* sanitizer builds only */
    for (size_t i = 0; i < ne; i++) {
        if (strncmp(environ[i], "OPENBLAS_NUM_THREADS=", 21) == 0)
            continue;
#if defined(__SANITIZE_ADDRESS__)
        /* Sanitizer builds: leak checking off in the enclave half, as main.c
         * sets it for a sim enclave (LeakSanitizer's ptrace dies under the
         * filter); the caller's other options (e.g. verify_asan_link_order
         * for a preloaded emulator) stay. The last setting of an option wins. */
        if (strncmp(environ[i], "ASAN_OPTIONS=", 13) == 0 && asan_opts == NULL) {
            size_t n = strlen(environ[i]) + sizeof ":detect_leaks=0";
            if ((asan_opts = malloc(n)) != NULL) {
                snprintf(asan_opts, n, "%s:detect_leaks=0", environ[i]);
                envp[k++] = asan_opts;
                continue;
            }
        }
#endif
        envp[k++] = environ[i];
    }
    envp[k++] = (char *)"OPENBLAS_NUM_THREADS=1";
    envp[k] = NULL;
    int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (exe < 0) {
        free(envp);
        free(asan_opts);
        return sai_error_set(err, SAI_EIO, "cannot open /proc/self/exe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(exe);
        free(envp);
        free(asan_opts);
        return sai_error_set(err, SAI_EIO, "fork: %s", strerror(e));
    }
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || dup2(chan_fd, 3) != 3)
            _exit(127);
        fexecve(exe, argv, envp);
        _exit(127);
    }
    close(exe);
    free(envp);
    free(asan_opts);
    *pid_out = pid;
    return 0;
}

int sai_pipeline__cvm_wait(pid_t pid, int timeout_ms, int *status, sai_error_t *err)
{
    for (int waited = 0;; waited += 10) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return sai_error_set(err, SAI_EIO, "waitpid: %s", strerror(errno));
        if (timeout_ms >= 0 && waited >= timeout_ms)
            return sai_error_set(err, SAI_ESTATE, "the enclave did not exit within %d ms", timeout_ms);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}
