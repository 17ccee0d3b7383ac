/*
 * kbs.h — the key broker service (KBS): attestation-gated release of secrets.
 *
 * Protocol (RCAR, after the Confidential Containers Trustee KBS; JSON over
 * HTTPS, see docs/kbs.md):
 *   POST /kbs/v0/auth     {version, tee}               -> {nonce, session}
 *   POST /kbs/v0/attest   {session, tee-pubkey (JWK), evidence}
 *                                                       -> {token}  (JWT ES384)
 *   GET  /kbs/v0/resource/<repo>/<type>/<tag>  (Authorization: Bearer token)
 *                                                       -> JWE-style wrap of the secret
 * and, selected by the version in /auth, Trustee's protocol 0.4.0 (auth with
 * {version "0.4.0", tee, extra-params}, a kbs-session-id cookie, attest with
 * {runtime-data, tee-evidence}, resources as flattened JWE JSON; see
 * sai_kbs_client_get_resource_trustee and docs/kbs.md).
 * The evidence's 64-byte report data must equal
 *   SHA-512(nonce (32 raw bytes) || TEE public key as the raw uncompressed
 *           P-384 point 0x04||X||Y (97 bytes)).
 *
 * The server (server.c; its route table in routes.c, the admin API in
 * admin.c) is libevent evhttp over OpenSSL bufferevents; the store (store.c)
 * is SQLite in WAL mode with synchronous=FULL, secrets sealed under a 0600
 * master key; every decision goes to a hash-chained audit log (audit.c). The
 * verifier of evidence and the producer of evidence are reached through the
 * small function tables below, so the KBS does not care which TEE backend or
 * verifier sits behind them.
 */
#ifndef SECUREAI_KBS_H
#define SECUREAI_KBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secureai/common.h"
#include "secureai/crypto.h"

#define SAI_KBS_NONCE_LEN        32
#define SAI_KBS_REPORT_DATA_LEN  64
#define SAI_KBS_MAX_SECRET       (64 * 1024)
#define SAI_KBS_MAX_EVIDENCE     (256 * 1024)

/* Where a secret lives in a KBS: GET /kbs/v0/resource/<repo>/<type>/<tag>
 * (POST /kbs/v0/register/... for an attested registration).
 * Pipeline specs name their dataset and model keys this way. */
typedef struct sai_kbs_resource_t {
    char *repo, *type, *tag;                 /* each [A-Za-z0-9._-]{1,64} */
} sai_kbs_resource_t;

/* ---- appraised claims: what a verifier says about a piece of evidence ---- */
typedef struct sai_kbs_claims_t {
    char     tee[16];            /* "sim", "sev-snp", "tdx", "sgx" */
    char     measurement[129];   /* lower-case hex of the launch measurement */
    char     host_data[129];     /* hex of data bound at launch (pipeline spec hash), "" if none */
    uint8_t  tcb[4];             /* bootloader, tee, snp, microcode SVNs (SNP order) */
    char     tcb_status[40];     /* "up-to-date", "out-of-date", ... as the verifier says */
    char     policy_id[64];      /* the attestation policy that appraised it */
    bool     debug;
    bool     simulated;
    bool     emulated;           /* SEV-SNP from an emulation's test root (docs/hardware.md) */
} sai_kbs_claims_t;

/* Verifier table (server side). verify() must check the evidence's signature
 * chain, freshness and the attestation policy, and that its report data equals
 * report_data; it fills *out and returns 0, or SAI_EAUTH / SAI_EPOLICY /
 * SAI_EFORMAT with a sentence. Called from several server threads at once. */
typedef struct sai_kbs_verifier_t {
    void *ctx;
    int (*verify)(void *ctx, const char *tee, const char *evidence, size_t len,
                  const uint8_t report_data[static SAI_KBS_REPORT_DATA_LEN],
                  sai_kbs_claims_t *out, sai_error_t *err);
    /* Optional: replace the attestation policy (YAML text), from the admin
     * API or the store at start; NULL when the verifier has no policy. */
    int (*set_policy)(void *ctx, const char *text, size_t len, sai_error_t *err);
} sai_kbs_verifier_t;

/* Attester table (client side, inside the TEE): evidence JSON binding the
 * given report data. *json is malloc'ed; the caller frees it. */
typedef struct sai_kbs_attester_t {
    void       *ctx;
    const char *tee;
    bool        borrowed;     /* ctx is not ours to close */
    int (*evidence)(void *ctx, const uint8_t report_data[static SAI_KBS_REPORT_DATA_LEN],
                    char **json, size_t *len, sai_error_t *err);
} sai_kbs_attester_t;

