/*
 * sim_platform.c — the simulated platform's key hierarchy and launch
 * measurement: `secureai platform init` and the launcher's SHA-384.
 *
 * The hierarchy mirrors AMD's: a self-signed ARK, an ASK signed by it, a
 * per-"chip" VCEK signed by the ASK, with the same KDS extensions a real
 * VCEK carries (structVersion, productName, blSPL/teeSPL/snpSPL/spl4-7/
 * ucodeSPL, hwID as raw 64 bytes like KDS). Unlike AMD's RSA-4096 ARK/ASK,
 * all three are ECDSA P-384. Private keys are written 0600 in a 0700
 * directory and are only ever loaded by the PSP signer process (sim_psp.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "secureai/crypto.h"
#include "secureai/util.h"
#include "tee/tee_internal.h"

/* Sim platform TCB: bl 4, tee 0, snp 22, ucode 213 (Milan byte order). */
#define SIM_BL    4
#define SIM_TEE   0
#define SIM_SNP   22
#define SIM_UCODE 213

int sai_sim_platform_dir(char *out, size_t cap, const char *dir, sai_error_t *err)
{
    const char *env = getenv("SECUREAI_PLATFORM_DIR");
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    int n;
    if (dir != NULL && dir[0] != '\0')
        n = snprintf(out, cap, "%s", dir);
    else if (env != NULL && env[0] != '\0')
        n = snprintf(out, cap, "%s", env);
    else if (xdg != NULL && xdg[0] == '/')
        n = snprintf(out, cap, "%s/secureai/sim-platform", xdg);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(out, cap, "%s/.local/share/secureai/sim-platform", home);
    else
        return sai_error_set(err, SAI_ENOTFOUND,
                             "no platform directory: set --platform-dir, SECUREAI_PLATFORM_DIR or HOME");
    if (n < 0 || (size_t)n >= cap)
        return sai_error_set(err, SAI_ELIMIT, "platform directory path too long");
    return 0;
}

static int mkdirs(const char *path, sai_error_t *err)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return sai_error_set(err, SAI_ELIMIT, "path too long");
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return sai_error_set(err, SAI_EIO, "mkdir %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return sai_error_set(err, SAI_EIO, "mkdir %s: %s", buf, strerror(errno));
    return 0;
}

static int add_ext_der(X509 *x, const char *oid, const uint8_t *der, size_t len)
{
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *e = NULL;
    int ok = o && os && ASN1_OCTET_STRING_set(os, der, (int)len) &&
             (e = X509_EXTENSION_create_by_OBJ(NULL, o, 0, os)) != NULL &&
             X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(o);
    return ok ? 0 : -1;
}

static int add_ext_int(X509 *x, const char *oid, unsigned v)
{
    uint8_t der[4] = { 0x02, 1, (uint8_t)v, 0 };
    size_t len = 3;
    if (v > 0x7F) {    /* INTEGER needs a leading zero, as KDS encodes ucodeSPL 0xd9 */
        der[1] = 2; der[2] = 0; der[3] = (uint8_t)v; len = 4;
    }
    return add_ext_der(x, oid, der, len);
}

static int add_v3(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok ? 0 : -1;
}

/* Make a certificate for subject key `key` signed by `ikey` (issuer cert
 * `icert`, NULL = self-signed). */
