/*
 * routes.c — the KBS's route table and the RCAR handlers: auth, attest,
 * resource release and attested registration, plus the wrap key, health
 * and metrics. Each route is {method(s), path or path prefix, handler}; a
 * prefix route hands its handler the rest of the path, so no handler knows
 * how long its prefix is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "kbs/server_internal.h"
#include "secureai/util.h"
#include "util/weaken.h"

/* {"<key>":"<val>"}, malloc'ed (NULL when out of memory); val is a compact
 * JWT or JWE, base64url and dots, so nothing needs escaping. */
static char *json_member(const char *key, const char *val)
{
    size_t n = strlen(key) + strlen(val) + 8;
    char *o = malloc(n);
    if (o != NULL)
        snprintf(o, n, "{\"%s\":\"%s\"}", key, val);
    return o;
}

/* ---- handlers ------------------------------------------------------------------- */
static int h_auth(sai_kbs_server *s, struct evhttp_request *req, const char *peer,
                  const char *rest)
{
    size_t len;
    char *body = sai_kbs__body(req, &len);
    sai_kbs_auth_req r;
    sai_error err;
    char id[33], *nb64 = NULL, out[256];
    uint8_t nonce[SAI_KBS_NONCE_LEN];
    int code = 200;
    bool full = false;
    int rc = body ? sai_kbs__parse_auth(&r, body, len, &err) : sai_error_set(&err, SAI_ENOMEM, "oom");
    if (rc == 0)
        full = (rc = sai_kbs__session_create(s->sessions, r.tee, peer, id, nonce, &err)) == SAI_ELIMIT;
    if (rc == 0)
        rc = sai_b64url_encode(&nb64, nonce, sizeof nonce, &err);
    if (rc != 0) {
        code = full ? 503 : sai_kbs__http_code(rc);
        if (full)
            evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
        sai_kbs__reply_error(req, code, err.msg);
    } else {
        /* Not audited: a nonce is no decision, and a row per /auth let
         * anyone grow the audit log without a credential. The /attest that
         * consumes the session records it (subject = the session id). */
        snprintf(out, sizeof out, "{\"nonce\":\"%s\",\"session\":\"%s\",\"expires_in\":%d}", nb64,
                 id, s->cfg.nonce_ttl_s);
        sai_kbs__reply_json(req, 200, out);
    }
    sai_wipe(nonce, sizeof nonce);
    free(nb64);
    free(body);
    return code;
}

static int h_attest(sai_kbs_server *s, struct evhttp_request *req, const char *peer,
                    const char *rest)
{
    size_t len;
    char *body = sai_kbs__body(req, &len);
    sai_kbs_attest_req r = {0};
    sai_kbs_claims claims;
    sai_error err;
    char tee[16] = "", *jwk = NULL, *jwt = NULL, *out = NULL;
    uint8_t nonce[SAI_KBS_NONCE_LEN], rd[SAI_KBS_REPORT_DATA_LEN];
    int code = 200;
    int rc = body ? sai_kbs__parse_attest(&r, body, len, &err) : sai_error_set(&err, SAI_ENOMEM, "oom");
    if (rc != 0) {
        sai_kbs__reply_error(req, code = sai_kbs__http_code(rc), err.msg);
        goto out;
    }
    if ((rc = sai_kbs__session_take(s->sessions, r.session, tee, nonce, &err)) != 0) {
        sai_kbs__reply_error(req, code = 401, err.msg);
        sai_kbs__audit(s, "attest", peer, r.session, "deny", err.msg);
        sai_kbs__metrics_verdict(s->metrics, "attest", false);
        goto out;
    }
    memset(&claims, 0, sizeof claims);
    rc = sai_kbs_report_data(rd, nonce, r.point, &err);
    if (rc == 0)
        rc = s->verifier.verify(s->verifier.ctx, tee, r.evidence, r.evidence_len, rd, &claims, &err);
    if (rc == 0 && strcmp(claims.tee, tee) != 0)
        rc = sai_error_set(&err, SAI_EPOLICY, "the evidence is from a %s TEE, the session was for %s",
                           claims.tee, tee);
    if (rc != 0) {
        code = rc == SAI_ENOMEM || rc == SAI_EIO || rc == SAI_ECRYPTO ? 500 : 403;
        sai_kbs__reply_error(req, code, err.msg);
        sai_kbs__audit(s, "attest", peer, r.session, "deny", err.msg);
        sai_kbs__metrics_verdict(s->metrics, "attest", false);
        goto out;
    }
    int64_t now = sai_kbs__wall_now();
    if ((rc = sai_kbs_jwk_format(r.tee_key, &jwk, &err)) != 0 ||
        (rc = sai_kbs__token_issue(&jwt, s->signer, &claims, jwk, now, s->cfg.token_ttl_s,
                                  &err)) != 0) {
        sai_kbs__reply_error(req, code = 500, err.msg);
        goto out;
    }
    sai_kbs__issued_add(s->issued, jwt, now + s->cfg.token_ttl_s);
    if ((out = json_member("token", jwt)) == NULL) {
        sai_kbs__reply_error(req, code = 500, "out of memory");
        goto out;
    }
    char detail[400];
    snprintf(detail, sizeof detail, "tee=%s measurement=%s tcb=%u.%u.%u.%u debug=%d simulated=%d",
             claims.tee, claims.measurement, claims.tcb[0], claims.tcb[1], claims.tcb[2],
             claims.tcb[3], claims.debug, claims.simulated);
    sai_kbs__audit(s, "attest", peer, r.session, "allow", detail);
    sai_kbs__metrics_verdict(s->metrics, "attest", true);
    sai_kbs__reply_json(req, 200, out);
out:
    sai_wipe(nonce, sizeof nonce);
    sai_kbs__attest_req_free(&r);
    free(jwk);
    free(jwt);
    free(out);
    free(body);
    return code;
}

