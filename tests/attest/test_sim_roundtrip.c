/* test_sim_roundtrip.c — the simulated TEE end to end: platform init, PSP
 * signer, evidence, verification, appraisal, signed result token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secureai/attest.h"
#include "secureai/crypto.h"
#include "secureai/tee.h"
#include "secureai/util.h"

static char dir_a[256], dir_b[256];
static uint8_t fp_a[32], fp_b[32];

static int setup(void **state)
{
    (void)state;
    sai_error_t err;
    char tmpl[] = "/tmp/sai-sim-XXXXXX";
    if (mkdtemp(tmpl) == NULL)
        return -1;
    snprintf(dir_a, sizeof dir_a, "%s/a", tmpl);
    snprintf(dir_b, sizeof dir_b, "%s/b", tmpl);
    if (sai_sim_platform_init(dir_a, false, &err) != 0 ||
        sai_sim_platform_init(dir_b, false, &err) != 0) {
        fprintf(stderr, "init: %s\n", err.msg);
        return -1;
    }
    if (sai_sim_platform_ark_fingerprint(dir_a, fp_a, &err) != 0 ||
        sai_sim_platform_ark_fingerprint(dir_b, fp_b, &err) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/..'", dir_a);
    char *slash = strrchr(dir_a, '/');
    if (slash) {
        *slash = '\0';
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir_a);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

static char *make_evidence(const char *dir, const uint8_t rd[64], size_t *len)
{
    sai_tee_opts_t o;
    memset(&o, 0, sizeof o);
    o.platform_dir = dir;
    sai_tee_t *t = NULL;
    sai_error_t err;
    char *json = NULL;
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SIM, &o, &err), 0);
    assert_int_equal(sai_tee_kind_of(t), SAI_TEE_SIM);
    assert_int_equal(sai_tee_get_evidence(t, rd, &json, len, &err), 0);
    sai_tee_close(t);
    return json;
}

static sai_attest_policy_t *policy_for(const char *extra, const uint8_t fp[32])
{
    char hex[65], yaml[4096];
    sai_hex_encode(hex, fp, 32);
    snprintf(yaml, sizeof yaml, "allow_simulated: true\nsim_roots: [%s]\n%s", hex, extra ? extra : "");
    sai_attest_policy_t *p = NULL;
    sai_error_t err;
    if (sai_attest_policy_load(&p, yaml, strlen(yaml), &err) != 0)
        fail_msg("policy: %s", err.msg);
    return p;
}

static void test_platform_init_refuses_overwrite(void **state)
{
    (void)state;
    sai_error_t err;
    assert_int_equal(sai_sim_platform_init(dir_a, false, &err), SAI_EEXIST);
    assert_memory_not_equal(fp_a, fp_b, 32);
}

static void test_roundtrip_affirms(void **state)
{
    (void)state;
    uint8_t rd[64];
    size_t len;
    sai_error_t err;
    for (int i = 0; i < 64; i++)
        rd[i] = (uint8_t)(i * 7);
    char *json = make_evidence(dir_a, rd, &len);
    assert_non_null(strstr(json, "SIMULATED TEE"));
    sai_attest_policy_t *p = policy_for(NULL, fp_a);
    sai_attest_result_t res;
    int rc = sai_attest_verify_evidence(json, len, p, rd, 0, &res, &err);
    if (rc != 0)
        fail_msg("verify: %s", err.msg);
    assert_int_equal(res.verdict, SAI_VERDICT_AFFIRMING);
    assert_int_equal(res.tee, SAI_TEE_SIM);
    assert_true(res.is_simulated);
    assert_memory_equal(res.report_data, rd, 64);
    assert_int_equal(res.measurement_len, 48);
    assert_string_equal(res.product, "Sim");
    assert_memory_equal(res.signer_root_fp, fp_a, 32);
    /* the measurement is the launcher's: SHA-384 over this binary */
    uint8_t m[48];
    assert_int_equal(sai_sim_launch_measurement(m, "/proc/self/exe", NULL, NULL, &err), 0);
    assert_memory_equal(res.measurement, m, 48);

    /* the token: sign, verify, expiry, tamper */
    sai_ec_key_t *k = NULL;
    assert_int_equal(sai_ec_generate(&k, &err), 0);
    char *jwt = NULL;
    int64_t now = (int64_t)time(NULL);
    assert_int_equal(sai_attest_token_sign(&jwt, &res, k, now, 300, &err), 0);
    sai_attest_token_t tok;
    assert_int_equal(sai_attest_token_verify(&tok, jwt, strlen(jwt), k, now + 10, &err), 0);
    assert_int_equal(tok.verdict, SAI_VERDICT_AFFIRMING);
    assert_int_equal(tok.tee, SAI_TEE_SIM);
    assert_true(tok.simulated);
    assert_memory_equal(tok.measurement, m, 48);
    assert_true(tok.has_report_data);
    assert_memory_equal(tok.report_data, rd, 64);
    assert_int_equal(sai_attest_token_verify(&tok, jwt, strlen(jwt), k, now + 301, &err), SAI_EAUTH);
    char *dot = strchr(jwt, '.');
    dot[3] ^= 1;
    assert_int_not_equal(sai_attest_token_verify(&tok, jwt, strlen(jwt), k, now, &err), 0);
    dot[3] ^= 1;
    sai_ec_key_t *other = NULL;
    assert_int_equal(sai_ec_generate(&other, &err), 0);
    assert_int_equal(sai_attest_token_verify(&tok, jwt, strlen(jwt), other, now, &err), SAI_EAUTH);
    free(jwt);
    sai_ec_free(other);
    sai_ec_free(k);
    sai_attest_policy_free(p);
    free(json);
}