/* The default tables over src/attest and src/tee (attest_glue.c): the verifier
 * with an optional YAML attestation policy file (NULL: built-in default). */
int  sai_kbs_verifier_default(sai_kbs_verifier_t *v, const char *policy_path, sai_error_t *err);
void sai_kbs_verifier_release(sai_kbs_verifier_t *v);
int  sai_kbs_attester_open(sai_kbs_attester_t *a, const char *tee, sai_error_t *err);
void sai_kbs_attester_close(sai_kbs_attester_t *a);
/* Borrow a TEE the caller already opened (e.g. an enclave with its launcher's
 * PSP fd); sai_kbs_attester_close then leaves it open. */
struct sai_tee_t;
void sai_kbs_attester_borrow(sai_kbs_attester_t *a, struct sai_tee_t *t);

/* ---- server ---------------------------------------------------------------- */
typedef struct sai_kbs_config_t {
    char     listen_addr[64];     /* default 127.0.0.1 */
    int      port;                /* 0: pick a free port (see sai_kbs_server_port) */
    char     data_dir[512];       /* store, master key, TLS key/cert, signing key */
    char     tls_cert[512];       /* "" -> <data_dir>/tls.crt, generated if missing */
    char     tls_key[512];
    char     admin_token_file[512]; /* "" -> <data_dir>/admin.token, generated if missing */
    char     attestation_policy[512]; /* YAML file for the verifier, "" -> default */
    char     seal_master_key[16]; /* TEE kind to seal a new master key to, "" -> plain file */
    bool     insecure_http;       /* plain HTTP; refused unless listen_addr is loopback */
    int      threads;             /* event-loop threads, default 2 */
    size_t   max_body;            /* request body cap, default 512 KiB */
    int      header_timeout_s;    /* evhttp read timeout, default 10 */
    int      idle_timeout_s;      /* keep-alive idle, default 30 */
    int      max_connections;     /* default 512 */
    int      max_connections_per_addr; /* concurrent TLS connections from one address, default 64 */
    int      max_handshakes;      /* unfinished TLS handshakes, default 128 */
    int      max_handshakes_per_addr; /* ... from one address, default 16 */
    int      handshake_timeout_s; /* accept to finished handshake, default 5 */
    double   rate_per_s;          /* per-client token bucket (requests/s); 0 = unlimited */
    double   rate_burst;
    int      max_sessions;        /* pending /auth sessions, default 16384 */
    int      max_sessions_per_addr; /* ... from one address, default 256 */
    int      nonce_ttl_s;         /* default 15 */
    int      token_ttl_s;         /* default 300 */
    bool     quiet;               /* log lines (JSON, stderr) only for 4xx/5xx and notices */
    bool     accept_audit_cut;    /* start even though the audit chain no longer holds the
                                   * recorded anchor (the cut is audited); default false */
    char     enclave_writable[512]; /* repos an attested TEE may register new resources in
                                     * (POST /kbs/v0/register/...), comma-separated; "" = none */
} sai_kbs_config_t;

void sai_kbs_config_defaults(sai_kbs_config_t *c);
/* What a real start would refuse in the configuration alone (--dry-run
 * runs it too): ranges, --insecure-http off loopback. */
int  sai_kbs_config_check(const sai_kbs_config_t *c, sai_error_t *err) SAI_MUST_CHECK;
/* Read a kbs.yaml over the defaults (flat "key: value" map, see docs/kbs.md). */
int  sai_kbs_config_load(sai_kbs_config_t *c, const char *path, sai_error_t *err) SAI_MUST_CHECK;

typedef struct sai_kbs_server_t sai_kbs_server_t;

/* Open the store, keys and certificate, bind the socket. The verifier table is
 * copied (its ctx is borrowed and must outlive the server). */
int  sai_kbs_server_new(sai_kbs_server_t **out, const sai_kbs_config_t *cfg,
                        const sai_kbs_verifier_t *verifier, sai_error_t *err) SAI_MUST_CHECK;
int  sai_kbs_server_port(const sai_kbs_server_t *s);
/* Hex SHA-256 of the DER certificate ("" in --insecure-http mode). */
const char *sai_kbs_server_fingerprint(const sai_kbs_server_t *s);
/* Hex SHA-256 of the key-wrapping key's raw point (<data_dir>/wrap.key, made
 * on first start; public half in <data_dir>/wrap.pub): what a pipeline spec
 * pins as kbs.wrap_key_sha256. Enclaves fetch the key from
 * GET /kbs/v0/wrap-key and wrap registered secrets to it. */
