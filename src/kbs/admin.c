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

static bool admin_ok(sai_kbs_server *s, struct evhttp_request *req)
{
    const char *t = sai_kbs_bearer(req);
    uint8_t h[SAI_SHA256_LEN];
    if (t == NULL || sai_hash(SAI_SHA256, h, t, strlen(t), NULL) != 0)
        return false;
    return sai_ct_equal(h, s->admin_hash, sizeof h) == 1;
}

int sai_kbs_admin_handle(sai_kbs_server *s, struct evhttp_request *req, const char *peer,
                         const char *rest)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    sai_error err;
    int code = 200, rc;
    if (!admin_ok(s, req)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
        sai_kbs_reply_error(req, 401, "admin credential missing or wrong");
        sai_kbs_audit(s, "admin.denied", peer, rest, "deny", "bad or missing bearer token");
        sai_kbs_metrics_verdict(s->metrics, "admin", false);
        return 401;
    }
    sai_kbs_metrics_verdict(s->metrics, "admin", true);
    if (strncmp(rest, "resource/", 9) == 0) {
        const char *name = rest + 9;
        if (!sai_kbs_resource_name_ok(name)) {
            sai_kbs_reply_error(req, 400, "a resource name is repo/type/tag of [A-Za-z0-9._-]");
            return 400;
        }
        if (m == EVHTTP_REQ_PUT || m == EVHTTP_REQ_POST) {
            size_t len;
            char *body = sai_kbs_body(req, &len);
            sai_kbs_put_req r;
            rc = body ? sai_kbs_parse_put(&r, body, len, &err) : sai_error_set(&err, SAI_ENOMEM, "oom");
            free(body);
            if (rc == 0) {
                rc = sai_kbs_store_put_resource(s->store, name, r.secret, r.secret_len, r.policy,
                                                peer, &err);
                sai_kbs_put_req_free(&r);
            }
            if (rc != 0) {
                sai_kbs_reply_error(req, code = sai_kbs_http_code(rc), err.msg);
                return code;
            }
            sai_kbs_reply_json(req, 201, "{\"status\":\"stored\"}");
            return 201;
        }
        if (m == EVHTTP_REQ_DELETE) {
            if ((rc = sai_kbs_store_delete_resource(s->store, name, peer, &err)) != 0) {
                sai_kbs_reply_error(req, code = sai_kbs_http_code(rc), err.msg);
                return code;
            }
            sai_kbs_reply_json(req, 200, "{\"status\":\"deleted\"}");
            return 200;
        }
        if (m == EVHTTP_REQ_GET) {
            /* Existence and policy only; the secret never leaves this way. */
            sai_secret *sec = NULL;
            char *pol = NULL, *out = NULL;
            if ((rc = sai_kbs_store_get_resource(s->store, name, &sec, &pol, &err)) != 0) {
                sai_kbs_reply_error(req, code = sai_kbs_http_code(rc), err.msg);
                return code;
            }
            size_t n = strlen(pol) + strlen(name) + 64;
            code = 500;
            sai_kbs_audit(s, "admin.read-resource", peer, name, "ok", "metadata");
            if ((out = malloc(n)) != NULL) {
                code = 200;
                snprintf(out, n, "{\"name\":\"%s\",\"length\":%zu,\"policy\":%s}", name,
                         sec->len, pol);
                sai_kbs_reply_json(req, 200, out);
            } else {
                sai_kbs_reply_error(req, 500, "out of memory");
            }
            sai_secret_free(sec);
            free(pol);
            free(out);
            return code;
        }
        sai_kbs_reply_error(req, 405, "use GET, PUT or DELETE");
        return 405;
    }
    if (strcmp(rest, "policy") == 0 && (m == EVHTTP_REQ_PUT || m == EVHTTP_REQ_POST)) {
        size_t len;
        char *body = sai_kbs_body(req, &len);
        if (body == NULL || len == 0 || memchr(body, '\0', len) != NULL) {
            free(body);
            sai_kbs_reply_error(req, 400, "the attestation policy (YAML text) is the request body");
            return 400;
        }
        rc = 0;
        if (s->verifier.set_policy == NULL)
            rc = sai_error_set(&err, SAI_EUNSUPP, "this verifier takes no policy");
        else
            rc = s->verifier.set_policy(s->verifier.ctx, body, len, &err);
        if (rc == 0)
            rc = sai_kbs_store_put_setting(s->store, "attestation_policy", body, peer, &err);
        free(body);
        if (rc != 0) {
            sai_kbs_reply_error(req, code = sai_kbs_http_code(rc), err.msg);
            return code;
        }
        sai_kbs_reply_json(req, 201, "{\"status\":\"stored\"}");
        return 201;
    }
    if (strncmp(rest, "audit", 5) == 0 && m == EVHTTP_REQ_GET) {
        char *json = NULL;
        const char *q = strchr(rest, '?');
        unsigned long long limit = 100;
        if (q && strncmp(q, "?limit=", 7) == 0)
            limit = strtoull(q + 7, NULL, 10);
        if (limit == 0 || limit > 10000)   /* bounded answer; older entries: audit verify */
            limit = 10000;
        if ((rc = sai_kbs_audit_dump(s->store, limit, &json, &err)) != 0) {
            sai_kbs_reply_error(req, 500, err.msg);
            return 500;
        }
        sai_kbs_audit(s, "admin.read-audit", peer, "audit", "ok", q ? q : "");
        sai_kbs_reply_json(req, 200, json);
        free(json);
        return 200;
    }
    sai_kbs_reply_error(req, 404, "no such admin endpoint");
    return 404;
}

int sai_kbs_admin_token_load(sai_kbs_server *s, sai_error *err)
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
        sai_kbs_log(s, "notice", "\"msg\":\"generated an admin token\",\"file\":\"%s\"", path);
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
