/*
 * kube_nodes.c — the extender's node cache fed from the Kubernetes API
 * server, so that kube-scheduler can be configured nodeCacheCapable: true
 * (requests carry node names, not ~10 KB Node objects each).
 *
 * A thread of its own lists every node: GET /api/v1/nodes?limit=500, then
 * &continue=TOKEN until the NodeList's metadata.continue is empty (the API's
 * chunking rules: a page may hold fewer items than the limit; a 410 Gone
 * means the continue token expired, and the list restarts from the first
 * page). Each page is parsed with the extender's budgeted parse into a new
 * cache; after a complete list the new cache replaces the old one under the
 * extender's mutex, so a request sees either the old or the new list,
 * never half of one. A failed list keeps the old cache and is logged.
 *
 * Why a thread and not libevent's HTTP client on the extender's own loop:
 * the parse of a 500-node page (~5 MB) would stall every filter request on
 * the single-threaded loop for tens of milliseconds; here the loop only
 * takes the mutex for the pointer swap. The lister's blocking client (its
 * own event_base, one connection per page) also keeps the code short: a
 * list runs every 30 s.
 *
 * When: the first list at once, then every refresh_s seconds after a list
 * started, and sooner when a request names a node the cache does not know
 * (sai_sched__kube_kick), at most once per KICK_GAP_S (or refresh_s if
 * smaller), so a burst of unknown names costs one list, not one per pod.
 *
 * Trust: https is verified against the CA file (chain + the URL's host or
 * IP; TLS >= 1.2, what API servers offer); there is no switch to skip it.
 * Plain http is refused unless the host is a loopback address (tests,
 * `kubectl proxy`). The bearer token and the CA are re-read before every
 * list (ServiceAccount tokens are bound and rotate, about hourly); the
 * token is never logged and its buffers are wiped.
 *
 * Why not the KBS client (src/kbs/client.c): sched sits below kbs in the
 * module map (scripts/checksrc.sh) and may not include it; the few OpenSSL
 * calls that set up a verified client are repeated here. libcurl would do
 * the same in more dependency and no less code.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "sched/extender_internal.h"
#include "secureai/util.h"
#include "util/tls.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define IN_CLUSTER_HOST "kubernetes.default.svc"
#define PAGE_LIMIT 500
#define MAX_PAGES 10000          /* a loop guard: pages may be smaller than the limit */
#define MAX_RESTARTS 3           /* 410 Gone restarts per list */
#define KICK_GAP_S 5.0
#define REQ_TIMEOUT_S 30
#define TOKEN_MAX (16u << 10)

struct sai_ext_kube {
    sai_extender_t *x;
    char host[256], prefix[256];
    int port;
    bool tls, host_is_ip;
    char *token_file, *ca_file;
    char url[600];               /* for messages */
    double refresh_s, gap_s;
    void (*log)(const char *msg, void *arg);
    void *log_arg;
    pthread_t thr;
    pthread_mutex_t mu;          /* guards what follows */
    pthread_cond_t cv;
    bool stop, kick, listed, failing;
    double last_start;
    struct event_base *base;     /* the thread's, for loopbreak on stop */
};

typedef struct kreq {
    struct event_base *base;
    struct evhttp_connection *evcon;
    int status;
    char *body;
    size_t len;
    bool done, have_err;
    enum evhttp_request_error err;
    char tls_err[256];
} kreq;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void klog(sai_ext_kube_t *k, const char *fmt, ...) SAI_PRINTF(2, 3);
static void klog(sai_ext_kube_t *k, const char *fmt, ...)
{
    char msg[SAI_ERROR_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (k->log)
        k->log(msg, k->log_arg);
    else
        fprintf(stderr, "secureai: sched extender: %s\n", msg);
}

static bool loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return strcmp(host, "localhost") == 0;
}

