/* test_policy.c — one passing and one failing case for every appraisal
 * rule, plus strict parsing (unknown keys, bad values are errors). The
 * results appraised here are built by hand: the rules are pure functions
 * of (policy, result, expected report data, now). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "secureai/attest.h"
#include "secureai/util.h"

#define NOW 1750000000

static const char M1[] = "111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111";
static const char M2[] = "222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222";

static void base_snp(sai_attest_result_t *r)
{
    memset(r, 0, sizeof *r);
    r->tee = SAI_TEE_SEV_SNP;
    snprintf(r->product, sizeof r->product, "Milan");
    memset(r->measurement, 0x11, 48);
    r->measurement_len = 48;
    memset(r->report_data, 0xAB, 64);
    const char *n[4] = { "bl", "tee", "snp", "ucode" };
    unsigned v[4] = { 3, 0, 8, 0x48 };
    for (int i = 0; i < 4; i++) {
        snprintf(r->tcb[i].name, sizeof r->tcb[i].name, "%s", n[i]);
        r->tcb[i].value = v[i];
    }
    r->n_tcb = 4;
    r->evidence_time = NOW - 10;
}

static int appraise(const char *yaml, sai_attest_result_t *r, const uint8_t *rd, sai_error_t *err)
{
    sai_attest_policy_t *p = NULL;
    int rc = sai_attest_policy_load(&p, yaml, strlen(yaml), err);
    if (rc != 0)
        fail_msg("policy '%s': %s", yaml, err->msg);
    rc = sai_attest_policy_appraise(p, r, rd, NOW, err);
    sai_attest_policy_free(p);
    return rc;
}

#define PASS(yaml, r) do { sai_error_t e_; int rc_ = appraise(yaml, r, NULL, &e_); \
    if (rc_ != 0) fail_msg("expected pass for '%s': %s", yaml, e_.msg); \
    assert_int_equal((r)->verdict, SAI_VERDICT_AFFIRMING); } while (0)
#define FAILS(yaml, r, want_rule) do { sai_error_t e_; int rc_ = appraise(yaml, r, NULL, &e_); \
    assert_int_equal(rc_, SAI_EPOLICY); assert_int_equal((r)->verdict, SAI_VERDICT_CONTRAINDICATED); \
    assert_string_equal((r)->rule, want_rule); assert_non_null(strstr(e_.msg, want_rule)); } while (0)

static void test_allowed_tee(void **state)
{
    (void)state;
    sai_attest_result_t r;
    base_snp(&r); PASS("allowed_tee: [sev-snp, tdx]\n", &r);
    base_snp(&r); FAILS("allowed_tee: [tdx, sgx]\n", &r, "allowed_tee");
    base_snp(&r); r.tee = SAI_TEE_SGX; PASS("{}\n", &r);    /* default: real TEEs */
}

static void test_allow_simulated(void **state)
{
    (void)state;
    sai_attest_result_t r;
    base_snp(&r); r.tee = SAI_TEE_SIM; r.is_simulated = true;
    PASS("allow_simulated: true\n", &r);
    base_snp(&r); r.tee = SAI_TEE_SIM; r.is_simulated = true;
    FAILS("{}\n", &r, "allow_simulated");
    /* sim evidence dressed as sev-snp is still simulated */
    base_snp(&r); r.is_simulated = true;
    FAILS("allowed_tee: [sev-snp]\n", &r, "allow_simulated");
    /* allowing simulation does not allow it when allowed_tee omits sim */
    base_snp(&r); r.tee = SAI_TEE_SIM; r.is_simulated = true;
    FAILS("allow_simulated: true\nallowed_tee: [sev-snp]\n", &r, "allowed_tee");
}

static void test_debug(void **state)
{
    (void)state;
    sai_attest_result_t r;
    base_snp(&r); r.debug = true; FAILS("{}\n", &r, "debug");
    base_snp(&r); r.debug = true; PASS("allow_debug: true\n", &r);
    base_snp(&r); PASS("allow_debug: false\n", &r);
}

