/*
 * kbs_internal.h — private interfaces between the KBS's files: the store
 * (store.c, masterkey.c), the audit chain (audit.c), request parsers
 * (request.c), release policies (policy.c), secret wrapping (wrap.c), the
 * session table (session.c), limits (limits.c), metrics (metrics.c), result
 * tokens (token.c), TLS material (tls.c), config (config.c) and the
 * client's response-head parser (http_response.c); the server
 * (server.c, routes.c, admin.c, http.c; see server_internal.h) and client.c
 * use them, attest_glue.c binds the verifier to src/attest. Not
 * installed: src/kbs, the KBS tests, fuzzers and bench only.
 */
#ifndef SAI_KBS_INTERNAL_H
#define SAI_KBS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "secureai/kbs.h"

/* ---- store (SQLite) ------------------------------------------------------- */
typedef struct sai_kbs_store_t sai_kbs_store_t;

#define SAI_KBS_MASTER_KEY_FILE "master.key"
#define SAI_KBS_DB_FILE         "kbs.db"
#define SAI_KBS_NAME_MAX        255

/* Open (creating when missing) <dir>/kbs.db and <dir>/master.key. */
int  sai_kbs__store_open(sai_kbs_store_t **out, const char *dir, bool create, sai_error_t *err);
/* The same; a master key created now is sealed to the TEE kind seal_tee
 * (NULL: a plain 0600 file). An existing sealed key is unsealed whatever
 * seal_tee says. */
int  sai_kbs__store_open_sealed(sai_kbs_store_t **out, const char *dir, bool create,
                               const char *seal_tee, sai_error_t *err);
int  sai_kbs__master_key_load(const char *dir, bool create, const char *seal_tee, uint8_t key[32],
                             sai_error_t *err);
void sai_kbs__store_close(sai_kbs_store_t *s);

/* Each of these writes its audit entry in the same transaction, so an
 * acknowledged change and its record are durable together. */
int sai_kbs__store_put_resource(sai_kbs_store_t *s, const char *name, const uint8_t *secret,
                               size_t len, const char *policy_json, const char *actor,
                               sai_error_t *err);
/* Attested registration: like put, but never overwrites (SAI_EEXIST) and
 * audits as "register" with detail (who registered: tee, measurement, policy). */
int sai_kbs__store_register_resource(sai_kbs_store_t *s, const char *name, const uint8_t *secret,
                                    size_t len, const char *policy_json, const char *actor,
                                    const char *detail, sai_error_t *err);
int sai_kbs__store_delete_resource(sai_kbs_store_t *s, const char *name, const char *actor,
                                  sai_error_t *err);
/* *secret locked buffer, *policy malloc'ed JSON. SAI_ENOTFOUND when absent. */
int sai_kbs__store_get_resource(sai_kbs_store_t *s, const char *name, sai_secret_t **secret,
                               char **policy, sai_error_t *err);
int sai_kbs__store_put_setting(sai_kbs_store_t *s, const char *key, const char *value,
                              const char *actor, sai_error_t *err);
/* *value malloc'ed; SAI_ENOTFOUND when absent. */
int sai_kbs__store_get_setting(sai_kbs_store_t *s, const char *key, char **value, sai_error_t *err);

/* Checkpoint the WAL into the database and move the audit.anchor file to
 * the head as it was before (every 100 ms from the server's sync thread,
 * and at shutdown). */
int sai_kbs__store_sync(sai_kbs_store_t *s);

/* ---- group commit (store.c) -------------------------------------------------
 * Decision records on the request path commit to the WAL without an fsync
 * (a crash of the process loses none) and each gets a ticket, in commit
 * order. sai_kbs__store_sync_wal fsyncs the WAL once for every commit made
 * before the call: *covered is the highest ticket that is now durable. A
 * failed fsync is sticky (SAI_EIO from then on: after a failed fsync Linux
 * may have dropped the pages, and a later fsync can "succeed" without them),
 * so nothing that needed durability is acknowledged until a restart. */
int  sai_kbs__store_sync_wal(sai_kbs_store_t *s, uint64_t *covered);
uint64_t sai_kbs__store_committed(sai_kbs_store_t *s);
/* Tests: hook runs in place of the WAL's fsync (after it, when it returns
 * 0 the real fsync still runs); non-zero fails it. NULL removes it. */
void sai_kbs__store_set_sync_hook(sai_kbs_store_t *s, int (*hook)(void *), void *arg);
/* Tests: a running server's store. */
struct sai_kbs_server_t;
sai_kbs_store_t *sai_kbs__server_store(struct sai_kbs_server_t *s);

