/*
 * http.c — a strict HTTP/1.1 request-head parser for the model server
 * (server.c), which runs it on bytes from anyone who completed a TLS
 * handshake. It is a pure function over a buffer (fuzz/fuzz_serve_http.c);
 * the grammar it shares with the KBS client's response-head parser
 * (tokens, field values, the head's end, its lines) is src/util/http_grammar.c.
 *
 * Why not the KBS's: the KBS serves through libevent's evhttp, which owns
 * its listening sockets; src/kbs/http.c holds reply helpers over an
 * evhttp_request, not a parser, and evhttp cannot take a connection that
 * was accepted by another process and handed over, which is how the
 * enclave gets its connections (docs/serving.md, "Who holds the socket").
 *
 * What is accepted is deliberately narrow (RFC 9112 minus what a model
 * server does not need): one request line "METHOD SP origin-form SP
 * HTTP/1.1" and "name: value" headers, all lines ending in CRLF; no
 * obsolete folding, no bare LF or CR, no NUL or control bytes, no
 * Transfer-Encoding (a body has a Content-Length), one Content-Length.
 */
#include "secureai/serve.h"
#include "util/http_grammar.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int refuse(int *status, int http, sai_error_t *err, int code, const char *what)
{
    *status = http;
    return sai_error_set(err, code, "%s", what);
}

static int request_line(sai_http_req_t *r, const uint8_t *p, size_t n, int *status, sai_error_t *err)
{
    size_t i = 0, m = 0;
    while (i < n && sai_http_tchar(p[i]))
        i++;
    if (i == 0 || i >= sizeof r->method || i >= n || p[i] != ' ')
        return refuse(status, 400, err, SAI_EINVAL, "malformed request line");
    memcpy(r->method, p, i);
    r->method[i] = '\0';
    i++;
    size_t t0 = i;
    while (i < n && p[i] > 0x20 && p[i] < 0x7f)
        i++;
    size_t tn = i - t0;
    if (tn == 0 || i >= n || p[i] != ' ' || p[t0] != '/')
        return refuse(status, 400, err, SAI_EINVAL, "malformed request target (origin-form /path only)");
    for (m = 0; m < tn && p[t0 + m] != '?'; m++)
        ;
    if (m >= sizeof r->path || (tn > m && tn - m - 1 >= sizeof r->query))
        return refuse(status, 414, err, SAI_ELIMIT, "request target too long");
    memcpy(r->path, p + t0, m);
    r->path[m] = '\0';
    if (tn > m) {
        memcpy(r->query, p + t0 + m + 1, tn - m - 1);
        r->query[tn - m - 1] = '\0';
    }
    i++;
    if (n - i != 8 || memcmp(p + i, "HTTP/1.", 7) != 0 || p[i + 7] < '0' || p[i + 7] > '9')
        return refuse(status, 400, err, SAI_EINVAL, "malformed HTTP version");
    if (p[i + 7] != '1')
        return refuse(status, 505, err, SAI_EUNSUPP, "only HTTP/1.1 is served");
    return 0;
}

static int header(sai_http_req_t *r, const uint8_t *p, size_t n, int *status, sai_error_t *err)
{
    size_t nl = 0, vn = 0;
    const uint8_t *vp = NULL;
    const char *why = sai_http_split_field(p, n, &nl, &vp, &vn);
    if (why != NULL)
        return refuse(status, 400, err, SAI_EINVAL, why);
    char v[256];
    bool fits = sai_http_copy_trim(v, sizeof v, vp, vn);
#define IS(name) sai_http_field_is(p, nl, name)
    if (IS("Transfer-Encoding"))
        return refuse(status, 501, err, SAI_EUNSUPP, "Transfer-Encoding is not accepted (send Content-Length)");
    if (IS("Content-Length")) {
        uint64_t len;
        if (r->has_length)
            return refuse(status, 400, err, SAI_EINVAL, "more than one Content-Length");
        if (!fits || sai_http_parse_length(&len, v) != 0)
            return refuse(status, 400, err, SAI_EINVAL, "malformed Content-Length");
        r->has_length = true;
        r->content_length = len;
    } else if (IS("Content-Type")) {
        if (!fits ||
            !sai_http_copy_trim(r->content_type, sizeof r->content_type, (const uint8_t *)v, strlen(v)))
            return refuse(status, 400, err, SAI_EINVAL, "Content-Type too long");
    } else if (IS("X-Shape")) {
        if (!fits ||
            !sai_http_copy_trim(r->shape, sizeof r->shape, (const uint8_t *)v, strlen(v)))
            return refuse(status, 400, err, SAI_EINVAL, "X-Shape too long");
    } else if (IS("Connection")) {
        if (fits && strcasecmp(v, "close") == 0)
            r->close = true;
    }
#undef IS
    return 0;
}

int sai_http_parse_head(sai_http_req_t *r, const uint8_t *buf, size_t len, bool *complete, int *status,
                        sai_error_t *err)
{
    memset(r, 0, sizeof *r);
    *complete = false;
    *status = 0;
    size_t end = 0;
    /* Bytes that can never start a valid head are refused now, not after
     * waiting for 8 KiB (a client that sends garbage learns at once). */
    const char *why = sai_http_scan_head(buf, len, SAI_HTTP_HEAD_MAX, &end);
    if (why != NULL) {
        *status = 400;
        return sai_error_set(err, SAI_EINVAL, "%s in the request head", why);
    }
    if (end == 0) {
        if (len >= SAI_HTTP_HEAD_MAX)
            return refuse(status, 431, err, SAI_ELIMIT, "request head over 8 KiB");
        return 0;
    }
    size_t pos = 0, nh = 0, n = 0;
    const uint8_t *p = NULL;
    int rc = 0;
    for (bool first = true; rc == 0 && sai_http_next_line(buf, end, &pos, &p, &n); first = false) {
        if (first)
            rc = request_line(r, p, n, status, err);
        else if (++nh > SAI_HTTP_HEADERS_MAX)
            rc = refuse(status, 431, err, SAI_ELIMIT, "more than 64 header fields");
        else
            rc = header(r, p, n, status, err);
    }
    if (rc)
        return rc;
    r->head_len = end;
    *complete = true;
    return 0;
}
