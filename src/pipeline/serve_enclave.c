/*
 * serve_enclave.c — the enclave side of `secureai serve` (the model server;
 * docs/serving.md). enclave.c runs HELLO (the measured spec, whose stages
 * are [serve]), the sandbox and READY, then hands over here:
 *
 *   1. SERVE: the limits (JSON) and the sealed model's descriptor, plus the
 *      run's provenance statement's when the host has one.
 *   2. The model key from the KBS (attested, as for a run: released only to
 *      this measurement), the sealed model read once from the descriptor,
 *      hashed (the hash is the provenance subject's and the RA-TLS claim)
 *      and opened: every chunk authenticates under the key, and the key id
 *      must be the spec's model.key.
 *   3. The KBS client is freed and the network given up
 *      (sai_sandbox_no_network): from here on the process can open no
 *      socket; it only speaks TLS on descriptors it is given.
 *   4. The server (src/serve): the engine model, a fresh TLS key and its
 *      RA-TLS certificate over fresh evidence; the plaintext checkpoint is
 *      wiped. SERVING tells the host.
 *   5. Every SERVE_CONN carries one connection the host accepted; the
 *      server terminates TLS on it. When the host hangs up, the server
 *      finishes the connections it has and the enclave exits.
 */
#include "pipeline/pipeline_internal.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secureai/kbs.h"
#include "secureai/seal.h"
#include "secureai/serve.h"
#include "secureai/util.h"

#define SEALED_MODEL_MAX ((size_t)SAI_NN_CKPT_MAX + (64u << 20))

/* The whole file behind fd (at most max bytes), read once. */
static int slurp(int fd, size_t max, const char *what, uint8_t **out, size_t *len, sai_error_t *err)
{
    struct stat st;
    *out = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return sai_error_set(err, SAI_EIO, "%s: not a regular file", what);
    if ((uint64_t)st.st_size > max || st.st_size == 0)
        return sai_error_set(err, SAI_ELIMIT, "%s: %lld bytes (1..%zu accepted)", what, (long long)st.st_size, max);
    *len = (size_t)st.st_size;
    if ((*out = malloc(*len + 1)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (lseek(fd, 0, SEEK_SET) != 0 || sai_read_full(fd, *out, *len) != 0) {
        free(*out);
        *out = NULL;
        return sai_error_set(err, SAI_EIO, "%s: read failed", what);
    }
    (*out)[*len] = '\0';
    return 0;
}

static unsigned jnum(const cJSON *o, const char *k, unsigned max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0)
        return 0;
    return v->valuedouble > max ? max : (unsigned)v->valuedouble;
}

/* The limits are the host's choice: it can deny service anyway. They
 * are clamped so a host cannot make the enclave allocate without bound. */
static int parse_limits(const uint8_t *d, size_t n, sai_serve_limits_t *l, unsigned *max_batch,
                        unsigned *batch_wait_ms, sai_error_t *err)
{
    cJSON *o = cJSON_ParseWithLength((const char *)d, n);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return sai_error_set(err, SAI_EFORMAT, "SERVE: not a JSON object");
    }
    memset(l, 0, sizeof *l);
    l->max_body = jnum(o, "max_body", 256u << 20);
    l->max_conns = jnum(o, "max_conns", 1024);
    l->head_timeout_ms = jnum(o, "head_timeout_ms", 600000);
    l->body_timeout_ms = jnum(o, "body_timeout_ms", 600000);
    l->idle_timeout_ms = jnum(o, "idle_timeout_ms", 600000);
    l->max_images = jnum(o, "max_images", 65536);
    *max_batch = jnum(o, "max_batch", 256);
    *batch_wait_ms = jnum(o, "batch_wait_ms", 10000);
    cJSON_Delete(o);
    return 0;
}

