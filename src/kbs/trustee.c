/*
 * trustee.c — the pieces of Trustee's KBS attestation protocol (version
 * 0.4.0, confidential-containers/trustee kbs/docs/kbs_attestation_protocol.md,
 * the kbs_protocol client and kbs-types) that SecureAI's KBS speaks next to
 * its own flow (docs/kbs.md, "Two protocols"):
 *
 *   - Trustee's TEE names and which of them this KBS can appraise;
 *   - JSON canonicalisation (RFC 8785, JCS) of the runtime data, whose hash
 *     is the evidence's report data;
 *   - TEE public keys as Trustee clients send them: EC P-256 / P-521 with
 *     alg ECDH-ES+A256KW, RSA (2048..8192 bits) with alg RSA-OAEP-256;
 *   - the /attest body {"runtime-data": {nonce, tee-pubkey},
 *     "tee-evidence": {primary_evidence, additional_evidence}};
 *   - the flattened JWE JSON a resource is released in (RFC 7516 7.2.2,
 *     A256GCM under a random CEK, the CEK wrapped to the TEE key with
 *     ECDH-ES+A256KW (RFC 7518 4.6, Concat KDF) or RSA-OAEP-256), and its
 *     unwrapping on the client side;
 *   - the table of attested kbs-session-id cookies.
 * Everything that reads client or server bytes here is untrusted-input
 * parsing with caps, and is fuzzed (fuzz/fuzz_kbs_trustee.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "kbs/kbs_internal.h"
#include "secureai/tee.h"
#include "secureai/util.h"

#define ECDH_A256KW "ECDH-ES+A256KW"
#define RSA_OAEP256 "RSA-OAEP-256"
#define JCS_MAX     (SAI_KBS_MAX_EVIDENCE + 64 * 1024)
#define JCS_DEPTH   32
#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 8192

/* ---- TEE names ------------------------------------------------------------------ */
typedef struct tee_name {
    const char *trustee;   /* kbs-types' Tee, as serialised */
    const char *sai;       /* the SecureAI kind whose evidence it carries here, NULL: none */
} tee_name;

/* "sample" is Trustee's TEE for testing an attestation server. Here it
 * carries the sim platform's signed evidence (secureai attest --tee sim),
 * appraised as "sim": only under an attestation policy with
 * allow_simulated, and released only by release policies that allow
 * simulated TEEs. Trustee's own unsigned sample quote is not accepted. */
static const tee_name k_tees[] = {
    {"sample", "sim"},     {"snp", "sev-snp"},    {"tdx", "tdx"},        {"sgx", "sgx"},
    {"az-snp-vtpm", NULL}, {"az-tdx-vtpm", NULL}, {"sev", NULL},         {"cca", NULL},
    {"csv", NULL},         {"se", NULL},          {"tpm", NULL},         {"nvidia", NULL},
    {"hygondcu", NULL},    {"sampledevice", NULL},
};

int sai_kbs__trustee_tee(const char *name, const char **kind, sai_error_t *err)
{
    *kind = NULL;
    for (size_t i = 0; i < sizeof k_tees / sizeof k_tees[0]; i++) {
        if (strcmp(name, k_tees[i].trustee) != 0)
            continue;
        if (k_tees[i].sai == NULL)
            return sai_error_set(err, SAI_EUNSUPP, "TEE \"%s\" is not supported by this KBS "
                                 "(sample, snp, tdx and sgx are)", name);
        *kind = k_tees[i].sai;
        return 0;
    }
    return sai_error_set(err, SAI_EINVAL, "unknown TEE \"%.32s\"", name);
}

const char *sai_kbs__trustee_tee_name(const char *kind)
{
    for (size_t i = 0; i < sizeof k_tees / sizeof k_tees[0]; i++)
        if (k_tees[i].sai && strcmp(kind, k_tees[i].sai) == 0)
            return k_tees[i].trustee;
    return NULL;
}

/* ---- JCS (RFC 8785) --------------------------------------------------------------- */
typedef struct sbuf {
    char  *p;
    size_t n, cap;
    bool   bad;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->bad)
        return;
    if (b->n + n + 1 > JCS_MAX) {
        b->bad = true;
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (q == NULL) {
            b->bad = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* Length of the well-formed UTF-8 sequence at s (no surrogates, no overlong
 * forms, at most U+10FFFF), 0 if there is none; *cp gets the code point. */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    if (n == 0 || (n == 3 && s[0] > 0xef))
        return 0;
    uint32_t c = s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) || (n == 4 && (c < 0x10000 || c > 0x10ffff)))
        return 0;
    *cp = c;
    return n;
}

static bool utf8_ok(const char *s)
{
    uint32_t cp;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = utf8_next(p, &cp);
        if (n == 0)
            return false;
        p += n;
    }
    return true;
}

/* RFC 8785 3.2.2.2: only " \ and the control characters are escaped, the
 * short forms where JSON has them, the rest as \u00xx (lower-case hex). */
static void put_string(sbuf *b, const char *s)
{
    put(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        char esc[8];
        const char *e = NULL;
        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                e = esc;
            }
        }
        if (e)
            put(b, e, strlen(e));
        else
            put(b, p, 1);
    }
    put(b, "\"", 1);
}

/* Next UTF-16 code unit of a (valid UTF-8) string: RFC 8785 sorts member
 * names by their UTF-16 code units. 0 at the end. */
static uint16_t u16_next(const unsigned char **s, uint16_t *low)
{
    if (*low) {
        uint16_t u = *low;
        *low = 0;
        return u;
    }
    if (**s == 0)
        return 0;
    uint32_t cp = 0;
    size_t n = utf8_next(*s, &cp);
    *s += n ? n : 1;
    if (cp < 0x10000)
        return (uint16_t)cp;
    cp -= 0x10000;
    *low = (uint16_t)(0xdc00 | (cp & 0x3ff));
    return (uint16_t)(0xd800 | (cp >> 10));
}