/* Append one audit entry (its own transaction; admin.* entries are fsynced
 * at once, decision records within the next sai_kbs__store_sync). */
int sai_kbs__audit_append(sai_kbs_store_t *s, const char *event, const char *actor,
                         const char *subject, const char *verdict, const char *detail,
                         sai_error_t *err);
/* The same for a decision record, with its group-commit ticket: it is
 * durable once sai_kbs__store_sync_wal covers *ticket. */
int sai_kbs__audit_append_ticket(sai_kbs_store_t *s, const char *event, const char *actor,
                                const char *subject, const char *verdict, const char *detail,
                                uint64_t *ticket, sai_error_t *err);
/* The last `limit` entries (0: all) as a JSON array (malloc'ed). */
int sai_kbs__audit_dump(sai_kbs_store_t *s, uint64_t limit, char **json, sai_error_t *err);
int sai_kbs__audit_check(sai_kbs_store_t *s, uint64_t *entries, char head_hex[65], sai_error_t *err);

/* ---- audit anchors (audit.c, store.c) ----------------------------------------
 * A cut of the newest entries leaves a valid, shorter chain. Two anchors
 * outside the audit table name the last entry: the audit_head row (same
 * transaction as each entry) and the file <data_dir>/audit.anchor
 * ("secureai-kbs-audit-anchor/v1 <seq> <hash>", rewritten after each group
 * commit by a server that enabled it). The check walks the chain and
 * requires both anchors to name an entry it still has, with that hash;
 * SAI_EAUTH "audit chain cut: ..." otherwise (also: a missing audit table,
 * or resources with an empty log). */
#define SAI_KBS_ANCHOR_FILE "audit.anchor"
struct sqlite3;
int  sai_kbs__audit_anchor_check(sai_kbs_store_t *s, const char *dir, uint64_t *entries,
                                char head_hex[65], sai_error_t *err);
/* Is the hash hex (a head recorded earlier) entry *seq of the chain? */
int  sai_kbs__audit_find(sai_kbs_store_t *s, const char *hex, uint64_t entries, const char *head_hex,
                        uint64_t *seq, sai_error_t *err);
/* Accept a cut the check reported (why): recreate a dropped table, re-anchor
 * at the current head, and audit it ("audit.cut-accepted"). */
int  sai_kbs__audit_accept_cut(sai_kbs_store_t *s, const char *dir, const char *why, sai_error_t *err);
int  sai_kbs__anchor_write(const char *path, uint64_t seq, const char *hash_hex, sai_error_t *err);
/* The head from audit_head on db (seq 0 and zeros for an empty chain). */
int  sai_kbs__store_head(struct sqlite3 *db, uint64_t *seq, char hash_hex[65]);
void sai_kbs__store_anchor_enable(sai_kbs_store_t *s, const char *path, uint64_t seq);
bool sai_kbs__store_audit_missing(sai_kbs_store_t *s);
extern const char *const sai_kbs_audit_schema;

/* Internal to store.c/audit.c: append within an open transaction. */
int sai_kbs__audit_append_locked(sai_kbs_store_t *s, const char *event, const char *actor,
                                const char *subject, const char *verdict,
                                const char *detail, sai_error_t *err);
struct sqlite3 *sai_kbs__store_db(sai_kbs_store_t *s);
const uint8_t *sai_kbs__store_audit_key(sai_kbs_store_t *s);
/* A durable (fsynced at commit) transaction on the store: begin, then end
 * with the outcome (0 commits, else rolls back; returns the outcome). */
int sai_kbs__store_begin(sai_kbs_store_t *s, sai_error_t *err);
int sai_kbs__store_end(sai_kbs_store_t *s, int rc, sai_error_t *err);

/* ---- per-job monotonic counters (counter.c; docs/distributed.md "Resume") --
 * One counter per name (a resource name, repo/type/tag), 0 until first
 * incremented. Compare-and-increment: when the counter equals expect it
 * becomes expect + 1 (durably, audited in the same transaction) and *value
 * is that; otherwise SAI_ESTATE and *value is the counter as it stands. */
int sai_kbs__counter_cas(sai_kbs_store_t *s, const char *name, uint64_t expect, uint64_t *value,
                        const char *actor, sai_error_t *err);
int sai_kbs__counter_get(sai_kbs_store_t *s, const char *name, uint64_t *value, sai_error_t *err);

