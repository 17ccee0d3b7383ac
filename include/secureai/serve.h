/*
 * serve.h — attested inference (src/serve/, docs/serving.md): the HTTPS
 * model server that runs inside the enclave, its RA-TLS certificate, the
 * HTTP/1.1 request-head parser it uses on untrusted bytes, and the client
 * that verifies the server's evidence during the TLS handshake, before it
 * sends a byte.
 *
 * Who calls what:
 *   the enclave (src/pipeline/serve_enclave.c)   sai_serve_new, then
 *       sai_serve_conn for every connection the host accepted and handed
 *       over, sai_serve_free when the host hangs up
 *   secureai infer / python                       sai_serve_policy_load,
 *       sai_serve_client_connect, sai_serve_client_request
 *   secureai predict and the server               sai_serve_topk_json (one
 *       softmax/top-k formatter, so both print the same numbers)
 *
 * The server opens no socket and no file: it speaks TLS 1.3 on descriptors
 * it was given. It never logs a request's body or a prediction.
 */
#ifndef SECUREAI_SERVE_H
#define SECUREAI_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secureai/common.h"

/* ---- the request head (HTTP/1.1, strict) --------------------------------- */
#define SAI_HTTP_HEAD_MAX     8192u   /* request line + headers, bytes */
#define SAI_HTTP_HEADERS_MAX  64u

typedef struct sai_http_req_t {
    char     method[8];               /* "GET", "POST" */
    char     path[256];               /* the target without its query */
    char     query[256];              /* after '?', "" when none */
    bool     has_length;
    uint64_t content_length;
    char     content_type[64];        /* "" when absent */
    char     shape[64];               /* X-Shape, "" when absent */
    bool     close;                   /* Connection: close */
    size_t   head_len;                /* bytes of the head, CRLF CRLF included */
} sai_http_req_t;

/* Parse a request head from buf[0..len). *complete is false (and 0 is
 * returned) while the CRLF CRLF that ends the head has not arrived and len
 * is below SAI_HTTP_HEAD_MAX. Refused, with the HTTP status to answer in
 * *status: a head over SAI_HTTP_HEAD_MAX or with more than
 * SAI_HTTP_HEADERS_MAX headers (431, SAI_ELIMIT), a malformed request line,
 * header or Content-Length, bare LF, obsolete line folding, duplicate
 * Content-Length, NUL or control bytes (400, SAI_EINVAL), Transfer-Encoding
 * (501, SAI_EUNSUPP: bodies have a length), another version than HTTP/1.1
 * (505, SAI_EUNSUPP). */
int sai_http_parse_head(sai_http_req_t *r, const uint8_t *buf, size_t len, bool *complete,
                        int *status, sai_error_t *err) SAI_MUST_CHECK;

/* ---- predictions ------------------------------------------------------------ */
struct sai_nn_model;
struct sai_nn_ckpt_meta;

#define SAI_SERVE_CLASSES_MAX 1000
/* Softmax of one image's logits z[0..classes) and its k best classes, best
 * first, into cls[] and p[] (k entries each). Returns how many (k, or
 * classes when fewer), or SAI_EINVAL. */
int sai_serve_topk(const float *z, int classes, int k, int *cls, float *p);

/* Append one line per image, {"image":i,"top":[{"class":c,"name":"..","p":p},...]}
 * (softmax over the logits of images [0, n), k best first), to *out
 * (a sai_buf_t). logits: n x classes. first: index of image 0. */
struct sai_buf_t;
int sai_serve_topk_json(struct sai_buf_t *out, const float *logits, int n, int classes, int k,
                        const char *dataset, size_t first, const char *sep) SAI_MUST_CHECK;

/* Normalise n uint8 CHW images (pixel / 255, then the dataset's mean and
 * std, as training did) into x (n * c*h*w floats). */
int sai_serve_normalize_u8(float *x, const uint8_t *pix, size_t n, int c, int h, int w,
                           const char *dataset, sai_error_t *err) SAI_MUST_CHECK;

/* ---- the server ---------------------------------------------------------------- */
typedef struct sai_serve_limits_t {
    uint64_t max_body;          /* bytes of a request body (413 beyond); default 8 MiB */
    unsigned max_conns;         /* connections served at once (more are closed); default 16 */
    unsigned head_timeout_ms;   /* handshake + request head, from accept (408); default 5000 */
    unsigned body_timeout_ms;   /* the body, from the end of the head (408); default 10000 */
    unsigned idle_timeout_ms;   /* between keep-alive requests; default 15000 */
    unsigned max_images;        /* images in one request (413 beyond); default 256 */
} sai_serve_limits_t;

/* Fill zero fields with the defaults above. */
void sai_serve_limits_default(sai_serve_limits_t *l);

/* Evidence for 64 bytes of report data (the TEE's; *json malloc'ed). */
typedef int (*sai_serve_evidence_fn)(void *ctx, const uint8_t report_data[64], char **json,
                                     size_t *len, sai_error_t *err);

