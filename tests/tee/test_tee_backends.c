/* test_tee_backends.c — the sev-snp, tdx and sgx backends against fake
 * configfs-tsm and Gramine /dev/attestation trees built here, serving real
 * hardware outputs from tests/data/vectors. The SNP path goes all the way:
 * fake configfs -> evidence envelope (certs from the auxblob GUID table) ->
 * sai_attest_verify_evidence affirms it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "secureai/attest.h"
#include "secureai/pipeline.h"
#include "secureai/tee.h"
#include "secureai/util.h"

static char root[256];

static uint8_t *load(const char *rel, size_t *len)
{
    char path[1024];
    uint8_t *buf = NULL;
    sai_error err;
    snprintf(path, sizeof path, "%s/vectors/%s", SAI_TEST_DATA_DIR, rel);
    if (sai_read_file(path, 1 << 20, &buf, len, &err) != 0)
        fail_msg("cannot read %s: %s", path, err.msg);
    return buf;
}

static void put(const char *rel, const void *data, size_t len)
{
    char path[1024];
    sai_error err;
    snprintf(path, sizeof path, "%s%s", root, rel);
    if (sai_write_file_atomic(path, data, len, 0644, false, &err) != 0)
        fail_msg("write %s: %s", path, err.msg);
}

static void mk(const char *rel)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s%s'", root, rel);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/sai-tee-XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

#define TSM "/sys/kernel/config/tsm/report"

/* GUID table {guid, off, len}* + zero entry, then the DER blobs */
static size_t certtable(uint8_t *out, const uint8_t *const *der, const size_t *dlen,
                        const uint8_t (*guid)[16], int n)
{
    size_t off = 24 * (size_t)(n + 1);
    memset(out, 0, off);
    for (int i = 0; i < n; i++) {
        uint8_t *e = out + 24 * i;
        memcpy(e, guid[i], 16);
        for (int b = 0; b < 4; b++) {
            e[16 + b] = (uint8_t)(off >> (8 * b));
            e[20 + b] = (uint8_t)(dlen[i] >> (8 * b));
        }
        memcpy(out + off, der[i], dlen[i]);
        off += dlen[i];
    }
    return off;
}