/* ---- request parsers (request.c; fuzzed) --------------------------------- */
typedef struct sai_kbs_auth_req_t {
    char version[16];
    char tee[16];
} sai_kbs_auth_req_t;

typedef struct sai_kbs_attest_req_t {
    char        session[65];
    sai_ec_key_t *tee_key;          /* owned */
    uint8_t     point[SAI_P384_POINT_LEN];
    char       *evidence;         /* owned, JSON text of the evidence */
    size_t      evidence_len;
} sai_kbs_attest_req_t;

typedef struct sai_kbs_put_req_t {
    uint8_t *secret;              /* owned; wiped on free */
    size_t   secret_len;
    char    *policy;              /* owned, JSON text */
} sai_kbs_put_req_t;

int  sai_kbs__parse_auth(sai_kbs_auth_req_t *r, const char *body, size_t len, sai_error_t *err);
int  sai_kbs__parse_attest(sai_kbs_attest_req_t *r, const char *body, size_t len, sai_error_t *err);
void sai_kbs__attest_req_free(sai_kbs_attest_req_t *r);
int  sai_kbs__parse_put(sai_kbs_put_req_t *r, const char *body, size_t len, sai_error_t *err);
void sai_kbs__put_req_free(sai_kbs_put_req_t *r);

/* Attested registration body: {"jwe": ..., "policy": {...}} (a "secret"
 * member is SAI_EPOLICY). */
typedef struct sai_kbs_register_req_t {
    char *jwe;                    /* owned: the secret wrapped to the KBS wrap key */
    char *policy;                 /* owned, JSON text, validated */
} sai_kbs_register_req_t;
int  sai_kbs__parse_register(sai_kbs_register_req_t *r, const char *body, size_t len, sai_error_t *err);
void sai_kbs__register_req_free(sai_kbs_register_req_t *r);
/* "repo/type/tag": three segments of [A-Za-z0-9._-], 1..64 bytes, not "." or "..". */
bool sai_kbs__resource_name_ok(const char *name);
bool sai_kbs__tee_name_ok(const char *tee);
/* Parse JSON with a size cap; NULL and a sentence on failure. */
cJSON *sai_kbs__json_parse(const char *body, size_t len, sai_error_t *err);
int sai_kbs__jwk_from_json(sai_ec_key_t **out, const cJSON *jwk, uint8_t point[static SAI_P384_POINT_LEN],
                          sai_error_t *err);

/* ---- sessions (session.c) --------------------------------------------------- */
typedef struct sai_kbs_sessions_t sai_kbs_sessions_t;
/* At most cap pending sessions, per_addr of them from one client address
 * (0: cap). */
int  sai_kbs__sessions_new(sai_kbs_sessions_t **out, size_t cap, size_t per_addr, int ttl_s,
                          sai_error_t *err);
void sai_kbs__sessions_free(sai_kbs_sessions_t *t);
/* A fresh session for a client at addr: id (hex, 32 chars + NUL) and its
 * nonce. An address at its cap loses its oldest pending session; a full
 * table loses its oldest; SAI_ELIMIT only if that cannot make room. */
int  sai_kbs__session_create(sai_kbs_sessions_t *t, const char *tee, const char *addr, char id[33],
                            uint8_t nonce[static SAI_KBS_NONCE_LEN], sai_error_t *err);
/* Consume a session: single use; SAI_ENOTFOUND (unknown or already used) or
 * SAI_EAUTH (expired). */
int  sai_kbs__session_take(sai_kbs_sessions_t *t, const char *id, char tee[16],
                          uint8_t nonce[static SAI_KBS_NONCE_LEN], sai_error_t *err);
size_t sai_kbs__sessions_live(sai_kbs_sessions_t *t);
/* Pending sessions evicted so far (to make room for newer ones). */
uint64_t sai_kbs__sessions_evicted(sai_kbs_sessions_t *t);

/* ---- rate limiter (limits.c) ----------------------------------------------- */
typedef struct sai_kbs_ratelimit_t sai_kbs_ratelimit_t;
int  sai_kbs__ratelimit_new(sai_kbs_ratelimit_t **out, double rate, double burst, sai_error_t *err);
void sai_kbs__ratelimit_free(sai_kbs_ratelimit_t *r);
bool sai_kbs__ratelimit_allow(sai_kbs_ratelimit_t *r, const char *client, double now);

/* Counters per client address (limits.c): at most max_keys distinct
 * addresses with a non-zero count; not locked (the caller's lock). add()
 * returns the new count, UINT32_MAX when a new address does not fit. */
