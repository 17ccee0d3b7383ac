/*
 * client.c — the KBS client: a small blocking HTTP(S) client over libevent's
 * evhttp (one private event_base, one keep-alive connection) and the whole
 * RCAR flow as one library call, sai_kbs_client_get_resource, which the
 * pipeline's enclave and `secureai kbs get-resource` use.
 *
 * Trust in the KBS: https always verifies the server, either against a CA
 * file (chain + the URL's host or IP) or against a pinned SHA-256 of its
 * DER certificate; there is no "don't verify" switch. Plain http:// is
 * refused unless the caller says allow_insecure_http (for the pipeline:
 * only when the measured spec says kbs.insecure_http), so whoever chooses
 * the URL cannot downgrade the channel to one a proxy can rewrite. A KBS that is down
 * gives SAI_ENET after a bounded number of attempts with doubling backoff;
 * every request has a timeout, so nothing here can hang.
 *
 * TLS session resumption: a process keeps one TLS 1.3 session (ticket) per
 * KBS and trust configuration (the cache key is SHA-256 of host, port, pin,
 * CA file and CA PEM), shared by every client object in the process, so a
 * new connection to the same KBS skips the certificate exchange (and its
 * signature and verification). The session was made by a full handshake
 * that passed this configuration's pin or CA check; a client with any other
 * pin, CA or host has another key and never offers it. A ticket the server
 * cannot open (restarted, rotated out, damaged) costs only a full handshake.
 *
 * SIGPIPE: a KBS that hangs up mid-handshake (all its slots taken, a
 * restart) must cost a retry, not the process; the library runs inside the
 * enclave and other programs, so it does not touch the process's signal
 * dispositions. TLS goes through a socket BIO that writes with
 * send(MSG_NOSIGNAL) (swapped in before the first handshake byte); plain
 * HTTP (libevent's own writev) blocks SIGPIPE in the calling thread for the
 * exchange and discards one it raised.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "kbs/kbs_internal.h"
#include "secureai/util.h"
#include "util/tls.h"
#include "util/weaken.h"

#define RESP_MAX (1024 * 1024)
#define SAI_KBS_RETRY_AFTER_MAX_S 10.0

struct sai_kbs_client_t {
    struct event_base        *base;
    struct evhttp_connection *evcon;
    SSL_CTX                  *ctx;
    char                      host[256];
    int                       port;
    bool                      tls;
    bool                      host_is_ip;
    bool                      pinned;
    uint8_t                   pin[32];
    sai_kbs_channel_t           channel;
    double                    timeout_s;
    int                       retries;
    /* per-request state */
    int                       status;
    double                    retry_after;   /* seconds from Retry-After, -1: none */
    char                     *resp;
    size_t                    resp_len;
    bool                      done, too_big;
    enum evhttp_request_error req_err;
    bool                      have_req_err;
    char                      tls_err[200];
    bool                      tls_verify_failed;
    char                      cookie[40];    /* kbs-session-id of the last Set-Cookie (Trustee) */
    uint8_t                   sess_key[32];  /* the TLS session cache's key for this KBS + trust */
    bool                      resumed;       /* the last connection resumed a session */
    /* connections from a dialer instead (sai_kbs_client_set_dialer) */
    sai_kbs_dial_fn           dial;
    void                     *dial_ctx;
    int                       sfd;           /* the dialed stream, -1: none */
    SSL                      *sssl;          /* TLS over it (https) */
};

/* ---- the process's TLS sessions, one per KBS and trust configuration ---------- */
#define SESS_SLOTS 16
static struct {
    pthread_mutex_t mu;
    struct { uint8_t key[32]; SSL_SESSION *sess; double used; } slot[SESS_SLOTS];
} g_sess = {.mu = PTHREAD_MUTEX_INITIALIZER};

static SSL_SESSION *sess_get(const uint8_t key[32])
{
    SSL_SESSION *r = NULL;
    pthread_mutex_lock(&g_sess.mu);
    for (int i = 0; i < SESS_SLOTS; i++)
        if (g_sess.slot[i].sess && memcmp(g_sess.slot[i].key, key, 32) == 0) {
            if (SSL_SESSION_is_resumable(g_sess.slot[i].sess) && SSL_SESSION_up_ref(g_sess.slot[i].sess) == 1)
                r = g_sess.slot[i].sess;
            break;
        }
    pthread_mutex_unlock(&g_sess.mu);
    return r;
}

/* Offer ssl a copy of key's session (the server may refuse it): the cached
 * one stays resumable whatever becomes of this connection. */
static void offer_session(SSL *ssl, const uint8_t key[32])
{
    SSL_SESSION *sess = sess_get(key);
    SSL_SESSION *copy = sess ? SSL_SESSION_dup(sess) : NULL;
    if (copy != NULL)
        SSL_set_session(ssl, copy);
    SSL_SESSION_free(copy);
    SSL_SESSION_free(sess);
}

/* Takes sess (NULL: forget key's session). The least recently stored slot
 * goes when all are taken. */
static void sess_put(const uint8_t key[32], SSL_SESSION *sess)
{
    int at = -1, old = 0;
    pthread_mutex_lock(&g_sess.mu);
    for (int i = 0; i < SESS_SLOTS && at < 0; i++)
        if (g_sess.slot[i].sess && memcmp(g_sess.slot[i].key, key, 32) == 0)
            at = i;
    for (int i = 0; i < SESS_SLOTS && at < 0; i++)
        if (g_sess.slot[i].sess == NULL)
            at = i;
    if (at < 0) {
        for (int i = 1; i < SESS_SLOTS; i++)
            if (g_sess.slot[i].used < g_sess.slot[old].used)
                old = i;
        at = old;
    }
    SSL_SESSION *prev = g_sess.slot[at].sess;
    memcpy(g_sess.slot[at].key, key, 32);
    g_sess.slot[at].sess = sess;
    g_sess.slot[at].used = sai_now();
    pthread_mutex_unlock(&g_sess.mu);
    SSL_SESSION_free(prev);
}

/* A new ticket from the KBS (TLS 1.3 sends them after the handshake). A
 * copy is kept: OpenSSL marks the connection's own session not resumable
 * when the connection is freed without a close_notify, which is how a
 * client object ends. */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    sai_kbs_client_t *c = SSL_get_app_data(ssl);
    SSL_SESSION *copy = c ? SSL_SESSION_dup(sess) : NULL;
    if (copy != NULL)
        sess_put(c->sess_key, copy);
    return 0;
}

SSL_SESSION *sai_kbs__client_session(const sai_kbs_client_t *c)
{
    return sess_get(c->sess_key);
}

void sai_kbs__client_session_set(const sai_kbs_client_t *c, SSL_SESSION *sess)
{
    sess_put(c->sess_key, sess);
}

bool sai_kbs__client_resumed(const sai_kbs_client_t *c)
{
    return c->resumed;
}

