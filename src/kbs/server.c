/*
 * server.c — the KBS's transport: libevent evhttp over OpenSSL bufferevents
 * (TLS 1.3 only), N event-loop threads sharing one listening socket, the
 * connections' deadlines and cap, and the server's lifecycle. Requests go
 * to the route table (routes.c), whose handlers answer them (routes.c for
 * the RCAR protocol, admin.c for the admin API) with http.c's helpers.
 *
 * What keeps a hostile client from hurting others: evhttp's body and header
 * caps (413 / 400 before a handler runs), a per-connection absolute deadline
 * for the next complete request (a slow client cannot hold a connection by
 * trickling bytes, which evhttp's per-read timeout alone would allow), a cap
 * on concurrent TLS connections (excess ones are closed at once), a per-client
 * token bucket (429), and parsers that answer anything unexpected with a 4xx
 * JSON error. Handlers run to completion inside the callback, so a shutdown
 * only has to stop accepting and let output buffers drain.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "kbs/server_internal.h"

typedef struct sai_kbs_worker {
    struct sai_kbs_server_t      *s;
    struct event_base          *base;
    struct evhttp              *http;
    struct evhttp_bound_socket *bound;
    struct event               *tick;
    struct event               *ready_ev;  /* activated by the sync thread */
    pthread_mutex_t             ready_mu;
    struct sai_kbs_pending     *ready;     /* answers whose record is durable (or failed) */
    pthread_t                   th;
    bool                        closing;
} worker;

/* An answer held for the group commit. */
typedef struct sai_kbs_pending {
    struct sai_kbs_pending *next;
    worker                 *w;
    struct evhttp_request  *req;
    uint64_t                ticket;
    char                   *body;
    bool                    trustee, ok;
} pending;

/* One per TLS connection, hung on the SSL object; freed with it.
 *   NEW        accepted; admitted (or closed) by a zero-delay timer, the
 *              first moment the socket and so the peer address are known
 *   HANDSHAKE  admitted; counted against the handshake caps; closed at the
 *              handshake deadline
 *   OPEN       handshake done; the request deadline applies
 *   REFUSED    over a cap: closed at once */
enum { C_NEW, C_HANDSHAKE, C_OPEN, C_REFUSED };

typedef struct conn {
    struct sai_kbs_server_t *s;
    struct bufferevent    *bev;
    struct event          *deadline;
    int                    state;
    bool                   counted;       /* holds a per-address connection slot */
    bool                   hs_done_early; /* handshake finished before admission */
    char                   addr[48];
} conn;
static int g_conn_ix = -1;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* ---- logging -------------------------------------------------------------- */
void sai_kbs__log(sai_kbs_server_t *s, const char *level, const char *fmt, ...)
{
    if (s->cfg.quiet && strcmp(level, "info") == 0)
        return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&s->log_mu);
    fprintf(stderr, "{\"ts\":%lld,\"level\":\"%s\",%s}\n", (long long)sai_kbs__wall_now(), level, msg);
    pthread_mutex_unlock(&s->log_mu);
}

static conn *conn_of(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    return ssl ? SSL_get_ex_data(ssl, g_conn_ix) : NULL;
}

static void arm_deadline(conn *c, int seconds)
{
    struct timeval tv = {seconds, 0};
    if (c && c->deadline)
        evtimer_add(c->deadline, &tv);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    worker *w = arg;
    sai_kbs_server_t *s = w->s;
    double t0 = sai_now();
    const char *uri = evhttp_request_get_uri(req);
    char path[600], peer[64] = "?";
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    char *host = NULL;
    ev_uint16_t pport = 0;
    if (evcon) {
        evhttp_connection_get_peer(evcon, &host, &pport);
        snprintf(peer, sizeof peer, "%s", host ? host : "?");
    }
    /* The next request on this connection must arrive complete within the
     * idle + header budget, whatever trickle of bytes keeps it alive. */
    conn *cn = conn_of(req);
    arm_deadline(cn, s->cfg.idle_timeout_s + s->cfg.header_timeout_s);
    /* evhttp falls back to a plain socket when bev_cb fails (out of memory):
     * never serve anything but an error over such a connection. */
    if (!s->cfg.insecure_http && cn == NULL) {
        sai_kbs__reply_error(req, 400, "TLS is required");
        return;
    }
    if (uri == NULL || strlen(uri) >= sizeof path) {
        sai_kbs__reply_error(req, 414, "the URI is too long");
        return;
    }
    snprintf(path, sizeof path, "%s", uri);
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    const char *route;
    int code = sai_kbs__route(s, req, peer, path, t0, &route);
    double dt = sai_now() - t0;
    sai_kbs__metrics_request(s->metrics, route, code, dt);
    char *qm = strchr(path, '?');
    if (qm)
        *qm = '\0';
    char pesc[200];
    sai_kbs__json_str(pesc, sizeof pesc, path);
    sai_kbs__log(s, code >= 500 ? "error" : code >= 400 ? "warn" : "info",
                "\"msg\":\"request\",\"peer\":\"%s\",\"method\":\"%s\",\"path\":%s,\"status\":%d,\"ms\":%.3f",
                peer, m == EVHTTP_REQ_GET ? "GET" : m == EVHTTP_REQ_POST ? "POST" : m == EVHTTP_REQ_PUT ? "PUT"
                : m == EVHTTP_REQ_DELETE ? "DELETE" : "OTHER", pesc, code, dt * 1e3);
}

