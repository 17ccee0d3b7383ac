/* test_snp_vectors.c — real SEV-SNP evidence from AMD hardware
 * (tests/data/vectors/sev-snp, see its README): every vector verifies at a
 * time inside its validity with the field values its origin asserts; every negative
 * case is refused for the stated reason; a flipped byte in the signed
 * region, the signature or the certificate is refused. Vectors are read
 * from SAI_TEST_DATA_DIR (tests/data) at run time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "secureai/attest.h"
#include "secureai/util.h"

typedef struct vec {
    const char *id, *report, *vcek, *chain, *at;
    unsigned version;
    const char *product, *measurement, *rd_prefix, *chip_prefix;
    unsigned bl, tee, snp, ucode;
    bool debug, vlek;
    unsigned vmpl;
} vec;

static const vec V[] = {
    { "S1", "gosevguest_attestation.bin", "gosevguest_vcek.der", "amd_ask_ark_milan.pem",
      "2022-09-24T01:00:00Z", 2, "Milan",
      "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01",
      "010203040500000000", "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d",
      2, 0, 5, 68, true, false, 0 },
    { "S2", "derived_virtee_report_milan.bin", "virtee_vcek_milan.der", "amd_ask_ark_milan.pem",
      "2024-01-01T00:00:00Z", 2, "Milan",
      "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f",
      "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd",
      "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6",
      3, 0, 8, 115, false, false, 0 },
    { "S3", "trustee_test-report.bin", "trustee_test-vcek.der", "amd_ask_ark_milan.pem",
      "2024-01-01T00:00:00Z", 2, "Milan",
      "a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c",
      "ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e20000000000000000000000000000000000000000000000000000000000000000",
      "c38427a30d4c7af9", 3, 0, 8, 115, false, false, 0 },
    { "S4", "trustee_test-vlek-report.bin", "trustee_test-vlek.der", "amd_ask_ark_milan_vlek.pem",
      "2025-06-01T00:00:00Z", 3, "Milan",
      "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0",
      "819770b7e6ea6df8dd8fd4dd146b073c0bf4f3ce5b0977ecac486e3a05ed1bd54e2a7ac1f5d1ca02e7d7d5ef9f73b8574fd9359e3a480d741a4478e8a7bc27ca",
      "0000000000000000000000000000000000000000000000000000000000000000", 4, 0, 24, 217, false, true, 1 },
    { "S5", "derived_trustee_e2e_genoa_report.bin", "derived_trustee_e2e_genoa_vcek.der", "amd_ask_ark_genoa.pem",
      "2025-09-01T00:00:00Z", 3, "Genoa",
      "6a6519d757e68c2e939c9dbbbc1828498e8de35d2766dd05f1a2cca5059d0cf4ae62a36d75c837974dd50b315506e73e",
      "7e7320889600c7ac133aea7b896c51f41026002982292a7369559796999c1bf929eef3ff23c46e858f0b1982f9a92b17c51b578d958cde6b0c92978f150cf9b0",
      "371c55d6d15cb50f", 10, 0, 23, 25, false, false, 0 },
    { "S6", "derived_azsnpvtpm_milan_snp_report.bin", "azsnpvtpm_milan_vcek_chain.pem", NULL,
      "2024-01-01T00:00:00Z", 2, "Milan",
      "9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315",
      "b3fbad6514c83caeb0380882145e49f794229ef37c421b91fc47ff93556bafac0000000000000000000000000000000000000000000000000000000000000000",
      "19752a447db501a3", 3, 0, 8, 115, false, false, 0 },
    { "S6b", "derived_azsnpvtpm_milan_snp_report.bin", "azsnpvtpm_milan_vcek_chain.pem", "amd_ask_ark_milan.pem",
      "2024-01-01T00:00:00Z", 2, "Milan",
      "9ac48fcac8a2d88aeeff8d427ad4f2be0e3917c748a18bdf52cc317e7fe20308b459d5ef1a12e0c22944eb386d17c315",
      "b3fbad6514c83caeb0380882145e49f794229ef37c421b91fc47ff93556bafac", "19752a447db501a3",
      3, 0, 8, 115, false, false, 0 },
    { "S7", "derived_azsnpvtpm_genoa_snp_report.bin", "azsnpvtpm_genoa_vcek.pem", "amd_ask_ark_genoa.pem",
      "2025-06-01T00:00:00Z", 3, "Genoa",
      "f57dc09a507c6ecd82369bffb600f0003792f4d99bc26e985ec0c266fc34faf3706faf814c9e61065768a6ff917c89ae",
      "b581f12e29a2d7d64e5e0b738d563879a78b51c644d0fa0cce02b48699f6bf5f", "0506ffba875e939c",
      10, 0, 23, 84, false, false, 0 },
    { "S8", "derived_oak_milan_oc_release_report.bin", "derived_oak_milan_oc_release_vcek.der", "amd_ask_ark_milan.pem",
      "2025-09-12T00:00:00Z", 3, "Milan",
      "195b01b74976a1faba13bd85eaf787958f0a46e6dddd45c5bdbf8673522777842b8057ae5d866b75416efb62012deaa3",
      "a7ca989b0359ea4e5efc47bdbcad84b2df3f26fd09ee7bda5bb27953abf68992", "a3fdc2c64dc299ab",
      4, 0, 24, 219, false, false, 0 },
    { "S9", "derived_oak_genoa_oc_report.bin", "derived_oak_genoa_oc_vcek.der", "amd_ask_ark_genoa.pem",
      "2025-09-12T00:00:00Z", 5, "Genoa",
      "c57729018b0a6fb90dc17bb138b0aa35e4401004283ff4a2c24d3739ff3750f52384370e77b7032862a08c440a9bc4dc",
      "8100555af0ad8e7525be6dffeed0af83e30bbacbf03b76e175e6894d1ed057ce", "d2421d976f95ce0b",
      10, 0, 25, 84, false, false, 0 },
};
#define NV (sizeof V / sizeof V[0])

static uint8_t *load(const char *name, size_t *len)
{
    char path[1024];
    uint8_t *buf = NULL;
    sai_error_t err;
    snprintf(path, sizeof path, "%s/vectors/sev-snp/%s", SAI_TEST_DATA_DIR, name);
    if (sai_read_file(path, 1 << 20, &buf, len, &err) != 0)
        fail_msg("cannot read vector %s: %s", path, err.msg);
    return buf;
}

static int64_t at_of(const char *s)
{
    int64_t t;
    sai_error_t err;
    assert_int_equal(sai_parse_rfc3339(&t, s, &err), 0);
    return t;
}

static int verify_vec(const vec *v, const uint8_t *rep, size_t rlen, const uint8_t *vcek,
                      size_t vlen, int64_t at, sai_attest_result_t *res, sai_error_t *err)
{
    size_t clen = 0;
    uint8_t *chain = v->chain ? load(v->chain, &clen) : NULL;
    int rc = sai_attest_verify_snp(rep, rlen, vcek, vlen, chain, clen, NULL, 0, at, res, err);
    free(chain);
    return rc;
}

static void hexcheck(const char *id, const char *field, const uint8_t *got, const char *want_prefix)
{
    char hex[2 * 64 + 1];
    size_t n = strlen(want_prefix) / 2;
    sai_hex_encode(hex, got, n);
    if (strncmp(hex, want_prefix, 2 * n) != 0)
        fail_msg("%s %s: got %s want %s", id, field, hex, want_prefix);
}

static void test_vectors_verify(void **state)
{
    (void)state;
    for (size_t i = 0; i < NV; i++) {
        const vec *v = &V[i];
        size_t rlen, vlen;
        uint8_t *rep = load(v->report, &rlen), *vcek = load(v->vcek, &vlen);
        sai_attest_result_t res;
        sai_error_t err;
        if (verify_vec(v, rep, rlen, vcek, vlen, at_of(v->at), &res, &err) != 0)
            fail_msg("%s does not verify: %s", v->id, err.msg);
        assert_int_equal(res.tee, SAI_TEE_SEV_SNP);
        assert_false(res.is_simulated);
        assert_string_equal(res.product, v->product);
        assert_int_equal(res.report_version, v->version);
        assert_int_equal(res.debug, v->debug);
        assert_int_equal(res.vlek, v->vlek);
        assert_int_equal(res.vmpl, v->vmpl);
        hexcheck(v->id, "measurement", res.measurement, v->measurement);
        hexcheck(v->id, "report_data", res.report_data, v->rd_prefix);
        hexcheck(v->id, "chip_id", res.chip_id, v->chip_prefix);
        unsigned want[4] = { v->bl, v->tee, v->snp, v->ucode };
        const char *names[4] = { "bl", "tee", "snp", "ucode" };
        assert_int_equal(res.n_tcb, 4);
        for (int k = 0; k < 4; k++) {
            assert_string_equal(res.tcb[k].name, names[k]);
            if (res.tcb[k].value != want[k])
                fail_msg("%s tcb %s = %u, want %u", v->id, names[k], res.tcb[k].value, want[k]);
        }
        free(rep);
        free(vcek);
    }
}

/* For every vector: flip a byte of the signed region, of r, of s, of the
 * certificate; each is refused. */
