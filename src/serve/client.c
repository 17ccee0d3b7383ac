/*
 * client.c — the attesting client of the model server (`secureai infer`,
 * python/secureai through the library): TCP, TLS 1.3, and the RA-TLS check
 * (ratls.c) as OpenSSL's certificate verification, so a server whose
 * evidence does not satisfy the policy fails the handshake and no request
 * byte is written. There is no "verify after connect" path to forget.
 */
#include "serve/serve_internal.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "secureai/util.h"

#define RESP_MAX (64u << 20)

struct sai_serve_client_t {
    int      fd;
    SSL_CTX *ctx;
    SSL     *ssl;
    char     host[256];
    /* the verification, filled by the callback during the handshake */
    const sai_serve_policy_t *policy;
    sai_attest_policy_t *ap;
    sai_serve_verified_t verified;
    bool     checked;
    sai_error_t verr;
};

static int verify_cb(X509_STORE_CTX *xs, void *arg)
{
    sai_serve_client_t *c = arg;
    X509 *leaf = X509_STORE_CTX_get0_cert(xs);
    uint8_t *der = NULL;
    int n = leaf ? i2d_X509(leaf, &der) : -1;
    int rc = n > 0 ? sai_serve__ratls_check(der, (size_t)n, c->policy, c->ap, 0, &c->verified, &c->verr)
                   : sai_error_set(&c->verr, SAI_EFORMAT, "ra-tls: the server sent no certificate");
    OPENSSL_free(der);
    c->checked = rc == 0;
    if (rc != 0)
        X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
    return rc == 0;
}

static int parse_url(const char *url, char *host, size_t hcap, char *port, size_t pcap, sai_error_t *err)
{
    if (strncmp(url, "https://", 8) != 0)
        return sai_error_set(err, SAI_EINVAL, "endpoint %s: not https://HOST:PORT", url);
    const char *h = url + 8, *end = h + strcspn(h, "/");
    const char *colon = NULL;
    if (*h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (rb == NULL)
            return sai_error_set(err, SAI_EINVAL, "endpoint %s: bad IPv6 literal", url);
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
        if ((size_t)(rb - h - 1) >= hcap)
            return sai_error_set(err, SAI_ELIMIT, "endpoint host too long");
        memcpy(host, h + 1, (size_t)(rb - h - 1));
        host[rb - h - 1] = '\0';
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        const char *he = colon ? colon : end;
        if (he == h || (size_t)(he - h) >= hcap)
            return sai_error_set(err, SAI_EINVAL, "endpoint %s: bad host", url);
        memcpy(host, h, (size_t)(he - h));
        host[he - h] = '\0';
    }
    if (colon == NULL || end - colon - 1 < 1 || (size_t)(end - colon - 1) >= pcap)
        return sai_error_set(err, SAI_EINVAL, "endpoint %s: no port", url);
    memcpy(port, colon + 1, (size_t)(end - colon - 1));
    port[end - colon - 1] = '\0';
    return 0;
}

