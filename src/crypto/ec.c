/*
 * ec.c — P-384 keys, ECDSA (SHA-384) and ECDH over OpenSSL 3 EVP_PKEY.
 *
 * Signatures cross this API as raw r || s (the JWS ES384 and SEV-SNP form);
 * OpenSSL's DER form stays inside this file.
 */
#include "secureai/crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

struct sai_ec_key_t {
    EVP_PKEY *pkey;
};

static int wrap(sai_ec_key_t **out, EVP_PKEY *pkey, sai_error_t *err)
{
    sai_ec_key_t *k = calloc(1, sizeof *k);
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    k->pkey = pkey;
    *out = k;
    return 0;
}

static int is_p384(EVP_PKEY *pkey)
{
    char name[64];
    size_t len = 0;
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_EC)
        return 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name,
                                       sizeof name, &len) != 1)
        return 0;
    return strcmp(name, "secp384r1") == 0;
}

int sai_ec_generate(sai_ec_key_t **out, sai_error_t *err)
{
    *out = NULL;
    EVP_PKEY *pkey = EVP_EC_gen("P-384");
    if (pkey == NULL)
        return sai_error_set(err, SAI_ECRYPTO, "P-384 key generation failed");
    return wrap(out, pkey, err);
}

void sai_ec_free(sai_ec_key_t *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

bool sai_ec_has_private(const sai_ec_key_t *k)
{
    BIGNUM *d = NULL;
    if (EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1)
        return false;
    BN_clear_free(d);
    return true;
}

void *sai_ec_evp(const sai_ec_key_t *k) { return k->pkey; }

int sai_ec_from_evp(sai_ec_key_t **out, void *evp_pkey, sai_error_t *err)
{
    *out = NULL;
    EVP_PKEY *pkey = evp_pkey;
    if (!is_p384(pkey))
        return sai_error_set(err, SAI_EFORMAT, "key is not an EC P-384 key");
    if (EVP_PKEY_up_ref(pkey) != 1)
        return sai_error_set(err, SAI_ECRYPTO, "cannot reference key");
    return wrap(out, pkey, err);
}

int sai_ec_from_pem(sai_ec_key_t **out, const char *pem, size_t len, sai_error_t *err)
{
    *out = NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    if (pkey == NULL) {
        (void)BIO_reset(bio);
        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    }
    BIO_free(bio);
    if (pkey == NULL)
        return sai_error_set(err, SAI_EFORMAT, "not a PEM private or public key");
    if (!is_p384(pkey)) {
        EVP_PKEY_free(pkey);
        return sai_error_set(err, SAI_EFORMAT, "key is not an EC P-384 key");
    }
    return wrap(out, pkey, err);
}

static int bio_to_string(BIO *bio, char **pem, size_t *len, sai_error_t *err)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0)
        return sai_error_set(err, SAI_ECRYPTO, "PEM encoding failed");
    char *s = malloc((size_t)n + 1);
    if (s == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    *pem = s;
    *len = (size_t)n;
    return 0;
}

int sai_ec_private_pem(const sai_ec_key_t *k, char **pem, size_t *len, sai_error_t *err)
{
    int ret;
    /* BIO_s_secmem keeps the PEM text in OpenSSL's secure heap when enabled */
    BIO *bio = BIO_new(BIO_s_secmem());
    if (bio == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) != 1)
        ret = sai_error_set(err, SAI_ECRYPTO, "cannot encode private key");
    else
        ret = bio_to_string(bio, pem, len, err);
    BIO_free(bio);
    return ret;
}

int sai_ec_public_pem(const sai_ec_key_t *k, char **pem, size_t *len, sai_error_t *err)
{
    int ret;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    if (PEM_write_bio_PUBKEY(bio, k->pkey) != 1)
        ret = sai_error_set(err, SAI_ECRYPTO, "cannot encode public key");
    else
        ret = bio_to_string(bio, pem, len, err);
    BIO_free(bio);
    return ret;
}

void sai_ec_pem_free(char *pem, size_t len)
{
    if (pem == NULL)
        return;
    sai_wipe(pem, len);
    free(pem);
}

int sai_ec_public_raw(const sai_ec_key_t *k, uint8_t out[static SAI_P384_POINT_LEN], sai_error_t *err)
{
    size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, out,
                                        SAI_P384_POINT_LEN, &len) != 1 ||
        len != SAI_P384_POINT_LEN || out[0] != 0x04)
        return sai_error_set(err, SAI_ECRYPTO, "cannot export public key");
    return 0;
}

int sai_ec_from_public_raw(sai_ec_key_t **out, const uint8_t *point, size_t len, sai_error_t *err)
{
    *out = NULL;
    if (len != SAI_P384_POINT_LEN || point[0] != 0x04)
        return sai_error_set(err, SAI_EFORMAT, "a P-384 public key is 97 bytes starting 0x04");
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-384", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, len);
    params[2] = OSSL_PARAM_construct_end();
    /* EVP_PKEY_fromdata checks the point is on the curve */
    int ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
             EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        EVP_PKEY_free(pkey);
        return sai_error_set(err, SAI_EFORMAT, "invalid P-384 public key");
    }
    /* fromdata does not always validate the point; do it explicitly */
    EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    ok = chk != NULL && EVP_PKEY_public_check(chk) == 1;
    EVP_PKEY_CTX_free(chk);
    if (!ok) {
        EVP_PKEY_free(pkey);
        return sai_error_set(err, SAI_EFORMAT, "P-384 public key is not on the curve");
    }
    return wrap(out, pkey, err);
}

