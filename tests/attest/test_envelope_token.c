/* test_envelope_token.c — envelope parsing refusals, RFC 3339 times, and
 * JWT algorithm confusion ("none", HS256) refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/attest.h"
#include "secureai/crypto.h"
#include "secureai/util.h"

static void test_rfc3339(void **state)
{
    (void)state;
    int64_t t;
    sai_error_t e;
    assert_int_equal(sai_parse_rfc3339(&t, "1970-01-01T00:00:00Z", &e), 0);
    assert_int_equal(t, 0);
    assert_int_equal(sai_parse_rfc3339(&t, "2022-09-24T01:00:00Z", &e), 0);
    assert_int_equal(t, 1663981200);
    assert_int_equal(sai_parse_rfc3339(&t, "2025-07-19T12:00:34.5+02:00", &e), 0);
    assert_int_equal(t, 1752919234);
    assert_int_equal(sai_parse_rfc3339(&t, "2024-02-29T23:59:59-00:30", &e), 0);
    assert_int_equal(t, 1709251199 + 1800);
    const char *bad[] = { "2024-02-29", "2024-13-01T00:00:00Z", "2024-01-01T00:00:00",
                          "2024-01-01T00:00:00Zjunk", "yesterday", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sai_parse_rfc3339(&t, bad[i], &e), SAI_EINVAL);
}

static void test_envelope_refusals(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "[]",
        "{\"format\":\"other/v1\",\"tee\":\"sim\",\"report\":\"AAAA\"}",
        "{\"format\":\"secureai-evidence/v1\",\"tee\":\"nitro\",\"report\":\"AAAA\"}",
        "{\"format\":\"secureai-evidence/v1\",\"tee\":\"sev-snp\"}",
        "{\"format\":\"secureai-evidence/v1\",\"tee\":\"tdx\",\"report\":\"AAAA\"}",
        "{\"format\":\"secureai-evidence/v1\",\"tee\":\"sev-snp\",\"report\":\"!!!\"}",
        "{\"format\":\"secureai-evidence/v1\",\"tee\":\"sev-snp\",\"report\":\"AAAA\",\"certs\":\"x\"}",
        "{\"format\":\"secureai-evidence/v1\",\"tee\":\"sev-snp\",\"report\":\"AAAA\",\"certs\":[1]}",
        "{\"format\":\"secureai-evidence/v1\",\"tee\":\"sev-snp\",\"report\":5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sai_evidence_t ev;
        sai_error_t e;
        if (sai_evidence_parse(&ev, bad[i], strlen(bad[i]), &e) == 0)
            fail_msg("accepted: %s", bad[i]);
        sai_attest_result_t res;
        assert_int_not_equal(sai_attest_verify_evidence(bad[i], strlen(bad[i]), NULL, NULL, 0, &res, &e), 0);
        assert_int_equal(res.verdict, SAI_VERDICT_CONTRAINDICATED);
    }
    /* a syntactically fine SNP envelope without certificates: refused, named */
    uint8_t rep[SAI_SNP_REPORT_LEN] = { 2 };
    char *json = NULL;
    size_t len;
    sai_error_t e;
    sai_evidence_parts_t parts = {.tee = SAI_TEE_SEV_SNP, .report = rep, .report_len = sizeof rep};
    assert_int_equal(sai_evidence_build(&json, &len, &parts, &e), 0);
    sai_attest_result_t res;
    assert_int_equal(sai_attest_verify_evidence(json, len, NULL, NULL, 0, &res, &e), SAI_EFORMAT);
    assert_string_equal(res.rule, "chain");
    free(json);
    /* size cap */
    size_t big = SAI_EVIDENCE_MAX + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    sai_evidence_t ev;
    assert_int_equal(sai_evidence_parse(&ev, huge, big, &e), SAI_ELIMIT);
    free(huge);
}

static char *b64(const char *s)
{
    char *out = NULL;
    sai_error_t e;
    assert_int_equal(sai_b64url_encode(&out, (const uint8_t *)s, strlen(s), &e), 0);
    return out;
}

static void test_token_alg_confusion(void **state)
{
    (void)state;
    sai_ec_key_t *k = NULL;
    sai_error_t e;
    assert_int_equal(sai_ec_generate(&k, &e), 0);
    sai_attest_result_t r;
    memset(&r, 0, sizeof r);
    r.tee = SAI_TEE_SEV_SNP;
    r.verdict = SAI_VERDICT_AFFIRMING;
    char *jwt = NULL;
    assert_int_equal(sai_attest_token_sign(&jwt, &r, k, 1000, 60, &e), 0);
    sai_attest_token_t tok;
    assert_int_equal(sai_attest_token_verify(&tok, jwt, strlen(jwt), k, 1010, &e), 0);
    assert_int_equal(tok.tee, SAI_TEE_SEV_SNP);
    assert_int_equal(tok.exp, 1060);
    /* same claims, header alg none / HS256, signature empty or copied */
    const char *claims = strchr(jwt, '.') + 1;
    const char *sig = strrchr(jwt, '.') + 1;
    const char *hdrs[] = { "{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
                           "{\"alg\":\"ES384\",\"crit\":[\"x\"],\"x\":1}" };
    for (int i = 0; i < 3; i++) {
        char *h = b64(hdrs[i]);
        char forged[4096];
        snprintf(forged, sizeof forged, "%s.%.*s.%s", h, (int)(sig - 1 - claims), claims, i == 0 ? "" : sig);
        assert_int_not_equal(sai_attest_token_verify(&tok, forged, strlen(forged), k, 1010, &e), 0);
        free(h);
    }
    /* iat in the future */
    assert_int_equal(sai_attest_token_verify(&tok, jwt, strlen(jwt), k, 800, &e), SAI_EAUTH);
    free(jwt);
    sai_ec_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_envelope_refusals),
        cmocka_unit_test(test_token_alg_confusion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