/* ---- connections ------------------------------------------------------------------- */
static void conn_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    conn *c = ptr;
    if (c == NULL)
        return;
    if (c->deadline)
        event_free(c->deadline);
    sai_kbs_server_t *s = c->s;
    if (c->counted) {
        pthread_mutex_lock(&s->addr_mu);
        sai_kbs__addrcount_add(s->conns_by_addr, c->addr, -1);
        s->admitted--;
        if (c->state == C_HANDSHAKE) {
            sai_kbs__addrcount_add(s->hs_by_addr, c->addr, -1);
            s->handshakes--;
        }
        pthread_mutex_unlock(&s->addr_mu);
    }
    atomic_fetch_sub(&s->conns, 1);
    free(c);
}

static void init_once(void)
{
    evthread_use_pthreads();
    g_conn_ix = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free_cb);
}

static void close_conn(conn *c)
{
    evutil_socket_t sfd = bufferevent_getfd(c->bev);
    if (sfd >= 0)
        shutdown(sfd, SHUT_RDWR);   /* evhttp sees EOF and frees the connection */
}

/* Admission, once the socket is attached: per-address connection cap and
 * the caps on unfinished handshakes (all, and per address). A connection
 * that never starts TLS, or trickles its handshake, holds a handshake slot
 * for handshake_timeout_s at most; one address can hold at most
 * max_handshakes_per_addr of them and max_connections_per_addr connections,
 * so it cannot take the slots other addresses need. */
static void admit(conn *c)
{
    sai_kbs_server_t *s = c->s;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) {
        c->state = C_REFUSED;
        close_conn(c);
        return;
    }
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, c->addr, sizeof c->addr);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, c->addr, sizeof c->addr);
    const char *why = NULL;
    pthread_mutex_lock(&s->addr_mu);
    if (s->admitted >= s->cfg.max_connections)
        why = "connections";
    else if (sai_kbs__addrcount_get(s->conns_by_addr, c->addr) >= (uint32_t)s->cfg.max_connections_per_addr)
        why = "connections from this address";
    else if (!c->hs_done_early &&
             sai_kbs__addrcount_get(s->hs_by_addr, c->addr) >= (uint32_t)s->cfg.max_handshakes_per_addr)
        why = "unfinished handshakes from this address";
    else if (!c->hs_done_early && s->handshakes >= s->cfg.max_handshakes)
        why = "unfinished handshakes";
    if (why == NULL && sai_kbs__addrcount_add(s->conns_by_addr, c->addr, 1) == UINT32_MAX)
        why = "connections";
    if (why == NULL) {
        c->counted = true;
        s->admitted++;
        if (c->hs_done_early) {
            c->state = C_OPEN;
        } else {
            sai_kbs__addrcount_add(s->hs_by_addr, c->addr, 1);
            s->handshakes++;
            c->state = C_HANDSHAKE;
        }
    }
    pthread_mutex_unlock(&s->addr_mu);
    if (why != NULL) {
        c->state = C_REFUSED;
        atomic_fetch_add(&s->refused, 1);
        close_conn(c);
        return;
    }
    arm_deadline(c, c->state == C_OPEN ? s->cfg.header_timeout_s : s->cfg.handshake_timeout_s);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    if (c->state == C_NEW)
        admit(c);
    else
        close_conn(c);
}