static void test_snp_configfs_to_verified_evidence(void **state)
{
    (void)state;
    size_t rlen, vlen, clen;
    uint8_t *rep = load("sev-snp/derived_oak_milan_oc_release_report.bin", &rlen);
    uint8_t *vcek = load("sev-snp/derived_oak_milan_oc_release_vcek.der", &vlen);
    uint8_t *chain = load("sev-snp/amd_ask_ark_milan.pem", &clen);
    BIO *b = BIO_new_mem_buf(chain, (int)clen);
    X509 *ask = PEM_read_bio_X509(b, NULL, NULL, NULL), *ark = PEM_read_bio_X509(b, NULL, NULL, NULL);
    uint8_t *ask_der = NULL, *ark_der = NULL;
    int al = i2d_X509(ask, &ask_der), kl = i2d_X509(ark, &ark_der);
    assert_true(al > 0 && kl > 0);
    static const uint8_t guids[3][16] = {
        { 0x8d,0x75,0xda,0x63,0x64,0xe6,0x64,0x45,0xad,0xc5,0xf4,0xb9,0x3b,0xe8,0xac,0xcd },
        { 0x79,0xb3,0xb7,0x4a,0xac,0xbb,0xe4,0x4f,0xa0,0x2f,0x05,0xae,0xf3,0x27,0xc7,0x82 },
        { 0xa6,0x04,0xb4,0xc0,0x03,0xa8,0x52,0x49,0x97,0x43,0x3f,0xb6,0x01,0x4c,0xd0,0xae },
    };
    /* the table lists ARK first to prove the backend orders by GUID */
    const uint8_t *ders[3] = { ark_der, ask_der, vcek };
    size_t dl[3] = { (size_t)kl, (size_t)al, vlen };
    const uint8_t (*g)[16] = (const uint8_t (*)[16])(guids[0]);
    uint8_t gsw[3][16];
    memcpy(gsw[0], guids[2], 16); memcpy(gsw[1], guids[1], 16); memcpy(gsw[2], guids[0], 16);
    g = (const uint8_t (*)[16])gsw;
    uint8_t *aux = malloc(16384);
    size_t auxlen = certtable(aux, ders, dl, g, 3);
    mk(TSM "/e1");
    put(TSM "/e1/provider", "sev_guest\n", 10);
    put(TSM "/e1/generation", "1\n", 2);
    put(TSM "/e1/outblob", rep, rlen);
    put(TSM "/e1/auxblob", aux, auxlen);

    sai_tee_opts o;
    memset(&o, 0, sizeof o);
    o.root = root;
    o.tsm_entry = "e1";
    sai_tee *t = NULL;
    sai_error err;
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SEV_SNP, &o, &err), 0);
    uint8_t rd[64];
    for (int i = 0; i < 64; i++)
        rd[i] = (uint8_t)(0xA0 + i);
    char *json = NULL;
    size_t jlen;
    if (sai_tee_get_evidence(t, rd, &json, &jlen, &err) != 0)
        fail_msg("get_evidence: %s", err.msg);
    uint8_t m[48];
    size_t ml;
    assert_int_equal(sai_tee_measure(t, m, &ml, &err), 0);
    assert_memory_equal(m, rep + 0x90, 48);
    sai_tee_close(t);
    /* the backend wrote our report data to inblob */
    char path[600];
    uint8_t *in = NULL;
    size_t inlen;
    snprintf(path, sizeof path, "%s" TSM "/e1/inblob", root);
    assert_int_equal(sai_read_file(path, 1024, &in, &inlen, &err), 0);
    assert_int_equal(inlen, 64);
    free(in);

    int64_t at;
    assert_int_equal(sai_parse_rfc3339(&at, "2025-09-12T00:00:00Z", &err), 0);
    sai_attest_result res;
    if (sai_attest_verify_evidence(json, jlen, NULL, NULL, at, &res, &err) != 0)
        fail_msg("verify: %s", err.msg);
    assert_int_equal(res.verdict, SAI_VERDICT_AFFIRMING);
    assert_int_equal(res.tee, SAI_TEE_SEV_SNP);
    assert_false(res.is_simulated);
    assert_string_equal(res.product, "Milan");
    /* a policy that expects our report data refuses: the fake served a
     * recorded report, exactly what a replay looks like */
    assert_int_equal(sai_attest_verify_evidence(json, jlen, NULL, rd, at, &res, &err), SAI_EPOLICY);
    assert_string_equal(res.rule, "report_data");
    free(json);

    /* provider mismatch */
    put(TSM "/e1/provider", "tdx_guest\n", 10);
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SEV_SNP, &o, &err), 0);
    assert_int_equal(sai_tee_get_evidence(t, rd, &json, &jlen, &err), SAI_EUNSUPP);
    assert_non_null(strstr(err.msg, "provider"));
    sai_tee_close(t);
    X509_free(ask); X509_free(ark); BIO_free(b);
    OPENSSL_free(ask_der); OPENSSL_free(ark_der);
    free(aux); free(rep); free(vcek); free(chain);
}

static void test_missing_devices(void **state)
{
    (void)state;
    char empty[300];
    snprintf(empty, sizeof empty, "%s/empty", root);
    mk("/empty");
    sai_tee_opts o;
    memset(&o, 0, sizeof o);
    o.root = empty;
    sai_tee *t = NULL;
    sai_error err;
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SEV_SNP, &o, &err), SAI_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no SEV-SNP guest interface found (looked at "));
    assert_non_null(strstr(err.msg, "/dev/sev-guest"));
    assert_int_equal(sai_tee_open(&t, SAI_TEE_TDX, &o, &err), SAI_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no TDX guest interface found"));
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SGX, &o, &err), SAI_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/dev/attestation"));
}