static void test_vectors_flips_refused(void **state)
{
    (void)state;
    const size_t offs[] = { 0x04, 0x50, 0x90, 0x1A0, 0x29F, 0x2A0, 0x2C0, 0x2E8, 0x310 };
    for (size_t i = 0; i < NV; i++) {
        const vec *v = &V[i];
        size_t rlen, vlen;
        uint8_t *rep = load(v->report, &rlen), *vcek = load(v->vcek, &vlen);
        int64_t at = at_of(v->at);
        sai_attest_result_t res;
        sai_error_t err;
        for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
            rep[offs[k]] ^= 0x01;
            int rc = verify_vec(v, rep, rlen, vcek, vlen, at, &res, &err);
            if (rc == 0)
                fail_msg("%s: flipped report byte 0x%zx was accepted", v->id, offs[k]);
            assert_int_equal(res.verdict, SAI_VERDICT_CONTRAINDICATED);
            rep[offs[k]] ^= 0x01;
        }
        /* the unused upper bytes of r are must-be-zero */
        rep[0x2A0 + 60] = 1;
        assert_int_equal(verify_vec(v, rep, rlen, vcek, vlen, at, &res, &err), SAI_EFORMAT);
        rep[0x2A0 + 60] = 0;
        /* the certificate: flip one byte in the middle (DER) or one base64
         * character (PEM) of the signing certificate */
        size_t mid = vcek[0] == 0x30 ? vlen / 2 : 200;
        uint8_t saved = vcek[mid];
        vcek[mid] = vcek[0] == 0x30 ? (uint8_t)(saved ^ 0x01) : (uint8_t)(saved == 'A' ? 'B' : 'A');
        if (verify_vec(v, rep, rlen, vcek, vlen, at, &res, &err) == 0)
            fail_msg("%s: flipped certificate byte %zu was accepted", v->id, mid);
        vcek[mid] = saved;
        assert_int_equal(verify_vec(v, rep, rlen, vcek, vlen, at, &res, &err), 0);
        free(rep);
        free(vcek);
    }
}

