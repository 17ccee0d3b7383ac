/*
 * relay.c — the host's side of an MPI job: load the MPI relay plugin
 * (libsecureai-mpi.so, src/dist/mpi/relay.c) with dlopen and run it in a
 * thread. libsecureai itself never links libmpi, so neither does the
 * enclave image (whose loader manifest is part of its measurement); the
 * plugin lives only in the untrusted host process and moves ciphertext.
 * Which file is loaded is the host's choice and needs no trust: a plugin
 * that misbehaves can only stop the job (docs/distributed.md).
 */
#include "dist/dist_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secureai/util.h"

struct sai_dist_relay {
    void      *dl;
    sai_dist__mpi_relay_init_fn     init;
    sai_dist__mpi_relay_pump_fn     pump;
    sai_dist__mpi_relay_finalize_fn finalize;
    pthread_t  th;
    bool       started;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    int        state;          /* 0 starting, 1 running, -1 failed */
    int        rank, size;
    int        host_fds[2];    /* the relay's ends of the two streams */
    volatile int stop;
    int        rc;
    char       msg[256];
};

static void *relay_main(void *arg)
{
    sai_dist_relay_t *r = arg;
    int rank = 0, size = 0;
    int rc = r->init(&rank, &size, r->msg, sizeof r->msg);
    pthread_mutex_lock(&r->mu);
    r->rank = rank;
    r->size = size;
    r->state = rc ? -1 : 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (rc == 0 && size > 1)
        rc = r->pump(r->host_fds, &r->stop, r->msg, sizeof r->msg);
    r->finalize();
    r->rc = rc;
    return NULL;
}

/* The plugin: $SECUREAI_MPI_RELAY, else next to this program, else the
 * loader's search path. */
static void *load_plugin(const char *path, char *tried, size_t cap)
{
    const char *env = getenv("SECUREAI_MPI_RELAY");
    char here[PATH_MAX];
    if (path == NULL && env != NULL && env[0] != '\0')
        path = env;
    if (path == NULL) {
        ssize_t k = readlink("/proc/self/exe", here, sizeof here - 1);
        if (k > 0) {
            here[k] = '\0';
            char *slash = strrchr(here, '/');
            if (slash != NULL && (size_t)(slash - here) + sizeof "/" SAI_DIST_MPI_RELAY_SO < sizeof here) {
                memcpy(slash + 1, SAI_DIST_MPI_RELAY_SO, sizeof SAI_DIST_MPI_RELAY_SO);
                void *dl = dlopen(here, RTLD_NOW | RTLD_GLOBAL);
                if (dl != NULL)
                    return dl;
            }
        }
        path = SAI_DIST_MPI_RELAY_SO;
    }
    void *dl = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (dl == NULL) {
        const char *e = dlerror();
        snprintf(tried, cap, "%s", e ? e : path);
    }
    return dl;
}

bool sai_dist_mpi_available(const char *plugin)
{
    char why[256];
    void *dl = load_plugin(plugin, why, sizeof why);
    return dl != NULL;   /* left loaded: OpenMPI does not support unloading libmpi */
}

int sai_dist_mpi_relay_open(sai_dist_relay_t **out, const char *plugin, uint32_t *rank,
                            uint32_t *world, int enclave_fds[2], sai_error_t *err)
{
    sai_dist_relay_t *r = NULL;
    int sv[2][2] = {{-1, -1}, {-1, -1}};
    int rc = 0;
    char why[256] = "";
    *out = NULL;
    enclave_fds[0] = enclave_fds[1] = -1;
    if ((r = calloc(1, sizeof *r)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->host_fds[0] = r->host_fds[1] = -1;
    if ((r->dl = load_plugin(plugin, why, sizeof why)) == NULL) {
        rc = sai_error_set(err, SAI_EUNSUPP, "no MPI relay (%s; built only when OpenMPI is found)",
                           why);
        goto out;
    }
    sai_dist__mpi_relay_abi_fn abi = (sai_dist__mpi_relay_abi_fn)dlsym(r->dl, "sai_dist__mpi_relay_abi");
    r->init = (sai_dist__mpi_relay_init_fn)dlsym(r->dl, "sai_dist__mpi_relay_init");
    r->pump = (sai_dist__mpi_relay_pump_fn)dlsym(r->dl, "sai_dist__mpi_relay_pump");
    r->finalize = (sai_dist__mpi_relay_finalize_fn)dlsym(r->dl, "sai_dist__mpi_relay_finalize");
    if (abi == NULL || r->init == NULL || r->pump == NULL || r->finalize == NULL ||
        abi() != SAI_DIST_MPI_RELAY_ABI) {
        rc = sai_error_set(err, SAI_EUNSUPP, "the MPI relay plugin is not of this version");
        goto out;
    }
    for (int i = 0; i < 2; i++)
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]) != 0) {
            rc = sai_error_set(err, SAI_EIO, "socketpair: %s", strerror(errno));
            goto out;
        }
    r->host_fds[0] = sv[0][0];
    r->host_fds[1] = sv[1][0];
    for (int i = 0; i < 2; i++) {   /* the pump polls both: it must never block on one */
        int fl = fcntl(r->host_fds[i], F_GETFL);
        if (fl < 0 || fcntl(r->host_fds[i], F_SETFL, fl | O_NONBLOCK) < 0) {
            rc = sai_error_set(err, SAI_EIO, "fcntl: %s", strerror(errno));
            goto out;
        }
    }
    if (pthread_create(&r->th, NULL, relay_main, r) != 0) {
        rc = sai_error_set(err, SAI_EIO, "cannot start the MPI relay thread");
        goto out;
    }
    r->started = true;
    pthread_mutex_lock(&r->mu);
    while (r->state == 0)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    if (r->state < 0) {
        rc = sai_error_set(err, SAI_ENET, "MPI: %s", r->msg);
        goto out;
    }
    *rank = (uint32_t)r->rank;
    *world = (uint32_t)r->size;
    enclave_fds[0] = sv[0][1];
    enclave_fds[1] = sv[1][1];
    sv[0][1] = sv[1][1] = -1;
    *out = r;
    r = NULL;
out:
    for (int i = 0; i < 2; i++)
        if (sv[i][1] >= 0)
            close(sv[i][1]);
    if (r != NULL) {
        sai_error_t ignore = {0};
        (void)sai_dist_relay_close(r, 0, &ignore);
    }
    return rc;
}

int sai_dist_relay_close(sai_dist_relay_t *r, int grace_ms, sai_error_t *err)
{
    if (r == NULL)
        return 0;
    int rc = 0;
    if (r->started) {
        /* The enclave has closed its ends; the pump ends once the peers'
         * streams have ended too, or at the grace deadline. */
        double deadline = sai_now() + grace_ms / 1000.0;
        while (sai_now() < deadline) {
            if (pthread_tryjoin_np(r->th, NULL) == 0) {
                r->started = false;
                break;
            }
            usleep(2000);
        }
        if (r->started) {
            r->stop = 1;
            pthread_join(r->th, NULL);
        }
        if (r->rc != 0)
            rc = sai_error_set(err, SAI_ENET, "%s", r->msg);
    }
    for (int i = 0; i < 2; i++)
        if (r->host_fds[i] >= 0)
            close(r->host_fds[i]);
    /* the plugin stays loaded: OpenMPI does not support unloading libmpi */
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
    return rc;
}
