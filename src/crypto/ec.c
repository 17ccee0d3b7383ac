/*
 * ec.c — P-384 keys, ECDSA (SHA-384) and ECDH.
 *
 * Keys are OpenSSL 3 EVP_PKEYs (PEM, certificates, JWK export), but the
 * scalar multiplications run in Nettle's secp384r1 (hogweed): OpenSSL 3.0
 * has no optimised P-384 and its generic code needs ~0.6-0.7 ms for each of
 * sign, verify, ECDH and key generation (`openssl speed ecdsap384
 * ecdhp384`), Nettle 0.16 ms sign, 0.45 ms verify, 0.33 ms ECDH, 0.11 ms
 * key generation on the same core (issue 13: a KBS flow makes four of them
 * on the server and three on the client). Nettle's ECC code is written to
 * be side-channel silent (no secret-dependent branches or memory access).
 * Every key carries its Nettle form, made once when the key is made: the
 * public point (ecc_point_set refuses a point that is not on the curve; P-384
 * has cofactor 1, so that is the whole subgroup check) and, for a private
 * key, the scalar, written straight into Nettle's limbs (never through a GMP
 * integer, which would leave copies in freed memory) and wiped on free.
 * The ECDSA nonce comes from OpenSSL's DRBG (RAND_priv_bytes).
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
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/ecc-curve.h>
#include <nettle/ecc.h>
#include <nettle/ecdsa.h>

struct sai_ec_key_t {
    EVP_PKEY          *pkey;
    struct ecc_point   pub;     /* Nettle's form of the public point */
    struct ecc_scalar  priv;    /* and of the private scalar, when has_priv */
    bool               has_priv;
};

/* P-384's group order n, big-endian. */
static const uint8_t k_order[48] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf, 0x58, 0x1a, 0x0d, 0xb2,
    0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73};

static void limbs_from_be(mp_limb_t *l, size_t nl, const uint8_t *be, size_t len)
{
    memset(l, 0, nl * sizeof *l);
    for (size_t i = 0; i < len; i++) {
        size_t bit = 8 * (len - 1 - i);
        l[bit / (8 * sizeof *l)] |= (mp_limb_t)be[i] << (bit % (8 * sizeof *l));
    }
}

static void limbs_to_be(uint8_t *be, size_t len, const mp_limb_t *l)
{
    for (size_t i = 0; i < len; i++) {
        size_t bit = 8 * (len - 1 - i);
        be[i] = (uint8_t)(l[bit / (8 * sizeof *l)] >> (bit % (8 * sizeof *l)));
    }
}

/* 0 < d < n, without branching on d's bytes. */
static bool scalar_in_range(const uint8_t d[48])
{
    unsigned lt = 0, gt = 0, nz = 0;
    for (size_t i = 0; i < 48; i++) {
        unsigned a = d[i], b = k_order[i];
        unsigned dlt = ((a - b) >> 8) & 1, dgt = ((b - a) >> 8) & 1;
        lt |= dlt & ~(lt | gt);
        gt |= dgt & ~(lt | gt);
        nz |= a;
    }
    return lt && nz != 0;
}

/* Nettle's public point from the uncompressed encoding; refuses a point
 * that is not on the curve. */
static bool point_set(struct ecc_point *p, const uint8_t raw[SAI_P384_POINT_LEN])
{
    mpz_t x, y;
    mpz_init(x);
    mpz_init(y);
    mpz_import(x, 48, 1, 1, 1, 0, raw + 1);
    mpz_import(y, 48, 1, 1, 1, 0, raw + 49);
    bool ok = raw[0] == 0x04 && ecc_point_set(p, x, y) == 1;
    mpz_clear(x);
    mpz_clear(y);
    return ok;
}

static void scalar_set(struct ecc_scalar *s, const uint8_t d[48])
{
    limbs_from_be(s->p, (size_t)ecc_size(s->ecc), d, 48);
}

/* OpenSSL's DRBG as Nettle's random source (the ECDSA nonce). */
static void nettle_rand(void *ctx, size_t len, uint8_t *dst)
{
    (void)ctx;
    if (RAND_priv_bytes(dst, (int)len) != 1)
        abort();   /* no randomness: signing on must not happen */
}