/* The handshake finished: release its handshake slot, and from now on the
 * request deadline applies. */
static void info_cb(const SSL *ssl, int where, int ret)
{
    if (!(where & SSL_CB_HANDSHAKE_DONE))
        return;
    conn *c = SSL_get_ex_data(ssl, g_conn_ix);
    if (c == NULL)
        return;
    if (c->state == C_NEW) {
        c->hs_done_early = true;
        return;
    }
    if (c->state != C_HANDSHAKE)
        return;
    sai_kbs_server_t *s = c->s;
    pthread_mutex_lock(&s->addr_mu);
    sai_kbs__addrcount_add(s->hs_by_addr, c->addr, -1);
    s->handshakes--;
    c->state = C_OPEN;
    pthread_mutex_unlock(&s->addr_mu);
    arm_deadline(c, s->cfg.header_timeout_s);
}

static struct bufferevent *bev_cb(struct event_base *base, void *arg)
{
    worker *w = arg;
    sai_kbs_server_t *s = w->s;
    SSL *ssl = SSL_new(s->ssl);
    conn *c = calloc(1, sizeof *c);
    if (ssl == NULL || c == NULL) {
        SSL_free(ssl);
        free(c);
        return NULL;
    }
    c->s = s;
    int n = atomic_fetch_add(&s->conns, 1) + 1;
    SSL_set_ex_data(ssl, g_conn_ix, c);     /* from here the SSL owns c */
    c->bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    sai_kbs__json_errors(c->bev);
    c->deadline = evtimer_new(base, deadline_cb, c);
    /* Admitted or closed as soon as evhttp has attached the socket (the
     * peer address is known from then on). Connections waiting for that
     * (one loop turn) do not count against the caps, so a flood of
     * refused ones cannot make the cap refuse others; past a hard ceiling
     * of 4 x max_connections of them, new ones are closed unseen. */
    if (n > 4 * s->cfg.max_connections) {
        c->state = C_REFUSED;
        atomic_fetch_add(&s->refused, 1);
    }
    arm_deadline(c, 0);
    return c->bev;
}

/* --insecure-http: a plain socket, evhttp's timeouts, no caps (loopback
 * tests only); its early errors in JSON too. */
static struct bufferevent *bev_plain_cb(struct event_base *base, void *arg)
{
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev)
        sai_kbs__json_errors(bev);
    return bev;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    sai_kbs_server_t *s = w->s;
    if (w == &s->w[0]) {
        sai_kbs__metrics_gauge(s->metrics, "connections", atomic_load(&s->conns));
        sai_kbs__metrics_gauge(s->metrics, "connections_refused", (double)atomic_load(&s->refused));
        pthread_mutex_lock(&s->addr_mu);
        sai_kbs__metrics_gauge(s->metrics, "handshakes", s->handshakes);
        pthread_mutex_unlock(&s->addr_mu);
        sai_kbs__metrics_gauge(s->metrics, "sessions", (double)sai_kbs__sessions_live(s->sessions));
        sai_kbs__metrics_gauge(s->metrics, "sessions_evicted",
                              (double)sai_kbs__sessions_evicted(s->sessions));
    }
    if (atomic_load(&s->stopping) && !w->closing) {
        w->closing = true;
        if (w->bound)
            evhttp_del_accept_socket(w->http, w->bound);
        w->bound = NULL;
        struct timeval grace = {0, 300 * 1000};   /* let replies drain */
        event_base_loopexit(w->base, &grace);
    }
}

/* ---- group commit ------------------------------------------------------------------- */
static void pending_free(pending *p)
{
    if (p == NULL)
        return;
    if (p->body) {
        sai_wipe(p->body, strlen(p->body));   /* a wrapped secret, but still */
        free(p->body);
    }
    free(p);
}

/* On p's event loop: the answer, now that its record is durable (or not). */
static void complete(sai_kbs_server_t *s, pending *p)
{
    if (p->ok) {
        sai_kbs__reply_json(p->req, 200, p->body);
    } else {
        const char *what = "cannot make the release record durable (fsync failed); refusing";
        if (p->trustee)
            sai_kbs__reply_trustee_error(p->req, 500, "PluginInternalError", what, false);
        else
            sai_kbs__reply_error(p->req, 500, what);
        sai_kbs__log(s, "error", "\"msg\":\"release refused\",\"why\":\"%s\"", what);
    }
    sai_kbs__metrics_verdict(s->metrics, "release", p->ok);
    pending_free(p);
}

