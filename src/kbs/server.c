/*
 * server.c — the KBS's HTTP(S) front: libevent evhttp over OpenSSL
 * bufferevents (TLS 1.3 only), N event-loop threads sharing one listening
 * socket, and the request handlers of the RCAR protocol and the admin API.
 *
 * What keeps a hostile client from hurting others: evhttp's body and header
 * caps (413 / 400 before a handler runs), a per-connection absolute deadline
 * for the next complete request (a slow client cannot hold a connection by
 * trickling bytes, which evhttp's per-read timeout alone would allow), a cap
 * on concurrent TLS connections (excess ones are closed at once), a per-client
 * token bucket (429), and parsers that answer anything unexpected with a 4xx
 * JSON error. Handlers run to completion inside the callback, so a shutdown
 * only has to stop accepting and let output buffers drain.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "kbs/kbs_internal.h"
#include "secureai/util.h"
#include "util/weaken.h"

typedef struct worker {
    struct sai_kbs_server      *s;
    struct event_base          *base;
    struct evhttp              *http;
    struct evhttp_bound_socket *bound;
    struct event               *tick;
    pthread_t                   th;
    bool                        closing;
} worker;

/* One per TLS connection, hung on the SSL object; freed with it. */
typedef struct conn {
    struct sai_kbs_server *s;
    struct bufferevent    *bev;
    struct event          *deadline;
} conn;

struct sai_kbs_server {
    sai_kbs_config     cfg;
    sai_kbs_verifier   verifier;
    sai_kbs_store     *store;
    sai_kbs_sessions  *sessions;
    sai_kbs_ratelimit *rl;
    sai_kbs_metrics   *metrics;
    sai_ec_key        *signer;
    sai_ec_key        *wrap_key;      /* long-term key-wrapping key (registration) */
    char               wrap_sha[65];  /* hex SHA-256 of its raw point */
    char              *wrap_jwk;      /* {"jwk":..,"sha256":..}, served at /kbs/v0/wrap-key */
    sai_kbs_issued    *issued;
    uint8_t            admin_hash[SAI_SHA256_LEN];
    SSL_CTX           *ssl;
    char               fp[65];
    int                fd, port;
    worker            *w;
    int                nw;
    atomic_int         conns;
    atomic_int         stopping;
    pthread_mutex_t    log_mu;
};

static int g_conn_ix = -1;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* ---- logging -------------------------------------------------------------- */
static void log_line(sai_kbs_server *s, const char *level, const char *fmt, ...) SAI_PRINTF(3, 4);
static void log_line(sai_kbs_server *s, const char *level, const char *fmt, ...)
{
    if (s->cfg.quiet && strcmp(level, "info") == 0)
        return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&s->log_mu);
    fprintf(stderr, "{\"ts\":%lld,\"level\":\"%s\",%s}\n", (long long)sai_kbs_wall_now(), level, msg);
    pthread_mutex_unlock(&s->log_mu);
}