static void expect_refusal(const vec *v, uint8_t *rep, size_t rlen, uint8_t *vcek, size_t vlen,
                           const char *at, int code, const char *rule)
{
    sai_attest_result_t res;
    sai_error_t err;
    int rc = verify_vec(v, rep, rlen, vcek, vlen, at_of(at), &res, &err);
    if (rc != code || strcmp(res.rule, rule) != 0)
        fail_msg("%s: got rc %d rule '%s' (%s), want rc %d rule '%s'", v->id, rc, res.rule, err.msg,
                 code, rule);
}

/* The negative expectations the origin repositories state (README §1). */
static void test_repo_negative_cases(void **state)
{
    (void)state;
    size_t rlen, vlen;
    /* S2 virtee milan_report_invalid: bit 0x80 of byte 21 */
    uint8_t *rep = load(V[1].report, &rlen), *vcek = load(V[1].vcek, &vlen);
    rep[21] ^= 0x80;
    expect_refusal(&V[1], rep, rlen, vcek, vlen, V[1].at, SAI_EAUTH, "signature");
    rep[21] ^= 0x80;
    /* S2 milan_chain_invalid: byte 40 of the VCEK DER */
    vcek[40] ^= 0xFF;
    sai_attest_result_t res;
    sai_error_t err;
    assert_int_not_equal(verify_vec(&V[1], rep, rlen, vcek, vlen, at_of(V[1].at), &res, &err), 0);
    free(rep);
    free(vcek);

    /* S3 trustee: byte 42 += 1 -> signature; byte 384 += 1 -> TCB; VCEK byte 42 += 1 -> chain */
    rep = load(V[2].report, &rlen);
    vcek = load(V[2].vcek, &vlen);
    rep[42]++;
    expect_refusal(&V[2], rep, rlen, vcek, vlen, V[2].at, SAI_EAUTH, "signature");
    rep[42]--;
    rep[384]++;
    expect_refusal(&V[2], rep, rlen, vcek, vlen, V[2].at, SAI_EAUTH, "tcb_extension");
    rep[384]--;
    vcek[42]++;
    assert_int_not_equal(verify_vec(&V[2], rep, rlen, vcek, vlen, at_of(V[2].at), &res, &err), 0);
    assert_int_equal(res.verdict, SAI_VERDICT_CONTRAINDICATED);
    vcek[42]--;
    free(rep);
    free(vcek);

    /* S1 after its VCEK expired; S4 VLEK expired 2025-12-10 and before its start */
    rep = load(V[0].report, &rlen);
    vcek = load(V[0].vcek, &vlen);
    expect_refusal(&V[0], rep, rlen, vcek, vlen, "2053-07-01T01:00:00Z", SAI_EAUTH, "validity");
    expect_refusal(&V[0], rep, rlen, vcek, vlen, "2022-09-24T00:00:00Z", SAI_EAUTH, "validity");
    /* S1's report with S2's VCEK: another chip */
    size_t v2len;
    uint8_t *vcek2 = load(V[1].vcek, &v2len);
    expect_refusal(&V[0], rep, rlen, vcek2, v2len, "2024-01-01T00:00:00Z", SAI_EAUTH, "tcb_extension");
    free(vcek2);
    free(rep);
    free(vcek);
    rep = load(V[3].report, &rlen);
    vcek = load(V[3].vcek, &vlen);
    expect_refusal(&V[3], rep, rlen, vcek, vlen, "2025-12-11T00:00:00Z", SAI_EAUTH, "validity");
    /* the VLEK against the VCEK chain (ASK instead of ASVK) is refused */
    vec wrong = V[3];
    wrong.chain = "amd_ask_ark_milan.pem";
    expect_refusal(&wrong, rep, rlen, vcek, vlen, V[3].at, SAI_EAUTH, "chain");
    free(rep);
    free(vcek);

    /* a Genoa report against the Milan chain */
    rep = load(V[4].report, &rlen);
    vcek = load(V[4].vcek, &vlen);
    wrong = V[4];
    wrong.chain = "amd_ask_ark_milan.pem";
    expect_refusal(&wrong, rep, rlen, vcek, vlen, V[4].at, SAI_EAUTH, "chain");
    /* no chain at all */
    wrong.chain = NULL;
    expect_refusal(&wrong, rep, rlen, vcek, vlen, V[4].at, SAI_EAUTH, "chain");
    free(rep);
    free(vcek);
}