typedef struct sai_kbs_addrcount_t sai_kbs_addrcount_t;
int      sai_kbs__addrcount_new(sai_kbs_addrcount_t **out, size_t max_keys, sai_error_t *err);
void     sai_kbs__addrcount_free(sai_kbs_addrcount_t *t);
void     sai_kbs__addrcount_clear(sai_kbs_addrcount_t *t);
uint32_t sai_kbs__addrcount_get(const sai_kbs_addrcount_t *t, const char *addr);
uint32_t sai_kbs__addrcount_add(sai_kbs_addrcount_t *t, const char *addr, int delta);

/* ---- metrics (metrics.c) --------------------------------------------------- */
typedef struct sai_kbs_metrics_t sai_kbs_metrics_t;
int  sai_kbs__metrics_new(sai_kbs_metrics_t **out);
void sai_kbs__metrics_free(sai_kbs_metrics_t *m);
void sai_kbs__metrics_request(sai_kbs_metrics_t *m, const char *route, int status, double seconds);
void sai_kbs__metrics_verdict(sai_kbs_metrics_t *m, const char *event, bool allowed);
void sai_kbs__metrics_gauge(sai_kbs_metrics_t *m, const char *name, double v);
/* Prometheus text exposition (malloc'ed). */
char *sai_kbs__metrics_render(sai_kbs_metrics_t *m);

/* ---- attestation-result tokens (token.c) ----------------------------------- */
/* JWT ES384 with claims {iss, iat, exp, jti, tee, measurement, host_data, tcb,
 * tcb_status, policy_id, verdict, debug, simulated, tee-pubkey (JWK)}. */
int sai_kbs__token_issue(char **jwt, const sai_ec_key_t *signer, const sai_kbs_claims_t *c,
                        const char *tee_jwk_json, int64_t now, int ttl_s, sai_error_t *err);
/* The same with the protocol the token was issued in ("trustee": its
 * tee-pubkey is a Trustee key, see sai_kbs_tkey_t; NULL: SecureAI's). */
int sai_kbs__token_issue_ex(char **jwt, const sai_ec_key_t *signer, const sai_kbs_claims_t *c,
                           const char *tee_jwk_json, const char *protocol, int64_t now, int ttl_s,
                           sai_error_t *err);
/* Verify signature and expiry; fill claims and the TEE key from the token. */
int sai_kbs__token_verify(const sai_ec_key_t *signer, const char *jwt, size_t len, int64_t now,
                         sai_kbs_claims_t *c, sai_ec_key_t **tee_key, sai_error_t *err);
/* The same; with signature_known_good the ECDSA check is skipped because the
 * caller matched the exact token bytes against ones this KBS issued. */
int sai_kbs__token_decode(const sai_ec_key_t *signer, const char *jwt, size_t len, int64_t now,
                         bool signature_known_good, sai_kbs_claims_t *c, sai_ec_key_t **tee_key,
                         sai_error_t *err);

struct sai_kbs_tkey_t;
/* The same for either protocol: a SecureAI token fills *tee_key, a Trustee
 * one (protocol "trustee") *tkey instead (tkey may be NULL: then a Trustee
 * token is refused). */
int sai_kbs__token_decode_ex(const sai_ec_key_t *signer, const char *jwt, size_t len, int64_t now,
                            bool signature_known_good, sai_kbs_claims_t *c, sai_ec_key_t **tee_key,
                            struct sai_kbs_tkey_t *tkey, sai_error_t *err);

/* ---- issued-token memo (token.c) -------------------------------------------
 * SHA-256 of each token this KBS issued, so /resource can skip re-verifying
 * its own signature. Direct-mapped, fixed size; a miss only costs the full
 * verification. */
typedef struct sai_kbs_issued_t sai_kbs_issued_t;
int  sai_kbs__issued_new(sai_kbs_issued_t **out, sai_error_t *err);
void sai_kbs__issued_free(sai_kbs_issued_t *t);
void sai_kbs__issued_add(sai_kbs_issued_t *t, const char *jwt, int64_t exp);
bool sai_kbs__issued_has(sai_kbs_issued_t *t, const char *jwt, int64_t now);

/* ---- TLS material (tls.c) ---------------------------------------------------- */
/* Load or create (self-signed P-384, CN/SAN localhost + 127.0.0.1) the
 * key/cert pair; fill the hex SHA-256 fingerprint of the DER certificate. */