/* A JSON string literal of s (escaped, capped) into out. */
static void json_str(char *out, size_t cap, const char *s)
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
static void reply(struct evhttp_request *req, int code, const char *ctype, const char *body,
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

static void reply_json(struct evhttp_request *req, int code, const char *json)
{
    reply(req, code, "application/json", json, strlen(json));
}

static void reply_error(struct evhttp_request *req, int code, const char *what)
{
    char esc[600], body[700];
    json_str(esc, sizeof esc, what);
    snprintf(body, sizeof body, "{\"error\":%s,\"status\":%d}", esc, code);
    reply_json(req, code, body);
}

static int http_code(int rc)
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
static char *body_of(struct evhttp_request *req, size_t *len)
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

static const char *bearer(struct evhttp_request *req)
{
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (a == NULL || strncmp(a, "Bearer ", 7) != 0)
        return NULL;
    return a + 7;
}

static bool admin_ok(sai_kbs_server *s, struct evhttp_request *req)
{
    const char *t = bearer(req);
    uint8_t h[SAI_SHA256_LEN];
    if (t == NULL || sai_hash(SAI_SHA256, h, t, strlen(t), NULL) != 0)
        return false;
    return sai_ct_equal(h, s->admin_hash, sizeof h) == 1;
}

static void audit(sai_kbs_server *s, const char *event, const char *actor, const char *subject,
                  const char *verdict, const char *detail)
{
    sai_error err;
    if (sai_kbs_audit_append(s->store, event, actor, subject, verdict, detail, &err) != 0)
        log_line(s, "error", "\"msg\":\"audit append failed\",\"why\":\"%s\"", err.msg);
}

/* ---- handlers ------------------------------------------------------------------- */
static int h_auth(sai_kbs_server *s, struct evhttp_request *req, const char *peer)
{
    size_t len;
    char *body = body_of(req, &len);
    sai_kbs_auth_req r;
    sai_error err;
    char id[33], *nb64 = NULL, out[256];
    uint8_t nonce[SAI_KBS_NONCE_LEN];
    int code = 200;
    bool full = false;
    int rc = body ? sai_kbs_parse_auth(&r, body, len, &err) : sai_error_set(&err, SAI_ENOMEM, "oom");
    if (rc == 0)
        full = (rc = sai_kbs_session_create(s->sessions, r.tee, id, nonce, &err)) == SAI_ELIMIT;
    if (rc == 0)
        rc = sai_b64url_encode(&nb64, nonce, sizeof nonce, &err);
    if (rc != 0) {
        code = full ? 503 : http_code(rc);
        reply_error(req, code, err.msg);
    } else {
        snprintf(out, sizeof out, "{\"nonce\":\"%s\",\"session\":\"%s\",\"expires_in\":%d}", nb64,
                 id, s->cfg.nonce_ttl_s);
        reply_json(req, 200, out);
        audit(s, "auth", peer, id, "ok", r.tee);
    }
    sai_wipe(nonce, sizeof nonce);
    free(nb64);
    free(body);
    return code;
}

static int h_attest(sai_kbs_server *s, struct evhttp_request *req, const char *peer)
{
    size_t len;
    char *body = body_of(req, &len);
    sai_kbs_attest_req r = {0};
    sai_kbs_claims claims;
    sai_error err;
    char tee[16] = "", *jwk = NULL, *jwt = NULL, *out = NULL;
    uint8_t nonce[SAI_KBS_NONCE_LEN], rd[SAI_KBS_REPORT_DATA_LEN];
    int code = 200;
    int rc = body ? sai_kbs_parse_attest(&r, body, len, &err) : sai_error_set(&err, SAI_ENOMEM, "oom");
    if (rc != 0) {
        reply_error(req, code = http_code(rc), err.msg);
        goto out;
    }
    if ((rc = sai_kbs_session_take(s->sessions, r.session, tee, nonce, &err)) != 0) {
        reply_error(req, code = 401, err.msg);
        audit(s, "attest", peer, r.session, "deny", err.msg);
        sai_kbs_metrics_verdict(s->metrics, "attest", false);
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
        reply_error(req, code, err.msg);
        audit(s, "attest", peer, r.session, "deny", err.msg);
        sai_kbs_metrics_verdict(s->metrics, "attest", false);
        goto out;
    }
    int64_t now = sai_kbs_wall_now();
    if ((rc = sai_kbs_jwk_format(r.tee_key, &jwk, &err)) != 0 ||
        (rc = sai_kbs_token_issue(&jwt, s->signer, &claims, jwk, now, s->cfg.token_ttl_s,
                                  &err)) != 0) {
        reply_error(req, code = 500, err.msg);
        goto out;
    }
    sai_kbs_issued_add(s->issued, jwt, now + s->cfg.token_ttl_s);
    size_t n = strlen(jwt) + 64;
    if ((out = malloc(n)) == NULL) {
        reply_error(req, code = 500, "out of memory");
        goto out;
    }
    snprintf(out, n, "{\"token\":\"%s\"}", jwt);
    char detail[400];
    snprintf(detail, sizeof detail, "tee=%s measurement=%s tcb=%u.%u.%u.%u debug=%d simulated=%d",
             claims.tee, claims.measurement, claims.tcb[0], claims.tcb[1], claims.tcb[2],
             claims.tcb[3], claims.debug, claims.simulated);
    audit(s, "attest", peer, r.session, "allow", detail);
    sai_kbs_metrics_verdict(s->metrics, "attest", true);
    reply_json(req, 200, out);
out:
    sai_wipe(nonce, sizeof nonce);
    sai_kbs_attest_req_free(&r);
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
    const char *tok = bearer(req);
    if (tok == NULL) {
        reply_error(req, 401, "an attestation token is required (Authorization: Bearer)");
        audit(s, event, peer, name, "deny", "no attestation token");
        return 401;
    }
    int64_t now = sai_kbs_wall_now();
    bool ours = sai_kbs_issued_has(s->issued, tok, now);
    if (sai_kbs_token_decode(s->signer, tok, strlen(tok), now, ours, claims, tee_key, &err) != 0) {
        reply_error(req, 401, err.msg);
        audit(s, event, peer, name, "deny", err.msg);
        return 401;
    }
    return 0;
}

static int h_resource(sai_kbs_server *s, struct evhttp_request *req, const char *peer,
                      const char *name)
{
    sai_kbs_claims claims;
    sai_ec_key *tee_key = NULL;
    sai_secret *secret = NULL;
    sai_error err;
    char *policy = NULL, *jwe = NULL, *out = NULL;
    int code = 200, rc;
    if ((code = attested_caller(s, req, peer, name, "release", &claims, &tee_key)) != 0) {
        sai_kbs_metrics_verdict(s->metrics, "release", false);
        goto out;
    }
    code = 200;
    if (!sai_kbs_resource_name_ok(name)) {
        reply_error(req, code = 400, "a resource name is repo/type/tag of [A-Za-z0-9._-]");
        goto out;
    }
    if ((rc = sai_kbs_store_get_resource(s->store, name, &secret, &policy, &err)) != 0) {
        reply_error(req, code = http_code(rc), rc == SAI_ENOTFOUND ? "no such resource" : err.msg);
        audit(s, "release", peer, name, "deny", err.msg);
        sai_kbs_metrics_verdict(s->metrics, "release", false);
        goto out;
    }
    if ((rc = sai_kbs_policy_check(policy, &claims, &err)) != 0) {
        reply_error(req, code = 403, err.msg);
        audit(s, "release", peer, name, "deny", err.msg);
        sai_kbs_metrics_verdict(s->metrics, "release", false);
        goto out;
    }
    if ((rc = sai_kbs_wrap(&jwe, tee_key, secret->data, secret->len, &err)) != 0) {
        reply_error(req, code = 500, err.msg);
        goto out;
    }
    size_t n = strlen(jwe) + 32;
    if ((out = malloc(n)) == NULL) {
        reply_error(req, code = 500, "out of memory");
        goto out;
    }
    snprintf(out, n, "{\"jwe\":\"%s\"}", jwe);
    char detail[300];
    snprintf(detail, sizeof detail, "tee=%s measurement=%s", claims.tee, claims.measurement);
    /* The record is durable before the wrapped secret leaves. */
    if (sai_kbs_audit_append(s->store, "release", peer, name, "allow", detail, &err) != 0) {
        reply_error(req, code = 500, "cannot record the release; refusing");
        goto out;
    }
    sai_kbs_metrics_verdict(s->metrics, "release", true);
    reply_json(req, 200, out);
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
    if (!sai_kbs_resource_name_ok(name)) {
        reply_error(req, code = 400, "a resource name is repo/type/tag of [A-Za-z0-9._-]");
        goto out;
    }
    snprintf(detail, sizeof detail, "tee=%s measurement=%s", claims.tee, claims.measurement);
    if (!repo_writable(s->cfg.enclave_writable, name)) {
        reply_error(req, code = 403, "this repository is not enclave-writable (enclave_writable)");
        audit(s, "register", peer, name, "deny", "repository not enclave-writable");
        goto out;
    }
    size_t len;
    char *body = body_of(req, &len);
    const uint8_t *secret = NULL;
    size_t secret_len = 0;
    const char *policy = NULL;
    if (body == NULL) {
        rc = sai_error_set(&err, SAI_ENOMEM, "oom");
    } else if (SAI_WEAKENED("kbs_wrap") && strstr(body, "\"secret\"") != NULL) {
        if ((rc = sai_kbs_parse_put(&clear, body, len, &err)) == 0) {
            secret = clear.secret;
            secret_len = clear.secret_len;
            policy = clear.policy;
        }
    } else if ((rc = sai_kbs_parse_register(&r, body, len, &err)) == 0) {
        rc = sai_kbs_unwrap_register(&sec, s->wrap_key, name, bearer(req), r.jwe, strlen(r.jwe), &err);
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
        rc = sai_kbs_store_register_resource(s->store, name, secret, secret_len, policy, peer,
                                             detail, &err);
    }
    if (rc != 0) {
        reply_error(req, code = rc == SAI_EAUTH ? 403 : http_code(rc), err.msg);
        audit(s, "register", peer, name, "deny", err.msg);
        goto out;
    }
    reply_json(req, 201, "{\"status\":\"registered\"}");
out:
    sai_kbs_register_req_free(&r);
    sai_kbs_put_req_free(&clear);
    sai_secret_free(sec);
    sai_ec_free(tee_key);
    sai_kbs_metrics_verdict(s->metrics, "register", code == 201);
    return code;
}

static int h_admin(sai_kbs_server *s, struct evhttp_request *req, const char *peer,
                   const char *rest)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    sai_error err;
    int code = 200, rc;
    if (!admin_ok(s, req)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
        reply_error(req, 401, "admin credential missing or wrong");
        audit(s, "admin.denied", peer, rest, "deny", "bad or missing bearer token");
        sai_kbs_metrics_verdict(s->metrics, "admin", false);
        return 401;
    }
    sai_kbs_metrics_verdict(s->metrics, "admin", true);
    if (strncmp(rest, "resource/", 9) == 0) {
        const char *name = rest + 9;
        if (!sai_kbs_resource_name_ok(name)) {
            reply_error(req, 400, "a resource name is repo/type/tag of [A-Za-z0-9._-]");
            return 400;
        }
        if (m == EVHTTP_REQ_PUT || m == EVHTTP_REQ_POST) {
            size_t len;
            char *body = body_of(req, &len);
            sai_kbs_put_req r;
            rc = body ? sai_kbs_parse_put(&r, body, len, &err) : sai_error_set(&err, SAI_ENOMEM, "oom");
            free(body);
            if (rc == 0) {
                rc = sai_kbs_store_put_resource(s->store, name, r.secret, r.secret_len, r.policy,
                                                peer, &err);
                sai_kbs_put_req_free(&r);
            }
            if (rc != 0) {
                reply_error(req, code = http_code(rc), err.msg);
                return code;
            }
            reply_json(req, 201, "{\"status\":\"stored\"}");
            return 201;
        }
        if (m == EVHTTP_REQ_DELETE) {
            if ((rc = sai_kbs_store_delete_resource(s->store, name, peer, &err)) != 0) {
                reply_error(req, code = http_code(rc), err.msg);
                return code;
            }
            reply_json(req, 200, "{\"status\":\"deleted\"}");
            return 200;
        }
        if (m == EVHTTP_REQ_GET) {
            /* Existence and policy only; the secret never leaves this way. */
            sai_secret *sec = NULL;
            char *pol = NULL, *out = NULL;
            if ((rc = sai_kbs_store_get_resource(s->store, name, &sec, &pol, &err)) != 0) {
                reply_error(req, code = http_code(rc), err.msg);
                return code;
            }
            size_t n = strlen(pol) + strlen(name) + 64;
            code = 500;
            audit(s, "admin.read-resource", peer, name, "ok", "metadata");
            if ((out = malloc(n)) != NULL) {
                code = 200;
                snprintf(out, n, "{\"name\":\"%s\",\"length\":%zu,\"policy\":%s}", name,
                         sec->len, pol);
                reply_json(req, 200, out);
            } else {
                reply_error(req, 500, "out of memory");
            }
            sai_secret_free(sec);
            free(pol);
            free(out);
            return code;
        }
        reply_error(req, 405, "use GET, PUT or DELETE");
        return 405;
    }
    if (strcmp(rest, "policy") == 0 && (m == EVHTTP_REQ_PUT || m == EVHTTP_REQ_POST)) {
        size_t len;
        char *body = body_of(req, &len);
        if (body == NULL || len == 0 || memchr(body, '\0', len) != NULL) {
            free(body);
            reply_error(req, 400, "the attestation policy (YAML text) is the request body");
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
            reply_error(req, code = http_code(rc), err.msg);
            return code;
        }
        reply_json(req, 201, "{\"status\":\"stored\"}");
        return 201;
    }
    if (strncmp(rest, "audit", 5) == 0 && m == EVHTTP_REQ_GET) {
        uint64_t entries = 0;
        char head[65], *json = NULL;
        const char *q = strchr(rest, '?');
        unsigned long long limit = 100;
        if (q && strncmp(q, "?limit=", 7) == 0)
            limit = strtoull(q + 7, NULL, 10);
        if (limit == 0 || limit > 10000)   /* bounded answer; older entries: audit verify */
            limit = 10000;
        if ((rc = sai_kbs_audit_dump(s->store, limit, &json, &err)) != 0) {
            reply_error(req, 500, err.msg);
            return 500;
        }
        (void)entries;
        (void)head;
        audit(s, "admin.read-audit", peer, "audit", "ok", q ? q : "");
        reply_json(req, 200, json);
        free(json);
        return 200;
    }
    reply_error(req, 404, "no such admin endpoint");
    return 404;
}