static int cmp_u16(const void *a, const void *b)
{
    const unsigned char *x = (const unsigned char *)(*(const cJSON *const *)a)->string;
    const unsigned char *y = (const unsigned char *)(*(const cJSON *const *)b)->string;
    uint16_t lx = 0, ly = 0;
    for (;;) {
        uint16_t ux = u16_next(&x, &lx), uy = u16_next(&y, &ly);
        if (ux != uy)
            return ux < uy ? -1 : 1;
        if (ux == 0)
            return 0;
    }
}

static int jcs_value(sbuf *b, const cJSON *v, int depth, sai_error_t *err)
{
    if (depth > JCS_DEPTH)
        return sai_error_set(err, SAI_ELIMIT, "JSON nested deeper than %d", JCS_DEPTH);
    if (cJSON_IsNull(v)) {
        put(b, "null", 4);
    } else if (cJSON_IsTrue(v)) {
        put(b, "true", 4);
    } else if (cJSON_IsFalse(v)) {
        put(b, "false", 5);
    } else if (cJSON_IsString(v)) {
        if (v->valuestring == NULL || !utf8_ok(v->valuestring))
            return sai_error_set(err, SAI_EINVAL, "a JSON string is not valid UTF-8");
        put_string(b, v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        /* ECMAScript number formatting is only needed here for integers:
         * a fraction or an exponent is refused rather than approximated. */
        double d = v->valuedouble;
        if (!(d >= -9007199254740991.0 && d <= 9007199254740991.0) || d != (double)(long long)d)
            return sai_error_set(err, SAI_EUNSUPP, "only integers up to 2^53 are canonicalised");
        char num[32];
        int n = snprintf(num, sizeof num, "%lld", (long long)d);
        put(b, num, (size_t)n);
    } else if (cJSON_IsArray(v)) {
        put(b, "[", 1);
        int i = 0;
        for (const cJSON *c = v->child; c; c = c->next, i++) {
            if (i)
                put(b, ",", 1);
            int rc = jcs_value(b, c, depth + 1, err);
            if (rc != 0)
                return rc;
        }
        put(b, "]", 1);
    } else if (cJSON_IsObject(v)) {
        size_t n = 0;
        for (const cJSON *c = v->child; c; c = c->next) {
            if (c->string == NULL || !utf8_ok(c->string))
                return sai_error_set(err, SAI_EINVAL, "a JSON member name is not valid UTF-8");
            n++;
        }
        const cJSON **m = n ? malloc(n * sizeof *m) : NULL;
        if (n && m == NULL)
            return sai_error_set(err, SAI_ENOMEM, "out of memory");
        size_t i = 0;
        for (const cJSON *c = v->child; c; c = c->next)
            m[i++] = c;
        if (n > 1)
            qsort(m, n, sizeof *m, cmp_u16);
        put(b, "{", 1);
        int rc = 0;
        for (i = 0; i < n && rc == 0; i++) {
            if (i > 0 && cmp_u16(&m[i - 1], &m[i]) == 0)
                rc = sai_error_set(err, SAI_EINVAL, "member \"%.60s\" appears twice", m[i]->string);
            if (i)
                put(b, ",", 1);
            put_string(b, m[i]->string);
            put(b, ":", 1);
            if (rc == 0)
                rc = jcs_value(b, m[i], depth + 1, err);
        }
        free(m);
        if (rc != 0)
            return rc;
        put(b, "}", 1);
    } else {
        return sai_error_set(err, SAI_EINVAL, "not a JSON value");
    }
    return 0;
}

int sai_kbs__jcs(const cJSON *v, char **out, size_t *len, sai_error_t *err)
{
    sbuf b = {0};
    *out = NULL;
    if (len)
        *len = 0;
    int rc = jcs_value(&b, v, 0, err);
    if (rc == 0 && (b.bad || b.p == NULL))
        rc = sai_error_set(err, b.n + 1 > JCS_MAX ? SAI_ELIMIT : SAI_ENOMEM,
                           "cannot canonicalise the JSON (too large or out of memory)");
    if (rc != 0) {
        free(b.p);
        return rc;
    }
    *out = b.p;
    if (len)
        *len = b.n;
    return 0;
}

/* ---- TEE keys ---------------------------------------------------------------------- */
static const char *str_member(const cJSON *o, const char *name, size_t max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) && v->valuestring && strlen(v->valuestring) <= max ? v->valuestring : NULL;
}

/* Unpadded base64url only (what Trustee's decoder takes), exactly want
 * bytes when want != 0, else 1..max bytes. */
static int b64u_field(uint8_t **out, size_t *n, const char *s, size_t want, size_t max,
                      const char *what, sai_error_t *err)
{
    *out = NULL;
    size_t l = strlen(s);
    if (l == 0 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != l ||
        l % 4 == 1 || sai_b64_decode(out, n, s, l, NULL) != 0 || (want && *n != want) ||
        (!want && (*n == 0 || *n > max))) {
        free(*out);
        *out = NULL;
        return sai_error_set(err, SAI_EINVAL, "JWK %s is not %s of unpadded base64url", what,
                             want ? "the curve's coordinate size" : "a valid length");
    }
    return 0;
}

static int ec_from_xy(EVP_PKEY **out, const char *group, const uint8_t *x, const uint8_t *y, size_t cl,
                      sai_error_t *err)
{
    uint8_t pt[1 + 2 * 66];
    pt[0] = 0x04;
    memcpy(pt + 1, x, cl);
    memcpy(pt + 1 + cl, y, cl);
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * cl);
    params[2] = OSSL_PARAM_construct_end();
    int ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
             EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    /* P-256 and P-521 have cofactor 1: on the curve means in the group. */
    EVP_PKEY_CTX *chk = ok ? EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL) : NULL;
    ok = ok && chk != NULL && EVP_PKEY_public_check_quick(chk) == 1;
    EVP_PKEY_CTX_free(chk);
    if (!ok) {
        EVP_PKEY_free(pkey);
        return sai_error_set(err, SAI_EINVAL, "the JWK is not a point on %s", group);
    }
    *out = pkey;
    return 0;
}

