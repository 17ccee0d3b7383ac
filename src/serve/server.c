/*
 * server.c — the HTTPS model server that runs inside the enclave
 * (src/pipeline/serve_enclave.c creates it after the model key arrived and
 * the network was given up; docs/serving.md).
 *
 * It opens nothing: every connection is a descriptor the host accepted and
 * handed over, on which this process runs TLS 1.3 itself with the RA-TLS
 * key (ratls.c), so the host moves ciphertext only. One thread per
 * connection, at most limits.max_conns of them (more are closed at once);
 * every read has a deadline (SO_RCVTIMEO set to what is left of it), so a
 * slow client costs one thread for head_timeout_ms at most.
 *
 * Dynamic batching: connection threads do not run the model. They queue
 * their request's normalised images and wait; one batcher thread owns the
 * model and gathers the queued requests, in arrival order, into one engine
 * batch of at most max_batch images. It starts the pass when the batch is
 * full, when batch_wait_ms have passed since the oldest queued request
 * arrived (the latency bound), or at once when every open connection has a
 * request in the queue (no one else can join, so waiting would only add
 * latency: a lone client pays nothing). The logits are copied back to each
 * request's own buffer. A request of more than max_batch images is run on
 * its own, in passes of max_batch. /metrics shows the queue depth and the
 * images and requests per engine batch.
 *
 * Nothing here logs a request body, an image or a prediction.
 */
#include "serve/serve_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "secureai/crypto.h"
#include "secureai/nn.h"
#include "secureai/util.h"

