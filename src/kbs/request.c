/*
 * request.c — parsers for everything a KBS client sends: the JSON bodies of
 * /auth, /attest and the admin calls, JWKs, resource names. All input here is
 * untrusted; every field has a type and a length cap, and anything else is
 * SAI_EINVAL with a sentence the server returns as a 400 body. Fuzzed by
 * fuzz/fuzz_kbs_request.c and fuzz/fuzz_kbs_jwk.c.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "kbs/kbs_internal.h"
#include "secureai/tee.h"
#include "secureai/util.h"

#define JSON_MAX (SAI_KBS_MAX_EVIDENCE + 128 * 1024)

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first member name that appears twice in an object anywhere in v, or
 * NULL. cJSON keeps both and its lookups return the first, while another
 * parser may take the last: a body must mean one thing. Sorted, so a
 * hostile object with 100,000 members costs n log n, not n^2. */
static const char *json_duplicate(const cJSON *v, int depth)
{
    if (depth > 64)
        return NULL;        /* cJSON itself nests at most 1000; ours are shallow */
    size_t n = 0;
    for (const cJSON *c = v->child; c; c = c->next) {
        const char *d = json_duplicate(c, depth + 1);
        if (d)
            return d;
        n++;
    }
    if (!cJSON_IsObject(v) || n < 2)
        return NULL;
    const char **names = malloc(n * sizeof *names);
    if (names == NULL)
        return "(out of memory)";
    size_t i = 0;
    for (const cJSON *c = v->child; c; c = c->next)
        names[i++] = c->string ? c->string : "";
    qsort(names, n, sizeof *names, cmp_str);
    const char *d = NULL;
    for (i = 1; i < n && d == NULL; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            d = names[i];
    free(names);
    return d;
}

cJSON *sai_kbs__json_parse(const char *body, size_t len, sai_error_t *err)
{
    if (body == NULL || len == 0) {
        sai_error_set(err, SAI_EINVAL, "the request body is empty");
        return NULL;
    }
    if (len > JSON_MAX) {
        sai_error_set(err, SAI_ELIMIT, "the request body is %zu bytes, more than %d", len, JSON_MAX);
        return NULL;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (j == NULL) {
        sai_error_set(err, SAI_EINVAL, "the request body is not valid JSON");
        return NULL;
    }
    /* One JSON value and nothing after it but white space: a second value
     * (or a NUL and anything) is not silently ignored. */
    size_t off = end ? (size_t)(end - body) : len;
    while (off < len && (body[off] == ' ' || body[off] == '\t' || body[off] == '\n' || body[off] == '\r'))
        off++;
    if (off != len) {
        cJSON_Delete(j);
        sai_error_set(err, SAI_EINVAL, "the request body has bytes after its JSON value");
        return NULL;
    }
    const char *dup = json_duplicate(j, 0);
    if (dup != NULL) {
        sai_error_set(err, SAI_EINVAL, "member \"%.60s\" appears twice in an object", dup);
        cJSON_Delete(j);
        return NULL;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        sai_error_set(err, SAI_EINVAL, "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

/* A string member of at most max bytes (required). */
static const char *get_str(const cJSON *o, const char *name, size_t max, sai_error_t *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (v == NULL) {
        sai_error_set(err, SAI_EINVAL, "member \"%s\" is missing", name);
        return NULL;
    }
    if (!cJSON_IsString(v) || v->valuestring == NULL) {
        sai_error_set(err, SAI_EINVAL, "member \"%s\" must be a string", name);
        return NULL;
    }
    if (strlen(v->valuestring) > max) {
        sai_error_set(err, SAI_ELIMIT, "member \"%s\" is longer than %zu bytes", name, max);
        return NULL;
    }
    return v->valuestring;
}

bool sai_kbs__tee_name_ok(const char *tee)
{
    return sai_tee_kind_from_canonical_name(tee) != SAI_TEE_NONE;
}

static bool segment_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool sai_kbs__resource_name_ok(const char *name)
{
    if (name == NULL)
        return false;
    const char *p = name;
    for (int seg = 0; seg < 3; seg++) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!segment_ok(p, n))
            return false;
        if (seg < 2) {
            if (slash == NULL)
                return false;
            p = slash + 1;
        } else if (slash != NULL) {
            return false;
        }
    }
    return true;
}

int sai_kbs__parse_auth(sai_kbs_auth_req_t *r, const char *body, size_t len, sai_error_t *err)
{
    memset(r, 0, sizeof *r);
    cJSON *j = sai_kbs__json_parse(body, len, err);
    if (j == NULL)
        return err ? err->code : SAI_EINVAL;
    int rc = 0;
    const char *v = get_str(j, "version", sizeof r->version - 1, err);
    const char *t = v ? get_str(j, "tee", sizeof r->tee - 1, err) : NULL;
    if (v == NULL || t == NULL) {
        rc = err ? err->code : SAI_EINVAL;
    } else if (strcmp(v, "0.1.0") != 0 && strcmp(v, "0") != 0) {
        rc = sai_error_set(err, SAI_EINVAL, "protocol version \"%s\" is not supported (use 0.1.0)", v);
    } else if (!sai_kbs__tee_name_ok(t)) {
        rc = sai_error_set(err, SAI_EINVAL, "unknown TEE kind \"%s\"", t);
    } else {
        snprintf(r->version, sizeof r->version, "%s", v);
        snprintf(r->tee, sizeof r->tee, "%s", t);
    }
    cJSON_Delete(j);
    return rc;
}

static int b64_exact(uint8_t *out, size_t want, const char *s, const char *what, sai_error_t *err)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    if (strlen(s) > 4 * want || sai_b64_decode(&buf, &n, s, strlen(s), NULL) != 0 || n != want) {
        free(buf);
        return sai_error_set(err, SAI_EINVAL, "%s must be %zu bytes of base64url", what, want);
    }
    memcpy(out, buf, want);
    free(buf);
    return 0;
}

/* A P-384 point from the wire. P-384 has cofactor 1, so a point on the curve
 * (not the identity, which has no uncompressed encoding) is in the prime
 * order group: OpenSSL's "quick" check (on the curve) is the complete one,
 * and skips the n*Q scalar multiplication EVP_PKEY_public_check adds, which
 * was a third of the server's time per flow (perf, bench/kbs_load). */
static int point_to_key(sai_ec_key_t **out, const uint8_t point[static SAI_P384_POINT_LEN],
                        sai_error_t *err)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-384", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point,
                                                  SAI_P384_POINT_LEN);
    params[2] = OSSL_PARAM_construct_end();
    int ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
             EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_CTX *chk = ok ? EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL) : NULL;
    ok = ok && chk != NULL && EVP_PKEY_public_check_quick(chk) == 1;
    EVP_PKEY_CTX_free(chk);
    int rc = ok ? sai_ec_from_evp(out, pkey, err)
                : sai_error_set(err, SAI_EINVAL, "the JWK is not a point on P-384");
    EVP_PKEY_free(pkey);    /* sai_ec_from_evp took its own reference */
    return rc;
}