static void key_clear(sai_ec_key_t *k)
{
    if (k->priv.p) {
        sai_wipe(k->priv.p, (size_t)ecc_size(k->priv.ecc) * sizeof(mp_limb_t));
        ecc_scalar_clear(&k->priv);
    }
    if (k->pub.p)
        ecc_point_clear(&k->pub);
    k->priv.p = NULL;
    k->pub.p = NULL;
}

/* Takes pkey; fills the Nettle forms from it. */
static int wrap(sai_ec_key_t **out, EVP_PKEY *pkey, sai_error_t *err)
{
    sai_ec_key_t *k = calloc(1, sizeof *k);
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    }
    k->pkey = pkey;
    const struct ecc_curve *c = nettle_get_secp_384r1();
    uint8_t raw[SAI_P384_POINT_LEN], d[48];
    size_t len = 0;
    ecc_point_init(&k->pub, c);
    if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, raw, sizeof raw, &len) != 1 ||
        len != sizeof raw || !point_set(&k->pub, raw)) {
        sai_ec_free(k);
        return sai_error_set(err, SAI_EFORMAT, "the P-384 public key is not a point on the curve");
    }
    BIGNUM *bn = NULL;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &bn) == 1) {
        int ok = BN_bn2binpad(bn, d, sizeof d) == (int)sizeof d && scalar_in_range(d);
        BN_clear_free(bn);
        if (!ok) {
            sai_wipe(d, sizeof d);
            sai_ec_free(k);
            return sai_error_set(err, SAI_EFORMAT, "the P-384 private key is out of range");
        }
        ecc_scalar_init(&k->priv, c);
        scalar_set(&k->priv, d);
        sai_wipe(d, sizeof d);
        k->has_priv = true;
    }
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

/* d uniform in [1, n-1] by rejection (n is within 2^-190 of 2^384, so a
 * redraw is practically never needed), Q = d*G in Nettle, and the
 * EVP_PKEY built from both (no second multiplication in OpenSSL). */
