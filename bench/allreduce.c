/*
 * allreduce.c — encrypted vs unencrypted ring all-reduce over loopback, in
 * the same run: N forked workers (default 2), a ResNet-18-sized gradient
 * (11.2 M floats, 44.8 MB), the same ring and framing with and without
 * AES-256-GCM (the plaintext mode exists for this comparison only).
 * Prints each mode's best time, bus bandwidth and CPU time, the ratio
 * (plaintext time / encrypted time; goal >= 0.85) and the AES-GCM share of
 * the encrypted all-reduce's time on worker 0, and, when the workers have no
 * core to spare, the ceiling their CPU time puts on the ratio. In the same
 * run, alternated with the two ring modes: the encrypted parameter-server
 * all-reduce (mesh, S = N servers co-located with the workers, same gradient
 * and frames), and its time over the encrypted ring's.
 *
 *   build/bench/allreduce [workers [floats [reps [chunk KiB]]]]
 *                                          (2, 11200000, 5, 1024 = the library default)
 *
 * Run it alone: flock /work/bench.lock build/bench/allreduce. Loopback
 * makes the "network" a memory copy by the kernel, so this is the worst
 * case for the crypto's share; a real link is slower and hides more of it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secureai/dist.h"
#include "secureai/util.h"

#define MAXW 16
#define MAXREPS 20

typedef struct shared {
    int    rc;
    char   msg[SAI_ERROR_MAX];
    double t[3][MAXREPS];        /* [ring plaintext, ring encrypted, PS encrypted][rep]
                                  * on worker 0 */
    double cpu[3];               /* CPU seconds (user + system) per mode, worker 0, all reps */
    double crypto_s, total_s;    /* encrypted ring's stats, worker 0 */
    double ps_crypto_s, ps_total_s;
    double crypto_bytes;         /* payload bytes sealed + opened there */
} shared;

/* this process's CPU time, every thread, user + system */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static const uint8_t secret[SAI_DIST_SECRET_LEN] = "bench-group-secret-0123456789ab";