static X509 *make_cert(sai_ec_key_t *key, const char *cn, X509 *icert, sai_ec_key_t *ikey,
                       long days, bool ca, const sai_sim_identity_t *vcek_id)
{
    X509 *x = X509_new();
    uint8_t serial[16];
    if (x == NULL || sai_random_bytes(serial, sizeof serial, NULL) != 0)
        goto fail;
    serial[0] &= 0x7F;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    BN_free(bn);
    if (ai == NULL || !X509_set_serialNumber(x, ai)) {
        ASN1_INTEGER_free(ai);
        goto fail;
    }
    ASN1_INTEGER_free(ai);
    X509_NAME *name = X509_NAME_new();
    if (name == NULL ||
        !X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)"Engineering", -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"SecureAI simulated platform (NOT AMD)", -1, -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) ||
        !X509_set_subject_name(x, name)) {
        X509_NAME_free(name);
        goto fail;
    }
    if (!X509_set_issuer_name(x, icert ? X509_get_subject_name(icert) : name)) {
        X509_NAME_free(name);
        goto fail;
    }
    X509_NAME_free(name);
    if (!X509_set_version(x, 2) || !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L) ||
        !X509_set_pubkey(x, (EVP_PKEY *)sai_ec_evp(key)))
        goto fail;
    X509 *iss = icert ? icert : x;
    if (add_v3(x, iss, NID_subject_key_identifier, "hash") != 0 ||
        (icert && add_v3(x, iss, NID_authority_key_identifier, "keyid:always") != 0) ||
        add_v3(x, iss, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE") != 0 ||
        add_v3(x, iss, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") != 0)
        goto fail;
    if (vcek_id != NULL) {
        static const uint8_t product[] = { 0x16, 0x03, 'S', 'i', 'm' };   /* IA5String */
        if (add_ext_int(x, "1.3.6.1.4.1.3704.1.1", 0) != 0 ||
            add_ext_der(x, "1.3.6.1.4.1.3704.1.2", product, sizeof product) != 0 ||
            add_ext_int(x, "1.3.6.1.4.1.3704.1.3.1", SIM_BL) != 0 ||
            add_ext_int(x, "1.3.6.1.4.1.3704.1.3.2", SIM_TEE) != 0 ||
            add_ext_int(x, "1.3.6.1.4.1.3704.1.3.4", 0) != 0 ||
            add_ext_int(x, "1.3.6.1.4.1.3704.1.3.5", 0) != 0 ||
            add_ext_int(x, "1.3.6.1.4.1.3704.1.3.6", 0) != 0 ||
            add_ext_int(x, "1.3.6.1.4.1.3704.1.3.7", 0) != 0 ||
            add_ext_int(x, "1.3.6.1.4.1.3704.1.3.3", SIM_SNP) != 0 ||
            add_ext_int(x, "1.3.6.1.4.1.3704.1.3.8", SIM_UCODE) != 0 ||
            add_ext_der(x, "1.3.6.1.4.1.3704.1.4", vcek_id->chip_id, 64) != 0)
            goto fail;
    }
    if (X509_sign(x, (EVP_PKEY *)sai_ec_evp(ikey), EVP_sha384()) <= 0)
        goto fail;
    return x;
fail:
    X509_free(x);
    return NULL;
}

static int write_cert(const char *dir, const char *name, X509 *x, sai_error_t *err)
{
    char path[4200];
    BIO *m = BIO_new(BIO_s_mem());
    char *data;
    int rc;
    if (m == NULL || !PEM_write_bio_X509(m, x)) {
        BIO_free(m);
        return sai_error_set(err, SAI_ECRYPTO, "cannot encode %s", name);
    }
    long n = BIO_get_mem_data(m, &data);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    rc = sai_write_file_atomic(path, data, (size_t)n, 0644, false, err);
    BIO_free(m);
    return rc;
}

static int write_key(const char *dir, const char *name, const sai_ec_key_t *k, sai_error_t *err)
{
    char path[4200], *pem = NULL;
    size_t len = 0;
    int rc = sai_ec_private_pem(k, &pem, &len, err);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    rc = sai_write_file_atomic(path, pem, len, 0600, false, err);
    sai_ec_pem_free(pem, len);
    return rc;
}

int sai_sim_platform_init(const char *dir_in, bool force, sai_error_t *err)
{
    char dir[4096], path[4200];
    int rc;
    sai_ec_key_t *ark = NULL, *ask = NULL, *vcek = NULL;
    X509 *ark_c = NULL, *ask_c = NULL, *vcek_c = NULL;
    char *json = NULL;
    uint8_t seal[32];
    sai_sim_identity_t id;

    if ((rc = sai_sim_platform_dir(dir, sizeof dir, dir_in, err)) != 0)
        return rc;
    snprintf(path, sizeof path, "%s/vcek.key", dir);
    struct stat st;
    if (!force && stat(path, &st) == 0)
        return sai_error_set(err, SAI_EEXIST, "a sim platform already exists in %s (use --force to replace it)", dir);
    if ((rc = mkdirs(dir, err)) != 0)
        return rc;
    if ((rc = sai_random_bytes(id.chip_id, sizeof id.chip_id, err)) != 0 ||
        (rc = sai_random_bytes(seal, sizeof seal, err)) != 0 ||
        (rc = sai_ec_generate(&ark, err)) != 0 ||
        (rc = sai_ec_generate(&ask, err)) != 0 ||
        (rc = sai_ec_generate(&vcek, err)) != 0)
        goto out;
    id.tcb_raw = (uint64_t)SIM_BL | (uint64_t)SIM_TEE << 8 | (uint64_t)SIM_SNP << 48 |
                 (uint64_t)SIM_UCODE << 56;
    ark_c = make_cert(ark, "ARK-Sim", NULL, ark, 25 * 365, true, NULL);
    ask_c = ark_c ? make_cert(ask, "SEV-Sim", ark_c, ark, 25 * 365, true, NULL) : NULL;
    vcek_c = ask_c ? make_cert(vcek, "SEV-VCEK", ask_c, ask, 7 * 365, false, &id) : NULL;
    if (vcek_c == NULL) {
        rc = sai_error_set(err, SAI_ECRYPTO, "cannot create the sim certificates");
        goto out;
    }
    char chip_hex[129];
    sai_hex_encode(chip_hex, id.chip_id, 64);
    cJSON *o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddStringToObject(o, "format", "secureai-sim-platform/v1") ||
        !cJSON_AddStringToObject(o, "notice", "SIMULATED platform: these keys are not hardware-protected") ||
        !cJSON_AddStringToObject(o, "chip_id", chip_hex) ||
        !cJSON_AddNumberToObject(o, "bl", SIM_BL) || !cJSON_AddNumberToObject(o, "tee", SIM_TEE) ||
        !cJSON_AddNumberToObject(o, "snp", SIM_SNP) || !cJSON_AddNumberToObject(o, "ucode", SIM_UCODE) ||
        (json = cJSON_Print(o)) == NULL) {
        cJSON_Delete(o);
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    cJSON_Delete(o);
    snprintf(path, sizeof path, "%s/seal.key", dir);
    if ((rc = write_key(dir, "ark.key", ark, err)) != 0 ||
        (rc = write_key(dir, "ask.key", ask, err)) != 0 ||
        (rc = write_key(dir, "vcek.key", vcek, err)) != 0 ||
        (rc = sai_write_file_atomic(path, seal, sizeof seal, 0600, false, err)) != 0 ||
        (rc = write_cert(dir, "ark.pem", ark_c, err)) != 0 ||
        (rc = write_cert(dir, "ask.pem", ask_c, err)) != 0 ||
        (rc = write_cert(dir, "vcek.pem", vcek_c, err)) != 0)
        goto out;
    snprintf(path, sizeof path, "%s/platform.json", dir);
    rc = sai_write_file_atomic(path, json, strlen(json), 0644, false, err);
out:
    sai_wipe(seal, sizeof seal);
    free(json);
    X509_free(ark_c); X509_free(ask_c); X509_free(vcek_c);
    sai_ec_free(ark); sai_ec_free(ask); sai_ec_free(vcek);
    return rc;
}

int sai_tee__sim_identity_load(sai_sim_identity_t *id, const char *dir, sai_error_t *err)
{
    char path[4200];
    uint8_t *buf = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/platform.json", dir);
    int rc = sai_read_file(path, 64 * 1024, &buf, &len, err);
    if (rc != 0)
        return rc;
    cJSON *o = cJSON_ParseWithLength((const char *)buf, len);
    free(buf);
    cJSON *chip = o ? cJSON_GetObjectItemCaseSensitive(o, "chip_id") : NULL;
    double v[4];
    static const char *const names[4] = { "bl", "tee", "snp", "ucode" };
    rc = cJSON_IsString(chip) && sai_hex_decode(id->chip_id, 64, chip->valuestring, NULL) == 0 ? 0 : -1;
    for (int i = 0; i < 4 && rc == 0; i++) {
        cJSON *n = cJSON_GetObjectItemCaseSensitive(o, names[i]);
        if (!cJSON_IsNumber(n) || n->valuedouble < 0 || n->valuedouble > 255)
            rc = -1;
        else
            v[i] = n->valuedouble;
    }
    cJSON_Delete(o);
    if (rc != 0)
        return sai_error_set(err, SAI_EFORMAT, "%s is not a sim platform description", path);
    id->tcb_raw = (uint64_t)v[0] | (uint64_t)v[1] << 8 | (uint64_t)v[2] << 48 | (uint64_t)v[3] << 56;
    return 0;
}

int sai_sim_platform_ark_fingerprint(const char *dir_in, uint8_t fp[32], sai_error_t *err)
{
    char dir[4096], path[4200];
    int rc = sai_sim_platform_dir(dir, sizeof dir, dir_in, err);
    if (rc != 0)
        return rc;
    snprintf(path, sizeof path, "%s/ark.pem", dir);
    uint8_t *buf = NULL;
    size_t len;
    if ((rc = sai_read_file(path, 64 * 1024, &buf, &len, err)) != 0)
        return rc;
    BIO *b = BIO_new_mem_buf(buf, (int)len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    unsigned n = 0;
    rc = x && X509_digest(x, EVP_sha256(), fp, &n) == 1 && n == 32 ? 0
         : sai_error_set(err, SAI_EFORMAT, "%s is not a certificate", path);
    X509_free(x);
    BIO_free(b);
    free(buf);
    return rc;
}

static int hash_file_into(sai_hash_ctx_t *outer, const char *path, sai_error_t *err)
{
    uint8_t digest[48], lenbuf[8];
    uint64_t total = 0;
    sai_hash_ctx_t *h = NULL;
    int rc = sai_hash_new(&h, SAI_SHA384, err);
    if (rc != 0)
        return rc;
    if (path != NULL) {
        FILE *f = fopen(path, "rb");
        if (f == NULL) {
            sai_hash_free(h);
            return sai_error_set(err, SAI_EIO, "cannot open %s: %s", path, strerror(errno));
        }
        uint8_t buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
            total += n;
            if ((rc = sai_hash_update(h, buf, n, err)) != 0)
                break;
        }
        if (ferror(f) && rc == 0)
            rc = sai_error_set(err, SAI_EIO, "read %s failed", path);
        fclose(f);
    }
    if (rc == 0)
        rc = sai_hash_final(h, digest, err);
    sai_hash_free(h);
    if (rc != 0)
        return rc;
    for (int i = 0; i < 8; i++)
        lenbuf[i] = (uint8_t)(total >> (56 - 8 * i));
    if ((rc = sai_hash_update(outer, lenbuf, 8, err)) != 0)
        return rc;
    return sai_hash_update(outer, digest, 48, err);
}

int sai_sim_launch_measurement(uint8_t out[48], const char *binary, const char *spec,
                               const char *policy, sai_error_t *err)
{
    static const char label[] = "secureai/sim/launch/v1";
    sai_hash_ctx_t *h = NULL;
    int rc = sai_hash_new(&h, SAI_SHA384, err);
    if (rc != 0)
        return rc;
    if ((rc = sai_hash_update(h, label, sizeof label - 1, err)) == 0 &&
        (rc = hash_file_into(h, binary, err)) == 0 &&
        (rc = hash_file_into(h, spec, err)) == 0 &&
        (rc = hash_file_into(h, policy, err)) == 0)
        rc = sai_hash_final(h, out, err);
    sai_hash_free(h);
    return rc;
}
