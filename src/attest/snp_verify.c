/*
 * snp_verify.c — SEV-SNP report verification: the VCEK/VLEK -> ASK/ASVK ->
 * ARK chain ending in a pinned root, certificate validity at a given time,
 * the report signature, and the VCEK's KDS extensions matched to the report.
 *
 * Each check and the attack it stops (docs/attestation.md has the list with
 * the tests that prove them):
 *  - root pinned by SHA-256 fingerprint: a self-made ARK is refused;
 *  - every link signature (RSASSA-PSS for AMD, ECDSA for sim): a forged VCEK;
 *  - validity at `at`: expired or not-yet-valid certificates;
 *  - VCEK vs VLEK in the leaf subject == SIGNING_KEY in the report;
 *  - report signature (ECDSA P-384 over 0x000..0x29F): any flipped byte;
 *  - blSPL/teeSPL/snpSPL/ucodeSPL(/fmcSPL) == REPORTED_TCB: a report from a
 *    downgraded firmware cannot borrow a VCEK issued for a newer TCB;
 *  - hwID == CHIP_ID: a report from one chip with another chip's VCEK;
 *  - CPUID product (v3+) == the chain's product.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/attest_internal.h"
#include "secureai/crypto.h"
#include "secureai/util.h"

struct sai_snp_verifier_t {
    sai_ec_key_t     *leaf_key;
    sai_snp_product_t product;
    bool            simulated;
    bool            leaf_is_vlek;
    uint8_t         root_fp[32];
    /* KDS extensions of the leaf (-1 = absent) */
    int             ext_bl, ext_tee, ext_snp, ext_ucode, ext_fmc;
    uint8_t         hwid[64];
    size_t          hwid_len;
};

int sai_attest__refuse(sai_attest_result_t *res, sai_error_t *err, int code, const char *rule,
                      const char *hint, const char *fmt, ...)
{
    char values[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(values, sizeof values, fmt, ap);
    va_end(ap);
    if (res != NULL) {
        res->verdict = SAI_VERDICT_CONTRAINDICATED;
        snprintf(res->rule, sizeof res->rule, "%s", rule);
        snprintf(res->values, sizeof res->values, "%s", values);
        snprintf(res->hint, sizeof res->hint, "%s", hint ? hint : "");
    }
    if (hint != NULL && hint[0] != '\0')
        return sai_error_set(err, code, "%s: %s (hint: %s)", rule, values, hint);
    return sai_error_set(err, code, "%s: %s", rule, values);
}

void sai_attest__set_snp_tcb(sai_attest_result_t *res, const sai_snp_tcb_t *t, sai_snp_product_t p)
{
    res->n_tcb = 0;
#define ADD(n, v) do { snprintf(res->tcb[res->n_tcb].name, sizeof res->tcb[0].name, "%s", n); \
                       res->tcb[res->n_tcb++].value = (v); } while (0)
    if (p == SAI_SNP_PRODUCT_TURIN)
        ADD("fmc", t->fmc);
    ADD("bl", t->bl);
    ADD("tee", t->tee);
    ADD("snp", t->snp);
    ADD("ucode", t->ucode);
#undef ADD
}

/* Load one DER certificate or a PEM bundle into sk. */
static int load_certs(STACK_OF(X509) *sk, const uint8_t *buf, size_t len, sai_error_t *err)
{
    if (len == 0 || len > SAI_SNP_CERT_MAX * 4)
        return sai_error_set(err, SAI_EFORMAT, "certificate input of %zu bytes", len);
    if (buf[0] == 0x30) {
        const unsigned char *p = buf;
        X509 *x = d2i_X509(NULL, &p, (long)len);
        if (x == NULL)
            return sai_error_set(err, SAI_EFORMAT, "not a DER X.509 certificate");
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            return sai_error_set(err, SAI_ENOMEM, "out of memory");
        }
        return 0;
    }
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    if (bio == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    int n = 0;
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (x == NULL)
            break;
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            break;
        }
        n++;
    }
    BIO_free(bio);
    if (n == 0)
        return sai_error_set(err, SAI_EFORMAT, "no certificate found (expected DER or PEM)");
    return 0;
}

