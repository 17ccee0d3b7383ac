/*
 * http.c — the KBS server's reply and request helpers shared by its route
 * handlers (routes.c, admin.c): JSON replies and errors (no-store, escaped),
 * the status for an SAI_E* code, the body, the bearer credential, and the
 * audit record of a decision.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "kbs/server_internal.h"

/* A JSON string literal of s (escaped, capped) into out. */
void sai_kbs__json_str(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    if (cap < 3)
        return;
    out[n++] = '"';
    for (; *s && n + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n++] = '"';
    out[n] = '\0';
}

/* ---- replies ---------------------------------------------------------------- */
void sai_kbs__reply(struct evhttp_request *req, int code, const char *ctype, const char *body,
                   size_t len)
{
    struct evbuffer *b = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (b)
        evbuffer_add(b, body, len);
    evhttp_send_reply(req, code, NULL, b);
    if (b)
        evbuffer_free(b);
}

void sai_kbs__reply_json(struct evhttp_request *req, int code, const char *json)
{
    sai_kbs__reply(req, code, "application/json", json, strlen(json));
}

void sai_kbs__reply_error(struct evhttp_request *req, int code, const char *what)
{
    char esc[600], body[700];
    sai_kbs__json_str(esc, sizeof esc, what);
    snprintf(body, sizeof body, "{\"error\":%s,\"status\":%d}", esc, code);
    sai_kbs__reply_json(req, code, body);
}

void sai_kbs__reply_trustee_error(struct evhttp_request *req, int code, const char *kind,
                                 const char *what, bool both)
{
    char esc[600], body[1400];
    sai_kbs__json_str(esc, sizeof esc, what);
    if (both)
        snprintf(body, sizeof body, "{\"type\":\"" SAI_KBS_TRUSTEE_ERRORS "%s\",\"detail\":%s,"
                 "\"error\":%s,\"status\":%d}", kind, esc, esc, code);
    else
        snprintf(body, sizeof body, "{\"type\":\"" SAI_KBS_TRUSTEE_ERRORS "%s\",\"detail\":%s}", kind, esc);
    sai_kbs__reply_json(req, code, body);
}

/* ---- evhttp's own error pages, as JSON --------------------------------------
 * libevent 2.1 answers a body over the cap (413), a request line or headers
 * over theirs (400) and a method it does not allow itself, with a fixed
 * HTML page and no hook. Its page ends in ERR_TAIL and is always the last
 * thing on the connection (it closes after it); when the output buffer
 * ends in one, the whole response is replaced by the JSON error every
 * other answer uses. Nothing is sent before the event loop writes, so
 * the client only ever sees the JSON. */
#define ERR_HEAD "<HTML><HEAD>\n<TITLE>"
#define ERR_TAIL "</BODY></HTML>\n"

static const char *early_error_text(int code)
{
    switch (code) {
    case 413: return "the request body is larger than this server accepts (max_body)";
    case 400: return "malformed request: the request line or headers are invalid or too long";
    case 501: return "method not implemented";
    default: return "the request was refused before it was read completely";
    }
}