int sai_kbs__tls_ensure(const char *cert_path, const char *key_path, char fp_hex[65],
                       bool *created, sai_error_t *err);
/* Hex SHA-256 of the first certificate in a PEM file. */
int sai_kbs__cert_fingerprint(const char *cert_path, char fp_hex[65], sai_error_t *err);
/* Load or create a P-384 key PEM file (0600). */
int sai_kbs__key_ensure(sai_ec_key_t **out, const char *path, sai_error_t *err);

/* The long-term key-wrapping key (attested registration): <dir>/wrap.key
 * (private, 0600, created when missing) and <dir>/wrap.pub (public PEM,
 * 0644, rewritten to match); fills the hex SHA-256 of its raw point. */
#define SAI_KBS_WRAP_KEY_FILE "wrap.key"
#define SAI_KBS_WRAP_PUB_FILE "wrap.pub"
int sai_kbs__wrap_key_ensure(sai_ec_key_t **out, const char *dir, char sha_hex[65], sai_error_t *err);

/* ---- Trustee's protocol (trustee.c; fuzzed by fuzz/fuzz_kbs_trustee.c) -------- */
#define SAI_KBS_TRUSTEE_VERSION "0.4.0"
#define SAI_KBS_TRUSTEE_COOKIE  "kbs-session-id"
#define SAI_KBS_TRUSTEE_ERRORS  "https://github.com/confidential-containers/kbs/errors/"
/* A Trustee TEE name -> the SecureAI kind whose evidence it carries here
 * ("sample" -> "sim", "snp" -> "sev-snp", "tdx", "sgx"); SAI_EUNSUPP for a
 * name Trustee knows that this KBS cannot appraise, SAI_EINVAL otherwise. */
int sai_kbs__trustee_tee(const char *name, const char **kind, sai_error_t *err);
/* The reverse, NULL when none. */
const char *sai_kbs__trustee_tee_name(const char *kind);
/* RFC 8785 canonical JSON of v (malloc'ed); integers only among numbers,
 * strings must be UTF-8. */
int sai_kbs__jcs(const cJSON *v, char **out, size_t *len, sai_error_t *err);

/* A TEE key as Trustee clients send it. */
struct evp_pkey_st;
enum { SAI_KBS_TKEY_EC = 1, SAI_KBS_TKEY_RSA = 2 };
typedef struct sai_kbs_tkey_t {
    int                 kind;       /* SAI_KBS_TKEY_* */
    char                crv[8];     /* "P-256" / "P-521" for EC */
    size_t              coord_len;  /* 32 / 66 */
    struct evp_pkey_st *pkey;       /* public (server) or key pair (client) */
    char               *jwk;        /* the typed members, canonical JSON */
} sai_kbs_tkey_t;
int  sai_kbs__tkey_from_json(sai_kbs_tkey_t *k, const cJSON *jwk, sai_error_t *err);
int  sai_kbs__tkey_parse(sai_kbs_tkey_t *k, const char *json, size_t len, sai_error_t *err);
int  sai_kbs__tkey_generate(sai_kbs_tkey_t *k, sai_kbs_tee_key_t type, sai_error_t *err);
void sai_kbs__tkey_free(sai_kbs_tkey_t *k);
/* SHA-384(JCS({"additional-evidence", "nonce", "tee-pubkey"})) || 16 zeros. */
int sai_kbs__trustee_report_data(uint8_t rd[static SAI_KBS_REPORT_DATA_LEN], const char *nonce,
                                 const char *tkey_jwk, const char *additional_evidence,
                                 sai_error_t *err);

typedef struct sai_kbs_trustee_attest_t {
    char         nonce[96];
    sai_kbs_tkey_t key;
    char        *additional;   /* "" (other devices' evidence is refused) */
    char        *evidence;     /* primary_evidence as JSON text */
    size_t       evidence_len;
} sai_kbs_trustee_attest_t;
int  sai_kbs__parse_trustee_attest(sai_kbs_trustee_attest_t *r, const char *body, size_t len,
                                  sai_error_t *err);
void sai_kbs__trustee_attest_free(sai_kbs_trustee_attest_t *r);

/* Flattened JWE JSON of secret to k: A256GCM, the CEK wrapped with
 * ECDH-ES+A256KW (EC) or RSA-OAEP-256 (RSA). */
int sai_kbs__trustee_wrap(char **json, const sai_kbs_tkey_t *k, const uint8_t *secret, size_t len,
                          sai_error_t *err);