static void ready_cb(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    pthread_mutex_lock(&w->ready_mu);
    pending *p = w->ready;
    w->ready = NULL;
    pthread_mutex_unlock(&w->ready_mu);
    /* the list is newest first: answer in commit order */
    pending *rev = NULL;
    while (p) {
        pending *n = p->next;
        p->next = rev;
        rev = p;
        p = n;
    }
    while (rev) {
        pending *n = rev->next;
        complete(w->s, rev);
        rev = n;
    }
}

static worker *worker_of(sai_kbs_server_t *s, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct event_base *base = evcon ? evhttp_connection_get_base(evcon) : NULL;
    for (int i = 0; base && i < s->nw; i++)
        if (s->w[i].base == base)
            return &s->w[i];
    return NULL;
}

void sai_kbs__reply_durable(sai_kbs_server_t *s, struct evhttp_request *req, uint64_t ticket,
                            char *body, bool trustee)
{
    pending *p = calloc(1, sizeof *p);
    worker *w = worker_of(s, req);
    if (p == NULL || w == NULL) {
        if (body) {
            sai_wipe(body, strlen(body));
            free(body);
        }
        free(p);
        sai_kbs__reply_error(req, 500, "cannot hold the answer for the audit record's fsync");
        sai_kbs__metrics_verdict(s->metrics, "release", false);
        return;
    }
    *p = (pending){.w = w, .req = req, .ticket = ticket, .body = body, .trustee = trustee};
    bool now = false;
    pthread_mutex_lock(&s->wait_mu);
    if (s->sync_failed || ticket <= s->durable) {
        p->ok = !s->sync_failed;
        now = true;
    } else {
        p->next = s->waiting;
        s->waiting = p;
        pthread_cond_signal(&s->wait_cv);
    }
    pthread_mutex_unlock(&s->wait_mu);
    if (now)
        complete(s, p);   /* on req's own loop already */
}

/* After an fsync: hand every answer it covered (all of them, if it failed:
 * none can become durable now) to its event loop. */
static void release_waiters(sai_kbs_server_t *s, uint64_t covered, bool failed)
{
    pending *keep = NULL, *p;
    bool wake[64] = {false};
    pthread_mutex_lock(&s->wait_mu);
    s->durable = covered;
    s->sync_failed = s->sync_failed || failed;
    p = s->waiting;
    s->waiting = NULL;
    while (p) {
        pending *n = p->next;
        if (s->sync_failed || p->ticket <= covered) {
            p->ok = !s->sync_failed;
            worker *w = p->w;
            pthread_mutex_lock(&w->ready_mu);
            p->next = w->ready;
            w->ready = p;
            pthread_mutex_unlock(&w->ready_mu);
            wake[(w - s->w) % 64] = true;
        } else {
            p->next = keep;
            keep = p;
        }
        p = n;
    }
    s->waiting = keep;
    pthread_mutex_unlock(&s->wait_mu);
    for (int i = 0; i < s->nw; i++)
        if (wake[i % 64] && s->w[i].ready_ev)
            event_active(s->w[i].ready_ev, EV_READ, 0);
}

/* ---- lifecycle ------------------------------------------------------------------------ */
static int open_listener(sai_kbs_server_t *s, sai_error_t *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->cfg.port)};
    const char *a = strcmp(s->cfg.listen_addr, "localhost") == 0 ? "127.0.0.1" : s->cfg.listen_addr;
    if (inet_pton(AF_INET, a, &sa.sin_addr) != 1)
        return sai_error_set(err, SAI_EINVAL, "listen address %s is not an IPv4 address", a);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (s->fd < 0)
        return sai_error_set(err, SAI_EIO, "socket: %s", strerror(errno));
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Inherited by accepted sockets on Linux: replies go out without
     * waiting for the client's delayed ACK. */
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(s->fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s->fd, 1024) != 0)
        return sai_error_set(err, SAI_ENET, "cannot listen on %s:%d: %s", a, s->cfg.port,
                             strerror(errno));
    socklen_t sl = sizeof sa;
    getsockname(s->fd, (struct sockaddr *)&sa, &sl);
    s->port = ntohs(sa.sin_port);
    return 0;
}

