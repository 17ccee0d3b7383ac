/*
 * sandbox.c — hardening of the enclave process under the `sim` TEE.
 *
 * The sim TEE has no hardware memory protection, so what it can honestly
 * offer is the OpenSSH-privsep kind of isolation: the process that will hold
 * the dataset and model keys shrinks what it can do before any key arrives.
 *
 *   - PR_SET_DUMPABLE 0: no ptrace attach and no /proc/<pid>/mem for
 *     processes without CAP_SYS_PTRACE, and no core file;
 *   - RLIMIT_CORE 0/0: no core dumps even if something re-enables dumping;
 *   - every capability dropped (a root-launched enclave keeps no
 *     DAC override, no ptrace, no raw I/O) and PR_SET_NO_NEW_PRIVS;
 *   - a seccomp allow-list (libseccomp): unlisted calls fail with EPERM;
 *     open/openat/openat2/creat fail with EACCES (the enclave only uses the
 *     descriptors the host handed over); execve, ptrace, process_vm_*,
 *     mount, bpf, keyctl and friends kill the process; socket() is limited
 *     to AF_INET/AF_INET6 (no AF_UNIX path connects), prctl cannot turn
 *     dumping back on, prlimit can only read.
 *
 * Keys live in sai_secret_t buffers (locked, MADV_DONTDUMP, wiped on free;
 * src/crypto/secret.c), which keep working under the filter (mlock, madvise,
 * munmap are allowed).
 *
 * The policy text below is part of the launch measurement (measure.c), so a
 * looser sandbox is a different enclave and gets no key.
 * Tests: tests/pipeline/test_sandbox.c.
 */
#include "secureai/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Allowed without conditions. Kept sorted by purpose, not alphabetically. */
static const char *const allow_plain[] = {
    /* I/O on descriptors the enclave already has */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "lseek",
    "close", "fcntl", "dup", "dup3", "fstat", "fsync", "fdatasync",
    /* memory */
    "mmap", "munmap", "mprotect", "mremap", "brk", "madvise", "mlock", "munlock", "mincore",
    /* threads, time, signals */
    "futex", "set_robust_list", "get_robust_list", "rseq", "gettid", "getpid", "getppid",
    "getuid", "geteuid", "getgid", "getegid", "exit", "exit_group", "rt_sigaction",
    "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "tgkill", "clock_gettime", "clock_getres",
    "clock_nanosleep", "nanosleep", "gettimeofday", "getrandom", "sched_yield",
    "sched_getaffinity", "membarrier", "uname", "sysinfo", "restart_syscall", "getrusage",
    /* the host channel and the KBS connection */
    "recvmsg", "sendmsg", "recvfrom", "sendto", "connect", "shutdown", "getsockopt",
    "setsockopt", "getsockname", "getpeername", "poll", "ppoll", "select", "pselect6",
    "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "pipe2", "eventfd2",
    /* stacking a stricter filter later (sai_sandbox_no_network); a filter
     * can only take permissions away */
    "seccomp",
};

/* Fail with EACCES: file-system access by name. */
static const char *const deny_fs[] = {
    "open", "openat", "openat2", "creat", "stat", "lstat", "access", "faccessat", "faccessat2",
    "readlink", "readlinkat", "chdir", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "mkdir", "mkdirat", "rmdir", "link", "linkat", "symlink", "symlinkat", "truncate",
    "chmod", "fchmodat", "chown", "fchownat", "statfs", "getdents64", "memfd_create",
};

/* Kill the process: no legitimate enclave code path reaches these. */
static const char *const kill_list[] = {
    "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "mount",
    "umount2", "pivot_root", "chroot", "bpf", "perf_event_open", "userfaultfd", "keyctl",
    "add_key", "request_key", "kexec_load", "init_module", "finit_module", "delete_module",
    "open_by_handle_at", "name_to_handle_at", "setns", "unshare", "personality",
    "io_uring_setup", "fork", "vfork",
};

const char *sai_sandbox_policy_text(void)
{
    /* Changing this text changes every launch measurement: on purpose. */
    return "secureai sandbox v1\n"
           "dumpable=0 core=0 no_new_privs=1 caps=none\n"
           "default=errno(EPERM)\n"
           "allow=io,memory,threads,time,signals,sockets(AF_INET,AF_INET6),seccomp(stricter filters)\n"
           "errno(EACCES)=open,openat,openat2,creat,stat,access,readlink,unlink,rename,mkdir,...\n"
           "kill=execve,execveat,ptrace,process_vm_readv,process_vm_writev,mount,bpf,keyctl,...\n"
           "conditional=newfstatat(AT_EMPTY_PATH),clone(CLONE_THREAD),clone3->ENOSYS,"
           "prctl(PR_SET_NAME|PR_GET_*),prlimit64(get)\n";
}

static int drop_caps(sai_error_t *err)
{
    /* Bounding set first (needs CAP_SETPCAP, which a root process has;
     * EINVAL past the last cap ends the loop), then every set to zero. */
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL)
            break;
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) != 0)
        return sai_error_set(err, SAI_EIO, "cannot drop capabilities: %s", strerror(errno));
    return 0;
}

