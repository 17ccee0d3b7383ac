/* test_crypto.c — known-answer and property tests for src/crypto. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include <openssl/evp.h>
#include "secureai/crypto.h"
#include "secureai/util.h"

static void unhex(uint8_t *out, size_t len, const char *hex)
{
    sai_error_t err;
    assert_int_equal(sai_hex_decode(out, len, hex, &err), 0);
}

/* NIST GCM spec test cases 13 and 14 (AES-256, zero key and nonce). */
static void test_gcm_known_answer(void **state)
{
    (void)state;
    uint8_t key[32] = {0}, nonce[12] = {0}, pt[16] = {0}, ct[16], tag[16], want[16], back[16];
    sai_aead_t *a = NULL;
    sai_error_t err;
    assert_int_equal(sai_aead_new(&a, key, &err), 0);
    assert_int_equal(sai_aead_seal(a, ct, tag, pt, 0, NULL, 0, nonce, &err), 0);
    unhex(want, 16, "530f8afbc74536b9a963b4f1c4cb738b");
    assert_memory_equal(tag, want, 16);
    assert_int_equal(sai_aead_seal(a, ct, tag, pt, 16, NULL, 0, nonce, &err), 0);
    unhex(want, 16, "cea7403d4d606b6e074ec5d3baf39d18");
    assert_memory_equal(ct, want, 16);
    unhex(want, 16, "d0d1c8a799996bf0265b98b5d48ab919");
    assert_memory_equal(tag, want, 16);
    assert_int_equal(sai_aead_open(a, back, ct, 16, tag, NULL, 0, nonce, &err), 0);
    assert_memory_equal(back, pt, 16);
    sai_aead_free(a);
}

static void test_gcm_rejects_tampering_and_wipes(void **state)
{
    (void)state;
    uint8_t key[32], nonce[12] = {1}, aad[5] = "head", pt[100], ct[100], tag[16], out[100];
    sai_error_t err;
    assert_int_equal(sai_random_bytes(key, sizeof key, &err), 0);
    memset(pt, 'A', sizeof pt);
    sai_aead_t *a = NULL;
    assert_int_equal(sai_aead_new(&a, key, &err), 0);
    assert_int_equal(sai_aead_seal(a, ct, tag, pt, sizeof pt, aad, sizeof aad, nonce, &err), 0);
    /* flip each kind of input in turn */
    ct[7] ^= 1;
    memset(out, 0x55, sizeof out);
    assert_int_equal(sai_aead_open(a, out, ct, sizeof ct, tag, aad, sizeof aad, nonce, &err), SAI_EAUTH);
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0);   /* no unauthenticated plaintext leaks */
    ct[7] ^= 1;
    aad[0] ^= 1;
    assert_int_equal(sai_aead_open(a, out, ct, sizeof ct, tag, aad, sizeof aad, nonce, &err), SAI_EAUTH);
    aad[0] ^= 1;
    tag[15] ^= 0x80;
    assert_int_equal(sai_aead_open(a, out, ct, sizeof ct, tag, aad, sizeof aad, nonce, &err), SAI_EAUTH);
    tag[15] ^= 0x80;
    nonce[11] ^= 1;
    assert_int_equal(sai_aead_open(a, out, ct, sizeof ct, tag, aad, sizeof aad, nonce, &err), SAI_EAUTH);
    nonce[11] ^= 1;
    assert_int_equal(sai_aead_open(a, out, ct, sizeof ct, tag, aad, sizeof aad, nonce, &err), 0);
    assert_memory_equal(out, pt, sizeof pt);
    sai_aead_free(a);
}