/* ---- a socket BIO that never raises SIGPIPE ---------------------------------- */
typedef struct nosig {
    int  fd;
    bool eof;
} nosig;

static BIO_METHOD *g_nosig_meth;
static int g_nosig_type;
static pthread_once_t g_nosig_once = PTHREAD_ONCE_INIT;

static bool retryable(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == EINPROGRESS || e == EALREADY;
}

static int nosig_write(BIO *b, const char *buf, int len)
{
    nosig *d = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = send(d->fd, buf, (size_t)len, MSG_NOSIGNAL);
    if (n < 0 && retryable(errno))
        BIO_set_retry_write(b);
    return (int)n;
}

static int nosig_read(BIO *b, char *buf, int len)
{
    nosig *d = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t n = recv(d->fd, buf, (size_t)len, 0);
    if (n < 0 && retryable(errno))
        BIO_set_retry_read(b);
    else if (n == 0)
        d->eof = true;
    return (int)n;
}

static int nosig_puts(BIO *b, const char *s)
{
    return nosig_write(b, s, (int)strlen(s));
}

static long nosig_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    nosig *d = BIO_get_data(b);
    switch (cmd) {
    case BIO_C_SET_FD:
        d->fd = *(int *)ptr;
        d->eof = false;
        BIO_set_shutdown(b, (int)num);
        BIO_set_init(b, 1);
        return 1;
    case BIO_C_GET_FD:
        if (!BIO_get_init(b))
            return -1;
        if (ptr)
            *(int *)ptr = d->fd;
        return d->fd;
    case BIO_CTRL_GET_CLOSE:
        return BIO_get_shutdown(b);
    case BIO_CTRL_SET_CLOSE:
        BIO_set_shutdown(b, (int)num);
        return 1;
    case BIO_CTRL_EOF:
        return d->eof;
    case BIO_CTRL_DUP:
    case BIO_CTRL_FLUSH:
        return 1;
    default:
        return 0;
    }
}

static int nosig_create(BIO *b)
{
    nosig *d = calloc(1, sizeof *d);
    if (d == NULL)
        return 0;
    d->fd = -1;
    BIO_set_data(b, d);
    BIO_set_init(b, 0);
    return 1;
}

static int nosig_destroy(BIO *b)
{
    nosig *d = BIO_get_data(b);
    if (d && BIO_get_shutdown(b) && BIO_get_init(b) && d->fd >= 0)
        close(d->fd);
    free(d);
    BIO_set_data(b, NULL);
    return 1;
}

static void nosig_init(void)
{
    g_nosig_type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR;
    BIO_METHOD *m = BIO_meth_new(g_nosig_type, "secureai socket (MSG_NOSIGNAL)");
    if (m == NULL || !BIO_meth_set_write(m, nosig_write) || !BIO_meth_set_read(m, nosig_read) ||
        !BIO_meth_set_puts(m, nosig_puts) || !BIO_meth_set_ctrl(m, nosig_ctrl) ||
        !BIO_meth_set_create(m, nosig_create) || !BIO_meth_set_destroy(m, nosig_destroy)) {
        BIO_meth_free(m);
        return;
    }
    g_nosig_meth = m;
}

/* Put the no-SIGPIPE BIO under the connection's TLS (once per socket:
 * libevent gives each new socket a plain socket BIO when it connects). */
static int tls_nosigpipe(struct bufferevent *bev, sai_error_t *err)
{
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    if (ssl == NULL || fd < 0)
        return 0;
    BIO *cur = SSL_get_wbio(ssl);
    pthread_once(&g_nosig_once, nosig_init);
    if (cur != NULL && BIO_method_type(cur) == g_nosig_type)
        return 0;
    BIO *b = g_nosig_meth ? BIO_new(g_nosig_meth) : NULL;
    if (b == NULL)
        return sai_error_set(err, SAI_ENOMEM, "cannot create a TLS socket BIO");
    BIO_set_fd(b, (int)fd, BIO_NOCLOSE);   /* libevent closes the socket */
    SSL_set_bio(ssl, b, b);
    return 0;
}

/* Plain HTTP: SIGPIPE blocked in this thread for the exchange; one raised
 * by it is discarded (sigpending/sigtimedwait may be refused in a sandbox
 * that ignores SIGPIPE anyway: then nothing is pending). */
typedef struct sigpipe_guard {
    sigset_t old;
    bool     active, was_pending;
} sigpipe_guard;

static void sigpipe_block(sigpipe_guard *g)
{
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pend);
    g->was_pending = sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE) == 1;
    g->active = pthread_sigmask(SIG_BLOCK, &set, &g->old) == 0;
}

static void sigpipe_restore(sigpipe_guard *g)
{
    if (!g->active)
        return;
    sigset_t set, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pend);
    if (!g->was_pending && sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE) == 1) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) == SIGPIPE) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
    g->active = false;
}

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    sai_kbs_client_t *c = ssl ? SSL_get_app_data(ssl) : NULL;
    if (c == NULL || !c->pinned)
        return ok;
    /* Pinned: the leaf's fingerprint decides; the chain is not consulted. */
    if (X509_STORE_CTX_get_error_depth(xs) != 0)
        return 1;
    X509 *leaf = X509_STORE_CTX_get_current_cert(xs);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (leaf == NULL || X509_digest(leaf, EVP_sha256(), md, &n) != 1 || n != 32 ||
        !sai_ct_equal(md, c->pin, 32)) {
        X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    return 1;
}

/* Trust the certificates in a PEM buffer (at least one; anything that is
 * not a certificate is an error, so a truncated bundle cannot half-load). */
static int load_ca_pem(SSL_CTX *ctx, const char *pem, size_t len, sai_error_t *err)
{
    if (len > 1 << 20)
        return sai_error_set(err, SAI_ELIMIT, "the CA PEM is larger than 1 MiB");
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);
    int n = 0, rc = 0;
    X509 *x;
    if (b == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    ERR_clear_error();
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        int ok = X509_STORE_add_cert(st, x);
        X509_free(x);
        if (ok != 1) {
            rc = sai_error_set(err, SAI_ECRYPTO, "cannot add CA certificate %d", n + 1);
            break;
        }
        n++;
    }
    unsigned long e = ERR_peek_last_error();
    if (rc == 0 && (n == 0 || (e != 0 && ERR_GET_REASON(e) != PEM_R_NO_START_LINE)))
        rc = sai_error_set(err, SAI_EFORMAT, "the CA PEM holds no (or a malformed) certificate");
    ERR_clear_error();
    BIO_free(b);
    return rc;
}