int sai_ec_generate(sai_ec_key_t **out, sai_error_t *err)
{
    *out = NULL;
    const struct ecc_curve *c = nettle_get_secp_384r1();
    uint8_t d[48], raw[SAI_P384_POINT_LEN];
    struct ecc_scalar s;
    struct ecc_point q;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    BIGNUM *bn = NULL;
    int rc = SAI_ECRYPTO;
    ecc_scalar_init(&s, c);
    ecc_point_init(&q, c);
    do {
        if (RAND_priv_bytes(d, sizeof d) != 1)
            goto out;
    } while (!scalar_in_range(d));
    scalar_set(&s, d);
    ecc_point_mul_g(&q, &s);
    raw[0] = 0x04;
    limbs_to_be(raw + 1, 48, q.p);
    limbs_to_be(raw + 49, 48, q.p + ecc_size(c));
    if ((bn = BN_secure_new()) == NULL || BN_bin2bn(d, sizeof d, bn) == NULL ||
        (bld = OSSL_PARAM_BLD_new()) == NULL ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-384", 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, raw, sizeof raw) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn) != 1 ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1)
        goto out;
    sai_ec_key_t *k = calloc(1, sizeof *k);
    if (k == NULL) {
        rc = SAI_ENOMEM;
        goto out;
    }
    k->pkey = pkey;
    k->pub = q;
    k->priv = s;
    k->has_priv = true;
    pkey = NULL;
    q.p = NULL;
    s.p = NULL;
    *out = k;
    rc = 0;
out:
    sai_wipe(d, sizeof d);
    if (s.p) {
        sai_wipe(s.p, (size_t)ecc_size(c) * sizeof(mp_limb_t));
        ecc_scalar_clear(&s);
    }
    if (q.p)
        ecc_point_clear(&q);
    OSSL_PARAM_free(params);   /* OSSL_PARAM_clear_free is 3.2+; the BN below is secure-heap */
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(bn);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    if (rc != 0)
        return sai_error_set(err, rc, rc == SAI_ENOMEM ? "out of memory" : "P-384 key generation failed");
    return 0;
}

void sai_ec_free(sai_ec_key_t *k)
{
    if (k == NULL)
        return;
    key_clear(k);
    EVP_PKEY_free(k->pkey);
    free(k);
}

bool sai_ec_has_private(const sai_ec_key_t *k)
{
    return k->has_priv;
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
    int ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
             EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        EVP_PKEY_free(pkey);
        return sai_error_set(err, SAI_EFORMAT, "invalid P-384 public key");
    }
    /* wrap() refuses a point that is not on the curve (Nettle's
     * ecc_point_set); with cofactor 1 that is the full public-key check,
     * without OpenSSL's n*Q multiplication. */
    int rc = wrap(out, pkey, err);
    if (rc == SAI_EFORMAT)
        sai_error_set(err, SAI_EFORMAT, "P-384 public key is not on the curve");
    return rc;
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

static void sig_to_raw(uint8_t raw[SAI_P384_SIG_LEN], const struct dsa_signature *sig)
{
    size_t n = 0;
    memset(raw, 0, SAI_P384_SIG_LEN);
    /* r, s < n < 2^384: each fits 48 bytes, right-aligned */
    mpz_export(raw + 48 - (mpz_sizeinbase(sig->r, 2) + 7) / 8, &n, 1, 1, 1, 0, sig->r);
    mpz_export(raw + 96 - (mpz_sizeinbase(sig->s, 2) + 7) / 8, &n, 1, 1, 1, 0, sig->s);
}

int sai_ecdsa_sign(const sai_ec_key_t *k, uint8_t sig[static SAI_P384_SIG_LEN],
                   const void *msg, size_t len, sai_error_t *err)
{
    uint8_t digest[SAI_SHA384_LEN];
    if (!k->has_priv)
        return sai_error_set(err, SAI_EINVAL, "ECDSA P-384 signing needs a private key");
    int rc = sai_hash(SAI_SHA384, digest, msg, len, err);
    if (rc != 0)
        return rc;
    struct dsa_signature s;
    dsa_signature_init(&s);
    ecdsa_sign(&k->priv, NULL, nettle_rand, sizeof digest, digest, &s);
    sig_to_raw(sig, &s);
    dsa_signature_clear(&s);
    return 0;
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

/* Nettle refuses r or s outside [1, n-1] and uses the digest's leftmost 384
 * bits, as OpenSSL (and FIPS 186-4) do. */
int sai_ecdsa_verify_digest(const sai_ec_key_t *k, const uint8_t sig[static SAI_P384_SIG_LEN],
                            const uint8_t *digest, size_t dlen, sai_error_t *err)
{
    struct dsa_signature s;
    dsa_signature_init(&s);
    mpz_import(s.r, 48, 1, 1, 1, 0, sig);
    mpz_import(s.s, 48, 1, 1, 1, 0, sig + 48);
    int ok = ecdsa_verify(&k->pub, dlen, digest, &s);
    dsa_signature_clear(&s);
    if (!ok)
        return sai_error_set(err, SAI_EAUTH, "ECDSA P-384 signature does not verify");
    return 0;
}

/* Both points were checked to be on the curve when their keys were made
 * (wrap, sai_ec_generate), and 0 < d < n: the product is never the point
 * at infinity. */
int sai_ecdh(const sai_ec_key_t *priv, const sai_ec_key_t *peer,
             uint8_t shared[static SAI_ECDH_P384_LEN], sai_error_t *err)
{
    if (!priv->has_priv)
        return sai_error_set(err, SAI_EINVAL, "ECDH P-384 needs a private key");
    const struct ecc_curve *c = nettle_get_secp_384r1();
    struct ecc_point r;
    ecc_point_init(&r, c);
    ecc_point_mul(&r, &priv->priv, &peer->pub);
    limbs_to_be(shared, SAI_ECDH_P384_LEN, r.p);
    sai_wipe(r.p, 2 * (size_t)ecc_size(c) * sizeof(mp_limb_t));
    ecc_point_clear(&r);
    return 0;
}
