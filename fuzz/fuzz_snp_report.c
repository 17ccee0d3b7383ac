/* fuzz_snp_report.c — libFuzzer target for the SEV-SNP report parser and
 * the VCEK extension reader (untrusted bytes from the guest/host). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secureai/attest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sai_snp_report_t r;
    sai_error_t err;
    if (sai_snp_report_parse(&r, data, size, &err) == 0) {
        sai_snp_tcb_t t;
        sai_snp_tcb_decode(&t, r.reported_tcb_raw, SAI_SNP_PRODUCT_TURIN);
        sai_snp_tcb_decode(&t, r.current_tcb_raw, r.cpuid_product);
        sai_evidence_t ev;
        memset(&ev, 0, sizeof ev);
        ev.tee = SAI_TEE_SEV_SNP;
        ev.report = (uint8_t *)data;
        ev.report_len = size;
        char *json = NULL;
        if (sai_attest_inspect_json(&json, &ev, &err) == 0)
            free(json);
    }
    /* a 1184-byte prefix is a report; whatever follows, a certificate */
    if (size > SAI_SNP_REPORT_LEN) {
        (void)sai_snp_report_parse(&r, data, SAI_SNP_REPORT_LEN, &err);
        sai_snp_cert_ext_t e;
        (void)sai_snp_cert_extensions(&e, data + SAI_SNP_REPORT_LEN, size - SAI_SNP_REPORT_LEN, &err);
        sai_attest_result_t res;
        (void)sai_attest_verify_snp(data, SAI_SNP_REPORT_LEN, data + SAI_SNP_REPORT_LEN,
                                    size - SAI_SNP_REPORT_LEN, NULL, 0, NULL, 0, 1750000000, &res, &err);
    }
    return 0;
}