typedef struct sai_serve_config_t {
    const uint8_t *ckpt;        /* the plaintext checkpoint; borrowed for sai_serve_new only
                                 * (the caller wipes it afterwards) */
    size_t         ckpt_len;
    uint8_t        model_sha256[32];   /* SHA-256 of the sealed model file (the provenance
                                        * statement's subject) */
    uint8_t        spec_sha256[32];
    uint8_t        measurement[48];
    const char    *tee;                /* "sim", ... */
    const char    *provenance;         /* the run's provenance statement, or NULL; copied */
    size_t         provenance_len;
    sai_serve_evidence_fn evidence;    /* binds the TLS key (below) */
    void          *evidence_ctx;
    sai_serve_limits_t limits;
    unsigned       max_batch;          /* images in one forward pass; 0 = 16 */
    unsigned       batch_wait_ms;      /* dynamic batching's latency bound: the longest a
                                        * queued request waits for others to join its
                                        * pass; 0 = SAI_SERVE_BATCH_WAIT_MS */
} sai_serve_config_t;

#define SAI_SERVE_BATCH_WAIT_MS 5

typedef struct sai_serve_t sai_serve_t;

/* Load the model, make a fresh TLS key and its RA-TLS certificate: report
 * data = SHA-512("secureai/v1/ratls" || 0x00 || SHA-256(SPKI DER) ||
 * SHA-256(claims)), where claims is the JSON the certificate carries next to
 * the evidence ({"model_sha256", "spec_sha256"}); both travel in the
 * certificate as the extensions SAI_RATLS_OID_EVIDENCE and
 * SAI_RATLS_OID_CLAIMS. The key never leaves the process. */
/* UUID-based OIDs (X.667, arc 2.25): no registry needed, no collision. */
#define SAI_RATLS_OID_EVIDENCE "2.25.254778824051855984813311034504758074846"
#define SAI_RATLS_OID_CLAIMS   "2.25.293587268907739319609364430122834406213"
#define SAI_RATLS_DOMAIN       "secureai/v1/ratls"
int  sai_serve_new(sai_serve_t **out, const sai_serve_config_t *c, sai_error_t *err) SAI_MUST_CHECK;
/* Serve one accepted connection on its own thread (TLS 1.3, keep-alive,
 * the limits); takes fd (closed when done, also on failure). Predictions of
 * concurrent connections are batched into one forward pass (up to
 * max_batch images; a request waits at most batch_wait_ms for others). */
int  sai_serve_conn(sai_serve_t *s, int fd, sai_error_t *err) SAI_MUST_CHECK;
/* SHA-256 of the certificate's DER (what a client pins or logs). */
void sai_serve_cert_sha256(const sai_serve_t *s, uint8_t out[32]);
/* Stop: wait for the connections being served, free everything. */
void sai_serve_free(sai_serve_t *s);

/* ---- the client ---------------------------------------------------------------- */
/* A serving policy (JSON; docs/serving.md):
 *   {"attestation_policy": "FILE" (YAML, attest.h; relative to the policy's
 *        directory: TEE kinds, roots, TCB, debug),
 *    "allow_simulated": bool (default false),
 *    "measurement": "<96 hex>", "model_sha256": "<64 hex>",
 *    "spec_sha256": "<64 hex>" (optional)}
 * measurement and model_sha256 are required; unknown keys are refused. */
typedef struct sai_serve_policy_t {
    char    attestation_policy[4096];   /* "" = the default policy (sim refused) */
    bool    allow_simulated;
    uint8_t measurement[48];
    uint8_t model_sha256[32];
    bool    has_spec_sha256;
    uint8_t spec_sha256[32];
} sai_serve_policy_t;

int sai_serve_policy_load(sai_serve_policy_t *p, const char *path, sai_error_t *err) SAI_MUST_CHECK;

/* What the handshake established. */
typedef struct sai_serve_verified_t {
    char    tee[16];
    bool    simulated;
    uint8_t measurement[48];
    uint8_t model_sha256[32];
    uint8_t spec_sha256[32];
} sai_serve_verified_t;

/* Check an RA-TLS certificate (DER) against a policy: self-signature and
 * validity, the evidence (src/attest, with the report data recomputed from
 * this certificate's key and claims), allow_simulated, measurement, model
 * and spec hashes. 0 or SAI_EAUTH / SAI_EPOLICY / SAI_EFORMAT naming the
 * first check that failed. */
int sai_serve_ratls_check(const uint8_t *der, size_t len, const sai_serve_policy_t *p,
                          int64_t at, sai_serve_verified_t *out, sai_error_t *err) SAI_MUST_CHECK;

typedef struct sai_serve_client_t sai_serve_client_t;

/* Connect to https://HOST:PORT and run the TLS 1.3 handshake, verifying the
 * server's certificate with sai_serve_ratls_check inside the handshake: on
 * any mismatch the handshake is aborted, so no request byte is ever written.
 * v may be NULL. */
int  sai_serve_client_connect(sai_serve_client_t **out, const char *url, const sai_serve_policy_t *p,
                              sai_serve_verified_t *v, sai_error_t *err) SAI_MUST_CHECK;
/* One request on the connection (keep-alive). ctype/shape/body may be NULL.
 * *resp malloc'ed (NUL-terminated), at most 64 MiB. */
int  sai_serve_client_request(sai_serve_client_t *c, const char *method, const char *path,
                              const char *ctype, const char *shape, const uint8_t *body,
                              size_t body_len, int *status, char **resp, size_t *resp_len,
                              sai_error_t *err) SAI_MUST_CHECK;
void sai_serve_client_free(sai_serve_client_t *c);

#endif