static const char *route_of(const char *path)
{
    if (strcmp(path, "/kbs/v0/auth") == 0) return "auth";
    if (strcmp(path, "/kbs/v0/attest") == 0) return "attest";
    if (strcmp(path, "/kbs/v0/wrap-key") == 0) return "wrap-key";
    if (strncmp(path, "/kbs/v0/resource/", 17) == 0) return "resource";
    if (strncmp(path, "/kbs/v0/admin/", 14) == 0) return "admin";
    if (strcmp(path, "/metrics") == 0) return "metrics";
    if (strcmp(path, "/healthz") == 0) return "healthz";
    return "other";
}

static conn *conn_of(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
    return ssl ? SSL_get_ex_data(ssl, g_conn_ix) : NULL;
}

static void arm_deadline(conn *c, int seconds)
{
    struct timeval tv = {seconds, 0};
    if (c && c->deadline)
        evtimer_add(c->deadline, &tv);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    worker *w = arg;
    sai_kbs_server *s = w->s;
    double t0 = sai_now();
    const char *uri = evhttp_request_get_uri(req);
    char path[600], peer[64] = "?";
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    char *host = NULL;
    ev_uint16_t pport = 0;
    if (evcon) {
        evhttp_connection_get_peer(evcon, &host, &pport);
        snprintf(peer, sizeof peer, "%s", host ? host : "?");
    }
    /* The next request on this connection must arrive complete within the
     * idle + header budget, whatever trickle of bytes keeps it alive. */
    conn *cn = conn_of(req);
    arm_deadline(cn, s->cfg.idle_timeout_s + s->cfg.header_timeout_s);
    /* evhttp falls back to a plain socket when bev_cb fails (out of memory):
     * never serve anything but an error over such a connection. */
    if (!s->cfg.insecure_http && cn == NULL) {
        reply_error(req, 400, "TLS is required");
        return;
    }
    if (uri == NULL || strlen(uri) >= sizeof path) {
        reply_error(req, 414, "the URI is too long");
        return;
    }
    snprintf(path, sizeof path, "%s", uri);
    char *qm = strchr(path, '?');
    const char *route = route_of(path);
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    int code;
    if (!sai_kbs_ratelimit_allow(s->rl, peer, t0) && strcmp(route, "healthz") != 0 &&
        strcmp(route, "metrics") != 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
        reply_error(req, code = 429, "rate limit exceeded; slow down");
    } else if (strcmp(route, "healthz") == 0 && m == EVHTTP_REQ_GET) {
        reply_json(req, code = 200, "{\"status\":\"ok\"}");
    } else if (strcmp(route, "metrics") == 0 && m == EVHTTP_REQ_GET) {
        char *text = sai_kbs_metrics_render(s->metrics);
        if (text) {
            reply(req, code = 200, "text/plain; version=0.0.4", text, strlen(text));
            free(text);
        } else {
            reply_error(req, code = 500, "out of memory");
        }
    } else if (strcmp(route, "wrap-key") == 0 && m == EVHTTP_REQ_GET) {
        reply_json(req, code = 200, s->wrap_jwk);
    } else if (strcmp(route, "auth") == 0 && m == EVHTTP_REQ_POST) {
        code = h_auth(s, req, peer);
    } else if (strcmp(route, "attest") == 0 && m == EVHTTP_REQ_POST) {
        code = h_attest(s, req, peer);
    } else if (strcmp(route, "resource") == 0 && m == EVHTTP_REQ_GET) {
        if (qm)
            *qm = '\0';
        code = h_resource(s, req, peer, path + 17);
    } else if (strcmp(route, "resource") == 0 && m == EVHTTP_REQ_POST) {
        code = h_register(s, req, peer, path + 17);
    } else if (strcmp(route, "admin") == 0) {
        code = h_admin(s, req, peer, path + 14);
    } else if (strcmp(route, "other") == 0) {
        reply_error(req, code = 404, "no such endpoint");
    } else {
        reply_error(req, code = 405, "method not allowed on this endpoint");
    }
    double dt = sai_now() - t0;
    sai_kbs_metrics_request(s->metrics, route, code, dt);
    if (qm)
        *qm = '\0';
    char pesc[200];
    json_str(pesc, sizeof pesc, path);
    log_line(s, code >= 500 ? "error" : code >= 400 ? "warn" : "info",
             "\"msg\":\"request\",\"peer\":\"%s\",\"method\":\"%s\",\"path\":%s,\"status\":%d,\"ms\":%.3f",
             peer, m == EVHTTP_REQ_GET ? "GET" : m == EVHTTP_REQ_POST ? "POST" : m == EVHTTP_REQ_PUT ? "PUT"
             : m == EVHTTP_REQ_DELETE ? "DELETE" : "OTHER", pesc, code, dt * 1e3);
}

