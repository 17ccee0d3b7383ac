/*
 * http.c — a strict HTTP/1.1 request-head parser for the model server
 * (server.c), which runs it on bytes from anyone who completed a TLS
 * handshake. It is a pure function over a buffer (fuzz/fuzz_serve_http.c).
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

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int refuse(int *status, int http, sai_error_t *err, int code, const char *what)
{
    *status = http;
    return sai_error_set(err, code, "%s", what);
}

static bool tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Visible ASCII and SP/HTAB (field content); obs-text (>= 0x80) refused too. */
static bool vchar_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || (c > 0x20 && c < 0x7f);
}

/* Copy [p, p+n) into out (cap incl. NUL), trimmed of SP/HTAB; false if too long. */
static bool copy_trim(char *out, size_t cap, const uint8_t *p, size_t n)
{
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n >= cap)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

static int request_line(sai_http_req_t *r, const uint8_t *p, size_t n, int *status, sai_error_t *err)
{
    size_t i = 0, m = 0;
    while (i < n && tchar(p[i]))
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

static int parse_length(uint64_t *out, const char *v)
{
    uint64_t x = 0;
    if (*v == '\0' || strlen(v) > 15)
        return -1;
    for (; *v; v++) {
        if (*v < '0' || *v > '9')
            return -1;
        x = x * 10 + (uint64_t)(*v - '0');
    }
    *out = x;
    return 0;
}

static int header(sai_http_req_t *r, const uint8_t *p, size_t n, int *status, sai_error_t *err)
{
    size_t i = 0;
    if (n > 0 && (p[0] == ' ' || p[0] == '\t'))
        return refuse(status, 400, err, SAI_EINVAL, "obsolete header line folding");
    while (i < n && tchar(p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ':')
        return refuse(status, 400, err, SAI_EINVAL, "malformed header field");
    size_t nl = i;
    for (size_t j = i + 1; j < n; j++)
        if (!vchar_ws(p[j]))
            return refuse(status, 400, err, SAI_EINVAL, "control byte in a header value");
    char v[256];
    bool fits = copy_trim(v, sizeof v, p + i + 1, n - i - 1);
#define IS(name) (nl == sizeof name - 1 && strncasecmp((const char *)p, name, nl) == 0)
    if (IS("Transfer-Encoding"))
        return refuse(status, 501, err, SAI_EUNSUPP, "Transfer-Encoding is not accepted (send Content-Length)");
    if (IS("Content-Length")) {
        uint64_t len;
        if (r->has_length)
            return refuse(status, 400, err, SAI_EINVAL, "more than one Content-Length");
        if (!fits || parse_length(&len, v) != 0)
            return refuse(status, 400, err, SAI_EINVAL, "malformed Content-Length");
        r->has_length = true;
        r->content_length = len;
    } else if (IS("Content-Type")) {
        if (!fits || !copy_trim(r->content_type, sizeof r->content_type, (const uint8_t *)v, strlen(v)))
            return refuse(status, 400, err, SAI_EINVAL, "Content-Type too long");
    } else if (IS("X-Shape")) {
        if (!fits || !copy_trim(r->shape, sizeof r->shape, (const uint8_t *)v, strlen(v)))
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
    size_t scan = len < SAI_HTTP_HEAD_MAX ? len : SAI_HTTP_HEAD_MAX;
    size_t end = 0;
    for (size_t i = 0; i + 3 < scan + 0 && end == 0; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            end = i + 4;
    /* Bytes that can never start a valid head are refused now, not after
     * waiting for 8 KiB (a client that sends garbage learns at once). */
    for (size_t i = 0; i < (end ? end : scan); i++) {
        unsigned char c = buf[i];
        if (c == '\0' || (c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c >= 0x7f)
            return refuse(status, 400, err, SAI_EINVAL, "control or non-ASCII byte in the request head");
        if (c == '\n' && (i == 0 || buf[i - 1] != '\r'))
            return refuse(status, 400, err, SAI_EINVAL, "bare LF in the request head");
        if (c == '\r' && i + 1 < scan && buf[i + 1] != '\n')
            return refuse(status, 400, err, SAI_EINVAL, "bare CR in the request head");
    }
    if (end == 0) {
        if (len >= SAI_HTTP_HEAD_MAX)
            return refuse(status, 431, err, SAI_ELIMIT, "request head over 8 KiB");
        return 0;
    }
    size_t line = 0, nh = 0;
    int rc = 0;
    for (size_t i = 0; i + 1 < end; i++) {
        if (buf[i] != '\r')
            continue;
        const uint8_t *p = buf + line;
        size_t n = i - line;
        if (line == 0) {
            rc = request_line(r, p, n, status, err);
        } else if (n > 0) {
            if (++nh > SAI_HTTP_HEADERS_MAX)
                rc = refuse(status, 431, err, SAI_ELIMIT, "more than 64 header fields");
            else
                rc = header(r, p, n, status, err);
        }
        if (rc)
            return rc;
        line = i + 2;
        i++;
    }
    r->head_len = end;
    *complete = true;
    return 0;
}