static int cert_fp(const X509 *x, uint8_t fp[32])
{
    unsigned int n = 0;
    return X509_digest(x, EVP_sha256(), fp, &n) == 1 && n == 32 ? 0 : -1;
}

static void cert_cn(const X509 *x, char *out, size_t cap)
{
    out[0] = '\0';
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)cap);
}

/* An ASN.1 time as RFC 3339 UTC ("2025-12-10T22:14:21Z"), or "?" when unreadable. */
static void asn1_time_str(const ASN1_TIME *t, char out[SAI_ATTEST_TIME_STR])
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
        strftime(out, SAI_ATTEST_TIME_STR, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, SAI_ATTEST_TIME_STR, "?");
}

static int check_validity(const X509 *x, int64_t at, const char *what,
                          sai_attest_result_t *res, sai_error_t *err)
{
    time_t t = (time_t)at;
    const ASN1_TIME *nb = X509_get0_notBefore(x), *na = X509_get0_notAfter(x);
    int a = ASN1_TIME_cmp_time_t(nb, t), b = ASN1_TIME_cmp_time_t(na, t);
    if (a == -2 || b == -2)
        return sai_attest__refuse(res, err, SAI_EFORMAT, "validity", NULL,
                                 "%s has an unreadable validity period", what);
    if (a > 0 || b < 0) {
        char ats[SAI_ATTEST_TIME_STR], nbs[SAI_ATTEST_TIME_STR], nas[SAI_ATTEST_TIME_STR];
        sai_attest__time_str(ats, at);
        asn1_time_str(nb, nbs);
        asn1_time_str(na, nas);
        return sai_attest__refuse(res, err, SAI_EAUTH, "validity",
                                 "verify as of a time inside the validity (--at RFC3339) or fetch a current certificate",
                                 "%s is %s at %s (valid %s .. %s)", what,
                                 a > 0 ? "not yet valid" : "expired", ats, nbs, nas);
    }
    return 0;
}

static int sig_ok(X509 *child, X509 *issuer)
{
    EVP_PKEY *k = X509_get0_pubkey(issuer);
    return k != NULL && X509_verify(child, k) == 1;
}

/* Integer extension value (DER INTEGER inside the extnValue OCTET STRING). */
static int ext_int(const X509 *x, const char *oid)
{
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    if (o == NULL)
        return -1;
    int idx = X509_get_ext_by_OBJ(x, o, -1);
    ASN1_OBJECT_free(o);
    if (idx < 0)
        return -1;
    X509_EXTENSION *e = X509_get_ext(x, idx);
    const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(e);
    const unsigned char *p = ASN1_STRING_get0_data(os);
    ASN1_INTEGER *ai = d2i_ASN1_INTEGER(NULL, &p, ASN1_STRING_length(os));
    if (ai == NULL)
        return -2;
    long v = ASN1_INTEGER_get(ai);
    ASN1_INTEGER_free(ai);
    return v < 0 || v > 255 ? -2 : (int)v;
}

/* hwID: real KDS VCEKs carry the raw bytes; some tools wrap them in an
 * OCTET STRING (04 40 ...). Accept both. */
static size_t ext_hwid(const X509 *x, uint8_t out[64])
{
    ASN1_OBJECT *o = OBJ_txt2obj("1.3.6.1.4.1.3704.1.4", 1);
    if (o == NULL)
        return 0;
    int idx = X509_get_ext_by_OBJ(x, o, -1);
    ASN1_OBJECT_free(o);
    if (idx < 0)
        return 0;
    const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(X509_get_ext(x, idx));
    const uint8_t *p = ASN1_STRING_get0_data(os);
    size_t n = (size_t)ASN1_STRING_length(os);
    if (n >= 2 && p[0] == 0x04 && (size_t)p[1] == n - 2 && n - 2 <= 64) {
        p += 2;
        n -= 2;
    }
    if (n > 64)
        return 0;
    memcpy(out, p, n);
    return n;
}