/* ---- connections ------------------------------------------------------------------- */
static void conn_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    conn *c = ptr;
    if (c == NULL)
        return;
    if (c->deadline)
        event_free(c->deadline);
    atomic_fetch_sub(&c->s->conns, 1);
    free(c);
}

static void init_once(void)
{
    evthread_use_pthreads();
    g_conn_ix = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free_cb);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    evutil_socket_t sfd = bufferevent_getfd(c->bev);
    if (sfd >= 0)
        shutdown(sfd, SHUT_RDWR);   /* evhttp sees EOF and frees the connection */
}

static struct bufferevent *bev_cb(struct event_base *base, void *arg)
{
    worker *w = arg;
    sai_kbs_server *s = w->s;
    SSL *ssl = SSL_new(s->ssl);
    conn *c = calloc(1, sizeof *c);
    if (ssl == NULL || c == NULL) {
        SSL_free(ssl);
        free(c);
        return NULL;
    }
    c->s = s;
    int n = atomic_fetch_add(&s->conns, 1) + 1;
    SSL_set_ex_data(ssl, g_conn_ix, c);     /* from here the SSL owns c */
    c->bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    c->deadline = evtimer_new(base, deadline_cb, c);
    /* Over the cap: close as soon as evhttp has attached the socket. */
    arm_deadline(c, n > s->cfg.max_connections ? 0 : s->cfg.header_timeout_s);
    return c->bev;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    worker *w = arg;
    sai_kbs_server *s = w->s;
    if (w == &s->w[0]) {
        sai_kbs_metrics_gauge(s->metrics, "connections", atomic_load(&s->conns));
        sai_kbs_metrics_gauge(s->metrics, "sessions", (double)sai_kbs_sessions_live(s->sessions));
    }
    if (atomic_load(&s->stopping) && !w->closing) {
        w->closing = true;
        if (w->bound)
            evhttp_del_accept_socket(w->http, w->bound);
        w->bound = NULL;
        struct timeval grace = {0, 300 * 1000};   /* let replies drain */
        event_base_loopexit(w->base, &grace);
    }
}

