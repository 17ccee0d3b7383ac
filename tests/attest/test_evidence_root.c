/* test_evidence_root.c — sai_attest_evidence_root (src/attest/evidence_root.c):
 * the trust anchor learnt from evidence itself is the ARK of the platform
 * that signed it, a different one for another platform, and nothing at all
 * for evidence whose report or chain does not verify up to a certificate it
 * carries. The distributed runtime holds peers to this root
 * (docs/distributed.md, "Peers' attestation policy"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/attest.h"
#include "secureai/tee.h"
#include "secureai/util.h"

static char top[256], dir_a[300], dir_b[300];
static uint8_t fp_a[32], fp_b[32];

static int setup(void **state)
{
    (void)state;
    sai_error_t err = {0};
    char tmpl[] = "/tmp/sai-evroot-XXXXXX";
    if (mkdtemp(tmpl) == NULL)
        return -1;
    snprintf(top, sizeof top, "%s", tmpl);
    snprintf(dir_a, sizeof dir_a, "%s/a", top);
    snprintf(dir_b, sizeof dir_b, "%s/b", top);
    if (sai_sim_platform_init(dir_a, false, &err) != 0 || sai_sim_platform_init(dir_b, false, &err) != 0 ||
        sai_sim_platform_ark_fingerprint(dir_a, fp_a, &err) != 0 ||
        sai_sim_platform_ark_fingerprint(dir_b, fp_b, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
    return system(cmd) == 0 ? 0 : -1;
}

static char *evidence(const char *dir, size_t *len)
{
    sai_tee_opts_t o;
    memset(&o, 0, sizeof o);
    o.platform_dir = dir;
    sai_tee_t *t = NULL;
    sai_error_t err = {0};
    char *json = NULL;
    uint8_t rd[64];
    memset(rd, 0x5a, sizeof rd);
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SIM, &o, &err), 0);
    assert_int_equal(sai_tee_get_evidence(t, rd, &json, len, &err), 0);
    sai_tee_close(t);
    return json;
}

static void test_root_is_the_signing_platform(void **state)
{
    (void)state;
    sai_error_t err = {0};
    sai_attest_result_t res;
    size_t la = 0, lb = 0;
    char *a = evidence(dir_a, &la), *b = evidence(dir_b, &lb);
    assert_int_equal(sai_attest_evidence_root(a, la, 0, &res, &err), 0);
    assert_int_equal(res.tee, SAI_TEE_SIM);
    assert_memory_equal(res.signer_root_fp, fp_a, 32);
    uint8_t rd[64];
    memset(rd, 0x5a, sizeof rd);
    assert_memory_equal(res.report_data, rd, 64);
    assert_int_equal(sai_attest_evidence_root(b, lb, 0, &res, &err), 0);
    assert_memory_equal(res.signer_root_fp, fp_b, 32);
    assert_memory_not_equal(fp_a, fp_b, 32);
    free(a);
    free(b);
}

/* Rebuild a's envelope with its report altered, or with its chain cut to
 * the signing certificate, or with b's chain: none verifies up to a root. */
static void test_unverifiable_evidence_has_no_root(void **state)
{
    (void)state;
    sai_error_t err = {0};
    sai_attest_result_t res;
    size_t la = 0, lb = 0;
    char *a = evidence(dir_a, &la), *b = evidence(dir_b, &lb);
    sai_evidence_t ea, eb;
    assert_int_equal(sai_evidence_parse(&ea, a, la, &err), 0);
    assert_int_equal(sai_evidence_parse(&eb, b, lb, &err), 0);
    sai_evidence_parts_t p = {.tee = SAI_TEE_SIM, .simulated = true, .report = ea.report,
                              .report_len = ea.report_len, .certs_pem = ea.certs};
    char *j = NULL;
    size_t jl = 0;

    /* unchanged: verifies (so the cases below fail for their one change) */
    assert_int_equal(sai_evidence_build(&j, &jl, &p, &err), 0);
    assert_int_equal(sai_attest_evidence_root(j, jl, 0, &res, &err), 0);
    free(j);

    ea.report[0x50] ^= 0xff;   /* inside REPORT_DATA: signed */
    assert_int_equal(sai_evidence_build(&j, &jl, &p, &err), 0);
    assert_int_not_equal(sai_attest_evidence_root(j, jl, 0, &res, &err), 0);
    free(j);
    ea.report[0x50] ^= 0xff;

    char *end = strstr(ea.certs, "-----END CERTIFICATE-----");
    assert_non_null(end);
    end[strlen("-----END CERTIFICATE-----")] = '\0';   /* the signing certificate only */
    assert_int_equal(sai_evidence_build(&j, &jl, &p, &err), 0);
    assert_int_not_equal(sai_attest_evidence_root(j, jl, 0, &res, &err), 0);
    free(j);

    p.certs_pem = eb.certs;   /* another platform's chain under a's report */
    assert_int_equal(sai_evidence_build(&j, &jl, &p, &err), 0);
    assert_int_not_equal(sai_attest_evidence_root(j, jl, 0, &res, &err), 0);
    free(j);

    sai_evidence_clear(&ea);
    sai_evidence_clear(&eb);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_is_the_signing_platform),
        cmocka_unit_test(test_unverifiable_evidence_has_no_root),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
