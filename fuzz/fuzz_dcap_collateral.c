/*
 * fuzz_dcap_collateral.c — libFuzzer target for the DCAP collateral parser:
 * the outer JSON, the signed tcbInfo / QE identity texts inside it, the PEM
 * issuer chains and the hex DER CRLs; when a mutated collateral still parses,
 * it is used to verify a real quote, which runs the collateral signature and
 * TCB appraisal code. Seeds: the vectors' *_collateral.json.
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_dcap_seeds.h"
#include "secureai/dcap.h"

static fuzz_seeds seeds;
static uint8_t *quote;
static size_t quote_len;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char *const rel[] = {
        "tdx/dcapqvl_tdx_quote_collateral.json", "sgx/dcapqvl_sgx_quote_collateral.json",
        "tdx/dcapqvl_tdx_quote_outdated_collateral.json", NULL,
    };
    fuzz_seeds_load(&seeds, rel);
    static const char *const q[] = { "tdx/dcapqvl_tdx_quote.dat", NULL };
    fuzz_seeds qs = { 0 };
    fuzz_seeds_load(&qs, q);
    if (qs.n == 1) {
        quote = qs.data[0];
        quote_len = qs.len[0];
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = 0;
    uint8_t *b = fuzz_input(&seeds, data, size, &len);
    if (b == NULL)
        return 0;
    sai_dcap_collateral_t *c = NULL;
    if (sai_dcap_collateral_parse((const char *)b, len, &c, NULL) == 0) {
        if (quote != NULL) {
            sai_dcap_result_t r;
            (void)sai_dcap_verify_bytes(quote, quote_len, c, 1752919234, &r, NULL);
        }
        sai_dcap_collateral_free(c);
    }
    free(b);
    return 0;
}