/* ---- lifecycle ------------------------------------------------------------------------ */
static bool is_loopback(const char *addr)
{
    return strcmp(addr, "127.0.0.1") == 0 || strncmp(addr, "127.", 4) == 0 ||
           strcmp(addr, "::1") == 0 || strcmp(addr, "localhost") == 0;
}

static int open_listener(sai_kbs_server *s, sai_error *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->cfg.port)};
    const char *a = strcmp(s->cfg.listen_addr, "localhost") == 0 ? "127.0.0.1" : s->cfg.listen_addr;
    if (inet_pton(AF_INET, a, &sa.sin_addr) != 1)
        return sai_error_set(err, SAI_EINVAL, "listen address %s is not an IPv4 address", a);
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (s->fd < 0)
        return sai_error_set(err, SAI_EIO, "socket: %s", strerror(errno));
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Inherited by accepted sockets on Linux: replies go out without
     * waiting for the client's delayed ACK. */
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(s->fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(s->fd, 1024) != 0)
        return sai_error_set(err, SAI_ENET, "cannot listen on %s:%d: %s", a, s->cfg.port,
                             strerror(errno));
    socklen_t sl = sizeof sa;
    getsockname(s->fd, (struct sockaddr *)&sa, &sl);
    s->port = ntohs(sa.sin_port);
    return 0;
}

