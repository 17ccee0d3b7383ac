/*
 * tls.c — the KBS's key material on disk: the TLS certificate (self-signed
 * ECDSA P-256, generated on first start when none is configured, SAN
 * localhost and 127.0.0.1, one year) and the token signing key (P-384).
 * The TLS key is P-256 because a client that opens a new connection per
 * flow (`secureai kbs get-resource`) costs the server one CertificateVerify
 * signature and the client one verification per handshake: with OpenSSL
 * 3.0 that is ~0.02 + 0.06 ms on P-256 against ~0.8 + 0.7 ms on P-384
 * (`openssl speed ecdsap256 ecdsap384`), a fifth of a whole flow; the
 * secret itself is protected by the P-384 wrap, not by TLS alone. Private keys are written
 * 0600 with sai_write_file_atomic. The fingerprint clients pin is the hex
 * SHA-256 of the DER certificate (what `openssl x509 -fingerprint -sha256`
 * shows, without colons).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kbs/kbs_internal.h"
#include "secureai/util.h"

int sai_kbs__key_ensure(sai_ec_key_t **out, const char *path, sai_error_t *err)
{
    *out = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = sai_read_file(path, 64 * 1024, &buf, &len, err);
    if (rc == SAI_ENOTFOUND) {
        char *pem = NULL;
        size_t plen = 0;
        if ((rc = sai_ec_generate(out, err)) != 0)
            return rc;
        if ((rc = sai_ec_private_pem(*out, &pem, &plen, err)) == 0) {
            rc = sai_write_file_atomic(path, pem, plen, 0600, true, err);
            sai_ec_pem_free(pem, plen);
        }
        if (rc != 0) {
            sai_ec_free(*out);
            *out = NULL;
        }
        return rc;
    }
    if (rc != 0)
        return rc;
    rc = sai_ec_from_pem(out, (const char *)buf, len, err);
    sai_wipe(buf, len);
    free(buf);
    if (rc == 0 && !sai_ec_has_private(*out)) {
        sai_ec_free(*out);
        *out = NULL;
        rc = sai_error_set(err, SAI_EFORMAT, "%s holds no private key", path);
    }
    return rc;
}

int sai_kbs__wrap_key_ensure(sai_ec_key_t **out, const char *dir, char sha_hex[65], sai_error_t *err)
{
    char path[600];
    char *pem = NULL;
    size_t plen = 0;
    uint8_t h[SAI_SHA256_LEN];
    *out = NULL;
    snprintf(path, sizeof path, "%s/" SAI_KBS_WRAP_KEY_FILE, dir);
    int rc = sai_kbs__key_ensure(out, path, err);
    if (rc == 0)
        rc = sai_kbs_wrap_key_hash(*out, h, err);
    if (rc == 0)
        rc = sai_ec_public_pem(*out, &pem, &plen, err);
    if (rc == 0) {
        /* rewritten only when missing or not this key's */
        uint8_t *cur = NULL;
        size_t cl = 0;
        snprintf(path, sizeof path, "%s/" SAI_KBS_WRAP_PUB_FILE, dir);
        if (sai_read_file(path, 64 * 1024, &cur, &cl, NULL) != 0 || cl != plen || memcmp(cur, pem, plen) != 0)
            rc = sai_write_file_atomic(path, pem, plen, 0644, false, err);
        free(cur);
    }
    free(pem);
    if (rc == 0) {
        sai_hex_encode(sha_hex, h, SAI_SHA256_LEN);
    } else {
        sai_ec_free(*out);
        *out = NULL;
    }
    return rc;
}

static int fingerprint_x509(X509 *x, char fp_hex[65], sai_error_t *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (X509_digest(x, EVP_sha256(), md, &n) != 1 || n != 32)
        return sai_error_set(err, SAI_ECRYPTO, "cannot hash the certificate");
    sai_hex_encode(fp_hex, md, 32);
    return 0;
}

int sai_kbs__cert_fingerprint(const char *cert_path, char fp_hex[65], sai_error_t *err)
{
    FILE *f = fopen(cert_path, "r");
    if (f == NULL)
        return sai_error_set(err, SAI_EIO, "cannot open %s: %s", cert_path, strerror(errno));
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (x == NULL)
        return sai_error_set(err, SAI_EFORMAT, "%s holds no PEM certificate", cert_path);
    int rc = fingerprint_x509(x, fp_hex, err);
    X509_free(x);
    return rc;
}

