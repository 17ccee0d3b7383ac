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
/* ---- Trustee's protocol (0.4.0) -------------------------------------------------------------
 * Selected by the version in /auth; its session is the kbs-session-id
 * cookie (SecureAI's is the "session" member); its errors are Trustee's
 * ErrorInformation {"type", "detail"}. The session table is shared: a
 * Trustee session's TEE is stored as "t:<kind>", so neither flow can
 * finish a session the other began. */
#define T_PREFIX "t:"

static void trustee_error(struct evhttp_request *req, int code, const char *kind, const char *what)
{
    sai_kbs__reply_trustee_error(req, code, kind, what, false);
}

/* 0 when body is SecureAI's /auth (the caller goes on), else the status of
 * the answer given. */
static int h_auth_trustee(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                          const char *body, size_t len)
{
    sai_kbs_trustee_auth_t r;
    sai_error_t err;
    char id[33], tee[16], nb64[45], out[256];
    uint8_t nonce[SAI_KBS_NONCE_LEN];
    int rc = sai_kbs__parse_trustee_auth(&r, body, len, &err);
    if (rc == SAI_ENOTFOUND)
        return 0;
    if (rc != 0) {
        /* Trustee answers every refused Request 401; a client that is not
         * known to speak either protocol gets both shapes of error. */
        int code = rc == SAI_ENOMEM ? 500 : 401;
        sai_kbs__reply_trustee_error(req, code, "AttestationError", err.msg, true);
        return code;
    }
    snprintf(tee, sizeof tee, T_PREFIX "%s", r.kind);
    rc = sai_kbs__session_create(s->sessions, tee, peer, id, nonce, &err);
    if (rc != 0) {
        int code = rc == SAI_ELIMIT ? 503 : 500;
        if (rc == SAI_ELIMIT)
            evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
        trustee_error(req, code, "AttestationError", err.msg);
        return code;
    }
    sai_kbs__b64std_nonce(nb64, nonce);
    sai_wipe(nonce, sizeof nonce);
    /* extra-params "": no hash algorithm is selected, so the client uses
     * sha384, kbs_protocol's default (Trustee does the same but for IBM SE). */
    snprintf(out, sizeof out, "{\"nonce\":\"%s\",\"extra-params\":\"\"}", nb64);
    sai_kbs__set_session_cookie(req, id, s->cfg.nonce_ttl_s);
    sai_kbs__reply_json(req, 200, out);
    return 200;
}

/* Is this /attest body Trustee's (a top-level "runtime-data")? SecureAI's
 * bodies never name it, so the common case costs one strstr. */
static bool trustee_attest_body(const char *body, size_t len)
{
    if (strstr(body, "\"runtime-data\"") == NULL)
        return false;
    cJSON *j = cJSON_ParseWithLength(body, len);
    bool yes = cJSON_IsObject(j) && cJSON_GetObjectItemCaseSensitive(j, "runtime-data") != NULL;
    cJSON_Delete(j);
    return yes;
}