int main(int argc, char **argv)
{
    int N = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 2;
    size_t n = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 11200000;
    int reps = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 5;
    size_t chunk = (argc > 4 ? (size_t)strtoull(argv[4], NULL, 10) : SAI_DIST_DEFAULT_CHUNK / 1024) * 1024;
    if (N < 2 || N > MAXW || reps < 1 || reps > MAXREPS || n == 0) {
        fprintf(stderr, "usage: allreduce [workers 2..%d [floats [reps 1..%d]]]\n", MAXW, MAXREPS);
        return 2;
    }
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    int lfd[3][MAXW];
    uint16_t port[3][MAXW];
    for (int m = 0; m < 3; m++)
        for (int r = 0; r < N; r++) {
            sai_error_t err = {0};
            port[m][r] = 0;
            if (sai_dist_tcp_listen(&lfd[m][r], "127.0.0.1", &port[m][r], &err)) {
                fprintf(stderr, "allreduce: %s\n", err.msg);
                return 1;
            }
        }
    pid_t pid[MAXW];
    fflush(NULL);
    for (int r = 0; r < N; r++) {
        if ((pid[r] = fork()) != 0)
            continue;
        sai_error_t err = {0};
        sai_dist_comm_t *c[3] = {NULL, NULL, NULL};
        float *v = malloc(n * sizeof *v);
        int rc = v == NULL ? SAI_ENOMEM : 0;
        for (int m = 0; m < 3; m++)
            for (int q = 0; q < N; q++)
                if (q != r)
                    close(lfd[m][q]);
        for (int m = 0; m < 3 && rc == 0; m++) {
            sai_dist_cfg_t cfg = {.group_secret = secret, .rank = (uint32_t)r,
                                  .world = (uint32_t)N, .timeout_ms = 120000, .chunk_bytes = chunk,
                                  .insecure_plaintext = (m == 0)};
            memcpy(cfg.job_id, "bench-allreduce", SAI_DIST_JOB_ID_LEN);
            if (m < 2) {
                rc = sai_dist_comm_tcp(&c[m], &cfg, lfd[m][r], "127.0.0.1",
                                       port[m][(r + 1) % N], &err);
            } else {
                cfg.algorithm = SAI_DIST_PS;   /* servers = N */
                rc = sai_dist_comm_mesh_tcp(&c[m], &cfg, lfd[m][r], NULL, port[m], &err);
            }
        }
        for (size_t i = 0; i < n && rc == 0; i++)
            v[i] = (float)((i * 2654435761u + (size_t)r) % 1000) * 1e-3f;
        /* a warm-up step each, then alternate the modes so drift in the
         * machine's load hits both alike */
        for (int k = -1; k < reps && rc == 0; k++)
            for (int m = 0; m < 3 && rc == 0; m++) {
                if ((rc = sai_dist_step_begin(c[m], (uint64_t)(k + 1), &err)))
                    break;
                double t0 = sai_now(), u0 = cpu_seconds();
                rc = sai_dist_allreduce_avg(c[m], v, n, &err);
                if (r == 0 && k >= 0) {
                    sh->t[m][k] = sai_now() - t0;
                    sh->cpu[m] += cpu_seconds() - u0;
                }
            }
        if (r == 0) {
            sai_dist_stats_t st;
            if (c[1] != NULL) {
                sai_dist_comm_stats(c[1], &st);
                sh->crypto_s = st.crypto_seconds;
                sh->total_s = st.total_seconds;
                sh->crypto_bytes = (double)(st.bytes_sent + st.bytes_received);
            }
            if (c[2] != NULL) {
                sai_dist_comm_stats(c[2], &st);
                sh->ps_crypto_s = st.crypto_seconds;
                sh->ps_total_s = st.total_seconds;
            }
            sh->rc = rc;
            snprintf(sh->msg, sizeof sh->msg, "%s", err.msg);
        } else if (rc) {
            fprintf(stderr, "allreduce: worker %d: %s\n", r, err.msg);
        }
        sai_dist_comm_free(c[0]);
        sai_dist_comm_free(c[1]);
        sai_dist_comm_free(c[2]);
        free(v);
        _exit(rc ? 1 : 0);
    }
    for (int m = 0; m < 3; m++)
        for (int r = 0; r < N; r++)
            close(lfd[m][r]);
    int bad = 0;
    for (int r = 0; r < N; r++) {
        int st;
        waitpid(pid[r], &st, 0);
        bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    if (bad || sh->rc) {
        fprintf(stderr, "allreduce: failed: %s\n", sh->msg);
        return 1;
    }
    double best[3] = {1e30, 1e30, 1e30};
    for (int m = 0; m < 3; m++)
        for (int k = 0; k < reps; k++)
            if (sh->t[m][k] < best[m])
                best[m] = sh->t[m][k];
    /* bus bandwidth as NCCL defines it: 2(N-1)/N * bytes / time */
    double bytes = (double)n * sizeof(float), bus = 2.0 * (N - 1) / N * bytes;
    printf("ring all-reduce of %zu floats (%.1f MB), %d workers, %zu KiB frames, loopback, "
           "best of %d\n", n, bytes / 1e6, N, chunk / 1024, reps);
    for (int m = 0; m < 2; m++)
        printf("  %-10s %8.1f ms  %6.2f GB/s bus  worker 0's CPU %5.1f ms per all-reduce\n",
               m ? "AES-GCM" : "plaintext", best[m] * 1e3, bus / best[m] / 1e9, sh->cpu[m] / reps * 1e3);
    printf("  ratio (encrypted throughput / plaintext) %.3f  (goal >= 0.85)\n", best[0] / best[1]);
    printf("  AES-GCM share of the encrypted all-reduce's time (worker 0, all reps) %.1f%%\n",
           100.0 * sh->crypto_s / sh->total_s);
    /* Every worker runs its collective on one thread. With no core to
     * spare (cores <= workers) and the plaintext run CPU-bound, wall time
     * goes as CPU time: overlapping seal, send, receive and open (threads)
     * cannot lift the ratio above the CPU-time ratio, only cheaper crypto
     * can. Other load breaks the bound (a plaintext rep that waited for a
     * core counts as slow): read it on an otherwise idle machine. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > 0 && cores <= N)
        printf("  CPU time ratio (plaintext / encrypted) %.3f: with %ld cores for %d workers, none to spare, "
               "and nothing else running, the throughput ratio cannot exceed it by overlapping\n", sh->cpu[0] / sh->cpu[1], cores, N);
    /* measured per-byte cost, for the link model in docs/distributed.md:
     * crypto hides behind a link slower than this when overlapped */
    printf("  AES-GCM speed inside the all-reduce (seal + open, one core) %.2f GB/s = %.2f Gb/s\n",
           sh->crypto_bytes / sh->crypto_s / 1e9, 8 * sh->crypto_bytes / sh->crypto_s / 1e9);
    /* the same bytes per worker as the ring: 2(N-1)/N of the gradient */
    printf("parameter server (mesh, %d servers co-located, AES-GCM), same run and gradient\n", N);
    printf("  PS AES-GCM %8.1f ms  %6.2f GB/s bus  worker 0's CPU %5.1f ms per all-reduce\n",
           best[2] * 1e3, bus / best[2] / 1e9, sh->cpu[2] / reps * 1e3);
    printf("  ratio PS time / ring time (both AES-GCM) %.3f  (< 1: PS faster)\n",
           best[2] / best[1]);
    printf("  AES-GCM share of the PS all-reduce's time (worker 0, all reps) %.1f%%\n",
           100.0 * sh->ps_crypto_s / sh->ps_total_s);
    munmap(sh, sizeof *sh);
    return 0;
}