static void test_measurements(void **state)
{
    (void)state;
    sai_attest_result_t r;
    char y[512];
    snprintf(y, sizeof y, "measurements: [%s, %s]\n", M2, M1);
    base_snp(&r); PASS(y, &r);
    snprintf(y, sizeof y, "measurements: [%s]\n", M2);
    base_snp(&r); FAILS(y, &r, "measurements");
}

static void test_td_and_sgx_measurements(void **state)
{
    (void)state;
    sai_attest_result_t r;
    char y[1024];
    base_snp(&r); r.tee = SAI_TEE_TDX; r.has_td = true;
    memset(r.mrtd, 0x11, 48); memset(r.rtmr[1], 0x22, 48);
    snprintf(y, sizeof y, "mrtd: [%s]\nrtmr1: [%s]\n", M1, M2);
    PASS(y, &r);
    snprintf(y, sizeof y, "mrtd: [%s]\nrtmr1: [%s]\n", M1, M1);
    FAILS(y, &r, "rtmr1");
    snprintf(y, sizeof y, "mrtd: [%s]\n", M2);
    FAILS(y, &r, "mrtd");
    base_snp(&r); r.tee = SAI_TEE_SGX; r.has_sgx = true; r.measurement_len = 32;
    memset(r.mrenclave, 0x11, 32); memset(r.mrsigner, 0x22, 32);
    memset(r.measurement, 0x11, 32);
    PASS("mrenclave: [1111111111111111111111111111111111111111111111111111111111111111]\n"
         "mrsigner: [2222222222222222222222222222222222222222222222222222222222222222]\n", &r);
    FAILS("mrsigner: [1111111111111111111111111111111111111111111111111111111111111111]\n", &r, "mrsigner");
    FAILS("mrenclave: [2222222222222222222222222222222222222222222222222222222222222222]\n", &r, "mrenclave");
}

static void test_min_tcb(void **state)
{
    (void)state;
    sai_attest_result_t r;
    sai_error_t e;
    base_snp(&r); PASS("min_tcb: {bl: 3, snp: 8, ucode: 0x48}\n", &r);
    base_snp(&r);
    assert_int_equal(appraise("min_tcb: {ucode: 0x49}\n", &r, NULL, &e), SAI_EPOLICY);
    assert_string_equal(r.rule, "min_tcb");
    assert_non_null(strstr(e.msg, "ucode 0x48 < required 0x49"));
    assert_non_null(strstr(e.msg, "OutOfDate"));
    base_snp(&r); FAILS("min_tcb: {fmc: 1}\n", &r, "min_tcb");   /* Milan reports no fmc */
}

static void test_tcb_statuses(void **state)
{
    (void)state;
    sai_attest_result_t r;
    base_snp(&r); r.tee = SAI_TEE_SGX; snprintf(r.tcb_status, sizeof r.tcb_status, "SWHardeningNeeded");
    PASS("tcb_statuses: [UpToDate, SWHardeningNeeded]\n", &r);
    base_snp(&r); r.tee = SAI_TEE_SGX; snprintf(r.tcb_status, sizeof r.tcb_status, "OutOfDate");
    FAILS("tcb_statuses: [UpToDate]\n", &r, "tcb_statuses");
    /* default for Intel results: UpToDate only; Unknown (no collateral) too
     * needs listing; SNP results carry no status and are not affected */
    base_snp(&r); r.tee = SAI_TEE_TDX; snprintf(r.tcb_status, sizeof r.tcb_status, "UpToDate");
    PASS("allow_debug: false\n", &r);
    base_snp(&r); r.tee = SAI_TEE_TDX; snprintf(r.tcb_status, sizeof r.tcb_status, "SWHardeningNeeded");
    FAILS("allow_debug: false\n", &r, "tcb_statuses");
    base_snp(&r); r.tee = SAI_TEE_TDX; snprintf(r.tcb_status, sizeof r.tcb_status, "Unknown");
    FAILS("allow_debug: false\n", &r, "tcb_statuses");
    assert_non_null(strstr(r.hint, "no collateral"));
    base_snp(&r); r.tee = SAI_TEE_TDX; snprintf(r.tcb_status, sizeof r.tcb_status, "Unknown");
    PASS("tcb_statuses: [UpToDate, Unknown]\n", &r);
    base_snp(&r);
    PASS("allow_debug: false\n", &r);
}