static int rsa_from_ne(EVP_PKEY **out, const uint8_t *n, size_t nl, const uint8_t *e, size_t el,
                       sai_error_t *err)
{
    *out = NULL;
    BIGNUM *bn = BN_bin2bn(n, (int)nl, NULL), *be = BN_bin2bn(e, (int)el, NULL);
    int bits = bn ? BN_num_bits(bn) : 0;
    int rc = 0;
    if (bn == NULL || be == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
    } else if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS || !BN_is_odd(bn)) {
        rc = sai_error_set(err, SAI_EINVAL, "an RSA TEE key must have an odd modulus of %d..%d bits (got %d)",
                           RSA_MIN_BITS, RSA_MAX_BITS, bits);
    } else if (!BN_is_odd(be) || BN_cmp(be, BN_value_one()) <= 0 || BN_num_bits(be) > 64) {
        rc = sai_error_set(err, SAI_EINVAL, "the RSA exponent must be odd, > 1, at most 64 bits");
    }
    OSSL_PARAM_BLD *bld = rc == 0 ? OSSL_PARAM_BLD_new() : NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    if (rc == 0) {
        int ok = bld != NULL && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) == 1 &&
                 OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) == 1 &&
                 (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
                 (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) != NULL &&
                 EVP_PKEY_fromdata_init(ctx) == 1 &&
                 EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1;
        if (!ok)
            rc = sai_error_set(err, SAI_EINVAL, "the RSA JWK does not make a key");
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return rc;
}

void sai_kbs__tkey_free(sai_kbs_tkey_t *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k->jwk);
    memset(k, 0, sizeof *k);
}

/* The typed members only, as kbs-types' TeePubKey has them: that object,
 * canonicalised, is what the runtime data hash and the token carry. */