/* Fill host/port/tls/prefix from o (no file is read). */
static int parse_opts(const sai_extender_kube_opts_t *o, sai_ext_kube_t *k, sai_error_t *err)
{
    int rc = 0;
    struct evhttp_uri *u = NULL;
    if (o->api == NULL || *o->api == '\0')
        return sai_error_set(err, SAI_EINVAL, "--kube-api needs in-cluster or a URL");
    if (!(o->refresh_s >= 0 && o->refresh_s <= 86400))
        return sai_error_set(err, SAI_EINVAL, "--node-refresh must be 1..86400 seconds");
    if (strcmp(o->api, "in-cluster") == 0) {
        snprintf(k->host, sizeof k->host, "%s", IN_CLUSTER_HOST);
        k->port = 443;
        k->tls = true;
        goto out;
    }
    u = evhttp_uri_parse(o->api);
    const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    if (scheme == NULL || host == NULL || *host == '\0' || strlen(host) >= sizeof k->host ||
        (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) ||
        evhttp_uri_get_query(u) != NULL || evhttp_uri_get_userinfo(u) != NULL ||
        (path && strlen(path) >= sizeof k->prefix)) {
        rc = sai_error_set(err, SAI_EINVAL, "--kube-api: expected in-cluster, https://HOST[:PORT] or "
                           "http://127.0.0.1:PORT, not %s", o->api);
        goto out;
    }
    snprintf(k->host, sizeof k->host, "%s", host);
    k->tls = strcmp(scheme, "https") == 0;
    k->port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : (k->tls ? 443 : 80);
    snprintf(k->prefix, sizeof k->prefix, "%s", path ? path : "");
    size_t pl = strlen(k->prefix);
    while (pl > 0 && k->prefix[pl - 1] == '/')
        k->prefix[--pl] = '\0';
    if (!k->tls && !loopback(k->host)) {
        rc = sai_error_set(err, SAI_EPOLICY, "--kube-api %s is plain HTTP to a host that is not "
                           "loopback: refused (the API server is reached over TLS verified against "
                           "--kube-ca; http:// only for a loopback test server or kubectl proxy)",
                           o->api);
        goto out;
    }
    if (k->tls && (o->ca_file == NULL || *o->ca_file == '\0')) {
        rc = sai_error_set(err, SAI_EINVAL, "--kube-api %s: an https API server is verified "
                           "against --kube-ca FILE (there is no unverified mode)", o->api);
        goto out;
    }
out:
    if (u)
        evhttp_uri_free(u);
    if (rc == 0) {
        unsigned char tmp[16];
        k->host_is_ip = inet_pton(AF_INET, k->host, tmp) == 1 || inet_pton(AF_INET6, k->host, tmp) == 1;
        snprintf(k->url, sizeof k->url, "%s://%s:%d%s", k->tls ? "https" : "http", k->host,
                 k->port, k->prefix);
    }
    return rc;
}

int sai_extender_kube_check(const sai_extender_kube_opts_t *o, sai_error_t *err)
{
    sai_ext_kube_t k;
    memset(&k, 0, sizeof k);
    return parse_opts(o, &k, err);
}

/* "Bearer <token>" from the token file (NULL when there is none). */
static int load_auth(sai_ext_kube_t *k, char **auth, sai_error_t *err)
{
    *auth = NULL;
    if (k->token_file == NULL)
        return 0;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = sai_read_file(k->token_file, TOKEN_MAX, &buf, &len, err);
    if (rc != 0)
        return sai_error_prefix(err, "bearer token");
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    for (size_t i = 0; i < len && rc == 0; i++)
        if (buf[i] < 0x21 || buf[i] > 0x7e)
            rc = sai_error_set(err, SAI_EFORMAT, "the token in %s holds a character a bearer token "
                               "cannot", k->token_file);
    if (rc == 0 && len == 0)
        rc = sai_error_set(err, SAI_EFORMAT, "the token file %s is empty", k->token_file);
    if (rc == 0) {
        size_t n = len + sizeof "Bearer ";
        if ((*auth = malloc(n)) == NULL)
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        else
            snprintf(*auth, n, "Bearer %.*s", (int)len, (const char *)buf);
    }
    OPENSSL_cleanse(buf, len);
    free(buf);
    return rc;
}