static void test_tdx_configfs_and_dev_fallback(void **state)
{
    (void)state;
    size_t qlen;
    uint8_t *q = load("tdx/trustee_tdx_quote_4.dat", &qlen);
    char troot[300];
    snprintf(troot, sizeof troot, "%s/tdx", root);
    mk("/tdx" TSM "/q");
    put("/tdx" TSM "/q/provider", "tdx_guest\n", 10);
    put("/tdx" TSM "/q/generation", "7\n", 2);
    put("/tdx" TSM "/q/outblob", q, qlen);
    sai_tee_opts o;
    memset(&o, 0, sizeof o);
    o.root = troot;
    o.tsm_entry = "q";
    sai_tee *t = NULL;
    sai_error err;
    assert_int_equal(sai_tee_open(&t, SAI_TEE_TDX, &o, &err), 0);
    uint8_t m[48], want[48];
    size_t ml;
    assert_int_equal(sai_tee_measure(t, m, &ml, &err), 0);
    assert_int_equal(sai_hex_decode(want, 48, "705ee9381b8633a9fbe532b52345e8433343d2868959f57889d84ca377c395b689cac1599ccea1b7d420483a9ce5f031", &err), 0);
    assert_memory_equal(m, want, 48);   /* README T4 MRTD */
    uint8_t rd[64] = { 9 }, key[32];
    char *json = NULL;
    size_t jlen;
    assert_int_equal(sai_tee_get_evidence(t, rd, &json, &jlen, &err), 0);
    sai_evidence ev;
    assert_int_equal(sai_evidence_parse(&ev, json, jlen, &err), 0);
    assert_int_equal(ev.tee, SAI_TEE_TDX);
    assert_int_equal(ev.quote_len, qlen);
    assert_memory_equal(ev.quote, q, qlen);
    sai_evidence_clear(&ev);
    /* the envelope goes through the one verifier: T4 is a debug TD, so the
     * default policy refuses it; allowing debug and the Unknown TCB status
     * (no collateral) affirms it with its MRTD */
    sai_attest_result res;
    const int64_t at = 1704067200; /* 2024-01-01, inside the PCK validity */
    assert_int_equal(sai_attest_verify_evidence(json, jlen, NULL, NULL, at, &res, &err), SAI_EPOLICY);
    assert_string_equal(res.rule, "debug");
    static const char pol_yaml[] = "allow_debug: true\ntcb_statuses: [Unknown]\n";
    sai_attest_policy *pol = NULL;
    assert_int_equal(sai_attest_policy_load(&pol, pol_yaml, sizeof pol_yaml - 1, &err), 0);
    assert_int_equal(sai_attest_verify_evidence(json, jlen, pol, NULL, at, &res, &err), 0);
    assert_int_equal(res.verdict, SAI_VERDICT_AFFIRMING);
    assert_memory_equal(res.mrtd, want, 48);
    assert_string_equal(res.tcb_status, "Unknown");
    sai_attest_policy_free(pol);
    assert_int_equal(sai_tee_derive_sealing_key(t, NULL, 0, key, &err), SAI_EUNSUPP);
    free(json);
    sai_tee_close(t);
    /* only /dev/tdx_guest: a clear message */
    mk("/tdxdev/dev");
    put("/tdxdev/dev/tdx_guest", "", 0);
    snprintf(troot, sizeof troot, "%s/tdxdev", root);
    o.root = troot;
    assert_int_equal(sai_tee_open(&t, SAI_TEE_TDX, &o, &err), 0);
    assert_int_equal(sai_tee_get_evidence(t, rd, &json, &jlen, &err), SAI_EUNSUPP);
    assert_non_null(strstr(err.msg, "configfs-tsm"));
    sai_tee_close(t);
    free(q);
}