/* The checkpoint inside the sealed model, into a buffer the caller wipes. */
static int open_model(const sai_pipeline_enclave_ctx_t *c, const uint8_t *sealed, size_t sealed_len,
                      uint8_t **ckpt, size_t *ckpt_len, sai_error_t *err)
{
    const sai_kbs_resource_t *r = &c->spec->model.key;
    char kid[200];
    snprintf(kid, sizeof kid, "%s/%s/%s", r->repo, r->type, r->tag);
    sai_secret_t *key = NULL;
    sai_seal_reader_t *rd = NULL;
    *ckpt = NULL;
    int rc = c->get_key(c->ctx, r, &key, err);
    if (rc)
        return rc;
    sai_seal_open_opts_t o = {.expect_key_id = kid};
    if ((rc = sai_seal_open_mem(&rd, sealed, sealed_len, "the sealed model", key->data, &o, err)))
        goto out;
    uint64_t n = sai_seal_size(rd);
    if (n == 0 || n > SAI_NN_CKPT_MAX) {
        rc = sai_error_set(err, SAI_ELIMIT, "the sealed model holds %llu bytes", (unsigned long long)n);
        goto out;
    }
    if ((*ckpt = malloc((size_t)n)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    *ckpt_len = (size_t)n;
    if ((rc = sai_seal_read_at(rd, 0, *ckpt, *ckpt_len, err))) {
        sai_wipe(*ckpt, *ckpt_len);
        free(*ckpt);
        *ckpt = NULL;
    }
out:
    sai_seal_close(rd);
    sai_secret_free(key);
    return rc;
}

static int evidence_cb(void *ctx, const uint8_t rd[64], char **json, size_t *len, sai_error_t *err)
{
    const sai_pipeline_enclave_ctx_t *c = ctx;
    return c->evidence(c->ctx, rd, json, len, err);
}

int sai_pipeline__serve_enclave(const sai_pipeline_enclave_ctx_t *c, sai_error_t *err)
{
    uint8_t *d = NULL, *sealed = NULL, *ckpt = NULL, *prov = NULL;
    size_t n = 0, nfds = 0, sealed_len = 0, ckpt_len = 0, prov_len = 0;
    int fds[2] = {-1, -1};
    sai_serve_t *srv = NULL;
    sai_serve_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    int rc = sai_chan_recv(c->chan, SAI_MSG_SERVE, &d, &n, 4096, fds, 2, &nfds, err);
    if (rc)
        return rc;
    if (nfds < 1) {
        rc = sai_error_set(err, SAI_EFORMAT, "SERVE: no model descriptor");
        goto out;
    }
    if ((rc = parse_limits(d, n, &cfg.limits, &cfg.max_batch, &cfg.batch_wait_ms, err)) ||
        (rc = slurp(fds[0], SEALED_MODEL_MAX, "the sealed model", &sealed, &sealed_len, err)) ||
        (nfds == 2 && (rc = slurp(fds[1], SAI_PROVENANCE_MAX_BYTES, "the provenance statement", &prov, &prov_len,
                                  err))) ||
        (rc = sai_hash(SAI_SHA256, cfg.model_sha256, sealed, sealed_len, err)))
        goto out;
    if ((rc = open_model(c, sealed, sealed_len, &ckpt, &ckpt_len, err)))
        goto out;
    /* Every key is in: no more network for this process. */
    sai_kbs_client_free(*c->kbs);
    *c->kbs = NULL;
    if ((rc = sai_sandbox_no_network(err)))
        goto out;
    cfg.ckpt = ckpt;
    cfg.ckpt_len = ckpt_len;
    memcpy(cfg.spec_sha256, c->spec_hash, 32);
    memcpy(cfg.measurement, c->measurement, 48);
    cfg.tee = c->tee;
    cfg.provenance = (const char *)prov;
    cfg.provenance_len = prov_len;
    cfg.evidence = evidence_cb;
    cfg.evidence_ctx = (void *)c;
    rc = sai_serve_new(&srv, &cfg, err);
    sai_wipe(ckpt, ckpt_len);
    free(ckpt);
    ckpt = NULL;
    if (rc)
        goto out;
    char msg[300], mh[65], ch[65];
    uint8_t cert[32];
    sai_serve_cert_sha256(srv, cert);
    sai_hex_encode(mh, cfg.model_sha256, 32);
    sai_hex_encode(ch, cert, 32);
    snprintf(msg, sizeof msg, "{\"model_sha256\":\"%s\",\"ratls_cert_sha256\":\"%s\"}", mh, ch);
    if ((rc = sai_chan_send(c->chan, SAI_MSG_SERVING, msg, strlen(msg), NULL, 0, err)))
        goto out;
    /* Serve until the host hangs up (EOF on the channel is its "stop"). */
    for (;;) {
        uint8_t *m = NULL;
        size_t ml = 0, nc = 0;
        int cfd = -1;
        sai_error_t e2 = {0};
        if (sai_chan_recv(c->chan, SAI_MSG_SERVE_CONN, &m, &ml, 64, &cfd, 1, &nc, &e2) != 0) {
            free(m);
            break;
        }
        free(m);
        if (nc != 1) {
            rc = sai_error_set(err, SAI_EFORMAT, "SERVE_CONN without its descriptor");
            break;
        }
        if ((rc = sai_serve_conn(srv, cfd, err)))
            break;
    }
out:
    free(d);
    for (size_t i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    sai_serve_free(srv);
    if (ckpt != NULL) {
        sai_wipe(ckpt, ckpt_len);
        free(ckpt);
    }
    free(sealed);
    free(prov);
    return rc;
}