static void test_report_format_errors(void **state)
{
    (void)state;
    size_t rlen;
    uint8_t *rep = load(V[0].report, &rlen);
    sai_snp_report_t r;
    sai_error_t err;
    assert_int_equal(sai_snp_report_parse(&r, rep, rlen, &err), 0);
    assert_int_equal(sai_snp_report_parse(&r, rep, rlen - 1, &err), SAI_EFORMAT);
    rep[0] = 4;
    assert_int_equal(sai_snp_report_parse(&r, rep, rlen, &err), SAI_EFORMAT);
    rep[0] = 2;
    rep[0x34] = 2;
    assert_int_equal(sai_snp_report_parse(&r, rep, rlen, &err), SAI_EFORMAT);
    free(rep);
}

/* The pinned fingerprints equal SHA-256 of the ARK/ASK/ASVK in the bundles. */
static void test_pinned_roots_match_bundles(void **state)
{
    (void)state;
    static const struct { const char *file, *ark_hex, *ask_hex; } B[] = {
        { "amd_ask_ark_milan.pem", "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
          "67d303bd3905fd38db8b20e0793699870e7fa612eaad5dec358293fd8c0bac1b" },
        { "amd_ask_ark_milan_vlek.pem", "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
          "c5e081f59b7efab1fe2f8b505e159704e72f29cab7ef7cf628a05a42439082f5" },
        { "amd_ask_ark_genoa.pem", "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
          "5464738c1546aed5f2cecf1dc98c5c960a92e8913238a61711bc90ec6e828521" },
        { "amd_ask_ark_genoa_vlek.pem", "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
          "197e610743a917d6b9bb982a5a9226ccc0a15b611be0619e626aca9151457372" },
        { "amd_ask_ark_turin_vcek.pem", "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
          "5b77ef5fe7a7a004fd9032668fba9d0fda22f88c4442069a479636a6ae3b3185" },
        { "amd_ask_ark_turin_vlek.pem", "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
          "104e10a8bd060a3c20a434261a57d0588fd65a88915b4f65b08bdecaf8df1a3c" },
    };
    for (size_t i = 0; i < sizeof B / sizeof B[0]; i++) {
        size_t len;
        uint8_t *pem = load(B[i].file, &len);
        BIO *b = BIO_new_mem_buf(pem, (int)len);
        X509 *ask = PEM_read_bio_X509(b, NULL, NULL, NULL), *ark = PEM_read_bio_X509(b, NULL, NULL, NULL);
        assert_non_null(ask);
        assert_non_null(ark);
        uint8_t fp[32];
        unsigned n;
        char hex[65];
        assert_int_equal(X509_digest(ark, EVP_sha256(), fp, &n), 1);
        sai_hex_encode(hex, fp, 32);
        assert_string_equal(hex, B[i].ark_hex);
        assert_int_equal(X509_digest(ask, EVP_sha256(), fp, &n), 1);
        sai_hex_encode(hex, fp, 32);
        assert_string_equal(hex, B[i].ask_hex);
        X509_free(ask);
        X509_free(ark);
        BIO_free(b);
        free(pem);
    }
}