/* The caller's attestation-result token (Authorization: Bearer), issued by
 * this KBS and unexpired: 0 and its claims, or 401 answered and audited
 * under event. */
static int attested_caller(sai_kbs_server *s, struct evhttp_request *req, const char *peer,
                          const char *name, const char *event, sai_kbs_claims *claims,
                          sai_ec_key **tee_key)
{
    sai_error err;
    const char *tok = sai_kbs__bearer(req);
    if (tok == NULL) {
        sai_kbs__reply_error(req, 401, "an attestation token is required (Authorization: Bearer)");
        sai_kbs__audit(s, event, peer, name, "deny", "no attestation token");
        return 401;
    }
    int64_t now = sai_kbs__wall_now();
    bool ours = sai_kbs__issued_has(s->issued, tok, now);
    if (sai_kbs__token_decode(s->signer, tok, strlen(tok), now, ours, claims, tee_key, &err) != 0) {
        sai_kbs__reply_error(req, 401, err.msg);
        sai_kbs__audit(s, event, peer, name, "deny", err.msg);
        return 401;
    }
    return 0;
}

/* GET: the secret under rest (the query string is not part of the name),
 * wrapped to the TEE key of the caller's token, if its claims satisfy the
 * resource's release policy. */
static int h_resource(sai_kbs_server *s, struct evhttp_request *req, const char *peer,
                      const char *rest)
{
    char name[600];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(rest, "?"), rest);
    sai_kbs_claims claims;
    sai_ec_key *tee_key = NULL;
    sai_secret *secret = NULL;
    sai_error err;
    char *policy = NULL, *jwe = NULL, *out = NULL;
    int code = 200, rc;
    if ((code = attested_caller(s, req, peer, name, "release", &claims, &tee_key)) != 0) {
        sai_kbs__metrics_verdict(s->metrics, "release", false);
        goto out;
    }
    code = 200;
    if (!sai_kbs__resource_name_ok(name)) {
        sai_kbs__reply_error(req, code = 400, "a resource name is repo/type/tag of [A-Za-z0-9._-]");
        goto out;
    }
    if ((rc = sai_kbs__store_get_resource(s->store, name, &secret, &policy, &err)) != 0) {
        sai_kbs__reply_error(req, code = sai_kbs__http_code(rc), rc == SAI_ENOTFOUND ? "no such resource" : err.msg);
        sai_kbs__audit(s, "release", peer, name, "deny", err.msg);
        sai_kbs__metrics_verdict(s->metrics, "release", false);
        goto out;
    }
    if ((rc = sai_kbs_policy_check(policy, &claims, &err)) != 0) {
        sai_kbs__reply_error(req, code = 403, err.msg);
        sai_kbs__audit(s, "release", peer, name, "deny", err.msg);
        sai_kbs__metrics_verdict(s->metrics, "release", false);
        goto out;
    }
    if ((rc = sai_kbs_wrap(&jwe, tee_key, secret->data, secret->len, &err)) != 0) {
        sai_kbs__reply_error(req, code = 500, err.msg);
        goto out;
    }
    if ((out = json_member("jwe", jwe)) == NULL) {
        sai_kbs__reply_error(req, code = 500, "out of memory");
        goto out;
    }
    char detail[300];
    snprintf(detail, sizeof detail, "tee=%s measurement=%s", claims.tee, claims.measurement);
    /* The record is durable before the wrapped secret leaves. */
    if (sai_kbs__audit_append(s->store, "release", peer, name, "allow", detail, &err) != 0) {
        sai_kbs__reply_error(req, code = 500, "cannot record the release; refusing");
        goto out;
    }
    sai_kbs__metrics_verdict(s->metrics, "release", true);
    sai_kbs__reply_json(req, 200, out);