static const double LAT_BUCKETS[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
#define NLAT (sizeof LAT_BUCKETS / sizeof LAT_BUCKETS[0])
static const unsigned BATCH_BUCKETS[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
#define NBATCH (sizeof BATCH_BUCKETS / sizeof BATCH_BUCKETS[0])
static const int CODES[] = {200, 400, 404, 405, 408, 411, 413, 414, 415, 431, 500, 501, 505};
#define NCODES (sizeof CODES / sizeof CODES[0])

/* One request waiting for the model (on its connection thread's stack). */
typedef struct job {
    const float *x;                         /* n images, normalised */
    float       *logits;                    /* n x classes, filled by the batcher */
    size_t       n;
    double       t_enq;
    bool         done;
    struct job  *next;
} job;

struct sai_serve_t {
    sai_nn_model_t    *model;               /* the batcher thread's only */
    sai_nn_ckpt_meta_t meta;
    int                max_batch;
    double             batch_wait;          /* seconds */
    size_t             img;                 /* floats per image */
    float             *xb;                  /* the batcher's input: max_batch images */
    pthread_t          batcher;
    bool               batcher_started;
    SSL_CTX           *ctx;
    uint8_t            cert_sha256[32];
    char               model_hex[65];
    char              *model_json;          /* GET /v1/model */
    size_t             model_json_len;
    sai_serve_limits_t lim;
    /* under mu */
    pthread_mutex_t    mu;
    pthread_cond_t     cv;                  /* a connection ended */
    pthread_cond_t     qcv;                 /* to the batcher: a job, or stop */
    pthread_cond_t     dcv;                 /* from the batcher: jobs done */
    job               *qhead, *qtail;
    size_t             q_imgs;
    bool               stop;
    unsigned           active;
    int               *fds;                 /* the connections being served (max_conns) */
    uint64_t           conns, conns_rejected, handshake_failed, timeouts;
    uint64_t           by_code[NCODES + 1];
    uint64_t           lat[NLAT + 1], lat_n, batch[NBATCH + 1], batch_n, batch_sum;
    uint64_t           breq[NBATCH + 1], breq_sum;
    double             lat_sum;
    unsigned           queued;              /* requests in the queue */
};

void sai_serve_limits_default(sai_serve_limits_t *l)
{
    if (l->max_body == 0)
        l->max_body = 8u << 20;
    if (l->max_conns == 0)
        l->max_conns = 16;
    if (l->head_timeout_ms == 0)
        l->head_timeout_ms = 5000;
    if (l->body_timeout_ms == 0)
        l->body_timeout_ms = 10000;
    if (l->idle_timeout_ms == 0)
        l->idle_timeout_ms = 15000;
    if (l->max_images == 0)
        l->max_images = 256;
}

void sai_serve_cert_sha256(const sai_serve_t *s, uint8_t out[32])
{
    memcpy(out, s->cert_sha256, 32);
}

/* ---- set-up -------------------------------------------------------------------- */

static int build_model_json(sai_serve_t *s, const sai_serve_config_t *c, const char *claims, const char *ev,
                            size_t ev_len, sai_error_t *err)
{
    char hex[97];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model_sha256", s->model_hex);
    sai_hex_encode(hex, c->spec_sha256, 32);
    cJSON_AddStringToObject(o, "spec_sha256", hex);
    sai_hex_encode(hex, c->measurement, 48);
    cJSON_AddStringToObject(o, "measurement", hex);
    cJSON_AddStringToObject(o, "tee", c->tee ? c->tee : "?");
    cJSON_AddStringToObject(o, "arch", s->meta.model);
    cJSON_AddStringToObject(o, "dataset", s->meta.dataset);
    cJSON_AddNumberToObject(o, "classes", s->meta.classes);
    cJSON *in = cJSON_AddArrayToObject(o, "input");
    cJSON_AddItemToArray(in, cJSON_CreateNumber(s->meta.in_c));
    cJSON_AddItemToArray(in, cJSON_CreateNumber(s->meta.in_h));
    cJSON_AddItemToArray(in, cJSON_CreateNumber(s->meta.in_w));
    sai_hex_encode(hex, s->cert_sha256, 32);
    cJSON_AddStringToObject(o, "ratls_cert_sha256", hex);
    cJSON_AddRawToObject(o, "ratls_claims", claims);
    cJSON *evj = cJSON_ParseWithLength(ev, ev_len);
    cJSON_AddItemToObject(o, "evidence", evj ? evj : cJSON_CreateNull());
    cJSON *pv = c->provenance ? cJSON_ParseWithLength(c->provenance, c->provenance_len) : NULL;
    cJSON_AddItemToObject(o, "provenance", pv ? pv : cJSON_CreateNull());
    s->model_json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s->model_json == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    s->model_json_len = strlen(s->model_json);
    return 0;
}

/* ---- the batcher ------------------------------------------------------------------ */

static size_t batch_bucket(size_t v)
{
    size_t i = 0;
    while (i < NBATCH && v > BATCH_BUCKETS[i])
        i++;
    return i;
}

/* Account one engine pass of imgs images from nreq requests (under s->mu). */
static void count_pass(sai_serve_t *s, size_t imgs, size_t nreq)
{
    s->batch[batch_bucket(imgs)]++;
    s->batch_n++;
    s->batch_sum += imgs;
    s->breq[batch_bucket(nreq)]++;
    s->breq_sum += nreq;
}

/* Run the chain of jobs from first (imgs images in all) through the model
 * and copy each job's logits back. A lone job runs from its own buffer (in
 * passes of max_batch when it is larger); several are gathered into xb,
 * which is wiped afterwards (it held clients' images). Without s->mu. */
static void run_jobs(sai_serve_t *s, job *first, size_t imgs)
{
    const size_t classes = (size_t)s->meta.classes, mb = (size_t)s->max_batch;
    if (first->next == NULL) {
        for (size_t i = 0; i < first->n; i += mb) {
            size_t b = first->n - i < mb ? first->n - i : mb;
            const float *z = sai_nn_forward(s->model, first->x + i * s->img, (int)b, false);
            memcpy(first->logits + i * classes, z, b * classes * sizeof *z);
            if (first->n > mb) {
                pthread_mutex_lock(&s->mu);
                count_pass(s, b, 1);
                pthread_mutex_unlock(&s->mu);
            }
        }
        if (first->n <= mb) {
            pthread_mutex_lock(&s->mu);
            count_pass(s, first->n, 1);
            pthread_mutex_unlock(&s->mu);
        }
        return;
    }
    size_t off = 0, nreq = 0;
    for (const job *j = first; j != NULL; j = j->next, nreq++) {
        memcpy(s->xb + off * s->img, j->x, j->n * s->img * sizeof *s->xb);
        off += j->n;
    }
    const float *z = sai_nn_forward(s->model, s->xb, (int)imgs, false);
    off = 0;
    for (job *j = first; j != NULL; j = j->next) {
        memcpy(j->logits, z + off * classes, j->n * classes * sizeof *z);
        off += j->n;
    }
    sai_wipe(s->xb, imgs * s->img * sizeof *s->xb);
    pthread_mutex_lock(&s->mu);
    count_pass(s, imgs, nreq);
    pthread_mutex_unlock(&s->mu);
}

static void deadline_ts(struct timespec *ts, double left)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    long long ns = (long long)ts->tv_nsec + (long long)(left * 1e9);
    ts->tv_sec += (time_t)(ns / 1000000000LL);
    ts->tv_nsec = (long)(ns % 1000000000LL);
}

static void *batcher_main(void *arg)
{
    sai_serve_t *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stop && s->qhead == NULL)
            pthread_cond_wait(&s->qcv, &s->mu);
        if (s->qhead == NULL)
            break;   /* stopped, nothing left */
        /* Gather: full, or the oldest waited batch_wait, or every open
         * connection is waiting in the queue (nobody else can join). */
        double deadline = s->qhead->t_enq + s->batch_wait;
        while (!s->stop && s->q_imgs < (size_t)s->max_batch && s->queued < s->active) {
            double left = deadline - sai_now();
            if (left <= 0)
                break;
            struct timespec ts;
            deadline_ts(&ts, left);
            pthread_cond_timedwait(&s->qcv, &s->mu, &ts);
        }
        job *first = s->qhead, *last = first;
        size_t imgs = first->n, nreq = 1;
        while (last->next != NULL && imgs + last->next->n <= (size_t)s->max_batch) {
            last = last->next;
            imgs += last->n;
            nreq++;
        }
        s->qhead = last->next;
        if (s->qhead == NULL)
            s->qtail = NULL;
        last->next = NULL;
        s->q_imgs -= imgs;
        s->queued -= (unsigned)nreq;
        pthread_mutex_unlock(&s->mu);
        run_jobs(s, first, imgs);
        pthread_mutex_lock(&s->mu);
        for (job *j = first; j != NULL;) {
            job *nx = j->next;   /* j belongs to its thread once done */
            j->done = true;
            j = nx;
        }
        pthread_cond_broadcast(&s->dcv);
    }
    pthread_mutex_unlock(&s->mu);
    OPENSSL_thread_stop();
    return NULL;
}