void sai_snp_verifier_free(sai_snp_verifier_t *v)
{
    if (v == NULL)
        return;
    sai_ec_free(v->leaf_key);
    free(v);
}

static int verifier_new(sai_snp_verifier_t **out, const uint8_t *vcek, size_t vcek_len,
                        const uint8_t *chain, size_t chain_len,
                        const uint8_t (*extra)[32], size_t n_extra, int64_t at,
                        sai_attest_result_t *res, sai_error_t *err)
{
    int rc = SAI_EFORMAT;
    STACK_OF(X509) *sk = sk_X509_new_null();
    sai_snp_verifier_t *v = calloc(1, sizeof *v);
    *out = NULL;
    if (sk == NULL || v == NULL) {
        rc = sai_error_set(err, SAI_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = load_certs(sk, vcek, vcek_len, err)) != 0) {
        sai_error_prefix(err, "VCEK");
        goto out;
    }
    if (chain != NULL && chain_len > 0 && (rc = load_certs(sk, chain, chain_len, err)) != 0) {
        sai_error_prefix(err, "certificate chain");
        goto out;
    }
    X509 *leaf = sk_X509_value(sk, 0), *ark = NULL, *ask = NULL;
    const sai_amd_root_t *root = NULL;
    /* find the anchor: a pinned AMD ARK or a trusted sim ARK */
    for (int i = 1; i < sk_X509_num(sk) && ark == NULL; i++) {
        uint8_t fp[32];
        X509 *c = sk_X509_value(sk, i);
        if (cert_fp(c, fp) != 0)
            continue;
        for (size_t r = 0; r < sai_amd_n_roots; r++)
            if (memcmp(fp, sai_amd_roots[r].ark, 32) == 0) {
                ark = c; root = &sai_amd_roots[r];
                memcpy(v->root_fp, fp, 32);
            }
        for (size_t r = 0; r < n_extra && ark == NULL; r++)
            if (memcmp(fp, extra[r], 32) == 0) {
                ark = c; v->simulated = true;
                memcpy(v->root_fp, fp, 32);
            }
    }
    if (ark == NULL) {
        rc = sai_attest__refuse(res, err, SAI_EAUTH, "chain",
                               "pass the AMD ASK/ARK bundle for this product (--chain), or for sim evidence trust the platform's ARK",
                               "no certificate after the VCEK is a pinned AMD ARK%s",
                               n_extra ? " or a trusted sim ARK" : "");
        goto out;
    }
    if (!sig_ok(ark, ark)) {
        rc = sai_attest__refuse(res, err, SAI_EAUTH, "chain", NULL, "ARK self-signature does not verify");
        goto out;
    }
    for (int i = 1; i < sk_X509_num(sk) && ask == NULL; i++) {
        X509 *c = sk_X509_value(sk, i);
        if (c != ark && sig_ok(c, ark) && sig_ok(leaf, c))
            ask = c;
    }
    if (ask == NULL) {
        rc = sai_attest__refuse(res, err, SAI_EAUTH, "chain",
                               "the VCEK/VLEK must be signed by an ASK/ASVK that the ARK signed",
                               "no ASK/ASVK links the signing certificate to the %s ARK",
                               root ? root->name : "sim");
        goto out;
    }
    char leaf_cn[64], ask_cn[64];
    cert_cn(leaf, leaf_cn, sizeof leaf_cn);
    cert_cn(ask, ask_cn, sizeof ask_cn);
    v->leaf_is_vlek = strstr(leaf_cn, "VLEK") != NULL;
    if (root != NULL) {
        uint8_t fp[32];
        if (cert_fp(ask, fp) != 0 ||
            memcmp(fp, v->leaf_is_vlek ? root->asvk : root->ask, 32) != 0) {
            rc = sai_attest__refuse(res, err, SAI_EAUTH, "chain",
                                   "a VCEK chains through the ASK, a VLEK through the ASVK",
                                   "intermediate '%s' is not the pinned %s for %s",
                                   ask_cn, v->leaf_is_vlek ? "ASVK" : "ASK", root->name);
            goto out;
        }
        v->product = root->product;
    } else {
        v->product = SAI_SNP_PRODUCT_SIM;
    }
    if ((rc = check_validity(leaf, at, v->leaf_is_vlek ? "VLEK" : "VCEK", res, err)) != 0 ||
        (rc = check_validity(ask, at, v->leaf_is_vlek ? "ASVK" : "ASK", res, err)) != 0 ||
        (rc = check_validity(ark, at, "ARK", res, err)) != 0)
        goto out;
    if (X509_check_ca(leaf) != 0) {
        rc = sai_attest__refuse(res, err, SAI_EAUTH, "chain", NULL,
                               "the signing certificate is a CA certificate, not a VCEK/VLEK");
        goto out;
    }
    EVP_PKEY *pk = X509_get0_pubkey(leaf);
    if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC || EVP_PKEY_get_bits(pk) != 384 ||
        sai_ec_from_evp(&v->leaf_key, pk, err) != 0) {
        rc = sai_attest__refuse(res, err, SAI_EFORMAT, "chain", NULL,
                               "signing certificate key is not ECDSA P-384");
        goto out;
    }
    v->ext_bl = ext_int(leaf, "1.3.6.1.4.1.3704.1.3.1");
    v->ext_tee = ext_int(leaf, "1.3.6.1.4.1.3704.1.3.2");
    v->ext_snp = ext_int(leaf, "1.3.6.1.4.1.3704.1.3.3");
    v->ext_ucode = ext_int(leaf, "1.3.6.1.4.1.3704.1.3.8");
    v->ext_fmc = ext_int(leaf, "1.3.6.1.4.1.3704.1.3.9");
    v->hwid_len = ext_hwid(leaf, v->hwid);
    if (v->ext_bl < 0 || v->ext_tee < 0 || v->ext_snp < 0 || v->ext_ucode < 0 ||
        (v->product == SAI_SNP_PRODUCT_TURIN && v->ext_fmc < 0)) {
        rc = sai_attest__refuse(res, err, SAI_EFORMAT, "tcb_extension", NULL,
                               "signing certificate lacks the KDS TCB extensions (blSPL/teeSPL/snpSPL/ucodeSPL%s)",
                               v->product == SAI_SNP_PRODUCT_TURIN ? "/fmcSPL" : "");
        goto out;
    }
    if (!v->leaf_is_vlek && v->hwid_len == 0) {
        rc = sai_attest__refuse(res, err, SAI_EFORMAT, "chip_id", NULL, "VCEK lacks the hwID extension");
        goto out;
    }
    *out = v;
    v = NULL;
    rc = 0;