int sai_kbs__jwk_from_json(sai_ec_key_t **out, const cJSON *jwk, uint8_t point[static SAI_P384_POINT_LEN],
                          sai_error_t *err)
{
    *out = NULL;
    if (!cJSON_IsObject(jwk))
        return sai_error_set(err, SAI_EINVAL, "the JWK must be a JSON object");
    const char *kty = get_str(jwk, "kty", 8, err);
    if (kty == NULL)
        return err ? err->code : SAI_EINVAL;
    const char *crv = get_str(jwk, "crv", 8, err);
    if (crv == NULL)
        return err ? err->code : SAI_EINVAL;
    if (strcmp(kty, "EC") != 0 || strcmp(crv, "P-384") != 0)
        return sai_error_set(err, SAI_EINVAL, "the JWK must be kty EC on crv P-384");
    if (cJSON_GetObjectItemCaseSensitive(jwk, "d") != NULL)
        return sai_error_set(err, SAI_EINVAL, "the JWK carries a private key (\"d\"); send only the public key");
    const char *x = get_str(jwk, "x", 128, err);
    if (x == NULL)
        return err ? err->code : SAI_EINVAL;
    const char *y = get_str(jwk, "y", 128, err);
    if (y == NULL)
        return err ? err->code : SAI_EINVAL;
    uint8_t xy[96];
    if (b64_exact(xy, 48, x, "JWK x", err) != 0 || b64_exact(xy + 48, 48, y, "JWK y", err) != 0)
        return err ? err->code : SAI_EINVAL;
    point[0] = 0x04;
    memcpy(point + 1, xy, 96);
    return point_to_key(out, point, err);
}