static void test_refused_without_allow_simulated(void **state)
{
    (void)state;
    uint8_t rd[64] = { 1 };
    size_t len;
    sai_error_t err;
    char *json = make_evidence(dir_a, rd, &len);
    char hex[65], yaml[256];
    sai_hex_encode(hex, fp_a, 32);
    snprintf(yaml, sizeof yaml, "sim_roots: [%s]\n", hex);
    sai_attest_policy_t *p = NULL;
    assert_int_equal(sai_attest_policy_load(&p, yaml, strlen(yaml), &err), 0);
    sai_attest_result_t res;
    assert_int_equal(sai_attest_verify_evidence(json, len, p, rd, 0, &res, &err), SAI_EPOLICY);
    assert_int_equal(res.verdict, SAI_VERDICT_CONTRAINDICATED);
    assert_string_equal(res.rule, "allow_simulated");
    assert_non_null(strstr(err.msg, "SIMULATED"));
    sai_attest_policy_free(p);
    free(json);
}

static void test_refused_measurement_and_report_data(void **state)
{
    (void)state;
    uint8_t rd[64] = { 2 }, other_rd[64] = { 3 };
    size_t len;
    sai_error_t err;
    char *json = make_evidence(dir_a, rd, &len);
    sai_attest_result_t res;
    sai_attest_policy_t *p = policy_for(
        "measurements: [000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000]\n",
        fp_a);
    assert_int_equal(sai_attest_verify_evidence(json, len, p, rd, 0, &res, &err), SAI_EPOLICY);
    assert_string_equal(res.rule, "measurements");
    sai_attest_policy_free(p);
    p = policy_for(NULL, fp_a);
    assert_int_equal(sai_attest_verify_evidence(json, len, p, other_rd, 0, &res, &err), SAI_EPOLICY);
    assert_string_equal(res.rule, "report_data");
    sai_attest_policy_free(p);
    free(json);
}

/* Replace the first certificate (the VCEK) of the envelope by B's VCEK. */
static void test_refused_swapped_vcek_and_other_platform(void **state)
{
    (void)state;
    uint8_t rd[64] = { 4 };
    size_t len, blen;
    sai_error_t err;
    char *json = make_evidence(dir_a, rd, &len);
    char path[400];
    uint8_t *bvcek = NULL;
    snprintf(path, sizeof path, "%s/vcek.pem", dir_b);
    assert_int_equal(sai_read_file(path, 65536, &bvcek, &blen, &err), 0);
    sai_evidence_t ev;
    assert_int_equal(sai_evidence_parse(&ev, json, len, &err), 0);
    /* certs = A.vcek A.ask A.ark; rebuild with B.vcek first */
    char *ask = strstr(ev.certs + 1, "-----BEGIN CERTIFICATE-----");
    assert_non_null(ask);
    size_t n = blen + strlen(ask) + 1;
    char *mixed = malloc(n);
    snprintf(mixed, n, "%s%s", (char *)bvcek, ask);
    char *json2 = NULL;
    size_t len2;
    sai_evidence_parts_t parts = {.tee = SAI_TEE_SIM, .simulated = true, .report = ev.report,
                                .report_len = ev.report_len, .certs_pem = mixed};
    assert_int_equal(sai_evidence_build(&json2, &len2, &parts, &err), 0);
    sai_attest_policy_t *p = policy_for(NULL, fp_a);
    sai_attest_result_t res;
    assert_int_equal(sai_attest_verify_evidence(json2, len2, p, rd, 0, &res, &err), SAI_EAUTH);
    assert_string_equal(res.rule, "chain");

    /* evidence wholly from platform B is refused by a verifier pinning A */
    char *jb = make_evidence(dir_b, rd, &blen);
    assert_int_equal(sai_attest_verify_evidence(jb, blen, p, rd, 0, &res, &err), SAI_EAUTH);
    assert_string_equal(res.rule, "chain");
    sai_attest_policy_free(p);
    free(jb);
    free(json2);
    free(mixed);
    free(bvcek);
    sai_evidence_clear(&ev);
    free(json);
}