out:
    sai_snp_verifier_free(v);
    sk_X509_pop_free(sk, X509_free);
    return rc;
}

int sai_snp_verifier_new(sai_snp_verifier_t **out, const uint8_t *vcek, size_t vcek_len,
                         const uint8_t *chain, size_t chain_len,
                         const uint8_t (*extra)[32], size_t n_extra, int64_t at, sai_error_t *err)
{
    return verifier_new(out, vcek, vcek_len, chain, chain_len, extra, n_extra, at, NULL, err);
}

int sai_snp_verifier_verify(const sai_snp_verifier_t *v, const uint8_t *report, size_t len,
                            sai_attest_result_t *res, sai_error_t *err)
{
    sai_snp_report_t r;
    memset(res, 0, sizeof *res);
    int rc = sai_snp_report_parse(&r, report, len, err);
    if (rc != 0)
        return sai_attest__refuse(res, err, rc, "format", NULL, "%s", err ? err->msg : "bad report");

    res->tee = v->simulated ? SAI_TEE_SIM : SAI_TEE_SEV_SNP;
    res->is_simulated = v->simulated;
    snprintf(res->product, sizeof res->product, "%s", sai_snp_product_name(v->product));
    memcpy(res->measurement, r.measurement, 48);
    res->measurement_len = 48;
    memcpy(res->report_data, r.report_data, 64);
    memcpy(res->chip_id, r.chip_id, 64);
    res->debug = r.debug;
    res->guest_policy = r.policy;
    res->vmpl = r.vmpl;
    res->report_version = r.version;
    res->vlek = r.vlek;
    memcpy(res->signer_root_fp, v->root_fp, 32);
    sai_snp_tcb_t tcb;
    sai_snp_tcb_decode(&tcb, r.reported_tcb_raw, v->product);
    sai_attest__set_snp_tcb(res, &tcb, v->product);

    if (r.version >= 3 && r.vlek != v->leaf_is_vlek)
        return sai_attest__refuse(res, err, SAI_EAUTH, "signing_key", NULL,
                                 "report says signed by %s, certificate is a %s",
                                 r.vlek ? "VLEK" : "VCEK", v->leaf_is_vlek ? "VLEK" : "VCEK");
    if (r.cpuid_product != SAI_SNP_PRODUCT_UNKNOWN && v->product != SAI_SNP_PRODUCT_SIM &&
        r.cpuid_product != v->product)
        return sai_attest__refuse(res, err, SAI_EAUTH, "product", NULL,
                                 "report CPUID family %02x model %02x is %s, certificate chain is %s",
                                 r.cpuid_fam, r.cpuid_mod, sai_snp_product_name(r.cpuid_product),
                                 sai_snp_product_name(v->product));
    bool turin = v->product == SAI_SNP_PRODUCT_TURIN;
    if (tcb.bl != v->ext_bl || tcb.tee != v->ext_tee || tcb.snp != v->ext_snp ||
        tcb.ucode != v->ext_ucode || (turin && tcb.fmc != v->ext_fmc)) {
        /* name every component that differs, then both sides in full (fmc
         * only on Turin, the one product whose REPORTED_TCB carries it) */
        char diff[48] = "", fmc_r[16] = "", fmc_c[16] = "";
        size_t dl = 0;
        int nd = 0;
#define DIFF(name, a, b) do { if ((int)(a) != (b)) dl += (size_t)snprintf(diff + dl, sizeof diff - dl, \
                                                        "%s%s", nd++ ? ", " : "", name); } while (0)
        if (turin)
            DIFF("fmc", tcb.fmc, v->ext_fmc);
        DIFF("bl", tcb.bl, v->ext_bl);
        DIFF("tee", tcb.tee, v->ext_tee);
        DIFF("snp", tcb.snp, v->ext_snp);
        DIFF("ucode", tcb.ucode, v->ext_ucode);