int sai_kbs_client_new(sai_kbs_client_t **out, const sai_kbs_client_opts_t *o, sai_error_t *err)
{
    *out = NULL;
    sai_kbs_client_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    int rc = 0;
    c->sfd = -1;
    c->timeout_s = o->timeout_s > 0 ? o->timeout_s : 5;
    c->retries = o->retries > 0 ? o->retries : 4;
    struct evhttp_uri *u = o->url ? evhttp_uri_parse(o->url) : NULL;
    const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    if (u == NULL || scheme == NULL || host == NULL || strlen(host) >= sizeof c->host ||
        (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)) {
        rc = sai_error_set(err, SAI_EINVAL, "the KBS URL must be https://HOST:PORT (or http:// "
                           "for a loopback test server), not %s", o->url ? o->url : "(none)");
        goto out;
    }
    c->tls = strcmp(scheme, "https") == 0;
    if (!c->tls && !o->allow_insecure_http && !SAI_WEAKENED("kbs_downgrade")) {
        rc = sai_error_set(err, SAI_EPOLICY, "the KBS URL %s is plain HTTP: refused (key transport is TLS 1.3 "
                           "with a pinned or CA-verified certificate; plain HTTP only where explicitly "
                           "allowed, e.g. a spec's kbs.insecure_http: true)", o->url);
        goto out;
    }
    c->channel = SAI_KBS_CHANNEL_INSECURE_HTTP;
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : (c->tls ? 443 : 80);
    unsigned char tmp[16];
    c->host_is_ip = inet_pton(AF_INET, c->host, tmp) == 1 || inet_pton(AF_INET6, c->host, tmp) == 1;
    if (c->tls) {
        if ((o->pin_sha256 == NULL || !*o->pin_sha256) && (o->ca_file == NULL || !*o->ca_file) &&
            (o->ca_pem == NULL || o->ca_pem_len == 0)) {
            rc = sai_error_set(err, SAI_EINVAL, "an https KBS needs --ca CERT or --pin SHA256 to be "
                               "verified; the fingerprint is printed when the KBS starts");
            goto out;
        }
        c->ctx = SSL_CTX_new(TLS_client_method());
        if (c->ctx == NULL || SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION) != 1) {
            rc = sai_error_set(err, SAI_ECRYPTO, "cannot create a TLS context");
            goto out;
        }
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, verify_cb);
        if (o->pin_sha256 && *o->pin_sha256) {
            char hex[65];
            size_t j = 0;
            for (const char *p = o->pin_sha256; *p && j < 64; p++)
                if (*p != ':')
                    hex[j++] = *p;
            hex[j] = '\0';
            if (j != 64 || sai_hex_decode(c->pin, 32, hex, NULL) != 0) {
                rc = sai_error_set(err, SAI_EINVAL, "--pin must be the 64 hex digits of the "
                                   "KBS certificate's SHA-256");
                goto out;
            }
            c->pinned = true;
            c->channel = SAI_KBS_CHANNEL_TLS_PIN;
        } else if (o->ca_pem != NULL && o->ca_pem_len > 0) {
            if ((rc = load_ca_pem(c->ctx, o->ca_pem, o->ca_pem_len, err)))
                goto out;
        } else if (SSL_CTX_load_verify_locations(c->ctx, o->ca_file, NULL) != 1) {
            rc = sai_error_set(err, SAI_EIO, "cannot load CA certificates from %s", o->ca_file);
            goto out;
        }
        if (!c->pinned)
            c->channel = SAI_KBS_CHANNEL_TLS_CA;
        /* The session cache key: this KBS under this trust configuration. */
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        char hp[300];
        snprintf(hp, sizeof hp, "secureai/v1/kbs-tls-session %s %d %d|", c->host, c->port, c->pinned);
        unsigned int hl = 0;
        if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
            EVP_DigestUpdate(md, hp, strlen(hp)) != 1 ||
            EVP_DigestUpdate(md, c->pin, c->pinned ? sizeof c->pin : 0) != 1 ||
            EVP_DigestUpdate(md, "|", 1) != 1 ||
            EVP_DigestUpdate(md, o->ca_file ? o->ca_file : "", o->ca_file ? strlen(o->ca_file) + 1 : 0) != 1 ||
            EVP_DigestUpdate(md, "|", 1) != 1 ||
            EVP_DigestUpdate(md, o->ca_pem ? o->ca_pem : "", o->ca_pem ? o->ca_pem_len : 0) != 1 ||
            EVP_DigestFinal_ex(md, c->sess_key, &hl) != 1) {
            EVP_MD_CTX_free(md);
            rc = sai_error_set(err, SAI_ECRYPTO, "cannot hash the TLS session key");
            goto out;
        }
        EVP_MD_CTX_free(md);
        SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(c->ctx, new_session_cb);
    }
    if ((c->base = event_base_new()) == NULL)
        rc = sai_error_set(err, SAI_ENOMEM, "cannot create an event loop");
out:
    if (u)
        evhttp_uri_free(u);
    if (rc != 0)
        sai_kbs_client_free(c);
    else
        *out = c;
    return rc;
}

const char *sai_kbs_channel_name(sai_kbs_channel_t ch)
{
    switch (ch) {
    case SAI_KBS_CHANNEL_TLS_PIN: return "tls-pin";
    case SAI_KBS_CHANNEL_TLS_CA: return "tls-ca";
    case SAI_KBS_CHANNEL_INSECURE_HTTP: return "insecure-http";
    }
    return "?";
}

sai_kbs_channel_t sai_kbs_client_channel(const sai_kbs_client_t *c)
{
    return c->channel;
}

static void drop_connection(sai_kbs_client_t *c)
{
    if (c->evcon)
        evhttp_connection_free(c->evcon);
    c->evcon = NULL;
}

static void stream_drop(sai_kbs_client_t *c);

void sai_kbs_client_free(sai_kbs_client_t *c)
{
    if (c == NULL)
        return;
    drop_connection(c);
    stream_drop(c);
    if (c->base)
        event_base_free(c->base);
    SSL_CTX_free(c->ctx);
    free(c->resp);
    free(c);
}

static int connect_kbs(sai_kbs_client_t *c, sai_error_t *err)
{
    if (c->evcon)
        return 0;
    struct bufferevent *bev = NULL;
    if (c->tls) {
        /* a pinned certificate is checked by its hash, not by name */
        SSL *ssl = sai_tls_client_ssl(c->ctx, c->host, c->host_is_ip, !c->pinned);
        if (ssl == NULL)
            return sai_error_set(err, SAI_ECRYPTO, "cannot create a TLS session");
        SSL_set_app_data(ssl, c);
        offer_session(ssl, c->sess_key);
        bev = bufferevent_openssl_socket_new(c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE);
        if (bev == NULL) {
            SSL_free(ssl);
            return sai_error_set(err, SAI_ENOMEM, "cannot create a TLS buffer");
        }
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    }
    c->evcon = evhttp_connection_base_bufferevent_new(c->base, NULL, bev, c->host,
                                                      (ev_uint16_t)c->port);
    if (c->evcon == NULL) {
        if (bev)
            bufferevent_free(bev);
        return sai_error_set(err, SAI_ENOMEM, "cannot create an HTTP connection");
    }
    struct timeval tv = {(time_t)c->timeout_s, (suseconds_t)((c->timeout_s - (time_t)c->timeout_s) * 1e6)};
    evhttp_connection_set_timeout_tv(c->evcon, &tv);
    evhttp_connection_set_retries(c->evcon, 0);
    return 0;
}

