/*
 * wrap.c — JWE-style wrapping of a released secret to the TEE's ephemeral
 * P-384 key, so only the attested TEE (which holds the private half, bound
 * into its evidence) can read it; the TLS terminator, a logging proxy or a
 * stolen token see ciphertext only.
 *
 * Compact form, five dot-separated base64url parts as in RFC 7516 with an
 * empty encrypted-key part (direct key agreement):
 *   header . "" . iv . ciphertext . tag
 * header = {"alg":"ECDH-ES+HKDF-SHA256","enc":"A256GCM","epk":<JWK>}
 * CEK    = HKDF-SHA-256(ikm = ECDH x-coordinate, salt = empty,
 *                       info = "secureai/v1/kbs-wrap" || epk point || recipient point)
 * AAD    = ASCII of the encoded header (as JWE).
 * It differs from RFC 7518 ECDH-ES only in the KDF (HKDF instead of Concat
 * KDF), which is why alg carries its own name.
 *
 * The same construction runs the other way for attested registration: the
 * TEE wraps a secret it generated to the KBS's long-term wrap key, with the
 * HKDF label "secureai/v1/kbs-register" and additional authenticated data
 * binding the resource name and the attestation token (kbs.h,
 * sai_kbs_wrap_register), so a passive observer of the registration (a
 * proxy on an insecure_http channel, a TLS terminator) sees ciphertext only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kbs/kbs_internal.h"
#include "secureai/util.h"

#define WRAP_INFO "secureai/v1/kbs-wrap"
#define REG_INFO  "secureai/v1/kbs-register"
#define WRAP_ALG  "ECDH-ES+HKDF-SHA256"
#define LABEL_MAX 32

/* ECDH with the peer point checked once, cheaply: every sai_ec_key_t's
 * point was checked to be on the curve when the key was made (crypto/ec.c,
 * Nettle's ecc_point_set), and P-384 has cofactor 1, so that proves the
 * point lies in the prime-order group; OpenSSL's EVP_PKEY_derive_set_peer
 * would add the n*Q multiplication (perf probes on bench/kbs_load: 5
 * EC_POINT_mul per flow on the server, 4 on the client, before). */
static int ecdh_checked(const sai_ec_key_t *priv, const sai_ec_key_t *peer,
                        uint8_t z[static SAI_ECDH_P384_LEN], sai_error_t *err)
{
    return sai_ecdh(priv, peer, z, err);
}

static int derive(uint8_t cek[32], const char *label, const sai_ec_key_t *priv, const sai_ec_key_t *peer,
                  const uint8_t epk_pt[SAI_P384_POINT_LEN],
                  const uint8_t rcpt_pt[SAI_P384_POINT_LEN], sai_error_t *err)
{
    uint8_t z[SAI_ECDH_P384_LEN];
    uint8_t info[LABEL_MAX + 2 * SAI_P384_POINT_LEN];
    size_t ll = strlen(label);
    int rc = ecdh_checked(priv, peer, z, err);
    if (rc != 0)
        return rc;
    memcpy(info, label, ll);
    memcpy(info + ll, epk_pt, SAI_P384_POINT_LEN);
    memcpy(info + ll + SAI_P384_POINT_LEN, rcpt_pt, SAI_P384_POINT_LEN);
    rc = sai_hkdf_sha256(cek, 32, z, sizeof z, NULL, 0, info, ll + 2 * SAI_P384_POINT_LEN, err);
    sai_wipe(z, sizeof z);
    return rc;
}

/* The AAD: the encoded header, or (with extra data) encoded header "."
 * b64u(extra), as JWE's JSON serialisation forms it. *out is malloc'ed. */