#undef DIFF
        if (turin) {
            snprintf(fmc_r, sizeof fmc_r, "fmc %u ", tcb.fmc);
            snprintf(fmc_c, sizeof fmc_c, "fmcSPL %d ", v->ext_fmc);
        }
        return sai_attest__refuse(res, err, SAI_EAUTH, "tcb_extension",
                                 "fetch the VCEK issued for this REPORTED_TCB",
                                 "%s %s: REPORTED_TCB %sbl %u tee %u snp %u ucode %u != certificate %sblSPL %d teeSPL %d snpSPL %d ucodeSPL %d",
                                 diff, nd > 1 ? "differ" : "differs", fmc_r, tcb.bl, tcb.tee, tcb.snp, tcb.ucode,
                                 fmc_c, v->ext_bl, v->ext_tee, v->ext_snp, v->ext_ucode);
    }
    bool mask_chip = (r.signer_info >> 1) & 1;
    if (!v->leaf_is_vlek && !mask_chip) {
        /* Turin hwID is 8 bytes = CHIP_ID[0:8] */
        size_t n = v->hwid_len;
        if (n == 0 || memcmp(v->hwid, r.chip_id, n) != 0) {
            char a[129], b[129];
            sai_hex_encode(a, r.chip_id, n ? n : 8);
            sai_hex_encode(b, v->hwid, n);
            return sai_attest__refuse(res, err, SAI_EAUTH, "chip_id",
                                     "the VCEK belongs to another chip",
                                     "report CHIP_ID %s != VCEK hwID %s", a, b);
        }
    }
    /* the signature last: the cheap comparisons above name the precise reason
     * for a mismatched VCEK (as trustee does); none of them accepts anything */
    uint8_t sig[SAI_P384_SIG_LEN];
    memcpy(sig, r.sig_r, 48);
    memcpy(sig + 48, r.sig_s, 48);
    if (sai_ecdsa_verify(v->leaf_key, sig, report, SAI_SNP_SIGNED_LEN, NULL) != 0)
        return sai_attest__refuse(res, err, SAI_EAUTH, "signature",
                                 "the report was altered or was not signed by this VCEK/VLEK",
                                 "report signature does not verify with the %s",
                                 v->leaf_is_vlek ? "VLEK" : "VCEK");
    return 0;
}

