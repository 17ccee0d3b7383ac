/*
 * http.c — the KBS server's reply and request helpers shared by its route
 * handlers (routes.c, admin.c): JSON replies and errors (no-store, escaped),
 * the status for an SAI_E* code, the body, the bearer credential, and the
 * audit record of a decision.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "kbs/server_internal.h"

/* A JSON string literal of s (escaped, capped) into out. */
void sai_kbs_json_str(char *out, size_t cap, const char *s)
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
void sai_kbs_reply(struct evhttp_request *req, int code, const char *ctype, const char *body,
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

void sai_kbs_reply_json(struct evhttp_request *req, int code, const char *json)
{
    sai_kbs_reply(req, code, "application/json", json, strlen(json));
}

void sai_kbs_reply_error(struct evhttp_request *req, int code, const char *what)
{
    char esc[600], body[700];
    sai_kbs_json_str(esc, sizeof esc, what);
    snprintf(body, sizeof body, "{\"error\":%s,\"status\":%d}", esc, code);
    sai_kbs_reply_json(req, code, body);
}

int sai_kbs_http_code(int rc)
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
char *sai_kbs_body(struct evhttp_request *req, size_t *len)
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

const char *sai_kbs_bearer(struct evhttp_request *req)
{
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (a == NULL || strncmp(a, "Bearer ", 7) != 0)
        return NULL;
    return a + 7;
}

void sai_kbs_audit(sai_kbs_server *s, const char *event, const char *actor, const char *subject,
                   const char *verdict, const char *detail)
{
    sai_error err;
    if (sai_kbs_audit_append(s->store, event, actor, subject, verdict, detail, &err) != 0)
        sai_kbs_log(s, "error", "\"msg\":\"audit append failed\",\"why\":\"%s\"", err.msg);
}