static int make_aad(char **out, size_t *out_len, const char *b_hdr, size_t hlen, const uint8_t *extra,
                    size_t extra_len, sai_error_t *err)
{
    char *b_x = NULL;
    int rc = 0;
    if (extra != NULL && (rc = sai_b64url_encode(&b_x, extra, extra_len, err)) != 0)
        return rc;
    size_t n = hlen + (b_x ? strlen(b_x) + 1 : 0);
    if ((*out = malloc(n + 1)) == NULL) {
        free(b_x);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    memcpy(*out, b_hdr, hlen);
    if (b_x) {
        (*out)[hlen] = '.';
        memcpy(*out + hlen + 1, b_x, strlen(b_x));
    }
    (*out)[n] = '\0';
    *out_len = n;
    free(b_x);
    return 0;
}

static int wrap_ex(char **jwe, const char *label, const sai_ec_key_t *recipient, const uint8_t *secret,
                   size_t len, const uint8_t *extra, size_t extra_len, sai_error_t *err)
{
    *jwe = NULL;
    sai_ec_key_t *eph = NULL;
    sai_aead_t *aead = NULL;
    char *epk_json = NULL, *hdr = NULL, *b_hdr = NULL, *b_iv = NULL, *b_ct = NULL, *b_tag = NULL;
    uint8_t *ct = NULL;
    char *aad = NULL;
    size_t aad_len = 0;
    uint8_t cek[32], iv[SAI_AEAD_NONCE_LEN], tag[SAI_AEAD_TAG_LEN];
    uint8_t epk_pt[SAI_P384_POINT_LEN], rcpt_pt[SAI_P384_POINT_LEN];
    int rc;
    if (len == 0 || len > SAI_KBS_MAX_SECRET)
        return sai_error_set(err, SAI_EINVAL, "secret length %zu out of range", len);
    if ((rc = sai_ec_generate(&eph, err)) != 0 ||
        (rc = sai_ec_public_raw(eph, epk_pt, err)) != 0 ||
        (rc = sai_ec_public_raw(recipient, rcpt_pt, err)) != 0 ||
        (rc = derive(cek, label, eph, recipient, epk_pt, rcpt_pt, err)) != 0 ||
        (rc = sai_kbs_jwk_format(eph, &epk_json, err)) != 0)
        goto out;
    size_t hn = strlen(epk_json) + 96;
    if ((hdr = malloc(hn)) == NULL || (ct = malloc(len)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(hdr, hn, "{\"alg\":\"" WRAP_ALG "\",\"enc\":\"A256GCM\",\"epk\":%s}", epk_json);
    if ((rc = sai_b64url_encode(&b_hdr, (const uint8_t *)hdr, strlen(hdr), err)) != 0 ||
        (rc = make_aad(&aad, &aad_len, b_hdr, strlen(b_hdr), extra, extra_len, err)) != 0 ||
        (rc = sai_random_bytes(iv, sizeof iv, err)) != 0 ||
        (rc = sai_aead_new(&aead, cek, err)) != 0 ||
        (rc = sai_aead_seal(aead, ct, tag, secret, len, (const uint8_t *)aad, aad_len, iv, err)) != 0 ||
        (rc = sai_b64url_encode(&b_iv, iv, sizeof iv, err)) != 0 ||
        (rc = sai_b64url_encode(&b_ct, ct, len, err)) != 0 ||
        (rc = sai_b64url_encode(&b_tag, tag, sizeof tag, err)) != 0)
        goto out;
    size_t n = strlen(b_hdr) + strlen(b_iv) + strlen(b_ct) + strlen(b_tag) + 8;
    if ((*jwe = malloc(n)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(*jwe, n, "%s..%s.%s.%s", b_hdr, b_iv, b_ct, b_tag);
out:
    sai_wipe(cek, sizeof cek);
    sai_aead_free(aead);
    sai_ec_free(eph);
    free(epk_json); free(hdr); free(b_hdr); free(b_iv); free(b_ct); free(b_tag); free(ct); free(aad);
    return rc;
}

int sai_kbs_wrap(char **jwe, const sai_ec_key_t *recipient, const uint8_t *secret, size_t len,
                 sai_error_t *err)
{
    return wrap_ex(jwe, WRAP_INFO, recipient, secret, len, NULL, 0, err);
}

static int unwrap_ex(sai_secret_t **out, const char *label, const sai_ec_key_t *recipient_priv,
                     const char *jwe, size_t len, const uint8_t *extra, size_t extra_len,
                     sai_error_t *err)
{
    *out = NULL;
    const char *part[5];
    size_t plen[5];
    const char *p = jwe, *end = jwe + len;
    for (int i = 0; i < 5; i++) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        if ((i < 4) != (dot != NULL))
            return sai_error_set(err, SAI_EFORMAT, "the wrapped secret is not a 5-part JWE");
        part[i] = p;
        plen[i] = dot ? (size_t)(dot - p) : (size_t)(end - p);
        p = dot ? dot + 1 : end;
    }
    if (plen[1] != 0)
        return sai_error_set(err, SAI_EFORMAT, "the wrapped secret has an encrypted key; expected direct agreement");
    uint8_t *hdr = NULL, *iv = NULL, *ct = NULL, *tag = NULL;
    size_t hl = 0, ivl = 0, ctl = 0, tagl = 0;
    cJSON *h = NULL;
    sai_ec_key_t *epk = NULL;
    sai_aead_t *aead = NULL;
    char *aad = NULL;
    size_t aad_len = 0;
    uint8_t cek[32], epk_pt[SAI_P384_POINT_LEN], rcpt_pt[SAI_P384_POINT_LEN];
    int rc;
    if (sai_b64_decode(&hdr, &hl, part[0], plen[0], NULL) != 0 ||
        sai_b64_decode(&iv, &ivl, part[2], plen[2], NULL) != 0 ||
        sai_b64_decode(&ct, &ctl, part[3], plen[3], NULL) != 0 ||
        sai_b64_decode(&tag, &tagl, part[4], plen[4], NULL) != 0 ||
        ivl != SAI_AEAD_NONCE_LEN || tagl != SAI_AEAD_TAG_LEN || ctl == 0 ||
        ctl > SAI_KBS_MAX_SECRET) {
        rc = sai_error_set(err, SAI_EFORMAT, "the wrapped secret has a malformed part");
        goto out;
    }
    h = cJSON_ParseWithLength((const char *)hdr, hl);
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(h, "enc");
    if (!cJSON_IsString(alg) || strcmp(alg->valuestring, WRAP_ALG) != 0 ||
        !cJSON_IsString(enc) || strcmp(enc->valuestring, "A256GCM") != 0) {
        rc = sai_error_set(err, SAI_EFORMAT, "the wrapped secret must be " WRAP_ALG " / A256GCM");
        goto out;
    }
    if ((rc = sai_kbs__jwk_from_json(&epk, cJSON_GetObjectItemCaseSensitive(h, "epk"), epk_pt, err)) != 0 ||
        (rc = sai_ec_public_raw(recipient_priv, rcpt_pt, err)) != 0 ||
        (rc = derive(cek, label, recipient_priv, epk, epk_pt, rcpt_pt, err)) != 0 ||
        (rc = make_aad(&aad, &aad_len, part[0], plen[0], extra, extra_len, err)) != 0 ||
        (rc = sai_aead_new(&aead, cek, err)) != 0 ||
        (rc = sai_secret_new(out, ctl, err)) != 0)
        goto out;
    rc = sai_aead_open(aead, (*out)->data, ct, ctl, tag, (const uint8_t *)aad, aad_len, iv, err);
    if (rc != 0)
        sai_error_set(err, SAI_EAUTH, "the wrapped secret does not authenticate for this key");
out:
    sai_wipe(cek, sizeof cek);
    if (rc != 0) {
        sai_secret_free(*out);
        *out = NULL;
    }
    sai_aead_free(aead);
    sai_ec_free(epk);
    cJSON_Delete(h);
    free(hdr); free(iv); free(ct); free(tag); free(aad);
    return rc;
}

int sai_kbs_unwrap(sai_secret_t **out, const sai_ec_key_t *recipient_priv, const char *jwe,
                   size_t len, sai_error_t *err)
{
    return unwrap_ex(out, WRAP_INFO, recipient_priv, jwe, len, NULL, 0, err);
}

/* A = label || 0x00 || resource || 0x00 || SHA-256(token); *a malloc'ed. */
static int register_aad(uint8_t **a, size_t *alen, const char *resource, const char *token,
                        sai_error_t *err)
{
    size_t rl = strlen(resource), ll = sizeof REG_INFO - 1;
    size_t n = ll + 1 + rl + 1 + SAI_SHA256_LEN;
    if (!sai_kbs__resource_name_ok(resource))
        return sai_error_set(err, SAI_EINVAL, "resource \"%s\" is not repo/type/tag", resource);
    if ((*a = malloc(n)) == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    memcpy(*a, REG_INFO, ll);
    (*a)[ll] = 0;
    memcpy(*a + ll + 1, resource, rl);
    (*a)[ll + 1 + rl] = 0;
    int rc = sai_hash(SAI_SHA256, *a + ll + 2 + rl, token, strlen(token), err);
    if (rc != 0) {
        free(*a);
        *a = NULL;
        return rc;
    }
    *alen = n;
    return 0;
}

int sai_kbs_wrap_register(char **jwe, const sai_ec_key_t *kbs_wrap_key, const char *resource,
                          const char *token, const uint8_t *secret, size_t len, sai_error_t *err)
{
    uint8_t *a = NULL;
    size_t al = 0;
    *jwe = NULL;
    int rc = register_aad(&a, &al, resource, token, err);
    if (rc == 0)
        rc = wrap_ex(jwe, REG_INFO, kbs_wrap_key, secret, len, a, al, err);
    free(a);
    return rc;
}

int sai_kbs_unwrap_register(sai_secret_t **out, const sai_ec_key_t *kbs_wrap_priv, const char *resource,
                            const char *token, const char *jwe, size_t len, sai_error_t *err)
{
    uint8_t *a = NULL;
    size_t al = 0;
    *out = NULL;
    int rc = register_aad(&a, &al, resource, token, err);
    if (rc == 0)
        rc = unwrap_ex(out, REG_INFO, kbs_wrap_priv, jwe, len, a, al, err);
    free(a);
    return rc;
}

int sai_kbs_wrap_key_hash(const sai_ec_key_t *k, uint8_t out[static SAI_SHA256_LEN], sai_error_t *err)
{
    uint8_t pt[SAI_P384_POINT_LEN];
    int rc = sai_ec_public_raw(k, pt, err);
    return rc != 0 ? rc : sai_hash(SAI_SHA256, out, pt, sizeof pt, err);
}
