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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "kbs/kbs_internal.h"
#include "secureai/util.h"

#define WRAP_INFO "secureai/v1/kbs-wrap"
#define WRAP_ALG  "ECDH-ES+HKDF-SHA256"

/* ECDH with the peer point checked once, cheaply. sai_ecdh goes through
 * EVP_PKEY_derive_set_peer, which in OpenSSL 3 runs the full public-key check
 * on the peer, including the n*Q scalar multiplication: a whole extra P-384
 * multiplication per wrap and per unwrap (perf probes on bench/kbs_load:
 * 5 EC_POINT_mul per flow on the server, 4 on the client). P-384 has
 * cofactor 1, so the quick check (the point is on the curve and not the
 * identity) already proves the point lies in the prime-order group; it is
 * done here, on every call, so the check does not depend on where the key
 * came from. */
static int ecdh_checked(const sai_ec_key *priv, const sai_ec_key *peer,
                        uint8_t z[static SAI_ECDH_P384_LEN], sai_error *err)
{
    size_t len = SAI_ECDH_P384_LEN;
    EVP_PKEY *peer_pk = sai_ec_evp(peer);
    EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, peer_pk, NULL);
    int ok = chk != NULL && EVP_PKEY_public_check_quick(chk) == 1;
    EVP_PKEY_CTX_free(chk);
    if (!ok)
        return sai_error_set(err, SAI_EINVAL, "the peer key is not a point on P-384");
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, sai_ec_evp(priv), NULL);
    ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1 &&
         EVP_PKEY_derive_set_peer_ex(ctx, peer_pk, 0) == 1 &&
         EVP_PKEY_derive(ctx, z, &len) == 1 && len == SAI_ECDH_P384_LEN;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        sai_wipe(z, SAI_ECDH_P384_LEN);
        return sai_error_set(err, SAI_ECRYPTO, "ECDH P-384 failed");
    }
    return 0;
}

static int derive(uint8_t cek[32], const sai_ec_key *priv, const sai_ec_key *peer,
                  const uint8_t epk_pt[SAI_P384_POINT_LEN],
                  const uint8_t rcpt_pt[SAI_P384_POINT_LEN], sai_error *err)
{
    uint8_t z[SAI_ECDH_P384_LEN];
    uint8_t info[sizeof WRAP_INFO - 1 + 2 * SAI_P384_POINT_LEN];
    int rc = ecdh_checked(priv, peer, z, err);
    if (rc != 0)
        return rc;
    memcpy(info, WRAP_INFO, sizeof WRAP_INFO - 1);
    memcpy(info + sizeof WRAP_INFO - 1, epk_pt, SAI_P384_POINT_LEN);
    memcpy(info + sizeof WRAP_INFO - 1 + SAI_P384_POINT_LEN, rcpt_pt, SAI_P384_POINT_LEN);
    rc = sai_hkdf_sha256(cek, 32, z, sizeof z, NULL, 0, info, sizeof info, err);
    sai_wipe(z, sizeof z);
    return rc;
}

int sai_kbs_wrap(char **jwe, const sai_ec_key *recipient, const uint8_t *secret, size_t len,
                 sai_error *err)
{
    *jwe = NULL;
    sai_ec_key *eph = NULL;
    sai_aead *aead = NULL;
    char *epk_json = NULL, *hdr = NULL, *b_hdr = NULL, *b_iv = NULL, *b_ct = NULL, *b_tag = NULL;
    uint8_t *ct = NULL;
    uint8_t cek[32], iv[SAI_AEAD_NONCE_LEN], tag[SAI_AEAD_TAG_LEN];
    uint8_t epk_pt[SAI_P384_POINT_LEN], rcpt_pt[SAI_P384_POINT_LEN];
    int rc;
    if (len == 0 || len > SAI_KBS_MAX_SECRET)
        return sai_error_set(err, SAI_EINVAL, "secret length %zu out of range", len);
    if ((rc = sai_ec_generate(&eph, err)) != 0 ||
        (rc = sai_ec_public_raw(eph, epk_pt, err)) != 0 ||
        (rc = sai_ec_public_raw(recipient, rcpt_pt, err)) != 0 ||
        (rc = derive(cek, eph, recipient, epk_pt, rcpt_pt, err)) != 0 ||
        (rc = sai_kbs_jwk_format(eph, &epk_json, err)) != 0)
        goto out;
    size_t hn = strlen(epk_json) + 96;
    if ((hdr = malloc(hn)) == NULL || (ct = malloc(len)) == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(hdr, hn, "{\"alg\":\"" WRAP_ALG "\",\"enc\":\"A256GCM\",\"epk\":%s}", epk_json);
    if ((rc = sai_b64url_encode(&b_hdr, (const uint8_t *)hdr, strlen(hdr), err)) != 0 ||
        (rc = sai_random_bytes(iv, sizeof iv, err)) != 0 ||
        (rc = sai_aead_new(&aead, cek, err)) != 0 ||
        (rc = sai_aead_seal(aead, ct, tag, secret, len, (const uint8_t *)b_hdr, strlen(b_hdr),
                            iv, err)) != 0 ||
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
    free(epk_json); free(hdr); free(b_hdr); free(b_iv); free(b_ct); free(b_tag); free(ct);
    return rc;
}

int sai_kbs_unwrap(sai_secret **out, const sai_ec_key *recipient_priv, const char *jwe,
                   size_t len, sai_error *err)
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
    sai_ec_key *epk = NULL;
    sai_aead *aead = NULL;
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
    if ((rc = sai_kbs_jwk_from_json(&epk, cJSON_GetObjectItemCaseSensitive(h, "epk"), epk_pt, err)) != 0 ||
        (rc = sai_ec_public_raw(recipient_priv, rcpt_pt, err)) != 0 ||
        (rc = derive(cek, recipient_priv, epk, epk_pt, rcpt_pt, err)) != 0 ||
        (rc = sai_aead_new(&aead, cek, err)) != 0 ||
        (rc = sai_secret_new(out, ctl, err)) != 0)
        goto out;
    rc = sai_aead_open(aead, (*out)->data, ct, ctl, tag, (const uint8_t *)part[0], plen[0], iv, err);
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
    free(hdr); free(iv); free(ct); free(tag);
    return rc;
}