out:
    sai_ec_free(tee_key);
    sai_secret_free(secret);
    free(policy);
    free(jwe);
    free(out);
    return code;
}

/* Is repo one of the comma-separated names in the enclave_writable config? */
static bool repo_writable(const char *list, const char *name)
{
    size_t rl = strcspn(name, "/");
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ", ");
        if (n == rl && n > 0 && strncmp(p, name, n) == 0)
            return true;
        p += n;
        p += strspn(p, ", ");
    }
    return false;
}

/* Attested registration: a TEE holding a valid attestation-result token
 * from this KBS stores a secret it generated (e.g. a model key) under a new
 * name in an enclave-writable repo, with a release policy. The secret
 * arrives wrapped to this KBS's wrap key, bound to the name and the token
 * (sai_kbs_wrap_register); a clear one is refused. Never overwrites; every
 * attempt is audited with the registrant's claims. */
static int h_register(sai_kbs_server *s, struct evhttp_request *req, const char *peer,
                      const char *name)
{
    sai_kbs_claims claims;
    sai_ec_key *tee_key = NULL;
    sai_error err;
    sai_kbs_register_req r = {0};
    sai_kbs_put_req clear = {0};
    sai_secret *sec = NULL;
    char detail[400];
    int code, rc;
    if ((code = attested_caller(s, req, peer, name, "register", &claims, &tee_key)) != 0)
        goto out;
    code = 201;
    if (!sai_kbs__resource_name_ok(name)) {
        sai_kbs__reply_error(req, code = 400, "a resource name is repo/type/tag of [A-Za-z0-9._-]");
        goto out;
    }
    snprintf(detail, sizeof detail, "tee=%s measurement=%s", claims.tee, claims.measurement);
    if (!repo_writable(s->cfg.enclave_writable, name)) {
        sai_kbs__reply_error(req, code = 403, "this repository is not enclave-writable (enclave_writable)");
        sai_kbs__audit(s, "register", peer, name, "deny", "repository not enclave-writable");
        goto out;
    }
    size_t len;
    char *body = sai_kbs__body(req, &len);
    const uint8_t *secret = NULL;
    size_t secret_len = 0;
    const char *policy = NULL;
    if (body == NULL) {
        rc = sai_error_set(&err, SAI_ENOMEM, "oom");
    } else if (SAI_WEAKENED("kbs_wrap") && strstr(body, "\"secret\"") != NULL) {
        if ((rc = sai_kbs__parse_put(&clear, body, len, &err)) == 0) {
            secret = clear.secret;
            secret_len = clear.secret_len;
            policy = clear.policy;
        }
    } else if ((rc = sai_kbs__parse_register(&r, body, len, &err)) == 0) {
        rc = sai_kbs_unwrap_register(&sec, s->wrap_key, name, sai_kbs__bearer(req), r.jwe, strlen(r.jwe), &err);
        if (rc == 0) {
            secret = sec->data;
            secret_len = sec->len;
            policy = r.policy;
        } else {
            rc = sai_error_set(&err, SAI_EAUTH, "the wrapped secret does not open under this KBS's wrap key "
                               "for this resource and attestation token");
        }
    }
    free(body);
    if (rc == 0) {
        size_t dl = strlen(detail);
        snprintf(detail + dl, sizeof detail - dl, " policy=%.300s", policy);
        rc = sai_kbs__store_register_resource(s->store, name, secret, secret_len, policy, peer,
                                             detail, &err);
    }
    if (rc != 0) {
        sai_kbs__reply_error(req, code = rc == SAI_EAUTH ? 403 : sai_kbs__http_code(rc), err.msg);
        sai_kbs__audit(s, "register", peer, name, "deny", err.msg);
        goto out;
    }
    sai_kbs__reply_json(req, 201, "{\"status\":\"registered\"}");
out:
    sai_kbs__register_req_free(&r);
    sai_kbs__put_req_free(&clear);
    sai_secret_free(sec);
    sai_ec_free(tee_key);
    sai_kbs__metrics_verdict(s->metrics, "register", code == 201);
    return code;
}