int sai_kbs__tkey_from_json(sai_kbs_tkey_t *k, const cJSON *jwk, sai_error_t *err)
{
    memset(k, 0, sizeof *k);
    if (!cJSON_IsObject(jwk))
        return sai_error_set(err, SAI_EINVAL, "tee-pubkey must be a JSON object (a JWK)");
    if (cJSON_GetObjectItemCaseSensitive(jwk, "d") != NULL)
        return sai_error_set(err, SAI_EINVAL, "the JWK carries a private key (\"d\"); send only the public key");
    const char *kty = str_member(jwk, "kty", 8), *alg = str_member(jwk, "alg", 32);
    if (kty == NULL || alg == NULL)
        return sai_error_set(err, SAI_EINVAL, "the JWK needs string members \"kty\" and \"alg\"");
    cJSON *canon = cJSON_CreateObject();
    uint8_t *a = NULL, *b = NULL;
    size_t al = 0, bl = 0;
    int rc = 0;
    if (canon == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (strcmp(kty, "EC") == 0) {
        const char *crv = str_member(jwk, "crv", 8), *x = str_member(jwk, "x", 100),
                   *y = str_member(jwk, "y", 100);
        size_t cl = crv && strcmp(crv, "P-256") == 0 ? 32 : crv && strcmp(crv, "P-521") == 0 ? 66 : 0;
        if (cl == 0)
            rc = sai_error_set(err, SAI_EINVAL, "an EC TEE key must be on P-256 or P-521");
        else if (strcmp(alg, ECDH_A256KW) != 0)
            rc = sai_error_set(err, SAI_EINVAL, "an EC TEE key's alg must be " ECDH_A256KW);
        else if (x == NULL || y == NULL)
            rc = sai_error_set(err, SAI_EINVAL, "the EC JWK needs \"x\" and \"y\"");
        if (rc == 0 && (rc = b64u_field(&a, &al, x, cl, 0, "x", err)) == 0 &&
            (rc = b64u_field(&b, &bl, y, cl, 0, "y", err)) == 0 &&
            (rc = ec_from_xy(&k->pkey, strcmp(crv, "P-256") == 0 ? "P-256" : "P-521", a, b, cl, err)) == 0) {
            k->kind = SAI_KBS_TKEY_EC;
            snprintf(k->crv, sizeof k->crv, "%s", crv);
            k->coord_len = cl;
            cJSON_AddStringToObject(canon, "alg", alg);
            cJSON_AddStringToObject(canon, "crv", crv);
            cJSON_AddStringToObject(canon, "kty", "EC");
            cJSON_AddStringToObject(canon, "x", x);
            cJSON_AddStringToObject(canon, "y", y);
        }
    } else if (strcmp(kty, "RSA") == 0) {
        const char *n = str_member(jwk, "n", 2048), *e = str_member(jwk, "e", 16);
        if (strcmp(alg, RSA_OAEP256) != 0)
            rc = sai_error_set(err, SAI_EINVAL, "an RSA TEE key's alg must be " RSA_OAEP256
                               " (RSA1_5 is refused)");
        else if (n == NULL || e == NULL)
            rc = sai_error_set(err, SAI_EINVAL, "the RSA JWK needs \"n\" and \"e\" (n at most %d bits)",
                               RSA_MAX_BITS);
        if (rc == 0 && (rc = b64u_field(&a, &al, n, 0, RSA_MAX_BITS / 8 + 1, "n", err)) == 0 &&
            (rc = b64u_field(&b, &bl, e, 0, 8, "e", err)) == 0 &&
            (rc = rsa_from_ne(&k->pkey, a, al, b, bl, err)) == 0) {
            k->kind = SAI_KBS_TKEY_RSA;
            cJSON_AddStringToObject(canon, "alg", alg);
            cJSON_AddStringToObject(canon, "e", e);
            cJSON_AddStringToObject(canon, "kty", "RSA");
            cJSON_AddStringToObject(canon, "n", n);
        }
    } else {
        rc = sai_error_set(err, SAI_EINVAL, "the JWK's kty must be EC or RSA");
    }
    if (rc == 0)
        rc = sai_kbs__jcs(canon, &k->jwk, NULL, err);
    free(a);
    free(b);
    cJSON_Delete(canon);
    if (rc != 0)
        sai_kbs__tkey_free(k);
    return rc;
}

int sai_kbs__tkey_parse(sai_kbs_tkey_t *k, const char *json, size_t len, sai_error_t *err)
{
    memset(k, 0, sizeof *k);
    cJSON *j = sai_kbs__json_parse(json, len, err);
    if (j == NULL)
        return err ? err->code : SAI_EINVAL;
    int rc = sai_kbs__tkey_from_json(k, j, err);
    cJSON_Delete(j);
    return rc;
}

/* ---- runtime data --------------------------------------------------------------------
 * report data = SHA-384(JCS({"additional-evidence": .., "nonce": ..,
 * "tee-pubkey": <typed JWK>})) followed by 16 zero bytes: the primary
 * attester's runtime data as kbs_protocol 0.4.0 builds it (sha384 is its
 * default; this KBS never selects another), padded to the 64 bytes of an
 * SNP/TDX report data field. */
int sai_kbs__trustee_report_data(uint8_t rd[static SAI_KBS_REPORT_DATA_LEN], const char *nonce,
                                 const char *tkey_jwk, const char *additional_evidence,
                                 sai_error_t *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *k = cJSON_Parse(tkey_jwk);
    char *text = NULL;
    size_t tl = 0;
    int rc = 0;
    if (o == NULL || k == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(k);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    cJSON_AddStringToObject(o, "additional-evidence", additional_evidence);
    cJSON_AddStringToObject(o, "nonce", nonce);
    cJSON_AddItemToObject(o, "tee-pubkey", k);
    memset(rd, 0, SAI_KBS_REPORT_DATA_LEN);
    if ((rc = sai_kbs__jcs(o, &text, &tl, err)) == 0)
        rc = sai_hash(SAI_SHA384, rd, text, tl, err);
    free(text);
    cJSON_Delete(o);
    return rc;
}

/* ---- the /attest body ------------------------------------------------------------------ */
void sai_kbs__trustee_attest_free(sai_kbs_trustee_attest_t *r)
{
    sai_kbs__tkey_free(&r->key);
    free(r->evidence);
    free(r->additional);
    memset(r, 0, sizeof *r);
}

int sai_kbs__parse_trustee_attest(sai_kbs_trustee_attest_t *r, const char *body, size_t len,
                                  sai_error_t *err)
{
    memset(r, 0, sizeof *r);
    cJSON *j = sai_kbs__json_parse(body, len, err);
    if (j == NULL)
        return err ? err->code : SAI_EINVAL;
    int rc = 0;
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(j, "runtime-data");
    const cJSON *te = cJSON_GetObjectItemCaseSensitive(j, "tee-evidence");
    const cJSON *init = cJSON_GetObjectItemCaseSensitive(j, "init-data");
    const char *nonce = cJSON_IsObject(rt) ? str_member(rt, "nonce", sizeof r->nonce - 1) : NULL;
    const cJSON *pe = cJSON_IsObject(te) ? cJSON_GetObjectItemCaseSensitive(te, "primary_evidence") : NULL;
    const cJSON *ae = cJSON_IsObject(te) ? cJSON_GetObjectItemCaseSensitive(te, "additional_evidence") : NULL;
    if (!cJSON_IsObject(rt) || nonce == NULL || nonce[0] == '\0' ||
        strspn(nonce, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_") != strlen(nonce)) {
        /* Nonces are base64 (Trustee's and this KBS's alike). */
        rc = sai_error_set(err, SAI_EINVAL, "\"runtime-data\" must be an object with a base64 \"nonce\"");
    } else if (!cJSON_IsObject(te) || pe == NULL) {
        rc = sai_error_set(err, SAI_EINVAL, "\"tee-evidence\" must be an object with \"primary_evidence\"");
    } else if (init != NULL && !cJSON_IsNull(init)) {
        /* Nothing here could check it against the evidence: refused rather
         * than ignored, so no client believes its init data was appraised. */
        rc = sai_error_set(err, SAI_EUNSUPP, "\"init-data\" is not supported by this KBS");
    } else if (ae != NULL && !cJSON_IsString(ae)) {
        rc = sai_error_set(err, SAI_EINVAL, "\"additional_evidence\" must be a string");
    } else if (ae != NULL && ae->valuestring[0] != '\0') {
        rc = sai_error_set(err, SAI_EUNSUPP, "additional evidence (other TEE devices) is not supported");
    }
    if (rc == 0)
        rc = sai_kbs__tkey_from_json(&r->key, cJSON_GetObjectItemCaseSensitive(rt, "tee-pubkey"), err);
    if (rc == 0) {
        snprintf(r->nonce, sizeof r->nonce, "%s", nonce);
        r->additional = strdup("");
        if (cJSON_IsString(pe))
            r->evidence = strdup(pe->valuestring);
        else if (cJSON_IsObject(pe))
            r->evidence = cJSON_PrintUnformatted(pe);
        else
            rc = sai_error_set(err, SAI_EINVAL, "\"primary_evidence\" must be an object or a string");
    }
    if (rc == 0 && (r->evidence == NULL || r->additional == NULL))
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (rc == 0) {
        r->evidence_len = strlen(r->evidence);
        if (r->evidence_len == 0 || r->evidence_len > SAI_KBS_MAX_EVIDENCE)
            rc = sai_error_set(err, SAI_ELIMIT, "the evidence must be 1..%d bytes", SAI_KBS_MAX_EVIDENCE);
    }
    cJSON_Delete(j);
    if (rc != 0)
        sai_kbs__trustee_attest_free(r);
    return rc;
}

/* ---- JWE: ECDH-ES+A256KW / RSA-OAEP-256, A256GCM, flattened JSON --------------------------- */
/* Concat KDF (NIST SP 800-56A, RFC 7518 4.6.2) for 256 bits with
 * AlgorithmID = alg, empty PartyUInfo and PartyVInfo: one SHA-256 block. */
static int concat_kdf(uint8_t kek[32], const uint8_t *z, size_t zl, sai_error_t *err)
{
    static const char alg[] = ECDH_A256KW;
    uint8_t buf[4 + 66 + 4 + sizeof alg - 1 + 4 + 4 + 4];
    size_t n = 0, al = sizeof alg - 1;
    buf[n++] = 0, buf[n++] = 0, buf[n++] = 0, buf[n++] = 1;
    memcpy(buf + n, z, zl), n += zl;
    buf[n++] = 0, buf[n++] = 0, buf[n++] = 0, buf[n++] = (uint8_t)al;
    memcpy(buf + n, alg, al), n += al;
    memset(buf + n, 0, 8), n += 8;
    buf[n++] = 0, buf[n++] = 0, buf[n++] = 1, buf[n++] = 0;   /* 256 bits */
    int rc = sai_hash(SAI_SHA256, kek, buf, n, err);
    sai_wipe(buf, sizeof buf);
    return rc;
}

static int ecdh(uint8_t z[66], size_t *zl, EVP_PKEY *priv, EVP_PKEY *peer, sai_error_t *err)
{
    *zl = 66;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1 &&
             EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) == 1 && EVP_PKEY_derive(ctx, z, zl) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        sai_wipe(z, 66);
        return sai_error_set(err, SAI_ECRYPTO, "ECDH failed");
    }
    return 0;
}

/* AES-256 key wrap (RFC 3394) of a 32-byte key: 40 bytes; unwrap checks
 * the integrity value. */
static int aes_kw(bool wrap, const uint8_t kek[32], const uint8_t *in, size_t inl, uint8_t *out,
                  size_t *outl, sai_error_t *err)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0;
    int ok = ctx != NULL;
    if (ok)
        EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    ok = ok && EVP_CipherInit_ex(ctx, EVP_aes_256_wrap(), NULL, kek, NULL, wrap ? 1 : 0) == 1 &&
         EVP_CipherUpdate(ctx, out, &l1, in, (int)inl) == 1 && l1 > 0 &&
         EVP_CipherFinal_ex(ctx, out + l1, &l2) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok)
        return sai_error_set(err, wrap ? SAI_ECRYPTO : SAI_EAUTH,
                             wrap ? "AES key wrap failed" : "the wrapped key does not unwrap (A256KW)");
    *outl = (size_t)(l1 + l2);
    return 0;
}

