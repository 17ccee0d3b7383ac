/*
 * serve_host.c — the untrusted host side of `secureai serve` (docs/serving.md).
 *
 * Who holds the socket: the host. It listens and accepts, and hands every
 * accepted descriptor to the enclave over the channel (SERVE_CONN, the way
 * SHARD_FDS hands over files); the enclave runs TLS 1.3 on it with a key
 * that never left it. The enclave thereby keeps its no-network sandbox
 * (it cannot open, bind or accept a socket), and the host sees only
 * ciphertext: it can drop, delay or refuse connections (deny service),
 * never read or forge a request or a prediction, because the client
 * checks the enclave's evidence in the handshake.
 *
 * Launch as for a run (host.c): the platform measures this spec (stages:
 * [serve], so a serving enclave is its own measurement) and launches the
 * enclave; HELLO, READY; then SERVE with the sealed model's descriptor.
 */
#include "pipeline/pipeline_internal.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secureai/crypto.h"
#include "secureai/nn.h"
#include "secureai/serve.h"
#include "secureai/tee.h"
#include "secureai/util.h"

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int listen_on(const char *spec, int *out, int *port, sai_error_t *err)
{
    char host[128];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || (size_t)(colon - spec) >= sizeof host)
        return sai_error_set(err, SAI_EINVAL, "--listen %s: not ADDR:PORT", spec);
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || p < 0 || p > 65535)
        return sai_error_set(err, SAI_EINVAL, "--listen %s: bad port", spec);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        host[hl - 1] = '\0';
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)p);
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
            return sai_error_set(err, SAI_EINVAL, "--listen %s: bad IPv6 address", spec);
        sl = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)p);
        if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &a->sin_addr) != 1)
            return sai_error_set(err, SAI_EINVAL, "--listen %s: bad IPv4 address (names are not resolved)", spec);
        sl = sizeof *a;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return sai_error_set(err, SAI_ENET, "cannot listen on %s: %s", spec, strerror(e));
    }
    sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    *out = fd;
    return 0;
}

static int open_ro(const char *path, const char *what, int *fd, sai_error_t *err)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (*fd < 0)
        return sai_error_set(err, SAI_EIO, "%s %s: %s", what, path, strerror(errno));
    return 0;
}

static char *limits_json(const sai_pipeline_serve_opts_t *o)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "max_body", (double)o->limits.max_body);
    cJSON_AddNumberToObject(j, "max_conns", o->limits.max_conns);
    cJSON_AddNumberToObject(j, "head_timeout_ms", o->limits.head_timeout_ms);
    cJSON_AddNumberToObject(j, "body_timeout_ms", o->limits.body_timeout_ms);
    cJSON_AddNumberToObject(j, "idle_timeout_ms", o->limits.idle_timeout_ms);
    cJSON_AddNumberToObject(j, "max_images", o->limits.max_images);
    cJSON_AddNumberToObject(j, "max_batch", o->max_batch);
    cJSON_AddNumberToObject(j, "batch_wait_ms", o->batch_wait_ms);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* ---- --plain-checkpoint: the same server without a TEE (bench/test only) ------ */

/* What the certificate carries instead of evidence: src/attest cannot parse
 * it, so no serving policy accepts this server. */