static int h_wrap_key(sai_kbs_server *s, struct evhttp_request *req, const char *peer,
                      const char *rest)
{
    sai_kbs__reply_json(req, 200, s->wrap_jwk);
    return 200;
}

static int h_healthz(sai_kbs_server *s, struct evhttp_request *req, const char *peer,
                     const char *rest)
{
    sai_kbs__reply_json(req, 200, "{\"status\":\"ok\"}");
    return 200;
}

static int h_metrics(sai_kbs_server *s, struct evhttp_request *req, const char *peer,
                     const char *rest)
{
    char *text = sai_kbs__metrics_render(s->metrics);
    if (text == NULL) {
        sai_kbs__reply_error(req, 500, "out of memory");
        return 500;
    }
    sai_kbs__reply(req, 200, "text/plain; version=0.0.4", text, strlen(text));
    free(text);
    return 200;
}

/* ---- the route table -------------------------------------------------------------- */
typedef struct route {
    const char     *name;      /* the metrics label */
    unsigned        methods;   /* EVHTTP_REQ_* bits */
    const char     *path;      /* the exact path, or a prefix when it ends in '/' */
    sai_kbs_handler fn;
    bool            unlimited; /* not refused by the rate limit (probes, scrapes) */
} route;

#define ANY_METHOD (EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE)

/* Routes that share a path are listed together, the first names them. */
static const route routes[] = {
    {"healthz",  EVHTTP_REQ_GET,  "/healthz",          h_healthz,  true},
    {"metrics",  EVHTTP_REQ_GET,  "/metrics",          h_metrics,  true},
    {"wrap-key", EVHTTP_REQ_GET,  "/kbs/v0/wrap-key",  h_wrap_key, false},
    {"auth",     EVHTTP_REQ_POST, "/kbs/v0/auth",      h_auth,     false},
    {"attest",   EVHTTP_REQ_POST, "/kbs/v0/attest",    h_attest,   false},
    {"resource", EVHTTP_REQ_GET,  "/kbs/v0/resource/", h_resource, false},
    {"resource", EVHTTP_REQ_POST, "/kbs/v0/resource/", h_register, false},
    {"admin",    ANY_METHOD,      "/kbs/v0/admin/",    sai_kbs__admin_handle, false},
};
#define NROUTES (sizeof routes / sizeof routes[0])

/* What follows r's path in path, or NULL when path is not r's. An exact
 * route matches the whole path, query string included. */
static const char *route_rest(const route *r, const char *path)
{
    size_t n = strlen(r->path);
    if (n > 0 && r->path[n - 1] == '/')
        return strncmp(path, r->path, n) == 0 ? path + n : NULL;
    return strcmp(path, r->path) == 0 ? path + n : NULL;
}

int sai_kbs__route(sai_kbs_server *s, struct evhttp_request *req, const char *peer,
                  const char *path, double now, const char **name)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    const route *named = NULL, *hit = NULL;
    const char *rest = NULL;
    for (size_t i = 0; i < NROUTES && hit == NULL; i++) {
        const char *r = route_rest(&routes[i], path);
        if (r == NULL)
            continue;
        if (named == NULL)
            named = &routes[i];
        if (routes[i].methods & (unsigned)m) {
            hit = &routes[i];
            rest = r;
        }
    }
    *name = named ? named->name : "other";
    if (!sai_kbs__ratelimit_allow(s->rl, peer, now) && !(named && named->unlimited)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
        sai_kbs__reply_error(req, 429, "rate limit exceeded; slow down");
        return 429;
    }
    if (hit)
        return hit->fn(s, req, peer, rest);
    if (named) {
        sai_kbs__reply_error(req, 405, "method not allowed on this endpoint");
        return 405;
    }
    sai_kbs__reply_error(req, 404, "no such endpoint");
    return 404;
}
