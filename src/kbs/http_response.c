/*
 * http_response.c — the KBS client's HTTP/1.x response-head parser, for the
 * answers it reads over a stream someone else connected (client.c,
 * stream_request; docs/kbs.md "Over a stream someone else connected"). Over
 * its own sockets the client uses evhttp, which parses for itself.
 *
 * The bytes come through TLS from the pinned KBS, but the host moved them
 * and the parser runs inside the enclave, so it is held to the rule for
 * every parser of untrusted input: a pure function over (buf, len), fuzzed
 * (fuzz/fuzz_kbs_response.c), as strict as the model server's request-head
 * parser (src/serve/http.c), whose grammar it shares
 * (src/util/http_grammar.c). What a KBS answer needs and no more: a status
 * line, a length (Content-Length, or Connection: close), Retry-After and
 * Trustee's kbs-session-id cookie; anything ambiguous about where the body
 * ends is refused rather than guessed.
 */
#include "kbs/kbs_internal.h"
#include "util/http_grammar.h"

#include <string.h>
#include <strings.h>

/* "HTTP/1.1 " or "HTTP/1.0 ", three digits, then the end or SP and a reason
 * (any field content; the reason means nothing). */
static int status_line(sai_kbs_resp_head_t *h, const uint8_t *p, size_t n, bool *http10, sai_error_t *err)
{
    if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
        (n > 12 && p[12] != ' '))
        return sai_error_set(err, SAI_EFORMAT, "the KBS's answer is not HTTP/1.x (malformed status line)");
    int code = 0;
    for (size_t i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return sai_error_set(err, SAI_EFORMAT, "the KBS's status code is not three digits");
        code = code * 10 + (p[i] - '0');
    }
    if (code < 100 || code > 599)
        return sai_error_set(err, SAI_EFORMAT, "the KBS's status code %d is outside 100-599", code);
    if (code < 200)
        return sai_error_set(err, SAI_EFORMAT, "the KBS sent an interim answer (%d), which was never asked for",
                             code);
    h->status = code;
    *http10 = p[7] == '0';
    return 0;
}

/* Whether the comma-separated token list v holds tok (any case). */
static bool list_has(const char *v, const char *tok)
{
    size_t tl = strlen(tok);
    while (*v != '\0') {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t k = strcspn(v, ", \t");
        if (k == tl && strncasecmp(v, tok, tl) == 0)
            return true;
        v += k;
    }
    return false;
}

/* delay-seconds (RFC 9110 10.2.3), with a fraction as evhttp's path
 * accepts it; an HTTP-date or anything else is no delay (-1). */
static double retry_seconds(const char *v)
{
    size_t i = strspn(v, "0123456789"), f = 0;
    if (i == 0)
        return -1;
    if (v[i] == '.' && (f = strspn(v + i + 1, "0123456789")) == 0)
        return -1;
    if (v[i + (f ? f + 1 : 0)] != '\0')
        return -1;
    if (i > 9)
        return 1e9;   /* longer than any wait the caller allows: it caps it */
    double s = 0, scale = 0.1;
    for (size_t k = 0; k < i; k++)
        s = s * 10 + (v[k] - '0');
    for (size_t k = 0; k < f && k < 9; k++, scale /= 10)
        s += (v[i + 1 + k] - '0') * scale;
    return s;
}

/* Set-Cookie: kbs-session-id=<cookie-octets>[; attributes]. Another
 * cookie, or a value that is empty, too long or not cookie-octets (RFC 6265
 * 4.1.1), is not Trustee's session and is left alone. */
static void session_cookie(sai_kbs_resp_head_t *h, const char *v)
{
    const size_t pl = sizeof SAI_KBS_TRUSTEE_COOKIE;   /* the name and its '=' */
    if (h->cookie[0] != '\0' || strncmp(v, SAI_KBS_TRUSTEE_COOKIE "=", pl) != 0)
        return;
    v += pl;
    size_t n = 0;
    for (; v[n] != '\0' && v[n] != ';'; n++)
        if (v[n] <= 0x20 || v[n] >= 0x7f || v[n] == '"' || v[n] == ',' || v[n] == '\\')
            return;
    if (n == 0 || n >= sizeof h->cookie)
        return;
    memcpy(h->cookie, v, n);
    h->cookie[n] = '\0';
}