static int rsa_oaep(bool enc, EVP_PKEY *k, const uint8_t *in, size_t inl, uint8_t *out, size_t *outl,
                    sai_error_t *err)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
    int ok = ctx != NULL && (enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1 &&
             (enc ? EVP_PKEY_encrypt(ctx, out, outl, in, inl) : EVP_PKEY_decrypt(ctx, out, outl, in, inl)) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return sai_error_set(err, enc ? SAI_ECRYPTO : SAI_EAUTH,
                             enc ? "RSA-OAEP-256 encryption failed" : "the encrypted key does not decrypt (RSA-OAEP-256)");
    return 0;
}

static int fresh_ec(EVP_PKEY **out, const char *crv, sai_error_t *err)
{
    *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", crv);
    return *out ? 0 : sai_error_set(err, SAI_ECRYPTO, "cannot generate a %s key", crv);
}

static int ec_xy(EVP_PKEY *k, size_t cl, char **x, char **y, sai_error_t *err)
{
    uint8_t pt[1 + 2 * 66];
    size_t pl = 0;
    if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof pt, &pl) != 1 ||
        pl != 1 + 2 * cl || pt[0] != 0x04)
        return sai_error_set(err, SAI_ECRYPTO, "cannot export the EC point");
    int rc = sai_b64url_encode(x, pt + 1, cl, err);
    if (rc == 0 && (rc = sai_b64url_encode(y, pt + 1 + cl, cl, err)) != 0) {
        free(*x);
        *x = NULL;
    }
    return rc;
}