static int load_admin_token(sai_kbs_server *s, sai_error *err)
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
        log_line(s, "notice", "\"msg\":\"generated an admin token\",\"file\":\"%s\"", path);
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

static int make_ssl(sai_kbs_server *s, sai_error *err)
{
    char cert[600], key[600];
    bool created = false;
    snprintf(cert, sizeof cert, "%s", s->cfg.tls_cert[0] ? s->cfg.tls_cert : "");
    snprintf(key, sizeof key, "%s", s->cfg.tls_key[0] ? s->cfg.tls_key : "");
    if (!cert[0])
        snprintf(cert, sizeof cert, "%s/tls.crt", s->cfg.data_dir);
    if (!key[0])
        snprintf(key, sizeof key, "%s/tls.key", s->cfg.data_dir);
    int rc = sai_kbs_tls_ensure(cert, key, s->fp, &created, err);
    if (rc != 0)
        return rc;
    s->ssl = SSL_CTX_new(TLS_server_method());
    if (s->ssl == NULL || SSL_CTX_set_min_proto_version(s->ssl, TLS1_3_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(s->ssl, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(s->ssl, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(s->ssl) != 1)
        return sai_error_set(err, SAI_ECRYPTO, "cannot load TLS certificate %s / key %s", cert, key);
    SSL_CTX_set_session_cache_mode(s->ssl, SSL_SESS_CACHE_SERVER);
    log_line(s, "notice", "\"msg\":\"tls certificate\",\"file\":\"%s\",\"generated\":%s,"
             "\"sha256\":\"%s\"", cert, created ? "true" : "false", s->fp);
    return 0;
}

/* The key-wrapping key and the answer GET /kbs/v0/wrap-key gives. */
static int make_wrap_key(sai_kbs_server *s, sai_error *err)
{
    char *jwk = NULL;
    int rc = sai_kbs_wrap_key_ensure(&s->wrap_key, s->cfg.data_dir, s->wrap_sha, err);
    if (rc == 0)
        rc = sai_kbs_jwk_format(s->wrap_key, &jwk, err);
    if (rc == 0) {
        size_t n = strlen(jwk) + 120;
        if ((s->wrap_jwk = malloc(n)) == NULL)
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        else
            snprintf(s->wrap_jwk, n, "{\"jwk\":%s,\"sha256\":\"%s\"}", jwk, s->wrap_sha);
    }
    free(jwk);
    if (rc == 0)
        log_line(s, "notice", "\"msg\":\"wrap key\",\"file\":\"%s/" SAI_KBS_WRAP_PUB_FILE "\","
                 "\"sha256\":\"%s\"", s->cfg.data_dir, s->wrap_sha);
    return rc;
}

int sai_kbs_server_new(sai_kbs_server **out, const sai_kbs_config *cfg,
                       const sai_kbs_verifier *verifier, sai_error *err)
{
    *out = NULL;
    pthread_once(&g_once, init_once);
    sai_kbs_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    s->cfg = *cfg;
    s->verifier = *verifier;
    s->fd = -1;
    pthread_mutex_init(&s->log_mu, NULL);
    int rc = 0;
    char path[600];
    if (s->cfg.insecure_http && !is_loopback(s->cfg.listen_addr)) {
        rc = sai_error_set(err, SAI_EPOLICY, "--insecure-http is only allowed on a loopback "
                           "address, not %s", s->cfg.listen_addr);
        goto fail;
    }
    if (s->cfg.threads < 1)
        s->cfg.threads = 1;
    if ((rc = sai_kbs_store_open_sealed(&s->store, s->cfg.data_dir, true,
                                        s->cfg.seal_master_key, err)) != 0)
        goto fail;
    snprintf(path, sizeof path, "%s/signing.key", s->cfg.data_dir);
    if ((rc = sai_kbs_key_ensure(&s->signer, path, err)) != 0 ||
        (rc = make_wrap_key(s, err)) != 0 ||
        (rc = load_admin_token(s, err)) != 0 ||
        (rc = sai_kbs_sessions_new(&s->sessions, 16384, s->cfg.nonce_ttl_s, err)) != 0 ||
        (rc = sai_kbs_issued_new(&s->issued, err)) != 0 ||
        (rc = sai_kbs_ratelimit_new(&s->rl, s->cfg.rate_per_s, s->cfg.rate_burst, err)) != 0)
        goto fail;
    if (sai_kbs_metrics_new(&s->metrics) != 0) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto fail;
    }
    /* A policy put through the admin API outlives restarts. */
    char *pol = NULL;
    if (s->verifier.set_policy &&
        sai_kbs_store_get_setting(s->store, "attestation_policy", &pol, NULL) == 0) {
        rc = s->verifier.set_policy(s->verifier.ctx, pol, strlen(pol), err);
        free(pol);
        if (rc != 0) {
            sai_error_prefix(err, "stored attestation policy");
            goto fail;
        }
    }
    if (!s->cfg.insecure_http && (rc = make_ssl(s, err)) != 0)
        goto fail;
    if ((rc = open_listener(s, err)) != 0)
        goto fail;
    s->nw = s->cfg.threads;
    if ((s->w = calloc((size_t)s->nw, sizeof *s->w)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < s->nw; i++) {
        worker *w = &s->w[i];
        w->s = s;
        w->base = event_base_new();
        w->http = w->base ? evhttp_new(w->base) : NULL;
        int fd = dup(s->fd);
        if (w->http == NULL || fd < 0 ||
            (w->bound = evhttp_accept_socket_with_handle(w->http, fd)) == NULL) {
            if (fd >= 0)
                close(fd);
            rc = sai_error_set(err, SAI_EIO, "cannot set up event loop %d", i);
            goto fail;
        }
        evhttp_set_max_body_size(w->http, (ev_ssize_t)s->cfg.max_body);
        /* Drain (not buffer) an oversized body, then answer 413: without this
         * the close races the upload and the client sees a reset instead of
         * the status. The connection deadline still bounds the upload. */
        evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
        evhttp_set_max_headers_size(w->http, 16 * 1024);
        evhttp_set_timeout(w->http, s->cfg.header_timeout_s);
        evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE);
        evhttp_set_gencb(w->http, on_request, w);
        if (!s->cfg.insecure_http)
            evhttp_set_bevcb(w->http, bev_cb, w);
        w->tick = event_new(w->base, -1, EV_PERSIST, tick_cb, w);
        struct timeval tv = {0, 100 * 1000};
        if (w->tick == NULL || event_add(w->tick, &tv) != 0) {
            rc = sai_error_set(err, SAI_EIO, "cannot set up timers");
            goto fail;
        }
    }
    log_line(s, "notice", "\"msg\":\"listening\",\"addr\":\"%s\",\"port\":%d,\"tls\":%s,"
             "\"threads\":%d", s->cfg.listen_addr, s->port, s->cfg.insecure_http ? "false" : "true",
             s->nw);
    *out = s;
    return 0;
fail:
    sai_kbs_server_free(s);
    return rc;
}

int sai_kbs_server_port(const sai_kbs_server *s) { return s->port; }
const char *sai_kbs_server_fingerprint(const sai_kbs_server *s) { return s->fp; }
const char *sai_kbs_server_wrap_key_sha256(const sai_kbs_server *s) { return s->wrap_sha; }

/* Group commit of decision records: fsync what was committed in the last
 * 100 ms, off the event loops. */
static void *sync_main(void *arg)
{
    sai_kbs_server *s = arg;
    while (!atomic_load(&s->stopping)) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        sai_kbs_store_sync(s->store);
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

int sai_kbs_server_run(sai_kbs_server *s, sai_error *err)
{
    signal(SIGPIPE, SIG_IGN);
    int started = 0;
    pthread_t syncer;
    bool have_syncer = pthread_create(&syncer, NULL, sync_main, s) == 0;
    for (int i = 1; i < s->nw; i++) {
        if (pthread_create(&s->w[i].th, NULL, worker_main, &s->w[i]) != 0)
            break;
        started = i;
    }
    worker_main(&s->w[0]);
    for (int i = 1; i <= started; i++)
        pthread_join(s->w[i].th, NULL);
    if (have_syncer)
        pthread_join(syncer, NULL);
    sai_kbs_store_sync(s->store);
    log_line(s, "notice", "\"msg\":\"stopped\"");
    return 0;
}

void sai_kbs_server_stop(sai_kbs_server *s)
{
    if (s)
        atomic_store(&s->stopping, 1);
}

void sai_kbs_server_free(sai_kbs_server *s)
{
    if (s == NULL)
        return;
    for (int i = 0; s->w && i < s->nw; i++) {
        if (s->w[i].tick)
            event_free(s->w[i].tick);
        if (s->w[i].http)
            evhttp_free(s->w[i].http);
        if (s->w[i].base)
            event_base_free(s->w[i].base);
    }
    free(s->w);
    if (s->fd >= 0)
        close(s->fd);
    SSL_CTX_free(s->ssl);
    sai_kbs_metrics_free(s->metrics);
    sai_kbs_ratelimit_free(s->rl);
    sai_kbs_sessions_free(s->sessions);
    sai_kbs_issued_free(s->issued);
    sai_ec_free(s->signer);
    sai_ec_free(s->wrap_key);
    free(s->wrap_jwk);
    sai_kbs_store_close(s->store);
    sai_wipe(s->admin_hash, sizeof s->admin_hash);
    pthread_mutex_destroy(&s->log_mu);
    free(s);
}