const char *sai_kbs_server_wrap_key_sha256(const sai_kbs_server_t *s);
/* The same two hashes from a data directory, offline (`secureai kbs info`):
 * cert_hex gets "" when there is no certificate (an --insecure-http KBS),
 * wrap_hex "" when the KBS has not started yet. */
int sai_kbs_info(const char *data_dir, const char *tls_cert, char cert_hex[65], char wrap_hex[65],
                 sai_error_t *err) SAI_MUST_CHECK;
/* Run the event loops until sai_kbs_server_stop (async-signal-safe). */
int  sai_kbs_server_run(sai_kbs_server_t *s, sai_error_t *err);
void sai_kbs_server_stop(sai_kbs_server_t *s);
void sai_kbs_server_free(sai_kbs_server_t *s);

/* ---- client ---------------------------------------------------------------- */
typedef struct sai_kbs_client_opts_t {
    const char *url;          /* https://127.0.0.1:8443 (http://... only with allow_insecure_http) */
    const char *ca_file;      /* verify the KBS certificate against this CA/cert */
    const char *pin_sha256;   /* or: hex SHA-256 of the KBS's DER certificate */
    double      timeout_s;    /* per request, default 5 */
    int         retries;      /* attempts, default 4: a KBS that cannot be reached is retried
                               * with backoff 100 ms doubling; a 429 (or 503 with
                               * Retry-After) after waiting as told, at most 10 s a time */
    const char *ca_pem;       /* or: the CA certificate(s) as PEM bytes (no file needed, e.g. */
    size_t      ca_pem_len;   /*   in a sandbox that opens no files); used when no pin is given */
    bool        allow_insecure_http; /* accept an http:// URL (a loopback test KBS); without it
                                      * an http:// URL is SAI_EPOLICY, so whoever hands the client
                                      * its URL cannot downgrade the channel */
} sai_kbs_client_opts_t;

typedef struct sai_kbs_client_t sai_kbs_client_t;

/* How a client reaches its KBS (recorded in provenance as "kbs_channel"). */
typedef enum sai_kbs_channel_t {
    SAI_KBS_CHANNEL_TLS_PIN = 1,   /* TLS 1.3, certificate SHA-256 pinned */
    SAI_KBS_CHANNEL_TLS_CA,        /* TLS 1.3, chain to a given CA + host name / IP */
    SAI_KBS_CHANNEL_INSECURE_HTTP, /* plain HTTP: anyone on the path reads and rewrites it */
} sai_kbs_channel_t;
/* "tls-pin", "tls-ca", "insecure-http" ("?" otherwise). */
const char *sai_kbs_channel_name(sai_kbs_channel_t ch);
sai_kbs_channel_t sai_kbs_client_channel(const sai_kbs_client_t *c);

int  sai_kbs_client_new(sai_kbs_client_t **out, const sai_kbs_client_opts_t *o, sai_error_t *err) SAI_MUST_CHECK;
void sai_kbs_client_free(sai_kbs_client_t *c);

/* Connections from a dialer (docs/kbs.md "Over a stream someone else
 * connected"), for a caller that can no longer open sockets (an enclave
 * after sai_sandbox_no_network): from now on every connection the client
 * needs is a stream dial returns in *fd (taken; connected to the KBS by
 * someone the caller need not trust, e.g. its host), and TLS with the pin
 * or CA check, the session cache and HTTP run over it in the calling
 * thread exactly as over a socket of the client's own. The client's own
 * connection, if any, is closed now. A dial failure should be SAI_ENET
 * (retried with backoff like an unreachable KBS); any other code ends the
 * request. */
typedef int (*sai_kbs_dial_fn)(void *ctx, int *fd, sai_error_t *err);
void sai_kbs_client_set_dialer(sai_kbs_client_t *c, sai_kbs_dial_fn dial, void *ctx);
/* Close the client's kept-alive connection now (the next request opens or
 * dials another): for a caller that talks to the KBS minutes apart. */
void sai_kbs_client_disconnect(sai_kbs_client_t *c);

/* One HTTP exchange (keeps the connection alive). *resp is malloc'ed,
 * NUL-terminated, capped at 1 MiB. extra_header is "Name: value" or NULL. */
int  sai_kbs_client_request(sai_kbs_client_t *c, const char *method, const char *path,
                            const char *extra_header, const void *body, size_t body_len,
                            int *status, char **resp, size_t *resp_len,
                            sai_error_t *err) SAI_MUST_CHECK;

/* The whole RCAR flow: auth -> ephemeral P-384 key -> evidence over
 * SHA-512(nonce || pubkey) -> attest -> resource -> unwrap. *secret is a
 * locked buffer the caller frees with sai_secret_free. The attestation token
 * is returned in *token_out when not NULL (malloc'ed). */