int sai_kbs__trustee_wrap(char **json, const sai_kbs_tkey_t *k, const uint8_t *secret, size_t len,
                          sai_error_t *err)
{
    *json = NULL;
    uint8_t cek[32], iv[12], tag[16], ek[1024], kek[32], z[66];
    size_t ekl = sizeof ek, zl = 0;
    char hdr[512], *ph = NULL, *pek = NULL, *piv = NULL, *pct = NULL, *ptag = NULL, *x = NULL, *y = NULL;
    uint8_t *ct = malloc(len ? len : 1);
    EVP_PKEY *eph = NULL;
    sai_aead_t *a = NULL;
    int rc = ct ? 0 : sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (rc == 0 && (rc = sai_random_bytes(cek, sizeof cek, err)) == 0)
        rc = sai_random_bytes(iv, sizeof iv, err);
    if (rc == 0 && k->kind == SAI_KBS_TKEY_EC) {
        /* The epk member order is Trustee's (and serde's sorted order), so
         * a client that re-serialises the header gets the same AAD. */
        if ((rc = fresh_ec(&eph, k->crv, err)) == 0 && (rc = ecdh(z, &zl, eph, k->pkey, err)) == 0 &&
            (rc = concat_kdf(kek, z, zl, err)) == 0 &&
            (rc = aes_kw(true, kek, cek, sizeof cek, ek, &ekl, err)) == 0 &&
            (rc = ec_xy(eph, k->coord_len, &x, &y, err)) == 0)
            snprintf(hdr, sizeof hdr,
                     "{\"alg\":\"" ECDH_A256KW "\",\"enc\":\"A256GCM\",\"epk\":{\"crv\":\"%s\",\"kty\":\"EC\","
                     "\"x\":\"%s\",\"y\":\"%s\"}}", k->crv, x, y);
    } else if (rc == 0 && k->kind == SAI_KBS_TKEY_RSA) {
        if ((rc = rsa_oaep(true, k->pkey, cek, sizeof cek, ek, &ekl, err)) == 0)
            snprintf(hdr, sizeof hdr, "{\"alg\":\"" RSA_OAEP256 "\",\"enc\":\"A256GCM\"}");
    } else if (rc == 0) {
        rc = sai_error_set(err, SAI_EINVAL, "no TEE key to wrap to");
    }
    if (rc == 0)
        rc = sai_b64url_encode(&ph, (const uint8_t *)hdr, strlen(hdr), err);
    if (rc == 0 && (rc = sai_aead_new(&a, cek, err)) == 0)
        rc = sai_aead_seal(a, ct, tag, secret, len, (const uint8_t *)ph, strlen(ph), iv, err);
    if (rc == 0 && (rc = sai_b64url_encode(&pek, ek, ekl, err)) == 0 &&
        (rc = sai_b64url_encode(&piv, iv, sizeof iv, err)) == 0 &&
        (rc = sai_b64url_encode(&pct, ct, len, err)) == 0 &&
        (rc = sai_b64url_encode(&ptag, tag, sizeof tag, err)) == 0) {
        size_t n = strlen(ph) + strlen(pek) + strlen(piv) + strlen(pct) + strlen(ptag) + 96;
        if ((*json = malloc(n)) == NULL)
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        else
            snprintf(*json, n, "{\"protected\":\"%s\",\"encrypted_key\":\"%s\",\"iv\":\"%s\","
                     "\"ciphertext\":\"%s\",\"tag\":\"%s\"}", ph, pek, piv, pct, ptag);
    }
    sai_wipe(cek, sizeof cek);
    sai_wipe(kek, sizeof kek);
    sai_wipe(z, sizeof z);
    sai_aead_free(a);
    EVP_PKEY_free(eph);
    free(ct); free(ph); free(pek); free(piv); free(pct); free(ptag); free(x); free(y);
    return rc;
}

/* A base64url member of the JWE: exactly want bytes (want != 0) or at most max. */
static int jwe_field(uint8_t **out, size_t *n, const cJSON *o, const char *name, size_t want, size_t max,
                     sai_error_t *err)
{
    *out = NULL;
    *n = 0;
    const char *s = str_member(o, name, max * 4 / 3 + 4);
    if (s == NULL)
        return sai_error_set(err, SAI_EFORMAT, "the JWE's \"%s\" is missing, not a string or too long", name);
    if (s[0] == '\0' && want == 0)
        return 0;
    if (sai_b64_decode(out, n, s, strlen(s), NULL) != 0 || (want && *n != want) || *n > max) {
        free(*out);
        *out = NULL;
        return sai_error_set(err, SAI_EFORMAT, "the JWE's \"%s\" is not valid base64url of the right size", name);
    }
    return 0;
}