int sai_kbs_jwk_parse(sai_ec_key_t **out, const char *json, size_t len, sai_error_t *err)
{
    *out = NULL;
    cJSON *j = sai_kbs__json_parse(json, len, err);
    if (j == NULL)
        return err ? err->code : SAI_EINVAL;
    uint8_t point[SAI_P384_POINT_LEN];
    int rc = sai_kbs__jwk_from_json(out, j, point, err);
    cJSON_Delete(j);
    return rc;
}

int sai_kbs_jwk_format(const sai_ec_key_t *k, char **json, sai_error_t *err)
{
    *json = NULL;
    uint8_t pt[SAI_P384_POINT_LEN];
    int rc = sai_ec_public_raw(k, pt, err);
    if (rc != 0)
        return rc;
    char *x = NULL, *y = NULL;
    if ((rc = sai_b64url_encode(&x, pt + 1, 48, err)) != 0)
        return rc;
    if ((rc = sai_b64url_encode(&y, pt + 49, 48, err)) != 0) {
        free(x);
        return rc;
    }
    /* RFC 7638 member order, no whitespace: also the JWK thumbprint input. */
    size_t n = strlen(x) + strlen(y) + 64;
    *json = malloc(n);
    if (*json == NULL)
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
    else
        snprintf(*json, n, "{\"crv\":\"P-384\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    free(x);
    free(y);
    return rc;
}

void sai_kbs__attest_req_free(sai_kbs_attest_req_t *r)
{
    sai_ec_free(r->tee_key);
    free(r->evidence);
    memset(r, 0, sizeof *r);
}

int sai_kbs__parse_attest(sai_kbs_attest_req_t *r, const char *body, size_t len, sai_error_t *err)
{
    memset(r, 0, sizeof *r);
    cJSON *j = sai_kbs__json_parse(body, len, err);
    if (j == NULL)
        return err ? err->code : SAI_EINVAL;
    int rc = 0;
    const char *sess = get_str(j, "session", 64, err);
    if (sess == NULL) {
        rc = err ? err->code : SAI_EINVAL;
        goto out;
    }
    snprintf(r->session, sizeof r->session, "%s", sess);
    const cJSON *jwk = cJSON_GetObjectItemCaseSensitive(j, "tee-pubkey");
    if (jwk == NULL) {
        rc = sai_error_set(err, SAI_EINVAL, "member \"tee-pubkey\" is missing");
        goto out;
    }
    if ((rc = sai_kbs__jwk_from_json(&r->tee_key, jwk, r->point, err)) != 0)
        goto out;
    /* Evidence: a JSON object (sent as is) or a string holding the JSON. */
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "evidence");
    if (ev == NULL) {
        rc = sai_error_set(err, SAI_EINVAL, "member \"evidence\" is missing");
        goto out;
    }
    if (cJSON_IsString(ev) && ev->valuestring)
        r->evidence = strdup(ev->valuestring);
    else if (cJSON_IsObject(ev))
        r->evidence = cJSON_PrintUnformatted(ev);
    else {
        rc = sai_error_set(err, SAI_EINVAL, "member \"evidence\" must be an object or a string");
        goto out;
    }
    if (r->evidence == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    r->evidence_len = strlen(r->evidence);
    if (r->evidence_len == 0 || r->evidence_len > SAI_KBS_MAX_EVIDENCE)
        rc = sai_error_set(err, SAI_ELIMIT, "the evidence must be 1..%d bytes", SAI_KBS_MAX_EVIDENCE);
out:
    cJSON_Delete(j);
    if (rc != 0)
        sai_kbs__attest_req_free(r);
    return rc;
}

void sai_kbs__put_req_free(sai_kbs_put_req_t *r)
{
    if (r->secret) {
        sai_wipe(r->secret, r->secret_len);
        free(r->secret);
    }
    free(r->policy);
    memset(r, 0, sizeof *r);
}

/* {"secret": base64url, "policy": {...}} */
int sai_kbs__parse_put(sai_kbs_put_req_t *r, const char *body, size_t len, sai_error_t *err)
{
    memset(r, 0, sizeof *r);
    cJSON *j = sai_kbs__json_parse(body, len, err);
    if (j == NULL)
        return err ? err->code : SAI_EINVAL;
    int rc = 0;
    const char *sec = get_str(j, "secret", (SAI_KBS_MAX_SECRET * 4) / 3 + 4, err);
    if (sec == NULL) {
        rc = err ? err->code : SAI_EINVAL;
        goto out;
    }
    if (sai_b64_decode(&r->secret, &r->secret_len, sec, strlen(sec), NULL) != 0 ||
        r->secret_len == 0 || r->secret_len > SAI_KBS_MAX_SECRET) {
        rc = sai_error_set(err, SAI_EINVAL, "member \"secret\" must be 1..%d bytes of base64url",
                           SAI_KBS_MAX_SECRET);
        goto out;
    }
    const cJSON *pol = cJSON_GetObjectItemCaseSensitive(j, "policy");
    if (!cJSON_IsObject(pol)) {
        rc = sai_error_set(err, SAI_EINVAL, "member \"policy\" must be a JSON object");
        goto out;
    }
    r->policy = cJSON_PrintUnformatted(pol);
    if (r->policy == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    rc = sai_kbs_policy_validate(r->policy, strlen(r->policy), err);
out:
    cJSON_Delete(j);
    if (rc != 0)
        sai_kbs__put_req_free(r);
    return rc;
}

void sai_kbs__register_req_free(sai_kbs_register_req_t *r)
{
    free(r->jwe);
    free(r->policy);
    memset(r, 0, sizeof *r);
}

/* {"jwe": <sai_kbs_wrap_register output>, "policy": {...}}; a clear
 * "secret" member is refused outright (the registration path never takes a
 * secret that crossed the network unwrapped). */
int sai_kbs__parse_register(sai_kbs_register_req_t *r, const char *body, size_t len, sai_error_t *err)
{
    memset(r, 0, sizeof *r);
    cJSON *j = sai_kbs__json_parse(body, len, err);
    if (j == NULL)
        return err ? err->code : SAI_EINVAL;
    int rc = 0;
    const char *jwe = NULL;
    const cJSON *pol = cJSON_GetObjectItemCaseSensitive(j, "policy");
    if (cJSON_GetObjectItemCaseSensitive(j, "secret") != NULL) {
        rc = sai_error_set(err, SAI_EPOLICY, "an unwrapped secret is refused: a registered secret must be "
                           "wrapped to the KBS's wrap key (member \"jwe\", see GET /kbs/v0/wrap-key)");
        goto out;
    }
    if ((jwe = get_str(j, "jwe", (SAI_KBS_MAX_SECRET * 4) / 3 + 4096, err)) == NULL) {
        rc = err ? err->code : SAI_EINVAL;
        goto out;
    }
    if (!cJSON_IsObject(pol)) {
        rc = sai_error_set(err, SAI_EINVAL, "member \"policy\" must be a JSON object");
        goto out;
    }
    if ((r->jwe = strdup(jwe)) == NULL || (r->policy = cJSON_PrintUnformatted(pol)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    rc = sai_kbs_policy_validate(r->policy, strlen(r->policy), err);
out:
    cJSON_Delete(j);
    if (rc != 0)
        sai_kbs__register_req_free(r);
    return rc;
}

int sai_kbs_report_data(uint8_t out[static SAI_KBS_REPORT_DATA_LEN],
                        const uint8_t nonce[static SAI_KBS_NONCE_LEN],
                        const uint8_t point[static SAI_P384_POINT_LEN], sai_error_t *err)
{
    uint8_t buf[SAI_KBS_NONCE_LEN + SAI_P384_POINT_LEN];
    memcpy(buf, nonce, SAI_KBS_NONCE_LEN);
    memcpy(buf + SAI_KBS_NONCE_LEN, point, SAI_P384_POINT_LEN);
    return sai_hash(SAI_SHA512, out, buf, sizeof buf, err);
}