static void on_error(enum evhttp_request_error e, void *arg)
{
    sai_kbs_client_t *c = arg;
    c->req_err = e;
    c->have_req_err = true;
    if (c->evcon && c->tls) {
        struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
        unsigned long ssl_e = bev ? bufferevent_get_openssl_error(bev) : 0;
        if (ssl_e) {
            ERR_error_string_n(ssl_e, c->tls_err, sizeof c->tls_err);
            c->tls_verify_failed = ERR_GET_REASON(ssl_e) == SSL_R_CERTIFICATE_VERIFY_FAILED;
        }
    }
}

static void on_response(struct evhttp_request *req, void *arg)
{
    sai_kbs_client_t *c = arg;
    c->done = true;
    if (req != NULL && c->tls && c->evcon) {
        struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
        SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
        c->resumed = ssl && SSL_session_reused(ssl);
    }
    if (req != NULL) {
        c->status = evhttp_request_get_response_code(req);
        const char *ra = evhttp_find_header(evhttp_request_get_input_headers(req), "Retry-After");
        char *end = NULL;
        double v = ra ? strtod(ra, &end) : -1;
        c->retry_after = ra && end != ra && *end == '\0' && v >= 0 ? v : -1;
        /* Trustee's session: Set-Cookie: kbs-session-id=<32 hex>; ... */
        const char *sc = evhttp_find_header(evhttp_request_get_input_headers(req), "Set-Cookie");
        const size_t nl = sizeof SAI_KBS_TRUSTEE_COOKIE;
        if (sc && strncmp(sc, SAI_KBS_TRUSTEE_COOKIE "=", nl) == 0 && strcspn(sc + nl, "; ") < sizeof c->cookie)
            snprintf(c->cookie, sizeof c->cookie, "%.*s", (int)strcspn(sc + nl, "; "), sc + nl);
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(in);
        if (n > RESP_MAX) {
            c->too_big = true;
        } else if ((c->resp = malloc(n + 1)) != NULL) {
            evbuffer_remove(in, c->resp, n);
            c->resp[n] = '\0';
            c->resp_len = n;
        }
    }
    event_base_loopbreak(c->base);
}

static int stream_request(sai_kbs_client_t *c, const char *method, const char *path,
                          const char *extra_header, const void *body, size_t body_len, sai_error_t *err);

static int one_request(sai_kbs_client_t *c, const char *method, const char *path,
                       const char *extra_header, const void *body, size_t body_len,
                       sai_error_t *err)
{
    if (c->dial != NULL)
        return stream_request(c, method, path, extra_header, body, body_len, err);
    int rc = connect_kbs(c, err);
    if (rc != 0)
        return rc;
    c->status = 0;
    c->retry_after = -1;
    free(c->resp);
    c->resp = NULL;
    c->resp_len = 0;
    c->done = c->too_big = c->have_req_err = false;
    c->tls_err[0] = '\0';
    c->tls_verify_failed = false;
    struct evhttp_request *req = evhttp_request_new(on_response, c);
    if (req == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    evhttp_request_set_error_cb(req, on_error);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char hostport[300];
    snprintf(hostport, sizeof hostport, "%s:%d", c->host, c->port);
    evhttp_add_header(h, "Host", hostport);
    evhttp_add_header(h, "Accept", "application/json");
    if (body) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, body_len);
    }
    if (extra_header) {
        const char *colon = strchr(extra_header, ':');
        char name[64];
        if (colon && (size_t)(colon - extra_header) < sizeof name) {
            memcpy(name, extra_header, (size_t)(colon - extra_header));
            name[colon - extra_header] = '\0';
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            evhttp_add_header(h, name, v);
        }
    }
    enum evhttp_cmd_type m = strcmp(method, "POST") == 0 ? EVHTTP_REQ_POST
                           : strcmp(method, "PUT") == 0 ? EVHTTP_REQ_PUT
                           : strcmp(method, "DELETE") == 0 ? EVHTTP_REQ_DELETE : EVHTTP_REQ_GET;
    sigpipe_guard guard = {.active = false};
    if (!c->tls)
        sigpipe_block(&guard);
    if (evhttp_make_request(c->evcon, req, m, path) != 0) {
        sigpipe_restore(&guard);
        drop_connection(c);
        return sai_error_set(err, SAI_ENET, "cannot send the request to %s", hostport);
    }
    /* Headers and body leave as separate segments; without NODELAY, Nagle
     * and the peer's delayed ACK add 40 ms to every request. */
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* evhttp_make_request connected a new socket under a plain socket BIO;
     * nothing has been written yet. */
    if (c->tls && (rc = tls_nosigpipe(bev, err)) != 0) {
        drop_connection(c);
        return rc;
    }
    /* The request and connection timeouts bound this loop. */
    while (!c->done)
        if (event_base_dispatch(c->base) != 0 && !c->done)
            break;
    sigpipe_restore(&guard);
    if (c->too_big)
        return sai_error_set(err, SAI_ELIMIT, "the KBS's answer is larger than %d bytes", RESP_MAX);
    if (!c->done || c->status == 0) {
        drop_connection(c);
        if (c->tls_verify_failed)
            return sai_error_set(err, SAI_EAUTH, "TLS with %s failed: the KBS certificate does "
                                 "not match the pin or CA: %s", hostport, c->tls_err);
        if (c->tls_err[0])
            return sai_error_set(err, SAI_ENET, "TLS with %s failed: %s", hostport, c->tls_err);
        const char *why = !c->have_req_err ? "connection failed"
                        : c->req_err == EVREQ_HTTP_TIMEOUT ? "timed out"
                        : c->req_err == EVREQ_HTTP_EOF ? "connection closed or refused"
                        : "connection failed";
        return sai_error_set(err, SAI_ENET, "%s: %s", hostport, why);
    }
    return 0;
}

/* ---- connections from a dialer ------------------------------------------------
 * The caller cannot open sockets (an enclave whose no-network filter is on):
 * its dialer hands over a stream someone else connected to the KBS (the
 * enclave's host). Whoever connected it only moves bytes: TLS is
 * terminated here, with the same SSL_CTX, pin or CA check and session cache
 * as a connection of the client's own, so a stream to anything but the KBS
 * fails the handshake (SAI_EAUTH), and one that drops or stalls fails the
 * request within the timeout. HTTP/1.1 is spoken in the calling thread,
 * blocking with poll deadlines: evhttp cannot adopt a connected socket. */