/* Turin: chain-only vector; its VCEK carries fmcSPL and an 8-byte hwID, and
 * Turin's TCB byte order differs from Milan/Genoa. */
static void test_turin_chain_and_tcb_order(void **state)
{
    (void)state;
    size_t vlen, clen;
    uint8_t *vcek = load("virtee_vcek_turin.der", &vlen), *chain = load("amd_ask_ark_turin_vcek.pem", &clen);
    sai_snp_verifier_t *v = NULL;
    sai_error_t err;
    if (sai_snp_verifier_new(&v, vcek, vlen, chain, clen, NULL, 0, at_of("2025-06-01T00:00:00Z"), &err) != 0)
        fail_msg("turin chain: %s", err.msg);
    sai_snp_verifier_free(v);
    /* the Turin VCEK does not chain to the Milan ARK */
    size_t mlen;
    uint8_t *milan = load("amd_ask_ark_milan.pem", &mlen);
    assert_int_equal(sai_snp_verifier_new(&v, vcek, vlen, milan, mlen, NULL, 0,
                                          at_of("2025-06-01T00:00:00Z"), &err), SAI_EAUTH);
    free(milan);
    sai_snp_cert_ext_t e;
    assert_int_equal(sai_snp_cert_extensions(&e, vcek, vlen, &err), 0);
    assert_string_equal(e.product_name, "Turin");
    assert_true(e.fmc >= 0);
    assert_int_equal(e.hwid_len, 8);
    /* build REPORTED_TCB in Turin order [fmc, bl, tee, snp, 0,0,0, ucode] */
    uint64_t raw = (uint64_t)e.fmc | (uint64_t)e.bl << 8 | (uint64_t)e.tee << 16 |
                   (uint64_t)e.snp << 24 | (uint64_t)e.ucode << 56;
    sai_snp_tcb_t t;
    sai_snp_tcb_decode(&t, raw, SAI_SNP_PRODUCT_TURIN);
    assert_int_equal(t.fmc, e.fmc);
    assert_int_equal(t.bl, e.bl);
    assert_int_equal(t.tee, e.tee);
    assert_int_equal(t.snp, e.snp);
    assert_int_equal(t.ucode, e.ucode);
    /* the same bytes read in Milan order mean something else */
    sai_snp_tcb_decode(&t, raw, SAI_SNP_PRODUCT_MILAN);
    assert_int_equal(t.bl, e.fmc);
    free(vcek);
    free(chain);
}