/* A fresh P-256 TLS key, written 0600 to key_path. */
static int make_tls_key(EVP_PKEY **out, const char *key_path, sai_error_t *err)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    int rc = sai_error_set(err, SAI_ECRYPTO, "cannot generate the TLS key");
    if (pk != NULL && bio != NULL &&
        PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) == 1) {
        long n = BIO_get_mem_data(bio, &pem);
        rc = sai_write_file_atomic(key_path, pem, (size_t)n, 0600, true, err);
        sai_wipe(pem, (size_t)n);
    }
    BIO_free(bio);
    if (rc != 0) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    *out = pk;
    return rc;
}

static int make_cert(const char *cert_path, const char *key_path, sai_error_t *err)
{
    EVP_PKEY *pk = NULL;
    int rc = make_tls_key(&pk, key_path, err);
    if (rc != 0)
        return rc;
    X509 *x = X509_new();
    X509_EXTENSION *ext = NULL;
    X509V3_CTX v3;
    BIO *bio = BIO_new(BIO_s_mem());
    uint8_t serial[16];
    rc = sai_error_set(err, SAI_ECRYPTO, "cannot build the self-signed certificate");
    if (x == NULL || bio == NULL || sai_random_bytes(serial, sizeof serial, NULL) != 0)
        goto out;
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
        BN_free(bn);
        goto out;
    }
    BN_free(bn);
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), -300);
    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 24 * 3600);
    X509_set_pubkey(x, pk);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"secureai-kbs", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    const char *exts[][2] = {{"subjectAltName", "DNS:localhost,IP:127.0.0.1,IP:::1"},
                             {"basicConstraints", "critical,CA:TRUE,pathlen:0"},
                             {"keyUsage", "critical,digitalSignature,keyCertSign"},
                             {"extendedKeyUsage", "serverAuth"}};
    for (size_t i = 0; i < 4; i++) {
        ext = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
        if (ext == NULL || X509_add_ext(x, ext, -1) != 1)
            goto out;
        X509_EXTENSION_free(ext);
        ext = NULL;
    }
    if (X509_sign(x, pk, EVP_sha256()) == 0 || PEM_write_bio_X509(bio, x) != 1)
        goto out;
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    rc = sai_write_file_atomic(cert_path, data, (size_t)n, 0644, true, err);
out:
    X509_EXTENSION_free(ext);
    X509_free(x);
    BIO_free(bio);
    EVP_PKEY_free(pk);
    return rc;
}

int sai_kbs__tls_ensure(const char *cert_path, const char *key_path, char fp_hex[65],
                       bool *created, sai_error_t *err)
{
    struct stat st;
    *created = false;
    if (stat(cert_path, &st) != 0) {
        if (stat(key_path, &st) == 0)
            return sai_error_set(err, SAI_ESTATE, "%s exists but %s does not; refusing to guess",
                                 key_path, cert_path);
        int rc = make_cert(cert_path, key_path, err);
        if (rc != 0)
            return rc;
        *created = true;
    }
    return sai_kbs__cert_fingerprint(cert_path, fp_hex, err);
}

int sai_kbs_info(const char *data_dir, const char *tls_cert, char cert_hex[65], char wrap_hex[65],
                 sai_error_t *err)
{
    char path[600];
    cert_hex[0] = wrap_hex[0] = '\0';
    if (tls_cert && *tls_cert)
        snprintf(path, sizeof path, "%s", tls_cert);
    else
        snprintf(path, sizeof path, "%s/tls.crt", data_dir);
    if (access(path, F_OK) == 0) {
        int rc = sai_kbs__cert_fingerprint(path, cert_hex, err);
        if (rc != 0)
            return rc;
    }
    snprintf(path, sizeof path, "%s/" SAI_KBS_WRAP_PUB_FILE, data_dir);
    uint8_t *pem = NULL, h[SAI_SHA256_LEN];
    size_t len = 0;
    int rc = sai_read_file(path, 64 * 1024, &pem, &len, err);
    if (rc == SAI_ENOTFOUND)
        return 0;
    sai_ec_key_t *k = NULL;
    if (rc == 0)
        rc = sai_ec_from_pem(&k, (const char *)pem, len, err);
    if (rc == 0)
        rc = sai_kbs_wrap_key_hash(k, h, err);
    if (rc == 0)
        sai_hex_encode(wrap_hex, h, SAI_SHA256_LEN);
    else
        sai_error_prefix(err, "%s", path);
    sai_ec_free(k);
    free(pem);
    return rc;
}
