/*
 * server_internal.h — private to the KBS server's files: the server object,
 * the reply and request helpers (http.c), the route table (routes.c), the
 * admin API (admin.c) and the log line (server.c, the transport). Not
 * installed.
 */
#ifndef SAI_KBS_SERVER_INTERNAL_H
#define SAI_KBS_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "kbs/kbs_internal.h"
#include "secureai/util.h"

struct bufferevent;
struct evhttp_request;
struct sai_kbs_worker;
struct sai_kbs_pending;

struct sai_kbs_server_t {
    sai_kbs_config_t     cfg;
    sai_kbs_verifier_t   verifier;
    sai_kbs_store_t     *store;
    sai_kbs_sessions_t  *sessions;
    sai_kbs_ratelimit_t *rl;
    sai_kbs_metrics_t   *metrics;
    sai_ec_key_t        *signer;
    sai_ec_key_t        *wrap_key;      /* long-term key-wrapping key (registration) */
    char               wrap_sha[65];  /* hex SHA-256 of its raw point */
    char              *wrap_jwk;      /* {"jwk":..,"sha256":..}, served at /kbs/v0/wrap-key */
    sai_kbs_issued_t    *issued;
    sai_kbs_cookies_t   *cookies;       /* attested kbs-session-id cookies (Trustee) */
    uint8_t            admin_hash[SAI_SHA256_LEN];
    SSL_CTX           *ssl;
    char               fp[65];
    int                fd, port;
    struct sai_kbs_worker *w;
    int                nw;
    atomic_int         conns;
    atomic_int         refused;       /* connections closed at admission, ever */
    atomic_int         stopping;
    pthread_mutex_t    log_mu;
    pthread_mutex_t    addr_mu;       /* the two tables and handshakes below */
    sai_kbs_addrcount_t *conns_by_addr; /* admitted TLS connections per address */
    sai_kbs_addrcount_t *hs_by_addr;    /* unfinished handshakes per address */
    int                handshakes;
    int                admitted;      /* connections holding a slot */
    /* group commit: answers held until their audit record is durable */
    pthread_mutex_t    wait_mu;
    pthread_cond_t     wait_cv;       /* an answer started waiting */
    struct sai_kbs_pending *waiting;  /* tickets not yet covered by an fsync */
    uint64_t           durable;       /* highest ticket covered (wait_mu) */
    bool               sync_failed;   /* an fsync failed: hold nothing, refuse (wait_mu) */
    unsigned char      ticket_keys[2][80]; /* TLS ticket keys: [0] current, [1] previous (tls_mu) */
    double             ticket_rotated;    /* when [0] was made */
    pthread_mutex_t    tls_mu;
};

/* ---- group commit (server.c) ---------------------------------------------
 * Answer req with 200 and body (taken; malloc'ed) once the audit record
 * with group-commit ticket `ticket` is durable (sai_kbs__store_sync_wal on
 * the sync thread covers it), from req's own event loop; if the fsync
 * fails, answer 500 instead (SecureAI's or, when trustee, Trustee's error
 * shape) and count a refused release. Never before: the secret in body
 * does not leave ahead of its record. */
void sai_kbs__reply_durable(sai_kbs_server_t *s, struct evhttp_request *req, uint64_t ticket,
                            char *body, bool trustee);

/* ---- the log (server.c): one JSON object a line on stderr; fmt gives the
 * fields after "ts" and "level". "info" lines are dropped when quiet. */
void sai_kbs__log(sai_kbs_server_t *s, const char *level, const char *fmt, ...) SAI_PRINTF(3, 4);

/* ---- replies and request helpers (http.c) ------------------------------- */
/* A JSON string literal of s (escaped, capped) into out. */
void sai_kbs__json_str(char *out, size_t cap, const char *s);
void sai_kbs__reply(struct evhttp_request *req, int code, const char *ctype, const char *body,
                   size_t len);
void sai_kbs__reply_json(struct evhttp_request *req, int code, const char *json);
/* Rewrite the HTML error pages evhttp itself sends (413 for a body over
 * the cap, 400 for a request line or headers over theirs) into the JSON
 * error every other answer uses, on this connection's output. */
void sai_kbs__json_errors(struct bufferevent *bev);
/* {"error": what, "status": code} */
void sai_kbs__reply_error(struct evhttp_request *req, int code, const char *what);
/* The HTTP status for an SAI_E* code. */
int  sai_kbs__http_code(int rc);
/* The body as a NUL-terminated malloc'ed copy (evhttp already enforced the cap). */
char *sai_kbs__body(struct evhttp_request *req, size_t *len);
/* The token of "Authorization: Bearer <token>", or NULL (borrowed from req). */
const char *sai_kbs__bearer(struct evhttp_request *req);
/* Trustee's ErrorInformation {"type": SAI_KBS_TRUSTEE_ERRORS kind, "detail":
 * what}; with both also SecureAI's "error" and "status" (for a client whose
 * protocol is not known yet: either kind of client reads its members). */
void sai_kbs__reply_trustee_error(struct evhttp_request *req, int code, const char *kind,
                                 const char *what, bool both);
/* The kbs-session-id cookie (32 hex) into id, or false. */
bool sai_kbs__session_cookie(struct evhttp_request *req, char id[static 33]);
void sai_kbs__set_session_cookie(struct evhttp_request *req, const char *id, int max_age_s);
/* Append an audit record; a failure is logged (the request's answer stands). */
void sai_kbs__audit(sai_kbs_server_t *s, const char *event, const char *actor, const char *subject,
                   const char *verdict, const char *detail);

/* ---- routes (routes.c) --------------------------------------------------- */
/* A route's handler: rest is what follows the route's path prefix ("" for
 * an exact route), query string included. Answers req, returns the status. */
typedef int (*sai_kbs_handler)(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                               const char *rest);
/* Rate-limit, find path's route and answer req: the status, and in *route
 * the route's name for metrics ("other" when no route matches). */
int sai_kbs__route(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                  const char *path, double now, const char **route);

/* GET / POST /kbs/v0/counter/<name> for a caller whose token's claims are
 * given (counter.c): allowed only under the release policy of the resource
 * of the same name. */
struct sai_kbs_claims_t;
int sai_kbs__counter_handle(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                           const char *name, const struct sai_kbs_claims_t *claims);

/* ---- admin API (admin.c) ------------------------------------------------- */
int sai_kbs__admin_handle(sai_kbs_server_t *s, struct evhttp_request *req, const char *peer,
                         const char *rest);
/* Hash the admin token (admin_token_file, or <data_dir>/admin.token, made
 * on first start) into s->admin_hash. */
int sai_kbs__admin_token_load(sai_kbs_server_t *s, sai_error_t *err);

#endif