static int h_attest_trustee(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                            const char *body, size_t len)
{
    sai_kbs_trustee_attest_t r = {0};
    sai_kbs_claims_t claims;
    sai_error_t err;
    char id[33], tee[16] = "", nb64[45], *jwt = NULL, *out = NULL, detail[400];
    uint8_t nonce[SAI_KBS_NONCE_LEN], rd[SAI_KBS_REPORT_DATA_LEN];
    const char *kind = NULL;
    int code = 200, rc;
    memset(nonce, 0, sizeof nonce);
    if (!sai_kbs__session_cookie(req, id)) {
        trustee_error(req, code = 401, "AttestationError",
                      "the " SAI_KBS_TRUSTEE_COOKIE " cookie from /kbs/v0/auth is missing");
        goto out;
    }
    if ((rc = sai_kbs__parse_trustee_attest(&r, body, len, &err)) != 0) {
        trustee_error(req, code = rc == SAI_ENOMEM ? 500 : 401, "AttestationError", err.msg);
        goto out;
    }
    if ((rc = sai_kbs__session_take(s->sessions, id, tee, nonce, &err)) != 0 ||
        strncmp(tee, T_PREFIX, strlen(T_PREFIX)) != 0) {
        if (rc == 0)
            sai_error_set(&err, SAI_EAUTH, "the session was not opened with protocol " SAI_KBS_TRUSTEE_VERSION);
        trustee_error(req, code = 401, "AttestationError", err.msg);
        sai_kbs__audit(s, "attest", peer, id, "deny", err.msg);
        sai_kbs__metrics_verdict(s->metrics, "attest", false);
        goto out;
    }
    kind = tee + strlen(T_PREFIX);
    sai_kbs__b64std_nonce(nb64, nonce);
    memset(&claims, 0, sizeof claims);
    if (strcmp(nb64, r.nonce) != 0)
        rc = sai_error_set(&err, SAI_EAUTH, "the runtime data's nonce is not the session's challenge");
    if (rc == 0)
        rc = sai_kbs__trustee_report_data(rd, nb64, r.key.jwk, r.additional, &err);
    if (rc == 0)
        rc = s->verifier.verify(s->verifier.ctx, kind, r.evidence, r.evidence_len, rd, &claims, &err);
    if (rc == 0 && strcmp(claims.tee, kind) != 0)
        rc = sai_error_set(&err, SAI_EPOLICY, "the evidence is from a %s TEE, the session was for %s",
                           claims.tee, kind);
    if (rc != 0) {
        code = rc == SAI_ENOMEM || rc == SAI_EIO || rc == SAI_ECRYPTO ? 500 : 401;
        trustee_error(req, code, "AttestationError", err.msg);
        snprintf(detail, sizeof detail, "protocol=trustee %.380s", err.msg);
        sai_kbs__audit(s, "attest", peer, id, "deny", detail);
        sai_kbs__metrics_verdict(s->metrics, "attest", false);
        goto out;
    }
    int64_t now = sai_kbs__wall_now();
    if ((rc = sai_kbs__token_issue_ex(&jwt, s->signer, &claims, r.key.jwk, "trustee", now,
                                     s->cfg.token_ttl_s, &err)) != 0) {
        trustee_error(req, code = 500, "AttestationError", err.msg);
        goto out;
    }
    sai_kbs__issued_add(s->issued, jwt, now + s->cfg.token_ttl_s);
    sai_kbs__cookie_put(s->cookies, id, jwt, now + s->cfg.token_ttl_s);
    if ((out = json_member("token", jwt)) == NULL) {
        trustee_error(req, code = 500, "AttestationError", "out of memory");
        goto out;
    }
    snprintf(detail, sizeof detail, "protocol=trustee tee=%s measurement=%s tcb=%u.%u.%u.%u debug=%d "
             "simulated=%d%s key=%s", claims.tee, claims.measurement, claims.tcb[0], claims.tcb[1],
             claims.tcb[2], claims.tcb[3], claims.debug, claims.simulated,
             claims.emulated ? " EMULATED" : "",
             r.key.kind == SAI_KBS_TKEY_RSA ? "RSA" : r.key.crv);
    sai_kbs__audit(s, "attest", peer, id, "allow", detail);
    sai_kbs__metrics_verdict(s->metrics, "attest", true);
    sai_kbs__set_session_cookie(req, id, s->cfg.token_ttl_s);
    sai_kbs__reply_json(req, 200, out);
out:
    sai_wipe(nonce, sizeof nonce);
    sai_kbs__trustee_attest_free(&r);
    free(jwt);
    free(out);
    return code;
}