/* A Turin report built over the real Turin VCEK: version 3, CPUID family
 * 1Ah, REPORTED_TCB in Turin order. Its signature is not AMD's, but the TCB
 * comparison comes before the signature, so a mismatch is refused by name. */
static void turin_report(uint8_t rep[SAI_SNP_REPORT_LEN], const sai_snp_cert_ext_t *e,
                         int fmc, int ucode)
{
    memset(rep, 0, SAI_SNP_REPORT_LEN);
    rep[0x00] = 3;                          /* version */
    rep[0x34] = 1;                          /* ECDSA P-384 with SHA-384 */
    uint64_t raw = (uint64_t)(uint8_t)fmc | (uint64_t)e->bl << 8 | (uint64_t)e->tee << 16 |
                   (uint64_t)e->snp << 24 | (uint64_t)(uint8_t)ucode << 56;
    for (int i = 0; i < 8; i++)
        rep[0x180 + i] = (uint8_t)(raw >> (8 * i));
    rep[0x188] = 0x1A;                      /* CPUID family: Turin */
    rep[0x189] = 0x02;
    memcpy(rep + 0x1A0, e->hwid, e->hwid_len);
}

static void test_turin_fmc_mismatch_named(void **state)
{
    (void)state;
    size_t vlen, clen;
    uint8_t *vcek = load("virtee_vcek_turin.der", &vlen), *chain = load("amd_ask_ark_turin_vcek.pem", &clen);
    sai_snp_verifier_t *v = NULL;
    sai_snp_cert_ext_t e;
    sai_error_t err;
    sai_attest_result_t res;
    uint8_t rep[SAI_SNP_REPORT_LEN];
    char want[160];
    assert_int_equal(sai_snp_cert_extensions(&e, vcek, vlen, &err), 0);
    if (sai_snp_verifier_new(&v, vcek, vlen, chain, clen, NULL, 0, at_of("2025-06-01T00:00:00Z"), &err) != 0)
        fail_msg("turin chain: %s", err.msg);

    /* the same TCB as the VCEK: past the TCB and chip checks, refused only
     * by the signature (the built report is laid out as Turin's) */
    turin_report(rep, &e, e.fmc, e.ucode);
    assert_int_equal(sai_snp_verifier_verify(v, rep, sizeof rep, &res, &err), SAI_EAUTH);
    assert_string_equal(res.rule, "signature");

    /* fmc alone differs: named, with both values */
    int fmc = (e.fmc + 1) & 0xFF;
    turin_report(rep, &e, fmc, e.ucode);
    assert_int_equal(sai_snp_verifier_verify(v, rep, sizeof rep, &res, &err), SAI_EAUTH);
    assert_string_equal(res.rule, "tcb_extension");
    if (strncmp(res.values, "fmc differs: ", 13) != 0)
        fail_msg("fmc not named first: %s", res.values);
    snprintf(want, sizeof want, "REPORTED_TCB fmc %d bl %d tee %d snp %d ucode %d != certificate fmcSPL %d blSPL %d",
             fmc, e.bl, e.tee, e.snp, e.ucode, e.fmc, e.bl);
    if (strstr(res.values, want) == NULL)
        fail_msg("want '%s' in '%s'", want, res.values);
    assert_non_null(strstr(err.msg, want));

    /* ucode and fmc differ: both named */
    turin_report(rep, &e, fmc, (e.ucode + 1) & 0xFF);
    assert_int_equal(sai_snp_verifier_verify(v, rep, sizeof rep, &res, &err), SAI_EAUTH);
    if (strncmp(res.values, "fmc, ucode differ: ", 19) != 0)
        fail_msg("fmc and ucode not named: %s", res.values);
    sai_snp_verifier_free(v);
    free(vcek);
    free(chain);
}