static void test_sha2_known_answers(void **state)
{
    (void)state;
    uint8_t out[64], want[64];
    sai_error_t err;
    assert_int_equal(sai_hash(SAI_SHA256, out, "abc", 3, &err), 0);
    unhex(want, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_memory_equal(out, want, 32);
    assert_int_equal(sai_hash(SAI_SHA384, out, "abc", 3, &err), 0);
    unhex(want, 48, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded163"
                    "1a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7");
    assert_memory_equal(out, want, 48);
    /* streaming equals one-shot */
    sai_hash_ctx_t *h = NULL;
    assert_int_equal(sai_hash_new(&h, SAI_SHA384, &err), 0);
    assert_int_equal(sai_hash_update(h, "a", 1, &err), 0);
    assert_int_equal(sai_hash_update(h, "bc", 2, &err), 0);
    assert_int_equal(sai_hash_final(h, out, &err), 0);
    sai_hash_free(h);
    assert_memory_equal(out, want, 48);
}

/* RFC 4231 case 1 and RFC 5869 case 1. */
static void test_hmac_hkdf_known_answers(void **state)
{
    (void)state;
    uint8_t key[22], out[42], want[42], salt[13], info[10];
    sai_error_t err;
    memset(key, 0x0b, sizeof key);
    assert_int_equal(sai_hmac_sha256(out, key, 20, "Hi There", 8, &err), 0);
    unhex(want, 32, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    assert_memory_equal(out, want, 32);
    for (int i = 0; i < 13; i++) salt[i] = (uint8_t)i;
    for (int i = 0; i < 10; i++) info[i] = (uint8_t)(0xf0 + i);
    assert_int_equal(sai_hkdf_sha256(out, 42, key, 22, salt, 13, info, 10, &err), 0);
    unhex(want, 42, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                    "34007208d5b887185865");
    assert_memory_equal(out, want, 42);
    assert_int_equal(sai_hkdf_sha256(out, 0, key, 22, NULL, 0, NULL, 0, &err), SAI_EINVAL);
}

static void test_ecdsa_ecdh(void **state)
{
    (void)state;
    sai_error_t err;
    sai_ec_key_t *a = NULL, *b = NULL, *apub = NULL, *bpub = NULL, *apem = NULL;
    uint8_t sig[96], pa[97], pb[97], s1[48], s2[48];
    assert_int_equal(sai_ec_generate(&a, &err), 0);
    assert_int_equal(sai_ec_generate(&b, &err), 0);
    assert_true(sai_ec_has_private(a));
    assert_int_equal(sai_ecdsa_sign(a, sig, "msg", 3, &err), 0);
    assert_int_equal(sai_ec_public_raw(a, pa, &err), 0);
    assert_int_equal(sai_ec_from_public_raw(&apub, pa, sizeof pa, &err), 0);
    assert_false(sai_ec_has_private(apub));
    assert_int_equal(sai_ecdsa_verify(apub, sig, "msg", 3, &err), 0);
    assert_int_equal(sai_ecdsa_verify(apub, sig, "msG", 3, &err), SAI_EAUTH);
    sig[5] ^= 1;
    assert_int_equal(sai_ecdsa_verify(apub, sig, "msg", 3, &err), SAI_EAUTH);
    sig[5] ^= 1;
    assert_int_equal(sai_ecdsa_verify(b, sig, "msg", 3, &err), SAI_EAUTH);
    /* off-curve point is refused */
    pa[50] ^= 1;
    assert_int_not_equal(sai_ec_from_public_raw(&bpub, pa, sizeof pa, &err), 0);
    assert_int_equal(sai_ec_public_raw(b, pb, &err), 0);
    assert_int_equal(sai_ec_from_public_raw(&bpub, pb, sizeof pb, &err), 0);
    assert_int_equal(sai_ecdh(a, bpub, s1, &err), 0);
    assert_int_equal(sai_ecdh(b, apub, s2, &err), 0);
    assert_memory_equal(s1, s2, 48);
    /* PEM round trip of the private key keeps the same signer */
    char *pem = NULL;
    size_t len = 0;
    assert_int_equal(sai_ec_private_pem(a, &pem, &len, &err), 0);
    assert_non_null(strstr(pem, "PRIVATE KEY"));
    assert_int_equal(sai_ec_from_pem(&apem, pem, len, &err), 0);
    sai_ec_pem_free(pem, len);
    assert_int_equal(sai_ecdsa_sign(apem, sig, "x", 1, &err), 0);
    assert_int_equal(sai_ecdsa_verify(apub, sig, "x", 1, &err), 0);
    sai_ec_free(a); sai_ec_free(b); sai_ec_free(apub); sai_ec_free(bpub); sai_ec_free(apem);
}

/* The P-384 arithmetic is Nettle's, the keys OpenSSL's: each side must
 * accept the other's signatures and agree on ECDH, or a peer running plain
 * OpenSSL (a verifier, a Trustee client) would not interoperate. */
static void test_p384_matches_openssl(void **state)
{
    (void)state;
    sai_error_t err;
    for (int round = 0; round < 8; round++) {
        sai_ec_key_t *a = NULL, *b = NULL;
        uint8_t raw[96], der[128], z1[48], z2[48];
        size_t der_len = sizeof der, zl = sizeof z2;
        assert_int_equal(sai_ec_generate(&a, &err), 0);
        assert_int_equal(sai_ec_generate(&b, &err), 0);
        EVP_PKEY *pa = sai_ec_evp(a), *pb = sai_ec_evp(b);
        /* ours -> OpenSSL's verify */
        assert_int_equal(sai_ecdsa_sign(a, raw, "cross", 5, &err), 0);
        assert_int_equal(sai_ecdsa_raw_to_der(der, &der_len, raw, 48, &err), 0);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, pa), 1);
        assert_int_equal(EVP_DigestVerify(md, der, der_len, (const uint8_t *)"cross", 5), 1);
        EVP_MD_CTX_free(md);
        /* OpenSSL's sign -> ours */
        der_len = sizeof der;
        md = EVP_MD_CTX_new();
        assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, pb), 1);
        assert_int_equal(EVP_DigestSign(md, der, &der_len, (const uint8_t *)"other", 5), 1);
        EVP_MD_CTX_free(md);
        assert_int_equal(sai_ecdsa_der_to_raw(raw, 48, der, der_len, &err), 0);
        assert_int_equal(sai_ecdsa_verify(b, raw, "other", 5, &err), 0);
        assert_int_equal(sai_ecdsa_verify(a, raw, "other", 5, &err), SAI_EAUTH);
        /* r = 0 and s = n are refused */
        uint8_t bad[96];
        memcpy(bad, raw, 96);
        memset(bad, 0, 48);
        assert_int_equal(sai_ecdsa_verify(b, bad, "other", 5, &err), SAI_EAUTH);
        /* ECDH: ours against OpenSSL's derive */
        assert_int_equal(sai_ecdh(a, b, z1, &err), 0);
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pb, NULL);
        assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
        assert_int_equal(EVP_PKEY_derive_set_peer(ctx, pa), 1);
        assert_int_equal(EVP_PKEY_derive(ctx, z2, &zl), 1);
        EVP_PKEY_CTX_free(ctx);
        assert_int_equal(zl, 48);
        assert_memory_equal(z1, z2, 48);
        /* a public key without its private half cannot sign */
        uint8_t pt[97];
        sai_ec_key_t *apub = NULL;
        assert_int_equal(sai_ec_public_raw(a, pt, &err), 0);
        assert_int_equal(sai_ec_from_public_raw(&apub, pt, sizeof pt, &err), 0);
        assert_int_equal(sai_ecdsa_sign(apub, raw, "x", 1, &err), SAI_EINVAL);
        assert_int_equal(sai_ecdh(apub, b, z1, &err), SAI_EINVAL);
        sai_ec_free(apub);
        sai_ec_free(a);
        sai_ec_free(b);
    }
}

static void test_secret_and_ct_equal(void **state)
{
    (void)state;
    sai_error_t err;
    sai_secret_t *s = NULL;
    assert_int_equal(sai_secret_new(&s, 32, &err), 0);
    assert_int_equal(s->len, 32);
    for (size_t i = 0; i < 32; i++)
        assert_int_equal(s->data[i], 0);
    s->data[0] = 1;
    sai_secret_free(s);
    assert_int_equal(sai_secret_new(&s, 0, &err), SAI_EINVAL);
    assert_true(sai_ct_equal("abcd", "abcd", 4));
    assert_false(sai_ct_equal("abcd", "abce", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gcm_known_answer),
        cmocka_unit_test(test_gcm_rejects_tampering_and_wipes),
        cmocka_unit_test(test_sha2_known_answers),
        cmocka_unit_test(test_hmac_hkdf_known_answers),
        cmocka_unit_test(test_ecdsa_ecdh),
        cmocka_unit_test(test_p384_matches_openssl),
        cmocka_unit_test(test_secret_and_ct_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