/* IA5String/UTF8String extension as text. */
static void ext_text(const X509 *x, const char *oid, char *out, size_t cap)
{
    out[0] = '\0';
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    int idx = o ? X509_get_ext_by_OBJ(x, o, -1) : -1;
    ASN1_OBJECT_free(o);
    if (idx < 0)
        return;
    const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(X509_get_ext(x, idx));
    const uint8_t *p = ASN1_STRING_get0_data(os);
    size_t n = (size_t)ASN1_STRING_length(os);
    if (n >= 2 && (p[0] == 0x16 || p[0] == 0x0C) && p[1] < 0x80 && (size_t)p[1] == n - 2) {
        p += 2;
        n -= 2;
    }
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (p[i] >= 0x20 && p[i] < 0x7F) ? (char)p[i] : '?';
    out[n] = '\0';
}

int sai_snp_cert_extensions(sai_snp_cert_ext_t *out, const uint8_t *cert, size_t len, sai_error_t *err)
{
    memset(out, 0, sizeof *out);
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (sk == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    int rc = load_certs(sk, cert, len, err);
    if (rc == 0) {
        X509 *x = sk_X509_value(sk, 0);
        char cn[64];
        cert_cn(x, cn, sizeof cn);
        out->is_vlek = strstr(cn, "VLEK") != NULL;
        out->bl = ext_int(x, "1.3.6.1.4.1.3704.1.3.1");
        out->tee = ext_int(x, "1.3.6.1.4.1.3704.1.3.2");
        out->snp = ext_int(x, "1.3.6.1.4.1.3704.1.3.3");
        out->ucode = ext_int(x, "1.3.6.1.4.1.3704.1.3.8");
        out->fmc = ext_int(x, "1.3.6.1.4.1.3704.1.3.9");
        out->hwid_len = ext_hwid(x, out->hwid);
        ext_text(x, "1.3.6.1.4.1.3704.1.2", out->product_name, sizeof out->product_name);
        ext_text(x, "1.3.6.1.4.1.3704.1.5", out->csp_id, sizeof out->csp_id);
    }
    sk_X509_pop_free(sk, X509_free);
    return rc;
}

int sai_attest_verify_snp(const uint8_t *report, size_t report_len,
                          const uint8_t *vcek, size_t vcek_len,
                          const uint8_t *chain, size_t chain_len,
                          const uint8_t (*extra)[32], size_t n_extra,
                          int64_t at, sai_attest_result_t *res, sai_error_t *err)
{
    sai_snp_verifier_t *v = NULL;
    memset(res, 0, sizeof *res);
    res->verified_at = at;
    int rc = verifier_new(&v, vcek, vcek_len, chain, chain_len, extra, n_extra, at, res, err);
    if (rc != 0) {
        if (res->rule[0] == '\0')
            sai_attest__refuse(res, NULL, rc, "chain", NULL, "%s", err ? err->msg : "");
        /* still expose the parsed fields for diagnostics */
        sai_snp_report_t r;
        if (sai_snp_report_parse(&r, report, report_len, NULL) == 0) {
            memcpy(res->measurement, r.measurement, 48);
            res->measurement_len = 48;
            memcpy(res->report_data, r.report_data, 64);
        }
        return rc;
    }
    rc = sai_snp_verifier_verify(v, report, report_len, res, err);
    res->verified_at = at;
    sai_snp_verifier_free(v);
    return rc;
}