static void free_auth(char *auth)
{
    if (auth) {
        OPENSSL_cleanse(auth, strlen(auth));
        free(auth);
    }
}

static int make_ctx(sai_ext_kube_t *k, SSL_CTX **out, sai_error_t *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    *out = NULL;
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        SSL_CTX_free(ctx);
        return sai_error_set(err, SAI_ECRYPTO, "cannot create a TLS context");
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(ctx, k->ca_file, NULL) != 1) {
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return sai_error_set(err, SAI_EIO, "cannot load CA certificates from %s", k->ca_file);
    }
    *out = ctx;
    return 0;
}

static void on_req_error(enum evhttp_request_error e, void *arg)
{
    kreq *r = arg;
    r->err = e;
    r->have_err = true;
    struct bufferevent *bev = r->evcon ? evhttp_connection_get_bufferevent(r->evcon) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    unsigned long ssl_e = bev && ssl ? bufferevent_get_openssl_error(bev) : 0;
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (ssl && v != X509_V_OK)
        snprintf(r->tls_err, sizeof r->tls_err, "certificate verify failed: %s",
                 X509_verify_cert_error_string(v));
    else if (ssl_e)
        ERR_error_string_n(ssl_e, r->tls_err, sizeof r->tls_err);
}

static void on_req_done(struct evhttp_request *req, void *arg)
{
    kreq *r = arg;
    r->done = true;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (code > 0) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(in);
        if ((r->body = malloc(n + 1)) != NULL) {
            evbuffer_remove(in, r->body, n);
            r->body[n] = '\0';
            r->len = n;
            r->status = code;
        }
    }
    event_base_loopbreak(r->base);
}

static bool stopping(sai_ext_kube_t *k)
{
    pthread_mutex_lock(&k->mu);
    bool s = k->stop;
    pthread_mutex_unlock(&k->mu);
    return s;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    sai_ext_kube_t *k = arg;
    if (stopping(k))
        event_base_loopbreak(k->base);
}

/* One GET on a fresh connection. 0 with r->status and r->body, or an error
 * naming the transport or TLS failure. */
