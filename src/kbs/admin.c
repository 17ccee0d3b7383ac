/*
 * admin.c — the KBS's admin API under /kbs/v0/admin/ (resources, the
 * attestation policy, the audit log) and its credential: a bearer token
 * whose SHA-256 is all the server keeps, compared in constant time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "kbs/server_internal.h"

static bool admin_ok(sai_kbs_server_t *s, struct evhttp_request *req)
{
    const char *t = sai_kbs__bearer(req);
    uint8_t h[SAI_SHA256_LEN];
    if (t == NULL || sai_hash(SAI_SHA256, h, t, strlen(t), NULL) != 0)
        return false;
    return sai_ct_equal(h, s->admin_hash, sizeof h) == 1;
}

/* Strict ?limit=N (1..10000); no query: 100. */
static int audit_limit(const char *rest, unsigned long long *limit)
{
    const char *q = strchr(rest, '?');
    *limit = 100;
    if (q == NULL || q[1] == '\0')
        return 0;
    if (strncmp(q, "?limit=", 7) != 0)
        return -1;
    const char *v = q + 7;
    if (*v < '1' || *v > '9' || strlen(v) > 5 || strspn(v, "0123456789") != strlen(v))
        return -1;
    *limit = strtoull(v, NULL, 10);
    return *limit <= 10000 ? 0 : -1;
}

static int admin_dispatch(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                          const char *rest, char *why, size_t why_cap);

static const char *method_name(enum evhttp_cmd_type m)
{
    return m == EVHTTP_REQ_GET ? "GET" : m == EVHTTP_REQ_POST ? "POST" : m == EVHTTP_REQ_PUT ? "PUT"
         : m == EVHTTP_REQ_DELETE ? "DELETE" : "OTHER";
}

int sai_kbs__admin_handle(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                         const char *rest)
{
    if (!admin_ok(s, req)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
        sai_kbs__reply_error(req, 401, "admin credential missing or wrong");
        sai_kbs__audit(s, "admin.denied", peer, rest, "deny", "bad or missing bearer token");
        sai_kbs__metrics_verdict(s->metrics, "admin", false);
        return 401;
    }
    sai_kbs__metrics_verdict(s->metrics, "admin", true);
    char why[300] = "";
    int code = admin_dispatch(s, req, peer, rest, why, sizeof why);
    /* An authenticated call that did nothing is a record too: who tried
     * what, and why it failed (changes that happened are audited with the
     * change, in its transaction). */
    if (code >= 400) {
        char subject[300], detail[340];
        snprintf(subject, sizeof subject, "%.*s", (int)strcspn(rest, "?"), rest);
        snprintf(detail, sizeof detail, "%s %d: %.300s", method_name(evhttp_request_get_command(req)),
                 code, why);
        sai_kbs__audit(s, "admin.failed", peer, subject, "fail", detail);
    }
    return code;
}

/* Reply with an error and keep its reason for the audit record. */
static int fail(struct evhttp_request *req, int code, const char *msg, char *why, size_t cap)
{
    size_t n = strnlen(msg, cap - 1);   /* a reason, cut to fit */
    memcpy(why, msg, n);
    why[n] = '\0';
    sai_kbs__reply_error(req, code, msg);
    return code;
}