int sai_serve_new(sai_serve_t **out, const sai_serve_config_t *c, sai_error_t *err)
{
    *out = NULL;
    int rc = 0;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    char *ev = NULL, claims[200], hex[65];
    size_t ev_len = 0;
    sai_serve_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);   /* batch_wait is on sai_now's clock */
    pthread_cond_init(&s->qcv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&s->dcv, NULL);
    s->lim = c->limits;
    sai_serve_limits_default(&s->lim);
    s->max_batch = c->max_batch ? (int)c->max_batch : 16;
    s->batch_wait = (c->batch_wait_ms ? c->batch_wait_ms : SAI_SERVE_BATCH_WAIT_MS) / 1000.0;
    if ((s->fds = calloc(s->lim.max_conns, sizeof *s->fds)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < s->lim.max_conns; i++)
        s->fds[i] = -1;
    if ((rc = sai_nn_ckpt_load_model(&s->model, c->ckpt, c->ckpt_len, s->max_batch, &s->meta, err))) {
        sai_error_prefix(err, "the model");
        goto out;
    }
    if (s->meta.classes < 1 || s->meta.classes > SAI_SERVE_CLASSES_MAX) {
        rc = sai_error_set(err, SAI_EUNSUPP, "the model has %d classes (1..%d served)", s->meta.classes,
                           SAI_SERVE_CLASSES_MAX);
        goto out;
    }
    s->img = (size_t)s->meta.in_c * (size_t)s->meta.in_h * (size_t)s->meta.in_w;
    if ((s->xb = malloc((size_t)s->max_batch * s->img * sizeof *s->xb)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    if (pthread_create(&s->batcher, NULL, batcher_main, s) != 0) {
        rc = sai_error_set(err, SAI_EIO, "cannot start the batcher thread");
        goto out;
    }
    s->batcher_started = true;
    sai_hex_encode(s->model_hex, c->model_sha256, 32);
    sai_hex_encode(hex, c->spec_sha256, 32);
    snprintf(claims, sizeof claims, "{\"model_sha256\":\"%s\",\"spec_sha256\":\"%s\"}", s->model_hex, hex);
    if ((rc = sai_serve__ratls_make(&key, &cert, claims, c->evidence, c->evidence_ctx, &ev, &ev_len, err)))
        goto out;
    uint8_t *der = NULL;
    int dn = i2d_X509(cert, &der);
    rc = dn > 0 ? sai_hash(SAI_SHA256, s->cert_sha256, der, (size_t)dn, err)
                : sai_error_set(err, SAI_ECRYPTO, "cannot encode the certificate");
    OPENSSL_free(der);
    if (rc)
        goto out;
    s->ctx = SSL_CTX_new(TLS_server_method());
    if (s->ctx == NULL || SSL_CTX_set_min_proto_version(s->ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_use_certificate(s->ctx, cert) != 1 || SSL_CTX_use_PrivateKey(s->ctx, key) != 1 ||
        SSL_CTX_check_private_key(s->ctx) != 1) {
        rc = sai_error_set(err, SAI_ECRYPTO, "cannot set up TLS 1.3 with the RA-TLS key");
        goto out;
    }
    /* No session tickets: every connection gets the certificate, so every
     * client checks the evidence itself. */
    SSL_CTX_set_num_tickets(s->ctx, 0);
    SSL_CTX_set_session_cache_mode(s->ctx, SSL_SESS_CACHE_OFF);
    rc = build_model_json(s, c, claims, ev, ev_len, err);
out:
    ERR_clear_error();
    free(ev);
    X509_free(cert);
    EVP_PKEY_free(key);   /* SSL_CTX holds its own reference */
    if (rc) {
        sai_serve_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void sai_serve_free(sai_serve_t *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    /* Wake connections blocked in a read; each thread closes its own fd. */
    for (unsigned i = 0; s->fds && i < s->lim.max_conns; i++)
        if (s->fds[i] >= 0)
            shutdown(s->fds[i], SHUT_RDWR);
    while (s->active > 0)
        pthread_cond_wait(&s->cv, &s->mu);
    /* No connection left, so no job: the batcher ends. */
    s->stop = true;
    pthread_cond_broadcast(&s->qcv);
    pthread_mutex_unlock(&s->mu);
    if (s->batcher_started)
        pthread_join(s->batcher, NULL);
    SSL_CTX_free(s->ctx);
    sai_nn_model_free(s->model);
    free(s->xb);
    free(s->model_json);
    free(s->fds);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->qcv);
    pthread_cond_destroy(&s->dcv);
    free(s);
}

/* ---- one connection -------------------------------------------------------------- */

typedef struct conn {
    sai_serve_t *s;
    int          fd, slot;
    SSL         *ssl;
    uint8_t      head[SAI_HTTP_HEAD_MAX];
    size_t       have;                      /* bytes in head[] (a pipelined next request's start) */
} conn;

static void count_code(sai_serve_t *s, int code)
{
    size_t i = 0;
    while (i < NCODES && CODES[i] != code)
        i++;
    pthread_mutex_lock(&s->mu);
    s->by_code[i]++;
    pthread_mutex_unlock(&s->mu);
}

/* Set the socket's read/write timeout to what is left until deadline;
 * false when nothing is left. */
static bool arm(int fd, double deadline)
{
    double left = deadline - sai_now();
    if (left <= 0)
        return false;
    struct timeval tv = {(time_t)left, (suseconds_t)((left - (double)(time_t)left) * 1e6)};
    if (tv.tv_sec == 0 && tv.tv_usec == 0)
        tv.tv_usec = 1000;
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
           setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0;
}

/* >0 bytes, 0 peer closed, -1 error, -2 deadline */
static int rd(conn *c, void *buf, size_t cap, double deadline)
{
    if (!arm(c->fd, deadline))
        return -2;
    int n = SSL_read(c->ssl, buf, cap > 1 << 20 ? 1 << 20 : (int)cap);
    if (n > 0)
        return n;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    if ((e == SSL_ERROR_SYSCALL || e == SSL_ERROR_WANT_READ) && (errno == EAGAIN || errno == EWOULDBLOCK))
        return -2;
    return n == 0 ? 0 : -1;
}

static int write_all(conn *c, const void *p, size_t n)
{
    const uint8_t *b = p;
    if (!arm(c->fd, sai_now() + c->s->lim.body_timeout_ms / 1000.0))
        return -1;
    while (n > 0) {
        int k = SSL_write(c->ssl, b, n > 1 << 20 ? 1 << 20 : (int)n);
        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

static const char *reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Internal Server Error";
    }
}

static int reply(conn *c, int code, const char *ctype, const char *body, size_t len, bool close)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n",
                     code, reason(code), ctype, len, close ? "Connection: close\r\n" : "");
    count_code(c->s, code);
    if (n < 0 || (size_t)n >= sizeof head || write_all(c, head, (size_t)n) != 0)
        return -1;
    return len ? write_all(c, body, len) : 0;
}

/* A JSON error: {"error": "<status>", "message": "..."}; the message is ours,
 * never an echo of the request. */
static int reply_err(conn *c, int code, const char *msg)
{
    char body[SAI_ERROR_MAX + 64];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "status", code);
    cJSON_AddStringToObject(o, "error", msg);
    if (!cJSON_PrintPreallocated(o, body, sizeof body, false))
        snprintf(body, sizeof body, "{\"status\":%d}", code);
    cJSON_Delete(o);
    reply(c, code, "application/json", body, strlen(body), true);
    return -1;
}

/* A Prometheus histogram over BATCH_BUCKETS: counts[i] observations fell
 * in bucket i (cumulated here), sum of the values, n observations. */
static int batch_histogram(sai_buf_t *b, const char *name, const uint64_t *counts, uint64_t sum,
                           uint64_t n)
{
    int rc = sai_buf_printf(b, "# TYPE %s histogram\n", name);
    uint64_t cum = 0;
    for (size_t i = 0; i < NBATCH; i++) {
        cum += counts[i];
        rc |= sai_buf_printf(b, "%s_bucket{le=\"%u\"} %llu\n", name, BATCH_BUCKETS[i], (unsigned long long)cum);
    }
    rc |= sai_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %llu\n%s_count %llu\n", name,
                         (unsigned long long)n, name, (unsigned long long)sum, name, (unsigned long long)n);
    return rc;
}