void sai_kbs_client_set_dialer(sai_kbs_client_t *c, sai_kbs_dial_fn dial, void *ctx)
{
    drop_connection(c);   /* a socket of the client's own is never used again */
    c->dial = dial;
    c->dial_ctx = ctx;
}

static void stream_drop(sai_kbs_client_t *c)
{
    SSL_free(c->sssl);   /* no close_notify: the ticket was kept by new_session_cb */
    c->sssl = NULL;
    if (c->sfd >= 0)
        close(c->sfd);
    c->sfd = -1;
}

void sai_kbs_client_disconnect(sai_kbs_client_t *c)
{
    if (c == NULL)
        return;
    drop_connection(c);
    stream_drop(c);
}

/* Wait until fd is ready for ev or the deadline (sai_now()) passes: 0 or -1. */
static int stream_wait(int fd, short ev, double deadline)
{
    for (;;) {
        double left = deadline - sai_now();
        if (left <= 0)
            return -1;
        struct pollfd p = {fd, ev, 0};
        int k = poll(&p, 1, (int)(left * 1000) + 1);
        if (k > 0)
            return 0;
        if (k < 0 && errno != EINTR)
            return -1;
    }
}

/* TLS's answer to an I/O call: 1 retry (after waiting), 0 EOF, -1 failed. */
static int stream_tls_retry(sai_kbs_client_t *c, int r, double deadline)
{
    int e = SSL_get_error(c->sssl, r);
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return stream_wait(c->sfd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) == 0 ? 1 : -1;
    return -1;
}

static int stream_write(sai_kbs_client_t *c, const void *buf, size_t n, double deadline)
{
    const char *b = buf;
    for (size_t off = 0; off < n;) {
        if (c->sssl != NULL) {
            size_t w = 0;
            ERR_clear_error();
            int r = SSL_write_ex(c->sssl, b + off, n - off, &w);
            if (r == 1)
                off += w;
            else if (stream_tls_retry(c, r, deadline) != 1)
                return -1;
            continue;
        }
        ssize_t k = send(c->sfd, b + off, n - off, MSG_NOSIGNAL);
        if (k < 0 && errno == ENOTSOCK)
            k = write(c->sfd, b + off, n - off);
        if (k > 0)
            off += (size_t)k;
        else if (k < 0 && errno == EINTR)
            continue;
        else if (!(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ||
                 stream_wait(c->sfd, POLLOUT, deadline) != 0)
            return -1;
    }
    return 0;
}

/* Some bytes (> 0), 0 at the end of the stream, -1 failed or timed out. */
static ssize_t stream_read(sai_kbs_client_t *c, char *b, size_t n, double deadline)
{
    for (;;) {
        if (c->sssl != NULL) {
            size_t got = 0;
            ERR_clear_error();
            int r = SSL_read_ex(c->sssl, b, n, &got);
            if (r == 1)
                return (ssize_t)got;
            int t = stream_tls_retry(c, r, deadline);
            if (t != 1)
                return t;
            continue;
        }
        ssize_t k = recv(c->sfd, b, n, 0);
        if (k < 0 && errno == ENOTSOCK)
            k = read(c->sfd, b, n);
        if (k >= 0)
            return k;
        if (errno == EINTR)
            continue;
        if ((errno != EAGAIN && errno != EWOULDBLOCK) || stream_wait(c->sfd, POLLIN, deadline) != 0)
            return -1;
    }
}

static int stream_connect(sai_kbs_client_t *c, const char *hostport, double deadline, sai_error_t *err)
{
    int fd = -1, rc = c->dial(c->dial_ctx, &fd, err);
    if (rc != 0)
        return sai_error_prefix(err, "a stream to the KBS %s", hostport);
    if (fd < 0)
        return sai_error_set(err, SAI_ENET, "a stream to the KBS %s: the dialer gave none", hostport);
    c->sfd = fd;
    int fl = fcntl(fd, F_GETFL), one = 1;
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        stream_drop(c);
        return sai_error_set(err, SAI_EIO, "the stream to the KBS: %s", strerror(errno));
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);   /* not TCP: no matter */
    c->resumed = false;
    if (!c->tls)
        return 0;
    SSL *ssl = sai_tls_client_ssl(c->ctx, c->host, c->host_is_ip, !c->pinned);
    pthread_once(&g_nosig_once, nosig_init);
    BIO *b = ssl != NULL && g_nosig_meth != NULL ? BIO_new(g_nosig_meth) : NULL;
    if (b == NULL) {
        SSL_free(ssl);
        stream_drop(c);
        return sai_error_set(err, SAI_ECRYPTO, "cannot create a TLS session");
    }
    BIO_set_fd(b, fd, BIO_NOCLOSE);   /* stream_drop closes it */
    SSL_set_bio(ssl, b, b);
    SSL_set_app_data(ssl, c);
    /* the KBS may close without close_notify once it has answered */
    SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
    offer_session(ssl, c->sess_key);
    c->sssl = ssl;
    for (;;) {
        ERR_clear_error();
        int r = SSL_connect(ssl);
        if (r == 1)
            break;
        if (stream_tls_retry(c, r, deadline) == 1)
            continue;
        unsigned long e = ERR_peek_last_error();
        char why[200] = "the stream closed or timed out";
        if (e != 0)
            ERR_error_string_n(e, why, sizeof why);
        bool verify = e != 0 && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED;
        ERR_clear_error();
        stream_drop(c);
        return verify ? sai_error_set(err, SAI_EAUTH, "TLS with %s failed: the KBS certificate does not match "
                                      "the pin or CA: %s", hostport, why)
                      : sai_error_set(err, SAI_ENET, "TLS with %s failed: %s", hostport, why);
    }
    c->resumed = SSL_session_reused(ssl) == 1;
    return 0;
}