static int h_auth(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                  const char *rest)
{
    size_t len;
    char *body = sai_kbs__body(req, &len);
    sai_kbs_auth_req_t r;
    sai_error_t err;
    char id[33], *nb64 = NULL, out[256];
    uint8_t nonce[SAI_KBS_NONCE_LEN];
    int code = 200;
    bool full = false;
    if (body != NULL) {
        code = h_auth_trustee(s, req, peer, body, len);
        if (code != 0) {
            free(body);
            return code;
        }
        code = 200;
    }
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

static int h_attest(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                    const char *rest)
{
    size_t len;
    char *body = sai_kbs__body(req, &len);
    sai_kbs_attest_req_t r = {0};
    sai_kbs_claims_t claims;
    sai_error_t err;
    char tee[16] = "", *jwk = NULL, *jwt = NULL, *out = NULL;
    uint8_t nonce[SAI_KBS_NONCE_LEN], rd[SAI_KBS_REPORT_DATA_LEN];
    int code = 200;
    if (body != NULL && trustee_attest_body(body, len)) {
        code = h_attest_trustee(s, req, peer, body, len);
        free(body);
        return code;
    }
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
    rc = strncmp(tee, T_PREFIX, strlen(T_PREFIX)) == 0
       ? sai_error_set(&err, SAI_EAUTH, "the session was opened with protocol " SAI_KBS_TRUSTEE_VERSION)
       : 0;
    if (rc == 0)
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
    snprintf(detail, sizeof detail, "tee=%s measurement=%s tcb=%u.%u.%u.%u debug=%d simulated=%d%s",
             claims.tee, claims.measurement, claims.tcb[0], claims.tcb[1], claims.tcb[2],
             claims.tcb[3], claims.debug, claims.simulated, claims.emulated ? " EMULATED" : "");
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

/* The caller's attestation-result token, issued by this KBS and unexpired:
 * 0 and its claims, or 401 answered and audited under event. The token is
 * the Authorization: Bearer one or, when tkey is not NULL (a resource
 * read), the one attested for the caller's kbs-session-id cookie (Trustee);
 * a SecureAI token fills *tee_key, a Trustee one *tkey, and *trustee says
 * which protocol the caller speaks (its errors' shape). A token from a
 * Trustee session is refused where tkey is NULL (registration). */
static int attested_caller(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                          const char *name, const char *event, sai_kbs_claims_t *claims,
                          sai_ec_key_t **tee_key, sai_kbs_tkey_t *tkey, bool *trustee)
{
    sai_error_t err;
    char id[33], *cookie_tok = NULL;
    const char *tok = sai_kbs__bearer(req);
    int64_t now = sai_kbs__wall_now();
    *trustee = false;
    if (tok == NULL && tkey != NULL && sai_kbs__session_cookie(req, id)) {
        *trustee = true;
        if ((tok = cookie_tok = sai_kbs__cookie_token(s->cookies, id, now)) == NULL) {
            trustee_error(req, 401, "TokenNotFound", "the " SAI_KBS_TRUSTEE_COOKIE " cookie is not "
                          "attested, has expired or was displaced: attest again");
            sai_kbs__audit(s, event, peer, name, "deny", "cookie not attested");
            return 401;
        }
    }
    if (tok == NULL) {
        const char *what = tkey ? "an attestation token is required (Authorization: Bearer, or the "
                                  SAI_KBS_TRUSTEE_COOKIE " cookie of an attested session)"
                                : "an attestation token is required (Authorization: Bearer)";
        if (tkey)
            sai_kbs__reply_trustee_error(req, 401, "TokenNotFound", what, true);
        else
            sai_kbs__reply_error(req, 401, what);
        sai_kbs__audit(s, event, peer, name, "deny", "no attestation token");
        return 401;
    }
    bool ours = sai_kbs__issued_has(s->issued, tok, now);
    int rc = sai_kbs__token_decode_ex(s->signer, tok, strlen(tok), now, ours, claims, tee_key, tkey, &err);
    free(cookie_tok);
    if (rc != 0) {
        if (*trustee)
            trustee_error(req, 401, "TokenVerifierError", err.msg);
        else if (tkey)
            sai_kbs__reply_trustee_error(req, 401, "TokenVerifierError", err.msg, true);
        else
            sai_kbs__reply_error(req, 401, err.msg);
        sai_kbs__audit(s, event, peer, name, "deny", err.msg);
        return 401;
    }
    if (tkey && tkey->kind != 0)
        *trustee = true;
    return 0;
}

/* An error in the caller's protocol's shape. */
static void resource_error(struct evhttp_request *req, bool trustee, int code, const char *what)
{
    if (!trustee)
        sai_kbs__reply_error(req, code, what);
    else
        trustee_error(req, code, code == 403 ? "PolicyDeny" : code == 404 ? "ResourceNotFound"
                                 : code == 400 ? "InvalidRequestPath" : "PluginInternalError", what);
}

/* GET: the secret under rest (the query string is not part of the name),
 * wrapped to the TEE key of the caller's token, if its claims satisfy the
 * resource's release policy: SecureAI's compact wrap, or for a Trustee
 * session the flattened JWE JSON to its EC or RSA key. */
static int h_resource(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                      const char *rest)
{
    char name[600];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(rest, "?"), rest);
    sai_kbs_claims_t claims;
    sai_ec_key_t *tee_key = NULL;
    sai_kbs_tkey_t tkey = {0};
    sai_secret_t *secret = NULL;
    sai_error_t err;
    char *policy = NULL, *jwe = NULL, *out = NULL;
    bool trustee = false;
    int code = 200, rc;
    if ((code = attested_caller(s, req, peer, name, "release", &claims, &tee_key, &tkey, &trustee)) != 0) {
        sai_kbs__metrics_verdict(s->metrics, "release", false);
        goto out;
    }
    code = 200;
    if (!sai_kbs__resource_name_ok(name)) {
        resource_error(req, trustee, code = 400, "a resource name is repo/type/tag of [A-Za-z0-9._-]");
        goto out;
    }
    if ((rc = sai_kbs__store_get_resource(s->store, name, &secret, &policy, &err)) != 0) {
        resource_error(req, trustee, code = sai_kbs__http_code(rc), rc == SAI_ENOTFOUND ? "no such resource" : err.msg);
        sai_kbs__audit(s, "release", peer, name, "deny", err.msg);
        sai_kbs__metrics_verdict(s->metrics, "release", false);
        goto out;
    }
    if ((rc = sai_kbs_policy_check(policy, &claims, &err)) != 0) {
        resource_error(req, trustee, code = 403, err.msg);
        sai_kbs__audit(s, "release", peer, name, "deny", err.msg);
        sai_kbs__metrics_verdict(s->metrics, "release", false);
        goto out;
    }
    if (tkey.kind != 0)
        rc = sai_kbs__trustee_wrap(&out, &tkey, secret->data, secret->len, &err);
    else if ((rc = sai_kbs_wrap(&jwe, tee_key, secret->data, secret->len, &err)) == 0 &&
             (out = json_member("jwe", jwe)) == NULL)
        rc = sai_error_set(&err, SAI_ENOMEM, "out of memory");
    if (rc != 0) {
        resource_error(req, trustee, code = 500, err.msg);
        goto out;
    }
    char detail[300];
    snprintf(detail, sizeof detail, "%stee=%s measurement=%s", tkey.kind ? "protocol=trustee " : "",
             claims.tee, claims.measurement);
    /* The record is durable before the wrapped secret leaves: committed
     * here, the answer held until the group commit's fsync covers it. */
    uint64_t ticket = 0;
    if (sai_kbs__audit_append_ticket(s->store, "release", peer, name, "allow", detail, &ticket, &err) != 0) {
        resource_error(req, trustee, code = 500, "cannot record the release; refusing");
        sai_kbs__metrics_verdict(s->metrics, "release", false);
        goto out;
    }
    sai_kbs__reply_durable(s, req, ticket, out, trustee);
    out = NULL;
out:
    sai_ec_free(tee_key);
    sai_kbs__tkey_free(&tkey);
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
static int h_register(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                      const char *name)
{
    sai_kbs_claims_t claims;
    sai_ec_key_t *tee_key = NULL;
    sai_error_t err;
    sai_kbs_register_req_t r = {0};
    sai_kbs_put_req_t clear = {0};
    sai_secret_t *sec = NULL;
    char detail[400];
    int code, rc;
    bool trustee;
    if ((code = attested_caller(s, req, peer, name, "register", &claims, &tee_key, NULL, &trustee)) != 0)
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

/* A job's monotonic counter (counter.c): attested like a resource read. */
static int h_counter(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer, const char *rest)
{
    char name[600];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(rest, "?"), rest);
    sai_kbs_claims_t claims;
    sai_ec_key_t *tee_key = NULL;
    bool trustee;
    int code = attested_caller(s, req, peer, name, "counter", &claims, &tee_key, NULL, &trustee);
    sai_ec_free(tee_key);
    if (code == 0)
        code = sai_kbs__counter_handle(s, req, peer, name, &claims);
    sai_kbs__metrics_verdict(s->metrics, "counter", code == 200);
    return code;
}

static int h_wrap_key(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                      const char *rest)
{
    sai_kbs__reply_json(req, 200, s->wrap_jwk);
    return 200;
}

static int h_healthz(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                     const char *rest)
{
    sai_kbs__reply_json(req, 200, "{\"status\":\"ok\"}");
    return 200;
}

static int h_metrics(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
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
    /* Not POST /kbs/v0/resource/...: that is Trustee's admin set-resource,
     * and an attested registration must not be mistaken for it. */
    {"register", EVHTTP_REQ_POST, "/kbs/v0/register/", h_register, false},
    {"counter",  EVHTTP_REQ_GET | EVHTTP_REQ_POST, "/kbs/v0/counter/", h_counter, false},
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

int sai_kbs__route(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
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