int sai_kbs__trustee_unwrap(sai_secret_t **out, const sai_kbs_tkey_t *priv, const char *json, size_t len,
                            sai_error_t *err);

/* /auth: 0 for a valid 0.4.0 request (tee and the kind it maps to);
 * SAI_ENOTFOUND for a body that is SecureAI's (no string version, or
 * "0.1.0"); else the refusal (SAI_EAUTH for a version or hash algorithm
 * this KBS does not speak). */
typedef struct sai_kbs_trustee_auth_t {
    char        tee[16];
    const char *kind;
} sai_kbs_trustee_auth_t;
int  sai_kbs__parse_trustee_auth(sai_kbs_trustee_auth_t *r, const char *body, size_t len, sai_error_t *err);
/* The nonce as Trustee sends it: standard base64 (44 characters). */
void sai_kbs__b64std_nonce(char out[static 45], const uint8_t nonce[static SAI_KBS_NONCE_LEN]);

/* Attested kbs-session-id cookies -> their attestation token. */
typedef struct sai_kbs_cookies_t sai_kbs_cookies_t;
int   sai_kbs__cookies_new(sai_kbs_cookies_t **out, sai_error_t *err);
void  sai_kbs__cookies_free(sai_kbs_cookies_t *t);
void  sai_kbs__cookie_put(sai_kbs_cookies_t *t, const char *id, const char *token, int64_t exp);
/* The token (malloc'ed) of an attested, unexpired cookie, or NULL. */
char *sai_kbs__cookie_token(sai_kbs_cookies_t *t, const char *id, int64_t now);
/* The client's kbs-session-id cookie from its last answer ("" if none). */
struct sai_kbs_client_t;
const char *sai_kbs__client_cookie(const struct sai_kbs_client_t *c);
/* TLS session resumption (client.c): the session the process holds for c's
 * KBS and trust configuration (a new reference, or NULL), replacing it (the
 * reference is taken; tests tamper with its ticket), and whether c's last
 * connection resumed one. */
struct ssl_session_st;
struct ssl_session_st *sai_kbs__client_session(const struct sai_kbs_client_t *c);
void sai_kbs__client_session_set(const struct sai_kbs_client_t *c, struct ssl_session_st *sess);
bool sai_kbs__client_resumed(const struct sai_kbs_client_t *c);

/* ---- the KBS's response head over a dialed stream (http_response.c) ------ */
#define SAI_KBS_RESP_HEAD_MAX    (16u * 1024u)   /* status line + headers, bytes */
#define SAI_KBS_RESP_HEADERS_MAX 100u
#define SAI_KBS_RESP_COOKIE_MAX  40u             /* the kbs-session-id value, with its NUL */

typedef struct sai_kbs_resp_head_t {
    int      status;           /* 200..599 (1xx is refused: never asked for) */
    bool     has_length;       /* the body's length is known: content_length */
    uint64_t content_length;   /* 0 for 204 and 304, whatever they say */
    bool     close;            /* the server closes after this answer (Connection:
                                * close, or HTTP/1.0 without keep-alive); with no
                                * length the end of the stream ends the body */
    double   retry_after;      /* Retry-After in seconds, -1: none or not seconds */
    char     cookie[SAI_KBS_RESP_COOKIE_MAX];   /* kbs-session-id's value, "": none */
    size_t   head_len;         /* bytes up to and including the empty line */
} sai_kbs_resp_head_t;

/* Parse an HTTP/1.x response head from buf[0..len), a pure function (fuzz:
 * fuzz/fuzz_kbs_response.c). *complete is false (and 0 is returned) while
 * no end of the head is in buf and buf is below SAI_KBS_RESP_HEAD_MAX; bytes
 * a head may never hold are refused at once. Strict: CRLF line ends only,
 * no NUL, control (but HTAB) or non-ASCII byte, "HTTP/1.1 " or "HTTP/1.0 "
 * + 3 digits + (SP reason) status line, "token: value" headers without
 * folding, one Content-Length (repeats refused unless the same number),
 * Transfer-Encoding other than identity refused, a body length or
 * Connection: close. Refusals are SAI_EFORMAT, SAI_ELIMIT (over the
 * limits) or SAI_EUNSUPP (an encoded body), each with its sentence. */
int sai_kbs__parse_response_head(sai_kbs_resp_head_t *h, const uint8_t *buf, size_t len, bool *complete,
                                 sai_error_t *err) SAI_MUST_CHECK;

int64_t sai_kbs__wall_now(void);

#endif