int sai_serve_client_connect(sai_serve_client_t **out, const char *url, const sai_serve_policy_t *p,
                             sai_serve_verified_t *v, sai_error_t *err)
{
    *out = NULL;
    char port[16];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    sai_serve_client_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    c->fd = -1;
    c->policy = p;
    int rc = parse_url(url, c->host, sizeof c->host, port, sizeof port, err);
    if (rc || (rc = sai_serve__attest_policy(p, &c->ap, err)))
        goto out;
    if (getaddrinfo(c->host, port, &hints, &ai) != 0 || ai == NULL) {
        rc = sai_error_set(err, SAI_ENET, "cannot resolve %s", c->host);
        goto out;
    }
    for (struct addrinfo *a = ai; a != NULL && c->fd < 0; a = a->ai_next) {
        c->fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (c->fd >= 0 && connect(c->fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(c->fd);
            c->fd = -1;
        }
    }
    if (c->fd < 0) {
        rc = sai_error_set(err, SAI_ENET, "cannot connect to %s:%s: %s", c->host, port, strerror(errno));
        goto out;
    }
    struct timeval tv = {30, 0};
    int one = 1;   /* a request's head and body are two records: no delayed-ACK wait between them */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL || SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION) != 1) {
        rc = sai_error_set(err, SAI_ECRYPTO, "cannot set up TLS 1.3");
        goto out;
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_cert_verify_callback(c->ctx, verify_cb, c);
    if ((c->ssl = SSL_new(c->ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        rc = sai_error_set(err, SAI_ECRYPTO, "cannot set up TLS 1.3");
        goto out;
    }
    if (SSL_connect(c->ssl) != 1 || !c->checked) {
        if (c->verr.code != 0) {
            rc = c->verr.code;
            sai_error_set(err, rc, "refused before sending anything: %s", c->verr.msg);
        } else {
            unsigned long e = ERR_peek_last_error();
            rc = sai_error_set(err, SAI_ENET, "TLS 1.3 handshake with %s failed: %s", c->host,
                               e ? ERR_reason_error_string(e) : "connection closed");
        }
        goto out;
    }
    if (v != NULL)
        *v = c->verified;
out:
    ERR_clear_error();
    if (ai != NULL)
        freeaddrinfo(ai);
    if (rc) {
        sai_serve_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void sai_serve_client_free(sai_serve_client_t *c)
{
    if (c == NULL)
        return;
    if (c->ssl != NULL && c->checked)
        SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    sai_attest_policy_free(c->ap);
    free(c);
}

static int ssl_write_all(SSL *ssl, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        int k = SSL_write(ssl, b, n > 1 << 20 ? 1 << 20 : (int)n);
        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

int sai_serve_client_request(sai_serve_client_t *c, const char *method, const char *path, const char *ctype,
                             const char *shape, const uint8_t *body, size_t body_len, int *status, char **resp,
                             size_t *resp_len, sai_error_t *err)
{
    *resp = NULL;
    *resp_len = 0;
    *status = 0;
    if (!c->checked)
        return sai_error_set(err, SAI_ESTATE, "not verified");
    sai_buf_t b;
    sai_buf_init(&b, RESP_MAX + SAI_HTTP_HEAD_MAX);
    int rc = sai_buf_printf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %zu\r\n", method, path, c->host,
                            body_len);
    if (rc == 0 && ctype)
        rc = sai_buf_printf(&b, "Content-Type: %s\r\n", ctype);
    if (rc == 0 && shape)
        rc = sai_buf_printf(&b, "X-Shape: %s\r\n", shape);
    if (rc == 0)
        rc = sai_buf_printf(&b, "\r\n");
    if (rc != 0) {
        rc = sai_error_set(err, SAI_ELIMIT, "request head too large");
        goto out;
    }
    if (ssl_write_all(c->ssl, b.data, b.len) != 0 || (body_len && ssl_write_all(c->ssl, body, body_len) != 0)) {
        rc = sai_error_set(err, SAI_ENET, "the server closed the connection");
        goto out;
    }
    sai_buf_free(&b);
    /* The response: status line, headers (Content-Length), body. */
    size_t head_end = 0, want = 0;
    bool have_len = false;
    for (;;) {
        if (head_end == 0 && b.len >= 4) {
            for (size_t i = 0; i + 3 < b.len; i++)
                if (memcmp(b.data + i, "\r\n\r\n", 4) == 0) {
                    head_end = i + 4;
                    break;
                }
            if (head_end) {
                int st = 0;
                if (sscanf((const char *)b.data, "HTTP/1.1 %3d", &st) != 1) {
                    rc = sai_error_set(err, SAI_EFORMAT, "not an HTTP/1.1 response");
                    goto out;
                }
                *status = st;
                for (char *l = strstr((char *)b.data, "\r\n"); l && l < (char *)b.data + head_end; l = strstr(l + 2, "\r\n"))
                    if (strncasecmp(l + 2, "Content-Length:", 15) == 0) {
                        char *e;
                        unsigned long long v = strtoull(l + 17, &e, 10);
                        if (v > RESP_MAX) {
                            rc = sai_error_set(err, SAI_ELIMIT, "response too large");
                            goto out;
                        }
                        want = (size_t)v;
                        have_len = true;
                    }
                if (!have_len) {
                    rc = sai_error_set(err, SAI_EFORMAT, "response without Content-Length");
                    goto out;
                }
            } else if (b.len > SAI_HTTP_HEAD_MAX) {
                rc = sai_error_set(err, SAI_ELIMIT, "response head too large");
                goto out;
            }
        }
        if (head_end && b.len - head_end >= want)
            break;
        if (sai_buf_reserve(&b, 16384) != 0) {
            rc = sai_error_set(err, SAI_ELIMIT, "response too large");
            goto out;
        }
        int k = SSL_read(c->ssl, b.data + b.len, (int)(b.cap - b.len > 1 << 20 ? 1 << 20 : b.cap - b.len));
        if (k <= 0) {
            rc = sai_error_set(err, SAI_ENET, "the server closed the connection before its response ended");
            goto out;
        }
        sai_buf_commit(&b, (size_t)k);
    }
    if ((*resp = malloc(want + 1)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(*resp, b.data + head_end, want);
    (*resp)[want] = '\0';
    *resp_len = want;
out:
    ERR_clear_error();
    sai_buf_free(&b);
    return rc;
}