static int admin_dispatch(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                          const char *rest, char *why, size_t why_cap)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    sai_error_t err;
    int code = 200, rc;
    if (strncmp(rest, "resource/", 9) == 0) {
        const char *name = rest + 9;
        if (!sai_kbs__resource_name_ok(name)) {
            return fail(req, 400, "a resource name is repo/type/tag of [A-Za-z0-9._-]", why, why_cap);
        }
        if (m == EVHTTP_REQ_PUT || m == EVHTTP_REQ_POST) {
            size_t len;
            char *body = sai_kbs__body(req, &len);
            sai_kbs_put_req_t r;
            rc = body ? sai_kbs__parse_put(&r, body, len, &err) : sai_error_set(&err, SAI_ENOMEM, "oom");
            free(body);
            if (rc == 0) {
                rc = sai_kbs__store_put_resource(s->store, name, r.secret, r.secret_len, r.policy,
                                                peer, &err);
                sai_kbs__put_req_free(&r);
            }
            if (rc != 0)
                return fail(req, sai_kbs__http_code(rc), err.msg, why, why_cap);
            sai_kbs__reply_json(req, 201, "{\"status\":\"stored\"}");
            return 201;
        }
        if (m == EVHTTP_REQ_DELETE) {
            if ((rc = sai_kbs__store_delete_resource(s->store, name, peer, &err)) != 0)
                return fail(req, sai_kbs__http_code(rc), err.msg, why, why_cap);
            sai_kbs__reply_json(req, 200, "{\"status\":\"deleted\"}");
            return 200;
        }
        if (m == EVHTTP_REQ_GET) {
            /* Existence and policy only; the secret never leaves this way. */
            sai_secret_t *sec = NULL;
            char *pol = NULL, *out = NULL;
            if ((rc = sai_kbs__store_get_resource(s->store, name, &sec, &pol, &err)) != 0)
                return fail(req, sai_kbs__http_code(rc), err.msg, why, why_cap);
            size_t n = strlen(pol) + strlen(name) + 64;
            code = 500;
            sai_kbs__audit(s, "admin.read-resource", peer, name, "ok", "metadata");
            if ((out = malloc(n)) != NULL) {
                code = 200;
                snprintf(out, n, "{\"name\":\"%s\",\"length\":%zu,\"policy\":%s}", name,
                         sec->len, pol);
                sai_kbs__reply_json(req, 200, out);
            } else {
                sai_kbs__reply_error(req, 500, "out of memory");
            }
            sai_secret_free(sec);
            free(pol);
            free(out);
            return code;
        }
        return fail(req, 405, "use GET, PUT or DELETE", why, why_cap);
    }
    if (strcmp(rest, "policy") == 0 && (m == EVHTTP_REQ_PUT || m == EVHTTP_REQ_POST)) {
        size_t len;
        char *body = sai_kbs__body(req, &len);
        if (body == NULL || len == 0 || memchr(body, '\0', len) != NULL) {
            free(body);
            return fail(req, 400, "the attestation policy (YAML text) is the request body", why, why_cap);
        }
        rc = 0;
        if (s->verifier.set_policy == NULL)
            rc = sai_error_set(&err, SAI_EUNSUPP, "this verifier takes no policy");
        else
            rc = s->verifier.set_policy(s->verifier.ctx, body, len, &err);
        if (rc == 0)
            rc = sai_kbs__store_put_setting(s->store, "attestation_policy", body, peer, &err);
        free(body);
        if (rc != 0)
            return fail(req, sai_kbs__http_code(rc), err.msg, why, why_cap);
        sai_kbs__reply_json(req, 201, "{\"status\":\"stored\"}");
        return 201;
    }
    if ((strcmp(rest, "audit") == 0 || strncmp(rest, "audit?", 6) == 0) && m == EVHTTP_REQ_GET) {
        char *json = NULL;
        unsigned long long limit;
        if (audit_limit(rest, &limit) != 0)
            return fail(req, 400, "the query is ?limit=N with N a whole number 1..10000", why, why_cap);
        if ((rc = sai_kbs__audit_dump(s->store, limit, &json, &err)) != 0)
            return fail(req, 500, err.msg, why, why_cap);
        const char *q = strchr(rest, '?');
        sai_kbs__audit(s, "admin.read-audit", peer, "audit", "ok", q ? q : "");
        sai_kbs__reply_json(req, 200, json);
        free(json);
        return 200;
    }
    return fail(req, 404, "no such admin endpoint", why, why_cap);
}

int sai_kbs__admin_token_load(sai_kbs_server_t *s, sai_error_t *err)
{
    char path[600];
    if (s->cfg.admin_token_file[0])
        snprintf(path, sizeof path, "%s", s->cfg.admin_token_file);
    else
        snprintf(path, sizeof path, "%s/admin.token", s->cfg.data_dir);
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = sai_read_file(path, 4096, &buf, &len, err);
    if (rc == SAI_ENOTFOUND && !s->cfg.admin_token_file[0]) {
        uint8_t raw[32];
        char *tok = NULL;
        if ((rc = sai_random_bytes(raw, sizeof raw, err)) != 0 ||
            (rc = sai_b64url_encode(&tok, raw, sizeof raw, err)) != 0)
            return rc;
        rc = sai_write_file_atomic(path, tok, strlen(tok), 0600, true, err);
        sai_wipe(tok, strlen(tok));
        free(tok);
        sai_wipe(raw, sizeof raw);
        if (rc != 0)
            return rc;
        sai_kbs__log(s, "notice", "\"msg\":\"generated an admin token\",\"file\":\"%s\"", path);
        rc = sai_read_file(path, 4096, &buf, &len, err);
    }
    if (rc != 0)
        return sai_error_prefix(err, "admin token");
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        len--;
    if (len < 16)
        rc = sai_error_set(err, SAI_EINVAL, "the admin token in %s is shorter than 16 bytes", path);
    else
        rc = sai_hash(SAI_SHA256, s->admin_hash, buf, len, err);
    sai_wipe(buf, len);
    free(buf);
    return rc;
}