static void json_errors_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)arg;
    const size_t tl = sizeof ERR_TAIL - 1;
    size_t len = evbuffer_get_length(buf);
    if (info->n_added == 0 || len < tl + 16)
        return;
    char tail[sizeof ERR_TAIL];
    struct evbuffer_ptr p;
    if (evbuffer_ptr_set(buf, &p, len - tl, EVBUFFER_PTR_SET) != 0 ||
        evbuffer_copyout_from(buf, &p, tail, tl) != (ev_ssize_t)tl || memcmp(tail, ERR_TAIL, tl) != 0)
        return;
    /* The page's body, then the last status line before it. */
    struct evbuffer_ptr body = evbuffer_search(buf, "\r\n\r\n" ERR_HEAD, 4 + sizeof ERR_HEAD - 1, NULL);
    if (body.pos < 0)
        return;
    struct evbuffer_ptr start = {.pos = -1}, at = evbuffer_search(buf, "HTTP/1.", 7, NULL);
    while (at.pos >= 0 && at.pos < body.pos) {
        start = at;
        if (evbuffer_ptr_set(buf, &at, 1, EVBUFFER_PTR_ADD) != 0)
            break;
        at = evbuffer_search(buf, "HTTP/1.", 7, &at);
    }
    if (start.pos < 0)
        return;
    char line[80] = "";
    size_t ll = evbuffer_copyout_from(buf, &start, line, sizeof line - 1) > 0 ? sizeof line - 1 : 0;
    line[ll] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    const char *sp = strchr(line, ' ');
    long code = sp ? strtol(sp + 1, NULL, 10) : 0;
    if (code < 400 || code > 599)
        return;
    struct evbuffer *keep = evbuffer_new();
    if (keep == NULL)
        return;
    evbuffer_remove_buffer(buf, keep, (size_t)start.pos);   /* earlier responses */
    evbuffer_drain(buf, evbuffer_get_length(buf));          /* the HTML one */
    char esc[200], json[300];
    sai_kbs__json_str(esc, sizeof esc, early_error_text((int)code));
    int jl = snprintf(json, sizeof json, "{\"error\":%s,\"status\":%ld}", esc, code);
    evbuffer_add_buffer(buf, keep);
    evbuffer_add_printf(buf, "%s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                        "Connection: close\r\nContent-Length: %d\r\n\r\n%s", line, jl, json);
    evbuffer_free(keep);
}

void sai_kbs__json_errors(struct bufferevent *bev)
{
    evbuffer_add_cb(bufferevent_get_output(bev), json_errors_cb, NULL);
}

int sai_kbs__http_code(int rc)
{
    switch (rc) {
    case SAI_EINVAL: case SAI_EFORMAT: return 400;
    case SAI_EAUTH: return 401;
    case SAI_EPOLICY: return 403;
    case SAI_ENOTFOUND: return 404;
    case SAI_EEXIST: return 409;
    case SAI_ELIMIT: return 413;
    case SAI_EUNSUPP: return 501;
    default: return 500;
    }
}

/* ---- request helpers ---------------------------------------------------------- */
/* The body as a NUL-terminated malloc'ed copy (evhttp already enforced the cap). */
char *sai_kbs__body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    *len = evbuffer_get_length(in);
    char *b = malloc(*len + 1);
    if (b == NULL)
        return NULL;
    evbuffer_copyout(in, b, *len);
    b[*len] = '\0';
    return b;
}

const char *sai_kbs__bearer(struct evhttp_request *req)
{
    /* The scheme is case-insensitive (RFC 9110 11.1): "bearer" is Bearer. */
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (a == NULL || strncasecmp(a, "Bearer", 6) != 0 || (a[6] != ' ' && a[6] != '\t'))
        return NULL;
    a += 6;
    while (*a == ' ' || *a == '\t')
        a++;
    return *a ? a : NULL;
}

bool sai_kbs__session_cookie(struct evhttp_request *req, char id[static 33])
{
    const char *c = evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie");
    const size_t nl = sizeof SAI_KBS_TRUSTEE_COOKIE - 1;
    for (const char *p = c; p && *p;) {
        p += strspn(p, " \t;");
        if (strncmp(p, SAI_KBS_TRUSTEE_COOKIE "=", nl + 1) == 0) {
            p += nl + 1;
            size_t n = strcspn(p, "; \t");
            if (n != 32 || strspn(p, "0123456789abcdef") < 32)
                return false;
            memcpy(id, p, 32);
            id[32] = '\0';
            return true;
        }
        p += strcspn(p, ";");
    }
    return false;
}

void sai_kbs__set_session_cookie(struct evhttp_request *req, const char *id, int max_age_s)
{
    char v[160];
    snprintf(v, sizeof v, SAI_KBS_TRUSTEE_COOKIE "=%s; Path=/kbs/v0; Max-Age=%d; HttpOnly", id, max_age_s);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", v);
}

void sai_kbs__audit(sai_kbs_server_t *s, const char *event, const char *actor, const char *subject,
                   const char *verdict, const char *detail)
{
    sai_error_t err;
    if (sai_kbs__audit_append(s->store, event, actor, subject, verdict, detail, &err) != 0)
        sai_kbs__log(s, "error", "\"msg\":\"audit append failed\",\"why\":\"%s\"", err.msg);
}