static void test_isv_prodid(void **state)
{
    (void)state;
    sai_attest_result_t r;
    base_snp(&r); r.tee = SAI_TEE_SGX; r.has_sgx = true; r.isv_prodid = 7;
    snprintf(r.tcb_status, sizeof r.tcb_status, "UpToDate");
    PASS("isv_prodid: [1, 7]\n", &r);
    r.verdict = SAI_VERDICT_NONE;
    FAILS("isv_prodid: [1]\n", &r, "isv_prodid");
    /* an SGX result without SGX fields cannot satisfy it */
    base_snp(&r); r.tee = SAI_TEE_SGX;
    FAILS("isv_prodid: [0]\n", &r, "mrenclave");
}

static void test_report_data(void **state)
{
    (void)state;
    sai_attest_result_t r;
    char y[300], hex[129];
    uint8_t rd[64];
    memset(rd, 0xAB, 64);
    sai_hex_encode(hex, rd, 64);
    snprintf(y, sizeof y, "report_data: %s\n", hex);
    base_snp(&r); PASS(y, &r);
    base_snp(&r); r.report_data[63] ^= 1; FAILS(y, &r, "report_data");
    /* the caller's expected report data (the nonce) */
    sai_error_t e;
    base_snp(&r);
    assert_int_equal(appraise("{}\n", &r, rd, &e), 0);
    rd[0] ^= 1;
    base_snp(&r);
    assert_int_equal(appraise("{}\n", &r, rd, &e), SAI_EPOLICY);
    assert_string_equal(r.rule, "report_data");
}

static void test_max_age(void **state)
{
    (void)state;
    sai_attest_result_t r;
    base_snp(&r); PASS("max_age: 60\n", &r);
    base_snp(&r); r.evidence_time = NOW - 61; FAILS("max_age: 60\n", &r, "max_age");
    base_snp(&r); r.evidence_time = 0; FAILS("max_age: 60\n", &r, "max_age");
    base_snp(&r); r.evidence_time = NOW + 3600; FAILS("max_age: 60\n", &r, "max_age");
}

static void test_strict_parsing(void **state)
{
    (void)state;
    const char *bad[] = {
        "allow_simulatd: true\n",                 /* typo */
        "allow_simulated: maybe\n",
        "allowed_tee: [sev-snp, nitro]\n",
        "measurements: [abcd]\n",
        "min_tcb: {microcode: 3}\n",
        "min_tcb: {ucode: -1}\n",
        "tcb_statuses: [Fine]\n",
        "isv_prodid: [70000]\n",
        "isv_prodid: [-1]\n",
        "min_tcb: {sgx: 1}\n",
        "report_data: 00\n",
        "max_age: soon\n",
        "sim_roots: [00]\n",
        "- a list\n",
        "key: [unclosed\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sai_attest_policy_t *p = NULL;
        sai_error_t e;
        if (sai_attest_policy_load(&p, bad[i], strlen(bad[i]), &e) == 0)
            fail_msg("policy accepted: %s", bad[i]);
        assert_null(p);
    }
    sai_attest_policy_t *p = NULL;
    sai_error_t e;
    assert_int_equal(sai_attest_policy_load(&p, "", 0, &e), 0);   /* empty = default */
    sai_attest_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowed_tee),
        cmocka_unit_test(test_allow_simulated),
        cmocka_unit_test(test_debug),
        cmocka_unit_test(test_measurements),
        cmocka_unit_test(test_td_and_sgx_measurements),
        cmocka_unit_test(test_min_tcb),
        cmocka_unit_test(test_tcb_statuses),
        cmocka_unit_test(test_isv_prodid),
        cmocka_unit_test(test_report_data),
        cmocka_unit_test(test_max_age),
        cmocka_unit_test(test_strict_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