static int plain_evidence(void *ctx, const uint8_t rd[64], char **json, size_t *len, sai_error_t *err)
{
    static const char e[] = "{\"tee\":\"none\",\"note\":\"plain: no TEE, nothing attested (bench only)\"}";
    if ((*json = strdup(e)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    *len = sizeof e - 1;
    return 0;
}

/* The isolation of the TEE's cost in bench/serve: the enclave's server code
 * (model, batcher, TLS 1.3, HTTP, limits) run in this process on the
 * connections it accepts itself: no enclave launch, no KBS, no sealed
 * model, no descriptor passing, no sandbox. */
static int serve_plain(const sai_pipeline_serve_opts_t *o, sai_error_t *err)
{
    uint8_t *ckpt = NULL;
    size_t ckpt_len = 0;
    sai_serve_t *srv = NULL;
    int lfd = -1, port = 0;
    sai_serve_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    int rc = sai_read_file(o->plain_checkpoint, (size_t)SAI_NN_CKPT_MAX, &ckpt, &ckpt_len, err);
    if (rc)
        return rc;
    sai_nn_set_threads(o->run.threads);
    if ((rc = sai_hash(SAI_SHA256, cfg.model_sha256, ckpt, ckpt_len, err)))
        goto out;
    cfg.ckpt = ckpt;
    cfg.ckpt_len = ckpt_len;
    cfg.tee = "none";
    cfg.evidence = plain_evidence;
    cfg.limits = o->limits;
    cfg.max_batch = o->max_batch;
    cfg.batch_wait_ms = o->batch_wait_ms;
    rc = sai_serve_new(&srv, &cfg, err);
    sai_wipe(ckpt, ckpt_len);   /* the model lives in the engine now */
    free(ckpt);
    ckpt = NULL;
    if (rc || (rc = listen_on(o->listen ? o->listen : "127.0.0.1:8443", &lfd, &port, err)))
        goto out;
    if (o->port_file != NULL) {
        char pt[16];
        snprintf(pt, sizeof pt, "%d\n", port);
        if ((rc = sai_write_file_atomic(o->port_file, pt, strlen(pt), 0644, false, err)))
            goto out;
    }
    if (!o->run.quiet)
        fprintf(stderr, "secureai: PLAIN (no TEE, nothing attested; bench only): serving %s on port %d\n",
                o->plain_checkpoint, port);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!stop_flag) {
        struct pollfd pf = {lfd, POLLIN, 0};
        if (poll(&pf, 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            rc = sai_error_set(err, SAI_EIO, "poll: %s", strerror(errno));
            break;
        }
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd >= 0 && (rc = sai_serve_conn(srv, cfd, err)))
            break;
    }
out:
    if (lfd >= 0)
        close(lfd);
    sai_serve_free(srv);
    if (ckpt != NULL) {
        sai_wipe(ckpt, ckpt_len);
        free(ckpt);
    }
    return rc;
}

int sai_pipeline_serve(const sai_pipeline_serve_opts_t *o, sai_error_t *err)
{
    sai_pipeline_spec_t *spec = NULL;
    char *canon = NULL, *hello = NULL, *lim = NULL;
    uint8_t *ca = NULL, *d = NULL;
    size_t canon_len = 0, ca_len = 0, hello_len = 0, n = 0;
    int fds[2] = {-1, -1}, lfd = -1, port = 0;
    size_t nfds = 0;
    sai_chan_t hc = {.fd = -1}, ec = {.fd = -1};
    sai_sim_conn_t plat = {.fd = -1, .local_pid = -1};
    sai_sim_launched_t launched;
    bool running = false;
    char path[4200];
    int rc;
    if (o->plain_checkpoint != NULL)
        return serve_plain(o, err);
    if ((rc = sai_pipeline_spec_load(&spec, o->run.spec_path, err)))
        return rc;
    if (spec->stages != SAI_STAGE_SERVE) {
        rc = sai_error_set(err, SAI_EINVAL, "%s: a serving spec says stages: [serve] (docs/serving.md)",
                           o->run.spec_path);
        goto out;
    }
    if (strcmp(spec->tee, "sim") != 0) {
        rc = sai_error_set(err, SAI_EUNSUPP, "TEE '%s': `secureai serve` launches sim enclaves only for now",
                           spec->tee);
        goto out;
    }
    const char *kbs_url = o->run.kbs_url ? o->run.kbs_url : spec->kbs.url;
    if (kbs_url == NULL) {
        rc = sai_error_set(err, SAI_EINVAL, "no KBS URL (kbs.url or --kbs)");
        goto out;
    }
    /* The measured bytes (with the CA's hash), and the CA itself for HELLO. */
    if ((rc = sai_pipeline_canonical_spec(&o->run, &canon, &canon_len, err)))
        goto out;
    if (spec->kbs.ca != NULL && (rc = sai_read_file(spec->kbs.ca, SAI_PIPELINE_CA_MAX, &ca, &ca_len, err))) {
        sai_error_prefix(err, "kbs.ca %s", spec->kbs.ca);
        goto out;
    }
    const char *dir = o->run.out_dir ? o->run.out_dir : spec->outputs.dir;
    if (o->model_path == NULL && dir == NULL) {
        rc = sai_error_set(err, SAI_EINVAL, "where is the sealed model? (--model, or outputs.dir)");
        goto out;
    }
    if (o->model_path)
        snprintf(path, sizeof path, "%s", o->model_path);
    else
        snprintf(path, sizeof path, "%s/%s", dir, spec->outputs.model_name);
    if ((rc = open_ro(path, "sealed model", &fds[0], err)))
        goto out;
    nfds = 1;
    if (o->provenance_path != NULL) {
        if ((rc = open_ro(o->provenance_path, "provenance statement", &fds[1], err)))
            goto out;
        nfds = 2;
    } else if (dir != NULL) {
        snprintf(path, sizeof path, "%s/provenance.json", dir);
        if ((fds[1] = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0)
            nfds = 2;
    }
    sai_sim_connect_opts_t co = {.socket_path = o->run.platform_socket, .insecure_dev = o->run.insecure_dev,
                                 .enclave_image = o->run.enclave_binary};
    if ((rc = sai_sim_connect(&plat, &co, err)) || (rc = sai_chan_pair(&hc, &ec, err)) ||
        (rc = sai_sim_launch_enclave(&plat, canon, canon_len, ec.fd, &launched, err)))
        goto out;
    running = true;
    sai_chan_close(&ec);
    sai_proto_hello_t hl = {.spec = canon, .spec_len = canon_len, .kbs_url = (char *)kbs_url,
                            .kbs_ca = (char *)ca, .kbs_ca_len = ca_len, .threads = o->run.threads};
    sai_sandbox_status_t ready;
    if ((lim = limits_json(o)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = sai_pipeline__proto_hello_encode(&hl, &hello, &hello_len, err)) ||
        (rc = sai_chan_send(&hc, SAI_MSG_HELLO, hello, hello_len, NULL, 0, err)) ||
        (rc = sai_chan_recv(&hc, SAI_MSG_READY, &d, &n, 4096, NULL, 0, NULL, err)) ||
        (rc = sai_pipeline__proto_ready_decode(&ready, d, n, err)) ||
        (rc = sai_chan_send(&hc, SAI_MSG_SERVE, lim, strlen(lim), fds, nfds, err)))
        goto enclave_err;
    free(d);
    d = NULL;
    if ((rc = sai_chan_recv(&hc, SAI_MSG_SERVING, &d, &n, 4096, NULL, 0, NULL, err)))
        goto enclave_err;
    if ((rc = listen_on(o->listen ? o->listen : "127.0.0.1:8443", &lfd, &port, err)))
        goto out;
    if (o->port_file != NULL) {
        char pt[16];
        snprintf(pt, sizeof pt, "%d\n", port);
        if ((rc = sai_write_file_atomic(o->port_file, pt, strlen(pt), 0644, false, err)))
            goto out;
    }
    if (!o->run.quiet) {
        char mh[97];
        sai_hex_encode(mh, launched.measurement, 48);
        fprintf(stderr, "secureai: serving on port %d: %s (measurement %s)\n", port, (const char *)d, mh);
        if (launched.insecure_dev)
            fprintf(stderr, "secureai: INSECURE-DEV: you hold the platform key; clients that check the "
                    "evidence will see it\n");
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;   /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!stop_flag) {
        struct pollfd pf[2] = {{lfd, POLLIN, 0}, {hc.fd, POLLIN, 0}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            rc = sai_error_set(err, SAI_EIO, "poll: %s", strerror(errno));
            break;
        }
        if (pf[1].revents) {
            /* The enclave says something only when it fails. */
            free(d);
            d = NULL;
            rc = sai_chan_recv(&hc, SAI_MSG_SERVING, &d, &n, 4096, NULL, 0, NULL, err);
            if (rc == 0)
                rc = sai_error_set(err, SAI_EFORMAT, "enclave: SERVING twice");
            goto enclave_err;
        }
        if (pf[0].revents & POLLIN) {
            int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (cfd < 0)
                continue;   /* ECONNABORTED, EMFILE...: the next one may work */
            rc = sai_chan_send(&hc, SAI_MSG_SERVE_CONN, "c", 1, &cfd, 1, err);
            close(cfd);
            if (rc)
                goto enclave_err;
        }
    }
    rc = 0;
    goto out;
enclave_err:
    if (rc == SAI_ESTATE)   /* the enclave's own sentence */
        sai_error_prefix(err, "enclave");
out:
    free(d);
    free(hello);
    free(lim);
    free(canon);
    free(ca);
    if (lfd >= 0)
        close(lfd);
    for (size_t i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    sai_chan_close(&hc);   /* the enclave's "stop": it finishes what it serves and exits */
    sai_chan_close(&ec);
    if (running) {
        int st;
        sai_error_t ignore = {0};
        (void)!sai_sim_wait_exit(&plat, 10000, &st, &ignore);
    }
    sai_sim_disconnect(&plat);
    sai_pipeline_spec_free(spec);
    return rc;
}
