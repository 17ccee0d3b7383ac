/*
 * fuzz_dcap_quote.c — libFuzzer target for the DCAP quote parser (header,
 * bodies, signature data, QE report, QE auth data, certification data) and
 * the verification that follows a successful parse (PEM chain, X.509,
 * signatures), with no collateral, plus the RA-TLS extractor and the
 * attest layer (inspect, result mapping) on the same bytes. Seeds: the real
 * quotes under $SAI_TEST_DATA_DIR/vectors (see fuzz_dcap_seeds.h).
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_dcap_seeds.h"
#include "secureai/attest.h"
#include "secureai/dcap.h"

static fuzz_seeds seeds;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char *const rel[] = {
        "tdx/gotdxguest_tdx_prod_quote_SPR_E4.dat", "tdx/gotdxguest_quote_v5_sample.dat",
        "tdx/dcapqvl_tdx_quote.dat", "sgx/dcapqvl_sgx_quote.dat", "sgx/trustee_occlum_quote.dat",
        "sgx/ccc_ratls_gramine-cert.pem", "sgx/ccc_ratls_rats-tls-cert.pem", NULL,
    };
    fuzz_seeds_load(&seeds, rel);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = 0;
    uint8_t *b = fuzz_input(&seeds, data, size, &len);
    if (b == NULL)
        return 0;
    sai_dcap_quote_t q;
    if (sai_dcap_quote_parse(b, len, &q, NULL) == 0) {
        sai_dcap_result_t r;
        (void)sai_dcap_verify(&q, NULL, 1752919234, &r, NULL);
    }
    sai_ratls_t rt;
    if (sai_dcap_ratls_extract(b, len, &rt, NULL) == 0)
        sai_dcap_ratls_free(&rt);
    /* the attest layer on the same bytes: inspect (quote fields, RA-TLS) and
     * the mapped verification */
    char *json = NULL;
    if (sai_attest_inspect_ratls_json(&json, b, len, NULL) == 0)
        free(json);
    sai_attest_result_t res;
    (void)sai_attest_verify_quote(SAI_TEE_NONE, b, len, NULL, 0, 1752919234, &res, NULL);
    free(b);
    return 0;
}