static int stream_request(sai_kbs_client_t *c, const char *method, const char *path,
                          const char *extra_header, const void *body, size_t body_len, sai_error_t *err)
{
    char hostport[300];
    char *head = NULL, *buf = NULL;
    size_t head_cap = strlen(path) + (extra_header ? strlen(extra_header) : 0) + 512, have = 0, cap = 0;
    double deadline = sai_now() + c->timeout_s;
    int rc = 0;
    snprintf(hostport, sizeof hostport, "%s:%d", c->host, c->port);
    c->status = 0;
    c->retry_after = -1;
    free(c->resp);
    c->resp = NULL;
    c->resp_len = 0;
    if (c->sfd < 0 && (rc = stream_connect(c, hostport, deadline, err)) != 0)
        return rc;
    if ((head = malloc(head_cap)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    int hl = snprintf(head, head_cap, "%s %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n%s"
                      "Content-Length: %zu\r\n%s%s\r\n", method, path, hostport,
                      body ? "Content-Type: application/json\r\n" : "", body ? body_len : 0,
                      extra_header ? extra_header : "", extra_header ? "\r\n" : "");
    if (hl < 0 || (size_t)hl >= head_cap || strpbrk(path, "\r\n") != NULL ||
        (extra_header && strpbrk(extra_header, "\r\n") != NULL)) {
        rc = sai_error_set(err, SAI_EINVAL, "a request line or header that does not fit one line");
        goto out;
    }
    if (stream_write(c, head, (size_t)hl, deadline) != 0 ||
        (body && body_len && stream_write(c, body, body_len, deadline) != 0)) {
        rc = sai_error_set(err, SAI_ENET, "%s: the stream closed or timed out while sending", hostport);
        goto out;
    }
    /* the status line and headers (http_response.c: strict, fuzzed) */
    sai_kbs_resp_head_t rh;
    bool complete = false;
    while (!complete) {
        if (have + 1 >= cap) {   /* the parser refuses a head over SAI_KBS_RESP_HEAD_MAX */
            size_t ncap = cap ? cap * 2 : 4096;
            char *nb = realloc(buf, ncap);
            if (nb == NULL) {
                rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t k = stream_read(c, buf + have, cap - 1 - have, deadline);
        if (k <= 0) {
            rc = sai_error_set(err, SAI_ENET, "%s: %s", hostport, k == 0 ? "connection closed" : "timed out");
            goto out;
        }
        have += (size_t)k;
        if ((rc = sai_kbs__parse_response_head(&rh, (const uint8_t *)buf, have, &complete, err)) != 0) {
            sai_error_prefix(err, "%s", hostport);
            goto out;
        }
    }
    size_t body_off = rh.head_len;
    int status = rh.status;
    bool close_after = rh.close;
    long long want = rh.has_length ? (long long)rh.content_length : -1;   /* < 10^15 */
    if (want > RESP_MAX) {
        rc = sai_error_set(err, SAI_ELIMIT, "the KBS's answer is larger than %d bytes", RESP_MAX);
        goto out;
    }
    c->retry_after = rh.retry_after;
    if (rh.cookie[0] != '\0')
        snprintf(c->cookie, sizeof c->cookie, "%s", rh.cookie);
    /* the body: move it to the front, then read the rest */
    have -= body_off;
    memmove(buf, buf + body_off, have);
    if (want >= 0 && have > (size_t)want) {   /* bytes past the answer: nothing was asked for them */
        have = (size_t)want;
        close_after = true;
    }
    for (;;) {
        if (want >= 0 && have >= (size_t)want)
            break;
        if (have + 1 >= cap) {
            size_t ncap = cap * 2;
            char *nb = have > RESP_MAX ? NULL : realloc(buf, ncap);
            if (nb == NULL) {
                rc = sai_error_set(err, SAI_ELIMIT, "the KBS's answer is larger than %d bytes", RESP_MAX);
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        size_t room = cap - 1 - have;
        if (want >= 0 && room > (size_t)want - have)
            room = (size_t)want - have;
        ssize_t k = stream_read(c, buf + have, room, deadline);
        if (k == 0 && want < 0)
            break;   /* Connection: close without a length: the end of the stream ends it */
        if (k <= 0) {
            rc = sai_error_set(err, SAI_ENET, "%s: %s in the middle of the answer", hostport,
                               k == 0 ? "connection closed" : "timed out");
            goto out;
        }
        have += (size_t)k;
    }
    if (have > RESP_MAX) {
        rc = sai_error_set(err, SAI_ELIMIT, "the KBS's answer is larger than %d bytes", RESP_MAX);
        goto out;
    }
    buf[have] = '\0';
    c->status = status;
    c->resp = buf;
    c->resp_len = have;
    buf = NULL;
    if (close_after)
        stream_drop(c);
out:
    if (rc != 0)
        stream_drop(c);   /* a failed exchange leaves the stream in an unknown state */
    if (head != NULL) {
        sai_wipe(head, head_cap);   /* it holds the bearer token */
        free(head);
    }
    free(buf);
    return rc;
}

int sai_kbs_client_request(sai_kbs_client_t *c, const char *method, const char *path,
                           const char *extra_header, const void *body, size_t body_len,
                           int *status, char **resp, size_t *resp_len, sai_error_t *err)
{
    *status = 0;
    *resp = NULL;
    *resp_len = 0;
    int rc = SAI_ENET;
    long backoff_ms = 100, wait_ms = 0;
    bool fresh_retry = false;
    for (int attempt = 0; attempt < c->retries; attempt++) {
        if (attempt > 0 && wait_ms > 0) {
            struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        bool reused = c->evcon != NULL || c->sfd >= 0;
        rc = one_request(c, method, path, extra_header, body, body_len, err);
        /* A kept-alive connection the server closed while we were idle
         * (its header timeout; a pipeline enclave trains for minutes
         * between its dataset key and its model key) fails at once: try a
         * fresh connection right away, once, instead of after a backoff
         * meant for an unreachable KBS (it cost every such run 100 ms). */
        if (rc == SAI_ENET && reused && !fresh_retry) {
            fresh_retry = true;
            rc = one_request(c, method, path, extra_header, body, body_len, err);
        }
        /* 429 (rate limit) and 503 with Retry-After (sessions full) were
         * refused before anything was done: wait as told (at most
         * SAI_KBS_RETRY_AFTER_MAX_S a time) and try again, within the same
         * number of attempts. The last answer is returned as it is. */
        if (rc == 0 && (c->status == 429 || (c->status == 503 && c->retry_after >= 0)) &&
            attempt + 1 < c->retries) {
            double ra = c->retry_after >= 0 ? c->retry_after : 1.0;
            if (ra > SAI_KBS_RETRY_AFTER_MAX_S)
                ra = SAI_KBS_RETRY_AFTER_MAX_S;
            wait_ms = ra < 0.05 ? 50 : (long)(ra * 1000);
            continue;
        }
        if (rc != SAI_ENET)
            break;
        wait_ms = backoff_ms;
        backoff_ms *= 2;
    }
    if (rc == SAI_ENET)
        return sai_error_prefix(err, "cannot reach the KBS after %d attempts", c->retries);
    if (rc != 0)
        return rc;
    *status = c->status;
    *resp = c->resp ? c->resp : strdup("");
    *resp_len = c->resp_len;
    c->resp = NULL;
    if (*resp == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    return 0;
}

/* A JSON API call: 2xx -> 0 and the parsed body; else the server's sentence. */
static int call(sai_kbs_client_t *c, const char *what, const char *method, const char *path,
                const char *hdr, const char *body, cJSON **out, sai_error_t *err)
{
    int status = 0;
    char *resp = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = sai_kbs_client_request(c, method, path, hdr, body, body ? strlen(body) : 0, &status,
                                    &resp, &len, err);
    if (rc != 0)
        return sai_error_prefix(err, "%s", what);
    cJSON *j = cJSON_ParseWithLength(resp, len);
    free(resp);
    if (status < 200 || status > 299) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        rc = status == 401 ? SAI_EAUTH : status == 403 ? SAI_EPOLICY : status == 404 ? SAI_ENOTFOUND
           : status == 409 ? SAI_EEXIST : status == 429 || status == 413 ? SAI_ELIMIT
           : status == 400 ? SAI_EINVAL : SAI_ENET;
        rc = sai_error_set(err, rc, "%s: the KBS answered %d: %s", what, status,
                           cJSON_IsString(e) ? e->valuestring : "(no reason given)");
        cJSON_Delete(j);
        return rc;
    }
    if (j == NULL)
        return sai_error_set(err, SAI_EFORMAT, "%s: the KBS's answer is not JSON", what);
    *out = j;
    return 0;
}

/* RCAR up to the token: /auth nonce, a fresh ephemeral key (*eph, the
 * secret is wrapped to it), evidence over SHA-512(nonce || key), /attest.
 * *token is malloc'ed. */
static int attest_token(sai_kbs_client_t *c, const sai_kbs_attester_t *att, sai_ec_key_t **eph_out,
                        char **token_out, sai_error_t *err)
{
    *eph_out = NULL;
    *token_out = NULL;
    cJSON *j = NULL, *body = NULL;
    sai_ec_key_t *eph = NULL;
    char req[128], *evidence = NULL, *jwk = NULL, *text = NULL, *token = NULL;
    size_t ev_len = 0;
    uint8_t *nonce = NULL, point[SAI_P384_POINT_LEN], rd[SAI_KBS_REPORT_DATA_LEN];
    size_t nonce_len = 0;
    int rc;

    snprintf(req, sizeof req, "{\"version\":\"0.1.0\",\"tee\":\"%s\"}", att->tee);
    if ((rc = call(c, "auth", "POST", "/kbs/v0/auth", NULL, req, &j, err)) != 0)
        goto out;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "nonce");
    const cJSON *sess = cJSON_GetObjectItemCaseSensitive(j, "session");
    if (!cJSON_IsString(n) || !cJSON_IsString(sess) || strlen(sess->valuestring) > 64 ||
        sai_b64_decode(&nonce, &nonce_len, n->valuestring, strlen(n->valuestring), NULL) != 0 ||
        nonce_len != SAI_KBS_NONCE_LEN) {
        rc = sai_error_set(err, SAI_EFORMAT, "auth: the KBS sent no usable nonce");
        goto out;
    }
    /* A fresh key per flow: the secret is wrapped to it and it dies with us. */
    if ((rc = sai_ec_generate(&eph, err)) != 0 || (rc = sai_ec_public_raw(eph, point, err)) != 0 ||
        (rc = sai_kbs_report_data(rd, nonce, point, err)) != 0 ||
        (rc = sai_kbs_jwk_format(eph, &jwk, err)) != 0)
        goto out;
    if ((rc = att->evidence(att->ctx, rd, &evidence, &ev_len, err)) != 0) {
        sai_error_prefix(err, "evidence from the %s TEE", att->tee);
        goto out;
    }
    body = cJSON_CreateObject();
    cJSON *ev = cJSON_ParseWithLength(evidence, ev_len);
    if (ev == NULL)
        ev = cJSON_CreateString(evidence);
    cJSON_AddStringToObject(body, "session", sess->valuestring);
    cJSON_AddItemToObject(body, "tee-pubkey", cJSON_Parse(jwk));
    cJSON_AddItemToObject(body, "evidence", ev);
    if ((text = cJSON_PrintUnformatted(body)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    cJSON_Delete(j);
    j = NULL;
    if ((rc = call(c, "attest", "POST", "/kbs/v0/attest", NULL, text, &j, err)) != 0)
        goto out;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "token");
    if (!cJSON_IsString(t) || (token = strdup(t->valuestring)) == NULL) {
        rc = sai_error_set(err, SAI_EFORMAT, "attest: the KBS sent no token");
        goto out;
    }
    *eph_out = eph;
    eph = NULL;
    *token_out = token;
    token = NULL;
out:
    cJSON_Delete(j);
    cJSON_Delete(body);
    sai_ec_free(eph);
    free(evidence); free(jwk); free(text); free(token); free(nonce);
    return rc;
}

static char *bearer_header(const char *token, sai_error_t *err)
{
    size_t hl = strlen(token) + 32;
    char *hdr = malloc(hl);
    if (hdr == NULL)
        sai_error_set(err, SAI_ENOMEM, "out of memory");
    else
        snprintf(hdr, hl, "Authorization: Bearer %s", token);
    return hdr;
}

int sai_kbs_client_get_resource(sai_kbs_client_t *c, const sai_kbs_attester_t *att,
                                const char *resource, sai_secret_t **secret, char **token_out,
                                sai_error_t *err)
{
    *secret = NULL;
    if (token_out)
        *token_out = NULL;
    if (!sai_kbs__resource_name_ok(resource))
        return sai_error_set(err, SAI_EINVAL, "resource \"%s\" is not repo/type/tag", resource);
    cJSON *j = NULL;
    sai_ec_key_t *eph = NULL;
    char *hdr = NULL, *token = NULL;
    char path[300];
    int rc;
    if ((rc = attest_token(c, att, &eph, &token, err)) != 0)
        goto out;
    if ((hdr = bearer_header(token, err)) == NULL) {
        rc = SAI_ENOMEM;
        goto out;
    }
    snprintf(path, sizeof path, "/kbs/v0/resource/%s", resource);
    if ((rc = call(c, "resource", "GET", path, hdr, NULL, &j, err)) != 0)
        goto out;
    const cJSON *jwe = cJSON_GetObjectItemCaseSensitive(j, "jwe");
    if (!cJSON_IsString(jwe)) {
        rc = sai_error_set(err, SAI_EFORMAT, "resource: the KBS sent no wrapped secret");
        goto out;
    }
    if ((rc = sai_kbs_unwrap(secret, eph, jwe->valuestring, strlen(jwe->valuestring), err)) != 0)
        sai_error_prefix(err, "resource %s", resource);
    if (rc == 0 && token_out) {
        *token_out = token;
        token = NULL;
    }
out:
    cJSON_Delete(j);
    sai_ec_free(eph);
    free(hdr);
    free(token);
    return rc;
}

/* The KBS's key-wrapping key, if its raw point hashes to the pin. */
static int fetch_wrap_key(sai_kbs_client_t *c, const uint8_t want[static SAI_SHA256_LEN], sai_ec_key_t **out,
                          sai_error_t *err)
{
    cJSON *j = NULL;
    char *jwk = NULL;
    uint8_t got[SAI_SHA256_LEN];
    *out = NULL;
    int rc = call(c, "wrap-key", "GET", "/kbs/v0/wrap-key", NULL, NULL, &j, err);
    if (rc != 0)
        return rc;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "jwk");
    if (!cJSON_IsObject(k) || (jwk = cJSON_PrintUnformatted(k)) == NULL)
        rc = sai_error_set(err, SAI_EFORMAT, "wrap-key: the KBS sent no key");
    if (rc == 0 && (rc = sai_kbs_jwk_parse(out, jwk, strlen(jwk), err)) == 0 &&
        (rc = sai_kbs_wrap_key_hash(*out, got, err)) == 0 && !sai_ct_equal(got, want, SAI_SHA256_LEN)) {
        char hex[65];
        sai_hex_encode(hex, got, SAI_SHA256_LEN);
        rc = sai_error_set(err, SAI_EAUTH, "wrap-key: the KBS's key-wrapping key sha256:%s is not the pinned "
                           "one (kbs.wrap_key_sha256): not registering", hex);
    }
    if (rc != 0) {
        sai_ec_free(*out);
        *out = NULL;
    }
    free(jwk);
    cJSON_Delete(j);
    return rc;
}

int sai_kbs_client_register_resource(sai_kbs_client_t *c, const sai_kbs_attester_t *att,
                                     const char *resource, const uint8_t *secret, size_t len,
                                     const char *policy_json,
                                     const uint8_t wrap_key_sha256[static SAI_SHA256_LEN], sai_error_t *err)
{
    if (!sai_kbs__resource_name_ok(resource))
        return sai_error_set(err, SAI_EINVAL, "resource \"%s\" is not repo/type/tag", resource);
    if (len == 0 || len > SAI_KBS_MAX_SECRET)
        return sai_error_set(err, SAI_ELIMIT, "a secret must be 1..%d bytes", SAI_KBS_MAX_SECRET);
    cJSON *pol = policy_json ? cJSON_Parse(policy_json) : NULL;
    char *ptext = cJSON_IsObject(pol) ? cJSON_PrintUnformatted(pol) : NULL;
    cJSON_Delete(pol);
    if (ptext == NULL)
        return sai_error_set(err, SAI_EINVAL, "the release policy must be a JSON object");
    sai_ec_key_t *eph = NULL, *wk = NULL;
    char *hdr = NULL, *token = NULL, *payload = NULL, *text = NULL;
    size_t tl = 0;
    bool clear = SAI_WEAKENED("kbs_wrap");
    cJSON *j = NULL;
    char path[300];
    /* The wrap key first: a KBS that is not the pinned one learns nothing,
     * not even that a registration was attempted. */
    int rc = clear ? 0 : fetch_wrap_key(c, wrap_key_sha256, &wk, err);
    if (rc == 0)
        rc = attest_token(c, att, &eph, &token, err);
    if (rc == 0 && (hdr = bearer_header(token, err)) == NULL)
        rc = SAI_ENOMEM;
    if (rc == 0)
        rc = clear ? sai_b64url_encode(&payload, secret, len, err)
                   : sai_kbs_wrap_register(&payload, wk, resource, token, secret, len, err);
    if (rc == 0) {
        tl = strlen(payload) + strlen(ptext) + 32;
        text = malloc(tl);
    }
    if (rc == 0 && text == NULL)
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (rc == 0 && text != NULL) {
        snprintf(text, tl, "{\"%s\":\"%s\",\"policy\":%s}", clear ? "secret" : "jwe", payload, ptext);
        snprintf(path, sizeof path, "/kbs/v0/register/%s", resource);
        rc = call(c, "register", "POST", path, hdr, text, &j, err);
    }
    if (payload)
        sai_wipe(payload, strlen(payload));
    if (text)
        sai_wipe(text, tl);
    cJSON_Delete(j);
    sai_ec_free(eph);
    sai_ec_free(wk);
    free(payload); free(text); free(hdr); free(token); free(ptext);
    return rc;
}

int sai_kbs_client_counter(sai_kbs_client_t *c, const sai_kbs_attester_t *att, const char *name,
                           const uint64_t *expect, uint64_t *value, sai_error_t *err)
{
    *value = 0;
    if (!sai_kbs__resource_name_ok(name))
        return sai_error_set(err, SAI_EINVAL, "counter \"%s\" is not repo/type/tag", name);
    sai_ec_key_t *eph = NULL;
    char *hdr = NULL, *token = NULL, *resp = NULL, body[64], path[300];
    size_t rl = 0;
    int status = 0;
    cJSON *j = NULL;
    int rc = attest_token(c, att, &eph, &token, err);
    if (rc == 0 && (hdr = bearer_header(token, err)) == NULL)
        rc = SAI_ENOMEM;
    if (rc)
        goto out;
    snprintf(path, sizeof path, "/kbs/v0/counter/%s", name);
    if (expect != NULL)
        snprintf(body, sizeof body, "{\"expect\":%llu}", (unsigned long long)*expect);
    if ((rc = sai_kbs_client_request(c, expect ? "POST" : "GET", path, hdr, expect ? body : NULL,
                                     expect ? strlen(body) : 0, &status, &resp, &rl, err))) {
        sai_error_prefix(err, "counter %s", name);
        goto out;
    }
    j = cJSON_ParseWithLength(resp, rl);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "value");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if ((status == 200 || status == 409) && cJSON_IsNumber(v) && v->valuedouble >= 0)
        *value = (uint64_t)v->valuedouble;
    if (status == 200 && cJSON_IsNumber(v))
        rc = 0;
    else if (status == 409 && cJSON_IsNumber(v))
        rc = sai_error_set(err, SAI_ESTATE, "counter %s is %llu, not %llu", name, (unsigned long long)*value,
                           (unsigned long long)*expect);
    else
        rc = sai_error_set(err, status == 403 ? SAI_EPOLICY : status == 404 ? SAI_ENOTFOUND
                                : status == 401 ? SAI_EAUTH : SAI_ENET,
                           "counter %s: the KBS answered %d: %s", name, status,
                           cJSON_IsString(e) ? e->valuestring : "(no reason given)");
out:
    cJSON_Delete(j);
    sai_ec_free(eph);
    free(resp);
    free(hdr);
    free(token);
    return rc;
}

int sai_kbs_get_resource(const sai_kbs_client_opts_t *o, const sai_kbs_attester_t *att,
                         const char *resource, sai_secret_t **secret, sai_error_t *err)
{
    sai_kbs_client_t *c = NULL;
    int rc = sai_kbs_client_new(&c, o, err);
    if (rc != 0)
        return rc;
    rc = sai_kbs_client_get_resource(c, att, resource, secret, NULL, err);
    sai_kbs_client_free(c);
    return rc;
}

const char *sai_kbs__client_cookie(const sai_kbs_client_t *c)
{
    return c->cookie;
}