int sai_ec_from_public_xy(sai_ec_key_t **out, const uint8_t x[static 48], const uint8_t y[static 48],
                          sai_error_t *err)
{
    uint8_t point[SAI_P384_POINT_LEN];
    point[0] = 0x04;
    memcpy(point + 1, x, 48);
    memcpy(point + 49, y, 48);
    return sai_ec_from_public_raw(out, point, sizeof point, err);
}

int sai_ecdsa_raw_to_der(uint8_t *der, size_t *der_len, const uint8_t *raw, size_t scalar_len,
                         sai_error_t *err)
{
    int ret = SAI_ECRYPTO;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, (int)scalar_len, NULL);
    BIGNUM *s = BN_bin2bn(raw + scalar_len, (int)scalar_len, NULL);
    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        goto out;
    }
    int n = i2d_ECDSA_SIG(sig, NULL);
    if (n <= 0 || (size_t)n > *der_len)
        goto out;
    uint8_t *p = der;
    *der_len = (size_t)i2d_ECDSA_SIG(sig, &p);
    ret = 0;
out:
    ECDSA_SIG_free(sig);
    if (ret != 0)
        return sai_error_set(err, ret, "cannot encode ECDSA signature");
    return 0;
}

int sai_ecdsa_der_to_raw(uint8_t *raw, size_t scalar_len, const uint8_t *der, size_t der_len,
                         sai_error_t *err)
{
    const uint8_t *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (sig == NULL || p != der + der_len) {
        ECDSA_SIG_free(sig);
        return sai_error_set(err, SAI_EFORMAT, "malformed DER ECDSA signature");
    }
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(sig, &r, &s);
    int ok = BN_bn2binpad(r, raw, (int)scalar_len) == (int)scalar_len &&
             BN_bn2binpad(s, raw + scalar_len, (int)scalar_len) == (int)scalar_len;
    ECDSA_SIG_free(sig);
    if (!ok)
        return sai_error_set(err, SAI_EFORMAT, "ECDSA signature component too large");
    return 0;
}

int sai_ecdsa_sign(const sai_ec_key_t *k, uint8_t sig[static SAI_P384_SIG_LEN],
                   const void *msg, size_t len, sai_error_t *err)
{
    int ret = SAI_ECRYPTO;
    uint8_t der[128];
    size_t der_len = sizeof der;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, k->pkey) != 1 ||
        EVP_DigestSign(md, der, &der_len, msg, len) != 1)
        goto out;
    ret = sai_ecdsa_der_to_raw(sig, SAI_P384_SCALAR_LEN, der, der_len, err);
    EVP_MD_CTX_free(md);
    return ret;
out:
    EVP_MD_CTX_free(md);
    return sai_error_set(err, ret, "ECDSA P-384 signing failed");
}

int sai_ecdsa_verify(const sai_ec_key_t *k, const uint8_t sig[static SAI_P384_SIG_LEN],
                     const void *msg, size_t len, sai_error_t *err)
{
    uint8_t digest[SAI_SHA384_LEN];
    int ret = sai_hash(SAI_SHA384, digest, msg, len, err);
    if (ret != 0)
        return ret;
    return sai_ecdsa_verify_digest(k, sig, digest, sizeof digest, err);
}

int sai_ecdsa_verify_digest(const sai_ec_key_t *k, const uint8_t sig[static SAI_P384_SIG_LEN],
                            const uint8_t *digest, size_t dlen, sai_error_t *err)
{
    uint8_t der[128];
    size_t der_len = sizeof der;
    int ret = sai_ecdsa_raw_to_der(der, &der_len, sig, SAI_P384_SCALAR_LEN, err);
    if (ret != 0)
        return ret;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    int ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
             EVP_PKEY_verify(ctx, der, der_len, digest, dlen) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return sai_error_set(err, SAI_EAUTH, "ECDSA P-384 signature does not verify");
    return 0;
}

int sai_ecdh(const sai_ec_key_t *priv, const sai_ec_key_t *peer,
             uint8_t shared[static SAI_ECDH_P384_LEN], sai_error_t *err)
{
    size_t len = SAI_ECDH_P384_LEN;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv->pkey, NULL);
    int ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1 &&
             EVP_PKEY_derive_set_peer(ctx, peer->pkey) == 1 &&
             EVP_PKEY_derive(ctx, shared, &len) == 1 && len == SAI_ECDH_P384_LEN;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        sai_wipe(shared, SAI_ECDH_P384_LEN);
        return sai_error_set(err, SAI_ECRYPTO, "ECDH P-384 failed");
    }
    return 0;
}