int sai_kbs__trustee_unwrap(sai_secret_t **out, const sai_kbs_tkey_t *priv, const char *json, size_t len,
                            sai_error_t *err)
{
    *out = NULL;
    cJSON *j = sai_kbs__json_parse(json, len, err), *h = NULL;
    if (j == NULL)
        return err ? err->code : SAI_EFORMAT;
    uint8_t *hdr = NULL, *ek = NULL, *iv = NULL, *ct = NULL, *tag = NULL, *ex = NULL, *ey = NULL;
    size_t hl = 0, ekl = 0, ivl = 0, ctl = 0, tagl = 0, exl = 0, eyl = 0, zl = 0, cekl = 0;
    uint8_t z[66], kek[32], cek[1024];
    char *aad = NULL;
    EVP_PKEY *epk = NULL;
    sai_aead_t *a = NULL;
    const char *ph = str_member(j, "protected", 4096);
    const cJSON *jaad = cJSON_GetObjectItemCaseSensitive(j, "aad");
    int rc = 0;
    if (ph == NULL || ph[0] == '\0')
        rc = sai_error_set(err, SAI_EFORMAT, "the JWE has no protected header");
    else if (jaad != NULL && (!cJSON_IsString(jaad) || strlen(jaad->valuestring) > 4096))
        rc = sai_error_set(err, SAI_EFORMAT, "the JWE's \"aad\" must be a short string");
    if (rc == 0 && (rc = jwe_field(&hdr, &hl, j, "protected", 0, 3072, err)) == 0 &&
        (rc = jwe_field(&ek, &ekl, j, "encrypted_key", 0, RSA_MAX_BITS / 8, err)) == 0 &&
        (rc = jwe_field(&iv, &ivl, j, "iv", 12, 12, err)) == 0 &&
        (rc = jwe_field(&ct, &ctl, j, "ciphertext", 0, SAI_KBS_MAX_SECRET, err)) == 0 &&
        (rc = jwe_field(&tag, &tagl, j, "tag", 16, 16, err)) == 0) {
        h = cJSON_ParseWithLength((const char *)hdr, hl);
        const char *alg = cJSON_IsObject(h) ? str_member(h, "alg", 32) : NULL;
        const char *enc = cJSON_IsObject(h) ? str_member(h, "enc", 32) : NULL;
        if (alg == NULL || enc == NULL || strcmp(enc, "A256GCM") != 0) {
            rc = sai_error_set(err, SAI_EFORMAT, "the JWE header must name alg and enc A256GCM");
        } else if (priv->kind == SAI_KBS_TKEY_EC) {
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(h, "epk");
            const char *kty = cJSON_IsObject(e) ? str_member(e, "kty", 8) : NULL;
            const char *crv = cJSON_IsObject(e) ? str_member(e, "crv", 8) : NULL;
            const char *x = cJSON_IsObject(e) ? str_member(e, "x", 100) : NULL;
            const char *y = cJSON_IsObject(e) ? str_member(e, "y", 100) : NULL;
            if (strcmp(alg, ECDH_A256KW) != 0 || kty == NULL || strcmp(kty, "EC") != 0 || crv == NULL ||
                strcmp(crv, priv->crv) != 0 || x == NULL || y == NULL || ekl != 40)
                rc = sai_error_set(err, SAI_EFORMAT, "the JWE is not " ECDH_A256KW " to a %s key", priv->crv);
            if (rc == 0 && (rc = b64u_field(&ex, &exl, x, priv->coord_len, 0, "epk x", err)) == 0 &&
                (rc = b64u_field(&ey, &eyl, y, priv->coord_len, 0, "epk y", err)) == 0 &&
                (rc = ec_from_xy(&epk, priv->crv, ex, ey, priv->coord_len, err)) == 0 &&
                (rc = ecdh(z, &zl, priv->pkey, epk, err)) == 0 && (rc = concat_kdf(kek, z, zl, err)) == 0)
                rc = aes_kw(false, kek, ek, ekl, cek, &cekl, err);
        } else if (priv->kind == SAI_KBS_TKEY_RSA) {
            cekl = sizeof cek;
            if (strcmp(alg, RSA_OAEP256) != 0 || ekl == 0)
                rc = sai_error_set(err, SAI_EFORMAT, "the JWE is not " RSA_OAEP256);
            else
                rc = rsa_oaep(false, priv->pkey, ek, ekl, cek, &cekl, err);
        } else {
            rc = sai_error_set(err, SAI_EINVAL, "no TEE key to unwrap with");
        }
    }
    if (rc == 0 && cekl != 32)
        rc = sai_error_set(err, SAI_EAUTH, "the content key is not 32 bytes");
    if (rc == 0) {
        /* AAD: ASCII(protected), and "." aad when the JWE has one (RFC 7516 5.2). */
        size_t al = strlen(ph) + (jaad ? strlen(jaad->valuestring) + 1 : 0) + 1;
        if ((aad = malloc(al)) == NULL)
            rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        else
            snprintf(aad, al, "%s%s%s", ph, jaad ? "." : "", jaad ? jaad->valuestring : "");
    }
    if (rc == 0 && (rc = sai_aead_new(&a, cek, err)) == 0 && (rc = sai_secret_new(out, ctl, err)) == 0 &&
        (rc = sai_aead_open(a, (*out)->data, ct, ctl, tag, (const uint8_t *)aad, strlen(aad), iv, err)) != 0) {
        sai_secret_free(*out);
        *out = NULL;
    }
    sai_wipe(z, sizeof z);
    sai_wipe(kek, sizeof kek);
    sai_wipe(cek, sizeof cek);
    sai_aead_free(a);
    EVP_PKEY_free(epk);
    cJSON_Delete(h);
    cJSON_Delete(j);
    free(hdr); free(ek); free(iv); free(ct); free(tag); free(ex); free(ey); free(aad);
    return rc;
}

/* A fresh TEE key pair of the given type, its typed public JWK in k->jwk. */
int sai_kbs__tkey_generate(sai_kbs_tkey_t *k, sai_kbs_tee_key_t type, sai_error_t *err)
{
    memset(k, 0, sizeof *k);
    char buf[2048], *x = NULL, *y = NULL, *n = NULL, *e = NULL;
    int rc = 0;
    if (type == SAI_KBS_TEE_KEY_P256 || type == SAI_KBS_TEE_KEY_P521) {
        const char *crv = type == SAI_KBS_TEE_KEY_P256 ? "P-256" : "P-521";
        k->kind = SAI_KBS_TKEY_EC;
        k->coord_len = type == SAI_KBS_TEE_KEY_P256 ? 32 : 66;
        snprintf(k->crv, sizeof k->crv, "%s", crv);
        if ((rc = fresh_ec(&k->pkey, crv, err)) == 0 && (rc = ec_xy(k->pkey, k->coord_len, &x, &y, err)) == 0)
            snprintf(buf, sizeof buf, "{\"alg\":\"" ECDH_A256KW "\",\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\","
                     "\"y\":\"%s\"}", crv, x, y);
    } else if (type == SAI_KBS_TEE_KEY_RSA) {
        k->kind = SAI_KBS_TKEY_RSA;
        BIGNUM *bn = NULL, *be = NULL;
        uint8_t nb[RSA_MAX_BITS / 8], eb[8];
        int nl = 0, el = 0;
        if ((k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_MIN_BITS)) == NULL ||
            EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &bn) != 1 ||
            EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, &be) != 1 ||
            (nl = BN_bn2bin(bn, nb)) <= 0 || BN_num_bytes(be) > 8 || (el = BN_bn2bin(be, eb)) <= 0)
            rc = sai_error_set(err, SAI_ECRYPTO, "cannot generate an RSA key");
        BN_free(bn);
        BN_free(be);
        if (rc == 0 && (rc = sai_b64url_encode(&n, nb, (size_t)nl, err)) == 0 &&
            (rc = sai_b64url_encode(&e, eb, (size_t)el, err)) == 0)
            snprintf(buf, sizeof buf, "{\"alg\":\"" RSA_OAEP256 "\",\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", e, n);
    } else {
        rc = sai_error_set(err, SAI_EINVAL, "unknown TEE key type %d", (int)type);
    }
    if (rc == 0 && (k->jwk = strdup(buf)) == NULL)
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
    free(x); free(y); free(n); free(e);
    if (rc != 0)
        sai_kbs__tkey_free(k);
    return rc;
}

