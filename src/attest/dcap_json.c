/*
 * dcap_json.c — a sai_dcap_result_t as JSON, for `secureai inspect-evidence`,
 * `verify-evidence --json` and the claims the attest module builds. Hex is
 * lower case; times are RFC 3339 UTC; fields of the other TEE are omitted.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest_internal.h"
#include "secureai/dcap.h"
#include "secureai/util.h"

int sai_dcap_result_json(const sai_dcap_result_t *r, char **out, sai_error_t *err)
{
    *out = NULL;
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    cJSON_AddStringToObject(o, "tee", r->tee == SAI_DCAP_TDX ? "tdx" : "sgx");
    cJSON_AddNumberToObject(o, "quote_version", r->version);
    cJSON_AddNumberToObject(o, "body_type", r->body_type);
    cJSON_AddStringToObject(o, "verdict", sai_dcap_verdict_name(r->verdict));
    if (r->verdict == SAI_DCAP_CONTRAINDICATED) {
        cJSON_AddStringToObject(o, "failed_check", r->failed_check);
        cJSON_AddStringToObject(o, "failed_detail", r->failed_detail);
    }
    if (r->tee == SAI_DCAP_TDX) {
        sai_attest__json_add_hex(o, "mrtd", r->mrtd, 48);
        for (int i = 0; i < 4; i++) {
            char k[8];
            snprintf(k, sizeof k, "rtmr%d", i);
            sai_attest__json_add_hex(o, k, r->rtmr[i], 48);
        }
        sai_attest__json_add_hex(o, "mrseam", r->mrseam, 48);
        sai_attest__json_add_hex(o, "mrsignerseam", r->mrsignerseam, 48);
        sai_attest__json_add_hex(o, "td_attributes", r->td_attributes, 8);
        sai_attest__json_add_hex(o, "xfam", r->xfam, 8);
        sai_attest__json_add_hex(o, "tee_tcb_svn", r->tee_tcb_svn, 16);
    } else {
        sai_attest__json_add_hex(o, "mrenclave", r->mrenclave, 32);
        sai_attest__json_add_hex(o, "mrsigner", r->mrsigner, 32);
        cJSON_AddNumberToObject(o, "isv_prodid", r->isv_prodid);
        cJSON_AddNumberToObject(o, "isv_svn", r->isv_svn);
        sai_attest__json_add_hex(o, "attributes", r->sgx_attributes, 16);
    }
    cJSON_AddBoolToObject(o, "debug", r->debug);
    sai_attest__json_add_hex(o, "report_data", r->report_data, 64);
    sai_attest__json_add_hex(o, "fmspc", r->fmspc, 6);
    sai_attest__json_add_hex(o, "pceid", r->pceid, 2);
    sai_attest__json_add_hex(o, "cpusvn", r->cpusvn, 16);
    sai_attest__json_add_hex(o, "pck_tcb_components", r->pck_compsvn, 16);
    cJSON_AddNumberToObject(o, "pck_pcesvn", r->pck_pcesvn);
    cJSON_AddNumberToObject(o, "qe_isvsvn", r->qe_isvsvn);
    cJSON_AddStringToObject(o, "tcb_status", r->tcb_status);
    cJSON_AddStringToObject(o, "qe_tcb_status", r->qe_tcb_status);
    if (r->tdx_module_status[0])
        cJSON_AddStringToObject(o, "tdx_module_status", r->tdx_module_status);
    if (r->tcb_date[0])
        cJSON_AddStringToObject(o, "tcb_date", r->tcb_date);
    cJSON *adv = cJSON_AddArrayToObject(o, "advisory_ids");
    for (size_t i = 0; adv != NULL && i < r->n_advisories; i++)
        cJSON_AddItemToArray(adv, cJSON_CreateString(r->advisory_ids[i]));
    sai_attest__json_add_time(o, "valid_from", (int64_t)r->valid_from);
    sai_attest__json_add_time(o, "valid_until", (int64_t)r->valid_until);
    *out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (*out == NULL)
        return sai_error_set(err, SAI_ENOMEM, "out of memory");
    return 0;
}