int  sai_kbs_client_get_resource(sai_kbs_client_t *c, const sai_kbs_attester_t *att,
                                 const char *resource, sai_secret_t **secret,
                                 char **token_out, sai_error_t *err) SAI_MUST_CHECK;
/* Attested registration: attest (as for get_resource), fetch the KBS's
 * key-wrapping key (GET /kbs/v0/wrap-key) and check that the SHA-256 of its
 * raw point equals wrap_key_sha256 (the pin the caller trusts, e.g. the
 * measured spec's kbs.wrap_key_sha256), wrap secret to it
 * (sai_kbs_wrap_register: the secret never travels in clear, not even
 * inside TLS), then store it under resource (repo/type/tag) with
 * policy_json (a release policy, JSON object) via POST
 * /kbs/v0/resource/<name>, authorised by the attestation token. The KBS
 * accepts it only in repos its config marks enclave_writable and never
 * overwrites (SAI_EEXIST); the attempt is audited. A wrap key that does not
 * match the pin is SAI_EAUTH and nothing is sent. */
int  sai_kbs_client_register_resource(sai_kbs_client_t *c, const sai_kbs_attester_t *att,
                                      const char *resource, const uint8_t *secret, size_t len,
                                      const char *policy_json,
                                      const uint8_t wrap_key_sha256[static SAI_SHA256_LEN],
                                      sai_error_t *err) SAI_MUST_CHECK;
/* A job's monotonic counter on the KBS (docs/distributed.md "Resume"):
 * attest as for get_resource, then with expect NULL read it (GET
 * /kbs/v0/counter/<name>), else compare-and-increment (POST {"expect": n}):
 * when the counter is *expect it becomes *expect + 1. *value is the
 * counter afterwards; SAI_ESTATE "counter NAME is X, not Y" (with *value =
 * X) when it was not *expect. Allowed only to a caller whose claims satisfy
 * the release policy of the resource named name. */
int  sai_kbs_client_counter(sai_kbs_client_t *c, const sai_kbs_attester_t *att, const char *name,
                            const uint64_t *expect, uint64_t *value, sai_error_t *err) SAI_MUST_CHECK;
/* Trustee's protocol (0.4.0, as confidential-containers' kbs_protocol
 * speaks it; docs/kbs.md "Two protocols"): the TEE key types its clients
 * generate. */
typedef enum sai_kbs_tee_key_t {
    SAI_KBS_TEE_KEY_P256 = 1,   /* EC P-256, ECDH-ES+A256KW (kbs_protocol's default) */
    SAI_KBS_TEE_KEY_P521 = 2,   /* EC P-521, ECDH-ES+A256KW */
    SAI_KBS_TEE_KEY_RSA  = 3,   /* RSA 2048, RSA-OAEP-256 */
} sai_kbs_tee_key_t;
/* The whole flow in Trustee's protocol: POST /kbs/v0/auth {"version":"0.4.0",
 * "tee": Trustee's name of att->tee ("sample" for sim), "extra-params"} ->
 * kbs-session-id cookie and nonce; a fresh key of type key; evidence over
 * SHA-384(JCS(runtime data)); /attest {"runtime-data", "tee-evidence"} with
 * the cookie -> token; GET /kbs/v0/resource/<resource> with the cookie (or,
 * with bearer, Authorization: Bearer token) -> flattened JWE, unwrapped with
 * OpenSSL. *secret as for sai_kbs_client_get_resource. */
int  sai_kbs_client_get_resource_trustee(sai_kbs_client_t *c, const sai_kbs_attester_t *att,
                                         const char *resource, sai_kbs_tee_key_t key, bool bearer,
                                         sai_secret_t **secret, sai_error_t *err) SAI_MUST_CHECK;
/* Convenience: a client for one call. */
int  sai_kbs_get_resource(const sai_kbs_client_opts_t *o, const sai_kbs_attester_t *att,
                          const char *resource, sai_secret_t **secret, sai_error_t *err) SAI_MUST_CHECK;

/* ---- building blocks (exported for tests, fuzzers and the pipeline) ------- */

/* Report data that binds a session: SHA-512(nonce || point). */
int sai_kbs_report_data(uint8_t out[static SAI_KBS_REPORT_DATA_LEN],
                        const uint8_t nonce[static SAI_KBS_NONCE_LEN],
                        const uint8_t point[static SAI_P384_POINT_LEN], sai_error_t *err) SAI_MUST_CHECK;