/* ---- attested kbs-session-id cookies -------------------------------------------------------
 * Direct-mapped by the session id (random hex): a newer session displaces
 * an older one in its slot, whose client then gets a 401 and, as Trustee's
 * clients do, attests again. Only successful attestations enter, so the
 * table is no target for an unauthenticated flood. */
#define COOKIE_SLOTS 4096

typedef struct cookie_slot {
    char    id[33];
    char   *token;
    int64_t exp;
} cookie_slot;

struct sai_kbs_cookies_t {
    pthread_mutex_t mu;
    cookie_slot     slot[COOKIE_SLOTS];
};

int sai_kbs__cookies_new(sai_kbs_cookies_t **out, sai_error_t *err)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    pthread_mutex_init(&(*out)->mu, NULL);
    return 0;
}

void sai_kbs__cookies_free(sai_kbs_cookies_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < COOKIE_SLOTS; i++)
        free(t->slot[i].token);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static bool cookie_id_ok(const char *id)
{
    return strlen(id) == 32 && strspn(id, "0123456789abcdef") == 32;
}

static size_t cookie_ix(const char *id)
{
    uint8_t b[4];
    if (sai_hex_decode(b, sizeof b, (char[9]){id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7], 0},
                       NULL) != 0)
        return 0;
    return (((size_t)b[0] << 24) | ((size_t)b[1] << 16) | ((size_t)b[2] << 8) | b[3]) % COOKIE_SLOTS;
}

void sai_kbs__cookie_put(sai_kbs_cookies_t *t, const char *id, const char *token, int64_t exp)
{
    char *copy = cookie_id_ok(id) ? strdup(token) : NULL;
    if (copy == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    cookie_slot *s = &t->slot[cookie_ix(id)];
    free(s->token);
    memcpy(s->id, id, 33);
    s->token = copy;
    s->exp = exp;
    pthread_mutex_unlock(&t->mu);
}

char *sai_kbs__cookie_token(sai_kbs_cookies_t *t, const char *id, int64_t now)
{
    if (!cookie_id_ok(id))
        return NULL;
    char *tok = NULL;
    pthread_mutex_lock(&t->mu);
    cookie_slot *s = &t->slot[cookie_ix(id)];
    if (s->token && s->exp > now && sai_ct_equal(s->id, id, 32))
        tok = strdup(s->token);
    pthread_mutex_unlock(&t->mu);
    return tok;
}

/* ---- the /auth body ---------------------------------------------------------------------- */
static bool lists_sha384(const cJSON *a)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, a)
        if (cJSON_IsString(v) && strcasecmp(v->valuestring, "sha384") == 0)
            return true;
    return false;
}

int sai_kbs__parse_trustee_auth(sai_kbs_trustee_auth_t *r, const char *body, size_t len, sai_error_t *err)
{
    memset(r, 0, sizeof *r);
    /* A first, lenient look: a body without a string version, or with
     * SecureAI's own, is SecureAI's (its parser has the say on it). */
    cJSON *j = len > 0 && len < 64 * 1024 ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *v = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "version") : NULL;
    bool ours = !cJSON_IsString(v) || strcmp(v->valuestring, "0.1.0") == 0 || strcmp(v->valuestring, "0") == 0;
    cJSON_Delete(j);
    if (ours)
        return SAI_ENOTFOUND;
    if ((j = sai_kbs__json_parse(body, len, err)) == NULL)
        return err ? err->code : SAI_EINVAL;
    int rc = 0;
    v = cJSON_GetObjectItemCaseSensitive(j, "version");
    const cJSON *tee = cJSON_GetObjectItemCaseSensitive(j, "tee");
    const cJSON *xp = cJSON_GetObjectItemCaseSensitive(j, "extra-params");
    const cJSON *algs = cJSON_IsObject(xp) ? cJSON_GetObjectItemCaseSensitive(xp, "supported-hash-algorithms") : NULL;
    if (strcmp(v->valuestring, SAI_KBS_TRUSTEE_VERSION) != 0) {
        rc = sai_error_set(err, SAI_EAUTH, "protocol version \"%.20s\" is not supported: this KBS speaks "
                           SAI_KBS_TRUSTEE_VERSION " (Trustee's KBS protocol) and 0.1.0 (SecureAI's)",
                           v->valuestring);
    } else if (!cJSON_IsString(tee) || strlen(tee->valuestring) >= sizeof r->tee) {
        rc = sai_error_set(err, SAI_EINVAL, "member \"tee\" must be a TEE name");
    } else if ((rc = sai_kbs__trustee_tee(tee->valuestring, &r->kind, err)) != 0) {
        /* the sentence is set */
    } else if (xp != NULL && !cJSON_IsObject(xp) && !cJSON_IsNull(xp) &&
               !(cJSON_IsString(xp) && xp->valuestring[0] == '\0')) {
        rc = sai_error_set(err, SAI_EINVAL, "\"extra-params\" must be an object");
    } else if (algs != NULL && (!cJSON_IsArray(algs) || !lists_sha384(algs))) {
        rc = sai_error_set(err, SAI_EAUTH, "no common hash algorithm: this KBS binds runtime data with sha384");
    } else if (cJSON_IsObject(xp) && cJSON_GetObjectItemCaseSensitive(xp, "attestation-policy-selector")) {
        rc = sai_error_set(err, SAI_EAUTH, "no attestation-policy-selector is mapped here (one attestation "
                           "policy appraises all evidence)");
    } else {
        snprintf(r->tee, sizeof r->tee, "%s", tee->valuestring);
    }
    cJSON_Delete(j);
    return rc;
}

void sai_kbs__b64std_nonce(char out[static 45], const uint8_t nonce[static SAI_KBS_NONCE_LEN])
{
    EVP_EncodeBlock((unsigned char *)out, nonce, SAI_KBS_NONCE_LEN);
}