static void test_sealing_key_and_measure(void **state)
{
    (void)state;
    sai_tee_opts_t o;
    memset(&o, 0, sizeof o);
    o.platform_dir = dir_a;
    sai_tee_t *t = NULL;
    sai_error_t err;
    uint8_t k1[32], k2[32], k3[32], m[48], want[48];
    size_t mlen;
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SIM, &o, &err), 0);
    assert_int_equal(sai_tee_derive_sealing_key(t, (const uint8_t *)"ctx", 3, k1, &err), 0);
    assert_int_equal(sai_tee_derive_sealing_key(t, (const uint8_t *)"ctx", 3, k2, &err), 0);
    assert_int_equal(sai_tee_derive_sealing_key(t, (const uint8_t *)"cty", 3, k3, &err), 0);
    assert_memory_equal(k1, k2, 32);
    assert_memory_not_equal(k1, k3, 32);
    assert_int_equal(sai_tee_measure(t, m, &mlen, &err), 0);
    assert_int_equal(mlen, 48);
    assert_int_equal(sai_sim_launch_measurement(want, "/proc/self/exe", NULL, NULL, &err), 0);
    assert_memory_equal(m, want, 48);
    sai_tee_close(t);
    /* another platform gives another key for the same measurement */
    o.platform_dir = dir_b;
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SIM, &o, &err), 0);
    assert_int_equal(sai_tee_derive_sealing_key(t, (const uint8_t *)"ctx", 3, k3, &err), 0);
    assert_memory_not_equal(k1, k3, 32);
    sai_tee_close(t);
}

/* HOST_DATA is the launcher's (sai_sim_psp_start_ex), in every report, and
 * the report still verifies; sai_sim_psp_start gives zeros. */
static void host_data_of(const uint8_t *hd, uint8_t got[32])
{
    uint8_t m[48] = {0x42}, rd[64] = {1};
    sai_sim_psp_t psp;
    sai_error_t err;
    assert_int_equal(hd ? sai_sim_psp_start_ex(&psp, dir_a, m, hd, &err) : sai_sim_psp_start(&psp, dir_a, m, &err), 0);
    sai_tee_opts_t o;
    memset(&o, 0, sizeof o);
    o.psp_fd = psp.enclave_fd;
    sai_tee_t *t = NULL;
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SIM, &o, &err), 0);
    assert_int_equal(sai_tee_get_evidence(t, rd, &json, &len, &err), 0);
    sai_evidence_t ev;
    sai_snp_report_t r;
    assert_int_equal(sai_evidence_parse(&ev, json, len, &err), 0);
    assert_int_equal(sai_snp_report_parse(&r, ev.report, ev.report_len, &err), 0);
    memcpy(got, r.host_data, 32);
    assert_memory_equal(r.measurement, m, 48);
    sai_attest_policy_t *p = policy_for(NULL, fp_a);
    sai_attest_result_t res;
    if (sai_attest_verify_evidence(json, len, p, rd, 0, &res, &err) != 0)
        fail_msg("verify: %s", err.msg);
    sai_attest_policy_free(p);
    sai_evidence_clear(&ev);
    free(json);
    sai_tee_close(t);         /* borrows the fd ... */
    sai_sim_psp_stop(&psp);   /* ... which is closed here, ending the signer */
}

static void test_host_data_from_launcher(void **state)
{
    (void)state;
    uint8_t hd[32], got[32], zero[32] = {0};
    for (int i = 0; i < 32; i++)
        hd[i] = (uint8_t)(0xA0 + i);
    host_data_of(hd, got);
    assert_memory_equal(got, hd, 32);
    host_data_of(NULL, got);
    assert_memory_equal(got, zero, 32);
}

/* Two sim TEEs in one process, the older closed first: each PSP signer must
 * hold only its own socket, or closing the first one waits forever on a
 * signer kept alive by the second one's inherited descriptor. */