/* ---- TLS 1.3 session tickets ---------------------------------------------------------
 * A returning client resumes with a ticket instead of a full handshake (no
 * certificate, no CertificateVerify signature; the key exchange stays
 * ephemeral, psk_dhe_ke). Tickets are sealed under the server's own keys:
 * random per process, each key = 16-byte name || 32-byte AES-256-CBC key ||
 * 32-byte HMAC-SHA-256 key, rotated every SAI_KBS_TICKET_ROTATE_S; a ticket
 * under the previous key still opens (and is replaced by a new one), any
 * other one (older, another process's, damaged: the HMAC is checked before
 * anything is decrypted) means a full handshake. The keys live only in
 * memory, are never logged, and are wiped on rotation and at exit. The
 * server asks for no client certificate, so a resumed session skips no
 * check the full handshake makes: admission, caps and deadlines are per
 * connection either way. */
#define SAI_KBS_TICKET_ROTATE_S 3600

static int ticket_key_new(unsigned char k[80])
{
    return RAND_bytes(k, 16) == 1 && RAND_priv_bytes(k + 16, 64) == 1 ? 0 : -1;
}

static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                     EVP_CIPHER_CTX *ctx, EVP_MAC_CTX *hctx, int enc)
{
    sai_kbs_server_t *s = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    unsigned char k[80];
    int ret = 0;
    if (s == NULL)
        return -1;
    pthread_mutex_lock(&s->tls_mu);
    if (enc) {
        double now = sai_now();
        if (now - s->ticket_rotated >= SAI_KBS_TICKET_ROTATE_S) {
            unsigned char fresh[80];
            if (ticket_key_new(fresh) == 0) {
                memcpy(s->ticket_keys[1], s->ticket_keys[0], 80);
                memcpy(s->ticket_keys[0], fresh, 80);
                s->ticket_rotated = now;
            }
            sai_wipe(fresh, sizeof fresh);
        }
        memcpy(k, s->ticket_keys[0], 80);
        ret = 1;
    } else {
        for (int i = 0; i < 2 && ret == 0; i++)
            if (memcmp(key_name, s->ticket_keys[i], 16) == 0) {
                memcpy(k, s->ticket_keys[i], 80);
                ret = i == 0 ? 1 : 2;   /* 2: valid, issue a fresh ticket */
            }
    }
    pthread_mutex_unlock(&s->tls_mu);
    if (ret == 0)
        return 0;       /* not ours (any more): full handshake */
    OSSL_PARAM p3[3] = {OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k + 48, 32),
                        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                        OSSL_PARAM_construct_end()};
    if (enc) {
        memcpy(key_name, k, 16);
        if (RAND_bytes(iv, 16) != 1 ||
            EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, k + 16, iv) != 1)
            ret = -1;
    } else if (EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, k + 16, iv) != 1) {
        ret = -1;
    }
    if (ret > 0 && EVP_MAC_CTX_set_params(hctx, p3) != 1)
        ret = -1;
    sai_wipe(k, sizeof k);
    return ret;
}