/* Synthetic VCEKs with both hwID encodings parse; their signature is bad. */
static void test_hwid_encodings_and_invalid_vceks(void **state)
{
    (void)state;
    const char *files[2] = { "trustee_test-vcek-invalid-legacy.der", "trustee_test-vcek-invalid-new.der" };
    for (int i = 0; i < 2; i++) {
        size_t len, clen;
        uint8_t *der = load(files[i], &len), *chain = load("amd_ask_ark_milan.pem", &clen);
        sai_snp_cert_ext_t e;
        sai_error_t err;
        assert_int_equal(sai_snp_cert_extensions(&e, der, len, &err), 0);
        assert_int_equal(e.hwid_len, 64);
        for (int k = 0; k < 64; k++)
            assert_int_equal(e.hwid[k], k);
        sai_snp_verifier_t *v = NULL;
        assert_int_equal(sai_snp_verifier_new(&v, der, len, chain, clen, NULL, 0,
                                              at_of("2024-01-01T00:00:00Z"), &err), SAI_EAUTH);
        free(der);
        free(chain);
    }
    size_t len;
    uint8_t *vlek = load("trustee_test-vlek.der", &len);
    sai_snp_cert_ext_t e;
    sai_error_t err;
    assert_int_equal(sai_snp_cert_extensions(&e, vlek, len, &err), 0);
    assert_true(e.is_vlek);
    assert_int_equal(e.hwid_len, 0);
    assert_int_equal(e.ucode, 217);
    assert_non_null(strstr(e.csp_id, "amazonaws.com"));
    free(vlek);
}

/* The default policy refuses S1 (DEBUG=1) and a min_tcb above S2's. */
static void test_policy_on_real_evidence(void **state)
{
    (void)state;
    size_t rlen, vlen;
    uint8_t *rep = load(V[0].report, &rlen), *vcek = load(V[0].vcek, &vlen);
    sai_attest_result_t res;
    sai_error_t err;
    assert_int_equal(verify_vec(&V[0], rep, rlen, vcek, vlen, at_of(V[0].at), &res, &err), 0);
    sai_attest_policy_t *p = NULL;
    assert_int_equal(sai_attest_policy_default(&p, &err), 0);
    assert_int_equal(sai_attest_policy_appraise(p, &res, NULL, at_of(V[0].at), &err), SAI_EPOLICY);
    assert_string_equal(res.rule, "debug");
    sai_attest_policy_free(p);
    free(rep);
    free(vcek);

    rep = load(V[1].report, &rlen);
    vcek = load(V[1].vcek, &vlen);
    assert_int_equal(verify_vec(&V[1], rep, rlen, vcek, vlen, at_of(V[1].at), &res, &err), 0);
    const char *y = "min_tcb: {ucode: 0x74}\n";
    assert_int_equal(sai_attest_policy_load(&p, y, strlen(y), &err), 0);
    assert_int_equal(sai_attest_policy_appraise(p, &res, NULL, at_of(V[1].at), &err), SAI_EPOLICY);
    assert_string_equal(res.rule, "min_tcb");
    assert_non_null(strstr(err.msg, "ucode 0x73 < required 0x74"));
    sai_attest_policy_free(p);
    y = "min_tcb: {ucode: 0x73, bl: 3}\nallowed_tee: [sev-snp]\n";
    assert_int_equal(sai_attest_policy_load(&p, y, strlen(y), &err), 0);
    assert_int_equal(sai_attest_policy_appraise(p, &res, NULL, at_of(V[1].at), &err), 0);
    assert_int_equal(res.verdict, SAI_VERDICT_AFFIRMING);
    sai_attest_policy_free(p);
    free(rep);
    free(vcek);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_verify),
        cmocka_unit_test(test_vectors_flips_refused),
        cmocka_unit_test(test_repo_negative_cases),
        cmocka_unit_test(test_report_format_errors),
        cmocka_unit_test(test_pinned_roots_match_bundles),
        cmocka_unit_test(test_turin_chain_and_tcb_order),
        cmocka_unit_test(test_turin_fmc_mismatch_named),
        cmocka_unit_test(test_hwid_encodings_and_invalid_vceks),
        cmocka_unit_test(test_policy_on_real_evidence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