static int get(sai_ext_kube_t *k, struct event_base *base, SSL_CTX *ctx, const char *path,
               const char *auth, kreq *r, sai_error_t *err)
{
    int rc = 0;
    struct bufferevent *bev = NULL;
    struct evhttp_request *req = NULL;
    struct event *tick = NULL;
    memset(r, 0, sizeof *r);
    r->base = base;
    if (ctx) {
        SSL *ssl = sai_tls_client_ssl(ctx, k->host, k->host_is_ip, true);
        if (ssl == NULL)
            return sai_error_set(err, SAI_ECRYPTO, "cannot create a TLS session");
        bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE);
        if (bev == NULL) {
            SSL_free(ssl);
            return sai_error_set(err, SAI_ENOMEM, "cannot create a TLS buffer");
        }
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    }
    r->evcon = evhttp_connection_base_bufferevent_new(base, NULL, bev, k->host, (ev_uint16_t)k->port);
    if (r->evcon == NULL) {
        if (bev)
            bufferevent_free(bev);
        return sai_error_set(err, SAI_ENOMEM, "cannot create an HTTP connection");
    }
    evhttp_connection_set_timeout(r->evcon, REQ_TIMEOUT_S);
    evhttp_connection_set_retries(r->evcon, 0);
    evhttp_connection_set_max_body_size(r->evcon, SAI_KUBE_PAGE_MAX);
    evhttp_connection_set_max_headers_size(r->evcon, 64 << 10);
    if ((req = evhttp_request_new(on_req_done, r)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    evhttp_request_set_error_cb(req, on_req_error);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char hostport[300];
    snprintf(hostport, sizeof hostport, "%s:%d", k->host, k->port);
    evhttp_add_header(h, "Host", hostport);
    evhttp_add_header(h, "Accept", "application/json");
    evhttp_add_header(h, "User-Agent", "secureai-extender");
    if (auth)
        evhttp_add_header(h, "Authorization", auth);
    if (evhttp_make_request(r->evcon, req, EVHTTP_REQ_GET, path) != 0) {
        rc = sai_error_set(err, SAI_ENET, "cannot send the request to %s", k->url);
        goto out;     /* evhttp_make_request freed req */
    }
    /* The connection and request timeouts bound this loop; a tick every
     * 200 ms looks at k->stop (a loopbreak from another thread is lost if
     * it lands just before the dispatch starts). */
    tick = event_new(base, -1, EV_PERSIST, on_tick, k);
    struct timeval tv = {0, 200000};
    if (tick == NULL || event_add(tick, &tv) != 0) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    while (!r->done && !stopping(k))
        if (event_base_dispatch(base) != 0)
            break;
    if (r->status == 0) {
        if (!r->done)
            rc = sai_error_set(err, SAI_ENET, "stopped");
        else if (r->tls_err[0])
            rc = sai_error_set(err, SAI_EAUTH, "TLS with %s failed: %s", hostport, r->tls_err);
        else if (r->have_err && r->err == EVREQ_HTTP_DATA_TOO_LONG)
            rc = sai_error_set(err, SAI_ELIMIT, "a NodeList page from %s is larger than %u MiB",
                               hostport, SAI_KUBE_PAGE_MAX >> 20);
        else
            rc = sai_error_set(err, SAI_ENET, "%s: %s", hostport,
                               r->have_err && r->err == EVREQ_HTTP_TIMEOUT ? "timed out"
                               : "connection failed, refused or closed");
    }
out:
    if (tick)
        event_free(tick);
    evhttp_connection_free(r->evcon);   /* frees a request still pending */
    r->evcon = NULL;
    return rc;
}

/* The Status message of an error answer, for the log (at most 200 chars). */
static void status_message(const kreq *r, char *out, size_t cap)
{
    snprintf(out, cap, "(no message)");
    cJSON *j = r->body ? cJSON_ParseWithLength(r->body, r->len) : NULL;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
    if (cJSON_IsString(m))
        snprintf(out, cap, "%.200s", m->valuestring);
    cJSON_Delete(j);
}

/* One complete list into a new cache (*out). */
static int list_nodes(sai_ext_kube_t *k, struct event_base *base, sai_ext_cache_t **out,
                      size_t *pages_out, int *restarts_out, sai_error_t *err)
{
    int rc = 0, restarts = 0;
    size_t pages = 0;
    char *auth = NULL, *cont = NULL, *path = NULL;
    SSL_CTX *ctx = NULL;
    sai_ext_cache_t *c = NULL;
    kreq r = {0};
    *out = NULL;
    if ((rc = load_auth(k, &auth, err)) != 0)
        goto out;
    if (k->tls && (rc = make_ctx(k, &ctx, err)) != 0)
        goto out;
    if ((c = calloc(1, sizeof *c)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        char *enc = cont ? evhttp_uriencode(cont, -1, 0) : NULL;
        size_t plen = strlen(k->prefix) + 64 + (enc ? strlen(enc) : 0);
        free(path);
        path = malloc(plen);
        if (path == NULL || (cont && enc == NULL)) {
            free(enc);
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
            goto out;
        }
        snprintf(path, plen, "%s/api/v1/nodes?limit=%d%s%s", k->prefix, PAGE_LIMIT,
                 enc ? "&continue=" : "", enc ? enc : "");
        free(enc);
        if ((rc = get(k, base, ctx, path, auth, &r, err)) != 0)
            goto out;
        if (r.status == 410 && restarts < MAX_RESTARTS) {
            /* the continue token expired (etcd compacted its revision):
             * start over, as client-go's pager does */
            restarts++;
            klog(k, "continue token expired (410 Gone) on page %zu: restarting the node list", pages + 1);
            sai_sched__cache_free(c);
            if ((c = calloc(1, sizeof *c)) == NULL) {
                rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
                goto out;
            }
            free(cont);
            cont = NULL;
            pages = 0;
            free(r.body);
            r.body = NULL;
            continue;
        }
        if (r.status != 200) {
            char msg[256];
            status_message(&r, msg, sizeof msg);
            if (r.status == 401)
                rc = sai_error_set(err, SAI_EAUTH, "%s refused the bearer token (401 Unauthorized: "
                                   "expired, revoked or wrong; it is re-read from %s before every "
                                   "list): %s", k->url, k->token_file ? k->token_file : "(no token file)", msg);
            else if (r.status == 403)
                rc = sai_error_set(err, SAI_EPOLICY, "%s forbids listing nodes (403): %s; the "
                                   "extender's ServiceAccount needs get/list/watch on nodes (deploy k8s: "
                                   "ClusterRole secureai-extender-nodes)", k->url, msg);
            else if (r.status == 410)
                rc = sai_error_set(err, SAI_ENET, "continue token expired %d times in a row (410 Gone): "
                                   "%s", MAX_RESTARTS + 1, msg);
            else
                rc = sai_error_set(err, SAI_ENET, "GET %s%s answered HTTP %d: %s", k->url, path,
                                   r.status, msg);
            goto out;
        }
        size_t n = 0;
        char *next = NULL;
        rc = sai_sched__nodelist_add(c, r.body, r.len, SAI_KUBE_PAGE_BUDGET, &next, &n, err);
        free(r.body);
        r.body = NULL;
        if (rc != 0) {
            sai_error_prefix(err, "NodeList page %zu from %s", pages + 1, k->url);
            goto out;
        }
        pages++;
        free(cont);
        cont = next;
        if (cont == NULL)
            break;
        if (pages >= MAX_PAGES) {
            rc = sai_error_set(err, SAI_ELIMIT, "the node list did not end after %d pages", MAX_PAGES);
            goto out;
        }
    }
    *out = c;
    c = NULL;
    *pages_out = pages;
    *restarts_out = restarts;
out:
    free(r.body);
    free(path);
    free(cont);
    free_auth(auth);
    SSL_CTX_free(ctx);
    sai_sched__cache_free(c);
    return rc;
}

static void *lister(void *arg)
{
    sai_ext_kube_t *k = arg;
    struct event_base *base = event_base_new();
    size_t last_n = (size_t)-1;
    pthread_mutex_lock(&k->mu);
    k->base = base;
    if (base == NULL)
        klog(k, "node lister: cannot create an event loop; the node cache stays empty");
    bool first = true;
    while (base != NULL) {
        while (!k->stop && !first) {
            double t = now_s(), due = k->last_start + k->refresh_s;
            double kick_at = k->last_start + k->gap_s;
            if (t >= due || (k->kick && t >= kick_at))
                break;
            double until = k->kick && kick_at < due ? kick_at : due;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            double w = until - t;
            ts.tv_sec += (time_t)w;
            ts.tv_nsec += (long)((w - (double)(time_t)w) * 1e9);
            if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            pthread_cond_timedwait(&k->cv, &k->mu, &ts);
        }
        if (k->stop)
            break;
        first = false;
        k->kick = false;
        k->last_start = now_s();
        pthread_mutex_unlock(&k->mu);

        sai_error_t err = {0};
        sai_ext_cache_t *c = NULL;
        size_t pages = 0;
        int restarts = 0;
        double t0 = now_s();
        int rc = list_nodes(k, base, &c, &pages, &restarts, &err);
        if (rc == 0) {
            pthread_mutex_lock(&k->x->mu);
            sai_ext_cache_t *old = k->x->cache;
            k->x->cache = c;
            pthread_mutex_unlock(&k->x->mu);
            sai_sched__cache_free(old);
        }
        pthread_mutex_lock(&k->mu);
        if (k->stop)
            break;
        if (rc == 0) {
            if (c->n != last_n || k->failing || restarts > 0)
                klog(k, "%zu nodes listed from %s (%zu page%s, %.0f ms)%s", c->n, k->url, pages,
                     pages == 1 ? "" : "s", (now_s() - t0) * 1e3,
                     k->failing ? ": recovered" : "");
            last_n = c->n;
            k->listed = true;
            k->failing = false;
        } else {
            klog(k, "node list from %s failed (the cache keeps %s): %s", k->url,
                 k->listed ? "the last complete list" : "no nodes", err.msg);
            k->failing = true;
        }
    }
    k->base = NULL;
    pthread_mutex_unlock(&k->mu);
    if (base)
        event_base_free(base);
    return NULL;
}

int sai_extender_watch_nodes(sai_extender_t *x, const sai_extender_kube_opts_t *o, sai_error_t *err)
{
    int rc = 0;
    bool mu = false, cv = false;
    if (x->kube != NULL)
        return sai_error_set(err, SAI_ESTATE, "the extender already lists nodes");
    sai_ext_kube_t *k = calloc(1, sizeof *k);
    if (k == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    k->x = x;
    if ((rc = parse_opts(o, k, err)) != 0)
        goto out;
    bool in_cluster = strcmp(o->api, "in-cluster") == 0;
    const char *tok = o->token_file ? o->token_file : in_cluster ? SA_DIR "/token" : NULL;
    const char *ca = o->ca_file ? o->ca_file : in_cluster ? SA_DIR "/ca.crt" : NULL;
    if ((tok && (k->token_file = strdup(tok)) == NULL) || (ca && (k->ca_file = strdup(ca)) == NULL)) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    k->refresh_s = o->refresh_s > 0 ? o->refresh_s : 30;
    k->gap_s = k->refresh_s < KICK_GAP_S ? k->refresh_s : KICK_GAP_S;
    k->log = o->log;
    k->log_arg = o->log_arg;
    pthread_condattr_t ca_attr;
    pthread_condattr_init(&ca_attr);
    pthread_condattr_setclock(&ca_attr, CLOCK_MONOTONIC);
    mu = pthread_mutex_init(&k->mu, NULL) == 0;
    cv = pthread_cond_init(&k->cv, &ca_attr) == 0;
    pthread_condattr_destroy(&ca_attr);
    if (!mu || !cv) {
        rc = sai_error_set(err, SAI_ENOMEM, "cannot create the lister's lock");
        goto out;
    }
    evthread_use_pthreads();     /* loopbreak from sai_sched__kube_stop's thread */
    /* the lister takes no signal: SIGTERM and SIGINT go to the server's loop */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&k->thr, NULL, lister, k);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        rc = sai_error_set(err, SAI_ENOMEM, "cannot start the node lister: %s", strerror(e));
        goto out;
    }
    x->kube = k;
out:
    if (rc != 0) {
        if (mu) pthread_mutex_destroy(&k->mu);
        if (cv) pthread_cond_destroy(&k->cv);
        free(k->token_file);
        free(k->ca_file);
        free(k);
    }
    return rc;
}

void sai_sched__kube_status(sai_ext_kube_t *k, bool *fed, bool *listed)
{
    *fed = k != NULL;
    *listed = false;
    if (k == NULL)
        return;
    pthread_mutex_lock(&k->mu);
    *listed = k->listed;
    pthread_mutex_unlock(&k->mu);
}

void sai_sched__kube_kick(sai_ext_kube_t *k)
{
    if (k == NULL)
        return;
    pthread_mutex_lock(&k->mu);
    if (!k->kick) {
        k->kick = true;
        pthread_cond_signal(&k->cv);
    }
    pthread_mutex_unlock(&k->mu);
}

void sai_sched__kube_stop(sai_ext_kube_t *k)
{
    if (k == NULL)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    pthread_cond_signal(&k->cv);
    if (k->base)
        event_base_loopbreak(k->base);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thr, NULL);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    free(k->token_file);
    free(k->ca_file);
    free(k);
}