static void test_sgx_gramine(void **state)
{
    (void)state;
    size_t qlen;
    uint8_t *q = load("sgx/dcapqvl_sgx_quote.dat", &qlen);
    char groot[300];
    snprintf(groot, sizeof groot, "%s/gr", root);
    mk("/gr/dev/attestation/keys");
    put("/gr/dev/attestation/attestation_type", "dcap", 4);
    put("/gr/dev/attestation/user_report_data", "", 0);
    put("/gr/dev/attestation/quote", q, qlen);
    put("/gr/dev/attestation/keys/_sgx_mrenclave", "0123456789abcdef", 16);
    sai_tee_opts o;
    memset(&o, 0, sizeof o);
    o.root = groot;
    sai_tee *t = NULL;
    sai_error err;
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SGX, &o, &err), 0);
    uint8_t rd[64], m[48], want[32];
    for (int i = 0; i < 64; i++)
        rd[i] = (uint8_t)i;
    char *json = NULL;
    size_t jlen, ml;
    assert_int_equal(sai_tee_get_evidence(t, rd, &json, &jlen, &err), 0);
    char path[600];
    uint8_t *urd = NULL;
    size_t ul;
    snprintf(path, sizeof path, "%s/dev/attestation/user_report_data", groot);
    assert_int_equal(sai_read_file(path, 100, &urd, &ul, &err), 0);
    assert_int_equal(ul, 64);
    assert_memory_equal(urd, rd, 64);
    free(urd);
    assert_int_equal(sai_tee_measure(t, m, &ml, &err), 0);
    assert_int_equal(ml, 32);
    assert_int_equal(sai_hex_decode(want, 32, "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb", &err), 0);
    assert_memory_equal(m, want, 32);   /* README G1 MRENCLAVE */
    uint8_t k1[32], k2[32], k3[32];
    assert_int_equal(sai_tee_derive_sealing_key(t, (const uint8_t *)"a", 1, k1, &err), 0);
    assert_int_equal(sai_tee_derive_sealing_key(t, (const uint8_t *)"a", 1, k2, &err), 0);
    assert_int_equal(sai_tee_derive_sealing_key(t, (const uint8_t *)"b", 1, k3, &err), 0);
    assert_memory_equal(k1, k2, 32);
    assert_memory_not_equal(k1, k3, 32);
    sai_tee_close(t);
    free(json);
    /* wrong attestation type */
    put("/gr/dev/attestation/attestation_type", "none", 4);
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SGX, &o, &err), SAI_EUNSUPP);
    free(q);
}

/* The one TEE name table (src/tee/tee.c): every kind round-trips; the
 * aliases "snp"/"sev_snp" are accepted by the lenient parser only, so specs
 * and KBS requests (canonical names) still refuse them. */
static void test_tee_names(void **state)
{
    (void)state;
    static const struct { sai_tee_kind k; const char *n; } want[] = {
        {SAI_TEE_SIM, "sim"}, {SAI_TEE_SEV_SNP, "sev-snp"}, {SAI_TEE_TDX, "tdx"}, {SAI_TEE_SGX, "sgx"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_string_equal(sai_tee_kind_name(want[i].k), want[i].n);
        assert_int_equal(sai_tee_kind_from_name(want[i].n), want[i].k);
        assert_int_equal(sai_tee_kind_from_canonical_name(want[i].n), want[i].k);
    }
    assert_null(sai_tee_kind_name(SAI_TEE_NONE));
    assert_null(sai_tee_kind_name((sai_tee_kind)99));
    assert_int_equal(sai_tee_kind_from_name("snp"), SAI_TEE_SEV_SNP);
    assert_int_equal(sai_tee_kind_from_name("sev_snp"), SAI_TEE_SEV_SNP);
    const char *bad[] = {"snp", "sev_snp", "SIM", "nitro", "", "sim "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sai_tee_kind_from_canonical_name(bad[i]), SAI_TEE_NONE);
    assert_int_equal(sai_tee_kind_from_name("nitro"), SAI_TEE_NONE);
    assert_int_equal(sai_tee_kind_from_name(NULL), SAI_TEE_NONE);
    assert_int_equal(sai_tee_kind_from_canonical_name(NULL), SAI_TEE_NONE);
    /* pipeline/spec.c's statements go through the same table */
    assert_non_null(strstr(sai_pipeline_tee_statement(NULL), "sim: software isolation only"));
    assert_non_null(strstr(sai_pipeline_tee_statement("sev-snp"), "sev-snp: "));
    assert_non_null(strstr(sai_pipeline_tee_statement("tdx"), "tdx: "));
    assert_non_null(strstr(sai_pipeline_tee_statement("sgx"), "sgx: "));
    assert_non_null(strstr(sai_pipeline_tee_statement("snp"), "unknown TEE kind"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snp_configfs_to_verified_evidence),
        cmocka_unit_test(test_missing_devices),
        cmocka_unit_test(test_tdx_configfs_and_dev_fallback),
        cmocka_unit_test(test_sgx_gramine),
        cmocka_unit_test(test_tee_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
