/* fuzz_policy_yaml.c — libFuzzer target for the appraisal policy parser
 * (YAML written by people, possibly hostile) and the appraisal itself. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "secureai/attest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sai_attest_policy_t *p = NULL;
    sai_error_t err;
    if (sai_attest_policy_load(&p, (const char *)data, size, &err) == 0) {
        sai_attest_result_t r;
        memset(&r, 0, sizeof r);
        r.tee = SAI_TEE_SEV_SNP;
        r.measurement_len = 48;
        r.n_tcb = 1;
        memcpy(r.tcb[0].name, "ucode", 6);
        r.tcb[0].value = 0x48;
        r.evidence_time = 1750000000;
        (void)sai_attest_policy_appraise(p, &r, NULL, 1750000100, &err);
        sai_attest_policy_free(p);
    }
    return 0;
}