static int metrics(conn *c)
{
    sai_serve_t *s = c->s;
    sai_buf_t b;
    sai_buf_init(&b, 1u << 20);
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    rc |= sai_buf_printf(&b, "# TYPE secureai_serve_connections_total counter\nsecureai_serve_connections_total %llu\n"
                         "# TYPE secureai_serve_connections_rejected_total counter\n"
                         "secureai_serve_connections_rejected_total %llu\n"
                         "# TYPE secureai_serve_handshake_failures_total counter\n"
                         "secureai_serve_handshake_failures_total %llu\n"
                         "# TYPE secureai_serve_timeouts_total counter\nsecureai_serve_timeouts_total %llu\n"
                         "# TYPE secureai_serve_connections_active gauge\nsecureai_serve_connections_active %u\n"
                         "# TYPE secureai_serve_queue_depth gauge\nsecureai_serve_queue_depth %u\n"
                         "# TYPE secureai_serve_requests_total counter\n",
                         (unsigned long long)s->conns, (unsigned long long)s->conns_rejected,
                         (unsigned long long)s->handshake_failed, (unsigned long long)s->timeouts, s->active,
                         s->queued);
    for (size_t i = 0; i <= NCODES; i++)
        if (s->by_code[i])
            rc |= sai_buf_printf(&b, "secureai_serve_requests_total{code=\"%d\"} %llu\n", i < NCODES ? CODES[i] : 0,
                                 (unsigned long long)s->by_code[i]);
    rc |= sai_buf_printf(&b, "# TYPE secureai_serve_predict_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < NLAT; i++) {
        cum += s->lat[i];
        rc |= sai_buf_printf(&b, "secureai_serve_predict_seconds_bucket{le=\"%g\"} %llu\n", LAT_BUCKETS[i],
                             (unsigned long long)cum);
    }
    rc |= sai_buf_printf(&b, "secureai_serve_predict_seconds_bucket{le=\"+Inf\"} %llu\n"
                         "secureai_serve_predict_seconds_sum %.6f\nsecureai_serve_predict_seconds_count %llu\n",
                         (unsigned long long)s->lat_n, s->lat_sum, (unsigned long long)s->lat_n);
    rc |= batch_histogram(&b, "secureai_serve_batch_size", s->batch, s->batch_sum, s->batch_n);
    rc |= batch_histogram(&b, "secureai_serve_batch_requests", s->breq, s->breq_sum, s->batch_n);
    rc |= sai_buf_printf(&b, "# TYPE secureai_serve_queue_images gauge\nsecureai_serve_queue_images %zu\n",
                         s->q_imgs);
    pthread_mutex_unlock(&s->mu);
    int r = rc ? reply_err(c, 500, "metrics do not fit")
               : reply(c, 200, "text/plain; version=0.0.4", (const char *)b.data, b.len, false);
    sai_buf_free(&b);
    return r;
}