static int make_ssl(sai_kbs_server_t *s, sai_error_t *err)
{
    char cert[600], key[600];
    bool created = false;
    snprintf(cert, sizeof cert, "%s", s->cfg.tls_cert[0] ? s->cfg.tls_cert : "");
    snprintf(key, sizeof key, "%s", s->cfg.tls_key[0] ? s->cfg.tls_key : "");
    if (!cert[0])
        snprintf(cert, sizeof cert, "%s/tls.crt", s->cfg.data_dir);
    if (!key[0])
        snprintf(key, sizeof key, "%s/tls.key", s->cfg.data_dir);
    int rc = sai_kbs__tls_ensure(cert, key, s->fp, &created, err);
    if (rc != 0)
        return rc;
    s->ssl = SSL_CTX_new(TLS_server_method());
    if (s->ssl == NULL || SSL_CTX_set_min_proto_version(s->ssl, TLS1_3_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(s->ssl, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(s->ssl, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(s->ssl) != 1)
        return sai_error_set(err, SAI_ECRYPTO, "cannot load TLS certificate %s / key %s", cert, key);
    /* Stateless tickets only (nothing kept per client on the server); one
     * per handshake, as the client keeps one. */
    if (ticket_key_new(s->ticket_keys[0]) != 0 || ticket_key_new(s->ticket_keys[1]) != 0)
        return sai_error_set(err, SAI_ECRYPTO, "cannot make TLS ticket keys");
    s->ticket_rotated = sai_now();
    SSL_CTX_set_app_data(s->ssl, s);
    SSL_CTX_set_session_cache_mode(s->ssl, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(s->ssl, 1);
    SSL_CTX_set_timeout(s->ssl, SAI_KBS_TICKET_ROTATE_S);
    static const unsigned char sid_ctx[] = "secureai-kbs";
    SSL_CTX_set_session_id_context(s->ssl, sid_ctx, sizeof sid_ctx - 1);
    if (SSL_CTX_set_tlsext_ticket_key_evp_cb(s->ssl, ticket_cb) != 1)
        return sai_error_set(err, SAI_ECRYPTO, "cannot install the TLS ticket callback");
    SSL_CTX_set_info_callback(s->ssl, info_cb);
    sai_kbs__log(s, "notice", "\"msg\":\"tls certificate\",\"file\":\"%s\",\"generated\":%s,"
             "\"sha256\":\"%s\"", cert, created ? "true" : "false", s->fp);
    return 0;
}

/* The key-wrapping key and the answer GET /kbs/v0/wrap-key gives. */
static int make_wrap_key(sai_kbs_server_t *s, sai_error_t *err)
{
    char *jwk = NULL;
    int rc = sai_kbs__wrap_key_ensure(&s->wrap_key, s->cfg.data_dir, s->wrap_sha, err);
    if (rc == 0)
        rc = sai_kbs_jwk_format(s->wrap_key, &jwk, err);
    if (rc == 0) {
        size_t n = strlen(jwk) + 120;
        if ((s->wrap_jwk = malloc(n)) == NULL)
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        else
            snprintf(s->wrap_jwk, n, "{\"jwk\":%s,\"sha256\":\"%s\"}", jwk, s->wrap_sha);
    }
    free(jwk);
    if (rc == 0)
        sai_kbs__log(s, "notice", "\"msg\":\"wrap key\",\"file\":\"%s/" SAI_KBS_WRAP_PUB_FILE "\","
                 "\"sha256\":\"%s\"", s->cfg.data_dir, s->wrap_sha);
    return rc;
}

int sai_kbs_server_new(sai_kbs_server_t **out, const sai_kbs_config_t *cfg,
                       const sai_kbs_verifier_t *verifier, sai_error_t *err)
{
    *out = NULL;
    pthread_once(&g_once, init_once);
    sai_kbs_server_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    s->cfg = *cfg;
    s->verifier = *verifier;
    s->fd = -1;
    pthread_mutex_init(&s->log_mu, NULL);
    pthread_mutex_init(&s->addr_mu, NULL);
    pthread_mutex_init(&s->wait_mu, NULL);
    pthread_cond_init(&s->wait_cv, NULL);
    pthread_mutex_init(&s->tls_mu, NULL);
    int rc = 0;
    char path[600];
    if ((rc = sai_kbs_config_check(&s->cfg, err)) != 0)
        goto fail;
    if (s->cfg.threads < 1)
        s->cfg.threads = 1;
    if ((rc = sai_kbs__store_open_sealed(&s->store, s->cfg.data_dir, true,
                                        s->cfg.seal_master_key, err)) != 0)
        goto fail;
    /* The audit chain must still hold its anchors; a cut one is not
     * appended to unless the operator accepts it (and that is audited). */
    {
        uint64_t n = 0;
        char head[65];
        sai_error_t cut = {0};
        int crc = sai_kbs__audit_anchor_check(s->store, s->cfg.data_dir, &n, head, &cut);
        if (crc != 0 && (crc != SAI_EAUTH || !s->cfg.accept_audit_cut)) {
            rc = sai_error_set(err, crc, "%s; refusing to start on it (kbs audit verify --data-dir %s shows "
                               "it; kbs serve --accept-audit-cut starts anyway and records the cut)",
                               cut.msg, s->cfg.data_dir);
            goto fail;
        }
        if (crc != 0) {
            sai_kbs__log(s, "warn", "\"msg\":\"audit cut accepted\",\"why\":\"%.400s\"", cut.msg);
            if ((rc = sai_kbs__audit_accept_cut(s->store, s->cfg.data_dir, cut.msg, err)) != 0 ||
                (rc = sai_kbs__audit_anchor_check(s->store, s->cfg.data_dir, &n, head, err)) != 0)
                goto fail;
        }
        snprintf(path, sizeof path, "%s/" SAI_KBS_ANCHOR_FILE, s->cfg.data_dir);
        if ((rc = sai_kbs__anchor_write(path, n, head, err)) != 0)
            goto fail;
        sai_kbs__store_anchor_enable(s->store, path, n);
    }
    snprintf(path, sizeof path, "%s/signing.key", s->cfg.data_dir);
    if ((rc = sai_kbs__key_ensure(&s->signer, path, err)) != 0 ||
        (rc = make_wrap_key(s, err)) != 0 ||
        (rc = sai_kbs__admin_token_load(s, err)) != 0 ||
        (rc = sai_kbs__sessions_new(&s->sessions, (size_t)s->cfg.max_sessions,
                                         (size_t)s->cfg.max_sessions_per_addr, s->cfg.nonce_ttl_s, err)) != 0 ||
        (rc = sai_kbs__issued_new(&s->issued, err)) != 0 ||
        (rc = sai_kbs__cookies_new(&s->cookies, err)) != 0 ||
        (rc = sai_kbs__ratelimit_new(&s->rl, s->cfg.rate_per_s, s->cfg.rate_burst, err)) != 0)
        goto fail;
    if ((rc = sai_kbs__addrcount_new(&s->conns_by_addr, (size_t)s->cfg.max_connections, err)) != 0 ||
        (rc = sai_kbs__addrcount_new(&s->hs_by_addr, (size_t)s->cfg.max_connections, err)) != 0)
        goto fail;
    if (sai_kbs__metrics_new(&s->metrics) != 0) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto fail;
    }
    /* A policy put through the admin API outlives restarts. */
    char *pol = NULL;
    if (s->verifier.set_policy &&
        sai_kbs__store_get_setting(s->store, "attestation_policy", &pol, NULL) == 0) {
        rc = s->verifier.set_policy(s->verifier.ctx, pol, strlen(pol), err);
        free(pol);
        if (rc != 0) {
            sai_error_prefix(err, "stored attestation policy");
            goto fail;
        }
    }
    if (!s->cfg.insecure_http && (rc = make_ssl(s, err)) != 0)
        goto fail;
    if ((rc = open_listener(s, err)) != 0)
        goto fail;
    s->nw = s->cfg.threads;
    if ((s->w = calloc((size_t)s->nw, sizeof *s->w)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < s->nw; i++) {
        worker *w = &s->w[i];
        w->s = s;
        pthread_mutex_init(&w->ready_mu, NULL);
        w->base = event_base_new();
        w->http = w->base ? evhttp_new(w->base) : NULL;
        int fd = dup(s->fd);
        if (w->http == NULL || fd < 0 ||
            (w->bound = evhttp_accept_socket_with_handle(w->http, fd)) == NULL) {
            if (fd >= 0)
                close(fd);
            rc = sai_error_set(err, SAI_EIO, "cannot set up event loop %d", i);
            goto fail;
        }
        evhttp_set_max_body_size(w->http, (ev_ssize_t)s->cfg.max_body);
        /* Drain (not buffer) an oversized body, then answer 413: without this
         * the close races the upload and the client sees a reset instead of
         * the status. The connection deadline still bounds the upload. */
        evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
        evhttp_set_max_headers_size(w->http, 16 * 1024);
        evhttp_set_timeout(w->http, s->cfg.header_timeout_s);
        evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE);
        evhttp_set_gencb(w->http, on_request, w);
        evhttp_set_bevcb(w->http, s->cfg.insecure_http ? bev_plain_cb : bev_cb, w);
        w->tick = event_new(w->base, -1, EV_PERSIST, tick_cb, w);
        w->ready_ev = event_new(w->base, -1, 0, ready_cb, w);
        struct timeval tv = {0, 100 * 1000};
        if (w->tick == NULL || w->ready_ev == NULL || event_add(w->tick, &tv) != 0) {
            rc = sai_error_set(err, SAI_EIO, "cannot set up timers");
            goto fail;
        }
    }
    sai_kbs__log(s, "notice", "\"msg\":\"listening\",\"addr\":\"%s\",\"port\":%d,\"tls\":%s,"
             "\"threads\":%d", s->cfg.listen_addr, s->port, s->cfg.insecure_http ? "false" : "true",
             s->nw);
    *out = s;
    return 0;
fail:
    sai_kbs_server_free(s);
    return rc;
}

int sai_kbs_server_port(const sai_kbs_server_t *s) { return s->port; }
sai_kbs_store_t *sai_kbs__server_store(sai_kbs_server_t *s) { return s->store; }
const char *sai_kbs_server_fingerprint(const sai_kbs_server_t *s) { return s->fp; }
const char *sai_kbs_server_wrap_key_sha256(const sai_kbs_server_t *s) { return s->wrap_sha; }

/* Group commit, off the event loops: one fsync of the WAL covers every
 * record committed before it started (by any worker), and the answers
 * waiting for them go out after it. An fsync starts as soon as a release
 * waits for one; while it runs, new ones gather for the next, so the fsync
 * rate follows the disk. Records nobody waits for (attest decisions) are
 * fsynced by the next release's fsync or within 100 ms, with the
 * checkpoint and the audit.anchor file. */
static void *sync_main(void *arg)
{
    sai_kbs_server_t *s = arg;
    double last = sai_now();
    for (;;) {
        bool stop = atomic_load(&s->stopping);
        uint64_t covered = 0;
        int rc = sai_kbs__store_sync_wal(s->store, &covered);
        release_waiters(s, covered, rc != 0);
        if (stop)
            break;
        if (sai_now() - last >= 0.1) {
            sai_kbs__store_sync(s->store);
            last = sai_now();
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&s->wait_mu);
        if (s->waiting == NULL)
            pthread_cond_timedwait(&s->wait_cv, &s->wait_mu, &ts);
        pthread_mutex_unlock(&s->wait_mu);
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

int sai_kbs_server_run(sai_kbs_server_t *s, sai_error_t *err)
{
    signal(SIGPIPE, SIG_IGN);
    int started = 0;
    pthread_t syncer;
    bool have_syncer = pthread_create(&syncer, NULL, sync_main, s) == 0;
    for (int i = 1; i < s->nw; i++) {
        if (pthread_create(&s->w[i].th, NULL, worker_main, &s->w[i]) != 0)
            break;
        started = i;
    }
    worker_main(&s->w[0]);
    for (int i = 1; i <= started; i++)
        pthread_join(s->w[i].th, NULL);
    if (have_syncer)
        pthread_join(syncer, NULL);
    sai_kbs__store_sync(s->store);
    sai_kbs__log(s, "notice", "\"msg\":\"stopped\"");
    return 0;
}

void sai_kbs_server_stop(sai_kbs_server_t *s)
{
    if (s)
        atomic_store(&s->stopping, 1);
}

void sai_kbs_server_free(sai_kbs_server_t *s)
{
    if (s == NULL)
        return;
    /* Answers still held at the end: their requests belong to evhttp (freed
     * with the connections below); only the bodies are ours. */
    for (pending *p = s->waiting, *n; p; p = n) {
        n = p->next;
        pending_free(p);
    }
    for (int i = 0; s->w && i < s->nw; i++) {
        for (pending *p = s->w[i].ready, *n; p; p = n) {
            n = p->next;
            pending_free(p);
        }
        if (s->w[i].ready_ev)
            event_free(s->w[i].ready_ev);
        if (s->w[i].tick)
            event_free(s->w[i].tick);
        if (s->w[i].http)
            evhttp_free(s->w[i].http);
        if (s->w[i].base)
            event_base_free(s->w[i].base);
        pthread_mutex_destroy(&s->w[i].ready_mu);
    }
    free(s->w);
    if (s->fd >= 0)
        close(s->fd);
    SSL_CTX_free(s->ssl);
    sai_kbs__metrics_free(s->metrics);
    sai_kbs__ratelimit_free(s->rl);
    sai_kbs__sessions_free(s->sessions);
    sai_kbs__issued_free(s->issued);
    sai_kbs__cookies_free(s->cookies);
    sai_ec_free(s->signer);
    sai_ec_free(s->wrap_key);
    free(s->wrap_jwk);
    sai_kbs__store_close(s->store);
    sai_wipe(s->admin_hash, sizeof s->admin_hash);
    sai_kbs__addrcount_free(s->conns_by_addr);
    sai_kbs__addrcount_free(s->hs_by_addr);
    pthread_mutex_destroy(&s->addr_mu);
    pthread_mutex_destroy(&s->log_mu);
    pthread_mutex_destroy(&s->wait_mu);
    pthread_cond_destroy(&s->wait_cv);
    pthread_mutex_destroy(&s->tls_mu);
    sai_wipe(s->ticket_keys, sizeof s->ticket_keys);
    free(s);
}