int sai_sandbox_harden_process(sai_sandbox_status_t *st, sai_error_t *err)
{
    sai_sandbox_status_t local;
    if (st == NULL)
        st = &local;
    memset(st, 0, sizeof *st);
    struct rlimit rl = {0, 0};
    if (setrlimit(RLIMIT_CORE, &rl) != 0)
        return sai_error_set(err, SAI_EIO, "cannot disable core dumps: %s", strerror(errno));
    st->core_off = true;
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
        return sai_error_set(err, SAI_EIO, "cannot make the process non-dumpable: %s", strerror(errno));
    st->dumpable_off = true;
    int rc = drop_caps(err);
    if (rc)
        return rc;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return sai_error_set(err, SAI_EIO, "cannot set no_new_privs: %s", strerror(errno));
    st->no_new_privs = true;
    return 0;
}

#define ADD(ctx, act, name, ...)                                                       \
    do {                                                                               \
        int nr_ = seccomp_syscall_resolve_name(name);                                  \
        if (nr_ != __NR_SCMP_ERROR && (rc = seccomp_rule_add(ctx, act, nr_, __VA_ARGS__)) < 0) \
            goto out;                                                                  \
    } while (0)

/* Load ctx into the kernel and release it; what names the filter in errors. */
static int load_filter(scmp_filter_ctx ctx, int rc, const char *what, sai_error_t *err)
{
    if (rc >= 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc < 0)
        return sai_error_set(err, SAI_EIO, "cannot install the %s: %s", what, strerror(-rc));
    return 0;
}

static int install_seccomp(sai_error_t *err)
{
    int rc = 0;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (ctx == NULL)
        return sai_error_set(err, SAI_ENOMEM, "cannot create a seccomp filter");
    for (size_t i = 0; i < sizeof allow_plain / sizeof allow_plain[0]; i++)
        ADD(ctx, SCMP_ACT_ALLOW, allow_plain[i], 0);
    for (size_t i = 0; i < sizeof deny_fs / sizeof deny_fs[0]; i++)
        ADD(ctx, SCMP_ACT_ERRNO(EACCES), deny_fs[i], 0);
    for (size_t i = 0; i < sizeof kill_list / sizeof kill_list[0]; i++)
        ADD(ctx, SCMP_ACT_KILL_PROCESS, kill_list[i], 0);
    /* fstat(fd) is newfstatat(fd, "", AT_EMPTY_PATH) in glibc >= 2.33; a
     * path lookup (no AT_EMPTY_PATH) is file-system access. */
    ADD(ctx, SCMP_ACT_ALLOW, "newfstatat", 1, SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
    ADD(ctx, SCMP_ACT_ERRNO(EACCES), "newfstatat", 1, SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, 0));
    ADD(ctx, SCMP_ACT_ALLOW, "statx", 1, SCMP_A2(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
    ADD(ctx, SCMP_ACT_ERRNO(EACCES), "statx", 1, SCMP_A2(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, 0));
    /* Threads only: clone without CLONE_THREAD would be fork. clone3 takes
     * its flags in memory the filter cannot see; ENOSYS makes glibc fall
     * back to clone. */
    ADD(ctx, SCMP_ACT_ALLOW, "clone", 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    ADD(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0);
    ADD(ctx, SCMP_ACT_ALLOW, "socket", 1, SCMP_A0(SCMP_CMP_EQ, AF_INET, 0));
    ADD(ctx, SCMP_ACT_ALLOW, "socket", 1, SCMP_A0(SCMP_CMP_EQ, AF_INET6, 0));
    ADD(ctx, SCMP_ACT_ALLOW, "prctl", 1, SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME, 0));
    ADD(ctx, SCMP_ACT_ALLOW, "prctl", 1, SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME, 0));
    ADD(ctx, SCMP_ACT_ALLOW, "prctl", 1, SCMP_A0(SCMP_CMP_EQ, PR_GET_DUMPABLE, 0));
    ADD(ctx, SCMP_ACT_ALLOW, "prlimit64", 1, SCMP_A2(SCMP_CMP_EQ, 0, 0));
    ADD(ctx, SCMP_ACT_ALLOW, "getrlimit", 0);
out:
    return load_filter(ctx, rc, "seccomp filter", err);
}

/* A second filter on top of the first (filters stack; the strictest
 * answer wins): no new socket, no connect, bind, listen or accept. Sockets
 * the enclave already holds (the host channel, the PSP socket) keep
 * working; a compromised decoder can no longer dial anywhere. */
int sai_sandbox_no_network(sai_error_t *err)
{
    static const char *const net[] = {"socket", "socketpair", "connect", "bind", "listen", "accept",
                                      "accept4"};
    int rc = 0;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL)
        return sai_error_set(err, SAI_ENOMEM, "cannot create a seccomp filter");
    /* no_new_privs is already set, and the first filter refuses the prctl
     * libseccomp would otherwise make to set it again */
    if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0)
        goto out;
    for (size_t i = 0; i < sizeof net / sizeof net[0]; i++)
        ADD(ctx, SCMP_ACT_ERRNO(EACCES), net[i], 0);
out:
    return load_filter(ctx, rc, "no-network filter", err);
}

int sai_sandbox_harden(sai_sandbox_status_t *st, sai_error_t *err)
{
    sai_sandbox_status_t local;
    if (st == NULL)
        st = &local;
    int rc = sai_sandbox_harden_process(st, err);
    if (rc)
        return rc;
    if ((rc = install_seccomp(err)))
        return rc;
    st->seccomp = true;
    return 0;
}
