/*
 * test_dist_mpi.c — the MPI relay (docs/distributed.md): the same
 * handshake and frames inside MPI messages, moved by libsecureai-mpi.so,
 * the plugin an untrusted host loads with dlopen (libsecureai has no MPI). Run directly, the test starts
 * itself under `mpirun --oversubscribe -np N` (N = 2 and 3); each rank then
 * checks that the all-reduce equals the fixed-order average bit for bit
 * (and again on a repeat) and that a broadcast copies the root's bytes,
 * and exits non-zero with the error otherwise. Skipped when the build has
 * no MPI.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dist/dist_testutil.h"

static int rank_main(void)
{
    sai_error_t err = {0};
    sai_dist_comm_t *c = NULL;
    uint32_t r = 0, n = 0;
    const size_t len = 100003;
    float *v = malloc(len * sizeof *v), *ref = malloc(len * sizeof *ref), *first = malloc(len * sizeof *first);
    uint8_t bc[5000];
    int rc;
    sai_dist_relay_t *relay = NULL;
    int fds[2] = {-1, -1};
    /* as a host under mpirun does: the relay plugin forms the ring, the
     * worker (the enclave) joins over the two streams it hands over */
    if ((rc = sai_dist_mpi_relay_open(&relay, SAI_MPI_RELAY, &r, &n, fds, &err)))
        goto out;
    sai_dist_cfg_t cfg = {.group_secret = dt_secret, .rank = r, .world = n,
                          .timeout_ms = 20000, .chunk_bytes = 4096};
    memcpy(cfg.job_id, "test-job-mpi-001", SAI_DIST_JOB_ID_LEN);
    rc = sai_dist_comm_stream(&c, &cfg, fds[0], fds[1], &err);
    fds[0] = fds[1] = -1;
    if (rc)
        goto out;
    dt_reference(ref, len, (int)n);
    for (uint64_t step = 0; step < 2; step++) {
        for (size_t i = 0; i < len; i++)
            v[i] = dt_input((int)r, i);
        if ((rc = sai_dist_step_begin(c, step, &err)) ||
            (rc = sai_dist_allreduce_avg(c, v, len, &err)))
            goto out;
        if (memcmp(v, ref, len * sizeof *v) != 0) {
            rc = sai_error_set(&err, SAI_EINVAL, "step %llu: not the fixed-order average",
                               (unsigned long long)step);
            goto out;
        }
        if (step == 0)
            memcpy(first, v, len * sizeof *v);
        else if (memcmp(first, v, len * sizeof *v) != 0)
            rc = sai_error_set(&err, SAI_EINVAL, "the repeat gave other bits");
    }
    for (size_t i = 0; i < sizeof bc; i++)
        bc[i] = r == n - 1 ? (uint8_t)(i * 13 + 1) : 0;
    if ((rc = sai_dist_step_begin(c, 2, &err)) ||
        (rc = sai_dist_broadcast(c, n - 1, bc, sizeof bc, &err)))
        goto out;
    for (size_t i = 0; i < sizeof bc; i++)
        if (bc[i] != (uint8_t)(i * 13 + 1)) {
            rc = sai_error_set(&err, SAI_EINVAL, "broadcast byte %zu differs", i);
            break;
        }
out:
    if (rc)
        fprintf(stderr, "rank %u: %s\n", r, err.msg);
    else
        printf("rank %u of %u: all-reduce and broadcast exact\n", r, n);
    sai_dist_comm_free(c);
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    sai_error_t ignore = {0};
    if (sai_dist_relay_close(relay, 5000, &ignore) != 0 && rc == 0) {
        fprintf(stderr, "rank %u: relay: %s\n", r, ignore.msg);
        rc = SAI_ENET;
    }
    free(v);
    free(ref);
    free(first);
    return rc ? 1 : 0;
}

static void test_mpi_ring(void **state)
{
    (void)state;
    if (SAI_MPI_RELAY[0] == '\0' || SAI_MPIRUN[0] == '\0' || !sai_dist_mpi_available(SAI_MPI_RELAY))
        skip();
    char self[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(k > 0);
    self[k] = '\0';
    /* OpenMPI itself leaks from MPI_Init (its components are unloaded at
     * finalize, so LeakSanitizer cannot even name them); under `make asan`
     * the ranks run without leak detection. The same code paths run with
     * it in test_dist_ring (TCP). */
    const char *asan = getenv("ASAN_OPTIONS");
    char opts[1024];
    snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", asan ? asan : "", asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    for (int np = 2; np <= 3; np++) {
        char cmd[PATH_MAX + 256];
        /* root inside containers: mpirun refuses it without the flag */
        snprintf(cmd, sizeof cmd, "%s %s--oversubscribe -np %d '%s'", SAI_MPIRUN,
                 geteuid() == 0 ? "--allow-run-as-root " : "", np, self);
        int st = system(cmd);
        if (st != 0)
            fail_msg("%s: exit status %d", cmd, st);
    }
}

int main(void)
{
    if (getenv("OMPI_COMM_WORLD_SIZE") != NULL)
        return rank_main();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mpi_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