static int header(sai_kbs_resp_head_t *h, const uint8_t *p, size_t n, bool *keep_alive, sai_error_t *err)
{
    size_t nl = 0, vn = 0;
    const uint8_t *vp = NULL;
    const char *why = sai_http_split_field(p, n, &nl, &vp, &vn);
    if (why != NULL)
        return sai_error_set(err, SAI_EFORMAT, "%s in the KBS's answer", why);
    char v[256];
    bool fits = sai_http_copy_trim(v, sizeof v, vp, vn);
    if (sai_http_field_is(p, nl, "Transfer-Encoding")) {
        if (!fits || strcasecmp(v, "identity") != 0)
            return sai_error_set(err, SAI_EUNSUPP, "the KBS's answer has Transfer-Encoding \"%.40s\" (over a "
                                 "dialed stream only Content-Length or the stream's end frames it)",
                                 fits ? v : "...");
    } else if (sai_http_field_is(p, nl, "Content-Length")) {
        uint64_t len = 0;
        if (!fits || strspn(v, "0123456789") != strlen(v) || v[0] == '\0')
            return sai_error_set(err, SAI_EFORMAT, "the KBS's Content-Length is not a number");
        if (sai_http_parse_length(&len, v) != 0)
            return sai_error_set(err, SAI_EFORMAT, "the KBS's Content-Length has more than 15 digits");
        if (h->has_length && len != h->content_length)
            return sai_error_set(err, SAI_EFORMAT, "the KBS's answer has two different Content-Lengths");
        h->has_length = true;
        h->content_length = len;
    } else if (sai_http_field_is(p, nl, "Connection")) {
        if (fits && list_has(v, "close"))
            h->close = true;
        if (fits && list_has(v, "keep-alive"))
            *keep_alive = true;
    } else if (sai_http_field_is(p, nl, "Retry-After")) {
        if (h->retry_after < 0 && fits)
            h->retry_after = retry_seconds(v);
    } else if (sai_http_field_is(p, nl, "Set-Cookie")) {
        if (fits)
            session_cookie(h, v);
    }
    return 0;
}

int sai_kbs__parse_response_head(sai_kbs_resp_head_t *h, const uint8_t *buf, size_t len, bool *complete,
                                 sai_error_t *err)
{
    memset(h, 0, sizeof *h);
    h->retry_after = -1;
    *complete = false;
    size_t end = 0;
    const char *why = sai_http_scan_head(buf, len, SAI_KBS_RESP_HEAD_MAX, &end);
    if (why != NULL)
        return sai_error_set(err, SAI_EFORMAT, "%s in the KBS's response head", why);
    if (end == 0) {
        if (len >= SAI_KBS_RESP_HEAD_MAX)
            return sai_error_set(err, SAI_ELIMIT, "the KBS's answer has no end of its headers within %u KiB",
                                 SAI_KBS_RESP_HEAD_MAX / 1024);
        return 0;
    }
    size_t pos = 0, nh = 0, n = 0;
    const uint8_t *p = NULL;
    bool http10 = false, keep_alive = false;
    int rc = 0;
    for (bool first = true; rc == 0 && sai_http_next_line(buf, end, &pos, &p, &n); first = false) {
        if (first)
            rc = status_line(h, p, n, &http10, err);
        else if (++nh > SAI_KBS_RESP_HEADERS_MAX)
            rc = sai_error_set(err, SAI_ELIMIT, "the KBS's answer has more than %u header fields",
                               SAI_KBS_RESP_HEADERS_MAX);
        else
            rc = header(h, p, n, &keep_alive, err);
    }
    if (rc != 0)
        goto out;
    if (http10 && !keep_alive)
        h->close = true;   /* HTTP/1.0 is not persistent unless it says so (RFC 9112 9.3) */
    if (h->status == 204 || h->status == 304) {
        h->has_length = true;   /* these never have a body (RFC 9112 6.3) */
        h->content_length = 0;
    }
    if (!h->has_length && !h->close) {
        rc = sai_error_set(err, SAI_EFORMAT, "the KBS's answer has no length (no Content-Length, no "
                           "Connection: close)");
        goto out;
    }
    h->head_len = end;
    *complete = true;
out:
    if (rc != 0)
        h->cookie[0] = '\0';
    return rc;
}