static void test_two_tees_close_in_any_order(void **state)
{
    (void)state;
    sai_tee_opts_t o;
    memset(&o, 0, sizeof o);
    o.platform_dir = dir_a;
    sai_tee_t *t1 = NULL, *t2 = NULL;
    sai_error_t err;
    uint8_t rd[64] = {0};
    char *ev = NULL;
    size_t evlen = 0;
    alarm(20);   /* a hang fails the test instead of stalling the suite */
    assert_int_equal(sai_tee_open(&t1, SAI_TEE_SIM, &o, &err), 0);
    assert_int_equal(sai_tee_open(&t2, SAI_TEE_SIM, &o, &err), 0);
    sai_tee_close(t1);
    assert_int_equal(sai_tee_get_evidence(t2, rd, &ev, &evlen, &err), 0);
    free(ev);
    sai_tee_close(t2);
    alarm(0);
}

/* The launcher measures binary + spec + policy and starts the PSP; the
 * enclave (here: the secureai CLI) gets only the PSP fd. It cannot even
 * find the platform directory, yet its evidence carries the launcher's
 * measurement and verifies. */
static void test_launcher_measures_enclave(void **state)
{
    (void)state;
    char spec[300], pol[300], out[300];
    snprintf(spec, sizeof spec, "%s/spec.yaml", dir_a);
    snprintf(pol, sizeof pol, "%s/policy.yaml", dir_a);
    snprintf(out, sizeof out, "%s/launched.json", dir_a);
    sai_error_t err;
    assert_int_equal(sai_write_file_atomic(spec, "stages: [train]\n", 16, 0644, false, &err), 0);
    assert_int_equal(sai_write_file_atomic(pol, "allow_debug: false\n", 19, 0644, false, &err), 0);
    char *const argv[] = { (char *)SAI_CLI, (char *)"attest", (char *)"--tee", (char *)"sim",
                           (char *)"--report-data", (char *)"c0ffee", (char *)"--out", out, NULL };
    setenv("SECUREAI_PLATFORM_DIR", "/nonexistent/enclave-cannot-see-keys", 1);
    sai_sim_psp_t psp;
    int pid, st;
    uint8_t m[48], want[48];
    if (sai_sim_launch(&psp, &pid, dir_a, SAI_CLI, argv, spec, pol, m, &err) != 0)
        fail_msg("launch: %s", err.msg);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    sai_sim_psp_stop(&psp);
    unsetenv("SECUREAI_PLATFORM_DIR");
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(sai_sim_launch_measurement(want, SAI_CLI, spec, pol, &err), 0);
    assert_memory_equal(m, want, 48);
    uint8_t *json = NULL;
    size_t len;
    assert_int_equal(sai_read_file(out, 1 << 20, &json, &len, &err), 0);
    sai_attest_policy_t *p = policy_for(NULL, fp_a);
    sai_attest_result_t res;
    uint8_t rd[64] = { 0xc0, 0xff, 0xee };
    if (sai_attest_verify_evidence((char *)json, len, p, rd, 0, &res, &err) != 0)
        fail_msg("verify: %s", err.msg);
    assert_memory_equal(res.measurement, want, 48);
    /* a different spec gives a different measurement */
    assert_int_equal(sai_sim_launch_measurement(want, SAI_CLI, pol, spec, &err), 0);
    assert_memory_not_equal(res.measurement, want, 48);
    sai_attest_policy_free(p);
    free(json);
}

static void test_missing_platform(void **state)
{
    (void)state;
    sai_tee_opts_t o;
    memset(&o, 0, sizeof o);
    o.platform_dir = "/nonexistent/sai-platform";
    sai_tee_t *t = NULL;
    sai_error_t err;
    assert_int_equal(sai_tee_open(&t, SAI_TEE_SIM, &o, &err), SAI_ENOTFOUND);
    assert_non_null(strstr(err.msg, "platform init"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_platform_init_refuses_overwrite),
        cmocka_unit_test(test_two_tees_close_in_any_order),
        cmocka_unit_test(test_roundtrip_affirms),
        cmocka_unit_test(test_refused_without_allow_simulated),
        cmocka_unit_test(test_refused_measurement_and_report_data),
        cmocka_unit_test(test_refused_swapped_vcek_and_other_platform),
        cmocka_unit_test(test_sealing_key_and_measure),
        cmocka_unit_test(test_host_data_from_launcher),
        cmocka_unit_test(test_launcher_measures_enclave),
        cmocka_unit_test(test_missing_platform),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