/* JWK {"kty":"EC","crv":"P-384","x":..,"y":..} <-> key. Parsing checks the
 * point is on the curve; extra members are ignored; "d" is refused. */
int sai_kbs_jwk_parse(sai_ec_key_t **out, const char *json, size_t len, sai_error_t *err) SAI_MUST_CHECK;
int sai_kbs_jwk_format(const sai_ec_key_t *k, char **json, sai_error_t *err) SAI_MUST_CHECK;

/* JWE-style compact wrap of secret to a P-384 public key:
 *   b64u(header) . "" . b64u(iv) . b64u(ciphertext) . b64u(tag)
 * header {"alg":"ECDH-ES+HKDF-SHA256","enc":"A256GCM","epk":JWK};
 * CEK = HKDF-SHA-256(Z, salt = "", info = "secureai/v1/kbs-wrap" || epk point || recipient point);
 * AAD = the ASCII of b64u(header). */
int sai_kbs_wrap(char **jwe, const sai_ec_key_t *recipient, const uint8_t *secret, size_t len,
                 sai_error_t *err) SAI_MUST_CHECK;
int sai_kbs_unwrap(sai_secret_t **out, const sai_ec_key_t *recipient_priv, const char *jwe,
                   size_t len, sai_error_t *err) SAI_MUST_CHECK;

/* The other direction, for attested registration: a secret the TEE made,
 * wrapped to the KBS's long-term key-wrapping key (wrap.key in its data
 * dir). Same compact form and construction, with its own HKDF label
 * ("secureai/v1/kbs-register", so a release can never be replayed as a
 * registration) and AAD = ASCII(b64u(header)) || "." || b64u(A) as in JWE's
 * JSON serialisation, where
 *   A = "secureai/v1/kbs-register" || 0x00 || resource name || 0x00 ||
 *       SHA-256(the attestation token authorising the registration)
 * so the wrap is good for this resource in this attestation session only. */
int sai_kbs_wrap_register(char **jwe, const sai_ec_key_t *kbs_wrap_key, const char *resource,
                          const char *token, const uint8_t *secret, size_t len,
                          sai_error_t *err) SAI_MUST_CHECK;
int sai_kbs_unwrap_register(sai_secret_t **out, const sai_ec_key_t *kbs_wrap_priv, const char *resource,
                            const char *token, const char *jwe, size_t len,
                            sai_error_t *err) SAI_MUST_CHECK;
/* SHA-256 of a key's raw uncompressed point (0x04||X||Y), the form a spec
 * pins as kbs.wrap_key_sha256. */
int sai_kbs_wrap_key_hash(const sai_ec_key_t *k, uint8_t out[static SAI_SHA256_LEN],
                          sai_error_t *err) SAI_MUST_CHECK;

/* Resource release policy (JSON):
 *   {"tee":["sim","sev-snp"], "measurements":["hex",...], "min_tcb":{"bootloader":n,
 *    "tee":n,"snp":n,"microcode":n}, "allow_debug":false, "allow_simulated":true,
 *    "pipeline_spec_hash":"hex"}
 * Every member optional except that an empty policy releases to nobody
 * unless it says "tee". Returns 0 (release) or SAI_EPOLICY with the reason. */
int sai_kbs_policy_check(const char *policy_json, const sai_kbs_claims_t *claims,
                         sai_error_t *err) SAI_MUST_CHECK;
int sai_kbs_policy_validate(const char *policy_json, size_t len, sai_error_t *err) SAI_MUST_CHECK;

/* Audit log verification on a store directory (what `kbs audit verify` runs).
 * Needs the master key (the chain is keyed). *entries gets the count. */
int sai_kbs_audit_verify(const char *data_dir, uint64_t *entries, char head_hex[65],
                         sai_error_t *err) SAI_MUST_CHECK;
/* The same, and with expect_head (a head hex recorded earlier, or NULL):
 * that hash must still be in the chain, as entry *anchor_seq (the chain
 * then extends the anchor by *entries - *anchor_seq entries); SAI_EAUTH
 * "audit chain cut: ..." when it is not. Both also check the anchors the
 * KBS keeps itself (docs/kbs.md). */
int sai_kbs_audit_verify_anchor(const char *data_dir, const char *expect_head, uint64_t *entries,
                                char head_hex[65], uint64_t *anchor_seq,
                                sai_error_t *err) SAI_MUST_CHECK;
/* The last `limit` entries (0: all) as a JSON array, offline (malloc'ed). */
int sai_kbs_audit_export(const char *data_dir, uint64_t limit, char **json,
                         sai_error_t *err) SAI_MUST_CHECK;

#endif