/* "N,C,H,W" */
static int parse_shape(const char *s, unsigned long dims[4])
{
    for (int i = 0; i < 4; i++) {
        char *end;
        if (*s < '0' || *s > '9')
            return -1;
        dims[i] = strtoul(s, &end, 10);
        if (end == s || dims[i] == 0 || dims[i] > 1u << 20 || *end != (i < 3 ? ',' : '\0'))
            return -1;
        s = end + (i < 3);
    }
    return 0;
}

static int query_top(const char *q, int classes)
{
    int k = 5;
    const char *t = strstr(q, "top=");
    if (t != NULL && (t == q || t[-1] == '&')) {
        char *end;
        long v = strtol(t + 4, &end, 10);
        if (end == t + 4 || (*end != '\0' && *end != '&') || v < 1)
            return -1;
        k = v > classes ? classes : (int)v;
    }
    return k > classes ? classes : k;
}

static int predict(conn *c, const sai_http_req_t *r, const uint8_t *body, size_t len)
{
    sai_serve_t *s = c->s;
    const sai_nn_ckpt_meta_t *m = &s->meta;
    bool f32 = strcmp(r->content_type, "application/x-secureai-f32") == 0;
    bool u8 = strcmp(r->content_type, "application/x-secureai-u8") == 0;
    if (!f32 && !u8)
        return reply_err(c, 415, "Content-Type must be application/x-secureai-u8 (uint8 CHW images) or "
                                 "application/x-secureai-f32 (normalised float32 NCHW, with X-Shape)");
    size_t esz = f32 ? 4 : 1, per = s->img * esz;
    unsigned long dims[4] = {0, 0, 0, 0};
    if (r->shape[0] != '\0' && parse_shape(r->shape, dims) != 0)
        return reply_err(c, 400, "X-Shape must be N,C,H,W");
    if (f32 && r->shape[0] == '\0')
        return reply_err(c, 400, "a float32 tensor needs X-Shape: N,C,H,W");
    if (r->shape[0] != '\0' && ((int)dims[1] != m->in_c || (int)dims[2] != m->in_h || (int)dims[3] != m->in_w))
        return reply_err(c, 400, "X-Shape does not match the model's input");
    if (len == 0 || len % per != 0 || (r->shape[0] != '\0' && dims[0] * per != len))
        return reply_err(c, 400, "the body is not a whole number of images of the model's input size");
    size_t n = len / per;
    if (n > s->lim.max_images)
        return reply_err(c, 413, "too many images in one request");
    int k = query_top(r->query, m->classes);
    if (k < 1)
        return reply_err(c, 400, "top must be a positive integer");
    int rc = 0;
    sai_error_t err = {0};
    float *x = malloc(n * s->img * sizeof *x), *logits = malloc(n * (size_t)m->classes * sizeof *logits);
    if (x == NULL || logits == NULL) {
        rc = reply_err(c, 500, "out of memory");
        goto out;
    }
    if (u8) {
        if (sai_serve_normalize_u8(x, body, n, m->in_c, m->in_h, m->in_w, m->dataset, &err) != 0) {
            rc = reply_err(c, 500, "cannot normalise");
            goto out;
        }
    } else {
        memcpy(x, body, len);   /* little-endian float32, as on every host this runs on */
    }
    double t0 = sai_now();
    job j = {.x = x, .logits = logits, .n = n, .t_enq = t0};
    pthread_mutex_lock(&s->mu);
    if (s->qtail != NULL)
        s->qtail->next = &j;
    else
        s->qhead = &j;
    s->qtail = &j;
    s->queued++;
    s->q_imgs += n;
    pthread_cond_signal(&s->qcv);
    while (!j.done)
        pthread_cond_wait(&s->dcv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    sai_buf_t out;
    sai_buf_init(&out, 64u << 20);
    int frc = sai_buf_printf(&out, "{\"model_sha256\":\"%s\",\"predictions\":[", s->model_hex);
    if (frc == 0)
        frc = sai_serve_topk_json(&out, logits, (int)n, m->classes, k, m->dataset, 0, ",");
    if (frc == 0)
        frc = sai_buf_printf(&out, "]}");
    double dt = sai_now() - t0;
    pthread_mutex_lock(&s->mu);
    size_t li = 0;
    while (li < NLAT && dt > LAT_BUCKETS[li])
        li++;
    s->lat[li]++;
    s->lat_n++;
    s->lat_sum += dt;
    pthread_mutex_unlock(&s->mu);
    rc = frc ? reply_err(c, 500, "the prediction does not fit")
             : reply(c, 200, "application/json", (const char *)out.data, out.len, r->close);
    sai_buf_free(&out);
out:
    if (x != NULL)
        sai_wipe(x, n * s->img * sizeof *x);   /* the images, normalised */
    if (logits != NULL)
        sai_wipe(logits, n * (size_t)m->classes * sizeof *logits);
    free(x);
    free(logits);
    return rc;
}

/* One request; 0 = keep the connection, -1 = close it. */
static int one_request(conn *c, bool first)
{
    sai_serve_t *s = c->s;
    sai_http_req_t r;
    bool complete = false;
    int status = 0;
    sai_error_t err = {0};
    double deadline = sai_now() + (first ? s->lim.head_timeout_ms : s->lim.idle_timeout_ms) / 1000.0;
    bool started = c->have > 0;
    for (;;) {
        if (c->have > 0) {
            if (sai_http_parse_head(&r, c->head, c->have, &complete, &status, &err) != 0)
                return reply_err(c, status, err.msg);
            if (complete)
                break;
        }
        int k = rd(c, c->head + c->have, sizeof c->head - c->have, deadline);
        if (k == -2) {
            pthread_mutex_lock(&s->mu);
            s->timeouts++;
            pthread_mutex_unlock(&s->mu);
            /* an idle keep-alive connection just ends */
            return started ? reply_err(c, 408, "the request head did not arrive in time") : -1;
        }
        if (k <= 0)
            return -1;
        if (!started) {
            started = true;   /* from the first byte: the head deadline */
            deadline = sai_now() + s->lim.head_timeout_ms / 1000.0;
        }
        c->have += (size_t)k;
    }
    uint8_t *body = NULL;
    size_t blen = 0, extra = c->have - r.head_len;
    int rc = 0;
    bool is_predict = strcmp(r.path, "/v1/predict") == 0;
    if (is_predict && strcmp(r.method, "POST") != 0)
        return reply_err(c, 405, "POST /v1/predict");
    if (!is_predict && strcmp(r.method, "GET") != 0)
        return reply_err(c, 405, "only GET here");
    if (is_predict) {
        if (!r.has_length)
            return reply_err(c, 411, "a Content-Length is required");
        if (r.content_length > s->lim.max_body)
            return reply_err(c, 413, "the body is larger than the server accepts");
        blen = (size_t)r.content_length;
    } else if ((r.has_length && r.content_length > 0)) {
        return reply_err(c, 400, "a GET has no body");
    }
    if (blen > 0) {
        if ((body = malloc(blen)) == NULL)
            return reply_err(c, 500, "out of memory");
        size_t got = extra < blen ? extra : blen;
        memcpy(body, c->head + r.head_len, got);
        double bd = sai_now() + s->lim.body_timeout_ms / 1000.0;
        while (got < blen) {
            int k = rd(c, body + got, blen - got, bd);
            if (k == -2) {
                pthread_mutex_lock(&s->mu);
                s->timeouts++;
                pthread_mutex_unlock(&s->mu);
                rc = reply_err(c, 408, "the request body did not arrive in time");
                goto out;
            }
            if (k <= 0) {
                rc = -1;
                goto out;
            }
            got += (size_t)k;
        }
        extra = extra > blen ? extra - blen : 0;
    }
    /* keep what belongs to the next request */
    memmove(c->head, c->head + c->have - extra, extra);
    c->have = extra;
    if (is_predict)
        rc = predict(c, &r, body, blen);
    else if (strcmp(r.path, "/healthz") == 0)
        rc = reply(c, 200, "application/json", "{\"status\":\"ok\"}", 15, r.close);
    else if (strcmp(r.path, "/v1/model") == 0)
        rc = reply(c, 200, "application/json", s->model_json, s->model_json_len, r.close);
    else if (strcmp(r.path, "/metrics") == 0)
        rc = metrics(c);
    else
        rc = reply_err(c, 404, "no such endpoint (POST /v1/predict, GET /v1/model, /healthz, /metrics)");
    if (rc == 0 && r.close)
        rc = -1;
out:
    if (body != NULL) {
        sai_wipe(body, blen);   /* a patient's scan is not left in freed memory */
        free(body);
    }
    return rc;
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    sai_serve_t *s = c->s;
    /* A reply is a head and a body in two TLS records: without NODELAY the
     * second waits for the client's delayed ACK (40 ms a request). Not a
     * socket of ours to fail on: a descriptor that is no TCP socket (a unix
     * socketpair in tests) just keeps its default. */
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->ssl = SSL_new(s->ctx);
    bool ok = c->ssl != NULL && SSL_set_fd(c->ssl, c->fd) == 1 &&
              arm(c->fd, sai_now() + s->lim.head_timeout_ms / 1000.0) && SSL_accept(c->ssl) == 1;
    if (!ok) {
        pthread_mutex_lock(&s->mu);
        s->handshake_failed++;
        pthread_mutex_unlock(&s->mu);
    } else {
        for (bool first = true; one_request(c, first) == 0; first = false)
            ;
        SSL_shutdown(c->ssl);
    }
    ERR_clear_error();
    SSL_free(c->ssl);
    sai_wipe(c->head, sizeof c->head);
    pthread_mutex_lock(&s->mu);
    s->fds[c->slot] = -1;
    close(c->fd);
    s->active--;
    pthread_cond_broadcast(&s->cv);
    pthread_cond_signal(&s->qcv);   /* one fewer who could join a batch */
    pthread_mutex_unlock(&s->mu);
    free(c);
    OPENSSL_thread_stop();
    return NULL;
}

int sai_serve_conn(sai_serve_t *s, int fd, sai_error_t *err)
{
    pthread_mutex_lock(&s->mu);
    s->conns++;
    int slot = -1;
    for (unsigned i = 0; i < s->lim.max_conns && slot < 0; i++)
        if (s->fds[i] < 0)
            slot = (int)i;
    if (slot < 0) {
        s->conns_rejected++;
        pthread_mutex_unlock(&s->mu);
        close(fd);
        return 0;   /* over the limit: closed at once (docs/serving.md) */
    }
    conn *c = calloc(1, sizeof *c);
    pthread_t t;
    pthread_attr_t at;
    int rc = 0;
    if (c == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
    } else {
        c->s = s;
        c->fd = fd;
        c->slot = slot;
        s->fds[slot] = fd;
        s->active++;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, conn_main, c) != 0) {
            s->fds[slot] = -1;
            s->active--;
            free(c);
            rc = sai_error_set(err, SAI_EIO, "cannot start a connection thread");
        }
        pthread_attr_destroy(&at);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc)
        close(fd);
    return rc;
}
